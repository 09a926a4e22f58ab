//! A git smart-HTTP server for tests (feature `test-server`): `git http-backend`
//! run as a CGI behind axum, over plain HTTP or TLS (a throwaway CA made with
//! rcgen), optionally behind HTTP basic authentication. Pushes are enabled.
//!
//! It runs on its own thread with its own tokio runtime, so sync and async
//! tests can both use it, and stops when dropped.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::cli::ScratchDir;

/// The largest request body accepted (a push's pack).
const MAX_BODY: usize = 512 * 1024 * 1024;

/// How the server is set up.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Serve https with a certificate for `localhost`, `127.0.0.1` and `::1`.
    pub tls: bool,
    /// Require this username and password.
    pub basic_auth: Option<(String, String)>,
    /// Send response bodies at about this many bytes a second, as a slow
    /// remote would (a clone then takes a while to arrive).
    pub bytes_per_second: Option<u64>,
}

/// A running server; stops on drop.
pub struct GitHttpServer {
    address: SocketAddr,
    tls: bool,
    ca_pem: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Holds the CA file; removed when the server goes.
    _files: ScratchDir,
}

struct ServerState {
    repos_root: PathBuf,
    basic_auth: Option<(String, String)>,
    bytes_per_second: Option<u64>,
}

impl GitHttpServer {
    /// Serves the repositories under `repos_root` (each `<name>` or `<name>.git`
    /// folder, bare or not) on 127.0.0.1 and a free port.
    pub fn start(repos_root: &Path, options: ServerOptions) -> io::Result<GitHttpServer> {
        let files = ScratchDir::new().map_err(io::Error::other)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let state = Arc::new(ServerState {
            repos_root: repos_root.canonicalize()?,
            basic_auth: options.basic_auth,
            bytes_per_second: options.bytes_per_second,
        });
        let (acceptor, ca_pem) = if options.tls {
            let (acceptor, ca_pem) = make_tls(files.path())?;
            (Some(acceptor), ca_pem)
        } else {
            (None, PathBuf::new())
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("git-http-server".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else { return };
                let app = Router::new().fallback(handle).with_state(state);
                match acceptor {
                    Some(acceptor) => {
                        let listener = TlsListener::new(listener, acceptor, address);
                        tokio::select! {
                            _ = async { axum::serve(listener, app).await } => {}
                            _ = stop => {}
                        }
                    }
                    None => {
                        tokio::select! {
                            _ = async { axum::serve(listener, app).await } => {}
                            _ = stop => {}
                        }
                    }
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(2));
        })?;
        Ok(GitHttpServer {
            address,
            tls: options.tls,
            ca_pem,
            shutdown: Some(shutdown),
            thread: Some(thread),
            _files: files,
        })
    }

    /// The URL of the repository `repo` (a path under the repositories root).
    pub fn url(&self, repo: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/{}", self.address.port(), repo.trim_start_matches('/'))
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The PEM file of the CA that signed the server's certificate (an empty
    /// path when the server is not using TLS).
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A CA and a server certificate signed by it; writes the CA's PEM into `dir`.
fn make_tls(dir: &Path) -> io::Result<(TlsAcceptor, PathBuf)> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let tls_error = |error: rcgen::Error| io::Error::other(error.to_string());

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca_params.distinguished_name.push(DnType::CommonName, "Dockyard test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(tls_error)?).map_err(tls_error)?;

    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])
            .map_err(tls_error)?;
    leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().map_err(tls_error)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(tls_error)?;

    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem())?;

    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    Ok((TlsAcceptor::from(Arc::new(config)), ca_pem))
}

/// Accepts TCP connections and hands axum those whose TLS handshake succeeded;
/// handshakes run concurrently so one slow client does not stall the rest.
struct TlsListener {
    connections: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    fn new(listener: TcpListener, acceptor: TlsAcceptor, local: SocketAddr) -> TlsListener {
        let (sender, connections) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        let _ = sender.send((stream, peer)).await;
                    }
                });
            }
        });
        TlsListener { connections, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    match serve_git(&state, request).await {
        Ok(response) => response,
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Checks basic auth; returns the user, or the 401 to answer with.
fn authenticate(state: &ServerState, request: &Request) -> Result<Option<String>, Box<Response>> {
    let Some((user, password)) = &state.basic_auth else { return Ok(None) };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok());
    if presented.as_deref() == Some(format!("{user}:{password}").as_str()) {
        Ok(Some(user.clone()))
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
            "authentication required\n",
        )
            .into_response()
            .into())
    }
}

async fn serve_git(state: &ServerState, request: Request) -> io::Result<Response> {
    let user = match authenticate(state, &request) {
        Ok(user) => user,
        Err(response) => return Ok(*response),
    };
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(io::Error::other)?;
    let header_text =
        |name: HeaderName| parts.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);

    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()))
        .env("HOME", &state.repos_root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &state.repos_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(content_type) = header_text(header::CONTENT_TYPE) {
        command.env("CONTENT_TYPE", content_type);
    }
    if let Some(encoding) = header_text(header::CONTENT_ENCODING) {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    if let Some(protocol) = header_text(HeaderName::from_static("git-protocol")) {
        command.env("HTTP_GIT_PROTOCOL", protocol);
    }
    if let Some(user) = user {
        command.env("REMOTE_USER", user).env("AUTH_TYPE", "Basic");
    }
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(|| io::Error::other("no stdin"))?;
    let mut stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
        let _ = stdin.shutdown().await;
    });
    let mut output = Vec::new();
    stdout.read_to_end(&mut output).await?;
    let _ = writer.await;
    child.wait().await?;
    cgi_response(&output, state.bytes_per_second)
}

/// The body, sent in slices of a tenth of `bytes_per_second`, one every 100 ms.
fn throttled(body: Vec<u8>, bytes_per_second: u64) -> Body {
    let slice = usize::try_from(bytes_per_second / 10).unwrap_or(usize::MAX).max(1);
    let chunks: Vec<Vec<u8>> = body.chunks(slice).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, io::Error>(chunk)
    });
    Body::from_stream(stream)
}

/// Turns a CGI response (headers, a blank line, the body) into an HTTP response.
fn cgi_response(output: &[u8], bytes_per_second: Option<u64>) -> io::Result<Response> {
    let (head, body) = match find(output, b"\r\n\r\n") {
        Some(at) => (&output[..at], &output[at + 4..]),
        None => match find(output, b"\n\n") {
            Some(at) => (&output[..at], &output[at + 2..]),
            None => return Err(io::Error::other("git http-backend sent no headers")),
        },
    };
    let body = match bytes_per_second {
        Some(rate) => throttled(body.to_vec(), rate),
        None => Body::from(body.to_vec()),
    };
    let mut response = Response::new(body);
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|code| code.parse::<u16>().ok()).unwrap_or(500);
            *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.trim()), HeaderValue::from_str(value)) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}
