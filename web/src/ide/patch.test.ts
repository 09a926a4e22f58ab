import { describe, expect, it } from "vitest";

import { reverseHunks } from "./patch";

describe("reverseHunks", () => {
  it("restores changed, added and deleted lines", () => {
    const oldText = "a\nb\nc\nd\ne\n";
    const newText = "a\nB\nc\ne\nf\n";
    const hunks = [
      {
        new_start: 1,
        new_lines: 5,
        lines: [
          { kind: "context", content: "a\n" },
          { kind: "delete", content: "b\n" },
          { kind: "add", content: "B\n" },
          { kind: "context", content: "c\n" },
          { kind: "delete", content: "d\n" },
          { kind: "context", content: "e\n" },
          { kind: "add", content: "f\n" },
        ],
      },
    ];
    expect(reverseHunks(newText, hunks)).toBe(oldText);
  });

  it("handles a pure deletion hunk and untouched text", () => {
    // old: x y z w; new: x w (lines 2-3 deleted, hunk without context)
    const hunks = [{ new_start: 1, new_lines: 0, lines: [{ kind: "delete", content: "y" }, { kind: "delete", content: "z" }] }];
    expect(reverseHunks("x\nw", hunks)).toBe("x\ny\nz\nw");
    expect(reverseHunks("same\n", [])).toBe("same\n");
  });

  it("restores a deleted file from nothing", () => {
    const hunks = [{ new_start: 0, new_lines: 0, lines: [{ kind: "delete", content: "one\n" }, { kind: "delete", content: "two\n" }] }];
    expect(reverseHunks("", hunks)).toBe("one\ntwo\n");
  });
});
