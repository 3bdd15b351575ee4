//! Serves test [`Zone`]s on a real address, port 53, over UDP and TCP.
//!
//! Plain std threads (no runtime), so it works from `#[test]` and
//! `#[tokio::test]` alike. The server stops on drop: a stop flag plus short
//! socket timeouts bound every loop, and drop joins every thread it started.
//! How it answers is a [`Behaviour`], switchable at run time; every query it
//! receives is recorded.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};

use super::authority::{Zone, fqdn, response_skeleton};

/// Port every test authority listens on (the resolver always queries 53).
pub const DNS_PORT: u16 = 53;

/// How often blocked socket calls wake up to look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// A TCP connection with no complete query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Replies are never bigger than this (EDNS payload we advertise).
const MAX_UDP: usize = 1232;

/// How a test authority treats the queries it receives.
#[derive(Clone, Debug, Default)]
pub enum Behaviour {
    /// Answers from its zones.
    #[default]
    Normal,
    /// Reads queries and never answers (UDP and TCP).
    Dead,
    /// Answers REFUSED to everything.
    Refused,
    /// Upward referral: NOERROR, AA=0, empty answer, root NS in authority.
    Lame,
    /// Over UDP: TC=1 and empty sections. Over TCP: the full answer.
    TruncateUdp,
    /// Queries carrying an OPT record get FORMERR (without OPT); queries
    /// without OPT get normal answers.
    FormerrOnEdns,
    /// Normal answers plus these records appended to ANSWER and ADDITIONAL.
    Forge(Vec<Record>),
    /// Normal answers, sent after this delay.
    Delay(Duration),
    /// A broken authority: every NODATA answer (including an empty
    /// non-terminal's) comes back NXDOMAIN instead (RFC 9156 §2.3).
    NxdomainForNoData,
}

/// Transport a query arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

/// One recorded query: transport, QNAME (as received), QTYPE, had EDNS.
pub type SeenQuery = (Transport, Name, RecordType, bool);

struct Shared {
    responder: Arc<Responder>,
    stop: AtomicBool,
    /// Connection and delayed-reply threads, joined on drop.
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// The transport-free part of a test authority: its zones, its behaviour
/// and its log of received queries. The socket server and the simulated
/// network (`simnet.rs`) both answer through one of these.
pub struct Responder {
    pub addr: IpAddr,
    zones: Vec<Zone>,
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Vec<SeenQuery>>,
    /// When each query in `seen` arrived, in the same order.
    arrived: Mutex<Vec<Instant>>,
}

/// A cloneable handle to a running server's behaviour and query log.
#[derive(Clone)]
pub struct AuthorityHandle {
    shared: Arc<Shared>,
}

/// A test authority serving `zones` on `addr:53` (UDP and TCP).
pub struct AuthorityServer {
    pub addr: IpAddr,
    handle: AuthorityHandle,
    threads: Vec<JoinHandle<()>>,
}

impl AuthorityServer {
    /// Starts serving `zones` on `addr` port 53 with [`Behaviour::Normal`].
    pub fn start(addr: IpAddr, zones: Vec<Zone>) -> AuthorityServer {
        Self::start_with(addr, zones, Behaviour::Normal)
    }

    /// Starts serving `zones` on `addr` port 53 with `behaviour`.
    pub fn start_with(addr: IpAddr, zones: Vec<Zone>, behaviour: Behaviour) -> AuthorityServer {
        let sockaddr = SocketAddr::new(addr, DNS_PORT);
        let udp = bind_retry(|| UdpSocket::bind(sockaddr), sockaddr, "UDP");
        udp.set_read_timeout(Some(POLL)).unwrap();
        let tcp = bind_retry(|| TcpListener::bind(sockaddr), sockaddr, "TCP");
        tcp.set_nonblocking(true).unwrap();

        let shared = Arc::new(Shared {
            responder: Arc::new(Responder::new(addr, zones, behaviour)),
            stop: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
        });
        let udp_shared = shared.clone();
        let udp_thread = thread::Builder::new()
            .name(format!("auth-udp-{addr}"))
            .spawn(move || udp_loop(udp_shared, udp))
            .unwrap();
        let tcp_shared = shared.clone();
        let tcp_thread = thread::Builder::new()
            .name(format!("auth-tcp-{addr}"))
            .spawn(move || tcp_accept_loop(tcp_shared, tcp))
            .unwrap();
        AuthorityServer {
            addr,
            handle: AuthorityHandle { shared },
            threads: vec![udp_thread, tcp_thread],
        }
    }

