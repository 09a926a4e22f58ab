//! The response body the proxy hands to hyper: the backend's body streamed
//! frame by frame (or one of the proxy's own pages), carrying the request's
//! in-flight guard and its access record until the last byte is sent or the
//! client goes away.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::Method;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::conn::RequestActivity;
use crate::metrics::RouteMetrics;
use crate::table::{BackendSlot, InFlight, RouteEntry};
use crate::upstream::PoolTicket;

/// The tracing target of the access log.
pub const ACCESS_LOG_TARGET: &str = "dockyard::proxy::access";

pub struct ProxyBody {
    kind: Kind,
    /// Written once, when the body ends or is dropped.
    record: Option<Box<AccessRecord>>,
    /// The upstream connection, back to its pool once the whole body was passed on.
    ticket: Option<PoolTicket>,
}

enum Kind {
    Upstream(Incoming),
    Full(Option<Bytes>),
}

/// One request, as the access log and the metrics see it.
pub(crate) struct AccessRecord {
    pub(crate) started: Instant,
    /// The Host header (or the request target's authority).
    pub(crate) host: Option<http::HeaderValue>,
    pub(crate) method: Method,
    pub(crate) uri: http::Uri,
    pub(crate) status: u16,
    pub(crate) route: Option<Arc<RouteEntry>>,
    pub(crate) backend: Option<usize>,
    pub(crate) bytes: u64,
    /// Whether `backend` counts this request in flight (a count kept from
    /// [`crate::table::BackendSlot::count`]): released when the record drops,
    /// after the last byte.
    pub(crate) in_flight: bool,
    /// The metrics of requests no route answered (when `route` is `None`).
    pub(crate) unrouted: Option<Arc<RouteMetrics>>,
    /// Keeps the client connection from counting as idle until the response
    /// was handed to hyper whole.
    pub(crate) _activity: RequestActivity,
}

impl AccessRecord {
    /// The host as text; empty when missing or not visible ASCII.
    pub(crate) fn host(&self) -> &str {
        self.host.as_ref().and_then(|value| value.to_str().ok()).unwrap_or("")
    }

    /// Writes the access log line and the request metrics.
    pub(crate) fn finish(self) {
        let elapsed = self.started.elapsed();
        let route_id = self.route.as_ref().map_or("-", |entry| entry.route.id.as_str());
        let backend_id = match (&self.route, self.backend) {
            (Some(entry), Some(index)) => entry.backends.get(index).map_or("-", |slot| slot.backend.id.as_str()),
            _ => "-",
        };
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            host = self.host(),
            route = route_id,
            method = %self.method,
            path = self.uri.path(),
            status = self.status,
            bytes = self.bytes,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            backend = backend_id,
        );
        let metrics = match &self.route {
            Some(entry) => Some(entry.metrics.get_or_init(|| RouteMetrics::new(&entry.route.id))),
            None => self.unrouted.as_deref(),
        };
        if let Some(metrics) = metrics {
            metrics.request(self.status, elapsed.as_secs_f64());
        }
        // The in-flight count ends here (drop), after the last byte.
    }

    /// The backend slot counting this request in flight, if any.
    fn counted_slot(&self) -> Option<&BackendSlot> {
        let index = self.backend.filter(|_| self.in_flight)?;
        self.route.as_ref()?.backends.get(index)
    }

    /// Moves the in-flight count into an owned guard (for a tunnel that
    /// outlives the request).
    pub(crate) fn take_in_flight(&mut self) -> Option<InFlight> {
        let guard = self.counted_slot().map(BackendSlot::adopt);
        self.in_flight = false;
        guard
    }
}

impl Drop for AccessRecord {
    fn drop(&mut self) {
        if let Some(slot) = self.counted_slot() {
            slot.release();
        }
    }
}

impl ProxyBody {
    pub(crate) fn upstream(body: Incoming, record: AccessRecord, ticket: Option<PoolTicket>) -> Self {
        let mut this = Self { kind: Kind::Upstream(body), record: Some(Box::new(record)), ticket };
        this.give_back_if_done();
        this
    }

    pub(crate) fn full(bytes: Bytes, mut record: AccessRecord) -> Self {
        record.bytes = bytes.len() as u64;
        Self { kind: Kind::Full(Some(bytes)), record: Some(Box::new(record)), ticket: None }
    }

    pub(crate) fn empty(record: Option<AccessRecord>) -> Self {
        Self { kind: Kind::Full(None), record: record.map(Box::new), ticket: None }
    }

    fn finish(&mut self) {
        self.give_back_if_done();
        if let Some(record) = self.record.take() {
            record.finish();
        }
    }

    /// Once the backend's body has ended, its connection can serve another
    /// request. (hyper stops polling a body that says it ended, so this is
    /// checked after every frame, not only on the final `None`.) A body cut
    /// short keeps its ticket, and the connection closes when it drops.
    fn give_back_if_done(&mut self) {
        if let Kind::Upstream(body) = &self.kind
            && body.is_end_stream()
            && let Some(ticket) = self.ticket.take()
        {
            ticket.give_back();
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        match &mut this.kind {
            Kind::Upstream(body) => {
                let poll = Pin::new(body).poll_frame(cx);
                match &poll {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let (Some(data), Some(record)) = (frame.data_ref(), this.record.as_mut()) {
                            record.bytes += data.len() as u64;
                        }
                        this.give_back_if_done();
                    }
                    Poll::Ready(None) => {
                        if let Some(ticket) = this.ticket.take() {
                            ticket.give_back();
                        }
                        this.finish();
                    }
                    Poll::Ready(Some(Err(_))) | Poll::Pending => {}
                }
                poll
            }
            Kind::Full(bytes) => match bytes.take() {
                Some(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                None => {
                    this.finish();
                    Poll::Ready(None)
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Upstream(body) => body.is_end_stream(),
            Kind::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Upstream(body) => body.size_hint(),
            Kind::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
        }
    }
}
