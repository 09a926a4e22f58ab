//! Terminal sessions: a shell on a PTY in a project's workspace, run through the
//! [`Sandbox`] (on the host by default), that browser tabs attach to and detach
//! from while it keeps running.
//!
//! Each session keeps a ring of its recent output addressed by absolute byte
//! offsets (the first byte the shell ever wrote is offset 0), so a client that
//! reconnects with the offset it got to is replayed exactly what it missed, or,
//! when that has already left the ring, everything retained with a `gap` flag.
//! Live output is broadcast to attached clients on a bounded channel; a client
//! that falls behind is not buffered for: it resynchronises from the ring.
//!
//! Terminals are for developers and up (`Action::WriteCode`), listing included:
//! what a terminal shows is as powerful as what it runs. Opening and closing is
//! audited; input and output never are.
//!
//! Architecture Invariant: sessions live in the memory of the replica that
//! created them and end with it (a shell cannot move between machines).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dockyard_domain::validate::ValidationError;
use dockyard_domain::{Action, Actor, OrgId, ProjectId, TerminalId, UserId};
use dockyard_sandbox::{Control, HostSandbox, PtySize, Sandbox, ShellEnv, Spawn};
use dockyard_workspace::HostWorkspace;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast;

use crate::audit::AuditEntry;
use crate::{RequestContext, ServiceError, Services};

/// How many live chunks an attached client may be behind before it has to
/// resynchronise from the ring. Bounds the memory a slow client can pin.
const LIVE_CHUNKS: usize = 64;
/// The largest chunk read from a PTY at once.
const READ_CHUNK: usize = 16 * 1024;
/// The largest accepted terminal dimension (columns or rows).
pub const MAX_TERMINAL_DIMENSION: u16 = 1000;

/// Tunables of terminals, filled from the server config.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// The shell to start.
    pub shell: PathBuf,
    /// A terminal with no attached client and no input for this long is closed.
    pub idle_timeout: Duration,
    /// How much recent output each terminal keeps for replay.
    pub scrollback_bytes: usize,
    /// Open (not yet exited) terminals per project.
    pub max_per_project: usize,
    /// Simultaneous terminal WebSocket connections per user.
    pub max_connections_per_user: usize,
    /// How long an exited terminal stays listed, so a client can read its exit code.
    pub exited_retention: Duration,
    /// `PATH` for the shell.
    pub path: String,
    /// `HOME` for the shell; the project's workspace when unset.
    pub home: Option<PathBuf>,
    /// `USER` for the shell.
    pub user: String,
    /// `LANG` for the shell.
    pub lang: String,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        Self {
            shell: PathBuf::from("/bin/sh"),
            idle_timeout: Duration::from_secs(1800),
            scrollback_bytes: 256 * 1024,
            max_per_project: 10,
            max_connections_per_user: 20,
            exited_retention: Duration::from_secs(60),
            path: "/usr/local/bin:/usr/bin:/bin".to_owned(),
            home: None,
            user: "dockyard".to_owned(),
            lang: "C.UTF-8".to_owned(),
        }
    }
}

/// What a client sees of a terminal.
#[derive(Debug, Clone)]
pub struct TerminalInfo {
    pub id: TerminalId,
    pub project_id: ProjectId,
    pub cols: u16,
    pub rows: u16,
    pub created_at: DateTime<Utc>,
    pub created_by: UserId,
    pub exited: bool,
    /// The shell's exit code (128 + the signal when one ended it).
    pub exit_code: Option<i32>,
}

/// Recent output addressed by absolute byte offset: it holds the bytes
/// `[start, end)` of everything ever written, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct Ring {
    bytes: VecDeque<u8>,
    capacity: usize,
    start: u64,
}

