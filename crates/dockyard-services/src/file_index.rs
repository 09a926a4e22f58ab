//! The quick-open file index of a project's workspace: every file path, for
//! whoever may read the project (viewers, read tokens). The walk runs on the
//! blocking pool (see `dockyard_workspace::file_index`).

use dockyard_domain::{Action, Actor, ProjectId};
use dockyard_workspace::Workspace;
use dockyard_workspace::file_index::{FileIndex, IndexOptions, index_dir};

use crate::{ServiceError, Services};

impl Services {
    /// Every file path of the project's workspace, sorted, capped at
    /// `options.max_paths` (then `truncated`).
    pub async fn file_index(
        &self,
        actor: &Actor,
        project: &ProjectId,
        options: IndexOptions,
    ) -> Result<FileIndex, ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::ReadProject).await?;
        let workspace = self.inner.workspaces.get(&project.id)?;
        tokio::task::spawn_blocking(move || {
            let root = workspace
                .local_root()
                .ok_or_else(|| ServiceError::Internal("file index: the workspace has no local directory".into()))?;
            Ok(index_dir(root, options))
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("file index: {error}")))?
    }
}
