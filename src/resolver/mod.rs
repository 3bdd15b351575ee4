//! The resolver: runs the walker for a cache miss.
//!
//! One question's path: [`Resolver::resolve`] joins an identical question
//! already in flight (one resolution serves every client that asks it
//! meanwhile), or starts a [`Walker`] and drives it: each
//! [`Action::Send`] goes to the [`Upstream`], each reply goes back into the
//! walker, until [`Action::Done`]. The whole walk is bounded by
//! `resolution-timeout`; past it the client gets SERVFAIL.

pub mod address_policy;
pub mod classify;
pub mod dname;
pub mod inflight;
pub mod infra_cache;
pub mod limits;
pub mod qname_min;
pub mod resolution;
pub mod scrub;
pub mod signatures;
pub mod trace;
pub mod walker;
pub mod zone_cut;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use moka::sync::Cache as MokaCache;
use tokio::sync::OnceCell;
use tracing::{debug, trace};

pub use address_policy::AddressPolicy;
pub use resolution::{ExtendedError, Resolution};
pub use walker::{Action, Outbound, Walker};

use trace::Trace;

use infra_cache::InfraCache;

use crate::cache::{AnswerKind, Cache, CachedAnswer, QuestionKey};
use crate::clock::{Clock, Timestamp};
use crate::config::{self, QnameMinimisation};
use crate::dnssec::aggressive::NsecCache;
use crate::dnssec::validator::{Fetched, Step, Validation, Validator};
use crate::dnssec::{Security, Verdict};
use crate::metrics::Metrics;
use crate::root_hints::RootHints;
use crate::upstream::{Upstream, UpstreamError};

/// Settings of the resolver.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Which server addresses may be queried.
    pub policy: AddressPolicy,
    /// Total time for one question.
    pub resolution_timeout: Duration,
    /// Longest wait for one upstream reply.
    pub upstream_timeout: Duration,
    /// How long a failed question is answered from the failure cache
    /// (RFC 9520); zero turns it off.
    pub failure_ttl: Duration,
    /// Refresh entries asked for in the last tenth of their TTL.
    pub prefetch: bool,
    /// QNAME minimisation mode (RFC 9156).
    pub qname_minimisation: QnameMinimisation,
}

impl ResolverConfig {
    /// The defaults of the command line, with `policy`.
    pub fn with_policy(policy: AddressPolicy) -> Self {
        Self {
            policy,
            resolution_timeout: config::DEFAULT_RESOLUTION_TIMEOUT,
            upstream_timeout: config::DEFAULT_UPSTREAM_TIMEOUT,
            failure_ttl: config::DEFAULT_FAILURE_CACHE_TTL,
            prefetch: true,
            qname_minimisation: QnameMinimisation::default(),
        }
    }
}

/// Smallest original TTL worth prefetching: refreshing records that live a
/// few seconds would just double the upstream traffic for them.
pub const PREFETCH_MIN_TTL: u32 = 10;
/// Prefetch starts when at most this fraction (1/N) of the TTL is left:
/// Unbound's `prefetch` uses the last 10%.
pub const PREFETCH_FRACTION: u32 = 10;
/// How long a client waits for a fresh answer when a stale one is at hand
/// before it gets the stale one (RFC 8767 §5 suggests 1.8 s; Unbound's
/// `serve-expired-client-timeout` is 1.8 s).
pub const STALE_CLIENT_TIMEOUT: Duration = Duration::from_millis(1_800);
/// Failed questions remembered at once (each a few dozen bytes).
const FAILURE_CACHE_CAPACITY: u64 = 10_000;

type InFlight = Arc<OnceCell<Resolution>>;

pub(crate) use crate::cache::KeyHasher;

/// A cache hit, and whether it is due for a prefetch.
#[derive(Debug)]
pub struct Hit {
    /// The answer, TTLs counted down.
    pub resolution: Resolution,
    /// Prefetch is on and the entry is in the last tenth of its TTL.
    pub refresh_due: bool,
}

