//! The workspace benchmark: importing a project from a tar.gz through the API
//! against `tar -xzf` of the same file, and file writes through the API against
//! equally durable writes made directly on the same disk.
//!
//! 1. A realistic source tree is generated in a temp dir (about 20,000 text files
//!    of varied sizes in nested folders, plus incompressible binary files) and
//!    packed with the `tar` CLI and `gzip -1`; binary files are added until the
//!    archive is at least `--min-archive-mb` MB. The tree is then removed.
//! 2. `dockyard serve` on a fresh SQLite data dir (rate limits off, log level
//!    warn, import and workspace limits raised): first-run setup, a write token.
//! 3. Import, `runs` times, alternating with the peer: the archive is streamed
//!    from disk as multipart (`name` + `archive`) to
//!    POST /api/v1/orgs/{org}/projects/import, the job is polled at
//!    GET /api/v1/jobs/{job} until it succeeds, and the project is deleted again.
//!    The peer is `tar -xzf` of the same file into a fresh folder on the same disk.
//!    The first run checks that the workspace holds exactly the archive's files.
//! 4. File writes: PUT /api/v1/projects/{p}/files/{path} of 4 KiB and 64 KiB
//!    bodies, new files and overwrites with If-Match, over 1 and 8 persistent
//!    connections (each its own files); each case is followed by the peer, the
//!    same writes made by this process directly (temp file, write, fsync, rename,
//!    fsync the folder: the durability Dockyard gives).
//!
//! The numbers go to a JSON file and a Markdown table, with the load average at
//! the start and the end. Everything generated is removed afterwards.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, HOST, HeaderValue, IF_MATCH};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::client;
use crate::foundation::{
    ChildServer, TempDir, command_output, dockyard_binary, loadavg, machine_info, setup_admin, write_results,
};
use crate::load::{Target, round};

/// Why nothing is deleted between timed runs (trees, projects and written files go
/// only at the end): on ext4 without a journal, as on the machine this was written
/// on, creating files shortly after many deletions is slow (inode allocation skips
/// recently deleted inodes, `recently_deleted` in a kernel profile), so a harness
/// that deletes between runs slows down its own next run by several times.
const NO_DELETES: &str = "nothing is deleted between timed runs (imported projects are deleted after the last run; extracted trees and written files stay until the end): on ext4 without a journal, creating files shortly after many deletions is several times slower (inode allocation skips recently deleted inodes)";
/// Sizes are reported in decimal megabytes.
const MB: f64 = 1e6;
/// How often the import job is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long an upload, and then its job, may take.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(900);
/// How long one file write may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Upload chunks read from disk.
const CHUNK: usize = 256 * 1024;
/// Files per connection (or thread) that the overwrite cases cycle through.
const OVERWRITE_POOL: usize = 64;
/// Untimed writes per case before the timed ones, spread over the connections.
const WARMUP_WRITES: usize = 64;
/// The file sizes of the write cases.
const WRITE_SIZES: [usize; 2] = [4 * 1024, 64 * 1024];
/// Each write case runs in this many rounds, alternating which side goes first.
const ROUNDS: usize = 4;
/// Text files per leaf folder of the generated tree.
const FILES_PER_DIR: usize = 24;
const MULTIPART_BOUNDARY: &str = "dockyard-bench-7f3a9c1e5b2d4086a1c9e0f2";

#[derive(Args)]
pub struct WorkspaceArgs {
    /// The `dockyard` binary. Default: the `dockyard` next to this binary.
    #[arg(long)]
    dockyard: Option<PathBuf>,
    /// The GNU tar binary (packs the archive, and is the import's peer).
    #[arg(long, default_value = "tar")]
    tar: PathBuf,
    /// Text files in the generated source tree.
    #[arg(long, default_value_t = 20_000)]
    text_files: usize,
    /// Megabytes of incompressible binary files in the tree (more are added if the
    /// archive comes out smaller than --min-archive-mb).
    #[arg(long, default_value_t = 48)]
    binary_mb: u64,
    /// The archive's least size in MB (10^6 bytes), compressed.
    #[arg(long, default_value_t = 100)]
    min_archive_mb: u64,
    /// Timed import runs per side; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Timed writes per write case, over all its connections.
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Connections (and direct-write threads) of the concurrent write cases.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Run only one part.
    #[arg(long, value_enum)]
    only: Option<Part>,
    /// The seed of the content generator.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
    /// Where to make the temp dir (it holds ~1.2 GB at most while the benchmark runs).
    #[arg(long)]
    temp_dir: Option<PathBuf>,
    /// The JSON file to write; a Markdown copy of the tables goes beside it.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Import,
    Writes,
}

fn default_out() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).join("bench/results/workspace.json")
}

