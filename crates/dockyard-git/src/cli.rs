//! Running the `git` CLI for network operations, hardened.
//!
//! libgit2 is built without TLS, so clone, fetch and push run `git`. Each run:
//! - resolves the URL's host itself and refuses it when any address is not
//!   allowed by the outbound policy, then pins git to exactly the checked
//!   addresses (`http.curloptResolve`), with redirects off, so neither a second
//!   DNS answer nor a redirect can lead it elsewhere;
//! - gets a cleared environment (PATH, an empty temporary HOME, `LC_ALL=C`, no
//!   prompts, no system or global config) and command-line config that allows
//!   only https (and http when the policy says so), disables hooks, fsmonitor,
//!   credential helpers, proxies, bundle URIs and automatic gc;
//! - receives the token as an `Authorization` header through `GIT_CONFIG_*`
//!   environment entries (never argv, never a file), and has it scrubbed from
//!   any output it surfaces;
//! - is killed, with everything it started, after the policy's timeout, or
//!   (given a size limit) once the folder it writes to grows past the limit.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Serialize;

use crate::GitError;
use crate::url::{Credential, GitUrl, NetworkPolicy};

/// Clone progress, from git's "Receiving objects" lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TransferProgress {
    pub objects: u64,
    pub total_objects: u64,
    /// Bytes received so far (git reports them rounded to its display unit).
    pub bytes: u64,
}

/// The longest DNS resolution waited for.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of git's error output is kept.
const MAX_STDERR: usize = 64 * 1024;

/// Common CA bundle locations, trusted together with `extra_ca_file`.
const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// One git command against one URL.
pub(crate) struct Invocation<'a> {
    pub url: &'a GitUrl,
    pub credential: Option<&'a Credential>,
    pub policy: &'a NetworkPolicy,
    /// The repository's git directory and work tree (fetch, push); none for clone.
    pub repository: Option<(&'a Path, &'a Path)>,
    /// The subcommand and its arguments.
    pub args: Vec<OsString>,
    /// Names what a "remote branch not found" error is about.
    pub branch: Option<&'a str>,
    /// A folder git writes to and the most it may hold, in bytes.
    pub size_limit: Option<(&'a Path, u64)>,
}

/// Resolves the URL's host and checks every address against the policy.
/// Returns the addresses to pin (none for an IP-literal host).
pub(crate) fn check_destination(url: &GitUrl, policy: &NetworkPolicy) -> Result<Vec<IpAddr>, GitError> {
    let outbound = policy.outbound();
    if let Some(address) = url.ip_literal() {
        outbound.check(address).map_err(|_| GitError::ForbiddenAddress { host: url.host(), address })?;
        return Ok(Vec::new());
    }
    let host = url.host();
    let port = url.port();
    let (sender, receiver) = mpsc::channel();
    let lookup_host = host.clone();
    thread::Builder::new().name("git-resolve".into()).spawn(move || {
        let result = (lookup_host.as_str(), port).to_socket_addrs().map(|addresses| addresses.collect::<Vec<_>>());
        let _ = sender.send(result);
    })?;
    let addresses = match receiver.recv_timeout(policy.timeout.min(RESOLVE_TIMEOUT)) {
        Ok(Ok(addresses)) => addresses,
        Ok(Err(_)) => return Err(GitError::Network(format!("could not resolve host {host}"))),
        Err(_) => return Err(GitError::Network(format!("resolving host {host} timed out"))),
    };
    let mut ips: Vec<IpAddr> = addresses.iter().map(|address| address.ip()).collect();
    ips.sort();
    ips.dedup();
    if ips.is_empty() {
        return Err(GitError::Network(format!("could not resolve host {host}")));
    }
    for ip in &ips {
        outbound.check(*ip).map_err(|_| GitError::ForbiddenAddress { host: host.clone(), address: *ip })?;
    }
    Ok(ips)
}

/// The `http.curloptResolve` entry pinning `host:port` to the checked addresses.
pub(crate) fn resolve_pin(url: &GitUrl, addresses: &[IpAddr]) -> Option<String> {
    if addresses.is_empty() {
        return None;
    }
    let list: Vec<String> = addresses
        .iter()
        .map(|ip| match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        })
        .collect();
    Some(format!("{}:{}:{}", url.host(), url.port(), list.join(",")))
}

