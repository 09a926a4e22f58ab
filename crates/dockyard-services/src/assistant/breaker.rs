//! A circuit breaker per assistant endpoint: after `failures` consecutive
//! failures the endpoint is left alone for `cooldown` (requests fail fast),
//! then one request is let through as a probe: its success closes the
//! breaker, its failure opens it for another cool-down.
//!
//! The state is per process (like the rate limiters): with several replicas
//! each one learns about a failing endpoint on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The cool-down passed; `probing` while the one probe is in flight.
    HalfOpen {
        probing: bool,
    },
}

#[derive(Debug)]
pub(crate) struct Breakers {
    failures: u32,
    cooldown: Duration,
    states: Mutex<HashMap<String, State>>,
}

/// How long a caller turned away while a probe is in flight should wait.
const PROBE_RETRY: Duration = Duration::from_secs(1);

impl Breakers {
    /// `failures == 0` turns the breaker off.
    pub(crate) fn new(failures: u32, cooldown: Duration) -> Arc<Self> {
        Arc::new(Self { failures, cooldown, states: Mutex::new(HashMap::new()) })
    }

    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        // A panic while holding this lock cannot leave a state half-written.
        self.states.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets a request to `endpoint` through, or answers how long to wait.
    pub(crate) fn admit(self: &Arc<Self>, endpoint: &str) -> Result<Permit, Duration> {
        self.admit_at(endpoint, Instant::now())
    }

    fn admit_at(self: &Arc<Self>, endpoint: &str, now: Instant) -> Result<Permit, Duration> {
        let permit = |probe| Permit { breakers: self.clone(), endpoint: endpoint.to_owned(), probe, settled: false };
        if self.failures == 0 {
            return Ok(permit(false));
        }
        let mut states = self.states();
        let state = states.entry(endpoint.to_owned()).or_insert(State::Closed { failures: 0 });
        match *state {
            State::Closed { .. } => Ok(permit(false)),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Ok(permit(true))
            }
            State::HalfOpen { probing: true } => Err(PROBE_RETRY),
        }
    }

    fn settle(&self, endpoint: &str, probe: bool, outcome: Option<bool>, now: Instant) {
        if self.failures == 0 {
            return;
        }
        let mut states = self.states();
        let Some(state) = states.get_mut(endpoint) else { return };
        match (outcome, *state) {
            (Some(true), _) => *state = State::Closed { failures: 0 },
            (Some(false), State::Closed { failures }) => {
                let failures = failures + 1;
                *state = if failures >= self.failures {
                    tracing::warn!(failures, "the assistant endpoint keeps failing; its circuit breaker opened");
                    State::Open { until: now + self.cooldown }
                } else {
                    State::Closed { failures }
                };
            }
            (Some(false), State::HalfOpen { .. }) => {
                tracing::warn!("the assistant endpoint's probe failed; its circuit breaker opened again");
                *state = State::Open { until: now + self.cooldown };
            }
            (Some(false), State::Open { .. }) => {}
            // A probe that ended without a verdict (the client went away first): let another one try.
            (None, State::HalfOpen { probing: true }) if probe => *state = State::HalfOpen { probing: false },
            (None, _) => {}
        }
    }

    #[cfg(test)]
    fn is_open(&self, endpoint: &str) -> bool {
        matches!(self.states().get(endpoint), Some(State::Open { .. }))
    }
}

/// A request let through; report how it went. Dropped without a report, it
/// counts as neither.
#[derive(Debug)]
pub(crate) struct Permit {
    breakers: Arc<Breakers>,
    endpoint: String,
    probe: bool,
    settled: bool,
}

impl Permit {
    pub(crate) fn success(mut self) {
        self.settled = true;
        self.breakers.settle(&self.endpoint, self.probe, Some(true), Instant::now());
    }

    pub(crate) fn failure(mut self) {
        self.settled = true;
        self.breakers.settle(&self.endpoint, self.probe, Some(false), Instant::now());
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            self.breakers.settle(&self.endpoint, self.probe, None, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: &str = "http://llm.example/v1";

    #[test]
    fn opens_after_n_failures_then_one_probe_closes_it() {
        let breakers = Breakers::new(3, Duration::from_secs(30));
        let start = Instant::now();
        for _ in 0..2 {
            breakers.admit_at(E, start).expect("closed").failure();
        }
        assert!(!breakers.is_open(E));
        // A success in between resets the count.
        breakers.admit_at(E, start).expect("closed").success();
        for _ in 0..3 {
            breakers.admit_at(E, start).expect("closed").failure();
        }
        assert!(breakers.is_open(E));
        let wait = breakers.admit_at(E, start + Duration::from_secs(10)).expect_err("open");
        assert!(wait <= Duration::from_secs(30) && wait > Duration::from_secs(1), "{wait:?}");
        // After the cool-down exactly one probe goes through.
        let after = start + Duration::from_secs(31);
        let probe = breakers.admit_at(E, after).expect("half-open probe");
        assert_eq!(breakers.admit_at(E, after).expect_err("probe in flight"), PROBE_RETRY);
        probe.success();
        breakers.admit_at(E, after).expect("closed again").success();
        // Other endpoints never noticed.
        breakers.admit_at("http://other/v1", start).expect("other endpoint").success();
    }

    #[test]
    fn a_failed_probe_reopens_and_an_abandoned_one_lets_another_try() {
        let breakers = Breakers::new(1, Duration::from_secs(5));
        let start = Instant::now();
        breakers.admit_at(E, start).expect("closed").failure();
        assert!(breakers.is_open(E));
        let later = start + Duration::from_secs(6);
        drop(breakers.admit_at(E, later).expect("probe"));
        let probe = breakers.admit_at(E, later).expect("another probe");
        probe.failure();
        assert!(breakers.is_open(E));
    }

    #[test]
    fn zero_failures_turns_it_off() {
        let breakers = Breakers::new(0, Duration::from_secs(5));
        for _ in 0..10 {
            breakers.admit(E).expect("always admitted").failure();
        }
        breakers.admit(E).expect("still admitted").success();
    }
}
