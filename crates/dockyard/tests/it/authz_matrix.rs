//! The authorization matrix: every route of the OpenAPI document, called by
//! every kind of caller, with the exact status (and problem code) each must get.
//!
//! [`table`] has at least one row per (method, path template) of the document,
//! sometimes more (variants such as "grant owner" next to "grant admin"). A
//! documented route without a row, or a row whose route is no longer
//! documented, fails the test: a new route cannot ship without deciding who may
//! call it. Every cell that would change or destroy something gets a fresh
//! resource of its own, and every wrong cell is collected, so one run shows the
//! whole picture.
//!
//! Semantics (see `dockyard_domain::policy`): anonymous callers get 401 on every
//! authenticated route; a caller who is not a member of the org gets 404 for
//! its resources, never 403; a member whose role is too low gets 403
//! `forbidden`; a token whose scope is too narrow gets 403 `insufficient_scope`;
//! instance admins act as owners on every org and alone may use
//! `/api/v1/admin/*`.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, Client, PASSWORD, Reply, TestApp, spawn_app_with};

/// The callers, in the order of the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// No cookie, no token.
    Anonymous,
    /// Members of acme with that role, signed in with a session cookie.
    Viewer,
    Developer,
    Admin,
    Owner,
    /// Owner of another org; not a member of acme.
    Outsider,
    /// The first user from setup: not a member of acme, owner rights everywhere.
    InstanceAdmin,
    /// Bearer tokens of acme's owner, scoped `read` and `admin`.
    ReadToken,
    AdminToken,
}

const WHO: [Who; 9] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Developer,
    Who::Admin,
    Who::Owner,
    Who::Outsider,
    Who::InstanceAdmin,
    Who::ReadToken,
    Who::AdminToken,
];

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Who::Anonymous => "anonymous",
            Who::Viewer => "viewer",
            Who::Developer => "developer",
            Who::Admin => "admin",
            Who::Owner => "owner",
            Who::Outsider => "outsider",
            Who::InstanceAdmin => "instance_admin",
            Who::ReadToken => "read_token",
            Who::AdminToken => "admin_token",
        })
    }
}

/// An expected answer: the status, and for errors the problem `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    status: u16,
    code: Option<&'static str>,
}

impl Expect {
    fn matches(self, reply: &Reply) -> bool {
        reply.status == self.status && self.code.is_none_or(|code| reply.code() == code)
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} {code}", self.status),
            None => write!(f, "{}", self.status),
        }
    }
}

const OK: Expect = Expect { status: 200, code: None };
const CREATED: Expect = Expect { status: 201, code: None };
const DONE: Expect = Expect { status: 204, code: None };
const UNAUTH: Expect = Expect { status: 401, code: Some("unauthenticated") };
const FORBID: Expect = Expect { status: 403, code: Some("forbidden") };
const SCOPE: Expect = Expect { status: 403, code: Some("insufficient_scope") };
const HIDDEN: Expect = Expect { status: 404, code: Some("not_found") };
const BAD_LOGIN: Expect = Expect { status: 401, code: Some("invalid_credentials") };
const SET_UP: Expect = Expect { status: 409, code: Some("already_set_up") };
const ACCEPTED: Expect = Expect { status: 202, code: None };
/// Past the policy, fetch/pull/push find no `origin` in the shared repository.
const NO_REMOTE: Expect = Expect { status: 404, code: Some("git_remote_not_found") };
/// Past the policy, the terminal socket answers a plain GET that it only speaks WebSocket.
const NOT_WS: Expect = Expect { status: 426, code: Some("websocket_required") };
/// Past the policy, the matrix's Dockyard has no container engine.
const NO_ENGINE: Expect = Expect { status: 503, code: Some("runtime_unavailable") };
/// Past the policy, the shared deployment already failed.
const FINISHED: Expect = Expect { status: 409, code: Some("deployment_finished") };
const NOT_LIVE: Expect = Expect { status: 409, code: Some("deployment_not_rollbackable") };
/// Past the policy, the shared agent session (a workspace session that ended) takes no input, stop, diff or review.
const NOT_RUNNING: Expect = Expect { status: 409, code: Some("session_not_running") };
const SESSION_DONE: Expect = Expect { status: 409, code: Some("session_finished") };
const NO_DIFF: Expect = Expect { status: 409, code: Some("no_diff") };
const NO_WORKTREE: Expect = Expect { status: 409, code: Some("no_worktree") };
/// Past the policy, the org has no such agent secret.
const NO_SECRET: Expect = Expect { status: 404, code: Some("agent_secret_not_found") };
/// Past the policy, the matrix's Dockyard has no assistant endpoint.
const NOT_CONFIGURED: Expect = Expect { status: 503, code: Some("assistant_not_configured") };
/// Past the policy, the shared project holds only a README: nothing to build.
const NO_PLAN: Expect = Expect { status: 400, code: Some("no_build_plan") };

/// What a row's request does; decides the fresh resources and the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Healthz,
    Readyz,
    SetupStatus,
    CurrentSession,
    /// A valid body on a set-up instance: 409 for everyone.
    Setup,
    /// Wrong credentials: 401 for everyone.
    Login,
    /// From a fresh session of the acting user.
    Logout,
    GetMe,
    UpdateMe,
    /// Current and new password are the same, so later sign-ins still work.
    ChangePassword,
    ListSessions,
    /// A fresh session of the acting user.
    RevokeOwnSession,
    /// A fresh session of someone else: 404, and it must survive.
    RevokeForeignSession,
    /// The caller's editor settings.
    GetSettings,
    /// A valid partial change of the caller's settings.
    UpdateSettings,
    /// The caller's layout of the shared project.
    GetLayout,
    /// A small layout of the shared project for the caller.
    SaveLayout,
    ListTokens,
    CreateToken,
    /// A fresh token of the acting user.
    RevokeOwnToken,
    /// A fresh token of someone else: 404, and it must survive.
    RevokeForeignToken,
    ListOrgs,
    CreateOrg,
    GetOrg,
    UpdateOrg,
    /// A fresh org with the same members as acme.
    DeleteOrg,
    OrgAudit,
    ListMembers,
    /// A fresh user added as developer.
    AddMember,
    /// A fresh user added as owner.
    AddOwner,
    /// A fresh developer made admin.
    PromoteToAdmin,
    /// A fresh developer made owner.
    PromoteToOwner,
    /// A fresh (second) owner made admin.
    DemoteOwner,
    /// A fresh developer removed.
    RemoveMember,
    /// A fresh (second) owner removed.
    RemoveOwner,
    /// The acting user removes themselves from a fresh org that has a second owner.
    LeaveOrg,
    ListProjects,
    CreateProject,
    GetProject,
    /// A fresh project.
    UpdateProject,
    /// A fresh project.
    DeleteProject,
    /// The root of the shared project's workspace.
    ReadTree,
    /// A file of the shared project, written by the owner first.
    ReadFile,
    /// A fresh file name: 201.
    WriteFile,
    /// A fresh file, written by the owner first.
    DeleteFile,
    /// A fresh file moved to a fresh name.
    MoveFile,
    /// A fresh file copied to a fresh name.
    CopyFile,
    /// A fresh folder name.
    CreateFolder,
    /// The quick-open index of the shared project.
    FileIndex,
    /// A search of the shared project.
    SearchFiles,
    /// A replace whose query matches nothing: 200 with no changes.
    ReplaceFiles,
    /// One fresh file in a multipart body.
    Upload,
    /// The shared finished job of acme's shared project.
    GetJob,
    /// The shared job's event stream: it replays and ends, since the job is finished.
    JobEvents,
    /// A new project from one uploaded file (multipart).
    ImportProject,
    /// One uploaded file into a fresh project (multipart).
    ImportInto,
    /// The shared project as JSON.
    ExportProject,
    /// The shared project is a repository with one commit.
    GitStatus,
    /// A fresh project.
    GitInit,
    GitDiff,
    /// Stage / unstage everything in the shared repository.
    GitStage,
    GitUnstage,
    /// A fresh file written by the owner, committed by path.
    GitCommit,
    GitLog,
    GitBranches,
    /// A fresh branch name.
    GitCreateBranch,
    /// A fresh branch made by the owner.
    GitDeleteBranch,
    /// A fresh branch at HEAD made by the owner (same tree, so nothing moves).
    GitCheckout,
    GitRemotes,
    /// A fresh remote name.
    GitAddRemote,
    /// A fresh remote made by the owner.
    GitUpdateRemote,
    GitDeleteRemote,
    /// The shared repository has no `origin`.
    GitFetch,
    GitPull,
    GitPush,
    GitCredential,
    /// A fresh project.
    GitSetCredential,
    /// A fresh project with a credential set by the owner.
    GitDeleteCredential,
    /// The shared project's terminals.
    ListTerminals,
    /// A terminal in the shared project (at most five cells succeed, under the per-project cap).
    CreateTerminal,
    /// A fresh project with a terminal the owner opened.
    GetTerminal,
    DeleteTerminal,
    /// A plain GET of the socket route of a fresh project's terminal.
    TerminalSocket,
    /// The shared project's services.
    ListServices,
    /// A fresh service name in the shared project.
    CreateService,
    /// The shared service.
    GetService,
    UpdateService,
    /// A fresh service made by the owner.
    DeleteService,
    ListDeployments,
    /// A deployment of the shared service (it fails at once: no engine).
    CreateDeployment,
    /// An upload to the shared service (past the policy: no engine, so nothing is read).
    UploadDeployment,
    /// The shared (failed) deployment.
    GetDeployment,
    CancelDeployment,
    DeploymentLogs,
    /// Back to the shared deployment, which never went live.
    Rollback,
    ServiceLogs,
    StopService,
    StartService,
    RestartService,
    ServiceMetrics,
    ServicePlan,
    /// Agent profiles (the instance admin's), org agent secrets, and sessions of the shared profile.
    AdminListProfiles,
    AdminCreateProfile,
    /// The shared profile, re-enabled.
    AdminUpdateProfile,
    /// A fresh profile made by the instance admin.
    AdminDeleteProfile,
    UsableProfiles,
    ListAgentSecrets,
    PutAgentSecret,
    /// A key nobody set.
    DeleteAgentSecret,
    ListMyAgentSecrets,
    PutMyAgentSecret,
    /// A key nobody set.
    DeleteMyAgentSecret,
    ListAgentSessions,
    /// A workspace session of the shared profile (`/bin/true`).
    StartAgentSession,
    /// The shared session, which ended.
    GetAgentSession,
    AgentSessionEvents,
    /// A plain GET of the socket route.
    AgentSessionSocket,
    AgentSessionInput,
    StopAgentSession,
    AgentSessionDiff,
    ApplyAgentSession,
    DiscardAgentSession,
    FollowUpAgentSession,
    /// The assistant, with no endpoint configured.
    AssistantChat,
    AssistantComplete,
    GetOrgAssistant,
    /// A fresh org.
    PutOrgAssistant,
    /// A fresh org with an endpoint the owner set.
    DeleteOrgAssistant,
    ListUsers,
    CreateUser,
    /// A fresh user made instance admin.
    UpdateUser,
    InstanceAudit,
}

