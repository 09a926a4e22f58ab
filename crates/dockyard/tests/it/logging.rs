//! Logs are structured and never carry secrets.

use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, PASSWORD, spawn_app_with, token};

#[tokio::test]
async fn json_logs_at_debug_level_never_contain_passwords_tokens_or_cookies() {
    let app = spawn_app_with(&[("DOCKYARD_LOG_FORMAT", "json"), ("DOCKYARD_LOG_LEVEL", "debug")]).await;
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
