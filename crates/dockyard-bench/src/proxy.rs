//! The proxy benchmark: one upstream, reached directly and through three
//! reverse proxies, measured with `wrk` in the same run.
//!
//! - The upstream: nginx (one worker, no access log) serving a small static
//!   file on a loopback port.
//! - `direct`: wrk straight to the upstream, the baseline.
//! - `dockyard-proxy`: [`dockyard_proxy::serve`] in this process (which
//!   allocates with mimalloc, as `dockyard` does) with its default worker
//!   threads (one per core, as in `dockyard serve`: two here,
//!   like the proxy nginx's two workers), one route for `Host:
//!   bench.localhost` with the upstream as its only backend.
//! - `hyper-bare`: the reference row of [`crate::hyper_bare`], hyper's
//!   HTTP/1 server and client with nothing between them (no routing, header
//!   rewriting, timeouts, pool or metrics), in the same thread-per-core
//!   layout: the floor of any proxy built on hyper, so the CPU that
//!   dockyard-proxy spends above it is its own features' and what this row
//!   spends above nginx is hyper's.
//! - `nginx`: a second nginx (worker per core) with `proxy_pass` to an
//!   `upstream` block with a keep-alive pool of 64, HTTP/1.1 upstream.
//! - `caddy`: `reverse_proxy` with its default keep-alive transport.
//!
//! No proxy writes access logs (nginx's and Caddy's are off, and this process
//! installs no tracing subscriber), so the comparison is of proxying alone.
//!
//! Every target gets the same two scenarios in each round, targets
//! interleaved so a slow spell of the shared machine hits them all:
//! `throughput` (`wrk -t2 -c{connections}`) and `latency` (`wrk -t1 -c1`: one
//! request at a time, so the percentiles are the cost of a request rather
//! than of queueing on two cores). The median round is reported.
//!
//! In the throughput scenario the benchmark also reads each proxy's CPU time
//! (user + system, from `/proc`) before and after the run and divides it by
//! the requests served: CPU per request is what decides throughput when wrk,
//! the upstream and the proxy share two cores, and it is far less disturbed
//! by other load on the machine than requests per second. For `direct` it is
//! the upstream nginx's own CPU per request.
//!
//! Targets (issue 5): throughput at least nginx's, and at most 1 ms added p99
//! over direct access. The added p99 verdict uses the `latency` scenario;
//! under saturation (`throughput`) a proxy's added latency is mostly the CPU
//! it takes from the upstream and wrk on the same two cores, reported beside it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use dockyard_proxy::{Backend, ProxyConfig, Route, RouteStatus, RouteTable};
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use crate::foundation::{TempDir, loadavg, machine_info, write_results};
use crate::load::round;

const HOST: &str = "bench.localhost";
const PATH: &str = "/index.html";
const TARGET_ADDED_P99_MS: f64 = 1.0;
const TARGET_TEXT: &str = "throughput >= nginx's and added p99 <= 1 ms over direct";

/// wrk's report as one JSON line.
const REPORT_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"#;

#[derive(Args)]
pub struct ProxyArgs {
    /// Connections of the throughput scenario.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of each throughput measurement.
    #[arg(long, default_value_t = 8.0)]
    duration: f64,
    /// Seconds of each one-connection latency measurement.
    #[arg(long, default_value_t = 4.0)]
    latency_duration: f64,
    /// Rounds over every target; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Size of the upstream's static file, in bytes.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// The JSON file to write; a Markdown copy of the table goes beside it.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
    /// Only these targets (comma-separated: direct, dockyard-proxy,
    /// hyper-bare, nginx, caddy), for quick A/B runs; the verdict needs direct
    /// and nginx.
    #[arg(long, value_delimiter = ',', default_values_t = ["direct", "dockyard-proxy", "hyper-bare", "nginx", "caddy"].map(String::from))]
    targets: Vec<String>,
}

fn default_out() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).join("bench/results/proxy.json")
}

