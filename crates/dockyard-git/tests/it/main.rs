//! Integration tests of dockyard-git on real repositories made with the `git`
//! CLI, whose output every result is checked against. The network tests run
//! against the crate's own smart-HTTP test server (feature `test-server`).

mod local;
#[cfg(feature = "test-server")]
mod network;
mod support;
mod urls;
mod worktree;
