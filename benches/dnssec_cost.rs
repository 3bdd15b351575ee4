//! What DNSSEC validation costs rootward: the same binary on the same signed
//! loopback tree, once validating (`--trust-anchor` with the tree's root DS)
//! and once with `--no-dnssec`, measured alternately.
//!
//! `cargo bench --bench dnssec_cost` (as root: the tree's servers and the
//! resolvers bind port 53 on 127.66.0.0/16; NSD, the ldns tools and dnsperf
//! are installed from Debian with apt-get when missing). It:
//!
//! 1. signs and serves a tree with NSD, built as the DNSSEC e2e suite builds
//!    its own (`tests/support/signer.rs`, `tests/support/nsd.rs`): the root
//!    (RSASHA256, NSEC; its KSK's DS is the trust anchor), `test.`
//!    (ECDSAP256SHA256, NSEC), `signed.test.` (ECDSAP256SHA256 KSK and ZSK,
//!    NSEC3 with 0 iterations and no salt) holding `h0` .. `h999` and the
//!    wildcard `*.miss.signed.test.`, and `unsigned.test.`, the same zone
//!    unsigned and delegated without DS;
//! 2. starts rootward validating, asks its first signed name on an empty
//!    cache (latency and upstream queries, priming included), then its first
//!    unsigned name; then the same for rootward with `--no-dnssec`;
//!    `DNSSEC_COST_CHAIN_SAMPLES` (5) times, the last start of each kept
//!    for the rest (the latency shown is the median); every
//!    answer is checked (NOERROR, the right address, AD=1 exactly where the
//!    validating resolver must set it) and the run stops at the first
//!    answer that is wrong;
//! 3. caches the 1,000 names of `signed.test.` in both;
//! 4. `DNSSEC_COST_ROUNDS` rounds, the two resolvers alternating (and which
//!    goes first alternating too), each run `DNSSEC_COST_SECONDS` long:
//!    cached QPS with plain queries and with DO=1 queries (dnsperf `-D`),
//!    with the resolver's CPU time (utime + stime of /proc/PID/stat) per
//!    answer; then, for `signed.test.` and for `unsigned.test.`, cold
//!    names (never asked before, under the wildcard): `DNSSEC_COST_COLD_NAMES`
//!    one at a time (latency p50/p99, upstream queries per name counted at
//!    the NSD servers) and a dnsperf run over fresh names (QPS, CPU per
//!    answer, upstream queries per answer; `-q 32`, see
//!    [`COLD_OUTSTANDING`]);
//! 5. prints one table (validation on, off, ratio on/off) and the exact
//!    commands, also as Markdown between `BEGIN/END dnssec_cost markdown`
//!    markers; logs and dnsperf summaries stay in `target/dnssec_cost/`.
//!
//! Both resolvers run for the whole measurement on their own addresses; only
//! one is asked anything at a time, so the other is idle and the upstream
//! counts of a run are the asked resolver's own.
//!
//! Knobs (environment): `DNSSEC_COST_SECONDS` (10), `DNSSEC_COST_ROUNDS`
//! (3), `DNSSEC_COST_COLD_NAMES` (500), `DNSSEC_COST_CHAIN_SAMPLES` (5),
//! `DNSSEC_COST_NO_INSTALL=1` (never run apt-get), `DNSSEC_COST_LOG_LEVEL`
//! (rootward's `--log-level`, `warn`; for diagnosis only).
//!
//! Every loop is bounded in count and time; all traffic stays on
//! 127.66.0.0/16. Only processes this program started are ever signalled,
//! by their PID.
//!
//! | address      | role                                           |
//! |--------------|------------------------------------------------|
//! | 127.66.0.1   | rootward, validating                           |
//! | 127.66.0.11  | rootward, `--no-dnssec`                        |
//! | 127.66.0.2   | NSD: `.` (a.root.test)                         |
//! | 127.66.0.3   | NSD: `test.` (a.nic.test)                      |
//! | 127.66.0.4   | NSD: `signed.test.`                            |
//! | 127.66.0.5   | NSD: `unsigned.test.`                          |
#![allow(dead_code)]

#[path = "../tests/support/client.rs"]
mod client;
mod common;
#[path = "../tests/support/nsd.rs"]
mod nsd;
#[path = "../tests/support/signer.rs"]
mod signer;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use client::{Client, summary};
use common::{APT_TIMEOUT, DNSPERF_GRACE, STARTUP_TIMEOUT};
use common::{
    Dnsperf, DnsperfSummary, Install, Proc, clock_ticks_cached, cpu_ticks, dnsperf_failure, f_3,
    f_int, f_ms, f_us, fmt_ms, machine_ticks, mean, rand_id, run_logged, version_line,
};
use nsd::{NsdTree, Zone};
use signer::{Algorithm, Denial, Options, SignedZone};

// ---------------------------------------------------------------------------
// Limits, addresses, the tree's shape
// ---------------------------------------------------------------------------

/// A resolver gets this long to exit after SIGTERM (then SIGKILL).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// dnsperf's per-query timeout (seconds).
const DNSPERF_TIMEOUT: u64 = 2;
/// Warming the cached list may take this long at most.
const WARM_LIMIT_SECS: u64 = 30;
/// One query of the one-at-a-time passes waits this long at most...
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// ...and a whole pass takes this long at most.
const SEQUENTIAL_LIMIT: Duration = Duration::from_secs(120);
/// Upstream traffic is "settled" once the NSD counters have not moved
/// between two readings this far apart...
const SETTLE_STEP: Duration = Duration::from_millis(300);
/// ...or after this many readings.
const SETTLE_READINGS: usize = 20;
/// Fresh names written per second of a cold dnsperf run: more than rootward
/// answers cold, so a run ends on time, not on names.
const COLD_NAMES_PER_SEC: u64 = 30_000;

/// dnsperf load of the cached runs, as in the compare bench: `-c 16 -T 2
/// -q 100` (`-q` is the total of queries outstanding).
const CLIENTS: usize = 16;
const LOAD_THREADS: usize = 2;
const OUTSTANDING: usize = 100;
/// Queries outstanding in the cold dnsperf runs and while warming. Every
/// one of them is a query in flight to the one server of the leaf zone, and
/// rootward sheds (SERVFAIL at once) what exceeds its bound on queries in
/// flight per server address (`MAX_PER_SERVER`, 64, in
/// src/resolver/inflight.rs: at `-q 100` a quarter to a third of the names
/// warmed were shed). 32 stays well below it, so the cold runs measure
/// resolution, not shedding; at a cold latency under 2 ms it still allows
/// far more than rootward's cold throughput.
const COLD_OUTSTANDING: usize = 32;

