//! Build contexts: a folder (plus generated files) as the tar the engine builds from.
//!
//! [`tar_context`] walks the context folder and writes an uncompressed tar into
//! an anonymous temporary file (created, then unlinked at once, so nothing is
//! left behind even if the process dies), which the Docker backend then streams
//! to the engine. A context is never held in memory whole.
//!
//! Invariants:
//! - `.dockerignore` has Docker's semantics, not gitignore's: patterns are
//!   relative to the context root (`*.log` matches only at the root, `**/*.log`
//!   anywhere), a pattern that matches a directory excludes everything in it,
//!   the last matching pattern wins, and `!` makes an exception. An excluded
//!   directory is still entered when an exception names a path inside it
//!   (Docker's own rule, by prefix). The Dockerfile and `.dockerignore` are
//!   always sent. The matcher is a port of moby's `patternmatcher`.
//! - The tar is deterministic: entries are sorted by path, owners are 0:0 without
//!   names, and every mtime is [`CONTEXT_MTIME`], so two tars of the same content
//!   are byte-identical and the engine's layer cache hits even when the folder
//!   was freshly staged (new mtimes). Permission bits are kept (executables stay
//!   executable).
//! - Symbolic links stay links when they point inside the context; a link that
//!   points outside (absolute, or escaping by `..`) is refused, and so are
//!   sockets, FIFOs and devices. Excluded paths are never looked at.
//! - The tar's size (headers and padding included) never exceeds `max_bytes`:
//!   the walk stops with [`RuntimeError::ContextTooLarge`] as soon as the next
//!   entry would cross it.
//! - An inline Dockerfile goes in as [`INLINE_DOCKERFILE`]; extra files win over
//!   files of the same path in the folder.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;

use crate::{Dockerfile, RuntimeError};

/// The path, inside the context, of an inline (generated) Dockerfile.
pub const INLINE_DOCKERFILE: &str = "Dockerfile.dockyard";

/// The mtime of every entry (2000-01-01T00:00:00Z). A fixed value keeps the tar
/// byte-identical across stagings of the same source; it is not 0 so that tools
/// which treat the epoch as "unknown" still behave.
pub const CONTEXT_MTIME: u64 = 946_684_800;

const BLOCK: u64 = 512;

/// A build context ready to stream: the tar in an anonymous temporary file.
#[derive(Debug)]
pub struct BuildContext {
    /// Positioned at the start of the tar.
    pub file: File,
    /// The tar's size in bytes.
    pub size: u64,
    /// The Dockerfile's path inside the context, for the engine's `dockerfile` parameter.
    pub dockerfile: String,
    /// How many files, links and directories went in.
    pub entries: usize,
}

/// Writes the tar of `dir` (see the module docs) and answers it rewound.
///
/// Blocking: call it from `spawn_blocking`.
pub fn tar_context(
    dir: &Path,
    dockerfile: &Dockerfile,
    extra_files: &[(String, Vec<u8>)],
    max_bytes: u64,
) -> Result<BuildContext, RuntimeError> {
    let root_meta =
        fs::metadata(dir).map_err(|error| RuntimeError::InvalidContext(format!("{}: {error}", dir.display())))?;
    if !root_meta.is_dir() {
        return Err(RuntimeError::InvalidContext(format!("{} is not a directory", dir.display())));
    }

    let dockerfile_path = match dockerfile {
        Dockerfile::Path(path) => normalize_relative(path)?,
        Dockerfile::Inline(_) => INLINE_DOCKERFILE.to_owned(),
    };

    // Generated entries, which win over the folder's.
    let mut generated: BTreeMap<String, &[u8]> = BTreeMap::new();
    for (path, content) in extra_files {
        generated.insert(normalize_relative(path)?, content.as_slice());
    }
    if let Dockerfile::Inline(text) = dockerfile {
        generated.insert(INLINE_DOCKERFILE.to_owned(), text.as_bytes());
    }

    let mut matcher = match fs::read(dir.join(".dockerignore")) {
        Ok(bytes) => PatternMatcher::parse(&String::from_utf8_lossy(&bytes))?,
        Err(error) if error.kind() == io::ErrorKind::NotFound => PatternMatcher::default(),
        Err(error) => return Err(RuntimeError::InvalidContext(format!(".dockerignore: {error}"))),
    };
    // Docker's CLI does the same: the Dockerfile and .dockerignore are always sent.
    if !matcher.is_empty() {
        matcher.keep(".dockerignore")?;
        matcher.keep(&dockerfile_path)?;
    }

    let entries = collect(dir, &matcher, &generated)?;
    if !matches!(dockerfile, Dockerfile::Inline(_)) && !entries.iter().any(|entry| entry.path == dockerfile_path) {
        return Err(RuntimeError::InvalidContext(format!("no Dockerfile at {dockerfile_path}")));
    }
    let (file, size) = write_tar(dir, &entries, &generated, max_bytes)?;
    Ok(BuildContext { file, size, dockerfile: dockerfile_path, entries: entries.len() })
}

