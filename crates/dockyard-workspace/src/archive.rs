//! Importing archives: extracts an uploaded zip, tar.gz or Dockyard export JSON
//! file into a folder, entry by entry, refusing anything that could land outside
//! it.
//!
//! Architecture Invariant: nothing an archive says is trusted. Every entry name
//! becomes a `WorkspacePath` (so no `..`, no absolute path, no NUL or control
//! character, no backslash); nothing is ever written through a symlink (every
//! existing ancestor of an entry is checked with `symlink_metadata`, and a file
//! or link at the entry's own name is removed, never opened); symlinks must stay
//! inside the folder; hard links, devices, FIFOs and sockets are refused; the
//! caps count the bytes actually decompressed, never the sizes an archive
//! declares. Archives are read as streams with bounded buffers: neither the
//! archive nor one of its files is ever held in memory whole (the JSON format,
//! whose file contents are JSON strings, holds one entry at a time).
//!
//! API Boundary: `extract` is blocking. On error it returns at once and leaves
//! whatever it wrote so far in `dest`: the caller extracts into a fresh folder
//! and deletes that folder when `extract` fails.

use std::cell::Cell;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::Quotas;
use crate::path::{MAX_PATH_BYTES, WorkspacePath};

/// The buffer that file contents are copied through.
const BUFFER_BYTES: usize = 64 * 1024;
/// `progress` is called at least this often (entries) ...
const PROGRESS_ENTRIES: u64 = 256;
/// ... and at least this often (bytes written).
const PROGRESS_BYTES: u64 = 4 * 1024 * 1024;
/// Longest tar PAX extended header we read (they hold a path, a link target and a few numbers).
const MAX_PAX_BYTES: u64 = 64 * 1024;
/// Extension headers (GNU long names, PAX headers) allowed in a row before a real entry.
const MAX_EXTENSION_HEADERS: u32 = 8;
/// What is read after the end of a tar stream to check the gzip trailer.
const MAX_TRAILER_BYTES: u64 = 1024 * 1024;
/// Longest name shown in an error message, in characters.
const MAX_SHOWN_CHARS: usize = 120;

/// The kinds of archive `extract` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Zip,
    TarGz,
    /// A Dockyard export (`crate::export`, format `json`).
    Json,
}

impl ArchiveFormat {
    /// Recognises a format from the first bytes of a file: `PK\x03\x04` (or
    /// `PK\x05\x06`, an empty zip), the gzip magic `1f 8b`, or a JSON object.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            return Some(Self::Zip);
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            return Some(Self::TarGz);
        }
        match head.iter().find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r')) {
            Some(b'{') => Some(Self::Json),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::TarGz => "tar.gz",
            Self::Json => "json",
        }
    }
}

/// Caps on what one archive may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Entries of the archive plus the folders made for them that the archive
    /// does not list itself (`a/b/c.txt` alone creates two folders).
    pub max_entries: u64,
    /// File bytes written, in total.
    pub max_total_bytes: u64,
    /// File bytes written for one file.
    pub max_file_bytes: u64,
}

impl From<Quotas> for ExtractLimits {
    fn from(quotas: Quotas) -> Self {
        Self {
            max_entries: quotas.max_files,
            max_total_bytes: quotas.max_total_bytes,
            max_file_bytes: quotas.max_file_bytes,
        }
    }
}

/// How far an extraction has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExtractProgress {
    pub entries: u64,
    pub bytes: u64,
}

/// What an extraction created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExtractSummary {
    /// Entries read from the archive (a repeated name counts each time).
    pub entries: u64,
    pub files: u64,
    /// Folders created, whether the archive lists them or they were implied by a path.
    pub dirs: u64,
    pub symlinks: u64,
    /// File bytes written.
    pub bytes: u64,
}

/// Why an archive was refused (or could not be written or read). `code` is stable.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the file is not a zip, tar.gz or Dockyard export (JSON) archive")]
    UnknownFormat,
    #[error("the archive is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported export version {0} (this Dockyard reads version 1)")]
    UnsupportedVersion(String),
    #[error("unsafe entry name {name}: {reason}")]
    UnsafePath { name: String, reason: String },
    #[error("{name}: {reason}")]
    SymlinkEscape { name: String, reason: String },
    #[error("{name} is a {kind}; only files, folders and symbolic links can be imported")]
    SpecialFile { name: String, kind: String },
    #[error("{name} is encrypted; encrypted archives are not supported")]
    Encrypted { name: String },
    #[error("{name} uses an unsupported compression method (zip archives may use stored or deflate)")]
    UnsupportedCompression { name: String },
    #[error("{name} clashes with an earlier entry: {reason}")]
    PathConflict { name: String, reason: String },
    #[error("the archive has more than {max} entries")]
    TooManyEntries { max: u64 },
    #[error("the archive expands to more than {max} bytes")]
    TooLarge { max: u64 },
    #[error("{name} is larger than {max} bytes")]
    FileTooLarge { name: String, max: u64 },
    /// A local failure (the destination folder, the output stream): not the client's fault.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl ArchiveError {
    /// A stable snake_case code for the problem document.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownFormat => "archive_unknown_format",
            Self::Corrupt(_) => "archive_corrupt",
            Self::UnsupportedVersion(_) => "archive_unsupported_version",
            Self::UnsafePath { .. } => "archive_unsafe_path",
            Self::SymlinkEscape { .. } => "archive_symlink_escape",
            Self::SpecialFile { .. } => "archive_special_file",
            Self::Encrypted { .. } => "archive_encrypted",
            Self::UnsupportedCompression { .. } => "archive_unsupported_compression",
            Self::PathConflict { .. } => "archive_path_conflict",
            Self::TooManyEntries { .. } => "archive_too_many_entries",
            Self::TooLarge { .. } => "archive_too_large",
            Self::FileTooLarge { .. } => "archive_file_too_large",
            Self::Io(_) => "archive_io",
        }
    }

    /// True when the archive is at fault (4xx); false only for local I/O failures (5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Io(_))
    }
}

