//! Storage: the [`Store`] and its repositories, over SQLite (the embedded
//! default) or PostgreSQL, chosen by the database URL at run time.
//!
//! API Boundary: callers get domain records (`dockyard_domain::model`) and
//! [`StoreError`]; no sqlx type leaves this crate.
//!
//! Both backends share one set of SQL statements, written in the common subset
//! (`$n` placeholders, `RETURNING`, `ON CONFLICT`, timestamps as UTC epoch
//! milliseconds in `BIGINT`). Where the dialects differ, [`Dialect`] decides.
//! Each backend has its own forward-only migration set.

/// A statement assembled from constant pieces (column lists, join kinds), never from input.
macro_rules! sql {
    ($($arg:tt)*) => {
        sqlx::AssertSqlSafe(format!($($arg)*))
    };
}

mod agent;
mod assistant;
mod audit;
mod backup;
mod deploy;
mod error;
mod jobs;
mod migrate;
mod orgs;
mod preferences;
mod projects;
mod secrets;
mod sessions;
mod settings;
mod tokens;
mod users;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

pub use agent::{SessionFinish, SessionUsage};
pub use assistant::AssistantOrgSettings;
pub use audit::{AuditFilter, NewAuditEvent};
pub use backup::{BackupManifest, TableDump};
pub use deploy::{DeploymentFinish, NewDeployment, RoutableService};
pub use error::StoreError;
pub use jobs::{Job, JobEvent, JobOutcome, JobState, JobTransition, KindFilter, NewJob, STATE_EVENT};
pub use projects::ProjectFilter;
pub use secrets::StoredSecret;
pub use tokens::NewApiToken;
pub use users::UserWithPassword;

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// Pool settings; the defaults suit the embedded single-process setup.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before giving up.
    pub busy_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 8, acquire_timeout: Duration::from_secs(5), busy_timeout: Duration::from_secs(5) }
    }
}

/// What [`Store::sqlite_pragmas`] reports.
#[derive(Debug, Clone)]
pub struct SqlitePragmas {
    pub journal_mode: String,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
}

/// A handle to the database. Cheap to clone; all clones share one pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dialect", &self.dialect).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool for `url` (`sqlite://…` or `postgres://…`). Connections are made
    /// lazily, so this succeeds while the database is down; [`Store::ping`] tells.
    pub fn connect_lazy(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = dialect_of(url)?;
        let busy_ms = settings.busy_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            // sqlx pings a connection before every checkout by default: one more
            // round trip per query. Broken connections surface as errors on use and are
            // discarded by the pool either way.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers (and `dockyard backup`) run beside the writer;
                        // foreign keys are off by default in SQLite.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {busy_ms}"))).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy(url)
            .map_err(|error| StoreError::Config(format!("database_url: {error}")))?;
        Ok(Self { pool, dialect })
    }

    /// Opens a pool and checks that the database answers.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let store = Self::connect_lazy(url, settings)?;
        store.ping().await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Open and idle connections, for the pool gauges.
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// The connection settings SQLite runs with, for diagnostics and tests.
    pub async fn sqlite_pragmas(&self) -> Result<SqlitePragmas, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Err(StoreError::Config("not a SQLite database".into()));
        }
        let mut connection = self.pool.acquire().await?;
        let journal_mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(&mut *connection).await?.try_get(0)?;
        let foreign_keys: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(&mut *connection).await?.try_get(0)?;
        let busy_timeout_ms: i64 = sqlx::query("PRAGMA busy_timeout").fetch_one(&mut *connection).await?.try_get(0)?;
        Ok(SqlitePragmas {
            journal_mode: journal_mode.to_lowercase(),
            foreign_keys: foreign_keys == 1,
            busy_timeout_ms,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn dialect_of(url: &str) -> Result<Dialect, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Dialect::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Dialect::Postgres)
    } else {
        Err(StoreError::Config("database_url: must start with sqlite: or postgres://".into()))
    }
}

/// When a lease taken or renewed at `now` runs out, in [`millis`].
pub(crate) fn lease_expiry(now: DateTime<Utc>, ttl: Duration) -> i64 {
    millis(now).saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds since the epoch, the storage form of every timestamp.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn get_time(row: &AnyRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    Ok(from_millis(row.try_get::<i64, _>(column)?))
}

/// Flags are `BOOLEAN` on PostgreSQL and `INTEGER` 0/1 on SQLite (the Any
/// driver has no SQLite boolean); this reads either.
pub(crate) fn get_bool(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    match row.try_get::<bool, _>(column) {
        Ok(value) => Ok(value),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
}

pub(crate) fn get_opt_time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