/// How dnsperf loads the resolver in one run.
#[derive(Clone, Copy, Debug)]
struct Load {
    /// `-q` (and `-c`, at most [`CLIENTS`]).
    outstanding: usize,
    /// `-n`: times through the file at most.
    maxruns: Option<u32>,
    /// `-D`: DO=1 (with EDNS).
    dnssec_ok: bool,
}

const CACHED_PLAIN: Load = Load {
    outstanding: OUTSTANDING,
    maxruns: None,
    dnssec_ok: false,
};
const CACHED_DO: Load = Load {
    dnssec_ok: true,
    ..CACHED_PLAIN
};
const COLD: Load = Load {
    outstanding: COLD_OUTSTANDING,
    maxruns: Some(1),
    dnssec_ok: false,
};
/// rootward worker threads.
const THREADS: usize = 2;

const ON_ADDR: Ipv4Addr = Ipv4Addr::new(127, 66, 0, 1);
const OFF_ADDR: Ipv4Addr = Ipv4Addr::new(127, 66, 0, 11);
const ROOT_NS: Ipv4Addr = Ipv4Addr::new(127, 66, 0, 2);
const TLD_NS: Ipv4Addr = Ipv4Addr::new(127, 66, 0, 3);
const SIGNED_NS: Ipv4Addr = Ipv4Addr::new(127, 66, 0, 4);
const UNSIGNED_NS: Ipv4Addr = Ipv4Addr::new(127, 66, 0, 5);
/// The NSD servers, in the order their counts are printed.
const SERVERS: [(&str, Ipv4Addr); 4] = [
    (".", ROOT_NS),
    ("test.", TLD_NS),
    ("signed.test.", SIGNED_NS),
    ("unsigned.test.", UNSIGNED_NS),
];

/// Names in each leaf zone (`h0` .. `h999`).
const HOSTS: usize = 1000;
/// What every name under `*.miss.<leaf>` resolves to.
const WILDCARD_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// The two leaf zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    Signed,
    Unsigned,
}

impl Leaf {
    const BOTH: [Leaf; 2] = [Leaf::Signed, Leaf::Unsigned];

    fn apex(self) -> &'static str {
        match self {
            Leaf::Signed => "signed.test.",
            Leaf::Unsigned => "unsigned.test.",
        }
    }

    fn server(self) -> Ipv4Addr {
        match self {
            Leaf::Signed => SIGNED_NS,
            Leaf::Unsigned => UNSIGNED_NS,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Leaf::Signed => "signed",
            Leaf::Unsigned => "unsigned",
        }
    }
}

/// The address of `h<i>` in either leaf.
fn host_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1)
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

struct Settings {
    seconds: u64,
    rounds: usize,
    cold_names: usize,
    /// Fresh starts per resolver for the first-name (whole chain) figures.
    chain_samples: usize,
    no_install: bool,
    /// rootward's `--log-level` (for diagnosis; `warn` in the figures).
    log_level: String,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            seconds: common::env_num("dnssec_cost", "DNSSEC_COST_SECONDS", 10, 1, 120),
            rounds: common::env_num("dnssec_cost", "DNSSEC_COST_ROUNDS", 3, 1, 10),
            cold_names: common::env_num("dnssec_cost", "DNSSEC_COST_COLD_NAMES", 500, 10, 20_000),
            chain_samples: common::env_num("dnssec_cost", "DNSSEC_COST_CHAIN_SAMPLES", 5, 1, 20),
            no_install: std::env::var_os("DNSSEC_COST_NO_INSTALL").is_some(),
            log_level: std::env::var("DNSSEC_COST_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
        }
    }
}

// ---------------------------------------------------------------------------
// The signed tree
// ---------------------------------------------------------------------------

/// A leaf zone's records: SOA, NS and glue, `h0` .. `h999` and the wildcard
/// under `miss`. Long TTLs: nothing expires during a run.
fn leaf_body(leaf: Leaf) -> String {
    let apex = leaf.apex();
    let mut z = format!(
        "$TTL 86400
{apex} 3600 IN SOA ns1.{apex} hostmaster.{apex} 1 3600 600 86400 300
{apex} 86400 IN NS ns1.{apex}
ns1.{apex} 86400 IN A {addr}
*.miss.{apex} 86400 IN A {WILDCARD_ADDR}
",
        addr = leaf.server(),
    );
    for i in 0..HOSTS {
        let _ = writeln!(z, "h{i}.{apex} 86400 IN A {}", host_address(i));
    }
    z
}

/// Signs the tree (the leaf, `test.` with the leaf's DS and the unsigned
/// leaf's delegation without one, the root with `test.`'s DS) and returns
/// the zones to serve with the signed root (whose DS is the anchor).
fn build_zones() -> (Vec<Zone>, SignedZone) {
    let signed_leaf = signer::sign(
        Leaf::Signed.apex(),
        &leaf_body(Leaf::Signed),
        &Options {
            algorithm: Algorithm::EcdsaP256Sha256,
            denial: Denial::Nsec3 {
                iterations: 0,
                opt_out: false,
            },
            ..Options::default()
        },
    );
    let unsigned_leaf = leaf_body(Leaf::Unsigned);

    let mut tld = format!(
        "$TTL 86400
test. 3600 IN SOA a.nic.test. hostmaster.nic.test. 1 1800 900 604800 3600
test. 86400 IN NS a.nic.test.
a.nic.test. 86400 IN A {TLD_NS}
a.root.test. 86400 IN A {ROOT_NS}
"
    );
    for leaf in Leaf::BOTH {
        let apex = leaf.apex();
        let _ = writeln!(
            tld,
            "{apex} 86400 IN NS ns1.{apex}\nns1.{apex} 86400 IN A {}",
            leaf.server()
        );
    }
    tld.push_str(&signed_leaf.ds_text());
    let tld = signer::sign("test.", &tld, &Options::default());

    let root = format!(
        "$TTL 86400
. 86400 IN SOA a.root.test. hostmaster.root.test. 1 1800 900 604800 1800
. 518400 IN NS a.root.test.
a.root.test. 518400 IN A {ROOT_NS}
test. 172800 IN NS a.nic.test.
a.nic.test. 172800 IN A {TLD_NS}
{ds}",
        ds = tld.ds_text(),
    );
    let root = signer::sign(
        ".",
        &root,
        &Options {
            algorithm: Algorithm::RsaSha256,
            ..Options::default()
        },
    );
    let zones = vec![
        Zone::new(".", ROOT_NS, &root.text),
        Zone::new("test.", TLD_NS, &tld.text),
        Zone::new(Leaf::Signed.apex(), SIGNED_NS, &signed_leaf.text),
        Zone::new(Leaf::Unsigned.apex(), UNSIGNED_NS, &unsigned_leaf),
    ];
    (zones, root)
}

