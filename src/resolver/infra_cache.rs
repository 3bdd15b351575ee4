//! The infrastructure cache: what the resolver has learned about each
//! upstream server (by IP address), used to choose which server of a zone to
//! ask and how long to wait for it. Modelled on Unbound's infra cache
//! (`services/cache/infra.c`, `util/rtt.c`).
//!
//! One query's path through it: the walker has a zone cut with server
//! addresses, filters them by address policy and drops those already tried
//! in this walk, and calls [`InfraCache::select`], which skips servers that
//! are lame for the zone or backed off and picks, at random, one of those
//! whose smoothed RTT is within [`SELECTION_BAND`] of the best (or, with
//! probability [`EXPLORE_PERCENT`], any of them). The walker asks
//! [`InfraCache::no_edns`] whether to send without EDNS and
//! [`InfraCache::rto`] for how long to wait. Then one of:
//! - a reply: [`InfraCache::record_rtt`] feeds the RFC 6298 estimator and
//!   clears any backoff; if the reply was FORMERR to EDNS and the server
//!   works without it, [`InfraCache::record_no_edns`]; if the reply was lame
//!   for the zone (REFUSED, SERVFAIL, upward referral),
//!   [`InfraCache::record_lame`] and the walker selects again;
//! - no reply in time: [`InfraCache::record_timeout`] doubles the server's
//!   RTO, backs it off for a while and raises its SRTT, and the walker
//!   selects again among the servers not yet tried.
//!
//! Storage is a bounded moka cache keyed by address. Each entry is a
//! server's state behind a mutex of its own, updated in place: replacing
//! the entry per reply (moka's `and_upsert_with`) cost a tenth of a cache
//! miss's CPU, and the lock is held only for a few field updates. An entry
//! is forgotten [`INFRA_TTL`] after it was last used. Time-dependent state (backoff, lameness) uses the `now`
//! passed in (tokio's clock, so paused-clock tests work); only the whole
//! entry's expiry runs on moka's own clock.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hickory_proto::rr::Name;
use moka::sync::Cache as Moka;
use tokio::time::Instant;

use super::KeyHasher;

/// Default number of servers remembered: Unbound's `infra-cache-numhosts`
/// default (10000). Each entry is small (a few hundred bytes at most).
pub const DEFAULT_CAPACITY: u64 = 10_000;

/// Floor of the per-query timeout. Unbound's `RTT_MIN_TIMEOUT` (50 ms): a
/// server a few ms away still gets enough slack for scheduling jitter and a
/// busy server. (RFC 6298 §2.4 asks 1 s for TCP; DNS over UDP retries to
/// other servers, so Unbound's lower floor fits.)
pub const MIN_RTO: Duration = Duration::from_millis(50);

/// Timeout for a server never measured. Unbound's initial RTO, 376 ms
/// (SRTT 0 + 4 · RTTVAR 94 ms, `rtt_init`): most servers answer well within
/// it, and one that does not is retried elsewhere sooner than RFC 6298 §2.1's
/// 1 s. A slower server is reached on retry, since a timeout doubles the RTO.
pub const INITIAL_RTO: Duration = Duration::from_millis(376);

/// Smoothed RTT assumed for a never-measured server when selecting.
/// Unbound's `UNKNOWN_SERVER_NICENESS` (376 ms, equal to its initial RTO).
/// It lies inside [`SELECTION_BAND`] of a fast server on purpose, as in
/// Unbound: unknown servers share the traffic until measured, which is how
/// they get measured at all; once measured, a slow one falls out of the band.
pub const UNKNOWN_SRTT: Duration = Duration::from_millis(376);

/// Servers whose effective SRTT is within this of the best are chosen among
/// at random. Unbound's `RTT_BAND` (400 ms): spreads load over comparable
/// servers rather than always hammering the single fastest.
pub const SELECTION_BAND: Duration = Duration::from_millis(400);

/// Chance, in percent, that `select` ignores RTTs and picks uniformly among
/// the usable servers, so a server that was slow or timed out (and so sits
/// outside the band) is seen again and its recovery noticed. Unbound gets
/// this only from the band and host-TTL expiry; 3 % costs little latency.
pub const EXPLORE_PERCENT: u32 = 3;

