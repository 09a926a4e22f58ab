import { describe, expect, it } from "vitest";

import {
  backoffDelay,
  canReview,
  defaultProfile,
  EMPTY_TIMELINE,
  finishMessage,
  formatCost,
  formatDuration,
  formatTokens,
  newlyFinished,
  openPermissions,
  parseFrame,
  profileAvailability,
  reduceAll,
  reduceTimeline,
  ResumeCursor,
  sessionSocketUrl,
  sessionTitle,
  statusMap,
  statusTone,
  toolSummary,
} from "./model";
import type { AgentEvent, AgentProfile } from "./types";

let seq = 0;
const ev = (kind: string, data: Record<string, unknown> = {}, id?: number): AgentEvent => ({ id: id ?? ++seq, kind, data });

describe("timeline reduction", () => {
  it("turns a Claude Code transcript into messages, a tool call with its result, usage and the status", () => {
    seq = 0;
    const events = [
      ev("state", { state: "running" }),
      ev("status", { status: "running", branch: "dockyard/agent/x" }),
      ev("message", { role: "assistant", text: "key length 0" }),
      ev("message", { role: "assistant", text: "Writing notes.txt" }),
      ev("tool_call", { id: "t1", name: "Write", input: { file_path: "notes.txt" } }),
      ev("tool_result", { id: "t1", text: "written", is_error: false }),
      ev("usage", { input_tokens: 100, output_tokens: 10, cost_usd: 0.0125 }),
      ev("commit", { commit: "0123456789abcdef" }),
      ev("status", { status: "succeeded", exit_code: 0, error: null }),
    ];
    const timeline = reduceAll(EMPTY_TIMELINE, events);
    expect(timeline.lastId).toBe(9);
    expect(timeline.status).toBe("succeeded");
    expect(timeline.items.map((item) => item.type)).toEqual(["status", "message", "message", "tool", "usage", "commit", "status"]);
    const tool = timeline.items.find((item) => item.type === "tool");
    expect(tool).toMatchObject({ name: "Write", callId: "t1", input: { file_path: "notes.txt" }, status: "completed", result: { text: "written", isError: false } });
    expect(timeline.items.find((item) => item.type === "usage")).toMatchObject({ inputTokens: 100, outputTokens: 10, cost: 0.0125 });
    expect(timeline.items.at(-1)).toMatchObject({ type: "status", status: "succeeded", exitCode: 0, error: null });
  });

  it("ignores events it has already taken in (a replay after a reconnect)", () => {
    seq = 0;
    const first = [ev("message", { role: "assistant", text: "a" }), ev("message", { role: "assistant", text: "b" })];
    const once = reduceAll(EMPTY_TIMELINE, first);
    const twice = reduceAll(once, first);
    expect(twice).toBe(once);
    const more = reduceTimeline(twice, ev("message", { role: "assistant", text: "c" }));
    expect(more.items).toHaveLength(3);
    expect(more.lastId).toBe(3);
  });

  it("merges ACP message chunks, thoughts and output of one stream", () => {
    seq = 0;
    const timeline = reduceAll(EMPTY_TIMELINE, [
      ev("message", { role: "assistant", text: "Hel", chunk: true }),
      ev("message", { role: "assistant", text: "lo", chunk: true }),
      ev("thought", { text: "hmm " }),
      ev("thought", { text: "ok" }),
      ev("output", { text: "line 1\n" }),
      ev("output", { text: "line 2\n" }),
      ev("stderr", { text: "oops\n" }),
      ev("message", { role: "user", text: "more", chunk: true }),
    ]);
    expect(timeline.items).toEqual([
      { type: "message", key: 1, role: "assistant", text: "Hello" },
      { type: "thought", key: 3, text: "hmm ok" },
      { type: "output", key: 5, stream: "stdout", text: "line 1\nline 2\n" },
      { type: "output", key: 7, stream: "stderr", text: "oops\n" },
      { type: "message", key: 8, role: "user", text: "more" },
    ]);
  });

  it("updates an ACP tool call in place and marks a failed result", () => {
    seq = 0;
    const timeline = reduceAll(EMPTY_TIMELINE, [
      ev("tool_call", { id: "c1", name: "edit", status: "pending", input: { path: "a.txt" } }),
      ev("tool_call", { id: "c1", status: "in_progress" }),
      ev("tool_result", { id: "c1", status: "failed", text: "denied", is_error: true }),
      ev("tool_result", { id: "orphan", text: "x", is_error: false }),
    ]);
    expect(timeline.items).toHaveLength(2);
    expect(timeline.items[0]).toMatchObject({ type: "tool", name: "edit", status: "failed", input: { path: "a.txt" }, result: { text: "denied", isError: true } });
    expect(timeline.items[1]).toMatchObject({ type: "tool", callId: "orphan", result: { text: "x" } });
  });

  it("keeps permission questions open until answered", () => {
    seq = 0;
    let timeline = reduceAll(EMPTY_TIMELINE, [
      ev("permission_request", { request_id: "r1", title: "Write a.txt?", options: [{ id: "allow", name: "Allow", kind: "allow_once" }, { id: "deny", name: "Deny", kind: "reject_once" }] }),
    ]);
    expect(openPermissions(timeline)).toHaveLength(1);
    expect(openPermissions(timeline)[0]).toMatchObject({ requestId: "r1", title: "Write a.txt?", options: [{ id: "allow", name: "Allow" }, { id: "deny", name: "Deny" }] });
    timeline = reduceTimeline(timeline, ev("permission_answer", { request_id: "r1", option_id: "allow" }));
    expect(openPermissions(timeline)).toHaveLength(0);
    expect(timeline.items[0]).toMatchObject({ answer: "allow" });
  });

  it("shows stops, turn ends, inputs and failures", () => {
    seq = 0;
    const timeline = reduceAll(EMPTY_TIMELINE, [
      ev("input", { text: "yes" }),
      ev("turn_end", { stop_reason: "end_turn" }),
      ev("stopping", { reason: "stop requested" }),
      ev("status", { status: "failed", exit_code: 3, error: { code: "agent_exited", message: "the agent exited with code 3" } }),
      ev("mystery", { anything: 1 }),
    ]);
    expect(timeline.items.map((item) => item.type)).toEqual(["input", "note", "note", "status"]);
    expect(timeline.items[2]).toMatchObject({ text: "Stopping (stop requested)…" });
    expect(timeline.items[3]).toMatchObject({ status: "failed", exitCode: 3, error: "the agent exited with code 3" });
    expect(timeline.lastId).toBe(5);
  });
});

