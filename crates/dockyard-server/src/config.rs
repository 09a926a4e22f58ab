//! The one configuration struct, built in layers: built-in defaults, then a
//! TOML file (`--config` / `DOCKYARD_CONFIG`), then `DOCKYARD_*` environment
//! variables (`__` separates nesting: `DOCKYARD_HTTP__REQUEST_TIMEOUT_SECS`),
//! then command-line flags. Every value is validated at start and an error
//! names the key it is about.
//!
//! Architecture Invariant: only `main` reads the process environment; it hands
//! the variables to [`Config::load`] as a list.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

/// Everything `dockyard serve` and the other commands can be told.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where Dockyard keeps its SQLite database, workspaces and keys.
    pub data_dir: PathBuf,
    /// The API and web app listener.
    pub listen: SocketAddr,
    /// `postgres://…` selects PostgreSQL; unset means SQLite in the data dir.
    pub database_url: Option<DatabaseUrl>,
    /// The URL people open, e.g. `https://dockyard.example.com`. Used for the
    /// printed link, the CSRF origin check and the `Secure` cookie flag.
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `dockyard=debug,info`.
    pub log_level: String,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub rate_limit: RateLimitConfig,
    pub auth: AuthConfig,
    pub metrics: MetricsConfig,
    pub workspace: WorkspaceConfig,
    pub jobs: JobsConfig,
    pub secrets: SecretsConfig,
    pub outbound: OutboundConfig,
    pub terminal: TerminalConfig,
    /// The reverse proxy for deployed services (`DOCKYARD_PROXY_LISTEN`).
    pub proxy_listen: SocketAddr,
    /// The proxy's worker threads, each with its own single-threaded runtime
    /// and upstream pool (`DOCKYARD_PROXY_THREADS`); 0, the default, means one
    /// per core.
    pub proxy_threads: usize,
    /// A proxy client connection with no request in progress (an unfinished
    /// request head, an idle keep-alive) is closed 1 to 1.5 times this long
    /// after its last activity (`DOCKYARD_PROXY_HEADER_TIMEOUT_SECONDS`).
    pub proxy_header_timeout_seconds: u64,
    /// How long a backend may take to send its response headers once the
    /// request was sent: 504 `upstream_timeout` after, 1 to 1.25 times this
    /// long over HTTP/1.1 (`DOCKYARD_PROXY_RESPONSE_TIMEOUT_SECONDS`).
    /// Response bodies stream with no limit.
    pub proxy_response_timeout_seconds: u64,
    /// Services get `{service}-{project}.{base_domain}` (`DOCKYARD_BASE_DOMAIN`);
    /// the default `localhost` makes `*.localhost` work on the machine itself.
    pub base_domain: String,
    pub deploy: DeployConfig,
    pub assistant: AssistantConfig,
    pub agents: AgentsConfig,
}

/// Remote coding agents (`[agents]`; profiles also come from the API).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// Sessions this replica runs at once (more wait queued).
    pub max_running: usize,
    /// Sessions one user may start per hour (0: no limit).
    pub sessions_per_hour: u32,
    /// Consecutive start failures or early crashes that open a profile's circuit breaker.
    pub breaker_failures: u32,
    pub breaker_cooldown_seconds: u64,
    /// A non-zero exit within this many seconds of the start counts as a crash.
    pub early_exit_seconds: u64,
    /// From stop (SIGTERM, or the agent's own cancel) to SIGKILL.
    pub stop_grace_seconds: u64,
    /// `HOME` for agents (where their own config and credentials live); default: the session's folder.
    pub home: Option<PathBuf>,
    /// Profiles defined in the config file (`[[agents.profiles]]`), created or updated by name at start.
    pub profiles: Vec<AgentProfileConfig>,
}

/// One `[[agents.profiles]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfileConfig {
    pub name: String,
    /// `claude-code`, `acp` or `pty`.
    pub kind: String,
    /// The argv; `{prompt}` is replaced by the prompt (else it goes to standard input).
    pub command: Vec<String>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The working mode: `worktree` (default) or `workspace`.
    pub isolation: Option<String>,
    pub max_runtime_secs: Option<i64>,
    pub max_per_user: Option<i64>,
    pub max_per_org: Option<i64>,
    pub enabled: Option<bool>,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            max_running: 8,
            sessions_per_hour: 60,
            breaker_failures: 3,
            breaker_cooldown_seconds: 60,
            early_exit_seconds: 5,
            stop_grace_seconds: 5,
            home: None,
            profiles: Vec::new(),
        }
    }
}

impl AgentProfileConfig {
    pub fn to_input(&self) -> dockyard_services::agents::ProfileInput {
        dockyard_services::agents::ProfileInput {
            name: Some(self.name.clone()),
            kind: Some(self.kind.clone()),
            command: Some(self.command.clone()),
            env: Some(self.env.clone()),
            isolation: self.isolation.clone(),
            max_runtime_secs: self.max_runtime_secs,
            max_per_user: self.max_per_user,
            max_per_org: self.max_per_org,
            enabled: self.enabled,
        }
    }
}

