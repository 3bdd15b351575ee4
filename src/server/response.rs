//! Building the response a stub gets, and truncating it to the client's
//! limit.
//!
//! Every response: the request's ID, its question echoed byte for byte
//! (case included), QR=1, RA=1, RD and CD copied, AA=0 (a recursive
//! resolver is not authoritative; only local policy answers set it), and an OPT advertising 1232 bytes when
//! the request had one (RFC 6891 §6.1.1, §7: not otherwise).
//!
//! Truncation (RFC 2181 §9, RFC 1035 §4.2.1): over UDP a response larger than
//! the client's limit (512 without EDNS; the EDNS size, at least 512 and at
//! most 1232, with it) carries only the whole RRsets that fit, answer section
//! first, and TC=1; over TCP everything is sent.

use hickory_proto::op::{
    Edns, Message, MessageType, OpCode, Query, ResponseCode, emit_message_parts,
};
use hickory_proto::rr::Record;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::serialize::binary::BinEncoder;

use crate::resolver::ExtendedError;

/// UDP payload size we advertise and the largest UDP response we send:
/// avoids IP fragmentation on paths with an MTU of 1280 (DNS Flag Day 2020).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// The UDP limit of a client without EDNS (RFC 1035 §2.3.4), also the floor
/// of any EDNS size (RFC 6891 §6.2.5).
pub const MIN_UDP_PAYLOAD: u16 = 512;
/// Largest message over TCP (the 2-byte length prefix, RFC 1035 §4.2.2).
pub const MAX_TCP_MESSAGE: usize = u16::MAX as usize;
/// EDNS option code of an Extended DNS Error (RFC 8914 §2).
pub const EDE_OPTION_CODE: u16 = 15;

/// The client's EDNS, as far as the response cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientEdns {
    /// Its advertised UDP payload size.
    pub payload: u16,
    /// Its DO bit (RFC 3225), copied back.
    pub dnssec_ok: bool,
    /// Whether it carried a Padding option (RFC 7830): responses over an
    /// encrypted transport are then padded too.
    pub padded: bool,
}

/// Everything from a request that its response must echo.
#[derive(Debug, Clone)]
pub struct ReplyTo {
    /// Message ID.
    pub id: u16,
    /// Opcode, echoed.
    pub op_code: OpCode,
    /// RD, copied.
    pub recursion_desired: bool,
    /// CD, copied.
    pub checking_disabled: bool,
    /// AD in the request: the client understands AD (RFC 6840 §5.7).
    pub authentic_data: bool,
    /// Set AD in the response: the answer validated as secure and the
    /// client set DO or AD (RFC 4035 §3.2.3, RFC 6840 §5.7).
    pub authenticated: bool,
    /// Set AA: a local answer (local zone, local data, blocklist), for
    /// which this resolver is the authority. Never for resolved answers.
    pub authoritative: bool,
    /// The question exactly as asked.
    pub query: Query,
    /// Whether there is a question to echo (not for unparsable requests).
    pub has_query: bool,
    /// The request's EDNS, if it had an OPT.
    pub edns: Option<ClientEdns>,
}

/// The transport a response leaves by: it decides the size limit, and
/// whether responses are padded (RFC 7830) for a client that padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Datagram: limited by the client's payload size.
    Udp,
    /// Stream: up to 65535 bytes.
    Tcp,
    /// DNS over TLS (RFC 7858): TCP framing inside TLS, up to 65535 bytes.
    Tls,
    /// DNS over HTTPS (RFC 8484): one message per HTTP exchange, up to
    /// 65535 bytes.
    Https,
    /// DNS over QUIC (RFC 9250): one message per stream, up to 65535 bytes.
    Quic,
}

impl Transport {
    /// The name used in metrics labels and the query log.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Https => "https",
            Transport::Quic => "quic",
        }
    }

    /// Whether the transport is encrypted (its responses are padded for a
    /// client that padded its query, RFC 8467 §4.1).
    pub fn encrypted(self) -> bool {
        matches!(self, Transport::Tls | Transport::Https | Transport::Quic)
    }
}

