//! Opening and creating repositories, and the checks on the paths and names
//! callers give us.

use std::ffi::OsStr;
use std::path::Path;

use git2::{Repository, RepositoryInitOptions, RepositoryOpenFlags};

use crate::GitError;

/// Opens the repository whose work tree is exactly `root` (no search upwards),
/// refusing one whose git directory or work tree lies outside `root`: a `.git`
/// file, a `commondir` file, a symbolic link or `core.worktree` must not let
/// operations on this folder read or write another one.
pub(crate) fn open(root: &Path) -> Result<Repository, GitError> {
    let repo = Repository::open_ext(root, RepositoryOpenFlags::NO_SEARCH, &[] as &[&OsStr])
        .map_err(|_| GitError::NotARepository)?;
    check_contained(&repo, root)?;
    Ok(repo)
}

/// Like [`open`], but also accepts a linked work tree (`git worktree add`),
/// whose git directory lives in the main repository's `.git/worktrees/<name>`
/// outside `root`. It is accepted only when that repository registered it at
/// exactly this folder: `root/.git` is a file, the git directory is a direct
/// child of the common directory's `worktrees` folder, and its `gitdir` file
/// points back at `root/.git`. A `.git` file written by hand to reach another
/// repository fails the last two checks unless that repository's own `.git`
/// folder was written to, which needs write access to it in the first place.
pub(crate) fn open_work_tree(root: &Path) -> Result<Repository, GitError> {
    let repo = Repository::open_ext(root, RepositoryOpenFlags::NO_SEARCH, &[] as &[&OsStr])
        .map_err(|_| GitError::NotARepository)?;
    if !repo.is_worktree() {
        check_contained(&repo, root)?;
        return Ok(repo);
    }
    let unsafe_repo = |_| GitError::UnsafeRepository;
    let Some(workdir) = repo.workdir() else {
        return Err(GitError::NotARepository);
    };
    let root_real = root.canonicalize()?;
    let workdir_real = workdir.canonicalize().map_err(unsafe_repo)?;
    let gitdir_real = repo.path().canonicalize().map_err(unsafe_repo)?;
    let commondir_real = repo.commondir().canonicalize().map_err(unsafe_repo)?;
    let dot_git = root_real.join(".git");
    let dot_git_is_file = dot_git.symlink_metadata().map(|meta| meta.file_type().is_file()).unwrap_or(false);
    let back_link = std::fs::read_to_string(gitdir_real.join("gitdir")).map_err(unsafe_repo)?;
    let back_link = gitdir_real.join(back_link.trim_end_matches(['\r', '\n']));
    let back_link_real = back_link.canonicalize().map_err(unsafe_repo)?;
    if workdir_real != root_real
        || !dot_git_is_file
        || gitdir_real.parent() != Some(commondir_real.join("worktrees").as_path())
        || back_link_real != dot_git
    {
        return Err(GitError::UnsafeRepository);
    }
    Ok(repo)
}

/// Refuses a repository whose git directory, common directory or work tree is
/// not `root` or inside it.
fn check_contained(repo: &Repository, root: &Path) -> Result<(), GitError> {
    let Some(workdir) = repo.workdir() else {
        return Err(GitError::NotARepository);
    };
    let root_real = root.canonicalize()?;
    let workdir_real = workdir.canonicalize().map_err(|_| GitError::UnsafeRepository)?;
    let gitdir_real = repo.path().canonicalize().map_err(|_| GitError::UnsafeRepository)?;
    // A `commondir` file would share another repository's objects, refs and config.
    let commondir_real = repo.commondir().canonicalize().map_err(|_| GitError::UnsafeRepository)?;
    if workdir_real != root_real || !gitdir_real.starts_with(&root_real) || !commondir_real.starts_with(&root_real) {
        return Err(GitError::UnsafeRepository);
    }
    Ok(())
}

/// Whether `root` is the work tree of a repository we can operate on.
pub fn is_repository(root: &Path) -> bool {
    open(root).is_ok()
}

/// Makes `root` (which must exist) a new repository whose first branch is `initial_branch`.
pub fn init(root: &Path, initial_branch: &str) -> Result<(), GitError> {
    check_branch_name(initial_branch)?;
    if !root.is_dir() {
        return Err(GitError::PathNotFound(root.display().to_string()));
    }
    if root.join(".git").symlink_metadata().is_ok()
        || Repository::open_ext(root, RepositoryOpenFlags::NO_SEARCH, &[] as &[&OsStr]).is_ok()
    {
        return Err(GitError::AlreadyARepository);
    }
    let mut options = RepositoryInitOptions::new();
    options.no_reinit(true).mkdir(false).mkpath(false).initial_head(initial_branch);
    Repository::init_opts(root, &options).map_err(|error| match error.code() {
        git2::ErrorCode::Exists => GitError::AlreadyARepository,
        _ => GitError::from(error),
    })?;
    Ok(())
}

