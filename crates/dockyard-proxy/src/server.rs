//! The listener: accepts connections, speaks HTTP/1.1 and h2c to clients,
//! forwards each request to a backend of its route, and shuts down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::body::{AccessRecord, ProxyBody};
use crate::conn::{ConnSignal, Connections, DRAIN, IDLE, RequestActivity, STOP};
use crate::headers::{add_forwarded, forwarded_for_value, strip_hop_by_hop};
use crate::metrics::{NO_ROUTE, RouteMetrics, UpstreamErrorKind};
use crate::pages::{self, PageContext, ProxyError};
use crate::table::{BackendSlot, RouteEntry, RouteTable, UpstreamProtocol};
use crate::upstream::{Http1Pool, PoolTicket, UpstreamError};

/// The proxy's settings. `Default` gives values fit for production.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// How long a TCP connect to a backend may take.
    pub connect_timeout: Duration,
    /// How long a backend may take to send its response headers once the
    /// request was sent (504 `upstream_timeout` after). Bodies stream with no
    /// limit. Over HTTP/1.1 a sweep every quarter of it enforces it, so the
    /// 504 comes 1 to 1.25 times this long after the request was sent.
    pub response_header_timeout: Duration,
    /// On shutdown, how long in-flight requests and open WebSockets may take
    /// before their connections are cut.
    pub shutdown_grace: Duration,
    /// How long an idle upstream connection stays in the pool.
    pub pool_idle_timeout: Duration,
    /// Idle upstream connections kept per backend.
    pub pool_max_idle_per_backend: usize,
    /// After a backend refuses a connection, how long it is tried last.
    pub backend_cooldown: Duration,
    /// The `Retry-After` of the "deploying" page.
    pub retry_after: Duration,
    /// A client connection with no request in progress (one that never
    /// finishes its request head, or an idle keep-alive) is closed 1 to 1.5
    /// times this long after its last activity, so slow or idle clients do
    /// not hold connections forever (see `conn`).
    pub client_header_timeout: Duration,
    /// When set, `Via: 1.1 {via}` is added to requests and responses.
    pub via: Option<String>,
    /// Worker threads serving connections, each with its own single-threaded
    /// runtime and upstream pool; 0 means one per core.
    pub threads: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            response_header_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(60),
            pool_max_idle_per_backend: 256,
            backend_cooldown: Duration::from_secs(2),
            retry_after: Duration::from_secs(5),
            client_header_timeout: Duration::from_secs(30),
            via: None,
            threads: 0,
        }
    }
}

pub(crate) type UpstreamBody = Either<Incoming, Empty<Bytes>>;
type UpstreamClient = Client<HttpConnector, UpstreamBody>;

/// What every worker thread reads: the table, the settings and the stop.
struct Common {
    table: RouteTable,
    config: ProxyConfig,
    via: Option<HeaderValue>,
    /// Turns true when the shutdown grace ran out: close everything now. (The
    /// drain before it starts when a worker's queue closes.)
    stop: watch::Receiver<bool>,
}

/// One worker thread's state. Its upstream pool and h2c client are its own,
/// so a request's client connection, upstream connection and pooled
/// connections all live on one thread and one runtime.
struct Shared {
    table: RouteTable,
    config: ProxyConfig,
    via: Option<HeaderValue>,
    /// HTTP/1.1 backends: hyper's connection-level client with our own pool.
    http1: Arc<Http1Pool>,
    /// h2c backends: one multiplexed connection each, through hyper-util's client.
    h2c: UpstreamClient,
    unrouted: OnceLock<Arc<RouteMetrics>>,
    stop: watch::Receiver<bool>,
    /// Held by every connection and tunnel task of the worker; the worker
    /// waits for the last to go.
    alive: mpsc::Sender<()>,
    builder: auto::Builder<TokioExecutor>,
    /// The worker's client connections: drain, stop and idle signals.
    connections: Arc<Connections>,
}

/// An accepted client connection on its way to a worker.
type Handoff = (std::net::TcpStream, SocketAddr);

