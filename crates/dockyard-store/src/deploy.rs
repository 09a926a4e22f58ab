//! Services, their env, and deployments.
//!
//! A deployment's status only moves through [`Store::transition_deployment`],
//! a compare-and-set on the current status: two workers (or a worker and a
//! cancel) can never both move the same deployment, and the step's timestamp
//! is written in the same statement.

use chrono::Utc;
use dockyard_domain::deploy::{Deployment, DeploymentStatus, DesiredState, EnvEntry, Service, ServiceSource};
use dockyard_domain::{DeploymentId, Project, ProjectId, Role, ServiceId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::projects::{PROJECT_WITH_ROLE, project_with_role};
use crate::{Store, StoreError, get_bool, get_opt_time, get_time, lease_expiry, millis};

const SERVICE_COLUMNS: &str = "s.id, s.project_id, s.name, s.source, s.build, s.port, s.health_check_path, \
     s.health_check_timeout_secs, s.replicas, s.cpu_millis, s.memory_bytes, s.desired_state, s.created_by, \
     s.created_at, s.updated_at";

const DEPLOYMENT_COLUMNS: &str = "d.id, d.service_id, d.project_id, d.number, d.status, d.trigger, d.source, \
     d.rollback_of, d.image, d.plan, d.job_id, d.created_by, d.created_at, d.building_at, d.starting_at, d.active_at, \
     d.finished_at, d.cancel_requested, d.error_code, d.error_message, d.last_log";

fn corrupt(what: &str, error: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: {error}").into())
}

fn service_from_row(row: &AnyRow) -> Result<Service, sqlx::Error> {
    let source: String = row.try_get("source")?;
    let build: String = row.try_get("build")?;
    let desired: String = row.try_get("desired_state")?;
    Ok(Service {
        id: ServiceId::from_trusted(row.try_get("id")?),
        project_id: ProjectId::from_trusted(row.try_get("project_id")?),
        name: row.try_get("name")?,
        source: serde_json::from_str(&source).map_err(|e| corrupt("services.source", e))?,
        build: serde_json::from_str(&build).map_err(|e| corrupt("services.build", e))?,
        port: u16::try_from(row.try_get::<i64, _>("port")?).map_err(|e| corrupt("services.port", e))?,
        health_check_path: row.try_get("health_check_path")?,
        health_check_timeout_secs: u32::try_from(row.try_get::<i64, _>("health_check_timeout_secs")?)
            .map_err(|e| corrupt("services.health_check_timeout_secs", e))?,
        replicas: u32::try_from(row.try_get::<i64, _>("replicas")?).map_err(|e| corrupt("services.replicas", e))?,
        cpu_millis: row
            .try_get::<Option<i64>, _>("cpu_millis")?
            .map(u32::try_from)
            .transpose()
            .map_err(|e| corrupt("services.cpu_millis", e))?,
        memory_bytes: row
            .try_get::<Option<i64>, _>("memory_bytes")?
            .map(u64::try_from)
            .transpose()
            .map_err(|e| corrupt("services.memory_bytes", e))?,
        env: Vec::new(),
        desired_state: DesiredState::parse(&desired).ok_or_else(|| corrupt("services.desired_state", &desired))?,
        created_by: row.try_get::<Option<String>, _>("created_by")?.map(UserId::from_trusted),
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

fn deployment_from_row(row: &AnyRow) -> Result<Deployment, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let source: String = row.try_get("source")?;
    let plan: Option<String> = row.try_get("plan")?;
    let last_log: Option<String> = row.try_get("last_log")?;
    Ok(Deployment {
        id: DeploymentId::from_trusted(row.try_get("id")?),
        service_id: ServiceId::from_trusted(row.try_get("service_id")?),
        project_id: ProjectId::from_trusted(row.try_get("project_id")?),
        number: u32::try_from(row.try_get::<i64, _>("number")?).map_err(|e| corrupt("deployments.number", e))?,
        status: DeploymentStatus::parse(&status).ok_or_else(|| corrupt("deployments.status", &status))?,
        trigger: row.try_get("trigger")?,
        source: serde_json::from_str(&source).map_err(|e| corrupt("deployments.source", e))?,
        rollback_of: row.try_get::<Option<String>, _>("rollback_of")?.map(DeploymentId::from_trusted),
        image: row.try_get("image")?,
        plan: plan.map(|plan| serde_json::from_str(&plan)).transpose().map_err(|e| corrupt("deployments.plan", e))?,
        job_id: row.try_get("job_id")?,
        created_by: row.try_get::<Option<String>, _>("created_by")?.map(UserId::from_trusted),
        created_at: get_time(row, "created_at")?,
        building_at: get_opt_time(row, "building_at")?,
        starting_at: get_opt_time(row, "starting_at")?,
        active_at: get_opt_time(row, "active_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
        cancel_requested: get_bool(row, "cancel_requested")?,
        error_code: row.try_get("error_code")?,
        error_message: row.try_get("error_message")?,
        last_log: last_log
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| corrupt("deployments.last_log", e))?
            .unwrap_or_default(),
    })
}

fn name_conflict(error: sqlx::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict("service_name".into()),
        other => other,
    }
}

/// A new deployment of a service.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub service_id: ServiceId,
    pub project_id: ProjectId,
    pub trigger: String,
    pub source: ServiceSource,
    pub rollback_of: Option<DeploymentId>,
    /// Known up front for image sources and rollbacks.
    pub image: Option<String>,
    pub created_by: Option<UserId>,
}

/// What a status change writes besides the status and its timestamp.
#[derive(Debug, Clone, Default)]
pub struct DeploymentFinish {
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub last_log: Option<Vec<String>>,
}

/// A service with what the proxy needs to route to it.
#[derive(Debug, Clone)]
pub struct RoutableService {
    pub service: Service,
    pub project_slug: String,
    /// The deployment serving now, if any.
    pub active: Option<DeploymentId>,
    /// The status of the newest deployment, if any.
    pub latest_status: Option<DeploymentStatus>,
}

fn status_list(statuses: &[DeploymentStatus]) -> String {
    statuses.iter().map(|status| format!("'{}'", status.as_str())).collect::<Vec<_>>().join(", ")
}

/// The column holding a status's timestamp, if it has one.
fn step_column(status: DeploymentStatus) -> Option<&'static str> {
    match status {
        DeploymentStatus::Building => Some("building_at"),
        DeploymentStatus::Starting => Some("starting_at"),
        DeploymentStatus::Active => Some("active_at"),
        DeploymentStatus::Superseded | DeploymentStatus::Failed | DeploymentStatus::Cancelled => Some("finished_at"),
        DeploymentStatus::Queued => None,
    }
}

