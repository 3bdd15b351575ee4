//! rootward: a caching recursive DNS resolver.
//!
//! One query's path: `server` (UDP/TCP listener, request checks, truncation)
//! → `cache` (answer cache hit: done) → `resolver` (the walker, from the
//! closest cached zone cut down to the answer) → `upstream` (one query to one
//! authoritative server) → `resolver::scrub` (bailiwick) → `cache` → back to
//! the listener. Modules only call down this chain, never back up.
#![forbid(unsafe_code)]

pub mod app;
pub mod cache;
pub mod clock;
pub mod config;
pub mod control;
pub mod dnssec;
pub mod ede;
pub mod metrics;
pub mod names;
pub mod policy;
pub mod privileges;
pub mod resolver;
pub mod root_hints;
pub mod server;
pub mod upstream;
