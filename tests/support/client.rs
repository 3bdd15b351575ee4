//! A dig-like blocking DNS test client built on hickory-proto.
//!
//! Every query sets RD=1 and a random ID; every reply is checked for a matching
//! ID (and, over UDP, for coming from the server's address). Timeouts and
//! malformed replies panic with a clear message: this is test code.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};

/// The largest DNS message we are prepared to receive over UDP.
const MAX_UDP: usize = 65_535;

/// A blocking DNS client talking to one server.
#[derive(Debug, Clone)]
pub struct Client {
    pub server: SocketAddr,
    pub timeout: Duration,
}

impl Client {
    /// A client for `server` with a 5 s timeout per exchange.
    pub fn new(server: SocketAddr) -> Self {
        Self {
            server,
            timeout: Duration::from_secs(5),
        }
    }

    /// A client for `server` with the given timeout per exchange.
    pub fn with_timeout(server: SocketAddr, timeout: Duration) -> Self {
        Self { server, timeout }
    }

    /// `dig +noedns @server name qtype` over UDP.
    pub fn udp(&self, name: &str, qtype: RecordType) -> Message {
        self.send_udp(&query(name, qtype))
    }

    /// `dig +tcp @server name qtype`.
    pub fn tcp(&self, name: &str, qtype: RecordType) -> Message {
        self.send_tcp(&query(name, qtype))
    }

    /// `dig +bufsize=payload @server name qtype` over UDP (EDNS0, DO=0).
    pub fn udp_edns(&self, name: &str, qtype: RecordType, payload: u16) -> Message {
        self.send_udp(&edns_query(name, qtype, payload))
    }

    /// Over TCP with an EDNS0 OPT record advertising `payload`.
    pub fn tcp_edns(&self, name: &str, qtype: RecordType, payload: u16) -> Message {
        self.send_tcp(&edns_query(name, qtype, payload))
    }

    /// Sends a hand-built query over UDP and returns the decoded reply.
    pub fn send_udp(&self, msg: &Message) -> Message {
        let bytes = encode(msg);
        let reply = self.udp_raw(&bytes).unwrap_or_else(|| {
            panic!(
                "no UDP reply from {} within {:?} to query id={} {}",
                self.server,
                self.timeout,
                msg.metadata.id,
                describe_question(msg)
            )
        });
        decode_reply(msg, &reply, "UDP", self.server)
    }

    /// Sends a hand-built query over TCP and returns the decoded reply.
    pub fn send_tcp(&self, msg: &Message) -> Message {
        let bytes = encode(msg);
        let reply = self.tcp_raw(&bytes).unwrap_or_else(|| {
            panic!(
                "no TCP reply from {} within {:?} to query id={} {}",
                self.server,
                self.timeout,
                msg.metadata.id,
                describe_question(msg)
            )
        });
        decode_reply(msg, &reply, "TCP", self.server)
    }

    /// Sends raw bytes in one UDP datagram; returns the first datagram that
    /// comes back from the server carrying the same ID (the first two bytes),
    /// or `None` if nothing matching arrives within the timeout.
    pub fn udp_raw(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let sock = UdpSocket::bind(local_any(self.server))
            .unwrap_or_else(|e| panic!("binding a UDP client socket failed: {e}"));
        sock.connect(self.server)
            .unwrap_or_else(|e| panic!("connecting UDP socket to {} failed: {e}", self.server));
        sock.send(bytes)
            .unwrap_or_else(|e| panic!("sending UDP to {} failed: {e}", self.server));
        let deadline = Instant::now() + self.timeout;
        let mut buf = vec![0u8; MAX_UDP];
        // Bounded: at most 64 stray datagrams or interruptions, and never past
        // the deadline.
        for _ in 0..64 {
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            sock.set_read_timeout(Some(left)).expect("set_read_timeout");
            match sock.recv(&mut buf) {
                Ok(n) => {
                    let reply = &buf[..n];
                    if bytes.len() < 2 || (reply.len() >= 2 && reply[..2] == bytes[..2]) {
                        return Some(reply.to_vec());
                    }
                    // A reply to something else: keep waiting.
                }
                // A signal arrived mid-wait: wait again (bounded by the loop).
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return None,
                // ICMP port unreachable surfaces as ConnectionRefused:
                // nobody listens, so no answer will come.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => return None,
                Err(e) => panic!("receiving UDP from {} failed: {e}", self.server),
            }
        }
        None
    }

    /// Sends raw bytes as one length-prefixed message on a new TCP connection;
    /// returns the first length-prefixed reply, or `None` on timeout, refused
    /// connection or a connection closed before a full reply.
    pub fn tcp_raw(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut stream = self.tcp_connect()?;
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        framed.extend_from_slice(bytes);
        if let Err(e) = stream.write_all(&framed) {
            if is_timeout(&e) {
                return None;
            }
            panic!("writing to TCP {} failed: {e}", self.server);
        }
        read_framed(&mut stream, Instant::now() + self.timeout)
    }

