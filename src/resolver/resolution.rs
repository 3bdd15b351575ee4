//! The outcome of resolving one question.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Record;

use crate::cache::CachedAnswer;
use crate::clock::Timestamp;
use crate::dnssec::Security;
pub use crate::ede::ExtendedError;

/// TTL of an answer served stale: RFC 8767 §4 recommends 30 s, so that a
/// client comes back soon for fresh data.
pub const STALE_ANSWER_TTL: u32 = 30;

/// What the client gets: an rcode, the answer and authority sections with
/// TTLs as of the moment it was produced, and maybe an extended error.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// NOERROR (answer or NODATA), NXDOMAIN or SERVFAIL.
    pub rcode: ResponseCode,
    /// CNAME chain and final records.
    pub answers: Vec<Record>,
    /// The SOA of a negative answer.
    pub authorities: Vec<Record>,
    /// Why, when it is not a plain answer (RFC 8914); for a bogus answer,
    /// why validation failed.
    pub ede: Option<ExtendedError>,
    /// What DNSSEC validation made of it. A bogus resolution keeps its
    /// data for clients that set CD; everyone else gets SERVFAIL.
    pub security: Security,
}

impl Resolution {
    /// A failure (RFC 1035 §4.1.1 rcode 2) and its reason.
    pub fn servfail(why: ExtendedError) -> Self {
        Self {
            rcode: ResponseCode::ServFail,
            answers: Vec::new(),
            authorities: Vec::new(),
            ede: Some(why),
            security: Security::Unchecked,
        }
    }

    /// A cached answer, TTLs counted down to `now`.
    pub fn from_cached(cached: &CachedAnswer, now: Timestamp) -> Self {
        let (answers, authorities) = cached.sections_at(now);
        Self {
            rcode: cached.kind.rcode(),
            answers,
            authorities,
            ede: cached.ede,
            security: cached.security,
        }
    }

    /// An expired answer served because every authority failed (RFC 8767):
    /// every TTL is [`STALE_ANSWER_TTL`] and the client is told.
    pub fn stale(cached: &CachedAnswer) -> Self {
        let ttl = |mut r: Record| {
            r.ttl = STALE_ANSWER_TTL;
            r
        };
        let (answers, authorities) = cached.records();
        Self {
            rcode: cached.kind.rcode(),
            answers: answers.into_iter().map(ttl).collect(),
            authorities: authorities.into_iter().map(ttl).collect(),
            ede: Some(ExtendedError::STALE_ANSWER),
            security: cached.security,
        }
    }
}

/// The mnemonic `dig` prints for an rcode (RFC 6895 §2.3): NOERROR,
/// NXDOMAIN, SERVFAIL, ... (hickory's `Display` spells them out).
pub fn rcode_name(rcode: ResponseCode) -> String {
    match u16::from(rcode) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        16 => "BADVERS".into(),
        other => format!("RCODE{other}"),
    }
}