/// What a client gets to catch up: the bytes from `offset` on, and whether
/// bytes it asked for had already left the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub gap: bool,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { bytes: VecDeque::new(), capacity: capacity.max(1), start: 0 }
    }

    /// The offset of the oldest byte retained.
    #[cfg(test)]
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// The offset the next byte will get.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if chunk.len() >= self.capacity {
            self.start = self.end() + (chunk.len() - self.capacity) as u64;
            self.bytes.clear();
            self.bytes.extend(&chunk[chunk.len() - self.capacity..]);
            return;
        }
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.start += overflow as u64;
        self.bytes.extend(chunk);
    }

    /// Everything from `after` on. An `after` older than the ring (or past its
    /// end, which no client of this terminal can have) replays everything
    /// retained and flags the gap.
    pub(crate) fn read_from(&self, after: u64) -> Replay {
        if after < self.start || after > self.end() {
            let gap = after != self.start;
            return Replay { offset: self.start, bytes: self.bytes.iter().copied().collect(), gap };
        }
        let skip = usize::try_from(after - self.start).unwrap_or(usize::MAX);
        Replay { offset: after, bytes: self.bytes.iter().skip(skip).copied().collect(), gap: false }
    }
}

/// A message on a terminal's live channel.
#[derive(Debug, Clone)]
enum Live {
    Output { offset: u64, bytes: Arc<[u8]> },
    Exit(i32),
}

/// Why a terminal ended, for the audit log.
#[derive(Debug, Clone)]
struct CloseReason {
    reason: &'static str,
    by: Option<UserId>,
    context: RequestContext,
}

struct SessionState {
    ring: Ring,
    size: PtySize,
    attached: usize,
    last_activity: Instant,
    exit_code: Option<i32>,
    exited_at: Option<Instant>,
    close_reason: Option<CloseReason>,
}

struct Session {
    id: TerminalId,
    project: ProjectId,
    org: OrgId,
    created_by: UserId,
    created_at: DateTime<Utc>,
    control: Box<dyn Control>,
    input: tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    state: Mutex<SessionState>,
    live: broadcast::Sender<Live>,
    workspace: Arc<HostWorkspace>,
}

impl Session {
    fn state(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn info(&self) -> TerminalInfo {
        let state = self.state();
        TerminalInfo {
            id: self.id.clone(),
            project_id: self.project.clone(),
            cols: state.size.cols,
            rows: state.size.rows,
            created_at: self.created_at,
            created_by: self.created_by.clone(),
            exited: state.exit_code.is_some(),
            exit_code: state.exit_code,
        }
    }

    /// Appends output to the ring and broadcasts it, in one step, so an attach
    /// (which reads the ring and subscribes under the same lock) misses nothing
    /// and sees nothing twice.
    fn push_output(&self, chunk: &[u8]) {
        let mut state = self.state();
        let offset = state.ring.end();
        state.ring.push(chunk);
        let _ = self.live.send(Live::Output { offset, bytes: Arc::from(chunk) });
    }

    async fn write(&self, bytes: &[u8]) -> Result<(), ServiceError> {
        if self.state().exit_code.is_some() {
            return Err(exited());
        }
        self.input
            .lock()
            .await
            .write_all(bytes)
            .await
            // The shell is gone (its exit is being recorded): like writing after the exit.
            .map_err(|_| exited())?;
        self.state().last_activity = Instant::now();
        // The typed command may change files behind the workspace's back.
        if bytes.contains(&b'\r') || bytes.contains(&b'\n') {
            self.workspace.invalidate_usage();
        }
        Ok(())
    }

    async fn resize(&self, cols: u16, rows: u16) -> Result<(), ServiceError> {
        let size = checked_size(cols, rows)?;
        self.state().size = size;
        self.control.resize(size).await.map_err(|error| ServiceError::Internal(format!("terminal resize: {error}")))
    }

    /// Kills the shell (once); the pump notices and finishes the session.
    async fn close(&self, reason: CloseReason) {
        {
            let mut state = self.state();
            if state.exit_code.is_some() || state.close_reason.is_some() {
                return;
            }
            state.close_reason = Some(reason);
        }
        if let Err(error) = self.control.kill().await {
            tracing::warn!(terminal = %self.id, %error, "could not kill a terminal");
        }
    }
}

fn exited() -> ServiceError {
    ServiceError::conflict("terminal_exited", "the terminal's shell has exited")
}

fn checked_size(cols: u16, rows: u16) -> Result<PtySize, ServiceError> {
    for (field, value) in [("cols", cols), ("rows", rows)] {
        if value == 0 || value > MAX_TERMINAL_DIMENSION {
            return Err(ServiceError::Invalid(ValidationError::new(
                field,
                "terminal_size_invalid",
                format!("must be between 1 and {MAX_TERMINAL_DIMENSION}"),
            )));
        }
    }
    Ok(PtySize { cols, rows })
}

/// Every terminal of this process, and the count of WebSocket connections per user.
pub(crate) struct Terminals {
    sessions: Mutex<HashMap<TerminalId, Arc<Session>>>,
    /// Serialises creation, so the per-project cap cannot be raced past.
    creating: tokio::sync::Mutex<()>,
    connections: Arc<Mutex<HashMap<UserId, usize>>>,
    sandbox: Arc<dyn Sandbox>,
}

impl Terminals {
    pub(crate) fn new() -> Self {
        Self::with_sandbox(Arc::new(HostSandbox::new()))
    }

