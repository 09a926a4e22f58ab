//! The foundation benchmark: how close Dockyard's HTTP stack comes to a bare
//! hello-world server on the same machine.
//!
//! 1. `dockyard-bench hello` runs as a child process and is measured at each
//!    connection count: the ceiling.
//! 2. `dockyard serve` on a fresh SQLite data dir (rate limits off, log level
//!    warn): setup, 25 projects, a read token; then GET /healthz and the
//!    authenticated GET /api/v1/orgs/{org}/projects are measured.
//! 3. The same on PostgreSQL, in a fresh database, when an admin URL is given.
//!
//! The load generator runs in this process; every server is a separate process.
//! The numbers go to a JSON file and a Markdown table; the target is
//! reported as PASS or MISS, never as a failure of the run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client::{self, Answer};
use crate::hello::LISTENING;
use crate::load::{self, LoadConfig, LoadReport, Target, parse_header, round};

const PROJECTS: usize = 25;
pub(crate) const PASSWORD: &str = "correct horse battery staple";
/// The target: the authenticated list on SQLite at this many connections…
const TARGET_CONNECTIONS: usize = 64;
/// …reaches this share of hello-world's throughput…
const TARGET_RATIO: f64 = 0.40;
/// …with a p99 latency at most this.
const TARGET_P99_MS: f64 = 10.0;
const TARGET_TEXT: &str =
    "authenticated list reaches >= 40% of hello-world throughput and p99 <= 10 ms at 64 connections on SQLite";
/// How long a server may take to say it is ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// A pause between runs so the previous connections wind down.
const SETTLE: Duration = Duration::from_millis(500);

#[derive(Args)]
pub struct FoundationArgs {
    /// The `dockyard` binary. Default: the `dockyard` next to this binary.
    #[arg(long)]
    dockyard: Option<PathBuf>,
    /// A PostgreSQL URL of a role that may create databases; adds the PostgreSQL
    /// pass in a fresh database that is dropped afterwards.
    #[arg(long)]
    postgres_url: Option<String>,
    /// Seconds of measurement per scenario.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up per scenario, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Connection counts to measure each scenario at.
    #[arg(long, value_delimiter = ',', default_values_t = [64usize, 256])]
    connections: Vec<usize>,
    /// The JSON file to write; a Markdown copy of the table goes beside it.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
}

fn default_out() -> PathBuf {
    // crates/dockyard-bench → the workspace root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).join("bench/results/foundation.json")
}

/// One scenario at one connection count.
#[derive(Clone, Debug, Serialize)]
struct Measurement {
    /// `hello-world`, `healthz` or `projects-list`.
    scenario: &'static str,
    /// `sqlite`, `postgres`, or none for hello-world.
    backend: Option<&'static str>,
    label: String,
    path: String,
    connections: usize,
    #[serde(flatten)]
    report: LoadReport,
    /// This scenario's rps over hello-world's at the same connection count.
    rps_vs_hello: Option<f64>,
}

/// The JSON file, in this field order.
#[derive(Serialize)]
struct Document {
    benchmark: &'static str,
    date: String,
    dockyard_version: String,
    git_commit: Option<String>,
    machine: serde_json::Value,
    /// Other work on the machine skews the numbers: the load averages tell how busy it was.
    loadavg_start: Option<String>,
    loadavg_end: Option<String>,
    settings: serde_json::Value,
    target: TargetVerdict,
    results: Vec<Measurement>,
    postgres: serde_json::Value,
    failures: Vec<String>,
}

