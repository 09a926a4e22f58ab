//! Orgs, their members and their audit log.

use dockyard_domain::validate::{Email, Name, Slug};
use dockyard_domain::{
    Action, Actor, AuditEvent, Grant, Member, Org, OrgWithRole, Page, Resource, Role, UserId, authorize,
};
use dockyard_store::AuditFilter;

use crate::accounts::slug_or_derived;
use crate::audit::AuditEntry;
use crate::{RequestContext, ServiceError, Services};

/// A partial update of an org.
#[derive(Debug, Clone, Default)]
pub struct OrgUpdate {
    pub name: Option<String>,
    pub slug: Option<String>,
}

/// A member to add, or a role to set.
#[derive(Debug, Clone)]
pub struct MemberChange {
    pub role: Role,
}

fn slug_taken(error: ServiceError) -> ServiceError {
    match error {
        ServiceError::Conflict { .. } => ServiceError::conflict("slug_taken", "an org with this slug exists"),
        other => other,
    }
}

impl Services {
    /// Loads an org by id or slug and authorizes `action` on it.
    pub(crate) async fn org_for(&self, actor: &Actor, key: &str, action: Action) -> Result<(Org, Grant), ServiceError> {
        let OrgWithRole { org, role } = self.store().find_org(key, &actor.user_id).await?;
        let grant = authorize(actor, action, Resource::InOrg { role })?;
        Ok((org, grant))
    }

    /// Loads an org and the actor's role in it for a decision that depends on the
    /// target (member changes). Strangers get 404 before anything about the target is read.
    async fn org_with_role(&self, actor: &Actor, key: &str) -> Result<(Org, Option<Role>), ServiceError> {
        let OrgWithRole { org, role } = self.store().find_org(key, &actor.user_id).await?;
        let _visible = authorize(actor, Action::ListMembers, Resource::InOrg { role })?;
        Ok((org, role))
    }

    pub async fn create_org(
        &self,
        actor: &Actor,
        name: &str,
        slug: Option<&str>,
        context: &RequestContext,
    ) -> Result<Org, ServiceError> {
        let _grant = authorize(actor, Action::CreateOrg, Resource::Instance)?;
        let name = Name::parse("name", name)?;
        let slug = slug_or_derived(slug, &name)?;
        let org = self
            .store()
            .create_org(slug.as_str(), name.as_str(), &actor.user_id)
            .await
            .map_err(|error| slug_taken(error.into()))?;
        self.audit(
            AuditEntry::new("org.created", context).by(&actor.user_id).org(&org.id).target("org", org.id.as_str()),
        )
        .await;
        Ok(org)
    }

    /// The orgs the actor is a member of, with their role.
    pub async fn list_orgs(&self, actor: &Actor) -> Result<Vec<OrgWithRole>, ServiceError> {
        let _grant = authorize(actor, Action::ReadSelf, Resource::User(&actor.user_id))?;
        Ok(self.store().list_orgs(&actor.user_id, false).await?)
    }

    pub async fn get_org(&self, actor: &Actor, key: &str) -> Result<(Org, Option<Role>), ServiceError> {
        let (org, grant) = self.org_for(actor, key, Action::ReadOrg).await?;
        Ok((org, grant.role()))
    }

    pub async fn update_org(
        &self,
        actor: &Actor,
        key: &str,
        update: OrgUpdate,
        context: &RequestContext,
    ) -> Result<(Org, Option<Role>), ServiceError> {
        let (org, grant) = self.org_for(actor, key, Action::UpdateOrg).await?;
        let name = match update.name.as_deref() {
            Some(name) => Name::parse("name", name)?.into_string(),
            None => org.name.clone(),
        };
        let slug = match update.slug.as_deref() {
            Some(slug) => Slug::parse("slug", slug)?.as_str().to_owned(),
            None => org.slug.clone(),
        };
        let updated = self.store().update_org(&org.id, &slug, &name).await.map_err(|error| slug_taken(error.into()))?;
        self.audit(
            AuditEntry::new("org.updated", context).by(&actor.user_id).org(&org.id).target("org", org.id.as_str()),
        )
        .await;
        Ok((updated, grant.role()))
    }

    pub async fn delete_org(&self, actor: &Actor, key: &str, context: &RequestContext) -> Result<(), ServiceError> {
        let (org, _grant) = self.org_for(actor, key, Action::DeleteOrg).await?;
        self.store().delete_org(&org.id).await?;
        self.audit(
            AuditEntry::new("org.deleted", context)
                .by(&actor.user_id)
                .org(&org.id)
                .target("org", org.id.as_str())
                .detail(serde_json::json!({ "slug": org.slug })),
        )
        .await;
        Ok(())
    }

