//! Workloads: project networks and the containers of deployments.
//!
//! `start` makes the project network when missing, then creates and starts the
//! replicas one by one; if one fails, every container this call made is
//! removed before the error is returned. The other operations find their
//! containers by label every time (see the parent module's invariants) and act
//! on all of them concurrently.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointSettings, HostConfig, Mount,
    MountType, NetworkCreateRequest, NetworkingConfig, RestartPolicy as EngineRestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use super::{DockerRuntime, LABEL_PORT, engine_error, message_of, status_of};
use crate::{
    Instance, InstanceState, LABEL_DEPLOYMENT, LABEL_INSTANCE, LABEL_MANAGED, LABEL_PROJECT, LABEL_REPLICA,
    LABEL_SERVICE, RestartPolicy, RuntimeError, Selector, WorkloadSpec, workload_labels,
};

impl DockerRuntime {
    pub(super) async fn start_impl(&self, spec: WorkloadSpec) -> Result<Vec<Instance>, RuntimeError> {
        let network = self.ensure_network(&spec.project_id).await?;
        let mut created: Vec<String> = Vec::new();
        let mut instances = Vec::new();
        for replica in 0..spec.replicas {
            match self.start_replica(&spec, &network, replica, &mut created).await {
                Ok(instance) => instances.push(instance),
                Err(error) => {
                    tracing::warn!(
                        deployment = %spec.deployment_id,
                        replica,
                        error = %error,
                        "a replica failed to start; removing the ones this start made"
                    );
                    self.remove_containers(&created, Duration::ZERO).await;
                    return Err(error);
                }
            }
        }
        Ok(instances)
    }

