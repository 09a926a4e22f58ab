//! Real sockets on 127.0.0.1:0: upstream servers (hyper), the proxy, clients.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use dockyard_proxy::{Backend, ProxyConfig, Route, RouteStatus, RouteTable, serve};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub type TestBody = BoxBody<Bytes, std::io::Error>;

pub fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed()
}

pub fn empty() -> TestBody {
    Empty::new().map_err(|never: Infallible| match never {}).boxed()
}

/// A body fed from a channel, one frame per message.
pub fn channel_body() -> (mpsc::Sender<Bytes>, TestBody) {
    let (sender, receiver) = mpsc::channel::<Bytes>(16);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|bytes| (Ok::<_, std::io::Error>(Frame::data(bytes)), receiver))
    });
    (sender, BodyExt::boxed(StreamBody::new(stream)))
}

/// An upstream server on a free port.
pub struct Upstream {
    pub addr: SocketAddr,
    pub name: String,
    _task: JoinHandle<()>,
}

impl Upstream {
    pub fn backend(&self) -> Backend {
        Backend { id: format!("container-{}", self.name), addr: self.addr }
    }
}

/// Serves `handler` over HTTP/1.1 and h2c (prior knowledge) on 127.0.0.1:0.
pub async fn upstream<F, Fut>(name: &str, handler: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let response = handler(request);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream { addr, name: name.to_owned(), _task: task }
}

/// An upstream answering its name, the request line and every header it
/// received, one per line (`name: value`), with `x-upstream: {name}`.
pub async fn whoami(name: &str) -> Upstream {
    let label = name.to_owned();
    upstream(name, move |request: Request<Incoming>| {
        let label = label.clone();
        async move {
            let mut text = format!("{label}\n{} {} {:?}\n", request.method(), request.uri(), request.version());
            for (header, value) in request.headers() {
                text.push_str(&format!("{header}: {}\n", value.to_str().unwrap_or("?")));
            }
            let mut response = Response::new(full(text));
            response.headers_mut().insert("x-upstream", label.parse().expect("header"));
            response
        }
    })
    .await
}

/// An upstream that streams the request body back as the response body.
pub async fn echo(name: &str) -> Upstream {
    upstream(name, |request: Request<Incoming>| async move {
        Response::new(request.into_body().map_err(std::io::Error::other).boxed())
    })
    .await
}

/// An address nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

pub fn route(id: &str, host: &str, backends: Vec<Backend>) -> Route {
    Route {
        service: id.to_owned(),
        project: "shop".to_owned(),
        backends,
        status: RouteStatus::Serving,
        ..Route::new(id, host)
    }
}

/// The proxy on a free port.
pub struct Proxy {
    pub addr: SocketAddr,
    pub table: RouteTable,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(config: ProxyConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let table = RouteTable::new();
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, table.clone(), config, async move {
            let _ = stop.await;
        }));
        Self { addr, table, shutdown: Some(shutdown), task }
    }

    pub async fn with_routes(routes: Vec<Route>) -> Self {
        let proxy = Self::start(ProxyConfig::default()).await;
        proxy.table.replace(routes);
        proxy
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub fn http1_client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub fn h2c_client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).http2_only(true).build(HttpConnector::new())
}

/// What a test needs of a response.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

pub async fn collect(response: Response<Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("response body").to_bytes();
    Answer { status: parts.status, headers: parts.headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// GET `path` through the proxy with `Host: host` and extra headers.
pub async fn get_with(proxy: &Proxy, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(proxy.url(path)).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(empty()).expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), http1_client().request(request))
        .await
        .expect("answer in time")
        .expect("response");
    collect(response).await
}

pub async fn get(proxy: &Proxy, host: &str, path: &str) -> Answer {
    get_with(proxy, host, path, &[]).await
}

/// Polls `condition` every few milliseconds for up to five seconds.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The value of `header:` in a whoami body, if the upstream received it.
pub fn seen<'a>(body: &'a str, header: &str) -> Option<&'a str> {
    body.lines().find_map(|line| line.strip_prefix(header).and_then(|rest| rest.strip_prefix(": ")))
}
