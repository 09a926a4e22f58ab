//! Authentication security: login throttling, the password policy, sessions,
//! API tokens and their scopes, CSRF, request rate limits, and the user CLI
//! against a running server. Each test starts its own `dockyard serve`.

use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, Client, PASSWORD, Reply, TestApp, spawn_app, spawn_app_with, token};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const WRONG_PASSWORD: &str = "not the right password";
const NEW_PASSWORD: &str = "a brand new passphrase";
const EVIL_ORIGIN: &str = "https://evil.example";

/// Small login-throttle limits: 3 failures per account, 5 per IP, in 10 minutes.
const THROTTLE_ENV: [(&str, &str); 3] = [
    ("DOCKYARD_AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
    ("DOCKYARD_AUTH__LOGIN_MAX_FAILURES_PER_IP", "5"),
    ("DOCKYARD_AUTH__LOGIN_FAILURE_WINDOW_SECS", "600"),
];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A plain HTTP client: no cookie jar and no default headers, so every
/// `Cookie`, `Origin` and `Referer` a test sends is explicit.
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// Sends a request built by any client and reads the whole reply.
async fn send(app: &TestApp, request: reqwest::RequestBuilder) -> Reply {
    app.anonymous().send(request).await
}

/// Asserts a problem document: status, code, media type and the other fields.
#[track_caller]
fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{reply:?}");
    assert_eq!(reply.json["status"], status, "{}", reply.body);
    assert_eq!(reply.json["type"], format!("urn:dockyard:problem:{code}"), "{}", reply.body);
    assert!(reply.json["title"].as_str().is_some_and(|title| !title.is_empty()), "{}", reply.body);
    assert!(reply.json["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{}", reply.body);
}

/// Asserts a 422 validation problem naming `field`.
#[track_caller]
fn assert_invalid(reply: &Reply, code: &str, field: &str) {
    assert_problem(reply, 422, code);
    assert_eq!(reply.json["field"], field, "{}", reply.body);
}

/// The `Retry-After` header as whole seconds (at least 1).
#[track_caller]
fn retry_after_secs(reply: &Reply) -> u64 {
    let raw = reply.header("retry-after").unwrap_or_else(|| panic!("a Retry-After header: {reply:?}"));
    let seconds: u64 = raw.parse().unwrap_or_else(|_| panic!("Retry-After is whole seconds, got {raw:?}"));
    assert!(seconds >= 1, "Retry-After must be at least 1, got {seconds}");
    seconds
}

#[track_caller]
fn timestamp(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("a timestamp string, got {value}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text:?} is not RFC 3339: {error}"))
        .with_timezone(&Utc)
}

/// Creates a user with the shared password through the admin API (without
/// signing them in) and answers their id.
async fn create_user(admin: &Client, email: &str) -> String {
    let reply =
        admin.post("/api/v1/admin/users", &json!({ "email": email, "name": email, "password": PASSWORD })).await;
    assert_eq!(reply.status, 201, "create user: {}", reply.body);
    reply.json["id"].as_str().expect("user id").to_owned()
}

/// One login attempt from a fresh browser-like client.
async fn try_login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.anonymous().post("/api/v1/auth/login", &json!({ "email": email, "password": password })).await
}

/// Signs in with a client sending `user_agent`; answers the signed-in client.
async fn login_with_agent(app: &TestApp, email: &str, password: &str, user_agent: &str) -> Client {
    let client = app.anonymous();
    let request = client
        .inner
        .post(client.url("/api/v1/auth/login"))
        .header("user-agent", user_agent)
        .json(&json!({ "email": email, "password": password }));
    let reply = client.send(request).await;
    assert_eq!(reply.status, 200, "login: {}", reply.body);
    client
}

/// Signs in and answers the raw session cookie value from `Set-Cookie`.
async fn session_cookie(app: &TestApp, email: &str, password: &str) -> String {
    let reply = try_login(app, email, password).await;
    assert_eq!(reply.status, 200, "login: {}", reply.body);
    let header = reply.header("set-cookie").expect("a session cookie");
    let pair = header.split(';').next().expect("a name=value pair");
    let value = pair.strip_prefix("dockyard_session=").unwrap_or_else(|| panic!("a dockyard_session cookie: {header}"));
    assert!(!value.is_empty(), "{header}");
    value.to_owned()
}

fn cookie(value: &str) -> String {
    format!("dockyard_session={value}")
}

/// `GET /api/v1/me` with only the given session cookie.
async fn me_with_cookie(app: &TestApp, value: &str) -> Reply {
    send(app, bare_client().get(app.url("/api/v1/me")).header("cookie", cookie(value))).await
}

/// The caller's sessions.
async fn sessions(client: &Client) -> Vec<Value> {
    let reply = client.get("/api/v1/me/sessions").await;
    assert_eq!(reply.status, 200, "list sessions: {}", reply.body);
    reply.json.as_array().expect("a list of sessions").clone()
}

