//! Git operations on a workspace folder.
//!
//! Every function is blocking and takes the repository's folder (its work
//! tree); callers run them on the blocking pool. `worktree` adds the agent
//! session's linked work trees, commit-all, range diffs and merges. Local operations (status,
//! diff, stage, commit, log, branches, remotes) use libgit2 through `git2`,
//! built without TLS or SSH. Network operations (clone, fetch, pull, push) run
//! the `git` CLI, hardened (see `cli`): an SSRF check with the checked
//! addresses pinned, https only, a cleared environment, the token passed as a
//! header through the environment and scrubbed from output, and a timeout.
//!
//! API Boundary: callers get the plain types below and [`GitError`] (a stable
//! `code()` and a `class()` of fault); no `git2` type leaves the crate. No
//! input makes these functions panic.

mod branch;
mod changes;
mod cli;
mod diff;
mod error;
mod log;
mod remote;
mod repo;
mod status;
#[cfg(feature = "test-server")]
pub mod testserver;
mod url;
mod worktree;

pub use branch::{BranchInfo, branches, create_branch, delete_branch, switch_branch};
pub use changes::{Author, commit, stage, unstage};
pub use cli::TransferProgress;
pub use diff::{Diff, DiffLine, DiffQuery, FileDiff, Hunk, MAX_DIFF_BYTES, MAX_DIFF_FILES, diff};
pub use error::{ErrorClass, GitError};
pub use log::{CommitInfo, LogPage, LogQuery, MAX_LOG_LIMIT, log};
pub use remote::{
    CloneOptions, PullOutcome, RemoteInfo, add_remote, clone, fetch, pull, push, remotes, remove_remote, set_remote_url,
};
pub use repo::{init, is_repository, is_valid_branch_name};
pub use status::{ChangeKind, Status, StatusEntry, status};
pub use url::{Credential, GitUrl, MAX_URL_BYTES, NetworkPolicy};
pub use worktree::{MergeOutcome, add_worktree, commit_all, diff_range, merge_branch, remove_worktree};
