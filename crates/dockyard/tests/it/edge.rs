//! The HTTP edge of the real binary: bad input, request ids, security headers,
//! CORS, probes and metrics, the OpenAPI document, projects, readiness while the
//! database is down, graceful shutdown, and config errors.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::support::{
    ADMIN_EMAIL, Client, PASSWORD, Reply, TempDir, TestDatabase, binary, project, spawn_app, spawn_app_with,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Asserts an RFC 9457 problem document with this status and code.
#[track_caller]
fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"), "body: {}", reply.body);
    assert_eq!(reply.json["status"], status, "{}", reply.body);
    assert_eq!(reply.json["type"], format!("urn:dockyard:problem:{code}"), "{}", reply.body);
    assert!(reply.json["title"].as_str().is_some_and(|title| !title.is_empty()), "{}", reply.body);
    assert!(reply.json["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{}", reply.body);
}

/// A 422 naming the field at fault.
#[track_caller]
fn assert_invalid_field(reply: &Reply, code: &str, field: &str) {
    assert_problem(reply, 422, code);
    assert_eq!(reply.json["field"], field, "{}", reply.body);
}

/// A POST with a raw body and an explicit content type.
async fn post_raw(client: &Client, path: &str, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> Reply {
    let mut request = client.inner.post(client.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    client.send(request).await
}

/// A response read off a raw socket.
#[derive(Debug)]
struct RawReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawReply {
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Self { status, headers, body: body.to_owned() }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

fn authority(base: &str) -> &str {
    base.strip_prefix("http://").expect("an http:// base URL")
}

/// Writes `request` as-is (it must say `Connection: close`) and reads the whole answer.
/// A reset after the answer arrived (the server closing with unread input) is tolerated.
async fn raw_http(base: &str, request: &[u8]) -> RawReply {
    let mut stream = TcpStream::connect(authority(base)).await.expect("connect");
    stream.write_all(request).await.expect("write the request");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    let read_all = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_all).await.expect("the server answers within 30 s");
    RawReply::parse(&answer)
}

/// A `dockyard serve` the test starts itself, for the cases the shared harness
/// cannot express: a database that never comes up, a fixed port behind an
/// `https://` public URL, and controlling SIGTERM and the exit status directly.
struct ManualServer {
    child: Option<Child>,
    base: String,
    setup_token: Option<String>,
    output: Arc<Mutex<Vec<String>>>,
    _database: Option<TestDatabase>,
    _temp: TempDir,
}

impl ManualServer {
    /// Starts `dockyard serve --listen <listen>` and reads its standard output until a
    /// line starts with `until`. `with_database` gives it this suite's test database.
    async fn start(listen: &str, with_database: bool, extra_env: &[(&str, &str)], until: &str) -> Self {
        let temp = TempDir::new();
        let database = if with_database { Some(TestDatabase::create().await) } else { None };
        let mut command = Command::new(binary());
        command
            .args(["serve", "--listen", listen])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DOCKYARD_DATA_DIR", temp.0.join("data"))
            .env("DOCKYARD_LOG_LEVEL", "warn")
            // A free port for the proxy, and no container engine.
            .env("DOCKYARD_PROXY_LISTEN", "127.0.0.1:0")
            .env("DOCKYARD_DEPLOY__ENGINE", "off");
        if let Some(url) = database.as_ref().and_then(|database| database.url.as_deref()) {
            command.env("DOCKYARD_DATABASE_URL", url);
        }
        command.envs(extra_env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().expect("start dockyard");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdout_output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                stdout_output.lock().expect("output lock").push(line.clone());
                let _ = line_tx.send(line);
            }
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                stderr_output.lock().expect("output lock").push(format!("stderr: {line}"));
            }
        });
        let fixed_port = !listen.ends_with(":0");
        let mut server = Self {
            child: Some(child),
            base: if fixed_port { format!("http://{listen}") } else { String::new() },
            setup_token: None,
            output,
            _database: database,
            _temp: temp,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let line = tokio::time::timeout_at(deadline, line_rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no line starting with {until:?}; output:\n{}", server.output_text()))
                .unwrap_or_else(|| panic!("dockyard exited early; output:\n{}", server.output_text()));
            if let Some(url) = line.strip_prefix("Dockyard is listening on ")
                && !fixed_port
            {
                server.base = url.trim().to_owned();
            }
            if let Some(token) = line.strip_prefix("Setup token: ") {
                server.setup_token = Some(token.trim().to_owned());
            }
            if line.starts_with(until) {
                break;
            }
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn output_text(&self) -> String {
        self.output.lock().expect("output lock").join("\n")
    }

    /// Sends SIGTERM without waiting for the exit.
    fn sigterm(&self) {
        let pid = self.child.as_ref().and_then(Child::id).expect("the server runs");
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    async fn wait_for_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server runs");
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap_or_else(|_| panic!("dockyard did not exit within 30 s; output:\n{}", self.output_text()))
            .expect("wait for dockyard")
    }

    /// Completes first-run setup with the printed token.
    async fn setup(&self, http: &reqwest::Client) -> reqwest::Response {
        let token = self.setup_token.clone().expect("a fresh instance prints a setup token");
        let response = http
            .post(self.url("/api/v1/setup"))
            .json(&json!({ "token": token, "email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD }))
            .send()
            .await
            .expect("setup request");
        assert_eq!(response.status(), 201);
        response
    }
}

/// A port that was free a moment ago, for a server whose printed URL is not its address.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Sends a request and reads the whole answer into the harness's `Reply`.
async fn fetch(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    Reply { status, headers, body, json }
}

fn plain_http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// Runs the binary with only `env` (plus PATH), bounded in time; answers (exit status, stdout, stderr).
async fn run_dockyard(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKYARD_PROXY_LISTEN", "127.0.0.1:0")
        .env("DOCKYARD_DEPLOY__ENGINE", "off")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("dockyard {args:?} did not finish within 60 s"))
        .expect("run dockyard");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------
// 1. Bad input on real routes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_400_malformed_json() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let reply =
        post_raw(&admin, &format!("/api/v1/orgs/{org}/projects"), Some("application/json"), "{\"name\": ").await;
    assert_problem(&reply, 400, "malformed_json");
    let reply = post_raw(&app.anonymous(), "/api/v1/auth/login", Some("application/json"), "not json at all").await;
    assert_problem(&reply, 400, "malformed_json");
}

#[tokio::test]
async fn an_unknown_field_in_a_body_is_422_invalid_body() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let reply = admin.post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": "App", "colour": "blue" })).await;
    assert_problem(&reply, 422, "invalid_body");
    assert!(reply.json["detail"].as_str().unwrap_or_default().contains("colour"), "{}", reply.body);
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_422_invalid_body() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let reply = admin.post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": 42 })).await;
    assert_problem(&reply, 422, "invalid_body");
    let reply = admin.post(&format!("/api/v1/orgs/{org}/projects"), &json!(["a", "list"])).await;
    assert_problem(&reply, 422, "invalid_body");
}

#[tokio::test]
async fn a_missing_required_field_is_422_invalid_body() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let reply = admin.post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "description": "no name" })).await;
    assert_problem(&reply, 422, "invalid_body");
    assert!(reply.json["detail"].as_str().unwrap_or_default().contains("name"), "{}", reply.body);
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_415() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let path = format!("/api/v1/orgs/{org}/projects");
    let reply = post_raw(&admin, &path, Some("text/plain"), "{\"name\":\"App\"}").await;
    assert_problem(&reply, 415, "unsupported_media_type");
    let reply = post_raw(&admin, &path, None, "{\"name\":\"App\"}").await;
    assert_problem(&reply, 415, "unsupported_media_type");
    let reply = post_raw(&admin, &path, Some("application/x-www-form-urlencoded"), "name=App").await;
    assert_problem(&reply, 415, "unsupported_media_type");
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_413_payload_too_large() {
    let app = spawn_app_with(&[("DOCKYARD_HTTP__BODY_LIMIT_BYTES", "1024")]).await;
    let (admin, org) = app.setup_admin().await;
    let big = "x".repeat(4096);

    let reply =
        admin.post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": "App", "description": big })).await;
    assert_problem(&reply, 413, "payload_too_large");
    let reply = app.anonymous().post("/api/v1/auth/login", &json!({ "email": ADMIN_EMAIL, "password": big })).await;
    assert_problem(&reply, 413, "payload_too_large");

    // Without a Content-Length the limit applies while the body streams in.
    let body = json!({ "email": ADMIN_EMAIL, "password": big }).to_string();
    let mut request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        authority(&app.base)
    );
    for chunk in body.as_bytes().chunks(512) {
        request.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), String::from_utf8_lossy(chunk)));
    }
    request.push_str("0\r\n\r\n");
    let raw = raw_http(&app.base, request.as_bytes()).await;
    assert_eq!(raw.status, 413, "{raw:?}");
    assert_eq!(raw.header("content-type"), Some("application/problem+json"), "{raw:?}");

    // A body under the limit still works.
    let small = admin.post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": "Small" })).await;
    assert_eq!(small.status, 201, "{}", small.body);
}

