//! rootward beside the resolvers people would use instead, side by side on
//! this machine, in one run: Unbound, PowerDNS Recursor, Knot Resolver, and
//! a minimal responder as the ceiling of what this machine's UDP path and
//! load generator allow.
//!
//! `cargo bench --bench compare` (as root: everything binds port 53 on
//! 127.62.0.0/16; missing peers and dnsperf are installed from Debian with
//! apt-get, their packaged services kept stopped). It:
//!
//! 1. serves a loopback tree with the test authority of
//!    `tests/support/authority_server.rs`: the root, the TLD `bench.`, the
//!    leaf `hosts.bench.` (a list of names) and `miss.bench.` (a wildcard,
//!    so every run can ask names no resolver has seen);
//! 2. starts every resolver with the same root hints, the same number of
//!    threads (`COMPARE_THREADS`, default 2) and caches big enough for
//!    every name asked, each on its own address;
//! 3. per resolver, on its cold cache: asks the list of names once (upstream
//!    queries per name, counted at the authorities), then caches
//!    `COMPARE_WARM_NAMES` (100k) wildcard names and reads its resident
//!    memory;
//! 4. `COMPARE_ROUNDS` rounds, alternating resolvers within each round: a
//!    cached run (dnsperf over the warmed list) and a cache-miss run
//!    (dnsperf over names never asked before), each `COMPARE_SECONDS` long,
//!    reading the resolver's CPU time before and after;
//! 5. prints one table (and the same as Markdown between markers) with each
//!    metric and its ratio to Unbound; logs, dnsperf outputs and configs
//!    stay in `target/compare/`.
//!
//! Knobs (environment): `COMPARE_SECONDS` (10), `COMPARE_THREADS` (2),
//! `COMPARE_ROUNDS` (3), `COMPARE_CLIENTS` (dnsperf `-c`, 16),
//! `COMPARE_LOAD_THREADS` (dnsperf `-T`, 2), `COMPARE_OUTSTANDING` (dnsperf
//! `-q`, 100), `COMPARE_WARM_NAMES` (100000), `COMPARE_ONLY` (a comma list
//! of rootward, unbound, pdns, knot, ceiling), `COMPARE_LATENCY=off` (no
//! dnsperf `-v`, so no percentiles), `COMPARE_MAX_QPS` (dnsperf `-Q` for
//! the cached and cache-miss runs, to read latency below saturation), `COMPARE_NO_INSTALL=1` (never run
//! apt-get), `ROOTWARD_EXTRA_ARGS` (extra rootward flags).
//!
//! Every loop is bounded in count and time; all traffic stays on 127.0.0.0/8.
//! Only processes this program started are ever signalled, by their PID.
//!
//! | address          | role                                                  |
//! |------------------|-------------------------------------------------------|
//! | 127.62.0.1       | rootward                                              |
//! | 127.62.0.2       | a.root-servers.net: `.` and `root-servers.net.`       |
//! | 127.62.0.10      | a.nic.bench: `bench.`                                 |
//! | 127.62.0.20      | ns1.hosts.bench: `hosts.bench.` (the cached list)     |
//! | 127.62.0.21, .22 | ns1/ns2.miss.bench: `miss.bench.` (`*` wildcard)      |
//! | 127.62.0.250     | minimal responder (in this process)                   |
//! | 127.62.0.252     | Knot Resolver                                         |
//! | 127.62.0.253     | PowerDNS Recursor                                     |
//! | 127.62.0.254     | Unbound                                               |
#![allow(dead_code)]

#[path = "../tests/support/authority.rs"]
mod authority;
#[path = "../tests/support/authority_server.rs"]
mod authority_server;
mod common;

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, sleep};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use socket2::{Domain, Protocol, Socket, Type};

use authority::Zone;
use authority_server::AuthorityServer;
use common::{APT_TIMEOUT, DNSPERF_GRACE, STARTUP_TIMEOUT};
use common::{
    Dnsperf, DnsperfSummary, Install, Proc, clock_ticks_cached, dnsperf_failure, f_3, f_int, f_ms,
    f_us, fmt_ms, kb_field, machine_ticks, mean, rand_id, run_logged, stat_ticks, version_line,
};

// ---------------------------------------------------------------------------
// Limits and addresses
// ---------------------------------------------------------------------------

/// A resolver gets this long to exit after SIGTERM (then SIGKILL).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The cold pass over the list of names may take this long at most.
const COLD_LIMIT_SECS: u64 = 30;
/// Caching the warm names may take this long at most.
const WARM_LIMIT_SECS: u64 = 90;
/// dnsperf's per-query timeout (seconds).
const DNSPERF_TIMEOUT: u64 = 2;
/// Upstream traffic is "settled" once the authorities' counters have not
/// moved for this long...
const QUIET: Duration = Duration::from_millis(300);
/// ...or after this long at most.
const SETTLE_MAX: Duration = Duration::from_secs(3);
/// Names in the cached list (`h0` .. in hosts.bench.).
const HOSTS: usize = 1000;
/// Fresh names written per second of a cache-miss run: more than any
/// resolver here answers, so a run ends on time, not on names.
const MISS_NAMES_PER_SEC: u64 = 60_000;

const ROOTWARD_ADDR: Ipv4Addr = Ipv4Addr::new(127, 62, 0, 1);
const CEILING_ADDR: Ipv4Addr = Ipv4Addr::new(127, 62, 0, 250);
const KNOT_ADDR: Ipv4Addr = Ipv4Addr::new(127, 62, 0, 252);
const PDNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 62, 0, 253);
const UNBOUND_ADDR: Ipv4Addr = Ipv4Addr::new(127, 62, 0, 254);
const MISS_NS1: Ipv4Addr = Ipv4Addr::new(127, 62, 0, 21);

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

struct Settings {
    seconds: u64,
    threads: usize,
    rounds: usize,
    clients: usize,
    load_threads: usize,
    outstanding: usize,
    warm_names: usize,
    only: Option<Vec<String>>,
    no_install: bool,
    /// dnsperf -v (every answer's latency, for the percentiles).
    latency: bool,
    /// dnsperf -Q for the cached and cache-miss runs (None: unbounded).
    max_qps: Option<u64>,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            seconds: common::env_num("compare", "COMPARE_SECONDS", 10, 1, 120),
            threads: common::env_num("compare", "COMPARE_THREADS", 2, 1, 64),
            rounds: common::env_num("compare", "COMPARE_ROUNDS", 3, 1, 10),
            clients: common::env_num("compare", "COMPARE_CLIENTS", 16, 1, 256),
            load_threads: common::env_num("compare", "COMPARE_LOAD_THREADS", 2, 1, 64),
            outstanding: common::env_num("compare", "COMPARE_OUTSTANDING", 100, 1, 10_000),
            warm_names: common::env_num("compare", "COMPARE_WARM_NAMES", 100_000, 0, 1_000_000),
            only: std::env::var("COMPARE_ONLY").ok().map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
            no_install: std::env::var_os("COMPARE_NO_INSTALL").is_some(),
            latency: std::env::var("COMPARE_LATENCY").map_or(true, |v| v.trim() != "off"),
            max_qps: std::env::var("COMPARE_MAX_QPS")
                .ok()
                .map(|_| common::env_num("compare", "COMPARE_MAX_QPS", 0, 1, 10_000_000)),
        }
    }

    fn wants(&self, kind: Kind) -> bool {
        self.only
            .as_ref()
            .is_none_or(|l| l.iter().any(|k| k == kind.key()))
    }
}

// ---------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------

/// One authoritative server: its address (last octet in 127.62.0.0/24) and
/// the origins of the zones it serves.
struct ServerSpec {
    host: &'static str,
    octet: u8,
    zones: &'static [&'static str],
}

