//! Orgs and their memberships.

use chrono::Utc;
use dockyard_domain::{Member, Org, OrgId, OrgWithRole, Role, UserId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Store, StoreError, get_time, millis};

const ORG_COLUMNS: &str = "o.id, o.slug, o.name, o.created_at, o.updated_at";

fn org_from_row(row: &AnyRow) -> Result<Org, sqlx::Error> {
    Ok(Org {
        id: OrgId::from_trusted(row.try_get("id")?),
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

pub(crate) fn parse_role(raw: &str) -> Result<Role, sqlx::Error> {
    raw.parse().map_err(|_| sqlx::Error::Decode(format!("unknown role {raw:?}").into()))
}

fn slug_conflict(error: sqlx::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict("slug".into()),
        other => other,
    }
}

impl Store {
    /// Creates an org with `owner` as its first owner, atomically.
    pub async fn create_org(&self, slug: &str, name: &str, owner: &UserId) -> Result<Org, StoreError> {
        let now = millis(Utc::now());
        let id = OrgId::new();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO orgs (id, slug, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             RETURNING id, slug, name, created_at, updated_at",
        )
        .bind(id.as_str())
        .bind(slug)
        .bind(name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(slug_conflict)?;
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(id.as_str())
            .bind(owner.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(org_from_row(&row)?)
    }

    /// Finds an org by id or by slug, with `user`'s role in it.
    pub async fn find_org(&self, id_or_slug: &str, user: &UserId) -> Result<OrgWithRole, StoreError> {
        let row = sqlx::query(sql!(
            "SELECT {ORG_COLUMNS}, m.role FROM orgs o
             LEFT JOIN memberships m ON m.org_id = o.id AND m.user_id = $2
             WHERE o.id = $1 OR o.slug = $1"
        ))
        .bind(id_or_slug)
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await?;
        let role = row.try_get::<Option<String>, _>("role")?.map(|role| parse_role(&role)).transpose()?;
        Ok(OrgWithRole { org: org_from_row(&row)?, role })
    }

    /// `user`'s role in `org`, if a member.
    pub async fn role_in_org(&self, org: &OrgId, user: &UserId) -> Result<Option<Role>, StoreError> {
        let row = sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org.as_str())
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| parse_role(&row.try_get::<String, _>("role")?)).transpose()?)
    }

    /// The orgs `user` belongs to, or every org when `all` (instance admins).
    pub async fn list_orgs(&self, user: &UserId, all: bool) -> Result<Vec<OrgWithRole>, StoreError> {
        let join = if all { "LEFT JOIN" } else { "JOIN" };
        let rows = sqlx::query(sql!(
            "SELECT {ORG_COLUMNS}, m.role FROM orgs o
             {join} memberships m ON m.org_id = o.id AND m.user_id = $1
             ORDER BY o.id"
        ))
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let role = row.try_get::<Option<String>, _>("role")?.map(|role| parse_role(&role)).transpose()?;
                Ok(OrgWithRole { org: org_from_row(row)?, role })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn update_org(&self, id: &OrgId, slug: &str, name: &str) -> Result<Org, StoreError> {
        let row = sqlx::query(
            "UPDATE orgs SET slug = $2, name = $3, updated_at = $4 WHERE id = $1
             RETURNING id, slug, name, created_at, updated_at",
        )
        .bind(id.as_str())
        .bind(slug)
        .bind(name)
        .bind(millis(Utc::now()))
        .fetch_one(&self.pool)
        .await
        .map_err(slug_conflict)?;
        Ok(org_from_row(&row)?)
    }

    /// Deletes an org; its memberships and projects go with it.
    pub async fn delete_org(&self, id: &OrgId) -> Result<(), StoreError> {
        let result = sqlx::query("DELETE FROM orgs WHERE id = $1").bind(id.as_str()).execute(&self.pool).await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn list_members(&self, org: &OrgId) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.name, m.role, m.created_at FROM memberships m
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY m.created_at, u.id",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Member {
                    user_id: UserId::from_trusted(row.try_get("id")?),
                    email: row.try_get("email")?,
                    name: row.try_get("name")?,
                    role: parse_role(&row.try_get::<String, _>("role")?)?,
                    joined_at: get_time(row, "created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Adds a member; `Conflict("member")` when already one.
    pub async fn add_member(&self, org: &OrgId, user: &UserId, role: Role) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(org.as_str())
            .bind(user.as_str())
            .bind(role.as_str())
            .bind(millis(Utc::now()))
            .execute(&self.pool)
            .await
            .map_err(|error| match StoreError::from(error) {
                StoreError::Conflict(_) => StoreError::Conflict("member".into()),
                other => other,
            })?;
        Ok(())
    }

    /// Changes a member's role. Refuses (`Conflict("last_owner")`) to leave the org without an owner.
    pub async fn set_member_role(&self, org: &OrgId, user: &UserId, role: Role) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.lock_org(&mut tx, org).await?;
        let result = sqlx::query("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
            .bind(org.as_str())
            .bind(user.as_str())
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        ensure_an_owner_remains(&mut tx, org).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member. Refuses (`Conflict("last_owner")`) to remove the last owner.
    pub async fn remove_member(&self, org: &OrgId, user: &UserId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.lock_org(&mut tx, org).await?;
        let result = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org.as_str())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        ensure_an_owner_remains(&mut tx, org).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Serialises membership changes of one org, so that two concurrent demotions
    /// cannot both see "another owner remains". SQLite already has a single writer.
    async fn lock_org(&self, tx: &mut Transaction<'static, Any>, org: &OrgId) -> Result<(), StoreError> {
        if self.dialect == crate::Dialect::Postgres {
            sqlx::query("SELECT id FROM orgs WHERE id = $1 FOR UPDATE")
                .bind(org.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

async fn ensure_an_owner_remains(tx: &mut Transaction<'static, Any>, org: &OrgId) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1 AND role = 'owner'")
        .bind(org.as_str())
        .fetch_one(&mut **tx)
        .await?;
    if row.try_get::<i64, _>("n")? == 0 {
        return Err(StoreError::Conflict("last_owner".into()));
    }
    Ok(())
}
