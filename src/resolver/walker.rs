//! The iterative walker: a state machine that does no I/O.
//!
//! One question's path: [`Walker::step`] finds the closest zone cut the cache
//! knows (or primes the root from the hints, RFC 8109), picks a server and
//! returns [`Action::Send`]; the driver carries that query and hands the
//! reply (or error) to [`Walker::on_reply`], which scrubs it, classifies it
//! and acts: a referral moves the cut down, a CNAME restarts the walk at its
//! target, an answer or a negative answer is cached and finishes the
//! question. A delegation whose NS names have no usable addresses pushes a
//! sub-resolution for one of them onto a stack of frames; its addresses feed
//! the cut below it. Every loop is bounded by the constants in
//! [`limits`](super::limits).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::time::Instant;
use tracing::debug;

use super::address_policy::AddressPolicy;
use super::classify::{ReplyKind, classify};
use super::dname;
use super::infra_cache::InfraCache;
use super::limits::{
    MAX_CNAME_CHAIN, MAX_DEPENDENCY_DEPTH, MAX_NS_LOOKUPS_PER_CUT, MAX_REFERRALS,
    MAX_UPSTREAM_QUERIES, PARALLEL_NS_LOOKUPS,
};
use super::qname_min::{Minimiser, OnNxDomain};
use super::resolution::{ExtendedError, Resolution};
use super::scrub::scrub;
use super::zone_cut::{ZoneCut, cached_addrs, ns_target, record_addr};
use crate::cache::{AnswerKind, Cache, QuestionKey, Trust};
use crate::clock::Timestamp;
use crate::config::{DNS_PORT, QnameMinimisation};
use crate::root_hints::RootHints;
use crate::upstream::{UpstreamError, UpstreamQuery};
use hickory_proto::op::Message;

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
    /// QNAME minimisation mode for every frame.
    qname_mode: QnameMinimisation,
}

