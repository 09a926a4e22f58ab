//! Projects.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dockyard_domain::ProjectId;
use dockyard_services::{NewProject, ProjectUpdate};
use dockyard_store::ProjectFilter;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{ProjectDto, ProjectPage};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, Ctx, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_projects, create_project)).routes(routes!(
        get_project,
        update_project,
        delete_project
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProjectQuery {
    /// Case-insensitive substring of name, slug or description.
    pub q: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<u32>,
}

/// The org's projects, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects", tag = "projects", params(("org" = String, Path), ProjectQuery), responses(
    (status = 200, body = ProjectPage), (status = 404, body = Problem)))]
async fn list_projects(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(org): Path<String>,
    ApiQuery(query): ApiQuery<ProjectQuery>,
) -> ApiResult<Json<ProjectPage>> {
    let after = match query.cursor.as_deref() {
        Some(cursor) => Some(cursor.parse::<ProjectId>().map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", "cursor is not one this API gave out")
        })?),
        None => None,
    };
    if query.limit.is_some_and(|limit| limit == 0 || limit > 200) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit must be between 1 and 200").field("limit")
        );
    }
    let filter = ProjectFilter { query: query.q, after, limit: query.limit.unwrap_or(50) };
    let page = state.services.list_projects(&caller.actor, &org, filter).await?;
    Ok(Json(ProjectPage { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub name: String,
    /// Unique in the org; derived from the name when absent.
    pub slug: Option<String>,
    pub description: Option<String>,
}

/// Creates a project (developers and up).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/projects", tag = "projects", params(("org" = String, Path)), request_body = CreateProject,
    responses((status = 201, body = ProjectDto), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_project(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<CreateProject>,
) -> ApiResult<(StatusCode, Json<ProjectDto>)> {
    let new = NewProject { name: body.name, slug: body.slug, description: body.description };
    let project = state.services.create_project(&caller.actor, &org, new, &context).await?;
    Ok((StatusCode::CREATED, Json(project.into())))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{project}", tag = "projects", params(("project" = String, Path)), responses(
    (status = 200, body = ProjectDto), (status = 404, body = Problem)))]
async fn get_project(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<ProjectDto>> {
    let id: ProjectId = path_id(&project)?;
    Ok(Json(state.services.get_project(&caller.actor, &id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
}

/// Changes a project's name, slug or description (developers and up).
#[utoipa::path(patch, path = "/api/v1/projects/{project}", tag = "projects", params(("project" = String, Path)), request_body = UpdateProject,
    responses((status = 200, body = ProjectDto), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_project(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> ApiResult<Json<ProjectDto>> {
    let id: ProjectId = path_id(&project)?;
    let update = ProjectUpdate { name: body.name, slug: body.slug, description: body.description };
    Ok(Json(state.services.update_project(&caller.actor, &id, update, &context).await?.into()))
}

/// Deletes a project (admins and up).
#[utoipa::path(delete, path = "/api/v1/projects/{project}", tag = "projects", params(("project" = String, Path)), responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_project(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ProjectId = path_id(&project)?;
    state.services.delete_project(&caller.actor, &id, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}