fn write_root_hints(dir: &Path) -> PathBuf {
    let text = format!(
        "; root hints of the dnssec_cost bench tree\n\
         .             3600000 NS a.root.test.\n\
         a.root.test.  3600000 A  {ROOT_NS}\n"
    );
    let path = dir.join("root.hints");
    fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Queries received by each NSD server since it started, in [`SERVERS`]
/// order.
fn upstream_counts(tree: &NsdTree) -> [u64; 4] {
    SERVERS.map(|(_, addr)| tree.query_count(addr))
}

/// Waits (bounded) until the NSD counters stop moving, then returns them.
fn upstream_settle(tree: &NsdTree) -> [u64; 4] {
    let mut last = upstream_counts(tree);
    for _ in 0..SETTLE_READINGS {
        sleep(SETTLE_STEP);
        let now = upstream_counts(tree);
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// Queries by type received so far by every NSD server (`num.type.X` of
/// `nsd-control stats_noreset`, over the server's private control socket
/// that `tests/support/nsd.rs` configures), keyed "zone TYPE".
fn type_counts(tree: &NsdTree) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let Some(control) = find_program("nsd-control") else {
        return counts;
    };
    for (zone, addr) in SERVERS {
        let conf = tree.dir().join(addr.to_string()).join("nsd.conf");
        let Ok(out) = Command::new(&control)
            .arg("-c")
            .arg(&conf)
            .arg("stats_noreset")
            .stdin(Stdio::null())
            .output()
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((t, n)) = line
                .strip_prefix("num.type.")
                .and_then(|l| l.split_once('='))
                && let Ok(n) = n.trim().parse::<u64>()
            {
                counts.insert(format!("{zone} {t}"), n);
            }
        }
    }
    counts
}

/// What changed between two [`type_counts`] readings, as "zone TYPE n"
/// items, divided by `per` (e.g. per name) when `per` > 1.
fn type_diff(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, per: usize) -> String {
    let items: Vec<String> = b
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(a.get(k).copied().unwrap_or(0));
            (d > 0).then(|| {
                if per > 1 {
                    format!("{k} {:.3}", d as f64 / per as f64)
                } else {
                    format!("{k} {d}")
                }
            })
        })
        .collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn diff(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    [0, 1, 2, 3].map(|i| b[i].saturating_sub(a[i]))
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

/// Readiness without touching the cache: a header-only query (QDCOUNT=0),
/// answered FORMERR at once.
fn ready_probe(server: SocketAddr) -> bool {
    let q = common::header_only_query(rand_id());
    Client::with_timeout(server, Duration::from_millis(150))
        .udp_raw(&q)
        .is_some()
}

/// `name` A with RD=1 and EDNS DO=1 (1232-byte buffer), as a validating
/// stub asks.
fn do_query(name: &str) -> Vec<u8> {
    let mut m = client::query(name, RecordType::A);
    m.metadata.id = rand_id();
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_version(0);
    e.set_dnssec_ok(true);
    m.edns = Some(e);
    m.to_vec().expect("encode a query")
}

/// One answer checked against what it must be: NOERROR, exactly `want` as
/// the A records, and AD=1 iff `want_ad`.
fn check_answer(r: &Message, want: Ipv4Addr, want_ad: bool) -> Result<(), String> {
    let a: Vec<Ipv4Addr> = r
        .answers
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    let ok = r.metadata.response_code == ResponseCode::NoError
        && a == vec![want]
        && r.metadata.authentic_data == want_ad;
    if ok {
        Ok(())
    } else {
        let e = client::ede(r);
        Err(format!(
            "want NOERROR {want} with AD={}, got: {}{}",
            u8::from(want_ad),
            summary(r),
            if e.is_empty() {
                String::new()
            } else {
                format!(" EDE {e:?}")
            }
        ))
    }
}

/// Asks `name` once with DO=1; returns the reply and its latency.
fn ask(server: SocketAddr, name: &str) -> Result<(Message, Duration), String> {
    let q = do_query(name);
    let c = Client::with_timeout(server, QUERY_TIMEOUT);
    let start = Instant::now();
    let raw = c
        .udp_raw(&q)
        .ok_or_else(|| format!("no reply to {name} A within {QUERY_TIMEOUT:?}"))?;
    let took = start.elapsed();
    let m = Message::from_vec(&raw).map_err(|e| format!("undecodable reply to {name}: {e}"))?;
    Ok((m, took))
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

fn find_program(name: &str) -> Option<PathBuf> {
    nsd::find_binary(name)
}

/// The revision built, and the files under src/ (and Cargo.toml) that
/// differ from it: the binary is built from the work tree as it is.
fn rootward_version() -> String {
    let (rev, dirty) = common::rootward_revision();
    format!(
        "rootward {} at {rev}{}",
        env!("CARGO_PKG_VERSION"),
        if dirty.is_empty() {
            String::new()
        } else {
            format!(" + uncommitted changes to {}", dirty.join(", "))
        }
    )
}

fn machine() -> String {
    common::machine(cpus())
}

// ---------------------------------------------------------------------------
// Installing what is missing
// ---------------------------------------------------------------------------

/// (Debian package, program it brings, packaged services to keep stopped).
const PACKAGES: &[(&str, &str, &[&str])] = &[
    ("nsd", "nsd", &["nsd"]),
    ("ldnsutils", "ldns-signzone", &[]),
    ("dnsperf", "dnsperf", &[]),
];

/// Installs the packages whose program is missing; returns notes.
fn ensure_installed(s: &Settings, out: &Path) -> Vec<String> {
    // The packages may not start their services during the install: a
    // packaged NSD on 0.0.0.0:53 would take the tree's port.
    Install {
        bench: "dnssec_cost",
        packages: PACKAGES,
        find: find_program,
        forbidden_by: s.no_install.then_some("DNSSEC_COST_NO_INSTALL"),
        shown_options: "--no-install-recommends ",
        timeout: APT_TIMEOUT,
        tag: "dnssec-cost-svc",
    }
    .run(out)
}

// ---------------------------------------------------------------------------
// /proc readings
// ---------------------------------------------------------------------------

/// UDP receive-buffer overflows on the whole machine so far
/// (`RcvbufErrors` of /proc/net/snmp).
fn udp_rcvbuf_errors() -> Option<u64> {
    let text = fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let i = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------
// dnsperf
// ---------------------------------------------------------------------------

/// One dnsperf run's results, with the resolver's CPU time and the
/// upstream queries it caused.
#[derive(Clone, Debug, Default)]
struct RunStats {
    qps: f64,
    sent: u64,
    completed: u64,
    lost: u64,
    noerror: u64,
    /// dnsperf's "Response codes:" line, as printed.
    rcodes: String,
    /// Average response size in bytes.
    response_bytes: Option<f64>,
    runtime: f64,
    /// Resolver CPU seconds (user + system) during the run.
    cpu: Option<f64>,
    /// Cores busy on the whole machine during the run.
    machine_cores: Option<f64>,
    /// UDP datagrams dropped for a full receive buffer on the whole machine
    /// during the run (/proc/net/snmp RcvbufErrors).
    rcvbuf_drops: Option<u64>,
    /// Queries the NSD servers received for this run.
    upstream: Option<u64>,
    /// The names file ran out before the time limit.
    exhausted: bool,
}

impl RunStats {
    fn cpu_per_answer_us(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.completed > 0).then(|| cpu * 1e6 / self.completed as f64)
    }

    fn upstream_per_answer(&self) -> Option<f64> {
        let up = self.upstream?;
        (self.noerror > 0).then(|| up as f64 / self.noerror as f64)
    }

    fn brief(&self) -> String {
        format!(
            "{:.0} QPS, {}/{} answered, {} lost, [{}], {}{}, machine {}{}{}",
            self.qps,
            self.completed,
            self.sent,
            self.lost,
            self.rcodes,
            self.cpu_per_answer_us()
                .map(|c| format!("{c:.1} µs CPU/answer"))
                .unwrap_or_else(|| "CPU n/a".into()),
            self.upstream_per_answer()
                .map(|u| format!(", {u:.3} upstream/answer"))
                .unwrap_or_default(),
            self.machine_cores
                .map(|c| format!("{c:.2} cores busy"))
                .unwrap_or_else(|| "n/a".into()),
            self.rcvbuf_drops
                .filter(|d| *d > 0)
                .map(|d| format!(", {d} UDP receive-buffer drops on the machine"))
                .unwrap_or_default(),
            if self.exhausted {
                ", names file exhausted"
            } else {
                ""
            }
        )
    }
}

impl Dnsperf {
    fn find() -> Option<Dnsperf> {
        find_program("dnsperf").map(Dnsperf::at)
    }

    fn args(&self, addr: Ipv4Addr, file: &Path, seconds: u64, load: Load) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-s".into(),
            addr.to_string(),
            "-d".into(),
            file.display().to_string(),
            "-l".into(),
            seconds.to_string(),
            "-c".into(),
            CLIENTS.min(load.outstanding).to_string(),
            "-T".into(),
            LOAD_THREADS.to_string(),
            "-q".into(),
            load.outstanding.to_string(),
            "-t".into(),
            DNSPERF_TIMEOUT.to_string(),
        ];
        if let Some(n) = load.maxruns {
            a.push("-n".into());
            a.push(n.to_string());
        }
        if load.dnssec_ok {
            a.push("-D".into());
        }
        a
    }

    /// One run against `r` over `file` for at most `seconds`, loaded as
    /// `load` says; with the resolver's CPU time, the machine's, and the
    /// upstream queries (settled before and after).
    fn run(
        &self,
        r: &Resolver,
        tree: &NsdTree,
        file: &Path,
        seconds: u64,
        load: Load,
        log: &Path,
    ) -> Result<RunStats, String> {
        let up0 = upstream_settle(tree);
        let cpu0 = cpu_ticks(r.proc.pid());
        let m0 = machine_ticks();
        let d0 = udp_rcvbuf_errors();
        let mut cmd = Command::new(&self.bin);
        cmd.args(self.args(r.addr, file, seconds, load));
        let limit = Duration::from_secs(seconds) + DNSPERF_GRACE;
        let (ok, _) = run_logged(&mut cmd, limit, log);
        let cpu1 = cpu_ticks(r.proc.pid());
        let m1 = machine_ticks();
        let d1 = udp_rcvbuf_errors();
        let up1 = upstream_settle(tree);
        let Some(mut st) = parse_dnsperf(log).filter(|st| ok || st.completed > 0) else {
            return Err(dnsperf_failure(log));
        };
        if let (Some(a), Some(b)) = (cpu0, cpu1) {
            st.cpu = Some(b.saturating_sub(a) as f64 / clock_ticks_cached());
        }
        if let (Some((b0, t0)), Some((b1, t1))) = (m0, m1)
            && t1 > t0
        {
            st.machine_cores = Some((b1 - b0) as f64 / (t1 - t0) as f64 * cpus() as f64);
        }
        st.upstream = Some(diff(up0, up1).iter().sum());
        if let (Some(a), Some(b)) = (d0, d1) {
            st.rcvbuf_drops = Some(b.saturating_sub(a));
        }
        Ok(st)
    }
}

