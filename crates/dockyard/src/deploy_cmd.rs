//! `dockyard deploy` and `dockyard logs`: deploy a local folder to a service
//! on a Dockyard server and follow what happens, like `railway up` or
//! `fly deploy`.
//!
//! `deploy` packs the folder with the build-context rules (`.dockerignore`,
//! no `.git`, links kept inside), streams it gzip-compressed to
//! `POST /api/v1/services/{id}/deployments/upload`, follows the deployment's
//! event stream (resuming with `Last-Event-ID` if the connection drops) and
//! ends with the service's URL, or exits non-zero with the failure. Progress
//! goes to standard error; the log lines and the URL go to standard output.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::remote::{Remote, RemoteArgs, SseReader};

/// The largest folder the client packs (the server has its own, usually smaller, limit).
const MAX_PACK_BYTES: u64 = 8 << 30;
/// How often a dropped event stream is resumed before giving up.
const MAX_RECONNECTS: u32 = 30;

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The folder to deploy (default: the current folder).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The service: its id, or its name together with --project.
    #[arg(long, short)]
    pub service: String,
    /// The project (id) whose service is named by --service.
    #[arg(long, short)]
    pub project: Option<String>,
    /// Return once the upload is accepted; print the deployment id.
    #[arg(long)]
    pub detach: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The service: its id, or its name together with --project.
    #[arg(long, short)]
    pub service: Option<String>,
    /// The project (id) whose service is named by --service.
    #[arg(long, short)]
    pub project: Option<String>,
    /// A deployment's build and deploy log instead of the running instances'.
    #[arg(long, short, conflicts_with_all = ["service", "project"])]
    pub deployment: Option<String>,
    /// Keep following new lines (the build log always follows until the deployment ends).
    #[arg(long, short)]
    pub follow: bool,
    /// Only the last N lines of each instance.
    #[arg(long)]
    pub tail: Option<u32>,
    /// Only lines since this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub async fn deploy(args: &DeployArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let service = find_service(&remote, &args.service, args.project.as_deref()).await?;
    let service_id = text(&service, "id");
    let name = text(&service, "name");
    let dir = args.dir.canonicalize().with_context(|| format!("cannot open {}", args.dir.display()))?;

    // The Dockerfile (and the context's .dockerignore) must reach the server even if ignored here.
    let build = &service["build"];
    let dockerfile = build["dockerfile_path"].as_str().unwrap_or("Dockerfile");
    let keep: Vec<String> = match build["context"].as_str() {
        Some(context) => vec![format!("{context}/{dockerfile}"), format!("{context}/.dockerignore")],
        None => vec![dockerfile.to_owned()],
    };
    eprintln!("Packing {}", dir.display());
    let pack_dir = dir.clone();
    let source = tokio::task::spawn_blocking(move || {
        let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        dockyard_runtime::context::tar_source(&pack_dir, &keep, MAX_PACK_BYTES)
    })
    .await
    .context("the packing task failed")?
    .map_err(|error| anyhow::anyhow!("cannot pack {}: {error}", dir.display()))?;
    eprintln!("Uploading {} entries ({}) to service {name}", source.entries, human_bytes(source.size));

    let sent = Arc::new(AtomicU64::new(0));
    let body = gzip_stream(source.file, Arc::clone(&sent));
    let request = remote
        .request(Method::POST, &format!("/api/v1/services/{service_id}/deployments/upload"))
        .header(CONTENT_TYPE, "application/gzip")
        .body(body);
    let deployment: Value = remote.json(request).await?;
    let deployment_id = text(&deployment, "id");
    eprintln!(
        "Uploaded {} compressed; deployment #{} ({deployment_id}) is {}",
        human_bytes(sent.load(Ordering::Relaxed)),
        deployment["number"],
        text(&deployment, "status")
    );
    if args.detach {
        println!("{deployment_id}");
        return Ok(());
    }

    follow_deployment(&remote, &deployment_id, true).await?;
    let deployment: Value =
        remote.json(remote.request(Method::GET, &format!("/api/v1/deployments/{deployment_id}"))).await?;
    match deployment["status"].as_str() {
        Some("active") => {
            eprintln!("Deployed {name}");
            println!("{}", text(&service, "url"));
            Ok(())
        }
        other => {
            let error = &deployment["error"];
            bail!(
                "deployment #{} {}: {} ({})",
                deployment["number"],
                other.unwrap_or("unknown"),
                error["message"].as_str().unwrap_or("no reason recorded"),
                error["code"].as_str().unwrap_or("-")
            )
        }
    }
}

