//! Exports: a project's workspace as a zip, a tar.gz, a JSON document (which
//! imports back to the identical tree) or a Markdown report. The export is
//! written on the blocking pool into a bounded channel that the HTTP body
//! drains, so it streams with constant memory and stops when the client goes.

use std::io::Write;

use dockyard_domain::{Action, Actor, Project, ProjectId};
use dockyard_workspace::export::{self, ExportFormat, ExportOptions, ReportCommit};
use tokio::sync::mpsc;

use crate::{ServiceError, Services};

/// Chunks of an export as they are written; an `Err` ends the stream early.
pub type ExportStream = mpsc::Receiver<Result<Vec<u8>, std::io::Error>>;

const CHUNK_BYTES: usize = 64 * 1024;

impl Services {
    /// Starts writing an export and hands back the project and the stream of its bytes.
    pub async fn export_project(
        &self,
        actor: &Actor,
        project: &ProjectId,
        format: ExportFormat,
        honor_gitignore: bool,
    ) -> Result<(Project, ExportStream), ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::ReadProject).await?;
        let workspace = self.inner.workspaces.get(&project.id)?;
        let meta = serde_json::json!({
            "id": project.id.as_str(),
            "name": project.name,
            "slug": project.slug,
            "description": project.description,
            "exported_at": chrono::Utc::now().to_rfc3339(),
        });
        let (sender, receiver) = mpsc::channel(8);
        let project_id = project.id.clone();
        tokio::task::spawn_blocking(move || {
            let root = workspace.root().to_path_buf();
            let commits = if format == ExportFormat::Markdown { recent_commits(&root) } else { Vec::new() };
            let mut writer = ChannelWriter { sender: sender.clone(), buffer: Vec::with_capacity(CHUNK_BYTES) };
            let options = ExportOptions { honor_gitignore };
            let outcome = export::export(&root, format, &options, &meta, &commits, &mut writer)
                .map_err(|error| std::io::Error::other(error.to_string()))
                .and_then(|_summary| writer.flush());
            if let Err(error) = outcome {
                // A closed channel means the client left; anything else is logged and
                // ends the body with an error, so the client sees a broken transfer, not
                // a short file that looks whole.
                if error.kind() != std::io::ErrorKind::BrokenPipe {
                    tracing::warn!(%error, project = %project_id, "export failed");
                    let _ = sender.blocking_send(Err(error));
                }
            }
        });
        Ok((project, receiver))
    }
}

/// The last commits of the workspace's repository, for the Markdown report.
fn recent_commits(root: &std::path::Path) -> Vec<ReportCommit> {
    if !dockyard_git::is_repository(root) {
        return Vec::new();
    }
    let query = dockyard_git::LogQuery { rev: None, path: None, after: None, limit: 10 };
    match dockyard_git::log(root, query) {
        Ok(page) => page
            .commits
            .into_iter()
            .map(|commit| ReportCommit {
                id: commit.short_id,
                summary: commit.summary,
                author: commit.author_name,
                time_ms: commit.time_ms,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A `Write` that sends 64 KiB chunks into a channel, blocking while it is full.
struct ChannelWriter {
    sender: mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
