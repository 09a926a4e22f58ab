//! Git on a project's workspace: status, diff, stage, commit, log, branches,
//! remotes, fetch/pull/push, and the project's git credential (write-only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dockyard_domain::ProjectId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, Ctx, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(init))
        .routes(routes!(diff))
        .routes(routes!(stage))
        .routes(routes!(unstage))
        .routes(routes!(commit))
        .routes(routes!(log))
        .routes(routes!(list_branches, create_branch))
        .routes(routes!(delete_branch))
        .routes(routes!(checkout))
        .routes(routes!(list_remotes, add_remote))
        .routes(routes!(update_remote, delete_remote))
        .routes(routes!(fetch))
        .routes(routes!(pull))
        .routes(routes!(push))
        .routes(routes!(get_credential, set_credential, delete_credential))
}

fn project_id(raw: &str) -> ApiResult<ProjectId> {
    path_id(raw)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusEntryDto {
    pub path: String,
    /// The most relevant change: `conflicted`, `untracked`, `added`, `modified`, `deleted`, `renamed` or `typechange`.
    pub status: String,
    /// The change staged in the index, if any.
    pub staged: Option<String>,
    /// The change in the working tree not yet staged, if any.
    pub unstaged: Option<String>,
    /// The former path of a rename.
    pub old_path: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusDto {
    /// Whether the workspace is a git repository; everything else is empty when not.
    pub repository: bool,
    /// The current branch; null when detached or not a repository.
    pub branch: Option<String>,
    pub head: Option<String>,
    pub upstream: Option<String>,
    pub ahead: usize,
    pub behind: usize,
    pub entries: Vec<StatusEntryDto>,
}

/// Staged, unstaged and untracked changes, and the branch.
#[utoipa::path(get, path = "/api/v1/projects/{project}/git/status", tag = "git", params(("project" = String, Path)),
    responses((status = 200, body = StatusDto), (status = 404, body = Problem)))]
