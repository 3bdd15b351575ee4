//! Micro-benchmark of the cached path: request bytes → checks → answer-cache
//! hit → encoded response, as the UDP loop runs it. No sockets, no runtime.
//!
//! `cargo bench --bench hot_path` prints nanoseconds per answered query;
//! with `HOT_PATH_BLOCKLIST=FILE` the same with that blocklist loaded (the
//! cached name is not on it: the cost of the walk over its labels).
//! A bounded loop: a fixed number of iterations, then it stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rootward::cache::{Cache, QuestionKey, TtlPolicy};
use rootward::clock::{Clock, SystemClock};
use rootward::config::Config;
use rootward::policy::{Policy, PolicyConfig};
use rootward::resolver::{AddressPolicy, Resolver, ResolverConfig};
use rootward::root_hints::RootHints;
use rootward::server::Handler;
use rootward::server::handler::{Handled, Origin};
use rootward::server::live::Live;
use rootward::server::response::Transport;
use rootward::upstream::{Upstream, UpstreamError, UpstreamQuery};

/// Iterations measured (after a warm-up of a tenth as many).
const ITERATIONS: u32 = 200_000;

/// An upstream that is never reached on the cached path.
struct Unreachable;

impl Upstream for Unreachable {
    async fn query(
        &self,
        _: std::net::SocketAddr,
        _: &UpstreamQuery,
        _: Duration,
    ) -> Result<Message, UpstreamError> {
        Err(UpstreamError::Timeout)
    }
}

fn main() {
    let name = Name::from_ascii("www.example.com.").unwrap();
    let cache = Arc::new(Cache::new(
        1000,
        TtlPolicy::new(
            Duration::ZERO,
            Duration::from_secs(86_400),
            Duration::from_secs(3_600),
        ),
        Duration::ZERO,
    ));
    let records: Vec<Record> = (1..=4)
        .map(|i| Record::from_rdata(name.clone(), 3600, RData::A(A([192, 0, 2, i].into()))))
        .collect();
    cache.store_positive(
        QuestionKey::new(&name, RecordType::A),
        records,
        SystemClock.now(),
    );
    let resolver = Arc::new(Resolver::new(
        cache,
        Arc::new(Unreachable),
        RootHints::builtin(),
        Arc::new(SystemClock),
        ResolverConfig {
            resolution_timeout: Duration::from_secs(4),
            ..ResolverConfig::with_policy(AddressPolicy::default())
        },
    ));
    // HOT_PATH_BLOCKLIST=FILE measures with that blocklist loaded (the
    // default: the default local zones only, as a server with no policy
    // configured runs).
    let mut live = Live::from_config(&Config::default());
    if let Ok(path) = std::env::var("HOT_PATH_BLOCKLIST") {
        let config = PolicyConfig {
            blocklist: vec![path.into()],
            ..PolicyConfig::default()
        };
        let started = Instant::now();
        let policy = Policy::load(&config).expect("HOT_PATH_BLOCKLIST loads");
        println!(
            "blocklist loaded: {} names in {:.2} s",
            policy.names(),
            started.elapsed().as_secs_f64()
        );
        live = live.with_policy(policy);
    }
    let live = live.shared();
    let handler = Handler::new(resolver, live, None);
    let origin = Origin {
        peer: "127.0.0.1:40000".parse().unwrap(),
        transport: Transport::Udp,
        received: tokio::time::Instant::now(),
    };
    let mut q = Message::new(0x1234, MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(name, RecordType::A));
    let bytes = q.to_vec().unwrap();

    let mut answered = 0u32;
    let mut run = |n: u32| {
        for _ in 0..n {
            if let Handled::Reply(r) = handler.handle_now(std::hint::black_box(&bytes), origin) {
                answered += u32::from(!r.is_empty());
            }
        }
    };
    run(ITERATIONS / 10);
    let started = Instant::now();
    run(ITERATIONS);
    let elapsed = started.elapsed();
    assert_eq!(
        answered,
        ITERATIONS + ITERATIONS / 10,
        "every query was a cache hit"
    );
    println!(
        "cached A query (4 records), check + lookup + encode: {:.0} ns/query over {ITERATIONS} queries",
        elapsed.as_nanos() as f64 / f64::from(ITERATIONS)
    );
}