impl Store {
    async fn load_env(&self, service: &mut Service) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT key, value, is_secret FROM service_env WHERE service_id = $1 ORDER BY position")
            .bind(service.id.as_str())
            .fetch_all(&self.pool)
            .await?;
        service.env = rows
            .iter()
            .map(|row| {
                Ok(EnvEntry {
                    key: row.try_get("key")?,
                    value: row.try_get("value")?,
                    secret: get_bool(row, "is_secret")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(())
    }

    /// Inserts a service and its env in one transaction. `Conflict("service_name")`
    /// when the project has a service of that name.
    pub async fn insert_service(&self, service: &Service) -> Result<Service, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO services (id, project_id, name, source, build, port, health_check_path,
                 health_check_timeout_secs, replicas, cpu_millis, memory_bytes, desired_state, created_by,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
        )
        .bind(service.id.as_str())
        .bind(service.project_id.as_str())
        .bind(service.name.as_str())
        .bind(json_text(&service.source)?)
        .bind(json_text(&service.build)?)
        .bind(i64::from(service.port))
        .bind(service.health_check_path.clone())
        .bind(i64::from(service.health_check_timeout_secs))
        .bind(i64::from(service.replicas))
        .bind(service.cpu_millis.map(i64::from))
        .bind(service.memory_bytes.map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX)))
        .bind(service.desired_state.as_str())
        .bind(service.created_by.as_ref().map(|id| id.as_str().to_owned()))
        .bind(millis(service.created_at))
        .execute(&mut *tx)
        .await
        .map_err(name_conflict)?;
        write_env(&mut tx, &service.id, &service.env).await?;
        tx.commit().await?;
        self.get_service(&service.id).await
    }

