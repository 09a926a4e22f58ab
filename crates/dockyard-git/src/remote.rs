//! Remotes (configuration, through libgit2) and the network operations
//! (clone, fetch, pull, push, through the hardened `git` CLI in `cli`).
//!
//! Fetch and push never let git pick the URL from the repository's
//! configuration: we read the remote's URL, validate it as a [`GitUrl`] and
//! hand git exactly that URL with explicit refspecs, then update the
//! remote-tracking refs and upstream settings ourselves. A repository whose
//! configuration could redirect or proxy git's connections (`url.*`, `http.*`,
//! `include*`, `remote.*.proxy`, promisor remotes, …) or make it run programs
//! (`gpg.*`, `core.sshCommand`, …) is refused (`git_unsafe_config`), because the
//! repository's own config is the one git always reads; hooks, fsmonitor and
//! credential helpers are switched off on the command line instead.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::Path;

use git2::{BranchType, ConfigLevel, Repository};
use serde::Serialize;

use crate::GitError;
use crate::branch::checkout_safely;
use crate::cli::{self, Invocation, TransferProgress};
use crate::repo::{check_branch_name, check_remote_name, head_branch, head_commit, open};
use crate::url::{Credential, GitUrl, NetworkPolicy, redact_url};

/// A configured remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteInfo {
    pub name: String,
    /// The fetch URL, with any user info removed.
    pub url: String,
}

/// Lists the remotes, sorted by name.
pub fn remotes(root: &Path) -> Result<Vec<RemoteInfo>, GitError> {
    let repo = open(root)?;
    let mut list = Vec::new();
    for name in repo.remotes()?.iter().flatten().flatten() {
        let Ok(remote) = repo.find_remote(name) else { continue };
        let url = remote.url_bytes();
        list.push(RemoteInfo { name: name.to_owned(), url: redact_url(&String::from_utf8_lossy(url)) });
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

/// Adds a remote with the default fetch refspec.
pub fn add_remote(root: &Path, name: &str, url: &GitUrl) -> Result<(), GitError> {
    check_remote_name(name)?;
    let repo = open(root)?;
    if repo.find_remote(name).is_ok() {
        return Err(GitError::RemoteExists(name.to_owned()));
    }
    repo.remote(name, url.as_str()).map_err(|error| match error.code() {
        git2::ErrorCode::Exists => GitError::RemoteExists(name.to_owned()),
        _ => error.into(),
    })?;
    Ok(())
}

/// Changes a remote's URL.
pub fn set_remote_url(root: &Path, name: &str, url: &GitUrl) -> Result<(), GitError> {
    check_remote_name(name)?;
    let repo = open(root)?;
    repo.find_remote(name).map_err(|_| GitError::RemoteNotFound(name.to_owned()))?;
    repo.remote_set_url(name, url.as_str())?;
    Ok(())
}

/// Removes a remote and its remote-tracking branches.
pub fn remove_remote(root: &Path, name: &str) -> Result<(), GitError> {
    check_remote_name(name)?;
    let repo = open(root)?;
    repo.find_remote(name).map_err(|_| GitError::RemoteNotFound(name.to_owned()))?;
    repo.remote_delete(name)?;
    Ok(())
}

/// How to clone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloneOptions<'a> {
    /// The branch to check out (default: the remote's HEAD).
    pub branch: Option<&'a str>,
    /// History depth; `None` clones the full history. Shallow (1) by default.
    pub depth: Option<u32>,
    /// The most the clone may take on disk, its `.git` included. git is watched
    /// while it runs and stopped once the folder grows past this, so a huge
    /// repository is refused before it fills the disk (`git_too_large`).
    pub max_bytes: Option<u64>,
}

impl Default for CloneOptions<'_> {
    fn default() -> Self {
        CloneOptions { branch: None, depth: Some(1), max_bytes: None }
    }
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullOutcome {
    /// Whether the branch moved.
    pub updated: bool,
    /// The commit the branch is at now.
    pub head: String,
}

/// Clones `url` into `dest` (which must not exist or be an empty folder).
/// `progress` is called as objects arrive. On failure `dest` is left as it was.
pub fn clone(
    url: &GitUrl,
    dest: &Path,
    options: CloneOptions<'_>,
    credential: Option<&Credential>,
    policy: &NetworkPolicy,
    progress: &mut dyn FnMut(TransferProgress),
) -> Result<(), GitError> {
    if let Some(branch) = options.branch {
        check_branch_name(branch)?;
    }
    if options.depth == Some(0) {
        return Err(GitError::InvalidArgument("depth must be at least 1".into()));
    }
    let created = match fs::symlink_metadata(dest) {
        Ok(metadata) if metadata.is_dir() => {
            if crate::is_repository(dest) {
                return Err(GitError::AlreadyARepository);
            }
            if fs::read_dir(dest)?.next().is_some() {
                return Err(GitError::DestinationNotEmpty);
            }
            false
        }
        Ok(_) => return Err(GitError::DestinationNotEmpty),
        Err(_) => true,
    };

    let mut args: Vec<OsString> = vec!["clone".into(), "--progress".into(), "--no-recurse-submodules".into()];
    if let Some(depth) = options.depth {
        args.push(format!("--depth={depth}").into());
    }
    if let Some(branch) = options.branch {
        args.push(format!("--branch={branch}").into());
    }
    args.push("--".into());
    args.push(url.as_str().into());
    args.push(dest.as_os_str().to_owned());
    let invocation = Invocation {
        url,
        credential,
        policy,
        repository: None,
        args,
        branch: options.branch,
        size_limit: options.max_bytes.map(|limit| (dest, limit)),
    };
    let result = cli::run(invocation, Some(progress)).and_then(|_| {
        if !crate::is_repository(dest) {
            return Err(GitError::CommandFailed("git clone left no repository".into()));
        }
        // What git wrote after the watch's last look counts too.
        match options.max_bytes {
            Some(limit) if cli::holds_more_than(dest, limit) => Err(GitError::TooLarge { limit }),
            _ => Ok(()),
        }
    });
    if result.is_err() {
        clean_up(dest, created);
    }
    result
}

/// Removes what a failed clone left: the folder if we created it, else its contents.
fn clean_up(dest: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(dest);
    } else if let Ok(entries) = fs::read_dir(dest) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
        }
    }
}

