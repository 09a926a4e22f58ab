//! The Docker backend: [`Runtime`] over the Engine API with bollard.
//!
//! Mapping: a project is a bridge network `{network_prefix}{project_id}`; a
//! replica is a container named `dockyard-{project_slug}-{service_name}-
//! {deployment short}-{n}` on it, with the service name as a network alias (so
//! services reach each other by name) and no published port (the proxy reaches
//! it on the network address). Builds use the engine's classic builder.
//!
//! Invariants:
//! - Everything Dockyard creates (containers, networks, images) carries
//!   `dockyard.managed=true` and `dockyard.instance=<instance_label>`, and every
//!   query filters on both: two Dockyards sharing an engine never see each
//!   other's objects, and nothing a person made by hand is ever touched.
//! - The engine is the source of truth. Nothing about instances is remembered
//!   here; `list` and friends ask the engine every time (the service port is a
//!   backend label, `dockyard.port`, so an address can be rebuilt from labels).
//! - Operations are idempotent: removing what is gone is fine, a start retried
//!   after a crash replaces the half-made replicas of the same deployment.
//! - Environment values are never logged (they hold decrypted secrets).
//!
//! Errors: a socket that is missing or refuses is [`RuntimeError::Unavailable`];
//! a 404 for an image is [`RuntimeError::ImageNotFound`]; a failed create or
//! start of a container is [`RuntimeError::StartFailed`] with the engine's
//! message; anything else the engine answers is [`RuntimeError::Engine`].

mod build;
mod observe;
mod workloads;

pub use workloads::container_name;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use tokio::sync::Semaphore;

use crate::{
    BoxFuture, BoxStream, BuildRequest, BuiltImage, CancellationToken, ImageInfo, Instance, InstanceStats,
    LABEL_DEPLOYMENT, LABEL_INSTANCE, LABEL_MANAGED, LABEL_PROJECT, LogLine, LogOptions, LogSink, ManagedImage,
    Runtime, RuntimeError, RuntimeInfo, Selector, WorkloadSpec,
};

/// A backend label: the service port inside the instance, so that [`Instance::addr`]
/// can be rebuilt from the engine alone.
pub const LABEL_PORT: &str = "dockyard.port";

/// How long one Engine API call may take to start answering. Streaming
/// answers (builds, logs) are not limited by it once they have begun; stops
/// with a long grace are (the engine answers after the grace), so it is long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// How to reach the engine and how to name things on it.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// `unix:///var/run/docker.sock`, `tcp://host:2375`, or a bare socket path.
    /// `None`: `DOCKER_HOST`, else the default socket.
    pub socket: Option<String>,
    /// This Dockyard's [`LABEL_INSTANCE`] value.
    pub instance_label: String,
    /// Project networks are named `{network_prefix}{project_id}`.
    pub network_prefix: String,
    /// At most this many builds run at once; others wait for a slot.
    pub build_concurrency: usize,
    /// A build running longer than this is stopped and fails.
    pub build_timeout: Duration,
    /// How often a followed log stream lists the running containers again,
    /// joining any whose `start` event it did not see, and subscribes to the
    /// engine's events again if that stream failed or ended.
    pub log_rescan: Duration,
}

impl DockerConfig {
    /// Defaults for an instance label: the default socket, `dockyard-` networks,
    /// two concurrent builds, 30 minutes per build, a log rescan every 5 s.
    pub fn new(instance_label: impl Into<String>) -> Self {
        Self {
            socket: None,
            instance_label: instance_label.into(),
            network_prefix: "dockyard-".to_owned(),
            build_concurrency: 2,
            build_timeout: Duration::from_secs(30 * 60),
            log_rescan: Duration::from_secs(5),
        }
    }
}

