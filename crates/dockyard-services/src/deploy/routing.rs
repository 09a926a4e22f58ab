//! Keeps the proxy's route table in step with the database and the engine,
//! and removes containers no deployment owns.
//!
//! The table is rebuilt whole from two reads: every service with its active
//! deployment (database) and every managed instance (engine). A replica
//! rebuilds after its own changes and tells the others on the `routes` bus
//! topic; every replica also rebuilds on a timer, which catches containers the
//! engine restarted or that died.
//!
//! The sweep removes instances whose deployment is neither active nor in
//! flight (a crash between starting containers and recording them, a failed
//! cleanup, a service deleted by another replica). Instances of an active
//! deployment are adopted as they are: a restarted Dockyard serves what was
//! running without touching it.

use std::collections::HashMap;
use std::time::Duration;

use dockyard_domain::deploy::{DeploymentStatus, DesiredState};
use dockyard_proxy::{Backend, Route, RouteStatus};
use dockyard_runtime::{Instance, InstanceState, Selector};
use serde_json::json;
use tokio::task::JoinHandle;

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
                    () = &mut shutdown => return,
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
                let (host, _url) = self.service_address(&service.name, &routable.project_slug);
                let backends: Vec<Backend> = routable
                    .active
                    .as_ref()
                    .and_then(|active| by_deployment.get(active.as_str()))
                    .map(|instances| {
                        instances
                            .iter()
                            .filter(|instance| instance.state == InstanceState::Running)
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
                    // Active but nothing running: the containers died.
                    (_, Some(_)) if backends.is_empty() => RouteStatus::Failing,
                    (_, Some(_)) => RouteStatus::Serving,
                };
                let mut route = Route::new(service.id.as_str(), host);
                route.service = service.name.clone();
                route.project = routable.project_slug.clone();
                route.backends = backends;
                route.status = status;
                route
            })
            .collect();
        engine.routes.replace(routes);
    }

    /// Removes instances whose deployment is neither active nor in flight.
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
        removed
    }
}