/// Fetches a remote's branches into its remote-tracking branches. With
/// `max_bytes`, git is stopped (`git_too_large`) once the folder, work tree and
/// `.git` together, holds more than that.
pub fn fetch(
    root: &Path,
    remote: &str,
    credential: Option<&Credential>,
    policy: &NetworkPolicy,
    max_bytes: Option<u64>,
) -> Result<(), GitError> {
    let repo = open_for_network(root)?;
    let url = remote_url(&repo, remote, policy)?;
    let refspecs = {
        let configured = repo.find_remote(remote)?.fetch_refspecs()?;
        let mut refspecs: Vec<String> = configured.iter().flatten().flatten().map(str::to_owned).collect();
        if refspecs.is_empty() {
            refspecs.push(format!("+refs/heads/*:refs/remotes/{remote}/*"));
        }
        if let Some(bad) =
            refspecs.iter().find(|refspec| refspec.starts_with('-') || refspec.chars().any(char::is_control))
        {
            return Err(GitError::UnsafeConfig { key: format!("remote.{remote}.fetch = {bad}") });
        }
        refspecs
    };
    run_in(&repo, root, &url, credential, policy, "fetch", refspecs, None, max_bytes)
}

/// Fetches one branch of a remote and fast-forwards the current branch to it.
/// `branch` defaults to the current branch's upstream on that remote, else to a
/// branch of the same name. Refuses (`git_diverged`) when a fast-forward is not
/// possible, and (`git_would_overwrite`) when local changes are in the way.
/// `max_bytes` bounds the fetch as in [`fetch`], and the fast-forward's checkout.
pub fn pull(
    root: &Path,
    remote: &str,
    branch: Option<&str>,
    credential: Option<&Credential>,
    policy: &NetworkPolicy,
    max_bytes: Option<u64>,
) -> Result<PullOutcome, GitError> {
    let repo = open_for_network(root)?;
    let url = remote_url(&repo, remote, policy)?;
    let local = head_branch(&repo)?.ok_or(GitError::DetachedHead)?;
    let remote_branch = match branch {
        Some(branch) => branch.to_owned(),
        None => upstream_branch_on(&repo, &local, remote).unwrap_or_else(|| local.clone()),
    };
    check_branch_name(&remote_branch)?;
    let tracking = format!("refs/remotes/{remote}/{remote_branch}");
    let refspec = format!("+refs/heads/{remote_branch}:{tracking}");
    run_in(&repo, root, &url, credential, policy, "fetch", vec![refspec], Some(&remote_branch), max_bytes)?;

    let target = repo
        .find_reference(&tracking)
        .and_then(|reference| reference.peel_to_commit())
        .map_err(|_| GitError::BranchNotFound(remote_branch.clone()))?;
    let local_ref = format!("refs/heads/{local}");
    let message = format!("pull: fast-forward to {remote}/{remote_branch}");
    match head_commit(&repo)? {
        None => {
            checkout_safely(&repo, &target, max_bytes)?;
            repo.reference(&local_ref, target.id(), false, &message)?;
            Ok(PullOutcome { updated: true, head: target.id().to_string() })
        }
        Some(current) if current.id() == target.id() || repo.graph_descendant_of(current.id(), target.id())? => {
            Ok(PullOutcome { updated: false, head: current.id().to_string() })
        }
        Some(current) if repo.graph_descendant_of(target.id(), current.id())? => {
            checkout_safely(&repo, &target, max_bytes)?;
            repo.find_reference(&local_ref)?.set_target(target.id(), &message)?;
            Ok(PullOutcome { updated: true, head: target.id().to_string() })
        }
        Some(_) => Err(GitError::Diverged),
    }
}

