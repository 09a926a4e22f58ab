//! `AppState`: everything a request handler can reach. There are no globals, so
//! one process can run several Dockyards (the tests rely on it).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dockyard_services::Services;
use governor::DefaultKeyedRateLimiter;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub services: Services,
    pub metrics: Option<PrometheusHandle>,
    pub limits: Arc<Limits>,
    /// Set once the database is reachable and migrated and the container
    /// engine is connected (or deploys are known to be off); `/readyz` reports it.
    pub ready: Arc<AtomicBool>,
    /// Turns true when the server begins to shut down: background tasks stop,
    /// long-lived responses (event streams) end so the drain is not held up.
    pub stop: Arc<watch::Sender<bool>>,
}

/// Request-rate limiters; `None` when rate limiting is off.
pub struct Limits {
    pub per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub per_user: Option<DefaultKeyedRateLimiter<String>>,
}

impl AppState {
    pub fn new(config: Config, services: Services, metrics: Option<PrometheusHandle>) -> Self {
        let limits = if config.rate_limit.enabled {
            let quota = |per_second: u32, burst: u32| {
                let per_second = std::num::NonZeroU32::new(per_second).unwrap_or(std::num::NonZeroU32::MIN);
                let burst = std::num::NonZeroU32::new(burst).unwrap_or(std::num::NonZeroU32::MIN);
                governor::Quota::per_second(per_second).allow_burst(burst)
            };
            Limits {
                per_ip: Some(governor::RateLimiter::keyed(quota(
                    config.rate_limit.per_ip_per_second,
                    config.rate_limit.per_ip_burst,
                ))),
                per_user: Some(governor::RateLimiter::keyed(quota(
                    config.rate_limit.per_user_per_second,
                    config.rate_limit.per_user_burst,
                ))),
            }
        } else {
            Limits { per_ip: None, per_user: None }
        };
        Self {
            config: Arc::new(config),
            services,
            metrics,
            limits: Arc::new(limits),
            ready: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(watch::channel(false).0),
        }
    }

    /// Resolves once shutdown began (at once if it already has).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.subscribe();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
