//! Integration tests of `HostWorkspace` against real directories: round trips,
//! `If-Match`, atomic writes, symlink escapes, listings (cross-checked with the
//! `git` CLI), moves and copies, and quotas.

mod archive;
mod export;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};

use dockyard_workspace::{
    EntryKind, HostWorkspace, Quotas, Usage, Workspace, WorkspaceError, WorkspacePath, etag_of, is_binary,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const TEMP_PREFIX: &str = ".dockyard-tmp-";

/// A fresh directory under the system temp dir, removed (without following links) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let name = format!("dockyard-workspace-it-{label}-{}", ulid::Ulid::new().to_string().to_lowercase());
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).expect("create a temp dir");
        Self(fs::canonicalize(&path).expect("canonical temp dir"))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A workspace in its own temp dir (kept alive alongside it).
struct Fixture {
    dir: TempDir,
    ws: HostWorkspace,
}

impl Fixture {
    fn new(label: &str) -> Self {
        Self::with_quotas(label, Quotas::default())
    }

    fn with_quotas(label: &str, quotas: Quotas) -> Self {
        let dir = TempDir::new(label);
        let ws = HostWorkspace::open(dir.path().to_path_buf(), quotas).expect("open the workspace");
        Self { dir, ws }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn disk(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    fn write(&self, raw: &str, bytes: &[u8]) {
        self.ws.write(&p(raw), bytes, None).unwrap_or_else(|error| panic!("write {raw}: {error:?}"));
    }

    fn read(&self, raw: &str) -> Vec<u8> {
        self.ws.read(&p(raw)).unwrap_or_else(|error| panic!("read {raw}: {error:?}")).bytes
    }

    fn usage(&self) -> Usage {
        Workspace::usage(&self.ws).expect("usage")
    }
}

fn p(raw: &str) -> WorkspacePath {
    WorkspacePath::parse(raw).unwrap_or_else(|error| panic!("{raw:?} should be a valid path: {error}"))
}

/// What is at one place of a tree, compared by value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Every entry under `root` (relative path → node), without following links.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut nodes = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in fs::read_dir(&dir).expect("read_dir") {
            let path = item.expect("dir entry").path();
            let relative = path.strip_prefix(root).expect("under the root").to_path_buf();
            let metadata = fs::symlink_metadata(&path).expect("symlink_metadata");
            let node = if metadata.is_symlink() {
                Node::Link(fs::read_link(&path).expect("read_link"))
            } else if metadata.is_dir() {
                stack.push(path.clone());
                Node::Dir
            } else {
                Node::File(fs::read(&path).expect("read"))
            };
            nodes.insert(relative, node);
        }
    }
    nodes
}

/// Files (anything that is not a directory, links included at their own size) and bytes on disk.
fn usage_on_disk(root: &Path) -> Usage {
    let mut usage = Usage::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in fs::read_dir(&dir).expect("read_dir") {
            let path = item.expect("dir entry").path();
            let metadata = fs::symlink_metadata(&path).expect("symlink_metadata");
            if metadata.is_dir() {
                stack.push(path);
            } else {
                usage.files += 1;
                usage.bytes += metadata.len();
            }
        }
    }
    usage
}

/// Names of leftover temporary files anywhere under `root`.
fn temp_files_under(root: &Path) -> Vec<PathBuf> {
    snapshot(root)
        .into_keys()
        .filter(|path| {
            path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with(TEMP_PREFIX))
        })
        .collect()
}

fn names(entries: &[dockyard_workspace::Entry]) -> Vec<&str> {
    entries.iter().map(|entry| entry.name.as_str()).collect()
}

/// The `git` CLI isolated from the user's and system's configuration.
fn git(repo: &Path, home: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(repo)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    command
}

fn git_init(repo: &Path, home: &Path) {
    let status = git(repo, home).args(["init", "--quiet"]).status().expect("run git init");
    assert!(status.success(), "git init failed");
}

/// Whether `git check-ignore` says git ignores `relative`.
fn git_ignores(repo: &Path, home: &Path, relative: &str) -> bool {
    let output =
        git(repo, home).args(["check-ignore", "--quiet", "--no-index", "--", relative]).output().expect("run git");
    match output.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("git check-ignore {relative}: {other:?} {}", String::from_utf8_lossy(&output.stderr)),
    }
}

fn assert_escape<T: std::fmt::Debug>(result: Result<T, WorkspaceError>, what: &str) {
    assert!(matches!(result, Err(WorkspaceError::Escape)), "{what}: expected Escape, got {result:?}");
}

fn small_quotas() -> Quotas {
    Quotas { max_file_bytes: 100, max_files: 3, max_total_bytes: 250 }
}

