//! Spoofing resistance, measured on real sockets (issue 9, item 2).
//!
//! rootward runs as a process on loopback and resolves through test
//! authorities: a root (k.2), the `test.` TLD (k.3) and a leaf zone served by
//! a [`SpoofAuthority`] (k.4) that records what an on-path observer sees of
//! every query (source port, ID, the QNAME's 0x20 case) and plays the
//! attacker: it sends forged replies from its own socket, so they carry
//! exactly the source an off-path attacker spoofs (the authority's address,
//! port 53). rootward sends its upstream queries from its own address k.1
//! (`--outgoing-address`), so the floods below reach rootward's sockets and
//! no one else's.
//!
//! - [`ports_ids_and_case_are_random`]: over 2,200 cache misses, how many
//!   distinct source ports and IDs rootward used, and the 0x20 bits per name.
//! - [`blind_flood_to_every_port_loses_the_race`]: while the authority takes
//!   its time, forged replies (right question, random ID) go to every port
//!   rootward may use; rootward answers and caches the true answer.
//! - [`flood_at_the_known_port_loses_the_race`]: the same with the attacker
//!   told the port; only the ID and the case are left to guess.
//! - [`mismatched_replies_are_dropped`]: replies from the wrong address or
//!   port, with the wrong ID, question or case, or not DNS at all, are
//!   dropped, and the ones that reach rootward are counted by reason
//!   (asserted where /metrics exports the counters;
//!   [`mismatched_replies_are_counted_in_metrics`] requires it).
//!
//! Each prints one `SPOOFING ...` summary line (see them with
//! `cargo test --test spoofing -- --nocapture`); the figures in
//! docs/robustness.md come from there. Addresses: test k uses 127.64.k.0/24.

#[path = "support/spoof.rs"]
mod spoof;
mod support;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use spoof::{Forgery, Plan, Received, SpoofAuthority, Worker, letters, upper_letters};
use support::authority::Zone;
use support::authority_server::AuthorityServer;
use support::client::{Client, a_records, summary};
use support::nsd::unique_dir;
use support::process::{Rootward, write_root_hints};

/// The address every forged reply points at.
const FORGED: Ipv4Addr = Ipv4Addr::new(6, 6, 6, 6);
/// Lowest source port rootward picks (`MIN_SOURCE_PORT` in
/// src/upstream/socket.rs): it draws from 1024–65535 itself.
const MIN_SOURCE_PORT: u16 = 1024;
/// Mismatched datagrams one upstream socket reads before rootward gives up
/// on it (`MAX_MISMATCHED_REPLIES` in src/upstream/socket.rs).
const MAX_MISMATCHED_REPLIES: u64 = 64;
/// Port of the metrics endpoint on k.1.
const METRICS_PORT: u16 = 9153;
/// Timeout of one client query where an answer is expected.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the slow authority takes to answer (the race window).
const SLOW: Duration = Duration::from_millis(350);

fn ip(k: u8, x: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 64, k, x))
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The tree of test k: root on k.2, `test.` on k.3 delegating `leaf` (e.g.
/// `wild.test.`) to ns1.<leaf> on k.4, where the caller's [`SpoofAuthority`]
/// runs with [`leaf_zone`].
struct Tree {
    k: u8,
    _root: AuthorityServer,
    _tld: AuthorityServer,
    dir: TempDir,
}

impl Tree {
    fn new(k: u8, leaf: &str) -> Tree {
        let root = Zone::parse(
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
        );
        let tld = Zone::parse(
            "test.",
            &format!(
                "@ 3600 SOA ns1.tld hostmaster 1 3600 900 604800 300\n\
                 @ NS ns1.tld\n\
                 ns1.tld A {tld}\n\
                 a.root A {root}\n\
                 {leaf} 86400 NS ns1.{leaf}\n\
                 ns1.{leaf} 86400 A {auth}\n",
                root = ip(k, 2),
                tld = ip(k, 3),
                auth = ip(k, 4),
            ),
        );
        Tree {
            k,
            _root: AuthorityServer::start(ip(k, 2), vec![root]),
            _tld: AuthorityServer::start(ip(k, 3), vec![tld]),
            dir: TempDir(unique_dir(&format!("rootward-spoofing-{k}"))),
        }
    }

    /// rootward on k.1:53, sending upstream from k.1, metrics on
    /// k.1:9153, plus `extra` arguments.
    fn rootward(&self, extra: &[&str]) -> Rootward {
        let hints = write_root_hints(&self.dir.0, &[("a.root.test.", ip(self.k, 2))]);
        let outgoing = ip(self.k, 1).to_string();
        let metrics = self.metrics().to_string();
        let mut args = vec![
            "--outgoing-address",
            outgoing.as_str(),
            "--metrics",
            metrics.as_str(),
        ];
        if supports_no_dnssec() {
            args.push("--no-dnssec");
        }
        args.extend_from_slice(extra);
        Rootward::start(SocketAddr::new(ip(self.k, 1), 53), &hints, &args)
    }

    fn metrics(&self) -> SocketAddr {
        SocketAddr::new(ip(self.k, 1), METRICS_PORT)
    }
}

/// The leaf zone `origin` served from k.4: every name under it is a
/// wildcard match for `* 300 A true_a`.
fn leaf_zone(k: u8, origin: &str, true_a: Ipv4Addr) -> Zone {
    Zone::parse(
        origin,
        &format!(
            "@ 3600 SOA ns1 hostmaster 1 3600 900 604800 300\n\
             @ NS ns1\n\
             ns1 A {auth}\n\
             * 300 A {true_a}\n",
            auth = ip(k, 4)
        ),
    )
}

/// Whether this rootward build knows `--no-dnssec` (DNSSEC validation is
/// being added; these tests are about the transport, so they turn it off
/// where it exists).
fn supports_no_dnssec() -> bool {
    static KNOWN: OnceLock<bool> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        Command::new(env!("CARGO_BIN_EXE_rootward"))
            .arg("--help")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("--no-dnssec"))
            .unwrap_or(false)
    })
}

