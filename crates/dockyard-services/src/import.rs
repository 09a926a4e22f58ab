//! Imports: a new project (or more files for an existing one) from an uploaded
//! archive, from individual files, or from a git URL. The request side stages the
//! source on disk and enqueues an `import` job; the job extracts or clones into a
//! staging folder beside the workspaces and only then moves the result into the
//! workspace, so a failed import never leaves half a tree behind. When an import
//! that created its project fails for good, `reconcile` deletes that project.

use std::path::{Path, PathBuf};

use dockyard_domain::validate::{Name, description};
use dockyard_domain::{Action, Actor, JobId, OrgId, Project, ProjectId};
use dockyard_workspace::archive::{self, ArchiveError, ArchiveFormat, ExtractLimits, ExtractProgress};
use serde::{Deserialize, Serialize};

use crate::accounts::slug_or_derived;
use crate::audit::AuditEntry;
use crate::jobs::{JobContext, JobFailure, JobRecord, NewJob};
use crate::secrets::SecretScope;
use crate::{RequestContext, ServiceError, Services};

/// The job kind.
pub(crate) const KIND: &str = "import";
/// The name of a project's git credential among its secrets.
pub(crate) const GIT_CREDENTIAL: &str = "GIT_CREDENTIAL";

/// Where an import's files come from.
#[derive(Debug, Clone)]
pub enum ImportSource {
    /// An archive already streamed to disk by [`Services::begin_upload`].
    Archive(StagedUpload),
    /// Individual files already written into a staging folder by [`Services::begin_upload`].
    Files(StagedUpload),
    /// A git repository over https.
    Git { url: String, branch: Option<String>, depth: Option<u32>, username: Option<String>, token: Option<String> },
}

/// A new project to create from an import.
#[derive(Debug, Clone, Default)]
pub struct ImportTarget {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
}

/// Disk space reserved for one upload: a file for an archive, or a folder for
/// individual files. Dropped uploads are removed by [`Services::discard_upload`].
#[derive(Debug, Clone)]
pub struct StagedUpload {
    pub(crate) id: JobId,
    pub(crate) path: PathBuf,
}

impl StagedUpload {
    /// The archive file, or the folder to write individual files under.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where an individual file named `relative` (a path checked like every other
    /// workspace path) goes in this upload; its parent folders are created. The
    /// upload folder is fresh and only we write into it, so nothing in it can be a
    /// link leading elsewhere.
    pub fn file_target(&self, relative: &str) -> Result<PathBuf, ServiceError> {
        let relative = dockyard_workspace::WorkspacePath::parse(relative)
            .map_err(|invalid| ServiceError::bad_request(invalid.code, invalid.message))?;
        if relative.is_root() {
            return Err(ServiceError::bad_request("path_root", "a file needs a name"));
        }
        let target = relative.under(&self.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(internal)?;
        }
        Ok(target)
    }
}

#[derive(Debug, Clone)]
pub struct ImportStarted {
    pub job_id: JobId,
    pub project_id: ProjectId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
enum Payload {
    Archive { upload: String, new_project: bool },
    Files { upload: String, new_project: bool },
    Git { url: String, branch: Option<String>, depth: Option<u32>, new_project: bool },
}

impl Payload {
    fn new_project(&self) -> bool {
        match self {
            Payload::Archive { new_project, .. }
            | Payload::Files { new_project, .. }
            | Payload::Git { new_project, .. } => *new_project,
        }
    }

