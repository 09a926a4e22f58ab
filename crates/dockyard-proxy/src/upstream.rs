//! The HTTP/1.1 upstream connections: a small pool of idle keep-alive
//! connections per backend address, on hyper's connection-level client.
//!
//! Why not `hyper_util`'s pooled client: for every HTTP/1.1 request whose body
//! is still streaming when the headers arrive (nearly all of them), it spawns a
//! task that waits for the connection to become idle and only then puts it
//! back, and each checkout races the pool against a lazily built connect
//! future. Here the response body hands its connection back itself when it
//! ends (see [`crate::body::ProxyBody`]), so a request costs no extra task.
//!
//! - Checkout takes the oldest idle connection (the one most likely idle on
//!   the wire by now), skipping closed and expired ones.
//! - A request that a reused connection could not even start (the backend
//!   closed it meanwhile) is retried once on a new connection, like hyper's
//!   client does.
//! - A connection goes back to the pool only after the whole response body
//!   was passed on; one whose body was cut short is dropped (closed).
//!
//! The response-header timeout is the pool's too, kept per connection rather
//! than per request: a tokio timer armed and cleared for every request was
//! about 1,380 of the 35,300 instructions of a proxied request (callgrind,
//! one worker). Here sending a request marks its connection with the pool's
//! coarse tick (two relaxed stores), and a sweep every quarter timeout closes
//! the connections that have waited past it. Their request then fails as
//! [`UpstreamError::TimedOut`], between one and one and a quarter timeouts
//! after it was sent.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::server::UpstreamBody;
use crate::signal::{Flags, Watched};

type Sender = http1::SendRequest<UpstreamBody>;

/// Sweeps, a quarter response-header timeout apart, after which a request
/// still waiting for its response headers times out. The request may be sent
/// right before a sweep, so more than four must pass: the wait is between one
/// and one and a quarter timeouts.
const TICKS_PER_TIMEOUT: u32 = 4;

/// One upstream connection as the pool's sweep sees it.
#[derive(Default)]
struct ConnWatch {
    /// The pool's tick when the request now on this connection was sent; 0
    /// when none is waiting for its response headers.
    waiting_since: AtomicU64,
    /// [`TIMED_OUT`], raised by the sweep; it wakes the connection task,
    /// which closes the connection.
    flags: Flags,
}

/// The sweep timed the connection out.
const TIMED_OUT: u8 = 1;

impl ConnWatch {
    /// Whether the sweep timed the connection out, the connection task waking
    /// when it does.
    fn poll_timed_out(&self, cx: &Context<'_>) -> bool {
        self.flags.poll(cx) & TIMED_OUT != 0
    }

    fn timed_out(&self) -> bool {
        self.flags.raised() & TIMED_OUT != 0
    }
}

/// A connection's request side and its watch.
struct Conn {
    sender: Sender,
    watch: Arc<ConnWatch>,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Why a request could not be sent or answered.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// No TCP connection: refused, unreachable, or not within the connect timeout.
    Connect { timed_out: bool, message: String },
    /// The connection broke or the backend spoke bad HTTP (the error chain).
    Failed(String),
    /// No response headers within the response-header timeout.
    TimedOut,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect { message, .. } => write!(f, "connect: {message}"),
            Self::Failed(message) => f.write_str(message),
            Self::TimedOut => f.write_str("no response headers in time"),
        }
    }
}

fn failed(error: &hyper::Error) -> UpstreamError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    UpstreamError::Failed(text)
}

pub(crate) struct Http1Pool {
    /// foldhash: the keys are backend addresses from the route table, never
    /// from clients, and SipHash showed in profiles of the request path.
    idle: Mutex<foldhash::HashMap<SocketAddr, VecDeque<Idle>>>,
    /// Every open connection, idle or lent (see [`Self::sweep_responses`]).
    open: Watched<ConnWatch>,
    /// Counts response sweeps; starts at 1 (0 is "not waiting").
    tick: AtomicU64,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle_per_backend: usize,
}

