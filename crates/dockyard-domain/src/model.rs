//! The records that storage returns and services hand to the HTTP layer.

use chrono::{DateTime, Utc};

use crate::ids::*;
use crate::policy::{Role, Scope};

pub type Timestamp = DateTime<Utc>;

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub instance_admin: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An org together with the caller's role in it.
#[derive(Debug, Clone)]
pub struct OrgWithRole {
    pub org: Org,
    pub role: Option<Role>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub joined_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: ProjectId,
    pub org_id: OrgId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the token, safe to show so people can tell tokens apart.
    pub prefix: String,
    pub scope: Scope,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: AuditId,
    pub org_id: Option<OrgId>,
    pub actor_user_id: Option<UserId>,
    /// What identified the actor when there was no user, e.g. the e-mail tried at a failed login.
    pub actor_label: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub detail: serde_json::Value,
    pub created_at: Timestamp,
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}
