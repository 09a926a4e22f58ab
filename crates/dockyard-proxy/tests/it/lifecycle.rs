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

/// Reads from `stream` until the proxy closes it (or 5 s pass): what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

#[tokio::test]
async fn slow_and_idle_clients_are_disconnected_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let backend = whoami("web").await;
    let proxy =
        Proxy::start(ProxyConfig { client_header_timeout: Duration::from_millis(300), ..ProxyConfig::default() }).await;
    proxy.table.replace(vec![route("svc", "web-shop.localhost", vec![backend.backend()])]);

    // Half a request head, then nothing: closed without an answer.
    let mut slow = TcpStream::connect(proxy.addr).await.expect("connect");
    let started = std::time::Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: web-shop.localhost\r\n").await.expect("write");
    let (received, closed) = read_until_closed(&mut slow).await;
    let waited = started.elapsed();
    assert!(closed, "a client that never finished its headers is still connected after 5 s");
    assert!(waited >= Duration::from_millis(300), "closed before the timeout: {waited:?}");
    assert!(!received.contains("200 OK"), "{received}");

    // A whole request is answered; the connection, then idle, is closed.
    let mut idle = TcpStream::connect(proxy.addr).await.expect("connect");
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: web-shop.localhost\r\n\r\n").await.expect("write");
    let started = std::time::Instant::now();
    let (received, closed) = read_until_closed(&mut idle).await;
    assert!(received.starts_with("HTTP/1.1 200 OK"), "{received}");
    assert!(closed, "an idle keep-alive connection is still open after 5 s");
    assert!(started.elapsed() >= Duration::from_millis(300), "closed before the timeout: {:?}", started.elapsed());

    // A client that keeps asking in time is served on one connection throughout.
    let mut busy = TcpStream::connect(proxy.addr).await.expect("connect");
    for _ in 0..4 {
        busy.write_all(b"GET /again HTTP/1.1\r\nHost: web-shop.localhost\r\n\r\n").await.expect("write");
        let answer = read_response(&mut busy).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// One whole response with a `Content-Length` from `stream`.
async fn read_response(stream: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.expect("read");
        assert!(n > 0, "closed mid-response: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let length: usize = text[..end]
            .lines()
            .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .and_then(|value| value.parse().ok())
            .expect("a content-length");
        if received.len() >= end + 4 + length {
            return text;
        }
    }
}