    /// Where processes run (agents use the same sandbox as terminals).
    pub(crate) fn sandbox(&self) -> &Arc<dyn Sandbox> {
        &self.sandbox
    }

    pub(crate) fn with_sandbox(sandbox: Arc<dyn Sandbox>) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
            connections: Arc::new(Mutex::new(HashMap::new())),
            sandbox,
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<TerminalId, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn find(&self, project: &ProjectId, id: &TerminalId) -> Result<Arc<Session>, ServiceError> {
        self.sessions().get(id).filter(|session| &session.project == project).cloned().ok_or(ServiceError::NotFound)
    }
}

/// A client attached to a terminal: the replay it starts from, the live output
/// after it, and its input. Dropping the input detaches (the terminal keeps running).
pub struct TerminalAttachment {
    pub info: TerminalInfo,
    pub replay: Replay,
    pub output: TerminalOutput,
    pub input: TerminalInput,
}

/// An attached client's way in: input and resizes, authorized when attaching
/// rather than per keystroke.
pub struct TerminalInput {
    session: Arc<Session>,
}

impl TerminalInput {
    pub async fn write(&self, bytes: &[u8]) -> Result<(), ServiceError> {
        self.session.write(bytes).await
    }

    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), ServiceError> {
        self.session.resize(cols, rows).await
    }
}

impl Drop for TerminalInput {
    fn drop(&mut self) {
        let mut state = self.session.state();
        state.attached = state.attached.saturating_sub(1);
        state.last_activity = Instant::now();
    }
}

/// What an attached client receives after its replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// Output from `offset` on; `gap` when bytes before it were lost to this client.
    Output { offset: u64, bytes: Vec<u8>, gap: bool },
    /// The shell exited with this code; nothing follows.
    Exit(i32),
}

/// The live output of one attachment, deduplicated by offset.
pub struct TerminalOutput {
    receiver: broadcast::Receiver<Live>,
    session: Arc<Session>,
    /// The offset of the next byte this client needs.
    next: u64,
    exit: Option<i32>,
    done: bool,
}

impl TerminalOutput {
    /// The next event; `None` once the exit was delivered or the terminal is gone.
    pub async fn recv(&mut self) -> Option<TerminalEvent> {
        loop {
            if self.done {
                return None;
            }
            if let Some(code) = self.exit.take() {
                self.done = true;
                return Some(TerminalEvent::Exit(code));
            }
            match self.receiver.recv().await {
                Ok(Live::Output { offset, bytes }) => {
                    let end = offset + bytes.len() as u64;
                    if end <= self.next {
                        continue;
                    }
                    if offset > self.next {
                        // Cannot happen with an intact channel; resynchronise regardless.
                        return self.resync();
                    }
                    let skip = usize::try_from(self.next - offset).unwrap_or(0);
                    self.next = end;
                    return Some(TerminalEvent::Output {
                        offset: offset + skip as u64,
                        bytes: bytes[skip..].to_vec(),
                        gap: false,
                    });
                }
                Ok(Live::Exit(code)) => {
                    self.done = true;
                    return Some(TerminalEvent::Exit(code));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(event) = self.resync() {
                        return Some(event);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.done = true;
                    return None;
                }
            }
        }
    }

    /// Catches up from the ring after falling behind the live channel.
    fn resync(&mut self) -> Option<TerminalEvent> {
        let replay = self.session.state().ring.read_from(self.next);
        if replay.bytes.is_empty() {
            return None;
        }
        self.next = replay.offset + replay.bytes.len() as u64;
        Some(TerminalEvent::Output { offset: replay.offset, bytes: replay.bytes, gap: replay.gap })
    }
}

/// One of a user's terminal WebSocket connections; dropping it frees the slot.
pub struct TerminalConnection {
    user: UserId,
    connections: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl Drop for TerminalConnection {
    fn drop(&mut self) {
        let mut connections = self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = connections.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                connections.remove(&self.user);
            }
        }
    }
}