impl ReplyTo {
    /// The largest response this client accepts over `transport`.
    pub fn limit(&self, transport: Transport) -> usize {
        match transport {
            Transport::Tcp | Transport::Tls | Transport::Https | Transport::Quic => MAX_TCP_MESSAGE,
            Transport::Udp => usize::from(match self.edns {
                None => MIN_UDP_PAYLOAD,
                Some(e) => e.payload.clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD),
            }),
        }
    }

    fn skeleton(&self, rcode: ResponseCode, ede: Option<ExtendedError>) -> Message {
        let mut m = Message::new(self.id, MessageType::Response, self.op_code);
        m.metadata.recursion_desired = self.recursion_desired;
        m.metadata.checking_disabled = self.checking_disabled;
        m.metadata.authentic_data = self.authenticated && rcode != ResponseCode::ServFail;
        m.metadata.recursion_available = true;
        m.metadata.authoritative = self.authoritative;
        m.metadata.response_code = rcode;
        if self.has_query {
            m.add_query(self.query.clone());
        }
        // BADVERS needs an OPT to carry the rcode's upper bits, whether or
        // not the request's OPT was readable.
        if self.edns.is_some() || rcode.high() > 0 {
            let mut e = Edns::new();
            e.set_max_payload(MAX_UDP_PAYLOAD);
            e.set_version(0);
            e.set_dnssec_ok(self.edns.is_some_and(|c| c.dnssec_ok));
            // RFC 8914 §3: only to clients that sent an OPT.
            if let (Some(ede), Some(_)) = (ede, self.edns) {
                e.options_mut().insert(ede_option(ede));
            }
            m.set_edns(e);
        }
        m
    }
}

/// The EDE option: INFO-CODE then UTF-8 EXTRA-TEXT (RFC 8914 §2). hickory
/// has no type for it, so it travels as an option hickory does not know.
fn ede_option(ede: ExtendedError) -> EdnsOption {
    let mut data = ede.code.to_be_bytes().to_vec();
    data.extend_from_slice(ede.text.as_bytes());
    EdnsOption::Unknown(EDE_OPTION_CODE, data)
}

/// Reads an EDE option back (tests and tools).
pub fn ede_of(msg: &Message) -> Option<(u16, String)> {
    match msg.edns.as_ref()?.option(EdnsCode::from(EDE_OPTION_CODE))? {
        EdnsOption::Unknown(_, data) if data.len() >= 2 => Some((
            u16::from_be_bytes([data[0], data[1]]),
            String::from_utf8_lossy(&data[2..]).into_owned(),
        )),
        _ => None,
    }
}

/// An empty TC=1 reply: response-rate limiting's "slip", which sends a real
/// client to TCP (a spoofed source cannot follow) at the size of a query.
pub fn encode_slip(to: &ReplyTo) -> Option<Vec<u8>> {
    let mut m = to.skeleton(ResponseCode::NoError, None);
    m.metadata.truncation = true;
    m.to_vec().ok()
}

/// Encodes an error response (no records).
pub fn encode_error(to: &ReplyTo, rcode: ResponseCode) -> Option<Vec<u8>> {
    to.skeleton(rcode, None).to_vec().ok()
}

/// Encodes a response with `answers` and `authorities` (and the extended
/// error, for EDNS clients), truncated to what `transport` allows. `None`
/// only if hickory cannot encode the records.
pub fn encode_answer(
    to: &ReplyTo,
    rcode: ResponseCode,
    answers: &[Record],
    authorities: &[Record],
    ede: Option<ExtendedError>,
    transport: Transport,
) -> Option<Vec<u8>> {
    let limit = to.limit(transport);
    let skeleton = to.skeleton(rcode, ede);
    let bytes = encode_sections(&skeleton, answers, authorities)?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    truncate(to, rcode, answers, authorities, ede, limit)
}

/// Encodes `skeleton` (header, question, OPT) with these sections, straight
/// from the borrowed records: the hot path copies no record.
fn encode_sections(
    skeleton: &Message,
    answers: &[Record],
    authorities: &[Record],
) -> Option<Vec<u8>> {
    let mut buffer = Vec::with_capacity(ENCODE_BUFFER);
    let mut encoder = BinEncoder::new(&mut buffer);
    emit_message_parts(
        &skeleton.metadata,
        &mut skeleton.queries.iter(),
        &mut answers.iter(),
        &mut authorities.iter(),
        &mut std::iter::empty::<&Record>(),
        skeleton.edns.as_ref(),
        None,
        &mut encoder,
    )
    .ok()?;
    Some(buffer)
}

/// Initial size of a response buffer: most answers fit in a UDP-sized one.
const ENCODE_BUFFER: usize = 512;

