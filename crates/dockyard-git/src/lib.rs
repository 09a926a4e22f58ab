//! Git for workspaces (being written: see the helper's brief).