#[tokio::test]
async fn an_unknown_route_is_404_not_found() {
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    for path in ["/api/v1/nope", "/api/v2/projects", "/definitely/not/here", "/api/v1/orgs/x/projects/y/z"] {
        assert_problem(&app.anonymous().get(path).await, 404, "not_found");
        assert_problem(&admin.get(path).await, 404, "not_found");
    }
    assert_problem(&admin.post("/api/v1/nope", &json!({})).await, 404, "not_found");
}

#[tokio::test]
async fn a_wrong_method_is_405_method_not_allowed_with_an_allow_header() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let reply = admin.request("PUT", &format!("/api/v1/orgs/{org}/projects"), Some(&json!({ "name": "x" }))).await;
    assert_problem(&reply, 405, "method_not_allowed");
    let allow = reply.header("allow").expect("an Allow header").to_ascii_uppercase();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    let reply = app.anonymous().request("DELETE", "/healthz", None).await;
    assert_problem(&reply, 405, "method_not_allowed");
    assert!(
        reply.header("allow").is_some_and(|allow| allow.to_ascii_uppercase().contains("GET")),
        "{:?}",
        reply.headers
    );
}

#[tokio::test]
async fn malformed_ids_in_paths_are_404_not_found() {
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    for path in [
        "/api/v1/projects/not-an-id",
        "/api/v1/projects/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/projects/%00",
        "/api/v1/projects/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/api/v1/projects/DROP%20TABLE%20projects",
    ] {
        assert_problem(&admin.get(path).await, 404, "not_found");
        assert_problem(&admin.patch(path, &json!({ "name": "x" })).await, 404, "not_found");
        assert_problem(&admin.delete(path).await, 404, "not_found");
    }
    assert_problem(&admin.get("/api/v1/orgs/no-such-org/projects").await, 404, "not_found");

    // Sent literally, without the client normalising the dot segments.
    let request = format!(
        "GET /api/v1/projects/../../etc/passwd HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        authority(&app.base)
    );
    let raw = raw_http(&app.base, request.as_bytes()).await;
    assert_eq!(raw.status, 404, "{raw:?}");
    assert_eq!(raw.header("content-type"), Some("application/problem+json"), "{raw:?}");
    assert_eq!(raw.json()["code"], "not_found");
}

