//! Users.

use chrono::Utc;
use dockyard_domain::{User, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError, get_bool, get_time, millis};

/// A user with the stored password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserWithPassword {
    pub user: User,
    pub password_hash: Option<String>,
}

const USER_COLUMNS: &str = "id, email, name, instance_admin, created_at, updated_at";

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: UserId::from_trusted(row.try_get("id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        instance_admin: get_bool(row, "instance_admin")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

impl Store {
    /// Creates a user; `Conflict("email")` when the address is taken.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        instance_admin: bool,
    ) -> Result<User, StoreError> {
        let now = millis(Utc::now());
        let row = sqlx::query(sql!(
            "INSERT INTO users (id, email, name, password_hash, instance_admin, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
        ))
        .bind(UserId::new().as_str())
        .bind(email)
        .bind(name)
        .bind(password_hash)
        .bind(instance_admin)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|error| match StoreError::from(error) {
            StoreError::Conflict(_) => StoreError::Conflict("email".into()),
            other => other,
        })?;
        Ok(user_from_row(&row)?)
    }

    pub async fn get_user(&self, id: &UserId) -> Result<User, StoreError> {
        let row = sqlx::query(sql!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(user_from_row(&row)?)
    }

    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<UserWithPassword>, StoreError> {
        let row = sqlx::query(sql!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok(UserWithPassword { user: user_from_row(&row)?, password_hash: row.try_get("password_hash")? }))
            .transpose()
    }

    pub async fn password_hash(&self, id: &UserId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("password_hash")?)
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sql!("SELECT {USER_COLUMNS} FROM users ORDER BY id")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    pub async fn update_user_name(&self, id: &UserId, name: &str) -> Result<User, StoreError> {
        let row =
            sqlx::query(sql!("UPDATE users SET name = $2, updated_at = $3 WHERE id = $1 RETURNING {USER_COLUMNS}"))
                .bind(id.as_str())
                .bind(name)
                .bind(millis(Utc::now()))
                .fetch_one(&self.pool)
                .await?;
        Ok(user_from_row(&row)?)
    }

    pub async fn set_instance_admin(&self, id: &UserId, instance_admin: bool) -> Result<User, StoreError> {
        let row = sqlx::query(sql!(
            "UPDATE users SET instance_admin = $2, updated_at = $3 WHERE id = $1 RETURNING {USER_COLUMNS}"
        ))
        .bind(id.as_str())
        .bind(instance_admin)
        .bind(millis(Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        Ok(user_from_row(&row)?)
    }

    /// Replaces the password hash and revokes every session except `keep_session`,
    /// in one transaction, so an attacker's session cannot outlive the change.
    pub async fn set_password_hash(
        &self,
        id: &UserId,
        password_hash: &str,
        keep_session: Option<&dockyard_domain::SessionId>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id.as_str())
            .bind(password_hash)
            .bind(millis(Utc::now()))
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let revoked = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(id.as_str())
            .bind(keep_session.map(|session| session.as_str()).unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(revoked.rows_affected())
    }
}
