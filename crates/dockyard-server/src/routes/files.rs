//! A project's workspace files: tree, read, write, delete, move, copy, folders.
//! File bodies are raw bytes, not JSON; versions travel as ETags.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use dockyard_domain::ProjectId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tree))
        .routes(routes!(read_file, write_file, delete_file))
        .routes(routes!(move_path))
        .routes(routes!(copy_path))
        .routes(routes!(create_folder))
        .routes({
            // Uploads bound each part by the workspace's file-size quota while reading,
            // not by the JSON body limit.
            let (schemas, paths, method_router) = routes!(upload);
            (schemas, paths, method_router.layer(axum::extract::DefaultBodyLimit::disable()))
        })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TreeQuery {
    /// The folder to list, relative to the workspace root; empty or absent for the root.
    pub path: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TreeEntry {
    pub name: String,
    pub path: String,
    /// `file`, `dir` or `symlink`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Bytes, for files.
    pub size: u64,
    pub mtime: DateTime<Utc>,
    /// Whether git ignores it.
    pub ignored: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Tree {
    pub path: String,
    pub entries: Vec<TreeEntry>,
}

/// One folder of the workspace (lazy: no recursion), folders first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/tree", tag = "files", params(("project" = String, Path), TreeQuery),
    responses((status = 200, body = Tree), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn tree(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<TreeQuery>,
) -> ApiResult<Json<Tree>> {
    let project: ProjectId = path_id(&project)?;
    let dir = query.path.unwrap_or_default();
    let entries = state.services.list_dir(&caller.actor, &project, &dir).await?;
    let entries = entries
        .into_iter()
        .map(|entry| TreeEntry {
            name: entry.name,
            path: entry.path.to_string(),
            kind: entry.kind.as_str(),
            size: entry.size,
            mtime: Utc.timestamp_millis_opt(entry.mtime_ms).single().unwrap_or_default(),
            ignored: entry.ignored,
        })
        .collect();
    Ok(Json(Tree { path: dir.trim_end_matches('/').to_owned(), entries }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    /// Answer with `Content-Disposition: attachment`.
    pub download: Option<bool>,
}

/// The raw bytes of a file, with its `ETag`; `If-None-Match` gives 304. Text is
/// served as `text/plain`, everything else as `application/octet-stream`, never as
/// HTML; `X-Dockyard-Binary` says which.
#[utoipa::path(get, path = "/api/v1/projects/{project}/files/{*path}", tag = "files",
    params(("project" = String, Path), ("path" = String, Path, description = "the file, relative to the workspace root"), ReadQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 304), (status = 404, body = Problem)))]
async fn read_file(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((project, file)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ReadQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let project: ProjectId = path_id(&project)?;
    let content = state.services.read_file(&caller.actor, &project, &file).await?;
    let etag = HeaderValue::from_str(&content.etag).map_err(ApiError::internal)?;
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim().trim_start_matches("W/") == content.etag));
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let content_type = if content.binary { "application/octet-stream" } else { "text/plain; charset=utf-8" };
    let mut response = (
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        content.bytes,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-dockyard-binary", HeaderValue::from_static(if content.binary { "true" } else { "false" }));
    if query.download.unwrap_or(false) {
        let name = file.rsplit('/').next().unwrap_or("download").replace(['"', '\\'], "_");
        let disposition = format!("attachment; filename=\"{}\"", name.escape_default());
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    pub path: String,
    pub etag: String,
    pub size: u64,
}

/// Writes a whole file atomically from the raw body, creating parent folders.
/// With `If-Match`, a stale ETag answers 412 and the file is left as it was.
/// 201 when the file is new, 200 when it was replaced.
#[utoipa::path(put, path = "/api/v1/projects/{project}/files/{*path}", tag = "files",
    params(("project" = String, Path), ("path" = String, Path), ("If-Match" = Option<String>, Header, description = "the ETag the edit started from")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = Written), (status = 201, body = Written), (status = 412, body = Problem), (status = 413, body = Problem)))]
async fn write_file(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((project, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let project: ProjectId = path_id(&project)?;
    let if_match = headers.get(header::IF_MATCH).and_then(|value| value.to_str().ok()).map(str::to_owned);
    // File bodies have the workspace's file-size limit, not the JSON body limit.
    let limit = usize::try_from(state.config.workspace.max_file_bytes).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "quota_file_size",
            format!("files in this workspace are limited to {limit} bytes"),
        )
    })?;
    let size = bytes.len() as u64;
    let outcome = state.services.write_file(&caller.actor, &project, &file, bytes.to_vec(), if_match).await?;
    let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
    let etag = HeaderValue::from_str(&outcome.etag).map_err(ApiError::internal)?;
    let path = file.trim_end_matches('/').to_owned();
    Ok((status, [(header::ETAG, etag)], Json(Written { path, etag: outcome.etag, size })).into_response())
}

