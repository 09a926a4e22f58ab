//! Exporting a workspace: the tree as a zip, a tar.gz or a Dockyard export
//! (JSON), or a Markdown report about it, written to any `Write` as it is read.
//!
//! API Boundary: `export` is blocking and streams: the output needs no `Seek`
//! (it is meant for an HTTP body), files are copied through small buffers, and
//! nothing but the report's bounded aggregates is kept. The JSON format is what
//! `archive::extract` reads back.
//!
//! What is exported: every file, folder (empty ones too) and symlink under the
//! root, hidden ones included, sorted by path; never `.git`, nor the workspace's
//! temporary files; `.gitignore` and `.git/info/exclude` only with
//! `honor_gitignore`. A symlink is exported as a link when `archive::extract`
//! would accept it (relative, staying inside), and skipped otherwise; links are
//! never followed. Names an import would refuse (not UTF-8, control
//! characters, backslashes, too long) are skipped, as are sockets, FIFOs and
//! devices.

use crate::TEMP_PREFIX;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::archive::{ArchiveError, check_link_target};
use crate::path::WorkspacePath;

const BUFFER_BYTES: usize = 64 * 1024;
/// The Markdown tree shows this many levels ...
const TREE_MAX_DEPTH: usize = 4;
/// ... and at most this many lines.
const TREE_MAX_LINES: usize = 400;
const LARGEST_FILES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Zip,
    TarGz,
    Json,
    Markdown,
}

impl ExportFormat {
    /// `zip`, `tar.gz` (or `tgz`), `json`, `md`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "zip" => Some(Self::Zip),
            "tar.gz" | "tgz" => Some(Self::TarGz),
            "json" => Some(Self::Json),
            "md" => Some(Self::Markdown),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Zip => "application/zip",
            Self::TarGz => "application/gzip",
            Self::Json => "application/json",
            Self::Markdown => "text/markdown; charset=utf-8",
        }
    }

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::TarGz => "tar.gz",
            Self::Json => "json",
            Self::Markdown => "md",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Leave out what `.gitignore` files and `.git/info/exclude` ignore.
    pub honor_gitignore: bool,
}

/// One commit for the Markdown report's table.
#[derive(Debug, Clone)]
pub struct ReportCommit {
    pub id: String,
    pub summary: String,
    pub author: String,
    pub time_ms: i64,
}

/// What was exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// File bytes.
    pub bytes: u64,
}

/// Writes the workspace at `root` to `out` in `format`. `meta` is the project
/// (its `name` titles the report; the JSON format embeds it whole); `commits`
/// feed the report's recent-commits table.
pub fn export(
    root: &Path,
    format: ExportFormat,
    options: &ExportOptions,
    meta: &serde_json::Value,
    commits: &[ReportCommit],
    out: &mut dyn Write,
) -> Result<ExportSummary, ArchiveError> {
    // A missing root is an error, not an empty export.
    if !fs::metadata(root)?.is_dir() {
        return Err(io::Error::new(io::ErrorKind::NotADirectory, "the workspace root is not a folder").into());
    }
    let mut out = BufWriter::with_capacity(BUFFER_BYTES, out);
    let items = Items::new(root, options);
    let summary = match format {
        ExportFormat::Zip => write_zip(items, &mut out)?,
        ExportFormat::TarGz => write_tar_gz(items, &mut out)?,
        ExportFormat::Json => write_json(items, meta, &mut out)?,
        ExportFormat::Markdown => write_markdown(items, meta, commits, &mut out)?,
    };
    out.flush()?;
    Ok(summary)
}

// ---------------------------------------------------------------------------
// Walking
// ---------------------------------------------------------------------------

enum Kind {
    Dir,
    File { size: u64, executable: bool, mtime: Option<SystemTime>, metadata: fs::Metadata },
    Symlink { target: String },
}

struct Item {
    path: WorkspacePath,
    full: PathBuf,
    kind: Kind,
}