/// The id of the caller's current session.
async fn current_session_id(client: &Client) -> String {
    let all = sessions(client).await;
    let current: Vec<&Value> = all.iter().filter(|session| session["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one current session: {all:?}");
    current[0]["id"].as_str().expect("session id").to_owned()
}

/// Creates a token and answers the whole `201` body.
async fn create_token(client: &Client, body: &Value) -> Value {
    let reply = client.post("/api/v1/tokens", body).await;
    assert_eq!(reply.status, 201, "create token: {}", reply.body);
    reply.json
}

/// The caller's token listing entry with `id`.
async fn listed_token(client: &Client, id: &str) -> Value {
    let reply = client.get("/api/v1/tokens").await;
    assert_eq!(reply.status, 200, "list tokens: {}", reply.body);
    reply
        .json
        .as_array()
        .expect("a list of tokens")
        .iter()
        .find(|token| token["id"] == id)
        .unwrap_or_else(|| panic!("token {id} is listed: {}", reply.body))
        .clone()
}

/// Which stored expiry to move into the past.
#[derive(Clone, Copy)]
enum Expiring {
    Token,
    Session,
}

/// Sets a token's or session's stored expiry (epoch milliseconds) one minute
/// into the past, straight in the app's database. This simulates the passage of
/// time; the app's own logic then decides what an expired credential means.
async fn expire_in_database(app: &TestApp, what: Expiring, id: &str) {
    use sqlx::{ConnectOptions, Connection};
    let past = Utc::now().timestamp_millis() - 60_000;
    let affected = match &app.database.url {
        Some(url) => {
            let statement = match what {
                Expiring::Token => "UPDATE api_tokens SET expires_at = $1 WHERE id = $2",
                Expiring::Session => "UPDATE sessions SET expires_at = $1 WHERE id = $2",
            };
            let mut connection =
                sqlx::PgConnection::connect(url).await.expect("connect to the app's PostgreSQL database");
            let result = sqlx::query(statement).bind(past).bind(id).execute(&mut connection).await.expect("update");
            connection.close().await.expect("close");
            result.rows_affected()
        }
        None => {
            let statement = match what {
                Expiring::Token => "UPDATE api_tokens SET expires_at = ?1 WHERE id = ?2",
                Expiring::Session => "UPDATE sessions SET expires_at = ?1 WHERE id = ?2",
            };
            let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(app.data_dir().join("dockyard.db"))
                .busy_timeout(Duration::from_secs(10))
                .connect()
                .await
                .expect("open the app's SQLite database");
            let result = sqlx::query(statement).bind(past).bind(id).execute(&mut connection).await.expect("update");
            connection.close().await.expect("close");
            result.rows_affected()
        }
    };
    assert_eq!(affected, 1, "exactly one row expired");
}

/// Runs the CLI with no standard input; answers (success, stdout, stderr).
fn run_cli_without_stdin(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let output = app.cli(args).stdin(Stdio::null()).output().expect("run the CLI");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The users `dockyard user list --json` prints.
fn cli_users(app: &TestApp) -> Vec<Value> {
    let (ok, stdout, stderr) = run_cli_without_stdin(app, &["user", "list", "--json"]);
    assert!(ok, "user list failed: {stderr}");
    let users: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("user list --json is JSON ({error}): {stdout}"));
    users.as_array().expect("a JSON array").clone()
}

// ---------------------------------------------------------------------------
// 1. Login throttling and the audit trail of logins
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_account_is_locked_after_too_many_failures_even_for_the_right_password() {
    // Arrange
    let app = spawn_app_with(&THROTTLE_ENV).await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;

    // Act
    let mut failures = Vec::new();
    for _ in 0..3 {
        failures.push(try_login(&app, ALICE, WRONG_PASSWORD).await);
    }
    let locked = try_login(&app, ALICE, PASSWORD).await;

    // Assert
    for failure in &failures {
        assert_problem(failure, 401, "invalid_credentials");
    }
    assert_problem(&locked, 429, "too_many_attempts");
    let seconds = retry_after_secs(&locked);
    assert!(seconds <= 600, "Retry-After stays within the 600 s window, got {seconds}");
    assert!(locked.header("set-cookie").is_none(), "a throttled login sets no cookie");
    let other_account = try_login(&app, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(other_account.status, 200, "another account from the same IP is unaffected: {}", other_account.body);
    assert_problem(&try_login(&app, ALICE, PASSWORD).await, 429, "too_many_attempts");
}

#[tokio::test]
async fn the_account_throttle_counts_every_spelling_of_the_same_email() {
    // Arrange
    let app = spawn_app_with(&THROTTLE_ENV).await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;

    // Act
    for spelling in ["Alice@Example.com", "  alice@example.com  ", "ALICE@EXAMPLE.COM"] {
        assert_problem(&try_login(&app, spelling, WRONG_PASSWORD).await, 401, "invalid_credentials");
    }
    let locked = try_login(&app, ALICE, PASSWORD).await;

    // Assert
    assert_problem(&locked, 429, "too_many_attempts");
    retry_after_secs(&locked);
}

#[tokio::test]
async fn a_successful_login_resets_the_account_failure_count() {
    // Arrange
    let app = spawn_app_with(&THROTTLE_ENV).await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    for _ in 0..2 {
        assert_problem(&try_login(&app, ALICE, WRONG_PASSWORD).await, 401, "invalid_credentials");
    }
    assert_eq!(try_login(&app, ALICE, PASSWORD).await.status, 200);

    // Act: two more failures; without the reset this would be the fourth.
    for _ in 0..2 {
        assert_problem(&try_login(&app, ALICE, WRONG_PASSWORD).await, 401, "invalid_credentials");
    }
    let again = try_login(&app, ALICE, PASSWORD).await;

    // Assert
    assert_eq!(again.status, 200, "{}", again.body);
}

#[tokio::test]
async fn the_per_ip_throttle_blocks_every_account_once_the_ip_limit_is_reached() {
    // Arrange: per account 3, per IP 5.
    let app = spawn_app_with(&THROTTLE_ENV).await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    create_user(&admin, BOB).await;
    for _ in 0..3 {
        assert_problem(&try_login(&app, ALICE, WRONG_PASSWORD).await, 401, "invalid_credentials");
    }
    assert_problem(&try_login(&app, ALICE, PASSWORD).await, 429, "too_many_attempts");

    // Act & Assert: Bob is unaffected until the IP has 5 failures in all.
    assert_eq!(try_login(&app, BOB, PASSWORD).await.status, 200, "below the IP limit another account signs in");
    for _ in 0..2 {
        assert_problem(&try_login(&app, BOB, WRONG_PASSWORD).await, 401, "invalid_credentials");
    }
    for (email, password) in [(BOB, PASSWORD), (ADMIN_EMAIL, PASSWORD), ("nobody@example.com", PASSWORD)] {
        let blocked = try_login(&app, email, password).await;
        assert_problem(&blocked, 429, "too_many_attempts");
        let seconds = retry_after_secs(&blocked);
        assert!(seconds <= 600, "{seconds}");
        assert!(blocked.header("set-cookie").is_none());
    }
}

#[tokio::test]
async fn concurrent_wrong_guesses_cannot_exceed_the_per_account_failure_limit() {
    // Arrange: 3 failures per account; the per-IP limit is out of the way.
    let app = spawn_app_with(&[
        ("DOCKYARD_AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
        ("DOCKYARD_AUTH__LOGIN_MAX_FAILURES_PER_IP", "1000"),
        ("DOCKYARD_AUTH__LOGIN_FAILURE_WINDOW_SECS", "600"),
    ])
    .await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;

    // Act: ten different guesses sent at the same moment.
    let mut attempts = tokio::task::JoinSet::new();
    for guess in 0..10 {
        let client = app.anonymous();
        attempts.spawn(async move {
            let body = json!({ "email": ALICE, "password": format!("guess number {guess}") });
            client.post("/api/v1/auth/login", &body).await
        });
    }
    let replies = attempts.join_all().await;

    // Assert: at most 3 guesses were checked against the password; the rest were throttled.
    let checked = replies.iter().filter(|reply| reply.status == 401).count();
    for reply in &replies {
        match reply.status {
            401 => assert_problem(reply, 401, "invalid_credentials"),
            _ => assert_problem(reply, 429, "too_many_attempts"),
        }
    }
    assert!(checked <= 3, "the limit is 3 failures, but {checked} of 10 concurrent guesses were checked");
    assert_problem(&try_login(&app, ALICE, PASSWORD).await, 429, "too_many_attempts");
}

#[tokio::test]
async fn a_forged_x_forwarded_for_header_does_not_dodge_the_per_ip_throttle() {
    // Arrange: the proxy header is not trusted by default; 5 failures per IP.
    let app = spawn_app_with(&THROTTLE_ENV).await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    create_user(&admin, BOB).await;
    let forged = |email: &str, password: &str, hop: usize| {
        bare_client()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{hop}"))
            .json(&json!({ "email": email, "password": password }))
    };
    for hop in 0..3 {
        assert_problem(&send(&app, forged(ALICE, WRONG_PASSWORD, hop)).await, 401, "invalid_credentials");
    }
    for hop in 3..5 {
        assert_problem(&send(&app, forged(BOB, WRONG_PASSWORD, hop)).await, 401, "invalid_credentials");
    }

    // Act
    let blocked = send(&app, forged(ADMIN_EMAIL, PASSWORD, 99)).await;

    // Assert
    assert_problem(&blocked, 429, "too_many_attempts");
    retry_after_secs(&blocked);
    let failed = admin.get("/api/v1/admin/audit?action=auth.login_failed").await;
    let items = failed.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 5, "{}", failed.body);
    assert!(items.iter().all(|event| event["ip"] == "127.0.0.1"), "the peer address is recorded: {}", failed.body);
}

#[tokio::test]
async fn failed_logins_answer_identically_whether_or_not_the_account_exists() {
    // Arrange
    let app = spawn_app().await;
    app.setup_admin().await;

    // Act
    let wrong_password = try_login(&app, ADMIN_EMAIL, WRONG_PASSWORD).await;
    let unknown_account = try_login(&app, "nobody@example.com", WRONG_PASSWORD).await;
    let not_an_email = try_login(&app, "not-an-email", WRONG_PASSWORD).await;

    // Assert
    assert_problem(&wrong_password, 401, "invalid_credentials");
    for other in [&unknown_account, &not_an_email] {
        assert_eq!(other.status, wrong_password.status);
        assert_eq!(other.json, wrong_password.json, "the body must not reveal whether the account exists");
        assert_eq!(other.header("content-type"), wrong_password.header("content-type"));
        assert_eq!(other.header("www-authenticate"), wrong_password.header("www-authenticate"));
    }
    for reply in [&wrong_password, &unknown_account, &not_an_email] {
        assert!(reply.header("set-cookie").is_none(), "a failed login sets no cookie");
    }
}

#[tokio::test]
async fn the_audit_log_records_failed_logins_with_the_tried_email_and_ip_and_successful_logins() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let alice_id = create_user(&admin, ALICE).await;

    // Act
    assert_problem(&try_login(&app, ALICE, WRONG_PASSWORD).await, 401, "invalid_credentials");
    assert_problem(&try_login(&app, "ghost@example.com", WRONG_PASSWORD).await, 401, "invalid_credentials");
    let alice = app.login(ALICE, PASSWORD).await;
    let alice_session = current_session_id(&alice).await;

    // Assert
    let failed = admin.get("/api/v1/admin/audit?action=auth.login_failed").await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    let failed = failed.json["items"].as_array().expect("items").clone();
    assert_eq!(failed.len(), 2, "{failed:?}");
    for event in &failed {
        assert_eq!(event["action"], "auth.login_failed");
        assert_eq!(event["ip"], "127.0.0.1");
        assert_eq!(event["actor_user_id"], Value::Null, "a failed login has no authenticated actor");
    }
    let mut tried: Vec<&str> =
        failed.iter().map(|event| event["actor_label"].as_str().expect("the tried e-mail")).collect();
    tried.sort_unstable();
    assert_eq!(tried, [ALICE, "ghost@example.com"]);

    let logins = admin.get("/api/v1/admin/audit?action=auth.login").await;
    assert_eq!(logins.status, 200, "{}", logins.body);
    let logins = logins.json["items"].as_array().expect("items").clone();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0]["action"], "auth.login");
    assert_eq!(logins[0]["actor_user_id"], alice_id.as_str());
    assert_eq!(logins[0]["ip"], "127.0.0.1");
    assert_eq!(logins[0]["target_type"], "session");
    assert_eq!(logins[0]["target_id"], alice_session.as_str());
}

