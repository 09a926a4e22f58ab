//! The search benchmark: Dockyard's search API against the `rg` CLI on the same
//! tree, and the listing of one very large folder.
//!
//! 1. `dockyard serve` on a fresh SQLite data dir (rate limits off, log level
//!    warn, large workspace quotas): setup, one project, a read token.
//! 2. The tree is generated straight into the project's workspace directory
//!    (writing it through the API would take far too long; the workspace is a
//!    plain directory by design): nested folders of deterministic pseudo-random
//!    text, planted needles, a `.gitignore` that excludes one folder, a hidden
//!    folder and some binary files.
//! 3. Each query runs once to warm up, then `runs` times, through
//!    GET /api/v1/projects/{p}/search and through `rg` in the workspace with the
//!    matching flags; wall clock each, median and min per side. The matching
//!    lines must agree for the uncapped queries.
//! 4. A folder of 100,000 entries is created and listed through GET …/tree.
//!
//! The numbers go to a JSON file and a Markdown table; the target
//! (search ≤ 1.3× rg wall time) is reported per query as PASS or MISS, never as
//! a failure of the run. The temp dir is removed afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::client;
use crate::foundation::{
    ChildServer, TempDir, command_output, dockyard_binary, loadavg, machine_info, setup_admin, write_results,
};
use crate::load::round;

/// The target: a search takes at most this multiple of rg's wall time.
const TARGET_RATIO: f64 = 1.3;
const TARGET_TEXT: &str = "search <= 1.3x rg wall time";
/// Planted needles.
const RARE: &str = "zebracorn";
const CASED: [&str; 4] = ["quasar", "Quasar", "QUASAR", "qUaSaR"];
const IGNORED_DIR: &str = "build";
const HIDDEN_DIR: &str = ".cache";
/// The folder of many entries listed through the tree route.
const BIG_DIR: &str = "big";

#[derive(Args)]
pub struct SearchArgs {
    /// The `dockyard` binary. Default: the `dockyard` next to this binary.
    #[arg(long)]
    dockyard: Option<PathBuf>,
    /// The ripgrep binary.
    #[arg(long, default_value = "rg")]
    rg: PathBuf,
    /// Leaf folders of the generated tree.
    #[arg(long, default_value_t = 500)]
    dirs: usize,
    /// Text files per leaf folder.
    #[arg(long, default_value_t = 100)]
    files_per_dir: usize,
    /// Entries of the big folder listed through the tree route.
    #[arg(long, default_value_t = 100_000)]
    big_entries: usize,
    /// Measured runs per query and side, after one warm-up run.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The seed of the content generator.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
    /// Where to make the temp dir (it holds ~0.6 GB while the benchmark runs).
    #[arg(long)]
    temp_dir: Option<PathBuf>,
    /// The JSON file to write; a Markdown copy of the table goes beside it.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
}

fn default_out() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).join("bench/results/search.json")
}

/// One query, as the API and rg are asked it.
struct Query {
    name: &'static str,
    pattern: &'static str,
    regex: bool,
    case_sensitive: bool,
    max: usize,
    /// Whether the match counts must agree (the answer is not capped).
    compare_counts: bool,
}

fn queries() -> Vec<Query> {
    vec![
        Query {
            name: "rare literal",
            pattern: RARE,
            regex: false,
            case_sensitive: true,
            max: 10_000,
            compare_counts: true,
        },
        Query {
            name: "common literal (max=1000)",
            pattern: "the",
            regex: false,
            case_sensitive: true,
            max: 1000,
            compare_counts: false,
        },
        Query {
            name: "case-insensitive literal",
            pattern: "quasar",
            regex: false,
            case_sensitive: false,
            max: 10_000,
            compare_counts: true,
        },
        Query {
            name: "regex",
            pattern: "needle_[0-9]{3}",
            regex: true,
            case_sensitive: true,
            max: 10_000,
            compare_counts: true,
        },
    ]
}

impl Query {
    fn api_path(&self, project: &str) -> String {
        format!(
            "/api/v1/projects/{project}/search?q={}&regex={}&case_sensitive={}&max={}",
            percent_encode(self.pattern),
            self.regex,
            self.case_sensitive,
            self.max
        )
    }

    fn rg_args(&self) -> Vec<&'static str> {
        let mut args = vec!["--no-config", "--no-ignore-parent", "--no-ignore-global", "--no-require-git", "-n"];
        if !self.case_sensitive {
            args.push("-i");
        }
        if !self.regex {
            args.push("-F");
        }
        args.extend(["--", self.pattern]);
        args
    }
}