    /// The socket address (port 53).
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, DNS_PORT)
    }

    /// A cloneable handle (behaviour switch and query log).
    pub fn handle(&self) -> AuthorityHandle {
        self.handle.clone()
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.handle.set_behaviour(behaviour)
    }

    pub fn queries(&self) -> Vec<SeenQuery> {
        self.handle.queries()
    }

    pub fn count(&self, name: &str, qtype: RecordType) -> usize {
        self.handle.count(name, qtype)
    }

    pub fn count_over(&self, transport: Transport, name: &str, qtype: RecordType) -> usize {
        self.handle.count_over(transport, name, qtype)
    }

    pub fn total(&self) -> usize {
        self.handle.total()
    }

    pub fn arrivals(&self) -> Vec<Instant> {
        self.handle.arrivals()
    }

    pub fn clear(&self) {
        self.handle.clear()
    }
}

impl AuthorityHandle {
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.responder.set_behaviour(behaviour)
    }

    pub fn behaviour(&self) -> Behaviour {
        self.shared.responder.behaviour()
    }

    /// Every query received so far, in arrival order.
    pub fn queries(&self) -> Vec<SeenQuery> {
        self.shared.responder.queries()
    }

    /// Queries received for `name` (case-insensitive, trailing dot optional)
    /// and `qtype`, over any transport.
    pub fn count(&self, name: &str, qtype: RecordType) -> usize {
        self.shared.responder.count(name, qtype)
    }

    /// Like [`count`](Self::count), only over `transport`.
    pub fn count_over(&self, transport: Transport, name: &str, qtype: RecordType) -> usize {
        self.shared.responder.count_over(transport, name, qtype)
    }

    /// Number of queries received in all.
    pub fn total(&self) -> usize {
        self.shared.responder.total()
    }

    /// When each recorded query arrived, in arrival order.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.shared.responder.arrivals()
    }

    /// Forgets the recorded queries.
    pub fn clear(&self) {
        self.shared.responder.clear()
    }
}

impl Responder {
    /// A responder for `zones` at `addr`.
    pub fn new(addr: IpAddr, zones: Vec<Zone>, behaviour: Behaviour) -> Self {
        Self {
            addr,
            zones,
            behaviour: Mutex::new(behaviour),
            seen: Mutex::new(Vec::new()),
            arrived: Mutex::new(Vec::new()),
        }
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub fn behaviour(&self) -> Behaviour {
        self.behaviour.lock().unwrap().clone()
    }

    /// Every query received so far, in arrival order.
    pub fn queries(&self) -> Vec<SeenQuery> {
        self.seen.lock().unwrap().clone()
    }

    /// Queries received for `name` (case-insensitive, trailing dot optional)
    /// and `qtype`, over any transport.
    pub fn count(&self, name: &str, qtype: RecordType) -> usize {
        let name = fqdn(name);
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, n, t, _)| *t == qtype && *n == name)
            .count()
    }

    /// Like [`count`](Self::count), only over `transport`.
    pub fn count_over(&self, transport: Transport, name: &str, qtype: RecordType) -> usize {
        let name = fqdn(name);
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(tr, n, t, _)| *tr == transport && *t == qtype && *n == name)
            .count()
    }

    /// Number of queries received in all.
    pub fn total(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// When each recorded query arrived, in arrival order.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.arrived.lock().unwrap().clone()
    }

    /// Forgets the recorded queries.
    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
        self.arrived.lock().unwrap().clear();
    }
}

