//! Projects.

use dockyard_domain::validate::{Name, Slug, description};
use dockyard_domain::{Action, Actor, Grant, Page, Project, ProjectId, Resource, authorize};
use dockyard_store::ProjectFilter;

use crate::accounts::slug_or_derived;
use crate::audit::AuditEntry;
use crate::{RequestContext, ServiceError, Services};

#[derive(Debug, Clone, Default)]
pub struct NewProject {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
}

pub(crate) fn slug_taken(error: dockyard_store::StoreError) -> ServiceError {
    match ServiceError::from(error) {
        ServiceError::Conflict { .. } => {
            ServiceError::conflict("slug_taken", "a project with this slug exists in the org")
        }
        other => other,
    }
}

impl Services {
    /// Loads a project and authorizes `action` on it. Later features (files,
    /// deploys, agents) start every request here.
    pub async fn project_for(
        &self,
        actor: &Actor,
        id: &ProjectId,
        action: Action,
    ) -> Result<(Project, Grant), ServiceError> {
        let (project, role) = self.store().get_project_for(id, &actor.user_id).await?;
        let grant = authorize(actor, action, Resource::InOrg { role })?;
        Ok((project, grant))
    }

    pub async fn create_project(
        &self,
        actor: &Actor,
        org_key: &str,
        new: NewProject,
        context: &RequestContext,
    ) -> Result<Project, ServiceError> {
        let (org, _grant) = self.org_for(actor, org_key, Action::CreateProject).await?;
        let name = Name::parse("name", &new.name)?;
        let slug = slug_or_derived(new.slug.as_deref(), &name)?;
        let description = description(new.description.as_deref().unwrap_or(""))?;
        let project = self
            .store()
            .create_project(&org.id, slug.as_str(), name.as_str(), &description, &actor.user_id)
            .await
            .map_err(slug_taken)?;
        self.audit(
            AuditEntry::new("project.created", context)
                .by(&actor.user_id)
                .org(&org.id)
                .target("project", project.id.as_str())
                .detail(serde_json::json!({ "slug": project.slug })),
        )
        .await;
        Ok(project)
    }

    pub async fn list_projects(
        &self,
        actor: &Actor,
        org_key: &str,
        filter: ProjectFilter,
    ) -> Result<Page<Project>, ServiceError> {
        let (org, _grant) = self.org_for(actor, org_key, Action::ListProjects).await?;
        Ok(self.store().list_projects(&org.id, &filter).await?)
    }

    pub async fn get_project(&self, actor: &Actor, id: &ProjectId) -> Result<Project, ServiceError> {
        Ok(self.project_for(actor, id, Action::ReadProject).await?.0)
    }

    pub async fn update_project(
        &self,
        actor: &Actor,
        id: &ProjectId,
        update: ProjectUpdate,
        context: &RequestContext,
    ) -> Result<Project, ServiceError> {
        let (project, _grant) = self.project_for(actor, id, Action::UpdateProject).await?;
        let name = match update.name.as_deref() {
            Some(name) => Name::parse("name", name)?.into_string(),
            None => project.name.clone(),
        };
        let slug = match update.slug.as_deref() {
            Some(slug) => Slug::parse("slug", slug)?.as_str().to_owned(),
            None => project.slug.clone(),
        };
        let description = match update.description.as_deref() {
            Some(text) => description(text)?,
            None => project.description.clone(),
        };
        let updated = self.store().update_project(&project.id, &slug, &name, &description).await.map_err(slug_taken)?;
        self.audit(
            AuditEntry::new("project.updated", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("project", project.id.as_str()),
        )
        .await;
        Ok(updated)
    }

    pub async fn delete_project(
        &self,
        actor: &Actor,
        id: &ProjectId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (project, _grant) = self.project_for(actor, id, Action::DeleteProject).await?;
        self.store().delete_project(&project.id).await?;
        self.inner.workspaces.remove(&project.id);
        self.audit(
            AuditEntry::new("project.deleted", context)
                .by(&actor.user_id)
                .org(&project.org_id)
                .target("project", project.id.as_str())
                .detail(serde_json::json!({ "slug": project.slug, "name": project.name })),
        )
        .await;
        Ok(())
    }
}