fn assert_quota<T: std::fmt::Debug>(result: Result<T, WorkspaceError>, limit: &str, max: u64) {
    match result {
        Err(WorkspaceError::QuotaExceeded { limit: got_limit, max: got_max }) => {
            assert_eq!((got_limit, got_max), (limit, max));
        }
        other => panic!("expected QuotaExceeded {{ {limit}, {max} }}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 1. Write → read round trip
// ---------------------------------------------------------------------------

#[test]
fn a_written_file_reads_back_byte_for_byte_with_the_etag_the_write_returned() {
    // Arrange
    let fx = Fixture::new("roundtrip");
    let bytes = "# Guide\n\nünïcödé ✓\r\n".as_bytes();

    // Act
    let outcome = fx.ws.write(&p("docs/guide/intro.md"), bytes, None).expect("write");
    let content = fx.ws.read(&p("docs/guide/intro.md")).expect("read");

    // Assert
    assert_eq!(content.bytes, bytes);
    assert_eq!(fs::read(fx.disk("docs/guide/intro.md")).expect("on disk"), bytes);
    assert_eq!(content.etag, outcome.etag);
    assert_eq!(content.etag, etag_of(bytes));
    assert_eq!(fx.ws.etag(&p("docs/guide/intro.md")).expect("etag"), Some(outcome.etag.clone()));
    assert!(outcome.etag.starts_with('"') && outcome.etag.ends_with('"') && outcome.etag.len() == 34);
    assert!(!content.binary);
    assert!(content.mtime_ms > 0);
}

#[test]
fn writing_creates_the_missing_parent_folders() {
    // Arrange
    let fx = Fixture::new("parents");

    // Act
    fx.write("a/b/c/d.txt", b"deep");

    // Assert
    for dir in ["a", "a/b", "a/b/c"] {
        assert!(fs::symlink_metadata(fx.disk(dir)).expect(dir).is_dir(), "{dir} is a folder");
    }
    assert_eq!(fx.read("a/b/c/d.txt"), b"deep");
}

#[test]
fn equal_content_has_the_same_etag_and_different_content_a_different_one() {
    // Arrange
    let fx = Fixture::new("etags");

    // Act
    let first = fx.ws.write(&p("one.txt"), b"same", None).expect("write").etag;
    let twin = fx.ws.write(&p("two/twin.txt"), b"same", None).expect("write").etag;
    let changed = fx.ws.write(&p("one.txt"), b"other", None).expect("write").etag;
    let back = fx.ws.write(&p("one.txt"), b"same", None).expect("write").etag;

    // Assert
    assert_eq!(first, twin);
    assert_ne!(first, changed);
    assert_eq!(back, first);
    assert_eq!(fx.ws.read(&p("one.txt")).expect("read").etag, first);
    assert_ne!(etag_of(b""), etag_of(b"\0"));
}

#[test]
fn the_first_write_reports_created_and_later_writes_do_not() {
    // Arrange
    let fx = Fixture::new("created");

    // Act
    let first = fx.ws.write(&p("notes.txt"), b"1", None).expect("first write");
    let second = fx.ws.write(&p("notes.txt"), b"2", None).expect("second write");
    let same = fx.ws.write(&p("notes.txt"), b"2", None).expect("same content again");
    fx.ws.delete(&p("notes.txt")).expect("delete");
    let after_delete = fx.ws.write(&p("notes.txt"), b"3", None).expect("write after delete");

    // Assert
    assert_eq!((first.created, second.created, same.created, after_delete.created), (true, false, false, true));
    assert_eq!(fx.read("notes.txt"), b"3");
}

#[test]
fn utf8_text_is_not_binary_but_nul_bytes_or_invalid_utf8_are() {
    // Arrange
    let fx = Fixture::new("binary");
    let mut cut_at_the_sniff_boundary = vec![b'a'; 7999];
    cut_at_the_sniff_boundary.extend_from_slice("é tail".as_bytes());
    let cases: [(&str, Vec<u8>, bool); 7] = [
        ("empty.txt", Vec::new(), false),
        ("ascii.txt", b"fn main() {}\n".to_vec(), false),
        ("utf8.txt", "Grüße, 世界 🚢\n".as_bytes().to_vec(), false),
        ("boundary.txt", cut_at_the_sniff_boundary, false),
        ("nul.bin", b"text\0more".to_vec(), true),
        ("latin1.bin", b"caf\xe9 au lait".to_vec(), true),
        ("png.bin", vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a], true),
    ];

    for (name, bytes, expected) in cases {
        // Act
        fx.write(name, &bytes);
        let content = fx.ws.read(&p(name)).expect("read");

        // Assert
        assert_eq!(content.binary, expected, "{name}");
        assert_eq!(is_binary(&bytes), expected, "{name}");
        assert_eq!(content.bytes, bytes, "{name}");
    }
}

#[test]
fn a_short_file_ending_in_an_invalid_utf8_byte_is_binary() {
    // Arrange
    let fx = Fixture::new("binary-tail");
    let latin1 = b"caf\xe9";
    let mut cut_lead_byte = vec![b'a'; 100];
    cut_lead_byte.push(0xc3);

    // Act
    fx.write("cafe.txt", latin1);
    let content = fx.ws.read(&p("cafe.txt")).expect("read");

    // Assert
    assert!(content.binary, "a 4-byte file that is not UTF-8 is binary");
    assert!(is_binary(&cut_lead_byte), "a file of 101 bytes ending in a lone lead byte is not UTF-8");
}

#[test]
fn reading_a_missing_file_or_a_folder_fails_with_the_matching_error() {
    // Arrange
    let fx = Fixture::new("read-errors");
    fx.ws.create_dir(&p("folder")).expect("create_dir");

    // Act
    let missing = fx.ws.read(&p("nope.txt"));
    let missing_etag = fx.ws.etag(&p("nope.txt"));
    let folder = fx.ws.read(&p("folder"));
    let write_over_folder = fx.ws.write(&p("folder"), b"x", None);

    // Assert
    assert!(matches!(&missing, Err(WorkspaceError::NotFound(path)) if path == "nope.txt"), "{missing:?}");
    assert!(matches!(missing_etag, Ok(None)), "{missing_etag:?}");
    assert!(matches!(&folder, Err(WorkspaceError::IsADirectory(path)) if path == "folder"), "{folder:?}");
    assert!(
        matches!(&write_over_folder, Err(WorkspaceError::IsADirectory(path)) if path == "folder"),
        "{write_over_folder:?}"
    );
    assert!(fs::symlink_metadata(fx.disk("folder")).expect("folder").is_dir());
}

// ---------------------------------------------------------------------------
// 2. If-Match
// ---------------------------------------------------------------------------

#[test]
fn writing_with_the_current_etag_succeeds() {
    // Arrange
    let fx = Fixture::new("ifmatch-ok");
    let etag = fx.ws.write(&p("a.txt"), b"v1", None).expect("write").etag;

    // Act
    let outcome = fx.ws.write(&p("a.txt"), b"v2", Some(&etag)).expect("write with the current etag");

    // Assert
    assert_eq!(outcome.etag, etag_of(b"v2"));
    assert!(!outcome.created);
    assert_eq!(fx.read("a.txt"), b"v2");
}

#[test]
fn a_stale_etag_is_refused_with_the_current_tag_and_the_file_keeps_its_content() {
    // Arrange
    let fx = Fixture::new("ifmatch-stale");
    let stale = fx.ws.write(&p("a.txt"), b"v1", None).expect("write v1").etag;
    let current = fx.ws.write(&p("a.txt"), b"v2", None).expect("write v2").etag;

    // Act
    let result = fx.ws.write(&p("a.txt"), b"v3 from a stale editor", Some(&stale));

    // Assert
    match result {
        Err(WorkspaceError::PreconditionFailed { current_etag }) => assert_eq!(current_etag, Some(current.clone())),
        other => panic!("expected PreconditionFailed, got {other:?}"),
    }
    assert_eq!(fx.read("a.txt"), b"v2");
    assert_eq!(fx.ws.etag(&p("a.txt")).expect("etag"), Some(current));
    assert!(temp_files_under(fx.root()).is_empty());
}

#[test]
fn a_weak_tag_or_a_list_containing_the_current_tag_matches() {
    // Arrange
    let fx = Fixture::new("ifmatch-list");
    let etag = fx.ws.write(&p("a.txt"), b"v1", None).expect("write").etag;

    // Act
    let weak = fx.ws.write(&p("a.txt"), b"v2", Some(&format!("W/{etag}")));
    let etag = etag_of(b"v2");
    let listed = fx.ws.write(&p("a.txt"), b"v3", Some(&format!("\"nope\", {etag}")));

    // Assert
    assert!(weak.is_ok(), "{weak:?}");
    assert!(listed.is_ok(), "{listed:?}");
    assert_eq!(fx.read("a.txt"), b"v3");
}

#[test]
fn a_star_matches_an_existing_file_and_refuses_a_missing_one() {
    // Arrange
    let fx = Fixture::new("ifmatch-star");
    fx.write("exists.txt", b"old");

    // Act
    let existing = fx.ws.write(&p("exists.txt"), b"new", Some("*"));
    let missing = fx.ws.write(&p("missing.txt"), b"new", Some("*"));

    // Assert
    assert!(matches!(&existing, Ok(outcome) if !outcome.created), "{existing:?}");
    assert_eq!(fx.read("exists.txt"), b"new");
    assert!(matches!(missing, Err(WorkspaceError::PreconditionFailed { current_etag: None })), "{missing:?}");
    assert!(fs::symlink_metadata(fx.disk("missing.txt")).is_err(), "the missing file was not created");
}

#[test]
fn an_etag_for_a_file_that_does_not_exist_is_refused_and_nothing_is_created() {
    // Arrange
    let fx = Fixture::new("ifmatch-missing");

    // Act
    let result = fx.ws.write(&p("dir/gone.txt"), b"resurrected", Some(&etag_of(b"old")));

    // Assert
    assert!(matches!(result, Err(WorkspaceError::PreconditionFailed { current_etag: None })), "{result:?}");
    assert!(snapshot(fx.root()).is_empty());
}

#[test]
fn concurrent_writers_with_the_same_etag_have_exactly_one_winner() {
    // Arrange
    const WRITERS: usize = 12;
    let fx = Fixture::new("ifmatch-race");
    let base = fx.ws.write(&p("shared.txt"), b"base", None).expect("write the base").etag;
    let contents: Vec<Vec<u8>> =
        (0..WRITERS).map(|writer| format!("writer {writer:02}|").repeat(8 * 1024).into_bytes()).collect();
    let barrier = Barrier::new(WRITERS);

    // Act
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = contents
            .iter()
            .map(|bytes| {
                let (ws, barrier, base) = (&fx.ws, &barrier, &base);
                scope.spawn(move || {
                    barrier.wait();
                    ws.write(&p("shared.txt"), bytes, Some(base))
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("writer thread")).collect()
    });

    // Assert
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "exactly one writer wins: {results:?}");
    let winner = winners[0];
    let winner_etag = etag_of(&contents[winner]);
    for (writer, result) in results.iter().enumerate().filter(|(writer, _)| *writer != winner) {
        match result {
            Err(WorkspaceError::PreconditionFailed { current_etag }) => {
                assert_eq!(current_etag.as_deref(), Some(winner_etag.as_str()), "writer {writer}");
            }
            other => panic!("writer {writer}: expected PreconditionFailed, got {other:?}"),
        }
    }
    let content = fx.ws.read(&p("shared.txt")).expect("read");
    assert!(content.bytes == contents[winner], "the final content is the winner's, complete");
    assert_eq!(content.etag, winner_etag);
    assert!(temp_files_under(fx.root()).is_empty());
}

#[test]
fn readers_see_the_old_or_the_new_content_while_a_file_is_rewritten() {
    // Arrange
    const VERSIONS: u8 = 40;
    let fx = Fixture::new("atomic-readers");
    let version = |n: u8| vec![b'a' + n % 26; 64 * 1024 + usize::from(n)];
    fx.write("big.bin", &version(0));
    let done = AtomicBool::new(false);

    // Act
    let torn_reads = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut torn = Vec::new();
            let mut reads = 0_u32;
            while !done.load(Ordering::Acquire) || reads == 0 {
                let bytes = fx.ws.read(&p("big.bin")).expect("read during writes").bytes;
                let n = bytes.len().checked_sub(64 * 1024);
                let whole = n.is_some_and(|n| n < usize::from(VERSIONS) && bytes == version(n as u8));
                if !whole {
                    torn.push(bytes.len());
                }
                reads += 1;
            }
            torn
        });
        for n in 1..VERSIONS {
            fx.ws.write(&p("big.bin"), &version(n), None).expect("rewrite");
        }
        done.store(true, Ordering::Release);
        reader.join().expect("reader thread")
    });

    // Assert
    assert!(torn_reads.is_empty(), "reads saw mixed or partial content: {torn_reads:?}");
    assert_eq!(fx.read("big.bin"), version(VERSIONS - 1));
}

