//! Browser sessions. Only a SHA-256 of the cookie value is stored.

use chrono::{DateTime, Utc};
use dockyard_domain::{Session, SessionId, User, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::users::user_from_row;
use crate::{Store, StoreError, get_time, millis};

fn session_from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: SessionId::from_trusted(row.try_get("session_id")?),
        user_id: UserId::from_trusted(row.try_get("user_id")?),
        user_agent: row.try_get("user_agent")?,
        ip: row.try_get("ip")?,
        created_at: get_time(row, "session_created_at")?,
        last_seen_at: get_time(row, "last_seen_at")?,
        expires_at: get_time(row, "expires_at")?,
    })
}

const SESSION_COLUMNS: &str = "s.id AS session_id, s.user_id, s.user_agent, s.ip, s.created_at AS session_created_at, \
                               s.last_seen_at, s.expires_at";

impl Store {
    pub async fn create_session(
        &self,
        user: &UserId,
        token_hash: &str,
        user_agent: Option<&str>,
        ip: Option<&str>,
        expires_at: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let now = millis(Utc::now());
        let row = sqlx::query(
            "INSERT INTO sessions (id, user_id, token_hash, user_agent, ip, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
             RETURNING id AS session_id, user_id, user_agent, ip, created_at AS session_created_at, last_seen_at, expires_at",
        )
        .bind(SessionId::new().as_str())
        .bind(user.as_str())
        .bind(token_hash)
        .bind(user_agent)
        .bind(ip)
        .bind(now)
        .bind(millis(expires_at))
        .fetch_one(&self.pool)
        .await?;
        Ok(session_from_row(&row)?)
    }

    /// The live session with this token hash and its user.
    pub async fn resolve_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let row = sqlx::query(sql!(
            "SELECT {SESSION_COLUMNS}, u.id, u.email, u.name, u.instance_admin, u.created_at, u.updated_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        ))
        .bind(token_hash)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| Ok::<_, sqlx::Error>((session_from_row(&row)?, user_from_row(&row)?))).transpose()?)
    }

    /// Records activity and slides the expiry forward.
    pub async fn touch_session(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
            .bind(id.as_str())
            .bind(millis(now))
            .bind(millis(expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn list_sessions(&self, user: &UserId, now: DateTime<Utc>) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(sql!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1 AND s.expires_at > $2 ORDER BY s.last_seen_at DESC"
        ))
        .bind(user.as_str())
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(session_from_row).collect::<Result<_, _>>()?)
    }

    /// Revokes one of `user`'s sessions; `NotFound` when it is not theirs.
    pub async fn delete_session(&self, user: &UserId, id: &SessionId) -> Result<(), StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id.as_str())
            .bind(user.as_str())
            .execute(&self.pool)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Revokes every session of `user`; answers how many there were.
    pub async fn delete_user_sessions(&self, user: &UserId) -> Result<u64, StoreError> {
        let result =
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.as_str()).execute(&self.pool).await?;
        Ok(result.rows_affected())
    }

    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(millis(now)).execute(&self.pool).await?;
        Ok(result.rows_affected())
    }
}
