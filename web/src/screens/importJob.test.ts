import { describe, expect, it, vi } from "vitest";

import {
  describeProgress,
  followJob,
  initialProgress,
  nameFromFile,
  nameFromGitUrl,
  progressFraction,
  progressFromJob,
  reduceJobEvent,
  uploadingProgress,
  type EventSourceLike,
  type ImportProgress,
  type JobDto,
} from "./importJob";

function replay(events: [string, unknown, string?][]): ImportProgress {
  return events.reduce<ImportProgress>((state, [kind, data, id]) => reduceJobEvent(state, kind, JSON.stringify(data), id), initialProgress);
}

describe("reduceJobEvent", () => {
  it("follows an archive import from queued to done", () => {
    let state = replay([["state", { status: "running" }, "1"]]);
    expect(state.phase).toBe("installing");
    state = reduceJobEvent(state, "progress", JSON.stringify({ phase: "extracting", format: "tar.gz", entries: 12, bytes: 2048 }), "2");
    expect(state).toMatchObject({ phase: "extracting", entries: 12, bytes: 2048, lastEventId: 2 });
    expect(progressFraction(state)).toBeNull();
    expect(describeProgress(state)).toBe("Extracting… 12 items, 2.0 KB");
    state = reduceJobEvent(state, "progress", JSON.stringify({ phase: "done", entries: 14, bytes: 4096 }), "3");
    expect(state.phase).toBe("installing");
    state = reduceJobEvent(state, "state", JSON.stringify({ status: "succeeded" }), "4");
    expect(state.phase).toBe("done");
    expect(progressFraction(state)).toBe(1);
    expect(describeProgress(state)).toBe("Imported 14 items, 4.0 KB");
  });

  it("computes a fraction for git clones once the total is known", () => {
    const state = replay([["progress", { phase: "cloning", objects: 25, total_objects: 100, bytes: 1_048_576 }, "5"]]);
    expect(progressFraction(state)).toBe(0.25);
    expect(describeProgress(state)).toBe("Cloning… 25 of 100 objects, 1.0 MB");
    expect(describeProgress(replay([["progress", { phase: "cloning", objects: 0, total_objects: 0, bytes: 0 }]]))).toMatch(/connecting/);
  });

  it("ends failed with the job's error from the end event", () => {
    const state = replay([
      ["progress", { phase: "extracting", entries: 1, bytes: 1 }, "1"],
      ["end", { status: "failed", error: { code: "archive_invalid", message: "not a zip or tar.gz archive" }, result: null }],
    ]);
    expect(state.phase).toBe("failed");
    expect(state.error).toEqual({ code: "archive_invalid", message: "not a zip or tar.gz archive" });
    expect(describeProgress(state)).toBe("Import failed: not a zip or tar.gz archive");
  });

  it("ignores logs, unknown kinds and broken JSON, and progress after the end", () => {
    const done = replay([["end", { status: "succeeded" }]]);
    expect(reduceJobEvent(done, "progress", JSON.stringify({ phase: "extracting", entries: 1, bytes: 1 }))).toBe(done);
    expect(reduceJobEvent(initialProgress, "log", JSON.stringify({ line: "hi" })).phase).toBe("queued");
    expect(reduceJobEvent(initialProgress, "progress", "{not json")).toBe(initialProgress);
  });
});

describe("upload and polling", () => {
  it("describes the upload", () => {
    const state = uploadingProgress(512 * 1024, 2 * 1024 * 1024);
    expect(progressFraction(state)).toBe(0.25);
    expect(describeProgress(state)).toBe("Uploading… 512 KB of 2.0 MB (25%)");
  });

  it("reads a polled job", () => {
    const job = {
      id: "j",
      kind: "import",
      status: "failed",
      attempt: 1,
      created_at: "2026-11-22T00:00:00Z",
      error: { code: "quota_file_count", message: "too many files" },
      progress: { phase: "extracting", entries: 3, bytes: 10 },
    } as unknown as JobDto;
    expect(progressFromJob(initialProgress, job)).toMatchObject({ phase: "failed", entries: 3, error: { code: "quota_file_count" } });
  });
});

class FakeEventSource implements EventSourceLike {
  readyState = 0;
  onerror: ((event: Event) => void) | null = null;
  listeners = new Map<string, ((event: MessageEvent<string>) => void)[]>();
  closed = false;
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  emit(type: string, data: unknown, id = "") {
    for (const listener of this.listeners.get(type) ?? []) {
      listener({ data: JSON.stringify(data), lastEventId: id } as MessageEvent<string>);
    }
  }
  fail(readyState: number) {
    this.readyState = readyState;
    this.onerror?.(new Event("error"));
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
}

describe("followJob", () => {
  it("follows the event stream and closes it at the end", () => {
    const sources: FakeEventSource[] = [];
    const updates: ImportProgress[] = [];
    followJob("job1", initialProgress, (state) => updates.push(state), {
      createEventSource: (url) => {
        const source = new FakeEventSource(url);
        sources.push(source);
        return source;
      },
      fetchJob: () => Promise.reject(new Error("no polling expected")),
    });
    const source = sources[0]!;
    expect(source.url).toBe("/api/v1/jobs/job1/events");
    source.emit("progress", { phase: "extracting", entries: 5, bytes: 100 }, "1");
    source.emit("end", { status: "succeeded", error: null, result: {} });
    expect(updates.map((state) => state.phase)).toEqual(["extracting", "done"]);
    expect(source.closed).toBe(true);
  });

  it("falls back to polling when the stream is refused", async () => {
    vi.useFakeTimers();
    try {
      let source: FakeEventSource | null = null;
      const statuses = ["running", "succeeded"] as const;
      let calls = 0;
      const updates: ImportProgress[] = [];
      followJob("job2", initialProgress, (state) => updates.push(state), {
        createEventSource: (url) => (source = new FakeEventSource(url)),
        fetchJob: async () =>
          ({
            id: "job2",
            kind: "import",
            status: statuses[Math.min(calls++, 1)],
            attempt: 1,
            created_at: "2026-11-22T00:00:00Z",
            progress: { phase: "extracting", entries: 2, bytes: 20 },
          }) as unknown as JobDto,
        pollMs: 500,
      });
      source!.fail(2);
      expect(source!.closed).toBe(true);
      await vi.advanceTimersByTimeAsync(0);
      expect(updates.at(-1)?.phase).toBe("extracting");
      await vi.advanceTimersByTimeAsync(500);
      expect(updates.at(-1)?.phase).toBe("done");
      await vi.advanceTimersByTimeAsync(5000);
      expect(calls).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("lets the browser reconnect a dropped stream, then polls if it keeps failing", () => {
    let source: FakeEventSource | null = null;
    const fetchJob = vi.fn(() => new Promise<JobDto>(() => {}));
    followJob("job3", initialProgress, () => {}, { createEventSource: (url) => (source = new FakeEventSource(url)), fetchJob, maxStreamErrors: 3 });
    source!.fail(0);
    source!.fail(0);
    expect(fetchJob).not.toHaveBeenCalled();
    source!.fail(0);
    expect(fetchJob).toHaveBeenCalledTimes(1);
  });
});

describe("names", () => {
  it("derives a project name from a file or a git URL", () => {
    expect(nameFromFile("my_app-1.2.tar.gz")).toBe("my app-1.2");
    expect(nameFromFile("site.zip")).toBe("site");
    expect(nameFromGitUrl("https://github.com/acme/web.git")).toBe("web");
    expect(nameFromGitUrl("https://gitlab.com/acme/tools/")).toBe("tools");
    expect(nameFromGitUrl("https:")).toBe("");
  });
});
