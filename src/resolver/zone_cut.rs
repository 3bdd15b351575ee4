//! Zone cuts: the zone the walker is currently asking, and its servers.
//!
//! A cut comes from the cache (the closest enclosing NS set with whatever
//! addresses are cached for its names), from a referral (NS set plus
//! in-bailiwick glue), or from the root hints. Server selection lives here
//! too: each address is tried at most once per cut, in random order so that
//! load spreads over a zone's servers (issue 4 replaces this with SRTT).

use std::collections::HashSet;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand::seq::SliceRandom;

use tokio::time::Instant;

use super::KeyHasher;
use super::address_policy::AddressPolicy;
use super::infra_cache::InfraCache;
use super::limits::MAX_RETRY_ROUNDS;
use crate::cache::{Cache, QuestionKey};
use crate::clock::Timestamp;
use crate::names::parent;
use crate::root_hints::RootHints;

/// One name server of a zone.
#[derive(Debug, Clone)]
pub struct NameServer {
    /// Its NS name.
    pub name: Name,
    /// Addresses known for it (glue, cache or a sub-resolution).
    pub addrs: Vec<IpAddr>,
    /// Whether an address lookup for it was already started in this walk.
    pub looked_up: bool,
}

/// A delegation point: a zone and the servers authoritative for it.
#[derive(Debug, Clone)]
pub struct ZoneCut {
    /// The zone's apex.
    pub zone: Name,
    /// Its servers.
    pub servers: Vec<NameServer>,
    /// Addresses already queried at this cut.
    tried: HashSet<IpAddr, KeyHasher>,
    /// Tried addresses that timed out: they may be asked again, with the
    /// longer (backed-off) RTO, once every other address was tried.
    timed_out: HashSet<IpAddr, KeyHasher>,
    /// Rounds of such retries so far (bounded by `MAX_RETRY_ROUNDS`).
    retry_rounds: usize,
    /// NS names resolved for this cut so far (bounded by
    /// `MAX_NS_LOOKUPS_PER_CUT`).
    pub ns_lookups: usize,
    /// Whether the parent-side addresses were added ([`Self::add_parent_side`]).
    parent_side_added: bool,
}

impl ZoneCut {
    /// A cut for `zone` with NS names `ns` and addresses from `known`.
    pub fn new(zone: Name, ns: Vec<Name>, known: impl Fn(&Name) -> Vec<IpAddr>) -> Self {
        let mut seen: HashSet<Name, KeyHasher> = HashSet::default();
        let mut servers: Vec<NameServer> = ns
            .into_iter()
            .filter(|n| seen.insert(n.clone()))
            .map(|name| NameServer {
                addrs: known(&name),
                name,
                looked_up: false,
            })
            .collect();
        servers.shuffle(&mut rand::rng());
        Self {
            zone,
            servers,
            tried: HashSet::default(),
            timed_out: HashSet::default(),
            retry_rounds: 0,
            ns_lookups: 0,
            parent_side_added: false,
        }
    }

    /// The root cut from the hints.
    pub fn from_hints(hints: &RootHints) -> Self {
        let ns = hints.servers.iter().map(|(n, _)| n.clone()).collect();
        Self::new(Name::root(), ns, |n| {
            hints
                .servers
                .iter()
                .find(|(h, _)| h == n)
                .map(|(_, a)| a.clone())
                .unwrap_or_default()
        })
    }

    /// The closest enclosing cut of `name` that the cache knows at `now`:
    /// the nearest ancestor-or-self with a live NS RRset, with cached
    /// addresses of its NS names. `None` if the cache knows none (not even
    /// the root's).
    pub fn closest_cached(cache: &Cache, name: &Name, now: Timestamp) -> Option<Self> {
        let mut candidate = name.clone();
        loop {
            if let Some(ns) = cache.rrset(&candidate, RecordType::NS, now) {
                let names = ns.records.iter().filter_map(ns_target).collect();
                return Some(Self::new(candidate, names, |n| cached_addrs(cache, n, now)));
            }
            if candidate.is_root() {
                return None;
            }
            candidate = parent(&candidate);
        }
    }

