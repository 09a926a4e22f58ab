//! Click-to-deploy against the real binary and a real Docker engine: builds
//! from the workspace (Dockerfile and detected stacks), requests through
//! Dockyard's proxy, zero-downtime redeploys under load, failed health checks,
//! rollback, cancel, `kill -9` mid-build, secrets and bad input.
//!
//! No image can be pulled here: the base images come from
//! `scripts/base-images.sh` (busybox-static, a debootstrapped Debian, and
//! that Debian with Debian's Python, Node, Go or Rust). Without a Docker engine these tests fail under `CI=true` and are
//! skipped (with the reason printed) elsewhere.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use dockyard_git::testserver::{GitHttpServer, ServerOptions};

use crate::support::{
    ADMIN_EMAIL, Client, PASSWORD, TempDir, TestApp, git, noise, outbound_config_file, project, put_file, read_events,
    spawn_app_with, workspace_dir,
};

const BUSYBOX: &str = "dockyard-base/busybox:1";
const PYTHON: &str = "dockyard-base/python:bookworm";
const NODE: &str = "dockyard-base/node:bookworm";
const GO: &str = "dockyard-base/go:bookworm";
const RUST: &str = "dockyard-base/rust:bookworm";
const DEBIAN: &str = "dockyard-base/debian:bookworm";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether a Docker engine answers; under `CI=true` a missing one is a failure.
fn engine_available(test: &str) -> bool {
    let answers = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !answers {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: no Docker engine answers (`docker info` failed); CI must install docker.io and start dockerd"
        );
        eprintln!("skipping {test}: no Docker engine answers (install docker.io and start dockerd)");
    }
    answers
}

/// Makes the base images (cached by tag) with the project's own script.
fn base_images(which: &[&str]) {
    let status = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/base-images.sh"))
        .args(which)
        .status()
        .expect("run scripts/base-images.sh");
    assert!(status.success(), "scripts/base-images.sh {which:?} failed");
}

