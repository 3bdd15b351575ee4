//! Cached answers to whole questions: the hot path.
//!
//! A stub's question is answered from one lookup here: the final answer
//! (CNAME chain included) or the negative answer with its SOA. Unbound keeps
//! the same split between its message cache and its RRset cache.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use std::sync::OnceLock;

use hickory_proto::op::Query;

use super::ttl::remaining;
use super::wire::EncodedAnswer;
use crate::clock::Timestamp;
use crate::dnssec::Security;
use crate::ede::ExtendedError;

/// A question as a cache key (name compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuestionKey {
    /// QNAME.
    pub name: Name,
    /// QTYPE.
    pub qtype: RecordType,
    /// QCLASS.
    pub class: DNSClass,
}

impl QuestionKey {
    /// The key for an IN-class question.
    pub fn new(name: &Name, qtype: RecordType) -> Self {
        Self {
            name: name.clone(),
            qtype,
            class: DNSClass::IN,
        }
    }
}

/// What kind of answer it is; NXDOMAIN and NODATA are answers too
/// (RFC 2308), cached like positive ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Records of the asked type (possibly after a CNAME chain).
    Positive,
    /// The name exists but has no records of the type (RFC 2308 §2.2).
    NoData,
    /// The name does not exist (RFC 2308 §2.1).
    NxDomain,
}

impl AnswerKind {
    /// The response code a client sees.
    pub fn rcode(self) -> ResponseCode {
        match self {
            AnswerKind::NxDomain => ResponseCode::NXDomain,
            _ => ResponseCode::NoError,
        }
    }
}

/// A resolved answer as stored. Each record keeps its own store-time TTL;
/// the entry lives as long as its shortest one (`ttl`).
#[derive(Debug, Clone)]
pub struct CachedAnswer {
    /// Positive, NODATA or NXDOMAIN.
    pub kind: AnswerKind,
    /// Answer section (CNAME chain then the final RRset).
    pub answers: Vec<Record>,
    /// Authority section (the SOA of a negative answer).
    pub authorities: Vec<Record>,
    /// Lifetime of the entry: the smallest record TTL.
    pub ttl: u32,
    /// When it was stored.
    pub stored_at: Timestamp,
    /// The question as first asked (its case is the encoded one).
    pub question: QuestionKey,
    /// What validation made of it; `Unchecked` entries (stored by a walk
    /// before validation, or with validation off) are not served to
    /// clients while validation is on.
    pub security: Security,
    /// Why a bogus answer failed validation (RFC 8914), for its SERVFAIL.
    pub ede: Option<ExtendedError>,
    /// The response encoded once, without and with our OPT, on first use;
    /// only for clients without DO (no DNSSEC records in it).
    pub wire: [OnceLock<Option<EncodedAnswer>>; 2],
}

impl CachedAnswer {
    /// Seconds left at `now`; zero means expired.
    pub fn remaining(&self, now: Timestamp) -> u32 {
        remaining(self.ttl, self.stored_at, now)
    }

    /// The pre-encoded response (with our OPT when `edns`), built on first
    /// use; `None` if hickory could not encode it.
    pub fn encoded(&self, edns: bool) -> Option<&EncodedAnswer> {
        self.wire[usize::from(edns)]
            .get_or_init(|| {
                let query = Query::query(self.question.name.clone(), self.question.qtype);
                let qtype = self.question.qtype;
                EncodedAnswer::build(
                    &query,
                    self.kind.rcode(),
                    &without_dnssec(&self.answers, qtype),
                    &without_dnssec(&self.authorities, qtype),
                    edns,
                )
            })
            .as_ref()
    }

    /// Answer and authority records with every TTL counted down to `now`.
    pub fn sections_at(&self, now: Timestamp) -> (Vec<Record>, Vec<Record>) {
        let age = |records: &[Record]| {
            records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.ttl = remaining(r.ttl, self.stored_at, now);
                    r
                })
                .collect()
        };
        (age(&self.answers), age(&self.authorities))
    }
}

/// Whether a record is DNSSEC material a client sees only with DO set:
/// RRSIG, NSEC and NSEC3 (RFC 4035 §3.2.1), unless it asked for that type.
pub fn is_dnssec_only(record: &Record, qtype: RecordType) -> bool {
    let t = record.record_type();
    t != qtype && matches!(t, RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3)
}

/// `records` without the DNSSEC material a client without DO must not get
/// (RFC 4035 §3.2.1).
pub fn without_dnssec(records: &[Record], qtype: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| !is_dnssec_only(r, qtype))
        .cloned()
        .collect()
}