const SERVERS: &[ServerSpec] = &[
    ServerSpec {
        host: "a.root-servers.net",
        octet: 2,
        zones: &[".", "root-servers.net."],
    },
    ServerSpec {
        host: "a.nic.bench",
        octet: 10,
        zones: &["bench."],
    },
    ServerSpec {
        host: "ns1.hosts.bench",
        octet: 20,
        zones: &["hosts.bench."],
    },
    ServerSpec {
        host: "ns1.miss.bench",
        octet: 21,
        zones: &["miss.bench."],
    },
    ServerSpec {
        host: "ns2.miss.bench",
        octet: 22,
        zones: &["miss.bench."],
    },
];

/// Zone data by origin. `$TTL 3600` applies where a record has no TTL.
const ZONES: &[(&str, &str)] = &[
    (
        ".",
        "@ 86400 SOA a.root-servers.net. nstld.root-servers.net. 2024010101 1800 900 604800 86400
@ 518400 NS a.root-servers.net.
a.root-servers.net. 518400 A 127.62.0.2
root-servers.net. 518400 NS a.root-servers.net.
bench. 172800 NS a.nic.bench.
a.nic.bench. 172800 A 127.62.0.10",
    ),
    (
        "root-servers.net.",
        "@ 3600000 SOA a.root-servers.net. nstld.root-servers.net. 1 14400 7200 1209600 3600000
@ 3600000 NS a.root-servers.net.
a 3600000 A 127.62.0.2",
    ),
    (
        "bench.",
        "@ 86400 SOA a.nic.bench. hostmaster.nic.bench. 1 1800 900 604800 86400
@ 172800 NS a.nic.bench.
a.nic 172800 A 127.62.0.10
hosts 172800 NS ns1.hosts
ns1.hosts 172800 A 127.62.0.20
miss 172800 NS ns1.miss
miss 172800 NS ns2.miss
ns1.miss 172800 A 127.62.0.21
ns2.miss 172800 A 127.62.0.22",
    ),
    (
        "hosts.bench.",
        "@ 86400 SOA ns1 hostmaster 1 7200 900 1209600 86400
@ 86400 NS ns1
ns1 86400 A 127.62.0.20",
    ),
    (
        "miss.bench.",
        "@ 86400 SOA ns1 hostmaster 1 7200 900 1209600 86400
@ 86400 NS ns1
@ 86400 NS ns2
ns1 86400 A 127.62.0.21
ns2 86400 A 127.62.0.22
* 86400 A 198.51.100.7",
    ),
];

fn server_ip(spec: &ServerSpec) -> Ipv4Addr {
    Ipv4Addr::new(127, 62, 0, spec.octet)
}

/// The address every name of the list resolves to.
fn host_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1)
}

fn zone(origin: &str) -> Zone {
    let (_, text) = ZONES
        .iter()
        .find(|(o, _)| *o == origin)
        .unwrap_or_else(|| panic!("no zone data for {origin}"));
    let mut text = text.to_string();
    if origin == "hosts.bench." {
        for i in 0..HOSTS {
            let _ = write!(text, "\nh{i} 86400 A {}", host_address(i));
        }
    }
    Zone::parse(origin, &text)
}

fn start_authorities() -> Vec<AuthorityServer> {
    SERVERS
        .iter()
        .map(|s| {
            AuthorityServer::start(
                IpAddr::V4(server_ip(s)),
                s.zones.iter().map(|o| zone(o)).collect(),
            )
        })
        .collect()
}

