//! Search and replace across a project's workspace. Searching needs read access
//! to the project (viewers, read tokens); replacing, even as a preview, needs
//! `WriteCode` (developers and up). The query is compiled before anything runs,
//! so a bad regex or glob is a 400 rather than a broken stream.

use dockyard_domain::{Action, Actor, ProjectId};
use dockyard_workspace::search::{ChangedFile, Search, SearchError, SearchMatch, SearchOptions, SearchSummary};
use dockyard_workspace::{WorkspaceError, WorkspacePath};
use tokio::sync::mpsc;

use crate::{ServiceError, Services};

/// One item of a streamed search.
#[derive(Debug)]
pub enum SearchEvent {
    Match(SearchMatch),
    Done(SearchSummary),
}

/// A replace across the workspace.
#[derive(Debug, Clone)]
pub struct ReplaceSpec {
    /// What to look for; `hidden` and `ignored` are ignored (replace never touches those files).
    pub options: SearchOptions,
    pub replacement: String,
    /// Only plan: answer the changes without writing.
    pub preview: bool,
    /// Only these files, and only while they still have these ETags (from a preview).
    pub expected: Option<Vec<(String, String)>>,
}

/// What a replace changed (or, as a preview, would change).
#[derive(Debug, Default)]
pub struct ReplaceResult {
    /// Each file with its replacements and ETag: the new one after writing, the
    /// current one in a preview.
    pub files: Vec<ChangedFile>,
    pub total: usize,
    /// Files edited by someone else meanwhile; left as they are.
    pub conflicts: Vec<WorkspacePath>,
    /// Files that could not be written (quota, I/O), with the stable code.
    pub failed: Vec<(WorkspacePath, &'static str)>,
}

impl From<SearchError> for ServiceError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::EmptyQuery => ServiceError::bad_request("invalid_query", "the search text is empty"),
            SearchError::InvalidRegex(message) => {
                ServiceError::bad_request("invalid_regex", format!("invalid regular expression: {message}"))
            }
            SearchError::InvalidGlob(message) => {
                ServiceError::bad_request("invalid_glob", format!("invalid glob: {message}"))
            }
            SearchError::NoLocalRoot => ServiceError::Internal("search: the workspace has no local directory".into()),
            SearchError::Workspace(error) => error.into(),
        }
    }
}

fn internal(error: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("search: {error}"))
}

fn failure_code(error: &WorkspaceError) -> &'static str {
    match error {
        WorkspaceError::QuotaExceeded { limit: "file_size", .. } => "quota_file_size",
        WorkspaceError::QuotaExceeded { limit: "file_count", .. } => "quota_file_count",
        WorkspaceError::QuotaExceeded { .. } => "quota_total_bytes",
        WorkspaceError::Escape => "path_escapes_workspace",
        WorkspaceError::NotFound(_) => "not_found",
        _ => "write_failed",
    }
}

impl Services {
    /// Authorizes, opens the workspace and compiles the search.
    async fn prepare_search(
        &self,
        actor: &Actor,
        project: &ProjectId,
        action: Action,
        options: SearchOptions,
    ) -> Result<(std::sync::Arc<dockyard_workspace::HostWorkspace>, Search), ServiceError> {
        let (project, _grant) = self.project_for(actor, project, action).await?;
        let workspace = self.inner.workspaces.get(&project.id)?;
        let search = Search::in_workspace(workspace.as_ref(), options)?;
        Ok((workspace, search))
    }

    /// Every matching line (up to the cap), sorted by path and line.
    pub async fn search(
        &self,
        actor: &Actor,
        project: &ProjectId,
        options: SearchOptions,
    ) -> Result<(Vec<SearchMatch>, SearchSummary), ServiceError> {
        let (_workspace, search) = self.prepare_search(actor, project, Action::ReadProject, options).await?;
        tokio::task::spawn_blocking(move || search.collect()).await.map_err(internal)
    }

    /// The matching lines as they are found, then `Done`. Dropping the receiver
    /// stops the search.
    pub async fn search_stream(
        &self,
        actor: &Actor,
        project: &ProjectId,
        options: SearchOptions,
    ) -> Result<mpsc::Receiver<SearchEvent>, ServiceError> {
        let (_workspace, search) = self.prepare_search(actor, project, Action::ReadProject, options).await?;
        let (sender, receiver) = mpsc::channel(256);
        tokio::task::spawn_blocking(move || {
            let summary = search.run(&|found| sender.blocking_send(SearchEvent::Match(found)).is_ok());
            let _ = sender.blocking_send(SearchEvent::Done(summary));
        });
        Ok(receiver)
    }

    /// Replaces every match in the workspace's text files (or plans it, with
    /// `preview`). Each file is written atomically with `If-Match`, so a file
    /// edited meanwhile becomes a conflict instead of losing the edit.
    pub async fn replace(
        &self,
        actor: &Actor,
        project: &ProjectId,
        spec: ReplaceSpec,
    ) -> Result<ReplaceResult, ServiceError> {
        let expected = match &spec.expected {
            Some(pairs) => Some(
                pairs
                    .iter()
                    .map(|(path, etag)| Ok((WorkspacePath::parse(path).map_err(WorkspaceError::from)?, etag.clone())))
                    .collect::<Result<Vec<_>, ServiceError>>()?,
            ),
            None => None,
        };
        let (workspace, search) = self.prepare_search(actor, project, Action::WriteCode, spec.options).await?;
        let (replacement, preview) = (spec.replacement, spec.preview);
        tokio::task::spawn_blocking(move || {
            let workspace = workspace.as_ref();
            if preview {
                let only: Option<Vec<WorkspacePath>> =
                    expected.as_ref().map(|pairs| pairs.iter().map(|(path, _)| path.clone()).collect());
                let plan = search.plan_replace(workspace, &replacement, only.as_deref());
                let mut result = ReplaceResult::default();
                for planned in plan {
                    let stale = expected.as_ref().is_some_and(|pairs| {
                        pairs.iter().any(|(path, etag)| *path == planned.path && *etag != planned.etag)
                    });
                    if stale {
                        result.conflicts.push(planned.path);
                        continue;
                    }
                    result.total += planned.replacements;
                    result.files.push(ChangedFile {
                        path: planned.path,
                        replacements: planned.replacements,
                        etag: planned.etag,
                    });
                }
                return result;
            }
            let outcome = search.replace_all(workspace, &replacement, expected.as_deref());
            ReplaceResult {
                total: outcome.files.iter().map(|file| file.replacements).sum(),
                files: outcome.files,
                conflicts: outcome.conflicts,
                failed: outcome.failed.iter().map(|(path, error)| (path.clone(), failure_code(error))).collect(),
            }
        })
        .await
        .map_err(internal)
    }
}