    pub async fn list_members(&self, actor: &Actor, key: &str) -> Result<Vec<Member>, ServiceError> {
        let (org, _grant) = self.org_for(actor, key, Action::ListMembers).await?;
        Ok(self.store().list_members(&org.id).await?)
    }

    /// Adds an existing user by e-mail. Granting `owner` is an owner's decision.
    pub async fn add_member(
        &self,
        actor: &Actor,
        key: &str,
        email: &str,
        role: Role,
        context: &RequestContext,
    ) -> Result<Member, ServiceError> {
        let action = if role == Role::Owner { Action::ManageOwners } else { Action::ManageMembers };
        let (org, _grant) = self.org_for(actor, key, action).await?;
        let email = Email::parse(email)?;
        let user = self
            .store()
            .find_user_by_email(email.as_str())
            .await?
            .ok_or_else(|| {
                ServiceError::conflict("user_not_found", "no user has this e-mail address; create the account first")
            })?
            .user;
        self.store().add_member(&org.id, &user.id, role).await.map_err(|error| match ServiceError::from(error) {
            ServiceError::Conflict { .. } => ServiceError::conflict("already_member", "this user is already a member"),
            other => other,
        })?;
        self.audit(
            AuditEntry::new("member.added", context)
                .by(&actor.user_id)
                .org(&org.id)
                .target("user", user.id.as_str())
                .detail(serde_json::json!({ "role": role.as_str(), "email": user.email })),
        )
        .await;
        self.member(&org.id, &user.id).await
    }

    /// Changes a member's role. Anything touching the owner role is an owner's decision.
    pub async fn set_member_role(
        &self,
        actor: &Actor,
        key: &str,
        user: &UserId,
        role: Role,
        context: &RequestContext,
    ) -> Result<Member, ServiceError> {
        let (org, role_of_actor) = self.org_with_role(actor, key).await?;
        let current = self.member(&org.id, user).await?;
        let action = if role == Role::Owner || current.role == Role::Owner {
            Action::ManageOwners
        } else {
            Action::ManageMembers
        };
        let _grant = authorize(actor, action, Resource::InOrg { role: role_of_actor })?;
        self.store().set_member_role(&org.id, user, role).await.map_err(last_owner)?;
        self.audit(
            AuditEntry::new("member.role_changed", context)
                .by(&actor.user_id)
                .org(&org.id)
                .target("user", user.as_str())
                .detail(serde_json::json!({ "from": current.role.as_str(), "to": role.as_str() })),
        )
        .await;
        self.member(&org.id, user).await
    }

    /// Removes a member. Members may always leave; removing an owner is an owner's decision.
    pub async fn remove_member(
        &self,
        actor: &Actor,
        key: &str,
        user: &UserId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (org, role_of_actor) = self.org_with_role(actor, key).await?;
        let current = self.member(&org.id, user).await?;
        let action = if *user == actor.user_id {
            Action::LeaveOrg
        } else if current.role == Role::Owner {
            Action::ManageOwners
        } else {
            Action::ManageMembers
        };
        let _grant = authorize(actor, action, Resource::InOrg { role: role_of_actor })?;
        self.store().remove_member(&org.id, user).await.map_err(last_owner)?;
        self.audit(
            AuditEntry::new("member.removed", context)
                .by(&actor.user_id)
                .org(&org.id)
                .target("user", user.as_str())
                .detail(serde_json::json!({ "role": current.role.as_str() })),
        )
        .await;
        Ok(())
    }

    async fn member(&self, org: &dockyard_domain::OrgId, user: &UserId) -> Result<Member, ServiceError> {
        self.store()
            .list_members(org)
            .await?
            .into_iter()
            .find(|member| member.user_id == *user)
            .ok_or(ServiceError::NotFound)
    }

    pub async fn org_audit(
        &self,
        actor: &Actor,
        key: &str,
        mut filter: AuditFilter,
    ) -> Result<Page<AuditEvent>, ServiceError> {
        let (org, _grant) = self.org_for(actor, key, Action::ReadAudit).await?;
        filter.org_id = Some(org.id);
        Ok(self.store().list_audit(&filter).await?)
    }
}

fn last_owner(error: dockyard_store::StoreError) -> ServiceError {
    match error {
        dockyard_store::StoreError::Conflict(what) if what == "last_owner" => {
            ServiceError::conflict("last_owner", "an org must keep at least one owner; make someone else owner first")
        }
        other => other.into(),
    }
}
