//! DNSSEC records in a reply: set aside before scrubbing, let back in only
//! beside the data they sign.
//!
//! One reply's path: [`take`] removes every RRSIG, NSEC and NSEC3 (and the
//! DS of a referral) from the answer and authority sections before
//! [`scrub`](super::scrub) judges the data; after scrubbing,
//! [`Material::retain`] keeps only what is about the data that survived, in
//! the zone the server was asked about: RRSIGs whose owner and covered type
//! match a kept RRset and whose signer is inside the zone, NSEC/NSEC3
//! records owned inside the zone, and DS records of the delegated child.
//! The same bailiwick rule as for the data (RFC 4035 §5: a signature proves
//! nothing about who may assert what; the signer must be the zone's).

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The DNSSEC records of one reply.
#[derive(Debug, Default, Clone)]
pub struct Material {
    /// RRSIGs from the answer section.
    pub answer: Vec<Record>,
    /// RRSIG, NSEC, NSEC3 and DS records from the authority section.
    pub authority: Vec<Record>,
}

/// Whether `record` is DNSSEC material rather than data the walk uses.
fn is_material(record: &Record, in_authority: bool) -> bool {
    match record.record_type() {
        RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3 => true,
        RecordType::DS => in_authority,
        _ => false,
    }
}

/// Removes the DNSSEC records from `reply` (answer: RRSIGs, and NSEC/NSEC3
/// that do not answer the question; authority: RRSIG, NSEC, NSEC3, DS).
pub fn take(reply: &mut Message, qtype: RecordType) -> Material {
    let mut m = Material::default();
    let answers = std::mem::take(&mut reply.answers);
    for r in answers {
        if is_material(&r, false) && r.record_type() != qtype {
            m.answer.push(r);
        } else {
            reply.answers.push(r);
        }
    }
    let authorities = std::mem::take(&mut reply.authorities);
    for r in authorities {
        if is_material(&r, true) {
            m.authority.push(r);
        } else {
            reply.authorities.push(r);
        }
    }
    m
}

/// The type an RRSIG covers and the zone that signed it.
pub fn rrsig_parts(record: &Record) -> Option<(RecordType, &Name)> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
            let input = sig.input();
            Some((input.type_covered, &input.signer_name))
        }
        _ => None,
    }
}

