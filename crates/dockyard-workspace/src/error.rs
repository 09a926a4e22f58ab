//! The workspace error type.

use crate::path::PathError;

/// What went wrong with a workspace operation, named for what happened.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    InvalidPath(#[from] PathError),
    /// The path resolves (through a symlink) to somewhere outside the workspace.
    #[error("the path leads outside the workspace")]
    Escape,
    #[error("no such file or directory: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("not a directory: {0}")]
    NotADirectory(String),
    #[error("is a directory: {0}")]
    IsADirectory(String),
    /// `If-Match` named another version than the current one.
    #[error("the file changed since it was read")]
    PreconditionFailed { current_etag: Option<String> },
    /// A quota would be exceeded; `limit` names which one.
    #[error("{limit} quota exceeded: at most {max}")]
    QuotaExceeded { limit: &'static str, max: u64 },
    #[error("cannot move a folder into itself")]
    IntoItself,
    #[error("the workspace root cannot be {0}")]
    Root(&'static str),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
