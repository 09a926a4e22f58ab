//! Search and replace across a workspace, on ripgrep's crates: `ignore` walks the
//! tree in parallel (honouring `.gitignore`, skipping hidden files, never following
//! symlinks), `grep-searcher` reads files line by line with binary detection, and
//! `grep-regex` matches.
//!
//! Positions: `line` and `column` are 1-based; `column` and `ranges` count
//! characters (Unicode scalar values) of the line, so they index `preview`
//! directly. Ranges are half-open and 0-based. A preview is the matching line
//! without its line ending, cut to at most [`PREVIEW_BYTES`] bytes at a character
//! boundary; ranges past the cut are dropped or clamped to it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use grep_matcher::{Captures, Matcher};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkFinish, SinkMatch};
use ignore::WalkState;
use ignore::overrides::{Override, OverrideBuilder};

use crate::error::WorkspaceError;
use crate::path::WorkspacePath;
use crate::{FileContent, Workspace};

/// Longest preview, in bytes.
pub const PREVIEW_BYTES: usize = 500;
/// Default and largest number of matches of one search.
pub const DEFAULT_MAX_MATCHES: usize = 1000;
pub const MAX_MATCHES: usize = 10_000;

/// What to look for and where.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub query: String,
    /// `query` is a regular expression (Rust `regex` syntax); otherwise a literal.
    pub regex: bool,
    pub case_sensitive: bool,
    pub whole_word: bool,
    /// Globs a file must match (any of them), as `rg -g`.
    pub include: Vec<String>,
    /// Globs that exclude files and folders, as `rg -g '!glob'`.
    pub exclude: Vec<String>,
    /// Search hidden files and folders (names starting with `.`).
    pub hidden: bool,
    /// Search files that `.gitignore`, `.ignore` or `.git/info/exclude` ignore.
    pub ignored: bool,
    /// At most this many matching lines; more sets `truncated`.
    pub max_matches: usize,
}

impl SearchOptions {
    /// Options with the defaults: literal, case-insensitive, no globs.
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            regex: false,
            case_sensitive: false,
            whole_word: false,
            include: Vec::new(),
            exclude: Vec::new(),
            hidden: false,
            ignored: false,
            max_matches: DEFAULT_MAX_MATCHES,
        }
    }
}

/// A range of characters in a preview, half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharRange {
    pub start: usize,
    pub end: usize,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchMatch {
    pub path: WorkspacePath,
    /// 1-based.
    pub line: u64,
    /// 1-based, in characters: where the first match on the line starts.
    pub column: u64,
    pub preview: String,
    pub ranges: Vec<CharRange>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchSummary {
    pub truncated: bool,
    pub files_searched: u64,
}

/// Why a search could not start; `code` is stable.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search text is empty")]
    EmptyQuery,
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    #[error("invalid glob: {0}")]
    InvalidGlob(String),
    #[error("this workspace has no local directory to search")]
    NoLocalRoot,
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

impl SearchError {
    pub fn code(&self) -> &'static str {
        match self {
            SearchError::EmptyQuery => "invalid_query",
            SearchError::InvalidRegex(_) => "invalid_regex",
            SearchError::InvalidGlob(_) => "invalid_glob",
            SearchError::NoLocalRoot => "search_unavailable",
            SearchError::Workspace(_) => "workspace",
        }
    }
}

/// A compiled search over one directory: the matcher and the glob overrides.
#[derive(Clone)]
pub struct Search {
    root: PathBuf,
    matcher: RegexMatcher,
    overrides: Override,
    options: SearchOptions,
}

