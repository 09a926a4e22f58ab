//! Staging, unstaging and committing.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use git2::{DiffOptions, IndexAddOption, IndexEntry, IndexTime, Repository, RepositoryState, Signature};
use serde::Serialize;

use crate::GitError;
use crate::diff::path_is_known;
use crate::repo::{clean_path, head_commit, open, path_is_under};

/// Who a commit is by (also its committer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// The paths to operate on: `None` for everything (an empty list or `.`).
fn selection(root: &Path, repo: &Repository, paths: &[String]) -> Result<Option<Vec<String>>, GitError> {
    if paths.is_empty() || paths.iter().any(|path| path == "." || path == "./") {
        return Ok(None);
    }
    let mut cleaned = Vec::with_capacity(paths.len());
    for path in paths {
        let path = clean_path(path)?;
        if !path_is_known(repo, root, &path)? {
            return Err(GitError::PathNotFound(path));
        }
        cleaned.push(path);
    }
    Ok(Some(cleaned))
}

fn bytes_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// Stages additions, modifications and deletions under `paths` (`[]` or `["."]`:
/// everything). Ignored files are not added.
pub fn stage(root: &Path, paths: &[String]) -> Result<(), GitError> {
    let repo = open(root)?;
    let selected = selection(root, &repo, paths)?;
    let mut index = repo.index()?;
    match &selected {
        None => stage_everything(&mut index)?,
        Some(paths) => {
            index.add_all(paths.iter(), IndexAddOption::DEFAULT | IndexAddOption::DISABLE_PATHSPEC_MATCH, None)?;
            // Deletions: tracked files under the paths that are gone from the work tree.
            let gone: Vec<Vec<u8>> = index
                .iter()
                .filter(|entry| paths.iter().any(|path| path_is_under(&entry.path, path)))
                .filter(|entry| root.join(bytes_path(&entry.path)).symlink_metadata().is_err())
                .map(|entry| entry.path)
                .collect();
            for path in gone {
                index.remove_path(bytes_path(&path))?;
            }
        }
    }
    index.write()?;
    Ok(())
}

/// Stages every addition, modification and deletion in the work tree into
/// `index` (not written); ignored files are not added.
pub(crate) fn stage_everything(index: &mut git2::Index) -> Result<(), GitError> {
    index.add_all(std::iter::empty::<&str>(), IndexAddOption::DEFAULT, None)?;
    index.update_all(std::iter::empty::<&str>(), None)?;
    Ok(())
}

/// Resets the index entries under `paths` (`[]` or `["."]`: everything) to HEAD,
/// or removes them from the index before the first commit. The work tree is
/// not touched.
pub fn unstage(root: &Path, paths: &[String]) -> Result<(), GitError> {
    let repo = open(root)?;
    let selected = selection(root, &repo, paths)?;
    let mut index = repo.index()?;
    let head_tree = head_commit(&repo)?.map(|commit| commit.tree()).transpose()?;

    let mut options = DiffOptions::new();
    options.include_typechange(true);
    if let Some(paths) = &selected {
        for path in paths {
            options.pathspec(path.as_str());
        }
        options.disable_pathspec_match(true);
    }
    let diff = repo.diff_tree_to_index(head_tree.as_ref(), Some(&index), Some(&mut options))?;
    let changed: Vec<Vec<u8>> = diff
        .deltas()
        .filter_map(|delta| delta.new_file().path_bytes().or(delta.old_file().path_bytes()).map(<[u8]>::to_vec))
        .collect();
    drop(diff);

    for path in changed {
        // A conflicted path has stage 1–3 entries; resetting it drops them all.
        let _ = index.conflict_remove(bytes_path(&path));
        let in_head = match &head_tree {
            Some(tree) => tree.get_path(bytes_path(&path)).ok(),
            None => None,
        };
        match in_head {
            Some(entry) => {
                let size = repo.find_blob(entry.id()).map(|blob| blob.size()).unwrap_or(0);
                index.add(&IndexEntry {
                    ctime: IndexTime::new(0, 0),
                    mtime: IndexTime::new(0, 0),
                    dev: 0,
                    ino: 0,
                    mode: entry.filemode() as u32,
                    uid: 0,
                    gid: 0,
                    file_size: u32::try_from(size).unwrap_or(u32::MAX),
                    id: entry.id(),
                    flags: 0,
                    flags_extended: 0,
                    path: path.clone(),
                })?;
            }
            None => {
                if index.get_path(bytes_path(&path), 0).is_some() {
                    index.remove_path(bytes_path(&path))?;
                }
            }
        }
    }
    index.write()?;
    Ok(())
}

