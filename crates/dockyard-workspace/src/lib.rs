//! Project workspaces: the files the IDE edits, agents change and deploys build
//! from.
//!
//! API Boundary: callers hold a `dyn Workspace` and pass `WorkspacePath`s, which
//! can only be made by parsing (see `path`). The operations are blocking; async
//! callers run them on the blocking pool. `HostWorkspace` (a directory on the
//! host) is the embedded default; a workspace inside a container volume
//! implements the same trait later.

pub mod archive;
mod error;
pub mod export;
pub mod file_index;
mod host;
pub mod path;
pub mod search;

use std::path::Path;

pub use error::WorkspaceError;
pub use host::{HostWorkspace, etag_of, is_binary};
pub use path::{PathError, WorkspacePath};

/// Names of in-flight temporary files (atomic writes, exports): never listed,
/// searched, indexed or counted against quotas.
pub(crate) const TEMP_PREFIX: &str = ".dockyard-tmp-";

/// The walk shared by search and the file index: never through links, honouring
/// `.gitignore`, `.ignore` and `.git/info/exclude` (unless `ignored`), hidden files only
/// with `hidden`, no ignore files above the root, and neither temporary files nor
/// nested `.git` folders.
pub(crate) fn workspace_walker(root: &std::path::Path, hidden: bool, ignored: bool) -> ignore::WalkBuilder {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .follow_links(false)
        .hidden(!hidden)
        .parents(false)
        .ignore(!ignored)
        .git_ignore(!ignored)
        .git_exclude(!ignored)
        .git_global(false)
        // Workspaces need not be git repositories for `.gitignore` to count.
        .require_git(false)
        .threads(threads)
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            !(name.starts_with(TEMP_PREFIX) || (name == ".git" && entry.depth() > 0))
        });
    builder
}

/// Per-workspace limits. Exceeding one names it (`file_size`, `file_count`, `total_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub max_file_bytes: u64,
    pub max_files: u64,
    pub max_total_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self { max_file_bytes: 50 * 1024 * 1024, max_files: 200_000, max_total_bytes: 5 * 1024 * 1024 * 1024 }
    }
}

/// Files and bytes in use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
        }
    }
}

/// One item of a directory listing.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub path: WorkspacePath,
    pub kind: EntryKind,
    pub size: u64,
    pub mtime_ms: i64,
    /// Whether git ignores it (`.gitignore` files, `.git/info/exclude`; `.git` itself).
    pub ignored: bool,
}

/// A file's content with its version tag.
#[derive(Debug, Clone)]
pub struct FileContent {
    pub bytes: Vec<u8>,
    /// A strong ETag (quoted) derived from the content.
    pub etag: String,
    pub binary: bool,
    pub mtime_ms: i64,
}

#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub etag: String,
    pub created: bool,
}

/// The file operations every workspace backend offers.
pub trait Workspace: Send + Sync {
    /// Where the files are on this machine, for tools that need a directory
    /// (search, git). `None` for backends without a local directory.
    fn local_root(&self) -> Option<&Path>;
    /// The entries of a directory, folders first, then by name.
    fn list(&self, dir: &WorkspacePath) -> Result<Vec<Entry>, WorkspaceError>;
    fn read(&self, path: &WorkspacePath) -> Result<FileContent, WorkspaceError>;
    /// The current ETag of a file, or `None` when it does not exist.
    fn etag(&self, path: &WorkspacePath) -> Result<Option<String>, WorkspaceError>;
    /// Writes a whole file atomically, creating parent folders. With `if_match`,
    /// refuses (`PreconditionFailed`) unless the file's current ETag is one of
    /// the listed tags (`*`: any existing file).
    fn write(&self, path: &WorkspacePath, bytes: &[u8], if_match: Option<&str>)
    -> Result<WriteOutcome, WorkspaceError>;
    fn create_dir(&self, path: &WorkspacePath) -> Result<(), WorkspaceError>;
    /// Deletes a file, link or folder (recursively).
    fn delete(&self, path: &WorkspacePath) -> Result<(), WorkspaceError>;
    fn rename(&self, from: &WorkspacePath, to: &WorkspacePath, overwrite: bool) -> Result<(), WorkspaceError>;
    fn copy(&self, from: &WorkspacePath, to: &WorkspacePath) -> Result<(), WorkspaceError>;
    fn usage(&self) -> Result<Usage, WorkspaceError>;
    fn quotas(&self) -> Quotas;
}
