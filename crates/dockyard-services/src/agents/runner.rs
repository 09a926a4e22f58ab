//! The `agent` job: runs one session's process to its end.
//!
//! It prepares the folder (a worktree on `dockyard/agent/<id>`, or the
//! workspace), starts the agent in the sandbox (a PTY for `pty` profiles, pipes
//! for the protocol kinds) with retries for transient start failures, turns its
//! output into transcript events, delivers input, permission answers and stops
//! that arrive on the bus (`agent-input:{id}`; the stop flag is also polled),
//! enforces the profile's maximum run time, and at the end commits what the
//! agent left in its worktree, authored as the agent on the user's behalf.
//!
//! Invariant: every way out of `run` finishes the session (compare-and-set from
//! `queued`/`running`), and the job's reconcile does the same if the worker
//! dies, so no session stays `running`.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dockyard_domain::AgentSessionId;
use dockyard_domain::agent::{AgentKind, AgentProfile, AgentSession, Isolation, SessionStatus};
use dockyard_sandbox::{Control, PtySize, SandboxError, Spawn};
use dockyard_store::{SessionFinish, SessionUsage};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::protocol::{self, AcpIncoming, ClaudeLine};
use super::{AgentInput, input_topic};
use crate::Services;
use crate::jobs::{JobContext, JobFailure, JobRecord};

/// How often the deadline and the shutdown are checked.
const TICK: Duration = Duration::from_millis(500);
/// Every how many ticks the stop flag is read from the database; a stop also
/// arrives on the bus at once, the flag only covers a lost bus message.
const STOP_FLAG_TICKS: u32 = 4;
/// Transient start failures are retried this many times, with doubling waits.
const START_ATTEMPTS: u32 = 3;

fn session_id(job: &JobRecord) -> Result<AgentSessionId, JobFailure> {
    job.payload["session_id"]
        .as_str()
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(|| JobFailure::new("invalid_payload", "the agent job names no session"))
}

/// Why the process is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    User,
    Timeout,
    Shutdown,
}

/// How a session ended.
struct Ending {
    status: SessionStatus,
    exit_code: Option<i32>,
    error: Option<(String, String)>,
}

impl Ending {
    fn failed(code: &str, message: impl Into<String>) -> Self {
        Ending { status: SessionStatus::Failed, exit_code: None, error: Some((code.to_owned(), message.into())) }
    }
}

pub(crate) async fn run(context: JobContext) -> Result<Value, JobFailure> {
    let services = context.services().clone();
    let id = session_id(context.job())?;
    let session = services
        .store()
        .get_agent_session(&id)
        .await
        .map_err(|error| JobFailure::new("session_missing", format!("the session cannot be read: {error}")))?;
    if session.status != SessionStatus::Queued {
        return Ok(json!({ "session_id": id.as_str(), "status": session.status, "skipped": true }));
    }
    let started = Instant::now();
    let (ending, worktree) = execute(&services, &context, &session).await;
    let final_commit = match &worktree {
        Some(folder) => commit_leftovers(&services, &session, folder, &context).await,
        None => None,
    };
    // The transcript is complete (the final status event included) before the session reads as finished.
    context.event(
        "status",
        json!({ "status": ending.status, "exit_code": ending.exit_code,
            "error": ending.error.as_ref().map(|(code, message)| json!({ "code": code, "message": message })) }),
    );
    context.flush().await;
    let finish = SessionFinish {
        exit_code: ending.exit_code,
        error_code: ending.error.as_ref().map(|(code, _)| code.clone()),
        error_message: ending.error.as_ref().map(|(_, message)| message.clone()),
        final_commit,
    };
    let from = [SessionStatus::Queued, SessionStatus::Running];
    let finished = services.store().finish_agent_session(&id, &from, ending.status, &finish).await;
    if let Err(error) = &finished {
        tracing::error!(session = %id, %error, "could not record the end of an agent session");
    }
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("agent_session_duration_seconds", "profile" => session.profile_name.clone()).record(seconds);
    metrics::counter!("agent_sessions_finished_total", "profile" => session.profile_name.clone(),
        "status" => ending.status.as_str())
    .increment(1);
    if ending.status == SessionStatus::Failed {
        metrics::counter!("agent_sessions_failed_total", "profile" => session.profile_name.clone()).increment(1);
    }
    services.bus().publish(
        &super::project_topic(&session.project_id),
        json!({ "session": id.as_str(), "status": ending.status }),
    );
    tracing::info!(session = %id, profile = %session.profile_name, status = %ending.status, exit_code = ?ending.exit_code,
        seconds, "agent session ended");
    Ok(json!({ "session_id": id.as_str(), "status": ending.status, "exit_code": ending.exit_code }))
}