async fn status(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<StatusDto>> {
    let project = project_id(&project)?;
    let Some(status) = state.services.git_status(&caller.actor, &project).await? else {
        return Ok(Json(StatusDto {
            repository: false,
            branch: None,
            head: None,
            upstream: None,
            ahead: 0,
            behind: 0,
            entries: Vec::new(),
        }));
    };
    Ok(Json(StatusDto {
        repository: true,
        branch: status.branch,
        head: status.head,
        upstream: status.upstream,
        ahead: status.ahead,
        behind: status.behind,
        entries: status
            .entries
            .into_iter()
            .map(|entry| StatusEntryDto {
                path: entry.path,
                status: entry.status.to_string(),
                staged: entry.staged.map(|change| change.as_str().to_owned()),
                unstaged: entry.unstaged.map(|change| change.as_str().to_owned()),
                old_path: entry.old_path,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    /// The initial branch; `main` when absent.
    pub branch: Option<String>,
}

/// Makes the workspace a git repository.
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/init", tag = "git", params(("project" = String, Path)), request_body = InitRequest,
    responses((status = 201), (status = 409, body = Problem)))]
async fn init(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<InitRequest>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_init(&caller.actor, &project, body.branch).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    /// One file or folder; the whole tree when absent.
    pub path: Option<String>,
    /// Staged changes (HEAD → index) instead of unstaged ones (index → working tree).
    pub staged: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiffLineDto {
    /// `context`, `add` or `delete`.
    pub kind: String,
    pub old_line: Option<u32>,
    pub new_line: Option<u32>,
    pub content: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HunkDto {
    pub header: String,
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<DiffLineDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileDiffDto {
    pub path: String,
    pub old_path: Option<String>,
    pub change: String,
    pub binary: bool,
    pub additions: usize,
    pub deletions: usize,
    pub hunks: Vec<HunkDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiffDto {
    /// The unified diff, as `git diff` prints it.
    pub text: String,
    /// Whether `text` was cut at the size cap.
    pub truncated: bool,
    pub files: Vec<FileDiffDto>,
}

/// The diff of one file or of the whole tree: unified text plus structured hunks.
#[utoipa::path(get, path = "/api/v1/projects/{project}/git/diff", tag = "git", params(("project" = String, Path), DiffParams),
    responses((status = 200, body = DiffDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn diff(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<DiffParams>,
) -> ApiResult<Json<DiffDto>> {
    let project = project_id(&project)?;
    let diff = state.services.git_diff(&caller.actor, &project, query.path, query.staged.unwrap_or(false)).await?;
    Ok(Json(DiffDto {
        text: diff.text,
        truncated: diff.truncated,
        files: diff
            .files
            .into_iter()
            .map(|file| FileDiffDto {
                path: file.path,
                old_path: file.old_path,
                change: file.change.as_str().to_owned(),
                binary: file.binary,
                additions: file.additions,
                deletions: file.deletions,
                hunks: file
                    .hunks
                    .into_iter()
                    .map(|hunk| HunkDto {
                        header: hunk.header,
                        old_start: hunk.old_start,
                        old_lines: hunk.old_lines,
                        new_start: hunk.new_start,
                        new_lines: hunk.new_lines,
                        lines: hunk
                            .lines
                            .into_iter()
                            .map(|line| DiffLineDto {
                                kind: line.kind.to_string(),
                                old_line: line.old_line,
                                new_line: line.new_line,
                                content: line.content,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PathsRequest {
    /// Paths relative to the workspace root; empty or `["."]` for everything.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// Stages changes (additions, modifications and deletions).
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/stage", tag = "git", params(("project" = String, Path)), request_body = PathsRequest,
    responses((status = 204), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn stage(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<PathsRequest>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_stage(&caller.actor, &project, body.paths).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unstages changes (the index goes back to HEAD for those paths).
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/unstage", tag = "git", params(("project" = String, Path)), request_body = PathsRequest,
    responses((status = 204), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn unstage(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<PathsRequest>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_unstage(&caller.actor, &project, body.paths).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    pub message: String,
    /// Stage these paths first; commit what is staged when absent.
    pub paths: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommitCreated {
    /// The new commit's id.
    pub commit: String,
}

/// Commits what is staged (after staging `paths`), authored by the caller.
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/commit", tag = "git", params(("project" = String, Path)), request_body = CommitRequest,
    responses((status = 201, body = CommitCreated), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn commit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<CommitRequest>,
) -> ApiResult<(StatusCode, Json<CommitCreated>)> {
    let project = project_id(&project)?;
    let commit = state.services.git_commit(&caller.actor, &project, body.message, body.paths).await?;
    Ok((StatusCode::CREATED, Json(CommitCreated { commit })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// A branch, tag or commit; HEAD when absent.
    pub rev: Option<String>,
    /// Only commits touching this path.
    pub path: Option<String>,
    /// The cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// Commits per page, 1 to 200 (default 50).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommitDto {
    pub id: String,
    pub short_id: String,
    pub summary: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub time: chrono::DateTime<chrono::Utc>,
    pub parents: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogDto {
    pub commits: Vec<CommitDto>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

/// The commit history, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/projects/{project}/git/log", tag = "git", params(("project" = String, Path), LogParams),
    responses((status = 200, body = LogDto), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn log(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<LogParams>,
) -> ApiResult<Json<LogDto>> {
    use chrono::TimeZone;
    let project = project_id(&project)?;
    let page = state
        .services
        .git_log(&caller.actor, &project, query.path, query.rev, query.after, query.limit.unwrap_or(50))
        .await?;
    Ok(Json(LogDto {
        commits: page
            .commits
            .into_iter()
            .map(|commit| CommitDto {
                time: chrono::Utc.timestamp_millis_opt(commit.time_ms).single().unwrap_or_default(),
                id: commit.id,
                short_id: commit.short_id,
                summary: commit.summary,
                message: commit.message,
                author_name: commit.author_name,
                author_email: commit.author_email,
                parents: commit.parents,
            })
            .collect(),
        next: page.next,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BranchDto {
    pub name: String,
    pub current: bool,
    /// The commit the branch points at.
    pub head: String,
    pub upstream: Option<String>,
    /// A remote-tracking branch (`origin/main`).
    pub remote: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BranchList {
    pub branches: Vec<BranchDto>,
}

/// Local and remote-tracking branches.
#[utoipa::path(get, path = "/api/v1/projects/{project}/git/branches", tag = "git", params(("project" = String, Path)),
    responses((status = 200, body = BranchList), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn list_branches(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<BranchList>> {
    let project = project_id(&project)?;
    let branches = state.services.git_branches(&caller.actor, &project).await?;
    Ok(Json(BranchList {
        branches: branches
            .into_iter()
            .map(|branch| BranchDto {
                name: branch.name,
                current: branch.current,
                head: branch.head,
                upstream: branch.upstream,
                remote: branch.remote,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBranch {
    pub name: String,
    /// A branch, tag or commit to start from; HEAD when absent.
    pub from: Option<String>,
    /// Switch to the new branch.
    #[serde(default)]
    pub checkout: bool,
}

/// Creates a branch.
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/branches", tag = "git", params(("project" = String, Path)), request_body = CreateBranch,
    responses((status = 201), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_branch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<CreateBranch>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_create_branch(&caller.actor, &project, body.name, body.from, body.checkout).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteBranchParams {
    /// Delete even when not merged.
    pub force: Option<bool>,
}

/// Deletes a local branch (never the current one; unmerged ones only with `force`).
#[utoipa::path(delete, path = "/api/v1/projects/{project}/git/branches/{*name}", tag = "git",
    params(("project" = String, Path), ("name" = String, Path), DeleteBranchParams),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_branch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<DeleteBranchParams>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_delete_branch(&caller.actor, &project, name, query.force.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// A local branch, or a remote-tracking one (`origin/x`), which creates a local tracking branch.
    pub branch: String,
}

/// Switches branches; refuses when local changes would be overwritten.
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/checkout", tag = "git", params(("project" = String, Path)), request_body = CheckoutRequest,
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "`quota_total_bytes`: the branch's files would take the workspace past its size quota")))]
async fn checkout(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<CheckoutRequest>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_switch_branch(&caller.actor, &project, body.branch).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemoteDto {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemoteList {
    pub remotes: Vec<RemoteDto>,
}

/// The repository's remotes.
#[utoipa::path(get, path = "/api/v1/projects/{project}/git/remotes", tag = "git", params(("project" = String, Path)),
    responses((status = 200, body = RemoteList), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn list_remotes(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<RemoteList>> {
    let project = project_id(&project)?;
    let remotes = state.services.git_remotes(&caller.actor, &project).await?;
    Ok(Json(RemoteList {
        remotes: remotes.into_iter().map(|remote| RemoteDto { name: remote.name, url: remote.url }).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRemote {
    pub name: String,
    /// An https URL without credentials (store a token with `PUT …/git/credential`).
    pub url: String,
}

/// Adds a remote.
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/remotes", tag = "git", params(("project" = String, Path)), request_body = AddRemote,
    responses((status = 201), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_remote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<AddRemote>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_add_remote(&caller.actor, &project, body.name, body.url).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRemote {
    pub url: String,
}

/// Changes a remote's URL.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/git/remotes/{name}", tag = "git",
    params(("project" = String, Path), ("name" = String, Path)), request_body = UpdateRemote,
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_remote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateRemote>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_set_remote_url(&caller.actor, &project, name, body.url).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a remote.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/git/remotes/{name}", tag = "git",
    params(("project" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_remote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_remove_remote(&caller.actor, &project, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteRequest {
    /// `origin` when absent.
    pub remote: Option<String>,
    /// The branch; the current one when absent.
    pub branch: Option<String>,
    /// Push only: record the remote branch as the upstream.
    #[serde(default)]
    pub set_upstream: bool,
}

/// Fetches from a remote with the project's git credential.
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/fetch", tag = "git", params(("project" = String, Path)), request_body = RemoteRequest,
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "`quota_total_bytes`: the fetch was stopped, the workspace would pass its size quota"),
        (status = 502, body = Problem)))]
async fn fetch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<RemoteRequest>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_fetch(&caller.actor, &project, body.remote, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PullDto {
    /// Whether the branch moved.
    pub updated: bool,
    /// The commit the branch is at now.
    pub head: String,
}

/// Fetches and fast-forwards the current branch; refuses (409 `git_diverged`) when it cannot.
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/pull", tag = "git", params(("project" = String, Path)), request_body = RemoteRequest,
    responses((status = 200, body = PullDto), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "`quota_total_bytes`: the fetch or the fast-forward would take the workspace past its size quota"),
        (status = 502, body = Problem)))]
async fn pull(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<RemoteRequest>,
) -> ApiResult<Json<PullDto>> {
    let project = project_id(&project)?;
    let outcome = state.services.git_pull(&caller.actor, &project, body.remote, body.branch, &context).await?;
    Ok(Json(PullDto { updated: outcome.updated, head: outcome.head }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PushDto {
    pub branch: String,
}

/// Pushes a branch with the project's git credential. Audited.
#[utoipa::path(post, path = "/api/v1/projects/{project}/git/push", tag = "git", params(("project" = String, Path)), request_body = RemoteRequest,
    responses((status = 200, body = PushDto), (status = 404, body = Problem), (status = 409, body = Problem), (status = 502, body = Problem)))]
async fn push(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<RemoteRequest>,
) -> ApiResult<Json<PushDto>> {
    let project = project_id(&project)?;
    let branch =
        state.services.git_push(&caller.actor, &project, body.remote, body.branch, body.set_upstream, &context).await?;
    Ok(Json(PushDto { branch }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialDto {
    pub configured: bool,
    pub username: Option<String>,
}

/// Whether the project has a git credential (the token is never returned).
#[utoipa::path(get, path = "/api/v1/projects/{project}/git/credential", tag = "git", params(("project" = String, Path)),
    responses((status = 200, body = CredentialDto), (status = 404, body = Problem)))]
async fn get_credential(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<CredentialDto>> {
    let project = project_id(&project)?;
    let info = state.services.git_credential_info(&caller.actor, &project).await?;
    Ok(Json(CredentialDto { configured: info.configured, username: info.username }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCredential {
    /// `x-access-token` when absent.
    pub username: Option<String>,
    pub token: String,
}

/// Stores the project's git credential, encrypted at rest (admins and up).
#[utoipa::path(put, path = "/api/v1/projects/{project}/git/credential", tag = "git", params(("project" = String, Path)), request_body = SetCredential,
    responses((status = 200, body = CredentialDto), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_credential(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<SetCredential>,
) -> ApiResult<Json<CredentialDto>> {
    let project = project_id(&project)?;
    let info = state.services.git_set_credential(&caller.actor, &project, body.username, body.token, &context).await?;
    Ok(Json(CredentialDto { configured: info.configured, username: info.username }))
}

/// Deletes the project's git credential (admins and up).
#[utoipa::path(delete, path = "/api/v1/projects/{project}/git/credential", tag = "git", params(("project" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_credential(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    let project = project_id(&project)?;
    state.services.git_delete_credential(&caller.actor, &project, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}
