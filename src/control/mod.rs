//! The control socket and `rootward ctl`.
//!
//! One request's path: `rootward ctl flush example.com` ([`client::run`])
//! builds [`Request::Flush`], connects to the Unix socket (default
//! `/run/rootward/control.sock`, mode 0600 so root only), writes the line
//! `flush example.com`, and waits. The server ([`server::serve_listener`])
//! reads that one line (bounded in size and time), parses it
//! ([`protocol`]), hands it to the application's [`Handler`], writes the
//! response body followed by `OK` or `ERROR <message>`, and closes. The
//! client prints the body, and the message on stderr, and exits 0 or 1.
//!
//! - [`protocol`]: the request line and the response format.
//! - [`server`]: binding (stale sockets, permissions), serving, limits.
//! - [`client`]: the `ctl` subcommand and its error messages.

pub mod client;
pub mod protocol;
pub mod server;

pub use client::{ClientError, request_for, run, send, timeout_for};
pub use protocol::{MAX_REQUEST_LINE, Request, Response};
pub use server::{Handler, MAX_CONTROL_CONNECTIONS, bind, serve, serve_listener};

#[cfg(test)]
mod tests;
