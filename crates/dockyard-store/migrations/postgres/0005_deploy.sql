-- Click-to-deploy: a project's services and their deployments.
--
-- A service is what the user configures (source, build, port, health check,
-- replicas, limits, env). Secret env values are not here: they are sealed in
-- `secrets` (project scope), and `service_env` only says the key is secret.
CREATE TABLE services (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- A DNS label: lowercase letters, digits and '-', unique in the project.
    name TEXT NOT NULL,
    -- JSON: {"type":"workspace"} | {"type":"git","url":…,"branch":…} | {"type":"image","image":…}
    source TEXT NOT NULL,
    -- JSON: {"dockerfile_path":…,"context":…,"build_args":{…}}
    build TEXT NOT NULL,
    port INTEGER NOT NULL,
    health_check_path TEXT,
    health_check_timeout_secs INTEGER NOT NULL,
    replicas INTEGER NOT NULL,
    cpu_millis INTEGER,
    memory_bytes BIGINT,
    -- 'running' or 'stopped': what the user asked for last.
    desired_state TEXT NOT NULL,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- Env vars, in the order the user gave them. `value` is NULL for secrets.
CREATE TABLE service_env (
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    is_secret INTEGER NOT NULL,
    PRIMARY KEY (service_id, key)
);

-- One attempt to put a version of a service live. The state machine:
-- queued -> building -> starting -> active -> superseded, or failed / cancelled
-- from any state before active. Each step's time is kept.
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- 1, 2, 3… per service.
    number INTEGER NOT NULL,
    status TEXT NOT NULL,
    -- 'deploy', 'redeploy', 'rollback', 'upload'
    trigger TEXT NOT NULL,
    -- The source as it was when deployed (JSON, as in services.source).
    source TEXT NOT NULL,
    -- The deployment whose image a rollback reuses.
    rollback_of TEXT,
    -- The image reference the instances run (set once built or resolved).
    image TEXT,
    -- The detected or configured build plan, JSON (no secrets).
    plan TEXT,
    job_id TEXT,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    building_at BIGINT,
    starting_at BIGINT,
    active_at BIGINT,
    finished_at BIGINT,
    cancel_requested INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT,
    -- JSON array of the last log lines when the deployment failed.
    last_log TEXT,
    UNIQUE (service_id, number)
);
CREATE INDEX deployments_by_status ON deployments(status);
CREATE INDEX deployments_by_project ON deployments(project_id);
