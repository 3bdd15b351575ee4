//! Bailiwick scrubbing: drop what the server had no authority to say.
//!
//! Runs on every upstream reply before anything else looks at it (Unbound's
//! `iter_scrub.c`). A server asked as an authority for `zone` may speak only
//! about names at or below `zone`; the rest of a reply is how cache
//! poisoning gets in (Kaminsky; RFC 5452 §6). What survives:
//! - answer: the chain from the question name: records owned by the current
//!   name, following CNAMEs while their targets stay in the zone;
//! - authority: SOA and NS records owned by an ancestor-or-self of the
//!   chain's last name and at or below `zone` (a referral's NS set);
//! - additional: A/AAAA glue only for NS targets of a kept NS set that lie
//!   at or below the zone the server was asked about: in-domain glue (inside
//!   the delegated zone) and sibling glue (elsewhere in the referring
//!   server's own zone: the root's `a.gtld-servers.net` for `com.`, RFC
//!   9471 §2), as Unbound and Knot accept. Addresses outside the server's
//!   zone are refused, so a TLD cannot vouch for another TLD's servers.
//!
//! Everything else (other types, other owners, RRSIGs until DNSSEC lands) is
//! dropped.

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::dname;
use super::limits::MAX_CNAME_CHAIN;

/// A record scrubbing removed, and the rule that removed it (for logs and
/// `rootward ctl trace`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    /// The record as the server sent it.
    pub record: Record,
    /// Why it went.
    pub rule: &'static str,
}

/// Rule: an answer record owned by a name outside the zone asked.
pub const OUT_OF_ZONE: &str = "outside the zone the server was asked about (bailiwick)";
/// Rule: an answer record inside the zone that is not on the question's
/// CNAME/DNAME chain, or a server-made CNAME replaced by our own synthesis.
pub const OFF_CHAIN: &str = "not on the question's CNAME/DNAME chain";
/// Rule: an authority record other than SOA or NS.
pub const AUTHORITY_TYPE: &str = "authority record of a type the walk does not use";
/// Rule: an SOA/NS owned by a name that is not an ancestor of the question.
pub const NOT_ANCESTOR: &str = "SOA/NS for a name that is not an ancestor of the question";
/// Rule: an additional record that is not in-bailiwick glue.
pub const NOT_GLUE: &str =
    "not an address of an NS target inside the zone the server was asked about (glue rule)";

/// Removes every record of `reply` that a server authoritative for `zone`
/// may not assert in answer to `qname`/`qtype`, and returns them with the
/// rule that removed each.
pub fn scrub(reply: &mut Message, zone: &Name, qname: &Name, qtype: RecordType) -> Vec<Dropped> {
    let mut dropped = Vec::new();
    let answers = std::mem::take(&mut reply.answers);
    let (kept, last_name) = answer_chain(&answers, zone, qname, qtype);
    for r in answers {
        if !kept.contains(&r) {
            let rule = if zone.zone_of(&r.name) {
                OFF_CHAIN
            } else {
                OUT_OF_ZONE
            };
            dropped.push(Dropped { record: r, rule });
        }
    }
    reply.answers = kept;

    let authorities = std::mem::take(&mut reply.authorities);
    for r in authorities {
        let rule = if !matches!(r.record_type(), RecordType::SOA | RecordType::NS) {
            Some(AUTHORITY_TYPE)
        } else if !zone.zone_of(&r.name) {
            Some(OUT_OF_ZONE)
        } else if !r.name.zone_of(&last_name) {
            Some(NOT_ANCESTOR)
        } else {
            None
        };
        match rule {
            Some(rule) => dropped.push(Dropped { record: r, rule }),
            None => reply.authorities.push(r),
        }
    }

    // NS sets in the answer (an NS query, root priming) vouch for glue too.
    let glue_targets: Vec<Name> = reply
        .answers
        .iter()
        .chain(reply.authorities.iter())
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect();
    let additionals = std::mem::take(&mut reply.additionals);
    for r in additionals {
        let glue = matches!(r.record_type(), RecordType::A | RecordType::AAAA)
            && zone.zone_of(&r.name)
            && glue_targets.contains(&r.name);
        if glue {
            reply.additionals.push(r);
        } else {
            dropped.push(Dropped {
                record: r,
                rule: NOT_GLUE,
            });
        }
    }
    dropped
}

