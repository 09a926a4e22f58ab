//! Terminals of a project: open, list, read, close, and the WebSocket a browser
//! tab (or any client) attaches with. Developers and up only, listing included.
//!
//! The WebSocket protocol (`GET …/terminals/{terminal}/ws?after=N`):
//!
//! - server → client **binary** frames are output: 8 bytes, the big-endian
//!   offset of the frame's first byte in the terminal's output, then the bytes.
//!   A client resumes with `after` = the offset of the last frame plus its length.
//! - server → client **text** frames are JSON control messages:
//!   `{"type":"hello","id":…,"offset":N,"gap":bool,"cols":C,"rows":R}` first
//!   (`offset` is where the replay starts; `gap` says output between `after` and
//!   `offset` is lost to the ring), then `{"type":"exit","code":N}` once the shell
//!   exited (the server closes the socket after it).
//! - client → server **binary** frames are input bytes; **text** frames are JSON,
//!   `{"type":"input","data":"…"}` or `{"type":"resize","cols":C,"rows":R}`
//!   (1..=1000). Anything else closes the socket with 1008 (policy violation)
//!   and the reason.
//!
//! A client that cannot keep up is not buffered for: its live output is
//! resynchronised from the ring (a `gap` is possible only beyond the ring), and
//! one whose socket accepts nothing for [`SEND_TIMEOUT`] is dropped.

use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dockyard_domain::{ProjectId, TerminalId};
use dockyard_services::{ServiceError, TerminalAttachment, TerminalEvent, TerminalInfo, TerminalInput};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, Ctx, path_id};
use crate::state::AppState;

/// How long one frame may take to reach a client before it is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest output frame (a replay is cut into frames of this size).
const MAX_FRAME: usize = 64 * 1024;
/// WebSocket close codes (RFC 6455).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_INTERNAL: u16 = 1011;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_terminals, create_terminal))
        .routes(routes!(get_terminal, delete_terminal))
        .routes(routes!(connect))
}

