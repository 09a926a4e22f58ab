//! Integration tests: each starts the real `dockyard` binary (see `support`).

mod support;

mod accounts;
mod agents;
mod assistant;
mod auth_security;
mod authz_matrix;
mod cli;
mod deploy;
mod edge;
mod file_index;
mod files;
mod git_api;
mod imports;
mod logging;
mod preferences;
mod search;
mod terminals;
mod web_assets;