#[tokio::test]
async fn throttled_logins_are_audited_as_auth_login_throttled() {
    // Arrange
    let app = spawn_app_with(&THROTTLE_ENV).await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    for _ in 0..3 {
        try_login(&app, ALICE, WRONG_PASSWORD).await;
    }

    // Act
    assert_problem(&try_login(&app, ALICE, PASSWORD).await, 429, "too_many_attempts");

    // Assert
    let throttled = admin.get("/api/v1/admin/audit?action=auth.login_throttled").await;
    assert_eq!(throttled.status, 200, "{}", throttled.body);
    let items = throttled.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", throttled.body);
    assert_eq!(items[0]["actor_label"], ALICE);
    assert_eq!(items[0]["ip"], "127.0.0.1");
}

// ---------------------------------------------------------------------------
// 2. Password policy
// ---------------------------------------------------------------------------

#[tokio::test]
async fn setup_with_a_weak_password_is_refused_with_weak_password() {
    // Arrange
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    let token = app.setup_token.clone().expect("a setup token");

    for weak in ["short", "aaaaaaaaaaaa", ADMIN_EMAIL] {
        // Act
        let reply = anonymous
            .post("/api/v1/setup", &json!({ "token": token, "email": ADMIN_EMAIL, "name": "Admin", "password": weak }))
            .await;

        // Assert
        assert_invalid(&reply, "weak_password", "password");
        assert!(reply.header("set-cookie").is_none());
    }
    assert_eq!(anonymous.get("/api/v1/setup").await.json["needs_setup"], true, "nothing was set up");
    app.setup_admin().await;
}

#[tokio::test]
async fn creating_a_user_with_a_weak_password_is_refused_with_weak_password() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;

    // Act
    let reply =
        admin.post("/api/v1/admin/users", &json!({ "email": ALICE, "name": "Alice", "password": "2short" })).await;

    // Assert
    assert_invalid(&reply, "weak_password", "password");
    let users = admin.get("/api/v1/admin/users").await;
    assert!(!users.body.contains(ALICE), "no user was created: {}", users.body);
}