/// The `-c` settings every network git command runs with.
pub(crate) fn hardening_config(
    url: &GitUrl,
    policy: &NetworkPolicy,
    pin: Option<&str>,
    ca_file: Option<&Path>,
) -> Vec<String> {
    let mut config = vec![
        "protocol.allow=never".to_owned(),
        "protocol.https.allow=always".to_owned(),
        format!("protocol.http.allow={}", if policy.allow_http && url.is_http() { "always" } else { "never" }),
        "protocol.file.allow=never".to_owned(),
        "protocol.ssh.allow=never".to_owned(),
        "protocol.git.allow=never".to_owned(),
        "protocol.ext.allow=never".to_owned(),
        "http.followRedirects=false".to_owned(),
        "http.sslVerify=true".to_owned(),
        "http.proxy=".to_owned(),
        "http.lowSpeedLimit=1000".to_owned(),
        "http.lowSpeedTime=60".to_owned(),
        "core.hooksPath=/dev/null".to_owned(),
        "core.fsmonitor=false".to_owned(),
        "core.askPass=".to_owned(),
        "credential.helper=".to_owned(),
        "transfer.bundleURI=false".to_owned(),
        "submodule.recurse=false".to_owned(),
        "gc.auto=0".to_owned(),
        "maintenance.auto=false".to_owned(),
    ];
    if let Some(pin) = pin {
        config.push(format!("http.curloptResolve={pin}"));
    }
    if let Some(ca_file) = ca_file {
        config.push(format!("http.sslCAInfo={}", ca_file.display()));
    }
    config
}

/// Runs one git command; see the module documentation.
pub(crate) fn run(
    invocation: Invocation<'_>,
    mut progress: Option<&mut dyn FnMut(TransferProgress)>,
) -> Result<(), GitError> {
    let Invocation { url, credential, policy, repository, args, branch, size_limit } = invocation;
    let addresses = check_destination(url, policy)?;
    let pin = resolve_pin(url, &addresses);

    let home = ScratchDir::new()?;
    let ca_file = match &policy.extra_ca_file {
        Some(extra) => Some(ca_bundle(home.path(), extra)?),
        None => None,
    };
    let secrets = Secrets::new(credential);

    let mut command = Command::new(&policy.git_binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()))
        .env("HOME", home.path())
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ALLOW_PROTOCOL", if policy.allow_http && url.is_http() { "https:http" } else { "https" })
        .env("GIT_CEILING_DIRECTORIES", home.path())
        .current_dir(home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills git's helpers too.
        .process_group(0);
    if let Some(header) = secrets.header() {
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", header);
    }
    for setting in hardening_config(url, policy, pin.as_deref(), ca_file.as_deref()) {
        command.arg("-c").arg(setting);
    }
    if let Some((git_dir, work_tree)) = repository {
        let mut git_dir_arg = OsString::from("--git-dir=");
        git_dir_arg.push(git_dir);
        let mut work_tree_arg = OsString::from("--work-tree=");
        work_tree_arg.push(work_tree);
        command.arg(git_dir_arg).arg(work_tree_arg);
    }
    command.args(&args);

    let mut child = command.spawn().map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => GitError::GitUnavailable(format!("{} not found", policy.git_binary.display())),
        _ => GitError::GitUnavailable(error.to_string()),
    })?;
    let mut watch = size_limit.map(|(folder, limit)| SizeWatch::new(folder, limit));
    let finished = supervise(&mut child, policy.timeout, &mut progress, watch.as_mut());
    let (status, stderr) = match finished {
        Ok(result) => result,
        Err(Supervision::TimedOut) => return Err(GitError::Timeout(policy.timeout)),
        Err(Supervision::TooLarge(limit)) => return Err(GitError::TooLarge { limit }),
        Err(Supervision::Io(error)) => return Err(GitError::Io(error)),
    };
    if status.success() { Ok(()) } else { Err(classify(&secrets.scrub(&stderr), branch)) }
}

enum Supervision {
    TimedOut,
    TooLarge(u64),
    Io(io::Error),
}

/// The least time between two looks at a watched folder's size.
const SIZE_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Looks at how much a folder holds, now and then, while git writes to it.
struct SizeWatch<'a> {
    folder: &'a Path,
    limit: u64,
    next: Instant,
}

impl<'a> SizeWatch<'a> {
    fn new(folder: &'a Path, limit: u64) -> SizeWatch<'a> {
        SizeWatch { folder, limit, next: Instant::now() + SIZE_CHECK_INTERVAL }
    }

    /// The limit, when the last look is long enough ago and the folder holds more.
    fn exceeded_by_now(&mut self) -> Option<u64> {
        let started = Instant::now();
        if started < self.next {
            return None;
        }
        let exceeded = holds_more_than(self.folder, self.limit);
        // A big tree is looked at less often, so the walks stay a small share of the time.
        self.next = Instant::now() + SIZE_CHECK_INTERVAL.max(started.elapsed() * 4);
        exceeded.then_some(self.limit)
    }
}

/// Whether the files under `folder` (links not followed) add up to more than
/// `limit` bytes. The walk stops as soon as it has counted past the limit.
pub(crate) fn holds_more_than(folder: &Path, limit: u64) -> bool {
    let mut bytes = 0u64;
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else { continue };
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                bytes = bytes.saturating_add(metadata.len());
                if bytes > limit {
                    return true;
                }
            }
        }
    }
    false
}

