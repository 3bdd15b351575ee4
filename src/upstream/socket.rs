//! The real upstream: UDP with TCP fallback, on fresh random sockets.
//!
//! One query's path: a fresh UDP socket bound to a random source port
//! (chosen here from a CSPRNG, not left to the kernel) and *connected* to the
//! server, so the kernel drops datagrams from any other address or port (the
//! SAD DNS mitigation Unbound and PowerDNS use); a random 16-bit ID; EDNS0
//! advertising 1232 bytes (DNS Flag Day 2020); with
//! [`UpstreamConfig::use_0x20`], a random case for every letter of the query
//! name (draft-vixie-dnsext-dns0x20). A datagram is accepted only if it
//! parses, is a response, and carries our ID and our exact question (with
//! 0x20, byte for byte); anything else is dropped, counted (see
//! [`dropped_replies`]) and the wait goes on until the deadline. A reply that
//! differs only in the case of the name makes the query go again once without
//! 0x20, like Unbound's `use-caps-for-id` fallback. FORMERR to an EDNS query
//! is retried once without EDNS (RFC 6891 §7); TC=1 is retried over TCP
//! (RFC 7766 §5) with the name as the UDP attempt sent it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::time::{Instant, timeout_at};
use tracing::{debug, trace};

use super::{Upstream, UpstreamError, UpstreamQuery};

/// EDNS0 UDP payload size advertised upstream: 1232 avoids IP fragmentation
/// on any path with an MTU of 1280 (DNS Flag Day 2020, RFC 9715).
pub const EDNS_PAYLOAD: u16 = 1232;
/// Largest UDP datagram we read; anything larger than our advertised size is
/// a protocol error, but the buffer is sized for the maximum.
const MAX_UDP_REPLY: usize = 65_535;
/// Lowest source port picked at random: below 1024 are privileged services.
const MIN_SOURCE_PORT: u16 = 1024;
/// Random source ports tried before letting the kernel choose (a port can be
/// in use by another socket).
const SOURCE_PORT_ATTEMPTS: usize = 8;
/// Datagrams that fail the match (wrong ID, question, unparsable) that one
/// UDP socket tolerates before giving up on the server: bounds a flood aimed
/// at one port. Each socket of a call (EDNS fallback, 0x20 fallback) has its
/// own budget, and all of them share the call's deadline.
const MAX_MISMATCHED_REPLIES: usize = 64;

/// Settings of the real upstream.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Randomise the case of query names (0x20) and require the reply to
    /// echo it byte for byte.
    pub use_0x20: bool,
    /// Source address for IPv4 servers (`None`: any).
    pub source_v4: Option<Ipv4Addr>,
    /// Source address for IPv6 servers (`None`: any).
    pub source_v6: Option<Ipv6Addr>,
}

/// Replies dropped since the process started, by reason. A reply from a
/// connected socket's own server that is dropped is either a forgery attempt
/// that got the port right, or a broken server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedReplies {
    /// A response whose ID is not the one sent.
    pub wrong_id: u64,
    /// Our ID, but a different question (name, type, class or count).
    pub wrong_question: u64,
    /// Our ID and question, but the name's case differs from the 0x20 case
    /// sent (each one triggers the fallback without 0x20).
    pub wrong_case: u64,
    /// Not a DNS response at all: does not parse, or has QR=0.
    pub unparsable: u64,
}

static DROPPED_WRONG_ID: AtomicU64 = AtomicU64::new(0);
static DROPPED_WRONG_QUESTION: AtomicU64 = AtomicU64::new(0);
static DROPPED_WRONG_CASE: AtomicU64 = AtomicU64::new(0);
static DROPPED_UNPARSABLE: AtomicU64 = AtomicU64::new(0);

/// The process-wide counts of dropped replies (every [`SocketUpstream`]
/// together). Each count only grows; the four are read one by one, not as
/// one snapshot.
pub fn dropped_replies() -> DroppedReplies {
    DroppedReplies {
        wrong_id: DROPPED_WRONG_ID.load(Ordering::Relaxed),
        wrong_question: DROPPED_WRONG_QUESTION.load(Ordering::Relaxed),
        wrong_case: DROPPED_WRONG_CASE.load(Ordering::Relaxed),
        unparsable: DROPPED_UNPARSABLE.load(Ordering::Relaxed),
    }
}

/// Why a reply was not accepted as the answer to our query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mismatch {
    WrongId,
    WrongQuestion,
    WrongCase,
    Unparsable,
}