/// A source folder packed for upload, ready to stream.
#[derive(Debug)]
pub struct SourceTar {
    /// Positioned at the start of the (uncompressed) tar.
    pub file: File,
    pub size: u64,
    /// How many files, links and directories went in.
    pub entries: usize,
}

/// The tar of a source folder to upload (`dockyard deploy`): the same walk,
/// rules and determinism as [`tar_context`], without the root's `.git` folder
/// and without requiring a Dockerfile. The folder's `.dockerignore` applies,
/// except to `.dockerignore` itself and the paths in `keep` (the Dockerfile),
/// which the server's build needs.
///
/// Blocking: call it from `spawn_blocking`.
pub fn tar_source(dir: &Path, keep: &[&str], max_bytes: u64) -> Result<SourceTar, RuntimeError> {
    let root_meta =
        fs::metadata(dir).map_err(|error| RuntimeError::InvalidContext(format!("{}: {error}", dir.display())))?;
    if !root_meta.is_dir() {
        return Err(RuntimeError::InvalidContext(format!("{} is not a directory", dir.display())));
    }
    let ignore = match fs::read(dir.join(".dockerignore")) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(RuntimeError::InvalidContext(format!(".dockerignore: {error}"))),
    };
    // `.git` first, so the folder's own patterns may still take it back with `!`.
    let mut matcher = PatternMatcher::parse(&format!(".git\n{ignore}"))?;
    matcher.keep(".dockerignore")?;
    for path in keep {
        matcher.keep(&normalize_relative(path)?)?;
    }
    let generated = BTreeMap::new();
    let entries = collect(dir, &matcher, &generated)?;
    let (file, size) = write_tar(dir, &entries, &generated, max_bytes)?;
    Ok(SourceTar { file, size, entries: entries.len() })
}