#[tokio::test]
async fn changing_to_a_weak_password_is_refused_with_weak_password() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;

    // Act
    let reply =
        admin.post("/api/v1/me/password", &json!({ "current_password": PASSWORD, "new_password": "short" })).await;

    // Assert
    assert_invalid(&reply, "weak_password", "password");
    assert_eq!(try_login(&app, ADMIN_EMAIL, PASSWORD).await.status, 200, "the old password still works");
}

// ---------------------------------------------------------------------------
// 3. Sessions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_session_list_shows_each_sessions_details_and_marks_the_current_one() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    let before = Utc::now() - chrono::Duration::seconds(5);
    let laptop = login_with_agent(&app, ALICE, PASSWORD, "Laptop-Browser/1.0").await;
    login_with_agent(&app, ALICE, PASSWORD, "Phone-Browser/2.0").await;

    // Act
    let listed = sessions(&laptop).await;

    // Assert
    assert_eq!(listed.len(), 2, "{listed:?}");
    let current: Vec<&Value> = listed.iter().filter(|session| session["current"] == true).collect();
    assert_eq!(current.len(), 1, "{listed:?}");
    assert_eq!(current[0]["user_agent"], "Laptop-Browser/1.0");
    let other = listed.iter().find(|session| session["current"] == false).expect("the other session");
    assert_eq!(other["user_agent"], "Phone-Browser/2.0");
    for session in &listed {
        assert!(session["id"].as_str().is_some_and(|id| !id.is_empty()), "{session}");
        assert_eq!(session["ip"], "127.0.0.1");
        let created = timestamp(&session["created_at"]);
        let last_seen = timestamp(&session["last_seen_at"]);
        let expires = timestamp(&session["expires_at"]);
        assert!(created >= before && created <= Utc::now(), "{session}");
        assert!(last_seen >= created, "{session}");
        assert!(expires > Utc::now() + chrono::Duration::days(13), "the default TTL is 14 days: {session}");
        assert!(session.get("token_hash").is_none(), "no secret material is listed: {session}");
    }
}

#[tokio::test]
async fn revoking_another_session_signs_that_client_out() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    let laptop = app.login(ALICE, PASSWORD).await;
    let phone = app.login(ALICE, PASSWORD).await;
    let phone_session = current_session_id(&phone).await;

    // Act
    let revoked = laptop.delete(&format!("/api/v1/me/sessions/{phone_session}")).await;

    // Assert
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    assert_problem(&phone.get("/api/v1/me").await, 401, "session_expired");
    assert_eq!(laptop.get("/api/v1/me").await.status, 200);
    let left = sessions(&laptop).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["current"], true);
    assert_problem(&laptop.delete(&format!("/api/v1/me/sessions/{phone_session}")).await, 404, "not_found");
}

#[tokio::test]
async fn revoking_someone_elses_session_answers_not_found_and_leaves_it_alive() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let (alice, _) = app.user(&admin, ALICE).await;
    let (bob, _) = app.user(&admin, BOB).await;
    let bob_session = current_session_id(&bob).await;

    // Act
    let reply = alice.delete(&format!("/api/v1/me/sessions/{bob_session}")).await;
    let garbage = alice.delete("/api/v1/me/sessions/not-a-session-id").await;

    // Assert
    assert_problem(&reply, 404, "not_found");
    assert_problem(&garbage, 404, "not_found");
    assert_eq!(bob.get("/api/v1/me").await.status, 200, "Bob's session survives");
}

#[tokio::test]
async fn logout_clears_the_cookie_and_the_old_cookie_no_longer_works() {
    // Arrange
    let app = spawn_app().await;
    app.setup_admin().await;
    let value = session_cookie(&app, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(me_with_cookie(&app, &value).await.status, 200);

    // Act
    let logout = send(
        &app,
        bare_client().post(app.url("/api/v1/auth/logout")).header("cookie", cookie(&value)).header("origin", &app.base),
    )
    .await;

    // Assert
    assert_eq!(logout.status, 204, "{}", logout.body);
    let cleared = logout.header("set-cookie").expect("the cookie is cleared");
    assert!(cleared.starts_with("dockyard_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/"), "{cleared}");
    assert_problem(&me_with_cookie(&app, &value).await, 401, "session_expired");
    let again = send(
        &app,
        bare_client().post(app.url("/api/v1/auth/logout")).header("cookie", cookie(&value)).header("origin", &app.base),
    )
    .await;
    assert_problem(&again, 401, "session_expired");
}

#[tokio::test]
async fn a_browser_that_logged_out_is_no_longer_signed_in() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;

    // Act
    let logout = admin.post("/api/v1/auth/logout", &json!({})).await;

    // Assert
    assert_eq!(logout.status, 204, "{}", logout.body);
    assert_problem(&admin.get("/api/v1/me").await, 401, "unauthenticated");
    assert_problem(&app.anonymous().post("/api/v1/auth/logout", &json!({})).await, 401, "unauthenticated");
}

#[tokio::test]
async fn an_expired_session_is_refused_with_session_expired_and_no_longer_listed() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let other = app.login(ADMIN_EMAIL, PASSWORD).await;
    let session = current_session_id(&admin).await;
    assert_eq!(sessions(&other).await.len(), 2);

    // Act: the session's lifetime passes.
    expire_in_database(&app, Expiring::Session, &session).await;

    // Assert
    assert_problem(&admin.get("/api/v1/me").await, 401, "session_expired");
    let left = sessions(&other).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["current"], true);
}