impl Mismatch {
    /// Adds one to this reason's process-wide count.
    fn count(self) {
        let counter = match self {
            Self::WrongId => &DROPPED_WRONG_ID,
            Self::WrongQuestion => &DROPPED_WRONG_QUESTION,
            Self::WrongCase => &DROPPED_WRONG_CASE,
            Self::Unparsable => &DROPPED_UNPARSABLE,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How the reply's question name must match the name sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseMatch {
    /// Byte for byte: the 0x20 case must come back.
    Exact,
    /// Case-insensitively (RFC 4343).
    Insensitive,
}

/// The question as actually put on the wire.
#[derive(Debug, Clone)]
struct Sent {
    /// The name as it went out (0x20 case included).
    name: Name,
    /// The name as the caller gave it.
    original: Name,
    qtype: RecordType,
    /// Ask for DNSSEC records (DO, RFC 3225), with EDNS only.
    dnssec_ok: bool,
}

/// Queries authoritative servers over real sockets.
#[derive(Debug, Clone)]
pub struct SocketUpstream {
    config: UpstreamConfig,
}

impl SocketUpstream {
    /// A socket upstream with these settings.
    pub fn new(config: UpstreamConfig) -> Self {
        Self { config }
    }

    fn source_ip(&self, server: SocketAddr) -> IpAddr {
        match server {
            SocketAddr::V4(_) => IpAddr::V4(self.config.source_v4.unwrap_or(Ipv4Addr::UNSPECIFIED)),
            SocketAddr::V6(_) => IpAddr::V6(self.config.source_v6.unwrap_or(Ipv6Addr::UNSPECIFIED)),
        }
    }

    /// One UDP exchange, 0x20 included: with `caps` on, the name goes out in
    /// a fresh random case and must come back in it. Returns the reply and
    /// the question as sent (for a TCP retry).
    ///
    /// A reply that matches in everything but the case of the name (so it
    /// already came from the server's address and port, to our random port,
    /// with our random ID) is far more likely from a server that does not
    /// echo case than a forgery: it is not accepted, `caps` is turned off for
    /// the rest of the call and the query goes again at once in the case the
    /// caller gave, on a fresh socket with a fresh port and ID, within the
    /// same deadline, accepting a case-insensitive match. That costs one
    /// extra round trip to non-echoing servers only, as Unbound's caps
    /// fallback does. At most one fallback per call: once `caps` is off no
    /// reply can fail on case. The fallback's reply must carry the same
    /// data as the reply whose case was wrong (TTLs aside): a forger who
    /// got port and ID right but not the case cannot turn 0x20 off and
    /// then win with a second, blind guess.
    async fn udp(
        &self,
        server: SocketAddr,
        query: &UpstreamQuery,
        edns: bool,
        caps: &mut bool,
        deadline: Instant,
    ) -> Result<(Message, Sent), UpstreamError> {
        let mut suspect: Option<Message> = None;
        if *caps {
            let mut name = query.name.clone();
            name.randomize_label_case();
            let sent = Sent {
                name,
                original: query.name.clone(),
                qtype: query.qtype,
                dnssec_ok: query.dnssec_ok,
            };
            match self
                .udp_once(server, &sent, edns, CaseMatch::Exact, deadline)
                .await?
            {
                Ok(reply) => return Ok((reply, sent)),
                Err(wrong_case) => {
                    debug!(%server, "reply does not echo the 0x20 case: retrying without 0x20");
                    suspect = wrong_case;
                    *caps = false;
                }
            }
        }
        let sent = Sent {
            name: query.name.clone(),
            original: query.name.clone(),
            qtype: query.qtype,
            dnssec_ok: query.dnssec_ok,
        };
        match self
            .udp_once(server, &sent, edns, CaseMatch::Insensitive, deadline)
            .await?
        {
            Ok(reply) => match &suspect {
                Some(first) if !same_data(first, &reply) => Err(UpstreamError::Malformed(
                    "the reply without 0x20 differs from the one in the wrong case".into(),
                )),
                _ => Ok((reply, sent)),
            },
            // A case-insensitive match cannot fail on case alone.
            Err(_) => Err(UpstreamError::Malformed("reply case mismatch".into())),
        }
    }

    /// Sends `sent` once on a fresh socket and waits for the matching reply.
    /// `Ok(Err(reply))`: a reply that differs from it only in the case of
    /// the name (possible with [`CaseMatch::Exact`] only), if it parses.
    async fn udp_once(
        &self,
        server: SocketAddr,
        sent: &Sent,
        edns: bool,
        case: CaseMatch,
        deadline: Instant,
    ) -> Result<Result<Message, Option<Message>>, UpstreamError> {
        let socket = bind_random_port(self.source_ip(server))?;
        socket
            .connect(&server.into())
            .map_err(UpstreamError::from_io)?;
        let (id, bytes) = encode(sent, edns)?;
        // Sent before the socket joins the runtime's event loop: a fresh
        // socket's send buffer is empty, so the datagram goes out now, not
        // after a round through the loop (an epoll_wait) to learn that the
        // socket is writable. Registering afterwards loses nothing: a reply
        // already queued is reported as soon as the socket is added.
        let sent_now = match socket.send(&bytes) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => return Err(UpstreamError::from_io(e)),
        };
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket))
            .map_err(UpstreamError::from_io)?;
        if !sent_now {
            socket.send(&bytes).await.map_err(UpstreamError::from_io)?;
        }
        // Room for the largest datagram, left uninitialised: `recv_buf`
        // writes into the spare capacity, so no 64 KiB are zeroed per query.
        let mut buf = Vec::with_capacity(MAX_UDP_REPLY);
        for _ in 0..MAX_MISMATCHED_REPLIES {
            buf.clear();
            let len = match timeout_at(deadline, socket.recv_buf(&mut buf)).await {
                Err(_) => return Err(UpstreamError::Timeout),
                Ok(r) => r.map_err(UpstreamError::from_io)?,
            };
            match check(&buf[..len], id, sent, case) {
                Ok(reply) => return Ok(Ok(reply)),
                Err(reason) => {
                    reason.count();
                    if reason == Mismatch::WrongCase {
                        return Ok(Err(Message::from_vec(&buf[..len]).ok()));
                    }
                    trace!(%server, ?reason, "dropped a datagram that does not match the query");
                }
            }
        }
        Err(UpstreamError::Malformed(
            "too many mismatched replies".to_string(),
        ))
    }

    /// The TCP retry of a truncated UDP exchange: the same name (case
    /// included) and EDNS choice as the UDP query that was sent. The name's
    /// case is matched case-insensitively: an off-path attacker cannot inject
    /// into a TCP stream the way it can race a datagram, so 0x20 adds little
    /// here, and a non-echoing server must not fail over TCP.
    async fn tcp(
        &self,
        server: SocketAddr,
        sent: &Sent,
        edns: bool,
        deadline: Instant,
    ) -> Result<Message, UpstreamError> {
        let socket = match server {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(UpstreamError::from_io)?;
        socket
            .bind(SocketAddr::new(self.source_ip(server), 0))
            .map_err(UpstreamError::from_io)?;
        let exchange = async {
            let mut stream = socket
                .connect(server)
                .await
                .map_err(UpstreamError::from_io)?;
            let (id, bytes) = encode(sent, edns)?;
            let len = u16::try_from(bytes.len())
                .map_err(|_| UpstreamError::Malformed("query too long".into()))?;
            let mut framed = Vec::with_capacity(bytes.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&bytes);
            stream
                .write_all(&framed)
                .await
                .map_err(UpstreamError::from_io)?;
            // RFC 7766 §8: replies may come out of order on a shared
            // connection; on our own connection there is exactly one.
            let len = stream.read_u16().await.map_err(UpstreamError::from_io)?;
            let mut buf = vec![0u8; usize::from(len)];
            stream
                .read_exact(&mut buf)
                .await
                .map_err(UpstreamError::from_io)?;
            check(&buf, id, sent, CaseMatch::Insensitive).map_err(|reason| {
                reason.count();
                UpstreamError::Malformed(format!("TCP reply does not match: {reason:?}"))
            })
        };
        timeout_at(deadline, exchange)
            .await
            .unwrap_or(Err(UpstreamError::Timeout))
    }
}

