//! Per-user preferences: editor settings (one row per setting, JSON text values)
//! and the IDE's layout of each project (one opaque JSON document per user and
//! project). The store neither parses nor validates the JSON; the services do.

use chrono::Utc;
use dockyard_domain::{ProjectId, UserId};
use sqlx::Row;

use crate::{Store, StoreError, millis};

impl Store {
    /// Every stored setting of a user as `(key, JSON text)`, by key.
    pub async fn user_settings(&self, user: &UserId) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT key, value FROM user_settings WHERE user_id = $1 ORDER BY key")
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("key")?, row.try_get("value")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Applies a change in one transaction: `Some(json)` stores the setting,
    /// `None` deletes it (back to the default). Fails with `NotFound` when the
    /// user does not exist.
    pub async fn update_user_settings(
        &self,
        user: &UserId,
        changes: &[(String, Option<String>)],
    ) -> Result<(), StoreError> {
        let now = millis(Utc::now());
        let mut tx = self.pool.begin().await?;
        for (key, value) in changes {
            match value {
                Some(value) => {
                    sqlx::query(
                        "INSERT INTO user_settings (user_id, key, value, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .bind(user.as_str())
                    .bind(key)
                    .bind(value)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(missing_parent)?;
                }
                None => {
                    sqlx::query("DELETE FROM user_settings WHERE user_id = $1 AND key = $2")
                        .bind(user.as_str())
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored layout (JSON text) of a project for a user, if any.
    pub async fn project_layout(&self, user: &UserId, project: &ProjectId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT layout FROM project_layouts WHERE user_id = $1 AND project_id = $2")
            .bind(user.as_str())
            .bind(project.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("layout")).transpose()?)
    }

    /// Stores (replaces) a user's layout of a project. Fails with `NotFound` when
    /// the user or the project does not exist.
    pub async fn set_project_layout(&self, user: &UserId, project: &ProjectId, layout: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO project_layouts (user_id, project_id, layout, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, project_id) DO UPDATE SET layout = excluded.layout, updated_at = excluded.updated_at",
        )
        .bind(user.as_str())
        .bind(project.as_str())
        .bind(layout)
        .bind(millis(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(missing_parent)?;
        Ok(())
    }

    /// Deletes a user's layout of a project; answers whether there was one.
    pub async fn delete_project_layout(&self, user: &UserId, project: &ProjectId) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM project_layouts WHERE user_id = $1 AND project_id = $2")
            .bind(user.as_str())
            .bind(project.as_str())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}

/// A foreign-key violation here means the user or project is gone (deleted
/// meanwhile): that is "not found", not an internal error.
fn missing_parent(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_foreign_key_violation() => StoreError::NotFound,
        _ => StoreError::from(error),
    }
}
