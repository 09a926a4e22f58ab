//! The file-index benchmark: GET /api/v1/projects/{p}/file-index (the quick-open
//! list) against `rg --files` on the same tree of 50,000 files.
//!
//! 1. `dockyard serve` on a fresh SQLite data dir (rate limits off, log level
//!    warn, a large file-count quota): setup, one project, a read token.
//! 2. The tree is generated straight into the project's workspace directory:
//!    `dirs` × `files_per_dir` small files in nested folders, plus a folder that
//!    `.gitignore` excludes and a hidden folder (neither listed by either side).
//! 3. One warm-up run per side, then `runs` alternating runs; wall clock each
//!    (the API until the whole JSON body is read, rg from spawn to exit), median
//!    and min. The path counts must agree.
//!
//! The numbers go to `bench/results/file-index.json` and `.md`. The target (the
//! index within 2× of `rg --files`, which neither sorts nor serialises) is
//! reported as PASS or MISS, never as a failure of the run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use tokio::process::Command;

use crate::client;
use crate::foundation::{ChildServer, TempDir, command_output, dockyard_binary, loadavg, machine_info, write_results};
use crate::load::round;

const TARGET_RATIO: f64 = 2.0;
const TARGET_TEXT: &str = "file index <= 2x rg --files wall time";
const IGNORED_DIR: &str = "build";
const HIDDEN_DIR: &str = ".cache";

#[derive(Args)]
pub struct FileIndexArgs {
    /// The `dockyard` binary. Default: the `dockyard` next to this binary.
    #[arg(long)]
    dockyard: Option<PathBuf>,
    /// The ripgrep binary.
    #[arg(long, default_value = "rg")]
    rg: PathBuf,
    /// Leaf folders of the generated tree.
    #[arg(long, default_value_t = 500)]
    dirs: usize,
    /// Files per leaf folder.
    #[arg(long, default_value_t = 100)]
    files_per_dir: usize,
    /// Measured runs per side, after one warm-up run.
    #[arg(long, default_value_t = 9)]
    runs: usize,
    /// The JSON file to write; a Markdown copy goes beside it.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
}

fn default_out() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).join("bench/results/file-index.json")
}

#[derive(Clone, Debug, Serialize)]
struct Timings {
    runs_ms: Vec<f64>,
    median_ms: f64,
    min_ms: f64,
}

impl Timings {
    fn new(runs: &[Duration]) -> Self {
        let mut ms: Vec<f64> = runs.iter().map(|run| run.as_secs_f64() * 1000.0).collect();
        let runs_ms = ms.iter().map(|value| round(*value, 2)).collect();
        ms.sort_by(f64::total_cmp);
        let median = match ms.len() {
            0 => 0.0,
            n if n % 2 == 1 => ms[n / 2],
            n => (ms[n / 2 - 1] + ms[n / 2]) / 2.0,
        };
        Self { runs_ms, median_ms: round(median, 2), min_ms: round(ms.first().copied().unwrap_or(0.0), 2) }
    }
}

#[derive(Serialize)]
struct Corpus {
    listed_files: usize,
    ignored_files: usize,
    hidden_files: usize,
    leaf_dirs: usize,
    generation_secs: f64,
}

#[derive(Serialize)]
struct Document {
    benchmark: &'static str,
    date: String,
    dockyard_version: String,
    rg_version: String,
    git_commit: Option<String>,
    machine: serde_json::Value,
    loadavg_start: Option<String>,
    loadavg_end: Option<String>,
    settings: serde_json::Value,
    corpus: Corpus,
    dockyard: Timings,
    rg: Timings,
    ratio: f64,
    dockyard_paths: usize,
    dockyard_truncated: bool,
    dockyard_response_bytes: usize,
    rg_paths: usize,
    counts_agree: bool,
    target: &'static str,
    verdict: &'static str,
}

