//! The proxy's metrics, through the `metrics` facade. Labels are bounded: the
//! route id (or `_none` for requests no route answered), a status class and an
//! error kind, never a path or a host a client made up.
//!
//! Each route version registers its handles on first use and keeps them, so
//! the hot path does not build label sets. (Install the recorder before the
//! proxy serves: handles registered without one stay no-ops.)

use metrics::{Counter, Histogram, counter, histogram};

pub(crate) const REQUESTS_TOTAL: &str = "dockyard_proxy_requests_total";
pub(crate) const REQUEST_DURATION: &str = "dockyard_proxy_request_duration_seconds";
pub(crate) const UPSTREAM_ERRORS: &str = "dockyard_proxy_upstream_errors_total";

/// The route label of requests no route answered.
pub(crate) const NO_ROUTE: &str = "_none";

/// Why talking to a backend failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpstreamErrorKind {
    /// The TCP connection was refused or failed.
    Connect,
    /// No connection or no response headers in time.
    Timeout,
    /// The connection broke or the backend spoke bad HTTP.
    Protocol,
}

impl UpstreamErrorKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
        }
    }
}

pub(crate) struct RouteMetrics {
    /// By status class: 1xx to 5xx.
    requests: [Counter; 5],
    duration: Histogram,
    errors: [Counter; 3],
}

impl RouteMetrics {
    pub(crate) fn new(route: &str) -> Self {
        let route = route.to_owned();
        let requests = ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .map(|class| counter!(REQUESTS_TOTAL, "route" => route.clone(), "status_class" => class));
        let errors = [UpstreamErrorKind::Connect, UpstreamErrorKind::Timeout, UpstreamErrorKind::Protocol]
            .map(|kind| counter!(UPSTREAM_ERRORS, "route" => route.clone(), "kind" => kind.as_str()));
        let duration = histogram!(REQUEST_DURATION, "route" => route);
        Self { requests, duration, errors }
    }

    pub(crate) fn request(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].increment(1);
        self.duration.record(seconds);
    }

    pub(crate) fn upstream_error(&self, kind: UpstreamErrorKind) {
        let index = match kind {
            UpstreamErrorKind::Connect => 0,
            UpstreamErrorKind::Timeout => 1,
            UpstreamErrorKind::Protocol => 2,
        };
        self.errors[index].increment(1);
    }
}