/// The built-in assistant's default endpoint (any OpenAI-compatible
/// `/v1/chat/completions`: OpenAI, a gateway, Ollama, vLLM, llama.cpp's server)
/// and its limits. Orgs may set their own endpoint through the API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssistantConfig {
    /// The API base, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`
    /// (the admin's choice: private addresses are fine here). Unset: no instance
    /// endpoint, so only orgs that set their own have an assistant.
    pub base_url: Option<String>,
    /// The model asked for, e.g. `gpt-4o-mini` or `qwen2.5-coder:7b`.
    pub model: Option<String>,
    /// Sent as `Authorization: Bearer …`; never printed (`DOCKYARD_ASSISTANT__API_KEY`
    /// or `DOCKYARD_ASSISTANT__API_KEY_FILE`).
    pub api_key: Option<SecretString>,
    /// How long to wait for an answer to start and between pieces of a streamed
    /// one; a completion must be whole within it. Also bounded by
    /// `http.request_timeout_secs` (less a second) until the answer starts.
    pub timeout_seconds: u64,
    /// Tokens each user may spend per UTC day; 0 means unlimited.
    pub daily_token_budget: u64,
    /// Completions remembered in memory (identical requests are answered from
    /// it); 0 turns the cache off.
    pub cache_entries: u64,
    /// Consecutive failures after which an endpoint is left alone for
    /// `breaker_cooldown_seconds` (requests fail fast with 503); 0 turns this off.
    pub breaker_failures: u32,
    pub breaker_cooldown_seconds: u64,
}

impl Default for AssistantConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: None,
            api_key: None,
            timeout_seconds: 60,
            daily_token_budget: 200_000,
            cache_entries: 1000,
            breaker_failures: 5,
            breaker_cooldown_seconds: 30,
        }
    }
}

/// Click-to-deploy: the container engine, builds and deployments.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeployConfig {
    /// `auto` (the default) turns deploys on when a Docker engine answers at
    /// start; `on` refuses to start without one; `off` never connects.
    pub engine: EngineMode,
    /// The Docker endpoint, e.g. `unix:///var/run/docker.sock` (default: `DOCKER_HOST`, else that socket).
    pub docker_host: Option<String>,
    /// Tells this Dockyard's containers from another's on a shared engine.
    pub instance_id: String,
    /// How users reach the proxy: the scheme and port put in service URLs
    /// (default: http and the proxy listener's port).
    pub public_scheme: String,
    pub public_port: Option<u16>,
    /// Base images of generated Dockerfiles; point them at local images when air-gapped
    /// (see `scripts/base-images.sh`).
    pub images: DeployImages,
    /// A PEM bundle given to builds of generated Dockerfiles and mounted into every
    /// container (`SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`, …), for TLS-intercepting proxies.
    pub extra_ca_file: Option<PathBuf>,
    pub build_concurrency: usize,
    pub build_timeout_seconds: u64,
    pub max_context_bytes: u64,
    /// How long old instances may finish their requests after a switch.
    pub drain_seconds: u64,
    /// SIGTERM to SIGKILL when stopping instances.
    pub stop_grace_seconds: u64,
    /// How often live instances of services with a health-check path are probed
    /// after go-live (0: never); `health_failures` failures in a row take an
    /// instance out of the proxy until it answers 2xx again.
    pub health_interval_ms: u64,
    pub health_failures: u32,
    /// Built images kept per service for rollback: those of its newest this many
    /// deployments that went live. Older ones, and those of deployments that
    /// never went live, are removed after each deployment (0: keep every image).
    pub keep_images: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineMode {
    Auto,
    On,
    Off,
}

/// Base images for generated Dockerfiles, one per stack.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeployImages {
    pub static_site: String,
    pub node: String,
    pub python: String,
    pub go: String,
    pub rust: String,
    /// The final stage of compiled stacks (Go, Rust).
    pub runtime: String,
}

impl DeployImages {
    /// The images as the stack detector takes them.
    pub fn to_base_images(&self) -> dockyard_runtime::plan::BaseImages {
        dockyard_runtime::plan::BaseImages {
            static_site: self.static_site.clone(),
            node: self.node.clone(),
            python: self.python.clone(),
            go: self.go.clone(),
            rust: self.rust.clone(),
            runtime: self.runtime.clone(),
        }
    }
}

impl Default for DeployImages {
    fn default() -> Self {
        let images = dockyard_runtime::plan::BaseImages::default();
        Self {
            static_site: images.static_site,
            node: images.node,
            python: images.python,
            go: images.go,
            rust: images.rust,
            runtime: images.runtime,
        }
    }
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            engine: EngineMode::Auto,
            docker_host: None,
            instance_id: "default".into(),
            public_scheme: "http".into(),
            public_port: None,
            images: DeployImages::default(),
            extra_ca_file: None,
            build_concurrency: 2,
            build_timeout_seconds: 30 * 60,
            max_context_bytes: 2 * 1024 * 1024 * 1024,
            drain_seconds: 10,
            stop_grace_seconds: 10,
            health_interval_ms: 10_000,
            health_failures: 3,
            keep_images: 10,
        }
    }
}

/// Terminals in the browser IDE: shells on the host, as the user running Dockyard.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerminalConfig {
    /// The shell terminals start (an absolute path). Unset: `$SHELL` of the
    /// process running Dockyard, else `/bin/bash` when it exists, else `/bin/sh`.
    pub shell: Option<PathBuf>,
    /// A terminal with no attached client and no input for this long is closed.
    pub idle_timeout_seconds: u64,
    /// How much recent output each terminal keeps for clients that reconnect.
    pub scrollback_bytes: u64,
    /// Open terminals per project.
    pub max_per_project: u64,
    /// Simultaneous terminal WebSocket connections per user.
    pub max_connections_per_user: u64,
    /// What `main` read from the environment at start for the shell's own
    /// environment (`PATH`, `HOME`, `USER`); never configured, never printed.
    #[serde(skip)]
    pub host: HostUser,
}

/// The parts of the server's environment that a terminal's shell gets; the
/// rest of it (which may hold `DOCKYARD_*` secrets) never reaches a shell.
#[derive(Debug, Clone, Default)]
pub struct HostUser {
    pub shell: Option<PathBuf>,
    pub path: Option<String>,
    pub home: Option<PathBuf>,
    pub user: Option<String>,
}

