//! Exporting a workspace (being written: see the helper's brief).
