//! Click-to-deploy: services, deployments, and keeping the proxy's routes in
//! step with what runs.
//!
//! - This module: the use cases the API calls (service CRUD with env and
//!   secrets, deploy, rollback, cancel, stop/start/restart, logs, stats).
//! - [`job`]: the `deploy` job that moves one deployment through
//!   `queued → building → starting → active` (or `failed` / `cancelled`).
//! - [`peers`]: replicas sharing a database find each other on the bus, and a
//!   redeploy drains the old instances on all of their proxies.
//! - [`routing`]: rebuilds the proxy's route table from the database and the
//!   engine, and sweeps containers no deployment owns.
//! - [`images`]: image retention, so that builds do not fill the engine's disk.
//!
//! Architecture Invariant: the engine is the source of truth for what runs, the
//! database for what should. Containers are found by their `dockyard.*` labels,
//! never remembered in memory, so any replica (or a restarted one) can finish,
//! fail or clean up what another started.
//!
//! Secret env values are sealed in the secrets table under the project's scope
//! with a name derived from the service id and key ([`secret_name`]); the
//! service rows only say which keys are secret. They are decrypted only to start
//! containers and never appear in API answers, events or logs.

pub(crate) mod images;
pub(crate) mod job;
pub(crate) mod peers;
mod power;
pub(crate) mod routing;
mod upload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use dockyard_domain::deploy::{
    self as rules, BuildSettings, Deployment, DeploymentStatus, DesiredState, EnvEntry, Service, ServiceSource,
};
use dockyard_domain::validate::ValidationError;
use dockyard_domain::{Action, Actor, DeploymentId, Grant, Project, ProjectId, ServiceId, authorize};
use dockyard_proxy::RouteTable;
use dockyard_runtime::plan::BaseImages;
use dockyard_runtime::{InstanceStats, LogLine, LogOptions, Runtime, RuntimeError, Selector};
use dockyard_store::{DeploymentFinish, NewDeployment, NewJob};
use futures_util::Stream;
use serde_json::json;

use self::power::{POWER_LEASE_TTL, PowerLease};
use crate::audit::AuditEntry;
use crate::secrets::SecretScope;
use crate::{RequestContext, ServiceError, Services};

pub use routing::RouteSync;
pub use upload::SourceUpload;

/// The job kind of a deployment.
pub const KIND: &str = "deploy";

/// Settings of click-to-deploy.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    /// Generated hosts are `{service}-{project}.{base_domain}`.
    pub base_domain: String,
    /// How users reach the proxy, for the service URLs shown: scheme and port
    /// (the port is left out of URLs when it is the scheme's default).
    pub public_scheme: String,
    pub public_port: u16,
    /// Base images for generated Dockerfiles.
    pub images: BaseImages,
    /// A CA bundle given to builds of generated Dockerfiles and mounted into
    /// every container (`SSL_CERT_FILE` and friends), for TLS-intercepting proxies.
    pub extra_ca_file: Option<PathBuf>,
    /// How long one build may take.
    pub build_timeout: Duration,
    /// Largest build context, in bytes of tar.
    pub max_context_bytes: u64,
    /// How long a new deployment has to become healthy.
    pub default_health_timeout: Duration,
    /// How long old containers may finish their requests after the switch.
    pub drain_timeout: Duration,
    /// SIGTERM to SIGKILL when stopping containers.
    pub stop_grace: Duration,
    /// How often live instances are probed on their health path (zero: never),
    /// and how many failures in a row take one out of the proxy.
    pub health_interval: Duration,
    pub health_failures: u32,
    /// Where git sources and uploads are staged for a build.
    pub staging_root: PathBuf,
    /// Built images kept per service for rollback: those of the newest this
    /// many deployments that went live (0: every image is kept).
    pub keep_images: usize,
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            base_domain: "localhost".into(),
            public_scheme: "http".into(),
            public_port: 8000,
            images: BaseImages::default(),
            extra_ca_file: None,
            build_timeout: Duration::from_secs(30 * 60),
            max_context_bytes: 2 * 1024 * 1024 * 1024,
            default_health_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
            stop_grace: Duration::from_secs(10),
            health_interval: Duration::from_secs(10),
            health_failures: 3,
            staging_root: PathBuf::from("./data/deploy-staging"),
            keep_images: 10,
        }
    }
}

/// What deploys need besides the database: the engine and the proxy's table.
pub struct DeployEngine {
    pub runtime: Arc<dyn Runtime>,
    pub routes: RouteTable,
    pub config: DeployConfig,
    /// What the probes after go-live found (see `routing`).
    pub(crate) health: routing::HealthBook,
    /// Held while the route table is rebuilt or switched, so that a rebuild
    /// that read the database before a change never installs its table after
    /// one that read it since.
    pub(crate) routes_lock: tokio::sync::Mutex<()>,
    /// This replica's id and the other replicas sharing the database (see `peers`).
    pub(crate) peers: peers::Peers,
}

/// How long an instance of a service without a health-check path must stay up
/// after it starts to count as started (a deploy, a restart).
pub(crate) const NO_HEALTH_PATH_SETTLE: Duration = Duration::from_secs(2);

/// Whether the one instance `selector` picks is running and still runs
/// `settle` later in the same run: a process that exited and was started
/// again by the engine's restart policy (deploys use `unless-stopped`) has a
/// new start time, so a crash loop never counts as up.
pub(crate) async fn stays_up(runtime: &dyn Runtime, selector: Selector, settle: Duration) -> bool {
    let run = |instances: Vec<dockyard_runtime::Instance>| {
        instances
            .into_iter()
            .next()
            .filter(|instance| instance.state == dockyard_runtime::InstanceState::Running)
            .and_then(|instance| instance.started_at)
    };
    let Some(began) = run(runtime.list(selector.clone()).await.unwrap_or_default()) else { return false };
    tokio::time::sleep(settle).await;
    run(runtime.list(selector).await.unwrap_or_default()) == Some(began)
}

