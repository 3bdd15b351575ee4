//! The outcome of resolving one question.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Record;

use crate::cache::CachedAnswer;
use crate::clock::Timestamp;

/// TTL of an answer served stale: RFC 8767 §4 recommends 30 s, so that a
/// client comes back soon for fresh data.
pub const STALE_ANSWER_TTL: u32 = 30;

/// An Extended DNS Error (RFC 8914) telling the client why it got what it
/// got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedError {
    /// INFO-CODE (RFC 8914 §4).
    pub code: u16,
    /// EXTRA-TEXT for people reading `dig` output.
    pub text: &'static str,
}

impl ExtendedError {
    /// RFC 8914 §4.1: Other.
    pub const fn other(text: &'static str) -> Self {
        Self { code: 0, text }
    }
    /// RFC 8914 §4.4: Stale Answer.
    pub const STALE_ANSWER: Self = Self {
        code: 3,
        text: "serving stale data: every authority failed",
    };
    /// RFC 8914 §4.14: Cached Error.
    pub const CACHED_ERROR: Self = Self {
        code: 13,
        text: "this question failed moments ago",
    };
    /// RFC 8914 §4.23: No Reachable Authority.
    pub const NO_REACHABLE_AUTHORITY: Self = Self {
        code: 22,
        text: "no authoritative server answered usefully",
    };
}

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
    /// Why, when it is not a plain answer (RFC 8914).
    pub ede: Option<ExtendedError>,
}

impl Resolution {
    /// A failure (RFC 1035 §4.1.1 rcode 2) and its reason.
    pub fn servfail(why: ExtendedError) -> Self {
        Self {
            rcode: ResponseCode::ServFail,
            answers: Vec::new(),
            authorities: Vec::new(),
            ede: Some(why),
        }
    }

    /// A cached answer, TTLs counted down to `now`.
    pub fn from_cached(cached: &CachedAnswer, now: Timestamp) -> Self {
        let (answers, authorities) = cached.sections_at(now);
        Self {
            rcode: cached.kind.rcode(),
            answers,
            authorities,
            ede: None,
        }
    }

    /// An expired answer served because every authority failed (RFC 8767):
    /// every TTL is [`STALE_ANSWER_TTL`] and the client is told.
    pub fn stale(cached: &CachedAnswer) -> Self {
        let ttl = |mut r: Record| {
            r.ttl = STALE_ANSWER_TTL;
            r
        };
        Self {
            rcode: cached.kind.rcode(),
            answers: cached.answers.iter().cloned().map(ttl).collect(),
            authorities: cached.authorities.iter().cloned().map(ttl).collect(),
            ede: Some(ExtendedError::STALE_ANSWER),
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