/// Backoff after the first of consecutive timeouts; doubled per further
/// timeout. One lost UDP packet should not exile a server for long, but
/// concurrent walks should stop sending to it while it is silent.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// Longest backoff (reached after 8 consecutive timeouts: 1 s · 2^7 > 120 s).
/// Unbound has no exact equivalent: it doubles the RTO up to
/// `RTT_MAX_TIMEOUT` (120 s), then deems the host unsuitable until the entry
/// expires (`infra-host-ttl`, 900 s), allowing single probes meanwhile. We
/// retry a dead server every 2 min at most: one query per 2 min is negligible
/// load, and a recovered server is noticed within 2 min rather than 15.
pub const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// How long a server stays lame for a zone. Unbound's `infra-lame-ttl`
/// default (900 s).
pub const LAME_TTL: Duration = Duration::from_secs(900);

/// Consecutive timeouts after which a backed-off server counts as having
/// stopped answering ([`InfraCache::given_up`]). One or two can be a lost
/// packet, and a zone with one server would then fail for the whole
/// backoff; three in a row, each for a query sent after the previous one
/// timed out, is a server that is down. It is asked again when its backoff
/// (4 s after the third timeout, doubling to [`MAX_BACKOFF`]) ends.
pub const GIVE_UP_AFTER_TIMEOUTS: u32 = 3;

/// A server's whole entry is forgotten after this long unused.
/// Unbound's `infra-host-ttl` default (900 s), so stale measurements of a
/// server not asked lately are re-learned.
pub const INFRA_TTL: Duration = Duration::from_secs(900);

/// Zones for which one server's lameness is remembered; the oldest is
/// dropped beyond this. Unbound keys its infra cache by (address, zone) and
/// needs no such bound; a server lame for many zones at once is rare, and
/// forgetting one only costs one more lame answer.
pub const MAX_LAME_ZONES: usize = 8;

/// Clock granularity G of RFC 6298 §2: tokio's timer resolution (1 ms).
pub const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// 1/α of RFC 6298 §2.3 (α = 1/8): weight of a new sample in SRTT.
pub const SRTT_GAIN_DIVISOR: u32 = 8;

/// 1/β of RFC 6298 §2.3 (β = 1/4): weight of a new deviation in RTTVAR.
pub const RTTVAR_GAIN_DIVISOR: u32 = 4;

/// K of RFC 6298 §2 (K = 4): RTO = SRTT + max(G, K · RTTVAR).
pub const RTTVAR_MULTIPLIER: u32 = 4;

/// RFC 6298 §2.2: the first sample R sets RTTVAR = R / 2.
pub const FIRST_RTTVAR_DIVISOR: u32 = 2;

/// Denominator of [`EXPLORE_PERCENT`].
const PERCENT: u32 = 100;

/// RFC 6298 estimator state of one server.
#[derive(Debug, Clone, Copy)]
struct RttEstimate {
    srtt: Duration,
    rttvar: Duration,
    /// False while the values only come from timeouts (no reply yet): the
    /// first real sample then initialises the estimator per RFC 6298 §2.2.
    measured: bool,
}

impl RttEstimate {
    /// RFC 6298 §2.2: SRTT = R, RTTVAR = R / 2.
    fn first(r: Duration, measured: bool) -> Self {
        Self {
            srtt: r,
            rttvar: r / FIRST_RTTVAR_DIVISOR,
            measured,
        }
    }

    /// RFC 6298 §2.3: RTTVAR from the old SRTT first, then SRTT.
    fn update(self, r: Duration) -> Self {
        let deviation = self.srtt.abs_diff(r);
        let rttvar = (self.rttvar - self.rttvar / RTTVAR_GAIN_DIVISOR)
            .saturating_add(deviation / RTTVAR_GAIN_DIVISOR);
        let srtt =
            (self.srtt - self.srtt / SRTT_GAIN_DIVISOR).saturating_add(r / SRTT_GAIN_DIVISOR);
        Self {
            srtt,
            rttvar,
            measured: true,
        }
    }

