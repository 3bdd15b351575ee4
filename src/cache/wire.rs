//! Pre-encoded answers: the cached path's response without re-encoding.
//!
//! One hit's path: the first time a cached answer is served, hickory encodes
//! it once as a complete response (ID 0, RD and CD clear, the question as
//! first asked, with or without our OPT) and hickory's decoder locates the
//! TTL field of every record in those bytes. Every later hit copies the
//! bytes and patches, at known places, what differs per client: the ID, the
//! RD and CD bits, the question name's case (same length, so every name
//! compressed against it follows) and each TTL counted down to "now". The
//! profile showed encoding was most of a cache hit's cost (issue 7).
//!
//! A response that must differ otherwise (truncation, DNSSEC OK, an extended
//! error) is still built by the general encoder.

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable};

use super::ttl::remaining;
use crate::clock::Timestamp;

/// Length of the DNS header (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;
/// RD bit in the third header byte (RFC 1035 §4.1.1).
const RD_BIT: u8 = 0x01;
/// CD bit in the fourth header byte (RFC 4035 §3.2.2).
const CD_BIT: u8 = 0x10;
/// AD in the second flags byte (RFC 4035 §3.2.3).
const AD_BIT: u8 = 0x20;
/// The EDNS UDP payload size our responses advertise.
const EDNS_PAYLOAD: u16 = 1232;

/// A cached answer encoded once, with the places that change per hit.
#[derive(Debug, Clone)]
pub struct EncodedAnswer {
    bytes: Vec<u8>,
    /// Length of the question name's wire form (it starts at byte 12).
    qname_len: usize,
    /// Offset of each record's TTL field, and the TTL stored for it.
    ttls: Vec<(usize, u32)>,
}

impl EncodedAnswer {
    /// Encodes the response to `name`/`query` with these sections and rcode,
    /// with an OPT record when `edns`. `None` if hickory cannot encode it.
    pub fn build(
        query: &Query,
        rcode: ResponseCode,
        answers: &[Record],
        authorities: &[Record],
        edns: bool,
    ) -> Option<Self> {
        let mut m = Message::new(0, MessageType::Response, OpCode::Query);
        m.metadata.recursion_available = true;
        m.metadata.response_code = rcode;
        m.add_query(query.clone());
        m.answers = answers.to_vec();
        m.authorities = authorities.to_vec();
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(EDNS_PAYLOAD);
            e.set_version(0);
            m.set_edns(e);
        }
        let bytes = m.to_vec().ok()?;
        let qname_len = query.name().to_bytes().ok()?.len();
        // Find every TTL with hickory's decoder, walking our own bytes.
        let mut d = BinDecoder::new(&bytes);
        let header = Header::read(&mut d).ok()?;
        Query::read(&mut d).ok()?;
        let records = usize::from(header.counts.answers) + usize::from(header.counts.authorities);
        let stored = answers.iter().chain(authorities.iter()).map(|r| r.ttl);
        let mut ttls = Vec::with_capacity(records);
        for ttl in stored.take(records) {
            Name::read(&mut d).ok()?;
            d.read_u16().ok()?; // type
            d.read_u16().ok()?; // class
            ttls.push((d.index(), ttl));
            d.read_u32().ok()?;
            let len = d.read_u16().ok()?.unverified();
            d.read_slice(usize::from(len)).ok()?;
        }
        (ttls.len() == records).then_some(Self {
            bytes,
            qname_len,
            ttls,
        })
    }

    /// Length of the question name's wire form.
    pub fn qname_len(&self) -> usize {
        self.qname_len
    }

    /// Encoded size: the same for every hit.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it is empty (never, for a built answer).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The response for a request with `id`, `rd`, `cd`, whose question
    /// name's wire form is `qname` (same name, any case), with the TTLs of
    /// an answer stored at `stored_at` counted down to `now`. `None` if
    /// `qname` is not this answer's question name.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &self,
        id: u16,
        rd: bool,
        cd: bool,
        ad: bool,
        qname: &[u8],
        stored_at: Timestamp,
        now: Timestamp,
    ) -> Option<Vec<u8>> {
        let span = HEADER_LEN..HEADER_LEN + self.qname_len;
        if qname.len() != self.qname_len
            || !self.bytes.get(span.clone())?.eq_ignore_ascii_case(qname)
        {
            return None;
        }
        let mut out = self.bytes.clone();
        out[0..2].copy_from_slice(&id.to_be_bytes());
        if rd {
            out[2] |= RD_BIT;
        }
        if cd {
            out[3] |= CD_BIT;
        }
        if ad {
            out[3] |= AD_BIT;
        }
        out[span].copy_from_slice(qname);
        for &(at, ttl) in &self.ttls {
            out[at..at + 4].copy_from_slice(&remaining(ttl, stored_at, now).to_be_bytes());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME, SOA};
    use hickory_proto::rr::{RData, RecordType};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn render_patches_id_flags_case_and_ttls_like_a_fresh_encoding() {
        let answers = vec![
            Record::from_rdata(
                n("www.example."),
                300,
                RData::CNAME(CNAME(n("web.example."))),
            ),
            Record::from_rdata(n("web.example."), 60, RData::A(A([192, 0, 2, 1].into()))),
            Record::from_rdata(n("web.example."), 60, RData::A(A([192, 0, 2, 2].into()))),
        ];
        let q = Query::query(n("www.example."), RecordType::A);
        for edns in [false, true] {
            let enc = EncodedAnswer::build(&q, ResponseCode::NoError, &answers, &[], edns).unwrap();
            let client = n("WwW.ExAmPle.").to_bytes().unwrap();
            let bytes = enc
                .render(0xBEEF, true, true, false, &client, 1000, 1010)
                .unwrap();
            let m = Message::from_vec(&bytes).unwrap();
            assert_eq!(m.metadata.id, 0xBEEF);
            assert!(m.metadata.recursion_desired && m.metadata.checking_disabled);
            assert!(m.metadata.recursion_available && !m.metadata.authoritative);
            assert!(m.queries[0].name().eq_case(&n("WwW.ExAmPle.")));
            let ttls: Vec<u32> = m.answers.iter().map(|r| r.ttl).collect();
            assert_eq!(ttls, [290, 50, 50]);
            assert_eq!(m.answers[2].data, RData::A(A([192, 0, 2, 2].into())));
            assert_eq!(m.edns.is_some(), edns);
            // Another name is refused.
            let other = n("xxx.example.").to_bytes().unwrap();
            assert!(
                enc.render(1, false, false, false, &other, 1000, 1000)
                    .is_none()
            );
        }
    }

    #[test]
    fn negative_answers_count_the_soa_down() {
        let soa = Record::from_rdata(
            n("example."),
            120,
            RData::SOA(SOA::new(n("ns.example."), n("h.example."), 1, 2, 3, 4, 120)),
        );
        let q = Query::query(n("nope.example."), RecordType::A);
        let enc = EncodedAnswer::build(&q, ResponseCode::NXDomain, &[], &[soa], false).unwrap();
        let wire = n("nope.example.").to_bytes().unwrap();
        let m =
            Message::from_vec(&enc.render(7, false, false, false, &wire, 0, 100).unwrap()).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities[0].ttl, 20);
    }
}
