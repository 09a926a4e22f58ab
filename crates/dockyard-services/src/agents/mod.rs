//! Remote coding agents: profiles an instance admin defines, and sessions
//! that run them on a project.
//!
//! - This module: the use cases the API calls (profiles, org agent secrets,
//!   start, list, input, stop, diff, apply, discard).
//! - [`runner`]: the `agent` job that runs one session's process.
//! - [`protocol`]: Claude Code's stream-json and the Agent Client Protocol.
//! - [`breaker`]: the circuit breaker per profile.
//!
//! A session runs as a job of kind [`KIND`], claimed by a worker pool of its
//! own (`Services::start_agent_workers`), so long agent runs never hold up
//! imports and deploys; its transcript is that job's event log, persisted and
//! resumable like every other stream. A session whose worker went away is
//! failed by the job's reconcile, so none stays "running" after a restart.
//! Input, permission answers and stops reach the runner (on whichever replica)
//! through the bus topic `agent-input:{id}`; a stop is also a flag in the row.
//!
//! Agent API keys are org secrets named `AGENT__{KEY}`, sealed like every
//! secret and decrypted only to start a session; they are never answered.

pub(crate) mod breaker;
pub(crate) mod protocol;
pub(crate) mod runner;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use dockyard_domain::agent::{self as rules, AgentKind, AgentProfile, AgentSession, Isolation, SessionStatus};
use dockyard_domain::validate::ValidationError;
use dockyard_domain::{Action, Actor, AgentProfileId, AgentSessionId, OrgId, Project, ProjectId, Resource, authorize};
use dockyard_store::{NewJob, SessionFinish};
use serde::Deserialize;
use serde_json::json;

pub use breaker::Health;
pub use dockyard_git::MergeOutcome;

use crate::audit::AuditEntry;
use crate::secrets::SecretScope;
use crate::{RequestContext, ServiceError, Services};

/// The job kind of an agent session.
pub const KIND: &str = "agent";
/// Org secrets with this prefix are given to agents as env vars (without it).
const SECRET_PREFIX: &str = "AGENT__";
/// A member's own agent secrets in an org: `AGENTU__{USER}__{KEY}`; they win over the org's.
const USER_SECRET_PREFIX: &str = "AGENTU__";

fn user_secret_prefix(user: &dockyard_domain::UserId) -> String {
    format!("{USER_SECRET_PREFIX}{}__", user.as_str().to_ascii_uppercase())
}

/// The bus topic a session's runner listens to for input.
pub(crate) fn input_topic(id: &AgentSessionId) -> String {
    format!("agent-input:{id}")
}

/// The bus topic where a project's session list changes are announced.
pub fn project_topic(project: &ProjectId) -> String {
    format!("agents:{project}")
}

/// Settings of agent sessions.
#[derive(Debug, Clone)]
pub struct AgentsConfig {
    /// Where session worktrees live (`<data dir>/agent-worktrees`).
    pub worktree_root: PathBuf,
    /// Sessions one user may start per hour (0: no limit).
    pub sessions_per_hour: u32,
    /// Consecutive start failures (or early crashes) that open a profile's breaker.
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// A non-zero exit sooner than this after the start counts as a crash.
    pub early_exit: Duration,
    /// From the stop signal to the kill.
    pub stop_grace: Duration,
    /// `PATH`, `LANG` and `HOME` of agents (`HOME`: the session's folder when unset).
    pub path: String,
    pub lang: String,
    pub home: Option<PathBuf>,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            worktree_root: PathBuf::from("./data/agent-worktrees"),
            sessions_per_hour: 60,
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(60),
            early_exit: Duration::from_secs(5),
            stop_grace: Duration::from_secs(5),
            path: "/usr/local/bin:/usr/bin:/bin".into(),
            lang: "C.UTF-8".into(),
            home: None,
        }
    }
}

/// What reaches a running session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentInput {
    /// A follow-up message (a line typed into a terminal agent).
    Text {
        text: String,
    },
    /// Keystrokes for a terminal agent, as typed.
    Raw {
        data: String,
    },
    /// The answer to an ACP permission question.
    Permission {
        request_id: String,
        option_id: String,
    },
    Stop,
}

/// A profile as an admin sends it; absent fields keep their value (or default).
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub command: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    /// `worktree` (the default) or `workspace`.
    pub isolation: Option<String>,
    pub max_runtime_secs: Option<i64>,
    pub max_per_user: Option<i64>,
    pub max_per_org: Option<i64>,
    pub enabled: Option<bool>,
}