describe("the socket's resume bookkeeping", () => {
  it("resumes after the last id, drops replays and resets the backoff on a frame", () => {
    const cursor = new ResumeCursor();
    expect(cursor.accept(1)).toBe(true);
    expect(cursor.accept(2)).toBe(true);
    expect(cursor.accept(2)).toBe(false);
    expect(cursor.accept(1)).toBe(false);
    expect(cursor.lastId).toBe(2);
    expect(sessionSocketUrl({ protocol: "http:", host: "h:1" }, "s 1", cursor.lastId)).toBe("ws://h:1/api/v1/agent-sessions/s%201/ws?after=2");
    expect(sessionSocketUrl({ protocol: "https:", host: "h" }, "s", 0)).toBe("wss://h/api/v1/agent-sessions/s/ws?after=0");
    const none = () => 0;
    expect(cursor.nextAttempt(none)).toBe(250);
    expect(cursor.nextAttempt(none)).toBe(500);
    expect(cursor.nextAttempt(none)).toBe(1000);
    cursor.accept(3);
    expect(cursor.nextAttempt(none)).toBe(250);
  });

  it("never reconnects after the end", () => {
    const cursor = new ResumeCursor(5);
    cursor.end();
    expect(cursor.nextAttempt()).toBeNull();
  });

  it("backs off exponentially to 10 s with bounded jitter", () => {
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(3, () => 0)).toBe(2000);
    expect(backoffDelay(20, () => 0)).toBe(10_000);
    expect(backoffDelay(20, () => 1)).toBe(12_000);
  });

  it("parses server frames", () => {
    expect(parseFrame('{"id":4,"kind":"output","data":{"text":"hi"}}')).toEqual({ type: "event", event: { id: 4, kind: "output", data: { text: "hi" } } });
    expect(parseFrame('{"type":"end","status":"succeeded"}')).toEqual({ type: "end", status: "succeeded" });
    expect(parseFrame('{"type":"error","message":"nope"}')).toEqual({ type: "error", message: "nope" });
    expect(parseFrame("not json")).toEqual({ type: "unknown" });
    expect(parseFrame('{"id":"x"}')).toEqual({ type: "unknown" });
  });
});

