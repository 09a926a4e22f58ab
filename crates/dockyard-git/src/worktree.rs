//! Worktrees for agent sessions: a linked work tree on its own branch, a
//! commit of everything left in it, the diff of a range, and the merge of the
//! branch back into the project's workspace.
//!
//! An agent session works in `add_worktree`'s folder on `dockyard/agent/<id>`,
//! branched from the workspace's HEAD (the base commit). When it ends,
//! `commit_all` records whatever it left uncommitted, `diff_range(base, branch)`
//! is the review, `merge_branch` applies it to the workspace and
//! `remove_worktree` discards it.
//!
//! Everything runs on libgit2 (`git2`), not the `git` CLI: a merge is computed
//! in memory (`merge_commits`) and judged before the workspace is touched, so a
//! conflict or a local change in the way leaves nothing behind (no conflict
//! markers, no MERGE_HEAD, no `merge --abort` that could not restore
//! uncommitted changes); and libgit2 runs no hooks and no custom merge
//! drivers, so a repository's content or configuration cannot run code on the
//! server.
//!
//! **Invariant:** `merge_branch` changes the workspace only when the merge is
//! clean and no local change lies on a path the merge changes (a tracked file
//! with staged or unstaged changes, an untracked or ignored file where the merge
//! puts one: an ignored file is kept, not overwritten as `git merge` would); then it writes a merge commit with two parents
//! (never a fast-forward, so the agent's work stays identifiable), checks out
//! only the files the merge changed and moves the current branch. Otherwise the
//! work tree, the index, HEAD and the refs are exactly as they were.
//!
//! **Invariant:** `commit_all` and `diff_range` accept a linked work tree only
//! when the repository it belongs to registered it at that folder (see
//! `repo::open_work_tree`); `add_worktree`, `remove_worktree` and
//! `merge_branch` take the workspace itself, opened as strictly as everywhere
//! else.

use std::fs;
use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{
    BranchType, CheckoutNotificationType, DiffFindOptions, ErrorCode, MergeOptions, Repository, RepositoryState,
    Signature, Status as FileStatus, StatusOptions, Tree, WorktreeAddOptions, WorktreePruneOptions,
};
use serde::Serialize;

use crate::changes::{check_author, clean_message, commit_index, stage_everything};
use crate::diff::{collect, diff_options, include_untracked};
use crate::log::resolve_commit;
use crate::repo::{check_branch_name, head_branch, head_commit, open, open_work_tree, path_is_under, path_text};
use crate::{Author, Diff, GitError};

/// What `merge_branch` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The branch's commits are all in the current branch already; nothing changed.
    UpToDate,
    /// A merge commit was made and checked out; `files` are the paths it changed
    /// in the workspace, sorted.
    Merged { commit: String, files: Vec<String> },
    /// The merge conflicts on these paths (sorted); nothing changed.
    Conflict { files: Vec<String> },
    /// Uncommitted local changes lie on these paths (sorted), which the merge
    /// would change; nothing changed.
    Blocked { files: Vec<String> },
}

/// Creates branch `branch` at the HEAD commit of the repository at `repo_root`
/// and a linked work tree at `worktree` (an absolute path that must not exist;
/// its parent is created) checked out on it. Returns the base commit's id.
pub fn add_worktree(repo_root: &Path, worktree: &Path, branch: &str) -> Result<String, GitError> {
    check_branch_name(branch)?;
    if !worktree.is_absolute() {
        return Err(GitError::InvalidArgument("the worktree path must be absolute".into()));
    }
    let repo = open(repo_root)?;
    let base = head_commit(&repo)?.ok_or(GitError::NoCommits)?;
    if repo.find_branch(branch, BranchType::Local).is_ok() {
        return Err(GitError::BranchExists(branch.to_owned()));
    }
    if worktree.symlink_metadata().is_ok() {
        return Err(GitError::WorktreeExists);
    }
    if let Some(parent) = worktree.parent() {
        fs::create_dir_all(parent)?;
    }
    let name = admin_name(&repo, worktree);

    let reference = repo
        .branch(branch, &base, false)
        .map_err(|error| match error.code() {
            ErrorCode::Exists => GitError::BranchExists(branch.to_owned()),
            _ => error.into(),
        })?
        .into_reference();
    let mut options = WorktreeAddOptions::new();
    options.reference(Some(&reference));
    if let Err(error) = repo.worktree(&name, worktree, Some(&options)) {
        // libgit2 leaves what it made so far: the admin folder, the work tree, the branch.
        let _ = fs::remove_dir_all(repo.commondir().join("worktrees").join(&name));
        let _ = fs::remove_dir_all(worktree);
        if let Ok(mut created) = repo.find_branch(branch, BranchType::Local) {
            let _ = created.delete();
        }
        return Err(error.into());
    }
    Ok(base.id().to_string())
}