    /// RFC 6298 §2: SRTT + max(G, K · RTTVAR), unclamped.
    fn rto(&self) -> Duration {
        self.srtt
            .saturating_add(CLOCK_GRANULARITY.max(self.rttvar.saturating_mul(RTTVAR_MULTIPLIER)))
    }
}

/// What is known of one server, updated in place under its entry's lock.
#[derive(Debug, Clone, Default)]
struct HostState {
    rtt: Option<RttEstimate>,
    /// Consecutive timeouts since the last reply.
    timeouts: u32,
    /// The (clamped) RTO in force when the first of the consecutive
    /// timeouts happened; the backed-off RTO is this doubled per timeout.
    timeout_base_rto: Duration,
    /// When the last reply or counted timeout was recorded. A timeout of a
    /// query sent before this tells nothing new.
    last_event: Option<Instant>,
    /// Skip the server until then.
    backoff_until: Option<Instant>,
    /// Zones the server is lame for, with when that ends; oldest first.
    lame: Vec<(Name, Instant)>,
    no_edns: bool,
}

impl HostState {
    fn is_backed_off(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }

    fn is_lame(&self, zone: &Name, now: Instant) -> bool {
        self.lame.iter().any(|(z, until)| now < *until && z == zone)
    }

    /// SRTT used to rank servers: the measured (or timeout-raised) SRTT,
    /// [`UNKNOWN_SRTT`] if none, doubled per consecutive timeout like the RTO
    /// (Unbound ranks by its backed-off RTO likewise), so a server that
    /// stopped answering drops out of the band until it answers again.
    fn selection_srtt(&self) -> Duration {
        let srtt = self.rtt.map_or(UNKNOWN_SRTT, |r| r.srtt);
        doubled(srtt, self.timeouts)
    }
}

/// One candidate server as [`InfraCache::select`] weighs it.
struct Standing {
    ip: IpAddr,
    lame: bool,
    backed_off: bool,
    cost: Duration,
}

/// The state behind `cell`'s lock. A panic while it was held (none is
/// known) left at worst one server's RTT half-updated: still usable.
fn locked(cell: &Mutex<HostState>) -> MutexGuard<'_, HostState> {
    cell.lock().unwrap_or_else(|p| p.into_inner())
}

/// `d · 2^n`, saturating.
fn doubled(d: Duration, n: u32) -> Duration {
    d.saturating_mul(1_u32.checked_shl(n).unwrap_or(u32::MAX))
}

/// Per-server state (RTT estimate, timeouts and backoff, lameness per zone,
/// EDNS capability), bounded and expiring. Cheap to share: all methods take
/// `&self`.
pub struct InfraCache {
    hosts: Moka<IpAddr, Arc<Mutex<HostState>>, KeyHasher>,
    max_rto: Duration,
}

impl fmt::Debug for InfraCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfraCache")
            .field("entries", &self.hosts.entry_count())
            .field("max_rto", &self.max_rto)
            .finish()
    }
}

impl InfraCache {
    /// Remembers at most about `capacity` servers, each for [`INFRA_TTL`]
    /// after it was last used (selected, asked about or updated). `max_rto` is the cap from `--upstream-timeout`
    /// (default 1 s); it wins over [`MIN_RTO`] if set below it.
    pub fn new(capacity: u64, max_rto: Duration) -> Self {
        let hosts = Moka::builder()
            .max_capacity(capacity)
            .time_to_idle(INFRA_TTL)
            .build_with_hasher(KeyHasher::default());
        Self { hosts, max_rto }
    }

    /// Timeout for the next query to `ip`: RFC 6298 §2: SRTT + max(G, 4·RTTVAR),
    /// clamped to [MIN_RTO, max_rto]; an unknown server gets INITIAL_RTO
    /// (clamped too). A server with consecutive timeouts gets its RTO
    /// doubled per timeout (RFC 6298 §5.5), still capped.
    pub fn rto(&self, ip: IpAddr) -> Duration {
        self.read(ip, |s| self.rto_of(Some(s)))
            .unwrap_or_else(|| self.rto_of(None))
    }

    /// `f` of `ip`'s state, if the server is known.
    fn read<R>(&self, ip: IpAddr, f: impl FnOnce(&HostState) -> R) -> Option<R> {
        self.hosts.get(&ip).map(|s| f(&locked(&s)))
    }

