//! The storage error type.

/// What went wrong in storage, named for what happened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint was violated; the payload names the constraint or column.
    #[error("conflict on {0}")]
    Conflict(String),
    /// The database could not be reached or the pool timed out.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("invalid store configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("backup: {0}")]
    Backup(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned()))
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(error)
            }
            other => StoreError::Other(other),
        }
    }
}
