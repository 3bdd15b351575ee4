//! Bounded random input through every entry point that takes untrusted
//! bytes: a client's request (checks, cache lookup, encoding), an upstream
//! reply (scrub, classify, the walker acting on it), and the config file.
//! Nothing may panic; answers must be well-formed. Seeds are printed, so a
//! failure can be replayed with `ROOTWARD_SEED=...`.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use rootward::cache::{Cache, QuestionKey, TtlPolicy};
use rootward::clock::{Clock, SystemClock};
use rootward::config::Config;
use rootward::resolver::classify::classify;
use rootward::resolver::scrub::scrub;
use rootward::resolver::{AddressPolicy, Resolver, ResolverConfig};
use rootward::root_hints::RootHints;
use rootward::server::Handler;
use rootward::server::handler::{Handled, Origin};
use rootward::server::live::Live;
use rootward::server::response::Transport;
use rootward::upstream::{Upstream, UpstreamError, UpstreamQuery};

/// Inputs per entry point: enough to reach the odd corners, bounded so the
/// suite stays fast.
const CASES: usize = 20_000;

fn rng() -> StdRng {
    let seed = std::env::var("ROOTWARD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("ROOTWARD_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// A valid query to mutate.
fn query_bytes(edns: bool) -> Vec<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(n("www.example."), RecordType::A));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

/// Flips, truncates, extends or overwrites bytes of `base`.
fn mutate(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..rng.random_range(1..6) {
        match rng.random_range(0..5) {
            0 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            2 => b.truncate(rng.random_range(0..=b.len())),
            3 => b.extend((0..rng.random_range(1..40)).map(|_| rng.random::<u8>())),
            _ => {
                let len = rng.random_range(0..80);
                b = (0..len).map(|_| rng.random()).collect();
            }
        }
    }
    b
}

struct NoUpstream;

impl Upstream for NoUpstream {
    async fn query(
        &self,
        _: std::net::SocketAddr,
        _: &UpstreamQuery,
        _: Duration,
    ) -> Result<Message, UpstreamError> {
        Err(UpstreamError::Timeout)
    }
}

#[test]
fn random_requests_never_panic_and_every_answer_is_well_formed() {
    let mut rng = rng();
    let cache = Arc::new(Cache::new(
        1000,
        TtlPolicy::new(
            Duration::ZERO,
            Duration::from_secs(3600),
            Duration::from_secs(600),
        ),
        Duration::ZERO,
    ));
    let www = n("www.example.");
    let records: Vec<Record> = (1..=3)
        .map(|i| Record::from_rdata(www.clone(), 300, RData::A(A([192, 0, 2, i].into()))))
        .collect();
    cache.store_positive(
        QuestionKey::new(&www, RecordType::A),
        records,
        SystemClock.now(),
    );
    let resolver = Arc::new(Resolver::new(
        cache,
        Arc::new(NoUpstream),
        RootHints::builtin(),
        Arc::new(SystemClock),
        ResolverConfig::with_policy(AddressPolicy::default()),
    ));
    let handler = Handler::new(
        resolver,
        Live::from_config(&Config::default()).shared(),
        None,
    );
    let bases = [query_bytes(false), query_bytes(true)];
    let mut answered = 0;
    for i in 0..CASES {
        let input = mutate(&mut rng, &bases[i % 2]);
        let transport = if i % 3 == 0 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let origin = Origin {
            peer: "127.0.0.1:5353".parse().unwrap(),
            transport,
            received: tokio::time::Instant::now(),
        };
        match handler.handle_now(&input, origin) {
            Handled::Reply(bytes) => {
                answered += 1;
                let m = Message::from_vec(&bytes)
                    .unwrap_or_else(|e| panic!("unparsable answer {e} to {input:02x?}"));
                assert_eq!(m.metadata.message_type, MessageType::Response);
                assert_eq!(&bytes[..2], &input[..2], "the ID is echoed");
                if transport == Transport::Udp {
                    let limit = if m.edns.is_some() { 1232 } else { 512 };
                    assert!(bytes.len() <= limit, "{} bytes", bytes.len());
                }
            }
            // Misses would go upstream: their checks already passed.
            Handled::Miss(_) | Handled::Drop => {}
        }
    }
    assert!(
        answered > CASES / 10,
        "only {answered} answers: the mutations are too wild"
    );
}

/// A plausible reply from a server of `example.` to mutate.
fn reply_message(rng: &mut StdRng) -> Message {
    let mut m = Message::new(7, MessageType::Response, OpCode::Query);
    m.metadata.authoritative = rng.random_bool(0.5);
    m.metadata.response_code = *[
        ResponseCode::NoError,
        ResponseCode::NXDomain,
        ResponseCode::ServFail,
        ResponseCode::Refused,
    ]
    .get(rng.random_range(0..4))
    .unwrap_or(&ResponseCode::NoError);
    m.add_query(Query::query(n("www.example."), RecordType::A));
    let names = [
        "www.example.",
        "a.www.example.",
        "example.",
        "evil.",
        "x.example.",
        ".",
    ];
    let pick = |rng: &mut StdRng| n(names[rng.random_range(0..names.len())]);
    for _ in 0..rng.random_range(0..6) {
        let owner = pick(rng);
        let data = match rng.random_range(0..4) {
            0 => RData::A(A([192, 0, 2, rng.random()].into())),
            1 => RData::CNAME(CNAME(pick(rng))),
            2 => RData::NS(NS(pick(rng))),
            _ => RData::SOA(SOA::new(
                pick(rng),
                pick(rng),
                1,
                2,
                3,
                4,
                rng.random_range(0..100),
            )),
        };
        let record = Record::from_rdata(owner, rng.random_range(0..100_000), data);
        match rng.random_range(0..3) {
            0 => m.answers.push(record),
            1 => m.authorities.push(record),
            _ => m.additionals.push(record),
        }
    }
    m
}

#[test]
fn random_upstream_replies_are_scrubbed_and_classified_without_panic() {
    let mut rng = rng();
    let zone = n("example.");
    let qname = n("www.example.");
    for _ in 0..CASES {
        let mut m = reply_message(&mut rng);
        scrub(&mut m, &zone, &qname, RecordType::A);
        // Whatever survives is inside the zone asked.
        for r in m
            .answers
            .iter()
            .chain(m.authorities.iter())
            .chain(m.additionals.iter())
        {
            assert!(
                zone.zone_of(&r.name),
                "{} kept from a server of {zone}",
                r.name
            );
        }
        let _ = classify(&m, &zone, &qname, RecordType::A);
        // The same through the wire: mutated bytes either fail to parse or
        // go through scrubbing too.
        if let Ok(bytes) = m.to_vec() {
            let mutated = mutate(&mut rng, &bytes);
            if let Ok(mut parsed) = Message::from_vec(&mutated) {
                scrub(&mut parsed, &zone, &qname, RecordType::A);
                let _ = classify(&parsed, &zone, &qname, RecordType::A);
            }
        }
    }
}

#[test]
fn random_config_files_are_refused_on_one_line_or_accepted() {
    let mut rng = rng();
    let base = "listen = [\"127.0.0.1:53\"]\ncache-min-ttl = \"30s\"\nallow = [\"10.0.0.0/8\"]\nrate-limit = 100\nqname-minimisation = \"strict\"\n";
    for _ in 0..2_000 {
        let bytes = mutate(&mut rng, base.as_bytes());
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Config::from_toml(&text, std::path::Path::new("fuzz.toml")) {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "multi-line error: {msg}");
        }
    }
}