/// Pushes a local branch to the branch of the same name on a remote; with
/// `set_upstream`, makes that the branch's upstream.
pub fn push(
    root: &Path,
    remote: &str,
    branch: &str,
    set_upstream: bool,
    credential: Option<&Credential>,
    policy: &NetworkPolicy,
) -> Result<(), GitError> {
    check_branch_name(branch)?;
    let repo = open_for_network(root)?;
    let url = remote_url(&repo, remote, policy)?;
    let tip = repo
        .find_branch(branch, BranchType::Local)
        .map_err(|_| GitError::BranchNotFound(branch.to_owned()))?
        .get()
        .peel_to_commit()?
        .id();
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    run_in(&repo, root, &url, credential, policy, "push", vec![refspec], Some(branch), None)?;

    repo.reference(&format!("refs/remotes/{remote}/{branch}"), tip, true, "push")?;
    if set_upstream {
        let mut config = repo.config()?.open_level(ConfigLevel::Local)?;
        config.set_str(&format!("branch.{branch}.remote"), remote)?;
        config.set_str(&format!("branch.{branch}.merge"), &format!("refs/heads/{branch}"))?;
    }
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "one call site per network operation; a struct would only rename them")]
fn run_in(
    repo: &Repository,
    root: &Path,
    url: &GitUrl,
    credential: Option<&Credential>,
    policy: &NetworkPolicy,
    subcommand: &str,
    refspecs: Vec<String>,
    branch: Option<&str>,
    max_bytes: Option<u64>,
) -> Result<(), GitError> {
    let mut args: Vec<OsString> =
        vec![subcommand.into(), "--no-recurse-submodules".into(), "--".into(), url.as_str().into()];
    args.extend(refspecs.into_iter().map(OsString::from));
    let packs = repo.path().join("objects").join("pack");
    let packs_before = temporary_packs(&packs);
    let size_limit = max_bytes.map(|limit| (root, limit));
    let invocation =
        Invocation { url, credential, policy, repository: Some((repo.path(), root)), args, branch, size_limit };
    let result = cli::run(invocation, None);
    if matches!(result, Err(GitError::Timeout(_) | GitError::TooLarge { .. })) {
        // git was killed: the pack it was receiving is left as `tmp_*` files.
        for stale in temporary_packs(&packs).difference(&packs_before) {
            let _ = fs::remove_file(packs.join(stale));
        }
    }
    result
}