fn write_root_hints(dir: &Path) -> PathBuf {
    let text = "; root hints of the compare bench tree\n\
                .                    3600000 NS a.root-servers.net.\n\
                a.root-servers.net.  3600000 A  127.62.0.2\n";
    let path = dir.join("root.hints");
    fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Writes the upstream queries of a cold pass: every one except the list's
/// own `hN.hosts.bench. A` (only counted), grouped by server.
fn write_cold_traffic(auth: &[AuthorityServer], file: &Path) {
    let mut list = 0usize;
    let mut text = String::new();
    for (spec, server) in SERVERS.iter().zip(auth) {
        for (transport, name, qtype, edns) in server.queries() {
            let lc = name.to_lowercase().to_ascii();
            let is_list = qtype == RecordType::A
                && lc.strip_suffix(".hosts.bench.").is_some_and(|h| {
                    h.strip_prefix('h')
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                });
            if is_list {
                list += 1;
                continue;
            }
            let _ = writeln!(
                text,
                "{:<16} {:?} {} {qtype}{}",
                spec.host,
                transport,
                name.to_ascii(),
                if edns { "" } else { " (no EDNS)" }
            );
        }
    }
    let _ = fs::write(
        file,
        format!(
            "# upstream queries from the start through the cold pass\n\
             # {list} queries for the list's own names (hN.hosts.bench. A), and these:\n{text}"
        ),
    );
}

/// Total queries the authorities have received since they were last cleared.
fn upstream_total(auth: &[AuthorityServer]) -> usize {
    auth.iter().map(|s| s.total()).sum()
}

fn upstream_clear(auth: &[AuthorityServer]) {
    for s in auth {
        s.clear();
    }
}

/// Waits (bounded) until no query has reached the authorities for QUIET,
/// then returns the total count.
fn upstream_settle(auth: &[AuthorityServer]) -> usize {
    let start = Instant::now();
    let mut last = upstream_total(auth);
    let mut quiet_since = Instant::now();
    let step = Duration::from_millis(25);
    for _ in 0..(SETTLE_MAX.as_millis() / step.as_millis() + 1) {
        if start.elapsed() >= SETTLE_MAX || quiet_since.elapsed() >= QUIET {
            break;
        }
        sleep(step);
        let now = upstream_total(auth);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    last
}

// ---------------------------------------------------------------------------
// Query files
// ---------------------------------------------------------------------------

fn write_hosts_file(dir: &Path) -> PathBuf {
    let mut s = String::with_capacity(HOSTS * 24);
    for i in 0..HOSTS {
        let _ = writeln!(s, "h{i}.hosts.bench A");
    }
    let path = dir.join("hosts.txt");
    fs::write(&path, s).expect("write hosts.txt");
    path
}

/// `count` names under the wildcard, all starting with `prefix` (unique per
/// run), one dnsperf line each.
fn write_miss_file(dir: &Path, prefix: &str, count: usize) -> PathBuf {
    let mut s = String::with_capacity(count * 28);
    for i in 0..count {
        let _ = writeln!(s, "{prefix}{i}.miss.bench A");
    }
    let path = dir.join(format!("names-{prefix}.txt"));
    fs::write(&path, s).expect("write a names file");
    path
}

// ---------------------------------------------------------------------------
// Client probes
// ---------------------------------------------------------------------------

/// Readiness without warming the cache: a header-only query (QDCOUNT=0),
/// which every resolver here answers (FORMERR) or drops at once; when it is
/// dropped, `version.bind CH TXT`, answered locally.
fn ready_probe(server: SocketAddr) -> bool {
    let id = rand_id();
    let q = common::header_only_query(id);
    if exchange(server, &q, Duration::from_millis(150)).is_some() {
        return true;
    }
    let mut msg = Message::query();
    msg.metadata.id = id.wrapping_add(1);
    let mut query = Query::query(Name::from_ascii("version.bind.").unwrap(), RecordType::TXT);
    query.set_query_class(hickory_proto::rr::DNSClass::CH);
    msg.add_query(query);
    msg.to_vec()
        .ok()
        .and_then(|b| exchange(server, &b, Duration::from_millis(150)))
        .is_some()
}

/// Asks `name` A once (RD=1) and returns the A records' addresses.
fn ask_a(server: SocketAddr, name: &str) -> Result<Vec<Ipv4Addr>, String> {
    let mut msg = Message::query();
    msg.metadata.id = rand_id();
    msg.metadata.recursion_desired = true;
    let qname = Name::from_ascii(name).map_err(|e| format!("bad name: {e}"))?;
    msg.add_query(Query::query(qname, RecordType::A));
    let bytes = msg.to_vec().map_err(|e| format!("encode: {e}"))?;
    let reply = exchange(server, &bytes, Duration::from_secs(5)).ok_or("timeout")?;
    let reply = Message::from_vec(&reply).map_err(|e| format!("undecodable reply: {e}"))?;
    if reply.metadata.response_code != ResponseCode::NoError {
        return Err(format!("{:?}", reply.metadata.response_code));
    }
    Ok(reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// Sends one datagram and returns the first reply carrying the same ID.
fn exchange(server: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    common::exchange("127.0.0.1:0", server, bytes, timeout)
}

/// A child process (see [`Proc`]), stopped within [`STOP_TIMEOUT`].
fn spawn_proc(what: &str, cmd: Command, log: PathBuf) -> Result<Proc, String> {
    Proc::spawn(what, cmd, log, STOP_TIMEOUT)
}

/// Like [`run_logged`] with a throwaway log.
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String) {
    common::run_bounded(cmd, limit, "compare-cmd")
}

fn find_program(name: &str) -> Option<PathBuf> {
    common::find_program(name, &["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"])
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    common::machine(cpus)
}

// ---------------------------------------------------------------------------
// /proc readings
// ---------------------------------------------------------------------------

fn add_ticks(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0 + b.0, a.1 + b.1)
}

/// Pages an LMDB file uses, in kB: (last page number + 1) × page size,
/// from the newer of its two meta pages (64-bit layout: after the 16-byte
/// page header, magic u32, version u32, address u64, map size u64, two
/// 48-byte database records, then last page u64 and transaction ID u64).
fn lmdb_used_kb(file: &Path) -> Option<u64> {
    use std::io::Read;
    const MAGIC: u32 = 0xBEEF_C0DE;
    let page = 4096usize;
    let mut f = fs::File::open(file).ok()?;
    let mut buf = vec![0u8; 2 * page];
    f.read_exact(&mut buf).ok()?;
    let u32_at = |o: usize| u32::from_le_bytes(buf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(buf[o..o + 8].try_into().unwrap());
    let mut best: Option<(u64, u64)> = None;
    for base in [0, page] {
        if u32_at(base + 16) != MAGIC {
            continue;
        }
        let (last_pg, txnid) = (u64_at(base + 136), u64_at(base + 144));
        if best.is_none_or(|(_, t)| txnid > t) {
            best = Some((last_pg, txnid));
        }
    }
    best.map(|(last_pg, _)| (last_pg + 1) * page as u64 / 1024)
}

// ---------------------------------------------------------------------------
// The minimal responder
// ---------------------------------------------------------------------------

/// N threads, each with its own SO_REUSEPORT UDP socket, answering every
/// query with one pre-encoded answer whose ID is patched to the query's.
struct Ceiling {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Kernel thread IDs of the answering threads, for their CPU time.
    tids: Arc<Mutex<Vec<u32>>>,
}

impl Ceiling {
    fn start(addr: SocketAddr, threads: usize) -> Result<Ceiling, String> {
        let reply = Arc::new(ceiling_reply());
        let stop = Arc::new(AtomicBool::new(false));
        let tids = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for i in 0..threads {
            let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
                .map_err(|e| format!("socket: {e}"))?;
            sock.set_reuse_port(true)
                .map_err(|e| format!("SO_REUSEPORT: {e}"))?;
            sock.bind(&addr.into())
                .map_err(|e| format!("bind {addr}: {e}"))?;
            let sock: UdpSocket = sock.into();
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            let (stop, tids, reply) = (stop.clone(), tids.clone(), reply.clone());
            let h = thread::Builder::new()
                .name(format!("ceiling-{i}"))
                .spawn(move || {
                    if let Some(tid) = fs::read_link("/proc/thread-self")
                        .ok()
                        .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok())
                    {
                        tids.lock().unwrap().push(tid);
                    }
                    ceiling_loop(&sock, &reply, &stop)
                })
                .map_err(|e| e.to_string())?;
            handles.push(h);
        }
        Ok(Ceiling {
            stop,
            threads: handles,
            tids,
        })
    }

    fn cpu_ticks(&self) -> (u64, u64) {
        let me = std::process::id();
        self.tids
            .lock()
            .unwrap()
            .iter()
            .filter_map(|t| stat_ticks(&format!("/proc/{me}/task/{t}/stat")))
            .fold((0, 0), add_ticks)
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The fixed reply: h0.hosts.bench. A, one A record, RA=1.
fn ceiling_reply() -> Vec<u8> {
    let name = Name::from_ascii("h0.hosts.bench.").unwrap();
    let mut m = Message::new(0, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_query(Query::query(name.clone(), RecordType::A));
    m.answers.push(Record::from_rdata(
        name,
        86400,
        RData::A(A(host_address(0))),
    ));
    m.to_vec().expect("encode the fixed reply")
}

fn ceiling_loop(sock: &UdpSocket, reply: &[u8], stop: &AtomicBool) {
    let mut buf = [0u8; 1500];
    let mut out = reply.to_vec();
    while !stop.load(Ordering::Relaxed) {
        match sock.recv_from(&mut buf) {
            // A query (QR=0) with at least a header.
            Ok((n, peer)) if n >= 12 && buf[2] & 0x80 == 0 => {
                out[0] = buf[0];
                out[1] = buf[1];
                let _ = sock.send_to(&out, peer);
            }
            Ok(_) => {}
            Err(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Installing the peers
// ---------------------------------------------------------------------------

const PACKAGES: &[(&str, &str, &[&str])] = &[
    ("dnsperf", "dnsperf", &[]),
    ("unbound", "unbound", &["unbound"]),
    ("pdns-recursor", "pdns_recursor", &["pdns-recursor"]),
    (
        "knot-resolver",
        "kresd",
        &["kresd@1", "kres-cache-gc", "kresd"],
    ),
];

/// Installs the packages whose program is missing; returns notes.
fn ensure_installed(settings: &Settings, out: &Path) -> Vec<String> {
    Install {
        bench: "compare",
        packages: PACKAGES,
        find: find_program,
        forbidden_by: settings.no_install.then_some("COMPARE_NO_INSTALL"),
        shown_options: "",
        timeout: APT_TIMEOUT,
        tag: "compare-cmd",
    }
    .run(out)
}

// ---------------------------------------------------------------------------
// Resolvers under test
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rootward,
    Unbound,
    Pdns,
    Knot,
    Ceiling,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Rootward,
        Kind::Unbound,
        Kind::Pdns,
        Kind::Knot,
        Kind::Ceiling,
    ];

    fn key(self) -> &'static str {
        match self {
            Kind::Rootward => "rootward",
            Kind::Unbound => "unbound",
            Kind::Pdns => "pdns",
            Kind::Knot => "knot",
            Kind::Ceiling => "ceiling",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Rootward => "rootward",
            Kind::Unbound => "Unbound",
            Kind::Pdns => "PowerDNS Recursor",
            Kind::Knot => "Knot Resolver",
            Kind::Ceiling => "minimal responder",
        }
    }

    fn addr(self) -> SocketAddr {
        let ip = match self {
            Kind::Rootward => ROOTWARD_ADDR,
            Kind::Unbound => UNBOUND_ADDR,
            Kind::Pdns => PDNS_ADDR,
            Kind::Knot => KNOT_ADDR,
            Kind::Ceiling => CEILING_ADDR,
        };
        SocketAddr::new(IpAddr::V4(ip), 53)
    }
}

/// One dnsperf run's results.
#[derive(Clone, Debug, Default)]
struct RunStats {
    qps: f64,
    sent: u64,
    completed: u64,
    lost: u64,
    noerror: u64,
    /// Seconds dnsperf ran.
    runtime: f64,
    avg_latency: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    /// Resolver CPU seconds during the run (user + system)...
    cpu: Option<f64>,
    /// ...of which in user space.
    cpu_user: Option<f64>,
    /// Cores busy on the whole machine during the run (resolver, dnsperf,
    /// test authorities, kernel).
    machine_cores: Option<f64>,
    /// Queries the authorities received for this run.
    upstream: Option<usize>,
    /// The names file ran out before the time limit.
    exhausted: bool,
}

impl RunStats {
    fn cpu_per_answer_us(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.completed > 0).then(|| cpu * 1e6 / self.completed as f64)
    }

    /// Share of the resolver's CPU time spent in user space.
    fn user_share(&self) -> Option<f64> {
        let (cpu, user) = (self.cpu?, self.cpu_user?);
        (cpu > 0.0).then(|| user / cpu)
    }

    fn cores(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.runtime > 0.0).then(|| cpu / self.runtime)
    }

    fn upstream_per_answer(&self) -> Option<f64> {
        let up = self.upstream?;
        (self.noerror > 0).then(|| up as f64 / self.noerror as f64)
    }

    fn brief(&self) -> String {
        format!(
            "{:.0} QPS, {}/{} answered ({} NOERROR, {} lost), p50 {} p99 {}, cpu {}{}{}{}",
            self.qps,
            self.completed,
            self.sent,
            self.noerror,
            self.lost,
            fmt_ms(self.p50),
            fmt_ms(self.p99),
            self.cpu_per_answer_us()
                .map(|c| format!(
                    "{c:.1} µs/answer ({:.2} cores)",
                    self.cores().unwrap_or(0.0)
                ))
                .unwrap_or_else(|| "n/a".into()),
            self.upstream_per_answer()
                .map(|u| format!(", {u:.3} upstream/answer"))
                .unwrap_or_default(),
            self.machine_cores
                .map(|c| format!(", machine {c:.2} cores busy"))
                .unwrap_or_default(),
            if self.exhausted {
                ", names file exhausted"
            } else {
                ""
            }
        )
    }
}

/// Everything measured about one resolver.
#[derive(Default)]
struct Measured {
    cold_names: usize,
    cold_answered: u64,
    cold_upstream: Option<usize>,
    rss_start_kb: Option<u64>,
    rss_warm_kb: Option<u64>,
    warm_answered: u64,
    /// Threads of its processes after the warm-up (all processes summed).
    os_threads: Option<u64>,
    cached: Vec<RunStats>,
    miss: Vec<RunStats>,
}

struct Target {
    kind: Kind,
    version: String,
    procs: Vec<Proc>,
    ceiling: Option<Ceiling>,
    /// Why it could not run, or why it stopped being measured.
    failed: Option<String>,
    /// Knot Resolver's cache folder when it is on tmpfs.
    shm_cache: Option<PathBuf>,
    notes: Vec<String>,
    m: Measured,
}

impl Target {
    fn failed(kind: Kind, version: String, why: String) -> Target {
        Target {
            kind,
            version,
            procs: Vec::new(),
            ceiling: None,
            failed: Some(why),
            shm_cache: None,
            notes: Vec::new(),
            m: Measured::default(),
        }
    }

    fn label(&self) -> &'static str {
        self.kind.name()
    }

    /// CPU ticks of everything answering for this target.
    fn cpu_ticks(&self) -> Option<(u64, u64)> {
        if let Some(c) = &self.ceiling {
            return Some(c.cpu_ticks());
        }
        let mut sum = (0, 0);
        for p in &self.procs {
            sum = add_ticks(sum, stat_ticks(&format!("/proc/{}/stat", p.pid()))?);
        }
        Some(sum)
    }

    /// Resident memory in kB: VmRSS of the process. For Knot Resolver's
    /// processes, which share their cache as an LMDB file on tmpfs
    /// (allocated whole at the configured size): the sum of their PSS
    /// without the tmpfs pages, plus the LMDB pages in use (its high-water
    /// mark, from the file's meta pages).
    fn rss_kb(&self) -> Option<u64> {
        match (self.procs.as_slice(), &self.shm_cache) {
            ([], _) => None,
            ([p], None) => kb_field(&format!("/proc/{}/status", p.pid()), "VmRSS:"),
            (many, shm) => {
                let mut sum = 0;
                for p in many {
                    let rollup = format!("/proc/{}/smaps_rollup", p.pid());
                    let pss = kb_field(&rollup, "Pss:")?;
                    let shmem = match shm {
                        Some(_) => kb_field(&rollup, "Pss_Shmem:").unwrap_or(0),
                        None => 0,
                    };
                    sum += pss.saturating_sub(shmem);
                }
                if let Some(dir) = shm {
                    sum += lmdb_used_kb(&dir.join("data.mdb"))?;
                }
                Some(sum)
            }
        }
    }

    /// Checks every process is still running; marks the target failed if not.
    fn alive(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        for p in &mut self.procs {
            if let Some(status) = p.exited() {
                self.failed = Some(format!(
                    "{} exited during the run ({status})\n{}",
                    p.what,
                    p.tail()
                ));
                return false;
            }
        }
        true
    }

    fn stop(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &mut self.procs {
            let what = p.what.clone();
            out.push(format!("{what}: {}", p.stop()));
        }
        self.ceiling = None;
        out
    }
}

fn wait_ready(procs: &mut [Proc], addr: SocketAddr) -> Result<Duration, String> {
    common::wait_ready(procs, 300, STARTUP_TIMEOUT, || ready_probe(addr)).map_err(|exited| {
        exited.unwrap_or_else(|| {
            let tails: Vec<String> = procs.iter().map(|p| p.tail()).collect();
            format!(
                "did not answer on {addr} within {STARTUP_TIMEOUT:?}\n{}",
                tails.join("\n")
            )
        })
    })
}

fn start_target(kind: Kind, s: &Settings, out: &Path, hints: &Path) -> Target {
    let result = match kind {
        Kind::Rootward => start_rootward(s, out, hints),
        Kind::Unbound => start_unbound(s, out, hints),
        Kind::Pdns => start_pdns(s, out, hints),
        Kind::Knot => start_knot(s, out, hints),
        Kind::Ceiling => Ceiling::start(kind.addr(), s.threads).map(|c| {
            (
                format!("{} SO_REUSEPORT sockets, fixed reply", s.threads),
                Vec::new(),
                Some(c),
                Vec::new(),
            )
        }),
    };
    match result {
        Ok((version, mut procs, ceiling, notes)) => {
            match wait_ready(&mut procs, kind.addr()) {
                Ok(after) => println!("{}: answering after {after:.2?} ({version})", kind.name()),
                Err(e) => {
                    for p in &mut procs {
                        p.stop();
                    }
                    return Target::failed(kind, version, e);
                }
            }
            Target {
                kind,
                version,
                procs,
                ceiling,
                failed: None,
                shm_cache: (kind == Kind::Knot)
                    .then(|| knot_cache_dir(out))
                    .filter(|d| d.starts_with("/dev/shm")),
                notes,
                m: Measured::default(),
            }
        }
        Err(e) => Target::failed(kind, kind.name().to_string(), e),
    }
}

type Started = (String, Vec<Proc>, Option<Ceiling>, Vec<String>);

fn start_rootward(s: &Settings, out: &Path, hints: &Path) -> Result<Started, String> {
    let bin = env!("CARGO_BIN_EXE_rootward");
    let mut notes = Vec::new();
    let help = Command::new(bin)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut cmd = Command::new(bin);
    cmd.arg("--listen")
        .arg(Kind::Rootward.addr().to_string())
        .arg("--root-hints")
        .arg(hints)
        .arg("--allow-loopback-upstream")
        // The tree is unsigned and no peer validates here.
        .arg("--no-dnssec")
        .args(["--rate-limit", "0", "--response-rate-limit", "0"])
        .args(["--control-socket", "off"])
        .args(["--log-level", "warn"]);
    // Room for every name asked (the others' caches are as big); an
    // explicit --cache-size in ROOTWARD_EXTRA_ARGS wins.
    let extra = std::env::var("ROOTWARD_EXTRA_ARGS").unwrap_or_default();
    if !extra.contains("--cache-size") {
        cmd.args(["--cache-size", "1000000"]);
    }
    if help.contains("--threads") {
        cmd.arg("--threads").arg(s.threads.to_string());
    } else {
        notes.push("this rootward has no --threads flag: ran with its default".to_string());
    }
    cmd.args(extra.split_whitespace()).env("NO_COLOR", "1");
    if !extra.trim().is_empty() {
        notes.push(format!("extra flags: {}", extra.trim()));
    }
    let proc = spawn_proc("rootward", cmd, out.join("rootward.log"))?;
    Ok((
        common::rootward_version(" + uncommitted changes"),
        vec![proc],
        None,
        notes,
    ))
}

/// Slab counts must be powers of two; at least the thread count.
fn slabs(threads: usize) -> usize {
    threads.next_power_of_two()
}

fn start_unbound(s: &Settings, out: &Path, hints: &Path) -> Result<Started, String> {
    let bin = std::env::var("UNBOUND")
        .map(PathBuf::from)
        .ok()
        .or_else(|| find_program("unbound"))
        .ok_or("unbound is not installed")?;
    let version = version_line(&bin, &["-V"], "Version")
        .map(|l| l.replace("Version", "Unbound"))
        .unwrap_or_else(|| "Unbound (version unknown)".into());
    let dir = out.join("unbound");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let conf = dir.join("unbound.conf");
    let text = format!(
        "# written by benches/compare.rs
server:
    interface: {UNBOUND_ADDR}
    port: 53
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    so-reuseport: yes
    num-threads: {threads}
    msg-cache-size: 128m
    rrset-cache-size: 256m
    msg-cache-slabs: {slabs}
    rrset-cache-slabs: {slabs}
    infra-cache-slabs: {slabs}
    key-cache-slabs: {slabs}
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    root-hints: \"{hints}\"
    do-daemonize: no
    username: \"\"
    chroot: \"\"
    directory: \"{dir}\"
    pidfile: \"{dir}/unbound.pid\"
    logfile: \"{dir}/unbound.log\"
    use-syslog: no
    verbosity: 1
    module-config: \"iterator\"
    qname-minimisation: yes
    prefetch: no
remote-control:
    control-enable: no
",
        threads = s.threads,
        slabs = slabs(s.threads),
        hints = hints.display(),
        dir = dir.display(),
    );
    fs::write(&conf, text).map_err(|e| e.to_string())?;
    if let Some(check) = find_program("unbound-checkconf") {
        let (ok, text) = run_bounded(Command::new(check).arg(&conf), Duration::from_secs(20));
        if !ok {
            return Err(format!("unbound-checkconf rejected the config: {text}"));
        }
    }
    let mut cmd = Command::new(bin);
    cmd.arg("-d").arg("-c").arg(&conf);
    let proc = spawn_proc("unbound", cmd, dir.join("unbound.stderr"))?;
    Ok((version, vec![proc], None, Vec::new()))
}

fn start_pdns(s: &Settings, out: &Path, hints: &Path) -> Result<Started, String> {
    let bin = find_program("pdns_recursor").ok_or("pdns_recursor is not installed")?;
    let version = version_line(&bin, &["--version"], "PowerDNS Recursor")
        .and_then(|l| {
            let at = l.find("PowerDNS Recursor")?;
            Some(
                l[at..]
                    .split(" (")
                    .next()
                    .unwrap_or(&l[at..])
                    .trim()
                    .to_string(),
            )
        })
        .unwrap_or_else(|| "PowerDNS Recursor (version unknown)".into());
    let dir = out.join("pdns");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let text = format!(
        "# written by benches/compare.rs
local-address={PDNS_ADDR}
local-port=53
allow-from=127.0.0.0/8
dont-query=
hint-file={hints}
threads={threads}
pdns-distributes-queries=no
reuseport=yes
max-cache-entries=1000000
max-packetcache-entries=1000000
dnssec=off
qname-minimization=yes
daemon=no
write-pid=no
socket-dir={dir}
security-poll-suffix=
disable-syslog=yes
loglevel=4
quiet=yes
statistics-interval=0
",
        threads = s.threads,
        hints = hints.display(),
        dir = dir.display(),
    );
    fs::write(dir.join("recursor.conf"), text).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config-dir={}", dir.display()));
    let proc = spawn_proc("pdns_recursor", cmd, dir.join("pdns.stderr"))?;
    Ok((version, vec![proc], None, Vec::new()))
}

/// Knot Resolver is one thread per process: N processes share the address
/// (SO_REUSEPORT) and the cache (an LMDB file, kept on tmpfs when there is
/// one, as its documentation advises).
fn start_knot(s: &Settings, out: &Path, hints: &Path) -> Result<Started, String> {
    let bin = find_program("kresd").ok_or("kresd is not installed")?;
    let version = version_line(&bin, &["--version"], "Knot Resolver")
        .map(|l| l.replace(", version", ""))
        .unwrap_or_else(|| "Knot Resolver (version unknown)".into());
    let dir = out.join("knot");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let cache_dir = knot_cache_dir(out);
    let _ = fs::remove_dir_all(&cache_dir);
    fs::create_dir_all(&cache_dir).map_err(|e| format!("create {}: {e}", cache_dir.display()))?;
    let text = format!(
        "-- written by benches/compare.rs
net.listen('{KNOT_ADDR}', 53, {{ kind = 'dns' }})
net.ipv6 = false
cache.open(512 * MB, 'lmdb://{cache}')
-- No DNSSEC validation (the tree is unsigned; the other resolvers do not
-- validate either).
trust_anchors.remove('.')
modules.load('hints > iterate')
hints.root_file('{hints}')
-- Upstream servers on 127.0.0.0/8 are allowed only with this flag.
policy.add(policy.all(policy.FLAGS('ALLOW_LOCAL')))
log_level('warning')
",
        cache = cache_dir.display(),
        hints = hints.display(),
    );
    let conf = dir.join("kresd.conf");
    fs::write(&conf, text).map_err(|e| e.to_string())?;
    let mut procs = Vec::new();
    for i in 0..s.threads {
        let run = dir.join(format!("run{i}"));
        fs::create_dir_all(&run).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&bin);
        cmd.arg("-n").arg("-q").arg("-c").arg(&conf).arg(&run);
        procs.push(spawn_proc(
            &format!("kresd#{i}"),
            cmd,
            dir.join(format!("kresd{i}.log")),
        )?);
        // The first one creates the cache file alone.
        if i == 0 {
            sleep(Duration::from_millis(300));
        }
    }
    Ok((
        version,
        procs,
        None,
        vec![format!(
            "{} kresd processes (one thread each) sharing one LMDB cache{}",
            s.threads,
            if knot_cache_dir(out).starts_with("/dev/shm") {
                " on tmpfs (allocated whole at 512 MiB); memory is the sum of their PSS outside \
                 tmpfs plus the LMDB pages in use"
            } else {
                " on disk; memory is the sum of their PSS (cache pages not mapped are not counted)"
            }
        )],
    ))
}

fn knot_cache_dir(out: &Path) -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.join(format!("rootward-compare-knot-{}", std::process::id()))
    } else {
        out.join("knot-cache")
    }
}

