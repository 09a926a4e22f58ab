//! Small instance-wide key/value settings.

use chrono::Utc;
use sqlx::Row;

use crate::{Store, StoreError, millis};

impl Store {
    pub async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(millis(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a setting; answers whether it existed.
    pub async fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(&self.pool).await?;
        Ok(result.rows_affected() > 0)
    }
}