/// Query-string encoding: everything but unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
struct Timings {
    runs_ms: Vec<f64>,
    median_ms: f64,
    min_ms: f64,
    /// CPU time (user + system, 10 ms resolution) of the searching process per run, median:
    /// the Dockyard server's, or rg's.
    cpu_median_ms: Option<f64>,
}

impl Timings {
    fn new(runs: &[Duration]) -> Self {
        let ms: Vec<f64> = runs.iter().map(|run| run.as_secs_f64() * 1000.0).collect();
        let min = ms.iter().copied().min_by(f64::total_cmp).unwrap_or(0.0);
        Self {
            runs_ms: ms.iter().map(|value| round(*value, 2)).collect(),
            median_ms: round(median(&ms), 2),
            min_ms: round(min, 2),
            cpu_median_ms: None,
        }
    }

    /// With the CPU times of the runs, when every run has one.
    fn with_cpu(mut self, cpu_ms: &[Option<f64>]) -> Self {
        let cpu: Option<Vec<f64>> = cpu_ms.iter().copied().collect();
        self.cpu_median_ms = cpu.filter(|cpu| !cpu.is_empty()).map(|cpu| round(median(&cpu), 1));
        self
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Linux reports CPU times in clock ticks of 1/100 s (USER_HZ).
const TICK_MS: f64 = 10.0;

/// User + system CPU ticks from /proc/<pid>/stat: the process's own, or (with
/// `children`) those of its children that it has waited for.
fn cpu_ticks(pid: &str, children: bool) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let (user, system) = if children { (13, 14) } else { (11, 12) };
    Some(fields.get(user)?.parse::<u64>().ok()? + fields.get(system)?.parse::<u64>().ok()?)
}

fn cpu_ms(before: Option<u64>, after: Option<u64>) -> Option<f64> {
    Some(after?.checked_sub(before?)? as f64 * TICK_MS)
}

#[derive(Serialize)]
struct QueryResult {
    name: &'static str,
    pattern: &'static str,
    regex: bool,
    case_sensitive: bool,
    max: usize,
    api_path: String,
    /// The rg side; for a capped query, rg's output is read up to `max` lines and
    /// then closed (as `| head -n max`), which stops rg.
    rg_command: String,
    dockyard: Timings,
    rg: Timings,
    /// A capped query's rg side without the cap: every matching line.
    rg_uncapped: Option<Timings>,
    rg_uncapped_lines: Option<usize>,
    /// Dockyard's median over rg's.
    ratio: f64,
    dockyard_matches: usize,
    dockyard_truncated: bool,
    dockyard_files_searched: u64,
    /// Bytes of the JSON answer.
    dockyard_response_bytes: usize,
    rg_matching_lines: usize,
    /// Whether the counts agree; none for a capped query.
    counts_agree: Option<bool>,
    verdict: &'static str,
}

#[derive(Serialize)]
struct TreeResult {
    path: String,
    entries: usize,
    response_bytes: usize,
    timings: Timings,
}

#[derive(Serialize)]
struct Corpus {
    text_files: usize,
    text_bytes: u64,
    ignored_files: usize,
    hidden_files: usize,
    binary_files: usize,
    total_files: usize,
    total_bytes: u64,
    leaf_dirs: usize,
    generation_secs: f64,
}

#[derive(Serialize)]
struct Document {
    benchmark: &'static str,
    date: String,
    dockyard_version: String,
    rg_version: Option<String>,
    git_commit: Option<String>,
    machine: serde_json::Value,
    loadavg_start: Option<String>,
    loadavg_end: Option<String>,
    settings: serde_json::Value,
    corpus: Corpus,
    target: &'static str,
    results: Vec<QueryResult>,
    tree: Option<TreeResult>,
    failures: Vec<String>,
}

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    let dockyard = dockyard_binary(args.dockyard.as_deref())?;
    let rg_version = command_output(&args.rg, &["--version"]).await;
    let Some(rg_version) = rg_version.map(|text| text.lines().next().unwrap_or_default().to_owned()) else {
        bail!("cannot run {} --version; install ripgrep (apt-get install -y ripgrep)", args.rg.display());
    };
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let dockyard_version = command_output(&dockyard, &["version"]).await.unwrap_or_else(|| "unknown".to_owned());
    eprintln!("==> search benchmark: {dockyard_version} at {}, {rg_version}", dockyard.display());
    let loadavg_start = loadavg();
    eprintln!("    load average before the run: {}", loadavg_start.as_deref().unwrap_or("unknown"));