/// `n` random lower-case letters.
fn random_letters(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect()
}

/// The upstream socket's port, from rootward's point of view.
fn port_of(r: &Received) -> u16 {
    r.peer.port()
}

/// Asserts the reply is NOERROR with exactly `want` as its A record.
fn assert_true_answer(m: &Message, want: Ipv4Addr, ctx: &str) {
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "{ctx}: {}",
        summary(m)
    );
    assert_eq!(a_records(m), vec![want], "{ctx}: {}", summary(m));
}

/// Asserts no forged address reached the cache.
fn assert_cache_clean(rw: &Rootward, must_hold: &[String], true_a: Ipv4Addr) {
    let (code, dump, err) = rw.ctl(&["dump-cache"]);
    assert_eq!(code, 0, "dump-cache failed: {err}");
    assert!(
        !dump.contains(&FORGED.to_string()),
        "a forged record is in the cache:\n{dump}"
    );
    for name in must_hold {
        let line = dump.lines().find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&name.to_ascii_lowercase())
        });
        assert!(
            line.is_some_and(|l| l.contains(&true_a.to_string())),
            "the cache lacks the true answer for {name}:\n{dump}"
        );
    }
}

// ---------------------------------------------------------------------------
// Metrics

/// GET /metrics over plain TCP; returns the body (bounded: 5 s, 4 MB).
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to metrics {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send metrics request");
    let mut out = Vec::new();
    let _ = s.take(4 << 20).read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(out.starts_with("HTTP/1.1 200"), "metrics: {out}");
    out
}

/// The value of the sample named exactly `key` (name plus labels), 0 if
/// absent.
fn sample(text: &str, key: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == key).then(|| v.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// The dropped-reply counts (`dropped_replies()` in
/// src/upstream/socket.rs) as exported in a scrape, by reason
/// (`wrong_id`, `wrong_question`, `wrong_case`, `unparsable`); `None` when
/// the scrape exports no such metric. Any metric whose name contains
/// `dropped_repl`, one sample per reason in a `reason` label (dashes or
/// underscores), or one metric per reason (`..._wrong_id_total`).
fn dropped_replies(text: &str) -> Option<HashMap<String, f64>> {
    if !text.contains("dropped_repl") {
        return None;
    }
    let mut out = HashMap::new();
    for reason in ["wrong_id", "wrong_question", "wrong_case", "unparsable"] {
        let dashed = reason.replace('_', "-");
        let value: f64 = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("dropped_repl"))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                let hit = k.contains(&format!("\"{reason}\""))
                    || k.contains(&format!("\"{dashed}\""))
                    || k.split('{').next()?.contains(reason);
                hit.then(|| v.parse::<f64>().ok()).flatten()
            })
            .sum();
        out.insert(reason.to_string(), value);
    }
    Some(out)
}

/// `after - before` per reason.
fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> HashMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (v - before.get(k).copied().unwrap_or(0.0)) as u64,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// (a) Source ports, IDs and 0x20 over many queries

/// Cache misses asked in the measurement (each one upstream query).
const MISSES: usize = 2_200;
/// Client threads asking them.
const MISS_THREADS: usize = 4;
/// Random letters in each name's first label.
const NAME_LETTERS: usize = 12;

