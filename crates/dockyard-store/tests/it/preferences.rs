//! Per-user preferences as stored: settings as key/JSON rows changed in one
//! transaction, layouts per user and project, cascades, and backups.

use dockyard_domain::{ProjectId, UserId};
use dockyard_store::{Store, StoreError};

use crate::{fixture, sqlite_fixture};

async fn user_and_project(store: &Store, email: &str, slug: &str) -> (UserId, ProjectId) {
    let user = store.create_user(email, "U", "hash", false).await.expect("user");
    let org = store.create_org(slug, "Org", &user.id).await.expect("org");
    let project = store.create_project(&org.id, "web", "Web", "", &user.id).await.expect("project");
    (user.id, project.id)
}

fn set(key: &str, value: &str) -> (String, Option<String>) {
    (key.to_owned(), Some(value.to_owned()))
}

#[tokio::test]
async fn settings_are_upserted_deleted_and_kept_per_user() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (alice, _) = user_and_project(store, "a@example.com", "a").await;
    let (bob, _) = user_and_project(store, "b@example.com", "b").await;
    assert!(store.user_settings(&alice).await.expect("none yet").is_empty());

    store.update_user_settings(&alice, &[set("theme", "\"light\""), set("font_size", "16")]).await.expect("set");
    store.update_user_settings(&bob, &[set("theme", "\"high-contrast\"")]).await.expect("set bob");
    store
        .update_user_settings(&alice, &[set("font_size", "18"), ("theme".to_owned(), None), set("minimap", "false")])
        .await
        .expect("change");
    assert_eq!(
        store.user_settings(&alice).await.expect("alice"),
        vec![("font_size".to_owned(), "18".to_owned()), ("minimap".to_owned(), "false".to_owned())]
    );
    assert_eq!(
        store.user_settings(&bob).await.expect("bob"),
        vec![("theme".to_owned(), "\"high-contrast\"".to_owned())]
    );
    // Deleting a setting that is not there is fine.
    store.update_user_settings(&bob, &[("word_wrap".to_owned(), None)]).await.expect("no-op delete");
}

#[tokio::test]
async fn settings_of_an_unknown_user_are_not_found_and_nothing_is_written() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let ghost = UserId::new();
    let result = store.update_user_settings(&ghost, &[set("theme", "\"dark\"")]).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert!(store.user_settings(&ghost).await.expect("read").is_empty());
}

#[tokio::test]
async fn layouts_are_per_user_and_project_and_go_with_the_project() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (alice, project) = user_and_project(store, "a@example.com", "a").await;
    let bob = store.create_user("b@example.com", "B", "hash", false).await.expect("bob").id;
    assert_eq!(store.project_layout(&alice, &project).await.expect("none"), None);

    store.set_project_layout(&alice, &project, r#"{"tabs":["a.rs"]}"#).await.expect("alice");
    store.set_project_layout(&bob, &project, r#"{"tabs":[]}"#).await.expect("bob");
    store.set_project_layout(&alice, &project, r#"{"tabs":["b.rs"]}"#).await.expect("replace");
    assert_eq!(store.project_layout(&alice, &project).await.expect("alice").as_deref(), Some(r#"{"tabs":["b.rs"]}"#));
    assert_eq!(store.project_layout(&bob, &project).await.expect("bob").as_deref(), Some(r#"{"tabs":[]}"#));

    assert!(store.delete_project_layout(&bob, &project).await.expect("delete"));
    assert!(!store.delete_project_layout(&bob, &project).await.expect("gone"));

    let missing = store.set_project_layout(&alice, &ProjectId::new(), "{}").await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

    store.delete_project(&project).await.expect("delete the project");
    assert_eq!(store.project_layout(&alice, &project).await.expect("cascaded"), None);
}

#[tokio::test]
async fn backups_carry_settings_and_layouts() {
    let source = fixture().await;
    let store = &source.store;
    let (alice, project) = user_and_project(store, "a@example.com", "a").await;
    store.update_user_settings(&alice, &[set("keybindings", r#"{"editor.save":"ctrl+s"}"#)]).await.expect("set");
    store.set_project_layout(&alice, &project, r#"{"sidebar":240}"#).await.expect("layout");
    let dump_dir = source.dir.join("dump");
    let manifest = store.dump(&dump_dir).await.expect("dump");
    for table in ["user_settings", "project_layouts"] {
        assert_eq!(manifest.tables.iter().find(|dumped| dumped.name == table).map(|dumped| dumped.rows), Some(1));
    }
    for target in [fixture().await, sqlite_fixture().await] {
        target.store.load(&dump_dir, &manifest, false).await.expect("load");
        assert_eq!(
            target.store.user_settings(&alice).await.expect("settings"),
            vec![("keybindings".to_owned(), r#"{"editor.save":"ctrl+s"}"#.to_owned())]
        );
        assert_eq!(
            target.store.project_layout(&alice, &project).await.expect("layout").as_deref(),
            Some(r#"{"sidebar":240}"#)
        );
    }
}
