//! Agent profiles and agent sessions.
//!
//! A session's status only moves through [`Store::start_agent_session`] and
//! [`Store::finish_agent_session`], compare-and-sets on the current status: a
//! stop, a runner and a reconcile can never both finish one session.

use chrono::{DateTime, Utc};
use dockyard_domain::agent::{AgentKind, AgentProfile, AgentSession, Isolation, SessionStatus};
use dockyard_domain::{AgentProfileId, AgentSessionId, OrgId, Project, ProjectId, Role, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::projects::{PROJECT_WITH_ROLE, project_with_role};
use crate::{Store, StoreError, get_bool, get_opt_time, get_time, like_pattern, millis};

const PROFILE_COLUMNS: &str = "id, name, kind, command, env, isolation, max_runtime_secs, max_per_user, max_per_org, \
     enabled, created_at, updated_at";

const SESSION_COLUMNS: &str = "a.id, a.project_id, a.org_id, a.profile_id, a.profile_name, a.kind, a.prompt, \
     a.isolation, a.status, a.job_id, a.branch, a.continues, a.base_commit, a.final_commit, a.exit_code, a.error_code, \
     a.error_message, a.input_tokens, a.output_tokens, a.cost_usd, a.summary, a.stop_requested, a.review, \
     a.reviewed_at, a.created_by, a.created_at, a.started_at, a.finished_at";

fn corrupt(what: &str, error: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: {error}").into())
}

fn u32_column(row: &AnyRow, column: &str) -> Result<u32, sqlx::Error> {
    u32::try_from(row.try_get::<i64, _>(column)?).map_err(|e| corrupt(column, e))
}

fn profile_from_row(row: &AnyRow) -> Result<AgentProfile, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let command: String = row.try_get("command")?;
    let env: String = row.try_get("env")?;
    let isolation: String = row.try_get("isolation")?;
    Ok(AgentProfile {
        id: AgentProfileId::from_trusted(row.try_get("id")?),
        name: row.try_get("name")?,
        kind: AgentKind::parse(&kind).ok_or_else(|| corrupt("agent_profiles.kind", &kind))?,
        command: serde_json::from_str(&command).map_err(|e| corrupt("agent_profiles.command", e))?,
        env: serde_json::from_str(&env).map_err(|e| corrupt("agent_profiles.env", e))?,
        isolation: Isolation::parse(&isolation).ok_or_else(|| corrupt("agent_profiles.isolation", &isolation))?,
        max_runtime_secs: u32_column(row, "max_runtime_secs")?,
        max_per_user: u32_column(row, "max_per_user")?,
        max_per_org: u32_column(row, "max_per_org")?,
        enabled: get_bool(row, "enabled")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn session_from_row(row: &AnyRow) -> Result<AgentSession, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let isolation: String = row.try_get("isolation")?;
    let status: String = row.try_get("status")?;
    let tokens = |column: &str| -> Result<Option<u64>, sqlx::Error> {
        row.try_get::<Option<i64>, _>(column)?.map(u64::try_from).transpose().map_err(|e| corrupt(column, e))
    };
    Ok(AgentSession {
        id: AgentSessionId::from_trusted(row.try_get("id")?),
        project_id: ProjectId::from_trusted(row.try_get("project_id")?),
        org_id: OrgId::from_trusted(row.try_get("org_id")?),
        profile_id: row.try_get::<Option<String>, _>("profile_id")?.map(AgentProfileId::from_trusted),
        profile_name: row.try_get("profile_name")?,
        kind: AgentKind::parse(&kind).ok_or_else(|| corrupt("agent_sessions.kind", &kind))?,
        prompt: row.try_get("prompt")?,
        isolation: Isolation::parse(&isolation).ok_or_else(|| corrupt("agent_sessions.isolation", &isolation))?,
        status: SessionStatus::parse(&status).ok_or_else(|| corrupt("agent_sessions.status", &status))?,
        job_id: row.try_get("job_id")?,
        branch: row.try_get("branch")?,
        continues: row.try_get::<Option<String>, _>("continues")?.map(AgentSessionId::from_trusted),
        base_commit: row.try_get("base_commit")?,
        final_commit: row.try_get("final_commit")?,
        exit_code: row
            .try_get::<Option<i64>, _>("exit_code")?
            .map(i32::try_from)
            .transpose()
            .map_err(|e| corrupt("exit_code", e))?,
        error_code: row.try_get("error_code")?,
        error_message: row.try_get("error_message")?,
        input_tokens: tokens("input_tokens")?,
        output_tokens: tokens("output_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
        summary: row.try_get("summary")?,
        stop_requested: get_bool(row, "stop_requested")?,
        review: row.try_get("review")?,
        reviewed_at: get_opt_time(row, "reviewed_at")?,
        created_by: row.try_get::<Option<String>, _>("created_by")?.map(UserId::from_trusted),
        created_at: get_time(row, "created_at")?,
        started_at: get_opt_time(row, "started_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
    })
}

fn json_text(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("json: {e}")))
}

fn profile_name_conflict(error: sqlx::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict("agent_profile_name".into()),
        other => other,
    }
}

/// How a session ended, written with its final status.
#[derive(Debug, Clone, Default)]
pub struct SessionFinish {
    pub exit_code: Option<i32>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub final_commit: Option<String>,
}

/// What a session reported about itself while it ran (kept as it goes).
#[derive(Debug, Clone, Default)]
pub struct SessionUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub summary: Option<String>,
}