/// Resolves cache misses by walking from the closest known zone cut.
pub struct Resolver<U> {
    cache: Arc<Cache>,
    upstream: Arc<U>,
    hints: Arc<RootHints>,
    clock: Arc<dyn Clock>,
    config: ResolverConfig,
    /// Questions being resolved. Only misses take this lock; cache hits
    /// never reach the resolver.
    in_flight: Mutex<HashMap<QuestionKey, InFlight, KeyHasher>>,
    /// Questions that failed, with the wall-clock second until which the
    /// failure stands (RFC 9520 §3.2).
    failures: MokaCache<QuestionKey, Timestamp, KeyHasher>,
    /// What each server's RTT, timeouts and lameness have been.
    infra: Arc<InfraCache>,
    /// Upstream queries in flight, bounded per zone, per server and overall.
    inflight: inflight::InFlight,
    /// Counters for upstream traffic, if the server keeps metrics.
    metrics: Option<Arc<Metrics>>,
    /// DNSSEC validation, when on.
    validator: Option<Arc<Validator>>,
    /// Validated NSEC records, answering NXDOMAIN without asking (RFC 8198).
    nsec: NsecCache,
    /// Validations doing signature work at once: each runs on tokio's
    /// blocking pool so that a flood of expensive ones (KeyTrap) takes at
    /// most this many threads and never the workers answering from the
    /// cache.
    validation_slots: Arc<tokio::sync::Semaphore>,
}

impl<U: Upstream> Resolver<U> {
    /// A resolver over `cache`, asking through `upstream`, starting from
    /// `hints` when the cache knows no zone cut.
    pub fn new(
        cache: Arc<Cache>,
        upstream: Arc<U>,
        hints: RootHints,
        clock: Arc<dyn Clock>,
        config: ResolverConfig,
    ) -> Self {
        let failures = MokaCache::builder()
            .max_capacity(FAILURE_CACHE_CAPACITY)
            .time_to_live(config.failure_ttl + Duration::from_secs(1))
            .build_with_hasher(KeyHasher::default());
        Self {
            cache,
            upstream,
            hints: Arc::new(hints),
            clock,
            in_flight: Mutex::new(HashMap::default()),
            failures,
            infra: Arc::new(InfraCache::new(
                infra_cache::DEFAULT_CAPACITY,
                config.upstream_timeout,
            )),
            inflight: inflight::InFlight::default(),
            config,
            metrics: None,
            validator: None,
            nsec: NsecCache::new(),
            validation_slots: Arc::new(tokio::sync::Semaphore::new(validation_threads())),
        }
    }

    /// Validates every answer with `validator` (DNSSEC on).
    pub fn with_validator(mut self, validator: Arc<Validator>) -> Self {
        self.validator = Some(validator);
        self
    }

    /// Whether answers are validated.
    pub fn validating(&self) -> bool {
        self.validator.is_some()
    }

    /// Bounds upstream queries in flight by `limits` instead of the
    /// defaults ([`inflight::Limits::default`]).
    pub fn with_upstream_limits(mut self, limits: inflight::Limits) -> Self {
        self.inflight = inflight::InFlight::new(limits);
        self
    }

    /// Counts upstream queries and timeouts into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Forgets `name` (with `zone`, everything at or below it) in the cache
    /// and the failure cache, so that the next question goes upstream.
    /// Returns the number of cache entries removed.
    pub fn flush(&self, name: &Name, zone: bool) -> usize {
        let removed = if zone {
            self.cache.flush_zone(name)
        } else {
            self.cache.flush_name(name)
        };
        let failed: Vec<_> = self
            .failures
            .iter()
            .filter(|(k, _)| {
                if zone {
                    name.zone_of(k.name())
                } else {
                    k.name() == name
                }
            })
            .map(|(k, _)| k)
            .collect();
        for k in failed {
            self.failures.invalidate(k.as_ref());
        }
        removed
    }

    /// Empties the cache and the failure cache.
    pub fn flush_all(&self) {
        self.cache.flush_all();
        self.failures.invalidate_all();
        if let Some(v) = &self.validator {
            v.forget();
        }
        self.nsec.clear();
    }

    /// The cache this resolver fills.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// The infrastructure cache (per-server RTT and state).
    pub fn infra(&self) -> &Arc<InfraCache> {
        &self.infra
    }

    /// The clock this resolver reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The cached answer to `name`/`qtype`, if alive: the hot path.
    pub fn cached(&self, name: &Name, qtype: RecordType) -> Option<Resolution> {
        self.lookup(name, qtype).map(|hit| hit.resolution)
    }

    /// Like [`cached`](Self::cached), also telling whether the entry should
    /// be refreshed in the background ([`refresh`](Self::refresh)).
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Option<Hit> {
        let (hit, now, refresh_due) = self.lookup_entry(name, qtype)?;
        Some(Hit {
            resolution: Resolution::from_cached(&hit, now),
            refresh_due,
        })
    }

