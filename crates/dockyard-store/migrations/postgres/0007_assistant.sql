-- The built-in assistant (an OpenAI-compatible chat endpoint).
--
-- An org's own endpoint, used instead of the instance's. Its API key is not
-- here: it is sealed in `secrets` under the org's scope (ASSISTANT_API_KEY).
CREATE TABLE assistant_org_settings (
    org_id TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    base_url TEXT NOT NULL,
    model TEXT NOT NULL,
    updated_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    updated_at BIGINT NOT NULL
);

-- Tokens each user spent per UTC day ('YYYY-MM-DD'), for the daily budget.
CREATE TABLE assistant_usage (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    tokens BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, day)
);
