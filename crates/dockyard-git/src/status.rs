//! `status`: the branch, its upstream, and every staged, unstaged and untracked change.

use std::path::Path;

use git2::{Repository, Status as Flags, StatusOptions};
use serde::Serialize;

use crate::GitError;
use crate::repo::{head_branch, head_commit, open, path_text};

/// How one side of a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    #[serde(rename = "typechange")]
    TypeChange,
    Untracked,
    Conflicted,
}

impl ChangeKind {
    /// The word used in [`StatusEntry::status`] and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Renamed => "renamed",
            ChangeKind::Copied => "copied",
            ChangeKind::TypeChange => "typechange",
            ChangeKind::Untracked => "untracked",
            ChangeKind::Conflicted => "conflicted",
        }
    }

    /// The letter `git status --porcelain` uses.
    pub fn porcelain(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'M',
            ChangeKind::Deleted => 'D',
            ChangeKind::Renamed => 'R',
            ChangeKind::Copied => 'C',
            ChangeKind::TypeChange => 'T',
            ChangeKind::Untracked => '?',
            ChangeKind::Conflicted => 'U',
        }
    }
}

/// The state of the work tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The current branch; `None` when HEAD is detached.
    pub branch: Option<String>,
    /// The commit HEAD points at; `None` before the first commit.
    pub head: Option<String>,
    /// The upstream of the current branch, like `origin/main`.
    pub upstream: Option<String>,
    /// Commits on the branch that its upstream lacks.
    pub ahead: usize,
    /// Commits on the upstream that the branch lacks.
    pub behind: usize,
    /// Changed files, sorted by path. Ignored files are left out; files in
    /// untracked folders are listed one by one.
    pub entries: Vec<StatusEntry>,
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// The path now (the new path of a rename).
    pub path: String,
    /// The most relevant change: `conflicted`, `untracked`, `added`, `renamed`,
    /// `deleted`, `typechange` or `modified`.
    pub status: &'static str,
    /// The change between HEAD and the index (what a commit would record).
    pub staged: Option<ChangeKind>,
    /// The change between the index and the work tree (`untracked` for a new file).
    pub unstaged: Option<ChangeKind>,
    /// The path before a staged rename.
    pub old_path: Option<String>,
}

/// Reports the branch, its upstream and the changed files.
pub fn status(root: &Path) -> Result<Status, GitError> {
    let repo = open(root)?;
    let branch = head_branch(&repo)?;
    let head = head_commit(&repo)?.map(|commit| commit.id());
    let (upstream, ahead, behind) = upstream_of(&repo, branch.as_deref(), head)?;

    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .include_unmodified(false)
        .renames_head_to_index(true)
        .renames_index_to_workdir(false);
    let statuses = repo.statuses(Some(&mut options))?;
    let mut entries: Vec<StatusEntry> = statuses.iter().filter_map(|entry| status_entry(&entry)).collect();
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(Status { branch, head: head.map(|id| id.to_string()), upstream, ahead, behind, entries })
}

fn upstream_of(
    repo: &Repository,
    branch: Option<&str>,
    head: Option<git2::Oid>,
) -> Result<(Option<String>, usize, usize), GitError> {
    let Some(branch_name) = branch else { return Ok((None, 0, 0)) };
    let Ok(local) = repo.find_branch(branch_name, git2::BranchType::Local) else {
        return Ok((None, 0, 0));
    };
    let Ok(upstream) = local.upstream() else { return Ok((None, 0, 0)) };
    let name = path_text(upstream.get().shorthand_bytes());
    let (ahead, behind) = match (head, upstream.get().target()) {
        (Some(local_id), Some(upstream_id)) => repo.graph_ahead_behind(local_id, upstream_id)?,
        _ => (0, 0),
    };
    Ok((Some(name), ahead, behind))
}

fn status_entry(entry: &git2::StatusEntry<'_>) -> Option<StatusEntry> {
    let flags = entry.status();
    if flags.is_empty() || flags.contains(Flags::IGNORED) || flags == Flags::CURRENT {
        return None;
    }
    let staged = if flags.contains(Flags::INDEX_NEW) {
        Some(ChangeKind::Added)
    } else if flags.contains(Flags::INDEX_RENAMED) {
        Some(ChangeKind::Renamed)
    } else if flags.contains(Flags::INDEX_DELETED) {
        Some(ChangeKind::Deleted)
    } else if flags.contains(Flags::INDEX_TYPECHANGE) {
        Some(ChangeKind::TypeChange)
    } else if flags.contains(Flags::INDEX_MODIFIED) {
        Some(ChangeKind::Modified)
    } else {
        None
    };
    let unstaged = if flags.contains(Flags::CONFLICTED) {
        Some(ChangeKind::Conflicted)
    } else if flags.contains(Flags::WT_NEW) {
        Some(ChangeKind::Untracked)
    } else if flags.contains(Flags::WT_DELETED) {
        Some(ChangeKind::Deleted)
    } else if flags.contains(Flags::WT_TYPECHANGE) {
        Some(ChangeKind::TypeChange)
    } else if flags.contains(Flags::WT_RENAMED) {
        Some(ChangeKind::Renamed)
    } else if flags.contains(Flags::WT_MODIFIED) {
        Some(ChangeKind::Modified)
    } else {
        None
    };
    if staged.is_none() && unstaged.is_none() {
        return None;
    }
    let staged_delta = entry.head_to_index();
    let workdir_delta = entry.index_to_workdir();
    let path = workdir_delta
        .as_ref()
        .and_then(|delta| delta.new_file().path_bytes())
        .or_else(|| staged_delta.as_ref().and_then(|delta| delta.new_file().path_bytes()))
        .map(path_text)
        .unwrap_or_else(|| path_text(entry.path_bytes()));
    let old_path = match (&staged_delta, staged) {
        (Some(delta), Some(ChangeKind::Renamed)) => delta.old_file().path_bytes().map(path_text),
        _ => None,
    };
    let status = most_relevant(staged, unstaged);
    Some(StatusEntry { path, status, staged, unstaged, old_path })
}

/// The one word a file list shows: conflicts and untracked files first, then
/// what a commit would record, then what happened in the work tree.
fn most_relevant(staged: Option<ChangeKind>, unstaged: Option<ChangeKind>) -> &'static str {
    let either = |kind| staged == Some(kind) || unstaged == Some(kind);
    if unstaged == Some(ChangeKind::Conflicted) {
        "conflicted"
    } else if unstaged == Some(ChangeKind::Untracked) {
        "untracked"
    } else if staged == Some(ChangeKind::Added) {
        "added"
    } else if staged == Some(ChangeKind::Renamed) {
        "renamed"
    } else if either(ChangeKind::Deleted) {
        "deleted"
    } else if either(ChangeKind::TypeChange) {
        "typechange"
    } else {
        "modified"
    }
}