// ---------------------------------------------------------------------------
// 3. Atomicity: temporary files
// ---------------------------------------------------------------------------

#[test]
fn many_writes_leave_no_temporary_files_behind() {
    // Arrange
    let fx = Fixture::new("no-temp");

    // Act
    for round in 0..30 {
        for name in ["a.txt", "dir/b.txt", "dir/sub/c.txt", "d.bin"] {
            fx.write(name, format!("{name} round {round}").repeat(round + 1).as_bytes());
        }
    }
    let refused = fx.ws.write(&p("a.txt"), b"stale", Some("\"stale\""));

    // Assert
    assert!(matches!(refused, Err(WorkspaceError::PreconditionFailed { .. })));
    assert_eq!(temp_files_under(fx.root()), Vec::<PathBuf>::new());
    let on_disk: BTreeSet<PathBuf> = snapshot(fx.root()).into_keys().collect();
    let expected: BTreeSet<PathBuf> =
        ["a.txt", "d.bin", "dir", "dir/b.txt", "dir/sub", "dir/sub/c.txt"].into_iter().map(PathBuf::from).collect();
    assert_eq!(on_disk, expected);
    assert_eq!(fx.read("dir/sub/c.txt"), "dir/sub/c.txt round 29".repeat(30).as_bytes());
}

#[test]
fn temporary_files_never_show_in_a_listing() {
    // Arrange: a leftover of a crashed write, and a writer running while we list.
    let fx = Fixture::new("temp-hidden");
    fs::write(fx.disk(&format!("{TEMP_PREFIX}01leftover")), b"half").expect("plant a leftover");
    fx.write("visible.txt", b"v");
    let done = AtomicBool::new(false);

    // Act
    let seen = std::thread::scope(|scope| {
        let lister = scope.spawn(|| {
            let mut seen = BTreeSet::new();
            let mut lists = 0_u32;
            while !done.load(Ordering::Acquire) || lists == 0 {
                for entry in fx.ws.list(&WorkspacePath::root()).expect("list during writes") {
                    seen.insert(entry.name);
                }
                lists += 1;
            }
            seen
        });
        for round in 0..200_u32 {
            fx.write("visible.txt", round.to_string().repeat(100).as_bytes());
        }
        done.store(true, Ordering::Release);
        lister.join().expect("lister thread")
    });

    // Assert
    assert_eq!(seen, BTreeSet::from(["visible.txt".to_owned()]));
    assert_eq!(names(&fx.ws.list(&WorkspacePath::root()).expect("list")), ["visible.txt"]);
}

// ---------------------------------------------------------------------------
// 4. Paths and symlink escapes
// ---------------------------------------------------------------------------

#[test]
fn hostile_paths_are_refused_with_stable_codes() {
    for (raw, code) in [
        ("../outside.txt", "path_traversal"),
        ("src/../../etc/passwd", "path_traversal"),
        (".", "path_traversal"),
        ("/etc/passwd", "path_absolute"),
        ("D:\\secrets", "path_absolute"),
        ("src//main.rs", "path_invalid"),
        ("src\\..\\x", "path_invalid"),
        ("line\rbreak", "path_invalid"),
        ("nul\0byte", "path_invalid"),
    ] {
        // Act
        let result = WorkspacePath::parse(raw);

        // Assert
        assert_eq!(result.map_err(|error| error.code), Err(code), "{raw:?}");
    }
    assert_eq!(WorkspacePath::parse(&format!("dir/{}", "n".repeat(256))).map_err(|e| e.code), Err("path_too_long"));
    let as_workspace_error = WorkspaceError::from(WorkspacePath::parse("../x").expect_err("refused"));
    assert!(matches!(as_workspace_error, WorkspaceError::InvalidPath(ref error) if error.code == "path_traversal"));
}

/// A workspace with links leading outside it, and the outside tree they point to.
struct EscapeFixture {
    fx: Fixture,
    outside: TempDir,
    before: BTreeMap<PathBuf, Node>,
}

impl EscapeFixture {
    fn new(label: &str) -> Self {
        let fx = Fixture::new(label);
        let outside = TempDir::new(&format!("{label}-outside"));
        fs::write(outside.path().join("secret.txt"), b"top secret").expect("outside file");
        fs::create_dir(outside.path().join("nested")).expect("outside dir");
        fs::write(outside.path().join("nested/deep.txt"), b"deep secret").expect("outside nested file");
        symlink(outside.path(), fx.disk("out-dir")).expect("link to the outside dir");
        symlink(outside.path().join("secret.txt"), fx.disk("out-file")).expect("link to the outside file");
        symlink("../../../../../../../../../../../../tmp", fx.disk("out-relative")).expect("relative link out");
        fx.write("inside.txt", b"inside");
        let before = snapshot(outside.path());
        Self { fx, outside, before }
    }