#[tokio::test]
async fn bad_query_parameters_are_400() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let path = format!("/api/v1/orgs/{org}/projects");
    for query in ["limit=abc", "limit=-1", "limit=1.5", "unknown=1"] {
        assert_problem(&admin.get(&format!("{path}?{query}")).await, 400, "invalid_query");
    }
    for query in ["limit=0", "limit=201"] {
        let reply = admin.get(&format!("{path}?{query}")).await;
        assert_problem(&reply, 400, "invalid_query");
        assert_eq!(reply.json["field"], "limit", "{}", reply.body);
    }
    assert_problem(&admin.get(&format!("{path}?cursor=garbage")).await, 400, "invalid_cursor");
    assert_eq!(admin.get(&format!("{path}?limit=200")).await.status, 200);
}

#[tokio::test]
async fn invalid_slugs_names_and_emails_are_422_naming_the_field() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let projects = format!("/api/v1/orgs/{org}/projects");
    for slug in ["Not A Slug", "-leading", "trailing-", "under_score", "ünïcode", &"a".repeat(64), ""] {
        let reply = admin.post(&projects, &json!({ "name": "App", "slug": slug })).await;
        assert_invalid_field(&reply, "invalid_slug", "slug");
    }
    for name in ["", "   ", "tab\there", &"n".repeat(101)] {
        let reply = admin.post(&projects, &json!({ "name": name })).await;
        assert_invalid_field(&reply, "invalid_name", "name");
    }
    // A name with nothing to derive a slug from.
    assert_invalid_field(&admin.post(&projects, &json!({ "name": "!!!" })).await, "invalid_slug", "slug");
    assert_invalid_field(
        &admin.post(&projects, &json!({ "name": "App", "description": "d".repeat(2001) })).await,
        "too_long",
        "description",
    );
    assert_invalid_field(
        &admin.post("/api/v1/orgs", &json!({ "name": "Org", "slug": "Bad Slug" })).await,
        "invalid_slug",
        "slug",
    );
    for email in ["not-an-email", "@example.com", "a@", "a b@example.com", "a@b@example.com"] {
        let reply =
            admin.post("/api/v1/admin/users", &json!({ "email": email, "name": "X", "password": PASSWORD })).await;
        assert_invalid_field(&reply, "invalid_email", "email");
    }
    let reply = admin
        .post("/api/v1/admin/users", &json!({ "email": "weak@example.com", "name": "X", "password": "short" }))
        .await;
    assert_invalid_field(&reply, "weak_password", "password");
    // Nothing invalid was created.
    assert_eq!(admin.get(&projects).await.json["items"], json!([]));
}

#[tokio::test]
async fn a_duplicate_project_slug_in_one_org_is_409_slug_taken() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let projects = format!("/api/v1/orgs/{org}/projects");
    project(&admin, &org, "Web Shop").await;
    assert_problem(&admin.post(&projects, &json!({ "name": "Web  Shop!" })).await, 409, "slug_taken");
    assert_problem(&admin.post(&projects, &json!({ "name": "Other", "slug": "web-shop" })).await, 409, "slug_taken");

    let other = project(&admin, &org, "Other").await;
    let reply = admin.patch(&format!("/api/v1/projects/{other}"), &json!({ "slug": "web-shop" })).await;
    assert_problem(&reply, 409, "slug_taken");

    // The same slug in another org is fine.
    let second_org = admin.post("/api/v1/orgs", &json!({ "name": "Second" })).await;
    assert_eq!(second_org.status, 201, "{}", second_org.body);
    let second_org = second_org.json["id"].as_str().expect("org id").to_owned();
    let reply = admin.post(&format!("/api/v1/orgs/{second_org}/projects"), &json!({ "name": "Web Shop" })).await;
    assert_eq!((reply.status, reply.json["slug"].as_str()), (201, Some("web-shop")), "{}", reply.body);
}

