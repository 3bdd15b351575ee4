//! Soak: rootward under a mixed load for a bounded time while the
//! authoritative servers of its loopback tree die and come back (issue 9
//! item 5).
//!
//! `cargo bench --bench soak` (as root: everything binds port 53 on
//! 127.68.0.0/16). It:
//!
//! 1. serves a loopback tree with the test authority of
//!    `tests/support/authority_server.rs` (table below);
//! 2. starts the release rootward (`--no-dnssec`, a cache of
//!    `SOAK_CACHE_SIZE` entries so that it fills early in the run, metrics
//!    on 127.68.0.1:9153);
//! 3. runs client threads for `SOAK_SECONDS`: cached names (`hosts.soak.`,
//!    30 s TTL, so they are refreshed and served stale while their servers
//!    are down), cold names (unique, under the wildcard of `wild.soak.`),
//!    names under a dead zone (`dead.soak.`: one address with nothing
//!    listening, one that never answers), names under a zone with one
//!    server that flaps (`flap.soak.`), the same over TCP, and malformed
//!    packets over UDP and TCP;
//! 4. meanwhile a chaos thread kills (closes the sockets of) or silences
//!    (reads and never answers) the servers of `soak.`, `hosts.soak.`,
//!    `wild.soak.` and `flap.soak.` and restarts them, at random intervals
//!    (exponential, per server);
//! 5. prints a line every 10 s and a summary at the end (also written to
//!    `target/soak/summary.md`): answered fraction, SERVFAIL fraction,
//!    p50/p99 latency per kind of query, RSS over time, cache entries and
//!    evictions (from rootward's metrics), and the servers' outages.
//!
//! It exits non-zero when rootward exits before the end, when a well-formed
//! query goes unanswered past its bound (rootward's 4 s resolution timeout
//! plus a 2 s margin), or when RSS keeps growing once the cache is full:
//! "full" is from the first size eviction rootward reports
//! (`rootward_cache_evictions_total` > 0); the samples from then on are cut
//! in thirds, and the median of the last third may exceed the median of
//! the first third by at most `SOAK_RSS_GROWTH_PCT` (10) percent. A run in
//! which the cache never fills says so and skips that check.
//!
//! Knobs (environment): `SOAK_SECONDS` (600), `SOAK_CACHE_SIZE` (20000),
//! `SOAK_RSS_GROWTH_PCT` (10), `ROOTWARD_EXTRA_ARGS` (extra rootward
//! flags).
//!
//! Every loop is bounded in count and time, all traffic stays on
//! 127.68.0.0/16, and only the rootward process this program started is
//! signalled, by its PID (SIGTERM, SIGKILL after 5 s).
//!
//! | address          | role                                                |
//! |------------------|-----------------------------------------------------|
//! | 127.68.0.1       | rootward (DNS on :53, metrics on :9153)             |
//! | 127.68.0.2       | a.root.soak: `.` (never stopped)                    |
//! | 127.68.0.3       | ns1.tld.soak: `soak.` (flaps: rarely, briefly)      |
//! | 127.68.0.10, .11 | ns1/ns2.hosts.soak: `hosts.soak.` (flap)            |
//! | 127.68.0.20, .21 | ns1/ns2.wild.soak: `wild.soak.` (flap)              |
//! | 127.68.0.30      | ns1.dead.soak: nothing listens                      |
//! | 127.68.0.31      | ns2.dead.soak: `dead.soak.`, never answers          |
//! | 127.68.0.40      | ns1.flap.soak: `flap.soak.` (flaps often)           |
#![allow(dead_code)]

#[path = "../tests/support/authority.rs"]
mod authority;
#[path = "../tests/support/authority_server.rs"]
mod authority_server;
mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, sleep};
use std::time::{Duration, Instant};

use authority::Zone;
use authority_server::{AuthorityServer, Behaviour};
use common::STARTUP_TIMEOUT;
use common::{env_num_quiet, rss_kib};

// ---------------------------------------------------------------------------
// Limits and addresses
// ---------------------------------------------------------------------------

/// rootward's resolution timeout (passed explicitly; also its default).
const RESOLUTION_TIMEOUT: Duration = Duration::from_secs(4);
/// A well-formed query must be answered within the resolution timeout plus
/// this margin (scheduling on a shared 2-core machine, TCP set-up).
const ANSWER_MARGIN: Duration = Duration::from_secs(2);
/// ... and this long to exit after SIGTERM (then SIGKILL).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// One line of figures this often.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// RSS and liveness are sampled this often.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// The chaos thread looks at its schedule this often.
const CHAOS_TICK: Duration = Duration::from_millis(100);
/// Names `h0`.. of `hosts.soak.` (the cached set).
const HOSTS: usize = 1000;
/// Fixed names `f0`.. of `flap.soak.` (the rest come from its wildcard).
const FLAP_NAMES: usize = 200;
/// Queries per TCP connection before the client opens a new one.
const TCP_PER_CONNECTION: usize = 20;
/// Unanswered queries listed in the summary.
const MAX_EXAMPLES: usize = 20;

const RW: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 1);
const METRICS_PORT: u16 = 9153;
const ROOT: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 2);
const TLD: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 3);
const HOSTS1: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 10);
const HOSTS2: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 11);
const WILD1: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 20);
const WILD2: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 21);
const DEAD1: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 30);
const DEAD2: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 31);
const FLAP1: Ipv4Addr = Ipv4Addr::new(127, 68, 0, 40);

fn rw_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(RW), 53)
}

