//! API tokens of the caller.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dockyard_domain::TokenId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{ScopeDto, TokenDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Caller, Ctx, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tokens, create_token)).routes(routes!(revoke_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// The broadest scope wins: `["read","write"]` is a write token. Default: read.
    #[serde(default)]
    pub scopes: Vec<ScopeDto>,
    /// 1-3650; absent means the token does not expire.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenDto,
    /// The secret, shown this once. Send it as `Authorization: Bearer <token>`.
    pub token: String,
}

/// The caller's tokens, newest first. Secrets are never shown again.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "account", responses((status = 200, body = Vec<TokenDto>)))]
async fn list_tokens(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Vec<TokenDto>>> {
    Ok(Json(state.services.list_tokens(&caller.actor).await?.into_iter().map(Into::into).collect()))
}

/// Creates an API token; the answer carries the secret once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", request_body = CreateToken, responses(
    (status = 201, body = CreatedToken), (status = 422, body = Problem)))]
async fn create_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let scope =
        body.scopes.iter().copied().map(dockyard_domain::Scope::from).max().unwrap_or(dockyard_domain::Scope::Read);
    let created = state
        .services
        .create_token(Some(&caller.actor), &caller.user.id, &body.name, scope, body.expires_in_days, &context)
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { info: created.token.into(), token: created.secret })))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account", params(("id" = String, Path)), responses(
    (status = 204), (status = 404, body = Problem)))]
async fn revoke_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: TokenId = path_id(&id)?;
    state.services.revoke_token(&caller.actor, &id, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}
