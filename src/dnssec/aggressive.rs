//! Aggressive use of validated NSEC records (RFC 8198).
//!
//! One question's path: before a cache miss is walked, [`NsecCache::nxdomain`]
//! looks for the zone enclosing the name among the zones whose NSEC records
//! it holds, finds the NSEC just before the name in canonical order
//! (RFC 4034 §6.1) and, if that record covers the name and another covers
//! the wildcard at the closest encloser, answers NXDOMAIN itself: SOA, the
//! two NSEC records and their RRSIGs, all from secure answers seen before.
//! Only NSEC from answers that validated as secure are stored (RFC 8198
//! §5.1); NSEC3 is not used aggressively here (its hashed order needs a
//! hash per lookup, and opt-out spans prove nothing).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use hickory_proto::rr::{Name, Record, RecordType};

use super::denial::{canonical_cmp, nsec_closest_encloser, nsec_covers, nsec_of};
use super::verify::{UnixTime, rrsig_of};

/// NSEC records kept per zone: enough for the part of a zone a busy
/// resolver sees; past it the zone's oldest-looking half is not refreshed
/// but new records are refused until some expire.
pub const MAX_NSEC_PER_ZONE: usize = 1_000;
/// Zones whose NSEC records are kept.
pub const MAX_NSEC_ZONES: usize = 10_000;

/// A name ordered canonically (RFC 4034 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Canonical(Name);

impl Ord for Canonical {
    fn cmp(&self, other: &Self) -> Ordering {
        canonical_cmp(&self.0, &other.0)
    }
}

impl PartialOrd for Canonical {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An NSEC record with its RRSIGs, and until when it may be used.
#[derive(Debug, Clone)]
struct Entry {
    records: Vec<Record>,
    expires: UnixTime,
}

#[derive(Debug, Default)]
struct Zone {
    /// The zone's SOA and its RRSIGs (the negative answer needs them).
    soa: Option<Entry>,
    nsec: BTreeMap<Canonical, Entry>,
}

/// Validated NSEC records by zone.
#[derive(Debug, Default)]
pub struct NsecCache {
    zones: RwLock<HashMap<Name, Zone>>,
}

/// A synthesised NXDOMAIN: the authority section, TTLs counted down.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthesised {
    /// SOA, NSEC records and RRSIGs.
    pub authorities: Vec<Record>,
}