/// A session's diff against its base commit.
#[derive(Debug, Clone)]
pub struct SessionDiff {
    pub base_commit: String,
    /// The final commit, or `None` for the live worktree of a running session.
    pub head: Option<String>,
    pub diff: dockyard_git::Diff,
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> ServiceError {
    ValidationError::new(field, code, message).into()
}

/// A working mode given as text (a profile's, or a start request's choice).
fn parse_isolation(text: &str) -> Result<Isolation, ServiceError> {
    Isolation::parse(text)
        .ok_or_else(|| invalid("isolation", "invalid_isolation", "isolation is worktree or workspace"))
}

fn profile_from_input(input: ProfileInput, base: Option<AgentProfile>) -> Result<AgentProfile, ServiceError> {
    let now = Utc::now();
    let name = match (input.name, &base) {
        (Some(name), _) => rules::profile_name(&name)?,
        (None, Some(base)) => base.name.clone(),
        (None, None) => return Err(invalid("name", "invalid_profile_name", "a profile needs a name")),
    };
    let kind = match (input.kind, &base) {
        (Some(kind), _) => AgentKind::parse(&kind)
            .ok_or_else(|| invalid("kind", "invalid_agent_kind", "kind is claude-code, acp or pty"))?,
        (None, Some(base)) => base.kind,
        (None, None) => AgentKind::Pty,
    };
    let command = match (input.command, &base) {
        (Some(command), _) => rules::command(&command)?,
        (None, Some(base)) => base.command.clone(),
        (None, None) => return Err(invalid("command", "invalid_command", "a profile needs a command")),
    };
    let env = match (input.env, &base) {
        (Some(env), _) => rules::env(&env)?,
        (None, Some(base)) => base.env.clone(),
        (None, None) => BTreeMap::new(),
    };
    let isolation = match (input.isolation, &base) {
        (Some(text), _) => parse_isolation(&text)?,
        (None, Some(base)) => base.isolation,
        (None, None) => Isolation::Worktree,
    };
    let bound = |field, value: Option<i64>, current: Option<u32>, default: u32, max| match (value, current) {
        (Some(value), _) => rules::limit(field, value, max),
        (None, Some(current)) => Ok(current),
        (None, None) => Ok(default),
    };
    Ok(AgentProfile {
        id: base.as_ref().map(|base| base.id.clone()).unwrap_or_default(),
        name,
        kind,
        command,
        env,
        isolation,
        max_runtime_secs: bound(
            "max_runtime_secs",
            input.max_runtime_secs,
            base.as_ref().map(|b| b.max_runtime_secs),
            3600,
            86_400,
        )?,
        max_per_user: bound("max_per_user", input.max_per_user, base.as_ref().map(|b| b.max_per_user), 3, 1000)?,
        max_per_org: bound("max_per_org", input.max_per_org, base.as_ref().map(|b| b.max_per_org), 10, 10_000)?,
        enabled: input.enabled.or(base.as_ref().map(|b| b.enabled)).unwrap_or(true),
        created_at: base.as_ref().map(|b| b.created_at).unwrap_or(now),
        updated_at: now,
    })
}

impl Services {
    pub(crate) fn agent_breakers(&self) -> &breaker::Breakers {
        &self.inner.agent_breakers
    }

    pub(crate) fn agents_shutdown(&self) -> &dockyard_runtime::CancellationToken {
        &self.inner.agents_shutdown
    }

    /// Tells running agent sessions that this replica is stopping: they are
    /// stopped (and marked failed, `interrupted`) instead of holding the shutdown up.
    pub fn stop_agents(&self) {
        self.inner.agents_shutdown.cancel();
    }

    /// A profile's health on this replica.
    pub fn agent_profile_health(&self, profile: &AgentProfileId) -> Health {
        self.agent_breakers().health(profile.as_str())
    }

    /// Every enabled profile's name and health on this replica (for `/readyz`).
    pub async fn agent_profile_healths(&self) -> Result<Vec<(String, Health)>, ServiceError> {
        let profiles = self.store().list_agent_profiles(true).await?;
        Ok(profiles.into_iter().map(|profile| (profile.name, self.agent_profile_health(&profile.id))).collect())
    }

    /// Sessions running now (all replicas), for the metrics gauge.
    pub async fn running_agent_sessions(&self) -> Result<u64, ServiceError> {
        Ok(self.store().count_running_agent_sessions().await?)
    }

    fn admin_grant(&self, actor: &Actor) -> Result<(), ServiceError> {
        let _grant = authorize(actor, Action::ManageAgentProfiles, Resource::Instance)?;
        Ok(())
    }

