import { afterEach, describe, expect, it, vi } from "vitest";

import { CompletionError, requestCompletion, streamChat, type ChatHandlers } from "./api";
import type { ChatError, Usage } from "./model";

/** A Response whose body arrives in the given pieces (as bytes, split anywhere). */
function streamed(pieces: string[], init: ResponseInit = { status: 200, headers: { "content-type": "text/event-stream" } }): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
  return new Response(body, init);
}

function recorder() {
  const seen: { deltas: string[]; usage: Usage[]; done: number; errors: ChatError[] } = { deltas: [], usage: [], done: 0, errors: [] };
  const handlers: ChatHandlers = {
    delta: (text) => seen.deltas.push(text),
    usage: (usage) => seen.usage.push(usage),
    done: () => seen.done++,
    error: (error) => seen.errors.push(error),
  };
  return { seen, handlers };
}

const body = { project_id: "p1", messages: [{ role: "user", content: "hi" }] };

afterEach(() => vi.unstubAllGlobals());

describe("streamChat", () => {
  it("feeds deltas, usage and done from a stream split mid-event and mid-character", async () => {
    const text = 'event: delta\ndata: {"text":"Hé"}\n\nevent: delta\r\ndata: {"text":"llo"}\r\n\r\nevent: usage\ndata: {"prompt_tokens":3,"completion_tokens":2}\n\nevent: done\ndata: {}\n\n';
    const bytes = new TextEncoder().encode(text);
    // Split the bytes inside the two-byte "é".
    const cut = new TextEncoder().encode('event: delta\ndata: {"text":"H').length + 1;
    const fetchMock = vi.fn(async () => {
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes.slice(0, cut));
          controller.enqueue(bytes.slice(cut, cut + 5));
          controller.enqueue(bytes.slice(cut + 5));
          controller.close();
        },
      });
      return new Response(stream, { status: 200 });
    });
    vi.stubGlobal("fetch", fetchMock);
    const { seen, handlers } = recorder();
    await streamChat(body, new AbortController().signal, handlers);
    expect(seen).toEqual({ deltas: ["Hé", "llo"], usage: [{ prompt_tokens: 3, completion_tokens: 2 }], done: 1, errors: [] });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/v1/assistant/chat");
    expect(init.method).toBe("POST");
    expect(JSON.parse(init.body as string)).toEqual(body);
  });

  it("reports an error event mid-stream and a stream that ends without done", async () => {
    vi.stubGlobal("fetch", async () => streamed(['event: delta\ndata: {"text":"a"}\n\nevent: error\ndata: {"code":"assistant_upstream_error","message":"cut"}\n\n']));
    const first = recorder();
    await streamChat(body, new AbortController().signal, first.handlers);
    expect(first.seen.deltas).toEqual(["a"]);
    expect(first.seen.errors).toMatchObject([{ kind: "upstream", message: "cut" }]);

    vi.stubGlobal("fetch", async () => streamed(['event: delta\ndata: {"text":"a"}\n\n']));
    const second = recorder();
    await streamChat(body, new AbortController().signal, second.handlers);
    expect(second.seen.errors).toMatchObject([{ code: "stream_ended" }]);
  });

  it("turns a problem before the stream into an error with its code and Retry-After", async () => {
    vi.stubGlobal("fetch", async () =>
      new Response(JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, code: "assistant_unavailable", detail: "the endpoint keeps failing" }), {
        status: 503,
        headers: { "content-type": "application/problem+json", "retry-after": "30" },
      }),
    );
    const { seen, handlers } = recorder();
    await streamChat(body, new AbortController().signal, handlers);
    expect(seen.errors).toEqual([{ kind: "unavailable", code: "assistant_unavailable", message: "the endpoint keeps failing", retryAfter: 30 }]);
  });

  it("is quiet when stopped", async () => {
    const abort = new AbortController();
    vi.stubGlobal("fetch", async (_url: string, init: RequestInit) => {
      abort.abort();
      throw Object.assign(new Error("aborted"), { name: "AbortError", signal: init.signal });
    });
    const { seen, handlers } = recorder();
    await streamChat(body, abort.signal, handlers);
    expect(seen).toEqual({ deltas: [], usage: [], done: 0, errors: [] });
  });
});

describe("requestCompletion", () => {
  it("answers the completion, and throws the status and Retry-After of a refusal", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ completion: "x + 1", cached: false }), { status: 200 }));
    expect(await requestCompletion({ project_id: "p", path: "a.py", prefix: "x = " }, new AbortController().signal)).toEqual({ completion: "x + 1", cached: false });
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ status: 429, code: "token_budget_exceeded", detail: "spent" }), { status: 429, headers: { "retry-after": "120" } }));
    const error = await requestCompletion({ project_id: "p", path: "a.py", prefix: "x = " }, new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CompletionError);
    expect(error).toMatchObject({ status: 429, retryAfter: 120 });
  });
});
