//! The cache: answers to questions, and the RRsets the walker works from.
//!
//! One query's path: the listener asks [`Cache::answer_hot`] with the
//! question and "now"; its thread's [`front`] answers if it holds a live
//! entry, else the answer table does, and the entry comes back with TTLs
//! counted down and the query is done. On a miss the walker reads RRsets
//! ([`Cache::rrset`]) to find the closest zone cut and NS addresses, stores what each scrubbed reply taught
//! it ([`Cache::store_rrset`], ranked by [`Trust`]), and the resolver stores
//! the final answer ([`Cache::store_answer`]).
//!
//! Storage is moka, whose per-entry expiry removes an entry when its own TTL
//! runs out and whose size bound evicts by TinyLFU. moka keeps its own
//! monotonic clock for that housekeeping; whether an entry is still alive for
//! a client is decided here against the "now" passed in, so a wall clock that
//! is faked (libfaketime) or a test's manual clock governs what clients see.
//! Reads take no lock shared by all workers (moka shards its maps).

pub mod admin;
pub mod answer;
pub mod fingerprint;
pub mod front;
#[cfg(test)]
mod front_tests;
pub mod rrset;
pub mod trust;
pub mod ttl;
pub mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use moka::Expiry;
use moka::sync::Cache as Moka;

pub use answer::{AnswerKind, CachedAnswer, QuestionKey};
use fingerprint::Fingerprint;
pub use rrset::{CachedRrset, RrsetKey};
pub use trust::Trust;
pub use ttl::TtlPolicy;

use crate::clock::Timestamp;
use crate::dnssec::Security;
pub use crate::dnssec::Verdict;
use crate::names::parent;

/// Numbers the caches of this process, for the per-thread fronts' tags.
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(0);

/// Share of the answers' half of the cache that type-independent NXDOMAINs
/// may take (one eighth): they are a name's proof of non-existence for
/// every type and every name below it, so fewer are needed than answers.
pub const NXDOMAIN_CUT_SHARE: u64 = 8;

/// Longest time a bogus answer is remembered, so that a fixed zone is
/// asked again soon (Unbound's `val-bogus-ttl`, 60 s).
pub const BOGUS_TTL: u32 = 60;

/// Something with a TTL, for moka's per-entry expiry.
trait Lifetime {
    fn ttl_secs(&self) -> u32;
}

impl Lifetime for CachedRrset {
    fn ttl_secs(&self) -> u32 {
        self.ttl
    }
}

impl Lifetime for CachedAnswer {
    fn ttl_secs(&self) -> u32 {
        self.ttl
    }
}

/// Expires each entry after its own TTL plus `grace` seconds: the
/// serve-stale window for answers, nothing for RRsets. One more second keeps
/// moka from dropping an entry our clock still calls alive within the same
/// second.
struct TtlExpiry {
    grace: u64,
}

impl TtlExpiry {
    fn lifetime(&self, ttl: u32) -> Duration {
        Duration::from_secs(u64::from(ttl) + self.grace + 1)
    }
}

impl<K, V: Lifetime> Expiry<K, Arc<V>> for TtlExpiry {
    fn expire_after_create(&self, _: &K, value: &Arc<V>, _: Instant) -> Option<Duration> {
        Some(self.lifetime(value.ttl_secs()))
    }

    fn expire_after_update(
        &self,
        _: &K,
        value: &Arc<V>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.lifetime(value.ttl_secs()))
    }
}

