//! The hello-world server: the least work an axum server can do per request.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::routing::get;

/// The line `hello` prints once it listens; the URL follows it.
pub const LISTENING: &str = "hello is listening on ";

/// Serves GET / → "hello" until the process is stopped.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let app = Router::new().route("/", get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{LISTENING}http://{address}")?;
    stdout.flush()?;
    axum::serve(listener, app).await?;
    Ok(())
}
