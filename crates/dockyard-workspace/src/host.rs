//! `HostWorkspace`: a workspace that is a directory on the host's file system
//! (the embedded default). A container-volume workspace implements the same
//! `Workspace` trait later.

use crate::TEMP_PREFIX;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::WorkspaceError;
use crate::path::WorkspacePath;
use crate::{Entry, EntryKind, FileContent, Quotas, Usage, Workspace, WriteOutcome};

/// How many leading bytes decide whether a file is text.
const SNIFF_BYTES: usize = 8000;

pub struct HostWorkspace {
    root: PathBuf,
    quotas: Quotas,
    /// Serialises writers, so an `If-Match` check and the rename after it are one step.
    write_lock: Mutex<()>,
    /// Files and bytes in use, counted once and then kept up to date by our own writes.
    usage: Mutex<Option<Usage>>,
}

impl HostWorkspace {
    /// A workspace rooted at `root`, created if missing.
    pub fn open(root: PathBuf, quotas: Quotas) -> Result<Self, WorkspaceError> {
        fs::create_dir_all(&root)?;
        let root = fs::canonicalize(&root)?;
        Ok(Self { root, quotas, write_lock: Mutex::new(()), usage: Mutex::new(None) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real location of `path`, after checking that neither it nor any parent
    /// resolves (through symlinks) outside the workspace. With `follow_last` false the
    /// final segment itself may be a symlink (to delete or move the link, not its target).
    pub fn resolve(&self, path: &WorkspacePath, follow_last: bool) -> Result<PathBuf, WorkspaceError> {
        let full = path.under(&self.root);
        // Check the deepest existing ancestor (or the path itself) after resolving links.
        let mut probe = if follow_last {
            full.clone()
        } else {
            path.parent().map(|p| p.under(&self.root)).unwrap_or_else(|| self.root.clone())
        };
        loop {
            match fs::canonicalize(&probe) {
                Ok(real) => {
                    if !real.starts_with(&self.root) {
                        return Err(WorkspaceError::Escape);
                    }
                    break;
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    // A dangling link is an escape when it points outside; otherwise walk up.
                    if let Ok(target) = fs::read_link(&probe) {
                        let target = if target.is_absolute() {
                            target
                        } else {
                            probe.parent().unwrap_or(&self.root).join(target)
                        };
                        if !normalise(&target).starts_with(&self.root) {
                            return Err(WorkspaceError::Escape);
                        }
                    }
                    match probe.parent() {
                        Some(parent) if parent.starts_with(&self.root) => probe = parent.to_path_buf(),
                        _ => break,
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(full)
    }

    /// Usage; the caller holds the write lock, so no write is half-way while counting.
    fn usage_locked(&self) -> Result<Usage, WorkspaceError> {
        let mut cached = self.usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(usage) = *cached {
            return Ok(usage);
        }
        let usage = measure(&self.root)?;
        *cached = Some(usage);
        Ok(usage)
    }

    fn adjust_usage(&self, files: i64, bytes: i64) {
        let mut cached = self.usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(usage) = cached.as_mut() {
            usage.files = usage.files.saturating_add_signed(files);
            usage.bytes = usage.bytes.saturating_add_signed(bytes);
        }
    }

    /// Forgets the cached usage; the next write counts again. Called after changes
    /// made behind our back (imports, git checkouts, terminals).
    pub fn invalidate_usage(&self) {
        *self.usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// Runs `task` on the workspace folder while holding the write lock, then
    /// forgets the cached usage. For changes made by tools that work on the folder
    /// as a whole (git checkouts and pulls, installing an import).
    pub fn exclusive<T>(&self, task: impl FnOnce(&Path) -> T) -> T {
        let _guard = self.lock();
        let outcome = task(&self.root);
        self.invalidate_usage();
        outcome
    }

    /// Moves everything under `staging` into the workspace, replacing what is in
    /// the way (a file replaces a file or folder; folders merge), then removes
    /// `staging`. `staging` must be on the same file system. Holds the write lock.
    pub fn install(&self, staging: &Path) -> Result<(), WorkspaceError> {
        self.exclusive(|root| merge_into(staging, root))?;
        fs::remove_dir_all(staging).or_else(|error| match error.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(error),
        })?;
        Ok(())
    }

    fn check_quota(&self, new_files: u64, old_bytes: u64, new_bytes: u64) -> Result<(), WorkspaceError> {
        if new_bytes > self.quotas.max_file_bytes {
            return Err(WorkspaceError::QuotaExceeded { limit: "file_size", max: self.quotas.max_file_bytes });
        }
        let usage = self.usage_locked()?;
        if new_files > 0 && usage.files + new_files > self.quotas.max_files {
            return Err(WorkspaceError::QuotaExceeded { limit: "file_count", max: self.quotas.max_files });
        }
        if new_bytes > old_bytes && usage.bytes + (new_bytes - old_bytes) > self.quotas.max_total_bytes {
            return Err(WorkspaceError::QuotaExceeded { limit: "total_bytes", max: self.quotas.max_total_bytes });
        }
        Ok(())
    }

    /// The checked part of a write, under the write lock. Renames `prepared` into place
    /// when it was written in the target's (real) folder; otherwise writes here.
    /// Answers the outcome and whether `prepared` was used (its folder is then still
    /// to be fsynced).
    fn write_locked(
        &self,
        path: &WorkspacePath,
        bytes: &[u8],
        if_match: Option<&str>,
        prepared: Option<&PreparedWrite>,
    ) -> Result<(WriteOutcome, bool), WorkspaceError> {
        let mut full = self.resolve(path, true)?;
        // Writing through a link (that stays inside) updates its target, as editors do.
        if fs::symlink_metadata(&full).is_ok_and(|metadata| metadata.is_symlink())
            && let Ok(real) = fs::canonicalize(&full)
        {
            full = real;
        }
        let existing = match fs::metadata(&full) {
            Ok(metadata) if metadata.is_dir() => return Err(WorkspaceError::IsADirectory(path.to_string())),
            Ok(metadata) => Some(metadata.len()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error.into()),
        };
        if let Some(expected) = if_match {
            let current = match existing {
                Some(_) => Some(etag_of(&fs::read(&full)?)),
                None => None,
            };
            let matches = match (&current, expected.trim()) {
                (Some(_), "*") => true,
                (Some(current), expected) => {
                    expected.split(',').any(|tag| tag.trim().trim_start_matches("W/") == current)
                }
                (None, _) => false,
            };
            if !matches {
                return Err(WorkspaceError::PreconditionFailed { current_etag: current });
            }
        }
        self.check_quota(u64::from(existing.is_none()), existing.unwrap_or(0), bytes.len() as u64)?;
        let parent = full.parent().ok_or(WorkspaceError::Root("written as a file"))?;
        // The prepared file is used only if it sits in the folder the checks just
        // resolved (a folder swapped for a link meanwhile makes the real paths differ).
        let same_folder = |prepared: &&PreparedWrite| fs::canonicalize(parent).is_ok_and(|real| real == prepared.dir);
        let used_prepared = match prepared.filter(same_folder) {
            Some(prepared) => {
                if let Ok(metadata) = fs::metadata(&full) {
                    let _ = fs::set_permissions(&prepared.temporary, metadata.permissions());
                }
                fs::rename(&prepared.temporary, &full)?;
                true
            }
            None => {
                create_dirs_within(&self.root, parent)?;
                write_atomically(parent, &full, bytes)?;
                false
            }
        };
        self.adjust_usage(i64::from(existing.is_none()), bytes.len() as i64 - existing.unwrap_or(0) as i64);
        Ok((WriteOutcome { etag: etag_of(bytes), created: existing.is_none() }, used_prepared))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Workspace for HostWorkspace {
    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn list(&self, dir: &WorkspacePath) -> Result<Vec<Entry>, WorkspaceError> {
        let full = self.resolve(dir, true)?;
        let metadata = fs::metadata(&full).map_err(|error| not_found(error, dir))?;
        if !metadata.is_dir() {
            return Err(WorkspaceError::NotADirectory(dir.to_string()));
        }
        let ignores = IgnoreRules::for_dir(&self.root, &full);
        let mut entries = Vec::new();
        for item in fs::read_dir(&full)? {
            let item = item?;
            let Some(name) = item.file_name().to_str().map(str::to_owned) else { continue };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let Ok(path) = dir.join(&name) else { continue };
            let link_metadata = item.metadata()?;
            let kind = if link_metadata.is_symlink() {
                EntryKind::Symlink
            } else if link_metadata.is_dir() {
                EntryKind::Dir
            } else {
                EntryKind::File
            };
            let ignored = name == ".git" || ignores.is_ignored(&item.path(), kind == EntryKind::Dir);
            entries.push(Entry {
                name,
                path,
                kind,
                size: if kind == EntryKind::File { link_metadata.len() } else { 0 },
                mtime_ms: mtime_ms(&link_metadata),
                ignored,
            });
        }
        entries.sort_by(|a, b| {
            (a.kind != EntryKind::Dir, a.name.to_lowercase()).cmp(&(b.kind != EntryKind::Dir, b.name.to_lowercase()))
        });
        Ok(entries)
    }

    fn read(&self, path: &WorkspacePath) -> Result<FileContent, WorkspaceError> {
        let full = self.resolve(path, true)?;
        let metadata = fs::metadata(&full).map_err(|error| not_found(error, path))?;
        if metadata.is_dir() {
            return Err(WorkspaceError::IsADirectory(path.to_string()));
        }
        if metadata.len() > self.quotas.max_file_bytes {
            return Err(WorkspaceError::QuotaExceeded { limit: "file_size", max: self.quotas.max_file_bytes });
        }
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        File::open(&full)?.read_to_end(&mut bytes)?;
        let etag = etag_of(&bytes);
        let binary = is_binary(&bytes);
        Ok(FileContent { bytes, etag, binary, mtime_ms: mtime_ms(&metadata) })
    }

    fn etag(&self, path: &WorkspacePath) -> Result<Option<String>, WorkspaceError> {
        let full = self.resolve(path, true)?;
        match fs::metadata(&full) {
            Ok(metadata) if metadata.is_dir() => Err(WorkspaceError::IsADirectory(path.to_string())),
            Ok(_) => Ok(Some(etag_of(&fs::read(&full)?))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn write(
        &self,
        path: &WorkspacePath,
        bytes: &[u8],
        if_match: Option<&str>,
    ) -> Result<WriteOutcome, WorkspaceError> {
        if path.is_root() {
            return Err(WorkspaceError::Root("written as a file"));
        }
        if bytes.len() as u64 > self.quotas.max_file_bytes {
            return Err(WorkspaceError::QuotaExceeded { limit: "file_size", max: self.quotas.max_file_bytes });
        }
        // The slow part of a durable write (the data and its fsync) happens before the
        // write lock, into a temporary file next to the target, so writers of different
        // files overlap. Under the lock: the checks and the rename. The folder's fsync
        // comes after the lock; the caller still waits for it before the answer.
        let prepared = match self.resolve(path, true) {
            Ok(full) => full.parent().and_then(|parent| prepare_write(&self.root, parent, bytes)),
            Err(_) => None,
        };
        let outcome = {
            let _guard = self.lock();
            self.write_locked(path, bytes, if_match, prepared.as_ref())
        };
        match (outcome, prepared) {
            (Ok((outcome, true)), Some(prepared)) => {
                File::open(&prepared.dir)?.sync_all()?;
                Ok(outcome)
            }
            (outcome, prepared) => {
                if let Some(prepared) = prepared {
                    let _ = fs::remove_file(prepared.temporary);
                }
                outcome.map(|(outcome, _)| outcome)
            }
        }
    }

    fn create_dir(&self, path: &WorkspacePath) -> Result<(), WorkspaceError> {
        if path.is_root() {
            return Err(WorkspaceError::AlreadyExists(String::new()));
        }
        let _guard = self.lock();
        let full = self.resolve(path, false)?;
        if fs::symlink_metadata(&full).is_ok() {
            return Err(WorkspaceError::AlreadyExists(path.to_string()));
        }
        create_dirs_within(&self.root, &full)?;
        Ok(())
    }

    fn delete(&self, path: &WorkspacePath) -> Result<(), WorkspaceError> {
        if path.is_root() {
            return Err(WorkspaceError::Root("deleted"));
        }
        let _guard = self.lock();
        let full = self.resolve(path, false)?;
        let metadata = fs::symlink_metadata(&full).map_err(|error| not_found(error, path))?;
        if metadata.is_dir() {
            fs::remove_dir_all(&full)?;
            self.invalidate_usage();
        } else {
            fs::remove_file(&full)?;
            self.adjust_usage(-1, -(metadata.len() as i64));
        }
        Ok(())
    }

    fn rename(&self, from: &WorkspacePath, to: &WorkspacePath, overwrite: bool) -> Result<(), WorkspaceError> {
        if from.is_root() || to.is_root() {
            return Err(WorkspaceError::Root("moved"));
        }
        if to.starts_with(from) {
            return Err(WorkspaceError::IntoItself);
        }
        let _guard = self.lock();
        let source = self.resolve(from, false)?;
        let target = self.resolve(to, false)?;
        fs::symlink_metadata(&source).map_err(|error| not_found(error, from))?;
        ensure_not_into_itself(&source, &target)?;
        if let Ok(existing) = fs::symlink_metadata(&target)
            && (!overwrite || existing.is_dir())
        {
            return Err(WorkspaceError::AlreadyExists(to.to_string()));
        }
        if let Some(parent) = target.parent() {
            create_dirs_within(&self.root, parent)?;
        }
        fs::rename(&source, &target)?;
        if overwrite {
            self.invalidate_usage();
        }
        Ok(())
    }

    fn copy(&self, from: &WorkspacePath, to: &WorkspacePath) -> Result<(), WorkspaceError> {
        if from.is_root() || to.is_root() {
            return Err(WorkspaceError::Root("copied"));
        }
        if to.starts_with(from) {
            return Err(WorkspaceError::IntoItself);
        }
        let _guard = self.lock();
        let source = self.resolve(from, false)?;
        let target = self.resolve(to, false)?;
        let metadata = fs::symlink_metadata(&source).map_err(|error| not_found(error, from))?;
        // A copy of a link that leads outside would be one more way out.
        self.resolve(from, true)?;
        ensure_not_into_itself(&source, &target)?;
        if fs::symlink_metadata(&target).is_ok() {
            return Err(WorkspaceError::AlreadyExists(to.to_string()));
        }
        let added = if metadata.is_dir() { measure(&source)? } else { Usage { files: 1, bytes: metadata.len() } };
        let usage = self.usage_locked()?;
        if usage.files + added.files > self.quotas.max_files {
            return Err(WorkspaceError::QuotaExceeded { limit: "file_count", max: self.quotas.max_files });
        }
        if usage.bytes + added.bytes > self.quotas.max_total_bytes {
            return Err(WorkspaceError::QuotaExceeded { limit: "total_bytes", max: self.quotas.max_total_bytes });
        }
        if let Some(parent) = target.parent() {
            create_dirs_within(&self.root, parent)?;
        }
        copy_tree(&source, &target)?;
        self.adjust_usage(added.files as i64, added.bytes as i64);
        Ok(())
    }

    fn usage(&self) -> Result<Usage, WorkspaceError> {
        let _guard = self.lock();
        self.usage_locked()
    }

    fn quotas(&self) -> Quotas {
        self.quotas
    }
}

fn not_found(error: std::io::Error, path: &WorkspacePath) -> WorkspaceError {
    if error.kind() == std::io::ErrorKind::NotFound { WorkspaceError::NotFound(path.to_string()) } else { error.into() }
}

/// A strong ETag from the content: equal bytes, equal tag, whatever the mtime.
pub fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", &hex::encode(digest)[..32])
}

/// Text is valid UTF-8 without NUL bytes in its first 8000 bytes (git's rule, plus UTF-8).
pub fn is_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if head.contains(&0) {
        return true;
    }
    match std::str::from_utf8(head) {
        Ok(_) => false,
        // A multi-byte character cut by the sniff window is still text; an incomplete
        // sequence at the real end of the file is not.
        Err(error) => error.error_len().is_some() || bytes.len() <= SNIFF_BYTES,
    }
}

fn mtime_ms(metadata: &fs::Metadata) -> i64 {
    metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|since| since.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes `bytes` to `target` via a temporary file in the same directory, fsynced
/// and renamed over the target, then fsyncs the directory: readers see the old or
/// the new content, never a mix, and a crash loses nothing that was acknowledged.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), WorkspaceError> {
    let temporary = write_temporary(dir, bytes)?;
    let result = (|| {
        if let Ok(existing) = fs::metadata(target) {
            let _ = fs::set_permissions(&temporary, existing.permissions());
        }
        fs::rename(&temporary, target)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    Ok(result?)
}

/// Writes and fsyncs `bytes` into a new temporary file in `dir`; answers its path.
/// Nothing is left behind on failure.
fn write_temporary(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let temporary = dir.join(format!("{TEMP_PREFIX}{}", ulid::Ulid::new()));
    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(temporary),
        Err(error) => {
            let _ = fs::remove_file(&temporary);
            Err(error)
        }
    }
}

/// A temporary file holding the new content, written and fsynced, waiting to be
/// renamed over its target.
struct PreparedWrite {
    dir: PathBuf,
    temporary: PathBuf,
}

/// Writes and fsyncs `bytes` into a new temporary file in `dir`, when `dir` exists
/// and really is inside `root`. `None` when it cannot: the write then happens under
/// the lock, where the checks give the precise error.
fn prepare_write(root: &Path, dir: &Path, bytes: &[u8]) -> Option<PreparedWrite> {
    let dir = fs::canonicalize(dir).ok().filter(|real| real.starts_with(root) && real.is_dir())?;
    let temporary = write_temporary(&dir, bytes).ok()?;
    Some(PreparedWrite { dir, temporary })
}

/// Refuses to put a folder inside itself, judged on the real (link-resolved) paths.
fn ensure_not_into_itself(source: &Path, target: &Path) -> Result<(), WorkspaceError> {
    let Ok(real_source) = fs::canonicalize(source) else { return Ok(()) };
    if !real_source.is_dir() {
        return Ok(());
    }
    // The target does not exist yet: resolve its deepest existing ancestor.
    let mut probe = target.parent();
    while let Some(dir) = probe {
        if let Ok(real) = fs::canonicalize(dir) {
            if real.starts_with(&real_source) {
                return Err(WorkspaceError::IntoItself);
            }
            return Ok(());
        }
        probe = dir.parent();
    }
    Ok(())
}

/// `create_dir_all`, refusing to create through a symlink that leads outside.
fn create_dirs_within(root: &Path, dir: &Path) -> Result<(), WorkspaceError> {
    fs::create_dir_all(dir)?;
    if !fs::canonicalize(dir)?.starts_with(root) {
        return Err(WorkspaceError::Escape);
    }
    Ok(())
}

/// Files and bytes under `dir` (links count as files of their own size).
fn measure(dir: &Path) -> Result<Usage, WorkspaceError> {
    let mut usage = Usage::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let metadata = fs::symlink_metadata(&current)?;
        if metadata.is_dir() {
            for item in fs::read_dir(&current)? {
                let item = item?;
                if !item.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    stack.push(item.path());
                }
            }
        } else if current != dir {
            usage.files += 1;
            usage.bytes += metadata.len();
        } else {
            usage = Usage { files: 1, bytes: metadata.len() };
        }
    }
    Ok(usage)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), WorkspaceError> {
    let metadata = fs::symlink_metadata(from)?;
    if metadata.is_symlink() {
        #[cfg(unix)]
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else if metadata.is_dir() {
        fs::create_dir(to)?;
        for item in fs::read_dir(from)? {
            let item = item?;
            copy_tree(&item.path(), &to.join(item.file_name()))?;
        }
    } else {
        fs::copy(from, to)?;
    }
    Ok(())
}

/// Lexically normalises a path (for link targets that do not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The `.gitignore` rules that apply inside one directory: `.git/info/exclude`
/// (anchored at the root), the root's `.gitignore` and every nested one on the way
/// down.
struct IgnoreRules {
    matchers: Vec<ignore::gitignore::Gitignore>,
}

impl IgnoreRules {
    fn for_dir(root: &Path, dir: &Path) -> Self {
        let mut matchers = Vec::new();
        let exclude = root.join(".git/info/exclude");
        if exclude.exists() {
            let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
            if builder.add(&exclude).is_none()
                && let Ok(matcher) = builder.build()
            {
                matchers.push(matcher);
            }
        }
        let mut current = root.to_path_buf();
        let relative = dir.strip_prefix(root).unwrap_or(Path::new(""));
        let mut levels = vec![current.clone()];
        for component in relative.components() {
            current.push(component);
            levels.push(current.clone());
        }
        for level in levels {
            let file = level.join(".gitignore");
            if file.exists() {
                let (matcher, _) = ignore::gitignore::Gitignore::new(&file);
                matchers.push(matcher);
            }
        }
        Self { matchers }
    }

    /// Git's rule: a path inside an ignored folder is ignored, whatever a `!pattern`
    /// says about the path itself; otherwise the last matching pattern wins, with
    /// deeper `.gitignore` files after shallower ones.
    fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
        ancestors.reverse();
        for ancestor in ancestors {
            if self.matches(ancestor, true) {
                return true;
            }
        }
        self.matches(path, is_dir)
    }

    fn matches(&self, path: &Path, is_dir: bool) -> bool {
        let mut ignored = false;
        for matcher in &self.matchers {
            // A `.gitignore` only speaks about paths below its own folder.
            if path == matcher.path() || !path.starts_with(matcher.path()) {
                continue;
            }
            match matcher.matched(path, is_dir) {
                ignore::Match::Ignore(_) => ignored = true,
                ignore::Match::Whitelist(_) => ignored = false,
                ignore::Match::None => {}
            }
        }
        ignored
    }
}

/// Moves the entries of `from` into `into`, recursively merging folders that exist
/// on both sides. Entries are renamed, never copied, so it is fast and never leaves
/// a half-written file.
fn merge_into(from: &Path, into: &Path) -> Result<(), WorkspaceError> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let target = into.join(entry.file_name());
        let source_is_dir = entry.file_type()?.is_dir();
        match fs::symlink_metadata(&target) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => fs::rename(&source, &target)?,
            Err(error) => return Err(error.into()),
            Ok(existing) if existing.is_dir() && source_is_dir => merge_into(&source, &target)?,
            Ok(existing) => {
                if existing.is_dir() {
                    fs::remove_dir_all(&target)?;
                } else {
                    fs::remove_file(&target)?;
                }
                fs::rename(&source, &target)?;
            }
        }
    }
    Ok(())
}
