//! Imports (a new project, or more files for an existing one, from an archive,
//! individual files or a git URL) and exports (zip, tar.gz, JSON, Markdown).
//! Imports answer 202 with a job; the job's progress is at `/api/v1/jobs/{job}`
//! and streams over SSE at `/api/v1/jobs/{job}/events`.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dockyard_domain::ProjectId;
use dockyard_services::ExportFormat;
use dockyard_services::{ImportInto, ImportSource, ImportStarted, ImportTarget, StagedUpload};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, Ctx, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    // Uploads are bounded by the import upload limit while reading, not by the JSON body limit.
    let unlimited = |(schemas, paths, method_router): utoipa_axum::router::UtoipaMethodRouter<AppState>| {
        (schemas, paths, method_router.layer(axum::extract::DefaultBodyLimit::disable()))
    };
    OpenApiRouter::new()
        .routes(unlimited(routes!(import_project)))
        .routes(unlimited(routes!(import_into_project)))
        .routes(routes!(export_project))
}

/// The JSON form of an import: a git repository over https.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GitImport {
    /// The new project's name (ignored when importing into an existing project).
    #[serde(default)]
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    /// `https://host/owner/repo(.git)`; no credentials in the URL.
    pub git_url: String,
    /// The branch to clone; the remote's default branch when absent.
    pub branch: Option<String>,
    /// History depth: 1 (the default) for a shallow clone, 0 for the whole history.
    pub depth: Option<u32>,
    /// The user name for the token (`x-access-token` when absent, which GitHub and GitLab accept).
    pub username: Option<String>,
    /// A token for a private repository. Stored encrypted as the project's git
    /// credential, for later fetches, pulls and pushes; never returned.
    pub token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportAccepted {
    pub job_id: String,
    pub project_id: String,
    /// Where to poll the job.
    pub job_url: String,
    /// Where to follow the job over SSE.
    pub events_url: String,
}

impl From<ImportStarted> for ImportAccepted {
    fn from(started: ImportStarted) -> Self {
        let job = started.job_id.as_str();
        Self {
            job_id: job.to_owned(),
            project_id: started.project_id.as_str().to_owned(),
            job_url: format!("/api/v1/jobs/{job}"),
            events_url: format!("/api/v1/jobs/{job}/events"),
        }
    }
}

/// Creates a project from a source, as a background job. Send either
/// `multipart/form-data` with a `name` field (plus optional `slug` and
/// `description`) and one `archive` file part (.zip, .tar.gz or a Dockyard JSON
/// export) or several file parts whose file names are their paths; or JSON
/// `{name, git_url, branch?, depth?, username?, token?}`. The project exists at
/// once; if the import fails, it is deleted again.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/projects/import", tag = "imports", params(("org" = String, Path)),
    request_body(content = GitImport, description = "JSON for git; multipart/form-data for an archive or files"),
    responses((status = 202, body = ImportAccepted), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn import_project(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(org): Path<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<ImportAccepted>)> {
    let started = import(&state, &caller, &context, ImportInto::NewProject { org: &org }, request).await?;
    Ok((StatusCode::ACCEPTED, Json(started.into())))
}

/// Imports more files into an existing project, as a background job: the same
/// bodies as a new import, without the name. Files in the way are replaced;
/// folders merge.
#[utoipa::path(post, path = "/api/v1/projects/{project}/import", tag = "imports", params(("project" = String, Path)),
    request_body(content = GitImport, description = "JSON for git; multipart/form-data for an archive or files"),
    responses((status = 202, body = ImportAccepted), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn import_into_project(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<ImportAccepted>)> {
    let project: ProjectId = path_id(&project)?;
    let started = import(&state, &caller, &context, ImportInto::Project(&project), request).await?;
    Ok((StatusCode::ACCEPTED, Json(started.into())))
}

async fn import(
    state: &AppState,
    caller: &dockyard_services::Authenticated,
    context: &dockyard_services::RequestContext,
    into: ImportInto<'_>,
    request: Request,
) -> ApiResult<ImportStarted> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    if content_type.starts_with("multipart/form-data") {
        // Check the caller's rights before reading a byte of the upload.
        let upload = state.services.begin_upload(&caller.actor, into).await?;
        let received = receive_upload(state, request, &upload).await;
        let outcome = match received {
            Ok((target, source)) => state
                .services
                .start_import(&caller.actor, into, Some(target), source, context)
                .await
                .map_err(ApiError::from),
            Err(error) => Err(error),
        };
        if outcome.is_err() {
            state.services.discard_upload(upload).await;
        }
        return outcome;
    }
    let ApiJson(body) = ApiJson::<GitImport>::from_request(request, state).await?;
    let target = ImportTarget { name: body.name.unwrap_or_default(), slug: body.slug, description: body.description };
    let source = ImportSource::Git {
        url: body.git_url,
        branch: body.branch,
        depth: body.depth,
        username: body.username,
        token: body.token,
    };
    Ok(state.services.start_import(&caller.actor, into, Some(target), source, context).await?)
}

fn multipart_error(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", error.to_string())
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_too_large",
        format!("imports are limited to {limit} uploaded bytes"),
    )
}

