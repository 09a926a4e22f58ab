//! The access-log benchmark: what formatting one proxy access line costs on
//! Dockyard's fast path (`dockyard_server::access_lines::AccessLines`) against
//! `tracing-subscriber`'s own JSON and text formatters, the peer it replaces,
//! in one run. Both write to a sink on one thread, so the numbers are the
//! formatting alone (the queue and the writer thread are not in them).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use dockyard_server::access_lines::AccessLines;
use serde::Serialize;

#[derive(Args)]
pub struct AccessLogArgs {
    /// Access lines per timed run.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    lines: u64,
    /// Timed runs per formatter; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    runs: u16,
    /// The JSON file to write; a Markdown copy of the table goes beside it.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
}

fn default_out() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).join("bench/results/access-log.json")
}

#[derive(Serialize)]
struct Row {
    format: &'static str,
    stock_ns_per_line: f64,
    fast_ns_per_line: f64,
    /// How many times the stock formatter's time the fast path takes.
    fast_vs_stock: f64,
}

#[derive(Serialize)]
struct Report {
    lines_per_run: u64,
    runs: u16,
    rows: Vec<Row>,
}

/// One access line, as the proxy logs it.
fn emit(lines: u64) {
    for index in 0..lines {
        let method = "GET";
        tracing::info!(
            target: dockyard_proxy::ACCESS_LOG_TARGET,
            host = "web-shop.localhost",
            route = "01j9z8route0000000000000000",
            method = %method,
            path = "/assets/app.js",
            status = 200u16,
            bytes = 1024u64 + (index & 0xff),
            duration_ms = 0.35 + (index & 0xf) as f64 / 1000.0,
            backend = "01j9z8backend00000000000000",
        );
    }
}

/// Nanoseconds per line for the subscriber `make` builds, median of `runs`.
fn time<S: tracing::Subscriber + Send + Sync + 'static>(make: impl Fn() -> S, lines: u64, runs: u16) -> f64 {
    let mut samples: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let subscriber = make();
            tracing::subscriber::with_default(subscriber, || {
                emit(lines / 10); // warm-up: caches, the per-thread buffers
                let started = Instant::now();
                emit(lines);
                started.elapsed().as_nanos() as f64 / lines as f64
            })
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

pub fn run(args: AccessLogArgs) -> anyhow::Result<()> {
    let builder = || tracing_subscriber::fmt().with_ansi(false).with_writer(std::io::sink);
    let (lines, runs) = (args.lines, args.runs);
    let rows = vec![
        row(
            "json",
            time(|| builder().json().event_format(AccessLines::json().inner).finish(), lines, runs),
            time(|| builder().json().event_format(AccessLines::json()).finish(), lines, runs),
        ),
        row(
            "text",
            time(|| builder().event_format(AccessLines::text().inner).finish(), lines, runs),
            time(|| builder().event_format(AccessLines::text()).finish(), lines, runs),
        ),
    ];
    let report = Report { lines_per_run: args.lines, runs: args.runs, rows };
    let markdown = markdown(&report);
    print!("{markdown}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let md = args.out.with_extension("md");
    std::fs::write(&md, &markdown).with_context(|| format!("cannot write {}", md.display()))?;
    println!("\nWritten: {} and {}", args.out.display(), md.display());
    Ok(())
}

fn row(format: &'static str, stock: f64, fast: f64) -> Row {
    Row { format, stock_ns_per_line: stock, fast_ns_per_line: fast, fast_vs_stock: fast / stock }
}

fn markdown(report: &Report) -> String {
    let mut text = format!(
        "# Access-log benchmark\n\nOne proxy access line formatted to a sink, one thread, release build; \
         median of {} runs of {} lines. `stock` is tracing-subscriber's formatter, `fast` is \
         `AccessLines` in front of it, writing the same layout.\n\n\
         | format | stock ns/line | fast ns/line | fast vs stock |\n|---|---:|---:|---:|\n",
        report.runs, report.lines_per_run
    );
    for row in &report.rows {
        text.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.2}x |\n",
            row.format, row.stock_ns_per_line, row.fast_ns_per_line, row.fast_vs_stock
        ));
    }
    text
}
