//! Connection and memory limits (issue 9 item 4): many idle TCP clients,
//! slow clients that send one byte at a time, and clients that pipeline
//! queries and never read must not stop other clients or grow rootward's
//! memory without bound.
//!
//! rootward runs as a process (tests/support/process.rs) and resolves
//! through a root, a `test.` server and the leaf `leaf.test.`
//! (tests/support/authority_server.rs). Addresses: test k uses 127.67.k.0/24
//! only: .1 rootward, .2 the root, .3 `test.`, .4 `leaf.test.`.
//!
//! What the code guarantees (src/server/tcp.rs): a connection over
//! `--max-tcp-connections` is closed as soon as it is accepted; a connection
//! is closed when no 2-byte length arrives within `--tcp-idle-timeout`, or
//! when the body of a frame does not follow within 5 s (FRAME_BODY_TIMEOUT);
//! at most 32 queries of one connection are resolved at once and at most 32
//! answers wait for its writer, so a client that does not read stops being
//! read (TCP backpressure) instead of growing a queue. Each test prints one
//! `CONN_LIMITS ...` line with its figures (`-- --nocapture`).
//!
//! The memory bound these tests check (docs/robustness.md, "Connection
//! limits") is [`documented_bound_kib`]: a base, plus the cache, plus the
//! fixed-size tables, plus the in-flight work, plus the TCP connections,
//! each with the answer sizes of this tree.
//!
//! Two findings of the first run are fixed and kept as tests:
//! [`trickling_clients_can_hold_every_tcp_slot`] (at the cap the oldest
//! connection now makes room for a new one) and
//! [`clients_that_never_read_hold_their_slots_forever`] (a write that cannot
//! proceed for the idle timeout now closes the connection).

mod support;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use support::authority::Zone;
use support::authority_server::AuthorityServer;
use support::client::{Client, edns_query, raw_query};
use support::nsd::unique_dir;
use support::process::{Rootward, write_root_hints};

/// Names `h0` .. in `leaf.test.` (cached by every test before it starts).
const HOSTS: usize = 50;
/// A records of `big.leaf.test.`: a 4,284-byte answer from rootward, so
/// that a client
/// that does not read fills the kernel's socket buffers (several MB per
/// connection on loopback) with a few thousand queries.
const BIG_RECORDS: usize = 200;
/// The server-side wait for the body of a frame (tcp.rs FRAME_BODY_TIMEOUT).
const FRAME_BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// Queries one connection resolves at once, and answers waiting for its
/// writer (tcp.rs MAX_PIPELINED_PER_CONNECTION).
const PIPELINED_PER_CONNECTION: u64 = 32;
/// Largest DNS message over TCP.
const MAX_TCP_MESSAGE_KIB: u64 = 64;
/// The writer's buffer (tokio's BufWriter default).
const WRITE_BUFFER_KIB: u64 = 8;
/// Timeout of the clients that must be answered.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

fn ip(k: u8, x: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 67, k, x))
}

// ---------------------------------------------------------------------------
// The tree and rootward
// ---------------------------------------------------------------------------

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn root_zone(k: u8) -> Zone {
    Zone::parse(
        ".",
        &format!(
            "@ 86400 SOA a.root.test. hostmaster.root.test. 1 1800 900 604800 86400\n\
             @ 518400 NS a.root.test.\n\
             a.root.test. 518400 A {root}\n\
             test. 172800 NS ns1.tld.test.\n\
             ns1.tld.test. 172800 A {tld}\n",
            root = ip(k, 2),
            tld = ip(k, 3),
        ),
    )
}

fn tld_zone(k: u8) -> Zone {
    Zone::parse(
        "test.",
        &format!(
            "@ 3600 SOA ns1.tld hostmaster 1 3600 900 604800 300\n\
             @ NS ns1.tld\n\
             ns1.tld A {tld}\n\
             a.root A {root}\n\
             leaf 86400 NS ns1.leaf\n\
             ns1.leaf 86400 A {leaf}\n",
            tld = ip(k, 3),
            root = ip(k, 2),
            leaf = ip(k, 4),
        ),
    )
}

/// `leaf.test.`: `h0`..`h49`, `big` (40 A records) and a wildcard, so that
/// every test can ask names nobody asked before.
fn leaf_zone(k: u8) -> Zone {
    let mut text = format!(
        "@ 3600 SOA ns1 hostmaster 1 3600 900 604800 300\n\
         @ NS ns1\n\
         ns1 A {}\n\
         * 3600 A 192.0.2.250\n",
        ip(k, 4)
    );
    for i in 0..HOSTS {
        text.push_str(&format!("h{i} 3600 A 192.0.2.{}\n", i + 1));
    }
    for i in 0..BIG_RECORDS {
        text.push_str(&format!(
            "big 3600 A 198.51.{}.{}\n",
            100 + i / 250,
            i % 250 + 1
        ));
    }
    Zone::parse("leaf.test.", &text)
}

