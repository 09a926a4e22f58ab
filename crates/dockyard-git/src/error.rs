//! `GitError`: what went wrong, with a stable code and the class of fault.

use std::net::IpAddr;
use std::time::Duration;

/// Who is at fault, for the edge to pick a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Bad input (400/422).
    Invalid,
    /// Something named does not exist (404).
    NotFound,
    /// The repository's state does not allow it (409).
    Conflict,
    /// The remote refused, authentication failed, the network failed or timed out (502/504).
    Upstream,
    /// Our side failed (500). The message is for the log, not the client.
    Internal,
}

/// An error from a git operation. Messages never contain a credential.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("the folder is not a git repository")]
    NotARepository,
    #[error("the folder is already a git repository")]
    AlreadyARepository,
    #[error("the repository's git directory or work tree is outside the folder")]
    UnsafeRepository,
    #[error("the repository's configuration sets {key}, which network operations refuse")]
    UnsafeConfig { key: String },
    #[error("invalid git URL: {reason}")]
    InvalidUrl { reason: String },
    #[error("the URL contains credentials; give the token separately")]
    UrlHasCredentials,
    #[error("{host} resolves to {address}, which is not a public address")]
    ForbiddenAddress { host: String, address: IpAddr },
    #[error("authentication with the remote failed")]
    AuthFailed,
    #[error("the remote repository was not found")]
    RemoteRepositoryNotFound,
    #[error("no remote named {0}")]
    RemoteNotFound(String),
    #[error("a remote named {0} already exists")]
    RemoteExists(String),
    #[error("invalid remote name {0:?}")]
    InvalidRemoteName(String),
    #[error("no branch named {0}")]
    BranchNotFound(String),
    #[error("a branch named {0} already exists")]
    BranchExists(String),
    #[error("invalid branch name {0:?}")]
    InvalidBranchName(String),
    #[error("branch {0} is checked out")]
    BranchCheckedOut(String),
    #[error("branch {0} is not fully merged")]
    BranchNotMerged(String),
    #[error("HEAD is not on a branch")]
    DetachedHead,
    #[error("the branch has no upstream; name the remote branch")]
    NoUpstream,
    #[error("the repository has no commits yet")]
    NoCommits,
    #[error("revision {0:?} not found")]
    RevisionNotFound(String),
    #[error("the cursor is not a commit of this history")]
    InvalidCursor,
    #[error("nothing to commit")]
    NothingToCommit,
    #[error("the commit message is empty")]
    EmptyMessage,
    #[error("invalid author: {0}")]
    InvalidAuthor(String),
    #[error("the index has unresolved conflicts")]
    UnresolvedConflicts,
    #[error("local changes would be overwritten: {}", .0.join(", "))]
    WouldOverwrite(Vec<String>),
    #[error("the local and remote branches have diverged; cannot fast-forward")]
    Diverged,
    #[error("the remote rejected the push: it is not a fast-forward (pull first)")]
    NonFastForward,
    #[error("the remote rejected the push: {0}")]
    RemoteRejected(String),
    #[error("the worktree folder already exists")]
    WorktreeExists,
    #[error("the folder is not a worktree of this repository")]
    NotAWorktree,
    #[error("another git operation (a merge, rebase, cherry-pick, …) is in progress")]
    OperationInProgress,
    #[error("the destination folder is not empty")]
    DestinationNotEmpty,
    #[error("the repository is locked by another git operation")]
    Locked,
    #[error("network error: {0}")]
    Network(String),
    #[error("TLS error: {0}")]
    Tls(String),
    #[error("git took longer than {0:?}")]
    Timeout(Duration),
    #[error("the repository takes more than {limit} bytes on disk")]
    TooLarge { limit: u64 },
    #[error("path {0:?} not found")]
    PathNotFound(String),
    #[error("invalid path {0:?}")]
    InvalidPath(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("git failed: {0}")]
    CommandFailed(String),
    #[error("cannot run git: {0}")]
    GitUnavailable(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("git error: {0}")]
    Internal(String),
}