/// Reads dnsperf's summary from its output.
fn parse_dnsperf(log: &Path) -> Option<RunStats> {
    let text = fs::read_to_string(log).ok()?;
    let mut sum = DnsperfSummary::default();
    for line in text.lines() {
        sum.line(line.trim());
    }
    sum.found_qps.then(|| RunStats {
        qps: sum.qps,
        sent: sum.sent,
        completed: sum.completed,
        lost: sum.lost,
        noerror: sum.noerror,
        rcodes: sum.rcodes,
        response_bytes: sum.response_bytes,
        runtime: sum.runtime,
        exhausted: sum.exhausted,
        ..RunStats::default()
    })
}

/// `count` fresh names under `*.miss.<leaf>`, all starting with `prefix`,
/// one dnsperf line each.
fn write_cold_file(dir: &Path, leaf: Leaf, prefix: &str, count: usize) -> PathBuf {
    let mut s = String::with_capacity(count * 32);
    for i in 0..count {
        let _ = writeln!(s, "{prefix}{i}.miss.{} A", leaf.apex());
    }
    let path = dir.join(format!("names-{prefix}{}.txt", leaf.key()));
    fs::write(&path, s).expect("write a names file");
    path
}

fn write_hosts_file(dir: &Path) -> PathBuf {
    let mut s = String::with_capacity(HOSTS * 24);
    for i in 0..HOSTS {
        let _ = writeln!(s, "h{i}.{} A", Leaf::Signed.apex());
    }
    let path = dir.join("hosts.txt");
    fs::write(&path, s).expect("write hosts.txt");
    path
}

