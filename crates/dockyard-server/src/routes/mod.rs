//! The route table. Each module owns one resource and exports `router()`;
//! this file is the one place that lists them all.

mod admin;
mod agents;
mod assistant;
mod auth;
mod deploy;
pub mod dto;
mod file_index;
mod files;
mod git;
pub mod health;
mod imports;
mod jobs;
mod me;
mod orgs;
mod preferences;
mod projects;
mod search;
mod terminals;
mod tokens;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every documented route. The OpenAPI document is derived from this, and the
/// authorization-matrix test walks that document, so a route cannot be added
/// without the matrix noticing.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(me::router())
        .merge(preferences::router())
        .merge(tokens::router())
        .merge(orgs::router())
        .merge(projects::router())
        .merge(files::router())
        .merge(file_index::router())
        .merge(search::router())
        .merge(jobs::router())
        .merge(imports::router())
        .merge(git::router())
        .merge(terminals::router())
        .merge(deploy::router())
        .merge(agents::router())
        .merge(assistant::router())
        .merge(admin::router())
}
