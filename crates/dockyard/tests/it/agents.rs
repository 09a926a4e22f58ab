//! Remote coding agents against the real binary, with real processes: test
//! agents written for the suite (`tests/agents/*.mjs`, run with Node) behave
//! like the real ones. One streams Claude-Code-style JSON events and edits
//! files, one speaks ACP over stdio and asks a permission question, one asks for
//! input on its terminal, one fails at once, one hangs past its time.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::support::{Client, TestApp, git, project, put_file, read_events, spawn_app_with, workspace_dir};

/// `node`, found on PATH (the README's machines have Node); absent under `CI=true` is a failure.
fn node() -> Option<String> {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| PathBuf::from(dir).join("node"))
        .find(|path| path.is_file())
        .map(|path| path.display().to_string());
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "node is missing; CI must install Node.js");
        eprintln!("skipping an agent test: node is not on PATH");
    }
    found
}

fn agent_script(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/agents").join(format!("{name}.mjs")).display().to_string()
}

const QUICK: &[(&str, &str)] = &[
    ("DOCKYARD_AGENTS__STOP_GRACE_SECONDS", "1"),
    ("DOCKYARD_AGENTS__EARLY_EXIT_SECONDS", "5"),
    ("DOCKYARD_AGENTS__BREAKER_FAILURES", "2"),
    ("DOCKYARD_AGENTS__BREAKER_COOLDOWN_SECONDS", "2"),
    ("DOCKYARD_JOBS__POLL_SECONDS", "1"),
];

async fn start(extra: &[(&str, &str)]) -> (TestApp, Client, String) {
    let mut env: Vec<(&str, &str)> = QUICK.to_vec();
    env.extend_from_slice(extra);
    let app = spawn_app_with(&env).await;
    let (admin, org) = app.setup_admin().await;
    (app, admin, org)
}

/// Defines a profile running `tests/agents/{script}.mjs` with Node; answers its id.
async fn profile(admin: &Client, node: &str, name: &str, kind: &str, script: &str, extra: Value) -> String {
    let mut body = json!({ "name": name, "kind": kind, "command": [node, agent_script(script)] });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let reply = admin.post("/api/v1/admin/agent-profiles", &body).await;
    assert_eq!(reply.status, 201, "create profile {name}: {}", reply.body);
    reply.json["id"].as_str().expect("profile id").to_owned()
}

/// A project whose workspace is a git repository with one commit.
async fn git_project(app: &TestApp, admin: &Client, org: &str, name: &str) -> (String, PathBuf) {
    let project = project(admin, org, name).await;
    let reply = put_file(admin, &project, "README.md", b"# readme\nline two\n", None).await;
    assert!(reply.status == 201 || reply.status == 200, "write README: {}", reply.body);
    let dir = workspace_dir(app, &project);
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    (project, dir)
}

async fn start_session(admin: &Client, project: &str, body: Value) -> Value {
    let reply = admin.post(&format!("/api/v1/projects/{project}/agent-sessions"), &body).await;
    assert_eq!(reply.status, 201, "start session: {}", reply.body);
    assert_eq!(reply.json["status"], "queued");
    reply.json
}

