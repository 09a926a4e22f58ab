//! The test harness: starts the real `dockyard` binary on a free port with a
//! fresh data dir and a fresh database, and gives typed helpers around it.
//!
//! The backend comes from the environment:
//! - unset `DOCKYARD_TEST_DATABASE_URL`: SQLite in the temporary data dir;
//! - `DOCKYARD_TEST_DATABASE_URL=postgres://user:pass@host/postgres`: each app
//!   gets its own new database there, dropped afterwards.
//!
//! `DOCKYARD_TEST_BACKEND=postgres` without a URL fails every test, so CI
//! cannot silently fall back to SQLite.

#![allow(dead_code, reason = "shared helpers; not every test module uses each one")]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery staple";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dockyard")
}

/// Which database the suite runs against, decided once from the environment.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres { admin_url: String },
}

pub fn backend() -> Backend {
    match std::env::var("DOCKYARD_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Backend::Postgres { admin_url: url },
        _ => {
            if std::env::var("DOCKYARD_TEST_BACKEND").as_deref() == Ok("postgres") {
                panic!("DOCKYARD_TEST_BACKEND=postgres but DOCKYARD_TEST_DATABASE_URL is not set");
            }
            Backend::Sqlite
        }
    }
}

/// A fresh database for one app: its URL, and a guard that drops it.
pub struct TestDatabase {
    pub url: Option<String>,
    drop_statement: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create() -> Self {
        match backend() {
            Backend::Sqlite => Self { url: None, drop_statement: None },
            Backend::Postgres { admin_url } => {
                use sqlx::Connection;
                let name = format!("dy_test_{}", ulid::Ulid::new().to_string().to_lowercase());
                let mut connection =
                    sqlx::PgConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut connection)
                    .await
                    .expect("create a test database");
                let (prefix, _) = admin_url.rsplit_once('/').expect("the admin URL ends in /database");
                Self {
                    url: Some(format!("{prefix}/{name}")),
                    drop_statement: Some((admin_url.clone(), format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, statement)) = self.drop_statement.take() else { return };
        // Drop runs outside async; a short-lived runtime on its own thread does the work.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut connection) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut connection).await;
                }
            });
        })
        .join();
    }
}

/// A running `dockyard serve`.
pub struct TestApp {
    pub base: String,
    /// The reverse proxy for deployed services, e.g. `http://127.0.0.1:40123`.
    pub proxy_base: String,
    pub data_dir: PathBuf,
    pub setup_token: Option<String>,
    pub database: TestDatabase,
    pub env: Vec<(String, String)>,
    pub output: Arc<Mutex<Vec<String>>>,
    child: Option<Child>,
    /// The tasks copying the process's stdout and stderr into `output`.
    readers: Vec<tokio::task::JoinHandle<()>>,
    _temp: TempDir,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("dockyard-it-{}", ulid::Ulid::new().to_string().to_lowercase()));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the binary with extra `DOCKYARD_*` variables and waits until it is ready.
pub async fn spawn_app_with(extra_env: &[(&str, &str)]) -> TestApp {
    let temp = TempDir::new();
    let database = TestDatabase::create().await;
    let data_dir = temp.0.join("data");
    let mut env: Vec<(String, String)> = vec![
        ("DOCKYARD_DATA_DIR".into(), data_dir.display().to_string()),
        ("DOCKYARD_LOG_LEVEL".into(), "warn".into()),
        // A free port for the proxy, and no container engine unless a test asks for one.
        ("DOCKYARD_PROXY_LISTEN".into(), "127.0.0.1:0".into()),
        ("DOCKYARD_DEPLOY__ENGINE".into(), "off".into()),
    ];
    if let Some(url) = &database.url {
        env.push(("DOCKYARD_DATABASE_URL".into(), url.clone()));
    }
    env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let mut app = TestApp {
        base: String::new(),
        proxy_base: String::new(),
        data_dir,
        setup_token: None,
        database,
        env,
        output: Arc::new(Mutex::new(Vec::new())),
        child: None,
        readers: Vec::new(),
        _temp: temp,
    };
    app.start().await;
    app
}

