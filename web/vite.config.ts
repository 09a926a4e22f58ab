// The web app's build. Monaco and xterm.js are loaded lazily (dynamic imports), so the
// first screen ships only React, the router, TanStack Query and our own code; see
// bench/results/web.md for the bytes that reach the browser before Monaco.
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

const MONACO_PLACEHOLDER = '"__DOCKYARD_MONACO_FILES__"';

/**
 * Writes the names of Monaco's chunk and stylesheet into the entry chunk (src/app/preload.ts),
 * so an IDE route can preload them before the IDE's own chunk asks for them. The entry's
 * file name still changes with Monaco's: it names the IDE's chunk, which names Monaco's.
 */
function ideAssetsPlugin(): Plugin {
  return {
    name: "dockyard-ide-assets",
    apply: "build",
    generateBundle(_options, bundle) {
      const chunks = Object.values(bundle).filter((item) => item.type === "chunk");
      const monaco = chunks.find((chunk) => chunk.moduleIds.some((id) => id.endsWith("/src/ide/monaco.ts")));
      const entries = chunks.filter((chunk) => chunk.code.includes(MONACO_PLACEHOLDER));
      if (!monaco || entries.length !== 1) {
        this.error(`cannot write Monaco's file names: ${monaco ? "" : "no Monaco chunk; "}${entries.length} chunks hold the placeholder`);
      }
      const css = [...(monaco.viteMetadata?.importedCss ?? [])];
      const files = [monaco.fileName, ...css].map((name) => `/${name}`);
      entries[0]!.code = entries[0]!.code.replaceAll(MONACO_PLACEHOLDER, JSON.stringify(JSON.stringify(files)));
    },
  };
}

export default defineConfig({
  esbuild: { jsx: "automatic" },
  plugins: [ideAssetsPlugin()],
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
