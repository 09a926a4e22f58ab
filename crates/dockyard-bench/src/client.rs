//! A tiny one-shot HTTP/1.1 client for preparing a benchmark (setup, projects,
//! tokens): one connection per request, JSON in and out.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::load::Target;

const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("the answer is not JSON: {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Fails unless the status is `expected`, quoting the body.
    pub fn expect(self, expected: StatusCode, what: &str) -> anyhow::Result<Self> {
        if self.status != expected {
            bail!("{what}: expected {expected}, got {}: {}", self.status, self.text());
        }
        Ok(self)
    }
}

/// Sends one request to `url` (a loopback URL) with optional JSON body and extra headers.
pub async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> anyhow::Result<Answer> {
    tokio::time::timeout(TIMEOUT, call_inner(method, url, headers, body))
        .await
        .with_context(|| format!("{url}: no answer in time"))?
}

async fn call_inner(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> anyhow::Result<Answer> {
    let target = Target::parse(url)?;
    let stream =
        TcpStream::connect(target.address).await.with_context(|| format!("cannot connect to {}", target.address))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let bytes = match body {
        Some(value) => Bytes::from(serde_json::to_vec(value)?),
        None => Bytes::new(),
    };
    let mut request = Request::builder().method(method).uri(target.path_and_query.as_str()).body(Full::new(bytes))?;
    let request_headers = request.headers_mut();
    request_headers.insert(HOST, HeaderValue::from_str(&target.authority)?);
    if body.is_some() {
        request_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (name, value) in headers {
        request_headers.append(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
    }
    let response = sender.send_request(request).await.with_context(|| format!("request to {url} failed"))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer { status, headers, body })
}
