//! API tokens. Only a SHA-256 of the token is stored, plus a short display prefix.

use chrono::{DateTime, Utc};
use dockyard_domain::{ApiToken, Scope, TokenId, User, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::users::user_from_row;
use crate::{Store, StoreError, get_opt_time, get_time, millis};

pub struct NewApiToken<'a> {
    pub user: &'a UserId,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub scope: Scope,
    pub expires_at: Option<DateTime<Utc>>,
}

const TOKEN_COLUMNS: &str = "t.id AS token_id, t.user_id, t.name AS token_name, t.prefix, t.scope, \
                             t.created_at AS token_created_at, t.expires_at, t.last_used_at, t.revoked_at";

fn token_from_row(row: &AnyRow) -> Result<ApiToken, sqlx::Error> {
    let scope: String = row.try_get("scope")?;
    Ok(ApiToken {
        id: TokenId::from_trusted(row.try_get("token_id")?),
        user_id: UserId::from_trusted(row.try_get("user_id")?),
        name: row.try_get("token_name")?,
        prefix: row.try_get("prefix")?,
        scope: scope.parse().map_err(|_| sqlx::Error::Decode(format!("unknown scope {scope:?}").into()))?,
        created_at: get_time(row, "token_created_at")?,
        expires_at: get_opt_time(row, "expires_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

impl Store {
    pub async fn create_token(&self, new: NewApiToken<'_>) -> Result<ApiToken, StoreError> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scope, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING id AS token_id, user_id, name AS token_name, prefix, scope, created_at AS token_created_at,
                       expires_at, last_used_at, revoked_at",
        )
        .bind(TokenId::new().as_str())
        .bind(new.user.as_str())
        .bind(new.name)
        .bind(new.token_hash)
        .bind(new.prefix)
        .bind(new.scope.as_str())
        .bind(millis(Utc::now()))
        .bind(new.expires_at.map(millis))
        .fetch_one(&self.pool)
        .await?;
        Ok(token_from_row(&row)?)
    }

    /// The token with this hash and its user, if it is neither revoked nor expired.
    pub async fn resolve_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiToken, User)>, StoreError> {
        let row = sqlx::query(sql!(
            "SELECT {TOKEN_COLUMNS}, u.id, u.email, u.name, u.instance_admin, u.created_at, u.updated_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)"
        ))
        .bind(token_hash)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| Ok::<_, sqlx::Error>((token_from_row(&row)?, user_from_row(&row)?))).transpose()?)
    }

    pub async fn touch_token(&self, id: &TokenId, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn list_tokens(&self, user: &UserId) -> Result<Vec<ApiToken>, StoreError> {
        let rows =
            sqlx::query(sql!("SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE t.user_id = $1 ORDER BY t.id DESC"))
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }

    /// Revokes one of `user`'s tokens; `NotFound` when it is not theirs or already revoked.
    pub async fn revoke_token(&self, user: &UserId, id: &TokenId) -> Result<ApiToken, StoreError> {
        let row = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
             RETURNING id AS token_id, user_id, name AS token_name, prefix, scope, created_at AS token_created_at,
                       expires_at, last_used_at, revoked_at",
        )
        .bind(id.as_str())
        .bind(user.as_str())
        .bind(millis(Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        Ok(token_from_row(&row)?)
    }
}