impl Item {
    /// Opens the file, checking that it is still the one the walk saw: a file
    /// swapped for a link (or moved under a linked folder) since is skipped
    /// rather than followed. `None` when it is gone or was swapped.
    fn open(&self) -> io::Result<Option<File>> {
        let Kind::File { metadata, .. } = &self.kind else { return Ok(None) };
        let file = match File::open(&self.full) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let opened = file.metadata()?;
        Ok((opened.is_file() && same_file(metadata, &opened)).then_some(file))
    }
}

#[cfg(unix)]
fn same_file(walked: &fs::Metadata, opened: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    walked.dev() == opened.dev() && walked.ino() == opened.ino()
}

#[cfg(not(unix))]
fn same_file(_walked: &fs::Metadata, _opened: &fs::Metadata) -> bool {
    true
}

#[cfg(unix)]
fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &fs::Metadata) -> bool {
    false
}

/// The tree under a root, in path order (a folder before its contents).
struct Items {
    root: PathBuf,
    walk: ignore::Walk,
}

impl Items {
    fn new(root: &Path, options: &ExportOptions) -> Self {
        let mut builder = ignore::WalkBuilder::new(root);
        builder
            .hidden(false)
            .parents(false)
            .ignore(false)
            .git_global(false)
            .git_ignore(options.honor_gitignore)
            .git_exclude(options.honor_gitignore)
            .require_git(false)
            .follow_links(false)
            .sort_by_file_name(|a, b| a.cmp(b))
            .filter_entry(|entry| entry.depth() == 0 || exportable_name(entry.file_name()));
        Self { root: root.to_path_buf(), walk: builder.build() }
    }

    fn item(&self, entry: ignore::DirEntry) -> io::Result<Option<Item>> {
        if entry.depth() == 0 {
            return Ok(None);
        }
        let Some(file_type) = entry.file_type() else { return Ok(None) };
        let full = entry.into_path();
        let Some(relative) = full.strip_prefix(&self.root).ok().and_then(Path::to_str) else { return Ok(None) };
        let Ok(path) = WorkspacePath::parse(relative) else { return Ok(None) };
        let kind = if file_type.is_symlink() {
            let target = match fs::read_link(&full) {
                Ok(target) => target,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(error),
            };
            let Some(target) = target.to_str() else { return Ok(None) };
            if check_link_target(&path, target).is_err() {
                return Ok(None);
            }
            Kind::Symlink { target: target.to_owned() }
        } else if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            let metadata = match fs::symlink_metadata(&full) {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(error),
            };
            if !metadata.is_file() {
                return Ok(None);
            }
            Kind::File {
                size: metadata.len(),
                executable: is_executable(&metadata),
                mtime: metadata.modified().ok(),
                metadata,
            }
        } else {
            return Ok(None);
        };
        Ok(Some(Item { path, full, kind }))
    }
}

impl Iterator for Items {
    type Item = Result<Item, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.walk.next()? {
                Ok(entry) => entry,
                Err(error) => match error.into_io_error() {
                    // Deleted while walking: there is nothing to export.
                    Some(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Some(error) => return Some(Err(error.into())),
                    None => continue,
                },
            };
            match self.item(entry) {
                Ok(Some(item)) => return Some(Ok(item)),
                Ok(None) => {}
                Err(error) => return Some(Err(error.into())),
            }
        }
    }
}

/// Whether a file name can be exported (and imported again).
fn exportable_name(name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else { return false };
    name != ".git" && !name.starts_with(TEMP_PREFIX) && !name.contains('/') && WorkspacePath::parse(name).is_ok()
}

fn zip_error(error: zip::result::ZipError) -> ArchiveError {
    match error {
        zip::result::ZipError::Io(error) => ArchiveError::Io(error),
        other => ArchiveError::Io(io::Error::other(other)),
    }
}