fn query_bound() -> Duration {
    RESOLUTION_TIMEOUT + ANSWER_MARGIN
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

struct Settings {
    seconds: u64,
    cache_size: u64,
    growth_pct: f64,
    extra: String,
    out: PathBuf,
}

impl Settings {
    fn from_env() -> Settings {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/soak");
        Settings {
            seconds: env_num_quiet("SOAK_SECONDS", 600, 10, 24 * 3600),
            cache_size: env_num_quiet("SOAK_CACHE_SIZE", 20_000, 100, 10_000_000),
            growth_pct: env_num_quiet("SOAK_RSS_GROWTH_PCT", 10.0, 0.0, 1000.0),
            extra: std::env::var("ROOTWARD_EXTRA_ARGS").unwrap_or_default(),
            out,
        }
    }
}

// ---------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------

fn root_zone() -> Zone {
    Zone::parse(
        ".",
        &format!(
            "@ 86400 SOA a.root.soak. hostmaster.root.soak. 1 1800 900 604800 86400\n\
             @ 518400 NS a.root.soak.\n\
             a.root.soak. 518400 A {ROOT}\n\
             soak. 172800 NS ns1.tld.soak.\n\
             ns1.tld.soak. 172800 A {TLD}\n"
        ),
    )
}

fn tld_zone() -> Zone {
    Zone::parse(
        "soak.",
        &format!(
            "@ 3600 SOA ns1.tld hostmaster 1 3600 900 604800 60\n\
             @ 3600 NS ns1.tld\n\
             ns1.tld 3600 A {TLD}\n\
             a.root 3600 A {ROOT}\n\
             hosts 120 NS ns1.hosts\n\
             hosts 120 NS ns2.hosts\n\
             ns1.hosts 120 A {HOSTS1}\n\
             ns2.hosts 120 A {HOSTS2}\n\
             wild 120 NS ns1.wild\n\
             wild 120 NS ns2.wild\n\
             ns1.wild 120 A {WILD1}\n\
             ns2.wild 120 A {WILD2}\n\
             dead 120 NS ns1.dead\n\
             dead 120 NS ns2.dead\n\
             ns1.dead 120 A {DEAD1}\n\
             ns2.dead 120 A {DEAD2}\n\
             flap 120 NS ns1.flap\n\
             ns1.flap 120 A {FLAP1}\n"
        ),
    )
}

/// A leaf zone with its own NS records (120 s) and `body`.
fn leaf(origin: &str, servers: &[(&str, Ipv4Addr)], body: &str) -> Zone {
    let mut text = format!(
        "@ 3600 SOA {} hostmaster 1 3600 900 604800 60\n",
        servers[0].0
    );
    for (ns, addr) in servers {
        let _ = writeln!(text, "@ 120 NS {ns}\n{ns} 120 A {addr}");
    }
    text.push_str(body);
    Zone::parse(origin, &text)
}

fn hosts_zone() -> Zone {
    let mut body = String::new();
    for i in 0..HOSTS {
        let _ = writeln!(body, "h{i} 30 A 192.0.2.{}", i % 250 + 1);
    }
    leaf("hosts.soak.", &[("ns1", HOSTS1), ("ns2", HOSTS2)], &body)
}

fn wild_zone() -> Zone {
    leaf(
        "wild.soak.",
        &[("ns1", WILD1), ("ns2", WILD2)],
        "* 300 A 198.51.100.7\n",
    )
}

fn dead_zone() -> Zone {
    leaf(
        "dead.soak.",
        &[("ns1", DEAD1), ("ns2", DEAD2)],
        "* 300 A 198.51.100.8\n",
    )
}

fn flap_zone() -> Zone {
    let mut body = String::from("* 20 A 198.51.100.9\n");
    for i in 0..FLAP_NAMES {
        let _ = writeln!(body, "f{i} 20 A 203.0.113.{}", i % 250 + 1);
    }
    leaf("flap.soak.", &[("ns1", FLAP1)], &body)
}

fn write_root_hints(dir: &Path) -> PathBuf {
    let text = format!(
        "; root hints of the soak tree\n\
         .            3600000 NS a.root.soak.\n\
         a.root.soak. 3600000 A  {ROOT}\n"
    );
    let path = dir.join("root.hints");
    fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

// ---------------------------------------------------------------------------
// Chaos: servers that die and come back
// ---------------------------------------------------------------------------

/// What a flapping server is doing.
enum State {
    Up(AuthorityServer),
    /// Running, reading queries, never answering.
    Silent(AuthorityServer),
    /// Sockets closed: UDP gets ICMP port unreachable, TCP a reset.
    Stopped,
}

struct Flapper {
    name: &'static str,
    addr: Ipv4Addr,
    zone: fn() -> Zone,
    /// Mean time up and mean time down.
    mean_up: Duration,
    mean_down: Duration,
    state: State,
    next: Instant,
    kills: u32,
    silences: u32,
    restarts: u32,
    failed_restarts: u32,
    down_total: Duration,
    down_since: Option<Instant>,
    /// (when, what) of every change.
    events: Vec<(Instant, &'static str)>,
}

/// An exponentially distributed interval with mean `mean`, within 1–90 s.
fn random_interval(mean: Duration) -> Duration {
    let u: f64 = rand::random_range(1e-6..1.0);
    let secs = -mean.as_secs_f64() * u.ln();
    Duration::from_secs_f64(secs.clamp(1.0, 90.0))
}

/// Starts a test authority, or None if it cannot bind (reported, retried).
fn start_server(addr: Ipv4Addr, zone: fn() -> Zone) -> Option<AuthorityServer> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        AuthorityServer::start(IpAddr::V4(addr), vec![zone()])
    }))
    .ok()
}

impl Flapper {
    fn new(
        name: &'static str,
        addr: Ipv4Addr,
        zone: fn() -> Zone,
        mean_up: Duration,
        mean_down: Duration,
    ) -> Flapper {
        let server = start_server(addr, zone)
            .unwrap_or_else(|| panic!("cannot start the {name} server on {addr}"));
        Flapper {
            name,
            addr,
            zone,
            mean_up,
            mean_down,
            state: State::Up(server),
            next: Instant::now() + random_interval(mean_up),
            kills: 0,
            silences: 0,
            restarts: 0,
            failed_restarts: 0,
            down_total: Duration::ZERO,
            down_since: None,
            events: Vec::new(),
        }
    }

