//! The built-in assistant: a chat (streamed) and inline code completions
//! through any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI,
//! gateways, Ollama, vLLM, llama.cpp's server).
//!
//! - The endpoint is the instance's (`[assistant]` in the config, the admin's
//!   choice, may be private) or an org's own (`/orgs/{org}/assistant`, whose URL
//!   must pass the outbound policy and whose key is sealed as an org secret).
//!   An org's endpoint never gets the instance's key.
//! - [`Assistant::chat`] streams; [`Assistant::complete`] answers once and
//!   caches identical requests ([`cache`]).
//! - Every user has a daily token budget (UTC days, persisted); a request
//!   that starts under it may finish over it.
//! - [`breaker`]: a circuit breaker per endpoint; [`wire`]: the OpenAI wire
//!   format; [`prompt`]: what the model is told; [`client`]: the HTTP clients.
//!
//! Keys never reach logs, errors or answers: they live in `Zeroizing` strings,
//! travel only in a sensitive `Authorization` header, and any upstream text
//! shown or logged has them scrubbed.

mod breaker;
mod cache;
mod client;
mod prompt;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use chrono::{Days, Utc};
use dockyard_domain::validate::ValidationError;
use dockyard_domain::{Action, Actor, OrgId, ProjectId, UserId};
use futures_util::Stream;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

pub use prompt::EditorContext;
pub use wire::Usage;
/// The key's wrapper in [`AssistantConfig`]: wiped from memory when dropped.
pub use zeroize::Zeroizing;

use self::breaker::{Breakers, Permit};
use self::cache::CompletionCache;
use self::wire::{SseParser, StreamItem, WireMessage};
use crate::audit::AuditEntry;
use crate::secrets::SecretScope;
use crate::{RequestContext, ServiceError, Services};

/// The org secret that holds an org's assistant API key.
pub const API_KEY_SECRET: &str = "ASSISTANT_API_KEY";
/// Chat input limits: messages per request, bytes in all of them.
pub const MAX_MESSAGES: usize = 200;
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The most of the open file a chat request may send (it is then cut to a window).
pub const MAX_CONTEXT_BYTES: usize = 1024 * 1024;
/// Completion input limits.
pub const MAX_COMPLETION_INPUT_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_TOKENS: u32 = 128;
pub const MAX_MAX_TOKENS: u32 = 4096;
/// The longest model name and API key accepted.
const MAX_MODEL_BYTES: usize = 256;
const MAX_KEY_BYTES: usize = 4096;
const MAX_PATH_BYTES: usize = 1024;
const MAX_LANGUAGE_BYTES: usize = 64;
/// The largest answer read from an endpoint (a completion, or an error body).
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The instance's assistant settings (`[assistant]` in the config).
#[derive(Clone)]
pub struct AssistantConfig {
    /// An OpenAI-compatible API base such as `https://api.openai.com/v1`. With
    /// `model`, the instance's default endpoint; unset: orgs must set their own.
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<Zeroizing<String>>,
    /// How long to wait for an answer to start, and between pieces of a streamed one;
    /// a completion must be whole within it.
    pub timeout: Duration,
    /// Tokens per user per UTC day; 0 means unlimited.
    pub daily_token_budget: u64,
    /// Completions kept in memory; 0 turns the cache off.
    pub cache_entries: usize,
    /// Consecutive failures that open an endpoint's circuit breaker; 0 turns it off.
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
}

impl std::fmt::Debug for AssistantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssistantConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "****"))
            .field("timeout", &self.timeout)
            .field("daily_token_budget", &self.daily_token_budget)
            .field("cache_entries", &self.cache_entries)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .finish()
    }
}

impl Default for AssistantConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: None,
            api_key: None,
            timeout: Duration::from_secs(60),
            daily_token_budget: 200_000,
            cache_entries: 1000,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// Where the settings in effect for an org come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsSource {
    /// The org set its own endpoint.
    Org,
    /// The instance's endpoint.
    Instance,
    /// Neither: the assistant is off for this org.
    None,
}

impl SettingsSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SettingsSource::Org => "org",
            SettingsSource::Instance => "instance",
            SettingsSource::None => "none",
        }
    }
}

/// The settings in effect for an org, as members may see them: never a key,
/// and not the instance's URL (it may name an internal host).
#[derive(Debug, Clone)]
pub struct AssistantSettings {
    pub source: SettingsSource,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub has_api_key: bool,
    /// The budget per user per UTC day (0: unlimited), and what the caller spent today.
    pub daily_token_budget: u64,
    pub tokens_used_today: u64,
}