/// The JSON file, in this field order.
#[derive(Serialize)]
struct Document {
    benchmark: &'static str,
    date: String,
    dockyard_version: String,
    tar_version: String,
    git_commit: Option<String>,
    /// Whether the working tree had changes the commit does not hold when the run started
    /// (the binaries are built from the working tree).
    git_worktree_dirty: Option<bool>,
    machine: serde_json::Value,
    /// Other work on the machine skews the numbers: the load averages tell how busy it was.
    loadavg_start: Option<String>,
    loadavg_end: Option<String>,
    settings: serde_json::Value,
    archive: Option<ArchiveInfo>,
    import: Option<ImportResult>,
    writes: Vec<WriteCase>,
    /// Things the server did that looked wrong, with the request and the answer.
    server_notes: Vec<String>,
    failures: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
struct ArchiveInfo {
    file_name: &'static str,
    /// Regular files in the archive: text plus binary.
    files: u64,
    text_files: u64,
    binary_files: u64,
    /// Folders in the archive.
    dirs: u64,
    /// The files' bytes: what a workspace holds after the import.
    uncompressed_bytes: u64,
    text_bytes: u64,
    binary_bytes: u64,
    /// The tar stream before compression (headers and padding included).
    tar_bytes: u64,
    /// The .tar.gz file.
    compressed_bytes: u64,
    compression: &'static str,
    /// Counted again from `tar -tvzf`, to check the archive holds what was generated.
    listed_files: u64,
    listed_dirs: u64,
    listed_bytes: u64,
    generation_secs: f64,
    packing_secs: f64,
}

#[derive(Clone, Debug, Serialize)]
struct ImportRun {
    run: usize,
    /// From the first byte sent to the 202 answer (the server streams the upload to disk and fsyncs it).
    upload_s: f64,
    /// From the 202 answer until a poll saw `succeeded`.
    job_wall_s: f64,
    /// The job's own `finished_at - started_at`.
    job_server_s: Option<f64>,
    /// The job's `started_at - created_at`, when it reports both: time spent queued.
    job_queued_s: Option<f64>,
    /// Upload plus job: the first byte sent until a poll saw `succeeded`.
    total_s: f64,
    mb_s_compressed: f64,
    mb_s_uncompressed: f64,
    polls: usize,
    /// DELETE /api/v1/projects/{p} afterwards (not part of the import).
    delete_s: f64,
}

#[derive(Clone, Debug, Serialize)]
struct TarRun {
    run: usize,
    /// `tar -xzf` wall time.
    tar_s: f64,
    /// `sync -f` on the extracted folder right after: the time to make it durable
    /// (this flushes the whole file system, other people's writes included).
    sync_s: f64,
    mb_s_compressed: f64,
    mb_s_uncompressed: f64,
}

#[derive(Clone, Debug, Serialize)]
struct ImportMedians {
    upload_s: f64,
    job_wall_s: f64,
    job_server_s: Option<f64>,
    total_s: f64,
    mb_s_compressed: f64,
    mb_s_uncompressed: f64,
}

#[derive(Clone, Debug, Serialize)]
struct TarMedians {
    tar_s: f64,
    tar_plus_sync_s: f64,
    mb_s_compressed: f64,
    mb_s_uncompressed: f64,
}

#[derive(Clone, Debug, Serialize)]
struct Verification {
    /// Regular files (and links) in the workspace after the first import, `.git` aside.
    workspace_files: u64,
    workspace_bytes: u64,
    /// Whether the workspace has a top-level `.git` folder (not counted above).
    workspace_has_git_folder: bool,
    archive_files: u64,
    archive_bytes: u64,
    /// The same count in the folder `tar -xzf` extracted.
    tar_extracted_files: u64,
    files_agree: bool,
    bytes_agree: bool,
}

#[derive(Clone, Debug, Serialize)]
struct ImportResult {
    api: &'static str,
    peer: String,
    dockyard_runs: Vec<ImportRun>,
    tar_runs: Vec<TarRun>,
    dockyard: Option<ImportMedians>,
    tar: Option<TarMedians>,
    /// Dockyard's median total time over tar's median time (> 1: Dockyard is slower).
    ratio_vs_tar: Option<f64>,
    /// The same over tar + sync.
    ratio_vs_tar_sync: Option<f64>,
    verification: Option<Verification>,
    /// The job as the last poll of the first run saw it.
    first_job: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteKind {
    New,
    Overwrite,
}

impl WriteKind {
    fn name(self) -> &'static str {
        match self {
            Self::New => "new file",
            Self::Overwrite => "overwrite (If-Match)",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Overwrite => "overwrite",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct CaseSpec {
    size: usize,
    kind: WriteKind,
    connections: usize,
    writes: usize,
}

impl CaseSpec {
    fn label(&self) -> String {
        format!("{} KiB, {}, {} connection(s)", self.size / 1024, self.kind.name(), self.connections)
    }

    fn folder(&self) -> String {
        format!("bench/{}k-{}-c{}", self.size / 1024, self.kind.slug(), self.connections)
    }

    /// The timed writes of connection `k`.
    fn writes_of(&self, k: usize) -> usize {
        self.writes / self.connections + usize::from(k < self.writes % self.connections)
    }

    /// The indices of connection `k`'s timed writes in `round`.
    fn round_range(&self, k: usize, round: usize) -> std::ops::Range<usize> {
        let count = self.writes_of(k);
        count * round / ROUNDS..count * (round + 1) / ROUNDS
    }

    fn warmups_of(&self) -> usize {
        WARMUP_WRITES.div_ceil(self.connections).max(2)
    }
}

#[derive(Clone, Debug, Serialize)]
struct WriteStats {
    writes: usize,
    seconds: f64,
    writes_per_s: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
struct WriteCase {
    size_bytes: usize,
    kind: &'static str,
    connections: usize,
    dockyard: Option<WriteStats>,
    direct: Option<WriteStats>,
    /// Dockyard's p50 over the direct writes' p50.
    p50_ratio: Option<f64>,
    p99_ratio: Option<f64>,
    /// Direct writes/s over Dockyard's writes/s.
    throughput_ratio: Option<f64>,
}

pub async fn run(args: WorkspaceArgs) -> anyhow::Result<()> {
    let dockyard = dockyard_binary(args.dockyard.as_deref())?;
    let Some(tar_version) =
        command_output(&args.tar, &["--version"]).await.map(|text| text.lines().next().unwrap_or_default().to_owned())
    else {
        bail!("cannot run {} --version; install GNU tar", args.tar.display());
    };
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.concurrency == 0 || args.writes < args.concurrency.max(1) {
        bail!("--concurrency must be at least 1 and --writes at least --concurrency");
    }
    let dockyard_version = command_output(&dockyard, &["version"]).await.unwrap_or_else(|| "unknown".to_owned());
    eprintln!("==> workspace benchmark: {dockyard_version} at {}, {tar_version}", dockyard.display());
    let loadavg_start = loadavg();
    eprintln!("    load average at the start: {}", loadavg_start.as_deref().unwrap_or("unknown"));

    let temp = match &args.temp_dir {
        Some(parent) => {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            TempDir::new(&parent.join("dockyard-bench-workspace").to_string_lossy())?
        }
        None => TempDir::new("dockyard-bench-workspace")?,
    };
    let manifest_dir = env!("CARGO_MANIFEST_DIR");
    let git_commit = command_output(Path::new("git"), &["-C", manifest_dir, "rev-parse", "--short", "HEAD"]).await;
    let git_worktree_dirty = match git_commit {
        Some(_) => {
            Some(command_output(Path::new("git"), &["-C", manifest_dir, "status", "--porcelain"]).await.is_some())
        }
        None => None,
    };
    let outcome = bench(&args, &dockyard, &temp.0).await;
    eprintln!("==> removing {}", temp.0.display());
    drop(temp);
    let outcome = outcome?;
    let loadavg_end = loadavg();
    eprintln!("    load average at the end: {}", loadavg_end.as_deref().unwrap_or("unknown"));

    let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let document = Document {
        benchmark: "workspace",
        date,
        dockyard_version,
        tar_version,
        git_commit,
        git_worktree_dirty,
        machine: machine_info(),
        loadavg_start,
        loadavg_end,
        settings: json!({
            "runs": args.runs,
            "writes_per_case": args.writes,
            "warmup_writes_per_case": WARMUP_WRITES,
            "rounds_per_write_case": ROUNDS,
            "concurrency": args.concurrency,
            "seed": args.seed,
            "text_files": args.text_files,
            "binary_mb": args.binary_mb,
            "min_archive_mb": args.min_archive_mb,
            "dockyard": "dockyard serve on SQLite, rate limits off, log level warn; a separate process on the same machine and disk",
            "import_api": format!("multipart/form-data (name + archive) streamed from disk with Content-Length over one HTTP/1.1 connection, write-scoped bearer token; then GET /api/v1/jobs/{{job}} every {} ms on fresh connections until succeeded; the project is deleted after each run", POLL_INTERVAL.as_millis()),
            "import_peer": "tar -xzf FILE -C DIR (GNU tar) into a fresh folder in the same temp dir; sync -f before every run of either side (untimed) so each starts with no dirty pages",
            "writes_api": "PUT /api/v1/projects/{p}/files/{path} with a raw body, write-scoped bearer token, persistent HTTP/1.1 connections (one task each, each with its own files); latency from sending until the whole answer is read",
            "writes_direct": "the same sizes written by this process with one OS thread per connection: temp file in the target folder, write, fsync, rename, fsync the folder",
            "overwrites": format!("each connection cycles through {OVERWRITE_POOL} files of its own, created untimed; the API side sends If-Match with the last ETag"),
            "cache": "the archive is written just before the runs and stays in the page cache",
            "deletions": NO_DELETES,
        }),
        archive: outcome.archive.clone(),
        import: outcome.import.clone(),
        writes: outcome.writes.clone(),
        server_notes: outcome.server_notes.clone(),
        failures: outcome.failures.clone(),
    };
    let markdown = markdown(&document);
    write_results(&args.out, &document, &markdown)?;
    println!("{markdown}");
    println!("Results: {}", args.out.display());
    if !outcome.failures.is_empty() {
        bail!("{} check(s) failed: {}", outcome.failures.len(), outcome.failures.join("; "));
    }
    Ok(())
}

#[derive(Default)]
struct Outcome {
    archive: Option<ArchiveInfo>,
    import: Option<ImportResult>,
    writes: Vec<WriteCase>,
    server_notes: Vec<String>,
    failures: Vec<String>,
}

async fn bench(args: &WorkspaceArgs, dockyard: &Path, temp: &Path) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::default();
    let archive_path = temp.join("tree.tar.gz");
    if args.only != Some(Part::Writes) {
        outcome.archive = Some(make_archive(args, temp, &archive_path).await?);
    }
    let data_dir = temp.join("data");
    let mut env =
        vec![("DOCKYARD_WORKSPACE__MAX_TOTAL_BYTES", "8589934592"), ("DOCKYARD_WORKSPACE__MAX_FILES", "1000000")];
    if outcome.archive.is_some() {
        // The import's upload limit (a setting the writes alone do not need).
        env.push(("DOCKYARD_WORKSPACE__MAX_UPLOAD_BYTES", "8589934592"));
    }
    let mut server = ChildServer::start_dockyard(dockyard, &data_dir, None, &env).await?;
    let result = async {
        let session = Session::prepare(&server).await?;
        if let Some(archive) = outcome.archive.clone() {
            let import = bench_import(args, &server, &session, &data_dir, temp, &archive_path, &archive, &mut outcome)
                .await
                .context("the import benchmark")?;
            outcome.import = Some(import);
        }
        if args.only != Some(Part::Import) {
            outcome.writes = bench_writes(args, &server, &session, temp, &mut outcome).await?;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    server.stop().await;
    result?;
    Ok(outcome)
}

/// The bench admin's org, browser session and a write-scoped token.
struct Session {
    org: String,
    cookie: String,
    origin: String,
    bearer: String,
}

impl Session {
    async fn prepare(server: &ChildServer) -> anyhow::Result<Self> {
        let (org, cookie) = setup_admin(server).await?;
        let origin = server.base.clone();
        let created = client::call(
            Method::POST,
            &server.url("/api/v1/tokens"),
            &[("origin", origin.as_str()), ("cookie", cookie.as_str())],
            Some(&json!({ "name": "bench", "scopes": ["write"] })),
        )
        .await?
        .expect(StatusCode::CREATED, "create a token")?;
        let token = created.json()?["token"].as_str().context("the token answer has no token")?.to_owned();
        eprintln!("    prepared: org {org}, a write token");
        Ok(Self { org, cookie, origin, bearer: format!("Bearer {token}") })
    }

    fn browser(&self) -> [(&str, &str); 2] {
        [("origin", self.origin.as_str()), ("cookie", self.cookie.as_str())]
    }
}

// ---------------------------------------------------------------------------
// The archive.

async fn make_archive(args: &WorkspaceArgs, temp: &Path, archive: &Path) -> anyhow::Result<ArchiveInfo> {
    let tree = temp.join("tree");
    eprintln!("==> generating the source tree in {}", tree.display());
    let started = Instant::now();
    let mut corpus = {
        let (tree, text_files, binary_bytes, seed) =
            (tree.clone(), args.text_files, args.binary_mb * 1_000_000, args.seed);
        tokio::task::spawn_blocking(move || generate(&tree, text_files, binary_bytes, seed)).await??
    };
    let generation_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "    {} text files ({:.1} MB), {} binary files ({:.1} MB) in {:.1} s",
        corpus.text_files,
        corpus.text_bytes as f64 / MB,
        corpus.binary_files,
        corpus.binary_bytes as f64 / MB,
        generation_secs
    );
    let min_bytes = args.min_archive_mb * 1_000_000;
    let mut packing_secs;
    let mut tar_bytes;
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        tar_bytes = pack(&args.tar, &tree, archive).await?;
        packing_secs = started.elapsed().as_secs_f64();
        let compressed = std::fs::metadata(archive)?.len();
        eprintln!(
            "    packed: {:.1} MB of tar, {:.1} MB as tar.gz (gzip -1) in {packing_secs:.1} s",
            tar_bytes as f64 / MB,
            compressed as f64 / MB
        );
        if compressed >= min_bytes {
            break;
        }
        attempt += 1;
        if attempt > 3 {
            bail!("the archive stays under {} MB", args.min_archive_mb);
        }
        // Binary files compress to their own size: add the shortfall, and a margin.
        let missing = (min_bytes - compressed) + min_bytes / 50;
        eprintln!("    under {} MB: adding {:.1} MB of binary files", args.min_archive_mb, missing as f64 / MB);
        let (files, bytes) = {
            let (tree, seed, first) = (tree.clone(), args.seed ^ (0x70_u64 + attempt), corpus.binary_files);
            tokio::task::spawn_blocking(move || write_binaries(&tree, "assets/media", first, missing, seed)).await??
        };
        corpus.binary_files += files;
        corpus.binary_bytes += bytes;
        std::fs::remove_file(archive)?;
    }
    let compressed_bytes = std::fs::metadata(archive)?.len();
    let listing = list_archive(&args.tar, archive).await?;
    // The tree stays until the temp dir goes: see NO_DELETES.
    let files = corpus.text_files + corpus.binary_files;
    let info = ArchiveInfo {
        file_name: "tree.tar.gz",
        files,
        text_files: corpus.text_files,
        binary_files: corpus.binary_files,
        dirs: corpus.dirs,
        uncompressed_bytes: corpus.text_bytes + corpus.binary_bytes,
        text_bytes: corpus.text_bytes,
        binary_bytes: corpus.binary_bytes,
        tar_bytes,
        compressed_bytes,
        compression: "GNU tar, then gzip -1",
        listed_files: listing.files,
        listed_dirs: listing.dirs,
        listed_bytes: listing.bytes,
        generation_secs: round(generation_secs, 2),
        packing_secs: round(packing_secs, 2),
    };
    if info.listed_files != info.files || info.listed_bytes != info.uncompressed_bytes {
        bail!(
            "the archive lists {} files of {} bytes, but {} files of {} bytes were generated",
            info.listed_files,
            info.listed_bytes,
            info.files,
            info.uncompressed_bytes
        );
    }
    Ok(info)
}

/// Packs the tree's top-level entries (no `./` prefix, no single top folder) into
/// `archive` as tar, then gzip -1; answers the size of the tar stream.
async fn pack(tar: &Path, tree: &Path, archive: &Path) -> anyhow::Result<u64> {
    let plain = archive.with_extension("");
    let mut entries: Vec<String> = std::fs::read_dir(tree)?
        .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    let mut command = Command::new(tar);
    command.arg("-C").arg(tree).arg("-cf").arg(&plain).arg("--").args(&entries);
    run_checked(command, "tar -cf").await?;
    let tar_bytes = std::fs::metadata(&plain)?.len();
    let mut gzip = Command::new("gzip");
    gzip.args(["-1", "-f", "-n"]).arg(&plain);
    run_checked(gzip, "gzip -1").await?;
    if !archive.is_file() {
        bail!("gzip wrote no {}", archive.display());
    }
    Ok(tar_bytes)
}

#[derive(Default)]
struct Listing {
    files: u64,
    dirs: u64,
    bytes: u64,
}

/// Counts the archive's regular files, folders and file bytes from `tar -tvzf`.
async fn list_archive(tar: &Path, archive: &Path) -> anyhow::Result<Listing> {
    let output = Command::new(tar)
        .arg("-tvzf")
        .arg(archive)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("cannot run tar -tvzf")?;
    if !output.status.success() {
        bail!("tar -tvzf failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let mut listing = Listing::default();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        match line.as_bytes().first() {
            Some(b'-') => {
                listing.files += 1;
                listing.bytes += line.split_whitespace().nth(2).and_then(|size| size.parse::<u64>().ok()).unwrap_or(0);
            }
            Some(b'd') => listing.dirs += 1,
            _ => {}
        }
    }
    Ok(listing)
}

async fn run_checked(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!("{what} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The import.

#[allow(clippy::too_many_arguments)]
async fn bench_import(
    args: &WorkspaceArgs,
    server: &ChildServer,
    session: &Session,
    data_dir: &Path,
    temp: &Path,
    archive: &Path,
    info: &ArchiveInfo,
    outcome: &mut Outcome,
) -> anyhow::Result<ImportResult> {
    let workspaces = data_dir.join("workspaces");
    let mut result = ImportResult {
        api: "POST /api/v1/orgs/{org}/projects/import, then GET /api/v1/jobs/{job} until succeeded",
        peer: format!("{} -xzf tree.tar.gz -C <fresh folder>", args.tar.display()),
        dockyard_runs: Vec::new(),
        tar_runs: Vec::new(),
        dockyard: None,
        tar: None,
        ratio_vs_tar: None,
        ratio_vs_tar_sync: None,
        verification: None,
        first_job: None,
    };
    eprintln!(
        "==> import: {:.1} MB tar.gz ({:.1} MB of files, {} files), {} runs per side, alternating",
        info.compressed_bytes as f64 / MB,
        info.uncompressed_bytes as f64 / MB,
        info.files,
        args.runs
    );
    let mut projects = Vec::new();
    for run in 1..=args.runs {
        sync_fs(temp).await;
        let imported = import_once(server, session, archive, info, run).await?;
        let project = imported.project.clone();
        let workspace = workspaces.join(&project);
        eprintln!(
            "--> dockyard run {run}: upload {:.2} s, job {:.2} s (server {}), total {:.2} s: {:.1} MB/s compressed, {:.1} MB/s uncompressed",
            imported.run.upload_s,
            imported.run.job_wall_s,
            imported.run.job_server_s.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2} s")),
            imported.run.total_s,
            imported.run.mb_s_compressed,
            imported.run.mb_s_uncompressed
        );
        if let Some(attempt) = imported.job["attempt"].as_u64().filter(|&attempt| attempt > 1) {
            outcome.server_notes.push(format!(
                "import run {run}: the job succeeded on attempt {attempt} (it was retried, so its time includes the failed attempts): {}",
                imported.job
            ));
        }
        if run == 1 {
            result.first_job = Some(imported.job.clone());
            let (files, bytes, git) = {
                let workspace = workspace.clone();
                tokio::task::spawn_blocking(move || count_files(&workspace, true)).await??
            };
            result.verification = Some(Verification {
                workspace_files: files,
                workspace_bytes: bytes,
                workspace_has_git_folder: git,
                archive_files: info.files,
                archive_bytes: info.uncompressed_bytes,
                tar_extracted_files: 0,
                files_agree: files == info.files,
                bytes_agree: bytes == info.uncompressed_bytes,
            });
            if files != info.files {
                outcome.failures.push(format!(
                    "import: the workspace holds {files} files ({bytes} bytes), the archive {} ({} bytes)",
                    info.files, info.uncompressed_bytes
                ));
            }
            eprintln!("    verified: the workspace holds {files} files, {bytes} bytes (archive: {})", info.files);
            for leftover in [".uploads", ".staging"] {
                let folder = workspaces.join(leftover);
                let left = std::fs::read_dir(&folder).map(Iterator::count).unwrap_or(0);
                if left > 0 {
                    outcome.server_notes.push(format!(
                        "after a succeeded import, {left} entr(ies) remain in <data>/workspaces/{leftover}"
                    ));
                }
            }
        }
        // Deleted after the last run: see NO_DELETES.
        projects.push(project);
        result.dockyard_runs.push(imported.run);

        sync_fs(temp).await;
        let target = temp.join(format!("extract-{run}"));
        std::fs::create_dir_all(&target)?;
        let started = Instant::now();
        let mut command = Command::new(&args.tar);
        command.arg("-xzf").arg(archive).arg("-C").arg(&target);
        run_checked(command, "tar -xzf").await?;
        let tar_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        sync_fs(&target).await;
        let sync_s = started.elapsed().as_secs_f64();
        eprintln!(
            "--> tar run {run}: {tar_s:.2} s ({:.1} MB/s compressed), sync -f {sync_s:.2} s",
            info.compressed_bytes as f64 / MB / tar_s
        );
        if run == 1 {
            let (files, _, _) = {
                let target = target.clone();
                tokio::task::spawn_blocking(move || count_files(&target, false)).await??
            };
            if let Some(verification) = result.verification.as_mut() {
                verification.tar_extracted_files = files;
            }
            if files != info.files {
                outcome.failures.push(format!("tar extracted {files} files, the archive lists {}", info.files));
            }
        }
        result.tar_runs.push(TarRun {
            run,
            tar_s: round(tar_s, 3),
            sync_s: round(sync_s, 3),
            mb_s_compressed: round(info.compressed_bytes as f64 / MB / tar_s, 1),
            mb_s_uncompressed: round(info.uncompressed_bytes as f64 / MB / tar_s, 1),
        });
        // The extracted tree stays until the temp dir goes: see NO_DELETES.
    }
    eprintln!("==> deleting the imported projects");
    for (project, run) in projects.iter().zip(result.dockyard_runs.iter_mut()) {
        let started = Instant::now();
        let deleted =
            client::call(Method::DELETE, &server.url(&format!("/api/v1/projects/{project}")), &session.browser(), None)
                .await?;
        run.delete_s = round(started.elapsed().as_secs_f64(), 3);
        if deleted.status != StatusCode::NO_CONTENT {
            outcome.server_notes.push(format!(
                "DELETE /api/v1/projects/{{p}} of an imported project answered {}: {}",
                deleted.status,
                deleted.text()
            ));
        } else if workspaces.join(project).exists() {
            outcome.server_notes.push(
                "DELETE /api/v1/projects/{p} answered 204 but the workspace folder <data>/workspaces/{p} still exists"
                    .to_owned(),
            );
        }
    }
    let runs = &result.dockyard_runs;
    let pick = |get: fn(&ImportRun) -> f64| round(median(&runs.iter().map(get).collect::<Vec<_>>()), 3);
    let server_times: Option<Vec<f64>> = runs.iter().map(|run| run.job_server_s).collect();
    let dockyard = ImportMedians {
        upload_s: pick(|run| run.upload_s),
        job_wall_s: pick(|run| run.job_wall_s),
        job_server_s: server_times.map(|times| round(median(&times), 3)),
        total_s: pick(|run| run.total_s),
        mb_s_compressed: round(info.compressed_bytes as f64 / MB / pick(|run| run.total_s), 1),
        mb_s_uncompressed: round(info.uncompressed_bytes as f64 / MB / pick(|run| run.total_s), 1),
    };
    let tar_runs = &result.tar_runs;
    let tar_s = median(&tar_runs.iter().map(|run| run.tar_s).collect::<Vec<_>>());
    let tar_sync_s = median(&tar_runs.iter().map(|run| run.tar_s + run.sync_s).collect::<Vec<_>>());
    let tar = TarMedians {
        tar_s: round(tar_s, 3),
        tar_plus_sync_s: round(tar_sync_s, 3),
        mb_s_compressed: round(info.compressed_bytes as f64 / MB / tar_s, 1),
        mb_s_uncompressed: round(info.uncompressed_bytes as f64 / MB / tar_s, 1),
    };
    result.ratio_vs_tar = (tar_s > 0.0).then(|| round(dockyard.total_s / tar_s, 2));
    result.ratio_vs_tar_sync = (tar_sync_s > 0.0).then(|| round(dockyard.total_s / tar_sync_s, 2));
    result.dockyard = Some(dockyard);
    result.tar = Some(tar);
    Ok(result)
}

struct Imported {
    run: ImportRun,
    project: String,
    job: serde_json::Value,
}

/// One import: the archive streamed as multipart, then the job polled to its end.
async fn import_once(
    server: &ChildServer,
    session: &Session,
    archive: &Path,
    info: &ArchiveInfo,
    run: usize,
) -> anyhow::Result<Imported> {
    let name = format!("Import bench {run}");
    let path = format!("/api/v1/orgs/{}/projects/import", session.org);
    let target = Target::parse(&server.url(&path))?;
    let prefix = format!(
        "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{name}\r\n\
         --{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"tree.tar.gz\"\r\n\
         Content-Type: application/gzip\r\n\r\n"
    );
    let suffix = format!("\r\n--{MULTIPART_BOUNDARY}--\r\n");
    let file_size = std::fs::metadata(archive)?.len();
    let length = prefix.len() as u64 + file_size + suffix.len() as u64;

    let started = Instant::now();
    let body = FileBody::stream(archive.to_path_buf(), Bytes::from(prefix), Bytes::from(suffix), length);
    let answer = tokio::time::timeout(IMPORT_TIMEOUT, async {
        let stream = TcpStream::connect(target.address).await?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) = http1::handshake::<_, FileBody>(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = Request::builder()
            .method(Method::POST)
            .uri(target.path_and_query.as_str())
            .header(HOST, target.authority.as_str())
            .header(AUTHORIZATION, session.bearer.as_str())
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}"))
            .header(CONTENT_LENGTH, length)
            .body(body)?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok::<_, anyhow::Error>((status, bytes))
    })
    .await
    .context("the upload got no answer in time")??;
    let upload_s = started.elapsed().as_secs_f64();
    let (status, bytes) = answer;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if status != StatusCode::ACCEPTED {
        bail!(
            "POST {path} (multipart: name={name:?}, archive=tree.tar.gz of {file_size} bytes): expected 202, got {status}: {text}"
        );
    }
    let accepted: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("the import answer is not JSON: {text}"))?;
    let job_id = accepted["job_id"].as_str().with_context(|| format!("the import answer has no job_id: {text}"))?;
    let project =
        accepted["project_id"].as_str().with_context(|| format!("the import answer has no project_id: {text}"))?;
    let job_url = accepted["job_url"].as_str().map_or_else(|| format!("/api/v1/jobs/{job_id}"), str::to_owned);

    let accepted_at = Instant::now();
    let mut polls = 0;
    let job = loop {
        if accepted_at.elapsed() > IMPORT_TIMEOUT {
            bail!("the import job {job_id} did not finish within {} s", IMPORT_TIMEOUT.as_secs());
        }
        polls += 1;
        let answer = client::call(Method::GET, &server.url(&job_url), &[("authorization", &session.bearer)], None)
            .await?
            .expect(StatusCode::OK, &format!("GET {job_url}"))?;
        let job = answer.json()?;
        match job["status"].as_str().or_else(|| job["state"].as_str()) {
            Some("succeeded") => break job,
            Some("failed" | "canceled" | "cancelled") => {
                bail!("the import job failed (GET {job_url} answered {job})")
            }
            Some("queued" | "running") => {}
            _ => bail!("GET {job_url} answered a job without a known status: {job}"),
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    let done = Instant::now();
    let job_wall_s = done.duration_since(accepted_at).as_secs_f64();
    let total_s = done.duration_since(started).as_secs_f64();
    let started_at = timestamp_ms(&job["started_at"]);
    let job_server_s = match (started_at, timestamp_ms(&job["finished_at"])) {
        (Some(start), Some(end)) => Some(round((end - start) / 1000.0, 3)),
        _ => None,
    };
    let job_queued_s = match (timestamp_ms(&job["created_at"]), started_at) {
        (Some(created), Some(start)) => Some(round((start - created) / 1000.0, 3)),
        _ => None,
    };
    Ok(Imported {
        run: ImportRun {
            run,
            upload_s: round(upload_s, 3),
            job_wall_s: round(job_wall_s, 3),
            job_server_s,
            job_queued_s,
            total_s: round(total_s, 3),
            mb_s_compressed: round(info.compressed_bytes as f64 / MB / total_s, 1),
            mb_s_uncompressed: round(info.uncompressed_bytes as f64 / MB / total_s, 1),
            polls,
            delete_s: 0.0,
        },
        project: project.to_owned(),
        job,
    })
}

/// A timestamp as epoch milliseconds: an RFC 3339 string or a number of milliseconds.
fn timestamp_ms(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(number) => number.as_f64(),
        serde_json::Value::String(text) => {
            chrono::DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_micros() as f64 / 1000.0)
        }
        _ => None,
    }
}

/// A request body that streams a file from disk between a prefix and a suffix:
/// a blocking thread reads it in chunks into a small channel, so at most a few
/// chunks are ever in memory.
struct FileBody {
    chunks: mpsc::Receiver<std::io::Result<Bytes>>,
    length: u64,
}

impl FileBody {
    fn stream(path: PathBuf, prefix: Bytes, suffix: Bytes, length: u64) -> Self {
        let (sender, chunks) = mpsc::channel(8);
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            if sender.blocking_send(Ok(prefix)).is_err() {
                return;
            }
            let mut file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            };
            loop {
                let mut buffer = vec![0u8; CHUNK];
                match file.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(read) => {
                        buffer.truncate(read);
                        if sender.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                            return;
                        }
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        let _ = sender.blocking_send(Err(error));
                        return;
                    }
                }
            }
            let _ = sender.blocking_send(Ok(suffix));
        });
        Self { chunks, length }
    }
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.get_mut().chunks.poll_recv(cx).map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.length)
    }
}

