import { describe, expect, it } from "vitest";

import { matches, parseKey } from "./keys";

const ev = (code: string, mods: Partial<Record<"ctrlKey" | "metaKey" | "shiftKey" | "altKey", boolean>> = {}) => ({
  key: code.startsWith("Key") ? code.slice(3).toLowerCase() : code,
  code,
  ctrlKey: false,
  metaKey: false,
  shiftKey: false,
  altKey: false,
  ...mods,
});

describe("keys", () => {
  it("matches chords with Ctrl or Cmd", () => {
    const chord = parseKey("Ctrl+Shift+P")!;
    expect(matches(chord, ev("KeyP", { ctrlKey: true, shiftKey: true }))).toBe(true);
    expect(matches(chord, ev("KeyP", { metaKey: true, shiftKey: true }))).toBe(true);
    expect(matches(chord, ev("KeyP", { ctrlKey: true }))).toBe(false);
    expect(matches(parseKey("Ctrl+`")!, ev("Backquote", { ctrlKey: true }))).toBe(true);
    expect(matches(parseKey("F1")!, ev("F1"))).toBe(true);
    expect(parseKey("")).toBeNull();
  });
});