    fn is_up(&self) -> bool {
        matches!(self.state, State::Up(_))
    }

    /// Moves to the next state when its time has come.
    fn tick(&mut self, now: Instant) {
        if now < self.next {
            return;
        }
        let state = std::mem::replace(&mut self.state, State::Stopped);
        self.state = match state {
            State::Up(server) => {
                self.down_since = Some(now);
                self.next = now + random_interval(self.mean_down);
                if rand::random_bool(0.5) {
                    self.kills += 1;
                    self.events.push((now, "killed"));
                    drop(server);
                    State::Stopped
                } else {
                    self.silences += 1;
                    self.events.push((now, "silenced"));
                    server.set_behaviour(Behaviour::Dead);
                    State::Silent(server)
                }
            }
            State::Silent(server) => {
                self.restarts += 1;
                self.back_up(now);
                server.set_behaviour(Behaviour::Normal);
                // Forget the query log now and then (it only grows).
                server.clear();
                State::Up(server)
            }
            State::Stopped => match start_server(self.addr, self.zone) {
                Some(server) => {
                    self.restarts += 1;
                    self.back_up(now);
                    State::Up(server)
                }
                None => {
                    self.failed_restarts += 1;
                    self.next = now + Duration::from_secs(1);
                    State::Stopped
                }
            },
        };
    }

    fn back_up(&mut self, now: Instant) {
        self.events.push((now, "back"));
        if let Some(since) = self.down_since.take() {
            self.down_total += now - since;
        }
        self.next = now + random_interval(self.mean_up);
    }

    /// Time down so far, including an outage still going on.
    fn down_so_far(&self, now: Instant) -> Duration {
        self.down_total + self.down_since.map_or(Duration::ZERO, |s| now - s)
    }
}

/// The chaos thread: flaps `flappers` until `stop`, then returns them (the
/// caller drops them, which stops their threads).
fn chaos(
    mut flappers: Vec<Flapper>,
    stop: Arc<AtomicBool>,
    up_mask: Arc<AtomicU64>,
    deadline: Instant,
) -> JoinHandle<Vec<Flapper>> {
    thread::spawn(move || {
        let ticks = (deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            / CHAOS_TICK.as_millis()) as usize
            + 100;
        for _ in 0..ticks {
            if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                break;
            }
            let now = Instant::now();
            let mut mask = 0u64;
            for (i, f) in flappers.iter_mut().enumerate() {
                f.tick(now);
                if f.is_up() {
                    mask |= 1 << i;
                }
            }
            up_mask.store(mask, Ordering::SeqCst);
            sleep(CHAOS_TICK);
        }
        flappers
    })
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// Kinds of query, in report order.
const KINDS: [&str; 6] = ["cached", "cold", "dead", "flap", "tcp", "malformed"];

#[derive(Default, Clone)]
struct KindStats {
    asked: u64,
    answered: u64,
    noerror: u64,
    servfail: u64,
    other_rcode: u64,
    unanswered: u64,
    /// Latency of each answer, in microseconds.
    latencies_us: Vec<u32>,
}

impl KindStats {
    fn merge(&mut self, o: &KindStats) {
        self.asked += o.asked;
        self.answered += o.answered;
        self.noerror += o.noerror;
        self.servfail += o.servfail;
        self.other_rcode += o.other_rcode;
        self.unanswered += o.unanswered;
        self.latencies_us.extend_from_slice(&o.latencies_us);
    }
}

/// What happened to one query.
enum Outcome {
    Answered { rcode: u8, latency: Duration },
    Unanswered,
}

struct Stats {
    /// Since the last report, per kind.
    interval: Mutex<HashMap<&'static str, KindStats>>,
    /// Unanswered queries: (seconds into the run, kind, what).
    examples: Mutex<Vec<(f64, &'static str, String)>>,
    started: Instant,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            interval: Mutex::new(HashMap::new()),
            examples: Mutex::new(Vec::new()),
            started: Instant::now(),
        }
    }

    fn record(&self, kind: &'static str, outcome: Outcome, what: impl FnOnce() -> String) {
        let mut map = self.interval.lock().unwrap();
        let s = map.entry(kind).or_default();
        s.asked += 1;
        match outcome {
            Outcome::Answered { rcode, latency } => {
                s.answered += 1;
                match rcode {
                    0 => s.noerror += 1,
                    2 => s.servfail += 1,
                    _ => s.other_rcode += 1,
                }
                s.latencies_us
                    .push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
            }
            Outcome::Unanswered => {
                s.unanswered += 1;
                drop(map);
                let mut ex = self.examples.lock().unwrap();
                if ex.len() < MAX_EXAMPLES {
                    ex.push((self.started.elapsed().as_secs_f64(), kind, what()));
                }
            }
        }
    }

    fn take(&self) -> HashMap<&'static str, KindStats> {
        std::mem::take(&mut *self.interval.lock().unwrap())
    }
}

fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    Some(f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0)
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |ms| {
        if ms < 10.0 {
            format!("{ms:.2}")
        } else {
            format!("{ms:.0}")
        }
    })
}

/// The well-formed kinds merged (malformed packets are not expected to be
/// answered).
fn well_formed(map: &HashMap<&'static str, KindStats>) -> KindStats {
    let mut all = KindStats::default();
    for (k, s) in map {
        if *k != "malformed" {
            all.merge(s);
        }
    }
    all
}

// ---------------------------------------------------------------------------
// Wire helpers
// ---------------------------------------------------------------------------