    /// Whether no query should go to this cut yet: nothing was tried here
    /// in this walk, every NS name has addresses, and every address the
    /// policy permits belongs to a server that has stopped answering
    /// ([`InfraCache::given_up`]). An NS name without an address might
    /// lead to a live server, so it keeps the cut worth walking.
    pub fn all_given_up(&self, policy: &AddressPolicy, infra: &InfraCache, now: Instant) -> bool {
        if !self.tried.is_empty() || self.servers.iter().any(|s| s.addrs.is_empty()) {
            return false;
        }
        let mut permitted = self
            .servers
            .iter()
            .flat_map(|s| s.addrs.iter().copied())
            .filter(|ip| policy.permits(*ip))
            .peekable();
        permitted.peek().is_some() && permitted.all(|ip| infra.given_up(ip, now))
    }

    /// Whether any server of the cut has an address.
    pub fn has_addresses(&self) -> bool {
        self.servers.iter().any(|s| !s.addrs.is_empty())
    }

    /// Picks the address to ask next among those not yet tried at this cut
    /// that `policy` permits: the infrastructure cache chooses by smoothed
    /// RTT, backoff and lameness ([`InfraCache::select`]). Marks it tried.
    pub fn next_address(
        &mut self,
        policy: &AddressPolicy,
        infra: &InfraCache,
        now: Instant,
    ) -> Option<IpAddr> {
        let mut candidates: Vec<IpAddr> = self
            .servers
            .iter()
            .flat_map(|s| s.addrs.iter().copied())
            .filter(|ip| policy.permits(*ip) && !self.tried.contains(ip))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        if candidates.is_empty()
            && !self.timed_out.is_empty()
            && self.retry_rounds < MAX_RETRY_ROUNDS
        {
            // Every address was tried and some only timed out: a far-away
            // server may answer to the longer RTO its timeout earned it
            // (Unbound retries a server up to `outbound-msg-retry` times).
            self.retry_rounds += 1;
            candidates = self.timed_out.drain().collect();
            candidates.sort_unstable();
        }
        let pick = infra.select(&candidates, &self.zone, now)?;
        self.tried.insert(pick);
        Some(pick)
    }

    /// Notes that `ip` timed out, so that it may be retried later.
    pub fn timed_out(&mut self, ip: IpAddr) {
        self.timed_out.insert(ip);
    }

    /// Forgets which addresses were tried: a new name is being asked at the
    /// same cut (QNAME minimisation moved on), so every server may be asked.
    pub fn clear_tried(&mut self) {
        self.tried.clear();
    }

    /// An NS name that has no address yet and was not looked up, marking it
    /// as looked up.
    pub fn next_unresolved(&mut self) -> Option<Name> {
        let ns = self
            .servers
            .iter_mut()
            .find(|s| s.addrs.is_empty() && !s.looked_up)?;
        ns.looked_up = true;
        Some(ns.name.clone())
    }

    /// Once per cut, when every address was tried and every NS name looked
    /// up: adds the addresses the cache holds as glue (the parent's side of
    /// a delegation, which the child's own answers do not replace there)
    /// that the cut does not have yet. A child that publishes a broken
    /// address for its own server must not strand a zone the parent's glue
    /// still reaches (Unbound's parent-side fallback, `iter_store_parentside`).
    /// Returns how many addresses were added.
    pub fn add_parent_side(&mut self, cache: &Cache, now: Timestamp) -> usize {
        if std::mem::replace(&mut self.parent_side_added, true) {
            return 0;
        }
        let mut added = 0;
        for s in &mut self.servers {
            for t in [RecordType::A, RecordType::AAAA] {
                let Some(set) = cache.rrset(&s.name, t, now) else {
                    continue;
                };
                for a in set.records.iter().filter_map(record_addr) {
                    if !s.addrs.contains(&a) {
                        s.addrs.push(a);
                        added += 1;
                    }
                }
            }
        }
        added
    }