impl Search {
    /// Compiles the query and globs; fails on an empty query, a bad regex or a bad glob.
    pub fn new(root: &Path, options: SearchOptions) -> Result<Self, SearchError> {
        if options.query.is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        let matcher = RegexMatcherBuilder::new()
            .case_insensitive(!options.case_sensitive)
            .word(options.whole_word)
            .fixed_strings(!options.regex)
            // `^` and `$` match at line boundaries, as in ripgrep.
            .multi_line(true)
            .line_terminator(Some(b'\n'))
            .build(&options.query)
            .map_err(|error| SearchError::InvalidRegex(error.to_string()))?;
        let mut overrides = OverrideBuilder::new(root);
        for glob in options.include.iter().map(|glob| glob.trim()).filter(|glob| !glob.is_empty()) {
            overrides.add(glob).map_err(|error| SearchError::InvalidGlob(error.to_string()))?;
        }
        for glob in options.exclude.iter().map(|glob| glob.trim()).filter(|glob| !glob.is_empty()) {
            overrides.add(&format!("!{glob}")).map_err(|error| SearchError::InvalidGlob(error.to_string()))?;
        }
        let overrides = overrides.build().map_err(|error| SearchError::InvalidGlob(error.to_string()))?;
        Ok(Self { root: root.to_path_buf(), matcher, overrides, options })
    }

    /// A compiled search over a workspace's local directory.
    pub fn in_workspace(workspace: &dyn Workspace, options: SearchOptions) -> Result<Self, SearchError> {
        let root = workspace.local_root().ok_or(SearchError::NoLocalRoot)?;
        Self::new(root, options)
    }

    pub fn options(&self) -> &SearchOptions {
        &self.options
    }

    /// The parallel walk: every regular file that the options allow, never
    /// through a symlink. `visit` runs on the walker's threads with the file's
    /// full path and workspace path; returning `false` stops the walk.
    fn walk(&self, hidden: bool, ignored: bool, visit: &(dyn Fn(&Path, WorkspacePath) -> bool + Sync)) {
        crate::workspace_walker(&self.root, hidden, ignored).overrides(self.overrides.clone()).build_parallel().run(
            || {
                Box::new(|entry| {
                    let Ok(entry) = entry else { return WalkState::Continue };
                    // Only regular files: a symlink is never searched, nor followed.
                    if !entry.file_type().is_some_and(|kind| kind.is_file()) {
                        return WalkState::Continue;
                    }
                    let Some(path) = self.workspace_path(entry.path()) else { return WalkState::Continue };
                    if visit(entry.path(), path) { WalkState::Continue } else { WalkState::Quit }
                })
            },
        );
    }

    fn workspace_path(&self, full: &Path) -> Option<WorkspacePath> {
        let relative = full.strip_prefix(&self.root).ok()?.to_str()?;
        WorkspacePath::parse(relative).ok().filter(|path| !path.is_root())
    }

    fn searcher() -> Searcher {
        SearcherBuilder::new()
            .line_number(true)
            .multi_line(false)
            .binary_detection(BinaryDetection::quit(b'\0'))
            .build()
    }

    /// Runs the search; `emit` gets each matching line (in no particular order,
    /// from the walker's threads) and may return `false` to stop early.
    pub fn run(&self, emit: &(dyn Fn(SearchMatch) -> bool + Sync)) -> SearchSummary {
        let max = self.options.max_matches.clamp(1, MAX_MATCHES);
        let reserved = AtomicUsize::new(0);
        let truncated = AtomicBool::new(false);
        let stopped = AtomicBool::new(false);
        let files = AtomicU64::new(0);
        let searchers = thread_local_searchers();
        self.walk(self.options.hidden, self.options.ignored, &|full, path| {
            if stopped.load(Ordering::Relaxed) {
                return false;
            }
            files.fetch_add(1, Ordering::Relaxed);
            let mut sink = FileSink {
                matcher: &self.matcher,
                path,
                found: Vec::new(),
                binary: false,
                reserved: &reserved,
                truncated: &truncated,
                max,
            };
            let result = searchers.with(|searcher| searcher.search_path(&self.matcher, full, &mut sink));
            if result.is_err() || sink.binary {
                // Unreadable or binary: give back what this file reserved.
                reserved.fetch_sub(sink.found.len(), Ordering::Relaxed);
                return !truncated.load(Ordering::Relaxed);
            }
            for found in sink.found {
                if !emit(found) {
                    stopped.store(true, Ordering::Relaxed);
                    return false;
                }
            }
            !truncated.load(Ordering::Relaxed)
        });
        SearchSummary { truncated: truncated.load(Ordering::Relaxed), files_searched: files.load(Ordering::Relaxed) }
    }

