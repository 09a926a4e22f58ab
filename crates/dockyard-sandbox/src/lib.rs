//! Where Dockyard runs the processes a user starts: a terminal's shell now,
//! agents and build commands later.
//!
//! API Boundary: [`Sandbox::spawn`] takes a [`Spawn`] (program, arguments,
//! working folder, the *complete* environment, the PTY size) and hands back a
//! [`Process`]: its output to read, its input to write, and a [`Control`] to
//! resize, kill and wait for it. Nothing here knows about projects, users or HTTP.
//!
//! Two implementations are meant to live behind the trait: [`HostSandbox`] (a
//! PTY on the host, as the user running Dockyard: the single-user embedded
//! default) and, for multi-user instances, a container sandbox that execs into
//! a per-workspace container with a TTY. The trait is shaped for the second
//! one too: every control call is asynchronous (an exec resize or kill is an
//! API call there), and the process is addressed through its handle, never by a
//! host pid.

mod host;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

pub use host::HostSandbox;
use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed future, so that the traits stay object safe (`Arc<dyn Sandbox>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The size of a terminal, in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    pub cols: u16,
    pub rows: u16,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The working folder (a project's workspace).
    pub cwd: PathBuf,
    /// The whole environment of the process. Nothing of the caller's own
    /// environment is inherited: whatever is not listed here is absent.
    pub env: Vec<(String, String)>,
    pub size: PtySize,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, when the process exited on its own.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// One number, as a shell reports it: the exit code, or 128 + the signal.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => -1,
        }
    }
}

/// A running process. The output ends (a read of 0 bytes) once every process
/// holding the terminal has gone.
pub struct Process {
    pub output: Box<dyn AsyncRead + Send + Unpin>,
    pub input: Box<dyn AsyncWrite + Send + Unpin>,
    /// Standard error, for a process spawned with pipes ([`Sandbox::spawn_piped`]);
    /// on a PTY it is part of `output`.
    pub errors: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub control: Box<dyn Control>,
}

/// Control over a running process and everything it started.
pub trait Control: Send + Sync {
    /// Changes the terminal's size; the process gets `SIGWINCH`.
    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<(), SandboxError>>;
    /// Kills the process and every process in its session (its background jobs
    /// included). Killing a process that already ended is not an error.
    fn kill(&self) -> BoxFuture<'_, Result<(), SandboxError>>;
    /// Asks the process and its group to end (`SIGTERM`), so it can clean up;
    /// callers `kill` after a grace period. By default the same as `kill`.
    fn terminate(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        self.kill()
    }
    /// Resolves when the process has exited. It may be called while `kill` runs.
    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus, SandboxError>>;
}

/// Runs processes somewhere.
pub trait Sandbox: Send + Sync {
    /// A short name for logs: `host`, later `container`.
    fn kind(&self) -> &'static str;
    fn spawn(&self, spawn: Spawn) -> BoxFuture<'_, Result<Process, SandboxError>>;
    /// Runs a process with pipes instead of a terminal: standard output as
    /// `output`, standard error as `errors`, for programs that speak a protocol
    /// on their standard streams (agents' JSON lines, JSON-RPC). `spawn.size` is
    /// ignored, and so is `resize`.
    fn spawn_piped(&self, spawn: Spawn) -> BoxFuture<'_, Result<Process, SandboxError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The program could not be started (missing, not executable, bad folder).
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the terminal failed: {0}")]
    Pty(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The environment of an interactive shell, built from scratch: `PATH`, `HOME`,
/// `LANG`, `TERM`, `SHELL` and `USER`, and nothing else. The server's own
/// environment may hold secrets (`DOCKYARD_*`), so it is never passed on.
#[derive(Debug, Clone)]
pub struct ShellEnv {
    pub path: String,
    pub home: PathBuf,
    pub lang: String,
    pub shell: PathBuf,
    pub user: String,
}

impl ShellEnv {
    pub fn into_vars(self) -> Vec<(String, String)> {
        vec![
            ("PATH".to_owned(), self.path),
            ("HOME".to_owned(), self.home.display().to_string()),
            ("LANG".to_owned(), self.lang),
            ("TERM".to_owned(), "xterm-256color".to_owned()),
            ("SHELL".to_owned(), self.shell.display().to_string()),
            ("USER".to_owned(), self.user),
        ]
    }
}
