//! The terminal benchmark: keystroke-to-echo latency through Dockyard's terminal
//! WebSocket, against the same round trip straight through a PTY in this
//! process (the lower bound: no server, no WebSocket).
//!
//! 1. `dockyard serve` on a fresh SQLite data dir: setup, one project, one
//!    terminal (`/bin/sh`), attached over the WebSocket with the session cookie.
//! 2. In the terminal: `stty raw -echo; exec cat`, so every byte typed comes
//!    back exactly once, from a process, with nothing added.
//! 3. One byte at a time: send it as a binary frame, time until the output
//!    frame holding it arrives. `warmup` keystrokes first, then `keystrokes`
//!    measured ones; p50/p99/mean/max.
//! 4. The peer: the same `cat` on a PTY opened with `dockyard_sandbox`'s
//!    `HostSandbox` in this process, the same loop on the PTY's master side.
//!
//! The target (p99 ≤ 15 ms on loopback) is reported as PASS or MISS,
//! never as a failure of the run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use dockyard_sandbox::{HostSandbox, PtySize, Sandbox, ShellEnv, Spawn};
use futures_util::{SinkExt, StreamExt};
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::client;
use crate::foundation::{
    ChildServer, TempDir, command_output, dockyard_binary, loadavg, machine_info, setup_admin, write_results,
};
use crate::load::round;

const TARGET_P99_MS: f64 = 15.0;
const TARGET_TEXT: &str = "keystroke-to-echo p99 <= 15 ms on loopback";
/// The longest one echo may take before the run is abandoned.
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);
/// What the shell runs: raw mode without the terminal's own echo, then `cat`,
/// announcing itself with a word the typed line cannot contain.
const CAT_COMMAND: &str = "stty raw -echo; echo RE''ADY; exec cat\n";
const READY: &[u8] = b"READY";

#[derive(Args)]
pub struct TerminalArgs {
    /// The `dockyard` binary. Default: the `dockyard` next to this binary.
    #[arg(long)]
    dockyard: Option<PathBuf>,
    /// Measured keystrokes per side.
    #[arg(long, default_value_t = 2000)]
    keystrokes: usize,
    /// Keystrokes before the measured ones, not counted.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// The shell the terminal runs.
    #[arg(long, default_value = "/bin/sh")]
    shell: PathBuf,
    /// The JSON file to write; a Markdown copy of the table goes beside it.
    #[arg(long, default_value_os_t = default_out())]
    out: PathBuf,
}

fn default_out() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).join("bench/results/terminal.json")
}

#[derive(Debug, Clone, Serialize)]
struct Latency {
    side: &'static str,
    keystrokes: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    max_ms: f64,
}

impl Latency {
    fn from_samples(side: &'static str, mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let ms = |duration: Duration| round(duration.as_secs_f64() * 1000.0, 3);
        let at = |quantile: f64| {
            let index = ((samples.len() as f64 * quantile).ceil() as usize).saturating_sub(1).min(samples.len() - 1);
            ms(samples[index])
        };
        let mean = samples.iter().sum::<Duration>() / u32::try_from(samples.len()).unwrap_or(u32::MAX);
        Self {
            side,
            keystrokes: samples.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            mean_ms: ms(mean),
            max_ms: samples.last().map_or(0.0, |max| ms(*max)),
        }
    }
}

#[derive(Serialize)]
struct Document {
    benchmark: &'static str,
    date: String,
    dockyard_version: String,
    git_commit: Option<String>,
    machine: serde_json::Value,
    loadavg_start: Option<String>,
    loadavg_end: Option<String>,
    settings: serde_json::Value,
    target: &'static str,
    websocket: Latency,
    direct_pty: Latency,
    ratio_p50: f64,
    ratio_p99: f64,
    target_met: bool,
}