/// Waits for the child, feeding progress lines as they come, and kills its
/// process group when the time is up or the watched folder grew too large.
fn supervise(
    child: &mut Child,
    timeout: Duration,
    progress: &mut Option<&mut dyn FnMut(TransferProgress)>,
    mut watch: Option<&mut SizeWatch<'_>>,
) -> Result<(ExitStatus, String), Supervision> {
    let deadline = Instant::now() + timeout;
    let mut too_large = |child: &mut Child| match watch.as_mut().and_then(|watch| watch.exceeded_by_now()) {
        Some(limit) => {
            kill_group(child);
            Err(Supervision::TooLarge(limit))
        }
        None => Ok(()),
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        kill_group(child);
        return Err(Supervision::Io(io::Error::other("git's output pipes are missing")));
    };
    // Nothing on stdout matters; drain it so git never blocks on a full pipe.
    let stdout_reader = thread::spawn(move || {
        let mut stdout = stdout;
        let _ = io::copy(&mut stdout, &mut io::sink());
    });
    let (line_sender, lines) = mpsc::channel::<String>();
    let stderr_reader = thread::spawn(move || {
        let mut stderr = stderr;
        let mut buffer = [0u8; 8192];
        let mut pending = Vec::new();
        loop {
            match stderr.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    for &byte in &buffer[..read] {
                        if byte == b'\r' || byte == b'\n' {
                            if !pending.is_empty() {
                                let _ = line_sender.send(String::from_utf8_lossy(&pending).into_owned());
                                pending.clear();
                            }
                        } else if pending.len() < 4096 {
                            pending.push(byte);
                        }
                    }
                }
            }
        }
        if !pending.is_empty() {
            let _ = line_sender.send(String::from_utf8_lossy(&pending).into_owned());
        }
    });

    let mut stderr_text = String::new();
    let mut last_progress = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            kill_group(child);
            return Err(Supervision::TimedOut);
        }
        too_large(child)?;
        match lines.recv_timeout((deadline - now).min(Duration::from_millis(200))) {
            Ok(line) => {
                if let Some(update) = parse_progress(&line) {
                    if last_progress != Some(update) {
                        last_progress = Some(update);
                        if let Some(callback) = progress.as_mut() {
                            callback(update);
                        }
                    }
                } else if !is_progress_noise(&line) {
                    stderr_text.push_str(&line);
                    stderr_text.push('\n');
                    if stderr_text.len() > MAX_STDERR {
                        let cut = stderr_text.len() - MAX_STDERR / 2;
                        let cut = (cut..stderr_text.len()).find(|i| stderr_text.is_char_boundary(*i)).unwrap_or(0);
                        stderr_text.drain(..cut);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(child);
                return Err(Supervision::TimedOut);
            }
            Ok(None) => {
                too_large(child)?;
                thread::sleep(Duration::from_millis(20));
            }
            Err(error) => {
                kill_group(child);
                return Err(Supervision::Io(error));
            }
        }
    };
    let _ = stderr_reader.join();
    let _ = stdout_reader.join();
    Ok((status, stderr_text))
}

