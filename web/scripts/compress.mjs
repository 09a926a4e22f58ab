// Writes a Brotli (.br) and a gzip (.gz) copy next to every compressible file in
// dist/, so the server sends precompressed bytes and never compresses per request.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = new URL("../dist/", import.meta.url).pathname;
const compressible = /\.(js|mjs|css|html|svg|json|map|txt|ttf|wasm)$/;
let files = 0;
let raw = 0;
let brotli = 0;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      walk(path);
    } else if (compressible.test(name)) {
      const bytes = readFileSync(path);
      const br = brotliCompressSync(bytes, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
      });
      writeFileSync(`${path}.br`, br);
      writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
      files += 1;
      raw += bytes.length;
      brotli += br.length;
    }
  }
}

walk(root);
console.log(`compressed ${files} files: ${(raw / 1e6).toFixed(2)} MB raw -> ${(brotli / 1e6).toFixed(2)} MB brotli`);
