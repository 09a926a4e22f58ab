// The assistant's server calls: the chat as a POST whose body is read as a stream and
// parsed as Server-Sent Events (EventSource cannot POST), inline completions, and the
// org's assistant settings (TanStack Query). Types come from the generated schema.
import { useQuery } from "@tanstack/react-query";

import { api, ApiError, ensureOk, unwrap, type Schemas } from "../api/client";
import { chatError, retryAfterSeconds, type ChatError, type Usage } from "./model";
import { createSseParser, type SseEvent } from "./sse";

export type ChatBody = Schemas["ChatBody"];
export type EditorContext = Schemas["EditorContextDto"];
export type CompleteBody = Schemas["CompleteBody"];
export type Completion = Schemas["CompletionDto"];
export type AssistantSettings = Schemas["AssistantSettingsDto"];

export interface ChatHandlers {
  delta(text: string): void;
  usage(usage: Usage): void;
  done(): void;
  error(error: ChatError): void;
}

function parseJson(data: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(data);
    return value && typeof value === "object" ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Turns a problem response into a `ChatError` (with Retry-After when the server sent it). */
export async function responseError(response: Response): Promise<ChatError> {
  const retryAfter = retryAfterSeconds(response.headers.get("retry-after"));
  try {
    await ensureOk(response);
  } catch (error) {
    if (error instanceof ApiError) return chatError(error.status, error.code, error.message, retryAfter);
  }
  return chatError(response.status, `http_${response.status}`, response.statusText || "the request failed", retryAfter);
}

/**
 * Sends a chat and feeds its events to `handlers` as they arrive. Resolves when the
 * stream ends; an abort (Stop) resolves quietly, with no handler called for it.
 */
export async function streamChat(body: ChatBody, signal: AbortSignal, handlers: ChatHandlers): Promise<void> {
  let response: Response;
  try {
    response = await fetch("/api/v1/assistant/chat", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
    });
  } catch (cause) {
    if (signal.aborted) return;
    handlers.error(chatError(0, "network_error", `could not reach the server: ${String(cause)}`));
    return;
  }
  if (!response.ok || !response.body) {
    handlers.error(await responseError(response));
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = createSseParser();
  let finished = false;
  const dispatch = (event: SseEvent) => {
    if (finished) return;
    const data = parseJson(event.data);
    switch (event.event) {
      case "delta":
        if (typeof data.text === "string" && data.text) handlers.delta(data.text);
        break;
      case "usage":
        handlers.usage({ prompt_tokens: Number(data.prompt_tokens) || 0, completion_tokens: Number(data.completion_tokens) || 0 });
        break;
      case "done":
        finished = true;
        handlers.done();
        break;
      case "error":
        finished = true;
        handlers.error(chatError(200, String(data.code ?? "assistant_error"), String(data.message ?? "the answer broke off")));
        break;
      default:
        break;
    }
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const event of parser.push(value)) dispatch(event);
      if (finished) break;
    }
  } catch (cause) {
    if (signal.aborted) return;
    if (!finished) handlers.error(chatError(0, "network_error", `the connection broke: ${String(cause)}`));
    return;
  } finally {
    if (finished) void reader.cancel().catch(() => undefined);
  }
  if (!finished && !signal.aborted) handlers.error(chatError(200, "stream_ended", "the answer ended early"));
}

/** Thrown by `requestCompletion` for a refused request: the status and Retry-After the back-off needs. */
export class CompletionError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfter: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export async function requestCompletion(body: CompleteBody, signal: AbortSignal): Promise<Completion> {
  const response = await fetch("/api/v1/assistant/complete", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) {
    const error = await responseError(response);
    throw new CompletionError(response.status, error.retryAfter, error.message);
  }
  return (await response.json()) as Completion;
}

export const assistantKeys = {
  settings: (org: string) => ["assistant", "settings", org] as const,
};

export function fetchAssistantSettings(org: string): Promise<AssistantSettings> {
  return unwrap(api.GET("/api/v1/orgs/{org}/assistant", { params: { path: { org } } }));
}

/** The settings in effect for the org (and the caller's tokens today); `org` null waits. */
export function useAssistantSettings(org: string | null | undefined) {
  return useQuery({
    queryKey: assistantKeys.settings(org ?? ""),
    queryFn: () => fetchAssistantSettings(org!),
    enabled: !!org,
    staleTime: 30_000,
  });
}
