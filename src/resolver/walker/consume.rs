//! Consuming replies: the other half of the walker (Knot Resolver's
//! `consume`, beside `produce` in `mod.rs`).
//!
//! One reply's path: the upstream outcome feeds the infrastructure cache
//! (RTT, timeout, lameness); the reply is scrubbed against the bailiwick of
//! the zone asked, classified, and acted on: a referral moves the cut down,
//! a CNAME restarts the walk at its target, an answer or a negative answer
//! ends the frame, a minimised query's reply moves QNAME minimisation on.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::time::Instant;
use tracing::debug;

use super::{FrameEnd, Walker, note};
use crate::cache::{AnswerKind, QuestionKey, Trust};
use crate::clock::Timestamp;
use crate::resolver::KeyHasher;
use crate::resolver::classify::{ReplyKind, classify};
use crate::resolver::limits::{MAX_CNAME_CHAIN, MAX_REFERRALS};
use crate::resolver::qname_min::{Minimiser, OnNxDomain};
use crate::resolver::resolution::{ExtendedError, rcode_name};
use crate::resolver::scrub::{self, Dropped, scrub};
use crate::resolver::signatures;
use crate::resolver::zone_cut::{ZoneCut, cached_addrs, ns_target, record_addr};
use crate::upstream::UpstreamError;

