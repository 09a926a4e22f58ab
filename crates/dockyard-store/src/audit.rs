//! The append-only audit log.

use chrono::Utc;
use dockyard_domain::{AuditEvent, AuditId, OrgId, Page, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError, get_time, millis};

/// One entry to record.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent {
    pub org_id: Option<OrgId>,
    pub actor_user_id: Option<UserId>,
    pub actor_label: Option<String>,
    pub ip: Option<String>,
    pub action: &'static str,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub detail: serde_json::Value,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this org's entries; `None` lists the whole instance.
    pub org_id: Option<OrgId>,
    /// Only entries with this action, e.g. `auth.login_failed`.
    pub action: Option<String>,
    /// The last id of the previous page.
    pub before: Option<AuditId>,
    pub limit: u32,
}

fn event_from_row(row: &AnyRow) -> Result<AuditEvent, sqlx::Error> {
    let detail: String = row.try_get("detail")?;
    Ok(AuditEvent {
        id: AuditId::from_trusted(row.try_get("id")?),
        org_id: row.try_get::<Option<String>, _>("org_id")?.map(OrgId::from_trusted),
        actor_user_id: row.try_get::<Option<String>, _>("actor_user_id")?.map(UserId::from_trusted),
        actor_label: row.try_get("actor_label")?,
        ip: row.try_get("ip")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        created_at: get_time(row, "created_at")?,
    })
}

impl Store {
    pub async fn record_audit(&self, event: NewAuditEvent) -> Result<AuditId, StoreError> {
        let id = AuditId::new();
        sqlx::query(
            "INSERT INTO audit_events (id, org_id, actor_user_id, actor_label, ip, action, target_type, target_id, detail, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.as_str())
        .bind(event.org_id.as_ref().map(OrgId::as_str))
        .bind(event.actor_user_id.as_ref().map(UserId::as_str))
        .bind(event.actor_label.as_deref())
        .bind(event.ip.as_deref())
        .bind(event.action)
        .bind(event.target_type)
        .bind(event.target_id.as_deref())
        .bind(event.detail.to_string())
        .bind(millis(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Page<AuditEvent>, StoreError> {
        let limit = filter.limit.clamp(1, 500);
        let fetch = i64::from(limit) + 1;
        let rows = sqlx::query(sql!(
            "SELECT id, org_id, actor_user_id, actor_label, ip, action, target_type, target_id, detail, created_at
             FROM audit_events
             WHERE ($1 = '' OR org_id = $1) AND ($2 = '' OR action = $2) AND ($3 = '' OR id < $3)
             ORDER BY id DESC LIMIT {fetch}"
        ))
        .bind(filter.org_id.as_ref().map(OrgId::as_str).unwrap_or(""))
        .bind(filter.action.as_deref().unwrap_or(""))
        .bind(filter.before.as_ref().map(AuditId::as_str).unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows.iter().map(event_from_row).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|event| event.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
