//! The client side of the CLI's remote commands (`deploy`, `logs`): a server
//! URL and an API token, JSON calls whose problem+json errors become readable
//! messages, and a Server-Sent Events reader that resumes with `Last-Event-ID`.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where the server is and who is asking.
#[derive(Args, Debug, Clone)]
pub struct RemoteArgs {
    /// The Dockyard server's URL (also DOCKYARD_URL).
    #[arg(long, env = "DOCKYARD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API token: `deploy` needs the write scope, `logs` the read scope
    /// (also DOCKYARD_TOKEN; prefer the variable, argv is visible to other
    /// users of the machine).
    #[arg(long, env = "DOCKYARD_TOKEN", hide_env_values = true)]
    pub token: String,
}

pub struct Remote {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Remote {
    pub fn new(args: &RemoteArgs) -> anyhow::Result<Self> {
        let base = args.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--url must start with http:// or https://, not {base:?}");
        }
        if args.token.trim().is_empty() {
            bail!("no API token: set DOCKYARD_TOKEN (create one in the web app or with `dockyard token create`)");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("dockyard-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self { base, token: args.token.trim().to_owned(), http })
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    /// Sends a request and decodes a 2xx JSON answer; any other answer becomes an error.
    pub async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> anyhow::Result<T> {
        let response = self.send(request).await?;
        response.json::<T>().await.context("the server's answer is not the JSON expected")
    }

    /// Sends a request; a non-2xx answer becomes an error that quotes its problem document.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = request.send().await.map_err(|error| connect_error(&self.base, error))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(problem(response).await)
    }
}

fn connect_error(base: &str, error: reqwest::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot reach Dockyard at {base}: {error}")
}

/// A readable error from a problem+json answer (or whatever the body is).
pub async fn problem(response: Response) -> anyhow::Error {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<Value>(&body).ok().map(|problem| {
        let code = problem.get("code").and_then(Value::as_str).unwrap_or("error").to_owned();
        let text =
            problem.get("detail").or_else(|| problem.get("title")).and_then(Value::as_str).unwrap_or("").to_owned();
        (code, text)
    });
    match (status, detail) {
        (StatusCode::UNAUTHORIZED, _) => anyhow::anyhow!("the API token was refused (401): check DOCKYARD_TOKEN"),
        (_, Some((code, text))) => anyhow::anyhow!("{text} ({code}, HTTP {})", status.as_u16()),
        (_, None) => anyhow::anyhow!("HTTP {}: {}", status.as_u16(), body.chars().take(500).collect::<String>()),
    }
}

/// One Server-Sent Event.
#[derive(Debug, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Reads Server-Sent Events from a response body, chunk by chunk.
pub struct SseReader {
    response: Response,
    buffer: Vec<u8>,
    pending: SseEvent,
}

impl SseReader {
    pub fn new(response: Response) -> Self {
        Self { response, buffer: Vec::new(), pending: SseEvent::default() }
    }

    /// The next event; `None` when the stream ended.
    pub async fn next(&mut self) -> anyhow::Result<Option<SseEvent>> {
        loop {
            while let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if self.pending.event.is_empty() && self.pending.data.is_empty() {
                        continue;
                    }
                    let mut event = std::mem::take(&mut self.pending);
                    if event.event.is_empty() {
                        event.event = "message".into();
                    }
                    return Ok(Some(event));
                }
                if line.starts_with(':') {
                    continue; // a keep-alive comment
                }
                let (field, value) = match line.split_once(':') {
                    Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                    None => (line, ""),
                };
                match field {
                    "event" => self.pending.event = value.to_owned(),
                    "data" => {
                        if !self.pending.data.is_empty() {
                            self.pending.data.push('\n');
                        }
                        self.pending.data.push_str(value);
                    }
                    "id" => self.pending.id = Some(value.to_owned()),
                    _ => {}
                }
            }
            match self.response.chunk().await? {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }
}
