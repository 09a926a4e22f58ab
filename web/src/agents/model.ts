// The Agents view's pure parts, unit-tested on their own: the transcript → timeline
// reduction, the WebSocket's resume bookkeeping (last event id, backoff), status and
// money formatting, profile availability, and which sessions just finished.
import type { AgentEvent, AgentProfile, AgentSession } from "./types";

// ── Status ───────────────────────────────────────────────────────────────────

const FINISHED = new Set(["succeeded", "failed", "stopped"]);

export function isFinished(status: string | null | undefined): boolean {
  return !!status && FINISHED.has(status);
}

export function statusTone(status: string | null | undefined): "ok" | "busy" | "bad" | "idle" {
  if (status === "succeeded") return "ok";
  if (status === "queued" || status === "running") return "busy";
  if (status === "failed") return "bad";
  return "idle";
}

/** `$0.0125`, `$1.20`; empty when the agent reported none. */
export function formatCost(cost: number | null | undefined): string {
  if (cost === null || cost === undefined || !Number.isFinite(cost)) return "";
  if (cost === 0) return "$0";
  // Cents and below: up to four decimals, trailing zeros dropped down to two.
  if (cost < 1) return `$${cost.toFixed(4).replace(/(\.\d\d\d*?)0+$/, "$1")}`;
  return `$${cost.toFixed(2)}`;
}

/** `850 ms`, `4.2 s`, `3 m 05 s`, `1 h 02 m`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} m ${String(whole % 60).padStart(2, "0")} s`;
  return `${Math.floor(whole / 3600)} h ${String(Math.floor((whole % 3600) / 60)).padStart(2, "0")} m`;
}

/** `1,200 in · 80 out`; empty when nothing was reported. */
export function formatTokens(input: number | null | undefined, output: number | null | undefined): string {
  if (input == null && output == null) return "";
  return `${(input ?? 0).toLocaleString("en-US")} in · ${(output ?? 0).toLocaleString("en-US")} out`;
}

/** Whether the session has changes to review: a finished worktree session nobody applied or discarded. */
export function canReview(session: Pick<AgentSession, "isolation" | "status" | "review" | "base_commit">): boolean {
  return session.isolation === "worktree" && isFinished(session.status) && !session.review && !!session.base_commit;
}

// ── Profiles ─────────────────────────────────────────────────────────────────

export interface Availability {
  usable: boolean;
  /** `healthy`, `recovering (probing)`, or why it cannot be used. */
  label: string;
}

export function profileAvailability(profile: Pick<AgentProfile, "enabled" | "health">): Availability {
  if (!profile.enabled) return { usable: false, label: "disabled by an admin" };
  const { state, consecutive_failures: failures, retry_after_secs: retry } = profile.health;
  if (state === "open") {
    const wait = retry ? `; retry in ${formatDuration(retry)}` : "";
    return { usable: false, label: `unavailable: failing fast after ${failures} failure${failures === 1 ? "" : "s"}${wait}` };
  }
  if (state === "half_open") return { usable: true, label: "recovering (the next session is a probe)" };
  return { usable: true, label: "healthy" };
}

/** The profile to preselect: the remembered one if still usable, else the first usable. */
export function defaultProfile(profiles: readonly AgentProfile[], remembered: string | null): string {
  const usable = profiles.filter((profile) => profileAvailability(profile).usable);
  if (remembered && usable.some((profile) => profile.name === remembered)) return remembered;
  return usable[0]?.name ?? profiles[0]?.name ?? "";
}

// ── Timeline ─────────────────────────────────────────────────────────────────

export interface PermissionOption {
  id: string;
  name: string;
  kind: string;
}

export type TimelineItem =
  | { type: "message"; key: number; role: string; text: string }
  | { type: "thought"; key: number; text: string }
  | { type: "tool"; key: number; callId: string; name: string; input: unknown; status: string; result: { text: string; isError: boolean } | null }
  | { type: "usage"; key: number; inputTokens: number | null; outputTokens: number | null; cost: number | null }
  | { type: "permission"; key: number; requestId: string; title: string; options: PermissionOption[]; answer: string | null }
  | { type: "input"; key: number; text: string }
  | { type: "output"; key: number; stream: "stdout" | "stderr"; text: string }
  | { type: "commit"; key: number; commit: string }
  | { type: "status"; key: number; status: string; exitCode: number | null; error: string | null }
  | { type: "note"; key: number; text: string };

export interface Timeline {
  items: TimelineItem[];
  /** The id of the last event taken in: the resume point. */
  lastId: number;
  /** The status of the last `status` event. */
  status: string | null;
}

export const EMPTY_TIMELINE: Timeline = { items: [], lastId: 0, status: null };

const text = (value: unknown): string => (typeof value === "string" ? value : value == null ? "" : String(value));
const num = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null);

