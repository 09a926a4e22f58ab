//! The route table: which service answers a Host, on which backends, and how
//! many requests each backend has in flight.
//!
//! Readers (every proxied request) load an immutable [`Snapshot`] through
//! `arc-swap`: no lock, no contention between requests. Writers (the deploy
//! code, the reconciler, the bus listener) are rare; they take a mutex among
//! themselves, build a new snapshot from the current one and swap it in whole,
//! so a reader sees either the old table or the new one, never a mix.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::uri::Authority;

use crate::metrics::RouteMetrics;

/// One deployed service as the proxy sees it: the hosts it answers and the
/// healthy containers that serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route's id: the service id. Metrics and logs are labelled with it.
    pub id: String,
    /// Every host the route answers: the generated `{service}-{project}.{base}`
    /// now, custom domains later. Matched case-insensitively, without port or
    /// trailing dot. When two routes claim a host, the one written last wins.
    pub hosts: Vec<String>,
    /// The service's name, for logs and error pages.
    pub service: String,
    /// The project's name, for logs and error pages.
    pub project: String,
    /// The healthy containers only. Empty means the error page for `status`.
    pub backends: Vec<Backend>,
    pub status: RouteStatus,
    /// How the proxy talks to the backends.
    pub upstream: UpstreamProtocol,
    /// How clients reach the route over TLS. Only [`TlsPolicy::Off`] exists
    /// until custom domains and ACME land; see [`TlsPolicy`].
    pub tls: TlsPolicy,
}

impl Route {
    /// A route with one host, no backend, `NotDeployed`, HTTP/1.1 upstream and
    /// no TLS; fill in the rest with struct update syntax or the fields.
    pub fn new(id: impl Into<String>, host: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            hosts: vec![host.into()],
            service: String::new(),
            project: String::new(),
            backends: Vec::new(),
            status: RouteStatus::NotDeployed,
            upstream: UpstreamProtocol::Http1,
            tls: TlsPolicy::Off,
        }
    }
}

/// One container of a service, reachable at `addr` from Dockyard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The container's id (for the access log; never shown to clients).
    pub id: String,
    pub addr: SocketAddr,
}

/// What the service is doing, which decides the error page when it has no
/// healthy backend. A route with backends is proxied whatever its status (a
/// redeploy keeps the old containers serving while `Deploying`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteStatus {
    /// Running; with no backend it means every container failed its health check.
    #[default]
    Serving,
    /// A deployment is under way (503 with `Retry-After`).
    Deploying,
    /// Stopped by a user.
    Stopped,
    /// The last deployment failed, or the containers keep dying.
    Failing,
    /// The service exists but was never deployed.
    NotDeployed,
}

/// The protocol spoken to the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with a keep-alive pool; WebSocket upgrades work.
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (gRPC and the like). One
    /// multiplexed connection per backend; `Upgrade` requests are not possible.
    H2c,
}

/// TLS for the route's hosts. Room for the next issue: custom domains get
/// certificates from ACME per host (`Acme { hosts }`, issued and renewed by a
/// background task with instant-acme, stored in the database) or an uploaded
/// certificate, and a TLS listener picks the certificate by SNI through the
/// same host lookup as [`RouteTable::lookup`]. Until then every route is
/// plain HTTP and `X-Forwarded-Proto` is `http`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsPolicy {
    #[default]
    Off,
}

/// The proxy's routes, shared by the listener and the code that deploys.
/// Cloning is cheap (one `Arc`); every clone sees the same table.
#[derive(Clone)]
pub struct RouteTable {
    inner: Arc<Inner>,
}

struct Inner {
    snapshot: ArcSwap<Snapshot>,
    /// Serializes writers, which read the current snapshot and replace it.
    writer: Mutex<Writer>,
    /// One counter per backend address, shared by every route version that
    /// names it, so a request that started on an old version still counts
    /// after the switch.
    stats: Mutex<HashMap<SocketAddr, Arc<BackendStats>>>,
    /// The clock origin of `BackendStats::down_until`.
    epoch: Instant,
}