#[derive(Serialize)]
struct TargetVerdict {
    target: &'static str,
    connections: usize,
    rps_ratio: Option<f64>,
    p99_ms: Option<f64>,
    verdict: &'static str,
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

struct Settings {
    duration: Duration,
    warmup: Duration,
    connections: Vec<usize>,
}

pub async fn run(args: FoundationArgs) -> anyhow::Result<()> {
    let dockyard = dockyard_binary(args.dockyard.as_deref())?;
    let settings = Settings {
        duration: Duration::try_from_secs_f64(args.duration).context("--duration")?,
        warmup: Duration::try_from_secs_f64(args.warmup).context("--warmup")?,
        connections: args.connections.clone(),
    };
    if settings.connections.is_empty() {
        bail!("--connections names no connection count");
    }
    let dockyard_version = command_output(&dockyard, &["version"]).await.unwrap_or_else(|| "unknown".to_owned());
    eprintln!("==> foundation benchmark: {dockyard_version} at {}", dockyard.display());

    let loadavg_start = loadavg();
    eprintln!("    load average before the run: {}", loadavg_start.as_deref().unwrap_or("unknown"));
    let mut results = Vec::new();
    eprintln!("==> hello-world (the ceiling)");
    let mut hello = ChildServer::start_hello().await?;
    let hello_run = measure_all(&settings, &mut results, |connections| Scenario {
        scenario: "hello-world",
        backend: None,
        label: "hello-world GET /".to_owned(),
        url: hello.url("/"),
        headers: Vec::new(),
        connections,
    })
    .await;
    hello.stop().await;
    hello_run?;

    let mut failures = Vec::new();
    if let Err(error) = bench_dockyard(&dockyard, Backend::Sqlite, None, &settings, &mut results).await {
        eprintln!("error: the SQLite pass failed: {error:#}");
        failures.push(format!("sqlite: {error:#}"));
    }
    let mut postgres = json!({ "ran": false });
    if let Some(admin_url) = &args.postgres_url {
        match PgDatabase::create(admin_url).await {
            Ok(database) => {
                let outcome =
                    bench_dockyard(&dockyard, Backend::Postgres, Some(&database.url), &settings, &mut results).await;
                database.drop_database().await;
                postgres = json!({ "ran": true, "database": database.name, "error": outcome.as_ref().err().map(|e| format!("{e:#}")) });
                if let Err(error) = outcome {
                    eprintln!("error: the PostgreSQL pass failed: {error:#}");
                    failures.push(format!("postgres: {error:#}"));
                }
            }
            Err(error) => {
                eprintln!("error: cannot create the PostgreSQL database: {error:#}");
                postgres = json!({ "ran": false, "error": format!("{error:#}") });
                failures.push(format!("postgres: {error:#}"));
            }
        }
    }

    add_ratios(&mut results);
    let verdict = verdict(&results);
    let table = markdown_table(&results);
    let verdict_line = verdict_line(&verdict);
    let document = Document {
        benchmark: "foundation",
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        dockyard_version,
        git_commit: command_output(
            Path::new("git"),
            &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"],
        )
        .await,
        machine: machine_info(),
        loadavg_start,
        loadavg_end: loadavg(),
        settings: json!({
            "duration_secs": settings.duration.as_secs_f64(),
            "warmup_secs": settings.warmup.as_secs_f64(),
            "connections": settings.connections,
            "projects": PROJECTS,
            "load_generator": "dockyard-bench load, in the benchmark process: hyper HTTP/1.1, one keep-alive connection per task, no pipelining",
            "servers": "separate processes on the same machine (load generator and server share the cores); rate limits off, log level warn",
        }),
        target: verdict,
        results,
        postgres,
        failures: failures.clone(),
    };
    write_results(&args.out, &document, &format!("{table}\n{verdict_line}\n"))?;

    println!("{table}");
    println!("{verdict_line}");
    println!("\nResults: {}", args.out.display());
    if !failures.is_empty() {
        bail!("{} pass(es) failed: {}", failures.len(), failures.join("; "));
    }
    Ok(())
}

/// One scenario to measure at one connection count.
struct Scenario {
    scenario: &'static str,
    backend: Option<&'static str>,
    label: String,
    url: String,
    headers: Vec<String>,
    connections: usize,
}

/// Measures a scenario at every connection count of the settings.
async fn measure_all(
    settings: &Settings,
    results: &mut Vec<Measurement>,
    scenario: impl Fn(usize) -> Scenario,
) -> anyhow::Result<()> {
    for &connections in &settings.connections {
        results.push(measure(settings, scenario(connections)).await?);
    }
    Ok(())
}

async fn measure(settings: &Settings, scenario: Scenario) -> anyhow::Result<Measurement> {
    eprintln!(
        "--> {} at {} connections ({} s + {} s warm-up)",
        scenario.label,
        scenario.connections,
        settings.duration.as_secs_f64(),
        settings.warmup.as_secs_f64()
    );
    let target = Target::parse(&scenario.url)?;
    let config = LoadConfig {
        target: target.clone(),
        connections: scenario.connections,
        duration: settings.duration,
        warmup: settings.warmup,
        headers: scenario.headers.iter().map(|header| parse_header(header)).collect::<anyhow::Result<_>>()?,
    };
    let report = load::run(&config).await?;
    eprintln!(
        "    {:.0} rps, p50 {} ms, p90 {} ms, p99 {} ms, max {} ms, {} errors of {} requests",
        report.rps, report.p50_ms, report.p90_ms, report.p99_ms, report.max_ms, report.errors, report.requests
    );
    tokio::time::sleep(SETTLE).await;
    Ok(Measurement {
        scenario: scenario.scenario,
        backend: scenario.backend,
        label: scenario.label,
        path: target.path_and_query,
        connections: scenario.connections,
        report,
        rps_vs_hello: None,
    })
}

/// Starts Dockyard on the backend, prepares it and measures its scenarios.
async fn bench_dockyard(
    dockyard: &Path,
    backend: Backend,
    database_url: Option<&str>,
    settings: &Settings,
    results: &mut Vec<Measurement>,
) -> anyhow::Result<()> {
    eprintln!("==> Dockyard on {}", backend.title());
    let temp = TempDir::new("dockyard-bench")?;
    let mut server = ChildServer::start_dockyard(dockyard, &temp.0.join("data"), database_url, &[]).await?;
    let outcome = async {
        let prepared = prepare(&server).await?;
        measure_all(settings, results, |connections| Scenario {
            scenario: "healthz",
            backend: Some(backend.name()),
            label: format!("{} GET /healthz", backend.title()),
            url: server.url("/healthz"),
            headers: Vec::new(),
            connections,
        })
        .await?;
        let list_path = format!("/api/v1/orgs/{}/projects", prepared.org);
        measure_all(settings, results, |connections| Scenario {
            scenario: "projects-list",
            backend: Some(backend.name()),
            label: format!("{} GET /api/v1/orgs/{{org}}/projects (bearer token)", backend.title()),
            url: server.url(&list_path),
            headers: vec![format!("Authorization: Bearer {}", prepared.token)],
            connections,
        })
        .await
    }
    .await;
    server.stop().await;
    outcome
}

struct Prepared {
    org: String,
    token: String,
}

/// First-run setup as the bench admin; answers the default org's id and the session cookie.
pub(crate) async fn setup_admin(server: &ChildServer) -> anyhow::Result<(String, String)> {
    let setup_token = server.setup_token.clone().context("Dockyard printed no setup token; is the data dir fresh?")?;
    let setup = client::call(
        Method::POST,
        &server.url("/api/v1/setup"),
        &[("origin", &server.base)],
        Some(&json!({ "token": setup_token, "email": "bench@example.com", "name": "Bench", "password": PASSWORD })),
    )
    .await?
    .expect(StatusCode::CREATED, "setup")?;
    let org = setup.json()?["org"]["id"].as_str().context("setup answered no org id")?.to_owned();
    let cookie = session_cookie(&setup).context("setup set no session cookie")?;
    Ok((org, cookie))
}

/// First-run setup, 25 projects and a read token; checks the list answers them.
async fn prepare(server: &ChildServer) -> anyhow::Result<Prepared> {
    let (org, cookie) = setup_admin(server).await?;
    let origin = server.base.clone();
    let browser = [("origin", origin.as_str()), ("cookie", cookie.as_str())];
    for number in 1..=PROJECTS {
        client::call(
            Method::POST,
            &server.url(&format!("/api/v1/orgs/{org}/projects")),
            &browser,
            Some(&json!({ "name": format!("Bench project {number:02}") })),
        )
        .await?
        .expect(StatusCode::CREATED, "create a project")?;
    }
    let created = client::call(
        Method::POST,
        &server.url("/api/v1/tokens"),
        &browser,
        Some(&json!({ "name": "bench", "scopes": ["read"] })),
    )
    .await?
    .expect(StatusCode::CREATED, "create a token")?;
    let token = created.json()?["token"].as_str().context("the token answer has no token")?.to_owned();
    let bearer = format!("Bearer {token}");
    let list = client::call(
        Method::GET,
        &server.url(&format!("/api/v1/orgs/{org}/projects")),
        &[("authorization", &bearer)],
        None,
    )
    .await?
    .expect(StatusCode::OK, "list projects")?;
    let listed = list.json()?["items"].as_array().map_or(0, Vec::len);
    if listed != PROJECTS {
        bail!("the list answered {listed} projects, not {PROJECTS}: {}", list.text());
    }
    eprintln!("    prepared: org {org}, {PROJECTS} projects, a read token");
    Ok(Prepared { org, token })
}

/// `dockyard_session=…` from the answer's Set-Cookie headers.
/// The `dockyard` binary to measure: the given path, or the one next to this binary.
pub(crate) fn dockyard_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dockyard = match given {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("dockyard"),
    };
    if !dockyard.is_file() {
        bail!(
            "no dockyard binary at {}; build it (cargo build --release -p dockyard) or pass --dockyard",
            dockyard.display()
        );
    }
    Ok(dockyard)
}