#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
struct WrkReport {
    requests: u64,
    duration_us: u64,
    errors: u64,
    non2xx: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    max_us: u64,
    mean_us: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Measurement {
    target: &'static str,
    scenario: &'static str,
    round: usize,
    connections: usize,
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    non2xx: u64,
    /// The target's CPU time (user + system) per request, in microseconds
    /// (throughput scenario only), and the user part of it.
    cpu_us_per_request: Option<f64>,
    user_cpu_us_per_request: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct Summary {
    target: &'static str,
    scenario: &'static str,
    connections: usize,
    /// Medians over the rounds.
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    cpu_us_per_request: Option<f64>,
    user_cpu_us_per_request: Option<f64>,
    rps_vs_nginx: Option<f64>,
    added_p50_ms: Option<f64>,
    added_p99_ms: Option<f64>,
}

/// A child server process (nginx, Caddy), stopped with SIGTERM.
struct Server {
    name: &'static str,
    child: Option<Child>,
}

impl Server {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
            eprintln!("warning: {} did not stop on SIGTERM; killing it", self.name);
            let _ = child.kill().await;
        }
    }
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    for tool in ["wrk", "nginx", "caddy"] {
        if which(tool).is_none() {
            bail!(
                "`{tool}` is not installed (Debian: apt-get install -y wrk nginx-light caddy; scripts/bench-proxy.sh does it)"
            );
        }
    }
    if args.rounds == 0 || args.connections == 0 {
        bail!("--rounds and --connections must be at least 1");
    }
    let dir = TempDir::new("dockyard-bench-proxy")?;
    let lua = dir.0.join("report.lua");
    std::fs::write(&lua, REPORT_LUA)?;
    let versions = json!({
        "nginx": version_of(&which("nginx").unwrap_or_default(), &["-v"]).await,
        "caddy": version_of(Path::new("caddy"), &["version"]).await,
        "wrk": version_of(Path::new("wrk"), &["--version"]).await.map(|text| text.lines().next().unwrap_or("").to_owned()),
    });
    let loadavg_start = loadavg();
    eprintln!("==> proxy benchmark; load average before: {}", loadavg_start.as_deref().unwrap_or("unknown"));