    /// Every profile (instance admins).
    pub async fn list_agent_profiles(&self, actor: &Actor) -> Result<Vec<AgentProfile>, ServiceError> {
        self.admin_grant(actor)?;
        Ok(self.store().list_agent_profiles(false).await?)
    }

    /// The profiles anyone signed in may start sessions with.
    pub async fn usable_agent_profiles(&self, actor: &Actor) -> Result<Vec<AgentProfile>, ServiceError> {
        let _grant = authorize(actor, Action::ReadSelf, Resource::User(&actor.user_id))?;
        Ok(self.store().list_agent_profiles(true).await?)
    }

    pub async fn create_agent_profile(
        &self,
        actor: &Actor,
        input: ProfileInput,
        context: &RequestContext,
    ) -> Result<AgentProfile, ServiceError> {
        self.admin_grant(actor)?;
        let profile = profile_from_input(input, None)?;
        self.store().insert_agent_profile(&profile).await.map_err(name_taken)?;
        self.audit(
            AuditEntry::new("agent_profile.created", context)
                .by(&actor.user_id)
                .target("agent_profile", profile.id.as_str())
                .detail(json!({ "name": profile.name, "kind": profile.kind.as_str() })),
        )
        .await;
        Ok(profile)
    }

    pub async fn update_agent_profile(
        &self,
        actor: &Actor,
        id: &AgentProfileId,
        input: ProfileInput,
        context: &RequestContext,
    ) -> Result<AgentProfile, ServiceError> {
        self.admin_grant(actor)?;
        let current = self.store().get_agent_profile(id).await?;
        let profile = profile_from_input(input, Some(current))?;
        self.store().update_agent_profile(&profile).await.map_err(name_taken)?;
        self.audit(
            AuditEntry::new("agent_profile.updated", context)
                .by(&actor.user_id)
                .target("agent_profile", profile.id.as_str())
                .detail(json!({ "name": profile.name, "enabled": profile.enabled })),
        )
        .await;
        Ok(profile)
    }

    pub async fn delete_agent_profile(
        &self,
        actor: &Actor,
        id: &AgentProfileId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.admin_grant(actor)?;
        let profile = self.store().get_agent_profile(id).await?;
        self.store().delete_agent_profile(id).await?;
        self.audit(
            AuditEntry::new("agent_profile.deleted", context)
                .by(&actor.user_id)
                .target("agent_profile", id.as_str())
                .detail(json!({ "name": profile.name })),
        )
        .await;
        Ok(())
    }

    /// Creates or updates the profiles of the config file, by name (at start).
    pub async fn sync_agent_profiles(&self, profiles: Vec<ProfileInput>) -> Result<usize, ServiceError> {
        let mut synced = 0;
        for input in profiles {
            let name = input.name.clone().unwrap_or_default();
            let existing = match self.store().get_agent_profile_by_name(name.trim()).await {
                Ok(profile) => Some(profile),
                Err(dockyard_store::StoreError::NotFound) => None,
                Err(error) => return Err(error.into()),
            };
            let profile = profile_from_input(input, existing.clone())?;
            match existing {
                Some(_) => self.store().update_agent_profile(&profile).await?,
                None => self.store().insert_agent_profile(&profile).await?,
            }
            synced += 1;
        }
        Ok(synced)
    }

    /// The names of the org's agent secrets (org admins).
    pub async fn list_agent_secrets(&self, actor: &Actor, org: &OrgId) -> Result<Vec<String>, ServiceError> {
        self.list_agent_secrets_of(actor, org, Holder::Org).await
    }

    /// Stores an agent secret (an API key) for every session in the org (org admins).
    pub async fn put_agent_secret(
        &self,
        actor: &Actor,
        org: &OrgId,
        key: &str,
        value: &str,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.put_agent_secret_of(actor, org, Holder::Org, key, value, context).await
    }

    pub async fn delete_agent_secret(
        &self,
        actor: &Actor,
        org: &OrgId,
        key: &str,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.delete_agent_secret_of(actor, org, Holder::Org, key, context).await
    }

    /// The names of the caller's own agent secrets in an org (developers and up).
    pub async fn list_my_agent_secrets(&self, actor: &Actor, org: &OrgId) -> Result<Vec<String>, ServiceError> {
        self.list_agent_secrets_of(actor, org, Holder::Mine).await
    }

    /// Stores one of the caller's own agent secrets in an org (developers and
    /// up): given to the caller's sessions there, over the org's value of the same key.
    pub async fn put_my_agent_secret(
        &self,
        actor: &Actor,
        org: &OrgId,
        key: &str,
        value: &str,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.put_agent_secret_of(actor, org, Holder::Mine, key, value, context).await
    }