/// Extracts `archive` (a file on disk) into `dest`, an existing, empty folder.
///
/// `progress` is called at least every 256 entries or 4 MiB, and once at the
/// end. On error nothing is cleaned up: the caller deletes `dest`.
pub fn extract(
    format: ArchiveFormat,
    archive: &Path,
    dest: &Path,
    limits: &ExtractLimits,
    progress: &mut dyn FnMut(ExtractProgress),
) -> Result<ExtractSummary, ArchiveError> {
    let file = File::open(archive)?;
    match format {
        ArchiveFormat::TarGz => extract_reader_tar_gz(file, dest, limits, progress),
        ArchiveFormat::Zip => {
            let mut extractor = Extractor::new(dest, *limits, progress)?;
            extract_zip(file, &mut extractor)?;
            Ok(extractor.finish())
        }
        ArchiveFormat::Json => {
            let mut extractor = Extractor::new(dest, *limits, progress)?;
            extract_json(file, &mut extractor)?;
            Ok(extractor.finish())
        }
    }
}

/// Extracts a gzip-compressed tar stream (for example a request body) into `dest`,
/// with the same rules and the same contract as `extract`.
pub fn extract_reader_tar_gz(
    reader: impl Read,
    dest: &Path,
    limits: &ExtractLimits,
    progress: &mut dyn FnMut(ExtractProgress),
) -> Result<ExtractSummary, ArchiveError> {
    let mut extractor = Extractor::new(dest, *limits, progress)?;
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(reader));
    extract_tar(&mut archive, &mut extractor)?;
    // Reading on to the end checks the gzip trailer (CRC and length), so an archive
    // cut off between two entries is reported instead of silently shortened.
    drain(archive.into_inner(), MAX_TRAILER_BYTES)?;
    Ok(extractor.finish())
}

// ---------------------------------------------------------------------------
// Names and link targets
// ---------------------------------------------------------------------------

/// A name for an error message: lossy UTF-8, control characters escaped, truncated.
pub(crate) fn shown(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len().min(MAX_SHOWN_CHARS) + 8);
    out.push('\'');
    for (count, character) in text.chars().enumerate() {
        if count == MAX_SHOWN_CHARS {
            out.push('…');
            break;
        }
        if character.is_control() || character == '\'' || character == '\\' {
            out.extend(character.escape_default());
        } else {
            out.push(character);
        }
    }
    out.push('\'');
    out
}

/// An entry name as a workspace path; `None` for the destination folder itself.
/// A leading `./` is dropped (`tar -C dir .` writes `./a`); everything else goes
/// through `WorkspacePath::parse`.
fn entry_path(raw: &[u8]) -> Result<Option<WorkspacePath>, ArchiveError> {
    let unsafe_path = |reason: &str| ArchiveError::UnsafePath { name: shown(raw), reason: reason.to_owned() };
    let name = std::str::from_utf8(raw).map_err(|_| unsafe_path("names must be UTF-8"))?;
    let mut rest = name;
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped;
    }
    if rest == "." {
        rest = "";
    }
    let path = WorkspacePath::parse(rest).map_err(|error| unsafe_path(&error.message))?;
    Ok((!path.is_root()).then_some(path))
}

