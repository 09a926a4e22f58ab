//! The service power lease: one stop, start or restart of a service at a
//! time, across every replica sharing the database.

use std::time::Duration;

use chrono::Utc;
use dockyard_domain::ServiceId;
use dockyard_domain::deploy::{BuildSettings, DesiredState, Service, ServiceSource};
use dockyard_store::{Store, StoreError};

use crate::fixture;

const TTL: Duration = Duration::from_secs(30);

async fn service(store: &Store) -> ServiceId {
    let user = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
    let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
    let project = store.create_project(&org.id, "web", "Web", "", &user.id).await.expect("project");
    let now = Utc::now();
    let service = Service {
        id: ServiceId::new(),
        project_id: project.id,
        name: "api".into(),
        source: ServiceSource::Image { image: "busybox:1".into() },
        build: BuildSettings::default(),
        port: 8080,
        health_check_path: None,
        health_check_timeout_secs: 30,
        replicas: 1,
        cpu_millis: None,
        memory_bytes: None,
        env: Vec::new(),
        desired_state: DesiredState::Running,
        created_by: Some(user.id),
        created_at: now,
        updated_at: now,
    };
    store.insert_service(&service).await.expect("service").id
}

#[tokio::test]
async fn one_power_lease_per_service_until_it_is_released_or_runs_out() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let id = service(store).await;
    let now = Utc::now();

    assert!(store.claim_service_power(&id, "a", TTL, now).await.expect("claim"), "a free lease is taken");
    assert!(!store.claim_service_power(&id, "b", TTL, now).await.expect("claim"), "a held lease is refused");
    assert!(
        !store.claim_service_power(&id, "a", TTL, now).await.expect("claim"),
        "its own holder cannot take it twice"
    );
    assert!(store.renew_service_power(&id, "a", TTL, now).await.expect("renew"), "the holder renews");
    assert!(!store.renew_service_power(&id, "b", TTL, now).await.expect("renew"), "another owner cannot renew");

    // Released: free again, and the old holder no longer renews it.
    store.release_service_power(&id, "b").await.expect("release by a non-holder");
    assert!(!store.claim_service_power(&id, "b", TTL, now).await.expect("claim"), "a non-holder cannot release it");
    store.release_service_power(&id, "a").await.expect("release");
    assert!(!store.renew_service_power(&id, "a", TTL, now).await.expect("renew"), "a released lease is not renewed");
    assert!(store.claim_service_power(&id, "b", TTL, now).await.expect("claim"), "a released lease is free");

    // Run out (its holder died): another owner takes it, and the old holder's
    // renewal then fails.
    let later = now + chrono::Duration::seconds(31);
    assert!(!store.claim_service_power(&id, "c", TTL, now + chrono::Duration::seconds(29)).await.expect("claim"));
    assert!(store.claim_service_power(&id, "c", TTL, later).await.expect("claim"), "a lease that ran out is free");
    assert!(!store.renew_service_power(&id, "b", TTL, later).await.expect("renew"), "the lost lease is not renewed");

    // A service that does not exist.
    let missing = ServiceId::new();
    assert!(matches!(store.claim_service_power(&missing, "a", TTL, now).await, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn concurrent_claims_of_one_power_lease_give_it_to_exactly_one() {
    let fixture = fixture().await;
    let store = &fixture.store;
    let id = service(store).await;
    let now = Utc::now();
    let claims = (0..8).map(|owner| {
        let (store, id) = (store.clone(), id.clone());
        tokio::spawn(async move { store.claim_service_power(&id, &format!("owner-{owner}"), TTL, now).await })
    });
    let mut won = 0;
    for claim in claims {
        if claim.await.expect("task").expect("claim") {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one of eight concurrent claims takes the lease");
}