pub async fn logs(args: &LogsArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    if let Some(deployment) = &args.deployment {
        return follow_deployment(&remote, deployment, false).await;
    }
    let Some(service) = &args.service else {
        bail!("name a service (--service) or a deployment (--deployment)");
    };
    let service = find_service(&remote, service, args.project.as_deref()).await?;
    let mut query: Vec<(&str, String)> = vec![("follow", args.follow.to_string())];
    if let Some(tail) = args.tail {
        query.push(("tail", tail.to_string()));
    }
    if let Some(since) = &args.since {
        query.push(("since", since.clone()));
    }
    let request = remote
        .request(Method::GET, &format!("/api/v1/services/{}/logs", text(&service, "id")))
        .query(&query)
        .header(ACCEPT, "text/plain");
    let mut response = remote.send(request).await?;
    let mut stdout = io::stdout();
    while let Some(chunk) = response.chunk().await.context("the log stream broke off")? {
        stdout.write_all(&chunk)?;
        stdout.flush()?;
    }
    Ok(())
}

/// Prints a deployment's log until its job ends, resuming a dropped stream
/// where it stopped. With `steps`, step changes go to standard error.
async fn follow_deployment(remote: &Remote, deployment: &str, steps: bool) -> anyhow::Result<()> {
    let mut last_id: Option<String> = None;
    let mut reconnects = 0;
    let mut stdout = io::stdout();
    loop {
        let mut request = remote
            .request(Method::GET, &format!("/api/v1/deployments/{deployment}/logs"))
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id);
        }
        let opened = remote.send(request).await;
        let response = match opened {
            Ok(response) => response,
            Err(error) if reconnects < MAX_RECONNECTS && last_id.is_some() => {
                reconnects += 1;
                eprintln!("(the log stream dropped: {error}; resuming)");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        let mut events = SseReader::new(response);
        loop {
            let event = match events.next().await {
                Ok(Some(event)) => event,
                // Ended without `end` (a server restart, a proxy timeout): resume.
                Ok(None) | Err(_) => break,
            };
            if event.id.is_some() {
                last_id = event.id.clone();
            }
            let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
            match event.event.as_str() {
                "log" => {
                    if let Some(line) = data["line"].as_str() {
                        writeln!(stdout, "{line}")?;
                        stdout.flush()?;
                    }
                }
                "step" if steps => {
                    if let Some(status) = data["status"].as_str() {
                        eprintln!("==> {status}");
                    }
                }
                "end" => return Ok(()),
                _ => {}
            }
        }
        reconnects += 1;
        if reconnects > MAX_RECONNECTS {
            bail!(
                "the deployment's log stream kept dropping; follow it with `dockyard logs --deployment {deployment}`"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A service by id, or by name (or id) within a project.
async fn find_service(remote: &Remote, service: &str, project: Option<&str>) -> anyhow::Result<Value> {
    let Some(project) = project else {
        return remote.json(remote.request(Method::GET, &format!("/api/v1/services/{service}"))).await;
    };
    let services: Vec<Value> =
        remote.json(remote.request(Method::GET, &format!("/api/v1/projects/{project}/services"))).await?;
    let names: Vec<&str> = services.iter().filter_map(|candidate| candidate["name"].as_str()).collect();
    let found = services.iter().find(|candidate| candidate["name"] == service || candidate["id"] == service);
    match found {
        Some(found) => Ok(found.clone()),
        None if names.is_empty() => bail!("project {project} has no services; create one in the Deploy view first"),
        None => bail!("project {project} has no service {service:?}; it has: {}", names.join(", ")),
    }
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// The tar, gzip-compressed on a blocking thread while the request streams it.
fn gzip_stream(mut tar: std::fs::File, sent: Arc<AtomicU64>) -> reqwest::Body {
    let (sender, receiver) = mpsc::channel::<io::Result<Vec<u8>>>(8);
    std::thread::spawn(move || {
        let writer = io::BufWriter::with_capacity(256 * 1024, ChannelWriter { sender: sender.clone(), sent });
        let mut encoder = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
        let outcome = (|| {
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let read = tar.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                encoder.write_all(&buffer[..read])?;
            }
            encoder.finish()?.flush()
        })();
        if let Err(error) = outcome {
            // The request then fails instead of sending a cut-off archive.
            let _ = sender.blocking_send(Err(error));
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    reqwest::Body::wrap_stream(stream)
}

struct ChannelWriter {
    sender: mpsc::Sender<io::Result<Vec<u8>>>,
    sent: Arc<AtomicU64>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.sender
            .blocking_send(Ok(buffer.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))?;
        self.sent.fetch_add(buffer.len() as u64, Ordering::Relaxed);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