/// The entries of `dir` the matcher keeps plus the generated ones, sorted by path.
fn collect(
    dir: &Path,
    matcher: &PatternMatcher,
    generated: &BTreeMap<String, &[u8]>,
) -> Result<Vec<Entry>, RuntimeError> {
    let mut entries = Vec::new();
    walk(dir, "", matcher, generated, &mut entries)?;
    for path in generated.keys() {
        entries.push(Entry { path: path.clone(), kind: EntryKind::Generated });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Writes the entries as a deterministic tar into an anonymous temporary file;
/// answers it rewound, with its size.
fn write_tar(
    dir: &Path,
    entries: &[Entry],
    generated: &BTreeMap<String, &[u8]>,
    max_bytes: u64,
) -> Result<(File, u64), RuntimeError> {
    let file = anonymous_temp_file()?;
    let writer = LimitedWriter { inner: io::BufWriter::new(file), written: 0, limit: max_bytes };
    let mut builder = tar::Builder::new(writer);
    builder.mode(tar::HeaderMode::Deterministic);

    for entry in entries {
        append(&mut builder, dir, entry, generated, max_bytes)?;
    }
    let writer = builder.into_inner().map_err(|error| map_write_error(error, max_bytes))?;
    let size = writer.written;
    let mut file = writer.inner.into_inner().map_err(|error| RuntimeError::Io(error.into_error()))?;
    file.flush()?;
    file.rewind()?;
    Ok((file, size))
}

enum EntryKind {
    Dir(u32),
    File { mode: u32, len: u64 },
    Symlink(String),
    Generated,
}

struct Entry {
    path: String,
    kind: EntryKind,
}

/// Collects the folder's entries below `prefix`, in any order, skipping excluded ones.
fn walk(
    root: &Path,
    prefix: &str,
    matcher: &PatternMatcher,
    generated: &BTreeMap<String, &[u8]>,
    out: &mut Vec<Entry>,
) -> Result<(), RuntimeError> {
    use std::os::unix::fs::PermissionsExt;

    let folder = if prefix.is_empty() { root.to_path_buf() } else { root.join(prefix) };
    let read_dir = fs::read_dir(&folder)
        .map_err(|error| RuntimeError::InvalidContext(format!("{}: {error}", display_path(prefix))))?;
    for item in read_dir {
        let item = item.map_err(|error| RuntimeError::InvalidContext(format!("{}: {error}", display_path(prefix))))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            return Err(RuntimeError::InvalidContext(format!("{}: a file name is not UTF-8", display_path(prefix))));
        };
        let path = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
        let meta = fs::symlink_metadata(root.join(&path))
            .map_err(|error| RuntimeError::InvalidContext(format!("{path}: {error}")))?;
        let file_type = meta.file_type();

        if matcher.matches(&path) {
            // Docker enters an excluded directory only when an exception may
            // name something inside it; the directory entry itself stays out.
            if file_type.is_dir() && matcher.exception_inside(&path) {
                walk(root, &path, matcher, generated, out)?;
            }
            continue;
        }
        if generated.contains_key(&path) {
            if file_type.is_dir() {
                return Err(RuntimeError::InvalidContext(format!(
                    "{path}: a generated file would replace a directory"
                )));
            }
            continue;
        }

        let mode = meta.permissions().mode() & 0o7777;
        if file_type.is_symlink() {
            let target = fs::read_link(root.join(&path))
                .map_err(|error| RuntimeError::InvalidContext(format!("{path}: {error}")))?;
            let Some(target) = target.to_str().map(str::to_owned) else {
                return Err(RuntimeError::InvalidContext(format!("{path}: the link's target is not UTF-8")));
            };
            if !link_stays_inside(&path, &target) {
                return Err(RuntimeError::InvalidContext(format!(
                    "{path}: the symbolic link points outside the context ({target})"
                )));
            }
            out.push(Entry { path, kind: EntryKind::Symlink(target) });
        } else if file_type.is_dir() {
            out.push(Entry { path: path.clone(), kind: EntryKind::Dir(mode) });
            walk(root, &path, matcher, generated, out)?;
        } else if file_type.is_file() {
            out.push(Entry { path, kind: EntryKind::File { mode, len: meta.len() } });
        } else {
            return Err(RuntimeError::InvalidContext(format!(
                "{path}: not a regular file, directory or link (a socket, FIFO or device)"
            )));
        }
    }
    Ok(())
}

fn append(
    builder: &mut tar::Builder<LimitedWriter>,
    root: &Path,
    entry: &Entry,
    generated: &BTreeMap<String, &[u8]>,
    max_bytes: u64,
) -> Result<(), RuntimeError> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(CONTEXT_MTIME);
    header.set_uid(0);
    header.set_gid(0);
    let result = match &entry.kind {
        EntryKind::Dir(mode) => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(*mode);
            header.set_size(0);
            ensure_room(builder, 0, max_bytes)?;
            builder.append_data(&mut header, format!("{}/", entry.path), io::empty())
        }
        EntryKind::Symlink(target) => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            ensure_room(builder, 0, max_bytes)?;
            builder.append_link(&mut header, &entry.path, target)
        }
        EntryKind::File { mode, len } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(*len);
            ensure_room(builder, *len, max_bytes)?;
            let file = File::open(root.join(&entry.path))
                .map_err(|error| RuntimeError::InvalidContext(format!("{}: {error}", entry.path)))?;
            let reader = ExactReader { inner: file.take(*len), remaining: *len, path: &entry.path };
            builder.append_data(&mut header, &entry.path, reader)
        }
        EntryKind::Generated => {
            let content = generated.get(&entry.path).copied().unwrap_or_default();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(content.len() as u64);
            ensure_room(builder, content.len() as u64, max_bytes)?;
            builder.append_data(&mut header, &entry.path, content)
        }
    };
    result.map_err(|error| map_write_error(error, max_bytes))
}

/// Refuses an entry whose header and (padded) data would cross the limit,
/// counting the two zero blocks that end the archive. Long names add GNU
/// extension blocks; the writer's own limit catches those.
fn ensure_room(builder: &mut tar::Builder<LimitedWriter>, len: u64, max_bytes: u64) -> Result<(), RuntimeError> {
    let padded = len.div_ceil(BLOCK) * BLOCK;
    let written = builder.get_ref().written;
    if written.saturating_add(BLOCK).saturating_add(padded).saturating_add(2 * BLOCK) > max_bytes {
        return Err(RuntimeError::ContextTooLarge { limit: max_bytes });
    }
    Ok(())
}

