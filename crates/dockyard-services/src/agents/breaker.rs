//! A circuit breaker per agent profile: after `threshold` consecutive failures
//! to start (or crashes right after the start), new sessions fail fast until
//! `cooldown` passes; then one session is let through as a probe, and its
//! outcome closes the breaker or opens it again.
//!
//! The state is per replica (in memory): each replica learns a profile's health
//! from the sessions it runs itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        failures: u32,
    },
    /// The cool-down passed and one probe is out.
    HalfOpen {
        failures: u32,
    },
}

/// A profile's health as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// `closed` (healthy), `open` (failing fast) or `half_open` (a probe runs).
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// While open: seconds until a probe is allowed.
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    states: Mutex<HashMap<String, State>>,
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold: threshold.max(1), cooldown, states: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May a session of `profile` start now? `Err(retry_after)` while open (or
    /// while the half-open probe is still out).
    pub fn admit(&self, profile: &str) -> Result<(), Duration> {
        let mut states = self.lock();
        let state = states.entry(profile.to_owned()).or_insert(State::Closed { failures: 0 });
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until, failures } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::HalfOpen { failures };
                    Ok(())
                } else {
                    Err(until - now)
                }
            }
            State::HalfOpen { .. } => Err(self.cooldown),
        }
    }

    pub fn success(&self, profile: &str) {
        self.lock().insert(profile.to_owned(), State::Closed { failures: 0 });
    }

    pub fn failure(&self, profile: &str) {
        let mut states = self.lock();
        let state = states.entry(profile.to_owned()).or_insert(State::Closed { failures: 0 });
        let open = |failures| State::Open { until: Instant::now() + self.cooldown, failures };
        *state = match *state {
            State::Closed { failures } if failures + 1 >= self.threshold => open(failures + 1),
            State::Closed { failures } => State::Closed { failures: failures + 1 },
            // A failed probe opens it again; so does a failure reported late.
            State::HalfOpen { failures } | State::Open { failures, .. } => open(failures + 1),
        };
    }

    pub fn health(&self, profile: &str) -> Health {
        let states = self.lock();
        match states.get(profile).copied().unwrap_or(State::Closed { failures: 0 }) {
            State::Closed { failures } => {
                Health { state: "closed", consecutive_failures: failures, retry_after_secs: None }
            }
            State::Open { until, failures } => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Health { state: "half_open", consecutive_failures: failures, retry_after_secs: None }
                } else {
                    Health {
                        state: "open",
                        consecutive_failures: failures,
                        retry_after_secs: Some(left.as_secs().max(1)),
                    }
                }
            }
            State::HalfOpen { failures } => {
                Health { state: "half_open", consecutive_failures: failures, retry_after_secs: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_lets_one_probe_through_and_closes_on_success() {
        let breakers = Breakers::new(2, Duration::from_millis(50));
        assert!(breakers.admit("p").is_ok());
        breakers.failure("p");
        assert_eq!(breakers.health("p").state, "closed");
        breakers.failure("p");
        assert_eq!(breakers.health("p").state, "open");
        assert!(breakers.admit("p").is_err(), "fails fast while open");
        std::thread::sleep(Duration::from_millis(60));
        assert!(breakers.admit("p").is_ok(), "the probe");
        assert!(breakers.admit("p").is_err(), "only one probe at a time");
        breakers.failure("p");
        assert_eq!(breakers.health("p").state, "open", "a failed probe opens it again");
        std::thread::sleep(Duration::from_millis(60));
        assert!(breakers.admit("p").is_ok());
        breakers.success("p");
        assert_eq!(breakers.health("p"), Health { state: "closed", consecutive_failures: 0, retry_after_secs: None });
        assert!(breakers.admit("other").is_ok(), "profiles are independent");
    }
}