    // The upstream.
    let upstream_port = free_port().await?;
    let www = dir.0.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), upstream_body(args.body_bytes))?;
    let mut upstream = start_nginx(&dir.0, "upstream", &upstream_nginx_conf(&dir.0, upstream_port, &www)).await?;
    let upstream_addr = SocketAddr::from(([127, 0, 0, 1], upstream_port));
    wait_ready(upstream_addr).await.context("the upstream nginx did not start")?;

    // dockyard-proxy, in this process.
    let table = RouteTable::new();
    table.upsert(Route {
        service: "bench".into(),
        project: "bench".into(),
        status: RouteStatus::Serving,
        backends: vec![Backend { id: "upstream".into(), addr: upstream_addr }],
        ..Route::new("bench", HOST)
    });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let dockyard_addr = listener.local_addr()?;
    let (stop_proxy, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy_task = tokio::spawn(dockyard_proxy::serve(listener, table, ProxyConfig::default(), async move {
        let _ = stopped.await;
    }));
    wait_ready(dockyard_addr).await.context("dockyard-proxy did not start")?;

    // hyper-bare, in this process, with as many threads as dockyard-proxy.
    let bare_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let bare_addr = bare_listener.local_addr()?;
    crate::hyper_bare::start(
        bare_listener,
        upstream_addr,
        std::thread::available_parallelism().map_or(1, usize::from),
    )?;
    wait_ready(bare_addr).await.context("hyper-bare did not start")?;

    // nginx and Caddy as reverse proxies.
    let nginx_port = free_port().await?;
    let mut nginx = start_nginx(&dir.0, "proxy", &proxy_nginx_conf(&dir.0, nginx_port, upstream_port)).await?;
    let nginx_addr = SocketAddr::from(([127, 0, 0, 1], nginx_port));
    wait_ready(nginx_addr).await.context("the proxy nginx did not start")?;
    let caddy_port = free_port().await?;
    let mut caddy = start_caddy(&dir.0, caddy_port, upstream_port).await?;
    let caddy_addr = SocketAddr::from(([127, 0, 0, 1], caddy_port));
    wait_ready(caddy_addr).await.context("Caddy did not start")?;

    let targets: [(&'static str, SocketAddr); 5] = [
        ("direct", upstream_addr),
        ("dockyard-proxy", dockyard_addr),
        ("hyper-bare", bare_addr),
        ("nginx", nginx_addr),
        ("caddy", caddy_addr),
    ];
    let clock_ticks = clock_ticks_per_second().await;
    let cpu_of = |target: &str| -> Option<CpuSource> {
        match target {
            "direct" => upstream.pid().map(CpuSource::ProcessTree),
            "dockyard-proxy" => Some(CpuSource::OwnThreads("dockyard-proxy")),
            "hyper-bare" => Some(CpuSource::OwnThreads(crate::hyper_bare::THREAD_PREFIX)),
            "nginx" => nginx.pid().map(CpuSource::ProcessTree),
            "caddy" => caddy.pid().map(CpuSource::ProcessTree),
            _ => None,
        }
    };
    let cpu_sources: Vec<(&'static str, Option<CpuSource>)> =
        targets.iter().map(|(target, _)| (*target, cpu_of(target))).collect();
    let mut measurements = Vec::new();
    let outcome = async {
        for round_number in 1..=args.rounds {
            for (target, addr) in targets.into_iter().filter(|(target, _)| args.targets.iter().any(|t| t == target)) {
                eprintln!("==> round {round_number}/{}: {target}", args.rounds);
                // Warm the pools and the caches; not counted.
                wrk(&lua, addr, 2, args.connections, 1.0).await?;
                let cpu = cpu_sources.iter().find(|(name, _)| *name == target).and_then(|(_, source)| *source);
                let before = cpu.and_then(CpuSource::ticks);
                let report = wrk(&lua, addr, 2, args.connections, args.duration).await?;
                let after = cpu.and_then(CpuSource::ticks);
                let mut throughput = measurement(target, "throughput", round_number, args.connections, &report);
                if let (Some(before), Some(after), Some(hz)) = (before, after, clock_ticks)
                    && report.requests > 0
                {
                    let per_request = |ticks: u64, since: u64| {
                        round(ticks.saturating_sub(since) as f64 * 1e6 / hz as f64 / report.requests as f64, 2)
                    };
                    throughput.cpu_us_per_request =
                        Some(per_request(after.user + after.system, before.user + before.system));
                    throughput.user_cpu_us_per_request = Some(per_request(after.user, before.user));
                }
                measurements.push(throughput);
                let report = wrk(&lua, addr, 1, 1, args.latency_duration).await?;
                measurements.push(measurement(target, "latency", round_number, 1, &report));
            }
        }
        anyhow::Ok(())
    }
    .await;
    caddy.stop().await;
    nginx.stop().await;
    let _ = stop_proxy.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), proxy_task).await;
    upstream.stop().await;
    outcome?;

    let summaries = summarize(&measurements, &targets.map(|(target, _)| target));
    let verdict = verdict(&summaries, &measurements);
    let document = json!({
        "benchmark": "proxy",
        "date": chrono::Utc::now().to_rfc3339(),
        "machine": machine_info(),
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "versions": versions,
        "settings": {
            "upstream": format!("nginx, 1 worker, static file of {} bytes", args.body_bytes),
            "throughput": format!("wrk -t2 -c{} -d{}s", args.connections, args.duration),
            "latency": format!("wrk -t1 -c1 -d{}s", args.latency_duration),
            "rounds": args.rounds,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        },
        "target": TARGET_TEXT,
        "verdict": verdict,
        "summary": summaries,
        "measurements": measurements,
    });
    let markdown = markdown(&summaries, &verdict, &document);
    write_results(&args.out, &document, &markdown)?;
    println!("{markdown}");
    eprintln!("==> wrote {} (and .md)", args.out.display());
    Ok(())
}

