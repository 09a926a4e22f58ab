import { describe, expect, it } from "vitest";

import { formatBytes, formatCount, plural, relativeTime } from "./format";

describe("format", () => {
  it("formats bytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(50 * 1024 * 1024)).toBe("50 MB");
    expect(formatBytes(-1)).toBe("—");
  });

  it("counts", () => {
    expect(formatCount(12345)).toBe("12,345");
    expect(plural(1, "file")).toBe("1 file");
    expect(plural(2, "entry", "entries")).toBe("2 entries");
  });

  it("says how long ago", () => {
    const now = Date.parse("2026-11-22T12:00:00Z");
    expect(relativeTime("2026-11-22T11:59:50Z", now)).toBe("just now");
    expect(relativeTime("2026-11-22T11:55:00Z", now)).toBe("5 minutes ago");
    expect(relativeTime("2026-11-20T12:00:00Z", now)).toBe("2 days ago");
    expect(relativeTime("2027-01-22T12:00:00Z", now)).toBe("in 2 months");
    expect(relativeTime(null, now)).toBe("never");
  });
});