    pub async fn delete_my_agent_secret(
        &self,
        actor: &Actor,
        org: &OrgId,
        key: &str,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.delete_agent_secret_of(actor, org, Holder::Mine, key, context).await
    }

    async fn list_agent_secrets_of(
        &self,
        actor: &Actor,
        org: &OrgId,
        holder: Holder,
    ) -> Result<Vec<String>, ServiceError> {
        let (_org, _grant) = self.org_for(actor, org.as_str(), holder.action()).await?;
        let prefix = holder.prefix(actor);
        let names = self.list_secret_names(&SecretScope::Org(org.clone())).await?;
        Ok(names.into_iter().filter_map(|name| name.strip_prefix(&prefix).map(str::to_owned)).collect())
    }

    async fn put_agent_secret_of(
        &self,
        actor: &Actor,
        org: &OrgId,
        holder: Holder,
        key: &str,
        value: &str,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (_org, _grant) = self.org_for(actor, org.as_str(), holder.action()).await?;
        let key = holder.key(key)?;
        if value.is_empty() || value.len() > 16 * 1024 || value.contains('\0') {
            return Err(invalid("value", "invalid_secret_value", "1 byte to 16 KiB, without NUL"));
        }
        let name = format!("{}{key}", holder.prefix(actor));
        self.put_secret(&SecretScope::Org(org.clone()), &name, value.as_bytes()).await?;
        self.audit(
            AuditEntry::new("agent_secret.set", context)
                .by(&actor.user_id)
                .org(org)
                .target("agent_secret", &key)
                .detail(holder.audit_detail(&key)),
        )
        .await;
        Ok(())
    }

    async fn delete_agent_secret_of(
        &self,
        actor: &Actor,
        org: &OrgId,
        holder: Holder,
        key: &str,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (_org, _grant) = self.org_for(actor, org.as_str(), holder.action()).await?;
        let key = holder.key(key)?;
        let name = format!("{}{key}", holder.prefix(actor));
        if !self.delete_secret(&SecretScope::Org(org.clone()), &name).await? {
            return Err(ServiceError::Missing {
                code: "agent_secret_not_found",
                message: format!("no agent secret {key}"),
            });
        }
        self.audit(
            AuditEntry::new("agent_secret.deleted", context)
                .by(&actor.user_id)
                .org(org)
                .target("agent_secret", &key)
                .detail(holder.audit_detail(&key)),
        )
        .await;
        Ok(())
    }

    /// The agent secrets a session gets as env vars, decrypted (only to start
    /// it): the org's, then the user's own, which win.
    pub(crate) async fn agent_secret_env(
        &self,
        org: &OrgId,
        user: Option<&dockyard_domain::UserId>,
    ) -> Result<Vec<(String, String)>, ServiceError> {
        let scope = SecretScope::Org(org.clone());
        let mine = user.map(user_secret_prefix);
        let mut org_env = Vec::new();
        let mut user_env = Vec::new();
        for name in self.list_secret_names(&scope).await? {
            let (key, target) =
                match (name.strip_prefix(SECRET_PREFIX), mine.as_deref().and_then(|p| name.strip_prefix(p))) {
                    (Some(key), _) => (key.to_owned(), &mut org_env),
                    (None, Some(key)) => (key.to_owned(), &mut user_env),
                    (None, None) => continue,
                };
            if let Some(value) = self.get_secret(&scope, &name).await? {
                target.push((key, String::from_utf8_lossy(&value).into_owned()));
            }
        }
        org_env.retain(|(key, _)| !user_env.iter().any(|(mine, _)| mine == key));
        org_env.extend(user_env);
        Ok(org_env)
    }

    async fn session_for(
        &self,
        actor: &Actor,
        id: &AgentSessionId,
        action: Action,
    ) -> Result<(AgentSession, Project), ServiceError> {
        let (session, project, role) = self.store().get_agent_session_for(id, &actor.user_id).await?;
        let _grant = authorize(actor, action, Resource::InOrg { role })?;
        Ok((session, project))
    }

