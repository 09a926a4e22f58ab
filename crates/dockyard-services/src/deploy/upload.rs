//! Deploying an uploaded folder (`dockyard deploy`, like `railway up`): the
//! request streams a gzip-compressed tar, which is unpacked with the same
//! rules as imports (no absolute or `..` paths, no links out, no devices,
//! entry and size limits) into a staging folder. That folder becomes the
//! source of one deployment: it is moved to the deployment's staging path
//! before the deploy job exists, and the job removes it when the build ends.
//!
//! Invariant: nothing of an upload outlives its request unless a deployment
//! owns it: [`SourceUpload`] removes its files when dropped unconsumed, and the
//! deploy job (or its reconcile) removes the deployment's staging folder.

use std::path::{Path, PathBuf};

use dockyard_domain::deploy::{Deployment, Service, ServiceSource};
use dockyard_domain::{Action, Actor, Project, ServiceId};
use dockyard_workspace::archive::{self, ArchiveError, ExtractLimits};
use serde_json::json;

use crate::audit::AuditEntry;
use crate::{RequestContext, ServiceError, Services};

/// Most entries (files, folders, links) an upload may hold.
const MAX_UPLOAD_ENTRIES: u64 = 500_000;

/// An upload on its way in: the compressed tar is written to [`Self::archive_path`]
/// by the caller, then [`Services::deploy_upload`] unpacks and deploys it.
pub struct SourceUpload {
    service: Service,
    project: Project,
    archive: PathBuf,
    dir: PathBuf,
    /// The most compressed and the most unpacked bytes accepted.
    limit: u64,
    consumed: bool,
}

impl SourceUpload {
    /// Where the caller writes the request body (the file does not exist yet).
    pub fn archive_path(&self) -> &Path {
        &self.archive
    }

    /// The most bytes the compressed upload, and the folder it unpacks to, may have.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl Drop for SourceUpload {
    fn drop(&mut self) {
        if self.consumed {
            return;
        }
        let (archive, dir) = (self.archive.clone(), self.dir.clone());
        // Blocking removal off the async threads.
        std::thread::spawn(move || {
            let _ = std::fs::remove_file(archive);
            let _ = std::fs::remove_dir_all(dir);
        });
    }
}

/// An unpacked upload and the deployment source it stands for.
pub(crate) struct PreparedSource {
    pub(crate) source: ServiceSource,
    dir: PathBuf,
}

impl PreparedSource {
    /// Moves the unpacked folder to the deployment's staging path.
    pub(crate) async fn place(self, services: &Services, deployment: &Deployment) -> Result<(), ServiceError> {
        let engine = services.deploy_engine()?;
        let target = engine.config.staging_root.join(deployment.id.as_str());
        tokio::fs::rename(&self.dir, &target)
            .await
            .map_err(|error| ServiceError::Internal(format!("deploy upload: cannot stage the source: {error}")))
    }
}

impl Services {
    /// Checks that the caller may deploy the service and that it can be built,
    /// and reserves the staging paths of an upload.
    pub async fn begin_source_upload(&self, actor: &Actor, id: &ServiceId) -> Result<SourceUpload, ServiceError> {
        let (service, project, _grant) = self.service_for(actor, id, Action::Deploy).await?;
        if let ServiceSource::Image { image } = &service.source {
            return Err(ServiceError::conflict(
                "upload_not_buildable",
                format!("this service runs the image {image} and builds nothing; deploy it without an upload"),
            ));
        }
        let engine = self.deploy_engine()?;
        let root = engine.config.staging_root.clone();
        let limit = engine.config.max_context_bytes;
        tokio::fs::create_dir_all(&root).await.map_err(|error| {
            ServiceError::Internal(format!("deploy upload: cannot create {}: {error}", root.display()))
        })?;
        // A fresh id names the upload's files; it is not a deployment's id.
        let name = format!("upload-{}", dockyard_domain::DeploymentId::new().as_str());
        Ok(SourceUpload {
            service,
            project,
            archive: root.join(format!("{name}.tar.gz")),
            dir: root.join(name),
            limit,
            consumed: false,
        })
    }

    /// Unpacks a received upload and queues a deployment of it: 4xx with a
    /// stable `archive_*` code for an archive that breaks the rules.
    pub async fn deploy_upload(
        &self,
        actor: &Actor,
        mut upload: SourceUpload,
        context: &RequestContext,
    ) -> Result<Deployment, ServiceError> {
        let limits = ExtractLimits {
            max_entries: MAX_UPLOAD_ENTRIES,
            max_total_bytes: upload.limit,
            max_file_bytes: upload.limit,
        };
        let (archive_path, dir) = (upload.archive.clone(), upload.dir.clone());
        let summary = tokio::task::spawn_blocking(move || {
            std::fs::create_dir(&dir)?;
            let file = std::fs::File::open(&archive_path)?;
            let summary = archive::extract_reader_tar_gz(std::io::BufReader::new(file), &dir, &limits, &mut |_| {});
            // The compressed copy is not needed once unpacked (or refused).
            let _ = std::fs::remove_file(&archive_path);
            Ok::<_, std::io::Error>(summary)
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("deploy upload: the unpack task failed: {error}")))?
        .map_err(|error| ServiceError::Internal(format!("deploy upload: {error}")))?
        .map_err(archive_error)?;
        let prepared = PreparedSource {
            source: ServiceSource::Upload { files: summary.files, bytes: summary.bytes },
            dir: upload.dir.clone(),
        };
        let (service, project) = (upload.service.clone(), upload.project.clone());
        let deployment = self.queue_deployment(actor, &service, &project, "upload", None, Some(prepared)).await?;
        upload.consumed = true;
        self.audit(
            AuditEntry::new("deployment.created", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("deployment", deployment.id.as_str())
                .detail(json!({
                    "service": service.id.as_str(),
                    "number": deployment.number,
                    "upload": { "files": summary.files, "bytes": summary.bytes },
                })),
        )
        .await;
        Ok(deployment)
    }
}

fn archive_error(error: ArchiveError) -> ServiceError {
    match error {
        ArchiveError::Io(error) => ServiceError::Internal(format!("deploy upload: {error}")),
        ArchiveError::TooLarge { .. } | ArchiveError::FileTooLarge { .. } => {
            ServiceError::PayloadTooLarge { code: "context_too_large", message: error.to_string() }
        }
        other => ServiceError::bad_request(other.code(), other.to_string()),
    }
}
