//! Projects.

use chrono::Utc;
use dockyard_domain::{OrgId, Page, Project, ProjectId, Role, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::orgs::parse_role;
use crate::{Store, StoreError, get_time, like_pattern, millis};

const PROJECT_COLUMNS: &str = "p.id, p.org_id, p.slug, p.name, p.description, p.created_by, p.created_at, p.updated_at";

/// The project columns a `… JOIN projects p … LEFT JOIN memberships m` query
/// selects next to another table's, with the user's role: [`PROJECT_WITH_ROLE`].
pub(crate) const PROJECT_WITH_ROLE: &str = "p.org_id AS p_org_id, p.slug AS p_slug, p.name AS p_name, \
     p.description AS p_description, p.created_by AS p_created_by, p.created_at AS p_created_at, \
     p.updated_at AS p_updated_at, m.role";

/// Reads what [`PROJECT_WITH_ROLE`] selected, for the project `id`.
pub(crate) fn project_with_role(row: &AnyRow, id: ProjectId) -> Result<(Project, Option<Role>), StoreError> {
    let project = Project {
        id,
        org_id: OrgId::from_trusted(row.try_get("p_org_id")?),
        slug: row.try_get("p_slug")?,
        name: row.try_get("p_name")?,
        description: row.try_get("p_description")?,
        created_by: row.try_get::<Option<String>, _>("p_created_by")?.map(UserId::from_trusted),
        created_at: get_time(row, "p_created_at")?,
        updated_at: get_time(row, "p_updated_at")?,
    };
    let role = row.try_get::<Option<String>, _>("role")?.map(|role| parse_role(&role)).transpose()?;
    Ok((project, role))
}

fn project_from_row(row: &AnyRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: ProjectId::from_trusted(row.try_get("id")?),
        org_id: OrgId::from_trusted(row.try_get("org_id")?),
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_by: row.try_get::<Option<String>, _>("created_by")?.map(UserId::from_trusted),
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

/// Which projects of an org to list, and which page.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Case-insensitive substring of the name, slug or description.
    pub query: Option<String>,
    /// The last id of the previous page.
    pub after: Option<ProjectId>,
    pub limit: u32,
}

fn slug_conflict(error: sqlx::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict("slug".into()),
        other => other,
    }
}

impl Store {
    pub async fn create_project(
        &self,
        org: &OrgId,
        slug: &str,
        name: &str,
        description: &str,
        created_by: &UserId,
    ) -> Result<Project, StoreError> {
        let row = sqlx::query(
            "INSERT INTO projects (id, org_id, slug, name, description, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             RETURNING id, org_id, slug, name, description, created_by, created_at, updated_at",
        )
        .bind(ProjectId::new().as_str())
        .bind(org.as_str())
        .bind(slug)
        .bind(name)
        .bind(description)
        .bind(created_by.as_str())
        .bind(millis(Utc::now()))
        .fetch_one(&self.pool)
        .await
        .map_err(slug_conflict)?;
        Ok(project_from_row(&row)?)
    }

    /// A project by id, for background work that already holds its authority (jobs).
    pub async fn get_project(&self, id: &ProjectId) -> Result<Project, StoreError> {
        let row = sqlx::query(sql!("SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(project_from_row(&row)?)
    }

    /// A project with `user`'s role in its org, in one round trip.
    pub async fn get_project_for(&self, id: &ProjectId, user: &UserId) -> Result<(Project, Option<Role>), StoreError> {
        let row = sqlx::query(sql!(
            "SELECT {PROJECT_COLUMNS}, m.role FROM projects p
             LEFT JOIN memberships m ON m.org_id = p.org_id AND m.user_id = $2
             WHERE p.id = $1"
        ))
        .bind(id.as_str())
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await?;
        let role = row.try_get::<Option<String>, _>("role")?.map(|role| parse_role(&role)).transpose()?;
        Ok((project_from_row(&row)?, role))
    }

    /// One page of an org's projects in creation order.
    pub async fn list_projects(&self, org: &OrgId, filter: &ProjectFilter) -> Result<Page<Project>, StoreError> {
        let limit = filter.limit.clamp(1, 200);
        // The limit is inlined (it is a clamped integer) and the LIKE filter only appears
        // when there is one: SQLite re-prepares a statement on every run when a bound
        // parameter feeds LIKE or LIMIT, which made this hot query several times slower.
        let fetch = i64::from(limit) + 1;
        let after = filter.after.as_ref().map(ProjectId::as_str).unwrap_or("");
        let rows = match filter.query.as_deref().filter(|query| !query.is_empty()).map(like_pattern) {
            None => sqlx::query(sql!(
                "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.org_id = $1 AND p.id > $2 ORDER BY p.id LIMIT {fetch}"
            ))
            .bind(org.as_str())
            .bind(after)
            .fetch_all(&self.pool)
            .await?,
            Some(pattern) => {
                sqlx::query(sql!(
                    "SELECT {PROJECT_COLUMNS} FROM projects p
                     WHERE p.org_id = $1 AND p.id > $2
                       AND (LOWER(p.name) LIKE $3 ESCAPE '\\' OR p.slug LIKE $3 ESCAPE '\\'
                            OR LOWER(p.description) LIKE $3 ESCAPE '\\')
                     ORDER BY p.id LIMIT {fetch}"
                ))
                .bind(org.as_str())
                .bind(after)
                .bind(pattern)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut items = rows.iter().map(project_from_row).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|project| project.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn update_project(
        &self,
        id: &ProjectId,
        slug: &str,
        name: &str,
        description: &str,
    ) -> Result<Project, StoreError> {
        let row = sqlx::query(
            "UPDATE projects SET slug = $2, name = $3, description = $4, updated_at = $5 WHERE id = $1
             RETURNING id, org_id, slug, name, description, created_by, created_at, updated_at",
        )
        .bind(id.as_str())
        .bind(slug)
        .bind(name)
        .bind(description)
        .bind(millis(Utc::now()))
        .fetch_one(&self.pool)
        .await
        .map_err(slug_conflict)?;
        Ok(project_from_row(&row)?)
    }

    pub async fn delete_project(&self, id: &ProjectId) -> Result<(), StoreError> {
        let result = sqlx::query("DELETE FROM projects WHERE id = $1").bind(id.as_str()).execute(&self.pool).await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
