// The agent API's wire shapes (crates/dockyard-server/src/routes/agents.rs). Written
// out here because the committed openapi.json predates the agent routes; they match
// the server's DTOs field for field.

/** A profile's circuit breaker on this replica. */
export interface ProfileHealth {
  /** `closed` (healthy), `open` (failing fast) or `half_open` (probing). */
  state: string;
  consecutive_failures: number;
  retry_after_secs?: number | null;
}

export interface AgentProfile {
  id: string;
  name: string;
  /** `claude-code`, `acp` or `pty`. */
  kind: string;
  command: string[];
  max_runtime_secs: number;
  max_per_user: number;
  max_per_org: number;
  enabled: boolean;
  health: ProfileHealth;
}

export type SessionStatus = "queued" | "running" | "succeeded" | "failed" | "stopped";

export interface AgentSession {
  id: string;
  project_id: string;
  profile: string;
  kind: string;
  prompt: string;
  /** `worktree` or `workspace`. */
  isolation: string;
  status: SessionStatus | string;
  exit_code?: number | null;
  error?: { code: string; message: string } | null;
  branch?: string | null;
  base_commit?: string | null;
  final_commit?: string | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  /** US dollars, as the agent reported it. */
  cost?: number | null;
  summary?: string | null;
  /** `applied` or `discarded` once reviewed. */
  review?: string | null;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
  duration_secs?: number | null;
}

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

export interface SessionDiff {
  base_commit: string;
  head?: string | null;
  text: string;
  truncated: boolean;
  files: DiffFile[];
}

export interface ApplyResult {
  /** `merged` or `up_to_date`. */
  outcome: string;
  commit?: string | null;
  files: string[];
}

/** What the browser sends over the session's WebSocket. */
export type ClientFrame =
  | { type: "text"; text: string }
  | { type: "raw"; data: string }
  | { type: "permission"; request_id: string; option_id: string }
  | { type: "stop" };