/// `sync -f` on the file system holding `path`, so that a run does not pay for the
/// previous one's dirty pages. Failures only warn.
async fn sync_fs(path: &Path) {
    let status = Command::new("sync").arg("-f").arg(path).stdin(Stdio::null()).status().await;
    if !matches!(status, Ok(status) if status.success()) {
        eprintln!("warning: sync -f {} failed: {status:?}", path.display());
    }
}

/// Regular files (and links) under `root` and their bytes; with `skip_git`, a
/// top-level `.git` folder is left out (and reported).
fn count_files(root: &Path, skip_git: bool) -> anyhow::Result<(u64, u64, bool)> {
    let (mut files, mut bytes, mut git) = (0, 0, false);
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if skip_git && dir == root && entry.file_name() == ".git" {
                    git = true;
                    continue;
                }
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((files, bytes, git))
}

// ---------------------------------------------------------------------------
// File writes.

async fn bench_writes(
    args: &WorkspaceArgs,
    server: &ChildServer,
    session: &Session,
    temp: &Path,
    outcome: &mut Outcome,
) -> anyhow::Result<Vec<WriteCase>> {
    let created = client::call(
        Method::POST,
        &server.url(&format!("/api/v1/orgs/{}/projects", session.org)),
        &session.browser(),
        Some(&json!({ "name": "Write bench" })),
    )
    .await?
    .expect(StatusCode::CREATED, "create a project")?;
    let project = created.json()?["id"].as_str().context("the project answer has no id")?.to_owned();
    // Written files stay until the temp dir goes: see NO_DELETES.
    let direct_root = temp.join("direct");
    let mut cases = Vec::new();
    for size in WRITE_SIZES {
        let mut rng = Rng::new(args.seed ^ size as u64);
        let mut template = Vec::with_capacity(size);
        fill_code(&mut rng, &mut template, size, "rs");
        let template = Arc::new(template);
        for kind in [WriteKind::New, WriteKind::Overwrite] {
            for connections in [1, args.concurrency] {
                let spec = CaseSpec { size, kind, connections, writes: args.writes };
                eprintln!("==> writes: {} ({} timed per side, {ROUNDS} alternating rounds)", spec.label(), spec.writes);
                let root = direct_root.join(spec.folder());
                let (dockyard, direct) = measure_case(server, session, &project, spec, &template, &root).await;
                let dockyard = dockyard
                    .map_err(|error| {
                        eprintln!("error: {}: {error:#}", spec.label());
                        outcome.failures.push(format!("writes {}: {error:#}", spec.label()));
                        outcome.server_notes.push(format!("writes {}: {error:#}", spec.label()));
                    })
                    .ok();
                let direct = direct
                    .map_err(|error| {
                        eprintln!("error: direct writes {}: {error:#}", spec.label());
                        outcome.failures.push(format!("direct writes {}: {error:#}", spec.label()));
                    })
                    .ok();
                let ratio = |a: f64, b: f64| (b > 0.0).then(|| round(a / b, 2));
                let both = dockyard.as_ref().zip(direct.as_ref());
                let case = WriteCase {
                    size_bytes: size,
                    kind: kind.name(),
                    connections,
                    p50_ratio: both.and_then(|(d, p)| ratio(d.p50_ms, p.p50_ms)),
                    p99_ratio: both.and_then(|(d, p)| ratio(d.p99_ms, p.p99_ms)),
                    throughput_ratio: both.and_then(|(d, p)| ratio(p.writes_per_s, d.writes_per_s)),
                    dockyard,
                    direct,
                };
                print_case(&case);
                cases.push(case);
            }
        }
    }
    Ok(cases)
}

