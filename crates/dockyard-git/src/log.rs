//! `log`: commit history in pages, newest first, optionally limited to a path.

use std::path::Path;

use git2::{Commit, Oid, Repository, Sort};
use serde::Serialize;

use crate::GitError;
use crate::repo::{clean_path, head_commit, open};

/// The largest page `log` returns.
pub const MAX_LOG_LIMIT: usize = 500;

/// Which commits to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogQuery<'a> {
    /// Where to start (a branch, tag or commit id); HEAD when `None`.
    pub rev: Option<&'a str>,
    /// Only commits that change this file or folder.
    pub path: Option<&'a str>,
    /// A cursor: the id of the last commit of the previous page.
    pub after: Option<&'a str>,
    /// Page size, clamped to 1..=[`MAX_LOG_LIMIT`].
    pub limit: usize,
}

/// One page of history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogPage {
    pub commits: Vec<CommitInfo>,
    /// The cursor for the next page, when there is one.
    pub next: Option<String>,
}

/// A commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub short_id: String,
    pub summary: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    /// Author time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub parents: Vec<String>,
}

/// Lists commits reachable from `rev` (default HEAD) in `git log` order.
/// An empty repository gives an empty page.
pub fn log(root: &Path, query: LogQuery<'_>) -> Result<LogPage, GitError> {
    let repo = open(root)?;
    let limit = query.limit.clamp(1, MAX_LOG_LIMIT);
    let path = query.path.map(clean_path).transpose()?;
    let after = query.after.map(|after| Oid::from_str(after).map_err(|_| GitError::InvalidCursor)).transpose()?;

    let start = match query.rev {
        Some(rev) => resolve_commit(&repo, rev)?.id(),
        None => match head_commit(&repo)? {
            Some(commit) => commit.id(),
            None => return Ok(LogPage { commits: Vec::new(), next: None }),
        },
    };
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    walk.push(start)?;

    let mut seen_cursor = after.is_none();
    let mut commits = Vec::with_capacity(limit);
    let mut next = None;
    for id in walk {
        let id = id?;
        if !seen_cursor {
            seen_cursor = id == after.unwrap_or(id);
            continue;
        }
        let commit = repo.find_commit(id)?;
        if let Some(path) = &path
            && !touches(&commit, path)?
        {
            continue;
        }
        if commits.len() == limit {
            next = commits.last().map(|last: &CommitInfo| last.id.clone());
            break;
        }
        commits.push(commit_info(&commit));
    }
    if !seen_cursor {
        return Err(GitError::InvalidCursor);
    }
    Ok(LogPage { commits, next })
}

/// Resolves a revision given by a caller to a commit.
pub(crate) fn resolve_commit<'r>(repo: &'r Repository, rev: &str) -> Result<Commit<'r>, GitError> {
    let not_found = || GitError::RevisionNotFound(rev.chars().take(200).collect());
    if rev.is_empty() || rev.starts_with('-') || rev.len() > 1024 || rev.chars().any(char::is_control) {
        return Err(not_found());
    }
    let object = repo.revparse_single(rev).map_err(|_| not_found())?;
    object.peel_to_commit().map_err(|_| not_found())
}

/// Whether a commit changes `path`: it differs there from every parent (so a
/// merge that took one side's version unchanged does not count), or, for a
/// root commit, has it at all.
fn touches(commit: &Commit<'_>, path: &str) -> Result<bool, GitError> {
    let entry_id = |commit: &Commit<'_>| -> Result<Option<Oid>, GitError> {
        Ok(commit.tree()?.get_path(Path::new(path)).ok().map(|entry| entry.id()))
    };
    let own = entry_id(commit)?;
    if commit.parent_count() == 0 {
        return Ok(own.is_some());
    }
    for parent in commit.parents() {
        if entry_id(&parent)? == own {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(crate) fn commit_info(commit: &Commit<'_>) -> CommitInfo {
    let author = commit.author();
    let id = commit.id().to_string();
    let short_id = commit
        .as_object()
        .short_id()
        .ok()
        .and_then(|buf| buf.as_str().ok().map(str::to_owned))
        .unwrap_or_else(|| id.chars().take(7).collect());
    CommitInfo {
        short_id,
        id,
        summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
        message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
        author_name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        time_ms: author.when().seconds().saturating_mul(1000),
        parents: commit.parent_ids().map(|id| id.to_string()).collect(),
    }
}