    /// Runs the search and answers the matches sorted by path, line.
    pub fn collect(&self) -> (Vec<SearchMatch>, SearchSummary) {
        let found = Mutex::new(Vec::new());
        let summary = self.run(&|found_match| {
            found.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(found_match);
            true
        });
        let mut found = found.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        found.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
        (found, summary)
    }

    /// Computes the replacements in every text file (hidden and ignored files are
    /// never touched), reading through the workspace so that paths are checked.
    /// `only` restricts the plan to these files.
    pub fn plan_replace(
        &self,
        workspace: &(dyn Workspace + Sync),
        replacement: &str,
        only: Option<&[WorkspacePath]>,
    ) -> Vec<PlannedFile> {
        let candidates = Mutex::new(Vec::new());
        self.walk(false, false, &|_, path| {
            if only.is_none_or(|only| only.contains(&path)) {
                candidates.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(path);
            }
            true
        });
        let mut candidates = candidates.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        candidates.sort();
        let mut plan = Vec::new();
        for path in candidates {
            let Ok(content) = workspace.read(&path) else { continue };
            if let Some(planned) = self.replace_in(path, content, replacement) {
                plan.push(planned);
            }
        }
        plan
    }

    /// The file with every match replaced, line by line; `None` when nothing changes.
    fn replace_in(&self, path: WorkspacePath, content: FileContent, replacement: &str) -> Option<PlannedFile> {
        if content.binary {
            return None;
        }
        let mut out = Vec::with_capacity(content.bytes.len());
        let mut replacements = 0usize;
        let mut caps = self.matcher.new_captures().ok()?;
        for line in content.bytes.split_inclusive(|&byte| byte == b'\n') {
            let (body, ending) = match line.strip_suffix(b"\n") {
                Some(body) => (body, &b"\n"[..]),
                None => (line, &b""[..]),
            };
            let before = out.len();
            let result = self.matcher.replace_with_captures(body, &mut caps, &mut out, |caps, dst| {
                replacements += 1;
                if self.options.regex {
                    caps.interpolate(|name| self.matcher.capture_index(name), body, replacement.as_bytes(), dst);
                } else {
                    dst.extend_from_slice(replacement.as_bytes());
                }
                true
            });
            if result.is_err() {
                out.truncate(before);
                out.extend_from_slice(body);
            }
            out.extend_from_slice(ending);
        }
        (replacements > 0 && out != content.bytes).then_some(PlannedFile {
            path,
            replacements,
            etag: content.etag,
            bytes: out,
        })
    }

    /// Plans and writes the replacements. Each file is written atomically with
    /// `If-Match` set to the ETag it was read at (or the one in `expected`), so a
    /// file edited in between is reported in `conflicts` and left as edited.
    pub fn replace_all(
        &self,
        workspace: &(dyn Workspace + Sync),
        replacement: &str,
        expected: Option<&[(WorkspacePath, String)]>,
    ) -> ReplaceOutcome {
        let only: Option<Vec<WorkspacePath>> =
            expected.map(|pairs| pairs.iter().map(|(path, _)| path.clone()).collect());
        let plan = self.plan_replace(workspace, replacement, only.as_deref());
        let mut outcome = ReplaceOutcome::default();
        for planned in plan {
            let if_match = expected
                .and_then(|pairs| pairs.iter().find(|(path, _)| *path == planned.path))
                .map_or(planned.etag.as_str(), |(_, etag)| etag.as_str());
            match workspace.write(&planned.path, &planned.bytes, Some(if_match)) {
                Ok(written) => outcome.files.push(ChangedFile {
                    path: planned.path,
                    replacements: planned.replacements,
                    etag: written.etag,
                }),
                Err(WorkspaceError::PreconditionFailed { .. }) => outcome.conflicts.push(planned.path),
                Err(error) => outcome.failed.push((planned.path, error)),
            }
        }
        outcome
    }
}

