//! Per-server state for server selection (being written).