    /// Adds addresses learnt for the NS name `ns`.
    pub fn add_addresses(&mut self, ns: &Name, addrs: &[IpAddr]) {
        if let Some(s) = self.servers.iter_mut().find(|s| &s.name == ns) {
            for a in addrs {
                if !s.addrs.contains(a) {
                    s.addrs.push(*a);
                }
            }
        }
    }
}

/// The target of an NS record.
pub fn ns_target(r: &Record) -> Option<Name> {
    match &r.data {
        RData::NS(ns) => Some(ns.0.clone()),
        _ => None,
    }
}

/// The address in an A or AAAA record.
pub fn record_addr(r: &Record) -> Option<IpAddr> {
    match &r.data {
        RData::A(a) => Some(a.0.into()),
        RData::AAAA(a) => Some(a.0.into()),
        _ => None,
    }
}

/// Live cached A and AAAA addresses of `name`.
pub fn cached_addrs(cache: &Cache, name: &Name, now: Timestamp) -> Vec<IpAddr> {
    let mut addrs = Vec::new();
    for t in [RecordType::A, RecordType::AAAA] {
        // An answer to the address question itself (authoritative data,
        // kept only in the answer cache), else glue or addresses from the
        // RRset cache.
        let answered: Vec<IpAddr> = cache
            .answer(&QuestionKey::new(name, t), now)
            .map(|a| {
                a.records()
                    .0
                    .iter()
                    .filter(|r| &r.name == name && r.record_type() == t)
                    .filter_map(record_addr)
                    .collect()
            })
            .unwrap_or_default();
        if !answered.is_empty() {
            addrs.extend(answered);
            continue;
        }
        if let Some(set) = cache.rrset(name, t, now) {
            addrs.extend(set.records.iter().filter_map(record_addr));
        }
    }
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Trust, TtlPolicy};
    use hickory_proto::rr::rdata::{A, NS};
    use std::time::Duration;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn closest_cut_is_the_nearest_cached_ancestor_with_addresses() {
        let cache = Cache::new(
            100,
            TtlPolicy::new(
                Duration::ZERO,
                Duration::from_secs(3600),
                Duration::from_secs(60),
            ),
            Duration::ZERO,
        );
        let ns =
            |owner: &str, t: &str| Record::from_rdata(name(owner), 300, RData::NS(NS(name(t))));
        cache.store_rrset(vec![ns("test.", "ns.test.")], Trust::Referral, 10);
        cache.store_rrset(
            vec![ns("example.test.", "ns1.example.test.")],
            Trust::Referral,
            10,
        );
        cache.store_rrset(
            vec![Record::from_rdata(
                name("ns1.example.test."),
                300,
                RData::A(A([192, 0, 2, 7].into())),
            )],
            Trust::Glue,
            10,
        );
        let mut cut = ZoneCut::closest_cached(&cache, &name("a.b.www.example.test."), 20).unwrap();
        assert_eq!(cut.zone, name("example.test."));
        let policy = AddressPolicy::default();
        let infra = InfraCache::new(10, Duration::from_secs(1));
        let now = Instant::now();
        assert_eq!(
            cut.next_address(&policy, &infra, now),
            Some("192.0.2.7".parse().unwrap())
        );
        // Each address is tried once per cut.
        assert_eq!(cut.next_address(&policy, &infra, now), None);
        // After the NS set expires, the cut moves up.
        assert!(ZoneCut::closest_cached(&cache, &name("www.example.test."), 400).is_none());
        assert!(ZoneCut::closest_cached(&cache, &name("other."), 20).is_none());
    }

    #[test]
    fn unresolved_ns_names_are_handed_out_once() {
        let mut cut = ZoneCut::new(
            name("x."),
            vec![name("a.y."), name("b.y."), name("a.y.")],
            |_| vec![],
        );
        assert_eq!(cut.servers.len(), 2);
        let first = cut.next_unresolved().unwrap();
        let second = cut.next_unresolved().unwrap();
        assert_ne!(first, second);
        assert!(cut.next_unresolved().is_none());
    }
}