// ---------------------------------------------------------------------------
// The resolvers under test
// ---------------------------------------------------------------------------

/// The one-at-a-time pass over fresh names of one zone.
#[derive(Clone, Debug, Default)]
struct Sequential {
    names: usize,
    /// Latencies of the answers that were right, in seconds.
    latencies: Vec<f64>,
    upstream: u64,
    /// The upstream queries by zone and type, per name.
    by_type: String,
    /// Answers that were wrong (first few kept verbatim).
    wrong: usize,
    first_wrong: Vec<String>,
}

impl Sequential {
    fn pct(&self, p: f64) -> Option<f64> {
        let mut v = self.latencies.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        Some(v[i])
    }

    fn upstream_per_name(&self) -> Option<f64> {
        (self.names > 0).then(|| self.upstream as f64 / self.names as f64)
    }
}

/// The first answer of a zone on a fresh resolver.
#[derive(Clone, Debug)]
struct First {
    latency: Duration,
    upstream: [u64; 4],
    /// The upstream queries by zone and type.
    by_type: String,
}

#[derive(Default)]
struct Measured {
    first: Vec<(Leaf, First)>,
    cached_plain: Vec<RunStats>,
    cached_do: Vec<RunStats>,
    seq: Vec<(Leaf, Sequential)>,
    cold: Vec<(Leaf, RunStats)>,
    notes: Vec<String>,
}

struct Resolver {
    validating: bool,
    addr: Ipv4Addr,
    proc: Proc,
    command: String,
    m: Measured,
}

impl Resolver {
    fn label(&self) -> &'static str {
        if self.validating {
            "validation on"
        } else {
            "validation off"
        }
    }

    fn key(&self) -> &'static str {
        if self.validating { "on" } else { "off" }
    }

    fn socket(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.addr), 53)
    }

    /// Whether an answer from `leaf` must carry AD=1 (queries have DO=1).
    fn want_ad(&self, leaf: Leaf) -> bool {
        self.validating && leaf == Leaf::Signed
    }

    fn alive(&mut self) -> Result<(), String> {
        match self.proc.exited() {
            Some(status) => Err(format!(
                "rootward ({}) exited ({status})\n{}",
                self.label(),
                self.proc.tail()
            )),
            None => Ok(()),
        }
    }
}

fn start_resolver(
    validating: bool,
    out: &Path,
    hints: &Path,
    anchor: &Path,
    log_level: &str,
) -> Result<Resolver, String> {
    let bin = env!("CARGO_BIN_EXE_rootward");
    let addr = if validating { ON_ADDR } else { OFF_ADDR };
    let mut args: Vec<String> = vec![
        "--listen".into(),
        format!("{addr}:53"),
        "--root-hints".into(),
        hints.display().to_string(),
        "--allow-loopback-upstream".into(),
        "--threads".into(),
        THREADS.to_string(),
        "--rate-limit".into(),
        "0".into(),
        "--response-rate-limit".into(),
        "0".into(),
        "--control-socket".into(),
        "off".into(),
        "--log-level".into(),
        log_level.into(),
        "--cache-size".into(),
        "1000000".into(),
    ];
    if validating {
        args.push("--trust-anchor".into());
        args.push(anchor.display().to_string());
    } else {
        args.push("--no-dnssec".into());
    }
    let command = format!("{bin} {}", args.join(" "));
    let mut cmd = Command::new(bin);
    cmd.args(&args).env("NO_COLOR", "1");
    let key = if validating { "on" } else { "off" };
    let mut proc = Proc::spawn(
        &format!("rootward ({key})"),
        cmd,
        out.join(format!("rootward-{key}.log")),
        STOP_TIMEOUT,
    )?;
    proc.timed_stop = true;
    let server = SocketAddr::new(IpAddr::V4(addr), 53);
    let start = Instant::now();
    for _ in 0..(STARTUP_TIMEOUT.as_millis() / 50 + 1) {
        if let Some(status) = proc.exited() {
            return Err(format!("exited during startup ({status})\n{}", proc.tail()));
        }
        if ready_probe(server) {
            return Ok(Resolver {
                validating,
                addr,
                proc,
                command,
                m: Measured::default(),
            });
        }
        if start.elapsed() >= STARTUP_TIMEOUT {
            break;
        }
        sleep(Duration::from_millis(50));
    }
    let tail = proc.tail();
    proc.stop();
    Err(format!("did not answer within {STARTUP_TIMEOUT:?}\n{tail}"))
}

// ---------------------------------------------------------------------------
// Measurement steps
// ---------------------------------------------------------------------------

/// On the fresh resolver: the first name of each zone (signed first, on the
/// empty cache), its latency and every upstream query since the resolver
/// started; then a listed name. Any wrong answer ends the run.
fn first_answers(
    r: &Resolver,
    tree: &NsdTree,
    before_start: ([u64; 4], BTreeMap<String, u64>),
) -> Result<Vec<(Leaf, First)>, String> {
    let mut firsts = Vec::new();
    let (mut base, mut base_types) = before_start;
    for leaf in Leaf::BOTH {
        let name = format!("first.miss.{}", leaf.apex());
        let (m, took) = ask(r.socket(), &name)?;
        check_answer(&m, WILDCARD_ADDR, r.want_ad(leaf))
            .map_err(|e| format!("{name}: {e}\n{}", r.proc.tail()))?;
        let after = upstream_settle(tree);
        let up = diff(base, after);
        let by_type = type_diff(&base_types, &type_counts(tree), 1);
        println!(
            "  {}: first {} name {name}: {:.3} ms, {} upstream queries ({by_type})",
            r.label(),
            leaf.key(),
            took.as_secs_f64() * 1e3,
            up.iter().sum::<u64>(),
        );
        firsts.push((
            leaf,
            First {
                latency: took,
                upstream: up,
                by_type,
            },
        ));
        let listed = format!("h7.{}", leaf.apex());
        let (m, _) = ask(r.socket(), &listed)?;
        check_answer(&m, host_address(7), r.want_ad(leaf))
            .map_err(|e| format!("{listed}: {e}\n{}", r.proc.tail()))?;
        base = upstream_settle(tree);
        base_types = type_counts(tree);
    }
    Ok(firsts)
}

