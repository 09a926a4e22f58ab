//! The HTTP edge: request ids, access logs, security headers, CSRF, rate limits,
//! metrics, and turning every bare error status into a problem document.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::error::{ApiError, PROBLEM_JSON, default_code, problem_response};
use crate::extract::{bearer_token, client_ip, session_cookie};
use crate::state::AppState;

/// Request ids are ULIDs: unique and sortable by time.
#[derive(Clone, Copy, Default)]
pub struct MakeUlidRequestId;

impl MakeRequestId for MakeUlidRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::new().to_string()).ok().map(RequestId::new)
    }
}

/// Gives a problem+json body to every 4xx/5xx that lower layers (routing, body
/// limits, timeouts, CORS) produced without one.
pub async fn problem_bodies(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == PROBLEM_JSON);
    if is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "no such route",
        StatusCode::METHOD_NOT_ALLOWED => "this route does not accept that method",
        StatusCode::REQUEST_TIMEOUT => "the request took too long",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than allowed",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let (parts, _body) = response.into_parts();
    let mut replaced = problem_response(status, default_code(status), detail, None);
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = parts.headers.get(&name) {
            replaced.headers_mut().insert(name, value.clone());
        }
    }
    replaced
}

/// Security headers on every response. HSTS only when served over TLS.
pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
         font-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self' blob:; object-src 'none'; \
         frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-frame-options", "DENY");
    set(headers, "cross-origin-opener-policy", "same-origin");
    if state.config.served_over_tls() {
        set(headers, "strict-transport-security", "max-age=31536000; includeSubDomains");
    }
    response
}

/// CSRF protection by a strict Origin (or Referer) check.
///
/// It applies to unsafe methods that a browser could send with our session
/// cookie. Bearer-token requests are immune (browsers never attach them), so
/// they pass. Login and setup, which create sessions, are checked whenever the
/// browser names an origin.
pub async fn csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method();
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE);
    if safe || bearer_token(request.headers()).is_some() {
        return next.run(request).await;
    }
    if origin_checked(request.headers(), &state) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_origin_mismatch",
            "cross-site request refused: the Origin header is missing or names another site",
        )
        .into_response()
    }
}

/// The CSRF rule, shared with the terminal WebSocket upgrade: the request names
/// this site in `Origin` (or `Referer`), or names no site and carries no session
/// cookie.
/// The CSRF rule for WebSocket handshakes, which CORS does not cover and which
/// browsers send with cookies even cross-site: a session cookie needs a
/// same-site `Origin` (403 `ws_origin_mismatch`); a bearer token needs none.
pub(crate) fn check_websocket_origin(headers: &HeaderMap, state: &AppState) -> Result<(), crate::error::ApiError> {
    if crate::extract::bearer_token(headers).is_none() && !origin_checked(headers, state) {
        return Err(crate::error::ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "ws_origin_mismatch",
            "cross-site WebSocket refused: the Origin header is missing or names another site",
        ));
    }
    Ok(())
}

pub(crate) fn origin_checked(headers: &HeaderMap, state: &AppState) -> bool {
    match request_origin(headers).as_deref() {
        Some(origin) => origin_allowed(origin, headers, state),
        // No Origin or Referer: not a browser, or a browser that strips both. Only a
        // cookie makes that dangerous.
        None => session_cookie(headers).is_none(),
    }
}

fn request_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) {
        return Some(origin.to_owned());
    }
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let (scheme, rest) = referer.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

fn origin_allowed(origin: &str, headers: &HeaderMap, state: &AppState) -> bool {
    if origin == "null" {
        return false;
    }
    if origin == state.config.public_origin()
        || state.config.http.cors_allowed_origins.iter().any(|allowed| allowed == origin)
    {
        return true;
    }
    // Same origin as the request itself (the browser sets Host; a page cannot forge it).
    let Some(host) = headers.get(header::HOST).and_then(|value| value.to_str().ok()) else { return false };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// Per-IP request rate limit. Probes and metrics are exempt.
pub async fn ip_rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = &state.limits.per_ip else { return next.run(request).await };
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let ip = client_ip(&parts, state.config.http.trust_forwarded_for);
    let request = Request::from_parts(parts, body);
    if let Some(ip) = ip
        && let Err(not_until) = limiter.check_key(&ip)
    {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return ApiError::rate_limited(wait.max(std::time::Duration::from_secs(1))).into_response();
    }
    next.run(request).await
}

/// Request count and latency histogram by method, route template and status.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// A handler panic becomes a generic 500 problem; the connection survives.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "a request handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred; it has been logged",
        None,
    )
}
