//! The built-in assistant against an OpenAI-compatible endpoint that runs in
//! the test: a plain TCP server speaking `/v1/chat/completions` byte for byte
//! (streamed SSE chunks split at awkward places, the usage chunk, `[DONE]`, and
//! the non-streamed JSON), recording every request, and told to fail or sleep.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{Client, TestApp, add_member, org_audit, project, spawn_app_with};

const INSTANCE_KEY: &str = "sk-instance-7f3a9c1e5b2d4f60";
const ORG_KEY: &str = "sk-org-c0ffee4242deadbeef";
const DELTAS: [&str; 3] = ["Hel", "lo wö", "rld ✓"];
const USAGE: (u64, u64) = (42, 7);

// ---------------------------------------------------------------------------
// The endpoint
// ---------------------------------------------------------------------------

/// How the endpoint answers.
#[derive(Debug, Clone)]
enum Mode {
    Normal,
    /// An error status, with a body that echoes the request's Authorization header.
    Fail(u16),
    /// Wait this long before answering.
    Sleep(Duration),
    /// Stream two deltas, then drop the connection mid-chunk.
    BreakMidStream,
}

/// One request the endpoint got.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Value,
}

struct MockState {
    mode: Mode,
    completion: String,
    requests: Vec<Recorded>,
}

struct MockLlm {
    /// The API base to configure, e.g. `http://127.0.0.1:40123/v1`.
    base_url: String,
    state: Arc<Mutex<MockState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockLlm {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the mock endpoint");
        let address: SocketAddr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(MockState {
            mode: Mode::Normal,
            completion: "println!(\"hi\");".into(),
            requests: Vec::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, state).await;
                });
            }
        });
        Self { base_url: format!("http://{address}/v1"), state, task }
    }

    fn set_mode(&self, mode: Mode) {
        self.state.lock().expect("mock state").mode = mode;
    }

    fn set_completion(&self, completion: &str) {
        self.state.lock().expect("mock state").completion = completion.to_owned();
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("mock state").requests.clone()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Reads one HTTP/1.1 request, records it and answers it as the mode says.
async fn serve(mut socket: TcpStream, state: Arc<Mutex<MockState>>) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut buffer = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 8192];
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut content_length = 0;
    let mut authorization = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < content_length {
        let mut chunk = [0u8; 8192];
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let streaming = body["stream"] == true;
    let (mode, completion) = {
        let mut state = state.lock().expect("mock state");
        state.requests.push(Recorded { method, path, authorization: authorization.clone(), body });
        (state.mode.clone(), state.completion.clone())
    };
    match mode {
        Mode::Fail(status) => {
            // Like OpenAI's 401, which quotes the key it was sent.
            let text = json!({ "error": { "message": format!("Incorrect API key provided: {}", authorization.unwrap_or_default()), "type": "invalid_request_error" } }).to_string();
            let response = format!(
                "HTTP/1.1 {status} Failed\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            socket.write_all(response.as_bytes()).await?;
            return socket.shutdown().await;
        }
        Mode::Sleep(pause) => tokio::time::sleep(pause).await,
        Mode::Normal | Mode::BreakMidStream => {}
    }
    if !streaming {
        let text = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": completion }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35 },
        })
        .to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        socket.write_all(response.as_bytes()).await?;
        return socket.shutdown().await;
    }
    socket
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .await?;
    let chunk = |content: &str| {
        json!({ "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{ "index": 0, "delta": { "content": content }, "finish_reason": null }] })
        .to_string()
    };
    let mut stream = String::from(": keep-alive\n\n");
    stream.push_str(&format!(
        "data: {}\n\n",
        json!({ "id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": { "role": "assistant", "content": "" } }] })
    ));
    stream.push_str(&format!("data: {}\n\n", chunk(DELTAS[0])));
    stream.push_str(&format!("data: {}\r\n\r\n", chunk(DELTAS[1])));
    if matches!(mode, Mode::BreakMidStream) {
        stream.push_str("data: {\"choices\":[{\"delta\":{\"content\":\"cut");
        write_pieces(&mut socket, stream.as_bytes()).await?;
        // No terminating chunk: the body ends in the middle.
        return socket.shutdown().await;
    }
    stream.push_str(&format!("data: {}\r\r", chunk(DELTAS[2])));
    stream.push_str(": ping\n\n");
    stream.push_str(&format!(
        "data: {}\n\n",
        json!({ "id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
            "usage": { "prompt_tokens": USAGE.0, "completion_tokens": USAGE.1, "total_tokens": USAGE.0 + USAGE.1 } })
    ));
    stream.push_str("data: [DONE]\n\n");
    write_pieces(&mut socket, stream.as_bytes()).await?;
    socket.write_all(b"0\r\n\r\n").await?;
    socket.shutdown().await
}