/// The names of the unfinished packs (`tmp_pack_*`, `tmp_idx_*`, …) in `dir`.
fn temporary_packs(dir: &Path) -> BTreeSet<OsString> {
    let Ok(entries) = fs::read_dir(dir) else { return BTreeSet::new() };
    entries
        .flatten()
        .map(|entry| entry.file_name())
        .filter(|name| name.as_encoded_bytes().starts_with(b"tmp_"))
        .collect()
}

fn open_for_network(root: &Path) -> Result<Repository, GitError> {
    let repo = open(root)?;
    check_config(&repo)?;
    Ok(repo)
}

/// The validated URL of a configured remote.
fn remote_url(repo: &Repository, name: &str, policy: &NetworkPolicy) -> Result<GitUrl, GitError> {
    check_remote_name(name)?;
    let remote = repo.find_remote(name).map_err(|_| GitError::RemoteNotFound(name.to_owned()))?;
    let url = std::str::from_utf8(remote.url_bytes())
        .map_err(|_| GitError::InvalidUrl { reason: "the remote's URL is not UTF-8".into() })?;
    GitUrl::parse(url, policy)
}

/// The name of `local`'s upstream branch when its upstream remote is `remote`.
fn upstream_branch_on(repo: &Repository, local: &str, remote: &str) -> Option<String> {
    let config = repo.config().ok()?;
    let configured_remote = config.get_string(&format!("branch.{local}.remote")).ok()?;
    if configured_remote != remote {
        return None;
    }
    let merge = config.get_string(&format!("branch.{local}.merge")).ok()?;
    merge.strip_prefix("refs/heads/").map(str::to_owned)
}

/// Refuses a repository whose own configuration could send git's connections
/// somewhere else or run programs during a network operation.
pub(crate) fn check_config(repo: &Repository) -> Result<(), GitError> {
    let config = repo.config()?;
    for level in [ConfigLevel::Local, ConfigLevel::Worktree] {
        let Ok(level_config) = config.open_level(level) else { continue };
        let mut entries = level_config.entries(None)?;
        while let Some(entry) = entries.next() {
            let entry = entry?;
            let name = String::from_utf8_lossy(entry.name_bytes()).to_ascii_lowercase();
            if is_unsafe_key(&name) {
                return Err(GitError::UnsafeConfig { key: name });
            }
        }
    }
    Ok(())
}

fn is_unsafe_key(name: &str) -> bool {
    let section = name.split('.').next().unwrap_or_default();
    let key = name.rsplit('.').next().unwrap_or_default();
    match section {
        // Where connections go, what they carry, and other files to read config from.
        "http" | "url" | "include" | "includeif" | "protocol" | "credential" | "bundle" | "ssh" | "trace2" => true,
        // Programs git would run: signing a push runs gpg.program.
        "gpg" => true,
        "push" => key == "gpgsign",
        "core" => {
            matches!(key, "gitproxy" | "sshcommand" | "askpass" | "alternaterefscommand" | "alternaterefsprefixes")
        }
        // A promisor remote is fetched from lazily, at its own URL.
        "remote" => matches!(
            key,
            "proxy" | "proxyauthmethod" | "vcs" | "uploadpack" | "receivepack" | "promisor" | "partialclonefilter"
        ),
        "extensions" => key == "partialclone",
        "fetch" | "transfer" => key == "bundleuri",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_redirect_or_run_programs_are_unsafe() {
        for key in [
            "url.https://evil/.insteadof",
            "http.proxy",
            "http.https://github.com/.proxy",
            "http.extraheader",
            "include.path",
            "includeif.gitdir:/x.path",
            "protocol.file.allow",
            "credential.helper",
            "core.sshcommand",
            "core.gitproxy",
            "remote.origin.proxy",
            "remote.origin.vcs",
            "fetch.bundleuri",
            "gpg.program",
            "push.gpgsign",
            "remote.evil.promisor",
            "extensions.partialclone",
        ] {
            assert!(is_unsafe_key(key), "{key}");
        }
        for key in [
            "core.bare",
            "core.filemode",
            "remote.origin.url",
            "remote.origin.fetch",
            "branch.main.remote",
            "user.name",
        ] {
            assert!(!is_unsafe_key(key), "{key}");
        }
    }
}