/// One write case, both sides, in `ROUNDS` rounds that alternate which side goes
/// first, so that drift in the machine's load hits both alike.
async fn measure_case(
    server: &ChildServer,
    session: &Session,
    project: &str,
    spec: CaseSpec,
    template: &Arc<Vec<u8>>,
    direct_root: &Path,
) -> (anyhow::Result<WriteStats>, anyhow::Result<WriteStats>) {
    let mut api = ApiWriters::start(server, session, project, spec, template.clone()).await;
    let (mut api_latencies, mut api_seconds, mut api_error) = (Vec::new(), 0.0, None);
    let (mut direct_latencies, mut direct_seconds, mut direct_error) = (Vec::new(), 0.0, None);
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 { [true, false] } else { [false, true] };
        for api_side in order {
            if api_side {
                let Ok(writers) = api.as_mut() else { continue };
                if api_error.is_some() {
                    continue;
                }
                match writers.round().await {
                    Ok((latencies, seconds)) => {
                        api_latencies.extend(latencies);
                        api_seconds += seconds;
                    }
                    Err(error) => api_error = Some(error),
                }
            } else if direct_error.is_none() {
                let (root, template) = (direct_root.to_path_buf(), template.clone());
                let outcome = tokio::task::spawn_blocking(move || direct_round(&root, spec, &template, round))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|outcome| outcome);
                match outcome {
                    Ok((latencies, seconds)) => {
                        direct_latencies.extend(latencies);
                        direct_seconds += seconds;
                    }
                    Err(error) => direct_error = Some(error),
                }
            }
        }
    }
    let api = match api {
        Ok(writers) => {
            writers.finish().await;
            match api_error {
                Some(error) => Err(error),
                None => Ok(stats(api_latencies, api_seconds)),
            }
        }
        Err(error) => Err(error),
    };
    let direct = match direct_error {
        Some(error) => Err(error),
        None => Ok(stats(direct_latencies, direct_seconds)),
    };
    (api, direct)
}