/// The tree of test k and rootward on k.1 with `args`.
struct Net {
    k: u8,
    rw: Rootward,
    _servers: Vec<AuthorityServer>,
    _dir: TempDir,
}

impl Net {
    fn start(k: u8, args: &[&str]) -> Net {
        let servers = vec![
            AuthorityServer::start(ip(k, 2), vec![root_zone(k)]),
            AuthorityServer::start(ip(k, 3), vec![tld_zone(k)]),
            AuthorityServer::start(ip(k, 4), vec![leaf_zone(k)]),
        ];
        let dir = TempDir(unique_dir(&format!("rootward-conn-limits-{k}")));
        let hints = write_root_hints(&dir.0, &[("a.root.test.", ip(k, 2))]);
        let rw = Rootward::start(SocketAddr::new(ip(k, 1), 53), &hints, args);
        let net = Net {
            k,
            rw,
            _servers: servers,
            _dir: dir,
        };
        net.warm();
        net
    }

    fn addr(&self) -> SocketAddr {
        self.rw.addr
    }

    fn pid(&self) -> u32 {
        self.rw.pid()
    }

    /// Caches `h0`..`h49` and `big` (over TCP: its answer does not fit 512
    /// bytes).
    fn warm(&self) {
        let c = Client::with_timeout(self.addr(), Duration::from_secs(5));
        for i in 0..HOSTS {
            let m = c.udp(&format!("h{i}.leaf.test."), RecordType::A);
            assert_eq!(m.answers.len(), 1, "warming h{i} (test {})", self.k);
        }
        let m = c.tcp("big.leaf.test.", RecordType::A);
        assert_eq!(m.answers.len(), BIG_RECORDS, "warming big");
    }
}

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// The memory bound of docs/robustness.md ("Connection limits"), in KiB,
/// for `cache_entries` entries of at most `entry_kib` each, `tcp` TCP
/// connections whose answers are at most `answer_kib`, and
/// `pending_misses` questions being resolved.
///
/// - base: the binary, the runtime and its worker stacks, the listeners'
///   buffers, measured at 6–10 MiB after start (debug and release builds);
///   32 MiB allows for the allocator's per-thread arenas;
/// - the cache: `--cache-size` entries, each an answer or an RRset with its
///   moka bookkeeping: 1.6 KiB per cached name with small answers
///   (benches/cache_memory.rs: 1,627 bytes); the bound counts entries, not
///   bytes, so large RRsets cost more per entry;
/// - fixed tables: infra cache 10,000 servers and failure cache 10,000
///   questions (about 0.5 KiB each with their keys), the rate limiter
///   100,000 prefixes × 0.5 KiB (only for clients it tracks: loopback is
///   exempt by default, so not here);
/// - in flight: each pending miss (at most MAX_PENDING_MISSES = 4,096) a
///   task with its walk state, at most 16 KiB, and each upstream query in
///   flight (at most 1,000) a 64 KiB reply buffer;
/// - TCP: per connection the 8 KiB write buffer, one frame being read (at
///   most 64 KiB, the query's length), 32 answers queued for the writer
///   and 32 resolutions each holding one answer, plus the task and channel
///   (4 KiB).
fn documented_bound_kib(
    cache_entries: u64,
    entry_kib: f64,
    pending_misses: u64,
    upstream_in_flight: u64,
    tcp: u64,
    answer_kib: f64,
) -> u64 {
    let base = 32 * 1024;
    let cache = (cache_entries as f64 * entry_kib).ceil() as u64;
    let tables = 20_000 / 2;
    let in_flight = pending_misses * 16 + upstream_in_flight * MAX_TCP_MESSAGE_KIB;
    let per_conn = WRITE_BUFFER_KIB
        + MAX_TCP_MESSAGE_KIB
        + (2.0 * PIPELINED_PER_CONNECTION as f64 * answer_kib).ceil() as u64
        + 4;
    base + cache + tables + in_flight + tcp * per_conn
}

/// Per-connection part of [`documented_bound_kib`] alone.
fn per_connection_kib(answer_kib: f64) -> u64 {
    documented_bound_kib(0, 0.0, 0, 0, 1, answer_kib) - documented_bound_kib(0, 0.0, 0, 0, 0, 0.0)
}

/// What the other clients got while a test's attack ran.
#[derive(Debug, Default, Clone, Copy)]
struct OthersReport {
    udp_asked: usize,
    udp_answered: usize,
    tcp_asked: usize,
    tcp_answered: usize,
    /// Answers that were not NOERROR.
    not_noerror: usize,
    max_latency: Duration,
}