    /// The live cache entry itself (no record copied), the "now" it was
    /// judged at, and whether it is due for a prefetch: the hot path.
    pub fn lookup_entry(
        &self,
        name: &Name,
        qtype: RecordType,
    ) -> Option<(Arc<CachedAnswer>, Timestamp, bool)> {
        let now = self.clock.now();
        // The thread's front copy is taken only if it is servable and not
        // due for prefetch: a prefetch's new answer replaces it then.
        let hit = self
            .cache
            .answer_hot(name, qtype, now, |hit| {
                self.servable(hit) && !self.refresh_due(hit, now)
            })
            .filter(|hit| self.servable(hit))?;
        let refresh_due = self.refresh_due(&hit, now);
        Some((hit, now, refresh_due))
    }

    /// Whether `hit` is in the last part of its TTL where a hit starts a
    /// background refresh (prefetch, as Unbound's `prefetch: yes`).
    fn refresh_due(&self, hit: &CachedAnswer, now: Timestamp) -> bool {
        self.config.prefetch
            && hit.ttl >= PREFETCH_MIN_TTL
            && hit.remaining(now).saturating_mul(PREFETCH_FRACTION) <= hit.ttl
    }

    /// Whether a live entry may be given to clients: when validating, one
    /// stored by a walk and not yet validated is a miss.
    fn servable(&self, hit: &CachedAnswer) -> bool {
        self.validator.is_none() || hit.security != Security::Unchecked
    }

    /// Resolves `name`/`qtype`: from the cache if alive, else by walking.
    /// Concurrent identical questions share one walk. A question that failed
    /// moments ago fails again at once (RFC 9520). When an expired answer is
    /// still in the stale window, the client waits at most
    /// [`STALE_CLIENT_TIMEOUT`] and then gets the stale answer while the
    /// walk goes on in the background (RFC 8767 §5); a failed walk is
    /// answered from stale data too. Always returns within
    /// `resolution-timeout` (plus scheduling).
    pub async fn resolve(self: &Arc<Self>, name: &Name, qtype: RecordType) -> Resolution {
        let key = QuestionKey::new(name, qtype);
        let now = self.clock.now();
        // One lookup for both the live answer and a stale one.
        let (live, stale) = self.cache.answer_or_stale(&key, now);
        if let Some(hit) = live.filter(|hit| self.servable(hit)) {
            return Resolution::from_cached(&hit, now);
        }
        if self.failures.get(&key).is_some_and(|until| now < until) {
            let failure = Resolution::servfail(ExtendedError::CACHED_ERROR);
            return stale_else(&key, stale, failure);
        }
        let Some(stale) = stale else {
            return self.resolve_fresh(&key, name, qtype).await;
        };
        let (me, k, n) = (Arc::clone(self), key.clone(), name.clone());
        let walk = tokio::spawn(async move { me.resolve_fresh(&k, &n, qtype).await });
        match tokio::time::timeout(STALE_CLIENT_TIMEOUT, walk).await {
            Ok(Ok(fresh)) => fresh,
            // The timer fired (the walk goes on and refreshes the cache), or
            // the walk's task ended abnormally.
            _ => {
                debug!(%name, ?qtype, "slow resolution: serving stale meanwhile");
                Resolution::stale(&stale)
            }
        }
    }

    /// Walks for `key` (sharing a walk in flight), remembers a failure, and
    /// answers a failure from stale data when there is some.
    async fn resolve_fresh(&self, key: &QuestionKey, name: &Name, qtype: RecordType) -> Resolution {
        let Some(result) = self.shared_walk(key, name, qtype, false).await else {
            return Resolution::servfail(ExtendedError::other("resolution abandoned"));
        };
        if result.rcode == ResponseCode::ServFail {
            let now = self.clock.now();
            // Shed by our own in-flight bound: the next client may find room.
            let ours = result.ede == Some(ExtendedError::UPSTREAM_BUSY);
            if !self.config.failure_ttl.is_zero() && !ours {
                self.failures
                    .insert(key.clone(), now + self.config.failure_ttl.as_secs().max(1));
            }
            return self.stale_or(key, now, result);
        }
        result
    }