#[derive(Default)]
struct Writer {
    /// Increases with every write; decides which route wins a host both claim.
    generation: u64,
}

#[derive(Default)]
pub(crate) struct Snapshot {
    by_id: HashMap<String, Arc<RouteEntry>>,
    /// foldhash: looked up once per request (SipHash showed in profiles);
    /// only routes insert keys, so client-chosen hosts cannot flood it.
    by_host: foldhash::HashMap<String, Arc<RouteEntry>>,
}

/// One route version as the request path uses it.
pub(crate) struct RouteEntry {
    pub(crate) route: Arc<Route>,
    pub(crate) backends: Box<[BackendSlot]>,
    /// Round-robin position.
    cursor: AtomicUsize,
    generation: u64,
    /// The route's metric handles, registered on first use.
    pub(crate) metrics: OnceLock<RouteMetrics>,
}

pub(crate) struct BackendSlot {
    pub(crate) backend: Backend,
    /// `addr` as a URI authority, made once.
    pub(crate) authority: Authority,
    pub(crate) stats: Arc<BackendStats>,
}

/// A backend's counters, shared by every worker thread.
///
/// The in-flight count is written by every request, from every worker; the
/// cooldown is read by every request. Each has its own cache line, so the
/// reads do not miss whenever another core has just counted a request.
pub(crate) struct BackendStats {
    in_flight: CacheLine<AtomicUsize>,
    /// Milliseconds since the table's epoch until which a failed backend is
    /// tried last; 0 when healthy.
    down_until: CacheLine<AtomicU64>,
}

impl BackendStats {
    fn new() -> Self {
        Self { in_flight: CacheLine(AtomicUsize::new(0)), down_until: CacheLine(AtomicU64::new(0)) }
    }
}

/// Aligned to two cache lines (x86 prefetches lines in pairs).
#[repr(align(128))]
struct CacheLine<T>(T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Counts one request (or open WebSocket) on a backend until dropped: the
/// owned form, for what outlives the request (a tunnel).
pub(crate) struct InFlight(Arc<BackendStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts one request on a backend while it is being sent: the borrowed
/// form, with no reference count to touch. [`Counted::keep`] hands the count
/// on to whoever releases it with [`BackendSlot::release`].
pub(crate) struct Counted<'a>(&'a BackendSlot);

impl Counted<'_> {
    /// Keeps the count after this guard: the caller releases it later.
    pub(crate) fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl BackendSlot {
    /// Counts a request in flight on this backend until the guard drops or is kept.
    pub(crate) fn count(&self) -> Counted<'_> {
        self.stats.in_flight.fetch_add(1, Ordering::AcqRel);
        Counted(self)
    }

    /// Ends a count kept with [`Counted::keep`].
    pub(crate) fn release(&self) {
        self.stats.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Moves a kept count into an owned guard.
    pub(crate) fn adopt(&self) -> InFlight {
        InFlight(Arc::clone(&self.stats))
    }
}

impl RouteEntry {
    /// The backends in the order to try them: round robin from the next
    /// position, backends that recently refused connections last.
    pub(crate) fn candidates(&self, now_ms: u64) -> impl Iterator<Item = &BackendSlot> {
        let n_backends = self.backends.len();
        // One backend (the usual single replica) needs no turn taking, and
        // the cursor is written from every worker thread.
        let start = if n_backends <= 1 { 0 } else { self.cursor.fetch_add(1, Ordering::Relaxed) % n_backends };
        let rotation = move || (0..n_backends).map(move |offset| &self.backends[(start + offset) % n_backends]);
        let is_down = move |slot: &&BackendSlot| slot.stats.down_until.load(Ordering::Relaxed) > now_ms;
        rotation().filter(move |slot| !is_down(slot)).chain(rotation().filter(is_down))
    }
}

impl Default for RouteTable {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable").field("routes", &self.inner.snapshot.load().by_id.len()).finish()
    }
}