#[tokio::test]
async fn changing_the_password_signs_out_every_other_session_but_keeps_the_current_one() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    let laptop = app.login(ALICE, PASSWORD).await;
    let phone = app.login(ALICE, PASSWORD).await;
    let tablet = app.login(ALICE, PASSWORD).await;

    // Act
    let changed = laptop
        .post("/api/v1/me/password", &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
        .await;

    // Assert
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json["sessions_revoked"], 2);
    assert_problem(&phone.get("/api/v1/me").await, 401, "session_expired");
    assert_problem(&tablet.get("/api/v1/me").await, 401, "session_expired");
    assert_eq!(laptop.get("/api/v1/me").await.status, 200, "the current session keeps working");
    assert_eq!(sessions(&laptop).await.len(), 1);
    assert_problem(&try_login(&app, ALICE, PASSWORD).await, 401, "invalid_credentials");
    assert_eq!(try_login(&app, ALICE, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn changing_the_password_with_a_wrong_current_password_is_refused_with_wrong_password() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    let laptop = app.login(ALICE, PASSWORD).await;
    let phone = app.login(ALICE, PASSWORD).await;

    // Act
    let reply = laptop
        .post("/api/v1/me/password", &json!({ "current_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD }))
        .await;

    // Assert
    assert_invalid(&reply, "wrong_password", "current_password");
    assert_eq!(phone.get("/api/v1/me").await.status, 200, "no session was revoked");
    assert_eq!(try_login(&app, ALICE, PASSWORD).await.status, 200, "the password did not change");
    assert_problem(&try_login(&app, ALICE, NEW_PASSWORD).await, 401, "invalid_credentials");
}

// ---------------------------------------------------------------------------
// 4. API tokens
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_new_token_is_shown_once_and_listed_without_its_secret() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;

    // Act
    let created =
        create_token(&admin, &json!({ "name": "ci", "scopes": ["read", "write"], "expires_in_days": 30 })).await;

    // Assert
    let secret = created["token"].as_str().expect("the secret").to_owned();
    assert!(secret.starts_with("dyt_"), "{secret}");
    assert!(secret.len() > 40, "the secret carries real entropy: {secret}");
    assert_eq!(created["name"], "ci");
    assert_eq!(created["scope"], "write", "the broadest requested scope wins");
    assert_eq!(created["last_used_at"], Value::Null);
    assert_eq!(created["revoked_at"], Value::Null);
    let id = created["id"].as_str().expect("token id").to_owned();
    let prefix = created["prefix"].as_str().expect("prefix").to_owned();
    assert!(secret.starts_with(&prefix) && prefix.len() > "dyt_".len() && prefix.len() < secret.len(), "{prefix}");

    let listing = admin.get("/api/v1/tokens").await;
    assert_eq!(listing.status, 200);
    assert!(!listing.body.contains(&secret), "the listing never contains the secret");
    let listed = listed_token(&admin, &id).await;
    assert_eq!(listed["prefix"], prefix.as_str());
    assert_eq!(listed["scope"], "write");
    assert_eq!(listed["name"], "ci");
    assert_eq!(listed["last_used_at"], Value::Null, "unused so far");
    assert!(listed.get("token").is_none(), "{listed}");
}

#[tokio::test]
async fn a_token_works_as_a_bearer_and_records_when_it_was_last_used() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let created = create_token(&admin, &json!({ "name": "cli", "scopes": ["read"] })).await;
    let id = created["id"].as_str().expect("id");
    let secret = created["token"].as_str().expect("token");
    let before = Utc::now() - chrono::Duration::seconds(5);

    // Act
    let me = app.with_token(secret).get("/api/v1/me").await;

    // Assert
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json["email"], ADMIN_EMAIL);
    let listed = listed_token(&admin, id).await;
    let last_used = timestamp(&listed["last_used_at"]);
    assert!(last_used >= before && last_used <= Utc::now() + chrono::Duration::seconds(5), "{listed}");
    assert_eq!(listed["expires_at"], Value::Null, "no expiry was asked for");
}

#[tokio::test]
async fn a_revoked_token_is_refused_with_invalid_token() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let created = create_token(&admin, &json!({ "name": "temp", "scopes": ["read"] })).await;
    let id = created["id"].as_str().expect("id");
    let bearer = app.with_token(created["token"].as_str().expect("token"));
    assert_eq!(bearer.get("/api/v1/me").await.status, 200);

    // Act
    let revoked = admin.delete(&format!("/api/v1/tokens/{id}")).await;

    // Assert
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    assert_problem(&bearer.get("/api/v1/me").await, 401, "invalid_token");
    assert!(!listed_token(&admin, id).await["revoked_at"].is_null(), "the listing shows the revocation");
    assert_problem(&admin.delete(&format!("/api/v1/tokens/{id}")).await, 404, "not_found");
}

#[tokio::test]
async fn revoking_someone_elses_token_answers_not_found_and_leaves_it_working() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let (alice, _) = app.user(&admin, ALICE).await;
    let created = create_token(&admin, &json!({ "name": "admin's", "scopes": ["read"] })).await;
    let id = created["id"].as_str().expect("id");

    // Act
    let reply = alice.delete(&format!("/api/v1/tokens/{id}")).await;

    // Assert
    assert_problem(&reply, 404, "not_found");
    assert_eq!(app.with_token(created["token"].as_str().expect("token")).get("/api/v1/me").await.status, 200);
}

#[tokio::test]
async fn unknown_and_garbage_bearer_tokens_are_refused_with_invalid_token() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let real = token(&admin, &["read"]).await;
    let last = if real.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}{last}", &real[..real.len() - 1]);

    for bearer in ["dyt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "garbage", tampered.as_str()] {
        // Act
        let reply = app.with_token(bearer).get("/api/v1/me").await;

        // Assert
        assert_problem(&reply, 401, "invalid_token");
    }
}

#[tokio::test]
async fn token_lifetimes_outside_1_to_3650_days_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;

    for days in [0, 3651, 5000] {
        // Act
        let reply =
            admin.post("/api/v1/tokens", &json!({ "name": "bad", "scopes": ["read"], "expires_in_days": days })).await;

        // Assert
        assert_invalid(&reply, "out_of_range", "expires_in_days");
    }
    let negative =
        admin.post("/api/v1/tokens", &json!({ "name": "bad", "scopes": ["read"], "expires_in_days": -1 })).await;
    assert_problem(&negative, 422, "invalid_body");
    let listing = admin.get("/api/v1/tokens").await;
    assert_eq!(listing.json, json!([]), "no token was created");
    create_token(&admin, &json!({ "name": "longest", "scopes": ["read"], "expires_in_days": 3650 })).await;
}

#[tokio::test]
async fn a_token_created_for_one_day_expires_one_day_later() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let before = Utc::now();

    // Act
    let created = create_token(&admin, &json!({ "name": "day", "scopes": ["read"], "expires_in_days": 1 })).await;

    // Assert
    let expires = timestamp(&created["expires_at"]);
    let after = Utc::now();
    assert!(expires >= before + chrono::Duration::days(1) - chrono::Duration::seconds(1), "{expires}");
    assert!(expires <= after + chrono::Duration::days(1) + chrono::Duration::seconds(1), "{expires}");
}