impl NsecCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the NSEC records (with their RRSIGs) and the SOA of `zone`
    /// from an authority section that validated as secure.
    pub fn store(&self, zone: &Name, authorities: &[Record], now: UnixTime) {
        let soa: Vec<Record> = authorities
            .iter()
            .filter(|r| &r.name == zone && covers_type(r, RecordType::SOA))
            .cloned()
            .collect();
        let mut zones = self.zones.write().unwrap_or_else(|p| p.into_inner());
        if !zones.contains_key(zone) && zones.len() >= MAX_NSEC_ZONES {
            zones.retain(|_, z| z.nsec.values().any(|e| e.expires > now));
            if zones.len() >= MAX_NSEC_ZONES {
                return;
            }
        }
        let z = zones.entry(zone.clone()).or_default();
        if soa.iter().any(|r| r.record_type() == RecordType::SOA) {
            z.soa = Some(entry(soa, now));
        }
        for nsec in authorities.iter().filter(|r| nsec_of(r).is_some()) {
            if !zone.zone_of(&nsec.name) {
                continue;
            }
            if z.nsec.len() >= MAX_NSEC_PER_ZONE {
                z.nsec.retain(|_, e| e.expires > now);
                if z.nsec.len() >= MAX_NSEC_PER_ZONE {
                    break;
                }
            }
            let mut records = vec![nsec.clone()];
            records.extend(
                authorities
                    .iter()
                    .filter(|r| r.name == nsec.name && covers_type(r, RecordType::NSEC))
                    .filter(|r| r.record_type() == RecordType::RRSIG)
                    .cloned(),
            );
            z.nsec
                .insert(Canonical(nsec.name.clone()), entry(records, now));
        }
    }

    /// NXDOMAIN for `qname` from cached NSEC records, if they prove it
    /// (RFC 8198 §5.1: a covering NSEC and one covering the wildcard).
    pub fn nxdomain(&self, qname: &Name, now: UnixTime) -> Option<Synthesised> {
        let zones = self.zones.read().unwrap_or_else(|p| p.into_inner());
        let mut zone_name = qname.clone();
        let zone = loop {
            if let Some(z) = zones.get(&zone_name) {
                break z;
            }
            if zone_name.is_root() {
                return None;
            }
            zone_name = zone_name.base_name();
        };
        let soa = zone.soa.as_ref().filter(|e| e.expires > now)?;
        let covering = zone.before(qname, now)?;
        let nsec = covering.records.first()?;
        if !nsec_covers(nsec, qname) {
            return None;
        }
        let encloser = nsec_closest_encloser(nsec, qname)?;
        let wildcard = Name::from_ascii("*").ok()?.append_domain(&encloser).ok()?;
        let wild = zone.before(&wildcard, now)?;
        let wild_nsec = wild.records.first()?;
        if !nsec_covers(wild_nsec, &wildcard) {
            return None;
        }
        let mut authorities = aged(soa, now);
        authorities.extend(aged(covering, now));
        if wild_nsec.name != nsec.name {
            authorities.extend(aged(wild, now));
        }
        Some(Synthesised { authorities })
    }

    /// Forgets everything (a cache flush).
    pub fn clear(&self) {
        self.zones
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Zone {
    /// The live NSEC whose owner is the last at or before `name`.
    fn before(&self, name: &Name, now: UnixTime) -> Option<&Entry> {
        self.nsec
            .range(..=Canonical(name.clone()))
            .next_back()
            .map(|(_, e)| e)
            .filter(|e| e.expires > now)
    }
}

fn covers_type(r: &Record, rtype: RecordType) -> bool {
    r.record_type() == rtype || rrsig_of(r).is_some_and(|s| s.input().type_covered == rtype)
}

fn entry(records: Vec<Record>, now: UnixTime) -> Entry {
    let ttl = records.iter().map(|r| r.ttl).min().unwrap_or(0);
    Entry {
        records,
        expires: now + u64::from(ttl),
    }
}

fn aged(e: &Entry, now: UnixTime) -> Vec<Record> {
    let left = u32::try_from(e.expires.saturating_sub(now)).unwrap_or(u32::MAX);
    e.records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.ttl = left;
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::SOA;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }
    fn nsec(owner: &str, next: &str) -> Record {
        Record::from_rdata(
            n(owner),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                n(next),
                [RecordType::A, RecordType::NSEC],
            ))),
        )
    }
    fn soa() -> Record {
        Record::from_rdata(
            n("example."),
            600,
            RData::SOA(SOA::new(n("ns.example."), n("h.example."), 1, 2, 3, 4, 60)),
        )
    }

    #[test]
    fn a_covered_name_is_denied_until_the_records_expire() {
        let cache = NsecCache::new();
        // The zone example. holds: example. (apex), b.example., d.example.
        let auth = vec![
            soa(),
            nsec("b.example.", "d.example."),
            nsec("example.", "b.example."),
        ];
        cache.store(&n("example."), &auth, 1_000);
        // c.example. lies between b and d; the wildcard *.example. between
        // the apex and b.
        let synth = cache.nxdomain(&n("c.example."), 1_100).expect("proven");
        let types: Vec<RecordType> = synth.authorities.iter().map(|r| r.record_type()).collect();
        assert_eq!(types, [RecordType::SOA, RecordType::NSEC, RecordType::NSEC]);
        let ttls: Vec<u32> = synth.authorities.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, [500, 200, 200], "each counted down from its own TTL");
        // A name below a covered one is covered too.
        assert!(cache.nxdomain(&n("x.c.example."), 1_100).is_some());
        // Existing names and names past the known range are not.
        assert!(cache.nxdomain(&n("b.example."), 1_100).is_none());
        assert!(cache.nxdomain(&n("e.example."), 1_100).is_none());
        assert!(cache.nxdomain(&n("c.other."), 1_100).is_none());
        // Expired.
        assert!(cache.nxdomain(&n("c.example."), 1_300).is_none());
    }

    #[test]
    fn without_the_wildcard_proof_nothing_is_synthesised() {
        let cache = NsecCache::new();
        cache.store(
            &n("example."),
            &[soa(), nsec("b.example.", "d.example.")],
            0,
        );
        assert!(cache.nxdomain(&n("c.example."), 1).is_none());
    }
}
