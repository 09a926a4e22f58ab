//! Keeps the proxy's route table in step with the database and the engine,
//! and removes containers no deployment owns.
//!
//! The table is rebuilt whole from two reads: every service with its active
//! deployment (database) and every managed instance (engine). A replica
//! rebuilds after its own changes and tells the others on the `routes` bus
//! topic; every replica also rebuilds on a timer, which catches containers the
//! engine restarted or that died.
//!
//! After go-live, a second task probes every live instance of a service with a
//! health-check path every `health_interval` (one `GET`, 2xx is healthy).
//! `health_failures` failures in a row take the instance out of the table; the
//! next 2xx puts it back. If no instance of the active deployment is left, the
//! route answers the "failing" page. The results live in memory per replica
//! (each replica probes what its own proxy routes to).
//!
//! The sweep removes instances whose deployment is neither active nor in
//! flight (a crash between starting containers and recording them, a failed
//! cleanup, a service deleted by another replica). Instances of an active
//! deployment are adopted as they are: a restarted Dockyard serves what was
//! running without touching it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use dockyard_domain::deploy::{DeploymentStatus, DesiredState, Service};
use dockyard_proxy::{Backend, Route, RouteStatus};
use dockyard_runtime::{Instance, InstanceState, Selector, health};
use serde_json::json;
use tokio::task::JoinHandle;

use super::DeployEngine;
use crate::Services;

/// The bus topic that says "the routes changed; rebuild yours".
pub const ROUTES_TOPIC: &str = "routes";

/// The background task that rebuilds routes and sweeps orphans.
pub struct RouteSync;

impl RouteSync {
    /// Rebuilds now, then on every `routes` message and every `interval`;
    /// sweeps orphans at start and every `sweep_interval`.
    pub fn start<F>(services: Services, interval: Duration, sweep_interval: Duration, shutdown: F) -> JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let prober = services.clone();
        let (peer, peer_stopped) = (services.clone(), stopped.clone());
        tokio::spawn(async move { prober.probe_loop(stopped).await });
        tokio::spawn(async move { peer.peer_loop(peer_stopped).await });
        tokio::spawn(async move {
            let mut subscription = services.bus().subscribe(ROUTES_TOPIC);
            services.sweep_orphans().await;
            services.rebuild_routes().await;
            let mut ticker = tokio::time::interval(interval);
            let mut sweeper = tokio::time::interval(sweep_interval);
            ticker.tick().await;
            sweeper.tick().await;
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => {
                        let _ = stop.send(true);
                        return;
                    }
                    _ = subscription.recv() => services.rebuild_routes().await,
                    _ = ticker.tick() => services.rebuild_routes().await,
                    _ = sweeper.tick() => {
                        services.sweep_orphans().await;
                    }
                }
            }
        })
    }
}

/// Health after go-live, per instance (engine id), and the instances taken
/// off the proxy on purpose.
#[derive(Default)]
pub(crate) struct HealthBook {
    instances: Mutex<HashMap<String, Probed>>,
    /// Cordoned instances (a rolling restart), until when: lifted when the
    /// restart is done, and by itself should that word never come.
    cordoned: Mutex<HashMap<String, std::time::Instant>>,
}

#[derive(Default, Clone, Copy)]
struct Probed {
    failures: u32,
    out: bool,
}

/// What one probe changed.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    TakenOut,
    BackIn,
}

impl HealthBook {
    fn is_out(&self, instance: &str) -> bool {
        self.lock().get(instance).is_some_and(|probed| probed.out) || self.is_cordoned(instance)
    }

    fn is_cordoned(&self, instance: &str) -> bool {
        let now = std::time::Instant::now();
        self.cordons().get(instance).is_some_and(|until| *until > now)
    }

    /// Takes `instances` off this replica's proxy (at its next route rebuild) for at most `period`.
    pub(crate) fn cordon(&self, instances: &[String], period: Duration) {
        let until = std::time::Instant::now() + period;
        let mut cordoned = self.cordons();
        for instance in instances {
            cordoned.insert(instance.clone(), until);
        }
    }