/// The acceptor's handle on one worker: where to send connections, and how
/// many it has open.
struct Worker {
    connections: mpsc::UnboundedSender<Handoff>,
    open: Arc<AtomicUsize>,
}

/// Counts a client connection on its worker until dropped.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The number of worker threads `threads` asks for (0: one per core).
fn worker_count(threads: usize) -> usize {
    if threads > 0 {
        return threads;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Serves the proxy on `listener` until `shutdown` completes, then stops
/// accepting, lets in-flight requests (and open WebSockets) finish for up to
/// `config.shutdown_grace`, closes what is left and returns.
///
/// Connections are served by `config.threads` worker threads (one per core by
/// default), each running a single-threaded tokio runtime with its own
/// upstream pool: a request's client and upstream connection tasks never wake
/// each other across threads, and no task moves between cores. This future
/// only accepts (on the caller's runtime) and hands each connection to the
/// worker with the fewest open connections. The route table, the metrics and
/// the in-flight counts are shared by all workers.
pub async fn serve(listener: TcpListener, table: RouteTable, config: ProxyConfig, shutdown: impl Future<Output = ()>) {
    let (stop_sender, stop) = watch::channel(false);
    // Held by every worker until its runtime is gone; `serve` waits for the last.
    let (workers_alive, mut all_gone) = mpsc::channel::<()>(1);
    let grace = config.shutdown_grace;
    let n_workers = worker_count(config.threads);
    let common = Arc::new(Common {
        via: config.via.as_deref().and_then(|via| HeaderValue::try_from(format!("1.1 {via}")).ok()),
        table,
        config,
        stop,
    });
    let mut workers: Vec<Worker> =
        (0..n_workers).filter_map(|index| start_worker(index, &common, &workers_alive)).collect();
    if workers.is_empty() {
        workers.push(start_local_worker(&common, &workers_alive));
    }
    drop(workers_alive);
    drop(common);

    let mut next = 0usize;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, client)) => {
                    // Out of the acceptor's reactor, into the worker's.
                    let stream = match stream.into_std() {
                        Ok(stream) => stream,
                        Err(error) => {
                            tracing::debug!(%error, %client, "proxy: cannot hand a connection over");
                            continue;
                        }
                    };
                    let worker = pick_worker(&workers, &mut next);
                    worker.open.fetch_add(1, Ordering::Relaxed);
                    if worker.connections.send((stream, client)).is_err() {
                        worker.open.fetch_sub(1, Ordering::Relaxed);
                        tracing::error!(%client, "proxy: a worker is gone; connection dropped");
                    }
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    // The workers see their queues close: they stop their pool sweeps and close
    // their idle upstream connections (busy ones close when their request ends).
    drop(workers);
    if tokio::time::timeout(grace, all_gone.recv()).await.is_err() {
        tracing::warn!(
            grace_seconds = grace.as_secs_f64(),
            "proxy: connections still open after the grace; closing them"
        );
        let _ = stop_sender.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(1), all_gone.recv()).await;
    }
}

/// The worker with the fewest open connections, the next in turn among equals.
fn pick_worker<'a>(workers: &'a [Worker], next: &mut usize) -> &'a Worker {
    let n_workers = workers.len();
    let start = *next % n_workers;
    *next = next.wrapping_add(1);
    let mut best = &workers[start];
    let mut best_open = best.open.load(Ordering::Relaxed);
    for offset in 1..n_workers {
        let worker = &workers[(start + offset) % n_workers];
        let open = worker.open.load(Ordering::Relaxed);
        if open < best_open {
            best = worker;
            best_open = open;
        }
    }
    best
}

