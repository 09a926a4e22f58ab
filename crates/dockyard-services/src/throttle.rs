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

    /// Counts an attempt for `key` before it is checked, atomically: `Err(retry_after)`
    /// when `key` already has `max_failures` attempts in the window. Counting up
    /// front means concurrent guesses cannot all pass while the slow password
    /// check of the first ones is still running. A successful attempt is taken
    /// back with [`FailureThrottle::forgive`] or [`FailureThrottle::reset`].
    pub fn attempt(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Keep memory bounded under a spray of keys: drop keys whose attempts all expired.
        if failures.len() > 50_000 {
            let window = self.window;
            failures.retain(|_, times| times.back().is_some_and(|last| now.duration_since(*last) < window));
        }
        let times = failures.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|first| now.duration_since(*first) >= self.window) {
            times.pop_front();
        }
        if times.len() >= self.max_failures as usize {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)).max(Duration::from_secs(1)));
        }
        times.push_back(now);
        Ok(())
    }

    /// Takes back the latest counted attempt of `key` (it turned out fine).
    pub fn forgive(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(times) = failures.get_mut(key) {
            times.pop_back();
        }
    }

    /// Forgets every attempt of `key`.
    pub fn reset(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_before_they_are_checked_until_the_window_passes() {
        let throttle = FailureThrottle::new(2, Duration::from_millis(200));
        assert!(throttle.attempt("a").is_ok());
        assert!(throttle.attempt("a").is_ok());
        let retry_after = throttle.attempt("a").expect_err("third attempt is refused");
        assert!(retry_after >= Duration::from_secs(1));
        assert!(throttle.attempt("b").is_ok(), "other keys are unaffected");
        throttle.forgive("a");
        assert!(throttle.attempt("a").is_ok(), "a forgiven attempt frees a place");
        std::thread::sleep(Duration::from_millis(250));
        assert!(throttle.attempt("a").is_ok());
        throttle.reset("a");
        assert!(throttle.attempt("a").is_ok());
        assert!(throttle.attempt("a").is_ok());
        assert!(throttle.attempt("a").is_err());
    }

    #[test]
    fn concurrent_attempts_never_exceed_the_limit() {
        let throttle = std::sync::Arc::new(FailureThrottle::new(3, Duration::from_secs(60)));
        let passed: usize = (0..16)
            .map(|_| {
                let throttle = throttle.clone();
                std::thread::spawn(move || throttle.attempt("k").is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|handle| usize::from(handle.join().expect("thread")))
            .sum();
        assert_eq!(passed, 3);
    }
}
