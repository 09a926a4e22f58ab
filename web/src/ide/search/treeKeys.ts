// The keyboard model of a flat ARIA tree (rows with levels, some expandable), as a
// pure function so it is unit-tested apart from the virtualized component.
export interface KeyRow {
  level: number;
  /** Defined for rows that can be expanded and collapsed. */
  expanded?: boolean;
}

export type TreeKeyResult =
  | { kind: "move"; index: number }
  | { kind: "toggle"; expand: boolean }
  | { kind: "activate" }
  | { kind: "none" };

/** What a key does on the tree: `page` is how many rows one PageUp/PageDown moves. */
export function treeKey(key: string, rows: readonly KeyRow[], active: number, page: number): TreeKeyResult {
  const row = rows[active];
  if (!row) return { kind: "none" };
  const clamp = (index: number) => ({ kind: "move" as const, index: Math.max(0, Math.min(rows.length - 1, index)) });
  switch (key) {
    case "ArrowDown":
      return clamp(active + 1);
    case "ArrowUp":
      return clamp(active - 1);
    case "Home":
      return clamp(0);
    case "End":
      return clamp(rows.length - 1);
    case "PageDown":
      return clamp(active + Math.max(1, page));
    case "PageUp":
      return clamp(active - Math.max(1, page));
    case "ArrowRight":
      if (row.expanded === false) return { kind: "toggle", expand: true };
      if (row.expanded === true) return clamp(active + 1);
      return { kind: "move", index: active };
    case "ArrowLeft":
      if (row.expanded === true) return { kind: "toggle", expand: false };
      for (let index = active - 1; index >= 0; index -= 1) {
        if ((rows[index]?.level ?? 0) < row.level) return { kind: "move", index };
      }
      return { kind: "move", index: active };
    case "Enter":
    case " ":
      return { kind: "activate" };
    default:
      return { kind: "none" };
  }
}