fn print_case(case: &WriteCase) {
    let show = |stats: &Option<WriteStats>| {
        stats.as_ref().map_or_else(
            || "failed".to_owned(),
            |s| {
                format!(
                    "p50 {:.2} ms, p90 {:.2}, p99 {:.2}, max {:.2}, {:.0} writes/s",
                    s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.writes_per_s
                )
            },
        )
    };
    eprintln!("    dockyard: {}", show(&case.dockyard));
    eprintln!("    direct:   {}", show(&case.direct));
}

/// Latencies in microseconds and the seconds they were measured over.
fn stats(mut latencies_us: Vec<u32>, seconds: f64) -> WriteStats {
    latencies_us.sort_unstable();
    let writes = latencies_us.len();
    WriteStats {
        writes,
        seconds: round(seconds, 3),
        writes_per_s: if seconds > 0.0 { round(writes as f64 / seconds, 1) } else { 0.0 },
        p50_ms: percentile_ms(&latencies_us, 50.0),
        p90_ms: percentile_ms(&latencies_us, 90.0),
        p99_ms: percentile_ms(&latencies_us, 99.0),
        max_ms: latencies_us.last().map_or(0.0, |&us| round(f64::from(us) / 1000.0, 3)),
    }
}

/// The nearest-rank percentile of sorted microsecond latencies, in milliseconds.
fn percentile_ms(sorted_us: &[u32], percent: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (percent / 100.0 * sorted_us.len() as f64).ceil() as usize;
    round(f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0, 3)
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

/// The template with its first line replaced by a counter, so every write differs.
fn body_for(template: &[u8], counter: u64) -> Vec<u8> {
    let mut body = template.to_vec();
    let stamp = format!("// write {counter:014}\n");
    let end = stamp.len().min(body.len());
    body[..end].copy_from_slice(&stamp.as_bytes()[..end]);
    body
}

/// A persistent connection that PUTs files.
struct Writer {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    bearer: HeaderValue,
    files_path: String,
}

impl Writer {
    async fn connect(server: &ChildServer, session: &Session, project: &str) -> anyhow::Result<Self> {
        let target = Target::parse(&server.url("/"))?;
        let stream = TcpStream::connect(target.address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            authority: target.authority,
            bearer: HeaderValue::from_str(&session.bearer)?,
            files_path: format!("/api/v1/projects/{project}/files/"),
        })
    }

    /// PUTs `body` at `path`, expecting `expected`; answers the new ETag.
    async fn put(
        &mut self,
        path: &str,
        body: Vec<u8>,
        if_match: Option<&str>,
        expected: StatusCode,
    ) -> anyhow::Result<String> {
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri(format!("{}{path}", self.files_path))
            .header(HOST, self.authority.as_str())
            .header(AUTHORIZATION, self.bearer.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(Bytes::from(body)))?;
        if let Some(tag) = if_match {
            request.headers_mut().insert(IF_MATCH, HeaderValue::from_str(tag)?);
        }
        let (status, etag, answer) = tokio::time::timeout(WRITE_TIMEOUT, async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status();
            let etag = response.headers().get(ETAG).and_then(|value| value.to_str().ok()).map(str::to_owned);
            let answer = response.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((status, etag, answer))
        })
        .await
        .with_context(|| format!("PUT …/files/{path}: no answer within {} s", WRITE_TIMEOUT.as_secs()))??;
        let request_text = match if_match {
            Some(tag) => format!("PUT /api/v1/projects/{{p}}/files/{path} (If-Match: {tag})"),
            None => format!("PUT /api/v1/projects/{{p}}/files/{path}"),
        };
        if status != expected {
            bail!("{request_text}: expected {expected}, got {status}: {}", String::from_utf8_lossy(&answer));
        }
        etag.with_context(|| format!("{request_text}: the {status} answer has no ETag"))
    }
}

/// The API side of a write case: one task per connection, each with its own
/// files, set up (untimed) once and then released round by round.
struct ApiWriters {
    /// Releases a round (the tasks and this coordinator).
    go: Arc<tokio::sync::Barrier>,
    /// Ends a round.
    done: Arc<tokio::sync::Barrier>,
    stop: Arc<AtomicBool>,
    /// Each task's outcome of each round.
    results: mpsc::UnboundedReceiver<anyhow::Result<Vec<u32>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ApiWriters {
    async fn start(
        server: &ChildServer,
        session: &Session,
        project: &str,
        spec: CaseSpec,
        template: Arc<Vec<u8>>,
    ) -> anyhow::Result<Self> {
        // Connect them all before any task starts, so a failure leaves no task waiting.
        let mut writers = Vec::new();
        for _ in 0..spec.connections {
            writers.push(Writer::connect(server, session, project).await?);
        }
        let go = Arc::new(tokio::sync::Barrier::new(spec.connections + 1));
        let done = Arc::new(tokio::sync::Barrier::new(spec.connections + 1));
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, results) = mpsc::unbounded_channel();
        let tasks = writers
            .into_iter()
            .enumerate()
            .map(|(k, writer)| {
                let task = WriterTask {
                    writer,
                    k,
                    spec,
                    template: template.clone(),
                    go: go.clone(),
                    done: done.clone(),
                    stop: stop.clone(),
                    results: sender.clone(),
                };
                tokio::spawn(task.run())
            })
            .collect();
        Ok(Self { go, done, stop, results, tasks })
    }

