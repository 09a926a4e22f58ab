//! Click-to-deploy: services, deployments, logs, stop/start/restart.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dockyard_domain::deploy::{BuildSettings, Deployment, ServiceSource};
use dockyard_domain::{DeploymentId, ProjectId, ServiceId};
use dockyard_services::JobStreamItem;
use dockyard_services::deploy::{DeploymentRead, EnvInput, NewService, PowerAction, ServiceUpdate, ServiceView};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::jobs::{job_sse, resume_point};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, Ctx, path_id};
use crate::state::AppState;

/// What a secret's value is shown as. Sending it back unchanged keeps the secret.
pub const SECRET_MASK: &str = "********";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service, update_service, delete_service))
        .routes(routes!(list_deployments, create_deployment))
        // Uploads are bounded by `deploy.max_context_bytes` while reading, not by the JSON body limit.
        .routes({
            let (schemas, paths, method_router) = routes!(upload_deployment);
            (schemas, paths, method_router.layer(axum::extract::DefaultBodyLimit::disable()))
        })
        .routes(routes!(get_deployment))
        .routes(routes!(cancel_deployment))
        .routes(routes!(deployment_logs))
        .routes(routes!(rollback))
        .routes(routes!(service_logs))
        .routes(routes!(stop_service))
        .routes(routes!(start_service))
        .routes(routes!(restart_service))
        .routes(routes!(service_metrics))
        .routes(routes!(service_plan))
}

/// Where a service's code comes from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceDto {
    /// The project's workspace: deploy what is in the IDE.
    Workspace,
    /// A git repository's branch, cloned for each deployment.
    Git { url: String, branch: String },
    /// An image the engine already has (nothing is pulled).
    Image { image: String },
    /// A folder uploaded for one deployment (`dockyard deploy`); only deployments
    /// have it, and a service refuses it with 422 `invalid_source`.
    Upload { files: u64, bytes: u64 },
}

impl From<SourceDto> for ServiceSource {
    fn from(source: SourceDto) -> Self {
        match source {
            SourceDto::Workspace => ServiceSource::Workspace,
            SourceDto::Git { url, branch } => ServiceSource::Git { url, branch },
            SourceDto::Image { image } => ServiceSource::Image { image },
            SourceDto::Upload { files, bytes } => ServiceSource::Upload { files, bytes },
        }
    }
}

impl From<ServiceSource> for SourceDto {
    fn from(source: ServiceSource) -> Self {
        match source {
            ServiceSource::Workspace => SourceDto::Workspace,
            ServiceSource::Git { url, branch } => SourceDto::Git { url, branch },
            ServiceSource::Image { image } => SourceDto::Image { image },
            ServiceSource::Upload { files, bytes } => SourceDto::Upload { files, bytes },
        }
    }
}

/// How the image is built.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildDto {
    /// The Dockerfile relative to the context. Default: `Dockerfile` when present, else a detected stack.
    pub dockerfile_path: Option<String>,
    /// The build context, relative to the source root. Default: the root.
    pub context: Option<String>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
}

impl From<BuildDto> for BuildSettings {
    fn from(build: BuildDto) -> Self {
        BuildSettings { dockerfile_path: build.dockerfile_path, context: build.context, build_args: build.build_args }
    }
}

/// An env var. Secrets are answered as `********`; sending that back keeps the stored value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvVarDto {
    pub value: Option<String>,
    #[serde(default)]
    pub secret: bool,
}

