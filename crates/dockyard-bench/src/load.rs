//! The load generator: N persistent HTTP/1.1 connections, one task each, each
//! sending GET requests back to back (keep-alive, no pipelining) for a bounded
//! time. Every response's latency goes into a histogram; non-2xx answers and
//! transport failures count as errors.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bounds that keep a run from turning into something else.
pub const MAX_CONNECTIONS: usize = 4096;
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// A request that takes longer than this fails, and its connection is replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before reconnecting after a connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// Where the load goes: a loopback address and the request target.
#[derive(Clone, Debug)]
pub struct Target {
    pub address: SocketAddr,
    /// The `Host` header.
    pub authority: String,
    pub path_and_query: String,
}

impl Target {
    /// Parses an `http://` URL on a loopback address (127.0.0.0/8, ::1 or `localhost`).
    /// Anything else is refused: this tool never sends load off the machine.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url.parse().with_context(|| format!("{url:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("{url:?}: only http:// URLs are supported");
        }
        let authority = uri.authority().with_context(|| format!("{url:?} names no host"))?;
        let host = authority.host();
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .with_context(|| format!("{url:?}: the host must be a loopback IP address such as 127.0.0.1"))?
        };
        if !ip.is_loopback() {
            bail!("{url:?}: refusing to send load to {ip}; only loopback addresses (127.0.0.1) are allowed");
        }
        let port = authority.port_u16().unwrap_or(80);
        let path_and_query = uri.path_and_query().map_or_else(|| "/".to_owned(), |path| path.as_str().to_owned());
        Ok(Self { address: SocketAddr::new(ip, port), authority: authority.as_str().to_owned(), path_and_query })
    }
}

/// Parses a `Name: value` header argument.
pub fn parse_header(raw: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let (name, value) = raw.split_once(':').with_context(|| format!("header {raw:?} is not `Name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).with_context(|| format!("bad header name in {raw:?}"))?;
    let value = HeaderValue::from_str(value.trim()).with_context(|| format!("bad header value in {raw:?}"))?;
    Ok((name, value))
}

pub struct LoadConfig {
    pub target: Target,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// What one run measured. Latencies are in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// Requests started after the warm-up that completed (answered or failed).
    pub requests: u64,
    /// Non-2xx answers plus transport failures (connect, I/O, timeouts).
    pub errors: u64,
    /// The measured time: from the end of the warm-up to the last completion.
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One connection task's tally.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    requests: u64,
    errors: u64,
    last_done: Option<Instant>,
}

struct Shared {
    target: Target,
    headers: HeaderMap,
    warm_end: Instant,
    end: Instant,
}

impl Shared {
    fn request(&self) -> anyhow::Result<Request<Empty<Bytes>>> {
        let mut request =
            Request::builder().method(Method::GET).uri(self.target.path_and_query.as_str()).body(Empty::new())?;
        *request.headers_mut() = self.headers.clone();
        Ok(request)
    }
}

/// Runs the load and answers the report. Stops by itself after warm-up + duration
/// (plus at most one request timeout for requests in flight).
pub async fn run(config: &LoadConfig) -> anyhow::Result<LoadReport> {
    if config.connections == 0 || config.connections > MAX_CONNECTIONS {
        bail!("connections must be between 1 and {MAX_CONNECTIONS}");
    }
    if config.duration.is_zero() || config.duration + config.warmup > MAX_DURATION {
        bail!("the duration must be positive and, with the warm-up, at most {} s", MAX_DURATION.as_secs());
    }
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_str(&config.target.authority)?);
    for (name, value) in &config.headers {
        headers.append(name.clone(), value.clone());
    }
    let start = Instant::now();
    let warm_end = start + config.warmup;
    let shared = Arc::new(Shared { target: config.target.clone(), headers, warm_end, end: warm_end + config.duration });
    shared.request().context("cannot build the request")?;

    let tasks: Vec<_> = (0..config.connections).map(|_| tokio::spawn(connection_task(shared.clone()))).collect();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.context("a connection task panicked")?;
        total.requests += tally.requests;
        total.errors += tally.errors;
        total.latencies_us.extend_from_slice(&tally.latencies_us);
        total.last_done = total.last_done.max(tally.last_done);
    }
    let measured_end = total.last_done.unwrap_or(shared.end).max(shared.end);
    let seconds = measured_end.duration_since(warm_end).as_secs_f64();
    total.latencies_us.sort_unstable();
    let latencies = &total.latencies_us;
    Ok(LoadReport {
        requests: total.requests,
        errors: total.errors,
        seconds: round(seconds, 3),
        rps: round(total.requests as f64 / seconds, 1),
        p50_ms: percentile_ms(latencies, 50.0),
        p90_ms: percentile_ms(latencies, 90.0),
        p99_ms: percentile_ms(latencies, 99.0),
        max_ms: latencies.last().map_or(0.0, |&us| round(f64::from(us) / 1000.0, 3)),
    })
}

