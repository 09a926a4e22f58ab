//! The one authorization policy. Every (actor, action, resource) question in
//! Dockyard is answered by [`authorize`]; nothing else looks at roles.
//!
//! Architecture Invariant: services obtain a [`Grant`] before they read or change
//! a resource, and a `Grant` can only be made here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// A member's role in an org. The order is meaningful: each role can do
/// everything the roles before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Developer,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Developer, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownValue;
    fn from_str(value: &str) -> Result<Self, UnknownValue> {
        Role::ALL.into_iter().find(|role| role.as_str() == value).ok_or(UnknownValue)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an API token may do. Scopes nest: `admin` ⊃ `write` ⊃ `read`.
/// A scope never adds rights; it narrows what the token owner's roles allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = UnknownValue;
    fn from_str(value: &str) -> Result<Self, UnknownValue> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == value).ok_or(UnknownValue)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown value")]
pub struct UnknownValue;

/// Who is asking. Anonymous callers never reach the policy: the authentication
/// extractor answers 401 first.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: UserId,
    pub instance_admin: bool,
    /// `None` for a browser session (full rights of the user); the token's scope otherwise.
    pub scope: Option<Scope>,
}

/// Everything an actor can try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    // The actor's own account.
    ReadSelf,
    UpdateSelf,
    ChangeOwnPassword,
    ManageOwnSessions,
    ManageOwnTokens,
    // The instance.
    CreateOrg,
    ManageUsers,
    ReadInstanceAudit,
    /// Define the agent profiles users may run.
    ManageAgentProfiles,
    // An org.
    ReadOrg,
    UpdateOrg,
    DeleteOrg,
    ListMembers,
    ManageMembers,
    /// Grant or take away the owner role: transferring the org.
    ManageOwners,
    /// Remove oneself from an org.
    LeaveOrg,
    ReadAudit,
    ListProjects,
    CreateProject,
    // A project.
    ReadProject,
    UpdateProject,
    DeleteProject,
    /// Change the project's code: files, git, terminals, agents.
    WriteCode,
    /// Build, deploy, roll back, start and stop services.
    Deploy,
    /// Read and change secrets and project settings.
    ManageSecrets,
}

impl Action {
    /// The least org role that may perform the action on an org or project.
    fn min_role(self) -> Role {
        use Action::*;
        match self {
            ReadOrg | ListMembers | ListProjects | ReadProject | LeaveOrg => Role::Viewer,
            CreateProject | UpdateProject | WriteCode | Deploy => Role::Developer,
            UpdateOrg | ManageMembers | ReadAudit | ManageSecrets | DeleteProject => Role::Admin,
            DeleteOrg | ManageOwners => Role::Owner,
            // Not org-scoped; never asked with an org resource.
            ReadSelf | UpdateSelf | ChangeOwnPassword | ManageOwnSessions | ManageOwnTokens | CreateOrg
            | ManageUsers | ReadInstanceAudit | ManageAgentProfiles => Role::Owner,
        }
    }

    /// The token scope the action needs.
    pub fn required_scope(self) -> Scope {
        use Action::*;
        match self {
            ReadSelf | ReadOrg | ListMembers | ListProjects | ReadProject => Scope::Read,
            UpdateSelf | CreateOrg | CreateProject | UpdateProject | WriteCode | Deploy | LeaveOrg => Scope::Write,
            ChangeOwnPassword | ManageOwnSessions | ManageOwnTokens | ManageUsers | ReadInstanceAudit
            | ManageAgentProfiles | UpdateOrg | DeleteOrg | ManageMembers | ManageOwners | ReadAudit
            | DeleteProject | ManageSecrets => Scope::Admin,
        }
    }
}

/// What the action is aimed at, with the facts the policy needs about it.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// Instance-wide things: users, orgs creation, the instance audit log.
    Instance,
    /// A user account; `ReadSelf` and friends only work on one's own.
    User(&'a UserId),
    /// An org or something in it, with the actor's role there (`None`: not a member).
    InOrg { role: Option<Role> },
}

/// Proof that the policy allowed an action. Only [`authorize`] can make one.
#[derive(Debug, Clone, Copy)]
#[must_use = "a grant is the proof of authorization; use it or the check was pointless"]
pub struct Grant {
    role: Option<Role>,
}

impl Grant {
    /// The effective role the grant was given under (`Owner` for instance admins in an org).
    pub fn role(&self) -> Option<Role> {
        self.role
    }
}

/// Why the policy said no. `NotFound` hides the resource's existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("not found")]
    NotFound,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("the token's scope does not allow this")]
    InsufficientScope,
}

