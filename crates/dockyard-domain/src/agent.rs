//! Remote coding agents: the profiles an instance admin defines, and the
//! sessions users start from them, with their status machine. Validation of
//! what users and admins send lives here too.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AgentProfileId, AgentSessionId, OrgId, ProjectId, UserId};
use crate::model::Timestamp;
use crate::validate::ValidationError;

/// The placeholder in a profile's command that the prompt replaces.
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";
/// The longest prompt or follow-up.
pub const MAX_PROMPT_BYTES: usize = 100 * 1024;

/// How Dockyard talks to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentKind {
    /// Claude Code's `--output-format stream-json`: one JSON event per line on
    /// stdout (messages, tool calls, the result with usage and cost); follow-ups
    /// are `user` messages on stdin (`--input-format stream-json`).
    ClaudeCode,
    /// The Agent Client Protocol: JSON-RPC 2.0 over stdio (Gemini CLI, the
    /// Claude Code and Codex adapters).
    Acp,
    /// Any CLI, shown as a raw terminal (aider, opencode).
    Pty,
}

impl AgentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::ClaudeCode => "claude-code",
            AgentKind::Acp => "acp",
            AgentKind::Pty => "pty",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "claude-code" => Some(AgentKind::ClaudeCode),
            "acp" => Some(AgentKind::Acp),
            "pty" => Some(AgentKind::Pty),
            _ => None,
        }
    }
}

/// Where a session works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Its own git worktree on `dockyard/agent/<id>`, so sessions run in parallel.
    Worktree,
    /// The project's workspace itself.
    Workspace,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Worktree => "worktree",
            Isolation::Workspace => "workspace",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "worktree" => Some(Isolation::Worktree),
            "workspace" => Some(Isolation::Workspace),
            _ => None,
        }
    }
}

/// `queued → running → succeeded | failed | stopped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Stopped,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Queued => "queued",
            SessionStatus::Running => "running",
            SessionStatus::Succeeded => "succeeded",
            SessionStatus::Failed => "failed",
            SessionStatus::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queued" => Some(SessionStatus::Queued),
            "running" => Some(SessionStatus::Running),
            "succeeded" => Some(SessionStatus::Succeeded),
            "failed" => Some(SessionStatus::Failed),
            "stopped" => Some(SessionStatus::Stopped),
            _ => None,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, SessionStatus::Succeeded | SessionStatus::Failed | SessionStatus::Stopped)
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an admin allows users to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub id: AgentProfileId,
    /// Unique; a slug (`claude`, `aider-gpt4`).
    pub name: String,
    pub kind: AgentKind,
    /// The argv template: `{prompt}` in an argument is replaced by the prompt;
    /// without the placeholder the prompt goes to standard input.
    pub command: Vec<String>,
    /// Plain env vars (keys and secrets come from the org's agent secrets).
    pub env: BTreeMap<String, String>,
    /// The working mode: where sessions run unless their start request says otherwise.
    pub isolation: Isolation,
    pub max_runtime_secs: u32,
    /// Running (or queued) sessions of this profile per user, and per org.
    pub max_per_user: u32,
    pub max_per_org: u32,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AgentProfile {
    /// Whether the prompt is given in argv (else on standard input).
    pub fn prompt_in_args(&self) -> bool {
        self.command.iter().any(|arg| arg.contains(PROMPT_PLACEHOLDER))
    }

    /// The argv with the prompt in place of the placeholder.
    pub fn argv(&self, prompt: &str) -> Vec<String> {
        self.command.iter().map(|arg| arg.replace(PROMPT_PLACEHOLDER, prompt)).collect()
    }
}

/// One run of an agent on a project.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSession {
    pub id: AgentSessionId,
    pub project_id: ProjectId,
    pub org_id: OrgId,
    pub profile_id: Option<AgentProfileId>,
    pub profile_name: String,
    pub kind: AgentKind,
    pub prompt: String,
    pub isolation: Isolation,
    pub status: SessionStatus,
    pub job_id: Option<String>,
    /// `dockyard/agent/<id>` for worktree sessions.
    pub branch: Option<String>,
    /// A follow-up: the first session of its chain, whose worktree and branch it continues.
    pub continues: Option<AgentSessionId>,
    pub base_commit: Option<String>,
    /// What Dockyard committed when the session ended (worktree sessions).
    pub final_commit: Option<String>,
    pub exit_code: Option<i32>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    /// The agent's last message, when it reports one (searchable).
    pub summary: Option<String>,
    pub stop_requested: bool,
    /// `applied` or `discarded`, once reviewed.
    pub review: Option<String>,
    pub reviewed_at: Option<Timestamp>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

impl AgentSession {
    /// The branch a worktree session works on.
    pub fn branch_name(id: &AgentSessionId) -> String {
        format!("dockyard/agent/{id}")
    }

