// The agent API's wire shapes, from the generated schema (web/src/api/openapi.json,
// crates/dockyard-server/src/routes/agents.rs). The diff's files are documented there
// only as objects, so their shape is spelled out below.
import type { Schemas } from "../api/client";

/** A profile's circuit breaker on this replica: `closed`, `open` or `half_open`. */
export type ProfileHealth = Schemas["AgentHealthDto"];

export type AgentProfile = Schemas["AgentProfileDto"];

export type SessionStatus = "queued" | "running" | "succeeded" | "failed" | "stopped";

export type AgentSession = Schemas["AgentSessionDto"];

/** One transcript event: `{id, at?, kind, data}` (the WebSocket leaves out `at`). */
export interface AgentEvent {
  id: number;
  at?: string;
  kind: string;
  data: Record<string, unknown>;
}

export interface DiffLine {
  kind: "context" | "add" | "delete" | string;
  old_line?: number | null;
  new_line?: number | null;
  content: string;
}

export interface DiffHunk {
  header: string;
  lines: DiffLine[];
}

export interface DiffFile {
  path: string;
  old_path?: string | null;
  change: string;
  binary: boolean;
  additions: number;
  deletions: number;
  hunks: DiffHunk[];
  truncated: boolean;
}

export type SessionDiff = Omit<Schemas["AgentSessionDiffDto"], "files"> & { files: DiffFile[] };

export type ApplyResult = Schemas["AgentApplyDto"];

/** What the browser sends over the session's WebSocket. */
export type ClientFrame =
  | { type: "text"; text: string }
  | { type: "raw"; data: string }
  | { type: "permission"; request_id: string; option_id: string }
  | { type: "stop" };