    let temp = match &args.temp_dir {
        Some(parent) => {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            TempDir::new(&parent.join("dockyard-bench-search").to_string_lossy())?
        }
        None => TempDir::new("dockyard-bench-search")?,
    };
    let data_dir = temp.0.join("data");
    let mut server = ChildServer::start_dockyard(
        &dockyard,
        &data_dir,
        None,
        &[("DOCKYARD_WORKSPACE__MAX_TOTAL_BYTES", "4294967296"), ("DOCKYARD_WORKSPACE__MAX_FILES", "1000000")],
    )
    .await?;
    let outcome = bench(&args, &server, &data_dir).await;
    server.stop().await;
    eprintln!("==> removing {}", temp.0.display());
    drop(temp);
    let (corpus, results, tree, failures) = outcome?;

    let table = markdown_table(&results, tree.as_ref(), &corpus);
    let document = Document {
        benchmark: "search",
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        dockyard_version,
        rg_version: Some(rg_version),
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
            "seed": args.seed,
            "dirs": args.dirs,
            "files_per_dir": args.files_per_dir,
            "big_entries": args.big_entries,
            "dockyard": "dockyard serve on SQLite, rate limits off, log level warn; a separate process on the same machine",
            "api": "GET /api/v1/projects/{p}/search (JSON answer, bearer read token), one fresh HTTP/1.1 connection per request; wall clock until the whole body is read",
            "rg": "the rg CLI in the workspace directory, stdout piped into the benchmark and its lines counted; wall clock from spawn to exit",
            "cache": "the tree is generated just before the runs and stays in the page cache (warm runs)",
        }),
        corpus,
        target: TARGET_TEXT,
        results,
        tree,
        failures: failures.clone(),
    };
    write_results(&args.out, &document, &table)?;
    println!("{table}");
    println!("Results: {}", args.out.display());
    if !failures.is_empty() {
        bail!("{} check(s) failed: {}", failures.len(), failures.join("; "));
    }
    Ok(())
}

type Outcome = (Corpus, Vec<QueryResult>, Option<TreeResult>, Vec<String>);

async fn bench(args: &SearchArgs, server: &ChildServer, data_dir: &Path) -> anyhow::Result<Outcome> {
    let (project, token) = prepare_project(server, "Search bench").await?;
    let workspace = data_dir.join("workspaces").join(&project);
    eprintln!("==> generating the tree in {}", workspace.display());
    let corpus = {
        let workspace = workspace.clone();
        let (dirs, files_per_dir, seed) = (args.dirs, args.files_per_dir, args.seed);
        tokio::task::spawn_blocking(move || generate(&workspace, dirs, files_per_dir, seed)).await??
    };
    eprintln!(
        "    {} text files, {:.1} MB of text ({} files, {:.1} MB in all) in {:.1} s",
        corpus.text_files,
        corpus.text_bytes as f64 / 1e6,
        corpus.total_files,
        corpus.total_bytes as f64 / 1e6,
        corpus.generation_secs
    );
    let bearer = format!("Bearer {token}");
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for query in queries() {
        let result = measure_query(args, server, &project, &bearer, &workspace, &query).await?;
        if result.counts_agree == Some(false) {
            failures.push(format!(
                "{}: dockyard found {} lines, rg {}",
                query.name, result.dockyard_matches, result.rg_matching_lines
            ));
        }
        results.push(result);
    }
    let tree = measure_tree(args, server, &project, &bearer, &workspace).await?;
    if tree.entries != args.big_entries {
        failures.push(format!("tree: listed {} entries, not {}", tree.entries, args.big_entries));
    }
    Ok((corpus, results, Some(tree), failures))
}

/// First-run setup, one project named `name` and a read token; answers the project id
/// and the token.
pub(crate) async fn prepare_project(server: &ChildServer, name: &str) -> anyhow::Result<(String, String)> {
    let (org, cookie) = setup_admin(server).await?;
    let origin = server.base.clone();
    let browser = [("origin", origin.as_str()), ("cookie", cookie.as_str())];
    let created = client::call(
        Method::POST,
        &server.url(&format!("/api/v1/orgs/{org}/projects")),
        &browser,
        Some(&json!({ "name": name })),
    )
    .await?
    .expect(StatusCode::CREATED, "create a project")?;
    let project = created.json()?["id"].as_str().context("the project answer has no id")?.to_owned();
    let created = client::call(
        Method::POST,
        &server.url("/api/v1/tokens"),
        &browser,
        Some(&json!({ "name": "bench", "scopes": ["read"] })),
    )
    .await?
    .expect(StatusCode::CREATED, "create a token")?;
    let token = created.json()?["token"].as_str().context("the token answer has no token")?.to_owned();
    eprintln!("    prepared: org {org}, project {project}, a read token");
    Ok((project, token))
}