/// Why a symlink at `link` pointing at `target` is refused, if it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkProblem {
    /// The target is empty, too long or has control characters.
    Malformed(&'static str),
    /// The target is absolute or leads outside the root.
    Escape(&'static str),
}

/// Checks a symlink target: relative, well formed, and inside the root when
/// resolved against the link's folder.
///
/// `..` is accepted only at the start of the target. That makes the lexical
/// check exact: the leading `..`s climb the link's own folders, which are real
/// folders (nothing is ever created through a link), and every later segment
/// only descends, through folders or through links that passed this same check.
/// A `..` after a name could climb out of a link to a folder (`up -> ..`, then
/// `x -> up/../..`), which no lexical check can see.
pub(crate) fn check_link_target(link: &WorkspacePath, target: &str) -> Result<(), LinkProblem> {
    if target.is_empty() {
        return Err(LinkProblem::Malformed("the link target is empty"));
    }
    if target.len() > MAX_PATH_BYTES {
        return Err(LinkProblem::Malformed("the link target is too long"));
    }
    if target.chars().any(char::is_control) {
        return Err(LinkProblem::Malformed("the link target contains control characters"));
    }
    if target.starts_with('/') {
        return Err(LinkProblem::Escape("the link target is an absolute path"));
    }
    let mut depth =
        link.parent().map_or(0, |parent| if parent.is_root() { 0 } else { parent.as_str().split('/').count() });
    let mut descended = false;
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." if descended => {
                return Err(LinkProblem::Escape("the link target has '..' after a name"));
            }
            ".." if depth == 0 => return Err(LinkProblem::Escape("the link target leads outside the folder")),
            ".." => depth -= 1,
            _ => {
                descended = true;
                depth += 1;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Writing entries
// ---------------------------------------------------------------------------

/// Writes entries under one folder, enforcing the caps and the path rules.
struct Extractor<'p> {
    root: PathBuf,
    limits: ExtractLimits,
    progress: &'p mut dyn FnMut(ExtractProgress),
    summary: ExtractSummary,
    /// Entries plus implied folders, against `max_entries`.
    created: u64,
    reported: ExtractProgress,
    /// The deepest folder known to be a real folder chain from the root: folders
    /// are never removed or replaced during an extraction, so it stays one.
    verified: WorkspacePath,
    buffer: Vec<u8>,
}

impl<'p> Extractor<'p> {
    fn new(
        dest: &Path,
        limits: ExtractLimits,
        progress: &'p mut dyn FnMut(ExtractProgress),
    ) -> Result<Self, ArchiveError> {
        let root = fs::canonicalize(dest)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "the destination is not a folder").into());
        }
        Ok(Self {
            root,
            limits,
            progress,
            summary: ExtractSummary::default(),
            created: 0,
            reported: ExtractProgress::default(),
            verified: WorkspacePath::root(),
            buffer: vec![0; BUFFER_BYTES],
        })
    }

    /// Counts one archive entry against the cap.
    fn begin_entry(&mut self) -> Result<(), ArchiveError> {
        self.summary.entries += 1;
        self.count_created()
    }

    fn count_created(&mut self) -> Result<(), ArchiveError> {
        self.created += 1;
        if self.created > self.limits.max_entries {
            return Err(ArchiveError::TooManyEntries { max: self.limits.max_entries });
        }
        Ok(())
    }

    fn end_entry(&mut self) {
        if self.summary.entries - self.reported.entries >= PROGRESS_ENTRIES
            || self.summary.bytes - self.reported.bytes >= PROGRESS_BYTES
        {
            self.report();
        }
    }

    fn report(&mut self) {
        let now = ExtractProgress { entries: self.summary.entries, bytes: self.summary.bytes };
        (self.progress)(now);
        self.reported = now;
    }

    fn finish(mut self) -> ExtractSummary {
        self.report();
        self.summary
    }

    /// Makes sure every folder above `path` is a real folder (creating missing
    /// ones) and returns where `path` goes on disk. Refuses a link or a file
    /// among the ancestors.
    fn prepare_parent(&mut self, path: &WorkspacePath) -> Result<PathBuf, ArchiveError> {
        let parent = path.parent().unwrap_or_else(WorkspacePath::root);
        if !parent.starts_with(&self.verified) {
            self.verified = WorkspacePath::root();
        }
        if parent != self.verified {
            let done = if self.verified.is_root() { 0 } else { self.verified.as_str().split('/').count() };
            let mut current = self.verified.under(&self.root);
            let mut walked = self.verified.clone();
            for segment in parent.as_str().split('/').skip(done) {
                current.push(segment);
                walked = walked.join(segment).map_err(|error| ArchiveError::UnsafePath {
                    name: shown(path.as_str().as_bytes()),
                    reason: error.message,
                })?;
                match fs::symlink_metadata(&current) {
                    Ok(metadata) if metadata.file_type().is_symlink() => {
                        return Err(ArchiveError::SymlinkEscape {
                            name: shown(path.as_str().as_bytes()),
                            reason: format!(
                                "it would be written through the symbolic link {}",
                                shown(walked.as_str().as_bytes())
                            ),
                        });
                    }
                    Ok(metadata) if metadata.is_dir() => {}
                    Ok(_) => {
                        return Err(ArchiveError::PathConflict {
                            name: shown(path.as_str().as_bytes()),
                            reason: format!("{} is a file, not a folder", shown(walked.as_str().as_bytes())),
                        });
                    }
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {
                        self.count_created()?;
                        create_dir(&current)?;
                        self.summary.dirs += 1;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            self.verified = parent;
        }
        Ok(path.under(&self.root))
    }

    /// Makes room for a file or link at `full`: an earlier file or link of the
    /// same name is removed (the later entry wins, as with tar), never opened or
    /// followed; a folder is not replaced.
    fn clear_final(full: &Path, path: &WorkspacePath) -> Result<(), ArchiveError> {
        match fs::symlink_metadata(full) {
            Ok(metadata) if metadata.is_dir() => Err(ArchiveError::PathConflict {
                name: shown(path.as_str().as_bytes()),
                reason: "a folder of that name exists".to_owned(),
            }),
            Ok(_) => Ok(fs::remove_file(full)?),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    fn add_dir(&mut self, path: &WorkspacePath) -> Result<(), ArchiveError> {
        let full = self.prepare_parent(path)?;
        match fs::symlink_metadata(&full) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => {
                fs::remove_file(&full)?;
                create_dir(&full)?;
                self.summary.dirs += 1;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                create_dir(&full)?;
                self.summary.dirs += 1;
            }
            Err(error) => return Err(error.into()),
        }
        self.verified = path.clone();
        Ok(())
    }

    /// Writes one file from `data`, counting the bytes actually read against the
    /// caps. `declared` (a size the archive claims) only allows refusing early.
    /// Returns the bytes written.
    fn add_file(
        &mut self,
        path: &WorkspacePath,
        executable: bool,
        data: &mut dyn Read,
        declared: Option<u64>,
        mtime: Option<SystemTime>,
    ) -> Result<u64, ArchiveError> {
        let too_large =
            || ArchiveError::FileTooLarge { name: shown(path.as_str().as_bytes()), max: self.limits.max_file_bytes };
        if let Some(declared) = declared {
            if declared > self.limits.max_file_bytes {
                return Err(too_large());
            }
            if self.summary.bytes.saturating_add(declared) > self.limits.max_total_bytes {
                return Err(ArchiveError::TooLarge { max: self.limits.max_total_bytes });
            }
        }
        let full = self.prepare_parent(path)?;
        Self::clear_final(&full, path)?;
        let mut file = create_file(&full, executable)?;
        let mut written: u64 = 0;
        loop {
            let read = match data.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(read_failure(error)),
            };
            let read_u64 = read as u64;
            if written + read_u64 > self.limits.max_file_bytes {
                return Err(ArchiveError::FileTooLarge {
                    name: shown(path.as_str().as_bytes()),
                    max: self.limits.max_file_bytes,
                });
            }
            if self.summary.bytes + read_u64 > self.limits.max_total_bytes {
                return Err(ArchiveError::TooLarge { max: self.limits.max_total_bytes });
            }
            file.write_all(&self.buffer[..read])?;
            written += read_u64;
            self.summary.bytes += read_u64;
            if self.summary.bytes - self.reported.bytes >= PROGRESS_BYTES {
                self.report();
            }
        }
        set_mode(&file, executable)?;
        if let Some(mtime) = mtime {
            // Best effort: a time the file system cannot store is not worth failing for.
            let _ = file.set_modified(mtime);
        }
        self.summary.files += 1;
        Ok(written)
    }

    fn add_symlink(&mut self, path: &WorkspacePath, target: &[u8]) -> Result<(), ArchiveError> {
        let name = || shown(path.as_str().as_bytes());
        let target = std::str::from_utf8(target).map_err(|_| ArchiveError::UnsafePath {
            name: name(),
            reason: "the link target is not UTF-8".to_owned(),
        })?;
        match check_link_target(path, target) {
            Ok(()) => {}
            Err(LinkProblem::Malformed(reason)) => {
                return Err(ArchiveError::UnsafePath { name: name(), reason: reason.to_owned() });
            }
            Err(LinkProblem::Escape(reason)) => {
                return Err(ArchiveError::SymlinkEscape {
                    name: name(),
                    reason: format!("{reason} ({})", shown(target.as_bytes())),
                });
            }
        }
        let full = self.prepare_parent(path)?;
        Self::clear_final(&full, path)?;
        create_symlink(target, &full)?;
        self.summary.symlinks += 1;
        Ok(())
    }
}

#[cfg(unix)]
fn create_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new().mode(0o755).create(path)?;
    // The umask may have taken bits away; folders are always 0o755.
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn create_dir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)
}