    /// Starts a session (developers and up): checks the profile, its breaker,
    /// the concurrency limits and the user's rate, then queues the run.
    pub async fn start_agent_session(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        profile: &str,
        prompt: &str,
        isolation: Option<&str>,
        context: &RequestContext,
    ) -> Result<AgentSession, ServiceError> {
        let (project, _grant) = self.project_for(actor, project_id, Action::WriteCode).await?;
        let prompt = rules::prompt("prompt", prompt)?;
        let requested = isolation.map(parse_isolation).transpose()?;
        let by_id = profile.parse::<AgentProfileId>().ok();
        let found = match by_id {
            Some(id) => self.store().get_agent_profile(&id).await,
            None => self.store().get_agent_profile_by_name(profile).await,
        };
        let profile = match found {
            Ok(profile) if profile.enabled => profile,
            Ok(_) | Err(dockyard_store::StoreError::NotFound) => {
                let none = self.store().list_agent_profiles(true).await?.is_empty();
                return Err(if none {
                    ServiceError::ServiceUnavailable {
                        code: "agents_not_configured",
                        message: "no agent is configured on this Dockyard; an instance admin adds profiles \
                                  (config file or /api/v1/admin/agent-profiles)"
                            .into(),
                        retry_after: None,
                    }
                } else {
                    ServiceError::Missing {
                        code: "agent_profile_not_found",
                        message: format!("no agent profile {profile:?}"),
                    }
                });
            }
            Err(error) => return Err(error.into()),
        };
        // The request's choice, else the profile's working mode.
        let isolation = requested.unwrap_or(profile.isolation);
        if isolation == Isolation::Worktree {
            let workspace = self.inner.workspaces.get(&project.id)?;
            if !dockyard_git::is_repository(workspace.root()) {
                return Err(ServiceError::conflict(
                    "workspace_not_git",
                    "a worktree session needs the workspace to be a git repository with a commit; \
                     initialize it in the Git panel, or start the session with isolation \"workspace\"",
                ));
            }
        }
        self.queue_agent_session(actor, &project, &profile, prompt, isolation, None, context).await
    }

    /// Sends a review comment back to a finished worktree session's agent as a
    /// follow-up (developers and up): a new session of the same profile that
    /// continues in the same worktree and branch, so its diff and apply cover
    /// both. The first session is then marked reviewed (`continued`).
    pub async fn follow_up_agent_session(
        &self,
        actor: &Actor,
        id: &AgentSessionId,
        prompt: &str,
        context: &RequestContext,
    ) -> Result<AgentSession, ServiceError> {
        let (previous, project) = self.session_for(actor, id, Action::WriteCode).await?;
        let prompt = rules::prompt("prompt", prompt)?;
        self.reviewable(&previous)?;
        let profile = match &previous.profile_id {
            Some(profile) => match self.store().get_agent_profile(profile).await {
                Ok(profile) if profile.enabled => profile,
                Ok(_) | Err(dockyard_store::StoreError::NotFound) => {
                    return Err(ServiceError::conflict(
                        "agent_profile_unavailable",
                        "the session's agent profile was disabled or deleted",
                    ));
                }
                Err(error) => return Err(error.into()),
            },
            None => {
                return Err(ServiceError::conflict(
                    "agent_profile_unavailable",
                    "the session's agent profile was deleted",
                ));
            }
        };
        if !self.store().set_agent_review(id, "continued").await? {
            return Err(ServiceError::conflict(
                "session_reviewed",
                "the session was already applied, discarded or continued",
            ));
        }
        let owner = previous.worktree_owner().clone();
        let queued = self
            .queue_agent_session(actor, &project, &profile, prompt, Isolation::Worktree, Some(owner), context)
            .await;
        if queued.is_err() {
            // Nothing continues it after all: it can be reviewed again.
            let _ = self.store().clear_agent_review(id).await;
        }
        queued
    }