    /// Puts cordoned `instances` back (at the next route rebuild).
    pub(crate) fn uncordon(&self, instances: &[String]) {
        let mut cordoned = self.cordons();
        for instance in instances {
            cordoned.remove(instance);
        }
    }

    fn cordons(&self) -> std::sync::MutexGuard<'_, HashMap<String, std::time::Instant>> {
        self.cordoned.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, instance: &str, healthy: bool, threshold: u32) -> Option<Change> {
        let mut instances = self.lock();
        let probed = instances.entry(instance.to_owned()).or_default();
        if healthy {
            probed.failures = 0;
            return std::mem::take(&mut probed.out).then_some(Change::BackIn);
        }
        probed.failures = probed.failures.saturating_add(1);
        if probed.failures >= threshold && !probed.out {
            probed.out = true;
            return Some(Change::TakenOut);
        }
        None
    }

    /// Forgets instances that are gone.
    fn retain(&self, live: &HashSet<&str>) {
        self.lock().retain(|instance, _| live.contains(instance.as_str()));
        let now = std::time::Instant::now();
        self.cordons().retain(|instance, until| *until > now && live.contains(instance.as_str()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Probed>> {
        self.instances.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Services {
    /// Rebuilds this replica's routes and asks the other replicas to do the same.
    pub(crate) async fn refresh_routes(&self) {
        if self.inner.deploy.get().is_none() {
            return;
        }
        self.rebuild_routes().await;
        self.bus().publish(ROUTES_TOPIC, json!({}));
    }

    /// Rebuilds this replica's route table from the database and the engine.
    pub async fn rebuild_routes(&self) {
        let Some(engine) = self.inner.deploy.get() else { return };
        let _serial = engine.routes_lock.lock().await;
        self.rebuild_routes_locked(engine).await;
    }

    /// Go-live: points the service's route at its new `instances`, then runs
    /// `commit` (which records the deployment active), then rebuilds the
    /// table from the database, with no rebuild in between; then the other
    /// replicas are told. So whoever sees the deployment active reaches the
    /// new instances through this replica's proxy, and a failed commit puts
    /// the route back as the database has it.
    pub(crate) async fn switch_route<T, E>(
        &self,
        service: &Service,
        project_slug: &str,
        instances: &[Instance],
        commit: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let Some(engine) = self.inner.deploy.get() else { return commit.await };
        let committed = {
            let _serial = engine.routes_lock.lock().await;
            let backends = instances
                .iter()
                .filter_map(|instance| instance.addr.map(|addr| Backend { id: instance.id.clone(), addr }))
                .collect();
            engine.routes.upsert(self.service_route(service, project_slug, backends, RouteStatus::Serving));
            let committed = commit.await;
            self.rebuild_routes_locked(engine).await;
            committed
        };
        self.bus().publish(ROUTES_TOPIC, json!({}));
        committed
    }

    /// The route of `service`, at its generated host.
    fn service_route(
        &self,
        service: &Service,
        project_slug: &str,
        backends: Vec<Backend>,
        status: RouteStatus,
    ) -> Route {
        let (host, _url) = self.service_address(&service.name, project_slug);
        let mut route = Route::new(service.id.as_str(), host);
        route.service = service.name.clone();
        route.project = project_slug.to_owned();
        route.backends = backends;
        route.status = status;
        route
    }

    async fn rebuild_routes_locked(&self, engine: &DeployEngine) {
        let services = match self.store().routable_services().await {
            Ok(services) => services,
            Err(error) => {
                tracing::warn!(%error, "routes not rebuilt: the database could not be read");
                return;
            }
        };
        let instances = match engine.runtime.list(Selector::all()).await {
            Ok(instances) => instances,
            Err(error) => {
                tracing::warn!(%error, "routes not rebuilt: the engine could not be read");
                return;
            }
        };
        let mut by_deployment: HashMap<&str, Vec<&Instance>> = HashMap::new();
        for instance in &instances {
            by_deployment.entry(instance.deployment_id.as_str()).or_default().push(instance);
        }
        let routes = services
            .iter()
            .map(|routable| {
                let service = &routable.service;
                // A stopped service takes no new requests, also while its
                // instances still run (a stop drains them first).
                let routed = routable.active.as_ref().filter(|_| service.desired_state != DesiredState::Stopped);
                let backends: Vec<Backend> = routed
                    .and_then(|active| by_deployment.get(active.as_str()))
                    .map(|instances| {
                        instances
                            .iter()
                            .filter(|instance| instance.state == InstanceState::Running)
                            .filter(|instance| !engine.health.is_out(&instance.id))
                            .filter_map(|instance| instance.addr.map(|addr| Backend { id: instance.id.clone(), addr }))
                            .collect()
                    })
                    .unwrap_or_default();
                let status = match (service.desired_state, routable.latest_status) {
                    (DesiredState::Stopped, _) => RouteStatus::Stopped,
                    (_, Some(status)) if status.in_flight() => RouteStatus::Deploying,
                    (_, None) => RouteStatus::NotDeployed,
                    (_, Some(DeploymentStatus::Failed)) => RouteStatus::Failing,
                    (_, Some(_)) if routable.active.is_none() => RouteStatus::NotDeployed,
                    // Active but nothing running or healthy: the containers died or fail their checks.
                    (_, Some(_)) if backends.is_empty() => RouteStatus::Failing,
                    (_, Some(_)) => RouteStatus::Serving,
                };
                self.service_route(service, &routable.project_slug, backends, status)
            })
            .collect();
        engine.routes.replace(routes);
    }

    /// Probes live instances every `health_interval` until `stopped` turns true.
    async fn probe_loop(&self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let Some(engine) = self.inner.deploy.get() else { return };
        let interval = engine.config.health_interval;
        if interval.is_zero() {
            return;
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.changed() => return,
                _ = ticker.tick() => self.probe_instances().await,
            }
        }
    }

    /// One round: probes every running instance of every active deployment
    /// whose service has a health path, and rebuilds the routes if one went
    /// out or came back.
    pub(crate) async fn probe_instances(&self) {
        let Some(engine) = self.inner.deploy.get() else { return };
        let (Ok(services), Ok(instances)) =
            (self.store().routable_services().await, engine.runtime.list(Selector::all()).await)
        else {
            return;
        };
        let paths: HashMap<&str, (&str, &str)> = services
            .iter()
            .filter_map(|routable| {
                let path = routable.service.health_check_path.as_deref()?;
                Some((routable.active.as_ref()?.as_str(), (path, routable.service.name.as_str())))
            })
            .collect();
        // Long enough for a busy app, never longer than a round.
        let timeout = engine.config.health_interval.clamp(Duration::from_secs(1), Duration::from_secs(5));
        let probes =
            instances.iter().filter(|instance| instance.state == InstanceState::Running).filter_map(|instance| {
                let (path, service) = paths.get(instance.deployment_id.as_str())?;
                let addr = instance.addr?;
                Some(async move {
                    let result = health::probe(addr, path, timeout).await;
                    (instance, *service, result)
                })
            });
        let results = futures_util::future::join_all(probes).await;
        let mut changed = false;
        for (instance, service, result) in results {
            let healthy = matches!(result, Ok(status) if (200..300).contains(&status));
            if !healthy {
                metrics::counter!("deploy_health_check_failures_total", "service" => service.to_owned()).increment(1);
            }
            match engine.health.record(&instance.id, healthy, engine.config.health_failures) {
                Some(Change::TakenOut) => {
                    changed = true;
                    let reason = match result {
                        Ok(status) => format!("HTTP {status}"),
                        Err(error) => error.to_string(),
                    };
                    tracing::warn!(service, instance = %instance.name, %reason,
                        failures = engine.config.health_failures, "instance failed its health checks; out of the proxy");
                }
                Some(Change::BackIn) => {
                    changed = true;
                    tracing::info!(service, instance = %instance.name, "instance healthy again; back in the proxy");
                }
                None => {}
            }
        }
        engine.health.retain(&instances.iter().map(|instance| instance.id.as_str()).collect());
        if changed {
            self.rebuild_routes().await;
        }
    }

    /// Removes instances whose deployment is neither active nor in flight,
    /// and the images of deleted services (see `images`).
    pub async fn sweep_orphans(&self) -> usize {
        let Some(engine) = self.inner.deploy.get() else { return 0 };
        let instances = match engine.runtime.list(Selector::all()).await {
            Ok(instances) => instances,
            Err(error) => {
                tracing::warn!(%error, "orphan sweep skipped: the engine could not be read");
                return 0;
            }
        };
        let keep = [
            DeploymentStatus::Active,
            DeploymentStatus::Queued,
            DeploymentStatus::Building,
            DeploymentStatus::Starting,
        ];
        let owned = match self.store().deployments_with_status(&keep).await {
            Ok(deployments) => deployments,
            Err(error) => {
                tracing::warn!(%error, "orphan sweep skipped: the database could not be read");
                return 0;
            }
        };
        let mut orphans: Vec<&str> = instances
            .iter()
            .map(|instance| instance.deployment_id.as_str())
            .filter(|deployment| !owned.iter().any(|owned| owned.id.as_str() == *deployment))
            .collect();
        orphans.sort_unstable();
        orphans.dedup();
        let mut removed = 0;
        for deployment in orphans {
            match engine.runtime.remove(Selector::deployment(deployment), engine.config.stop_grace).await {
                Ok(count) => {
                    removed += count;
                    tracing::info!(deployment, count, "removed instances no deployment owns");
                }
                Err(error) => tracing::warn!(deployment, %error, "could not remove orphaned instances"),
            }
        }
        super::images::sweep_deleted_services(self, engine).await;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_goes_out_after_the_threshold_and_back_on_one_success() {
        let book = HealthBook::default();
        assert_eq!(book.record("a", false, 3), None);
        assert_eq!(book.record("a", false, 3), None);
        assert!(!book.is_out("a"));
        assert_eq!(book.record("a", false, 3), Some(Change::TakenOut));
        assert!(book.is_out("a"));
        assert_eq!(book.record("a", false, 3), None, "already out");
        assert_eq!(book.record("a", true, 3), Some(Change::BackIn));
        assert!(!book.is_out("a"));
        assert_eq!(book.record("a", false, 3), None, "the count starts again");
    }

    #[test]
    fn a_success_resets_the_count_and_gone_instances_are_forgotten() {
        let book = HealthBook::default();
        book.record("a", false, 2);
        book.record("a", true, 2);
        assert_eq!(book.record("a", false, 2), None);
        assert_eq!(book.record("b", false, 1), Some(Change::TakenOut));
        book.retain(&HashSet::from(["a"]));
        assert!(!book.is_out("b"));
    }

    #[test]
    fn a_cordon_holds_until_lifted_or_its_period_ends_and_a_health_pass_does_not_lift_it() {
        let book = HealthBook::default();
        let (a, b) = (vec!["a".to_owned()], vec!["b".to_owned()]);
        book.cordon(&a, Duration::from_secs(60));
        assert!(book.is_out("a"));
        assert_eq!(book.record("a", true, 2), None, "healthy, still cordoned");
        assert!(book.is_out("a"));
        book.uncordon(&a);
        assert!(!book.is_out("a"));
        // A cordon whose period has passed (its setter never lifted it) is over.
        book.cordon(&b, Duration::ZERO);
        assert!(!book.is_out("b"));
        book.cordon(&a, Duration::from_secs(60));
        book.retain(&HashSet::from(["b"]));
        assert!(!book.is_out("a"), "a gone instance's cordon is forgotten");
        assert!(book.cordons().is_empty(), "{:?}", book.cordons().keys().collect::<Vec<_>>());
    }
}