fn tokens_param(value: Option<u64>) -> Option<i64> {
    value.map(|value| i64::try_from(value).unwrap_or(i64::MAX))
}

impl Store {
    pub async fn insert_agent_profile(&self, profile: &AgentProfile) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_profiles (id, name, kind, command, env, max_runtime_secs, max_per_user, max_per_org,
                 enabled, created_at, updated_at, isolation)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(profile.id.as_str())
        .bind(&profile.name)
        .bind(profile.kind.as_str())
        .bind(json_text(&profile.command)?)
        .bind(json_text(&profile.env)?)
        .bind(i64::from(profile.max_runtime_secs))
        .bind(i64::from(profile.max_per_user))
        .bind(i64::from(profile.max_per_org))
        .bind(i64::from(profile.enabled))
        .bind(millis(profile.created_at))
        .bind(millis(profile.updated_at))
        .bind(profile.isolation.as_str())
        .execute(&self.pool)
        .await
        .map_err(profile_name_conflict)?;
        Ok(())
    }

    pub async fn update_agent_profile(&self, profile: &AgentProfile) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE agent_profiles SET name = $2, kind = $3, command = $4, env = $5, max_runtime_secs = $6,
                 max_per_user = $7, max_per_org = $8, enabled = $9, updated_at = $10, isolation = $11
             WHERE id = $1",
        )
        .bind(profile.id.as_str())
        .bind(&profile.name)
        .bind(profile.kind.as_str())
        .bind(json_text(&profile.command)?)
        .bind(json_text(&profile.env)?)
        .bind(i64::from(profile.max_runtime_secs))
        .bind(i64::from(profile.max_per_user))
        .bind(i64::from(profile.max_per_org))
        .bind(i64::from(profile.enabled))
        .bind(millis(profile.updated_at))
        .bind(profile.isolation.as_str())
        .execute(&self.pool)
        .await
        .map_err(profile_name_conflict)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete_agent_profile(&self, id: &AgentProfileId) -> Result<(), StoreError> {
        let result =
            sqlx::query("DELETE FROM agent_profiles WHERE id = $1").bind(id.as_str()).execute(&self.pool).await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn get_agent_profile(&self, id: &AgentProfileId) -> Result<AgentProfile, StoreError> {
        let row = sqlx::query(sql!("SELECT {PROFILE_COLUMNS} FROM agent_profiles WHERE id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(profile_from_row(&row)?)
    }

    pub async fn get_agent_profile_by_name(&self, name: &str) -> Result<AgentProfile, StoreError> {
        let row = sqlx::query(sql!("SELECT {PROFILE_COLUMNS} FROM agent_profiles WHERE name = $1"))
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(profile_from_row(&row)?)
    }

    /// Every profile by name (or only the enabled ones).
    pub async fn list_agent_profiles(&self, enabled_only: bool) -> Result<Vec<AgentProfile>, StoreError> {
        let filter = if enabled_only { "WHERE enabled <> 0" } else { "" };
        let rows = sqlx::query(sql!("SELECT {PROFILE_COLUMNS} FROM agent_profiles {filter} ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(profile_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn insert_agent_session(&self, session: &AgentSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_sessions (id, project_id, org_id, profile_id, profile_name, kind, prompt, isolation,
                 status, stop_requested, created_by, created_at, continues)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12)",
        )
        .bind(session.id.as_str())
        .bind(session.project_id.as_str())
        .bind(session.org_id.as_str())
        .bind(session.profile_id.as_ref().map(|id| id.as_str().to_owned()))
        .bind(&session.profile_name)
        .bind(session.kind.as_str())
        .bind(&session.prompt)
        .bind(session.isolation.as_str())
        .bind(session.status.as_str())
        .bind(session.created_by.as_ref().map(|id| id.as_str().to_owned()))
        .bind(millis(session.created_at))
        .bind(session.continues.as_ref().map(|id| id.as_str().to_owned()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_agent_session(&self, id: &AgentSessionId) -> Result<AgentSession, StoreError> {
        let row = sqlx::query(sql!("SELECT {SESSION_COLUMNS} FROM agent_sessions a WHERE a.id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(session_from_row(&row)?)
    }

    /// A session with its project and the user's role in the project's org.
    pub async fn get_agent_session_for(
        &self,
        id: &AgentSessionId,
        user: &UserId,
    ) -> Result<(AgentSession, Project, Option<Role>), StoreError> {
        let row = sqlx::query(sql!(
            "SELECT {SESSION_COLUMNS}, {PROJECT_WITH_ROLE}
             FROM agent_sessions a JOIN projects p ON p.id = a.project_id
             LEFT JOIN memberships m ON m.org_id = p.org_id AND m.user_id = $2
             WHERE a.id = $1"
        ))
        .bind(id.as_str())
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await?;
        let session = session_from_row(&row)?;
        let (project, role) = project_with_role(&row, session.project_id.clone())?;
        Ok((session, project, role))
    }

    /// A project's sessions, newest first; `query` matches the prompt, the
    /// profile and the agent's summary (case-insensitive); `before` pages.
    pub async fn list_agent_sessions(
        &self,
        project: &ProjectId,
        query: Option<&str>,
        before: Option<&AgentSessionId>,
        limit: u32,
    ) -> Result<Vec<AgentSession>, StoreError> {
        let pattern = query.map(|query| format!("%{}%", like_pattern(&query.to_lowercase())));
        let before = before.map(|id| id.as_str().to_owned());
        // Placeholders are numbered in the order their values are bound.
        let mut filter = String::new();
        let mut next = 2;
        if pattern.is_some() {
            filter.push_str(&format!(
                " AND (LOWER(a.prompt) LIKE ${next} ESCAPE '\\' OR LOWER(COALESCE(a.summary, '')) LIKE ${next} ESCAPE '\\'
                       OR LOWER(a.profile_name) LIKE ${next} ESCAPE '\\')"
            ));
            next += 1;
        }
        if before.is_some() {
            filter.push_str(&format!(" AND a.id < ${next}"));
        }
        let sql = sql!(
            "SELECT {SESSION_COLUMNS} FROM agent_sessions a WHERE a.project_id = $1{filter}
             ORDER BY a.id DESC LIMIT {limit}"
        );
        let mut statement = sqlx::query(sql).bind(project.as_str());
        if let Some(pattern) = pattern {
            statement = statement.bind(pattern);
        }
        if let Some(before) = before {
            statement = statement.bind(before);
        }
        let rows = statement.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(session_from_row).collect::<Result<_, _>>()?)
    }

    /// Queued or running sessions of a profile, of one user or one org.
    pub async fn count_active_agent_sessions(
        &self,
        profile: &AgentProfileId,
        user: Option<&UserId>,
        org: Option<&OrgId>,
    ) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM agent_sessions
             WHERE profile_id = $1 AND status IN ('queued', 'running')
               AND ($2 IS NULL OR created_by = $2) AND ($3 IS NULL OR org_id = $3)",
        )
        .bind(profile.as_str())
        .bind(user.map(|id| id.as_str().to_owned()))
        .bind(org.map(|id| id.as_str().to_owned()))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// Sessions a user started since `since` (the per-user rate limit).
    pub async fn count_agent_sessions_since(&self, user: &UserId, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM agent_sessions WHERE created_by = $1 AND created_at >= $2")
            .bind(user.as_str())
            .bind(millis(since))
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// Running sessions (all profiles), for the metrics gauge.
    pub async fn count_running_agent_sessions(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM agent_sessions WHERE status = 'running'")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    pub async fn set_agent_session_job(&self, id: &AgentSessionId, job: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_sessions SET job_id = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(job)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `queued → running`, with the worktree's branch and base commit. `None`
    /// when the session is no longer queued (stopped before it started).
    pub async fn start_agent_session(
        &self,
        id: &AgentSessionId,
        branch: Option<&str>,
        base_commit: Option<&str>,
    ) -> Result<Option<AgentSession>, StoreError> {
        let row = sqlx::query(
            "UPDATE agent_sessions SET status = 'running', started_at = $2, branch = $3, base_commit = $4
             WHERE id = $1 AND status = 'queued' RETURNING id",
        )
        .bind(id.as_str())
        .bind(millis(Utc::now()))
        .bind(branch)
        .bind(base_commit)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(_) => Ok(Some(self.get_agent_session(id).await?)),
            None => Ok(None),
        }
    }

    /// Moves a session from one of `from` to a finished status. `None` when it
    /// was not in one of `from` (someone else finished it).
    pub async fn finish_agent_session(
        &self,
        id: &AgentSessionId,
        from: &[SessionStatus],
        to: SessionStatus,
        finish: &SessionFinish,
    ) -> Result<Option<AgentSession>, StoreError> {
        let list = from.iter().map(|status| format!("'{}'", status.as_str())).collect::<Vec<_>>().join(", ");
        let row = sqlx::query(sql!(
            "UPDATE agent_sessions SET status = $2, finished_at = $3, exit_code = COALESCE($4, exit_code),
                 error_code = COALESCE($5, error_code), error_message = COALESCE($6, error_message),
                 final_commit = COALESCE($7, final_commit)
             WHERE id = $1 AND status IN ({list}) RETURNING id"
        ))
        .bind(id.as_str())
        .bind(to.as_str())
        .bind(millis(Utc::now()))
        .bind(finish.exit_code.map(i64::from))
        .bind(finish.error_code.clone())
        .bind(finish.error_message.clone())
        .bind(finish.final_commit.clone())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(_) => Ok(Some(self.get_agent_session(id).await?)),
            None => Ok(None),
        }
    }

    /// Keeps what the agent reported (tokens, cost, last message); absent values stay.
    pub async fn record_agent_usage(&self, id: &AgentSessionId, usage: &SessionUsage) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE agent_sessions SET input_tokens = COALESCE($2, input_tokens),
                 output_tokens = COALESCE($3, output_tokens), cost_usd = COALESCE($4, cost_usd),
                 summary = COALESCE($5, summary)
             WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(tokens_param(usage.input_tokens))
        .bind(tokens_param(usage.output_tokens))
        .bind(usage.cost_usd)
        .bind(usage.summary.clone())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Flags a queued or running session to stop; `false` when it already finished.
    pub async fn request_agent_stop(&self, id: &AgentSessionId) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE agent_sessions SET stop_requested = 1 WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Takes a review back (a follow-up that could not be queued).
    pub async fn clear_agent_review(&self, id: &AgentSessionId) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_sessions SET review = NULL, reviewed_at = NULL WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the review (`applied` or `discarded`) once; `false` when it was already reviewed.
    pub async fn set_agent_review(&self, id: &AgentSessionId, review: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE agent_sessions SET review = $2, reviewed_at = $3 WHERE id = $1 AND review IS NULL")
                .bind(id.as_str())
                .bind(review)
                .bind(millis(Utc::now()))
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() > 0)
    }
}