impl DeployEngine {
    pub fn new(runtime: Arc<dyn Runtime>, routes: RouteTable, config: DeployConfig) -> Self {
        Self {
            runtime,
            routes,
            config,
            health: routing::HealthBook::default(),
            routes_lock: tokio::sync::Mutex::new(()),
            peers: peers::Peers::new(),
        }
    }
}

pub(crate) type EngineSlot = OnceLock<Arc<DeployEngine>>;

/// A service as the API shows it: secrets masked.
#[derive(Debug, Clone)]
pub struct ServiceView {
    pub service: Service,
    pub url: String,
    pub host: String,
}

/// A deployment as read back, with what the engine says of its image.
#[derive(Debug, Clone)]
pub struct DeploymentRead {
    pub deployment: Deployment,
    /// Dockyard built this deployment's image and image retention (or someone
    /// else) removed it from the engine: rollback to it is refused. `false`
    /// when the engine cannot be asked.
    pub image_removed: bool,
}

impl DeploymentRead {
    /// `present`: the tags of the service's built images on the engine (see
    /// [`images::present_tags`]); `None` says nothing was removed.
    fn new(deployment: Deployment, present: Option<&std::collections::HashSet<String>>) -> Self {
        let image_removed = present.is_some_and(|present| images::removed(&deployment, present));
        Self { deployment, image_removed }
    }
}

/// An env var as sent by a user: a value, and whether it is secret. A secret
/// sent without a value keeps its stored value.
#[derive(Debug, Clone)]
pub struct EnvInput {
    pub value: Option<String>,
    pub secret: bool,
}

#[derive(Debug, Clone, Default)]
pub struct NewService {
    pub name: String,
    pub source: Option<ServiceSource>,
    pub build: Option<BuildSettings>,
    pub port: Option<i64>,
    pub health_check_path: Option<String>,
    pub health_check_timeout_secs: Option<i64>,
    pub replicas: Option<i64>,
    pub cpu_millis: Option<i64>,
    pub memory_mb: Option<i64>,
    pub env: BTreeMap<String, EnvInput>,
}

/// A partial update: `None` leaves a field alone. `env`, when given, replaces
/// the whole set (secrets sent without a value keep theirs).
#[derive(Debug, Clone, Default)]
pub struct ServiceUpdate {
    pub name: Option<String>,
    pub source: Option<ServiceSource>,
    pub build: Option<BuildSettings>,
    pub port: Option<i64>,
    /// `Some(None)` removes the HTTP health check.
    pub health_check_path: Option<Option<String>>,
    pub health_check_timeout_secs: Option<i64>,
    pub replicas: Option<i64>,
    pub cpu_millis: Option<Option<i64>>,
    pub memory_mb: Option<Option<i64>>,
    pub env: Option<BTreeMap<String, EnvInput>>,
}

