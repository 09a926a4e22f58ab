//! Domain services: the use cases of accounts, orgs, projects, jobs and secrets. Each one
//! authorizes through `dockyard_domain::authorize`, validates its input, calls
//! the store and records an audit event where it matters.
//!
//! API Boundary: callers pass an [`Actor`](dockyard_domain::Actor) and a
//! [`RequestContext`]; they get domain records or a [`ServiceError`]. Nothing
//! here knows about HTTP.

mod accounts;
pub mod agents;
pub mod assistant;
mod audit;
pub mod backup;
pub mod bus;
mod crypto;
pub mod deploy;
mod error;
mod export;
mod file_index;
mod files;
mod git;
mod import;
mod job_kinds;
mod jobs;
mod orgs;
mod preferences;
mod projects;
mod search;
mod secrets;
mod terminals;
#[cfg(test)]
mod testing;
mod throttle;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dockyard_store::Store;

pub use accounts::{Authenticated, NewSession, NewToken, SESSION_TOKEN_BYTES, TOKEN_PREFIX};
pub use bus::{Bus, InProcessBus, PostgresBus};
pub use crypto::{KeyId, KeySource, Keyring, KeyringError, OpenError, SecretKey};
pub use dockyard_workspace::export::ExportFormat;
pub use error::ServiceError;
pub use export::ExportStream;
pub use git::GitCredentialInfo;
pub use import::{ImportInto, ImportSource, ImportStarted, ImportTarget, StagedUpload};
pub use jobs::{
    JOBS_TOPIC, JobContext, JobEvent, JobFailure, JobFollower, JobRecord, JobState, JobStreamItem, JobsConfig, NewJob,
    job_topic,
};
pub use orgs::{MemberChange, OrgUpdate};
pub use preferences::{
    Autosave, EditorSettings, MAX_COMMAND_ID_CHARS, MAX_KEY_CHARS, MAX_KEYBINDINGS, MAX_LAYOUT_BYTES, SETTING_NAMES,
    Theme,
};
pub use projects::{NewProject, ProjectUpdate};
pub use search::{ReplaceResult, ReplaceSpec, SearchEvent};
pub use secrets::{RotationReport, SecretScope};
pub use terminals::{
    MAX_TERMINAL_DIMENSION, Replay, TerminalAttachment, TerminalConfig, TerminalConnection, TerminalEvent,
    TerminalInfo, TerminalInput, TerminalOutput,
};
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
    pub jobs: JobsConfig,
    pub outbound: OutboundConfig,
    pub terminal: TerminalConfig,
    pub agents: agents::AgentsConfig,
}

/// What requests made for users (git clones, fetches and pushes) may reach.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Allow loopback, private and link-local addresses (SSRF guard off). For
    /// instances whose git server is on the local network, and for tests.
    pub allow_private_networks: bool,
    /// Allow plain `http://` git URLs.
    pub allow_http: bool,
    /// Extra CA certificates (PEM) trusted for git over https.
    pub extra_ca_file: Option<PathBuf>,
    /// How long one git network operation may take.
    pub git_timeout: Duration,
    /// The git CLI used for network operations.
    pub git_binary: PathBuf,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allow_http: false,
            extra_ca_file: None,
            git_timeout: Duration::from_secs(600),
            git_binary: PathBuf::from("git"),
        }
    }
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
            jobs: JobsConfig::default(),
            outbound: OutboundConfig::default(),
            terminal: TerminalConfig::default(),
            agents: agents::AgentsConfig::default(),
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
    bus: Arc<dyn Bus>,
    keyring: Keyring,
    terminals: terminals::Terminals,
    /// The container engine and the proxy's routes, once `serve` enabled deploys.
    deploy: deploy::EngineSlot,
    agent_breakers: agents::breaker::Breakers,
    /// Cancelled when this replica stops: running agent sessions are stopped.
    agents_shutdown: dockyard_runtime::CancellationToken,
}

impl Services {
    /// Services with an in-process bus and a fresh random secrets key: for tests
    /// and for commands that neither publish across processes nor read secrets.
    pub fn new(store: Store, config: ServiceConfig) -> Self {
        let keyring = Keyring::generate().expect("the operating system's random number generator works");
        Self::with_infrastructure(store, config, Arc::new(InProcessBus::new()), keyring)
    }

    /// Services with the bus and the keyring `serve` chose (a [`PostgresBus`] on
    /// PostgreSQL; the keys from the config).
    pub fn with_infrastructure(store: Store, config: ServiceConfig, bus: Arc<dyn Bus>, keyring: Keyring) -> Self {
        let account_failures = FailureThrottle::new(config.login_max_failures_per_account, config.login_failure_window);
        let ip_failures = FailureThrottle::new(config.login_max_failures_per_ip, config.login_failure_window);
        let workspaces = Workspaces::new(config.workspace_root.clone(), config.workspace_quotas);
        let (agent_breaker_failures, agent_breaker_cooldown) =
            (config.agents.breaker_failures, config.agents.breaker_cooldown);
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                account_failures,
                ip_failures,
                dummy_hash: tokio::sync::OnceCell::new(),
                workspaces,
                bus,
                keyring,
                terminals: terminals::Terminals::new(),
                deploy: deploy::EngineSlot::new(),
                agent_breakers: agents::breaker::Breakers::new(agent_breaker_failures, agent_breaker_cooldown),
                agents_shutdown: dockyard_runtime::CancellationToken::new(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The event bus between the parts of Dockyard (and its replicas).
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.inner.bus
    }
}
