//! Jobs: a long operation's state, and its event log as a Server-Sent Events
//! stream that a client can resume (`Last-Event-ID`) without losing or
//! repeating an event.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dockyard_domain::JobId;
use dockyard_services::{JobRecord, JobStreamItem};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{JobDto, JobStatusDto};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, Caller, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_job)).routes(routes!(job_events))
}

/// One job: its status, progress, and result or error. Anyone who may read the
/// projects of the job's org may read it.
#[utoipa::path(get, path = "/api/v1/jobs/{job}", tag = "jobs", params(("job" = String, Path)), responses(
    (status = 200, body = JobDto), (status = 404, body = Problem)))]
async fn get_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job): Path<String>,
) -> ApiResult<Json<JobDto>> {
    let id: JobId = path_id(&job)?;
    Ok(Json(state.services.job(&caller.actor, &id).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Start after this event id (for clients that cannot send `Last-Event-ID`;
    /// the header wins when both are sent). Default 0: from the beginning.
    pub after: Option<i64>,
}

/// The job's event log as `text/event-stream`: first the stored events after
/// `Last-Event-ID` (or `after`), then live ones as they happen. Each event has
/// `id: <seq>` (1, 2, 3, … without gaps), `event: <kind>` (`state`, `progress`,
/// `log`, …) and `data: <json>`. Once the job is terminal and every event was
/// sent, a final `end` event (no id; data `{"status", "error", "result"}`) is
/// sent and the stream closes. A reconnect with `Last-Event-ID` resumes with
/// nothing lost or repeated. Comments keep idle connections alive.
#[utoipa::path(get, path = "/api/v1/jobs/{job}/events", tag = "jobs",
    params(("job" = String, Path), EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: resume after it")),
    responses(
        (status = 200, content_type = "text/event-stream", body = String, description = "Server-Sent Events"),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn job_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: JobId = path_id(&job)?;
    let after = resume_point(&headers, query.after)?;
    let follower = state.services.follow_job(&caller.actor, &id, after).await?;
    Ok(job_sse(&state, follower))
}

/// Where a resumed event stream starts: `Last-Event-ID`, else `after`, else 0.
pub(crate) fn resume_point(headers: &HeaderMap, after: Option<i64>) -> ApiResult<i64> {
    Ok(match headers.get("last-event-id") {
        Some(value) => {
            value.to_str().ok().and_then(|text| text.trim().parse::<i64>().ok()).filter(|seq| *seq >= 0).ok_or_else(
                || {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_last_event_id",
                        "Last-Event-ID must be the id of an event this stream sent",
                    )
                },
            )?
        }
        None => match after {
            Some(after) if after < 0 => {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "after must not be negative")
                    .field("after"));
            }
            Some(after) => after,
            None => 0,
        },
    })
}

/// A job's event log as Server-Sent Events (see [`job_events`]); also the
/// stream of a deployment's build log.
pub(crate) fn job_sse(state: &AppState, follower: dockyard_services::JobFollower) -> Response {
    let events = follower.into_stream().filter_map(move |item| {
        let event = match item {
            Ok(JobStreamItem::Event(event)) => Some(
                Event::default()
                    .id(event.seq.to_string())
                    .event(event.kind.replace(['\r', '\n'], " "))
                    .data(event.data.to_string()),
            ),
            Ok(JobStreamItem::End(job)) => Some(Event::default().event("end").data(end_data(&job).to_string())),
            // The stream just ends; the client reconnects with Last-Event-ID.
            Err(error) => {
                tracing::warn!(%error, "a job event stream broke off");
                None
            }
        };
        std::future::ready(event.map(Ok::<_, Infallible>))
    });
    // At shutdown the stream ends, so the server can drain; clients reconnect elsewhere.
    let events = events.take_until(state.stopped());
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    // Proxies such as nginx would otherwise buffer the stream.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn end_data(job: &JobRecord) -> serde_json::Value {
    json!({
        "status": JobStatusDto::from(job.state),
        "error": job.error.as_ref().map(|error| json!({ "code": error.code, "message": error.message })),
        "result": job.result,
    })
}