/// Caches `h0` .. `h999` of `signed.test.` (one dnsperf pass at the cold
/// load), then asks them all again at the cached load: every answer must be
/// NOERROR, and none may need upstream; a few are checked in full.
fn warm(
    r: &mut Resolver,
    dp: &Dnsperf,
    tree: &NsdTree,
    out: &Path,
    hosts: &Path,
) -> Result<(), String> {
    let passes = [
        ("caching the list", COLD),
        (
            "the list again",
            Load {
                maxruns: Some(1),
                ..CACHED_PLAIN
            },
        ),
    ];
    for (pass, (what, load)) in passes.into_iter().enumerate() {
        let log = out.join(format!("{}-warm-{}.txt", r.key(), pass + 1));
        let st = dp.run(r, tree, hosts, WARM_LIMIT_SECS, load, &log)?;
        println!("  {}: {what}: {}", r.label(), st.brief());
        if st.noerror != HOSTS as u64 {
            return Err(format!(
                "{} ({what}): {} of {HOSTS} names answered NOERROR ({}); see {}\n{}",
                r.label(),
                st.noerror,
                st.rcodes,
                log.display(),
                r.proc.tail()
            ));
        }
    }
    for i in [0, 1, 499, 998, 999] {
        let name = format!("h{i}.{}", Leaf::Signed.apex());
        let (m, _) = ask(r.socket(), &name)?;
        check_answer(&m, host_address(i), r.want_ad(Leaf::Signed))
            .map_err(|e| format!("{name}: {e}\n{}", r.proc.tail()))?;
    }
    Ok(())
}

fn cached_run(
    r: &mut Resolver,
    dp: &Dnsperf,
    s: &Settings,
    tree: &NsdTree,
    out: &Path,
    hosts: &Path,
    round: usize,
) -> Result<(), String> {
    r.alive()?;
    for dnssec_ok in [false, true] {
        let what = if dnssec_ok { "DO=1" } else { "plain" };
        let log = out.join(format!(
            "{}-cached-{}-{round}.txt",
            r.key(),
            if dnssec_ok { "do" } else { "plain" }
        ));
        let load = if dnssec_ok { CACHED_DO } else { CACHED_PLAIN };
        let st = dp.run(r, tree, hosts, s.seconds, load, &log)?;
        println!("  {:<14} cached {what:<5}: {}", r.label(), st.brief());
        if st.noerror < st.completed {
            r.m.notes.push(format!(
                "round {round} cached {what}: {} of {} answers were not NOERROR ({})",
                st.completed - st.noerror,
                st.completed,
                st.rcodes
            ));
        }
        if dnssec_ok {
            r.m.cached_do.push(st);
        } else {
            r.m.cached_plain.push(st);
        }
    }
    Ok(())
}

/// `s.cold_names` fresh names of `leaf`, one at a time, with DO=1; every
/// answer checked.
fn sequential_run(
    r: &mut Resolver,
    s: &Settings,
    tree: &NsdTree,
    leaf: Leaf,
    round: usize,
) -> Result<(), String> {
    r.alive()?;
    let up0 = upstream_settle(tree);
    let types0 = type_counts(tree);
    let started = Instant::now();
    let mut seq = Sequential::default();
    for i in 0..s.cold_names {
        if started.elapsed() >= SEQUENTIAL_LIMIT {
            r.m.notes.push(format!(
                "round {round} one-at-a-time {}: stopped after {i} names at {SEQUENTIAL_LIMIT:?}",
                leaf.key()
            ));
            break;
        }
        let name = format!("q{round}{}-{i}.miss.{}", r.key(), leaf.apex());
        seq.names += 1;
        let verdict = ask(r.socket(), &name)
            .and_then(|(m, took)| check_answer(&m, WILDCARD_ADDR, r.want_ad(leaf)).map(|()| took));
        match verdict {
            Ok(took) => seq.latencies.push(took.as_secs_f64()),
            Err(e) => {
                seq.wrong += 1;
                if seq.first_wrong.len() < 3 {
                    seq.first_wrong.push(format!("{name}: {e}"));
                }
            }
        }
    }
    seq.upstream = diff(up0, upstream_settle(tree)).iter().sum();
    seq.by_type = type_diff(&types0, &type_counts(tree), seq.names);
    println!(
        "  {:<14} cold {:<8} one at a time: {} names, p50 {} p99 {}, {:.3} upstream/name ({}), {} wrong",
        r.label(),
        leaf.key(),
        seq.names,
        fmt_ms(seq.pct(0.5)),
        fmt_ms(seq.pct(0.99)),
        seq.upstream_per_name().unwrap_or(0.0),
        seq.by_type,
        seq.wrong
    );
    if seq.wrong > 0 {
        let first = seq.first_wrong.join("\n    ");
        // A validating resolver failing answers that must validate is the
        // finding; nothing after it would mean anything.
        if r.validating {
            return Err(format!(
                "{} of {} fresh {} names answered wrongly by the validating resolver:\n    {first}\n{}",
                seq.wrong,
                seq.names,
                leaf.key(),
                r.proc.tail()
            ));
        }
        r.m.notes.push(format!(
            "round {round} one-at-a-time {}: {} of {} answers wrong, e.g. {first}",
            leaf.key(),
            seq.wrong,
            seq.names
        ));
    }
    r.m.seq.push((leaf, seq));
    Ok(())
}

/// dnsperf over fresh names of `leaf` (plain queries).
fn cold_run(
    r: &mut Resolver,
    dp: &Dnsperf,
    s: &Settings,
    tree: &NsdTree,
    out: &Path,
    leaf: Leaf,
    round: usize,
) -> Result<(), String> {
    r.alive()?;
    let prefix = format!("p{round}{}-", r.key());
    let count = (s.seconds * COLD_NAMES_PER_SEC) as usize;
    let file = write_cold_file(out, leaf, &prefix, count);
    let log = out.join(format!("{}-cold-{}-{round}.txt", r.key(), leaf.key()));
    let st = dp.run(r, tree, &file, s.seconds, COLD, &log);
    let _ = fs::remove_file(&file);
    let st = st?;
    println!(
        "  {:<14} cold {:<8} dnsperf: {}",
        r.label(),
        leaf.key(),
        st.brief()
    );
    if st.noerror < st.completed {
        let msg = format!(
            "round {round} cold {} dnsperf: {} of {} answers were not NOERROR ({})",
            leaf.key(),
            st.completed - st.noerror,
            st.completed,
            st.rcodes
        );
        if r.validating && st.rcodes.contains("SERVFAIL") {
            return Err(format!("{msg}\n{}", r.proc.tail()));
        }
        r.m.notes.push(msg);
    }
    if st.exhausted {
        r.m.notes.push(format!(
            "round {round} cold {} dnsperf: the {count} fresh names ran out before {} s",
            leaf.key(),
            s.seconds
        ));
    }
    r.m.cold.push((leaf, st));
    Ok(())
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

fn avg<'a>(
    runs: impl Iterator<Item = &'a RunStats>,
    f: impl Fn(&RunStats) -> Option<f64>,
) -> Option<f64> {
    let v: Vec<f64> = runs.filter_map(f).collect();
    mean(&v)
}

