//! A tiny authoritative DNS "server" for tests: pure data in, `Message` out.
//!
//! A [`Zone`] is parsed from zone-file text with hickory-proto's zone parser and
//! answers queries following the algorithm of RFC 1034 §4.3.2: exact answers,
//! CNAME chasing inside the zone, referrals at delegation points (with glue),
//! NODATA / NXDOMAIN with the SOA in the authority section (RFC 2308), wildcards,
//! and REFUSED for names outside the zone. No I/O happens here; the socket
//! side lives in `authority_server.rs`.

use std::collections::HashSet;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

/// EDNS payload size the test authorities advertise.
pub const AUTHORITY_EDNS_PAYLOAD: u16 = 1232;

/// At most this many CNAMEs are followed inside one zone for one answer.
const MAX_CNAME_CHAIN: usize = 16;

/// One zone's data, answering like an authoritative server for `origin`.
#[derive(Clone, Debug)]
pub struct Zone {
    pub origin: Name,
    records: Vec<Record>,
}

/// Parses `name` as a fully qualified name (a trailing dot is implied).
pub fn fqdn(name: &str) -> Name {
    let mut n = Name::from_ascii(name).unwrap_or_else(|e| panic!("bad name {name:?}: {e}"));
    n.set_fqdn(true);
    n
}

/// Parses one record in zone-file syntax, e.g. `"www.victim.test. 300 A 6.6.6.6"`.
/// Names are relative to the root unless they carry their own trailing dot.
pub fn record(line: &str) -> Record {
    let zone = Zone::parse(".", line);
    assert_eq!(
        zone.records.len(),
        1,
        "record({line:?}) must describe exactly one record"
    );
    zone.records.into_iter().next().unwrap()
}

impl Zone {
    /// Parses zone-file `text` with relative names relative to `origin`.
    ///
    /// A default `$TTL 3600` is in force unless the text sets its own, so short
    /// fixtures may leave TTLs out. Panics on a parse error (fixtures are code).
    pub fn parse(origin: &str, text: &str) -> Zone {
        let origin_name = fqdn(origin);
        let full = format!("$TTL 3600\n{text}\n");
        let (_, sets) = Parser::new(full, None, Some(origin_name.clone()))
            .parse()
            .unwrap_or_else(|e| panic!("zone {origin}: cannot parse fixture: {e}\n{text}"));
        let mut records = Vec::new();
        for set in sets.into_values() {
            for r in set.records_without_rrsigs() {
                let mut r = r.clone();
                r.name.set_fqdn(true);
                records.push(r);
            }
        }
        Zone {
            origin: origin_name,
            records,
        }
    }

    /// All records of the zone (including glue below delegation points).
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Adds one record (its name must be at or below the origin).
    pub fn add(&mut self, record: Record) {
        assert!(
            self.origin.zone_of(&record.name),
            "{} is not in zone {}",
            record.name,
            self.origin
        );
        self.records.push(record);
    }