/// Writes `bytes` as HTTP chunks of 1, 2, 3, 5, 8, 13 and 21 bytes in turn
/// (cutting `data:`, JSON, multi-byte characters and `\r\n` apart), each
/// flushed on its own with a pause, so they arrive as separate reads.
async fn write_pieces(socket: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    let sizes = [1, 2, 3, 5, 8, 13, 21];
    let mut offset = 0;
    let mut turn = 0;
    while offset < bytes.len() {
        let size = sizes[turn % sizes.len()].min(bytes.len() - offset);
        let piece = &bytes[offset..offset + size];
        socket.write_all(format!("{size:x}\r\n").as_bytes()).await?;
        socket.write_all(piece).await?;
        socket.write_all(b"\r\n").await?;
        socket.flush().await?;
        if turn % 3 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        offset += size;
        turn += 1;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// An app whose instance endpoint is `mock`, with `extra` settings.
async fn app_with(mock: Option<&MockLlm>, extra: &[(&str, &str)]) -> TestApp {
    let mut env: Vec<(&str, &str)> = vec![("DOCKYARD_RATE_LIMIT__ENABLED", "false")];
    if let Some(mock) = mock {
        env.push(("DOCKYARD_ASSISTANT__BASE_URL", mock.base_url.as_str()));
        env.push(("DOCKYARD_ASSISTANT__MODEL", "instance-model"));
        env.push(("DOCKYARD_ASSISTANT__API_KEY", INSTANCE_KEY));
    }
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

/// Set up, and a project in the default org: (admin client, org id, project id).
async fn world(app: &TestApp) -> (Client, String, String) {
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Assisted").await;
    (admin, org, project)
}

/// A chat request's answer: the status, the events (name, JSON data) and the raw body.
struct ChatReply {
    status: u16,
    events: Vec<(String, Value)>,
    body: String,
    retry_after: Option<String>,
}

impl ChatReply {
    fn names(&self) -> Vec<&str> {
        self.events.iter().map(|(name, _)| name.as_str()).collect()
    }

    fn text(&self) -> String {
        self.events
            .iter()
            .filter(|(name, _)| name == "delta")
            .map(|(_, data)| data["text"].as_str().unwrap_or_default())
            .collect()
    }

    fn code(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

async fn chat(client: &Client, body: &Value) -> ChatReply {
    let mut response = client
        .inner
        .post(client.url("/api/v1/assistant/chat"))
        .header("accept", "text/event-stream")
        .json(body)
        .send()
        .await
        .expect("send the chat");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if status != 200 {
        let body = response.text().await.expect("body");
        return ChatReply { status, events: Vec::new(), body, retry_after };
    }
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let mut raw = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => raw.extend_from_slice(&chunk),
            Ok(Ok(None)) | Ok(Err(_)) => break,
            Err(_) => panic!("the chat stream did not end within 30 s: {}", String::from_utf8_lossy(&raw)),
        }
    }
    let body = String::from_utf8(raw).expect("UTF-8 events");
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let mut name = String::from("message");
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim().to_owned();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
            }
        }
        if !data.is_empty() {
            events.push((name, serde_json::from_str(&data.join("\n")).expect("JSON event data")));
        }
    }
    ChatReply { status, events, body, retry_after }
}