    /// Resolves `name`/`qtype` again although it is cached (prefetch), unless
    /// a resolution of it is already under way. The answer goes to the cache.
    pub async fn refresh(&self, name: &Name, qtype: RecordType) {
        let key = QuestionKey::new(name, qtype);
        let busy = self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&key);
        if !busy {
            debug!(%name, ?qtype, "prefetch");
            self.shared_walk(&key, name, qtype, true).await;
        }
    }

    fn stale_or(&self, key: &QuestionKey, now: Timestamp, failure: Resolution) -> Resolution {
        stale_else(key, self.cache.stale_answer(key, now), failure)
    }

    /// Runs (or joins) the one walk for `key`.
    async fn shared_walk(
        &self,
        key: &QuestionKey,
        name: &Name,
        qtype: RecordType,
        refresh: bool,
    ) -> Option<Resolution> {
        let cell = {
            let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let result = cell
            .get_or_init(|| self.walk(name, qtype, refresh))
            .await
            .clone();
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        // One lookup (a key's hash and comparison cost more than its clone).
        if let Entry::Occupied(e) = map.entry(key.clone())
            && Arc::ptr_eq(e.get(), &cell)
        {
            e.remove();
        }
        Some(result)
    }

    /// Resolves `name`/`qtype` with a private, empty cache (the shared one
    /// is neither read nor written) and records every decision
    /// (`rootward ctl trace`).
    pub async fn trace(&self, name: &Name, qtype: RecordType) -> (Resolution, Arc<Trace>) {
        let trace = Arc::new(Trace::default());
        trace.record(
            0,
            "start",
            format!("{name} {qtype} with a private, empty cache"),
        );
        let env = Env {
            cache: Arc::new(Cache::new(
                TRACE_CACHE_SIZE,
                self.cache.policy(),
                Duration::ZERO,
            )),
            trace: Some(trace.clone()),
        };
        let walker = self.walker(&env, name, qtype);
        let drive = self.drive(env, walker);
        let res = match tokio::time::timeout(self.config.resolution_timeout, drive).await {
            Ok(res) => res,
            Err(_) => {
                trace.record(0, "limit", "resolution timeout reached".into());
                Resolution::servfail(ExtendedError::NO_REACHABLE_AUTHORITY)
            }
        };
        (res, trace)
    }

    async fn walk(&self, name: &Name, qtype: RecordType, refresh: bool) -> Resolution {
        let env = self.shared_env();
        if let Some(denied) = self.aggressive_nxdomain(name, qtype) {
            return denied;
        }
        let mut walker = self.walker(&env, name, qtype);
        walker = if refresh {
            walker.bypassing_answer_cache()
        } else {
            // Only `resolve` starts a walk that is not a refresh, after
            // finding no live answer.
            walker.after_cache_miss()
        };
        let work = async {
            let raw = self.drive(env.clone(), walker).await;
            self.validate(&env, name, qtype, raw).await
        };
        match tokio::time::timeout(self.config.resolution_timeout, work).await {
            Ok(resolution) => resolution,
            Err(_) => {
                debug!(%name, ?qtype, "resolution timed out");
                Resolution::servfail(ExtendedError::NO_REACHABLE_AUTHORITY)
            }
        }
    }

    fn shared_env(&self) -> Env {
        Env {
            cache: self.cache.clone(),
            trace: None,
        }
    }

    fn walker(&self, env: &Env, name: &Name, qtype: RecordType) -> Walker {
        let walker = Walker::new(
            name.clone(),
            qtype,
            env.cache.clone(),
            self.infra.clone(),
            self.hints.clone(),
            self.config.policy,
        )
        .with_qname_minimisation(self.config.qname_minimisation)
        .validating(self.validator.is_some());
        match &env.trace {
            Some(t) => walker.with_trace(t.clone()),
            None => walker,
        }
    }

    /// Runs a walker to its end: its queries go upstream, its NS-address
    /// lookups run as walks of their own, a few at once, sharing its query
    /// budget (boxed: a walk drives walks, at most `MAX_DEPENDENCY_DEPTH`
    /// deep).
    fn drive(
        &self,
        env: Env,
        mut walker: Walker,
    ) -> Pin<Box<dyn Future<Output = Resolution> + Send + '_>> {
        Box::pin(async move {
            loop {
                match walker.step(self.clock.now()) {
                    Action::Done(resolution) => return resolution,
                    Action::Send(out) => {
                        let started = tokio::time::Instant::now();
                        // A slot in flight, held until the reply or timeout;
                        // past a bound the query is shed, not queued.
                        let reply = match self.inflight.acquire(&out.zone, out.server.ip()) {
                            Ok(_slot) => {
                                // Counted when sent: a query abandoned at the
                                // resolution timeout was sent all the same.
                                if let Some(m) = &self.metrics {
                                    m.upstream_query();
                                }
                                let reply = self
                                    .upstream
                                    .query(out.server, &out.query, out.timeout)
                                    .await;
                                if let Some(m) = &self.metrics
                                    && matches!(reply, Err(UpstreamError::Timeout))
                                {
                                    m.upstream_timeout();
                                }
                                reply
                            }
                            Err(limit) => {
                                trace!(zone = %out.zone, server = %out.server, limit = limit.label(), "too many upstream queries in flight: not sent");
                                if let Some(m) = &self.metrics {
                                    m.upstream_throttled(limit.label());
                                }
                                Err(UpstreamError::Throttled(limit.label()))
                            }
                        };
                        walker.on_reply(reply, started.elapsed(), self.clock.now());
                    }
                    Action::Lookup(lookup) => {
                        let parent = SubContext {
                            budget: walker.budget().clone(),
                            depth: walker.depth() + 1,
                            ancestry: walker.ancestry(),
                        };
                        let mut pending: FuturesUnordered<_> = lookup
                            .names
                            .into_iter()
                            .map(|ns| self.ns_addresses(&env, ns, lookup.qtype, parent.clone()))
                            .collect();
                        // The first NS name with an address wins; the other
                        // lookups are dropped (their answers so far are cached).
                        let mut found = Vec::new();
                        while let Some((ns, addrs)) = pending.next().await {
                            if !addrs.is_empty() {
                                found.push((ns, addrs));
                                break;
                            }
                        }
                        drop(pending);
                        walker.on_addresses(found);
                    }
                }
            }
        })
    }

    /// Addresses of the NS name `ns`: A (or AAAA when IPv4 is off); AAAA too
    /// when the name exists without A, since the server may be IPv6-only.
    async fn ns_addresses(
        &self,
        env: &Env,
        ns: Name,
        qtype: RecordType,
        ctx: SubContext,
    ) -> (Name, Vec<IpAddr>) {
        let mut addrs = self.sub_resolve(env, &ns, qtype, &ctx).await;
        if let Ok(found) = &addrs
            && found.is_empty()
            && qtype == RecordType::A
            && !self.config.policy.no_ipv6
        {
            addrs = self.sub_resolve(env, &ns, RecordType::AAAA, &ctx).await;
        }
        (ns, addrs.unwrap_or_default())
    }

    /// One address lookup of a sub-resolution: `Ok` with the addresses when
    /// the name exists (possibly none of this type), `Err` otherwise.
    async fn sub_resolve(
        &self,
        env: &Env,
        ns: &Name,
        qtype: RecordType,
        ctx: &SubContext,
    ) -> Result<Vec<IpAddr>, ResponseCode> {
        let now = self.clock.now();
        let res = match env.cache.answer(&QuestionKey::new(ns, qtype), now) {
            Some(hit) => Resolution::from_cached(&hit, now),
            None => {
                let sub = self.walker(env, ns, qtype).as_sub_resolution(
                    ctx.budget.clone(),
                    ctx.depth,
                    ctx.ancestry.clone(),
                );
                self.drive(env.clone(), sub).await
            }
        };
        if res.rcode != ResponseCode::NoError {
            return Err(res.rcode);
        }
        Ok(res
            .answers
            .iter()
            .filter(|r| r.record_type() == qtype)
            .filter_map(zone_cut::record_addr)
            .collect())
    }
}