    fn assert_outside_untouched(&self) {
        assert_eq!(snapshot(self.outside.path()), self.before, "the outside tree changed");
        assert_eq!(fs::read_link(self.fx.disk("out-dir")).expect("link kept"), self.outside.path());
        assert_eq!(fs::read_link(self.fx.disk("out-file")).expect("link kept"), self.outside.path().join("secret.txt"));
    }
}

#[test]
fn reading_through_a_link_that_leads_outside_fails_with_escape() {
    // Arrange
    let e = EscapeFixture::new("escape-read");
    let ws = &e.fx.ws;

    // Act + Assert
    assert_escape(ws.read(&p("out-file")), "read out-file");
    assert_escape(ws.read(&p("out-dir/secret.txt")), "read out-dir/secret.txt");
    assert_escape(ws.read(&p("out-dir/nested/deep.txt")), "read out-dir/nested/deep.txt");
    assert_escape(ws.read(&p("out-relative")), "read out-relative");
    assert_escape(ws.etag(&p("out-file")), "etag out-file");
    assert_escape(ws.etag(&p("out-dir/missing.txt")), "etag out-dir/missing.txt");
    e.assert_outside_untouched();
}

#[test]
fn writing_through_a_link_that_leads_outside_fails_with_escape_and_changes_nothing_outside() {
    // Arrange
    let e = EscapeFixture::new("escape-write");
    let ws = &e.fx.ws;

    // Act + Assert
    assert_escape(ws.write(&p("out-file"), b"pwned", None), "write out-file");
    assert_escape(ws.write(&p("out-file"), b"pwned", Some("*")), "write out-file with If-Match *");
    assert_escape(ws.write(&p("out-dir/secret.txt"), b"pwned", None), "write out-dir/secret.txt");
    assert_escape(ws.write(&p("out-dir/new.txt"), b"planted", None), "write out-dir/new.txt");
    assert_escape(ws.write(&p("out-dir/nested/deep.txt"), b"pwned", None), "write out-dir/nested/deep.txt");
    assert_escape(ws.write(&p("out-dir/made/up/file.txt"), b"planted", None), "write out-dir/made/up/file.txt");
    e.assert_outside_untouched();
    assert_eq!(temp_files_under(e.outside.path()), Vec::<PathBuf>::new());
}

#[test]
fn listing_through_a_link_that_leads_outside_fails_with_escape() {
    // Arrange
    let e = EscapeFixture::new("escape-list");
    let ws = &e.fx.ws;

    // Act + Assert
    assert_escape(ws.list(&p("out-dir")), "list out-dir");
    assert_escape(ws.list(&p("out-dir/nested")), "list out-dir/nested");
    assert_escape(ws.list(&p("out-relative")), "list out-relative");
    e.assert_outside_untouched();
}

#[test]
fn creating_a_folder_through_a_link_that_leads_outside_fails_with_escape() {
    // Arrange
    let e = EscapeFixture::new("escape-mkdir");
    let ws = &e.fx.ws;

    // Act + Assert
    assert_escape(ws.create_dir(&p("out-dir/newdir")), "create_dir out-dir/newdir");
    assert_escape(ws.create_dir(&p("out-dir/a/b/c")), "create_dir out-dir/a/b/c");
    assert_escape(ws.create_dir(&p("out-dir/nested/inner")), "create_dir out-dir/nested/inner");
    e.assert_outside_untouched();
}

#[test]
fn copying_from_or_into_a_folder_reached_through_an_outside_link_fails_with_escape() {
    // Arrange
    let e = EscapeFixture::new("escape-copy");
    let ws = &e.fx.ws;

    // Act + Assert
    assert_escape(ws.copy(&p("out-dir/secret.txt"), &p("stolen.txt")), "copy out-dir/secret.txt");
    assert_escape(ws.copy(&p("out-dir/nested"), &p("stolen-dir")), "copy out-dir/nested");
    assert_escape(ws.copy(&p("inside.txt"), &p("out-dir/planted.txt")), "copy into out-dir");
    assert!(fs::symlink_metadata(e.fx.disk("stolen.txt")).is_err());
    assert!(fs::symlink_metadata(e.fx.disk("stolen-dir")).is_err());
    e.assert_outside_untouched();
}

#[test]
fn copying_a_link_that_leads_outside_fails_with_escape() {
    // Arrange
    let e = EscapeFixture::new("escape-copy-link");
    let ws = &e.fx.ws;

    // Act
    let file_link = ws.copy(&p("out-file"), &p("stolen.txt"));
    let dir_link = ws.copy(&p("out-dir"), &p("stolen-dir"));

    // Assert
    e.assert_outside_untouched();
    let copied = |name: &str| fs::read_link(e.fx.disk(name)).ok();
    assert_eq!(
        (format!("{file_link:?}"), format!("{dir_link:?}"), copied("stolen.txt"), copied("stolen-dir")),
        ("Err(Escape)".to_owned(), "Err(Escape)".to_owned(), None, None),
        "no copy of the link is made"
    );
}

#[test]
fn moving_or_deleting_through_a_link_that_leads_outside_fails_with_escape() {
    // Arrange
    let e = EscapeFixture::new("escape-move");
    let ws = &e.fx.ws;

    // Act + Assert
    assert_escape(ws.rename(&p("out-dir/secret.txt"), &p("mine.txt"), false), "rename out of out-dir");
    assert_escape(ws.rename(&p("inside.txt"), &p("out-dir/planted.txt"), true), "rename into out-dir");
    assert_escape(ws.delete(&p("out-dir/secret.txt")), "delete out-dir/secret.txt");
    assert_escape(ws.delete(&p("out-dir/nested")), "delete out-dir/nested");
    assert_eq!(e.fx.read("inside.txt"), b"inside");
    e.assert_outside_untouched();
}

#[test]
fn a_link_that_stays_inside_the_workspace_can_be_read_and_listed() {
    // Arrange
    let fx = Fixture::new("inside-links");
    fx.write("notes/v2.md", b"version two");
    fs::create_dir(fx.disk("docs")).expect("docs");
    symlink("../notes/v2.md", fx.disk("docs/current.md")).expect("relative link");
    symlink(fx.disk("notes/v2.md"), fx.disk("absolute.md")).expect("absolute link");
    symlink("notes", fx.disk("notes-link")).expect("dir link");

    // Act
    let relative = fx.ws.read(&p("docs/current.md")).expect("read through the relative link");
    let absolute = fx.ws.read(&p("absolute.md")).expect("read through the absolute link");
    let through_dir = fx.ws.read(&p("notes-link/v2.md")).expect("read through the dir link");
    let listing = fx.ws.list(&p("notes-link")).expect("list through the dir link");

    // Assert
    for content in [&relative, &absolute, &through_dir] {
        assert_eq!(content.bytes, b"version two");
        assert_eq!(content.etag, etag_of(b"version two"));
    }
    assert_eq!(names(&listing), ["v2.md"]);
    assert_eq!(listing[0].path.as_str(), "notes-link/v2.md");
}

#[test]
fn deleting_a_link_that_leads_outside_removes_only_the_link() {
    // Arrange
    let e = EscapeFixture::new("escape-delete-link");
    let before_usage = usage_on_disk(e.fx.root());

    // Act
    e.fx.ws.delete(&p("out-dir")).expect("delete the dir link");
    e.fx.ws.delete(&p("out-file")).expect("delete the file link");

    // Assert
    assert!(fs::symlink_metadata(e.fx.disk("out-dir")).is_err());
    assert!(fs::symlink_metadata(e.fx.disk("out-file")).is_err());
    assert_eq!(snapshot(e.outside.path()), e.before, "the targets survive");
    assert_eq!(usage_on_disk(e.fx.root()).files, before_usage.files - 2);
    assert_eq!(e.fx.usage(), usage_on_disk(e.fx.root()));
}