pub async fn run(args: FileIndexArgs) -> anyhow::Result<()> {
    let dockyard = dockyard_binary(args.dockyard.as_deref())?;
    let Some(rg_version) = command_output(&args.rg, &["--version"]).await else {
        bail!("cannot run {} --version; install ripgrep (apt-get install -y ripgrep)", args.rg.display());
    };
    let rg_version = rg_version.lines().next().unwrap_or_default().to_owned();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let dockyard_version = command_output(&dockyard, &["version"]).await.unwrap_or_else(|| "unknown".to_owned());
    eprintln!("==> file-index benchmark: {dockyard_version} at {}, {rg_version}", dockyard.display());
    let loadavg_start = loadavg();
    let temp = TempDir::new("dockyard-bench-file-index")?;
    let data_dir = temp.0.join("data");
    let mut server =
        ChildServer::start_dockyard(&dockyard, &data_dir, None, &[("DOCKYARD_WORKSPACE__MAX_FILES", "1000000")])
            .await?;
    let outcome = bench(&args, &server, &data_dir).await;
    server.stop().await;
    drop(temp);
    let measured = outcome?;

    let ratio = if measured.rg.median_ms > 0.0 { measured.dockyard.median_ms / measured.rg.median_ms } else { 0.0 };
    let verdict = if ratio <= TARGET_RATIO { "PASS" } else { "MISS" };
    let counts_agree = measured.dockyard_paths == measured.rg_paths && !measured.dockyard_truncated;
    let document = Document {
        benchmark: "file-index",
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        dockyard_version,
        rg_version,
        git_commit: command_output(
            Path::new("git"),
            &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"],
        )
        .await,
        machine: machine_info(),
        loadavg_start,
        loadavg_end: loadavg(),
        settings: json!({
            "runs": args.runs,
            "warmup_runs": 1,
            "dirs": args.dirs,
            "files_per_dir": args.files_per_dir,
            "dockyard": "dockyard serve on SQLite, rate limits off, log level warn; a separate process on the same machine",
            "api": "GET /api/v1/projects/{p}/file-index (sorted JSON answer, bearer read token), one fresh HTTP/1.1 connection per request; wall clock until the whole body is read",
            "rg": "rg --files --no-require-git --no-ignore-parent --no-config in the workspace directory, stdout piped into the benchmark and its lines counted; wall clock from spawn to exit",
            "cache": "the tree is generated just before the runs and stays in the page cache (warm runs)",
        }),
        corpus: measured.corpus,
        dockyard: measured.dockyard,
        rg: measured.rg,
        ratio: round(ratio, 3),
        dockyard_paths: measured.dockyard_paths,
        dockyard_truncated: measured.dockyard_truncated,
        dockyard_response_bytes: measured.response_bytes,
        rg_paths: measured.rg_paths,
        counts_agree,
        target: TARGET_TEXT,
        verdict,
    };
    let table = markdown(&document);
    write_results(&args.out, &document, &table)?;
    println!("{table}");
    println!("Results: {}", args.out.display());
    if !counts_agree {
        bail!("the index listed {} paths, rg --files {}", document.dockyard_paths, document.rg_paths);
    }
    Ok(())
}

struct Measured {
    corpus: Corpus,
    dockyard: Timings,
    rg: Timings,
    dockyard_paths: usize,
    dockyard_truncated: bool,
    response_bytes: usize,
    rg_paths: usize,
}

async fn bench(args: &FileIndexArgs, server: &ChildServer, data_dir: &Path) -> anyhow::Result<Measured> {
    let (project, token) = crate::search::prepare_project(server, "File index bench").await?;
    let bearer = format!("Bearer {token}");

    let workspace = data_dir.join("workspaces").join(&project);
    eprintln!("==> generating {} files in {}", args.dirs * args.files_per_dir, workspace.display());
    let corpus = {
        let (workspace, dirs, files_per_dir) = (workspace.clone(), args.dirs, args.files_per_dir);
        tokio::task::spawn_blocking(move || generate(&workspace, dirs, files_per_dir)).await??
    };
    let url = server.url(&format!("/api/v1/projects/{project}/file-index"));
    let (mut api, mut rg_run) = (api_index(&url, &bearer).await?, rg_files(&args.rg, &workspace).await?);
    let (mut api_times, mut rg_times) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        api = api_index(&url, &bearer).await?;
        api_times.push(api.elapsed);
        rg_run = rg_files(&args.rg, &workspace).await?;
        rg_times.push(rg_run.0);
    }
    let (dockyard, rg) = (Timings::new(&api_times), Timings::new(&rg_times));
    eprintln!(
        "    file index median {:.1} ms ({} paths, {} bytes); rg --files median {:.1} ms ({} paths)",
        dockyard.median_ms, api.paths, api.bytes, rg.median_ms, rg_run.1
    );
    Ok(Measured {
        corpus,
        dockyard,
        rg,
        dockyard_paths: api.paths,
        dockyard_truncated: api.truncated,
        response_bytes: api.bytes,
        rg_paths: rg_run.1,
    })
}

