//! Where deployed services run.
//!
//! API Boundary: [`Runtime`] is everything the deploy state machine (in
//! `dockyard-services`) asks of an engine: build an image from a folder, start
//! a deployment's replicas on its project's network, list, stop, start, remove
//! them by [`Selector`], stream their logs and read their stats. Nothing here
//! knows about users, the database or HTTP; a workload is described by plain
//! ids and a [`WorkloadSpec`].
//!
//! Two backends are meant to live behind the trait: [`docker::DockerRuntime`]
//! (the Engine API through bollard: one bridge network per project, containers
//! labelled `dockyard.*`) and, later, Kubernetes (a Deployment, a Service and a
//! route per service). The trait is shaped for both: instances are found by
//! labels rather than remembered, so a restarted Dockyard can adopt what it
//! finds ([`Runtime::list`] with [`Selector::all`]) and the engine stays the
//! source of truth for what is running.
//!
//! Other modules: [`context`] streams a build context as tar honouring
//! `.dockerignore`; [`plan`] detects a stack and writes a Dockerfile when the
//! source has none; [`health`] probes an instance over HTTP.

pub mod context;
pub mod docker;
pub mod health;
pub mod plan;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::Stream;
pub use tokio_util::sync::CancellationToken;

/// A boxed future, so that the trait stays object safe (`Arc<dyn Runtime>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A boxed stream, for logs.
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + Send + 'a>>;

/// Every object Dockyard creates carries this label set to `"true"`; nothing
/// without it is ever touched.
pub const LABEL_MANAGED: &str = "dockyard.managed";
pub const LABEL_PROJECT: &str = "dockyard.project";
pub const LABEL_SERVICE: &str = "dockyard.service";
pub const LABEL_DEPLOYMENT: &str = "dockyard.deployment";
/// The replica's index within its deployment, from 0.
pub const LABEL_REPLICA: &str = "dockyard.replica";
/// Which Dockyard instance made the object (`DOCKYARD_INSTANCE_ID`), so two
/// installations sharing an engine leave each other alone.
pub const LABEL_INSTANCE: &str = "dockyard.instance";

/// Where a line of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Dockyard's own lines about a build or a deployment ("Step 3/7", "pulling…").
    System,
}

/// One line of build or runtime output, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    pub text: String,
    /// When the engine says the line was written (runtime logs), or when it arrived.
    pub at: DateTime<Utc>,
    /// The instance (container) that wrote it; `None` for build output.
    pub instance: Option<String>,
}

/// Receives a build's output line by line, as it happens. Called from the
/// runtime's tasks; it must not block.
pub type LogSink = Arc<dyn Fn(LogLine) + Send + Sync>;

/// Where the Dockerfile of a build comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dockerfile {
    /// A path relative to the context root (`Dockerfile`, `docker/prod.Dockerfile`).
    Path(String),
    /// A generated Dockerfile (from [`plan`]); it is added to the context tar.
    Inline(String),
}

/// One image build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The reference to tag the result with, e.g. `dockyard/{project}-{service}:{deployment}`.
    pub tag: String,
    /// The context folder on the host (a staged copy of the source).
    pub context: PathBuf,
    pub dockerfile: Dockerfile,
    pub build_args: BTreeMap<String, String>,
    /// Labels for the image (the `dockyard.*` ones included).
    pub labels: BTreeMap<String, String>,
    /// Files added to the context tar at these relative paths, e.g. the extra
    /// CA bundle a generated Dockerfile copies in. They win over files of the
    /// same name in the folder.
    pub extra_files: Vec<(String, Vec<u8>)>,
    /// Refuse contexts larger than this many bytes (uncompressed tar).
    pub max_context_bytes: u64,
    pub no_cache: bool,
}

/// What a successful build produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub image_id: String,
    pub tag: String,
}

/// A local image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub size_bytes: u64,
    /// Ports the image declares (`EXPOSE`).
    pub exposed_ports: Vec<u16>,
}

