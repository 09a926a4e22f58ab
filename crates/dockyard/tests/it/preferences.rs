//! Editor settings and per-project layouts through the real binary: defaults,
//! partial updates, validation with stable codes, isolation between users and
//! orgs, and the size bound of a layout.

use serde_json::{Value, json};

use crate::support::{Client, add_member, project, spawn_app};

fn defaults() -> Value {
    json!({
        "theme": "dark",
        "font_size": 14,
        "tab_size": 4,
        "insert_spaces": true,
        "word_wrap": false,
        "minimap": true,
        "autosave": "off",
        "autosave_delay_ms": 1000,
        "keybindings": {},
        "inline_completions": true
    })
}

async fn put(client: &Client, path: &str, body: &Value) -> crate::support::Reply {
    client.request("PUT", path, Some(body)).await
}

async fn put_raw(client: &Client, path: &str, body: &str) -> crate::support::Reply {
    client
        .send(client.inner.put(client.url(path)).header("content-type", "application/json").body(body.to_owned()))
        .await
}

#[tokio::test]
async fn settings_start_at_the_defaults_and_merge_partial_changes() {
    let app = spawn_app().await;
    let (admin, _org) = app.setup_admin().await;

    let fresh = admin.get("/api/v1/me/settings").await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.json, defaults());

    let changed =
        put(&admin, "/api/v1/me/settings", &json!({ "theme": "light", "font_size": 16, "inline_completions": false }))
            .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let mut expected = defaults();
    expected["theme"] = json!("light");
    expected["font_size"] = json!(16);
    expected["inline_completions"] = json!(false);
    assert_eq!(changed.json, expected);

    // A second change keeps the first.
    let bindings = json!({ "workbench.action.quickOpen": "ctrl+p", "editor.action.formatDocument": "shift+alt+f" });
    let second = put(
        &admin,
        "/api/v1/me/settings",
        &json!({ "tab_size": 2, "autosave": "after-delay", "autosave_delay_ms": 500, "keybindings": bindings }),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.body);
    expected["tab_size"] = json!(2);
    expected["autosave"] = json!("after-delay");
    expected["autosave_delay_ms"] = json!(500);
    expected["keybindings"] = bindings;
    assert_eq!(second.json, expected);
    assert_eq!(admin.get("/api/v1/me/settings").await.json, expected, "stored, not just echoed");

    // `null` puts a setting back to its default; an empty change changes nothing.
    let reset = put(&admin, "/api/v1/me/settings", &json!({ "font_size": null, "keybindings": null })).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    expected["font_size"] = json!(14);
    expected["keybindings"] = json!({});
    assert_eq!(reset.json, expected);
    assert_eq!(put(&admin, "/api/v1/me/settings", &json!({})).await.json, expected);

    // Survives a restart (it is in the database, not in memory).
    let mut app = app;
    app.terminate().await;
    app.start().await;
    let again = app.login(crate::support::ADMIN_EMAIL, crate::support::PASSWORD).await;
    assert_eq!(again.get("/api/v1/me/settings").await.json, expected);

    // Another user has their own.
    let (other, _) = app.user(&again, "other@example.com").await;
    assert_eq!(other.get("/api/v1/me/settings").await.json, defaults());
}