// ---------------------------------------------------------------------------
// 2. Request ids
// ---------------------------------------------------------------------------

fn is_ulid(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    let mut seen = Vec::new();
    for reply in [
        anonymous.get("/healthz").await,
        anonymous.get("/api/v1/nope").await,
        anonymous.get("/api/v1/me").await,
        post_raw(&anonymous, "/api/v1/auth/login", Some("application/json"), "{").await,
    ] {
        let id = reply.header("x-request-id").unwrap_or_else(|| panic!("no x-request-id: {reply:?}")).to_owned();
        assert!(is_ulid(&id), "{id}");
        seen.push(id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "request ids are unique: {seen:?}");
}

#[tokio::test]
async fn a_well_formed_incoming_request_id_is_echoed() {
    let app = spawn_app().await;
    let client = app.anonymous();
    for id in ["abc-123", "trace_id.42", &"a".repeat(128)] {
        let reply = client.send(client.inner.get(client.url("/healthz")).header("x-request-id", id)).await;
        assert_eq!(reply.header("x-request-id"), Some(id));
    }
}

#[tokio::test]
async fn a_hostile_incoming_request_id_is_replaced_by_a_generated_one() {
    let app = spawn_app().await;
    let client = app.anonymous();
    for id in ["has spaces in it", &"a".repeat(300), "semi;colon", "quote\"d", "new\tline"] {
        let reply = client.send(client.inner.get(client.url("/healthz")).header("x-request-id", id)).await;
        let echoed = reply.header("x-request-id").expect("a request id");
        assert_ne!(echoed, id);
        assert!(is_ulid(echoed), "{echoed}");
    }
}

// ---------------------------------------------------------------------------
// 3. Security headers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn security_headers_are_on_every_kind_of_response_and_no_hsts_over_plain_http() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    for path in ["/healthz", "/api/v1/nope", "/api/v1/me", "/api/v1/openapi.json", "/api/docs/"] {
        let reply = anonymous.get(path).await;
        let csp = reply.header("content-security-policy").unwrap_or_else(|| panic!("no CSP on {path}"));
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(reply.header("referrer-policy"), Some("same-origin"), "{path}");
        assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{path}");
        assert!(reply.header("strict-transport-security").is_none(), "HSTS over plain http on {path}");
    }
}