/// A connection lent to one request; back to the pool with [`PoolTicket::give_back`].
pub(crate) struct PoolTicket {
    pool: Arc<Http1Pool>,
    addr: SocketAddr,
    conn: Conn,
}

impl PoolTicket {
    pub(crate) fn give_back(self) {
        self.pool.put(self.addr, self.conn);
    }
}

impl Http1Pool {
    pub(crate) fn new(connect_timeout: Duration, idle_timeout: Duration, max_idle_per_backend: usize) -> Self {
        Self {
            idle: Mutex::new(foldhash::HashMap::default()),
            open: Watched::default(),
            tick: AtomicU64::new(1),
            connect_timeout,
            idle_timeout,
            max_idle_per_backend,
        }
    }

    /// How often [`Self::sweep_responses`] must run for a response-header
    /// timeout of `timeout`.
    pub(crate) fn response_sweep_period(timeout: Duration) -> Duration {
        (timeout / TICKS_PER_TIMEOUT).max(Duration::from_millis(5))
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, foldhash::HashMap<SocketAddr, VecDeque<Idle>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `request` to `addr` on an idle connection, or a new one. The
    /// ticket, when given back after the response body ended, returns the
    /// connection to the pool.
    ///
    /// A plain `fn` returning an `async` block: an `async fn` keeps its
    /// arguments twice, and the request is 264 bytes moved with the future.
    #[expect(clippy::manual_async_fn, reason = "an async fn keeps its arguments twice (rust-lang/rust#62958)")]
    pub(crate) fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        mut request: Request<UpstreamBody>,
    ) -> impl Future<Output = Result<(Response<Incoming>, PoolTicket), UpstreamError>> + Send + '_ {
        async move {
            // At most one retry, on a new connection, of a request a reused one could not start.
            let mut fresh_only = false;
            loop {
                let (mut conn, reused) = match self.checkout(addr, fresh_only).await {
                    Some(conn) => (conn, true),
                    // Boxed: a new connection is the rare path, and its futures
                    // would otherwise make every request's future (moved around
                    // by value) larger.
                    None => (Box::pin(self.connect(addr)).await?, false),
                };
                // Left set if this future is dropped while waiting: the sweep
                // then closes the connection nobody will read from.
                conn.watch.waiting_since.store(self.tick.load(Ordering::Relaxed), Ordering::Relaxed);
                let sent = conn.sender.try_send_request(request).await;
                conn.watch.waiting_since.store(0, Ordering::Relaxed);
                match sent {
                    Ok(response) => {
                        return Ok((response, PoolTicket { pool: Arc::clone(self), addr, conn }));
                    }
                    Err(_) if conn.watch.timed_out() => return Err(UpstreamError::TimedOut),
                    Err(mut error) => match error.take_message() {
                        Some(unsent) if reused => {
                            request = unsent;
                            fresh_only = true;
                        }
                        _ => return Err(failed(&error.into_error())),
                    },
                }
            }
        }
    }

    /// The oldest idle connection to `addr` that is still open, ready for a request.
    async fn checkout(&self, addr: SocketAddr, fresh_only: bool) -> Option<Conn> {
        if fresh_only {
            return None;
        }
        loop {
            let idle = {
                let mut pools = self.idle();
                let queue = pools.get_mut(&addr)?;
                queue.pop_front()?
            };
            if idle.conn.sender.is_closed() || idle.since.elapsed() > self.idle_timeout {
                continue;
            }
            let mut conn = idle.conn;
            if conn.sender.is_ready() {
                return Some(conn);
            }
            // The connection is still finishing its previous exchange (its
            // task has not seen the end of the last body yet): a moment.
            // Boxed, as the rare path, to keep the request's future small.
            if let Ok(Ok(())) = Box::pin(tokio::time::timeout(self.connect_timeout, conn.sender.ready())).await {
                return Some(conn);
            }
        }
    }

    async fn connect(&self, addr: SocketAddr) -> Result<Conn, UpstreamError> {
        let stream = match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                return Err(UpstreamError::Connect {
                    timed_out: error.kind() == std::io::ErrorKind::TimedOut,
                    message: error.to_string(),
                });
            }
            Err(_) => {
                return Err(UpstreamError::Connect {
                    timed_out: true,
                    message: format!("no connection within {} ms", self.connect_timeout.as_millis()),
                });
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "proxy: cannot set TCP_NODELAY upstream");
        }
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|error| failed(&error))?;
        let watch = Arc::new(ConnWatch::default());
        self.open.watch(&watch);
        let task_watch = Arc::clone(&watch);
        tokio::spawn(async move {
            let connection = connection.with_upgrades();
            tokio::pin!(connection);
            // Until the connection ends, or the sweep times it out (closed by dropping it).
            let ended = std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                    return Poll::Ready(Some(result));
                }
                if task_watch.poll_timed_out(cx) { Poll::Ready(None) } else { Poll::Pending }
            })
            .await;
            match ended {
                Some(Ok(())) => {}
                Some(Err(error)) => tracing::debug!(%error, "proxy: upstream connection ended with an error"),
                None => tracing::debug!("proxy: closed an upstream connection that sent no response headers in time"),
            }
        });
        Ok(Conn { sender, watch })
    }

    fn put(&self, addr: SocketAddr, conn: Conn) {
        if conn.sender.is_closed() || self.max_idle_per_backend == 0 {
            return;
        }
        let mut pools = self.idle();
        let queue = pools.entry(addr).or_default();
        if queue.len() < self.max_idle_per_backend {
            queue.push_back(Idle { conn, since: Instant::now() });
        }
    }

    /// One response sweep (run every [`Self::response_sweep_period`]):
    /// forgets closed connections, and times out those whose request has
    /// waited more than [`TICKS_PER_TIMEOUT`] sweeps for its response headers.
    pub(crate) fn sweep_responses(&self) {
        let now = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
        let late = self.open.select(|watch| {
            let since = watch.waiting_since.load(Ordering::Relaxed);
            since != 0 && now - since > u64::from(TICKS_PER_TIMEOUT)
        });
        for watch in late {
            watch.flags.raise(TIMED_OUT);
        }
    }

    /// Drops closed and expired idle connections, and empty queues.
    pub(crate) fn sweep(&self) {
        let mut pools = self.idle();
        for queue in pools.values_mut() {
            queue.retain(|idle| !idle.conn.sender.is_closed() && idle.since.elapsed() <= self.idle_timeout);
        }
        pools.retain(|_, queue| !queue.is_empty());
    }

    /// Closes every idle connection (shutdown).
    pub(crate) fn clear(&self) {
        self.idle().clear();
    }

    #[cfg(test)]
    fn idle_count(&self, addr: SocketAddr) -> usize {
        self.idle().get(&addr).map_or(0, VecDeque::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Either, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A backend answering every request on a connection with "hi", counting connections.
    async fn backend() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        backend_with(None).await
    }

    /// [`backend`], which with `max_per_connection` closes a connection shortly
    /// after that many answers (with no `connection: close`, as a backend's
    /// idle timeout does).
    async fn backend_with(max_per_connection: Option<usize>) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    let mut pending = Vec::new();
                    let mut answered = 0;
                    loop {
                        let Ok(read) = stream.read(&mut buffer).await else { return };
                        if read == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buffer[..read]);
                        while let Some(end) = pending.windows(4).position(|window| window == b"\r\n\r\n") {
                            pending.drain(..end + 4);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
                            if stream.write_all(answer).await.is_err() {
                                return;
                            }
                            answered += 1;
                            if Some(answered) == max_per_connection {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, connections)
    }

    fn get() -> Request<UpstreamBody> {
        let mut request = Request::new(Either::Right(Empty::<Bytes>::new()));
        *request.uri_mut() = "/".parse().expect("uri");
        request.headers_mut().insert(http::header::HOST, http::HeaderValue::from_static("b"));
        request
    }

    #[tokio::test]
    async fn a_connection_given_back_is_reused() {
        let (addr, connections) = backend().await;
        let pool = Arc::new(Http1Pool::new(Duration::from_secs(1), Duration::from_secs(60), 8));
        for _ in 0..5 {
            let (response, ticket) = pool.send(addr, get()).await.expect("send");
            let body = response.into_body().collect().await.expect("body").to_bytes();
            assert_eq!(&body[..], b"hi");
            ticket.give_back();
        }
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(addr), 1);
    }

    #[tokio::test]
    async fn a_ticket_not_given_back_closes_its_connection() {
        let (addr, connections) = backend().await;
        let pool = Arc::new(Http1Pool::new(Duration::from_secs(1), Duration::from_secs(60), 8));
        for _ in 0..3 {
            let (_response, _ticket) = pool.send(addr, get()).await.expect("send");
        }
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(pool.idle_count(addr), 0);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let pool = Arc::new(Http1Pool::new(Duration::from_secs(1), Duration::from_secs(60), 8));
        match pool.send(addr, get()).await {
            Err(UpstreamError::Connect { timed_out: false, .. }) => {}
            other => panic!("expected a connect error, got {:?}", other.map(|_| ())),
        }
    }

    #[tokio::test]
    async fn expired_and_closed_connections_are_not_reused() {
        let (addr, connections) = backend().await;
        let pool = Arc::new(Http1Pool::new(Duration::from_secs(1), Duration::from_millis(1), 8));
        let (response, ticket) = pool.send(addr, get()).await.expect("send");
        response.into_body().collect().await.expect("body");
        ticket.give_back();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (response, ticket) = pool.send(addr, get()).await.expect("send");
        response.into_body().collect().await.expect("body");
        ticket.give_back();
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(20)).await;
        pool.sweep();
        assert_eq!(pool.idle_count(addr), 0);
    }

    #[tokio::test]
    async fn a_request_without_response_headers_times_out_and_its_connection_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Reads the request, never answers, and reports when the proxy closes the connection.
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buffer = vec![0u8; 4096];
            while stream.read(&mut buffer).await.is_ok_and(|read| read > 0) {}
            let _ = closed_tx.send(());
        });
        let pool = Arc::new(Http1Pool::new(Duration::from_secs(1), Duration::from_secs(60), 8));
        let timeout = Duration::from_millis(200);
        let sweeps = Arc::clone(&pool);
        let sweeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Http1Pool::response_sweep_period(timeout)).await;
                sweeps.sweep_responses();
            }
        });
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(10), pool.send(addr, get())).await.expect("an answer");
        let waited = started.elapsed();
        assert!(matches!(outcome, Err(UpstreamError::TimedOut)), "{:?}", outcome.map(|_| ()));
        assert!(waited >= timeout, "timed out after {waited:?}, before the timeout");
        tokio::time::timeout(Duration::from_secs(5), closed_rx).await.expect("closed in time").expect("closed");
        // The next sweep forgets the closed connection.
        tokio::time::sleep(Http1Pool::response_sweep_period(timeout) * 2).await;
        assert_eq!(pool.open.len(), 0);
        sweeper.abort();
    }

    #[tokio::test]
    async fn a_connection_the_backend_closed_while_idle_is_not_reused() {
        let (addr, connections) = backend_with(Some(1)).await;
        let pool = Arc::new(Http1Pool::new(Duration::from_secs(1), Duration::from_secs(60), 8));
        for round in 1..=3 {
            let (response, ticket) = pool.send(addr, get()).await.expect("send");
            let body = response.into_body().collect().await.expect("body").to_bytes();
            assert_eq!(&body[..], b"hi", "round {round}");
            ticket.give_back();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Each request found the previous connection closed and opened its own.
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 3);
        pool.sweep();
        assert_eq!(pool.idle_count(addr), 0);
    }
}
