//! Health probes: is an instance answering HTTP on its port?
//!
//! [`probe`] sends one `GET` (HTTP/1.1, with a `Host` header, `Connection:
//! close`) and answers the status of any response: deciding what counts as
//! healthy is the caller's business. [`wait_healthy`] polls until the first 2xx
//! and otherwise reports the last failure seen (a status or a connect error),
//! which is what a deployment's error message should show.
//!
//! The request goes over a fresh connection each time (no pool): a probe must
//! see what a new client would, and a connection kept open to an old
//! container would hide that it stopped listening. hyper does the HTTP, so
//! chunked bodies, `100 Continue` and oddly split headers are handled
//! correctly; the body is never read.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{CancellationToken, DEFAULT_PROBE_TIMEOUT};

/// Why a probe (or a wait) did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("could not connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The peer answered something that is not HTTP, or closed mid-answer.
    #[error("bad HTTP answer: {0}")]
    Http(String),
    /// The instance answered, but not with a 2xx ([`wait_healthy`] only).
    #[error("the health check answered HTTP {0}")]
    Status(u16),
    #[error("cancelled")]
    Cancelled,
}

/// One `GET path` to `addr`; `Ok(status)` on any HTTP response within `timeout`.
pub async fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, ProbeError> {
    match tokio::time::timeout(timeout, probe_once(addr, path)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout(timeout)),
    }
}

async fn probe_once(addr: SocketAddr, path: &str) -> Result<u16, ProbeError> {
    let stream = TcpStream::connect(addr).await.map_err(|source| ProbeError::Connect { addr, source })?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|error| ProbeError::Http(error.to_string()))?;
    // The connection task ends when the response is dropped (Connection: close);
    // aborting it on the way out covers a peer that never closes.
    let driver = tokio::spawn(connection);
    let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::USER_AGENT, "dockyard-health/1")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|error| ProbeError::Http(error.to_string()));
    let result = match request {
        Ok(request) => sender
            .send_request(request)
            .await
            .map(|response| response.status().as_u16())
            .map_err(|error| ProbeError::Http(error.to_string())),
        Err(error) => Err(error),
    };
    driver.abort();
    result
}

/// Probes every `interval` until a 2xx (Ok), `overall` has passed, or `cancel`
/// fires. Each probe gets [`DEFAULT_PROBE_TIMEOUT`] at most, never more than the
/// time left. On failure the error is the last probe's (a status answers
/// [`ProbeError::Status`]).
pub async fn wait_healthy(
    addr: SocketAddr,
    path: &str,
    overall: Duration,
    interval: Duration,
    cancel: CancellationToken,
) -> Result<(), ProbeError> {
    let deadline = Instant::now() + overall;
    let mut last = ProbeError::Timeout(overall);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(last);
        }
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return Err(ProbeError::Cancelled),
            result = probe(addr, path, DEFAULT_PROBE_TIMEOUT.min(left)) => result,
        };
        match attempt {
            Ok(status) if (200..300).contains(&status) => return Ok(()),
            Ok(status) => last = ProbeError::Status(status),
            Err(error) => last = error,
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(last);
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(ProbeError::Cancelled),
            () = tokio::time::sleep(interval.min(left)) => {}
        }
    }
}