pub(crate) fn session_cookie(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get_all(hyper::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.trim_start().starts_with("dockyard_session="))
        .map(|pair| pair.trim().to_owned())
}

/// A server child process: hello-world or Dockyard.
pub(crate) struct ChildServer {
    name: &'static str,
    child: Option<Child>,
    pub(crate) base: String,
    pub(crate) setup_token: Option<String>,
    stderr: Arc<Mutex<StderrLog>>,
}

#[derive(Default)]
struct StderrLog {
    lines: usize,
    first: Vec<String>,
}

impl ChildServer {
    async fn start_hello() -> anyhow::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["hello", "--listen", "127.0.0.1:0"]);
        Self::start("hello-world", command, |line, server| {
            if let Some(url) = line.strip_prefix(LISTENING) {
                server.base = url.trim().to_owned();
                return true;
            }
            false
        })
        .await
    }

    /// Dockyard on `data_dir`, with `extra_env` added to its environment.
    pub(crate) async fn start_dockyard(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DOCKYARD_DATA_DIR", data_dir)
            .env("DOCKYARD_LOG_LEVEL", "warn")
            .env("DOCKYARD_RATE_LIMIT__ENABLED", "false");
        if let Some(url) = database_url {
            command.env("DOCKYARD_DATABASE_URL", url);
        }
        command.envs(extra_env.iter().copied());
        Self::start("dockyard", command, |line, server| {
            if let Some(url) = line.strip_prefix("Dockyard is listening on ") {
                server.base = url.trim().to_owned();
            } else if let Some(token) = line.strip_prefix("Setup token: ") {
                server.setup_token = Some(token.trim().to_owned());
            }
            line == "Dockyard is ready"
        })
        .await
    }

    /// Spawns the command and reads its standard output until `ready` says so.
    async fn start(
        name: &'static str,
        mut command: Command,
        ready: impl Fn(&str, &mut Self) -> bool,
    ) -> anyhow::Result<Self> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().with_context(|| format!("cannot start {name}"))?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let mut server = Self {
            name,
            child: Some(child),
            base: String::new(),
            setup_token: None,
            stderr: Arc::new(Mutex::new(StderrLog::default())),
        };
        let log = server.stderr.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut log) = log.lock() {
                    log.lines += 1;
                    if log.first.len() < 20 {
                        log.first.push(line);
                    }
                }
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let waited = tokio::time::timeout(STARTUP_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if ready(&line, &mut server) {
                    return Ok(true);
                }
            }
            Ok::<_, std::io::Error>(false)
        })
        .await;
        match waited {
            Ok(Ok(true)) if !server.base.is_empty() => {}
            Ok(Ok(_)) => bail!("{name} exited before it was ready; stderr:\n{}", server.stderr_text()),
            Ok(Err(error)) => bail!("cannot read {name}'s output: {error}"),
            Err(_) => {
                bail!("{name} was not ready within {} s; stderr:\n{}", STARTUP_TIMEOUT.as_secs(), server.stderr_text())
            }
        }
        // Keep draining standard output so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        eprintln!("    {name} is listening on {}", server.base);
        Ok(server)
    }

    /// The child's process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().map(|log| log.first.join("\n")).unwrap_or_default()
    }

    /// SIGTERM, then SIGKILL if the process has not exited after 15 s.
    pub(crate) async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(15), child.wait()).await.is_err() {
            eprintln!("warning: {} did not stop on SIGTERM; killing it", self.name);
            let _ = child.kill().await;
        }
        if let Ok(log) = self.stderr.lock()
            && log.lines > 0
        {
            eprintln!("    {} wrote {} line(s) to stderr; the first:\n{}", self.name, log.lines, log.first.join("\n"));
        }
    }
}