    /// Runs the next round: answers its latencies and its wall time.
    async fn round(&mut self) -> anyhow::Result<(Vec<u32>, f64)> {
        self.go.wait().await;
        let started = Instant::now();
        self.done.wait().await;
        let seconds = started.elapsed().as_secs_f64();
        let mut latencies = Vec::new();
        for _ in 0..self.tasks.len() {
            match self.results.recv().await {
                Some(outcome) => latencies.extend(outcome?),
                None => bail!("a writer task ended early"),
            }
        }
        Ok((latencies, seconds))
    }

    /// Ends the tasks.
    async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.go.wait().await;
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One connection of the API side.
struct WriterTask {
    writer: Writer,
    k: usize,
    spec: CaseSpec,
    template: Arc<Vec<u8>>,
    go: Arc<tokio::sync::Barrier>,
    done: Arc<tokio::sync::Barrier>,
    stop: Arc<AtomicBool>,
    results: mpsc::UnboundedSender<anyhow::Result<Vec<u32>>>,
}

impl WriterTask {
    async fn run(mut self) {
        let folder = format!("{}/conn{}", self.spec.folder(), self.k);
        let mut counter = (self.k as u64) << 40;
        let setup = self.setup(&folder, &mut counter).await;
        let mut pool = match setup {
            Ok(pool) => Ok(pool),
            Err(error) => Err(format!("{error:#}")),
        };
        for round in 0.. {
            self.go.wait().await;
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let outcome = match pool.as_mut() {
                Ok(pool) => self.timed(&folder, pool, &mut counter, round).await,
                Err(error) => Err(anyhow::anyhow!("{error}")),
            };
            let _ = self.results.send(outcome);
            self.done.wait().await;
        }
    }

    fn body(&self, counter: &mut u64) -> Vec<u8> {
        *counter += 1;
        body_for(&self.template, *counter)
    }

    /// Untimed: the files the overwrites cycle through, and the warm-up writes.
    async fn setup(&mut self, folder: &str, counter: &mut u64) -> anyhow::Result<Vec<(String, String)>> {
        let mut pool = Vec::new();
        if self.spec.kind == WriteKind::Overwrite {
            for j in 0..OVERWRITE_POOL {
                let path = format!("{folder}/pool{j:03}.rs");
                let body = self.body(counter);
                let etag = self.writer.put(&path, body, None, StatusCode::CREATED).await?;
                pool.push((path, etag));
            }
        }
        for j in 0..self.spec.warmups_of() {
            let body = self.body(counter);
            match self.spec.kind {
                WriteKind::New => {
                    self.writer.put(&format!("{folder}/warm{j:03}.rs"), body, None, StatusCode::CREATED).await?;
                }
                WriteKind::Overwrite => {
                    let slot = j % pool.len();
                    let (path, etag) = &pool[slot];
                    let etag = self.writer.put(path, body, Some(etag), StatusCode::OK).await?;
                    pool[slot].1 = etag;
                }
            }
        }
        Ok(pool)
    }

    /// This connection's timed writes of one round.
    async fn timed(
        &mut self,
        folder: &str,
        pool: &mut [(String, String)],
        counter: &mut u64,
        round: usize,
    ) -> anyhow::Result<Vec<u32>> {
        let range = self.spec.round_range(self.k, round);
        let mut latencies_us = Vec::with_capacity(range.len());
        for i in range {
            let body = self.body(counter);
            let begun = Instant::now();
            match self.spec.kind {
                WriteKind::New => {
                    self.writer.put(&format!("{folder}/f{i:05}.rs"), body, None, StatusCode::CREATED).await?;
                }
                WriteKind::Overwrite => {
                    let slot = i % pool.len();
                    let (path, etag) = &pool[slot];
                    let etag = self.writer.put(path, body, Some(etag), StatusCode::OK).await?;
                    pool[slot].1 = etag;
                }
            }
            latencies_us.push(micros(begun.elapsed()));
        }
        Ok(latencies_us)
    }
}

/// One round of the direct side: one thread per connection, each in its own
/// folder under `root` (set up, untimed, in round 0); answers the latencies and
/// the round's wall time (from the threads' common start to the last one's end).
fn direct_round(root: &Path, spec: CaseSpec, template: &[u8], round: usize) -> anyhow::Result<(Vec<u32>, f64)> {
    let barrier = std::sync::Barrier::new(spec.connections);
    let spans = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..spec.connections)
            .map(|k| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let folder = root.join(format!("t{k}"));
                    let mut counter = ((k as u64) << 40) | ((round as u64) << 32);
                    let mut write = |path: &Path| {
                        counter += 1;
                        write_atomically(&folder, path, &body_for(template, counter), counter)
                    };
                    // Everyone reaches the barrier, even after a failed setup.
                    let setup = if round == 0 { direct_setup(&folder, spec, &mut write) } else { Ok(()) };
                    let pool = pool_paths(&folder, spec);
                    barrier.wait();
                    setup?;
                    let range = spec.round_range(k, round);
                    let mut latencies_us = Vec::with_capacity(range.len());
                    let started = Instant::now();
                    for i in range {
                        let begun = Instant::now();
                        match spec.kind {
                            WriteKind::New => write(&folder.join(format!("f{i:05}.rs")))?,
                            WriteKind::Overwrite => write(&pool[i % pool.len()])?,
                        }
                        latencies_us.push(micros(begun.elapsed()));
                    }
                    Ok::<_, std::io::Error>((latencies_us, started, Instant::now()))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| -> anyhow::Result<(Vec<u32>, Instant, Instant)> {
                Ok(thread.join().map_err(|_| anyhow::anyhow!("a writer thread panicked"))??)
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let started = spans.iter().map(|span| span.1).min();
    let finished = spans.iter().map(|span| span.2).max();
    let seconds = match (started, finished) {
        (Some(started), Some(finished)) => finished.duration_since(started).as_secs_f64(),
        _ => 0.0,
    };
    Ok((spans.into_iter().flat_map(|span| span.0).collect(), seconds))
}

/// The files a direct writer's overwrites cycle through.
fn pool_paths(folder: &Path, spec: CaseSpec) -> Vec<PathBuf> {
    match spec.kind {
        WriteKind::New => Vec::new(),
        WriteKind::Overwrite => (0..OVERWRITE_POOL).map(|j| folder.join(format!("pool{j:03}.rs"))).collect(),
    }
}

/// A direct writer's untimed setup: its folder, the overwrite pool, the warm-up writes.
fn direct_setup(
    folder: &Path,
    spec: CaseSpec,
    write: &mut impl FnMut(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    let pool = pool_paths(folder, spec);
    for path in &pool {
        write(path)?;
    }
    for j in 0..spec.warmups_of() {
        match spec.kind {
            WriteKind::New => write(&folder.join(format!("warm{j:03}.rs")))?,
            WriteKind::Overwrite => write(&pool[j % pool.len()])?,
        }
    }
    Ok(())
}

/// Dockyard's durability, without Dockyard: a temporary file in the same folder,
/// written, fsynced and renamed over the target, then the folder fsynced.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8], temp: u64) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = dir.join(format!(".bench-tmp-{temp}"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, target)?;
    std::fs::File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------
// The report.

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn markdown(document: &Document) -> String {
    let unknown = || "unknown".to_owned();
    let built_from = match (&document.git_commit, document.git_worktree_dirty) {
        (Some(commit), Some(true)) => format!("{commit} plus uncommitted changes in the working tree"),
        (Some(commit), _) => commit.clone(),
        (None, _) => "an unknown commit".to_owned(),
    };
    let mut text = format!(
        "{}, {} built from {built_from}, on SQLite (release build), on the same machine and disk as the peers. \
         Machine: {} CPUs ({}), load average {} at the start and {} at the end (1, 5, 15 min).\n",
        document.date,
        document.dockyard_version,
        document.machine["nproc"],
        document.machine["cpu_model"].as_str().unwrap_or("unknown CPU"),
        document.loadavg_start.clone().unwrap_or_else(unknown),
        document.loadavg_end.clone().unwrap_or_else(unknown),
    );
    if let Some(archive) = &document.archive {
        text.push_str(&format!(
            "\nArchive: {} files ({} text, {:.0} MB; {} binary, {:.0} MB) in {} folders: {:.1} MB uncompressed \
             ({:.1} MB as tar), {:.1} MB as tar.gz ({}).\n",
            archive.files,
            archive.text_files,
            archive.text_bytes as f64 / MB,
            archive.binary_files,
            archive.binary_bytes as f64 / MB,
            archive.dirs,
            archive.uncompressed_bytes as f64 / MB,
            archive.tar_bytes as f64 / MB,
            archive.compressed_bytes as f64 / MB,
            archive.compression,
        ));
    }
    if let (Some(import), Some(archive)) = (&document.import, &document.archive) {
        text.push_str(&import_table(import, archive));
    }
    if !document.writes.is_empty() {
        text.push_str(&writes_table(&document.writes));
    }
    if !document.server_notes.is_empty() {
        text.push_str("\nServer notes:\n\n");
        for note in &document.server_notes {
            text.push_str(&format!("- {note}\n"));
        }
    }
    if !document.failures.is_empty() {
        text.push_str("\nFailed checks:\n\n");
        for failure in &document.failures {
            text.push_str(&format!("- {failure}\n"));
        }
    }
    text
}

fn import_table(import: &ImportResult, archive: &ArchiveInfo) -> String {
    let mut text = format!(
        "\nImport through the API against `tar -xzf` of the same file, median of {} runs each, alternating \
         (fresh project each run, deleted afterwards):\n\n\
         | side | upload s | job s (server) | job s (wall) | total s | MB/s compressed | MB/s uncompressed | vs tar |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        import.dockyard_runs.len()
    );
    if let Some(d) = &import.dockyard {
        text.push_str(&format!(
            "| Dockyard import | {:.2} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {} |\n",
            d.upload_s,
            d.job_server_s.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2}")),
            d.job_wall_s,
            d.total_s,
            d.mb_s_compressed,
            d.mb_s_uncompressed,
            import.ratio_vs_tar.map_or_else(|| "n/a".to_owned(), |ratio| format!("{ratio:.2}×")),
        ));
    }
    if let Some(t) = &import.tar {
        text.push_str(&format!(
            "| `tar -xzf` | – | – | – | {:.2} | {:.1} | {:.1} | 1.00× |\n",
            t.tar_s, t.mb_s_compressed, t.mb_s_uncompressed
        ));
        text.push_str(&format!(
            "| `tar -xzf` + `sync -f` | – | – | – | {:.2} | {:.1} | {:.1} | {:.2}× |\n",
            t.tar_plus_sync_s,
            archive.compressed_bytes as f64 / MB / t.tar_plus_sync_s,
            archive.uncompressed_bytes as f64 / MB / t.tar_plus_sync_s,
            t.tar_plus_sync_s / t.tar_s,
        ));
    }
    if let (Some(ratio), Some(sync_ratio)) = (import.ratio_vs_tar, import.ratio_vs_tar_sync) {
        text.push_str(&format!(
            "\nDockyard/tar: {ratio:.2}× tar's wall time ({sync_ratio:.2}× tar + sync). Total = from the first byte \
             of the upload until a poll (every {poll} ms) saw `succeeded`; upload = until the 202; job (server) = the job's \
             `finished_at - started_at`. Dockyard fsyncs what it writes; plain `tar -xzf` does not, hence the \
             `sync -f` row (which flushes the whole file system, so it is noisy on a shared machine).\n",
            poll = POLL_INTERVAL.as_millis()
        ));
    }
    text.push_str("\nRuns (s): ");
    let runs: Vec<String> = import
        .dockyard_runs
        .iter()
        .zip(&import.tar_runs)
        .map(|(d, t)| {
            format!(
                "#{}: Dockyard {:.2} (upload {:.2} + job {:.2}), tar {:.2} (+ sync {:.2})",
                d.run, d.total_s, d.upload_s, d.job_wall_s, t.tar_s, t.sync_s
            )
        })
        .collect();
    text.push_str(&runs.join("; "));
    text.push_str(".\n");
    if let Some(v) = &import.verification {
        text.push_str(&format!(
            "\nCorrectness (first run): the workspace holds {} files, {} bytes; the archive {} files, {} bytes; \
             `tar -xzf` extracted {} files: {}.{}\n",
            v.workspace_files,
            v.workspace_bytes,
            v.archive_files,
            v.archive_bytes,
            v.tar_extracted_files,
            if v.files_agree && v.bytes_agree { "agree" } else { "DIFFER" },
            if v.workspace_has_git_folder { " (The workspace also has a `.git` folder, not counted.)" } else { "" },
        ));
    }
    text
}

fn writes_table(cases: &[WriteCase]) -> String {
    let mut text = String::from(
        "\nFile writes: PUT /api/v1/projects/{p}/files/{path} (bearer token, persistent connections, each with its \
         own files) against the same writes made directly by the bench process with the same durability (temp \
         file, write, fsync, rename, fsync the folder; one thread per connection). Latencies in ms.\n\n\
         | size | write | conns | writes | p50 | p90 | p99 | max | writes/s | direct p50 | direct p99 | direct writes/s | p50 ×direct | p99 ×direct | writes/s ÷ |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let or_na =
        |value: Option<f64>, digits: usize| value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.digits$}"));
    for case in cases {
        let d = case.dockyard.as_ref();
        let p = case.direct.as_ref();
        text.push_str(&format!(
            "| {} KiB | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            case.size_bytes / 1024,
            case.kind,
            case.connections,
            d.map_or(0, |d| d.writes),
            or_na(d.map(|d| d.p50_ms), 2),
            or_na(d.map(|d| d.p90_ms), 2),
            or_na(d.map(|d| d.p99_ms), 2),
            or_na(d.map(|d| d.max_ms), 2),
            or_na(d.map(|d| d.writes_per_s), 0),
            or_na(p.map(|p| p.p50_ms), 2),
            or_na(p.map(|p| p.p99_ms), 2),
            or_na(p.map(|p| p.writes_per_s), 0),
            or_na(case.p50_ratio, 2),
            or_na(case.p99_ratio, 2),
            or_na(case.throughput_ratio, 2),
        ));
    }
    text.push_str(
        "\np50/p99 ×direct: Dockyard's latency over the direct write's; writes/s ÷: the direct writes/s over \
         Dockyard's (both > 1 when Dockyard is slower).\n",
    );
    text
}

// ---------------------------------------------------------------------------
// The source tree.

/// SplitMix64: small, fast and good enough for text.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut rng = Self(seed);
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0; the bias is negligible here).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// Uniform in `low..high`.
    fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low)
    }
}