function replaceLast(items: TimelineItem[], item: TimelineItem): TimelineItem[] {
  const next = items.slice(0, -1);
  next.push(item);
  return next;
}

/**
 * Folds one transcript event into the timeline. Events at or below `lastId` (a replay
 * after a reconnect) are ignored, so feeding the same events twice changes nothing.
 * Consecutive message chunks, thoughts and output of one stream merge into one item;
 * a tool result (or an ACP tool-call update) lands on its call.
 */
export function reduceTimeline(timeline: Timeline, event: AgentEvent): Timeline {
  if (event.id <= timeline.lastId) return timeline;
  const items = timeline.items;
  const last = items[items.length - 1];
  const data = event.data ?? {};
  const key = event.id;
  let next = items;
  let status = timeline.status;
  switch (event.kind) {
    case "message": {
      const role = text(data.role) || "assistant";
      const body = text(data.text);
      if (data.chunk && last?.type === "message" && last.role === role) next = replaceLast(items, { ...last, text: last.text + body });
      else next = [...items, { type: "message", key, role, text: body }];
      break;
    }
    case "thought": {
      const body = text(data.text);
      if (last?.type === "thought") next = replaceLast(items, { ...last, text: last.text + body });
      else next = [...items, { type: "thought", key, text: body }];
      break;
    }
    case "tool_call": {
      const callId = text(data.id);
      const at = callId ? items.findIndex((item) => item.type === "tool" && item.callId === callId) : -1;
      if (at >= 0) {
        const existing = items[at] as Extract<TimelineItem, { type: "tool" }>;
        next = items.slice();
        next[at] = {
          ...existing,
          name: text(data.name) || existing.name,
          input: data.input ?? existing.input,
          status: text(data.status) || existing.status,
        };
      } else {
        next = [...items, { type: "tool", key, callId, name: text(data.name) || "tool", input: data.input ?? null, status: text(data.status), result: null }];
      }
      break;
    }
    case "tool_result": {
      const callId = text(data.id);
      const result = { text: text(data.text), isError: data.is_error === true };
      const at = callId ? items.findIndex((item) => item.type === "tool" && item.callId === callId) : -1;
      if (at >= 0) {
        const existing = items[at] as Extract<TimelineItem, { type: "tool" }>;
        next = items.slice();
        next[at] = { ...existing, result, status: text(data.status) || (result.isError ? "failed" : "completed") };
      } else {
        next = [...items, { type: "tool", key, callId, name: "tool", input: null, status: result.isError ? "failed" : "completed", result }];
      }
      break;
    }
    case "usage":
      next = [...items, { type: "usage", key, inputTokens: num(data.input_tokens), outputTokens: num(data.output_tokens), cost: num(data.cost_usd) }];
      break;
    case "permission_request": {
      const options = Array.isArray(data.options)
        ? (data.options as Record<string, unknown>[]).map((option) => ({ id: text(option.id ?? option.optionId), name: text(option.name) || text(option.id), kind: text(option.kind) }))
        : [];
      next = [...items, { type: "permission", key, requestId: text(data.request_id), title: text(data.title) || "The agent asks for permission", options, answer: null }];
      break;
    }
    case "permission_answer": {
      const requestId = text(data.request_id);
      const at = items.findIndex((item) => item.type === "permission" && item.requestId === requestId);
      if (at >= 0) {
        next = items.slice();
        next[at] = { ...(items[at] as Extract<TimelineItem, { type: "permission" }>), answer: text(data.option_id) };
      }
      break;
    }
    case "input":
      next = [...items, { type: "input", key, text: text(data.text) }];
      break;
    case "output":
    case "stderr": {
      const stream = event.kind === "stderr" ? "stderr" : "stdout";
      const body = text(data.text);
      if (last?.type === "output" && last.stream === stream) next = replaceLast(items, { ...last, text: last.text + body });
      else next = [...items, { type: "output", key, stream, text: body }];
      break;
    }
    case "commit":
      next = [...items, { type: "commit", key, commit: text(data.commit) }];
      break;
    case "stopping":
      next = [...items, { type: "note", key, text: `Stopping${data.reason ? ` (${text(data.reason)})` : ""}…` }];
      break;
    case "turn_end":
      next = [...items, { type: "note", key, text: "Turn ended" }];
      break;
    case "status": {
      status = text(data.status) || status;
      const error = data.error && typeof data.error === "object" ? (data.error as Record<string, unknown>) : null;
      next = [...items, { type: "status", key, status: text(data.status), exitCode: num(data.exit_code), error: error ? text(error.message) || text(error.code) : null }];
      break;
    }
    default:
      // The job's own `state` events and kinds this client does not know: advance only.
      break;
  }
  return { items: next, lastId: event.id, status };
}

