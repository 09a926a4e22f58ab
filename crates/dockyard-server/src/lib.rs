//! The HTTP layer: config, `AppState`, extractors, errors, middleware, routes,
//! the OpenAPI document, and `serve`.
//!
//! Architecture Invariant: this is the only crate that knows HTTP, JSON wire
//! shapes and axum. Handlers parse, call one service method and respond; they
//! hold no SQL and check no roles.

pub mod access_lines;
mod app;
pub mod config;
mod deploy;
mod error;
mod extract;
mod middleware;
mod openapi;
mod routes;
mod state;
pub mod telemetry;

pub use app::{Server, router, shutdown_signal, with_edge_layers};
pub use config::{Config, ConfigError};
pub use error::{ApiError, Problem};
pub use openapi::openapi_json;
pub use state::AppState;