#[test]
fn a_dangling_link_that_points_outside_is_refused_for_write() {
    // Arrange
    let e = EscapeFixture::new("escape-dangling");
    let absolute_target = e.outside.path().join("not-yet.txt");
    symlink(&absolute_target, e.fx.disk("dangling")).expect("dangling absolute link");
    symlink("../../not-yet-relative.txt", e.fx.disk("dangling-relative")).expect("dangling relative link");
    symlink(e.outside.path().join("no-such-dir"), e.fx.disk("dangling-dir")).expect("dangling dir link");

    // Act + Assert
    assert_escape(e.fx.ws.write(&p("dangling"), b"planted", None), "write dangling");
    assert_escape(e.fx.ws.write(&p("dangling-relative"), b"planted", None), "write dangling-relative");
    assert_escape(e.fx.ws.write(&p("dangling-dir/file.txt"), b"planted", None), "write dangling-dir/file.txt");
    assert_escape(e.fx.ws.create_dir(&p("dangling-dir/sub")), "create_dir dangling-dir/sub");
    assert!(fs::symlink_metadata(&absolute_target).is_err(), "nothing created outside");
    assert!(fs::symlink_metadata(e.outside.path().join("no-such-dir")).is_err(), "nothing created outside");
    assert!(fs::symlink_metadata(e.fx.root().join("../../not-yet-relative.txt")).is_err());
    assert!(fs::symlink_metadata(e.fx.disk("dangling")).expect("still there").is_symlink(), "the link is kept");
    e.assert_outside_untouched();
}

// ---------------------------------------------------------------------------
// 5. Listings
// ---------------------------------------------------------------------------

#[test]
fn a_listing_puts_folders_first_then_sorts_names_case_insensitively() {
    // Arrange
    let fx = Fixture::new("list-order");
    for dir in ["beta", "Zeta", "Alpha", "gamma"] {
        fx.ws.create_dir(&p(dir)).expect("create_dir");
    }
    for (name, bytes) in [("b.txt", &b"bb"[..]), ("C.txt", b"ccc"), ("A.txt", b""), ("d.bin", b"\0\0\0\0")] {
        fx.write(name, bytes);
    }
    symlink("b.txt", fx.disk("a-link")).expect("file link");
    symlink("beta", fx.disk("B-dir-link")).expect("dir link");

    // Act
    let entries = fx.ws.list(&WorkspacePath::root()).expect("list");

    // Assert
    let seen: Vec<(&str, EntryKind, u64)> =
        entries.iter().map(|entry| (entry.name.as_str(), entry.kind, entry.size)).collect();
    assert_eq!(
        seen,
        [
            ("Alpha", EntryKind::Dir, 0),
            ("beta", EntryKind::Dir, 0),
            ("gamma", EntryKind::Dir, 0),
            ("Zeta", EntryKind::Dir, 0),
            ("a-link", EntryKind::Symlink, 0),
            ("A.txt", EntryKind::File, 0),
            ("B-dir-link", EntryKind::Symlink, 0),
            ("b.txt", EntryKind::File, 2),
            ("C.txt", EntryKind::File, 3),
            ("d.bin", EntryKind::File, 4),
        ]
    );
    for entry in &entries {
        assert_eq!(entry.path, p(&entry.name));
        assert!(!entry.ignored, "{} (no .gitignore here)", entry.name);
        assert!(entry.mtime_ms > 0, "{}", entry.name);
    }
    assert_eq!(
        [EntryKind::File, EntryKind::Dir, EntryKind::Symlink].map(EntryKind::as_str),
        ["file", "dir", "symlink"]
    );
}

#[test]
fn listing_a_subfolder_gives_its_entries_with_full_paths() {
    // Arrange
    let fx = Fixture::new("list-sub");
    fx.write("src/lib.rs", b"pub mod a;");
    fx.write("src/a/mod.rs", b"");

    // Act
    let entries = fx.ws.list(&p("src/")).expect("list");

    // Assert
    let seen: Vec<(&str, &str, EntryKind, u64)> =
        entries.iter().map(|e| (e.name.as_str(), e.path.as_str(), e.kind, e.size)).collect();
    assert_eq!(seen, [("a", "src/a", EntryKind::Dir, 0), ("lib.rs", "src/lib.rs", EntryKind::File, 10)]);
}

#[test]
fn listing_a_file_is_not_a_directory_and_a_missing_folder_is_not_found() {
    // Arrange
    let fx = Fixture::new("list-errors");
    fx.write("file.txt", b"x");

    // Act
    let file = fx.ws.list(&p("file.txt"));
    let missing = fx.ws.list(&p("missing"));
    let missing_nested = fx.ws.list(&p("missing/deeper"));

    // Assert
    assert!(matches!(&file, Err(WorkspaceError::NotADirectory(path)) if path == "file.txt"), "{file:?}");
    assert!(matches!(&missing, Err(WorkspaceError::NotFound(path)) if path == "missing"), "{missing:?}");
    assert!(
        matches!(&missing_nested, Err(WorkspaceError::NotFound(path)) if path == "missing/deeper"),
        "{missing_nested:?}"
    );
}

/// A real repository with a root `.gitignore` and a nested one; returns (repo, home).
fn ignore_repo(label: &str) -> (Fixture, TempDir) {
    let fx = Fixture::new(label);
    let home = TempDir::new(&format!("{label}-home"));
    git_init(fx.root(), home.path());
    fx.write(".gitignore", b"# root rules\n*.log\nbuild/\n!keep.log\n/root-only.txt\ndocs/*.tmp\n.env\n");
    fx.write("sub/.gitignore", b"*.txt\n!important.txt\nlocal/\n/anchored.md\n");
    for file in [
        "a.log",
        "keep.log",
        "main.rs",
        "root-only.txt",
        ".env",
        "build/out.bin",
        "docs/a.tmp",
        "docs/readme.md",
        "docs/deep/b.tmp",
        "sub/root-only.txt",
        "sub/notes.txt",
        "sub/important.txt",
        "sub/app.log",
        "sub/keep.log",
        "sub/anchored.md",
        "sub/main.rs",
        "sub/local/x.rs",
        "sub/build/y.o",
        "sub/deeper/z.txt",
        "sub/deeper/w.md",
        "sub/deeper/anchored.md",
        "sub/deeper/local/q.rs",
    ] {
        fx.write(file, file.as_bytes());
    }
    (fx, home)
}

#[test]
fn ignored_flags_agree_with_git_check_ignore() {
    // Arrange
    let (fx, home) = ignore_repo("ignored");
    let dirs = ["", "build", "docs", "docs/deep", "sub", "sub/local", "sub/build", "sub/deeper", "sub/deeper/local"];

    // Act
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for dir in dirs {
        for entry in fx.ws.list(&p(dir)).unwrap_or_else(|error| panic!("list {dir:?}: {error:?}")) {
            // Assert (collected, so one run reports every disagreement)
            let expected = entry.name == ".git" || git_ignores(fx.root(), home.path(), entry.path.as_str());
            if entry.ignored != expected {
                mismatches.push(format!("{}: listed {} but git says {expected}", entry.path, entry.ignored));
            }
            compared += 1;
        }
    }

    // Assert
    assert_eq!(mismatches, Vec::<String>::new());
    assert!(compared >= 30, "compared {compared} entries");
    let root = fx.ws.list(&WorkspacePath::root()).expect("list root");
    let flag = |name: &str| root.iter().find(|entry| entry.name == name).map(|entry| entry.ignored);
    assert_eq!(flag(".git"), Some(true), ".git itself is flagged ignored");
    assert_eq!(flag(".gitignore"), Some(false));
    assert_eq!(flag("a.log"), Some(true));
    assert_eq!(flag("keep.log"), Some(false));
    assert_eq!(flag("build"), Some(true));
}