    pub async fn get_service(&self, id: &ServiceId) -> Result<Service, StoreError> {
        let row = sqlx::query(sql!("SELECT {SERVICE_COLUMNS} FROM services s WHERE s.id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        let mut service = service_from_row(&row)?;
        self.load_env(&mut service).await?;
        Ok(service)
    }

    /// A service with its project and `user`'s role in the project's org, in one round trip (plus the env).
    pub async fn get_service_for(
        &self,
        id: &ServiceId,
        user: &UserId,
    ) -> Result<(Service, Project, Option<Role>), StoreError> {
        let row = sqlx::query(sql!(
            "SELECT {SERVICE_COLUMNS}, {PROJECT_WITH_ROLE}
             FROM services s JOIN projects p ON p.id = s.project_id
             LEFT JOIN memberships m ON m.org_id = p.org_id AND m.user_id = $2
             WHERE s.id = $1"
        ))
        .bind(id.as_str())
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await?;
        let mut service = service_from_row(&row)?;
        let (project, role) = project_with_role(&row, service.project_id.clone())?;
        self.load_env(&mut service).await?;
        Ok((service, project, role))
    }

    /// A project's services by name.
    pub async fn list_services(&self, project: &ProjectId) -> Result<Vec<Service>, StoreError> {
        let rows =
            sqlx::query(sql!("SELECT {SERVICE_COLUMNS} FROM services s WHERE s.project_id = $1 ORDER BY s.name"))
                .bind(project.as_str())
                .fetch_all(&self.pool)
                .await?;
        let mut services = rows.iter().map(service_from_row).collect::<Result<Vec<_>, _>>()?;
        for service in &mut services {
            self.load_env(service).await?;
        }
        Ok(services)
    }

    /// Replaces a service's settings and env (the id, project and creation stay).
    pub async fn update_service(&self, service: &Service) -> Result<Service, StoreError> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE services SET name = $2, source = $3, build = $4, port = $5, health_check_path = $6,
                 health_check_timeout_secs = $7, replicas = $8, cpu_millis = $9, memory_bytes = $10,
                 desired_state = $11, updated_at = $12
             WHERE id = $1",
        )
        .bind(service.id.as_str())
        .bind(service.name.as_str())
        .bind(json_text(&service.source)?)
        .bind(json_text(&service.build)?)
        .bind(i64::from(service.port))
        .bind(service.health_check_path.clone())
        .bind(i64::from(service.health_check_timeout_secs))
        .bind(i64::from(service.replicas))
        .bind(service.cpu_millis.map(i64::from))
        .bind(service.memory_bytes.map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX)))
        .bind(service.desired_state.as_str())
        .bind(millis(Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(name_conflict)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM service_env WHERE service_id = $1")
            .bind(service.id.as_str())
            .execute(&mut *tx)
            .await?;
        write_env(&mut tx, &service.id, &service.env).await?;
        tx.commit().await?;
        self.get_service(&service.id).await
    }

    pub async fn set_service_desired_state(&self, id: &ServiceId, state: DesiredState) -> Result<(), StoreError> {
        sqlx::query("UPDATE services SET desired_state = $2, updated_at = $3 WHERE id = $1")
            .bind(id.as_str())
            .bind(state.as_str())
            .bind(millis(Utc::now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes the service's power lease (held while a stop, start or restart
    /// runs) for `owner` until `now + ttl`, unless another owner holds one
    /// that has not run out. `false` when another owner holds it; `NotFound`
    /// when the service does not exist.
    pub async fn claim_service_power(
        &self,
        id: &ServiceId,
        owner: &str,
        ttl: std::time::Duration,
        now: chrono::DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE services SET power_owner = $2, power_until = $3
             WHERE id = $1 AND (power_owner IS NULL OR power_until < $4)",
        )
        .bind(id.as_str())
        .bind(owner)
        .bind(lease_expiry(now, ttl))
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 1 {
            return Ok(true);
        }
        self.get_service(id).await.map(|_| false)
    }

    /// Extends `owner`'s power lease to `now + ttl`; `false` when it holds
    /// none (it ran out and another owner took it, or it was released).
    pub async fn renew_service_power(
        &self,
        id: &ServiceId,
        owner: &str,
        ttl: std::time::Duration,
        now: chrono::DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE services SET power_until = $3 WHERE id = $1 AND power_owner = $2")
            .bind(id.as_str())
            .bind(owner)
            .bind(lease_expiry(now, ttl))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives `owner`'s power lease up (nothing when it holds none).
    pub async fn release_service_power(&self, id: &ServiceId, owner: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE services SET power_owner = NULL, power_until = NULL WHERE id = $1 AND power_owner = $2")
            .bind(id.as_str())
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_service(&self, id: &ServiceId) -> Result<(), StoreError> {
        let result = sqlx::query("DELETE FROM services WHERE id = $1").bind(id.as_str()).execute(&self.pool).await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Inserts a queued deployment numbered one past the service's last.
    pub async fn insert_deployment(&self, new: &NewDeployment) -> Result<Deployment, StoreError> {
        // Two deploys at once may pick the same number: the unique index refuses
        // one of them, which then tries the next number.
        for _ in 0..5 {
            let result = sqlx::query(sql!(
                "INSERT INTO deployments (id, service_id, project_id, number, status, trigger, source, rollback_of,
                     image, created_by, created_at, cancel_requested)
                 SELECT $1, $2, $3, COALESCE(MAX(number), 0) + 1, 'queued', $4, $5, $6, $7, $8, $9, 0
                 FROM deployments WHERE service_id = $2
                 RETURNING id"
            ))
            .bind(DeploymentId::new().as_str())
            .bind(new.service_id.as_str())
            .bind(new.project_id.as_str())
            .bind(new.trigger.as_str())
            .bind(json_text(&new.source)?)
            .bind(new.rollback_of.as_ref().map(|id| id.as_str().to_owned()))
            .bind(new.image.clone())
            .bind(new.created_by.as_ref().map(|id| id.as_str().to_owned()))
            .bind(millis(Utc::now()))
            .fetch_one(&self.pool)
            .await;
            match result {
                Ok(row) => return self.get_deployment(&DeploymentId::from_trusted(row.try_get("id")?)).await,
                Err(error) => match StoreError::from(error) {
                    StoreError::Conflict(_) => continue,
                    other => return Err(other),
                },
            }
        }
        Err(StoreError::Conflict("deployment_number".into()))
    }

    pub async fn get_deployment(&self, id: &DeploymentId) -> Result<Deployment, StoreError> {
        let row = sqlx::query(sql!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(deployment_from_row(&row)?)
    }

    /// A service's deployments, newest first; `before` is a deployment number for paging.
    pub async fn list_deployments(
        &self,
        service: &ServiceId,
        before: Option<u32>,
        limit: u32,
    ) -> Result<Vec<Deployment>, StoreError> {
        let limit = limit.clamp(1, 200);
        let rows = sqlx::query(sql!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.service_id = $1 AND d.number < $2
             ORDER BY d.number DESC LIMIT {limit}"
        ))
        .bind(service.as_str())
        .bind(before.map(i64::from).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(deployment_from_row).collect::<Result<_, _>>()?)
    }

    /// Deployments in any of `statuses`, across the instance, oldest first.
    pub async fn deployments_with_status(&self, statuses: &[DeploymentStatus]) -> Result<Vec<Deployment>, StoreError> {
        let list = status_list(statuses);
        let rows = sqlx::query(sql!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.status IN ({list}) ORDER BY d.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(deployment_from_row).collect::<Result<_, _>>()?)
    }

    /// Moves a deployment from one of `from` to `to`, writing the step's time
    /// and `finish`. `None` when the deployment was not in one of `from` (someone
    /// else moved it first).
    pub async fn transition_deployment(
        &self,
        id: &DeploymentId,
        from: &[DeploymentStatus],
        to: DeploymentStatus,
        finish: &DeploymentFinish,
    ) -> Result<Option<Deployment>, StoreError> {
        let list = status_list(from);
        let step = step_column(to).map(|column| format!(", {column} = $3")).unwrap_or_default();
        let last_log = finish
            .last_log
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("last_log: {e}")))?;
        let row = sqlx::query(sql!(
            "UPDATE deployments SET status = $2{step},
                 error_code = COALESCE($4, error_code), error_message = COALESCE($5, error_message),
                 last_log = COALESCE($6, last_log)
             WHERE id = $1 AND status IN ({list})
             RETURNING id"
        ))
        .bind(id.as_str())
        .bind(to.as_str())
        .bind(millis(Utc::now()))
        .bind(finish.error_code.clone())
        .bind(finish.error_message.clone())
        .bind(last_log)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(_) => Ok(Some(self.get_deployment(id).await?)),
            None => Ok(None),
        }
    }

    /// Marks every other active deployment of the service superseded.
    pub async fn supersede_deployments(
        &self,
        service: &ServiceId,
        except: &DeploymentId,
    ) -> Result<Vec<DeploymentId>, StoreError> {
        let rows = sqlx::query(
            "UPDATE deployments SET status = 'superseded', finished_at = $3
             WHERE service_id = $1 AND status = 'active' AND id <> $2 RETURNING id",
        )
        .bind(service.as_str())
        .bind(except.as_str())
        .bind(millis(Utc::now()))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get::<String, _>("id").map(DeploymentId::from_trusted))
            .collect::<Result<_, _>>()?)
    }

    pub async fn set_deployment_build(
        &self,
        id: &DeploymentId,
        image: Option<&str>,
        plan: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let plan =
            plan.map(serde_json::to_string).transpose().map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
        sqlx::query("UPDATE deployments SET image = COALESCE($2, image), plan = COALESCE($3, plan) WHERE id = $1")
            .bind(id.as_str())
            .bind(image.map(str::to_owned))
            .bind(plan)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_deployment_job(&self, id: &DeploymentId, job: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE deployments SET job_id = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(job)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Flags an in-flight deployment for cancellation; answers whether it was in flight.
    pub async fn request_deployment_cancel(&self, id: &DeploymentId) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE deployments SET cancel_requested = 1 WHERE id = $1 AND status IN ('queued', 'building', 'starting')",
        )
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Every service with its project's slug, its active deployment and its newest deployment's status.
    pub async fn routable_services(&self) -> Result<Vec<RoutableService>, StoreError> {
        let rows = sqlx::query(sql!(
            "SELECT {SERVICE_COLUMNS}, p.slug AS project_slug,
                 (SELECT a.id FROM deployments a WHERE a.service_id = s.id AND a.status = 'active'
                  ORDER BY a.number DESC LIMIT 1) AS active_id,
                 (SELECT l.status FROM deployments l WHERE l.service_id = s.id ORDER BY l.number DESC LIMIT 1)
                  AS latest_status
             FROM services s JOIN projects p ON p.id = s.project_id ORDER BY s.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let latest: Option<String> = row.try_get("latest_status")?;
                Ok(RoutableService {
                    service: service_from_row(row)?,
                    project_slug: row.try_get("project_slug")?,
                    active: row.try_get::<Option<String>, _>("active_id")?.map(DeploymentId::from_trusted),
                    latest_status: latest.as_deref().and_then(DeploymentStatus::parse),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

async fn write_env(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    service: &ServiceId,
    env: &[EnvEntry],
) -> Result<(), StoreError> {
    for (position, entry) in env.iter().enumerate() {
        sqlx::query(
            "INSERT INTO service_env (service_id, position, key, value, is_secret) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(service.as_str())
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(entry.key.as_str())
        .bind(if entry.secret { None } else { entry.value.clone() })
        .bind(i64::from(entry.secret))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