/// Folders of the tree and the file types in each.
const AREAS: &[(&str, &[&str])] = &[
    ("src", &["rs", "rs", "rs", "toml"]),
    ("crates/core/src", &["rs"]),
    ("crates/cli/src", &["rs"]),
    ("web/src/components", &["tsx", "tsx", "ts", "css"]),
    ("web/src/lib", &["ts", "js", "json"]),
    ("services/api", &["go", "go", "yaml"]),
    ("services/worker", &["py", "py", "txt"]),
    ("docs", &["md"]),
    ("tests", &["rs", "py", "json"]),
    ("scripts", &["sh", "py"]),
    ("config", &["yaml", "json", "toml"]),
];

const WORDS: &[&str] = &[
    "value", "data", "result", "error", "string", "index", "buffer", "config", "server", "client", "request",
    "response", "handler", "option", "state", "context", "session", "user", "project", "file", "path", "name", "size",
    "count", "offset", "line", "range", "start", "end", "open", "close", "read", "write", "parse", "format", "build",
    "create", "delete", "update", "insert", "remove", "find", "search", "filter", "sort", "split", "join", "token",
    "member", "role", "quota", "limit", "timeout", "retry", "metric", "cache", "store", "blob", "chunk", "digest",
    "layer", "volume", "network", "proxy", "route", "query", "cursor", "row", "batch", "commit", "version", "deploy",
    "image", "job", "queue", "worker", "event", "stream", "channel", "signal", "lock", "guard", "node", "tree",
    "graph", "edge", "entry", "key", "map", "list", "item", "page", "view", "model", "schema", "table", "column",
    "field", "record", "report", "summary", "status", "progress", "task",
];

const KEYWORDS: &[&str] = &[
    "let",
    "const",
    "fn",
    "pub",
    "return",
    "if",
    "else",
    "for",
    "while",
    "match",
    "impl",
    "struct",
    "use",
    "async",
    "await",
    "def",
    "self",
    "import",
    "from",
    "func",
    "var",
    "type",
    "interface",
    "export",
    "class",
    "new",
];

fn identifier(rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
    match rng.below(4) {
        0 => {}
        1 => {
            out.push(b'_');
            out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
        }
        2 => {
            let word = WORDS[rng.below(WORDS.len())].as_bytes();
            out.push(word[0].to_ascii_uppercase());
            out.extend_from_slice(&word[1..]);
        }
        _ => out.extend_from_slice(rng.below(100).to_string().as_bytes()),
    }
}

/// Source-like text of exactly `size` bytes, ending in a newline: indented
/// statements, calls, comments, string literals and closing braces.
fn fill_code(rng: &mut Rng, out: &mut Vec<u8>, size: usize, extension: &str) {
    let comment: &[u8] = match extension {
        "py" | "sh" | "yaml" | "toml" | "txt" => b"# ",
        "md" => b"",
        "css" => b"/* ",
        _ => b"// ",
    };
    let start = out.len();
    let mut depth = 0usize;
    while out.len() - start < size {
        out.extend(std::iter::repeat_n(b' ', depth * 4));
        match rng.below(12) {
            0 | 1 => {
                out.extend_from_slice(comment);
                for word in 0..rng.between(3, 12) {
                    if word > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
                }
            }
            2 => {}
            3..=5 => {
                out.extend_from_slice(KEYWORDS[rng.below(KEYWORDS.len())].as_bytes());
                out.push(b' ');
                identifier(rng, out);
                out.extend_from_slice(b" = ");
                identifier(rng, out);
                out.push(b'(');
                for argument in 0..rng.below(4) {
                    if argument > 0 {
                        out.extend_from_slice(b", ");
                    }
                    identifier(rng, out);
                }
                out.extend_from_slice(b");");
            }
            6 | 7 => {
                identifier(rng, out);
                for _ in 0..rng.between(1, 4) {
                    out.push(b'.');
                    identifier(rng, out);
                    out.extend_from_slice(b"()");
                }
                out.push(b';');
            }
            8 => {
                identifier(rng, out);
                out.extend_from_slice(b" = \"");
                for word in 0..rng.between(1, 6) {
                    if word > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
                }
                out.extend_from_slice(format!(" {}\";", rng.below(100_000)).as_bytes());
            }
            9 | 10 if depth < 5 => {
                out.extend_from_slice(KEYWORDS[rng.below(KEYWORDS.len())].as_bytes());
                out.push(b' ');
                identifier(rng, out);
                out.extend_from_slice(b" {");
                depth += 1;
            }
            _ => {
                depth = depth.saturating_sub(1);
                out.push(b'}');
            }
        }
        out.push(b'\n');
    }
    out.truncate(start + size);
    if let Some(last) = out.last_mut().filter(|_| size > 0) {
        *last = b'\n';
    }
}