impl TestApp {
    /// Another replica of this app: a second `dockyard serve` process on the
    /// same database and data dir (so the same secret key), on its own ports,
    /// with `extra_env` on top of this app's environment. Only meaningful on
    /// PostgreSQL, where replicas share a bus; the database stays this app's.
    pub async fn replica(&self, extra_env: &[(&str, &str)]) -> TestApp {
        let mut env = self.env.clone();
        env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut replica = TestApp {
            base: String::new(),
            proxy_base: String::new(),
            data_dir: self.data_dir.clone(),
            setup_token: None,
            database: TestDatabase { url: self.database.url.clone(), drop_statement: None },
            env,
            output: Arc::new(Mutex::new(Vec::new())),
            child: None,
            readers: Vec::new(),
            _temp: TempDir::new(),
        };
        replica.start().await;
        replica
    }

    /// Starts (or restarts) the server process on a free port.
    pub async fn start(&mut self) {
        let mut command = Command::new(binary());
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start dockyard");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let output = self.output.clone();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout_reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                output.lock().expect("output lock").push(line.clone());
                let _ = ready_tx.send(line);
            }
        });
        let errors = self.output.clone();
        let stderr_reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                errors.lock().expect("output lock").push(format!("stderr: {line}"));
            }
        });
        self.readers = vec![stdout_reader, stderr_reader];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let line = tokio::time::timeout_at(deadline, ready_rx.recv())
                .await
                .unwrap_or_else(|_| panic!("dockyard did not become ready; output:\n{}", self.output_text()))
                .unwrap_or_else(|| panic!("dockyard exited early; output:\n{}", self.output_text()));
            if let Some(url) = line.strip_prefix("Dockyard is listening on ") {
                self.base = url.trim().to_owned();
            } else if let Some(url) = line.strip_prefix("Deployed services are served on ") {
                self.proxy_base = url.trim().to_owned();
            } else if let Some(token) = line.strip_prefix("Setup token: ") {
                self.setup_token = Some(token.trim().to_owned());
            } else if line == "Dockyard is ready" {
                break;
            }
        }
        self.child = Some(child);
    }

    pub fn output_text(&self) -> String {
        self.output.lock().expect("output lock").join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().and_then(Child::id).expect("the server runs")
    }

    /// Sends SIGTERM and waits for the process to exit; answers its exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the server runs");
        let pid = child.id().expect("pid") as i32;
        let rc = send_sigterm(pid);
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits within 30 s")
            .expect("wait");
        self.read_remaining_output().await;
        status
    }

    /// Waits until the lines the exited process wrote are all in `output`:
    /// its pipes are read by tasks of their own, which can lag behind the exit.
    /// A process it left behind holding a pipe open ends the wait after 10 s.
    async fn read_remaining_output(&mut self) {
        let readers = std::mem::take(&mut self.readers);
        let _ = tokio::time::timeout(Duration::from_secs(10), futures_util::future::join_all(readers)).await;
    }

    /// Stops the server hard (SIGKILL).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// A `dockyard` CLI command against the same config as the server.
    pub fn cli(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(binary());
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    /// Runs the CLI with `stdin` as input; answers (success, stdout, stderr).
    pub fn run_cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        use std::io::Write;
        let mut child = self
            .cli(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the CLI");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        let output = child.wait_with_output().expect("CLI output");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// A client without cookies, sending this app's Origin like a browser would.
    pub fn anonymous(&self) -> Client {
        Client::new(self, None)
    }

    /// Completes first-run setup; answers the admin's signed-in client and the default org id.
    pub async fn setup_admin(&self) -> (Client, String) {
        let client = Client::new(self, None);
        let token = self.setup_token.clone().expect("a fresh instance prints a setup token");
        let response = client
            .post(
                "/api/v1/setup",
                &json!({ "token": token, "email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status, 201, "setup: {}", response.body);
        let org_id = response.json["org"]["id"].as_str().expect("org id").to_owned();
        (client, org_id)
    }

    /// Creates a user through the admin API and answers a signed-in client for them.
    pub async fn user(&self, admin: &Client, email: &str) -> (Client, String) {
        let response =
            admin.post("/api/v1/admin/users", &json!({ "email": email, "name": email, "password": PASSWORD })).await;
        assert_eq!(response.status, 201, "create user: {}", response.body);
        let id = response.json["id"].as_str().expect("user id").to_owned();
        (self.login(email, PASSWORD).await, id)
    }

    /// Signs in and answers the client holding the session cookie.
    pub async fn login(&self, email: &str, password: &str) -> Client {
        let client = Client::new(self, None);
        let response = client.post("/api/v1/auth/login", &json!({ "email": email, "password": password })).await;
        assert_eq!(response.status, 200, "login: {}", response.body);
        client
    }

    /// A client authenticating with a bearer token (no cookies, no Origin).
    pub fn with_token(&self, token: &str) -> Client {
        Client::new(self, Some(token))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

fn send_sigterm(pid: i32) -> i32 {
    // `kill` from the shell avoids unsafe code in the test crate.
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
    if status.success() { 0 } else { 1 }
}

/// A thin HTTP client bound to one app, with a cookie jar.
#[derive(Clone)]
pub struct Client {
    pub inner: reqwest::Client,
    base: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub json: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl Client {
    pub fn new(app: &TestApp, bearer: Option<&str>) -> Self {
        let mut headers = HeaderMap::new();
        match bearer {
            Some(token) => {
                headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
            }
            None => {
                headers.insert("origin", HeaderValue::from_str(&app.base).expect("header"));
            }
        }
        let inner = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self { inner, base: app.base.clone() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Reply { status, headers, body, json }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.inner.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.inner.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.inner.post(self.url(path)).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(self.inner.patch(self.url(path)).json(body)).await
    }

    /// Any method with an optional JSON body.
    pub async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.inner.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }
}

/// Creates an API token for the client's user and answers the secret.
pub async fn token(client: &Client, scopes: &[&str]) -> String {
    let response = client.post("/api/v1/tokens", &json!({ "name": "test", "scopes": scopes })).await;
    assert_eq!(response.status, 201, "create token: {}", response.body);
    response.json["token"].as_str().expect("token").to_owned()
}

/// Creates a project in `org` and answers its id.
pub async fn project(client: &Client, org: &str, name: &str) -> String {
    let response = client.post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": name })).await;
    assert_eq!(response.status, 201, "create project: {}", response.body);
    response.json["id"].as_str().expect("project id").to_owned()
}

/// Writes a workspace file through the API (raw body), optionally with `If-Match`.
pub async fn put_file(client: &Client, project: &str, file: &str, body: &[u8], if_match: Option<&str>) -> Reply {
    let mut request =
        client.inner.put(client.url(&format!("/api/v1/projects/{project}/files/{file}"))).body(body.to_vec());
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    client.send(request).await
}

/// Reads a workspace file through the API: status, headers and raw bytes.
pub async fn get_file(client: &Client, project: &str, file: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = client
        .inner
        .get(client.url(&format!("/api/v1/projects/{project}/files/{file}")))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.expect("body").to_vec())
}

// Imports, jobs, exports and git: helpers shared by `imports` and `git_api`.

/// Whether a job status is final.
pub fn job_is_terminal(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "canceled")
}

/// Polls `GET /api/v1/jobs/{job}` until the job reaches a terminal state (at most
/// two minutes) and answers its last document.
pub async fn wait_for_job(client: &Client, job: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let reply = client.get(&format!("/api/v1/jobs/{job}")).await;
        assert_eq!(reply.status, 200, "GET job {job}: {}", reply.body);
        let status = reply.json["status"].as_str().unwrap_or_default().to_owned();
        assert!(
            matches!(status.as_str(), "queued" | "running" | "succeeded" | "failed" | "canceled"),
            "unknown job status: {}",
            reply.body
        );
        if job_is_terminal(&status) {
            return reply.json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {job} is still {status} after two minutes: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Reads an SSE stream (optionally resuming after `last_event_id`) until an `end`
/// event, the end of the stream, or 60 seconds; answers the status and the events.
pub async fn read_events(client: &Client, path: &str, last_event_id: Option<&str>) -> (u16, Vec<SseEvent>) {
    let mut request = client.inner.get(client.url(path)).header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let mut response = request.send().await.expect("open the event stream");
    let status = response.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    let content_type = response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("text/event-stream"), "an SSE content type: {content_type}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut buffer = String::new();
    let mut events = Vec::new();
    let (mut id, mut event, mut data) = (None::<String>, String::new(), Vec::<String>::new());
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) | Ok(Err(_)) => break,
            Err(_) => panic!("the event stream did not end within 60 s; events so far: {events:?}"),
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(newline) = buffer.find('\n') {
            let line = buffer[..newline].trim_end_matches('\r').to_owned();
            buffer.drain(..=newline);
            if line.is_empty() {
                if !data.is_empty() || !event.is_empty() || id.is_some() {
                    let name = if event.is_empty() { "message".to_owned() } else { std::mem::take(&mut event) };
                    let finished = SseEvent { id: id.take(), event: name, data: data.join("\n") };
                    data.clear();
                    let is_end = finished.event == "end";
                    events.push(finished);
                    if is_end {
                        return (status, events);
                    }
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = Some(value.to_owned()),
                "event" => event = value.to_owned(),
                "data" => data.push(value.to_owned()),
                _ => {}
            }
        }
    }
    (status, events)
}

/// Deterministic bytes that no compressor shrinks much.
pub fn noise(length: usize, mut seed: u64) -> Vec<u8> {
    (0..length)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// Runs `git` in `dir` with a fixed identity and no user or system config; answers the output.
pub fn git_command(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Outside Dev")
        .env("GIT_AUTHOR_EMAIL", "outside@example.com")
        .env("GIT_COMMITTER_NAME", "Outside Dev")
        .env("GIT_COMMITTER_EMAIL", "outside@example.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("run git")
}

/// Runs `git` in `dir`, asserting that it succeeds; answers stdout without the trailing newline.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = git_command(dir, args);
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim_end_matches('\n').to_owned()
}

/// A project's workspace folder on disk.
pub fn workspace_dir(app: &TestApp, project: &str) -> PathBuf {
    app.data_dir().join("workspaces").join(project)
}

/// Adds an existing user to an org with a role (`viewer`, `developer`, `admin`, `owner`).
pub async fn add_member(admin: &Client, org: &str, email: &str, role: &str) {
    let reply = admin.post(&format!("/api/v1/orgs/{org}/members"), &json!({ "email": email, "role": role })).await;
    assert_eq!(reply.status, 201, "add member: {}", reply.body);
}

/// The org's audit events with this action, newest first.
pub async fn org_audit(client: &Client, org: &str, action: &str) -> Vec<Value> {
    let reply = client.get(&format!("/api/v1/orgs/{org}/audit?action={action}&limit=500")).await;
    assert_eq!(reply.status, 200, "org audit: {}", reply.body);
    reply.json["items"].as_array().expect("audit items").clone()
}

/// One entry of a directory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File { bytes: Vec<u8>, executable: bool },
    Symlink(String),
}

/// Every entry under `root` (not following links) by `/`-separated relative path;
/// a `.git` folder at the root is left out.
pub fn snapshot(root: &Path) -> std::collections::BTreeMap<String, Node> {
    use std::os::unix::fs::PermissionsExt;
    let mut tree = std::collections::BTreeMap::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("read {}: {error}", dir.display())) {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().into_string().expect("UTF-8 file name");
            if prefix.is_empty() && name == ".git" {
                continue;
            }
            let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let metadata = entry.path().symlink_metadata().expect("metadata");
            if metadata.file_type().is_symlink() {
                let target = std::fs::read_link(entry.path()).expect("read link");
                tree.insert(relative, Node::Symlink(target.to_string_lossy().into_owned()));
            } else if metadata.is_dir() {
                tree.insert(relative.clone(), Node::Dir);
                pending.push((entry.path(), relative));
            } else {
                let bytes = std::fs::read(entry.path()).expect("read file");
                let executable = metadata.permissions().mode() & 0o111 != 0;
                tree.insert(relative, Node::File { bytes, executable });
            }
        }
    }
    tree
}

/// Every regular file under `root`, recursively (links not followed).
pub fn all_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.path().symlink_metadata() else { continue };
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}

/// Writes a TOML config file with an `[outbound]` section (the way to trust the
/// test git server's CA; see `imports::the_extra_ca_file_is_accepted_from_the_environment`)
/// into `dir`, and answers its path for `DOCKYARD_CONFIG`.
pub fn outbound_config_file(dir: &Path, allow_private_networks: bool, extra_ca_file: &Path) -> PathBuf {
    let quoted = |path: &Path| format!("\"{}\"", path.display().to_string().replace('\\', "\\\\").replace('"', "\\\""));
    let path = dir.join("dockyard-outbound.toml");
    let text = format!(
        "[outbound]\nallow_private_networks = {allow_private_networks}\nextra_ca_file = {}\n",
        quoted(extra_ca_file)
    );
    std::fs::write(&path, text).expect("write the config file");
    path
}