pub async fn run(args: TerminalArgs) -> anyhow::Result<()> {
    if args.keystrokes == 0 {
        bail!("--keystrokes must be at least 1");
    }
    let dockyard = dockyard_binary(args.dockyard.as_deref())?;
    let dockyard_version = command_output(&dockyard, &["version"]).await.unwrap_or_else(|| "unknown".to_owned());
    eprintln!("==> terminal benchmark: {dockyard_version} at {}", dockyard.display());
    let loadavg_start = loadavg();
    eprintln!("    load average before the run: {}", loadavg_start.as_deref().unwrap_or("unknown"));

    let temp = TempDir::new("dockyard-bench-terminal")?;
    let shell = args.shell.display().to_string();
    let mut server =
        ChildServer::start_dockyard(&dockyard, &temp.0.join("data"), None, &[("DOCKYARD_TERMINAL__SHELL", &shell)])
            .await?;
    let websocket = over_websocket(&args, &server).await;
    server.stop().await;
    let websocket = websocket?;
    eprintln!("==> the same round trip straight through a PTY in this process");
    let direct = direct_pty(&args, &temp.0).await?;
    drop(temp);

    let ratio_p50 = round(websocket.p50_ms / direct.p50_ms.max(0.001), 2);
    let ratio_p99 = round(websocket.p99_ms / direct.p99_ms.max(0.001), 2);
    let target_met = websocket.p99_ms <= TARGET_P99_MS;
    let table = markdown_table(&websocket, &direct, ratio_p50, ratio_p99, target_met);
    let document = Document {
        benchmark: "terminal",
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
            "keystrokes": args.keystrokes,
            "warmup": args.warmup,
            "shell": shell,
            "in_terminal": CAT_COMMAND.trim_end(),
            "websocket": "dockyard serve (SQLite, rate limits off, log level warn) in a separate process; one byte per binary frame over ws://127.0.0.1, the session cookie and a same-site Origin; timed from send until the output frame holding the byte arrives; one keystroke in flight",
            "direct_pty": "cat on a PTY from dockyard_sandbox::HostSandbox in the benchmark process; one byte written to the master side, timed until it is read back",
        }),
        target: TARGET_TEXT,
        websocket,
        direct_pty: direct,
        ratio_p50,
        ratio_p99,
        target_met,
    };
    write_results(&args.out, &document, &table)?;
    println!("{table}");
    println!("Results: {}", args.out.display());
    Ok(())
}

/// A keystroke's byte: printable, and different from the one before it.
fn key(index: usize) -> u8 {
    b'a' + (index % 26) as u8
}