impl OthersReport {
    fn all_answered(&self) -> bool {
        self.udp_answered == self.udp_asked
            && self.tcp_answered == self.tcp_asked
            && self.not_noerror == 0
    }

    fn line(&self) -> String {
        format!(
            "udp {}/{} tcp {}/{} not-noerror {} max-latency {:.1}ms",
            self.udp_answered,
            self.udp_asked,
            self.tcp_answered,
            self.tcp_asked,
            self.not_noerror,
            self.max_latency.as_secs_f64() * 1000.0
        )
    }
}

/// A well-behaved client asking cached names over UDP (and over TCP when
/// `tcp`) plus one cold wildcard name in ten, until `stop` or `limit`.
fn others(
    addr: SocketAddr,
    tag: &str,
    tcp: bool,
    stop: Arc<AtomicBool>,
    limit: Duration,
) -> thread::JoinHandle<OthersReport> {
    let tag = tag.to_string();
    thread::spawn(move || {
        let c = Client::with_timeout(addr, CLIENT_TIMEOUT);
        let mut r = OthersReport::default();
        let end = Instant::now() + limit;
        // Bounded: at most 2,000 rounds, never past `limit`.
        for i in 0..2_000usize {
            if stop.load(Ordering::SeqCst) || Instant::now() >= end {
                break;
            }
            let name = if i % 10 == 9 {
                format!("{tag}-cold-{i}.leaf.test.")
            } else {
                format!("h{}.leaf.test.", i % HOSTS)
            };
            let q = raw_query(rand::random(), true, &name, RecordType::A);
            let t = Instant::now();
            r.udp_asked += 1;
            if let Some(reply) = c.udp_raw(&q) {
                r.udp_answered += 1;
                r.max_latency = r.max_latency.max(t.elapsed());
                if reply.len() < 12 || reply[3] & 0x0f != 0 {
                    r.not_noerror += 1;
                }
            }
            if tcp && i % 5 == 0 {
                let q = raw_query(rand::random(), true, &name, RecordType::A);
                let t = Instant::now();
                r.tcp_asked += 1;
                if let Some(reply) = c.tcp_raw(&q) {
                    r.tcp_answered += 1;
                    r.max_latency = r.max_latency.max(t.elapsed());
                    if reply.len() < 12 || reply[3] & 0x0f != 0 {
                        r.not_noerror += 1;
                    }
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        r
    })
}

/// State of a client socket rootward may have closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Open,
    Closed,
    /// Bytes arrived (an answer).
    Data,
}

/// Looks without blocking whether the server closed `s` (EOF or reset).
fn peer_state(s: &TcpStream) -> Peer {
    s.set_nonblocking(true).expect("set_nonblocking");
    let mut b = [0u8; 1];
    let state = match s.peek(&mut b) {
        Ok(0) => Peer::Closed,
        Ok(_) => Peer::Data,
        Err(e) if e.kind() == ErrorKind::WouldBlock => Peer::Open,
        Err(_) => Peer::Closed,
    };
    s.set_nonblocking(false).expect("set_nonblocking");
    state
}

/// One length-prefixed reply from `s` within `limit`.
fn read_frame(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(limit)).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// (tx_queue, rx_queue) of the TCP socket `local` → `remote` from
/// /proc/net/tcp: bytes sent and not yet acknowledged, and bytes received
/// and not yet read by the application.
fn tcp_queues(local: SocketAddr, remote: SocketAddr) -> Option<(u64, u64)> {
    let hex = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => format!("{:08X}:{:04X}", u32::from_le_bytes(v4.octets()), a.port()),
        IpAddr::V6(_) => String::new(),
    };
    let (l, r) = (hex(local), hex(remote));
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 4 && f[1] == l && f[2] == r {
            let (tx, rx) = f[4].split_once(':')?;
            Some((
                u64::from_str_radix(tx, 16).ok()?,
                u64::from_str_radix(rx, 16).ok()?,
            ))
        } else {
            None
        }
    })
}

/// Frames `msg` with its 2-byte length.
fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------
// (a) idle connections over the cap
// ---------------------------------------------------------------------------