fn upstream_body(bytes: usize) -> String {
    let line = "dockyard proxy benchmark upstream body.\n";
    line.repeat(bytes / line.len() + 1)[..bytes].to_owned()
}

fn measurement(
    target: &'static str,
    scenario: &'static str,
    round_number: usize,
    connections: usize,
    report: &WrkReport,
) -> Measurement {
    let seconds = report.duration_us as f64 / 1e6;
    let ms = |us: u64| round(us as f64 / 1000.0, 3);
    Measurement {
        target,
        scenario,
        round: round_number,
        connections,
        rps: if seconds > 0.0 { round(report.requests as f64 / seconds, 1) } else { 0.0 },
        p50_ms: ms(report.p50_us),
        p90_ms: ms(report.p90_us),
        p99_ms: ms(report.p99_us),
        max_ms: ms(report.max_us),
        errors: report.errors,
        non2xx: report.non2xx,
        cpu_us_per_request: None,
        user_cpu_us_per_request: None,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn summarize(measurements: &[Measurement], targets: &[&'static str]) -> Vec<Summary> {
    let mut summaries = Vec::new();
    for scenario in ["throughput", "latency"] {
        for &target in targets {
            let runs: Vec<&Measurement> =
                measurements.iter().filter(|m| m.target == target && m.scenario == scenario).collect();
            let Some(first) = runs.first() else { continue };
            summaries.push(Summary {
                target,
                scenario,
                connections: first.connections,
                rps: round(median(runs.iter().map(|m| m.rps).collect()), 1),
                p50_ms: round(median(runs.iter().map(|m| m.p50_ms).collect()), 3),
                p99_ms: round(median(runs.iter().map(|m| m.p99_ms).collect()), 3),
                errors: runs.iter().map(|m| m.errors + m.non2xx).sum(),
                cpu_us_per_request: {
                    let cpu: Vec<f64> = runs.iter().filter_map(|m| m.cpu_us_per_request).collect();
                    (!cpu.is_empty()).then(|| round(median(cpu), 2))
                },
                user_cpu_us_per_request: {
                    let cpu: Vec<f64> = runs.iter().filter_map(|m| m.user_cpu_us_per_request).collect();
                    (!cpu.is_empty()).then(|| round(median(cpu), 2))
                },
                rps_vs_nginx: None,
                added_p50_ms: None,
                added_p99_ms: None,
            });
        }
    }
    let lookup = |summaries: &[Summary], target: &str, scenario: &str| {
        summaries.iter().find(|s| s.target == target && s.scenario == scenario).map(|s| (s.rps, s.p50_ms, s.p99_ms))
    };
    let copy = summaries.clone();
    for summary in &mut summaries {
        if let Some((nginx_rps, _, _)) = lookup(&copy, "nginx", summary.scenario).filter(|(rps, _, _)| *rps > 0.0) {
            summary.rps_vs_nginx = Some(round(summary.rps / nginx_rps, 3));
        }
        if summary.target != "direct"
            && let Some((_, direct_p50, direct_p99)) = lookup(&copy, "direct", summary.scenario)
        {
            summary.added_p50_ms = Some(round(summary.p50_ms - direct_p50, 3));
            summary.added_p99_ms = Some(round(summary.p99_ms - direct_p99, 3));
        }
    }
    summaries
}

#[derive(Debug, Clone, Serialize)]
struct Verdict {
    throughput_vs_nginx: Option<f64>,
    throughput: &'static str,
    added_p99_ms: Option<f64>,
    added_p99: &'static str,
    added_p99_under_load_ms: Option<f64>,
    /// dockyard-proxy's CPU per request over nginx's (informational; below 1 is less CPU).
    cpu_per_request_vs_nginx: Option<f64>,
    /// Throughput over nginx's in each round (the two ran back to back), to show the spread.
    throughput_vs_nginx_by_round: Vec<f64>,
    /// hyper-bare's CPU per request over nginx's: what hyper alone costs.
    hyper_bare_cpu_vs_nginx: Option<f64>,
    /// dockyard-proxy's CPU per request over hyper-bare's: what its features cost.
    cpu_per_request_vs_hyper_bare: Option<f64>,
}

/// dockyard-proxy's throughput over nginx's, round by round.
fn ratios_by_round(measurements: &[Measurement]) -> Vec<f64> {
    let rps = |target: &str, round_number: usize| {
        measurements
            .iter()
            .find(|m| m.target == target && m.scenario == "throughput" && m.round == round_number)
            .map(|m| m.rps)
    };
    let rounds = measurements.iter().map(|m| m.round).max().unwrap_or(0);
    (1..=rounds)
        .filter_map(|round_number| {
            let (ours, nginx) = (rps("dockyard-proxy", round_number)?, rps("nginx", round_number)?);
            (nginx > 0.0).then(|| round(ours / nginx, 3))
        })
        .collect()
}

fn verdict(summaries: &[Summary], measurements: &[Measurement]) -> Verdict {
    let find = |scenario: &str| summaries.iter().find(|s| s.target == "dockyard-proxy" && s.scenario == scenario);
    let cpu = |target: &str| {
        summaries
            .iter()
            .find(|s| s.target == target && s.scenario == "throughput")
            .and_then(|s| s.cpu_us_per_request)
            .filter(|cpu| *cpu > 0.0)
    };
    let ratio = |ours: Option<f64>, theirs: Option<f64>| ours.zip(theirs).map(|(ours, theirs)| round(ours / theirs, 3));
    let throughput_vs_nginx = find("throughput").and_then(|s| s.rps_vs_nginx);
    let added_p99_ms = find("latency").and_then(|s| s.added_p99_ms);
    let errors = summaries.iter().filter(|s| s.target == "dockyard-proxy").map(|s| s.errors).sum::<u64>();
    Verdict {
        throughput_vs_nginx,
        throughput: match throughput_vs_nginx {
            Some(ratio) if ratio >= 1.0 && errors == 0 => "PASS",
            Some(_) => "MISS",
            None => "NOT MEASURED",
        },
        added_p99_ms,
        added_p99: match added_p99_ms {
            Some(added) if added <= TARGET_ADDED_P99_MS && errors == 0 => "PASS",
            Some(_) => "MISS",
            None => "NOT MEASURED",
        },
        added_p99_under_load_ms: find("throughput").and_then(|s| s.added_p99_ms),
        cpu_per_request_vs_nginx: ratio(cpu("dockyard-proxy"), cpu("nginx")),
        throughput_vs_nginx_by_round: ratios_by_round(measurements),
        hyper_bare_cpu_vs_nginx: ratio(cpu("hyper-bare"), cpu("nginx")),
        cpu_per_request_vs_hyper_bare: ratio(cpu("dockyard-proxy"), cpu("hyper-bare")),
    }
}

fn markdown(summaries: &[Summary], verdict: &Verdict, document: &serde_json::Value) -> String {
    let optional = |value: Option<f64>, suffix: &str| value.map_or_else(|| "".to_owned(), |v| format!("{v}{suffix}"));
    let mut text = String::from("# Proxy benchmark\n\n");
    text.push_str(&format!(
        "Same upstream (nginx serving a static file), reached directly and through each proxy, in one run; \
         medians of {} rounds. Build: {}. Machine: {} cores; load average before {}, after {}.\n\n",
        document["settings"]["rounds"],
        document["settings"]["build"].as_str().unwrap_or("?"),
        document["machine"]["nproc"],
        document["loadavg_start"].as_str().unwrap_or("?"),
        document["loadavg_end"].as_str().unwrap_or("?"),
    ));
    for (scenario, title) in [
        ("throughput", format!("Throughput: {}", document["settings"]["throughput"].as_str().unwrap_or(""))),
        (
            "latency",
            format!("Latency, one request at a time: {}", document["settings"]["latency"].as_str().unwrap_or("")),
        ),
    ] {
        text.push_str(&format!(
            "## {title}\n\n| target | rps | vs nginx | p50 ms | p99 ms | added p50 ms | added p99 ms | errors | CPU µs/request | of it user |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        ));
        for s in summaries.iter().filter(|s| s.scenario == scenario) {
            text.push_str(&format!(
                "| {} | {:.0} | {} | {:.3} | {:.3} | {} | {} | {} | {} | {} |\n",
                s.target,
                s.rps,
                optional(s.rps_vs_nginx.map(|ratio| round(ratio, 2)), "x"),
                s.p50_ms,
                s.p99_ms,
                optional(s.added_p50_ms, ""),
                optional(s.added_p99_ms, ""),
                s.errors,
                optional(s.cpu_us_per_request, ""),
                optional(s.user_cpu_us_per_request, ""),
            ));
        }
        text.push('\n');
    }
    let busy = document["loadavg_start"]
        .as_str()
        .and_then(|load| load.split_whitespace().next()?.parse::<f64>().ok())
        .zip(document["machine"]["nproc"].as_f64())
        .filter(|(load, cores)| load > cores);
    if let Some((load, cores)) = busy {
        text.push_str(&format!(
            "**The machine was busy** (1-minute load average {load} on {cores} cores before the run): other \
             processes took CPU from wrk, the upstream and the proxies at random moments, so the p99 columns \
             mostly measure that, and the ratios are rough. Rerun on a quiet machine for verdicts.\n\n"
        ));
    }
    text.push_str(&format!(
        "Target: {TARGET_TEXT}.\n\n- Throughput vs nginx: {} ({}); round by round: {}\n- Added p99, one request at a time: {} ({})\n\
         - Added p99 under load (c={}, informational): {} ms\n\
         - CPU per request under load vs nginx's (informational; the `direct` row is the upstream's own): {}\n\
         - `hyper-bare` (hyper's HTTP/1 server and client with nothing between them, the floor of a proxy on hyper): \
         CPU per request {} nginx's; dockyard-proxy's is {} hyper-bare's\n\n",
        optional(verdict.throughput_vs_nginx, "x"),
        verdict.throughput,
        verdict.throughput_vs_nginx_by_round.iter().map(|ratio| format!("{ratio}x")).collect::<Vec<_>>().join(", "),
        optional(verdict.added_p99_ms, " ms"),
        verdict.added_p99,
        summaries.iter().find(|s| s.scenario == "throughput").map_or(0, |s| s.connections),
        optional(verdict.added_p99_under_load_ms, ""),
        optional(verdict.cpu_per_request_vs_nginx, "x"),
        optional(verdict.hyper_bare_cpu_vs_nginx, "x"),
        optional(verdict.cpu_per_request_vs_hyper_bare, "x"),
    ));
    text.push_str(&format!(
        "Versions: nginx {}, Caddy {}, {}. wrk, the upstream and the proxies share the machine's cores.\n",
        document["versions"]["nginx"].as_str().unwrap_or("?"),
        document["versions"]["caddy"].as_str().unwrap_or("?"),
        document["versions"]["wrk"].as_str().unwrap_or("?"),
    ));
    text
}

async fn wrk(
    lua: &Path,
    addr: SocketAddr,
    threads: usize,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<WrkReport> {
    let output = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", seconds.max(1.0).round()))
        .args(["--timeout", "10s", "-H", &format!("Host: {HOST}"), "-s"])
        .arg(lua)
        .arg(format!("http://{addr}{PATH}"))
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr));
    }
    let line = stdout.lines().rev().find(|line| line.starts_with('{')).context("wrk printed no report")?;
    serde_json::from_str(line).with_context(|| format!("cannot read wrk's report: {line}"))
}

async fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `addr` answers a GET with 200.
async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let mut last_error = String::new();
    for _ in 0..200 {
        match probe(addr).await {
            Ok(true) => return Ok(()),
            Ok(false) => last_error = "not 200".into(),
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{addr} never answered 200: {last_error}")
}

async fn probe(addr: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(format!("GET {PATH} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::other("timed out"))??;
    Ok(answer.starts_with(b"HTTP/1.1 200"))
}

fn upstream_nginx_conf(dir: &Path, port: u16, www: &Path) -> String {
    format!(
        "worker_processes 1;\n{common}\nhttp {{\n  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 120s;\n  \
         server {{\n    listen 127.0.0.1:{port};\n    root {www};\n  }}\n}}\n",
        common = nginx_common(dir, "upstream"),
        www = www.display(),
    )
}

fn proxy_nginx_conf(dir: &Path, port: u16, upstream_port: u16) -> String {
    format!(
        "worker_processes auto;\n{common}\nhttp {{\n  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 120s;\n  \
         upstream backend {{\n    server 127.0.0.1:{upstream_port};\n    keepalive 64;\n    keepalive_requests 1000000;\n  }}\n  \
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://backend;\n      \
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n      \
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n      proxy_set_header X-Forwarded-Proto $scheme;\n    }}\n  }}\n}}\n",
        common = nginx_common(dir, "proxy"),
    )
}

fn nginx_common(dir: &Path, name: &str) -> String {
    let dir = dir.display();
    format!(
        "daemon off;\npid {dir}/{name}.pid;\nerror_log {dir}/{name}-error.log warn;\nevents {{ worker_connections 4096; }}"
    )
}

async fn start_nginx(dir: &Path, name: &'static str, conf: &str) -> anyhow::Result<Server> {
    let conf_path = dir.join(format!("{name}-nginx.conf"));
    // Temporary paths inside `http`, so that nginx needs nothing outside the folder.
    let temp = dir.join(format!("{name}-temp"));
    std::fs::create_dir_all(&temp)?;
    let conf = conf.replacen(
        "http {\n",
        &format!(
            "http {{\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n  fastcgi_temp_path {t}/fastcgi;\n  \
             uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n",
            t = temp.display()
        ),
        1,
    );
    std::fs::write(&conf_path, conf)?;
    let child = Command::new(which("nginx").context("nginx is not installed")?)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start nginx")?;
    Ok(Server { name, child: Some(child) })
}

async fn start_caddy(dir: &Path, port: u16, upstream_port: u16) -> anyhow::Result<Server> {
    let caddyfile = dir.join("Caddyfile");
    std::fs::write(
        &caddyfile,
        format!(
            "{{\n  admin off\n  auto_https off\n}}\n\nhttp://:{port} {{\n  bind 127.0.0.1\n  \
             reverse_proxy 127.0.0.1:{upstream_port} {{\n    transport http {{\n      keepalive 120s\n      \
             keepalive_idle_conns_per_host 64\n    }}\n  }}\n}}\n"
        ),
    )?;
    let home = dir.join("caddy-home");
    std::fs::create_dir_all(&home)?;
    let child = Command::new(which("caddy").context("caddy is not installed")?)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", &home)
        .env("XDG_CONFIG_HOME", &home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Caddy logs its start-up on stderr; keep the benchmark's output readable.
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start caddy")?;
    Ok(Server { name: "caddy", child: Some(child) })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// A tool's version line, from stdout or stderr (nginx writes it to stderr).
async fn version_of(program: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).stdin(Stdio::null()).output().await.ok()?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let text = text.trim();
    (!text.is_empty()).then(|| text.trim_start_matches("nginx version: ").to_owned())
}

/// CPU time in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ticks {
    user: u64,
    system: u64,
}

impl std::ops::Add for Ticks {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self { user: self.user + other.user, system: self.system + other.system }
    }
}

/// Where a target's CPU time is read.
#[derive(Debug, Clone, Copy)]
enum CpuSource {
    /// A process and its children (nginx's master and workers; Caddy).
    ProcessTree(u32),
    /// The threads of this process whose names start with the prefix (the proxy's workers).
    OwnThreads(&'static str),
}

impl CpuSource {
    /// User and system time so far; `None` where `/proc` cannot tell.
    fn ticks(self) -> Option<Ticks> {
        match self {
            Self::ProcessTree(pid) => {
                let mut total = process_ticks(&format!("/proc/{pid}/stat"))?;
                for entry in std::fs::read_dir("/proc").ok()?.flatten() {
                    let Some(child) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                        continue;
                    };
                    let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
                    if stat_fields(&stat).and_then(|fields| fields.get(1)?.parse::<u32>().ok()) == Some(pid) {
                        total = total + stat_ticks(&stat).unwrap_or_default();
                    }
                }
                Some(total)
            }
            Self::OwnThreads(prefix) => {
                let mut total = Ticks::default();
                for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
                    let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
                    let name = stat.split_once('(').and_then(|(_, rest)| rest.rsplit_once(')')).map(|(name, _)| name);
                    if name.is_some_and(|name| name.starts_with(prefix)) {
                        total = total + stat_ticks(&stat).unwrap_or_default();
                    }
                }
                Some(total)
            }
        }
    }
}

fn process_ticks(path: &str) -> Option<Ticks> {
    stat_ticks(&std::fs::read_to_string(path).ok()?)
}

/// The fields of a `stat` line after the name: state, ppid, … (the name may hold spaces).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat.rsplit_once(')')?.1.split_whitespace().collect())
}

/// utime and stime (fields 14 and 15 of `stat`, 12 and 13 after the name).
fn stat_ticks(stat: &str) -> Option<Ticks> {
    let fields = stat_fields(stat)?;
    Some(Ticks { user: fields.get(11)?.parse().ok()?, system: fields.get(12)?.parse().ok()? })
}

async fn clock_ticks_per_second() -> Option<u64> {
    let output = Command::new("getconf").arg("CLK_TCK").stdin(Stdio::null()).output().await.ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok().filter(|hz| *hz > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_name() {
        let stat = "4242 (nginx: worker) S 4241 4241 4241 0 -1 4194624 300 0 0 0 1234 567 0 0 20 0 1 0 100 \
                    1000 200 18446744073709551615";
        assert_eq!(
            stat_fields(stat).and_then(|fields| fields.get(1).map(|ppid| ppid.to_string())),
            Some("4241".into())
        );
        assert_eq!(stat_ticks(stat), Some(Ticks { user: 1234, system: 567 }));
    }

    #[test]
    fn throughput_ratios_pair_the_proxy_with_nginx_round_by_round() {
        let run = |target: &'static str, round_number: usize, rps: f64| Measurement {
            target,
            scenario: "throughput",
            round: round_number,
            connections: 64,
            rps,
            p50_ms: 1.0,
            p90_ms: 1.0,
            p99_ms: 1.0,
            max_ms: 1.0,
            errors: 0,
            non2xx: 0,
            cpu_us_per_request: None,
            user_cpu_us_per_request: None,
        };
        let measurements = vec![
            run("dockyard-proxy", 1, 900.0),
            run("nginx", 1, 1000.0),
            run("dockyard-proxy", 2, 1100.0),
            run("nginx", 2, 1000.0),
            // A round without nginx has no ratio.
            run("dockyard-proxy", 3, 1000.0),
        ];
        assert_eq!(ratios_by_round(&measurements), vec![0.9, 1.1]);
    }

    #[test]
    fn this_process_has_cpu_time() {
        let spin = (0..2_000_000u64).fold(0u64, |sum, n| sum.wrapping_add(n * n));
        assert!(spin > 0);
        assert!(CpuSource::ProcessTree(std::process::id()).ticks().is_some());
    }
}
