//! Branches: list, create, switch (a safe checkout) and delete.

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{BranchType, CheckoutNotificationType, Commit, ErrorCode, ReferenceType, Repository};
use serde::Serialize;

use crate::GitError;
use crate::log::resolve_commit;
use crate::repo::{check_branch_name, head_branch, head_commit, open, path_text};

/// A local or remote-tracking branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BranchInfo {
    /// `main` for a local branch, `origin/main` for a remote-tracking one.
    pub name: String,
    /// Whether HEAD is on it.
    pub current: bool,
    /// The commit it points at.
    pub head: String,
    /// The upstream of a local branch, like `origin/main`.
    pub upstream: Option<String>,
    /// Whether it is a remote-tracking branch.
    pub remote: bool,
}

/// Lists local branches, then remote-tracking ones, each sorted by name.
/// Symbolic refs such as `origin/HEAD` are left out.
pub fn branches(root: &Path) -> Result<Vec<BranchInfo>, GitError> {
    let repo = open(root)?;
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for item in repo.branches(None)? {
        let (branch, kind) = item?;
        let reference = branch.get();
        if reference.kind() != Some(ReferenceType::Direct) {
            continue;
        }
        let Some(target) = reference.target() else { continue };
        let upstream = match kind {
            BranchType::Local => branch.upstream().ok().map(|upstream| path_text(upstream.get().shorthand_bytes())),
            BranchType::Remote => None,
        };
        let info = BranchInfo {
            name: path_text(reference.shorthand_bytes()),
            current: kind == BranchType::Local && branch.is_head(),
            head: target.to_string(),
            upstream,
            remote: kind == BranchType::Remote,
        };
        match kind {
            BranchType::Local => local.push(info),
            BranchType::Remote => remote.push(info),
        }
    }
    local.sort_by(|a, b| a.name.cmp(&b.name));
    remote.sort_by(|a, b| a.name.cmp(&b.name));
    local.extend(remote);
    Ok(local)
}

fn info_of(repo: &Repository, name: &str) -> Result<BranchInfo, GitError> {
    let branch = repo.find_branch(name, BranchType::Local).map_err(|_| GitError::BranchNotFound(name.to_owned()))?;
    let head = branch.get().target().map(|id| id.to_string()).unwrap_or_default();
    Ok(BranchInfo {
        name: name.to_owned(),
        current: branch.is_head(),
        head,
        upstream: branch.upstream().ok().map(|upstream| path_text(upstream.get().shorthand_bytes())),
        remote: false,
    })
}

/// Creates a local branch at `from` (a branch, tag or commit; default HEAD)
/// without switching to it.
pub fn create_branch(root: &Path, name: &str, from: Option<&str>) -> Result<BranchInfo, GitError> {
    check_branch_name(name)?;
    let repo = open(root)?;
    if repo.find_branch(name, BranchType::Local).is_ok() {
        return Err(GitError::BranchExists(name.to_owned()));
    }
    let target = match from {
        Some(from) => resolve_commit(&repo, from)?,
        None => head_commit(&repo)?.ok_or(GitError::NoCommits)?,
    };
    repo.branch(name, &target, false).map_err(|error| match error.code() {
        ErrorCode::Exists => GitError::BranchExists(name.to_owned()),
        _ => error.into(),
    })?;
    info_of(&repo, name)
}

/// Switches to a local branch. A remote-tracking name (`origin/x`), or a name
/// that only one remote has, creates a local branch tracking it first, as
/// `git switch` does. Refuses, touching nothing, when local changes would be
/// overwritten, and (`git_too_large`) when the folder would hold more than
/// `max_bytes` once the branch's files are out.
pub fn switch_branch(root: &Path, name: &str, max_bytes: Option<u64>) -> Result<BranchInfo, GitError> {
    if name.is_empty() || name.starts_with('-') || !git2::Reference::is_valid_name(&format!("refs/heads/{name}")) {
        return Err(GitError::InvalidBranchName(name.to_owned()));
    }
    let repo = open(root)?;
    if head_branch(&repo)?.as_deref() == Some(name) {
        return info_of(&repo, name);
    }
    let (local_name, target, tracking) = match repo.find_branch(name, BranchType::Local) {
        Ok(branch) => (name.to_owned(), branch.get().peel_to_commit()?, None),
        Err(_) => {
            let (remote_name, local_name) = remote_tracking_for(&repo, name)?;
            check_branch_name(&local_name)?;
            if repo.find_branch(&local_name, BranchType::Local).is_ok() {
                return Err(GitError::BranchExists(local_name));
            }
            let commit = repo.find_branch(&remote_name, BranchType::Remote)?.get().peel_to_commit()?;
            (local_name, commit, Some(remote_name))
        }
    };
    checkout_safely(&repo, &target, max_bytes)?;
    if let Some(remote_name) = tracking {
        repo.branch(&local_name, &target, false)?;
        // Written directly: libgit2's set_upstream needs the remote's fetch refspec
        // to cover the branch, which a single-branch clone's does not.
        if let Some((remote, remote_branch)) = remote_name.split_once('/') {
            let mut config = repo.config()?.open_level(git2::ConfigLevel::Local)?;
            config.set_str(&format!("branch.{local_name}.remote"), remote)?;
            config.set_str(&format!("branch.{local_name}.merge"), &format!("refs/heads/{remote_branch}"))?;
        }
    }
    repo.set_head(&format!("refs/heads/{local_name}"))?;
    info_of(&repo, &local_name)
}

