//! Cached answers to whole questions: the hot path.
//!
//! A stub's question is answered from one lookup here: the final answer
//! (CNAME chain included) or the negative answer with its SOA. Unbound keeps
//! the same split between its message cache and its RRset cache.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use hickory_proto::op::Query;

use super::ttl::remaining;
use super::wire::EncodedAnswer;
use crate::clock::Timestamp;
use std::hash::{Hash, Hasher};

use super::fingerprint::Fingerprint;
use crate::dnssec::Security;
use crate::ede::ExtendedError;

/// A question as a cache key (name compared case-insensitively, RFC 4343).
///
/// The key carries its [`Fingerprint`]: the cache's table compares the
/// sought key with every key along its probe sequence, and this makes each
/// comparison with a different key one integer comparison, not a walk over
/// two names' labels.
#[derive(Debug, Clone)]
pub struct QuestionKey {
    name: Name,
    qtype: RecordType,
    class: DNSClass,
    fingerprint: Fingerprint,
}

impl QuestionKey {
    /// The key for an IN-class question.
    pub fn new(name: &Name, qtype: RecordType) -> Self {
        Self::with_class(name, qtype, DNSClass::IN)
    }

    /// The key for a question of any class.
    pub fn with_class(name: &Name, qtype: RecordType, class: DNSClass) -> Self {
        Self::with_fingerprint(name, qtype, class, Fingerprint::of(name, qtype, class))
    }

    /// The key, with its fingerprint already computed by the caller.
    pub(super) fn with_fingerprint(
        name: &Name,
        qtype: RecordType,
        class: DNSClass,
        fingerprint: Fingerprint,
    ) -> Self {
        debug_assert_eq!(fingerprint, Fingerprint::of(name, qtype, class));
        Self {
            name: name.clone(),
            qtype,
            class,
            fingerprint,
        }
    }

    /// QNAME.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// QTYPE.
    pub fn qtype(&self) -> RecordType {
        self.qtype
    }

    /// QCLASS.
    pub fn class(&self) -> DNSClass {
        self.class
    }
}

impl PartialEq for QuestionKey {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
            && self.qtype == other.qtype
            && self.class == other.class
            && self.name == other.name
    }
}

impl Eq for QuestionKey {}

impl Hash for QuestionKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
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
    /// The kind of an answer with this rcode and answer section to a
    /// question of `qtype`: NXDOMAIN by its rcode; positive when the
    /// section holds the asked type (any type but RRSIG for ANY); NODATA
    /// otherwise, a CNAME chain that ends nowhere included (RFC 2308 §2).
    pub fn of(rcode: ResponseCode, answers: &[Record], qtype: RecordType) -> Self {
        if rcode == ResponseCode::NXDomain {
            return AnswerKind::NxDomain;
        }
        let answered = answers.iter().any(|r| {
            let t = r.record_type();
            t == qtype || (qtype == RecordType::ANY && t != RecordType::RRSIG)
        });
        if answered {
            AnswerKind::Positive
        } else {
            AnswerKind::NoData
        }
    }

    /// The response code a client sees.
    pub fn rcode(self) -> ResponseCode {
        match self {
            AnswerKind::NxDomain => ResponseCode::NXDomain,
            _ => ResponseCode::NoError,
        }
    }
}

/// A resolved answer as stored: in wire form only (see
/// [`wire`](super::wire)), a few hundred bytes less per entry than hickory
/// records. Each record keeps its own store-time TTL; the entry lives as
/// long as its shortest one (`ttl`).
#[derive(Debug, Clone)]
pub struct CachedAnswer {
    /// Positive, NODATA or NXDOMAIN.
    pub kind: AnswerKind,
    /// Lifetime of the entry: the smallest record TTL.
    pub ttl: u32,
    /// When it was stored.
    pub stored_at: Timestamp,
    /// What validation made of it; `Unchecked` entries (stored by a walk
    /// before validation, or with validation off) are not served to
    /// clients while validation is on.
    pub security: Security,
    /// Why a bogus answer failed validation (RFC 8914), for its SERVFAIL.
    pub ede: Option<ExtendedError>,
    /// The response with every record, DNSSEC ones included (for clients
    /// that set DO, and for the walk).
    full: EncodedAnswer,
    /// The response without RRSIG/NSEC/NSEC3 (RFC 4035 §3.2.1), when the
    /// full one has any.
    plain: Option<EncodedAnswer>,
}

impl CachedAnswer {
    /// Encodes an answer to `question` for the cache. `None` if hickory
    /// cannot encode its records (it is then not cached).
    pub fn new(
        question: &QuestionKey,
        kind: AnswerKind,
        answers: &[Record],
        authorities: &[Record],
        ttl: u32,
        stored_at: Timestamp,
    ) -> Option<Self> {
        let query = Query::query(question.name.clone(), question.qtype);
        let rcode = kind.rcode();
        let full = EncodedAnswer::build(&query, rcode, answers, authorities)?;
        let qtype = question.qtype;
        let has_dnssec = answers
            .iter()
            .chain(authorities.iter())
            .any(|r| is_dnssec_only(r, qtype));
        let plain = if has_dnssec {
            Some(EncodedAnswer::build(
                &query,
                rcode,
                &without_dnssec(answers, qtype),
                &without_dnssec(authorities, qtype),
            )?)
        } else {
            None
        };
        Some(Self {
            kind,
            ttl,
            stored_at,
            security: Security::Unchecked,
            ede: None,
            full,
            plain,
        })
    }

    /// Seconds left at `now`; zero means expired.
    pub fn remaining(&self, now: Timestamp) -> u32 {
        remaining(self.ttl, self.stored_at, now)
    }

    /// The encoded response for a client with or without DO.
    pub fn encoded(&self, dnssec_ok: bool) -> &EncodedAnswer {
        match (&self.plain, dnssec_ok) {
            (Some(plain), false) => plain,
            _ => &self.full,
        }
    }

    /// Answer and authority records as stored (DNSSEC ones included).
    pub fn records(&self) -> (Vec<Record>, Vec<Record>) {
        self.full.records().unwrap_or_default()
    }

    /// Heap bytes held (the encoded responses).
    pub fn heap_size(&self) -> usize {
        self.full.heap_size() + self.plain.as_ref().map_or(0, EncodedAnswer::heap_size)
    }

    /// Answer and authority records with every TTL counted down to `now`.
    pub fn sections_at(&self, now: Timestamp) -> (Vec<Record>, Vec<Record>) {
        let (answers, authorities) = self.records();
        let age = |records: Vec<Record>| {
            records
                .into_iter()
                .map(|mut r| {
                    r.ttl = remaining(r.ttl, self.stored_at, now);
                    r
                })
                .collect()
        };
        (age(answers), age(authorities))
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
