//! Terminals end to end: real shells on real PTYs behind the real binary, driven
//! over the WebSocket protocol (binary output frames with offsets, JSON control
//! messages), with the policy, the origin check, the idle timeout and the caps.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{Client, PASSWORD, TestApp, spawn_app, spawn_app_with};

const DEADLINE: Duration = Duration::from_secs(30);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A signed-in user: the REST client and the raw session cookie for WebSockets.
struct User {
    client: Client,
    cookie: String,
}

async fn sign_in(app: &TestApp, email: &str) -> User {
    let client = app.anonymous();
    let reply = client.post("/api/v1/auth/login", &json!({ "email": email, "password": PASSWORD })).await;
    assert_eq!(reply.status, 200, "login: {}", reply.body);
    let cookie = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("dockyard_session="))
        .and_then(|value| value.split(';').next())
        .expect("a session cookie")
        .to_owned();
    User { client, cookie }
}

/// An org owned by the admin with a developer and a viewer, a project in it, and
/// an outsider who owns an org of their own.
struct Cast {
    app: TestApp,
    developer: User,
    viewer: User,
    outsider: User,
    project: String,
}

async fn cast(app: TestApp) -> Cast {
    let (admin, org) = app.setup_admin().await;
    for (email, role) in
        [("dev@example.com", Some("developer")), ("viewer@example.com", Some("viewer")), ("out@example.com", None)]
    {
        app.user(&admin, email).await;
        if let Some(role) = role {
            let added =
                admin.post(&format!("/api/v1/orgs/{org}/members"), &json!({ "email": email, "role": role })).await;
            assert_eq!(added.status, 201, "add {email}: {}", added.body);
        }
    }
    let project = crate::support::project(&admin, &org, "Terminal project").await;
    let developer = sign_in(&app, "dev@example.com").await;
    let viewer = sign_in(&app, "viewer@example.com").await;
    let outsider = sign_in(&app, "out@example.com").await;
    let elsewhere = outsider.client.post("/api/v1/orgs", &json!({ "name": "Elsewhere", "slug": "elsewhere" })).await;
    assert_eq!(elsewhere.status, 201, "{}", elsewhere.body);
    Cast { app, developer, viewer, outsider, project }
}

fn new_marker() -> String {
    format!("m{}", ulid::Ulid::new().to_string().to_lowercase())
}

async fn create(user: &User, project: &str, body: Value) -> Value {
    let reply = user.client.post(&format!("/api/v1/projects/{project}/terminals"), &body).await;
    assert_eq!(reply.status, 201, "create a terminal: {}", reply.body);
    reply.json
}

enum Auth<'a> {
    Cookie { cookie: &'a str, origin: Option<&'a str> },
    Bearer(&'a str),
}

/// Opens the terminal's WebSocket; a refused handshake answers its status and problem body.
async fn connect(app: &TestApp, path: &str, auth: Auth<'_>) -> Result<Socket, (u16, Value)> {
    let url = format!("{}{path}", app.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("a WebSocket request");
    let headers = request.headers_mut();
    match auth {
        Auth::Cookie { cookie, origin } => {
            headers.insert("cookie", HeaderValue::from_str(cookie).expect("cookie header"));
            if let Some(origin) = origin {
                headers.insert("origin", HeaderValue::from_str(origin).expect("origin header"));
            }
        }
        Auth::Bearer(token) => {
            headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
        }
    }
    match tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(request)).await.expect("handshake in time") {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let body =
                response.body().as_deref().map(serde_json::from_slice).and_then(Result::ok).unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("WebSocket handshake failed: {other}"),
    }
}

fn ws_path(project: &str, terminal: &str, after: Option<u64>) -> String {
    let base = format!("/api/v1/projects/{project}/terminals/{terminal}/ws");
    match after {
        Some(after) => format!("{base}?after={after}"),
        None => base,
    }
}

/// What a client has seen on one socket.
#[derive(Default)]
struct Screen {
    /// Output as text, from `start` on, with every frame placed at its offset.
    text: String,
    start: Option<u64>,
    /// The offset after the last output byte received.
    next: u64,
    control: Vec<Value>,
    close: Option<(u16, String)>,
}