/// One API search: the wall time and the parsed answer.
struct ApiRun {
    elapsed: Duration,
    /// The server's CPU time over the request.
    cpu_ms: Option<f64>,
    matches: usize,
    truncated: bool,
    files_searched: u64,
    bytes: usize,
}

async fn api_search(url: &str, bearer: &str, server_pid: Option<&str>) -> anyhow::Result<ApiRun> {
    let cpu_before = server_pid.and_then(|pid| cpu_ticks(pid, false));
    let started = Instant::now();
    let answer = client::call(Method::GET, url, &[("authorization", bearer)], None).await?;
    let elapsed = started.elapsed();
    let cpu_ms = cpu_ms(cpu_before, server_pid.and_then(|pid| cpu_ticks(pid, false)));
    let answer = answer.expect(StatusCode::OK, "search")?;
    let body = answer.json()?;
    Ok(ApiRun {
        elapsed,
        cpu_ms,
        matches: body["matches"].as_array().map_or(0, Vec::len),
        truncated: body["truncated"].as_bool().unwrap_or(false),
        files_searched: body["files_searched"].as_u64().unwrap_or(0),
        bytes: answer.body.len(),
    })
}

/// One rg run: the wall time, the output lines (matching lines) and rg's CPU time.
struct RgRun {
    elapsed: Duration,
    lines: usize,
    cpu_ms: Option<f64>,
}

/// Runs rg, counting its output lines; with `cap`, closes its output after that
/// many lines (as `| head -n cap`), which stops it.
async fn rg_search(rg: &Path, args: &[&str], dir: &Path, cap: Option<usize>) -> anyhow::Result<RgRun> {
    // rg is the only child this process waits for while it runs.
    let cpu_before = cpu_ticks("self", true);
    let started = Instant::now();
    let mut child = Command::new(rg)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", rg.display()))?;
    let mut stdout = child.stdout.take().context("stdout is piped")?;
    let mut stderr = child.stderr.take().context("stderr is piped")?;
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text).await;
        text
    });
    let mut lines = 0usize;
    let mut buffer = vec![0u8; 256 * 1024];
    'read: loop {
        let read = stdout.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        for _ in buffer[..read].iter().filter(|&&byte| byte == b'\n') {
            lines += 1;
            if cap.is_some_and(|cap| lines >= cap) {
                break 'read;
            }
        }
    }
    drop(stdout);
    let status = child.wait().await?;
    let elapsed = started.elapsed();
    let cpu_ms = cpu_ms(cpu_before, cpu_ticks("self", true));
    let errors = errors.await.unwrap_or_default();
    // 0: matches, 1: none, 2: an error; a capped run may end on the closed pipe.
    let capped = cap.is_some_and(|cap| lines >= cap);
    if !capped && !matches!(status.code(), Some(0 | 1)) {
        bail!("rg {} failed ({status}): {}", args.join(" "), String::from_utf8_lossy(&errors));
    }
    Ok(RgRun { elapsed, lines, cpu_ms })
}