impl<U: Upstream> Resolver<U> {
    /// Validates the walk's answer to `name`/`qtype` (DNSSEC, RFC 4035 §5)
    /// and stores it with the verdict; the DS and DNSKEY sets the chain of
    /// trust needs are resolved as walks of their own. Failures and answers
    /// of other rcodes pass unchanged.
    async fn validate(
        &self,
        env: &Env,
        name: &Name,
        qtype: RecordType,
        raw: Resolution,
    ) -> Resolution {
        let Some(validator) = &self.validator else {
            return raw;
        };
        if !matches!(raw.rcode, ResponseCode::NoError | ResponseCode::NXDomain) {
            return raw;
        }
        let now = self.clock.now();
        let mut validation = Validation::new(
            validator.clone(),
            name,
            qtype,
            raw.rcode,
            &raw.answers,
            &raw.authorities,
            now,
        );
        let verdict = loop {
            let step;
            (validation, step) = match self.validation_step(validation).await {
                Some(done) => done,
                None => {
                    break Verdict {
                        security: Security::Bogus,
                        ede: Some(ExtendedError::other("validation abandoned")),
                    };
                }
            };
            match step {
                Step::Done(verdict) => break verdict,
                Step::Fetch(fname, ftype) => {
                    let fetched = self.fetch(env, &fname, ftype).await;
                    validation.on_fetched(fname, ftype, fetched);
                }
            }
        };
        debug!(%name, ?qtype, security = ?verdict.security, ede = ?verdict.ede, "validated");
        if verdict.security == Security::Secure
            && raw.rcode == ResponseCode::NXDomain
            && let Some(soa) = raw
                .authorities
                .iter()
                .find(|r| r.record_type() == RecordType::SOA)
        {
            self.nsec.store(&soa.name, &raw.authorities, now);
        }
        let kind = AnswerKind::of(raw.rcode, &raw.answers, qtype);
        env.cache.store(
            QuestionKey::new(name, qtype),
            kind,
            raw.answers.clone(),
            raw.authorities.clone(),
            verdict,
            now,
        );
        Resolution {
            security: verdict.security,
            ede: if verdict.security == Security::Bogus {
                verdict.ede
            } else {
                raw.ede
            },
            ..raw
        }
    }