fn map_write_error(error: io::Error, max_bytes: u64) -> RuntimeError {
    if error.kind() == io::ErrorKind::FileTooLarge {
        return RuntimeError::ContextTooLarge { limit: max_bytes };
    }
    if error.kind() == io::ErrorKind::InvalidData {
        return RuntimeError::InvalidContext(error.to_string());
    }
    RuntimeError::Io(error)
}

/// Counts what goes through and refuses to go past `limit`.
struct LimitedWriter {
    inner: io::BufWriter<File>,
    written: u64,
    limit: u64,
}

impl Write for LimitedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written.saturating_add(buf.len() as u64) > self.limit {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "the build context is too large"));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads exactly the length the header announced: a file that shrank while
/// being read would otherwise leave a corrupt tar.
struct ExactReader<'a, R> {
    inner: R,
    remaining: u64,
    path: &'a str,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: the file changed while the context was written", self.path),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Whether a link at `path` (relative to the root) pointing at `target` stays
/// inside the context, resolving `..` lexically from the link's folder. Every
/// link in the context is checked, so a chain of links cannot leave it either.
fn link_stays_inside(path: &str, target: &str) -> bool {
    if Path::new(target).is_absolute() {
        return false;
    }
    let mut depth: Vec<&str> = path.split('/').collect();
    depth.pop();
    for component in Path::new(target).components() {
        match component {
            Component::Normal(part) => depth.push(part.to_str().unwrap_or("")),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// A relative path inside the context, `/`-separated, without `.`, `..` or a leading `/`.
fn normalize_relative(path: &str) -> Result<String, RuntimeError> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => return Err(RuntimeError::InvalidContext(format!("{path}: not UTF-8"))),
            },
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(RuntimeError::InvalidContext(format!(
                    "{path}: must be a relative path inside the context"
                )));
            }
        }
    }
    if parts.is_empty() {
        return Err(RuntimeError::InvalidContext(format!("{path:?} is not a file path")));
    }
    Ok(parts.join("/"))
}

fn display_path(prefix: &str) -> &str {
    if prefix.is_empty() { "." } else { prefix }
}

/// A temporary file nobody else can open: created exclusively, then unlinked
/// at once (the open handle keeps it alive until dropped).
fn anonymous_temp_file() -> Result<File, RuntimeError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    for _ in 0..16 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        let name: PathBuf = dir.join(format!(
            ".dockyard-context-{}-{}-{nanos}.tar",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let opened = fs::OpenOptions::new().read(true).write(true).create_new(true).open(&name);
        match opened {
            Ok(file) => {
                fs::remove_file(&name)?;
                return Ok(file);
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(RuntimeError::Io(error)),
        }
    }
    Err(RuntimeError::Io(io::Error::other("could not create a temporary file for the build context")))
}

/// `.dockerignore` patterns with Docker's semantics (moby's `patternmatcher`).
#[derive(Debug, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
}

#[derive(Debug)]
struct Pattern {
    /// The cleaned pattern, without `!`.
    text: String,
    exception: bool,
    regex: Regex,
}

