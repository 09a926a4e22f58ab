//! `diff`: unstaged (index → work tree, untracked files included) and staged
//! (HEAD → index) changes, as unified text and as structured files and hunks.

use std::path::Path;

use git2::{Delta, DiffFindOptions, DiffOptions, Patch, Repository};
use serde::Serialize;

use crate::repo::{clean_path, head_commit, open, path_is_under, path_text};
use crate::{ChangeKind, GitError};

/// Once the text reaches this many bytes, the rest of the diff is left out and
/// [`Diff::truncated`] is set.
pub const MAX_DIFF_BYTES: usize = 4 * 1024 * 1024;

/// At most this many files are listed; past it the list stops and
/// [`Diff::truncated`] is set.
pub const MAX_DIFF_FILES: usize = 10_000;

/// Files larger than this are treated as binary instead of being loaded and diffed.
const MAX_FILE_BYTES: i64 = 16 * 1024 * 1024;

/// What to compare.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffQuery<'a> {
    /// Only this file or folder (a path relative to the work tree).
    pub path: Option<&'a str>,
    /// HEAD → index (what a commit would record) instead of index → work tree.
    pub staged: bool,
}

/// A diff, as text and as structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Unified diff text, as `git diff` prints it.
    pub text: String,
    /// Whether the diff was cut: past [`MAX_DIFF_BYTES`] of text, files are listed
    /// with `truncated` set and without hunks; past [`MAX_DIFF_FILES`] files, the
    /// list stops.
    pub truncated: bool,
    pub files: Vec<FileDiff>,
}

/// The change to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub path: String,
    /// The path before a rename.
    pub old_path: Option<String>,
    pub change: ChangeKind,
    pub binary: bool,
    pub additions: usize,
    pub deletions: usize,
    pub hunks: Vec<Hunk>,
    /// Whether this file is past the size cut (no hunks, no line counts).
    pub truncated: bool,
}

/// One hunk of a file's diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@ context` line, without its line end.
    pub header: String,
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<DiffLine>,
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `context`, `add` or `delete`.
    pub kind: &'static str,
    pub old_line: Option<u32>,
    pub new_line: Option<u32>,
    /// The line as it is in the file, including its line end if it has one (the
    /// last line of a file without a final newline has none).
    pub content: String,
}

/// Computes the unstaged or the staged diff.
pub fn diff(root: &Path, query: DiffQuery<'_>) -> Result<Diff, GitError> {
    let repo = open(root)?;
    let path = query.path.map(clean_path).transpose()?;
    if let Some(path) = &path
        && !path_is_known(&repo, root, path)?
    {
        return Err(GitError::PathNotFound(path.clone()));
    }

    let mut options = diff_options();
    if let Some(path) = &path {
        options.pathspec(path.as_str()).disable_pathspec_match(true);
    }
    let diff = if query.staged {
        let head_tree = head_commit(&repo)?.map(|commit| commit.tree()).transpose()?;
        let index = repo.index()?;
        let mut diff = repo.diff_tree_to_index(head_tree.as_ref(), Some(&index), Some(&mut options))?;
        // `git diff --cached` finds renames (diff.renames is on by default).
        diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
        diff
    } else {
        include_untracked(&mut options);
        repo.diff_index_to_workdir(None, Some(&mut options))?
    };
    collect(&diff, root)
}

/// The options every diff shares: the size past which a file counts as binary,
/// the indent heuristic, submodules compared.
pub(crate) fn diff_options() -> DiffOptions {
    let mut options = DiffOptions::new();
    options.indent_heuristic(true).max_size(MAX_FILE_BYTES).ignore_submodules(false);
    options
}

/// Lists untracked (not ignored) files one by one, with their content, as added.
pub(crate) fn include_untracked(options: &mut DiffOptions) {
    options.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
}