    fn clamp(&self, rto: Duration) -> Duration {
        rto.max(MIN_RTO).min(self.max_rto)
    }

    fn rto_of(&self, state: Option<&HostState>) -> Duration {
        match state {
            Some(s) if s.timeouts > 0 => doubled(s.timeout_base_rto, s.timeouts).min(self.max_rto),
            Some(HostState {
                rtt: Some(rtt @ RttEstimate { measured: true, .. }),
                ..
            }) => self.clamp(rtt.rto()),
            _ => self.clamp(INITIAL_RTO),
        }
    }

    /// Applies `f` to `ip`'s state (a default state if none), atomically
    /// per server.
    fn update(&self, ip: IpAddr, f: impl FnOnce(&mut HostState)) {
        let state = self.hosts.get_with(ip, Default::default);
        f(&mut locked(&state));
    }

    /// A reply came after `rtt`: RFC 6298 §2.2/2.3 update (first sample:
    /// SRTT=R, RTTVAR=R/2; then RTTVAR=(1-β)RTTVAR+β|SRTT-R|,
    /// SRTT=(1-α)SRTT+αR, α=1/8, β=1/4); clears timeouts and backoff.
    ///
    /// An SRTT raised by earlier timeouts is smoothed like any other value
    /// (the server keeps ranking lower for a few replies), unless the server
    /// never replied before: then this sample is the first measurement.
    pub fn record_rtt(&self, ip: IpAddr, rtt: Duration, now: Instant) {
        self.update(ip, |s| {
            s.rtt = Some(match s.rtt {
                Some(est) if est.measured => est.update(rtt),
                _ => RttEstimate::first(rtt, true),
            });
            s.timeouts = 0;
            s.timeout_base_rto = Duration::ZERO;
            s.backoff_until = None;
            s.last_event = Some(now);
        });
    }

    /// No reply within the timeout: consecutive timeouts += 1; the server is
    /// backed off until now + min(BACKOFF_BASE·2^(n-1), MAX_BACKOFF); its
    /// SRTT is raised to at least the timeout it just waited (so selection
    /// prefers others even after backoff ends).
    ///
    /// A timeout of a query sent (`now - waited`) before the last recorded
    /// reply or timeout of this server is ignored: it was in flight when the
    /// server's state was last learned, so counting it would let a burst of
    /// concurrent queries that all time out together jump straight to
    /// [`MAX_BACKOFF`] (Unbound's `rtt_lost` doubles the original RTO, not the
    /// current one, for the same reason).
    pub fn record_timeout(&self, ip: IpAddr, waited: Duration, now: Instant) {
        self.update(ip, |s| {
            let sent = now.checked_sub(waited);
            let stale = s
                .last_event
                .is_some_and(|last| sent.is_none_or(|sent| sent < last));
            if stale {
                return;
            }
            if s.timeouts == 0 {
                s.timeout_base_rto = self.rto_of(Some(s));
            }
            s.timeouts = s.timeouts.saturating_add(1);
            let backoff = doubled(BACKOFF_BASE, s.timeouts - 1).min(MAX_BACKOFF);
            s.backoff_until = Some(now + backoff);
            s.last_event = Some(now);
            s.rtt = Some(match s.rtt {
                Some(est) => RttEstimate {
                    srtt: est.srtt.max(waited),
                    ..est
                },
                None => RttEstimate::first(waited, false),
            });
        });
    }

    /// The server gave a lame answer (REFUSED/SERVFAIL/upward referral) for
    /// `zone`: skip it for that zone for [`LAME_TTL`]. At most
    /// [`MAX_LAME_ZONES`] zones are kept per server, the oldest dropped.
    pub fn record_lame(&self, ip: IpAddr, zone: &Name, now: Instant) {
        self.update(ip, |s| {
            s.lame.retain(|(z, until)| now < *until && z != zone);
            if s.lame.len() >= MAX_LAME_ZONES {
                s.lame.remove(0);
            }
            s.lame.push((zone.clone(), now + LAME_TTL));
        });
    }