/// `dirs` leaf folders two levels deep with `files_per_dir` files each, an
/// ignored folder and a hidden one.
fn generate(root: &Path, dirs: usize, files_per_dir: usize) -> anyhow::Result<Corpus> {
    let started = Instant::now();
    std::fs::create_dir_all(root)?;
    std::fs::write(root.join(".gitignore"), format!("/{IGNORED_DIR}/\n"))?;
    let mut listed = 0;
    for dir in 0..dirs {
        let folder = root.join(format!("src/pkg_{:02}/module_{dir:03}", dir % 25));
        std::fs::create_dir_all(&folder)?;
        for file in 0..files_per_dir {
            std::fs::write(folder.join(format!("file_{file:03}.rs")), b"fn main() {}\n")?;
            listed += 1;
        }
    }
    for (dir, count) in [(IGNORED_DIR, 200), (HIDDEN_DIR, 50)] {
        let folder = root.join(dir).join("out");
        std::fs::create_dir_all(&folder)?;
        for file in 0..count {
            std::fs::write(folder.join(format!("artifact_{file}.o")), b"\0")?;
        }
    }
    Ok(Corpus {
        listed_files: listed,
        ignored_files: 200,
        hidden_files: 50,
        leaf_dirs: dirs,
        generation_secs: round(started.elapsed().as_secs_f64(), 2),
    })
}

struct ApiRun {
    elapsed: Duration,
    paths: usize,
    truncated: bool,
    bytes: usize,
}

async fn api_index(url: &str, bearer: &str) -> anyhow::Result<ApiRun> {
    let started = Instant::now();
    let answer = client::call(Method::GET, url, &[("authorization", bearer)], None).await?;
    let elapsed = started.elapsed();
    let answer = answer.expect(StatusCode::OK, "file index")?;
    let body = answer.json()?;
    Ok(ApiRun {
        elapsed,
        paths: body["paths"].as_array().map_or(0, Vec::len),
        truncated: body["truncated"].as_bool().unwrap_or(false),
        bytes: answer.body.len(),
    })
}

/// One `rg --files` run: its wall time and the number of paths it printed.
async fn rg_files(rg: &Path, dir: &Path) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let output = Command::new(rg)
        .args(["--files", "--no-require-git", "--no-ignore-parent", "--no-config", "--no-ignore-global"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .with_context(|| format!("cannot run {}", rg.display()))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!("rg --files failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok((elapsed, output.stdout.iter().filter(|&&byte| byte == b'\n').count()))
}

fn markdown(document: &Document) -> String {
    format!(
        "Tree: {} listed files in {} folders, plus {} ignored and {} hidden files (listed by neither side). \
         Warm page cache; 1 warm-up + {} timed runs per side, alternating.\n\n\
         | side | median ms | min ms | paths |\n|---|---:|---:|---:|\n\
         | GET …/file-index (sorted JSON, {:.1} MB) | {:.1} | {:.1} | {}{} |\n\
         | rg --files | {:.1} | {:.1} | {} |\n\n\
         Ratio (median): {:.2}×. Target: {}: {}\n",
        document.corpus.listed_files,
        document.corpus.leaf_dirs,
        document.corpus.ignored_files,
        document.corpus.hidden_files,
        document.dockyard.runs_ms.len(),
        document.dockyard_response_bytes as f64 / 1e6,
        document.dockyard.median_ms,
        document.dockyard.min_ms,
        document.dockyard_paths,
        if document.dockyard_truncated { " (truncated)" } else { "" },
        document.rg.median_ms,
        document.rg.min_ms,
        document.rg_paths,
        document.ratio,
        document.target,
        document.verdict,
    )
}
