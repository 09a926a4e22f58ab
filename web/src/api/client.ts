// The typed API client. Every type comes from `schema.d.ts`, which `npm run gen:api`
// generates from `openapi.json`, the server's OpenAPI document (a test in the Rust
// suite fails when the committed copy is stale; `scripts/gen-api.sh` refreshes it).
import createClient from "openapi-fetch";

import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

/** A failed API call: the server's problem+json document, or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;
  readonly problem: Problem | null;

  constructor(status: number, problem: Problem | null, fallback: string) {
    super(problem?.detail || problem?.title || fallback);
    this.name = "ApiError";
    this.status = status;
    this.code = problem?.code ?? (status === 0 ? "network_error" : `http_${status}`);
    this.field = problem?.field ?? null;
    this.problem = problem;
  }
}

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });

function asProblem(body: unknown): Problem | null {
  if (body && typeof body === "object" && "code" in body && "status" in body) {
    return body as Problem;
  }
  return null;
}

/**
 * Unwraps an openapi-fetch result: the data on success, an `ApiError` otherwise.
 * `await unwrap(api.GET("/api/v1/me"))`.
 */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (cause) {
    throw new ApiError(0, null, `network error: ${String(cause)}`);
  }
  if (!result.response.ok) {
    throw new ApiError(result.response.status, asProblem(result.error), result.response.statusText);
  }
  return result.data as T;
}

/** Throws an `ApiError` for a non-2xx `fetch` response (for the raw-byte routes). */
export async function ensureOk(response: Response): Promise<Response> {
  if (response.ok || response.status === 304) return response;
  let problem: Problem | null = null;
  try {
    problem = asProblem(await response.json());
  } catch {
    problem = null;
  }
  throw new ApiError(response.status, problem, response.statusText);
}

/** Percent-encodes each segment of a workspace path, keeping the slashes. */
export function encodePath(path: string): string {
  return path
    .split("/")
    .filter((segment) => segment.length > 0)
    .map(encodeURIComponent)
    .join("/");
}

/** The raw-bytes URL of a workspace file: GET reads, PUT writes, DELETE deletes. */
export function fileUrl(projectId: string, path: string): string {
  return `/api/v1/projects/${encodeURIComponent(projectId)}/files/${encodePath(path)}`;
}
