//! Recording audit events. A failure to record is logged, never hidden, but it
//! does not undo the action it describes.

use dockyard_domain::{AuditEvent, OrgId, Page, UserId};
use dockyard_store::NewAuditEvent;

use crate::{RequestContext, Services};

/// A builder for one audit entry.
pub(crate) struct AuditEntry(NewAuditEvent);

impl AuditEntry {
    pub(crate) fn new(action: &'static str, context: &RequestContext) -> Self {
        Self(NewAuditEvent { action, ip: context.ip.clone(), detail: serde_json::json!({}), ..Default::default() })
    }

    pub(crate) fn by(mut self, user: &UserId) -> Self {
        self.0.actor_user_id = Some(user.clone());
        self
    }

    pub(crate) fn by_opt(mut self, user: Option<&UserId>) -> Self {
        self.0.actor_user_id = user.cloned();
        self
    }

    pub(crate) fn label(mut self, label: String) -> Self {
        self.0.actor_label = Some(label);
        self
    }

    pub(crate) fn org(mut self, org: &OrgId) -> Self {
        self.0.org_id = Some(org.clone());
        self
    }

    pub(crate) fn target(mut self, kind: &'static str, id: &str) -> Self {
        self.0.target_type = Some(kind);
        self.0.target_id = Some(id.to_owned());
        self
    }

    pub(crate) fn detail(mut self, detail: serde_json::Value) -> Self {
        self.0.detail = detail;
        self
    }
}

impl Services {
    pub(crate) async fn audit(&self, entry: AuditEntry) {
        let action = entry.0.action;
        if let Err(error) = self.store().record_audit(entry.0).await {
            tracing::error!(action, %error, "could not record an audit event");
        }
    }

    /// The instance-wide audit log, for the shell and instance admins.
    pub async fn instance_audit(
        &self,
        actor: Option<&dockyard_domain::Actor>,
        filter: dockyard_store::AuditFilter,
    ) -> Result<Page<AuditEvent>, crate::ServiceError> {
        if let Some(actor) = actor {
            let _grant = dockyard_domain::authorize(
                actor,
                dockyard_domain::Action::ReadInstanceAudit,
                dockyard_domain::Resource::Instance,
            )?;
        }
        Ok(self.store().list_audit(&filter).await?)
    }
}
