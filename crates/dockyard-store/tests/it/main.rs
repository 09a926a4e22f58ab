//! The store contract: one suite, run against whichever backend the
//! environment selects (SQLite by default; PostgreSQL with
//! `DOCKYARD_TEST_DATABASE_URL`, each test in a fresh database).

mod jobs;
mod preferences;
mod secrets;
mod services;

use std::path::PathBuf;

use dockyard_domain::{ProjectId, Role};
use dockyard_store::{AuditFilter, Dialect, NewAuditEvent, PoolSettings, ProjectFilter, Store, StoreError};

/// A fresh, migrated store plus what is needed to clean it up.
struct Fixture {
    store: Store,
    dir: PathBuf,
    pg: Option<(String, String)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin_url, name)) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                runtime.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut connection) = sqlx::PgConnection::connect(&admin_url).await {
                        let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut connection).await;
                    }
                });
            })
            .join();
        }
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_lowercase())
}

async fn fixture() -> Fixture {
    let admin_url = std::env::var("DOCKYARD_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty());
    if admin_url.is_none() && std::env::var("DOCKYARD_TEST_BACKEND").as_deref() == Ok("postgres") {
        panic!("DOCKYARD_TEST_BACKEND=postgres but DOCKYARD_TEST_DATABASE_URL is not set");
    }
    fixture_for(admin_url).await
}

async fn sqlite_fixture() -> Fixture {
    fixture_for(None).await
}

async fn fixture_for(admin_url: Option<String>) -> Fixture {
    let dir = std::env::temp_dir().join(unique("dockyard-store-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (url, pg) = match admin_url {
        Some(admin_url) => {
            use sqlx::Connection;
            let name = unique("dy_store_");
            let mut connection = sqlx::PgConnection::connect(&admin_url).await.expect("connect to PostgreSQL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut connection)
                .await
                .expect("create database");
            let (prefix, _) = admin_url.rsplit_once('/').expect("admin URL ends in /database");
            (format!("{prefix}/{name}"), Some((admin_url, name)))
        }
        None => (format!("sqlite://{}?mode=rwc", dir.join("dockyard.db").display()), None),
    };
    let store = Store::connect(&url, &PoolSettings::default()).await.expect("connect");
    store.migrate().await.expect("migrate");
    Fixture { store, dir, pg }
}

#[tokio::test]
async fn migrations_are_idempotent_and_readiness_follows_them() {
    let fixture = fixture().await;
    assert!(fixture.store.is_ready().await);
    fixture.store.migrate().await.expect("second migrate is a no-op");
    assert_eq!(fixture.store.applied_migration().await.expect("version"), Some(Store::latest_migration()));
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout() {
    let fixture = sqlite_fixture().await;
    assert_eq!(fixture.store.dialect(), Dialect::Sqlite);
    let pragmas = fixture.store.sqlite_pragmas().await.expect("pragmas");
    assert_eq!(pragmas.journal_mode, "wal");
    assert!(pragmas.foreign_keys);
    assert!(pragmas.busy_timeout_ms >= 1000, "busy timeout {}", pragmas.busy_timeout_ms);
}

#[tokio::test]
async fn emails_and_slugs_are_unique() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let user = store.create_user("a@example.com", "A", "hash", false).await.expect("user");
    assert!(
        matches!(store.create_user("a@example.com", "A2", "hash", false).await, Err(StoreError::Conflict(what)) if what == "email")
    );
    let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
    assert!(
        matches!(store.create_org("acme", "Acme 2", &user.id).await, Err(StoreError::Conflict(what)) if what == "slug")
    );
    store.create_project(&org.id, "web", "Web", "", &user.id).await.expect("project");
    assert!(matches!(
        store.create_project(&org.id, "web", "Web 2", "", &user.id).await,
        Err(StoreError::Conflict(what)) if what == "slug"
    ));
    // The same slug in another org is fine.
    let other = store.create_org("other", "Other", &user.id).await.expect("org");
    store.create_project(&other.id, "web", "Web", "", &user.id).await.expect("same slug, other org");
}

#[tokio::test]
async fn an_org_always_keeps_an_owner() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let owner = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
    let second = store.create_user("s@example.com", "S", "hash", false).await.expect("user");
    let org = store.create_org("acme", "Acme", &owner.id).await.expect("org");
    store.add_member(&org.id, &second.id, Role::Developer).await.expect("member");
    assert!(
        matches!(store.add_member(&org.id, &second.id, Role::Viewer).await, Err(StoreError::Conflict(what)) if what == "member")
    );
    assert!(matches!(
        store.set_member_role(&org.id, &owner.id, Role::Admin).await,
        Err(StoreError::Conflict(what)) if what == "last_owner"
    ));
    assert!(
        matches!(store.remove_member(&org.id, &owner.id).await, Err(StoreError::Conflict(what)) if what == "last_owner")
    );
    assert_eq!(
        store.role_in_org(&org.id, &owner.id).await.expect("role"),
        Some(Role::Owner),
        "the refused change rolled back"
    );
    store.set_member_role(&org.id, &second.id, Role::Owner).await.expect("promote");
    store.set_member_role(&org.id, &owner.id, Role::Viewer).await.expect("now the first owner may step down");
    assert_eq!(store.role_in_org(&org.id, &owner.id).await.expect("role"), Some(Role::Viewer));
}

#[tokio::test]
async fn deleting_an_org_deletes_its_projects_and_memberships() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let user = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
    let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
    let project = store.create_project(&org.id, "web", "Web", "", &user.id).await.expect("project");
    store.delete_org(&org.id).await.expect("delete");
    assert!(matches!(store.get_project_for(&project.id, &user.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.role_in_org(&org.id, &user.id).await.expect("role"), None);
    assert!(matches!(store.delete_org(&org.id).await, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn project_pages_cover_everything_once_and_filters_escape_wildcards() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let user = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
    let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
    let mut created = Vec::new();
    for n in 0..7 {
        created.push(
            store
                .create_project(&org.id, &format!("p{n}"), &format!("Project {n}"), "", &user.id)
                .await
                .expect("project")
                .id,
        );
    }
    store.create_project(&org.id, "pct", "100% Done", "", &user.id).await.expect("project");
    let mut seen: Vec<ProjectId> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_projects(&org.id, &ProjectFilter { query: Some("project".into()), after: after.clone(), limit: 3 })
            .await
            .expect("page");
        seen.extend(page.items.iter().map(|project| project.id.clone()));
        match page.next_cursor {
            Some(cursor) => after = Some(cursor.parse().expect("cursor is an id")),
            None => break,
        }
    }
    assert_eq!(seen, created);
    let percent = store
        .list_projects(&org.id, &ProjectFilter { query: Some("0%".into()), after: None, limit: 50 })
        .await
        .expect("page");
    assert_eq!(percent.items.len(), 1, "'%' is literal");
    let underscore = store
        .list_projects(&org.id, &ProjectFilter { query: Some("_".into()), after: None, limit: 50 })
        .await
        .expect("page");
    assert!(underscore.items.is_empty(), "'_' is literal");
}

#[tokio::test]
async fn audit_pages_newest_first_per_org() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let user = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
    let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
    for n in 0..5 {
        store
            .record_audit(NewAuditEvent {
                org_id: Some(org.id.clone()),
                actor_user_id: Some(user.id.clone()),
                action: "project.created",
                target_id: Some(format!("p{n}")),
                detail: serde_json::json!({ "n": n }),
                ..Default::default()
            })
            .await
            .expect("audit");
    }
    store
        .record_audit(NewAuditEvent { action: "auth.login", detail: serde_json::json!({}), ..Default::default() })
        .await
        .expect("audit");
    let first = store
        .list_audit(&AuditFilter { org_id: Some(org.id.clone()), limit: 3, ..Default::default() })
        .await
        .expect("page");
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.items[0].target_id.as_deref(), Some("p4"));
    assert_eq!(first.items[0].detail["n"], 4);
    let before = first.next_cursor.expect("more").parse().expect("cursor");
    let second = store
        .list_audit(&AuditFilter { org_id: Some(org.id.clone()), before: Some(before), limit: 3, ..Default::default() })
        .await
        .expect("page");
    assert_eq!(
        second.items.iter().map(|event| event.target_id.clone().unwrap_or_default()).collect::<Vec<_>>(),
        ["p1", "p0"]
    );
    assert!(second.next_cursor.is_none());
    let logins = store
        .list_audit(&AuditFilter { action: Some("auth.login".into()), limit: 10, ..Default::default() })
        .await
        .expect("page");
    assert_eq!(logins.items.len(), 1);
}

#[tokio::test]
async fn a_dump_loads_back_identically_and_refuses_a_non_empty_target() {
    let source = fixture().await;
    let store = &source.store;
    let user = store.create_user("o@example.com", "O'Brien \"quoted\" ünïcode", "hash", true).await.expect("user");
    let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
    store.create_project(&org.id, "web", "Web", "line one\nline two", &user.id).await.expect("project");
    let dump_dir = source.dir.join("dump");
    let manifest = store.dump(&dump_dir).await.expect("dump");
    assert_eq!(manifest.tables.iter().find(|table| table.name == "projects").map(|table| table.rows), Some(1));

    // Into a fresh database of the same backend, and into SQLite (cross-backend when the suite runs on PostgreSQL).
    for target in [fixture().await, sqlite_fixture().await] {
        target.store.load(&dump_dir, &manifest, false).await.expect("load");
        let restored = target.store.get_user(&user.id).await.expect("user restored");
        assert_eq!(restored.name, user.name);
        assert!(restored.instance_admin);
        let (project, role) = target
            .store
            .get_project_for(
                &target
                    .store
                    .list_projects(&org.id, &ProjectFilter { limit: 10, ..Default::default() })
                    .await
                    .expect("list")
                    .items[0]
                    .id,
                &user.id,
            )
            .await
            .expect("project");
        assert_eq!(project.description, "line one\nline two");
        assert_eq!(role, Some(Role::Owner));
        // Loading again without `replace` is refused and changes nothing; with it, the data is replaced.
        assert!(matches!(target.store.load(&dump_dir, &manifest, false).await, Err(StoreError::Backup(_))));
        target.store.load(&dump_dir, &manifest, true).await.expect("replace");
        assert_eq!(target.store.count_users().await.expect("count"), 1);
    }
}

#[tokio::test]
async fn a_corrupt_dump_changes_nothing() {
    let source = fixture().await;
    let user = source.store.create_user("o@example.com", "O", "hash", false).await.expect("user");
    source.store.create_org("acme", "Acme", &user.id).await.expect("org");
    let dump_dir = source.dir.join("dump");
    let manifest = source.store.dump(&dump_dir).await.expect("dump");
    let projects = dump_dir.join("orgs.jsonl");
    let mut text = std::fs::read_to_string(&projects).expect("read");
    text.push_str("{\"id\": \"x\", \"nope; DROP TABLE users\": 1}\n");
    std::fs::write(&projects, text).expect("write");

    let target = fixture().await;
    target.store.create_user("keep@example.com", "Keep", "hash", false).await.expect("user");
    assert!(matches!(target.store.load(&dump_dir, &manifest, true).await, Err(StoreError::Backup(_))));
    let users = target.store.list_users().await.expect("users");
    assert_eq!(
        users.iter().map(|user| user.email.as_str()).collect::<Vec<_>>(),
        ["keep@example.com"],
        "the transaction rolled back"
    );
}