fn hello(project: &str) -> Value {
    json!({ "project_id": project, "messages": [{ "role": "user", "content": "Say hello" }] })
}

fn completion_request(project: &str, prefix: &str) -> Value {
    json!({ "project_id": project, "path": "src/main.rs", "language": "rust", "prefix": prefix, "suffix": "\n}\n" })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_chat_streams_deltas_usage_and_done_with_the_open_file_and_selection_sent_upstream() {
    let mock = MockLlm::start().await;
    let app = app_with(Some(&mock), &[]).await;
    let (admin, org, project) = world(&app).await;
    let content = "fn main() {\n    let answer = 42;\n    println!(\"{answer}\");\n}\n";
    let reply = chat(
        &admin,
        &json!({
            "project_id": project,
            "messages": [
                { "role": "user", "content": "What does this do?" },
                { "role": "assistant", "content": "Which part?" },
                { "role": "user", "content": "The selected line." },
            ],
            "context": { "path": "src/main.rs", "language": "rust", "content": content, "selection": "let answer = 42;" },
        }),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.names(), ["delta", "delta", "delta", "usage", "done"], "{}", reply.body);
    assert_eq!(reply.text(), DELTAS.concat());
    assert_eq!(reply.events[3].1, json!({ "prompt_tokens": USAGE.0, "completion_tokens": USAGE.1 }));
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(sent.authorization.as_deref(), Some(format!("Bearer {INSTANCE_KEY}").as_str()));
    assert_eq!(sent.body["model"], "instance-model");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"], json!({ "include_usage": true }));
    let messages = sent.body["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages.iter().map(|message| message["role"].as_str().unwrap_or("")).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    let system = messages[0]["content"].as_str().expect("system text");
    assert!(system.contains("`src/main.rs`") && system.contains("rust"), "{system}");
    assert!(system.contains(&format!("```rust\n{content}```")), "the whole small file: {system}");
    assert!(system.contains("selected this text:\n```rust\nlet answer = 42;\n```"), "{system}");
    assert_eq!(messages[3]["content"], "The selected line.");

    // The tokens count against the caller's budget; the settings say where they come from.
    let settings = admin.get(&format!("/api/v1/orgs/{org}/assistant")).await;
    assert_eq!(settings.status, 200, "{}", settings.body);
    assert_eq!(settings.json["source"], "instance");
    assert_eq!(settings.json["configured"], true);
    assert_eq!(settings.json["model"], "instance-model");
    assert_eq!(settings.json["has_api_key"], true);
    assert_eq!(settings.json["base_url"], Value::Null, "the instance's URL is not shown");
    assert_eq!(settings.json["tokens_used_today"], USAGE.0 + USAGE.1);
}

#[tokio::test]
async fn a_large_open_file_is_cut_around_the_selection() {
    let mock = MockLlm::start().await;
    let app = app_with(Some(&mock), &[]).await;
    let (admin, _org, project) = world(&app).await;
    let content: String = (1..=20_000).map(|n| format!("let line_{n} = {n};\n")).collect();
    let reply = chat(
        &admin,
        &json!({ "project_id": project, "messages": [{ "role": "user", "content": "explain" }],
            "context": { "path": "big.rs", "content": content, "selection": "let line_15000 = 15000;" } }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let system = mock.requests()[0].body["messages"][0]["content"].as_str().expect("system").to_owned();
    assert!(system.contains("let line_15000 = 15000;\n"), "the selection's surroundings are sent");
    assert!(!system.contains("let line_1 = 1;\n"), "the start of the file is left out");
    assert!(system.len() < 40 * 1024, "bounded: {} bytes", system.len());
    assert!(system.contains("of 20000"), "the model is told it sees part of the file");
}

#[tokio::test]
async fn a_stream_that_breaks_off_ends_with_an_error_event() {
    let mock = MockLlm::start().await;
    mock.set_mode(Mode::BreakMidStream);
    let app = app_with(Some(&mock), &[]).await;
    let (admin, _org, project) = world(&app).await;
    let reply = chat(&admin, &hello(&project)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.names(), ["delta", "delta", "error"], "{}", reply.body);
    assert_eq!(reply.events[2].1["code"], "assistant_upstream_error");
    assert!(reply.events[2].1["message"].as_str().is_some_and(|message| !message.is_empty()));
}

#[tokio::test]
async fn identical_completions_are_answered_from_the_cache() {
    let mock = MockLlm::start().await;
    mock.set_completion("```rust\n    println!(\"hi\");\n```");
    let app = app_with(Some(&mock), &[]).await;
    let (admin, _org, project) = world(&app).await;

    let first = admin.post("/api/v1/assistant/complete", &completion_request(&project, "fn main() {\n")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json, json!({ "completion": "    println!(\"hi\");", "cached": false }));
    let second = admin.post("/api/v1/assistant/complete", &completion_request(&project, "fn main() {\n")).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json, json!({ "completion": "    println!(\"hi\");", "cached": true }));
    assert_eq!(mock.requests().len(), 1, "the second answer came from the cache");

    let sent = &mock.requests()[0].body;
    assert_eq!(sent["stream"], false);
    assert_eq!(sent["max_tokens"], 128);
    assert_eq!(sent["model"], "instance-model");
    let prompt = sent["messages"][1]["content"].as_str().expect("user message");
    assert!(prompt.contains("File: src/main.rs") && prompt.contains("fn main() {\n") && prompt.contains("\n}\n"));

    // Any difference is another request.
    let other = admin.post("/api/v1/assistant/complete", &completion_request(&project, "fn main() {\n  ")).await;
    assert_eq!((other.status, other.json["cached"].clone()), (200, json!(false)), "{}", other.body);
    let mut more_tokens = completion_request(&project, "fn main() {\n");
    more_tokens["max_tokens"] = json!(64);
    let other = admin.post("/api/v1/assistant/complete", &more_tokens).await;
    assert_eq!((other.status, other.json["cached"].clone()), (200, json!(false)), "{}", other.body);
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn an_exhausted_daily_budget_answers_429_without_calling_upstream() {
    let mock = MockLlm::start().await;
    let app = app_with(Some(&mock), &[("DOCKYARD_ASSISTANT__DAILY_TOKEN_BUDGET", "40")]).await;
    let (admin, org, project) = world(&app).await;
    // The first request starts under the budget and may finish over it (49 tokens).
    let first = chat(&admin, &hello(&project)).await;
    assert_eq!(first.status, 200, "{}", first.body);

    let over = chat(&admin, &hello(&project)).await;
    assert_eq!((over.status, over.code().as_str()), (429, "token_budget_exceeded"), "{}", over.body);
    let wait: u64 = over.retry_after.as_deref().and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=86_400).contains(&wait), "until midnight UTC: {wait}");
    let completion = admin.post("/api/v1/assistant/complete", &completion_request(&project, "x")).await;
    assert_eq!((completion.status, completion.code()), (429, "token_budget_exceeded"), "{}", completion.body);
    assert_eq!(mock.requests().len(), 1, "nothing was sent upstream over budget");

    // The budget is per user: another member still has theirs.
    let (other, _) = app.user(&admin, "second@example.com").await;
    add_member(&admin, &org, "second@example.com", "viewer").await;
    let theirs = chat(&other, &hello(&project)).await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    let settings = admin.get(&format!("/api/v1/orgs/{org}/assistant")).await;
    assert_eq!(settings.json["daily_token_budget"], 40);
    assert_eq!(settings.json["tokens_used_today"], 49);
}

#[tokio::test]
async fn a_slow_endpoint_answers_504() {
    let mock = MockLlm::start().await;
    mock.set_mode(Mode::Sleep(Duration::from_secs(5)));
    let app = app_with(Some(&mock), &[("DOCKYARD_ASSISTANT__TIMEOUT_SECONDS", "1")]).await;
    let (admin, _org, project) = world(&app).await;

    let started = Instant::now();
    let completion = admin.post("/api/v1/assistant/complete", &completion_request(&project, "fn")).await;
    assert_eq!((completion.status, completion.code()), (504, "assistant_timeout"), "{}", completion.body);
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    let reply = chat(&admin, &hello(&project)).await;
    assert_eq!((reply.status, reply.code().as_str()), (504, "assistant_timeout"), "{}", reply.body);
}

#[tokio::test]
async fn the_breaker_opens_after_n_failures_fails_fast_and_closes_after_the_cooldown() {
    let mock = MockLlm::start().await;
    mock.set_mode(Mode::Fail(503));
    let app = app_with(
        Some(&mock),
        &[("DOCKYARD_ASSISTANT__BREAKER_FAILURES", "3"), ("DOCKYARD_ASSISTANT__BREAKER_COOLDOWN_SECONDS", "2")],
    )
    .await;
    let (admin, _org, project) = world(&app).await;
    for n in 0..3 {
        let failed = admin.post("/api/v1/assistant/complete", &completion_request(&project, &format!("a{n}"))).await;
        assert_eq!((failed.status, failed.code()), (502, "assistant_upstream_error"), "{}", failed.body);
    }
    assert_eq!(mock.requests().len(), 3);

    let started = Instant::now();
    let fast = admin.post("/api/v1/assistant/complete", &completion_request(&project, "b")).await;
    assert_eq!((fast.status, fast.code()), (503, "assistant_unavailable"), "{}", fast.body);
    assert!(fast.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|s| (1..=2).contains(&s))));
    let chat_reply = chat(&admin, &hello(&project)).await;
    assert_eq!((chat_reply.status, chat_reply.code().as_str()), (503, "assistant_unavailable"));
    assert!(started.elapsed() < Duration::from_secs(1), "failing fast: {:?}", started.elapsed());
    assert_eq!(mock.requests().len(), 3, "nothing reached the endpoint while open");

    // After the cool-down one probe goes through; it succeeds, so the breaker closes.
    mock.set_mode(Mode::Normal);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let probe = admin.post("/api/v1/assistant/complete", &completion_request(&project, "c")).await;
    assert_eq!(probe.status, 200, "{}", probe.body);
    let after = chat(&admin, &hello(&project)).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(mock.requests().len(), 5);

    // A failed probe opens it again at once.
    mock.set_mode(Mode::Fail(500));
    for n in 0..3 {
        let failed = admin.post("/api/v1/assistant/complete", &completion_request(&project, &format!("d{n}"))).await;
        assert_eq!(failed.status, 502, "{}", failed.body);
    }
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let probe = admin.post("/api/v1/assistant/complete", &completion_request(&project, "e")).await;
    assert_eq!(probe.status, 502, "the probe fails: {}", probe.body);
    let fast = admin.post("/api/v1/assistant/complete", &completion_request(&project, "f")).await;
    assert_eq!((fast.status, fast.code()), (503, "assistant_unavailable"), "{}", fast.body);
    assert_eq!(mock.requests().len(), 9);
}

