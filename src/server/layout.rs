//! Walking a DNS message's wire form without decoding it: whether it is
//! whole, where its OPT record is, its smallest TTL; and EDNS padding.
//!
//! The encrypted transports need these on every message: DoH refuses a
//! truncated query with HTTP 400 and sends the smallest TTL as
//! `Cache-Control: max-age` (RFC 8484 §4.2.1, §5.1); responses to a client
//! that padded are padded (RFC 7830, RFC 8467). A walk over the bytes costs
//! no allocation, unlike a full parse.

use super::request::HEADER_LEN;

/// Responses are padded to a multiple of this many bytes (RFC 8467 §4.1,
/// "Block-Length Padding": the recommended 468 for responses).
pub const RESPONSE_PADDING_BLOCK: usize = 468;

/// EDNS option code of Padding (RFC 7830 §4).
const PADDING_OPTION: u16 = 12;
/// RR type of OPT (RFC 6891 §6.1.1).
const OPT_TYPE: u16 = 41;
/// Largest DNS message over a stream transport (the 2-byte length prefix).
const MAX_MESSAGE: usize = u16::MAX as usize;

/// What a walk over a whole, well-formed message found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Where the OPT record starts, if it is the message's last record.
    pub last_opt: Option<usize>,
    /// The smallest TTL of the answer and authority records, if any.
    pub min_ttl: Option<u32>,
}

/// Walks `bytes`: `None` unless every section's records lie within the
/// message and end exactly at its end.
pub fn layout(bytes: &[u8]) -> Option<Layout> {
    let header = bytes.get(..HEADER_LEN)?;
    let count = |at: usize| usize::from(u16::from_be_bytes([header[at], header[at + 1]]));
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut at = HEADER_LEN;
    for _ in 0..qd {
        at = skip_name(bytes, at)?.checked_add(4)?;
        if at > bytes.len() {
            return None;
        }
    }
    let mut min_ttl: Option<u32> = None;
    let mut last_opt = None;
    for i in 0..an + ns + ar {
        let start = at;
        let fixed = skip_name(bytes, at)?;
        let field = bytes.get(fixed..fixed.checked_add(10)?)?;
        let rtype = u16::from_be_bytes([field[0], field[1]]);
        let ttl = u32::from_be_bytes([field[4], field[5], field[6], field[7]]);
        let rdlen = usize::from(u16::from_be_bytes([field[8], field[9]]));
        at = fixed + 10 + rdlen;
        if at > bytes.len() {
            return None;
        }
        if i < an + ns {
            min_ttl = Some(min_ttl.map_or(ttl, |m| m.min(ttl)));
        }
        last_opt = (rtype == OPT_TYPE).then_some(start);
    }
    (at == bytes.len()).then_some(Layout { last_opt, min_ttl })
}

/// The offset after the name starting at `at`: a compression pointer ends
/// it (RFC 1035 §4.1.4) and is not followed, so the walk only moves forward.
fn skip_name(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *bytes.get(at)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xC0 => {
                bytes.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None, // extended label types (RFC 6891 §5)
        }
    }
}

/// Pads a response to a multiple of `block` bytes with a Padding option
/// appended to its OPT record (RFC 7830 §3). Left as it is when it has no
/// OPT as last record (a response to a client without EDNS) or padding
/// would take it past 65535 bytes.
pub fn pad(bytes: &mut Vec<u8>, block: usize) {
    let Some(opt) = layout(bytes).and_then(|l| l.last_opt) else {
        return;
    };
    let Some(rdlen_at) = skip_name(bytes, opt).map(|a| a + 8) else {
        return;
    };
    let Some(rdlen) = bytes
        .get(rdlen_at..rdlen_at + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return;
    };
    let unpadded = bytes.len() + 4;
    let fill = (block - unpadded % block) % block;
    let (Ok(new_rdlen), Ok(fill16)) = (u16::try_from(rdlen + 4 + fill), u16::try_from(fill)) else {
        return;
    };
    if unpadded + fill > MAX_MESSAGE {
        return;
    }
    bytes[rdlen_at..rdlen_at + 2].copy_from_slice(&new_rdlen.to_be_bytes());
    bytes.extend_from_slice(&PADDING_OPTION.to_be_bytes());
    bytes.extend_from_slice(&fill16.to_be_bytes());
    bytes.resize(unpadded + fill, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::rdata::opt::EdnsCode;
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn response(edns: bool) -> Vec<u8> {
        let name = Name::from_ascii("www.example.").unwrap();
        let mut m = Message::new(9, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name.clone(), RecordType::A));
        m.add_answer(Record::from_rdata(
            name.clone(),
            300,
            RData::A(A([192, 0, 2, 1].into())),
        ));
        m.add_answer(Record::from_rdata(
            name,
            60,
            RData::A(A([192, 0, 2, 2].into())),
        ));
        if edns {
            m.set_edns(Edns::new());
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn walks_a_whole_message_and_finds_the_smallest_ttl() {
        let b = response(true);
        let l = layout(&b).unwrap();
        assert_eq!(l.min_ttl, Some(60));
        assert!(l.last_opt.is_some());
        assert_eq!(layout(&response(false)).unwrap().last_opt, None);
    }

    #[test]
    fn truncated_or_trailing_bytes_are_refused() {
        let b = response(true);
        for cut in 0..b.len() {
            assert_eq!(layout(&b[..cut]), None, "cut at {cut}");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(layout(&long), None);
    }

    #[test]
    fn padding_reaches_the_block_and_still_parses() {
        let mut b = response(true);
        pad(&mut b, RESPONSE_PADDING_BLOCK);
        assert_eq!(b.len() % RESPONSE_PADDING_BLOCK, 0);
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(m.answers.len(), 2);
        assert!(m.edns.unwrap().option(EdnsCode::Padding).is_some());
        let mut plain = response(false);
        let before = plain.clone();
        pad(&mut plain, RESPONSE_PADDING_BLOCK);
        assert_eq!(plain, before, "no OPT, no padding");
    }

    #[test]
    fn a_pointer_ends_a_name_without_being_followed() {
        let mut b = vec![0u8; HEADER_LEN];
        b[5] = 1; // QDCOUNT 1
        b.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        // A pointer to itself would loop if it were followed.
        assert!(layout(&b).is_some());
        assert_eq!(skip_name(&[0x3F], 0), None);
    }
}
