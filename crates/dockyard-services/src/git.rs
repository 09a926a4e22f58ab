//! Git on a project's workspace: status, diff, stage, commit, log, branches,
//! remotes, and fetch/pull/push with the project's encrypted git credential.
//! Viewers read; developers change. Operations that rewrite the working tree
//! (switching branches, pulling) hold the workspace's write lock, so they never
//! interleave with a file write. Pushes land in the audit log.

use std::path::Path;
use std::sync::Arc;

use dockyard_domain::{Action, Actor, Project, ProjectId};
use dockyard_git::{
    Author, BranchInfo, Diff, DiffQuery, ErrorClass, GitError, LogPage, LogQuery, NetworkPolicy, PullOutcome,
    RemoteInfo, Status,
};
use dockyard_workspace::HostWorkspace;

use crate::audit::AuditEntry;
use crate::secrets::SecretScope;
use crate::{RequestContext, ServiceError, Services};

impl From<GitError> for ServiceError {
    fn from(error: GitError) -> Self {
        // Fetches, pulls and branch switches are bounded by the workspace's size
        // quota: the same answer as a file write past it.
        if let GitError::TooLarge { limit } = error {
            return ServiceError::Invalid(dockyard_domain::validate::ValidationError::new(
                "git",
                "quota_total_bytes",
                format!("the workspace's total_bytes quota is exceeded (at most {limit})"),
            ));
        }
        let code = error.code();
        let message = error.to_string();
        match error.class() {
            ErrorClass::Invalid => {
                ServiceError::Invalid(dockyard_domain::validate::ValidationError::new("git", code, message))
            }
            ErrorClass::NotFound => ServiceError::Missing { code, message },
            ErrorClass::Conflict => ServiceError::conflict(code, message),
            ErrorClass::Upstream => ServiceError::Upstream { code, message },
            ErrorClass::Internal => ServiceError::Internal(format!("git: {message}")),
        }
    }
}

/// The outcome of a credential query: never the token itself.
#[derive(Debug, Clone)]
pub struct GitCredentialInfo {
    pub configured: bool,
    pub username: Option<String>,
}

impl Services {
    /// The outbound policy for git over the network, from the config.
    pub(crate) fn network_policy(&self) -> NetworkPolicy {
        let outbound = &self.inner.config.outbound;
        NetworkPolicy {
            allow_private: outbound.allow_private_networks,
            allow_http: outbound.allow_http,
            extra_ca_file: outbound.extra_ca_file.clone(),
            timeout: outbound.git_timeout,
            git_binary: outbound.git_binary.clone(),
        }
    }

    /// The most a workspace folder may hold, `.git` included.
    fn workspace_size_quota(&self) -> u64 {
        self.inner.config.workspace_quotas.max_total_bytes
    }

    /// Authorizes, then runs a git operation on the workspace folder off the async threads.
    async fn with_repo<T, F>(
        &self,
        actor: &Actor,
        project: &ProjectId,
        action: Action,
        exclusive: bool,
        task: F,
    ) -> Result<(Project, T), ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T, GitError> + Send + 'static,
    {
        let (project, _grant) = self.project_for(actor, project, action).await?;
        let workspace: Arc<HostWorkspace> = self.inner.workspaces.get(&project.id)?;
        let outcome =
            tokio::task::spawn_blocking(
                move || {
                    if exclusive { workspace.exclusive(task) } else { task(workspace.root()) }
                },
            )
            .await
            .map_err(|error| ServiceError::Internal(format!("git: {error}")))??;
        Ok((project, outcome))
    }

    pub async fn git_status(&self, actor: &Actor, project: &ProjectId) -> Result<Option<Status>, ServiceError> {
        let (_, status) = self
            .with_repo(actor, project, Action::ReadProject, false, |root| {
                if !dockyard_git::is_repository(root) {
                    return Ok(None);
                }
                dockyard_git::status(root).map(Some)
            })
            .await?;
        Ok(status)
    }