/// Whether `git branch` would accept `name` as a branch name.
pub fn is_valid_branch_name(name: &str) -> bool {
    check_branch_name(name).is_ok()
}

/// Refuses a name `git branch` would refuse.
pub(crate) fn check_branch_name(name: &str) -> Result<(), GitError> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('-')
        && name != "HEAD"
        && name != "@"
        && git2::Branch::name_is_valid(name).unwrap_or(false)
        && git2::Reference::is_valid_name(&format!("refs/heads/{name}"));
    if valid { Ok(()) } else { Err(GitError::InvalidBranchName(name.to_owned())) }
}

/// Refuses a remote name `git remote add` would refuse.
pub(crate) fn check_remote_name(name: &str) -> Result<(), GitError> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('-')
        && !name.chars().any(char::is_control)
        && git2::Remote::is_valid_name(name);
    if valid { Ok(()) } else { Err(GitError::InvalidRemoteName(name.to_owned())) }
}

/// Checks a path inside the work tree given by a caller: relative, `/`-separated,
/// no `.`/`..`/empty segments, nothing inside `.git`, no NUL or control
/// characters. A trailing `/` is dropped. Returns the cleaned path.
pub(crate) fn clean_path(path: &str) -> Result<String, GitError> {
    let invalid = || GitError::InvalidPath(path.chars().take(200).collect());
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() || trimmed.len() > 4096 || trimmed.starts_with('/') || trimmed.chars().any(char::is_control) {
        return Err(invalid());
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.eq_ignore_ascii_case(".git") {
            return Err(invalid());
        }
    }
    Ok(trimmed.to_owned())
}

/// Whether a repository-relative path names `prefix` itself or something inside it.
pub(crate) fn path_is_under(path: &[u8], prefix: &str) -> bool {
    let prefix = prefix.as_bytes();
    path.starts_with(prefix) && (path.len() == prefix.len() || path[prefix.len()] == b'/')
}

/// A repository path as text (git paths are bytes; non-UTF-8 bytes are replaced).
pub(crate) fn path_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The commit HEAD points at, or `None` on an unborn branch.
pub(crate) fn head_commit(repo: &Repository) -> Result<Option<git2::Commit<'_>>, GitError> {
    match repo.head() {
        Ok(head) => Ok(Some(head.peel_to_commit()?)),
        Err(error) if matches!(error.code(), git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The branch HEAD names (also when it has no commits yet), or `None` when detached.
pub(crate) fn head_branch(repo: &Repository) -> Result<Option<String>, GitError> {
    let head = repo.find_reference("HEAD")?;
    Ok(head.symbolic_target_bytes().and_then(|target| target.strip_prefix(b"refs/heads/")).map(path_text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_accepts_relative_paths_and_drops_a_trailing_slash() {
        assert_eq!(clean_path("src/main.rs").ok().as_deref(), Some("src/main.rs"));
        assert_eq!(clean_path("src/").ok().as_deref(), Some("src"));
        assert_eq!(clean_path("a b/c*d").ok().as_deref(), Some("a b/c*d"));
    }

    #[test]
    fn clean_path_refuses_escapes_and_git_internals() {
        for path in ["", "/", "/etc/passwd", "../x", "a/../b", "./a", "a//b", ".git/config", "x/.GIT/y", "a\nb", "a\0b"]
        {
            assert_eq!(clean_path(path).map_err(|e| e.code()), Err("git_invalid_path"), "{path:?}");
        }
    }

    #[test]
    fn branch_names_follow_git() {
        for name in ["main", "feature/x", "v1.2", "a-b_c"] {
            assert!(check_branch_name(name).is_ok(), "{name}");
        }
        for name in ["", "-x", "HEAD", "a..b", "a b", "a~1", "a^", "a:b", "x.lock", "/a", "a/", "a\\b", "@", "a@{1}"] {
            assert!(check_branch_name(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn path_is_under_matches_whole_segments() {
        assert!(path_is_under(b"src/main.rs", "src"));
        assert!(path_is_under(b"src", "src"));
        assert!(!path_is_under(b"srcx/main.rs", "src"));
    }
}
