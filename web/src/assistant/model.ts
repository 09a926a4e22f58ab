// The assistant's pure parts: the chat reducer (a conversation as the server streams
// it), the error a failed request becomes, the context chip's label, and the
// markdown-ish split of an answer into text and fenced code blocks.

export type Role = "user" | "assistant";
export type MessageStatus = "streaming" | "done" | "stopped" | "error";

export type ErrorKind = "not_configured" | "budget" | "unavailable" | "timeout" | "upstream" | "other";

export interface ChatError {
  kind: ErrorKind;
  code: string;
  message: string;
  /** Seconds, from Retry-After (breaker open, budget spent). */
  retryAfter?: number;
}

export interface Message {
  id: string;
  role: Role;
  content: string;
  /** Assistant messages only. */
  status?: MessageStatus;
  error?: ChatError;
  /** The context chip sent with a user message ("main.py, 12 lines selected"). */
  context?: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

export interface ChatState {
  messages: Message[];
  /** The last answer's usage, when the endpoint reported it. */
  usage: Usage | null;
}

export const emptyChat: ChatState = { messages: [], usage: null };

export type ChatAction =
  | { type: "send"; userId: string; assistantId: string; text: string; context?: string }
  | { type: "delta"; text: string }
  | { type: "usage"; usage: Usage }
  | { type: "done" }
  | { type: "error"; error: ChatError }
  | { type: "stopped" }
  | { type: "reset" };

/** Whether an answer is being streamed. */
export function isStreaming(state: ChatState): boolean {
  return state.messages.at(-1)?.status === "streaming";
}

function updateLast(state: ChatState, update: (message: Message) => Message): ChatState {
  const last = state.messages.at(-1);
  if (!last || last.role !== "assistant" || last.status !== "streaming") return state;
  return { ...state, messages: [...state.messages.slice(0, -1), update(last)] };
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case "send": {
      if (isStreaming(state)) return state;
      const user: Message = { id: action.userId, role: "user", content: action.text, ...(action.context ? { context: action.context } : {}) };
      const answer: Message = { id: action.assistantId, role: "assistant", content: "", status: "streaming" };
      return { ...state, messages: [...state.messages, user, answer] };
    }
    case "delta":
      return updateLast(state, (m) => ({ ...m, content: m.content + action.text }));
    case "usage":
      return { ...updateLast(state, (m) => m), usage: action.usage };
    case "done":
      return updateLast(state, (m) => ({ ...m, status: "done" }));
    case "error":
      return updateLast(state, (m) => ({ ...m, status: "error", error: action.error }));
    case "stopped":
      return updateLast(state, (m) => ({ ...m, status: "stopped" }));
    case "reset":
      return emptyChat;
  }
}

/**
 * The conversation as the server takes it: every user message, and every answer that
 * has text (a failed answer with no text is left out, so a retry does not send it).
 */
export function requestMessages(state: ChatState, maxMessages = 200, maxBytes = 250 * 1024): { role: Role; content: string }[] {
  const all = state.messages
    .filter((m) => m.role === "user" || (m.content.trim() !== "" && m.status !== "streaming"))
    .map((m) => ({ role: m.role, content: m.content }));
  // The server takes at most 200 messages and 256 KiB: the oldest go first.
  const size = (list: { content: string }[]) => list.reduce((n, m) => n + new TextEncoder().encode(m.content).length, 0);
  let kept = all.slice(-maxMessages);
  while (kept.length > 1 && size(kept) > maxBytes) kept = kept.slice(1);
  return kept;
}

/** A conversation read back from sessionStorage: an answer cut by a reload reads as stopped. */
export function restoreChat(raw: unknown): ChatState {
  if (!raw || typeof raw !== "object" || !Array.isArray((raw as ChatState).messages)) return emptyChat;
  const messages = (raw as ChatState).messages
    .filter((m): m is Message => !!m && typeof m === "object" && (m.role === "user" || m.role === "assistant") && typeof m.content === "string" && typeof m.id === "string")
    .map((m) => (m.status === "streaming" ? { ...m, status: "stopped" as const } : m));
  return { messages, usage: null };
}

/** What a failed chat or completion request means to the person using it. */
export function chatError(status: number, code: string, message: string, retryAfter?: number): ChatError {
  const kind: ErrorKind =
    code === "assistant_not_configured"
      ? "not_configured"
      : code === "token_budget_exceeded"
        ? "budget"
        : code === "assistant_unavailable"
          ? "unavailable"
          : code === "assistant_timeout" || status === 504
            ? "timeout"
            : code === "assistant_upstream_error" || status === 502
              ? "upstream"
              : "other";
  return { kind, code, message, ...(retryAfter !== undefined && Number.isFinite(retryAfter) ? { retryAfter } : {}) };
}