impl HostUser {
    fn from_env(env: &[(String, String)]) -> Self {
        let var = |name: &str| {
            env.iter().find(|(key, value)| key == name && !value.is_empty()).map(|(_, value)| value.clone())
        };
        Self {
            shell: var("SHELL").map(PathBuf::from).filter(|shell| shell.is_absolute()),
            path: var("PATH"),
            home: var("HOME").map(PathBuf::from).filter(|home| home.is_absolute()),
            user: var("USER").or_else(|| var("LOGNAME")),
        }
    }
}

impl Default for TerminalConfig {
    fn default() -> Self {
        Self {
            shell: None,
            idle_timeout_seconds: 1800,
            scrollback_bytes: 256 * 1024,
            max_per_project: 10,
            max_connections_per_user: 20,
            host: HostUser::default(),
        }
    }
}

impl TerminalConfig {
    /// The shell in effect: the configured one, `$SHELL`, `/bin/bash` or `/bin/sh`.
    pub fn effective_shell(&self) -> PathBuf {
        if let Some(shell) = self.shell.clone().or_else(|| self.host.shell.clone()) {
            return shell;
        }
        let bash = PathBuf::from("/bin/bash");
        if bash.is_file() { bash } else { PathBuf::from("/bin/sh") }
    }
}

/// The job workers of this process.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How many jobs this process runs at once; 0 runs none (an API-only replica).
    pub workers: usize,
    /// How long a worker's claim on a job lasts without renewal; workers renew
    /// every third of it, and a job whose worker died is retried after it.
    pub lease_seconds: u64,
    /// How often idle workers look for work without being woken (other replicas'
    /// jobs, expired leases).
    pub poll_seconds: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { workers: 2, lease_seconds: 30, poll_seconds: 5 }
    }
}

/// The keys that seal secrets at rest.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The current key: 32 bytes in base64 (`openssl rand -base64 32`). Unset: `key_file`.
    pub key: Option<SecretString>,
    /// Earlier keys, still used to open what they sealed until `dockyard secrets rotate` ran.
    pub previous_keys: Vec<SecretString>,
    /// Where the key lives when `key` is unset (default `<data_dir>/secret.key`);
    /// created with a fresh key and mode 0600 when absent.
    pub key_file: Option<PathBuf>,
}

/// A secret config value: `Debug` and serialized output show `****`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(****)")
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("****")
    }
}

/// Limits of each project's workspace.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceConfig {
    pub max_file_bytes: u64,
    pub max_files: u64,
    pub max_total_bytes: u64,
    /// The largest upload an import accepts (the archive as sent, or all its files).
    pub max_upload_bytes: u64,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        let quotas = dockyard_workspace::Quotas::default();
        Self {
            max_file_bytes: quotas.max_file_bytes,
            max_files: quotas.max_files,
            max_total_bytes: quotas.max_total_bytes,
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// What requests Dockyard makes for users (git clone, fetch, pull, push) may reach.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Allow loopback, private, link-local and other non-public addresses. Off by
    /// default, so a user cannot make Dockyard reach into its own network (SSRF).
    pub allow_private_networks: bool,
    /// Allow plain `http://` git URLs (credentials would cross the network in clear).
    pub allow_http: bool,
    /// A PEM file of extra CA certificates trusted for git over https (a private CA).
    pub extra_ca_file: Option<PathBuf>,
    /// The longest one git network operation may take.
    pub git_timeout_seconds: u64,
    /// The git CLI used for network operations.
    pub git_binary: PathBuf,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allow_http: false,
            extra_ca_file: None,
            git_timeout_seconds: 600,
            git_binary: PathBuf::from("git"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    /// Origins allowed to call the API from a browser on another origin. Empty: CORS closed.
    pub cors_allowed_origins: Vec<String>,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How long SIGTERM waits for in-flight requests before closing them.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub per_ip_per_second: u32,
    pub per_ip_burst: u32,
    pub per_user_per_second: u32,
    pub per_user_burst: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub session_ttl_hours: u64,
    pub login_max_failures_per_account: u32,
    pub login_max_failures_per_ip: u32,
    pub login_failure_window_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Serve `/metrics` on this private address instead of the main listener.
    pub listen: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            public_url: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            rate_limit: RateLimitConfig::default(),
            auth: AuthConfig::default(),
            metrics: MetricsConfig::default(),
            workspace: WorkspaceConfig::default(),
            jobs: JobsConfig::default(),
            secrets: SecretsConfig::default(),
            outbound: OutboundConfig::default(),
            terminal: TerminalConfig::default(),
            proxy_listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            proxy_threads: 0,
            proxy_header_timeout_seconds: 30,
            proxy_response_timeout_seconds: 60,
            base_domain: "localhost".into(),
            deploy: DeployConfig::default(),
            assistant: AssistantConfig::default(),
            agents: AgentsConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout_secs: 5 }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout_secs: 30,
            body_limit_bytes: 2 * 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            trust_forwarded_for: false,
            shutdown_grace_secs: 20,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { enabled: true, per_ip_per_second: 200, per_ip_burst: 400, per_user_per_second: 100, per_user_burst: 200 }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_hours: 14 * 24,
            login_max_failures_per_account: 5,
            login_max_failures_per_ip: 20,
            login_failure_window_secs: 15 * 60,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, listen: None }
    }
}

