//! Orgs, members and the org audit log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dockyard_domain::UserId;
use dockyard_services::OrgUpdate;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{AuditPage, AuditQuery, MemberDto, OrgDto, RoleDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, Ctx, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org, update_org, delete_org))
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
        .routes(routes!(org_audit))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub name: String,
    /// DNS-label safe; derived from the name when absent.
    pub slug: Option<String>,
}

/// The orgs the caller belongs to.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", responses((status = 200, body = Vec<OrgDto>)))]
async fn list_orgs(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Vec<OrgDto>>> {
    Ok(Json(state.services.list_orgs(&caller.actor).await?.into_iter().map(Into::into).collect()))
}

/// Creates an org; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = CreateOrg, responses(
    (status = 201, body = OrgDto), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_org(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    ApiJson(body): ApiJson<CreateOrg>,
) -> ApiResult<(StatusCode, Json<OrgDto>)> {
    let org = state.services.create_org(&caller.actor, &body.name, body.slug.as_deref(), &context).await?;
    Ok((StatusCode::CREATED, Json(OrgDto::new(org, Some(dockyard_domain::Role::Owner)))))
}

/// One org, by id or slug.
#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "orgs", params(("org" = String, Path, description = "id or slug")), responses(
    (status = 200, body = OrgDto), (status = 404, body = Problem)))]
async fn get_org(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<OrgDto>> {
    let (org, role) = state.services.get_org(&caller.actor, &org).await?;
    Ok(Json(OrgDto::new(org, role)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    pub name: Option<String>,
    pub slug: Option<String>,
}

/// Renames an org (admins).
#[utoipa::path(patch, path = "/api/v1/orgs/{org}", tag = "orgs", params(("org" = String, Path)), request_body = UpdateOrg, responses(
    (status = 200, body = OrgDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn update_org(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<UpdateOrg>,
) -> ApiResult<Json<OrgDto>> {
    let update = OrgUpdate { name: body.name, slug: body.slug };
    let (updated, role) = state.services.update_org(&caller.actor, &org, update, &context).await?;
    Ok(Json(OrgDto::new(updated, role)))
}

/// Deletes an org with all its projects (owners).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}", tag = "orgs", params(("org" = String, Path)), responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_org(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(org): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_org(&caller.actor, &org, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The org's members.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "orgs", params(("org" = String, Path)), responses(
    (status = 200, body = Vec<MemberDto>), (status = 404, body = Problem)))]
async fn list_members(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<MemberDto>>> {
    Ok(Json(state.services.list_members(&caller.actor, &org).await?.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    pub role: RoleDto,
}

/// Adds an existing user to the org (admins; granting owner takes an owner).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members", tag = "orgs", params(("org" = String, Path)), request_body = AddMember, responses(
    (status = 201, body = MemberDto), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn add_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> ApiResult<(StatusCode, Json<MemberDto>)> {
    let member = state.services.add_member(&caller.actor, &org, &body.email, body.role.into(), &context).await?;
    Ok((StatusCode::CREATED, Json(member.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: RoleDto,
}

/// Changes a member's role. Making someone owner transfers the org.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{user}", tag = "orgs", params(("org" = String, Path), ("user" = String, Path)),
    request_body = UpdateMember, responses((status = 200, body = MemberDto), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn update_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path((org, user)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> ApiResult<Json<MemberDto>> {
    let user: UserId = path_id(&user)?;
    let member = state.services.set_member_role(&caller.actor, &org, &user, body.role.into(), &context).await?;
    Ok(Json(member.into()))
}

/// Removes a member; members may remove themselves (leave).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user}", tag = "orgs", params(("org" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn remove_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user: UserId = path_id(&user)?;
    state.services.remove_member(&caller.actor, &org, &user, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The org's audit log, newest first (admins).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit", tag = "orgs", params(("org" = String, Path), AuditQuery), responses(
    (status = 200, body = AuditPage), (status = 403, body = Problem)))]
async fn org_audit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(org): Path<String>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let page = state.services.org_audit(&caller.actor, &org, query.into_filter()?).await?;
    Ok(Json(AuditPage { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}