/// Creates a new file; `create_new` fails on anything already there, a dangling
/// link included, so this never writes through a link.
fn create_file(path: &Path, executable: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    options.open(path)
}

#[cfg(unix)]
fn set_mode(file: &File, executable: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _executable: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn create_symlink(target: &str, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(not(unix))]
fn create_symlink(_target: &str, _at: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "symbolic links need a Unix host"))
}

/// A failure while reading the archive: damaged data is the client's problem,
/// anything else (the disk under the uploaded file) is ours.
fn read_failure(error: io::Error) -> ArchiveError {
    match error.kind() {
        io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::Other => ArchiveError::Corrupt(error.to_string()),
        _ => ArchiveError::Io(error),
    }
}

/// Reads a small piece of an archive (a link target, an extension header) whole,
/// refusing more than `max` bytes. `Ok(None)` when it is longer.
fn read_capped(reader: &mut dyn Read, max: u64) -> Result<Option<Vec<u8>>, ArchiveError> {
    let mut bytes = Vec::new();
    reader.take(max + 1).read_to_end(&mut bytes).map_err(read_failure)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// Reads and discards up to `max` bytes (what follows the last entry).
fn drain(mut reader: impl Read, max: u64) -> Result<(), ArchiveError> {
    let mut sink = [0; 8192];
    let mut drained: u64 = 0;
    while drained <= max {
        match reader.read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(read) => drained += read as u64,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_failure(error)),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// tar.gz
// ---------------------------------------------------------------------------

/// GNU and PAX extension headers that describe the next real entry.
#[derive(Default)]
struct TarExtensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
    pax_size: Option<u64>,
    headers: u32,
}

/// Reads the entries raw (the tar crate's own handling of long names and PAX
/// headers reads them whole, whatever their size) and applies the extension
/// headers here, with caps.
fn extract_tar<R: Read>(archive: &mut tar::Archive<R>, extractor: &mut Extractor<'_>) -> Result<(), ArchiveError> {
    let entries = archive.entries().map_err(read_failure)?.raw(true);
    let mut extensions = TarExtensions::default();
    for item in entries {
        let mut entry = item.map_err(read_failure)?;
        let entry_type = entry.header().entry_type();
        if matches!(
            entry_type,
            tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
                | tar::EntryType::XHeader
                | tar::EntryType::XGlobalHeader
        ) {
            extensions.headers += 1;
            if extensions.headers > MAX_EXTENSION_HEADERS {
                return Err(ArchiveError::Corrupt("too many extension headers in a row".to_owned()));
            }
            read_tar_extension(&mut entry, entry_type, &mut extensions)?;
            continue;
        }
        let extensions = std::mem::take(&mut extensions);
        extractor.begin_entry()?;
        let name: Vec<u8> = match (extensions.pax_path, extensions.long_name) {
            (Some(name), _) => name,
            (None, Some(mut name)) => {
                if name.last() == Some(&0) {
                    name.pop();
                }
                name
            }
            (None, None) => entry.path_bytes().into_owned(),
        };
        let size = entry.size();
        if extensions.pax_size.is_some_and(|pax_size| pax_size != size) {
            return Err(ArchiveError::Corrupt(format!("{}: a PAX size that differs from the header", shown(&name))));
        }
        let header = entry.header();
        let special = |kind: &str| ArchiveError::SpecialFile { name: shown(&name), kind: kind.to_owned() };
        let is_dir = match entry_type {
            tar::EntryType::Directory => true,
            // Old (v7) archives mark folders with a trailing slash on a regular entry.
            tar::EntryType::Regular | tar::EntryType::Continuous => name.ends_with(b"/"),
            tar::EntryType::Symlink => false,
            tar::EntryType::Link => return Err(special("hard link")),
            tar::EntryType::Char => return Err(special("character device")),
            tar::EntryType::Block => return Err(special("block device")),
            tar::EntryType::Fifo => return Err(special("FIFO")),
            tar::EntryType::GNUSparse => return Err(special("sparse file")),
            other => return Err(special(&format!("tar entry of type {:?}", char::from(other.as_byte())))),
        };
        let path = entry_path(&name)?;
        if is_dir || entry_type == tar::EntryType::Symlink {
            // Nothing but files carries data; refusing it keeps every byte read accounted for.
            if size != 0 {
                return Err(ArchiveError::Corrupt(format!("{}: a folder or link entry with data", shown(&name))));
            }
        }
        let Some(path) = path else {
            if is_dir {
                extractor.end_entry();
                continue;
            }
            return Err(ArchiveError::UnsafePath {
                name: shown(&name),
                reason: "the destination folder itself cannot be a file or link".to_owned(),
            });
        };
        if is_dir {
            extractor.add_dir(&path)?;
        } else if entry_type == tar::EntryType::Symlink {
            let target = match (extensions.pax_link, extensions.long_link) {
                (Some(target), _) => target,
                (None, Some(mut target)) => {
                    if target.last() == Some(&0) {
                        target.pop();
                    }
                    target
                }
                (None, None) => header.link_name_bytes().map(|bytes| bytes.into_owned()).unwrap_or_default(),
            };
            extractor.add_symlink(&path, &target)?;
        } else {
            let mode = header.mode().map_err(read_failure)?;
            let mtime = header.mtime().ok().and_then(|seconds| UNIX_EPOCH.checked_add(Duration::from_secs(seconds)));
            let written = extractor.add_file(&path, mode & 0o111 != 0, &mut entry, Some(size), mtime)?;
            if written != size {
                return Err(ArchiveError::Corrupt(format!("{}: the archive is truncated", shown(&name))));
            }
        }
        extractor.end_entry();
    }
    if extensions.headers > 0 {
        return Err(ArchiveError::Corrupt("extension headers without an entry at the end".to_owned()));
    }
    Ok(())
}

fn read_tar_extension<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    entry_type: tar::EntryType,
    extensions: &mut TarExtensions,
) -> Result<(), ArchiveError> {
    let duplicate = || ArchiveError::Corrupt("two extension headers of one kind for one entry".to_owned());
    match entry_type {
        tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
            let slot = if entry_type == tar::EntryType::GNULongName {
                &mut extensions.long_name
            } else {
                &mut extensions.long_link
            };
            if slot.is_some() {
                return Err(duplicate());
            }
            // The name, plus a terminating NUL.
            let Some(bytes) = read_capped(entry, MAX_PATH_BYTES as u64 + 1)? else {
                return Err(ArchiveError::UnsafePath {
                    name: "(a GNU long name)".to_owned(),
                    reason: format!("paths are at most {MAX_PATH_BYTES} bytes"),
                });
            };
            *slot = Some(bytes);
        }
        tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => {
            let Some(bytes) = read_capped(entry, MAX_PAX_BYTES)? else {
                return Err(ArchiveError::Corrupt("a PAX extended header is too large".to_owned()));
            };
            if entry_type == tar::EntryType::XGlobalHeader {
                return Ok(());
            }
            if extensions.pax_path.is_some() || extensions.pax_link.is_some() || extensions.pax_size.is_some() {
                return Err(duplicate());
            }
            for extension in tar::PaxExtensions::new(&bytes) {
                let extension = extension.map_err(read_failure)?;
                match extension.key_bytes() {
                    b"path" => extensions.pax_path = Some(extension.value_bytes().to_vec()),
                    b"linkpath" => extensions.pax_link = Some(extension.value_bytes().to_vec()),
                    b"size" => {
                        let size = extension.value().ok().and_then(|value| value.parse::<u64>().ok());
                        extensions.pax_size =
                            Some(size.ok_or_else(|| ArchiveError::Corrupt("a malformed PAX size".to_owned()))?);
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// zip
// ---------------------------------------------------------------------------

fn zip_failure(error: zip::result::ZipError, name: &[u8]) -> ArchiveError {
    use zip::result::ZipError;
    match error {
        ZipError::Io(error) => read_failure(error),
        ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED) | ZipError::InvalidPassword => {
            ArchiveError::Encrypted { name: shown(name) }
        }
        ZipError::CompressionMethodNotSupported(_) => ArchiveError::UnsupportedCompression { name: shown(name) },
        other => ArchiveError::Corrupt(other.to_string()),
    }
}

fn extract_zip(file: File, extractor: &mut Extractor<'_>) -> Result<(), ArchiveError> {
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|error| zip_failure(error, b"(archive)"))?;
    // The central directory says how many entries follow: refuse before writing anything.
    if archive.len() as u64 > extractor.limits.max_entries {
        return Err(ArchiveError::TooManyEntries { max: extractor.limits.max_entries });
    }
    for index in 0..archive.len() {
        extractor.begin_entry()?;
        let (name, mode, encrypted, mtime) = {
            let entry = archive.by_index_data(index).map_err(|error| zip_failure(error, b"(entry)"))?;
            let name = entry.name().map_err(|error| zip_failure(error, entry.name_raw()))?.into_owned();
            (name, entry.unix_mode(), entry.encrypted(), entry.last_modified().and_then(zip_time))
        };
        if encrypted {
            return Err(ArchiveError::Encrypted { name: shown(name.as_bytes()) });
        }
        let kind = mode.map_or(0, |mode| mode & 0o170_000);
        let special = |kind: &str| ArchiveError::SpecialFile { name: shown(name.as_bytes()), kind: kind.to_owned() };
        match kind {
            0 | 0o100_000 | 0o040_000 | 0o120_000 => {}
            0o010_000 => return Err(special("FIFO")),
            0o020_000 => return Err(special("character device")),
            0o060_000 => return Err(special("block device")),
            0o140_000 => return Err(special("socket")),
            _ => return Err(special("file of an unknown type")),
        }
        let is_dir = name.ends_with('/') || kind == 0o040_000;
        let path = entry_path(name.as_bytes())?;
        let Some(path) = path else {
            if is_dir {
                extractor.end_entry();
                continue;
            }
            return Err(ArchiveError::UnsafePath {
                name: shown(name.as_bytes()),
                reason: "the destination folder itself cannot be a file or link".to_owned(),
            });
        };
        if is_dir {
            extractor.add_dir(&path)?;
            extractor.end_entry();
            continue;
        }
        let mut entry = archive.by_index(index).map_err(|error| zip_failure(error, name.as_bytes()))?;
        if kind == 0o120_000 {
            let Some(target) = read_capped(&mut entry, MAX_PATH_BYTES as u64)? else {
                return Err(ArchiveError::UnsafePath {
                    name: shown(name.as_bytes()),
                    reason: "the link target is too long".to_owned(),
                });
            };
            drop(entry);
            extractor.add_symlink(&path, &target)?;
        } else {
            let executable = mode.is_some_and(|mode| mode & 0o111 != 0);
            extractor.add_file(&path, executable, &mut entry, None, mtime)?;
        }
        extractor.end_entry();
    }
    Ok(())
}

/// A zip time (no time zone; our exports write UTC) as a system time.
fn zip_time(time: zip::DateTime) -> Option<SystemTime> {
    let days = days_from_civil(i64::from(time.year()), i64::from(time.month()), i64::from(time.day()));
    let seconds =
        days * 86_400 + i64::from(time.hour()) * 3600 + i64::from(time.minute()) * 60 + i64::from(time.second());
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

// ---------------------------------------------------------------------------
// Dockyard export JSON
// ---------------------------------------------------------------------------

/// Bounds the bytes read for one JSON value (a top-level field or one entry), so
/// a hostile string or nesting cannot grow serde_json's buffers without limit.
struct Budget {
    used: Cell<u64>,
    limit: u64,
    tripped: Cell<bool>,
    /// The entry being read (1-based; 0 outside `entries`).
    entry: Cell<u64>,
}

impl Budget {
    fn reset(&self) {
        self.used.set(0);
    }
}

struct BudgetReader<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: Read> Read for BudgetReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget.used.get() > self.budget.limit {
            self.budget.tripped.set(true);
            return Err(io::Error::other("a JSON value is over its size budget"));
        }
        let read = self.inner.read(buf)?;
        self.budget.used.set(self.budget.used.get() + read as u64);
        Ok(read)
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum JsonKind {
    File,
    Dir,
    Symlink,
}

#[derive(serde::Deserialize)]
enum JsonEncoding {
    #[serde(rename = "utf8")]
    Utf8,
    #[serde(rename = "base64")]
    Base64,
}

#[derive(serde::Deserialize)]
struct JsonEntry {
    path: String,
    #[serde(rename = "type")]
    kind: JsonKind,
    #[serde(default)]
    executable: bool,
    #[serde(default)]
    encoding: Option<JsonEncoding>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    target: Option<String>,
}

/// What the visitors share: the extractor, the first real error (serde only
/// carries strings), and the read budget.
struct JsonState<'a, 'p> {
    extractor: &'a mut Extractor<'p>,
    failure: Option<ArchiveError>,
    budget: Rc<Budget>,
}

impl JsonState<'_, '_> {
    fn fail<E: de::Error>(&mut self, error: ArchiveError) -> E {
        let message = error.to_string();
        self.failure = Some(error);
        E::custom(message)
    }
}

fn extract_json(file: File, extractor: &mut Extractor<'_>) -> Result<(), ArchiveError> {
    // A file's content may be escaped (`\u0000` is six bytes for one), plus room for the rest of an entry.
    let limit = extractor.limits.max_file_bytes.saturating_mul(6).saturating_add(1024 * 1024);
    let budget = Rc::new(Budget { used: Cell::new(0), limit, tripped: Cell::new(false), entry: Cell::new(0) });
    let reader = BufReader::with_capacity(BUFFER_BYTES, BudgetReader { inner: file, budget: Rc::clone(&budget) });
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let max_file_bytes = extractor.limits.max_file_bytes;
    let mut state = JsonState { extractor, failure: None, budget: Rc::clone(&budget) };
    let result = (&mut deserializer).deserialize_map(DocumentVisitor { state: &mut state });
    let result = result.and_then(|()| deserializer.end());
    if let Some(failure) = state.failure {
        return Err(failure);
    }
    if budget.tripped.get() {
        return Err(match budget.entry.get() {
            0 => ArchiveError::Corrupt("a JSON value outside the entries is too large".to_owned()),
            entry => ArchiveError::FileTooLarge { name: format!("entry {entry}"), max: max_file_bytes },
        });
    }
    result.map_err(|error| {
        if error.is_io() { read_failure(io::Error::from(error)) } else { ArchiveError::Corrupt(error.to_string()) }
    })
}

struct DocumentVisitor<'s, 'a, 'p> {
    state: &'s mut JsonState<'a, 'p>,
}

impl<'de> Visitor<'de> for DocumentVisitor<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a Dockyard export object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.state;
        let (mut format_seen, mut version_seen, mut entries_seen) = (false, false, false);
        loop {
            state.budget.reset();
            let Some(key) = map.next_key::<String>()? else { break };
            match key.as_str() {
                "format" => {
                    let format: String = map.next_value()?;
                    if format != "dockyard-export" {
                        let message = format!("not a Dockyard export (format {})", shown(format.as_bytes()));
                        return Err(state.fail(ArchiveError::Corrupt(message)));
                    }
                    format_seen = true;
                }
                "version" => {
                    let version: serde_json::Value = map.next_value()?;
                    if version.as_u64() != Some(1) {
                        let shown_version = shown(version.to_string().as_bytes());
                        return Err(state.fail(ArchiveError::UnsupportedVersion(shown_version)));
                    }
                    version_seen = true;
                }
                "entries" => {
                    if !format_seen || !version_seen {
                        let message = "\"format\" and \"version\" must come before \"entries\"".to_owned();
                        return Err(state.fail(ArchiveError::Corrupt(message)));
                    }
                    map.next_value_seed(EntriesSeed { state: &mut *state })?;
                    entries_seen = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        for (seen, field) in [(format_seen, "format"), (version_seen, "version"), (entries_seen, "entries")] {
            if !seen {
                return Err(state.fail(ArchiveError::Corrupt(format!("the export has no \"{field}\""))));
            }
        }
        Ok(())
    }
}

struct EntriesSeed<'s, 'a, 'p> {
    state: &'s mut JsonState<'a, 'p>,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.state;
        let mut index: u64 = 0;
        loop {
            index += 1;
            state.budget.reset();
            state.budget.entry.set(index);
            let Some(entry) = seq.next_element::<JsonEntry>()? else { break };
            if let Err(error) = apply_json_entry(state.extractor, entry) {
                return Err(state.fail(error));
            }
        }
        state.budget.entry.set(0);
        Ok(())
    }
}

fn apply_json_entry(extractor: &mut Extractor<'_>, entry: JsonEntry) -> Result<(), ArchiveError> {
    extractor.begin_entry()?;
    let name = entry.path.as_bytes();
    let path = entry_path(name)?;
    let Some(path) = path else {
        if matches!(entry.kind, JsonKind::Dir) {
            extractor.end_entry();
            return Ok(());
        }
        return Err(ArchiveError::UnsafePath {
            name: shown(name),
            reason: "the destination folder itself cannot be a file or link".to_owned(),
        });
    };
    match entry.kind {
        JsonKind::Dir => extractor.add_dir(&path)?,
        JsonKind::Symlink => {
            let target = entry.target.ok_or_else(|| ArchiveError::Corrupt(format!("{}: no target", shown(name))))?;
            extractor.add_symlink(&path, target.as_bytes())?;
        }
        JsonKind::File => {
            let content = entry.content.unwrap_or_default();
            match entry.encoding {
                None | Some(JsonEncoding::Utf8) => {
                    extractor.add_file(&path, entry.executable, &mut content.as_bytes(), None, None)?;
                }
                Some(JsonEncoding::Base64) => {
                    let mut reader = Base64Reader { input: content.as_bytes(), decoded: Vec::new(), position: 0 };
                    extractor.add_file(&path, entry.executable, &mut reader, None, None)?;
                }
            }
        }
    }
    extractor.end_entry();
    Ok(())
}

/// Decodes base64 a few kilobytes at a time, so a file is never decoded whole
/// next to its encoded form.
struct Base64Reader<'a> {
    input: &'a [u8],
    decoded: Vec<u8>,
    position: usize,
}

impl Read for Base64Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        const CHUNK: usize = 16 * 1024;
        while self.position == self.decoded.len() {
            if self.input.is_empty() {
                return Ok(0);
            }
            let (chunk, rest) = self.input.split_at(self.input.len().min(CHUNK));
            self.input = rest;
            self.decoded.clear();
            self.position = 0;
            base64::engine::general_purpose::STANDARD
                .decode_vec(chunk, &mut self.decoded)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, format!("bad base64 content: {error}")))?;
        }
        let count = buf.len().min(self.decoded.len() - self.position);
        buf[..count].copy_from_slice(&self.decoded[self.position..self.position + count]);
        self.position += count;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str) -> WorkspacePath {
        WorkspacePath::parse(raw).expect("valid path")
    }

    #[test]
    fn sniffs_the_three_formats() {
        assert_eq!(ArchiveFormat::sniff(b"PK\x03\x04rest"), Some(ArchiveFormat::Zip));
        assert_eq!(ArchiveFormat::sniff(b"PK\x05\x06"), Some(ArchiveFormat::Zip));
        assert_eq!(ArchiveFormat::sniff(&[0x1f, 0x8b, 8]), Some(ArchiveFormat::TarGz));
        assert_eq!(ArchiveFormat::sniff(b" \n\t{\"format\""), Some(ArchiveFormat::Json));
        assert_eq!(ArchiveFormat::sniff(b"[1]"), None);
        assert_eq!(ArchiveFormat::sniff(b""), None);
        assert_eq!(ArchiveFormat::sniff(b"   "), None);
    }

    #[test]
    fn link_targets_must_stay_inside() {
        assert_eq!(check_link_target(&p("a/l"), "x.txt"), Ok(()));
        assert_eq!(check_link_target(&p("a/l"), "../x.txt"), Ok(()));
        assert_eq!(check_link_target(&p("a/b/l"), "../../x/./y/"), Ok(()));
        assert!(matches!(check_link_target(&p("l"), "../x"), Err(LinkProblem::Escape(_))));
        assert!(matches!(check_link_target(&p("a/l"), "../../x"), Err(LinkProblem::Escape(_))));
        assert!(matches!(check_link_target(&p("a/l"), "/etc"), Err(LinkProblem::Escape(_))));
        assert!(matches!(check_link_target(&p("a/l"), "up/../x"), Err(LinkProblem::Escape(_))));
        assert!(matches!(check_link_target(&p("l"), ""), Err(LinkProblem::Malformed(_))));
        assert!(matches!(check_link_target(&p("l"), "a\0b"), Err(LinkProblem::Malformed(_))));
    }

    #[test]
    fn entry_names_drop_a_leading_dot_slash_only() {
        assert_eq!(entry_path(b"./a/b").expect("valid"), Some(p("a/b")));
        assert_eq!(entry_path(b"./").expect("valid"), None);
        assert_eq!(entry_path(b"dir/").expect("valid"), Some(p("dir")));
        assert_eq!(entry_path(b"a/./b").map_err(|error| error.code()), Err("archive_unsafe_path"));
        assert_eq!(entry_path(b".//etc").map_err(|error| error.code()), Err("archive_unsafe_path"));
        assert_eq!(entry_path(b"\xff").map_err(|error| error.code()), Err("archive_unsafe_path"));
    }

    #[test]
    fn shown_names_are_escaped_and_truncated() {
        assert_eq!(shown(b"a\nb"), "'a\\nb'");
        let long = shown("x".repeat(500).as_bytes());
        assert!(long.chars().count() < 130 && long.ends_with("…'"), "{long}");
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1980, 1, 1), 3652);
    }
}
