//! Wire shapes: what the API sends and accepts. Only this crate knows them.

use chrono::{DateTime, Utc};
use dockyard_domain::{ApiToken, AuditEvent, Member, Org, OrgWithRole, Project, Role, Scope, Session, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: String,
    pub email: String,
    pub name: String,
    pub instance_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserDto {
    fn from(user: User) -> Self {
        Self {
            id: user.id.into(),
            email: user.email,
            name: user.name,
            instance_admin: user.instance_admin,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    Viewer,
    Developer,
    Admin,
    Owner,
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::Viewer => RoleDto::Viewer,
            Role::Developer => RoleDto::Developer,
            Role::Admin => RoleDto::Admin,
            Role::Owner => RoleDto::Owner,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Viewer => Role::Viewer,
            RoleDto::Developer => Role::Developer,
            RoleDto::Admin => Role::Admin,
            RoleDto::Owner => Role::Owner,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScopeDto {
    Read,
    Write,
    Admin,
}

impl From<Scope> for ScopeDto {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Read => ScopeDto::Read,
            Scope::Write => ScopeDto::Write,
            Scope::Admin => ScopeDto::Admin,
        }
    }
}

impl From<ScopeDto> for Scope {
    fn from(scope: ScopeDto) -> Self {
        match scope {
            ScopeDto::Read => Scope::Read,
            ScopeDto::Write => Scope::Write,
            ScopeDto::Admin => Scope::Admin,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgDto {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// The caller's effective role: instance admins act as owners of every org.
    pub role: Option<RoleDto>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrgDto {
    pub fn new(org: Org, role: Option<Role>) -> Self {
        Self {
            id: org.id.into(),
            slug: org.slug,
            name: org.name,
            role: role.map(Into::into),
            created_at: org.created_at,
            updated_at: org.updated_at,
        }
    }
}

impl From<OrgWithRole> for OrgDto {
    fn from(with_role: OrgWithRole) -> Self {
        Self::new(with_role.org, with_role.role)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: RoleDto,
    pub joined_at: DateTime<Utc>,
}

impl From<Member> for MemberDto {
    fn from(member: Member) -> Self {
        Self {
            user_id: member.user_id.into(),
            email: member.email,
            name: member.name,
            role: member.role.into(),
            joined_at: member.joined_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDto {
    pub id: String,
    pub org_id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Project> for ProjectDto {
    fn from(project: Project) -> Self {
        Self {
            id: project.id.into(),
            org_id: project.org_id.into(),
            slug: project.slug,
            name: project.name,
            description: project.description,
            created_by: project.created_by.map(Into::into),
            created_at: project.created_at,
            updated_at: project.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectPage {
    pub items: Vec<ProjectDto>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub id: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// True for the session this request came with.
    pub current: bool,
}

impl SessionDto {
    pub fn new(session: Session, current: bool) -> Self {
        Self {
            id: session.id.into(),
            user_agent: session.user_agent,
            ip: session.ip,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            current,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    pub id: String,
    pub name: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub scope: ScopeDto,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for TokenDto {
    fn from(token: ApiToken) -> Self {
        Self {
            id: token.id.into(),
            name: token.name,
            prefix: token.prefix,
            scope: token.scope.into(),
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
            revoked_at: token.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventDto {
    pub id: String,
    pub org_id: Option<String>,
    pub actor_user_id: Option<String>,
    pub actor_label: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEvent> for AuditEventDto {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id.into(),
            org_id: event.org_id.map(Into::into),
            actor_user_id: event.actor_user_id.map(Into::into),
            actor_label: event.actor_label,
            ip: event.ip,
            action: event.action,
            target_type: event.target_type,
            target_id: event.target_id,
            detail: event.detail,
            created_at: event.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventDto>,
    pub next_cursor: Option<String>,
}

/// Paging of newest-first logs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries with this action, e.g. `auth.login_failed`.
    pub action: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1-500, default 50.
    pub limit: Option<u32>,
}

impl AuditQuery {
    pub fn into_filter(self) -> Result<dockyard_store::AuditFilter, crate::error::ApiError> {
        let before = match self.cursor.as_deref() {
            Some(cursor) => Some(cursor.parse().map_err(|_| {
                crate::error::ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid_cursor",
                    "cursor is not one this API gave out",
                )
            })?),
            None => None,
        };
        Ok(dockyard_store::AuditFilter { org_id: None, action: self.action, before, limit: self.limit.unwrap_or(50) })
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobStatusDto {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl From<dockyard_services::JobState> for JobStatusDto {
    fn from(state: dockyard_services::JobState) -> Self {
        use dockyard_services::JobState;
        match state {
            JobState::Queued => JobStatusDto::Queued,
            JobState::Running => JobStatusDto::Running,
            JobState::Succeeded => JobStatusDto::Succeeded,
            JobState::Failed => JobStatusDto::Failed,
            JobState::Canceled => JobStatusDto::Canceled,
        }
    }
}

/// Why a job failed: a stable `code` and a message for people.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobErrorDto {
    pub code: String,
    pub message: String,
}

/// A long operation (an import, a build, a deploy) and how far it got.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDto {
    pub id: String,
    /// What the job does, e.g. `import`.
    pub kind: String,
    pub status: JobStatusDto,
    /// The job's latest progress report (its shape depends on the kind); null before the first.
    #[schema(value_type = Option<Object>)]
    pub progress: serde_json::Value,
    /// What a succeeded job produced (its shape depends on the kind).
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub error: Option<JobErrorDto>,
    /// How many times a worker started the job (a job is retried when its worker goes away).
    pub attempt: u32,
    pub project_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<dockyard_services::JobRecord> for JobDto {
    fn from(job: dockyard_services::JobRecord) -> Self {
        Self {
            id: job.id.into(),
            kind: job.kind,
            status: job.state.into(),
            progress: job.progress,
            result: job.result,
            error: job.error.map(|error| JobErrorDto { code: error.code, message: error.message }),
            attempt: job.attempt,
            project_id: job.project_id.map(Into::into),
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
        }
    }
}