/// A query for `name`/`qtype` (class IN, RD=1) with `id`.
fn raw_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out
}

const A: u16 = 1;
const AAAA: u16 = 28;

/// Whether `reply` answers `query`: same ID, QR set, same question.
fn matches(query: &[u8], reply: &[u8]) -> bool {
    reply.len() >= query.len()
        && reply[..2] == query[..2]
        && reply[2] & 0x80 != 0
        && reply[12..query.len()].eq_ignore_ascii_case(&query[12..])
}

/// Asks over UDP on `sock`; the rcode and latency, or None past `bound`.
fn ask_udp(sock: &UdpSocket, query: &[u8], bound: Duration) -> Option<(u8, Duration)> {
    let start = Instant::now();
    if sock.send(query).is_err() {
        return None;
    }
    let mut buf = [0u8; 4096];
    // Bounded: at most 256 datagrams (stale replies to earlier queries).
    for _ in 0..256 {
        let left = bound.checked_sub(start.elapsed())?;
        if left.is_zero() {
            return None;
        }
        sock.set_read_timeout(Some(left)).ok()?;
        match sock.recv(&mut buf) {
            Ok(n) if matches(query, &buf[..n]) => return Some((buf[3] & 0x0f, start.elapsed())),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // ICMP unreachable: rootward is not listening (crashed?).
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                sleep(Duration::from_millis(50));
                let _ = sock.send(query);
            }
            Err(_) => return None,
        }
    }
    None
}

fn read_frame(s: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    read_exact_by(s, &mut len, deadline)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    read_exact_by(s, &mut body, deadline)?;
    Some(body)
}

fn read_exact_by(s: &mut TcpStream, mut buf: &mut [u8], deadline: Instant) -> Option<()> {
    // Bounded: every read either fills part of `buf` or ends the loop.
    for _ in 0..100_000 {
        if buf.is_empty() {
            return Some(());
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).ok()?;
        match s.read(buf) {
            Ok(0) => return None,
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    None
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

fn client_socket() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a client socket");
    sock.connect(rw_addr()).expect("connect the client socket");
    sock
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

/// A UDP client thread: asks `name_for(n)` one query at a time, `pause`
/// between queries, until `stop` or `deadline`.
fn udp_load(
    kind: &'static str,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    pause: Duration,
    name_for: impl Fn(u64) -> (String, u16) + Send + 'static,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let sock = client_socket();
        let max = (deadline
            .saturating_duration_since(Instant::now())
            .as_micros()
            / pause.as_micros().max(1)) as u64
            + 1;
        for n in 0..max {
            if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                break;
            }
            let (name, qtype) = name_for(n);
            let q = raw_query(rand::random(), &name, qtype);
            let outcome = match ask_udp(&sock, &q, query_bound()) {
                Some((rcode, latency)) => Outcome::Answered { rcode, latency },
                None => Outcome::Unanswered,
            };
            stats.record(kind, outcome, || format!("udp {name} type {qtype}"));
            sleep(pause);
        }
    })
}

/// A TCP client: connections of [`TCP_PER_CONNECTION`] queries, one at a
/// time, over cached, cold and flapping names and one dead name; every
/// fourth connection pipelines its queries.
fn tcp_load(
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    pause: Duration,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let max = (deadline
            .saturating_duration_since(Instant::now())
            .as_micros()
            / (pause.as_micros().max(1) * TCP_PER_CONNECTION as u128)) as u64
            + 1;
        for conn in 0..max {
            if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                break;
            }
            let names: Vec<String> = (0..TCP_PER_CONNECTION)
                .map(|i| match i % 4 {
                    0 | 1 => format!("h{}.hosts.soak", rand::random_range(0..HOSTS)),
                    2 => format!("t{conn}-{i}-{}.wild.soak", rand::random::<u32>()),
                    _ if i == 3 => format!("t{conn}-{i}.dead.soak"),
                    _ => format!("f{}.flap.soak", rand::random_range(0..FLAP_NAMES * 2)),
                })
                .collect();
            let pipelined = conn % 4 == 3;
            let start = Instant::now();
            let stream = TcpStream::connect_timeout(&rw_addr(), Duration::from_secs(2)).ok();
            let Some(mut s) = stream else {
                for name in &names {
                    stats.record("tcp", Outcome::Unanswered, || {
                        format!("tcp {name} (connect failed)")
                    });
                }
                sleep(pause);
                continue;
            };
            let _ = s.set_nodelay(true);
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            let queries: Vec<Vec<u8>> = names
                .iter()
                .map(|n| raw_query(rand::random(), n, A))
                .collect();
            if pipelined {
                let all: Vec<u8> = queries.iter().flat_map(|q| framed(q)).collect();
                let sent = s.write_all(&all).is_ok();
                let deadline = start + query_bound();
                let mut pending: Vec<usize> = (0..queries.len()).collect();
                // Bounded: one frame per query at most.
                for _ in 0..queries.len() {
                    if !sent {
                        break;
                    }
                    let Some(reply) = read_frame(&mut s, deadline) else {
                        break;
                    };
                    if let Some(pos) = pending.iter().position(|&i| matches(&queries[i], &reply)) {
                        pending.swap_remove(pos);
                        stats.record(
                            "tcp",
                            Outcome::Answered {
                                rcode: reply[3] & 0x0f,
                                latency: start.elapsed(),
                            },
                            String::new,
                        );
                    }
                }
                for i in pending {
                    stats.record("tcp", Outcome::Unanswered, || {
                        format!("tcp pipelined {}", names[i])
                    });
                }
            } else {
                for (q, name) in queries.iter().zip(&names) {
                    let t = Instant::now();
                    let reply = s
                        .write_all(&framed(q))
                        .ok()
                        .and_then(|()| read_frame(&mut s, t + query_bound()));
                    match reply {
                        Some(r) if matches(q, &r) => stats.record(
                            "tcp",
                            Outcome::Answered {
                                rcode: r[3] & 0x0f,
                                latency: t.elapsed(),
                            },
                            String::new,
                        ),
                        _ => {
                            stats.record("tcp", Outcome::Unanswered, || format!("tcp {name}"));
                            break;
                        }
                    }
                    sleep(pause);
                }
            }
        }
    })
}

