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
    pub data_dir: PathBuf,
    pub setup_token: Option<String>,
    pub database: TestDatabase,
    pub env: Vec<(String, String)>,
    pub output: Arc<Mutex<Vec<String>>>,
    child: Option<Child>,
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
    ];
    if let Some(url) = &database.url {
        env.push(("DOCKYARD_DATABASE_URL".into(), url.clone()));
    }
    env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let mut app = TestApp {
        base: String::new(),
        data_dir,
        setup_token: None,
        database,
        env,
        output: Arc::new(Mutex::new(Vec::new())),
        child: None,
        _temp: temp,
    };
    app.start().await;
    app
}

impl TestApp {
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
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                output.lock().expect("output lock").push(line.clone());
                let _ = ready_tx.send(line);
            }
        });
        let errors = self.output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                errors.lock().expect("output lock").push(format!("stderr: {line}"));
            }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let line = tokio::time::timeout_at(deadline, ready_rx.recv())
                .await
                .unwrap_or_else(|_| panic!("dockyard did not become ready; output:\n{}", self.output_text()))
                .unwrap_or_else(|| panic!("dockyard exited early; output:\n{}", self.output_text()));
            if let Some(url) = line.strip_prefix("Dockyard is listening on ") {
                self.base = url.trim().to_owned();
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
        tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("exits within 30 s").expect("wait")
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
