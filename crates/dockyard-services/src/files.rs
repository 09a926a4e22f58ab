//! Workspace files: listing, reading, writing, moving. Every call authorizes on
//! the project first (viewers read, developers write), then runs the blocking
//! file operation on the blocking pool.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dockyard_domain::validate::ValidationError;
use dockyard_domain::{Action, Actor, ProjectId};
use dockyard_workspace::{
    Entry, FileContent, HostWorkspace, Quotas, Workspace, WorkspaceError, WorkspacePath, WriteOutcome,
};

use crate::{ServiceError, Services};

/// The workspaces of every project, each opened once and shared, so that its
/// write lock and usage count are shared too.
pub struct Workspaces {
    root: PathBuf,
    quotas: Quotas,
    open: Mutex<HashMap<ProjectId, Arc<HostWorkspace>>>,
}

impl Workspaces {
    /// Workspaces live in `root/<project id>`.
    pub fn new(root: PathBuf, quotas: Quotas) -> Self {
        Self { root, quotas, open: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn get(&self, project: &ProjectId) -> Result<Arc<HostWorkspace>, ServiceError> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(workspace) = open.get(project) {
            return Ok(workspace.clone());
        }
        let workspace = Arc::new(HostWorkspace::open(self.root.join(project.as_str()), self.quotas).map_err(internal)?);
        open.insert(project.clone(), workspace.clone());
        Ok(workspace)
    }

    /// Deletes a project's files (after the project itself was deleted).
    pub(crate) fn remove(&self, project: &ProjectId) {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(project);
        let dir = self.root.join(project.as_str());
        if let Err(error) = std::fs::remove_dir_all(&dir)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, dir = %dir.display(), "could not remove a deleted project's workspace");
        }
    }
}

fn internal(error: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("workspace: {error}"))
}

impl From<WorkspaceError> for ServiceError {
    fn from(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::InvalidPath(invalid) => ServiceError::bad_request(invalid.code, invalid.message),
            WorkspaceError::Escape => {
                ServiceError::bad_request("path_escapes_workspace", "the path leads outside the workspace")
            }
            WorkspaceError::NotFound(_) => ServiceError::NotFound,
            WorkspaceError::AlreadyExists(path) => {
                ServiceError::conflict("already_exists", format!("{path} already exists"))
            }
            WorkspaceError::NotADirectory(path) => {
                ServiceError::conflict("not_a_directory", format!("{path} is not a folder"))
            }
            WorkspaceError::IsADirectory(path) => {
                ServiceError::conflict("is_a_directory", format!("{path} is a folder"))
            }
            WorkspaceError::IntoItself => {
                ServiceError::conflict("into_itself", "a folder cannot be moved or copied into itself")
            }
            WorkspaceError::Root(what) => {
                ServiceError::bad_request("path_root", format!("the workspace root cannot be {what}"))
            }
            WorkspaceError::PreconditionFailed { current_etag } => ServiceError::PreconditionFailed { current_etag },
            WorkspaceError::QuotaExceeded { limit: "file_size", max } => ServiceError::PayloadTooLarge {
                code: "quota_file_size",
                message: format!("files in this workspace are limited to {max} bytes"),
            },
            WorkspaceError::QuotaExceeded { limit, max } => {
                let code = if limit == "file_count" { "quota_file_count" } else { "quota_total_bytes" };
                ServiceError::Invalid(ValidationError::new(
                    "path",
                    code,
                    format!("the workspace's {limit} quota is exceeded (at most {max})"),
                ))
            }
            WorkspaceError::Io(error) => internal(error),
        }
    }
}

fn path(raw: &str) -> Result<WorkspacePath, ServiceError> {
    Ok(WorkspacePath::parse(raw).map_err(WorkspaceError::from)?)
}

/// A user's path checked like every workspace path, as a string for tools that
/// take one (git); the root is `.`.
pub(crate) fn checked_path(raw: &str) -> Result<String, ServiceError> {
    if raw == "." {
        return Ok(".".to_owned());
    }
    let checked = path(raw)?;
    Ok(if checked.is_root() { ".".to_owned() } else { checked.to_string() })
}

impl Services {
    async fn run_in_workspace<T, F>(
        &self,
        actor: &Actor,
        project: &ProjectId,
        action: Action,
        task: F,
    ) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&HostWorkspace) -> Result<T, WorkspaceError> + Send + 'static,
    {
        let (project, _grant) = self.project_for(actor, project, action).await?;
        let workspace = self.inner.workspaces.get(&project.id)?;
        tokio::task::spawn_blocking(move || task(&workspace)).await.map_err(internal)?.map_err(ServiceError::from)
    }

    /// Checks that `actor` may perform `action` on the project (e.g. before reading
    /// an upload's body).
    pub async fn authorize_project(
        &self,
        actor: &Actor,
        project: &ProjectId,
        action: Action,
    ) -> Result<(), ServiceError> {
        let (_project, _grant) = self.project_for(actor, project, action).await?;
        Ok(())
    }

    pub async fn list_dir(&self, actor: &Actor, project: &ProjectId, dir: &str) -> Result<Vec<Entry>, ServiceError> {
        let dir = path(dir)?;
        self.run_in_workspace(actor, project, Action::ReadProject, move |workspace| workspace.list(&dir)).await
    }

    pub async fn read_file(&self, actor: &Actor, project: &ProjectId, file: &str) -> Result<FileContent, ServiceError> {
        let file = path(file)?;
        self.run_in_workspace(actor, project, Action::ReadProject, move |workspace| workspace.read(&file)).await
    }

    pub async fn write_file(
        &self,
        actor: &Actor,
        project: &ProjectId,
        file: &str,
        bytes: Vec<u8>,
        if_match: Option<String>,
    ) -> Result<WriteOutcome, ServiceError> {
        let file = path(file)?;
        self.run_in_workspace(actor, project, Action::WriteCode, move |workspace| {
            workspace.write(&file, &bytes, if_match.as_deref())
        })
        .await
    }

    pub async fn create_dir(&self, actor: &Actor, project: &ProjectId, dir: &str) -> Result<(), ServiceError> {
        let dir = path(dir)?;
        self.run_in_workspace(actor, project, Action::WriteCode, move |workspace| workspace.create_dir(&dir)).await
    }

    pub async fn delete_path(&self, actor: &Actor, project: &ProjectId, target: &str) -> Result<(), ServiceError> {
        let target = path(target)?;
        self.run_in_workspace(actor, project, Action::WriteCode, move |workspace| workspace.delete(&target)).await
    }

    pub async fn move_path(
        &self,
        actor: &Actor,
        project: &ProjectId,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<(), ServiceError> {
        let (from, to) = (path(from)?, path(to)?);
        self.run_in_workspace(actor, project, Action::WriteCode, move |workspace| {
            workspace.rename(&from, &to, overwrite)
        })
        .await
    }

    pub async fn copy_path(
        &self,
        actor: &Actor,
        project: &ProjectId,
        from: &str,
        to: &str,
    ) -> Result<(), ServiceError> {
        let (from, to) = (path(from)?, path(to)?);
        self.run_in_workspace(actor, project, Action::WriteCode, move |workspace| workspace.copy(&from, &to)).await
    }
}
