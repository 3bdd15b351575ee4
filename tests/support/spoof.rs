//! A test authority for spoofing measurements, and the forged replies an
//! attacker would send.
//!
//! [`SpoofAuthority`] serves [`Zone`]s over UDP on `addr:53` like
//! `authority_server.rs`, but shows the test what an on-path observer sees
//! of every query (source address and port, transaction ID, the QNAME with
//! the case it arrived in) and lets the test decide, query by query, what
//! happens: answer at once, or hand the query to a [`Worker`] thread that may
//! wait, send forged replies first and answer last. Workers send from the
//! authority's own socket, so a forged reply carries exactly the source an
//! off-path attacker would spoof: the authority's address, port 53.
//!
//! [`Forgery`] builds one forged reply to a query (the question as asked,
//! an A record pointing elsewhere) and patches its ID and the case of its
//! question name in place, so that floods cost one `send_to` per datagram.
//!
//! Included only by tests/spoofing.rs, as `#[path = "support/spoof.rs"]`.
//! Every loop here is bounded by a count and by the stop flag; dropping the
//! authority joins every thread it started.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::BinEncodable;

use crate::support::authority::{Zone, response_skeleton};

/// Port every authority listens on (the resolver always queries 53).
pub const DNS_PORT: u16 = 53;
/// Length of the DNS header: the question name starts right after it.
pub const HEADER_LEN: usize = 12;

/// How often the receive loop wakes up to look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Replies are never bigger than this (the EDNS payload resolvers advertise).
const MAX_UDP_REPLY: usize = 1232;
/// Datagrams the receive loop handles before it ends on its own: far above
/// what any test sends, so only a runaway test reaches it.
const MAX_DATAGRAMS: usize = 1_000_000;
/// Time after which the receive loop ends on its own, whatever the test does.
const MAX_LIFETIME: Duration = Duration::from_secs(300);

/// What the authority saw of one query: everything an on-path observer (or
/// the authority itself) learns from the datagram.
#[derive(Clone, Debug)]
pub struct Received {
    /// The resolver's source address and port.
    pub peer: SocketAddr,
    /// The transaction ID.
    pub id: u16,
    /// The QNAME exactly as received (0x20 case kept).
    pub name: Name,
    /// When it arrived.
    pub at: Instant,
}

/// What to do with one query, decided by the test's handler.
pub enum Plan {
    /// Answer from the zones at once.
    Answer,
    /// Hand the query to a new thread running this closure (which may send
    /// forged replies, wait, and answer).
    Work(Box<dyn FnOnce(&Worker) + Send>),
}

/// Decides what to do with each query: gets the query as received and how
/// many earlier queries had the same name (case-insensitively), 0 for the
/// first.
pub type Handler = dyn Fn(&Received, usize) -> Plan + Send + Sync;

/// The state shared by the receive loop and the workers.
struct Shared {
    addr: IpAddr,
    zones: Vec<Zone>,
    stop: AtomicBool,
    log: Mutex<Vec<Received>>,
    /// Queries seen per lower-case name.
    per_name: Mutex<HashMap<String, usize>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// A UDP-only test authority on `addr:53` (see the module documentation).
pub struct SpoofAuthority {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl SpoofAuthority {
    /// Starts serving `zones` on `addr` port 53; `handler` decides the fate
    /// of every query.
    pub fn start(
        addr: IpAddr,
        zones: Vec<Zone>,
        handler: impl Fn(&Received, usize) -> Plan + Send + Sync + 'static,
    ) -> SpoofAuthority {
        let sockaddr = SocketAddr::new(addr, DNS_PORT);
        let socket = bind_udp_retry(sockaddr);
        socket.set_read_timeout(Some(POLL)).unwrap();
        let shared = Arc::new(Shared {
            addr,
            zones,
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            per_name: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
        });
        let loop_shared = shared.clone();
        let handler: Box<Handler> = Box::new(handler);
        let thread = thread::Builder::new()
            .name(format!("spoof-auth-{addr}"))
            .spawn(move || receive_loop(&loop_shared, &socket, &*handler))
            .unwrap();
        SpoofAuthority {
            shared,
            thread: Some(thread),
        }
    }