impl Drop for AuthorityServer {
    fn drop(&mut self) {
        let shared = &self.handle.shared;
        shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // No new workers can appear once the listeners are joined.
        let workers: Vec<_> = shared.workers.lock().unwrap().drain(..).collect();
        for w in workers {
            let _ = w.join();
        }
    }
}

/// Binds, retrying briefly on EADDRINUSE (a previous test's socket closing).
fn bind_retry<T>(mut bind: impl FnMut() -> std::io::Result<T>, addr: SocketAddr, what: &str) -> T {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match bind() {
            Ok(s) => return s,
            Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("test authority: cannot bind {what} {addr}: {e}"),
        }
    }
}

fn spawn_worker(shared: &Arc<Shared>, name: String, f: impl FnOnce() + Send + 'static) {
    let handle = thread::Builder::new().name(name).spawn(f).unwrap();
    let mut workers = shared.workers.lock().unwrap();
    workers.retain(|w| !w.is_finished());
    workers.push(handle);
}

/// Sleeps `d`, waking every POLL to check the stop flag. False if stopped.
fn sleep_unless_stopped(shared: &Shared, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep((deadline - now).min(POLL));
    }
}

/// What to do with one received query.
pub enum Reply {
    None,
    Now(Message),
    After(Duration, Message),
}

impl Responder {
    /// The zone with the longest origin that contains `name`.
    fn zone_for(&self, name: &Name) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|z| z.contains(name))
            .max_by_key(|z| z.origin.num_labels())
    }

    fn normal_answer(&self, query: &Message) -> Message {
        let zone = query.queries.first().and_then(|q| self.zone_for(q.name()));
        match zone {
            Some(zone) => zone.answer(query),
            None => {
                let mut r = response_skeleton(query);
                r.metadata.response_code = if query.queries.len() == 1 {
                    ResponseCode::Refused
                } else {
                    ResponseCode::FormErr
                };
                r
            }
        }
    }

    /// Records `query` and decides the reply according to the behaviour.
    pub fn handle(&self, transport: Transport, query: &Message) -> Reply {
        if query.metadata.message_type != MessageType::Query {
            return Reply::None;
        }
        let had_edns = query.edns.is_some();
        if let Some(q) = query.queries.first() {
            let mut name = q.name().clone();
            name.set_fqdn(true);
            self.seen
                .lock()
                .unwrap()
                .push((transport, name, q.query_type(), had_edns));
            self.arrived.lock().unwrap().push(Instant::now());
        }
        let behaviour = self.behaviour.lock().unwrap().clone();
        match behaviour {
            Behaviour::Normal => Reply::Now(self.normal_answer(query)),
            Behaviour::Dead => Reply::None,
            Behaviour::Refused => {
                let mut r = response_skeleton(query);
                r.metadata.response_code = ResponseCode::Refused;
                Reply::Now(r)
            }
            Behaviour::Lame => {
                let mut r = response_skeleton(query);
                r.metadata.authoritative = false;
                for ns in ["a.root-servers.net.", "b.root-servers.net."] {
                    r.authorities
                        .push(super::authority::record(&format!(". 518400 NS {ns}")));
                }
                Reply::Now(r)
            }
            Behaviour::TruncateUdp => match transport {
                Transport::Tcp => Reply::Now(self.normal_answer(query)),
                Transport::Udp => {
                    let mut r = response_skeleton(query);
                    r.metadata.truncation = true;
                    Reply::Now(r)
                }
            },
            Behaviour::FormerrOnEdns => {
                if had_edns {
                    let mut r = response_skeleton(query);
                    r.edns = None;
                    r.metadata.response_code = ResponseCode::FormErr;
                    Reply::Now(r)
                } else {
                    Reply::Now(self.normal_answer(query))
                }
            }
            Behaviour::Forge(records) => {
                let mut r = self.normal_answer(query);
                r.answers.extend(records.iter().cloned());
                r.additionals.extend(records);
                Reply::Now(r)
            }
            Behaviour::Delay(d) => Reply::After(d, self.normal_answer(query)),
            Behaviour::NxdomainForNoData => {
                let mut r = self.normal_answer(query);
                if r.metadata.response_code == ResponseCode::NoError
                    && r.metadata.authoritative
                    && r.answers.is_empty()
                {
                    r.metadata.response_code = ResponseCode::NXDomain;
                }
                Reply::Now(r)
            }
        }
    }
}

