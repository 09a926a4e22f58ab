//! Route switches while requests are in flight, and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use dockyard_proxy::ProxyConfig;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::support::*;

/// An upstream whose answers wait until the test adds a permit to `gate`.
async fn gated(name: &'static str, gate: Arc<Semaphore>) -> Upstream {
    upstream(name, move |_request: Request<Incoming>| {
        let gate = Arc::clone(&gate);
        async move {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
            let mut response = Response::new(full(format!("answered by {name}")));
            response.headers_mut().insert("x-upstream", name.parse().expect("header"));
            response
        }
    })
    .await
}

#[tokio::test]
async fn a_route_switch_lets_the_old_request_finish_and_sends_new_ones_to_the_new_backend() {
    let gate = Arc::new(Semaphore::new(0));
    let old = gated("old", Arc::clone(&gate)).await;
    let new = whoami("new").await;
    let proxy = Proxy::with_routes(vec![route("svc", "web-shop.localhost", vec![old.backend()])]).await;

    let request = Request::get(proxy.url("/slow")).header("host", "web-shop.localhost").body(empty()).expect("request");
    let slow = tokio::spawn(http1_client().request(request));
    eventually("the slow request is in flight on the old backend", || proxy.table.in_flight(&old.addr) == 1).await;

    // Switch: only the new backend from now on.
    proxy.table.upsert(route("svc", "web-shop.localhost", vec![new.backend()]));
    for _ in 0..3 {
        let answer = get(&proxy, "web-shop.localhost", "/").await;
        assert_eq!(answer.headers["x-upstream"], "new");
    }
    assert_eq!(proxy.table.in_flight(&old.addr), 1, "the old request still counts after the switch");
    assert!(!proxy.table.drain(&[old.addr], Duration::from_millis(50)).await, "not drained while it runs");

    gate.add_permits(1);
    let answer = collect(slow.await.expect("join").expect("response")).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "answered by old"));
    assert!(proxy.table.drain(&[old.addr], Duration::from_secs(5)).await);
    assert_eq!(proxy.table.in_flight(&old.addr), 0);
    assert_eq!(proxy.table.in_flight(&new.addr), 0);
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_in_flight_requests_finish() {
    let gate = Arc::new(Semaphore::new(0));
    let slow = gated("slow", Arc::clone(&gate)).await;
    let mut proxy =
        Proxy::start(ProxyConfig { shutdown_grace: Duration::from_secs(10), ..ProxyConfig::default() }).await;
    proxy.table.replace(vec![route("svc", "web-shop.localhost", vec![slow.backend()])]);

    let request = Request::get(proxy.url("/slow")).header("host", "web-shop.localhost").body(empty()).expect("request");
    let in_flight = tokio::spawn(http1_client().request(request));
    eventually("the request is in flight", || proxy.table.in_flight(&slow.addr) == 1).await;

    proxy.shutdown();
    let addr = proxy.addr;
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener closed");
    assert!(!proxy.task.is_finished(), "serve waits for the request in flight");

    gate.add_permits(1);
    let answer = collect(in_flight.await.expect("join").expect("response")).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "answered by slow"));
    tokio::time::timeout(Duration::from_secs(5), &mut proxy.task).await.expect("serve returns").expect("join");
}

#[tokio::test]
async fn shutdown_cuts_what_is_left_after_the_grace() {
    let gate = Arc::new(Semaphore::new(0));
    let stuck = gated("stuck", Arc::clone(&gate)).await;
    let mut proxy =
        Proxy::start(ProxyConfig { shutdown_grace: Duration::from_millis(300), ..ProxyConfig::default() }).await;
    proxy.table.replace(vec![route("svc", "web-shop.localhost", vec![stuck.backend()])]);

    let request = Request::get(proxy.url("/")).header("host", "web-shop.localhost").body(empty()).expect("request");
    let in_flight = tokio::spawn(http1_client().request(request));
    eventually("the request is in flight", || proxy.table.in_flight(&stuck.addr) == 1).await;

    let started = std::time::Instant::now();
    proxy.shutdown();
    tokio::time::timeout(Duration::from_secs(5), &mut proxy.task).await.expect("serve returns").expect("join");
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited for the grace");
    let result = in_flight.await.expect("join");
    assert!(result.is_err(), "the unfinished request was cut: {result:?}");
    eventually("the cut request no longer counts", || proxy.table.in_flight(&stuck.addr) == 0).await;
}
