//! Turns click-to-deploy on at start: connects to the container engine and
//! hands the services the engine and the proxy's route table.

use std::sync::Arc;
use std::time::Duration;

use dockyard_runtime::Runtime;
use dockyard_runtime::docker::{DockerConfig, DockerRuntime};
use dockyard_services::deploy::{DeployConfig, DeployEngine, RouteSync};

use crate::config::EngineMode;
use crate::state::AppState;

/// How often every replica rebuilds its routes from the database and the engine.
const ROUTE_REFRESH: Duration = Duration::from_secs(5);
/// How often containers no deployment owns are looked for.
const ORPHAN_SWEEP: Duration = Duration::from_secs(60);

/// Connects the engine per `deploy.engine`. With `on`, a missing engine stops the server.
pub(crate) async fn enable(state: &AppState, routes: dockyard_proxy::RouteTable, proxy_port: u16) {
    let config = &state.config;
    if config.deploy.engine == EngineMode::Off {
        tracing::info!("deploys are off (deploy.engine = off)");
        return;
    }
    let mut docker = DockerConfig::new(config.deploy.instance_id.clone());
    docker.socket = config.deploy.docker_host.clone();
    docker.build_concurrency = config.deploy.build_concurrency;
    docker.build_timeout = Duration::from_secs(config.deploy.build_timeout_seconds);
    let runtime = match DockerRuntime::connect(docker).await {
        Ok(runtime) => runtime,
        Err(error) if config.deploy.engine == EngineMode::On => {
            tracing::error!(%error, "deploy.engine = on but no Docker engine answers; stopping");
            state.stop.send_replace(true);
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "deploys are off: no Docker engine answers (install docker.io and start dockerd)");
            return;
        }
    };
    let info = runtime.info().await.ok();
    let deploy = DeployConfig {
        base_domain: config.base_domain.clone(),
        public_scheme: config.deploy.public_scheme.clone(),
        public_port: config.deploy.public_port.unwrap_or(proxy_port),
        images: config.deploy.images.to_base_images(),
        extra_ca_file: config.deploy.extra_ca_file.clone(),
        build_timeout: Duration::from_secs(config.deploy.build_timeout_seconds),
        max_context_bytes: config.deploy.max_context_bytes,
        default_health_timeout: Duration::from_secs(60),
        drain_timeout: Duration::from_secs(config.deploy.drain_seconds),
        stop_grace: Duration::from_secs(config.deploy.stop_grace_seconds),
        health_interval: Duration::from_millis(config.deploy.health_interval_ms),
        health_failures: config.deploy.health_failures.max(1),
        staging_root: config.data_dir.join("deploy-staging"),
        keep_images: config.deploy.keep_images,
    };
    state.services.enable_deploys(DeployEngine::new(Arc::new(runtime), routes, deploy));
    RouteSync::start(state.services.clone(), ROUTE_REFRESH, ORPHAN_SWEEP, state.stopped());
    match info {
        Some(info) => {
            tracing::info!(version = %info.version, api = %info.api_version, "deploys are on (Docker engine)")
        }
        None => tracing::info!("deploys are on (Docker engine)"),
    }
}