/// A fresh PostgreSQL database for one pass, dropped afterwards.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("dy_bench_{}", unique_suffix());
        let mut connection = sqlx::PgConnection::connect(admin_url).await.context("cannot connect to PostgreSQL")?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
        let _ = connection.close().await;
        eprintln!("==> created the PostgreSQL database {name}");
        Ok(Self { admin_url: admin_url.to_owned(), url: with_database(admin_url, &name)?, name })
    }

    async fn drop_database(&self) {
        let dropped = async {
            let mut connection = sqlx::PgConnection::connect(&self.admin_url).await?;
            let forced =
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
                    .execute(&mut connection)
                    .await;
            if forced.is_err() {
                // Before PostgreSQL 13 there is no FORCE; the server has stopped anyway.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {}", self.name)))
                    .execute(&mut connection)
                    .await?;
            }
            let _ = connection.close().await;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match dropped {
            Ok(()) => eprintln!("==> dropped the PostgreSQL database {}", self.name),
            Err(error) => eprintln!("warning: cannot drop the PostgreSQL database {}: {error}", self.name),
        }
    }
}

/// The admin URL with its database (path) replaced, keeping any query string.
fn with_database(admin_url: &str, database: &str) -> anyhow::Result<String> {
    let (scheme, rest) = admin_url.split_once("://").context("the PostgreSQL URL has no scheme")?;
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    let mut url = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

/// Lower-case hex from the clock and the process id: unique enough for names.
fn unique_suffix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_nanos()).unwrap_or_default();
    format!("{:x}_{:x}", std::process::id(), nanos % (1 << 48))
}

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", unique_suffix()));
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fills in each measurement's rps over hello-world's at the same connection count.
fn add_ratios(results: &mut [Measurement]) {
    let hello: Vec<(usize, f64)> =
        results.iter().filter(|m| m.scenario == "hello-world").map(|m| (m.connections, m.report.rps)).collect();
    for measurement in results.iter_mut() {
        measurement.rps_vs_hello = hello
            .iter()
            .find(|(connections, _)| *connections == measurement.connections)
            .filter(|(_, rps)| *rps > 0.0)
            .map(|(_, rps)| round(measurement.report.rps / rps, 4));
    }
}

