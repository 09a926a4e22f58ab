//! The deploy benchmark (issue 5): how long a user waits for a deploy.
//!
//! `dockyard serve` (release, deploys on, its own instance id, the proxy on a
//! free loopback port) runs as a child process on a fresh data dir.
//!
//! 1. **Deploy overhead.** One image, built once with `docker build`:
//!    `FROM dockyard-base/busybox:1`, `httpd -f -p 8080 -h /www` with a
//!    `/www/health` file. Interleaved rounds (the order flips every round):
//!    - `dockyard`: a service with `source: {type: "image"}`, port 8080 and
//!      health path `/health`; the time from `POST /services/{s}/deployments`
//!      to the deployment's status being `active`, polling
//!      `GET /deployments/{d}` every 20 ms (not the SSE log). Every counted
//!      round is a redeploy (one uncounted deploy comes first), so after going
//!      active the job also drains and stops the previous deployment: the job's
//!      own `finished_at - queued_at` is reported as the total job time, and the
//!      next round starts only after the job finished.
//!    - `docker run`: `docker run -d --network <a bench bridge network>`, then
//!      `GET http://<container ip>:8080/health` every 20 ms until 200, then
//!      `docker rm -f` (not timed).
//! 2. **Redeploy with a warm build cache.** A workspace service with a
//!    Dockerfile of a few steps (COPY of a small app and RUN steps, a `RUN`
//!    after the last COPY), its files written through the API. One cold deploy
//!    (the Dockerfile carries a per-run nonce, so no earlier run's layers
//!    match), then alternately (a) a redeploy with no change and (b) a redeploy
//!    after a one-line change in the last COPYed file. Each: POST → active,
//!    and from the deployment's `steps`: the build (`building_at` →
//!    `starting_at`) and the start and health check (`starting_at` →
//!    `active_at`).
//!
//! Health traffic goes only to containers this run started on the local
//! engine's bridge network, and to loopback. Every loop is bounded in time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::header::{HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::client::{self, Answer};
use crate::foundation::{PASSWORD, TempDir, dockyard_binary, loadavg, machine_info, session_cookie, write_results};
use crate::load::{Target, round};

const BASE_IMAGE: &str = "dockyard-base/busybox:1";
const BENCH_IMAGE: &str = "dockyard-bench/deploy-httpd:1";
const POLL: Duration = Duration::from_millis(20);
/// How long one deployment or one container may take to become healthy.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(180);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
const TARGET_EXTRA_MS: f64 = 1000.0;
const TARGET_TEXT: &str = "click to healthy for a prebuilt image <= 1 s more than docker run plus a health poll";

const PEER_DOCKERFILE: &str = "FROM dockyard-base/busybox:1\n\
RUN mkdir -p /www && echo ok > /www/health && echo hello > /www/index.html\n\
EXPOSE 8080\n\
CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";

#[derive(Args)]
pub struct DeployArgs {
    /// Rounds of the deploy-overhead comparison (each of Dockyard and docker run).
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// Redeploys of each kind (no change, one-line change) with a warm build cache.
    #[arg(long, default_value_t = 5)]
    redeploys: usize,
    /// Dockyard's drain time for redeploys (`deploy.drain_seconds`); it only affects the total job time.
    #[arg(long, default_value_t = 2)]
    drain_seconds: u32,
    /// Dockyard's stop grace for old containers (`deploy.stop_grace_seconds`); total job time only.
    #[arg(long, default_value_t = 1)]
    stop_grace_seconds: u32,
    /// The `dockyard` binary (default: the one next to this binary).
    #[arg(long)]
    dockyard: Option<PathBuf>,
    /// The JSON file to write; a Markdown copy goes beside it.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
}

fn default_out() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).join("bench/results/deploy.json")
}

