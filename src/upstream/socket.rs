//! The real upstream: UDP with TCP fallback, on fresh random sockets.
//!
//! One query's path: a fresh UDP socket bound to a random source port
//! (chosen here from a CSPRNG, not left to the kernel) and *connected* to the
//! server, so the kernel drops datagrams from any other address or port (the
//! SAD DNS mitigation Unbound and PowerDNS use); a random 16-bit ID; EDNS0
//! advertising 1232 bytes (DNS Flag Day 2020). A datagram is accepted only
//! if it parses, is a response, and carries our ID and our exact question;
//! anything else is dropped and the wait goes on until the deadline. FORMERR
//! to an EDNS query is retried once without EDNS (RFC 6891 §7); TC=1 is
//! retried over TCP (RFC 7766 §5).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::DNSClass;
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
/// query tolerates before giving up on the server: bounds a flood aimed at
/// one port.
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

    async fn udp(
        &self,
        server: SocketAddr,
        query: &UpstreamQuery,
        edns: bool,
        deadline: Instant,
    ) -> Result<Message, UpstreamError> {
        let socket = bind_random_port(self.source_ip(server)).await?;
        socket
            .connect(server)
            .await
            .map_err(UpstreamError::from_io)?;
        let (id, bytes) = encode(query, edns)?;
        socket.send(&bytes).await.map_err(UpstreamError::from_io)?;
        let mut buf = vec![0u8; MAX_UDP_REPLY];
        for _ in 0..MAX_MISMATCHED_REPLIES {
            let len = match timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => return Err(UpstreamError::Timeout),
                Ok(r) => r.map_err(UpstreamError::from_io)?,
            };
            match accept(&buf[..len], id, query) {
                Some(reply) => return Ok(reply),
                None => trace!(%server, "dropped a datagram that does not match the query"),
            }
        }
        Err(UpstreamError::Malformed(
            "too many mismatched replies".to_string(),
        ))
    }

    async fn tcp(
        &self,
        server: SocketAddr,
        query: &UpstreamQuery,
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
            let (id, bytes) = encode(query, true)?;
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
            accept(&buf, id, query)
                .ok_or_else(|| UpstreamError::Malformed("TCP reply does not match".into()))
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
        let mut reply = self.udp(server, query, true, deadline).await?;
        if reply.metadata.response_code == ResponseCode::FormErr && reply.edns.is_none() {
            // RFC 6891 §7: a server that does not know EDNS answers FORMERR
            // without an OPT; ask again without one.
            debug!(%server, "FORMERR to EDNS query: retrying without EDNS");
            reply = self.udp(server, query, false, deadline).await?;
        }
        if reply.metadata.truncation {
            debug!(%server, "truncated reply: retrying over TCP");
            reply = self.tcp(server, query, deadline).await?;
        }
        Ok(reply)
    }
}

/// Binds a UDP socket on `ip` with a source port drawn from the CSPRNG
/// (RFC 5452 §4.5), falling back to the kernel's choice if every random pick
/// is taken.
async fn bind_random_port(ip: IpAddr) -> Result<UdpSocket, UpstreamError> {
    for _ in 0..SOURCE_PORT_ATTEMPTS {
        let port = rand::random_range(MIN_SOURCE_PORT..=u16::MAX);
        match UdpSocket::bind(SocketAddr::new(ip, port)).await {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(UpstreamError::from_io(e)),
        }
    }
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(UpstreamError::from_io)
}

/// Builds the query message: random ID (RFC 5452 §4.3), RD=0, EDNS0 with our
/// payload size when `edns`.
fn encode(query: &UpstreamQuery, edns: bool) -> Result<(u16, Vec<u8>), UpstreamError> {
    let id: u16 = rand::random();
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    let mut q = Query::query(query.name.clone(), query.qtype);
    q.set_query_class(DNSClass::IN);
    msg.add_query(q);
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        e.set_version(0);
        msg.set_edns(e);
    }
    let bytes = msg
        .to_vec()
        .map_err(|e| UpstreamError::Malformed(e.to_string()))?;
    Ok((id, bytes))
}

/// Parses a reply and checks it answers our query: QR=1, same ID, exactly
/// one question equal to ours (name, type, class).
fn accept(bytes: &[u8], id: u16, query: &UpstreamQuery) -> Option<Message> {
    let msg = Message::from_vec(bytes).ok()?;
    if msg.metadata.message_type != MessageType::Response || msg.metadata.id != id {
        return None;
    }
    match msg.queries.as_slice() {
        [q] if q.name() == &query.name
            && q.query_type() == query.qtype
            && q.query_class() == DNSClass::IN =>
        {
            Some(msg)
        }
        // A FORMERR may legitimately come back without the question.
        [] if msg.metadata.response_code == ResponseCode::FormErr => Some(msg),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{Name, RecordType};

    fn q() -> UpstreamQuery {
        UpstreamQuery {
            name: Name::from_ascii("www.example.").unwrap(),
            qtype: RecordType::A,
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
        let (id, bytes) = encode(&q(), true).unwrap();
        assert!(accept(&reply_to(&bytes, |_| {}), id, &q()).is_some());
        assert!(accept(&reply_to(&bytes, |m| m.metadata.id ^= 1), id, &q()).is_none());
        let other = reply_to(&bytes, |m| {
            m.queries[0].set_name(Name::from_ascii("evil.example.").unwrap());
        });
        assert!(accept(&other, id, &q()).is_none());
        let query_not_reply = Message::from_vec(&bytes).unwrap().to_vec().unwrap();
        assert!(accept(&query_not_reply, id, &q()).is_none());
        assert!(accept(&[0u8; 5], id, &q()).is_none());
    }

    #[test]
    fn queries_are_iterative_with_edns_1232() {
        let (_, bytes) = encode(&q(), true).unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert!(!m.metadata.recursion_desired);
        assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), Some(EDNS_PAYLOAD));
        let (_, bytes) = encode(&q(), false).unwrap();
        assert!(Message::from_vec(&bytes).unwrap().edns.is_none());
    }
}