/// 200 idle TCP connections against a cap of 64: the 136 over the cap are
/// closed at once, the 64 under it after the 2 s idle timeout; meanwhile
/// UDP clients are answered, and a fresh TCP client is answered once the
/// idle ones are gone. RSS stays within the documented bound.
#[test]
fn idle_connections_over_the_cap_do_not_stop_other_clients() {
    const CAP: usize = 64;
    const IDLE: usize = 200;
    let idle_timeout = Duration::from_secs(2);
    let net = Net::start(
        1,
        &["--max-tcp-connections", "64", "--tcp-idle-timeout", "2s"],
    );
    let addr = net.addr();
    let rss_before = rss_kib(net.pid());

    let opened = Instant::now();
    let mut conns: Vec<TcpStream> = (0..IDLE)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .unwrap_or_else(|e| panic!("idle connection {i}: {e}"))
        })
        .collect();
    let open_time = opened.elapsed();
    // rootward accepts and closes the excess at once; give it a moment.
    thread::sleep(Duration::from_millis(400));
    let states: Vec<Peer> = conns.iter().map(peer_state).collect();
    let held = states.iter().filter(|s| **s == Peer::Open).count();
    let refused = states.iter().filter(|s| **s == Peer::Closed).count();
    let checked_at = opened.elapsed();

    // A fresh TCP client while the cap is full: answered, the oldest idle
    // connection closed to make room. Only meaningful while the idle
    // connections are surely still open.
    let probe = raw_query(rand::random(), true, "h1.leaf.test.", RecordType::A);
    let fresh_during = Client::with_timeout(addr, Duration::from_secs(1)).tcp_raw(&probe);
    let fresh_during_checked = opened.elapsed() < idle_timeout - Duration::from_millis(300);

    // UDP clients while the cap is full.
    let stop = Arc::new(AtomicBool::new(false));
    let udp = others(addr, "a-udp", false, stop.clone(), Duration::from_secs(1));
    let udp = udp.join().expect("udp client thread");
    let rss_full = rss_kib(net.pid());

    // The held connections are closed by the idle timeout.
    let deadline = opened + idle_timeout + Duration::from_secs(5);
    let mut closed_after = None;
    for _ in 0..200 {
        let open = conns
            .iter_mut()
            .filter(|s| peer_state(s) == Peer::Open)
            .count();
        if open == 0 {
            closed_after = Some(opened.elapsed());
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }

    // A fresh TCP client and UDP clients once the idle ones are gone.
    let after = others(addr, "a-after", true, stop, Duration::from_secs(2))
        .join()
        .expect("client thread");
    let rss_after = rss_kib(net.pid());
    drop(conns);

    let bound = documented_bound_kib(200_000, 1.6, 0, 0, CAP as u64, 0.7);
    let growth_bound = per_connection_kib(0.7) * CAP as u64 + 8 * 1024;
    let growth = rss_full.max(rss_after).saturating_sub(rss_before);
    println!(
        "CONN_LIMITS idle: cap {CAP}, {IDLE} idle connections opened in {:.0} ms; \
         {held} held, {refused} closed at once (checked at {:.0} ms); \
         fresh TCP while full: {}; UDP while full: {}; held ones closed after {}; \
         after: {}; RSS before {:.1} MiB, full {:.1} MiB, after {:.1} MiB \
         (growth {:.1} MiB, allowed {:.1} MiB; documented bound {:.1} MiB)",
        open_time.as_secs_f64() * 1000.0,
        checked_at.as_secs_f64() * 1000.0,
        if fresh_during.is_some() {
            "answered"
        } else {
            "closed"
        },
        udp.line(),
        closed_after.map_or("never".into(), |d| format!("{:.2} s", d.as_secs_f64())),
        after.line(),
        mib(rss_before),
        mib(rss_full),
        mib(rss_after),
        mib(growth),
        mib(growth_bound),
        mib(bound),
    );

    assert_eq!(held + refused, IDLE, "every connection open or closed");
    assert!(held <= CAP, "{held} connections held over a cap of {CAP}");
    assert!(
        refused >= IDLE - CAP,
        "only {refused} of the {} connections over the cap were closed",
        IDLE - CAP
    );
    if fresh_during_checked {
        // At the cap a new connection takes the oldest one's place.
        assert!(
            fresh_during.is_some(),
            "a fresh TCP client was not answered while {held} idle connections filled the cap"
        );
    }
    assert!(
        udp.udp_asked > 0 && udp.all_answered(),
        "UDP while full: {udp:?}"
    );
    let closed_after = closed_after.unwrap_or_else(|| {
        panic!("idle connections still open {deadline:?} after the idle timeout")
    });
    assert!(
        closed_after >= idle_timeout - Duration::from_millis(100),
        "idle connections closed after {closed_after:?}, before the idle timeout"
    );
    assert!(
        after.tcp_asked > 0 && after.all_answered(),
        "after the idle timeout: {after:?}"
    );
    assert!(
        growth <= growth_bound,
        "RSS grew {growth} KiB with {CAP} idle connections (allowed {growth_bound} KiB)"
    );
    assert!(
        rss_after <= bound,
        "RSS {rss_after} KiB over the bound {bound} KiB"
    );
}