/// The largest prefix of whole RRsets (answer, then authority) that fits in
/// `limit`, with TC=1.
fn truncate(
    to: &ReplyTo,
    rcode: ResponseCode,
    answers: &[Record],
    authorities: &[Record],
    ede: Option<ExtendedError>,
    limit: usize,
) -> Option<Vec<u8>> {
    let mut msg = to.skeleton(rcode, ede);
    msg.metadata.truncation = true;
    let mut best = msg.to_vec().ok()?;
    for (in_answer, set) in rrsets(answers)
        .map(|s| (true, s))
        .chain(rrsets(authorities).map(|s| (false, s)))
    {
        let section = if in_answer {
            &mut msg.answers
        } else {
            &mut msg.authorities
        };
        section.extend_from_slice(set);
        match msg.to_vec() {
            Ok(bytes) if bytes.len() <= limit => best = bytes,
            _ => break,
        }
    }
    Some(best)
}

/// Splits a section into runs of records with the same owner and type.
fn rrsets(records: &[Record]) -> impl Iterator<Item = &[Record]> {
    records.chunk_by(|a, b| a.name == b.name && a.record_type() == b.record_type())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME};
    use hickory_proto::rr::{Name, RData, RecordType};

    fn to(edns: Option<u16>) -> ReplyTo {
        ReplyTo {
            id: 7,
            op_code: OpCode::Query,
            recursion_desired: true,
            checking_disabled: false,
            authentic_data: false,
            authenticated: false,
            authoritative: false,
            query: Query::query(Name::from_ascii("Big.Example.").unwrap(), RecordType::A),
            has_query: true,
            edns: edns.map(|payload| ClientEdns {
                payload,
                dnssec_ok: false,
                padded: false,
            }),
        }
    }

    fn big_set(n: u8) -> Vec<Record> {
        let name = Name::from_ascii("big.example.").unwrap();
        let mut v = vec![Record::from_rdata(
            name.clone(),
            60,
            RData::CNAME(CNAME(Name::from_ascii("big2.example.").unwrap())),
        )];
        let target = Name::from_ascii("big2.example.").unwrap();
        v.extend(
            (0..n).map(|i| {
                Record::from_rdata(target.clone(), 60, RData::A(A([192, 0, 2, i].into())))
            }),
        );
        v
    }

    #[test]
    fn flags_and_question_are_echoed() {
        let b = encode_answer(
            &to(None),
            ResponseCode::NoError,
            &big_set(1),
            &[],
            None,
            Transport::Udp,
        )
        .unwrap();
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(m.metadata.id, 7);
        assert!(m.metadata.recursion_available && m.metadata.recursion_desired);
        assert!(!m.metadata.authoritative && !m.metadata.truncation);
        assert_eq!(m.queries[0].name().to_ascii(), "Big.Example.");
        assert!(m.edns.is_none(), "no OPT unless the query had one");
    }

    #[test]
    fn oversized_udp_answer_keeps_only_whole_rrsets_and_sets_tc() {
        let records = big_set(60);
        let b = encode_answer(
            &to(None),
            ResponseCode::NoError,
            &records,
            &[],
            None,
            Transport::Udp,
        )
        .unwrap();
        assert!(b.len() <= 512);
        let m = Message::from_vec(&b).unwrap();
        assert!(m.metadata.truncation);
        // The CNAME fits, the 60-record A set does not: it is left out whole.
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].record_type(), RecordType::CNAME);

        let b = encode_answer(
            &to(Some(4096)),
            ResponseCode::NoError,
            &records,
            &[],
            None,
            Transport::Udp,
        )
        .unwrap();
        assert!(
            b.len() <= usize::from(MAX_UDP_PAYLOAD),
            "EDNS size is capped at 1232"
        );
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(
            m.edns.as_ref().map(|e| e.max_payload()),
            Some(MAX_UDP_PAYLOAD)
        );

        let b = encode_answer(
            &to(None),
            ResponseCode::NoError,
            &records,
            &[],
            None,
            Transport::Tcp,
        )
        .unwrap();
        let m = Message::from_vec(&b).unwrap();
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 61);
    }

    #[test]
    fn edns_payload_below_512_counts_as_512() {
        assert_eq!(to(Some(100)).limit(Transport::Udp), 512);
        assert_eq!(to(Some(1400)).limit(Transport::Udp), 1232);
    }
}