#[tokio::test]
async fn an_expired_token_is_refused_with_invalid_token() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let created =
        create_token(&admin, &json!({ "name": "short-lived", "scopes": ["read"], "expires_in_days": 1 })).await;
    let id = created["id"].as_str().expect("id");
    let bearer = app.with_token(created["token"].as_str().expect("token"));
    assert_eq!(bearer.get("/api/v1/me").await.status, 200, "valid before it expires");

    // Act: a day passes.
    expire_in_database(&app, Expiring::Token, id).await;

    // Assert
    assert_problem(&bearer.get("/api/v1/me").await, 401, "invalid_token");
    assert!(timestamp(&listed_token(&admin, id).await["expires_at"]) < Utc::now());
}

#[tokio::test]
async fn the_cli_creates_a_token_that_works_against_the_running_server() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let (_alice, alice_id) = app.user(&admin, ALICE).await;
    let before = Utc::now();

    // Act
    let (ok, stdout, stderr) = run_cli_without_stdin(
        &app,
        &["token", "create", "--email", ALICE, "--name", "deploy-bot", "--scope", "read", "--expires-in-days", "1"],
    );

    // Assert
    assert!(ok, "token create failed: {stderr}");
    let secret = stdout.trim();
    assert!(secret.starts_with("dyt_"), "stdout is the secret alone: {stdout:?}");
    let bearer = app.with_token(secret);
    let me = bearer.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json["id"], alice_id.as_str());
    assert_problem(&bearer.patch("/api/v1/me", &json!({ "name": "Renamed" })).await, 403, "insufficient_scope");

    let alice = app.login(ALICE, PASSWORD).await;
    let listing = alice.get("/api/v1/tokens").await;
    let tokens = listing.json.as_array().expect("tokens");
    assert_eq!(tokens.len(), 1, "{}", listing.body);
    assert_eq!(tokens[0]["name"], "deploy-bot");
    assert_eq!(tokens[0]["scope"], "read");
    assert!(secret.starts_with(tokens[0]["prefix"].as_str().expect("prefix")));
    let expires = timestamp(&tokens[0]["expires_at"]);
    assert!(expires >= before + chrono::Duration::days(1) - chrono::Duration::seconds(1), "{expires}");
    assert!(expires <= Utc::now() + chrono::Duration::days(1) + chrono::Duration::seconds(1), "{expires}");
}

#[tokio::test]
async fn the_cli_refuses_to_create_a_token_with_an_invalid_lifetime_or_for_an_unknown_user() {
    // Arrange
    let app = spawn_app().await;
    app.setup_admin().await;

    // Act
    let zero_days = run_cli_without_stdin(
        &app,
        &["token", "create", "--email", ADMIN_EMAIL, "--name", "x", "--expires-in-days", "0"],
    );
    let bad_scope =
        run_cli_without_stdin(&app, &["token", "create", "--email", ADMIN_EMAIL, "--name", "x", "--scope", "root"]);
    let nobody = run_cli_without_stdin(&app, &["token", "create", "--email", "nobody@example.com", "--name", "x"]);

    // Assert
    for (ok, stdout, stderr) in [&zero_days, &bad_scope, &nobody] {
        assert!(!ok, "must fail; stdout: {stdout} stderr: {stderr}");
        assert!(!stdout.contains("dyt_"), "no token printed: {stdout}");
    }
    assert!(nobody.2.contains("nobody@example.com"), "{}", nobody.2);
}

// ---------------------------------------------------------------------------
// 5. Token scopes narrow roles
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_read_token_cannot_create_a_project_even_for_an_org_owner() {
    // Arrange
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let reader = app.with_token(&token(&admin, &["read"]).await);

    // Act
    let reply = reader.post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": "Nope" })).await;

    // Assert
    assert_problem(&reply, 403, "insufficient_scope");
    let listing = reader.get(&format!("/api/v1/orgs/{org}/projects")).await;
    assert_eq!(listing.status, 200, "reading is within the scope: {}", listing.body);
    assert_eq!(listing.json["items"], json!([]));
}

#[tokio::test]
async fn a_write_token_can_create_a_project_but_not_a_token() {
    // Arrange
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let writer = app.with_token(&token(&admin, &["write"]).await);

    // Act
    let project = writer.post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": "Shipped" })).await;
    let new_token = writer.post("/api/v1/tokens", &json!({ "name": "child", "scopes": ["read"] })).await;

    // Assert
    assert_eq!(project.status, 201, "{}", project.body);
    assert_problem(&new_token, 403, "insufficient_scope");
    assert_problem(&writer.get("/api/v1/tokens").await, 403, "insufficient_scope");
}

#[tokio::test]
async fn no_token_can_create_a_token_broader_than_itself() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let reader = app.with_token(&token(&admin, &["read"]).await);
    let writer = app.with_token(&token(&admin, &["write"]).await);
    let administrator = app.with_token(&token(&admin, &["admin"]).await);

    // Act
    let read_to_write = reader.post("/api/v1/tokens", &json!({ "name": "up", "scopes": ["write"] })).await;
    let read_to_read = reader.post("/api/v1/tokens", &json!({ "name": "same", "scopes": ["read"] })).await;
    let write_to_admin = writer.post("/api/v1/tokens", &json!({ "name": "up", "scopes": ["admin"] })).await;
    let admin_to_admin = administrator.post("/api/v1/tokens", &json!({ "name": "same", "scopes": ["admin"] })).await;
    let admin_to_read = administrator.post("/api/v1/tokens", &json!({ "name": "down", "scopes": ["read"] })).await;

    // Assert
    assert_problem(&read_to_write, 403, "insufficient_scope");
    assert_problem(&read_to_read, 403, "insufficient_scope");
    assert_problem(&write_to_admin, 403, "insufficient_scope");
    assert_eq!(admin_to_admin.status, 201, "{}", admin_to_admin.body);
    assert_eq!(admin_to_read.status, 201, "{}", admin_to_read.body);
    let child = app.with_token(admin_to_read.json["token"].as_str().expect("token"));
    assert_eq!(child.get("/api/v1/me").await.status, 200);
    assert_problem(
        &child.post("/api/v1/tokens", &json!({ "name": "x", "scopes": ["read"] })).await,
        403,
        "insufficient_scope",
    );
}

// ---------------------------------------------------------------------------
// 6. CSRF
// ---------------------------------------------------------------------------

