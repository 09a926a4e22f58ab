//! Secrets as stored: ciphertext, nonce and key id, never plaintext. The
//! services encrypt and decrypt; this module only moves the sealed values.
//!
//! A secret belongs to an org (`project_id` NULL) or to one of its projects, and
//! its name is unique within that scope (two partial unique indexes, see
//! migration 0003).

use chrono::{DateTime, Utc};
use dockyard_domain::{OrgId, ProjectId, SecretId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Store, StoreError, get_time, millis};

/// A sealed secret. `nonce` and `ciphertext` are base64 text.
#[derive(Clone)]
pub struct StoredSecret {
    pub id: SecretId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub name: String,
    pub key_id: String,
    pub nonce: String,
    pub ciphertext: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSecret")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("project_id", &self.project_id)
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

const SECRET_COLUMNS: &str = "id, org_id, project_id, name, key_id, nonce, ciphertext, created_at, updated_at";

fn secret_from_row(row: &AnyRow) -> Result<StoredSecret, sqlx::Error> {
    Ok(StoredSecret {
        id: SecretId::from_trusted(row.try_get("id")?),
        org_id: OrgId::from_trusted(row.try_get("org_id")?),
        project_id: row.try_get::<Option<String>, _>("project_id")?.map(ProjectId::from_trusted),
        name: row.try_get("name")?,
        key_id: row.try_get("key_id")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

/// The `WHERE` piece selecting one scope; `$1` is the org, `$2` the project (when there is one).
fn scope_filter(project: Option<&ProjectId>) -> &'static str {
    match project {
        Some(_) => "org_id = $1 AND project_id = $2",
        None => "org_id = $1 AND project_id IS NULL",
    }
}

impl Store {
    /// The secret called `name` in the scope, if there is one.
    pub async fn find_secret(
        &self,
        org: &OrgId,
        project: Option<&ProjectId>,
        name: &str,
    ) -> Result<Option<StoredSecret>, StoreError> {
        let filter = scope_filter(project);
        let name_param = if project.is_some() { "$3" } else { "$2" };
        let mut query =
            sqlx::query(sql!("SELECT {SECRET_COLUMNS} FROM secrets WHERE {filter} AND name = {name_param}"))
                .bind(org.as_str());
        if let Some(project) = project {
            query = query.bind(project.as_str());
        }
        let row = query.bind(name).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(secret_from_row).transpose()?)
    }

    /// Inserts the secret, or replaces the sealed value of the secret with the
    /// same id. `false` when the scope already has a secret of that name under
    /// another id (a concurrent insert won): the caller seals again for that id.
    pub async fn upsert_secret(&self, secret: &StoredSecret) -> Result<bool, StoreError> {
        let target = match secret.project_id {
            Some(_) => "(org_id, project_id, name) WHERE project_id IS NOT NULL",
            None => "(org_id, name) WHERE project_id IS NULL",
        };
        let row = sqlx::query(sql!(
            "INSERT INTO secrets ({SECRET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT {target} DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce,
                 ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
             WHERE secrets.id = excluded.id
             RETURNING id"
        ))
        .bind(secret.id.as_str())
        .bind(secret.org_id.as_str())
        .bind(secret.project_id.as_ref().map(|id| id.as_str().to_owned()))
        .bind(secret.name.as_str())
        .bind(secret.key_id.as_str())
        .bind(secret.nonce.as_str())
        .bind(secret.ciphertext.as_str())
        .bind(millis(secret.updated_at))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Deletes the secret called `name` in the scope; answers whether it existed.
    pub async fn delete_secret(
        &self,
        org: &OrgId,
        project: Option<&ProjectId>,
        name: &str,
    ) -> Result<bool, StoreError> {
        let filter = scope_filter(project);
        let name_param = if project.is_some() { "$3" } else { "$2" };
        let mut query =
            sqlx::query(sql!("DELETE FROM secrets WHERE {filter} AND name = {name_param}")).bind(org.as_str());
        if let Some(project) = project {
            query = query.bind(project.as_str());
        }
        let result = query.bind(name).execute(&self.pool).await?;
        Ok(result.rows_affected() > 0)
    }

    /// The names of the scope's secrets, sorted.
    pub async fn list_secret_names(&self, org: &OrgId, project: Option<&ProjectId>) -> Result<Vec<String>, StoreError> {
        let filter = scope_filter(project);
        let mut query = sqlx::query(sql!("SELECT name FROM secrets WHERE {filter} ORDER BY name")).bind(org.as_str());
        if let Some(project) = project {
            query = query.bind(project.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|row| row.try_get::<String, _>("name")).collect::<Result<_, _>>()?)
    }

    /// Every secret of the instance, a page at a time in id order (for key rotation).
    pub async fn secrets_after(&self, after: Option<&SecretId>, limit: u32) -> Result<Vec<StoredSecret>, StoreError> {
        let limit = limit.clamp(1, 1000);
        let rows = sqlx::query(sql!("SELECT {SECRET_COLUMNS} FROM secrets WHERE id > $1 ORDER BY id LIMIT {limit}"))
            .bind(after.map(SecretId::as_str).unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(secret_from_row).collect::<Result<_, _>>()?)
    }

    /// Replaces a secret's sealed value if it still has the nonce it was read with,
    /// so a re-encryption never overwrites a newer value. Answers whether it did.
    pub async fn reseal_secret(
        &self,
        id: &SecretId,
        expected_nonce: &str,
        key_id: &str,
        nonce: &str,
        ciphertext: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE secrets SET key_id = $3, nonce = $4, ciphertext = $5, updated_at = $6 WHERE id = $1 AND nonce = $2",
        )
        .bind(id.as_str())
        .bind(expected_nonce)
        .bind(key_id)
        .bind(nonce)
        .bind(ciphertext)
        .bind(millis(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
