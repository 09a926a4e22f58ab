//! `ApiError`: every error leaves the server as `application/problem+json`
//! (RFC 9457) with a stable snake_case `code`. A 5xx body stays generic; the
//! cause goes to the log.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dockyard_services::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:dockyard:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable; clients branch on this.
    pub code: String,
    /// The input field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<&'static str>,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), field: None, retry_after: None }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in or send an API token")
    }

    pub fn rate_limited(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry later")
        }
    }

    /// A 500 whose cause is logged and never shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
    }

    pub fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
}

/// The default problem code for a bare status, used when a lower layer (routing,
/// body limits, timeouts) answered with no body of ours.
pub fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_input",
        429 => "rate_limited",
        503 => "unavailable",
        500..=599 => "internal",
        _ => "error",
    }
}

pub fn problem_response(status: StatusCode, code: &str, detail: &str, field: Option<&str>) -> Response {
    let problem = Problem {
        kind: format!("urn:dockyard:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        code: code.to_owned(),
        field: field.map(str::to_owned),
    };
    let mut response = (status, Json(problem)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(self.status, self.code, &self.detail, self.field);
        if let Some(retry_after) = self.retry_after {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Invalid(invalid) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                invalid.code,
                format!("{}: {}", invalid.field, invalid.message),
            )
            .field(invalid.field),
            ServiceError::NotFound => Self::not_found(),
            ServiceError::Missing { code, message } => Self::new(StatusCode::NOT_FOUND, code, message),
            ServiceError::Upstream { code, message } => Self::new(StatusCode::BAD_GATEWAY, code, message),
            ServiceError::Unauthenticated => Self::unauthenticated(),
            ServiceError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "invalid e-mail or password")
            }
            ServiceError::Forbidden { code, message } => Self::new(StatusCode::FORBIDDEN, code, message),
            ServiceError::BadRequest { code, message } => Self::new(StatusCode::BAD_REQUEST, code, message),
            ServiceError::PreconditionFailed { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "etag_mismatch",
                "the file changed since it was read (If-Match does not match); reload it or overwrite without If-Match",
            ),
            ServiceError::PayloadTooLarge { code, message } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, message),
            ServiceError::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            ServiceError::RateLimited { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "too many failed attempts; retry later")
            },
            ServiceError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable; retry later",
                )
            }
            ServiceError::TooMany { code, message, retry_after } => {
                Self { retry_after, ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message) }
            }
            ServiceError::ServiceUnavailable { code, message, retry_after } => {
                Self { retry_after, ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message) }
            }
            ServiceError::EngineUnavailable { message } => {
                tracing::warn!(%message, "container engine unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "runtime_unavailable", message)
            }
            ServiceError::Internal(cause) => Self::internal(cause),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