    /// Sends all `queries` on ONE TCP connection without waiting for replies,
    /// then reads one reply per query. Replies are matched by ID (any order)
    /// and returned in the order of `queries`. IDs must be distinct.
    pub fn tcp_pipelined(&self, queries: &[Message]) -> Vec<Message> {
        let mut ids: Vec<u16> = queries.iter().map(|q| q.metadata.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(
            ids.len(),
            queries.len(),
            "tcp_pipelined needs distinct query IDs"
        );
        let mut stream = self
            .tcp_connect()
            .unwrap_or_else(|| panic!("TCP connect to {} failed or timed out", self.server));
        let mut framed = Vec::new();
        for q in queries {
            let bytes = encode(q);
            framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            framed.extend_from_slice(&bytes);
        }
        stream
            .write_all(&framed)
            .unwrap_or_else(|e| panic!("writing pipelined queries to {} failed: {e}", self.server));
        let deadline = Instant::now() + self.timeout;
        let mut replies: Vec<Option<Message>> = vec![None; queries.len()];
        for n in 0..queries.len() {
            let raw = read_framed(&mut stream, deadline).unwrap_or_else(|| {
                panic!(
                    "pipelined TCP to {}: got {n} of {} replies before timeout/EOF",
                    self.server,
                    queries.len()
                )
            });
            let msg = Message::from_vec(&raw).unwrap_or_else(|e| {
                panic!("undecodable pipelined TCP reply: {e}; bytes={}", hex(&raw))
            });
            let idx = queries
                .iter()
                .position(|q| q.metadata.id == msg.metadata.id)
                .unwrap_or_else(|| {
                    panic!(
                        "pipelined TCP reply with unknown id {} (sent {:?})",
                        msg.metadata.id,
                        queries.iter().map(|q| q.metadata.id).collect::<Vec<_>>()
                    )
                });
            assert!(
                replies[idx].is_none(),
                "two pipelined replies for id {}",
                msg.metadata.id
            );
            check_reply(&queries[idx], &msg, "TCP (pipelined)");
            replies[idx] = Some(msg);
        }
        replies
            .into_iter()
            .map(|r| r.expect("all filled"))
            .collect()
    }

    fn tcp_connect(&self) -> Option<TcpStream> {
        let stream = match TcpStream::connect_timeout(&self.server, self.timeout) {
            Ok(s) => s,
            Err(e) if is_timeout(&e) || e.kind() == ErrorKind::ConnectionRefused => return None,
            Err(e) => panic!("TCP connect to {} failed: {e}", self.server),
        };
        stream.set_nodelay(true).ok();
        stream
            .set_write_timeout(Some(self.timeout))
            .expect("set_write_timeout");
        Some(stream)
    }
}

/// A query message for `name`/`qtype`, class IN, RD=1, random ID, no EDNS.
/// `name` is taken as given (case preserved); a missing trailing dot is added.
pub fn query(name: &str, qtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(parse_name(name), qtype));
    msg
}

/// Like [`query`], plus an EDNS0 OPT record advertising `payload` (DO=0).
pub fn edns_query(name: &str, qtype: RecordType, payload: u16) -> Message {
    let mut msg = query(name, qtype);
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    edns.set_version(0);
    msg.edns = Some(edns);
    msg
}

/// Parses a domain name as an FQDN, preserving case.
pub fn parse_name(name: &str) -> Name {
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    Name::from_ascii(&fqdn).unwrap_or_else(|e| panic!("bad test name {name:?}: {e}"))
}

/// Builds the wire form of a simple query by hand (no hickory involved), so
/// tests can control every byte, e.g. the exact case of the question name.
pub fn raw_query(id: u16, rd: bool, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(if rd { 0x01 } else { 0x00 }); // QR=0 OPCODE=0 AA=0 TC=0 RD
    out.push(0x00); // RA=0 Z=0 RCODE=0
    out.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // AN, NS, AR
    out.extend_from_slice(&raw_question(name, qtype));
    out
}

/// The wire form of one question (name, type, class IN), case preserved.
pub fn raw_question(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        assert!(label.len() < 64, "label too long: {label}");
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&u16::from(qtype).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // IN
    out
}

/// Header flag bits of a raw message: (QR, AA, TC, RD, RA, RCODE low 4 bits).
pub fn raw_flags(msg: &[u8]) -> (bool, bool, bool, bool, bool, u8) {
    assert!(
        msg.len() >= 12,
        "message shorter than a header: {}",
        hex(msg)
    );
    let (b2, b3) = (msg[2], msg[3]);
    (
        b2 & 0x80 != 0,
        b2 & 0x04 != 0,
        b2 & 0x02 != 0,
        b2 & 0x01 != 0,
        b3 & 0x80 != 0,
        b3 & 0x0f,
    )
}

/// A records of the answer section, sorted.
pub fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// (owner, type) of every answer record, in message order; owner is lowercase
/// with a trailing dot.
pub fn answer_types(msg: &Message) -> Vec<(String, RecordType)> {
    msg.answers
        .iter()
        .map(|r| (owner(&r.name), r.record_type()))
        .collect()
}

