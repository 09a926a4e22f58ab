//! Extracting archives: hostile ones (zip-slip, links out, special files, bombs,
//! too many entries, corrupt data, bad JSON), archives made by the system `tar`,
//! and a property test over arbitrary entry names. Every refusal is checked by
//! its code and by looking at the folder around the destination.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use dockyard_workspace::archive::{self, ArchiveError, ArchiveFormat, ExtractLimits, ExtractProgress, ExtractSummary};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Helpers (also used by the export tests)
// ---------------------------------------------------------------------------

/// A fresh folder under the system temp dir, removed (without following links) on drop.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(label: &str) -> Self {
        let name = format!("dockyard-archive-it-{label}-{}", ulid::Ulid::new().to_string().to_lowercase());
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).expect("create a scratch dir");
        Self(fs::canonicalize(&path).expect("canonical scratch dir"))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// A new empty folder inside the scratch folder.
    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        fs::create_dir_all(&dir).expect("create a folder");
        dir
    }

    /// Writes a file inside the scratch folder and returns its path.
    pub(crate) fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, bytes).expect("write a file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What is at one place of a tree, compared by value (with the exec bit for files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File { bytes: Vec<u8>, executable: bool },
    Link(String),
}

/// Every entry under `root` by relative path, without following links.
pub(crate) fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut nodes = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in fs::read_dir(&dir).expect("read_dir") {
            let path = item.expect("dir entry").path();
            let relative = path.strip_prefix(root).expect("under the root").to_str().expect("UTF-8 name").to_owned();
            let metadata = fs::symlink_metadata(&path).expect("symlink_metadata");
            let node = if metadata.is_symlink() {
                Node::Link(fs::read_link(&path).expect("read_link").to_str().expect("UTF-8 target").to_owned())
            } else if metadata.is_dir() {
                stack.push(path.clone());
                Node::Dir
            } else {
                Node::File {
                    bytes: fs::read(&path).expect("read"),
                    executable: metadata.permissions().mode() & 0o111 != 0,
                }
            };
            nodes.insert(relative, node);
        }
    }
    nodes
}

/// Bytes of all regular files under `root` (links not followed).
pub(crate) fn bytes_on_disk(root: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in fs::read_dir(&dir).expect("read_dir") {
            let path = item.expect("dir entry").path();
            let metadata = fs::symlink_metadata(&path).expect("symlink_metadata");
            if metadata.is_dir() {
                stack.push(path);
            } else if metadata.is_file() {
                total += metadata.len();
            }
        }
    }
    total
}

pub(crate) fn generous() -> ExtractLimits {
    ExtractLimits { max_entries: 100_000, max_total_bytes: 1 << 30, max_file_bytes: 1 << 30 }
}

/// Extracts and checks the progress contract: the last report equals the summary.
pub(crate) fn extract(
    format: ArchiveFormat,
    archive_path: &Path,
    dest: &Path,
    limits: ExtractLimits,
) -> Result<ExtractSummary, ArchiveError> {
    let mut reports = Vec::new();
    let result = archive::extract(format, archive_path, dest, &limits, &mut |progress| reports.push(progress));
    if let Ok(summary) = &result {
        assert_eq!(reports.last(), Some(&ExtractProgress { entries: summary.entries, bytes: summary.bytes }));
    }
    result
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, ArchiveError>, code: &str) -> ArchiveError {
    match result {
        Err(error) => {
            assert_eq!(error.code(), code, "{error}");
            assert!(error.is_client_error(), "{code} is the client's fault");
            error
        }
        Ok(value) => panic!("expected {code}, got {value:?}"),
    }
}

/// One hostile case: a scratch folder holding the archive and an empty `dest`,
/// plus a `bystander` folder next to it that must stay untouched.
struct Hostile {
    scratch: Scratch,
    dest: PathBuf,
}

impl Hostile {
    fn new(label: &str) -> Self {
        let scratch = Scratch::new(label);
        let dest = scratch.dir("dest");
        let bystander = scratch.dir("bystander");
        fs::write(bystander.join("passwd"), b"root:x:0:0").expect("bystander file");
        Self { scratch, dest }
    }

    fn run(&self, format: ArchiveFormat, bytes: &[u8], limits: ExtractLimits) -> Result<ExtractSummary, ArchiveError> {
        let archive_path = self.scratch.file("upload.bin", bytes);
        extract(format, &archive_path, &self.dest, limits)
    }