/// One malformed packet of kind `n % 12`.
fn malformed(n: u64) -> Vec<u8> {
    let valid = raw_query(rand::random(), "h1.hosts.soak", A);
    let random = |len: usize| (0..len).map(|_| rand::random::<u8>()).collect::<Vec<u8>>();
    match n % 12 {
        0 => Vec::new(),
        1 => random(rand::random_range(1..12)),
        2 => random(rand::random_range(12..512)),
        3 => valid[..rand::random_range(12..valid.len())].to_vec(),
        4 => {
            // QR=1: a response sent as a query.
            let mut m = valid.clone();
            m[2] |= 0x80;
            m
        }
        5 => {
            // A label longer than the message.
            let mut m = valid[..12].to_vec();
            m.extend_from_slice(&[63, b'a', b'b']);
            m
        }
        6 => {
            // A compression pointer to itself.
            let mut m = valid[..12].to_vec();
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
            m
        }
        7 => {
            // Opcode UPDATE.
            let mut m = valid.clone();
            m[2] = (m[2] & 0x87) | (5 << 3);
            m
        }
        8 => {
            // QDCOUNT 3 with one question.
            let mut m = valid.clone();
            m[5] = 3;
            m
        }
        9 => {
            // ANCOUNT 200 and nothing there.
            let mut m = valid.clone();
            m[7] = 200;
            m
        }
        10 => {
            // Class CHAOS, type ANY.
            let mut m = valid.clone();
            let l = m.len();
            m[l - 4..].copy_from_slice(&[0, 255, 0, 3]);
            m
        }
        _ => {
            // The valid query with random bytes flipped.
            let mut m = valid.clone();
            for _ in 0..3 {
                let i = rand::random_range(0..m.len());
                m[i] ^= rand::random::<u8>() | 1;
            }
            m
        }
    }
}

/// The malformed-packet client: UDP datagrams, and every 8th a TCP
/// connection with a malformed frame (a bad length, a short frame, garbage).
fn malformed_load(
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    pause: Duration,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let sock = client_socket();
        let _ = sock.set_read_timeout(Some(Duration::from_millis(20)));
        let max = (deadline
            .saturating_duration_since(Instant::now())
            .as_micros()
            / pause.as_micros().max(1)) as u64
            + 1;
        let mut buf = [0u8; 4096];
        for n in 0..max {
            if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                break;
            }
            let packet = malformed(n);
            let t = Instant::now();
            let replied = if n % 8 == 7 {
                malformed_tcp(n, &packet)
            } else {
                let _ = sock.send(&packet);
                // A reply (FORMERR, NOTIMP, REFUSED) or nothing; either is
                // fine. Bounded wait.
                matches!(sock.recv(&mut buf), Ok(x) if x >= 12)
            };
            let outcome = if replied {
                Outcome::Answered {
                    rcode: buf[3] & 0x0f,
                    latency: t.elapsed(),
                }
            } else {
                Outcome::Unanswered
            };
            // Not counted as failures: only "sent" and "replied" matter.
            let mut map = stats.interval.lock().unwrap();
            let s = map.entry("malformed").or_default();
            s.asked += 1;
            if let Outcome::Answered { latency, .. } = outcome {
                s.answered += 1;
                s.latencies_us.push(latency.as_micros() as u32);
            }
            drop(map);
            sleep(pause);
        }
    })
}

/// One TCP connection with a malformed frame; whether anything came back.
fn malformed_tcp(n: u64, packet: &[u8]) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&rw_addr(), Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    let bytes = match (n / 8) % 4 {
        // A length far beyond what follows, then close.
        0 => {
            let mut b = 0xffffu16.to_be_bytes().to_vec();
            b.extend_from_slice(packet);
            b
        }
        // A zero-length frame.
        1 => vec![0, 0],
        // One length byte only.
        2 => vec![0x01],
        // The malformed packet as a proper frame.
        _ => framed(packet),
    };
    let _ = s.write_all(&bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 64];
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    matches!(s.read(&mut buf), Ok(x) if x > 0)
}

// ---------------------------------------------------------------------------
// rootward
// ---------------------------------------------------------------------------

struct Rootward {
    child: Child,
    log: PathBuf,
}