fn ids(project: &str, terminal: &str) -> ApiResult<(ProjectId, TerminalId)> {
    Ok((path_id(project)?, path_id(terminal)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TerminalDto {
    pub id: String,
    pub project_id: String,
    pub cols: u16,
    pub rows: u16,
    pub created_at: DateTime<Utc>,
    /// The user who opened it.
    pub created_by: String,
    /// Whether the shell has exited (an exited terminal stays listed for a minute).
    pub exited: bool,
    /// The shell's exit code; 128 + the signal when a signal ended it.
    pub exit_code: Option<i32>,
}

impl From<TerminalInfo> for TerminalDto {
    fn from(info: TerminalInfo) -> Self {
        Self {
            id: info.id.to_string(),
            project_id: info.project_id.to_string(),
            cols: info.cols,
            rows: info.rows,
            created_at: info.created_at,
            created_by: info.created_by.to_string(),
            exited: info.exited,
            exit_code: info.exit_code,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TerminalListDto {
    pub terminals: Vec<TerminalDto>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTerminalRequest {
    /// Columns, 1..=1000; 80 when absent.
    pub cols: Option<u16>,
    /// Rows, 1..=1000; 24 when absent.
    pub rows: Option<u16>,
}

/// Opens a shell in the project's workspace. It runs on the host as the user
/// running Dockyard (single-user mode) until closed, idle for
/// `terminal.idle_timeout_seconds`, or exited.
#[utoipa::path(post, path = "/api/v1/projects/{project}/terminals", tag = "terminals",
    params(("project" = String, Path)), request_body = CreateTerminalRequest,
    responses((status = 201, body = TerminalDto), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "`terminal_limit_reached` or `terminal_size_invalid`")))]
async fn create_terminal(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<CreateTerminalRequest>,
) -> ApiResult<(StatusCode, Json<TerminalDto>)> {
    let project: ProjectId = path_id(&project)?;
    let info = state.services.create_terminal(&caller.actor, &project, body.cols, body.rows, &context).await?;
    Ok((StatusCode::CREATED, Json(info.into())))
}

/// The project's terminals (open, and recently exited ones).
#[utoipa::path(get, path = "/api/v1/projects/{project}/terminals", tag = "terminals",
    params(("project" = String, Path)),
    responses((status = 200, body = TerminalListDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_terminals(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<TerminalListDto>> {
    let project: ProjectId = path_id(&project)?;
    let terminals = state.services.list_terminals(&caller.actor, &project).await?;
    Ok(Json(TerminalListDto { terminals: terminals.into_iter().map(TerminalDto::from).collect() }))
}

#[utoipa::path(get, path = "/api/v1/projects/{project}/terminals/{terminal}", tag = "terminals",
    params(("project" = String, Path), ("terminal" = String, Path)),
    responses((status = 200, body = TerminalDto), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_terminal(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((project, terminal)): Path<(String, String)>,
) -> ApiResult<Json<TerminalDto>> {
    let (project, terminal) = ids(&project, &terminal)?;
    Ok(Json(state.services.get_terminal(&caller.actor, &project, &terminal).await?.into()))
}

/// Kills the terminal's shell and everything it started, and forgets the terminal.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/terminals/{terminal}", tag = "terminals",
    params(("project" = String, Path), ("terminal" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_terminal(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Ctx(context): Ctx,
    Path((project, terminal)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (project, terminal) = ids(&project, &terminal)?;
    state.services.close_terminal(&caller.actor, &project, &terminal, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectParams {
    /// The offset of the first output byte wanted (what the client already has);
    /// 0 when absent: everything the ring still holds.
    pub after: Option<u64>,
}

/// Attaches to a terminal over a WebSocket (see the module documentation for
/// the protocol). Binary frames from the server: 8-byte big-endian offset, then
/// output bytes. Text frames: `{"type":"hello","id","offset","gap","cols","rows"}`
/// first, `{"type":"exit","code"}` at the end. From the client: binary input
/// bytes, or JSON `{"type":"input","data"}` / `{"type":"resize","cols","rows"}`.
/// The session cookie needs a same-site `Origin` (403 `ws_origin_mismatch`
/// otherwise, the CSRF rule); bearer tokens need none.
#[utoipa::path(get, path = "/api/v1/projects/{project}/terminals/{terminal}/ws", tag = "terminals",
    params(("project" = String, Path), ("terminal" = String, Path), ConnectParams),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 403, body = Problem, description = "`forbidden`, `insufficient_scope` or `ws_origin_mismatch`"),
        (status = 404, body = Problem), (status = 426, body = Problem, description = "not a WebSocket upgrade"),
        (status = 429, body = Problem, description = "`terminal_connections_exhausted`")))]
async fn connect(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((project, terminal)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ConnectParams>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // Browsers send cookies with cross-site WebSocket handshakes and CORS does not
    // apply to them, so the origin is checked here, by the CSRF middleware's rule.
    crate::middleware::check_websocket_origin(&headers, &state)?;
    let (project, terminal) = ids(&project, &terminal)?;
    // Authorize (and find the terminal) before anything else answers.
    state.services.get_terminal(&caller.actor, &project, &terminal).await?;
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(StatusCode::UPGRADE_REQUIRED, "websocket_required", "this route only speaks WebSocket")
    })?;
    let Some(connection) = state.services.register_terminal_connection(&caller.user.id) else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "terminal_connections_exhausted",
            format!(
                "at most {} terminal connections per user; close a terminal tab first",
                state.config.terminal.max_connections_per_user
            ),
        ));
    };
    let attachment =
        state.services.attach_terminal(&caller.actor, &project, &terminal, params.after.unwrap_or(0)).await?;
    let stopped = state.stopped();
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            let _connection = connection;
            let (sink, stream) = socket.split();
            handle(sink, stream, attachment, stopped).await;
        })
        .into_response())
}

/// A client's control message.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Input { data: String },
    Resize { cols: u16, rows: u16 },
}

/// Why the socket loop ended.
enum Ending {
    /// The client closed or went away; nothing more to send.
    Gone,
    /// Send this close frame.
    Close(u16, String),
}

/// The socket logic, apart from axum so tests can drive it with any sink and
/// stream: the hello and the replay, then live output out and input in, until
/// the shell exits, the client leaves, it breaks the protocol, or `stop` resolves.
pub async fn handle<S, R, E>(mut sink: S, mut stream: R, attachment: TerminalAttachment, stop: impl Future<Output = ()>)
where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    let TerminalAttachment { info, replay, mut output, input } = attachment;
    let hello = serde_json::json!({
        "type": "hello",
        "id": info.id,
        "offset": replay.offset,
        "gap": replay.gap,
        "cols": info.cols,
        "rows": info.rows,
    });
    if send(&mut sink, text(&hello)).await.is_err()
        || send_output(&mut sink, replay.offset, &replay.bytes).await.is_err()
    {
        return;
    }
    tokio::pin!(stop);
    let ending = loop {
        tokio::select! {
            event = output.recv() => match event {
                Some(TerminalEvent::Output { offset, bytes, .. }) => {
                    if send_output(&mut sink, offset, &bytes).await.is_err() {
                        break Ending::Gone;
                    }
                }
                Some(TerminalEvent::Exit(code)) => {
                    if send(&mut sink, text(&serde_json::json!({ "type": "exit", "code": code }))).await.is_err() {
                        break Ending::Gone;
                    }
                    break Ending::Close(CLOSE_NORMAL, "the shell exited".to_owned());
                }
                None => break Ending::Close(CLOSE_NORMAL, "the terminal was closed".to_owned()),
            },
            message = stream.next() => match message {
                Some(Ok(message)) => {
                    if let Err(ending) = on_message(&input, message).await {
                        break ending;
                    }
                }
                Some(Err(_)) | None => break Ending::Gone,
            },
            () = &mut stop => break Ending::Close(CLOSE_GOING_AWAY, "the server is shutting down".to_owned()),
        }
    };
    if let Ending::Close(code, reason) = ending {
        let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
        let _ = send(&mut sink, Message::Close(Some(frame))).await;
    }
}