/// What the generator wrote.
struct Corpus {
    text_files: u64,
    text_bytes: u64,
    binary_files: u64,
    binary_bytes: u64,
    dirs: u64,
}

/// The folder of text file `index`.
fn text_folder(index: usize) -> String {
    let dir = index / FILES_PER_DIR;
    let (area, _) = AREAS[dir % AREAS.len()];
    let n = dir / AREAS.len();
    format!("{area}/{}/{}_{n:03}", WORDS[(n / 7) % WORDS.len()], WORDS[(n * 31 + 3) % WORDS.len()])
}

/// A text file's size: mostly small, some medium, a few large ones.
fn text_size(rng: &mut Rng) -> usize {
    match rng.below(1000) {
        0..600 => rng.between(150, 4096),
        600..900 => rng.between(4096, 20_480),
        900..990 => rng.between(20_480, 65_536),
        _ => rng.between(65_536, 262_144),
    }
}

/// Writes the text files whose index is `worker` modulo `workers`; answers (files, bytes).
fn write_text_files(root: &Path, count: usize, seed: u64, worker: usize, workers: usize) -> anyhow::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    let mut buffer = Vec::with_capacity(256 * 1024);
    for index in (worker..count).step_by(workers) {
        let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let dir = index / FILES_PER_DIR;
        let (_, extensions) = AREAS[dir % AREAS.len()];
        let extension = extensions[rng.below(extensions.len())];
        let folder = root.join(text_folder(index));
        std::fs::create_dir_all(&folder)?;
        buffer.clear();
        let size = text_size(&mut rng);
        fill_code(&mut rng, &mut buffer, size, extension);
        let name = format!("{}_{index}.{extension}", WORDS[rng.below(WORDS.len())]);
        std::fs::write(folder.join(name), &buffer)?;
        files += 1;
        bytes += buffer.len() as u64;
    }
    Ok((files, bytes))
}

/// Incompressible files of 64 KB to 4 MB under `folder`, `bytes` in all (the last
/// one is cut to fit); answers (files, bytes).
fn write_binaries(root: &Path, folder: &str, first: u64, bytes: u64, seed: u64) -> anyhow::Result<(u64, u64)> {
    let kinds: [(&str, &[u8]); 4] =
        [("png", b"\x89PNG\r\n\x1a\n"), ("woff2", b"wOF2"), ("jar", b"PK\x03\x04"), ("so", b"\x7fELF\x02\x01\x01\0")];
    let dir = root.join(folder);
    std::fs::create_dir_all(&dir)?;
    let mut rng = Rng::new(seed);
    let (mut files, mut written) = (0u64, 0u64);
    let mut buffer = Vec::new();
    while written < bytes {
        let size = (rng.between(64 * 1024, 4 * 1024 * 1024) as u64).min(bytes - written).max(16) as usize;
        let (extension, magic) = kinds[rng.below(kinds.len())];
        buffer.clear();
        buffer.extend_from_slice(magic);
        while buffer.len() < size {
            buffer.extend_from_slice(&rng.next().to_le_bytes());
        }
        buffer.truncate(size);
        std::fs::write(dir.join(format!("blob_{:04}.{extension}", first + files)), &buffer)?;
        files += 1;
        written += size as u64;
    }
    Ok((files, written))
}

/// Generates the tree under `root`: `text_files` source files in nested folders
/// (plus a few top-level files), and `binary_bytes` of binary assets.
fn generate(root: &Path, text_files: usize, binary_bytes: u64, seed: u64) -> anyhow::Result<Corpus> {
    std::fs::create_dir_all(root)?;
    let workers = std::thread::available_parallelism().map_or(2, usize::from).clamp(1, 8);
    let (mut files, mut bytes) = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers)
            .map(|worker| scope.spawn(move || write_text_files(root, text_files, seed, worker, workers)))
            .collect();
        threads.into_iter().try_fold((0u64, 0u64), |acc, thread| {
            let (files, bytes) = thread.join().map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
            Ok::<_, anyhow::Error>((acc.0 + files, acc.1 + bytes))
        })
    })?;
    let mut rng = Rng::new(seed ^ 0x70b);
    for (name, extension, size) in [
        ("README.md", "md", 6000),
        ("Cargo.toml", "toml", 1500),
        ("package.json", "json", 1200),
        ("LICENSE", "txt", 11_000),
    ] {
        let mut buffer = Vec::new();
        fill_code(&mut rng, &mut buffer, size, extension);
        std::fs::write(root.join(name), &buffer)?;
        files += 1;
        bytes += buffer.len() as u64;
    }
    let ignore = b"/target/\nnode_modules/\n*.log\n.env\n";
    std::fs::write(root.join(".gitignore"), ignore)?;
    files += 1;
    bytes += ignore.len() as u64;
    // Binary assets: a few folders of them.
    let (mut binary_files, mut binary_written) = (0, 0);
    let folders = ["assets/img", "assets/fonts", "vendor/lib"];
    for (number, folder) in folders.iter().enumerate() {
        let share =
            binary_bytes / folders.len() as u64 + u64::from(number == 0) * (binary_bytes % folders.len() as u64);
        if share == 0 {
            continue;
        }
        let (count, size) = write_binaries(root, folder, binary_files, share, seed ^ (0xb1 + number as u64))?;
        binary_files += count;
        binary_written += size;
    }
    Ok(Corpus {
        text_files: files,
        text_bytes: bytes,
        binary_files,
        binary_bytes: binary_written,
        dirs: count_dirs(root)?,
    })
}

fn count_dirs(root: &Path) -> anyhow::Result<u64> {
    let mut dirs = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs += 1;
                pending.push(entry.path());
            }
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_text_has_the_exact_size_and_is_deterministic() {
        for size in [1, 100, 4096, 65_536] {
            let (mut first, mut second) = (Vec::new(), Vec::new());
            fill_code(&mut Rng::new(7), &mut first, size, "rs");
            fill_code(&mut Rng::new(7), &mut second, size, "rs");
            assert_eq!(first, second);
            assert_eq!(first.len(), size);
            assert_eq!(first.last(), Some(&b'\n'));
            assert!(std::str::from_utf8(&first).is_ok());
        }
    }

    #[test]
    fn writes_are_spread_over_the_connections() {
        let spec = CaseSpec { size: 4096, kind: WriteKind::New, connections: 8, writes: 2003 };
        let total: usize = (0..8).map(|k| spec.writes_of(k)).sum();
        assert_eq!(total, 2003);
        assert_eq!(spec.writes_of(0), 251);
        assert_eq!(spec.writes_of(7), 250);
    }

    #[test]
    fn every_write_gets_a_different_body_of_the_same_size() {
        let template = vec![b'x'; 4096];
        let (first, second) = (body_for(&template, 1), body_for(&template, 2));
        assert_eq!(first.len(), 4096);
        assert_ne!(first, second);
        assert!(first.starts_with(b"// write 00000000000001\n"));
    }

    #[test]
    fn timestamps_parse_from_rfc3339_and_milliseconds() {
        assert_eq!(timestamp_ms(&json!(1_700_000_000_123u64)), Some(1_700_000_000_123.0));
        assert_eq!(timestamp_ms(&json!("1970-01-01T00:00:01.500Z")), Some(1500.0));
        assert_eq!(timestamp_ms(&json!(null)), None);
    }

    #[test]
    fn stats_use_nearest_rank_percentiles() {
        let stats = stats((1..=100).rev().map(|ms| ms * 1000).collect(), 2.0);
        assert_eq!((stats.p50_ms, stats.p99_ms, stats.max_ms), (50.0, 99.0, 100.0));
        assert_eq!(stats.writes_per_s, 50.0);
    }

    #[test]
    fn rounds_cover_every_write_once() {
        let spec = CaseSpec { size: 4096, kind: WriteKind::New, connections: 8, writes: 2003 };
        for k in 0..8 {
            let indices: Vec<usize> = (0..ROUNDS).flat_map(|round| spec.round_range(k, round)).collect();
            assert_eq!(indices, (0..spec.writes_of(k)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn direct_writes_replace_the_file_atomically() {
        let dir = TempDir::new("dockyard-bench-workspace-test").expect("temp dir");
        let target = dir.0.join("file.rs");
        write_atomically(&dir.0, &target, b"one", 1).expect("write");
        write_atomically(&dir.0, &target, b"two", 2).expect("overwrite");
        assert_eq!(std::fs::read(&target).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(&dir.0).expect("list").count(), 1);
    }
}
