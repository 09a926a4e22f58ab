//! The runtime's integration tests. Engine tests run against the local Docker
//! engine and skip (or fail with CI=true) when there is none.

mod build;
mod context;
mod health;
mod support;
mod workloads;
