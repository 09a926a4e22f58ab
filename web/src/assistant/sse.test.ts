import { describe, expect, it } from "vitest";

import { createSseParser, type SseEvent } from "./sse";

/** Feeds `text` in the given pieces; answers every event. */
function parse(pieces: string[]): SseEvent[] {
  const parser = createSseParser();
  return [...pieces.flatMap((piece) => parser.push(piece)), ...parser.end()];
}

const stream =
  ': keep-alive\n\nevent: delta\ndata: {"text":"Hel"}\n\nevent: delta\r\ndata: {"text":"lo"}\r\n\r\nevent: usage\rdata: {"prompt_tokens":3,"completion_tokens":2}\r\revent: done\ndata: {}\n\n';
const expected: SseEvent[] = [
  { event: "delta", data: '{"text":"Hel"}' },
  { event: "delta", data: '{"text":"lo"}' },
  { event: "usage", data: '{"prompt_tokens":3,"completion_tokens":2}' },
  { event: "done", data: "{}" },
];

describe("the SSE parser", () => {
  it("parses a whole stream with LF, CRLF and CR line ends and skips comments", () => {
    expect(parse([stream])).toEqual(expected);
  });

  it("gives the same events however the stream is split, even inside a CRLF", () => {
    for (let size = 1; size <= 7; size++) {
      const pieces: string[] = [];
      for (let i = 0; i < stream.length; i += size) pieces.push(stream.slice(i, i + size));
      expect(parse(pieces)).toEqual(expected);
    }
    // Every single split point.
    for (let at = 0; at <= stream.length; at++) expect(parse([stream.slice(0, at), stream.slice(at)])).toEqual(expected);
  });

  it("does not see an empty line when a CRLF is split between chunks", () => {
    expect(parse(["data: a\r", "\ndata: b\r\n\r\n"])).toEqual([{ event: "message", data: "a\nb" }]);
  });

  it("joins multi-line data with newlines and keeps a space after the first", () => {
    expect(parse(["event: delta\ndata: line one\ndata:  two\ndata\n\n"])).toEqual([{ event: "delta", data: "line one\n two\n" }]);
  });

  it("names unnamed events message, remembers ids and ignores unknown fields", () => {
    expect(parse(["id: 7\nretry: 100\nfoo: bar\ndata: x\n\n"])).toEqual([{ event: "message", data: "x", id: "7" }]);
  });

  it("dispatches nothing for an event without data, and drops one cut off at the end", () => {
    expect(parse(["event: ping\n\n", "event: delta\ndata: half"])).toEqual([]);
  });

  it("handles multi-byte text split by the decoder's pieces", () => {
    expect(parse(['data: {"text":"h', 'é€"}\n', "\n"])).toEqual([{ event: "message", data: '{"text":"hé€"}' }]);
  });
});