    /// Nothing but `dest`, the bystander and the upload next to `dest`, and the bystander unchanged.
    #[track_caller]
    fn assert_nothing_outside(&self) {
        let mut outside = tree(self.scratch.path());
        outside.retain(|path, _| !path.starts_with("dest/"));
        let expected = BTreeMap::from([
            ("bystander".to_owned(), Node::Dir),
            ("bystander/passwd".to_owned(), Node::File { bytes: b"root:x:0:0".to_vec(), executable: false }),
            ("dest".to_owned(), Node::Dir),
        ]);
        outside.remove("upload.bin");
        assert_eq!(outside, expected, "something was written outside dest");
        for link in tree(&self.dest).into_iter().filter(|(_, node)| matches!(node, Node::Link(_))) {
            if let Ok(real) = fs::canonicalize(self.dest.join(&link.0)) {
                assert!(real.starts_with(&self.dest), "{link:?} resolves to {real:?}");
            }
        }
    }
}

/// A tar entry written with raw header bytes, so names and types the tar crate's
/// safe setters refuse (`..`, absolute paths) can be built. Names and link
/// targets longer than 100 bytes go into GNU long-name entries.
pub(crate) struct RawEntry<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) kind: tar::EntryType,
    pub(crate) data: &'a [u8],
    pub(crate) link: &'a [u8],
    pub(crate) mode: u32,
}

impl<'a> RawEntry<'a> {
    pub(crate) fn file(name: &'a [u8], data: &'a [u8]) -> Self {
        Self { name, kind: tar::EntryType::Regular, data, link: b"", mode: 0o644 }
    }

    pub(crate) fn dir(name: &'a [u8]) -> Self {
        Self { name, kind: tar::EntryType::Directory, data: b"", link: b"", mode: 0o755 }
    }

    pub(crate) fn link(name: &'a [u8], target: &'a [u8]) -> Self {
        Self { name, kind: tar::EntryType::Symlink, data: b"", link: target, mode: 0o777 }
    }

    fn of_kind(name: &'a [u8], kind: tar::EntryType) -> Self {
        Self { name, kind, data: b"", link: b"", mode: 0o644 }
    }
}

fn long_name_entry(builder: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, value: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().expect("gnu header").name[..13].copy_from_slice(b"././@LongLink");
    header.set_entry_type(kind);
    header.set_mode(0o644);
    let mut data = value.to_vec();
    data.push(0);
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder.append(&header, data.as_slice()).expect("append a long name");
}

/// A gzip-compressed tar of raw entries.
pub(crate) fn raw_tar_gz(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        if entry.name.len() > 100 {
            long_name_entry(&mut builder, tar::EntryType::GNULongName, entry.name);
        }
        if entry.link.len() > 100 {
            long_name_entry(&mut builder, tar::EntryType::GNULongLink, entry.link);
        }
        {
            let gnu = header.as_gnu_mut().expect("gnu header");
            let name = &entry.name[..entry.name.len().min(100)];
            gnu.name[..name.len()].copy_from_slice(name);
            let link = &entry.link[..entry.link.len().min(100)];
            gnu.linkname[..link.len()].copy_from_slice(link);
        }
        header.set_entry_type(entry.kind);
        header.set_mode(entry.mode);
        header.set_size(entry.data.len() as u64);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append(&header, entry.data).expect("append");
    }
    gzip(&builder.into_inner().expect("finish the tar"))
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("compress");
    encoder.finish().expect("finish gzip")
}

enum ZipItem<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
    /// A file with raw unix mode bits (type included) in its external attributes.
    Mode(&'a str, u32),
}

fn zip_of(items: &[ZipItem<'_>]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for item in items {
        match item {
            ZipItem::File(name, bytes) => {
                writer.start_file(*name, options).expect("start file");
                writer.write_all(bytes).expect("write");
            }
            ZipItem::Dir(name) => writer.add_directory(*name, options).expect("add dir"),
            ZipItem::Link(name, target) => writer.add_symlink(*name, *target, options).expect("add link"),
            ZipItem::Mode(name, mode) => {
                writer.start_file(*name, options.external_attributes(mode << 16)).expect("start file");
            }
        }
    }
    writer.finish().expect("finish zip").into_inner()
}

