//! The built-in assistant: chat (Server-Sent Events), inline completions, and
//! an org's own endpoint settings.
//!
//! The [`Assistant`] (its HTTP clients, completion cache and circuit breakers)
//! is made once per router from the state's services and config, on first
//! use, and reached through a request extension: it is this server's memory,
//! never a global.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use dockyard_domain::ProjectId;
use dockyard_services::assistant::{
    Assistant, AssistantError, AssistantSettings, ChatEvent, ChatMessage, ChatRequest, CompleteRequest, EditorContext,
    OrgAssistantUpdate, SettingsSource, Zeroizing,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller, Ctx};
use crate::state::AppState;

/// Where this router's [`Assistant`] lives once made.
#[derive(Clone, Default)]
struct AssistantSlot(Arc<tokio::sync::OnceCell<Arc<Assistant>>>);

impl AssistantSlot {
    async fn get(&self, state: &AppState) -> ApiResult<Arc<Assistant>> {
        self.0
            .get_or_try_init(|| async {
                Assistant::new(state.services.clone(), state.config.assistant()).map(Arc::new)
            })
            .await
            .cloned()
            .map_err(ApiError::internal)
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat))
        .routes(routes!(complete))
        .routes(routes!(get_org_assistant, put_org_assistant, delete_org_assistant))
        .layer(Extension(AssistantSlot::default()))
}

impl From<AssistantError> for ApiError {
    fn from(error: AssistantError) -> Self {
        let code = error.code();
        let detail = error.to_string();
        match error {
            AssistantError::Service(error) => error.into(),
            AssistantError::NotConfigured => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, detail),
            AssistantError::BudgetExceeded { retry_after, .. } => ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, detail)
            },
            AssistantError::Timeout(_) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, code, detail),
            AssistantError::Upstream { .. } => ApiError::new(StatusCode::BAD_GATEWAY, code, detail),
            AssistantError::Unavailable { retry_after } => ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
            },
        }
    }
}

fn project_id(raw: &str) -> ApiResult<ProjectId> {
    raw.parse().map_err(|_| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_project_id", "project_id: not a project id")
            .field("project_id")
    })
}

/// One chat message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessageDto {
    /// `user`, `assistant` or `system`.
    pub role: String,
    pub content: String,
}

/// The file open in the editor. Its content goes to the model in a system
/// message, cut to a window around the selection when it is large.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditorContextDto {
    pub path: Option<String>,
    pub language: Option<String>,
    pub content: Option<String>,
    /// The selected text (it is looked up in `content`).
    pub selection: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    pub project_id: String,
    pub messages: Vec<ChatMessageDto>,
    pub context: Option<EditorContextDto>,
}

/// A chat with the assistant, answered as Server-Sent Events: `delta` events
/// `{text}`, then `usage` `{prompt_tokens, completion_tokens}` when the
/// endpoint reports it, then `done` `{}`. A failure once streaming is an
/// `error` event `{code, message}` and nothing follows. Failures before the
/// stream starts are problems: 503 `assistant_not_configured`, 429
/// `token_budget_exceeded`, 503 `assistant_unavailable` (circuit breaker
/// open; Retry-After), 504 `assistant_timeout`, 502 `assistant_upstream_error`.
#[utoipa::path(post, path = "/api/v1/assistant/chat", tag = "assistant", request_body = ChatBody,
    responses(
        (status = 200, content_type = "text/event-stream", body = String, description = "Server-Sent Events"),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem),
        (status = 502, body = Problem), (status = 503, body = Problem), (status = 504, body = Problem)))]