impl Upstream for SocketUpstream {
    async fn query(
        &self,
        server: SocketAddr,
        query: &UpstreamQuery,
        timeout: Duration,
    ) -> Result<Message, UpstreamError> {
        let deadline = Instant::now() + timeout;
        // 0x20 stays on for this call until the server shows it does not
        // echo case (see `udp`).
        let mut caps = self.config.use_0x20;
        let mut edns = query.edns;
        let (mut reply, mut sent) = self.udp(server, query, edns, &mut caps, deadline).await?;
        if edns && reply.metadata.response_code == ResponseCode::FormErr && reply.edns.is_none() {
            // RFC 6891 §7: a server that does not know EDNS answers FORMERR
            // without an OPT; ask again without one.
            debug!(%server, "FORMERR to EDNS query: retrying without EDNS");
            edns = false;
            (reply, sent) = self.udp(server, query, edns, &mut caps, deadline).await?;
        }
        if reply.metadata.truncation {
            debug!(%server, "truncated reply: retrying over TCP");
            reply = self.tcp(server, &sent, edns, deadline).await?;
        }
        Ok(reply)
    }
}

/// A non-blocking UDP socket (not yet registered with the runtime) bound on
/// `ip` with a source port drawn from the CSPRNG (RFC 5452 §4.5), falling
/// back to the kernel's choice if every random pick is taken.
fn bind_random_port(ip: IpAddr) -> Result<Socket, UpstreamError> {
    let domain = match ip {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let socket =
        Socket::new(domain, Type::DGRAM.nonblocking(), None).map_err(UpstreamError::from_io)?;
    for _ in 0..SOURCE_PORT_ATTEMPTS {
        let port = rand::random_range(MIN_SOURCE_PORT..=u16::MAX);
        // A failed bind leaves the socket unbound: the next port is tried
        // on the same socket.
        match socket.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(UpstreamError::from_io(e)),
        }
    }
    socket
        .bind(&SocketAddr::new(ip, 0).into())
        .map_err(UpstreamError::from_io)?;
    Ok(socket)
}

/// Whether two replies carry the same data: rcode and every section's
/// records, in any order, TTLs aside (names compare case-insensitively).
fn same_data(a: &Message, b: &Message) -> bool {
    fn same(x: &[Record], y: &[Record]) -> bool {
        let strip = |r: &Record| {
            let mut r = r.clone();
            r.ttl = 0;
            r
        };
        let x: Vec<Record> = x.iter().map(strip).collect();
        let y: Vec<Record> = y.iter().map(strip).collect();
        x.len() == y.len() && x.iter().all(|r| y.contains(r)) && y.iter().all(|r| x.contains(r))
    }
    a.metadata.response_code == b.metadata.response_code
        && same(&a.answers, &b.answers)
        && same(&a.authorities, &b.authorities)
        && same(&a.additionals, &b.additionals)
}

/// Builds the query message: random ID (RFC 5452 §4.3), RD=0, the name
/// exactly as in `sent`, EDNS0 with our payload size when `edns`. Written
/// straight into the buffer, byte for byte what hickory's encoder makes of
/// the same `Message` (a test holds them equal) without building one.
fn encode(sent: &Sent, edns: bool) -> Result<(u16, Vec<u8>), UpstreamError> {
    let id: u16 = rand::random();
    let mut out = Vec::with_capacity(HEADER_LEN + MAX_NAME_WIRE + 4 + OPT_LEN);
    out.extend_from_slice(&id.to_be_bytes());
    // QR=0, OPCODE=QUERY, AA=TC=RD=RA=Z=AD=CD=0, RCODE=0.
    out.extend_from_slice(&[0, 0]);
    // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 1 with the OPT record.
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in sent.name.iter() {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|&l| l <= MAX_LABEL_LEN)
            .ok_or_else(|| UpstreamError::Malformed("label too long".into()))?;
        out.push(len);
        out.extend_from_slice(label);
    }
    out.push(0);
    if out.len() - HEADER_LEN > MAX_NAME_WIRE {
        return Err(UpstreamError::Malformed("name too long".into()));
    }
    out.extend_from_slice(&u16::from(sent.qtype).to_be_bytes());
    out.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
    if edns {
        // RFC 6891 §6.1.2-3: root owner, TYPE OPT, CLASS the UDP payload
        // size, TTL extended RCODE 0, version 0 and the DO bit, no options.
        out.push(0);
        out.extend_from_slice(&u16::from(RecordType::OPT).to_be_bytes());
        out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        let flags: u16 = if sent.dnssec_ok { EDNS_DO } else { 0 };
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    }
    Ok((id, out))
}