fn json_export(entries: &str) -> Vec<u8> {
    format!(r#"{{"format":"dockyard-export","version":1,"project":{{"name":"p"}},"entries":[{entries}]}}"#).into_bytes()
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

#[test]
fn zip_slip_names_are_refused_in_tar_and_zip_and_json() {
    let absolute = format!("/tmp/dockyard-evil-{}", ulid::Ulid::new());
    for name in ["../evil", "a/../../evil", absolute.as_str(), "a/./../evil", "a\\..\\evil", "ok/\u{7}bell"] {
        // Arrange
        let cases = [
            (
                ArchiveFormat::TarGz,
                raw_tar_gz(&[RawEntry::file(b"fine.txt", b"ok"), RawEntry::file(name.as_bytes(), b"pwned")]),
            ),
            (ArchiveFormat::Zip, zip_of(&[ZipItem::File("fine.txt", b"ok"), ZipItem::File(name, b"pwned")])),
            (
                ArchiveFormat::Json,
                json_export(&format!(
                    r#"{{"path":"fine.txt","type":"file","content":"ok"}},{{"path":{},"type":"file","content":"pwned"}}"#,
                    serde_json::to_string(name).expect("json")
                )),
            ),
        ];
        for (format, bytes) in cases {
            let hostile = Hostile::new("slip");

            // Act
            let result = hostile.run(format, &bytes, generous());

            // Assert
            let error = assert_code(result, "archive_unsafe_path");
            let shown_name: String = name
                .chars()
                .take(5)
                .flat_map(|c| if c.is_control() || c == '\\' { c.escape_default().collect() } else { vec![c] })
                .collect();
            assert!(error.to_string().contains(&shown_name), "{format:?} {name:?}: {error}");
            hostile.assert_nothing_outside();
            assert!(!Path::new(&absolute).exists(), "{format:?} wrote {absolute}");
        }
    }
}

#[test]
fn a_leading_dot_slash_and_a_root_folder_entry_are_accepted() {
    // Arrange
    let hostile = Hostile::new("dot-slash");
    let bytes = raw_tar_gz(&[RawEntry::dir(b"./"), RawEntry::dir(b"./src/"), RawEntry::file(b"./src/a.txt", b"a")]);

    // Act
    let summary = hostile.run(ArchiveFormat::TarGz, &bytes, generous()).expect("extract");

    // Assert
    assert_eq!(summary, ExtractSummary { entries: 3, files: 1, dirs: 1, symlinks: 0, bytes: 1 });
    assert_eq!(
        tree(&hostile.dest),
        BTreeMap::from([
            ("src".to_owned(), Node::Dir),
            ("src/a.txt".to_owned(), Node::File { bytes: b"a".to_vec(), executable: false }),
        ])
    );
}

// ---------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------

#[test]
fn links_that_point_outside_are_refused_before_anything_is_written_through_them() {
    for target in ["../../etc", "/etc", "../bystander", "sub/../../bystander", ".."] {
        for format in [ArchiveFormat::TarGz, ArchiveFormat::Zip, ArchiveFormat::Json] {
            // Arrange
            let hostile = Hostile::new("link-out");
            let bytes = match format {
                ArchiveFormat::TarGz => {
                    raw_tar_gz(&[RawEntry::link(b"link", target.as_bytes()), RawEntry::file(b"link/passwd", b"pwned")])
                }
                ArchiveFormat::Zip => zip_of(&[ZipItem::Link("link", target), ZipItem::File("link/passwd", b"pwned")]),
                ArchiveFormat::Json => json_export(&format!(
                    r#"{{"path":"link","type":"symlink","target":{}}},{{"path":"link/passwd","type":"file","content":"pwned"}}"#,
                    serde_json::to_string(target).expect("json")
                )),
            };

            // Act
            let result = hostile.run(format, &bytes, generous());

            // Assert
            assert_code(result, "archive_symlink_escape");
            hostile.assert_nothing_outside();
            assert!(fs::symlink_metadata(hostile.dest.join("link")).is_err(), "{format:?} {target}: link created");
        }
    }
}

#[test]
fn nothing_is_written_through_a_link_even_one_that_stays_inside() {
    for format in [ArchiveFormat::TarGz, ArchiveFormat::Zip] {
        // Arrange
        let hostile = Hostile::new("through-link");
        let bytes = match format {
            ArchiveFormat::TarGz => raw_tar_gz(&[
                RawEntry::dir(b"real/"),
                RawEntry::link(b"alias", b"real"),
                RawEntry::file(b"alias/x.txt", b"through"),
            ]),
            _ => zip_of(&[ZipItem::Dir("real/"), ZipItem::Link("alias", "real"), ZipItem::File("alias/x.txt", b"x")]),
        };

        // Act
        let result = hostile.run(format, &bytes, generous());

        // Assert
        let error = assert_code(result, "archive_symlink_escape");
        assert!(error.to_string().contains("'alias'"), "{error}");
        assert!(!hostile.dest.join("real/x.txt").exists());
        hostile.assert_nothing_outside();
    }
}

#[test]
fn a_later_file_replaces_an_earlier_link_of_the_same_name_instead_of_writing_through_it() {
    // Arrange
    let hostile = Hostile::new("replace-link");
    let bytes = raw_tar_gz(&[
        RawEntry::file(b"target.txt", b"original"),
        RawEntry::link(b"name", b"target.txt"),
        RawEntry::file(b"name", b"replacement"),
        RawEntry::link(b"other", b"target.txt"),
        RawEntry::link(b"other", b"name"),
    ]);

    // Act
    let summary = hostile.run(ArchiveFormat::TarGz, &bytes, generous()).expect("extract");

    // Assert
    assert_eq!(summary.entries, 5);
    assert_eq!(
        tree(&hostile.dest),
        BTreeMap::from([
            ("name".to_owned(), Node::File { bytes: b"replacement".to_vec(), executable: false }),
            ("other".to_owned(), Node::Link("name".to_owned())),
            ("target.txt".to_owned(), Node::File { bytes: b"original".to_vec(), executable: false }),
        ])
    );
}

#[test]
fn a_file_inside_a_file_and_a_file_over_a_folder_are_conflicts() {
    for entries in [
        vec![RawEntry::file(b"a", b"file"), RawEntry::file(b"a/b", b"inside a file")],
        vec![RawEntry::dir(b"a/"), RawEntry::file(b"a", b"over a folder")],
        vec![RawEntry::dir(b"a/"), RawEntry::link(b"a", b"b")],
    ] {
        // Arrange
        let hostile = Hostile::new("conflict");

        // Act
        let result = hostile.run(ArchiveFormat::TarGz, &raw_tar_gz(&entries), generous());

        // Assert
        assert_code(result, "archive_path_conflict");
        hostile.assert_nothing_outside();
    }
}

#[test]
fn links_inside_are_kept_even_dangling_ones() {
    // Arrange
    let hostile = Hostile::new("links-inside");
    let bytes = raw_tar_gz(&[
        RawEntry::file(b"docs/readme.md", b"hi"),
        RawEntry::link(b"docs/up", b"../docs/readme.md"),
        RawEntry::link(b"dangling", b"not/there"),
        RawEntry::link(b"dot", b"./docs/"),
    ]);

    // Act
    let summary = hostile.run(ArchiveFormat::TarGz, &bytes, generous()).expect("extract");

    // Assert
    assert_eq!((summary.files, summary.dirs, summary.symlinks), (1, 1, 3));
    assert_eq!(fs::read(hostile.dest.join("docs/up")).expect("read through the link"), b"hi");
    assert_eq!(fs::read_link(hostile.dest.join("dangling")).expect("link"), Path::new("not/there"));
    hostile.assert_nothing_outside();
}

// ---------------------------------------------------------------------------
// Special entries
// ---------------------------------------------------------------------------

#[test]
fn hard_links_devices_and_fifos_in_tar_are_refused() {
    for (entry, kind) in [
        (RawEntry { link: b"bystander/passwd", ..RawEntry::of_kind(b"hard", tar::EntryType::Link) }, "hard link"),
        (RawEntry { link: b"inside.txt", ..RawEntry::of_kind(b"hard", tar::EntryType::Link) }, "hard link"),
        (RawEntry::of_kind(b"tty", tar::EntryType::Char), "character device"),
        (RawEntry::of_kind(b"sda", tar::EntryType::Block), "block device"),
        (RawEntry::of_kind(b"pipe", tar::EntryType::Fifo), "FIFO"),
    ] {
        // Arrange
        let hostile = Hostile::new("special");
        let bytes = raw_tar_gz(&[RawEntry::file(b"inside.txt", b"x"), entry]);

        // Act
        let result = hostile.run(ArchiveFormat::TarGz, &bytes, generous());

        // Assert
        let error = assert_code(result, "archive_special_file");
        assert!(error.to_string().contains(kind), "{error}");
        hostile.assert_nothing_outside();
        assert_eq!(tree(&hostile.dest).len(), 1, "only inside.txt");
    }
}

#[test]
fn special_files_and_encrypted_entries_in_zip_are_refused() {
    // Arrange
    let fifo = zip_of(&[ZipItem::Mode("pipe", 0o010_644)]);
    let device = zip_of(&[ZipItem::Mode("tty", 0o020_600)]);
    let mut encrypted = zip_of(&[ZipItem::File("secret.txt", b"classified")]);
    set_zip_encryption_flag(&mut encrypted);

    for (bytes, code) in
        [(fifo, "archive_special_file"), (device, "archive_special_file"), (encrypted, "archive_encrypted")]
    {
        let hostile = Hostile::new("zip-special");

        // Act
        let result = hostile.run(ArchiveFormat::Zip, &bytes, generous());

        // Assert
        assert_code(result, code);
        assert!(tree(&hostile.dest).is_empty());
        hostile.assert_nothing_outside();
    }
}

/// Sets the "encrypted" bit of every entry, in the local and the central headers.
fn set_zip_encryption_flag(bytes: &mut [u8]) {
    for index in 0..bytes.len().saturating_sub(4) {
        match &bytes[index..index + 4] {
            b"PK\x03\x04" => bytes[index + 6] |= 1,
            b"PK\x01\x02" => bytes[index + 8] |= 1,
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Caps
// ---------------------------------------------------------------------------

const MIB: u64 = 1024 * 1024;

/// A zip with one deflated file of `size` zeros, written without holding it in memory.
fn zip_of_zeros(size: u64) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(false);
    writer.start_file("zeros.bin", options).expect("start file");
    let chunk = vec![0; MIB as usize];
    for _ in 0..size / MIB {
        writer.write_all(&chunk).expect("write");
    }
    writer.finish().expect("finish zip").into_inner()
}

#[test]
fn a_zip_bomb_stops_at_the_total_cap() {
    // Arrange: 200 MiB of zeros, about 200 KiB deflated.
    let hostile = Hostile::new("zip-bomb");
    let bytes = zip_of_zeros(200 * MIB);
    assert!(bytes.len() < 2 * MIB as usize, "the bomb is small: {}", bytes.len());
    let limits = ExtractLimits { max_entries: 100, max_total_bytes: 10 * MIB, max_file_bytes: 1 << 40 };

    // Act
    let result = hostile.run(ArchiveFormat::Zip, &bytes, limits);

    // Assert
    assert_code(result, "archive_too_large");
    let written = bytes_on_disk(&hostile.dest);
    assert!(written <= 10 * MIB + MIB, "wrote {written} bytes");
    hostile.assert_nothing_outside();
}

#[test]
fn a_zip_bomb_stops_at_the_file_cap() {
    // Arrange
    let hostile = Hostile::new("zip-bomb-file");
    let bytes = zip_of_zeros(200 * MIB);
    let limits = ExtractLimits { max_entries: 100, max_total_bytes: 1 << 40, max_file_bytes: 10 * MIB };

    // Act
    let result = hostile.run(ArchiveFormat::Zip, &bytes, limits);

    // Assert
    let error = assert_code(result, "archive_file_too_large");
    assert!(error.to_string().contains("zeros.bin"), "{error}");
    assert!(bytes_on_disk(&hostile.dest) <= 10 * MIB + MIB);
}

#[test]
fn a_tar_gz_bomb_stops_at_the_total_cap_across_files() {
    // Arrange: twenty 10 MiB files of zeros; the cap allows 25 MiB.
    let hostile = Hostile::new("tar-bomb");
    let zeros = vec![0; 10 * MIB as usize];
    let names: Vec<String> = (0..20).map(|index| format!("zeros-{index}.bin")).collect();
    let entries: Vec<RawEntry<'_>> = names.iter().map(|name| RawEntry::file(name.as_bytes(), &zeros)).collect();
    let bytes = raw_tar_gz(&entries);
    let limits = ExtractLimits { max_entries: 100, max_total_bytes: 25 * MIB, max_file_bytes: 10 * MIB };

    // Act
    let result = hostile.run(ArchiveFormat::TarGz, &bytes, limits);

    // Assert
    assert_code(result, "archive_too_large");
    assert!(bytes_on_disk(&hostile.dest) <= 25 * MIB + MIB);
    hostile.assert_nothing_outside();
}

#[test]
fn a_single_file_over_the_file_cap_is_refused_in_every_format() {
    let big = vec![b'x'; 2048];
    let json_entry = format!(r#"{{"path":"big.txt","type":"file","content":"{}"}}"#, "x".repeat(2048));
    for (format, bytes) in [
        (ArchiveFormat::TarGz, raw_tar_gz(&[RawEntry::file(b"small.txt", b"ok"), RawEntry::file(b"big.txt", &big)])),
        (ArchiveFormat::Zip, zip_of(&[ZipItem::File("small.txt", b"ok"), ZipItem::File("big.txt", &big)])),
        (ArchiveFormat::Json, json_export(&json_entry)),
    ] {
        // Arrange
        let hostile = Hostile::new("file-cap");
        let limits = ExtractLimits { max_entries: 100, max_total_bytes: 1 << 20, max_file_bytes: 1024 };

        // Act
        let result = hostile.run(format, &bytes, limits);

        // Assert
        let error = assert_code(result, "archive_file_too_large");
        assert!(error.to_string().contains("big.txt"), "{format:?}: {error}");
        assert!(bytes_on_disk(&hostile.dest) <= 1024 + 2);
        hostile.assert_nothing_outside();
    }
}

#[test]
fn too_many_entries_are_refused_early() {
    // Arrange: 1000 empty files, a cap of 100.
    let names: Vec<String> = (0..1000).map(|index| format!("f{index:04}")).collect();
    let tar_entries: Vec<RawEntry<'_>> = names.iter().map(|name| RawEntry::file(name.as_bytes(), b"")).collect();
    let zip_items: Vec<ZipItem<'_>> = names.iter().map(|name| ZipItem::File(name, b"")).collect();
    let json_entries: Vec<String> =
        names.iter().map(|name| format!(r#"{{"path":"{name}","type":"file","content":""}}"#)).collect();
    let limits = ExtractLimits { max_entries: 100, max_total_bytes: 1 << 20, max_file_bytes: 1 << 20 };
    for (format, bytes) in [
        (ArchiveFormat::TarGz, raw_tar_gz(&tar_entries)),
        (ArchiveFormat::Zip, zip_of(&zip_items)),
        (ArchiveFormat::Json, json_export(&json_entries.join(","))),
    ] {
        let hostile = Hostile::new("entries");

        // Act
        let result = hostile.run(format, &bytes, limits);

        // Assert
        assert_code(result, "archive_too_many_entries");
        assert!(tree(&hostile.dest).len() <= 100, "{format:?}");
        hostile.assert_nothing_outside();
    }
}

#[test]
fn folders_implied_by_paths_count_against_the_entry_cap() {
    // Arrange: one entry, five folders to create.
    let hostile = Hostile::new("implied");
    let bytes = raw_tar_gz(&[RawEntry::file(b"a/b/c/d/e/f.txt", b"deep")]);
    let limits = ExtractLimits { max_entries: 5, max_total_bytes: 1 << 20, max_file_bytes: 1 << 20 };

    // Act
    let result = hostile.run(ArchiveFormat::TarGz, &bytes, limits);

    // Assert
    assert_code(result, "archive_too_many_entries");
}

#[test]
fn progress_is_reported_every_256_entries_and_at_the_end() {
    // Arrange
    let scratch = Scratch::new("progress");
    let dest = scratch.dir("dest");
    let names: Vec<String> = (0..1000).map(|index| format!("f{index:04}")).collect();
    let entries: Vec<RawEntry<'_>> = names.iter().map(|name| RawEntry::file(name.as_bytes(), b"x")).collect();
    let upload = scratch.file("upload.tgz", &raw_tar_gz(&entries));
    let mut reports = Vec::new();

    // Act
    let summary =
        archive::extract(ArchiveFormat::TarGz, &upload, &dest, &generous(), &mut |progress| reports.push(progress))
            .expect("extract");

    // Assert
    assert_eq!(summary, ExtractSummary { entries: 1000, files: 1000, dirs: 0, symlinks: 0, bytes: 1000 });
    assert_eq!(reports.first(), Some(&ExtractProgress { entries: 256, bytes: 256 }));
    assert_eq!(reports.last(), Some(&ExtractProgress { entries: 1000, bytes: 1000 }));
    assert!(reports.windows(2).all(|pair| pair[1].entries - pair[0].entries <= 256), "{reports:?}");
}

// ---------------------------------------------------------------------------
// Corrupt input
// ---------------------------------------------------------------------------

#[test]
fn truncated_and_corrupt_archives_are_reported_as_corrupt() {
    // Arrange
    let content: Vec<u8> = (0..200_000u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let tar_gz = raw_tar_gz(&[RawEntry::file(b"a.bin", &content), RawEntry::file(b"b.txt", b"bee")]);
    let zip = zip_of(&[ZipItem::File("a.bin", &content), ZipItem::File("b.txt", b"bee")]);
    let mut flipped_zip = zip.clone();
    flipped_zip[1000] ^= 0xff;
    let mut flipped_gz = tar_gz.clone();
    flipped_gz[1000] ^= 0xff;
    let cases: Vec<(&str, ArchiveFormat, Vec<u8>)> = vec![
        ("gzip cut in half", ArchiveFormat::TarGz, tar_gz[..tar_gz.len() / 2].to_vec()),
        ("gzip without its trailer", ArchiveFormat::TarGz, tar_gz[..tar_gz.len() - 4].to_vec()),
        ("gzip with a flipped byte", ArchiveFormat::TarGz, flipped_gz),
        ("gzip magic then garbage", ArchiveFormat::TarGz, b"\x1f\x8bgarbage garbage garbage".to_vec()),
        ("gzip of garbage", ArchiveFormat::TarGz, gzip(&[7; 3000])),
        ("zip cut in half", ArchiveFormat::Zip, zip[..zip.len() / 2].to_vec()),
        ("zip with a flipped byte", ArchiveFormat::Zip, flipped_zip),
        ("zip magic then garbage", ArchiveFormat::Zip, b"PK\x03\x04garbage".to_vec()),
        ("empty file", ArchiveFormat::Zip, Vec::new()),
        ("truncated JSON", ArchiveFormat::Json, json_export(r#"{"path":"a","type":"dir"}"#)[..60].to_vec()),
        ("JSON with trailing garbage", ArchiveFormat::Json, [json_export(""), b"]".to_vec()].concat()),
        (
            "JSON of another shape",
            ArchiveFormat::Json,
            br#"{"format":"dockyard-export","version":1,"entries":{}}"#.to_vec(),
        ),
        ("an unknown entry type", ArchiveFormat::Json, json_export(r#"{"path":"a","type":"fifo"}"#)),
        (
            "bad base64",
            ArchiveFormat::Json,
            json_export(r#"{"path":"a","type":"file","encoding":"base64","content":"!!!"}"#),
        ),
        ("another format", ArchiveFormat::Json, br#"{"format":"something-else","version":1,"entries":[]}"#.to_vec()),
        (
            "entries before the version",
            ArchiveFormat::Json,
            br#"{"format":"dockyard-export","entries":[],"version":1}"#.to_vec(),
        ),
        ("no entries", ArchiveFormat::Json, br#"{"format":"dockyard-export","version":1}"#.to_vec()),
    ];
    for (label, format, bytes) in cases {
        let hostile = Hostile::new("corrupt");

        // Act
        let result = hostile.run(format, &bytes, generous());

        // Assert
        match result {
            Err(error) => assert_eq!(error.code(), "archive_corrupt", "{label}: {error}"),
            Ok(summary) => panic!("{label}: accepted as {summary:?}"),
        }
        hostile.assert_nothing_outside();
    }
}

#[test]
fn json_versions_other_than_1_are_unsupported() {
    for version in ["2", "0", "\"1\"", "1.5"] {
        // Arrange
        let hostile = Hostile::new("json-version");
        let bytes = format!(r#"{{"format":"dockyard-export","version":{version},"entries":[]}}"#);

        // Act
        let result = hostile.run(ArchiveFormat::Json, bytes.as_bytes(), generous());

        // Assert
        assert_code(result, "archive_unsupported_version");
    }
}

#[test]
fn json_imports_utf8_and_base64_files_links_and_folders() {
    // Arrange
    let hostile = Hostile::new("json-ok");
    let bytes = json_export(
        r#"{"path":"a","type":"dir"},
           {"path":"a/x.txt","type":"file","executable":false,"encoding":"utf8","content":"h\u00e9llo\n"},
           {"path":"bin.dat","type":"file","executable":true,"encoding":"base64","content":"AAH/"},
           {"path":"empty","type":"dir"},
           {"path":"l","type":"symlink","target":"a/x.txt","unknown":"ignored"}"#,
    );

    // Act
    let summary = hostile.run(ArchiveFormat::Json, &bytes, generous()).expect("extract");

    // Assert
    assert_eq!(summary, ExtractSummary { entries: 5, files: 2, dirs: 2, symlinks: 1, bytes: 7 + 3 });
    assert_eq!(
        tree(&hostile.dest),
        BTreeMap::from([
            ("a".to_owned(), Node::Dir),
            ("a/x.txt".to_owned(), Node::File { bytes: "héllo\n".as_bytes().to_vec(), executable: false }),
            ("bin.dat".to_owned(), Node::File { bytes: vec![0, 1, 255], executable: true }),
            ("empty".to_owned(), Node::Dir),
            ("l".to_owned(), Node::Link("a/x.txt".to_owned())),
        ])
    );
}

#[test]
fn a_huge_json_string_is_refused_by_the_per_entry_budget() {
    // Arrange: one string far beyond 6 × the file cap + 1 MiB.
    let hostile = Hostile::new("json-budget");
    let content = "x".repeat(3 * MIB as usize);
    let bytes = json_export(&format!(r#"{{"path":"big","type":"file","content":"{content}"}}"#));
    let limits = ExtractLimits { max_entries: 10, max_total_bytes: 1 << 30, max_file_bytes: 100 };

    // Act
    let result = hostile.run(ArchiveFormat::Json, &bytes, limits);

    // Assert
    assert_code(result, "archive_file_too_large");
    assert!(tree(&hostile.dest).is_empty());
}

// ---------------------------------------------------------------------------
// Archives made by other tools
// ---------------------------------------------------------------------------

#[test]
fn an_archive_made_by_system_tar_extracts_identically() {
    // Arrange
    let scratch = Scratch::new("system-tar");
    let source = scratch.dir("source");
    fs::create_dir_all(source.join("src/deep/er")).expect("dirs");
    fs::create_dir_all(source.join("empty")).expect("empty dir");
    fs::write(source.join("src/main.rs"), b"fn main() {}\n").expect("file");
    fs::write(source.join("src/deep/er/all.bin"), (0..=255).collect::<Vec<u8>>()).expect("file");
    let long_name = format!("src/{}.txt", "long-name-".repeat(20));
    fs::write(source.join(&long_name), b"long").expect("long name");
    fs::write(source.join("run.sh"), b"#!/bin/sh\necho hi\n").expect("script");
    fs::set_permissions(source.join("run.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(source.join("ünï cödé.txt"), "ü".as_bytes()).expect("unicode");
    symlink("src/main.rs", source.join("main-link")).expect("link");
    let upload = scratch.path().join("made-by-tar.tgz");
    for format in ["gnu", "posix"] {
        let dest = scratch.dir(&format!("dest-{format}"));
        let status = Command::new("tar")
            .arg(format!("--format={format}"))
            .arg("-czf")
            .arg(&upload)
            .arg("-C")
            .arg(&source)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(status.success());

        // Act
        let summary = extract(ArchiveFormat::TarGz, &upload, &dest, generous()).expect("extract");

        // Assert
        assert_eq!(tree(&dest), tree(&source), "{format}");
        assert_eq!((summary.files, summary.symlinks), (5, 1));
    }
}

// ---------------------------------------------------------------------------
// Property: arbitrary names never escape
// ---------------------------------------------------------------------------

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("\\".to_owned()),
        Just("..\\..".to_owned()),
        Just("a\0b".to_owned()),
        Just("ü".to_owned()),
        Just("bystander".to_owned()),
        Just("x".repeat(120)),
        Just("y".repeat(300)),
        "[a-c]{1,3}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(segment(), 1..6), any::<bool>()).prop_map(|(absolute, segments, slash)| {
        let mut name = segments.join("/");
        if absolute {
            name.insert(0, '/');
        }
        if slash {
            name.push('/');
        }
        name
    })
}

fn raw_entry_strategy() -> impl Strategy<Value = (u8, String, String)> {
    (0u8..3, name(), name())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever names a tar holds, nothing lands outside dest and nothing panics.
    #[test]
    fn arbitrary_tar_names_never_escape(entries in prop::collection::vec(raw_entry_strategy(), 1..6)) {
        let hostile = Hostile::new("prop");
        let raw: Vec<RawEntry<'_>> = entries
            .iter()
            .map(|(kind, name, target)| match kind {
                0 => RawEntry::file(name.as_bytes(), b"data"),
                1 => RawEntry::dir(name.as_bytes()),
                _ => RawEntry::link(name.as_bytes(), target.as_bytes()),
            })
            .collect();
        let absolute: Vec<&str> = entries
            .iter()
            .map(|(_, name, _)| name.trim_end_matches('/'))
            .filter(|name| name.starts_with('/') && name.len() > 1 && !name.contains('\0'))
            .filter(|name| fs::symlink_metadata(name).is_err())
            .collect();
        let result = hostile.run(ArchiveFormat::TarGz, &raw_tar_gz(&raw), generous());
        if let Err(error) = &result {
            prop_assert!(
                [
                    "archive_unsafe_path",
                    "archive_symlink_escape",
                    "archive_path_conflict",
                    "archive_corrupt",
                ]
                .contains(&error.code()),
                "{error}"
            );
        }
        hostile.assert_nothing_outside();
        for name in absolute {
            prop_assert!(fs::symlink_metadata(name).is_err(), "wrote {name}");
        }
    }
}