#[test]
fn a_negated_pattern_cannot_re_include_a_file_inside_an_ignored_folder() {
    // Arrange
    let (fx, home) = ignore_repo("ignored-reinclude");
    fx.write("build/keep.log", b"kept?");
    fx.write("sub/build/keep.log", b"kept?");
    fx.write("sub/local/important.txt", b"kept?");

    let cases = [("build", "keep.log"), ("sub/build", "keep.log"), ("sub/local", "important.txt")];

    // Act: (path, flagged ignored, git ignores)
    let seen: Vec<(String, bool, bool)> = cases
        .iter()
        .map(|(dir, name)| {
            let entries = fx.ws.list(&p(dir)).expect("list");
            let entry = entries.iter().find(|entry| entry.name == *name).expect("listed");
            let path = format!("{dir}/{name}");
            let git = git_ignores(fx.root(), home.path(), &path);
            (path, entry.ignored, git)
        })
        .collect();

    // Assert
    let expected: Vec<(String, bool, bool)> =
        cases.iter().map(|(dir, name)| (format!("{dir}/{name}"), true, true)).collect();
    assert_eq!(seen, expected);
}

#[test]
fn patterns_in_git_info_exclude_flag_entries_as_ignored() {
    // Arrange
    let (fx, home) = ignore_repo("ignored-exclude");
    let exclude = fx.disk(".git/info/exclude");
    let mut rules = fs::read_to_string(&exclude).unwrap_or_default();
    rules.push_str("main.rs\nscratch/\n");
    fs::write(&exclude, rules).expect("write .git/info/exclude");
    fx.write("scratch/tmp.txt", b"t");

    // Act
    let root = std::panic::catch_unwind(|| fx.ws.list(&WorkspacePath::root()));

    // Assert
    let root = root.expect("listing does not panic").expect("list");
    for name in ["main.rs", "scratch", "keep.log"] {
        let entry = root.iter().find(|entry| entry.name == name).expect("listed");
        assert_eq!(entry.ignored, git_ignores(fx.root(), home.path(), name), "{name}");
    }
    assert!(root.iter().any(|entry| entry.name == "main.rs" && entry.ignored));
}

// ---------------------------------------------------------------------------
// 6. Rename, copy, delete
// ---------------------------------------------------------------------------

#[test]
fn renaming_a_file_moves_its_content_and_creates_the_target_folders() {
    // Arrange
    let fx = Fixture::new("rename-file");
    fx.write("a.txt", b"alpha");

    // Act
    fx.ws.rename(&p("a.txt"), &p("moved/here/b.txt"), false).expect("rename");

    // Assert
    assert!(fs::symlink_metadata(fx.disk("a.txt")).is_err());
    assert_eq!(fx.read("moved/here/b.txt"), b"alpha");
    assert_eq!(fx.usage(), usage_on_disk(fx.root()));
}

#[test]
fn renaming_a_folder_moves_its_whole_tree() {
    // Arrange
    let fx = Fixture::new("rename-dir");
    fx.write("old/a.txt", b"a");
    fx.write("old/nested/b.txt", b"b");
    symlink("a.txt", fx.disk("old/link")).expect("link");
    let before = snapshot(&fx.disk("old"));

    // Act
    fx.ws.rename(&p("old"), &p("new"), false).expect("rename");

    // Assert
    assert!(fs::symlink_metadata(fx.disk("old")).is_err());
    assert_eq!(snapshot(&fx.disk("new")), before);
    assert_eq!(fx.read("new/link"), b"a");
}

#[test]
fn renaming_onto_an_existing_file_without_overwrite_is_refused() {
    // Arrange
    let fx = Fixture::new("rename-exists");
    fx.write("from.txt", b"from");
    fx.write("to.txt", b"to");
    fx.ws.create_dir(&p("dir")).expect("dir");

    // Act
    let onto_file = fx.ws.rename(&p("from.txt"), &p("to.txt"), false);
    let onto_dir = fx.ws.rename(&p("from.txt"), &p("dir"), true);

    // Assert
    assert!(matches!(&onto_file, Err(WorkspaceError::AlreadyExists(path)) if path == "to.txt"), "{onto_file:?}");
    assert!(matches!(&onto_dir, Err(WorkspaceError::AlreadyExists(path)) if path == "dir"), "{onto_dir:?}");
    assert_eq!(fx.read("from.txt"), b"from");
    assert_eq!(fx.read("to.txt"), b"to");
    assert!(fs::symlink_metadata(fx.disk("dir")).expect("dir").is_dir());
}

#[test]
fn renaming_onto_an_existing_file_with_overwrite_replaces_it() {
    // Arrange
    let fx = Fixture::new("rename-overwrite");
    fx.write("from.txt", b"from");
    fx.write("to.txt", b"the old target");
    let before = fx.usage();

    // Act
    fx.ws.rename(&p("from.txt"), &p("to.txt"), true).expect("rename with overwrite");

    // Assert
    assert!(fs::symlink_metadata(fx.disk("from.txt")).is_err());
    assert_eq!(fx.read("to.txt"), b"from");
    assert_eq!(fx.usage(), Usage { files: before.files - 1, bytes: before.bytes - 14 });
    assert_eq!(fx.usage(), usage_on_disk(fx.root()));
}

#[test]
fn moving_or_copying_a_folder_into_itself_is_refused() {
    // Arrange
    let fx = Fixture::new("into-itself");
    fx.write("a/file.txt", b"f");
    let before = snapshot(fx.root());

    // Act
    let rename_inside = fx.ws.rename(&p("a"), &p("a/b"), false);
    let rename_onto_itself = fx.ws.rename(&p("a"), &p("a"), true);
    let copy_inside = fx.ws.copy(&p("a"), &p("a/b/c"));

    // Assert
    assert!(matches!(rename_inside, Err(WorkspaceError::IntoItself)), "{rename_inside:?}");
    assert!(matches!(rename_onto_itself, Err(WorkspaceError::IntoItself)), "{rename_onto_itself:?}");
    assert!(matches!(copy_inside, Err(WorkspaceError::IntoItself)), "{copy_inside:?}");
    assert_eq!(snapshot(fx.root()), before);
}

#[test]
fn copying_a_folder_into_itself_through_a_link_is_refused() {
    // Arrange
    let fx = Fixture::new("into-itself-link");
    fx.write("a/file.txt", b"f");
    symlink("a", fx.disk("alias")).expect("link to a");
    let before = snapshot(fx.root());

    // Act
    let rename = fx.ws.rename(&p("a"), &p("alias/moved"), false);
    let copy = fx.ws.copy(&p("a"), &p("alias/copy"));

    // Assert: (rename, copy, depth of the deepest path, tree unchanged)
    let after = snapshot(fx.root());
    let deepest = after.keys().map(|path| path.components().count()).max().unwrap_or(0);
    assert_eq!(
        (format!("{rename:?}"), format!("{copy:?}"), deepest, after == before),
        ("Err(IntoItself)".to_owned(), "Err(IntoItself)".to_owned(), 2, true)
    );
}