/// An org's own endpoint. `api_key`: `None` keeps the stored key, `Some("")` removes it.
#[derive(Debug, Clone)]
pub struct OrgAssistantUpdate {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Zeroizing<String>>,
}

/// One message of a chat, as the client sends it.
#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub project_id: ProjectId,
    pub messages: Vec<ChatMessage>,
    pub context: Option<EditorContext>,
}

#[derive(Debug, Clone)]
pub struct CompleteRequest {
    pub project_id: ProjectId,
    pub path: String,
    pub language: Option<String>,
    pub prefix: String,
    pub suffix: Option<String>,
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub completion: String,
    /// Answered from the cache, without calling the endpoint.
    pub cached: bool,
}

/// One event of a streamed chat answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    Delta(String),
    /// Sent before `Done` when the endpoint reported it.
    Usage(Usage),
    Done,
    /// The answer broke off; nothing follows.
    Error {
        code: &'static str,
        message: String,
    },
}

/// A streamed chat answer. Dropping it stops reading from the endpoint.
pub struct ChatStream {
    receiver: mpsc::Receiver<ChatEvent>,
}

impl ChatStream {
    pub async fn next(&mut self) -> Option<ChatEvent> {
        self.receiver.recv().await
    }

    pub fn into_stream(self) -> impl Stream<Item = ChatEvent> + Send + 'static {
        futures_util::stream::unfold(self.receiver, |mut receiver| async move {
            receiver.recv().await.map(|event| (event, receiver))
        })
    }
}

/// Why an assistant request failed. Each variant has a stable [`code`](Self::code).
#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Neither the org nor the instance set an endpoint (503).
    #[error("the assistant is not configured: ask an org admin or the instance admin to set an endpoint")]
    NotConfigured,
    /// The caller used up today's tokens (429).
    #[error("you used your {budget} assistant tokens for today; the budget renews at midnight UTC")]
    BudgetExceeded { budget: u64, retry_after: Duration },
    /// The endpoint did not answer in time (504).
    #[error("the assistant endpoint did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The endpoint failed or answered with an error (502).
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    /// The endpoint's circuit breaker is open (503).
    #[error("the assistant endpoint is failing; requests are paused for a moment")]
    Unavailable { retry_after: Duration },
}

impl AssistantError {
    pub fn code(&self) -> &'static str {
        match self {
            AssistantError::Service(_) => "service",
            AssistantError::NotConfigured => "assistant_not_configured",
            AssistantError::BudgetExceeded { .. } => "token_budget_exceeded",
            AssistantError::Timeout(_) => "assistant_timeout",
            AssistantError::Upstream { code, .. } => code,
            AssistantError::Unavailable { .. } => "assistant_unavailable",
        }
    }
}

impl From<ValidationError> for AssistantError {
    fn from(error: ValidationError) -> Self {
        AssistantError::Service(error.into())
    }
}

impl From<dockyard_store::StoreError> for AssistantError {
    fn from(error: dockyard_store::StoreError) -> Self {
        AssistantError::Service(error.into())
    }
}

/// The endpoint in effect for a request.
struct Endpoint {
    base_url: String,
    model: String,
    api_key: Option<Zeroizing<String>>,
    source: SettingsSource,
}

impl Endpoint {
    fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }

    /// `text` with the key replaced, for anything shown or logged.
    fn scrub(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) if !key.is_empty() => text.replace(key.as_str(), "****"),
            _ => text.to_owned(),
        }
    }
}

/// How a call to an endpoint failed.
struct Failure {
    error: AssistantError,
    /// Whether it says something about the endpoint's health (the breaker counts it).
    endpoint_fault: bool,
}

fn today() -> String {
    Utc::now().format("%Y-%m-%d").to_string()
}

/// Until the next UTC midnight, when budgets renew.
fn until_midnight() -> Duration {
    let now = Utc::now();
    let tomorrow = now.date_naive().checked_add_days(Days::new(1)).and_then(|day| day.and_hms_opt(0, 0, 0));
    tomorrow
        .and_then(|midnight| (midnight.and_utc() - now).to_std().ok())
        .unwrap_or(Duration::from_secs(3600))
        .max(Duration::from_secs(1))
}

