//! Remote coding agents: profiles (instance admins), org agent secrets, and
//! sessions with their transcript (JSON, SSE and a WebSocket), input, stop,
//! diff, apply and discard.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dockyard_domain::agent::{AgentProfile, AgentSession};
use dockyard_domain::{AgentProfileId, AgentSessionId, OrgId, ProjectId};
use dockyard_services::JobStreamItem;
use dockyard_services::agents::{AgentInput, Health, ProfileInput};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::jobs::{job_sse, resume_point};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, Ctx, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list_profiles, admin_create_profile))
        .routes(routes!(admin_update_profile, admin_delete_profile))
        .routes(routes!(usable_profiles))
        .routes(routes!(list_agent_secrets))
        .routes(routes!(put_agent_secret, delete_agent_secret))
        .routes(routes!(list_my_agent_secrets))
        .routes(routes!(put_my_agent_secret, delete_my_agent_secret))
        .routes(routes!(list_sessions, start_session))
        .routes(routes!(get_session))
        .routes(routes!(session_events))
        .routes(routes!(session_socket))
        .routes(routes!(session_input))
        .routes(routes!(stop_session))
        .routes(routes!(session_diff))
        .routes(routes!(apply_session))
        .routes(routes!(discard_session))
        .routes(routes!(follow_up_session))
}

/// A profile's health on this replica (its circuit breaker).
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentHealthDto {
    /// `closed` (healthy), `open` (failing fast) or `half_open`.
    pub state: String,
    pub consecutive_failures: u32,
    pub retry_after_secs: Option<u64>,
}