    fn upload(&self) -> Option<&str> {
        match self {
            Payload::Archive { upload, .. } | Payload::Files { upload, .. } => Some(upload),
            Payload::Git { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GitCredential {
    username: String,
    token: String,
}

impl Services {
    fn staging_root(&self) -> PathBuf {
        self.inner.config.workspace_root.join(".staging")
    }

    fn uploads_root(&self) -> PathBuf {
        self.inner.config.workspace_root.join(".uploads")
    }

    /// Reserves a place for an upload to import, after checking that the caller
    /// may import into `project` (or create projects in `org`). Nothing exists at
    /// the path yet: the caller creates a file there for an archive, or calls
    /// [`StagedUpload::file_target`] for individual files.
    pub async fn begin_upload(&self, actor: &Actor, into: ImportInto<'_>) -> Result<StagedUpload, ServiceError> {
        match into {
            ImportInto::NewProject { org } => {
                let (_org, _grant) = self.org_for(actor, org, Action::CreateProject).await?;
            }
            ImportInto::Project(project) => {
                let (_project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
            }
        }
        let id = JobId::new();
        let root = self.uploads_root();
        tokio::task::spawn_blocking(move || std::fs::create_dir_all(&root).map(|()| root))
            .await
            .map_err(internal)?
            .map(|root| StagedUpload { path: root.join(id.as_str()), id })
            .map_err(internal)
    }

    /// Removes an upload that will not be imported (the request failed half-way).
    pub async fn discard_upload(&self, upload: StagedUpload) {
        let path = upload.path;
        let _ = tokio::task::spawn_blocking(move || remove_any(&path)).await;
    }

    /// Starts an import: creates the project when asked (it disappears again if the
    /// import fails), stores a git token as the project's encrypted git credential,
    /// and enqueues the job.
    pub async fn start_import(
        &self,
        actor: &Actor,
        into: ImportInto<'_>,
        target: Option<ImportTarget>,
        source: ImportSource,
        context: &RequestContext,
    ) -> Result<ImportStarted, ServiceError> {
        // Validate everything before creating anything.
        let git_url = match &source {
            ImportSource::Git { url, branch, .. } => {
                let url = dockyard_git::GitUrl::parse(url, &self.network_policy()).map_err(ServiceError::from)?;
                if let Some(branch) = branch
                    && !dockyard_git::is_valid_branch_name(branch)
                {
                    return Err(ServiceError::Invalid(dockyard_domain::validate::ValidationError::new(
                        "branch",
                        "git_invalid_branch_name",
                        "not a valid branch name",
                    )));
                }
                Some(url)
            }
            _ => None,
        };
        let (project, new_project) = match into {
            ImportInto::NewProject { org } => {
                let target = target.unwrap_or_default();
                let (org, _grant) = self.org_for(actor, org, Action::CreateProject).await?;
                let name = Name::parse("name", &target.name)?;
                let slug = slug_or_derived(target.slug.as_deref(), &name)?;
                let description = description(target.description.as_deref().unwrap_or(""))?;
                let project = self
                    .store()
                    .create_project(&org.id, slug.as_str(), name.as_str(), &description, &actor.user_id)
                    .await
                    .map_err(crate::projects::slug_taken)?;
                (project, true)
            }
            ImportInto::Project(id) => (self.project_for(actor, id, Action::WriteCode).await?.0, false),
        };
        let started = self.enqueue_import(actor, &project, new_project, source, git_url, context).await;
        if started.is_err() && new_project {
            let _ = self.store().delete_project(&project.id).await;
        }
        started
    }

    async fn enqueue_import(
        &self,
        actor: &Actor,
        project: &Project,
        new_project: bool,
        source: ImportSource,
        git_url: Option<dockyard_git::GitUrl>,
        context: &RequestContext,
    ) -> Result<ImportStarted, ServiceError> {
        let (payload, source_name) = match source {
            ImportSource::Archive(upload) => {
                (Payload::Archive { upload: upload.id.as_str().to_owned(), new_project }, "archive")
            }
            ImportSource::Files(upload) => {
                (Payload::Files { upload: upload.id.as_str().to_owned(), new_project }, "files")
            }
            ImportSource::Git { branch, depth, username, token, .. } => {
                if let Some(token) = token.filter(|token| !token.is_empty()) {
                    let credential = GitCredential {
                        username: username.filter(|name| !name.is_empty()).unwrap_or_else(|| "x-access-token".into()),
                        token,
                    };
                    let bytes = serde_json::to_vec(&credential).map_err(internal)?;
                    self.put_secret(
                        &SecretScope::Project(project.org_id.clone(), project.id.clone()),
                        GIT_CREDENTIAL,
                        &bytes,
                    )
                    .await?;
                }
                let url = git_url.map(|url| url.as_str().to_owned()).unwrap_or_default();
                (Payload::Git { url, branch, depth: shallow_depth(depth), new_project }, "git")
            }
        };
        let job = self
            .enqueue_job(NewJob {
                kind: KIND.to_owned(),
                org_id: project.org_id.clone(),
                project_id: Some(project.id.clone()),
                created_by: Some(actor.user_id.clone()),
                payload: serde_json::to_value(&payload).map_err(internal)?,
                max_attempts: 3,
            })
            .await?;
        self.audit(
            AuditEntry::new("project.import_started", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("project", project.id.as_str())
                .detail(
                    serde_json::json!({ "job": job.id.as_str(), "source": source_name, "new_project": new_project }),
                ),
        )
        .await;
        Ok(ImportStarted { job_id: job.id, project_id: project.id.clone() })
    }

    /// The loaded git credential of a project, if one is stored.
    pub(crate) async fn git_credential(
        &self,
        org: &OrgId,
        project: &ProjectId,
    ) -> Result<Option<dockyard_git::Credential>, ServiceError> {
        let Some(bytes) = self.get_secret(&SecretScope::Project(org.clone(), project.clone()), GIT_CREDENTIAL).await?
        else {
            return Ok(None);
        };
        let credential: GitCredential = serde_json::from_slice(&bytes).map_err(internal)?;
        Ok(Some(dockyard_git::Credential { username: credential.username, token: credential.token }))
    }

    pub(crate) async fn store_git_credential(
        &self,
        org: &OrgId,
        project: &ProjectId,
        username: Option<String>,
        token: String,
    ) -> Result<(), ServiceError> {
        let credential = GitCredential {
            username: username.filter(|name| !name.is_empty()).unwrap_or_else(|| "x-access-token".into()),
            token,
        };
        let bytes = serde_json::to_vec(&credential).map_err(internal)?;
        self.put_secret(&SecretScope::Project(org.clone(), project.clone()), GIT_CREDENTIAL, &bytes).await
    }

    /// The stored username of a project's git credential, without loading the token
    /// into a response.
    pub(crate) async fn git_credential_username(
        &self,
        org: &OrgId,
        project: &ProjectId,
    ) -> Result<Option<String>, ServiceError> {
        Ok(self.git_credential(org, project).await?.map(|credential| credential.username))
    }
}

/// Where an import goes.
#[derive(Debug, Clone, Copy)]
pub enum ImportInto<'a> {
    /// A new project in the org with this id or slug.
    NewProject { org: &'a str },
    /// More files for an existing project.
    Project(&'a ProjectId),
}

/// Clones are shallow (one commit) unless asked otherwise; 0 asks for the whole history.
fn shallow_depth(depth: Option<u32>) -> Option<u32> {
    match depth {
        None => Some(1),
        Some(0) => None,
        Some(depth) => Some(depth),
    }
}

/// Runs an `import` job.
pub(crate) async fn run(ctx: JobContext) -> Result<serde_json::Value, JobFailure> {
    let outcome = run_import(ctx.clone()).await;
    // A worker that lost its lease leaves the project to the worker that holds it now.
    if let Err(failure) = &outcome
        && !ctx.lease_lost()
    {
        // Undo before the job is marked failed, so whoever sees `failed` also sees
        // the project gone. `reconcile` runs again afterwards and finds nothing to do.
        let mut job = ctx.job().clone();
        job.error = Some(failure.clone());
        reconcile(ctx.services(), &job).await;
    }
    outcome
}

async fn run_import(ctx: JobContext) -> Result<serde_json::Value, JobFailure> {
    let services = ctx.services().clone();
    let job = ctx.job().clone();
    let payload: Payload = serde_json::from_value(job.payload.clone())
        .map_err(|error| JobFailure::new("import_invalid_job", format!("unreadable import job: {error}")))?;
    let Some(project_id) = job.project_id.clone() else {
        return Err(JobFailure::new("import_invalid_job", "the import job names no project"));
    };
    // A retry after a crash starts from a clean staging folder.
    let staging = services.staging_root().join(job.id.as_str());
    let workspace = services.inner.workspaces.get(&project_id).map_err(failure_internal)?;
    let quotas = services.inner.config.workspace_quotas;
    let used = if payload.new_project() {
        dockyard_workspace::Usage::default()
    } else {
        let workspace = workspace.clone();
        blocking(move || dockyard_workspace::Workspace::usage(&*workspace).map_err(failure_internal)).await?
    };
    // Entries count folders too, while the quota counts files: allow folders on top,
    // and check files against the quota once extracted.
    let max_new_files = quotas.max_files.saturating_sub(used.files);
    let limits = ExtractLimits {
        max_entries: max_new_files.saturating_mul(2).saturating_add(64),
        max_total_bytes: quotas.max_total_bytes.saturating_sub(used.bytes),
        max_file_bytes: quotas.max_file_bytes,
    };
    {
        let staging = staging.clone();
        blocking(move || {
            remove_any(&staging);
            std::fs::create_dir_all(&staging).map_err(failure_internal)
        })
        .await?;
    }
    let outcome = match &payload {
        Payload::Archive { upload, .. } => {
            let archive = services.uploads_root().join(upload);
            let progress_ctx = ctx.clone();
            let staging = staging.clone();
            blocking(move || {
                let format = sniff(&archive)?;
                progress_ctx.progress(serde_json::json!({ "phase": "extracting", "format": format.as_str(), "entries": 0, "bytes": 0 }));
                let mut report = |progress: ExtractProgress| {
                    progress_ctx.progress(serde_json::json!({
                        "phase": "extracting", "format": format.as_str(), "entries": progress.entries, "bytes": progress.bytes,
                    }));
                };
                let summary = archive::extract(format, &archive, &staging, &limits, &mut report).map_err(archive_failure)?;
                if summary.files + summary.symlinks > max_new_files {
                    return Err(JobFailure::new("quota_file_count", "the archive exceeds the workspace's file-count quota"));
                }
                Ok(serde_json::json!({ "entries": summary.entries, "files": summary.files, "dirs": summary.dirs, "bytes": summary.bytes }))
            })
            .await
        }
        Payload::Files { upload, .. } => {
            // The request already wrote and checked each file; move them into staging.
            let folder = services.uploads_root().join(upload);
            let staging = staging.clone();
            blocking(move || {
                remove_any(&staging);
                std::fs::rename(&folder, &staging).map_err(failure_internal)?;
                let usage = measure(&staging);
                if usage.0 > max_new_files {
                    return Err(JobFailure::new(
                        "quota_file_count",
                        "the files exceed the workspace's file-count quota",
                    ));
                }
                if usage.1 > limits.max_total_bytes {
                    return Err(JobFailure::new("quota_total_bytes", "the files exceed the workspace's size quota"));
                }
                Ok(serde_json::json!({ "entries": usage.0, "files": usage.0, "bytes": usage.1 }))
            })
            .await
        }
        Payload::Git { url, branch, depth, .. } => {
            let credential =
                services.git_credential(&job.org_id, &project_id).await.map_err(|error| failure_service(&error))?;
            let policy = services.network_policy();
            let url = dockyard_git::GitUrl::parse(url, &policy).map_err(git_failure)?;
            let progress_ctx = ctx.clone();
            let staging = staging.clone();
            let branch = branch.clone();
            let depth = *depth;
            blocking(move || {
                progress_ctx.progress(serde_json::json!({ "phase": "cloning", "objects": 0, "total_objects": 0, "bytes": 0 }));
                let mut report = |progress: dockyard_git::TransferProgress| {
                    progress_ctx.progress(serde_json::json!({
                        "phase": "cloning", "objects": progress.objects, "total_objects": progress.total_objects, "bytes": progress.bytes,
                    }));
                };
                // Clone into a fresh folder inside staging: git wants an empty target.
                // Stopped once it grows past the quota, and held to it once done
                // (`git_too_large`), so only the file count is checked here.
                let options = dockyard_git::CloneOptions {
                    branch: branch.as_deref(),
                    depth,
                    max_bytes: Some(limits.max_total_bytes),
                };
                dockyard_git::clone(&url, &staging, options, credential.as_ref(), &policy, &mut report).map_err(
                    |error| match error {
                        dockyard_git::GitError::TooLarge { .. } => {
                            JobFailure::new("quota_total_bytes", "the repository exceeds the workspace's size quota")
                        }
                        other => git_failure(other),
                    },
                )?;
                let usage = measure(&staging);
                if usage.0 > max_new_files {
                    return Err(JobFailure::new("quota_file_count", "the repository exceeds the workspace's file-count quota"));
                }
                Ok(serde_json::json!({ "entries": usage.0, "files": usage.0, "bytes": usage.1 }))
            })
            .await
        }
    };
    let summary = match outcome {
        Ok(summary) => summary,
        Err(failure) => {
            let staging = staging.clone();
            blocking(move || {
                remove_any(&staging);
                Ok(())
            })
            .await?;
            return Err(failure);
        }
    };
    if ctx.lease_lost() {
        return Err(JobFailure::new("job_lease_lost", "the import lost its lease to another worker"));
    }
    {
        let workspace = workspace.clone();
        let staging = staging.clone();
        blocking(move || workspace.install(&staging).map_err(failure_internal)).await?;
    }
    if let Some(upload) = payload.upload() {
        let path = services.uploads_root().join(upload);
        let _ = tokio::task::spawn_blocking(move || remove_any(&path)).await;
    }
    ctx.progress(serde_json::json!({
        "phase": "done",
        "entries": summary.get("entries").cloned().unwrap_or_default(),
        "bytes": summary.get("bytes").cloned().unwrap_or_default(),
    }));
    services
        .audit(
            AuditEntry::new("project.imported", &RequestContext::default())
                .by_opt(job.created_by.as_ref())
                .org(&job.org_id)
                .target("project", project_id.as_str())
                .detail(serde_json::json!({ "job": job.id.as_str(), "summary": summary })),
        )
        .await;
    Ok(serde_json::json!({ "project_id": project_id.as_str(), "summary": summary }))
}

/// Undoes a failed import: its staging folder and upload go, and a project the
/// import created is deleted with its workspace.
pub(crate) async fn reconcile(services: &Services, job: &JobRecord) {
    let Ok(payload) = serde_json::from_value::<Payload>(job.payload.clone()) else { return };
    let staging = services.staging_root().join(job.id.as_str());
    let upload = payload.upload().map(|upload| services.uploads_root().join(upload));
    let _ = tokio::task::spawn_blocking(move || {
        remove_any(&staging);
        if let Some(upload) = upload {
            remove_any(&upload);
        }
    })
    .await;
    if payload.new_project()
        && let Some(project) = &job.project_id
    {
        match services.store().delete_project(project).await {
            Ok(()) => {}
            // Already undone (by the job itself, before it was marked failed).
            Err(dockyard_store::StoreError::NotFound) => return,
            Err(error) => {
                tracing::warn!(%error, project = %project, "could not delete the project of a failed import");
            }
        }
        services.inner.workspaces.remove(project);
        services
            .audit(
                AuditEntry::new("project.import_failed", &RequestContext::default())
                    .by_opt(job.created_by.as_ref())
                    .org(&job.org_id)
                    .target("project", project.as_str())
                    .detail(serde_json::json!({
                        "job": job.id.as_str(),
                        "error": job.error.as_ref().map(|error| error.code.clone()),
                    })),
            )
            .await;
    }
}

fn sniff(archive: &Path) -> Result<ArchiveFormat, JobFailure> {
    use std::io::Read;
    let mut head = [0u8; 512];
    let mut file = std::fs::File::open(archive).map_err(failure_internal)?;
    let mut filled = 0;
    while filled < head.len() {
        let read = file.read(&mut head[filled..]).map_err(failure_internal)?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    ArchiveFormat::sniff(&head[..filled]).ok_or_else(|| {
        JobFailure::new("archive_unknown_format", "the upload is not a .zip, .tar.gz or Dockyard JSON export")
    })
}

async fn blocking<T: Send + 'static>(
    task: impl FnOnce() -> Result<T, JobFailure> + Send + 'static,
) -> Result<T, JobFailure> {
    tokio::task::spawn_blocking(task).await.map_err(failure_internal)?
}

/// Files (and links) and bytes under a folder, `.git` included.
fn measure(root: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(metadata) = entry.path().symlink_metadata() else { continue };
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += metadata.len();
            }
        }
    }
    (files, bytes)
}

fn remove_any(path: &Path) {
    let result = match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    };
    if let Err(error) = result {
        tracing::warn!(%error, path = %path.display(), "could not remove an import's leftovers");
    }
}

fn archive_failure(error: ArchiveError) -> JobFailure {
    if error.is_client_error() { JobFailure::new(error.code(), error.to_string()) } else { failure_internal(error) }
}

fn git_failure(error: dockyard_git::GitError) -> JobFailure {
    match error.class() {
        dockyard_git::ErrorClass::Internal => failure_internal(error),
        _ => JobFailure::new(error.code(), error.to_string()),
    }
}

fn failure_service(error: &ServiceError) -> JobFailure {
    tracing::error!(%error, "import failed on our side");
    JobFailure::new("internal", "the import failed on the server; see the server log")
}

/// An internal failure: the cause goes to the log, the job says only that it was ours.
fn failure_internal(error: impl std::fmt::Display) -> JobFailure {
    tracing::error!(%error, "import failed on our side");
    JobFailure::new("internal", "the import failed on the server; see the server log")
}

fn internal(error: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("import: {error}"))
}