/// [`Runtime`] on a Docker engine. Cheap to clone.
#[derive(Clone)]
pub struct DockerRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    docker: Docker,
    config: DockerConfig,
    build_slots: Arc<Semaphore>,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRuntime").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl DockerRuntime {
    /// Connects and negotiates the API version (bollard speaks a newer one than
    /// e.g. Debian's 20.10 engine, which answers 1.41). Fails with
    /// [`RuntimeError::Unavailable`] when nothing answers.
    pub async fn connect(config: DockerConfig) -> Result<Self, RuntimeError> {
        let docker = match &config.socket {
            Some(socket) if socket.starts_with('/') => Docker::connect_with_host(&format!("unix://{socket}")),
            Some(socket) => Docker::connect_with_host(socket),
            None => Docker::connect_with_defaults(),
        }
        .map_err(engine_error)?
        .with_timeout(REQUEST_TIMEOUT);
        let docker = docker.negotiate_version().await.map_err(engine_error)?;
        let slots = config.build_concurrency.max(1);
        Ok(Self { inner: Arc::new(Inner { docker, config, build_slots: Arc::new(Semaphore::new(slots)) }) })
    }

    /// The bollard client, for tests and tools that need an engine call the trait lacks.
    pub fn client(&self) -> &Docker {
        &self.inner.docker
    }

    pub fn config(&self) -> &DockerConfig {
        &self.inner.config
    }

    /// The name of a project's network.
    pub fn network_name(&self, project_id: &str) -> String {
        format!("{}{project_id}", self.inner.config.network_prefix)
    }

    /// The label filters that select this Dockyard's objects matching `selector`.
    fn filters(&self, selector: &Selector) -> HashMap<String, Vec<String>> {
        let mut labels =
            vec![format!("{LABEL_MANAGED}=true"), format!("{LABEL_INSTANCE}={}", self.inner.config.instance_label)];
        if let Some(project) = &selector.project_id {
            labels.push(format!("{LABEL_PROJECT}={project}"));
        }
        if let Some(service) = &selector.service_id {
            labels.push(format!("{}={service}", crate::LABEL_SERVICE));
        }
        if let Some(deployment) = &selector.deployment_id {
            labels.push(format!("{}={deployment}", crate::LABEL_DEPLOYMENT));
        }
        if let Some(replica) = selector.replica {
            labels.push(format!("{}={replica}", crate::LABEL_REPLICA));
        }
        HashMap::from([("label".to_owned(), labels)])
    }

    async fn info_impl(&self) -> Result<RuntimeInfo, RuntimeError> {
        let version = self.inner.docker.version().await.map_err(engine_error)?;
        Ok(RuntimeInfo {
            kind: "docker",
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
        })
    }

    async fn image_impl(&self, reference: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        match self.inner.docker.inspect_image(reference).await {
            Ok(image) => {
                let exposed_ports = image
                    .config
                    .and_then(|config| config.exposed_ports)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|port| port.split('/').next().and_then(|number| number.parse().ok()))
                    .collect();
                Ok(Some(ImageInfo {
                    id: image.id.unwrap_or_default(),
                    tags: image.repo_tags.unwrap_or_default(),
                    size_bytes: image.size.and_then(|size| u64::try_from(size).ok()).unwrap_or(0),
                    exposed_ports,
                }))
            }
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(engine_error(error)),
        }
    }

    async fn remove_image_impl(&self, reference: &str) -> Result<(), RuntimeError> {
        let image = match self.inner.docker.inspect_image(reference).await {
            Ok(image) => image,
            Err(error) if status_of(&error) == Some(404) => return Ok(()),
            Err(error) => return Err(engine_error(error)),
        };
        let labels = image.config.and_then(|config| config.labels).unwrap_or_default();
        let ours = labels.get(LABEL_MANAGED).is_some_and(|value| value == "true")
            && labels.get(LABEL_INSTANCE) == Some(&self.inner.config.instance_label);
        if !ours {
            return Err(RuntimeError::Engine(format!("{reference} was not built by this Dockyard; not removing it")));
        }
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new().force(false).build();
        match self.inner.docker.remove_image(reference, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(error) if status_of(&error) == Some(404) => Ok(()),
            Err(error) => Err(engine_error(error)),
        }
    }
}

impl DockerRuntime {
    async fn images_impl(&self, selector: &Selector) -> Result<Vec<ManagedImage>, RuntimeError> {
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .all(false)
            .filters(&self.filters(selector))
            .build();
        let images = self.inner.docker.list_images(Some(options)).await.map_err(engine_error)?;
        Ok(images
            .into_iter()
            .map(|image| ManagedImage {
                service_id: image.labels.get(crate::LABEL_SERVICE).cloned(),
                deployment_id: image.labels.get(LABEL_DEPLOYMENT).cloned(),
                tags: image.repo_tags.into_iter().filter(|tag| tag != "<none>:<none>").collect(),
                size_bytes: u64::try_from(image.size).unwrap_or(0),
                id: image.id,
            })
            .collect())
    }
}