/// Decides whether `actor` may perform `action` on `resource`.
///
/// The order of checks matters: membership first (a stranger learns nothing, 404),
/// then the role (403), then the token scope (403).
pub fn authorize(actor: &Actor, action: Action, resource: Resource<'_>) -> Result<Grant, Denied> {
    let grant = match resource {
        Resource::InOrg { role } => {
            // Instance admins can administer every org, with owner rights.
            let effective = if actor.instance_admin { Some(Role::Owner) } else { role };
            let Some(effective) = effective else {
                return Err(Denied::NotFound);
            };
            if effective < action.min_role() {
                return Err(Denied::Forbidden);
            }
            Grant { role: Some(effective) }
        }
        Resource::User(user_id) => {
            let own = *user_id == actor.user_id;
            match action {
                Action::ReadSelf
                | Action::UpdateSelf
                | Action::ChangeOwnPassword
                | Action::ManageOwnSessions
                | Action::ManageOwnTokens
                    if own =>
                {
                    Grant { role: None }
                }
                _ if actor.instance_admin => Grant { role: None },
                _ => return Err(Denied::NotFound),
            }
        }
        Resource::Instance => match action {
            Action::CreateOrg => Grant { role: None },
            Action::ManageUsers | Action::ReadInstanceAudit | Action::ManageAgentProfiles if actor.instance_admin => {
                Grant { role: None }
            }
            _ => return Err(Denied::Forbidden),
        },
    };
    if let Some(scope) = actor.scope
        && scope < action.required_scope()
    {
        return Err(Denied::InsufficientScope);
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(scope: Option<Scope>, instance_admin: bool) -> Actor {
        Actor { user_id: UserId::new(), instance_admin, scope }
    }

    #[test]
    fn strangers_get_not_found_members_get_forbidden() {
        let someone = actor(None, false);
        assert_eq!(
            authorize(&someone, Action::ReadProject, Resource::InOrg { role: None }).unwrap_err(),
            Denied::NotFound
        );
        assert_eq!(
            authorize(&someone, Action::DeleteProject, Resource::InOrg { role: Some(Role::Developer) }).unwrap_err(),
            Denied::Forbidden
        );
    }

    #[test]
    fn the_role_ladder() {
        let someone = actor(None, false);
        let allowed = |role, action| authorize(&someone, action, Resource::InOrg { role: Some(role) }).is_ok();
        assert!(allowed(Role::Viewer, Action::ReadProject));
        assert!(!allowed(Role::Viewer, Action::WriteCode));
        assert!(allowed(Role::Developer, Action::Deploy));
        assert!(!allowed(Role::Developer, Action::ManageMembers));
        assert!(allowed(Role::Admin, Action::ManageSecrets));
        assert!(!allowed(Role::Admin, Action::DeleteOrg));
        assert!(!allowed(Role::Admin, Action::ManageOwners));
        assert!(allowed(Role::Owner, Action::DeleteOrg));
    }

    #[test]
    fn scopes_narrow_but_never_widen() {
        let reader = actor(Some(Scope::Read), false);
        let owner = Resource::InOrg { role: Some(Role::Owner) };
        assert!(authorize(&reader, Action::ReadProject, owner).is_ok());
        assert_eq!(authorize(&reader, Action::CreateProject, owner).unwrap_err(), Denied::InsufficientScope);
        // An admin-scoped token of a viewer is still a viewer.
        let viewer_with_admin_token = actor(Some(Scope::Admin), false);
        assert_eq!(
            authorize(&viewer_with_admin_token, Action::WriteCode, Resource::InOrg { role: Some(Role::Viewer) })
                .unwrap_err(),
            Denied::Forbidden
        );
        // Membership is checked before scope, so a stranger's token learns nothing.
        assert_eq!(
            authorize(&reader, Action::DeleteOrg, Resource::InOrg { role: None }).unwrap_err(),
            Denied::NotFound
        );
    }

    #[test]
    fn instance_admins_own_every_org_but_tokens_still_narrow() {
        let admin = actor(None, true);
        assert_eq!(
            authorize(&admin, Action::DeleteOrg, Resource::InOrg { role: None }).unwrap().role(),
            Some(Role::Owner)
        );
        assert!(authorize(&admin, Action::ManageUsers, Resource::Instance).is_ok());
        let admin_reader = actor(Some(Scope::Read), true);
        assert_eq!(
            authorize(&admin_reader, Action::ManageUsers, Resource::Instance).unwrap_err(),
            Denied::InsufficientScope
        );
    }

    #[test]
    fn leaving_an_org_is_a_write() {
        let member = Resource::InOrg { role: Some(Role::Viewer) };
        assert!(authorize(&actor(None, false), Action::LeaveOrg, member).is_ok());
        assert!(authorize(&actor(Some(Scope::Write), false), Action::LeaveOrg, member).is_ok());
        assert_eq!(
            authorize(&actor(Some(Scope::Read), false), Action::LeaveOrg, member).unwrap_err(),
            Denied::InsufficientScope
        );
    }

    #[test]
    fn own_account_only() {
        let someone = actor(None, false);
        let other = UserId::new();
        assert!(authorize(&someone, Action::ManageOwnTokens, Resource::User(&someone.user_id)).is_ok());
        assert_eq!(authorize(&someone, Action::ManageOwnTokens, Resource::User(&other)).unwrap_err(), Denied::NotFound);
        assert_eq!(authorize(&someone, Action::ManageUsers, Resource::Instance).unwrap_err(), Denied::Forbidden);
    }
}