#[tokio::test]
async fn bad_settings_are_refused_with_stable_codes_and_change_nothing() {
    let app = spawn_app().await;
    let (admin, _org) = app.setup_admin().await;
    let saved = put(&admin, "/api/v1/me/settings", &json!({ "theme": "high-contrast" })).await;
    assert_eq!(saved.status, 200, "{}", saved.body);

    let unknown = put(&admin, "/api/v1/me/settings", &json!({ "theme": "dark", "colour": "blue" })).await;
    assert_eq!((unknown.status, unknown.code()), (400, "unknown_setting"), "{}", unknown.body);
    assert_eq!(unknown.header("content-type"), Some("application/problem+json"));
    assert!(unknown.json["detail"].as_str().unwrap_or_default().contains("colour"), "{}", unknown.body);

    let cases = [
        (json!({ "font_size": 7 }), "font_size", "setting_out_of_range"),
        (json!({ "font_size": 41 }), "font_size", "setting_out_of_range"),
        (json!({ "font_size": 12.5 }), "font_size", "setting_out_of_range"),
        (json!({ "font_size": "16" }), "font_size", "invalid_setting"),
        (json!({ "tab_size": 0 }), "tab_size", "setting_out_of_range"),
        (json!({ "tab_size": 17 }), "tab_size", "setting_out_of_range"),
        (json!({ "autosave_delay_ms": 99 }), "autosave_delay_ms", "setting_out_of_range"),
        (json!({ "autosave_delay_ms": 60001 }), "autosave_delay_ms", "setting_out_of_range"),
        (json!({ "theme": "solarized" }), "theme", "invalid_setting"),
        (json!({ "autosave": "sometimes" }), "autosave", "invalid_setting"),
        (json!({ "word_wrap": "yes" }), "word_wrap", "invalid_setting"),
        (json!({ "insert_spaces": 1 }), "insert_spaces", "invalid_setting"),
        (json!({ "minimap": [] }), "minimap", "invalid_setting"),
        (json!({ "inline_completions": "on" }), "inline_completions", "invalid_setting"),
        (json!({ "keybindings": ["ctrl+s"] }), "keybindings", "invalid_setting"),
        (json!({ "keybindings": { "save": 1 } }), "keybindings", "invalid_setting"),
        (json!({ "keybindings": { "x".repeat(201): "ctrl+x" } }), "keybindings", "keybinding_too_long"),
        (json!({ "keybindings": { "save": "k".repeat(101) } }), "keybindings", "keybinding_too_long"),
        // A valid field next to a bad one: nothing is stored.
        (json!({ "theme": "light", "font_size": 99 }), "font_size", "setting_out_of_range"),
    ];
    for (body, field, code) in cases {
        let reply = put(&admin, "/api/v1/me/settings", &body).await;
        assert_eq!((reply.status, reply.code()), (422, code), "{body}: {}", reply.body);
        assert_eq!(reply.json["field"], field, "{body}: {}", reply.body);
    }
    let many: serde_json::Map<String, Value> = (0..201).map(|n| (format!("command.{n}"), json!("ctrl+k"))).collect();
    let reply = put(&admin, "/api/v1/me/settings", &json!({ "keybindings": many })).await;
    assert_eq!((reply.status, reply.code()), (422, "too_many_keybindings"), "{}", reply.body);
    let at_most: serde_json::Map<String, Value> = (0..200).map(|n| (format!("command.{n}"), json!("ctrl+k"))).collect();
    let reply = put(&admin, "/api/v1/me/settings", &json!({ "keybindings": at_most })).await;
    assert_eq!(reply.status, 200, "200 bindings are allowed: {}", reply.body);

    // Not an object, not JSON.
    let array = put(&admin, "/api/v1/me/settings", &json!([1, 2])).await;
    assert_eq!(array.status, 422, "{}", array.body);
    let broken = put_raw(&admin, "/api/v1/me/settings", "{\"theme\":").await;
    assert_eq!(broken.status, 400, "{}", broken.body);

    let now = admin.get("/api/v1/me/settings").await;
    assert_eq!(now.json["theme"], "high-contrast", "refused changes stored nothing: {}", now.body);
    assert_eq!(now.json["font_size"], 14);
}

#[tokio::test]
async fn layouts_are_per_user_and_project_and_bounded() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Layouts").await;
    let path = format!("/api/v1/me/layouts/{project}");

    // Never saved: an empty object, not a 404.
    let empty = admin.get(&path).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.json, json!({}));

    let layout = json!({
        "version": 1,
        "groups": [{ "tabs": ["src/main.rs", "README.md"], "active": 0 }],
        "sidebar": { "width": 280, "visible": true },
        "panel": { "height": 240, "view": "terminal" }
    });
    let saved = put(&admin, &path, &layout).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(saved.json, layout);
    assert_eq!(admin.get(&path).await.json, layout);
    let replaced = put(&admin, &path, &json!({ "version": 2 })).await;
    assert_eq!(replaced.json, json!({ "version": 2 }), "a PUT replaces the whole layout");

    // A viewer of the project keeps a layout of their own.
    let (viewer, _) = app.user(&admin, "viewer@example.com").await;
    add_member(&admin, &org, "viewer@example.com", "viewer").await;
    assert_eq!(viewer.get(&path).await.json, json!({}));
    let mine = put(&viewer, &path, &json!({ "sidebar": { "width": 200 } })).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(admin.get(&path).await.json, json!({ "version": 2 }), "the admin's is untouched");

    // Someone outside the org cannot tell the project exists.
    let (outsider, _) = app.user(&admin, "outsider@example.com").await;
    let hidden = outsider.get(&path).await;
    assert_eq!((hidden.status, hidden.code()), (404, "not_found"), "{}", hidden.body);
    let hidden = put(&outsider, &path, &json!({})).await;
    assert_eq!((hidden.status, hidden.code()), (404, "not_found"), "{}", hidden.body);
    let malformed = admin.get("/api/v1/me/layouts/not-an-id").await;
    assert_eq!(malformed.status, 404, "{}", malformed.body);

    // Only objects, and at most 64 KiB of them.
    for body in [json!([1]), json!("layout"), json!(3), json!(null)] {
        let reply = put(&admin, &path, &body).await;
        assert_eq!((reply.status, reply.code()), (422, "layout_not_object"), "{body}: {}", reply.body);
    }
    let big = json!({ "blob": "x".repeat(64 * 1024) });
    let too_big = put(&admin, &path, &big).await;
    assert_eq!((too_big.status, too_big.code()), (413, "layout_too_large"), "{}", too_big.body);
    let fits = json!({ "blob": "x".repeat(64 * 1024 - 20) });
    assert_eq!(put(&admin, &path, &fits).await.status, 200, "just under 64 KiB fits");

    // Deleting the project deletes its layouts.
    let deleted = admin.delete(&format!("/api/v1/projects/{project}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(admin.get(&path).await.status, 404);
}