fn count_eviction(counter: &AtomicU64, cause: moka::notification::RemovalCause) {
    if cause == moka::notification::RemovalCause::Size {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The answer-cache key of a name's type-independent NXDOMAIN. Class NONE
/// (RFC 2136) never occurs in a client's question (only IN is served), so
/// the key cannot collide with a real question's.
fn nxdomain_key(name: &Name) -> QuestionKey {
    QuestionKey::with_class(name, RecordType::ANY, DNSClass::NONE)
}

/// Hasher of the cache's tables and of the resolver's maps keyed by
/// question, name or address: foldhash, seeded at random per process (so
/// that chosen names cannot aim at one bucket), several times faster than
/// the standard library's SipHash. Cache keys hash only their
/// [`Fingerprint`]; the resolver's maps hash whole names and addresses.
pub(crate) type KeyHasher = foldhash::fast::RandomState;

/// The resolver's cache. Cheap to share: clone the `Arc` around it.
pub struct Cache {
    answers: Moka<QuestionKey, Arc<CachedAnswer>, KeyHasher>,
    /// Type-independent NXDOMAINs (RFC 8020 cuts), apart from the answers:
    /// every miss looks for one at each ancestor of its name, and a lookup
    /// that finds nothing in a small table ends at once, where one in the
    /// answer table probes through hundreds of thousands of entries.
    nxdomains: Moka<QuestionKey, Arc<CachedAnswer>, KeyHasher>,
    rrsets: Moka<RrsetKey, Arc<CachedRrset>, KeyHasher>,
    /// Read on every store (misses only), replaced by a reload.
    policy: RwLock<TtlPolicy>,
    stale_window: u64,
    /// Entries pushed out for lack of space (not expiry), for metrics.
    evictions: Arc<AtomicU64>,
    /// This cache's number, and how many flushes it has seen: the tag of
    /// the per-thread [`front`] slots filled from it.
    id: u64,
    generation: AtomicU64,
}

impl Cache {
    /// A cache of at most `size` entries, split evenly between answers and
    /// RRsets (of the answers' half, one in [`NXDOMAIN_CUT_SHARE`] may be a
    /// type-independent NXDOMAIN), storing TTLs by `policy`. Answers are
    /// kept `stale_window` past expiry for serve-stale (RFC 8767); zero
    /// keeps nothing stale.
    pub fn new(size: u64, policy: TtlPolicy, stale_window: Duration) -> Self {
        let half = (size / 2).max(1);
        let stale_window = stale_window.as_secs();
        let evictions = Arc::new(AtomicU64::new(0));
        let (a, n, r) = (evictions.clone(), evictions.clone(), evictions.clone());
        let cuts = (half / NXDOMAIN_CUT_SHARE).max(1);
        Self {
            answers: Moka::builder()
                .max_capacity(half.saturating_sub(cuts).max(1))
                .expire_after(TtlExpiry {
                    grace: stale_window,
                })
                .eviction_listener(move |_, _, cause| count_eviction(&a, cause))
                .build_with_hasher(KeyHasher::default()),
            // Only live cuts are ever read (`nxdomain_at_or_above`), never
            // stale ones: nothing kept past expiry.
            nxdomains: Moka::builder()
                .max_capacity(cuts)
                .expire_after(TtlExpiry { grace: 0 })
                .eviction_listener(move |_, _, cause| count_eviction(&n, cause))
                .build_with_hasher(KeyHasher::default()),
            rrsets: Moka::builder()
                .max_capacity(half)
                .expire_after(TtlExpiry { grace: 0 })
                .eviction_listener(move |_, _, cause| count_eviction(&r, cause))
                .build_with_hasher(KeyHasher::default()),
            policy: RwLock::new(policy),
            stale_window,
            evictions,
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
        }
    }

    /// The table holding `key`'s answer: type-independent NXDOMAINs apart.
    fn table(&self, key: &QuestionKey) -> &Moka<QuestionKey, Arc<CachedAnswer>, KeyHasher> {
        if key.class() == DNSClass::NONE {
            &self.nxdomains
        } else {
            &self.answers
        }
    }

    /// The TTL rules this cache stores by.
    pub fn policy(&self) -> TtlPolicy {
        *self.policy.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the TTL rules (a config reload); entries already stored
    /// keep the TTL they were stored with.
    pub fn set_policy(&self, policy: TtlPolicy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// The live answer to a question at `now`, if any.
    pub fn answer(&self, key: &QuestionKey, now: Timestamp) -> Option<Arc<CachedAnswer>> {
        self.table(key).get(key).filter(|a| a.remaining(now) > 0)
    }

    /// The answer to `key` with one lookup: `(live, stale)`, at most one of
    /// them set, as [`answer`](Self::answer) and
    /// [`stale_answer`](Self::stale_answer) would return them.
    pub fn answer_or_stale(
        &self,
        key: &QuestionKey,
        now: Timestamp,
    ) -> (Option<Arc<CachedAnswer>>, Option<Arc<CachedAnswer>>) {
        match self.table(key).get(key) {
            Some(a) if a.remaining(now) > 0 => (Some(a), None),
            Some(a) if self.within_stale_window(&a, now) => (None, Some(a)),
            _ => (None, None),
        }
    }

    fn within_stale_window(&self, a: &CachedAnswer, now: Timestamp) -> bool {
        let expired_at = a.stored_at + u64::from(a.ttl);
        a.remaining(now) == 0 && now <= expired_at + self.stale_window
    }

    /// The live answer to the IN-class question `name`/`qtype`, for the
    /// client hot path: from this thread's [`front`] if it holds one that
    /// `accept` takes, else from the cache (and then kept in the front).
    /// Returns what [`answer`](Self::answer) would have, or an entry that
    /// was in the cache (unflushed, unexpired) until a new answer replaced
    /// it; `accept` refusing an entry makes the cache decide.
    pub fn answer_hot(
        &self,
        name: &Name,
        qtype: RecordType,
        now: Timestamp,
        accept: impl Fn(&CachedAnswer) -> bool,
    ) -> Option<Arc<CachedAnswer>> {
        let fingerprint = Fingerprint::of(name, qtype, DNSClass::IN);
        // Read before the cache: a flush that empties the cache after this
        // load leaves the slot filled below with an older generation.
        let tag = front::Tag {
            cache: self.id,
            generation: self.generation.load(Ordering::Acquire),
        };
        let kept = front::get(tag, fingerprint, name, qtype);
        if let Some(entry) = &kept
            && entry.remaining(now) > 0
            && accept(entry)
        {
            return kept;
        }
        let key = QuestionKey::with_fingerprint(name, qtype, DNSClass::IN, fingerprint);
        let entry = self.answers.get(&key).filter(|a| a.remaining(now) > 0)?;
        // An entry the caller refused (due for prefetch) is what the cache
        // still holds until the prefetch replaces it: the slot has it.
        if !kept.is_some_and(|k| Arc::ptr_eq(&k, &entry)) {
            front::put(tag, fingerprint, name, qtype, entry.clone());
        }
        Some(entry)
    }

    /// Makes every per-thread [`front`] slot filled so far unusable: called
    /// after entries were removed.
    fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// An expired answer still inside the serve-stale window at `now`
    /// (RFC 8767 §4): for use only when every authority has failed.
    pub fn stale_answer(&self, key: &QuestionKey, now: Timestamp) -> Option<Arc<CachedAnswer>> {
        self.table(key)
            .get(key)
            .filter(|a| self.within_stale_window(a, now))
    }

    /// The live RRset `name`/`rtype` at `now`, if any.
    pub fn rrset(
        &self,
        name: &Name,
        rtype: RecordType,
        now: Timestamp,
    ) -> Option<Arc<CachedRrset>> {
        self.rrsets
            .get(&RrsetKey::new(name, rtype))
            .filter(|r| r.remaining(now) > 0)
    }

    /// Stores an RRset (all records share owner, type and class) with the
    /// TTL floor/cap applied. A live RRset of higher trust is kept instead
    /// (RFC 2181 §5.4.1). Returns whether the set was stored. A set whose
    /// stored TTL would be zero is not cached (RFC 1035 §3.2.1).
    pub fn store_rrset(&self, records: Vec<Record>, trust: Trust, now: Timestamp) -> bool {
        let Some(first) = records.first() else {
            return false;
        };
        let key = RrsetKey::new(&first.name, first.record_type());
        if let Some(old) = self.rrsets.get(&key)
            && old.remaining(now) > 0
            && old.trust > trust
        {
            return false;
        }
        // RFC 2181 §5.2: the records of an RRset share one TTL; use the lowest.
        let ttl = self
            .policy()
            .positive(records.iter().map(|r| r.ttl).min().unwrap_or(0));
        if ttl == 0 {
            return false;
        }
        let records = records
            .into_iter()
            .map(|mut r| {
                r.ttl = ttl;
                r
            })
            .collect();
        self.rrsets.insert(
            key,
            Arc::new(CachedRrset {
                records,
                ttl,
                stored_at: now,
                trust,
            }),
        );
        true
    }

    /// Stores a positive answer: the records keep their TTLs with the floor
    /// and cap applied; the entry lives as long as the shortest.
    pub fn store_positive(&self, key: QuestionKey, answers: Vec<Record>, now: Timestamp) {
        self.store(
            key,
            AnswerKind::Positive,
            answers,
            Vec::new(),
            Verdict::default(),
            now,
        );
    }

    /// Stores a negative answer (NXDOMAIN or NODATA) per RFC 2308 §5: the
    /// entry and the SOA's TTL are min(SOA TTL, SOA MINIMUM), capped by
    /// `cache-max-negative-ttl`. `answers` holds a CNAME chain that led to
    /// the negative name, if any. Without an SOA (RFC 2308 §5 says such an
    /// answer "SHOULD NOT" be cached for long) it is kept for
    /// [`NO_SOA_NEGATIVE_TTL`](ttl::NO_SOA_NEGATIVE_TTL) seconds.
    pub fn store_negative(
        &self,
        key: QuestionKey,
        kind: AnswerKind,
        answers: Vec<Record>,
        soa: Option<Record>,
        now: Timestamp,
    ) {
        let authorities = soa.into_iter().collect();
        let _ = self.store(key, kind, answers, authorities, Verdict::default(), now);
    }

    /// Stores an answer of any kind with what validation made of it. The
    /// authority section of a negative answer must hold its SOA (it sets
    /// the TTL, RFC 2308 §5); its NSEC/NSEC3 proofs and RRSIGs are kept
    /// beside it for DO clients, capped to the same TTL (RFC 4035 §4.5).
    /// A bogus answer lives at most [`BOGUS_TTL`]. Returns the entry as
    /// stored (what a lookup at `now` would find), or `None` if nothing was
    /// (a TTL of zero, records hickory cannot
    /// encode).
    pub fn store(
        &self,
        key: QuestionKey,
        kind: AnswerKind,
        answers: Vec<Record>,
        authorities: Vec<Record>,
        verdict: Verdict,
        now: Timestamp,
    ) -> Option<Arc<CachedAnswer>> {
        let policy = self.policy();
        let cap = match kind {
            AnswerKind::Positive => u32::MAX,
            _ => match authorities
                .iter()
                .find(|r| r.record_type() == RecordType::SOA)
            {
                Some(soa) => policy.negative(soa),
                // Nothing says how long: a few seconds, as Unbound's
                // NORR_TTL, so a flood of the same question is absorbed
                // but a fixed zone is asked again soon.
                None => policy.negative_without_soa(),
            },
        };
        let cap = match verdict.security {
            Security::Bogus => cap.min(BOGUS_TTL),
            _ => cap,
        };
        let fix = |records: Vec<Record>| -> Vec<Record> {
            records
                .into_iter()
                .map(|mut r| {
                    r.ttl = if r.record_type() == RecordType::SOA && kind != AnswerKind::Positive {
                        cap
                    } else {
                        policy.positive(r.ttl).min(cap)
                    };
                    r
                })
                .collect()
        };
        let (answers, authorities) = (fix(answers), fix(authorities));
        let ttl = answers
            .iter()
            .chain(authorities.iter())
            .map(|r| r.ttl)
            .min()
            .unwrap_or(if kind == AnswerKind::Positive { 0 } else { cap });
        if ttl == 0 {
            return None;
        }
        // None: hickory cannot encode a record of it, so it is not cached.
        let mut entry = CachedAnswer::new(&key, kind, &answers, &authorities, ttl, now)?;
        entry.security = verdict.security;
        entry.ede = verdict.ede;
        let entry = Arc::new(entry);
        self.table(&key).insert(key, entry.clone());
        Some(entry)
    }

    /// Records that `name` does not exist, whatever the type, and so nothing
    /// below it does either (RFC 8020), for as long as the negative TTL of
    /// `soa` allows (RFC 2308 §5).
    pub fn store_nxdomain_cut(&self, name: &Name, soa: Record, now: Timestamp) {
        self.store_negative(
            nxdomain_key(name),
            AnswerKind::NxDomain,
            Vec::new(),
            Some(soa),
            now,
        );
    }

    /// The live NXDOMAIN recorded for `name` or one of its ancestors: the
    /// proof that `name` does not exist (RFC 8020 §2).
    pub fn nxdomain_at_or_above(&self, name: &Name, now: Timestamp) -> Option<Arc<CachedAnswer>> {
        let mut candidate = name.clone();
        while !candidate.is_root() {
            if let Some(hit) = self.answer(&nxdomain_key(&candidate), now) {
                return Some(hit);
            }
            candidate = parent(&candidate);
        }
        None
    }

    /// Entries evicted for lack of space since the start.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Number of entries. moka counts lazily: its pending housekeeping is
    /// run first, so this costs time; for scrapes and `ctl stats`, not
    /// queries.
    pub fn entry_count(&self) -> u64 {
        self.answers.run_pending_tasks();
        self.nxdomains.run_pending_tasks();
        self.rrsets.run_pending_tasks();
        self.answers.entry_count() + self.nxdomains.entry_count() + self.rrsets.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::{A, NS};
    use std::net::Ipv4Addr;

    fn cache() -> Cache {
        Cache::new(
            1000,
            TtlPolicy::new(
                Duration::from_secs(10),
                Duration::from_secs(3600),
                Duration::from_secs(600),
            ),
            Duration::ZERO,
        )
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn ns(owner: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::NS(NS(name(target))))
    }

    #[test]
    fn rrset_expires_by_its_own_ttl() {
        let c = cache();
        assert!(c.store_rrset(
            vec![ns("example.", "a.example.", 100)],
            Trust::Referral,
            1000
        ));
        let r = c.rrset(&name("EXAMPLE."), RecordType::NS, 1040).unwrap();
        assert_eq!(r.remaining(1040), 60);
        assert_eq!(r.records_at(1040)[0].ttl, 60);
        assert!(c.rrset(&name("example."), RecordType::NS, 1100).is_none());
    }

    #[test]
    fn referral_never_overwrites_authoritative_data() {
        let c = cache();
        assert!(c.store_rrset(
            vec![ns("example.", "a.example.", 300)],
            Trust::AuthAnswer,
            1000
        ));
        assert!(!c.store_rrset(vec![ns("example.", "evil.", 300)], Trust::Referral, 1001));
        let r = c.rrset(&name("example."), RecordType::NS, 1002).unwrap();
        assert_eq!(r.records[0].data, RData::NS(NS(name("a.example."))));
        // Once the authoritative set has expired, the lower rank may be stored.
        assert!(c.store_rrset(
            vec![ns("example.", "b.example.", 300)],
            Trust::Referral,
            1400
        ));
    }

    #[test]
    fn positive_answer_ttls_count_down_per_record() {
        let c = cache();
        let a = Record::from_rdata(name("www.example."), 3, RData::A(A(Ipv4Addr::LOCALHOST)));
        let key = QuestionKey::new(&name("www.example."), RecordType::A);
        c.store_positive(key.clone(), vec![a], 1000);
        // The floor (10 s) lifted the TTL of 3.
        let hit = c.answer(&key, 1004).unwrap();
        assert_eq!(hit.sections_at(1004).0[0].ttl, 6);
        assert!(c.answer(&key, 1010).is_none());
    }

    #[test]
    fn size_evictions_are_counted() {
        let c = Cache::new(
            10,
            TtlPolicy::new(
                Duration::ZERO,
                Duration::from_secs(60),
                Duration::from_secs(60),
            ),
            Duration::ZERO,
        );
        for i in 0..200u8 {
            let n = name(&format!("h{i}.example."));
            let a = Record::from_rdata(n.clone(), 60, RData::A(A(Ipv4Addr::new(192, 0, 2, i))));
            c.store_positive(QuestionKey::new(&n, RecordType::A), vec![a], 1);
        }
        assert!(c.entry_count() <= 10);
        assert!(c.evictions() >= 150, "{} evictions", c.evictions());
    }

    #[test]
    fn zero_ttl_is_not_cached_without_a_floor() {
        let c = Cache::new(
            100,
            TtlPolicy::new(
                Duration::ZERO,
                Duration::from_secs(60),
                Duration::from_secs(60),
            ),
            Duration::ZERO,
        );
        let a = Record::from_rdata(name("x."), 0, RData::A(A(Ipv4Addr::LOCALHOST)));
        let key = QuestionKey::new(&name("x."), RecordType::A);
        c.store_positive(key.clone(), vec![a], 1);
        assert!(c.answer(&key, 1).is_none());
    }
}