    /// NXDOMAIN for `name` from validated NSEC records already held (RFC
    /// 8198 §5.1), stored in the cache like any secure answer.
    fn aggressive_nxdomain(&self, name: &Name, qtype: RecordType) -> Option<Resolution> {
        self.validator.as_ref()?;
        let now = self.clock.now();
        let synth = self.nsec.nxdomain(name, now)?;
        debug!(%name, ?qtype, "NXDOMAIN from cached NSEC records (RFC 8198)");
        let verdict = Verdict {
            security: Security::Secure,
            ede: None,
        };
        let key = QuestionKey::new(name, qtype);
        self.cache.store(
            key.clone(),
            AnswerKind::NxDomain,
            Vec::new(),
            synth.authorities.clone(),
            verdict,
            now,
        );
        Some(Resolution {
            rcode: ResponseCode::NXDomain,
            answers: Vec::new(),
            authorities: synth.authorities,
            ede: None,
            security: Security::Secure,
        })
    }

    /// One step of a validation on the blocking pool, within the slots.
    async fn validation_step(&self, mut validation: Validation) -> Option<(Validation, Step)> {
        let _slot = self.validation_slots.acquire().await.ok()?;
        tokio::task::spawn_blocking(move || {
            let step = validation.step();
            (validation, step)
        })
        .await
        .ok()
    }

    /// A DS or DNSKEY set for the chain of trust, unvalidated: from the
    /// cache, or by a walk.
    async fn fetch(&self, env: &Env, name: &Name, rtype: RecordType) -> Fetched {
        let now = self.clock.now();
        let res = match env.cache.answer(&QuestionKey::new(name, rtype), now) {
            Some(hit) => Resolution::from_cached(&hit, now),
            None => {
                let walker = self.walker(env, name, rtype);
                self.drive(env.clone(), walker).await
            }
        };
        Fetched {
            rcode: res.rcode,
            answers: res.answers,
            authorities: res.authorities,
        }
    }
}

/// Threads validating at once: the cores, less one when there are several,
/// so that one stays free for answering from the cache.
fn validation_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}

/// What a walk works with: the cache it reads and fills (the shared one, or
/// a trace's private one) and the trace it writes, if any.
#[derive(Clone)]
struct Env {
    cache: Arc<Cache>,
    trace: Option<Arc<Trace>>,
}

/// Entries of a trace's private cache: one resolution needs a few dozen.
const TRACE_CACHE_SIZE: u64 = 1_000;

/// What a sub-resolution inherits from the walk that needs it.
#[derive(Clone)]
struct SubContext {
    budget: Arc<AtomicUsize>,
    depth: usize,
    ancestry: Vec<Name>,
}

/// The stale answer to `key` if there is one (RFC 8767), else `failure`.
fn stale_else(
    key: &QuestionKey,
    stale: Option<Arc<CachedAnswer>>,
    failure: Resolution,
) -> Resolution {
    match stale {
        Some(stale) => {
            debug!(name = %key.name(), qtype = ?key.qtype(), "serving stale");
            Resolution::stale(&stale)
        }
        None => failure,
    }
}