/// Reads exactly `size` bytes: stops there if the file grew since it was
/// measured, pads with zeros if it shrank (a tar header's size cannot change
/// once written).
struct ExactSize<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wanted = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if wanted == 0 {
            return Ok(0);
        }
        let mut read = self.inner.read(&mut buf[..wanted])?;
        if read == 0 {
            buf[..wanted].fill(0);
            read = wanted;
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

// ---------------------------------------------------------------------------
// zip and tar.gz
// ---------------------------------------------------------------------------

fn write_zip(items: Items, out: &mut dyn Write) -> Result<ExportSummary, ArchiveError> {
    use zip::write::SimpleFileOptions;
    let mut summary = ExportSummary::default();
    let mut zip = zip::ZipWriter::new_stream(out);
    for item in items {
        let item = item?;
        let name = item.path.as_str();
        match &item.kind {
            Kind::Dir => {
                zip.add_directory(format!("{name}/"), SimpleFileOptions::default().unix_permissions(0o755))
                    .map_err(zip_error)?;
                summary.dirs += 1;
            }
            Kind::Symlink { target } => {
                zip.add_symlink(name, target, SimpleFileOptions::default().unix_permissions(0o777))
                    .map_err(zip_error)?;
                summary.symlinks += 1;
            }
            Kind::File { size, executable, mtime, .. } => {
                let Some(file) = item.open()? else { continue };
                let mut options = SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .unix_permissions(if *executable { 0o755 } else { 0o644 })
                    .large_file(*size >= u64::from(u32::MAX));
                if let Some(time) = mtime.and_then(zip_time) {
                    options = options.last_modified_time(time);
                }
                zip.start_file(name, options).map_err(zip_error)?;
                summary.bytes += io::copy(&mut file.take(*size), &mut zip)?;
                summary.files += 1;
            }
        }
    }
    zip.finish().map_err(zip_error)?;
    Ok(summary)
}

/// A system time as a zip time (UTC; zip times have no zone), when zip can hold it.
fn zip_time(time: SystemTime) -> Option<zip::DateTime> {
    let seconds = i64::try_from(time.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    let (year, month, day, hour, minute, second) = civil_from_seconds(seconds);
    zip::DateTime::from_date_and_time(
        u16::try_from(year).ok()?,
        month as u8,
        day as u8,
        hour as u8,
        minute as u8,
        second as u8,
    )
    .ok()
}

/// (year, month, day, hour, minute, second) in UTC of seconds since the epoch.
fn civil_from_seconds(seconds: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days, the inverse of `days_from_civil`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32, (of_day / 3600) as u32, (of_day % 3600 / 60) as u32, (of_day % 60) as u32)
}

fn write_tar_gz(items: Items, out: &mut dyn Write) -> Result<ExportSummary, ArchiveError> {
    let mut summary = ExportSummary::default();
    let encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    for item in items {
        let item = item?;
        let name = item.path.as_str();
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        match &item.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                header.set_mtime(mtime_seconds(fs::symlink_metadata(&item.full).ok().and_then(|m| m.modified().ok())));
                tar.append_data(&mut header, format!("{name}/"), io::empty())?;
                summary.dirs += 1;
            }
            Kind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                header.set_mtime(mtime_seconds(fs::symlink_metadata(&item.full).ok().and_then(|m| m.modified().ok())));
                tar.append_link(&mut header, name, target)?;
                summary.symlinks += 1;
            }
            Kind::File { size, executable, mtime, .. } => {
                let Some(file) = item.open()? else { continue };
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(*size);
                header.set_mtime(mtime_seconds(*mtime));
                tar.append_data(&mut header, name, ExactSize { inner: file, remaining: *size })?;
                summary.bytes += size;
                summary.files += 1;
            }
        }
    }
    tar.into_inner()?.finish()?;
    Ok(summary)
}

