//! Cached answers in wire form: encoded once, patched per hit.
//!
//! One hit's path: when an answer is stored, hickory encodes it once as a
//! complete response without OPT (ID 0, RD, CD and AD clear, the question
//! as first asked) and hickory's decoder locates the TTL field of every
//! record in those bytes. Every hit copies the bytes and patches, at known
//! places, what differs per client: the ID, the RD, CD and AD bits, the
//! question name's case (same length, so every name compressed against it
//! follows), each TTL counted down to "now", and our OPT record appended
//! (with DO echoed) for a client that sent one. The profile showed
//! encoding was most of a cache hit's cost (issue 7), and wire form is also
//! the compact way to keep an answer: the records are decoded again only
//! when the walk or a truncated response needs them.

use hickory_proto::op::{Header, Message, MessageType, OpCode, Query, ResponseCode};
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
/// Size of our OPT record: root owner, type, class (payload), TTL
/// (extended rcode, version, flags), empty RDATA (RFC 6891 §6.1.2).
pub const OPT_LEN: usize = 11;
/// The DO bit in the OPT record's flags (RFC 3225 §3).
const DO_BIT: u8 = 0x80;

/// What a hit changes in the stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// The client's message ID.
    pub id: u16,
    /// RD, copied from the request.
    pub rd: bool,
    /// CD, copied from the request.
    pub cd: bool,
    /// AD: the answer is secure and the client understands AD.
    pub ad: bool,
    /// `Some(dnssec_ok)` when the request had an OPT: our OPT is appended
    /// with DO echoed.
    pub edns: Option<bool>,
}

/// A cached answer encoded once, with the places that change per hit.
#[derive(Debug, Clone)]
pub struct EncodedAnswer {
    bytes: Box<[u8]>,
    /// Length of the question name's wire form (it starts at byte 12).
    qname_len: u16,
    /// Offset of each record's TTL field, and the TTL stored for it.
    ttls: Box<[(u16, u32)]>,
}

