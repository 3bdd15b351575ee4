//! Per-client query rate limiting and response-rate limiting (RRL).
//!
//! One query's path: after the ACL, the handler calls
//! [`RateLimiter::allow_query`] with the client's address and the time the
//! query arrived. The address (an IPv4-mapped IPv6 one as IPv4) is cut to its
//! prefix ([`V4_PREFIX`], [`V6_PREFIX`]); loopback clients skip the rest
//! unless told otherwise. The prefix's state is looked up in a bounded,
//! sharded cache (created full on first sight), its query token bucket is
//! refilled for the time elapsed and one token taken: none left means the
//! query is over the limit. When the answer is ready to go out over UDP,
//! [`RateLimiter::response`] does the same with the prefix's response
//! bucket; past that rate every [`SLIP`]-th response is slipped (an empty
//! TC=1 reply, so a real client retries over TCP, which a spoofed source
//! cannot) and the others are dropped.
//!
//! Memory is bounded whatever the traffic: at most [`MAX_TRACKED_PREFIXES`]
//! prefixes are tracked, and a prefix idle for [`IDLE_EXPIRY`] is forgotten
//! (by then its buckets are full again, so forgetting it changes nothing).
//! Concurrency: the cache is sharded and each prefix has its own small lock,
//! so worker threads only contend when they serve the same prefix.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moka::sync::Cache;
use tokio::time::Instant;

/// IPv4 clients share a bucket per /24, IPv6 per /56 (Unbound's
/// ip-ratelimit works per address; BIND's RRL uses /24 and /56 by default):
/// one host cannot escape by hopping addresses in its prefix.
pub const V4_PREFIX: u8 = 24;
/// See [`V4_PREFIX`]: a /56 is the usual smallest delegation to one IPv6
/// site, so a host can hop across a /64 but not out of its /56.
pub const V6_PREFIX: u8 = 56;

/// Token bucket capacity in seconds of rate: a prefix that was quiet may
/// send this many seconds' worth at once (a browser opening a page, a
/// resolver restart) before the steady rate applies.
pub const BURST_SECONDS: u32 = 2;

/// Past the response rate, one response in `SLIP` is sent as an empty TC=1
/// reply and the others are dropped. 2 is BIND's default: a real client
/// behind a flooded prefix still gets through (over TCP) after a retry or
/// two, while a reflection attack is halved and its answers are tiny.
pub const SLIP: u32 = 2;

/// Most client prefixes tracked at once. A spoofed flood from random
/// sources would otherwise grow the state without bound; past this the
/// cache evicts by frequency (TinyLFU), so prefixes seen often (a real
/// flooder's) stay tracked while one-off spoofed ones do not displace them.
/// An entry costs about 500 bytes (measured: the key, two buckets and the
/// cache's bookkeeping), so this is about 50 MB at most.
pub const MAX_TRACKED_PREFIXES: u64 = 100_000;

/// A prefix not seen for this long is forgotten. At least
/// [`BURST_SECONDS`]: an idle bucket has refilled to full by then, exactly
/// the state a newly seen prefix starts with, so forgetting loses nothing.
pub const IDLE_EXPIRY: Duration = Duration::from_secs(5);

const _: () = assert!(IDLE_EXPIRY.as_secs() >= BURST_SECONDS as u64);

/// Token units per token: tokens are counted in billionths so that a refill
/// of `elapsed nanoseconds × rate` is exact integer arithmetic.
const UNITS_PER_TOKEN: u128 = 1_000_000_000;

/// What to do with a UDP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// Within the rate: send it.
    Send,
    /// Over the rate: send an empty TC=1 reply instead.
    Slip,
    /// Over the rate: send nothing.
    Drop,
}

