//! First-run setup, login and logout.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dockyard_services::NewSession;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{OrgDto, UserDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Caller, Ctx, SESSION_COOKIE};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup_status, setup))
        .routes(routes!(current_session))
        .routes(routes!(login))
        .routes(routes!(logout))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionState {
    /// True until the first user exists.
    pub needs_setup: bool,
    /// The signed-in user; null when the request carries no valid session or token.
    pub user: Option<UserDto>,
}

/// Who is signed in, if anyone, and whether the instance needs its first-run setup.
///
/// Unlike `GET /api/v1/me`, this answers 200 for a signed-out caller, so a web app can
/// ask at start without a failed request (browsers log every 401 as an error).
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "auth", responses((status = 200, body = SessionState), (status = 429, body = Problem)))]
async fn current_session(
    State(state): State<AppState>,
    caller: Result<Caller, crate::error::ApiError>,
) -> ApiResult<Json<SessionState>> {
    let user = match caller {
        Ok(Caller(caller)) => Some(state.services.get_self(&caller.actor).await?.into()),
        Err(error) if error.status == StatusCode::UNAUTHORIZED => None,
        Err(error) => return Err(error),
    };
    Ok(Json(SessionState { needs_setup: state.services.needs_setup().await?, user }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupStatus {
    /// True until the first user exists.
    pub needs_setup: bool,
}

/// Whether the instance still needs its first-run setup.
#[utoipa::path(get, path = "/api/v1/setup", tag = "auth", responses((status = 200, body = SetupStatus)))]
async fn setup_status(State(state): State<AppState>) -> ApiResult<Json<SetupStatus>> {
    Ok(Json(SetupStatus { needs_setup: state.services.needs_setup().await? }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The one-time token `dockyard serve` printed.
    pub token: String,
    pub email: String,
    pub name: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupResponse {
    pub user: UserDto,
    pub org: OrgDto,
}

/// Creates the first instance admin and a default org, and signs them in.
#[utoipa::path(post, path = "/api/v1/setup", tag = "auth", request_body = SetupRequest, responses(
    (status = 201, body = SetupResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn setup(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiJson(body): ApiJson<SetupRequest>,
) -> ApiResult<Response> {
    let (user, org, session) =
        state.services.complete_setup(&body.token, &body.email, &body.name, &body.password, &context).await?;
    let cookie = session_cookie(&state, &session);
    let body = SetupResponse { user: user.into(), org: OrgDto::new(org, Some(dockyard_domain::Role::Owner)) };
    Ok((StatusCode::CREATED, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Signs in with e-mail and password and sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = UserDto), (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let (user, session) = state.services.login(&body.email, &body.password, &context).await?;
    let cookie = session_cookie(&state, &session);
    Ok(([(header::SET_COOKIE, cookie)], Json(UserDto::from(user))).into_response())
}

/// Ends the current session and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, Caller(caller): Caller, Ctx(context): Ctx) -> ApiResult<Response> {
    state.services.logout(&caller, &context).await?;
    let cookie = cookie_header(&state, "", 0);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

fn session_cookie(state: &AppState, session: &NewSession) -> HeaderValue {
    let max_age = (session.session.expires_at - chrono::Utc::now()).num_seconds().max(0);
    cookie_header(state, &session.cookie_value, max_age)
}

fn cookie_header(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.served_over_tls() { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    // The value is base64url, so the header is always valid.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("dockyard_session=; Path=/; Max-Age=0"))
}