impl Rootward {
    fn start(s: &Settings, hints: &Path) -> Rootward {
        let bin = env!("CARGO_BIN_EXE_rootward");
        let log = s.out.join("rootward.log");
        let out = fs::File::create(&log).expect("create rootward.log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(bin)
            .arg("--listen")
            .arg(rw_addr().to_string())
            .arg("--root-hints")
            .arg(hints)
            .arg("--allow-loopback-upstream")
            .arg("--no-dnssec")
            .args(["--control-socket", "off"])
            .args(["--log-level", "warn"])
            .args(["--cache-size", &s.cache_size.to_string()])
            .args(["--resolution-timeout", "4s"])
            .args(["--metrics", &format!("{RW}:{METRICS_PORT}")])
            .args(s.extra.split_whitespace())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let mut rw = Rootward { child, log };
        rw.wait_ready();
        rw
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn wait_ready(&mut self) {
        let sock = client_socket();
        let start = Instant::now();
        // Bounded: one probe per 100 ms until STARTUP_TIMEOUT.
        for _ in 0..(STARTUP_TIMEOUT.as_millis() / 100) {
            if let Some(status) = self.exited() {
                panic!("rootward exited during startup ({status})\n{}", self.tail());
            }
            let q = raw_query(rand::random(), "h0.hosts.soak", A);
            if ask_udp(&sock, &q, Duration::from_millis(100)).is_some() {
                return;
            }
            if start.elapsed() >= STARTUP_TIMEOUT {
                break;
            }
        }
        self.kill();
        panic!(
            "rootward did not answer within {STARTUP_TIMEOUT:?}\n{}",
            self.tail()
        );
    }

    /// SIGTERM to our child's PID, a bounded wait, then SIGKILL.
    fn stop(&mut self) -> String {
        if let Some(status) = self.exited() {
            return format!("had already exited ({status})");
        }
        let pid = self.child.id();
        common::send_term(pid);
        let start = Instant::now();
        if let Some(status) = common::wait_child(&mut self.child, STOP_TIMEOUT) {
            return format!(
                "stopped by SIGTERM in {:.2} s ({status})",
                start.elapsed().as_secs_f64()
            );
        }
        self.kill();
        format!("ignored SIGTERM for {STOP_TIMEOUT:?}; killed (pid {pid})")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn tail(&self) -> String {
        common::log_tail("rootward log", &self.log, 30)
    }
}

impl Drop for Rootward {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.stop();
        }
    }
}

/// `GET /metrics` from rootward: the value of each unlabelled series we use.
fn scrape() -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let addr = SocketAddr::new(IpAddr::V4(RW), METRICS_PORT);
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return out;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /metrics HTTP/1.0\r\nHost: rootward\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return out;
    }
    let mut body = Vec::new();
    let mut chunk = [0u8; 16384];
    // Bounded: at most 16 MiB.
    for _ in 0..1024 {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    for line in String::from_utf8_lossy(&body).lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if let Ok(v) = value.parse::<f64>() {
            // Sum the labelled series of one name too (e.g. throttled).
            let name = series.split('{').next().unwrap_or(series).to_string();
            *out.entry(name).or_insert(0.0) += v;
        }
    }
    out
}

