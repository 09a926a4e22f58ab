//! Dockyard's reverse proxy for deployed services: the [`RouteTable`] that maps
//! a Host to a service's healthy containers, and [`serve`], the listener that
//! forwards requests to them.
//!
//! API Boundary: this crate knows HTTP and sockets, nothing else. It does not
//! read the database, the bus, Docker or the API's config: the binary builds
//! [`Route`]s from the services and deployments it loads, keeps the table up to
//! date (a full [`RouteTable::replace`] at start, [`RouteTable::upsert`] /
//! [`RouteTable::remove`] on bus events), and hands a listener, the table, a
//! [`ProxyConfig`] and a shutdown future to [`serve`].
//!
//! The request path:
//!
//! 1. The Host header (or `:authority` for HTTP/2) is normalized (lower case,
//!    no port, no trailing dot) and looked up in the table's current snapshot
//!    without a lock ([`RouteTable::lookup`]). No route: 404 `route_not_found`.
//! 2. A route with no backend answers 503 with a page saying why, from its
//!    [`RouteStatus`]: deploying (with `Retry-After`), stopped, failing, or
//!    never deployed.
//! 3. Backends are taken round robin; one that refused a connection recently
//!    is tried last. A connect failure moves an idempotent request with no body
//!    to the next backend; anything else gets 502 `upstream_unreachable`. No
//!    response headers within `response_header_timeout` is 504 `upstream_timeout`.
//! 4. Hop-by-hop headers go (RFC 9110 §7.6.1, and every header `Connection`
//!    names); `X-Forwarded-For` is appended to, `X-Forwarded-Proto` and
//!    `X-Forwarded-Host` are set; the client's Host is kept.
//! 5. Bodies stream both ways frame by frame, never buffered. A `101` answer to
//!    an `Upgrade` request (WebSocket) becomes a byte tunnel.
//! 6. When the response body ends (or the client goes away) the request is
//!    written to the access log (target [`ACCESS_LOG_TARGET`]) and to the
//!    metrics `dockyard_proxy_requests_total{route,status_class}`,
//!    `dockyard_proxy_request_duration_seconds{route}` and
//!    `dockyard_proxy_upstream_errors_total{route,kind}`.
//!
//! Clients speak HTTP/1.1 or HTTP/2 with prior knowledge (h2c) on the same
//! port; backends get HTTP/1.1 over a keep-alive pool, or h2c when the route
//! says [`UpstreamProtocol::H2c`].
//!
//! Threads: [`serve`] accepts on the caller's runtime and hands each
//! connection to one of [`ProxyConfig::threads`] worker threads (one per core
//! by default), the one with the fewest open connections. Each worker runs a
//! single-threaded tokio runtime with its own upstream pool and h2c client, so
//! a request never wakes a task on another thread; the route table, the
//! in-flight counts and the metrics are shared.
//!
//! **Invariant:** a request counts as in flight on its backend from the moment
//! it is sent until its response body has been sent to the client or dropped;
//! a WebSocket counts until either side closes. The count is per backend
//! address, across route versions, so a zero-downtime redeploy is: start the
//! new containers, `upsert` the route with only the new backends,
//! [`RouteTable::drain`] the old addresses with a deadline, stop the old
//! containers.
//!
//! **Invariant:** the proxy's own pages never show a backend address or an
//! upstream error's text; those go to the log.
//!
//! TLS and custom domains come next: [`TlsPolicy`] is where a route will say
//! which of its hosts get an ACME certificate, and the TLS listener will pick
//! certificates by SNI through the same host lookup.

mod body;
mod conn;
mod headers;
mod metrics;
mod pages;
mod server;
mod signal;
mod table;
mod upstream;

pub use body::{ACCESS_LOG_TARGET, ProxyBody};
pub use pages::ProxyError;
pub use server::{ProxyConfig, serve};
pub use table::{Backend, Route, RouteStatus, RouteTable, TlsPolicy, UpstreamProtocol, normalize_host};
