//! The `deploy` job: one deployment from `queued` to `active`, or to `failed`
//! / `cancelled` with its reason and last log lines.
//!
//! Zero downtime: the new instances start beside the old ones and must pass
//! the health check; only then does the route switch, the old instances drain
//! (the proxy counts their requests in flight) and stop. When anything fails
//! before the switch, the new instances are removed and the old ones keep
//! serving, untouched.
//!
//! Cancellation reaches a running job two ways: a bus message (fast, same or
//! other replica) and the `cancel_requested` flag polled from the database
//! (when a message is lost). Either fires the job's [`CancellationToken`],
//! which really stops a build (the runtime aborts it) or the health wait.
//!
//! Deploy jobs have one attempt: a worker that dies mid-deploy leaves the job
//! to expire, and [`reconcile`] then fails the deployment and removes whatever
//! containers it had started.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dockyard_domain::deploy::{Deployment, DeploymentStatus, DesiredState, Service, ServiceSource};
use dockyard_domain::{DeploymentId, ServiceId};
use dockyard_runtime::{
    BuildRequest, CancellationToken, Instance, LABEL_DEPLOYMENT, LABEL_MANAGED, LABEL_PROJECT, LABEL_SERVICE, LogLine,
    LogOptions, LogStream, RestartPolicy, RuntimeError, Selector, WorkloadSpec,
};
use dockyard_store::DeploymentFinish;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::power::{POWER_LEASE_TTL, PowerLease};
use super::{DeployEngine, images};
use crate::jobs::{JobContext, JobFailure, JobRecord};
use crate::{ServiceError, Services};

/// Lines kept for a failed deployment's `last_log`.
const LAST_LOG_LINES: usize = 40;
/// Where the extra CA bundle goes in containers and generated builds.
const CA_IN_CONTAINER: &str = "/etc/ssl/certs/dockyard-extra-ca.crt";

/// How often a deploy ready to go live asks again for the service's power lease.
const POWER_LEASE_POLL: Duration = Duration::from_millis(250);

/// The bus topic a cancel request for a deployment is announced on.
pub(crate) fn cancel_topic(id: &DeploymentId) -> String {
    format!("deployment-cancel:{id}")
}

/// How a deploy ended when it did not go live.
enum Stop {
    Cancelled,
    Failed { code: String, message: String },
}

impl Stop {
    fn failed(code: &str, message: impl Into<String>) -> Self {
        Stop::Failed { code: code.to_owned(), message: message.into() }
    }
}

impl From<ServiceError> for Stop {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::EngineUnavailable { message } => Stop::failed("runtime_unavailable", message),
            ServiceError::Conflict { code, message } => Stop::failed(code, message),
            other => Stop::failed("deploy_error", other.to_string()),
        }
    }
}