#[tokio::test]
async fn an_org_endpoint_is_used_instead_of_the_instance_one_and_never_gets_its_key() {
    let instance = MockLlm::start().await;
    let org_endpoint = MockLlm::start().await;
    // The org's endpoint is on loopback here, so the admin allows private networks and http.
    let app = app_with(
        Some(&instance),
        &[("DOCKYARD_OUTBOUND__ALLOW_PRIVATE_NETWORKS", "true"), ("DOCKYARD_OUTBOUND__ALLOW_HTTP", "true")],
    )
    .await;
    let (admin, org, project) = world(&app).await;
    let (viewer, _) = app.user(&admin, "viewer@example.com").await;
    add_member(&admin, &org, "viewer@example.com", "viewer").await;

    let put = admin
        .request(
            "PUT",
            &format!("/api/v1/orgs/{org}/assistant"),
            Some(
                &json!({ "base_url": format!("{}/", org_endpoint.base_url), "model": "org-model", "api_key": ORG_KEY }),
            ),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json["source"], "org");
    assert_eq!(put.json["base_url"], org_endpoint.base_url.as_str(), "normalised without the trailing slash");
    assert_eq!((put.json["model"].clone(), put.json["has_api_key"].clone()), (json!("org-model"), json!(true)));
    assert!(!put.body.contains(ORG_KEY));
    let denied = viewer
        .request(
            "PUT",
            &format!("/api/v1/orgs/{org}/assistant"),
            Some(&json!({ "base_url": "https://x.example/v1", "model": "m" })),
        )
        .await;
    assert_eq!((denied.status, denied.code()), (403, "forbidden"), "{}", denied.body);
    let seen = viewer.get(&format!("/api/v1/orgs/{org}/assistant")).await;
    assert_eq!((seen.status, seen.json["source"].clone()), (200, json!("org")), "{}", seen.body);

    let reply = chat(&viewer, &hello(&project)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.text(), DELTAS.concat());
    let completion = viewer.post("/api/v1/assistant/complete", &completion_request(&project, "fn")).await;
    assert_eq!(completion.status, 200, "{}", completion.body);
    assert!(instance.requests().is_empty(), "the instance endpoint was not asked");
    let sent = org_endpoint.requests();
    assert_eq!(sent.len(), 2);
    for request in &sent {
        assert_eq!(request.body["model"], "org-model");
        assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {ORG_KEY}").as_str()));
    }

    // Changing the URL and model without a key keeps the key; "" removes it.
    let kept = admin
        .request(
            "PUT",
            &format!("/api/v1/orgs/{org}/assistant"),
            Some(&json!({ "base_url": org_endpoint.base_url, "model": "org-model-2" })),
        )
        .await;
    assert_eq!((kept.status, kept.json["has_api_key"].clone()), (200, json!(true)), "{}", kept.body);
    let removed = admin
        .request(
            "PUT",
            &format!("/api/v1/orgs/{org}/assistant"),
            Some(&json!({ "base_url": org_endpoint.base_url, "model": "org-model-2", "api_key": "" })),
        )
        .await;
    assert_eq!((removed.status, removed.json["has_api_key"].clone()), (200, json!(false)), "{}", removed.body);
    let reply = chat(&viewer, &hello(&project)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let last = org_endpoint.requests().pop().expect("a request");
    assert_eq!(last.authorization, None, "an org endpoint never gets the instance's key");
    assert_eq!(last.body["model"], "org-model-2");

    // The changes are audited, without the key.
    let audit = org_audit(&admin, &org, "assistant.settings_updated").await;
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert!(!serde_json::to_string(&audit).expect("json").contains(ORG_KEY));

    // Deleting goes back to the instance's endpoint.
    let deleted = admin.delete(&format!("/api/v1/orgs/{org}/assistant")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(org_audit(&admin, &org, "assistant.settings_deleted").await.len(), 1);
    let settings = admin.get(&format!("/api/v1/orgs/{org}/assistant")).await;
    assert_eq!(settings.json["source"], "instance");
    let reply = chat(&viewer, &hello(&project)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(instance.requests().len(), 1);
    assert_eq!(instance.requests()[0].authorization.as_deref(), Some(format!("Bearer {INSTANCE_KEY}").as_str()));
}

#[tokio::test]
async fn an_org_url_to_a_private_address_is_refused_with_422() {
    let mock = MockLlm::start().await;
    let app = app_with(None, &[]).await;
    let (admin, org, _project) = world(&app).await;
    let path = format!("/api/v1/orgs/{org}/assistant");
    for url in [
        mock.base_url.replace("http://", "https://"),
        "https://127.0.0.1/v1".to_owned(),
        "https://10.1.2.3/v1".to_owned(),
        "https://169.254.169.254/v1".to_owned(),
        "https://[::1]:8080/v1".to_owned(),
        "https://localhost:11434/v1".to_owned(),
        // Plain http needs the admin's consent too.
        "http://api.example.com/v1".to_owned(),
    ] {
        let refused = admin.request("PUT", &path, Some(&json!({ "base_url": url, "model": "m" }))).await;
        assert_eq!((refused.status, refused.code()), (422, "assistant_url_forbidden"), "{url}: {}", refused.body);
        assert_eq!(refused.json["field"], "base_url");
    }
    for url in ["not a url", "ftp://example.com/v1", "https://user:pw@example.com/v1", "https://example.com/v1?x=1"] {
        let refused = admin.request("PUT", &path, Some(&json!({ "base_url": url, "model": "m" }))).await;
        assert_eq!((refused.status, refused.code()), (422, "assistant_invalid_url"), "{url}: {}", refused.body);
    }
    let no_model =
        admin.request("PUT", &path, Some(&json!({ "base_url": "https://api.example.com/v1", "model": " " }))).await;
    assert_eq!((no_model.status, no_model.code()), (422, "assistant_invalid_model"), "{}", no_model.body);
    let settings = admin.get(&path).await;
    assert_eq!((settings.json["source"].clone(), settings.json["configured"].clone()), (json!("none"), json!(false)));
    // A public name is accepted (it is checked again when resolved, before each connection).
    let accepted =
        admin.request("PUT", &path, Some(&json!({ "base_url": "https://api.example.com/v1", "model": "m" }))).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn the_api_keys_never_appear_in_answers_or_in_the_servers_output() {
    let mock = MockLlm::start().await;
    // The endpoint refuses the key and quotes it back, as OpenAI's 401 does.
    mock.set_mode(Mode::Fail(401));
    let mut app = app_with(
        Some(&mock),
        &[
            ("DOCKYARD_LOG_LEVEL", "debug"),
            ("DOCKYARD_OUTBOUND__ALLOW_PRIVATE_NETWORKS", "true"),
            ("DOCKYARD_OUTBOUND__ALLOW_HTTP", "true"),
        ],
    )
    .await;
    let (admin, org, project) = world(&app).await;
    let mut bodies = Vec::new();

    let reply = chat(&admin, &hello(&project)).await;
    assert_eq!((reply.status, reply.code().as_str()), (502, "assistant_upstream_error"), "{}", reply.body);
    bodies.push(reply.body);
    let completion = admin.post("/api/v1/assistant/complete", &completion_request(&project, "fn")).await;
    assert_eq!((completion.status, completion.code()), (502, "assistant_upstream_error"), "{}", completion.body);
    bodies.push(completion.body);
    bodies.push(admin.get(&format!("/api/v1/orgs/{org}/assistant")).await.body);
    let put = admin
        .request(
            "PUT",
            &format!("/api/v1/orgs/{org}/assistant"),
            Some(&json!({ "base_url": mock.base_url, "model": "m", "api_key": ORG_KEY })),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    bodies.push(put.body);
    bodies.push(admin.get(&format!("/api/v1/orgs/{org}/assistant")).await.body);
    // The org's endpoint (the same refusing server) quotes the org's key.
    let reply = chat(&admin, &hello(&project)).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    bodies.push(reply.body);
    bodies.push(admin.get(&format!("/api/v1/orgs/{org}/audit?limit=500")).await.body);
    bodies.push(admin.get("/api/v1/admin/audit?limit=500").await.body);
    for body in &bodies {
        assert!(!body.contains(INSTANCE_KEY) && !body.contains(ORG_KEY), "a key leaked: {body}");
    }
    // The endpoint really was sent the keys.
    let sent: Vec<Option<String>> = mock.requests().into_iter().map(|request| request.authorization).collect();
    assert!(
        sent.contains(&Some(format!("Bearer {INSTANCE_KEY}"))) && sent.contains(&Some(format!("Bearer {ORG_KEY}")))
    );

    let (ok, printed, errors) = app.run_cli(&["serve", "--print-config"], "");
    assert!(ok, "{errors}");
    assert!(printed.contains("[assistant]") && !printed.contains(INSTANCE_KEY), "{printed}");
    // Stopped first, so every line it logged has been written out and read.
    assert!(app.terminate().await.success());
    let output = app.output_text();
    assert!(output.contains("the assistant endpoint answered with an error"), "the failure is logged: {output}");
    assert!(!output.contains(INSTANCE_KEY) && !output.contains(ORG_KEY), "a key is in the server's output:\n{output}");
}

#[tokio::test]
async fn without_an_endpoint_the_assistant_answers_503_not_configured() {
    let app = app_with(None, &[]).await;
    let (admin, org, project) = world(&app).await;
    let reply = chat(&admin, &hello(&project)).await;
    assert_eq!((reply.status, reply.code().as_str()), (503, "assistant_not_configured"), "{}", reply.body);
    let completion = admin.post("/api/v1/assistant/complete", &completion_request(&project, "fn")).await;
    assert_eq!((completion.status, completion.code()), (503, "assistant_not_configured"), "{}", completion.body);
    let settings = admin.get(&format!("/api/v1/orgs/{org}/assistant")).await;
    assert_eq!(settings.status, 200, "{}", settings.body);
    assert_eq!(settings.json["source"], "none");
    assert_eq!(settings.json["configured"], false);
    assert_eq!(settings.json["has_api_key"], false);
}

#[tokio::test]
async fn bad_input_is_refused_with_422_and_stable_codes_before_anything_is_sent() {
    let mock = MockLlm::start().await;
    let app = app_with(Some(&mock), &[]).await;
    let (admin, _org, project) = world(&app).await;
    let message = |role: &str, content: &str| json!({ "role": role, "content": content });
    let huge = "x".repeat(300 * 1024);
    for (body, code) in [
        (json!({ "project_id": project, "messages": [] }), "assistant_messages_empty"),
        (json!({ "project_id": project, "messages": [message("tool", "hi")] }), "assistant_invalid_role"),
        (json!({ "project_id": project, "messages": [message("user", &huge)] }), "assistant_input_too_large"),
        (
            json!({ "project_id": project, "messages": [message("user", "hi")], "context": { "path": "a\u{0}b" } }),
            "assistant_invalid_path",
        ),
        (json!({ "project_id": "not-an-id", "messages": [message("user", "hi")] }), "invalid_project_id"),
        (json!({ "project_id": project }), "invalid_body"),
        (json!({ "project_id": project, "messages": [message("user", "hi")], "extra": 1 }), "invalid_body"),
    ] {
        let reply = chat(&admin, &body).await;
        assert_eq!((reply.status, reply.code().as_str()), (422, code), "{}", reply.body);
    }
    for (body, code) in [
        (
            json!({ "project_id": project, "path": "a.rs", "prefix": "x", "max_tokens": 0 }),
            "assistant_invalid_max_tokens",
        ),
        (
            json!({ "project_id": project, "path": "a.rs", "prefix": "x", "max_tokens": 100_000 }),
            "assistant_invalid_max_tokens",
        ),
        (json!({ "project_id": project, "path": "", "prefix": "x" }), "assistant_invalid_path"),
        (json!({ "project_id": project, "path": "a.rs" }), "invalid_body"),
    ] {
        let reply = admin.post("/api/v1/assistant/complete", &body).await;
        assert_eq!((reply.status, reply.code()), (422, code), "{}", reply.body);
    }
    // A project of another org, or none, is 404.
    let reply = chat(&admin, &hello(&unknown_project_id())).await;
    assert_eq!((reply.status, reply.code().as_str()), (404, "not_found"), "{}", reply.body);
    // Bodies over the server's limit stop at the edge (last: the server closes that connection).
    let enormous = "x".repeat(3 * 1024 * 1024);
    let reply = admin
        .post("/api/v1/assistant/complete", &json!({ "project_id": project, "path": "a.rs", "prefix": enormous }))
        .await;
    assert_eq!((reply.status, reply.code()), (413, "payload_too_large"), "{}", reply.body);
    assert!(mock.requests().is_empty(), "nothing was sent upstream");
}

/// A well-formed id that names no project.
fn unknown_project_id() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}