// ---------------------------------------------------------------------------
// dnsperf
// ---------------------------------------------------------------------------

impl Dnsperf {
    fn find() -> Option<Dnsperf> {
        find_program("dnsperf").map(Dnsperf::at)
    }

    /// One run against `addr` over `file`: through the file at most
    /// `maxruns` times, for at most `seconds`, every answer's latency
    /// logged (`-v`) to compute percentiles.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        s: &Settings,
        addr: SocketAddr,
        file: &Path,
        seconds: u64,
        maxruns: Option<u32>,
        qps_cap: Option<u64>,
        log: &Path,
    ) -> Result<RunStats, String> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-s")
            .arg(addr.ip().to_string())
            .arg("-p")
            .arg(addr.port().to_string())
            .arg("-d")
            .arg(file)
            .arg("-l")
            .arg(seconds.to_string())
            .arg("-c")
            .arg(s.clients.to_string())
            .arg("-T")
            .arg(s.load_threads.to_string())
            .arg("-q")
            .arg(s.outstanding.to_string())
            .arg("-t")
            .arg(DNSPERF_TIMEOUT.to_string());
        if s.latency {
            cmd.arg("-v");
        }
        if let Some(n) = maxruns {
            cmd.arg("-n").arg(n.to_string());
        }
        if let Some(q) = qps_cap {
            cmd.arg("-Q").arg(q.to_string());
        }
        let limit = Duration::from_secs(seconds) + DNSPERF_GRACE;
        let (ok, _) = run_logged(&mut cmd, limit, log);
        let stats = parse_dnsperf(log);
        match stats {
            Some(st) if ok || st.completed > 0 => Ok(st),
            _ => Err(dnsperf_failure(log)),
        }
    }
}