async fn chat(
    State(state): State<AppState>,
    Extension(slot): Extension<AssistantSlot>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<ChatBody>,
) -> ApiResult<Response> {
    let assistant = slot.get(&state).await?;
    let request = ChatRequest {
        project_id: project_id(&body.project_id)?,
        messages: body
            .messages
            .into_iter()
            .map(|message| ChatMessage { role: message.role, content: message.content })
            .collect(),
        context: body.context.map(|context| EditorContext {
            path: context.path,
            language: context.language,
            content: context.content,
            selection: context.selection,
        }),
    };
    let answer = assistant.chat(&caller.actor, request).await?;
    let events = answer
        .into_stream()
        .map(|event| {
            let event = match event {
                ChatEvent::Delta(text) => Event::default().event("delta").data(json!({ "text": text }).to_string()),
                ChatEvent::Usage(usage) => Event::default().event("usage").data(
                    json!({ "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens })
                        .to_string(),
                ),
                ChatEvent::Done => Event::default().event("done").data("{}"),
                ChatEvent::Error { code, message } => {
                    Event::default().event("error").data(json!({ "code": code, "message": message }).to_string())
                }
            };
            Ok::<_, Infallible>(event)
        })
        .take_until(state.stopped());
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    pub project_id: String,
    /// The file being edited.
    pub path: String,
    pub language: Option<String>,
    /// The text before the cursor (its last 12 KiB are used).
    pub prefix: String,
    /// The text after the cursor (its first 4 KiB are used).
    pub suffix: Option<String>,
    /// 1 to 4096; default 128.
    pub max_tokens: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionDto {
    /// The text to insert at the cursor (may be empty).
    pub completion: String,
    /// Answered from the cache of identical requests, without calling the endpoint.
    pub cached: bool,
}

/// An inline completion at the cursor (a non-streamed chat completion with a
/// code-completion prompt). Identical requests (same endpoint, model and
/// inputs) are answered from a cache. Errors as for the chat.
#[utoipa::path(post, path = "/api/v1/assistant/complete", tag = "assistant", request_body = CompleteBody,
    responses(
        (status = 200, body = CompletionDto), (status = 404, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem),
        (status = 504, body = Problem)))]
async fn complete(
    State(state): State<AppState>,
    Extension(slot): Extension<AssistantSlot>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CompleteBody>,
) -> ApiResult<Json<CompletionDto>> {
    let assistant = slot.get(&state).await?;
    let request = CompleteRequest {
        project_id: project_id(&body.project_id)?,
        path: body.path,
        language: body.language,
        prefix: body.prefix,
        suffix: body.suffix,
        // Out of range values become 0, which the service refuses with its code.
        max_tokens: body.max_tokens.map(|max| u32::try_from(max).unwrap_or(0)),
    };
    let completion = assistant.complete(&caller.actor, request).await?;
    Ok(Json(CompletionDto { completion: completion.completion, cached: completion.cached }))
}

/// Where the settings in effect come from.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SettingsSourceDto {
    /// The org set its own endpoint.
    Org,
    /// The instance's endpoint.
    Instance,
    /// No endpoint: the assistant is off for this org.
    None,
}

/// The assistant settings in effect for an org. Never a key; the instance's URL is not shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssistantSettingsDto {
    pub source: SettingsSourceDto,
    /// Whether the assistant can be used (`source` is not `none`).
    pub configured: bool,
    /// The org's own endpoint URL (`null` for the instance's).
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub has_api_key: bool,
    /// Tokens per user per UTC day (0: unlimited), and what the caller spent today.
    pub daily_token_budget: u64,
    pub tokens_used_today: u64,
}

impl From<AssistantSettings> for AssistantSettingsDto {
    fn from(settings: AssistantSettings) -> Self {
        Self {
            source: match settings.source {
                SettingsSource::Org => SettingsSourceDto::Org,
                SettingsSource::Instance => SettingsSourceDto::Instance,
                SettingsSource::None => SettingsSourceDto::None,
            },
            configured: settings.source != SettingsSource::None,
            base_url: settings.base_url,
            model: settings.model,
            has_api_key: settings.has_api_key,
            daily_token_budget: settings.daily_token_budget,
            tokens_used_today: settings.tokens_used_today,
        }
    }
}

/// An org's own endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgAssistantBody {
    /// An OpenAI-compatible API base, e.g. `https://api.openai.com/v1`. It must
    /// pass the instance's outbound policy (no private or loopback address
    /// unless the instance admin allowed them; https unless plain http is allowed).
    pub base_url: String,
    pub model: String,
    /// Stored sealed and never shown again. Absent: the stored key is kept; `""`: removed.
    pub api_key: Option<String>,
}

/// The assistant settings in effect for the org (members).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/assistant", tag = "assistant",
    params(("org" = String, Path, description = "id or slug")),
    responses((status = 200, body = AssistantSettingsDto), (status = 404, body = Problem)))]
async fn get_org_assistant(
    State(state): State<AppState>,
    Extension(slot): Extension<AssistantSlot>,
    Caller(caller): Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<AssistantSettingsDto>> {
    let assistant = slot.get(&state).await?;
    Ok(Json(assistant.settings(&caller.actor, &org).await?.into()))
}

/// Sets the org's own assistant endpoint, used instead of the instance's (org
/// admins and up). 422 `assistant_url_forbidden` for a URL the outbound policy
/// refuses, `assistant_invalid_url`, `assistant_invalid_model`, `assistant_invalid_api_key`.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/assistant", tag = "assistant",
    params(("org" = String, Path, description = "id or slug")), request_body = OrgAssistantBody,
    responses((status = 200, body = AssistantSettingsDto), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_org_assistant(
    State(state): State<AppState>,
    Extension(slot): Extension<AssistantSlot>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<OrgAssistantBody>,
) -> ApiResult<Json<AssistantSettingsDto>> {
    let assistant = slot.get(&state).await?;
    let update =
        OrgAssistantUpdate { base_url: body.base_url, model: body.model, api_key: body.api_key.map(Zeroizing::new) };
    Ok(Json(assistant.put_org_settings(&caller.actor, &org, update, &context).await?.into()))
}

/// Removes the org's own endpoint and key; the instance's applies again (org admins and up).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/assistant", tag = "assistant",
    params(("org" = String, Path, description = "id or slug")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_org_assistant(
    State(state): State<AppState>,
    Extension(slot): Extension<AssistantSlot>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(org): Path<String>,
) -> ApiResult<StatusCode> {
    let assistant = slot.get(&state).await?;
    assistant.delete_org_settings(&caller.actor, &org, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}