impl Services {
    fn terminals(&self) -> &Terminals {
        &self.inner.terminals
    }

    fn terminal_config(&self) -> &TerminalConfig {
        &self.inner.config.terminal
    }

    /// Opens a shell in the project's workspace.
    pub async fn create_terminal(
        &self,
        actor: &Actor,
        project: &ProjectId,
        cols: Option<u16>,
        rows: Option<u16>,
        context: &RequestContext,
    ) -> Result<TerminalInfo, ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
        let size = checked_size(cols.unwrap_or(80), rows.unwrap_or(24))?;
        let config = self.terminal_config().clone();
        let workspace = self.inner.workspaces.get(&project.id)?;
        let creating = self.terminals().creating.lock().await;
        let open = self
            .terminals()
            .sessions()
            .values()
            .filter(|session| session.project == project.id && session.state().exit_code.is_none())
            .count();
        if open >= config.max_per_project {
            return Err(ServiceError::Invalid(ValidationError::new(
                "terminals",
                "terminal_limit_reached",
                format!("a project can have at most {} open terminals; close one first", config.max_per_project),
            )));
        }
        let env = ShellEnv {
            path: config.path.clone(),
            home: config.home.clone().unwrap_or_else(|| workspace.root().to_path_buf()),
            lang: config.lang.clone(),
            shell: config.shell.clone(),
            user: config.user.clone(),
        };
        let spawn = Spawn {
            program: config.shell.clone(),
            args: Vec::new(),
            cwd: workspace.root().to_path_buf(),
            env: env.into_vars(),
            size,
        };
        let process = self.terminals().sandbox.spawn(spawn).await.map_err(|error| {
            tracing::error!(%error, shell = %config.shell.display(), "could not start a terminal's shell");
            ServiceError::Internal(format!("terminal: {error}"))
        })?;
        let (live, _) = broadcast::channel(LIVE_CHUNKS);
        let session = Arc::new(Session {
            id: TerminalId::new(),
            project: project.id.clone(),
            org: project.org_id.clone(),
            created_by: actor.user_id.clone(),
            created_at: Utc::now(),
            control: process.control,
            input: tokio::sync::Mutex::new(process.input),
            state: Mutex::new(SessionState {
                ring: Ring::new(config.scrollback_bytes),
                size,
                attached: 0,
                last_activity: Instant::now(),
                exit_code: None,
                exited_at: None,
                close_reason: None,
            }),
            live,
            workspace,
        });
        self.terminals().sessions().insert(session.id.clone(), session.clone());
        drop(creating);
        tokio::spawn(pump(self.clone(), session.clone(), process.output));
        self.audit(
            AuditEntry::new("terminal.opened", context)
                .by(&actor.user_id)
                .org(&session.org)
                .target("terminal", session.id.as_str())
                .detail(
                    serde_json::json!({ "project_id": session.project, "sandbox": self.terminals().sandbox.kind() }),
                ),
        )
        .await;
        Ok(session.info())
    }

    pub async fn list_terminals(&self, actor: &Actor, project: &ProjectId) -> Result<Vec<TerminalInfo>, ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
        let sessions: Vec<Arc<Session>> =
            self.terminals().sessions().values().filter(|session| session.project == project.id).cloned().collect();
        let mut terminals: Vec<TerminalInfo> = sessions.iter().map(|session| session.info()).collect();
        terminals.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(terminals)
    }

    pub async fn get_terminal(
        &self,
        actor: &Actor,
        project: &ProjectId,
        id: &TerminalId,
    ) -> Result<TerminalInfo, ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
        Ok(self.terminals().find(&project.id, id)?.info())
    }

    /// Attaches a client: the output from `after` on (everything retained when
    /// `after` is older, with the gap flagged), then the live output.
    pub async fn attach_terminal(
        &self,
        actor: &Actor,
        project: &ProjectId,
        id: &TerminalId,
        after: u64,
    ) -> Result<TerminalAttachment, ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
        let session = self.terminals().find(&project.id, id)?;
        let info = session.info();
        let (replay, receiver, exit) = {
            let mut state = session.state();
            state.attached += 1;
            state.last_activity = Instant::now();
            (state.ring.read_from(after), session.live.subscribe(), state.exit_code)
        };
        let next = replay.offset + replay.bytes.len() as u64;
        let output = TerminalOutput { receiver, session: session.clone(), next, exit, done: false };
        Ok(TerminalAttachment { info, replay, output, input: TerminalInput { session } })
    }

    pub async fn write_terminal(
        &self,
        actor: &Actor,
        project: &ProjectId,
        id: &TerminalId,
        bytes: &[u8],
    ) -> Result<(), ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
        self.terminals().find(&project.id, id)?.write(bytes).await
    }

    pub async fn resize_terminal(
        &self,
        actor: &Actor,
        project: &ProjectId,
        id: &TerminalId,
        cols: u16,
        rows: u16,
    ) -> Result<(), ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
        self.terminals().find(&project.id, id)?.resize(cols, rows).await
    }

    /// Kills the terminal's shell (and everything it started) and forgets it.
    pub async fn close_terminal(
        &self,
        actor: &Actor,
        project: &ProjectId,
        id: &TerminalId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
        let session = self.terminals().find(&project.id, id)?;
        self.terminals().sessions().remove(id);
        session
            .close(CloseReason { reason: "closed", by: Some(actor.user_id.clone()), context: context.clone() })
            .await;
        Ok(())
    }

    /// Takes one of the user's terminal connection slots; `None` when all are in use.
    pub fn register_terminal_connection(&self, user: &UserId) -> Option<TerminalConnection> {
        let connections = &self.terminals().connections;
        let mut counts = connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(user.clone()).or_insert(0);
        if *count >= self.terminal_config().max_connections_per_user {
            return None;
        }
        *count += 1;
        Some(TerminalConnection { user: user.clone(), connections: connections.clone() })
    }

    /// Closes idle terminals and forgets exited ones, until `stop` resolves;
    /// then closes every terminal.
    pub async fn run_terminal_sweeper(&self, stop: impl std::future::Future<Output = ()>) {
        let config = self.terminal_config().clone();
        let every = (config.idle_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = &mut stop => break,
            }
            self.sweep_terminals(&config).await;
        }
        let sessions: Vec<Arc<Session>> = self.terminals().sessions().drain().map(|(_, session)| session).collect();
        for session in sessions {
            session.close(CloseReason { reason: "shutdown", by: None, context: RequestContext::default() }).await;
        }
    }

    async fn sweep_terminals(&self, config: &TerminalConfig) {
        let now = Instant::now();
        let mut idle = Vec::new();
        self.terminals().sessions().retain(|_, session| {
            let state = session.state();
            if let Some(exited_at) = state.exited_at {
                return now.duration_since(exited_at) < config.exited_retention;
            }
            if state.attached == 0
                && state.close_reason.is_none()
                && now.duration_since(state.last_activity) >= config.idle_timeout
            {
                idle.push(session.clone());
            }
            true
        });
        for session in idle {
            tracing::info!(terminal = %session.id, "closing an idle terminal");
            session.close(CloseReason { reason: "idle", by: None, context: RequestContext::default() }).await;
        }
    }
}

