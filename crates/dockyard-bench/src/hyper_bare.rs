//! `hyper-bare`, the proxy benchmark's reference row: hyper's HTTP/1 server
//! and client codecs joined with nothing else, in the same thread-per-core
//! layout as dockyard-proxy (one single-threaded runtime per core). Each
//! client connection gets its own upstream connection, and every request
//! goes through unchanged: no routing, no header rewriting, no timeouts, no
//! pool, no metrics, no access records.
//!
//! No product should proxy like this, but it bounds any proxy built on hyper:
//! what dockyard-proxy spends above it is its own features, and what this row
//! spends above nginx is hyper's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The prefix of the worker threads' names, for the CPU-time column.
pub const THREAD_PREFIX: &str = "hyper-bare";

/// Serves on `listener` with `threads` worker threads, forwarding to
/// `upstream`, until the process exits.
pub fn start(listener: std::net::TcpListener, upstream: SocketAddr, threads: usize) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    for index in 0..threads.max(1) {
        let listener = listener.try_clone()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}-{index}"))
            .spawn(move || runtime.block_on(accept_loop(listener, upstream)))
            .context("cannot start a hyper-bare thread")?;
    }
    Ok(())
}

async fn accept_loop(listener: std::net::TcpListener, upstream: SocketAddr) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(serve_client(stream, upstream));
    }
}

async fn serve_client(stream: TcpStream, upstream: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let Ok(backend) = TcpStream::connect(upstream).await else { return };
    let _ = backend.set_nodelay(true);
    let Ok((sender, connection)) = hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(backend)).await
    else {
        return;
    };
    tokio::spawn(connection);
    // The client asks one request at a time, so the connection is free again
    // (or about to be: `ready`) whenever a request comes.
    let sender = Arc::new(Mutex::new(Some(sender)));
    let service = service_fn(move |request: Request<Incoming>| forward(Arc::clone(&sender), request));
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

async fn forward(
    slot: Arc<Mutex<Option<SendRequest<Incoming>>>>,
    request: Request<Incoming>,
) -> Result<Response<Either<Incoming, Empty<Bytes>>>, Infallible> {
    let taken = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    let Some(mut sender) = taken else { return Ok(bad_gateway()) };
    if sender.ready().await.is_err() {
        return Ok(bad_gateway());
    }
    let answer = sender.send_request(request).await;
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
    Ok(answer.map_or_else(|_| bad_gateway(), |response| response.map(Either::Left)))
}

/// An empty 502, which wrk counts as non-2xx.
fn bad_gateway() -> Response<Either<Incoming, Empty<Bytes>>> {
    let mut response = Response::new(Either::Right(Empty::new()));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}