/// Keeps the answer records on the chain from `qname`, and returns them with
/// the chain's last name (the name the final data or the negative answer is
/// about).
fn answer_chain(
    answers: &[Record],
    zone: &Name,
    qname: &Name,
    qtype: RecordType,
) -> (Vec<Record>, Name) {
    let mut kept = Vec::new();
    let mut current = qname.clone();
    for _ in 0..=MAX_CNAME_CHAIN {
        if !zone.zone_of(&current) {
            break;
        }
        // A DNAME above the current name (inside the zone) redirects it: keep
        // the DNAME and our own synthesis of its CNAME, not the server's
        // (RFC 6672 §3.2).
        if qtype != RecordType::DNAME
            && let Some((dname, (cname, to))) = answers
                .iter()
                .filter(|r| r.name != current && zone.zone_of(&r.name))
                .find_map(|r| dname::synthesize(&current, r).map(|s| (r, s)))
        {
            let looped = to == *qname || kept_has_owner(&kept, &to);
            kept.push(dname.clone());
            kept.push(cname);
            current = to;
            if looped {
                break;
            }
            continue;
        }
        let mut next = None;
        for r in answers.iter().filter(|r| r.name == current) {
            let rtype = r.record_type();
            if rtype == qtype || qtype == RecordType::ANY {
                kept.push(r.clone());
            } else if let RData::CNAME(target) = &r.data {
                // One CNAME per owner (RFC 2181 §10.1); the first wins.
                if next.is_none() {
                    kept.push(r.clone());
                    next = Some(target.0.clone());
                }
            }
        }
        match next {
            Some(target) if !kept_has_owner(&kept, &target) => current = target,
            _ => break,
        }
    }
    (kept, current)
}

fn kept_has_owner(kept: &[Record], name: &Name) -> bool {
    kept.iter().any(|r| &r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, NS};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }
    fn a(owner: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(n(owner), 300, RData::A(A(ip.into())))
    }
    fn ns(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::NS(NS(n(target))))
    }
    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::CNAME(CNAME(n(target))))
    }
    fn reply() -> Message {
        Message::new(1, MessageType::Response, OpCode::Query)
    }

    #[test]
    fn out_of_zone_answer_records_are_dropped() {
        let mut m = reply();
        m.answers = vec![
            a("www.evil.test.", [1, 1, 1, 1]),
            a("www.victim.test.", [6, 6, 6, 6]),
        ];
        m.additionals = vec![a("www.victim.test.", [6, 6, 6, 6])];
        let dropped = scrub(
            &mut m,
            &n("evil.test."),
            &n("www.evil.test."),
            RecordType::A,
        );
        let rules: Vec<&str> = dropped.iter().map(|d| d.rule).collect();
        assert_eq!(rules, [OUT_OF_ZONE, NOT_GLUE]);
        assert_eq!(m.answers, vec![a("www.evil.test.", [1, 1, 1, 1])]);
        assert!(m.additionals.is_empty());
    }

    #[test]
    fn cname_chain_is_kept_only_inside_the_zone() {
        let mut m = reply();
        m.answers = vec![
            cname("a.example.", "b.example."),
            cname("b.example.", "c.other."),
            a("c.other.", [6, 6, 6, 6]),
            a("unrelated.example.", [1, 2, 3, 4]),
        ];
        scrub(&mut m, &n("example."), &n("a.example."), RecordType::A);
        assert_eq!(
            m.answers,
            vec![
                cname("a.example.", "b.example."),
                cname("b.example.", "c.other.")
            ]
        );
    }

    #[test]
    fn referral_keeps_ns_and_glue_inside_the_servers_zone_only() {
        let mut m = reply();
        m.authorities = vec![
            ns("example.test.", "ns1.example.test."),
            ns("example.test.", "ns.sibling.test."),
            ns("example.test.", "ns.elsewhere.org."),
            ns("victim.test.", "ns.evil."),
        ];
        m.additionals = vec![
            a("ns1.example.test.", [192, 0, 2, 1]),
            // Sibling glue: in the referring server's zone (test.), not in
            // the delegated one.
            a("ns.sibling.test.", [192, 0, 2, 2]),
            // Outside the server's zone: it cannot vouch for it.
            a("ns.elsewhere.org.", [6, 6, 6, 6]),
            // Not an NS target at all.
            a("www.victim.test.", [6, 6, 6, 6]),
        ];
        let dropped = scrub(&mut m, &n("test."), &n("www.example.test."), RecordType::A);
        assert_eq!(
            m.authorities.len(),
            3,
            "NS for a name that is not an ancestor of the question is dropped"
        );
        assert_eq!(
            m.additionals,
            vec![
                a("ns1.example.test.", [192, 0, 2, 1]),
                a("ns.sibling.test.", [192, 0, 2, 2])
            ]
        );
        let glue_drops: Vec<String> = dropped
            .iter()
            .filter(|d| d.rule == NOT_GLUE)
            .map(|d| d.record.name.to_string())
            .collect();
        assert_eq!(glue_drops, ["ns.elsewhere.org.", "www.victim.test."]);
    }

    #[test]
    fn ns_above_the_servers_zone_is_dropped() {
        let mut m = reply();
        m.authorities = vec![ns(".", "a.root.")];
        scrub(
            &mut m,
            &n("example.test."),
            &n("www.example.test."),
            RecordType::A,
        );
        assert!(m.authorities.is_empty());
    }

    #[test]
    fn cname_loop_inside_a_reply_terminates() {
        let mut m = reply();
        m.answers = vec![
            cname("a.example.", "b.example."),
            cname("b.example.", "a.example."),
        ];
        scrub(&mut m, &n("example."), &n("a.example."), RecordType::A);
        assert_eq!(m.answers.len(), 2);
    }
}