/** The hint shown under an error, beyond the server's own message. */
export function errorHint(error: ChatError): string | null {
  switch (error.kind) {
    case "not_configured":
      return "The assistant has no endpoint. An org admin can set one in the org's settings (Assistant), or the instance admin in the server's config ([assistant] base_url and model).";
    case "budget":
      return "Your daily token budget is spent; it renews at midnight UTC.";
    case "unavailable":
      return error.retryAfter ? `The assistant's endpoint keeps failing; try again in ${error.retryAfter} s.` : "The assistant's endpoint keeps failing; try again shortly.";
    case "timeout":
      return "The endpoint took too long to answer. Try again, or ask something shorter.";
    case "upstream":
      return "The endpoint answered with an error.";
    default:
      return null;
  }
}

/** Parses a Retry-After header given in seconds. */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  const n = Number(header.trim());
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n) : undefined;
}

export interface SelectionRange {
  startLineNumber: number;
  startColumn: number;
  endLineNumber: number;
  endColumn: number;
}

/** How many lines a selection covers (a selection ending at column 1 does not count that line); 0 when empty. */
export function selectedLines(range: SelectionRange | null): number {
  if (!range) return 0;
  if (range.startLineNumber === range.endLineNumber && range.startColumn === range.endColumn) return 0;
  let lines = range.endLineNumber - range.startLineNumber + 1;
  if (range.endColumn === 1 && range.endLineNumber > range.startLineNumber) lines--;
  return lines;
}

/** The context chip: "main.py", or "main.py, 12 lines selected". */
export function contextLabel(path: string, lines: number): string {
  const name = path.split("/").pop() || path;
  if (lines <= 0) return name;
  return `${name}, ${lines} ${lines === 1 ? "line" : "lines"} selected`;
}

export type Block = { kind: "text"; text: string } | { kind: "code"; language: string; code: string; open: boolean };

/**
 * Splits an answer into text and fenced code blocks (``` or ~~~, three or more, the
 * closing fence at least as long). A fence still open while streaming is a code block
 * marked `open`.
 */
export function splitBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  let text: string[] = [];
  let code: string[] | null = null;
  let fence = "";
  let language = "";
  const flushText = () => {
    const joined = text.join("\n");
    if (joined.trim()) blocks.push({ kind: "text", text: joined.replace(/^\n+|\n+$/g, "") });
    text = [];
  };
  for (const line of lines) {
    if (code === null) {
      const open = /^\s{0,3}(`{3,}|~{3,})\s*([^`\s]*)/.exec(line);
      if (open) {
        flushText();
        fence = open[1]!;
        language = open[2] ?? "";
        code = [];
      } else {
        text.push(line);
      }
    } else {
      const trimmed = line.trim();
      if (trimmed.length >= fence.length && trimmed[0] === fence[0] && /^(`+|~+)$/.test(trimmed)) {
        blocks.push({ kind: "code", language, code: code.join("\n"), open: false });
        code = null;
      } else {
        code.push(line);
      }
    }
  }
  if (code !== null) blocks.push({ kind: "code", language, code: code.join("\n"), open: true });
  else flushText();
  return blocks;
}

export type Inline = { kind: "text" | "code" | "bold"; text: string };

/** Inline `code` and **bold** in a text block; everything else stays plain text. */
export function splitInline(text: string): Inline[] {
  const out: Inline[] = [];
  const pattern = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)/g;
  let at = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    if (match.index > at) out.push({ kind: "text", text: text.slice(at, match.index) });
    if (match[1]) out.push({ kind: "code", text: match[1].slice(1, -1) });
    else out.push({ kind: "bold", text: match[2]!.slice(2, -2) });
    at = match.index + match[0].length;
  }
  if (at < text.length) out.push({ kind: "text", text: text.slice(at) });
  return out;
}

/** "1,234 of 200,000 tokens today" (or "… (no daily limit)"). */
export function budgetLabel(used: number, budget: number): string {
  const format = (n: number) => n.toLocaleString("en-US");
  return budget > 0 ? `${format(used)} of ${format(budget)} tokens today` : `${format(used)} tokens today (no daily limit)`;
}
