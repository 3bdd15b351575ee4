//! The outcome of resolving one question.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Record;

use crate::cache::CachedAnswer;
use crate::clock::Timestamp;

/// What the client gets: an rcode and the answer and authority sections,
/// with TTLs as of the moment it was produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// NOERROR (answer or NODATA), NXDOMAIN or SERVFAIL.
    pub rcode: ResponseCode,
    /// CNAME chain and final records.
    pub answers: Vec<Record>,
    /// The SOA of a negative answer.
    pub authorities: Vec<Record>,
}

impl Resolution {
    /// The answer a failed resolution gives (RFC 1035 §4.1.1 rcode 2).
    pub fn servfail() -> Self {
        Self {
            rcode: ResponseCode::ServFail,
            answers: Vec::new(),
            authorities: Vec::new(),
        }
    }

    /// A cached answer, TTLs counted down to `now`.
    pub fn from_cached(cached: &CachedAnswer, now: Timestamp) -> Self {
        let (answers, authorities) = cached.sections_at(now);
        Self {
            rcode: cached.kind.rcode(),
            answers,
            authorities,
        }
    }
}
