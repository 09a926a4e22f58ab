//! Click-to-deploy records: services, their env, and deployments with their
//! state machine. Validation of everything a user sends about them lives here
//! too, so the HTTP layer and the CLI refuse the same things.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{DeploymentId, ProjectId, ServiceId, UserId};
use crate::model::Timestamp;
use crate::validate::ValidationError;

/// Where a service's code comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceSource {
    /// The project's workspace: deploy what is in the IDE.
    Workspace,
    /// A git repository and branch, cloned for each deployment.
    Git { url: String, branch: String },
    /// An image the engine already has; nothing is built or pulled.
    Image { image: String },
    /// A folder uploaded for one deployment (`dockyard deploy`). Only a
    /// deployment has this source; a service's own source is one of the others.
    Upload { files: u64, bytes: u64 },
}

impl ServiceSource {
    pub fn kind(&self) -> &'static str {
        match self {
            ServiceSource::Workspace => "workspace",
            ServiceSource::Git { .. } => "git",
            ServiceSource::Image { .. } => "image",
            ServiceSource::Upload { .. } => "upload",
        }
    }
}

/// How a service's image is built (ignored for image sources).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSettings {
    /// The Dockerfile, relative to the context; `None`: `Dockerfile` if there is one, else detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile_path: Option<String>,
    /// The context folder, relative to the source root; `None`: the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
}

/// One env var as stored: secrets carry no value here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvEntry {
    pub key: String,
    /// `None` for a secret (its value is sealed in the secrets table).
    pub value: Option<String>,
    pub secret: bool,
}

/// What the user asked a service to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredState {
    Running,
    Stopped,
}

impl DesiredState {
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Running => "running",
            DesiredState::Stopped => "stopped",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "running" => Some(DesiredState::Running),
            "stopped" => Some(DesiredState::Stopped),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: ServiceId,
    pub project_id: ProjectId,
    pub name: String,
    pub source: ServiceSource,
    pub build: BuildSettings,
    pub port: u16,
    /// `None`: no HTTP check; a running instance counts as healthy.
    pub health_check_path: Option<String>,
    pub health_check_timeout_secs: u32,
    pub replicas: u32,
    pub cpu_millis: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub env: Vec<EnvEntry>,
    pub desired_state: DesiredState,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The state machine of a deployment.
///
/// ```text
/// queued -> building -> starting -> active -> superseded
///    \          \           \
///     +----------+-----------+--> failed | cancelled
/// ```
/// Image sources and rollbacks skip `building`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Queued,
    Building,
    Starting,
    Active,
    Superseded,
    Failed,
    Cancelled,
}

impl DeploymentStatus {
    pub const ALL: [DeploymentStatus; 7] = [
        DeploymentStatus::Queued,
        DeploymentStatus::Building,
        DeploymentStatus::Starting,
        DeploymentStatus::Active,
        DeploymentStatus::Superseded,
        DeploymentStatus::Failed,
        DeploymentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Queued => "queued",
            DeploymentStatus::Building => "building",
            DeploymentStatus::Starting => "starting",
            DeploymentStatus::Active => "active",
            DeploymentStatus::Superseded => "superseded",
            DeploymentStatus::Failed => "failed",
            DeploymentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }

    /// Still on its way: queued, building or starting.
    pub fn in_flight(self) -> bool {
        matches!(self, DeploymentStatus::Queued | DeploymentStatus::Building | DeploymentStatus::Starting)
    }

    /// Whether the machine allows `self -> next`.
    pub fn can_become(self, next: DeploymentStatus) -> bool {
        use DeploymentStatus::*;
        matches!(
            (self, next),
            (Queued, Building | Starting | Failed | Cancelled)
                | (Building, Starting | Failed | Cancelled)
                | (Starting, Active | Failed | Cancelled)
                | (Active, Superseded)
        )
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: DeploymentId,
    pub service_id: ServiceId,
    pub project_id: ProjectId,
    pub number: u32,
    pub status: DeploymentStatus,
    pub trigger: String,
    pub source: ServiceSource,
    pub rollback_of: Option<DeploymentId>,
    pub image: Option<String>,
    pub plan: Option<serde_json::Value>,
    pub job_id: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub building_at: Option<Timestamp>,
    pub starting_at: Option<Timestamp>,
    pub active_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub cancel_requested: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub last_log: Vec<String>,
}

/// A service name: a DNS label of 1-40 lowercase letters, digits and inner
/// `-`, so that `{service}-{project}` stays a usable host label.
pub fn service_name(raw: &str) -> Result<String, ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= 40
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && raw.as_bytes()[0].is_ascii_lowercase()
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ValidationError::new(
            "name",
            "invalid_service_name",
            "a service name is 1-40 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
        ))
    }
}