/// (owner, type) of every authority record, in message order.
pub fn authority_types(msg: &Message) -> Vec<(String, RecordType)> {
    msg.authorities
        .iter()
        .map(|r| (owner(&r.name), r.record_type()))
        .collect()
}

/// The smallest TTL in the answer section. Panics if the answer is empty.
pub fn min_answer_ttl(msg: &Message) -> u32 {
    msg.answers
        .iter()
        .map(|r| r.ttl)
        .min()
        .unwrap_or_else(|| panic!("min_answer_ttl: empty answer section in {}", summary(msg)))
}

/// Lowercase FQDN text of a name, with trailing dot.
pub fn owner(name: &Name) -> String {
    let s = name.to_lowercase().to_ascii();
    if s.ends_with('.') { s } else { format!("{s}.") }
}

/// A one-line dig-like summary of a message, for assertion messages.
pub fn summary(msg: &Message) -> String {
    let m = &msg.metadata;
    let mut flags = Vec::new();
    if m.message_type == MessageType::Response {
        flags.push("qr");
    }
    for (on, f) in [
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
        (m.authentic_data, "ad"),
        (m.checking_disabled, "cd"),
    ] {
        if on {
            flags.push(f);
        }
    }
    let rr = |r: &hickory_proto::rr::Record| {
        format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data)
    };
    format!(
        "id={} opcode={:?} rcode={:?} flags=[{}] edns={} q=[{}] an=[{}] ns=[{}] ar=[{}]",
        m.id,
        m.op_code,
        msg.metadata.response_code,
        flags.join(" "),
        msg.edns
            .as_ref()
            .map(|e| format!("payload {}", e.max_payload()))
            .unwrap_or_else(|| "none".into()),
        msg.queries
            .iter()
            .map(|q| format!("{} {}", q.name(), q.query_type()))
            .collect::<Vec<_>>()
            .join("; "),
        msg.answers.iter().map(rr).collect::<Vec<_>>().join("; "),
        msg.authorities
            .iter()
            .map(rr)
            .collect::<Vec<_>>()
            .join("; "),
        msg.additionals
            .iter()
            .map(rr)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Hex dump of bytes, for assertion messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn encode(msg: &Message) -> Vec<u8> {
    msg.to_vec()
        .unwrap_or_else(|e| panic!("cannot encode test query: {e}"))
}

fn describe_question(msg: &Message) -> String {
    msg.queries
        .iter()
        .map(|q| format!("{} {}", q.name(), q.query_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode_reply(q: &Message, raw: &[u8], transport: &str, server: SocketAddr) -> Message {
    let msg = Message::from_vec(raw).unwrap_or_else(|e| {
        panic!(
            "undecodable {transport} reply from {server} to {}: {e}; bytes={}",
            describe_question(q),
            hex(raw)
        )
    });
    check_reply(q, &msg, transport);
    msg
}

fn check_reply(q: &Message, msg: &Message, transport: &str) {
    assert_eq!(
        msg.metadata.id,
        q.metadata.id,
        "{transport} reply ID does not match query ID; reply: {}",
        summary(msg)
    );
    assert_eq!(
        msg.metadata.message_type,
        MessageType::Response,
        "{transport} reply has QR=0: {}",
        summary(msg)
    );
    assert_eq!(
        msg.metadata.op_code,
        OpCode::Query,
        "{transport} reply opcode: {}",
        summary(msg)
    );
}

fn read_framed(stream: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    read_exact_by(stream, &mut len, deadline)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    read_exact_by(stream, &mut buf, deadline)?;
    Some(buf)
}

/// `read_exact` bounded by a deadline; `None` on timeout or EOF.
fn read_exact_by(stream: &mut TcpStream, mut buf: &mut [u8], deadline: Instant) -> Option<()> {
    // Bounded: each iteration either reads >= 1 byte (at most 65,537 in all)
    // or returns; the deadline bounds the waiting.
    while !buf.is_empty() {
        let left = deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        stream
            .set_read_timeout(Some(left))
            .expect("set_read_timeout");
        match stream.read(buf) {
            Ok(0) => return None,
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return None,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                return None;
            }
            Err(e) => panic!("TCP read failed: {e}"),
        }
    }
    Some(())
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn local_any(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().unwrap(),
        SocketAddr::V6(_) => "[::]:0".parse().unwrap(),
    }
}

/// `(INFO-CODE, EXTRA-TEXT)` of every EDE option (code 15) in the reply.
pub fn ede(r: &Message) -> Vec<(u16, String)> {
    let Some(e) = &r.edns else {
        return Vec::new();
    };
    e.options()
        .options
        .iter()
        .filter(|(code, _)| u16::from(*code) == 15)
        .filter_map(|(_, opt)| match opt {
            hickory_proto::rr::rdata::opt::EdnsOption::Unknown(_, data) if data.len() >= 2 => {
                Some((
                    u16::from_be_bytes([data[0], data[1]]),
                    String::from_utf8_lossy(&data[2..]).into_owned(),
                ))
            }
            _ => None,
        })
        .collect()
}
