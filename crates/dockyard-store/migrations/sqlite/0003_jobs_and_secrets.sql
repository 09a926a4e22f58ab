-- Jobs: one table for every long operation (import, build, deploy, agent run,
-- backup). Workers claim a row under a lease and renew it while they work; a
-- row whose lease expired is retried (attempt < max_attempts) or failed.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    -- No foreign key: an import job outlives the project it failed to create.
    project_id TEXT,
    created_by TEXT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    payload TEXT NOT NULL DEFAULT '{}',
    progress TEXT NOT NULL DEFAULT 'null',
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
    lease_owner TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
-- Claiming takes the oldest queued job, or a running one whose lease expired;
-- each partial index serves one half and stays as small as the live queue.
CREATE INDEX jobs_queued ON jobs(id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs(lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_by_org ON jobs(org_id, id);

-- The resumable event log of a job: state changes, progress, log lines.
CREATE TABLE job_events (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT 'null',
    PRIMARY KEY (job_id, seq)
);

-- Secrets, encrypted with XChaCha20-Poly1305 under the key named by key_id.
-- project_id NULL means an org-wide secret. SQL treats NULLs as distinct, so a
-- plain UNIQUE (org_id, project_id, name) would allow two org-wide secrets of
-- one name; two partial unique indexes (one per scope) forbid that while NULL
-- keeps its meaning and the foreign key to projects keeps working (a sentinel
-- project id could not reference a project).
CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX secrets_project_name ON secrets(org_id, project_id, name) WHERE project_id IS NOT NULL;
CREATE UNIQUE INDEX secrets_org_name ON secrets(org_id, name) WHERE project_id IS NULL;
CREATE INDEX secrets_by_project ON secrets(project_id);