fn env_input(env: BTreeMap<String, EnvVarDto>) -> BTreeMap<String, EnvInput> {
    env.into_iter()
        .map(|(key, var)| {
            let value = match var.value {
                Some(value) if var.secret && value == SECRET_MASK => None,
                other => other,
            };
            (key, EnvInput { value, secret: var.secret })
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceDto {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub source: SourceDto,
    pub build: BuildDto,
    pub port: u16,
    pub health_check_path: Option<String>,
    pub health_check_timeout_secs: u32,
    pub replicas: u32,
    /// CPU limit in thousandths of a core.
    pub cpu_millis: Option<u32>,
    pub memory_mb: Option<u64>,
    /// Env vars in order; secrets masked.
    pub env: BTreeMap<String, EnvVarDto>,
    /// `running` or `stopped`.
    pub desired_state: String,
    /// The generated proxy URL, `http://{service}-{project}.{base domain}:{port}`.
    pub url: String,
    pub host: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ServiceView> for ServiceDto {
    fn from(view: ServiceView) -> Self {
        let service = view.service;
        Self {
            id: service.id.into(),
            project_id: service.project_id.into(),
            name: service.name,
            source: service.source.into(),
            build: BuildDto {
                dockerfile_path: service.build.dockerfile_path,
                context: service.build.context,
                build_args: service.build.build_args,
            },
            port: service.port,
            health_check_path: service.health_check_path,
            health_check_timeout_secs: service.health_check_timeout_secs,
            replicas: service.replicas,
            cpu_millis: service.cpu_millis,
            memory_mb: service.memory_bytes.map(|bytes| bytes / (1024 * 1024)),
            env: service
                .env
                .into_iter()
                .map(|entry| {
                    let value = if entry.secret { Some(SECRET_MASK.to_owned()) } else { entry.value };
                    (entry.key, EnvVarDto { value, secret: entry.secret })
                })
                .collect(),
            desired_state: service.desired_state.as_str().to_owned(),
            url: view.url,
            host: view.host,
            created_at: service.created_at,
            updated_at: service.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    /// A DNS label: 1-40 of a-z, 0-9 and '-', starting with a letter.
    pub name: String,
    /// Default: the workspace.
    pub source: Option<SourceDto>,
    pub build: Option<BuildDto>,
    /// The port the app listens on in its container (also given to it as `PORT`). Default 8080.
    pub port: Option<i64>,
    pub health_check_path: Option<String>,
    pub health_check_timeout_secs: Option<i64>,
    /// 1-20, default 1.
    pub replicas: Option<i64>,
    pub cpu_millis: Option<i64>,
    pub memory_mb: Option<i64>,
    #[serde(default)]
    pub env: BTreeMap<String, EnvVarDto>,
}

/// A project's services.
#[utoipa::path(get, path = "/api/v1/projects/{project}/services", tag = "deploy", params(("project" = String, Path)),
    responses((status = 200, body = Vec<ServiceDto>), (status = 404, body = Problem)))]
async fn list_services(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<ServiceDto>>> {
    let id: ProjectId = path_id(&project)?;
    let services = state.services.list_services(&caller.actor, &id).await?;
    Ok(Json(services.into_iter().map(Into::into).collect()))
}

/// Creates a service (developers and up). Nothing runs until it is deployed.
#[utoipa::path(post, path = "/api/v1/projects/{project}/services", tag = "deploy", params(("project" = String, Path)),
    request_body = CreateService,
    responses((status = 201, body = ServiceDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_service(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<CreateService>,
) -> ApiResult<(StatusCode, Json<ServiceDto>)> {
    let id: ProjectId = path_id(&project)?;
    let new = NewService {
        name: body.name,
        source: body.source.map(Into::into),
        build: body.build.map(Into::into),
        port: body.port,
        health_check_path: body.health_check_path,
        health_check_timeout_secs: body.health_check_timeout_secs,
        replicas: body.replicas,
        cpu_millis: body.cpu_millis,
        memory_mb: body.memory_mb,
        env: env_input(body.env),
    };
    let service = state.services.create_service(&caller.actor, &id, new, &context).await?;
    Ok((StatusCode::CREATED, Json(service.into())))
}

/// One service.
#[utoipa::path(get, path = "/api/v1/services/{service}", tag = "deploy", params(("service" = String, Path)),
    responses((status = 200, body = ServiceDto), (status = 404, body = Problem)))]
async fn get_service(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(service): Path<String>,
) -> ApiResult<Json<ServiceDto>> {
    let id: ServiceId = path_id(&service)?;
    Ok(Json(state.services.get_service(&caller.actor, &id).await?.into()))
}

/// A partial update. `null` clears `health_check_path`, `cpu_millis` and `memory_mb`;
/// `env`, when sent, replaces the whole set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateService {
    pub name: Option<String>,
    pub source: Option<SourceDto>,
    pub build: Option<BuildDto>,
    pub port: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub health_check_path: Option<Option<String>>,
    pub health_check_timeout_secs: Option<i64>,
    pub replicas: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub cpu_millis: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub memory_mb: Option<Option<i64>>,
    pub env: Option<BTreeMap<String, EnvVarDto>>,
}

/// Absent → `None`; `null` → `Some(None)`; a value → `Some(Some(value))`.
fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Changes a service (developers and up). Takes effect on the next deployment.
#[utoipa::path(patch, path = "/api/v1/services/{service}", tag = "deploy", params(("service" = String, Path)),
    request_body = UpdateService,
    responses((status = 200, body = ServiceDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_service(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(service): Path<String>,
    ApiJson(body): ApiJson<UpdateService>,
) -> ApiResult<Json<ServiceDto>> {
    let id: ServiceId = path_id(&service)?;
    let update = ServiceUpdate {
        name: body.name,
        source: body.source.map(Into::into),
        build: body.build.map(Into::into),
        port: body.port,
        health_check_path: body.health_check_path,
        health_check_timeout_secs: body.health_check_timeout_secs,
        replicas: body.replicas,
        cpu_millis: body.cpu_millis,
        memory_mb: body.memory_mb,
        env: body.env.map(env_input),
    };
    Ok(Json(state.services.update_service(&caller.actor, &id, update, &context).await?.into()))
}

/// Deletes a service with its containers, secrets and deployments (developers and up).
#[utoipa::path(delete, path = "/api/v1/services/{service}", tag = "deploy", params(("service" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_service(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(service): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ServiceId = path_id(&service)?;
    state.services.delete_service(&caller.actor, &id, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentErrorDto {
    pub code: String,
    pub message: String,
}

/// When each step began.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepsDto {
    pub queued_at: DateTime<Utc>,
    pub building_at: Option<DateTime<Utc>>,
    pub starting_at: Option<DateTime<Utc>>,
    pub active_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentDto {
    pub id: String,
    pub service_id: String,
    /// 1, 2, 3… per service.
    pub number: u32,
    /// queued, building, starting, active, superseded, failed or cancelled.
    pub status: String,
    /// deploy, rollback…
    pub trigger: String,
    pub source: SourceDto,
    pub rollback_of: Option<String>,
    /// The image the instances run, once built.
    pub image: Option<String>,
    /// The build plan (detected stack or Dockerfile).
    #[schema(value_type = Option<Object>)]
    pub plan: Option<serde_json::Value>,
    pub job_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub steps: StepsDto,
    pub cancel_requested: bool,
    pub error: Option<DeploymentErrorDto>,
    /// The last log lines of a failed deployment.
    pub last_log: Vec<String>,
    /// Dockyard built this deployment's image and it is no longer on the
    /// engine (image retention keeps those of the newest `deploy.keep_images`
    /// deployments that went live): rollback to it is refused.
    pub image_removed: bool,
}

impl From<DeploymentRead> for DeploymentDto {
    fn from(read: DeploymentRead) -> Self {
        Self { image_removed: read.image_removed, ..read.deployment.into() }
    }
}

impl From<Deployment> for DeploymentDto {
    fn from(deployment: Deployment) -> Self {
        Self {
            id: deployment.id.into(),
            service_id: deployment.service_id.into(),
            number: deployment.number,
            status: deployment.status.as_str().to_owned(),
            trigger: deployment.trigger,
            source: deployment.source.into(),
            rollback_of: deployment.rollback_of.map(Into::into),
            image: deployment.image,
            plan: deployment.plan,
            job_id: deployment.job_id,
            created_at: deployment.created_at,
            steps: StepsDto {
                queued_at: deployment.created_at,
                building_at: deployment.building_at,
                starting_at: deployment.starting_at,
                active_at: deployment.active_at,
                finished_at: deployment.finished_at,
            },
            cancel_requested: deployment.cancel_requested,
            error: deployment
                .error_code
                .map(|code| DeploymentErrorDto { code, message: deployment.error_message.unwrap_or_default() }),
            last_log: deployment.last_log,
            image_removed: false,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeploymentsQuery {
    /// Only deployments numbered below this (paging).
    pub before: Option<u32>,
    /// 1-200, default 50.
    pub limit: Option<u32>,
}

/// A service's deployments, newest first.
#[utoipa::path(get, path = "/api/v1/services/{service}/deployments", tag = "deploy",
    params(("service" = String, Path), DeploymentsQuery),
    responses((status = 200, body = Vec<DeploymentDto>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_deployments(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(service): Path<String>,
    ApiQuery(query): ApiQuery<DeploymentsQuery>,
) -> ApiResult<Json<Vec<DeploymentDto>>> {
    let id: ServiceId = path_id(&service)?;
    if query.limit.is_some_and(|limit| limit == 0 || limit > 200) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit must be between 1 and 200").field("limit")
        );
    }
    let deployments =
        state.services.list_deployments(&caller.actor, &id, query.before, query.limit.unwrap_or(50)).await?;
    Ok(Json(deployments.into_iter().map(Into::into).collect()))
}

/// Deploys the service's source now (developers and up): 202 with the queued deployment.
#[utoipa::path(post, path = "/api/v1/services/{service}/deployments", tag = "deploy", params(("service" = String, Path)),
    responses((status = 202, body = DeploymentDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn create_deployment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(service): Path<String>,
) -> ApiResult<(StatusCode, Json<DeploymentDto>)> {
    let id: ServiceId = path_id(&service)?;
    let deployment = state.services.deploy_service(&caller.actor, &id, &context).await?;
    Ok((StatusCode::ACCEPTED, Json(deployment.into())))
}

/// Deploys an uploaded folder instead of the service's source (developers and
/// up; `dockyard deploy` sends it): the body is a gzip-compressed tar of the
/// folder (`Content-Type: application/gzip`), at most `deploy.max_context_bytes`
/// compressed and unpacked. It is unpacked with the import rules (no absolute
/// or `..` names, no links out, no devices) and built like a workspace, with the
/// service's build settings. 202 with the queued deployment.
#[utoipa::path(post, path = "/api/v1/services/{service}/deployments/upload", tag = "deploy", params(("service" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/gzip", description = "A tar.gz of the folder"),
    responses((status = 202, body = DeploymentDto), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 503, body = Problem)))]
async fn upload_deployment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(service): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<DeploymentDto>)> {
    let id: ServiceId = path_id(&service)?;
    // The caller's rights (and a configured engine) are checked before anything else.
    let upload = state.services.begin_source_upload(&caller.actor, &id).await?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(
        essence.as_str(),
        "application/gzip" | "application/x-gzip" | "application/x-tar+gzip" | "application/octet-stream"
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the folder as a gzip-compressed tar with Content-Type: application/gzip",
        ));
    }
    let limit = upload.limit();
    let mut file = tokio::fs::File::create(upload.archive_path()).await.map_err(ApiError::internal)?;
    let mut received: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "upload_interrupted", format!("the upload was cut off: {error}"))
        })?;
        received += chunk.len() as u64;
        if received > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "context_too_large",
                format!("uploads are limited to {limit} bytes"),
            ));
        }
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.map_err(ApiError::internal)?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(ApiError::internal)?;
    drop(file);
    if received == 0 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "upload_empty", "the request has no body"));
    }
    let deployment = state.services.deploy_upload(&caller.actor, upload, &context).await?;
    Ok((StatusCode::ACCEPTED, Json(deployment.into())))
}

