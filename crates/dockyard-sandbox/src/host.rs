//! The host sandbox: a PTY on this machine, the process running as the user
//! that runs Dockyard. The child is a session leader with the PTY as its
//! controlling terminal, so it has its own session and process group; killing
//! it kills that whole session.

use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncRead, ReadBuf};

use crate::{BoxFuture, Control, ExitStatus, Process, PtySize, Sandbox, SandboxError, Spawn};

/// Runs processes on the host, each on its own PTY.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostSandbox;

impl HostSandbox {
    pub fn new() -> Self {
        Self
    }
}

impl Sandbox for HostSandbox {
    fn kind(&self) -> &'static str {
        "host"
    }

    fn spawn(&self, spawn: Spawn) -> BoxFuture<'_, Result<Process, SandboxError>> {
        Box::pin(async move { spawn_on_host(spawn) })
    }

    fn spawn_piped(&self, spawn: Spawn) -> BoxFuture<'_, Result<Process, SandboxError>> {
        Box::pin(async move { spawn_piped_on_host(spawn) })
    }
}

/// A child with pipes, leading a process group of its own, so that `kill`
/// and `terminate` reach everything it started (what stays in the group).
fn spawn_piped_on_host(spawn: Spawn) -> Result<Process, SandboxError> {
    use std::process::Stdio;
    let mut command = tokio::process::Command::new(&spawn.program);
    command
        .args(&spawn.args)
        .env_clear()
        .envs(spawn.env.iter().map(|(name, value)| (name.as_str(), value.as_str())))
        .current_dir(&spawn.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|source| SandboxError::Spawn { program: spawn.program.display().to_string(), source })?;
    let pid = child.id().and_then(|pid| i32::try_from(pid).ok()).and_then(Pid::from_raw);
    tracing::debug!(program = %spawn.program.display(), pid = pid.map(Pid::as_raw_pid), "spawned with pipes");
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(SandboxError::Io(std::io::Error::other("the child's pipes are missing")));
    };
    Ok(Process {
        output: Box::new(stdout),
        input: Box::new(stdin),
        errors: Some(Box::new(stderr)),
        control: Box::new(HostControl {
            pid,
            child: tokio::sync::Mutex::new(child),
            master: None,
            exited: AtomicBool::new(false),
        }),
    })
}

fn pty_error(error: pty_process::Error) -> SandboxError {
    match error {
        pty_process::Error::Io(error) => SandboxError::Io(error),
        other => SandboxError::Pty(other.to_string()),
    }
}

fn spawn_on_host(spawn: Spawn) -> Result<Process, SandboxError> {
    let (pty, pts) = pty_process::open().map_err(pty_error)?;
    pty.resize(pty_process::Size::new(spawn.size.rows, spawn.size.cols)).map_err(pty_error)?;
    // A second handle on the master side for resizing, since the PTY itself is
    // split into the reading and the writing half below (close-on-exec, like the first).
    let master = pty.as_fd().try_clone_to_owned()?;
    let command = pty_process::Command::new(&spawn.program)
        .args(&spawn.args)
        .env_clear()
        .envs(spawn.env.iter().map(|(name, value)| (name.as_str(), value.as_str())))
        .current_dir(&spawn.cwd)
        .kill_on_drop(true);
    // `spawn` makes the child a session leader (setsid) with the PTY as its
    // controlling terminal, and closes our copy of the slave side afterwards, so
    // the output ends once the child and its descendants have let go of it.
    let child = command.spawn(pts).map_err(|error| match error {
        pty_process::Error::Io(source) => SandboxError::Spawn { program: spawn.program.display().to_string(), source },
        other => pty_error(other),
    })?;
    let pid = child.id().and_then(|pid| i32::try_from(pid).ok()).and_then(Pid::from_raw);
    tracing::debug!(program = %spawn.program.display(), pid = pid.map(Pid::as_raw_pid), "spawned on a PTY");
    let (reader, writer) = pty.into_split();
    Ok(Process {
        output: Box::new(HostOutput(reader)),
        input: Box::new(writer),
        errors: None,
        control: Box::new(HostControl {
            pid,
            child: tokio::sync::Mutex::new(child),
            master: Some(master),
            exited: AtomicBool::new(false),
        }),
    })
}

/// The PTY's output. Linux answers a read on the master with `EIO` once the
/// last slave descriptor closed; that is the end of the output, not an error.
struct HostOutput(pty_process::OwnedReadPty);

impl AsyncRead for HostOutput {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Err(error)) if error.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

struct HostControl {
    /// The child's pid, which is also its session id and process group id.
    pid: Option<Pid>,
    child: tokio::sync::Mutex<tokio::process::Child>,
    /// The PTY's master side; `None` for a process with pipes.
    master: Option<OwnedFd>,
    exited: AtomicBool,
}

impl Control for HostControl {
    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            let Some(master) = &self.master else { return Ok(()) };
            let winsize = rustix::termios::Winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
            rustix::termios::tcsetwinsize(master, winsize).map_err(std::io::Error::from)?;
            Ok(())
        })
    }

    fn kill(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            if let Some(leader) = self.pid {
                kill_session(leader, self.exited.load(Ordering::Acquire));
            }
            Ok(())
        })
    }

    fn terminate(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            if let Some(leader) = self.pid {
                if !self.exited.load(Ordering::Acquire) {
                    let _ = rustix::process::kill_process(leader, Signal::TERM);
                }
                let _ = rustix::process::kill_process_group(leader, Signal::TERM);
            }
            Ok(())
        })
    }

    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus, SandboxError>> {
        Box::pin(async move {
            let status = self.child.lock().await.wait().await?;
            self.exited.store(true, Ordering::Release);
            use std::os::unix::process::ExitStatusExt as _;
            Ok(ExitStatus { code: status.code(), signal: status.signal() })
        })
    }
}

/// Kills every process of the session `leader` started: its process group, and
/// on Linux every other process whose session is the leader's (an interactive
/// shell puts each job in a process group of its own). A process that left the
/// session on purpose (`setsid`) escapes; that is the limit of the host sandbox.
///
/// Once the leader was reaped its pid is free for reuse unless it still names a
/// live process group or session (the kernel keeps it reserved then, so the
/// signals reach the leader's descendants). Reuse right after the reap would
/// need the pid counter to wrap around in that instant; the leader itself is
/// only signalled while it has not been reaped.
fn kill_session(leader: Pid, leader_reaped: bool) {
    if !leader_reaped {
        let _ = rustix::process::kill_process(leader, Signal::KILL);
    }
    let _ = rustix::process::kill_process_group(leader, Signal::KILL);
    #[cfg(target_os = "linux")]
    {
        let Ok(entries) = std::fs::read_dir("/proc") else { return };
        for entry in entries.flatten() {
            let Some(pid) =
                entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()).and_then(Pid::from_raw)
            else {
                continue;
            };
            if pid != leader && session_of(pid) == Some(leader.as_raw_pid()) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
    }
}

/// A process's session id from `/proc/<pid>/stat`. (Not `getsid`: it answers 0
/// for processes outside our pid namespace, which rustix's `Pid` cannot hold.)
#[cfg(target_os = "linux")]
fn session_of(pid: Pid) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_pid())).ok()?;
    // `pid (comm) state ppid pgrp session …`; comm may hold spaces and parentheses.
    let (_, after_comm) = stat.rsplit_once(')')?;
    after_comm.split_whitespace().nth(3)?.parse().ok()
}