/// Starts worker `index` on its own thread with a single-threaded runtime;
/// `None` (logged) when the runtime or the thread cannot be made.
fn start_worker(index: usize, common: &Arc<Common>, alive: &mpsc::Sender<()>) -> Option<Worker> {
    let (connections, incoming) = mpsc::unbounded_channel::<Handoff>();
    let open = Arc::new(AtomicUsize::new(0));
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "proxy: cannot build a worker runtime");
            return None;
        }
    };
    let (common, thread_open, alive) = (Arc::clone(common), Arc::clone(&open), alive.clone());
    let spawned = std::thread::Builder::new().name(format!("dockyard-proxy-{index}")).spawn(move || {
        runtime.block_on(run_worker(common, incoming, thread_open));
        // Tasks still left (after the grace) are dropped with the runtime,
        // which closes their sockets; only then may `serve` return.
        drop(runtime);
        drop(alive);
    });
    match spawned {
        Ok(_) => Some(Worker { connections, open }),
        Err(error) => {
            tracing::error!(%error, "proxy: cannot start a worker thread");
            None
        }
    }
}

/// The fallback when no worker thread could start: one worker on the
/// caller's runtime (slower, never down).
fn start_local_worker(common: &Arc<Common>, alive: &mpsc::Sender<()>) -> Worker {
    let (connections, incoming) = mpsc::unbounded_channel::<Handoff>();
    let open = Arc::new(AtomicUsize::new(0));
    let (common, task_open, alive) = (Arc::clone(common), Arc::clone(&open), alive.clone());
    tokio::spawn(async move {
        run_worker(common, incoming, task_open).await;
        drop(alive);
    });
    Worker { connections, open }
}

/// A worker: serves the connections handed to it until the acceptor stops,
/// then until its last connection ends or the grace runs out.
async fn run_worker(common: Arc<Common>, mut incoming: mpsc::UnboundedReceiver<Handoff>, open: Arc<AtomicUsize>) {
    let (alive, mut all_gone) = mpsc::channel::<()>(1);
    let config = &common.config;
    let shared = Arc::new(Shared {
        http1: Arc::new(Http1Pool::new(
            config.connect_timeout,
            config.pool_idle_timeout,
            config.pool_max_idle_per_backend,
        )),
        h2c: upstream_client(config),
        via: common.via.clone(),
        table: common.table.clone(),
        config: config.clone(),
        unrouted: OnceLock::new(),
        stop: common.stop.clone(),
        alive,
        builder: server_builder(),
        connections: Arc::new(Connections::default()),
    });
    let mut stop = common.stop.clone();
    drop(common);
    let pool = Arc::clone(&shared.http1);
    let sweeper = every((shared.config.pool_idle_timeout / 2).max(Duration::from_secs(1)), move || pool.sweep());
    let pool = Arc::clone(&shared.http1);
    let response_sweeper =
        every(Http1Pool::response_sweep_period(shared.config.response_header_timeout), move || pool.sweep_responses());
    let connections = Arc::clone(&shared.connections);
    let idle_sweeper = every((shared.config.client_header_timeout / 2).max(Duration::from_millis(10)), move || {
        connections.sweep_idle();
    });
    while let Some((stream, client)) = incoming.recv().await {
        let guard = OpenConnection(Arc::clone(&open));
        match TcpStream::from_std(stream) {
            Ok(stream) => {
                // Registered here, not in the task: a drain raised once the
                // queue closes reaches every connection spawned before.
                let signal = shared.connections.register();
                tokio::spawn(serve_connection(stream, client, Arc::clone(&shared), guard, signal));
            }
            Err(error) => tracing::debug!(%error, %client, "proxy: cannot take a connection over"),
        }
    }
    sweeper.abort();
    response_sweeper.abort();
    idle_sweeper.abort();
    // Idle client connections close now, busy ones after their response.
    let connections = Arc::clone(&shared.connections);
    connections.raise_all(DRAIN);
    // Idle upstream connections close now; busy ones when their request ends.
    shared.http1.clear();
    drop(shared);
    tokio::select! {
        _ = all_gone.recv() => {}
        _ = stop.wait_for(|stop| *stop) => connections.raise_all(STOP),
    }
}

/// Runs `tick` every `period` on this runtime until the task is aborted.
fn every(period: Duration, mut tick: impl FnMut() + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            tick();
        }
    })
}