/// Moves the shell's output into the ring and the live channel until it ends,
/// then records the exit and audits the close.
async fn pump(services: Services, session: Arc<Session>, mut output: Box<dyn AsyncRead + Send + Unpin>) {
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut status = None;
    {
        let wait = session.control.wait();
        tokio::pin!(wait);
        loop {
            tokio::select! {
                read = output.read(&mut buffer) => match read {
                    Ok(0) => break,
                    Ok(n) => session.push_output(&buffer[..n]),
                    Err(error) => {
                        tracing::debug!(terminal = %session.id, %error, "terminal output ended");
                        break;
                    }
                },
                exited = &mut wait, if status.is_none() => {
                    status = Some(exited);
                    // The shell is gone: whatever it left running on the terminal goes too,
                    // so the output ends (after what is still buffered).
                    let _ = session.control.kill().await;
                }
            }
        }
        if status.is_none() {
            status = Some(wait.await);
        }
    }
    let code = match status {
        Some(Ok(status)) => status.shell_code(),
        Some(Err(error)) => {
            tracing::warn!(terminal = %session.id, %error, "could not learn how a terminal's shell ended");
            -1
        }
        None => -1,
    };
    session.workspace.invalidate_usage();
    let reason = {
        let mut state = session.state();
        state.exit_code = Some(code);
        state.exited_at = Some(Instant::now());
        let _ = session.live.send(Live::Exit(code));
        state.close_reason.clone()
    };
    let reason = reason.unwrap_or(CloseReason { reason: "exited", by: None, context: RequestContext::default() });
    services
        .audit(
            AuditEntry::new("terminal.closed", &reason.context)
                .by_opt(reason.by.as_ref())
                .org(&session.org)
                .target("terminal", session.id.as_str())
                .detail(serde_json::json!({
                    "project_id": session.project,
                    "reason": reason.reason,
                    "exit_code": code,
                })),
        )
        .await;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_bytes_at_their_offsets() {
        let mut ring = Ring::new(8);
        ring.push(b"hello");
        assert_eq!((ring.start(), ring.end()), (0, 5));
        assert_eq!(ring.read_from(0), Replay { offset: 0, bytes: b"hello".to_vec(), gap: false });
        assert_eq!(ring.read_from(3), Replay { offset: 3, bytes: b"lo".to_vec(), gap: false });
        assert_eq!(ring.read_from(5), Replay { offset: 5, bytes: Vec::new(), gap: false });
        ring.push(b" world");
        // 11 bytes written, 8 kept: "lo world" from offset 3.
        assert_eq!((ring.start(), ring.end()), (3, 11));
        assert_eq!(ring.read_from(4), Replay { offset: 4, bytes: b"o world".to_vec(), gap: false });
        assert_eq!(ring.read_from(1), Replay { offset: 3, bytes: b"lo world".to_vec(), gap: true });
    }

    #[test]
    fn a_chunk_larger_than_the_ring_keeps_its_tail() {
        let mut ring = Ring::new(4);
        ring.push(b"ab");
        ring.push(b"0123456789");
        assert_eq!((ring.start(), ring.end()), (8, 12));
        assert_eq!(ring.read_from(0), Replay { offset: 8, bytes: b"6789".to_vec(), gap: true });
        assert_eq!(ring.read_from(8), Replay { offset: 8, bytes: b"6789".to_vec(), gap: false });
    }

    #[test]
    fn an_offset_past_the_end_replays_everything_with_a_gap() {
        let mut ring = Ring::new(4);
        ring.push(b"abc");
        assert_eq!(ring.read_from(99), Replay { offset: 0, bytes: b"abc".to_vec(), gap: true });
    }

    #[test]
    fn sizes_outside_one_to_a_thousand_are_refused() {
        assert!(checked_size(80, 24).is_ok());
        assert!(checked_size(1000, 1).is_ok());
        for (cols, rows) in [(0, 24), (80, 0), (1001, 24), (80, 1001)] {
            let Err(ServiceError::Invalid(invalid)) = checked_size(cols, rows) else { panic!("{cols}x{rows} refused") };
            assert_eq!(invalid.code, "terminal_size_invalid");
        }
    }

    /// A process that never exits and ignores every control call: the logic above
    /// the sandbox, alone (the real PTY is tested in dockyard-sandbox and end to end).
    struct StillRunning;

    impl Control for StillRunning {
        fn resize(
            &self,
            _size: PtySize,
        ) -> dockyard_sandbox::BoxFuture<'_, Result<(), dockyard_sandbox::SandboxError>> {
            Box::pin(async { Ok(()) })
        }
        fn kill(&self) -> dockyard_sandbox::BoxFuture<'_, Result<(), dockyard_sandbox::SandboxError>> {
            Box::pin(async { Ok(()) })
        }
        fn wait(
            &self,
        ) -> dockyard_sandbox::BoxFuture<'_, Result<dockyard_sandbox::ExitStatus, dockyard_sandbox::SandboxError>>
        {
            Box::pin(std::future::pending())
        }
    }

    fn session(scrollback: usize) -> Arc<Session> {
        let folder = std::env::temp_dir().join(format!("dockyard-terminal-unit-{}", TerminalId::new()));
        let workspace =
            Arc::new(HostWorkspace::open(folder, dockyard_workspace::Quotas::default()).expect("workspace"));
        Arc::new(Session {
            id: TerminalId::new(),
            project: ProjectId::new(),
            org: OrgId::new(),
            created_by: UserId::new(),
            created_at: Utc::now(),
            control: Box::new(StillRunning),
            input: tokio::sync::Mutex::new(Box::new(tokio::io::sink())),
            state: Mutex::new(SessionState {
                ring: Ring::new(scrollback),
                size: PtySize { cols: 80, rows: 24 },
                attached: 0,
                last_activity: Instant::now(),
                exit_code: None,
                exited_at: None,
                close_reason: None,
            }),
            live: broadcast::channel(LIVE_CHUNKS).0,
            workspace,
        })
    }

    fn output_from(session: &Arc<Session>, next: u64) -> TerminalOutput {
        TerminalOutput { receiver: session.live.subscribe(), session: session.clone(), next, exit: None, done: false }
    }

    #[tokio::test]
    async fn a_lagging_client_catches_up_from_the_ring_without_holes_or_repeats() {
        let session = session(1 << 20);
        let mut output = output_from(&session, 0);
        // Far more chunks than the live channel holds, none read yet.
        let chunks: Vec<String> = (0..LIVE_CHUNKS * 3).map(|index| format!("{index:04}")).collect();
        for chunk in &chunks {
            session.push_output(chunk.as_bytes());
        }
        let total: u64 = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        let mut seen = Vec::new();
        while (seen.len() as u64) < total {
            let Some(TerminalEvent::Output { offset, bytes, gap }) = output.recv().await else { panic!("output") };
            assert_eq!(offset, seen.len() as u64, "each event starts where the last one ended");
            assert!(!gap, "the ring still held everything");
            seen.extend(bytes);
        }
        assert_eq!(String::from_utf8(seen).expect("text"), chunks.concat());
        // Live output after the catch-up arrives as it is written, once.
        session.push_output(b"live");
        assert_eq!(
            output.recv().await,
            Some(TerminalEvent::Output { offset: total, bytes: b"live".to_vec(), gap: false })
        );
    }

    #[tokio::test]
    async fn a_client_behind_the_ring_gets_the_gap_flagged_and_then_the_exit() {
        let session = session(100);
        let mut output = output_from(&session, 0);
        for index in 0..LIVE_CHUNKS * 3 {
            session.push_output(format!("{index:04}").as_bytes());
        }
        let end = (LIVE_CHUNKS * 3 * 4) as u64;
        let Some(TerminalEvent::Output { offset, bytes, gap }) = output.recv().await else { panic!("output") };
        assert_eq!((offset, bytes.len(), gap), (end - 100, 100, true));
        let _ = session.live.send(Live::Exit(7));
        assert_eq!(output.recv().await, Some(TerminalEvent::Exit(7)));
        assert_eq!(output.recv().await, None);
    }

    proptest! {
        #[test]
        fn the_ring_replays_exactly_what_a_full_log_would(
            capacity in 1usize..64,
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..20),
            after_fraction in 0.0f64..1.2,
        ) {
            let mut ring = Ring::new(capacity);
            let mut log: Vec<u8> = Vec::new();
            for chunk in &chunks {
                ring.push(chunk);
                log.extend(chunk);
            }
            let end = log.len() as u64;
            prop_assert_eq!(ring.end(), end);
            prop_assert!(ring.end() - ring.start() <= capacity as u64);
            prop_assert_eq!(ring.start(), end.saturating_sub(capacity as u64));
            let after = (end as f64 * after_fraction) as u64;
            let replay = ring.read_from(after);
            let from = replay.offset as usize;
            prop_assert_eq!(&replay.bytes[..], &log[from..]);
            if after >= ring.start() && after <= end {
                prop_assert_eq!(replay.offset, after);
                prop_assert!(!replay.gap);
            } else {
                prop_assert_eq!(replay.offset, ring.start());
                prop_assert!(replay.gap);
            }
        }
    }
}
