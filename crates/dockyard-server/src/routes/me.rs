//! The caller's own account: profile, password, sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dockyard_domain::SessionId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{SessionDto, UserDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Caller, Ctx, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", responses((status = 200, body = UserDto), (status = 401, body = Problem)))]
async fn get_me(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.services.get_self(&caller.actor).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    pub name: String,
}

/// Changes the display name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "account", request_body = UpdateMe, responses((status = 200, body = UserDto), (status = 422, body = Problem)))]
async fn update_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<UpdateMe>,
) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.services.update_self(&caller.actor, &body.name).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePasswordResult {
    /// How many other sessions were signed out.
    pub sessions_revoked: u64,
}

/// Changes the password and signs out every other session.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "account", request_body = ChangePassword, responses(
    (status = 200, body = ChangePasswordResult), (status = 422, body = Problem)))]
async fn change_password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<Json<ChangePasswordResult>> {
    let sessions_revoked =
        state.services.change_password(&caller, &body.current_password, &body.new_password, &context).await?;
    Ok(Json(ChangePasswordResult { sessions_revoked }))
}

/// The caller's live sessions, most recently used first.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "account", responses((status = 200, body = Vec<SessionDto>)))]
async fn list_sessions(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Vec<SessionDto>>> {
    let sessions = state.services.list_sessions(&caller.actor).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|session| {
                let current = caller.session_id.as_ref() == Some(&session.id);
                SessionDto::new(session, current)
            })
            .collect(),
    ))
}

/// Signs one session out.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "account", params(("id" = String, Path)), responses(
    (status = 204), (status = 404, body = Problem)))]
async fn revoke_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: SessionId = path_id(&id)?;
    state.services.revoke_session(&caller.actor, &id, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}
