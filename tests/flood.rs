//! Floods of random names ("water torture", issue 9 item 3): unique names
//! under one zone, far faster than its servers answer, must not starve
//! anyone else. rootward runs as a process against loopback authorities on
//! 127.65.0.0/16 (test k uses 127.65.k.x):
//!
//! - k.1 rootward (DNS on port 53, metrics on 9153);
//! - k.2 the root, delegating `test.` to k.3;
//! - k.3 `test.`: the cached names `c0.test.` .. `c19.test.`, and the
//!   delegations of `victim.test.` (ns1 at k.4, ns2 at k.5) and `other.test.`
//!   (k.6);
//! - k.4, k.5 the victim's servers: dead (never answer) or live (answer
//!   NXDOMAIN for the random names);
//! - k.6 `other.test.`, alive; flood sources k.100 and up, the cached-names
//!   client on 127.0.0.1 (`Client`).
//!
//! Each flood sends [`FLOOD_QUERIES`] unique names from [`FLOOD_SOCKETS`]
//! sockets, paced evenly over [`FLOOD_TIME`], without waiting for answers,
//! while one client asks the cached names one after another and times each
//! answer. The tests assert what was answered and what reached the
//! authorities, never how fast; figures are printed (`--nocapture`) as
//! `FLOOD ...` lines. The tests take turns ([`SERIAL`]): floods running at
//! once would share the two cores and blur each other's figures.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use rootward::cache::{Cache, TtlPolicy};
use rootward::clock::ManualClock;
use rootward::config::DEFAULT_UPSTREAM_TIMEOUT;
use rootward::resolver::inflight::{Limits, MAX_PER_SERVER, MAX_PER_ZONE};
use rootward::resolver::{AddressPolicy, ExtendedError, Resolver, ResolverConfig};
use rootward::root_hints::RootHints;

use support::authority::Zone;
use support::authority_server::{AuthorityServer, Behaviour};
use support::client::{Client, a_records, ede, query, raw_query};
use support::process::{Rootward, write_root_hints};
use support::simnet::SimNet;

/// Flood queries per test (unique names): 20,000 (5,000 a second) in an
/// optimised build; 4,000 (1,000 a second) in a debug build, whose rootward
/// handles under 2,000 a second on two shared cores with debug logging on
/// (past that the kernel drops datagrams, cached questions among them,
/// before rootward sees them): the test is about the bounds, not the CPU.
const FLOOD_QUERIES: usize = if cfg!(debug_assertions) {
    4_000
} else {
    20_000
};
/// Over how long they are sent.
const FLOOD_TIME: Duration = Duration::from_secs(4);
/// Sockets (and threads) sending them, each from its own address.
const FLOOD_SOCKETS: usize = 4;
/// Pacing step of each flood socket.
const FLOOD_STEP: Duration = Duration::from_millis(5);
/// Cached names asked during the flood.
const CACHED_NAMES: usize = 20;
/// Pause between two queries of the cached-names client (it also waits for
/// each answer): a few hundred queries per second.
const CACHED_PAUSE: Duration = Duration::from_millis(2);
/// How long the cached-names client waits for an answer before asking once
/// more, as a stub resolver does (a datagram the kernel dropped from a full
/// receive buffer never reached rootward), and before counting it
/// unanswered.
const CACHED_WAIT: Duration = Duration::from_secs(1);
/// rootward's default `--upstream-timeout`, the cap on every RTO: once a
/// dead server has timed out twice (376 ms, then 752 ms), every query to it
/// waits exactly this long, and holds its in-flight slot as long (see
/// [`peak_in_flight`]).
const UPSTREAM_TIMEOUT: Duration = DEFAULT_UPSTREAM_TIMEOUT;
/// Arrivals this soon after the first are left out of the peak: queries
/// sent before the servers' first timeouts were recorded wait less.
const RAMP: Duration = Duration::from_millis(1_500);
/// Margin for the time from taking a slot to the authority reading the
/// datagram (task and thread scheduling on a loaded machine), and for a
/// walk's last query cut short by the 4 s resolution timeout a few ms early.
const ARRIVAL_JITTER: Duration = Duration::from_millis(300);
/// After the last flood query: every walk has ended (the 4 s resolution
/// timeout) and late answers are in.
const DRAIN: Duration = Duration::from_millis(4_500);