impl RouteTable {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                snapshot: ArcSwap::from_pointee(Snapshot::default()),
                writer: Mutex::new(Writer::default()),
                stats: Mutex::new(HashMap::new()),
                epoch: Instant::now(),
            }),
        }
    }

    /// Replaces every route (a full load from the database). When two routes
    /// claim a host, the later one in `routes` wins.
    pub fn replace(&self, routes: Vec<Route>) {
        let mut writer = self.writer();
        let mut by_id = HashMap::with_capacity(routes.len());
        for route in routes {
            writer.generation += 1;
            let entry = self.entry(route, writer.generation);
            by_id.insert(entry.route.id.clone(), entry);
        }
        self.install(by_id);
    }

    /// Adds a route or replaces the one with the same id. The route takes over
    /// its hosts from any other route that claimed them.
    pub fn upsert(&self, route: Route) {
        let mut writer = self.writer();
        writer.generation += 1;
        let entry = self.entry(route, writer.generation);
        let mut by_id = self.inner.snapshot.load().by_id.clone();
        by_id.insert(entry.route.id.clone(), entry);
        self.install(by_id);
    }

    /// Removes a route; answers whether it was there.
    pub fn remove(&self, route_id: &str) -> bool {
        let _writer = self.writer();
        let mut by_id = self.inner.snapshot.load().by_id.clone();
        let removed = by_id.remove(route_id).is_some();
        if removed {
            self.install(by_id);
        }
        removed
    }

    /// The route answering `host` (a `Host` header value: any case, with or
    /// without a port or a trailing dot).
    pub fn lookup(&self, host: &str) -> Option<Arc<Route>> {
        self.resolve(host).map(|entry| Arc::clone(&entry.route))
    }

    /// The route with this id.
    pub fn get(&self, route_id: &str) -> Option<Arc<Route>> {
        self.inner.snapshot.load().by_id.get(route_id).map(|entry| Arc::clone(&entry.route))
    }

    /// Every route, in no particular order.
    pub fn routes(&self) -> Vec<Arc<Route>> {
        self.inner.snapshot.load().by_id.values().map(|entry| Arc::clone(&entry.route)).collect()
    }

    /// Requests in flight on the backend at `addr`, over every route and
    /// route version, including open WebSocket (and other upgraded)
    /// connections. 0 for an address the table never saw.
    pub fn in_flight(&self, addr: &SocketAddr) -> usize {
        self.stats_map().get(addr).map_or(0, |stats| stats.in_flight.load(Ordering::Acquire))
    }

    /// Waits until none of `addrs` has a request in flight, or until
    /// `deadline` passes; answers whether they drained. Call it after the
    /// route switch (`upsert` without those backends) and before stopping
    /// them. It first waits a few milliseconds, because a request that read
    /// the table just before the switch may not have counted itself yet.
    pub async fn drain(&self, addrs: &[SocketAddr], deadline: Duration) -> bool {
        const SETTLE: Duration = Duration::from_millis(5);
        const POLL: Duration = Duration::from_millis(10);
        let end = tokio::time::Instant::now() + deadline;
        tokio::time::sleep(SETTLE.min(deadline)).await;
        loop {
            if addrs.iter().all(|addr| self.in_flight(addr) == 0) {
                return true;
            }
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep_until((tokio::time::Instant::now() + POLL).min(end)).await;
        }
    }

    pub(crate) fn resolve(&self, host: &str) -> Option<Arc<RouteEntry>> {
        let host = normalize_host(host)?;
        self.inner.snapshot.load().by_host.get(host.as_ref()).cloned()
    }

    /// Milliseconds since the table's epoch, the clock of `mark_down`.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Tries the backend last among its route's backends for `cooldown`.
    pub(crate) fn mark_down(&self, slot: &BackendSlot, cooldown: Duration) {
        let until = self.now_ms().saturating_add(u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX)).max(1);
        slot.stats.down_until.store(until, Ordering::Relaxed);
    }

    pub(crate) fn mark_up(&self, slot: &BackendSlot) {
        if slot.stats.down_until.load(Ordering::Relaxed) != 0 {
            slot.stats.down_until.store(0, Ordering::Relaxed);
        }
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stats_map(&self) -> MutexGuard<'_, HashMap<SocketAddr, Arc<BackendStats>>> {
        self.inner.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry(&self, mut route: Route, generation: u64) -> Arc<RouteEntry> {
        route.hosts = route.hosts.iter().filter_map(|host| normalize_host(host).map(Cow::into_owned)).collect();
        let mut stats = self.stats_map();
        let backends = route
            .backends
            .iter()
            .map(|backend| BackendSlot {
                backend: backend.clone(),
                authority: authority_of(backend.addr),
                stats: Arc::clone(stats.entry(backend.addr).or_insert_with(|| Arc::new(BackendStats::new()))),
            })
            .collect();
        Arc::new(RouteEntry {
            route: Arc::new(route),
            backends,
            cursor: AtomicUsize::new(0),
            generation,
            metrics: OnceLock::new(),
        })
    }

    /// Builds the host index for `by_id` and swaps the new snapshot in, then
    /// forgets the counters no route version and no request holds any more.
    fn install(&self, by_id: HashMap<String, Arc<RouteEntry>>) {
        let mut by_host: foldhash::HashMap<String, Arc<RouteEntry>> =
            foldhash::HashMap::with_capacity_and_hasher(by_id.len(), foldhash::fast::RandomState::default());
        for entry in by_id.values() {
            for host in &entry.route.hosts {
                match by_host.get(host) {
                    Some(other) if other.generation > entry.generation => {
                        tracing::warn!(host, kept = %other.route.id, ignored = %entry.route.id, "two routes claim a host");
                    }
                    Some(other) => {
                        tracing::warn!(host, kept = %entry.route.id, ignored = %other.route.id, "two routes claim a host");
                        by_host.insert(host.clone(), Arc::clone(entry));
                    }
                    None => {
                        by_host.insert(host.clone(), Arc::clone(entry));
                    }
                }
            }
        }
        self.inner.snapshot.store(Arc::new(Snapshot { by_id, by_host }));
        // The map's own reference is the only one left once no snapshot (old
        // ones die with their last request) and no in-flight guard holds it.
        self.stats_map().retain(|_, stats| Arc::strong_count(stats) > 1);
    }
}