#[test]
fn renaming_or_copying_a_missing_path_is_not_found() {
    // Arrange
    let fx = Fixture::new("missing-source");

    // Act
    let rename = fx.ws.rename(&p("ghost.txt"), &p("x.txt"), false);
    let copy = fx.ws.copy(&p("ghost.txt"), &p("x.txt"));
    let delete = fx.ws.delete(&p("ghost.txt"));

    // Assert
    for result in [rename, copy, delete] {
        assert!(matches!(&result, Err(WorkspaceError::NotFound(path)) if path == "ghost.txt"), "{result:?}");
    }
    assert!(snapshot(fx.root()).is_empty());
}

#[test]
fn copying_a_folder_copies_the_tree_with_links_as_links() {
    // Arrange
    let fx = Fixture::new("copy-tree");
    fx.write("src/a.txt", b"alpha");
    fx.write("src/nested/b.bin", &[0, 1, 2, 255]);
    fx.ws.create_dir(&p("src/nested/empty")).expect("empty dir");
    symlink("a.txt", fx.disk("src/link-rel")).expect("relative link");
    symlink("../a.txt", fx.disk("src/nested/link-up")).expect("parent link");
    symlink("nested", fx.disk("src/dir-link")).expect("dir link");
    fx.ws.invalidate_usage();
    let source = snapshot(&fx.disk("src"));
    let before = fx.usage();

    // Act
    fx.ws.copy(&p("src"), &p("copies/dst")).expect("copy");

    // Assert
    assert_eq!(snapshot(&fx.disk("copies/dst")), source);
    assert_eq!(snapshot(&fx.disk("src")), source, "the source is unchanged");
    assert!(fs::symlink_metadata(fx.disk("copies/dst/dir-link")).expect("link").is_symlink());
    assert_eq!(fx.read("copies/dst/nested/link-up"), b"alpha");
    let added = usage_on_disk(&fx.disk("src"));
    assert_eq!(fx.usage(), Usage { files: before.files + added.files, bytes: before.bytes + added.bytes });
    assert_eq!(fx.usage(), usage_on_disk(fx.root()));
}

#[test]
fn copying_a_file_duplicates_it_and_refuses_an_existing_target() {
    // Arrange
    let fx = Fixture::new("copy-file");
    fx.write("a.txt", b"alpha");
    fx.write("b.txt", b"beta");

    // Act
    let copy = fx.ws.copy(&p("a.txt"), &p("dir/a-copy.txt"));
    let onto_existing = fx.ws.copy(&p("a.txt"), &p("b.txt"));

    // Assert
    assert!(copy.is_ok(), "{copy:?}");
    assert_eq!(fx.read("dir/a-copy.txt"), b"alpha");
    assert!(matches!(&onto_existing, Err(WorkspaceError::AlreadyExists(path)) if path == "b.txt"));
    assert_eq!(fx.read("b.txt"), b"beta");
}

#[test]
fn deleting_a_folder_removes_it_recursively() {
    // Arrange
    let fx = Fixture::new("delete-dir");
    fx.write("keep.txt", b"keep");
    fx.write("doomed/a.txt", b"a");
    fx.write("doomed/deep/er/b.txt", b"b");
    symlink("../keep.txt", fx.disk("doomed/link")).expect("link");

    // Act
    fx.ws.delete(&p("doomed")).expect("delete");

    // Assert
    assert_eq!(snapshot(fx.root()), BTreeMap::from([(PathBuf::from("keep.txt"), Node::File(b"keep".to_vec()))]));
    assert_eq!(fx.usage(), Usage { files: 1, bytes: 4 });
}

#[test]
fn the_root_cannot_be_deleted_moved_copied_or_written() {
    // Arrange
    let fx = Fixture::new("root");
    fx.write("a.txt", b"a");
    let before = snapshot(fx.root());
    let root = WorkspacePath::root();

    // Act
    let delete = fx.ws.delete(&root);
    let rename_from = fx.ws.rename(&root, &p("elsewhere"), true);
    let rename_to = fx.ws.rename(&p("a.txt"), &root, true);
    let copy_from = fx.ws.copy(&root, &p("copy"));
    let copy_to = fx.ws.copy(&p("a.txt"), &root);
    let write = fx.ws.write(&root, b"x", None);
    let create = fx.ws.create_dir(&root);

    // Assert
    assert!(matches!(delete, Err(WorkspaceError::Root("deleted"))), "{delete:?}");
    assert!(matches!(rename_from, Err(WorkspaceError::Root("moved"))), "{rename_from:?}");
    assert!(matches!(rename_to, Err(WorkspaceError::Root("moved"))), "{rename_to:?}");
    assert!(matches!(copy_from, Err(WorkspaceError::Root("copied"))), "{copy_from:?}");
    assert!(matches!(copy_to, Err(WorkspaceError::Root("copied"))), "{copy_to:?}");
    assert!(matches!(write, Err(WorkspaceError::Root("written as a file"))), "{write:?}");
    assert!(matches!(&create, Err(WorkspaceError::AlreadyExists(path)) if path.is_empty()), "{create:?}");
    assert_eq!(snapshot(fx.root()), before);
}

// ---------------------------------------------------------------------------
// 7. Quotas
// ---------------------------------------------------------------------------

#[test]
fn a_file_larger_than_the_size_quota_is_refused_and_not_written() {
    // Arrange
    let fx = Fixture::with_quotas("quota-size", small_quotas());
    fx.write("small.txt", b"s");

    // Act
    let too_big = fx.ws.write(&p("big/too-big.bin"), &[7; 101], None);
    let overwrite_too_big = fx.ws.write(&p("small.txt"), &[7; 101], None);
    let exactly = fx.ws.write(&p("exactly.bin"), &[7; 100], None);

    // Assert
    assert_quota(too_big, "file_size", 100);
    assert_quota(overwrite_too_big, "file_size", 100);
    assert!(exactly.is_ok(), "{exactly:?}");
    assert!(fs::symlink_metadata(fx.disk("big")).is_err(), "no folder or file was created");
    assert_eq!(fx.read("small.txt"), b"s");
    assert_eq!(temp_files_under(fx.root()), Vec::<PathBuf>::new());
    assert_eq!(fx.ws.quotas(), small_quotas());
    fs::write(fx.disk("made-elsewhere.bin"), [5; 101]).expect("write behind its back");
    assert_quota(fx.ws.read(&p("made-elsewhere.bin")), "file_size", 100);
}

#[test]
fn the_file_after_the_last_allowed_one_is_refused_for_the_count() {
    // Arrange
    let fx = Fixture::with_quotas("quota-count", small_quotas());
    for name in ["1.txt", "2.txt", "3.txt"] {
        fx.write(name, b"0123456789");
    }
    let before = snapshot(fx.root());

    // Act
    let fourth = fx.ws.write(&p("dir/4.txt"), b"x", None);

    // Assert
    assert_quota(fourth, "file_count", 3);
    assert_eq!(snapshot(fx.root()), before, "nothing was written");
    assert_eq!(fx.usage(), Usage { files: 3, bytes: 30 });
    fx.ws.write(&p("2.txt"), b"rewritten, same count", None).expect("rewriting an existing file adds no file");
}

