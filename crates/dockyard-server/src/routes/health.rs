//! Liveness, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub database: &'static str,
    pub schema_version: Option<i64>,
    /// Agent profiles and their circuit breakers on this replica; informational,
    /// an open breaker does not make the replica unready.
    pub agents: AgentsReadiness,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentsReadiness {
    /// `false`: no agent profile is configured (the degraded mode: sessions answer 503 `agents_not_configured`).
    pub configured: bool,
    pub profiles: Vec<AgentProfileReadiness>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentProfileReadiness {
    pub name: String,
    /// `closed` (healthy), `open` (failing fast) or `half_open`.
    pub breaker: &'static str,
    pub consecutive_failures: u32,
}

/// Readiness: 200 once the database is migrated and the container engine connected (or deploys off), 503 before.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Readiness), (status = 503, body = Problem)))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let not_ready = |detail: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail);
    if !state.is_ready() {
        return Err(not_ready(
            "the database is not reachable or not migrated yet, or the container engine is still being connected",
        ));
    }
    let store = state.services.store();
    match store.applied_migration().await {
        Ok(Some(version)) if version >= dockyard_store::Store::latest_migration() => {
            let profiles: Vec<AgentProfileReadiness> = state
                .services
                .agent_profile_healths()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|(name, health)| AgentProfileReadiness {
                    name,
                    breaker: health.state,
                    consecutive_failures: health.consecutive_failures,
                })
                .collect();
            Ok(Json(Readiness {
                status: "ready",
                database: store.dialect().name(),
                schema_version: Some(version),
                agents: AgentsReadiness { configured: !profiles.is_empty(), profiles },
            }))
        }
        Ok(_) => Err(not_ready("migrations are pending")),
        Err(_) => Err(not_ready("the database is not reachable")),
    }
}

/// Prometheus text exposition. Pool gauges are sampled at scrape time.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else { return ApiError::not_found().into_response() };
    let (size, idle) = state.services.store().pool_stats();
    metrics::gauge!("db_pool_connections").set(f64::from(size));
    metrics::gauge!("db_pool_idle_connections").set(idle as f64);
    metrics::gauge!("db_pool_in_use_connections").set((size as usize).saturating_sub(idle) as f64);
    if let Ok(running) = state.services.running_agent_sessions().await {
        metrics::gauge!("agent_sessions_running").set(running as f64);
    }
    metrics::counter!("log_lines_dropped_total").absolute(crate::telemetry::dropped_log_lines() as u64);
    let mut response = handle.render().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
}
