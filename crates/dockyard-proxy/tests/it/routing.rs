//! Routing by Host, load balancing, failover and the forwarding headers.

use std::collections::HashMap;

use http::{Request, StatusCode};

use crate::support::*;

#[tokio::test]
async fn requests_are_routed_by_host_whatever_the_case_port_or_trailing_dot() {
    let web = whoami("web").await;
    let api = whoami("api").await;
    let proxy = Proxy::with_routes(vec![
        route("svc-web", "web-shop.localhost", vec![web.backend()]),
        route("svc-api", "API-shop.localhost", vec![api.backend()]),
    ])
    .await;

    for host in ["web-shop.localhost", "WEB-Shop.LocalHost:8000", "web-shop.localhost.", "web-shop.localhost.:80"] {
        let answer = get(&proxy, host, "/").await;
        assert_eq!(answer.status, StatusCode::OK, "{host}");
        assert_eq!(answer.headers["x-upstream"], "web", "{host}");
    }
    let answer = get(&proxy, "api-shop.localhost:8000", "/items?page=2").await;
    assert_eq!(answer.headers["x-upstream"], "api");
    assert!(answer.body.contains("GET /items?page=2 HTTP/1.1"), "{}", answer.body);
    assert_eq!(seen(&answer.body, "host"), Some("api-shop.localhost:8000"), "the client's Host is kept");
    assert_eq!(proxy.table.lookup("API-SHOP.localhost").map(|route| route.id.clone()).as_deref(), Some("svc-api"));
}

#[tokio::test]
async fn an_unknown_host_gets_404_route_not_found_as_html_or_json() {
    let web = whoami("web").await;
    let proxy = Proxy::with_routes(vec![route("svc-web", "web-shop.localhost", vec![web.backend()])]).await;

    let html = get(&proxy, "nope.localhost", "/").await;
    assert_eq!(html.status, StatusCode::NOT_FOUND);
    assert!(html.headers["content-type"].to_str().expect("ascii").starts_with("text/html"));
    assert!(html.body.contains("No service here") && html.body.contains("route_not_found"), "{}", html.body);
    assert!(html.body.contains("nope.localhost"));

    let json = get_with(&proxy, "nope.localhost", "/", &[("accept", "application/json")]).await;
    assert_eq!(json.status, StatusCode::NOT_FOUND);
    assert_eq!(json.headers["content-type"], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&json.body).expect("json");
    assert_eq!(problem["code"], "route_not_found");
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["type"], "urn:dockyard:problem:route_not_found");
}

#[tokio::test]
async fn round_robin_spreads_requests_evenly_over_three_backends() {
    let backends = [whoami("a").await, whoami("b").await, whoami("c").await];
    let proxy =
        Proxy::with_routes(vec![route("svc", "web-shop.localhost", backends.iter().map(Upstream::backend).collect())])
            .await;

    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..9 {
        let answer = get(&proxy, "web-shop.localhost", "/").await;
        assert_eq!(answer.status, StatusCode::OK);
        *counts.entry(answer.headers["x-upstream"].to_str().expect("ascii").to_owned()).or_default() += 1;
    }
    assert_eq!(counts, HashMap::from([("a".into(), 3), ("b".into(), 3), ("c".into(), 3)]));
}

#[tokio::test]
async fn idempotent_requests_fail_over_when_a_backend_is_down() {
    let down = closed_port().await;
    let b = whoami("b").await;
    let c = whoami("c").await;
    let proxy = Proxy::with_routes(vec![route(
        "svc",
        "web-shop.localhost",
        vec![dockyard_proxy::Backend { id: "dead".into(), addr: down }, b.backend(), c.backend()],
    )])
    .await;

    // The first request starts at the dead backend and moves on; every one succeeds.
    for _ in 0..6 {
        let answer = get(&proxy, "web-shop.localhost", "/").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_ne!(answer.headers["x-upstream"], "dead");
    }
}

#[tokio::test]
async fn a_request_with_a_body_is_not_retried_but_the_failed_backend_is_tried_last_after() {
    let down = closed_port().await;
    let up = echo("up").await;
    let proxy = Proxy::with_routes(vec![route(
        "svc",
        "web-shop.localhost",
        vec![dockyard_proxy::Backend { id: "dead".into(), addr: down }, up.backend()],
    )])
    .await;
    let post = |body: &'static str| {
        Request::post(proxy.url("/submit")).header("host", "web-shop.localhost").body(full(body)).expect("request")
    };

    // The first POST lands on the dead backend; its body cannot be replayed.
    let first = collect(http1_client().request(post("one")).await.expect("response")).await;
    assert_eq!(first.status, StatusCode::BAD_GATEWAY);
    assert!(first.body.contains("upstream_unreachable"));
    assert!(!first.body.contains(&down.to_string()), "the page must not leak the backend address");
    // The dead backend is now tried last, so the next POSTs go to the live one.
    for _ in 0..3 {
        let answer = collect(http1_client().request(post("two")).await.expect("response")).await;
        assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "two"));
    }
}

#[tokio::test]
async fn x_forwarded_headers_are_set_and_for_is_appended() {
    let web = whoami("web").await;
    let proxy = Proxy::with_routes(vec![route("svc", "web-shop.localhost", vec![web.backend()])]).await;
    let host = format!("web-shop.localhost:{}", proxy.addr.port());

    let answer =
        get_with(&proxy, &host, "/", &[("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https")]).await;
    assert_eq!(seen(&answer.body, "x-forwarded-for"), Some("198.51.100.7, 127.0.0.1"));
    assert_eq!(seen(&answer.body, "x-forwarded-proto"), Some("http"), "this hop's scheme, not the client's claim");
    assert_eq!(seen(&answer.body, "x-forwarded-host"), Some(host.as_str()));

    let answer = get(&proxy, &host, "/").await;
    assert_eq!(seen(&answer.body, "x-forwarded-for"), Some("127.0.0.1"));
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let web = upstream("web", |request: Request<hyper::body::Incoming>| async move {
        let mut text = String::new();
        for (header, value) in request.headers() {
            text.push_str(&format!("{header}: {}\n", value.to_str().unwrap_or("?")));
        }
        let mut response = http::Response::new(full(text));
        let headers = response.headers_mut();
        headers.insert("connection", "x-backend-private".parse().expect("value"));
        headers.insert("x-backend-private", "secret".parse().expect("value"));
        headers.insert("keep-alive", "timeout=1".parse().expect("value"));
        headers.insert("x-end-to-end", "kept".parse().expect("value"));
        response
    })
    .await;
    let proxy = Proxy::with_routes(vec![route("svc", "web-shop.localhost", vec![web.backend()])]).await;

    let answer = get_with(
        &proxy,
        "web-shop.localhost",
        "/",
        &[
            ("connection", "keep-alive, x-client-private"),
            ("x-client-private", "secret"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-end-to-end", "kept"),
        ],
    )
    .await;
    for header in ["x-client-private", "keep-alive", "proxy-connection", "te", "upgrade", "connection"] {
        assert_eq!(seen(&answer.body, header), None, "{header} reached the backend:\n{}", answer.body);
    }
    assert_eq!(seen(&answer.body, "x-end-to-end"), Some("kept"));
    assert!(!answer.headers.contains_key("x-backend-private"));
    assert!(!answer.headers.contains_key("keep-alive"));
    assert_eq!(answer.headers["x-end-to-end"], "kept");
}