/// The remote-tracking branch a switch to `name` means, and the local name to give it.
fn remote_tracking_for(repo: &Repository, name: &str) -> Result<(String, String), GitError> {
    if repo.find_branch(name, BranchType::Remote).is_ok()
        && let Some((remote, rest)) = name.split_once('/')
        && repo.find_remote(remote).is_ok()
        && !rest.is_empty()
        && rest != "HEAD"
    {
        return Ok((name.to_owned(), rest.to_owned()));
    }
    // `git switch x` with no local x: the one remote that has x.
    let mut candidates = Vec::new();
    for remote in repo.remotes()?.iter().flatten().flatten() {
        let candidate = format!("{remote}/{name}");
        if repo.find_branch(&candidate, BranchType::Remote).is_ok() {
            candidates.push(candidate);
        }
    }
    match candidates.len() {
        1 => Ok((candidates.swap_remove(0), name.to_owned())),
        _ => Err(GitError::BranchNotFound(name.to_owned())),
    }
}

/// Checks out `target`'s tree without overwriting local changes: on a conflict
/// nothing is changed and the conflicting paths are reported. With `max_bytes`,
/// a checkout that would take the folder past it is refused first
/// (`git_too_large`): a tree can be far larger than the objects that carry it.
pub(crate) fn checkout_safely(repo: &Repository, target: &Commit<'_>, max_bytes: Option<u64>) -> Result<(), GitError> {
    if let (Some(limit), Some(root)) = (max_bytes, repo.workdir()) {
        let current = match head_commit(repo)? {
            Some(head) => tree_bytes(repo, &head.tree()?)?,
            None => 0,
        };
        let growth = tree_bytes(repo, &target.tree()?)?.saturating_sub(current);
        if growth > 0 && crate::cli::holds_more_than(root, limit.saturating_sub(growth)) {
            return Err(GitError::TooLarge { limit });
        }
    }
    let mut conflicts = Vec::new();
    let result = {
        let mut builder = CheckoutBuilder::new();
        builder.safe().notify_on(CheckoutNotificationType::CONFLICT).notify(|_, path, _, _, _| {
            if let Some(path) = path {
                conflicts.push(path.to_string_lossy().into_owned());
            }
            true
        });
        repo.checkout_tree(target.as_object(), Some(&mut builder))
    };
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.code() == ErrorCode::Conflict || !conflicts.is_empty() => {
            conflicts.sort();
            conflicts.dedup();
            Err(GitError::WouldOverwrite(conflicts))
        }
        Err(error) => Err(error.into()),
    }
}

/// What the files of `tree` take, from the objects' headers (nothing is inflated).
fn tree_bytes(repo: &Repository, tree: &git2::Tree<'_>) -> Result<u64, GitError> {
    let odb = repo.odb()?;
    let mut total = 0u64;
    let mut failed = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            match odb.read_header(entry.id()) {
                Ok((size, _)) => total = total.saturating_add(size as u64),
                Err(error) => {
                    failed = Some(error);
                    return git2::TreeWalkResult::Abort;
                }
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    match failed {
        Some(error) => Err(error.into()),
        None => Ok(total),
    }
}

/// Deletes a local branch. Refuses the current branch, and one whose commits are
/// not merged into its upstream (or, without one, into HEAD) unless `force`.
pub fn delete_branch(root: &Path, name: &str, force: bool) -> Result<(), GitError> {
    let repo = open(root)?;
    let mut branch =
        repo.find_branch(name, BranchType::Local).map_err(|_| GitError::BranchNotFound(name.to_owned()))?;
    if branch.is_head() {
        return Err(GitError::BranchCheckedOut(name.to_owned()));
    }
    if !force {
        let tip = branch.get().target().ok_or_else(|| GitError::BranchNotFound(name.to_owned()))?;
        let base = match branch.upstream() {
            Ok(upstream) => upstream.get().target(),
            Err(_) => head_commit(&repo)?.map(|commit| commit.id()),
        };
        let merged = match base {
            Some(base) => base == tip || repo.graph_descendant_of(base, tip)?,
            None => false,
        };
        if !merged {
            return Err(GitError::BranchNotMerged(name.to_owned()));
        }
    }
    branch.delete().map_err(|error| {
        // libgit2 also refuses a branch checked out in a linked worktree.
        if error.class() == git2::ErrorClass::Reference && error.message().contains("HEAD") {
            GitError::BranchCheckedOut(name.to_owned())
        } else {
            error.into()
        }
    })
}