/// A rough token count for endpoints that report none: about four bytes a token.
fn estimate_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError::new(field, code, message)
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn validate_path(field: &'static str, path: &str) -> Result<(), ValidationError> {
    if path.len() > MAX_PATH_BYTES || has_control(path) {
        return Err(invalid(
            field,
            "assistant_invalid_path",
            "a file path of at most 1024 bytes, without control characters",
        ));
    }
    Ok(())
}

fn validate_language(field: &'static str, language: &str) -> Result<(), ValidationError> {
    if language.len() > MAX_LANGUAGE_BYTES || has_control(language) {
        return Err(invalid(field, "assistant_invalid_language", "a language name of at most 64 bytes"));
    }
    Ok(())
}

fn validate_chat(request: &ChatRequest) -> Result<Vec<WireMessage>, ValidationError> {
    if request.messages.is_empty() {
        return Err(invalid("messages", "assistant_messages_empty", "send at least one message"));
    }
    if request.messages.len() > MAX_MESSAGES {
        return Err(invalid("messages", "assistant_input_too_large", format!("at most {MAX_MESSAGES} messages")));
    }
    let total: usize = request.messages.iter().map(|message| message.content.len()).sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(invalid(
            "messages",
            "assistant_input_too_large",
            format!("the messages hold {total} bytes; at most {MAX_MESSAGE_BYTES}"),
        ));
    }
    if let Some(context) = &request.context {
        let bytes = context.content.as_deref().map_or(0, str::len) + context.selection.as_deref().map_or(0, str::len);
        if bytes > MAX_CONTEXT_BYTES {
            return Err(invalid(
                "context.content",
                "assistant_input_too_large",
                format!("the open file and selection hold {bytes} bytes; at most {MAX_CONTEXT_BYTES}"),
            ));
        }
        if let Some(path) = &context.path {
            validate_path("context.path", path)?;
        }
        if let Some(language) = &context.language {
            validate_language("context.language", language)?;
        }
    }
    let mut wire = vec![prompt::chat_system_message(request.context.as_ref())];
    for message in &request.messages {
        let role = match message.role.as_str() {
            "system" => "system",
            "user" => "user",
            "assistant" => "assistant",
            other => {
                return Err(invalid(
                    "messages",
                    "assistant_invalid_role",
                    format!(
                        "unknown role {:?}: use user, assistant or system",
                        other.chars().take(32).collect::<String>()
                    ),
                ));
            }
        };
        wire.push(WireMessage { role, content: message.content.clone() });
    }
    Ok(wire)
}