    /// Whether `ip` gave a lame answer for `zone` less than [`LAME_TTL`] ago.
    pub fn is_lame(&self, ip: IpAddr, zone: &Name, now: Instant) -> bool {
        self.read(ip, |s| s.is_lame(zone, now)).unwrap_or(false)
    }

    /// EDNS capability: the server answered FORMERR to EDNS and only works
    /// without it. Remembered as long as the entry lives ([`INFRA_TTL`] after
    /// its last use).
    pub fn record_no_edns(&self, ip: IpAddr, now: Instant) {
        self.update(ip, |s| {
            s.no_edns = true;
            // Not a timeout, but the server answered: in-flight timeouts
            // sent before this are stale.
            s.last_event = Some(s.last_event.map_or(now, |last| last.max(now)));
        });
    }

    /// Whether queries to `ip` should be sent without EDNS.
    pub fn no_edns(&self, ip: IpAddr) -> bool {
        self.read(ip, |s| s.no_edns).unwrap_or(false)
    }

    /// Whether `ip` has stopped answering: backed off at `now` after at
    /// least [`GIVE_UP_AFTER_TIMEOUTS`] timeouts in a row. A zone whose
    /// servers have all stopped is not asked until a backoff ends.
    pub fn given_up(&self, ip: IpAddr, now: Instant) -> bool {
        self.read(ip, |s| {
            s.is_backed_off(now) && s.timeouts >= GIVE_UP_AFTER_TIMEOUTS
        })
        .unwrap_or(false)
    }

    /// Whether `ip` is backed off at `now`.
    pub fn backed_off(&self, ip: IpAddr, now: Instant) -> bool {
        self.read(ip, |s| s.is_backed_off(now)).unwrap_or(false)
    }

    /// Picks the server to ask among `candidates` (already filtered for
    /// family/loopback policy and not yet tried in this walk) for `zone`:
    ///  - drop lame-for-zone and backed-off servers; if that leaves none,
    ///    fall back to the backed-off-but-not-lame ones, then to all (a zone
    ///    whose servers all failed is still tried: the walk has its own
    ///    budget); `None` only for an empty list;
    ///  - with probability [`EXPLORE_PERCENT`] pick uniformly among the
    ///    remaining (so a recovered server is seen again);
    ///  - otherwise pick uniformly among those whose effective SRTT is within
    ///    [`SELECTION_BAND`] of the best; unknown servers count as
    ///    [`UNKNOWN_SRTT`], and the SRTT of a server with consecutive
    ///    timeouts is doubled per timeout.
    pub fn select(&self, candidates: &[IpAddr], zone: &Name, now: Instant) -> Option<IpAddr> {
        // Each server's standing, read once under its lock.
        let states: Vec<Standing> = candidates
            .iter()
            .map(|&ip| {
                self.read(ip, |s| Standing {
                    ip,
                    lame: s.is_lame(zone, now),
                    backed_off: s.is_backed_off(now),
                    cost: s.selection_srtt(),
                })
                .unwrap_or(Standing {
                    ip,
                    lame: false,
                    backed_off: false,
                    cost: UNKNOWN_SRTT,
                })
            })
            .collect();

        let mut pool: Vec<&Standing> = states.iter().filter(|s| !s.lame && !s.backed_off).collect();
        if pool.is_empty() {
            pool = states.iter().filter(|s| !s.lame).collect();
        }
        if pool.is_empty() {
            pool = states.iter().collect();
        }
        if pool.len() <= 1 {
            return pool.first().map(|s| s.ip);
        }

        if rand::random_ratio(EXPLORE_PERCENT, PERCENT) {
            return pool.get(rand::random_range(0..pool.len())).map(|s| s.ip);
        }

        let best = pool.iter().map(|s| s.cost).min()?;
        let limit = best.saturating_add(SELECTION_BAND);
        let band: Vec<IpAddr> = pool
            .iter()
            .filter(|s| s.cost <= limit)
            .map(|s| s.ip)
            .collect();
        band.get(rand::random_range(0..band.len())).copied()
    }

    /// Smoothed RTT if known (for metrics/tests). After timeouts without a
    /// reply yet, this is the raised value.
    pub fn srtt(&self, ip: IpAddr) -> Option<Duration> {
        self.read(ip, |s| s.rtt.map(|r| r.srtt)).flatten()
    }