    /// Checks the breaker, the limits and the rate, then queues the session's job.
    #[allow(clippy::too_many_arguments)]
    async fn queue_agent_session(
        &self,
        actor: &Actor,
        project: &Project,
        profile: &AgentProfile,
        prompt: String,
        isolation: Isolation,
        continues: Option<AgentSessionId>,
        context: &RequestContext,
    ) -> Result<AgentSession, ServiceError> {
        if let Err(retry_after) = self.agent_breakers().admit(profile.id.as_str()) {
            return Err(ServiceError::ServiceUnavailable {
                code: "agent_unavailable",
                message: format!(
                    "the {} agent failed to start several times in a row; new sessions are refused for {} s",
                    profile.name,
                    retry_after.as_secs().max(1)
                ),
                retry_after: Some(retry_after),
            });
        }
        let mine = self.store().count_active_agent_sessions(&profile.id, Some(&actor.user_id), None).await?;
        if mine >= u64::from(profile.max_per_user) {
            return Err(ServiceError::TooMany {
                code: "agent_concurrency_limit",
                message: format!(
                    "you already run {mine} sessions of {}; the limit is {}",
                    profile.name, profile.max_per_user
                ),
                retry_after: None,
            });
        }
        let org_count = self.store().count_active_agent_sessions(&profile.id, None, Some(&project.org_id)).await?;
        if org_count >= u64::from(profile.max_per_org) {
            return Err(ServiceError::TooMany {
                code: "agent_concurrency_limit",
                message: format!(
                    "the org runs {org_count} sessions of {}; the limit is {}",
                    profile.name, profile.max_per_org
                ),
                retry_after: None,
            });
        }
        let per_hour = self.inner.config.agents.sessions_per_hour;
        if per_hour > 0 {
            let since = Utc::now() - chrono::Duration::hours(1);
            if self.store().count_agent_sessions_since(&actor.user_id, since).await? >= u64::from(per_hour) {
                return Err(ServiceError::TooMany {
                    code: "agent_rate_limited",
                    message: format!(
                        "you started {per_hour} sessions in the last hour, the most allowed; wait a little"
                    ),
                    retry_after: Some(Duration::from_secs(60)),
                });
            }
        }
        let session = AgentSession {
            id: AgentSessionId::new(),
            project_id: project.id.clone(),
            org_id: project.org_id.clone(),
            profile_id: Some(profile.id.clone()),
            profile_name: profile.name.clone(),
            kind: profile.kind,
            prompt,
            isolation,
            status: SessionStatus::Queued,
            job_id: None,
            branch: None,
            continues,
            base_commit: None,
            final_commit: None,
            exit_code: None,
            error_code: None,
            error_message: None,
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
            summary: None,
            stop_requested: false,
            review: None,
            reviewed_at: None,
            created_by: Some(actor.user_id.clone()),
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
        };
        self.store().insert_agent_session(&session).await?;
        let job = self
            .enqueue_job(NewJob {
                kind: KIND.to_owned(),
                org_id: project.org_id.clone(),
                project_id: Some(project.id.clone()),
                created_by: Some(actor.user_id.clone()),
                payload: json!({ "session_id": session.id.as_str() }),
                max_attempts: 1,
            })
            .await?;
        self.store().set_agent_session_job(&session.id, job.id.as_str()).await?;
        self.audit(
            AuditEntry::new("agent_session.started", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("agent_session", session.id.as_str())
                .detail(json!({ "profile": profile.name, "isolation": isolation.as_str(),
                    "continues": session.continues.as_ref().map(AgentSessionId::as_str) })),
        )
        .await;
        self.bus().publish(&project_topic(&project.id), json!({ "session": session.id.as_str(), "status": "queued" }));
        Ok(AgentSession { job_id: Some(job.id.as_str().to_owned()), ..session })
    }

    /// A project's sessions, newest first, optionally searched.
    pub async fn list_agent_sessions(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        query: Option<&str>,
        before: Option<&AgentSessionId>,
        limit: u32,
    ) -> Result<Vec<AgentSession>, ServiceError> {
        let (project, _grant) = self.project_for(actor, project_id, Action::ReadProject).await?;
        let query = query.map(str::trim).filter(|query| !query.is_empty());
        Ok(self.store().list_agent_sessions(&project.id, query, before, limit.clamp(1, 200)).await?)
    }

    pub async fn get_agent_session(&self, actor: &Actor, id: &AgentSessionId) -> Result<AgentSession, ServiceError> {
        Ok(self.session_for(actor, id, Action::ReadProject).await?.0)
    }

    /// The job whose event log is the session's transcript.
    pub async fn agent_session_job(
        &self,
        actor: &Actor,
        id: &AgentSessionId,
    ) -> Result<dockyard_domain::JobId, ServiceError> {
        let (session, _project) = self.session_for(actor, id, Action::ReadProject).await?;
        session
            .job_id
            .and_then(|job| job.parse().ok())
            .ok_or_else(|| ServiceError::Internal(format!("agent session {id} has no job")))
    }

    /// The transcript after event `after` (at most `limit` events).
    pub async fn agent_session_events(
        &self,
        actor: &Actor,
        id: &AgentSessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<dockyard_store::JobEvent>, ServiceError> {
        let job = self.agent_session_job(actor, id).await?;
        Ok(self.store().job_events_after(&job, after.max(0), limit.clamp(1, 1000)).await?)
    }

    /// Sends input to a running session (developers and up).
    pub async fn send_agent_input(
        &self,
        actor: &Actor,
        id: &AgentSessionId,
        input: AgentInput,
    ) -> Result<(), ServiceError> {
        let (session, _project) = self.session_for(actor, id, Action::WriteCode).await?;
        match &input {
            AgentInput::Text { text } => {
                rules::prompt("text", text)?;
            }
            AgentInput::Raw { data } if data.len() > 64 * 1024 => {
                return Err(invalid("data", "invalid_input", "at most 64 KiB at once"));
            }
            AgentInput::Permission { request_id, option_id } if request_id.len() > 200 || option_id.len() > 200 => {
                return Err(invalid("permission", "invalid_input", "ids are at most 200 bytes"));
            }
            _ => {}
        }
        if session.status != SessionStatus::Running {
            return Err(ServiceError::conflict(
                "session_not_running",
                format!("the session is {}; input reaches only a running session", session.status),
            ));
        }
        if input == AgentInput::Stop {
            self.store().request_agent_stop(id).await?;
        }
        self.bus().publish(&input_topic(id), serde_json::to_value(&input).unwrap_or_default());
        Ok(())
    }

    /// Stops a session (developers and up): a queued one at once, a running one
    /// gently (the agent's own cancel, then SIGTERM), killed after the grace.
    pub async fn stop_agent_session(
        &self,
        actor: &Actor,
        id: &AgentSessionId,
        context: &RequestContext,
    ) -> Result<AgentSession, ServiceError> {
        let (session, project) = self.session_for(actor, id, Action::WriteCode).await?;
        if session.status.is_finished() {
            return Err(ServiceError::conflict("session_finished", format!("the session already {}", session.status)));
        }
        self.store().request_agent_stop(id).await?;
        // A session no worker has picked up yet ends here; a running one when its runner sees the flag.
        self.store()
            .finish_agent_session(id, &[SessionStatus::Queued], SessionStatus::Stopped, &SessionFinish::default())
            .await?;
        self.bus().publish(&input_topic(id), serde_json::to_value(AgentInput::Stop).unwrap_or_default());
        self.audit(
            AuditEntry::new("agent_session.stopped", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("agent_session", id.as_str()),
        )
        .await;
        Ok(self.store().get_agent_session(id).await?)
    }

    /// The session's changes against its base commit, file by file.
    pub async fn agent_session_diff(&self, actor: &Actor, id: &AgentSessionId) -> Result<SessionDiff, ServiceError> {
        let (session, _project) = self.session_for(actor, id, Action::ReadProject).await?;
        let (Some(base), Some(_branch)) = (session.base_commit.clone(), session.branch.clone()) else {
            return Err(ServiceError::conflict(
                "no_diff",
                "only a worktree session that started has a diff; a workspace session's changes are in the Git panel",
            ));
        };
        let folder = self.inner.config.agents.worktree_root.join(session.worktree_owner().as_str());
        let workspace = self.inner.workspaces.get(&session.project_id)?.root().to_path_buf();
        // Finished: the committed range in the workspace's repository; running: the live worktree.
        let (root, head) = match (&session.final_commit, session.status.is_finished()) {
            (Some(commit), true) => (workspace, Some(commit.clone())),
            (None, true) => (workspace, Some(base.clone())),
            (_, false) => (folder, None),
        };
        let (range_base, range_head) = (base.clone(), head.clone());
        let diff =
            tokio::task::spawn_blocking(move || dockyard_git::diff_range(&root, &range_base, range_head.as_deref()))
                .await
                .map_err(|error| ServiceError::Internal(format!("diff task: {error}")))??;
        Ok(SessionDiff { base_commit: base, head, diff })
    }

    /// Merges a finished worktree session's branch into the workspace
    /// (developers and up); conflicts and local changes in the way are 409s
    /// that name the files, and leave the workspace as it was.
    pub async fn apply_agent_session(
        &self,
        actor: &Actor,
        id: &AgentSessionId,
        context: &RequestContext,
    ) -> Result<dockyard_git::MergeOutcome, ServiceError> {
        let (session, project) = self.session_for(actor, id, Action::WriteCode).await?;
        let branch = self.reviewable(&session)?;
        let user = self.store().get_user(&actor.user_id).await?;
        let committer = dockyard_git::Author { name: user.name.clone(), email: user.email.clone() };
        let message = format!(
            "Merge agent session {} ({})\n\n{}\n",
            session.id,
            session.profile_name,
            session.prompt.lines().next().unwrap_or("").chars().take(200).collect::<String>()
        );
        let workspace = self.inner.workspaces.get(&session.project_id)?.root().to_path_buf();
        let merge_branch = branch.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            dockyard_git::merge_branch(&workspace, &merge_branch, &message, &committer)
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("merge task: {error}")))??;
        match &outcome {
            dockyard_git::MergeOutcome::Conflict { files } => {
                return Err(ServiceError::conflict(
                    "merge_conflict",
                    format!("the agent's changes conflict with the workspace in: {}", files.join(", ")),
                ));
            }
            dockyard_git::MergeOutcome::Blocked { files } => {
                return Err(ServiceError::conflict(
                    "workspace_dirty",
                    format!(
                        "uncommitted changes in the workspace are in the way: {}; commit or stash them",
                        files.join(", ")
                    ),
                ));
            }
            dockyard_git::MergeOutcome::UpToDate | dockyard_git::MergeOutcome::Merged { .. } => {}
        }
        if !self.store().set_agent_review(id, "applied").await? {
            return Err(ServiceError::conflict("session_reviewed", "the session was already applied or discarded"));
        }
        self.remove_session_worktree(&session, None).await;
        self.audit(
            AuditEntry::new("agent_session.applied", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("agent_session", id.as_str())
                .detail(json!({ "branch": branch })),
        )
        .await;
        Ok(outcome)
    }

    /// Drops a finished worktree session's worktree and branch (developers and up).
    pub async fn discard_agent_session(
        &self,
        actor: &Actor,
        id: &AgentSessionId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (session, project) = self.session_for(actor, id, Action::WriteCode).await?;
        let branch = self.reviewable(&session)?;
        if !self.store().set_agent_review(id, "discarded").await? {
            return Err(ServiceError::conflict("session_reviewed", "the session was already applied or discarded"));
        }
        self.remove_session_worktree(&session, Some(&branch)).await;
        self.audit(
            AuditEntry::new("agent_session.discarded", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("agent_session", id.as_str())
                .detail(json!({ "branch": branch })),
        )
        .await;
        Ok(())
    }

    fn reviewable(&self, session: &AgentSession) -> Result<String, ServiceError> {
        if !session.status.is_finished() {
            return Err(ServiceError::conflict("session_running", "stop the session or let it finish first"));
        }
        if session.review.is_some() {
            return Err(ServiceError::conflict("session_reviewed", "the session was already applied or discarded"));
        }
        session.branch.clone().ok_or_else(|| {
            ServiceError::conflict("no_worktree", "only a worktree session that started can be applied or discarded")
        })
    }

    async fn remove_session_worktree(&self, session: &AgentSession, branch: Option<&str>) {
        let Ok(workspace) = self.inner.workspaces.get(&session.project_id) else { return };
        let root = workspace.root().to_path_buf();
        let folder = self.inner.config.agents.worktree_root.join(session.worktree_owner().as_str());
        let branch = branch.map(str::to_owned);
        let removed =
            tokio::task::spawn_blocking(move || dockyard_git::remove_worktree(&root, &folder, branch.as_deref())).await;
        if let Ok(Err(error)) = removed {
            tracing::warn!(session = %session.id, %error, "could not remove an agent session's worktree");
        }
    }
}

/// Whose agent secret: the org's (org admins set it for every session), or
/// the caller's own in the org (developers and up; it wins for their sessions).
#[derive(Debug, Clone, Copy)]
enum Holder {
    Org,
    Mine,
}

impl Holder {
    fn action(self) -> Action {
        match self {
            Holder::Org => Action::ManageSecrets,
            Holder::Mine => Action::WriteCode,
        }
    }

    /// The stored name's prefix, before the env var name.
    fn prefix(self, actor: &Actor) -> String {
        match self {
            Holder::Org => SECRET_PREFIX.to_owned(),
            Holder::Mine => user_secret_prefix(&actor.user_id),
        }
    }

    /// The env var name; a personal one short enough for the stored name.
    fn key(self, key: &str) -> Result<String, ServiceError> {
        let key = rules::env_key(key)?;
        if matches!(self, Holder::Mine) && key.len() > 90 {
            return Err(invalid("key", "invalid_env_key", "a personal agent secret's name is at most 90 characters"));
        }
        Ok(key)
    }

    fn audit_detail(self, key: &str) -> serde_json::Value {
        match self {
            Holder::Org => json!({ "key": key }),
            Holder::Mine => json!({ "key": key, "personal": true }),
        }
    }
}

fn name_taken(error: dockyard_store::StoreError) -> ServiceError {
    match error {
        dockyard_store::StoreError::Conflict(_) => {
            ServiceError::conflict("agent_profile_name_taken", "another profile has this name")
        }
        other => other.into(),
    }
}