/// How a frame ended.
enum FrameEnd {
    Positive(Vec<Record>),
    Negative(AnswerKind, Option<Box<Record>>),
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
            qname_mode: QnameMinimisation::Off,
        }
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
            };
            if use_cache && let Some(hit) = self.cache.answer(&key, now) {
                let res = Resolution::from_cached(&hit, now);
                self.end_frame(FrameEnd::Cached(res), now);
                return None;
            }
            // RFC 8020: an NXDOMAIN for the name or an ancestor settles it.
            if !matches!(frame.purpose, Purpose::Priming)
                && let Some(nx) = self.cache.nxdomain_at_or_above(&frame.qname, now)
            {
                let res = Resolution::from_cached(&nx, now);
                self.end_frame(FrameEnd::Cached(res), now);
                return None;
            }
            // RFC 6672 §3.4: a cached DNAME above the name redirects it
            // without asking anyone.
            if let Some((dname, (cname, to))) = cached_dname_above(&self.cache, &frame.qname, now) {
                frame.chain.push(dname);
                frame.chain.push(cname);
                self.follow_cname(to, now);
                return None;
            }
            // DS records live on the parent side of a cut (RFC 4035 §3.1.4.1):
            // look for the cut above the name itself.
            let start = if frame.qtype == RecordType::DS && !frame.qname.is_root() {
                frame.qname.base_name()
            } else {
                frame.qname.clone()
            };
            match ZoneCut::closest_cached(&self.cache, &start, now) {
                // A root NS set without any cached address (a priming reply
                // that carried none) would strand the walk: the hints know
                // the root servers' addresses.
                Some(cut) if cut.zone.is_root() && !cut.has_addresses() => {
                    frame.cut = Some(ZoneCut::from_hints(&self.hints));
                }
                Some(cut) => {
                    frame.min.new_cut();
                    frame.cut = Some(cut);
                }
                None if !self.priming_tried && depth < MAX_DEPENDENCY_DEPTH => {
                    self.priming_tried = true;
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
                None => frame.cut = Some(ZoneCut::from_hints(&self.hints)),
            }
        }
        let sent = self.budget.load(Ordering::Relaxed);
        if sent >= MAX_UPSTREAM_QUERIES {
            debug!(sent, "upstream query budget exhausted");
            self.frames.truncate(1);
            self.end_frame(
                FrameEnd::Failed(ExtendedError::other("upstream query budget exhausted")),
                now,
            );
            return None;
        }
        let cut = frame.cut.as_mut()?;
        if let Some(ip) = cut.next_address(&self.policy, &self.infra, Instant::now()) {
            let (name, qtype, _) = frame.min.query(&cut.zone, &frame.qname, frame.qtype);
            let out = Outbound {
                server: SocketAddr::new(ip, DNS_PORT),
                query: UpstreamQuery { name, qtype },
                zone: cut.zone.clone(),
                timeout: self.infra.rto(ip),
            };
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
                return Some(Action::Lookup(AddressLookup { names, qtype }));
            }
        }
        self.end_frame(FrameEnd::Failed(ExtendedError::NO_REACHABLE_AUTHORITY), now);
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

    /// Feeds the outcome of the last [`Action::Send`], which took
    /// `elapsed` (for the server's RTT estimate).
    pub fn on_reply(
        &mut self,
        result: Result<Message, UpstreamError>,
        elapsed: Duration,
        now: Timestamp,
    ) {
        let Some(out) = self.outstanding.take() else {
            return;
        };
        let ip = out.server.ip();
        let mut reply = match result {
            Ok(reply) => {
                self.infra.record_rtt(ip, elapsed, Instant::now());
                reply
            }
            Err(e) => {
                debug!(server = %out.server, zone = %out.zone, error = %e, "no reply");
                if matches!(e, UpstreamError::Timeout) {
                    self.infra.record_timeout(ip, out.timeout, Instant::now());
                    if let Some(cut) = self.frames.last_mut().and_then(|f| f.cut.as_mut())
                        && cut.zone == out.zone
                    {
                        cut.timed_out(ip);
                    }
                }
                if matches!(e, UpstreamError::Unreachable(_)) {
                    // No route for this family here (a host without IPv6,
                    // say): skip its other addresses for the rest of the walk.
                    match out.server {
                        SocketAddr::V4(_) => self.policy.no_ipv4 = true,
                        SocketAddr::V6(_) => self.policy.no_ipv6 = true,
                    }
                }
                return;
            }
        };
        let Some(frame) = self.frames.last() else {
            return;
        };
        // Scrub and classify against the question actually sent, which QNAME
        // minimisation may have shortened.
        let (qname, qtype) = (out.query.name.clone(), out.query.qtype);
        let minimised = qname != frame.qname || qtype != frame.qtype;
        let dropped = scrub(&mut reply, &out.zone, &qname, qtype);
        if dropped > 0 {
            debug!(server = %out.server, zone = %out.zone, dropped, "scrubbed out-of-bailiwick records");
        }
        let aa = reply.metadata.authoritative;
        let kind = classify(&reply, &out.zone, &qname, qtype);
        debug!(server = %out.server, zone = %out.zone, %qname, ?qtype, kind = kind_name(&kind), "reply");
        let answer_trust = if aa {
            Trust::AuthAnswer
        } else {
            Trust::AuthAuthority
        };
        if minimised {
            self.on_minimised_reply(kind, answer_trust, now);
            return;
        }
        if aa && !matches!(kind, ReplyKind::Referral { .. } | ReplyKind::Lame(_)) {
            // The child's own NS set outranks the parent's referral copy.
            let ns: Vec<Record> = reply
                .authorities
                .iter()
                .filter(|r| r.record_type() == RecordType::NS)
                .cloned()
                .collect();
            self.store_sets(&ns, Trust::AuthAuthority, now);
        }
        match kind {
            ReplyKind::Lame(_) => self.infra.record_lame(ip, &out.zone, Instant::now()),
            ReplyKind::Answer { chain, records } => {
                self.store_sets(&chain, answer_trust, now);
                self.store_sets(&records, answer_trust, now);
                if qtype == RecordType::NS {
                    self.store_sets(&reply.additionals, Trust::Glue, now);
                }
                self.extend_chain(chain);
                self.end_frame(FrameEnd::Positive(records), now);
            }
            ReplyKind::Cname { chain, target } => {
                self.store_sets(&chain, answer_trust, now);
                self.extend_chain(chain);
                self.follow_cname(target, now);
            }
            ReplyKind::Referral { zone, ns, glue } => self.follow_referral(zone, ns, glue, now),
            ReplyKind::NoData { chain, soa } => {
                self.store_sets(&chain, answer_trust, now);
                self.extend_chain(chain);
                self.end_frame(
                    FrameEnd::Negative(AnswerKind::NoData, soa.map(Box::new)),
                    now,
                );
            }
            ReplyKind::NxDomain { chain, soa } => {
                self.store_sets(&chain, answer_trust, now);
                self.extend_chain(chain);
                self.end_frame(
                    FrameEnd::Negative(AnswerKind::NxDomain, soa.map(Box::new)),
                    now,
                );
            }
        }
    }

    /// Acts on the reply to a minimised query (RFC 9156 §3): a referral
    /// descends as usual; "the name exists here" adds a label; anything
    /// else decides between the full name and (strict) the end.
    fn on_minimised_reply(&mut self, kind: ReplyKind, trust: Trust, now: Timestamp) {
        let Some(f) = self.frames.last_mut() else {
            return;
        };
        match kind {
            ReplyKind::Referral { zone, ns, glue } => self.follow_referral(zone, ns, glue, now),
            ReplyKind::Answer { chain, records } if chain.is_empty() => {
                f.min.exists();
                if let Some(cut) = f.cut.as_mut() {
                    cut.clear_tried();
                }
                self.store_sets(&records, trust, now);
            }
            ReplyKind::NoData { .. } => {
                f.min.exists();
                if let Some(cut) = f.cut.as_mut() {
                    cut.clear_tried();
                }
            }
            ReplyKind::NxDomain { soa, .. } => match f.min.nxdomain() {
                OnNxDomain::Final => {
                    self.end_frame(
                        FrameEnd::Negative(AnswerKind::NxDomain, soa.map(Box::new)),
                        now,
                    );
                }
                OnNxDomain::AskFullName => {
                    if let Some(cut) = f.cut.as_mut() {
                        cut.clear_tried();
                    }
                }
            },
            // An alias at an intermediate name: ask the full name.
            ReplyKind::Answer { .. } | ReplyKind::Cname { .. } => {
                f.min.give_up();
                if let Some(cut) = f.cut.as_mut() {
                    cut.clear_tried();
                }
            }
            ReplyKind::Lame(_) => {
                if f.min.error()
                    && let Some(cut) = f.cut.as_mut()
                {
                    cut.clear_tried();
                }
            }
        }
    }

    fn extend_chain(&mut self, chain: Vec<Record>) {
        if let Some(f) = self.frames.last_mut() {
            f.chain.extend(chain);
        }
    }

    fn follow_cname(&mut self, target: Name, now: Timestamp) {
        let Some(f) = self.frames.last_mut() else {
            return;
        };
        let looped =
            target == f.original || f.chain.iter().filter(|r| r.name == target).count() > 0;
        if looped || f.chain.len() > MAX_CNAME_CHAIN {
            debug!(%target, links = f.chain.len(), "CNAME loop or chain too long");
            self.end_frame(
                FrameEnd::Failed(ExtendedError::other("CNAME loop or chain too long")),
                now,
            );
            return;
        }
        f.min = Minimiser::new(self.qname_mode, &target);
        f.qname = target;
        f.cut = None;
    }

    fn follow_referral(&mut self, zone: Name, ns: Vec<Record>, glue: Vec<Record>, now: Timestamp) {
        self.store_sets(&ns, Trust::Referral, now);
        self.store_sets(&glue, Trust::Glue, now);
        let Some(f) = self.frames.last_mut() else {
            return;
        };
        f.referrals += 1;
        if f.referrals > MAX_REFERRALS {
            self.end_frame(
                FrameEnd::Failed(ExtendedError::other("too many referrals")),
                now,
            );
            return;
        }
        let cache = &self.cache;
        f.min.new_cut();
        let names = ns.iter().filter_map(ns_target).collect();
        f.cut = Some(ZoneCut::new(zone, names, |n| {
            let mut addrs: Vec<IpAddr> = glue
                .iter()
                .filter(|g| &g.name == n)
                .filter_map(record_addr)
                .collect();
            for a in cached_addrs(cache, n, now) {
                if !addrs.contains(&a) {
                    addrs.push(a);
                }
            }
            addrs
        }));
    }

    /// Caches records grouped into RRsets. CNAMEs synthesised from a DNAME
    /// in the same records are left out: only the DNAME is data the server
    /// vouched for (RFC 6672 §3.4); the synthesis is redone from it.
    fn store_sets(&self, records: &[Record], trust: Trust, now: Timestamp) {
        let mut sets: HashMap<(Name, RecordType), Vec<Record>> = HashMap::new();
        let dname_owners: Vec<&Name> = records
            .iter()
            .filter(|r| r.record_type() == RecordType::DNAME)
            .map(|r| &r.name)
            .collect();
        for r in records {
            let synthesised = r.record_type() == RecordType::CNAME
                && dname_owners
                    .iter()
                    .any(|o| *o != &r.name && o.zone_of(&r.name));
            if synthesised {
                continue;
            }
            sets.entry((r.name.clone(), r.record_type()))
                .or_default()
                .push(r.clone());
        }
        for (_, set) in sets {
            self.cache.store_rrset(set, trust, now);
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
            FrameEnd::Positive(records) => {
                let mut answers = frame.chain.clone();
                answers.extend(records);
                if !matches!(frame.purpose, Purpose::Priming) {
                    self.cache.store_positive(key.clone(), answers.clone(), now);
                }
                self.cached_or(&key, now, ResponseCode::NoError, answers, Vec::new())
            }
            FrameEnd::Negative(kind, soa) => {
                let soa = soa.map(|b| *b);
                if kind == AnswerKind::NxDomain
                    && let Some(soa) = &soa
                {
                    self.cache
                        .store_nxdomain_cut(&frame.qname, soa.clone(), now);
                }
                self.cache
                    .store_negative(key.clone(), kind, frame.chain.clone(), soa.clone(), now);
                self.cached_or(
                    &key,
                    now,
                    kind.rcode(),
                    frame.chain.clone(),
                    soa.into_iter().collect(),
                )
            }
            FrameEnd::Failed(why) => {
                debug!(name = %frame.qname, qtype = ?frame.qtype, why = why.text, "resolution failed");
                Resolution::servfail(why)
            }
        };
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
            },
        }
    }
}

/// A live cached DNAME at a proper ancestor of `name`, with the CNAME it
/// implies for `name` and that CNAME's target.
fn cached_dname_above(
    cache: &Cache,
    name: &Name,
    now: Timestamp,
) -> Option<(Record, (Record, Name))> {
    let mut owner = name.base_name();
    while !owner.is_root() {
        if let Some(set) = cache.rrset(&owner, RecordType::DNAME, now) {
            let dname = set.records_at(now).into_iter().next()?;
            let synthesis = dname::synthesize(name, &dname)?;
            return Some((dname, synthesis));
        }
        owner = owner.base_name();
    }
    None
}

fn kind_name(kind: &ReplyKind) -> &'static str {
    match kind {
        ReplyKind::Answer { .. } => "answer",
        ReplyKind::Cname { .. } => "cname",
        ReplyKind::Referral { .. } => "referral",
        ReplyKind::NoData { .. } => "nodata",
        ReplyKind::NxDomain { .. } => "nxdomain",
        ReplyKind::Lame(why) => why,
    }
}
