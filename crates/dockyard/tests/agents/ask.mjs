// A terminal agent for the test suite: asks a question on its terminal, waits
// for a line of input, answers, and writes the answer to a file.
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

const prompt = process.argv.slice(2).join(" ");
process.stdout.write(`\x1b[32mtask:\x1b[0m ${prompt}\n`);
const lines = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
process.stdout.write("Proceed? [y/N] ");
lines.once("line", (answer) => {
  process.stdout.write(`you said: ${answer.trim()}\n`);
  writeFileSync("ask-output.txt", `${answer.trim()}\n`);
  process.exit(0);
});