/// Reads dnsperf's summary and its per-answer `-v` lines
/// (`> NOERROR name A 0.000123`) from its output; shrinks the file to the
/// summary afterwards (the per-answer lines can be tens of MB).
fn parse_dnsperf(log: &Path) -> Option<RunStats> {
    let text = fs::read_to_string(log).ok()?;
    let mut sum = DnsperfSummary::default();
    let mut lat: Vec<f64> = Vec::new();
    let mut summary = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("> ") {
            if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
                lat.push(v);
            }
            continue;
        }
        summary.push_str(line);
        summary.push('\n');
        sum.line(line.trim());
    }
    if !sum.found_qps {
        return None;
    }
    let mut st = RunStats {
        qps: sum.qps,
        sent: sum.sent,
        completed: sum.completed,
        lost: sum.lost,
        noerror: sum.noerror,
        runtime: sum.runtime,
        avg_latency: sum.avg_latency,
        exhausted: sum.exhausted,
        ..RunStats::default()
    };
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> Option<f64> {
        if lat.is_empty() {
            return None;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        Some(lat[i])
    };
    st.p50 = pct(0.50);
    st.p99 = pct(0.99);
    let _ = fs::write(
        log,
        format!(
            "{summary}\n[{} per-answer -v lines parsed and removed]\n",
            lat.len()
        ),
    );
    Some(st)
}