// ---------------------------------------------------------------------------
// (b) slow clients
// ---------------------------------------------------------------------------

/// One slow client: its bytes, how many it sent, and what it saw.
struct Slow {
    stream: TcpStream,
    bytes: Vec<u8>,
    sent: usize,
    closed_at: Option<Duration>,
    answered_at: Option<Duration>,
}

/// Drives `clients` one byte each per `pace` until every one is closed or
/// answered, or `limit`; returns the time it ran.
fn trickle(clients: &mut [Slow], pace: Duration, limit: Duration) -> Duration {
    let start = Instant::now();
    let rounds = (limit.as_millis() / pace.as_millis()) as usize + 1;
    for _ in 0..rounds {
        let now = start.elapsed();
        let mut busy = 0;
        for c in clients.iter_mut() {
            if c.closed_at.is_some() || c.answered_at.is_some() {
                continue;
            }
            match peer_state(&c.stream) {
                Peer::Closed => {
                    c.closed_at = Some(now);
                    continue;
                }
                Peer::Data => {
                    c.answered_at = Some(now);
                    continue;
                }
                Peer::Open => {}
            }
            busy += 1;
            if c.sent < c.bytes.len() {
                match c.stream.write(&c.bytes[c.sent..c.sent + 1]) {
                    Ok(1) => c.sent += 1,
                    _ => c.closed_at = Some(now),
                }
            }
        }
        if busy == 0 || start.elapsed() >= limit {
            break;
        }
        thread::sleep(pace);
    }
    start.elapsed()
}

fn slow_client(addr: SocketAddr, query: &[u8]) -> Slow {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("slow connect");
    stream.set_nodelay(true).expect("nodelay");
    Slow {
        stream,
        bytes: framed(query),
        sent: 0,
        closed_at: None,
        answered_at: None,
    }
}

/// Slowloris: 50 connections each sending a 41-byte query (with EDNS) one
/// byte per 200 ms. The length arrives in 200 ms, well inside the idle
/// timeout, but the body would take 8.2 s: rootward closes each connection
/// when its 5 s body timeout runs out, unanswered. Other clients, UDP and
/// TCP, are answered meanwhile.
#[test]
fn slowloris_connections_are_closed_by_the_frame_timeout() {
    const SLOW: usize = 50;
    let pace = Duration::from_millis(200);
    let net = Net::start(2, &[]);
    let addr = net.addr();
    let rss_before = rss_kib(net.pid());
    let query = edns_query("h1.leaf.test.", RecordType::A, 1232)
        .to_vec()
        .expect("encode");
    assert_eq!(query.len(), 41);
    let full_send = pace * (query.len() as u32 + 1);
    let mut clients: Vec<Slow> = (0..SLOW).map(|_| slow_client(addr, &query)).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let others_thread = others(addr, "b", true, stop.clone(), Duration::from_secs(20));
    let ran = trickle(&mut clients, pace, Duration::from_secs(12));
    let rss_during = rss_kib(net.pid());
    stop.store(true, Ordering::SeqCst);
    let other = others_thread.join().expect("client thread");

    let closed: Vec<Duration> = clients.iter().filter_map(|c| c.closed_at).collect();
    let answered = clients.iter().filter(|c| c.answered_at.is_some()).count();
    let (first, last) = (
        closed.iter().min().copied().unwrap_or_default(),
        closed.iter().max().copied().unwrap_or_default(),
    );
    let sent: Vec<usize> = clients.iter().map(|c| c.sent).collect();
    println!(
        "CONN_LIMITS slowloris: {SLOW} connections, {}-byte frames at one byte per {} ms \
         (full frame would take {:.1} s); {} closed by rootward between {:.2} s and {:.2} s \
         after {}..{} bytes, {answered} answered; ran {:.1} s; others: {}; \
         RSS before {:.1} MiB, during {:.1} MiB",
        query.len() + 2,
        pace.as_millis(),
        full_send.as_secs_f64(),
        closed.len(),
        first.as_secs_f64(),
        last.as_secs_f64(),
        sent.iter().min().unwrap_or(&0),
        sent.iter().max().unwrap_or(&0),
        ran.as_secs_f64(),
        other.line(),
        mib(rss_before),
        mib(rss_during),
    );
    assert_eq!(answered, 0, "a query that never arrived whole was answered");
    assert_eq!(closed.len(), SLOW, "slow connections left open");
    // The length is complete after 2 bytes (200 ms); the body gets 5 s.
    let earliest = FRAME_BODY_TIMEOUT;
    let latest = FRAME_BODY_TIMEOUT + pace * 2 + Duration::from_millis(1500);
    assert!(
        first >= earliest - Duration::from_millis(200) && last <= latest,
        "closed between {first:?} and {last:?}, expected {earliest:?}..{latest:?}"
    );
    assert!(
        clients.iter().all(|c| c.sent < c.bytes.len()),
        "a slow client sent its whole frame before being cut off"
    );
    assert!(
        other.udp_asked > 0 && other.tcp_asked > 0 && other.all_answered(),
        "other clients during the slowloris: {other:?}"
    );
    let bound = documented_bound_kib(200_000, 1.6, 0, 0, SLOW as u64 + 1, 0.7);
    assert!(rss_during <= bound, "RSS {rss_during} KiB over {bound} KiB");
}