async fn over_websocket(args: &TerminalArgs, server: &ChildServer) -> anyhow::Result<Latency> {
    let (org, cookie) = setup_admin(server).await?;
    let origin = server.base.clone();
    let browser = [("origin", origin.as_str()), ("cookie", cookie.as_str())];
    let project = client::call(
        Method::POST,
        &server.url(&format!("/api/v1/orgs/{org}/projects")),
        &browser,
        Some(&json!({ "name": "Terminal bench" })),
    )
    .await?
    .expect(StatusCode::CREATED, "create a project")?;
    let project = project.json()?["id"].as_str().context("no project id")?.to_owned();
    let terminal = client::call(
        Method::POST,
        &server.url(&format!("/api/v1/projects/{project}/terminals")),
        &browser,
        Some(&json!({ "cols": 80, "rows": 24 })),
    )
    .await?
    .expect(StatusCode::CREATED, "open a terminal")?;
    let terminal = terminal.json()?["id"].as_str().context("no terminal id")?.to_owned();

    let url = format!("{}/api/v1/projects/{project}/terminals/{terminal}/ws", origin.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("cookie", HeaderValue::from_str(&cookie)?);
    request.headers_mut().insert("origin", HeaderValue::from_str(&origin)?);
    // Nagle off on the client, as a browser does for WebSockets.
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .context("connect the terminal WebSocket")?;
    let (mut sink, mut stream) = socket.split();

    // Output as it comes, until `done` says enough.
    let mut seen: Vec<u8> = Vec::new();
    sink.send(Message::binary(CAT_COMMAND.as_bytes().to_vec())).await?;
    let deadline = Instant::now() + ECHO_TIMEOUT;
    while !contains(&seen, READY) {
        let frame = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .context("the terminal did not start cat in time")?
            .context("the socket closed")??;
        if let Message::Binary(bytes) = frame
            && bytes.len() > 8
        {
            seen.extend_from_slice(&bytes[8..]);
        }
    }
    eprintln!("==> {} + {} keystrokes over the WebSocket", args.warmup, args.keystrokes);
    let mut samples = Vec::with_capacity(args.keystrokes);
    for index in 0..args.warmup + args.keystrokes {
        let byte = key(index);
        let started = Instant::now();
        sink.send(Message::binary(vec![byte])).await?;
        loop {
            let frame = tokio::time::timeout(ECHO_TIMEOUT, stream.next())
                .await
                .context("a keystroke was not echoed in time")?
                .context("the socket closed")??;
            if let Message::Binary(bytes) = frame
                && bytes.len() > 8
                && bytes[8..].contains(&byte)
            {
                break;
            }
        }
        if index >= args.warmup {
            samples.push(started.elapsed());
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    Ok(Latency::from_samples("websocket", samples))
}

async fn direct_pty(args: &TerminalArgs, folder: &Path) -> anyhow::Result<Latency> {
    let env = ShellEnv {
        path: "/usr/local/bin:/usr/bin:/bin".to_owned(),
        home: folder.to_path_buf(),
        lang: "C.UTF-8".to_owned(),
        shell: args.shell.clone(),
        user: "bench".to_owned(),
    };
    let spawn = Spawn {
        program: args.shell.clone(),
        args: vec!["-c".to_owned(), CAT_COMMAND.trim_end().to_owned()],
        cwd: folder.to_path_buf(),
        env: env.into_vars(),
        size: PtySize { cols: 80, rows: 24 },
    };
    let mut process = HostSandbox::new().spawn(spawn).await.context("spawn cat on a PTY")?;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + ECHO_TIMEOUT;
    while !contains(&seen, READY) {
        let read = tokio::time::timeout_at(deadline.into(), process.output.read(&mut buffer))
            .await
            .context("cat did not start in time")??;
        if read == 0 {
            bail!("the PTY closed before cat started");
        }
        seen.extend_from_slice(&buffer[..read]);
    }
    let mut samples = Vec::with_capacity(args.keystrokes);
    for index in 0..args.warmup + args.keystrokes {
        let byte = key(index);
        let started = Instant::now();
        process.input.write_all(&[byte]).await?;
        loop {
            let read = tokio::time::timeout(ECHO_TIMEOUT, process.output.read(&mut buffer))
                .await
                .context("a keystroke was not echoed in time")??;
            if read == 0 {
                bail!("the PTY closed");
            }
            if buffer[..read].contains(&byte) {
                break;
            }
        }
        if index >= args.warmup {
            samples.push(started.elapsed());
        }
    }
    let _ = process.control.kill().await;
    Ok(Latency::from_samples("direct_pty", samples))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

fn markdown_table(websocket: &Latency, direct: &Latency, ratio_p50: f64, ratio_p99: f64, target_met: bool) -> String {
    let mut table = String::from(
        "# Terminal benchmark: keystroke-to-echo latency\n\n\
         | path | keystrokes | p50 ms | p90 ms | p99 ms | mean ms | max ms |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for latency in [websocket, direct] {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            latency.side,
            latency.keystrokes,
            latency.p50_ms,
            latency.p90_ms,
            latency.p99_ms,
            latency.mean_ms,
            latency.max_ms
        ));
    }
    table.push_str(&format!(
        "\nWebSocket / direct PTY: {ratio_p50}x at p50, {ratio_p99}x at p99. Target ({TARGET_TEXT}): {}.\n",
        if target_met { "PASS" } else { "MISS" }
    ));
    table
}
