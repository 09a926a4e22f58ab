//! In-process tests of the HTTP edge: test-only routes (one that panics, one
//! that never finishes) wrapped in exactly the production middleware stack via
//! `dockyard_server::with_edge_layers`, driven with `tower::ServiceExt::oneshot`.

mod jobs;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use dockyard_server::{AppState, Config, with_edge_layers};
use dockyard_services::Services;
use dockyard_store::Store;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const PANIC_MESSAGE: &str = "secret-panic-detail: password=hunter2";

/// The production edge around three test routes. The store is lazy and never
/// touched by these routes, so no database is needed.
fn app(configure: impl FnOnce(&mut Config)) -> Router {
    let mut config = Config::default();
    configure(&mut config);
    let store = Store::connect_lazy("sqlite::memory:", &Default::default()).expect("a lazy in-memory store");
    let services = Services::new(store, config.services());
    let state = AppState::new(config, services, None);
    let routes: Router<AppState> = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/panic", get(panicking))
        .route("/hang", get(hanging));
    with_edge_layers(routes, state)
}

async fn panicking() -> &'static str {
    panic!("{PANIC_MESSAGE}")
}

/// Never answers: only the timeout layer can end the request.
async fn hanging() -> &'static str {
    std::future::pending().await
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
    json: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!((self.status.as_u16(), self.code()), (status, code), "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.body);
        assert_eq!(self.json["status"], status, "{}", self.body);
        assert_eq!(self.json["type"], format!("urn:dockyard:problem:{code}"), "{}", self.body);
        assert!(self.json["title"].as_str().is_some_and(|title| !title.is_empty()), "{}", self.body);
        assert!(self.json["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{}", self.body);
    }
}

async fn call(app: &Router, method: &str, path: &str) -> Reply {
    let request = Request::builder().method(method).uri(path).body(Body::empty()).expect("a request");
    let response = app.clone().oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("the body").to_bytes();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    Reply { status, headers, body, json }
}

#[tokio::test]
async fn a_panicking_handler_answers_a_generic_500_problem_without_the_panic_message() {
    let app = app(|_| {});
    let reply = call(&app, "GET", "/panic").await;
    reply.assert_problem(500, "internal");
    assert_eq!(reply.json["detail"], "an internal error occurred; it has been logged");
    assert!(
        !reply.body.contains("hunter2") && !reply.body.contains("secret-panic-detail"),
        "the panic leaked: {}",
        reply.body
    );
    assert!(!reply.body.contains("panicked"), "{}", reply.body);
}

#[tokio::test]
async fn a_panic_response_still_carries_the_request_id_and_security_headers() {
    let app = app(|_| {});
    let reply = call(&app, "GET", "/panic").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()), "{:?}", reply.headers);
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert!(reply.header("content-security-policy").is_some_and(|csp| csp.contains("frame-ancestors 'none'")));
}

#[tokio::test]
async fn the_router_keeps_serving_after_a_handler_panicked() {
    let app = app(|_| {});
    assert_eq!(call(&app, "GET", "/panic").await.status, StatusCode::INTERNAL_SERVER_ERROR);
    let reply = call(&app, "GET", "/ok").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "fine"));
}

#[tokio::test]
async fn a_handler_slower_than_the_request_timeout_answers_408_request_timeout() {
    let app = app(|config| config.http.request_timeout_secs = 1);
    let started = std::time::Instant::now();
    let reply = tokio::time::timeout(std::time::Duration::from_secs(20), call(&app, "GET", "/hang"))
        .await
        .expect("the timeout layer answers long before 20 s");
    reply.assert_problem(408, "request_timeout");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "answered before the timeout: {:?}",
        started.elapsed()
    );
    assert!(reply.header("x-request-id").is_some());
}

#[tokio::test]
async fn a_request_faster_than_the_timeout_is_not_affected() {
    let app = app(|config| config.http.request_timeout_secs = 1);
    let reply = call(&app, "GET", "/ok").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "fine"));
}

#[tokio::test]
async fn a_bare_routing_404_becomes_a_not_found_problem() {
    let app = app(|_| {});
    call(&app, "GET", "/no/such/route").await.assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_bare_routing_405_becomes_a_problem_and_keeps_the_allow_header() {
    let app = app(|_| {});
    let reply = call(&app, "DELETE", "/ok").await;
    reply.assert_problem(405, "method_not_allowed");
    let allow = reply.header("allow").expect("an Allow header").to_ascii_uppercase();
    assert!(allow.contains("GET"), "{allow}");
}

#[tokio::test]
async fn security_headers_are_set_on_successful_responses_and_hsts_only_over_tls() {
    let plain = call(&app(|_| {}), "GET", "/ok").await;
    assert_eq!(plain.header("referrer-policy"), Some("same-origin"));
    assert_eq!(plain.header("x-frame-options"), Some("DENY"));
    assert!(plain.header("strict-transport-security").is_none());

    let tls = call(&app(|config| config.public_url = Some("https://dockyard.example.com".into())), "GET", "/ok").await;
    assert!(tls.header("strict-transport-security").is_some_and(|hsts| hsts.contains("max-age=")), "{:?}", tls.headers);
}

#[tokio::test]
async fn an_incoming_request_id_is_echoed_when_it_is_a_short_token_and_replaced_otherwise() {
    let app = app(|_| {});
    let send = |id: String| {
        let app = app.clone();
        async move {
            let request = Request::builder()
                .uri("/ok")
                .header("x-request-id", id.as_str())
                .body(Body::empty())
                .expect("a request");
            let response = app.oneshot(request).await.expect("infallible");
            response.headers().get("x-request-id").and_then(|value| value.to_str().ok()).map(str::to_owned)
        }
    };
    assert_eq!(send("abc-123".into()).await.as_deref(), Some("abc-123"));
    let replaced = send("evil id\twith spaces".into()).await.expect("a request id");
    assert_ne!(replaced, "evil id\twith spaces");
    assert_eq!(replaced.len(), 26, "a ULID: {replaced}");
    let replaced = send("a".repeat(300)).await.expect("a request id");
    assert_eq!(replaced.len(), 26, "a ULID: {replaced}");
}