// ---------------------------------------------------------------------------
// Measurement steps
// ---------------------------------------------------------------------------

/// A dnsperf run with the resolver's CPU time and the upstream traffic.
#[allow(clippy::too_many_arguments)]
fn measured_run(
    t: &mut Target,
    dp: &Dnsperf,
    s: &Settings,
    auth: &[AuthorityServer],
    file: &Path,
    seconds: u64,
    maxruns: Option<u32>,
    qps_cap: Option<u64>,
    log: &Path,
) -> Result<RunStats, String> {
    upstream_settle(auth);
    upstream_clear(auth);
    run_counted(t, dp, s, auth, file, seconds, maxruns, qps_cap, log)
}

/// A dnsperf run with the resolver's CPU time, the machine's, and the
/// upstream queries counted since the authorities were last cleared.
#[allow(clippy::too_many_arguments)]
fn run_counted(
    t: &mut Target,
    dp: &Dnsperf,
    s: &Settings,
    auth: &[AuthorityServer],
    file: &Path,
    seconds: u64,
    maxruns: Option<u32>,
    qps_cap: Option<u64>,
    log: &Path,
) -> Result<RunStats, String> {
    let cpu0 = t.cpu_ticks();
    let m0 = machine_ticks();
    let mut st = dp.run(s, t.kind.addr(), file, seconds, maxruns, qps_cap, log)?;
    let cpu1 = t.cpu_ticks();
    let m1 = machine_ticks();
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let hz = clock_ticks_cached();
        st.cpu = Some((b.0 + b.1).saturating_sub(a.0 + a.1) as f64 / hz);
        st.cpu_user = Some(b.0.saturating_sub(a.0) as f64 / hz);
    }
    if let (Some((b0, t0)), Some((b1, t1))) = (m0, m1)
        && t1 > t0
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        st.machine_cores = Some((b1 - b0) as f64 / (t1 - t0) as f64 * cores);
    }
    st.upstream = Some(upstream_settle(auth));
    Ok(st)
}

/// On the cold cache: asks the list once (the upstream queries counted since
/// the authorities were cleared before the start, so priming counts too),
/// checks two answers, asks the list again to be sure it is all cached,
/// then caches the warm names and reads the memory.
fn prepare(
    t: &mut Target,
    dp: &Dnsperf,
    s: &Settings,
    auth: &[AuthorityServer],
    out: &Path,
    hosts: &Path,
    warm: Option<&Path>,
) {
    let key = t.kind.key();
    t.m.rss_start_kb = t.rss_kb();
    let cold = run_counted(
        t,
        dp,
        s,
        auth,
        hosts,
        COLD_LIMIT_SECS,
        Some(1),
        None,
        &out.join(format!("{key}-cold.txt")),
    );
    match cold {
        Ok(st) => {
            println!("  {}: cold pass over the list: {}", t.label(), st.brief());
            t.m.cold_names = HOSTS;
            t.m.cold_answered = st.noerror;
            t.m.cold_upstream = st.upstream.filter(|_| t.kind != Kind::Ceiling);
            if t.kind != Kind::Ceiling {
                write_cold_traffic(auth, &out.join(format!("{key}-cold-upstream.txt")));
            }
        }
        Err(e) => {
            t.failed = Some(format!("cold pass: {e}"));
            return;
        }
    }
    if t.kind != Kind::Ceiling {
        // The answers are right: one of the list, one under the wildcard.
        for (name, want) in [
            ("h7.hosts.bench.", host_address(7)),
            ("probe-a.miss.bench.", Ipv4Addr::new(198, 51, 100, 7)),
        ] {
            match ask_a(t.kind.addr(), name) {
                Ok(a) if a == vec![want] => {}
                Ok(a) => {
                    t.failed = Some(format!("wrong answer for {name}: {a:?}, want {want}"));
                    return;
                }
                Err(e) => {
                    t.failed = Some(format!("no answer for {name}: {e}"));
                    return;
                }
            }
        }
    }
    // A second pass: anything lost in the cold pass is cached now.
    if let Err(e) = dp.run(
        s,
        t.kind.addr(),
        hosts,
        COLD_LIMIT_SECS,
        Some(2),
        None,
        &out.join(format!("{key}-warm-list.txt")),
    ) {
        t.notes.push(format!("second pass over the list: {e}"));
    }
    if let (Some(warm), true) = (warm, t.kind != Kind::Ceiling) {
        match measured_run(
            t,
            dp,
            s,
            auth,
            warm,
            WARM_LIMIT_SECS,
            Some(1),
            None,
            &out.join(format!("{key}-warm-names.txt")),
        ) {
            Ok(st) => {
                println!(
                    "  {}: caching {} names: {}",
                    t.label(),
                    s.warm_names,
                    st.brief()
                );
                t.m.warm_answered = st.noerror;
                sleep(Duration::from_millis(500));
                t.m.rss_warm_kb = t.rss_kb();
                t.m.os_threads = t
                    .procs
                    .iter()
                    .map(|p| kb_field(&format!("/proc/{}/status", p.pid()), "Threads:"))
                    .sum();
            }
            Err(e) => t.notes.push(format!("caching the warm names: {e}")),
        }
    }
}

