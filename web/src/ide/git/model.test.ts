import { describe, expect, it } from "vitest";

import { changeLabel, changeLetter, relativeTime, sections } from "./model";

describe("status sections", () => {
  it("puts a file in staged and unstaged when it has both, conflicts apart, untracked with changes", () => {
    const result = sections([
      { path: "b.txt", status: "modified", staged: "modified", unstaged: "modified" },
      { path: "a.txt", status: "untracked", staged: null, unstaged: "untracked" },
      { path: "new.txt", status: "added", staged: "added", unstaged: null },
      { path: "c.txt", status: "conflicted", staged: "modified", unstaged: "modified" },
      { path: "moved.txt", status: "renamed", staged: "renamed", unstaged: null, old_path: "old.txt" },
    ]);
    expect(result.conflicted.map((item) => item.path)).toEqual(["c.txt"]);
    expect(result.staged.map((item) => `${item.path}:${item.change}`)).toEqual(["b.txt:modified", "moved.txt:renamed", "new.txt:added"]);
    expect(result.staged[1]!.oldPath).toBe("old.txt");
    expect(result.unstaged.map((item) => `${item.path}:${item.change}`)).toEqual(["a.txt:untracked", "b.txt:modified"]);
    expect(result.unstaged.every((item) => !item.staged)).toBe(true);
  });

  it("has letters and labels", () => {
    expect(changeLetter("untracked")).toBe("U");
    expect(changeLetter("modified")).toBe("M");
    expect(changeLetter("weird")).toBe("?");
    expect(changeLabel("typechange")).toBe("type changed");
  });
});

describe("relative times", () => {
  const now = Date.parse("2026-11-22T12:00:00Z");
  it("reads like VS Code's timeline", () => {
    expect(relativeTime("2026-11-22T11:59:50Z", now)).toBe("just now");
    expect(relativeTime("2026-11-22T11:59:00Z", now)).toBe("1 minute ago");
    expect(relativeTime("2026-11-22T09:00:00Z", now)).toBe("3 hours ago");
    expect(relativeTime("2026-11-19T12:00:00Z", now)).toBe("3 days ago");
    expect(relativeTime("2026-01-02T12:00:00Z", now)).toBe("2026-01-02");
    expect(relativeTime("garbage", now)).toBe("garbage");
  });
});
