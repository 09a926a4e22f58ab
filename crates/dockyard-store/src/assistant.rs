//! The built-in assistant's tables: an org's own endpoint (`assistant_org_settings`;
//! its API key is a sealed secret, not here) and the tokens each user spent per
//! UTC day (`assistant_usage`), for the daily budget.

use chrono::{DateTime, Utc};
use dockyard_domain::{OrgId, UserId};
use sqlx::Row;

use crate::{Store, StoreError, get_time, millis};

/// An org's own assistant endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistantOrgSettings {
    pub org_id: OrgId,
    pub base_url: String,
    pub model: String,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// The org's own endpoint, if it set one.
    pub async fn assistant_org_settings(&self, org: &OrgId) -> Result<Option<AssistantOrgSettings>, StoreError> {
        let row = sqlx::query(
            "SELECT org_id, base_url, model, updated_by, updated_at FROM assistant_org_settings WHERE org_id = $1",
        )
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let updated_by: Option<String> = row.try_get("updated_by")?;
        Ok(Some(AssistantOrgSettings {
            org_id: org.clone(),
            base_url: row.try_get("base_url")?,
            model: row.try_get("model")?,
            updated_by: updated_by.and_then(|id| id.parse().ok()),
            updated_at: get_time(&row, "updated_at")?,
        }))
    }

    /// Stores (or replaces) the org's own endpoint.
    pub async fn put_assistant_org_settings(
        &self,
        org: &OrgId,
        base_url: &str,
        model: &str,
        by: &UserId,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO assistant_org_settings (org_id, base_url, model, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_id) DO UPDATE SET base_url = excluded.base_url, model = excluded.model,
                 updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(org.as_str())
        .bind(base_url)
        .bind(model)
        .bind(by.as_str())
        .bind(millis(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the org's own endpoint; answers whether it had one.
    pub async fn delete_assistant_org_settings(&self, org: &OrgId) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM assistant_org_settings WHERE org_id = $1")
            .bind(org.as_str())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The tokens `user` spent on `day` (`YYYY-MM-DD`, UTC).
    pub async fn assistant_tokens_used(&self, user: &UserId, day: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT tokens FROM assistant_usage WHERE user_id = $1 AND day = $2")
            .bind(user.as_str())
            .bind(day)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get::<i64, _>("tokens")).transpose()?.unwrap_or(0))
    }

    /// Adds one request's tokens to `user`'s count for `day`, in one statement
    /// (concurrent requests add up, none is lost); answers the new total.
    pub async fn add_assistant_tokens(&self, user: &UserId, day: &str, tokens: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO assistant_usage (user_id, day, tokens, requests, updated_at) VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (user_id, day) DO UPDATE SET tokens = assistant_usage.tokens + excluded.tokens,
                 requests = assistant_usage.requests + 1, updated_at = excluded.updated_at
             RETURNING tokens",
        )
        .bind(user.as_str())
        .bind(day)
        .bind(tokens.max(0))
        .bind(millis(Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("tokens")?)
    }
}
