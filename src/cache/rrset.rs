//! Cached RRsets: the walker's working memory (zone cuts, NS addresses,
//! CNAME links), ranked by [`Trust`].

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use super::trust::Trust;
use super::ttl::remaining;
use crate::clock::Timestamp;

/// Cache key of an RRset: owner name (compared case-insensitively, as
/// `Name`'s `Eq` and `Hash` do; RFC 4343), type and class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RrsetKey {
    /// Owner name.
    pub name: Name,
    /// Record type.
    pub rtype: RecordType,
    /// Class (always IN today: other classes are refused at the listener).
    pub class: DNSClass,
}

impl RrsetKey {
    /// The key of the IN-class RRset `name`/`rtype`.
    pub fn new(name: &Name, rtype: RecordType) -> Self {
        Self {
            name: name.clone(),
            rtype,
            class: DNSClass::IN,
        }
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
