//! Importing archives into a folder (being written: see the helper's brief).