impl Runtime for DockerRuntime {
    fn kind(&self) -> &'static str {
        "docker"
    }

    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>> {
        Box::pin(self.info_impl())
    }

    fn build(
        &self,
        request: BuildRequest,
        log: LogSink,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<BuiltImage, RuntimeError>> {
        Box::pin(self.build_impl(request, log, cancel))
    }

    fn image(&self, reference: &str) -> BoxFuture<'_, Result<Option<ImageInfo>, RuntimeError>> {
        let reference = reference.to_owned();
        Box::pin(async move { self.image_impl(&reference).await })
    }

    fn remove_image(&self, reference: &str) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let reference = reference.to_owned();
        Box::pin(async move { self.remove_image_impl(&reference).await })
    }

    fn images(&self, selector: Selector) -> BoxFuture<'_, Result<Vec<ManagedImage>, RuntimeError>> {
        Box::pin(async move { self.images_impl(&selector).await })
    }

    fn start(&self, spec: WorkloadSpec) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>> {
        Box::pin(self.start_impl(spec))
    }

    fn list(&self, selector: Selector) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>> {
        Box::pin(async move { self.list_impl(&selector).await })
    }

    fn stop(&self, selector: Selector, grace: Duration) -> BoxFuture<'_, Result<usize, RuntimeError>> {
        Box::pin(async move { self.stop_impl(&selector, grace).await })
    }

    fn resume(&self, selector: Selector) -> BoxFuture<'_, Result<usize, RuntimeError>> {
        Box::pin(async move { self.resume_impl(&selector).await })
    }

    fn restart(&self, selector: Selector, grace: Duration) -> BoxFuture<'_, Result<usize, RuntimeError>> {
        Box::pin(async move { self.restart_impl(&selector, grace).await })
    }

    fn remove(&self, selector: Selector, grace: Duration) -> BoxFuture<'_, Result<usize, RuntimeError>> {
        Box::pin(async move { self.remove_impl(&selector, grace).await })
    }

    fn remove_network(&self, project_id: &str) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let project_id = project_id.to_owned();
        Box::pin(async move { self.remove_network_impl(&project_id).await })
    }

    fn logs(&self, selector: Selector, options: LogOptions) -> BoxStream<'_, Result<LogLine, RuntimeError>> {
        self.logs_impl(selector, options)
    }

    fn stats(&self, selector: Selector) -> BoxFuture<'_, Result<Vec<InstanceStats>, RuntimeError>> {
        Box::pin(async move { self.stats_impl(&selector).await })
    }
}

/// The HTTP status of an engine answer, if it was one.
fn status_of(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's own message for an error answer, else the error's text.
fn message_of(error: &BollardError) -> String {
    match error {
        BollardError::DockerResponseServerError { message, .. } => message.trim().to_owned(),
        BollardError::DockerStreamError { error } => error.trim().to_owned(),
        other => other.to_string(),
    }
}

/// The one mapping of transport and engine errors; call sites that know what a
/// 404 or 409 means there check [`status_of`] first.
fn engine_error(error: BollardError) -> RuntimeError {
    use std::error::Error as _;
    match &error {
        BollardError::SocketNotFoundError(path) => RuntimeError::Unavailable(format!("no Docker socket at {path}")),
        BollardError::RequestTimeoutError => {
            RuntimeError::Unavailable("the Docker engine did not answer in time".to_owned())
        }
        BollardError::HyperLegacyError { err } if err.is_connect() => {
            let cause = err.source().map(ToString::to_string).unwrap_or_else(|| err.to_string());
            RuntimeError::Unavailable(format!("cannot connect to the Docker engine: {cause}"))
        }
        BollardError::IOError { err }
            if matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            RuntimeError::Unavailable(format!("cannot talk to the Docker engine: {err}"))
        }
        BollardError::UnsupportedURISchemeError { uri } => {
            RuntimeError::Unavailable(format!("unsupported Docker host {uri}"))
        }
        BollardError::DockerResponseServerError { status_code: 404, message } if message.contains("No such image") => {
            RuntimeError::ImageNotFound(message.trim().to_owned())
        }
        _ => RuntimeError::Engine(message_of(&error)),
    }
}
