import { describe, expect, it } from "vitest";

import { treeKey } from "./treeKeys";

const rows = [
  { level: 1, expanded: true },
  { level: 2 },
  { level: 2 },
  { level: 1, expanded: false },
  { level: 1, expanded: true },
  { level: 2 },
];

describe("tree keys", () => {
  it("moves with arrows, Home/End and pages, staying inside the list", () => {
    expect(treeKey("ArrowDown", rows, 0, 3)).toEqual({ kind: "move", index: 1 });
    expect(treeKey("ArrowDown", rows, 5, 3)).toEqual({ kind: "move", index: 5 });
    expect(treeKey("ArrowUp", rows, 0, 3)).toEqual({ kind: "move", index: 0 });
    expect(treeKey("End", rows, 1, 3)).toEqual({ kind: "move", index: 5 });
    expect(treeKey("Home", rows, 4, 3)).toEqual({ kind: "move", index: 0 });
    expect(treeKey("PageDown", rows, 1, 3)).toEqual({ kind: "move", index: 4 });
    expect(treeKey("PageUp", rows, 1, 3)).toEqual({ kind: "move", index: 0 });
  });

  it("expands, collapses and walks to the parent like VS Code's trees", () => {
    expect(treeKey("ArrowRight", rows, 3, 3)).toEqual({ kind: "toggle", expand: true });
    expect(treeKey("ArrowRight", rows, 0, 3)).toEqual({ kind: "move", index: 1 });
    expect(treeKey("ArrowLeft", rows, 0, 3)).toEqual({ kind: "toggle", expand: false });
    expect(treeKey("ArrowLeft", rows, 2, 3)).toEqual({ kind: "move", index: 0 });
    expect(treeKey("ArrowLeft", rows, 3, 3)).toEqual({ kind: "move", index: 3 });
  });

  it("activates with Enter and Space and ignores other keys", () => {
    expect(treeKey("Enter", rows, 1, 3)).toEqual({ kind: "activate" });
    expect(treeKey(" ", rows, 1, 3)).toEqual({ kind: "activate" });
    expect(treeKey("x", rows, 1, 3)).toEqual({ kind: "none" });
    expect(treeKey("ArrowDown", [], 0, 3)).toEqual({ kind: "none" });
  });
});
