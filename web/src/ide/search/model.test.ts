import { describe, expect, it } from "vitest";

import { ApiError } from "../../api/client";
import { LineSplitter, ResultGroups, flattenRows, highlight, parseSearchLine, replacedText, searchParams, type SearchHit } from "./model";
import { streamSearch } from "./stream";

const hit = (path: string, line: number, preview = "x", ranges = [{ start: 0, end: 1 }]): SearchHit => ({ path, line, column: 1, preview, ranges });

describe("NDJSON lines", () => {
  it("keeps partial lines until their newline arrives", () => {
    const splitter = new LineSplitter();
    expect(splitter.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(splitter.push(':2}\n\n')).toEqual(['{"b":2}']);
    expect(splitter.push('{"c":3}')).toEqual([]);
    expect(splitter.flush()).toEqual(['{"c":3}']);
  });

  it("parses hits and the done line, and ignores junk", () => {
    expect(parseSearchLine('{"path":"a.ts","line":3,"column":2,"preview":"xy","ranges":[{"start":1,"end":2}]}')).toEqual({
      path: "a.ts",
      line: 3,
      column: 2,
      preview: "xy",
      ranges: [{ start: 1, end: 2 }],
    });
    expect(parseSearchLine('{"done":true,"truncated":true,"files_searched":9}')).toEqual({ done: true, truncated: true, files_searched: 9 });
    expect(parseSearchLine("not json")).toBeNull();
    expect(parseSearchLine('{"other":1}')).toBeNull();
  });

  it("builds the query string from the options", () => {
    const params = searchParams({ query: "a b", regex: true, caseSensitive: false, wholeWord: true, include: " *.ts ", exclude: "" }, 500);
    expect(params.toString()).toBe("q=a+b&max=500&regex=true&whole_word=true&include=*.ts");
    const all = searchParams({ query: "x", regex: false, caseSensitive: true, wholeWord: false, include: "", exclude: " dist ", hidden: true, ignored: true }, 1);
    expect(all.toString()).toBe("q=x&max=1&case_sensitive=true&exclude=dist&hidden=true&ignored=true");
  });
});

describe("grouping", () => {
  it("groups by file, keeps lines sorted, counts matches, sorts files on request", () => {
    const groups = new ResultGroups();
    groups.add(hit("b.ts", 5));
    groups.add(hit("a.ts", 9, "aa", [{ start: 0, end: 1 }, { start: 1, end: 2 }]));
    groups.add(hit("b.ts", 2));
    expect(groups.files.map((group) => group.path)).toEqual(["b.ts", "a.ts"]);
    expect(groups.files[0]!.hits.map((found) => found.line)).toEqual([2, 5]);
    expect(groups.matches).toBe(4);
    expect(groups.lines).toBe(3);
    groups.sortByPath();
    expect(groups.files.map((group) => group.path)).toEqual(["a.ts", "b.ts"]);
  });

  it("flattens into rows, leaving out collapsed files' matches", () => {
    const groups = new ResultGroups();
    groups.add(hit("a", 1));
    groups.add(hit("a", 2));
    groups.add(hit("b", 1));
    expect(flattenRows(groups.files, new Set()).map((row) => row.key)).toEqual(["f:a", "m:a:1", "m:a:2", "f:b", "m:b:1"]);
    const rows = flattenRows(groups.files, new Set(["a"]));
    expect(rows.map((row) => row.key)).toEqual(["f:a", "f:b", "m:b:1"]);
    expect(rows[0]).toMatchObject({ kind: "file", expanded: false });
  });

  it("flattens 10k hits quickly", () => {
    const groups = new ResultGroups();
    for (let index = 0; index < 10_000; index += 1) groups.add(hit(`f${index % 100}`, index));
    const started = performance.now();
    expect(flattenRows(groups.files, new Set()).length).toBe(10_100);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe("highlighting", () => {
  it("splits at character (code point) offsets, not UTF-16 units", () => {
    expect(highlight("😀 foo", [{ start: 2, end: 5 }])).toEqual([
      { text: "😀 ", match: false },
      { text: "foo", match: true },
    ]);
  });

  it("drops indentation, cuts long prefixes with an ellipsis, merges overlaps", () => {
    expect(highlight("    let x", [{ start: 8, end: 9 }])).toEqual([
      { text: "let ", match: false },
      { text: "x", match: true },
    ]);
    const long = `${"a".repeat(100)}needle tail`;
    const segments = highlight(long, [{ start: 100, end: 106 }], 10);
    expect(segments[0]).toEqual({ text: "…", match: false });
    expect(segments[1]).toEqual({ text: "a".repeat(10), match: false });
    expect(segments[2]).toEqual({ text: "needle", match: true });
    expect(highlight("abcd", [{ start: 0, end: 3 }, { start: 1, end: 4 }])).toEqual([
      { text: "abc", match: true },
      { text: "d", match: true },
    ]);
  });
});

describe("replace preview", () => {
  it("is literal without regex", () => {
    expect(replacedText("foo", "$1bar", { query: "foo", regex: false, caseSensitive: false })).toBe("$1bar");
  });

  it("expands groups with regex", () => {
    const options = { query: "(?<word>\\w+)-(\\d+)", regex: true, caseSensitive: true };
    expect(replacedText("ab-12", "$2:${word}:$$", options)).toBe("12:ab:$");
    expect(replacedText("ab-12", "x", { ...options, query: "(" })).toBe("x");
  });
});

describe("streaming", () => {
  function ndjsonResponse(chunks: string[], status = 200): Response {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    });
    return new Response(body, { status, headers: { "content-type": "application/x-ndjson" } });
  }

  it("hands over hits across chunk boundaries, then the summary", async () => {
    const batches: SearchHit[][] = [];
    let summary = null as unknown;
    let requested = "";
    const fake = (async (url: string, init: RequestInit) => {
      requested = `${url} ${(init.headers as Record<string, string>).accept}`;
      return ndjsonResponse(['{"path":"a","line":1,"column":1,"preview":"x","ranges":[]}\n{"path":"b","li', 'ne":2,"column":1,"preview":"y","ranges":[]}\n{"done":true,"truncated":false,"files_searched":2}\n']);
    }) as unknown as typeof fetch;
    await streamSearch("p1", { query: "x", regex: false, caseSensitive: false, wholeWord: false, include: "", exclude: "" }, 100, new AbortController().signal, {
      onHits: (hits) => batches.push(hits),
      onDone: (done) => {
        summary = done;
      },
    }, fake);
    expect(requested).toBe("/api/v1/projects/p1/search?q=x&max=100 application/x-ndjson");
    expect(batches.flat().map((found) => found.path)).toEqual(["a", "b"]);
    expect(summary).toEqual({ done: true, truncated: false, files_searched: 2 });
  });

  it("throws the server's problem as an ApiError", async () => {
    const problem = { type: "x", title: "Bad Request", status: 400, detail: "regex parse error", code: "invalid_regex", field: "q" };
    const fake = (async () => new Response(JSON.stringify(problem), { status: 400 })) as unknown as typeof fetch;
    const error = await streamSearch("p", { query: "(", regex: true, caseSensitive: false, wholeWord: false, include: "", exclude: "" }, 1, new AbortController().signal, {
      onHits: () => undefined,
      onDone: () => undefined,
    }, fake).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("invalid_regex");
    expect((error as ApiError).field).toBe("q");
  });
});