    /// Every measured server's smoothed RTT in seconds (for the metrics
    /// summary); walks the whole cache, so for scrapes, not queries.
    pub fn srtt_samples_seconds(&self) -> Vec<f64> {
        self.hosts
            .iter()
            .filter_map(|(_, s)| locked(&s).rtt.map(|r| r.srtt.as_secs_f64()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::str::FromStr;

    const MAX_RTO: Duration = Duration::from_secs(1);
    const FAST: Duration = Duration::from_millis(10);

    fn cache() -> InfraCache {
        InfraCache::new(DEFAULT_CAPACITY, MAX_RTO)
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn name(s: &str) -> Name {
        Name::from_str(s).expect("valid test name")
    }

    #[test]
    fn rto_follows_rfc6298_within_floor_and_cap() {
        let c = cache();
        let now = Instant::now();
        let a = ip(1);
        assert_eq!(c.rto(a), INITIAL_RTO);
        assert_eq!(c.srtt(a), None);

        c.record_rtt(a, FAST, now);
        // First sample: SRTT = 10 ms, RTTVAR = 5 ms: RTO = 30 ms -> floor.
        assert_eq!(c.srtt(a), Some(FAST));
        assert_eq!(c.rto(a), MIN_RTO);
        for _ in 0..20 {
            c.record_rtt(a, FAST, now);
        }
        assert_eq!(c.srtt(a), Some(FAST));
        assert_eq!(c.rto(a), MIN_RTO);

        // A mid-range sample: RTO = SRTT + 4·RTTVAR, unclamped.
        let b = ip(2);
        c.record_rtt(b, Duration::from_millis(100), now);
        assert_eq!(c.rto(b), Duration::from_millis(300));
        c.record_rtt(b, Duration::from_millis(20), now);
        // RTTVAR = 3/4·50 + 1/4·80 = 57.5; SRTT = 7/8·100 + 1/8·20 = 90.
        assert_eq!(c.srtt(b), Some(Duration::from_millis(90)));
        assert_eq!(c.rto(b), Duration::from_millis(320));

        let slow = ip(3);
        c.record_rtt(slow, Duration::from_secs(2), now);
        assert_eq!(c.rto(slow), MAX_RTO);
    }

    #[test]
    fn cap_below_floor_wins() {
        let cap = Duration::from_millis(20);
        let c = InfraCache::new(DEFAULT_CAPACITY, cap);
        assert_eq!(c.rto(ip(1)), cap);
        c.record_rtt(ip(1), FAST, Instant::now());
        assert_eq!(c.rto(ip(1)), cap);
    }

    #[test]
    fn backoff_doubles_per_timeout_is_capped_and_cleared_by_reply() {
        let c = cache();
        let a = ip(1);
        let start = Instant::now();
        c.record_rtt(a, Duration::from_millis(100), start);
        let base = c.rto(a);
        assert_eq!(base, Duration::from_millis(300));

        let mut now = start;
        let mut expected_backoff = BACKOFF_BASE;
        for n in 1..=12_u32 {
            // Each query is sent after the previous timeout was recorded.
            now += Duration::from_secs(200);
            let waited = c.rto(a);
            c.record_timeout(a, waited, now);
            assert!(c.backed_off(a, now), "timeout {n}");
            assert!(c.backed_off(a, now + expected_backoff - CLOCK_GRANULARITY));
            assert!(!c.backed_off(a, now + expected_backoff), "timeout {n}");
            assert_eq!(c.rto(a), doubled(base, n).min(MAX_RTO), "timeout {n}");
            assert!(c.srtt(a) >= Some(waited));
            expected_backoff = (expected_backoff * 2).min(MAX_BACKOFF);
        }
        assert_eq!(expected_backoff, MAX_BACKOFF);
        assert_eq!(c.rto(a), MAX_RTO);

        c.record_rtt(a, FAST, now + CLOCK_GRANULARITY);
        assert!(!c.backed_off(a, now + CLOCK_GRANULARITY));
        // SRTT was raised to 1 s by the timeouts and is smoothed from there.
        assert!(c.srtt(a) > Some(Duration::from_millis(800)));
        c.record_timeout(a, MAX_RTO, now + MAX_RTO * 2);
        let after_reply = now + MAX_RTO * 2;
        assert!(c.backed_off(a, after_reply));
        assert!(!c.backed_off(a, after_reply + BACKOFF_BASE));
    }

    #[test]
    fn timeout_of_unknown_server_doubles_initial_rto() {
        let c = cache();
        let a = ip(1);
        let now = Instant::now();
        c.record_timeout(a, INITIAL_RTO, now);
        assert_eq!(c.rto(a), INITIAL_RTO * 2);
        assert_eq!(c.srtt(a), Some(INITIAL_RTO));
        // First real reply initialises the estimator per RFC 6298 §2.2.
        c.record_rtt(a, FAST, now + BACKOFF_BASE);
        assert_eq!(c.srtt(a), Some(FAST));
        assert_eq!(c.rto(a), MIN_RTO);
    }

    #[test]
    fn concurrent_timeouts_count_once() {
        let c = cache();
        let a = ip(1);
        let now = Instant::now();
        // Ten queries sent together, all time out at about the same moment.
        for i in 0..10_u32 {
            let at = now + CLOCK_GRANULARITY * i;
            c.record_timeout(a, INITIAL_RTO, at);
        }
        assert_eq!(c.rto(a), INITIAL_RTO * 2);
        assert!(!c.backed_off(a, now + BACKOFF_BASE));
        // A timeout just after a reply, of a query sent before it, is ignored.
        let b = ip(2);
        c.record_rtt(b, FAST, now);
        c.record_timeout(b, MIN_RTO, now + FAST);
        assert!(!c.backed_off(b, now + FAST));
        assert_eq!(c.rto(b), MIN_RTO);
    }

    #[test]
    fn fast_server_preferred_and_recovered_server_explored() {
        let c = cache();
        let zone = name("example.");
        let fast = ip(1);
        let dead = ip(2);
        let now = Instant::now();
        for _ in 0..5 {
            c.record_rtt(fast, FAST, now);
        }
        c.record_timeout(dead, c.rto(dead), now);
        let both = [fast, dead];

        // While backed off, the dead server is never picked.
        for _ in 0..1000 {
            assert_eq!(c.select(&both, &zone, now), Some(fast));
        }

        // After its backoff it is outside the band: picked only by
        // exploration, P = 3 % · 1/2 = 1.5 % per call.
        // P(never in 2000 calls) = 0.985^2000 ≈ 7.6e-14; P(more than 5 %,
        // i.e. > 100 picks, mean 30) is smaller still.
        let later = now + BACKOFF_BASE;
        assert!(!c.backed_off(dead, later));
        let trials = 2000;
        let fast_picks = (0..trials)
            .filter(|_| c.select(&both, &zone, later) == Some(fast))
            .count();
        assert!(
            fast_picks * 100 >= trials * 95,
            "fast picked {fast_picks}/{trials}"
        );
        assert!(fast_picks < trials, "dead server never explored");
    }

    #[test]
    fn unknown_server_shares_band_with_fast_one() {
        // As in Unbound: UNKNOWN_SRTT lies inside the band, so it gets tried.
        let c = cache();
        let zone = name("example.");
        let fast = ip(1);
        let unknown = ip(2);
        let now = Instant::now();
        c.record_rtt(fast, FAST, now);
        let unknown_picks = (0..2000)
            .filter(|_| c.select(&[fast, unknown], &zone, now) == Some(unknown))
            .count();
        // Mean 1000; bounds are > 10 standard deviations away.
        assert!((700..=1300).contains(&unknown_picks), "{unknown_picks}");

        // A measured slow server falls out of the band.
        let slow = ip(3);
        c.record_rtt(slow, Duration::from_millis(600), now);
        let slow_picks = (0..2000)
            .filter(|_| c.select(&[fast, slow], &zone, now) == Some(slow))
            .count();
        assert!(slow_picks <= 100, "{slow_picks}");
    }

    #[test]
    fn lameness_is_per_zone_and_expires() {
        let c = cache();
        let a = ip(1);
        let b = ip(2);
        let lame_zone = name("Lame.Example.");
        let other = name("other.example.");
        let now = Instant::now();
        c.record_rtt(a, FAST, now);
        c.record_lame(a, &lame_zone, now);
        assert!(c.is_lame(a, &name("lame.example."), now));
        assert!(!c.is_lame(a, &other, now));
        assert!(!c.is_lame(b, &lame_zone, now));
        assert!(c.is_lame(a, &lame_zone, now + LAME_TTL - CLOCK_GRANULARITY));
        assert!(!c.is_lame(a, &lame_zone, now + LAME_TTL));

        // Selection skips it for that zone only.
        for _ in 0..200 {
            assert_eq!(c.select(&[a, b], &lame_zone, now), Some(b));
        }
        assert!(
            (0..200).any(|_| c.select(&[a, b], &other, now) == Some(a)),
            "not lame for other zone"
        );
        // Other state survives: the RTT is still known.
        assert_eq!(c.srtt(a), Some(FAST));
    }

    #[tokio::test(start_paused = true)]
    async fn lameness_expires_on_paused_clock() {
        let c = cache();
        let a = ip(1);
        let zone = name("example.");
        c.record_lame(a, &zone, Instant::now());
        assert!(c.is_lame(a, &zone, Instant::now()));
        tokio::time::advance(LAME_TTL).await;
        assert!(!c.is_lame(a, &zone, Instant::now()));
    }

    #[test]
    fn lame_zones_per_server_are_bounded() {
        let c = cache();
        let a = ip(1);
        let now = Instant::now();
        let zones: Vec<Name> = (0..=MAX_LAME_ZONES)
            .map(|i| name(&format!("z{i}.example.")))
            .collect();
        for zone in &zones {
            c.record_lame(a, zone, now);
        }
        assert!(!c.is_lame(a, &zones[0], now), "oldest dropped");
        assert!(zones[1..].iter().all(|z| c.is_lame(a, z, now)));
        // Re-marking an existing zone does not duplicate it.
        c.record_lame(a, &zones[1], now);
        assert!(zones[1..].iter().all(|z| c.is_lame(a, z, now)));
    }

    #[test]
    fn select_never_none_for_nonempty_list() {
        let c = cache();
        let zone = name("example.");
        let now = Instant::now();
        assert_eq!(c.select(&[], &zone, now), None);

        let all = [ip(1), ip(2), IpAddr::V6(Ipv6Addr::LOCALHOST)];
        for &a in &all {
            c.record_timeout(a, MAX_RTO, now);
        }
        // All backed off: falls back to them.
        for _ in 0..100 {
            assert!(c.select(&all, &zone, now).is_some());
        }
        // One backed off and not lame is preferred over lame ones.
        c.record_lame(all[0], &zone, now);
        c.record_lame(all[1], &zone, now);
        for _ in 0..100 {
            assert_eq!(c.select(&all, &zone, now), Some(all[2]));
        }
        // All lame and backed off: still returns one.
        c.record_lame(all[2], &zone, now);
        for _ in 0..100 {
            let pick = c.select(&all, &zone, now);
            assert!(pick.is_some_and(|p| all.contains(&p)));
        }
        assert_eq!(c.select(&all[..1], &zone, now), Some(all[0]));
    }

    #[test]
    fn no_edns_is_remembered_per_server() {
        let c = cache();
        let now = Instant::now();
        assert!(!c.no_edns(ip(1)));
        c.record_no_edns(ip(1), now);
        assert!(c.no_edns(ip(1)));
        assert!(!c.no_edns(ip(2)));
        c.record_rtt(ip(1), FAST, now);
        assert!(c.no_edns(ip(1)), "an RTT sample keeps the flag");
    }

    #[test]
    fn capacity_bounds_entry_count() {
        let capacity = 100;
        let c = InfraCache::new(capacity, MAX_RTO);
        let now = Instant::now();
        for i in 0..(capacity as u32 * 20) {
            let a = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            c.record_rtt(a, FAST, now);
        }
        c.hosts.run_pending_tasks();
        assert!(
            c.hosts.entry_count() <= capacity,
            "{}",
            c.hosts.entry_count()
        );
    }
}
