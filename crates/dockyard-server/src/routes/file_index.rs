//! The quick-open file index of a project's workspace.

use axum::Json;
use axum::extract::{Path, State};
use dockyard_domain::ProjectId;
use dockyard_workspace::file_index::{IndexOptions, MAX_PATHS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiQuery, Caller, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(file_index))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FileIndexQuery {
    /// Also list hidden files and folders (names starting with `.`). Default false.
    pub hidden: Option<bool>,
    /// Also list files that `.gitignore`, `.ignore` or `.git/info/exclude` ignore. Default false.
    pub ignored: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileIndexDto {
    /// Every file of the workspace (regular files; no folders, no symlinks, never
    /// `.git`), relative and '/'-separated, sorted by bytes.
    pub paths: Vec<String>,
    /// The workspace has more than 200,000 files; `paths` holds 200,000 of them.
    pub truncated: bool,
}

/// Every file path of the workspace, for quick open. Honours `.gitignore` unless
/// `ignored=true`; viewers and read tokens may read it.
#[utoipa::path(get, path = "/api/v1/projects/{project}/file-index", tag = "files",
    params(("project" = String, Path), FileIndexQuery),
    responses((status = 200, body = FileIndexDto), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn file_index(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<FileIndexQuery>,
) -> ApiResult<Json<FileIndexDto>> {
    let project: ProjectId = path_id(&project)?;
    let options = IndexOptions {
        hidden: query.hidden.unwrap_or(false),
        ignored: query.ignored.unwrap_or(false),
        max_paths: MAX_PATHS,
    };
    let index = state.services.file_index(&caller.actor, &project, options).await?;
    Ok(Json(FileIndexDto { paths: index.paths, truncated: index.truncated }))
}