#[test]
fn ports_ids_and_case_are_random() {
    let k = 1;
    let true_a = Ipv4Addr::new(192, 0, 2, 1);
    let tree = Tree::new(k, "wild.test.");
    let leaf = SpoofAuthority::start(
        ip(k, 4),
        vec![leaf_zone(k, "wild.test.", true_a)],
        |_, _| Plan::Answer,
    );
    let rw = tree.rootward(&[]);
    let before = scrape(tree.metrics());
    let started = Instant::now();

    let names: Vec<String> = (0..MISSES)
        .map(|i| format!("{}-{i}.wild.test.", random_letters(NAME_LETTERS)))
        .collect();
    thread::scope(|s| {
        for chunk in names.chunks(MISSES.div_ceil(MISS_THREADS)) {
            let c = Client::with_timeout(rw.addr, CLIENT_TIMEOUT);
            s.spawn(move || {
                for name in chunk {
                    let r = c.udp(name, RecordType::A);
                    assert_true_answer(&r, true_a, name);
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let after = scrape(tree.metrics());

    let asked: HashSet<String> = names.iter().cloned().collect();
    let seen: Vec<Received> = leaf
        .received()
        .into_iter()
        .filter(|r| asked.contains(&r.name.to_lowercase().to_ascii()))
        .collect();
    let n = seen.len();
    assert!(
        n >= MISSES,
        "the authority saw {n} queries for the {MISSES} names"
    );

    // Source addresses: all from rootward's outgoing address.
    assert!(
        seen.iter().all(|r| r.peer.ip() == ip(k, 1)),
        "a query came from elsewhere than {}",
        ip(k, 1)
    );

    // Ports.
    let ports: Vec<u16> = seen.iter().map(port_of).collect();
    let distinct_ports = ports.iter().collect::<HashSet<_>>().len();
    let (min_port, max_port) = (*ports.iter().min().unwrap(), *ports.iter().max().unwrap());
    let kernel_range = kernel_port_range();
    let outside_kernel = ports.iter().filter(|p| !kernel_range.contains(*p)).count();
    let port_buckets = buckets(
        ports.iter().map(|p| u32::from(*p - MIN_SOURCE_PORT)),
        65_536 - 1024,
    );

    // IDs.
    let ids: Vec<u16> = seen.iter().map(|r| r.id).collect();
    let distinct_ids = ids.iter().collect::<HashSet<_>>().len();
    let id_buckets = buckets(ids.iter().map(|i| u32::from(*i)), 65_536);

    // 0x20.
    let total_letters: u64 = seen.iter().map(|r| u64::from(letters(&r.name))).sum();
    let total_upper: u64 = seen.iter().map(|r| u64::from(upper_letters(&r.name))).sum();
    let min_letters = seen.iter().map(|r| letters(&r.name)).min().unwrap();
    let mean_letters = total_letters as f64 / n as f64;
    let mean_upper = total_upper as f64 / n as f64;
    let upper_fraction = total_upper as f64 / total_letters as f64;
    // Per letter position of the first label (all names share the layout):
    // each must be upper-case about half the time.
    let per_position: Vec<f64> = (0..NAME_LETTERS)
        .map(|i| {
            let up = seen
                .iter()
                .filter(|r| r.name.to_ascii().as_bytes()[i].is_ascii_uppercase())
                .count();
            up as f64 / n as f64
        })
        .collect();
    let (lo_pos, hi_pos) = per_position
        .iter()
        .fold((1.0f64, 0.0f64), |(lo, hi), f| (lo.min(*f), hi.max(*f)));

    let upstream = sample(&after, "rootward_upstream_queries_total")
        - sample(&before, "rootward_upstream_queries_total");
    println!(
        "SPOOFING ports-ids-0x20: {n} upstream queries ({upstream} counted by rootward) for {MISSES} names in {:.1} s; \
         distinct source ports {distinct_ports}/{n} ({:.1}%), range {min_port}-{max_port}, \
         {outside_kernel} ({:.1}%) outside the kernel's ephemeral range {}-{}, per 1/16 of 1024-65535: {}-{} (expected {:.0}); \
         distinct IDs {distinct_ids}/{n} ({:.1}%), per 1/16 of the ID space: {}-{} (expected {:.0}); \
         0x20: {mean_letters:.1} letters (bits) per QNAME (min {min_letters}), {mean_upper:.1} upper-case per QNAME, \
         upper-case fraction {upper_fraction:.3} (per position {lo_pos:.3}-{hi_pos:.3})",
        elapsed.as_secs_f64(),
        100.0 * distinct_ports as f64 / n as f64,
        100.0 * outside_kernel as f64 / n as f64,
        kernel_range.start(),
        kernel_range.end(),
        port_buckets.iter().min().unwrap(),
        port_buckets.iter().max().unwrap(),
        n as f64 / 16.0,
        100.0 * distinct_ids as f64 / n as f64,
        id_buckets.iter().min().unwrap(),
        id_buckets.iter().max().unwrap(),
        n as f64 / 16.0,
    );

    assert!(
        distinct_ids as f64 >= 0.95 * n as f64,
        "only {distinct_ids} distinct IDs in {n} queries"
    );
    assert!(
        distinct_ports as f64 >= 0.90 * n as f64,
        "only {distinct_ports} distinct source ports in {n} queries"
    );
    assert!(
        min_port >= MIN_SOURCE_PORT,
        "source port {min_port} is below {MIN_SOURCE_PORT}"
    );
    // Uniformity, loosely: each sixteenth of the space holds n/16 ± 50%
    // (more than 5 standard deviations at n = 2,200).
    let expected = n as f64 / 16.0;
    for (what, b) in [("port", &port_buckets), ("ID", &id_buckets)] {
        assert!(
            b.iter()
                .all(|c| (*c as f64) > 0.5 * expected && (*c as f64) < 1.5 * expected),
            "{what}s are not spread evenly over their range: {b:?}"
        );
    }
    assert!(
        (0.45..=0.55).contains(&upper_fraction),
        "upper-case fraction {upper_fraction}: 0x20 is not randomising"
    );
    assert!(
        per_position.iter().all(|f| (0.4..=0.6).contains(f)),
        "some letter position is not randomised: {per_position:?}"
    );
    assert!(
        min_letters as usize >= NAME_LETTERS + "wildtest".len(),
        "a QNAME lost letters: {min_letters}"
    );
}

/// The kernel's ephemeral port range (where `bind(port 0)` picks).
fn kernel_port_range() -> std::ops::RangeInclusive<u16> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = text.split_whitespace().filter_map(|s| s.parse().ok());
    match (it.next(), it.next()) {
        (Some(lo), Some(hi)) => lo..=hi,
        _ => 32768..=60999,
    }
}

/// Counts of `values` (each below `space`) in 16 equal buckets.
fn buckets(values: impl Iterator<Item = u32>, space: u32) -> Vec<usize> {
    let mut b = vec![0usize; 16];
    for v in values {
        b[(v as usize * 16) / space as usize] += 1;
    }
    b
}

// ---------------------------------------------------------------------------
// (b) Races against a slow authority

/// rootward arguments for the races: a generous upstream timeout cap so the
/// slow authority is waited for, and no failure cache so a question given
/// up under attack can be asked again at once.
const RACE_ARGS: [&str; 6] = [
    "--upstream-timeout",
    "3s",
    "--resolution-timeout",
    "10s",
    "--failure-cache-ttl",
    "0s",
];

/// Answers after [`SLOW`], counted from the query's arrival.
fn answer_slowly(w: &Worker) {
    if w.sleep_until(w.received.at + SLOW) {
        w.answer();
    }
}

/// Asks `warm.<zone>` once so rootward has measured the slow authority's
/// RTT (its timeout then sits well above [`SLOW`]).
fn warm_up(rw: &Rootward, zone: &str, true_a: Ipv4Addr) {
    let c = Client::with_timeout(rw.addr, CLIENT_TIMEOUT);
    let name = format!("warm.{zone}");
    assert_true_answer(&c.udp(&name, RecordType::A), true_a, &name);
}

/// Blind windows (each: one name, forged replies to every port).
const BLIND_WINDOWS: usize = 2;
/// A sweep stops here even if unfinished, so the true answer still comes
/// before rootward's timeout for the slow authority.
const SWEEP_LIMIT: Duration = Duration::from_millis(900);

/// What one blind window did.
#[derive(Debug, Clone, Copy)]
struct Sweep {
    sent: u64,
    last_port: u16,
    rootward_port: u16,
    took: Duration,
}

#[test]
fn blind_flood_to_every_port_loses_the_race() {
    let k = 2;
    let true_a = Ipv4Addr::new(192, 0, 2, 2);
    let target = ip(k, 1);
    let tree = Tree::new(k, "slow.test.");
    let sweeps: Arc<Mutex<Vec<Sweep>>> = Arc::default();
    let log = sweeps.clone();
    let leaf = SpoofAuthority::start(
        ip(k, 4),
        vec![leaf_zone(k, "slow.test.", true_a)],
        move |r, _| {
            if !r.name.to_ascii().to_ascii_lowercase().starts_with("blind-") {
                return Plan::Work(Box::new(answer_slowly));
            }
            let log = log.clone();
            Plan::Work(Box::new(move |w: &Worker| {
                // The attacker knows the question byte for byte (case
                // included): only the port and the ID are left to guess.
                let mut forged = Forgery::new(&w.query, FORGED);
                let start = Instant::now();
                let mut sent = 0u64;
                let mut last_port = MIN_SOURCE_PORT;
                for port in MIN_SOURCE_PORT..=u16::MAX {
                    if w.stopped() || start.elapsed() > SWEEP_LIMIT {
                        break;
                    }
                    forged.set_id(rand::random());
                    if w.send_to(forged.bytes(), SocketAddr::new(target, port)) {
                        sent += 1;
                    }
                    last_port = port;
                }
                log.lock().unwrap().push(Sweep {
                    sent,
                    last_port,
                    rootward_port: w.received.peer.port(),
                    took: start.elapsed(),
                });
                answer_slowly(w);
            }))
        },
    );
    let rw = tree.rootward(&RACE_ARGS);
    warm_up(&rw, "slow.test.", true_a);
    let before = scrape(tree.metrics());

    let c = Client::with_timeout(rw.addr, CLIENT_TIMEOUT);
    let names: Vec<String> = (0..BLIND_WINDOWS)
        .map(|i| format!("blind-{i}-{}.slow.test.", random_letters(6)))
        .collect();
    for name in &names {
        assert_true_answer(&c.udp(name, RecordType::A), true_a, name);
    }
    // And again, from the cache: the authority is not asked again.
    let asked_before = leaf.received().len();
    for _ in 0..3 {
        for name in &names {
            assert_true_answer(&c.udp(name, RecordType::A), true_a, name);
        }
    }
    assert_eq!(
        leaf.received().len(),
        asked_before,
        "repeated questions went upstream instead of to the cache"
    );
    leaf.wait_for_workers(Duration::from_secs(5));
    let after = scrape(tree.metrics());
    assert_cache_clean(&rw, &names, true_a);

    let sweeps = sweeps.lock().unwrap().clone();
    let sent: u64 = sweeps.iter().map(|s| s.sent).sum();
    let covered = sweeps
        .iter()
        .filter(|s| s.last_port >= s.rootward_port)
        .count();
    let counted = dropped_replies(&before)
        .zip(dropped_replies(&after))
        .map(|(b, a)| delta(&b, &a));
    println!(
        "SPOOFING blind-flood: {} windows of {} ms, forged replies sent {sent} (per window {:?}, sweeps took {:?}), \
         windows whose sweep reached rootward's port {covered}/{}, accepted 0; \
         forged replies that reached a rootward socket (dropped, by reason): {}; \
         expected forged replies needed (port and ID unknown, question known): {:.2e}",
        sweeps.len(),
        SLOW.as_millis(),
        sweeps.iter().map(|s| s.sent).collect::<Vec<_>>(),
        sweeps.iter().map(|s| s.took).collect::<Vec<_>>(),
        sweeps.len(),
        counted
            .as_ref()
            .map_or("not exported".into(), |d| format!("{d:?}")),
        (65_536.0 - f64::from(MIN_SOURCE_PORT)) * 65_536.0 / 2.0,
    );
    assert!(sent >= 10_000, "only {sent} forged replies sent");
    assert!(
        covered >= 1,
        "no sweep reached rootward's source port: {sweeps:?}"
    );
}

/// Windows where the attacker knows the port and stays under rootward's
/// give-up threshold (every guess is read and checked).
const KNOWN_PORT_WINDOWS: usize = 160;
/// Guesses per window: one fewer than rootward reads before giving up.
const KNOWN_PORT_GUESSES: u64 = MAX_MISMATCHED_REPLIES - 1;
/// Client threads asking the known-port names at once.
const KNOWN_PORT_THREADS: usize = 16;
/// Windows where the attacker floods the known port far past the threshold.
const OVERFLOW_WINDOWS: usize = 4;
/// Forged replies per overflow window.
const OVERFLOW_GUESSES: u64 = 2_500;

#[test]
fn flood_at_the_known_port_loses_the_race() {
    let k = 3;
    let true_a = Ipv4Addr::new(192, 0, 2, 3);
    let tree = Tree::new(k, "slow.test.");
    let attack = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicU64::new(0));
    let overflow_sent = Arc::new(AtomicU64::new(0));
    let windows = Arc::new(AtomicUsize::new(0));
    let repeats = Arc::new(Mutex::new(Vec::<Received>::new()));
    let (a, s, o, wn, rp) = (
        attack.clone(),
        sent.clone(),
        overflow_sent.clone(),
        windows.clone(),
        repeats.clone(),
    );
    let leaf = SpoofAuthority::start(
        ip(k, 4),
        vec![leaf_zone(k, "slow.test.", true_a)],
        move |r, nth| {
            let lower = r.name.to_ascii().to_ascii_lowercase();
            let (guesses, counter) = if lower.starts_with("portknown-") {
                (KNOWN_PORT_GUESSES, s.clone())
            } else if lower.starts_with("overflow-") {
                (OVERFLOW_GUESSES, o.clone())
            } else {
                return Plan::Work(Box::new(answer_slowly));
            };
            if !a.load(Ordering::SeqCst) {
                return Plan::Work(Box::new(answer_slowly));
            }
            if guesses == KNOWN_PORT_GUESSES {
                wn.fetch_add(1, Ordering::Relaxed);
            }
            if nth > 0 {
                // A second query for the name within the attack: rootward
                // gave up on a socket, or fell back from 0x20.
                rp.lock().unwrap().push(r.clone());
            }
            Plan::Work(Box::new(move |w: &Worker| {
                // The attacker read the port from the query; it guesses the
                // ID and the case of every letter.
                let to = w.received.peer;
                let mut forged = Forgery::new(&w.query, FORGED);
                for _ in 0..guesses {
                    if w.stopped() {
                        break;
                    }
                    forged.set_id(rand::random());
                    forged.randomise_case();
                    if w.send_to(forged.bytes(), to) {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
                answer_slowly(w);
            }))
        },
    );
    let rw = tree.rootward(&RACE_ARGS);
    warm_up(&rw, "slow.test.", true_a);
    let before = scrape(tree.metrics());

    // Under the threshold: every guess is read; the true answer wins.
    let names: Vec<String> = (0..KNOWN_PORT_WINDOWS)
        .map(|i| format!("portknown-{i}-{}.slow.test.", random_letters(6)))
        .collect();
    let started = Instant::now();
    // A guess that gets the ID right but not the 0x20 case makes rootward
    // ask again without 0x20 and compare: the data differ, so it takes
    // neither and answers SERVFAIL (about 15% of runs see one such hit).
    let detected = std::sync::Mutex::new(Vec::new());
    thread::scope(|sc| {
        for chunk in names.chunks(KNOWN_PORT_WINDOWS.div_ceil(KNOWN_PORT_THREADS)) {
            let c = Client::with_timeout(rw.addr, CLIENT_TIMEOUT);
            let detected = &detected;
            sc.spawn(move || {
                for name in chunk {
                    let r = c.udp(name, RecordType::A);
                    assert!(
                        !a_records(&r).contains(&FORGED),
                        "{name}: forged answer accepted: {}",
                        summary(&r)
                    );
                    if r.metadata.response_code == ResponseCode::ServFail {
                        detected.lock().unwrap().push(name.clone());
                    } else {
                        assert_true_answer(&r, true_a, name);
                    }
                }
            });
        }
    });
    let known_took = started.elapsed();
    let detected = detected.into_inner().unwrap();
    let differed = rw
        .stderr()
        .matches("differs from the one in the wrong case")
        .count();
    assert!(
        detected.len() <= differed,
        "{} SERVFAILs with the port known, but only {differed} wrong-case forgeries detected",
        detected.len()
    );
    leaf.wait_for_workers(Duration::from_secs(5));
    let mid = scrape(tree.metrics());

    // Far over the threshold: rootward stops reading the socket after 64
    // mismatched replies and gives the question up (SERVFAIL), never
    // taking a forged one.
    let c = Client::with_timeout(rw.addr, CLIENT_TIMEOUT);
    let overflow: Vec<String> = (0..OVERFLOW_WINDOWS)
        .map(|i| format!("overflow-{i}-{}.slow.test.", random_letters(6)))
        .collect();
    let mut overflow_rcodes = Vec::new();
    for name in &overflow {
        let r = c.udp(name, RecordType::A);
        assert!(
            !a_records(&r).contains(&FORGED),
            "{name}: forged answer accepted: {}",
            summary(&r)
        );
        if r.metadata.response_code == ResponseCode::NoError {
            assert_true_answer(&r, true_a, name);
        } else {
            assert_eq!(
                r.metadata.response_code,
                ResponseCode::ServFail,
                "{name}: {}",
                summary(&r)
            );
        }
        overflow_rcodes.push(r.metadata.response_code);
    }
    leaf.wait_for_workers(Duration::from_secs(5));
    let after = scrape(tree.metrics());
    // Each SERVFAIL is rootward giving the socket up after 64 mismatched
    // datagrams (its debug log says why).
    let gave_up = rw.stderr().matches("too many mismatched replies").count();
    let servfails = overflow_rcodes
        .iter()
        .filter(|r| **r == ResponseCode::ServFail)
        .count();
    assert!(
        gave_up >= servfails,
        "{servfails} SERVFAILs but {gave_up} sockets given up for mismatched replies"
    );
    // The attack stops: the questions given up are answered truly.
    attack.store(false, Ordering::SeqCst);
    for name in &overflow {
        assert_true_answer(&c.udp(name, RecordType::A), true_a, name);
    }
    for name in &detected {
        assert_true_answer(&c.udp(name, RecordType::A), true_a, name);
    }
    let all: Vec<String> = names.iter().chain(&overflow).cloned().collect();
    assert_cache_clean(&rw, &all, true_a);

    let sent = sent.load(Ordering::Relaxed);
    let overflow_sent = overflow_sent.load(Ordering::Relaxed);
    let repeats = repeats.lock().unwrap().clone();
    // A repeat of a portknown name in lower case: the 0x20 fallback (a guess
    // hit the ID with the wrong case).
    let fallbacks: Vec<&Received> = repeats
        .iter()
        .filter(|r| {
            r.name.to_ascii().starts_with("portknown-")
                && r.name.to_ascii() == r.name.to_ascii().to_ascii_lowercase()
        })
        .collect();
    let bits: Vec<u32> = names
        .iter()
        .map(|n| letters(&Name::from_ascii(n).unwrap()))
        .collect();
    let min_bits = *bits.iter().min().unwrap();
    let max_bits = *bits.iter().max().unwrap();
    let needed = |l: u32| 2f64.powi(16 + l as i32) / 2.0;
    // A guess with the right ID and the wrong case makes rootward ask again
    // without 0x20 (src/upstream/socket.rs, `udp`): per window, the chance
    // of that and then of a right ID on the fallback socket.
    let p_id = KNOWN_PORT_GUESSES as f64 / 65_536.0;
    let p_fallback_path = p_id * p_id;
    let counted_known = dropped_replies(&before)
        .zip(dropped_replies(&mid))
        .map(|(b, a)| delta(&b, &a));
    let counted_overflow = dropped_replies(&mid)
        .zip(dropped_replies(&after))
        .map(|(b, a)| delta(&b, &a));
    println!(
        "SPOOFING known-port: {} windows ({} names, {KNOWN_PORT_THREADS} at a time, {:.1} s), \
         {KNOWN_PORT_GUESSES} forged replies per window to rootward's port (random ID and case), \
         sent {sent}, accepted 0, every answer true; dropped by rootward, by reason: {}; \
         QNAME letters {min_bits}-{max_bits}: expected forged replies needed per name 2^16 x 2^{min_bits} / 2 = {:.2e} \
         (to 2^16 x 2^{max_bits} / 2 = {:.2e}); chance the {sent} guesses had: {:.1e} with the case to guess, \
         {:.1e} by the 0x20 fallback path (right ID in any case, then right ID again); \
         0x20 fallbacks forced by a guess with the right ID: {}; \
         overflow: {OVERFLOW_WINDOWS} windows of {OVERFLOW_GUESSES}, sent {overflow_sent}, rootward answered {:?} \
         (dropped by reason: {}; {gave_up} sockets given up after {MAX_MISMATCHED_REPLIES} mismatched replies), \
         then the true answer once the attack stopped",
        windows.load(Ordering::Relaxed),
        names.len(),
        known_took.as_secs_f64(),
        counted_known
            .as_ref()
            .map_or("not exported".into(), |d| format!("{d:?}")),
        needed(min_bits),
        needed(max_bits),
        sent as f64 / (2.0 * needed(min_bits)),
        p_fallback_path * windows.load(Ordering::Relaxed) as f64,
        fallbacks.len(),
        overflow_rcodes
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>(),
        counted_overflow
            .as_ref()
            .map_or("not exported".into(), |d| format!("{d:?}")),
    );
    assert!(
        sent >= 10_000,
        "only {sent} forged replies sent at the known port"
    );
    if let Some(d) = &counted_known {
        let examined = d.values().sum::<u64>();
        assert!(
            examined as f64 >= 0.9 * sent as f64,
            "rootward read only {examined} of {sent} forged replies: {d:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// (c) Mismatched replies are dropped, and counted

/// Forged replies per kind in [`mismatched_replies_are_dropped`]; each
/// name's socket sees fewer than 64 mismatched datagrams.
const PER_KIND: usize = 20;

/// How late the warm-up query of [`mismatched_replies`] is answered: its
/// RTT sets rootward's timeout for the server to about three times this.
const WARM_UP_DELAY: Duration = Duration::from_millis(200);

/// A kind of mismatched reply, and the names that carry it (`<kind>-...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Right everything, from another address (k.9, port 53).
    SourceAddress,
    /// Right everything, from the authority's address but another port.
    SourcePort,
    WrongId,
    /// Right ID; another name, type, class, a second question, or none.
    WrongQuestion,
    /// Right ID and question, one letter in the other case.
    WrongCase,
    /// Too short to be DNS, or QR=0.
    Unparsable,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::SourceAddress,
        Kind::SourcePort,
        Kind::WrongId,
        Kind::WrongQuestion,
        Kind::WrongCase,
        Kind::Unparsable,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::SourceAddress => "srcaddr",
            Kind::SourcePort => "srcport",
            Kind::WrongId => "wrongid",
            Kind::WrongQuestion => "question",
            Kind::WrongCase => "wrongcase",
            Kind::Unparsable => "garbage",
        }
    }

    fn of(name: &str) -> Option<Kind> {
        let lower = name.to_ascii_lowercase();
        Kind::ALL
            .into_iter()
            .find(|k| lower.starts_with(&format!("{}-", k.label())))
    }

    /// How rootward's counters must move: (reason, count).
    fn expected(self) -> Option<(&'static str, u64)> {
        match self {
            Kind::SourceAddress | Kind::SourcePort => None,
            Kind::WrongId => Some(("wrong_id", PER_KIND as u64)),
            Kind::WrongQuestion => Some(("wrong_question", PER_KIND as u64)),
            Kind::WrongCase => Some(("wrong_case", 1)),
            Kind::Unparsable => Some(("unparsable", PER_KIND as u64)),
        }
    }
}

/// The forged datagrams of `kind` for the query in `w` (all but the
/// wrong-source kinds go from the authority's own socket).
fn mismatched(kind: Kind, w: &Worker) -> Vec<Vec<u8>> {
    let q = &w.query;
    let id = q.metadata.id;
    let exact = Forgery::new(q, FORGED);
    match kind {
        Kind::SourceAddress | Kind::SourcePort => vec![exact.bytes().to_vec(); PER_KIND],
        Kind::WrongId => (1..=PER_KIND as u16)
            .map(|i| {
                let mut f = exact.clone();
                f.set_id(id ^ i);
                f.bytes().to_vec()
            })
            .collect(),
        Kind::WrongCase => {
            let mut f = exact.clone();
            f.flip_first_letter();
            vec![f.bytes().to_vec()]
        }
        Kind::WrongQuestion => {
            let name = q.queries[0].name().clone();
            let other = Name::from_ascii("elsewhere.drop.test.").unwrap();
            let variants: Vec<Vec<Query>> = vec![
                vec![Query::query(other.clone(), RecordType::A)],
                vec![Query::query(name.clone(), RecordType::AAAA)],
                vec![{
                    let mut x = Query::query(name.clone(), RecordType::A);
                    x.set_query_class(DNSClass::CH);
                    x
                }],
                vec![
                    Query::query(name.clone(), RecordType::A),
                    Query::query(other, RecordType::A),
                ],
                vec![],
            ];
            variants
                .iter()
                .cycle()
                .take(PER_KIND)
                .map(|qs| {
                    let mut m = Message::new(id, MessageType::Response, OpCode::Query);
                    m.metadata.authoritative = true;
                    m.queries = qs.clone();
                    m.answers
                        .push(Record::from_rdata(name.clone(), 300, RData::A(A(FORGED))));
                    m.to_vec().unwrap()
                })
                .collect()
        }
        Kind::Unparsable => {
            let short = vec![(id >> 8) as u8, id as u8, 0x84, 0, 0, 1, 0];
            let mut echo = q.to_vec().unwrap();
            echo[2] &= 0x7f; // QR=0: a query, not a response.
            (0..PER_KIND)
                .map(|i| {
                    if i % 2 == 0 {
                        short.clone()
                    } else {
                        echo.clone()
                    }
                })
                .collect()
        }
    }
}

#[test]
fn mismatched_replies_are_dropped() {
    mismatched_replies(4, false);
}

/// The same run, requiring the dropped-reply counters in /metrics and their
/// exact rise per kind.
#[test]
fn mismatched_replies_are_counted_in_metrics() {
    mismatched_replies(5, true);
}

/// Sends each [`Kind`] of mismatched reply ahead of the true answer, one
/// name per kind; asserts the true answer wins, nothing forged is cached,
/// a wrong-case reply turns 0x20 off for its question, and (where the
/// counters are exported, and always with `require_metrics`) that
/// rootward's dropped-reply counters rose by exactly what reached its
/// socket.
fn mismatched_replies(k: u8, require_metrics: bool) {
    let true_a = Ipv4Addr::new(192, 0, 2, 4);
    let tree = Tree::new(k, "drop.test.");
    let fallback_names = Arc::new(Mutex::new(Vec::<Received>::new()));
    let fb = fallback_names.clone();
    let leaf = SpoofAuthority::start(
        ip(k, 4),
        vec![leaf_zone(k, "drop.test.", true_a)],
        move |r, nth| {
            let Some(kind) = Kind::of(&r.name.to_ascii()) else {
                // The warm-up: answered late, so that rootward's timeout for
                // this server stays far above the time a worker needs to
                // send its datagrams and the true answer.
                return Plan::Work(Box::new(|w: &Worker| {
                    if w.sleep_until(w.received.at + WARM_UP_DELAY) {
                        w.answer();
                    }
                }));
            };
            if nth > 0 {
                // rootward asked again: after a wrong-case reply that is the
                // 0x20 fallback. Answer it truly.
                fb.lock().unwrap().push(r.clone());
                return Plan::Answer;
            }
            Plan::Work(Box::new(move |w: &Worker| {
                let to = w.received.peer;
                let packets = mismatched(kind, w);
                match kind {
                    Kind::SourceAddress => {
                        let s = UdpSocket::bind(SocketAddr::new(ip(k, 9), 53)).unwrap();
                        for p in &packets {
                            s.send_to(p, to).unwrap();
                        }
                    }
                    Kind::SourcePort => {
                        let s = UdpSocket::bind(SocketAddr::new(w.authority(), 0)).unwrap();
                        for p in &packets {
                            s.send_to(p, to).unwrap();
                        }
                    }
                    _ => {
                        for p in &packets {
                            w.send_to(p, to);
                        }
                    }
                }
                // The wrong-case reply makes rootward ask again at once;
                // everything else gets the true answer right behind the
                // forged datagrams (which loopback delivers first), well
                // within rootward's 50 ms minimum timeout.
                if kind != Kind::WrongCase {
                    w.answer();
                }
            }))
        },
    );
    let rw = tree.rootward(&[]);
    let c = Client::with_timeout(rw.addr, CLIENT_TIMEOUT);
    // Learn the delegation first, so each kind's name costs one query.
    assert_true_answer(&c.udp("warm.drop.test.", RecordType::A), true_a, "warm");

    let mut rows = Vec::new();
    let mut exported = true;
    for kind in Kind::ALL {
        let name = format!("{}-{}.drop.test.", kind.label(), random_letters(8));
        let before = scrape(tree.metrics());
        let r = c.udp(&name, RecordType::A);
        leaf.wait_for_workers(Duration::from_secs(5));
        let after = scrape(tree.metrics());
        if kind == Kind::WrongCase {
            // The forged wrong-case reply carries other data than the
            // server's answer to the fallback query: rootward takes
            // neither (SERVFAIL) rather than guess which one is true.
            assert_eq!(
                r.metadata.response_code,
                ResponseCode::ServFail,
                "{kind:?}: {}",
                summary(&r)
            );
            assert!(a_records(&r).is_empty(), "{kind:?}: {}", summary(&r));
        } else {
            assert_true_answer(&r, true_a, &format!("{kind:?}"));
        }
        let asked: Vec<Received> = leaf
            .received()
            .into_iter()
            .filter(|q| q.name.to_ascii().eq_ignore_ascii_case(&name))
            .collect();
        let expected_queries = if kind == Kind::WrongCase { 2 } else { 1 };
        assert_eq!(
            asked.len(),
            expected_queries,
            "{kind:?}: queries for {name}: {asked:?}"
        );
        let counted = dropped_replies(&before)
            .zip(dropped_replies(&after))
            .map(|(b, a)| delta(&b, &a));
        match &counted {
            Some(d) => {
                let want: HashMap<String, u64> =
                    ["wrong_id", "wrong_question", "wrong_case", "unparsable"]
                        .iter()
                        .map(|r| {
                            let n = match kind.expected() {
                                Some((reason, n)) if reason == *r => n,
                                _ => 0,
                            };
                            (r.to_string(), n)
                        })
                        .collect();
                assert_eq!(d, &want, "{kind:?}: dropped-reply counters moved by {d:?}");
            }
            None => exported = false,
        }
        rows.push(format!(
            "{}: sent {} -> {}",
            kind.label(),
            if kind == Kind::WrongCase { 1 } else { PER_KIND },
            match (&counted, kind.expected()) {
                (_, None) => "not delivered (connected socket), not counted".to_string(),
                (Some(d), Some((reason, _))) => format!("{reason} +{}", d[reason]),
                (None, Some((reason, _))) => format!("{reason} (not exported)"),
            }
        ));
        if kind == Kind::WrongCase {
            // The fallback asks again in the client's case: 0x20 is off
            // for the rest of that question.
            let fallback = &asked[1];
            assert_eq!(
                fallback.name.to_ascii(),
                name,
                "the 0x20 fallback query is in the client's case"
            );
        }
    }
    assert_cache_clean(&rw, &[], true_a);
    println!(
        "SPOOFING mismatched: {}; every answer true (the forged wrong-case reply: \
         SERVFAIL, its data differed from the fallback's), nothing forged cached; \
         a wrong-case reply made rootward ask again without 0x20 ({:?})",
        rows.join("; "),
        fallback_names
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.name.to_ascii())
            .collect::<Vec<_>>()
    );
    assert!(
        exported || !require_metrics,
        "the dropped-reply counters of src/upstream/socket.rs are not in /metrics"
    );
}

/// The scrape parser reads the counters whichever way they are exported:
/// one family with a `reason` label, or one metric per reason.
#[test]
fn dropped_reply_counters_are_read_from_either_layout() {
    let labelled = "# TYPE rootward_upstream_dropped_replies counter\n\
                    rootward_upstream_dropped_replies_total{reason=\"wrong_id\"} 20\n\
                    rootward_upstream_dropped_replies_total{reason=\"wrong-question\"} 3\n\
                    rootward_upstream_queries_total 99\n";
    let d = dropped_replies(labelled).expect("exported");
    assert_eq!(d["wrong_id"], 20.0);
    assert_eq!(d["wrong_question"], 3.0);
    assert_eq!(d["wrong_case"], 0.0);
    let named = "rootward_dropped_replies_wrong_case_total 1\n\
                 rootward_dropped_replies_unparsable_total 7\n";
    let d = dropped_replies(named).expect("exported");
    assert_eq!(d["wrong_case"], 1.0);
    assert_eq!(d["unparsable"], 7.0);
    assert_eq!(d["wrong_id"], 0.0);
    assert!(dropped_replies("rootward_upstream_queries_total 5\n").is_none());
}