/// An image this Dockyard built, as listed by [`Runtime::images`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedImage {
    pub id: String,
    pub tags: Vec<String>,
    /// The service and the deployment it was built for (its
    /// `dockyard.service` and `dockyard.deployment` labels).
    pub service_id: Option<String>,
    pub deployment_id: Option<String>,
    pub size_bytes: u64,
}

/// What to do when an instance exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Never,
    OnFailure { max_retries: u32 },
    UnlessStopped,
}

/// The replicas of one deployment of one service.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub project_id: String,
    pub service_id: String,
    pub deployment_id: String,
    /// Names for people and DNS: the container names are
    /// `dockyard-{project_slug}-{service_name}-{deployment short}-{n}`, and the
    /// service name is a network alias, so services reach each other by name.
    pub project_slug: String,
    pub service_name: String,
    pub image: String,
    pub replicas: u32,
    /// The port the service listens on inside its instances.
    pub port: u16,
    /// The whole environment (secrets already decrypted). Never logged.
    pub env: Vec<(String, String)>,
    /// CPU limit in thousandths of a core (1000 = one core).
    pub cpu_millis: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub restart: RestartPolicy,
    /// Files mounted read-only into every instance: (host path, container path).
    /// Used for the extra CA bundle.
    pub read_only_mounts: Vec<(PathBuf, String)>,
    /// Overrides the image's command when set.
    pub command: Option<Vec<String>>,
}

/// Which instances an operation applies to. Empty fields match anything; a
/// selector always matches only objects with [`LABEL_MANAGED`] (and this
/// Dockyard's [`LABEL_INSTANCE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub project_id: Option<String>,
    pub service_id: Option<String>,
    pub deployment_id: Option<String>,
    /// One replica number (with a deployment: one instance).
    pub replica: Option<u32>,
}

impl Selector {
    /// Everything this Dockyard manages.
    pub fn all() -> Self {
        Self::default()
    }
    pub fn project(project_id: impl Into<String>) -> Self {
        Self { project_id: Some(project_id.into()), ..Self::default() }
    }
    pub fn service(service_id: impl Into<String>) -> Self {
        Self { service_id: Some(service_id.into()), ..Self::default() }
    }
    pub fn deployment(deployment_id: impl Into<String>) -> Self {
        Self { deployment_id: Some(deployment_id.into()), ..Self::default() }
    }
    /// One instance: replica `replica` of a deployment.
    pub fn replica(deployment_id: impl Into<String>, replica: u32) -> Self {
        Self { deployment_id: Some(deployment_id.into()), replica: Some(replica), ..Self::default() }
    }
}

/// The state of an instance as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum InstanceState {
    Created,
    Running,
    Restarting,
    Paused,
    Exited { code: i64 },
    Dead,
    Removing,
}

/// One running (or stopped) replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The engine's id (a container id).
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub service_id: String,
    pub deployment_id: String,
    pub replica: u32,
    pub image: String,
    pub state: InstanceState,
    /// Where Dockyard (the proxy, the health check) reaches it: the address on
    /// the project network and the service port. `None` while not running.
    pub addr: Option<SocketAddr>,
    pub started_at: Option<DateTime<Utc>>,
}

/// What runtime logs to read.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub since: Option<DateTime<Utc>>,
    /// Only the last `tail` lines of each instance before following.
    pub tail: Option<u32>,
}

/// Resource use of one instance, as the engine reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstanceStats {
    pub instance: String,
    /// CPU use in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

/// The engine, as `dockyard doctor` and `/readyz` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeInfo {
    pub kind: &'static str,
    pub version: String,
    pub api_version: String,
}

/// Runs deployments somewhere.
pub trait Runtime: Send + Sync {
    /// `docker`, later `kubernetes`.
    fn kind(&self) -> &'static str;

    /// Checks that the engine answers.
    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>>;