/// Prepares, starts and drives the agent; answers how it ended and the
/// worktree it worked in (to commit), if any.
async fn execute(services: &Services, context: &JobContext, session: &AgentSession) -> (Ending, Option<PathBuf>) {
    let config = services.inner.config.agents.clone();
    let profile = match &session.profile_id {
        Some(id) => match services.store().get_agent_profile(id).await {
            Ok(profile) => profile,
            Err(_) => return (Ending::failed("profile_missing", "the session's agent profile was deleted"), None),
        },
        None => return (Ending::failed("profile_missing", "the session's agent profile was deleted"), None),
    };
    let workspace_root = match services.inner.workspaces.get(&session.project_id) {
        Ok(workspace) => workspace.root().to_path_buf(),
        Err(error) => return (Ending::failed("workspace_unavailable", error.to_string()), None),
    };

    // The folder: a worktree of its own, or the workspace.
    let (cwd, branch, base) = match session.isolation {
        Isolation::Worktree if session.continues.is_some() => {
            // A follow-up: the worktree and branch of the first session of the chain, as that session left them.
            let owner = session.worktree_owner();
            let folder = config.worktree_root.join(owner.as_str());
            let base = match services.store().get_agent_session(owner).await {
                Ok(first) => first.base_commit,
                Err(error) => return (Ending::failed("worktree_failed", error.to_string()), None),
            };
            if !folder.is_dir() || base.is_none() {
                return (Ending::failed("worktree_missing", "the worktree this follow-up continues is gone"), None);
            }
            (folder, Some(AgentSession::branch_name(owner)), base)
        }
        Isolation::Worktree => {
            let folder = config.worktree_root.join(session.id.as_str());
            let branch = AgentSession::branch_name(&session.id);
            let (root, path, name) = (workspace_root.clone(), folder.clone(), branch.clone());
            let added = tokio::task::spawn_blocking(move || dockyard_git::add_worktree(&root, &path, &name)).await;
            match added {
                Ok(Ok(base)) => (folder, Some(branch), Some(base)),
                Ok(Err(error)) => {
                    return (
                        Ending::failed("worktree_failed", format!("the worktree could not be made: {error}")),
                        None,
                    );
                }
                Err(error) => return (Ending::failed("worktree_failed", error.to_string()), None),
            }
        }
        Isolation::Workspace => (workspace_root.clone(), None, None),
    };
    let worktree = branch.as_ref().map(|_| cwd.clone());
    match services.store().start_agent_session(&session.id, branch.as_deref(), base.as_deref()).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return (Ending { status: SessionStatus::Stopped, exit_code: None, error: None }, worktree);
        }
        Err(error) => return (Ending::failed("internal", format!("the session could not start: {error}")), worktree),
    }
    context.event("status", json!({ "status": "running", "branch": branch, "base_commit": base }));
    metrics::counter!("agent_sessions_started_total", "profile" => profile.name.clone()).increment(1);

    // Subscribe before the start, so no input is missed.
    let inputs = services.bus().subscribe(&input_topic(&session.id));
    let env = environment(services, session, &profile, &cwd).await;
    let env = match env {
        Ok(env) => env,
        Err(message) => return (Ending::failed("agent_secrets_unavailable", message), worktree),
    };
    let pty = profile.kind == AgentKind::Pty;
    let spawn = Spawn {
        program: PathBuf::from(&profile.command[0]),
        args: profile.argv(&session.prompt)[1..].to_vec(),
        cwd: cwd.clone(),
        env,
        size: PtySize { cols: 120, rows: 40 },
    };
    let started = Instant::now();
    let process = match start(services, spawn, pty).await {
        Ok(process) => process,
        Err(error) => {
            services.agent_breakers().failure(profile.id.as_str());
            context.event("stderr", json!({ "text": format!("{error}\n") }));
            return (
                Ending::failed("agent_start_failed", format!("the agent could not be started: {error}")),
                worktree,
            );
        }
    };
    let mut driver = Driver {
        services,
        context,
        session,
        profile: &profile,
        cwd: &cwd,
        inputs,
        deadline: Instant::now() + Duration::from_secs(u64::from(profile.max_runtime_secs)),
        stop: None,
        kill_at: None,
        stop_grace: config.stop_grace,
        ticks: 0,
    };
    let exit = driver.drive(process).await;
    let early = started.elapsed() < config.early_exit;
    let ending = match (driver.stop, exit) {
        (Some(StopReason::User), Ok(code)) => {
            Ending { status: SessionStatus::Stopped, exit_code: Some(code), error: None }
        }
        (Some(StopReason::Timeout), Ok(code)) => Ending {
            status: SessionStatus::Failed,
            exit_code: Some(code),
            error: Some((
                "agent_timeout".into(),
                format!(
                    "the agent ran longer than its profile allows ({} s) and was stopped",
                    profile.max_runtime_secs
                ),
            )),
        },
        (Some(StopReason::Shutdown), Ok(code)) => Ending {
            status: SessionStatus::Failed,
            exit_code: Some(code),
            error: Some(("interrupted".into(), "Dockyard stopped while this session ran; start it again".into())),
        },
        (None, Ok(0)) => {
            services.agent_breakers().success(profile.id.as_str());
            Ending { status: SessionStatus::Succeeded, exit_code: Some(0), error: None }
        }
        (None, Ok(code)) => {
            if early {
                services.agent_breakers().failure(profile.id.as_str());
            }
            Ending {
                status: SessionStatus::Failed,
                exit_code: Some(code),
                error: Some(("agent_exit".into(), format!("the agent exited with code {code}"))),
            }
        }
        (_, Err(message)) => Ending::failed("agent_error", message),
    };
    (ending, worktree)
}

