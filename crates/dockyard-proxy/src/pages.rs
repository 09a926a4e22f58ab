//! The proxy's own answers: a clear HTML page, or `application/problem+json`
//! with a stable `code` when the client prefers JSON. They name the host and
//! the service, never a backend address or an upstream error's text.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::table::{Route, RouteStatus};

/// Why the proxy answered itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// No route answers the Host (404).
    RouteNotFound,
    /// No healthy backend while a deployment runs (503, `Retry-After`).
    ServiceDeploying,
    /// No backend: the service was stopped (503).
    ServiceStopped,
    /// No healthy backend: the deployment failed or the containers are unhealthy (503).
    ServiceFailing,
    /// No backend: the service was never deployed (503).
    ServiceNotDeployed,
    /// No backend accepted a connection (502).
    UpstreamUnreachable,
    /// The backend broke the connection or answered with bad HTTP (502).
    UpstreamFailed,
    /// No connection or no response headers in time (504).
    UpstreamTimeout,
}

impl ProxyError {
    /// The error for a route that has no backend.
    pub fn for_status(status: RouteStatus) -> Self {
        match status {
            RouteStatus::Deploying => Self::ServiceDeploying,
            RouteStatus::Stopped => Self::ServiceStopped,
            RouteStatus::Serving | RouteStatus::Failing => Self::ServiceFailing,
            RouteStatus::NotDeployed => Self::ServiceNotDeployed,
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::ServiceDeploying | Self::ServiceStopped | Self::ServiceFailing | Self::ServiceNotDeployed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::UpstreamUnreachable | Self::UpstreamFailed => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::RouteNotFound => "route_not_found",
            Self::ServiceDeploying => "service_deploying",
            Self::ServiceStopped => "service_stopped",
            Self::ServiceFailing => "service_failing",
            Self::ServiceNotDeployed => "service_not_deployed",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UpstreamFailed => "upstream_failed",
            Self::UpstreamTimeout => "upstream_timeout",
        }
    }

    fn headline(self) -> &'static str {
        match self {
            Self::RouteNotFound => "No service here",
            Self::ServiceDeploying => "This service is deploying",
            Self::ServiceStopped => "This service is stopped",
            Self::ServiceFailing => "This service is failing",
            Self::ServiceNotDeployed => "This service has not been deployed yet",
            Self::UpstreamUnreachable => "This service is not reachable",
            Self::UpstreamFailed => "This service gave a broken answer",
            Self::UpstreamTimeout => "This service did not answer in time",
        }
    }

    fn detail(self) -> &'static str {
        match self {
            Self::RouteNotFound => "No service on this Dockyard answers this host name. Check the address.",
            Self::ServiceDeploying => {
                "A deployment is in progress. This page will work once it is healthy; try again shortly."
            }
            Self::ServiceStopped => "Its owner stopped this service. Start it again from Dockyard to serve requests.",
            Self::ServiceFailing => {
                "None of its containers is healthy: the last deployment failed or the service keeps crashing. \
                 Its logs in Dockyard say why."
            }
            Self::ServiceNotDeployed => "The service exists but nothing was deployed yet. Deploy it from Dockyard.",
            Self::UpstreamUnreachable => "Dockyard could not connect to the service's containers. Try again shortly.",
            Self::UpstreamFailed => "The service closed the connection or answered with invalid HTTP.",
            Self::UpstreamTimeout => "The service did not start answering within the proxy's time limit.",
        }
    }
}

/// What an error page says about where it happened.
pub(crate) struct PageContext<'a> {
    pub(crate) host: &'a str,
    pub(crate) route: Option<&'a Route>,
}

/// The status, headers and body of the page for `error`.
pub(crate) fn render(
    error: ProxyError,
    context: &PageContext<'_>,
    accept: Option<&HeaderValue>,
    retry_after: Duration,
) -> (StatusCode, HeaderMap, Bytes) {
    let status = error.status();
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if error == ProxyError::ServiceDeploying {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
    }
    let service = context.route.filter(|route| !route.service.is_empty()).map(|route| route.service.as_str());
    let body = if prefers_json(accept) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        let mut problem = serde_json::json!({
            "type": format!("urn:dockyard:problem:{}", error.code()),
            "title": error.headline(),
            "status": status.as_u16(),
            "detail": error.detail(),
            "code": error.code(),
            "host": context.host,
        });
        if let (Some(service), Some(object)) = (service, problem.as_object_mut()) {
            object.insert("service".into(), service.into());
        }
        Bytes::from(problem.to_string())
    } else {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        Bytes::from(html(error, status, context.host, service))
    };
    (status, headers, body)
}

fn html(error: ProxyError, status: StatusCode, host: &str, service: Option<&str>) -> String {
    let about = match service {
        Some(service) => format!("Service <b>{}</b> at {}", escape(service), escape(host)),
        None => escape(host),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{code} {headline}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:12vh auto;padding:0 1rem;color:#222}}\
         h1{{font-size:1.6rem;margin:0 0 .5rem}}.meta{{color:#666;font-size:.9rem}}code{{background:#f2f2f2;padding:0 .25rem}}</style>\
         </head><body><h1>{headline}</h1><p>{detail}</p>\
         <p class=\"meta\">{about} &middot; {code} &middot; <code>{error_code}</code> &middot; Dockyard</p></body></html>\n",
        code = status.as_u16(),
        headline = error.headline(),
        detail = error.detail(),
        error_code = error.code(),
    )
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(character),
        }
    }
    escaped
}

/// Whether the client's `Accept` ranks JSON above HTML. A browser's
/// (`text/html,…,*/*;q=0.8`) and curl's (`*/*`) get HTML; `application/json`
/// or `application/problem+json` ranked higher gets JSON.
pub(crate) fn prefers_json(accept: Option<&HeaderValue>) -> bool {
    let mut json_q: f32 = 0.0;
    let mut html_q: f32 = 0.0;
    if let Some(value) = accept.and_then(|value| value.to_str().ok()) {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|param| param.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/json" | "application/problem+json" => json_q = json_q.max(q),
                "text/html" | "text/*" | "*/*" => html_q = html_q.max(q),
                _ => {}
            }
        }
    }
    json_q > 0.0 && json_q > html_q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> Option<HeaderValue> {
        Some(HeaderValue::from_static(value))
    }

    #[test]
    fn json_only_when_ranked_above_html() {
        assert!(prefers_json(accept("application/json").as_ref()));
        assert!(prefers_json(accept("application/problem+json, text/html;q=0.5").as_ref()));
        assert!(!prefers_json(accept("text/html,application/xhtml+xml,*/*;q=0.8").as_ref()));
        assert!(!prefers_json(accept("*/*").as_ref()));
        assert!(!prefers_json(None));
    }

    #[test]
    fn html_escapes_the_host() {
        let context = PageContext { host: "<script>", route: None };
        let (_, _, body) = render(ProxyError::RouteNotFound, &context, None, Duration::from_secs(5));
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("&lt;script&gt;"));
        assert!(!body.contains("<script>"));
    }
}
