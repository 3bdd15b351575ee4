//! CPU per cache miss, deterministic enough to profile (issue 7).
//!
//! Resolves fresh names under a wildcard (`mN-variant.miss.bench.`, `* A` in
//! `miss.bench.`) one after another through `rootward::resolver::Resolver`
//! in a current-thread tokio runtime, after one warm-up question has cached
//! the delegation (root, `bench.`, `miss.bench.`). Each miss is then one
//! upstream query to a known zone, as in the cache-miss runs of
//! `benches/compare.rs` (DNSSEC off, QNAME minimisation and 0x20 at their
//! defaults). Two variants:
//!
//! - `sim`: the simulated network of `tests/support/simnet.rs` (no
//!   sockets): the resolver alone, plus the simulated authority answering
//!   in line (`SimNet::query`, subtract it to get the resolver's share);
//! - `socket`: rootward's real `SocketUpstream` against test authorities
//!   (`tests/support/authority_server.rs`, plain threads) on 127.69.0.0/16:
//!   adds query encoding, the per-query socket, the syscalls and reply
//!   parsing. The authority threads are not the main thread: profile with
//!   `--separate-threads=yes` and read thread 1.
//!
//! Knobs: `MISS_PATH_NAMES` (misses per variant, default 2,000),
//! `MISS_PATH_VARIANT` (`sim`, `socket` or `both`, the default),
//! `RUST_LOG` (default `warn`, as the server runs with `--log-level warn`).
//!
//! Prints, per variant, wall time and the main thread's CPU time
//! (CLOCK_THREAD_CPUTIME_ID: user and kernel) per miss; compare timings
//! only with the process pinned to one core (`taskset -c 1`), else the
//! cross-core wake-ups of the socket variant dominate them. For instruction
//! counts run it under callgrind with N and 2N names and take the
//! difference over N (removes start-up and warm-up); see
//! docs/benchmarks.md, "Cache misses: where the CPU goes".
#![allow(dead_code)]

#[path = "../tests/support/authority.rs"]
mod authority;
#[path = "../tests/support/authority_server.rs"]
mod authority_server;
#[path = "../tests/support/simnet.rs"]
mod simnet;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, RecordType};
use rootward::cache::{Cache, TtlPolicy};
use rootward::clock::SystemClock;
use rootward::config;
use rootward::resolver::{AddressPolicy, Resolver, ResolverConfig};
use rootward::root_hints::RootHints;
use rootward::upstream::{SocketUpstream, Upstream, UpstreamConfig};

use authority::Zone;
use authority_server::AuthorityServer;
use simnet::SimNet;

/// Misses per variant unless `MISS_PATH_NAMES` says otherwise.
const DEFAULT_NAMES: usize = 2_000;
/// At most this many misses per variant (bounds the run).
const MAX_NAMES: usize = 1_000_000;
/// Cache entries: far more than the run stores, so nothing is evicted
/// (compare.rs runs rootward with `--cache-size 1000000` too).
const CACHE_SIZE: u64 = 1_000_000;
/// What every wildcard name resolves to.
const WILDCARD_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// The test authorities: (last octet of 127.69.0.x, zones served).
const SERVERS: &[(u8, &[&str])] = &[
    (2, &[".", "root-servers.net."]),
    (10, &["bench."]),
    (21, &["miss.bench."]),
    (22, &["miss.bench."]),
];

/// Zone data by origin (the tree of benches/compare.rs, on 127.69.0.0/16).
const ZONES: &[(&str, &str)] = &[
    (
        ".",
        "@ 86400 SOA a.root-servers.net. nstld.root-servers.net. 2024010101 1800 900 604800 86400
@ 518400 NS a.root-servers.net.
a.root-servers.net. 518400 A 127.69.0.2
root-servers.net. 518400 NS a.root-servers.net.
bench. 172800 NS a.nic.bench.
a.nic.bench. 172800 A 127.69.0.10",
    ),
    (
        "root-servers.net.",
        "@ 3600000 SOA a.root-servers.net. nstld.root-servers.net. 1 14400 7200 1209600 3600000
@ 3600000 NS a.root-servers.net.
a 3600000 A 127.69.0.2",
    ),
    (
        "bench.",
        "@ 86400 SOA a.nic.bench. hostmaster.nic.bench. 1 1800 900 604800 86400
@ 172800 NS a.nic.bench.
a.nic 172800 A 127.69.0.10
miss 172800 NS ns1.miss
miss 172800 NS ns2.miss
ns1.miss 172800 A 127.69.0.21
ns2.miss 172800 A 127.69.0.22",
    ),
    (
        "miss.bench.",
        "@ 86400 SOA ns1 hostmaster 1 7200 900 1209600 86400
@ 86400 NS ns1
@ 86400 NS ns2
ns1 86400 A 127.69.0.21
ns2 86400 A 127.69.0.22
* 86400 A 198.51.100.7",
    ),
];

fn server_ip(octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 69, 0, octet))
}