struct Row {
    method: &'static str,
    path: &'static str,
    case: Case,
    expect: [Expect; 9],
}

const fn row(method: &'static str, path: &'static str, case: Case, expect: [Expect; 9]) -> Row {
    Row { method, path, case, expect }
}

/// The matrix. Columns: anonymous, viewer, developer, admin, owner, outsider,
/// instance_admin, read_token, admin_token (both tokens belong to acme's owner).
#[rustfmt::skip]
fn table() -> Vec<Row> {
    use Case::*;
    vec![
        // Public routes answer the same to everyone.
        row("GET",    "/healthz",                          Healthz,              [OK; 9]),
        row("GET",    "/readyz",                           Readyz,               [OK; 9]),
        row("GET",    "/api/v1/setup",                     SetupStatus,          [OK; 9]),
        row("GET",    "/api/v1/auth/session",              CurrentSession,       [OK; 9]),
        row("POST",   "/api/v1/setup",                     Setup,                [SET_UP; 9]),
        row("POST",   "/api/v1/auth/login",                Login,                [BAD_LOGIN; 9]),
        //                                                                        anon    viewer  develop admin   owner   outsider inst_adm read_tk admin_tk
        // The caller's own account.
        row("POST",   "/api/v1/auth/logout",               Logout,               [UNAUTH, DONE,    DONE,    DONE,    DONE,    DONE,    DONE,    DONE,   DONE]),
        row("GET",    "/api/v1/me",                        GetMe,                [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      OK,     OK]),
        row("PATCH",  "/api/v1/me",                        UpdateMe,             [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      SCOPE,  OK]),
        row("POST",   "/api/v1/me/password",               ChangePassword,       [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      SCOPE,  OK]),
        row("GET",    "/api/v1/me/sessions",               ListSessions,         [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      SCOPE,  OK]),
        row("DELETE", "/api/v1/me/sessions/{id}",          RevokeOwnSession,     [UNAUTH, DONE,    DONE,    DONE,    DONE,    DONE,    DONE,    SCOPE,  DONE]),
        row("DELETE", "/api/v1/me/sessions/{id}",          RevokeForeignSession, [UNAUTH, HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  SCOPE,  HIDDEN]),
        // The caller's own preferences; a layout also needs the project to be readable.
        row("GET",    "/api/v1/me/settings",               GetSettings,          [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      OK,     OK]),
        row("PUT",    "/api/v1/me/settings",               UpdateSettings,       [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      SCOPE,  OK]),
        row("GET",    "/api/v1/me/layouts/{project}",      GetLayout,            [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("PUT",    "/api/v1/me/layouts/{project}",      SaveLayout,           [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("GET",    "/api/v1/tokens",                    ListTokens,           [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      SCOPE,  OK]),
        row("POST",   "/api/v1/tokens",                    CreateToken,          [UNAUTH, CREATED, CREATED, CREATED, CREATED, CREATED, CREATED, SCOPE,  CREATED]),
        row("DELETE", "/api/v1/tokens/{id}",               RevokeOwnToken,       [UNAUTH, DONE,    DONE,    DONE,    DONE,    DONE,    DONE,    SCOPE,  DONE]),
        row("DELETE", "/api/v1/tokens/{id}",               RevokeForeignToken,   [UNAUTH, HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  SCOPE,  HIDDEN]),
        // Orgs and members.
        row("GET",    "/api/v1/orgs",                      ListOrgs,             [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      OK,     OK]),
        row("POST",   "/api/v1/orgs",                      CreateOrg,            [UNAUTH, CREATED, CREATED, CREATED, CREATED, CREATED, CREATED, SCOPE,  CREATED]),
        row("GET",    "/api/v1/orgs/{org}",                GetOrg,               [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("PATCH",  "/api/v1/orgs/{org}",                UpdateOrg,            [UNAUTH, FORBID,  FORBID,  OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("DELETE", "/api/v1/orgs/{org}",                DeleteOrg,            [UNAUTH, FORBID,  FORBID,  FORBID,  DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("GET",    "/api/v1/orgs/{org}/audit",          OrgAudit,             [UNAUTH, FORBID,  FORBID,  OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("GET",    "/api/v1/orgs/{org}/members",        ListMembers,          [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/orgs/{org}/members",        AddMember,            [UNAUTH, FORBID,  FORBID,  CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("POST",   "/api/v1/orgs/{org}/members",        AddOwner,             [UNAUTH, FORBID,  FORBID,  FORBID,  CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("PATCH",  "/api/v1/orgs/{org}/members/{user}", PromoteToAdmin,       [UNAUTH, FORBID,  FORBID,  OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("PATCH",  "/api/v1/orgs/{org}/members/{user}", PromoteToOwner,       [UNAUTH, FORBID,  FORBID,  FORBID,  OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("PATCH",  "/api/v1/orgs/{org}/members/{user}", DemoteOwner,          [UNAUTH, FORBID,  FORBID,  FORBID,  OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("DELETE", "/api/v1/orgs/{org}/members/{user}", RemoveMember,         [UNAUTH, FORBID,  FORBID,  DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("DELETE", "/api/v1/orgs/{org}/members/{user}", RemoveOwner,          [UNAUTH, FORBID,  FORBID,  FORBID,  DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        // Members may always leave; the instance admin is no member, so there is nothing to leave.
        row("DELETE", "/api/v1/orgs/{org}/members/{user}", LeaveOrg,             [UNAUTH, DONE,    DONE,    DONE,    DONE,    HIDDEN,  HIDDEN,  SCOPE,  DONE]),
        // Projects.
        row("GET",    "/api/v1/orgs/{org}/projects",       ListProjects,         [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/orgs/{org}/projects",       CreateProject,        [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("GET",    "/api/v1/projects/{project}",        GetProject,           [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("PATCH",  "/api/v1/projects/{project}",        UpdateProject,        [UNAUTH, FORBID,  OK,      OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("DELETE", "/api/v1/projects/{project}",        DeleteProject,        [UNAUTH, FORBID,  FORBID,  DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        // Workspace files: viewers read, developers write.
        row("GET",    "/api/v1/projects/{project}/tree",   ReadTree,             [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("GET",    "/api/v1/projects/{project}/files/{path}", ReadFile,       [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("PUT",    "/api/v1/projects/{project}/files/{path}", WriteFile,      [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("DELETE", "/api/v1/projects/{project}/files/{path}", DeleteFile,     [UNAUTH, FORBID,  DONE,    DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("POST",   "/api/v1/projects/{project}/move",   MoveFile,             [UNAUTH, FORBID,  OK,      OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("POST",   "/api/v1/projects/{project}/copy",   CopyFile,             [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("POST",   "/api/v1/projects/{project}/folders", CreateFolder,        [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("GET",    "/api/v1/projects/{project}/file-index", FileIndex,        [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        // Search reads; replace (even a preview) writes.
        row("GET",    "/api/v1/projects/{project}/search", SearchFiles,          [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/projects/{project}/replace", ReplaceFiles,        [UNAUTH, FORBID,  OK,      OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("POST",   "/api/v1/projects/{project}/upload", Upload,              [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        // Jobs: whoever may read the org's projects reads its jobs and their event streams.
        row("GET",    "/api/v1/jobs/{job}",                GetJob,               [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("GET",    "/api/v1/jobs/{job}/events",         JobEvents,            [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        // Imports create or write (developers); exports read.
        row("POST",   "/api/v1/orgs/{org}/projects/import", ImportProject,       [UNAUTH, FORBID,  ACCEPTED, ACCEPTED, ACCEPTED, HIDDEN, ACCEPTED, SCOPE, ACCEPTED]),
        row("POST",   "/api/v1/projects/{project}/import", ImportInto,           [UNAUTH, FORBID,  ACCEPTED, ACCEPTED, ACCEPTED, HIDDEN, ACCEPTED, SCOPE, ACCEPTED]),
        row("GET",    "/api/v1/projects/{project}/export", ExportProject,        [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        // Git: viewers read, developers change, admins hold the credential.
        row("GET",    "/api/v1/projects/{project}/git/status", GitStatus,        [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/projects/{project}/git/init", GitInit,            [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("GET",    "/api/v1/projects/{project}/git/diff", GitDiff,            [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/projects/{project}/git/stage", GitStage,          [UNAUTH, FORBID,  DONE,    DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("POST",   "/api/v1/projects/{project}/git/unstage", GitUnstage,      [UNAUTH, FORBID,  DONE,    DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("POST",   "/api/v1/projects/{project}/git/commit", GitCommit,        [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("GET",    "/api/v1/projects/{project}/git/log", GitLog,              [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("GET",    "/api/v1/projects/{project}/git/branches", GitBranches,    [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/projects/{project}/git/branches", GitCreateBranch, [UNAUTH, FORBID, CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("DELETE", "/api/v1/projects/{project}/git/branches/{name}", GitDeleteBranch, [UNAUTH, FORBID, DONE, DONE, DONE, HIDDEN,  DONE,    SCOPE,  DONE]),
        row("POST",   "/api/v1/projects/{project}/git/checkout", GitCheckout,    [UNAUTH, FORBID,  DONE,    DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("GET",    "/api/v1/projects/{project}/git/remotes", GitRemotes,      [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/projects/{project}/git/remotes", GitAddRemote,    [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("PATCH",  "/api/v1/projects/{project}/git/remotes/{name}", GitUpdateRemote, [UNAUTH, FORBID, DONE, DONE, DONE,  HIDDEN,  DONE,    SCOPE,  DONE]),
        row("DELETE", "/api/v1/projects/{project}/git/remotes/{name}", GitDeleteRemote, [UNAUTH, FORBID, DONE, DONE, DONE,  HIDDEN,  DONE,    SCOPE,  DONE]),
        row("POST",   "/api/v1/projects/{project}/git/fetch", GitFetch,          [UNAUTH, FORBID,  NO_REMOTE, NO_REMOTE, NO_REMOTE, HIDDEN, NO_REMOTE, SCOPE, NO_REMOTE]),
        row("POST",   "/api/v1/projects/{project}/git/pull", GitPull,            [UNAUTH, FORBID,  NO_REMOTE, NO_REMOTE, NO_REMOTE, HIDDEN, NO_REMOTE, SCOPE, NO_REMOTE]),
        row("POST",   "/api/v1/projects/{project}/git/push", GitPush,            [UNAUTH, FORBID,  NO_REMOTE, NO_REMOTE, NO_REMOTE, HIDDEN, NO_REMOTE, SCOPE, NO_REMOTE]),
        row("GET",    "/api/v1/projects/{project}/git/credential", GitCredential, [UNAUTH, OK,     OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("PUT",    "/api/v1/projects/{project}/git/credential", GitSetCredential, [UNAUTH, FORBID, FORBID, OK,   OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("DELETE", "/api/v1/projects/{project}/git/credential", GitDeleteCredential, [UNAUTH, FORBID, FORBID, DONE, DONE, HIDDEN,  DONE,    SCOPE,  DONE]),
        // Terminals run code: developers and up, listing included.
        row("GET",    "/api/v1/projects/{project}/terminals", ListTerminals,     [UNAUTH, FORBID,  OK,      OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("POST",   "/api/v1/projects/{project}/terminals", CreateTerminal,    [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("GET",    "/api/v1/projects/{project}/terminals/{terminal}", GetTerminal, [UNAUTH, FORBID, OK,  OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("DELETE", "/api/v1/projects/{project}/terminals/{terminal}", DeleteTerminal, [UNAUTH, FORBID, DONE, DONE, DONE,   HIDDEN,  DONE,    SCOPE,  DONE]),
        row("GET",    "/api/v1/projects/{project}/terminals/{terminal}/ws", TerminalSocket, [UNAUTH, FORBID, NOT_WS, NOT_WS, NOT_WS, HIDDEN, NOT_WS, SCOPE, NOT_WS]),
        // Deploys: reading is for members, changing for developers and up.
        row("GET",    "/api/v1/projects/{project}/services", ListServices,       [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/projects/{project}/services", CreateService,      [UNAUTH, FORBID,  CREATED, CREATED, CREATED, HIDDEN,  CREATED, SCOPE,  CREATED]),
        row("GET",    "/api/v1/services/{service}",        GetService,           [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("PATCH",  "/api/v1/services/{service}",        UpdateService,        [UNAUTH, FORBID,  OK,      OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("DELETE", "/api/v1/services/{service}",        DeleteService,        [UNAUTH, FORBID,  DONE,    DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("GET",    "/api/v1/services/{service}/deployments", ListDeployments, [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/services/{service}/deployments", CreateDeployment, [UNAUTH, FORBID, ACCEPTED, ACCEPTED, ACCEPTED, HIDDEN, ACCEPTED, SCOPE, ACCEPTED]),
        row("POST",   "/api/v1/services/{service}/deployments/upload", UploadDeployment, [UNAUTH, FORBID, NO_ENGINE, NO_ENGINE, NO_ENGINE, HIDDEN, NO_ENGINE, SCOPE, NO_ENGINE]),
        row("GET",    "/api/v1/deployments/{deployment}",  GetDeployment,        [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/deployments/{deployment}/cancel", CancelDeployment, [UNAUTH, FORBID, FINISHED, FINISHED, FINISHED, HIDDEN, FINISHED, SCOPE, FINISHED]),
        row("GET",    "/api/v1/deployments/{deployment}/logs", DeploymentLogs,   [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/services/{service}/rollback", Rollback,           [UNAUTH, FORBID,  NOT_LIVE, NOT_LIVE, NOT_LIVE, HIDDEN, NOT_LIVE, SCOPE, NOT_LIVE]),
        row("GET",    "/api/v1/services/{service}/logs",   ServiceLogs,          [UNAUTH, NO_ENGINE, NO_ENGINE, NO_ENGINE, NO_ENGINE, HIDDEN, NO_ENGINE, NO_ENGINE, NO_ENGINE]),
        row("POST",   "/api/v1/services/{service}/stop",   StopService,          [UNAUTH, FORBID,  NO_ENGINE, NO_ENGINE, NO_ENGINE, HIDDEN, NO_ENGINE, SCOPE, NO_ENGINE]),
        row("POST",   "/api/v1/services/{service}/start",  StartService,         [UNAUTH, FORBID,  NO_ENGINE, NO_ENGINE, NO_ENGINE, HIDDEN, NO_ENGINE, SCOPE, NO_ENGINE]),
        row("POST",   "/api/v1/services/{service}/restart", RestartService,      [UNAUTH, FORBID,  NO_ENGINE, NO_ENGINE, NO_ENGINE, HIDDEN, NO_ENGINE, SCOPE, NO_ENGINE]),
        row("GET",    "/api/v1/services/{service}/metrics", ServiceMetrics,      [UNAUTH, NO_ENGINE, NO_ENGINE, NO_ENGINE, NO_ENGINE, HIDDEN, NO_ENGINE, NO_ENGINE, NO_ENGINE]),
        row("GET",    "/api/v1/services/{service}/plan",   ServicePlan,          [UNAUTH, NO_PLAN, NO_PLAN, NO_PLAN, NO_PLAN, HIDDEN, NO_PLAN, NO_PLAN, NO_PLAN]),
        // Agents: profiles are the instance admin's; secrets the org admins'; sessions like code.
        row("GET",    "/api/v1/admin/agent-profiles",      AdminListProfiles,    [UNAUTH, FORBID,  FORBID,  FORBID,  FORBID,  FORBID,  OK,      FORBID, FORBID]),
        row("POST",   "/api/v1/admin/agent-profiles",      AdminCreateProfile,   [UNAUTH, FORBID,  FORBID,  FORBID,  FORBID,  FORBID,  CREATED, FORBID, FORBID]),
        row("PATCH",  "/api/v1/admin/agent-profiles/{profile}", AdminUpdateProfile, [UNAUTH, FORBID, FORBID, FORBID,  FORBID,  FORBID,  OK,      FORBID, FORBID]),
        row("DELETE", "/api/v1/admin/agent-profiles/{profile}", AdminDeleteProfile, [UNAUTH, FORBID, FORBID, FORBID,  FORBID,  FORBID,  DONE,    FORBID, FORBID]),
        row("GET",    "/api/v1/agent-profiles",            UsableProfiles,       [UNAUTH, OK,      OK,      OK,      OK,      OK,      OK,      OK,     OK]),
        row("GET",    "/api/v1/orgs/{org}/agent-secrets",  ListAgentSecrets,     [UNAUTH, FORBID,  FORBID,  OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("PUT",    "/api/v1/orgs/{org}/agent-secrets/{key}", PutAgentSecret,  [UNAUTH, FORBID,  FORBID,  DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("DELETE", "/api/v1/orgs/{org}/agent-secrets/{key}", DeleteAgentSecret, [UNAUTH, FORBID, FORBID, NO_SECRET, NO_SECRET, HIDDEN, NO_SECRET, SCOPE, NO_SECRET]),
        row("GET",    "/api/v1/orgs/{org}/my-agent-secrets", ListMyAgentSecrets, [UNAUTH, FORBID, OK,      OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("PUT",    "/api/v1/orgs/{org}/my-agent-secrets/{key}", PutMyAgentSecret, [UNAUTH, FORBID, DONE,  DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        row("DELETE", "/api/v1/orgs/{org}/my-agent-secrets/{key}", DeleteMyAgentSecret, [UNAUTH, FORBID, NO_SECRET, NO_SECRET, NO_SECRET, HIDDEN, NO_SECRET, SCOPE, NO_SECRET]),
        row("GET",    "/api/v1/projects/{project}/agent-sessions", ListAgentSessions, [UNAUTH, OK,   OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("POST",   "/api/v1/projects/{project}/agent-sessions", StartAgentSession, [UNAUTH, FORBID, CREATED, CREATED, CREATED, HIDDEN, CREATED, SCOPE, CREATED]),
        row("GET",    "/api/v1/agent-sessions/{session}",  GetAgentSession,      [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("GET",    "/api/v1/agent-sessions/{session}/events", AgentSessionEvents, [UNAUTH, OK,  OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("GET",    "/api/v1/agent-sessions/{session}/ws", AgentSessionSocket, [UNAUTH, NOT_WS,  NOT_WS,  NOT_WS,  NOT_WS,  HIDDEN,  NOT_WS,  NOT_WS, NOT_WS]),
        row("POST",   "/api/v1/agent-sessions/{session}/input", AgentSessionInput, [UNAUTH, FORBID, NOT_RUNNING, NOT_RUNNING, NOT_RUNNING, HIDDEN, NOT_RUNNING, SCOPE, NOT_RUNNING]),
        row("POST",   "/api/v1/agent-sessions/{session}/stop", StopAgentSession, [UNAUTH, FORBID, SESSION_DONE, SESSION_DONE, SESSION_DONE, HIDDEN, SESSION_DONE, SCOPE, SESSION_DONE]),
        row("GET",    "/api/v1/agent-sessions/{session}/diff", AgentSessionDiff, [UNAUTH, NO_DIFF, NO_DIFF, NO_DIFF, NO_DIFF, HIDDEN,  NO_DIFF, NO_DIFF, NO_DIFF]),
        row("POST",   "/api/v1/agent-sessions/{session}/apply", ApplyAgentSession, [UNAUTH, FORBID, NO_WORKTREE, NO_WORKTREE, NO_WORKTREE, HIDDEN, NO_WORKTREE, SCOPE, NO_WORKTREE]),
        row("POST",   "/api/v1/agent-sessions/{session}/follow-up", FollowUpAgentSession, [UNAUTH, FORBID, NO_WORKTREE, NO_WORKTREE, NO_WORKTREE, HIDDEN, NO_WORKTREE, SCOPE, NO_WORKTREE]),
        row("POST",   "/api/v1/agent-sessions/{session}/discard", DiscardAgentSession, [UNAUTH, FORBID, NO_WORKTREE, NO_WORKTREE, NO_WORKTREE, HIDDEN, NO_WORKTREE, SCOPE, NO_WORKTREE]),
        // The assistant: members chat and complete (no endpoint here, so 503 past the policy); org admins set the org's endpoint.
        row("POST",   "/api/v1/assistant/chat",            AssistantChat,        [UNAUTH, NOT_CONFIGURED, NOT_CONFIGURED, NOT_CONFIGURED, NOT_CONFIGURED, HIDDEN, NOT_CONFIGURED, NOT_CONFIGURED, NOT_CONFIGURED]),
        row("POST",   "/api/v1/assistant/complete",        AssistantComplete,    [UNAUTH, NOT_CONFIGURED, NOT_CONFIGURED, NOT_CONFIGURED, NOT_CONFIGURED, HIDDEN, NOT_CONFIGURED, NOT_CONFIGURED, NOT_CONFIGURED]),
        row("GET",    "/api/v1/orgs/{org}/assistant",      GetOrgAssistant,      [UNAUTH, OK,      OK,      OK,      OK,      HIDDEN,  OK,      OK,     OK]),
        row("PUT",    "/api/v1/orgs/{org}/assistant",      PutOrgAssistant,      [UNAUTH, FORBID,  FORBID,  OK,      OK,      HIDDEN,  OK,      SCOPE,  OK]),
        row("DELETE", "/api/v1/orgs/{org}/assistant",      DeleteOrgAssistant,   [UNAUTH, FORBID,  FORBID,  DONE,    DONE,    HIDDEN,  DONE,    SCOPE,  DONE]),
        // Instance administration: instance admins only (the owner's tokens are still not an instance admin).
        row("GET",    "/api/v1/admin/users",               ListUsers,            [UNAUTH, FORBID,  FORBID,  FORBID,  FORBID,  FORBID,  OK,      FORBID, FORBID]),
        row("POST",   "/api/v1/admin/users",               CreateUser,           [UNAUTH, FORBID,  FORBID,  FORBID,  FORBID,  FORBID,  CREATED, FORBID, FORBID]),
        row("PATCH",  "/api/v1/admin/users/{user}",        UpdateUser,           [UNAUTH, FORBID,  FORBID,  FORBID,  FORBID,  FORBID,  OK,      FORBID, FORBID]),
        row("GET",    "/api/v1/admin/audit",               InstanceAudit,        [UNAUTH, FORBID,  FORBID,  FORBID,  FORBID,  FORBID,  OK,      FORBID, FORBID]),
    ]
}

/// A signed-in user.
struct Person {
    email: String,
    id: String,
    client: Client,
}

/// The app and its cast.
struct World {
    app: TestApp,
    anonymous: Client,
    instance_admin: Person,
    viewer: Person,
    developer: Person,
    admin: Person,
    owner: Person,
    outsider: Person,
    /// Belongs to no org of the matrix: their sessions and tokens are "someone
    /// else's", they stand in for the anonymous caller's "own" things, and they
    /// are the second owner of orgs made for `LeaveOrg`.
    bystander: Person,
    read_token: Client,
    admin_token: Client,
    acme_id: String,
    acme_slug: String,
    /// A project in acme that no cell changes.
    project: String,
    /// A finished job of that project.
    job: String,
    /// A service of that project, and a deployment of it that failed.
    service: String,
    deployment: String,
    /// The instance admin's agent profile (`/bin/true`), and a session of it in the shared project that ended.
    agent_profile: String,
    agent_session: String,
    serial: u32,
}

/// One prepared request of a cell.
struct Call {
    client: Client,
    params: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// A client of someone else whose credential must still work afterwards.
    survivor: Option<Client>,
}

fn expect_status(reply: &Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "setup step failed: {what}: {}", reply.body);
}

fn text(value: &Value, what: &str) -> String {
    value.as_str().unwrap_or_else(|| panic!("{what} is missing in {value}")).to_owned()
}

async fn person(app: &TestApp, admin: &Client, email: &str) -> Person {
    let (client, id) = app.user(admin, email).await;
    Person { email: email.to_owned(), id, client }
}

async fn new_token(client: &Client, scope: &str) -> (String, String) {
    let reply = client.post("/api/v1/tokens", &json!({ "name": format!("{scope} token"), "scopes": [scope] })).await;
    expect_status(&reply, 201, "create a token");
    (text(&reply.json["id"], "token id"), text(&reply.json["token"], "token secret"))
}

impl World {
    async fn build() -> Self {
        // Rate limiting is orthogonal to authorization; the matrix sends many
        // requests from one IP and one owner, and must never see a 429.
        let app = spawn_app_with(&[("DOCKYARD_RATE_LIMIT__ENABLED", "false")]).await;
        let (root, _default_org) = app.setup_admin().await;
        let me = root.get("/api/v1/me").await;
        expect_status(&me, 200, "the instance admin reads themselves");
        let instance_admin =
            Person { email: ADMIN_EMAIL.to_owned(), id: text(&me.json["id"], "admin id"), client: root };
        let admin_client = &instance_admin.client;
        let viewer = person(&app, admin_client, "viewer@example.com").await;
        let developer = person(&app, admin_client, "developer@example.com").await;
        let admin = person(&app, admin_client, "org-admin@example.com").await;
        let owner = person(&app, admin_client, "owner@example.com").await;
        let outsider = person(&app, admin_client, "outsider@example.com").await;
        let bystander = person(&app, admin_client, "bystander@example.com").await;

        let acme = owner.client.post("/api/v1/orgs", &json!({ "name": "Acme", "slug": "acme" })).await;
        expect_status(&acme, 201, "the owner creates acme");
        let acme_id = text(&acme.json["id"], "acme id");
        let acme_slug = text(&acme.json["slug"], "acme slug");
        for (member, role) in [(&viewer, "viewer"), (&developer, "developer"), (&admin, "admin")] {
            let added = owner
                .client
                .post(&format!("/api/v1/orgs/{acme_id}/members"), &json!({ "email": member.email, "role": role }))
                .await;
            expect_status(&added, 201, "add a member to acme");
        }
        let elsewhere =
            outsider.client.post("/api/v1/orgs", &json!({ "name": "Elsewhere", "slug": "elsewhere" })).await;
        expect_status(&elsewhere, 201, "the outsider creates their own org");
        // The premise: acme has exactly the four members, and the instance admin is not one.
        let members = owner.client.get(&format!("/api/v1/orgs/{acme_id}/members")).await;
        expect_status(&members, 200, "list acme's members");
        let mut ids: Vec<&str> = members
            .json
            .as_array()
            .map(|all| all.iter().filter_map(|member| member["user_id"].as_str()).collect())
            .unwrap_or_default();
        ids.sort_unstable();
        let mut cast = vec![viewer.id.as_str(), developer.id.as_str(), admin.id.as_str(), owner.id.as_str()];
        cast.sort_unstable();
        assert_eq!(ids, cast, "acme's members: {}", members.body);

        let project = crate::support::project(&owner.client, &acme_id, "Shared").await;
        let init = owner.client.post(&format!("/api/v1/projects/{project}/git/init"), &json!({})).await;
        expect_status(&init, 201, "make the shared project a repository");
        let first = owner.client.inner.put(owner.client.url(&format!("/api/v1/projects/{project}/files/README.md")));
        expect_status(&owner.client.send(first.body("shared\n")).await, 201, "write the shared README");
        let commit = owner
            .client
            .post(
                &format!("/api/v1/projects/{project}/git/commit"),
                &json!({ "message": "first", "paths": ["README.md"] }),
            )
            .await;
        expect_status(&commit, 201, "the first commit of the shared project");
        let job = finished_job(&app, &acme_id, &project).await;
        let service =
            owner.client.post(&format!("/api/v1/projects/{project}/services"), &json!({ "name": "shared" })).await;
        expect_status(&service, 201, "the owner creates the shared service");
        let service = text(&service.json["id"], "service id");
        let deployment = owner.client.post(&format!("/api/v1/services/{service}/deployments"), &json!({})).await;
        expect_status(&deployment, 202, "the owner deploys the shared service");
        let deployment = text(&deployment.json["id"], "deployment id");
        // Without an engine the deployment fails at once; wait for that.
        for _ in 0..200 {
            let state = owner.client.get(&format!("/api/v1/deployments/{deployment}")).await;
            if state.json["status"] == "failed" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let profile = instance_admin
            .client
            .post(
                "/api/v1/admin/agent-profiles",
                &json!({ "name": "noop", "kind": "pty", "command": ["/bin/true"], "max_per_user": 1000, "max_per_org": 1000 }),
            )
            .await;
        expect_status(&profile, 201, "the instance admin defines an agent profile");
        let agent_profile = text(&profile.json["id"], "profile id");
        let session = owner
            .client
            .post(
                &format!("/api/v1/projects/{project}/agent-sessions"),
                &json!({ "profile": "noop", "prompt": "nothing", "isolation": "workspace" }),
            )
            .await;
        expect_status(&session, 201, "the owner starts an agent session");
        let agent_session = text(&session.json["id"], "session id");
        for _ in 0..400 {
            let state = owner.client.get(&format!("/api/v1/agent-sessions/{agent_session}")).await;
            if state.json["status"] == "succeeded" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let read_token = app.with_token(&new_token(&owner.client, "read").await.1);
        let admin_token = app.with_token(&new_token(&owner.client, "admin").await.1);
        let anonymous = app.anonymous();
        Self {
            app,
            anonymous,
            instance_admin,
            viewer,
            developer,
            admin,
            owner,
            outsider,
            bystander,
            read_token,
            admin_token,
            acme_id,
            acme_slug,
            project,
            job,
            service,
            deployment,
            agent_profile,
            agent_session,
            serial: 0,
        }
    }

    fn next(&mut self) -> u32 {
        self.serial += 1;
        self.serial
    }

    fn client(&self, who: Who) -> Client {
        match who {
            Who::Anonymous => self.anonymous.clone(),
            Who::ReadToken => self.read_token.clone(),
            Who::AdminToken => self.admin_token.clone(),
            _ => self.person(who).client.clone(),
        }
    }

    /// The account behind a caller: the tokens are the owner's; the anonymous
    /// caller has none, so the bystander stands in (it gets 401 before any lookup).
    fn person(&self, who: Who) -> &Person {
        match who {
            Who::Anonymous => &self.bystander,
            Who::Viewer => &self.viewer,
            Who::Developer => &self.developer,
            Who::Admin => &self.admin,
            Who::Owner | Who::ReadToken | Who::AdminToken => &self.owner,
            Who::Outsider => &self.outsider,
            Who::InstanceAdmin => &self.instance_admin,
        }
    }

    /// A fresh session of `email`: its client and its id.
    async fn fresh_session(&self, email: &str) -> (Client, String) {
        let client = self.app.login(email, PASSWORD).await;
        let sessions = client.get("/api/v1/me/sessions").await;
        expect_status(&sessions, 200, "list sessions");
        let current = sessions
            .json
            .as_array()
            .and_then(|sessions| sessions.iter().find(|session| session["current"] == true))
            .unwrap_or_else(|| panic!("no current session in {}", sessions.body));
        let id = text(&current["id"], "session id");
        (client, id)
    }

    /// A fresh user, not a member of anything: (email, id).
    async fn new_user(&mut self) -> (String, String) {
        let email = format!("user-{}@example.com", self.next());
        let reply = self
            .instance_admin
            .client
            .post("/api/v1/admin/users", &json!({ "email": email, "name": "Fresh", "password": PASSWORD }))
            .await;
        expect_status(&reply, 201, "create a user");
        (email, text(&reply.json["id"], "user id"))
    }

    /// A fresh user added to acme with `role` by the owner; answers the user id.
    async fn new_member(&mut self, role: &str) -> String {
        let (email, id) = self.new_user().await;
        let reply = self
            .owner
            .client
            .post(&format!("/api/v1/orgs/{}/members", self.acme_id), &json!({ "email": email, "role": role }))
            .await;
        expect_status(&reply, 201, "add a fresh member to acme");
        id
    }

    /// A fresh org of the owner with viewer, developer and admin as in acme;
    /// with `co_owner`, the bystander is a second owner.
    async fn new_org(&mut self, co_owner: bool) -> String {
        let n = self.next();
        let reply = self
            .owner
            .client
            .post("/api/v1/orgs", &json!({ "name": format!("Fresh {n}"), "slug": format!("fresh-{n}") }))
            .await;
        expect_status(&reply, 201, "create a fresh org");
        let org = text(&reply.json["id"], "org id");
        let mut members = vec![(&self.viewer, "viewer"), (&self.developer, "developer"), (&self.admin, "admin")];
        if co_owner {
            members.push((&self.bystander, "owner"));
        }
        for (member, role) in members {
            let added = self
                .owner
                .client
                .post(&format!("/api/v1/orgs/{org}/members"), &json!({ "email": member.email, "role": role }))
                .await;
            expect_status(&added, 201, "add a member to a fresh org");
        }
        org
    }

    /// The owner writes a small file into the shared project.
    async fn owner_writes(&self, file: &str) {
        let url = self.owner.client.url(&format!("/api/v1/projects/{}/files/{file}", self.project));
        let reply = self.owner.client.send(self.owner.client.inner.put(url).body("hello")).await;
        assert!(matches!(reply.status, 200 | 201), "the owner writes {file}: {}", reply.body);
    }

    async fn new_project(&mut self) -> String {
        let n = self.next();
        crate::support::project(&self.owner.client, &self.acme_id, &format!("Fresh project {n}")).await
    }

    /// Makes the fresh resources of one cell and the request to send.
    async fn prepare(&mut self, case: Case, who: Who) -> Call {
        use Case::*;
        let n = self.next();
        let mut call = Call { client: self.client(who), params: Vec::new(), body: None, survivor: None };
        let acting_email = self.person(who).email.clone();
        let acting_id = self.person(who).id.clone();
        let cookie_user = !matches!(who, Who::Anonymous | Who::ReadToken | Who::AdminToken);
        match case {
            Healthz | Readyz | SetupStatus | CurrentSession | GetMe | ListSessions | ListTokens | ListOrgs
            | ListUsers | InstanceAudit => {}
            GetSettings | GetLayout | FileIndex => {}
            UpdateSettings => call.body = Some(json!({ "font_size": 10 + n % 20, "word_wrap": n.is_multiple_of(2) })),
            SaveLayout => {
                call.body = Some(json!({ "tabs": [format!("file-{n}.rs")], "sidebar": { "width": 200 + n } }))
            }
            Setup => {
                call.body = Some(json!({
                    "token": "not-the-setup-token", "email": format!("late-{n}@example.com"), "name": "Late", "password": PASSWORD
                }));
            }
            Login => {
                call.body =
                    Some(json!({ "email": format!("nobody-{n}@example.com"), "password": "not the right password" }));
            }
            Logout => {
                // Sign out a fresh session, so the actor's own stays.
                if cookie_user {
                    call.client = self.app.login(&acting_email, PASSWORD).await;
                }
            }
            UpdateMe => call.body = Some(json!({ "name": format!("Renamed {n}") })),
            ChangePassword => call.body = Some(json!({ "current_password": PASSWORD, "new_password": PASSWORD })),
            RevokeOwnSession => {
                let (_, id) = self.fresh_session(&acting_email).await;
                call.params.push(("id", id));
            }
            RevokeForeignSession => {
                let (client, id) = self.fresh_session(&self.bystander.email).await;
                call.params.push(("id", id));
                call.survivor = Some(client);
            }
            CreateToken => call.body = Some(json!({ "name": format!("token {n}"), "scopes": ["read"] })),
            RevokeOwnToken => {
                let (id, _) = new_token(&self.person(who).client, "read").await;
                call.params.push(("id", id));
            }
            RevokeForeignToken => {
                let (id, secret) = new_token(&self.bystander.client, "read").await;
                call.params.push(("id", id));
                call.survivor = Some(self.app.with_token(&secret));
            }
            CreateOrg => call.body = Some(json!({ "name": format!("Org {n}"), "slug": format!("org-{n}") })),
            GetOrg | OrgAudit | ListMembers | ListProjects => call.params.push(("org", self.acme_slug.clone())),
            UpdateOrg => call.body = Some(json!({ "name": format!("Acme {n}") })),
            DeleteOrg => {
                let org = self.new_org(false).await;
                call.params.push(("org", org));
            }
            AddMember | AddOwner => {
                let (email, _) = self.new_user().await;
                let role = if case == AddOwner { "owner" } else { "developer" };
                call.body = Some(json!({ "email": email, "role": role }));
            }
            PromoteToAdmin | PromoteToOwner | DemoteOwner => {
                let (from, to) = match case {
                    PromoteToAdmin => ("developer", "admin"),
                    PromoteToOwner => ("developer", "owner"),
                    _ => ("owner", "admin"),
                };
                let user = self.new_member(from).await;
                call.params.push(("user", user));
                call.body = Some(json!({ "role": to }));
            }
            RemoveMember | RemoveOwner => {
                let user = self.new_member(if case == RemoveOwner { "owner" } else { "developer" }).await;
                call.params.push(("user", user));
            }
            LeaveOrg => {
                let org = self.new_org(true).await;
                call.params.push(("org", org));
                call.params.push(("user", acting_id));
            }
            CreateProject => call.body = Some(json!({ "name": format!("Project {n}") })),
            GetProject => {}
            UpdateProject => {
                let project = self.new_project().await;
                call.params.push(("project", project));
                call.body = Some(json!({ "description": format!("changed {n}") }));
            }
            DeleteProject => {
                let project = self.new_project().await;
                call.params.push(("project", project));
            }
            ReadTree => {}
            ReadFile => {
                self.owner_writes("shared/readme.md").await;
                call.params.push(("path", "shared/readme.md".into()));
            }
            WriteFile => {
                call.params.push(("path", format!("written/file-{n}.txt")));
                call.body = Some(json!({ "n": n }));
            }
            DeleteFile => {
                let file = format!("doomed/file-{n}.txt");
                self.owner_writes(&file).await;
                call.params.push(("path", file));
            }
            MoveFile => {
                let file = format!("moving/file-{n}.txt");
                self.owner_writes(&file).await;
                call.body = Some(json!({ "from": file, "to": format!("moved/file-{n}.txt") }));
            }
            CopyFile => {
                let file = format!("copying/file-{n}.txt");
                self.owner_writes(&file).await;
                call.body = Some(json!({ "from": file, "to": format!("copied/file-{n}.txt") }));
            }
            CreateFolder => call.body = Some(json!({ "path": format!("folders/folder-{n}") })),
            SearchFiles => call.params.push(("query", "q=hello".into())),
            ReplaceFiles => call.body = Some(json!({ "q": format!("absent-{n}"), "replacement": "x" })),
            // Sent as a multipart part named after this (see `send`).
            Upload => call.body = Some(json!({ "file": format!("uploads/file-{n}.txt") })),
            GetJob | JobEvents => call.params.push(("job", self.job.clone())),
            ImportProject => {
                call.body = Some(json!({ "name": format!("Imported {n}"), "file": format!("imported-{n}.txt") }))
            }
            ImportInto => {
                let project = self.new_project().await;
                call.params.push(("project", project));
                call.body = Some(json!({ "file": format!("into-{n}.txt") }));
            }
            ExportProject => call.params.push(("query", "format=json".into())),
            GitStatus | GitDiff | GitLog | GitBranches | GitRemotes | GitCredential => {}
            GitInit => {
                let project = self.new_project().await;
                call.params.push(("project", project));
                call.body = Some(json!({}));
            }
            GitStage | GitUnstage => call.body = Some(json!({ "paths": [] })),
            GitCommit => {
                let file = format!("commits/file-{n}.txt");
                self.owner_writes(&file).await;
                call.body = Some(json!({ "message": format!("commit {n}"), "paths": [file] }));
            }
            GitCreateBranch => call.body = Some(json!({ "name": format!("branch-{n}") })),
            GitDeleteBranch | GitCheckout => {
                let branch = format!("made-{n}");
                let made = self
                    .owner
                    .client
                    .post(&format!("/api/v1/projects/{}/git/branches", self.project), &json!({ "name": branch }))
                    .await;
                expect_status(&made, 201, "the owner makes a branch");
                if case == GitDeleteBranch {
                    call.params.push(("name", branch));
                } else {
                    call.body = Some(json!({ "branch": branch }));
                }
            }
            GitAddRemote => {
                call.body =
                    Some(json!({ "name": format!("remote-{n}"), "url": "https://git.example.com/acme/shared.git" }));
            }
            GitUpdateRemote | GitDeleteRemote => {
                let remote = format!("made-{n}");
                let made = self
                    .owner
                    .client
                    .post(
                        &format!("/api/v1/projects/{}/git/remotes", self.project),
                        &json!({ "name": remote, "url": "https://git.example.com/acme/shared.git" }),
                    )
                    .await;
                expect_status(&made, 201, "the owner adds a remote");
                call.params.push(("name", remote));
                if case == GitUpdateRemote {
                    call.body = Some(json!({ "url": "https://git.example.com/acme/moved.git" }));
                }
            }
            GitFetch | GitPull | GitPush => call.body = Some(json!({})),
            GitSetCredential => {
                let project = self.new_project().await;
                call.params.push(("project", project));
                call.body = Some(json!({ "token": format!("token-{n}") }));
            }
            GitDeleteCredential => {
                let project = self.new_project().await;
                let set = self
                    .owner
                    .client
                    .request(
                        "PUT",
                        &format!("/api/v1/projects/{project}/git/credential"),
                        Some(&json!({ "token": format!("token-{n}") })),
                    )
                    .await;
                expect_status(&set, 200, "the owner stores a git credential");
                call.params.push(("project", project));
            }
            ListTerminals => {}
            CreateTerminal => call.body = Some(json!({ "cols": 80, "rows": 24 })),
            GetTerminal | DeleteTerminal | TerminalSocket => {
                let project = self.new_project().await;
                let opened = self.owner.client.post(&format!("/api/v1/projects/{project}/terminals"), &json!({})).await;
                expect_status(&opened, 201, "the owner opens a terminal");
                call.params.push(("terminal", text(&opened.json["id"], "terminal id")));
                call.params.push(("project", project));
            }
            ListServices | GetService | ListDeployments | GetDeployment | DeploymentLogs | ServiceMetrics
            | ServicePlan | UploadDeployment => {}
            AdminListProfiles | UsableProfiles | ListAgentSecrets | ListMyAgentSecrets | ListAgentSessions
            | GetAgentSession | AgentSessionEvents | AgentSessionSocket | AgentSessionDiff => {}
            AdminCreateProfile => {
                call.body = Some(json!({ "name": format!("made-{n}"), "command": ["/bin/true"] }));
            }
            AdminUpdateProfile => call.body = Some(json!({ "enabled": true })),
            AdminDeleteProfile => {
                let made = self
                    .instance_admin
                    .client
                    .post(
                        "/api/v1/admin/agent-profiles",
                        &json!({ "name": format!("gone-{n}"), "command": ["/bin/true"] }),
                    )
                    .await;
                expect_status(&made, 201, "the instance admin defines a profile");
                call.params.push(("profile", text(&made.json["id"], "profile id")));
            }
            PutAgentSecret => {
                call.params.push(("key", format!("MATRIX_KEY_{n}")));
                call.body = Some(json!({ "value": "v" }));
            }
            DeleteAgentSecret | DeleteMyAgentSecret => call.params.push(("key", format!("NEVER_SET_{n}"))),
            PutMyAgentSecret => {
                call.params.push(("key", format!("MY_KEY_{n}")));
                call.body = Some(json!({ "value": "v" }));
            }
            StartAgentSession => {
                call.body = Some(json!({ "profile": "noop", "prompt": format!("cell {n}"), "isolation": "workspace" }));
            }
            AgentSessionInput => call.body = Some(json!({ "text": "hello" })),
            AssistantChat => {
                call.body =
                    Some(json!({ "project_id": self.project, "messages": [{ "role": "user", "content": "hi" }] }));
            }
            AssistantComplete => {
                call.body = Some(json!({ "project_id": self.project, "path": "README.md", "prefix": "sh" }));
            }
            GetOrgAssistant => {}
            PutOrgAssistant => {
                let org = self.new_org(false).await;
                call.params.push(("org", org));
                call.body = Some(json!({ "base_url": "https://llm.example.com/v1", "model": format!("model-{n}"),
                    "api_key": format!("sk-{n}") }));
            }
            DeleteOrgAssistant => {
                let org = self.new_org(false).await;
                let set = self
                    .owner
                    .client
                    .request(
                        "PUT",
                        &format!("/api/v1/orgs/{org}/assistant"),
                        Some(&json!({ "base_url": "https://llm.example.com/v1", "model": "m" })),
                    )
                    .await;
                expect_status(&set, 200, "the owner sets the org's assistant");
                call.params.push(("org", org));
            }
            FollowUpAgentSession => call.body = Some(json!({ "prompt": "also this" })),
            StopAgentSession | ApplyAgentSession | DiscardAgentSession => call.body = Some(json!({})),
            ServiceLogs => call.params.push(("query", "tail=5".to_owned())),
            CreateService => call.body = Some(json!({ "name": format!("svc-{n}") })),
            UpdateService => call.body = Some(json!({ "replicas": 1 })),
            DeleteService => {
                let made = self
                    .owner
                    .client
                    .post(
                        &format!("/api/v1/projects/{}/services", self.project),
                        &json!({ "name": format!("gone-{n}") }),
                    )
                    .await;
                expect_status(&made, 201, "the owner creates a service");
                call.params.push(("service", text(&made.json["id"], "service id")));
            }
            CreateDeployment | CancelDeployment | StopService | StartService | RestartService => {
                call.body = Some(json!({}));
            }
            Rollback => call.body = Some(json!({ "deployment_id": self.deployment })),
            CreateUser => {
                call.body = Some(
                    json!({ "email": format!("created-{n}@example.com"), "name": "Created", "password": PASSWORD }),
                );
            }
            UpdateUser => {
                let (_, user) = self.new_user().await;
                call.params.push(("user", user));
                call.body = Some(json!({ "instance_admin": true }));
            }
        }
        call
    }

    /// Repairs what a cell took away from the cast.
    async fn after(&mut self, case: Case, who: Who) {
        // A password change through a token keeps no session: the owner's cookie
        // session is gone, so sign in again (the password is unchanged).
        if case == Case::ChangePassword && matches!(who, Who::ReadToken | Who::AdminToken) {
            self.owner.client = self.app.login(&self.owner.email, PASSWORD).await;
        }
    }

    /// Fills a path template; `{org}` defaults to acme's id and `{project}` to the shared project.
    /// A `query` param becomes the query string.
    fn fill(&self, template: &str, params: &[(&'static str, String)]) -> String {
        let mut path = template.to_owned();
        for (name, value) in params {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        path = path
            .replace("{org}", &self.acme_id)
            .replace("{project}", &self.project)
            .replace("{service}", &self.service)
            .replace("{deployment}", &self.deployment)
            .replace("{profile}", &self.agent_profile)
            .replace("{session}", &self.agent_session);
        assert!(!path.contains('{'), "the matrix left a placeholder in {template}: {path}");
        if let Some((_, query)) = params.iter().find(|(name, _)| *name == "query") {
            path = format!("{path}?{query}");
        }
        path
    }
}

/// A finished job of `project`, written straight into the database (no route
/// creates a job by itself yet), with the terminal `state` event that ends its
/// event stream. Its kind is unknown to the workers, which never see it: it is
/// not queued.
async fn finished_job(app: &TestApp, org: &str, project: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = app
        .database
        .url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", app.data_dir().join("dockyard.db").display()));
    let mut connection = sqlx::AnyConnection::connect(&url).await.expect("connect to the app's database");
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    let statements = format!(
        "INSERT INTO jobs (id, kind, org_id, project_id, state, payload, progress, result, attempt, max_attempts,
                           created_at, updated_at, started_at, finished_at)
         VALUES ('{id}', 'matrix', '{org}', '{project}', 'succeeded', '{{}}', 'null', '{{}}', 1, 1,
                 {now}, {now}, {now}, {now});
         INSERT INTO job_events (job_id, seq, at, kind, data)
         VALUES ('{id}', 1, {now}, 'state', '{{\"status\":\"succeeded\",\"attempt\":1}}');"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(statements)).execute(&mut connection).await.expect("insert a finished job");
    id
}

/// Sends a cell's request: JSON, or for uploads and imports one multipart file part
/// (plus the project's `name` for a new import).
async fn send(case: Case, call: &Call, method: &str, path: &str) -> Reply {
    if !matches!(case, Case::Upload | Case::ImportProject | Case::ImportInto) {
        return call.client.request(method, path, call.body.as_ref()).await;
    }
    let name = call.body.as_ref().and_then(|body| body["file"].as_str()).unwrap_or("upload.txt").to_owned();
    let part = reqwest::multipart::Part::bytes(b"uploaded".to_vec()).file_name(name);
    let mut form = reqwest::multipart::Form::new();
    if let Some(project_name) = call.body.as_ref().and_then(|body| body["name"].as_str()) {
        form = form.text("name", project_name.to_owned());
    }
    let form = form.part("files", part);
    call.client.send(call.client.inner.post(call.client.url(path)).multipart(form)).await
}

/// The status and problem code of a reply, for messages.
fn got(reply: &Reply) -> String {
    match reply.code() {
        "" => reply.status.to_string(),
        code => format!("{} {code}", reply.status),
    }
}

fn brief(body: &str) -> String {
    const MAX: usize = 400;
    match body.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// Every (METHOD, path template) of the served OpenAPI document.
async fn documented_routes(client: &Client) -> BTreeSet<(String, String)> {
    let doc = client.get("/api/v1/openapi.json").await;
    expect_status(&doc, 200, "fetch the OpenAPI document");
    let paths = doc.json["paths"].as_object().expect("the document has paths");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for method in item.keys() {
            if ["get", "put", "post", "delete", "options", "head", "patch", "trace"].contains(&method.as_str()) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(!routes.is_empty(), "the OpenAPI document lists no routes");
    routes
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_policy_says() {
    let mut world = World::build().await;
    let rows = table();
    let documented = documented_routes(&world.anonymous).await;
    let mut failures: Vec<String> = Vec::new();

    // The table and the document must list the same routes.
    let covered: BTreeSet<(String, String)> =
        rows.iter().map(|row| (row.method.to_owned(), row.path.to_owned())).collect();
    for (method, path) in documented.difference(&covered) {
        failures.push(format!(
            "route {method} {path} is in the OpenAPI document but has no row in the authorization matrix"
        ));
    }
    for (method, path) in covered.difference(&documented) {
        failures.push(format!(
            "the authorization matrix has a row for {method} {path}, which the OpenAPI document does not list"
        ));
    }
    let mut cases = BTreeSet::new();
    for row in &rows {
        assert!(cases.insert(format!("{:?}", row.case)), "case {:?} appears twice in the matrix", row.case);
    }

    let mut cells = 0;
    for row in &rows {
        if !documented.contains(&(row.method.to_owned(), row.path.to_owned())) {
            continue;
        }
        for (column, who) in WHO.into_iter().enumerate() {
            let expected = row.expect[column];
            let call = world.prepare(row.case, who).await;
            let path = world.fill(row.path, &call.params);
            let reply = send(row.case, &call, row.method, &path).await;
            cells += 1;
            if !expected.matches(&reply) {
                failures.push(format!(
                    "{who}: {} {} [{:?}] ({path}): expected {expected}, got {}; body: {}",
                    row.method,
                    row.path,
                    row.case,
                    got(&reply),
                    brief(&reply.body)
                ));
            }
            if let Some(survivor) = call.survivor {
                let still = survivor.get("/api/v1/me").await;
                if still.status != 200 {
                    failures.push(format!(
                        "{who}: {} {} [{:?}] ({path}) destroyed someone else's credential: it now gets {}",
                        row.method,
                        row.path,
                        row.case,
                        got(&still)
                    ));
                }
            }
            world.after(row.case, who).await;
        }
    }
    let runnable = rows.iter().filter(|row| documented.contains(&(row.method.to_owned(), row.path.to_owned()))).count();
    assert_eq!(cells, runnable * WHO.len(), "every documented row was sent for every caller");

    scopes_narrow_by_exactly_one_step(&mut world, &mut failures).await;
    tokens_on_the_callers_own_account(&world, &mut failures).await;

    assert!(
        failures.is_empty(),
        "{} disagreement(s) with the policy; the matrix sent {cells} cells ({} documented routes, {} rows x {} callers), \
         then the scope checks:\n{}",
        failures.len(),
        documented.len(),
        rows.len(),
        WHO.len(),
        failures.join("\n")
    );
}

/// Sends the request with the narrower token (must get 403 `insufficient_scope`,
/// or `lower_expect`), then with the token of exactly the needed scope (must get `ok`).
#[allow(clippy::too_many_arguments, reason = "a flat description of one check reads best")]
async fn scope_step(
    failures: &mut Vec<String>,
    label: &str,
    lower: &Client,
    lower_expect: Expect,
    exact: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
    ok: Expect,
) {
    for (client, expected, which) in [(lower, lower_expect, "the scope below"), (exact, ok, "the exact scope")] {
        let reply = client.request(method, path, body.as_ref()).await;
        if !expected.matches(&reply) {
            failures.push(format!(
                "scope check {label}: {method} {path} with {which}: expected {expected}, got {}; body: {}",
                got(&reply),
                brief(&reply.body)
            ));
        }
    }
}

/// For each scope, a token of the owner with exactly that scope succeeds on an
/// action needing it, and the scope just below gets 403 `insufficient_scope`.
/// The narrower call goes first on the same fresh resource, so it also proves
/// that a refused request changed nothing.
async fn scopes_narrow_by_exactly_one_step(world: &mut World, failures: &mut Vec<String>) {
    let read = world.app.with_token(&new_token(&world.owner.client, "read").await.1);
    let write = world.app.with_token(&new_token(&world.owner.client, "write").await.1);
    let admin = world.app.with_token(&new_token(&world.owner.client, "admin").await.1);
    let acme = world.acme_id.clone();

    // read: there is no narrower scope; without any credential it is 401.
    let shared = format!("/api/v1/projects/{}", world.project);
    let anonymous = world.anonymous.clone();
    scope_step(failures, "read", &anonymous, UNAUTH, &read, "GET", &shared, None, OK).await;
    let members = format!("/api/v1/orgs/{acme}/members");
    scope_step(failures, "read", &anonymous, UNAUTH, &read, "GET", &members, None, OK).await;

    // write, with read below it.
    let n = world.next();
    let projects = format!("/api/v1/orgs/{acme}/projects");
    let body = json!({ "name": format!("Scoped {n}") });
    scope_step(failures, "write", &read, SCOPE, &write, "POST", &projects, Some(body), CREATED).await;
    let project = format!("/api/v1/projects/{}", world.new_project().await);
    let body = json!({ "description": "written with a write token" });
    scope_step(failures, "write", &read, SCOPE, &write, "PATCH", &project, Some(body), OK).await;
    let body = json!({ "name": "Owner" });
    scope_step(failures, "write", &read, SCOPE, &write, "PATCH", "/api/v1/me", Some(body), OK).await;
    let body = json!({ "theme": "light" });
    scope_step(failures, "write", &read, SCOPE, &write, "PUT", "/api/v1/me/settings", Some(body), OK).await;
    let layout = format!("/api/v1/me/layouts/{}", world.project);
    let body = json!({ "tabs": [] });
    scope_step(failures, "write", &read, SCOPE, &write, "PUT", &layout, Some(body), OK).await;
    let body = json!({ "name": format!("Scoped org {n}"), "slug": format!("scoped-{n}") });
    scope_step(failures, "write", &read, SCOPE, &write, "POST", "/api/v1/orgs", Some(body), CREATED).await;

    // admin, with write below it.
    let project = format!("/api/v1/projects/{}", world.new_project().await);
    scope_step(failures, "admin", &write, SCOPE, &admin, "DELETE", &project, None, DONE).await;
    let org = format!("/api/v1/orgs/{acme}");
    let body = json!({ "name": format!("Acme {n}") });
    scope_step(failures, "admin", &write, SCOPE, &admin, "PATCH", &org, Some(body), OK).await;
    let audit = format!("/api/v1/orgs/{acme}/audit");
    scope_step(failures, "admin", &write, SCOPE, &admin, "GET", &audit, None, OK).await;
    let (email, _) = world.new_user().await;
    let body = json!({ "email": email, "role": "viewer" });
    scope_step(failures, "admin", &write, SCOPE, &admin, "POST", &members, Some(body), CREATED).await;
    let user = world.new_member("developer").await;
    let member = format!("/api/v1/orgs/{acme}/members/{user}");
    let body = json!({ "role": "admin" });
    scope_step(failures, "admin", &write, SCOPE, &admin, "PATCH", &member, Some(body), OK).await;
    scope_step(failures, "admin", &write, SCOPE, &admin, "DELETE", &member, None, DONE).await;
    let fresh_org = format!("/api/v1/orgs/{}", world.new_org(false).await);
    scope_step(failures, "admin", &write, SCOPE, &admin, "DELETE", &fresh_org, None, DONE).await;
    scope_step(failures, "admin", &write, SCOPE, &admin, "GET", "/api/v1/me/sessions", None, OK).await;
    scope_step(failures, "admin", &write, SCOPE, &admin, "GET", "/api/v1/tokens", None, OK).await;
    let body = json!({ "name": "minted", "scopes": ["read"] });
    scope_step(failures, "admin", &write, SCOPE, &admin, "POST", "/api/v1/tokens", Some(body), CREATED).await;
    let (id, _) = new_token(&world.owner.client, "read").await;
    let token = format!("/api/v1/tokens/{id}");
    scope_step(failures, "admin", &write, SCOPE, &admin, "DELETE", &token, None, DONE).await;
    let (_, session) = world.fresh_session(&world.owner.email.clone()).await;
    let session = format!("/api/v1/me/sessions/{session}");
    scope_step(failures, "admin", &write, SCOPE, &admin, "DELETE", &session, None, DONE).await;

    // An instance admin's tokens are narrowed the same way on instance administration.
    let root_write = world.app.with_token(&new_token(&world.instance_admin.client, "write").await.1);
    let root_admin = world.app.with_token(&new_token(&world.instance_admin.client, "admin").await.1);
    scope_step(failures, "admin", &root_write, SCOPE, &root_admin, "GET", "/api/v1/admin/users", None, OK).await;
    scope_step(failures, "admin", &root_write, SCOPE, &root_admin, "GET", "/api/v1/admin/audit", None, OK).await;
    let body = json!({ "email": format!("scoped-{n}@example.com"), "name": "Scoped", "password": PASSWORD });
    scope_step(failures, "admin", &root_write, SCOPE, &root_admin, "POST", "/api/v1/admin/users", Some(body), CREATED)
        .await;
    let (_, user) = world.new_user().await;
    let target = format!("/api/v1/admin/users/{user}");
    let body = json!({ "instance_admin": true });
    scope_step(failures, "admin", &root_write, SCOPE, &root_admin, "PATCH", &target, Some(body), OK).await;
    // Instance-admin rights on a foreign org are narrowed too.
    let root_read = world.app.with_token(&new_token(&world.instance_admin.client, "read").await.1);
    let body = json!({ "name": format!("Root project {n}") });
    scope_step(failures, "write", &root_read, SCOPE, &root_write, "POST", &projects, Some(body), CREATED).await;
}

/// Routes about the caller's own account, through tokens of each scope: reading
/// oneself needs `read`, minting a token needs `admin`.
async fn tokens_on_the_callers_own_account(world: &World, failures: &mut Vec<String>) {
    let write = world.app.with_token(&new_token(&world.owner.client, "write").await.1);
    let tokens = [
        ("read", world.read_token.clone(), SCOPE),
        ("write", write, SCOPE),
        ("admin", world.admin_token.clone(), CREATED),
    ];
    for (scope, client, mint) in tokens {
        let me = client.get("/api/v1/me").await;
        if !(OK.matches(&me) && me.json["email"] == world.owner.email.as_str()) {
            failures.push(format!(
                "own account: GET /api/v1/me with a {scope} token: expected 200 as the owner, got {} {}",
                me.status,
                brief(&me.body)
            ));
        }
        let minted =
            client.post("/api/v1/tokens", &json!({ "name": format!("minted by {scope}"), "scopes": ["read"] })).await;
        if !mint.matches(&minted) {
            failures.push(format!(
                "own account: POST /api/v1/tokens with a {scope} token: expected {mint}, got {}; body: {}",
                got(&minted),
                brief(&minted.body)
            ));
        } else if minted.status == 201 {
            let secret = minted.json["token"].as_str().unwrap_or_default();
            let works = world.app.with_token(secret).get("/api/v1/me").await;
            if works.status != 200 {
                failures
                    .push(format!("own account: a token minted by a {scope} token does not work: {}", works.status));
            }
        }
    }
}
