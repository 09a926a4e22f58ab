//! The HTTP clients that reach assistant endpoints, and the rules for the URLs
//! an org may set.
//!
//! Two clients: the instance's endpoint is the admin's choice and may be
//! anywhere (a local Ollama on loopback), so its client resolves names as the
//! system does. An org's endpoint is a user's input, so its client goes
//! through the outbound policy (the SSRF guard git uses): its resolver
//! refuses a host unless every address it resolves to is allowed, and the
//! connection is made to exactly those addresses, so a second DNS answer
//! cannot swap in another one. IP-literal hosts never reach a resolver; they
//! are checked when the URL is set and again before each request. Neither
//! client follows redirects (a redirect could lead anywhere).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dockyard_domain::net::{ForbiddenAddress, OutboundPolicy};
use dockyard_domain::validate::ValidationError;
use reqwest::Url;

use crate::OutboundConfig;

/// The longest endpoint URL accepted.
pub(crate) const MAX_URL_BYTES: usize = 2048;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves host names and refuses those with an address the policy forbids.
struct PolicyResolver {
    policy: OutboundPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() {
                return Err(Box::<dyn std::error::Error + Send + Sync>::from(format!("{host} has no address")));
            }
            policy.check_all(addresses.iter().map(SocketAddr::ip)).map_err(|error| Box::new(error) as BoxError)?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client for assistant endpoints; `policy` set for endpoints users chose.
pub(crate) fn build_client(
    outbound: &OutboundConfig,
    policy: Option<OutboundPolicy>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("dockyard/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &outbound.extra_ca_file {
        let pem = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|error| format!("{} is not a PEM bundle: {error}", path.display()))?
        {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(policy) = policy {
        // A proxy would resolve the name itself, past the policy.
        builder = builder.no_proxy().dns_resolver(Arc::new(PolicyResolver { policy }));
    }
    builder.build().map_err(|error| format!("cannot build the assistant's HTTP client: {error}"))
}

/// Whether a request failed because the policy refused the endpoint's address.
pub(crate) fn is_forbidden_address(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<ForbiddenAddress>() {
            return true;
        }
        source = current.source();
    }
    false
}

fn invalid(code: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError::new("base_url", code, message)
}

/// The endpoint URL without a trailing slash: `/chat/completions` is appended to it.
pub(crate) fn normalized(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// Parses an endpoint URL: http(s), a host, no user info, query or fragment.
pub(crate) fn parse_endpoint_url(raw: &str) -> Result<Url, ValidationError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(invalid("assistant_invalid_url", "the URL is empty"));
    }
    if raw.len() > MAX_URL_BYTES {
        return Err(invalid("assistant_invalid_url", format!("the URL is longer than {MAX_URL_BYTES} bytes")));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("assistant_invalid_url", "the URL contains whitespace or control characters"));
    }
    let url = Url::parse(raw).map_err(|_| {
        invalid("assistant_invalid_url", "not a URL; use the API's base, e.g. https://api.openai.com/v1")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("assistant_invalid_url", "only http:// and https:// URLs are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("assistant_invalid_url", "the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("assistant_invalid_url", "the URL must not contain credentials; send the key as api_key"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("assistant_invalid_url", "the URL must not have a query or a fragment"));
    }
    Ok(url)
}

/// The address of an IP-literal host.
fn ip_literal(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.strip_prefix('[').and_then(|inner| inner.strip_suffix(']')).unwrap_or(host).parse().ok()
}

/// Checks an org's endpoint URL against the instance's outbound policy: plain
/// http only when the admin allowed it, and no loopback, private or
/// link-local address (an IP literal, or a `localhost` name) unless the admin
/// allowed private networks. Other host names are checked when resolved.
pub(crate) fn check_org_url(url: &Url, outbound: &OutboundConfig) -> Result<(), ValidationError> {
    if url.scheme() == "http" && !outbound.allow_http {
        return Err(invalid("assistant_url_forbidden", "plain http:// is not allowed on this instance; use https://"));
    }
    let policy = OutboundPolicy { allow_private: outbound.allow_private_networks };
    let forbidden = |what: String| {
        invalid(
            "assistant_url_forbidden",
            format!("{what} is not a public address, and this instance does not allow private networks"),
        )
    };
    if let Some(address) = ip_literal(url) {
        policy.check(address).map_err(|_| forbidden(address.to_string()))?;
    } else if let Some(host) = url.host_str() {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !policy.allow_private && (host == "localhost" || host.ends_with(".localhost")) {
            return Err(forbidden(host));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(allow_private_networks: bool, allow_http: bool) -> OutboundConfig {
        OutboundConfig { allow_private_networks, allow_http, ..OutboundConfig::default() }
    }

    fn check(raw: &str, config: &OutboundConfig) -> Result<(), &'static str> {
        let url = parse_endpoint_url(raw).map_err(|error| error.code)?;
        check_org_url(&url, config).map_err(|error| error.code)
    }

    #[test]
    fn public_https_urls_pass_and_private_ones_need_the_admin() {
        let strict = outbound(false, false);
        assert_eq!(check("https://api.openai.com/v1", &strict), Ok(()));
        assert_eq!(check("https://93.184.216.34/v1", &strict), Ok(()));
        for private in [
            "https://127.0.0.1:11434/v1",
            "https://10.0.0.5/v1",
            "https://169.254.169.254/latest",
            "https://[::1]/v1",
            "https://[::ffff:192.168.1.1]/v1",
            "https://localhost/v1",
            "https://ollama.localhost./v1",
        ] {
            assert_eq!(check(private, &strict), Err("assistant_url_forbidden"), "{private}");
        }
        assert_eq!(check("http://api.example.com/v1", &strict), Err("assistant_url_forbidden"));
        let open = outbound(true, true);
        assert_eq!(check("http://127.0.0.1:11434/v1", &open), Ok(()));
        assert_eq!(check("https://localhost/v1", &open), Ok(()));
    }

    #[test]
    fn malformed_urls_are_refused() {
        let open = outbound(true, true);
        for bad in [
            "",
            "api.openai.com/v1",
            "ftp://example.com/v1",
            "https://user:pass@example.com/v1",
            "https://example.com/v1?key=1",
            "https://example.com/v1#x",
            "https://exa mple.com/v1",
        ] {
            assert_eq!(check(bad, &open), Err("assistant_invalid_url"), "{bad:?}");
        }
        let url = parse_endpoint_url("https://API.example.com/v1/").expect("valid");
        assert_eq!(normalized(&url), "https://api.example.com/v1");
    }

    #[tokio::test]
    async fn the_policy_resolver_refuses_loopback_names() {
        use reqwest::dns::Resolve;
        let resolver = PolicyResolver { policy: OutboundPolicy::PUBLIC_ONLY };
        let name: reqwest::dns::Name = "localhost".parse().expect("a name");
        let error = resolver.resolve(name).await.err().expect("refused");
        assert!(error.is::<ForbiddenAddress>(), "{error}");
        let resolver = PolicyResolver { policy: OutboundPolicy { allow_private: true } };
        let name: reqwest::dns::Name = "localhost".parse().expect("a name");
        assert!(resolver.resolve(name).await.is_ok());
    }
}