    /// Every query received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Waits (at most `limit`) until every worker thread has finished, so
    /// that their counts are final.
    pub fn wait_for_workers(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let rounds = limit.as_millis() / 10 + 1;
        for _ in 0..rounds {
            let busy = self
                .shared
                .workers
                .lock()
                .unwrap()
                .iter()
                .any(|w| !w.is_finished());
            if !busy || Instant::now() >= deadline {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for SpoofAuthority {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // No new worker can start once the receive loop is joined.
        let workers: Vec<_> = self.shared.workers.lock().unwrap().drain(..).collect();
        for w in workers {
            let _ = w.join();
        }
    }
}

/// One query handed to a worker thread: the authority's socket, the query,
/// and its true answer.
pub struct Worker {
    socket: UdpSocket,
    shared: Arc<Shared>,
    /// The query as the authority saw it.
    pub received: Received,
    /// The query message.
    pub query: Message,
}

impl Worker {
    /// The true answer, encoded for UDP (echoing the question's case).
    pub fn answer_bytes(&self) -> Option<Vec<u8>> {
        encode_udp(&self.query, &answer(&self.shared.zones, &self.query))
    }

    /// Sends the true answer to the query's source.
    pub fn answer(&self) {
        if let Some(bytes) = self.answer_bytes() {
            self.send_to(&bytes, self.received.peer);
        }
    }

    /// Sends `bytes` to `to` from the authority's socket (source: the
    /// authority's address, port 53). False if the send failed.
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> bool {
        self.socket.send_to(bytes, to).is_ok()
    }

    /// Sleeps until `t`, waking every 50 ms for the stop flag. False if the
    /// authority is being stopped.
    pub fn sleep_until(&self, t: Instant) -> bool {
        let rounds = t
            .saturating_duration_since(Instant::now())
            .as_millis()
            .div_ceil(POLL.as_millis())
            + 1;
        for _ in 0..rounds {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= t {
                return true;
            }
            thread::sleep((t - now).min(POLL));
        }
        !self.stopped()
    }

    /// True once the authority is being dropped: long loops check this.
    pub fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// The authority's address.
    pub fn authority(&self) -> IpAddr {
        self.shared.addr
    }
}

/// Binds, retrying briefly on EADDRINUSE (an earlier socket closing).
fn bind_udp_retry(addr: SocketAddr) -> UdpSocket {
    let deadline = Instant::now() + Duration::from_secs(3);
    for _ in 0..40 {
        match UdpSocket::bind(addr) {
            Ok(s) => return s,
            Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("spoof authority: cannot bind UDP {addr}: {e}"),
        }
    }
    panic!("spoof authority: {addr} stayed in use");
}

fn receive_loop(shared: &Arc<Shared>, socket: &UdpSocket, handler: &Handler) {
    let started = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    for _ in 0..MAX_DATAGRAMS {
        if shared.stop.load(Ordering::SeqCst) || started.elapsed() > MAX_LIFETIME {
            return;
        }
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => continue,
        };
        let at = Instant::now();
        let Ok(query) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        if query.metadata.message_type != MessageType::Query {
            continue;
        }
        let Some(q) = query.queries.first() else {
            continue;
        };
        let received = Received {
            peer,
            id: query.metadata.id,
            name: q.name().clone(),
            at,
        };
        shared.log.lock().unwrap().push(received.clone());
        let nth = {
            let mut per_name = shared.per_name.lock().unwrap();
            let n = per_name
                .entry(received.name.to_lowercase().to_ascii())
                .or_insert(0);
            *n += 1;
            *n - 1
        };
        match handler(&received, nth) {
            Plan::Answer => {
                if let Some(bytes) = encode_udp(&query, &answer(&shared.zones, &query)) {
                    let _ = socket.send_to(&bytes, peer);
                }
            }
            Plan::Work(work) => {
                let Ok(sock) = socket.try_clone() else {
                    continue;
                };
                let worker = Worker {
                    socket: sock,
                    shared: shared.clone(),
                    received,
                    query,
                };
                let handle = thread::Builder::new()
                    .name(format!("spoof-worker-{}", shared.addr))
                    .spawn(move || work(&worker))
                    .unwrap();
                let mut workers = shared.workers.lock().unwrap();
                workers.retain(|w| !w.is_finished());
                workers.push(handle);
            }
        }
    }
}

/// The zones' answer to `query` (REFUSED outside them).
fn answer(zones: &[Zone], query: &Message) -> Message {
    let zone = query.queries.first().and_then(|q| {
        zones
            .iter()
            .filter(|z| z.contains(q.name()))
            .max_by_key(|z| z.origin.num_labels())
    });
    match zone {
        Some(z) => z.answer(query),
        None => {
            let mut r = response_skeleton(query);
            r.metadata.response_code = ResponseCode::Refused;
            r
        }
    }
}

/// Encodes `response` for UDP, truncated (TC=1) past the query's limit.
fn encode_udp(query: &Message, response: &Message) -> Option<Vec<u8>> {
    let limit = match &query.edns {
        Some(e) => usize::from(e.max_payload()).clamp(512, MAX_UDP_REPLY),
        None => 512,
    };
    let bytes = response.to_vec().ok()?;
    if bytes.len() <= limit {
        Some(bytes)
    } else {
        response.truncate().to_vec().ok()
    }
}

/// One forged reply to a query, as wire bytes that can be patched in place:
/// QR=1, AA=1, the query's question (its case as received) and one A record
/// for the QNAME pointing at the forged address. The answer's owner name is
/// compressed against the question, so patching the question's case changes
/// both.
#[derive(Clone, Debug)]
pub struct Forgery {
    bytes: Vec<u8>,
    /// Where the question name lies in `bytes`.
    name_at: Range<usize>,
}

impl Forgery {
    /// A forged answer to `query`: `<qname> 300 A forged`.
    pub fn new(query: &Message, forged: Ipv4Addr) -> Forgery {
        let q = query.queries.first().expect("a query with a question");
        let mut msg = response_skeleton(query);
        msg.metadata.authoritative = true;
        msg.answers.push(Record::from_rdata(
            q.name().clone(),
            300,
            RData::A(A(forged)),
        ));
        Self::from_message(&msg)
    }

    /// The bytes of `msg`, whose first question's name can then be patched.
    pub fn from_message(msg: &Message) -> Forgery {
        let bytes = msg.to_vec().expect("encode forged reply");
        let name_len = msg
            .queries
            .first()
            .map_or(0, |q| q.name().to_bytes().expect("encode name").len());
        Forgery {
            bytes,
            name_at: HEADER_LEN..HEADER_LEN + name_len,
        }
    }

    /// Sets the transaction ID.
    pub fn set_id(&mut self, id: u16) {
        self.bytes[..2].copy_from_slice(&id.to_be_bytes());
    }

    /// Gives every letter of the question name a random case (an attacker's
    /// guess at the 0x20 pattern). Length bytes are below 64 and never
    /// letters, so only letters change.
    pub fn randomise_case(&mut self) {
        let mut bits: u64 = 0;
        for (i, b) in self.bytes[self.name_at.clone()].iter_mut().enumerate() {
            if i % 64 == 0 {
                bits = rand::random();
            }
            if b.is_ascii_alphabetic() {
                if bits & 1 == 1 {
                    b.make_ascii_uppercase();
                } else {
                    b.make_ascii_lowercase();
                }
            }
            bits >>= 1;
        }
    }

    /// Flips the case of the first letter of the question name: the exact
    /// question, in a case the resolver did not send.
    pub fn flip_first_letter(&mut self) {
        if let Some(b) = self.bytes[self.name_at.clone()]
            .iter_mut()
            .find(|b| b.is_ascii_alphabetic())
        {
            *b ^= 0x20;
        }
    }

    /// The datagram.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Letters in `name` (each one a bit of 0x20 entropy).
pub fn letters(name: &Name) -> u32 {
    name.to_ascii()
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .count() as u32
}

/// Upper-case letters in `name`.
pub fn upper_letters(name: &Name) -> u32 {
    name.to_ascii()
        .bytes()
        .filter(u8::is_ascii_uppercase)
        .count() as u32
}