/// One flood at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn ip(k: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 65, k, host))
}

/// The loopback tree of test `k`; the victim's servers behave as `victim`.
struct Tree {
    _root: AuthorityServer,
    _test: AuthorityServer,
    victims: Vec<AuthorityServer>,
    other: AuthorityServer,
    dir: PathBuf,
}

impl Tree {
    fn new(k: u8, victim: Behaviour) -> Tree {
        let root = Zone::parse(
            ".",
            &format!(
                ". 86400 SOA a.root.test. admin.test. 1 1800 900 604800 86400\n\
                 . 518400 NS a.root.test.\n\
                 a.root.test. 518400 A {}\n\
                 test. 172800 NS ns.test.\n\
                 ns.test. 172800 A {}\n",
                ip(k, 2),
                ip(k, 3)
            ),
        );
        let mut cached = String::new();
        for i in 0..CACHED_NAMES {
            cached.push_str(&format!("c{i} 3600 A 192.0.2.{}\n", i + 1));
        }
        let test = Zone::parse(
            "test.",
            &format!(
                "@ 3600 SOA ns.test. admin.test. 1 3600 900 604800 60\n\
                 @ NS ns.test.\n\
                 ns A {}\n\
                 {cached}\
                 victim 86400 NS ns1.victim\n\
                 victim 86400 NS ns2.victim\n\
                 ns1.victim 86400 A {}\n\
                 ns2.victim 86400 A {}\n\
                 other 86400 NS ns.other\n\
                 ns.other 86400 A {}\n",
                ip(k, 3),
                ip(k, 4),
                ip(k, 5),
                ip(k, 6)
            ),
        );
        let victim_zone = || {
            Zone::parse(
                "victim.test.",
                &format!(
                    "@ 3600 SOA ns1 admin 1 3600 900 604800 60\n\
                     @ 86400 NS ns1\n\
                     @ 86400 NS ns2\n\
                     ns1 86400 A {}\n\
                     ns2 86400 A {}\n\
                     www 3600 A 192.0.2.100\n",
                    ip(k, 4),
                    ip(k, 5)
                ),
            )
        };
        let other = Zone::parse(
            "other.test.",
            &format!(
                "@ 3600 SOA ns admin 1 3600 900 604800 60\n\
                 @ NS ns\n\
                 ns A {}\n\
                 * 300 A 192.0.2.200\n",
                ip(k, 6)
            ),
        );
        let dir = std::env::temp_dir().join(format!("rootward-flood-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Tree {
            _root: AuthorityServer::start(ip(k, 2), vec![root]),
            _test: AuthorityServer::start(ip(k, 3), vec![test]),
            victims: (4..=5)
                .map(|h| AuthorityServer::start_with(ip(k, h), vec![victim_zone()], victim.clone()))
                .collect(),
            other: AuthorityServer::start(ip(k, 6), vec![other]),
            dir,
        }
    }

    fn rootward(&self, k: u8) -> Rootward {
        let hints = write_root_hints(&self.dir, &[("a.root.test.", ip(k, 2))]);
        let metrics = SocketAddr::new(ip(k, 1), 9153).to_string();
        Rootward::start(
            SocketAddr::new(ip(k, 1), 53),
            &hints,
            &["--no-dnssec", "--metrics", &metrics],
        )
    }

    /// Queries the victim's servers received so far.
    fn victim_queries(&self) -> usize {
        self.victims.iter().map(|v| v.total()).sum()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// GET /metrics over a plain TCP connection: the body.
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

/// The value of the sample line `name` (exactly, labels included), 0 if
/// absent.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The upstream counters of one scrape.
#[derive(Debug, Clone, Copy, Default)]
struct Upstream {
    queries: f64,
    timeouts: f64,
    throttled_zone: f64,
    throttled_server: f64,
    throttled_total: f64,
}

impl Upstream {
    fn read(metrics: SocketAddr) -> Upstream {
        let t = scrape(metrics);
        let throttled = |r: &str| {
            sample(
                &t,
                &format!("rootward_upstream_throttled_total{{reason=\"{r}\"}}"),
            )
        };
        Upstream {
            queries: sample(&t, "rootward_upstream_queries_total"),
            timeouts: sample(&t, "rootward_upstream_timeouts_total"),
            throttled_zone: throttled("zone"),
            throttled_server: throttled("server"),
            throttled_total: throttled("total"),
        }
    }

    fn since(self, before: Upstream) -> Upstream {
        Upstream {
            queries: self.queries - before.queries,
            timeouts: self.timeouts - before.timeouts,
            throttled_zone: self.throttled_zone - before.throttled_zone,
            throttled_server: self.throttled_server - before.throttled_server,
            throttled_total: self.throttled_total - before.throttled_total,
        }
    }

    fn throttled(&self) -> f64 {
        self.throttled_zone + self.throttled_server + self.throttled_total
    }
}

/// What the flood sockets sent and got back.
#[derive(Debug, Default)]
struct FloodReport {
    sent: usize,
    /// Datagrams the kernel would not take (send buffer full).
    send_errors: usize,
    /// Answers by rcode (low four bits of the header).
    answers: HashMap<u8, usize>,
    /// From the first query sent to the last.
    sending: Duration,
    /// Datagrams this host's kernel dropped from full UDP receive buffers
    /// meanwhile (`RcvbufErrors`, all sockets: mostly rootward's listener).
    rcvbuf_drops: Option<u64>,
}

impl FloodReport {
    fn answered(&self) -> usize {
        self.answers.values().sum()
    }

    fn rcode(&self, rcode: ResponseCode) -> usize {
        self.answers
            .get(&(u16::from(rcode) as u8))
            .copied()
            .unwrap_or(0)
    }
}

/// Sends [`FLOOD_QUERIES`] unique random names under `zone` to `server`
/// from [`FLOOD_SOCKETS`] sockets (sources k.100, k.101, ...), paced evenly
/// over [`FLOOD_TIME`], reading whatever answers come back meanwhile and
/// for [`DRAIN`] after. Bounded: a fixed number of sends, and the time.
fn flood(k: u8, server: SocketAddr, zone: &str, total: usize) -> FloodReport {
    let per_socket = total / FLOOD_SOCKETS;
    let steps = (FLOOD_TIME.as_millis() / FLOOD_STEP.as_millis()) as usize;
    let drops_before = udp_rcvbuf_errors();
    let start = Instant::now();
    let workers: Vec<_> = (0..FLOOD_SOCKETS)
        .map(|s| {
            let zone = zone.to_string();
            thread::spawn(move || {
                let sock =
                    UdpSocket::bind(SocketAddr::new(ip(k, 100 + s as u8), 0)).expect("bind flood");
                sock.set_nonblocking(true).expect("nonblocking");
                let mut report = FloodReport::default();
                let mut buf = [0u8; 4096];
                let mut drain = |sock: &UdpSocket, report: &mut FloodReport| {
                    for _ in 0..10_000 {
                        match sock.recv_from(&mut buf) {
                            Ok((n, _)) if n >= 4 => {
                                *report.answers.entry(buf[3] & 0x0f).or_insert(0) += 1;
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                };
                let mut i = 0;
                for step in 0..steps {
                    let due = per_socket * (step + 1) / steps;
                    while i < due {
                        let name = format!("{}-{s}-{i}.{zone}", random_label());
                        let bytes = raw_query(rand::random(), true, &name, RecordType::A);
                        match sock.send_to(&bytes, server) {
                            Ok(_) => report.sent += 1,
                            Err(_) => report.send_errors += 1,
                        }
                        i += 1;
                    }
                    drain(&sock, &mut report);
                    let next = start + FLOOD_STEP * (step as u32 + 1);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                }
                report.sending = start.elapsed();
                let end = Instant::now() + DRAIN;
                while Instant::now() < end {
                    drain(&sock, &mut report);
                    thread::sleep(Duration::from_millis(20));
                }
                report
            })
        })
        .collect();
    let mut all = FloodReport::default();
    for w in workers {
        let r = w.join().expect("flood thread");
        all.sent += r.sent;
        all.send_errors += r.send_errors;
        all.sending = all.sending.max(r.sending);
        for (rcode, n) in r.answers {
            *all.answers.entry(rcode).or_insert(0) += n;
        }
    }
    all.rcvbuf_drops = udp_rcvbuf_errors()
        .zip(drops_before)
        .map(|(after, before)| after.saturating_sub(before));
    all
}

/// The host's count of UDP datagrams dropped for a full receive buffer
/// (`RcvbufErrors` in /proc/net/snmp), if readable.
fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// Twelve random lower-case letters.
fn random_label() -> String {
    (0..12)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect()
}

/// What the cached-names client saw.
#[derive(Debug, Default)]
struct CachedReport {
    asked: usize,
    /// NOERROR with the name's one address.
    answered: usize,
    /// Answers of another kind, with what they were.
    wrong: Vec<String>,
    /// Answered only when asked a second time.
    retried: usize,
    /// No answer to either try.
    unanswered: usize,
    /// Latency of each answer.
    latencies: Vec<Duration>,
}

impl CachedReport {
    /// The `q` quantile (nearest rank) of the latencies, in ms.
    fn quantile_ms(&self, q: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1].as_secs_f64() * 1e3
    }

    fn max_ms(&self) -> f64 {
        self.latencies
            .iter()
            .max()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    }
}

/// Asks the cached names in turn until `stop`, each once its previous
/// answer came, [`CACHED_PAUSE`] apart; a question without an answer within
/// [`CACHED_WAIT`] is asked once more. At most 20,000 questions.
fn ask_cached(server: SocketAddr, stop: Arc<AtomicBool>) -> thread::JoinHandle<CachedReport> {
    thread::spawn(move || {
        let client = Client::with_timeout(server, CACHED_WAIT);
        let mut report = CachedReport::default();
        for i in 0..20_000 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let n = i % CACHED_NAMES;
            let q = query(&format!("c{n}.test."), RecordType::A);
            let bytes = q.to_vec().expect("encode");
            report.asked += 1;
            let started = Instant::now();
            let mut reply = client.udp_raw(&bytes);
            if reply.is_none() {
                reply = client.udp_raw(&bytes);
                report.retried += usize::from(reply.is_some());
            }
            match reply {
                None => report.unanswered += 1,
                Some(reply) => {
                    report.latencies.push(started.elapsed());
                    let expected = vec![Ipv4Addr::new(192, 0, 2, n as u8 + 1)];
                    match Message::from_vec(&reply) {
                        Ok(m)
                            if m.metadata.response_code == ResponseCode::NoError
                                && a_records(&m) == expected =>
                        {
                            report.answered += 1
                        }
                        Ok(m) => report.wrong.push(format!(
                            "c{n}.test.: {:?} {:?}",
                            m.metadata.response_code,
                            a_records(&m)
                        )),
                        Err(e) => report.wrong.push(format!("c{n}.test.: unparsable: {e}")),
                    }
                }
            }
            thread::sleep(CACHED_PAUSE);
        }
        report
    })
}

/// Resolves every cached name once (they stay cached an hour).
fn warm_cached_names(rw: &Rootward) {
    let c = rw.client();
    for n in 0..CACHED_NAMES {
        let m = c.udp(&format!("c{n}.test."), RecordType::A);
        assert_eq!(
            a_records(&m),
            vec![Ipv4Addr::new(192, 0, 2, n as u8 + 1)],
            "warming c{n}.test."
        );
    }
}

/// The most arrivals within any window of length `window` (times sorted).
fn max_in_window(times: &[Instant], window: Duration) -> usize {
    let mut best = 0;
    let mut first = 0;
    for (last, t) in times.iter().enumerate() {
        while t.duration_since(times[first]) >= window {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}

/// Most queries a server set had in flight at once, as far as their
/// arrival times show (a lower bound on the true peak).
///
/// The victim's servers never answer, so rootward holds each query's slot
/// from just before sending it until its timeout fires, or until the walk
/// is abandoned at its 4 s resolution timeout: after [`RAMP`], at least
/// [`UPSTREAM_TIMEOUT`] less a few ms. A query reaches the authority within
/// a few ms of taking its slot. So the queries arriving within any window
/// of `UPSTREAM_TIMEOUT - ARRIVAL_JITTER` took their slots within one
/// hold time of one another and all held them at one instant: the largest
/// such count was really in flight at once, and it must not exceed the
/// bound. (Under a flood the slots refill the moment they free, so
/// arrivals come in bursts of the bound's size every timeout, and a bound
/// broken by even a few queries shows in this count.)
fn peak_in_flight(arrivals: &[Instant]) -> usize {
    let mut times = arrivals.to_vec();
    times.sort();
    let Some(&first) = times.first() else {
        return 0;
    };
    times.retain(|t| t.duration_since(first) >= RAMP);
    max_in_window(&times, UPSTREAM_TIMEOUT - ARRIVAL_JITTER)
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a flood under `victim.test.` while the cached names are asked;
/// returns both reports and the upstream counters' rise.
fn flood_with_cached_client(
    k: u8,
    tree: &Tree,
    rw: &Rootward,
    total: usize,
) -> (FloodReport, CachedReport, Upstream) {
    let metrics = SocketAddr::new(ip(k, 1), 9153);
    warm_cached_names(rw);
    let before = Upstream::read(metrics);
    for v in &tree.victims {
        v.clear();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let cached = ask_cached(rw.addr, stop.clone());
    let report = flood(k, rw.addr, "victim.test.", total);
    stop.store(true, Ordering::SeqCst);
    let cached = cached.join().expect("cached-names client");
    let upstream = Upstream::read(metrics).since(before);
    (report, cached, upstream)
}

fn print_figures(
    case: &str,
    tree: &Tree,
    flood: &FloodReport,
    cached: &CachedReport,
    up: &Upstream,
) {
    let victim = tree.victim_queries();
    let secs = flood.sending.as_secs_f64();
    println!(
        "FLOOD {case}: flood {} queries in {secs:.2} s ({:.0}/s; {} not taken by the kernel), \
         answered {} (NXDOMAIN {}, SERVFAIL {}); datagrams dropped from full UDP receive \
         buffers on this host meanwhile: {}",
        flood.sent,
        flood.sent as f64 / secs,
        flood.send_errors,
        flood.answered(),
        flood.rcode(ResponseCode::NXDomain),
        flood.rcode(ResponseCode::ServFail),
        flood
            .rcvbuf_drops
            .map_or("unknown".to_string(), |n| n.to_string()),
    );
    println!(
        "FLOOD {case}: cached names: {} asked, {} answered NOERROR ({} only when asked again), \
         {} wrong, {} unanswered; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        cached.asked,
        cached.answered,
        cached.retried,
        cached.wrong.len(),
        cached.unanswered,
        cached.quantile_ms(0.50),
        cached.quantile_ms(0.99),
        cached.max_ms(),
    );
    let mut arrivals: Vec<Instant> = tree.victims.iter().flat_map(|v| v.arrivals()).collect();
    arrivals.sort();
    let span = match (arrivals.first(), arrivals.last()) {
        (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
        _ => 0.0,
    };
    println!(
        "FLOOD {case}: victim's servers received {victim} queries over {span:.2} s from the \
         first to the last ({:.0}/s; amplification {:.3} per flood query); rootward: {} \
         upstream queries sent in all, {} timed out, {} throttled (zone {}, server {}, total {})",
        victim as f64 / span.max(1e-3),
        victim as f64 / flood.sent as f64,
        up.queries,
        up.timeouts,
        up.throttled(),
        up.throttled_zone,
        up.throttled_server,
        up.throttled_total,
    );
}

fn assert_cached_all_answered(rw: &Rootward, cached: &CachedReport) {
    assert!(
        cached.asked > 100,
        "the cached-names client barely ran: {cached:?}"
    );
    assert!(
        cached.wrong.is_empty() && cached.unanswered == 0 && cached.answered == cached.asked,
        "cached names not all answered during the flood: {} asked, {} answered, {} unanswered, \
         wrong: {:?}\n{}",
        cached.asked,
        cached.answered,
        cached.unanswered,
        &cached.wrong[..cached.wrong.len().min(10)],
        rw.tail()
    );
}

#[test]
fn flood_under_a_dead_zone_is_bounded_and_cached_names_are_all_answered() {
    let _serial = lock();
    let k = 1;
    let tree = Tree::new(k, Behaviour::Dead);
    let rw = tree.rootward(k);
    let (report, cached, up) = flood_with_cached_client(k, &tree, &rw, FLOOD_QUERIES);
    print_figures("dead zone", &tree, &report, &cached, &up);

    assert_cached_all_answered(&rw, &cached);
    assert_eq!(report.sent, FLOOD_QUERIES, "{report:?}");
    // The bound was reached (the flood did what it is for), and work past it
    // was shed rather than sent.
    assert!(up.throttled_zone > 0.0, "nothing throttled: {up:?}");
    let arrivals: Vec<Instant> = tree.victims.iter().flat_map(|v| v.arrivals()).collect();
    let peak = peak_in_flight(&arrivals);
    println!(
        "FLOOD dead zone: peak in flight to the victim's servers: {peak} (bound {MAX_PER_ZONE} \
         per zone)"
    );
    assert!(peak <= MAX_PER_ZONE, "{peak} queries in flight to one zone");
    for v in &tree.victims {
        let peak = peak_in_flight(&v.arrivals());
        println!(
            "FLOOD dead zone: peak in flight to {}: {peak} (bound {MAX_PER_SERVER} per server)",
            v.addr
        );
        assert!(
            peak <= MAX_PER_SERVER,
            "{peak} queries in flight to {}",
            v.addr
        );
    }
    // Every query the victim got was one rootward counted as sent.
    assert!(tree.victim_queries() as f64 <= up.queries, "{up:?}");
}

#[test]
fn flood_under_a_live_zone_leaves_cached_names_answered() {
    let _serial = lock();
    let k = 2;
    let tree = Tree::new(k, Behaviour::Normal);
    let rw = tree.rootward(k);
    let (report, cached, up) = flood_with_cached_client(k, &tree, &rw, FLOOD_QUERIES);
    print_figures("live zone", &tree, &report, &cached, &up);

    assert_cached_all_answered(&rw, &cached);
    assert_eq!(report.sent, FLOOD_QUERIES, "{report:?}");
    // The live zone's NXDOMAINs came back to the flood.
    assert!(
        report.rcode(ResponseCode::NXDomain) > 0,
        "no NXDOMAIN answered: {report:?}"
    );
}

#[test]
fn after_a_flood_the_limits_are_released() {
    let _serial = lock();
    let k = 3;
    let tree = Tree::new(k, Behaviour::Dead);
    let rw = tree.rootward(k);
    let metrics = SocketAddr::new(ip(k, 1), 9153);
    let before = Upstream::read(metrics);
    let report = flood(k, rw.addr, "victim.test.", FLOOD_QUERIES / 4);
    let during = Upstream::read(metrics).since(before);
    println!(
        "FLOOD after: during the flood {} queries, {} throttled",
        report.sent,
        during.throttled()
    );
    assert!(
        during.throttled_zone > 0.0,
        "the flood never reached the bound: {during:?}"
    );

    // The flood has stopped and its walks have ended (DRAIN): a fresh name
    // in another zone resolves at once, nothing is throttled any more ...
    let settled = Upstream::read(metrics);
    let c = rw.client();
    let m = c.udp("fresh.other.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m:?}");
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 200)]);
    assert_eq!(tree.other.count("fresh.other.test.", RecordType::A), 1);
    // ... and the victim's own slots are free again: a fresh name under it
    // is not shed. Its servers never answer, so it is SERVFAIL: sent to
    // them once more, or, once each has timed out three times in a row,
    // failed at once without a query until a backoff ends ("no reachable
    // authority", not "upstream queries at their limit").
    let sent_before = tree.victim_queries();
    let m = Client::with_timeout(rw.addr, Duration::from_secs(6)).udp_edns(
        "fresh.victim.test.",
        RecordType::A,
        1232,
    );
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{m:?}");
    let reasons = ede(&m);
    assert!(
        tree.victim_queries() > sent_before
            || reasons == [(22, ExtendedError::NO_REACHABLE_AUTHORITY.text.to_string())],
        "the victim was neither asked again nor given up on: {reasons:?}"
    );
    let after = Upstream::read(metrics).since(settled);
    assert_eq!(
        after.throttled(),
        0.0,
        "throttled after the flood: {after:?}"
    );
    println!(
        "FLOOD after: fresh.other.test. answered, fresh.victim.test. sent to the \
         victim {} times ({reasons:?}), nothing throttled",
        tree.victim_queries() - sent_before
    );
}

/// The same bound behind the upstream seam, with a paused clock and small
/// limits: a query past the bound is not sent, its question fails at once
/// (no waiting in a queue), and the infrastructure cache learns nothing
/// from it (no timeout recorded, no backoff), while the queries holding
/// slots are answered normally.
#[tokio::test(start_paused = true)]
async fn a_shed_query_fails_at_once_and_teaches_nothing_about_the_server() {
    const ROOT: &str = "198.51.100.1";
    const SLOW: &str = "198.51.100.2";
    let net = SimNet::new();
    net.serve(
        ROOT,
        vec![Zone::parse(
            ".",
            &format!(
                ". 86400 SOA a.root.sim. admin.sim. 1 1800 900 604800 86400\n\
                 . 518400 NS a.root.sim.\n\
                 a.root.sim. 518400 A {ROOT}\n\
                 slow. 172800 NS ns.slow.\n\
                 ns.slow. 172800 A {SLOW}\n"
            ),
        )],
    );
    let slow = net.serve(
        SLOW,
        vec![Zone::parse(
            "slow.",
            &format!(
                "@ 3600 SOA ns admin 1 3600 900 604800 60\n\
                 @ NS ns\n\
                 ns A {SLOW}\n\
                 * 300 A 192.0.2.9\n"
            ),
        )],
    );
    slow.set_behaviour(Behaviour::Delay(Duration::from_millis(200)));
    let hints = RootHints::parse(
        &format!(". 3600000 NS a.root.sim.\na.root.sim. 3600000 A {ROOT}\n"),
        "sim",
    )
    .unwrap();
    let resolver = Arc::new(
        Resolver::new(
            Arc::new(Cache::new(
                10_000,
                TtlPolicy::new(
                    Duration::ZERO,
                    Duration::from_secs(86_400),
                    Duration::from_secs(3_600),
                ),
                Duration::from_secs(86_400),
            )),
            net.clone(),
            hints,
            Arc::new(ManualClock::new(1_700_000_000)),
            ResolverConfig::with_policy(AddressPolicy::default()),
        )
        .with_upstream_limits(Limits {
            per_zone: 2,
            per_server: 2,
            total: 100,
        }),
    );
    let ask = |name: &str| {
        let (r, name) = (resolver.clone(), Name::from_ascii(name).unwrap());
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let res = r.resolve(&name, RecordType::A).await;
            (res, started.elapsed())
        })
    };
    // Warm up: the delegation is cached and the server measured.
    let (warm, _) = ask("warm.slow.").await.unwrap();
    assert_eq!(warm.rcode, ResponseCode::NoError);
    let server: IpAddr = SLOW.parse().unwrap();
    let rto_before = resolver.infra().rto(server);
    let seen_before = slow.total();

    let tasks: Vec<_> = (0..6)
        .map(|i| (format!("n{i}.slow."), ask(&format!("n{i}.slow."))))
        .collect();
    let mut answered = 0;
    let mut shed = Vec::new();
    let mut shed_names = Vec::new();
    for (name, t) in tasks {
        let (res, took) = t.await.unwrap();
        match res.rcode {
            ResponseCode::NoError => {
                answered += 1;
                assert!(took >= Duration::from_millis(200), "{took:?}");
            }
            ResponseCode::ServFail => {
                assert_eq!(res.ede, Some(ExtendedError::UPSTREAM_BUSY), "{name}");
                shed.push(took);
                shed_names.push(name);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(answered, 2, "the two slots were answered");
    assert_eq!(shed.len(), 4, "the rest was shed");
    assert!(
        shed.iter().all(|t| t.is_zero()),
        "shed questions waited: {shed:?}"
    );
    assert_eq!(
        slow.total() - seen_before,
        2,
        "shed queries reached the server"
    );
    assert!(
        !resolver
            .infra()
            .backed_off(server, tokio::time::Instant::now())
    );
    assert!(
        resolver.infra().rto(server) < rto_before * 2,
        "a shed query counted as a timeout: RTO {:?} -> {:?}",
        rto_before,
        resolver.infra().rto(server)
    );
    // The slots are back: the next question is sent and answered.
    let (again, _) = ask("later.slow.").await.unwrap();
    assert_eq!(again.rcode, ResponseCode::NoError);
    // A shed question was our limit, not the zone's failure: it is not in
    // the failure cache, and asked again it is answered.
    let (retried, _) = ask(&shed_names[0]).await.unwrap();
    assert_eq!(retried.rcode, ResponseCode::NoError, "{retried:?}");
}
