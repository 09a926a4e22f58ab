//! Counting failed attempts per key (an account, an IP) in a sliding window.
//!
//! This is in-process state: with several replicas each counts its own
//! failures, so the effective limit is `max × replicas`. That is the documented
//! trade-off; the limit still stops online guessing.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct FailureThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self { max_failures: max_failures.max(1), window, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(retry_after)` when `key` already failed `max_failures` times in the window.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(times) = failures.get_mut(key) else { return Ok(()) };
        while times.front().is_some_and(|first| now.duration_since(*first) >= self.window) {
            times.pop_front();
        }
        if times.len() >= self.max_failures as usize {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)).max(Duration::from_secs(1)));
        }
        Ok(())
    }

    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Keep memory bounded under a spray of keys: drop keys whose failures all expired.
        if failures.len() > 50_000 {
            let window = self.window;
            failures.retain(|_, times| times.back().is_some_and(|last| now.duration_since(*last) < window));
        }
        let times = failures.entry(key.to_owned()).or_default();
        times.push_back(now);
        while times.len() > self.max_failures as usize {
            times.pop_front();
        }
    }

    pub fn reset(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let throttle = FailureThrottle::new(2, Duration::from_millis(200));
        assert!(throttle.check("a").is_ok());
        throttle.record_failure("a");
        throttle.record_failure("a");
        let retry_after = throttle.check("a").expect_err("third attempt is blocked");
        assert!(retry_after >= Duration::from_secs(1));
        assert!(throttle.check("b").is_ok(), "other keys are unaffected");
        std::thread::sleep(Duration::from_millis(250));
        assert!(throttle.check("a").is_ok());
        throttle.record_failure("a");
        throttle.reset("a");
        assert!(throttle.check("a").is_ok());
    }
}
