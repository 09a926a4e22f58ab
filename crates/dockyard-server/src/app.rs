//! Assembling the router and running the server: listeners, background tasks,
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dockyard_web::{Outcome, WebAssets};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::middleware::{
    MakeUlidRequestId, csrf, ip_rate_limit, panic_response, problem_bodies, record_metrics, security_headers,
};
use crate::routes;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application: documented routes, the reference page, and the
/// middleware stack around them.
pub fn router(state: AppState) -> Router {
    let (api, api_doc) = routes::api().split_for_parts();
    let doc = crate::openapi::document(api_doc);
    let mut app: Router<AppState> =
        api.merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", doc)).route_layer(from_fn(record_metrics));
    if state.config.metrics.enabled && state.config.metrics.listen.is_none() {
        app = app.route("/metrics", get(routes::health::metrics));
    }
    let web = Arc::new(WebAssets::embedded());
    let app = app.fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
        let web = web.clone();
        async move { web_or_not_found(&web, &method, &uri, &headers) }
    });
    with_edge_layers(app, state)
}

/// Requests no route took: the web app's files and pages (see `dockyard_web`), or
/// the API's "no such route" problem.
fn web_or_not_found(web: &WebAssets, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
    match web.serve(method, uri.path(), headers) {
        Outcome::Serve(response) => response,
        Outcome::AssetNotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "asset_not_found", "no such file in the web app's build")
                .into_response()
        }
        Outcome::Pass => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response(),
    }
}

/// The middleware stack, outermost first. Public so tests can wrap their own
/// routes (a panicking handler, a slow one) in exactly the production stack.
pub fn with_edge_layers(app: Router<AppState>, state: AppState) -> Router {
    let config = &state.config;
    let body_limit = config.http.body_limit_bytes;
    let cors = (!config.http.cors_allowed_origins.is_empty()).then(|| {
        let origins: Vec<HeaderValue> =
            config.http.cors_allowed_origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::IF_MATCH, REQUEST_ID])
            .expose_headers([header::ETAG, header::RETRY_AFTER, REQUEST_ID])
            .max_age(Duration::from_secs(600))
    });
    let layers = ServiceBuilder::new()
        .layer(from_fn(sanitize_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeUlidRequestId))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let request_id =
                        request.headers().get(REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or("");
                    // The path only: query strings may carry tokens.
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(from_fn_with_state(state.clone(), security_headers))
        .layer(from_fn(problem_bodies))
        .option_layer(cors)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.config.request_timeout()))
        .layer(from_fn_with_state(state.clone(), ip_rate_limit))
        .layer(from_fn_with_state(state.clone(), csrf))
        // Extractors (JSON bodies) stop at `http.body_limit_bytes`; file uploads read
        // their raw bodies against the workspace's file-size limit instead.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(panic_response));
    app.layer(layers).with_state(state)
}

