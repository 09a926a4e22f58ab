import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { BACKOFF_MAX_MS, BACKOFF_MIN_MS, completionWindow, CompletionGate, debounce, TRANSIENT_PAUSE_MS } from "./gate";

describe("debounce", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("answers true once the delay passes", async () => {
    const answer = debounce(300, new AbortController().signal);
    let settled: boolean | undefined;
    void answer.then((v) => (settled = v));
    await vi.advanceTimersByTimeAsync(299);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(true);
  });

  it("answers false at once when cancelled (the next keystroke), leaving no timer", async () => {
    const abort = new AbortController();
    const answer = debounce(300, abort.signal);
    await vi.advanceTimersByTimeAsync(100);
    abort.abort();
    expect(await answer).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("answers false for a signal already aborted", async () => {
    const abort = new AbortController();
    abort.abort();
    expect(await debounce(300, abort.signal)).toBe(false);
  });
});

describe("the completion gate", () => {
  let now = 0;
  const gate = () => new CompletionGate(() => now);
  beforeEach(() => (now = 1_000_000));

  it("is open until something fails", () => {
    const g = gate();
    expect(g.open()).toBe(true);
    g.succeeded();
    expect(g.open()).toBe(true);
  });

  it("stops asking for a minute after a 503 and doubles while 503s repeat, up to the cap", () => {
    const g = gate();
    g.failed(503);
    expect(g.open()).toBe(false);
    now += BACKOFF_MIN_MS - 1;
    expect(g.open()).toBe(false);
    now += 1;
    expect(g.open()).toBe(true);
    g.failed(503);
    expect(g.remaining()).toBe(2 * BACKOFF_MIN_MS);
    for (let i = 0; i < 10; i++) {
      now += g.remaining();
      g.failed(503);
    }
    expect(g.remaining()).toBe(BACKOFF_MAX_MS);
  });

  it("honours a longer Retry-After on a 429 (budget spent)", () => {
    const g = gate();
    g.failed(429, 3600);
    expect(g.remaining()).toBe(3_600_000);
  });

  it("pauses briefly after other failures and a success clears the back-off", () => {
    const g = gate();
    g.failed(502);
    expect(g.remaining()).toBe(TRANSIENT_PAUSE_MS);
    g.failed(0);
    expect(g.remaining()).toBe(TRANSIENT_PAUSE_MS);
    g.failed(503);
    g.succeeded();
    expect(g.open()).toBe(true);
    g.failed(503);
    expect(g.remaining()).toBe(BACKOFF_MIN_MS);
  });

  it("reset opens it (the settings changed)", () => {
    const g = gate();
    g.failed(503, 600);
    g.reset();
    expect(g.open()).toBe(true);
  });
});

describe("the completion window", () => {
  it("keeps the end of the prefix and the start of the suffix", () => {
    expect(completionWindow("abcdef", "uvwxyz", 3, 2)).toEqual({ prefix: "def", suffix: "uv" });
    expect(completionWindow("ab", "", 3, 2)).toEqual({ prefix: "ab", suffix: "" });
  });
});