    async fn start_replica(
        &self,
        spec: &WorkloadSpec,
        network: &str,
        replica: u32,
        created: &mut Vec<String>,
    ) -> Result<Instance, RuntimeError> {
        let docker = &self.inner.docker;
        let name = container_name(spec, replica);
        let mut labels: HashMap<String, String> =
            workload_labels(spec, &self.inner.config.instance_label, replica).into_iter().collect();
        labels.insert(LABEL_PORT.to_owned(), spec.port.to_string());

        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.iter().map(|(key, value)| format!("{key}={value}")).collect()),
            cmd: spec.command.clone(),
            labels: Some(labels),
            host_config: Some(HostConfig {
                nano_cpus: spec.cpu_millis.map(|millis| i64::from(millis) * 1_000_000),
                memory: spec.memory_bytes.and_then(|bytes| i64::try_from(bytes).ok()),
                restart_policy: Some(restart_policy(spec.restart)),
                mounts: Some(
                    spec.read_only_mounts
                        .iter()
                        .map(|(host, container)| Mount {
                            typ: Some(MountType::BIND),
                            source: Some(host.to_string_lossy().into_owned()),
                            target: Some(container.clone()),
                            read_only: Some(true),
                            ..Mount::default()
                        })
                        .collect(),
                ),
                network_mode: Some(network.to_owned()),
                ..HostConfig::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_owned(),
                    EndpointSettings { aliases: Some(vec![spec.service_name.clone()]), ..EndpointSettings::default() },
                )])),
            }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(&name).build();

        let id = match docker.create_container(Some(options.clone()), body.clone()).await {
            Ok(response) => response.id,
            Err(error) if status_of(&error) == Some(409) => {
                // A start retried after a crash: the same deployment's replica
                // is replaced; anything else by that name is not ours to touch.
                self.replace_leftover(&name, spec, replica).await?;
                docker.create_container(Some(options), body).await.map_err(start_error)?.id
            }
            Err(error) => return Err(start_error(error)),
        };
        created.push(id.clone());
        docker.start_container(&id, None).await.map_err(start_error)?;
        let inspected = docker.inspect_container(&id, None).await.map_err(engine_error)?;
        instance_from(&inspected, network).ok_or_else(|| RuntimeError::Engine(format!("{name}: the engine lost it")))
    }

    async fn replace_leftover(&self, name: &str, spec: &WorkloadSpec, replica: u32) -> Result<(), RuntimeError> {
        let existing = self.inner.docker.inspect_container(name, None).await.map_err(engine_error)?;
        let labels = existing.config.as_ref().and_then(|config| config.labels.clone()).unwrap_or_default();
        let same = labels.get(LABEL_MANAGED).is_some_and(|value| value == "true")
            && labels.get(LABEL_INSTANCE) == Some(&self.inner.config.instance_label)
            && labels.get(LABEL_DEPLOYMENT) == Some(&spec.deployment_id)
            && labels.get(LABEL_REPLICA) == Some(&replica.to_string());
        if !same {
            return Err(RuntimeError::StartFailed(format!("a container named {name} exists and is not this replica")));
        }
        let id = existing.id.unwrap_or_else(|| name.to_owned());
        self.remove_containers(&[id], Duration::ZERO).await;
        Ok(())
    }

    /// The project's network, created (bridge, labelled) when missing.
    async fn ensure_network(&self, project_id: &str) -> Result<String, RuntimeError> {
        let docker = &self.inner.docker;
        let name = self.network_name(project_id);
        match docker.inspect_network(&name, None).await {
            Ok(_) => return Ok(name),
            Err(error) if status_of(&error) == Some(404) => {}
            Err(error) => return Err(engine_error(error)),
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_owned()),
            labels: Some(HashMap::from([
                (LABEL_MANAGED.to_owned(), "true".to_owned()),
                (LABEL_INSTANCE.to_owned(), self.inner.config.instance_label.clone()),
                (LABEL_PROJECT.to_owned(), project_id.to_owned()),
            ])),
            ..NetworkCreateRequest::default()
        };
        match docker.create_network(request).await {
            Ok(_) => Ok(name),
            // Made concurrently by another start: fine.
            Err(error) if status_of(&error) == Some(409) => Ok(name),
            Err(error) => Err(engine_error(error)),
        }
    }

    /// Matching containers, inspected (those removed meanwhile are left out).
    async fn matching(&self, selector: &Selector) -> Result<Vec<ContainerInspectResponse>, RuntimeError> {
        let docker = &self.inner.docker;
        let options = ListContainersOptionsBuilder::new().all(true).filters(&self.filters(selector)).build();
        let summaries = docker.list_containers(Some(options)).await.map_err(engine_error)?;
        let inspections = join_all(
            summaries.iter().filter_map(|summary| summary.id.as_deref()).map(|id| docker.inspect_container(id, None)),
        )
        .await;
        let mut containers = Vec::new();
        for inspection in inspections {
            match inspection {
                Ok(container) => containers.push(container),
                Err(error) if status_of(&error) == Some(404) => {}
                Err(error) => return Err(engine_error(error)),
            }
        }
        Ok(containers)
    }

    pub(super) async fn list_impl(&self, selector: &Selector) -> Result<Vec<Instance>, RuntimeError> {
        let mut instances: Vec<Instance> = self
            .matching(selector)
            .await?
            .iter()
            .filter_map(|container| {
                let project = label(container, LABEL_PROJECT)?;
                instance_from(container, &self.network_name(&project))
            })
            .collect();
        instances.sort_by(|a, b| (&a.deployment_id, a.replica, &a.id).cmp(&(&b.deployment_id, b.replica, &b.id)));
        Ok(instances)
    }

    pub(super) async fn stop_impl(&self, selector: &Selector, grace: Duration) -> Result<usize, RuntimeError> {
        let docker = &self.inner.docker;
        let running: Vec<String> = self
            .matching(selector)
            .await?
            .into_iter()
            .filter(is_running)
            .filter_map(|container| container.id)
            .collect();
        let options = StopContainerOptionsBuilder::new().t(grace_seconds(grace)).build();
        let results = join_all(running.iter().map(|id| docker.stop_container(id, Some(options.clone())))).await;
        count_ok(results)
    }

    pub(super) async fn resume_impl(&self, selector: &Selector) -> Result<usize, RuntimeError> {
        let docker = &self.inner.docker;
        let stopped: Vec<String> = self
            .matching(selector)
            .await?
            .into_iter()
            .filter(|container| !is_running(container))
            .filter_map(|container| container.id)
            .collect();
        let results = join_all(stopped.iter().map(|id| docker.start_container(id, None))).await;
        let mut started = 0;
        for result in results {
            match result {
                Ok(()) => started += 1,
                Err(error) if status_of(&error) == Some(404) => {}
                Err(error) => return Err(start_error(error)),
            }
        }
        Ok(started)
    }

    pub(super) async fn restart_impl(&self, selector: &Selector, grace: Duration) -> Result<usize, RuntimeError> {
        let docker = &self.inner.docker;
        let ids: Vec<String> =
            self.matching(selector).await?.into_iter().filter_map(|container| container.id).collect();
        let options = RestartContainerOptionsBuilder::new().t(grace_seconds(grace)).build();
        let results = join_all(ids.iter().map(|id| docker.restart_container(id, Some(options.clone())))).await;
        count_ok(results)
    }

    pub(super) async fn remove_impl(&self, selector: &Selector, grace: Duration) -> Result<usize, RuntimeError> {
        let ids: Vec<String> =
            self.matching(selector).await?.into_iter().filter_map(|container| container.id).collect();
        let docker = &self.inner.docker;
        let stop = StopContainerOptionsBuilder::new().t(grace_seconds(grace)).build();
        // Stopping first gives the processes their grace; the removal then forces.
        let _ = join_all(ids.iter().map(|id| docker.stop_container(id, Some(stop.clone())))).await;
        let remove = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        let results = join_all(ids.iter().map(|id| docker.remove_container(id, Some(remove.clone())))).await;
        let mut removed = 0;
        for result in results {
            match result {
                Ok(()) => removed += 1,
                Err(error) if status_of(&error) == Some(404) => {}
                // "removal of container … is already in progress"
                Err(error) if status_of(&error) == Some(409) => {}
                Err(error) => return Err(engine_error(error)),
            }
        }
        Ok(removed)
    }

    /// Best effort, for cleaning up after a failed start.
    async fn remove_containers(&self, ids: &[String], grace: Duration) {
        let docker = &self.inner.docker;
        let stop = StopContainerOptionsBuilder::new().t(grace_seconds(grace)).build();
        let remove = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        for id in ids {
            let _ = docker.stop_container(id, Some(stop.clone())).await;
            if let Err(error) = docker.remove_container(id, Some(remove.clone())).await
                && status_of(&error) != Some(404)
            {
                tracing::warn!(container = %id, error = %message_of(&error), "could not remove a container");
            }
        }
    }

    pub(super) async fn remove_network_impl(&self, project_id: &str) -> Result<(), RuntimeError> {
        let docker = &self.inner.docker;
        let name = self.network_name(project_id);
        let network = match docker.inspect_network(&name, None).await {
            Ok(network) => network,
            Err(error) if status_of(&error) == Some(404) => return Ok(()),
            Err(error) => return Err(engine_error(error)),
        };
        let labels = network.labels.unwrap_or_default();
        if labels.get(LABEL_MANAGED).is_none_or(|value| value != "true")
            || labels.get(LABEL_INSTANCE) != Some(&self.inner.config.instance_label)
        {
            return Ok(());
        }
        match docker.remove_network(network.id.as_deref().unwrap_or(&name)).await {
            Ok(()) => Ok(()),
            Err(error) if status_of(&error) == Some(404) => Ok(()),
            // Still used by some container: it goes with the last of them.
            Err(error)
                if matches!(status_of(&error), Some(403 | 409)) || message_of(&error).contains("active endpoints") =>
            {
                tracing::debug!(network = %name, "network still in use; kept");
                Ok(())
            }
            Err(error) => Err(engine_error(error)),
        }
    }
}

