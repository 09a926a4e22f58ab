//! First-run setup, login, sessions and passwords.

use serde_json::json;

use crate::support::{ADMIN_EMAIL, PASSWORD, spawn_app};

#[tokio::test]
async fn setup_creates_the_first_admin_once_and_signs_them_in() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    assert_eq!(anonymous.get("/api/v1/setup").await.json["needs_setup"], true);

    let wrong = anonymous
        .post("/api/v1/setup", &json!({ "token": "nope", "email": ADMIN_EMAIL, "name": "Admin", "password": PASSWORD }))
        .await;
    assert_eq!((wrong.status, wrong.code()), (403, "invalid_setup_token"));

    let (admin, org) = app.setup_admin().await;
    let me = admin.get("/api/v1/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["email"], ADMIN_EMAIL);
    assert_eq!(me.json["instance_admin"], true);
    assert_eq!(admin.get(&format!("/api/v1/orgs/{org}")).await.json["role"], "owner");

    let again = anonymous
        .post(
            "/api/v1/setup",
            &json!({ "token": app.setup_token.clone().expect("token"), "email": "b@example.com", "name": "B", "password": PASSWORD }),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "already_set_up"));
    assert_eq!(anonymous.get("/api/v1/setup").await.json["needs_setup"], false);
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    let (admin, _) = app.setup_admin().await;
    let response = admin.post("/api/v1/auth/login", &json!({ "email": ADMIN_EMAIL, "password": PASSWORD })).await;
    assert_eq!(response.status, 200);
    let cookie = response.header("set-cookie").expect("a session cookie");
    assert!(cookie.starts_with("dockyard_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http must not set Secure: {cookie}");
}

#[tokio::test]
async fn session_state_answers_200_signed_out_and_names_the_user_signed_in() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    let before = anonymous.get("/api/v1/auth/session").await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.json["needs_setup"], true);
    assert!(before.json["user"].is_null());

    let (admin, _org) = app.setup_admin().await;
    let signed_in = admin.get("/api/v1/auth/session").await;
    assert_eq!(signed_in.status, 200);
    assert_eq!(signed_in.json["needs_setup"], false);
    assert_eq!(signed_in.json["user"]["email"], ADMIN_EMAIL);

    let after_setup = anonymous.get("/api/v1/auth/session").await;
    assert_eq!((after_setup.json["needs_setup"].as_bool(), after_setup.json["user"].is_null()), (Some(false), true));

    // A bad bearer token is still "nobody", not an error page for the web app.
    let bad = app.with_token("dyt_not-a-real-token").get("/api/v1/auth/session").await;
    assert_eq!((bad.status, bad.json["user"].is_null()), (200, true));
}
