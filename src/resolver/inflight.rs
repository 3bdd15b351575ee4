//! Bounds on upstream queries in flight: per zone, per server address, and
//! overall.
//!
//! Why: a flood of unique random names under one zone ("water torture", the
//! random-subdomain attack) misses the cache every time, so every client
//! query becomes upstream work for that zone's servers. When those servers
//! are slow or dead, each query holds a socket, a reply buffer and a task
//! for up to the upstream timeout, and the work waiting on one zone grows
//! with the flood rate until it crowds out everything else: the victim's
//! servers are hammered (the resolver amplifies the attack) and other
//! clients' cache misses wait behind it. The peers bound the same thing:
//! Unbound serves at most `num-queries-per-thread` (1024) queries per
//! thread and, when full, jostles out queries older than `jostle-timeout`
//! (200 ms); PowerDNS Recursor runs at most `max-mthreads` (2048)
//! resolutions per thread and stops asking a server that failed
//! `server-down-max-fails` (64) times in a row; BIND bounds
//! `recursive-clients` (1000) and has `fetches-per-zone` and
//! `fetches-per-server` (both off by default).
//!
//! One query's path: just before `Resolver::drive` sends a query it takes a
//! [`Slot`] for (zone cut, server address) with [`InFlight::acquire`]; the
//! slot is given back when dropped, that is when the reply or the timeout
//! comes, or when the walk is abandoned at its resolution timeout (the
//! future holding the slot is dropped). When a bound is reached the query
//! is not sent and not queued: `acquire` says which [`Limit`] was hit and
//! the walker gets an immediate failure for that server (it tries the
//! zone's other servers, which are then usually throttled too, and the
//! question ends in SERVFAIL at once). The newest work is shed, never work
//! already under way: the queries holding slots finish within one upstream
//! timeout anyway, and cancelling them would waste what they cost. Cached
//! answers never come here: they are answered before the resolver.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::Mutex;

use hickory_proto::rr::Name;

use super::KeyHasher;

/// Upstream queries in flight to the servers of one zone cut. Little's law:
/// 256 slots carry 5,000 queries/s to a zone whose servers answer in 50 ms,
/// above what one resolver's legitimate cache misses send to one zone (a
/// benchmark keeping 100 fresh names outstanding under one zone must not be
/// shed: 64 was, see docs/benchmarks.md), while a zone whose servers never
/// answer gets at most 256 queries per upstream timeout (256/s at the 1 s
/// default) however fast the flood.
/// BIND's `fetches-per-zone` is the same bound (off by default); Unbound's
/// `ratelimit` (off by default) bounds queries per second to a zone instead.
pub const MAX_PER_ZONE: usize = 256;

/// Upstream queries in flight to one server address, across all zones it
/// serves: a hosting provider's server authoritative for many zones is
/// protected from a flood spread over those zones, which the per-zone
/// bound does not see. Below [`MAX_PER_ZONE`] so that a zone with a single
/// server address is bounded by it, and one with two or more by the zone's
/// bound. BIND's `fetches-per-server` (off by default) bounds the same;
/// PowerDNS instead stops querying a server after 64 consecutive failures
/// (`server-down-max-fails`) for 60 s.
pub const MAX_PER_SERVER: usize = 192;

/// Upstream queries in flight overall. Each holds one UDP socket (a file
/// descriptor and a random source port) and a 64 KiB reply buffer, so this
/// bounds those at about 1,000 descriptors, 1.5% of the 64,512 source ports
/// (which keeps the port of a new query unpredictable) and 64 MiB. Unbound
/// serves 1024 queries per thread (`num-queries-per-thread`), PowerDNS 2048
/// per thread (`max-mthreads`), BIND 1000 clients (`recursive-clients`);
/// rootward's client-side bound is `MAX_PENDING_MISSES` (4096) questions,
/// each sending one query at a time (a few at once while it resolves NS
/// names), so this is the tighter one when upstream is slow.
pub const MAX_TOTAL: usize = 1_000;

// A one-address zone is bounded by its server's limit, and no single zone
// can take every slot.
const _: () = assert!(MAX_PER_SERVER < MAX_PER_ZONE && MAX_PER_ZONE < MAX_TOTAL);

/// The three bounds; [`Limits::default`] has the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// [`MAX_PER_ZONE`].
    pub per_zone: usize,
    /// [`MAX_PER_SERVER`].
    pub per_server: usize,
    /// [`MAX_TOTAL`].
    pub total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_zone: MAX_PER_ZONE,
            per_server: MAX_PER_SERVER,
            total: MAX_TOTAL,
        }
    }
}

/// Which bound a shed query hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::per_zone`].
    Zone,
    /// [`Limits::per_server`].
    Server,
    /// [`Limits::total`].
    Total,
}

impl Limit {
    /// `zone`, `server` or `total`: the `reason` label of
    /// `rootward_upstream_throttled_total`.
    pub fn label(self) -> &'static str {
        match self {
            Limit::Zone => "zone",
            Limit::Server => "server",
            Limit::Total => "total",
        }
    }
}

/// Counts of queries in flight. Entries at zero are removed, so each map
/// holds at most [`Limits::total`] entries.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    zones: HashMap<Name, usize, KeyHasher>,
    servers: HashMap<IpAddr, usize, KeyHasher>,
}

/// The upstream queries in flight, by zone cut and server address.
///
/// One short lock per query sent and per query finished (no lock is held
/// across an await); the sending itself costs a socket and a system call
/// or three, far more.
#[derive(Debug, Default)]
pub struct InFlight {
    limits: Limits,
    counts: Mutex<Counts>,
}