/// Deletes a file, link or folder (recursively).
#[utoipa::path(delete, path = "/api/v1/projects/{project}/files/{*path}", tag = "files",
    params(("project" = String, Path), ("path" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_file(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((project, file)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let project: ProjectId = path_id(&project)?;
    state.services.delete_path(&caller.actor, &project, &file).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    pub from: String,
    pub to: String,
    /// Replace an existing file at `to` (never a folder).
    #[serde(default)]
    pub overwrite: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PathResult {
    pub path: String,
}

/// Renames or moves a file or folder, creating the target's parent folders.
#[utoipa::path(post, path = "/api/v1/projects/{project}/move", tag = "files", params(("project" = String, Path)), request_body = MoveRequest,
    responses((status = 200, body = PathResult), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn move_path(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<MoveRequest>,
) -> ApiResult<Json<PathResult>> {
    let project: ProjectId = path_id(&project)?;
    state.services.move_path(&caller.actor, &project, &body.from, &body.to, body.overwrite).await?;
    Ok(Json(PathResult { path: body.to.trim_end_matches('/').to_owned() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyRequest {
    pub from: String,
    pub to: String,
}

/// Copies a file or a folder tree (links are copied as links).
#[utoipa::path(post, path = "/api/v1/projects/{project}/copy", tag = "files", params(("project" = String, Path)), request_body = CopyRequest,
    responses((status = 201, body = PathResult), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn copy_path(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<CopyRequest>,
) -> ApiResult<(StatusCode, Json<PathResult>)> {
    let project: ProjectId = path_id(&project)?;
    state.services.copy_path(&caller.actor, &project, &body.from, &body.to).await?;
    Ok((StatusCode::CREATED, Json(PathResult { path: body.to.trim_end_matches('/').to_owned() })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderRequest {
    pub path: String,
}

/// Creates a folder (and its parents).
#[utoipa::path(post, path = "/api/v1/projects/{project}/folders", tag = "files", params(("project" = String, Path)), request_body = FolderRequest,
    responses((status = 201, body = PathResult), (status = 409, body = Problem)))]
async fn create_folder(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<FolderRequest>,
) -> ApiResult<(StatusCode, Json<PathResult>)> {
    let project: ProjectId = path_id(&project)?;
    state.services.create_dir(&caller.actor, &project, &body.path).await?;
    Ok((StatusCode::CREATED, Json(PathResult { path: body.path.trim_end_matches('/').to_owned() })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The folder to upload into; the workspace root when absent.
    pub path: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub files: Vec<Written>,
}

/// Uploads several files in one `multipart/form-data` request. Each file part's
/// file name may carry a relative path (a dropped folder keeps its structure);
/// it is validated like every other path. Each file is written atomically; an
/// invalid part stops the upload with the files before it already written.
#[utoipa::path(post, path = "/api/v1/projects/{project}/upload", tag = "files", params(("project" = String, Path), UploadQuery),
    request_body(content_type = "multipart/form-data", description = "file parts; the file name is the path under `path`"),
    responses((status = 201, body = Uploaded), (status = 400, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn upload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<Uploaded>)> {
    use axum::extract::FromRequest;
    let project: ProjectId = path_id(&project)?;
    // Fail fast, before reading any body, when the caller may not write here.
    state.services.authorize_project(&caller.actor, &project, dockyard_domain::Action::WriteCode).await?;
    let mut multipart = axum::extract::Multipart::from_request(request, &state)
        .await
        .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", rejection.body_text()))?;
    let limit = usize::try_from(state.config.workspace.max_file_bytes).unwrap_or(usize::MAX);
    let folder = query.path.unwrap_or_default();
    let mut files = Vec::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", error.body_text()))?
    {
        let Some(name) = field.file_name().map(str::to_owned) else { continue };
        let target = if folder.trim_end_matches('/').is_empty() {
            name
        } else {
            format!("{}/{name}", folder.trim_end_matches('/'))
        };
        // Read the part in chunks so an oversized file stops at the limit, not in memory.
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "invalid_multipart", error.body_text()))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "quota_file_size",
                    format!("files in this workspace are limited to {limit} bytes"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        let size = bytes.len() as u64;
        let outcome = state.services.write_file(&caller.actor, &project, &target, bytes, None).await?;
        files.push(Written { path: target.trim_end_matches('/').to_owned(), etag: outcome.etag, size });
    }
    if files.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "no_files", "the request has no file parts"));
    }
    Ok((StatusCode::CREATED, Json(Uploaded { files })))
}