    /// The zone's SOA record, if it has one.
    pub fn soa(&self) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| r.record_type() == RecordType::SOA && r.name == self.origin)
    }

    /// True when `name` is at or below this zone's origin.
    pub fn contains(&self, name: &Name) -> bool {
        self.origin.zone_of(&as_fqdn(name))
    }

    fn rrset(&self, name: &Name, rtype: RecordType) -> Vec<Record> {
        self.records
            .iter()
            .filter(|r| r.record_type() == rtype && &r.name == name)
            .cloned()
            .collect()
    }

    fn all_at(&self, name: &Name) -> Vec<Record> {
        self.records
            .iter()
            .filter(|r| &r.name == name)
            .cloned()
            .collect()
    }

    /// A name "exists" when it owns records or is an empty non-terminal.
    fn name_exists(&self, name: &Name) -> bool {
        self.records.iter().any(|r| name.zone_of(&r.name))
    }

    /// The highest delegation point (NS RRset strictly below the origin) at or
    /// above `name`, if any.
    fn find_cut(&self, name: &Name) -> Option<Name> {
        let origin_labels = self.origin.num_labels() as usize;
        let name_labels = name.iter().count();
        for labels in (origin_labels + 1)..=name_labels {
            let candidate = name.trim_to(labels);
            if self
                .records
                .iter()
                .any(|r| r.record_type() == RecordType::NS && r.name == candidate)
            {
                return Some(candidate);
            }
        }
        None
    }

    /// SOA for a negative answer: TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
    fn negative_soa(&self) -> Option<Record> {
        let soa = self.soa()?.clone();
        let ttl = match &soa.data {
            RData::SOA(s) => soa.ttl.min(s.minimum),
            _ => soa.ttl,
        };
        let mut soa = soa;
        soa.ttl = ttl;
        Some(soa)
    }

    /// A/AAAA records this zone holds for `names` (glue or in-zone addresses).
    fn addresses_for(&self, names: &[Name]) -> Vec<Record> {
        self.records
            .iter()
            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .filter(|r| names.iter().any(|n| n == &r.name))
            .cloned()
            .collect()
    }

    /// Wildcard records synthesised for `name` (owner rewritten to `name`), when
    /// no exact name exists and `*.<closest encloser>` does.
    fn wildcard_at(&self, name: &Name) -> Option<Vec<Record>> {
        let origin_labels = self.origin.num_labels() as usize;
        let name_labels = name.iter().count();
        // Closest encloser: the longest existing ancestor of `name`.
        let mut labels = name_labels;
        while labels > origin_labels {
            labels -= 1;
            let ancestor = name.trim_to(labels);
            if labels == origin_labels || self.name_exists(&ancestor) {
                let wildcard = ancestor.prepend_label("*").ok()?;
                let recs = self.all_at(&wildcard);
                if recs.is_empty() {
                    return None;
                }
                return Some(
                    recs.into_iter()
                        .map(|mut r| {
                            r.name = name.clone();
                            r
                        })
                        .collect(),
                );
            }
        }
        None
    }

    /// Answers `query` as the authoritative server for this zone would.
    pub fn answer(&self, query: &Message) -> Message {
        let mut response = response_skeleton(query);
        let Some(question) = query.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        };
        if query.queries.len() != 1 {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        }
        if query.metadata.op_code != OpCode::Query {
            response.metadata.response_code = ResponseCode::NotImp;
            return response;
        }
        let qtype = question.query_type();
        let qclass = question.query_class();
        let mut qname = as_fqdn(question.name());
        if !self.contains(&qname) || !matches!(qclass, DNSClass::IN | DNSClass::ANY) {
            response.metadata.response_code = ResponseCode::Refused;
            return response;
        }

        let mut visited: HashSet<Name> = HashSet::new();
        for _ in 0..=MAX_CNAME_CHAIN {
            visited.insert(qname.clone());

            // Step 3b: at or below a delegation point -> referral. (For DS at the
            // cut itself the parent is authoritative, so answer from here.)
            if let Some(cut) = self.find_cut(&qname)
                && !(qtype == RecordType::DS && cut == qname)
            {
                let ns = self.rrset(&cut, RecordType::NS);
                let targets: Vec<Name> = ns
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NS(n) => Some(as_fqdn(&n.0)),
                        _ => None,
                    })
                    .collect();
                // AA relates to the first owner name: only a pure referral
                // is non-authoritative.
                response.metadata.authoritative = !response.answers.is_empty();
                response.authorities.extend(ns);
                response.additionals.extend(self.addresses_for(&targets));
                return response;
            }

            response.metadata.authoritative = true;

            // RFC 6672 §3.2: a DNAME above the name: the DNAME, the CNAME it
            // implies, and on with the target.
            if qtype != RecordType::DNAME
                && let Some(dname) = self.records.iter().find(|r| {
                    r.record_type() == RecordType::DNAME
                        && r.name != qname
                        && r.name.zone_of(&qname)
                })
                && let Some((cname, target)) = rootward::resolver::dname::synthesize(&qname, dname)
            {
                response.answers.push(dname.clone());
                response.answers.push(cname);
                if !self.contains(&target) || visited.contains(&target) {
                    return response;
                }
                qname = target;
                continue;
            }

            // Step 3a: the name exists here.
            let exact = self.all_at(&qname);
            let records = if exact.is_empty() && !self.name_exists(&qname) {
                // Step 3c: wildcard, else NXDOMAIN.
                match self.wildcard_at(&qname) {
                    Some(synth) => synth,
                    None => {
                        response.metadata.response_code = ResponseCode::NXDomain;
                        response.authorities.extend(self.negative_soa());
                        return response;
                    }
                }
            } else {
                exact
            };

            let matching: Vec<Record> = records
                .iter()
                .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                .cloned()
                .collect();
            if !matching.is_empty() {
                // Additional section processing (RFC 1034 §4.3.2 step 6):
                // addresses this zone holds for NS and MX targets.
                let targets: Vec<Name> = matching
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NS(n) => Some(as_fqdn(&n.0)),
                        RData::MX(mx) => Some(as_fqdn(&mx.exchange)),
                        _ => None,
                    })
                    .collect();
                response.answers.extend(matching);
                response.additionals.extend(self.addresses_for(&targets));
                return response;
            }
            let cname = records
                .iter()
                .find(|r| r.record_type() == RecordType::CNAME)
                .cloned();
            if let Some(cname) = cname {
                let RData::CNAME(target) = &cname.data else {
                    unreachable!("CNAME record without CNAME data")
                };
                let target = as_fqdn(&target.0);
                response.answers.push(cname);
                if !self.contains(&target) || visited.contains(&target) {
                    // Out of zone, or a loop: the resolver continues from here.
                    return response;
                }
                qname = target;
                continue;
            }
            // NODATA.
            response.authorities.extend(self.negative_soa());
            return response;
        }
        // CNAME chain too long: hand back what we have.
        response
    }
}

/// The response header/question for `query` (same ID, QR=1, opcode and RD
/// copied, question echoed as received, EDNS when the query had it).
pub fn response_skeleton(query: &Message) -> Message {
    let mut response = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.checking_disabled = query.metadata.checking_disabled;
    response.queries = query.queries.clone();
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(AUTHORITY_EDNS_PAYLOAD);
        response.edns = Some(edns);
    }
    response
}

fn as_fqdn(name: &Name) -> Name {
    let mut n = name.clone();
    n.set_fqdn(true);
    n
}