fn mtime_seconds(time: Option<SystemTime>) -> u64 {
    time.and_then(|time| time.duration_since(UNIX_EPOCH).ok()).map_or(0, |since| since.as_secs())
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

fn write_json(items: Items, meta: &serde_json::Value, out: &mut dyn Write) -> Result<ExportSummary, ArchiveError> {
    let mut summary = ExportSummary::default();
    out.write_all(br#"{"format":"dockyard-export","version":1,"project":"#)?;
    serde_json::to_writer(&mut *out, meta).map_err(io::Error::from)?;
    out.write_all(br#","entries":["#)?;
    let mut first = true;
    let mut buffer = vec![0; BUFFER_BYTES];
    for item in items {
        let item = item?;
        let file = match &item.kind {
            Kind::File { .. } => match item.open()? {
                Some(file) => Some(file),
                None => continue,
            },
            _ => None,
        };
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        out.write_all(br#"{"path":"#)?;
        serde_json::to_writer(&mut *out, item.path.as_str()).map_err(io::Error::from)?;
        match (&item.kind, file) {
            (Kind::Dir, _) => {
                out.write_all(br#","type":"dir"}"#)?;
                summary.dirs += 1;
            }
            (Kind::Symlink { target }, _) => {
                out.write_all(br#","type":"symlink","target":"#)?;
                serde_json::to_writer(&mut *out, target).map_err(io::Error::from)?;
                out.write_all(b"}")?;
                summary.symlinks += 1;
            }
            (Kind::File { size, executable, .. }, Some(mut file)) => {
                out.write_all(if *executable {
                    br#","type":"file","executable":true,"encoding":""#
                } else {
                    br#","type":"file","executable":false,"encoding":""#
                })?;
                // Two passes, so neither needs the whole file: is it UTF-8, then write it.
                let text = is_utf8(&mut (&mut file).take(*size), &mut buffer)?;
                io::Seek::rewind(&mut file)?;
                let mut content = file.take(*size);
                let written = if text {
                    out.write_all(br#"utf8","content":""#)?;
                    write_json_text(&mut content, out, &mut buffer)?
                } else {
                    out.write_all(br#"base64","content":""#)?;
                    let mut encoder =
                        base64::write::EncoderWriter::new(&mut *out, &base64::engine::general_purpose::STANDARD);
                    let written = io::copy(&mut content, &mut encoder)?;
                    encoder.finish()?;
                    written
                };
                out.write_all(br#""}"#)?;
                summary.bytes += written;
                summary.files += 1;
            }
            (Kind::File { .. }, None) => {}
        }
    }
    out.write_all(b"\n]}")?;
    Ok(summary)
}

/// Whether everything `reader` yields is UTF-8, read a buffer at a time.
fn is_utf8(reader: &mut dyn Read, buffer: &mut [u8]) -> io::Result<bool> {
    let mut carried = 0;
    loop {
        let read = reader.read(&mut buffer[carried..])?;
        if read == 0 {
            return Ok(carried == 0);
        }
        let end = carried + read;
        carried = match std::str::from_utf8(&buffer[..end]) {
            Ok(_) => 0,
            Err(error) if error.error_len().is_some() => return Ok(false),
            // A character cut by the buffer's end: keep its first bytes for the next read.
            Err(error) => {
                let valid = error.valid_up_to();
                buffer.copy_within(valid..end, 0);
                end - valid
            }
        };
    }
}

/// Writes what `reader` yields as the inside of a JSON string. Bytes that are
/// no longer UTF-8 (the file changed since `is_utf8`) become U+FFFD.
fn write_json_text(reader: &mut dyn Read, out: &mut dyn Write, buffer: &mut [u8]) -> io::Result<u64> {
    let mut carried = 0;
    let mut total: u64 = 0;
    loop {
        let read = reader.read(&mut buffer[carried..])?;
        if read == 0 {
            if carried > 0 {
                write_json_escaped(out, "\u{FFFD}")?;
            }
            return Ok(total);
        }
        total += read as u64;
        let end = carried + read;
        let mut rest = &buffer[..end];
        let mut keep = 0;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    write_json_escaped(out, text)?;
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    write_json_escaped(out, std::str::from_utf8(valid).unwrap_or_default())?;
                    match error.error_len() {
                        Some(bad) => {
                            write_json_escaped(out, "\u{FFFD}")?;
                            rest = &after[bad..];
                        }
                        None => {
                            keep = after.len();
                            break;
                        }
                    }
                }
            }
        }
        buffer.copy_within(end - keep..end, 0);
        carried = keep;
    }
}

fn write_json_escaped(out: &mut dyn Write, text: &str) -> io::Result<()> {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escaped: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.write_all(&bytes[start..index])?;
        if escaped.is_empty() {
            write!(out, "\\u{byte:04x}")?;
        } else {
            out.write_all(escaped)?;
        }
        start = index + 1;
    }
    out.write_all(&bytes[start..])
}

// ---------------------------------------------------------------------------
// Markdown report
// ---------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct LanguageStats {
    files: u64,
    lines: u64,
    bytes: u64,
}

#[derive(Default)]
struct Report {
    summary: ExportSummary,
    tree: Vec<String>,
    tree_omitted: u64,
    /// The folder (at the depth limit) whose contents were last summarised as "…".
    elided_under: Option<String>,
    languages: BTreeMap<&'static str, LanguageStats>,
    other: LanguageStats,
    /// The largest files, biggest first (ties by path).
    largest: Vec<(u64, String)>,
}

impl Report {
    fn tree_line(&mut self, line: String) {
        if self.tree.len() < TREE_MAX_LINES {
            self.tree.push(line);
        } else {
            self.tree_omitted += 1;
        }
    }

    fn add_to_tree(&mut self, item: &Item) {
        let path = item.path.as_str();
        let depth = path.split('/').count();
        if depth > TREE_MAX_DEPTH {
            let (cut, _) =
                path.match_indices('/').nth(TREE_MAX_DEPTH - 1).map_or((path, ""), |(at, _)| path.split_at(at));
            if self.elided_under.as_deref() != Some(cut) {
                self.elided_under = Some(cut.to_owned());
                self.tree_line(format!("{}…", "  ".repeat(TREE_MAX_DEPTH)));
            }
            return;
        }
        let name = escape_markdown(item.path.file_name().unwrap_or_default());
        let indent = "  ".repeat(depth - 1);
        let line = match &item.kind {
            Kind::Dir => format!("{indent}{name}/"),
            Kind::File { .. } => format!("{indent}{name}"),
            Kind::Symlink { target } => format!("{indent}{name} -> {}", escape_markdown(target)),
        };
        self.tree_line(line);
    }

    fn add_file(&mut self, item: &Item, size: u64) -> io::Result<()> {
        let name = item.path.file_name().unwrap_or_default();
        match language_of(name) {
            Some(language) => {
                let lines = match item.open()? {
                    Some(file) => count_lines(file.take(size))?,
                    None => 0,
                };
                let stats = self.languages.entry(language).or_default();
                stats.files += 1;
                stats.lines += lines;
                stats.bytes += size;
            }
            None => {
                self.other.files += 1;
                self.other.bytes += size;
            }
        }
        let entry = (size, item.path.as_str().to_owned());
        let position = self.largest.partition_point(|(other_size, other_path)| {
            (Reverse(*other_size), other_path) <= (Reverse(size), &entry.1)
        });
        if position < LARGEST_FILES {
            self.largest.insert(position, entry);
            self.largest.truncate(LARGEST_FILES);
        }
        Ok(())
    }
}

fn count_lines(mut reader: impl Read) -> io::Result<u64> {
    let mut buffer = vec![0; BUFFER_BYTES];
    let (mut lines, mut last) = (0, None);
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        lines += buffer[..read].iter().filter(|&&byte| byte == b'\n').count() as u64;
        last = Some(buffer[read - 1]);
    }
    // A last line without a newline still counts.
    Ok(lines + u64::from(last.is_some_and(|byte| byte != b'\n')))
}

fn write_markdown(
    items: Items,
    meta: &serde_json::Value,
    commits: &[ReportCommit],
    out: &mut dyn Write,
) -> Result<ExportSummary, ArchiveError> {
    let mut report = Report::default();
    for item in items {
        let item = item?;
        match &item.kind {
            Kind::Dir => report.summary.dirs += 1,
            Kind::Symlink { .. } => report.summary.symlinks += 1,
            Kind::File { size, .. } => {
                report.summary.files += 1;
                report.summary.bytes += size;
                report.add_file(&item, *size)?;
            }
        }
        report.add_to_tree(&item);
    }
    let summary = report.summary;

    let title = meta.get("name").and_then(serde_json::Value::as_str).filter(|name| !name.trim().is_empty());
    writeln!(out, "# {}\n", escape_markdown(title.unwrap_or("Workspace export")))?;
    writeln!(out, "## Summary\n")?;
    writeln!(out, "- Files: {}", summary.files)?;
    writeln!(out, "- Folders: {}", summary.dirs)?;
    if summary.symlinks > 0 {
        writeln!(out, "- Symbolic links: {}", summary.symlinks)?;
    }
    writeln!(out, "- Total size: {} ({} bytes)\n", human_bytes(summary.bytes), summary.bytes)?;

    writeln!(out, "## Tree\n")?;
    if report.tree.is_empty() {
        writeln!(out, "The workspace is empty.\n")?;
    } else {
        writeln!(out, "```text")?;
        for line in &report.tree {
            writeln!(out, "{line}")?;
        }
        if report.tree_omitted > 0 {
            writeln!(out, "… ({} more lines)", report.tree_omitted)?;
        }
        writeln!(out, "```\n")?;
    }

    writeln!(out, "## Languages\n")?;
    let mut languages: Vec<(&str, LanguageStats)> = report.languages.into_iter().collect();
    languages.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
    if languages.is_empty() && report.other.files == 0 {
        writeln!(out, "No files.\n")?;
    } else {
        writeln!(out, "| Language | Files | Lines | Size |")?;
        writeln!(out, "| --- | ---: | ---: | ---: |")?;
        for (language, stats) in &languages {
            writeln!(out, "| {language} | {} | {} | {} |", stats.files, stats.lines, human_bytes(stats.bytes))?;
        }
        if report.other.files > 0 {
            writeln!(out, "| Other | {} | – | {} |", report.other.files, human_bytes(report.other.bytes))?;
        }
        writeln!(out)?;
    }

    writeln!(out, "## Largest files\n")?;
    if report.largest.is_empty() {
        writeln!(out, "No files.\n")?;
    } else {
        writeln!(out, "| File | Size |")?;
        writeln!(out, "| --- | ---: |")?;
        for (size, path) in &report.largest {
            writeln!(out, "| `{}` | {} |", escape_markdown(path), human_bytes(*size))?;
        }
        writeln!(out)?;
    }

    writeln!(out, "## Recent commits\n")?;
    if commits.is_empty() {
        writeln!(out, "No commits.")?;
    } else {
        writeln!(out, "| Commit | Summary | Author | Date |")?;
        writeln!(out, "| --- | --- | --- | --- |")?;
        for commit in commits {
            let short: String = commit.id.chars().take(12).collect();
            writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                escape_markdown(&short),
                escape_markdown(&one_line(&commit.summary)),
                escape_markdown(&one_line(&commit.author)),
                format_time_ms(commit.time_ms)
            )?;
        }
    }
    Ok(summary)
}

/// Escapes what would break a table cell or a code span: `|`, backticks and backslashes.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '|' | '`' | '\\') {
            out.push('\\');
        }
        out.push(character);
    }
    out
}