/// One persistent connection: requests back to back until the end, reconnecting
/// after a failure.
async fn connection_task(shared: Arc<Shared>) -> Tally {
    let mut tally = Tally { latencies_us: Vec::with_capacity(16 * 1024), ..Tally::default() };
    'connect: while Instant::now() < shared.end {
        let mut sender = match tokio::time::timeout(REQUEST_TIMEOUT, connect(shared.target.address)).await {
            Ok(Ok(sender)) => sender,
            Ok(Err(_)) | Err(_) => {
                if Instant::now() >= shared.warm_end {
                    tally.errors += 1;
                }
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue 'connect;
            }
        };
        loop {
            if sender.is_closed() {
                // The server closed the connection (e.g. `Connection: close`): reconnect.
                continue 'connect;
            }
            let started = Instant::now();
            if started >= shared.end {
                break 'connect;
            }
            let Ok(request) = shared.request() else { break 'connect };
            let outcome = tokio::time::timeout(REQUEST_TIMEOUT, send(&mut sender, request)).await;
            let done = Instant::now();
            if started < shared.warm_end {
                if !matches!(outcome, Ok(Ok(_))) {
                    continue 'connect;
                }
                continue;
            }
            tally.requests += 1;
            tally.last_done = Some(done);
            match outcome {
                Ok(Ok(status)) => {
                    let micros = done.duration_since(started).as_micros();
                    tally.latencies_us.push(u32::try_from(micros).unwrap_or(u32::MAX));
                    if !status.is_success() {
                        tally.errors += 1;
                    }
                }
                Ok(Err(_)) | Err(_) => {
                    tally.errors += 1;
                    continue 'connect;
                }
            }
        }
    }
    tally
}

pub async fn connect(address: SocketAddr) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes the connection.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole body; answers the status.
async fn send(
    sender: &mut SendRequest<Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
) -> anyhow::Result<hyper::StatusCode> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

/// The nearest-rank percentile of sorted microsecond latencies, in milliseconds.
fn percentile_ms(sorted_us: &[u32], percent: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (percent / 100.0 * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    round(f64::from(sorted_us[index]) / 1000.0, 3)
}

pub fn round(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (value * factor).round() / factor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        let target = Target::parse("http://127.0.0.1:8080/api/v1/x?limit=5").expect("loopback");
        assert_eq!(target.address, "127.0.0.1:8080".parse().expect("address"));
        assert_eq!(target.path_and_query, "/api/v1/x?limit=5");
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert!(Target::parse("http://localhost:1/").is_ok());
        assert!(Target::parse("http://[::1]:1/").is_ok());
        assert!(Target::parse("http://10.0.0.1:80/").is_err());
        assert!(Target::parse("http://example.com/").is_err());
        assert!(Target::parse("https://127.0.0.1/").is_err());
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&sorted, 50.0), 50.0);
        assert_eq!(percentile_ms(&sorted, 99.0), 99.0);
        assert_eq!(percentile_ms(&sorted, 100.0), 100.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }

    #[test]
    fn headers_parse() {
        let (name, value) = parse_header("Authorization: Bearer abc").expect("header");
        assert_eq!(name, "authorization");
        assert_eq!(value, "Bearer abc");
        assert!(parse_header("no colon").is_err());
    }
}
