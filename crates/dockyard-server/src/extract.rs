//! Extractors: parse at the edge and turn every rejection into an `ApiError`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use dockyard_services::{Authenticated, RequestContext};
use governor::clock::{Clock, DefaultClock};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "dockyard_session";

/// A JSON body. Malformed JSON is 400, a wrong shape (unknown field, wrong type,
/// missing field) is 422, a wrong content type 415, a body over the limit 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            error.body_text().replace("Failed to deserialize the JSON body into the target type: ", ""),
        ),
        JsonRejection::JsonSyntaxError(error) => {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", error.body_text())
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is larger than allowed")
        }
        other => ApiError::new(other.status(), "bad_request", other.body_text()),
    }
}

/// Query parameters; a malformed query is 400 with the reason.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(error)) => {
                Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", error.body_text()))
            }
            Err(other) => Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", other.body_text())),
        }
    }
}

/// Parses an id from the path. A malformed id names nothing, so it is 404.
pub fn path_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// The authenticated caller: a session cookie or an `Authorization: Bearer` API token.
/// Anonymous requests get 401 before the handler runs. Each caller is also
/// rate-limited per user here.
#[derive(Clone)]
pub struct Caller(pub Authenticated);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let authenticated = if let Some(bearer) = bearer_token(&parts.headers) {
            state.services.authenticate_token(bearer).await?.ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the API token is unknown, expired or revoked")
            })?
        } else if let Some(cookie) = session_cookie(&parts.headers) {
            state.services.authenticate_session(cookie).await?.ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "session_expired", "the session has ended; sign in again")
            })?
        } else {
            return Err(ApiError::unauthenticated());
        };
        if let Some(limiter) = &state.limits.per_user
            && let Err(not_until) = limiter.check_key(&authenticated.user.id.to_string())
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(ApiError::rate_limited(wait.max(Duration::from_secs(1))));
        }
        let caller = Caller(authenticated);
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// Where a request came from, for sessions, throttling and the audit log.
pub struct Ctx(pub RequestContext);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = client_ip(parts, state.config.http.trust_forwarded_for).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(256).collect());
        Ok(Ctx(RequestContext { ip, user_agent }))
    }
}

/// The client's IP: the peer address, or the first `X-Forwarded-For` hop when
/// the operator said a trusted proxy sets it.
pub fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for
        && let Some(forwarded) = parts.headers.get("x-forwarded-for").and_then(|value| value.to_str().ok())
        && let Some(first) = forwarded.split(',').next()
        && let Ok(ip) = first.trim().parse()
    {
        return Some(ip);
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())
}

pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}