/// The digest a completion is cached under: everything that decides the answer.
fn cache_key(endpoint: &Endpoint, request: &CompleteRequest, prefix: &str, suffix: &str, max_tokens: u32) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [
        prompt::PROMPT_VERSION,
        &endpoint.base_url,
        &endpoint.model,
        &request.path,
        request.language.as_deref().unwrap_or(""),
        prefix,
        suffix,
        &max_tokens.to_string(),
    ] {
        // Length-prefixed, so no two different inputs hash the same parts.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

fn count(name: &'static str, kind: &'static str) {
    metrics::counter!(name, "kind" => kind).increment(1);
}

fn count_failure(kind: &'static str, reason: &'static str) {
    metrics::counter!("assistant_failures_total", "kind" => kind, "reason" => reason).increment(1);
}

/// The assistant of one Dockyard: its settings, HTTP clients, completion cache
/// and circuit breakers. One per server (the cache and breakers are its memory).
pub struct Assistant {
    services: Services,
    config: AssistantConfig,
    instance_client: reqwest::Client,
    org_client: reqwest::Client,
    cache: CompletionCache,
    breakers: Arc<Breakers>,
}

impl Assistant {
    pub fn new(services: Services, config: AssistantConfig) -> Result<Self, String> {
        let outbound = &services.inner.config.outbound;
        let instance_client = client::build_client(outbound, None)?;
        let policy = dockyard_domain::net::OutboundPolicy { allow_private: outbound.allow_private_networks };
        let org_client = client::build_client(outbound, Some(policy))?;
        let cache = CompletionCache::new(config.cache_entries);
        let breakers = Breakers::new(config.breaker_failures, config.breaker_cooldown);
        Ok(Self { services, config, instance_client, org_client, cache, breakers })
    }

    fn store(&self) -> &dockyard_store::Store {
        self.services.store()
    }

    /// The settings in effect for an org (members read them).
    pub async fn settings(&self, actor: &Actor, org_key: &str) -> Result<AssistantSettings, ServiceError> {
        let (org, _grant) = self.services.org_for(actor, org_key, Action::ReadOrg).await?;
        self.settings_of(&org.id, &actor.user_id).await
    }

    async fn settings_of(&self, org: &OrgId, user: &UserId) -> Result<AssistantSettings, ServiceError> {
        let tokens_used_today = u64::try_from(self.store().assistant_tokens_used(user, &today()).await?).unwrap_or(0);
        let daily_token_budget = self.config.daily_token_budget;
        if let Some(settings) = self.store().assistant_org_settings(org).await? {
            let has_api_key = self.store().find_secret(org, None, API_KEY_SECRET).await?.is_some();
            return Ok(AssistantSettings {
                source: SettingsSource::Org,
                base_url: Some(settings.base_url),
                model: Some(settings.model),
                has_api_key,
                daily_token_budget,
                tokens_used_today,
            });
        }
        Ok(match (&self.config.base_url, &self.config.model) {
            (Some(_), Some(model)) => AssistantSettings {
                source: SettingsSource::Instance,
                base_url: None,
                model: Some(model.clone()),
                has_api_key: self.config.api_key.is_some(),
                daily_token_budget,
                tokens_used_today,
            },
            _ => AssistantSettings {
                source: SettingsSource::None,
                base_url: None,
                model: None,
                has_api_key: false,
                daily_token_budget,
                tokens_used_today,
            },
        })
    }

    /// Sets the org's own endpoint (org admins and up). The URL must pass the
    /// instance's outbound policy; the key is sealed as an org secret.
    pub async fn put_org_settings(
        &self,
        actor: &Actor,
        org_key: &str,
        update: OrgAssistantUpdate,
        context: &RequestContext,
    ) -> Result<AssistantSettings, ServiceError> {
        let (org, _grant) = self.services.org_for(actor, org_key, Action::ManageSecrets).await?;
        let url = client::parse_endpoint_url(&update.base_url)?;
        client::check_org_url(&url, &self.services.inner.config.outbound)?;
        let base_url = client::normalized(&url);
        let model = update.model.trim();
        if model.is_empty() || model.len() > MAX_MODEL_BYTES || has_control(model) {
            return Err(invalid("model", "assistant_invalid_model", "a model name of 1 to 256 bytes").into());
        }
        let key_change = match &update.api_key {
            None => "kept",
            Some(key) if key.is_empty() => "removed",
            Some(key) => {
                if key.len() > MAX_KEY_BYTES || key.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err(invalid(
                        "api_key",
                        "assistant_invalid_api_key",
                        "an API key of at most 4096 bytes, without spaces or control characters",
                    )
                    .into());
                }
                "set"
            }
        };
        let scope = SecretScope::Org(org.id.clone());
        match &update.api_key {
            Some(key) if key.is_empty() => {
                self.services.delete_secret(&scope, API_KEY_SECRET).await?;
            }
            Some(key) => self.services.put_secret(&scope, API_KEY_SECRET, key.as_bytes()).await?,
            None => {}
        }
        self.store().put_assistant_org_settings(&org.id, &base_url, model, &actor.user_id).await?;
        self.services
            .audit(
                AuditEntry::new("assistant.settings_updated", context)
                    .by(&actor.user_id)
                    .org(&org.id)
                    .target("org", org.id.as_str())
                    .detail(json!({ "base_url": base_url, "model": model, "api_key": key_change })),
            )
            .await;
        self.settings_of(&org.id, &actor.user_id).await
    }

    /// Removes the org's own endpoint and key: the instance's applies again.
    pub async fn delete_org_settings(
        &self,
        actor: &Actor,
        org_key: &str,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (org, _grant) = self.services.org_for(actor, org_key, Action::ManageSecrets).await?;
        let had_settings = self.store().delete_assistant_org_settings(&org.id).await?;
        let had_key = self.services.delete_secret(&SecretScope::Org(org.id.clone()), API_KEY_SECRET).await?;
        if had_settings || had_key {
            self.services
                .audit(
                    AuditEntry::new("assistant.settings_deleted", context)
                        .by(&actor.user_id)
                        .org(&org.id)
                        .target("org", org.id.as_str()),
                )
                .await;
        }
        Ok(())
    }

    /// The endpoint in effect for an org: its own, else the instance's.
    async fn endpoint(&self, org: &OrgId) -> Result<Option<Endpoint>, AssistantError> {
        if let Some(settings) = self.store().assistant_org_settings(org).await? {
            let api_key = self
                .services
                .get_secret(&SecretScope::Org(org.clone()), API_KEY_SECRET)
                .await?
                .map(|bytes| Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()));
            // The policy may have tightened since the URL was set.
            let allowed = client::parse_endpoint_url(&settings.base_url)
                .and_then(|url| client::check_org_url(&url, &self.services.inner.config.outbound));
            if let Err(refused) = allowed {
                return Err(AssistantError::Upstream {
                    code: "assistant_address_forbidden",
                    message: format!("the org's assistant URL is not allowed here: {}", refused.message),
                });
            }
            return Ok(Some(Endpoint {
                base_url: settings.base_url,
                model: settings.model,
                api_key,
                source: SettingsSource::Org,
            }));
        }
        Ok(match (&self.config.base_url, &self.config.model) {
            (Some(base_url), Some(model)) => Some(Endpoint {
                base_url: base_url.trim_end_matches('/').to_owned(),
                model: model.clone(),
                api_key: self.config.api_key.clone(),
                source: SettingsSource::Instance,
            }),
            _ => None,
        })
    }

    async fn check_budget(&self, user: &UserId) -> Result<(), AssistantError> {
        let budget = self.config.daily_token_budget;
        if budget == 0 {
            return Ok(());
        }
        let used = self.store().assistant_tokens_used(user, &today()).await?;
        if u64::try_from(used).unwrap_or(0) >= budget {
            return Err(AssistantError::BudgetExceeded { budget, retry_after: until_midnight() });
        }
        Ok(())
    }

    fn admit(&self, endpoint: &Endpoint, kind: &'static str) -> Result<Permit, AssistantError> {
        self.breakers.admit(&endpoint.base_url).map_err(|retry_after| {
            count_failure(kind, "breaker_open");
            AssistantError::Unavailable { retry_after }
        })
    }

    /// Sends a request to the endpoint and waits (at most the timeout) for a 2xx answer's headers.
    async fn send(&self, endpoint: &Endpoint, body: serde_json::Value) -> Result<reqwest::Response, Failure> {
        let client = match endpoint.source {
            SettingsSource::Org => &self.org_client,
            _ => &self.instance_client,
        };
        let mut request = client
            .post(endpoint.chat_url())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = endpoint.api_key.as_ref().filter(|key| !key.is_empty()) {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.as_str())).map_err(|_| Failure {
                    error: AssistantError::Upstream {
                        code: "assistant_upstream_error",
                        message: "the configured API key cannot be sent in a header".into(),
                    },
                    endpoint_fault: false,
                })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let timeout = self.config.timeout;
        let response = match tokio::time::timeout(timeout, request.send()).await {
            Err(_) => return Err(Failure { error: AssistantError::Timeout(timeout), endpoint_fault: true }),
            Ok(Err(error)) if client::is_forbidden_address(&error) => {
                return Err(Failure {
                    error: AssistantError::Upstream {
                        code: "assistant_address_forbidden",
                        message: "the assistant endpoint's host resolves to an address this instance may not reach"
                            .into(),
                    },
                    endpoint_fault: false,
                });
            }
            Ok(Err(error)) if error.is_timeout() => {
                return Err(Failure { error: AssistantError::Timeout(timeout), endpoint_fault: true });
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %endpoint.scrub(&error.to_string()), source = endpoint.source.as_str(), "the assistant endpoint could not be reached");
                return Err(Failure {
                    error: AssistantError::Upstream {
                        code: "assistant_upstream_error",
                        message: "the assistant endpoint could not be reached".into(),
                    },
                    endpoint_fault: true,
                });
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // The body may explain; log a little of it (scrubbed), never show it.
        let detail = tokio::time::timeout(Duration::from_secs(2), read_limited(response, 2048))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|bytes| endpoint.scrub(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_default();
        tracing::warn!(status = status.as_u16(), source = endpoint.source.as_str(), detail = %detail.chars().take(300).collect::<String>(), "the assistant endpoint answered with an error");
        let endpoint_fault = status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 408 | 429);
        Err(Failure {
            error: AssistantError::Upstream {
                code: "assistant_upstream_error",
                message: format!(
                    "the assistant endpoint answered {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
            },
            endpoint_fault,
        })
    }

    async fn record_usage(&self, user: &UserId, kind: &'static str, usage: Usage) {
        metrics::counter!("assistant_tokens_total", "kind" => kind, "type" => "prompt").increment(usage.prompt_tokens);
        metrics::counter!("assistant_tokens_total", "kind" => kind, "type" => "completion")
            .increment(usage.completion_tokens);
        let tokens = i64::try_from(usage.total()).unwrap_or(i64::MAX);
        if let Err(error) = self.store().add_assistant_tokens(user, &today(), tokens).await {
            tracing::error!(%error, "could not record assistant token usage");
        }
    }

    /// A streamed chat answer for a member of the project's org. Fails before
    /// streaming (not configured, over budget, breaker open, the endpoint
    /// refused or did not answer in time); once streaming, a failure is an
    /// [`ChatEvent::Error`].
    pub async fn chat(self: &Arc<Self>, actor: &Actor, request: ChatRequest) -> Result<ChatStream, AssistantError> {
        const KIND: &str = "chat";
        let (project, _grant) = self.services.project_for(actor, &request.project_id, Action::ReadProject).await?;
        let messages = validate_chat(&request)?;
        let endpoint = self.endpoint(&project.org_id).await?.ok_or_else(|| {
            count_failure(KIND, "not_configured");
            AssistantError::NotConfigured
        })?;
        self.check_budget(&actor.user_id).await.inspect_err(|_| count_failure(KIND, "budget"))?;
        let permit = self.admit(&endpoint, KIND)?;
        count("assistant_requests_total", KIND);
        let prompt_bytes: usize = messages.iter().map(|message| message.content.len()).sum();
        let body = wire::stream_request(&endpoint.model, &messages);
        let response = match self.send(&endpoint, body).await {
            Ok(response) => response,
            Err(failure) => return Err(self.failed(KIND, permit, failure)),
        };
        let (sender, receiver) = mpsc::channel(64);
        let assistant = self.clone();
        let user = actor.user_id.clone();
        tokio::spawn(async move {
            assistant.relay(response, endpoint, permit, sender, user, prompt_bytes).await;
        });
        Ok(ChatStream { receiver })
    }

    fn failed(&self, kind: &'static str, permit: Permit, failure: Failure) -> AssistantError {
        count_failure(
            kind,
            match failure.error {
                AssistantError::Timeout(_) => "timeout",
                _ => "upstream",
            },
        );
        if failure.endpoint_fault {
            permit.failure();
        } else {
            permit.success();
        }
        failure.error
    }

    /// Reads the endpoint's stream and passes it on as [`ChatEvent`]s; then
    /// records the tokens and tells the breaker how it went.
    async fn relay(
        &self,
        mut response: reqwest::Response,
        endpoint: Endpoint,
        permit: Permit,
        sender: mpsc::Sender<ChatEvent>,
        user: UserId,
        prompt_bytes: usize,
    ) {
        const KIND: &str = "chat";
        let timeout = self.config.timeout;
        let mut parser = SseParser::default();
        let mut usage: Option<Usage> = None;
        let mut completion_bytes = 0usize;
        let mut client_gone = false;
        let broken = |message: &str| Err(("assistant_upstream_error", message.to_owned()));
        let outcome: Result<(), (&'static str, String)> = 'read: loop {
            let events = match tokio::time::timeout(timeout, response.chunk()).await {
                Err(_) => {
                    break 'read Err((
                        "assistant_timeout",
                        format!("the assistant endpoint sent nothing for {} s", timeout.as_secs()),
                    ));
                }
                Ok(Err(error)) => {
                    tracing::warn!(error = %endpoint.scrub(&error.to_string()), "the assistant endpoint's stream broke off");
                    break 'read broken("the assistant endpoint's answer broke off");
                }
                // The end without `[DONE]`: what came is the answer.
                Ok(Ok(None)) => match parser.finish() {
                    Some(data) => vec![data],
                    None => break 'read Ok(()),
                },
                Ok(Ok(Some(bytes))) => match parser.push(&bytes) {
                    Ok(events) => events,
                    Err(_) => break 'read broken("the assistant endpoint sent a line that never ends"),
                },
            };
            for data in events {
                for item in wire::interpret(&data) {
                    match item {
                        StreamItem::Delta(text) => {
                            completion_bytes += text.len();
                            if sender.send(ChatEvent::Delta(text)).await.is_err() {
                                client_gone = true;
                                break 'read Ok(());
                            }
                        }
                        StreamItem::Usage(reported) => usage = Some(reported),
                        StreamItem::Done => break 'read Ok(()),
                        StreamItem::Error(message) => {
                            tracing::warn!(message = %endpoint.scrub(&message), "the assistant endpoint reported an error mid-stream");
                            break 'read Err((
                                "assistant_upstream_error",
                                format!("the assistant endpoint reported an error: {}", endpoint.scrub(&message)),
                            ));
                        }
                        StreamItem::Malformed => {
                            break 'read broken("the assistant endpoint sent a chunk that is not in the OpenAI format");
                        }
                    }
                }
            }
        };
        drop(response);
        let spent = usage.unwrap_or(Usage {
            prompt_tokens: estimate_tokens(prompt_bytes),
            completion_tokens: estimate_tokens(completion_bytes),
        });
        self.record_usage(&user, KIND, spent).await;
        match outcome {
            Ok(()) => {
                permit.success();
                if !client_gone {
                    if let Some(usage) = usage {
                        let _ = sender.send(ChatEvent::Usage(usage)).await;
                    }
                    let _ = sender.send(ChatEvent::Done).await;
                }
            }
            Err((code, message)) => {
                count_failure(KIND, if code == "assistant_timeout" { "timeout" } else { "upstream" });
                permit.failure();
                let _ = sender.send(ChatEvent::Error { code, message }).await;
            }
        }
    }

    /// An inline completion at the cursor. Identical requests (same endpoint,
    /// model and inputs) are answered from the cache without calling the endpoint.
    pub async fn complete(&self, actor: &Actor, request: CompleteRequest) -> Result<Completion, AssistantError> {
        const KIND: &str = "complete";
        let (project, _grant) = self.services.project_for(actor, &request.project_id, Action::ReadProject).await?;
        if request.path.trim().is_empty() {
            return Err(invalid("path", "assistant_invalid_path", "the path of the file being edited").into());
        }
        validate_path("path", &request.path)?;
        if let Some(language) = &request.language {
            validate_language("language", language)?;
        }
        let suffix = request.suffix.as_deref().unwrap_or("");
        let bytes = request.prefix.len() + suffix.len();
        if bytes > MAX_COMPLETION_INPUT_BYTES {
            return Err(invalid(
                "prefix",
                "assistant_input_too_large",
                format!("prefix and suffix hold {bytes} bytes; at most {MAX_COMPLETION_INPUT_BYTES}"),
            )
            .into());
        }
        let max_tokens = request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        if !(1..=MAX_MAX_TOKENS).contains(&max_tokens) {
            return Err(invalid(
                "max_tokens",
                "assistant_invalid_max_tokens",
                format!("between 1 and {MAX_MAX_TOKENS}"),
            )
            .into());
        }
        let prefix = prompt::tail(&request.prefix, prompt::MAX_PREFIX_BYTES);
        let suffix = prompt::head(suffix, prompt::MAX_SUFFIX_BYTES);
        let endpoint = self.endpoint(&project.org_id).await?.ok_or_else(|| {
            count_failure(KIND, "not_configured");
            AssistantError::NotConfigured
        })?;
        let key = cache_key(&endpoint, &request, prefix, suffix, max_tokens);
        if let Some(completion) = self.cache.get(&key) {
            count("assistant_cache_hits_total", KIND);
            return Ok(Completion { completion, cached: true });
        }
        count("assistant_cache_misses_total", KIND);
        self.check_budget(&actor.user_id).await.inspect_err(|_| count_failure(KIND, "budget"))?;
        let permit = self.admit(&endpoint, KIND)?;
        count("assistant_requests_total", KIND);
        let messages = prompt::completion_messages(&request.path, request.language.as_deref(), prefix, suffix);
        let prompt_bytes: usize = messages.iter().map(|message| message.content.len()).sum();
        let body = wire::complete_request(&endpoint.model, &messages, max_tokens);
        let started = tokio::time::Instant::now();
        let response = match self.send(&endpoint, body).await {
            Ok(response) => response,
            Err(failure) => return Err(self.failed(KIND, permit, failure)),
        };
        let timeout = self.config.timeout;
        let left = timeout.saturating_sub(started.elapsed());
        let body = match tokio::time::timeout(left, read_limited(response, MAX_RESPONSE_BYTES)).await {
            Err(_) => {
                let failure = Failure { error: AssistantError::Timeout(timeout), endpoint_fault: true };
                return Err(self.failed(KIND, permit, failure));
            }
            Ok(Err(message)) => {
                let failure = Failure {
                    error: AssistantError::Upstream { code: "assistant_upstream_error", message },
                    endpoint_fault: true,
                };
                return Err(self.failed(KIND, permit, failure));
            }
            Ok(Ok(body)) => body,
        };
        let Some((content, usage)) = wire::parse_completion(&body) else {
            let failure = Failure {
                error: AssistantError::Upstream {
                    code: "assistant_upstream_error",
                    message: "the assistant endpoint's answer is not an OpenAI chat completion".into(),
                },
                endpoint_fault: true,
            };
            return Err(self.failed(KIND, permit, failure));
        };
        permit.success();
        let completion = prompt::strip_fences(&content);
        let spent = usage.unwrap_or(Usage {
            prompt_tokens: estimate_tokens(prompt_bytes),
            completion_tokens: estimate_tokens(content.len()),
        });
        self.record_usage(&actor.user_id, KIND, spent).await;
        self.cache.insert(key, completion.clone());
        Ok(Completion { completion, cached: false })
    }
}

