// A stand-in for Claude Code in `-p --output-format stream-json --input-format
// stream-json` mode, for the test suite: it reads user messages (JSON lines) on
// stdin, writes stream-json events on stdout, and edits a file named by the
// prompt ("write NAME: TEXT" writes TEXT to NAME). It reports the length of
// $ANTHROPIC_API_KEY (never the key) so tests can see the secret arrived.
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

const out = (event) => process.stdout.write(JSON.stringify(event) + "\n");
out({ type: "system", subtype: "init", model: "test-model", cwd: process.cwd() });
let turns = 0;

function turn(prompt) {
  turns += 1;
  const key = process.env.ANTHROPIC_API_KEY ?? "";
  out({ type: "assistant", message: { content: [{ type: "text", text: `key length ${key.length}` }] } });
  const match = /^write ([\w./-]+): (.*)$/s.exec(prompt.trim());
  if (match) {
    out({ type: "assistant", message: { content: [
      { type: "text", text: `Writing ${match[1]}` },
      { type: "tool_use", id: `t${turns}`, name: "Write", input: { file_path: match[1] } },
    ] } });
    writeFileSync(match[1], match[2] + "\n");
    out({ type: "user", message: { content: [{ type: "tool_result", tool_use_id: `t${turns}`, content: "written" }] } });
  } else {
    out({ type: "assistant", message: { content: [{ type: "text", text: `echo: ${prompt}` }] } });
  }
  out({ type: "result", subtype: "success", is_error: false, result: `turn ${turns} done`,
    total_cost_usd: 0.0125 * turns, usage: { input_tokens: 100 * turns, output_tokens: 10 * turns } });
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const message = JSON.parse(line);
  const text = message.message.content.map((part) => part.text).join("");
  turn(text);
});
lines.on("close", () => process.exit(0));