fn kill_group(child: &mut Child) {
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// Parses `Receiving objects:  45% (450/1000), 1.20 MiB | 2.00 MiB/s`.
pub(crate) fn parse_progress(line: &str) -> Option<TransferProgress> {
    let rest = line.trim_start().strip_prefix("Receiving objects:")?;
    let open = rest.find('(')?;
    let close = open + rest[open..].find(')')?;
    let (objects, total) = rest[open + 1..close].split_once('/')?;
    let objects = objects.trim().parse().ok()?;
    let total_objects = total.trim().parse().ok()?;
    let after = &rest[close + 1..];
    let bytes = after
        .strip_prefix(',')
        .map(|sizes| sizes.split('|').next().unwrap_or_default().trim())
        .and_then(parse_size)
        .unwrap_or(0);
    Some(TransferProgress { objects, total_objects, bytes })
}

/// Parses git's human sizes: `123 bytes`, `1.20 KiB`, `3.00 MiB`, `1.5 GiB`.
fn parse_size(text: &str) -> Option<u64> {
    let (number, unit) = text.split_once(' ')?;
    let multiplier: f64 = match unit.trim() {
        "byte" | "bytes" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let value: f64 = number.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a finite, non-negative size")]
    Some((value * multiplier).round() as u64)
}

/// Progress lines that say nothing about a failure.
fn is_progress_noise(line: &str) -> bool {
    let line = line.trim_start().strip_prefix("remote:").unwrap_or(line).trim_start();
    [
        "Counting objects:",
        "Compressing objects:",
        "Enumerating objects:",
        "Resolving deltas:",
        "Receiving objects:",
        "Writing objects:",
        "Total ",
        "Delta compression",
        "Updating files:",
        "Checking connectivity",
    ]
    .iter()
    .any(|prefix| line.starts_with(prefix))
}

/// Maps git's (scrubbed, `LC_ALL=C`) stderr to an error.
pub(crate) fn classify(stderr: &str, branch: Option<&str>) -> GitError {
    // Match on git's words, not on the URLs it quotes (a repository named
    // "openssl" is not a TLS error).
    let lower = strip_quoted(stderr).to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    let detail = summary(stderr);
    if has("non-fast-forward") || has("(fetch first)") || has("[rejected]") || has("updates were rejected") {
        GitError::NonFastForward
    } else if has("[remote rejected]") || has("pre-receive hook declined") {
        GitError::RemoteRejected(detail)
    } else if has("could not read username")
        || has("could not read password")
        || has("authentication failed")
        || has("terminal prompts disabled")
        || has("error: 401")
        || has("error: 403")
        || has("http 401")
        || has("http 403")
        || has("invalid credentials")
        || has("access denied")
    {
        GitError::AuthFailed
    } else if (has("remote branch") && has("not found")) || has("couldn't find remote ref") {
        GitError::BranchNotFound(branch.unwrap_or_default().to_owned())
    } else if (has("repository") && has("not found")) || has("error: 404") || has("http 404") {
        GitError::RemoteRepositoryNotFound
    } else if has("ssl") || has("tls") || has("certificate") || has("gnutls") || has("handshake") {
        GitError::Tls(detail)
    } else if has("could not resolve")
        || has("couldn't resolve")
        || has("failed to connect")
        || has("couldn't connect")
        || has("connection refused")
        || has("connection reset")
        || has("connection timed out")
        || has("operation timed out")
        || has("network is unreachable")
        || has("no route to host")
        || has("unable to access")
        || has("rpc failed")
        || has("early eof")
        || has("the remote end hung up")
        || has("error: 30")
        || has("redirect")
    {
        GitError::Network(detail)
    } else if has("transport") && has("not allowed") || has("unsupported protocol") {
        GitError::InvalidUrl { reason: detail }
    } else {
        GitError::CommandFailed(detail)
    }
}

/// The text with the URLs git quotes (`'https://…'`) removed.
fn strip_quoted(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("'http") {
        kept.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('\'') {
            Some(end) => {
                kept.push_str("''");
                rest = &after[end + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    kept.push_str(rest);
    kept
}

/// The lines of git's stderr that explain a failure, shortened.
fn summary(stderr: &str) -> String {
    let lines: Vec<&str> =
        stderr.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with("hint:")).collect();
    let important: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("fatal:") || line.starts_with("error:") || line.starts_with('!'))
        .collect();
    let chosen = if important.is_empty() { lines } else { important };
    let start = chosen.len().saturating_sub(4);
    let mut text = chosen[start..].join("; ");
    if text.len() > 500 {
        let cut = (0..=500).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The credential in every form it could show up in, for scrubbing.
struct Secrets {
    header: Option<String>,
    needles: Vec<String>,
}

impl Secrets {
    fn new(credential: Option<&Credential>) -> Secrets {
        let Some(credential) = credential else { return Secrets { header: None, needles: Vec::new() } };
        let pair = format!("{}:{}", credential.username, credential.token);
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
        let mut needles = vec![encoded.clone(), pair];
        if !credential.token.is_empty() {
            needles.push(credential.token.clone());
        }
        needles.sort_by_key(|needle| std::cmp::Reverse(needle.len()));
        Secrets { header: Some(format!("Authorization: Basic {encoded}")), needles }
    }

    fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for needle in &self.needles {
            if !needle.is_empty() {
                text = text.replace(needle.as_str(), "[redacted]");
            }
        }
        text
    }
}

/// Writes the system CA bundle followed by the extra one into `dir`, so git
/// trusts both (`http.sslCAInfo` replaces the default bundle).
fn ca_bundle(dir: &Path, extra: &Path) -> Result<PathBuf, GitError> {
    let extra_pem = fs::read(extra)
        .map_err(|error| GitError::Io(io::Error::new(error.kind(), format!("reading {}: {error}", extra.display()))))?;
    let mut bundle = SYSTEM_CA_BUNDLES.iter().find_map(|path| fs::read(path).ok()).unwrap_or_default();
    if !bundle.is_empty() && !bundle.ends_with(b"\n") {
        bundle.push(b'\n');
    }
    bundle.extend_from_slice(&extra_pem);
    let path = dir.join("ca-bundle.pem");
    fs::write(&path, bundle)?;
    Ok(path)
}

/// A private (0700) directory under the system temp dir, removed on drop.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn new() -> Result<ScratchDir, GitError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("dockyard-git-{}-{nanos:x}-{n}", std::process::id()));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(ScratchDir(path)),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(GitError::Io(io::Error::other("could not create a temporary directory")))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_parsed() {
        assert_eq!(
            parse_progress("Receiving objects:  45% (450/1000), 1.20 MiB | 2.00 MiB/s"),
            Some(TransferProgress { objects: 450, total_objects: 1000, bytes: 1_258_291 })
        );
        assert_eq!(
            parse_progress("Receiving objects: 100% (3/3), done."),
            Some(TransferProgress { objects: 3, total_objects: 3, bytes: 0 })
        );
        assert_eq!(
            parse_progress("Receiving objects: 100% (12/12), 512 bytes | 512.00 KiB/s, done."),
            Some(TransferProgress { objects: 12, total_objects: 12, bytes: 512 })
        );
        assert_eq!(parse_progress("Resolving deltas: 100% (1/1), done."), None);
        assert_eq!(parse_progress("Receiving objects: (garbage"), None);
    }

    #[test]
    fn secrets_are_scrubbed_in_every_form() {
        let secrets = Secrets::new(Some(&Credential { username: "bot".into(), token: "tok3n".into() }));
        let header = secrets.header().unwrap_or_default().to_owned();
        let encoded = header.trim_start_matches("Authorization: Basic ");
        let text = format!("fatal: tok3n bot:tok3n {encoded}");
        let scrubbed = secrets.scrub(&text);
        assert!(!scrubbed.contains("tok3n") && !scrubbed.contains(encoded), "{scrubbed}");
    }

    #[test]
    fn stderr_maps_to_codes() {
        let cases = [
            ("fatal: could not read Username for 'https://h': terminal prompts disabled", "git_auth_failed"),
            ("fatal: Authentication failed for 'https://h/r/'", "git_auth_failed"),
            (
                " ! [rejected]        main -> main (non-fast-forward)\nerror: failed to push some refs",
                "git_non_fast_forward",
            ),
            (" ! [rejected]        main -> main (fetch first)", "git_non_fast_forward"),
            (" ! [remote rejected] main -> main (pre-receive hook declined)", "git_remote_rejected"),
            ("fatal: unable to access 'https://h/': Could not resolve host: h", "git_network"),
            ("fatal: unable to access 'https://h/': Failed to connect to h port 443", "git_network"),
            ("fatal: Remote branch nope not found in upstream origin", "git_branch_not_found"),
            ("fatal: couldn't find remote ref refs/heads/nope", "git_branch_not_found"),
            (
                "remote: Repository not found.\nfatal: repository 'https://h/r/' not found",
                "git_remote_repository_not_found",
            ),
            ("fatal: unable to access 'https://h/': server certificate verification failed. CAfile: x", "git_tls"),
            ("fatal: something else", "git_command_failed"),
        ];
        for (stderr, code) in cases {
            assert_eq!(classify(stderr, Some("nope")).code(), code, "{stderr}");
        }
    }

    #[test]
    fn the_pin_lists_every_checked_address() {
        let policy = NetworkPolicy { allow_private: true, ..NetworkPolicy::default() };
        let url = GitUrl::parse("https://git.example.com/r.git", &policy).expect("valid");
        let addresses: Vec<IpAddr> = vec!["192.0.2.1".parse().expect("ip"), "2001:db8::1".parse().expect("ip")];
        assert_eq!(resolve_pin(&url, &addresses).as_deref(), Some("git.example.com:443:192.0.2.1,[2001:db8::1]"));
        assert_eq!(resolve_pin(&url, &[]), None);
        let config = hardening_config(&url, &policy, resolve_pin(&url, &addresses).as_deref(), None);
        assert!(config.contains(&"http.curloptResolve=git.example.com:443:192.0.2.1,[2001:db8::1]".to_owned()));
        assert!(config.contains(&"http.followRedirects=false".to_owned()));
        assert!(config.contains(&"protocol.http.allow=never".to_owned()));
    }
}