#[test]
fn exceeding_the_total_bytes_is_refused() {
    // Arrange
    let fx = Fixture::with_quotas("quota-total", small_quotas());
    fx.write("a.bin", &[1; 100]);
    fx.write("b.bin", &[2; 100]);
    let before = snapshot(fx.root());

    // Act
    let new_file = fx.ws.write(&p("c.bin"), &[3; 51], None);
    let same_size = fx.ws.write(&p("a.bin"), &[1; 100], None).and_then(|_| fx.ws.write(&p("b.bin"), &[2; 100], None));
    let fits_exactly = fx.ws.write(&p("c.bin"), &[3; 50], None);
    let one_more_byte = fx.ws.write(&p("c.bin"), &[3; 51], None);

    // Assert
    assert_quota(new_file, "total_bytes", 250);
    assert!(same_size.is_ok(), "rewriting with the same size fits: {same_size:?}");
    assert!(fits_exactly.is_ok(), "{fits_exactly:?}");
    assert_quota(one_more_byte, "total_bytes", 250);
    assert_eq!(fx.read("c.bin"), [3; 50]);
    let mut expected = before;
    expected.insert(PathBuf::from("c.bin"), Node::File(vec![3; 50]));
    assert_eq!(snapshot(fx.root()), expected);
    assert_eq!(fx.usage(), Usage { files: 3, bytes: 250 });
}

#[test]
fn overwriting_a_file_with_a_smaller_one_always_works() {
    // Arrange: at every limit, and then beyond them through changes made behind the workspace's back.
    let fx = Fixture::with_quotas("quota-shrink", small_quotas());
    fx.write("a.bin", &[1; 100]);
    fx.write("b.bin", &[2; 100]);
    fx.write("c.bin", &[3; 50]);

    // Act
    let at_the_limits = fx.ws.write(&p("a.bin"), &[1; 99], None);
    fs::write(fx.disk("outside-the-api-1.bin"), [9; 100]).expect("write behind its back");
    fs::write(fx.disk("outside-the-api-2.bin"), [9; 100]).expect("write behind its back");
    fx.ws.invalidate_usage();
    let over_the_limits = fx.ws.write(&p("b.bin"), &[2; 10], None);
    let same_size_over_the_limits = fx.ws.write(&p("c.bin"), &[4; 50], None);

    // Assert
    assert!(at_the_limits.is_ok(), "{at_the_limits:?}");
    assert!(over_the_limits.is_ok(), "{over_the_limits:?}");
    assert!(same_size_over_the_limits.is_ok(), "{same_size_over_the_limits:?}");
    assert_eq!(fx.read("b.bin"), [2; 10]);
    assert_eq!(fx.usage(), Usage { files: 5, bytes: 99 + 10 + 50 + 200 });
    assert_eq!(fx.usage(), usage_on_disk(fx.root()));
}

#[test]
fn a_copy_that_would_exceed_a_quota_is_refused_and_copies_nothing() {
    // Arrange
    let fx = Fixture::with_quotas("quota-copy", small_quotas());
    fx.write("dir/a.txt", b"aaaa");
    fx.write("dir/b.txt", b"bbbb");
    let before = snapshot(fx.root());

    // Act
    let folder = fx.ws.copy(&p("dir"), &p("dir-copy"));
    let one_file = fx.ws.copy(&p("dir/a.txt"), &p("a-copy.txt"));
    let another = fx.ws.copy(&p("dir/b.txt"), &p("b-copy.txt"));

    // Assert
    assert_quota(folder, "file_count", 3);
    assert!(one_file.is_ok(), "the third file fits: {one_file:?}");
    assert_quota(another, "file_count", 3);
    let mut expected = before;
    expected.insert(PathBuf::from("a-copy.txt"), Node::File(b"aaaa".to_vec()));
    assert_eq!(snapshot(fx.root()), expected);
}

#[test]
fn a_copy_that_would_exceed_the_total_bytes_is_refused() {
    // Arrange
    let fx =
        Fixture::with_quotas("quota-copy-bytes", Quotas { max_file_bytes: 100, max_files: 100, max_total_bytes: 250 });
    fx.write("dir/a.bin", &[1; 100]);
    fx.write("dir/b.bin", &[2; 30]);
    let before = snapshot(fx.root());

    // Act
    let result = fx.ws.copy(&p("dir"), &p("dir-copy"));

    // Assert
    assert_quota(result, "total_bytes", 250);
    assert_eq!(snapshot(fx.root()), before);
    assert_eq!(fx.usage(), Usage { files: 2, bytes: 130 });
}

#[test]
fn usage_matches_the_files_on_disk_after_a_mix_of_operations() {
    // Arrange
    let fx = Fixture::new("usage-mix");
    let check = |step: &str| assert_eq!(fx.usage(), usage_on_disk(fx.root()), "after {step}");
    check("opening");

    // Act + Assert, step by step
    fx.write("a.txt", b"hello");
    check("a first write");
    fx.write("src/main.rs", b"fn main() {}\n");
    fx.write("src/lib.rs", &[b'x'; 1000]);
    check("writes creating folders");
    fx.write("src/lib.rs", &[b'y'; 10]);
    check("shrinking a file");
    fx.write("a.txt", &[b'z'; 4096]);
    check("same_size a file");
    fx.ws.create_dir(&p("empty/dirs/only")).expect("create_dir");
    check("create_dir");
    fx.ws.copy(&p("src"), &p("src-copy")).expect("copy a folder");
    fx.ws.copy(&p("a.txt"), &p("a-copy.txt")).expect("copy a file");
    check("copies");
    fx.ws.rename(&p("src-copy"), &p("moved/src"), false).expect("rename a folder");
    fx.ws.rename(&p("a-copy.txt"), &p("a.txt"), true).expect("rename over a file");
    check("renames");
    fx.ws.delete(&p("src/main.rs")).expect("delete a file");
    check("deleting a file");
    fx.ws.delete(&p("moved")).expect("delete a folder");
    check("deleting a folder");
    symlink("a.txt", fx.disk("link-made-outside-the-api")).expect("link");
    fx.ws.invalidate_usage();
    check("a link made behind its back");
    fx.ws.delete(&p("link-made-outside-the-api")).expect("delete the link");
    check("deleting a link");
    let refused = fx.ws.write(&p("a.txt"), b"stale", Some("\"stale\""));
    assert!(matches!(refused, Err(WorkspaceError::PreconditionFailed { .. })));
    check("a refused write");
    assert_eq!(fx.usage(), Usage { files: 2, bytes: 4096 + 10 });
}

#[test]
fn writing_through_a_link_inside_the_workspace_updates_its_target() {
    // Arrange
    let fx = Fixture::new("write-through-link");
    fx.write("target.txt", &[b't'; 100]);
    symlink("target.txt", fx.disk("alias.txt")).expect("link");
    fx.ws.invalidate_usage();
    let etag = fx.ws.read(&p("alias.txt")).expect("read through the link").etag;

    // Act
    let outcome = fx.ws.write(&p("alias.txt"), b"edited via alias", Some(&etag)).expect("write through the link");

    // Assert: (created, alias is still a link, target content, usage == disk), all at once
    let alias_is_link = fs::symlink_metadata(fx.disk("alias.txt")).expect("alias").is_symlink();
    let target = String::from_utf8_lossy(&fs::read(fx.disk("target.txt")).expect("target")).into_owned();
    let usage = (fx.usage(), usage_on_disk(fx.root()));
    assert_eq!(
        (outcome.created, alias_is_link, target.as_str(), usage.0 == usage.1),
        (false, true, "edited via alias", true),
        "usage cached vs on disk: {usage:?}"
    );
}
