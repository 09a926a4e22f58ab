//! Dockyard's vocabulary: ids, validated inputs, roles and scopes, the records
//! the rest of the system passes around, and the one authorization policy.
//!
//! Architecture Invariant: this crate does no I/O and knows nothing of HTTP or SQL.

pub mod agent;
pub mod deploy;
pub mod ids;
pub mod model;
pub mod net;
pub mod policy;
pub mod validate;

pub use ids::*;
pub use model::*;
pub use policy::{Action, Actor, Denied, Grant, Resource, Role, Scope, authorize};
