//! Cached RRsets: the walker's working memory (zone cuts, NS addresses,
//! CNAME links), ranked by [`Trust`].

use std::hash::{Hash, Hasher};

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use super::fingerprint::Fingerprint;

use super::trust::Trust;
use super::ttl::remaining;
use crate::clock::Timestamp;

/// Cache key of an RRset: owner name (compared case-insensitively, as
/// `Name`'s `Eq` and `Hash` do; RFC 4343), type and class, with their
/// [`Fingerprint`] compared first (see [`QuestionKey`](super::QuestionKey)).
#[derive(Debug, Clone)]
pub struct RrsetKey {
    name: Name,
    rtype: RecordType,
    /// Always IN today: other classes are refused at the listener.
    class: DNSClass,
    fingerprint: Fingerprint,
}

impl RrsetKey {
    /// The key of the IN-class RRset `name`/`rtype`.
    pub fn new(name: &Name, rtype: RecordType) -> Self {
        Self {
            name: name.clone(),
            rtype,
            class: DNSClass::IN,
            fingerprint: Fingerprint::of(name, rtype, DNSClass::IN),
        }
    }

    /// Owner name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Record type.
    pub fn rtype(&self) -> RecordType {
        self.rtype
    }
}

impl PartialEq for RrsetKey {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
            && self.rtype == other.rtype
            && self.class == other.class
            && self.name == other.name
    }
}

impl Eq for RrsetKey {}

impl Hash for RrsetKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
    }
}

/// One RRset as stored: the records with the TTL decided at store time
/// (floor and cap applied), when it was stored, and how far it is trusted.
#[derive(Debug, Clone)]
pub struct CachedRrset {
    /// The records; every record's `ttl` equals `ttl` below.
    pub records: Vec<Record>,
    /// Store-time TTL of the whole set (RFC 2181 §5.2: one TTL per RRset).
    pub ttl: u32,
    /// When it was stored.
    pub stored_at: Timestamp,
    /// Where it came from.
    pub trust: Trust,
}

impl CachedRrset {
    /// Seconds left at `now`; zero means expired.
    pub fn remaining(&self, now: Timestamp) -> u32 {
        remaining(self.ttl, self.stored_at, now)
    }

    /// The records with their TTL counted down to `now`.
    pub fn records_at(&self, now: Timestamp) -> Vec<Record> {
        let ttl = self.remaining(now);
        self.records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.ttl = ttl;
                r
            })
            .collect()
    }
}
