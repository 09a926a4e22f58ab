//! Health probes against small local servers (no engine needed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use dockyard_runtime::CancellationToken;
use dockyard_runtime::health::{ProbeError, probe, wait_healthy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request with the current status; records the last request head.
async fn server(status: Arc<AtomicU16>, seen: Arc<std::sync::Mutex<String>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let status = status.load(Ordering::SeqCst);
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                *seen.lock().expect("seen") = String::from_utf8_lossy(&head).into_owned();
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_probe_answers_any_status_and_sends_a_host_header() {
    let status = Arc::new(AtomicU16::new(503));
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let addr = server(status.clone(), seen.clone()).await;

    assert_eq!(probe(addr, "healthz", Duration::from_secs(2)).await.expect("probe"), 503);
    let head = seen.lock().expect("seen").clone();
    assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains(&format!("host: {addr}")), "{head}");
}

#[tokio::test]
async fn waiting_succeeds_on_the_first_2xx() {
    let status = Arc::new(AtomicU16::new(500));
    let addr = server(status.clone(), Arc::default()).await;
    let flip = status.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        flip.store(204, Ordering::SeqCst);
    });
    wait_healthy(addr, "/", Duration::from_secs(5), Duration::from_millis(50), CancellationToken::new())
        .await
        .expect("healthy");
}

#[tokio::test]
async fn waiting_reports_the_last_status_or_connect_error() {
    let status = Arc::new(AtomicU16::new(503));
    let addr = server(status, Arc::default()).await;
    let failed =
        wait_healthy(addr, "/", Duration::from_millis(400), Duration::from_millis(50), CancellationToken::new()).await;
    assert!(matches!(failed, Err(ProbeError::Status(503))), "{failed:?}");

    // Nothing listens on a port just released.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    let failed =
        wait_healthy(closed, "/", Duration::from_millis(300), Duration::from_millis(50), CancellationToken::new())
            .await;
    assert!(matches!(failed, Err(ProbeError::Connect { .. })), "{failed:?}");
}

#[tokio::test]
async fn a_silent_peer_times_out_and_cancel_stops_waiting() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Accepts (the kernel does) but never answers.
    let probed = probe(addr, "/", Duration::from_millis(200)).await;
    assert!(matches!(probed, Err(ProbeError::Timeout(_))), "{probed:?}");

    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = std::time::Instant::now();
    let waited = wait_healthy(addr, "/", Duration::from_secs(30), Duration::from_millis(50), cancel).await;
    assert!(matches!(waited, Err(ProbeError::Cancelled)), "{waited:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(listener);
}