/// The log of one run: every line goes to the job's events, and the last few
/// are kept for the deployment's `last_log`.
#[derive(Clone)]
struct RunLog {
    context: JobContext,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl RunLog {
    fn line(&self, stream: LogStream, text: &str) {
        self.context.event("log", json!({ "stream": stream, "line": text }));
        let mut tail = self.tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if tail.len() == LAST_LOG_LINES {
            tail.pop_front();
        }
        tail.push_back(text.to_owned());
    }

    fn system(&self, text: &str) {
        self.line(LogStream::System, text);
    }

    fn step(&self, status: DeploymentStatus) {
        self.context.event("step", json!({ "status": status }));
        self.context.progress(json!({ "status": status }));
    }

    fn tail(&self) -> Vec<String> {
        self.tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().cloned().collect()
    }
}

fn deployment_id(job: &JobRecord) -> Result<DeploymentId, JobFailure> {
    job.payload["deployment_id"]
        .as_str()
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(|| JobFailure::new("invalid_payload", "the deploy job names no deployment"))
}

pub(crate) async fn run(context: JobContext) -> Result<Value, JobFailure> {
    let services = context.services().clone();
    let id = deployment_id(context.job())?;
    let deployment =
        services.store().get_deployment(&id).await.map_err(|error| {
            JobFailure::new("deployment_missing", format!("the deployment cannot be read: {error}"))
        })?;
    // An uploaded source (or a clone) is staged here; it goes when the job ends, whatever happened.
    let _staging =
        services.deploy_engine().ok().map(|engine| StagingGuard(engine.config.staging_root.join(id.as_str())));
    if deployment.status != DeploymentStatus::Queued {
        // Cancelled (or failed by a reconcile) before a worker got to it.
        return Ok(json!({ "deployment_id": id.as_str(), "status": deployment.status, "skipped": true }));
    }
    let log = RunLog { context: context.clone(), tail: Arc::new(Mutex::new(VecDeque::new())) };
    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(watch_cancel(services.clone(), id.clone(), cancel.clone()));
    let outcome = match services.deploy_engine() {
        Ok(engine) => {
            let engine = engine.clone();
            let outcome = deploy(&services, &engine, &deployment, &log, &cancel).await;
            if outcome.is_err() {
                // The new instances go; the old ones were never touched.
                if let Err(error) =
                    engine.runtime.remove(Selector::deployment(id.as_str()), engine.config.stop_grace).await
                {
                    tracing::warn!(deployment = %id, %error, "could not remove a failed deployment's instances");
                }
            }
            outcome
        }
        Err(error) => Err(Stop::from(error)),
    };
    watcher.abort();
    let in_flight = [DeploymentStatus::Queued, DeploymentStatus::Building, DeploymentStatus::Starting];
    let result = match outcome {
        Ok(image) => Ok(json!({ "deployment_id": id.as_str(), "status": "active", "image": image })),
        Err(Stop::Cancelled) => {
            log.system("cancelled");
            let finish = DeploymentFinish {
                error_code: Some("cancelled".into()),
                error_message: Some("cancelled by a user".into()),
                last_log: Some(log.tail()),
            };
            let _ = services.store().transition_deployment(&id, &in_flight, DeploymentStatus::Cancelled, &finish).await;
            log.step(DeploymentStatus::Cancelled);
            Err(JobFailure::new("cancelled", "the deployment was cancelled"))
        }
        Err(Stop::Failed { code, message }) => {
            log.system(&format!("failed: {message}"));
            let finish = DeploymentFinish {
                error_code: Some(code.clone()),
                error_message: Some(message.clone()),
                last_log: Some(log.tail()),
            };
            let _ = services.store().transition_deployment(&id, &in_flight, DeploymentStatus::Failed, &finish).await;
            log.step(DeploymentStatus::Failed);
            Err(JobFailure::new(code, message))
        }
    };
    services.refresh_routes().await;
    if let Ok(engine) = services.deploy_engine() {
        prune_images(&services, engine, &deployment.service_id, &log).await;
    }
    result
}

/// Removes the service's images no rollback can use any more (see `images`).
async fn prune_images(services: &Services, engine: &Arc<DeployEngine>, service: &ServiceId, log: &RunLog) {
    match images::prune(services, engine, service, engine.config.keep_images).await {
        Ok(pruned) if !pruned.removed.is_empty() => log.system(&format!(
            "removed {} old image(s), {} MB (deploy.keep_images = {})",
            pruned.removed.len(),
            pruned.bytes.div_ceil(1_000_000),
            engine.config.keep_images
        )),
        Ok(_) => {}
        Err(error) => tracing::warn!(%service, %error, "could not prune old images"),
    }
}

/// Fires `cancel` when the deployment's cancel is requested.
async fn watch_cancel(services: Services, id: DeploymentId, cancel: CancellationToken) {
    let mut subscription = services.bus().subscribe(&cancel_topic(&id));
    loop {
        tokio::select! {
            _ = subscription.recv() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        match services.store().get_deployment(&id).await {
            Ok(deployment) if deployment.cancel_requested => {
                cancel.cancel();
                return;
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(deployment = %id, %error, "could not check for a cancel"),
        }
    }
}

async fn transition(
    services: &Services,
    id: &DeploymentId,
    from: DeploymentStatus,
    to: DeploymentStatus,
    log: &RunLog,
) -> Result<Deployment, Stop> {
    match services.store().transition_deployment(id, &[from], to, &DeploymentFinish::default()).await {
        Ok(Some(deployment)) => {
            log.step(to);
            Ok(deployment)
        }
        // Someone else moved it: only a cancel does that while a job runs.
        Ok(None) => Err(Stop::Cancelled),
        Err(error) => Err(Stop::failed("deploy_error", format!("the deployment's state could not be saved: {error}"))),
    }
}

/// Runs the deployment; answers the image that went live.
async fn deploy(
    services: &Services,
    engine: &Arc<DeployEngine>,
    deployment: &Deployment,
    log: &RunLog,
    cancel: &CancellationToken,
) -> Result<String, Stop> {
    let store = services.store();
    let service =
        store.get_service(&deployment.service_id).await.map_err(|error| Stop::from(ServiceError::from(error)))?;
    let project =
        store.get_project(&deployment.project_id).await.map_err(|error| Stop::from(ServiceError::from(error)))?;
    log.system(&format!("deployment #{} of {} ({})", deployment.number, service.name, deployment.trigger));

    let image = match &deployment.image {
        Some(image) => {
            log.system(&format!("using the existing image {image}"));
            match engine.runtime.image(image).await {
                Ok(Some(_)) => {}
                Ok(None) => return Err(Stop::failed("image_not_found", format!("the engine has no image {image}"))),
                Err(error) => return Err(engine_stop(error)),
            }
            transition(services, &deployment.id, DeploymentStatus::Queued, DeploymentStatus::Starting, log).await?;
            image.clone()
        }
        None => {
            transition(services, &deployment.id, DeploymentStatus::Queued, DeploymentStatus::Building, log).await?;
            let image = build(services, engine, deployment, &service, &project, log, cancel).await?;
            transition(services, &deployment.id, DeploymentStatus::Building, DeploymentStatus::Starting, log).await?;
            image
        }
    };
    if cancel.is_cancelled() {
        return Err(Stop::Cancelled);
    }

    let mut env = services.service_environment(&project, &service).await?;
    let mut mounts = Vec::new();
    if let Some(ca) = &engine.config.extra_ca_file {
        mounts.push((ca.clone(), CA_IN_CONTAINER.to_owned()));
        for key in ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CARGO_HTTP_CAINFO"] {
            if !env.iter().any(|(existing, _)| existing == key) {
                env.push((key.to_owned(), CA_IN_CONTAINER.to_owned()));
            }
        }
    }
    let spec = WorkloadSpec {
        project_id: project.id.as_str().to_owned(),
        service_id: service.id.as_str().to_owned(),
        deployment_id: deployment.id.as_str().to_owned(),
        project_slug: project.slug.clone(),
        service_name: service.name.clone(),
        image: image.clone(),
        replicas: service.replicas,
        port: service.port,
        env,
        cpu_millis: service.cpu_millis,
        memory_bytes: service.memory_bytes,
        restart: RestartPolicy::UnlessStopped,
        read_only_mounts: mounts,
        command: None,
    };
    log.system(&format!("starting {} instance(s) of {image}", service.replicas));
    let instances = tokio::select! {
        started = engine.runtime.start(spec) => started.map_err(|error| match error {
            RuntimeError::StartFailed(message) => Stop::failed("start_failed", message),
            other => engine_stop(other),
        })?,
        () = cancel.cancelled() => return Err(Stop::Cancelled),
    };
    if let Err(stop) = wait_healthy(engine, &service, &instances, log, cancel).await {
        if matches!(stop, Stop::Failed { .. }) {
            collect_instance_logs(engine, &deployment.id, log).await;
        }
        return Err(stop);
    }

    // The switch holds the service's power lease: a stop, start or restart
    // under way (on any replica) acts on the live instances, the old ones, so
    // it finishes first, and none starts during the switch.
    let lease = power_lease(services, engine, &service.id, log, cancel).await?;
    // Going live makes the service run, also if it was stopped since the job read it.
    let now = store.get_service(&service.id).await.map_err(|error| Stop::from(ServiceError::from(error)))?;
    let stopped = now.desired_state == DesiredState::Stopped;

    // The switch: this replica's proxy to the new instances, active in the
    // database, every replica's routes from it; then the old instances drain and go.
    let commit = async {
        transition(services, &deployment.id, DeploymentStatus::Starting, DeploymentStatus::Active, log).await?;
        let superseded = store.supersede_deployments(&service.id, &deployment.id).await.unwrap_or_else(|error| {
            tracing::warn!(deployment = %deployment.id, %error, "could not mark older deployments superseded");
            Vec::new()
        });
        if stopped {
            let _ = store.set_service_desired_state(&service.id, DesiredState::Running).await;
        }
        Ok::<_, Stop>(superseded)
    };
    let superseded = services.switch_route(&service, &project.slug, &instances, commit).await?;
    // From here on a stop, start or restart acts on the new instances, and
    // the old ones are this job's alone.
    lease.release().await;
    log.system("live: traffic goes to the new instances");
    retire_old_instances(services, engine, &service, &deployment.id, log).await;
    if !superseded.is_empty() {
        log.system(&format!("superseded {} earlier deployment(s)", superseded.len()));
    }
    Ok(image)
}

/// Takes the service's power lease, waiting (cancellably) while a stop, start
/// or restart holds it.
async fn power_lease(
    services: &Services,
    engine: &DeployEngine,
    service: &ServiceId,
    log: &RunLog,
    cancel: &CancellationToken,
) -> Result<PowerLease, Stop> {
    let mut told = false;
    loop {
        match PowerLease::claim(services.store(), engine.peers.me(), service, POWER_LEASE_TTL).await {
            Ok(Some(lease)) => return Ok(lease),
            Ok(None) => {}
            Err(error) => return Err(Stop::from(error)),
        }
        if !told {
            log.system("waiting for a stop, start or restart of the service to finish");
            told = true;
        }
        tokio::select! {
            () = tokio::time::sleep(POWER_LEASE_POLL) => {}
            () = cancel.cancelled() => return Err(Stop::Cancelled),
        }
    }
}

/// Waits until every new instance answers its health check (or, without a
/// path, is still running after a moment).
async fn wait_healthy(
    engine: &Arc<DeployEngine>,
    service: &Service,
    instances: &[Instance],
    log: &RunLog,
    cancel: &CancellationToken,
) -> Result<(), Stop> {
    let timeout = Duration::from_secs(u64::from(service.health_check_timeout_secs));
    match service.health_check_path.as_deref() {
        Some(path) => {
            log.system(&format!("waiting for {path} to answer 2xx (up to {} s)", timeout.as_secs()));
            let checks = instances.iter().map(|instance| {
                let cancel = cancel.child_token();
                async move {
                    let Some(addr) = instance.addr else {
                        return Err(format!("instance {} has no address", instance.replica));
                    };
                    dockyard_runtime::health::wait_healthy(addr, path, timeout, Duration::from_millis(200), cancel)
                        .await
                        .map_err(|error| format!("instance {}: {error}", instance.replica))
                }
            });
            let results = futures_util::future::join_all(checks).await;
            if cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if failures.is_empty() {
                log.system("healthy");
                Ok(())
            } else {
                Err(Stop::failed("health_check_failed", format!("the health check failed: {}", failures.join("; "))))
            }
        }
        None => {
            // No HTTP check: the instances must stay up for a short while, each in one run.
            let checks = instances.iter().map(|instance| {
                let one = Selector::replica(instance.deployment_id.as_str(), instance.replica);
                super::stays_up(engine.runtime.as_ref(), one, super::NO_HEALTH_PATH_SETTLE)
            });
            let up = tokio::select! {
                up = futures_util::future::join_all(checks) => up,
                () = cancel.cancelled() => return Err(Stop::Cancelled),
            };
            if up.iter().all(|up| *up) {
                log.system("running (no health-check path set)");
                Ok(())
            } else {
                Err(Stop::failed("start_failed", "an instance exited right after it started"))
            }
        }
    }
}

/// Copies the new instances' last output into the deploy log, for a failure's `last_log`.
async fn collect_instance_logs(engine: &Arc<DeployEngine>, deployment: &DeploymentId, log: &RunLog) {
    let options = LogOptions { follow: false, since: None, tail: Some(20) };
    let mut stream = engine.runtime.logs(Selector::deployment(deployment.as_str()), options);
    let collect = async {
        while let Some(Ok(line)) = stream.next().await {
            log.line(line.stream, &line.text);
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), collect).await;
}

/// Drains (on every replica's proxy) and removes every instance of the service that is not `keep`'s.
async fn retire_old_instances(
    services: &Services,
    engine: &Arc<DeployEngine>,
    service: &Service,
    keep: &DeploymentId,
    log: &RunLog,
) {
    let instances = match engine.runtime.list(Selector::service(service.id.as_str())).await {
        Ok(instances) => instances,
        Err(error) => {
            tracing::warn!(service = %service.id, %error, "could not list old instances; the sweep will remove them");
            return;
        }
    };
    let old: Vec<&Instance> = instances.iter().filter(|instance| instance.deployment_id != keep.as_str()).collect();
    if old.is_empty() {
        return;
    }
    let addrs: Vec<_> = old.iter().filter_map(|instance| instance.addr).collect();
    let report = services.drain_everywhere(engine, &addrs, engine.config.drain_timeout).await;
    if !report.local {
        log.system("old instances still had requests in flight at the drain deadline");
    }
    if !report.drained.is_empty() {
        log.system(&format!("drained on {} other replica(s)", report.drained.len()));
    }
    for (replicas, what) in [
        (&report.busy, "still had requests in flight at the drain deadline"),
        (&report.silent, "did not answer the drain in time"),
    ] {
        if !replicas.is_empty() {
            log.system(&format!("{} other replica(s) {what}: {}", replicas.len(), replicas.join(", ")));
        }
    }
    let mut deployments: Vec<&str> = old.iter().map(|instance| instance.deployment_id.as_str()).collect();
    deployments.sort_unstable();
    deployments.dedup();
    for old_deployment in deployments {
        if let Err(error) = engine.runtime.remove(Selector::deployment(old_deployment), engine.config.stop_grace).await
        {
            tracing::warn!(deployment = old_deployment, %error, "could not remove old instances; the sweep will retry");
        }
    }
    log.system(&format!("stopped {} old instance(s)", old.len()));
}

/// Builds the deployment's image; answers its tag.
async fn build(
    services: &Services,
    engine: &Arc<DeployEngine>,
    deployment: &Deployment,
    service: &Service,
    project: &dockyard_domain::Project,
    log: &RunLog,
    cancel: &CancellationToken,
) -> Result<String, Stop> {
    // Removed by `run` when the job ends.
    let staging = engine.config.staging_root.join(deployment.id.as_str());
    let source_root: PathBuf = match &deployment.source {
        ServiceSource::Workspace => {
            services.inner.workspaces.get(&project.id).map_err(Stop::from)?.root().to_path_buf()
        }
        ServiceSource::Git { url, branch } => {
            log.system(&format!("cloning {url} ({branch})"));
            // The clone is the build context's source: it may not grow past the context limit.
            clone(services, project, url, branch, &staging, engine.config.max_context_bytes).await?;
            staging.clone()
        }
        ServiceSource::Image { image } => {
            return Err(Stop::failed("invalid_source", format!("image sources are not built ({image})")));
        }
        ServiceSource::Upload { files, bytes } => {
            if !is_inside_dir(&staging) {
                return Err(Stop::failed("upload_missing", "the uploaded source is gone; upload it again"));
            }
            log.system(&format!("building the uploaded folder ({files} files, {bytes} bytes)"));
            staging.clone()
        }
    };
    let context_dir = match &service.build.context {
        Some(context) => source_root.join(context),
        None => source_root,
    };
    if !is_inside_dir(&context_dir) {
        return Err(Stop::failed("invalid_context", "the build context folder does not exist in the source"));
    }
    let options = services.plan_options(service);
    let plan_dir = context_dir.clone();
    let plan = tokio::task::spawn_blocking(move || dockyard_runtime::plan::detect(&plan_dir, &options))
        .await
        .map_err(|error| Stop::failed("deploy_error", format!("the plan task failed: {error}")))?
        .map_err(|error| Stop::failed("no_build_plan", error.to_string()))?;
    let plan_json = serde_json::to_value(&plan).unwrap_or(Value::Null);
    if let Err(error) = services.store().set_deployment_build(&deployment.id, None, Some(&plan_json)).await {
        tracing::warn!(deployment = %deployment.id, %error, "could not save the build plan");
    }
    log.system(&format!("build plan: {}", plan_json.get("stack").map(Value::to_string).unwrap_or_default()));
    for note in &plan.notes {
        log.system(note);
    }
    let ca_bundle = match (&plan.ca_bundle, &engine.config.extra_ca_file) {
        (Some(_), Some(ca)) => Some(tokio::fs::read(ca).await.map_err(|error| {
            Stop::failed("invalid_ca_bundle", format!("the extra CA bundle {} cannot be read: {error}", ca.display()))
        })?),
        _ => None,
    };
    let extra_files = plan
        .context_files(ca_bundle.as_deref())
        .map_err(|error| Stop::failed("invalid_ca_bundle", error.to_string()))?;
    let tag = format!(
        "dockyard/{}:{}-{}",
        dockyard_domain::deploy::host_label(&service.name, &project.slug),
        deployment.number,
        &deployment.id.as_str()[deployment.id.as_str().len().saturating_sub(6)..]
    );
    let labels = BTreeMap::from([
        (LABEL_MANAGED.to_owned(), "true".to_owned()),
        (LABEL_PROJECT.to_owned(), project.id.as_str().to_owned()),
        (LABEL_SERVICE.to_owned(), service.id.as_str().to_owned()),
        (LABEL_DEPLOYMENT.to_owned(), deployment.id.as_str().to_owned()),
    ]);
    let request = BuildRequest {
        tag: tag.clone(),
        context: context_dir,
        dockerfile: plan.dockerfile.clone(),
        build_args: service.build.build_args.clone(),
        labels,
        extra_files,
        max_context_bytes: engine.config.max_context_bytes,
        no_cache: false,
    };
    let sink_log = log.clone();
    let sink: dockyard_runtime::LogSink = Arc::new(move |line: LogLine| sink_log.line(line.stream, &line.text));
    log.system(&format!("building {tag}"));
    let built =
        tokio::time::timeout(engine.config.build_timeout, engine.runtime.build(request, sink, cancel.clone())).await;
    let built = match built {
        Ok(Ok(built)) => built,
        Ok(Err(RuntimeError::Cancelled)) => return Err(Stop::Cancelled),
        Ok(Err(RuntimeError::BuildFailed(message))) => return Err(Stop::failed("build_failed", message)),
        Ok(Err(RuntimeError::ContextTooLarge { limit })) => {
            return Err(Stop::failed("context_too_large", format!("the build context is larger than {limit} bytes")));
        }
        Ok(Err(RuntimeError::InvalidContext(message))) => return Err(Stop::failed("invalid_context", message)),
        Ok(Err(other)) => return Err(engine_stop(other)),
        Err(_) => {
            cancel.cancel();
            return Err(Stop::failed(
                "build_timeout",
                format!("the build took longer than {} s", engine.config.build_timeout.as_secs()),
            ));
        }
    };
    if let Err(error) = services.store().set_deployment_build(&deployment.id, Some(&built.tag), None).await {
        return Err(Stop::failed("deploy_error", format!("the image could not be recorded: {error}")));
    }
    log.system(&format!("built {} ({})", built.tag, built.image_id));
    Ok(built.tag)
}

fn is_inside_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).map(|metadata| metadata.is_dir()).unwrap_or(false)
}

