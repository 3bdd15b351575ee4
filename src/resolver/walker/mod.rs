//! The iterative walker: a state machine that does no I/O.
//!
//! One question's path: [`Walker::step`] finds the closest zone cut the cache
//! knows (or primes the root from the hints, RFC 8109), picks a server and
//! returns [`Action::Send`]; the driver carries that query and hands the
//! reply (or error) to [`Walker::on_reply`], which scrubs it, classifies it
//! and acts: a referral moves the cut down, a CNAME restarts the walk at its
//! target, an answer or a negative answer is cached and finishes the
//! question (replies are consumed in [`consume`]). A delegation whose NS
//! names have no usable addresses returns [`Action::Lookup`]: the driver
//! resolves a few of them as sub-walks and hands the addresses back with
//! [`Walker::on_addresses`]. Every loop is bounded by the constants in
//! [`limits`](super::limits).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::time::Instant;
use tracing::debug;

use super::address_policy::AddressPolicy;
use super::dname;
use super::infra_cache::InfraCache;
use super::limits::{
    MAX_DEPENDENCY_DEPTH, MAX_NS_LOOKUPS_PER_CUT, MAX_UPSTREAM_QUERIES, PARALLEL_NS_LOOKUPS,
};
use super::qname_min::Minimiser;
use super::resolution::{ExtendedError, Resolution, rcode_name};
use super::trace::Trace;
use super::zone_cut::ZoneCut;
use crate::cache::{AnswerKind, Cache, QuestionKey, Verdict};
use crate::clock::Timestamp;
use crate::config::{DNS_PORT, QnameMinimisation};
use crate::names::parent;
use crate::root_hints::RootHints;
use crate::upstream::UpstreamQuery;

mod consume;

/// A query the driver must send for the walker.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The server's address and port.
    pub server: SocketAddr,
    /// The question.
    pub query: UpstreamQuery,
    /// The zone the server is asked as an authority for (the bailiwick).
    pub zone: Name,
    /// How long to wait for the reply: the server's RTO (RFC 6298).
    pub timeout: Duration,
}

/// NS names whose addresses the walker needs: the driver resolves them
/// (at once, each as a sub-resolution) and hands back the first addresses
/// found with [`Walker::on_addresses`].
#[derive(Debug, Clone, PartialEq)]
pub struct AddressLookup {
    /// The NS names, at most [`PARALLEL_NS_LOOKUPS`].
    pub names: Vec<Name>,
    /// A or AAAA (AAAA only when IPv4 is off).
    pub qtype: RecordType,
}

/// What the walker wants next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this query and call [`Walker::on_reply`] with the outcome.
    Send(Outbound),
    /// Resolve these NS names and call [`Walker::on_addresses`].
    Lookup(AddressLookup),
    /// The question is resolved (or failed: SERVFAIL).
    Done(Resolution),
}

/// Why a frame is being resolved.
#[derive(Debug, Clone)]
enum Purpose {
    /// The client's question.
    Client,
    /// The root NS set, from the hints (RFC 8109).
    Priming,
}

/// One question on the walker's stack.
#[derive(Debug)]
struct Frame {
    purpose: Purpose,
    /// The name asked first (the cache key of the final answer).
    original: Name,
    qtype: RecordType,
    /// The name currently being resolved (after CNAMEs).
    qname: Name,
    /// CNAMEs followed so far.
    chain: Vec<Record>,
    referrals: usize,
    cut: Option<ZoneCut>,
    /// QNAME minimisation state for the current name.
    min: Minimiser,
}

impl Frame {
    fn new(purpose: Purpose, qname: Name, qtype: RecordType, mode: QnameMinimisation) -> Self {
        let mode = match purpose {
            Purpose::Priming => QnameMinimisation::Off,
            _ => mode,
        };
        Self {
            purpose,
            original: qname.clone(),
            qtype,
            min: Minimiser::new(mode, &qname),
            qname,
            chain: Vec::new(),
            referrals: 0,
            cut: None,
        }
    }
}

