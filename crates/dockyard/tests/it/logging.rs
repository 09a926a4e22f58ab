//! Logs are structured and never carry secrets.

use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, PASSWORD, spawn_app_with, token};

#[tokio::test]
async fn json_logs_at_debug_level_never_contain_passwords_tokens_or_cookies() {
    let mut app = spawn_app_with(&[("DOCKYARD_LOG_FORMAT", "json"), ("DOCKYARD_LOG_LEVEL", "debug")]).await;
    let setup_token = app.setup_token.clone().expect("setup token");
    let (admin, org) = app.setup_admin().await;
    let login = admin.post("/api/v1/auth/login", &json!({ "email": ADMIN_EMAIL, "password": PASSWORD })).await;
    assert_eq!(login.status, 200);
    let cookie = login.header("set-cookie").expect("cookie").split(';').next().expect("pair").to_owned();
    let cookie_value = cookie.split_once('=').expect("name=value").1.to_owned();
    let secret = token(&admin, &["admin"]).await;
    let with_token = app.with_token(&secret);
    assert_eq!(with_token.get(&format!("/api/v1/orgs/{org}/projects?q=secret-query")).await.status, 200);
    let new_password = "another long passphrase";
    let changed =
        admin.post("/api/v1/me/password", &json!({ "current_password": PASSWORD, "new_password": new_password })).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let failed = app
        .anonymous()
        .post("/api/v1/auth/login", &json!({ "email": ADMIN_EMAIL, "password": "wrong guess 123" }))
        .await;
    assert_eq!(failed.status, 401);
    // Stopped first, so every line it logged has been written out and read.
    assert!(app.terminate().await.success());

    let logs: Vec<String> =
        app.output_text().lines().filter_map(|line| line.strip_prefix("stderr: ")).map(str::to_owned).collect();
    assert!(logs.len() > 5, "expected request logs at debug level, got {logs:?}");
    let mut request_ids = 0;
    for line in &logs {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        assert!(entry["level"].is_string(), "{line}");
        if entry["request_id"].as_str().is_some_and(|id| !id.is_empty())
            || entry["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty())
        {
            request_ids += 1;
        }
        for (what, secret) in [
            ("password", PASSWORD),
            ("new password", new_password),
            ("failed password", "wrong guess 123"),
            ("setup token", setup_token.as_str()),
            ("session cookie", cookie_value.as_str()),
            ("API token", secret.as_str()),
            ("query string", "secret-query"),
        ] {
            assert!(!line.contains(secret), "the {what} leaked into the log: {line}");
        }
    }
    assert!(request_ids > 0, "request logs carry the request id");
}

/// Access-log lines of the proxy in the captured output.
fn access_lines(app: &crate::support::TestApp) -> Vec<Value> {
    app.output_text()
        .lines()
        .filter_map(|line| line.strip_prefix("stderr: "))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["target"] == "dockyard::proxy::access")
        .collect()
}

/// Waits, up to 20 s, until the output holds `count` access lines.
async fn wait_for_access_lines(app: &crate::support::TestApp, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let lines = access_lines(app);
        if lines.len() >= count || tokio::time::Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Log lines are written by a thread of their own, in batches: a line shows up
/// while the server runs, and the lines still queued at a graceful stop are
/// written out before the process exits, one per proxied request.
#[tokio::test]
async fn access_log_lines_are_written_while_running_and_none_is_lost_at_shutdown() {
    use futures_util::StreamExt as _;
    const BURST: usize = 2000;
    let mut app = spawn_app_with(&[("DOCKYARD_LOG_FORMAT", "json"), ("DOCKYARD_LOG_LEVEL", "info")]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/first", app.proxy_base);
    let first = client.get(&url).header("host", "nothing.localhost").send().await.expect("proxy answers");
    assert_eq!(first.status(), 404);
    let lines = wait_for_access_lines(&app, 1).await;
    assert_eq!(lines.len(), 1, "the first request's line is written while the server runs: {lines:?}");
    assert_eq!(lines[0]["path"], "/first");
    assert_eq!(lines[0]["status"], 404);

    let statuses = futures_util::stream::iter(0..BURST)
        .map(|i| {
            let client = client.clone();
            let url = format!("{}/burst/{i}", app.proxy_base);
            async move { client.get(&url).header("host", "nothing.localhost").send().await.map(|r| r.status().as_u16()) }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    assert!(statuses.iter().all(|status| matches!(status, Ok(404))), "every request is answered");
    let status = app.terminate().await;
    assert!(status.success(), "graceful stop: {status:?}");

    let lines = wait_for_access_lines(&app, BURST + 1).await;
    assert_eq!(lines.len(), BURST + 1, "one access line per request, none dropped or left queued");
    let mut paths: Vec<&str> = lines.iter().filter_map(|line| line["path"].as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), BURST + 1, "each request is logged once");
    // The line logged just before the process exits is written out too.
    let output = app.output_text();
    let last = output.lines().filter_map(|line| line.strip_prefix("stderr: ")).next_back().unwrap_or_default();
    let last: Value = serde_json::from_str(last).unwrap_or_else(|_| panic!("not a JSON log line: {last}"));
    assert_eq!(last["message"], "stopped", "the last log line");
}