impl EncodedAnswer {
    /// Encodes the response to `query` with these sections and rcode,
    /// without OPT. `None` if hickory cannot encode it or it exceeds a DNS
    /// message's 65,535 bytes.
    pub fn build(
        query: &Query,
        rcode: ResponseCode,
        answers: &[Record],
        authorities: &[Record],
    ) -> Option<Self> {
        let mut m = Message::new(0, MessageType::Response, OpCode::Query);
        m.metadata.recursion_available = true;
        m.metadata.response_code = rcode;
        m.add_query(query.clone());
        m.answers = answers.to_vec();
        m.authorities = authorities.to_vec();
        let bytes = m.to_vec().ok()?;
        u16::try_from(bytes.len() + OPT_LEN).ok()?;
        let qname_len = u16::try_from(query.name().to_bytes().ok()?.len()).ok()?;
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
            ttls.push((u16::try_from(d.index()).ok()?, ttl));
            d.read_u32().ok()?;
            let len = d.read_u16().ok()?.unverified();
            d.read_slice(usize::from(len)).ok()?;
        }
        (ttls.len() == records).then(|| Self {
            bytes: bytes.into_boxed_slice(),
            qname_len,
            ttls: ttls.into_boxed_slice(),
        })
    }

    /// The answer and authority records, with the TTLs they were stored
    /// with. Our own bytes always decode; `None` would mean a bug.
    pub fn records(&self) -> Option<(Vec<Record>, Vec<Record>)> {
        let m = Message::from_vec(&self.bytes).ok()?;
        Some((m.answers, m.authorities))
    }

    /// Length of the question name's wire form.
    pub fn qname_len(&self) -> usize {
        usize::from(self.qname_len)
    }

    /// Encoded size without OPT: the same for every hit.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it is empty (never, for a built answer).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Heap bytes this answer holds (for the cache's memory accounting).
    pub fn heap_size(&self) -> usize {
        self.bytes.len() + self.ttls.len() * std::mem::size_of::<(u16, u32)>()
    }

    /// The response for a request patched by `patch`, whose question name's
    /// wire form is `qname` (same name, any case), with the TTLs of an
    /// answer stored at `stored_at` counted down to `now`. `None` if
    /// `qname` is not this answer's question name.
    pub fn render(
        &self,
        patch: Patch,
        qname: &[u8],
        stored_at: Timestamp,
        now: Timestamp,
    ) -> Option<Vec<u8>> {
        let span = HEADER_LEN..HEADER_LEN + self.qname_len();
        if qname.len() != self.qname_len()
            || !self.bytes.get(span.clone())?.eq_ignore_ascii_case(qname)
        {
            return None;
        }
        let mut out = Vec::with_capacity(self.bytes.len() + OPT_LEN);
        out.extend_from_slice(&self.bytes);
        out[0..2].copy_from_slice(&patch.id.to_be_bytes());
        if patch.rd {
            out[2] |= RD_BIT;
        }
        if patch.cd {
            out[3] |= CD_BIT;
        }
        if patch.ad {
            out[3] |= AD_BIT;
        }
        out[span].copy_from_slice(qname);
        for &(at, ttl) in self.ttls.iter() {
            let at = usize::from(at);
            out[at..at + 4].copy_from_slice(&remaining(ttl, stored_at, now).to_be_bytes());
        }
        if let Some(dnssec_ok) = patch.edns {
            // ARCOUNT was 0: no additional records are stored.
            out[10..12].copy_from_slice(&1u16.to_be_bytes());
            let payload = EDNS_PAYLOAD.to_be_bytes();
            let flags = if dnssec_ok { DO_BIT } else { 0 };
            out.extend_from_slice(&[0, 0, 41, payload[0], payload[1], 0, 0, flags, 0, 0, 0]);
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
        let enc = EncodedAnswer::build(&q, ResponseCode::NoError, &answers, &[]).unwrap();
        for edns in [None, Some(false), Some(true)] {
            let client = n("WwW.ExAmPle.").to_bytes().unwrap();
            let patch = Patch {
                id: 0xBEEF,
                rd: true,
                cd: true,
                ad: edns == Some(true),
                edns,
            };
            let bytes = enc.render(patch, &client, 1000, 1010).unwrap();
            let m = Message::from_vec(&bytes).unwrap();
            assert_eq!(m.metadata.id, 0xBEEF);
            assert!(m.metadata.recursion_desired && m.metadata.checking_disabled);
            assert!(m.metadata.recursion_available && !m.metadata.authoritative);
            assert_eq!(m.metadata.authentic_data, edns == Some(true));
            assert!(m.queries[0].name().eq_case(&n("WwW.ExAmPle.")));
            let ttls: Vec<u32> = m.answers.iter().map(|r| r.ttl).collect();
            assert_eq!(ttls, [290, 50, 50]);
            assert_eq!(m.answers[2].data, RData::A(A([192, 0, 2, 2].into())));
            assert_eq!(m.edns.is_some(), edns.is_some());
            if let (Some(e), Some(dnssec_ok)) = (&m.edns, edns) {
                assert_eq!(e.max_payload(), EDNS_PAYLOAD);
                assert_eq!(e.flags().dnssec_ok, dnssec_ok);
                assert_eq!(bytes.len(), enc.len() + OPT_LEN);
            }
            // Another name is refused.
            let other = n("xxx.example.").to_bytes().unwrap();
            assert!(enc.render(patch, &other, 1000, 1000).is_none());
        }
        // The records come back as stored.
        let (back, auth) = enc.records().unwrap();
        assert_eq!(back, answers);
        assert!(auth.is_empty());
    }

    #[test]
    fn negative_answers_count_the_soa_down() {
        let soa = Record::from_rdata(
            n("example."),
            120,
            RData::SOA(SOA::new(n("ns.example."), n("h.example."), 1, 2, 3, 4, 120)),
        );
        let q = Query::query(n("nope.example."), RecordType::A);
        let enc = EncodedAnswer::build(&q, ResponseCode::NXDomain, &[], &[soa]).unwrap();
        let wire = n("nope.example.").to_bytes().unwrap();
        let patch = Patch {
            id: 7,
            rd: false,
            cd: false,
            ad: false,
            edns: None,
        };
        let m = Message::from_vec(&enc.render(patch, &wire, 0, 100).unwrap()).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities[0].ttl, 20);
    }
}