/// The walker for one client question.
pub struct Walker {
    frames: Vec<Frame>,
    cache: Arc<Cache>,
    infra: Arc<InfraCache>,
    hints: Arc<RootHints>,
    policy: AddressPolicy,
    /// Upstream queries sent for the client's question, shared with every
    /// sub-resolution it causes (`MAX_UPSTREAM_QUERIES`).
    budget: Arc<AtomicUsize>,
    /// Nesting of this walk: 0 for a client's question.
    depth: usize,
    /// Names the enclosing walks are resolving: asking for one of them
    /// again would be a delegation loop.
    ancestry: Vec<Name>,
    outstanding: Option<Outbound>,
    priming_tried: bool,
    /// The client's resolution, once its frame has ended.
    finished: Option<Resolution>,
    /// Skip the answer cache for the client's question (a prefetch).
    refresh: bool,
    /// The caller found no live answer to the client's question just
    /// before the walk: the first step does not look again.
    answer_checked: bool,
    /// DNSSEC validation follows the walk: ask with DO, and do not answer
    /// from RFC 8020 NXDOMAIN cuts, which carry no NSEC proof.
    validating: bool,
    /// A query of this walk was not sent because its zone or server was at
    /// the in-flight bound: running out of servers then is our limit, not
    /// the zone's failure.
    throttled: bool,
    /// QNAME minimisation mode for every frame.
    qname_mode: QnameMinimisation,
    /// Where decisions are written when this walk is traced.
    trace: Option<Arc<Trace>>,
}

/// How a frame ended.
enum FrameEnd {
    /// The final records (with their RRSIGs), and the NSEC/NSEC3 proof of
    /// a wildcard expansion if the reply had one.
    Positive(Vec<Record>, Vec<Record>),
    /// NXDOMAIN or NODATA, its SOA, and the proof records beside it.
    Negative(AnswerKind, Option<Box<Record>>, Vec<Record>),
    Cached(Resolution),
    Failed(ExtendedError),
}

impl Walker {
    /// A walker for `qname`/`qtype` working from `cache` and `hints`,
    /// sending only where `policy` permits.
    pub fn new(
        qname: Name,
        qtype: RecordType,
        cache: Arc<Cache>,
        infra: Arc<InfraCache>,
        hints: Arc<RootHints>,
        policy: AddressPolicy,
    ) -> Self {
        Self {
            frames: vec![Frame::new(
                Purpose::Client,
                qname,
                qtype,
                QnameMinimisation::Off,
            )],
            cache,
            infra,
            hints,
            policy,
            budget: Arc::new(AtomicUsize::new(0)),
            depth: 0,
            ancestry: Vec::new(),
            outstanding: None,
            priming_tried: false,
            finished: None,
            refresh: false,
            answer_checked: false,
            validating: false,
            throttled: false,
            qname_mode: QnameMinimisation::Off,
            trace: None,
        }
    }

    /// Writes every decision of this walk into `trace`.
    pub fn with_trace(mut self, trace: Arc<Trace>) -> Self {
        self.trace = Some(trace);
        self
    }

    /// The trace this walk writes into, if any.
    pub fn trace(&self) -> Option<&Arc<Trace>> {
        self.trace.as_ref()
    }

    /// Minimises query names (RFC 9156) in `mode`; off unless set.
    pub fn with_qname_minimisation(mut self, mode: QnameMinimisation) -> Self {
        self.qname_mode = mode;
        for f in &mut self.frames {
            f.min = Minimiser::new(mode, &f.qname);
        }
        self
    }

    /// Resolves the client's question even if the answer cache has it (a
    /// prefetch refreshing an entry near expiry).
    pub fn bypassing_answer_cache(mut self) -> Self {
        self.refresh = true;
        self
    }

    /// Tells the walk its caller has just found no live answer to the
    /// client's question (one cache lookup fewer per miss).
    pub fn after_cache_miss(mut self) -> Self {
        self.answer_checked = true;
        self
    }

    /// Asks for DNSSEC records (DO) because the answer will be validated.
    pub fn validating(mut self, on: bool) -> Self {
        self.validating = on;
        self
    }

