//! A simulated DNS network behind rootward's `Upstream` seam: no sockets.
//!
//! Servers are addresses mapped to a [`Responder`] (the same zone data and
//! behaviours the socket test authority uses), so a test can make a server
//! dead, lame, lying or slow and count what each one was asked. A dead
//! server costs the walker `timeout` of (tokio) time: with a paused clock
//! the test runs instantly.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::RecordType;
use rootward::upstream::{Upstream, UpstreamError, UpstreamQuery};

use super::authority::Zone;
use super::authority_server::{Behaviour, Reply, Responder, Transport};

/// The longest a simulated query waits: a dead server costs the walker the
/// smaller of this and the timeout it asked for.
pub const SIM_TIMEOUT: Duration = Duration::from_millis(800);

/// The simulated network.
#[derive(Default)]
pub struct SimNet {
    servers: Mutex<HashMap<IpAddr, Arc<Responder>>>,
    /// When set, IPv6 destinations fail at once with ENETUNREACH, as on a
    /// host without IPv6 connectivity.
    no_ipv6_route: AtomicBool,
    /// Queries that failed for lack of a route.
    unroutable: AtomicUsize,
}

impl SimNet {
    /// An empty network.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Puts a server serving `zones` at `addr`; returns its handle.
    pub fn serve(&self, addr: &str, zones: Vec<Zone>) -> Arc<Responder> {
        let ip: IpAddr = addr.parse().expect("server address");
        let r = Arc::new(Responder::new(ip, zones, Behaviour::Normal));
        self.servers.lock().unwrap().insert(ip, r.clone());
        r
    }

    /// The server at `addr`.
    pub fn server(&self, addr: &str) -> Arc<Responder> {
        let ip: IpAddr = addr.parse().expect("server address");
        self.servers.lock().unwrap()[&ip].clone()
    }

    /// Makes every IPv6 destination unroutable (or routable again).
    pub fn set_no_ipv6_route(&self, on: bool) {
        self.no_ipv6_route.store(on, Ordering::SeqCst);
    }

    /// Queries that failed for lack of a route.
    pub fn unroutable(&self) -> usize {
        self.unroutable.load(Ordering::SeqCst)
    }

    /// Queries received by every server, in all.
    pub fn total(&self) -> usize {
        self.servers
            .lock()
            .unwrap()
            .values()
            .map(|s| s.total())
            .sum()
    }

    /// Queries for `name`/`qtype` received by every server.
    pub fn count(&self, name: &str, qtype: RecordType) -> usize {
        self.servers
            .lock()
            .unwrap()
            .values()
            .map(|s| s.count(name, qtype))
            .sum()
    }
}

impl Upstream for SimNet {
    async fn query(
        &self,
        server: SocketAddr,
        query: &UpstreamQuery,
        timeout: Duration,
    ) -> Result<Message, UpstreamError> {
        let timeout = timeout.min(SIM_TIMEOUT);
        assert_eq!(server.port(), 53, "the walker queries port 53");
        if server.is_ipv6() && self.no_ipv6_route.load(Ordering::SeqCst) {
            self.unroutable.fetch_add(1, Ordering::SeqCst);
            return Err(UpstreamError::from_io(
                io::ErrorKind::NetworkUnreachable.into(),
            ));
        }
        let responder = self.servers.lock().unwrap().get(&server.ip()).cloned();
        let Some(responder) = responder else {
            // Nobody there: like a black-holed address.
            tokio::time::sleep(timeout).await;
            return Err(UpstreamError::Timeout);
        };
        let reply = exchange(&responder, query, query.edns, timeout).await?;
        // Like the socket upstream: FORMERR without OPT to an EDNS query is
        // asked again without EDNS (RFC 6891 §7).
        if query.edns
            && reply.metadata.response_code == ResponseCode::FormErr
            && reply.edns.is_none()
        {
            return exchange(&responder, query, false, timeout).await;
        }
        Ok(reply)
    }
}

/// One query to one simulated server, over "UDP".
async fn exchange(
    responder: &Responder,
    query: &UpstreamQuery,
    edns: bool,
    timeout: Duration,
) -> Result<Message, UpstreamError> {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(query.name.clone(), query.qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        msg.set_edns(e);
    }
    match responder.handle(Transport::Udp, &msg) {
        Reply::None => {
            tokio::time::sleep(timeout).await;
            Err(UpstreamError::Timeout)
        }
        Reply::Now(m) => Ok(m),
        Reply::After(d, m) if d < timeout => {
            tokio::time::sleep(d).await;
            Ok(m)
        }
        Reply::After(..) => {
            tokio::time::sleep(timeout).await;
            Err(UpstreamError::Timeout)
        }
    }
}
