//! `GitUrl`, the only kind of remote URL Dockyard talks to, and what network
//! operations are given alongside it: the credential and the policy.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use dockyard_domain::net::OutboundPolicy;
use url::{Host, Url};

use crate::GitError;

/// The longest URL accepted.
pub const MAX_URL_BYTES: usize = 2048;

/// What network operations may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Allow hosts that resolve to loopback, private or link-local addresses.
    pub allow_private: bool,
    /// Allow plain `http://` URLs.
    pub allow_http: bool,
    /// A PEM file of extra certificate authorities to trust, besides the system's.
    pub extra_ca_file: Option<PathBuf>,
    /// How long one git command may run before it is killed.
    pub timeout: Duration,
    /// The git program.
    pub git_binary: PathBuf,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            allow_private: false,
            allow_http: false,
            extra_ca_file: None,
            timeout: Duration::from_secs(600),
            git_binary: PathBuf::from("git"),
        }
    }
}

impl NetworkPolicy {
    pub(crate) fn outbound(&self) -> OutboundPolicy {
        OutboundPolicy { allow_private: self.allow_private }
    }
}

/// A username and token for HTTP basic authentication. Never written to disk,
/// to argv, or to an error message; `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub token: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Credential").field("username", &self.username).field("token", &"[redacted]").finish()
    }
}

/// A validated remote URL: `https://` (or `http://` when the policy allows it),
/// with a host, without user info, query or fragment, at most
/// [`MAX_URL_BYTES`], with no whitespace or control characters. An IP-literal
/// host must be allowed by the policy; host names are checked when resolved,
/// right before each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitUrl {
    url: Url,
}

impl GitUrl {
    pub fn parse(input: &str, policy: &NetworkPolicy) -> Result<GitUrl, GitError> {
        let invalid = |reason: &str| GitError::InvalidUrl { reason: reason.to_owned() };
        if input.is_empty() {
            return Err(invalid("the URL is empty"));
        }
        if input.len() > MAX_URL_BYTES {
            return Err(invalid("the URL is too long"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("the URL contains whitespace or control characters"));
        }
        if input.starts_with('-') {
            return Err(invalid("the URL starts with '-'"));
        }
        // The url crate is lenient with special schemes (`https:///host`, `https:\\host`);
        // git URLs are written plainly.
        let lower = input.get(..8).unwrap_or(input).to_ascii_lowercase();
        let authority = if lower.starts_with("https://") {
            &input[8..]
        } else if lower.starts_with("http://") {
            &input[7..]
        } else if input.contains("://") {
            return Err(invalid("only https:// URLs are supported"));
        } else {
            return Err(invalid("not a URL (use https://host/path)"));
        };
        if authority.is_empty() || authority.starts_with('/') || input.contains('\\') {
            return Err(invalid("the URL has no host"));
        }
        let url = Url::parse(input).map_err(|_| invalid("not a URL (use https://host/path)"))?;
        match url.scheme() {
            "https" => {}
            "http" => {}
            _ => return Err(invalid("only https:// URLs are supported")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GitError::UrlHasCredentials);
        }
        if url.scheme() == "http" && !policy.allow_http {
            return Err(invalid("plain http:// is not allowed; use https://"));
        }
        let host = url.host().ok_or_else(|| invalid("the URL has no host"))?;
        if matches!(&host, Host::Domain(domain) if domain.is_empty()) {
            return Err(invalid("the URL has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("the URL has a query or a fragment"));
        }
        if url.as_str().len() > MAX_URL_BYTES {
            return Err(invalid("the URL is too long"));
        }
        let git_url = GitUrl { url };
        if let Some(address) = git_url.ip_literal() {
            policy
                .outbound()
                .check(address)
                .map_err(|_| GitError::ForbiddenAddress { host: git_url.host(), address })?;
        }
        Ok(git_url)
    }

    /// The URL as given to git (normalized: the host lower-cased, IDNA encoded).
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host, without brackets around an IPv6 address.
    pub fn host(&self) -> String {
        match self.url.host() {
            Some(Host::Domain(domain)) => domain.to_owned(),
            Some(Host::Ipv4(address)) => address.to_string(),
            Some(Host::Ipv6(address)) => address.to_string(),
            None => String::new(),
        }
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    pub(crate) fn is_http(&self) -> bool {
        self.url.scheme() == "http"
    }

    /// The address when the host is an IP literal.
    pub(crate) fn ip_literal(&self) -> Option<IpAddr> {
        match self.url.host() {
            Some(Host::Ipv4(address)) => Some(IpAddr::V4(address)),
            Some(Host::Ipv6(address)) => Some(IpAddr::V6(address)),
            _ => None,
        }
    }
}

impl fmt::Display for GitUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.url.as_str())
    }
}

/// A URL from a repository's configuration, for display: user info removed.
pub(crate) fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        // Not a URL (scp-like `user@host:path`, a local path): keep what follows an '@'.
        Err(_) => match raw.rsplit_once('@') {
            Some((_, rest)) => rest.to_owned(),
            None => raw.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_debug_hides_the_token() {
        let credential = Credential { username: "me".into(), token: "s3cr3t".into() };
        let shown = format!("{credential:?}");
        assert!(shown.contains("me") && !shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn redact_url_drops_user_info() {
        assert_eq!(redact_url("https://u:p@example.com/r.git"), "https://example.com/r.git");
        assert_eq!(redact_url("https://example.com/r.git"), "https://example.com/r.git");
        assert_eq!(redact_url("git@example.com:r.git"), "example.com:r.git");
    }

    #[test]
    fn host_and_port_come_from_the_url() {
        let policy = NetworkPolicy { allow_private: true, ..NetworkPolicy::default() };
        let url = GitUrl::parse("https://Example.COM:8443/a/b.git", &policy).expect("valid");
        assert_eq!(url.as_str(), "https://example.com:8443/a/b.git");
        assert_eq!((url.host(), url.port()), ("example.com".to_owned(), 8443));
        let url = GitUrl::parse("https://[::1]/x", &policy).expect("valid");
        assert_eq!((url.host(), url.port()), ("::1".to_owned(), 443));
    }
}