    /// Makes this walk a sub-resolution (an NS name's address) of a walk
    /// `depth - 1` deep that is resolving `ancestry`, sharing its `budget`.
    pub fn as_sub_resolution(
        mut self,
        budget: Arc<AtomicUsize>,
        depth: usize,
        ancestry: Vec<Name>,
    ) -> Self {
        self.budget = budget;
        self.depth = depth;
        self.ancestry = ancestry;
        self
    }

    /// The shared upstream-query budget of this walk.
    pub fn budget(&self) -> &Arc<AtomicUsize> {
        &self.budget
    }

    /// This walk's nesting depth.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The names this walk and its enclosing walks are resolving.
    pub fn ancestry(&self) -> Vec<Name> {
        let mut names = self.ancestry.clone();
        names.extend(self.frames.iter().map(|f| f.qname.clone()));
        names
    }

    /// Upstream queries sent so far for the client's question.
    pub fn queries_sent(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    /// Advances until the walker needs a reply or is done.
    pub fn step(&mut self, now: Timestamp) -> Action {
        // Every iteration either returns, pushes the priming frame (once),
        // pops a frame, or sets a cut; the guard below is a backstop, not
        // the bound.
        for _ in 0..MAX_UPSTREAM_QUERIES * 16 {
            if let Some(action) = self.advance(now) {
                return action;
            }
        }
        Action::Done(Resolution::servfail(ExtendedError::other(
            "walker step limit",
        )))
    }

    fn advance(&mut self, now: Timestamp) -> Option<Action> {
        if let Some(done) = self.finished.take() {
            return Some(Action::Done(done));
        }
        let depth = self.frames.len();
        let (trace, level) = (self.trace.clone(), self.depth);
        let Some(frame) = self.frames.last_mut() else {
            return Some(Action::Done(Resolution::servfail(ExtendedError::other(
                "no question left",
            ))));
        };
        if frame.cut.is_none() {
            let key = QuestionKey::new(&frame.qname, frame.qtype);
            let use_cache = match frame.purpose {
                Purpose::Priming => false,
                Purpose::Client => !self.refresh || !frame.chain.is_empty(),
            } && !std::mem::take(&mut self.answer_checked);
            if use_cache && let Some(hit) = self.cache.answer(&key, now) {
                note(&trace, level, "cache-hit", || {
                    format!("{} {}: answered from the cache", key.name(), key.qtype())
                });
                let res = Resolution::from_cached(&hit, now);
                self.end_frame(FrameEnd::Cached(res), now);
                return None;
            }
            // RFC 8020: an NXDOMAIN for the name or an ancestor settles it.
            if !matches!(frame.purpose, Purpose::Priming)
                && !self.validating
                && let Some(nx) = self.cache.nxdomain_at_or_above(&frame.qname, now)
            {
                note(&trace, level, "nxdomain", || {
                    format!(
                        "{}: a cached NXDOMAIN at or above it (RFC 8020)",
                        frame.qname
                    )
                });
                let res = Resolution::from_cached(&nx, now);
                self.end_frame(FrameEnd::Cached(res), now);
                return None;
            }
            // RFC 6672 §3.4: a cached DNAME above the name redirects it
            // without asking anyone.
            if let Some((dname, (cname, to))) = cached_dname_above(&self.cache, &frame.qname, now) {
                note(&trace, level, "dname", || {
                    format!("{} -> {to}: cached DNAME at {}", frame.qname, dname.name)
                });
                frame.chain.push(dname);
                frame.chain.push(cname);
                self.follow_cname(to, now);
                return None;
            }
            // DS records live on the parent side of a cut (RFC 4035 §3.1.4.1):
            // look for the cut above the name itself.
            let start = if frame.qtype == RecordType::DS && !frame.qname.is_root() {
                parent(&frame.qname)
            } else {
                frame.qname.clone()
            };
            match ZoneCut::closest_cached(&self.cache, &start, now) {
                // A root NS set without any cached address (a priming reply
                // that carried none) would strand the walk: the hints know
                // the root servers' addresses.
                Some(cut) if cut.zone.is_root() && !cut.has_addresses() => {
                    note(&trace, level, "zone-cut", || {
                        "root from the hints (the cached root NS set has no address)".into()
                    });
                    frame.cut = Some(ZoneCut::from_hints(&self.hints));
                }
                Some(cut) => {
                    note(&trace, level, "zone-cut", || {
                        format!(
                            "{} (closest cached delegation): {}",
                            cut.zone,
                            describe_servers(&cut)
                        )
                    });
                    frame.min.new_cut();
                    frame.cut = Some(cut);
                }
                None if !self.priming_tried && depth < MAX_DEPENDENCY_DEPTH => {
                    self.priming_tried = true;
                    note(&trace, level, "priming", || {
                        "nothing cached: asking a hinted root server for the root NS set (RFC 8109)"
                            .into()
                    });
                    let mut priming = Frame::new(
                        Purpose::Priming,
                        Name::root(),
                        RecordType::NS,
                        QnameMinimisation::Off,
                    );
                    priming.cut = Some(ZoneCut::from_hints(&self.hints));
                    self.frames.push(priming);
                    return None;
                }
                None => {
                    note(&trace, level, "zone-cut", || "root from the hints".into());
                    frame.cut = Some(ZoneCut::from_hints(&self.hints));
                }
            }
        }
        let sent = self.budget.load(Ordering::Relaxed);
        if sent >= MAX_UPSTREAM_QUERIES {
            debug!(sent, "upstream query budget exhausted");
            note(&trace, level, "limit", || {
                format!(
                    "upstream query budget of {MAX_UPSTREAM_QUERIES} per client question exhausted"
                )
            });
            self.frames.truncate(1);
            self.end_frame(
                FrameEnd::Failed(ExtendedError::other("upstream query budget exhausted")),
                now,
            );
            return None;
        }
        let cut = frame.cut.as_mut()?;
        if cut.all_given_up(&self.policy, &self.infra, Instant::now()) {
            // Waiting out every server's timeout again would only delay the
            // same SERVFAIL; the zone is asked again when a backoff ends.
            note(&trace, level, "limit", || {
                format!(
                    "every server of zone {} has stopped answering: not asked until a backoff ends",
                    cut.zone
                )
            });
            self.end_frame(FrameEnd::Failed(ExtendedError::NO_REACHABLE_AUTHORITY), now);
            return None;
        }
        if let Some(ip) = cut.next_address(&self.policy, &self.infra, Instant::now()) {
            let (mut name, mut qtype, _) = frame.min.query(&cut.zone, &frame.qname, frame.qtype);
            // A minimised question answered before (an empty non-terminal's
            // NODATA, a name's own data) needs no query: the name exists,
            // go one label down (RFC 9156 §3 leaves the cache to the
            // resolver). Without this every fresh name below an empty
            // non-terminal costs a query for it.
            for _ in 0..usize::from(frame.qname.num_labels()) {
                if name == frame.qname || !known_to_exist(&self.cache, &name, qtype, now) {
                    break;
                }
                frame.min.exists();
                (name, qtype, _) = frame.min.query(&cut.zone, &frame.qname, frame.qtype);
            }
            let out = Outbound {
                server: SocketAddr::new(ip, DNS_PORT),
                query: UpstreamQuery {
                    name,
                    qtype,
                    edns: !self.infra.no_edns(ip),
                    dnssec_ok: self.validating,
                },
                zone: cut.zone.clone(),
                timeout: self.infra.rto(ip),
            };
            note(&trace, level, "query", || {
                let why = match self.infra.srtt(ip) {
                    Some(srtt) => format!("srtt {} ms", srtt.as_millis()),
                    None => "not measured yet".to_string(),
                };
                let backed_off = if self.infra.backed_off(ip, Instant::now()) {
                    ", backed off (every other server tried)"
                } else {
                    ""
                };
                format!(
                    "{} {} to {ip} for zone {} ({why}{backed_off}; timeout {} ms; edns {})",
                    out.query.name,
                    out.query.qtype,
                    out.zone,
                    out.timeout.as_millis(),
                    if out.query.edns { "on" } else { "off" }
                )
            });
            self.budget.fetch_add(1, Ordering::Relaxed);
            self.outstanding = Some(out.clone());
            return Some(Action::Send(out));
        }
        // No address left to try: resolve NS names that have none, a few
        // at once (the first to answer wins).
        if self.depth < MAX_DEPENDENCY_DEPTH
            && let Some(qtype) = self.first_address_type()
        {
            let busy = self.ancestry();
            let cut = self.frames.last_mut()?.cut.as_mut()?;
            let mut names = Vec::new();
            while cut.ns_lookups < MAX_NS_LOOKUPS_PER_CUT && names.len() < PARALLEL_NS_LOOKUPS {
                let Some(ns) = cut.next_unresolved() else {
                    break;
                };
                if busy.contains(&ns) {
                    // Resolving it needs a question already being resolved:
                    // a delegation loop.
                    continue;
                }
                cut.ns_lookups += 1;
                names.push(ns);
            }
            if !names.is_empty() {
                note(&trace, level, "lookup", || {
                    let list: Vec<String> = names.iter().map(|n| n.to_string()).collect();
                    format!(
                        "no usable server address: resolving {} at once",
                        list.join(", ")
                    )
                });
                return Some(Action::Lookup(AddressLookup { names, qtype }));
            }
        }
        let cache = self.cache.clone();
        let cut = self.frames.last_mut()?.cut.as_mut()?;
        let added = cut.add_parent_side(&cache, now);
        if added > 0 {
            note(&trace, level, "fallback", || {
                format!(
                    "zone {}: every address tried; {added} more from the parent's glue",
                    cut.zone
                )
            });
            return None;
        }
        let why = if self.throttled {
            ExtendedError::UPSTREAM_BUSY
        } else {
            ExtendedError::NO_REACHABLE_AUTHORITY
        };
        self.end_frame(FrameEnd::Failed(why), now);
        None
    }

    fn first_address_type(&self) -> Option<RecordType> {
        if !self.policy.no_ipv4 {
            Some(RecordType::A)
        } else if !self.policy.no_ipv6 {
            Some(RecordType::AAAA)
        } else {
            None
        }
    }

    /// Finishes the top frame: the client's becomes the walk's result; a
    /// sub-resolution feeds the frame below it.
    fn end_frame(&mut self, end: FrameEnd, now: Timestamp) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        let key = QuestionKey::new(&frame.original, frame.qtype);
        let resolution = match end {
            FrameEnd::Cached(mut res) => {
                let mut answers = frame.chain.clone();
                answers.append(&mut res.answers);
                res.answers = answers;
                res
            }
            FrameEnd::Positive(records, proof) => {
                if !frame.chain.is_empty() {
                    // The chain's target answers its own question too.
                    let target = QuestionKey::new(&frame.qname, frame.qtype);
                    self.cache.store(
                        target,
                        AnswerKind::Positive,
                        records.clone(),
                        proof.clone(),
                        Verdict::default(),
                        now,
                    );
                }
                let mut answers = frame.chain.clone();
                answers.extend(records);
                let stored = match frame.purpose {
                    Purpose::Priming => None,
                    Purpose::Client => self.cache.store(
                        key.clone(),
                        AnswerKind::Positive,
                        answers.clone(),
                        proof.clone(),
                        Verdict::default(),
                        now,
                    ),
                };
                // The client gets what the cache now holds (TTL floor and
                // cap applied), as a later hit would.
                match stored {
                    Some(entry) => Resolution::from_cached(&entry, now),
                    None => self.cached_or(&key, now, ResponseCode::NoError, answers, proof),
                }
            }
            FrameEnd::Negative(kind, soa, proof) => {
                let soa = soa.map(|b| *b);
                if kind == AnswerKind::NxDomain
                    && let Some(soa) = &soa
                {
                    self.cache
                        .store_nxdomain_cut(&frame.qname, soa.clone(), now);
                }
                let mut authorities: Vec<Record> = soa.into_iter().collect();
                authorities.extend(proof);
                if !frame.chain.is_empty() {
                    let target = QuestionKey::new(&frame.qname, frame.qtype);
                    self.cache.store(
                        target,
                        kind,
                        Vec::new(),
                        authorities.clone(),
                        Verdict::default(),
                        now,
                    );
                }
                let stored = self.cache.store(
                    key.clone(),
                    kind,
                    frame.chain.clone(),
                    authorities.clone(),
                    Verdict::default(),
                    now,
                );
                match stored {
                    Some(entry) => Resolution::from_cached(&entry, now),
                    None => {
                        self.cached_or(&key, now, kind.rcode(), frame.chain.clone(), authorities)
                    }
                }
            }
            FrameEnd::Failed(why) => {
                debug!(name = %frame.qname, qtype = ?frame.qtype, why = why.text, "resolution failed");
                note(&self.trace, self.depth, "fail", || {
                    format!("{} {}: {}", frame.qname, frame.qtype, why.text)
                });
                Resolution::servfail(why)
            }
        };
        note(&self.trace, self.depth, "done", || {
            let what = match frame.purpose {
                Purpose::Client => format!("{} {}", frame.original, frame.qtype),
                Purpose::Priming => "priming".to_string(),
            };
            format!(
                "{what}: {} with {} answer records",
                rcode_name(resolution.rcode),
                resolution.answers.len()
            )
        });
        match frame.purpose {
            Purpose::Client => self.finished = Some(resolution),
            Purpose::Priming => {}
        }
    }

