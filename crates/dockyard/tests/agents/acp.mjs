// A stand-in ACP agent for the test suite: JSON-RPC 2.0 over stdio. On a prompt
// it streams a message chunk, asks permission to write a file, writes it through
// the client's fs/write_text_file when allowed, tries to read /etc/passwd (the
// client must refuse), and ends the turn.
import { createInterface } from "node:readline";

let nextId = 100;
const pending = new Map();
const send = (message) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...message }) + "\n");
const request = (method, params) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    send({ id, method, params });
  });
const update = (sessionId, update) => send({ method: "session/update", params: { sessionId, update } });
let cwd = "";

async function prompt(id, params) {
  const sessionId = params.sessionId;
  const text = params.prompt.map((part) => part.text).join("");
  update(sessionId, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: `On it: ${text}` } });
  update(sessionId, { sessionUpdate: "tool_call", toolCallId: "w1", title: "Write acp-output.txt", kind: "edit", status: "pending" });
  const answer = await request("session/request_permission", {
    sessionId,
    toolCall: { toolCallId: "w1", title: "Write acp-output.txt" },
    options: [
      { optionId: "allow", name: "Allow", kind: "allow_once" },
      { optionId: "reject", name: "Reject", kind: "reject_once" },
    ],
  });
  const allowed = answer.result?.outcome?.outcome === "selected" && answer.result.outcome.optionId === "allow";
  if (allowed) {
    const written = await request("fs/write_text_file", { sessionId, path: `${cwd}/acp-output.txt`, content: `${text}\n` });
    update(sessionId, { sessionUpdate: "tool_call_update", toolCallId: "w1", status: written.error ? "failed" : "completed",
      content: [{ type: "content", content: { type: "text", text: written.error ? written.error.message : "written" } }] });
  } else {
    update(sessionId, { sessionUpdate: "tool_call_update", toolCallId: "w1", status: "failed",
      content: [{ type: "content", content: { type: "text", text: "permission refused" } }] });
  }
  const outside = await request("fs/read_text_file", { sessionId, path: "/etc/passwd" });
  update(sessionId, { sessionUpdate: "agent_message_chunk",
    content: { type: "text", text: outside.error ? `outside read refused: ${outside.error.message}` : "outside read allowed" } });
  send({ id, result: { stopReason: answer.result?.outcome?.outcome === "cancelled" ? "cancelled" : "end_turn" } });
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const message = JSON.parse(line);
  if (message.id !== undefined && pending.has(message.id) && !message.method) {
    pending.get(message.id)(message);
    pending.delete(message.id);
    return;
  }
  switch (message.method) {
    case "initialize":
      send({ id: message.id, result: { protocolVersion: 1, agentCapabilities: {} } });
      break;
    case "session/new":
      cwd = message.params.cwd;
      send({ id: message.id, result: { sessionId: "test-session" } });
      break;
    case "session/prompt":
      prompt(message.id, message.params);
      break;
    case "session/cancel":
      break;
    default:
      if (message.id !== undefined) send({ id: message.id, error: { code: -32601, message: "unknown method" } });
  }
});
lines.on("close", () => process.exit(0));