/// A response body, refusing one larger than `limit`.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|_| "the assistant endpoint's answer broke off".to_owned())?
    {
        if body.len() + chunk.len() > limit {
            return Err("the assistant endpoint's answer is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(messages: &[(&str, &str)]) -> ChatRequest {
        ChatRequest {
            project_id: ProjectId::default(),
            messages: messages
                .iter()
                .map(|(role, content)| ChatMessage { role: (*role).into(), content: (*content).into() })
                .collect(),
            context: None,
        }
    }

    #[test]
    fn chat_input_is_validated_with_stable_codes() {
        assert_eq!(validate_chat(&chat(&[])).unwrap_err().code, "assistant_messages_empty");
        assert_eq!(validate_chat(&chat(&[("tool", "x")])).unwrap_err().code, "assistant_invalid_role");
        let huge = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert_eq!(validate_chat(&chat(&[("user", &huge)])).unwrap_err().code, "assistant_input_too_large");
        let wire = validate_chat(&chat(&[("user", "hi"), ("assistant", "hello"), ("user", "why?")])).expect("valid");
        assert_eq!(
            wire.iter().map(|message| message.role).collect::<Vec<_>>(),
            ["system", "user", "assistant", "user"]
        );
    }

    #[test]
    fn cache_keys_cover_every_input() {
        let endpoint = Endpoint {
            base_url: "http://a/v1".into(),
            model: "m".into(),
            api_key: None,
            source: SettingsSource::Instance,
        };
        let request = CompleteRequest {
            project_id: ProjectId::default(),
            path: "a.rs".into(),
            language: Some("rust".into()),
            prefix: String::new(),
            suffix: None,
            max_tokens: None,
        };
        let base = cache_key(&endpoint, &request, "fn ", "", 16);
        assert_eq!(base, cache_key(&endpoint, &request, "fn ", "", 16));
        assert_ne!(base, cache_key(&endpoint, &request, "fn", " ", 16));
        assert_ne!(base, cache_key(&endpoint, &request, "fn ", "", 17));
        let other_model = Endpoint { model: "n".into(), ..endpoint };
        assert_ne!(base, cache_key(&other_model, &request, "fn ", "", 16));
    }

    #[test]
    fn the_key_is_scrubbed_and_never_debug_printed() {
        let endpoint = Endpoint {
            base_url: "http://a/v1".into(),
            model: "m".into(),
            api_key: Some(Zeroizing::new("sk-secret".into())),
            source: SettingsSource::Org,
        };
        assert_eq!(endpoint.scrub("Incorrect API key provided: sk-secret."), "Incorrect API key provided: ****.");
        let config = AssistantConfig { api_key: Some(Zeroizing::new("sk-secret".into())), ..Default::default() };
        assert!(!format!("{config:?}").contains("sk-secret"));
    }

    #[test]
    fn budgets_renew_within_a_day() {
        let wait = until_midnight();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(24 * 3600), "{wait:?}");
        assert_eq!(estimate_tokens(0), 0);
        assert_eq!(estimate_tokens(9), 3);
    }
}