impl From<Health> for AgentHealthDto {
    fn from(health: Health) -> Self {
        Self {
            state: health.state.to_owned(),
            consecutive_failures: health.consecutive_failures,
            retry_after_secs: health.retry_after_secs,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentProfileDto {
    pub id: String,
    pub name: String,
    /// `claude-code`, `acp` or `pty`.
    pub kind: String,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// The working mode: `worktree` or `workspace`, used when a session's start does not say.
    pub isolation: String,
    pub max_runtime_secs: u32,
    pub max_per_user: u32,
    pub max_per_org: u32,
    pub enabled: bool,
    pub health: AgentHealthDto,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn profile_dto(state: &AppState, profile: AgentProfile) -> AgentProfileDto {
    let health = state.services.agent_profile_health(&profile.id).into();
    AgentProfileDto {
        id: profile.id.into(),
        name: profile.name,
        kind: profile.kind.as_str().to_owned(),
        command: profile.command,
        env: profile.env,
        isolation: profile.isolation.as_str().to_owned(),
        max_runtime_secs: profile.max_runtime_secs,
        max_per_user: profile.max_per_user,
        max_per_org: profile.max_per_org,
        enabled: profile.enabled,
        health,
        created_at: profile.created_at,
        updated_at: profile.updated_at,
    }
}

/// A profile as an admin sends it. On update, absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    pub name: Option<String>,
    /// `claude-code`, `acp` or `pty` (default `pty`).
    pub kind: Option<String>,
    /// The argv template; `{prompt}` is replaced by the prompt, else the prompt goes to standard input.
    pub command: Option<Vec<String>>,
    /// Plain env vars (API keys belong in the org's agent secrets).
    pub env: Option<BTreeMap<String, String>>,
    /// The working mode: `worktree` (default: a git worktree per session) or `workspace`.
    pub isolation: Option<String>,
    /// Default 3600.
    pub max_runtime_secs: Option<i64>,
    /// Queued or running sessions per user (default 3) and per org (default 10).
    pub max_per_user: Option<i64>,
    pub max_per_org: Option<i64>,
    pub enabled: Option<bool>,
}

impl From<ProfileBody> for ProfileInput {
    fn from(body: ProfileBody) -> Self {
        ProfileInput {
            name: body.name,
            kind: body.kind,
            command: body.command,
            env: body.env,
            isolation: body.isolation,
            max_runtime_secs: body.max_runtime_secs,
            max_per_user: body.max_per_user,
            max_per_org: body.max_per_org,
            enabled: body.enabled,
        }
    }
}

/// Every agent profile, with its health (instance admins).
#[utoipa::path(get, path = "/api/v1/admin/agent-profiles", tag = "agents",
    responses((status = 200, body = Vec<AgentProfileDto>), (status = 403, body = Problem)))]
async fn admin_list_profiles(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<Vec<AgentProfileDto>>> {
    let profiles = state.services.list_agent_profiles(&caller.actor).await?;
    Ok(Json(profiles.into_iter().map(|profile| profile_dto(&state, profile)).collect()))
}

/// Defines an agent profile (instance admins).
#[utoipa::path(post, path = "/api/v1/admin/agent-profiles", tag = "agents", request_body = ProfileBody,
    responses((status = 201, body = AgentProfileDto), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn admin_create_profile(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    ApiJson(body): ApiJson<ProfileBody>,
) -> ApiResult<(StatusCode, Json<AgentProfileDto>)> {
    let profile = state.services.create_agent_profile(&caller.actor, body.into(), &context).await?;
    Ok((StatusCode::CREATED, Json(profile_dto(&state, profile))))
}

/// Changes an agent profile (instance admins); running sessions keep what they started with.
#[utoipa::path(patch, path = "/api/v1/admin/agent-profiles/{profile}", tag = "agents",
    params(("profile" = String, Path)), request_body = ProfileBody,
    responses((status = 200, body = AgentProfileDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn admin_update_profile(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(profile): Path<String>,
    ApiJson(body): ApiJson<ProfileBody>,
) -> ApiResult<Json<AgentProfileDto>> {
    let id: AgentProfileId = path_id(&profile)?;
    let profile = state.services.update_agent_profile(&caller.actor, &id, body.into(), &context).await?;
    Ok(Json(profile_dto(&state, profile)))
}

/// Deletes an agent profile (instance admins); its sessions stay in the history.
#[utoipa::path(delete, path = "/api/v1/admin/agent-profiles/{profile}", tag = "agents",
    params(("profile" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn admin_delete_profile(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(profile): Path<String>,
) -> ApiResult<StatusCode> {
    let id: AgentProfileId = path_id(&profile)?;
    state.services.delete_agent_profile(&caller.actor, &id, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The profiles you may start sessions with, with their health. Empty: no
/// agent is configured (the UI says so).
#[utoipa::path(get, path = "/api/v1/agent-profiles", tag = "agents", responses((status = 200, body = Vec<AgentProfileDto>)))]
async fn usable_profiles(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<Vec<AgentProfileDto>>> {
    let profiles = state.services.usable_agent_profiles(&caller.actor).await?;
    Ok(Json(
        profiles
            .into_iter()
            .map(|profile| AgentProfileDto { env: BTreeMap::new(), ..profile_dto(&state, profile) })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentSecretsDto {
    /// The env var names agents of this org get; values are never shown.
    pub keys: Vec<String>,
}

/// The org's agent secrets, by name (org admins).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/agent-secrets", tag = "agents", params(("org" = String, Path)),
    responses((status = 200, body = AgentSecretsDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_agent_secrets(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<AgentSecretsDto>> {
    let org = org_id(&org)?;
    Ok(Json(AgentSecretsDto { keys: state.services.list_agent_secrets(&caller.actor, &org).await? }))
}

fn org_id(raw: &str) -> ApiResult<OrgId> {
    path_id(raw)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    pub value: String,
}

/// Sets an agent secret, e.g. `ANTHROPIC_API_KEY`: sealed at rest, given to
/// every agent session in the org as that env var, never shown again (org admins).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/agent-secrets/{key}", tag = "agents",
    params(("org" = String, Path), ("key" = String, Path)), request_body = SecretBody,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_agent_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path((org, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<SecretBody>,
) -> ApiResult<StatusCode> {
    let org = org_id(&org)?;
    state.services.put_agent_secret(&caller.actor, &org, &key, &body.value, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes an agent secret (org admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/agent-secrets/{key}", tag = "agents",
    params(("org" = String, Path), ("key" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn delete_agent_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path((org, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let org = org_id(&org)?;
    state.services.delete_agent_secret(&caller.actor, &org, &key, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your own agent secrets in the org, by name (developers and up).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/my-agent-secrets", tag = "agents", params(("org" = String, Path)),
    responses((status = 200, body = AgentSecretsDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_my_agent_secrets(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<AgentSecretsDto>> {
    let org = org_id(&org)?;
    Ok(Json(AgentSecretsDto { keys: state.services.list_my_agent_secrets(&caller.actor, &org).await? }))
}

/// Sets one of your own agent secrets in the org (developers and up): your
/// sessions there get it as that env var, over the org's value; sealed at rest,
/// never shown again.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/my-agent-secrets/{key}", tag = "agents",
    params(("org" = String, Path), ("key" = String, Path)), request_body = SecretBody,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_my_agent_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path((org, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<SecretBody>,
) -> ApiResult<StatusCode> {
    let org = org_id(&org)?;
    state.services.put_my_agent_secret(&caller.actor, &org, &key, &body.value, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one of your own agent secrets (developers and up).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/my-agent-secrets/{key}", tag = "agents",
    params(("org" = String, Path), ("key" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn delete_my_agent_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path((org, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let org = org_id(&org)?;
    state.services.delete_my_agent_secret(&caller.actor, &org, &key, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentSessionErrorDto {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentSessionDto {
    pub id: String,
    pub project_id: String,
    pub profile: String,
    pub kind: String,
    pub prompt: String,
    /// `worktree` or `workspace`.
    pub isolation: String,
    /// queued, running, succeeded, failed or stopped.
    pub status: String,
    pub exit_code: Option<i32>,
    pub error: Option<AgentSessionErrorDto>,
    pub branch: Option<String>,
    /// A follow-up: the first session of its chain, whose worktree and branch it continues.
    pub continues: Option<String>,
    pub base_commit: Option<String>,
    pub final_commit: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// In US dollars, as the agent reported it.
    pub cost: Option<f64>,
    /// The agent's final message, when it reports one.
    pub summary: Option<String>,
    /// `applied` or `discarded` once reviewed.
    pub review: Option<String>,
    pub job_id: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds from start to end (or to now while running).
    pub duration_secs: Option<f64>,
}

impl From<AgentSession> for AgentSessionDto {
    fn from(session: AgentSession) -> Self {
        let duration_secs = session.started_at.map(|started| {
            let end = session.finished_at.unwrap_or_else(Utc::now);
            (end - started).num_milliseconds().max(0) as f64 / 1000.0
        });
        Self {
            id: session.id.into(),
            project_id: session.project_id.into(),
            profile: session.profile_name,
            kind: session.kind.as_str().to_owned(),
            prompt: session.prompt,
            isolation: session.isolation.as_str().to_owned(),
            status: session.status.as_str().to_owned(),
            exit_code: session.exit_code,
            error: session
                .error_code
                .map(|code| AgentSessionErrorDto { code, message: session.error_message.unwrap_or_default() }),
            branch: session.branch,
            continues: session.continues.map(Into::into),
            base_commit: session.base_commit,
            final_commit: session.final_commit,
            input_tokens: session.input_tokens,
            output_tokens: session.output_tokens,
            cost: session.cost_usd,
            summary: session.summary,
            review: session.review,
            job_id: session.job_id,
            created_by: session.created_by.map(Into::into),
            created_at: session.created_at,
            started_at: session.started_at,
            finished_at: session.finished_at,
            duration_secs,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// The profile's name or id.
    pub profile: String,
    pub prompt: String,
    /// `worktree` (a git worktree on `dockyard/agent/<id>`) or `workspace`; default: the profile's working mode.
    pub isolation: Option<String>,
}

/// Starts an agent session (developers and up): 201 with the queued session.
/// 503 `agents_not_configured` or `agent_unavailable` (its circuit breaker is
/// open, with Retry-After); 429 `agent_concurrency_limit` or `agent_rate_limited`.
#[utoipa::path(post, path = "/api/v1/projects/{project}/agent-sessions", tag = "agents",
    params(("project" = String, Path)), request_body = StartSession,
    responses((status = 201, body = AgentSessionDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem),
        (status = 503, body = Problem)))]
async fn start_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<StartSession>,
) -> ApiResult<(StatusCode, Json<AgentSessionDto>)> {
    let project: ProjectId = path_id(&project)?;
    let session = state
        .services
        .start_agent_session(&caller.actor, &project, &body.profile, &body.prompt, body.isolation.as_deref(), &context)
        .await?;
    Ok((StatusCode::CREATED, Json(session.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionsQuery {
    /// Search the prompts, profiles and the agents' final messages.
    pub q: Option<String>,
    /// Only sessions older than this one (paging).
    pub before: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<u32>,
}

/// A project's agent sessions, newest first; `q` searches them.
#[utoipa::path(get, path = "/api/v1/projects/{project}/agent-sessions", tag = "agents",
    params(("project" = String, Path), SessionsQuery),
    responses((status = 200, body = Vec<AgentSessionDto>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_sessions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<SessionsQuery>,
) -> ApiResult<Json<Vec<AgentSessionDto>>> {
    let project: ProjectId = path_id(&project)?;
    if query.limit.is_some_and(|limit| limit == 0 || limit > 200) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit must be between 1 and 200").field("limit")
        );
    }
    if query.q.as_ref().is_some_and(|q| q.len() > 500) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "q is at most 500 bytes").field("q"));
    }
    let before = match &query.before {
        Some(raw) => Some(raw.parse::<AgentSessionId>().map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "before must be a session id").field("before")
        })?),
        None => None,
    };
    let sessions = state
        .services
        .list_agent_sessions(&caller.actor, &project, query.q.as_deref(), before.as_ref(), query.limit.unwrap_or(50))
        .await?;
    Ok(Json(sessions.into_iter().map(Into::into).collect()))
}

/// One session: status, exit code, tokens and cost.
#[utoipa::path(get, path = "/api/v1/agent-sessions/{session}", tag = "agents", params(("session" = String, Path)),
    responses((status = 200, body = AgentSessionDto), (status = 404, body = Problem)))]
async fn get_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(session): Path<String>,
) -> ApiResult<Json<AgentSessionDto>> {
    let id: AgentSessionId = path_id(&session)?;
    Ok(Json(state.services.get_agent_session(&caller.actor, &id).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TranscriptQuery {
    /// Only events after this id (default 0: from the start).
    pub after: Option<i64>,
    /// At most this many events (1-1000, default 500) in the JSON form.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptEventDto {
    /// 1, 2, 3… without gaps.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `output`, `stderr`, `message`, `thought`, `tool_call`, `tool_result`,
    /// `usage`, `permission_request`, `permission_answer`, `input`, `status`, …
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The transcript. JSON (a page of events after `after`), or with
/// `Accept: text/event-stream` the live stream, resumable with `Last-Event-ID`,
/// ending with `end` once the session is over.
#[utoipa::path(get, path = "/api/v1/agent-sessions/{session}/events", tag = "agents",
    params(("session" = String, Path), TranscriptQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume the stream after this event")),
    responses((status = 200, body = Vec<TranscriptEventDto>, description = "JSON, or text/event-stream"),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn session_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(session): Path<String>,
    ApiQuery(query): ApiQuery<TranscriptQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: AgentSessionId = path_id(&session)?;
    let after = resume_point(&headers, query.after)?;
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if wants_stream {
        let job = state.services.agent_session_job(&caller.actor, &id).await?;
        let follower = state.services.follow_job(&caller.actor, &job, after).await?;
        return Ok(job_sse(&state, follower));
    }
    if query.limit.is_some_and(|limit| limit == 0 || limit > 1000) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit must be between 1 and 1000").field("limit")
        );
    }
    let events = state.services.agent_session_events(&caller.actor, &id, after, query.limit.unwrap_or(500)).await?;
    let events: Vec<TranscriptEventDto> = events
        .into_iter()
        .map(|event| TranscriptEventDto { id: event.seq, at: event.at, kind: event.kind, data: event.data })
        .collect();
    Ok(Json(events).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SocketQuery {
    /// Replay from after this event id (default 0).
    pub after: Option<i64>,
}

/// The live session over a WebSocket. Server → client: one JSON text frame per
/// transcript event `{id, kind, data}`, replayed from after `after`, then live;
/// `{type: "end", status}` when the session is over. Client → server:
/// `{type: "text", text}`, `{type: "raw", data}` (keystrokes for terminal
/// agents), `{type: "permission", request_id, option_id}` or `{type: "stop"}`.
#[utoipa::path(get, path = "/api/v1/agent-sessions/{session}/ws", tag = "agents",
    params(("session" = String, Path), SocketQuery),
    responses((status = 101, description = "Switching protocols"), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 426, body = Problem)))]
async fn session_socket(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(session): Path<String>,
    ApiQuery(query): ApiQuery<SocketQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    crate::middleware::check_websocket_origin(&headers, &state)?;
    let id: AgentSessionId = path_id(&session)?;
    let job = state.services.agent_session_job(&caller.actor, &id).await?;
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(StatusCode::UPGRADE_REQUIRED, "websocket_required", "this route only speaks WebSocket")
    })?;
    let follower = state.services.follow_job(&caller.actor, &job, query.after.unwrap_or(0).max(0)).await?;
    let (services, actor, stopped) = (state.services.clone(), caller.actor.clone(), state.stopped());
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            let (mut sink, mut stream) = socket.split();
            let events = follower.into_stream();
            tokio::pin!(events);
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    item = events.next() => {
                        let frame = match item {
                            Some(Ok(JobStreamItem::Event(event))) => {
                                json!({ "id": event.seq, "kind": event.kind, "data": event.data })
                            }
                            Some(Ok(JobStreamItem::End(_))) => {
                                let status = services.get_agent_session(&actor, &id).await
                                    .map(|session| session.status.as_str()).unwrap_or("unknown");
                                let _ = sink.send(Message::Text(json!({ "type": "end", "status": status }).to_string().into())).await;
                                break;
                            }
                            Some(Err(_)) | None => break,
                        };
                        if sink.send(Message::Text(frame.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                    message = stream.next() => match message {
                        Some(Ok(Message::Text(text))) => {
                            let reply = match serde_json::from_str::<AgentInput>(&text) {
                                Ok(input) => match services.send_agent_input(&actor, &id, input).await {
                                    Ok(()) => None,
                                    Err(error) => Some(json!({ "type": "error", "message": error.to_string() })),
                                },
                                Err(error) => Some(json!({ "type": "error", "message": format!("not an input message: {error}") })),
                            };
                            if let Some(reply) = reply
                                && sink.send(Message::Text(reply.to_string().into())).await.is_err()
                            {
                                break;
                            }
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                    () = &mut stopped => break,
                }
            }
            let _ = sink.close().await;
        })
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputBody {
    /// A follow-up message (a line for terminal agents).
    pub text: Option<String>,
    /// Keystrokes for a terminal agent, as typed.
    pub data: Option<String>,
    /// The answer to a permission question: the `request_id` of its event and the chosen option's id.
    pub permission: Option<PermissionAnswer>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionAnswer {
    pub request_id: String,
    pub option_id: String,
}

/// Sends input to a running session (developers and up): 202. 409
/// `session_not_running` once it is over.
#[utoipa::path(post, path = "/api/v1/agent-sessions/{session}/input", tag = "agents",
    params(("session" = String, Path)), request_body = InputBody,
    responses((status = 202), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn session_input(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(session): Path<String>,
    ApiJson(body): ApiJson<InputBody>,
) -> ApiResult<StatusCode> {
    let id: AgentSessionId = path_id(&session)?;
    let input = match (body.text, body.data, body.permission) {
        (Some(text), None, None) => AgentInput::Text { text },
        (None, Some(data), None) => AgentInput::Raw { data },
        (None, None, Some(answer)) => {
            AgentInput::Permission { request_id: answer.request_id, option_id: answer.option_id }
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "send exactly one of text, data or permission",
            ));
        }
    };
    state.services.send_agent_input(&caller.actor, &id, input).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Stops a session (developers and up): the agent's own cancel or SIGTERM,
/// then SIGKILL after the grace. 409 `session_finished` once it is over.
#[utoipa::path(post, path = "/api/v1/agent-sessions/{session}/stop", tag = "agents",
    params(("session" = String, Path)),
    responses((status = 200, body = AgentSessionDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn stop_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(session): Path<String>,
) -> ApiResult<Json<AgentSessionDto>> {
    let id: AgentSessionId = path_id(&session)?;
    Ok(Json(state.services.stop_agent_session(&caller.actor, &id, &context).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentSessionDiffDto {
    pub base_commit: String,
    /// The session's final commit; absent for the live worktree of a running session.
    pub head: Option<String>,
    /// Unified diff text.
    pub text: String,
    pub truncated: bool,
    /// File by file, with hunks.
    #[schema(value_type = Vec<Object>)]
    pub files: Value,
}

/// The session's changes against its base commit, file by file (worktree sessions).
#[utoipa::path(get, path = "/api/v1/agent-sessions/{session}/diff", tag = "agents",
    params(("session" = String, Path)),
    responses((status = 200, body = AgentSessionDiffDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn session_diff(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(session): Path<String>,
) -> ApiResult<Json<AgentSessionDiffDto>> {
    let id: AgentSessionId = path_id(&session)?;
    let diff = state.services.agent_session_diff(&caller.actor, &id).await?;
    Ok(Json(AgentSessionDiffDto {
        base_commit: diff.base_commit,
        head: diff.head,
        text: diff.diff.text,
        truncated: diff.diff.truncated,
        files: serde_json::to_value(&diff.diff.files).unwrap_or_default(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentApplyDto {
    /// `merged` or `up_to_date`.
    pub outcome: String,
    pub commit: Option<String>,
    pub files: Vec<String>,
}

/// Merges a finished worktree session's branch into the workspace (developers
/// and up). 409 `merge_conflict` or `workspace_dirty` name the files and leave
/// the workspace as it was.
#[utoipa::path(post, path = "/api/v1/agent-sessions/{session}/apply", tag = "agents",
    params(("session" = String, Path)),
    responses((status = 200, body = AgentApplyDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn apply_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(session): Path<String>,
) -> ApiResult<Json<AgentApplyDto>> {
    let id: AgentSessionId = path_id(&session)?;
    let outcome = state.services.apply_agent_session(&caller.actor, &id, &context).await?;
    Ok(Json(match outcome {
        dockyard_services::agents::MergeOutcome::Merged { commit, files } => {
            AgentApplyDto { outcome: "merged".into(), commit: Some(commit), files }
        }
        _ => AgentApplyDto { outcome: "up_to_date".into(), commit: None, files: Vec::new() },
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpBody {
    /// The review comment for the agent.
    pub prompt: String,
}

/// Sends a review comment back to a finished worktree session's agent
/// (developers and up): 201 with a new session of the same profile that
/// continues in the same worktree and branch (its diff and apply cover both);
/// the first is marked reviewed (`continued`).
#[utoipa::path(post, path = "/api/v1/agent-sessions/{session}/follow-up", tag = "agents",
    params(("session" = String, Path)), request_body = FollowUpBody,
    responses((status = 201, body = AgentSessionDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem),
        (status = 503, body = Problem)))]
async fn follow_up_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(session): Path<String>,
    ApiJson(body): ApiJson<FollowUpBody>,
) -> ApiResult<(StatusCode, Json<AgentSessionDto>)> {
    let id: AgentSessionId = path_id(&session)?;
    let session = state.services.follow_up_agent_session(&caller.actor, &id, &body.prompt, &context).await?;
    Ok((StatusCode::CREATED, Json(session.into())))
}

/// Drops a finished worktree session's worktree and branch (developers and up).
#[utoipa::path(post, path = "/api/v1/agent-sessions/{session}/discard", tag = "agents",
    params(("session" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn discard_session(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(session): Path<String>,
) -> ApiResult<StatusCode> {
    let id: AgentSessionId = path_id(&session)?;
    state.services.discard_agent_session(&caller.actor, &id, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}
