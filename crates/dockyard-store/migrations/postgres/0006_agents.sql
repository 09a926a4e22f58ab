-- Remote coding agents: the profiles an instance admin defines, and the
-- sessions users run. A session's transcript is the event log of its job
-- (`job_events`), so it is persisted and resumable like every other stream.
CREATE TABLE agent_profiles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- 'claude-code', 'acp' or 'pty'
    kind TEXT NOT NULL,
    -- JSON array: the argv template ('{prompt}' is replaced by the prompt)
    command TEXT NOT NULL,
    -- JSON object of plain env vars
    env TEXT NOT NULL,
    max_runtime_secs INTEGER NOT NULL,
    max_per_user INTEGER NOT NULL,
    max_per_org INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE agent_sessions (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    profile_id TEXT REFERENCES agent_profiles(id) ON DELETE SET NULL,
    profile_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    prompt TEXT NOT NULL,
    -- 'worktree' or 'workspace'
    isolation TEXT NOT NULL,
    -- queued, running, succeeded, failed, stopped
    status TEXT NOT NULL,
    job_id TEXT,
    branch TEXT,
    -- A follow-up continues the worktree and branch of this session (the first of the chain).
    continues TEXT,
    base_commit TEXT,
    final_commit TEXT,
    exit_code INTEGER,
    error_code TEXT,
    error_message TEXT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE PRECISION,
    summary TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    -- NULL, 'applied' or 'discarded'
    review TEXT,
    reviewed_at BIGINT,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);

CREATE INDEX agent_sessions_by_project ON agent_sessions (project_id, id);
CREATE INDEX agent_sessions_by_status ON agent_sessions (status, profile_id);