fn metric(m: &HashMap<String, f64>, name: &str) -> f64 {
    m.get(name).copied().unwrap_or(0.0)
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

fn median(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    // `cargo bench` passes --bench; nothing else is read from the arguments.
    let s = Settings::from_env();
    fs::create_dir_all(&s.out).expect("create target/soak");
    println!(
        "soak: {} s, cache {} entries, RSS growth limit {}%, rootward {}",
        s.seconds,
        s.cache_size,
        s.growth_pct,
        env!("CARGO_BIN_EXE_rootward")
    );

    // The tree: the root and the dead zone's silent server stay as they are.
    let _root = AuthorityServer::start(IpAddr::V4(ROOT), vec![root_zone()]);
    let _dead = AuthorityServer::start_with(IpAddr::V4(DEAD2), vec![dead_zone()], Behaviour::Dead);
    let secs = Duration::from_secs;
    let flappers = vec![
        Flapper::new("tld", TLD, tld_zone, secs(90), secs(4)),
        Flapper::new("hosts1", HOSTS1, hosts_zone, secs(30), secs(10)),
        Flapper::new("hosts2", HOSTS2, hosts_zone, secs(30), secs(10)),
        Flapper::new("wild1", WILD1, wild_zone, secs(40), secs(8)),
        Flapper::new("wild2", WILD2, wild_zone, secs(40), secs(8)),
        Flapper::new("flap", FLAP1, flap_zone, secs(12), secs(8)),
    ];
    let names: Vec<&str> = flappers.iter().map(|f| f.name).collect();
    let hints = write_root_hints(&s.out);
    let mut rw = Rootward::start(&s, &hints);
    let pid = rw.pid();
    let rss_start = rss_kib(pid).unwrap_or(0);
    println!("rootward pid {pid}, RSS at start {:.1} MiB", mib(rss_start));

    let run = Duration::from_secs(s.seconds);
    let started = Instant::now();
    let deadline = started + run;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::new());
    let up_mask = Arc::new(AtomicU64::new(u64::MAX));
    let chaos_thread = chaos(flappers, stop.clone(), up_mask.clone(), deadline);

    let ms = Duration::from_millis;
    let mut load = Vec::new();
    for t in 0..2 {
        load.push(udp_load(
            "cached",
            stats.clone(),
            stop.clone(),
            deadline,
            ms(4),
            move |n| {
                let qtype = if (n + t) % 10 == 0 { AAAA } else { A };
                (
                    format!("h{}.hosts.soak", rand::random_range(0..HOSTS)),
                    qtype,
                )
            },
        ));
    }
    for t in 0..3 {
        load.push(udp_load(
            "cold",
            stats.clone(),
            stop.clone(),
            deadline,
            ms(5),
            move |n| (format!("c{t}-{n}-{}.wild.soak", rand::random::<u32>()), A),
        ));
    }
    for t in 0..3 {
        load.push(udp_load(
            "dead",
            stats.clone(),
            stop.clone(),
            deadline,
            ms(50),
            move |n| (format!("d{t}-{n}.dead.soak"), A),
        ));
    }
    load.push(udp_load(
        "flap",
        stats.clone(),
        stop.clone(),
        deadline,
        ms(20),
        |_| {
            (
                format!("f{}.flap.soak", rand::random_range(0..FLAP_NAMES * 3)),
                A,
            )
        },
    ));
    for _ in 0..2 {
        load.push(tcp_load(stats.clone(), stop.clone(), deadline, ms(10)));
    }
    load.push(malformed_load(
        stats.clone(),
        stop.clone(),
        deadline,
        ms(20),
    ));

    // Sample, report, watch for a crash.
    let mut totals: HashMap<&'static str, KindStats> = HashMap::new();
    let mut rss_samples: Vec<(f64, u64)> = Vec::new();
    let mut report_lines: Vec<String> = Vec::new();
    let mut cache_full_at: Option<f64> = None;
    let mut crashed: Option<String> = None;
    let mut next_report = started + REPORT_EVERY;
    let mut last_metrics = HashMap::new();
    let rounds = (run.as_millis() / SAMPLE_EVERY.as_millis()) as usize + 2;
    for _ in 0..rounds {
        sleep(SAMPLE_EVERY);
        let t = started.elapsed().as_secs_f64();
        if let Some(status) = rw.exited() {
            crashed = Some(format!("rootward exited at {t:.1} s: {status}"));
            break;
        }
        if let Some(kib) = rss_kib(pid) {
            rss_samples.push((t, kib));
        }
        let now = Instant::now();
        if now >= next_report || now >= deadline {
            next_report += REPORT_EVERY;
            let m = scrape();
            if cache_full_at.is_none() && metric(&m, "rootward_cache_evictions_total") > 0.0 {
                cache_full_at = Some(t);
            }
            let interval = stats.take();
            for (k, v) in &interval {
                totals.entry(k).or_default().merge(v);
            }
            let line = report_line(
                t,
                &interval,
                rss_samples.last().map(|x| x.1),
                &m,
                &names,
                up_mask.load(Ordering::SeqCst),
            );
            println!("{line}");
            report_lines.push(line);
            last_metrics = m;
        }
        if now >= deadline {
            break;
        }
    }

    // Stop the load (each thread ends within one query bound), then chaos.
    stop.store(true, Ordering::SeqCst);
    for h in load {
        let _ = h.join();
    }
    let flappers = chaos_thread.join().unwrap_or_default();
    let tail = stats.take();
    for (k, v) in &tail {
        totals.entry(k).or_default().merge(v);
    }
    if crashed.is_none()
        && let Some(status) = rw.exited()
    {
        crashed = Some(format!("rootward exited: {status}"));
    }
    let final_metrics = if crashed.is_none() {
        scrape()
    } else {
        last_metrics
    };
    let rss_end = rss_kib(pid).unwrap_or(0);
    let stopped = rw.stop();
    let end = Instant::now();
    let outages: Vec<String> = flappers
        .iter()
        .map(|f| {
            let mut timeline = String::new();
            let mut down: Option<(Instant, &str)> = None;
            for &(at, what) in &f.events {
                match (what, down) {
                    ("back", Some((from, how))) => {
                        let _ = write!(
                            timeline,
                            " {:.0}–{:.0} s {how};",
                            (from - started).as_secs_f64(),
                            (at - started).as_secs_f64()
                        );
                        down = None;
                    }
                    ("back", None) => {}
                    (how, _) => down = Some((at, how)),
                }
            }
            if let Some((from, how)) = down {
                let _ = write!(timeline, " {:.0} s– {how};", (from - started).as_secs_f64());
            }
            format!(
                "{} ({}): {} kills, {} silences, {} restarts{}, down {:.0} s of {:.0} s:{}",
                f.name,
                f.addr,
                f.kills,
                f.silences,
                f.restarts,
                if f.failed_restarts > 0 {
                    format!(" ({} restart attempts failed to bind)", f.failed_restarts)
                } else {
                    String::new()
                },
                f.down_so_far(end).as_secs_f64(),
                (end - started).as_secs_f64(),
                timeline.trim_end_matches(';')
            )
        })
        .collect();
    drop(flappers);

    // Verdicts.
    let mut failures = Vec::new();
    if let Some(c) = &crashed {
        failures.push(format!("{c}\n{}", rw.tail()));
    }
    let all = well_formed(&totals);
    if all.unanswered > 0 {
        failures.push(format!(
            "{} well-formed queries unanswered within {:?}",
            all.unanswered,
            query_bound()
        ));
    }
    let growth = rss_growth(&rss_samples, cache_full_at);
    if let Some((first, last, pct_growth)) = growth
        && pct_growth > s.growth_pct
    {
        failures.push(format!(
            "RSS kept growing after the cache was full: median {:.1} MiB in the first third, \
             {:.1} MiB in the last (+{pct_growth:.1}% > {}%)",
            mib(first),
            mib(last),
            s.growth_pct
        ));
    }

    let summary = summary(
        &s,
        &totals,
        &rss_samples,
        rss_start,
        rss_end,
        cache_full_at,
        growth,
        &final_metrics,
        &outages,
        &report_lines,
        &stats.examples.lock().unwrap(),
        &stopped,
        &failures,
        end - started,
    );
    println!("\n{summary}");
    let path = s.out.join("summary.md");
    let _ = fs::write(&path, &summary);
    println!("summary written to {}", path.display());
    if !failures.is_empty() {
        eprintln!("SOAK FAILED:\n{}", failures.join("\n"));
        std::process::exit(1);
    }
    println!("SOAK PASSED");
}

fn report_line(
    t: f64,
    interval: &HashMap<&'static str, KindStats>,
    rss: Option<u64>,
    m: &HashMap<String, f64>,
    names: &[&str],
    up: u64,
) -> String {
    let all = well_formed(interval);
    let mut lat = all.latencies_us.clone();
    lat.sort_unstable();
    let down: Vec<&str> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| up & (1 << i) == 0)
        .map(|(_, n)| *n)
        .collect();
    let sf = |k: &str| interval.get(k).map_or(0, |s| s.servfail);
    format!(
        "[{t:>5.0} s] queries {:>6} answered {:>6.2}% servfail {:>5.1}% \
         (cached/cold/dead/flap/tcp {}/{}/{}/{}/{}) unanswered {} \
         p50 {} ms p99 {} ms | RSS {:.1} MiB | cache {} entries, {} evicted | down: {}",
        all.asked,
        pct(all.answered, all.asked),
        pct(all.servfail, all.asked),
        sf("cached"),
        sf("cold"),
        sf("dead"),
        sf("flap"),
        sf("tcp"),
        all.unanswered,
        fmt_ms(percentile(&lat, 0.5)),
        fmt_ms(percentile(&lat, 0.99)),
        rss.map_or(0.0, mib),
        metric(m, "rootward_cache_entries"),
        metric(m, "rootward_cache_evictions_total"),
        if down.is_empty() {
            "none".to_string()
        } else {
            down.join(" ")
        }
    )
}

