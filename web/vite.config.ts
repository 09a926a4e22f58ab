// The web app's build. Monaco and xterm.js are loaded lazily (dynamic imports), so the
// first screen ships only React, the router, TanStack Query and our own code; see
// bench/results/web.md for the bytes that reach the browser before Monaco.
import { defineConfig } from "vitest/config";

export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      onwarn(warning, warn) {
        // React Server Components directives in TanStack Query mean nothing in a client bundle.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  worker: { format: "es" },
  server: {
    // `npm run dev` proxies the API to a `dockyard serve` on the default port.
    proxy: { "/api": { target: "http://127.0.0.1:8080", ws: true } },
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
