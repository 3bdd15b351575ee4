//! Classifying a scrubbed reply: what did the server tell us?
//!
//! Runs after [`scrub`](super::scrub) and before anything touches the cache
//! (Unbound's `iter_resptype.h`). NXDOMAIN and NODATA are answers, not errors.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// What a scrubbed reply means for the question asked.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyKind {
    /// Data for the question: `chain` holds any CNAMEs followed inside the
    /// reply, `records` the final RRset(s).
    Answer {
        /// CNAMEs from the question name to the final name.
        chain: Vec<Record>,
        /// The records of the asked type at the final name.
        records: Vec<Record>,
    },
    /// A CNAME chain whose end lies outside this server's zone: resolve
    /// `target` from its own zone cut.
    Cname {
        /// CNAMEs from the question name.
        chain: Vec<Record>,
        /// Where to continue.
        target: Name,
    },
    /// A delegation to a child zone (RFC 1034 §4.3.2 step 3b).
    Referral {
        /// The child zone.
        zone: Name,
        /// Its NS set as the parent sees it.
        ns: Vec<Record>,
        /// In-bailiwick glue.
        glue: Vec<Record>,
    },
    /// The final name exists without the type (RFC 2308 §2.2).
    NoData {
        /// CNAMEs that led there.
        chain: Vec<Record>,
        /// The zone's SOA, if the server sent one.
        soa: Option<Record>,
    },
    /// The final name does not exist (RFC 2308 §2.1).
    NxDomain {
        /// CNAMEs that led there.
        chain: Vec<Record>,
        /// The zone's SOA, if the server sent one.
        soa: Option<Record>,
    },
    /// The server cannot help: an error rcode, an upward or sideways
    /// referral, or an empty non-authoritative reply. Try another server.
    Lame(&'static str),
}

/// Classifies a reply from a server of `zone` to `qname`/`qtype`, already
/// scrubbed.
pub fn classify(reply: &Message, zone: &Name, qname: &Name, qtype: RecordType) -> ReplyKind {
    let rcode = reply.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return ReplyKind::Lame("error rcode");
    }
    let (chain, records, last) = split_chain(&reply.answers, qname, qtype);
    if !records.is_empty() {
        return ReplyKind::Answer { chain, records };
    }
    let soa = reply
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .cloned();
    if rcode == ResponseCode::NXDomain {
        return ReplyKind::NxDomain { chain, soa };
    }
    let looped = chain.iter().any(|r| r.name == last);
    if !chain.is_empty() && (looped || !zone.zone_of(&last)) {
        // A chain that leaves the zone is chased from the target's own cut;
        // one that comes back on itself is handed to the walker, whose loop
        // check ends it.
        return ReplyKind::Cname {
            chain,
            target: last,
        };
    }
    let ns: Vec<Record> = reply
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS)
        .cloned()
        .collect();
    if soa.is_none()
        && let Some(child) = ns.first().map(|r| r.name.clone())
        && &child != zone
    {
        // Scrubbing kept only NS sets below `zone` and above the name; all of
        // one owner form the referral.
        let ns: Vec<Record> = ns.into_iter().filter(|r| r.name == child).collect();
        if chain.is_empty() {
            return ReplyKind::Referral {
                zone: child,
                ns,
                glue: reply.additionals.clone(),
            };
        }
        // A CNAME whose target is delegated further down: chase the target
        // from its own cut.
        return ReplyKind::Cname {
            chain,
            target: last,
        };
    }
    if reply.metadata.authoritative || soa.is_some() {
        return ReplyKind::NoData { chain, soa };
    }
    if !chain.is_empty() {
        return ReplyKind::Cname {
            chain,
            target: last,
        };
    }
    if ns.is_empty() {
        // An empty NOERROR without AA or SOA (or whose only records were
        // off the question and scrubbed): the name has no such data, as
        // Unbound and Knot read it. Cached briefly, for want of an SOA.
        return ReplyKind::NoData { chain, soa: None };
    }
    // Only the zone's own NS set again: a sideways referral.
    ReplyKind::Lame("sideways referral (NS of the zone asked, no answer)")
}