/// The port a service listens on inside its containers.
pub fn service_port(raw: i64) -> Result<u16, ValidationError> {
    u16::try_from(raw)
        .ok()
        .filter(|port| *port >= 1)
        .ok_or_else(|| ValidationError::new("port", "invalid_port", "the port must be a number from 1 to 65535"))
}

/// Replicas: 1 to 20.
pub fn replicas(raw: i64) -> Result<u32, ValidationError> {
    u32::try_from(raw)
        .ok()
        .filter(|count| (1..=20).contains(count))
        .ok_or_else(|| ValidationError::new("replicas", "invalid_replicas", "replicas must be a number from 1 to 20"))
}

/// A health-check path: absolute, printable, no spaces, at most 512 bytes.
pub fn health_check_path(raw: &str) -> Result<String, ValidationError> {
    let ok =
        raw.starts_with('/') && raw.len() <= 512 && raw.chars().all(|c| c.is_ascii_graphic()) && !raw.contains('#');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ValidationError::new(
            "health_check_path",
            "invalid_health_check_path",
            "the health-check path must start with '/' and hold no spaces, e.g. /healthz",
        ))
    }
}

/// An env var key: a letter or `_`, then letters, digits and `_`; at most 128.
pub fn env_key(raw: &str) -> Result<String, ValidationError> {
    let mut chars = raw.chars();
    let ok = raw.len() <= 128
        && chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ValidationError::new(
            "env",
            "invalid_env_key",
            format!("{raw:?} is not an env var name: use letters, digits and '_', not starting with a digit"),
        ))
    }
}

/// An env var value: at most 32 KiB, no NUL.
pub fn env_value(key: &str, raw: &str) -> Result<String, ValidationError> {
    if raw.len() > 32 * 1024 || raw.contains('\0') {
        return Err(ValidationError::new(
            "env",
            "invalid_env_value",
            format!("the value of {key} must be at most 32 KiB of text without NUL characters"),
        ));
    }
    Ok(raw.to_owned())
}

/// An image reference as Docker accepts it: `[registry[:port]/]path[:tag][@digest]`,
/// lowercase path components. Refuses what could be mistaken for an option or path.
pub fn image_reference(raw: &str) -> Result<String, ValidationError> {
    let invalid = || {
        ValidationError::new(
            "image",
            "invalid_image",
            "an image is a reference such as nginx:1.27, ghcr.io/org/app:v2 or an image id (sha256:…)",
        )
    };
    if raw.is_empty() || raw.len() > 255 || raw.starts_with('-') || raw.starts_with('/') {
        return Err(invalid());
    }
    if let Some(hex) = raw.strip_prefix("sha256:") {
        return if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(raw.to_owned())
        } else {
            Err(invalid())
        };
    }
    let (name, digest) = match raw.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (raw, None),
    };
    if let Some(digest) = digest {
        let valid = digest.split_once(':').is_some_and(|(algo, hex)| {
            !algo.is_empty() && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !valid {
            return Err(invalid());
        }
    }
    // A tag follows the last ':' after the last '/'.
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !tag.starts_with(['.', '-']);
        if !ok {
            return Err(invalid());
        }
    }
    let mut components = path.split('/').peekable();
    let mut first = true;
    while let Some(component) = components.next() {
        let is_registry =
            first && components.peek().is_some() && (component.contains(['.', ':']) || component == "localhost");
        first = false;
        let ok = if is_registry {
            !component.is_empty()
                && component.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
                && component.as_bytes()[0].is_ascii_alphanumeric()
        } else {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
                && component.as_bytes()[0].is_ascii_alphanumeric()
                && component.as_bytes()[component.len() - 1].is_ascii_alphanumeric()
        };
        if !ok {
            return Err(invalid());
        }
    }
    Ok(raw.to_owned())
}