#[tokio::test]
async fn cookie_requests_with_a_foreign_origin_are_refused_as_cross_site() {
    // Arrange
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let token_id = create_token(&admin, &json!({ "name": "keep", "scopes": ["read"] })).await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Act
    let post = admin
        .send(
            admin
                .inner
                .post(admin.url(&format!("/api/v1/orgs/{org}/projects")))
                .header("origin", EVIL_ORIGIN)
                .json(&json!({ "name": "Evil" })),
        )
        .await;
    let patch = admin
        .send(
            admin.inner.patch(admin.url("/api/v1/me")).header("origin", EVIL_ORIGIN).json(&json!({ "name": "Pwned" })),
        )
        .await;
    let delete = admin
        .send(admin.inner.delete(admin.url(&format!("/api/v1/tokens/{token_id}"))).header("origin", EVIL_ORIGIN))
        .await;

    // Assert
    for reply in [&post, &patch, &delete] {
        assert_problem(reply, 403, "csrf_origin_mismatch");
    }
    assert_eq!(admin.get(&format!("/api/v1/orgs/{org}/projects")).await.json["items"], json!([]));
    assert_eq!(admin.get("/api/v1/me").await.json["name"], "Admin");
    assert_eq!(listed_token(&admin, &token_id).await["revoked_at"], Value::Null);
}

#[tokio::test]
async fn cookie_requests_without_origin_or_referer_are_refused_but_a_same_site_referer_passes() {
    // Arrange
    let app = spawn_app().await;
    app.setup_admin().await;
    let value = session_cookie(&app, ADMIN_EMAIL, PASSWORD).await;
    let patch = |name: &str| {
        bare_client().patch(app.url("/api/v1/me")).header("cookie", cookie(&value)).json(&json!({ "name": name }))
    };

    // Act
    let bare = send(&app, patch("No Origin")).await;
    let null_origin = send(&app, patch("Null Origin").header("origin", "null")).await;
    let foreign_referer = send(&app, patch("Foreign").header("referer", format!("{EVIL_ORIGIN}/attack"))).await;
    let same_site_referer =
        send(&app, patch("Same Site").header("referer", format!("{}/settings/profile?tab=1", app.base))).await;

    // Assert
    assert_problem(&bare, 403, "csrf_origin_mismatch");
    assert_problem(&null_origin, 403, "csrf_origin_mismatch");
    assert_problem(&foreign_referer, 403, "csrf_origin_mismatch");
    assert_eq!(same_site_referer.status, 200, "{}", same_site_referer.body);
    assert_eq!(me_with_cookie(&app, &value).await.json["name"], "Same Site");
}

#[tokio::test]
async fn bearer_token_requests_are_immune_to_the_origin_check() {
    // Arrange
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let bearer = app.with_token(&token(&admin, &["admin"]).await);

    // Act
    let post = bearer
        .send(
            bearer
                .inner
                .post(bearer.url(&format!("/api/v1/orgs/{org}/projects")))
                .header("origin", EVIL_ORIGIN)
                .json(&json!({ "name": "From CI" })),
        )
        .await;
    let patch = bearer
        .send(
            bearer.inner.patch(bearer.url("/api/v1/me")).header("origin", EVIL_ORIGIN).json(&json!({ "name": "Bot" })),
        )
        .await;

    // Assert
    assert_eq!(post.status, 201, "{}", post.body);
    assert_eq!(patch.status, 200, "{}", patch.body);
}

#[tokio::test]
async fn login_and_setup_with_a_foreign_origin_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    let setup_token = app.setup_token.clone().expect("a setup token");

    // Act
    let setup =
        anonymous
            .send(
                anonymous.inner.post(anonymous.url("/api/v1/setup")).header("origin", EVIL_ORIGIN).json(
                    &json!({ "token": setup_token, "email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD }),
                ),
            )
            .await;

    // Assert
    assert_problem(&setup, 403, "csrf_origin_mismatch");
    assert_eq!(anonymous.get("/api/v1/setup").await.json["needs_setup"], true);

    // Arrange
    app.setup_admin().await;

    // Act
    let login = anonymous
        .send(
            anonymous
                .inner
                .post(anonymous.url("/api/v1/auth/login"))
                .header("origin", EVIL_ORIGIN)
                .json(&json!({ "email": ADMIN_EMAIL, "password": PASSWORD })),
        )
        .await;
    let non_browser = send(
        &app,
        bare_client().post(app.url("/api/v1/auth/login")).json(&json!({ "email": ADMIN_EMAIL, "password": PASSWORD })),
    )
    .await;

    // Assert
    assert_problem(&login, 403, "csrf_origin_mismatch");
    assert!(login.header("set-cookie").is_none(), "no session for a cross-site login");
    assert_eq!(
        non_browser.status, 200,
        "a client naming no origin and holding no cookie may sign in: {}",
        non_browser.body
    );
}

// ---------------------------------------------------------------------------
// 7. Request rate limits
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_burst_of_requests_by_one_user_is_rate_limited_without_affecting_others() {
    // Arrange
    let app = spawn_app_with(&[
        ("DOCKYARD_RATE_LIMIT__PER_USER_PER_SECOND", "1"),
        ("DOCKYARD_RATE_LIMIT__PER_USER_BURST", "3"),
    ])
    .await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, BOB).await;
    let bob = app.login(BOB, PASSWORD).await;

    // Act
    let mut replies = Vec::new();
    for _ in 0..20 {
        replies.push(admin.get("/api/v1/me").await);
    }

    // Assert
    let limited: Vec<&Reply> = replies.iter().filter(|reply| reply.status == 429).collect();
    assert!(!limited.is_empty(), "a burst of 20 over a burst allowance of 3 is limited");
    for reply in &replies {
        assert!(reply.status == 200 || reply.status == 429, "{}", reply.body);
    }
    for reply in limited {
        assert_problem(reply, 429, "rate_limited");
        retry_after_secs(reply);
    }
    assert_eq!(bob.get("/api/v1/me").await.status, 200, "the limit is per user");
}

#[tokio::test]
async fn healthz_is_never_limited_by_the_per_ip_rate_limit() {
    // Arrange
    let app =
        spawn_app_with(&[("DOCKYARD_RATE_LIMIT__PER_IP_PER_SECOND", "1"), ("DOCKYARD_RATE_LIMIT__PER_IP_BURST", "2")])
            .await;
    let anonymous = app.anonymous();

    // Act
    let mut health = Vec::new();
    for _ in 0..30 {
        health.push(anonymous.get("/healthz").await.status);
    }
    let mut limited = None;
    for _ in 0..20 {
        let reply = anonymous.get("/api/v1/setup").await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
    }

    // Assert
    assert!(health.iter().all(|status| *status == 200), "{health:?}");
    let limited = limited.expect("other routes are limited per IP");
    assert_problem(&limited, 429, "rate_limited");
    retry_after_secs(&limited);
    assert_eq!(anonymous.get("/healthz").await.status, 200, "still healthy while the IP is limited");
    assert_eq!(anonymous.get("/readyz").await.status, 200, "readiness is exempt too");
}