/// Turns a libgit2 diff into a [`Diff`], applying the limits ([`MAX_DIFF_FILES`],
/// [`MAX_DIFF_BYTES`]). `workdir` is where untracked files are read from.
pub(crate) fn collect(diff: &git2::Diff<'_>, workdir: &Path) -> Result<Diff, GitError> {
    let mut text = String::new();
    let mut truncated = false;
    let mut files = Vec::new();
    for index in 0..diff.deltas().len() {
        if files.len() >= MAX_DIFF_FILES {
            truncated = true;
            break;
        }
        let Some(delta) = diff.get_delta(index) else { continue };
        let change = change_kind(delta.status());
        let Some(change) = change else { continue };
        let path = delta.new_file().path_bytes().or(delta.old_file().path_bytes()).map(path_text).unwrap_or_default();
        let old_path = (change == ChangeKind::Renamed || change == ChangeKind::Copied)
            .then(|| delta.old_file().path_bytes().map(path_text))
            .flatten();
        if truncated {
            files.push(FileDiff {
                path,
                old_path,
                change,
                binary: delta.flags().is_binary(),
                additions: 0,
                deletions: 0,
                hunks: Vec::new(),
                truncated: true,
            });
            continue;
        }
        let Some(mut patch) = Patch::from_diff(diff, index)? else { continue };
        let buf = patch.to_buf()?;
        let mut file_text = String::from_utf8_lossy(&buf).into_owned();
        if delta.status() == Delta::Untracked {
            file_text = untracked_as_added(&file_text, &delta, workdir);
        }
        if text.len() + file_text.len() > MAX_DIFF_BYTES {
            truncated = true;
            files.push(FileDiff {
                path,
                old_path,
                change,
                binary: patch.delta().flags().is_binary(),
                additions: 0,
                deletions: 0,
                hunks: Vec::new(),
                truncated: true,
            });
            continue;
        }
        text.push_str(&file_text);
        let binary = patch.delta().flags().is_binary();
        let (_, additions, deletions) = patch.line_stats()?;
        let mut hunks = Vec::with_capacity(patch.num_hunks());
        for hunk_index in 0..patch.num_hunks() {
            let (hunk, line_count) = patch.hunk(hunk_index)?;
            let header = String::from_utf8_lossy(hunk.header()).trim_end_matches(['\r', '\n']).to_owned();
            let mut lines = Vec::with_capacity(line_count);
            for line_index in 0..line_count {
                let line = patch.line_in_hunk(hunk_index, line_index)?;
                let kind = match line.origin() {
                    ' ' => "context",
                    '+' => "add",
                    '-' => "delete",
                    // The "\ No newline at end of file" markers: the missing line end
                    // already shows in `content`.
                    _ => continue,
                };
                lines.push(DiffLine {
                    kind,
                    old_line: line.old_lineno(),
                    new_line: line.new_lineno(),
                    content: String::from_utf8_lossy(line.content()).into_owned(),
                });
            }
            hunks.push(Hunk {
                header,
                old_start: hunk.old_start(),
                old_lines: hunk.old_lines(),
                new_start: hunk.new_start(),
                new_lines: hunk.new_lines(),
                lines,
            });
        }
        files.push(FileDiff { path, old_path, change, binary, additions, deletions, hunks, truncated: false });
    }
    Ok(Diff { text, truncated, files })
}

/// libgit2 prints an untracked file's patch like a modification (`--- a/…`, no
/// mode line); rewrite its header the way `git diff` shows a new file.
fn untracked_as_added(text: &str, delta: &git2::DiffDelta<'_>, workdir: &Path) -> String {
    let Some(body_start) = text.find("\n@@").map(|at| at + 1).or_else(|| text.find("\nBinary files ").map(|at| at + 1))
    else {
        return text.to_owned();
    };
    let (header, body) = text.split_at(body_start);
    let mut lines = header.lines();
    let mut rewritten = String::with_capacity(text.len() + 64);
    if let Some(first) = lines.next() {
        rewritten.push_str(first);
        rewritten.push('\n');
    }
    let new_file = delta.new_file();
    let mode = u32::from(new_file.mode());
    rewritten.push_str(&format!("new file mode {mode:06o}\n"));
    let id = match new_file.path_bytes() {
        Some(path) if new_file.id().is_zero() => {
            git2::Oid::hash_file(git2::ObjectType::Blob, workdir.join(bytes_path(path))).unwrap_or(new_file.id())
        }
        _ => new_file.id(),
    };
    if !id.is_zero() {
        let id = id.to_string();
        rewritten.push_str(&format!("index 0000000..{}\n", &id[..7.min(id.len())]));
    }
    for line in lines {
        if line.starts_with("--- ") {
            rewritten.push_str("--- /dev/null\n");
        } else if line.starts_with("new file mode") || line.starts_with("index ") {
            continue;
        } else {
            rewritten.push_str(line);
            rewritten.push('\n');
        }
    }
    match body.strip_prefix("Binary files ").and_then(|rest| rest.split_once(" and ")) {
        Some((_, rest)) => rewritten.push_str(&format!("Binary files /dev/null and {rest}")),
        None => rewritten.push_str(body),
    }
    rewritten
}

fn bytes_path(bytes: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(bytes))
}

fn change_kind(delta: Delta) -> Option<ChangeKind> {
    match delta {
        Delta::Added | Delta::Untracked => Some(ChangeKind::Added),
        Delta::Deleted => Some(ChangeKind::Deleted),
        Delta::Modified => Some(ChangeKind::Modified),
        Delta::Renamed => Some(ChangeKind::Renamed),
        Delta::Copied => Some(ChangeKind::Copied),
        Delta::Typechange => Some(ChangeKind::TypeChange),
        Delta::Conflicted => Some(ChangeKind::Conflicted),
        Delta::Unmodified | Delta::Ignored | Delta::Unreadable => None,
    }
}

/// Whether a path names something in the work tree, the index or HEAD.
pub(crate) fn path_is_known(repo: &Repository, root: &Path, path: &str) -> Result<bool, GitError> {
    if root.join(path).symlink_metadata().is_ok() {
        return Ok(true);
    }
    let index = repo.index()?;
    if index.iter().any(|entry| path_is_under(&entry.path, path)) {
        return Ok(true);
    }
    if let Some(commit) = head_commit(repo)?
        && commit.tree()?.get_path(Path::new(path)).is_ok()
    {
        return Ok(true);
    }
    Ok(false)
}