/// A database URL whose password never appears in `Debug` or serialized output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `****`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else { return self.0.clone() };
        let Some((userinfo, host)) = rest.rsplit_once('@') else { return self.0.clone() };
        match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:****@{host}"),
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// A configuration problem, naming the key (and where it came from).
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// What [`Config::load`] produced besides the config: things worth a warning.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub warnings: Vec<String>,
}

/// Variables with the prefix that are not config keys.
const NOT_CONFIG_KEYS: &[&str] = &["CONFIG"];
/// Variables reserved for the test harness and tools, never warned about.
const IGNORED_PREFIXES: &[&str] = &["TEST_", "BENCH_"];
/// Keys whose values are lists: comma- or newline-separated in the environment.
const LIST_KEYS: &[&str] = &["http.cors_allowed_origins", "secrets.previous_keys"];
/// Keys whose own name ends in `_file`: their variable names the key itself,
/// not a file holding another key's value.
const FILE_NAMED_KEYS: &[&str] = &["secrets.key_file", "outbound.extra_ca_file", "deploy.extra_ca_file"];
/// Every top-level key of [`Config`]; a unit test keeps it in step with the struct.
const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "database_url",
    "public_url",
    "log_format",
    "log_level",
    "database",
    "http",
    "rate_limit",
    "auth",
    "metrics",
    "workspace",
    "jobs",
    "secrets",
    "outbound",
    "terminal",
    "proxy_listen",
    "proxy_threads",
    "proxy_header_timeout_seconds",
    "proxy_response_timeout_seconds",
    "base_domain",
    "deploy",
    "assistant",
    "agents",
];

