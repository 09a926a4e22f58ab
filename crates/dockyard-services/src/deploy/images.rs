//! Image retention: every build leaves an image on the engine, and without
//! pruning a busy service fills the disk. After each deployment ends, the
//! service keeps the images rollback can use (the newest
//! [`DeployConfig::keep_images`](super::DeployConfig::keep_images) deployments
//! that went live, the live one among them) and those of deployments still in
//! flight; its other built images go. Deleting a service removes all of its.
//!
//! Images are found by their `dockyard.*` labels on the engine, not from the
//! database, so builds whose deployment row is gone (a deleted service, a
//! build killed with its process) are cleaned up too. Images a service
//! deploys by reference (`source: image`) carry no labels and are never
//! touched, and the engine refuses to remove an image a container still uses.

use std::collections::HashSet;
use std::sync::Arc;

use dockyard_domain::ServiceId;
use dockyard_domain::deploy::{Deployment, ServiceSource};
use dockyard_runtime::{ManagedImage, Selector};

use super::DeployEngine;
use crate::{ServiceError, Services};

/// What one prune did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub removed: Vec<String>,
    pub bytes: u64,
}

/// Removes the service's built images that neither a rollback nor a
/// deployment in flight can use (see the module docs). `keep` 0 keeps all.
pub(crate) async fn prune(
    services: &Services,
    engine: &Arc<DeployEngine>,
    service: &ServiceId,
    keep: usize,
) -> Result<Pruned, ServiceError> {
    if keep == 0 {
        return Ok(Pruned::default());
    }
    let images = engine.runtime.images(Selector::service(service.as_str())).await.map_err(super::runtime_error)?;
    if images.is_empty() {
        return Ok(Pruned::default());
    }
    let deployments = all_deployments(services, service).await?;
    let kept = Kept::new(&deployments, keep);
    Ok(remove(engine, images.iter().filter(|image| !kept.keeps(image))).await)
}

/// Removes every image built for the service (it is being deleted; its
/// instances are already gone).
pub(crate) async fn remove_all(engine: &Arc<DeployEngine>, service: &ServiceId) -> Pruned {
    match engine.runtime.images(Selector::service(service.as_str())).await {
        Ok(images) => remove(engine, images.iter()).await,
        Err(error) => {
            tracing::warn!(%service, %error, "could not list a deleted service's images; they stay on the engine");
            Pruned::default()
        }
    }
}

/// Removes the images of services that no longer exist: deleted while the
/// engine could not be reached, or by a process killed mid-delete. Part of
/// the orphan sweep; answers how many images went.
pub(crate) async fn sweep_deleted_services(services: &Services, engine: &Arc<DeployEngine>) -> usize {
    let images = match engine.runtime.images(Selector::all()).await {
        Ok(images) => images,
        Err(error) => {
            tracing::warn!(%error, "image sweep skipped: the engine could not be read");
            return 0;
        }
    };
    let mut owners: Vec<&str> = images.iter().filter_map(|image| image.service_id.as_deref()).collect();
    owners.sort_unstable();
    owners.dedup();
    let mut removed = 0;
    for owner in owners {
        let Ok(service) = owner.parse::<ServiceId>() else { continue };
        match services.store().get_service(&service).await {
            Err(dockyard_store::StoreError::NotFound) => {
                let pruned =
                    remove(engine, images.iter().filter(|image| image.service_id.as_deref() == Some(owner))).await;
                if !pruned.removed.is_empty() {
                    tracing::info!(%service, images = pruned.removed.len(), "removed images of a deleted service");
                }
                removed += pruned.removed.len();
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%service, %error, "image sweep: the service could not be read"),
        }
    }
    removed
}

/// Whether the deployment's image is one image retention may have removed:
/// Dockyard built it (not an image deployed by reference) and the deployment
/// is no longer in flight.
fn may_be_removed(deployment: &Deployment) -> bool {
    deployment.image.is_some()
        && !matches!(deployment.source, ServiceSource::Image { .. })
        && !deployment.status.in_flight()
}

/// The tags of the service's built images on the engine, read only when one
/// of `deployments` may have lost its image; `None` otherwise, without an
/// engine, or when the engine cannot be read.
pub(crate) async fn present_tags(
    services: &Services,
    service: &ServiceId,
    deployments: &[Deployment],
) -> Option<HashSet<String>> {
    let engine = services.deploy_engine().ok()?;
    if !deployments.iter().any(may_be_removed) {
        return None;
    }
    match engine.runtime.images(Selector::service(service.as_str())).await {
        Ok(images) => Some(images.into_iter().flat_map(|image| image.tags).collect()),
        Err(error) => {
            tracing::debug!(%service, %error, "cannot list the service's images");
            None
        }
    }
}

/// Whether the deployment's built image is gone, given the tags on the engine.
pub(crate) fn removed(deployment: &Deployment, present: &HashSet<String>) -> bool {
    may_be_removed(deployment) && deployment.image.as_ref().is_some_and(|image| !present.contains(image))
}

/// What a prune keeps: the images of deployments in flight (by their label,
/// since a build's image is recorded only after it), and the images named by
/// deployments rollback can use.
struct Kept<'a> {
    in_flight: HashSet<&'a str>,
    images: HashSet<&'a str>,
}

