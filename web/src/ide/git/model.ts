// Pure pieces of the source-control view: sorting status entries into VS Code's
// sections, their letters and labels, and relative commit times.
import type { Schemas } from "../../api/client";

export type StatusEntry = Schemas["StatusEntryDto"];

export interface ChangeItem {
  path: string;
  oldPath: string | null;
  /** The change in this section: `modified`, `untracked`, … */
  change: string;
  staged: boolean;
}

export interface Sections {
  conflicted: ChangeItem[];
  staged: ChangeItem[];
  unstaged: ChangeItem[];
}

const byPath = (a: ChangeItem, b: ChangeItem) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Splits status entries into merge conflicts, staged changes and unstaged (incl. untracked) changes. */
export function sections(entries: readonly StatusEntry[]): Sections {
  const result: Sections = { conflicted: [], staged: [], unstaged: [] };
  for (const entry of entries) {
    const oldPath = entry.old_path ?? null;
    if (entry.status === "conflicted") {
      result.conflicted.push({ path: entry.path, oldPath, change: "conflicted", staged: false });
      continue;
    }
    if (entry.staged) result.staged.push({ path: entry.path, oldPath, change: entry.staged, staged: true });
    if (entry.unstaged) result.unstaged.push({ path: entry.path, oldPath, change: entry.unstaged, staged: false });
  }
  result.conflicted.sort(byPath);
  result.staged.sort(byPath);
  result.unstaged.sort(byPath);
  return result;
}

const LETTERS: Record<string, string> = {
  added: "A",
  modified: "M",
  deleted: "D",
  renamed: "R",
  copied: "C",
  typechange: "T",
  untracked: "U",
  conflicted: "!",
};

/** The one-letter badge VS Code shows for a change. */
export function changeLetter(change: string): string {
  return LETTERS[change] ?? "?";
}

/** A human label for a change, for screen readers and tooltips. */
export function changeLabel(change: string): string {
  if (change === "typechange") return "type changed";
  if (change === "conflicted") return "conflict";
  return change;
}

/** "just now", "5 minutes ago", "3 days ago", then the date. */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? "" : "s"} ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} hour${hours === 1 ? "" : "s"} ago`;
  const days = Math.round(hours / 24);
  if (days < 30) return `${days} day${days === 1 ? "" : "s"} ago`;
  return new Date(then).toISOString().slice(0, 10);
}