/// Streams the parts of an import upload to disk: the archive to the upload's
/// file, individual files under its folder. Never holds a whole file in memory.
async fn receive_upload(
    state: &AppState,
    request: Request,
    upload: &StagedUpload,
) -> ApiResult<(ImportTarget, ImportSource)> {
    let mut multipart = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", rejection.body_text()))?;
    let limit = state.config.workspace.max_upload_bytes;
    let file_limit = state.config.workspace.max_file_bytes;
    let mut target = ImportTarget::default();
    let mut received: u64 = 0;
    let mut archive = false;
    let mut files = 0u64;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        match (name.as_str(), file_name) {
            ("name" | "slug" | "description", None) => {
                let text = field.text().await.map_err(multipart_error)?;
                if text.len() > 4096 {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_multipart",
                        format!("{name} is too long"),
                    ));
                }
                match name.as_str() {
                    "name" => target.name = text,
                    "slug" => target.slug = Some(text),
                    _ => target.description = Some(text),
                }
            }
            ("archive", Some(_)) => {
                if archive || files > 0 {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "import_mixed_sources",
                        "send one archive or individual files, not both",
                    ));
                }
                archive = true;
                let mut file = tokio::fs::File::create(upload.path()).await.map_err(ApiError::internal)?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    received += chunk.len() as u64;
                    if received > limit {
                        return Err(too_large(limit));
                    }
                    file.write_all(&chunk).await.map_err(ApiError::internal)?;
                }
                file.sync_all().await.map_err(ApiError::internal)?;
            }
            (_, Some(relative)) => {
                if archive {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "import_mixed_sources",
                        "send one archive or individual files, not both",
                    ));
                }
                files += 1;
                let path = upload.file_target(&relative)?;
                let mut file = tokio::fs::File::create(&path).await.map_err(ApiError::internal)?;
                let mut size: u64 = 0;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    size += chunk.len() as u64;
                    received += chunk.len() as u64;
                    if size > file_limit {
                        return Err(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "quota_file_size",
                            format!("files in this workspace are limited to {file_limit} bytes"),
                        ));
                    }
                    if received > limit {
                        return Err(too_large(limit));
                    }
                    file.write_all(&chunk).await.map_err(ApiError::internal)?;
                }
                file.flush().await.map_err(ApiError::internal)?;
            }
            (other, None) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_multipart",
                    format!("unexpected field {other:?}; expected name, slug, description, archive or file parts"),
                ));
            }
        }
    }
    if archive {
        return Ok((target, ImportSource::Archive(upload.clone())));
    }
    if files > 0 {
        return Ok((target, ImportSource::Files(upload.clone())));
    }
    Err(ApiError::new(StatusCode::BAD_REQUEST, "no_files", "the request has neither an archive nor file parts"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `zip` (the default), `tar.gz`, `json` or `md`.
    pub format: Option<String>,
    /// Leave out what .gitignore ignores (zip, tar.gz, json). The `.git` folder is never exported.
    pub gitignore: Option<bool>,
}

/// Downloads the workspace as a zip, a tar.gz, a JSON document (which imports
/// back to the identical tree) or a Markdown report (tree, languages, sizes,
/// recent commits). Streamed.
#[utoipa::path(get, path = "/api/v1/projects/{project}/export", tag = "imports", params(("project" = String, Path), ExportQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn export_project(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let project: ProjectId = path_id(&project)?;
    let raw_format = query.format.unwrap_or_else(|| "zip".to_owned());
    let format = ExportFormat::parse(&raw_format).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_format", "format must be zip, tar.gz, json or md")
    })?;
    let (project, chunks) =
        state.services.export_project(&caller.actor, &project, format, query.gitignore.unwrap_or(false)).await?;
    let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk.map(axum::body::Bytes::from), chunks))
    });
    let file_name = format!("{}.{}", project.slug, format.extension());
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(format.content_type())),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