/// Drops an incoming `x-request-id` that is not a short token, so clients
/// cannot smuggle arbitrary text into our logs; a fresh id replaces it.
async fn sanitize_request_id(mut request: Request, next: Next) -> Response {
    let valid = request.headers().get(REQUEST_ID).and_then(|value| value.to_str().ok()).is_none_or(|id| {
        !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    if !valid {
        request.headers_mut().remove(REQUEST_ID);
    }
    next.run(request).await
}

/// A bound, not yet running server.
pub struct Server {
    state: AppState,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    proxy_listener: TcpListener,
    routes: dockyard_proxy::RouteTable,
}

impl Server {
    /// Binds the listeners. Binding happens before anything else, so the
    /// address (port 0 included) is known and stable once this returns.
    pub async fn bind(state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(state.config.listen).await?;
        let metrics_listener = match (state.config.metrics.enabled, state.config.metrics.listen) {
            (true, Some(address)) => Some(TcpListener::bind(address).await?),
            _ => None,
        };
        let proxy_listener = TcpListener::bind(state.config.proxy_listen).await?;
        Ok(Self { state, listener, metrics_listener, proxy_listener, routes: dockyard_proxy::RouteTable::new() })
    }

    /// The reverse proxy's bound address.
    pub fn proxy_addr(&self) -> std::io::Result<SocketAddr> {
        self.proxy_listener.local_addr()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// The bound address as a URL (the real port, also with `--listen …:0`).
    pub fn bound_url(&self) -> String {
        match self.local_addr() {
            Ok(address) => format!("http://{address}"),
            Err(_) => self.state.config.public_origin(),
        }
    }

    /// The URL people open: the configured public URL, or the bound address.
    pub fn url(&self) -> String {
        match &self.state.config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => self.bound_url(),
        }
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests (and running jobs) finish for up to `http.shutdown_grace_secs`,
    /// and returns. `on_ready` runs once the database is migrated (it prints the
    /// setup token); the job workers start then too. On shutdown the workers stop
    /// claiming; a job still running when the grace period ends keeps its lease
    /// and is retried (here or on another replica) once the lease expires.
    pub async fn run<F, R>(self, shutdown: F, on_ready: R) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
        R: FnOnce(Option<String>) + Send + 'static,
    {
        let Server { state, listener, metrics_listener, proxy_listener, routes } = self;
        let proxy_port = proxy_listener.local_addr().map(|address| address.port()).unwrap_or(8000);
        let stop_tx = state.stop.clone();
        let stop_rx = stop_tx.subscribe();
        let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);

        let (migrated_tx, migrated_rx) = watch::channel(false);
        // Set once deploys are on or known to be off: readiness waits for it, so
        // a deploy asked for right after start never finds the engine missing.
        let (engine_settled_tx, engine_settled_rx) = watch::channel(false);
        tokio::spawn(bootstrap(state.clone(), stop_rx.clone(), migrated_tx, engine_settled_rx, on_ready));
        tokio::spawn(prune_sessions(state.clone(), stop_rx.clone()));
        if let Some(handle) = state.metrics.clone() {
            tokio::spawn(crate::telemetry::run_metrics_upkeep(
                handle,
                crate::telemetry::METRICS_UPKEEP_PERIOD,
                state.stopped(),
            ));
        }
        // Closes idle terminals, and every terminal at shutdown.
        let sweeper = state.clone();
        tokio::spawn(async move { sweeper.services.run_terminal_sweeper(sweeper.stopped()).await });
        let workers =
            tokio::spawn(run_job_workers(state.clone(), migrated_rx, engine_settled_tx, routes.clone(), proxy_port));
        {
            let proxy_config = dockyard_proxy::ProxyConfig {
                shutdown_grace: grace,
                threads: state.config.proxy_threads,
                client_header_timeout: Duration::from_secs(state.config.proxy_header_timeout_seconds),
                response_header_timeout: Duration::from_secs(state.config.proxy_response_timeout_seconds),
                ..Default::default()
            };
            let stopped = state.stopped();
            let routes = routes.clone();
            tokio::spawn(async move {
                dockyard_proxy::serve(proxy_listener, routes, proxy_config, stopped).await;
            });
        }
        if let Some(metrics_listener) = metrics_listener {
            let metrics_app = Router::new().route("/metrics", get(routes::health::metrics)).with_state(state.clone());
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let served = axum::serve(metrics_listener, metrics_app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|stopped| *stopped).await;
                    })
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "metrics listener failed");
                }
            });
        }

        let app = router(state);
        let mut stop = stop_rx.clone();
        // No Nagle delay: a terminal's echo and other small WebSocket frames go out at once.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .into_future();
        tokio::pin!(server);
        let stopper = stop_tx.clone();
        let shutdown = async move {
            shutdown.await;
            tracing::info!(grace_secs = grace.as_secs(), "shutting down: draining in-flight requests and jobs");
            stopper.send_replace(true);
            tokio::time::sleep(grace).await;
        };
        let drained = async move {
            let served = (&mut server).await;
            // Also when serving failed on its own: stop the workers and wait for their jobs.
            stop_tx.send_replace(true);
            let _ = workers.await;
            served
        };
        tokio::select! {
            served = drained => served,
            () = shutdown => {
                tracing::warn!("grace period over; closing the remaining connections, unfinished jobs keep their leases");
                Ok(())
            }
        }
    }
}