fn cached_run(
    t: &mut Target,
    dp: &Dnsperf,
    s: &Settings,
    auth: &[AuthorityServer],
    out: &Path,
    hosts: &Path,
    round: usize,
) {
    if !t.alive() {
        return;
    }
    let log = out.join(format!("{}-cached-{round}.txt", t.kind.key()));
    match measured_run(t, dp, s, auth, hosts, s.seconds, None, s.max_qps, &log) {
        Ok(st) => {
            println!("  {:<18} cached: {}", t.label(), st.brief());
            if st.noerror < st.completed {
                t.notes.push(format!(
                    "round {round} cached: {} of {} answers were not NOERROR",
                    st.completed - st.noerror,
                    st.completed
                ));
            }
            t.m.cached.push(st);
        }
        Err(e) => t.notes.push(format!("round {round} cached: {e}")),
    }
}

fn miss_run(
    t: &mut Target,
    dp: &Dnsperf,
    s: &Settings,
    auth: &[AuthorityServer],
    out: &Path,
    round: usize,
) {
    if !t.alive() {
        return;
    }
    let prefix = format!("r{round}{}-", t.kind.key());
    let count = (s.seconds * MISS_NAMES_PER_SEC) as usize;
    let file = write_miss_file(out, &prefix, count);
    let log = out.join(format!("{}-miss-{round}.txt", t.kind.key()));
    let r = measured_run(t, dp, s, auth, &file, s.seconds, Some(1), s.max_qps, &log);
    let _ = fs::remove_file(&file);
    match r {
        Ok(st) => {
            println!("  {:<18} miss:   {}", t.label(), st.brief());
            if st.noerror < st.completed {
                t.notes.push(format!(
                    "round {round} miss: {} of {} answers were not NOERROR",
                    st.completed - st.noerror,
                    st.completed
                ));
            }
            if st.exhausted {
                t.notes.push(format!(
                    "round {round} miss: the {count} fresh names ran out before {} s",
                    s.seconds
                ));
            }
            t.m.miss.push(st);
        }
        Err(e) => t.notes.push(format!("round {round} miss: {e}")),
    }
}