/// The name a secret env value is sealed under in the project's secrets.
pub(crate) fn secret_name(service: &ServiceId, key: &str) -> String {
    format!("SERVICE_{}__{key}", service.as_str().to_ascii_uppercase())
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> ServiceError {
    ValidationError::new(field, code, message).into()
}

fn validate_source(source: &ServiceSource, services: &Services) -> Result<ServiceSource, ServiceError> {
    Ok(match source {
        ServiceSource::Workspace => ServiceSource::Workspace,
        ServiceSource::Git { url, branch } => {
            dockyard_git::GitUrl::parse(url, &services.network_policy()).map_err(ServiceError::from)?;
            if !dockyard_git::is_valid_branch_name(branch) {
                return Err(invalid(
                    "source.branch",
                    "invalid_branch",
                    format!("{branch:?} is not a valid branch name"),
                ));
            }
            ServiceSource::Git { url: url.clone(), branch: branch.clone() }
        }
        ServiceSource::Image { image } => ServiceSource::Image { image: rules::image_reference(image)? },
        ServiceSource::Upload { .. } => {
            return Err(invalid(
                "source.type",
                "invalid_source",
                "an upload is the source of one deployment (POST /api/v1/services/{service}/deployments/upload), \
                 not of a service",
            ));
        }
    })
}

fn validate_build(build: &BuildSettings) -> Result<BuildSettings, ServiceError> {
    let dockerfile_path = build
        .dockerfile_path
        .as_deref()
        .map(|path| rules::source_relative_path("build.dockerfile_path", path))
        .transpose()?;
    let context =
        build.context.as_deref().map(|path| rules::source_relative_path("build.context", path)).transpose()?;
    if build.build_args.len() > 100 {
        return Err(invalid("build.build_args", "too_many_build_args", "at most 100 build args"));
    }
    for (key, value) in &build.build_args {
        rules::env_key(key).map_err(|_| {
            invalid("build.build_args", "invalid_build_arg", format!("{key:?} is not a build arg name"))
        })?;
        rules::env_value(key, value)?;
    }
    Ok(BuildSettings { dockerfile_path, context, build_args: build.build_args.clone() })
}

fn health_timeout(raw: i64) -> Result<u32, ServiceError> {
    u32::try_from(raw).ok().filter(|secs| (1..=600).contains(secs)).ok_or_else(|| {
        invalid(
            "health_check_timeout_secs",
            "invalid_health_check_timeout",
            "the health-check timeout is 1 to 600 seconds",
        )
    })
}

fn cpu(raw: i64) -> Result<u32, ServiceError> {
    u32::try_from(raw)
        .ok()
        .filter(|millis| (10..=64_000).contains(millis))
        .ok_or_else(|| invalid("cpu_millis", "invalid_cpu", "the CPU limit is 10 to 64000 thousandths of a core"))
}

fn memory(raw: i64) -> Result<u64, ServiceError> {
    u64::try_from(raw)
        .ok()
        .filter(|mb| (6..=1_048_576).contains(mb))
        .map(|mb| mb * 1024 * 1024)
        .ok_or_else(|| invalid("memory_mb", "invalid_memory", "the memory limit is 6 MB to 1 TB"))
}

/// Keys Dockyard sets itself; users cannot override them.
const RESERVED_ENV: &[&str] = &["PORT"];

impl Services {
    pub(crate) fn deploy_engine(&self) -> Result<&Arc<DeployEngine>, ServiceError> {
        self.inner.deploy.get().ok_or_else(|| ServiceError::EngineUnavailable {
            message: "no container engine is configured on this Dockyard; deployments are off".into(),
        })
    }

    /// Connects deploys to an engine and the proxy's routes. Called once by `serve`.
    pub fn enable_deploys(&self, engine: DeployEngine) {
        if self.inner.deploy.set(Arc::new(engine)).is_err() {
            tracing::warn!("deploys were already enabled; the second engine is ignored");
        }
    }

    /// Whether deploys are on, and the engine's kind.
    pub fn deploy_runtime_kind(&self) -> Option<&'static str> {
        self.inner.deploy.get().map(|engine| engine.runtime.kind())
    }

    /// The generated host and URL of a service.
    pub(crate) fn service_address(&self, service_name: &str, project_slug: &str) -> (String, String) {
        let (domain, scheme, port) = match self.inner.deploy.get() {
            Some(engine) => {
                (engine.config.base_domain.clone(), engine.config.public_scheme.clone(), engine.config.public_port)
            }
            None => {
                let defaults = DeployConfig::default();
                (defaults.base_domain, defaults.public_scheme, defaults.public_port)
            }
        };
        let host = format!("{}.{domain}", rules::host_label(service_name, project_slug));
        let default_port = matches!((scheme.as_str(), port), ("http", 80) | ("https", 443));
        let url = if default_port { format!("{scheme}://{host}") } else { format!("{scheme}://{host}:{port}") };
        (host, url)
    }

    fn view(&self, service: Service, project: &Project) -> ServiceView {
        let (host, url) = self.service_address(&service.name, &project.slug);
        ServiceView { service, url, host }
    }

    /// Loads a service and authorizes `action` on its project (404 for strangers).
    pub(crate) async fn service_for(
        &self,
        actor: &Actor,
        id: &ServiceId,
        action: Action,
    ) -> Result<(Service, Project, Grant), ServiceError> {
        let (service, project, role) = self.store().get_service_for(id, &actor.user_id).await?;
        let grant = authorize(actor, action, dockyard_domain::Resource::InOrg { role })?;
        Ok((service, project, grant))
    }

    async fn deployment_for(
        &self,
        actor: &Actor,
        id: &DeploymentId,
        action: Action,
    ) -> Result<(Deployment, Service, Project), ServiceError> {
        let deployment = self.store().get_deployment(id).await?;
        let (service, project, _grant) = self.service_for(actor, &deployment.service_id, action).await?;
        Ok((deployment, service, project))
    }

    /// Validates env input against what is stored, sealing new secret values.
    /// Answers the entries to store, and the secret keys to delete afterwards.
    async fn apply_env(
        &self,
        project: &Project,
        service: &ServiceId,
        current: &[EnvEntry],
        input: &BTreeMap<String, EnvInput>,
    ) -> Result<(Vec<EnvEntry>, Vec<String>), ServiceError> {
        if input.len() > 200 {
            return Err(invalid("env", "too_many_env_vars", "at most 200 env vars"));
        }
        let scope = SecretScope::of_project(project);
        let mut entries = Vec::with_capacity(input.len());
        // Validate everything before sealing anything.
        for (key, value) in input {
            rules::env_key(key)?;
            if RESERVED_ENV.contains(&key.as_str()) {
                return Err(invalid(
                    "env",
                    "reserved_env_key",
                    format!("{key} is set by Dockyard and cannot be changed"),
                ));
            }
            match (&value.value, value.secret) {
                (Some(text), _) => {
                    rules::env_value(key, text)?;
                }
                (None, true) if current.iter().any(|entry| entry.key == *key && entry.secret) => {}
                (None, _) => {
                    return Err(invalid("env", "missing_env_value", format!("{key} needs a value")));
                }
            }
        }
        for (key, value) in input {
            if value.secret {
                if let Some(text) = &value.value {
                    self.put_secret(&scope, &secret_name(service, key), text.as_bytes()).await?;
                }
                entries.push(EnvEntry { key: key.clone(), value: None, secret: true });
            } else {
                entries.push(EnvEntry { key: key.clone(), value: value.value.clone(), secret: false });
            }
        }
        let stale = current
            .iter()
            .filter(|old| old.secret && !entries.iter().any(|new| new.secret && new.key == old.key))
            .map(|old| old.key.clone())
            .collect();
        Ok((entries, stale))
    }

    async fn delete_secret_env(&self, project: &Project, service: &ServiceId, keys: &[String]) {
        let scope = SecretScope::of_project(project);
        for key in keys {
            if let Err(error) = self.delete_secret(&scope, &secret_name(service, key)).await {
                tracing::warn!(service = %service, key, %error, "could not delete a secret env value");
            }
        }
    }

    /// The whole environment of a service's containers, secrets decrypted, `PORT` set.
    pub(crate) async fn service_environment(
        &self,
        project: &Project,
        service: &Service,
    ) -> Result<Vec<(String, String)>, ServiceError> {
        let scope = SecretScope::of_project(project);
        let mut env = Vec::with_capacity(service.env.len() + 1);
        for entry in &service.env {
            let value = if entry.secret {
                let bytes = self.get_secret(&scope, &secret_name(&service.id, &entry.key)).await?.ok_or_else(|| {
                    ServiceError::conflict(
                        "secret_missing",
                        format!("the secret env var {} has no stored value", entry.key),
                    )
                })?;
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| ServiceError::Internal(format!("the secret env var {} is not UTF-8", entry.key)))?
            } else {
                entry.value.clone().unwrap_or_default()
            };
            env.push((entry.key.clone(), value));
        }
        env.push(("PORT".to_owned(), service.port.to_string()));
        Ok(env)
    }

    pub async fn create_service(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        new: NewService,
        context: &RequestContext,
    ) -> Result<ServiceView, ServiceError> {
        let (project, _grant) = self.project_for(actor, project_id, Action::Deploy).await?;
        let name = rules::service_name(&new.name)?;
        let source = validate_source(&new.source.unwrap_or(ServiceSource::Workspace), self)?;
        let build = validate_build(&new.build.unwrap_or_default())?;
        let port = rules::service_port(new.port.unwrap_or(8080))?;
        let health_check_path = new.health_check_path.as_deref().map(rules::health_check_path).transpose()?;
        let health_check_timeout_secs = health_timeout(
            new.health_check_timeout_secs
                .unwrap_or(i64::try_from(DeployConfig::default().default_health_timeout.as_secs()).unwrap_or(60)),
        )?;
        let replicas = rules::replicas(new.replicas.unwrap_or(1))?;
        let cpu_millis = new.cpu_millis.map(cpu).transpose()?;
        let memory_bytes = new.memory_mb.map(memory).transpose()?;
        let id = ServiceId::new();
        let (env, _) = self.apply_env(&project, &id, &[], &new.env).await?;
        let now = Utc::now();
        let service = Service {
            id: id.clone(),
            project_id: project.id.clone(),
            name,
            source,
            build,
            port,
            health_check_path,
            health_check_timeout_secs,
            replicas,
            cpu_millis,
            memory_bytes,
            env,
            desired_state: DesiredState::Running,
            created_by: Some(actor.user_id.clone()),
            created_at: now,
            updated_at: now,
        };
        let stored = match self.store().insert_service(&service).await {
            Ok(stored) => stored,
            Err(error) => {
                let secret_keys: Vec<String> =
                    service.env.iter().filter(|entry| entry.secret).map(|entry| entry.key.clone()).collect();
                self.delete_secret_env(&project, &id, &secret_keys).await;
                return Err(match ServiceError::from(error) {
                    ServiceError::Conflict { .. } => {
                        ServiceError::conflict("service_name_taken", "the project already has a service of this name")
                    }
                    other => other,
                });
            }
        };
        self.audit(
            AuditEntry::new("service.created", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("service", stored.id.as_str())
                .detail(json!({ "project": project.id.as_str(), "name": stored.name, "source": stored.source.kind() })),
        )
        .await;
        self.refresh_routes().await;
        Ok(self.view(stored, &project))
    }

    pub async fn list_services(&self, actor: &Actor, project_id: &ProjectId) -> Result<Vec<ServiceView>, ServiceError> {
        let (project, _grant) = self.project_for(actor, project_id, Action::ReadProject).await?;
        let services = self.store().list_services(&project.id).await?;
        Ok(services.into_iter().map(|service| self.view(service, &project)).collect())
    }

    pub async fn get_service(&self, actor: &Actor, id: &ServiceId) -> Result<ServiceView, ServiceError> {
        let (service, project, _grant) = self.service_for(actor, id, Action::ReadProject).await?;
        Ok(self.view(service, &project))
    }

    pub async fn update_service(
        &self,
        actor: &Actor,
        id: &ServiceId,
        update: ServiceUpdate,
        context: &RequestContext,
    ) -> Result<ServiceView, ServiceError> {
        let (mut service, project, _grant) = self.service_for(actor, id, Action::Deploy).await?;
        if let Some(name) = update.name.as_deref() {
            service.name = rules::service_name(name)?;
        }
        if let Some(source) = &update.source {
            service.source = validate_source(source, self)?;
        }
        if let Some(build) = &update.build {
            service.build = validate_build(build)?;
        }
        if let Some(port) = update.port {
            service.port = rules::service_port(port)?;
        }
        if let Some(path) = &update.health_check_path {
            service.health_check_path = path.as_deref().map(rules::health_check_path).transpose()?;
        }
        if let Some(secs) = update.health_check_timeout_secs {
            service.health_check_timeout_secs = health_timeout(secs)?;
        }
        if let Some(replicas) = update.replicas {
            service.replicas = rules::replicas(replicas)?;
        }
        if let Some(value) = update.cpu_millis {
            service.cpu_millis = value.map(cpu).transpose()?;
        }
        if let Some(value) = update.memory_mb {
            service.memory_bytes = value.map(memory).transpose()?;
        }
        let mut stale = Vec::new();
        if let Some(env) = &update.env {
            let (entries, removed) = self.apply_env(&project, &service.id, &service.env, env).await?;
            service.env = entries;
            stale = removed;
        }
        let stored = self.store().update_service(&service).await.map_err(|error| match ServiceError::from(error) {
            ServiceError::Conflict { .. } => {
                ServiceError::conflict("service_name_taken", "the project already has a service of this name")
            }
            other => other,
        })?;
        self.delete_secret_env(&project, &service.id, &stale).await;
        self.audit(
            AuditEntry::new("service.updated", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("service", stored.id.as_str())
                .detail(json!({ "name": stored.name })),
        )
        .await;
        self.refresh_routes().await;
        Ok(self.view(stored, &project))
    }

    /// Deletes a service: its containers, its images' routes, its secrets and its history.
    pub async fn delete_service(
        &self,
        actor: &Actor,
        id: &ServiceId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (service, project, _grant) = self.service_for(actor, id, Action::Deploy).await?;
        // Cancel what is in flight so no job starts containers after the delete.
        for deployment in self.store().list_deployments(&service.id, None, 200).await? {
            if deployment.status.in_flight() {
                self.store().request_deployment_cancel(&deployment.id).await?;
                self.signal_cancel(&deployment.id).await;
            }
        }
        if let Ok(engine) = self.deploy_engine() {
            engine.routes.remove(service.id.as_str());
            engine
                .runtime
                .remove(Selector::service(service.id.as_str()), engine.config.stop_grace)
                .await
                .map_err(runtime_error)?;
            let pruned = images::remove_all(engine, &service.id).await;
            if !pruned.removed.is_empty() {
                tracing::info!(service = %service.id, images = pruned.removed.len(), bytes = pruned.bytes, "removed a deleted service's images");
            }
        }
        self.store().delete_service(&service.id).await?;
        let secret_keys: Vec<String> =
            service.env.iter().filter(|entry| entry.secret).map(|entry| entry.key.clone()).collect();
        self.delete_secret_env(&project, &service.id, &secret_keys).await;
        self.audit(
            AuditEntry::new("service.deleted", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("service", service.id.as_str())
                .detail(json!({ "name": service.name })),
        )
        .await;
        self.refresh_routes().await;
        Ok(())
    }

    /// Queues a deployment of the service's current source (or of a rollback image).
    async fn queue_deployment(
        &self,
        actor: &Actor,
        service: &Service,
        project: &Project,
        trigger: &str,
        rollback: Option<&Deployment>,
        prepared: Option<upload::PreparedSource>,
    ) -> Result<Deployment, ServiceError> {
        let image = match (rollback, &service.source) {
            (Some(previous), _) => previous.image.clone(),
            (None, ServiceSource::Image { image }) => Some(image.clone()),
            (None, _) => None,
        };
        // Without an engine the deployment is still recorded: its job fails at
        // once with `runtime_unavailable`, and the history says why.
        if let (Some(image), Ok(engine)) = (&image, self.deploy_engine())
            && engine.runtime.image(image).await.map_err(runtime_error)?.is_none()
        {
            let message = match rollback {
                Some(previous) => format!(
                    "deployment #{}'s image {image} is no longer on the engine: a service keeps the images of its \
                     newest {} deployments that went live (deploy.keep_images); deploy again to rebuild",
                    previous.number, engine.config.keep_images
                ),
                None => format!("the engine has no image {image}; build or load it first"),
            };
            return Err(invalid("image", "image_not_found", message));
        }
        let deployment = self
            .store()
            .insert_deployment(&NewDeployment {
                service_id: service.id.clone(),
                project_id: project.id.clone(),
                trigger: trigger.to_owned(),
                source: match (&prepared, rollback) {
                    (Some(prepared), _) => prepared.source.clone(),
                    (None, Some(previous)) => previous.source.clone(),
                    (None, None) => service.source.clone(),
                },
                rollback_of: rollback.map(|previous| previous.id.clone()),
                image,
                created_by: Some(actor.user_id.clone()),
            })
            .await?;
        if let Some(prepared) = prepared
            // Before the job exists, so its worker finds the source in place.
            && let Err(error) = prepared.place(self, &deployment).await
        {
            let finish = DeploymentFinish {
                error_code: Some("upload_unstaged".into()),
                error_message: Some("the uploaded source could not be staged".into()),
                last_log: None,
            };
            let _ = self
                .store()
                .transition_deployment(&deployment.id, &[DeploymentStatus::Queued], DeploymentStatus::Failed, &finish)
                .await;
            return Err(error);
        }
        let job = self
            .enqueue_job(NewJob {
                kind: KIND.to_owned(),
                org_id: project.org_id.clone(),
                project_id: Some(project.id.clone()),
                created_by: Some(actor.user_id.clone()),
                payload: json!({ "deployment_id": deployment.id.as_str() }),
                max_attempts: 1,
            })
            .await?;
        self.store().set_deployment_job(&deployment.id, job.id.as_str()).await?;
        self.refresh_routes().await;
        // As queued: a worker may already have moved it on, which the caller sees on its next read.
        Ok(Deployment { job_id: Some(job.id.as_str().to_owned()), ..deployment })
    }

    pub async fn deploy_service(
        &self,
        actor: &Actor,
        id: &ServiceId,
        context: &RequestContext,
    ) -> Result<Deployment, ServiceError> {
        let (service, project, _grant) = self.service_for(actor, id, Action::Deploy).await?;
        let deployment = self.queue_deployment(actor, &service, &project, "deploy", None, None).await?;
        self.audit(
            AuditEntry::new("deployment.created", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("deployment", deployment.id.as_str())
                .detail(json!({ "service": service.id.as_str(), "number": deployment.number })),
        )
        .await;
        Ok(deployment)
    }

    pub async fn rollback_service(
        &self,
        actor: &Actor,
        id: &ServiceId,
        to: &DeploymentId,
        context: &RequestContext,
    ) -> Result<Deployment, ServiceError> {
        let (service, project, _grant) = self.service_for(actor, id, Action::Deploy).await?;
        let previous = match self.store().get_deployment(to).await {
            Ok(previous) if previous.service_id == service.id => previous,
            Ok(_) | Err(dockyard_store::StoreError::NotFound) => {
                return Err(ServiceError::Missing {
                    code: "deployment_not_found",
                    message: "this service has no such deployment".into(),
                });
            }
            Err(error) => return Err(error.into()),
        };
        let succeeded = previous.active_at.is_some() && previous.image.is_some();
        if !succeeded {
            return Err(ServiceError::conflict(
                "deployment_not_rollbackable",
                "only a deployment that went live can be rolled back to",
            ));
        }
        let deployment = self.queue_deployment(actor, &service, &project, "rollback", Some(&previous), None).await?;
        self.audit(
            AuditEntry::new("deployment.rollback", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("deployment", deployment.id.as_str())
                .detail(json!({ "service": service.id.as_str(), "rollback_of": previous.id.as_str() })),
        )
        .await;
        Ok(deployment)
    }

    /// A service's deployments, newest first, each with whether its image was
    /// removed (see [`DeploymentRead`]).
    pub async fn list_deployments(
        &self,
        actor: &Actor,
        id: &ServiceId,
        before: Option<u32>,
        limit: u32,
    ) -> Result<Vec<DeploymentRead>, ServiceError> {
        let (service, _project, _grant) = self.service_for(actor, id, Action::ReadProject).await?;
        let deployments = self.store().list_deployments(&service.id, before, limit).await?;
        let present = images::present_tags(self, &service.id, &deployments).await;
        Ok(deployments.into_iter().map(|deployment| DeploymentRead::new(deployment, present.as_ref())).collect())
    }

    pub async fn get_deployment(&self, actor: &Actor, id: &DeploymentId) -> Result<DeploymentRead, ServiceError> {
        let deployment = self.deployment_for(actor, id, Action::ReadProject).await?.0;
        let present = images::present_tags(self, &deployment.service_id, std::slice::from_ref(&deployment)).await;
        Ok(DeploymentRead::new(deployment, present.as_ref()))
    }

    /// The job whose events are the deployment's build and deploy log.
    pub async fn deployment_log_job(
        &self,
        actor: &Actor,
        id: &DeploymentId,
    ) -> Result<dockyard_domain::JobId, ServiceError> {
        let (deployment, _service, _project) = self.deployment_for(actor, id, Action::ReadProject).await?;
        let job = deployment.job_id.ok_or(ServiceError::NotFound)?;
        job.parse().map_err(|_| ServiceError::Internal("a deployment names an invalid job id".into()))
    }

    async fn signal_cancel(&self, id: &DeploymentId) {
        self.bus().publish(&job::cancel_topic(id), json!({ "cancel": true }));
    }

    pub async fn cancel_deployment(
        &self,
        actor: &Actor,
        id: &DeploymentId,
        context: &RequestContext,
    ) -> Result<Deployment, ServiceError> {
        let (deployment, _service, project) = self.deployment_for(actor, id, Action::Deploy).await?;
        if !deployment.status.in_flight() {
            return Err(ServiceError::conflict(
                "deployment_finished",
                format!("the deployment is {} and can no longer be cancelled", deployment.status),
            ));
        }
        self.store().request_deployment_cancel(&deployment.id).await?;
        // A queued deployment is cancelled here; a running job sees the flag (or
        // the bus message) and stops its build or its containers.
        let finish = DeploymentFinish {
            error_code: Some("cancelled".into()),
            error_message: Some("cancelled by a user".into()),
            last_log: None,
        };
        self.store()
            .transition_deployment(&deployment.id, &[DeploymentStatus::Queued], DeploymentStatus::Cancelled, &finish)
            .await?;
        self.signal_cancel(&deployment.id).await;
        self.audit(
            AuditEntry::new("deployment.cancelled", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("deployment", deployment.id.as_str()),
        )
        .await;
        self.refresh_routes().await;
        Ok(self.store().get_deployment(&deployment.id).await?)
    }

    /// Stops, starts or restarts a service's running deployment. The action
    /// runs to its end even if the caller goes away meanwhile: a stop or a
    /// rolling restart cut off halfway would leave instances running off the
    /// proxy, or cordoned until their cordon runs out.
    pub async fn service_power(
        &self,
        actor: &Actor,
        id: &ServiceId,
        action: PowerAction,
        context: &RequestContext,
    ) -> Result<ServiceView, ServiceError> {
        let (service, project, _grant) = self.service_for(actor, id, Action::Deploy).await?;
        let engine = Arc::clone(self.deploy_engine()?);
        let lease = PowerLease::claim(self.store(), engine.peers.me(), &service.id, POWER_LEASE_TTL)
            .await?
            .ok_or_else(|| {
                ServiceError::conflict(
                    "service_busy",
                    "a stop, start or restart of this service, or a deploy going live, is under way",
                )
            })?;
        let (services, actor, context) = (self.clone(), actor.clone(), context.clone());
        tokio::spawn(async move {
            let result = services.power(&engine, &actor, service, project, action, &context).await;
            lease.release().await;
            result
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("the {action:?} task failed: {error}")))?
    }

    async fn power(
        &self,
        engine: &DeployEngine,
        actor: &Actor,
        service: Service,
        project: Project,
        action: PowerAction,
        context: &RequestContext,
    ) -> Result<ServiceView, ServiceError> {
        // Only the live deployment's instances: older ones may be draining or on their way out.
        let active = self.active_deployment(&service.id).await?.ok_or_else(|| {
            ServiceError::conflict("service_not_deployed", "the service has no live deployment; deploy it first")
        })?;
        let selector = Selector::deployment(active.id.as_str());
        match action {
            PowerAction::Stop => {
                self.store().set_service_desired_state(&service.id, DesiredState::Stopped).await?;
                // New requests get the "stopped" page from here on; the ones in
                // flight finish first, on every replica's proxy, as in a redeploy.
                self.refresh_routes().await;
                self.drain_for_stop(engine, &service, &selector).await;
                engine.runtime.stop(selector, engine.config.stop_grace).await.map_err(runtime_error)?;
            }
            PowerAction::Start => {
                self.store().set_service_desired_state(&service.id, DesiredState::Running).await?;
                engine.runtime.resume(selector).await.map_err(runtime_error)?;
                self.wait_service_healthy(&service).await;
            }
            PowerAction::Restart => {
                self.store().set_service_desired_state(&service.id, DesiredState::Running).await?;
                let instances = engine.runtime.list(selector.clone()).await.map_err(runtime_error)?;
                if instances.len() > 1 {
                    self.rolling_restart(engine, &service, &active.id, instances).await?;
                } else {
                    // One instance cannot be restarted without a gap (a redeploy of
                    // the same image, `rollback` to the live deployment, has none).
                    engine.runtime.restart(selector, engine.config.stop_grace).await.map_err(runtime_error)?;
                    self.wait_service_healthy(&service).await;
                }
            }
        }
        self.audit(
            AuditEntry::new(action.audit_action(), context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("service", service.id.as_str()),
        )
        .await;
        self.refresh_routes().await;
        let service = self.store().get_service(&service.id).await?;
        Ok(self.view(service, &project))
    }

    /// Restarts the instances one at a time, so the others keep serving: each
    /// one is taken off every replica's proxy and drained, restarted, and put
    /// back once it passes its health check (without a health path: once it
    /// still runs after a moment, as a deploy checks). One that does not pass
    /// within the health-check timeout stops the restart there
    /// (`restart_unhealthy`): the instances after it keep running as they were.
    async fn rolling_restart(
        &self,
        engine: &DeployEngine,
        service: &Service,
        deployment: &DeploymentId,
        mut instances: Vec<dockyard_runtime::Instance>,
    ) -> Result<(), ServiceError> {
        instances.sort_by_key(|instance| instance.replica);
        let health_timeout = Duration::from_secs(u64::from(service.health_check_timeout_secs));
        // Past every step of one instance's turn, should this replica die mid-turn.
        let cordon_for =
            engine.config.drain_timeout + engine.config.stop_grace + health_timeout + Duration::from_secs(30);
        for instance in instances {
            let ids = [instance.id.clone()];
            let serving = instance.state == dockyard_runtime::InstanceState::Running;
            if let (true, Some(addr)) = (serving, instance.addr) {
                let report =
                    self.cordon_and_drain(engine, &ids, &[addr], cordon_for, engine.config.drain_timeout).await;
                if !report.local || !report.busy.is_empty() {
                    tracing::info!(service = %service.id, instance = %instance.name,
                        "restart: requests were still in flight at the drain deadline");
                }
            }
            let one = Selector::replica(deployment.as_str(), instance.replica);
            let restarted = engine.runtime.restart(one.clone(), engine.config.stop_grace).await;
            let healthy = match (&restarted, service.health_check_path.as_deref()) {
                (Err(_), _) => false,
                // As a deploy without a health path: still up after a moment.
                (Ok(_), None) => stays_up(engine.runtime.as_ref(), one, NO_HEALTH_PATH_SETTLE).await,
                (Ok(_), Some(path)) => {
                    // Its address may change with the restart.
                    let addr = engine.runtime.list(one).await.ok().and_then(|now| now.first().and_then(|i| i.addr));
                    match addr {
                        Some(addr) => dockyard_runtime::health::wait_healthy(
                            addr,
                            path,
                            health_timeout,
                            Duration::from_millis(200),
                            dockyard_runtime::CancellationToken::new(),
                        )
                        .await
                        .is_ok(),
                        None => false,
                    }
                }
            };
            // Back on the proxies either way: a failing instance is then the
            // health checks' to take out, as any other.
            self.uncordon_everywhere(engine, &ids).await;
            restarted.map_err(runtime_error)?;
            if !healthy {
                return Err(ServiceError::conflict(
                    "restart_unhealthy",
                    format!(
                        "instance {} did not come back healthy within {} s of its restart; the instances after it were not restarted",
                        instance.name,
                        health_timeout.as_secs()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Waits (up to `deploy.drain_seconds`) until no proxy has a request in
    /// flight on the instances `selector` picks; says in the log when some
    /// still had one at the deadline. The stop goes on either way.
    async fn drain_for_stop(&self, engine: &DeployEngine, service: &Service, selector: &Selector) {
        let addrs: Vec<_> = match engine.runtime.list(selector.clone()).await {
            Ok(instances) => instances.iter().filter_map(|instance| instance.addr).collect(),
            Err(error) => {
                tracing::warn!(service = %service.id, %error, "stop: cannot list the instances to drain; stopping at once");
                return;
            }
        };
        let report = self.drain_everywhere(engine, &addrs, engine.config.drain_timeout).await;
        if !report.local || !report.busy.is_empty() || !report.silent.is_empty() {
            tracing::info!(
                service = %service.id,
                local_drained = report.local,
                busy = ?report.busy,
                silent = ?report.silent,
                "stop: requests were still in flight at the drain deadline"
            );
        }
    }

    /// The deployment serving now, if any.
    pub(crate) async fn active_deployment(&self, service: &ServiceId) -> Result<Option<Deployment>, ServiceError> {
        let recent = self.store().list_deployments(service, None, 200).await?;
        Ok(recent.into_iter().find(|deployment| deployment.status == DeploymentStatus::Active))
    }

    /// After a start or restart: waits (bounded) for the instances to answer,
    /// so the route comes back with healthy backends.
    async fn wait_service_healthy(&self, service: &Service) {
        let Ok(engine) = self.deploy_engine() else { return };
        let Ok(Some(active)) = self.active_deployment(&service.id).await else { return };
        let Ok(instances) = engine.runtime.list(Selector::deployment(active.id.as_str())).await else { return };
        let timeout = Duration::from_secs(u64::from(service.health_check_timeout_secs));
        for instance in instances {
            if let (Some(addr), Some(path)) = (instance.addr, service.health_check_path.as_deref()) {
                let _ = dockyard_runtime::health::wait_healthy(
                    addr,
                    path,
                    timeout,
                    Duration::from_millis(200),
                    dockyard_runtime::CancellationToken::new(),
                )
                .await;
            }
        }
    }

    /// Runtime logs of the service's active deployment.
    pub async fn service_logs(
        &self,
        actor: &Actor,
        id: &ServiceId,
        options: LogOptions,
    ) -> Result<impl Stream<Item = Result<LogLine, RuntimeError>> + Send + 'static, ServiceError> {
        let (service, _project, _grant) = self.service_for(actor, id, Action::ReadProject).await?;
        let engine = self.deploy_engine()?.clone();
        let selector = Selector::service(service.id.as_str());
        Ok(async_stream_logs(engine, selector, options))
    }

    /// CPU, memory and network of the service's running instances.
    pub async fn service_stats(&self, actor: &Actor, id: &ServiceId) -> Result<Vec<InstanceStats>, ServiceError> {
        let (service, _project, _grant) = self.service_for(actor, id, Action::ReadProject).await?;
        let engine = self.deploy_engine()?;
        let Some(active) = self.active_deployment(&service.id).await? else { return Ok(Vec::new()) };
        engine.runtime.stats(Selector::deployment(active.id.as_str())).await.map_err(runtime_error)
    }

    /// The instances of a service as the engine reports them.
    pub async fn service_instances(
        &self,
        actor: &Actor,
        id: &ServiceId,
    ) -> Result<Vec<dockyard_runtime::Instance>, ServiceError> {
        let (service, _project, _grant) = self.service_for(actor, id, Action::ReadProject).await?;
        let engine = self.deploy_engine()?;
        engine.runtime.list(Selector::service(service.id.as_str())).await.map_err(runtime_error)
    }

    /// The build plan Dockyard would use for the service's workspace source.
    pub async fn service_plan(&self, actor: &Actor, id: &ServiceId) -> Result<serde_json::Value, ServiceError> {
        let (service, project, _grant) = self.service_for(actor, id, Action::ReadProject).await?;
        if !matches!(service.source, ServiceSource::Workspace) {
            return Err(ServiceError::conflict(
                "plan_needs_workspace",
                "a plan can be shown before deploying only for workspace sources; git sources show theirs in each deployment",
            ));
        }
        let root = self.inner.workspaces.get(&project.id)?.root().to_path_buf();
        let dir = match &service.build.context {
            Some(context) => root.join(context),
            None => root,
        };
        let options = self.plan_options(&service);
        let plan = tokio::task::spawn_blocking(move || dockyard_runtime::plan::detect(&dir, &options))
            .await
            .map_err(|error| ServiceError::Internal(format!("the plan task failed: {error}")))?
            .map_err(|error| ServiceError::bad_request("no_build_plan", error.to_string()))?;
        serde_json::to_value(&plan).map_err(|error| ServiceError::Internal(error.to_string()))
    }

    pub(crate) fn plan_options(&self, service: &Service) -> dockyard_runtime::plan::PlanOptions {
        let (images, extra_ca) = match self.inner.deploy.get() {
            Some(engine) => (engine.config.images.clone(), engine.config.extra_ca_file.is_some()),
            None => (BaseImages::default(), false),
        };
        dockyard_runtime::plan::PlanOptions {
            dockerfile_path: service.build.dockerfile_path.clone(),
            images,
            extra_ca_bundle: extra_ca,
            static_server: dockyard_runtime::plan::StaticServer::default(),
        }
    }
}

/// Stop, start or restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Stop,
    Start,
    Restart,
}

impl PowerAction {
    fn audit_action(self) -> &'static str {
        match self {
            PowerAction::Stop => "service.stopped",
            PowerAction::Start => "service.started",
            PowerAction::Restart => "service.restarted",
        }
    }
}

/// A log stream that owns its engine, so the HTTP layer can hold it past the request.
fn async_stream_logs(
    engine: Arc<DeployEngine>,
    selector: Selector,
    options: LogOptions,
) -> impl Stream<Item = Result<LogLine, RuntimeError>> + Send + 'static {
    let (sender, receiver) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut stream = engine.runtime.logs(selector, options);
        while let Some(item) = stream.next().await {
            if sender.send(item).await.is_err() {
                break;
            }
        }
    });
    futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    )
}

/// Maps an engine error to what callers see.
pub(crate) fn runtime_error(error: RuntimeError) -> ServiceError {
    match error {
        RuntimeError::Unavailable(message) => ServiceError::EngineUnavailable { message },
        RuntimeError::ImageNotFound(image) => {
            ServiceError::Missing { code: "image_not_found", message: format!("the engine has no image {image}") }
        }
        other => ServiceError::Internal(format!("container engine: {other}")),
    }
}