/// Starts a server whose public URL is `https://dockyard.example.com` (set by
/// `extra_env`) and checks HSTS and the `Secure` session cookie.
async fn assert_https_public_url_is_honoured(extra_env: &[(&str, &str)]) {
    let listen = format!("127.0.0.1:{}", free_port());
    let server = ManualServer::start(&listen, true, extra_env, "Dockyard is ready").await;
    assert!(
        !server.output_text().contains("ignoring unknown environment variable"),
        "a config variable was ignored:\n{}",
        server.output_text()
    );
    let http = plain_http();
    let health = http.get(server.url("/healthz")).send().await.expect("healthz");
    let hsts =
        health.headers().get("strict-transport-security").and_then(|value| value.to_str().ok()).unwrap_or_default();
    assert!(hsts.contains("max-age="), "HSTS: {hsts:?}; output:\n{}", server.output_text());

    let setup = server.setup(&http).await;
    let cookie =
        setup.headers().get("set-cookie").and_then(|value| value.to_str().ok()).expect("a session cookie").to_owned();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");

    // A browser on the public origin may sign in; the cookie is Secure there too.
    let login = http
        .post(server.url("/api/v1/auth/login"))
        .header("origin", "https://dockyard.example.com")
        .json(&json!({ "email": ADMIN_EMAIL, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let cookie = login.headers().get("set-cookie").and_then(|value| value.to_str().ok()).expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(login.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn behind_an_https_public_url_from_the_config_file_hsts_is_sent_and_the_session_cookie_is_secure() {
    let temp = TempDir::new();
    let file = temp.0.join("dockyard.toml");
    std::fs::write(&file, "public_url = \"https://dockyard.example.com\"\n").expect("write the config");
    assert_https_public_url_is_honoured(&[("DOCKYARD_CONFIG", &file.display().to_string())]).await;
}

#[tokio::test]
async fn behind_an_https_public_url_from_the_environment_hsts_is_sent_and_the_session_cookie_is_secure() {
    assert_https_public_url_is_honoured(&[("DOCKYARD_PUBLIC_URL", "https://dockyard.example.com")]).await;
}

#[tokio::test]
async fn dockyard_public_url_in_the_environment_is_a_known_config_key() {
    let temp = TempDir::new();
    let data_dir = temp.0.join("data").display().to_string();
    let (status, stdout, stderr) = run_dockyard(
        &["serve", "--print-config"],
        &[("DOCKYARD_DATA_DIR", &data_dir), ("DOCKYARD_PUBLIC_URL", "https://dockyard.example.com")],
    )
    .await;
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("DOCKYARD_PUBLIC_URL"), "warned about a real config key: {stderr}");
    assert!(stdout.contains("public_url = \"https://dockyard.example.com\""), "{stdout}");
}

// ---------------------------------------------------------------------------
// 4. CORS
// ---------------------------------------------------------------------------

async fn preflight(app: &crate::support::TestApp, origin: &str) -> reqwest::Response {
    plain_http()
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/orgs"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_is_closed_by_default() {
    let app = spawn_app().await;
    let response = preflight(&app, "https://other.example").await;
    assert!(response.status().as_u16() < 500, "{}", response.status());
    assert!(!response.headers().contains_key("access-control-allow-origin"), "{:?}", response.headers());
    assert!(!response.headers().contains_key("access-control-allow-credentials"), "{:?}", response.headers());

    let simple =
        plain_http().get(app.url("/healthz")).header("origin", "https://other.example").send().await.expect("get");
    assert!(!simple.headers().contains_key("access-control-allow-origin"), "{:?}", simple.headers());
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let app = spawn_app_with(&[("DOCKYARD_HTTP__CORS_ALLOWED_ORIGINS", "https://app.example")]).await;
    let allowed = preflight(&app, "https://app.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let header = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
    };
    assert_eq!(header(&allowed, "access-control-allow-origin").as_deref(), Some("https://app.example"));
    assert_eq!(header(&allowed, "access-control-allow-credentials").as_deref(), Some("true"));
    assert!(
        header(&allowed, "access-control-allow-methods").is_some_and(|methods| methods.contains("POST")),
        "{:?}",
        allowed.headers()
    );

    let refused = preflight(&app, "https://other.example").await;
    assert!(header(&refused, "access-control-allow-origin").is_none(), "{:?}", refused.headers());
    let lookalike = preflight(&app, "https://app.example.evil.test").await;
    assert!(header(&lookalike, "access-control-allow-origin").is_none(), "{:?}", lookalike.headers());

    let simple =
        plain_http().get(app.url("/healthz")).header("origin", "https://app.example").send().await.expect("get");
    assert_eq!(header(&simple, "access-control-allow-origin").as_deref(), Some("https://app.example"));
}

// ---------------------------------------------------------------------------
// 5. Probes, metrics, the API document
// ---------------------------------------------------------------------------

#[tokio::test]
async fn healthz_answers_200_json() {
    let app = spawn_app().await;
    let reply = app.anonymous().get("/healthz").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.header("content-type").is_some_and(|value| value.starts_with("application/json")),
        "{:?}",
        reply.headers
    );
    assert_eq!(reply.json["status"], "ok");
    assert!(reply.json["version"].is_string(), "{}", reply.body);
}

#[tokio::test]
async fn readyz_answers_200_with_the_schema_version_once_migrated() {
    let app = spawn_app().await;
    let reply = app.anonymous().get("/readyz").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json["status"], "ready");
    assert!(reply.json["schema_version"].as_i64().is_some_and(|version| version > 0), "{}", reply.body);
    let expected = if app.database.url.is_some() { "postgres" } else { "sqlite" };
    assert_eq!(reply.json["database"], expected);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_route_templates_histograms_pool_gauges_and_build_info() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    assert_eq!(admin.get(&format!("/api/v1/orgs/{org}/projects")).await.status, 200);
    let reply = app.anonymous().get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").is_some_and(|value| value.starts_with("text/plain")), "{:?}", reply.headers);
    let text = &reply.body;
    assert!(
        text.lines().any(|line| {
            line.starts_with("http_requests_total{")
                && line.contains("route=\"/api/v1/orgs/{org}/projects\"")
                && line.contains("method=\"GET\"")
                && line.contains("status=\"200\"")
        }),
        "no request counter for the route template:\n{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket{"), "{text}");
    assert!(text.lines().any(|line| line.starts_with("db_pool_connections")), "{text}");
    assert!(text.lines().any(|line| line.starts_with("dockyard_build_info{") && line.contains("version=")), "{text}");
    assert!(!text.contains(&org), "a label carries a concrete id:\n{text}");
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_and_lists_the_project_routes() {
    let app = spawn_app().await;
    let reply = app.anonymous().get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.header("content-type").is_some_and(|value| value.starts_with("application/json")),
        "{:?}",
        reply.headers
    );
    let doc = &reply.json;
    assert!(doc["openapi"].as_str().is_some_and(|version| version.starts_with("3.")), "{}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string());
    let projects = &doc["paths"]["/api/v1/orgs/{org}/projects"];
    assert!(projects["get"].is_object() && projects["post"].is_object(), "{projects}");
    let project = &doc["paths"]["/api/v1/projects/{project}"];
    assert!(project["get"].is_object() && project["patch"].is_object() && project["delete"].is_object(), "{project}");
    assert!(doc["paths"]["/healthz"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object(), "the problem schema is documented");
}

#[tokio::test]
async fn the_api_reference_page_is_served_as_html() {
    let app = spawn_app().await;
    let reply = app.anonymous().get("/api/docs/").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("content-type").is_some_and(|value| value.starts_with("text/html")), "{:?}", reply.headers);
    assert!(reply.body.to_ascii_lowercase().contains("<html"), "{}", reply.body);
    assert!(reply.body.to_ascii_lowercase().contains("swagger"), "{}", reply.body);
    // The page must work under our CSP (script-src 'self'): no inline scripts, and
    // every script it loads is served from here.
    let scripts: Vec<&str> = reply.body.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{}", reply.body);
    for script in scripts {
        let src = script
            .split_once("src=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(src, _)| src)
            .unwrap_or_else(|| panic!("an inline script, blocked by the CSP: <script{script}"));
        let src = src.trim_start_matches("./");
        assert!(!src.contains("://"), "a script from elsewhere: {src}");
        let loaded = app.anonymous().get(&format!("/api/docs/{src}")).await;
        assert_eq!(loaded.status, 200, "/api/docs/{src}");
    }
}

// ---------------------------------------------------------------------------
// 6. Projects
// ---------------------------------------------------------------------------

#[tokio::test]
async fn projects_can_be_created_read_updated_and_deleted() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let me = admin.get("/api/v1/me").await.json["id"].as_str().expect("my id").to_owned();

    let created = admin
        .post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": "  My First App! ", "description": "hello" }))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json["slug"], "my-first-app");
    assert_eq!(created.json["name"], "My First App!");
    assert_eq!(created.json["description"], "hello");
    assert_eq!(created.json["org_id"], org.as_str());
    assert_eq!(created.json["created_by"], me.as_str());
    let id = created.json["id"].as_str().expect("id").to_owned();

    let fetched = admin.get(&format!("/api/v1/projects/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json, created.json);

    let renamed = admin.patch(&format!("/api/v1/projects/{id}"), &json!({ "name": "Renamed" })).await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!((renamed.json["name"].as_str(), renamed.json["slug"].as_str()), (Some("Renamed"), Some("my-first-app")));
    assert_eq!(renamed.json["description"], "hello", "fields not sent stay as they were");

    let reslugged =
        admin.patch(&format!("/api/v1/projects/{id}"), &json!({ "slug": "renamed-app", "description": "" })).await;
    assert_eq!(reslugged.status, 200, "{}", reslugged.body);
    assert_eq!(
        (reslugged.json["slug"].as_str(), reslugged.json["description"].as_str()),
        (Some("renamed-app"), Some(""))
    );
    assert_eq!(admin.get(&format!("/api/v1/projects/{id}")).await.json["slug"], "renamed-app");

    let listed = admin.get(&format!("/api/v1/orgs/{org}/projects")).await;
    assert_eq!(listed.json["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed.json["next_cursor"], Value::Null);

    let deleted = admin.delete(&format!("/api/v1/projects/{id}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_problem(&admin.get(&format!("/api/v1/projects/{id}")).await, 404, "not_found");
    assert_problem(&admin.delete(&format!("/api/v1/projects/{id}")).await, 404, "not_found");
    assert_eq!(admin.get(&format!("/api/v1/orgs/{org}/projects")).await.json["items"], json!([]));
}

#[tokio::test]
async fn listing_projects_pages_through_every_project_exactly_once() {
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let org = admin.post("/api/v1/orgs", &json!({ "name": "Paging" })).await;
    assert_eq!(org.status, 201, "{}", org.body);
    let org = org.json["slug"].as_str().expect("org slug").to_owned();
    let mut expected = Vec::new();
    for n in 1..=5 {
        expected.push(project(&admin, &org, &format!("Project {n}")).await);
    }

    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/orgs/{org}/projects?limit=2&cursor={cursor}"),
            None => format!("/api/v1/orgs/{org}/projects?limit=2"),
        };
        let page = admin.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.json["items"].as_array().expect("items");
        page_sizes.push(items.len());
        seen.extend(items.iter().map(|item| item["id"].as_str().expect("id").to_owned()));
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert_eq!(page.json["next_cursor"], Value::Null);
                break;
            }
        }
        assert!(page_sizes.len() <= 5, "the pages never end: {page_sizes:?}");
    }
    assert_eq!(page_sizes, vec![2, 2, 1]);
    assert_eq!(seen, expected, "every project exactly once, oldest first");

    // An exact multiple of the page size ends without an empty page.
    let all = admin.get(&format!("/api/v1/orgs/{org}/projects?limit=5")).await;
    assert_eq!(all.json["items"].as_array().map(Vec::len), Some(5));
    assert_eq!(all.json["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_project_filter_is_a_case_insensitive_substring_with_literal_wildcards() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let create = |name: &'static str, description: &'static str| {
        let admin = admin.clone();
        let org = org.clone();
        async move {
            let reply = admin
                .post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": name, "description": description }))
                .await;
            assert_eq!(reply.status, 201, "{}", reply.body);
        }
    };
    create("Alpha Service", "").await;
    create("alpha-tools", "").await;
    create("Beta", "the ALPHA release notes").await;
    create("100% Pure", "").await;
    create("snake_case app", "").await;
    create("snakeXcase", "").await;
    create("Gamma", "").await;

    let names = |q: &'static str| {
        let admin = admin.clone();
        let org = org.clone();
        async move {
            let request = admin.inner.get(admin.url(&format!("/api/v1/orgs/{org}/projects"))).query(&[("q", q)]);
            let reply = admin.send(request).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            let mut names: Vec<String> = reply.json["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|item| item["name"].as_str().unwrap_or("").to_owned())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names("aLpHa").await, vec!["Alpha Service", "Beta", "alpha-tools"]);
    assert_eq!(names("TOOLS").await, vec!["alpha-tools"]);
    assert_eq!(names("%").await, vec!["100% Pure"]);
    assert_eq!(names("0%").await, vec!["100% Pure"]);
    assert_eq!(names("_").await, vec!["snake_case app"]);
    assert_eq!(names("e_c").await, vec!["snake_case app"]);
    assert_eq!(names("\\").await, Vec::<String>::new());
    assert_eq!(names("nothing matches").await, Vec::<String>::new());
    assert_eq!(names("").await.len(), 7, "an empty q lists everything");
}

// ---------------------------------------------------------------------------
// 7. Readiness while the database is down
// ---------------------------------------------------------------------------

#[tokio::test]
async fn while_the_database_is_down_healthz_is_200_readyz_is_503_and_the_api_answers_503() {
    let mut server = ManualServer::start(
        "127.0.0.1:0",
        false,
        &[("DOCKYARD_DATABASE_URL", "postgres://u:p@127.0.0.1:1/x"), ("DOCKYARD_DATABASE__ACQUIRE_TIMEOUT_SECS", "1")],
        "Dockyard is listening on ",
    )
    .await;
    let http = plain_http();

    let health = fetch(http.get(server.url("/healthz"))).await;
    assert_eq!((health.status, health.json["status"].as_str()), (200, Some("ok")), "{}", health.body);
    assert_problem(&fetch(http.get(server.url("/readyz"))).await, 503, "not_ready");

    let setup = fetch(http.get(server.url("/api/v1/setup"))).await;
    assert_problem(&setup, 503, "database_unavailable");
    let login =
        fetch(http.post(server.url("/api/v1/auth/login")).json(&json!({ "email": ADMIN_EMAIL, "password": PASSWORD })))
            .await;
    assert_problem(&login, 503, "database_unavailable");
    // Authenticating needs the database too: 503, not 401 (which would sign clients out) and not 500.
    let with_token = fetch(http.get(server.url("/api/v1/me")).bearer_auth("dyt_0123456789abcdef")).await;
    assert_problem(&with_token, 503, "database_unavailable");
    let with_cookie = fetch(http.get(server.url("/api/v1/me")).header("cookie", "dockyard_session=abc")).await;
    assert_problem(&with_cookie, 503, "database_unavailable");
    assert!(!server.output_text().contains("Dockyard is ready"));

    server.sigterm();
    let status = server.wait_for_exit().await;
    assert!(status.success(), "{status}; output:\n{}", server.output_text());
}

// ---------------------------------------------------------------------------
// 8. Graceful shutdown
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_refuses_new_connections_and_exits_0() {
    let mut server = ManualServer::start("127.0.0.1:0", true, &[], "Dockyard is ready").await;
    server.setup(&plain_http()).await;
    let address = authority(&server.base).to_owned();

    let body = json!({ "email": ADMIN_EMAIL, "password": PASSWORD }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write the head");
    // The server sends 100 Continue once the handler starts reading the body: from
    // then on the request is in flight.
    let mut reader = BufReader::new(stream);
    let mut interim = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line))
            .await
            .expect("an interim response within 30 s")
            .expect("read");
        assert!(n > 0, "the server closed the connection: {interim}; output:\n{}", server.output_text());
        interim.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}; output:\n{}", server.output_text());
    reader.get_mut().write_all(first.as_bytes()).await.expect("write the first half");
    reader.get_mut().flush().await.expect("flush");

    server.sigterm();
    // The listener closes: new connections are refused (bounded poll, no fixed sleep).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match TcpStream::connect(&address).await {
            // A connection caught in the closing listener's backlog is reset rather than refused.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break;
            }
            Err(error) => panic!("unexpected connect error: {error}; output:\n{}", server.output_text()),
            Ok(_) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still accepting 15 s after SIGTERM:\n{}",
                    server.output_text()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    reader.get_mut().write_all(rest.as_bytes()).await.expect("write the rest");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer))
        .await
        .expect("the in-flight request completes")
        .expect("read the answer");
    let reply = RawReply::parse(&answer);
    assert_eq!(reply.status, 200, "{reply:?}\n{}", server.output_text());
    assert_eq!(reply.json()["email"], ADMIN_EMAIL);
    assert!(reply.header("set-cookie").is_some_and(|cookie| cookie.starts_with("dockyard_session=")), "{reply:?}");

    let status = server.wait_for_exit().await;
    assert!(status.success(), "{status}; output:\n{}", server.output_text());
}

#[tokio::test]
async fn sigterm_right_after_the_ready_line_still_shuts_down_gracefully() {
    let mut app = spawn_app().await;
    // An answered request guarantees the handler is installed for this first stop.
    assert_eq!(app.anonymous().get("/readyz").await.status, 200);
    assert!(app.terminate().await.success());
    // On an already migrated database the bootstrap is quick, so the ready line
    // tends to come before the signal handler exists. The window is short: try a few times.
    for attempt in 1..=20 {
        app.start().await;
        let status = app.terminate().await;
        assert!(status.success(), "restart {attempt}: {status}; output:\n{}", app.output_text());
    }
}

// ---------------------------------------------------------------------------
// 9. Config
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_invalid_listen_address_stops_serve_with_a_message_naming_the_key() {
    let temp = TempDir::new();
    let data_dir = temp.0.join("data").display().to_string();
    let (status, _, stderr) =
        run_dockyard(&["serve"], &[("DOCKYARD_DATA_DIR", &data_dir), ("DOCKYARD_LISTEN", "nonsense")]).await;
    assert!(!status.success());
    assert!(stderr.contains("listen") && stderr.contains("DOCKYARD_LISTEN"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_zero_request_timeout_stops_serve_with_a_message_naming_the_key() {
    let temp = TempDir::new();
    let data_dir = temp.0.join("data").display().to_string();
    let (status, _, stderr) =
        run_dockyard(&["serve"], &[("DOCKYARD_DATA_DIR", &data_dir), ("DOCKYARD_HTTP__REQUEST_TIMEOUT_SECS", "0")])
            .await;
    assert!(!status.success());
    assert!(stderr.contains("http.request_timeout_secs"), "{stderr}");
}

#[tokio::test]
async fn an_unknown_key_in_the_config_file_stops_serve_with_a_message_naming_the_key() {
    let temp = TempDir::new();
    let data_dir = temp.0.join("data").display().to_string();
    let nested = temp.0.join("nested.toml");
    std::fs::write(&nested, "[http]\nrequest_timeout_secs = 5\nno_such_option = 1\n").expect("write the config");
    let (status, _, stderr) =
        run_dockyard(&["serve", "--config", &nested.display().to_string()], &[("DOCKYARD_DATA_DIR", &data_dir)]).await;
    assert!(!status.success());
    assert!(stderr.contains("no_such_option") && stderr.contains("http"), "{stderr}");

    let top = temp.0.join("top.toml");
    std::fs::write(&top, "lisen = \"127.0.0.1:1\"\n").expect("write the config");
    let (status, _, stderr) =
        run_dockyard(&["serve", "--config", &top.display().to_string()], &[("DOCKYARD_DATA_DIR", &data_dir)]).await;
    assert!(!status.success());
    assert!(stderr.contains("lisen"), "{stderr}");

    let broken = temp.0.join("broken.toml");
    std::fs::write(&broken, "this is = = not toml").expect("write the config");
    let (status, _, stderr) =
        run_dockyard(&["serve", "--config", &broken.display().to_string()], &[("DOCKYARD_DATA_DIR", &data_dir)]).await;
    assert!(!status.success());
    assert!(stderr.contains("not valid TOML"), "{stderr}");
}

#[tokio::test]
async fn print_config_shows_the_config_without_the_database_password() {
    let temp = TempDir::new();
    let data_dir = temp.0.join("data").display().to_string();
    let (status, stdout, stderr) = run_dockyard(
        &["serve", "--print-config"],
        &[("DOCKYARD_DATA_DIR", &data_dir), ("DOCKYARD_DATABASE_URL", "postgres://u:secretpw@h/db")],
    )
    .await;
    assert!(status.success(), "{stderr}");
    assert!(!stdout.contains("secretpw") && !stderr.contains("secretpw"), "the password leaked:\n{stdout}\n{stderr}");
    assert!(stdout.contains("postgres://u:****@h/db"), "{stdout}");
    assert!(stdout.lines().any(|line| line == "[http]"), "{stdout}");
    assert!(stdout.lines().any(|line| line.starts_with("listen = ")), "{stdout}");
}

#[tokio::test]
async fn an_unknown_dockyard_variable_prints_a_warning() {
    let temp = TempDir::new();
    let data_dir = temp.0.join("data").display().to_string();
    let (status, _, stderr) =
        run_dockyard(&["serve", "--print-config"], &[("DOCKYARD_DATA_DIR", &data_dir), ("DOCKYARD_FOO", "bar")]).await;
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("warning") && stderr.contains("DOCKYARD_FOO"), "{stderr}");
}
