//! Logical, backend-neutral backups of the database.
//!
//! A dump is one JSON-lines file per table, read inside a single read-only
//! snapshot transaction, so it is consistent while the server keeps writing.
//! Because the format does not depend on the backend, a SQLite backup restores
//! into PostgreSQL and the other way round: that is the migration path from the
//! embedded default to a scaled-out setup.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{Any, Column, Row, Transaction, ValueRef};

use crate::{Dialect, Store, StoreError};

/// Every table that holds Dockyard data, parents before children, so that
/// restoring in this order satisfies the foreign keys.
///
/// Architecture Invariant: a migration that adds a table adds it here too;
/// [`Store::dump`] refuses to run while a table is missing from this list.
/// Secrets are dumped as stored: encrypted, with their key ids.
pub const BACKUP_TABLES: &[&str] = &[
    "users",
    "orgs",
    "memberships",
    "sessions",
    "api_tokens",
    "projects",
    "audit_events",
    "settings",
    "jobs",
    "job_events",
    "secrets",
    "user_settings",
    "project_layouts",
    "services",
    "service_env",
    "deployments",
    "agent_profiles",
    "agent_sessions",
    "assistant_org_settings",
    "assistant_usage",
];

/// Describes a dump; stored as `manifest.json` beside the table files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupManifest {
    pub format_version: u32,
    pub created_at: DateTime<Utc>,
    pub source_dialect: String,
    pub schema_version: i64,
    pub tables: Vec<TableDump>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableDump {
    pub name: String,
    pub rows: u64,
}

const FORMAT_VERSION: u32 = 1;