    /// Builds an image. Output goes to `log` line by line as it arrives. When
    /// `cancel` fires the build is really stopped (the engine's build is
    /// aborted, not just no longer awaited) and the answer is
    /// [`RuntimeError::Cancelled`].
    fn build(
        &self,
        request: BuildRequest,
        log: LogSink,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<BuiltImage, RuntimeError>>;

    /// A local image by reference or id; `None` when there is none. Nothing is pulled.
    fn image(&self, reference: &str) -> BoxFuture<'_, Result<Option<ImageInfo>, RuntimeError>>;

    /// Removes an image Dockyard built (not one still used by an instance).
    fn remove_image(&self, reference: &str) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// The images this Dockyard built that match `selector` (by their
    /// `dockyard.*` labels), whether or not a deployment still names them.
    fn images(&self, selector: Selector) -> BoxFuture<'_, Result<Vec<ManagedImage>, RuntimeError>>;

    /// Creates and starts `spec.replicas` instances on the project's network
    /// (created when missing). It does not touch other deployments' instances.
    /// If any replica fails to start, those already made are removed and the
    /// error is returned.
    fn start(&self, spec: WorkloadSpec) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>>;

    /// The instances matching `selector`, running or not, ordered by deployment then replica.
    fn list(&self, selector: Selector) -> BoxFuture<'_, Result<Vec<Instance>, RuntimeError>>;

    /// Stops matching instances (they keep existing), giving them `grace` after SIGTERM.
    fn stop(&self, selector: Selector, grace: Duration) -> BoxFuture<'_, Result<usize, RuntimeError>>;

    /// Starts matching instances that are stopped.
    fn resume(&self, selector: Selector) -> BoxFuture<'_, Result<usize, RuntimeError>>;

    /// Restarts matching instances in place.
    fn restart(&self, selector: Selector, grace: Duration) -> BoxFuture<'_, Result<usize, RuntimeError>>;

    /// Stops and removes matching instances. Removing what is already gone is
    /// not an error. Answers how many were removed.
    fn remove(&self, selector: Selector, grace: Duration) -> BoxFuture<'_, Result<usize, RuntimeError>>;

    /// Removes a project's network once nothing uses it.
    fn remove_network(&self, project_id: &str) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// The output of matching instances, merged, stdout and stderr apart.
    /// With `follow` the stream goes on until the instances end or it is dropped.
    fn logs(&self, selector: Selector, options: LogOptions) -> BoxStream<'_, Result<LogLine, RuntimeError>>;

    /// One reading of CPU, memory and network per matching running instance.
    fn stats(&self, selector: Selector) -> BoxFuture<'_, Result<Vec<InstanceStats>, RuntimeError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine cannot be reached (not running, no permission on the socket).
    #[error("the container engine is unavailable: {0}")]
    Unavailable(String),
    /// The build's own fault: a failing step, a bad Dockerfile. The message is
    /// the engine's (e.g. "The command '/bin/sh -c exit 3' returned a non-zero code: 3").
    #[error("the build failed: {0}")]
    BuildFailed(String),
    #[error("the build context is too large: more than {limit} bytes")]
    ContextTooLarge { limit: u64 },
    /// A path in the context cannot be used (a link out of it, an unreadable file).
    #[error("the build context is invalid: {0}")]
    InvalidContext(String),
    #[error("no such image: {0}")]
    ImageNotFound(String),
    /// An instance could not be created or started (bad command, port, limits).
    #[error("could not start: {0}")]
    StartFailed(String),
    #[error("cancelled")]
    Cancelled,
    /// Anything else the engine answered.
    #[error("the container engine failed: {0}")]
    Engine(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A helper for backends: the labels of a workload's instances.
pub fn workload_labels(spec: &WorkloadSpec, instance_label: &str, replica: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED.to_owned(), "true".to_owned()),
        (LABEL_INSTANCE.to_owned(), instance_label.to_owned()),
        (LABEL_PROJECT.to_owned(), spec.project_id.clone()),
        (LABEL_SERVICE.to_owned(), spec.service_id.clone()),
        (LABEL_DEPLOYMENT.to_owned(), spec.deployment_id.clone()),
        (LABEL_REPLICA.to_owned(), replica.to_string()),
    ])
}

/// How long [`health::probe`] waits by default for one answer.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