fn server_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No header-read timer: slow and idle clients are found by the worker's
    // idle sweep (see `conn`), which costs a request no timer.
    builder.http1().header_read_timeout(None).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    builder
}

fn upstream_client(config: &ProxyConfig) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(config.connect_timeout));
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(config.pool_idle_timeout)
        .pool_max_idle_per_host(config.pool_max_idle_per_backend)
        // The Host header is the client's, set on every request.
        .set_host(false)
        .http2_only(true)
        .timer(TokioTimer::new());
    builder.build(connector)
}

async fn serve_connection(
    stream: TcpStream,
    client: SocketAddr,
    shared: Arc<Shared>,
    _open: OpenConnection,
    signal: Arc<ConnSignal>,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "proxy: cannot set TCP_NODELAY");
    }
    let _alive = shared.alive.clone();
    let service_shared = Arc::clone(&shared);
    let service_signal = Arc::clone(&signal);
    // The client's address as an `X-Forwarded-For` value, made once per connection.
    let client_value = forwarded_for_value(client);
    let service = service_fn(move |request| {
        let activity = service_signal.start_request();
        handle(Arc::clone(&service_shared), client, client_value.clone(), activity, request)
    });
    let connection = shared.builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // Until the connection ends or the worker raises a flag.
    let flags = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready(Err(result));
        }
        match signal.poll_flags(cx) {
            0 => Poll::Pending,
            flags => Poll::Ready(Ok(flags)),
        }
    })
    .await;
    match flags {
        Err(Err(error)) => {
            tracing::debug!(%error, %client, "proxy: client connection ended with an error");
            return;
        }
        Err(Ok(())) => return,
        // Stopped, or idle (no request in progress): closed by dropping it.
        Ok(flags) if flags & (STOP | IDLE) != 0 => return,
        Ok(_) => {}
    }
    // Draining: an idle connection closes now, a busy one after its response.
    connection.as_mut().graceful_shutdown();
    std::future::poll_fn(|cx| {
        if connection.as_mut().poll(cx).is_ready() || signal.poll_flags(cx) & (STOP | IDLE) != 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    })
    .await;
}

/// What the service answers hyper: a response made at once (the proxy's own
/// pages), or the forwarding in progress.
///
/// The forwarding future is boxed because hyper moves the service's future
/// by value (into its connection state), and as an `async fn` this one was
/// over 10 KB: two copies of it per request showed in profiles, above the
/// cost of the one allocation.
enum Handled {
    /// Boxed too (pages are the rare case): the enum stays two words.
    Ready(Option<Box<Response<ProxyBody>>>),
    Forwarding(Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>>),
}

impl Future for Handled {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Ready(response) => match response.take() {
                Some(response) => Poll::Ready(Ok(*response)),
                // Polled after it answered: never by hyper.
                None => Poll::Pending,
            },
            Self::Forwarding(forwarding) => forwarding.as_mut().poll(cx).map(Ok),
        }
    }
}

fn handle(
    shared: Arc<Shared>,
    client: SocketAddr,
    client_value: Option<HeaderValue>,
    activity: RequestActivity,
    request: Request<Incoming>,
) -> Handled {
    let started = Instant::now();
    let host_value = request
        .headers()
        .get(header::HOST)
        .cloned()
        .or_else(|| request.uri().authority().and_then(|authority| HeaderValue::try_from(authority.as_str()).ok()));
    let mut record = AccessRecord {
        started,
        host: host_value.clone(),
        method: request.method().clone(),
        uri: request.uri().clone(),
        status: 0,
        route: None,
        backend: None,
        bytes: 0,
        in_flight: false,
        unrouted: None,
        _activity: activity,
    };
    let (Some(host_value), Some(entry)) = (host_value, shared.table.resolve(record.host())) else {
        record.unrouted = Some(Arc::clone(shared.unrouted.get_or_init(|| Arc::new(RouteMetrics::new(NO_ROUTE)))));
        let page = error_page(&shared, ProxyError::RouteNotFound, request.headers().get(header::ACCEPT), record);
        return Handled::Ready(Some(Box::new(page)));
    };
    if entry.backends.is_empty() {
        let error = ProxyError::for_status(entry.route.status);
        record.route = Some(entry);
        return Handled::Ready(Some(Box::new(error_page(
            &shared,
            error,
            request.headers().get(header::ACCEPT),
            record,
        ))));
    }
    // `forward` moves the entry into the record: one reference per request on
    // the entry, whose count every worker thread writes.
    let prepared = prepare(&shared, client, client_value, &entry, host_value, request);
    Handled::Forwarding(Box::pin(forward(shared, entry, prepared, record)))
}