/// The name of the worktree's admin folder (`.git/worktrees/<name>`): the
/// folder's own name in safe characters, made unique with a suffix as git does.
fn admin_name(repo: &Repository, worktree: &Path) -> String {
    let file_name = worktree.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut base: String = file_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' })
        .take(64)
        .collect();
    base = base.trim_start_matches('.').to_owned();
    if base.is_empty() || base.ends_with(".lock") {
        base = format!("worktree{base}");
    }
    let admin = repo.commondir().join("worktrees");
    let mut name = base.clone();
    let mut n = 1;
    while admin.join(&name).symlink_metadata().is_ok() {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// Removes the linked work tree at `worktree` of the repository at
/// `repo_root`: its folder, uncommitted changes and all, and its registration
/// (also when the folder is already gone). Then, when given, force-deletes
/// `branch`. Doing it again is not an error. A folder that is not a work tree
/// of this repository is refused (`git_not_a_worktree`) and left alone.
pub fn remove_worktree(repo_root: &Path, worktree: &Path, branch: Option<&str>) -> Result<(), GitError> {
    let repo = open(repo_root)?;
    let registered = find_registered(&repo, worktree)?;
    let folder_exists = worktree.symlink_metadata().is_ok();
    if folder_exists {
        let ours = registered.is_some() || links_into(&repo, worktree);
        if !ours {
            return Err(GitError::NotAWorktree);
        }
        // Our own removal rather than libgit2's: std's does not follow symbolic
        // links an agent may have left in the folder.
        fs::remove_dir_all(worktree)?;
    }
    if let Some(name) = registered {
        let worktree = repo.find_worktree(&name)?;
        let mut options = WorktreePruneOptions::new();
        options.valid(true).locked(true).working_tree(false);
        worktree.prune(Some(&mut options))?;
    }
    if let Some(branch) = branch {
        match repo.find_branch(branch, BranchType::Local) {
            Ok(mut found) => {
                if found.is_head() {
                    return Err(GitError::BranchCheckedOut(branch.to_owned()));
                }
                found.delete().map_err(|error| {
                    // Checked out in another linked work tree.
                    if error.class() == git2::ErrorClass::Reference && error.message().contains("HEAD") {
                        GitError::BranchCheckedOut(branch.to_owned())
                    } else {
                        error.into()
                    }
                })?;
            }
            Err(error) if error.code() == ErrorCode::NotFound => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// The admin name of the registered worktree whose folder is `worktree`.
fn find_registered(repo: &Repository, worktree: &Path) -> Result<Option<String>, GitError> {
    let wanted = comparable(worktree);
    for name in repo.worktrees()?.iter().flatten().flatten() {
        let Ok(found) = repo.find_worktree(name) else { continue };
        if comparable(found.path()) == wanted {
            return Ok(Some(name.to_owned()));
        }
    }
    Ok(None)
}

/// A path with symbolic links in its existing part resolved, so that two
/// spellings of a folder (also one that no longer exists) compare equal.
fn comparable(path: &Path) -> PathBuf {
    let trimmed = path.components().collect::<PathBuf>();
    if let Ok(real) = trimmed.canonicalize() {
        return real;
    }
    match (trimmed.parent().map(Path::canonicalize), trimmed.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => trimmed,
    }
}

/// Whether `worktree/.git` is a file naming an admin folder of this repository
/// (a work tree whose registration is already gone).
fn links_into(repo: &Repository, worktree: &Path) -> bool {
    let dot_git = worktree.join(".git");
    if !dot_git.symlink_metadata().map(|meta| meta.file_type().is_file()).unwrap_or(false) {
        return false;
    }
    let Ok(text) = fs::read_to_string(&dot_git) else { return false };
    let Some(gitdir) = text.trim_end().strip_prefix("gitdir: ") else { return false };
    let gitdir = worktree.join(gitdir);
    let admin = comparable(&repo.commondir().join("worktrees"));
    comparable(&gitdir).parent() == Some(admin.as_path())
}

/// Stages everything in the work tree at `root` (a linked work tree or a
/// repository's own): additions, modifications and deletions, untracked files
/// included, ignored ones not; then commits it on the current branch with
/// `author` and `committer`. Returns the commit's id, or `None` when there was
/// nothing to commit.
pub fn commit_all(root: &Path, message: &str, author: &Author, committer: &Author) -> Result<Option<String>, GitError> {
    check_author(author)?;
    check_author(committer)?;
    let message = clean_message(message)?;
    let mut repo = open_work_tree(root)?;
    let mut index = repo.index()?;
    stage_everything(&mut index)?;
    index.write()?;
    match commit_index(&mut repo, &message, author, committer) {
        Ok(id) => Ok(Some(id)),
        Err(GitError::NothingToCommit) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The diff from commit `base` to commit `head` or, with `None`, to the work
/// tree at `root` (untracked files included, ignored ones not), with renames
/// found as `git diff` does. Same structure and limits as [`crate::diff`].
pub fn diff_range(root: &Path, base: &str, head: Option<&str>) -> Result<Diff, GitError> {
    let repo = open_work_tree(root)?;
    let base_tree = resolve_commit(&repo, base)?.tree()?;
    let mut options = diff_options();
    let mut diff = match head {
        Some(head) => {
            let head_tree = resolve_commit(&repo, head)?.tree()?;
            repo.diff_tree_to_tree(Some(&base_tree), Some(&head_tree), Some(&mut options))?
        }
        None => {
            include_untracked(&mut options);
            repo.diff_tree_to_workdir_with_index(Some(&base_tree), Some(&mut options))?
        }
    };
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
    collect(&diff, root)
}

/// Merges local branch `branch` into the current branch of the workspace at
/// `root` with a merge commit by `committer` (also its author), and checks it
/// out. See [`MergeOutcome`] for what happens when it is already merged, when
/// it conflicts and when local changes are in the way: in those cases nothing
/// is touched. A conflict is reported before local changes in the way.
pub fn merge_branch(root: &Path, branch: &str, message: &str, committer: &Author) -> Result<MergeOutcome, GitError> {
    check_branch_name(branch)?;
    check_author(committer)?;
    let message = clean_message(message)?;
    let repo = open(root)?;
    let current = head_branch(&repo)?.ok_or(GitError::DetachedHead)?;
    let ours = head_commit(&repo)?.ok_or(GitError::NoCommits)?;
    if repo.state() != RepositoryState::Clean {
        return Err(GitError::OperationInProgress);
    }
    if repo.index()?.has_conflicts() {
        return Err(GitError::UnresolvedConflicts);
    }
    let theirs = repo
        .find_branch(branch, BranchType::Local)
        .map_err(|_| GitError::BranchNotFound(branch.to_owned()))?
        .get()
        .peel_to_commit()?;
    if ours.id() == theirs.id() || repo.graph_descendant_of(ours.id(), theirs.id())? {
        return Ok(MergeOutcome::UpToDate);
    }

    // The merge, in memory.
    let mut merged = repo.merge_commits(&ours, &theirs, Some(&MergeOptions::new()))?;
    if merged.has_conflicts() {
        let mut files = Vec::new();
        for conflict in merged.conflicts()? {
            let conflict = conflict?;
            for entry in [conflict.ancestor, conflict.our, conflict.their].into_iter().flatten() {
                files.push(path_text(&entry.path));
            }
        }
        files.sort();
        files.dedup();
        return Ok(MergeOutcome::Conflict { files });
    }
    let tree = repo.find_tree(merged.write_tree_to(&repo)?)?;

    // The paths it changes, against the local changes.
    let changes = repo.diff_tree_to_tree(Some(&ours.tree()?), Some(&tree), Some(&mut diff_options()))?;
    let mut files = Vec::new();
    for delta in changes.deltas() {
        for path in [delta.old_file().path_bytes(), delta.new_file().path_bytes()].into_iter().flatten() {
            files.push(path_text(path));
        }
    }
    files.sort();
    files.dedup();
    let mut blocked = in_the_way(&repo, &ours.tree()?, &files)?;
    if !blocked.is_empty() {
        blocked.sort();
        blocked.dedup();
        return Ok(MergeOutcome::Blocked { files: blocked });
    }

    // The merge commit (no ref moves yet), then the files, then the branch.
    let signature = Signature::now(committer.name.trim(), committer.email.trim())
        .map_err(|error| GitError::InvalidAuthor(error.message().to_owned()))?;
    let commit_id = repo.commit(None, &signature, &signature, &message, &tree, &[&ours, &theirs])?;
    let mut refused = Vec::new();
    let checkout = {
        let mut builder = CheckoutBuilder::new();
        builder.safe().notify_on(CheckoutNotificationType::CONFLICT).notify(|_, path, _, _, _| {
            if let Some(path) = path {
                refused.push(path.to_string_lossy().into_owned());
            }
            true
        });
        repo.checkout_tree(tree.as_object(), Some(&mut builder))
    };
    match checkout {
        Ok(()) => {}
        // Something changed between our look at the work tree and the checkout,
        // which refuses before writing anything.
        Err(error) if error.code() == ErrorCode::Conflict || !refused.is_empty() => {
            refused.sort();
            refused.dedup();
            return Ok(MergeOutcome::Blocked { files: refused });
        }
        Err(error) => return Err(error.into()),
    }
    let log_message = format!("merge {branch}: Merge made by dockyard");
    repo.reference_matching(&format!("refs/heads/{current}"), commit_id, true, ours.id(), &log_message)?;
    Ok(MergeOutcome::Merged { commit: commit_id.to_string(), files })
}

/// The local changes the merge, which changes `files`, would overwrite: a
/// tracked file with uncommitted changes (staged or not) among them, and an
/// untracked or ignored file where the merge puts a file or needs a folder.
/// What this misses (a race, a folder replaced by a file) the safe checkout
/// still refuses.
fn in_the_way(repo: &Repository, ours: &Tree<'_>, files: &[String]) -> Result<Vec<String>, GitError> {
    let workdir = repo.workdir().ok_or(GitError::NotARepository)?;
    let mut blocked = Vec::new();
    let mut options = StatusOptions::new();
    options.include_untracked(false).include_ignored(false).renames_head_to_index(false);
    for entry in repo.statuses(Some(&mut options))?.iter() {
        if entry.status() == FileStatus::CURRENT {
            continue;
        }
        let path = path_text(entry.path_bytes());
        if files.iter().any(|file| path_is_under(file.as_bytes(), &path) || path_is_under(path.as_bytes(), file)) {
            blocked.push(path);
        }
    }
    let tracked = |path: &str| ours.get_path(Path::new(path)).is_ok();
    for file in files {
        if tracked(file) {
            continue;
        }
        if workdir.join(file).symlink_metadata().is_ok() {
            blocked.push(file.clone());
            continue;
        }
        // A file (or a symbolic link) where the merge needs a folder.
        let mut ancestor = file.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            ancestor = parent;
            if tracked(ancestor) {
                break;
            }
            if let Ok(meta) = workdir.join(ancestor).symlink_metadata() {
                if !meta.is_dir() {
                    blocked.push(ancestor.to_owned());
                }
                break;
            }
        }
    }
    Ok(blocked)
}