impl Material {
    /// Keeps what signs or proves the scrubbed `reply` of a server asked
    /// about `zone`; returns how many records went.
    pub fn retain(&mut self, reply: &Message, zone: &Name) -> usize {
        let before = self.answer.len() + self.authority.len();
        let signs = |sig: &Record, data: &[&Record]| -> bool {
            let Some((covered, signer)) = rrsig_parts(sig) else {
                return false;
            };
            zone.zone_of(signer)
                && signer.zone_of(&sig.name)
                && data
                    .iter()
                    .any(|r| r.name == sig.name && r.record_type() == covered)
        };
        let answers: Vec<&Record> = reply.answers.iter().collect();
        self.answer.retain(|r| signs(r, &answers));
        // Referral children: DS records are about them only.
        let children: Vec<&Name> = reply
            .authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::NS && &r.name != zone)
            .map(|r| &r.name)
            .collect();
        self.authority.retain(|r| match r.record_type() {
            RecordType::NSEC | RecordType::NSEC3 => zone.zone_of(&r.name),
            RecordType::DS => zone.zone_of(&r.name) && children.contains(&&r.name),
            _ => true,
        });
        let authority_data: Vec<&Record> = reply
            .authorities
            .iter()
            .chain(
                self.authority
                    .iter()
                    .filter(|r| r.record_type() != RecordType::RRSIG),
            )
            .collect();
        let sigs: Vec<Record> = self
            .authority
            .iter()
            .filter(|r| r.record_type() == RecordType::RRSIG)
            .filter(|r| signs(r, &authority_data))
            .cloned()
            .collect();
        self.authority
            .retain(|r| r.record_type() != RecordType::RRSIG);
        self.authority.extend(sigs);
        before - (self.answer.len() + self.authority.len())
    }

    /// The answer-section RRSIGs covering any of `records`.
    pub fn sigs_for(&self, records: &[Record]) -> Vec<Record> {
        self.answer
            .iter()
            .filter(|s| {
                rrsig_parts(s).is_some_and(|(covered, _)| {
                    records
                        .iter()
                        .any(|r| r.name == s.name && r.record_type() == covered)
                })
            })
            .cloned()
            .collect()
    }

    /// The proof records (NSEC, NSEC3 and the RRSIGs of those and of the
    /// SOA) for a negative or wildcard answer. Signatures over data that
    /// travels elsewhere (a referral's DS, the zone's NS set in the
    /// authority section of a positive answer) are not part of it: a
    /// client would get an RRSIG without its RRset.
    pub fn proof(&self) -> Vec<Record> {
        self.authority
            .iter()
            .filter(|r| match rrsig_parts(r) {
                Some((covered, _)) => matches!(
                    covered,
                    RecordType::NSEC | RecordType::NSEC3 | RecordType::SOA
                ),
                None => matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3),
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::dnssec::Algorithm;
    use hickory_proto::dnssec::rdata::{NSEC, RRSIG, SigInput};
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::SerialNumber;
    use hickory_proto::rr::rdata::{A, NS};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }
    fn a(owner: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::A(A([192, 0, 2, 1].into())))
    }
    fn sig(owner: &str, covered: RecordType, signer: &str) -> Record {
        let input = SigInput {
            type_covered: covered,
            algorithm: Algorithm::ED25519,
            num_labels: n(owner).num_labels(),
            original_ttl: 300,
            sig_expiration: SerialNumber::new(2),
            sig_inception: SerialNumber::new(1),
            key_tag: 1,
            signer_name: n(signer),
        };
        Record::from_rdata(
            n(owner),
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![1, 2, 3]))),
        )
    }
    fn nsec(owner: &str, next: &str) -> Record {
        Record::from_rdata(
            n(owner),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(n(next), [RecordType::A]))),
        )
    }

    #[test]
    fn signatures_stay_only_beside_data_of_the_zone() {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.answers = vec![
            a("www.example."),
            sig("www.example.", RecordType::A, "example."),
            // Signed by another zone, or covering a type not in the answer.
            sig("www.example.", RecordType::A, "other."),
            sig("www.example.", RecordType::AAAA, "example."),
        ];
        m.authorities = vec![
            nsec("a.example.", "c.example."),
            sig("a.example.", RecordType::NSEC, "example."),
            nsec("a.victim.", "c.victim."),
            sig("a.victim.", RecordType::NSEC, "victim."),
        ];
        let mut material = take(&mut m, RecordType::A);
        assert_eq!(m.answers, vec![a("www.example.")]);
        assert!(m.authorities.is_empty());
        let dropped = material.retain(&m, &n("example."));
        assert_eq!(dropped, 4);
        assert_eq!(
            material.answer,
            vec![sig("www.example.", RecordType::A, "example.")]
        );
        assert_eq!(
            material.authority,
            vec![
                nsec("a.example.", "c.example."),
                sig("a.example.", RecordType::NSEC, "example.")
            ]
        );
    }

    #[test]
    fn the_proof_leaves_out_signatures_of_data_kept_elsewhere() {
        let material = Material {
            answer: vec![],
            authority: vec![
                nsec("a.example.", "c.example."),
                sig("a.example.", RecordType::NSEC, "example."),
                sig("example.", RecordType::SOA, "example."),
                sig("example.", RecordType::NS, "example."),
                sig("child.example.", RecordType::DS, "example."),
            ],
        };
        assert_eq!(
            material.proof(),
            vec![
                nsec("a.example.", "c.example."),
                sig("a.example.", RecordType::NSEC, "example."),
                sig("example.", RecordType::SOA, "example."),
            ]
        );
    }

    #[test]
    fn a_referral_keeps_the_childs_ds_only() {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.authorities = vec![Record::from_rdata(
            n("child.example."),
            300,
            RData::NS(NS(n("ns.child.example."))),
        )];
        let mut material = Material {
            answer: vec![],
            authority: vec![sig("child.example.", RecordType::DS, "example.")],
        };
        material.retain(&m, &n("example."));
        assert!(
            material.authority.is_empty(),
            "no DS to sign: the RRSIG goes"
        );
    }
}