fn one_line(text: &str) -> String {
    text.chars().map(|character| if character.is_control() { ' ' } else { character }).collect()
}

fn format_time_ms(time_ms: i64) -> String {
    let (year, month, day, hour, minute, _) = civil_from_seconds(time_ms.div_euclid(1000));
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The language of a file, by its name (Dockerfile, Makefile, …) or extension.
fn language_of(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "dockerfile" | "containerfile" => return Some("Dockerfile"),
        "makefile" | "gnumakefile" => return Some("Makefile"),
        "cmakelists.txt" => return Some("CMake"),
        "gemfile" | "rakefile" => return Some("Ruby"),
        "justfile" => return Some("Just"),
        _ => {}
    }
    if lower.starts_with("dockerfile.") {
        return Some("Dockerfile");
    }
    let (stem, extension) = lower.rsplit_once('.')?;
    if stem.is_empty() {
        // A dotfile (`.gitignore`) has a name, not an extension.
        return None;
    }
    Some(match extension {
        "rs" => "Rust",
        "py" | "pyi" => "Python",
        "js" | "mjs" | "cjs" | "jsx" => "JavaScript",
        "ts" | "mts" | "cts" | "tsx" => "TypeScript",
        "go" => "Go",
        "java" => "Java",
        "kt" | "kts" => "Kotlin",
        "swift" => "Swift",
        "c" | "h" => "C",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => "C++",
        "cs" => "C#",
        "fs" | "fsx" => "F#",
        "rb" => "Ruby",
        "php" => "PHP",
        "scala" => "Scala",
        "hs" => "Haskell",
        "ex" | "exs" => "Elixir",
        "erl" | "hrl" => "Erlang",
        "clj" | "cljs" => "Clojure",
        "lua" => "Lua",
        "pl" | "pm" => "Perl",
        "r" => "R",
        "dart" => "Dart",
        "zig" => "Zig",
        "ml" | "mli" => "OCaml",
        "sh" | "bash" | "zsh" => "Shell",
        "ps1" => "PowerShell",
        "sql" => "SQL",
        "html" | "htm" => "HTML",
        "css" => "CSS",
        "scss" | "sass" => "Sass",
        "less" => "Less",
        "vue" => "Vue",
        "svelte" => "Svelte",
        "json" => "JSON",
        "yaml" | "yml" => "YAML",
        "toml" => "TOML",
        "xml" => "XML",
        "md" | "markdown" => "Markdown",
        "rst" => "reStructuredText",
        "txt" => "Text",
        "proto" => "Protocol Buffers",
        "graphql" | "gql" => "GraphQL",
        "tf" => "Terraform",
        "ini" | "cfg" => "INI",
        "csv" => "CSV",
        "svg" => "SVG",
        "dockerfile" => "Dockerfile",
        "mk" => "Makefile",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::days_from_civil;

    #[test]
    fn formats_parse_and_describe_themselves() {
        assert_eq!(ExportFormat::parse("tgz"), Some(ExportFormat::TarGz));
        assert_eq!(ExportFormat::parse("tar.gz"), Some(ExportFormat::TarGz));
        assert_eq!(ExportFormat::parse("md"), Some(ExportFormat::Markdown));
        assert_eq!(ExportFormat::parse("rar"), None);
        assert_eq!(ExportFormat::Zip.content_type(), "application/zip");
        assert_eq!(ExportFormat::TarGz.extension(), "tar.gz");
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_seconds(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_seconds(951_782_400 + 3661), (2000, 2, 29, 1, 1, 1));
        assert_eq!(format_time_ms(1_700_000_000_000), "2023-11-14 22:13 UTC");
        for days in [-800_000_i64, -1, 0, 59, 60, 10_000, 2_932_896] {
            let (year, month, day, ..) = civil_from_seconds(days * 86_400);
            assert_eq!(days_from_civil(year, i64::from(month), i64::from(day)), days);
        }
    }

    #[test]
    fn sizes_and_names_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(escape_markdown("a|b`c"), "a\\|b\\`c");
        assert_eq!(language_of("main.RS"), Some("Rust"));
        assert_eq!(language_of("Dockerfile"), Some("Dockerfile"));
        assert_eq!(language_of(".gitignore"), None);
        assert_eq!(language_of("blob.bin"), None);
    }

    #[test]
    fn json_text_is_escaped_and_split_characters_survive_the_buffer() {
        let text = "a\"b\\c\n\u{1}é€😀".repeat(3);
        let mut out = Vec::new();
        let mut buffer = vec![0; 7];
        write_json_text(&mut text.as_bytes(), &mut out, &mut buffer).expect("write");
        let decoded: String = serde_json::from_slice(&[b"\"".as_slice(), &out, b"\""].concat()).expect("valid JSON");
        assert_eq!(decoded, text);
        assert!(is_utf8(&mut text.as_bytes(), &mut buffer).expect("read"));
        assert!(!is_utf8(&mut [b'a', 0xff].as_slice(), &mut buffer).expect("read"));
        assert!(!is_utf8(&mut [b'a', 0xe2, 0x82].as_slice(), &mut buffer).expect("read"));
    }
}
