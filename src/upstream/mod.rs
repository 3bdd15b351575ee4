//! One query to one authoritative server.
//!
//! The walker decides *what* to ask and *whom*; an [`Upstream`] only carries
//! one question to one server address and brings back the reply that matches
//! it, or an error. This is the seam tests use to plug in a simulated DNS
//! tree; the real implementation is [`SocketUpstream`].

pub mod socket;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

pub use socket::{SocketUpstream, UpstreamConfig};

/// The question sent upstream (class IN). Recursion is never asked for
/// (RD=0): authoritative servers are queried iteratively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamQuery {
    /// QNAME.
    pub name: Name,
    /// QTYPE.
    pub qtype: RecordType,
    /// Send EDNS0 first (false for a server known not to support it: it
    /// would cost a FORMERR round trip every time).
    pub edns: bool,
    /// Set DO (RFC 3225) so that the server sends RRSIGs and NSEC/NSEC3
    /// records: on when validating.
    pub dnssec_ok: bool,
}

/// Why no usable reply came back.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No matching reply within the timeout.
    #[error("timed out")]
    Timeout,
    /// The address family has no route or no source address here
    /// (ENETUNREACH, EADDRNOTAVAIL): skipped at once rather than waited on.
    /// A single unreachable host (EHOSTUNREACH) is an `Io` error instead.
    #[error("unreachable: {0}")]
    Unreachable(io::Error),
    /// Any other socket error.
    #[error("i/o error: {0}")]
    Io(io::Error),
    /// The reply could not be parsed, or TCP framing was broken.
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// Not sent: too many queries already in flight (the bound named:
    /// `zone`, `server` or `total`; see `resolver::inflight`). The server
    /// is skipped for this walk but nothing is learned about it: it is
    /// not a timeout and not lameness.
    #[error("not sent: too many upstream queries in flight ({0} limit)")]
    Throttled(&'static str),
}

impl UpstreamError {
    /// Sorts an I/O error into "no route" or other.
    pub fn from_io(e: io::Error) -> Self {
        use io::ErrorKind::*;
        match e.kind() {
            AddrNotAvailable | NetworkUnreachable => Self::Unreachable(e),
            TimedOut => Self::Timeout,
            _ => Self::Io(e),
        }
    }
}

/// Sends one query to one server and returns its reply.
///
/// Guarantees of an implementation: the reply returned came from `server`,
/// answers exactly `query` (same name, type and class) and carries the ID
/// that was sent; transport details (EDNS and its fallback, TC → TCP, case
/// randomisation) are handled inside. It returns within `timeout`: a reply,
/// or [`UpstreamError::Timeout`], or another [`UpstreamError`] sooner.
pub trait Upstream: Send + Sync + 'static {
    /// Asks `server` the question `query`, waiting at most `timeout`.
    fn query(
        &self,
        server: SocketAddr,
        query: &UpstreamQuery,
        timeout: Duration,
    ) -> impl Future<Output = Result<Message, UpstreamError>> + Send;
}