/// Migrates the database, retrying with backoff while it is unreachable, then
/// marks the state ready and hands the setup token (on an empty instance) to `on_ready`.
async fn bootstrap<R: FnOnce(Option<String>)>(
    state: AppState,
    mut stop: watch::Receiver<bool>,
    migrated: watch::Sender<bool>,
    mut engine_settled: watch::Receiver<bool>,
    on_ready: R,
) {
    let mut delay = Duration::from_millis(250);
    loop {
        match state.services.store().migrate().await {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "database not ready");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    migrated.send_replace(true);
    // The job workers connect the container engine first (see `run_job_workers`).
    tokio::select! {
        settled = engine_settled.wait_for(|settled| *settled) => {
            if settled.is_err() {
                return;
            }
        }
        _ = stop.wait_for(|stopped| *stopped) => return,
    }
    state.ready.store(true, Ordering::Release);
    tracing::info!("database migrated and ready");
    match state.services.prepare_setup_token().await {
        Ok(token) => on_ready(token),
        Err(error) => {
            tracing::error!(%error, "could not prepare the setup token");
            on_ready(None);
        }
    }
}

/// Starts the job workers once the database is migrated; they stop claiming at
/// shutdown, and this returns when the jobs they were running have ended.
async fn run_job_workers(
    state: AppState,
    mut migrated: watch::Receiver<bool>,
    engine_settled: watch::Sender<bool>,
    routes: dockyard_proxy::RouteTable,
    proxy_port: u16,
) {
    let stopped = state.stopped();
    tokio::select! {
        ready = migrated.wait_for(|migrated| *migrated) => {
            if ready.is_err() {
                return;
            }
        }
        () = stopped => return,
    }
    // Deploys need the engine before the workers claim deploy jobs.
    crate::deploy::enable(&state, routes, proxy_port).await;
    engine_settled.send_replace(true);
    let profiles: Vec<_> = state.config.agents.profiles.iter().map(|profile| profile.to_input()).collect();
    if !profiles.is_empty() {
        match state.services.sync_agent_profiles(profiles).await {
            Ok(synced) => tracing::info!(synced, "agent profiles from the config file"),
            Err(error) => tracing::error!(%error, "the agent profiles of the config file are invalid"),
        }
    }
    let workers = state.services.start_workers(state.config.jobs.workers, state.stopped());
    // At shutdown running agents are stopped, so they do not hold the exit up.
    let agent_stop = {
        let (services, stopped) = (state.services.clone(), state.stopped());
        async move {
            stopped.await;
            services.stop_agents();
        }
    };
    let agents = state.services.start_agent_workers(state.config.agents.max_running, agent_stop);
    let (workers, agents) = tokio::join!(workers, agents);
    for result in [workers, agents] {
        if let Err(error) = result {
            tracing::error!(%error, "the job workers failed");
        }
    }
}

/// Deletes expired sessions every hour.
async fn prune_sessions(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        if state.is_ready() {
            match state.services.prune_sessions().await {
                Ok(n) if n > 0 => tracing::info!(pruned = n, "removed expired sessions"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not prune sessions"),
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives while
/// the server is still starting is not lost (nor fatal).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                (Ok(mut terminate), Err(_)) => {
                    terminate.recv().await;
                }
                (Err(_), Ok(mut interrupt)) => {
                    interrupt.recv().await;
                }
                (Err(_), Err(_)) => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