const profile = (name: string, state: string, extra: Partial<AgentProfile> = {}): AgentProfile => ({
  id: name,
  name,
  kind: "pty",
  command: ["x"],
  isolation: "worktree",
  max_runtime_secs: 60,
  max_per_user: 1,
  max_per_org: 1,
  enabled: true,
  env: {},
  health: { state, consecutive_failures: state === "open" ? 2 : 0, retry_after_secs: state === "open" ? 30 : null },
  created_at: "2026-11-22T00:00:00Z",
  updated_at: "2026-11-22T00:00:00Z",
  ...extra,
});

describe("profiles", () => {
  it("says why a profile cannot be used", () => {
    expect(profileAvailability(profile("a", "closed"))).toEqual({ usable: true, label: "healthy" });
    expect(profileAvailability(profile("a", "half_open")).usable).toBe(true);
    const open = profileAvailability(profile("a", "open"));
    expect(open.usable).toBe(false);
    expect(open.label).toBe("unavailable: failing fast after 2 failures; retry in 30 s");
    expect(profileAvailability(profile("a", "closed", { enabled: false }))).toEqual({ usable: false, label: "disabled by an admin" });
  });

  it("preselects the remembered profile when usable, else the first usable one", () => {
    const list = [profile("broken", "open"), profile("claude", "closed"), profile("asker", "closed")];
    expect(defaultProfile(list, "asker")).toBe("asker");
    expect(defaultProfile(list, "broken")).toBe("claude");
    expect(defaultProfile(list, null)).toBe("claude");
    expect(defaultProfile([], null)).toBe("");
  });
});

describe("formatting and notifications", () => {
  it("formats cost, duration and tokens", () => {
    expect(formatCost(0.0125)).toBe("$0.0125");
    expect(formatCost(0.25)).toBe("$0.25");
    expect(formatCost(3.5)).toBe("$3.50");
    expect(formatCost(null)).toBe("");
    expect(formatDuration(0.42)).toBe("420 ms");
    expect(formatDuration(4.25)).toBe("4.3 s");
    expect(formatDuration(185)).toBe("3 m 05 s");
    expect(formatDuration(3720)).toBe("1 h 02 m");
    expect(formatTokens(1200, 80)).toBe("1,200 in · 80 out");
    expect(formatTokens(null, null)).toBe("");
    expect(statusTone("succeeded")).toBe("ok");
    expect(statusTone("running")).toBe("busy");
    expect(statusTone("failed")).toBe("bad");
    expect(statusTone("stopped")).toBe("idle");
    expect(toolSummary({ file_path: "notes.txt", content: "x" })).toBe("notes.txt");
    expect(toolSummary({ a: 1 })).toBe('{"a":1}');
    expect(sessionTitle("  write\nnotes.txt:   hello ")).toBe("write notes.txt: hello");
  });

  it("reports only sessions that finished while watched", () => {
    expect(newlyFinished(null, [{ id: "a", status: "succeeded" }])).toEqual([]);
    const before = statusMap([
      { id: "a", status: "running" },
      { id: "b", status: "succeeded" },
      { id: "c", status: "queued" },
    ]);
    const now = [
      { id: "d", status: "failed" },
      { id: "a", status: "succeeded" },
      { id: "b", status: "succeeded" },
      { id: "c", status: "running" },
    ];
    expect(newlyFinished(before, now)).toEqual(["d", "a"]);
    expect(finishMessage({ profile: "claude", prompt: "write notes.txt: hello", status: "succeeded", error: null })).toBe('Agent session "write notes.txt: hello" (claude) finished.');
    expect(finishMessage({ profile: "x", prompt: "p", status: "failed", error: { code: "c", message: "boom" } })).toBe('Agent session "p" (x) failed: boom');
  });

  it("offers a review only for finished, unreviewed worktree sessions", () => {
    const base = { isolation: "worktree", status: "succeeded", review: null, base_commit: "abc" };
    expect(canReview(base)).toBe(true);
    expect(canReview({ ...base, status: "running" })).toBe(false);
    expect(canReview({ ...base, review: "applied" })).toBe(false);
    expect(canReview({ ...base, isolation: "workspace" })).toBe(false);
    expect(canReview({ ...base, base_commit: null })).toBe(false);
  });
});