impl Config {
    /// Builds the config from defaults, an optional TOML file and the
    /// `DOCKYARD_*` variables among `env`.
    pub fn load(file: Option<&Path>, env: &[(String, String)]) -> Result<(Config, LoadReport), ConfigError> {
        let mut report = LoadReport::default();
        let mut merged = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|error| ConfigError::new("config", format!("cannot read {}: {error}", path.display())))?;
            merged = text.parse::<toml::Table>().map_err(|error| {
                ConfigError::new("config", format!("{} is not valid TOML: {error}", path.display()))
            })?;
        }
        let mut from_env: Vec<(String, String)> = Vec::new();
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix("DOCKYARD_") else { continue };
            if NOT_CONFIG_KEYS.contains(&rest) || IGNORED_PREFIXES.iter().any(|prefix| rest.starts_with(prefix)) {
                continue;
            }
            let file_named = FILE_NAMED_KEYS.contains(&rest.to_lowercase().replace("__", ".").as_str());
            let (rest, value) = match rest.strip_suffix("_FILE").filter(|_| !file_named) {
                // `DOCKYARD_DATABASE_URL_FILE=/run/secrets/db` reads the value from a file.
                Some(base) => {
                    let text = std::fs::read_to_string(raw)
                        .map_err(|error| ConfigError::new(name.clone(), format!("cannot read {raw}: {error}")))?;
                    (base, text.trim().to_owned())
                }
                None => (rest, raw.clone()),
            };
            let path: Vec<String> = rest.to_lowercase().split("__").map(str::to_owned).collect();
            if !TOP_LEVEL_KEYS.contains(&path[0].as_str()) {
                report.warnings.push(format!("ignoring unknown environment variable {name}"));
                continue;
            }
            let dotted = path.join(".");
            let value = if LIST_KEYS.contains(&dotted.as_str()) {
                toml::Value::Array(
                    value
                        .split([',', '\n'])
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| item.into())
                        .collect(),
                )
            } else {
                scalar(&value)
            };
            insert_path(&mut merged, &path, value);
            from_env.push((dotted, name.clone()));
        }
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(merged)).map_err(|error| {
            let key = error.path().to_string();
            let source = from_env
                .iter()
                .find(|(dotted, _)| *dotted == key)
                .map(|(_, variable)| format!(" (from {variable})"))
                .unwrap_or_default();
            ConfigError::new(format!("{key}{source}"), error.into_inner().to_string())
        })?;
        config.terminal.host = HostUser::from_env(env);
        config.validate()?;
        Ok((config, report))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::new("database_url", "must start with sqlite: or postgres://"));
            }
        }
        if let Some(public_url) = &self.public_url
            && !(public_url.starts_with("http://") || public_url.starts_with("https://"))
        {
            return Err(ConfigError::new("public_url", "must start with http:// or https://"));
        }
        for origin in &self.http.cors_allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
                return Err(ConfigError::new(
                    "http.cors_allowed_origins",
                    format!("{origin:?} is not an origin like https://app.example.com"),
                ));
            }
        }
        let positive = [
            ("database.max_connections", u64::from(self.database.max_connections)),
            ("database.acquire_timeout_secs", self.database.acquire_timeout_secs),
            ("http.request_timeout_secs", self.http.request_timeout_secs),
            ("http.body_limit_bytes", self.http.body_limit_bytes as u64),
            ("rate_limit.per_ip_per_second", u64::from(self.rate_limit.per_ip_per_second)),
            ("rate_limit.per_ip_burst", u64::from(self.rate_limit.per_ip_burst)),
            ("rate_limit.per_user_per_second", u64::from(self.rate_limit.per_user_per_second)),
            ("rate_limit.per_user_burst", u64::from(self.rate_limit.per_user_burst)),
            ("auth.session_ttl_hours", self.auth.session_ttl_hours),
            ("auth.login_max_failures_per_account", u64::from(self.auth.login_max_failures_per_account)),
            ("auth.login_max_failures_per_ip", u64::from(self.auth.login_max_failures_per_ip)),
            ("auth.login_failure_window_secs", self.auth.login_failure_window_secs),
            ("workspace.max_file_bytes", self.workspace.max_file_bytes),
            ("workspace.max_files", self.workspace.max_files),
            ("workspace.max_total_bytes", self.workspace.max_total_bytes),
            ("jobs.poll_seconds", self.jobs.poll_seconds),
            ("terminal.idle_timeout_seconds", self.terminal.idle_timeout_seconds),
            ("terminal.max_per_project", self.terminal.max_per_project),
            ("terminal.max_connections_per_user", self.terminal.max_connections_per_user),
            ("proxy_header_timeout_seconds", self.proxy_header_timeout_seconds),
            ("proxy_response_timeout_seconds", self.proxy_response_timeout_seconds),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::new(*key, "must be greater than 0"));
        }
        if self.jobs.lease_seconds < 3 {
            return Err(ConfigError::new("jobs.lease_seconds", "must be at least 3 (leases are renewed every third)"));
        }
        if self.jobs.workers > 1024 {
            return Err(ConfigError::new("jobs.workers", "must be at most 1024"));
        }
        if let Some(key) = &self.secrets.key {
            dockyard_services::SecretKey::from_base64(key.expose())
                .map_err(|message| ConfigError::new("secrets.key", message))?;
        }
        for (index, key) in self.secrets.previous_keys.iter().enumerate() {
            dockyard_services::SecretKey::from_base64(key.expose())
                .map_err(|message| ConfigError::new(format!("secrets.previous_keys[{index}]"), message))?;
        }
        let base_domain_ok = !self.base_domain.is_empty()
            && self.base_domain.len() <= 190
            && self.base_domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !base_domain_ok {
            return Err(ConfigError::new(
                "base_domain",
                "must be a lowercase domain such as apps.example.com or localhost",
            ));
        }
        if !matches!(self.deploy.public_scheme.as_str(), "http" | "https") {
            return Err(ConfigError::new("deploy.public_scheme", "must be http or https"));
        }
        if self.deploy.build_concurrency == 0 || self.deploy.build_timeout_seconds == 0 {
            return Err(ConfigError::new(
                "deploy.build_concurrency",
                "build concurrency and timeout must be greater than 0",
            ));
        }
        if self.deploy.instance_id.is_empty()
            || !self.deploy.instance_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new("deploy.instance_id", "must be letters, digits, '-' and '_'"));
        }
        if let Some(shell) = &self.terminal.shell
            && !shell.is_absolute()
        {
            return Err(ConfigError::new("terminal.shell", "must be an absolute path, e.g. /bin/bash"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.terminal.scrollback_bytes) {
            return Err(ConfigError::new("terminal.scrollback_bytes", "must be between 1024 and 67108864"));
        }
        if self.secrets.key_file.as_ref().is_some_and(|path| path.as_os_str().is_empty()) {
            return Err(ConfigError::new("secrets.key_file", "must not be empty"));
        }
        self.validate_assistant()?;
        if self.log_level.parse::<tracing_subscriber::EnvFilter>().is_err() {
            return Err(ConfigError::new("log_level", format!("{:?} is not a valid log filter", self.log_level)));
        }
        Ok(())
    }

    fn validate_assistant(&self) -> Result<(), ConfigError> {
        let assistant = &self.assistant;
        let base_url = assistant.base_url.as_deref().filter(|url| !url.is_empty());
        let model = assistant.model.as_deref().filter(|model| !model.is_empty());
        if let Some(url) = base_url {
            let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
            let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control()) && !url.contains(['?', '#']);
            let host = url.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or("")).unwrap_or("");
            if !scheme_ok || !clean || host.is_empty() || host.contains('@') {
                return Err(ConfigError::new(
                    "assistant.base_url",
                    "must be an http(s) API base without credentials or query, e.g. https://api.openai.com/v1",
                ));
            }
        }
        match (base_url, model) {
            (Some(_), None) => {
                return Err(ConfigError::new("assistant.model", "must be set when assistant.base_url is"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new("assistant.base_url", "must be set when assistant.model is"));
            }
            _ => {}
        }
        if assistant.timeout_seconds == 0 {
            return Err(ConfigError::new("assistant.timeout_seconds", "must be greater than 0"));
        }
        if assistant.breaker_cooldown_seconds == 0 {
            return Err(ConfigError::new("assistant.breaker_cooldown_seconds", "must be greater than 0"));
        }
        if assistant.cache_entries > 1_000_000 {
            return Err(ConfigError::new("assistant.cache_entries", "must be at most 1000000"));
        }
        Ok(())
    }

    /// The assistant's settings as the services take them.
    pub fn assistant(&self) -> dockyard_services::assistant::AssistantConfig {
        let assistant = &self.assistant;
        let non_empty = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
        // Until an answer starts, the edge's request timeout would cut in first.
        let edge_limit = self.http.request_timeout_secs.saturating_sub(1).max(1);
        dockyard_services::assistant::AssistantConfig {
            base_url: non_empty(&assistant.base_url),
            model: non_empty(&assistant.model),
            api_key: assistant
                .api_key
                .as_ref()
                .filter(|key| !key.expose().is_empty())
                .map(|key| dockyard_services::assistant::Zeroizing::new(key.expose().to_owned())),
            timeout: Duration::from_secs(assistant.timeout_seconds.min(edge_limit)),
            daily_token_budget: assistant.daily_token_budget,
            cache_entries: usize::try_from(assistant.cache_entries).unwrap_or(usize::MAX),
            breaker_failures: assistant.breaker_failures,
            breaker_cooldown: Duration::from_secs(assistant.breaker_cooldown_seconds),
        }
    }

    /// The database URL in effect: the configured one, or SQLite in the data dir.
    pub fn effective_database_url(&self) -> DatabaseUrl {
        match &self.database_url {
            Some(url) => url.clone(),
            None => DatabaseUrl(format!("sqlite://{}?mode=rwc", self.data_dir.join("dockyard.db").display())),
        }
    }

    /// The config as TOML with secrets redacted, for `serve --print-config`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = Some(self.effective_database_url());
        toml::to_string_pretty(&shown).unwrap_or_else(|error| format!("# cannot render config: {error}"))
    }

    /// The URL to print and to compare browser origins against.
    pub fn public_origin(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn served_over_tls(&self) -> bool {
        self.public_url.as_deref().is_some_and(|url| url.starts_with("https://"))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.http.request_timeout_secs)
    }

    pub fn services(&self) -> dockyard_services::ServiceConfig {
        dockyard_services::ServiceConfig {
            session_ttl: Duration::from_secs(self.auth.session_ttl_hours * 3600),
            login_max_failures_per_account: self.auth.login_max_failures_per_account,
            login_max_failures_per_ip: self.auth.login_max_failures_per_ip,
            login_failure_window: Duration::from_secs(self.auth.login_failure_window_secs),
            workspace_root: self.data_dir.join("workspaces"),
            workspace_quotas: dockyard_workspace::Quotas {
                max_file_bytes: self.workspace.max_file_bytes,
                max_files: self.workspace.max_files,
                max_total_bytes: self.workspace.max_total_bytes,
            },
            jobs: dockyard_services::JobsConfig {
                lease_ttl: Duration::from_secs(self.jobs.lease_seconds),
                poll_interval: Duration::from_secs(self.jobs.poll_seconds),
            },
            outbound: dockyard_services::OutboundConfig {
                allow_private_networks: self.outbound.allow_private_networks,
                allow_http: self.outbound.allow_http,
                extra_ca_file: self.outbound.extra_ca_file.clone(),
                git_timeout: Duration::from_secs(self.outbound.git_timeout_seconds.max(1)),
                git_binary: self.outbound.git_binary.clone(),
            },
            agents: dockyard_services::agents::AgentsConfig {
                worktree_root: self.data_dir.join("agent-worktrees"),
                sessions_per_hour: self.agents.sessions_per_hour,
                breaker_failures: self.agents.breaker_failures,
                breaker_cooldown: Duration::from_secs(self.agents.breaker_cooldown_seconds),
                early_exit: Duration::from_secs(self.agents.early_exit_seconds),
                stop_grace: Duration::from_secs(self.agents.stop_grace_seconds),
                path: self.terminal.host.path.clone().unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_owned()),
                lang: "C.UTF-8".to_owned(),
                home: self.agents.home.clone(),
            },
            terminal: dockyard_services::TerminalConfig {
                shell: self.terminal.effective_shell(),
                idle_timeout: Duration::from_secs(self.terminal.idle_timeout_seconds),
                scrollback_bytes: usize::try_from(self.terminal.scrollback_bytes).unwrap_or(usize::MAX),
                max_per_project: usize::try_from(self.terminal.max_per_project).unwrap_or(usize::MAX),
                max_connections_per_user: usize::try_from(self.terminal.max_connections_per_user).unwrap_or(usize::MAX),
                path: self.terminal.host.path.clone().unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_owned()),
                home: self.terminal.host.home.clone(),
                user: self.terminal.host.user.clone().unwrap_or_else(|| "dockyard".to_owned()),
                ..dockyard_services::TerminalConfig::default()
            },
        }
    }

    /// Where the secrets keys come from; `dockyard_services::Keyring::load` reads them.
    pub fn key_source(&self) -> dockyard_services::KeySource {
        dockyard_services::KeySource {
            key: self.secrets.key.as_ref().map(|key| key.expose().to_owned()),
            previous_keys: self.secrets.previous_keys.iter().map(|key| key.expose().to_owned()).collect(),
            key_file: self.secrets.key_file.clone().unwrap_or_else(|| self.data_dir.join("secret.key")),
        }
    }

    pub fn pool(&self) -> dockyard_store::PoolSettings {
        dockyard_store::PoolSettings {
            max_connections: self.database.max_connections,
            acquire_timeout: Duration::from_secs(self.database.acquire_timeout_secs),
            ..Default::default()
        }
    }
}