// ---------------------------------------------------------------------------
// 8. The user CLI against a running server
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_cli_creates_a_user_from_a_password_on_stdin_who_can_then_sign_in() {
    // Arrange
    let app = spawn_app().await;
    app.setup_admin().await;

    // Act
    let (ok, stdout, stderr) = app.run_cli(
        &["user", "create", "--email", "Carol@Example.com", "--name", "Carol", "--password-stdin"],
        "carol's secret pass\n",
    );

    // Assert
    assert!(ok, "user create failed: {stderr}");
    assert!(stdout.contains("carol@example.com"), "{stdout}");
    let carol = app.login("carol@example.com", "carol's secret pass").await;
    let me = carol.get("/api/v1/me").await;
    assert_eq!(me.json["email"], "carol@example.com");
    assert_eq!(me.json["name"], "Carol");
    assert_eq!(me.json["instance_admin"], false);
}

#[tokio::test]
async fn the_cli_never_takes_a_password_from_the_command_line() {
    // Arrange
    let app = spawn_app().await;
    app.setup_admin().await;

    // Act
    let as_argument = run_cli_without_stdin(
        &app,
        &["user", "create", "--email", "dave@example.com", "--name", "Dave", "--password", "dave's secret pass"],
    );
    let without_flag =
        run_cli_without_stdin(&app, &["user", "create", "--email", "dave@example.com", "--name", "Dave"]);
    let empty_stdin = run_cli_without_stdin(
        &app,
        &["user", "create", "--email", "dave@example.com", "--name", "Dave", "--password-stdin"],
    );
    let (weak_ok, _, weak_stderr) = app
        .run_cli(&["user", "create", "--email", "dave@example.com", "--name", "Dave", "--password-stdin"], "short\n");

    // Assert
    assert!(!as_argument.0, "a --password argument is rejected");
    assert!(as_argument.2.contains("--password"), "{}", as_argument.2);
    assert!(!without_flag.0, "--password-stdin is required");
    assert!(!empty_stdin.0, "an empty stdin is no password");
    assert!(!weak_ok, "the password policy applies to the CLI too");
    assert!(weak_stderr.contains("at least"), "{weak_stderr}");
    let users = cli_users(&app);
    assert!(users.iter().all(|user| user["email"] != "dave@example.com"), "{users:?}");
}

#[tokio::test]
async fn the_cli_lists_users_as_json() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let alice_id = create_user(&admin, ALICE).await;

    // Act
    let users = cli_users(&app);

    // Assert
    assert_eq!(users.len(), 2, "{users:?}");
    let admin_row = users.iter().find(|user| user["email"] == ADMIN_EMAIL).expect("the admin is listed");
    assert_eq!(admin_row["instance_admin"], true);
    let alice = users.iter().find(|user| user["email"] == ALICE).expect("Alice is listed");
    assert_eq!(alice["id"], alice_id.as_str());
    assert_eq!(alice["name"], ALICE);
    assert_eq!(alice["instance_admin"], false);
    timestamp(&alice["created_at"]);
}

#[tokio::test]
async fn the_cli_makes_a_signed_in_user_an_instance_admin() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let (alice, _) = app.user(&admin, ALICE).await;
    assert_eq!(alice.get("/api/v1/me").await.json["instance_admin"], false);
    assert_problem(&alice.get("/api/v1/admin/users").await, 403, "forbidden");

    // Act
    let (ok, stdout, stderr) = run_cli_without_stdin(&app, &["user", "set-admin", "--email", ALICE]);

    // Assert
    assert!(ok, "set-admin failed: {stderr}");
    assert!(stdout.contains(ALICE), "{stdout}");
    assert_eq!(alice.get("/api/v1/me").await.json["instance_admin"], true, "the existing session sees the new flag");
    assert_eq!(alice.get("/api/v1/admin/users").await.status, 200);
    let (ok, _, stderr) = run_cli_without_stdin(&app, &["user", "set-admin", "--email", "nobody@example.com"]);
    assert!(!ok, "an unknown user is an error");
    assert!(stderr.contains("nobody@example.com"), "{stderr}");
}

#[tokio::test]
async fn the_cli_password_reset_signs_the_user_out_everywhere_and_the_new_password_works() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    create_user(&admin, ALICE).await;
    let first = session_cookie(&app, ALICE, PASSWORD).await;
    let second = app.login(ALICE, PASSWORD).await;

    // Act
    let (ok, stdout, stderr) =
        app.run_cli(&["user", "reset-password", "--email", ALICE, "--password-stdin"], &format!("{NEW_PASSWORD}\n"));

    // Assert
    assert!(ok, "reset-password failed: {stderr}");
    assert!(stdout.contains("2 sessions signed out"), "{stdout}");
    assert_problem(&me_with_cookie(&app, &first).await, 401, "session_expired");
    assert_problem(&second.get("/api/v1/me").await, 401, "session_expired");
    assert_problem(&try_login(&app, ALICE, PASSWORD).await, 401, "invalid_credentials");
    assert_eq!(try_login(&app, ALICE, NEW_PASSWORD).await.status, 200);
    assert_eq!(admin.get("/api/v1/me").await.status, 200, "other users stay signed in");
}

#[tokio::test]
async fn changing_the_password_needs_a_session_or_an_admin_scoped_token() {
    // Arrange
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let write_token = app.with_token(&token(&admin, &["write"]).await);
    let admin_token = app.with_token(&token(&admin, &["admin"]).await);
    let body = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });

    // Act
    let with_write = write_token.post("/api/v1/me/password", &body).await;
    let with_admin = admin_token.post("/api/v1/me/password", &body).await;

    // Assert
    assert_eq!((with_write.status, with_write.code()), (403, "insufficient_scope"), "{}", with_write.body);
    assert_eq!(with_admin.status, 200, "{}", with_admin.body);
    app.login(ADMIN_EMAIL, NEW_PASSWORD).await;
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_like_login() {
    // Arrange: 3 failures per account.
    let app = spawn_app_with(&[("DOCKYARD_AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    let (admin, _) = app.setup_admin().await;
    let guess = json!({ "current_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD });

    // Act
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(admin.post("/api/v1/me/password", &guess).await.status);
    }
    let right_but_throttled =
        admin.post("/api/v1/me/password", &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })).await;

    // Assert
    assert_eq!(statuses, [422, 422, 422, 429]);
    assert_eq!((right_but_throttled.status, right_but_throttled.code()), (429, "too_many_attempts"));
    assert!(right_but_throttled.header("retry-after").is_some());
}
