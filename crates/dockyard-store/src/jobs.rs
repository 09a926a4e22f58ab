//! Jobs and their event logs: the queue every long operation goes through.
//!
//! A worker claims a job under a lease (an owner token and an expiry), renews
//! the lease while it works, and finishes the job only while it still holds
//! the lease. A job whose lease expired is claimed again while it has attempts
//! left; otherwise [`Store::exhausted_jobs`] surfaces it to be failed.
//!
//! Claiming is one conditional `UPDATE … WHERE id = (SELECT … LIMIT 1)`: on
//! PostgreSQL the subquery takes its row with `FOR UPDATE SKIP LOCKED`, so
//! concurrent claimers (also in other replicas) pass each other by; SQLite has a
//! single writer, which makes the statement atomic by itself.
//!
//! Every state change a worker makes (claim, finish, abandonment) appends a
//! `state` event in the same transaction, so a terminal job always ends its log
//! with its terminal state event.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dockyard_domain::{JobId, OrgId, ProjectId, Role, UserId};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::orgs::parse_role;
use crate::{Dialect, Store, StoreError, get_opt_time, get_time, lease_expiry, millis};

/// The kind of the event a state change appends to the job's log.
pub const STATE_EVENT: &str = "state";

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobState {
    pub const ALL: [JobState; 5] =
        [JobState::Queued, JobState::Running, JobState::Succeeded, JobState::Failed, JobState::Canceled];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Canceled => "canceled",
        }
    }

    /// Succeeded, failed and canceled jobs never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Canceled)
    }

    pub fn parse(raw: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|state| state.as_str() == raw)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub created_by: Option<UserId>,
    pub payload: Value,
    /// How many times a worker may start the job (at least 1): a lease that
    /// expires with attempts left makes the job claimable again.
    pub max_attempts: u32,
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub created_by: Option<UserId>,
    pub state: JobState,
    pub payload: Value,
    pub progress: Value,
    pub result: Option<Value>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempt: u32,
    pub max_attempts: u32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One entry of a job's event log. `seq` counts from 1 per job, without gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub data: Value,
}

/// How a worker ends a job.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Succeeded(Value),
    Failed { code: String, message: String },
}

/// A job after a state change, with the `state` event that recorded it.
#[derive(Debug, Clone)]
pub struct JobTransition {
    pub job: Job,
    pub event: JobEvent,
}

const JOB_COLUMNS: &str = "id, kind, org_id, project_id, created_by, state, payload, progress, result, error_code, \
     error_message, attempt, max_attempts, lease_owner, lease_expires_at, created_at, updated_at, started_at, finished_at";

const JOB_COLUMNS_J: &str = "j.id, j.kind, j.org_id, j.project_id, j.created_by, j.state, j.payload, j.progress, \
     j.result, j.error_code, j.error_message, j.attempt, j.max_attempts, j.lease_owner, j.lease_expires_at, \
     j.created_at, j.updated_at, j.started_at, j.finished_at";

fn json_column(row: &AnyRow, column: &str) -> Result<Value, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|error| sqlx::Error::Decode(format!("jobs.{column}: {error}").into()))
}

fn opt_json_column(row: &AnyRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(column)? {
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| sqlx::Error::Decode(format!("jobs.{column}: {error}").into())),
        None => Ok(None),
    }
}

fn count(row: &AnyRow, column: &str) -> Result<u32, sqlx::Error> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| sqlx::Error::Decode(format!("jobs.{column}: {value} is out of range").into()))
}

