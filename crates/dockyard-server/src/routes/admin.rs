//! Instance administration: users and the instance-wide audit log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dockyard_domain::UserId;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{AuditPage, AuditQuery, UserDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, Ctx, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user))
        .routes(routes!(instance_audit))
}

/// Every user of the instance (instance admins).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", responses((status = 200, body = Vec<UserDto>), (status = 403, body = Problem)))]
async fn list_users(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Vec<UserDto>>> {
    Ok(Json(state.services.list_users(Some(&caller.actor)).await?.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub instance_admin: bool,
}

/// Creates a user account (instance admins).
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = CreateUser, responses(
    (status = 201, body = UserDto), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let user = state
        .services
        .create_user_as(&caller.actor, &body.email, &body.name, &body.password, body.instance_admin, &context)
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub instance_admin: bool,
}

/// Grants or takes away the instance-admin flag (instance admins).
#[utoipa::path(patch, path = "/api/v1/admin/users/{user}", tag = "admin", params(("user" = String, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn update_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserDto>> {
    let user: UserId = path_id(&user)?;
    Ok(Json(state.services.set_instance_admin(Some(&caller.actor), &user, body.instance_admin, &context).await?.into()))
}

/// The whole instance's audit log, newest first (instance admins).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery), responses(
    (status = 200, body = AuditPage), (status = 403, body = Problem)))]
async fn instance_audit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let page = state.services.instance_audit(Some(&caller.actor), query.into_filter()?).await?;
    Ok(Json(AuditPage { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}