fn authority_of(addr: SocketAddr) -> Authority {
    // A socket address always renders as a valid authority (`1.2.3.4:80`,
    // `[::1]:80`); the fallback only keeps this free of a panic path.
    Authority::try_from(addr.to_string()).unwrap_or_else(|_| Authority::from_static("127.0.0.1"))
}

/// A `Host` value as the table keys it: lower case, no port, no trailing dot.
/// `None` when nothing is left.
pub fn normalize_host(host: &str) -> Option<Cow<'_, str>> {
    // The common case, checked in one pass: a lowercase name with no port,
    // no IPv6 brackets, no trailing dot and no surrounding space.
    if !host.is_empty()
        && !host.ends_with('.')
        && host.bytes().all(|byte| !matches!(byte, b':' | b'[' | b'A'..=b'Z') && !byte.is_ascii_whitespace())
    {
        return Some(Cow::Borrowed(host));
    }
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 literal, `[::1]:8000`: keep the brackets, drop the port.
        let end = rest.find(']')?;
        &host[..end + 2]
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Some(Cow::Owned(name.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(port: u16) -> Backend {
        Backend { id: format!("c{port}"), addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    #[test]
    fn hosts_are_matched_without_case_port_or_trailing_dot() {
        assert_eq!(normalize_host("Web-Shop.LOCALHOST:8000").as_deref(), Some("web-shop.localhost"));
        assert_eq!(normalize_host("web-shop.localhost.").as_deref(), Some("web-shop.localhost"));
        assert_eq!(normalize_host("[::1]:8000").as_deref(), Some("[::1]"));
        assert_eq!(normalize_host(":8000"), None);
        assert_eq!(normalize_host(""), None);
        assert!(matches!(normalize_host("web-shop.localhost"), Some(Cow::Borrowed("web-shop.localhost"))));
        assert_eq!(normalize_host(" web-shop.localhost\t").as_deref(), Some("web-shop.localhost"));
        assert_eq!(normalize_host("."), None);
    }

    #[test]
    fn upsert_moves_hosts_and_remove_forgets_them() {
        let table = RouteTable::new();
        table.upsert(Route::new("s1", "a.localhost"));
        assert_eq!(table.lookup("A.localhost:80").map(|route| route.id.clone()).as_deref(), Some("s1"));
        table.upsert(Route { hosts: vec!["b.localhost".into()], ..Route::new("s1", "") });
        assert!(table.lookup("a.localhost").is_none());
        assert!(table.lookup("b.localhost").is_some());
        assert!(table.remove("s1"));
        assert!(!table.remove("s1"));
        assert!(table.lookup("b.localhost").is_none());
    }

    #[test]
    fn the_route_written_last_wins_a_contested_host() {
        let table = RouteTable::new();
        table.replace(vec![Route::new("s1", "x.localhost"), Route::new("s2", "x.localhost")]);
        assert_eq!(table.lookup("x.localhost").map(|route| route.id.clone()).as_deref(), Some("s2"));
        table.upsert(Route::new("s1", "x.localhost"));
        assert_eq!(table.lookup("x.localhost").map(|route| route.id.clone()).as_deref(), Some("s1"));
    }

    #[test]
    fn candidates_rotate_and_put_failed_backends_last() {
        let table = RouteTable::new();
        table.upsert(Route { backends: vec![backend(1), backend(2), backend(3)], ..Route::new("s", "h") });
        let entry = table.resolve("h").expect("route");
        let firsts: Vec<u16> =
            (0..3).map(|_| entry.candidates(0).next().expect("a backend").backend.addr.port()).collect();
        assert_eq!(firsts, vec![1, 2, 3]);
        table.mark_down(&entry.backends[0], Duration::from_secs(60));
        let order: Vec<u16> = entry.candidates(table.now_ms()).map(|slot| slot.backend.addr.port()).collect();
        assert_eq!(order.last(), Some(&1));
        assert_eq!(order.len(), 3);
    }

    #[test]
    fn in_flight_counts_survive_a_route_switch_and_are_forgotten_after() {
        let table = RouteTable::new();
        let old = backend(1);
        table.upsert(Route { backends: vec![old.clone()], ..Route::new("s", "h") });
        let entry = table.resolve("h").expect("route");
        // A count kept past its request (a tunnel's), in its owned form.
        entry.backends[0].count().keep();
        let guard = entry.backends[0].adopt();
        drop(entry);
        table.upsert(Route { backends: vec![backend(2)], ..Route::new("s", "h") });
        assert_eq!(table.in_flight(&old.addr), 1);
        drop(guard);
        assert_eq!(table.in_flight(&old.addr), 0);
        table.upsert(Route { backends: vec![backend(2)], ..Route::new("s", "h") });
        assert!(!table.stats_map().contains_key(&old.addr));
    }

    #[test]
    fn a_count_ends_with_its_guard_unless_kept_and_then_with_release() {
        let table = RouteTable::new();
        let addr = backend(1);
        table.upsert(Route { backends: vec![addr.clone()], ..Route::new("s", "h") });
        let entry = table.resolve("h").expect("route");
        let slot = &entry.backends[0];
        drop(slot.count());
        assert_eq!(table.in_flight(&addr.addr), 0, "a dropped guard ends its count");
        slot.count().keep();
        assert_eq!(table.in_flight(&addr.addr), 1, "a kept count stays");
        slot.release();
        assert_eq!(table.in_flight(&addr.addr), 0);
    }
}