/// Splits an answer section (already reduced to the chain by scrubbing) into
/// CNAME links and final records, and the name the chain ends at.
fn split_chain(
    answers: &[Record],
    qname: &Name,
    qtype: RecordType,
) -> (Vec<Record>, Vec<Record>, Name) {
    let mut chain = Vec::new();
    let mut records = Vec::new();
    let mut last = qname.clone();
    for r in answers {
        match &r.data {
            RData::CNAME(target) if qtype != RecordType::CNAME && qtype != RecordType::ANY => {
                chain.push(r.clone());
                last = target.0.clone();
            }
            // A DNAME is part of the chain; the CNAME synthesised from it
            // (which follows it) moves `last`.
            _ if r.record_type() == RecordType::DNAME && qtype != RecordType::DNAME => {
                chain.push(r.clone());
            }
            _ => records.push(r.clone()),
        }
    }
    (chain, records, last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }
    fn soa(zone: &str) -> Record {
        Record::from_rdata(
            n(zone),
            300,
            RData::SOA(SOA::new(n(zone), n(zone), 1, 1, 1, 1, 60)),
        )
    }
    fn msg(aa: bool, rcode: ResponseCode) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = aa;
        m.metadata.response_code = rcode;
        m
    }

    #[test]
    fn kinds() {
        let zone = n("example.");
        let q = n("www.example.");
        let mut m = msg(true, ResponseCode::NoError);
        m.answers = vec![Record::from_rdata(
            q.clone(),
            60,
            RData::A(A([1, 2, 3, 4].into())),
        )];
        assert!(matches!(
            classify(&m, &zone, &q, RecordType::A),
            ReplyKind::Answer { .. }
        ));

        let mut m = msg(true, ResponseCode::NXDomain);
        m.authorities = vec![soa("example.")];
        assert_eq!(
            classify(&m, &zone, &q, RecordType::A),
            ReplyKind::NxDomain {
                chain: vec![],
                soa: Some(soa("example."))
            }
        );

        let mut m = msg(true, ResponseCode::NoError);
        m.authorities = vec![soa("example.")];
        assert!(matches!(
            classify(&m, &zone, &q, RecordType::A),
            ReplyKind::NoData { soa: Some(_), .. }
        ));

        let mut m = msg(false, ResponseCode::NoError);
        m.authorities = vec![Record::from_rdata(
            n("www.example."),
            60,
            RData::NS(NS(n("ns.www.example."))),
        )];
        assert!(
            matches!(classify(&m, &zone, &q, RecordType::A), ReplyKind::Referral { zone, .. } if zone == n("www.example."))
        );

        let mut m = msg(false, ResponseCode::NoError);
        m.authorities = vec![Record::from_rdata(
            zone.clone(),
            60,
            RData::NS(NS(n("ns.example."))),
        )];
        assert!(
            matches!(classify(&m, &zone, &q, RecordType::A), ReplyKind::Lame(_)),
            "sideways referral is lame"
        );

        let mut m = msg(true, ResponseCode::NoError);
        m.answers = vec![Record::from_rdata(
            q.clone(),
            60,
            RData::CNAME(CNAME(n("x.other."))),
        )];
        assert!(
            matches!(classify(&m, &zone, &q, RecordType::A), ReplyKind::Cname { target, .. } if target == n("x.other."))
        );

        assert!(matches!(
            classify(&msg(true, ResponseCode::Refused), &zone, &q, RecordType::A),
            ReplyKind::Lame(_)
        ));
        assert_eq!(
            classify(&msg(false, ResponseCode::NoError), &zone, &q, RecordType::A),
            ReplyKind::NoData {
                chain: vec![],
                soa: None
            },
            "an empty NOERROR without SOA or AA is NODATA, as the peers read it"
        );
    }
}