/// The replacements planned in one file, with the ETag of the content they apply to.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    pub path: WorkspacePath,
    pub replacements: usize,
    pub etag: String,
    pub bytes: Vec<u8>,
}

/// One file a replace changed, with its new ETag.
#[derive(Debug, Clone)]
pub struct ChangedFile {
    pub path: WorkspacePath,
    pub replacements: usize,
    pub etag: String,
}

#[derive(Debug, Default)]
pub struct ReplaceOutcome {
    pub files: Vec<ChangedFile>,
    /// Files changed by someone else between the read and the write; left as they are.
    pub conflicts: Vec<WorkspacePath>,
    /// Files that could not be written for another reason (a quota, an I/O error).
    pub failed: Vec<(WorkspacePath, WorkspaceError)>,
}

/// One `Searcher` per walker thread (they hold buffers worth reusing).
fn thread_local_searchers() -> SearcherPool {
    SearcherPool(Mutex::new(Vec::new()))
}

struct SearcherPool(Mutex<Vec<Searcher>>);

impl SearcherPool {
    fn with<T>(&self, task: impl FnOnce(&mut Searcher) -> T) -> T {
        let pooled = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let mut searcher = pooled.unwrap_or_else(Search::searcher);
        let result = task(&mut searcher);
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(searcher);
        result
    }
}

/// Collects one file's matching lines; reserves each against the global cap.
struct FileSink<'a> {
    matcher: &'a RegexMatcher,
    path: WorkspacePath,
    found: Vec<SearchMatch>,
    binary: bool,
    reserved: &'a AtomicUsize,
    truncated: &'a AtomicBool,
    max: usize,
}

impl Sink for FileSink<'_> {
    type Error = std::io::Error;

    fn matched(&mut self, _searcher: &Searcher, found: &SinkMatch<'_>) -> Result<bool, std::io::Error> {
        if self.reserved.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.reserved.fetch_sub(1, Ordering::Relaxed);
            self.truncated.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        let line = found.bytes();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut byte_ranges = Vec::new();
        let _ = self.matcher.find_iter(line, |found| {
            byte_ranges.push((found.start(), found.end()));
            true
        });
        self.found.push(line_match(self.path.clone(), found.line_number().unwrap_or(0), line, &byte_ranges));
        Ok(true)
    }

    fn binary_data(&mut self, _searcher: &Searcher, _offset: u64) -> Result<bool, std::io::Error> {
        self.binary = true;
        Ok(false)
    }

    fn finish(&mut self, _searcher: &Searcher, finish: &SinkFinish) -> Result<(), std::io::Error> {
        if finish.binary_byte_offset().is_some() {
            self.binary = true;
        }
        Ok(())
    }
}