/// The proxy's own page, logged like any response.
fn error_page(
    shared: &Shared,
    error: ProxyError,
    accept: Option<&HeaderValue>,
    mut record: AccessRecord,
) -> Response<ProxyBody> {
    let route = record.route.as_ref().map(|entry| Arc::clone(&entry.route));
    let context = PageContext { host: record.host(), route: route.as_deref() };
    let (status, headers, body) = pages::render(error, &context, accept, shared.config.retry_after);
    record.status = status.as_u16();
    let mut response = Response::new(ProxyBody::full(body, record));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// A request ready to go to any backend of the route.
struct Outgoing {
    method: Method,
    path_and_query: PathAndQuery,
    version: Version,
    headers: HeaderMap,
    /// `Some` while the body has not been sent (only one attempt can use it).
    body: Option<Incoming>,
    /// Whether a failed connect may be retried on the next backend: an
    /// idempotent method and no body.
    retryable: bool,
    /// What the client side still needs: its `Accept` (for an error page)
    /// and, when it asked for an upgrade, hyper's handle on it.
    accept: Option<HeaderValue>,
    on_client_upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Outgoing {
    fn request(&mut self, slot: &BackendSlot, last_attempt: bool) -> Request<UpstreamBody> {
        let uri = if self.version == Version::HTTP_2 {
            // h2c: `:scheme` and `:authority` come from the URI.
            Uri::builder()
                .scheme(Scheme::HTTP)
                .authority(slot.authority.clone())
                .path_and_query(self.path_and_query.clone())
                .build()
                .unwrap_or_default()
        } else {
            // HTTP/1.1 on our own connection: the origin form, as sent on the wire.
            Uri::from(self.path_and_query.clone())
        };
        let headers = if last_attempt { std::mem::take(&mut self.headers) } else { self.headers.clone() };
        let body = match self.body.take() {
            Some(body) => Either::Left(body),
            None => Either::Right(Empty::new()),
        };
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = headers;
        request
    }
}

/// Rewrites the client's request for the route's backends: hop-by-hop
/// headers out, `Host` and the forwarding headers in, an upgrade passed on
/// deliberately.
///
/// Synchronous, before the forwarding future exists: that future is boxed
/// and moved by value, and whatever an `async fn` holds across its await
/// (the request, its parts, the headers) makes it larger. Here it keeps only
/// the [`Outgoing`].
fn prepare(
    shared: &Shared,
    client: SocketAddr,
    client_value: Option<HeaderValue>,
    entry: &RouteEntry,
    host: HeaderValue,
    mut request: Request<Incoming>,
) -> Outgoing {
    let upstream = entry.route.upstream;
    let mut headers = std::mem::take(request.headers_mut());
    let accept = headers.get(header::ACCEPT).cloned();
    // Read before the hop-by-hop headers go (TE is one), and only for h2c.
    let wants_trailers = upstream == UpstreamProtocol::H2c && headers_want_trailers(&headers);
    let upgrade = strip_hop_by_hop(&mut headers)
        .filter(|_| request.version() == Version::HTTP_11 && upstream == UpstreamProtocol::Http1);
    let on_client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut request));
    if let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
    // The proxy answered `Expect: 100-continue` itself when it read the body.
    headers.remove(header::EXPECT);
    if wants_trailers {
        // gRPC needs `te: trailers`, the one TE value HTTP/2 allows.
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    add_forwarded(&mut headers, client.ip(), client_value, "http", &host);
    headers.insert(header::HOST, host);
    if let Some(via) = &shared.via {
        headers.append(header::VIA, via.clone());
    }
    let (parts, body) = request.into_parts();
    let retryable = is_idempotent(&parts.method) && http_body::Body::is_end_stream(&body);
    Outgoing {
        path_and_query: parts.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/")),
        method: parts.method,
        version: match upstream {
            UpstreamProtocol::Http1 => Version::HTTP_11,
            UpstreamProtocol::H2c => Version::HTTP_2,
        },
        headers,
        body: if retryable { None } else { Some(body) },
        retryable,
        accept,
        on_client_upgrade,
    }
}

/// Sends the request to the route's backends in turn until one answers (see
/// [`Outgoing::retryable`]), and turns the answer or the failure into the
/// client's response.
///
/// A plain `fn` returning an `async` block, not an `async fn`: an `async fn`
/// keeps each argument twice (as captured, and moved into its body), and this
/// future is moved by value.
#[expect(clippy::manual_async_fn, reason = "an async fn keeps its arguments twice (rust-lang/rust#62958)")]
fn forward(
    shared: Arc<Shared>,
    entry: Arc<RouteEntry>,
    mut outgoing: Outgoing,
    mut record: AccessRecord,
) -> impl Future<Output = Response<ProxyBody>> + Send {
    async move {
        // The record holds the one reference to the entry this request takes.
        let entry: &RouteEntry = record.route.insert(entry);
        let metrics = entry.metrics.get_or_init(|| RouteMetrics::new(&entry.route.id));
        let mut candidates = entry.candidates(shared.table.now_ms()).peekable();
        let mut failure = ProxyError::UpstreamUnreachable;
        while let Some(slot) = candidates.next() {
            let last_attempt = !outgoing.retryable || candidates.peek().is_none();
            let counted = slot.count();
            let upstream_request = outgoing.request(slot, last_attempt);
            let sent = match entry.route.upstream {
                UpstreamProtocol::Http1 => shared
                    .http1
                    .send(slot.backend.addr, upstream_request)
                    .await
                    .map(|(response, ticket)| (response, Some(ticket))),
                // Boxed: h2c is the rare path, and its timer and hyper-util's
                // future would otherwise make every request's future larger.
                UpstreamProtocol::H2c => {
                    Box::pin(send_h2c(&shared, upstream_request)).await.map(|response| (response, None))
                }
            };
            let (response, ticket) = match sent {
                Ok(answer) => answer,
                Err(UpstreamError::Connect { timed_out, message }) => {
                    metrics.upstream_error(if timed_out {
                        UpstreamErrorKind::Timeout
                    } else {
                        UpstreamErrorKind::Connect
                    });
                    tracing::warn!(route = %entry.route.id, backend = %slot.backend.id, error = %message, "proxy: cannot connect to a backend");
                    shared.table.mark_down(slot, shared.config.backend_cooldown);
                    failure = if timed_out { ProxyError::UpstreamTimeout } else { ProxyError::UpstreamUnreachable };
                    record.backend = backend_index(entry, slot);
                    if last_attempt {
                        break;
                    }
                    continue;
                }
                Err(UpstreamError::TimedOut) => {
                    metrics.upstream_error(UpstreamErrorKind::Timeout);
                    tracing::warn!(route = %entry.route.id, backend = %slot.backend.id, "proxy: the backend sent no response headers in time");
                    failure = ProxyError::UpstreamTimeout;
                    record.backend = backend_index(entry, slot);
                    break;
                }
                Err(error) => {
                    metrics.upstream_error(UpstreamErrorKind::Protocol);
                    tracing::warn!(route = %entry.route.id, backend = %slot.backend.id, %error, "proxy: the backend failed the request");
                    failure = ProxyError::UpstreamFailed;
                    record.backend = backend_index(entry, slot);
                    break;
                }
            };
            shared.table.mark_up(slot);
            record.backend = backend_index(entry, slot);
            // Released by the record, after the last byte.
            counted.keep();
            record.in_flight = true;
            // The candidates borrow the entry the record holds.
            drop(candidates);
            return respond(&shared, response, ticket, outgoing.on_client_upgrade, outgoing.accept.as_ref(), record);
        }
        drop(candidates);
        error_page(&shared, failure, outgoing.accept.as_ref(), record)
    }
}

/// Sends one request to an h2c backend through hyper-util's client (its
/// response-header timeout a timer; HTTP/1.1 goes through the pool, whose
/// sweep keeps that timeout).
async fn send_h2c(shared: &Shared, request: Request<UpstreamBody>) -> Result<Response<Incoming>, UpstreamError> {
    match tokio::time::timeout(shared.config.response_header_timeout, shared.h2c.request(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) if error.is_connect() => {
            Err(UpstreamError::Connect { timed_out: is_timeout(&error), message: error_chain(&error) })
        }
        Ok(Err(error)) => Err(UpstreamError::Failed(error_chain(&error))),
        Err(_elapsed) => Err(UpstreamError::TimedOut),
    }
}

/// Turns the backend's response into the client's: hop-by-hop headers out,
/// the body streamed, and a `101` turned into a tunnel.
fn respond(
    shared: &Shared,
    mut response: Response<Incoming>,
    ticket: Option<PoolTicket>,
    on_client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    accept: Option<&HeaderValue>,
    mut record: AccessRecord,
) -> Response<ProxyBody> {
    record.status = response.status().as_u16();
    let upgrade = strip_hop_by_hop(response.headers_mut());
    if let Some(via) = &shared.via {
        response.headers_mut().append(header::VIA, via.clone());
    }
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let (Some(on_client_upgrade), Some(upgrade)) = (on_client_upgrade, upgrade) else {
            // A 101 nobody asked for cannot be passed on.
            return error_page(shared, ProxyError::UpstreamFailed, accept, record);
        };
        let on_upstream_upgrade = hyper::upgrade::on(&mut response);
        let in_flight = record.take_in_flight();
        tokio::spawn(tunnel(
            on_client_upgrade,
            on_upstream_upgrade,
            in_flight,
            shared.stop.clone(),
            shared.alive.clone(),
        ));
        let (mut parts, _) = response.into_parts();
        parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, upgrade);
        return Response::from_parts(parts, ProxyBody::empty(Some(record)));
    }
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, ProxyBody::upstream(body, record, ticket))
}