/// A token bucket holding up to `rate × BURST_SECONDS` tokens, in
/// [`UNITS_PER_TOKEN`] units.
#[derive(Debug)]
struct TokenBucket {
    units: u128,
    /// When it was last refilled.
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate`.
    fn full(rate: u32, now: Instant) -> Self {
        Self {
            units: capacity(rate),
            last: now,
        }
    }

    /// Refills for the time since the last call and takes one token if
    /// there is one. A `now` earlier than the last one (another thread's
    /// timestamp taken a moment before) refills nothing.
    fn take(&mut self, rate: u32, now: Instant) -> bool {
        if now > self.last {
            let elapsed = now.saturating_duration_since(self.last).as_nanos();
            let refill = elapsed.saturating_mul(u128::from(rate));
            self.units = self.units.saturating_add(refill).min(capacity(rate));
            self.last = now;
        }
        match self.units.checked_sub(UNITS_PER_TOKEN) {
            Some(left) => {
                self.units = left;
                true
            }
            None => false,
        }
    }
}

/// The bucket capacity for `rate`, in units.
fn capacity(rate: u32) -> u128 {
    u128::from(rate) * u128::from(BURST_SECONDS) * UNITS_PER_TOKEN
}

/// What is tracked per client prefix.
#[derive(Debug)]
struct PrefixState {
    queries: TokenBucket,
    responses: TokenBucket,
    /// Responses over the rate since the last slip.
    since_slip: u32,
}

/// Per-client-prefix query and response rate limits; shared by all
/// listeners and worker threads.
pub struct RateLimiter {
    queries_per_sec: u32,
    responses_per_sec: u32,
    limit_loopback: bool,
    /// Per-prefix state; `None` when both limits are off.
    prefixes: Option<Cache<IpAddr, Arc<Mutex<PrefixState>>>>,
    refused: AtomicU64,
    slipped: AtomicU64,
    dropped: AtomicU64,
}

impl RateLimiter {
    /// `queries_per_sec` 0 = no query limit; `responses_per_sec` 0 = no
    /// RRL. Loopback clients are exempt unless `limit_loopback`. Bursts of
    /// up to [`BURST_SECONDS`] × rate are allowed (token bucket capacity).
    pub fn new(queries_per_sec: u32, responses_per_sec: u32, limit_loopback: bool) -> Self {
        let prefixes = (queries_per_sec != 0 || responses_per_sec != 0).then(|| {
            Cache::builder()
                .max_capacity(MAX_TRACKED_PREFIXES)
                .time_to_idle(IDLE_EXPIRY)
                .build()
        });
        Self {
            queries_per_sec,
            responses_per_sec,
            limit_loopback,
            prefixes,
            refused: AtomicU64::new(0),
            slipped: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Token bucket per client prefix: true if this query may be served,
    /// false if over the limit (the server then answers REFUSED, or nothing
    /// for a flood: the caller decides).
    pub fn allow_query(&self, client: IpAddr, now: Instant) -> bool {
        if self.queries_per_sec == 0 {
            return true;
        }
        let Some(state) = self.state(client, now) else {
            return true;
        };
        let allowed = lock(&state).queries.take(self.queries_per_sec, now);
        if !allowed {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        allowed
    }

    /// Response-rate limiting for a UDP response to `client`, per prefix
    /// (BIND's RRL idea, simplified to one bucket per prefix): within the
    /// rate → Send; past it every [`SLIP`]-th response → Slip (the caller
    /// sends an empty TC=1 reply, so a real client retries over TCP, which
    /// a spoofed source cannot) and the others → Drop.
    pub fn response(&self, client: IpAddr, now: Instant) -> ResponseVerdict {
        if self.responses_per_sec == 0 {
            return ResponseVerdict::Send;
        }
        let Some(state) = self.state(client, now) else {
            return ResponseVerdict::Send;
        };
        let verdict = {
            let mut st = lock(&state);
            if st.responses.take(self.responses_per_sec, now) {
                ResponseVerdict::Send
            } else {
                st.since_slip += 1;
                if st.since_slip >= SLIP {
                    st.since_slip = 0;
                    ResponseVerdict::Slip
                } else {
                    ResponseVerdict::Drop
                }
            }
        };
        match verdict {
            ResponseVerdict::Send => {}
            ResponseVerdict::Slip => {
                self.slipped.fetch_add(1, Ordering::Relaxed);
            }
            ResponseVerdict::Drop => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        verdict
    }

    /// Queries refused and responses slipped/dropped so far (for `ctl
    /// stats`), as `(refused, slipped, dropped)`.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.refused.load(Ordering::Relaxed),
            self.slipped.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }

    /// The state of `client`'s prefix, created full if new; `None` if the
    /// client is exempt or nothing is limited.
    fn state(&self, client: IpAddr, now: Instant) -> Option<Arc<Mutex<PrefixState>>> {
        let prefixes = self.prefixes.as_ref()?;
        let client = client.to_canonical();
        if client.is_loopback() && !self.limit_loopback {
            return None;
        }
        Some(prefixes.get_with(prefix_of(client), || {
            Arc::new(Mutex::new(PrefixState {
                queries: TokenBucket::full(self.queries_per_sec, now),
                responses: TokenBucket::full(self.responses_per_sec, now),
                since_slip: 0,
            }))
        }))
    }

    /// Prefixes tracked, after the cache's pending evictions.
    #[cfg(test)]
    fn tracked(&self) -> u64 {
        self.prefixes.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count()
        })
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("queries_per_sec", &self.queries_per_sec)
            .field("responses_per_sec", &self.responses_per_sec)
            .field("limit_loopback", &self.limit_loopback)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