impl<'a> Kept<'a> {
    /// `deployments` newest first; `keep` live ones count.
    fn new(deployments: &'a [Deployment], keep: usize) -> Self {
        let in_flight = || deployments.iter().filter(|deployment| deployment.status.in_flight());
        let live = deployments.iter().filter(|deployment| deployment.active_at.is_some()).take(keep);
        Self {
            in_flight: in_flight().map(|deployment| deployment.id.as_str()).collect(),
            images: in_flight().chain(live).filter_map(|deployment| deployment.image.as_deref()).collect(),
        }
    }

    fn keeps(&self, image: &ManagedImage) -> bool {
        image.deployment_id.as_deref().is_some_and(|owner| self.in_flight.contains(owner))
            || image.tags.iter().any(|tag| self.images.contains(tag.as_str()))
            || self.images.contains(image.id.as_str())
    }
}

async fn remove<'a>(engine: &Arc<DeployEngine>, images: impl Iterator<Item = &'a ManagedImage>) -> Pruned {
    let mut pruned = Pruned::default();
    for image in images {
        // By tag when it has one, so a tag shared with another image never
        // takes that one along; the id for an untagged leftover.
        let reference = image.tags.first().unwrap_or(&image.id);
        match engine.runtime.remove_image(reference).await {
            Ok(()) => {
                pruned.removed.push(reference.clone());
                pruned.bytes += image.size_bytes;
                metrics::counter!("deploy_images_removed_total").increment(1);
                metrics::counter!("deploy_image_bytes_removed_total").increment(image.size_bytes);
            }
            // Still used by a container (an instance that did not go yet), or
            // gone meanwhile: the next prune looks again.
            Err(error) => tracing::debug!(image = %reference, %error, "image not removed"),
        }
    }
    pruned
}

/// Every deployment of the service, newest first.
async fn all_deployments(services: &Services, service: &ServiceId) -> Result<Vec<Deployment>, ServiceError> {
    const PAGE: u32 = 200;
    let mut all: Vec<Deployment> = Vec::new();
    loop {
        let before = all.last().map(|deployment| deployment.number);
        let page = services.store().list_deployments(service, before, PAGE).await?;
        let full = page.len() == PAGE as usize;
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dockyard_domain::deploy::DeploymentStatus;
    use dockyard_domain::{DeploymentId, ProjectId};

    fn deployment(number: u32, status: DeploymentStatus, went_live: bool, image: Option<&str>) -> Deployment {
        Deployment {
            id: DeploymentId::new(),
            service_id: ServiceId::new(),
            project_id: ProjectId::new(),
            number,
            status,
            trigger: "deploy".into(),
            source: ServiceSource::Workspace,
            rollback_of: None,
            image: image.map(str::to_owned),
            plan: None,
            job_id: None,
            created_by: None,
            created_at: chrono::Utc::now(),
            building_at: None,
            starting_at: None,
            active_at: went_live.then(chrono::Utc::now),
            finished_at: None,
            cancel_requested: false,
            error_code: None,
            error_message: None,
            last_log: Vec::new(),
        }
    }

    fn image(tag: &str, owner: &Deployment) -> ManagedImage {
        ManagedImage {
            id: format!("sha256:{tag}"),
            tags: vec![tag.to_owned()],
            service_id: Some(owner.service_id.as_str().to_owned()),
            deployment_id: Some(owner.id.as_str().to_owned()),
            size_bytes: 1,
        }
    }

    #[test]
    fn the_newest_live_images_and_those_in_flight_stay() {
        use DeploymentStatus::*;
        // Newest first: #6 building (image not recorded yet), #5 live, #4 a
        // rollback to #2's image, #3 failed, #2 and #1 superseded.
        let building = deployment(6, Building, false, None);
        let live = deployment(5, Active, true, Some("web:5"));
        let rollback = deployment(4, Superseded, true, Some("web:2"));
        let failed = deployment(3, Failed, false, Some("web:3"));
        let second = deployment(2, Superseded, true, Some("web:2"));
        let first = deployment(1, Superseded, true, Some("web:1"));
        let all = vec![building.clone(), live.clone(), rollback, failed.clone(), second.clone(), first.clone()];
        let images = [
            image("web:6", &building),
            image("web:5", &live),
            image("web:3", &failed),
            image("web:2", &second),
            image("web:1", &first),
        ];
        let kept_with = |keep: usize| -> Vec<&str> {
            let kept = Kept::new(&all, keep);
            images.iter().filter(|image| kept.keeps(image)).map(|image| image.tags[0].as_str()).collect()
        };
        assert_eq!(kept_with(1), ["web:6", "web:5"]);
        // The rollback counts as a live deployment and keeps #2's image.
        assert_eq!(kept_with(2), ["web:6", "web:5", "web:2"]);
        assert_eq!(kept_with(3), ["web:6", "web:5", "web:2"]);
        assert_eq!(kept_with(4), ["web:6", "web:5", "web:2", "web:1"]);
        // A failed deployment's image is never kept, and an image whose
        // deployment is gone goes too.
        let orphan = ManagedImage { deployment_id: Some("gone".into()), ..image("web:0", &first) };
        assert!(!Kept::new(&all, 10).keeps(&orphan));
    }
}