async fn measure_query(
    args: &SearchArgs,
    server: &ChildServer,
    project: &str,
    bearer: &str,
    workspace: &Path,
    query: &Query,
) -> anyhow::Result<QueryResult> {
    let api_path = query.api_path(project);
    let url = server.url(&api_path);
    let pid = server.pid().map(|pid| pid.to_string());
    let rg_args = query.rg_args();
    // A capped query stops after `max` lines; rg's side reads as many and closes.
    let cap = (!query.compare_counts).then_some(query.max);
    eprintln!("--> {}: {:?} (1 warm-up + {} runs per side)", query.name, query.pattern, args.runs);
    let mut api = api_search(&url, bearer, pid.as_deref()).await?;
    let mut rg_run = rg_search(&args.rg, &rg_args, workspace, cap).await?;
    let (mut api_times, mut api_cpu, mut rg_times, mut rg_cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Alternate the sides so that drift in the machine's load hits both alike.
    for _ in 0..args.runs {
        api = api_search(&url, bearer, pid.as_deref()).await?;
        api_times.push(api.elapsed);
        api_cpu.push(api.cpu_ms);
        rg_run = rg_search(&args.rg, &rg_args, workspace, cap).await?;
        rg_times.push(rg_run.elapsed);
        rg_cpu.push(rg_run.cpu_ms);
    }
    let rg_lines = rg_run.lines;
    let dockyard = Timings::new(&api_times).with_cpu(&api_cpu);
    let rg = Timings::new(&rg_times).with_cpu(&rg_cpu);
    let ratio = if rg.median_ms > 0.0 { dockyard.median_ms / rg.median_ms } else { f64::INFINITY };
    let counts_agree = query.compare_counts.then_some(!api.truncated && api.matches == rg_lines);
    eprintln!(
        "    dockyard median {:.1} ms, CPU {:?} ms ({} lines, {} files, {} bytes); rg median {:.1} ms, CPU {:?} ms ({} lines); {:.2}x",
        dockyard.median_ms,
        dockyard.cpu_median_ms,
        api.matches,
        api.files_searched,
        api.bytes,
        rg.median_ms,
        rg.cpu_median_ms,
        rg_lines,
        ratio
    );
    let (rg_uncapped, rg_uncapped_lines) = if cap.is_some() {
        eprintln!("    and rg without the cap (1 warm-up + {} runs)", args.runs);
        let mut run = rg_search(&args.rg, &rg_args, workspace, None).await?;
        let (mut times, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            run = rg_search(&args.rg, &rg_args, workspace, None).await?;
            times.push(run.elapsed);
            cpu.push(run.cpu_ms);
        }
        let timings = Timings::new(&times).with_cpu(&cpu);
        eprintln!("    rg uncapped median {:.1} ms ({} lines)", timings.median_ms, run.lines);
        (Some(timings), Some(run.lines))
    } else {
        (None, None)
    };
    let quoted = rg_args.iter().map(|arg| shell_quote(arg)).collect::<Vec<_>>().join(" ");
    Ok(QueryResult {
        name: query.name,
        pattern: query.pattern,
        regex: query.regex,
        case_sensitive: query.case_sensitive,
        max: query.max,
        api_path: api_path.replace(project, "{project}"),
        rg_command: match cap {
            Some(cap) => format!("rg {quoted} | head -n {cap}"),
            None => format!("rg {quoted}"),
        },
        dockyard,
        rg,
        rg_uncapped,
        rg_uncapped_lines,
        ratio: round(ratio, 3),
        dockyard_matches: api.matches,
        dockyard_truncated: api.truncated,
        dockyard_files_searched: api.files_searched,
        dockyard_response_bytes: api.bytes,
        rg_matching_lines: rg_lines,
        counts_agree,
        verdict: if ratio <= TARGET_RATIO { "PASS" } else { "MISS" },
    })
}

fn shell_quote(arg: &str) -> String {
    if arg.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_./=".contains(&byte)) {
        arg.to_owned()
    } else {
        format!("'{arg}'")
    }
}

async fn measure_tree(
    args: &SearchArgs,
    server: &ChildServer,
    project: &str,
    bearer: &str,
    workspace: &Path,
) -> anyhow::Result<TreeResult> {
    eprintln!("==> creating {} entries in {BIG_DIR}/", args.big_entries);
    let big = workspace.join(BIG_DIR);
    let count = args.big_entries;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        std::fs::create_dir_all(&big)?;
        for number in 0..count {
            std::fs::File::create(big.join(format!("entry-{number:06}.txt")))?;
        }
        Ok(())
    })
    .await??;
    let path = format!("/api/v1/projects/{project}/tree?path={BIG_DIR}");
    let url = server.url(&path);
    eprintln!("--> GET /api/v1/projects/{{project}}/tree?path={BIG_DIR} (1 warm-up + {} runs)", args.runs);
    let list = || async {
        let started = Instant::now();
        let answer = client::call(Method::GET, &url, &[("authorization", bearer)], None).await?;
        let elapsed = started.elapsed();
        let answer = answer.expect(StatusCode::OK, "tree")?;
        let entries = answer.json()?["entries"].as_array().map_or(0, Vec::len);
        Ok::<_, anyhow::Error>((elapsed, entries, answer.body.len()))
    };
    let (_, mut entries, mut bytes) = list().await?;
    let mut times = Vec::new();
    for _ in 0..args.runs {
        let (elapsed, listed, size) = list().await?;
        times.push(elapsed);
        (entries, bytes) = (listed, size);
    }
    let timings = Timings::new(&times);
    eprintln!("    median {:.1} ms, {entries} entries, {bytes} bytes", timings.median_ms);
    Ok(TreeResult {
        path: format!("/api/v1/projects/{{project}}/tree?path={BIG_DIR}"),
        entries,
        response_bytes: bytes,
        timings,
    })
}