async fn clone(
    services: &Services,
    project: &dockyard_domain::Project,
    url: &str,
    branch: &str,
    staging: &Path,
    max_bytes: u64,
) -> Result<(), Stop> {
    let credential = services.git_credential(&project.org_id, &project.id).await.map_err(Stop::from)?;
    let policy = services.network_policy();
    let url =
        dockyard_git::GitUrl::parse(url, &policy).map_err(|error| Stop::failed("invalid_source", error.to_string()))?;
    let staging = staging.to_path_buf();
    let branch = branch.to_owned();
    tokio::task::spawn_blocking(move || {
        if let Some(parent) = staging.parent() {
            std::fs::create_dir_all(parent).map_err(dockyard_git::GitError::Io)?;
        }
        let options = dockyard_git::CloneOptions { branch: Some(&branch), depth: Some(1), max_bytes: Some(max_bytes) };
        dockyard_git::clone(&url, &staging, options, credential.as_ref(), &policy, &mut |_| {})
    })
    .await
    .map_err(|error| Stop::failed("deploy_error", format!("the clone task failed: {error}")))?
    .map_err(|error| match error {
        dockyard_git::GitError::TooLarge { limit } => {
            Stop::failed("context_too_large", format!("the git source takes more than {limit} bytes"))
        }
        other => Stop::failed("source_unavailable", format!("the git source could not be cloned: {other}")),
    })
}

