//! Test fixtures: fresh, migrated databases on the backend the environment
//! selects (SQLite by default; PostgreSQL with `DOCKYARD_TEST_DATABASE_URL`,
//! each fixture in a new database that is dropped afterwards).

use std::path::PathBuf;

use dockyard_domain::SecretId;
use dockyard_store::{PoolSettings, Store};

use crate::{ServiceConfig, Services};

/// A PostgreSQL database of its own, dropped with this guard.
pub(crate) struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut connection) = sqlx::PgConnection::connect(&admin_url).await {
                    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut connection).await;
                }
            });
        })
        .join();
    }
}

fn admin_url() -> Option<String> {
    let url = std::env::var("DOCKYARD_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty());
    if url.is_none() && std::env::var("DOCKYARD_TEST_BACKEND").as_deref() == Ok("postgres") {
        panic!("DOCKYARD_TEST_BACKEND=postgres but DOCKYARD_TEST_DATABASE_URL is not set");
    }
    url
}

/// A new PostgreSQL database, when the environment names a server.
pub(crate) async fn postgres_database() -> Option<TestDatabase> {
    use sqlx::Connection;
    let admin_url = admin_url()?;
    let name = format!("dy_svc_{}", SecretId::new());
    let mut connection = sqlx::PgConnection::connect(&admin_url).await.expect("connect to PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("create a database");
    let (prefix, _) = admin_url.rsplit_once('/').expect("the admin URL ends in /database");
    Some(TestDatabase { url: format!("{prefix}/{name}"), admin_url, name })
}

/// Services over a fresh, migrated database.
pub(crate) struct Fixture {
    pub services: Services,
    pub url: String,
    dir: PathBuf,
    _database: Option<TestDatabase>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fixture {
    /// Runs a statement outside the store (to tamper with rows).
    pub async fn execute(&self, statement: &str) {
        use sqlx::Connection;
        let mut connection = sqlx::AnyConnection::connect(&self.url).await.expect("connect");
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned())).execute(&mut connection).await.expect("statement");
    }
}

pub(crate) async fn fixture() -> Fixture {
    fixture_with(ServiceConfig::default()).await
}

pub(crate) async fn fixture_with(config: ServiceConfig) -> Fixture {
    let dir = std::env::temp_dir().join(format!("dockyard-services-{}", SecretId::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = postgres_database().await;
    let url = match &database {
        Some(database) => database.url.clone(),
        None => format!("sqlite://{}?mode=rwc", dir.join("dockyard.db").display()),
    };
    let store = Store::connect(&url, &PoolSettings::default()).await.expect("connect");
    store.migrate().await.expect("migrate");
    let config = ServiceConfig { workspace_root: dir.join("workspaces"), ..config };
    Fixture { services: Services::new(store, config), url, dir, _database: database }
}