    pub async fn git_init(
        &self,
        actor: &Actor,
        project: &ProjectId,
        branch: Option<String>,
    ) -> Result<(), ServiceError> {
        let branch = branch.unwrap_or_else(|| "main".to_owned());
        if !dockyard_git::is_valid_branch_name(&branch) {
            return Err(GitError::InvalidBranchName(branch).into());
        }
        self.with_repo(actor, project, Action::WriteCode, true, move |root| dockyard_git::init(root, &branch)).await?;
        Ok(())
    }

    pub async fn git_diff(
        &self,
        actor: &Actor,
        project: &ProjectId,
        path: Option<String>,
        staged: bool,
    ) -> Result<Diff, ServiceError> {
        let path = path.map(|path| crate::files::checked_path(&path)).transpose()?;
        let (_, diff) = self
            .with_repo(actor, project, Action::ReadProject, false, move |root| {
                dockyard_git::diff(root, DiffQuery { path: path.as_deref(), staged })
            })
            .await?;
        Ok(diff)
    }

    pub async fn git_stage(&self, actor: &Actor, project: &ProjectId, paths: Vec<String>) -> Result<(), ServiceError> {
        let paths = checked_paths(paths)?;
        self.with_repo(actor, project, Action::WriteCode, false, move |root| dockyard_git::stage(root, &paths)).await?;
        Ok(())
    }

    pub async fn git_unstage(
        &self,
        actor: &Actor,
        project: &ProjectId,
        paths: Vec<String>,
    ) -> Result<(), ServiceError> {
        let paths = checked_paths(paths)?;
        self.with_repo(actor, project, Action::WriteCode, false, move |root| dockyard_git::unstage(root, &paths))
            .await?;
        Ok(())
    }

    /// Commits as the Dockyard user (name and email of the account).
    pub async fn git_commit(
        &self,
        actor: &Actor,
        project: &ProjectId,
        message: String,
        paths: Option<Vec<String>>,
    ) -> Result<String, ServiceError> {
        let paths = paths.map(checked_paths).transpose()?;
        let user = self.store().get_user(&actor.user_id).await?;
        let author = Author { name: user.name, email: user.email };
        let (_, commit) = self
            .with_repo(actor, project, Action::WriteCode, false, move |root| {
                dockyard_git::commit(root, &message, paths.as_deref(), &author)
            })
            .await?;
        Ok(commit)
    }

    pub async fn git_log(
        &self,
        actor: &Actor,
        project: &ProjectId,
        path: Option<String>,
        rev: Option<String>,
        after: Option<String>,
        limit: usize,
    ) -> Result<LogPage, ServiceError> {
        let path = path.map(|path| crate::files::checked_path(&path)).transpose()?;
        let limit = limit.clamp(1, 200);
        let (_, page) = self
            .with_repo(actor, project, Action::ReadProject, false, move |root| {
                dockyard_git::log(
                    root,
                    LogQuery { rev: rev.as_deref(), path: path.as_deref(), after: after.as_deref(), limit },
                )
            })
            .await?;
        Ok(page)
    }

    pub async fn git_branches(&self, actor: &Actor, project: &ProjectId) -> Result<Vec<BranchInfo>, ServiceError> {
        Ok(self.with_repo(actor, project, Action::ReadProject, false, dockyard_git::branches).await?.1)
    }

