//! `dockyard-bench`: Dockyard's benchmarks.
//!
//! - `hello`: a bare axum hello-world server, the machine's ceiling.
//! - `load`: a small HTTP/1.1 load generator (N persistent connections, one task each).
//! - `foundation`: the whole run: hello-world, then Dockyard on SQLite (and on
//!   PostgreSQL when given an admin URL), written to a JSON file and printed as a table.
//! - `search`: Dockyard's search API against the `rg` CLI on a generated tree of
//!   50,000 files, and the listing of a folder of 100,000 entries.
//! - `file-index`: the quick-open file index through the API against `rg --files`
//!   on a generated tree of 50,000 files.
//! - `workspace`: importing a 100 MB tar.gz through the API against `tar -xzf`, and
//!   file write latency through the API against durable writes made directly.
//! - `terminal`: keystroke-to-echo latency through the terminal WebSocket against
//!   the same round trip straight through a PTY.
//! - `proxy`: dockyard-proxy against direct access, nginx and Caddy in front of
//!   the same upstream, with `wrk`.
//! - `deploy`: click to healthy for a prebuilt image against `docker run`, and
//!   redeploys with a warm build cache.
//!
//! Load only ever goes to loopback addresses, and every run is bounded in time.

/// The `dockyard` binary's allocator: the proxy benchmark runs dockyard-proxy in this
/// process, and it must allocate as it does inside `dockyard serve` (with glibc's
/// allocator, `malloc_consolidate` alone was 1.2% of the proxy threads' samples).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod access_log;
mod client;
mod deploy;
mod file_index;
mod foundation;
mod hello;
mod hyper_bare;
mod load;
mod proxy;
mod search;
mod terminal;
mod workspace;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "dockyard-bench", version, about = "Dockyard's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A bare axum hello-world server (GET / answers "hello"): the machine's ceiling.
    Hello {
        /// Where to listen; port 0 picks a free one. The bound address is printed.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Send GET requests over N persistent HTTP/1.1 connections for a bounded time; print JSON.
    Load(LoadArgs),
    /// The foundation benchmark: hello-world, then Dockyard on SQLite (and PostgreSQL).
    Foundation(foundation::FoundationArgs),
    /// The search benchmark: GET …/search against the `rg` CLI on a generated tree, and a large folder listing.
    Search(search::SearchArgs),
    /// The file-index benchmark: GET …/file-index against `rg --files` on a generated tree of 50,000 files.
    FileIndex(file_index::FileIndexArgs),
    /// The workspace benchmark: a tar.gz import against `tar -xzf`, and file writes against direct durable writes.
    Workspace(workspace::WorkspaceArgs),
    /// The terminal benchmark: keystroke-to-echo latency over the WebSocket against a direct PTY.
    Terminal(terminal::TerminalArgs),
    /// The proxy benchmark: dockyard-proxy against direct access, nginx and Caddy, measured with wrk.
    Proxy(proxy::ProxyArgs),
    /// The deploy benchmark: Dockyard's deploy of a prebuilt image against `docker run`, and warm redeploys.
    Deploy(deploy::DeployArgs),
    /// The access-log benchmark: formatting a proxy access line, Dockyard's fast path against tracing-subscriber's.
    AccessLog(access_log::AccessLogArgs),
}

#[derive(Args)]
struct LoadArgs {
    /// The URL to GET, e.g. http://127.0.0.1:8080/healthz (loopback addresses only).
    #[arg(long)]
    url: String,
    /// Persistent connections, one task each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up before the measurement, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// An extra request header, `Name: value`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Hello { listen } => hello::serve(listen).await,
        Command::Load(args) => {
            let headers =
                args.headers.iter().map(|header| load::parse_header(header)).collect::<anyhow::Result<Vec<_>>>()?;
            let config = load::LoadConfig {
                target: load::Target::parse(&args.url)?,
                connections: args.connections,
                duration: seconds(args.duration).context("--duration")?,
                warmup: seconds(args.warmup).context("--warmup")?,
                headers,
            };
            let report = load::run(&config).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Foundation(args) => foundation::run(args).await,
        Command::Search(args) => search::run(args).await,
        Command::FileIndex(args) => file_index::run(args).await,
        Command::Workspace(args) => workspace::run(args).await,
        Command::Terminal(args) => terminal::run(args).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::Deploy(args) => deploy::run(args).await,
        Command::AccessLog(args) => access_log::run(args),
    }
}

/// Seconds from the command line, as a duration.
fn seconds(value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| anyhow::anyhow!("{value} is not a number of seconds"))
}