/// Starts the process, retrying start failures that may pass (busy executable,
/// no resources) with doubling waits.
async fn start(services: &Services, spawn: Spawn, pty: bool) -> Result<dockyard_sandbox::Process, SandboxError> {
    let sandbox = services.inner.terminals.sandbox();
    let mut wait = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let result = if pty { sandbox.spawn(spawn.clone()).await } else { sandbox.spawn_piped(spawn.clone()).await };
        match result {
            Err(SandboxError::Spawn { source, .. })
                if attempt < START_ATTEMPTS
                    && matches!(
                        source.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                            | std::io::ErrorKind::ExecutableFileBusy
                            | std::io::ErrorKind::OutOfMemory
                    ) =>
            {
                tracing::info!(attempt, error = %source, "a transient agent start failure; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The process's environment, from scratch: the basics, the profile's plain
/// vars, the org's agent secrets (decrypted only here) and the session's ids.
async fn environment(
    services: &Services,
    session: &AgentSession,
    profile: &AgentProfile,
    cwd: &Path,
) -> Result<Vec<(String, String)>, String> {
    let config = &services.inner.config.agents;
    let home = config.home.clone().unwrap_or_else(|| cwd.to_path_buf());
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), config.path.clone()),
        ("HOME".into(), home.display().to_string()),
        ("LANG".into(), config.lang.clone()),
        ("TERM".into(), if profile.kind == AgentKind::Pty { "xterm-256color" } else { "dumb" }.into()),
        ("DOCKYARD_AGENT_SESSION".into(), session.id.as_str().to_owned()),
        ("DOCKYARD_PROJECT".into(), session.project_id.as_str().to_owned()),
    ];
    for (key, value) in &profile.env {
        env.retain(|(name, _)| name != key);
        env.push((key.clone(), value.clone()));
    }
    for (key, value) in services
        .agent_secret_env(&session.org_id, session.created_by.as_ref())
        .await
        .map_err(|error| error.to_string())?
    {
        env.retain(|(name, _)| *name != key);
        env.push((key, value));
    }
    Ok(env)
}

/// Commits what the agent left in its worktree: authored by the agent, committed
/// by the user it worked for.
async fn commit_leftovers(
    services: &Services,
    session: &AgentSession,
    folder: &Path,
    context: &JobContext,
) -> Option<String> {
    let user = match &session.created_by {
        Some(user) => services.store().get_user(user).await.ok(),
        None => None,
    };
    let committer = match &user {
        Some(user) => dockyard_git::Author { name: user.name.clone(), email: user.email.clone() },
        None => dockyard_git::Author { name: "Dockyard".into(), email: "dockyard@localhost".into() },
    };
    let author = dockyard_git::Author {
        name: format!("{} (agent)", session.profile_name),
        email: format!("agent+{}@dockyard.invalid", session.profile_name),
    };
    let first_line = session.prompt.lines().next().unwrap_or("").chars().take(72).collect::<String>();
    let message = format!(
        "Agent session {}: {first_line}\n\nRun by the {} agent on behalf of {} <{}>.\n",
        session.id, session.profile_name, committer.name, committer.email
    );
    let folder = folder.to_path_buf();
    let committed =
        tokio::task::spawn_blocking(move || dockyard_git::commit_all(&folder, &message, &author, &committer)).await;
    match committed {
        Ok(Ok(Some(commit))) => {
            context.event("commit", json!({ "commit": commit }));
            Some(commit)
        }
        Ok(Ok(None)) => None,
        Ok(Err(error)) => {
            tracing::warn!(session = %session.id, %error, "could not commit an agent's leftovers");
            context.event("stderr", json!({ "text": format!("Dockyard could not commit the changes: {error}\n") }));
            None
        }
        Err(error) => {
            tracing::warn!(session = %session.id, %error, "the commit task failed");
            None
        }
    }
}

/// Decodes UTF-8 across chunk boundaries (a character split between two reads).
#[derive(Default)]
struct Utf8Carry(Vec<u8>);

impl Utf8Carry {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.0.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.0) {
            Ok(_) => self.0.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => self.0.len(),
        };
        let text = String::from_utf8_lossy(&self.0[..valid]).into_owned();
        self.0.drain(..valid);
        text
    }
}