/// Removes a staging folder when the build is over, whatever happened.
struct StagingGuard(PathBuf);

impl Drop for StagingGuard {
    fn drop(&mut self) {
        let path = self.0.clone();
        if path.exists() {
            // Blocking removal off the async threads.
            std::thread::spawn(move || {
                let _ = std::fs::remove_dir_all(path);
            });
        }
    }
}

fn engine_stop(error: RuntimeError) -> Stop {
    match error {
        RuntimeError::Unavailable(message) => Stop::failed("runtime_unavailable", message),
        RuntimeError::Cancelled => Stop::Cancelled,
        other => Stop::failed("runtime_error", other.to_string()),
    }
}

/// After a deploy job failed for good (its worker died, or it returned an
/// error): the deployment ends `failed` if it was still in flight, and its
/// instances go.
pub(crate) async fn reconcile(services: &Services, job: &JobRecord) {
    let Ok(id) = deployment_id(job) else { return };
    let finish = DeploymentFinish {
        error_code: Some("interrupted".into()),
        error_message: Some("Dockyard stopped while this deployment was in progress; deploy again".into()),
        last_log: None,
    };
    let in_flight = [DeploymentStatus::Queued, DeploymentStatus::Building, DeploymentStatus::Starting];
    match services.store().transition_deployment(&id, &in_flight, DeploymentStatus::Failed, &finish).await {
        Ok(Some(_)) => tracing::info!(deployment = %id, "failed an interrupted deployment"),
        Ok(None) => {}
        Err(error) => tracing::warn!(deployment = %id, %error, "could not fail an interrupted deployment"),
    }
    if let Ok(engine) = services.deploy_engine() {
        drop(StagingGuard(engine.config.staging_root.join(id.as_str())));
    }
    let still_active = matches!(
        services.store().get_deployment(&id).await,
        Ok(deployment) if deployment.status == DeploymentStatus::Active
    );
    if let (Ok(engine), false) = (services.deploy_engine(), still_active)
        && let Err(error) = engine.runtime.remove(Selector::deployment(id.as_str()), engine.config.stop_grace).await
    {
        tracing::warn!(deployment = %id, %error, "could not remove an interrupted deployment's instances");
    }
    services.refresh_routes().await;
}