    pub async fn git_create_branch(
        &self,
        actor: &Actor,
        project: &ProjectId,
        name: String,
        from: Option<String>,
        switch: bool,
    ) -> Result<(), ServiceError> {
        let quota = self.workspace_size_quota();
        self.with_repo(actor, project, Action::WriteCode, switch, move |root| {
            dockyard_git::create_branch(root, &name, from.as_deref())?;
            if switch {
                dockyard_git::switch_branch(root, &name, Some(quota))?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub async fn git_switch_branch(
        &self,
        actor: &Actor,
        project: &ProjectId,
        name: String,
    ) -> Result<(), ServiceError> {
        let quota = self.workspace_size_quota();
        self.with_repo(actor, project, Action::WriteCode, true, move |root| {
            dockyard_git::switch_branch(root, &name, Some(quota))
        })
        .await?;
        Ok(())
    }

    pub async fn git_delete_branch(
        &self,
        actor: &Actor,
        project: &ProjectId,
        name: String,
        force: bool,
    ) -> Result<(), ServiceError> {
        self.with_repo(actor, project, Action::WriteCode, false, move |root| {
            dockyard_git::delete_branch(root, &name, force)
        })
        .await?;
        Ok(())
    }

    pub async fn git_remotes(&self, actor: &Actor, project: &ProjectId) -> Result<Vec<RemoteInfo>, ServiceError> {
        Ok(self.with_repo(actor, project, Action::ReadProject, false, dockyard_git::remotes).await?.1)
    }

    pub async fn git_add_remote(
        &self,
        actor: &Actor,
        project: &ProjectId,
        name: String,
        url: String,
    ) -> Result<(), ServiceError> {
        let url = dockyard_git::GitUrl::parse(&url, &self.network_policy())?;
        self.with_repo(actor, project, Action::WriteCode, false, move |root| {
            dockyard_git::add_remote(root, &name, &url)
        })
        .await?;
        Ok(())
    }

    pub async fn git_set_remote_url(
        &self,
        actor: &Actor,
        project: &ProjectId,
        name: String,
        url: String,
    ) -> Result<(), ServiceError> {
        let url = dockyard_git::GitUrl::parse(&url, &self.network_policy())?;
        self.with_repo(actor, project, Action::WriteCode, false, move |root| {
            dockyard_git::set_remote_url(root, &name, &url)
        })
        .await?;
        Ok(())
    }

    pub async fn git_remove_remote(
        &self,
        actor: &Actor,
        project: &ProjectId,
        name: String,
    ) -> Result<(), ServiceError> {
        self.with_repo(actor, project, Action::WriteCode, false, move |root| dockyard_git::remove_remote(root, &name))
            .await?;
        Ok(())
    }

    /// Loads the credential for a network operation after authorizing it.
    async fn network_context(
        &self,
        actor: &Actor,
        project: &ProjectId,
    ) -> Result<(Project, Option<dockyard_git::Credential>), ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::WriteCode).await?;
        let credential = self.git_credential(&project.org_id, &project.id).await?;
        Ok((project, credential))
    }

    pub async fn git_fetch(
        &self,
        actor: &Actor,
        project: &ProjectId,
        remote: Option<String>,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (project, credential) = self.network_context(actor, project).await?;
        let remote = remote.unwrap_or_else(|| "origin".to_owned());
        let policy = self.network_policy();
        let audit_remote = remote.clone();
        let quota = self.workspace_size_quota();
        self.with_repo(actor, &project.id, Action::WriteCode, false, move |root| {
            dockyard_git::fetch(root, &remote, credential.as_ref(), &policy, Some(quota))
        })
        .await?;
        self.audit(
            AuditEntry::new("git.fetched", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("project", project.id.as_str())
                .detail(serde_json::json!({ "remote": audit_remote })),
        )
        .await;
        Ok(())
    }

    pub async fn git_pull(
        &self,
        actor: &Actor,
        project: &ProjectId,
        remote: Option<String>,
        branch: Option<String>,
        context: &RequestContext,
    ) -> Result<PullOutcome, ServiceError> {
        let (project, credential) = self.network_context(actor, project).await?;
        let remote = remote.unwrap_or_else(|| "origin".to_owned());
        let policy = self.network_policy();
        let audit_remote = remote.clone();
        let quota = self.workspace_size_quota();
        let (_, outcome) = self
            .with_repo(actor, &project.id, Action::WriteCode, true, move |root| {
                dockyard_git::pull(root, &remote, branch.as_deref(), credential.as_ref(), &policy, Some(quota))
            })
            .await?;
        self.audit(
            AuditEntry::new("git.pulled", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("project", project.id.as_str())
                .detail(
                    serde_json::json!({ "remote": audit_remote, "head": outcome.head, "updated": outcome.updated }),
                ),
        )
        .await;
        Ok(outcome)
    }

    /// Pushes a branch (the current one when `None`).
    pub async fn git_push(
        &self,
        actor: &Actor,
        project: &ProjectId,
        remote: Option<String>,
        branch: Option<String>,
        set_upstream: bool,
        context: &RequestContext,
    ) -> Result<String, ServiceError> {
        let (project, credential) = self.network_context(actor, project).await?;
        let remote = remote.unwrap_or_else(|| "origin".to_owned());
        let policy = self.network_policy();
        let audit_remote = remote.clone();
        let outcome = self
            .with_repo(actor, &project.id, Action::WriteCode, false, move |root| {
                let branch = match branch {
                    Some(branch) => branch,
                    None => dockyard_git::status(root)?.branch.ok_or(GitError::DetachedHead)?,
                };
                dockyard_git::push(root, &remote, &branch, set_upstream, credential.as_ref(), &policy)?;
                Ok(branch)
            })
            .await;
        let (_, branch) = match outcome {
            Ok(pushed) => pushed,
            Err(error) => {
                self.audit(
                    AuditEntry::new("git.push_failed", context)
                        .by(&actor.user_id)
                        .org(&project.org_id)
                        .target("project", project.id.as_str())
                        .detail(serde_json::json!({ "remote": audit_remote, "error": error_code(&error) })),
                )
                .await;
                return Err(error);
            }
        };
        self.audit(
            AuditEntry::new("git.pushed", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("project", project.id.as_str())
                .detail(serde_json::json!({ "remote": audit_remote, "branch": branch })),
        )
        .await;
        Ok(branch)
    }

    pub async fn git_credential_info(
        &self,
        actor: &Actor,
        project: &ProjectId,
    ) -> Result<GitCredentialInfo, ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::ReadProject).await?;
        let username = self.git_credential_username(&project.org_id, &project.id).await?;
        Ok(GitCredentialInfo { configured: username.is_some(), username })
    }

    /// Stores (replaces) the project's git credential, encrypted.
    pub async fn git_set_credential(
        &self,
        actor: &Actor,
        project: &ProjectId,
        username: Option<String>,
        token: String,
        context: &RequestContext,
    ) -> Result<GitCredentialInfo, ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::ManageSecrets).await?;
        if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(dockyard_domain::validate::ValidationError::new(
                "token",
                "invalid_token",
                "the token must be 1 to 4096 printable characters",
            )));
        }
        if let Some(name) = &username
            && (name.len() > 256 || name.contains(':') || name.chars().any(char::is_control))
        {
            return Err(ServiceError::Invalid(dockyard_domain::validate::ValidationError::new(
                "username",
                "invalid_username",
                "the username must be at most 256 printable characters without ':'",
            )));
        }
        self.store_git_credential(&project.org_id, &project.id, username, token).await?;
        self.audit(
            AuditEntry::new("git.credential_set", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("project", project.id.as_str()),
        )
        .await;
        let username = self.git_credential_username(&project.org_id, &project.id).await?;
        Ok(GitCredentialInfo { configured: true, username })
    }

    pub async fn git_delete_credential(
        &self,
        actor: &Actor,
        project: &ProjectId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (project, _grant) = self.project_for(actor, project, Action::ManageSecrets).await?;
        let deleted = self
            .delete_secret(
                &SecretScope::Project(project.org_id.clone(), project.id.clone()),
                crate::import::GIT_CREDENTIAL,
            )
            .await?;
        if !deleted {
            return Err(ServiceError::NotFound);
        }
        self.audit(
            AuditEntry::new("git.credential_deleted", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("project", project.id.as_str()),
        )
        .await;
        Ok(())
    }
}

fn checked_paths(paths: Vec<String>) -> Result<Vec<String>, ServiceError> {
    paths.iter().map(|path| crate::files::checked_path(path)).collect()
}

/// The stable code of a failed git operation, for the audit log.
fn error_code(error: &ServiceError) -> &'static str {
    match error {
        ServiceError::Invalid(invalid) => invalid.code,
        ServiceError::Missing { code, .. }
        | ServiceError::Conflict { code, .. }
        | ServiceError::Upstream { code, .. }
        | ServiceError::BadRequest { code, .. }
        | ServiceError::Forbidden { code, .. } => code,
        ServiceError::NotFound => "not_found",
        _ => "internal",
    }
}