impl PatternMatcher {
    /// Parses a `.dockerignore` file: one pattern a line, `#` comments, blank lines ignored.
    pub fn parse(text: &str) -> Result<Self, RuntimeError> {
        let mut matcher = Self::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            matcher.add(line)?;
        }
        Ok(matcher)
    }

    fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    fn keep(&mut self, path: &str) -> Result<(), RuntimeError> {
        if self.matches(path) {
            self.add(&format!("!{path}"))?;
        }
        Ok(())
    }

    fn add(&mut self, line: &str) -> Result<(), RuntimeError> {
        let (exception, raw) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let text = clean(raw);
        if text.is_empty() {
            return Ok(());
        }
        let regex = Regex::new(&pattern_regex(&text))
            .map_err(|error| RuntimeError::InvalidContext(format!(".dockerignore pattern {line:?}: {error}")))?;
        self.patterns.push(Pattern { text, exception, regex });
        Ok(())
    }

    /// Whether `path` (relative, `/`-separated) is excluded: the last pattern
    /// that matches it or one of its parent folders decides.
    pub fn matches(&self, path: &str) -> bool {
        let parents: Vec<&str> = match path.rfind('/') {
            Some(index) => path[..index].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pattern in &self.patterns {
            // An include cannot change an already excluded path, nor an
            // exception a path nothing excluded.
            if pattern.exception != matched {
                continue;
            }
            let mut hit = pattern.regex.is_match(path);
            if !hit {
                for depth in 1..=parents.len() {
                    if pattern.regex.is_match(&parents[..depth].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pattern.exception;
            }
        }
        matched
    }

    /// Whether an exception pattern may name something inside the folder `dir`
    /// (Docker's prefix test, so a wildcard exception does not reopen a folder).
    fn exception_inside(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        self.patterns.iter().any(|pattern| pattern.exception && format!("{}/", pattern.text).starts_with(&dir_slash))
    }
}

/// Go's `filepath.Clean` for `/` paths, minus a leading `/` (patterns are
/// relative to the context root).
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// moby's `patternmatcher` translation: `*` and `?` stop at `/`, `**` crosses
/// folders (`**/` may match nothing), `\` escapes, `[...]` is a class.
fn pattern_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '*' => {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    if chars.peek() == Some(&'/') {
                        chars.next();
                    }
                    if chars.peek().is_none() {
                        out.push_str(".*");
                    } else {
                        out.push_str("(.*/)?");
                    }
                } else {
                    out.push_str("[^/]*");
                }
            }
            '?' => out.push_str("[^/]"),
            '.' | '$' | '+' | '(' | ')' | '{' | '}' | '^' | '|' => {
                out.push('\\');
                out.push(ch);
            }
            '\\' => match chars.next() {
                Some(next) => out.push_str(&regex::escape(&next.to_string())),
                None => out.push_str("\\\\"),
            },
            '[' | ']' => out.push(ch),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(text: &str) -> PatternMatcher {
        PatternMatcher::parse(text).expect("patterns")
    }

    #[test]
    fn patterns_are_relative_to_the_root_not_anywhere_like_gitignore() {
        let m = matcher("*.log\n");
        assert!(m.matches("a.log"));
        assert!(!m.matches("sub/a.log"));
        let m = matcher("**/*.log\n");
        assert!(m.matches("a.log"));
        assert!(m.matches("sub/deep/a.log"));
    }

    #[test]
    fn a_folder_pattern_excludes_its_content_and_the_last_match_wins() {
        let m = matcher("node_modules\n/build/\n!build/keep.txt\n");
        assert!(m.matches("node_modules"));
        assert!(m.matches("node_modules/x/y.js"));
        assert!(m.matches("build/out.o"));
        assert!(!m.matches("build/keep.txt"));
        assert!(m.exception_inside("build"));
        assert!(!m.exception_inside("node_modules"));
        let m = matcher("!build/keep.txt\nbuild\n");
        assert!(m.matches("build/keep.txt"));
    }

    #[test]
    fn wildcards_do_not_cross_folders_but_double_stars_do() {
        let m = matcher("src/*.tmp\ndocs/**/draft?.md\n# comment\n\n");
        assert!(m.matches("src/a.tmp"));
        assert!(!m.matches("src/x/a.tmp"));
        assert!(m.matches("docs/draft1.md"));
        assert!(m.matches("docs/a/b/draft2.md"));
        assert!(!m.matches("docs/a/draft10.md"));
        assert!(!m.matches("# comment"));
        let m = matcher("a/**\n");
        assert!(m.matches("a/b/c"));
        assert!(!m.matches("ab"));
    }

    #[test]
    fn patterns_are_cleaned_and_special_characters_are_literal() {
        let m = matcher("./a/../b.(x)\n");
        assert!(m.matches("b.(x)"));
        assert!(!m.matches("bx(x)"));
    }

    #[test]
    fn links_that_leave_the_context_are_detected_lexically() {
        assert!(link_stays_inside("a/link", "../b"));
        assert!(link_stays_inside("a/link", "./c/../d"));
        assert!(!link_stays_inside("a/link", "../../b"));
        assert!(!link_stays_inside("link", "/etc/passwd"));
        assert!(!link_stays_inside("link", ".."));
    }

    #[test]
    fn relative_paths_are_normalized_and_escapes_refused() {
        assert_eq!(normalize_relative("./docker/prod.Dockerfile").expect("ok"), "docker/prod.Dockerfile");
        assert!(normalize_relative("../x").is_err());
        assert!(normalize_relative("/etc/x").is_err());
        assert!(normalize_relative(".").is_err());
    }
}