fn cold_of(m: &Measured, leaf: Leaf) -> impl Iterator<Item = &RunStats> {
    m.cold
        .iter()
        .filter(move |(l, _)| *l == leaf)
        .map(|(_, st)| st)
}

fn seq_avg(m: &Measured, leaf: Leaf, f: impl Fn(&Sequential) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = m
        .seq
        .iter()
        .filter(|(l, _)| *l == leaf)
        .filter_map(|(_, s)| f(s))
        .collect();
    mean(&v)
}

fn firsts(m: &Measured, leaf: Leaf) -> impl Iterator<Item = &First> {
    m.first
        .iter()
        .filter(move |(l, _)| *l == leaf)
        .map(|(_, f)| f)
}

/// The median of the first-name latencies over the fresh starts.
fn first_latency(m: &Measured, leaf: Leaf) -> Option<f64> {
    let mut v: Vec<f64> = firsts(m, leaf).map(|f| f.latency.as_secs_f64()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// The first-name upstream queries (the mean over the fresh starts; they
/// are the same in every start unless a note says otherwise).
fn first_upstream(m: &Measured, leaf: Leaf) -> Option<f64> {
    let v: Vec<f64> = firsts(m, leaf)
        .map(|f| f.upstream.iter().sum::<u64>() as f64)
        .collect();
    mean(&v)
}

fn f_bytes(v: f64) -> String {
    format!("{v:.0} B")
}
type Value = Box<dyn Fn(&Measured) -> Option<f64>>;
/// (metric, how its values print, its value from one resolver's measurements).
type Row = (String, fn(f64) -> String, Value);

fn rows() -> Vec<Row> {
    let mut rows: Vec<Row> = vec![
        (
            "cached QPS, plain queries".into(),
            f_int,
            Box::new(|m| avg(m.cached_plain.iter(), |r| Some(r.qps))),
        ),
        (
            "CPU per cached answer, plain".into(),
            f_us,
            Box::new(|m| avg(m.cached_plain.iter(), RunStats::cpu_per_answer_us)),
        ),
        (
            "cached answer size, plain".into(),
            f_bytes,
            Box::new(|m| avg(m.cached_plain.iter(), |r| r.response_bytes)),
        ),
        (
            "cached QPS, DO=1 queries".into(),
            f_int,
            Box::new(|m| avg(m.cached_do.iter(), |r| Some(r.qps))),
        ),
        (
            "CPU per cached answer, DO=1".into(),
            f_us,
            Box::new(|m| avg(m.cached_do.iter(), RunStats::cpu_per_answer_us)),
        ),
        (
            "cached answer size, DO=1".into(),
            f_bytes,
            Box::new(|m| avg(m.cached_do.iter(), |r| r.response_bytes)),
        ),
    ];
    for leaf in Leaf::BOTH {
        let z = leaf.apex();
        rows.extend::<[Row; 7]>([
            (
                format!("cold {z}: latency p50, one at a time"),
                f_ms,
                Box::new(move |m| seq_avg(m, leaf, |s| s.pct(0.5))),
            ),
            (
                format!("cold {z}: latency p99, one at a time"),
                f_ms,
                Box::new(move |m| seq_avg(m, leaf, |s| s.pct(0.99))),
            ),
            (
                format!("cold {z}: upstream queries per name"),
                f_3,
                Box::new(move |m| seq_avg(m, leaf, Sequential::upstream_per_name)),
            ),
            (
                format!("cold {z}: QPS (dnsperf, fresh names)"),
                f_int,
                Box::new(move |m| avg(cold_of(m, leaf), |r| Some(r.qps))),
            ),
            (
                format!("cold {z}: CPU per answer"),
                f_us,
                Box::new(move |m| avg(cold_of(m, leaf), RunStats::cpu_per_answer_us)),
            ),
            (
                format!("cold {z}: upstream queries per answer (dnsperf)"),
                f_3,
                Box::new(move |m| avg(cold_of(m, leaf), RunStats::upstream_per_answer)),
            ),
            (
                format!("first {z} name, empty cache: latency (median of the starts)"),
                f_ms,
                Box::new(move |m| first_latency(m, leaf)),
            ),
        ]);
        rows.push((
            format!("first {z} name, empty cache: upstream queries"),
            f_int,
            Box::new(move |m| first_upstream(m, leaf)),
        ));
    }
    rows
}

fn table(on: &Resolver, off: &Resolver, s: &Settings) -> String {
    let mut md =
        String::from("| metric | validation on | validation off | on / off |\n|---|---|---|---|\n");
    for (metric, fmt, value) in rows() {
        let (a, b) = (value(&on.m), value(&off.m));
        let cell = |v: Option<f64>| v.map(fmt).unwrap_or_else(|| "—".into());
        let ratio = match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
            _ => "—".into(),
        };
        let _ = writeln!(md, "| {metric} | {} | {} | {ratio} |", cell(a), cell(b));
    }
    let _ = writeln!(
        md,
        "\nMeans over {} round(s) of {} s per dnsperf run, the two resolvers alternating. \
         Cached: dnsperf -c {CLIENTS} -T {LOAD_THREADS} -q {OUTSTANDING} over the {HOSTS} names \
         of signed.test., plain (no EDNS) and DO=1 (-D). Cold: {} fresh wildcard names one at a \
         time with DO=1 (p50/p99 per round, then averaged), and dnsperf -c {CLIENTS} -T \
         {LOAD_THREADS} -q {COLD_OUTSTANDING} over fresh names (plain queries). Upstream queries \
         counted at the NSD servers. CPU: the resolver's utime + stime over the run. The \
         first-name rows: {} fresh starts of each resolver (alternating), the whole chain from \
         priming, upstream counted from before the resolver started; the unsigned zone's first \
         name comes after the signed one's, so the root and test. are cached by then. rootward \
         --threads {THREADS}.",
        s.rounds, s.seconds, s.cold_names, s.chain_samples
    );
    md
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let s = Settings::from_env();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dnssec_cost");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).expect("create target/dnssec_cost");

    common::require_port_53("dnssec_cost", ON_ADDR);

    let mut notes = ensure_installed(&s, &out);
    let dp = common::require_dnsperf("dnssec_cost", Dnsperf::find(), &notes);

    let started = Instant::now();
    let load_before = loadavg();
    println!("signing the tree (ldns) ...");
    let (zones, root) = build_zones();
    let tree = NsdTree::start_zones(&zones);
    let hints = write_root_hints(&out);
    let anchor = out.join("root.ds");
    fs::write(&anchor, root.trust_anchor_ds()).expect("write the trust anchor");
    let hosts = write_hosts_file(&out);
    let versions = vec![
        rootward_version(),
        version_line(
            &find_program("nsd").unwrap_or_default(),
            &["-v"],
            "NSD version",
        )
        .unwrap_or_else(|| "NSD (version unknown)".into()),
        version_line(
            &find_program("ldns-signzone").unwrap_or_default(),
            &["-v"],
            "ldns version",
        )
        .unwrap_or_else(|| "ldns (version unknown)".into()),
        dp.version.clone(),
    ];
    println!(
        "tree: {} zones on {} NSD servers (127.66.0.0/24), signed.test. with {HOSTS} names + \
         *.miss (NSEC3, 0 iterations); {}; load average {load_before}",
        zones.len(),
        SERVERS.len(),
        machine()
    );
    println!("{}", versions.join("; "));

    let result = measure(&s, &dp, &tree, &out, &hints, &anchor, &hosts);
    let (mut on, mut off) = match result {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("\ndnssec_cost: STOPPED: {e}");
            eprintln!("logs: {}", out.display());
            drop(tree);
            std::process::exit(2);
        }
    };
    let load_after = loadavg();
    for r in [&mut on, &mut off] {
        println!("{}: {}", r.label(), r.proc.stop());
    }
    drop(tree);

    let mut md = table(&on, &off, &s);
    let _ = writeln!(md, "\nUpstream queries by zone and type:\n");
    for r in [&on, &off] {
        for leaf in Leaf::BOTH {
            let mut seen: Vec<&str> = firsts(&r.m, leaf).map(|f| f.by_type.as_str()).collect();
            seen.dedup();
            let _ = writeln!(
                md,
                "- {}, first {} name on an empty cache: {}",
                r.label(),
                leaf.apex(),
                seen.join("; in another start: ")
            );
        }
        for leaf in Leaf::BOTH {
            if let Some((_, q)) = r.m.seq.iter().rev().find(|(l, _)| *l == leaf) {
                let _ = writeln!(
                    md,
                    "- {}, per cold {} name (last one-at-a-time pass): {}",
                    r.label(),
                    leaf.apex(),
                    q.by_type
                );
            }
        }
    }
    let _ = writeln!(md, "\nCommands:\n");
    let _ = writeln!(md, "- `cargo bench --bench dnssec_cost`");
    for r in [&on, &off] {
        let _ = writeln!(md, "- {}: `{}`", r.label(), r.command);
    }
    let _ = writeln!(
        md,
        "- load: `{} {} ...`",
        dp.bin.display(),
        dp.args(ON_ADDR, Path::new("FILE"), s.seconds, CACHED_PLAIN)
            .join(" ")
    );
    let _ = writeln!(md, "\nVersions:\n");
    for v in &versions {
        let _ = writeln!(md, "- {v}");
    }
    let _ = writeln!(
        md,
        "- machine: {}; load average {load_before} before, {load_after} after",
        machine()
    );
    for r in [&on, &off] {
        for n in &r.m.notes {
            notes.push(format!("{}: {n}", r.label()));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "\nNotes:\n");
        for n in &notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    println!("\n<!-- BEGIN dnssec_cost markdown -->");
    print!("{md}");
    println!("<!-- END dnssec_cost markdown -->");
    let _ = fs::write(out.join("table.md"), &md);
    println!(
        "\nlogs and dnsperf summaries: {}\nwhole run: {:.1?}",
        out.display(),
        started.elapsed()
    );
}

/// Starts both resolvers (one after the other, each checked on its empty
/// cache), warms them, and runs the rounds.
fn measure(
    s: &Settings,
    dp: &Dnsperf,
    tree: &NsdTree,
    out: &Path,
    hints: &Path,
    anchor: &Path,
    hosts: &Path,
) -> Result<(Resolver, Resolver), String> {
    // Fresh starts, alternating: the first names of each start are the
    // whole chain from priming. The last start of each is kept.
    let mut pair = Vec::new();
    let mut chains: [Vec<(Leaf, First)>; 2] = [Vec::new(), Vec::new()];
    for sample in 1..=s.chain_samples {
        for (i, validating) in [true, false].into_iter().enumerate() {
            let before = (upstream_settle(tree), type_counts(tree));
            let mut r =
                start_resolver(validating, out, hints, anchor, &s.log_level).map_err(|e| {
                    format!("rootward ({}): {e}", if validating { "on" } else { "off" })
                })?;
            println!(
                "{}: start {sample} of {}: answering ({})",
                r.label(),
                s.chain_samples,
                r.command
            );
            chains[i].extend(first_answers(&r, tree, before)?);
            if sample == s.chain_samples {
                r.m.first = std::mem::take(&mut chains[i]);
                pair.push(r);
            } else {
                println!("  {}: {}", r.label(), r.proc.stop());
            }
        }
    }
    let (mut off, mut on) = (pair.pop().expect("off"), pair.pop().expect("on"));
    for r in [&mut on, &mut off] {
        for leaf in Leaf::BOTH {
            let counts: Vec<u64> = firsts(&r.m, leaf)
                .map(|f| f.upstream.iter().sum())
                .collect();
            if counts.windows(2).any(|w| w[0] != w[1]) {
                r.m.notes.push(format!(
                    "first {} name: upstream queries differed between starts: {counts:?}",
                    leaf.apex()
                ));
            }
        }
    }
    warm(&mut on, dp, tree, out, hosts)?;
    warm(&mut off, dp, tree, out, hosts)?;

    for round in 1..=s.rounds {
        println!("round {round} of {} (load average {})", s.rounds, loadavg());
        let order: [&mut Resolver; 2] = if round % 2 == 1 {
            [&mut on, &mut off]
        } else {
            [&mut off, &mut on]
        };
        for r in order {
            cached_run(r, dp, s, tree, out, hosts, round)?;
            for leaf in Leaf::BOTH {
                sequential_run(r, s, tree, leaf, round)?;
                cold_run(r, dp, s, tree, out, leaf, round)?;
            }
        }
    }
    Ok((on, off))
}