export function reduceAll(timeline: Timeline, events: readonly AgentEvent[]): Timeline {
  return events.reduce(reduceTimeline, timeline);
}

/** The permission questions still waiting for an answer. */
export function openPermissions(timeline: Timeline): Extract<TimelineItem, { type: "permission" }>[] {
  return timeline.items.filter((item): item is Extract<TimelineItem, { type: "permission" }> => item.type === "permission" && item.answer === null);
}

/** A tool call's input in one line: the file path when there is one, else compact JSON. */
export function toolSummary(input: unknown): string {
  if (input == null) return "";
  if (typeof input === "string") return input;
  if (typeof input === "object") {
    const record = input as Record<string, unknown>;
    for (const field of ["file_path", "path", "command", "pattern", "url"]) if (typeof record[field] === "string") return record[field] as string;
    try {
      const json = JSON.stringify(input);
      return json.length > 200 ? `${json.slice(0, 199)}…` : json;
    } catch {
      return "";
    }
  }
  return String(input);
}

// ── The live socket's bookkeeping ────────────────────────────────────────────

export const MAX_BACKOFF_MS = 10_000;

/** Reconnect delay: exponential from 250 ms, capped at 10 s, with up to 20 % jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.max(0, attempt));
  return Math.round(base * (1 + 0.2 * random()));
}

/** The session's WebSocket URL, resuming after the last event seen. */
export function sessionSocketUrl(location: { protocol: string; host: string }, sessionId: string, after: number): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/agent-sessions/${encodeURIComponent(sessionId)}/ws?after=${Math.max(0, Math.floor(after))}`;
}

/** A server frame: an event `{id, kind, data}`, the end `{type:"end", status}`, or an error `{type:"error", message}`. */
export type ServerFrame = { type: "event"; event: AgentEvent } | { type: "end"; status: string } | { type: "error"; message: string } | { type: "unknown" };

export function parseFrame(raw: string): ServerFrame {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { type: "unknown" };
  }
  if (!value || typeof value !== "object") return { type: "unknown" };
  const frame = value as Record<string, unknown>;
  if (frame.type === "end") return { type: "end", status: text(frame.status) };
  if (frame.type === "error") return { type: "error", message: text(frame.message) };
  if (typeof frame.id === "number" && typeof frame.kind === "string") {
    const data = frame.data && typeof frame.data === "object" ? (frame.data as Record<string, unknown>) : {};
    return { type: "event", event: { id: frame.id, kind: frame.kind, data } };
  }
  return { type: "unknown" };
}

/**
 * What the socket remembers across connections: the last event id taken in (the
 * next connection asks for `after=` it and drops anything at or below it), the
 * failed attempts since the last good frame (the backoff), and whether the session
 * ended (no reconnect after that).
 */
export class ResumeCursor {
  lastId: number;
  attempts = 0;
  ended = false;

  constructor(after = 0) {
    this.lastId = after;
  }

  /** Takes an event id in; answers whether the event is new (not a replayed one). */
  accept(id: number): boolean {
    this.attempts = 0;
    if (id <= this.lastId) return false;
    this.lastId = id;
    return true;
  }

  end(): void {
    this.ended = true;
  }

  /** After a close: the delay before the next attempt, or null when there is none to make. */
  nextAttempt(random: () => number = Math.random): number | null {
    if (this.ended) return null;
    const delay = backoffDelay(this.attempts, random);
    this.attempts += 1;
    return delay;
  }
}

// ── Notifications ────────────────────────────────────────────────────────────

/**
 * The sessions that are over in `current` and were queued, running or not yet listed
 * in `previous` (one that started and ended between two polls). `previous` null (the
 * first load) reports nothing: only what finished while watched.
 */
export function newlyFinished(previous: ReadonlyMap<string, string> | null, current: readonly Pick<AgentSession, "id" | "status">[]): string[] {
  if (!previous) return [];
  return current.filter((session) => isFinished(session.status) && !isFinished(previous.get(session.id))).map((session) => session.id);
}

export function statusMap(sessions: readonly Pick<AgentSession, "id" | "status">[]): Map<string, string> {
  return new Map(sessions.map((session) => [session.id, session.status]));
}

/** A one-line title for a session: its prompt, shortened. */
export function sessionTitle(prompt: string, max = 60): string {
  const line = prompt.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line || "(no prompt)";
}

export function finishMessage(session: Pick<AgentSession, "profile" | "prompt" | "status" | "error">): string {
  const what = `Agent session "${sessionTitle(session.prompt, 40)}" (${session.profile})`;
  if (session.status === "succeeded") return `${what} finished.`;
  if (session.status === "stopped") return `${what} was stopped.`;
  return `${what} failed${session.error?.message ? `: ${session.error.message}` : "."}`;
}