/// (median of the first third, median of the last third, growth %) of the
/// RSS samples from `full_at` on; None when there are too few.
fn rss_growth(samples: &[(f64, u64)], full_at: Option<f64>) -> Option<(u64, u64, f64)> {
    let from = full_at?;
    let steady: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= from)
        .map(|x| x.1)
        .collect();
    if steady.len() < 9 {
        return None;
    }
    let third = steady.len() / 3;
    let first = median(&steady[..third]);
    let last = median(&steady[steady.len() - third..]);
    let growth = (last as f64 - first as f64) * 100.0 / first.max(1) as f64;
    Some((first, last, growth))
}

#[allow(clippy::too_many_arguments)]
fn summary(
    s: &Settings,
    totals: &HashMap<&'static str, KindStats>,
    rss: &[(f64, u64)],
    rss_start: u64,
    rss_end: u64,
    full_at: Option<f64>,
    growth: Option<(u64, u64, f64)>,
    m: &HashMap<String, f64>,
    outages: &[String],
    lines: &[String],
    examples: &[(f64, &'static str, String)],
    stopped: &str,
    failures: &[String],
    took: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Soak summary\n\n{} s run ({:.0} s with shutdown), cache {} entries, query bound {:?}; \
         rootward {stopped}.\n",
        s.seconds,
        took.as_secs_f64(),
        s.cache_size,
        query_bound()
    );
    let _ = writeln!(
        out,
        "| kind | queries | answered | NOERROR | SERVFAIL | other rcode | unanswered | p50 ms | p99 ms | max ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let mut rows: Vec<(&str, KindStats)> = KINDS
        .iter()
        .map(|k| (*k, totals.get(k).cloned().unwrap_or_default()))
        .collect();
    rows.push(("all well-formed", well_formed(totals)));
    for (k, st) in rows {
        let mut lat = st.latencies_us.clone();
        lat.sort_unstable();
        let _ = writeln!(
            out,
            "| {k} | {} | {:.2}% | {:.1}% | {:.1}% | {:.1}% | {} | {} | {} | {} |",
            st.asked,
            pct(st.answered, st.asked),
            pct(st.noerror, st.asked),
            pct(st.servfail, st.asked),
            pct(st.other_rcode, st.asked),
            if k == "malformed" {
                "(not expected)".to_string()
            } else {
                st.unanswered.to_string()
            },
            fmt_ms(percentile(&lat, 0.5)),
            fmt_ms(percentile(&lat, 0.99)),
            fmt_ms(lat.last().map(|v| f64::from(*v) / 1000.0)),
        );
    }
    let max_rss = rss.iter().map(|x| x.1).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "\nRSS: {:.1} MiB at start, {:.1} MiB at the end, {:.1} MiB at most.",
        mib(rss_start),
        mib(rss_end),
        mib(max_rss)
    );
    match (full_at, growth) {
        (Some(t), Some((first, last, g))) => {
            let _ = writeln!(
                out,
                "Cache full (first size eviction) at {t:.0} s; RSS after that: median {:.1} MiB \
                 in the first third, {:.1} MiB in the last third ({g:+.1}%, limit {}%).",
                mib(first),
                mib(last),
                s.growth_pct
            );
        }
        (Some(t), None) => {
            let _ = writeln!(
                out,
                "Cache full at {t:.0} s, too late for the growth check (fewer than 9 samples)."
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "The cache never filled: the RSS growth check did not apply."
            );
        }
    }
    // RSS over time: one sample per 30 s.
    let _ = write!(out, "RSS over time (s: MiB):");
    let mut next = 0.0;
    for (t, kib) in rss {
        if *t >= next {
            let _ = write!(out, " {t:.0}: {:.1};", mib(*kib));
            next += 30.0;
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "\nrootward's metrics at the end: cache {} entries, {} evictions; {} upstream queries, \
         {} upstream timeouts, {} stale answers served, {} upstream queries shed by the \
         in-flight limits, {} client requests dropped.",
        metric(m, "rootward_cache_entries"),
        metric(m, "rootward_cache_evictions_total"),
        metric(m, "rootward_upstream_queries_total"),
        metric(m, "rootward_upstream_timeouts_total"),
        metric(m, "rootward_stale_answers_total"),
        metric(m, "rootward_upstream_throttled_total"),
        metric(m, "rootward_dropped_requests_total"),
    );
    let _ = writeln!(
        out,
        "\nServer outages (times from the start of the load; killed: sockets closed; \
         silenced: reads and never answers):"
    );
    for o in outages {
        let _ = writeln!(out, "- {o}");
    }
    if !examples.is_empty() {
        let _ = writeln!(out, "\nUnanswered (first {MAX_EXAMPLES}):");
        for (t, k, what) in examples {
            let _ = writeln!(out, "- at {t:.1} s, {k}: {what}");
        }
    }
    let _ = writeln!(out, "\nEvery {} s:\n", REPORT_EVERY.as_secs());
    let _ = writeln!(out, "```");
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(out, "```");
    let _ = writeln!(
        out,
        "\nVerdict: {}",
        if failures.is_empty() {
            "passed".to_string()
        } else {
            format!("FAILED: {}", failures.join("; "))
        }
    );
    out
}