/// Longest name in wire form (RFC 1035 §3.1).
const MAX_NAME_WIRE: usize = 255;
/// Longest label (RFC 1035 §3.1).
const MAX_LABEL_LEN: u8 = 63;
/// Size of an OPT record without options (RFC 6891 §6.1.2).
const OPT_LEN: usize = 11;
/// The DO bit in the OPT record's flags (RFC 3225 §3).
const EDNS_DO: u16 = 0x8000;

/// Parses a reply and checks it answers our query: QR=1, same ID, exactly
/// one question equal to ours (name, type, class; the name byte for byte
/// under [`CaseMatch::Exact`]). The message comes back with the question
/// name in the caller's case ([`with_callers_case`]); it is parsed once.
fn check(bytes: &[u8], id: u16, sent: &Sent, case: CaseMatch) -> Result<Message, Mismatch> {
    let restored = with_callers_case(bytes, sent);
    let msg = Message::from_vec(restored.as_deref().unwrap_or(bytes))
        .map_err(|_| Mismatch::Unparsable)?;
    if msg.metadata.message_type != MessageType::Response {
        return Err(Mismatch::Unparsable);
    }
    if msg.metadata.id != id {
        return Err(Mismatch::WrongId);
    }
    match msg.queries.as_slice() {
        [q] if q.name() == &sent.name
            && q.query_type() == sent.qtype
            && q.query_class() == DNSClass::IN =>
        {
            // A restored question was the name sent byte for byte: its case
            // matched.
            if restored.is_none() && case == CaseMatch::Exact && !q.name().eq_case(&sent.name) {
                return Err(Mismatch::WrongCase);
            }
            Ok(msg)
        }
        // A FORMERR may legitimately come back without the question.
        [] if msg.metadata.response_code == ResponseCode::FormErr => Ok(msg),
        _ => Err(Mismatch::WrongQuestion),
    }
}

/// The reply with its question name written over in the caller's case,
/// ready to be parsed.
///
/// Servers compress names in their reply against the question, so the 0x20
/// case we sent spreads to owner names and targets (`alIAs.eXaMPLE.tEST.`).
/// The question is the first name of the message, written out in full right
/// after the 12-byte header; when the reply has one question and its bytes
/// are exactly the name we sent, writing the caller's case over them (the
/// same length: only letters differ) gives every compressed name its
/// original case. Done on the bytes before the one parse, which then reads
/// the same message as parsing the reply and restoring afterwards would,
/// but for the case of those letters. `None` when there is nothing to
/// restore or the bytes are not where they must be: the reply is then
/// parsed as it came.
fn with_callers_case(bytes: &[u8], sent: &Sent) -> Option<Vec<u8>> {
    if sent.name.eq_case(&sent.original) {
        return None;
    }
    // QDCOUNT (RFC 1035 §4.1.1): one question, so the name at the end of
    // the header is the question's.
    if bytes.get(4..6) != Some(&[0, 1][..]) {
        return None;
    }
    // The name as sent, in wire form: length-prefixed labels, then the
    // root's zero byte.
    let mut at = HEADER_LEN;
    for label in sent.name.iter() {
        let end = at + 1 + label.len();
        if bytes.get(at) != Some(&(label.len() as u8)) || bytes.get(at + 1..end) != Some(label) {
            return None;
        }
        at = end;
    }
    if bytes.get(at) != Some(&0) {
        return None;
    }
    let mut patched = bytes.to_vec();
    let mut to = HEADER_LEN;
    for label in sent.original.iter() {
        let end = to + 1 + label.len();
        if end > at || patched[to] != label.len() as u8 {
            return None;
        }
        patched[to + 1..end].copy_from_slice(label);
        to = end;
    }
    (to == at).then_some(patched)
}