impl Store {
    /// Writes every table into `dir/<table>.jsonl` from one consistent snapshot.
    pub async fn dump(&self, dir: &Path) -> Result<BackupManifest, StoreError> {
        let schema_version =
            self.applied_migration().await?.ok_or_else(|| StoreError::Backup("database is not migrated".into()))?;
        let unknown: Vec<String> =
            self.list_tables().await?.into_iter().filter(|table| !BACKUP_TABLES.contains(&table.as_str())).collect();
        if !unknown.is_empty() {
            return Err(StoreError::Backup(format!("tables not covered by backups: {}", unknown.join(", "))));
        }
        std::fs::create_dir_all(dir)?;
        let mut tx = self.pool.begin().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        }
        let mut tables = Vec::with_capacity(BACKUP_TABLES.len());
        for table in BACKUP_TABLES {
            let rows = dump_table(&mut tx, table, &dir.join(format!("{table}.jsonl"))).await?;
            tables.push(TableDump { name: (*table).to_owned(), rows });
        }
        tx.commit().await?;
        Ok(BackupManifest {
            format_version: FORMAT_VERSION,
            created_at: Utc::now(),
            source_dialect: self.dialect.name().to_owned(),
            schema_version,
            tables,
        })
    }

    /// Loads a dump written by [`Store::dump`] into this (migrated) database, in one
    /// transaction: either every row lands or none does. With `replace`, existing
    /// data is deleted first; without it, the database must be empty.
    pub async fn load(&self, dir: &Path, manifest: &BackupManifest, replace: bool) -> Result<u64, StoreError> {
        if manifest.format_version != FORMAT_VERSION {
            return Err(StoreError::Backup(format!("unsupported backup format {}", manifest.format_version)));
        }
        let schema_version = self.applied_migration().await?.unwrap_or(0);
        if manifest.schema_version != schema_version {
            return Err(StoreError::Backup(format!(
                "backup has schema version {} but this database has {schema_version}; restore with the matching Dockyard version",
                manifest.schema_version
            )));
        }
        let mut tx = self.pool.begin().await?;
        if !replace {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&mut *tx).await?;
            if row.try_get::<i64, _>("n")? > 0 {
                return Err(StoreError::Backup(
                    "the database is not empty; pass --force to replace its contents".into(),
                ));
            }
        }
        for table in BACKUP_TABLES.iter().rev() {
            sqlx::query(sql!("DELETE FROM {table}")).execute(&mut *tx).await?;
        }
        let mut total = 0;
        for table in BACKUP_TABLES {
            let path = dir.join(format!("{table}.jsonl"));
            if !path.exists() {
                continue;
            }
            let columns = self.table_columns(&mut tx, table).await?;
            total += load_table(&mut tx, table, &columns, &path).await?;
        }
        tx.commit().await?;
        Ok(total)
    }

    async fn list_tables(&self) -> Result<Vec<String>, StoreError> {
        let statement = match self.dialect {
            Dialect::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
            }
            Dialect::Postgres => {
                "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'"
            }
        };
        let rows = sqlx::query(statement).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|row| row.try_get::<String, _>("name")).collect::<Result<_, _>>()?)
    }

    /// The table's columns, each with whether it is a boolean on this backend.
    async fn table_columns(
        &self,
        tx: &mut Transaction<'static, Any>,
        table: &str,
    ) -> Result<Vec<(String, bool)>, StoreError> {
        let statement = match self.dialect {
            Dialect::Sqlite => format!("SELECT name, 'integer' AS data_type FROM pragma_table_info('{table}')"),
            Dialect::Postgres => format!(
                "SELECT CAST(column_name AS TEXT) AS name, CAST(data_type AS TEXT) AS data_type FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(statement)).fetch_all(&mut **tx).await?;
        rows.iter()
            .map(|row| Ok((row.try_get::<String, _>("name")?, row.try_get::<String, _>("data_type")? == "boolean")))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

async fn dump_table(tx: &mut Transaction<'static, Any>, table: &str, path: &Path) -> Result<u64, StoreError> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut n_rows = 0;
    let mut rows = sqlx::query(sql!("SELECT * FROM {table}")).fetch(&mut **tx);
    while let Some(row) = rows.try_next().await? {
        let object = row_to_json(&row)?;
        serde_json::to_writer(&mut out, &object).map_err(|error| StoreError::Backup(error.to_string()))?;
        out.write_all(b"\n")?;
        n_rows += 1;
    }
    out.flush()?;
    out.into_inner().map_err(|error| error.into_error())?.sync_all()?;
    Ok(n_rows)
}

fn row_to_json(row: &AnyRow) -> Result<Map<String, Value>, StoreError> {
    let mut object = Map::new();
    for (index, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(index)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().kind() {
                AnyTypeInfoKind::Bool => Value::Bool(row.try_get(index)?),
                AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
                    Value::from(row.try_get::<i64, _>(index)?)
                }
                AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => Value::from(row.try_get::<f64, _>(index)?),
                AnyTypeInfoKind::Text => Value::String(row.try_get(index)?),
                AnyTypeInfoKind::Blob => {
                    let bytes: Vec<u8> = row.try_get(index)?;
                    serde_json::json!({ "$base64": STANDARD.encode(bytes) })
                }
                AnyTypeInfoKind::Null => Value::Null,
            }
        };
        object.insert(column.name().to_owned(), value);
    }
    Ok(object)
}

async fn load_table(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    columns: &[(String, bool)],
    path: &Path,
) -> Result<u64, StoreError> {
    let reader = BufReader::new(File::open(path)?);
    let mut n_rows = 0;
    for (line_number, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let object: BTreeMap<String, Value> = serde_json::from_str(&line)
            .map_err(|error| StoreError::Backup(format!("{table}.jsonl line {}: {error}", line_number + 1)))?;
        // Only the table's real columns are used, so a tampered file cannot inject names.
        let column = |name: &str| columns.iter().find(|(column, _)| column == name);
        if let Some(unknown) = object.keys().find(|name| column(name).is_none()) {
            return Err(StoreError::Backup(format!(
                "{table}.jsonl line {}: unknown column {unknown:?}",
                line_number + 1
            )));
        }
        // NULLs are left to the column default (which is NULL for every nullable
        // column); binding them would need the column's type on PostgreSQL.
        let names: Vec<&String> = object.iter().filter(|(_, value)| !value.is_null()).map(|(name, _)| name).collect();
        if names.is_empty() {
            return Err(StoreError::Backup(format!("{table}.jsonl line {}: the row has no values", line_number + 1)));
        }
        let placeholders: Vec<String> = (1..=names.len()).map(|n| format!("${n}")).collect();
        let statement = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.iter().map(|name| name.as_str()).collect::<Vec<_>>().join(", "),
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(statement));
        for name in &names {
            query = match &object[*name] {
                Value::Bool(value) => query.bind(*value),
                // A SQLite flag (0/1) restored into a PostgreSQL BOOLEAN column.
                Value::Number(number) if column(name).is_some_and(|(_, boolean)| *boolean) => {
                    query.bind(number.as_i64().unwrap_or(0) != 0)
                }
                Value::Number(number) if number.is_i64() => query.bind(number.as_i64()),
                Value::Number(number) => query.bind(number.as_f64()),
                Value::String(text) => query.bind(text.clone()),
                Value::Object(map) if map.len() == 1 && map.contains_key("$base64") => {
                    let encoded = map["$base64"].as_str().unwrap_or_default();
                    let bytes = STANDARD.decode(encoded).map_err(|error| StoreError::Backup(error.to_string()))?;
                    query.bind(bytes)
                }
                other => return Err(StoreError::Backup(format!("{table}.{name}: unsupported value {other}"))),
            };
        }
        query.execute(&mut **tx).await?;
        n_rows += 1;
    }
    Ok(n_rows)
}