/// Polls a session until it is over (at most 60 s).
async fn finished(admin: &Client, session: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reply = admin.get(&format!("/api/v1/agent-sessions/{session}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if matches!(reply.json["status"].as_str(), Some("succeeded" | "failed" | "stopped")) {
            return reply.json;
        }
        assert!(tokio::time::Instant::now() < deadline, "session still {}: {}", reply.json["status"], reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events(admin: &Client, session: &str) -> Vec<Value> {
    let reply = admin.get(&format!("/api/v1/agent-sessions/{session}/events?limit=1000")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json.as_array().cloned().unwrap_or_default()
}

/// Waits until the transcript has an event of `kind` whose data mentions `needle`.
async fn wait_event(admin: &Client, session: &str, kind: &str, needle: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = events(admin, session).await;
        let text: String =
            all.iter().filter(|event| event["kind"] == kind).map(|event| event["data"].to_string()).collect();
        if let Some(event) =
            all.iter().find(|event| event["kind"] == kind && event["data"].to_string().contains(needle))
        {
            return event.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no {kind} event with {needle:?}; {kind} so far: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Claude-Code-style agent edits a file in its own worktree; the transcript
/// has its messages, tool calls and usage; the secret key reached it but is in
/// no event, answer or log; the diff shows the change; apply merges it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_session_streams_edits_in_a_worktree_and_applies() {
    let Some(node) = node() else { return };
    let (app, admin, org) = start(&[]).await;
    profile(&admin, &node, "claude", "claude-code", "claude", json!({})).await;
    let secret = format!("sk-test-{}", ulid::Ulid::new().to_string().to_lowercase());
    let reply = admin
        .request(
            "PUT",
            &format!("/api/v1/orgs/{org}/agent-secrets/ANTHROPIC_API_KEY"),
            Some(&json!({ "value": secret })),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    // A personal key wins over the org's for the user's own sessions.
    let mine = format!("sk-mine-{}-longer", ulid::Ulid::new().to_string().to_lowercase());
    let reply = admin
        .request(
            "PUT",
            &format!("/api/v1/orgs/{org}/my-agent-secrets/ANTHROPIC_API_KEY"),
            Some(&json!({ "value": mine })),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let listed = admin.get(&format!("/api/v1/orgs/{org}/agent-secrets")).await;
    assert_eq!(listed.json, json!({ "keys": ["ANTHROPIC_API_KEY"] }));
    let listed = admin.get(&format!("/api/v1/orgs/{org}/my-agent-secrets")).await;
    assert_eq!(listed.json, json!({ "keys": ["ANTHROPIC_API_KEY"] }));
    let (project, dir) = git_project(&app, &admin, &org, "Claude").await;

    let session =
        start_session(&admin, &project, json!({ "profile": "claude", "prompt": "write notes.txt: from the agent" }))
            .await;
    let id = session["id"].as_str().expect("id").to_owned();
    let done = finished(&admin, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["branch"], format!("dockyard/agent/{id}"));
    assert_eq!((done["input_tokens"].as_u64(), done["output_tokens"].as_u64()), (Some(100), Some(10)), "{done}");
    assert_eq!(done["cost"].as_f64(), Some(0.0125));
    assert_eq!(done["summary"], "turn 1 done");
    assert!(done["final_commit"].as_str().is_some_and(|commit| commit.len() == 40), "{done}");

    let all = events(&admin, &id).await;
    let kinds: Vec<&str> = all.iter().filter_map(|event| event["kind"].as_str()).collect();
    for kind in ["message", "tool_call", "tool_result", "usage", "commit", "status"] {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    let ids: Vec<i64> = all.iter().filter_map(|event| event["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1), "ids rise by one: {ids:?}");
    let transcript = serde_json::to_string(&all).expect("json");
    assert!(transcript.contains(&format!("key length {}", mine.len())), "the personal key reached the agent");
    let audit = admin.get(&format!("/api/v1/orgs/{org}/audit?limit=200")).await.body;
    for value in [&secret, &mine] {
        assert!(!transcript.contains(value.as_str()), "a secret is in the transcript");
        assert!(!app.output_text().contains(value.as_str()), "the server logged a secret");
        assert!(!audit.contains(value.as_str()), "a secret is in the audit log");
    }
    // The workspace is untouched until the apply; the worktree has the agent's commit.
    assert!(!dir.join("notes.txt").exists());
    assert_eq!(git(&dir, &["log", "-1", "--format=%an|%cn", &format!("dockyard/agent/{id}")]), "claude (agent)|Admin");

    let diff = admin.get(&format!("/api/v1/agent-sessions/{id}/diff")).await;
    assert_eq!(diff.status, 200, "{}", diff.body);
    assert_eq!(diff.json["files"][0]["path"], "notes.txt", "{}", diff.body);
    assert!(diff.json["text"].as_str().is_some_and(|text| text.contains("+from the agent")), "{}", diff.body);

    // A review comment goes back to the agent: a follow-up continues in the same worktree.
    let follow = admin
        .post(&format!("/api/v1/agent-sessions/{id}/follow-up"), &json!({ "prompt": "write more.txt: and more" }))
        .await;
    assert_eq!(follow.status, 201, "{}", follow.body);
    assert_eq!(follow.json["continues"], id.as_str());
    let first_id = id.clone();
    let id = follow.json["id"].as_str().expect("id").to_owned();
    let done = finished(&admin, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["branch"], format!("dockyard/agent/{first_id}"), "the same branch");
    let diff = admin.get(&format!("/api/v1/agent-sessions/{id}/diff")).await;
    let paths: Vec<&str> =
        diff.json["files"].as_array().expect("files").iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(paths, vec!["more.txt", "notes.txt"], "the follow-up's diff covers both: {}", diff.body);
    let reply = admin.post(&format!("/api/v1/agent-sessions/{first_id}/apply"), &json!({})).await;
    assert_eq!((reply.status, reply.code()), (409, "session_reviewed"), "the first is continued, not applied");
    assert_eq!(admin.get(&format!("/api/v1/agent-sessions/{first_id}")).await.json["review"], "continued");

    let applied = admin.post(&format!("/api/v1/agent-sessions/{id}/apply"), &json!({})).await;
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert_eq!(applied.json["outcome"], "merged");
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).expect("merged file"), "from the agent\n");
    assert_eq!(std::fs::read_to_string(dir.join("more.txt")).expect("merged file"), "and more\n");
    assert_eq!(git(&dir, &["rev-list", "--parents", "-n1", "HEAD"]).split(' ').count(), 3, "a merge commit");
    let again = admin.post(&format!("/api/v1/agent-sessions/{id}/apply"), &json!({})).await;
    assert_eq!((again.status, again.code()), (409, "session_reviewed"));
    assert_eq!(admin.get(&format!("/api/v1/agent-sessions/{id}")).await.json["review"], "applied");

    // Searchable history.
    let found = admin.get(&format!("/api/v1/projects/{project}/agent-sessions?q=MORE.TXT")).await;
    assert_eq!(found.json.as_array().map(Vec::len), Some(1), "{}", found.body);
    let none = admin.get(&format!("/api/v1/projects/{project}/agent-sessions?q=nothing-like-this")).await;
    assert_eq!(none.json, json!([]));
}

/// Two sessions in parallel worktrees both apply; a third that edits the same
/// line conflicts, and the workspace is left exactly as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_worktrees_apply_and_a_conflict_is_reported() {
    let Some(node) = node() else { return };
    let (app, admin, org) = start(&[]).await;
    profile(&admin, &node, "claude", "claude-code", "claude", json!({ "max_per_user": 5 })).await;
    let (project, dir) = git_project(&app, &admin, &org, "Parallel").await;
    let one = start_session(&admin, &project, json!({ "profile": "claude", "prompt": "write one.txt: first" })).await;
    let two = start_session(&admin, &project, json!({ "profile": "claude", "prompt": "write two.txt: second" })).await;
    let three =
        start_session(&admin, &project, json!({ "profile": "claude", "prompt": "write README.md: theirs" })).await;
    for session in [&one, &two, &three] {
        let done = finished(&admin, session["id"].as_str().expect("id")).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    for session in [&one, &two] {
        let reply = admin
            .post(&format!("/api/v1/agent-sessions/{}/apply", session["id"].as_str().expect("id")), &json!({}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert!(dir.join("one.txt").exists() && dir.join("two.txt").exists());

    // The workspace changes README.md and commits; the third session's change now conflicts.
    std::fs::write(dir.join("README.md"), "ours\n").expect("write");
    git(&dir, &["commit", "-q", "-am", "ours"]);
    let head = git(&dir, &["rev-parse", "HEAD"]);
    let reply =
        admin.post(&format!("/api/v1/agent-sessions/{}/apply", three["id"].as_str().expect("id")), &json!({})).await;
    assert_eq!((reply.status, reply.code()), (409, "merge_conflict"), "{}", reply.body);
    assert!(reply.body.contains("README.md"), "{}", reply.body);
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(std::fs::read_to_string(dir.join("README.md")).expect("read"), "ours\n");
    // Discard drops the worktree and the branch.
    let three_id = three["id"].as_str().expect("id");
    let reply = admin.post(&format!("/api/v1/agent-sessions/{three_id}/discard"), &json!({})).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(!app.data_dir().join("agent-worktrees").join(three_id).exists());
    assert_eq!(git(&dir, &["branch", "--list", &format!("dockyard/agent/{three_id}")]), "");
}

/// An ACP agent asks permission; the answer comes through the API, its file
/// write goes through Dockyard (inside the worktree), a read outside is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acp_agent_asks_permission_and_writes_through_the_client() {
    let Some(node) = node() else { return };
    let (app, admin, org) = start(&[]).await;
    profile(&admin, &node, "gemini", "acp", "acp", json!({})).await;
    let (project, _dir) = git_project(&app, &admin, &org, "Acp").await;
    let session = start_session(&admin, &project, json!({ "profile": "gemini", "prompt": "hello acp" })).await;
    let id = session["id"].as_str().expect("id").to_owned();
    let question = wait_event(&admin, &id, "permission_request", "Write acp-output.txt").await;
    let request_id = question["data"]["request_id"].as_str().expect("request id").to_owned();
    assert_eq!(question["data"]["options"][0]["id"], "allow");
    let reply = admin
        .post(
            &format!("/api/v1/agent-sessions/{id}/input"),
            &json!({ "permission": { "request_id": request_id, "option_id": "allow" } }),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let done = finished(&admin, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let transcript = serde_json::to_string(&events(&admin, &id).await).expect("json");
    assert!(transcript.contains("On it: hello acp"), "{transcript}");
    assert!(transcript.contains("permission_answer"), "{transcript}");
    assert!(transcript.contains("outside read refused"), "{transcript}");
    let diff = admin.get(&format!("/api/v1/agent-sessions/{id}/diff")).await;
    assert_eq!(diff.json["files"][0]["path"], "acp-output.txt", "{}", diff.body);
    // Input to a finished session is refused.
    let reply = admin.post(&format!("/api/v1/agent-sessions/{id}/input"), &json!({ "text": "more" })).await;
    assert_eq!((reply.status, reply.code()), (409, "session_not_running"));
}

/// A terminal agent asks for input; the answer arrives over the WebSocket; a
/// reconnect replays from the last id seen, without gaps or repeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_agent_gets_input_over_the_socket_and_reconnects_replay() {
    let Some(node) = node() else { return };
    let (app, admin, org) = start(&[]).await;
    profile(&admin, &node, "asker", "pty", "ask", json!({ "command": [node, agent_script("ask"), "{prompt}"] })).await;
    let project = project(&admin, &org, "Ask").await;
    let token = crate::support::token(&admin, &["read", "write"]).await;
    let session =
        start_session(&admin, &project, json!({ "profile": "asker", "prompt": "deploy it", "isolation": "workspace" }))
            .await;
    let id = session["id"].as_str().expect("id").to_owned();
    wait_event(&admin, &id, "output", "Proceed?").await;

    let ws_url = format!("{}/api/v1/agent-sessions/{id}/ws?after=0", app.base.replacen("http", "ws", 1));
    let connect = |url: String| {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).expect("request");
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
        tokio_tungstenite::connect_async(request)
    };
    let (mut socket, _) = connect(ws_url).await.expect("connect");
    let mut seen: Vec<i64> = Vec::new();
    // Read the replay up to the question, then drop the connection.
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame")
            .expect("open")
            .expect("frame");
        let frame: Value = serde_json::from_str(message.to_text().expect("text")).expect("json");
        seen.push(frame["id"].as_i64().expect("event id"));
        if frame.to_string().contains("Proceed?") {
            break;
        }
    }
    drop(socket);
    let last = *seen.last().expect("events");
    let ws_url = format!("{}/api/v1/agent-sessions/{id}/ws?after={last}", app.base.replacen("http", "ws", 1));
    let (mut socket, _) = connect(ws_url).await.expect("reconnect");
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            json!({ "type": "text", "text": "yes" }).to_string().into(),
        ))
        .await
        .expect("send input");
    let mut text = String::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame")
            .expect("open")
            .expect("frame");
        let tokio_tungstenite::tungstenite::Message::Text(body) = message else { continue };
        let frame: Value = serde_json::from_str(&body).expect("json");
        if frame["type"] == "end" {
            assert_eq!(frame["status"], "succeeded", "{frame}");
            break;
        }
        let next = frame["id"].as_i64().expect("event id");
        assert_eq!(next, seen.last().expect("seen") + 1, "no gap, no repeat after the reconnect");
        seen.push(next);
        text.push_str(&frame["data"].to_string());
    }
    assert!(text.contains("you said: yes"), "{text}");
    assert!(workspace_dir(&app, &project).join("ask-output.txt").exists(), "the workspace session wrote in place");
    // The same transcript over SSE, resumed after an id.
    let (status, sse) =
        read_events(&admin, &format!("/api/v1/agent-sessions/{id}/events"), Some(&last.to_string())).await;
    assert_eq!(status, 200);
    assert_eq!(sse.first().and_then(|event| event.id.clone()), Some((last + 1).to_string()));
    assert_eq!(sse.last().map(|event| event.event.as_str()), Some("end"));
}

/// Failures: a crash is `failed` with its exit code; two early crashes open the
/// breaker (fast 503 with Retry-After); after the cool-down a probe that works
/// closes it. A hanging agent is stopped at its maximum run time (killed after
/// the grace, as it ignores SIGTERM), and a stop ends a session as `stopped`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_open_the_breaker_timeouts_and_stops_end_sessions() {
    let Some(node) = node() else { return };
    let (app, admin, org) = start(&[]).await;
    let failing = profile(&admin, &node, "flaky", "pty", "fail", json!({ "max_per_user": 10 })).await;
    profile(&admin, &node, "hang", "pty", "hang", json!({ "max_runtime_secs": 2 })).await;
    profile(&admin, &node, "forever", "pty", "hang", json!({})).await;
    let project = project(&admin, &org, "Fail").await;
    let body = json!({ "profile": "flaky", "prompt": "go", "isolation": "workspace" });
    for _ in 0..2 {
        let session = start_session(&admin, &project, body.clone()).await;
        let done = finished(&admin, session["id"].as_str().expect("id")).await;
        assert_eq!((done["status"].as_str(), done["exit_code"].as_i64()), (Some("failed"), Some(3)), "{done}");
        assert_eq!(done["error"]["code"], "agent_exit");
        let transcript =
            serde_json::to_string(&events(&admin, session["id"].as_str().expect("id")).await).expect("json");
        assert!(transcript.contains("this agent always fails"), "{transcript}");
    }
    let refused = admin.post(&format!("/api/v1/projects/{project}/agent-sessions"), &body).await;
    assert_eq!((refused.status, refused.code()), (503, "agent_unavailable"), "{}", refused.body);
    assert!(refused.header("retry-after").is_some());
    let profiles = admin.get("/api/v1/agent-profiles").await;
    let flaky = profiles.json.as_array().expect("list").iter().find(|p| p["name"] == "flaky").cloned().expect("flaky");
    assert_eq!(flaky["health"]["state"], "open", "{flaky}");
    // /readyz shows it too, without making the replica unready.
    let ready = app.anonymous().get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json["agents"]["configured"], true);
    let entry =
        ready.json["agents"]["profiles"].as_array().expect("profiles").iter().find(|p| p["name"] == "flaky").cloned();
    assert_eq!(entry.map(|p| p["breaker"].clone()), Some(json!("open")), "{}", ready.body);
    // Fixed, and after the cool-down the probe closes the breaker.
    let reply = admin
        .patch(
            &format!("/api/v1/admin/agent-profiles/{failing}"),
            &json!({ "command": [node, agent_script("ask"), "x"] }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let probe = start_session(&admin, &project, body.clone()).await;
    let probe_id = probe["id"].as_str().expect("id");
    wait_event(&admin, probe_id, "output", "Proceed?").await;
    admin.post(&format!("/api/v1/agent-sessions/{probe_id}/input"), &json!({ "text": "y" })).await;
    assert_eq!(finished(&admin, probe_id).await["status"], "succeeded");
    let profiles = admin.get("/api/v1/agent-profiles").await;
    let flaky = profiles.json.as_array().expect("list").iter().find(|p| p["name"] == "flaky").cloned().expect("flaky");
    assert_eq!(flaky["health"]["state"], "closed", "{flaky}");

    let hang =
        start_session(&admin, &project, json!({ "profile": "hang", "prompt": "go", "isolation": "workspace" })).await;
    let done = finished(&admin, hang["id"].as_str().expect("id")).await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("agent_timeout")),
        "{done}"
    );
    assert!(done["duration_secs"].as_f64().is_some_and(|secs| secs >= 2.0), "{done}");

    let forever =
        start_session(&admin, &project, json!({ "profile": "forever", "prompt": "go", "isolation": "workspace" }))
            .await;
    let forever_id = forever["id"].as_str().expect("id");
    wait_event(&admin, forever_id, "output", "working").await;
    let stopped = admin.post(&format!("/api/v1/agent-sessions/{forever_id}/stop"), &json!({})).await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    assert_eq!(finished(&admin, forever_id).await["status"], "stopped");
    let again = admin.post(&format!("/api/v1/agent-sessions/{forever_id}/stop"), &json!({})).await;
    assert_eq!((again.status, again.code()), (409, "session_finished"));
    drop(app);
}

/// `kill -9` while a session runs: after the restart it ends `failed`
/// (`interrupted`), never stuck `running`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_never_leaves_a_session_running() {
    let Some(node) = node() else { return };
    let (mut app, admin, org) = start(&[("DOCKYARD_JOBS__LEASE_SECONDS", "3")]).await;
    profile(&admin, &node, "forever", "pty", "hang", json!({})).await;
    let project = project(&admin, &org, "Restart").await;
    let session =
        start_session(&admin, &project, json!({ "profile": "forever", "prompt": "go", "isolation": "workspace" }))
            .await;
    let id = session["id"].as_str().expect("id").to_owned();
    wait_event(&admin, &id, "output", "working").await;
    app.kill().await;
    app.start().await;
    let admin = app.login(crate::support::ADMIN_EMAIL, crate::support::PASSWORD).await;
    let done = finished(&admin, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("interrupted")),
        "{done}"
    );
}

/// Bad input and the degraded mode get clear 4xx/503 problems with stable codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_no_agents_are_clear_errors() {
    let Some(node) = node() else { return };
    let (app, admin, org) = start(&[]).await;
    let project = project(&admin, &org, "Bad").await;
    let path = format!("/api/v1/projects/{project}/agent-sessions");
    let reply = admin.post(&path, &json!({ "profile": "claude", "prompt": "hi" })).await;
    assert_eq!((reply.status, reply.code()), (503, "agents_not_configured"), "{}", reply.body);
    let ready = app.anonymous().get("/readyz").await;
    assert_eq!(ready.json["agents"], json!({ "configured": false, "profiles": [] }), "{}", ready.body);
    assert_eq!(admin.get("/api/v1/agent-profiles").await.json, json!([]));

    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({ "name": "Bad Name", "command": ["x"] }), 422, "invalid_profile_name"),
        (json!({ "name": "x", "command": [] }), 422, "invalid_command"),
        (json!({ "name": "x", "command": ["{prompt}"] }), 422, "invalid_command"),
        (json!({ "name": "x", "kind": "robot", "command": ["x"] }), 422, "invalid_agent_kind"),
        (json!({ "name": "x", "command": ["x"], "max_runtime_secs": 0 }), 422, "invalid_limit"),
        (json!({ "name": "x", "command": ["x"], "env": { "1A": "v" } }), 422, "invalid_env_key"),
        (json!({ "name": "x", "command": "x" }), 422, "invalid_body"),
        (json!({ "name": "x", "command": ["x"], "isolation": "vm" }), 422, "invalid_isolation"),
    ];
    for (body, status, code) in cases {
        let reply = admin.post("/api/v1/admin/agent-profiles", &body).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{body}: {}", reply.body);
    }
    let claude = profile(&admin, &node, "claude", "claude-code", "claude", json!({})).await;
    let reply = admin.post("/api/v1/admin/agent-profiles", &json!({ "name": "claude", "command": ["x"] })).await;
    assert_eq!((reply.status, reply.code()), (409, "agent_profile_name_taken"));
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({ "profile": "claude", "prompt": "  " }), 422, "empty_prompt"),
        (json!({ "profile": "nobody", "prompt": "hi" }), 404, "agent_profile_not_found"),
        (json!({ "profile": "claude", "prompt": "hi", "isolation": "vm" }), 422, "invalid_isolation"),
        // Not a git repository: a worktree session cannot start.
        (json!({ "profile": "claude", "prompt": "hi" }), 409, "workspace_not_git"),
        (json!({ "profile": "claude" }), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let reply = admin.post(&path, &body).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{body}: {}", reply.body);
    }
    // The profile's working mode decides when the start request does not: with
    // `workspace` the same request runs in the (non-git) workspace itself.
    let reply = admin
        .request("PATCH", &format!("/api/v1/admin/agent-profiles/{claude}"), Some(&json!({ "isolation": "workspace" })))
        .await;
    assert_eq!((reply.status, reply.json["isolation"].as_str()), (200, Some("workspace")), "{}", reply.body);
    let reply = admin.post(&path, &json!({ "profile": "claude", "prompt": "hi" })).await;
    assert_eq!((reply.status, reply.json["isolation"].as_str()), (201, Some("workspace")), "{}", reply.body);
    let session = reply.json["id"].as_str().expect("session id").to_owned();
    let done = finished(&admin, &session).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    // An explicit choice still wins.
    let reply = admin.post(&path, &json!({ "profile": "claude", "prompt": "hi", "isolation": "worktree" })).await;
    assert_eq!((reply.status, reply.code()), (409, "workspace_not_git"), "{}", reply.body);
    for path in ["/api/v1/agent-sessions/nope", "/api/v1/agent-sessions/01arz3ndektsv4rrffq69g5fav/diff"] {
        assert_eq!(admin.get(path).await.status, 404, "{path}");
    }
    let reply = admin
        .request("PUT", &format!("/api/v1/orgs/{org}/agent-secrets/BAD-KEY"), Some(&json!({ "value": "x" })))
        .await;
    assert_eq!((reply.status, reply.code()), (422, "invalid_env_key"));
    let long = "K".repeat(91);
    let reply = admin
        .request("PUT", &format!("/api/v1/orgs/{org}/my-agent-secrets/{long}"), Some(&json!({ "value": "x" })))
        .await;
    assert_eq!((reply.status, reply.code()), (422, "invalid_env_key"));
    let reply = admin
        .request("PUT", &format!("/api/v1/orgs/{org}/my-agent-secrets/EMPTY"), Some(&json!({ "value": "" })))
        .await;
    assert_eq!((reply.status, reply.code()), (422, "invalid_secret_value"));
    let reply = admin.delete(&format!("/api/v1/orgs/{org}/my-agent-secrets/NEVER_SET")).await;
    assert_eq!((reply.status, reply.code()), (404, "agent_secret_not_found"));
    drop(app);
}