impl Walker {
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
                let now_i = Instant::now();
                self.infra.record_rtt(ip, elapsed, now_i);
                if out.query.edns && reply.edns.is_none() {
                    // It answered an EDNS query without OPT (after FORMERR,
                    // or ignoring it): ask it without EDNS from now on.
                    self.infra.record_no_edns(ip, now_i);
                }
                reply
            }
            Err(e) => {
                debug!(server = %out.server, zone = %out.zone, error = %e, "no reply");
                note(&self.trace, self.depth, "no-reply", || {
                    format!(
                        "{} for zone {}: {e} after {} ms",
                        out.server.ip(),
                        out.zone,
                        elapsed.as_millis()
                    )
                });
                // Only a timeout or a missing route teaches anything about
                // the server; a query not sent (`Throttled`: too many in
                // flight) just leaves it tried for this walk.
                if matches!(e, UpstreamError::Throttled(_)) {
                    self.throttled = true;
                }
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
        let trace = self.trace.clone();
        note(&trace, self.depth, "reply", || {
            let m = &reply.metadata;
            let size = reply.to_vec().map(|b| b.len()).unwrap_or(0);
            format!(
                "{} from {}: aa={} tc={} answer={} authority={} additional={} ({size} bytes, {} ms)",
                rcode_name(m.response_code),
                out.server.ip(),
                m.authoritative,
                m.truncation,
                reply.answers.len(),
                reply.authorities.len(),
                reply.additionals.len(),
                elapsed.as_millis()
            )
        });
        let mut material = signatures::take(&mut reply, qtype);
        let dropped = scrub(&mut reply, &out.zone, &qname, qtype);
        let dropped_sigs = material.retain(&reply, &out.zone);
        if dropped_sigs > 0 {
            debug!(server = %out.server, zone = %out.zone, dropped = dropped_sigs, "scrubbed DNSSEC records about data not kept");
        }
        if !dropped.is_empty() {
            debug!(server = %out.server, zone = %out.zone, dropped = dropped.len(), "scrubbed records the server may not assert here");
        }
        for d in &dropped {
            note(&trace, self.depth, "scrub", || {
                format!("dropped {}: {}", d.record, d.rule)
            });
        }
        let aa = reply.metadata.authoritative;
        let kind = upward_referral_is_lame(classify(&reply, &out.zone, &qname, qtype), &dropped);
        debug!(server = %out.server, zone = %out.zone, %qname, ?qtype, kind = kind_name(&kind), "reply");
        note(&trace, self.depth, "classify", || {
            let what = match &kind {
                ReplyKind::Referral { zone, ns, .. } => {
                    let names: Vec<String> = ns
                        .iter()
                        .filter_map(ns_target)
                        .map(|n| n.to_string())
                        .collect();
                    format!("referral to {zone} (NS {})", names.join(", "))
                }
                ReplyKind::Cname { target, .. } => format!("alias: continue at {target}"),
                other => kind_name(other).to_string(),
            };
            if minimised {
                format!("{what} (minimised query {qname} {qtype})")
            } else {
                what
            }
        });
        let answer_trust = if aa {
            Trust::AuthAnswer
        } else {
            Trust::AuthAuthority
        };
        if minimised {
            let proof = material.proof();
            self.on_minimised_reply(kind, (qname, qtype), answer_trust, proof, now);
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
            ReplyKind::Answer { chain, mut records } => {
                self.store_sets(&chain, answer_trust, now);
                // The final addresses of a client's question go to the
                // answer cache (end_frame), which the walk also reads NS
                // addresses from (`cached_addrs`); NS and DNAME sets are the
                // walk's own working data.
                if !matches!(qtype, RecordType::A | RecordType::AAAA) {
                    self.store_sets(&records, answer_trust, now);
                }
                if qtype == RecordType::NS {
                    self.store_sets(&reply.additionals, Trust::Glue, now);
                }
                self.extend_chain(signed(chain, &material));
                records.extend(material.sigs_for(&records));
                self.end_frame(FrameEnd::Positive(records, material.proof()), now);
            }
            ReplyKind::Cname { chain, target } => {
                self.store_sets(&chain, answer_trust, now);
                self.extend_chain(signed(chain, &material));
                self.follow_cname(target, now);
            }
            ReplyKind::Referral { zone, ns, glue } => self.follow_referral(zone, ns, glue, now),
            ReplyKind::NoData { chain, soa } => {
                self.store_sets(&chain, answer_trust, now);
                self.extend_chain(signed(chain, &material));
                self.end_frame(
                    FrameEnd::Negative(AnswerKind::NoData, soa.map(Box::new), material.proof()),
                    now,
                );
            }
            ReplyKind::NxDomain { chain, soa } => {
                self.store_sets(&chain, answer_trust, now);
                self.extend_chain(signed(chain, &material));
                self.end_frame(
                    FrameEnd::Negative(AnswerKind::NxDomain, soa.map(Box::new), material.proof()),
                    now,
                );
            }
        }
    }

    /// Acts on the reply to a minimised query (RFC 9156 §3): a referral
    /// descends as usual; "the name exists here" adds a label; anything
    /// else decides between the full name and (strict) the end.
    fn on_minimised_reply(
        &mut self,
        kind: ReplyKind,
        asked: (Name, RecordType),
        trust: Trust,
        proof: Vec<Record>,
        now: Timestamp,
    ) {
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
                // The minimised question was a real one: its answer serves a
                // client who asks it.
                self.store_sets(&records, trust, now);
                if let Some(first) = records.first() {
                    let key = QuestionKey::new(&first.name, first.record_type());
                    self.cache.store_positive(key, records, now);
                }
            }
            ReplyKind::NoData { soa, .. } => {
                f.min.exists();
                if let Some(cut) = f.cut.as_mut() {
                    cut.clear_tried();
                }
                // NODATA is trustworthy even from servers that mishandle
                // empty non-terminals (only their NXDOMAIN is suspect).
                let key = QuestionKey::new(&asked.0, asked.1);
                self.cache
                    .store_negative(key, AnswerKind::NoData, Vec::new(), soa, now);
            }
            ReplyKind::NxDomain { soa, .. } => match f.min.nxdomain() {
                OnNxDomain::Final => {
                    self.end_frame(
                        FrameEnd::Negative(AnswerKind::NxDomain, soa.map(Box::new), proof),
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

    pub(super) fn follow_cname(&mut self, target: Name, now: Timestamp) {
        let Some(f) = self.frames.last_mut() else {
            return;
        };
        let looped =
            target == f.original || f.chain.iter().filter(|r| r.name == target).count() > 0;
        let links = f
            .chain
            .iter()
            .filter(|r| r.record_type() != RecordType::RRSIG)
            .count();
        if looped || links > MAX_CNAME_CHAIN {
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

    /// Caches records grouped into RRsets, of the types a walk reads back
    /// from the RRset cache: NS sets (zone cuts), addresses (of NS names)
    /// and DNAMEs. Everything else a client asked for lives in the answer
    /// cache only: keeping a second copy would cost a cache entry per name
    /// for nothing. CNAMEs synthesised from a DNAME in the same records are
    /// left out: only the DNAME is data the server vouched for (RFC 6672
    /// §3.4); the synthesis is redone from it.
    fn store_sets(&self, records: &[Record], trust: Trust, now: Timestamp) {
        let mut sets: HashMap<(Name, RecordType), Vec<Record>, KeyHasher> = HashMap::default();
        let dname_owners: Vec<&Name> = records
            .iter()
            .filter(|r| r.record_type() == RecordType::DNAME)
            .map(|r| &r.name)
            .collect();
        for r in records {
            if !matches!(
                r.record_type(),
                RecordType::NS | RecordType::A | RecordType::AAAA | RecordType::DNAME
            ) {
                continue;
            }
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
}

/// An empty reply whose authority section held only NS sets above or
/// beside the zone asked (scrubbed away) is an upward referral: a lame or
/// recursive-only server, not a NODATA (RFC 4697 §2.5).
fn upward_referral_is_lame(kind: ReplyKind, dropped: &[Dropped]) -> ReplyKind {
    let upward = dropped.iter().any(|d| {
        d.record.record_type() == RecordType::NS
            && matches!(d.rule, scrub::OUT_OF_ZONE | scrub::NOT_ANCESTOR)
    });
    match kind {
        ReplyKind::NoData {
            ref chain,
            soa: None,
        } if chain.is_empty() && upward => ReplyKind::Lame("upward referral"),
        other => other,
    }
}

/// `chain` followed by the RRSIGs of `material` that cover it.
fn signed(mut chain: Vec<Record>, material: &signatures::Material) -> Vec<Record> {
    let sigs = material.sigs_for(&chain);
    chain.extend(sigs);
    chain
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
