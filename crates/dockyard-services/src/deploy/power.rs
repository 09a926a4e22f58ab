//! One action on a service's live instances at a time, on every replica: the
//! service's power lease in the database, held by a stop, start or restart
//! while it runs and by a deploy job for its switch to the new instances.

use std::time::Duration;

use chrono::Utc;
use dockyard_domain::ServiceId;
use dockyard_store::Store;

use crate::ServiceError;

/// How long a stop, start or restart holds its service's power lease without
/// renewing it (renewed every third of it while the action runs): a replica
/// that dies mid-action keeps the others from acting on the service this long
/// at most.
pub(super) const POWER_LEASE_TTL: Duration = Duration::from_secs(30);

/// A service's power lease, in the database: while a stop, start or restart
/// (or a deploy's switch) holds it, a stop, start or restart of the same
/// service answers `service_busy`, on any replica (two at once could take
/// every instance off the proxy together), and a deploy ready to switch waits.
/// Renewed in the background while held; given up by [`Self::release`], or
/// when dropped.
pub(super) struct PowerLease {
    store: Store,
    service: ServiceId,
    /// Empty once released.
    owner: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl PowerLease {
    /// `None` while another action holds the service's lease. The owner is
    /// the replica's id and one for the action; the lease runs out `ttl`
    /// after its last renewal.
    pub(super) async fn claim(
        store: &Store,
        replica: &str,
        service: &ServiceId,
        ttl: Duration,
    ) -> Result<Option<Self>, ServiceError> {
        let owner = format!("{replica}/{}", ulid::Ulid::new());
        if !store.claim_service_power(service, &owner, ttl, Utc::now()).await? {
            return Ok(None);
        }
        let renewer = tokio::spawn({
            let (store, service, owner) = (store.clone(), service.clone(), owner.clone());
            async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    match store.renew_service_power(&service, &owner, ttl, Utc::now()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(service = %service, "the power lease of a running stop, start or restart was lost");
                            return;
                        }
                        Err(error) => tracing::warn!(service = %service, %error, "cannot renew a power lease"),
                    }
                }
            }
        });
        Ok(Some(Self { store: store.clone(), service: service.clone(), owner, renewer }))
    }

    pub(super) async fn release(mut self) {
        self.renewer.abort();
        let owner = std::mem::take(&mut self.owner);
        if let Err(error) = self.store.release_service_power(&self.service, &owner).await {
            tracing::warn!(service = %self.service, %error, "cannot release a power lease; it runs out by itself");
        }
    }
}

impl Drop for PowerLease {
    fn drop(&mut self) {
        self.renewer.abort();
        // Outside a runtime (one shutting down) the lease simply runs out.
        if !self.owner.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (store, service, owner) = (self.store.clone(), self.service.clone(), std::mem::take(&mut self.owner));
            runtime.spawn(async move { store.release_service_power(&service, &owner).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use dockyard_domain::deploy::{BuildSettings, DesiredState, Service, ServiceSource};

    use super::*;
    use crate::testing::fixture;

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
            created_by: None,
            created_at: now,
            updated_at: now,
        };
        store.insert_service(&service).await.expect("service").id
    }

    /// Whether another replica could take the lease now.
    async fn free(store: &Store, service: &ServiceId) -> bool {
        match PowerLease::claim(store, "probe", service, Duration::from_secs(30)).await.expect("claim") {
            Some(lease) => {
                lease.release().await;
                true
            }
            None => false,
        }
    }

    #[tokio::test]
    async fn a_held_lease_is_renewed_past_its_ttl_and_freed_by_release_or_drop() {
        let fixture = fixture().await;
        let store = fixture.services.store();
        let id = service(store).await;
        let ttl = Duration::from_secs(1);

        let lease = PowerLease::claim(store, "a", &id, ttl).await.expect("claim").expect("a free lease");
        assert!(PowerLease::claim(store, "b", &id, ttl).await.expect("claim").is_none(), "a held lease is refused");
        // Three TTLs later it is still held: the renewals kept it.
        tokio::time::sleep(ttl * 3).await;
        assert!(!free(store, &id).await, "a held lease ran out although renewed");
        lease.release().await;
        assert!(free(store, &id).await, "a released lease is free");

        // Dropped (its task ended some other way): given up too.
        let lease = PowerLease::claim(store, "a", &id, ttl).await.expect("claim").expect("a free lease");
        drop(lease);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !free(store, &id).await {
            assert!(tokio::time::Instant::now() < deadline, "a dropped lease was not given up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // Its holder gone without a word (a replica that died): free once it ran out.
        let lease = PowerLease::claim(store, "a", &id, ttl).await.expect("claim").expect("a free lease");
        lease.renewer.abort();
        std::mem::forget(lease);
        assert!(!free(store, &id).await, "the lease is held until it runs out");
        tokio::time::sleep(ttl * 2).await;
        assert!(free(store, &id).await, "a lease whose holder died is free once it ran out");
    }
}