struct Driver<'a> {
    services: &'a Services,
    context: &'a JobContext,
    session: &'a AgentSession,
    profile: &'a AgentProfile,
    cwd: &'a Path,
    inputs: crate::bus::Subscription,
    deadline: Instant,
    stop: Option<StopReason>,
    kill_at: Option<Instant>,
    stop_grace: Duration,
    ticks: u32,
}

/// What the loop learnt on one turn of `select!`.
enum Step {
    Out(Option<Vec<u8>>),
    Line(Option<String>),
    ErrLine(Option<String>),
    Input(Option<AgentInput>),
    Tick,
    Exited(Result<i32, String>),
}

impl Driver<'_> {
    /// Runs the process to its end; answers its exit code (128 + signal when killed).
    async fn drive(&mut self, process: dockyard_sandbox::Process) -> Result<i32, String> {
        let dockyard_sandbox::Process { output, input, errors, control } = process;
        match self.profile.kind {
            AgentKind::Pty => self.drive_pty(output, input, control).await,
            AgentKind::ClaudeCode | AgentKind::Acp => {
                let errors: Box<dyn AsyncRead + Send + Unpin> = errors.unwrap_or_else(|| Box::new(tokio::io::empty()));
                self.drive_lines(output, input, errors, control).await
            }
        }
    }

    /// Checks the stop flag, the deadline and the shutdown; answers a new reason to stop.
    async fn check_stop(&mut self) -> Option<StopReason> {
        if self.stop.is_some() {
            return None;
        }
        if self.services.agents_shutdown().is_cancelled() {
            return Some(StopReason::Shutdown);
        }
        if Instant::now() >= self.deadline {
            return Some(StopReason::Timeout);
        }
        self.ticks = self.ticks.wrapping_add(1);
        if !self.ticks.is_multiple_of(STOP_FLAG_TICKS) {
            return None;
        }
        match self.services.store().get_agent_session(&self.session.id).await {
            Ok(session) if session.stop_requested => Some(StopReason::User),
            _ => None,
        }
    }

    async fn next_input(&mut self) -> Option<AgentInput> {
        loop {
            match self.inputs.recv().await {
                Ok(message) => match serde_json::from_value::<AgentInput>(message.payload) {
                    Ok(input) => return Some(input),
                    Err(error) => tracing::debug!(%error, "an agent input message that does not parse"),
                },
                Err(crate::bus::Missed::Lagged(_)) => continue,
                Err(crate::bus::Missed::Closed) => return None,
            }
        }
    }

    async fn begin_stop(&mut self, reason: StopReason, control: &dyn Control) {
        self.stop = Some(reason);
        self.kill_at = Some(Instant::now() + self.stop_grace);
        self.context.event(
            "stopping",
            json!({ "reason": match reason {
            StopReason::User => "stop requested",
            StopReason::Timeout => "maximum run time reached",
            StopReason::Shutdown => "Dockyard is stopping",
        } }),
        );
        let _ = control.terminate().await;
    }

    async fn drive_pty(
        &mut self,
        mut output: Box<dyn AsyncRead + Send + Unpin>,
        mut input: Box<dyn AsyncWrite + Send + Unpin>,
        control: Box<dyn Control>,
    ) -> Result<i32, String> {
        if !self.profile.prompt_in_args() {
            let _ = input.write_all(format!("{}\r", self.session.prompt).as_bytes()).await;
        }
        let mut carry = Utf8Carry::default();
        let mut buffer = vec![0u8; 16 * 1024];
        let mut output_open = true;
        let mut ticks = tokio::time::interval(TICK);
        let exit = control.wait();
        tokio::pin!(exit);
        loop {
            let step = tokio::select! {
                read = output.read(&mut buffer), if output_open => Step::Out(match read {
                    Ok(0) | Err(_) => None,
                    Ok(n) => Some(buffer[..n].to_vec()),
                }),
                input = self.next_input() => Step::Input(input),
                _ = ticks.tick() => Step::Tick,
                status = &mut exit => Step::Exited(status.map(|status| status.shell_code()).map_err(|error| error.to_string())),
            };
            match step {
                Step::Out(Some(bytes)) => {
                    let text = carry.push(&bytes);
                    if !text.is_empty() {
                        self.context.event("output", json!({ "text": text }));
                    }
                }
                Step::Out(None) => output_open = false,
                Step::Input(Some(AgentInput::Text { text })) => {
                    self.context.event("input", json!({ "text": text }));
                    let _ = input.write_all(format!("{text}\r").as_bytes()).await;
                }
                Step::Input(Some(AgentInput::Raw { data })) => {
                    let _ = input.write_all(data.as_bytes()).await;
                }
                Step::Input(Some(AgentInput::Stop)) => {
                    if self.stop.is_none() {
                        self.begin_stop(StopReason::User, control.as_ref()).await;
                    }
                }
                Step::Input(Some(AgentInput::Permission { .. }) | None) => {}
                Step::Tick => self.tick(control.as_ref()).await,
                Step::Exited(status) => {
                    // What is still buffered on the terminal.
                    while let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_millis(200), output.read(&mut buffer)).await
                    {
                        if n == 0 {
                            break;
                        }
                        let text = carry.push(&buffer[..n]);
                        self.context.event("output", json!({ "text": text }));
                    }
                    return status;
                }
                Step::Line(_) | Step::ErrLine(_) => {}
            }
        }
    }

    async fn tick(&mut self, control: &dyn Control) {
        if let Some(reason) = self.check_stop().await {
            self.begin_stop(reason, control).await;
        }
        if self.kill_at.is_some_and(|at| Instant::now() >= at) {
            self.kill_at = None;
            let _ = control.kill().await;
        }
    }

    /// Claude Code's stream-json and ACP's JSON-RPC: one JSON message a line.
    async fn drive_lines(
        &mut self,
        output: Box<dyn AsyncRead + Send + Unpin>,
        mut input: Box<dyn AsyncWrite + Send + Unpin>,
        errors: Box<dyn AsyncRead + Send + Unpin>,
        control: Box<dyn Control>,
    ) -> Result<i32, String> {
        let mut lines = BufReader::new(output).lines();
        let mut error_lines = BufReader::new(errors).lines();
        let (mut output_open, mut errors_open, mut input_open) = (true, true, true);
        let mut acp = Acp::default();
        let acp_mode = self.profile.kind == AgentKind::Acp;
        if acp_mode {
            let init = json!({ "protocolVersion": 1,
                "clientCapabilities": { "fs": { "readTextFile": true, "writeTextFile": true }, "terminal": false } });
            let _ = input.write_all(acp.request("initialize", init).as_bytes()).await;
        } else if !self.profile.prompt_in_args() {
            let _ = input.write_all(protocol::claude_user_message(&self.session.prompt).as_bytes()).await;
        }
        let mut ticks = tokio::time::interval(TICK);
        let exit = control.wait();
        tokio::pin!(exit);
        loop {
            let step = tokio::select! {
                line = lines.next_line(), if output_open => Step::Line(line.ok().flatten()),
                line = error_lines.next_line(), if errors_open => Step::ErrLine(line.ok().flatten()),
                input = self.next_input() => Step::Input(input),
                _ = ticks.tick() => Step::Tick,
                status = &mut exit => Step::Exited(status.map(|status| status.shell_code()).map_err(|error| error.to_string())),
            };
            let mut close_input = false;
            match step {
                Step::Line(None) => output_open = false,
                Step::Line(Some(line)) if acp_mode => {
                    for reply in self.acp_line(&mut acp, &line).await {
                        match reply {
                            AcpReply::Write(text) => {
                                let _ = input.write_all(text.as_bytes()).await;
                            }
                            AcpReply::TurnEnded => close_input = acp.queued.is_empty() && acp.started,
                        }
                    }
                    if let Some(prompt) = acp.next_prompt() {
                        let _ = input.write_all(prompt.as_bytes()).await;
                    }
                }
                Step::Line(Some(line)) => match protocol::claude_line(&line) {
                    ClaudeLine::Events(events) => self.record(events),
                    ClaudeLine::Result(info, events) => {
                        self.record(events);
                        let usage = SessionUsage {
                            input_tokens: info.input_tokens,
                            output_tokens: info.output_tokens,
                            cost_usd: info.cost_usd,
                            summary: info.text.clone(),
                        };
                        if let Err(error) = self.services.store().record_agent_usage(&self.session.id, &usage).await {
                            tracing::warn!(session = %self.session.id, %error, "could not record an agent's usage");
                        }
                        record_usage_metrics(&self.profile.name, &usage);
                        // The turn is over: with nothing more to say, the agent may exit.
                        close_input = true;
                    }
                },
                Step::ErrLine(None) => errors_open = false,
                Step::ErrLine(Some(line)) => self.context.event("stderr", json!({ "text": format!("{line}\n") })),
                Step::Input(Some(AgentInput::Text { text })) => {
                    self.context.event("input", json!({ "text": text }));
                    if !input_open {
                        self.context
                            .event("stderr", json!({ "text": "(the agent finished its turn; input not delivered)\n" }));
                    } else if acp_mode {
                        acp.queued.push_back(text);
                        if let Some(prompt) = acp.next_prompt() {
                            let _ = input.write_all(prompt.as_bytes()).await;
                        }
                    } else {
                        let _ = input.write_all(protocol::claude_user_message(&text).as_bytes()).await;
                    }
                }
                Step::Input(Some(AgentInput::Permission { request_id, option_id })) => {
                    if let Some(id) = acp.permissions.remove(&request_id) {
                        let outcome = json!({ "outcome": { "outcome": "selected", "optionId": option_id } });
                        let _ = input.write_all(protocol::rpc_result(&id, outcome).as_bytes()).await;
                        self.context
                            .event("permission_answer", json!({ "request_id": request_id, "option_id": option_id }));
                    }
                }
                Step::Input(Some(AgentInput::Stop)) => {
                    if self.stop.is_none() {
                        self.stop_lines(&mut acp, &mut input, acp_mode, control.as_ref(), StopReason::User).await;
                    }
                }
                Step::Input(Some(AgentInput::Raw { .. }) | None) => {}
                Step::Tick => {
                    if let Some(reason) = self.check_stop().await {
                        self.stop_lines(&mut acp, &mut input, acp_mode, control.as_ref(), reason).await;
                    }
                    if self.kill_at.is_some_and(|at| Instant::now() >= at) {
                        self.kill_at = None;
                        let _ = control.kill().await;
                    }
                }
                Step::Exited(status) => {
                    // Lines still in the pipes.
                    while output_open {
                        match tokio::time::timeout(Duration::from_millis(200), lines.next_line()).await {
                            Ok(Ok(Some(line))) if !acp_mode => {
                                let (ClaudeLine::Events(events) | ClaudeLine::Result(_, events)) =
                                    protocol::claude_line(&line);
                                self.record(events);
                            }
                            Ok(Ok(Some(_))) => {}
                            _ => output_open = false,
                        }
                    }
                    return status;
                }
                Step::Out(_) => {}
            }
            if close_input && input_open {
                input_open = false;
                let _ = input.shutdown().await;
                input = Box::new(tokio::io::sink());
                // An agent that does not exit when its input ends is stopped after the grace.
                if self.kill_at.is_none() {
                    self.kill_at = Some(Instant::now() + self.stop_grace);
                }
            }
        }
    }

    async fn stop_lines(
        &mut self,
        acp: &mut Acp,
        input: &mut Box<dyn AsyncWrite + Send + Unpin>,
        acp_mode: bool,
        control: &dyn Control,
        reason: StopReason,
    ) {
        if acp_mode {
            // Pending permission questions are answered "cancelled", and the turn is cancelled.
            for (_, id) in acp.permissions.drain() {
                let cancelled = json!({ "outcome": { "outcome": "cancelled" } });
                let _ = input.write_all(protocol::rpc_result(&id, cancelled).as_bytes()).await;
            }
            if let Some(session) = &acp.session {
                let _ = input
                    .write_all(protocol::rpc_notification("session/cancel", json!({ "sessionId": session })).as_bytes())
                    .await;
            }
        }
        self.begin_stop(reason, control).await;
    }

    fn record(&self, events: Vec<(&'static str, Value)>) {
        for (kind, data) in events {
            self.context.event(kind, data);
        }
    }

    /// Handles one line from an ACP agent; answers what to write back.
    async fn acp_line(&mut self, acp: &mut Acp, line: &str) -> Vec<AcpReply> {
        let mut replies = Vec::new();
        match protocol::acp_line(line) {
            AcpIncoming::Response { id, result } => match (acp.pending.remove(&id), result) {
                (Some(Pending::Initialize), Ok(_)) => {
                    let params = json!({ "cwd": self.cwd.display().to_string(), "mcpServers": [] });
                    replies.push(AcpReply::Write(acp.request("session/new", params)));
                }
                (Some(Pending::NewSession), Ok(result)) => {
                    acp.session = result["sessionId"].as_str().map(str::to_owned);
                    acp.started = true;
                    acp.queued.push_front(self.session.prompt.clone());
                }
                (Some(Pending::Prompt), Ok(result)) => {
                    acp.prompting = false;
                    let reason = result["stopReason"].as_str().unwrap_or("end_turn").to_owned();
                    self.context.event("turn_end", json!({ "stop_reason": reason }));
                    replies.push(AcpReply::TurnEnded);
                }
                (Some(step), Err(message)) => {
                    acp.prompting = false;
                    self.context.event("stderr", json!({ "text": format!("the agent refused {step:?}: {message}\n") }));
                    replies.push(AcpReply::TurnEnded);
                }
                (None, _) => {}
            },
            AcpIncoming::Update(events) => self.record(events),
            AcpIncoming::Request { id, method, params } => match method.as_str() {
                "session/request_permission" => {
                    let request_id = match &id {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    self.context.event("permission_request", protocol::permission_event(&request_id, &params));
                    acp.permissions.insert(request_id, id);
                }
                "fs/read_text_file" => {
                    let reply = match self.inside(&params["path"]) {
                        Some(path) => match tokio::fs::read_to_string(&path).await {
                            Ok(content) => {
                                protocol::rpc_result(&id, json!({ "content": slice_lines(&content, &params) }))
                            }
                            Err(error) => protocol::rpc_error(&id, -32002, &format!("cannot read the file: {error}")),
                        },
                        None => protocol::rpc_error(&id, -32602, "the path is outside the session's folder"),
                    };
                    replies.push(AcpReply::Write(reply));
                }
                "fs/write_text_file" => {
                    let reply = match (self.inside(&params["path"]), params["content"].as_str()) {
                        (Some(path), Some(content)) => match tokio::fs::write(&path, content).await {
                            Ok(()) => {
                                let relative = path.strip_prefix(self.cwd).unwrap_or(&path).display().to_string();
                                self.context.event("file_write", json!({ "path": relative }));
                                protocol::rpc_result(&id, Value::Null)
                            }
                            Err(error) => protocol::rpc_error(&id, -32002, &format!("cannot write the file: {error}")),
                        },
                        _ => protocol::rpc_error(&id, -32602, "the path is outside the session's folder"),
                    };
                    replies.push(AcpReply::Write(reply));
                }
                other => replies.push(AcpReply::Write(protocol::rpc_error(
                    &id,
                    -32601,
                    &format!("{other} is not supported"),
                ))),
            },
            AcpIncoming::Other(text) => self.context.event("output", json!({ "text": format!("{text}\n") })),
        }
        replies
    }

    /// An absolute path the agent named, if it is inside the session's folder
    /// (links resolved: a link out of the folder does not count as inside).
    fn inside(&self, path: &Value) -> Option<PathBuf> {
        let path = Path::new(path.as_str()?);
        if !path.is_absolute() {
            return None;
        }
        let root = self.cwd.canonicalize().ok()?;
        // The file may not exist yet: resolve its folder.
        let (folder, name) = (path.parent()?, path.file_name()?);
        let resolved = folder.canonicalize().ok()?.join(name);
        let resolved = match std::fs::symlink_metadata(&resolved) {
            Ok(meta) if meta.file_type().is_symlink() => resolved.canonicalize().ok()?,
            _ => resolved,
        };
        resolved.starts_with(&root).then_some(resolved)
    }
}

/// `line` (1-based) and `limit` of an ACP read.
fn slice_lines(content: &str, params: &Value) -> String {
    let start = params["line"].as_u64().map_or(0, |line| line.saturating_sub(1) as usize);
    let limit = params["limit"].as_u64().map_or(usize::MAX, |limit| limit as usize);
    if start == 0 && limit == usize::MAX {
        return content.to_owned();
    }
    content.split_inclusive('\n').skip(start).take(limit).collect()
}

fn record_usage_metrics(profile: &str, usage: &SessionUsage) {
    if let Some(tokens) = usage.input_tokens {
        metrics::counter!("agent_tokens_total", "profile" => profile.to_owned(), "type" => "input").increment(tokens);
    }
    if let Some(tokens) = usage.output_tokens {
        metrics::counter!("agent_tokens_total", "profile" => profile.to_owned(), "type" => "output").increment(tokens);
    }
    if let Some(cost) = usage.cost_usd {
        metrics::counter!("agent_cost_microdollars_total", "profile" => profile.to_owned())
            .increment((cost * 1_000_000.0).round().max(0.0) as u64);
    }
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Initialize,
    NewSession,
    Prompt,
}

enum AcpReply {
    Write(String),
    TurnEnded,
}

/// The client side of one ACP conversation.
#[derive(Default)]
struct Acp {
    next_id: u64,
    pending: HashMap<u64, Pending>,
    session: Option<String>,
    /// `session/new` answered: prompts may be sent.
    started: bool,
    prompting: bool,
    queued: VecDeque<String>,
    /// Open permission questions: our request id → the agent's JSON-RPC id.
    permissions: HashMap<String, Value>,
}

impl Acp {
    fn request(&mut self, method: &str, params: Value) -> String {
        self.next_id += 1;
        let kind = match method {
            "initialize" => Pending::Initialize,
            "session/new" => Pending::NewSession,
            _ => Pending::Prompt,
        };
        self.pending.insert(self.next_id, kind);
        protocol::rpc_request(self.next_id, method, params)
    }

    /// The next prompt to send, if the agent is ready and not busy.
    fn next_prompt(&mut self) -> Option<String> {
        if !self.started || self.prompting {
            return None;
        }
        let text = self.queued.pop_front()?;
        let session = self.session.clone().unwrap_or_default();
        self.prompting = true;
        Some(
            self.request(
                "session/prompt",
                json!({ "sessionId": session, "prompt": [{ "type": "text", "text": text }] }),
            ),
        )
    }
}

/// After the job failed for good (its worker died): the session ends `failed`
/// if it was still queued or running.
pub(crate) async fn reconcile(services: &Services, job: &JobRecord) {
    let Ok(id) = session_id(job) else { return };
    let finish = SessionFinish {
        error_code: Some("interrupted".into()),
        error_message: Some("Dockyard stopped while this session ran; start it again".into()),
        ..SessionFinish::default()
    };
    let from = [SessionStatus::Queued, SessionStatus::Running];
    match services.store().finish_agent_session(&id, &from, SessionStatus::Failed, &finish).await {
        Ok(Some(_)) => tracing::info!(session = %id, "failed an interrupted agent session"),
        Ok(None) => {}
        Err(error) => tracing::warn!(session = %id, %error, "could not fail an interrupted agent session"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_reads_is_decoded_whole() {
        let mut carry = Utf8Carry::default();
        let bytes = "héllo".as_bytes();
        assert_eq!(carry.push(&bytes[..2]), "h");
        assert_eq!(carry.push(&bytes[2..]), "éllo");
        assert_eq!(carry.push(&[0xff, b'a']), "\u{fffd}a");
    }

    #[test]
    fn reads_take_the_asked_lines() {
        let params = json!({ "line": 2, "limit": 2 });
        assert_eq!(slice_lines("a\nb\nc\nd\n", &params), "b\nc\n");
        assert_eq!(slice_lines("a\nb\n", &json!({})), "a\nb\n");
    }
}
