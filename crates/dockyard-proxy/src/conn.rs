//! A worker's client connections as the worker sees them: each has a
//! [`ConnSignal`] through which the worker tells it to drain, to stop, or
//! that it sat idle too long, and which counts its requests.
//!
//! The flags and the weak list are [`crate::signal`]'s, shared with the
//! upstream pool.
//!
//! Why not a `watch` receiver and hyper's header-read timer per connection:
//! both were paid per request. The connection task polled the watch on every
//! wake-up (several per request), and hyper armed and cleared a timer-wheel
//! entry for every request head: the timer alone was about 1,560 of the
//! 37,100 instructions of a proxied request (callgrind, one worker). Here a
//! wake-up costs an atomic waker registration and a load, and a request five
//! atomic operations. One sweep per worker, every half client-header
//! timeout, finds the idle connections.
//!
//! Idle means: no request in progress, and none started or finished, for
//! [`QUIET_SWEEPS`] sweeps in a row. That covers both a client that never
//! finishes its request head (slowloris) and a keep-alive connection left
//! open. Such a connection is closed between one and one and a half timeouts
//! after its last activity (the first quiet sweep may come right after it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::task::Context;

use crate::signal::{Flags, Watched};

/// Finish what is in flight, take no new requests.
pub(crate) const DRAIN: u8 = 1;
/// Close now.
pub(crate) const STOP: u8 = 2;
/// Idle past the client-header timeout: close now.
pub(crate) const IDLE: u8 = 4;

/// Sweeps in a row, half a client-header timeout apart, that must see a
/// connection quiet before it is idle. The first may come right after the
/// last activity, so the idle time is between two and three half-timeouts.
const QUIET_SWEEPS: u8 = 3;

/// One client connection's side of the worker's signals.
#[derive(Default)]
pub(crate) struct ConnSignal {
    flags: Flags,
    /// Requests whose response is not yet fully handed to hyper.
    busy: AtomicU32,
    /// Requests finished, ever.
    served: AtomicU64,
    /// `served` at the last sweep, and the sweeps in a row that saw no activity.
    seen: AtomicU64,
    quiet_sweeps: AtomicU8,
}

impl ConnSignal {
    /// The flags raised so far, registering the connection task's waker for
    /// the next ones (registered before the load: a flag raised meanwhile
    /// still wakes the task).
    pub(crate) fn poll_flags(&self, cx: &Context<'_>) -> u8 {
        self.flags.poll(cx)
    }

    /// Counts a request as in progress until the returned guard is dropped.
    pub(crate) fn start_request(self: &Arc<Self>) -> RequestActivity {
        self.busy.fetch_add(1, Ordering::Relaxed);
        RequestActivity(Arc::clone(self))
    }
}

/// A request in progress on its connection (see [`ConnSignal::start_request`]).
pub(crate) struct RequestActivity(Arc<ConnSignal>);

impl Drop for RequestActivity {
    fn drop(&mut self) {
        self.0.served.fetch_add(1, Ordering::Relaxed);
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The client connections of one worker.
#[derive(Default)]
pub(crate) struct Connections {
    list: Watched<ConnSignal>,
}

impl Connections {
    /// A new connection's signal, known to [`Self::raise_all`] and
    /// [`Self::sweep_idle`] from now on.
    pub(crate) fn register(&self) -> Arc<ConnSignal> {
        let signal = Arc::new(ConnSignal::default());
        self.list.watch(&signal);
        signal
    }

    /// Raises `flag` on every open connection.
    pub(crate) fn raise_all(&self, flag: u8) {
        for signal in self.list.live() {
            signal.flags.raise(flag);
        }
    }

    /// One sweep: forgets closed connections, and raises [`IDLE`] on those
    /// quiet for [`QUIET_SWEEPS`] sweeps.
    pub(crate) fn sweep_idle(&self) {
        let idle = self.list.select(|signal| {
            let served = signal.served.load(Ordering::Relaxed);
            let finished_since = served != signal.seen.swap(served, Ordering::Relaxed);
            if signal.busy.load(Ordering::Relaxed) > 0 {
                signal.quiet_sweeps.store(0, Ordering::Relaxed);
            } else if finished_since {
                // Quiet since a request ended, some time after the last sweep.
                signal.quiet_sweeps.store(1, Ordering::Relaxed);
            } else {
                return signal.quiet_sweeps.fetch_add(1, Ordering::Relaxed) + 1 >= QUIET_SWEEPS;
            }
            false
        });
        for signal in idle {
            signal.flags.raise(IDLE);
        }
    }

    /// Connections still registered (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.list.len()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    #[test]
    fn a_connection_is_idle_after_three_quiet_sweeps_and_busy_ones_never_are() {
        let connections = Connections::default();
        let quiet = connections.register();
        let busy = connections.register();
        let cx = Context::from_waker(Waker::noop());
        let request = busy.start_request();
        for sweep in 1..QUIET_SWEEPS {
            connections.sweep_idle();
            assert_eq!(quiet.poll_flags(&cx), 0, "{sweep} quiet sweep(s) are not enough");
        }
        connections.sweep_idle();
        assert_eq!(quiet.poll_flags(&cx), IDLE);
        assert_eq!(busy.poll_flags(&cx), 0, "a request in progress keeps it open");
        drop(request);
        // The finished request is activity: the count starts over after it.
        for _ in 0..QUIET_SWEEPS - 1 {
            connections.sweep_idle();
            assert_eq!(busy.poll_flags(&cx), 0);
        }
        connections.sweep_idle();
        assert_eq!(busy.poll_flags(&cx), IDLE);
    }

    #[test]
    fn raise_all_reaches_open_connections_and_sweeps_forget_closed_ones() {
        let connections = Connections::default();
        let open = connections.register();
        let closed = connections.register();
        drop(closed);
        connections.raise_all(DRAIN);
        let cx = Context::from_waker(Waker::noop());
        assert_eq!(open.poll_flags(&cx), DRAIN);
        connections.raise_all(STOP);
        assert_eq!(open.poll_flags(&cx), DRAIN | STOP);
        assert_eq!(connections.len(), 2);
        connections.sweep_idle();
        assert_eq!(connections.len(), 1, "the closed connection is forgotten");
    }
}