pub(crate) fn check_author(author: &Author) -> Result<(), GitError> {
    for (what, value) in [("name", &author.name), ("email", &author.email)] {
        let value = value.trim();
        if value.is_empty() {
            return Err(GitError::InvalidAuthor(format!("the {what} is empty")));
        }
        if value.len() > 256 || value.chars().any(|c| c.is_control() || c == '<' || c == '>') {
            return Err(GitError::InvalidAuthor(format!("the {what} contains characters git does not allow")));
        }
    }
    Ok(())
}

/// Commits the index (after staging `paths`, when given) on the current branch,
/// including the first commit of an unborn branch and the commit that concludes
/// a merge. Returns the new commit's id.
pub fn commit(root: &Path, message: &str, paths: Option<&[String]>, author: &Author) -> Result<String, GitError> {
    check_author(author)?;
    let message = clean_message(message)?;
    let mut repo = open(root)?;
    if let Some(paths) = paths {
        stage(root, paths)?;
    }
    commit_index(&mut repo, &message, author, author)
}

/// Checks a commit message and cleans up its whitespace as `git commit -m`
/// does (cleanup=whitespace).
pub(crate) fn clean_message(message: &str) -> Result<String, GitError> {
    if message.contains('\0') {
        return Err(GitError::InvalidArgument("the commit message contains a NUL character".into()));
    }
    let message = git2::message_prettify(message, None)?;
    if message.trim().is_empty() {
        return Err(GitError::EmptyMessage);
    }
    Ok(message)
}

/// Commits the repository's index as it is on the current branch (a merge
/// in progress becomes a merge commit). `message` is already cleaned and the
/// authors checked. Fails with `NothingToCommit` when the tree would not change.
pub(crate) fn commit_index(
    repo: &mut Repository,
    message: &str,
    author: &Author,
    committer: &Author,
) -> Result<String, GitError> {
    let mut index = repo.index()?;
    if index.has_conflicts() {
        return Err(GitError::UnresolvedConflicts);
    }
    let mut merge_heads = Vec::new();
    if repo.state() == RepositoryState::Merge {
        repo.mergehead_foreach(|id| {
            merge_heads.push(*id);
            true
        })?;
    }
    let tree_id = index.write_tree()?;
    let head = head_commit(repo)?;
    if merge_heads.is_empty() {
        let unchanged = match &head {
            Some(head) => head.tree_id() == tree_id,
            None => index.is_empty(),
        };
        if unchanged {
            return Err(GitError::NothingToCommit);
        }
    }
    let tree = repo.find_tree(tree_id)?;
    let signature = |who: &Author| {
        Signature::now(who.name.trim(), who.email.trim())
            .map_err(|error| GitError::InvalidAuthor(error.message().to_owned()))
    };
    let author_signature = signature(author)?;
    let committer_signature = signature(committer)?;
    let mut parents = Vec::with_capacity(1 + merge_heads.len());
    if let Some(head) = head {
        parents.push(head);
    }
    for id in &merge_heads {
        parents.push(repo.find_commit(*id)?);
    }
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let id = repo.commit(Some("HEAD"), &author_signature, &committer_signature, message, &tree, &parent_refs)?;
    if !merge_heads.is_empty() {
        repo.cleanup_state()?;
    }
    Ok(id.to_string())
}
