//! From request bytes to response bytes.
//!
//! One request's path: [`Handler::handle_now`] checks it
//! ([`request::check`](super::request::check)), asks the local policy
//! ([`crate::policy`]: local zones and data, blocklists), and looks the
//! question up in the cache; an error or a cache hit is answered there and then, without a
//! task or a lock shared by all workers. A miss comes back as
//! [`Handled::Miss`], for the listener to resolve in a task of its own
//! ([`Handler::resolve`]) so that it never delays other clients' hits.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::DNSClass;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, info};

use super::acl::Verdict;
use super::layout::{RESPONSE_PADDING_BLOCK, pad};
use super::live::SharedLive;
use super::rate_limit::ResponseVerdict;
use super::request::{Checked, HEADER_LEN, Question, check};
use super::response::ReplyTo;
use super::response::{Transport, encode_answer, encode_error, encode_slip};
use crate::cache::CachedAnswer;
use crate::cache::answer::{is_dnssec_only, without_dnssec};
use crate::cache::wire::{OPT_LEN, Patch};
use crate::clock::Timestamp;
use crate::config::DenyAction;
use crate::dnssec::Security;
use crate::ede::ExtendedError;
use crate::metrics::Metrics;
use crate::policy::{self, Action, Policy};
use crate::resolver::resolution::rcode_name;
use crate::resolver::{Resolution, Resolver};
use crate::upstream::Upstream;
use hickory_proto::rr::Record;

/// Where a request came from, over what, and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The client's address.
    pub peer: SocketAddr,
    /// UDP, TCP, TLS, HTTPS or QUIC.
    pub transport: Transport,
    /// When the listener read it (for the latency metric and log).
    pub received: Instant,
}

/// A question the cache could not answer, waiting to be resolved.
#[derive(Debug)]
pub struct Miss {
    question: Question,
    origin: Origin,
}

/// The outcome of the synchronous part of handling a request.
#[derive(Debug)]
pub enum Handled {
    /// Send these bytes (an error response or a cached answer).
    Reply(Vec<u8>),
    /// Send nothing.
    Drop,
    /// Not cached: resolve it.
    Miss(Miss),
}

/// Cache misses being resolved at once across all listeners. Each costs a
/// task and up to `resolution-timeout` of upstream work; past this a miss is
/// answered SERVFAIL at once rather than queued without bound (Unbound
/// bounds the same with `num-queries-per-thread`, 1024 per thread).
pub const MAX_PENDING_MISSES: usize = 4096;

/// Answers requests from the cache, or by resolving them.
pub struct Handler<U> {
    resolver: Arc<Resolver<U>>,
    pending: Arc<Semaphore>,
    live: SharedLive,
    metrics: Option<Arc<Metrics>>,
}