fn markdown_table(results: &[QueryResult], tree: Option<&TreeResult>, corpus: &Corpus) -> String {
    let mut table = format!(
        "Tree: {} text files ({:.0} MB) in {} folders, plus {} ignored, {} hidden and {} binary files: \
         {} files, {:.0} MB in all. Warm page cache; 1 warm-up + timed runs per side.\n\n",
        corpus.text_files,
        corpus.text_bytes as f64 / 1e6,
        corpus.leaf_dirs,
        corpus.ignored_files,
        corpus.hidden_files,
        corpus.binary_files,
        corpus.total_files,
        corpus.total_bytes as f64 / 1e6,
    );
    table.push_str(
        "| query | pattern | dockyard median ms | dockyard min ms | rg median ms | rg min ms | dockyard/rg | CPU ms dockyard / rg | lines dockyard / rg | counts | ≤ 1.3× rg |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for r in results {
        let counts = match r.counts_agree {
            Some(true) => "agree",
            Some(false) => "DIFFER",
            None => "capped (not compared)",
        };
        let truncated = if r.dockyard_truncated { " (truncated)" } else { "" };
        let cpu = |timings: &Timings| timings.cpu_median_ms.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.0}"));
        table.push_str(&format!(
            "| {} | `{}` | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}× | {} / {} | {}{truncated} / {} | {counts} | {} |\n",
            r.name,
            r.pattern,
            r.dockyard.median_ms,
            r.dockyard.min_ms,
            r.rg.median_ms,
            r.rg.min_ms,
            r.ratio,
            cpu(&r.dockyard),
            cpu(&r.rg),
            r.dockyard_matches,
            r.rg_matching_lines,
            r.verdict
        ));
    }
    for r in results {
        if let (Some(uncapped), Some(lines)) = (&r.rg_uncapped, r.rg_uncapped_lines) {
            table.push_str(&format!(
                "\n{}: rg's output is closed after {} lines (`| head -n {}`); without the cap rg takes \
                 median {:.1} ms (min {:.1} ms) for {lines} lines.\n",
                r.name, r.max, r.max, uncapped.median_ms, uncapped.min_ms
            ));
        }
    }
    table.push_str(
        "\nCPU: user + system time of the Dockyard server over the request, and of the rg process (10 ms ticks).\n",
    );
    if let Some(tree) = tree {
        table.push_str(&format!(
            "\nList a folder of {} entries (GET {}): median {:.1} ms, min {:.1} ms, {:.1} MB of JSON.\n",
            tree.entries,
            tree.path,
            tree.timings.median_ms,
            tree.timings.min_ms,
            tree.response_bytes as f64 / 1e6
        ));
    }
    let passed = results.iter().filter(|r| r.verdict == "PASS").count();
    table.push_str(&format!("\nTarget: {TARGET_TEXT}: {passed} of {} queries PASS", results.len()));
    for r in results {
        table.push_str(&format!("; {}: {} ({:.2}×)", r.name, r.verdict, r.ratio));
    }
    table.push('\n');
    table
}

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
}

/// The vocabulary; earlier words are picked more often.
const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "it",
    "on",
    "with",
    "as",
    "be",
    "this",
    "that",
    "by",
    "at",
    "from",
    "or",
    "an",
    "are",
    "fn",
    "let",
    "mut",
    "self",
    "return",
    "value",
    "data",
    "result",
    "error",
    "string",
    "vector",
    "index",
    "buffer",
    "config",
    "server",
    "client",
    "request",
    "response",
    "handler",
    "option",
    "some",
    "none",
    "match",
    "impl",
    "struct",
    "enum",
    "trait",
    "type",
    "const",
    "static",
    "pub",
    "use",
    "mod",
    "crate",
    "super",
    "where",
    "loop",
    "while",
    "break",
    "continue",
    "async",
    "await",
    "future",
    "stream",
    "channel",
    "sender",
    "receiver",
    "thread",
    "mutex",
    "lock",
    "guard",
    "arc",
    "box",
    "cell",
    "ref",
    "slice",
    "array",
    "map",
    "set",
    "hash",
    "key",
    "entry",
    "node",
    "tree",
    "graph",
    "edge",
    "path",
    "file",
    "folder",
    "name",
    "size",
    "length",
    "count",
    "total",
    "offset",
    "line",
    "column",
    "range",
    "start",
    "end",
    "begin",
    "finish",
    "open",
    "close",
    "read",
    "write",
    "flush",
    "seek",
    "parse",
    "format",
    "display",
    "debug",
    "clone",
    "copy",
    "drop",
    "default",
    "new",
    "build",
    "builder",
    "create",
    "delete",
    "update",
    "insert",
    "remove",
    "contains",
    "find",
    "search",
    "replace",
    "filter",
    "sort",
    "reverse",
    "split",
    "join",
    "trim",
    "upper",
    "lower",
    "token",
    "session",
    "user",
    "project",
    "org",
    "member",
    "role",
    "admin",
    "owner",
    "viewer",
    "editor",
    "quota",
    "limit",
    "timeout",
    "retry",
    "backoff",
    "metric",
    "gauge",
    "counter",
    "histogram",
    "bucket",
    "sample",
    "window",
    "frame",
    "packet",
    "socket",
    "address",
    "port",
    "host",
    "domain",
    "schema",
    "table",
    "column_name",
    "query",
    "cursor",
    "row",
    "batch",
    "commit",
    "rollback",
    "migrate",
    "version",
    "release",
    "deploy",
    "container",
    "image",
    "layer",
    "volume",
    "network",
    "bridge",
    "gateway",
    "proxy",
    "cache",
    "store",
    "blob",
    "chunk",
    "digest",
    "signature",
    "verify",
    "encrypt",
    "decrypt",
    "cipher",
    "nonce",
    "random",
    "seed",
    "shuffle",
    "sample_rate",
    "latency",
    "throughput",
];

