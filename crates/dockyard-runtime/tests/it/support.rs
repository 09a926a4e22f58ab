//! Test support: an engine per test with its own instance label, cleaned up
//! by label on drop, and folders to build from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use dockyard_runtime::docker::{DockerConfig, DockerRuntime};
use dockyard_runtime::{LABEL_INSTANCE, LogLine, LogSink, Runtime};

pub const BUSYBOX: &str = "dockyard-base/busybox:1";

/// A fresh id, lower case, for names and labels.
pub fn unique() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

/// A runtime on the local engine with a unique instance label, or `None`
/// (with the reason printed) when no engine answers. With CI=true a missing
/// engine fails the test instead.
pub async fn engine() -> Option<Engine> {
    engine_with(|_| {}).await
}

pub async fn engine_with(configure: impl FnOnce(&mut DockerConfig)) -> Option<Engine> {
    let label = format!("test-{}", unique());
    let mut config = DockerConfig::new(label.clone());
    config.network_prefix = format!("dockyard-test-{}-", &label[label.len() - 6..]);
    configure(&mut config);
    let runtime = match DockerRuntime::connect(config).await {
        Ok(runtime) => runtime,
        Err(error) => return skip(&error.to_string()),
    };
    if let Err(error) = runtime.info().await {
        return skip(&error.to_string());
    }
    if let Err(reason) = base_image() {
        return skip(&reason);
    }
    Some(Engine { runtime, label })
}

fn skip<T>(reason: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("no Docker engine for the runtime tests (CI=true): {reason}");
    }
    eprintln!("skipped: no Docker engine ({reason})");
    None
}

/// Makes `dockyard-base/busybox:1` with the project's script when it is missing (once per process).
fn base_image() -> Result<(), String> {
    static MADE: OnceLock<Result<(), String>> = OnceLock::new();
    MADE.get_or_init(|| {
        let have = Command::new("docker").args(["image", "inspect", BUSYBOX]).output();
        if have.is_ok_and(|output| output.status.success()) {
            return Ok(());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/base-images.sh");
        let output = Command::new("bash")
            .arg(script)
            .arg("busybox")
            .output()
            .map_err(|error| format!("scripts/base-images.sh: {error}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("scripts/base-images.sh busybox failed: {}", String::from_utf8_lossy(&output.stderr)))
        }
    })
    .clone()
}

/// A runtime whose objects (containers, networks, images with its label) are
/// removed when it is dropped, even when the test failed.
pub struct Engine {
    pub runtime: DockerRuntime,
    pub label: String,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let docker = self.runtime.client().clone();
        let label = self.label.clone();
        // Drop cannot await; a thread with its own runtime does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(cleanup(docker, label));
        });
        let _ = cleanup.join();
    }
}

async fn cleanup(docker: bollard::Docker, label: String) {
    let filters = std::collections::HashMap::from([("label".to_owned(), vec![format!("{LABEL_INSTANCE}={label}")])]);
    if let Ok(containers) =
        docker.list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build())).await
    {
        for container in containers {
            if let Some(id) = container.id {
                let _ = docker
                    .remove_container(&id, Some(RemoveContainerOptionsBuilder::new().force(true).v(true).build()))
                    .await;
            }
        }
    }
    if let Ok(networks) = docker.list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build())).await
    {
        for network in networks {
            if let Some(id) = network.id {
                let _ = docker.remove_network(&id).await;
            }
        }
    }
    if let Ok(images) = docker.list_images(Some(ListImagesOptionsBuilder::new().filters(&filters).build())).await {
        for image in images {
            let _ =
                docker.remove_image(&image.id, Some(RemoveImageOptionsBuilder::new().force(true).build()), None).await;
        }
    }
}

/// A temporary folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("dockyard-runtime-test-{}", unique()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file (and its folders) below the root.
    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, content).expect("write file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A log sink that keeps every line.
pub fn collecting_sink() -> (LogSink, Arc<Mutex<Vec<LogLine>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = lines.clone();
    let sink: LogSink = Arc::new(move |line| kept.lock().expect("lines").push(line));
    (sink, lines)
}

pub fn texts(lines: &Mutex<Vec<LogLine>>) -> Vec<String> {
    lines.lock().expect("lines").iter().map(|line| line.text.clone()).collect()
}

/// Polls `check` every 100 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