/// One timed deploy.
#[derive(Debug, Clone, Serialize)]
struct Sample {
    kind: &'static str,
    round: usize,
    /// What the user waits for: POST (or `docker run`) to healthy, measured here.
    wait_ms: f64,
    /// From the deployment's steps (server clocks), where there are steps.
    queue_ms: Option<f64>,
    build_ms: Option<f64>,
    start_health_ms: Option<f64>,
    /// `finished_at - queued_at`: the whole job, with drain and stop of the previous deployment.
    job_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct Stats {
    kind: &'static str,
    n: usize,
    median_ms: f64,
    p90_ms: f64,
    min_ms: f64,
    max_ms: f64,
    build_median_ms: Option<f64>,
    start_health_median_ms: Option<f64>,
    queue_median_ms: Option<f64>,
    job_median_ms: Option<f64>,
}

pub async fn run(args: DeployArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || args.redeploys == 0 {
        bail!("--rounds and --redeploys must be at least 1");
    }
    let dockyard = dockyard_binary(args.dockyard.as_deref())?;
    let docker_version = docker_output(&["version", "--format", "{{.Server.Version}}"])
        .await
        .context("no Docker engine answers `docker version`; start dockerd (scripts/bench-deploy.sh does)")?;
    if docker_output(&["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE]).await.is_err() {
        bail!("the base image {BASE_IMAGE} is missing; run scripts/base-images.sh busybox");
    }
    let loadavg_start = loadavg();
    eprintln!("==> deploy benchmark; load average before: {}", loadavg_start.as_deref().unwrap_or("unknown"));

    let dir = TempDir::new("dockyard-bench-deploy")?;
    let suffix = unique_suffix();
    eprintln!("==> building {BENCH_IMAGE} with docker build");
    let peer_context = dir.0.join("peer-image");
    std::fs::create_dir_all(&peer_context)?;
    std::fs::write(peer_context.join("Dockerfile"), PEER_DOCKERFILE)?;
    let build_started = Instant::now();
    docker_output(&["build", "-q", "-t", BENCH_IMAGE, peer_context.to_str().context("temp path")?])
        .await
        .context("docker build of the bench image")?;
    eprintln!("    built in {:.2} s", build_started.elapsed().as_secs_f64());

    let instance = format!("bench-{suffix}");
    let network = format!("dockyard-bench-{suffix}");
    docker_output(&["network", "create", "--driver", "bridge", &network]).await.context("docker network create")?;
    let data_dir = dir.0.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let drain = args.drain_seconds.to_string();
    let stop_grace = args.stop_grace_seconds.to_string();
    let env = [
        ("DOCKYARD_DEPLOY__ENGINE", "on"),
        ("DOCKYARD_DEPLOY__INSTANCE_ID", instance.as_str()),
        ("DOCKYARD_PROXY_LISTEN", "127.0.0.1:0"),
        ("DOCKYARD_DEPLOY__DRAIN_SECONDS", drain.as_str()),
        ("DOCKYARD_DEPLOY__STOP_GRACE_SECONDS", stop_grace.as_str()),
        ("DOCKYARD_DEPLOY__IMAGES__STATIC_SITE", BASE_IMAGE),
    ];
    let mut server = DeployServer::start(&dockyard, &data_dir, &env).await?;
    let outcome = async {
        let api = Api::setup(&server).await?;
        let overhead = deploy_overhead(&api, &server, &network, args.rounds).await?;
        let redeploy = warm_redeploys(&api, &server, args.redeploys).await?;
        anyhow::Ok((overhead, redeploy))
    }
    .await;
    server.stop().await;
    cleanup(&instance, &network).await;
    let (overhead, redeploy) = outcome?;

    let dockyard_stats = stats("dockyard", &overhead, "dockyard");
    let peer_stats = stats("docker run", &overhead, "docker run");
    let extra_median = round(dockyard_stats.median_ms - peer_stats.median_ms, 1);
    let extra_p90 = round(dockyard_stats.p90_ms - peer_stats.p90_ms, 1);
    let redeploy_stats: Vec<Stats> = ["cold", "no change", "one-line change"]
        .into_iter()
        .map(|kind| stats(kind, &redeploy, kind))
        .filter(|stats| stats.n > 0)
        .collect();
    let overhead_stats = vec![dockyard_stats, peer_stats];
    let document = json!({
        "benchmark": "deploy",
        "date": Utc::now().to_rfc3339(),
        "machine": machine_info(),
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "versions": { "docker": docker_version },
        "settings": {
            "rounds": args.rounds,
            "redeploys": args.redeploys,
            "poll_ms": POLL.as_millis() as u64,
            "how_active_is_seen": "GET /api/v1/deployments/{id} every 20 ms until status is active",
            "image": BENCH_IMAGE,
            "drain_seconds": args.drain_seconds,
            "stop_grace_seconds": args.stop_grace_seconds,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        },
        "target": TARGET_TEXT,
        "verdict": {
            "extra_median_ms": extra_median,
            "extra_p90_ms": extra_p90,
            "overhead": if extra_median <= TARGET_EXTRA_MS { "PASS" } else { "MISS" },
        },
        "overhead": overhead_stats,
        "redeploy": redeploy_stats,
        "samples": { "overhead": overhead, "redeploy": redeploy },
    });
    let markdown = markdown(&document, &overhead_stats, &redeploy_stats, extra_median, extra_p90);
    write_results(&args.out, &document, &markdown)?;
    println!("{markdown}");
    eprintln!("==> wrote {} (and .md)", args.out.display());
    Ok(())
}

/// Part 1: the same image deployed by Dockyard and by `docker run`, interleaved.
async fn deploy_overhead(
    api: &Api,
    server: &DeployServer,
    network: &str,
    rounds: usize,
) -> anyhow::Result<Vec<Sample>> {
    eprintln!("==> deploy overhead: {rounds} interleaved rounds");
    let project = api.project("Bench image").await?;
    let service = api
        .create_service(
            &project,
            json!({ "name": "web", "source": { "type": "image", "image": BENCH_IMAGE },
                    "port": 8080, "health_check_path": "/health" }),
        )
        .await?;
    // The first deploy (the project's network, the first route) is not counted.
    let warmup = api.deploy_until_active(&service.id).await?;
    api.wait_finished(&warmup.id).await?;
    server.check_proxy(&service.host, "/health").await?;
    let mut samples = Vec::new();
    for round_number in 1..=rounds {
        let dockyard_first = round_number % 2 == 1;
        for turn in 0..2 {
            if (turn == 0) == dockyard_first {
                let deployed = api.deploy_until_active(&service.id).await?;
                let finished = api.wait_finished(&deployed.id).await?;
                server.check_proxy(&service.host, "/health").await?;
                let steps = Steps::of(&finished);
                eprintln!(
                    "    round {round_number}: dockyard {:.0} ms to active (job {:.0} ms)",
                    deployed.wait_ms,
                    steps.job_ms().unwrap_or(f64::NAN)
                );
                samples.push(steps.sample("dockyard", round_number, deployed.wait_ms));
            } else {
                let wait_ms = docker_run_until_healthy(network).await?;
                eprintln!("    round {round_number}: docker run {wait_ms:.0} ms to healthy");
                samples.push(Sample {
                    kind: "docker run",
                    round: round_number,
                    wait_ms,
                    queue_ms: None,
                    build_ms: None,
                    start_health_ms: None,
                    job_ms: None,
                });
            }
        }
    }
    Ok(samples)
}

/// `docker run -d`, then the health path every 20 ms until 200; the container is removed after (not timed).
async fn docker_run_until_healthy(network: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let id = docker_output(&["run", "-d", "--network", network, "--label", "dockyard-bench=deploy", BENCH_IMAGE])
        .await
        .context("docker run")?;
    let result = async {
        let ip =
            docker_output(&["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &id])
                .await?;
        let addr: SocketAddr = format!("{ip}:8080").parse().with_context(|| format!("container address {ip:?}"))?;
        let deadline = Instant::now() + DEPLOY_TIMEOUT;
        loop {
            if health_ok(addr).await {
                return anyhow::Ok(started.elapsed().as_secs_f64() * 1000.0);
            }
            if Instant::now() > deadline {
                bail!("the container at {addr} never answered /health");
            }
            tokio::time::sleep(POLL).await;
        }
    }
    .await;
    let _ = docker_output(&["rm", "-f", &id]).await;
    result
}

/// One GET /health straight to a container: whether it answered 200.
async fn health_ok(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        std::io::Result::Ok(answer)
    };
    match tokio::time::timeout(Duration::from_secs(1), attempt).await {
        Ok(Ok(answer)) => answer.starts_with(b"HTTP/1.1 200") || answer.starts_with(b"HTTP/1.0 200"),
        _ => false,
    }
}

const APP_DOCKERFILE: &str = "FROM dockyard-base/busybox:1\n\
RUN mkdir -p /app /www && echo {NONCE} > /app/build-id\n\
COPY lib/ /app/lib/\n\
RUN ls -lR /app > /app/manifest.txt && cat /app/lib/*.txt | wc -l > /app/lines.txt\n\
COPY www/index.html /www/index.html\n\
RUN echo ok > /www/health && wc -c /www/index.html > /www/size.txt\n\
CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";

fn index_html(version: usize) -> String {
    let mut text = String::from("<!doctype html>\n<title>bench</title>\n");
    for line in 0..40 {
        text.push_str(&format!("<p>line {line} of the bench page</p>\n"));
    }
    text.push_str(&format!("<p>version {version}</p>\n"));
    text
}

/// Part 2: a workspace with a Dockerfile; a cold deploy, then redeploys with and without a change.
async fn warm_redeploys(api: &Api, server: &DeployServer, redeploys: usize) -> anyhow::Result<Vec<Sample>> {
    eprintln!("==> redeploys with a warm build cache: 1 cold, {redeploys} with no change, {redeploys} with a change");
    let project = api.project("Bench app").await?;
    let nonce = unique_suffix();
    api.write_file(&project, "Dockerfile", APP_DOCKERFILE.replace("{NONCE}", &nonce).as_bytes()).await?;
    for number in 0..5 {
        let body: String = (0..50).map(|line| format!("module {number} line {line}\n")).collect();
        api.write_file(&project, &format!("lib/module{number}.txt"), body.as_bytes()).await?;
    }
    let mut version = 1;
    api.write_file(&project, "www/index.html", index_html(version).as_bytes()).await?;
    let service = api
        .create_service(
            &project,
            json!({ "name": "app", "source": { "type": "workspace" }, "port": 8080, "health_check_path": "/health" }),
        )
        .await?;
    let mut samples = Vec::new();
    let mut timed = async |kind: &'static str, round_number: usize, expect: Option<usize>| -> anyhow::Result<()> {
        let deployed = api.deploy_until_active(&service.id).await?;
        let finished = api.wait_finished(&deployed.id).await?;
        let (status, body) = server.get_via_proxy(&service.host, "/").await?;
        if let Some(version) = expect
            && (status != 200 || !body.contains(&format!("version {version}<")))
        {
            bail!("after the {kind} deploy the proxy answered {status} without version {version}: {body}");
        }
        let steps = Steps::of(&finished);
        let sample = steps.sample(kind, round_number, deployed.wait_ms);
        eprintln!(
            "    {kind} {round_number}: {:.0} ms to active (build {:.0} ms, start+health {:.0} ms)",
            sample.wait_ms,
            sample.build_ms.unwrap_or(f64::NAN),
            sample.start_health_ms.unwrap_or(f64::NAN)
        );
        samples.push(sample);
        Ok(())
    };
    timed("cold", 1, Some(version)).await?;
    for round_number in 1..=redeploys {
        timed("no change", round_number, Some(version)).await?;
        version += 1;
        api.write_file(&project, "www/index.html", index_html(version).as_bytes()).await?;
        timed("one-line change", round_number, Some(version)).await?;
    }
    Ok(samples)
}

/// A deployment's step times, from `GET /deployments/{d}`.
struct Steps {
    queued: Option<DateTime<Utc>>,
    building: Option<DateTime<Utc>>,
    starting: Option<DateTime<Utc>>,
    active: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
}

impl Steps {
    fn of(deployment: &Value) -> Self {
        let at = |name: &str| {
            deployment["steps"][name]
                .as_str()
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                .map(|time| time.with_timezone(&Utc))
        };
        Self {
            queued: at("queued_at"),
            building: at("building_at"),
            starting: at("starting_at"),
            active: at("active_at"),
            finished: at("job_finished_at"),
        }
    }

    fn between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<f64> {
        let (from, to) = (from?, to?);
        Some(round((to - from).num_microseconds()? as f64 / 1000.0, 1))
    }

    fn job_ms(&self) -> Option<f64> {
        Self::between(self.queued, self.finished)
    }

    fn sample(&self, kind: &'static str, round_number: usize, wait_ms: f64) -> Sample {
        Sample {
            kind,
            round: round_number,
            wait_ms: round(wait_ms, 1),
            queue_ms: Self::between(self.queued, self.building.or(self.starting)),
            build_ms: Self::between(self.building, self.starting),
            start_health_ms: Self::between(self.starting, self.active),
            job_ms: self.job_ms(),
        }
    }
}

fn percentile(values: &[f64], percent: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
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

fn stats(label: &'static str, samples: &[Sample], kind: &str) -> Stats {
    let runs: Vec<&Sample> = samples.iter().filter(|sample| sample.kind == kind).collect();
    let waits: Vec<f64> = runs.iter().map(|sample| sample.wait_ms).collect();
    let optional_median = |pick: fn(&Sample) -> Option<f64>| {
        let values: Vec<f64> = runs.iter().filter_map(|sample| pick(sample)).collect();
        (!values.is_empty()).then(|| round(median(&values), 1))
    };
    Stats {
        kind: label,
        n: runs.len(),
        median_ms: round(median(&waits), 1),
        p90_ms: round(percentile(&waits, 90.0), 1),
        min_ms: waits.iter().copied().fold(f64::INFINITY, f64::min),
        max_ms: waits.iter().copied().fold(0.0, f64::max),
        build_median_ms: optional_median(|sample| sample.build_ms),
        start_health_median_ms: optional_median(|sample| sample.start_health_ms),
        queue_median_ms: optional_median(|sample| sample.queue_ms),
        job_median_ms: optional_median(|sample| sample.job_ms),
    }
}

fn markdown(document: &Value, overhead: &[Stats], redeploy: &[Stats], extra_median: f64, extra_p90: f64) -> String {
    let optional = |value: Option<f64>| value.map_or_else(String::new, |value| format!("{value:.0}"));
    let mut text = String::from("# Deploy benchmark\n\n");
    text.push_str(&format!(
        "Build: {}. Machine: {} cores; load average before {}, after {}. Docker {}. Deployments are seen \
         active by polling GET /api/v1/deployments/{{id}} every 20 ms; containers are polled on /health every \
         20 ms. Dockyard: drain {} s, stop grace {} s.\n\n",
        document["settings"]["build"].as_str().unwrap_or("?"),
        document["machine"]["nproc"],
        document["loadavg_start"].as_str().unwrap_or("?"),
        document["loadavg_end"].as_str().unwrap_or("?"),
        document["versions"]["docker"].as_str().unwrap_or("?"),
        document["settings"]["drain_seconds"],
        document["settings"]["stop_grace_seconds"],
    ));
    text.push_str(&format!(
        "## Deploy overhead: a prebuilt image ({BENCH_IMAGE}), {} interleaved rounds\n\n\
         | | n | median ms | p90 ms | min ms | max ms | queued → starting ms | start + health ms | whole job ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        document["settings"]["rounds"]
    ));
    for s in overhead {
        let what = match s.kind {
            "dockyard" => "Dockyard: POST deployments → active",
            _ => "docker run -d + poll /health → 200",
        };
        text.push_str(&format!(
            "| {what} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} |\n",
            s.n,
            s.median_ms,
            s.p90_ms,
            s.min_ms,
            s.max_ms,
            optional(s.queue_median_ms),
            optional(s.start_health_median_ms),
            optional(s.job_median_ms),
        ));
    }
    text.push_str(&format!(
        "\nExtra time of Dockyard: **{extra_median:.0} ms** at the median, {extra_p90:.0} ms at p90. Target: \
         {TARGET_TEXT} ({}).\nEach counted Dockyard round is a redeploy: after going active its job also drains \
         and stops the previous deployment (the whole job column; the user already has the new version).\n\n",
        if extra_median <= TARGET_EXTRA_MS { "PASS" } else { "MISS" }
    ));
    text.push_str(
        "## Redeploy of a workspace with a Dockerfile (warm build cache)\n\n\
         Dockerfile: FROM busybox, RUN, COPY lib/ (5 small files), RUN, COPY www/index.html, RUN, CMD. \
         The cold deploy has a per-run nonce in its first RUN, so no earlier run's layers match.\n\n\
         | deploy | n | median ms (POST → active) | p90 ms | build ms (building → starting) | start + health ms | queued ms |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in redeploy {
        text.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {} | {} | {} |\n",
            s.kind,
            s.n,
            s.median_ms,
            s.p90_ms,
            optional(s.build_median_ms),
            optional(s.start_health_median_ms),
            optional(s.queue_median_ms),
        ));
    }
    text.push('\n');
    let busy = |key: &str| {
        document[key]
            .as_str()
            .and_then(|load| load.split_whitespace().next()?.parse::<f64>().ok())
            .zip(document["machine"]["nproc"].as_f64())
            .filter(|(load, cores)| load > cores)
    };
    if let Some((load, cores)) = busy("loadavg_start").or_else(|| busy("loadavg_end")) {
        text.push_str(&format!(
            "**The machine was busy** (1-minute load average {load} on {cores} cores): other processes took CPU \
             from Docker, Dockyard and the containers at random moments, so the times are longer and noisier \
             than on a quiet machine. Rerun on a quiet machine for verdicts.\n"
        ));
    }
    text
}

/// The bench admin's session against a running Dockyard.
struct Api {
    base: String,
    org: String,
    cookie: String,
}

struct Created {
    id: String,
    host: String,
}

struct Deployed {
    id: String,
    wait_ms: f64,
}

impl Api {
    async fn setup(server: &DeployServer) -> anyhow::Result<Self> {
        let token = server.setup_token.clone().context("Dockyard printed no setup token")?;
        let setup = client::call(
            Method::POST,
            &format!("{}/api/v1/setup", server.base),
            &[("origin", &server.base)],
            Some(&json!({ "token": token, "email": "bench@example.com", "name": "Bench", "password": PASSWORD })),
        )
        .await?
        .expect(StatusCode::CREATED, "setup")?;
        let org = setup.json()?["org"]["id"].as_str().context("setup answered no org id")?.to_owned();
        let cookie = session_cookie(&setup).context("setup set no session cookie")?;
        Ok(Self { base: server.base.clone(), org, cookie })
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let headers = [("origin", self.base.as_str()), ("cookie", self.cookie.as_str())];
        client::call(method, &format!("{}{path}", self.base), &headers, body).await
    }