    /// The session whose worktree (folder and branch) this one works in.
    pub fn worktree_owner(&self) -> &AgentSessionId {
        self.continues.as_ref().unwrap_or(&self.id)
    }
}

/// A profile name: 1-40 of a-z, 0-9, '-' and '_', starting with a letter.
pub fn profile_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(ValidationError::new(
            "name",
            "invalid_profile_name",
            "1-40 of a-z, 0-9, '-' and '_', starting with a letter",
        ));
    }
    Ok(name.to_owned())
}

/// A command template: a program and up to 63 arguments, none empty or with NUL.
pub fn command(command: &[String]) -> Result<Vec<String>, ValidationError> {
    let invalid = |message: &str| ValidationError::new("command", "invalid_command", message);
    if command.is_empty() || command.len() > 64 {
        return Err(invalid("give the program and its arguments: 1 to 64 strings"));
    }
    if command[0].trim().is_empty() || command[0].contains(PROMPT_PLACEHOLDER) {
        return Err(invalid("the first string is the program, and it cannot be the prompt"));
    }
    if command.iter().any(|arg| arg.contains('\0') || arg.len() > 4096) {
        return Err(invalid("arguments cannot hold NUL and are at most 4096 bytes"));
    }
    Ok(command.to_vec())
}

/// An env var name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 bytes.
pub fn env_key(key: &str) -> Result<String, ValidationError> {
    let valid = !key.is_empty()
        && key.len() <= 128
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ValidationError::new("env", "invalid_env_key", format!("{key:?} is not an env var name")));
    }
    Ok(key.to_owned())
}

/// Plain env vars of a profile.
pub fn env(env: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ValidationError> {
    if env.len() > 100 {
        return Err(ValidationError::new("env", "invalid_env", "at most 100 env vars"));
    }
    for (key, value) in env {
        env_key(key)?;
        if value.contains('\0') || value.len() > 32 * 1024 {
            return Err(ValidationError::new("env", "invalid_env", format!("{key}: no NUL, at most 32 KiB")));
        }
    }
    Ok(env.clone())
}

/// A bound between 1 and `max`.
pub fn limit(field: &'static str, value: i64, max: u32) -> Result<u32, ValidationError> {
    u32::try_from(value)
        .ok()
        .filter(|value| (1..=max).contains(value))
        .ok_or_else(|| ValidationError::new(field, "invalid_limit", format!("{field} must be between 1 and {max}")))
}

/// A prompt or follow-up: not blank, at most [`MAX_PROMPT_BYTES`], no NUL.
pub fn prompt(field: &'static str, text: &str) -> Result<String, ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::new(field, "empty_prompt", "write what the agent should do"));
    }
    if text.len() > MAX_PROMPT_BYTES || text.contains('\0') {
        return Err(ValidationError::new(
            field,
            "invalid_prompt",
            format!("at most {MAX_PROMPT_BYTES} bytes, without NUL"),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_commands_and_prompts_are_checked() {
        assert_eq!(profile_name(" claude-code ").expect("ok"), "claude-code");
        assert!(profile_name("Claude").is_err());
        assert!(profile_name("1x").is_err());
        assert!(command(&[]).is_err());
        assert!(command(&["{prompt}".into()]).is_err());
        assert!(command(&["aider".into(), "a\0b".into()]).is_err());
        assert_eq!(command(&["aider".into(), "--message".into(), "{prompt}".into()]).expect("ok").len(), 3);
        assert!(env_key("1A").is_err() && env_key("A-B").is_err() && env_key("_OK1").is_ok());
        assert!(prompt("prompt", "  ").is_err());
        assert!(prompt("prompt", &"x".repeat(MAX_PROMPT_BYTES + 1)).is_err());
        assert_eq!(limit("max_runtime_secs", 0, 10).unwrap_err().code, "invalid_limit");
        assert_eq!(limit("max_runtime_secs", 10, 10).expect("ok"), 10);
    }

    #[test]
    fn the_prompt_goes_into_the_placeholder_or_to_stdin() {
        let profile = AgentProfile {
            id: AgentProfileId::new(),
            name: "aider".into(),
            kind: AgentKind::Pty,
            command: vec!["aider".into(), "--message={prompt}".into()],
            env: BTreeMap::new(),
            isolation: Isolation::Worktree,
            max_runtime_secs: 60,
            max_per_user: 1,
            max_per_org: 1,
            enabled: true,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        assert!(profile.prompt_in_args());
        assert_eq!(profile.argv("fix it"), vec!["aider".to_owned(), "--message=fix it".to_owned()]);
        let stdin = AgentProfile { command: vec!["agent".into()], ..profile };
        assert!(!stdin.prompt_in_args());
        assert_eq!(AgentKind::parse("claude-code"), Some(AgentKind::ClaudeCode));
        assert_eq!(SessionStatus::parse("stopped").map(SessionStatus::is_finished), Some(true));
    }
}
