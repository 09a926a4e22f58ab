//! Versioned, forward-only migrations, embedded in the binary, one set per backend.
//!
//! Architecture Invariant: a migration file is never edited once released; a
//! change is a new file with the next number, added to both sets.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Row, SqlSafeStr};

use crate::{Dialect, Store, StoreError};

struct Embedded {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Embedded] = &[
    Embedded {
        version: 1,
        description: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Embedded {
        version: 2,
        description: "project list index",
        sqlite: include_str!("../migrations/sqlite/0002_project_list_index.sql"),
        postgres: include_str!("../migrations/postgres/0002_project_list_index.sql"),
    },
    Embedded {
        version: 3,
        description: "jobs and secrets",
        sqlite: include_str!("../migrations/sqlite/0003_jobs_and_secrets.sql"),
        postgres: include_str!("../migrations/postgres/0003_jobs_and_secrets.sql"),
    },
    Embedded {
        version: 4,
        description: "user preferences",
        sqlite: include_str!("../migrations/sqlite/0004_user_preferences.sql"),
        postgres: include_str!("../migrations/postgres/0004_user_preferences.sql"),
    },
    Embedded {
        version: 5,
        description: "deploy",
        sqlite: include_str!("../migrations/sqlite/0005_deploy.sql"),
        postgres: include_str!("../migrations/postgres/0005_deploy.sql"),
    },
    Embedded {
        version: 6,
        description: "agents",
        sqlite: include_str!("../migrations/sqlite/0006_agents.sql"),
        postgres: include_str!("../migrations/postgres/0006_agents.sql"),
    },
    Embedded {
        version: 7,
        description: "assistant",
        sqlite: include_str!("../migrations/sqlite/0007_assistant.sql"),
        postgres: include_str!("../migrations/postgres/0007_assistant.sql"),
    },
    Embedded {
        version: 8,
        description: "agent profile isolation",
        sqlite: include_str!("../migrations/sqlite/0008_agent_profile_isolation.sql"),
        postgres: include_str!("../migrations/postgres/0008_agent_profile_isolation.sql"),
    },
    Embedded {
        version: 9,
        description: "service power lease",
        sqlite: include_str!("../migrations/sqlite/0009_service_power_lease.sql"),
        postgres: include_str!("../migrations/postgres/0009_service_power_lease.sql"),
    },
];

fn migrator(dialect: Dialect) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|embedded| {
            let sql = match dialect {
                Dialect::Sqlite => embedded.sqlite,
                Dialect::Postgres => embedded.postgres,
            };
            Migration::new(
                embedded.version,
                Cow::Borrowed(embedded.description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

impl Store {
    /// Applies every migration not yet applied. Safe to run concurrently from
    /// several processes: the backends' migration lock serialises them.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrator(self.dialect).run(&self.pool).await.map_err(|error| StoreError::Migration(error.to_string()))
    }

    /// The newest migration version this binary knows.
    pub fn latest_migration() -> i64 {
        MIGRATIONS.iter().map(|migration| migration.version).max().unwrap_or(0)
    }

    /// The newest migration applied to the database, or `None` on an empty one.
    pub async fn applied_migration(&self) -> Result<Option<i64>, StoreError> {
        let result =
            sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await;
        match result {
            Ok(row) => Ok(row.map(|row| row.try_get::<i64, _>(0)).transpose()?),
            // No migrations table yet: nothing applied.
            Err(sqlx::Error::Database(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// True when the database is reachable and fully migrated.
    pub async fn is_ready(&self) -> bool {
        matches!(self.applied_migration().await, Ok(Some(version)) if version >= Self::latest_migration())
    }
}
