// The terminal routes: list (to reattach after a reload), create, delete. Answers are
// read loosely (an array or `{terminals: […]}`), so small changes in the server's
// listing shape do not break reattaching.
import { ApiError, ensureOk } from "../../api/client";

export interface TerminalInfo {
  id: string;
  /** A display name from the server, if it has one. */
  title: string | null;
  /** Set once the process has exited. */
  exitCode: number | null;
  exited: boolean;
}

function base(projectId: string): string {
  return `/api/v1/projects/${encodeURIComponent(projectId)}/terminals`;
}

async function call(url: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...init, headers: { accept: "application/json", ...(init.headers ?? {}) } });
  } catch (cause) {
    throw new ApiError(0, null, `network error: ${String(cause)}`);
  }
  return ensureOk(response);
}

/** Reads one terminal record from whatever shape the server sends. */
export function toTerminalInfo(raw: unknown): TerminalInfo | null {
  if (!raw || typeof raw !== "object") return null;
  const record = raw as Record<string, unknown>;
  const id = record.id ?? record.terminal_id;
  if (typeof id !== "string" && typeof id !== "number") return null;
  const title = [record.title, record.name].find((value) => typeof value === "string" && value.length > 0) as string | undefined;
  const codeValue = record.exit_code ?? record.code;
  const exitCode = typeof codeValue === "number" ? codeValue : null;
  const state = typeof record.state === "string" ? record.state : typeof record.status === "string" ? record.status : "";
  const exited = record.exited === true || exitCode !== null || state === "exited";
  return { id: String(id), title: title ?? null, exitCode, exited };
}

export function toTerminalList(body: unknown): TerminalInfo[] {
  const list = Array.isArray(body)
    ? body
    : body && typeof body === "object"
      ? ((body as Record<string, unknown>).terminals ?? (body as Record<string, unknown>).items ?? [])
      : [];
  return (Array.isArray(list) ? list : []).map(toTerminalInfo).filter((info): info is TerminalInfo => info !== null);
}

export async function listTerminals(projectId: string): Promise<TerminalInfo[]> {
  const response = await call(base(projectId));
  return toTerminalList(await response.json());
}

export async function createTerminal(projectId: string, cols: number, rows: number): Promise<TerminalInfo> {
  const response = await call(base(projectId), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ cols, rows }),
  });
  const info = toTerminalInfo(await response.json());
  if (!info) throw new ApiError(response.status, null, "the server answered without a terminal id");
  return info;
}

export async function deleteTerminal(projectId: string, id: string): Promise<void> {
  try {
    await call(`${base(projectId)}/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return; // Already gone.
    throw error;
  }
}

/** Whether a terminal still exists (a 404 says no; anything else is treated as yes). */
export async function terminalExists(projectId: string, id: string): Promise<boolean> {
  try {
    const list = await listTerminals(projectId);
    return list.some((info) => info.id === id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return false;
    throw error;
  }
}