    /// Feeds the outcome of an [`Action::Lookup`]: addresses found for NS
    /// names of the current cut (none if every lookup failed).
    pub fn on_addresses(&mut self, found: Vec<(Name, Vec<IpAddr>)>) {
        if let Some(cut) = self.frames.last_mut().and_then(|f| f.cut.as_mut()) {
            for (ns, addrs) in found {
                cut.add_addresses(&ns, &addrs);
            }
        }
    }

    fn cached_or(
        &self,
        key: &QuestionKey,
        now: Timestamp,
        rcode: ResponseCode,
        answers: Vec<Record>,
        authorities: Vec<Record>,
    ) -> Resolution {
        match self.cache.answer(key, now) {
            Some(hit) => Resolution::from_cached(&hit, now),
            None => Resolution {
                rcode,
                answers,
                authorities,
                ede: None,
                security: Default::default(),
            },
        }
    }
}

/// Whether the cache holds an answer showing that `name` exists without an
/// alias: a NODATA, or records of `qtype` themselves (not a CNAME/DNAME).
fn known_to_exist(cache: &Cache, name: &Name, qtype: RecordType, now: Timestamp) -> bool {
    cache
        .answer(&QuestionKey::new(name, qtype), now)
        .is_some_and(|a| match a.kind {
            AnswerKind::NoData => a.records().0.is_empty(),
            AnswerKind::Positive => {
                let (answers, _) = a.records();
                !answers.is_empty()
                    && answers
                        .iter()
                        .all(|r| &r.name == name && r.record_type() == qtype)
            }
            AnswerKind::NxDomain => false,
        })
}

