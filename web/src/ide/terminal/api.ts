// The terminal routes through the typed client: list (to reattach after a reload),
// create, read, delete. Records are mapped loosely into `TerminalInfo`.
import { ApiError, api, unwrap } from "../../api/client";

export interface TerminalInfo {
  id: string;
  /** A display name from the server, if it has one. */
  title: string | null;
  /** Set once the process has exited. */
  exitCode: number | null;
  exited: boolean;
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

const project = (projectId: string) => ({ path: { project: projectId } });

export async function listTerminals(projectId: string): Promise<TerminalInfo[]> {
  return toTerminalList(await unwrap(api.GET("/api/v1/projects/{project}/terminals", { params: project(projectId) })));
}

export async function createTerminal(projectId: string, cols: number, rows: number): Promise<TerminalInfo> {
  const created = await unwrap(api.POST("/api/v1/projects/{project}/terminals", { params: project(projectId), body: { cols, rows } }));
  const info = toTerminalInfo(created);
  if (!info) throw new ApiError(500, null, "the server answered without a terminal id");
  return info;
}

export async function deleteTerminal(projectId: string, id: string): Promise<void> {
  try {
    await unwrap(api.DELETE("/api/v1/projects/{project}/terminals/{terminal}", { params: { path: { project: projectId, terminal: id } } }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return; // Already gone.
    throw error;
  }
}

/**
 * Whether a terminal still exists. Asked through the listing (always 200), so a
 * terminal closed elsewhere does not cost a 404 (a console error in browsers).
 */
export async function terminalExists(projectId: string, id: string): Promise<boolean> {
  try {
    return (await listTerminals(projectId)).some((info) => info.id === id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return false;
    throw error;
  }
}