fn count_ok(results: Vec<Result<(), bollard::errors::Error>>) -> Result<usize, RuntimeError> {
    let mut count = 0;
    for result in results {
        match result {
            Ok(()) => count += 1,
            Err(error) if status_of(&error) == Some(404) => {}
            Err(error) => return Err(engine_error(error)),
        }
    }
    Ok(count)
}

fn grace_seconds(grace: Duration) -> i32 {
    i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)
}

/// Create and start failures are the workload's (a missing image aside).
fn start_error(error: bollard::errors::Error) -> RuntimeError {
    match status_of(&error) {
        Some(404) if message_of(&error).contains("No such image") => RuntimeError::ImageNotFound(message_of(&error)),
        Some(_) => RuntimeError::StartFailed(message_of(&error)),
        None => engine_error(error),
    }
}

fn restart_policy(policy: RestartPolicy) -> EngineRestartPolicy {
    match policy {
        RestartPolicy::Never => {
            EngineRestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }
        }
        RestartPolicy::OnFailure { max_retries } => EngineRestartPolicy {
            name: Some(RestartPolicyNameEnum::ON_FAILURE),
            maximum_retry_count: Some(i64::from(max_retries)),
        },
        RestartPolicy::UnlessStopped => {
            EngineRestartPolicy { name: Some(RestartPolicyNameEnum::UNLESS_STOPPED), maximum_retry_count: None }
        }
    }
}