impl Screen {
    fn exit_code(&self) -> Option<i64> {
        self.control.iter().find(|message| message["type"] == "exit").and_then(|message| message["code"].as_i64())
    }
}

/// Reads frames until `done` holds, the socket closes, or the deadline passes.
async fn read_until(socket: &mut Socket, screen: &mut Screen, what: &str, done: impl Fn(&Screen) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done(screen) {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("waited in vain for {what}; screen: {:?}", screen.text));
        match frame {
            Some(Ok(Message::Binary(bytes))) => {
                assert!(bytes.len() > 8, "an output frame has an offset and bytes");
                let offset = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
                screen.start.get_or_insert(offset);
                assert_eq!(offset, screen.next, "frames arrive in order, without holes or repeats");
                screen.text.push_str(&String::from_utf8_lossy(&bytes[8..]));
                screen.next = offset + (bytes.len() - 8) as u64;
            }
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(text.as_str()).expect("control messages are JSON");
                if message["type"] == "hello" {
                    screen.next = message["offset"].as_u64().expect("hello has an offset");
                }
                screen.control.push(message);
            }
            Some(Ok(Message::Close(frame))) => {
                screen.close = Some(
                    frame.map(|frame| (u16::from(frame.code), frame.reason.to_string())).unwrap_or((0, String::new())),
                );
                assert!(done(screen), "the socket closed before {what}; screen: {:?}", screen.text);
                return;
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("the socket failed while waiting for {what}: {error}"),
            None => panic!("the socket ended before {what}; screen: {:?}", screen.text),
        }
    }
}

async fn type_text(socket: &mut Socket, text: &str) {
    socket.send(Message::text(json!({ "type": "input", "data": text }).to_string())).await.expect("send input");
}