/// What the frame timeout does not cover: a client that sends one byte per
/// 200 ms but whose queries are short (`. NS`, 17 bytes: 3.6 s per frame,
/// under the 5 s body timeout and each length byte well inside the idle
/// timeout) is answered every time, and so keeps its connection for as
/// long as it likes: here 3 queries over about 11 s, more than five times
/// the 2 s idle timeout and twice the body timeout.
#[test]
fn a_trickling_client_with_short_queries_keeps_its_connection() {
    let pace = Duration::from_millis(200);
    let net = Net::start(3, &["--tcp-idle-timeout", "2s"]);
    let addr = net.addr();
    let c = Client::with_timeout(addr, Duration::from_secs(5));
    // Cached first, so each answer comes straight back.
    let _ = c.udp(".", RecordType::NS);
    let mut slow = slow_client(addr, &raw_query(1, true, ".", RecordType::NS));
    let start = Instant::now();
    let mut answers = Vec::new();
    for n in 0..3u16 {
        slow.bytes = framed(&raw_query(n + 1, true, ".", RecordType::NS));
        slow.sent = 0;
        slow.answered_at = None;
        trickle(
            std::slice::from_mut(&mut slow),
            pace,
            Duration::from_secs(8),
        );
        if slow.closed_at.is_some() {
            break;
        }
        match read_frame(&mut slow.stream, Duration::from_secs(2)) {
            Some(reply) if reply.len() >= 12 && reply[..2] == (n + 1).to_be_bytes() => {
                answers.push(start.elapsed());
            }
            _ => break,
        }
    }
    let held = start.elapsed();
    let still_open = peer_state(&slow.stream) == Peer::Open;
    println!(
        "CONN_LIMITS trickle-short: 19-byte frames at one byte per {} ms: {} answered at {:?} s; \
         connection held {:.1} s (idle timeout 2 s, body timeout 5 s), still open: {still_open}",
        pace.as_millis(),
        answers.len(),
        answers
            .iter()
            .map(|d| (d.as_secs_f64() * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        held.as_secs_f64()
    );
    assert_eq!(answers.len(), 3, "every slow short query is answered");
    assert!(still_open && held > Duration::from_secs(10));
}

/// Found by the first run: a handful of trickling clients like the one
/// above held every TCP slot for as long as they kept trickling, and a new
/// TCP client was closed at once the whole time. Now a new connection at
/// the cap takes the oldest one's place: with the cap full of trickling
/// clients, a new client is answered within the idle timeout plus the body
/// timeout.
#[test]
fn trickling_clients_can_hold_every_tcp_slot() {
    const CAP: usize = 4;
    let pace = Duration::from_millis(200);
    let net = Net::start(
        4,
        &["--max-tcp-connections", "4", "--tcp-idle-timeout", "2s"],
    );
    let addr = net.addr();
    let c = Client::with_timeout(addr, Duration::from_secs(5));
    let _ = c.udp(".", RecordType::NS);
    let mut slow: Vec<Slow> = (0..CAP)
        .map(|i| slow_client(addr, &raw_query(i as u16, true, ".", RecordType::NS)))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let limit = Duration::from_secs(2) + FRAME_BODY_TIMEOUT + Duration::from_secs(2);
    let prober = {
        let stop = stop.clone();
        thread::spawn(move || {
            let c = Client::with_timeout(addr, Duration::from_secs(1));
            // Bounded: one try per 500 ms until answered or `limit`.
            for _ in 0..40 {
                if stop.load(Ordering::SeqCst) || start.elapsed() > limit {
                    return None;
                }
                let q = raw_query(rand::random(), true, "h2.leaf.test.", RecordType::A);
                if c.tcp_raw(&q).is_some() {
                    return Some(start.elapsed());
                }
                thread::sleep(Duration::from_millis(500));
            }
            None
        })
    };
    // Each slow client answers, reads its answer and starts the next query.
    for _round in 0..4 {
        for s in slow.iter_mut() {
            s.bytes = framed(&raw_query(rand::random(), true, ".", RecordType::NS));
            s.sent = 0;
            s.answered_at = None;
        }
        trickle(&mut slow, pace, Duration::from_secs(6));
        for s in slow.iter_mut() {
            if s.answered_at.is_some() {
                let _ = read_frame(&mut s.stream, Duration::from_secs(1));
            }
        }
        if start.elapsed() > limit {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let fresh = prober.join().expect("prober");
    println!(
        "CONN_LIMITS trickle-cap: cap {CAP} held by {CAP} trickling clients for {:.1} s; \
         fresh TCP client answered: {fresh:?}",
        start.elapsed().as_secs_f64()
    );
    assert!(
        fresh.is_some_and(|t| t <= limit),
        "no fresh TCP client was answered within {limit:?} while trickling clients held the cap"
    );
}

// ---------------------------------------------------------------------------
// (c) clients that never read
// ---------------------------------------------------------------------------

/// 20 connections each pipelining 3,000 queries (`big.leaf.test.`, a
/// 4,284-byte answer, and one cold wildcard name in ten) and never reading.
/// rootward stops writing to them once the kernel's buffers are full (the
/// queues of both sockets stop growing, at about 4 MB per connection on
/// loopback, well below the 11.6 MB each asked for), keeps answering other clients, and its RSS grows by less
/// than the per-connection bound (at most 64 answers queued per
/// connection). When the clients finally read, every answer arrives:
/// backpressure, not loss.
#[test]
fn clients_that_never_read_get_backpressure_not_memory() {
    const CONNS: usize = 20;
    const QUERIES: usize = 3_000;
    let net = Net::start(5, &[]);
    let addr = net.addr();
    let rss_before = rss_kib(net.pid());
    let big_answer = {
        let q = raw_query(7, true, "big.leaf.test.", RecordType::A);
        Client::with_timeout(addr, Duration::from_secs(3))
            .tcp_raw(&q)
            .expect("big answer")
            .len()
    };

    let mut conns = Vec::new();
    let mut written = 0usize;
    for c in 0..CONNS {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_write_timeout(Some(Duration::from_secs(5)))
            .expect("write timeout");
        let mut all = Vec::new();
        for i in 0..QUERIES {
            let name = if i % 10 == 9 {
                format!("c{c}-q{i}.leaf.test.")
            } else {
                "big.leaf.test.".to_string()
            };
            all.extend(framed(&raw_query(i as u16, true, &name, RecordType::A)));
        }
        // 100 KB: rootward's socket takes it all even once it stops reading.
        match s.write_all(&all) {
            Ok(()) => written += all.len(),
            Err(e) => panic!("writing {QUERIES} queries on connection {c}: {e}"),
        }
        conns.push(s);
    }

    // Let rootward answer what it can, then watch the client queues stop.
    let queued = |conns: &[TcpStream]| -> (u64, u64) {
        conns
            .iter()
            .filter_map(|s| {
                let (local, peer) = (s.local_addr().ok()?, s.peer_addr().ok()?);
                let (_, rx) = tcp_queues(local, peer)?;
                let (tx, _) = tcp_queues(peer, local)?;
                Some((rx, tx))
            })
            .fold((0, 0), |(a, b), (rx, tx)| (a + rx, b + tx))
    };
    let mut samples = Vec::new();
    let mut stalled = false;
    for _ in 0..40 {
        thread::sleep(Duration::from_millis(250));
        samples.push(queued(&conns));
        let n = samples.len();
        if n >= 4 && samples[n - 1] == samples[n - 4] && samples[n - 1].0 > 0 {
            stalled = true;
            break;
        }
    }
    let (client_rx, server_tx) = *samples.last().expect("samples");
    let rss_stalled = rss_kib(net.pid());

    let stop = Arc::new(AtomicBool::new(false));
    let other = others(addr, "c", true, stop, Duration::from_secs(2))
        .join()
        .expect("client thread");
    let rss_others = rss_kib(net.pid());
    let still_open = conns
        .iter_mut()
        .filter(|s| peer_state(s) != Peer::Closed)
        .count();

    // Now read, every connection at once (a connection that does not read
    // for the idle timeout is closed: waiting here would be a client that
    // stopped reading): every query gets its answer.
    let read_start = Instant::now();
    let readers: Vec<_> = conns
        .into_iter()
        .map(|mut s| {
            thread::spawn(move || {
                let mut n = 0usize;
                for _ in 0..QUERIES {
                    if read_frame(&mut s, Duration::from_secs(5)).is_none() {
                        break;
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let got: Vec<usize> = readers
        .into_iter()
        .map(|r| r.join().expect("reader thread"))
        .collect();
    let read_took = read_start.elapsed();
    let rss_end = rss_kib(net.pid());

    let asked_bytes = (CONNS * QUERIES * 9 / 10 * (big_answer + 2)) as u64;
    let growth = rss_stalled.max(rss_others).saturating_sub(rss_before);
    let answer_kib = big_answer as f64 / 1024.0;
    // Misses in flight: at most 32 per connection.
    let pending = CONNS as u64 * PIPELINED_PER_CONNECTION;
    let growth_bound = per_connection_kib(answer_kib) * CONNS as u64 + pending * 16 + 8 * 1024;
    let bound = documented_bound_kib(200_000, 1.6, pending, 0, CONNS as u64 + 1, answer_kib);
    println!(
        "CONN_LIMITS never-read: {CONNS} connections x {QUERIES} pipelined queries \
         ({written} bytes written, answers {big_answer} bytes, {asked_bytes} bytes of answers asked); \
         writes stopped: {stalled} with {client_rx} bytes unread in the clients' sockets and \
         {server_tx} unsent in rootward's ({} samples); connections still open: {still_open}; \
         others: {}; RSS before {:.1} MiB, stalled {:.1} MiB, with others {:.1} MiB \
         (growth {:.1} MiB, allowed {:.1} MiB; documented bound {:.1} MiB), after reading \
         {:.1} MiB; answers read afterwards {}..{} per connection in {:.1} s",
        samples.len(),
        other.line(),
        mib(rss_before),
        mib(rss_stalled),
        mib(rss_others),
        mib(growth),
        mib(growth_bound),
        mib(bound),
        mib(rss_end),
        got.iter().min().unwrap_or(&0),
        got.iter().max().unwrap_or(&0),
        read_took.as_secs_f64(),
    );
    assert!(stalled, "rootward's writes never stopped: {samples:?}");
    assert!(
        client_rx + server_tx < asked_bytes / 2,
        "{client_rx} + {server_tx} bytes in socket buffers: rootward did not hold back"
    );
    assert_eq!(still_open, CONNS, "a stalled connection was closed");
    assert!(
        other.udp_asked > 0 && other.tcp_asked > 0 && other.all_answered(),
        "other clients while {CONNS} connections were stalled: {other:?}"
    );
    assert!(
        growth <= growth_bound,
        "RSS grew {growth} KiB (allowed {growth_bound} KiB)"
    );
    assert!(rss_others <= bound, "RSS {rss_others} KiB over {bound} KiB");
    assert!(
        got.iter().all(|&n| n == QUERIES),
        "answers lost under backpressure: {got:?}"
    );
}

/// Found by the first run: a connection whose client never reads was never
/// closed (the writer blocked in `write_all` with no timeout), so
/// `--max-tcp-connections` such clients took every TCP slot for as long as
/// they kept their sockets open. Now a write that cannot proceed for the
/// idle timeout closes the connection, and at the cap a new connection
/// takes the oldest one's place: a new TCP client is answered.
#[test]
fn clients_that_never_read_hold_their_slots_forever() {
    const CAP: usize = 4;
    let net = Net::start(
        6,
        &["--max-tcp-connections", "4", "--tcp-idle-timeout", "2s"],
    );
    let addr = net.addr();
    let mut conns = Vec::new();
    for _ in 0..CAP {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_write_timeout(Some(Duration::from_secs(5)))
            .expect("write timeout");
        let mut all = Vec::new();
        for i in 0..2_000u16 {
            all.extend(framed(&raw_query(i, true, "big.leaf.test.", RecordType::A)));
        }
        s.write_all(&all).expect("write queries");
        conns.push(s);
    }
    let start = Instant::now();
    let limit = Duration::from_secs(2) + Duration::from_secs(6);
    let c = Client::with_timeout(addr, Duration::from_secs(1));
    let mut fresh = None;
    // Bounded: one try per 500 ms until answered or `limit`.
    for _ in 0..40 {
        let q = raw_query(rand::random(), true, "h3.leaf.test.", RecordType::A);
        if c.tcp_raw(&q).is_some() {
            fresh = Some(start.elapsed());
            break;
        }
        if start.elapsed() > limit {
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    let open = conns
        .iter_mut()
        .filter(|s| peer_state(s) != Peer::Closed)
        .count();
    println!(
        "CONN_LIMITS never-read-cap: cap {CAP} taken by {CAP} clients that never read; \
         after {:.1} s {open} still open; fresh TCP client answered: {fresh:?}",
        start.elapsed().as_secs_f64()
    );
    assert!(
        fresh.is_some(),
        "no fresh TCP client answered within {limit:?}: {open} never-reading connections hold the cap"
    );
}
