//! Checking a stub's request before anything is resolved.
//!
//! One datagram's path: too short or a response (QR=1) → dropped (answering a
//! response invites loops and reflection); unparsable → FORMERR; opcode other
//! than QUERY → NOTIMP; QDCOUNT ≠ 1 → FORMERR (RFC 9619); EDNS version above
//! 0 → BADVERS (RFC 6891 §6.1.3); class other than IN → REFUSED; zone
//! transfers and meta types → REFUSED / FORMERR. What is left is a
//! [`Question`] for the cache and the resolver.

use hickory_proto::op::{Edns, Header, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::response::{ClientEdns, ReplyTo, encode_error};

/// DNS header length (RFC 1035 §4.1.1): anything shorter is not a message.
pub const HEADER_LEN: usize = 12;

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct Question {
    /// How to address the reply (ID, flags, question, EDNS).
    pub reply_to: ReplyTo,
}

impl Question {
    /// The question as asked (case preserved).
    pub fn query(&self) -> &Query {
        &self.reply_to.query
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Checked {
    /// Resolve it.
    Resolve(Question),
    /// Send these bytes back at once (an error response).
    Reply(Vec<u8>),
    /// Send nothing.
    Drop,
}

/// Checks one request's bytes.
pub fn check(bytes: &[u8]) -> Checked {
    if bytes.len() < HEADER_LEN {
        return Checked::Drop;
    }
    let Ok(header) = Header::read(&mut BinDecoder::new(bytes)) else {
        return Checked::Drop;
    };
    let meta = header.metadata;
    if meta.message_type == hickory_proto::op::MessageType::Response {
        return Checked::Drop;
    }
    let reply_bare = |rcode| {
        let to = ReplyTo {
            id: meta.id,
            op_code: meta.op_code,
            recursion_desired: meta.recursion_desired,
            checking_disabled: meta.checking_disabled,
            authentic_data: meta.authentic_data,
            authenticated: false,
            authoritative: false,
            query: Query::new(),
            has_query: false,
            edns: None,
        };
        encode_error(&to, rcode).map_or(Checked::Drop, Checked::Reply)
    };
    if meta.op_code != OpCode::Query {
        // RFC 1035 §4.1.1: NOTIMP for kinds of query we do not support. The
        // body may not even be a question section, so it is not parsed.
        return reply_bare(ResponseCode::NotImp);
    }
    let mut msg = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(_) => return reply_bare(ResponseCode::FormErr),
    };
    if msg.queries.len() != 1 {
        return reply_bare(ResponseCode::FormErr);
    }
    // Moved out, not cloned: the message is dropped below.
    let query = msg.queries.swap_remove(0);
    let edns = msg.edns.as_ref().map(client_edns);
    let to = ReplyTo {
        id: meta.id,
        op_code: meta.op_code,
        recursion_desired: meta.recursion_desired,
        checking_disabled: meta.checking_disabled,
        authentic_data: meta.authentic_data,
        authenticated: false,
        authoritative: false,
        query,
        has_query: true,
        edns,
    };
    let error = |rcode| encode_error(&to, rcode).map_or(Checked::Drop, Checked::Reply);
    if msg.edns.as_ref().is_some_and(|e| e.version() > 0) {
        return error(ResponseCode::BADVERS);
    }
    if to.query.query_class() != DNSClass::IN {
        return error(ResponseCode::Refused);
    }
    match to.query.query_type() {
        // Zone transfers are for authoritative servers (RFC 5936 §2.2).
        RecordType::AXFR | RecordType::IXFR => return error(ResponseCode::Refused),
        // A pseudo-record is never a question (RFC 6891 §6.1.1).
        RecordType::OPT | RecordType::TSIG | RecordType::SIG => {
            return error(ResponseCode::FormErr);
        }
        _ => {}
    }
    Checked::Resolve(Question { reply_to: to })
}

fn client_edns(e: &Edns) -> ClientEdns {
    ClientEdns {
        payload: e.max_payload(),
        dnssec_ok: e.flags().dnssec_ok,
        padded: e
            .option(hickory_proto::rr::rdata::opt::EdnsCode::Padding)
            .is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::MessageType;
    use hickory_proto::rr::Name;

    fn query(qtype: RecordType) -> Message {
        let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(
            Name::from_ascii("WwW.Example.").unwrap(),
            qtype,
        ));
        m
    }

    fn reply(c: Checked) -> Message {
        match c {
            Checked::Reply(b) => Message::from_vec(&b).unwrap(),
            other => panic!("expected an error reply, got {other:?}"),
        }
    }

    #[test]
    fn short_and_response_messages_are_dropped() {
        assert!(matches!(check(&[1, 2, 3]), Checked::Drop));
        let mut m = query(RecordType::A);
        m.metadata.message_type = MessageType::Response;
        assert!(matches!(check(&m.to_vec().unwrap()), Checked::Drop));
    }

    #[test]
    fn garbage_after_the_header_is_formerr_with_the_id() {
        let mut bytes = query(RecordType::A).to_vec().unwrap();
        bytes.truncate(HEADER_LEN + 3);
        let r = reply(check(&bytes));
        assert_eq!(r.metadata.id, 0x4242);
        assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
        assert!(r.metadata.recursion_available);
    }

    #[test]
    fn qdcount_other_than_one_is_formerr() {
        let mut m = query(RecordType::A);
        m.add_query(Query::query(Name::from_ascii("b.").unwrap(), RecordType::A));
        assert_eq!(
            reply(check(&m.to_vec().unwrap())).metadata.response_code,
            ResponseCode::FormErr
        );
        m.queries.clear();
        assert_eq!(
            reply(check(&m.to_vec().unwrap())).metadata.response_code,
            ResponseCode::FormErr
        );
    }

    #[test]
    fn other_opcodes_are_notimp() {
        let mut m = query(RecordType::A);
        m.metadata.op_code = OpCode::Status;
        let r = reply(check(&m.to_vec().unwrap()));
        assert_eq!(r.metadata.response_code, ResponseCode::NotImp);
        assert_eq!(r.metadata.op_code, OpCode::Status);
    }

    #[test]
    fn edns_version_1_is_badvers_with_an_opt() {
        let mut m = query(RecordType::A);
        let mut e = Edns::new();
        e.set_version(1);
        m.set_edns(e);
        let r = reply(check(&m.to_vec().unwrap()));
        // 16 reads back as BADSIG (the same code in TSIG's registry).
        assert_eq!(u16::from(r.metadata.response_code), 16);
        assert_eq!(r.edns.map(|e| e.version()), Some(0));
    }

    #[test]
    fn chaos_class_is_refused_and_axfr_too() {
        let mut m = query(RecordType::TXT);
        m.queries[0].set_query_class(DNSClass::CH);
        assert_eq!(
            reply(check(&m.to_vec().unwrap())).metadata.response_code,
            ResponseCode::Refused
        );
        assert_eq!(
            reply(check(&query(RecordType::AXFR).to_vec().unwrap()))
                .metadata
                .response_code,
            ResponseCode::Refused
        );
    }

    #[test]
    fn a_good_query_is_resolved_with_its_case_kept() {
        match check(&query(RecordType::A).to_vec().unwrap()) {
            Checked::Resolve(q) => {
                assert_eq!(q.query().name().to_ascii(), "WwW.Example.");
                assert!(q.reply_to.recursion_desired);
            }
            other => panic!("{other:?}"),
        }
    }
}