/// `dockyard-{project_slug}-{service_name}-{deployment short}-{n}`, where the
/// short form is the deployment id's last 8 characters (a ULID's random part),
/// and anything a container name cannot hold becomes `-`.
pub fn container_name(spec: &WorkloadSpec, replica: u32) -> String {
    let deployment = spec.deployment_id.to_ascii_lowercase();
    let short = &deployment[deployment.len().saturating_sub(8)..];
    let raw = format!("dockyard-{}-{}-{short}-{replica}", spec.project_slug, spec.service_name);
    raw.chars().map(|ch| if ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-') { ch } else { '-' }).collect()
}

fn label(container: &ContainerInspectResponse, key: &str) -> Option<String> {
    container.config.as_ref()?.labels.as_ref()?.get(key).cloned()
}

fn is_running(container: &ContainerInspectResponse) -> bool {
    container.state.as_ref().and_then(|state| state.running).unwrap_or(false)
}

/// An [`Instance`] from an inspection; `None` for a container without our labels.
pub(super) fn instance_from(container: &ContainerInspectResponse, network: &str) -> Option<Instance> {
    let state = container.state.as_ref();
    let instance_state = match state.and_then(|state| state.status) {
        Some(ContainerStateStatusEnum::CREATED) => InstanceState::Created,
        Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::STOPPING) => InstanceState::Running,
        Some(ContainerStateStatusEnum::RESTARTING) => InstanceState::Restarting,
        Some(ContainerStateStatusEnum::PAUSED) => InstanceState::Paused,
        Some(ContainerStateStatusEnum::REMOVING) => InstanceState::Removing,
        Some(ContainerStateStatusEnum::DEAD) => InstanceState::Dead,
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::EMPTY) | None => {
            InstanceState::Exited { code: state.and_then(|state| state.exit_code).unwrap_or(0) }
        }
    };
    let running = instance_state == InstanceState::Running;
    let port: Option<u16> = label(container, LABEL_PORT).and_then(|port| port.parse().ok());
    let ip: Option<IpAddr> = container
        .network_settings
        .as_ref()
        .and_then(|settings| settings.networks.as_ref())
        .and_then(|networks| networks.get(network))
        .and_then(|endpoint| endpoint.ip_address.as_deref())
        .and_then(|ip| ip.parse().ok());
    let addr = match (running, ip, port) {
        (true, Some(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
        _ => None,
    };
    let started_at = state
        .and_then(|state| state.started_at.as_deref())
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc))
        .filter(|at| at.timestamp() > 0);
    Some(Instance {
        id: container.id.clone()?,
        name: container.name.as_deref().unwrap_or_default().trim_start_matches('/').to_owned(),
        project_id: label(container, LABEL_PROJECT)?,
        service_id: label(container, LABEL_SERVICE)?,
        deployment_id: label(container, LABEL_DEPLOYMENT)?,
        replica: label(container, LABEL_REPLICA)?.parse().ok()?,
        image: container.config.as_ref().and_then(|config| config.image.clone()).unwrap_or_default(),
        state: instance_state,
        addr,
        started_at,
    })
}