/// The text files of leaf folder `dir`, written into `root`; answers (files, bytes).
fn write_dir(root: &Path, dir: usize, files_per_dir: usize, seed: u64) -> anyhow::Result<(usize, u64)> {
    let folder = root.join(format!("src/mod{:02}/part{:02}", dir / 20, dir % 20));
    std::fs::create_dir_all(&folder)?;
    let extensions = ["rs", "txt", "md", "js", "py"];
    let mut bytes = 0u64;
    let mut buffer = Vec::with_capacity(64 * 1024);
    for file in 0..files_per_dir {
        let index = dir * files_per_dir + file;
        let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        // 2..19 KB, about 10.5 KB on average; one file in 500 is a 100..200 KB one.
        let size = if index % 500 == 250 { 100_000 + rng.below(100_000) } else { 2048 + rng.below(17_409) };
        let mut plants = Vec::new();
        if index % 1000 == 7 {
            plants.push(RARE.to_owned());
        }
        if index % 13 == 5 {
            plants.push(CASED[rng.below(CASED.len())].to_owned());
        }
        if index % 97 == 3 {
            for _ in 0..1 + rng.below(3) {
                plants.push(format!("needle_{:03}", rng.below(1000)));
            }
            // Near misses that the regex must not match.
            plants.push(format!("needle_{:02}x", rng.below(100)));
        }
        buffer.clear();
        fill_text(&mut rng, &mut buffer, size, &plants);
        std::fs::write(folder.join(format!("file{file:03}.{}", extensions[index % extensions.len()])), &buffer)?;
        bytes += buffer.len() as u64;
    }
    Ok((files_per_dir, bytes))
}

/// Lines of words up to about `size` bytes, with each of `plants` somewhere as a word.
fn fill_text(rng: &mut Rng, out: &mut Vec<u8>, size: usize, plants: &[String]) {
    let mut at: Vec<(usize, &str)> = plants.iter().map(|plant| (rng.below(size.max(1)), plant.as_str())).collect();
    at.sort_unstable();
    let mut next = 0;
    while out.len() < size {
        let indent = [0, 0, 4, 4, 8][rng.below(5)];
        out.extend(std::iter::repeat_n(b' ', indent));
        let width = 30 + rng.below(90);
        let line_start = out.len();
        let mut first = true;
        while out.len() - line_start < width {
            if !first {
                out.push(b' ');
            }
            first = false;
            if next < at.len() && at[next].0 <= out.len() {
                out.extend_from_slice(at[next].1.as_bytes());
                next += 1;
                continue;
            }
            // Skewed towards the start of the vocabulary.
            let word = WORDS[rng.below(WORDS.len()) * rng.below(WORDS.len()) / WORDS.len()];
            out.extend_from_slice(word.as_bytes());
        }
        out.push(b'\n');
    }
    // Plants past the end go on a last line.
    if next < at.len() {
        for (_, plant) in &at[next..] {
            out.extend_from_slice(plant.as_bytes());
            out.push(b' ');
        }
        out.push(b'\n');
    }
}

