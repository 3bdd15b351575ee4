//! Per-client query rate limiting and response-rate limiting (being written).