/// A path inside the source (Dockerfile, context): relative, no `..`, no NUL, no backslash.
pub fn source_relative_path(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let trimmed = raw.trim_start_matches("./");
    let ok = !trimmed.is_empty()
        && trimmed.len() <= 1024
        && !trimmed.starts_with('/')
        && !trimmed.contains(['\0', '\\'])
        && trimmed.split('/').all(|part| part != "..");
    if ok {
        Ok(trimmed.trim_end_matches('/').to_owned()).and_then(|path: String| {
            if path.is_empty() {
                Err(ValidationError::new(field, "invalid_path", "must be a path inside the source"))
            } else {
                Ok(path)
            }
        })
    } else {
        Err(ValidationError::new(
            field,
            "invalid_path",
            "must be a relative path inside the source, without '..', e.g. docker/Dockerfile",
        ))
    }
}

/// The generated host label of a service: `{service}-{project}`, shortened
/// with a stable suffix when it would pass the 63 bytes of a DNS label.
pub fn host_label(service: &str, project_slug: &str) -> String {
    let label = format!("{service}-{project_slug}");
    if label.len() <= 63 {
        return label;
    }
    // FNV-1a: stable across versions and platforms, enough to tell apart.
    let hash =
        label.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let suffix = format!("{:08x}", hash as u32);
    let keep = 63 - service.len() - 1 - suffix.len() - 1;
    let project = project_slug[..keep.min(project_slug.len())].trim_end_matches('-');
    format!("{service}-{project}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_dns_labels() {
        for good in ["web", "api-2", "a"] {
            assert_eq!(service_name(good).as_deref(), Ok(good));
        }
        for bad in ["", "Web", "-web", "web-", "2web", "we_b", "a.b", &"x".repeat(41)] {
            assert_eq!(service_name(bad).map_err(|e| e.code), Err("invalid_service_name"), "{bad:?}");
        }
    }

    #[test]
    fn state_machine_allows_only_forward_steps() {
        use DeploymentStatus::*;
        assert!(Queued.can_become(Building));
        assert!(Queued.can_become(Starting));
        assert!(Starting.can_become(Active));
        assert!(Active.can_become(Superseded));
        assert!(!Active.can_become(Failed));
        assert!(!Failed.can_become(Active));
        assert!(!Superseded.can_become(Active));
        assert!(!Cancelled.can_become(Building));
        for status in DeploymentStatus::ALL {
            assert_eq!(DeploymentStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn image_references() {
        for good in [
            "nginx",
            "nginx:1.27",
            "library/nginx:latest",
            "ghcr.io/org/app:v2",
            "localhost:5000/app",
            "dockyard-base/busybox:1",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(image_reference(good).is_ok(), "{good}");
        }
        for bad in ["", "-v", "/etc/passwd", "Nginx", "app:", "app:-x", "a b", "app@md5", "../x", "a//b"] {
            assert!(image_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_stay_inside_the_source() {
        assert_eq!(source_relative_path("p", "./docker/Dockerfile").as_deref(), Ok("docker/Dockerfile"));
        for bad in ["", "/etc", "../x", "a/../../b", "a\\b", "./"] {
            assert!(source_relative_path("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_labels_fit_dns() {
        assert_eq!(host_label("web", "shop"), "web-shop");
        let long = host_label(&"s".repeat(40), &"p".repeat(63));
        assert!(long.len() <= 63, "{long}");
        assert_eq!(long, host_label(&"s".repeat(40), &"p".repeat(63)));
        assert_ne!(long, host_label(&"s".repeat(40), &format!("{}q", "p".repeat(62))));
    }

    #[test]
    fn ports_replicas_keys() {
        assert!(service_port(0).is_err() && service_port(70000).is_err() && service_port(8080).is_ok());
        assert!(replicas(0).is_err() && replicas(21).is_err() && replicas(3).is_ok());
        assert!(env_key("DATABASE_URL").is_ok() && env_key("1X").is_err() && env_key("A-B").is_err());
        assert!(health_check_path("/healthz").is_ok() && health_check_path("health").is_err());
    }
}