impl InFlight {
    /// Bookkeeping under `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A slot for one query to `server` as an authority for `zone`, or the
    /// bound that is full (the zone's is checked first, then the server's,
    /// then the overall one: the most specific reason is reported).
    pub fn acquire(&self, zone: &Name, server: IpAddr) -> Result<Slot<'_>, Limit> {
        let mut guard = self.lock();
        let c = &mut *guard;
        // The zone is looked up once, for the check and the count; a vacant
        // entry left unfilled inserts nothing.
        let in_zone = c.zones.entry(zone.clone());
        let count = match &in_zone {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(_) => 0,
        };
        if count >= self.limits.per_zone {
            return Err(Limit::Zone);
        }
        if c.servers.get(&server).copied().unwrap_or(0) >= self.limits.per_server {
            return Err(Limit::Server);
        }
        if c.total >= self.limits.total {
            return Err(Limit::Total);
        }
        c.total += 1;
        *in_zone.or_insert(0) += 1;
        *c.servers.entry(server).or_insert(0) += 1;
        Ok(Slot {
            owner: self,
            zone: zone.clone(),
            server,
        })
    }

    /// Queries in flight overall.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// Queries in flight to the servers of `zone`.
    pub fn zone(&self, zone: &Name) -> usize {
        self.lock().zones.get(zone).copied().unwrap_or(0)
    }

    /// Queries in flight to `server`.
    pub fn server(&self, server: IpAddr) -> usize {
        self.lock().servers.get(&server).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn release(&self, zone: Name, server: IpAddr) {
        let c = &mut *self.lock();
        c.total = c.total.saturating_sub(1);
        decrement(&mut c.zones, zone);
        decrement(&mut c.servers, server);
    }
}

/// Lowers `key`'s count, removing it at zero (one lookup).
fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize, KeyHasher>, key: K) {
    if let Entry::Occupied(mut e) = map.entry(key) {
        if *e.get() <= 1 {
            e.remove();
        } else {
            *e.get_mut() -= 1;
        }
    }
}

/// One query's place in flight; given back when dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    owner: &'a InFlight,
    zone: Name,
    server: IpAddr,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.owner
            .release(std::mem::take(&mut self.zone), self.server);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn small() -> InFlight {
        InFlight::new(Limits {
            per_zone: 3,
            per_server: 2,
            total: 4,
        })
    }

    #[test]
    fn defaults_are_the_named_constants() {
        let l = InFlight::default().limits();
        assert_eq!(
            (l.per_zone, l.per_server, l.total),
            (MAX_PER_ZONE, MAX_PER_SERVER, MAX_TOTAL)
        );
    }

    #[test]
    fn each_bound_is_reported_when_it_is_the_one_reached() {
        let f = small();
        let zone = name("victim.test.");
        let a = f.acquire(&zone, ip(1)).unwrap();
        let b = f.acquire(&zone, ip(1)).unwrap();
        assert_eq!(f.acquire(&zone, ip(1)).unwrap_err(), Limit::Server);
        let c = f.acquire(&zone, ip(2)).unwrap();
        assert_eq!(f.acquire(&zone, ip(3)).unwrap_err(), Limit::Zone);
        // The zone's bound is named first when both are full.
        assert_eq!(f.acquire(&zone, ip(1)).unwrap_err(), Limit::Zone);
        let d = f.acquire(&name("other.test."), ip(4)).unwrap();
        assert_eq!(
            f.acquire(&name("third.test."), ip(5)).unwrap_err(),
            Limit::Total
        );
        assert_eq!((f.total(), f.zone(&zone), f.server(ip(1))), (4, 3, 2));
        drop((a, b, c, d));
    }

    #[test]
    fn dropping_a_slot_gives_it_back_and_forgets_empty_entries() {
        let f = small();
        let zone = name("victim.test.");
        let slots: Vec<_> = (0..2).map(|_| f.acquire(&zone, ip(1)).unwrap()).collect();
        assert!(f.acquire(&zone, ip(1)).is_err());
        drop(slots);
        assert_eq!((f.total(), f.zone(&zone), f.server(ip(1))), (0, 0, 0));
        let c = f.lock();
        assert!(c.zones.is_empty() && c.servers.is_empty());
        drop(c);
        // Everything is usable again, many times over.
        for _ in 0..100 {
            let _s = f.acquire(&zone, ip(1)).unwrap();
        }
        assert_eq!(f.total(), 0);
    }

    #[test]
    fn zone_names_match_case_insensitively() {
        let f = small();
        let _a = f.acquire(&name("Victim.TEST."), ip(1)).unwrap();
        let _b = f.acquire(&name("victim.test."), ip(2)).unwrap();
        let _c = f.acquire(&name("VICTIM.test."), ip(3)).unwrap();
        assert_eq!(
            f.acquire(&name("victim.Test."), ip(4)).unwrap_err(),
            Limit::Zone
        );
    }

    #[test]
    fn slots_taken_and_dropped_across_threads_balance() {
        let f = InFlight::default();
        let zone = name("victim.test.");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let (f, zone) = (&f, &zone);
                s.spawn(move || {
                    for _ in 0..1_000 {
                        if let Ok(slot) = f.acquire(zone, ip(t)) {
                            assert!(f.zone(zone) <= MAX_PER_ZONE);
                            drop(slot);
                        }
                    }
                });
            }
        });
        assert_eq!(f.total(), 0);
    }
}