fn verdict(results: &[Measurement]) -> TargetVerdict {
    let measured = results
        .iter()
        .find(|m| m.scenario == "projects-list" && m.backend == Some("sqlite") && m.connections == TARGET_CONNECTIONS);
    let rps_ratio = measured.and_then(|m| m.rps_vs_hello);
    let p99_ms = measured.map(|m| m.report.p99_ms);
    let verdict = match (measured, rps_ratio, p99_ms) {
        (Some(m), Some(ratio), Some(p99)) if m.report.requests > 0 => {
            if ratio >= TARGET_RATIO && p99 <= TARGET_P99_MS && m.report.errors == 0 { "PASS" } else { "MISS" }
        }
        _ => "NOT MEASURED",
    };
    TargetVerdict { target: TARGET_TEXT, connections: TARGET_CONNECTIONS, rps_ratio, p99_ms, verdict }
}

fn verdict_line(verdict: &TargetVerdict) -> String {
    let detail = match (verdict.rps_ratio, verdict.p99_ms) {
        (Some(ratio), Some(p99)) => format!(" (measured: {:.1}% of hello-world, p99 {p99} ms)", ratio * 100.0),
        _ => String::new(),
    };
    format!("Target: {}: {}{detail}", verdict.target, verdict.verdict)
}