/// The test authority's own capacity: dnsperf straight at ns1.miss.bench
/// with fresh wildcard names (what a single authority thread answers).
fn authority_direct(
    dp: &Dnsperf,
    s: &Settings,
    auth: &[AuthorityServer],
    out: &Path,
) -> Option<RunStats> {
    let me = std::process::id();
    let before = stat_ticks(&format!("/proc/{me}/stat"));
    let file = write_miss_file(out, "direct-", (s.seconds * MISS_NAMES_PER_SEC) as usize);
    let r = dp.run(
        s,
        SocketAddr::new(IpAddr::V4(MISS_NS1), 53),
        &file,
        s.seconds,
        Some(1),
        None,
        &out.join("authority-direct.txt"),
    );
    let _ = fs::remove_file(&file);
    let after = stat_ticks(&format!("/proc/{me}/stat"));
    upstream_settle(auth);
    upstream_clear(auth);
    match r {
        Ok(mut st) => {
            if let (Some(a), Some(b)) = (before, after) {
                st.cpu = Some((b.0 + b.1).saturating_sub(a.0 + a.1) as f64 / clock_ticks_cached());
            }
            Some(st)
        }
        Err(e) => {
            println!("  test authority direct: {e}");
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/// The mean over the rounds of one value of a run.
fn avg(runs: &[RunStats], f: impl Fn(&RunStats) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(f).collect();
    mean(&v)
}

/// One row of the table: a metric, its unit's formatter and the value per
/// target.
struct Row {
    metric: &'static str,
    fmt: fn(f64) -> String,
    value: fn(&Target) -> Option<f64>,
    /// Whether the ceiling has this metric.
    ceiling: bool,
}

fn f_2(v: f64) -> String {
    format!("{v:.2}")
}
fn f_mib(v: f64) -> String {
    format!("{:.1} MiB", v / 1024.0)
}
fn f_pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

const ROWS: &[Row] = &[
    Row {
        metric: "cached QPS",
        fmt: f_int,
        value: |t| avg(&t.m.cached, |r| Some(r.qps)),
        ceiling: true,
    },
    Row {
        metric: "cached latency p50",
        fmt: f_ms,
        value: |t| avg(&t.m.cached, |r| r.p50),
        ceiling: true,
    },
    Row {
        metric: "cached latency p99",
        fmt: f_ms,
        value: |t| avg(&t.m.cached, |r| r.p99),
        ceiling: true,
    },
    Row {
        metric: "CPU per cached answer",
        fmt: f_us,
        value: |t| avg(&t.m.cached, RunStats::cpu_per_answer_us),
        ceiling: true,
    },
    Row {
        metric: "CPU per cached answer, user-space share",
        fmt: f_pct,
        value: |t| avg(&t.m.cached, RunStats::user_share),
        ceiling: true,
    },
    Row {
        metric: "cores busy, cached run",
        fmt: f_2,
        value: |t| avg(&t.m.cached, RunStats::cores),
        ceiling: true,
    },
    Row {
        metric: "cache-miss QPS",
        fmt: f_int,
        value: |t| avg(&t.m.miss, |r| Some(r.qps)),
        ceiling: false,
    },
    Row {
        metric: "cache-miss latency p50",
        fmt: f_ms,
        value: |t| avg(&t.m.miss, |r| r.p50),
        ceiling: false,
    },
    Row {
        metric: "cache-miss latency p99",
        fmt: f_ms,
        value: |t| avg(&t.m.miss, |r| r.p99),
        ceiling: false,
    },
    Row {
        metric: "CPU per cache-miss answer",
        fmt: f_us,
        value: |t| avg(&t.m.miss, RunStats::cpu_per_answer_us),
        ceiling: false,
    },
    Row {
        metric: "CPU per cache-miss answer, user-space share",
        fmt: f_pct,
        value: |t| avg(&t.m.miss, RunStats::user_share),
        ceiling: false,
    },
    Row {
        metric: "upstream queries per miss answer",
        fmt: f_3,
        value: |t| avg(&t.m.miss, RunStats::upstream_per_answer),
        ceiling: false,
    },
    Row {
        metric: "upstream queries per name, cold cache",
        fmt: f_3,
        value: |t| {
            let up = t.m.cold_upstream?;
            (t.m.cold_names > 0).then(|| up as f64 / t.m.cold_names as f64)
        },
        ceiling: false,
    },
    Row {
        metric: "memory after start",
        fmt: f_mib,
        value: |t| t.m.rss_start_kb.map(|k| k as f64),
        ceiling: false,
    },
    Row {
        metric: "memory with the warm names cached",
        fmt: f_mib,
        value: |t| t.m.rss_warm_kb.map(|k| k as f64),
        ceiling: false,
    },
];

fn cell(v: Option<f64>, base: Option<f64>, fmt: fn(f64) -> String, is_base: bool) -> String {
    match v {
        None => "—".into(),
        Some(v) => match base {
            Some(b) if b != 0.0 && !is_base => format!("{} ({:.2}×)", fmt(v), v / b),
            _ => fmt(v),
        },
    }
}

fn table(targets: &[Target], s: &Settings) -> String {
    let shown: Vec<&Target> = targets.iter().collect();
    let unbound = targets.iter().find(|t| t.kind == Kind::Unbound);
    let ceiling = targets.iter().find(|t| t.kind == Kind::Ceiling);
    let mut md = String::from("| metric |");
    for t in &shown {
        let _ = write!(md, " {} |", t.label());
    }
    md.push_str("\n|---|");
    for _ in &shown {
        md.push_str("---|");
    }
    md.push('\n');
    for row in ROWS {
        let base = unbound.and_then(|u| (row.value)(u));
        let _ = write!(md, "| {} |", row.metric);
        for t in &shown {
            let text = if let Some(why) = &t.failed
                && t.m.cached.is_empty()
            {
                let first = why.lines().next().unwrap_or("").to_string();
                if row.metric == ROWS[0].metric {
                    format!("could not run: {first}")
                } else {
                    "—".into()
                }
            } else if t.kind == Kind::Ceiling && !row.ceiling {
                "—".into()
            } else {
                cell((row.value)(t), base, row.fmt, t.kind == Kind::Unbound)
            };
            let _ = write!(md, " {} |", text.replace('|', "/"));
        }
        md.push('\n');
        if row.metric == "cached QPS" {
            let top = ceiling.and_then(|c| (row.value)(c));
            let _ = write!(md, "| cached QPS, share of the minimal responder's |");
            for t in &shown {
                let text = match ((row.value)(t), top) {
                    (Some(v), Some(c)) if c > 0.0 && t.kind != Kind::Ceiling => f_pct(v / c),
                    _ => "—".into(),
                };
                let _ = write!(md, " {text} |");
            }
            md.push('\n');
        }
    }
    let _ = writeln!(
        md,
        "\nMeans over {} round(s) of {} s per run; ratios (×) are to Unbound. \
         dnsperf -c {} -T {} -q {}{}; resolvers with {} thread(s) each; \
         warm names: {} wildcard names asked once before the memory reading.",
        s.rounds,
        s.seconds,
        s.clients,
        s.load_threads,
        s.outstanding,
        s.max_qps.map(|q| format!(" -Q {q}")).unwrap_or_default(),
        s.threads,
        s.warm_names
    );
    md
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let s = Settings::from_env();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/compare");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).expect("create target/compare");

    common::require_port_53("compare", Ipv4Addr::new(127, 62, 0, 2));

    let mut notes = ensure_installed(&s, &out);
    let dp = common::require_dnsperf("compare", Dnsperf::find(), &notes);

    let started = Instant::now();
    let hints = write_root_hints(&out);
    let hosts = write_hosts_file(&out);
    let warm = (s.warm_names > 0).then(|| write_miss_file(&out, "w", s.warm_names));
    let auth = start_authorities();
    println!(
        "tree: {} zones on {} test authorities (127.62.0.0/24), {HOSTS} cached names; {}; {}",
        ZONES.len(),
        SERVERS.len(),
        machine(),
        dp.version
    );
    println!(
        "{} s per run, {} round(s), {} resolver thread(s), dnsperf -c {} -T {} -q {}",
        s.seconds, s.rounds, s.threads, s.clients, s.load_threads, s.outstanding
    );

    // Start each, then measure it on its cold cache before starting the
    // next, so that the upstream counts are its own.
    let mut targets: Vec<Target> = Vec::new();
    for kind in Kind::ALL {
        if !s.wants(kind) {
            continue;
        }
        upstream_settle(&auth);
        upstream_clear(&auth);
        let mut t = start_target(kind, &s, &out, &hints);
        if t.failed.is_none() {
            prepare(&mut t, &dp, &s, &auth, &out, &hosts, warm.as_deref());
        }
        if let Some(why) = &t.failed {
            println!("{}: could not run: {why}", kind.name());
            for line in t.stop() {
                println!("  {line}");
            }
        }
        targets.push(t);
    }
    if let Some(w) = &warm {
        let _ = fs::remove_file(w);
    }

    for round in 1..=s.rounds {
        println!("round {round} of {}", s.rounds);
        for t in targets.iter_mut() {
            cached_run(t, &dp, &s, &auth, &out, &hosts, round);
            if t.kind != Kind::Ceiling {
                miss_run(t, &dp, &s, &auth, &out, round);
            }
        }
    }
    let direct = authority_direct(&dp, &s, &auth, &out);

    for t in targets.iter_mut() {
        let alive = t.alive();
        for line in t.stop() {
            println!("{line}");
        }
        if !alive && let Some(why) = &t.failed {
            notes.push(format!("{}: {why}", t.label()));
        }
    }
    drop(auth);
    let _ = fs::remove_dir_all(knot_cache_dir(&out));

    let mut md = String::new();
    let _ = writeln!(md, "{}", table(&targets, &s));
    let _ = writeln!(md, "Versions:\n");
    for t in &targets {
        let _ = writeln!(md, "- {}: {}", t.label(), t.version);
    }
    let _ = writeln!(md, "- load generator: {}", dp.version);
    let _ = writeln!(md, "- machine: {}", machine());
    if let Some(d) = &direct {
        let _ = writeln!(
            md,
            "\nThe test authority alone (dnsperf straight at ns1.miss.bench, fresh names): \
             {} QPS, p50 {}, {:.2} cores of this process; miss.bench has two such servers.",
            f_int(d.qps),
            fmt_ms(d.p50),
            d.cores().unwrap_or(0.0)
        );
    }
    let mut all_notes: Vec<String> = Vec::new();
    for t in &targets {
        for n in &t.notes {
            all_notes.push(format!("{}: {n}", t.label()));
        }
        if let Some(why) = &t.failed
            && t.m.cached.is_empty()
        {
            all_notes.push(format!(
                "{}: could not run: {}",
                t.label(),
                why.lines().take(6).collect::<Vec<_>>().join(" / ")
            ));
        }
        if t.kind != Kind::Ceiling && t.m.warm_answered > 0 {
            all_notes.push(format!(
                "{}: {} of {} warm names answered NOERROR before the memory reading; \
                 {} of {HOSTS} list names in the cold pass; {} OS threads",
                t.label(),
                t.m.warm_answered,
                s.warm_names,
                t.m.cold_answered,
                t.m.os_threads
                    .map_or_else(|| "?".to_string(), |n| n.to_string())
            ));
        }
    }
    all_notes.extend(notes);
    if !all_notes.is_empty() {
        let _ = writeln!(md, "\nNotes:\n");
        for n in &all_notes {
            let _ = writeln!(md, "- {n}");
        }
    }

    println!("\n{}", table(&targets, &s));
    println!("\n<!-- BEGIN compare markdown -->");
    print!("{md}");
    println!("<!-- END compare markdown -->");
    let _ = fs::write(out.join("table.md"), &md);
    println!(
        "\nlogs, configs and dnsperf summaries: {}\nwhole run: {:.1?}",
        out.display(),
        started.elapsed()
    );
}
