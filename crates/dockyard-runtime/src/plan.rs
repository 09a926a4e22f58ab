//! Stack detection (being written).