/// Length of the DNS header (RFC 1035 §4.1.1); the question follows it.
const HEADER_LEN: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use hickory_proto::op::{Edns, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    use hickory_proto::serialize::binary::BinEncodable;
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    /// Queries (datagrams, and connections) a test responder serves before
    /// its loops end on their own: keeps every loop bounded even if a test
    /// forgets to stop it.
    const RESPONDER_MAX_QUERIES: usize = 64;
    /// Per-call timeout where a reply is expected: loopback answers in well
    /// under a millisecond, so this is only reached by a bug.
    const CALL_TIMEOUT: Duration = Duration::from_secs(1);
    /// Per-call timeout where no matching reply ever comes.
    const SHORT_TIMEOUT: Duration = Duration::from_millis(300);
    /// How late past its timeout a call may return on a loaded test machine.
    const TIMEOUT_SLACK: Duration = Duration::from_millis(500);
    /// Queries sent to check that 0x20 varies the case.
    const CASE_SAMPLES: usize = 20;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn sent(s: &str) -> Sent {
        Sent {
            name: name(s),
            original: name(s),
            qtype: RecordType::A,
            dnssec_ok: false,
        }
    }

    fn query(s: &str) -> UpstreamQuery {
        UpstreamQuery {
            name: name(s),
            qtype: RecordType::A,
            edns: true,
            dnssec_ok: false,
        }
    }

    fn reply_to(bytes: &[u8], tweak: impl FnOnce(&mut Message)) -> Vec<u8> {
        let mut m = Message::from_vec(bytes).unwrap();
        m.metadata.message_type = MessageType::Response;
        tweak(&mut m);
        m.to_vec().unwrap()
    }

    #[test]
    fn reply_must_carry_our_id_and_question() {
        let s = sent("www.example.");
        let (id, bytes) = encode(&s, true).unwrap();
        let ok = reply_to(&bytes, |_| {});
        assert!(check(&ok, id, &s, CaseMatch::Exact).is_ok());
        let wrong_id = reply_to(&bytes, |m| m.metadata.id ^= 1);
        assert_eq!(
            check(&wrong_id, id, &s, CaseMatch::Exact).err(),
            Some(Mismatch::WrongId)
        );
        let other = reply_to(&bytes, |m| {
            m.queries[0].set_name(name("evil.example."));
        });
        assert_eq!(
            check(&other, id, &s, CaseMatch::Insensitive).err(),
            Some(Mismatch::WrongQuestion)
        );
        let other_type = reply_to(&bytes, |m| {
            m.queries[0].set_query_type(RecordType::AAAA);
        });
        assert_eq!(
            check(&other_type, id, &s, CaseMatch::Insensitive).err(),
            Some(Mismatch::WrongQuestion)
        );
        let query_not_reply = Message::from_vec(&bytes).unwrap().to_vec().unwrap();
        assert_eq!(
            check(&query_not_reply, id, &s, CaseMatch::Exact).err(),
            Some(Mismatch::Unparsable)
        );
        assert_eq!(
            check(&[0u8; 5], id, &s, CaseMatch::Exact).err(),
            Some(Mismatch::Unparsable)
        );
    }

    #[test]
    fn the_callers_case_is_restored_in_compressed_names() {
        let s = Sent {
            name: name("WwW.ExAmPlE."),
            original: name("www.example."),
            qtype: RecordType::CNAME,
            dnssec_ok: false,
        };
        let mut m = Message::new(9, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(s.name.clone(), RecordType::CNAME));
        m.add_answer(Record::from_rdata(
            s.name.clone(),
            60,
            RData::CNAME(hickory_proto::rr::rdata::CNAME(name("x.ExAmPlE."))),
        ));
        let got = check(&m.to_vec().unwrap(), 9, &s, CaseMatch::Exact).unwrap();
        assert!(got.queries[0].name().eq_case(&name("www.example.")));
        assert!(got.answers[0].name.eq_case(&name("www.example.")));
        match &got.answers[0].data {
            RData::CNAME(t) => assert!(t.0.eq_case(&name("x.example.")), "{}", t.0),
            other => panic!("{other:?}"),
        }
    }

    /// What `check` returned before it restored the case ahead of the
    /// parse: parse the reply, judge it, then parse it again with the
    /// caller's case written over the question.
    fn check_parsing_twice(
        bytes: &[u8],
        id: u16,
        sent: &Sent,
        case: CaseMatch,
    ) -> Result<Message, Mismatch> {
        let msg = Message::from_vec(bytes).map_err(|_| Mismatch::Unparsable)?;
        if msg.metadata.message_type != MessageType::Response {
            return Err(Mismatch::Unparsable);
        }
        if msg.metadata.id != id {
            return Err(Mismatch::WrongId);
        }
        match msg.queries.as_slice() {
            [q] if q.name() == &sent.name
                && q.query_type() == sent.qtype
                && q.query_class() == DNSClass::IN =>
            {
                if case == CaseMatch::Exact && !q.name().eq_case(&sent.name) {
                    return Err(Mismatch::WrongCase);
                }
                let restored = (|| {
                    if sent.name.eq_case(&sent.original) {
                        return None;
                    }
                    let sent_wire = sent.name.to_bytes().ok()?;
                    let original_wire = sent.original.to_bytes().ok()?;
                    let question = bytes.get(HEADER_LEN..HEADER_LEN + sent_wire.len())?;
                    if question != sent_wire.as_slice() || original_wire.len() != sent_wire.len() {
                        return None;
                    }
                    let mut patched = bytes.to_vec();
                    patched[HEADER_LEN..HEADER_LEN + original_wire.len()]
                        .copy_from_slice(&original_wire);
                    Message::from_vec(&patched).ok()
                })();
                Ok(restored.unwrap_or(msg))
            }
            [] if msg.metadata.response_code == ResponseCode::FormErr => Ok(msg),
            _ => Err(Mismatch::WrongQuestion),
        }
    }

    #[test]
    fn restoring_the_case_before_the_parse_changes_no_outcome() {
        let s = Sent {
            name: name("WwW.ExAmPlE."),
            original: name("www.example."),
            qtype: RecordType::A,
            dnssec_ok: false,
        };
        let (id, bytes) = encode(&s, true).unwrap();
        let with_answer = |m: &mut Message| {
            m.add_answer(Record::from_rdata(
                m.queries[0].name().clone(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            ));
        };
        let replies: Vec<Vec<u8>> = vec![
            reply_to(&bytes, |_| {}),
            reply_to(&bytes, with_answer),
            reply_to(&bytes, |m| {
                let lower = m.queries[0].name().to_lowercase();
                m.queries[0].set_name(lower);
                with_answer(m);
            }),
            reply_to(&bytes, |m| m.metadata.id ^= 1),
            reply_to(&bytes, |m| {
                m.queries[0].set_query_type(RecordType::AAAA);
            }),
            reply_to(&bytes, |m| {
                m.queries[0].set_query_class(DNSClass::CH);
            }),
            reply_to(&bytes, |m| {
                m.queries.push(m.queries[0].clone());
            }),
            reply_to(&bytes, |m| {
                m.queries.clear();
                m.metadata.response_code = ResponseCode::FormErr;
            }),
            reply_to(&bytes, |m| m.metadata.message_type = MessageType::Query),
            bytes[..HEADER_LEN + 3].to_vec(),
            Vec::new(),
        ];
        for (i, reply) in replies.iter().enumerate() {
            for case in [CaseMatch::Exact, CaseMatch::Insensitive] {
                for sent in [&s, &sent("www.example.")] {
                    assert_eq!(
                        check(reply, id, sent, case),
                        check_parsing_twice(reply, id, sent, case),
                        "reply {i}, {case:?}, {}",
                        sent.name
                    );
                }
            }
        }
        let got = check(&replies[1], id, &s, CaseMatch::Exact).unwrap();
        assert!(got.queries[0].name().eq_case(&s.original));
        assert!(got.answers[0].name.eq_case(&s.original));
    }

    #[test]
    fn case_must_match_exactly_only_under_0x20() {
        let s = sent("wWw.ExAmple.");
        let (id, bytes) = encode(&s, true).unwrap();
        let lowered = reply_to(&bytes, |m| {
            let lower = m.queries[0].name().to_lowercase();
            m.queries[0].set_name(lower);
        });
        assert_eq!(
            check(&lowered, id, &s, CaseMatch::Exact).err(),
            Some(Mismatch::WrongCase)
        );
        assert!(check(&lowered, id, &s, CaseMatch::Insensitive).is_ok());
        let echoed = reply_to(&bytes, |_| {});
        let got = check(&echoed, id, &s, CaseMatch::Exact).unwrap();
        assert!(got.queries[0].name().eq_case(&s.name));
    }

    /// The query as hickory's encoder writes it, for comparison.
    fn encode_with_hickory(sent: &Sent, edns: bool, id: u16) -> Vec<u8> {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = false;
        let mut q = Query::query(sent.name.clone(), sent.qtype);
        q.set_query_class(DNSClass::IN);
        msg.add_query(q);
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(EDNS_PAYLOAD);
            e.set_version(0);
            e.set_dnssec_ok(sent.dnssec_ok);
            msg.set_edns(e);
        }
        msg.to_vec().unwrap()
    }

    #[test]
    fn queries_are_the_bytes_hickory_would_encode() {
        let long = format!("{}.{}.", "a".repeat(63), "B".repeat(63));
        let names = [
            ".",
            "www.example.",
            "WwW.eXaMpLe.CoM.",
            "xn--bcher-kva.example.",
            "a.b.c.d.e.f.g.h.i.j.",
            "_dmarc.mail.example.",
            r"a\.b.example.",
            long.as_str(),
        ];
        let types = [
            RecordType::A,
            RecordType::AAAA,
            RecordType::NS,
            RecordType::DS,
            RecordType::DNSKEY,
            RecordType::ANY,
            RecordType::Unknown(65_280),
        ];
        for n in names {
            for qtype in types {
                for dnssec_ok in [false, true] {
                    for edns in [false, true] {
                        let s = Sent {
                            name: name(n),
                            original: name(n),
                            qtype,
                            dnssec_ok,
                        };
                        let (id, bytes) = encode(&s, edns).unwrap();
                        assert_eq!(
                            bytes,
                            encode_with_hickory(&s, edns, id),
                            "{n} {qtype} do={dnssec_ok} edns={edns}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn queries_are_iterative_with_edns_1232() {
        let s = sent("www.example.");
        let (_, bytes) = encode(&s, true).unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert!(!m.metadata.recursion_desired);
        assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), Some(EDNS_PAYLOAD));
        let (_, bytes) = encode(&s, false).unwrap();
        assert!(Message::from_vec(&bytes).unwrap().edns.is_none());
    }

    // ---- A scripted responder on loopback ------------------------------

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Transport {
        Udp,
        Tcp,
    }

    /// One query as the responder received it.
    #[derive(Debug, Clone)]
    struct Seen {
        name: Name,
        edns: bool,
        transport: Transport,
    }

    /// Given the query's index (over both transports, from 0), the query and
    /// its transport, the messages to send back, in order (over TCP each is
    /// framed on the same connection).
    type Script = dyn Fn(usize, &Message, Transport) -> Vec<Message> + Send + Sync;

    /// A UDP and a TCP listener on one `127.55.<octet>.2` port, answering per
    /// a script; stopped when dropped.
    struct Responder {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<Seen>>>,
        tasks: Vec<JoinHandle<()>>,
    }

    impl Responder {
        async fn start(
            octet: u8,
            script: impl Fn(usize, &Message, Transport) -> Vec<Message> + Send + Sync + 'static,
        ) -> Self {
            let ip = Ipv4Addr::new(127, 55, octet, 2);
            let udp = UdpSocket::bind((ip, 0)).await.unwrap();
            let addr = udp.local_addr().unwrap();
            let tcp = TcpListener::bind(addr).await.unwrap();
            let script: Arc<Script> = Arc::new(script);
            let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();

            let (udp_script, udp_seen) = (script.clone(), seen.clone());
            let udp_task = tokio::spawn(async move {
                let mut buf = vec![0u8; MAX_UDP_REPLY];
                for _ in 0..RESPONDER_MAX_QUERIES {
                    let Ok((len, peer)) = udp.recv_from(&mut buf).await else {
                        return;
                    };
                    let Ok(msg) = Message::from_vec(&buf[..len]) else {
                        continue;
                    };
                    let n = record(&udp_seen, &msg, Transport::Udp);
                    for reply in udp_script(n, &msg, Transport::Udp) {
                        udp.send_to(&reply.to_vec().unwrap(), peer).await.unwrap();
                    }
                }
            });
            let (tcp_script, tcp_seen) = (script, seen.clone());
            let tcp_task = tokio::spawn(async move {
                for _ in 0..RESPONDER_MAX_QUERIES {
                    let Ok((mut stream, _)) = tcp.accept().await else {
                        return;
                    };
                    let Ok(len) = stream.read_u16().await else {
                        continue;
                    };
                    let mut buf = vec![0u8; usize::from(len)];
                    if stream.read_exact(&mut buf).await.is_err() {
                        continue;
                    }
                    let Ok(msg) = Message::from_vec(&buf) else {
                        continue;
                    };
                    let n = record(&tcp_seen, &msg, Transport::Tcp);
                    for reply in tcp_script(n, &msg, Transport::Tcp) {
                        let bytes = reply.to_vec().unwrap();
                        let len = u16::try_from(bytes.len()).unwrap();
                        stream.write_all(&len.to_be_bytes()).await.unwrap();
                        stream.write_all(&bytes).await.unwrap();
                    }
                }
            });
            Self {
                addr,
                seen,
                tasks: vec![udp_task, tcp_task],
            }
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Drop for Responder {
        fn drop(&mut self) {
            for task in &self.tasks {
                task.abort();
            }
        }
    }

    /// Notes a received query; returns its index.
    fn record(seen: &Mutex<Vec<Seen>>, msg: &Message, transport: Transport) -> usize {
        let mut seen = seen.lock().unwrap();
        seen.push(Seen {
            name: msg.queries[0].name().clone(),
            edns: msg.edns.is_some(),
            transport,
        });
        seen.len() - 1
    }

    /// An empty authoritative reply echoing the query's ID, question (case
    /// included) and EDNS.
    fn reply(query: &Message) -> Message {
        let mut m = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        for q in &query.queries {
            m.add_query(q.clone());
        }
        if query.edns.is_some() {
            let mut e = Edns::new();
            e.set_max_payload(EDNS_PAYLOAD);
            m.set_edns(e);
        }
        m
    }

    /// The address every test answer carries (documentation range: data
    /// only, never contacted).
    const ANSWER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    /// [`reply`] with one A record for the question name.
    fn answer(query: &Message) -> Message {
        let mut m = reply(query);
        let owner = query.queries[0].name().clone();
        m.add_answer(Record::from_rdata(owner, 300, RData::A(A(ANSWER_ADDR))));
        m
    }

    fn upstream(octet: u8, use_0x20: bool) -> SocketUpstream {
        SocketUpstream::new(UpstreamConfig {
            use_0x20,
            source_v4: Some(Ipv4Addr::new(127, 55, octet, 1)),
            source_v6: None,
        })
    }

    fn answered(reply: &Message) -> bool {
        reply.metadata.response_code == ResponseCode::NoError
            && !reply.metadata.truncation
            && matches!(
                reply.answers.as_slice(),
                [r] if r.data == RData::A(A(ANSWER_ADDR))
            )
    }

    // ---- Over sockets ---------------------------------------------------

    #[tokio::test]
    async fn with_0x20_each_query_gets_a_fresh_random_case() {
        const OCTET: u8 = 1;
        // 12 letters.
        let original = query("abcdef.ghijkl.");
        let responder = Responder::start(OCTET, |_, q, _| vec![answer(q)]).await;
        let up = upstream(OCTET, true);
        for _ in 0..CASE_SAMPLES {
            let r = up.query(responder.addr, &original, CALL_TIMEOUT).await;
            assert!(answered(&r.unwrap()));
        }
        let seen = responder.seen();
        assert_eq!(seen.len(), CASE_SAMPLES, "no fallback expected: {seen:?}");
        for s in &seen {
            assert_eq!(s.name, original.name, "same name but for case");
        }
        let cases: HashSet<String> = seen.iter().map(|s| s.name.to_ascii()).collect();
        assert!(cases.len() > 1, "every query had the same case: {cases:?}");
    }

    #[tokio::test]
    async fn without_0x20_the_name_goes_out_as_given() {
        const OCTET: u8 = 2;
        let original = query("AbcDef.gHIjkl.");
        let responder = Responder::start(OCTET, |_, q, _| vec![answer(q)]).await;
        let up = upstream(OCTET, false);
        for _ in 0..CASE_SAMPLES {
            let r = up.query(responder.addr, &original, CALL_TIMEOUT).await;
            assert!(answered(&r.unwrap()));
        }
        let seen = responder.seen();
        assert_eq!(seen.len(), CASE_SAMPLES);
        for s in &seen {
            assert!(s.name.eq_case(&original.name), "case changed: {}", s.name);
        }
    }

    #[tokio::test]
    async fn a_server_that_lowercases_gets_one_retry_without_0x20() {
        const OCTET: u8 = 3;
        // 42 letters: the random case is all lowercase (and so echoed
        // "correctly") with probability 2^-42.
        let original = query("TheQuickBrownFox.JumpsOverTheLazyDog.Example.");
        let responder = Responder::start(OCTET, |_, q, _| {
            let mut lowered = q.clone();
            let lower = lowered.queries[0].name().to_lowercase();
            lowered.queries[0].set_name(lower);
            vec![answer(&lowered)]
        })
        .await;
        let before = dropped_replies();
        let r = upstream(OCTET, true)
            .query(responder.addr, &original, CALL_TIMEOUT)
            .await;
        assert!(answered(&r.unwrap()));
        let seen = responder.seen();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(!seen[0].name.eq_case(&original.name), "{seen:?}");
        assert!(seen[1].name.eq_case(&original.name), "{seen:?}");
        assert!(dropped_replies().wrong_case > before.wrong_case);
    }

    #[tokio::test]
    async fn a_forgery_in_the_wrong_case_cannot_switch_0x20_off_and_win() {
        const OCTET: u8 = 9;
        let original = query("TheQuickBrownFox.JumpsOverTheLazyDog.Example.");
        let given = original.name.clone();
        // The 0x20 query is "answered" first by a forger who got port and
        // ID right but not the case; the fallback query (sent in the case
        // given) gets the true answer.
        let responder = Responder::start(OCTET, move |_, q, _| {
            if q.queries[0].name().eq_case(&given) {
                return vec![answer(q)];
            }
            let mut forged = reply(q);
            let lower = q.queries[0].name().to_lowercase();
            forged.queries[0].set_name(lower.clone());
            forged.add_answer(Record::from_rdata(
                lower,
                300,
                RData::A(A([6, 6, 6, 6].into())),
            ));
            vec![forged]
        })
        .await;
        let r = upstream(OCTET, true)
            .query(responder.addr, &original, CALL_TIMEOUT)
            .await;
        assert!(
            matches!(r, Err(UpstreamError::Malformed(_))),
            "the fallback's answer differs from the wrong-case one: neither is taken, got {r:?}"
        );
        assert_eq!(responder.seen().len(), 2);
    }

    #[tokio::test]
    async fn a_reply_for_another_name_is_dropped_and_the_wait_goes_on() {
        const OCTET: u8 = 4;
        let original = query("www.example.");
        let responder = Responder::start(OCTET, |_, q, _| {
            let mut forged = answer(q);
            forged.queries[0].set_name(name("evil.example."));
            forged.answers.clear();
            forged.add_answer(Record::from_rdata(
                name("evil.example."),
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 66))),
            ));
            vec![forged, answer(q)]
        })
        .await;
        let before = dropped_replies();
        let r = upstream(OCTET, true)
            .query(responder.addr, &original, CALL_TIMEOUT)
            .await
            .unwrap();
        assert!(answered(&r));
        assert_eq!(r.queries[0].name(), &original.name);
        assert_eq!(responder.seen().len(), 1);
        assert!(dropped_replies().wrong_question > before.wrong_question);
    }

    #[tokio::test]
    async fn a_wrong_id_alone_ends_in_timeout() {
        const OCTET: u8 = 5;
        let responder = Responder::start(OCTET, |_, q, _| {
            let mut wrong = answer(q);
            wrong.metadata.id = wrong.metadata.id.wrapping_add(1);
            vec![wrong]
        })
        .await;
        let before = dropped_replies();
        let start = std::time::Instant::now();
        let r = upstream(OCTET, true)
            .query(responder.addr, &query("www.example."), SHORT_TIMEOUT)
            .await;
        let elapsed = start.elapsed();
        assert!(matches!(r, Err(UpstreamError::Timeout)), "{r:?}");
        assert!(elapsed >= SHORT_TIMEOUT, "{elapsed:?}");
        assert!(elapsed < SHORT_TIMEOUT + TIMEOUT_SLACK, "{elapsed:?}");
        assert!(dropped_replies().wrong_id > before.wrong_id);
        assert_eq!(responder.seen().len(), 1);
    }

    #[tokio::test]
    async fn truncation_goes_to_tcp_with_the_same_case() {
        const OCTET: u8 = 6;
        let responder = Responder::start(OCTET, |_, q, transport| match transport {
            Transport::Udp => {
                let mut tc = reply(q);
                tc.metadata.truncation = true;
                vec![tc]
            }
            Transport::Tcp => vec![answer(q)],
        })
        .await;
        let r = upstream(OCTET, true)
            .query(
                responder.addr,
                &query("www.example-with-letters.org."),
                CALL_TIMEOUT,
            )
            .await;
        assert!(answered(&r.unwrap()));
        let seen = responder.seen();
        let transports: Vec<_> = seen.iter().map(|s| s.transport).collect();
        assert_eq!(transports, [Transport::Udp, Transport::Tcp]);
        assert!(seen[1].name.eq_case(&seen[0].name), "{seen:?}");
        assert!(seen[1].edns);
    }

    #[tokio::test]
    async fn formerr_without_opt_is_retried_without_edns() {
        const OCTET: u8 = 7;
        // Old servers answer FORMERR with or without the question.
        for keep_question in [true, false] {
            let responder = Responder::start(OCTET, move |_, q, _| {
                if q.edns.is_none() {
                    return vec![answer(q)];
                }
                let mut formerr = reply(q);
                formerr.metadata.response_code = ResponseCode::FormErr;
                formerr.edns = None;
                if !keep_question {
                    formerr.queries.clear();
                }
                vec![formerr]
            })
            .await;
            let r = upstream(OCTET, true)
                .query(responder.addr, &query("www.example."), CALL_TIMEOUT)
                .await;
            assert!(answered(&r.unwrap()));
            let edns: Vec<_> = responder.seen().iter().map(|s| s.edns).collect();
            assert_eq!(edns, [true, false], "keep_question: {keep_question}");
        }
    }

    #[tokio::test]
    async fn after_the_edns_fallback_tcp_goes_without_edns_too() {
        const OCTET: u8 = 8;
        let responder = Responder::start(OCTET, |_, q, transport| {
            if q.edns.is_some() {
                let mut formerr = reply(q);
                formerr.metadata.response_code = ResponseCode::FormErr;
                formerr.edns = None;
                return vec![formerr];
            }
            match transport {
                Transport::Udp => {
                    let mut tc = reply(q);
                    tc.metadata.truncation = true;
                    vec![tc]
                }
                Transport::Tcp => vec![answer(q)],
            }
        })
        .await;
        let r = upstream(OCTET, false)
            .query(responder.addr, &query("www.example."), CALL_TIMEOUT)
            .await;
        assert!(answered(&r.unwrap()));
        let seen: Vec<_> = responder
            .seen()
            .iter()
            .map(|s| (s.transport, s.edns))
            .collect();
        assert_eq!(
            seen,
            [
                (Transport::Udp, true),
                (Transport::Udp, false),
                (Transport::Tcp, false)
            ]
        );
    }
}