impl GitError {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            GitError::NotARepository => "git_not_a_repository",
            GitError::AlreadyARepository => "git_already_a_repository",
            GitError::UnsafeRepository => "git_unsafe_repository",
            GitError::UnsafeConfig { .. } => "git_unsafe_config",
            GitError::InvalidUrl { .. } => "git_invalid_url",
            GitError::UrlHasCredentials => "git_url_has_credentials",
            GitError::ForbiddenAddress { .. } => "git_forbidden_address",
            GitError::AuthFailed => "git_auth_failed",
            GitError::RemoteRepositoryNotFound => "git_remote_repository_not_found",
            GitError::RemoteNotFound(_) => "git_remote_not_found",
            GitError::RemoteExists(_) => "git_remote_exists",
            GitError::InvalidRemoteName(_) => "git_invalid_remote_name",
            GitError::BranchNotFound(_) => "git_branch_not_found",
            GitError::BranchExists(_) => "git_branch_exists",
            GitError::InvalidBranchName(_) => "git_invalid_branch_name",
            GitError::BranchCheckedOut(_) => "git_branch_checked_out",
            GitError::BranchNotMerged(_) => "git_branch_not_merged",
            GitError::DetachedHead => "git_detached_head",
            GitError::NoUpstream => "git_no_upstream",
            GitError::NoCommits => "git_no_commits",
            GitError::RevisionNotFound(_) => "git_revision_not_found",
            GitError::InvalidCursor => "git_invalid_cursor",
            GitError::NothingToCommit => "git_nothing_to_commit",
            GitError::EmptyMessage => "git_empty_message",
            GitError::InvalidAuthor(_) => "git_invalid_author",
            GitError::UnresolvedConflicts => "git_unresolved_conflicts",
            GitError::WouldOverwrite(_) => "git_would_overwrite",
            GitError::Diverged => "git_diverged",
            GitError::NonFastForward => "git_non_fast_forward",
            GitError::RemoteRejected(_) => "git_remote_rejected",
            GitError::WorktreeExists => "git_worktree_exists",
            GitError::NotAWorktree => "git_not_a_worktree",
            GitError::OperationInProgress => "git_operation_in_progress",
            GitError::DestinationNotEmpty => "git_destination_not_empty",
            GitError::Locked => "git_locked",
            GitError::Network(_) => "git_network",
            GitError::Tls(_) => "git_tls",
            GitError::Timeout(_) => "git_timeout",
            GitError::TooLarge { .. } => "git_too_large",
            GitError::PathNotFound(_) => "git_path_not_found",
            GitError::InvalidPath(_) => "git_invalid_path",
            GitError::InvalidArgument(_) => "git_invalid_argument",
            GitError::CommandFailed(_) => "git_command_failed",
            GitError::GitUnavailable(_) => "git_unavailable",
            GitError::Io(_) => "git_io",
            GitError::Internal(_) => "git_internal",
        }
    }

    /// Who is at fault.
    pub fn class(&self) -> ErrorClass {
        match self {
            GitError::InvalidUrl { .. }
            | GitError::UrlHasCredentials
            | GitError::ForbiddenAddress { .. }
            | GitError::InvalidRemoteName(_)
            | GitError::InvalidBranchName(_)
            | GitError::InvalidCursor
            | GitError::EmptyMessage
            | GitError::InvalidAuthor(_)
            | GitError::InvalidPath(_)
            | GitError::InvalidArgument(_)
            | GitError::TooLarge { .. } => ErrorClass::Invalid,
            GitError::NotARepository
            | GitError::RemoteNotFound(_)
            | GitError::BranchNotFound(_)
            | GitError::RevisionNotFound(_)
            | GitError::PathNotFound(_) => ErrorClass::NotFound,
            GitError::AlreadyARepository
            | GitError::UnsafeRepository
            | GitError::UnsafeConfig { .. }
            | GitError::RemoteExists(_)
            | GitError::BranchExists(_)
            | GitError::BranchCheckedOut(_)
            | GitError::BranchNotMerged(_)
            | GitError::DetachedHead
            | GitError::NoUpstream
            | GitError::NoCommits
            | GitError::NothingToCommit
            | GitError::UnresolvedConflicts
            | GitError::WouldOverwrite(_)
            | GitError::Diverged
            | GitError::NonFastForward
            | GitError::DestinationNotEmpty
            | GitError::WorktreeExists
            | GitError::NotAWorktree
            | GitError::OperationInProgress
            | GitError::Locked => ErrorClass::Conflict,
            GitError::AuthFailed
            | GitError::RemoteRepositoryNotFound
            | GitError::RemoteRejected(_)
            | GitError::Network(_)
            | GitError::Tls(_)
            | GitError::Timeout(_)
            | GitError::CommandFailed(_) => ErrorClass::Upstream,
            GitError::GitUnavailable(_) | GitError::Io(_) | GitError::Internal(_) => ErrorClass::Internal,
        }
    }
}

impl From<git2::Error> for GitError {
    /// The fallback for libgit2 errors that no operation mapped to something more
    /// specific: a held lock is a conflict, anything else is ours.
    fn from(error: git2::Error) -> Self {
        match error.code() {
            git2::ErrorCode::Locked => GitError::Locked,
            _ => GitError::Internal(error.message().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_prefixed_snake_case() {
        let samples = [
            GitError::NotARepository,
            GitError::WouldOverwrite(vec!["a".into()]),
            GitError::Timeout(Duration::from_secs(1)),
            GitError::Internal("x".into()),
        ];
        for error in samples {
            let code = error.code();
            assert!(code.starts_with("git_"));
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{code}");
        }
    }
}