/// Generates the tree under `root`: `dirs` leaf folders of `files_per_dir` text
/// files, an ignored folder, a hidden folder and binary files (all three holding
/// needles that neither side may report), and a `.gitignore`.
fn generate(root: &Path, dirs: usize, files_per_dir: usize, seed: u64) -> anyhow::Result<Corpus> {
    let started = Instant::now();
    std::fs::create_dir_all(root)?;
    let threads = std::thread::available_parallelism().map_or(2, usize::from).clamp(1, 8);
    let totals = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || -> anyhow::Result<(usize, u64)> {
                    let mut totals = (0, 0);
                    for dir in (worker..dirs).step_by(threads) {
                        let (files, bytes) = write_dir(root, dir, files_per_dir, seed)?;
                        totals = (totals.0 + files, totals.1 + bytes);
                    }
                    Ok(totals)
                })
            })
            .collect();
        workers.into_iter().try_fold((0usize, 0u64), |acc, worker| {
            let (files, bytes) = worker.join().map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
            Ok::<_, anyhow::Error>((acc.0 + files, acc.1 + bytes))
        })
    })?;
    let (text_files, text_bytes) = totals;
    let mut extra_bytes = 0u64;
    let mut write = |path: PathBuf, bytes: &[u8]| -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        file.write_all(bytes)?;
        file.flush()?;
        extra_bytes += bytes.len() as u64;
        Ok(())
    };
    write(root.join(".gitignore"), format!("/{IGNORED_DIR}/\n*.log\n").as_bytes())?;
    let mut rng = Rng::new(seed ^ 0xb1a5);
    let needles = format!("{RARE} {} needle_123 needle_999\n", CASED.join(" "));
    let mut buffer = Vec::new();
    // Ignored and hidden folders: ordinary text with every needle.
    let (ignored_files, hidden_files) = (200, 50);
    for (folder, count) in [(IGNORED_DIR, ignored_files), (HIDDEN_DIR, hidden_files)] {
        for number in 0..count {
            buffer.clear();
            fill_text(&mut rng, &mut buffer, 8192, &[]);
            buffer.extend_from_slice(needles.as_bytes());
            write(root.join(format!("{folder}/out{:02}/gen{number:03}.rs", number % 10)), &buffer)?;
        }
    }
    // Binary files: a NUL up front, then text with every needle.
    let binary_files = dirs.div_ceil(5);
    for number in 0..binary_files {
        buffer.clear();
        buffer.extend_from_slice(b"\x7fBIN\0\0\x01\x02");
        buffer.extend((0..4096).map(|_| rng.next() as u8));
        buffer.push(b'\n');
        buffer.extend_from_slice(needles.as_bytes());
        fill_text(&mut rng, &mut buffer, 4096 + 8192, &[]);
        let dir = number * 5;
        write(root.join(format!("src/mod{:02}/part{:02}/blob{number:03}.bin", dir / 20, dir % 20)), &buffer)?;
    }
    let total_files = text_files + ignored_files + hidden_files + binary_files + 1;
    Ok(Corpus {
        text_files,
        text_bytes,
        ignored_files,
        hidden_files,
        binary_files,
        total_files,
        total_bytes: text_bytes + extra_bytes,
        leaf_dirs: dirs,
        generation_secs: round(started.elapsed().as_secs_f64(), 2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_odd_and_even_runs() {
        let ms = |values: &[u64]| values.iter().map(|&v| Duration::from_millis(v)).collect::<Vec<_>>();
        let odd = Timings::new(&ms(&[30, 10, 20]));
        assert_eq!((odd.median_ms, odd.min_ms), (20.0, 10.0));
        let even = Timings::new(&ms(&[40, 10, 20, 30]));
        assert_eq!((even.median_ms, even.min_ms), (25.0, 10.0));
    }

    #[test]
    fn the_text_holds_its_plants_and_is_deterministic() {
        let plants = vec![RARE.to_owned(), "needle_042".to_owned()];
        let (mut first, mut second) = (Vec::new(), Vec::new());
        fill_text(&mut Rng::new(7), &mut first, 4096, &plants);
        fill_text(&mut Rng::new(7), &mut second, 4096, &plants);
        assert_eq!(first, second);
        let text = String::from_utf8(first).expect("utf-8");
        assert!(text.len() >= 4096);
        assert!(text.contains(RARE) && text.contains("needle_042"));
    }

    #[test]
    fn queries_are_encoded_for_the_url_and_rg() {
        assert_eq!(percent_encode("needle_[0-9]{3}"), "needle_%5B0-9%5D%7B3%7D");
        let regex = queries().into_iter().find(|query| query.regex).expect("a regex query");
        assert!(!regex.rg_args().contains(&"-F"));
        let insensitive = queries().into_iter().find(|query| !query.case_sensitive).expect("a case-insensitive query");
        assert!(insensitive.rg_args().contains(&"-i") && insensitive.rg_args().contains(&"-F"));
    }
}