/// One deployment with its status, steps and error.
#[utoipa::path(get, path = "/api/v1/deployments/{deployment}", tag = "deploy", params(("deployment" = String, Path)),
    responses((status = 200, body = DeploymentDto), (status = 404, body = Problem)))]
async fn get_deployment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(deployment): Path<String>,
) -> ApiResult<Json<DeploymentDto>> {
    let id: DeploymentId = path_id(&deployment)?;
    Ok(Json(state.services.get_deployment(&caller.actor, &id).await?.into()))
}

/// Cancels a deployment that is queued, building or starting (developers and up).
/// A build in progress is stopped; the running version keeps serving.
#[utoipa::path(post, path = "/api/v1/deployments/{deployment}/cancel", tag = "deploy", params(("deployment" = String, Path)),
    responses((status = 200, body = DeploymentDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn cancel_deployment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(deployment): Path<String>,
) -> ApiResult<Json<DeploymentDto>> {
    let id: DeploymentId = path_id(&deployment)?;
    Ok(Json(state.services.cancel_deployment(&caller.actor, &id, &context).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeploymentLogQuery {
    /// Resume after this event id (SSE clients may send `Last-Event-ID` instead).
    pub after: Option<i64>,
}

fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|part| part.trim().starts_with("text/event-stream")))
}

/// The build and deploy log. With `Accept: text/event-stream`: Server-Sent
/// Events (`log` events `{stream, line}`, `step` events `{status}`, resumable
/// with `Last-Event-ID`, ending with `end`). Otherwise plain text, one line per
/// log line, streamed until the deployment's job ends.
#[utoipa::path(get, path = "/api/v1/deployments/{deployment}/logs", tag = "deploy",
    params(("deployment" = String, Path), DeploymentLogQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses(
        (status = 200, content_type = "text/event-stream", body = String, description = "Server-Sent Events, or text/plain"),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn deployment_logs(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(deployment): Path<String>,
    ApiQuery(query): ApiQuery<DeploymentLogQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: DeploymentId = path_id(&deployment)?;
    let job = state.services.deployment_log_job(&caller.actor, &id).await?;
    let after = resume_point(&headers, query.after)?;
    let follower = state.services.follow_job(&caller.actor, &job, after).await?;
    if wants_event_stream(&headers) {
        return Ok(job_sse(&state, follower));
    }
    let lines = follower
        .into_stream()
        .take_while(|item| std::future::ready(matches!(item, Ok(JobStreamItem::Event(_)))))
        .filter_map(|item| {
            let line = match item {
                Ok(JobStreamItem::Event(event)) if event.kind == "log" => {
                    event.data.get("line").and_then(|line| line.as_str()).map(|line| format!("{line}\n"))
                }
                _ => None,
            };
            std::future::ready(line.map(Ok::<_, Infallible>))
        })
        .take_until(state.stopped());
    let mut response = Response::new(Body::from_stream(lines));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// An earlier deployment of this service that went live; its image is reused.
    pub deployment_id: String,
}

/// Rolls back to an earlier deployment's image, without a rebuild (developers and up).
#[utoipa::path(post, path = "/api/v1/services/{service}/rollback", tag = "deploy", params(("service" = String, Path)),
    request_body = RollbackBody,
    responses((status = 202, body = DeploymentDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn rollback(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(service): Path<String>,
    ApiJson(body): ApiJson<RollbackBody>,
) -> ApiResult<(StatusCode, Json<DeploymentDto>)> {
    let id: ServiceId = path_id(&service)?;
    let to: DeploymentId = body.deployment_id.parse().map_err(|_| {
        ApiError::new(StatusCode::NOT_FOUND, "deployment_not_found", "this service has no such deployment")
    })?;
    let deployment = state.services.rollback_service(&caller.actor, &id, &to, &context).await?;
    Ok((StatusCode::ACCEPTED, Json(deployment.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ServiceLogQuery {
    /// Keep the stream open for new lines.
    pub follow: Option<bool>,
    /// Only the last N lines of each instance (default 200, at most 10000).
    pub tail: Option<u32>,
    /// Only lines since this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
}

/// The running instances' stdout and stderr. With `Accept: text/event-stream`:
/// `log` events `{stream, line, at, instance}`, and a `log_error` event
/// `{code, detail}` when an instance's log stream broke off (once per instance
/// and error, however often a follow tries it again); otherwise plain text.
#[utoipa::path(get, path = "/api/v1/services/{service}/logs", tag = "deploy",
    params(("service" = String, Path), ServiceLogQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = String, description = "Server-Sent Events, or text/plain"),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
async fn service_logs(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(service): Path<String>,
    ApiQuery(query): ApiQuery<ServiceLogQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: ServiceId = path_id(&service)?;
    if query.tail.is_some_and(|tail| tail > 10_000) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "tail must be at most 10000").field("tail"));
    }
    let options = dockyard_runtime::LogOptions {
        follow: query.follow.unwrap_or(false),
        since: query.since,
        tail: Some(query.tail.unwrap_or(200)),
    };
    let stream = state.services.service_logs(&caller.actor, &id, options).await?;
    let stream = stream.take_until(state.stopped());
    if wants_event_stream(&headers) {
        // An engine error mid-stream (one instance's log broke off) is a
        // `log_error` event (`error` is EventSource's own connection event);
        // the stream goes on with the other instances.
        let events = stream.map(move |item| {
            let event = match item {
                Ok(line) => Event::default().event("log").data(
                    json!({ "stream": line.stream, "line": line.text, "at": line.at, "instance": line.instance })
                        .to_string(),
                ),
                Err(error) => {
                    tracing::warn!(%service, %error, "service logs: the engine's log stream failed");
                    Event::default()
                        .event("log_error")
                        .data(json!({ "code": "log_stream_failed", "detail": error.to_string() }).to_string())
                }
            };
            Ok::<_, Infallible>(event)
        });
        let mut response =
            Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
        response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
        return Ok(response);
    }
    // Plain text has no place for an error beside the lines: it is logged.
    let lines = stream.filter_map(move |item| {
        let line = match item {
            Ok(line) => Some(Ok::<_, Infallible>(format!("{}\n", line.text))),
            Err(error) => {
                tracing::warn!(%service, %error, "service logs: the engine's log stream failed");
                None
            }
        };
        std::future::ready(line)
    });
    let mut response = Response::new(Body::from_stream(lines));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

async fn power(
    state: AppState,
    caller: Caller,
    context: Ctx,
    service: String,
    action: PowerAction,
) -> ApiResult<Json<ServiceDto>> {
    let id: ServiceId = path_id(&service)?;
    Ok(Json(state.services.service_power(&caller.0.actor, &id, action, &context.0).await?.into()))
}

/// Stops the service: new requests get the proxy's 503 `service_stopped` at once, and the
/// instances stop once the requests in flight on them are done (developers and up). 409
/// `service_busy` while another stop, start or restart of it, or a deployment going live,
/// is under way.
#[utoipa::path(post, path = "/api/v1/services/{service}/stop", tag = "deploy", params(("service" = String, Path)),
    responses((status = 200, body = ServiceDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 503, body = Problem)))]
async fn stop_service(
    State(state): State<AppState>,
    caller: Caller,
    context: Ctx,
    Path(service): Path<String>,
) -> ApiResult<Json<ServiceDto>> {
    power(state, caller, context, service, PowerAction::Stop).await
}

/// Starts the service's stopped instances (developers and up).
#[utoipa::path(post, path = "/api/v1/services/{service}/start", tag = "deploy", params(("service" = String, Path)),
    responses((status = 200, body = ServiceDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 503, body = Problem)))]
async fn start_service(
    State(state): State<AppState>,
    caller: Caller,
    context: Ctx,
    Path(service): Path<String>,
) -> ApiResult<Json<ServiceDto>> {
    power(state, caller, context, service, PowerAction::Start).await
}

/// Restarts the service's instances in place (developers and up). Several
/// instances restart one at a time, each drained off the proxy first and back
/// once healthy, so the service keeps answering; 409 `restart_unhealthy` when
/// one does not come back healthy (the ones after it are left as they were).
#[utoipa::path(post, path = "/api/v1/services/{service}/restart", tag = "deploy", params(("service" = String, Path)),
    responses((status = 200, body = ServiceDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 503, body = Problem)))]
async fn restart_service(
    State(state): State<AppState>,
    caller: Caller,
    context: Ctx,
    Path(service): Path<String>,
) -> ApiResult<Json<ServiceDto>> {
    power(state, caller, context, service, PowerAction::Restart).await
}

/// Resource use of one instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceMetricsDto {
    pub instance: String,
    /// CPU in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

/// CPU, memory and network of each running instance, from the engine.
#[utoipa::path(get, path = "/api/v1/services/{service}/metrics", tag = "deploy", params(("service" = String, Path)),
    responses((status = 200, body = Vec<InstanceMetricsDto>), (status = 404, body = Problem), (status = 503, body = Problem)))]
async fn service_metrics(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(service): Path<String>,
) -> ApiResult<Json<Vec<InstanceMetricsDto>>> {
    let id: ServiceId = path_id(&service)?;
    let stats = state.services.service_stats(&caller.actor, &id).await?;
    Ok(Json(
        stats
            .into_iter()
            .map(|stats| InstanceMetricsDto {
                instance: stats.instance,
                cpu_cores: stats.cpu_cores,
                memory_bytes: stats.memory_bytes,
                memory_limit_bytes: stats.memory_limit_bytes,
                network_rx_bytes: stats.network_rx_bytes,
                network_tx_bytes: stats.network_tx_bytes,
            })
            .collect(),
    ))
}

/// The build plan Dockyard would use for the service's workspace now: the
/// Dockerfile it found, or the detected stack and the Dockerfile it generates.
#[utoipa::path(get, path = "/api/v1/services/{service}/plan", tag = "deploy", params(("service" = String, Path)),
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn service_plan(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(service): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id: ServiceId = path_id(&service)?;
    Ok(Json(state.services.service_plan(&caller.actor, &id).await?))
}