/// Encodes `response` for UDP: when it exceeds what the client can take
/// (512, or its EDNS payload capped at ours), send it truncated (TC=1).
fn encode_udp(query: &Message, response: &Message) -> Option<Vec<u8>> {
    let limit = match &query.edns {
        Some(e) => (e.max_payload() as usize).clamp(512, MAX_UDP),
        None => 512,
    };
    let bytes = response.to_vec().ok()?;
    if bytes.len() <= limit {
        Some(bytes)
    } else {
        response.truncate().to_vec().ok()
    }
}

fn udp_loop(shared: Arc<Shared>, socket: UdpSocket) {
    let mut buf = vec![0u8; 65535];
    while !shared.stop.load(Ordering::SeqCst) {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            Err(_) => {
                // e.g. ICMP-induced errors; keep serving.
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let Ok(query) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        match shared.responder.handle(Transport::Udp, &query) {
            Reply::None => {}
            Reply::Now(response) => {
                if let Some(bytes) = encode_udp(&query, &response) {
                    let _ = socket.send_to(&bytes, peer);
                }
            }
            Reply::After(delay, response) => {
                let Ok(sock) = socket.try_clone() else {
                    continue;
                };
                let worker_shared = shared.clone();
                spawn_worker(
                    &shared,
                    format!("auth-delay-{}", shared.responder.addr),
                    move || {
                        if sleep_unless_stopped(&worker_shared, delay)
                            && let Some(bytes) = encode_udp(&query, &response)
                        {
                            let _ = sock.send_to(&bytes, peer);
                        }
                    },
                );
            }
        }
    }
}

fn tcp_accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _peer)) => {
                let conn_shared = shared.clone();
                spawn_worker(
                    &shared,
                    format!("auth-tcpconn-{}", shared.responder.addr),
                    move || tcp_connection(conn_shared, stream),
                );
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(10)),
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn write_framed(stream: &mut TcpStream, response: &Message) -> bool {
    let Ok(bytes) = response.to_vec() else {
        return false;
    };
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).is_ok()
}

fn tcp_connection(shared: Arc<Shared>, mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_nodelay(true);
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut last_activity = Instant::now();
    loop {
        if shared.stop.load(Ordering::SeqCst) || last_activity.elapsed() > TCP_IDLE {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                pending.extend_from_slice(&chunk[..n]);
                last_activity = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        // Handle every complete frame buffered so far.
        while pending.len() >= 2 {
            let len = u16::from_be_bytes([pending[0], pending[1]]) as usize;
            if pending.len() < 2 + len {
                break;
            }
            let frame: Vec<u8> = pending.drain(..2 + len).skip(2).collect();
            let Ok(query) = Message::from_vec(&frame) else {
                return;
            };
            match shared.responder.handle(Transport::Tcp, &query) {
                Reply::None => {}
                Reply::Now(response) => {
                    if !write_framed(&mut stream, &response) {
                        return;
                    }
                }
                Reply::After(delay, response) => {
                    if !sleep_unless_stopped(&shared, delay)
                        || !write_framed(&mut stream, &response)
                    {
                        return;
                    }
                }
            }
        }
    }
}