fn markdown_table(results: &[Measurement]) -> String {
    let mut table = String::from(
        "| scenario | connections | rps | p50 ms | p99 ms | errors | rps vs hello-world |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        let ratio = m.rps_vs_hello.map_or_else(|| "n/a".to_owned(), |ratio| format!("{:.1}%", ratio * 100.0));
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |\n",
            m.label, m.connections, m.report.rps, m.report.p50_ms, m.report.p99_ms, m.report.errors, ratio
        ));
    }
    table
}

pub(crate) fn write_results(out: &Path, document: &impl Serialize, markdown: &str) -> anyhow::Result<()> {
    if let Some(parent) = out.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(out, format!("{}\n", serde_json::to_string_pretty(document)?))
        .with_context(|| format!("cannot write {}", out.display()))?;
    let markdown_path = out.with_extension("md");
    std::fs::write(&markdown_path, markdown).with_context(|| format!("cannot write {}", markdown_path.display()))?;
    Ok(())
}

pub(crate) fn machine_info() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo.lines().find_map(|line| {
        line.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, model)| model.trim().to_owned())
    });
    let memory_kb = std::fs::read_to_string("/proc/meminfo").ok().and_then(|meminfo| {
        meminfo.lines().find_map(|line| {
            line.strip_prefix("MemTotal:")
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
    });
    json!({
        "nproc": std::thread::available_parallelism().map(usize::from).ok(),
        "cpu_model": cpu_model,
        "memory_total_kb": memory_kb,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|release| release.trim().to_owned()),
        "arch": std::env::consts::ARCH,
    })
}

/// The 1, 5 and 15 minute load averages of /proc/loadavg.
pub(crate) fn loadavg() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The trimmed standard output of a command that succeeded.
pub(crate) async fn command_output(program: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().await.ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(
        scenario: &'static str,
        backend: Option<&'static str>,
        connections: usize,
        rps: f64,
        p99_ms: f64,
    ) -> Measurement {
        Measurement {
            scenario,
            backend,
            label: scenario.to_owned(),
            path: "/".to_owned(),
            connections,
            report: LoadReport {
                requests: 1000,
                errors: 0,
                seconds: 1.0,
                rps,
                p50_ms: 1.0,
                p90_ms: 1.0,
                p99_ms,
                max_ms: p99_ms,
            },
            rps_vs_hello: None,
        }
    }

    #[test]
    fn the_database_is_swapped_in_the_url() {
        assert_eq!(
            with_database("postgres://dockyard:dockyard@127.0.0.1:5432/postgres", "dy_bench_1").expect("url"),
            "postgres://dockyard:dockyard@127.0.0.1:5432/dy_bench_1"
        );
        assert_eq!(
            with_database("postgres://u@h:1/db?sslmode=disable", "x").expect("url"),
            "postgres://u@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:1", "x").expect("url"), "postgres://u@h:1/x");
    }

    #[test]
    fn the_target_is_judged_against_hello_world_at_64_connections() {
        let mut results = vec![
            measurement("hello-world", None, 64, 10_000.0, 2.0),
            measurement("hello-world", None, 256, 12_000.0, 9.0),
            measurement("projects-list", Some("sqlite"), 64, 4_500.0, 8.0),
            measurement("projects-list", Some("sqlite"), 256, 1_000.0, 80.0),
        ];
        add_ratios(&mut results);
        assert_eq!(results[2].rps_vs_hello, Some(0.45));
        assert_eq!(verdict(&results).verdict, "PASS");
        results[2].report.p99_ms = 12.0;
        assert_eq!(verdict(&results).verdict, "MISS");
        assert_eq!(verdict(&results[..2]).verdict, "NOT MEASURED");
    }
}