/// Copies bytes both ways between the client and the backend after a `101`,
/// counting as in flight on the backend until either side closes.
async fn tunnel(
    on_client_upgrade: hyper::upgrade::OnUpgrade,
    on_upstream_upgrade: hyper::upgrade::OnUpgrade,
    in_flight: Option<crate::table::InFlight>,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let _in_flight = in_flight;
    let _alive = alive;
    let (client_io, upstream_io) = match tokio::try_join!(on_client_upgrade, on_upstream_upgrade) {
        Ok(ios) => ios,
        Err(error) => {
            tracing::debug!(%error, "proxy: upgrade failed");
            return;
        }
    };
    let mut client_io = TokioIo::new(client_io);
    let mut upstream_io = TokioIo::new(upstream_io);
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut client_io, &mut upstream_io) => {
            if let Err(error) = result {
                tracing::debug!(%error, "proxy: tunnel ended with an error");
            }
        }
        _ = stop.wait_for(|stop| *stop) => {}
    }
}

fn backend_index(entry: &RouteEntry, slot: &BackendSlot) -> Option<usize> {
    entry.backends.iter().position(|candidate| std::ptr::eq(candidate, slot))
}

fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE)
}

fn headers_want_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.split(',').any(|token| token.trim().eq_ignore_ascii_case("trailers")))
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = error.source();
    }
    false
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