fn job_from_row(row: &AnyRow) -> Result<Job, sqlx::Error> {
    let state: String = row.try_get("state")?;
    Ok(Job {
        id: JobId::from_trusted(row.try_get("id")?),
        kind: row.try_get("kind")?,
        org_id: OrgId::from_trusted(row.try_get("org_id")?),
        project_id: row.try_get::<Option<String>, _>("project_id")?.map(ProjectId::from_trusted),
        created_by: row.try_get::<Option<String>, _>("created_by")?.map(UserId::from_trusted),
        state: JobState::parse(&state)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown job state {state:?}").into()))?,
        payload: json_column(row, "payload")?,
        progress: json_column(row, "progress")?,
        result: opt_json_column(row, "result")?,
        error_code: row.try_get("error_code")?,
        error_message: row.try_get("error_message")?,
        attempt: count(row, "attempt")?,
        max_attempts: count(row, "max_attempts")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: get_opt_time(row, "lease_expires_at")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
        started_at: get_opt_time(row, "started_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<JobEvent, sqlx::Error> {
    Ok(JobEvent {
        seq: row.try_get("seq")?,
        at: get_time(row, "at")?,
        kind: row.try_get("kind")?,
        data: json_column(row, "data")?,
    })
}

fn to_text(value: &Value) -> String {
    // Serializing a `Value` cannot fail: its keys are strings.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// Appends an event with the next sequence number of the job. The caller makes
/// this safe under concurrency: inside a transaction that already changed (and so
/// locked) the job's row, or after locking it (PostgreSQL) or in one statement
/// (SQLite's single writer). `None` when the job does not exist.
async fn insert_event(
    connection: &mut AnyConnection,
    job: &JobId,
    at: DateTime<Utc>,
    kind: &str,
    data: &Value,
) -> Result<Option<JobEvent>, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO job_events (job_id, seq, at, kind, data)
         SELECT j.id, COALESCE((SELECT MAX(e.seq) FROM job_events e WHERE e.job_id = j.id), 0) + 1, $2, $3, $4
         FROM jobs j WHERE j.id = $1
         RETURNING seq, at, kind, data",
    )
    .bind(job.as_str())
    .bind(millis(at))
    .bind(kind)
    .bind(to_text(data))
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(event_from_row).transpose()
}

fn state_event_data(job: &Job) -> Value {
    let mut data = serde_json::json!({ "status": job.state.as_str(), "attempt": job.attempt });
    if let (Some(code), Some(message)) = (&job.error_code, &job.error_message) {
        data["error"] = serde_json::json!({ "code": code, "message": message });
    }
    data
}

/// Which kinds of job a worker pool claims: long-lived agent runs have a pool
/// of their own, so they never hold up imports and deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindFilter {
    Any,
    Only(Vec<&'static str>),
    Except(Vec<&'static str>),
}

impl KindFilter {
    /// The SQL condition (kinds are code constants, never user input).
    fn sql(&self) -> String {
        let list = |kinds: &[&str]| kinds.iter().map(|kind| format!("'{kind}'")).collect::<Vec<_>>().join(", ");
        match self {
            KindFilter::Any => String::new(),
            KindFilter::Only(kinds) if kinds.is_empty() => " AND 1 = 0".to_owned(),
            KindFilter::Only(kinds) => format!(" AND kind IN ({})", list(kinds)),
            KindFilter::Except(kinds) if kinds.is_empty() => String::new(),
            KindFilter::Except(kinds) => format!(" AND kind NOT IN ({})", list(kinds)),
        }
    }
}

impl Store {
    /// Queues a job.
    pub async fn insert_job(&self, new: &NewJob) -> Result<Job, StoreError> {
        if new.max_attempts == 0 {
            return Err(StoreError::Config("a job needs at least one attempt".into()));
        }
        let now = millis(Utc::now());
        let row = sqlx::query(sql!(
            "INSERT INTO jobs (id, kind, org_id, project_id, created_by, state, payload, progress, attempt,
                               max_attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'queued', $6, 'null', 0, $7, $8, $8)
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(JobId::new().as_str())
        .bind(new.kind.as_str())
        .bind(new.org_id.as_str())
        .bind(new.project_id.as_ref().map(|id| id.as_str().to_owned()))
        .bind(new.created_by.as_ref().map(|id| id.as_str().to_owned()))
        .bind(to_text(&new.payload))
        .bind(i32::try_from(new.max_attempts).unwrap_or(i32::MAX))
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(job_from_row(&row)?)
    }

    pub async fn get_job(&self, id: &JobId) -> Result<Job, StoreError> {
        let row = sqlx::query(sql!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(job_from_row(&row)?)
    }

    /// A job with `user`'s role in the job's org, in one round trip. A job's org is
    /// its project's org (projects never move), and it stays when the project is gone.
    pub async fn get_job_for(&self, id: &JobId, user: &UserId) -> Result<(Job, Option<Role>), StoreError> {
        let row = sqlx::query(sql!(
            "SELECT {JOB_COLUMNS_J}, m.role FROM jobs j
             LEFT JOIN memberships m ON m.org_id = j.org_id AND m.user_id = $2
             WHERE j.id = $1"
        ))
        .bind(id.as_str())
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await?;
        let role = row.try_get::<Option<String>, _>("role")?.map(|role| parse_role(&role)).transpose()?;
        Ok((job_from_row(&row)?, role))
    }

    /// Takes the oldest claimable job for `owner`: a queued one, or a running one
    /// whose lease expired while it has attempts left. The job becomes `running`
    /// under a lease until `now + lease_ttl`, its attempt counter goes up, and a
    /// `state` event records the start. `None` when nothing is claimable.
    pub async fn claim_job(
        &self,
        owner: &str,
        lease_ttl: Duration,
        now: DateTime<Utc>,
        kinds: &KindFilter,
    ) -> Result<Option<JobTransition>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let kinds = kinds.sql();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sql!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, attempt = attempt + 1,
                    started_at = COALESCE(started_at, $3), updated_at = $3
             WHERE id = (
                 SELECT id FROM jobs
                 WHERE (state = 'queued'
                    OR (state = 'running' AND lease_expires_at < $3 AND attempt < max_attempts)){kinds}
                 ORDER BY id LIMIT 1 {lock}
             )
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(owner)
        .bind(lease_expiry(now, lease_ttl))
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let event = insert_event(&mut tx, &job.id, now, STATE_EVENT, &state_event_data(&job))
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(Some(JobTransition { job, event }))
    }

    /// Extends `owner`'s lease to `now + lease_ttl`. `false` when the lease was
    /// lost: another worker holds the job now, or it ended.
    pub async fn renew_job_lease(
        &self,
        id: &JobId,
        owner: &str,
        lease_ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $3, updated_at = $4
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id.as_str())
        .bind(owner)
        .bind(lease_expiry(now, lease_ttl))
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Records the job's progress while `owner` holds the lease; `false` otherwise.
    pub async fn set_job_progress(&self, id: &JobId, owner: &str, progress: &Value) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE jobs SET progress = $3, updated_at = $4
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id.as_str())
        .bind(owner)
        .bind(to_text(progress))
        .bind(millis(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Ends a running job with its outcome, only while `owner` still holds the
    /// lease, and appends the terminal `state` event. `None` when the lease was lost.
    pub async fn finish_job(
        &self,
        id: &JobId,
        owner: &str,
        outcome: &JobOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<JobTransition>, StoreError> {
        let (state, result, code, message) = match outcome {
            JobOutcome::Succeeded(result) => (JobState::Succeeded, Some(to_text(result)), None, None),
            JobOutcome::Failed { code, message } => (JobState::Failed, None, Some(code.clone()), Some(message.clone())),
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sql!(
            "UPDATE jobs SET state = $3, result = $4, error_code = $5, error_message = $6,
                    lease_expires_at = NULL, finished_at = $7, updated_at = $7
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(id.as_str())
        .bind(owner)
        .bind(state.as_str())
        .bind(result)
        .bind(code)
        .bind(message)
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let event = insert_event(&mut tx, &job.id, now, STATE_EVENT, &state_event_data(&job))
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(Some(JobTransition { job, event }))
    }

    /// Running jobs whose lease expired with no attempt left: their workers died
    /// for the last time. Oldest first, at most `limit`.
    pub async fn exhausted_jobs(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Job>, StoreError> {
        let limit = limit.clamp(1, 1000);
        let rows = sqlx::query(sql!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE state = 'running' AND lease_expires_at < $1 AND attempt >= max_attempts
             ORDER BY id LIMIT {limit}"
        ))
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(job_from_row).collect::<Result<_, _>>()?)
    }

    /// Fails a job found by [`Store::exhausted_jobs`], if it still is one (another
    /// replica may have been faster, or its worker renewed at the last moment),
    /// and appends the terminal `state` event.
    pub async fn fail_exhausted_job(
        &self,
        id: &JobId,
        code: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<JobTransition>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sql!(
            "UPDATE jobs SET state = 'failed', error_code = $2, error_message = $3, lease_expires_at = NULL,
                    finished_at = $4, updated_at = $4
             WHERE id = $1 AND state = 'running' AND lease_expires_at < $4 AND attempt >= max_attempts
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(id.as_str())
        .bind(code)
        .bind(message)
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let event = insert_event(&mut tx, &job.id, now, STATE_EVENT, &state_event_data(&job))
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(Some(JobTransition { job, event }))
    }

    /// Appends an event to a job's log and answers it with its sequence number
    /// (one more than the job's last, also under concurrent appends).
    pub async fn append_job_event(&self, job: &JobId, kind: &str, data: &Value) -> Result<JobEvent, StoreError> {
        let now = Utc::now();
        let event = match self.dialect {
            // One statement: SQLite runs it under its single write lock.
            Dialect::Sqlite => {
                let mut connection = self.pool.acquire().await?;
                insert_event(&mut connection, job, now, kind, data).await?
            }
            // Read committed would let two appenders compute the same next number;
            // the row lock on the job makes them take turns.
            Dialect::Postgres => {
                let mut tx = self.pool.begin().await?;
                let locked = sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
                    .bind(job.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if locked.is_none() {
                    return Err(StoreError::NotFound);
                }
                let event = insert_event(&mut tx, job, now, kind, data).await?;
                tx.commit().await?;
                event
            }
        };
        event.ok_or(StoreError::NotFound)
    }

    /// The job's events with `seq > after`, in order, at most `limit` (1-1000).
    pub async fn job_events_after(&self, job: &JobId, after: i64, limit: u32) -> Result<Vec<JobEvent>, StoreError> {
        let limit = limit.clamp(1, 1000);
        let rows = sqlx::query(sql!(
            "SELECT seq, at, kind, data FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT {limit}"
        ))
        .bind(job.as_str())
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }
}
