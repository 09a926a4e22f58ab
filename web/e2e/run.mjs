// Runs every end-to-end test file in e2e/tests one after another (each starts its own
// server and browser) with node's built-in test runner.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = join(dirname(fileURLToPath(import.meta.url)), "tests");
const files = readdirSync(dir)
  .filter((name) => name.endsWith(".test.mjs"))
  .sort()
  .map((name) => join(dir, name));
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((file) => filter.some((part) => file.includes(part))) : files;
const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...selected], { stdio: "inherit" });
process.exit(result.status ?? 1);