/// The client's bucket key: its address with the host bits cleared.
fn prefix_of(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(a) => {
            let mask = u32::MAX << (32 - u32::from(V4_PREFIX));
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX << (128 - u32::from(V6_PREFIX));
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// Locks a prefix's state. Nothing panics while holding it, but if
/// something ever did, the buckets are still plain numbers: keep using them.
fn lock(state: &Mutex<PrefixState>) -> std::sync::MutexGuard<'_, PrefixState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn passes(rl: &RateLimiter, client: IpAddr, now: Instant, n: usize) -> usize {
        (0..n).filter(|_| rl.allow_query(client, now)).count()
    }

    #[test]
    fn query_bucket_allows_burst_then_rate() {
        let rl = RateLimiter::new(10, 0, false);
        let c = ip("192.0.2.1");
        let t0 = Instant::now();
        assert_eq!(passes(&rl, c, t0, 20), 20);
        assert!(!rl.allow_query(c, t0));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(passes(&rl, c, t1, 10), 10);
        assert!(!rl.allow_query(c, t1));
        // Half a second refills half of the rate, and long idleness only
        // refills to capacity.
        assert_eq!(passes(&rl, c, t1 + Duration::from_millis(500), 10), 5);
        assert_eq!(passes(&rl, c, t1 + Duration::from_secs(60), 100), 20);
        assert_eq!(rl.counts(), (2 + 5 + 80, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn works_with_a_paused_clock() {
        let rl = RateLimiter::new(10, 0, false);
        let c = ip("2001:db8::1");
        assert_eq!(passes(&rl, c, Instant::now(), 25), 20);
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(passes(&rl, c, Instant::now(), 25), 3);
    }

    #[test]
    fn earlier_timestamp_refills_nothing() {
        let rl = RateLimiter::new(10, 0, false);
        let c = ip("192.0.2.1");
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(passes(&rl, c, t1, 20), 20);
        assert!(!rl.allow_query(c, t0));
        assert_eq!(passes(&rl, c, t1 + Duration::from_millis(100), 5), 1);
    }

    #[test]
    fn buckets_are_per_prefix() {
        let rl = RateLimiter::new(10, 0, false);
        let t0 = Instant::now();
        assert_eq!(passes(&rl, ip("192.0.2.1"), t0, 15), 15);
        assert_eq!(passes(&rl, ip("192.0.2.200"), t0, 15), 5);
        assert_eq!(passes(&rl, ip("::ffff:192.0.2.9"), t0, 5), 0);
        assert_eq!(passes(&rl, ip("198.51.100.1"), t0, 25), 20);
        assert_eq!(passes(&rl, ip("192.0.3.1"), t0, 25), 20);
        // IPv6: one /56 shared, the next /56 separate.
        assert_eq!(passes(&rl, ip("2001:db8:0:1::1"), t0, 15), 15);
        assert_eq!(passes(&rl, ip("2001:db8:0:ff::2"), t0, 15), 5);
        assert_eq!(passes(&rl, ip("2001:db8:0:100::1"), t0, 25), 20);
    }

    #[test]
    fn loopback_exempt_unless_limited() {
        let t0 = Instant::now();
        let rl = RateLimiter::new(10, 10, false);
        for c in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(passes(&rl, ip(c), t0, 100), 100, "{c}");
            for _ in 0..100 {
                assert_eq!(rl.response(ip(c), t0), ResponseVerdict::Send);
            }
        }
        assert_eq!(rl.tracked(), 0);

        let rl = RateLimiter::new(10, 10, true);
        assert_eq!(passes(&rl, ip("127.0.0.1"), t0, 100), 20);
        assert_eq!(passes(&rl, ip("::1"), t0, 100), 20);
    }

    #[test]
    fn rrl_alternates_drop_and_slip() {
        let rl = RateLimiter::new(0, 5, false);
        let c = ip("203.0.113.7");
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(rl.response(c, t0), ResponseVerdict::Send);
        }
        let over: Vec<_> = (0..6).map(|_| rl.response(c, t0)).collect();
        use ResponseVerdict::{Drop, Slip};
        assert_eq!(over, [Drop, Slip, Drop, Slip, Drop, Slip]);
        assert_eq!(rl.counts(), (0, 3, 3));
        // Refilled: sent again.
        assert_eq!(
            rl.response(c, t0 + Duration::from_secs(1)),
            ResponseVerdict::Send
        );
        // The query limit is off.
        assert_eq!(passes(&rl, c, t0, 1000), 1000);
    }

    #[test]
    fn query_and_response_buckets_are_separate() {
        let rl = RateLimiter::new(10, 10, false);
        let c = ip("192.0.2.1");
        let t0 = Instant::now();
        assert_eq!(passes(&rl, c, t0, 30), 20);
        assert_eq!(rl.response(c, t0), ResponseVerdict::Send);
    }

    #[test]
    fn zero_disables() {
        let rl = RateLimiter::new(0, 0, true);
        let t0 = Instant::now();
        for c in ["192.0.2.1", "127.0.0.1", "2001:db8::1"] {
            assert_eq!(passes(&rl, ip(c), t0, 10_000), 10_000);
            assert!((0..10_000).all(|_| rl.response(ip(c), t0) == ResponseVerdict::Send));
        }
        assert_eq!(rl.counts(), (0, 0, 0));
        assert_eq!(rl.tracked(), 0);
    }

    #[test]
    fn huge_rates_do_not_overflow() {
        let rl = RateLimiter::new(u32::MAX, u32::MAX, false);
        let c = ip("192.0.2.1");
        let t0 = Instant::now();
        assert_eq!(passes(&rl, c, t0, 1000), 1000);
        let later = t0 + Duration::from_secs(86_400 * 365 * 100);
        assert!(rl.allow_query(c, later));
        assert_eq!(rl.response(c, later), ResponseVerdict::Send);
    }

    #[test]
    fn concurrent_callers_share_one_bucket() {
        let rl = Arc::new(RateLimiter::new(10, 0, false));
        let t0 = Instant::now();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let rl = rl.clone();
                std::thread::spawn(move || {
                    let c = IpAddr::V4(Ipv4Addr::new(192, 0, 2, i));
                    passes(&rl, c, t0, 100)
                })
            })
            .collect();
        let total: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(total, 20);
        assert_eq!(rl.counts().0, 800 - 20);
    }

    #[test]
    fn state_is_bounded() {
        let rl = RateLimiter::new(10, 10, false);
        let t0 = Instant::now();
        // 200k distinct pseudo-random /24s and /56s (xorshift), twice the bound.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let c = if i % 2 == 0 {
                IpAddr::V4(Ipv4Addr::from((x as u32) | 0x0100_0000))
            } else {
                IpAddr::V6(Ipv6Addr::from(u128::from(x) << 64 | 1))
            };
            rl.allow_query(c, t0);
        }
        let tracked = rl.tracked();
        assert!(
            tracked <= MAX_TRACKED_PREFIXES,
            "{tracked} prefixes tracked"
        );
        assert!(tracked > 0);
    }
}