fn zone(origin: &str) -> Zone {
    let (_, text) = ZONES
        .iter()
        .find(|(o, _)| *o == origin)
        .unwrap_or_else(|| panic!("no zone data for {origin}"));
    Zone::parse(origin, text)
}

fn zones(origins: &[&str]) -> Vec<Zone> {
    origins.iter().map(|o| zone(o)).collect()
}

fn hints() -> RootHints {
    RootHints::parse(
        ". 3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A 127.69.0.2\n",
        "miss_path",
    )
    .expect("root hints")
}

/// A resolver as `rootward` builds one from its defaults, with loopback
/// servers allowed and a cache that evicts nothing.
fn resolver<U: Upstream>(upstream: Arc<U>) -> Arc<Resolver<U>> {
    let ttl = TtlPolicy::new(
        config::DEFAULT_CACHE_MIN_TTL,
        config::DEFAULT_CACHE_MAX_TTL,
        config::DEFAULT_CACHE_MAX_NEGATIVE_TTL,
    );
    let cache = Arc::new(Cache::new(
        CACHE_SIZE,
        ttl,
        config::DEFAULT_SERVE_STALE_WINDOW,
    ));
    let policy = AddressPolicy {
        allow_loopback: true,
        ..AddressPolicy::default()
    };
    Arc::new(Resolver::new(
        cache,
        upstream,
        hints(),
        Arc::new(SystemClock),
        ResolverConfig::with_policy(policy),
    ))
}

/// What one variant measured.
struct Measured {
    names: usize,
    wall: Duration,
    cpu: Duration,
    upstream_queries: usize,
}

/// This thread's CPU time so far (user + kernel).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Warms the delegation, then resolves `names` fresh wildcard names one
/// after another; checks every answer. `queries` counts what the
/// authorities received so far.
fn run<U: Upstream>(
    label: &str,
    upstream: Arc<U>,
    names: usize,
    queries: impl Fn() -> usize,
) -> Measured {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let resolver = resolver(upstream);
    // Built before the clock starts: the names are the bench's work.
    let fresh: Vec<Name> = (0..names)
        .map(|i| Name::from_ascii(format!("m{i}-{label}.miss.bench.")).unwrap())
        .collect();
    rt.block_on(async {
        let warm = Name::from_ascii(format!("warm-{label}.miss.bench.")).unwrap();
        let res = resolver.resolve(&warm, RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NoError, "warm-up: {res:?}");
        let before = queries();
        let (wall0, cpu0) = (Instant::now(), thread_cpu());
        for name in &fresh {
            let res = resolver.resolve(name, RecordType::A).await;
            assert_eq!(res.rcode, ResponseCode::NoError, "{name}: {res:?}");
            assert!(
                matches!(res.answers.as_slice(), [r] if r.data == RData::A(A(WILDCARD_ADDR))),
                "{name}: {res:?}"
            );
        }
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
        Measured {
            names,
            wall,
            cpu,
            upstream_queries: queries() - before,
        }
    })
}

fn report(variant: &str, m: &Measured) {
    let per = |d: Duration| d.as_secs_f64() * 1e6 / m.names as f64;
    println!(
        "{variant:>6}: {} misses, {:.1} µs wall and {:.1} µs CPU (main thread) per miss, \
         {:.3} upstream queries per miss",
        m.names,
        per(m.wall),
        per(m.cpu),
        m.upstream_queries as f64 / m.names as f64
    );
}

fn sim(names: usize) -> Measured {
    let net = SimNet::new();
    for (octet, origins) in SERVERS {
        net.serve(&server_ip(*octet).to_string(), zones(origins));
    }
    let counter = net.clone();
    run("sim", net, names, move || counter.total())
}

fn socket(names: usize) -> Measured {
    let servers: Vec<AuthorityServer> = SERVERS
        .iter()
        .map(|(octet, origins)| AuthorityServer::start(server_ip(*octet), zones(origins)))
        .collect();
    let upstream = Arc::new(SocketUpstream::new(UpstreamConfig {
        use_0x20: true,
        source_v4: None,
        source_v6: None,
    }));
    // The authority threads stop when `servers` drops, at the end.
    run("socket", upstream, names, || {
        servers.iter().map(|s| s.total()).sum()
    })
}

fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let names = match std::env::var("MISS_PATH_NAMES") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_NAMES).contains(&n) => n,
            _ => panic!("MISS_PATH_NAMES must be 1..={MAX_NAMES}, got {v:?}"),
        },
        Err(_) => DEFAULT_NAMES,
    };
    let variant = std::env::var("MISS_PATH_VARIANT").unwrap_or_else(|_| "both".into());
    if !matches!(variant.as_str(), "sim" | "socket" | "both") {
        panic!("MISS_PATH_VARIANT must be sim, socket or both, got {variant:?}");
    }
    if variant != "socket" {
        report("sim", &sim(names));
    }
    if variant != "sim" {
        report("socket", &socket(names));
    }
}