impl<U> Clone for Handler<U> {
    fn clone(&self) -> Self {
        Self {
            resolver: self.resolver.clone(),
            pending: self.pending.clone(),
            live: self.live.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<U: Upstream> Handler<U> {
    /// A handler resolving through `resolver`, judging clients by `live`,
    /// counting into `metrics` if given.
    pub fn new(
        resolver: Arc<Resolver<U>>,
        live: SharedLive,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            resolver,
            pending: Arc::new(Semaphore::new(MAX_PENDING_MISSES)),
            live,
            metrics,
        }
    }

    /// Judges the client (ACL, query rate), checks the request, and answers
    /// it if it is an error or a cache hit.
    pub fn handle_now(&self, bytes: &[u8], origin: Origin) -> Handled {
        let live = self.live.load();
        let client = origin.peer.ip();
        if live.acl.check(client) == Verdict::Deny {
            self.count(|m| m.refused_by_acl());
            return match live.deny_action {
                DenyAction::Drop => Handled::Drop,
                DenyAction::Refuse => refuse(bytes),
            };
        }
        if !live.limiter.allow_query(client, origin.received) {
            self.count(|m| m.rate_limited("query"));
            // Over UDP a refusal would still feed a spoofed flood; over TCP
            // the client is real and told.
            return match origin.transport {
                Transport::Udp => Handled::Drop,
                _ => refuse(bytes),
            };
        }
        match check(bytes) {
            Checked::Drop => {
                self.count(|m| m.dropped_request());
                Handled::Drop
            }
            Checked::Reply(b) => Handled::Reply(b),
            Checked::Resolve(question) => {
                debug_assert_eq!(question.query().query_class(), DNSClass::IN);
                let (name, qtype) = (question.query().name(), question.query().query_type());
                let verdict = live.policy.decide(name, qtype);
                if verdict.rule.is_some()
                    && let Some(handled) = self.local(&question, &live.policy, verdict, origin)
                {
                    return handled;
                }
                match self.resolver.lookup_entry(name, qtype) {
                    Some((entry, now, refresh_due)) => {
                        if refresh_due {
                            self.count(|m| m.prefetch());
                            let (resolver, name) = (self.resolver.clone(), name.clone());
                            tokio::spawn(async move { resolver.refresh(&name, qtype).await });
                        }
                        let to = &question.reply_to;
                        let rcode = entry.kind.rcode();
                        if let Some(fast) = pre_encoded(&entry, to, bytes, now, origin.transport) {
                            return self.finish_with(
                                &question,
                                rcode,
                                None,
                                origin,
                                Source::Hit,
                                || Handled::Reply(fast),
                            );
                        }
                        let res = Resolution::from_cached(&entry, now);
                        self.finish(&question, &res, origin, true)
                    }
                    None => Handled::Miss(Miss { question, origin }),
                }
            }
        }
    }

    /// Answers a question the local policy decided (`None`: resolve it,
    /// an allowlisted name), counting and logging the rule.
    fn local(
        &self,
        q: &Question,
        policy: &Policy,
        verdict: policy::Verdict,
        origin: Origin,
    ) -> Option<Handled> {
        let rule = verdict.rule?;
        if let Some(class) = verdict.class() {
            self.count(|m| m.policy_answer(class));
        }
        let to = &q.reply_to;
        let described = || policy.describe(q.query().name(), &rule);
        match verdict.action {
            Action::Pass => None,
            Action::Drop => {
                if self.live.load().query_log {
                    info!(
                        target: QUERY_LOG_TARGET,
                        client = %origin.peer.ip(),
                        name = %q.query().name(),
                        qtype = %q.query().query_type(),
                        rule = %described(),
                        "query dropped by local policy"
                    );
                }
                Some(Handled::Drop)
            }
            Action::Refuse => {
                let rcode = ResponseCode::Refused;
                Some(
                    self.finish_with(q, rcode, None, origin, Source::Local(&described), || {
                        encode_error(to, rcode).map_or(Handled::Drop, Handled::Reply)
                    }),
                )
            }
            Action::Answer(a) => {
                let to = ReplyTo {
                    authoritative: a.authoritative,
                    ..to.clone()
                };
                Some(
                    self.finish_with(q, a.rcode, a.ede, origin, Source::Local(&described), || {
                        encode_answer(
                            &to,
                            a.rcode,
                            &a.answers,
                            &a.authorities,
                            a.ede,
                            origin.transport,
                        )
                        .or_else(|| encode_error(&to, ResponseCode::ServFail))
                        .map_or(Handled::Drop, Handled::Reply)
                    }),
                )
            }
        }
    }

    /// Resolves a missed question and encodes the response; SERVFAIL at once
    /// when [`MAX_PENDING_MISSES`] are already being resolved.
    pub async fn resolve(&self, miss: Miss) -> Option<Vec<u8>> {
        let Miss { question, origin } = miss;
        let Ok(_slot) = self.pending.try_acquire() else {
            debug!("too many pending resolutions: SERVFAIL");
            return encode_error(&question.reply_to, ResponseCode::ServFail);
        };
        let res = self
            .resolver
            .resolve(question.query().name(), question.query().query_type())
            .await;
        match self.finish(&question, &res, origin, false) {
            Handled::Reply(b) => Some(b),
            _ => None,
        }
    }

    /// Encodes the answer, applies response-rate limiting on UDP, and
    /// counts and logs it.
    fn finish(&self, q: &Question, res: &Resolution, origin: Origin, cache_hit: bool) -> Handled {
        let (rcode, ede) = if withheld(q, res) {
            (
                ResponseCode::ServFail,
                res.ede.or(Some(ExtendedError::DNSSEC_BOGUS)),
            )
        } else {
            (res.rcode, res.ede)
        };
        let source = if cache_hit { Source::Hit } else { Source::Miss };
        self.finish_with(q, rcode, ede, origin, source, || {
            encode(q, res, origin.transport)
        })
    }

    /// Response-rate limiting on UDP, then `encode`, then counting and
    /// logging the answer.
    #[inline(always)]
    fn finish_with(
        &self,
        q: &Question,
        rcode: ResponseCode,
        ede: Option<crate::resolver::ExtendedError>,
        origin: Origin,
        source: Source<'_>,
        encode: impl FnOnce() -> Handled,
    ) -> Handled {
        // A local answer is counted with the hits: no upstream work.
        let cache_hit = !matches!(source, Source::Miss);
        let client = origin.peer.ip();
        if origin.transport == Transport::Udp {
            let verdict = self.live.load().limiter.response(client, Instant::now());
            match verdict {
                ResponseVerdict::Send => {}
                ResponseVerdict::Slip => {
                    self.count(|m| m.rate_limited("response-slip"));
                    return encode_slip(&q.reply_to).map_or(Handled::Drop, Handled::Reply);
                }
                ResponseVerdict::Drop => {
                    self.count(|m| m.rate_limited("response-drop"));
                    return Handled::Drop;
                }
            }
        }
        let mut handled = encode();
        if origin.transport.encrypted()
            && q.reply_to.edns.is_some_and(|e| e.padded)
            && let Handled::Reply(bytes) = &mut handled
        {
            pad(bytes, RESPONSE_PADDING_BLOCK);
        }
        let latency = origin.received.elapsed();
        let qtype = q.query().query_type();
        let transport = origin.transport.name();
        self.count(|m| m.query(qtype, rcode, latency, cache_hit, transport));
        if ede == Some(crate::resolver::ExtendedError::STALE_ANSWER) {
            self.count(|m| m.stale_answer());
        }
        if self.live.load().query_log {
            match source {
                Source::Local(rule) => info!(
                    target: QUERY_LOG_TARGET,
                    client = %client,
                    name = %q.query().name(),
                    qtype = %qtype,
                    rcode = %rcode_name(rcode),
                    latency_us = latency.as_micros() as u64,
                    cache = "local",
                    rule = %rule(),
                    transport,
                    "query"
                ),
                _ => info!(
                    target: QUERY_LOG_TARGET,
                    client = %client,
                    name = %q.query().name(),
                    qtype = %qtype,
                    rcode = %rcode_name(rcode),
                    latency_us = latency.as_micros() as u64,
                    cache = if cache_hit { "hit" } else { "miss" },
                    transport,
                    "query"
                ),
            }
        }
        handled
    }

    fn count(&self, f: impl FnOnce(&Metrics)) {
        if let Some(m) = &self.metrics {
            f(m);
        }
    }
}

/// Where an answer came from, for the metrics and the query log.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The answer cache.
    Hit,
    /// A resolution.
    Miss,
    /// The local policy; the rule that decided, as text (made only for
    /// the query log).
    Local(&'a dyn Fn() -> String),
}

/// The tracing target of the query log (one event per answered query).
pub const QUERY_LOG_TARGET: &str = "rootward::query";

/// The cached answer's pre-encoded response patched for this request
/// (DO or not, EDNS or not), when the general encoder would produce the
/// same: not bogus (that is a SERVFAIL with its reason) and small enough
/// for the client (else it needs truncation).
fn pre_encoded(
    entry: &CachedAnswer,
    to: &ReplyTo,
    request: &[u8],
    now: Timestamp,
    transport: Transport,
) -> Option<Vec<u8>> {
    if entry.security == Security::Bogus {
        return None;
    }
    let dnssec_ok = to.edns.is_some_and(|e| e.dnssec_ok);
    let encoded = entry.encoded(dnssec_ok);
    let opt = if to.edns.is_some() { OPT_LEN } else { 0 };
    if encoded.len() + opt > to.limit(transport) {
        return None;
    }
    let ad = sets_ad(entry.security, to);
    // The question is the first name of the request, right after the
    // header, in the client's case.
    let qname = request.get(HEADER_LEN..HEADER_LEN + encoded.qname_len())?;
    let patch = Patch {
        id: to.id,
        rd: to.recursion_desired,
        cd: to.checking_disabled,
        ad,
        edns: to.edns.map(|e| e.dnssec_ok),
    };
    encoded.render(patch, qname, entry.stored_at, now)
}

/// AD only for a secure answer, to a client that showed it understands AD
/// by setting DO or AD (RFC 6840 §5.7).
fn sets_ad(security: Security, to: &ReplyTo) -> bool {
    security == Security::Secure && (to.authentic_data || to.edns.is_some_and(|e| e.dnssec_ok))
}

/// REFUSED for a request (its ID and question echoed when they parse).
fn refuse(bytes: &[u8]) -> Handled {
    match check(bytes) {
        Checked::Resolve(q) => {
            encode_error(&q.reply_to, ResponseCode::Refused).map_or(Handled::Drop, Handled::Reply)
        }
        Checked::Reply(b) => Handled::Reply(b),
        Checked::Drop => Handled::Drop,
    }
}

/// Whether `res` is bogus and the client did not set CD: it gets SERVFAIL,
/// never the data (RFC 4035 §5.5).
fn withheld(q: &Question, res: &Resolution) -> bool {
    res.security == Security::Bogus && !q.reply_to.checking_disabled
}

fn encode(q: &Question, res: &Resolution, transport: Transport) -> Handled {
    let to = &q.reply_to;
    if withheld(q, res) {
        let ede = res.ede.or(Some(ExtendedError::DNSSEC_BOGUS));
        return encode_answer(to, ResponseCode::ServFail, &[], &[], ede, transport)
            .map_or(Handled::Drop, Handled::Reply);
    }
    let dnssec_ok = to.edns.is_some_and(|e| e.dnssec_ok);
    let qtype = to.query.query_type();
    // Without DO a client gets no RRSIG/NSEC/NSEC3 (RFC 4035 §3.2.1).
    let strip = |records: &[Record]| -> Option<Vec<Record>> {
        (!dnssec_ok && records.iter().any(|r| is_dnssec_only(r, qtype)))
            .then(|| without_dnssec(records, qtype))
    };
    let (answers, authorities) = (strip(&res.answers), strip(&res.authorities));
    let answers = answers.as_deref().unwrap_or(&res.answers);
    let authorities = authorities.as_deref().unwrap_or(&res.authorities);
    let authenticated = sets_ad(res.security, to);
    let with_ad;
    let to = if authenticated {
        with_ad = ReplyTo {
            authenticated: true,
            ..to.clone()
        };
        &with_ad
    } else {
        to
    };
    // Records hickory cannot encode still get the client an answer: SERVFAIL.
    encode_answer(to, res.rcode, answers, authorities, res.ede, transport)
        .or_else(|| encode_error(to, ResponseCode::ServFail))
        .map_or(Handled::Drop, Handled::Reply)
}