    async fn project(&self, name: &str) -> anyhow::Result<String> {
        let created = self
            .call(Method::POST, &format!("/api/v1/orgs/{}/projects", self.org), Some(&json!({ "name": name })))
            .await?
            .expect(StatusCode::CREATED, "create a project")?;
        Ok(created.json()?["id"].as_str().context("project id")?.to_owned())
    }

    async fn create_service(&self, project: &str, body: Value) -> anyhow::Result<Created> {
        let created = self
            .call(Method::POST, &format!("/api/v1/projects/{project}/services"), Some(&body))
            .await?
            .expect(StatusCode::CREATED, "create a service")?
            .json()?;
        Ok(Created {
            id: created["id"].as_str().context("service id")?.to_owned(),
            host: created["host"].as_str().context("service host")?.to_owned(),
        })
    }

    async fn write_file(&self, project: &str, path: &str, body: &[u8]) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/projects/{project}/files/{path}", self.base);
        let headers = [("origin", self.base.as_str()), ("cookie", self.cookie.as_str())];
        let answer = raw_call(Method::PUT, &url, &headers, Bytes::copy_from_slice(body)).await?;
        if !answer.status.is_success() {
            bail!("write {path}: {} {}", answer.status, answer.text());
        }
        Ok(())
    }

    /// POST a deployment, then GET it every 20 ms until it is active.
    async fn deploy_until_active(&self, service: &str) -> anyhow::Result<Deployed> {
        let started = Instant::now();
        let created = self
            .call(Method::POST, &format!("/api/v1/services/{service}/deployments"), Some(&json!({})))
            .await?
            .expect(StatusCode::ACCEPTED, "deploy")?
            .json()?;
        let id = created["id"].as_str().context("deployment id")?.to_owned();
        loop {
            let deployment = self.call(Method::GET, &format!("/api/v1/deployments/{id}"), None).await?.json()?;
            match deployment["status"].as_str().unwrap_or_default() {
                "active" => return Ok(Deployed { id, wait_ms: started.elapsed().as_secs_f64() * 1000.0 }),
                "queued" | "building" | "starting" => {}
                other => bail!("deployment {id} ended {other}: {deployment}"),
            }
            if started.elapsed() > DEPLOY_TIMEOUT {
                bail!("deployment {id} was not active after {} s: {deployment}", DEPLOY_TIMEOUT.as_secs());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the deployment's job has finished (drain and stop of the
    /// previous deployment included); answers the deployment with the job's
    /// `finished_at` as `steps.job_finished_at`.
    async fn wait_finished(&self, id: &str) -> anyhow::Result<Value> {
        let started = Instant::now();
        let mut deployment = self.call(Method::GET, &format!("/api/v1/deployments/{id}"), None).await?.json()?;
        let job = deployment["job_id"].as_str().context("the deployment has no job_id")?.to_owned();
        loop {
            let answer = self.call(Method::GET, &format!("/api/v1/jobs/{job}"), None).await?;
            let record = answer.expect(StatusCode::OK, "GET job")?.json()?;
            if let Some(finished) = record["finished_at"].as_str() {
                deployment["steps"]["job_finished_at"] = Value::String(finished.to_owned());
                return Ok(deployment);
            }
            if started.elapsed() > DEPLOY_TIMEOUT {
                bail!("deployment {id}'s job {job} did not finish in {} s: {record}", DEPLOY_TIMEOUT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One request with a raw body (workspace file writes).
async fn raw_call(method: Method, url: &str, headers: &[(&str, &str)], body: Bytes) -> anyhow::Result<Answer> {
    let target = Target::parse(url)?;
    let work = async {
        let stream = TcpStream::connect(target.address).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request =
            Request::builder().method(method).uri(target.path_and_query.as_str()).body(Full::new(body))?;
        request.headers_mut().insert(HOST, HeaderValue::from_str(&target.authority)?);
        for (name, value) in headers {
            let (name, value) = (HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
            // A given Host replaces the URL's (requests through the proxy).
            if name == HOST {
                request.headers_mut().insert(name, value);
            } else {
                request.headers_mut().append(name, value);
            }
        }
        let response = sender.send_request(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok(Answer { status, headers, body })
    };
    tokio::time::timeout(Duration::from_secs(30), work).await.with_context(|| format!("{url}: no answer in time"))?
}

/// `dockyard serve` as a child process, with its API and proxy addresses.
struct DeployServer {
    child: Option<Child>,
    base: String,
    proxy: String,
    setup_token: Option<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl DeployServer {
    async fn start(binary: &Path, data_dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DOCKYARD_DATA_DIR", data_dir)
            .env("DOCKYARD_LOG_LEVEL", "warn")
            .env("DOCKYARD_RATE_LIMIT__ENABLED", "false")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(host) = std::env::var_os("DOCKER_HOST") {
            command.env("DOCKER_HOST", host);
        }
        let mut child = command.spawn().context("cannot start dockyard")?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut log) = sink.lock()
                    && log.len() < 40
                {
                    log.push(line);
                }
            }
        });
        let mut server =
            Self { child: Some(child), base: String::new(), proxy: String::new(), setup_token: None, stderr: log };
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(STARTUP_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("Dockyard is listening on ") {
                    server.base = url.trim().to_owned();
                } else if let Some(url) = line.strip_prefix("Deployed services are served on ") {
                    server.proxy = url.trim().to_owned();
                } else if let Some(token) = line.strip_prefix("Setup token: ") {
                    server.setup_token = Some(token.trim().to_owned());
                } else if line == "Dockyard is ready" {
                    return Ok(true);
                }
            }
            std::io::Result::Ok(false)
        })
        .await;
        let stderr_text = || server.stderr.lock().map(|log| log.join("\n")).unwrap_or_default();
        match ready {
            Ok(Ok(true)) if !server.base.is_empty() && !server.proxy.is_empty() => {}
            Ok(Ok(true)) => bail!("dockyard printed no API or proxy address; stderr:\n{}", stderr_text()),
            Ok(Ok(false)) => bail!("dockyard exited before it was ready; stderr:\n{}", stderr_text()),
            Ok(Err(error)) => bail!("cannot read dockyard's output: {error}"),
            Err(_) => bail!("dockyard was not ready in {} s; stderr:\n{}", STARTUP_TIMEOUT.as_secs(), stderr_text()),
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        eprintln!("    dockyard is listening on {}, deployed services on {}", server.base, server.proxy);
        Ok(server)
    }

    async fn get_via_proxy(&self, host: &str, path: &str) -> anyhow::Result<(StatusCode, String)> {
        let answer = raw_call(Method::GET, &format!("{}{path}", self.proxy), &[("host", host)], Bytes::new()).await?;
        Ok((answer.status, answer.text()))
    }

    /// Fails unless the proxy answers 200 for the service.
    async fn check_proxy(&self, host: &str, path: &str) -> anyhow::Result<()> {
        let (status, body) = self.get_via_proxy(host, path).await?;
        if status != StatusCode::OK {
            bail!("the proxy answered {status} for {host}{path}: {body}");
        }
        Ok(())
    }

    async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(30), child.wait()).await.is_err() {
            eprintln!("warning: dockyard did not stop on SIGTERM; killing it");
            let _ = child.kill().await;
        }
    }
}

/// Removes what this run left on the engine: Dockyard's containers and networks
/// (by its instance label), the `docker run` containers and the bench network.
async fn cleanup(instance: &str, network: &str) {
    let label = format!("label=dockyard.instance={instance}");
    for filter in [label.as_str(), "label=dockyard-bench=deploy"] {
        if let Ok(ids) = docker_output(&["ps", "-a", "-q", "--filter", filter]).await {
            for id in ids.lines().filter(|id| !id.trim().is_empty()) {
                let _ = docker_output(&["rm", "-f", id.trim()]).await;
            }
        }
    }
    if let Ok(ids) = docker_output(&["network", "ls", "-q", "--filter", &label]).await {
        for id in ids.lines().filter(|id| !id.trim().is_empty()) {
            let _ = docker_output(&["network", "rm", id.trim()]).await;
        }
    }
    let _ = docker_output(&["network", "rm", network]).await;
}

/// A `docker` command's trimmed standard output; an error with its stderr when it fails.
async fn docker_output(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("docker").args(args).stdin(Stdio::null()).output().await.context("cannot run docker")?;
    if !output.status.success() {
        bail!("docker {} failed: {}", args.first().unwrap_or(&""), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_nanos()).unwrap_or_default();
    format!("{:x}{:x}", std::process::id(), nanos % (1 << 40))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values = [5.0, 1.0, 3.0, 2.0, 4.0, 7.0, 6.0];
        assert_eq!(percentile(&values, 90.0), 7.0);
        assert_eq!(percentile(&values, 50.0), 4.0);
        assert_eq!(median(&values), 4.0);
        assert_eq!(median(&[1.0, 2.0]), 1.5);
    }

    #[test]
    fn steps_split_build_and_start() {
        let deployment = json!({ "steps": {
            "queued_at": "2026-01-01T00:00:00.000Z", "building_at": "2026-01-01T00:00:00.100Z",
            "starting_at": "2026-01-01T00:00:01.600Z", "active_at": "2026-01-01T00:00:02.000Z",
            "job_finished_at": "2026-01-01T00:00:05.000Z" } });
        let sample = Steps::of(&deployment).sample("no change", 1, 2100.0);
        assert_eq!(sample.queue_ms, Some(100.0));
        assert_eq!(sample.build_ms, Some(1500.0));
        assert_eq!(sample.start_health_ms, Some(400.0));
        assert_eq!(sample.job_ms, Some(5000.0));
    }
}