/// `docker` CLI output (stdout), for checks from outside Dockyard.
fn docker(args: &[&str]) -> String {
    let output = std::process::Command::new("docker").args(args).output().expect("run docker");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A Dockyard with deploys on, its own instance label (so parallel tests never
/// sweep each other's containers), and the local base images.
struct DeployApp {
    app: TestApp,
    admin: Client,
    org: String,
    instance: String,
}

impl DeployApp {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let instance = format!("it-{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut env: Vec<(&str, &str)> = vec![
            ("DOCKYARD_DEPLOY__ENGINE", "on"),
            ("DOCKYARD_DEPLOY__INSTANCE_ID", &instance),
            ("DOCKYARD_DEPLOY__IMAGES__STATIC_SITE", BUSYBOX),
            ("DOCKYARD_DEPLOY__IMAGES__PYTHON", PYTHON),
            ("DOCKYARD_DEPLOY__DRAIN_SECONDS", "2"),
            ("DOCKYARD_DEPLOY__STOP_GRACE_SECONDS", "1"),
        ];
        env.extend_from_slice(extra);
        let app = spawn_app_with(&env).await;
        let (admin, org) = app.setup_admin().await;
        Self { app, admin, org, instance }
    }

    /// Containers of this Dockyard, as `docker ps -a` sees them.
    fn containers(&self) -> Vec<String> {
        docker(&["ps", "-a", "-q", "--filter", &format!("label=dockyard.instance={}", self.instance)])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn cleanup(&self) {
        let ids = self.containers();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            docker(&args);
        }
        for network in
            docker(&["network", "ls", "-q", "--filter", &format!("label=dockyard.instance={}", self.instance)]).lines()
        {
            docker(&["network", "rm", network]);
        }
    }
}

impl Drop for DeployApp {
    fn drop(&mut self) {
        self.cleanup();
    }
}

const DOCKERFILE_V: &str = "FROM dockyard-base/busybox:1\n\
RUN mkdir -p /www && echo ok > /www/health\n\
COPY version.txt /www/index.html\n\
CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";

async fn write(client: &Client, project: &str, path: &str, body: &str) {
    let reply = put_file(client, project, path, body.as_bytes(), None).await;
    assert!(reply.status == 200 || reply.status == 201, "write {path}: {} {}", reply.status, reply.body);
}

async fn create_service(client: &Client, project: &str, body: Value) -> Value {
    let reply = client.post(&format!("/api/v1/projects/{project}/services"), &body).await;
    assert_eq!(reply.status, 201, "create service: {}", reply.body);
    reply.json
}

/// Creates the `web` service (the workspace, port 8080, `/health`); answers its id, host and URL.
async fn web_service(client: &Client, project: &str) -> (String, String, String) {
    let service = create_service(
        client,
        project,
        json!({ "name": "web", "source": { "type": "workspace" }, "port": 8080, "health_check_path": "/health" }),
    )
    .await;
    let text = |key: &str| service[key].as_str().unwrap_or_else(|| panic!("{key}: {service}")).to_owned();
    (text("id"), text("host"), text("url"))
}

/// Creates a service from `body` and deploys it; answers its id and host once it is live.
async fn live_service(admin: &Client, project: &str, body: Value) -> (String, String) {
    let service = create_service(admin, project, body).await;
    let text = |key: &str| service[key].as_str().unwrap_or_else(|| panic!("{key}: {service}")).to_owned();
    let deployment = deploy(admin, &text("id")).await;
    let done = settle(admin, &deployment).await;
    assert_eq!(done["status"], "active", "{done}\n{}", plain_logs(admin, &deployment).await);
    (text("id"), text("host"))
}

async fn deploy(client: &Client, service: &str) -> String {
    let reply = client.post(&format!("/api/v1/services/{service}/deployments"), &json!({})).await;
    assert_eq!(reply.status, 202, "deploy: {}", reply.body);
    assert_eq!(reply.json["status"], "queued", "{}", reply.body);
    reply.json["id"].as_str().expect("deployment id").to_owned()
}

/// Polls a deployment until it leaves the in-flight states (at most three minutes).
async fn settle(client: &Client, deployment: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let reply = client.get(&format!("/api/v1/deployments/{deployment}")).await;
        assert_eq!(reply.status, 200, "GET deployment: {}", reply.body);
        let status = reply.json["status"].as_str().unwrap_or_default().to_owned();
        if !matches!(status.as_str(), "queued" | "building" | "starting") {
            return reply.json;
        }
        assert!(tokio::time::Instant::now() < deadline, "deployment still {status}: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the deployment reaches `status`.
async fn wait_status(client: &Client, deployment: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let reply = client.get(&format!("/api/v1/deployments/{deployment}")).await;
        if reply.json["status"] == status {
            return reply.json;
        }
        assert!(tokio::time::Instant::now() < deadline, "deployment never became {status}: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GET through Dockyard's proxy with the service's generated host.
async fn via_proxy(app: &TestApp, host: &str, path: &str) -> (u16, String) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    match client.get(format!("{}{path}", app.proxy_base)).header("host", host).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(error) => (0, error.to_string()),
    }
}

async fn plain_logs(client: &Client, deployment: &str) -> String {
    let reply = client.get(&format!("/api/v1/deployments/{deployment}/logs")).await;
    assert_eq!(reply.status, 200, "logs: {}", reply.body);
    reply.body
}

/// 1, 3, 4 and 5: a Dockerfile deploy served through the proxy, a zero-downtime
/// redeploy under load, a broken health check that leaves the old version
/// serving, and a rollback that reuses the first image.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dockerfile_deploy_redeploy_under_load_failed_health_check_and_rollback() {
    if !engine_available("dockerfile_deploy_redeploy_under_load_failed_health_check_and_rollback") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[]).await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let project = project(admin, &deploy_app.org, "Shop").await;
    write(admin, &project, "Dockerfile", DOCKERFILE_V).await;
    write(admin, &project, "version.txt", "v1\n").await;
    let (service_id, host, url) = web_service(admin, &project).await;
    assert_eq!(host, "web-shop.localhost");
    assert!(url.starts_with("http://web-shop.localhost:"), "{url}");

    // Before any deployment the proxy says so.
    let (status, body) = via_proxy(app, &host, "/").await;
    assert_eq!(status, 503, "{body}");

    // 1. The first deployment.
    let first = deploy(admin, &service_id).await;
    let done = settle(admin, &first).await;
    assert_eq!(done["status"], "active", "{done}");
    for step in ["queued_at", "building_at", "starting_at", "active_at"] {
        assert!(done["steps"][step].is_string(), "step {step} has a time: {done}");
    }
    assert_eq!(done["plan"]["stack"]["type"], "dockerfile", "{done}");
    let first_image = done["image"].as_str().expect("image").to_owned();
    assert_eq!(via_proxy(app, &host, "/").await, (200, "v1\n".to_owned()));
    let log = plain_logs(admin, &first).await;
    assert!(log.contains("Step 1/"), "the build log streams the engine's steps:\n{log}");
    assert!(log.contains("healthy"), "{log}");
    let (status, events) = read_events(admin, &format!("/api/v1/deployments/{first}/logs"), None).await;
    assert_eq!(status, 200);
    assert!(events.iter().any(|event| event.event == "log"), "log events");
    assert!(events.iter().any(|event| event.event == "step" && event.data.contains("active")), "step events");
    assert_eq!(events.last().map(|event| event.event.as_str()), Some("end"));
    // Resuming after an event id repeats nothing.
    let middle = events[events.len() / 2].id.clone().expect("id");
    let (_, rest) = read_events(admin, &format!("/api/v1/deployments/{first}/logs"), Some(&middle)).await;
    assert_eq!(rest.len(), events.len() - events.len() / 2 - 1, "resume after {middle}");

    // 3. Redeploy while a load generator keeps requesting: no request fails.
    write(admin, &project, "version.txt", "v2\n").await;
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let saw_v2 = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, failures, served, saw_v2) = (stop.clone(), failures.clone(), served.clone(), saw_v2.clone());
        let (base, host) = (app.proxy_base.clone(), host.clone());
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
            let mut errors = Vec::new();
            while !stop.load(Ordering::Acquire) {
                match client.get(format!("{base}/")).header("host", &host).send().await {
                    Ok(response) if response.status() == 200 => {
                        let body = response.text().await.unwrap_or_default();
                        if body == "v2\n" {
                            saw_v2.store(true, Ordering::Release);
                        } else if body != "v1\n" {
                            failures.fetch_add(1, Ordering::AcqRel);
                            errors.push(format!("body {body:?}"));
                        }
                        served.fetch_add(1, Ordering::AcqRel);
                    }
                    Ok(response) => {
                        failures.fetch_add(1, Ordering::AcqRel);
                        errors.push(format!("status {}", response.status()));
                    }
                    Err(error) => {
                        failures.fetch_add(1, Ordering::AcqRel);
                        errors.push(error.to_string());
                    }
                }
            }
            errors
        }));
    }
    let second = deploy(admin, &service_id).await;
    let done = settle(admin, &second).await;
    assert_eq!(done["status"], "active", "{done}");
    // Keep loading past the drain of the old instances.
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Release);
    let mut errors = Vec::new();
    for task in load {
        errors.extend(task.await.expect("load task"));
    }
    let total = served.load(Ordering::Acquire);
    assert_eq!(failures.load(Ordering::Acquire), 0, "failed requests during the redeploy ({total} served): {errors:?}");
    assert!(total > 50, "the load generator made only {total} requests");
    assert!(saw_v2.load(Ordering::Acquire), "the new version was served");
    assert_eq!(via_proxy(app, &host, "/").await, (200, "v2\n".to_owned()));
    let first_now = admin.get(&format!("/api/v1/deployments/{first}")).await;
    assert_eq!(first_now.json["status"], "superseded", "{}", first_now.body);
    // Only the new deployment's container is left.
    let running = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dockyard.instance={}", deploy_app.instance),
        "--filter",
        &format!("label=dockyard.deployment={first}"),
    ]);
    assert!(running.trim().is_empty(), "the superseded deployment's containers are gone: {running}");

    // 4. A broken health check: the deployment fails, the old version keeps serving.
    let reply = admin
        .patch(
            &format!("/api/v1/services/{service_id}"),
            &json!({ "health_check_path": "/missing",
        "health_check_timeout_secs": 3 }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let broken = deploy(admin, &service_id).await;
    let done = settle(admin, &broken).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "health_check_failed", "{done}");
    assert!(!done["last_log"].as_array().expect("last_log").is_empty(), "a failure keeps its last log lines: {done}");
    assert_eq!(via_proxy(app, &host, "/").await, (200, "v2\n".to_owned()), "the old version still serves");
    let leftovers = docker(&["ps", "-a", "-q", "--filter", &format!("label=dockyard.deployment={broken}")]);
    assert!(leftovers.trim().is_empty(), "the failed deployment's containers are removed: {leftovers}");

    // 5. Roll back to the first deployment: its image, no build.
    let reply =
        admin.patch(&format!("/api/v1/services/{service_id}"), &json!({ "health_check_path": "/health" })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply =
        admin.post(&format!("/api/v1/services/{service_id}/rollback"), &json!({ "deployment_id": first })).await;
    assert_eq!(reply.status, 202, "rollback: {}", reply.body);
    let rollback = reply.json["id"].as_str().expect("id").to_owned();
    let done = settle(admin, &rollback).await;
    assert_eq!(done["status"], "active", "{done}");
    assert_eq!(done["image"], first_image.as_str());
    assert!(done["steps"]["building_at"].is_null(), "a rollback does not build: {done}");
    assert_eq!(done["trigger"], "rollback");
    assert_eq!(via_proxy(app, &host, "/").await, (200, "v1\n".to_owned()));
    // A failed deployment cannot be rolled back to.
    let reply =
        admin.post(&format!("/api/v1/services/{service_id}/rollback"), &json!({ "deployment_id": broken })).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert_eq!(reply.code(), "deployment_not_rollbackable");

    // Stop, start, restart.
    let reply = admin.post(&format!("/api/v1/services/{service_id}/stop"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json["desired_state"], "stopped");
    let (status, body) = via_proxy(app, &host, "/").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("stopped"), "the page says the service is stopped: {body}");
    let reply = admin.post(&format!("/api/v1/services/{service_id}/start"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}\n{}", reply.body, app.output_text());
    assert_eq!(via_proxy(app, &host, "/").await, (200, "v1\n".to_owned()));
    let reply = admin.post(&format!("/api/v1/services/{service_id}/restart"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(via_proxy(app, &host, "/").await, (200, "v1\n".to_owned()));

    // Runtime logs (busybox httpd -v is not on, but the engine has the stream) and metrics.
    let reply = admin.get(&format!("/api/v1/services/{service_id}/logs?tail=10")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = admin.get(&format!("/api/v1/services/{service_id}/metrics")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let instances = reply.json.as_array().expect("array");
    assert_eq!(instances.len(), 1, "{}", reply.body);
    assert!(instances[0]["memory_bytes"].as_u64().unwrap_or(0) > 0, "{}", reply.body);

    // Every action is audited.
    let audit = admin.get(&format!("/api/v1/orgs/{}/audit?limit=200", deploy_app.org)).await;
    for action in ["service.created", "deployment.created", "deployment.rollback", "service.stopped", "service.started"]
    {
        assert!(audit.body.contains(action), "audit has {action}");
    }

    // Deleting the service removes its containers.
    let reply = admin.delete(&format!("/api/v1/services/{service_id}")).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(deploy_app.containers().is_empty(), "no container left after the delete");
    let (status, _) = via_proxy(app, &host, "/").await;
    assert_eq!(status, 404);
}

/// 2: no Dockerfile: a static site and a Python app are detected and built.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detected_static_site_and_python_app() {
    if !engine_available("detected_static_site_and_python_app") {
        return;
    }
    base_images(&["busybox", "python"]);
    let deploy_app = DeployApp::start(&[]).await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);

    let site = project(admin, &deploy_app.org, "Site").await;
    write(admin, &site, "index.html", "<h1>static hello</h1>\n").await;
    let service = create_service(admin, &site, json!({ "name": "www", "port": 8080, "health_check_path": "/" })).await;
    let service_id = service["id"].as_str().expect("id");
    let plan = admin.get(&format!("/api/v1/services/{service_id}/plan")).await;
    assert_eq!(plan.status, 200, "{}", plan.body);
    assert_eq!(plan.json["stack"]["type"], "static", "{}", plan.body);
    let deployment = deploy(admin, service_id).await;
    let done = settle(admin, &deployment).await;
    assert_eq!(done["status"], "active", "{done}");
    let (status, body) = via_proxy(app, service["host"].as_str().expect("host"), "/").await;
    assert_eq!((status, body.as_str()), (200, "<h1>static hello</h1>\n"));

    let api = project(admin, &deploy_app.org, "Api").await;
    write(admin, &api, "requirements.txt", "# nothing to install\n").await;
    write(
        admin,
        &api,
        "main.py",
        "import os\nfrom http.server import BaseHTTPRequestHandler, HTTPServer\n\n\
class Hello(BaseHTTPRequestHandler):\n    def do_GET(self):\n        body = b'python hello'\n        \
self.send_response(200)\n        self.send_header('content-length', str(len(body)))\n        self.end_headers()\n        \
self.wfile.write(body)\n\n\
HTTPServer(('0.0.0.0', int(os.environ['PORT'])), Hello).serve_forever()\n",
    )
    .await;
    let service = create_service(admin, &api, json!({ "name": "api", "port": 9000, "health_check_path": "/" })).await;
    let service_id = service["id"].as_str().expect("id");
    let deployment = deploy(admin, service_id).await;
    let done = settle(admin, &deployment).await;
    assert_eq!(done["status"], "active", "{done}\n{}", plain_logs(admin, &deployment).await);
    assert_eq!(done["plan"]["stack"]["type"], "python", "{done}");
    let (status, body) = via_proxy(app, service["host"].as_str().expect("host"), "/anything").await;
    assert_eq!((status, body.as_str()), (200, "python hello"));
}

/// 2, the other stacks: a Node, a Go and a Rust app with no Dockerfile are
/// detected, built on the engine (Debian's own Node 18, Go 1.19 and Rust 1.63,
/// from `scripts/base-images.sh`; Go and Rust run on the plain Debian image)
/// and served through the proxy. The Rust app keeps to Rust 1.63 (no let-else).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detected_node_go_and_rust_apps() {
    if !engine_available("detected_node_go_and_rust_apps") {
        return;
    }
    base_images(&["debian", "node", "go", "rust"]);
    let deploy_app = DeployApp::start(&[
        ("DOCKYARD_DEPLOY__IMAGES__NODE", NODE),
        ("DOCKYARD_DEPLOY__IMAGES__GO", GO),
        ("DOCKYARD_DEPLOY__IMAGES__RUST", RUST),
        ("DOCKYARD_DEPLOY__IMAGES__RUNTIME", DEBIAN),
    ])
    .await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);

    // (stack, the app's answer, its files as (path, content))
    type Files = &'static [(&'static str, &'static str)];
    let apps: [(&str, &str, Files); 3] = [
        (
            "node",
            "node hello",
            &[
                ("package.json", r#"{"name":"hello","version":"1.0.0","scripts":{"start":"node server.js"}}"#),
                (
                    "server.js",
                    "require('http').createServer((request, response) => response.end('node hello'))\n\
                     .listen(Number(process.env.PORT));\n",
                ),
            ],
        ),
        (
            "go",
            "go hello",
            &[
                ("go.mod", "module example.com/hello\n\ngo 1.19\n"),
                (
                    "main.go",
                    "package main\n\nimport (\n\t\"net/http\"\n\t\"os\"\n)\n\n\
                     func main() {\n\thttp.HandleFunc(\"/\", func(w http.ResponseWriter, r *http.Request) {\n\
                     \t\tw.Write([]byte(\"go hello\"))\n\t})\n\
                     \tif err := http.ListenAndServe(\":\"+os.Getenv(\"PORT\"), nil); err != nil {\n\t\tpanic(err)\n\t}\n}\n",
                ),
            ],
        ),
        (
            "rust",
            "rust hello",
            &[
                ("Cargo.toml", "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
                (
                    "src/main.rs",
                    "use std::io::{Read, Write};\n\
                     fn main() {\n\
                     \x20   let port = std::env::var(\"PORT\").unwrap();\n\
                     \x20   let listener = std::net::TcpListener::bind(format!(\"0.0.0.0:{port}\")).unwrap();\n\
                     \x20   for stream in listener.incoming() {\n\
                     \x20       let mut stream = match stream { Ok(stream) => stream, Err(_) => continue };\n\
                     \x20       let mut request = Vec::new();\n\
                     \x20       let mut buffer = [0u8; 1024];\n\
                     \x20       while !request.windows(4).any(|w| w == b\"\\r\\n\\r\\n\") {\n\
                     \x20           match stream.read(&mut buffer) {\n\
                     \x20               Ok(0) | Err(_) => break,\n\
                     \x20               Ok(n) => request.extend_from_slice(&buffer[..n]),\n\
                     \x20           }\n\
                     \x20       }\n\
                     \x20       let _ = stream.write_all(b\"HTTP/1.1 200 OK\\r\\ncontent-length: 10\\r\\nconnection: close\\r\\n\\r\\nrust hello\");\n\
                     \x20   }\n\
                     }\n",
                ),
            ],
        ),
    ];
    // All three queued first: the builds share the engine (and the build limit).
    let mut started = Vec::new();
    for (stack, answer, files) in apps {
        let project = project(admin, &deploy_app.org, &format!("{stack} app")).await;
        for (path, body) in files {
            write(admin, &project, path, body).await;
        }
        let service =
            create_service(admin, &project, json!({ "name": stack, "port": 8080, "health_check_path": "/" })).await;
        let service_id = service["id"].as_str().expect("id").to_owned();
        let plan = admin.get(&format!("/api/v1/services/{service_id}/plan")).await;
        assert_eq!(plan.status, 200, "{}", plan.body);
        assert_eq!(plan.json["stack"]["type"], stack, "{}", plan.body);
        let deployment = deploy(admin, &service_id).await;
        started.push((stack, answer, service["host"].as_str().expect("host").to_owned(), deployment));
    }
    for (stack, answer, host, deployment) in started {
        let done = settle(admin, &deployment).await;
        assert_eq!(done["status"], "active", "{stack}: {done}\n{}", plain_logs(admin, &deployment).await);
        assert_eq!(done["plan"]["stack"]["type"], stack, "{done}");
        let (status, body) = via_proxy(app, &host, "/").await;
        assert_eq!((status, body.as_str()), (200, answer), "{stack}");
    }
}

/// After go-live, live instances are probed on the health path: one that keeps
/// failing leaves the proxy (the other replica serves everything), both failing
/// turn the route into the "failing" page, and a healthy answer brings each back.
/// A git source: its branch is cloned over HTTPS (the test git server, whose CA
/// comes from the config file), built with its Dockerfile and served. A missing
/// branch fails `source_unavailable`; a repository larger than the build-context
/// limit fails `context_too_large`; no staging folder is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_source_is_cloned_built_and_served() {
    if !engine_available("a_git_source_is_cloned_built_and_served") {
        return;
    }
    base_images(&["busybox"]);
    let temp = TempDir::new();
    let repos = temp.0.join("repos");
    let publish = |name: &str, branch: &str, files: &[(&str, Vec<u8>)]| {
        let work = temp.0.join(name);
        std::fs::create_dir_all(&work).expect("work dir");
        git(&work, &["init", "-q", "-b", branch]);
        for (path, bytes) in files {
            std::fs::write(work.join(path), bytes).expect("write");
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "Source"]);
        let bare = repos.join(format!("{name}.git"));
        git(&work, &["clone", "-q", "--bare", ".", bare.to_str().expect("UTF-8 path")]);
    };
    publish("app", "release", &[("Dockerfile", DOCKERFILE_V.into()), ("version.txt", b"from git\n".to_vec())]);
    publish("big", "main", &[("Dockerfile", DOCKERFILE_V.into()), ("noise.bin", noise(3 * 1024 * 1024, 5))]);
    let server = GitHttpServer::start(&repos, ServerOptions { tls: true, ..ServerOptions::default() })
        .expect("start the test git server");
    let config = outbound_config_file(&temp.0, true, server.ca_pem_path());
    let deploy_app = DeployApp::start(&[
        ("DOCKYARD_CONFIG", config.to_str().expect("UTF-8 path")),
        ("DOCKYARD_DEPLOY__MAX_CONTEXT_BYTES", "1000000"),
    ])
    .await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let project = project(admin, &deploy_app.org, "From git").await;
    let source = |repo: &str, branch: &str| json!({ "type": "git", "url": server.url(repo), "branch": branch });

    let (_, host) = live_service(
        admin,
        &project,
        json!({ "name": "site", "source": source("app.git", "release"), "port": 8080, "health_check_path": "/health" }),
    )
    .await;
    assert_eq!(via_proxy(app, &host, "/").await, (200, "from git\n".to_owned()));

    for (name, repo, branch, code) in
        [("nobranch", "app.git", "nope", "source_unavailable"), ("big", "big.git", "main", "context_too_large")]
    {
        let service =
            create_service(admin, &project, json!({ "name": name, "source": source(repo, branch), "port": 8080 }))
                .await;
        let deployment = deploy(admin, service["id"].as_str().expect("id")).await;
        let done = settle(admin, &deployment).await;
        assert_eq!(
            (done["status"].as_str(), done["error"]["code"].as_str()),
            (Some("failed"), Some(code)),
            "{name}: {done}\n{}",
            plain_logs(admin, &deployment).await
        );
    }
    assert_no_leftovers(&app.data_dir().join("deploy-staging")).await;
}

/// An instance whose log the engine cannot read (its log driver is `none`, as
/// on an engine whose default driver is `none`) is a `log_error` event in the
/// service's log stream, and the other instance's lines still come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_instance_log_is_a_log_error_event_beside_the_other_lines() {
    if !engine_available("an_unreadable_instance_log_is_a_log_error_event_beside_the_other_lines") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[]).await;
    let admin = &deploy_app.admin;
    let project = project(admin, &deploy_app.org, "Logs").await;
    write(
        admin,
        &project,
        "Dockerfile",
        "FROM dockyard-base/busybox:1\nRUN mkdir -p /www && echo ok > /www/health\n\
CMD [\"sh\", \"-c\", \"echo instance says hello; exec httpd -f -p 8080 -h /www\"]\n",
    )
    .await;
    let (service, _) = live_service(
        admin,
        &project,
        json!({ "name": "web", "source": { "type": "workspace" }, "port": 8080, "health_check_path": "/health" }),
    )
    .await;
    // A second container with the instance's labels and image, whose log the engine does not keep.
    let instance = deploy_app.containers().into_iter().next().expect("the live instance");
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&docker(&["inspect", "--format", "{{json .Config.Labels}}", &instance]))
            .expect("the instance's labels");
    let image = docker(&["inspect", "--format", "{{.Config.Image}}", &instance]).trim().to_owned();
    let mut args: Vec<String> = ["run", "-d", "--log-driver", "none"].map(str::to_owned).to_vec();
    for (key, value) in &labels {
        args.extend(["--label".to_owned(), format!("{key}={value}")]);
    }
    args.push(image);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let unreadable = docker(&args).trim().to_owned();
    assert!(!unreadable.is_empty(), "docker run {args:?} started nothing");

    let (status, events) = read_events(admin, &format!("/api/v1/services/{service}/logs?tail=50"), None).await;

    assert_eq!(status, 200);
    let data = |name: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|event| event.event == name)
            .map(|event| serde_json::from_str(&event.data).expect("JSON data"))
            .collect()
    };
    let lines = data("log");
    assert!(lines.iter().any(|line| line["line"] == "instance says hello"), "the live instance's line: {events:?}");
    let errors = data("log_error");
    assert_eq!(errors.len(), 1, "one log_error, for the unreadable instance: {events:?}");
    assert_eq!(errors[0]["code"], "log_stream_failed");
    assert!(errors[0]["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{}", errors[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_after_go_live_take_instances_out_and_back() {
    if !engine_available("health_checks_after_go_live_take_instances_out_and_back") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app =
        DeployApp::start(&[("DOCKYARD_DEPLOY__HEALTH_INTERVAL_MS", "300"), ("DOCKYARD_DEPLOY__HEALTH_FAILURES", "2")])
            .await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let project = project(admin, &deploy_app.org, "Probe").await;
    write(
        admin,
        &project,
        "Dockerfile",
        "FROM dockyard-base/busybox:1\n\
CMD [\"sh\", \"-c\", \"mkdir -p /www && hostname > /www/index.html && echo ok > /www/health && exec httpd -f -p 8080 -h /www\"]\n",
    )
    .await;
    let (_, host) = live_service(
        admin,
        &project,
        json!({ "name": "web", "port": 8080, "health_check_path": "/health", "replicas": 2 }),
    )
    .await;

    // Which hostnames answer through the proxy over a few requests (a 503 counts as "503").
    let answers = |count: usize| {
        let host = host.clone();
        async move {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..count {
                let (status, body) = via_proxy(app, &host, "/").await;
                seen.insert(if status == 200 { body.trim().to_owned() } else { status.to_string() });
            }
            seen
        }
    };
    let containers = deploy_app.containers();
    assert_eq!(containers.len(), 2, "two replicas: {containers:?}");
    let hostnames: Vec<String> =
        containers.iter().map(|id| docker(&["exec", id, "hostname"]).trim().to_owned()).collect();
    let both: std::collections::BTreeSet<String> = hostnames.iter().cloned().collect();
    assert_eq!(answers(12).await, both, "both replicas serve");

    let until = |want: std::collections::BTreeSet<String>, what: &'static str| {
        let answers = &answers;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let seen = answers(8).await;
                if seen == want {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "{what}: still {seen:?}, want {want:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // The first replica's health check fails from now on: it leaves the proxy.
    docker(&["exec", &containers[0], "rm", "/www/health"]);
    until([hostnames[1].clone()].into(), "the failing replica leaves").await;
    // Both fail: the route says the service is failing.
    docker(&["exec", &containers[1], "rm", "/www/health"]);
    until(["503".to_owned()].into(), "no healthy replica").await;
    let (status, page) = via_proxy(app, &host, "/").await;
    assert_eq!(status, 503);
    assert!(page.contains("failing"), "{page}");
    // Healthy again: both come back without a redeploy.
    for id in &containers {
        docker(&["exec", id, "sh", "-c", "echo ok > /www/health"]);
    }
    until(both.clone(), "both replicas come back").await;
    assert_eq!(deploy_app.containers().len(), 2, "nothing was restarted or removed");
}

const SLOW_DOCKERFILE: &str = "FROM dockyard-base/busybox:1\nRUN echo MARKER && sleep 120\nCMD [\"sh\"]\n";

/// Whether a build step with `marker` still runs (its intermediate container).
/// A page that answers only once `/tmp/release` exists in its container.
const HELD_DOCKERFILE: &str = "FROM dockyard-base/busybox:1\n\
RUN mkdir -p /www/cgi-bin && echo ok > /www/health\n\
COPY version.txt /www/index.html\n\
COPY held /www/cgi-bin/held\n\
RUN chmod +x /www/cgi-bin/held\n\
CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";
const HELD_CGI: &str = "#!/bin/sh\n\
i=0\n\
while [ ! -e /tmp/release ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n\
printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
cat /www/index.html\n";

/// Sends a request for the held page through `replica`'s proxy and waits
/// until it runs in `container`; answers the request's eventual (status, body).
async fn hold(replica: &TestApp, host: &str, container: &str) -> tokio::task::JoinHandle<(u16, String)> {
    let (base, host) = (replica.proxy_base.clone(), host.to_owned());
    let held = tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(90)).build().expect("client");
        match client.get(format!("{base}/cgi-bin/held")).header("host", &host).send().await {
            Ok(response) => (response.status().as_u16(), response.text().await.unwrap_or_default()),
            Err(error) => (0, error.to_string()),
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !docker(&["exec", container, "ps"]).contains("held") {
        assert!(tokio::time::Instant::now() < deadline, "the held request never reached {container}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    held
}

/// Whether a test of several Dockyard replicas can run: they share a
/// PostgreSQL database (on SQLite the test is skipped, saying so) and an engine.
fn replicas_available(name: &str) -> bool {
    if !matches!(crate::support::backend(), crate::support::Backend::Postgres { .. }) {
        eprintln!("skipping {name}: replicas share a PostgreSQL database, and this run is on SQLite");
        return false;
    }
    engine_available(name)
}

/// A redeploy drains the old instances on every replica's proxy: a request in
/// flight through another replica (one that runs no jobs) finishes on the old
/// version before the deploying replica removes it; a replica that died is
/// not waited for past its silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeploy_drains_requests_in_flight_on_other_replicas() {
    let name = "a_redeploy_drains_requests_in_flight_on_other_replicas";
    if !replicas_available(name) {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[("DOCKYARD_DEPLOY__DRAIN_SECONDS", "30")]).await;
    let admin = &deploy_app.admin;
    let (project, service_id, host, v1) = live_held_service(&deploy_app, "Pair").await;

    // A second replica on the same database that runs no jobs: it only serves.
    let replica = deploy_app.app.replica(&[("DOCKYARD_JOBS__WORKERS", "0")]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while via_proxy(&replica, &host, "/").await != (200, "v1\n".to_owned()) {
        assert!(tokio::time::Instant::now() < deadline, "the second replica never served v1");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A request through the second replica that v1 holds until released.
    let held = hold(&replica, &host, &v1).await;
    // Redeploy through the first replica while the request is held.
    write(admin, &project, "version.txt", "v2\n").await;
    let second = deploy(admin, &service_id).await;
    wait_status(admin, &second, "active").await;
    // The switch happened; the deploying replica now waits for the other's drain.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        docker(&["ps", "-q", "--no-trunc", "--filter", &format!("id={v1}")]).contains(&v1),
        "v1 was stopped while a request through the other replica was in flight:\n{}",
        plain_logs(admin, &second).await
    );
    // The other replica sends new requests to v2 meanwhile.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while via_proxy(&replica, &host, "/").await != (200, "v2\n".to_owned()) {
        assert!(tokio::time::Instant::now() < deadline, "the other replica never switched to v2");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    docker(&["exec", &v1, "touch", "/tmp/release"]);
    let answer = held.await.expect("the held request");
    assert_eq!(answer, (200, "v1\n".to_owned()), "the held request finished on v1");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = plain_logs(admin, &second).await;
        if log.contains("stopped 1 old instance(s)") {
            assert!(log.contains("drained on 1 other replica(s)"), "{log}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "v1 was never removed:\n{log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!docker(&["ps", "-a", "-q", "--no-trunc"]).contains(&v1), "v1 is gone");
    let metrics = deploy_app.app.anonymous().get("/metrics").await.body;
    assert!(metrics.contains("deploy_replicas_seen 1"), "{metrics}");
    assert!(metrics.contains("deploy_remote_drains_total{result=\"drained\"} 1"), "{metrics}");

    // The other replica dies without a word while it holds a request on v2:
    // the next redeploy stops waiting for it once it has been silent too long,
    // well before the 30 s deadline.
    let v2 = deploy_app.containers();
    assert_eq!(v2.len(), 1, "{v2:?}");
    let held = hold(&replica, &host, &v2[0]).await;
    write(admin, &project, "version.txt", "v3\n").await;
    let third = deploy(admin, &service_id).await;
    wait_status(admin, &third, "active").await;
    let mut replica = replica;
    replica.kill().await;
    let killed = tokio::time::Instant::now();
    let _ = held.await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    loop {
        let log = plain_logs(admin, &third).await;
        if log.contains("stopped 1 old instance(s)") {
            assert!(log.contains("1 other replica(s) did not answer the drain in time"), "{log}");
            eprintln!("{name}: the dead replica was given up on {:?} after it was killed", killed.elapsed());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the redeploy waited on a dead replica:\n{log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(via_proxy(&deploy_app.app, &host, "/").await, (200, "v3\n".to_owned()));
}

/// When the container's current run started (the engine's `StartedAt`).
fn started_at(id: &str) -> String {
    docker(&["inspect", "-f", "{{.State.StartedAt}}", id]).trim().to_owned()
}

/// Restarts the service (through `admin`'s replica) while four clients keep
/// sending the request `make` builds; answers how many answered 200 with
/// `want`, and what the others got.
async fn restart_under_load(
    admin: &Client,
    service_id: &str,
    host: &str,
    want: &str,
    make: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder + Clone + Send + 'static,
) -> (usize, Vec<String>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, make, host, want) = (stop.clone(), make.clone(), host.to_owned(), want.to_owned());
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
            let (mut served, mut errors) = (0, Vec::new());
            while !stop.load(Ordering::Acquire) {
                match make(&client, &host).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body = response.text().await.unwrap_or_default();
                        if status == 200 && body == want {
                            served += 1;
                        } else {
                            errors.push(format!("{status} {}", body.chars().take(120).collect::<String>()));
                        }
                    }
                    Err(error) => errors.push(error.to_string()),
                }
            }
            (served, errors)
        }));
    }
    let reply = admin.post(&format!("/api/v1/services/{service_id}/restart"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // A moment past the last instance's return.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Release);
    let (mut served, mut errors) = (0, Vec::new());
    for task in load {
        let (task_served, task_errors) = task.await.expect("load task");
        served += task_served;
        errors.extend(task_errors);
    }
    (served, errors)
}

/// A restart of a service with several instances restarts them one at a
/// time, each taken off the proxy and drained first and put back once
/// healthy: no request fails under load, and every instance restarted in
/// place. An instance that comes back unhealthy stops the restart there.
#[tokio::test]
async fn restarting_several_instances_rolls_without_a_failed_request() {
    if !engine_available("restarting_several_instances_rolls_without_a_failed_request") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[("DOCKYARD_DEPLOY__STOP_GRACE_SECONDS", "1")]).await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let project = project(admin, &deploy_app.org, "Rolling").await;
    // Healthy unless /tmp/unhealthy-after-restart exists when it starts.
    write(
        admin,
        &project,
        "Dockerfile",
        "FROM dockyard-base/busybox:1\n\
CMD [\"sh\", \"-c\", \"mkdir -p /www && echo up > /www/index.html && rm -f /www/health && \
if [ ! -e /tmp/unhealthy-after-restart ]; then echo ok > /www/health; fi && exec httpd -f -p 8080 -h /www\"]\n",
    )
    .await;
    let (service_id, host) = live_service(
        admin,
        &project,
        json!({ "name": "web", "port": 8080, "health_check_path": "/health", "replicas": 2,
            "health_check_timeout_secs": 5 }),
    )
    .await;
    let mut containers = deploy_app.containers();
    containers.sort();
    assert_eq!(containers.len(), 2, "two instances: {containers:?}");
    let before: Vec<String> = containers.iter().map(|id| started_at(id)).collect();

    let (base, path) = (app.proxy_base.clone(), "/");
    let (total, errors) = restart_under_load(admin, &service_id, &host, "up\n", move |client, host| {
        client.get(format!("{base}{path}")).header("host", host)
    })
    .await;
    assert!(errors.is_empty(), "failed requests during the restart ({total} served): {errors:?}");
    assert!(total > 20, "the load generator made only {total} requests");
    let mut now = deploy_app.containers();
    now.sort();
    assert_eq!(now, containers, "restarted in place, the same containers");
    for (id, earlier) in containers.iter().zip(&before) {
        assert_ne!(&started_at(id), earlier, "{id} was restarted");
    }
    assert_eq!(via_proxy(app, &host, "/").await, (200, "up\n".to_owned()));

    // Both would come back unhealthy: the first one stops the restart, the second is left running as it was.
    let before: Vec<String> = containers.iter().map(|id| started_at(id)).collect();
    for id in &containers {
        docker(&["exec", id, "touch", "/tmp/unhealthy-after-restart"]);
    }
    let reply = admin.post(&format!("/api/v1/services/{service_id}/restart"), &json!({})).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert_eq!(reply.code(), "restart_unhealthy");
    let restarted: Vec<bool> = containers.iter().zip(&before).map(|(id, earlier)| &started_at(id) != earlier).collect();
    assert_eq!(restarted.iter().filter(|restarted| **restarted).count(), 1, "one instance restarted: {restarted:?}");
    // The other one still serves.
    assert_eq!(via_proxy(app, &host, "/").await, (200, "up\n".to_owned()));
}

/// Without a health path, a restarted instance must still run after a
/// moment, as in a deploy: one that exits at once stops the rolling restart.
#[tokio::test]
async fn a_rolling_restart_without_a_health_path_stops_at_an_instance_that_exits() {
    if !engine_available("a_rolling_restart_without_a_health_path_stops_at_an_instance_that_exits") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[("DOCKYARD_DEPLOY__STOP_GRACE_SECONDS", "1")]).await;
    let admin = &deploy_app.admin;
    let project = project(admin, &deploy_app.org, "Exits").await;
    // Exits at once when it starts again.
    write(
        admin,
        &project,
        "Dockerfile",
        "FROM dockyard-base/busybox:1\n\
CMD [\"sh\", \"-c\", \"if [ -e /tmp/started ]; then exit 3; fi; touch /tmp/started; mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n",
    )
    .await;
    let (service_id, _) = live_service(admin, &project, json!({ "name": "web", "port": 8080, "replicas": 2 })).await;

    let containers = deploy_app.containers();
    assert_eq!(containers.len(), 2, "two instances: {containers:?}");
    let before: Vec<String> = containers.iter().map(|id| started_at(id)).collect();
    let reply = admin.post(&format!("/api/v1/services/{service_id}/restart"), &json!({})).await;
    assert_eq!((reply.status, reply.code()), (409, "restart_unhealthy"), "{}", reply.body);
    // The first one exits (the engine's restart policy may start it again); the second was left alone.
    let restarted: Vec<bool> = containers.iter().zip(&before).map(|(id, earlier)| &started_at(id) != earlier).collect();
    assert_eq!(restarted.iter().filter(|restarted| **restarted).count(), 1, "one instance restarted: {restarted:?}");

    // The same rule in a deploy: an app that exits at once (busybox's `sh`
    // with no input), which the engine's restart policy keeps starting again,
    // never counts as started.
    let crashing = create_service(
        admin,
        &project,
        json!({ "name": "crash", "port": 8080, "source": { "type": "image", "image": "dockyard-base/busybox:1" } }),
    )
    .await;
    let deployment = deploy(admin, crashing["id"].as_str().expect("id")).await;
    let done = settle(admin, &deployment).await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("start_failed")),
        "{done}"
    );
}

/// With several Dockyard replicas, a rolling restart takes each instance off
/// every replica's proxy before it restarts: POSTs (which no proxy retries on
/// another instance) through a replica that did not run the restart all
/// succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_takes_instances_off_other_replicas_proxies() {
    let name = "a_rolling_restart_takes_instances_off_other_replicas_proxies";
    if !replicas_available(name) {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[("DOCKYARD_DEPLOY__STOP_GRACE_SECONDS", "1")]).await;
    let admin = &deploy_app.admin;
    let project = project(admin, &deploy_app.org, "Cordons").await;
    write(
        admin,
        &project,
        "Dockerfile",
        "FROM dockyard-base/busybox:1\n\
RUN mkdir -p /www/cgi-bin && echo ok > /www/health\n\
COPY ok /www/cgi-bin/ok\n\
RUN chmod +x /www/cgi-bin/ok\n\
CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
    )
    .await;
    write(admin, &project, "ok", "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho ok\n").await;
    let (service_id, host) = live_service(
        admin,
        &project,
        json!({ "name": "web", "port": 8080, "health_check_path": "/health", "replicas": 2 }),
    )
    .await;

    // A second replica on the same database that runs no jobs: it only serves.
    let replica = deploy_app.app.replica(&[("DOCKYARD_JOBS__WORKERS", "0")]).await;
    let post = |base: String, host: String| async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        match client.post(format!("{base}/cgi-bin/ok")).header("host", &host).body("x").send().await {
            Ok(response) => (response.status().as_u16(), response.text().await.unwrap_or_default()),
            Err(error) => (0, error.to_string()),
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while post(replica.proxy_base.clone(), host.clone()).await != (200, "ok\n".to_owned()) {
        assert!(tokio::time::Instant::now() < deadline, "the second replica never served the service");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Through the second replica; the first (admin's) runs the restart.
    let base = replica.proxy_base.clone();
    let (total, errors) = restart_under_load(admin, &service_id, &host, "ok\n", move |client, host| {
        client.post(format!("{base}/cgi-bin/ok")).header("host", host).body("x")
    })
    .await;
    assert!(errors.is_empty(), "failed POSTs through the other replica ({total} served): {errors:?}");
    assert!(total > 20, "the load generator made only {total} requests");
}

/// A project with one live instance of the held-request app (version `v1`);
/// answers the project, the service id, its host and the instance's container.
async fn live_held_service(deploy_app: &DeployApp, name: &str) -> (String, String, String, String) {
    let admin = &deploy_app.admin;
    let project = project(admin, &deploy_app.org, name).await;
    write(admin, &project, "Dockerfile", HELD_DOCKERFILE).await;
    write(admin, &project, "held", HELD_CGI).await;
    write(admin, &project, "version.txt", "v1\n").await;
    let (service_id, host, _) = web_service(admin, &project).await;
    let first = deploy(admin, &service_id).await;
    let done = settle(admin, &first).await;
    assert_eq!(done["status"], "active", "{done}");
    let containers = deploy_app.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    let instance = containers[0].clone();
    (project, service_id, host, instance)
}

/// Stopping a service drains it like a redeploy: new requests get the
/// "stopped" page at once, a request in flight finishes on the instance, and
/// only then is the instance stopped.
#[tokio::test]
async fn stopping_a_service_lets_the_requests_in_flight_finish() {
    if !engine_available("stopping_a_service_lets_the_requests_in_flight_finish") {
        return;
    }
    base_images(&["busybox"]);
    // No stop grace: without the drain, the instance would be killed at once.
    let deploy_app =
        DeployApp::start(&[("DOCKYARD_DEPLOY__DRAIN_SECONDS", "60"), ("DOCKYARD_DEPLOY__STOP_GRACE_SECONDS", "0")])
            .await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let (_, service_id, host, instance) = live_held_service(&deploy_app, "Stopping").await;
    let running = || docker(&["ps", "-q", "--no-trunc", "--filter", &format!("id={instance}")]).contains(&instance);

    let held = hold(app, &host, &instance).await;
    let stop = {
        let (admin, service_id) = (admin.clone(), service_id.clone());
        tokio::spawn(async move { admin.post(&format!("/api/v1/services/{service_id}/stop"), &json!({})).await })
    };
    // New requests get the stopped page while the held one is in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = via_proxy(app, &host, "/").await;
        if status == 503 && body.contains("stopped") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "new requests never got the stopped page: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The stop waits for the drain: the instance runs until the request is done.
    assert!(running(), "the instance was stopped with a request in flight");
    assert!(!stop.is_finished(), "the stop answered before the request in flight was done");
    // Meanwhile another stop, start or restart of the service is refused, also
    // through another replica sharing the database (PostgreSQL): one that runs
    // no jobs, signed in as the same admin.
    let reply = admin.post(&format!("/api/v1/services/{service_id}/restart"), &json!({})).await;
    assert_eq!((reply.status, reply.code()), (409, "service_busy"), "{}", reply.body);
    let other = match crate::support::backend() {
        crate::support::Backend::Postgres { .. } => {
            let replica = app.replica(&[("DOCKYARD_JOBS__WORKERS", "0")]).await;
            let client = replica.login(ADMIN_EMAIL, PASSWORD).await;
            let reply = client.post(&format!("/api/v1/services/{service_id}/restart"), &json!({})).await;
            assert_eq!((reply.status, reply.code()), (409, "service_busy"), "through another replica: {}", reply.body);
            assert!(!stop.is_finished(), "the stop ended before the other replica's restart was refused");
            Some((replica, client))
        }
        crate::support::Backend::Sqlite => None,
    };
    docker(&["exec", &instance, "touch", "/tmp/release"]);
    assert_eq!(held.await.expect("the held request"), (200, "v1\n".to_owned()), "the request in flight finished");
    let reply = stop.await.expect("the stop request");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json["desired_state"], "stopped", "{}", reply.body);
    assert!(!running(), "the instance runs on after the stop");

    // The finished stop gave the service free: a start goes through, on the
    // other replica when there is one.
    let starter = other.as_ref().map_or(admin, |(_, client)| client);
    let reply = starter.post(&format!("/api/v1/services/{service_id}/start"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(running(), "started again");
    docker(&["exec", &instance, "rm", "-f", "/tmp/release"]);
    let held = hold(app, &host, &instance).await;
    let stop = {
        let (admin, service_id) = (admin.clone(), service_id.clone());
        tokio::spawn(async move { admin.post(&format!("/api/v1/services/{service_id}/stop"), &json!({})).await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while via_proxy(app, &host, "/").await.0 != 503 {
        assert!(tokio::time::Instant::now() < deadline, "the second stop never took the route");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.abort();
    let _ = stop.await;
    docker(&["exec", &instance, "touch", "/tmp/release"]);
    assert_eq!(held.await.expect("the held request"), (200, "v1\n".to_owned()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while running() {
        assert!(tokio::time::Instant::now() < deadline, "the stop ended with its caller: the instance runs on");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A deploy ready to go live while a stop of the service is under way waits
/// for it (the stop acts on the old instances), then goes live and runs the
/// service: the deploy is the later word.
#[tokio::test]
async fn a_deploy_going_live_waits_for_a_stop_under_way() {
    if !engine_available("a_deploy_going_live_waits_for_a_stop_under_way") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[("DOCKYARD_DEPLOY__DRAIN_SECONDS", "60")]).await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let (project, service_id, host, instance) = live_held_service(&deploy_app, "Waiting").await;

    // A stop held in its drain by a request in flight (for as long as v2
    // takes to build: more than the client's usual 30 s on a busy machine).
    let held = hold(app, &host, &instance).await;
    let stop = {
        let (admin, service_id) = (admin.clone(), service_id.clone());
        tokio::spawn(async move {
            let url = admin.url(&format!("/api/v1/services/{service_id}/stop"));
            admin.send(admin.inner.post(url).json(&json!({})).timeout(Duration::from_secs(150))).await
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while via_proxy(app, &host, "/").await.0 != 503 {
        assert!(tokio::time::Instant::now() < deadline, "the stop never took the route");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // v2 builds and starts, then waits for the stop.
    write(admin, &project, "version.txt", "v2\n").await;
    let second = deploy(admin, &service_id).await;
    // Its log streams while the job runs: read it until the wait shows.
    let url = admin.url(&format!("/api/v1/deployments/{second}/logs"));
    let mut log = admin.inner.get(url).timeout(Duration::from_secs(150)).send().await.expect("the deploy log");
    let mut text = String::new();
    let waiting = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(chunk) = log.chunk().await.expect("read the deploy log") {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("waiting for a stop, start or restart") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(waiting, Ok(true), "the deploy did not wait for the stop:\n{text}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reply = admin.get(&format!("/api/v1/deployments/{second}")).await;
    assert_eq!(reply.json["status"], "starting", "still waiting for the stop: {}", reply.body);
    assert!(!stop.is_finished(), "the stop ended before the held request did");

    docker(&["exec", &instance, "touch", "/tmp/release"]);
    assert_eq!(held.await.expect("the held request"), (200, "v1\n".to_owned()), "the request in flight finished");
    let reply = stop.await.expect("the stop request");
    assert_eq!((reply.status, reply.json["desired_state"].as_str()), (200, Some("stopped")), "{}", reply.body);
    let done = settle(admin, &second).await;
    assert_eq!(done["status"], "active", "{done}\n{}", plain_logs(admin, &second).await);
    let service = admin.get(&format!("/api/v1/services/{service_id}")).await;
    assert_eq!(service.json["desired_state"], "running", "going live runs the service: {}", service.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = via_proxy(app, &host, "/").await;
        if (status, body.as_str()) == (200, "v2\n") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "v2 is not served after going live: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn build_running(marker: &str) -> bool {
    docker(&["ps", "--no-trunc", "--format", "{{.Command}}"]).contains(marker)
}

/// 6: a cancelled build really stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_build() {
    if !engine_available("cancel_stops_the_build") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[]).await;
    let admin = &deploy_app.admin;
    let project = project(admin, &deploy_app.org, "Slow").await;
    let marker = format!("cancel-{}", ulid::Ulid::new().to_string().to_lowercase());
    write(admin, &project, "Dockerfile", &SLOW_DOCKERFILE.replace("MARKER", &marker)).await;
    let service = create_service(admin, &project, json!({ "name": "slow", "port": 8080 })).await;
    let deployment = deploy(admin, service["id"].as_str().expect("id")).await;
    wait_status(admin, &deployment, "building").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !build_running(&marker) {
        assert!(tokio::time::Instant::now() < deadline, "the slow build step never started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = admin.post(&format!("/api/v1/deployments/{deployment}/cancel"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let done = settle(admin, &deployment).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while build_running(&marker) {
        assert!(tokio::time::Instant::now() < deadline, "the build step still runs 20 s after the cancel");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Cancelling twice is a conflict, not an error.
    let reply = admin.post(&format!("/api/v1/deployments/{deployment}/cancel"), &json!({})).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
}

/// 7: `kill -9` during a build, then a restart: the deployment ends failed and
/// nothing of it is left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_build_then_restart_leaves_no_orphans() {
    if !engine_available("kill_during_build_then_restart_leaves_no_orphans") {
        return;
    }
    base_images(&["busybox"]);
    let mut deploy_app =
        DeployApp::start(&[("DOCKYARD_JOBS__LEASE_SECONDS", "3"), ("DOCKYARD_JOBS__POLL_SECONDS", "1")]).await;
    let project = project(&deploy_app.admin, &deploy_app.org, "Crash").await;
    let marker = format!("crash-{}", ulid::Ulid::new().to_string().to_lowercase());
    write(&deploy_app.admin, &project, "Dockerfile", &SLOW_DOCKERFILE.replace("MARKER", &marker)).await;
    let service = create_service(&deploy_app.admin, &project, json!({ "name": "crash", "port": 8080 })).await;
    let deployment = deploy(&deploy_app.admin, service["id"].as_str().expect("id")).await;
    wait_status(&deploy_app.admin, &deployment, "building").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !build_running(&marker) {
        assert!(tokio::time::Instant::now() < deadline, "the slow build step never started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    deploy_app.app.kill().await;
    deploy_app.app.start().await;
    let admin = deploy_app.app.login(crate::support::ADMIN_EMAIL, crate::support::PASSWORD).await;
    let done = settle(&admin, &deployment).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "interrupted", "{done}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while build_running(&marker) {
        assert!(tokio::time::Instant::now() < deadline, "the build of a killed Dockyard still runs");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(deploy_app.containers().is_empty(), "no orphan container: {:?}", deploy_app.containers());
    deploy_app.admin = admin;
}

/// Waits until the deployment's job has ended (its last steps, such as
/// pruning old images, run after the deployment's own status is final).
async fn job_ended(client: &Client, deployment: &Value) {
    let job = deployment["job_id"].as_str().unwrap_or_else(|| panic!("job id: {deployment}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reply = client.get(&format!("/api/v1/jobs/{job}")).await;
        assert_eq!(reply.status, 200, "GET job: {}", reply.body);
        if matches!(reply.json["status"].as_str(), Some("succeeded" | "failed" | "canceled")) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "job still running: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The service's images on the engine, by tag, sorted.
fn service_images(service: &str) -> Vec<String> {
    let mut tags: Vec<String> = docker(&[
        "images",
        "--filter",
        &format!("label=dockyard.service={service}"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])
    .lines()
    .map(str::to_owned)
    .collect();
    tags.sort();
    tags
}

/// Image retention: with `keep_images` 2, the images of the two newest
/// deployments that went live stay (a rollback counts, with the image it
/// reuses), a failed deployment's image goes, rollback to a pruned deployment
/// is refused clearly, and deleting the service removes its images.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_images_are_pruned_and_a_deleted_service_takes_its_images() {
    if !engine_available("old_images_are_pruned_and_a_deleted_service_takes_its_images") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[("DOCKYARD_DEPLOY__KEEP_IMAGES", "2")]).await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let project = project(admin, &deploy_app.org, "Keep").await;
    write(admin, &project, "Dockerfile", DOCKERFILE_V).await;
    let (service_id, host, _url) = web_service(admin, &project).await;
    let mut live = Vec::new();
    for version in ["v1", "v2", "v3"] {
        write(admin, &project, "version.txt", &format!("{version}\n")).await;
        let id = deploy(admin, &service_id).await;
        let done = settle(admin, &id).await;
        assert_eq!(done["status"], "active", "{done}");
        job_ended(admin, &done).await;
        live.push((id, done["image"].as_str().expect("image").to_owned()));
    }
    let mut expected = vec![live[1].1.clone(), live[2].1.clone()];
    expected.sort();
    assert_eq!(service_images(&service_id), expected, "the newest two live images stay");
    let log = plain_logs(admin, &live[2].0).await;
    assert!(log.contains("removed 1 old image(s)"), "the deployment log says what went:\n{log}");
    let metrics = app.anonymous().get("/metrics").await.body;
    assert!(metrics.contains("deploy_images_removed_total 1"), "{metrics}");
    assert!(metrics.contains("deploy_image_bytes_removed_total "), "{metrics}");

    // The API says which images are gone, in the list and for one deployment.
    let list = admin.get(&format!("/api/v1/services/{service_id}/deployments")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let removed: Vec<(u64, bool)> = list
        .json
        .as_array()
        .expect("list")
        .iter()
        .map(|d| (d["number"].as_u64().expect("number"), d["image_removed"].as_bool().expect("image_removed")))
        .collect();
    assert_eq!(removed, [(3, false), (2, false), (1, true)], "{}", list.body);
    let first = admin.get(&format!("/api/v1/deployments/{}", live[0].0)).await;
    assert_eq!(first.json["image_removed"], true, "{}", first.body);

    // Rollback to the pruned first deployment: a clear 422, nothing queued.
    let reply =
        admin.post(&format!("/api/v1/services/{service_id}/rollback"), &json!({ "deployment_id": live[0].0 })).await;
    assert_eq!((reply.status, reply.code()), (422, "image_not_found"), "{}", reply.body);
    assert!(reply.body.contains("keep_images"), "the error says why: {}", reply.body);

    // A deployment that fails its health check leaves no image behind.
    let reply = admin
        .patch(
            &format!("/api/v1/services/{service_id}"),
            &json!({ "health_check_path": "/missing", "health_check_timeout_secs": 3 }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    write(admin, &project, "version.txt", "v4\n").await;
    let broken = deploy(admin, &service_id).await;
    let done = settle(admin, &broken).await;
    assert_eq!(done["error"]["code"], "health_check_failed", "{done}");
    job_ended(admin, &done).await;
    assert_eq!(service_images(&service_id), expected, "the failed deployment's image went");
    assert_eq!(via_proxy(app, &host, "/").await, (200, "v3\n".to_owned()));

    // Rollback to the second deployment reuses its kept image and keeps it.
    let reply =
        admin.patch(&format!("/api/v1/services/{service_id}"), &json!({ "health_check_path": "/health" })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply =
        admin.post(&format!("/api/v1/services/{service_id}/rollback"), &json!({ "deployment_id": live[1].0 })).await;
    assert_eq!(reply.status, 202, "rollback: {}", reply.body);
    let done = settle(admin, reply.json["id"].as_str().expect("id")).await;
    assert_eq!((done["status"].as_str(), done["image"].as_str()), (Some("active"), Some(live[1].1.as_str())), "{done}");
    job_ended(admin, &done).await;
    assert_eq!(via_proxy(app, &host, "/").await, (200, "v2\n".to_owned()));
    assert_eq!(service_images(&service_id), expected, "the rollback and #3 are the two newest live deployments");

    // Deleting the service removes its images.
    let reply = admin.delete(&format!("/api/v1/services/{service_id}")).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(service_images(&service_id), Vec::<String>::new(), "a deleted service leaves no image");

    // An image of a deleted service left on the engine (the engine was away
    // during the delete, or the process died in it) goes in the orphan sweep
    // that runs at start.
    let context = std::env::temp_dir().join(format!("dy-orphan-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&context).expect("context dir");
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {BUSYBOX}\nLABEL dockyard.managed=true dockyard.instance={} dockyard.service={service_id}\n",
            deploy_app.instance
        ),
    )
    .expect("Dockerfile");
    let orphan = format!("dockyard-test/orphan-{}:1", ulid::Ulid::new().to_string().to_lowercase());
    docker(&["build", "-q", "-t", &orphan, &context.to_string_lossy()]);
    let _ = std::fs::remove_dir_all(&context);
    assert_eq!(service_images(&service_id), vec![orphan.clone()]);
    let mut deploy_app = deploy_app;
    deploy_app.app.kill().await;
    deploy_app.app.start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !service_images(&service_id).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the sweep left {:?}", service_images(&service_id));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// 8: secrets are masked, injected, kept on a masked round trip, and never in logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_masked_injected_and_never_logged() {
    if !engine_available("secrets_are_masked_injected_and_never_logged") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[("DOCKYARD_LOG_LEVEL", "debug")]).await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let project = project(admin, &deploy_app.org, "Vault").await;
    let secret = format!("s3cret-{}", ulid::Ulid::new().to_string().to_lowercase());
    write(
        admin,
        &project,
        "Dockerfile",
        "FROM dockyard-base/busybox:1\nRUN mkdir -p /www\n\
CMD [\"sh\", \"-c\", \"echo \\\"$API_TOKEN|$MODE|$PORT\\\" > /www/env && httpd -f -p $PORT -h /www\"]\n",
    )
    .await;
    let service = create_service(
        admin,
        &project,
        json!({ "name": "vault", "port": 8081, "health_check_path": "/env",
            "env": { "API_TOKEN": { "value": secret, "secret": true }, "MODE": { "value": "prod" } } }),
    )
    .await;
    let service_id = service["id"].as_str().expect("id").to_owned();
    assert_eq!(service["env"]["API_TOKEN"]["value"], "********", "{service}");
    assert_eq!(service["env"]["MODE"]["value"], "prod");
    assert!(!service.to_string().contains(&secret));
    let deployment = deploy(admin, &service_id).await;
    assert_eq!(settle(admin, &deployment).await["status"], "active");
    let host = service["host"].as_str().expect("host");
    assert_eq!(via_proxy(app, host, "/env").await, (200, format!("{secret}|prod|8081\n")));

    // Sending the masked value back keeps the secret; changing MODE works.
    let reply = admin
        .patch(
            &format!("/api/v1/services/{service_id}"),
            &json!({ "env": { "API_TOKEN": { "value": "********", "secret": true }, "MODE": { "value": "staging" } } }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(!reply.body.contains(&secret));
    let deployment = deploy(admin, &service_id).await;
    assert_eq!(settle(admin, &deployment).await["status"], "active");
    assert_eq!(via_proxy(app, host, "/env").await, (200, format!("{secret}|staging|8081\n")));

    // Nowhere else: not in the API, the deploy logs, the audit log or the server's output.
    let got = admin.get(&format!("/api/v1/services/{service_id}")).await;
    assert!(!got.body.contains(&secret));
    assert!(!plain_logs(admin, &deployment).await.contains(&secret));
    let audit = admin.get(&format!("/api/v1/orgs/{}/audit?limit=200", deploy_app.org)).await;
    assert!(!audit.body.contains(&secret));
    assert!(!app.output_text().contains(&secret), "the server logged a secret");
    if matches!(crate::support::backend(), crate::support::Backend::Sqlite) {
        let database = std::fs::read(app.data_dir().join("dockyard.db")).unwrap_or_default();
        let needle = secret.as_bytes();
        assert!(!database.windows(needle.len()).any(|window| window == needle), "the database holds the plaintext");
    }
    // Engine-side, the value is in the container's env (that is where it must be), nowhere in its labels.
    let labels =
        docker(&["ps", "--filter", &format!("label=dockyard.service={service_id}"), "--format", "{{.Labels}}"]);
    assert!(!labels.contains(&secret));
}

/// 10: bad input gets 4xx problems with stable codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_clear_errors() {
    if !engine_available("bad_input_is_refused_with_clear_errors") {
        return;
    }
    base_images(&["busybox"]);
    let deploy_app = DeployApp::start(&[("DOCKYARD_DEPLOY__MAX_CONTEXT_BYTES", "200000")]).await;
    let admin = &deploy_app.admin;
    let project = project(admin, &deploy_app.org, "Bad").await;
    let path = format!("/api/v1/projects/{project}/services");
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({ "name": "Web" }), 422, "invalid_service_name"),
        (json!({ "name": "-web" }), 422, "invalid_service_name"),
        (json!({ "name": "x".repeat(41) }), 422, "invalid_service_name"),
        (json!({ "name": "web", "port": 0 }), 422, "invalid_port"),
        (json!({ "name": "web", "port": 70000 }), 422, "invalid_port"),
        (json!({ "name": "web", "replicas": 0 }), 422, "invalid_replicas"),
        (json!({ "name": "web", "health_check_path": "health" }), 422, "invalid_health_check_path"),
        (json!({ "name": "web", "source": { "type": "image", "image": "-v" } }), 422, "invalid_image"),
        (json!({ "name": "web", "source": { "type": "image", "image": "UPPER/case" } }), 422, "invalid_image"),
        (json!({ "name": "web", "build": { "dockerfile_path": "../../etc/passwd" } }), 422, "invalid_path"),
        (json!({ "name": "web", "build": { "context": "/etc" } }), 422, "invalid_path"),
        (json!({ "name": "web", "env": { "1BAD": { "value": "x" } } }), 422, "invalid_env_key"),
        (json!({ "name": "web", "env": { "PORT": { "value": "1" } } }), 422, "reserved_env_key"),
        (json!({ "name": "web", "env": { "A": { "secret": true } } }), 422, "missing_env_value"),
        (json!({ "name": "web", "source": { "type": "ftp" } }), 422, "invalid_body"),
        (json!({ "name": "web", "colour": "blue" }), 422, "invalid_body"),
        (json!({ "name": "web", "port": "eighty" }), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let reply = admin.post(&path, &body).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{body}");
        assert_eq!(reply.code(), code, "{body}: {}", reply.body);
    }
    // A duplicate name is a conflict.
    create_service(admin, &project, json!({ "name": "web" })).await;
    let reply = admin.post(&path, &json!({ "name": "web" })).await;
    assert_eq!((reply.status, reply.code()), (409, "service_name_taken"), "{}", reply.body);
    // An image the engine lacks is refused at deploy time, nothing is pulled.
    let service = create_service(
        admin,
        &project,
        json!({ "name": "img", "source": { "type": "image", "image": "no-such/image:404" } }),
    )
    .await;
    let reply =
        admin.post(&format!("/api/v1/services/{}/deployments", service["id"].as_str().expect("id")), &json!({})).await;
    assert_eq!((reply.status, reply.code()), (422, "image_not_found"), "{}", reply.body);
    // Unknown ids are 404, never 500.
    for path in ["/api/v1/services/nope", "/api/v1/deployments/nope", "/api/v1/services/01arz3ndektsv4rrffq69g5fav"] {
        assert_eq!(admin.get(path).await.status, 404, "{path}");
    }

    // Hostile build contexts: too large, and a link out of the source.
    let big = project_with_service(admin, &deploy_app.org, "Big", "big").await;
    write(admin, &big.0, "Dockerfile", "FROM dockyard-base/busybox:1\nCOPY . /app\n").await;
    write(admin, &big.0, "blob.txt", &"x".repeat(300_000)).await;
    let deployment = deploy(admin, &big.1).await;
    let done = settle(admin, &deployment).await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("context_too_large")),
        "{done}"
    );

    let linked = project_with_service(admin, &deploy_app.org, "Linked", "linked").await;
    write(admin, &linked.0, "Dockerfile", "FROM dockyard-base/busybox:1\nCOPY . /app\n").await;
    std::os::unix::fs::symlink("/etc/passwd", workspace_dir(&deploy_app.app, &linked.0).join("passwd"))
        .expect("make a link out of the workspace");
    let deployment = deploy(admin, &linked.1).await;
    let done = settle(admin, &deployment).await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("invalid_context")),
        "{done}"
    );
}

async fn project_with_service(admin: &Client, org: &str, name: &str, service: &str) -> (String, String) {
    let project = project(admin, org, name).await;
    let service = create_service(admin, &project, json!({ "name": service, "port": 8080 })).await;
    (project, service["id"].as_str().expect("id").to_owned())
}

/// Without an engine a deployment is recorded and fails at once with
/// `runtime_unavailable`; routes that need the engine answer 503; the proxy
/// still listens.
#[tokio::test]
async fn without_an_engine_deployments_fail_clearly() {
    let app = spawn_app_with(&[]).await;
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Off").await;
    let service = create_service(&admin, &project, json!({ "name": "web" })).await;
    let service_id = service["id"].as_str().expect("id");
    let deployment = deploy(&admin, service_id).await;
    let done = settle(&admin, &deployment).await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("runtime_unavailable")),
        "{done}"
    );
    for action in ["stop", "start", "restart"] {
        let reply = admin.post(&format!("/api/v1/services/{service_id}/{action}"), &json!({})).await;
        assert_eq!((reply.status, reply.code()), (503, "runtime_unavailable"), "{action}: {}", reply.body);
    }
    let (status, _) = via_proxy(&app, "nothing.localhost", "/").await;
    assert_eq!(status, 404, "the proxy listens and answers unknown hosts");
}

/// `dockyard plan` shows the detected stack of a local folder, and refuses one with nothing to build.
#[test]
fn plan_command_detects_a_folder() {
    let dir = crate::support::TempDir::new();
    std::fs::write(dir.0.join("requirements.txt"), "flask\n").expect("write");
    std::fs::write(dir.0.join("app.py"), "print('hi')\n").expect("write");
    let output = std::process::Command::new(crate::support::binary())
        .args(["plan", "--json"])
        .arg(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run dockyard plan");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON plan");
    assert_eq!(plan["stack"]["type"], "python", "{plan}");
    assert!(plan["dockerfile"]["inline"].as_str().is_some_and(|text| text.contains("FROM ")), "{plan}");

    let empty = crate::support::TempDir::new();
    let output = std::process::Command::new(crate::support::binary())
        .arg("plan")
        .arg(&empty.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run dockyard plan");
    assert!(!output.status.success());
    assert!(!String::from_utf8_lossy(&output.stderr).is_empty(), "a clear error");
}

/// Runs the `dockyard` CLI against the app with an API token; answers (success, stdout, stderr).
async fn cli(app: &TestApp, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(crate::support::binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKYARD_URL", &app.base)
        .env("DOCKYARD_TOKEN", token)
        .output()
        .await
        .expect("run the dockyard CLI");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A gzip-compressed tar with one entry named exactly as given (no checks by the tar crate).
fn raw_tar_gz(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder.append(&header, data).expect("tar entry");
    builder.into_inner().expect("finish tar").finish().expect("finish gzip")
}

/// `dockyard deploy` uploads a local folder (with `.dockerignore` and without
/// `.git`), follows the build and ends with the URL; `dockyard logs` prints the
/// instances' and the build's logs; a failing build exits non-zero with its
/// reason; hostile or malformed uploads are refused with stable codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_deploy_uploads_a_folder_and_logs_follow_it() {
    if !engine_available("cli_deploy_uploads_a_folder_and_logs_follow_it") {
        return;
    }
    base_images(&["busybox"]);
    // Small enough that the ignored folder below could not be uploaded.
    let deploy_app = DeployApp::start(&[("DOCKYARD_DEPLOY__MAX_CONTEXT_BYTES", "200000")]).await;
    let (app, admin) = (&deploy_app.app, &deploy_app.admin);
    let project = project(admin, &deploy_app.org, "Cli").await;
    let service =
        create_service(admin, &project, json!({ "name": "cli", "port": 8080, "health_check_path": "/" })).await;
    let service_id = service["id"].as_str().expect("id").to_owned();
    let token = crate::support::token(admin, &["read", "write"]).await;

    let dir = crate::support::TempDir::new();
    let write_local = |path: &str, body: &[u8]| {
        let path = dir.0.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write");
    };
    write_local(
        "Dockerfile",
        b"FROM dockyard-base/busybox:1\nCOPY site/ /www/\n\
CMD [\"sh\", \"-c\", \"echo cli-app-started; exec httpd -f -p 8080 -h /www\"]\n",
    );
    write_local("site/index.html", b"hello from the cli\n");
    // The Dockerfile is ignored too, but must still reach the build.
    write_local(".dockerignore", b"node_modules\nDockerfile\n");
    write_local("node_modules/big.bin", &vec![7u8; 300_000]);
    write_local(".git/big.pack", &vec![9u8; 300_000]);

    let folder = dir.0.to_string_lossy().into_owned();
    let (ok, stdout, stderr) = cli(app, &token, &["deploy", &folder, "--service", "cli", "--project", &project]).await;
    assert!(ok, "dockyard deploy failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.lines().last(), service["url"].as_str(), "the URL ends the output:\n{stdout}");
    assert!(stdout.contains("building the uploaded folder"), "the build log streams:\n{stdout}");
    assert!(stderr.contains("==> building") && stderr.contains("==> active"), "the steps show:\n{stderr}");
    let host = service["host"].as_str().expect("host");
    assert_eq!(via_proxy(app, host, "/").await, (200, "hello from the cli\n".to_owned()));

    let deployments = admin.get(&format!("/api/v1/services/{service_id}/deployments")).await;
    let newest = &deployments.json[0];
    assert_eq!((newest["trigger"].as_str(), newest["source"]["type"].as_str()), (Some("upload"), Some("upload")));
    assert!(newest["source"]["files"].as_u64().is_some_and(|files| files >= 3), "{newest}");
    let deployment_id = newest["id"].as_str().expect("deployment id").to_owned();
    // Nothing of the upload is left on the server once the build is over.
    let staging = app.data_dir().join("deploy-staging");
    assert_no_leftovers(&staging).await;

    // The instances' log, then the build log of the deployment.
    let (ok, stdout, stderr) = cli(app, &token, &["logs", "--service", &service_id, "--tail", "20"]).await;
    assert!(ok && stdout.contains("cli-app-started"), "dockyard logs:\n{stdout}\n{stderr}");
    let (ok, stdout, stderr) = cli(app, &token, &["logs", "--deployment", &deployment_id]).await;
    assert!(ok && stdout.contains("building the uploaded folder"), "build log:\n{stdout}\n{stderr}");

    // A follower opened now (no history: `--tail 0`) shows the next deployment's
    // new instance, which starts after the stream opened.
    use tokio::io::AsyncBufReadExt;
    let mut follower = tokio::process::Command::new(crate::support::binary())
        .args(["logs", "--service", &service_id, "--follow", "--tail", "0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKYARD_URL", &app.base)
        .env("DOCKYARD_TOKEN", &token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start dockyard logs --follow");
    let mut followed = tokio::io::BufReader::new(follower.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    // The follower is set up once a line the running instance writes now
    // reaches it (under load, the CLI, the API and the engine's list can take
    // longer than the next build).
    let running = deploy_app.containers();
    assert_eq!(running.len(), 1, "one instance runs: {running:?}");
    let mut ready = false;
    for _ in 0..60 {
        docker(&["exec", &running[0], "sh", "-c", "echo follower-ready > /proc/1/fd/1"]);
        if read_until(&mut followed, &mut seen, "follower-ready", Duration::from_millis(500)).await {
            ready = true;
            break;
        }
    }
    assert!(ready, "the follower never showed a line the instance wrote: {seen:?}");
    write_local(
        "Dockerfile",
        b"FROM dockyard-base/busybox:1\nCOPY site/ /www/\n\
CMD [\"sh\", \"-c\", \"echo cli-app-v2-started; exec httpd -f -p 8080 -h /www\"]\n",
    );
    let (ok, stdout, stderr) = cli(app, &token, &["deploy", &folder, "--service", &service_id, "--detach"]).await;
    assert!(ok, "second deploy: {stdout}\n{stderr}");
    let waiting = std::time::Instant::now();
    let found = read_until(&mut followed, &mut seen, "cli-app-v2-started", Duration::from_secs(90)).await;
    if !found {
        // What the next run needs to tell a broken stream from a missed container.
        let waited = waiting.elapsed();
        let deployment = admin.get(&format!("/api/v1/deployments/{}", stdout.trim())).await;
        let exited = follower.try_wait().ok().flatten();
        let _ = follower.start_kill();
        let mut follower_stderr = String::new();
        if let Some(mut stderr) = follower.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(Duration::from_secs(5), stderr.read_to_string(&mut follower_stderr)).await;
        }
        let output = app.output_text();
        let server_lines: Vec<&str> = output.lines().collect();
        let server_tail = &server_lines[server_lines.len().saturating_sub(40)..];
        panic!(
            "the follower never showed the new instance: {seen:?}\nwaited {waited:?}; the follower exited: {exited:?}; \
             its stderr: {follower_stderr}\nthe deployment: {}\nthe server's last lines:\n{}",
            deployment.body,
            server_tail.join("\n")
        );
    }
    assert!(!seen.iter().any(|line| line.contains("cli-app-started")), "--tail 0 replayed history: {seen:?}");
    let done = settle(admin, stdout.trim()).await;
    assert_eq!(done["status"], "active", "{done}");
    // A restart keeps the container (the same id): the follower shows it again
    // from its new start.
    let reply = admin.post(&format!("/api/v1/services/{service_id}/restart"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let again = read_until(&mut followed, &mut seen, "cli-app-v2-started", Duration::from_secs(60)).await;
    assert!(again, "the follower lost the restarted instance: {seen:?}");
    // The first instance's own start was never shown again (its start event,
    // replayed by the events' second of overlap, is not a restart).
    assert!(!seen.iter().any(|line| line.contains("cli-app-started")), "history replayed: {seen:?}");
    follower.kill().await.expect("stop the follower");

    // A failing build: non-zero exit with the reason; the running version keeps serving.
    write_local("Dockerfile", b"FROM dockyard-base/busybox:1\nRUN echo about-to-fail && false\n");
    let (ok, stdout, stderr) = cli(app, &token, &["deploy", &folder, "--service", &service_id]).await;
    assert!(!ok, "a failed build must fail the command:\n{stdout}\n{stderr}");
    assert!(stdout.contains("about-to-fail"), "{stdout}");
    assert!(stderr.contains("build_failed"), "{stderr}");
    assert_eq!(via_proxy(app, host, "/").await, (200, "hello from the cli\n".to_owned()));

    // A wrong token and an unknown service are clear errors.
    let (ok, _, stderr) = cli(app, "dy_wrong", &["deploy", &folder, "--service", &service_id]).await;
    assert!(!ok && stderr.contains("401"), "{stderr}");
    let (ok, _, stderr) = cli(app, &token, &["deploy", &folder, "--service", "nope", "--project", &project]).await;
    assert!(!ok && stderr.contains("has no service \"nope\""), "{stderr}");

    // Hostile and malformed uploads through the API.
    let upload = format!("/api/v1/services/{service_id}/deployments/upload");
    let send = |body: Vec<u8>, content_type: &'static str| {
        let request = admin.inner.post(admin.url(&upload)).header("content-type", content_type).body(body);
        admin.send(request)
    };
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (raw_tar_gz(b"../evil", b"x"), "application/gzip", 400, "archive_unsafe_path"),
        (raw_tar_gz(b"/etc/evil", b"x"), "application/gzip", 400, "archive_unsafe_path"),
        (b"not a tarball".to_vec(), "application/gzip", 400, "archive_corrupt"),
        (Vec::new(), "application/gzip", 400, "upload_empty"),
        (b"{}".to_vec(), "application/json", 415, "unsupported_media_type"),
        (vec![0u8; 250_000], "application/gzip", 413, "context_too_large"),
    ];
    for (body, content_type, status, code) in cases {
        let reply = send(body, content_type).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{code}: {}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{code}");
    }
    let after = admin.get(&format!("/api/v1/services/{service_id}/deployments")).await;
    // The followed redeploy and the failed build; no upload above made one.
    assert_eq!(after.json.as_array().map(Vec::len), deployments.json.as_array().map(|list| list.len() + 2));
    assert_no_leftovers(&staging).await;
}

/// Reads the follower's lines into `seen` until one contains `needle`; false when
/// the output ends or `within` runs out first.
async fn read_until(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<String>,
    needle: &str,
    within: Duration,
) -> bool {
    let found = tokio::time::timeout(within, async {
        while let Some(line) = lines.next_line().await.expect("read the follower") {
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return true;
            }
        }
        false
    })
    .await;
    found.unwrap_or(false)
}

/// The staging folder empties (the job removes a build's source off the async threads, just after it ends).
async fn assert_no_leftovers(staging: &std::path::Path) {
    let list = || -> Vec<PathBuf> {
        std::fs::read_dir(staging).map(|dir| dir.flatten().map(|entry| entry.path()).collect()).unwrap_or_default()
    };
    for _ in 0..100 {
        if list().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("uploads left files behind: {:?}", list());
}
