//! Domain services: the use cases of accounts, orgs and projects. Each one
//! authorizes through `dockyard_domain::authorize`, validates its input, calls
//! the store and records an audit event where it matters.
//!
//! API Boundary: callers pass an [`Actor`](dockyard_domain::Actor) and a
//! [`RequestContext`]; they get domain records or a [`ServiceError`]. Nothing
//! here knows about HTTP.

mod accounts;
mod audit;
pub mod backup;
mod crypto;
mod error;
mod files;
mod orgs;
mod projects;
mod search;
mod throttle;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dockyard_store::Store;

pub use accounts::{Authenticated, NewSession, NewToken, SESSION_TOKEN_BYTES, TOKEN_PREFIX};
pub use error::ServiceError;
pub use orgs::{MemberChange, OrgUpdate};
pub use projects::{NewProject, ProjectUpdate};
pub use search::{ReplaceResult, ReplaceSpec, SearchEvent};
pub use throttle::FailureThrottle;

use crate::files::Workspaces;

/// Who made a request and from where, for sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Tunables of the services, filled from the server config.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub session_ttl: Duration,
    pub login_max_failures_per_account: u32,
    pub login_max_failures_per_ip: u32,
    pub login_failure_window: Duration,
    /// Where project workspaces live (`<data dir>/workspaces`).
    pub workspace_root: PathBuf,
    pub workspace_quotas: dockyard_workspace::Quotas,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            login_max_failures_per_account: 5,
            login_max_failures_per_ip: 20,
            login_failure_window: Duration::from_secs(15 * 60),
            workspace_root: PathBuf::from("./data/workspaces"),
            workspace_quotas: dockyard_workspace::Quotas::default(),
        }
    }
}

/// Every service, sharing one store. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ServiceConfig,
    account_failures: FailureThrottle,
    ip_failures: FailureThrottle,
    dummy_hash: tokio::sync::OnceCell<String>,
    workspaces: Workspaces,
}

impl Services {
    pub fn new(store: Store, config: ServiceConfig) -> Self {
        let account_failures = FailureThrottle::new(config.login_max_failures_per_account, config.login_failure_window);
        let ip_failures = FailureThrottle::new(config.login_max_failures_per_ip, config.login_failure_window);
        let workspaces = Workspaces::new(config.workspace_root.clone(), config.workspace_quotas);
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                account_failures,
                ip_failures,
                dummy_hash: tokio::sync::OnceCell::new(),
                workspaces,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}
