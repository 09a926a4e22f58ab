import { describe, expect, it } from "vitest";

import {
  budgetLabel,
  chatError,
  chatReducer,
  contextLabel,
  emptyChat,
  errorHint,
  isStreaming,
  requestMessages,
  restoreChat,
  retryAfterSeconds,
  selectedLines,
  splitBlocks,
  splitInline,
  type ChatAction,
  type ChatState,
} from "./model";

const run = (actions: ChatAction[], from: ChatState = emptyChat) => actions.reduce(chatReducer, from);
const send = (n: number, text = `question ${n}`, context?: string): ChatAction => ({ type: "send", userId: `u${n}`, assistantId: `a${n}`, text, ...(context ? { context } : {}) });

describe("the chat reducer", () => {
  it("streams an answer token by token and ends it with done", () => {
    const state = run([send(1, "why?", "main.py, 2 lines selected"), { type: "delta", text: "Be" }, { type: "delta", text: "cause" }]);
    expect(isStreaming(state)).toBe(true);
    expect(state.messages).toEqual([
      { id: "u1", role: "user", content: "why?", context: "main.py, 2 lines selected" },
      { id: "a1", role: "assistant", content: "Because", status: "streaming" },
    ]);
    const done = run([{ type: "usage", usage: { prompt_tokens: 10, completion_tokens: 2 } }, { type: "done" }], state);
    expect(done.messages[1]!.status).toBe("done");
    expect(done.usage).toEqual({ prompt_tokens: 10, completion_tokens: 2 });
    expect(isStreaming(done)).toBe(false);
  });

  it("refuses a second question while an answer streams", () => {
    const state = run([send(1), send(2)]);
    expect(state.messages.map((m) => m.id)).toEqual(["u1", "a1"]);
  });

  it("keeps the text of a stopped answer and marks it stopped", () => {
    const state = run([send(1), { type: "delta", text: "par" }, { type: "stopped" }, { type: "delta", text: "late" }]);
    expect(state.messages[1]).toMatchObject({ content: "par", status: "stopped" });
  });

  it("records an error on the answer and ignores events after it", () => {
    const error = chatError(503, "assistant_not_configured", "no endpoint");
    const state = run([send(1), { type: "error", error }, { type: "done" }]);
    expect(state.messages[1]).toMatchObject({ status: "error", error });
  });

  it("ignores stream events when nothing streams, and reset empties the chat", () => {
    expect(run([{ type: "delta", text: "x" }, { type: "done" }])).toEqual(emptyChat);
    expect(run([send(1), { type: "reset" }])).toEqual(emptyChat);
  });

  it("sends the user's messages and the answers with text, oldest dropped past the limits", () => {
    const state = run([
      send(1, "a"),
      { type: "delta", text: "A" },
      { type: "done" },
      send(2, "b"),
      { type: "error", error: chatError(504, "assistant_timeout", "slow") },
      send(3, "c"),
    ]);
    expect(requestMessages(state)).toEqual([
      { role: "user", content: "a" },
      { role: "assistant", content: "A" },
      { role: "user", content: "b" },
      { role: "user", content: "c" },
    ]);
    expect(requestMessages(state, 2)).toEqual([
      { role: "user", content: "b" },
      { role: "user", content: "c" },
    ]);
    expect(requestMessages(state, 200, 1)).toEqual([{ role: "user", content: "c" }]);
  });

  it("restores a conversation from storage with a cut answer marked stopped", () => {
    const saved = JSON.parse(JSON.stringify(run([send(1), { type: "delta", text: "x" }])));
    const restored = restoreChat(saved);
    expect(restored.messages[1]!.status).toBe("stopped");
    expect(restoreChat(null)).toEqual(emptyChat);
    expect(restoreChat({ messages: [{ nonsense: true }] }).messages).toEqual([]);
  });
});

describe("errors", () => {
  it("maps the server's codes to what the view says", () => {
    expect(chatError(503, "assistant_not_configured", "m").kind).toBe("not_configured");
    expect(chatError(429, "token_budget_exceeded", "m", 60)).toEqual({ kind: "budget", code: "token_budget_exceeded", message: "m", retryAfter: 60 });
    expect(chatError(503, "assistant_unavailable", "m", 30).kind).toBe("unavailable");
    expect(chatError(504, "assistant_timeout", "m").kind).toBe("timeout");
    expect(chatError(502, "assistant_upstream_error", "m").kind).toBe("upstream");
    expect(chatError(422, "assistant_input_too_large", "m").kind).toBe("other");
    expect(errorHint(chatError(503, "assistant_not_configured", "m"))).toMatch(/org admin/);
    expect(errorHint(chatError(503, "assistant_unavailable", "m", 30))).toMatch(/30 s/);
    expect(errorHint(chatError(422, "x", "m"))).toBeNull();
    expect(retryAfterSeconds("30")).toBe(30);
    expect(retryAfterSeconds(null)).toBeUndefined();
    expect(retryAfterSeconds("soon")).toBeUndefined();
  });
});

describe("the context chip", () => {
  it("counts selected lines", () => {
    expect(selectedLines(null)).toBe(0);
    expect(selectedLines({ startLineNumber: 3, startColumn: 2, endLineNumber: 3, endColumn: 2 })).toBe(0);
    expect(selectedLines({ startLineNumber: 3, startColumn: 2, endLineNumber: 3, endColumn: 5 })).toBe(1);
    expect(selectedLines({ startLineNumber: 1, startColumn: 1, endLineNumber: 12, endColumn: 4 })).toBe(12);
    expect(selectedLines({ startLineNumber: 1, startColumn: 1, endLineNumber: 13, endColumn: 1 })).toBe(12);
  });

  it("labels the file and the selection", () => {
    expect(contextLabel("src/main.py", 12)).toBe("main.py, 12 lines selected");
    expect(contextLabel("main.py", 1)).toBe("main.py, 1 line selected");
    expect(contextLabel("src/main.py", 0)).toBe("main.py");
  });

  it("shows the budget", () => {
    expect(budgetLabel(1234, 200000)).toBe("1,234 of 200,000 tokens today");
    expect(budgetLabel(5, 0)).toBe("5 tokens today (no daily limit)");
  });
});

describe("markdown-ish answers", () => {
  it("splits text and fenced code blocks", () => {
    expect(splitBlocks("Try this:\n\n```python\nprint(1)\n```\nDone.")).toEqual([
      { kind: "text", text: "Try this:" },
      { kind: "code", language: "python", code: "print(1)", open: false },
      { kind: "text", text: "Done." },
    ]);
  });

  it("keeps a fence still open while streaming as an open block, and longer fences nest shorter ones", () => {
    expect(splitBlocks("```js\nlet a")).toEqual([{ kind: "code", language: "js", code: "let a", open: true }]);
    expect(splitBlocks("````md\n```\ninner\n```\n````")).toEqual([{ kind: "code", language: "md", code: "```\ninner\n```", open: false }]);
  });

  it("marks inline code and bold", () => {
    expect(splitInline("use `x` and **y** now")).toEqual([
      { kind: "text", text: "use " },
      { kind: "code", text: "x" },
      { kind: "text", text: " and " },
      { kind: "bold", text: "y" },
      { kind: "text", text: " now" },
    ]);
  });
});
