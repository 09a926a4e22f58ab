//! The services' error type.

use std::time::Duration;

use dockyard_domain::Denied;
use dockyard_domain::validate::ValidationError;
use dockyard_store::StoreError;

/// What went wrong in a use case. Each variant says whose fault it is: the
/// caller's (the 4xx family), the database's (`Unavailable`) or ours (`Internal`).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("not found")]
    NotFound,
    /// Something named inside a resource is missing (a branch, a remote): 404 with its own code.
    #[error("{message}")]
    Missing { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials were wrong; deliberately vague about which part.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The request is malformed in a way that is not a field's value (e.g. a path).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// `If-Match` named another version than the current one.
    #[error("the resource changed since it was read")]
    PreconditionFailed { current_etag: Option<String> },
    #[error("{message}")]
    PayloadTooLarge { code: &'static str, message: String },
    #[error("too many attempts")]
    RateLimited { retry_after: Duration },
    /// A server we talked to for the user (a git remote) refused or failed.
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    #[error("service unavailable")]
    Unavailable(#[source] StoreError),
    /// Too many at once or too often (429), with a stable code.
    #[error("{message}")]
    TooMany { code: &'static str, message: String, retry_after: Option<Duration> },
    /// Something the request needs is off or failing for now (503), with a stable code.
    #[error("{message}")]
    ServiceUnavailable { code: &'static str, message: String, retry_after: Option<Duration> },
    /// The container engine is not configured or does not answer.
    #[error("{message}")]
    EngineUnavailable { message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Conflict { code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::BadRequest { code, message: message.into() }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Forbidden { code, message: message.into() }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::Conflict(what) => {
                ServiceError::Conflict { code: "conflict", message: format!("{what} is already taken") }
            }
            StoreError::Unavailable(_) => ServiceError::Unavailable(error),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<Denied> for ServiceError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotFound => ServiceError::NotFound,
            Denied::Forbidden => ServiceError::forbidden("forbidden", "your role does not allow this"),
            Denied::InsufficientScope => {
                ServiceError::forbidden("insufficient_scope", "the API token's scope does not allow this")
            }
        }
    }
}
