//! Sealed secrets as stored: one name per scope (org-wide or one project), an
//! upsert that keeps the id, and cascades with the org and the project.

use chrono::Utc;
use dockyard_domain::{OrgId, ProjectId, SecretId};
use dockyard_store::{Store, StoredSecret};

use crate::fixture;

fn sealed(org: &OrgId, project: Option<&ProjectId>, name: &str, value: &str) -> StoredSecret {
    StoredSecret {
        id: SecretId::new(),
        org_id: org.clone(),
        project_id: project.cloned(),
        name: name.to_owned(),
        key_id: "0123456789abcdef".into(),
        nonce: format!("nonce-{value}"),
        ciphertext: format!("sealed-{value}"),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

async fn org_and_project(store: &Store) -> (OrgId, ProjectId) {
    let user = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
    let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
    let project = store.create_project(&org.id, "web", "Web", "", &user.id).await.expect("project");
    (org.id, project.id)
}

#[tokio::test]
async fn a_name_is_unique_per_scope_and_org_wide_secrets_are_a_scope_of_their_own() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, project) = org_and_project(store).await;
    let org_wide = sealed(&org, None, "API_KEY", "one");
    assert!(store.upsert_secret(&org_wide).await.expect("org secret"));
    assert!(store.upsert_secret(&sealed(&org, Some(&project), "API_KEY", "two")).await.expect("project secret"));
    // A second org-wide secret of the same name under a new id is refused (NULL
    // project ids must not make two org-wide rows distinct), and so is a second
    // project secret.
    assert!(!store.upsert_secret(&sealed(&org, None, "API_KEY", "three")).await.expect("refused"));
    assert!(!store.upsert_secret(&sealed(&org, Some(&project), "API_KEY", "four")).await.expect("refused"));
    let found = store.find_secret(&org, None, "API_KEY").await.expect("find").expect("org secret");
    assert_eq!((found.id.clone(), found.ciphertext.as_str()), (org_wide.id.clone(), "sealed-one"));
    let found = store.find_secret(&org, Some(&project), "API_KEY").await.expect("find").expect("project secret");
    assert_eq!(found.ciphertext, "sealed-two");

    // The same id replaces the sealed value and keeps the row.
    let mut updated = org_wide.clone();
    updated.nonce = "nonce-five".into();
    updated.ciphertext = "sealed-five".into();
    assert!(store.upsert_secret(&updated).await.expect("update"));
    let found = store.find_secret(&org, None, "API_KEY").await.expect("find").expect("org secret");
    assert_eq!((found.id, found.ciphertext.as_str()), (org_wide.id.clone(), "sealed-five"));

    assert!(store.upsert_secret(&sealed(&org, None, "DB_URL", "six")).await.expect("another"));
    assert_eq!(store.list_secret_names(&org, None).await.expect("names"), ["API_KEY", "DB_URL"]);
    assert_eq!(store.list_secret_names(&org, Some(&project)).await.expect("names"), ["API_KEY"]);
    assert!(store.delete_secret(&org, None, "DB_URL").await.expect("delete"));
    assert!(!store.delete_secret(&org, None, "DB_URL").await.expect("delete again"));
    assert!(store.find_secret(&org, Some(&project), "DB_URL").await.expect("find").is_none());
}

#[tokio::test]
async fn resealing_needs_the_nonce_it_read_and_secrets_page_in_id_order() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, project) = org_and_project(store).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let secret = sealed(&org, Some(&project), &format!("S{n}"), &n.to_string());
        store.upsert_secret(&secret).await.expect("insert");
        ids.push(secret.id);
    }
    let first = store.secrets_after(None, 3).await.expect("page");
    let rest = store.secrets_after(first.last().map(|secret| &secret.id), 3).await.expect("page");
    assert_eq!(first.iter().chain(&rest).map(|secret| secret.id.clone()).collect::<Vec<_>>(), ids);
    assert!(!store.reseal_secret(&ids[0], "stale nonce", "k2", "n2", "c2").await.expect("reseal"));
    assert!(store.reseal_secret(&ids[0], "nonce-0", "k2", "n2", "c2").await.expect("reseal"));
    let resealed = store.find_secret(&org, Some(&project), "S0").await.expect("find").expect("secret");
    assert_eq!((resealed.key_id.as_str(), resealed.nonce.as_str(), resealed.ciphertext.as_str()), ("k2", "n2", "c2"));
}

#[tokio::test]
async fn secrets_go_with_their_project_and_org_and_stay_sealed_in_backups() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let (org, project) = org_and_project(store).await;
    store.upsert_secret(&sealed(&org, Some(&project), "TOKEN", "p")).await.expect("project secret");
    store.upsert_secret(&sealed(&org, None, "TOKEN", "o")).await.expect("org secret");
    let manifest = store.dump(&fixture.dir.join("dump")).await.expect("dump");
    let dumped = std::fs::read_to_string(fixture.dir.join("dump").join("secrets.jsonl")).expect("secrets dump");
    assert_eq!(dumped.lines().count(), 2);
    assert!(dumped.contains("sealed-p") && dumped.contains("0123456789abcdef"), "{dumped}");
    assert_eq!(manifest.tables.iter().find(|table| table.name == "secrets").map(|table| table.rows), Some(2));

    store.delete_project(&project).await.expect("delete project");
    assert!(store.find_secret(&org, Some(&project), "TOKEN").await.expect("find").is_none());
    assert!(store.find_secret(&org, None, "TOKEN").await.expect("find").is_some());
    store.delete_org(&org).await.expect("delete org");
    assert!(store.secrets_after(None, 10).await.expect("all").is_empty());
}