/// Builds the match of one line (without its `\n`) from byte ranges into it.
fn line_match(path: WorkspacePath, line_number: u64, line: &[u8], byte_ranges: &[(usize, usize)]) -> SearchMatch {
    let shown = line.strip_suffix(b"\r").unwrap_or(line);
    let mut cut = shown.len().min(PREVIEW_BYTES);
    // Back up to a character boundary (never inside a UTF-8 sequence).
    while cut > 0 && cut < shown.len() && (shown[cut] & 0b1100_0000) == 0b1000_0000 {
        cut -= 1;
    }
    let preview_bytes = &shown[..cut];
    let chars = |bytes: usize| String::from_utf8_lossy(&line[..bytes]).chars().count();
    let column = byte_ranges.first().map_or(1, |&(start, _)| chars(start) as u64 + 1);
    let ranges = byte_ranges
        .iter()
        .filter(|&&(start, _)| start < cut || (start == cut && cut == shown.len()))
        .map(|&(start, end)| CharRange { start: chars(start), end: chars(end.min(cut)) })
        .collect();
    SearchMatch {
        path,
        line: line_number,
        column,
        preview: String::from_utf8_lossy(preview_bytes).into_owned(),
        ranges,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::{HostWorkspace, Quotas, WriteOutcome};

    fn workspace(files: &[(&str, &str)]) -> (tempdir::Dir, HostWorkspace) {
        let dir = tempdir::Dir::new();
        for (path, content) in files {
            let full = dir.0.join(path);
            fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            fs::write(full, content).expect("write");
        }
        let workspace = HostWorkspace::open(dir.0.clone(), Quotas::default()).expect("open");
        (dir, workspace)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let path = std::env::temp_dir().join(format!("dockyard-search-{}", ulid::Ulid::new()));
                std::fs::create_dir_all(&path).expect("temp dir");
                Self(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn search(workspace: &HostWorkspace, options: SearchOptions) -> (Vec<(String, u64)>, SearchSummary) {
        let (found, summary) = Search::in_workspace(workspace, options).expect("compiles").collect();
        (found.into_iter().map(|found| (found.path.to_string(), found.line)).collect(), summary)
    }

    #[test]
    fn finds_lines_honouring_gitignore_hidden_and_binary() {
        let (_dir, workspace) = workspace(&[
            ("src/a.rs", "fn main() {}\nlet needle = 1;\n"),
            ("target/out.txt", "needle\n"),
            (".gitignore", "target/\n"),
            (".hidden/x.txt", "needle\n"),
            ("bin.dat", "needle\0\n"),
        ]);
        let (found, summary) = search(&workspace, SearchOptions::new("NEEDLE"));
        assert_eq!(found, vec![("src/a.rs".to_owned(), 2)]);
        assert!(!summary.truncated);
        let mut options = SearchOptions::new("needle");
        options.hidden = true;
        options.ignored = true;
        let (found, _) = search(&workspace, options);
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(paths, [".hidden/x.txt", "src/a.rs", "target/out.txt"]);
    }

    #[test]
    fn columns_and_ranges_count_characters_of_the_preview() {
        let (_dir, workspace) = workspace(&[("u.txt", "ünï x ünï\r\n")]);
        let (found, _) = Search::in_workspace(&workspace, SearchOptions::new("ünï")).expect("compiles").collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].preview, "ünï x ünï");
        assert_eq!(found[0].column, 1);
        assert_eq!(found[0].ranges, [CharRange { start: 0, end: 3 }, CharRange { start: 6, end: 9 }]);
        let long = format!("{}é needle", "é".repeat(300));
        let (_dir, workspace) = self::workspace(&[("long.txt", &long)]);
        let (found, _) = Search::in_workspace(&workspace, SearchOptions::new("needle")).expect("compiles").collect();
        assert!(found[0].preview.len() <= PREVIEW_BYTES);
        assert_eq!(found[0].preview.chars().count(), 250);
        assert_eq!(found[0].column, 303);
        assert!(found[0].ranges.is_empty(), "the match lies past the cut");
    }

    #[test]
    fn the_cap_truncates() {
        let content = "hit\n".repeat(50);
        let (_dir, workspace) = workspace(&[("a.txt", &content), ("b.txt", &content)]);
        let mut options = SearchOptions::new("hit");
        options.max_matches = 70;
        let (found, summary) = search(&workspace, options.clone());
        assert_eq!((found.len(), summary.truncated), (70, true));
        options.max_matches = 100;
        let (found, summary) = search(&workspace, options);
        assert_eq!((found.len(), summary.truncated), (100, false));
    }

    #[test]
    fn bad_input_has_codes() {
        let (_dir, workspace) = workspace(&[]);
        let code = |options| Search::in_workspace(&workspace, options).err().map(|error| error.code());
        assert_eq!(code(SearchOptions::new("")), Some("invalid_query"));
        let mut options = SearchOptions::new("(unclosed");
        options.regex = true;
        assert_eq!(code(options), Some("invalid_regex"));
        assert!(code(SearchOptions::new("(unclosed")).is_none(), "a literal is not a regex");
        let mut options = SearchOptions::new("x");
        options.include = vec!["a{".into()];
        assert_eq!(code(options), Some("invalid_glob"));
    }

    #[test]
    fn a_symlink_out_of_the_root_is_never_searched() {
        let outside = tempdir::Dir::new();
        fs::write(outside.0.join("secret.txt"), "needle\n").expect("secret");
        let (_dir, workspace) = workspace(&[("inside.txt", "needle\n")]);
        std::os::unix::fs::symlink(&outside.0, workspace.root().join("escape")).expect("link");
        std::os::unix::fs::symlink(outside.0.join("secret.txt"), workspace.root().join("file-link")).expect("link");
        let mut options = SearchOptions::new("needle");
        options.hidden = true;
        options.ignored = true;
        let (found, _) = search(&workspace, options);
        assert_eq!(found, vec![("inside.txt".to_owned(), 1)]);
    }

    #[test]
    fn replaces_literals_and_captures() {
        let (_dir, workspace) = workspace(&[("a.txt", "foo(1) foo(22)\nbar\n"), ("b.txt", "nothing\n")]);
        let mut options = SearchOptions::new(r"foo\((\d+)\)");
        options.regex = true;
        options.case_sensitive = true;
        let search = Search::in_workspace(&workspace, options).expect("compiles");
        let outcome = search.replace_all(&workspace, "bar[$1]", None);
        assert_eq!(outcome.files.len(), 1);
        assert_eq!(outcome.files[0].replacements, 2);
        assert_eq!(fs::read_to_string(workspace.root().join("a.txt")).expect("read"), "bar[1] bar[22]\nbar\n");
        let search = Search::in_workspace(&workspace, SearchOptions::new("BAR[")).expect("compiles");
        let outcome = search.replace_all(&workspace, "$x", None);
        assert_eq!(outcome.files[0].replacements, 2);
        assert_eq!(fs::read_to_string(workspace.root().join("a.txt")).expect("read"), "$x1] $x22]\nbar\n");
    }

    /// A workspace whose every write is preceded by someone else's edit.
    struct Racing<'a>(&'a HostWorkspace);

    impl Workspace for Racing<'_> {
        fn local_root(&self) -> Option<&Path> {
            self.0.local_root()
        }
        fn list(&self, dir: &WorkspacePath) -> Result<Vec<crate::Entry>, WorkspaceError> {
            self.0.list(dir)
        }
        fn read(&self, path: &WorkspacePath) -> Result<FileContent, WorkspaceError> {
            self.0.read(path)
        }
        fn etag(&self, path: &WorkspacePath) -> Result<Option<String>, WorkspaceError> {
            self.0.etag(path)
        }
        fn write(
            &self,
            path: &WorkspacePath,
            bytes: &[u8],
            if_match: Option<&str>,
        ) -> Result<WriteOutcome, WorkspaceError> {
            self.0.write(path, b"edited meanwhile: old\n", None)?;
            self.0.write(path, bytes, if_match)
        }
        fn create_dir(&self, path: &WorkspacePath) -> Result<(), WorkspaceError> {
            self.0.create_dir(path)
        }
        fn delete(&self, path: &WorkspacePath) -> Result<(), WorkspaceError> {
            self.0.delete(path)
        }
        fn rename(&self, from: &WorkspacePath, to: &WorkspacePath, overwrite: bool) -> Result<(), WorkspaceError> {
            self.0.rename(from, to, overwrite)
        }
        fn copy(&self, from: &WorkspacePath, to: &WorkspacePath) -> Result<(), WorkspaceError> {
            self.0.copy(from, to)
        }
        fn usage(&self) -> Result<crate::Usage, WorkspaceError> {
            self.0.usage()
        }
        fn quotas(&self) -> Quotas {
            self.0.quotas()
        }
    }

    #[test]
    fn a_concurrent_edit_wins_over_the_replace() {
        let (_dir, host) = workspace(&[("a.txt", "old\n")]);
        let racing = Racing(&host);
        let search = Search::in_workspace(&racing, SearchOptions::new("old")).expect("compiles");
        let outcome = search.replace_all(&racing, "new", None);
        assert!(outcome.files.is_empty());
        assert_eq!(outcome.conflicts, [WorkspacePath::parse("a.txt").expect("path")]);
        assert_eq!(fs::read_to_string(host.root().join("a.txt")).expect("read"), "edited meanwhile: old\n");
    }
}