/// Records an event if the walk is traced; the detail is formatted only then.
fn note(
    trace: &Option<Arc<Trace>>,
    depth: usize,
    event: &'static str,
    detail: impl FnOnce() -> String,
) {
    if let Some(t) = trace {
        t.record(depth, event, detail());
    }
}

/// "ns1.example. (192.0.2.1), ns2.example. (no address)".
fn describe_servers(cut: &ZoneCut) -> String {
    let list: Vec<String> = cut
        .servers
        .iter()
        .map(|s| {
            let addrs: Vec<String> = s.addrs.iter().map(|a| a.to_string()).collect();
            if addrs.is_empty() {
                format!("{} (no address)", s.name)
            } else {
                format!("{} ({})", s.name, addrs.join(" "))
            }
        })
        .collect();
    list.join(", ")
}

/// A live cached DNAME at a proper ancestor of `name`, with the CNAME it
/// implies for `name` and that CNAME's target.
fn cached_dname_above(
    cache: &Cache,
    name: &Name,
    now: Timestamp,
) -> Option<(Record, (Record, Name))> {
    let mut owner = parent(name);
    while !owner.is_root() {
        if let Some(set) = cache.rrset(&owner, RecordType::DNAME, now) {
            let dname = set.records_at(now).into_iter().next()?;
            let synthesis = dname::synthesize(name, &dname)?;
            return Some((dname, synthesis));
        }
        owner = parent(&owner);
    }
    None
}
