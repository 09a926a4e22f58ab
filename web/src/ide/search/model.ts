// Pure pieces of the search view: NDJSON line splitting, grouping streamed hits by
// file, the flat row list the virtualized tree renders, match highlighting in
// character (Unicode scalar) offsets, and the replace preview of one line.
import type { Schemas } from "../../api/client";

export type SearchHit = Schemas["SearchHit"];

export interface SearchDone {
  done: true;
  truncated: boolean;
  files_searched: number;
}

export interface SearchOptions {
  query: string;
  regex: boolean;
  caseSensitive: boolean;
  wholeWord: boolean;
  include: string;
  exclude: string;
  /** Also search hidden files and folders (names starting with `.`). */
  hidden?: boolean;
  /** Also search files that `.gitignore` ignores. */
  ignored?: boolean;
}

/** Splits a byte stream's text into complete lines; keeps the partial last line. */
export class LineSplitter {
  private rest = "";

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split("\n");
    this.rest = lines.pop() ?? "";
    return lines.filter((line) => line.trim().length > 0);
  }

  /** The last line when the stream ended without a newline. */
  flush(): string[] {
    const rest = this.rest;
    this.rest = "";
    return rest.trim().length > 0 ? [rest] : [];
  }
}

/** One NDJSON line of a streamed search: a hit, the final summary, or null for junk. */
export function parseSearchLine(line: string): SearchHit | SearchDone | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (!value || typeof value !== "object") return null;
  const record = value as Record<string, unknown>;
  if (record.done === true) {
    return { done: true, truncated: record.truncated === true, files_searched: Number(record.files_searched ?? 0) };
  }
  if (typeof record.path === "string" && typeof record.line === "number" && typeof record.preview === "string") {
    return {
      path: record.path,
      line: record.line,
      column: typeof record.column === "number" ? record.column : 1,
      preview: record.preview,
      ranges: Array.isArray(record.ranges) ? (record.ranges as SearchHit["ranges"]) : [],
    };
  }
  return null;
}

/** The query string of a search request. */
export function searchParams(options: SearchOptions, max: number): URLSearchParams {
  const params = new URLSearchParams({ q: options.query, max: String(max) });
  if (options.regex) params.set("regex", "true");
  if (options.caseSensitive) params.set("case_sensitive", "true");
  if (options.wholeWord) params.set("whole_word", "true");
  if (options.include.trim()) params.set("include", options.include.trim());
  if (options.exclude.trim()) params.set("exclude", options.exclude.trim());
  if (options.hidden) params.set("hidden", "true");
  if (options.ignored) params.set("ignored", "true");
  return params;
}

export interface FileGroup {
  path: string;
  /** Matching lines, sorted by line. */
  hits: SearchHit[];
  /** Matches (ranges) across those lines. */
  matches: number;
}

/** Streamed hits grouped by file; files in the order they were first found. */
export class ResultGroups {
  private readonly byPath = new Map<string, FileGroup>();
  private order: FileGroup[] = [];
  lines = 0;
  matches = 0;

  add(hit: SearchHit): void {
    let group = this.byPath.get(hit.path);
    if (!group) {
      group = { path: hit.path, hits: [], matches: 0 };
      this.byPath.set(hit.path, group);
      this.order.push(group);
    }
    // Hits of one file mostly arrive in line order: append, or insert in place.
    const hits = group.hits;
    let at = hits.length;
    while (at > 0 && (hits[at - 1]?.line ?? 0) > hit.line) at -= 1;
    hits.splice(at, 0, hit);
    const count = Math.max(1, hit.ranges.length);
    group.matches += count;
    this.matches += count;
    this.lines += 1;
  }

  /** Sorts the files by path (once the stream is done, so the list stops moving). */
  sortByPath(): void {
    this.order = [...this.order].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  get files(): readonly FileGroup[] {
    return this.order;
  }
}

export type ResultRow =
  | { kind: "file"; key: string; level: 1; group: FileGroup; expanded: boolean }
  | { kind: "match"; key: string; level: 2; group: FileGroup; hit: SearchHit };

/** The rows of the results tree: a file row, then its matches unless collapsed. */
export function flattenRows(files: readonly FileGroup[], collapsed: ReadonlySet<string>): ResultRow[] {
  const rows: ResultRow[] = [];
  for (const group of files) {
    const expanded = !collapsed.has(group.path);
    rows.push({ kind: "file", key: `f:${group.path}`, level: 1, group, expanded });
    if (!expanded) continue;
    for (const hit of group.hits) rows.push({ kind: "match", key: `m:${group.path}:${hit.line}`, level: 2, group, hit });
  }
  return rows;
}

export interface Segment {
  text: string;
  match: boolean;
}

/**
 * Splits a preview into plain and matched segments. `ranges` count characters
 * (Unicode scalar values), so the line is split into code points first. Long lines
 * are cut to show `context` characters before the first match.
 */
export function highlight(preview: string, ranges: readonly { start: number; end: number }[], context = 40): Segment[] {
  const chars = Array.from(preview);
  const sorted = [...ranges]
    .map((range) => ({ start: Math.max(0, Math.min(chars.length, range.start)), end: Math.max(0, Math.min(chars.length, range.end)) }))
    .filter((range) => range.end > range.start)
    .sort((a, b) => a.start - b.start);
  let from = 0;
  // Skip leading indentation, and cut long prefixes so the match is visible.
  while (from < chars.length && (chars[from] === " " || chars[from] === "\t")) from += 1;
  const first = sorted[0];
  if (first && first.start - from > context) from = first.start - context;
  const segments: Segment[] = [];
  if (from > 0 && from > countIndent(chars)) segments.push({ text: "…", match: false });
  let at = from;
  for (const range of sorted) {
    const start = Math.max(range.start, at);
    if (range.end <= at) continue;
    if (start > at) segments.push({ text: chars.slice(at, start).join(""), match: false });
    segments.push({ text: chars.slice(start, range.end).join(""), match: true });
    at = range.end;
  }
  if (at < chars.length) segments.push({ text: chars.slice(at).join(""), match: false });
  return segments;
}

function countIndent(chars: string[]): number {
  let indent = 0;
  while (indent < chars.length && (chars[indent] === " " || chars[indent] === "\t")) indent += 1;
  return indent;
}

/**
 * What one matched segment becomes under a replacement, for the preview. Literal
 * replacements are exact; with `regex`, `$1`/`${name}`/`$$` are expanded with a
 * JavaScript regex built from the query (close to Rust's syntax for common patterns);
 * when that regex cannot be built the replacement is shown as written.
 */
export function replacedText(matched: string, replacement: string, options: Pick<SearchOptions, "query" | "regex" | "caseSensitive">): string {
  if (!options.regex) return replacement;
  let pattern: RegExp;
  try {
    pattern = new RegExp(`^(?:${options.query})$`, options.caseSensitive ? "u" : "iu");
  } catch {
    return replacement;
  }
  const found = pattern.exec(matched);
  if (!found) return replacement;
  return replacement.replace(/\$\$|\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)/g, (token, braced: string | undefined, bare: string | undefined) => {
    if (token === "$$") return "$";
    const name = braced ?? bare ?? "";
    if (/^\d+$/.test(name)) return found[Number(name)] ?? "";
    return found.groups?.[name] ?? "";
  });
}