/// An environment value as TOML: booleans and integers are typed, anything else is a string.
fn scalar(raw: &str) -> toml::Value {
    if let Ok(boolean) = raw.parse::<bool>() {
        return toml::Value::Boolean(boolean);
    }
    if let Ok(integer) = raw.parse::<i64>() {
        return toml::Value::Integer(integer);
    }
    toml::Value::String(raw.to_owned())
}

fn insert_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let (last, parents) = path.split_last().expect("a path has at least one segment");
    let mut current = table;
    for segment in parents {
        let entry = current.entry(segment.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else { unreachable!("just made a table") };
        current = next;
    }
    current.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_then_file_then_env() {
        let dir = std::env::temp_dir().join(format!("dockyard-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("dockyard.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n[http]\nrequest_timeout_secs = 7\n").expect("write");
        let (config, report) = Config::load(
            Some(&file),
            &env(&[
                ("DOCKYARD_HTTP__REQUEST_TIMEOUT_SECS", "9"),
                ("DOCKYARD_DATA_DIR", "/srv/dockyard"),
                ("DOCKYARD_HTTP__CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example"),
                ("DOCKYARD_NOPE", "1"),
                ("DOCKYARD_TEST_DATABASE_URL", "ignored"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.http.request_timeout_secs, 9);
        assert_eq!(config.data_dir, PathBuf::from("/srv/dockyard"));
        assert_eq!(config.http.cors_allowed_origins, vec!["https://a.example", "https://b.example"]);
        assert_eq!(report.warnings, vec!["ignoring unknown environment variable DOCKYARD_NOPE"]);
        assert_eq!(config.rate_limit.per_ip_burst, RateLimitConfig::default().per_ip_burst);
    }

    #[test]
    fn errors_name_the_key() {
        let error = Config::load(None, &env(&[("DOCKYARD_LISTEN", "not-an-address")])).unwrap_err();
        assert_eq!(error.key, "listen (from DOCKYARD_LISTEN)");
        let error = Config::load(None, &env(&[("DOCKYARD_HTTP__REQUEST_TIMEOUT_SECS", "0")])).unwrap_err();
        assert_eq!(error.key, "http.request_timeout_secs");
        let error = Config::load(None, &env(&[("DOCKYARD_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert_eq!(error.key, "database_url");
        let error = Config::load(None, &env(&[("DOCKYARD_HTTP__NO_SUCH_KEY", "1")])).unwrap_err();
        assert!(error.message.contains("no_such_key"), "{error}");
    }

    #[test]
    fn every_field_is_a_known_top_level_key() {
        let everything_set = Config {
            database_url: Some(DatabaseUrl::new("postgres://x")),
            public_url: Some("https://dockyard.example.com".into()),
            ..Config::default()
        };
        let Ok(toml::Value::Table(table)) = toml::Value::try_from(everything_set) else {
            panic!("serializes to a table")
        };
        let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut known = TOP_LEVEL_KEYS.to_vec();
        known.sort_unstable();
        assert_eq!(keys, known);
        let (config, report) =
            Config::load(None, &env(&[("DOCKYARD_PUBLIC_URL", "https://dockyard.example.com")])).expect("valid");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert!(config.served_over_tls());
    }

    #[test]
    fn secrets_keys_are_validated_named_and_never_shown() {
        let key = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
        let previous = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let (config, report) = Config::load(
            None,
            &env(&[
                ("DOCKYARD_SECRETS__KEY", key),
                ("DOCKYARD_SECRETS__PREVIOUS_KEYS", &format!("{previous}, {previous}")),
                ("DOCKYARD_SECRETS__KEY_FILE", "/run/dockyard/secret.key"),
            ]),
        )
        .expect("valid");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(config.secrets.key.as_ref().map(SecretString::expose), Some(key));
        assert_eq!(config.secrets.previous_keys.len(), 2);
        // `_FILE` is part of this key's name: the variable names the key file itself.
        assert_eq!(config.key_source().key_file, PathBuf::from("/run/dockyard/secret.key"));
        let shown = format!("{config:?}\n{}", config.to_redacted_toml());
        assert!(!shown.contains(key) && !shown.contains(previous), "{shown}");

        let error = Config::load(None, &env(&[("DOCKYARD_SECRETS__KEY", "c2hvcnQ=")])).unwrap_err();
        assert_eq!(error.key, "secrets.key");
        assert!(!error.to_string().contains("c2hvcnQ="), "{error}");
        let error =
            Config::load(None, &env(&[("DOCKYARD_SECRETS__PREVIOUS_KEYS", &format!("{previous},nope"))])).unwrap_err();
        assert_eq!(error.key, "secrets.previous_keys[1]");
        let default = Config::load(None, &env(&[("DOCKYARD_DATA_DIR", "/srv/dy")])).expect("valid").0;
        assert_eq!(default.key_source().key_file, PathBuf::from("/srv/dy/secret.key"));
        assert!(default.key_source().key.is_none());
    }

    #[test]
    fn proxy_timeouts_come_from_the_environment_and_zero_is_refused() {
        let (config, _) = Config::load(None, &[]).expect("defaults");
        assert_eq!((config.proxy_header_timeout_seconds, config.proxy_response_timeout_seconds), (30, 60));
        let (config, report) = Config::load(
            None,
            &env(&[("DOCKYARD_PROXY_HEADER_TIMEOUT_SECONDS", "5"), ("DOCKYARD_PROXY_RESPONSE_TIMEOUT_SECONDS", "300")]),
        )
        .expect("valid");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!((config.proxy_header_timeout_seconds, config.proxy_response_timeout_seconds), (5, 300));
        for key in ["PROXY_HEADER_TIMEOUT_SECONDS", "PROXY_RESPONSE_TIMEOUT_SECONDS"] {
            let error = Config::load(None, &env(&[(&format!("DOCKYARD_{key}"), "0")])).unwrap_err();
            assert_eq!(error.key, key.to_lowercase());
            assert_eq!(error.message, "must be greater than 0");
        }
    }

    #[test]
    fn job_settings_have_defaults_and_limits() {
        let (config, _) = Config::load(None, &[]).expect("defaults");
        assert_eq!((config.jobs.workers, config.jobs.lease_seconds, config.jobs.poll_seconds), (2, 30, 5));
        assert_eq!(config.services().jobs.lease_ttl, Duration::from_secs(30));
        let (config, _) = Config::load(None, &env(&[("DOCKYARD_JOBS__WORKERS", "0")])).expect("no workers");
        assert_eq!(config.jobs.workers, 0);
        let error = Config::load(None, &env(&[("DOCKYARD_JOBS__LEASE_SECONDS", "2")])).unwrap_err();
        assert_eq!(error.key, "jobs.lease_seconds");
        let error = Config::load(None, &env(&[("DOCKYARD_JOBS__POLL_SECONDS", "0")])).unwrap_err();
        assert_eq!(error.key, "jobs.poll_seconds");
    }

    #[test]
    fn terminal_settings_have_defaults_limits_and_a_shell_from_the_environment() {
        let (config, _) = Config::load(
            None,
            &env(&[("SHELL", "/usr/bin/zsh"), ("PATH", "/opt/bin:/usr/bin"), ("DOCKYARD_SECRETS__KEY_FILE", "/k")]),
        )
        .expect("defaults");
        assert_eq!(config.terminal.idle_timeout_seconds, 1800);
        assert_eq!(config.terminal.scrollback_bytes, 256 * 1024);
        assert_eq!((config.terminal.max_per_project, config.terminal.max_connections_per_user), (10, 20));
        let services = config.services().terminal;
        assert_eq!(services.shell, PathBuf::from("/usr/bin/zsh"));
        assert_eq!(services.path, "/opt/bin:/usr/bin");
        // Nothing read from the environment shows in the printed config.
        assert!(!config.to_redacted_toml().contains("/opt/bin"));

        let (config, _) =
            Config::load(None, &env(&[("SHELL", "/usr/bin/zsh"), ("DOCKYARD_TERMINAL__SHELL", "/bin/sh")]))
                .expect("configured shell");
        assert_eq!(config.services().terminal.shell, PathBuf::from("/bin/sh"));
        let (config, _) = Config::load(None, &[]).expect("no $SHELL");
        let fallback = config.terminal.effective_shell();
        assert!(fallback == Path::new("/bin/bash") || fallback == Path::new("/bin/sh"), "{fallback:?}");

        for (variable, value, key) in [
            ("DOCKYARD_TERMINAL__SHELL", "bash", "terminal.shell"),
            ("DOCKYARD_TERMINAL__IDLE_TIMEOUT_SECONDS", "0", "terminal.idle_timeout_seconds"),
            ("DOCKYARD_TERMINAL__SCROLLBACK_BYTES", "10", "terminal.scrollback_bytes"),
            ("DOCKYARD_TERMINAL__MAX_PER_PROJECT", "0", "terminal.max_per_project"),
            ("DOCKYARD_TERMINAL__MAX_CONNECTIONS_PER_USER", "0", "terminal.max_connections_per_user"),
        ] {
            let error = Config::load(None, &env(&[(variable, value)])).unwrap_err();
            assert_eq!(error.key, key, "{variable}={value}");
        }
    }

    #[test]
    fn assistant_settings_have_defaults_limits_and_a_hidden_key() {
        let (config, report) = Config::load(None, &[]).expect("defaults");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let services = config.assistant();
        assert_eq!((services.base_url.as_deref(), services.model.as_deref()), (None, None));
        assert_eq!(services.daily_token_budget, 200_000);
        assert_eq!((services.cache_entries, services.breaker_failures), (1000, 5));
        assert_eq!(services.breaker_cooldown, Duration::from_secs(30));
        // 60 s by default, but an answer must start before the edge's 30 s request timeout.
        assert_eq!(config.assistant.timeout_seconds, 60);
        assert_eq!(services.timeout, Duration::from_secs(29));

        let key = "sk-test-0123456789abcdef";
        let (config, report) = Config::load(
            None,
            &env(&[
                ("DOCKYARD_ASSISTANT__BASE_URL", "http://127.0.0.1:11434/v1"),
                ("DOCKYARD_ASSISTANT__MODEL", "qwen2.5-coder"),
                ("DOCKYARD_ASSISTANT__API_KEY", key),
                ("DOCKYARD_ASSISTANT__TIMEOUT_SECONDS", "5"),
                ("DOCKYARD_ASSISTANT__DAILY_TOKEN_BUDGET", "0"),
            ]),
        )
        .expect("valid");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let services = config.assistant();
        assert_eq!(services.base_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
        assert_eq!(services.api_key.as_ref().map(|key| key.as_str()), Some(key));
        assert_eq!((services.timeout, services.daily_token_budget), (Duration::from_secs(5), 0));
        let shown = format!("{config:?}\n{}\n{services:?}", config.to_redacted_toml());
        assert!(!shown.contains(key), "{shown}");
        assert!(config.to_redacted_toml().contains("[assistant]"));

        for (pairs, key) in [
            (vec![("DOCKYARD_ASSISTANT__BASE_URL", "http://127.0.0.1:11434/v1")], "assistant.model"),
            (vec![("DOCKYARD_ASSISTANT__MODEL", "m")], "assistant.base_url"),
            (
                vec![("DOCKYARD_ASSISTANT__BASE_URL", "ftp://x/v1"), ("DOCKYARD_ASSISTANT__MODEL", "m")],
                "assistant.base_url",
            ),
            (
                vec![("DOCKYARD_ASSISTANT__BASE_URL", "https://u:p@x/v1"), ("DOCKYARD_ASSISTANT__MODEL", "m")],
                "assistant.base_url",
            ),
            (vec![("DOCKYARD_ASSISTANT__TIMEOUT_SECONDS", "0")], "assistant.timeout_seconds"),
            (vec![("DOCKYARD_ASSISTANT__BREAKER_COOLDOWN_SECONDS", "0")], "assistant.breaker_cooldown_seconds"),
        ] {
            let error = Config::load(None, &env(&pairs)).unwrap_err();
            assert_eq!(error.key, key, "{pairs:?}");
        }
    }

    #[test]
    fn database_passwords_are_redacted() {
        let url = DatabaseUrl::new("postgres://dockyard:hunter2@db:5432/dockyard");
        assert_eq!(url.redacted(), "postgres://dockyard:****@db:5432/dockyard");
        assert!(!format!("{url:?}").contains("hunter2"));
        let config = Config { database_url: Some(url), ..Config::default() };
        assert!(!config.to_redacted_toml().contains("hunter2"));
    }
}