/// Polls `check` until it holds, failing after the deadline.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_developer_types_resizes_reconnects_and_sees_the_exit_code() {
    let Cast { app, developer, project, .. } = cast(spawn_app().await).await;
    let origin = app.base.clone();
    let created = create(&developer, &project, json!({ "cols": 100, "rows": 30 })).await;
    let terminal = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["project_id"], project.as_str());
    assert_eq!((created["cols"].as_u64(), created["rows"].as_u64()), (Some(100), Some(30)));
    assert_eq!((created["exited"].as_bool(), created["exit_code"].is_null()), (Some(false), true));
    assert!(created["created_at"].is_string() && created["created_by"].is_string(), "{created}");
    let listed = developer.client.get(&format!("/api/v1/projects/{project}/terminals")).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json["terminals"][0]["id"], terminal.as_str(), "{}", listed.body);

    let cookie = Auth::Cookie { cookie: &developer.cookie, origin: Some(&origin) };
    let mut socket = connect(&app, &ws_path(&project, &terminal, None), cookie).await.expect("connect");
    let mut screen = Screen::default();
    read_until(&mut socket, &mut screen, "hello", |screen| !screen.control.is_empty()).await;
    let hello = &screen.control[0];
    assert_eq!((hello["type"].as_str(), hello["id"].as_str()), (Some("hello"), Some(terminal.as_str())), "{hello}");
    assert_eq!((hello["offset"].as_u64(), hello["gap"].as_bool()), (Some(0), Some(false)), "{hello}");
    assert_eq!((hello["cols"].as_u64(), hello["rows"].as_u64()), (Some(100), Some(30)));

    // The quotes keep the typed command's echo from matching the output.
    let marker = new_marker();
    type_text(&mut socket, &format!("echo \"hello-\"'{marker}'\n")).await;
    read_until(&mut socket, &mut screen, "the echoed marker", |screen| {
        screen.text.contains(&format!("hello-{marker}"))
    })
    .await;
    // The shell runs in the workspace with an environment of its own.
    type_text(&mut socket, "echo \"at:$(pwd)\" \"leaks:$(env | grep -c '^DOCKYARD_')\" \"term:$TERM\"\n").await;
    read_until(&mut socket, &mut screen, "pwd and env", |screen| screen.text.contains("term:xterm-256color")).await;
    assert!(screen.text.contains(&format!("/workspaces/{project}")), "{}", screen.text);
    assert!(screen.text.contains("leaks:0"), "{}", screen.text);

    socket.send(Message::text(json!({ "type": "resize", "cols": 123, "rows": 45 }).to_string())).await.expect("resize");
    // Binary frames are input too.
    socket.send(Message::binary(b"stty size\n".to_vec())).await.expect("type");
    read_until(&mut socket, &mut screen, "the new size", |screen| screen.text.contains("45 123")).await;
    let got = developer.client.get(&format!("/api/v1/projects/{project}/terminals/{terminal}")).await;
    assert_eq!((got.json["cols"].as_u64(), got.json["rows"].as_u64()), (Some(123), Some(45)), "{}", got.body);

    // Leave, and come back from the start: the scrollback is replayed.
    let seen_up_to = screen.next;
    socket.close(None).await.expect("close");
    drop(socket);
    let cookie = Auth::Cookie { cookie: &developer.cookie, origin: Some(&origin) };
    let mut socket = connect(&app, &ws_path(&project, &terminal, Some(0)), cookie).await.expect("reconnect");
    let mut replayed = Screen::default();
    read_until(&mut socket, &mut replayed, "the replay", |screen| screen.next >= seen_up_to).await;
    assert_eq!(replayed.control[0]["offset"].as_u64(), Some(0));
    assert!(replayed.text.contains(&format!("hello-{marker}")), "{}", replayed.text);
    socket.close(None).await.expect("close");
    drop(socket);

    // Come back from where we were: nothing old again, only what is new.
    let cookie = Auth::Cookie { cookie: &developer.cookie, origin: Some(&origin) };
    let mut socket = connect(&app, &ws_path(&project, &terminal, Some(seen_up_to)), cookie).await.expect("resume");
    let mut resumed = Screen::default();
    read_until(&mut socket, &mut resumed, "hello", |screen| !screen.control.is_empty()).await;
    assert_eq!(
        (resumed.control[0]["offset"].as_u64(), resumed.control[0]["gap"].as_bool()),
        (Some(seen_up_to), Some(false))
    );
    let second = new_marker();
    type_text(&mut socket, &format!("echo \"again-\"'{second}'\n")).await;
    read_until(&mut socket, &mut resumed, "the second marker", |screen| {
        screen.text.contains(&format!("again-{second}"))
    })
    .await;
    assert!(!resumed.text.contains(&format!("hello-{marker}")), "{}", resumed.text);

    type_text(&mut socket, "exit 3\n").await;
    read_until(&mut socket, &mut resumed, "the exit", |screen| screen.exit_code().is_some() && screen.close.is_some())
        .await;
    assert_eq!(resumed.exit_code(), Some(3));
    assert_eq!(resumed.close.as_ref().map(|close| close.0), Some(1000));
    let got = developer.client.get(&format!("/api/v1/projects/{project}/terminals/{terminal}")).await;
    assert_eq!((got.json["exited"].as_bool(), got.json["exit_code"].as_i64()), (Some(true), Some(3)), "{}", got.body);

    // Closing forgets it.
    let deleted = developer.client.delete(&format!("/api/v1/projects/{project}/terminals/{terminal}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let gone = developer.client.get(&format!("/api/v1/projects/{project}/terminals/{terminal}")).await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn viewers_get_403_and_other_orgs_404_on_terminals() {
    let Cast { app, developer, viewer, outsider, project } = cast(spawn_app().await).await;
    let origin = app.base.clone();
    let terminal = create(&developer, &project, json!({})).await["id"].as_str().expect("id").to_owned();
    let collection = format!("/api/v1/projects/{project}/terminals");
    let one = format!("{collection}/{terminal}");

    for (who, user, status, code) in [("viewer", &viewer, 403, "forbidden"), ("outsider", &outsider, 404, "not_found")]
    {
        let created = user.client.post(&collection, &json!({})).await;
        assert_eq!((created.status, created.code()), (status, code), "{who} creates: {}", created.body);
        let listed = user.client.get(&collection).await;
        assert_eq!((listed.status, listed.code()), (status, code), "{who} lists: {}", listed.body);
        let got = user.client.get(&one).await;
        assert_eq!((got.status, got.code()), (status, code), "{who} reads: {}", got.body);
        let deleted = user.client.delete(&one).await;
        assert_eq!((deleted.status, deleted.code()), (status, code), "{who} closes: {}", deleted.body);
        let refused = connect(
            &app,
            &ws_path(&project, &terminal, None),
            Auth::Cookie { cookie: &user.cookie, origin: Some(&origin) },
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{who} must not attach"));
        assert_eq!((refused.0, refused.1["code"].as_str()), (status, Some(code)), "{who} attaches: {}", refused.1);
    }
    // A terminal id that does not exist, and one of another project, are 404 for the developer too.
    let other_project = format!("/api/v1/projects/{project}/terminals/{}", marker_id());
    assert_eq!(developer.client.get(&other_project).await.status, 404);
    // The developer's terminal survived all of it.
    let got = developer.client.get(&one).await;
    assert_eq!((got.status, got.json["exited"].as_bool()), (200, Some(false)), "{}", got.body);
}

fn marker_id() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

#[tokio::test]
async fn a_cross_site_origin_is_refused_and_bearer_tokens_need_none() {
    let Cast { app, developer, project, .. } = cast(spawn_app().await).await;
    let terminal = create(&developer, &project, json!({})).await["id"].as_str().expect("id").to_owned();
    let path = ws_path(&project, &terminal, None);
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let refused = connect(&app, &path, Auth::Cookie { cookie: &developer.cookie, origin })
            .await
            .err()
            .unwrap_or_else(|| panic!("origin {origin:?} must be refused"));
        assert_eq!(
            (refused.0, refused.1["code"].as_str()),
            (403, Some("ws_origin_mismatch")),
            "{origin:?}: {}",
            refused.1
        );
    }
    // A plain GET (no upgrade) is told what the route speaks.
    let plain = developer.client.get(&path).await;
    assert_eq!((plain.status, plain.code()), (426, "websocket_required"), "{}", plain.body);

    let token = crate::support::token(&developer.client, &["write"]).await;
    let mut socket = connect(&app, &path, Auth::Bearer(&token)).await.expect("a token needs no Origin");
    let mut screen = Screen::default();
    read_until(&mut socket, &mut screen, "hello", |screen| !screen.control.is_empty()).await;
    // A read-only token may not attach: terminals run code.
    let read_only = crate::support::token(&developer.client, &["read"]).await;
    let refused = connect(&app, &path, Auth::Bearer(&read_only)).await.expect_err("a read token is refused");
    assert_eq!((refused.0, refused.1["code"].as_str()), (403, Some("insufficient_scope")), "{}", refused.1);

    // Breaking the protocol closes the socket with a policy violation, never a crash.
    socket.send(Message::text("{not json")).await.expect("send garbage");
    read_until(&mut socket, &mut screen, "the policy close", |screen| screen.close.is_some()).await;
    let (code, reason) = screen.close.clone().expect("closed");
    assert_eq!(code, u16::from(CloseCode::Policy), "{reason}");
    assert!(reason.contains("invalid message"), "{reason}");
    let mut socket = connect(&app, &path, Auth::Bearer(&token)).await.expect("reconnect");
    let mut screen = Screen::default();
    socket.send(Message::text(json!({ "type": "resize", "cols": 0, "rows": 24 }).to_string())).await.expect("send");
    read_until(&mut socket, &mut screen, "the policy close", |screen| screen.close.is_some()).await;
    assert_eq!(screen.close.as_ref().map(|close| close.0), Some(u16::from(CloseCode::Policy)));
    // The terminal is still there and still works.
    let got = developer.client.get(&format!("/api/v1/projects/{project}/terminals/{terminal}")).await;
    assert_eq!((got.status, got.json["exited"].as_bool()), (200, Some(false)), "{}", got.body);
}

#[tokio::test]
async fn an_idle_terminal_is_closed_and_an_attached_one_is_not() {
    let app = spawn_app_with(&[("DOCKYARD_TERMINAL__IDLE_TIMEOUT_SECONDS", "1")]).await;
    let Cast { app, developer, project, .. } = cast(app).await;
    let idle = create(&developer, &project, json!({})).await["id"].as_str().expect("id").to_owned();
    let watched = create(&developer, &project, json!({})).await["id"].as_str().expect("id").to_owned();
    let origin = app.base.clone();
    let mut socket = connect(
        &app,
        &ws_path(&project, &watched, None),
        Auth::Cookie { cookie: &developer.cookie, origin: Some(&origin) },
    )
    .await
    .expect("attach");
    let mut screen = Screen::default();
    read_until(&mut socket, &mut screen, "hello", |screen| !screen.control.is_empty()).await;

    let path = format!("/api/v1/projects/{project}/terminals/{idle}");
    eventually("the idle terminal to be closed", || async {
        let got = developer.client.get(&path).await;
        got.status == 404 || got.json["exited"] == true
    })
    .await;
    // The attached one lives on and still answers.
    let got = developer.client.get(&format!("/api/v1/projects/{project}/terminals/{watched}")).await;
    assert_eq!(got.json["exited"].as_bool(), Some(false), "{}", got.body);
    type_text(&mut socket, "echo \"still-\"'here'\n").await;
    read_until(&mut socket, &mut screen, "the echo", |screen| screen.text.contains("still-here")).await;
    let admin = app.login(crate::support::ADMIN_EMAIL, PASSWORD).await;
    eventually("the idle close in the audit log", || async {
        let audit = admin.get("/api/v1/admin/audit?action=terminal.closed").await;
        audit.status == 200 && audit.body.contains("\"idle\"")
    })
    .await;
    let opened = admin.get("/api/v1/admin/audit?action=terminal.opened").await;
    assert_eq!(opened.json["items"].as_array().map(Vec::len), Some(2), "{}", opened.body);
}

#[tokio::test]
async fn the_caps_answer_422_and_429_and_sizes_are_checked() {
    let app = spawn_app_with(&[
        ("DOCKYARD_TERMINAL__MAX_PER_PROJECT", "2"),
        ("DOCKYARD_TERMINAL__MAX_CONNECTIONS_PER_USER", "1"),
    ])
    .await;
    let Cast { app, developer, project, .. } = cast(app).await;
    let collection = format!("/api/v1/projects/{project}/terminals");
    let first = create(&developer, &project, json!({})).await["id"].as_str().expect("id").to_owned();
    create(&developer, &project, json!({})).await;
    let third = developer.client.post(&collection, &json!({})).await;
    assert_eq!((third.status, third.code()), (422, "terminal_limit_reached"), "{}", third.body);
    let deleted = developer.client.delete(&format!("{collection}/{first}")).await;
    assert_eq!(deleted.status, 204);
    let again = create(&developer, &project, json!({})).await["id"].as_str().expect("id").to_owned();

    for body in [json!({ "cols": 0 }), json!({ "rows": 1001 })] {
        let refused = developer.client.post(&collection, &body).await;
        assert_eq!((refused.status, refused.code()), (422, "terminal_size_invalid"), "{body}: {}", refused.body);
    }
    let wrong = developer.client.post(&collection, &json!({ "cols": "wide" })).await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);

    let origin = app.base.clone();
    let path = ws_path(&project, &again, None);
    let mut socket =
        connect(&app, &path, Auth::Cookie { cookie: &developer.cookie, origin: Some(&origin) }).await.expect("first");
    let mut screen = Screen::default();
    read_until(&mut socket, &mut screen, "hello", |screen| !screen.control.is_empty()).await;
    let refused = connect(&app, &path, Auth::Cookie { cookie: &developer.cookie, origin: Some(&origin) })
        .await
        .expect_err("the second connection is over the cap");
    assert_eq!((refused.0, refused.1["code"].as_str()), (429, Some("terminal_connections_exhausted")), "{}", refused.1);
    socket.close(None).await.expect("close");
    drop(socket);
    // The slot is freed when the socket goes.
    eventually("the connection slot to be freed", || async {
        connect(&app, &path, Auth::Cookie { cookie: &developer.cookie, origin: Some(&origin) }).await.is_ok()
    })
    .await;
}