/// Applies one client frame to the terminal.
async fn on_message(input: &TerminalInput, message: Message) -> Result<(), Ending> {
    let outcome = match message {
        Message::Binary(bytes) => input.write(&bytes).await,
        Message::Text(text) => match serde_json::from_str::<ClientMessage>(text.as_str()) {
            Ok(ClientMessage::Input { data }) => input.write(data.as_bytes()).await,
            Ok(ClientMessage::Resize { cols, rows }) => input.resize(cols, rows).await,
            Err(error) => return Err(Ending::Close(CLOSE_POLICY, format!("invalid message: {error}"))),
        },
        Message::Close(_) => return Err(Ending::Gone),
        // tungstenite answers pings itself.
        Message::Ping(_) | Message::Pong(_) => Ok(()),
    };
    match outcome {
        Ok(()) => Ok(()),
        Err(ServiceError::Invalid(invalid)) => {
            Err(Ending::Close(CLOSE_POLICY, format!("{}: {}", invalid.field, invalid.message)))
        }
        // Input after the exit is dropped; the exit message is on its way.
        Err(ServiceError::Conflict { .. }) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "terminal input failed");
            Err(Ending::Close(CLOSE_INTERNAL, "the terminal failed".to_owned()))
        }
    }
}

fn text(value: &serde_json::Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

/// Sends output from `offset` on, in frames of at most [`MAX_FRAME`] bytes.
async fn send_output<S: Sink<Message> + Unpin>(sink: &mut S, offset: u64, bytes: &[u8]) -> Result<(), ()> {
    let mut offset = offset;
    for chunk in bytes.chunks(MAX_FRAME) {
        send(sink, output_frame(offset, chunk)).await?;
        offset += chunk.len() as u64;
    }
    Ok(())
}

fn output_frame(offset: u64, bytes: &[u8]) -> Message {
    let mut frame = Vec::with_capacity(8 + bytes.len());
    frame.extend_from_slice(&offset.to_be_bytes());
    frame.extend_from_slice(bytes);
    Message::Binary(Bytes::from(frame))
}

/// Sends one frame, giving up on a client that takes longer than [`SEND_TIMEOUT`].
async fn send<S: Sink<Message> + Unpin>(sink: &mut S, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}
