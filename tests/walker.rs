//! The walker over a simulated DNS tree (no sockets): answers, rcodes, TTLs
//! and the traffic each server saw. Time is tokio's paused clock for
//! timeouts and a manual wall clock for TTLs.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rootward::cache::{Cache, TtlPolicy};
use rootward::clock::ManualClock;
use rootward::config::QnameMinimisation;
use rootward::resolver::STALE_CLIENT_TIMEOUT;
use rootward::resolver::limits::{MAX_NS_LOOKUPS_PER_CUT, MAX_UPSTREAM_QUERIES};
use rootward::resolver::resolution::STALE_ANSWER_TTL;
use rootward::resolver::{AddressPolicy, ExtendedError, Resolution, Resolver, ResolverConfig};
use rootward::root_hints::RootHints;

use support::authority::{Zone, record};
use support::authority_server::Behaviour;
use support::simnet::SimNet;

const ROOT: &str = "198.51.100.1";
const TLD_TEST: &str = "198.51.100.2";
const TLD_OTHER: &str = "198.51.100.3";
const NS1: &str = "198.51.100.10";
const NS2: &str = "198.51.100.11";
const PROVIDER: &str = "198.51.100.20";
const START: u64 = 1_700_000_000;

/// A zone from a record list; each line is one record with an explicit
/// owner, so indentation carries no meaning here.
fn zone(origin: &str, text: &str) -> Zone {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    Zone::parse(origin, &lines.join("\n"))
}

fn root_zone(extra: &str) -> Zone {
    zone(
        ".",
        &format!(
            ". 86400 SOA a.root.sim. admin.sim. 1 1800 900 604800 86400
             . 518400 NS a.root.sim.
             a.root.sim. 518400 A {ROOT}
             test. 172800 NS ns.test.
             ns.test. 172800 A {TLD_TEST}
             other. 172800 NS ns.other.
             ns.other. 172800 A {TLD_OTHER}
             {extra}"
        ),
    )
}

fn test_zone(extra: &str) -> Zone {
    zone(
        "test.",
        &format!(
            "@ SOA ns.test. admin.test. 1 3600 900 604800 300
             @ NS ns.test.
             ns.test. A {TLD_TEST}
             example NS ns1.example
             example NS ns2.example
             ns1.example A {NS1}
             ns2.example A {NS2}
             glueless NS ns.provider.other.
             {extra}"
        ),
    )
}

fn example_zone() -> Zone {
    zone(
        "example.test.",
        "@ 3600 SOA ns1 admin 1 3600 900 604800 120
         @ NS ns1
         @ NS ns2
         ns1 A 198.51.100.10
         ns2 A 198.51.100.11
         www 300 A 192.0.2.1
         www 300 AAAA 2001:db8::1
         www 300 MX 10 mail
         www 300 TXT \"hello\"
         alias 300 CNAME www.glueless.test.
         short 5 A 192.0.2.5
         long 999999 A 192.0.2.6
         loop-a CNAME loop-b
         loop-b CNAME loop-a",
    )
}

/// The standard tree: root, test., other., example.test. (two servers),
/// and glueless.test. served by ns.provider.other. (no glue in test.).
fn tree() -> Arc<SimNet> {
    tree_with(root_zone(""), test_zone(""))
}

fn tree_with(root: Zone, test: Zone) -> Arc<SimNet> {
    let net = SimNet::new();
    net.serve(ROOT, vec![root]);
    net.serve(TLD_TEST, vec![test]);
    net.serve(
        TLD_OTHER,
        vec![zone(
            "other.",
            &format!(
                "@ SOA ns.other. admin.other. 1 3600 900 604800 300
                 @ NS ns.other.
                 ns.other. A {TLD_OTHER}
                 provider NS ns.provider
                 ns.provider A {PROVIDER}"
            ),
        )],
    );
    net.serve(NS1, vec![example_zone()]);
    net.serve(NS2, vec![example_zone()]);
    net.serve(
        PROVIDER,
        vec![
            zone(
                "provider.other.",
                &format!("@ SOA ns admin 1 3600 900 604800 300\n@ NS ns\nns A {PROVIDER}"),
            ),
            zone(
                "glueless.test.",
                "@ SOA ns.provider.other. admin 1 3600 900 604800 300
                 @ NS ns.provider.other.
                 www 300 A 192.0.2.30",
            ),
        ],
    );
    net
}

struct Harness {
    net: Arc<SimNet>,
    clock: ManualClock,
    resolver: Arc<Resolver<SimNet>>,
}

impl Harness {
    fn new(net: Arc<SimNet>) -> Self {
        Self::with_config(
            net,
            default_ttl(),
            ResolverConfig::with_policy(AddressPolicy::default()),
        )
    }

    fn with(net: Arc<SimNet>, ttl: TtlPolicy, policy: AddressPolicy) -> Self {
        Self::with_config(net, ttl, ResolverConfig::with_policy(policy))
    }

    fn with_config(net: Arc<SimNet>, ttl: TtlPolicy, config: ResolverConfig) -> Self {
        // RUST_LOG=rootward=debug shows the walk of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let clock = ManualClock::new(START);
        let hints = RootHints::parse(
            &format!(". 3600000 NS a.root.sim.\na.root.sim. 3600000 A {ROOT}\n"),
            "sim",
        )
        .unwrap();
        let resolver = Arc::new(Resolver::new(
            Arc::new(Cache::new(10_000, ttl, Duration::from_secs(86_400))),
            net.clone(),
            hints,
            Arc::new(clock.clone()),
            ResolverConfig {
                resolution_timeout: Duration::from_secs(4),
                ..config
            },
        ));
        Self {
            net,
            clock,
            resolver,
        }
    }

    async fn ask(&self, name: &str, qtype: RecordType) -> Resolution {
        self.resolver
            .resolve(&Name::from_ascii(name).unwrap(), qtype)
            .await
    }
}

fn data(res: &Resolution) -> Vec<String> {
    res.answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn walks_root_tld_leaf_and_answers_plain_types() {
    let h = Harness::new(tree());
    let res = h.ask("www.example.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(data(&res), ["www.example.test. A 192.0.2.1"]);
    assert_eq!(res.answers[0].ttl, 300);
    let root = h.net.server(ROOT);
    assert_eq!(
        root.count(".", RecordType::NS),
        1,
        "root primed once (RFC 8109)"
    );
    // QNAME minimisation (relaxed, the default): each level sees only the
    // labels it needs.
    assert_eq!(root.count("test.", RecordType::A), 1);
    assert_eq!(root.count("www.example.test.", RecordType::A), 0);
    let tld = h.net.server(TLD_TEST);
    assert_eq!(tld.count("example.test.", RecordType::A), 1);
    assert_eq!(tld.count("www.example.test.", RecordType::A), 0);
    let leaf = h.net.server(NS1).total() + h.net.server(NS2).total();
    assert_eq!(leaf, 1, "one of the two leaf servers asked once");

    for (qtype, want) in [
        (RecordType::AAAA, "www.example.test. AAAA 2001:db8::1"),
        (RecordType::MX, "www.example.test. MX 10 mail.example.test."),
        (RecordType::TXT, "www.example.test. TXT hello"),
    ] {
        let res = h.ask("www.example.test.", qtype).await;
        assert_eq!(data(&res), [want]);
    }
    assert_eq!(
        root.total(),
        2,
        "the cached zone cut keeps later questions away from the root"
    );
    assert_eq!(h.net.server(TLD_TEST).total(), 1);
}

#[tokio::test(start_paused = true)]
async fn cross_zone_cname_chain_comes_back_whole() {
    let h = Harness::new(tree());
    let res = h.ask("alias.example.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(
        data(&res),
        [
            "alias.example.test. CNAME www.glueless.test.",
            "www.glueless.test. A 192.0.2.30"
        ]
    );
    // The chain's target is cached under its own name too.
    let before = h.net.total();
    let res = h.ask("www.glueless.test.", RecordType::A).await;
    assert_eq!(data(&res), ["www.glueless.test. A 192.0.2.30"]);
    assert_eq!(
        h.net.total(),
        before,
        "the CNAME target was not fetched twice"
    );
    // The chain is cached as one answer: asking again sends nothing.
    let before = h.net.total();
    assert_eq!(
        h.ask("alias.example.test.", RecordType::A)
            .await
            .answers
            .len(),
        2
    );
    assert_eq!(h.net.total(), before);
}

#[tokio::test(start_paused = true)]
async fn glueless_delegation_resolves_the_ns_name_first() {
    let h = Harness::new(tree());
    let res = h.ask("www.glueless.test.", RecordType::A).await;
    assert_eq!(data(&res), ["www.glueless.test. A 192.0.2.30"]);
    let provider = h.net.server(PROVIDER);
    assert_eq!(provider.count("ns.provider.other.", RecordType::A), 1);
    assert_eq!(provider.count("www.glueless.test.", RecordType::A), 1);
}

#[tokio::test(start_paused = true)]
async fn nxdomain_and_nodata_carry_the_soa_and_are_cached_negatively() {
    let h = Harness::new(tree());
    let res = h.ask("nope.example.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.answers.is_empty());
    assert_eq!(res.authorities.len(), 1);
    assert_eq!(res.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(
        res.authorities[0].ttl, 120,
        "min(SOA TTL 3600, MINIMUM 120)"
    );

    let res = h.ask("www.example.test.", RecordType::SRV).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert!(res.answers.is_empty());
    assert_eq!(res.authorities[0].record_type(), RecordType::SOA);

    let before = h.net.total();
    h.clock.advance(100);
    let res = h.ask("nope.example.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(res.authorities[0].ttl, 20, "the negative TTL counts down");
    assert_eq!(h.net.total(), before, "answered from the negative cache");
    h.clock.advance(21);
    h.ask("nope.example.test.", RecordType::A).await;
    assert_eq!(h.net.total(), before + 1, "expired: asked again");
}

#[tokio::test(start_paused = true)]
async fn dead_server_next_to_a_live_one() {
    let net = tree();
    net.server(NS1).set_behaviour(Behaviour::Dead);
    let h = Harness::new(net);
    for name in [
        "www.example.test.",
        "short.example.test.",
        "long.example.test.",
    ] {
        let started = tokio::time::Instant::now();
        let res = h.ask(name, RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NoError, "{name}");
        assert_eq!(res.answers.len(), 1);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name}: one timeout at most"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn lame_or_refusing_server_is_skipped() {
    for behaviour in [Behaviour::Lame, Behaviour::Refused] {
        let net = tree();
        net.server(NS2).set_behaviour(behaviour.clone());
        let h = Harness::new(net);
        for name in [
            "www.example.test.",
            "short.example.test.",
            "long.example.test.",
        ] {
            let res = h.ask(name, RecordType::A).await;
            assert_eq!(res.rcode, ResponseCode::NoError, "{behaviour:?} {name}");
            assert_eq!(res.answers.len(), 1);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn all_servers_dead_is_servfail_within_the_time_bound() {
    let net = tree();
    net.server(NS1).set_behaviour(Behaviour::Dead);
    net.server(NS2).set_behaviour(Behaviour::Dead);
    let h = Harness::new(net);
    let started = tokio::time::Instant::now();
    let res = h.ask("www.example.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(started.elapsed() <= Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn forged_out_of_bailiwick_records_never_reach_the_cache() {
    let root = root_zone("");
    let test = test_zone(
        "evil NS ns.evil
         ns.evil A 198.51.100.40
         victim NS ns.victim
         ns.victim A 198.51.100.41",
    );
    let net = tree_with(root, test);
    let evil = net.serve(
        "198.51.100.40",
        vec![zone(
            "evil.test.",
            "@ SOA ns admin 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.40\nwww A 192.0.2.66",
        )],
    );
    evil.set_behaviour(Behaviour::Forge(vec![
        record("www.victim.test. 86400 A 6.6.6.6"),
        record("victim.test. 86400 NS ns.evil.test."),
        record("ns.victim.test. 86400 A 6.6.6.6"),
    ]));
    let victim = net.serve(
        "198.51.100.41",
        vec![zone(
            "victim.test.",
            "@ SOA ns admin 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.41\nwww A 192.0.2.99",
        )],
    );
    let h = Harness::new(net);
    let res = h.ask("www.evil.test.", RecordType::A).await;
    assert_eq!(
        data(&res),
        ["www.evil.test. A 192.0.2.66"],
        "the forged record is not passed on"
    );
    let res = h.ask("www.victim.test.", RecordType::A).await;
    assert_eq!(data(&res), ["www.victim.test. A 192.0.2.99"]);
    assert_eq!(
        victim.count("www.victim.test.", RecordType::A),
        1,
        "the true authority was asked"
    );
}

#[tokio::test(start_paused = true)]
async fn cname_loop_is_servfail() {
    let h = Harness::new(tree());
    let res = h.ask("loop-a.example.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(h.net.total() <= MAX_UPSTREAM_QUERIES);
}

#[tokio::test(start_paused = true)]
async fn delegation_loop_is_servfail_and_bounded() {
    let test = test_zone(
        "loop1 NS ns.loop2
         loop2 NS ns.loop1",
    );
    let h = Harness::new(tree_with(root_zone(""), test));
    let started = tokio::time::Instant::now();
    let res = h.ask("www.loop1.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no timeouts needed to see the loop"
    );
    assert!(h.net.total() <= MAX_UPSTREAM_QUERIES);
}

#[tokio::test(start_paused = true)]
async fn many_glueless_ns_names_are_resolved_only_up_to_the_bound() {
    // NXNSAttack shape: 20 NS names in a zone that answers NXDOMAIN for all.
    let ns: String = (0..20)
        .map(|i| format!("fan NS n{i}.nx.other.\n"))
        .collect();
    let h = Harness::new(tree_with(root_zone(""), test_zone(&ns)));
    let res = h.ask("www.fan.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    let lookups: usize = (0..100)
        .map(|i| h.net.count(&format!("n{i}.nx.other."), RecordType::A))
        .filter(|&c| c > 0)
        .count();
    assert!(
        lookups <= MAX_NS_LOOKUPS_PER_CUT,
        "{lookups} NS names resolved"
    );
    assert!(h.net.total() <= MAX_UPSTREAM_QUERIES);
}

#[tokio::test(start_paused = true)]
async fn ttl_counts_down_with_floor_and_cap() {
    let policy = TtlPolicy::new(
        Duration::from_secs(30),
        Duration::from_secs(3600),
        Duration::from_secs(600),
    );
    let h = Harness::with(tree(), policy, AddressPolicy::default());
    assert_eq!(
        h.ask("short.example.test.", RecordType::A).await.answers[0].ttl,
        30,
        "floor"
    );
    assert_eq!(
        h.ask("long.example.test.", RecordType::A).await.answers[0].ttl,
        3600,
        "cap"
    );
    assert_eq!(
        h.ask("www.example.test.", RecordType::A).await.answers[0].ttl,
        300
    );
    let before = h.net.total();
    h.clock.advance(10);
    assert_eq!(
        h.ask("www.example.test.", RecordType::A).await.answers[0].ttl,
        290
    );
    assert_eq!(
        h.ask("short.example.test.", RecordType::A).await.answers[0].ttl,
        20
    );
    assert_eq!(h.net.total(), before);
    h.clock.advance(21);
    assert_eq!(
        h.ask("short.example.test.", RecordType::A).await.answers[0].ttl,
        30,
        "refetched"
    );
    assert_eq!(h.net.total(), before + 1);
}

#[tokio::test(start_paused = true)]
async fn identical_concurrent_questions_share_one_resolution() {
    let net = tree();
    net.server(NS1)
        .set_behaviour(Behaviour::Delay(Duration::from_millis(200)));
    net.server(NS2)
        .set_behaviour(Behaviour::Delay(Duration::from_millis(200)));
    let h = Arc::new(Harness::new(net));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.ask("www.example.test.", RecordType::A).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(data(&t.await.unwrap()), ["www.example.test. A 192.0.2.1"]);
    }
    let leaf = h.net.server(NS1).total() + h.net.server(NS2).total();
    assert_eq!(leaf, 1, "ten clients, one upstream query");
}

#[tokio::test(start_paused = true)]
async fn referral_to_loopback_is_lame_unless_allowed() {
    let test = test_zone("local NS ns.local\nns.local A 127.0.0.1");
    let local = || {
        zone(
            "local.test.",
            "@ SOA ns admin 1 3600 900 604800 300\n@ NS ns\nns A 127.0.0.1\nwww A 192.0.2.77",
        )
    };
    let net = tree_with(root_zone(""), test.clone());
    let lo = net.serve("127.0.0.1", vec![local()]);
    let h = Harness::new(net);
    assert_eq!(
        h.ask("www.local.test.", RecordType::A).await.rcode,
        ResponseCode::ServFail
    );
    assert_eq!(lo.total(), 0, "nothing was sent to 127.0.0.1");

    let net = tree_with(root_zone(""), test);
    net.serve("127.0.0.1", vec![local()]);
    let allow = AddressPolicy {
        allow_loopback: true,
        ..Default::default()
    };
    let h = Harness::with(
        net,
        TtlPolicy::new(
            Duration::ZERO,
            Duration::from_secs(3600),
            Duration::from_secs(60),
        ),
        allow,
    );
    assert_eq!(
        data(&h.ask("www.local.test.", RecordType::A).await),
        ["www.local.test. A 192.0.2.77"]
    );
}

#[tokio::test(start_paused = true)]
async fn ipv6_only_glue_is_used_and_no_ipv4_is_honoured() {
    let test = test_zone("six NS ns.six\nns.six AAAA 2001:db8::53");
    let net = tree_with(root_zone(""), test);
    let six = net.serve(
        "2001:db8::53",
        vec![zone(
            "six.test.",
            "@ SOA ns admin 1 3600 900 604800 300\n@ NS ns\nns AAAA 2001:db8::53\nwww A 192.0.2.6",
        )],
    );
    let h = Harness::new(net);
    assert_eq!(
        data(&h.ask("www.six.test.", RecordType::A).await),
        ["www.six.test. A 192.0.2.6"]
    );
    assert_eq!(six.total(), 1);
}

#[test]
fn sim_records_are_what_the_fixture_says() {
    // Guards the fixture itself: a typo here would make every test above vacuous.
    let z = example_zone();
    assert!(z.records().iter().any(
        |r: &Record| matches!(&r.data, RData::A(a) if a.0 == std::net::Ipv4Addr::new(192, 0, 2, 1))
    ));
}

#[tokio::test(start_paused = true)]
async fn ds_is_asked_of_the_parent_side_of_the_cut() {
    let h = Harness::new(tree());
    // Learn the example.test. cut first, so the child is the closest cut.
    h.ask("www.example.test.", RecordType::A).await;
    let res = h.ask("example.test.", RecordType::DS).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert!(res.answers.is_empty());
    assert_eq!(
        res.authorities[0].name,
        Name::from_ascii("test.").unwrap(),
        "the parent's SOA"
    );
    assert_eq!(
        h.net
            .server(TLD_TEST)
            .count("example.test.", RecordType::DS),
        1
    );
    let leaf = h.net.server(NS1).count("example.test.", RecordType::DS)
        + h.net.server(NS2).count("example.test.", RecordType::DS);
    assert_eq!(leaf, 0);
}

#[tokio::test(start_paused = true)]
async fn priming_reply_without_addresses_falls_back_to_the_hints() {
    // A root that names its servers but sends no addresses with its NS set.
    let root = zone(
        ".",
        "@ 86400 SOA a.root.sim. admin.sim. 1 1800 900 604800 86400
         @ 518400 NS a.root.elsewhere.
         test. 172800 NS ns.test.
         ns.test. 172800 A 198.51.100.2",
    );
    let h = Harness::new(tree_with(root, test_zone("")));
    let res = h.ask("www.example.test.", RecordType::A).await;
    assert_eq!(data(&res), ["www.example.test. A 192.0.2.1"]);
    assert_eq!(h.net.server(ROOT).count(".", RecordType::NS), 1);
}

#[tokio::test(start_paused = true)]
async fn a_family_without_a_route_is_skipped_after_one_try() {
    // Four IPv6-only servers and one IPv4 server for the same zone.
    let mut extra = String::new();
    for i in 1..=4 {
        extra.push_str(&format!(
            "dual NS v6-{i}.dual\nv6-{i}.dual AAAA 2001:db8::{i}\n"
        ));
    }
    extra.push_str("dual NS v4.dual\nv4.dual A 198.51.100.60\n");
    let net = tree_with(root_zone(""), test_zone(&extra));
    let dual = || {
        zone(
            "dual.test.",
            "@ SOA v4 admin 1 3600 900 604800 300\n@ NS v4\nv4 A 198.51.100.60\nwww A 192.0.2.61",
        )
    };
    net.serve("198.51.100.60", vec![dual()]);
    for i in 1..=4 {
        net.serve(&format!("2001:db8::{i}"), vec![dual()]);
    }
    net.set_no_ipv6_route(true);
    let h = Harness::new(net);
    let started = tokio::time::Instant::now();
    assert_eq!(
        data(&h.ask("www.dual.test.", RecordType::A).await),
        ["www.dual.test. A 192.0.2.61"]
    );
    assert!(
        h.net.unroutable() <= 1,
        "{} tries without a route",
        h.net.unroutable()
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "no timeout was waited for"
    );
}

#[tokio::test(start_paused = true)]
async fn serve_stale_when_every_server_of_the_zone_fails() {
    let h = Harness::new(tree());
    assert_eq!(
        h.ask("www.example.test.", RecordType::A).await.answers[0].ttl,
        300
    );
    h.clock.advance(301);
    h.net.server(NS1).set_behaviour(Behaviour::Dead);
    h.net.server(NS2).set_behaviour(Behaviour::Dead);
    let started = tokio::time::Instant::now();
    let res = h.ask("www.example.test.", RecordType::A).await;
    // RFC 8767 §5: stale data at hand, the client waits at most 1.8 s.
    assert!(
        started.elapsed() <= STALE_CLIENT_TIMEOUT + Duration::from_millis(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(data(&res), ["www.example.test. A 192.0.2.1"]);
    assert_eq!(res.answers[0].ttl, STALE_ANSWER_TTL);
    assert_eq!(res.ede, Some(ExtendedError::STALE_ANSWER));
    // The walk went on in the background and failed; meanwhile more stale.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let res = h.ask("www.example.test.", RecordType::A).await;
    assert_eq!(
        (res.answers[0].ttl, res.ede),
        (STALE_ANSWER_TTL, Some(ExtendedError::STALE_ANSWER))
    );
    // The servers come back: once the failure has aged out, fresh data.
    h.net.server(NS1).set_behaviour(Behaviour::Normal);
    h.net.server(NS2).set_behaviour(Behaviour::Normal);
    h.clock.advance(6);
    tokio::time::sleep(Duration::from_secs(120)).await; // let the backoffs expire
    let res = h.ask("www.example.test.", RecordType::A).await;
    assert_eq!((res.answers[0].ttl, res.ede), (300, None));
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_remembered_briefly_and_not_turned_into_a_query_flood() {
    let net = tree();
    net.server(NS1).set_behaviour(Behaviour::Dead);
    net.server(NS2).set_behaviour(Behaviour::Dead);
    let h = Harness::new(net);
    let res = h.ask("www.example.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
    assert_eq!(res.ede, Some(ExtendedError::NO_REACHABLE_AUTHORITY));
    let sent = h.net.total();
    for _ in 0..20 {
        let res = h.ask("www.example.test.", RecordType::A).await;
        assert_eq!(res.ede, Some(ExtendedError::CACHED_ERROR));
    }
    assert_eq!(
        h.net.total(),
        sent,
        "20 retries within the failure TTL send nothing"
    );
    h.clock.advance(6);
    assert_eq!(
        h.ask("www.example.test.", RecordType::A).await.rcode,
        ResponseCode::ServFail
    );
    assert!(
        h.net.total() > sent,
        "after the failure TTL the zone is tried again"
    );
}

#[tokio::test(start_paused = true)]
async fn prefetch_refreshes_an_entry_before_it_expires() {
    let h = Harness::new(tree());
    let name = Name::from_ascii("www.example.test.").unwrap();
    h.ask("www.example.test.", RecordType::A).await;
    let leaf = || h.net.server(NS1).total() + h.net.server(NS2).total();
    let before = leaf();
    h.clock.advance(200);
    assert!(
        !h.resolver.lookup(&name, RecordType::A).unwrap().refresh_due,
        "100 of 300 s left"
    );
    h.clock.advance(75);
    let hit = h.resolver.lookup(&name, RecordType::A).unwrap();
    assert!(hit.refresh_due, "25 of 300 s left: in the last tenth");
    assert_eq!(hit.resolution.answers[0].ttl, 25);
    h.resolver.refresh(&name, RecordType::A).await;
    assert_eq!(leaf(), before + 1, "one upstream query refreshed it");
    // Past the original expiry the client still never misses.
    h.clock.advance(30);
    let hit = h
        .resolver
        .lookup(&name, RecordType::A)
        .expect("still cached");
    assert_eq!(hit.resolution.answers[0].ttl, 270);
    assert!(!hit.refresh_due);
}

fn with_mode(net: Arc<SimNet>, mode: QnameMinimisation) -> Harness {
    let config = ResolverConfig {
        qname_minimisation: mode,
        ..ResolverConfig::with_policy(AddressPolicy::default())
    };
    Harness::with_config(net, default_ttl(), config)
}

/// The command line's TTL rules: no floor, a day's cap, an hour for
/// negative answers.
fn default_ttl() -> TtlPolicy {
    TtlPolicy::new(
        Duration::ZERO,
        Duration::from_secs(86_400),
        Duration::from_secs(3_600),
    )
}

#[tokio::test(start_paused = true)]
async fn qname_minimisation_off_sends_the_full_name_everywhere() {
    let h = with_mode(tree(), QnameMinimisation::Off);
    assert_eq!(
        data(&h.ask("www.example.test.", RecordType::A).await),
        ["www.example.test. A 192.0.2.1"]
    );
    assert_eq!(
        h.net.server(ROOT).count("www.example.test.", RecordType::A),
        1
    );
    assert_eq!(h.net.server(ROOT).count("test.", RecordType::A), 0);
    assert_eq!(
        h.net
            .server(TLD_TEST)
            .count("www.example.test.", RecordType::A),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn minimisation_walks_empty_non_terminals_and_survives_broken_nxdomain() {
    // deep.example.test.: a.b.c.deep is data; b.c.deep and c.deep are empty
    // non-terminals inside the zone.
    let deep = || {
        zone(
            "example.test.",
            "@ 3600 SOA ns1 admin 1 3600 900 604800 120\n@ NS ns1\nns1 A 198.51.100.10\na.b.c.deep 300 A 192.0.2.44",
        )
    };
    let net = tree();
    net.serve(NS1, vec![deep()]);
    net.serve(NS2, vec![deep()]);
    let h = Harness::new(net.clone());
    assert_eq!(
        data(&h.ask("a.b.c.deep.example.test.", RecordType::A).await),
        ["a.b.c.deep.example.test. A 192.0.2.44"]
    );
    let leaf = |n: &str| {
        h.net.server(NS1).count(n, RecordType::A) + h.net.server(NS2).count(n, RecordType::A)
    };
    assert_eq!(leaf("deep.example.test."), 1, "one label at a time");
    assert_eq!(leaf("c.deep.example.test."), 1);
    assert_eq!(leaf("b.c.deep.example.test."), 1);
    assert_eq!(leaf("a.b.c.deep.example.test."), 1);
    // What minimisation learnt serves clients: the NODATA for an empty
    // non-terminal is answered from the cache.
    let sent = h.net.total();
    let res = h.ask("c.deep.example.test.", RecordType::A).await;
    assert_eq!((res.rcode, res.answers.len()), (ResponseCode::NoError, 0));
    assert_eq!(h.net.total(), sent);

    // A broken authority answering NXDOMAIN for empty non-terminals: relaxed
    // mode asks the full name and gets the data; the NXDOMAIN poisons nothing.
    let net = tree();
    for ns in [NS1, NS2] {
        net.serve(ns, vec![deep()])
            .set_behaviour(Behaviour::NxdomainForNoData);
    }
    let h = Harness::new(net.clone());
    assert_eq!(
        data(&h.ask("a.b.c.deep.example.test.", RecordType::A).await),
        ["a.b.c.deep.example.test. A 192.0.2.44"]
    );
    assert_eq!(
        data(&h.ask("a.b.c.deep.example.test.", RecordType::A).await).len(),
        1
    );
    // Strict mode believes the NXDOMAIN (RFC 8020).
    let h = with_mode(net, QnameMinimisation::Strict);
    assert_eq!(
        h.ask("a.b.c.deep.example.test.", RecordType::A).await.rcode,
        ResponseCode::NXDomain
    );
}

#[tokio::test(start_paused = true)]
async fn after_warm_up_the_fast_server_gets_the_queries_and_a_dead_one_costs_one_timeout() {
    let net = tree();
    net.server(NS1).set_behaviour(Behaviour::Dead);
    net.server(NS2)
        .set_behaviour(Behaviour::Delay(Duration::from_millis(20)));
    let h = Harness::new(net);
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let dead_before = h.net.server(NS1).total();
        let started = tokio::time::Instant::now();
        let res = h
            .ask(&format!("host{i}.example.test."), RecordType::A)
            .await;
        assert_eq!(res.rcode, ResponseCode::NXDomain, "host{i}");
        slowest = slowest.max(started.elapsed());
        assert!(
            h.net.server(NS1).total() - dead_before <= 1,
            "host{i}: more than one timeout"
        );
        // Spread the questions over time so backoffs expire and exploration
        // gets its chances.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = h.net.server(NS1).total();
    let live = h.net.server(NS2).total();
    assert!(
        dead * 20 <= dead + live,
        "dead server got {dead} of {} queries",
        dead + live
    );
    assert!(dead >= 1, "the dead server was tried at least once");
    // One timeout at most, and never longer than the upstream timeout cap.
    assert!(
        slowest < Duration::from_millis(1_100),
        "a client waited {slowest:?}"
    );
    assert!(
        h.resolver
            .infra()
            .srtt("198.51.100.11".parse().unwrap())
            .unwrap()
            < Duration::from_millis(50)
    );
}

#[tokio::test(start_paused = true)]
async fn a_far_away_server_slower_than_the_initial_rto_is_retried_and_answers() {
    let net = tree();
    // Both servers of the zone answer after 600 ms: longer than the RTO an
    // unknown server gets, shorter than the upstream timeout cap.
    for ns in [NS1, NS2] {
        net.server(ns)
            .set_behaviour(Behaviour::Delay(Duration::from_millis(600)));
    }
    let h = Harness::new(net);
    let res = h.ask("www.example.test.", RecordType::A).await;
    assert_eq!(data(&res), ["www.example.test. A 192.0.2.1"]);
    // Once measured, the next question waits for it without a timeout.
    let sent = h.net.server(NS1).total() + h.net.server(NS2).total();
    h.ask("short.example.test.", RecordType::A).await;
    assert_eq!(
        h.net.server(NS1).total() + h.net.server(NS2).total(),
        sent + 1
    );
}

#[tokio::test(start_paused = true)]
async fn dname_is_followed_cached_and_reused_without_asking() {
    // old.example.test. DNAME glueless.test.: everything below moves there.
    let with_dname = || {
        let mut z = example_zone();
        z.add(
            rootward::resolver::dname::record(
                Name::from_ascii("old.example.test.").unwrap(),
                600,
                &Name::from_ascii("glueless.test.").unwrap(),
            )
            .unwrap(),
        );
        z
    };
    let net = tree();
    net.serve(NS1, vec![with_dname()]);
    net.serve(NS2, vec![with_dname()]);
    let h = Harness::new(net);
    let res = h.ask("www.old.example.test.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    let types: Vec<RecordType> = res.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [RecordType::DNAME, RecordType::CNAME, RecordType::A]);
    assert_eq!(
        data(&res)[1],
        "www.old.example.test. CNAME www.glueless.test."
    );
    assert_eq!(data(&res)[2], "www.glueless.test. A 192.0.2.30");
    // Another name below the DNAME: synthesised from the cache; the
    // example.test. servers are not asked again.
    let leaf = || h.net.server(NS1).total() + h.net.server(NS2).total();
    let before = leaf();
    let res = h.ask("nope.old.example.test.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::NXDomain,
        "the target does not exist"
    );
    assert_eq!(
        data(&res)[1],
        "nope.old.example.test. CNAME nope.glueless.test."
    );
    assert_eq!(leaf(), before);
}

#[tokio::test(start_paused = true)]
async fn nxdomain_for_a_name_answers_for_every_name_below_it() {
    let h = Harness::new(tree());
    assert_eq!(
        h.ask("gone.example.test.", RecordType::A).await.rcode,
        ResponseCode::NXDomain
    );
    let sent = h.net.total();
    for name in [
        "gone.example.test.",
        "a.gone.example.test.",
        "b.c.gone.example.test.",
    ] {
        for qtype in [RecordType::AAAA, RecordType::TXT] {
            let res = h.ask(name, qtype).await;
            assert_eq!(res.rcode, ResponseCode::NXDomain, "{name} {qtype:?}");
            assert_eq!(res.authorities[0].record_type(), RecordType::SOA);
        }
    }
    assert_eq!(
        h.net.total(),
        sent,
        "RFC 8020: no query for names below an NXDOMAIN"
    );
}

#[tokio::test(start_paused = true)]
async fn glueless_ns_names_are_resolved_in_parallel_and_the_first_answer_wins() {
    // par.test. has three glueless NS names; two sit in zones whose only
    // server is dead, one resolves at once.
    let test = test_zone("par NS ns.dead1.other.\npar NS ns.dead2.other.\npar NS ns.fast.other.");
    let net = tree_with(root_zone(""), test);
    net.serve(
        TLD_OTHER,
        vec![zone(
            "other.",
            &format!(
                "@ SOA ns.other. admin.other. 1 3600 900 604800 300
                 @ NS ns.other.
                 ns.other. A {TLD_OTHER}
                 dead1 NS ns.dead1
                 ns.dead1 A 198.51.100.71
                 dead2 NS ns.dead2
                 ns.dead2 A 198.51.100.72
                 fast NS ns.fast
                 ns.fast A 198.51.100.73"
            ),
        )],
    );
    let fast_zone = zone(
        "fast.other.",
        "@ SOA ns admin 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.73",
    );
    let par_zone = zone(
        "par.test.",
        "@ SOA ns.fast.other. admin 1 3600 900 604800 300\n@ NS ns.fast.other.\nwww A 192.0.2.88",
    );
    net.serve("198.51.100.73", vec![fast_zone, par_zone]);
    for dead in ["198.51.100.71", "198.51.100.72"] {
        net.serve(dead, vec![]).set_behaviour(Behaviour::Dead);
    }
    let h = Harness::new(net);
    let started = tokio::time::Instant::now();
    assert_eq!(
        data(&h.ask("www.par.test.", RecordType::A).await),
        ["www.par.test. A 192.0.2.88"]
    );
    assert!(
        started.elapsed() < rootward::resolver::infra_cache::INITIAL_RTO,
        "the dead NS names did not hold the answer up: {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_without_edns_is_remembered_and_asked_without_it() {
    let net = tree();
    for ns in [NS1, NS2] {
        net.server(ns).set_behaviour(Behaviour::FormerrOnEdns);
    }
    let h = Harness::new(net);
    for name in ["www", "short", "long", "alias", "nope", "loop-a"] {
        h.ask(&format!("{name}.example.test."), RecordType::A).await;
    }
    assert_eq!(
        data(&h.ask("www.example.test.", RecordType::A).await),
        ["www.example.test. A 192.0.2.1"]
    );
    let mut asked = 0;
    for ns in [NS1, NS2] {
        let edns: Vec<bool> = h.net.server(ns).queries().iter().map(|q| q.3).collect();
        asked += edns.len();
        // Each server costs one EDNS query (answered FORMERR) at most; every
        // later query to it goes without EDNS.
        assert!(edns.iter().filter(|e| **e).count() <= 1, "{ns}: {edns:?}");
        if let Some(first) = edns.first() {
            assert!(*first, "{ns}: the first query tries EDNS: {edns:?}");
        }
    }
    assert!(asked >= 7, "{asked} leaf queries for 6 questions");
}

#[tokio::test(start_paused = true)]
async fn trace_records_every_decision_with_a_private_cache() {
    let h = Harness::new(tree());
    // Warm the shared cache: the trace must not use it.
    h.ask("www.example.test.", RecordType::A).await;
    let name = Name::from_ascii("www.glueless.test.").unwrap();
    let (res, trace) = h.resolver.trace(&name, RecordType::A).await;
    assert_eq!(data(&res), ["www.glueless.test. A 192.0.2.30"]);
    let events = trace.events();
    let kinds: Vec<&str> = events.iter().map(|e| e.event).collect();
    for expected in [
        "start", "priming", "query", "reply", "classify", "lookup", "done",
    ] {
        assert!(
            kinds.contains(&expected),
            "no {expected} event in {kinds:?}"
        );
    }
    assert_eq!(kinds.first(), Some(&"start"));
    assert!(
        events.iter().any(|e| e.depth == 1),
        "the NS-address lookup is traced one level down"
    );
    assert!(
        events
            .iter()
            .any(|e| e.event == "classify" && e.detail.contains("referral to test.")),
        "{}",
        trace.to_text()
    );
    // The private cache started empty (priming happened again) and the
    // shared one was not written.
    assert!(h.resolver.cached(&name, RecordType::A).is_none());
    assert!(trace.to_json().contains("\"event\": \"lookup\""));
}

#[tokio::test(start_paused = true)]
async fn trace_names_the_rule_that_dropped_a_forged_record() {
    let test = test_zone("evil NS ns.evil\nns.evil A 198.51.100.40");
    let net = tree_with(root_zone(""), test);
    net.serve(
        "198.51.100.40",
        vec![zone(
            "evil.test.",
            "@ SOA ns admin 1 3600 900 604800 300\n@ NS ns\nns A 198.51.100.40\nwww A 192.0.2.66",
        )],
    )
    .set_behaviour(Behaviour::Forge(vec![record(
        "www.victim.test. 86400 A 6.6.6.6",
    )]));
    let h = Harness::new(net);
    let (_, trace) = h
        .resolver
        .trace(&Name::from_ascii("www.evil.test.").unwrap(), RecordType::A)
        .await;
    let scrubbed: Vec<String> = trace
        .events()
        .into_iter()
        .filter(|e| e.event == "scrub")
        .map(|e| e.detail)
        .collect();
    assert!(
        scrubbed
            .iter()
            .any(|d| d.contains("www.victim.test.") && d.contains("bailiwick")),
        "{scrubbed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_non_terminal_is_asked_once_for_all_names_below_it() {
    // `ent.example.test.` exists only as the parent of `*.ent`: QNAME
    // minimisation learns that from a NODATA, and the cached NODATA serves
    // every later fresh name below it (RFC 9156 §3).
    let mut leaf = example_zone();
    leaf.add(zone("example.test.", "*.ent.example.test. 300 A 192.0.2.77").records()[0].clone());
    let net = tree();
    net.serve(NS1, vec![leaf.clone()]);
    net.serve(NS2, vec![leaf]);
    let h = Harness::new(net);
    for name in [
        "a.ent.example.test.",
        "b.ent.example.test.",
        "c.ent.example.test.",
    ] {
        let res = h.ask(name, RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::NoError, "{name}");
        assert_eq!(data(&res), [format!("{name} A 192.0.2.77")]);
    }
    let asked = |n: &str| {
        h.net.server(NS1).count(n, RecordType::A) + h.net.server(NS2).count(n, RecordType::A)
    };
    assert_eq!(
        asked("ent.example.test."),
        1,
        "the empty non-terminal is asked once"
    );
    for name in [
        "a.ent.example.test.",
        "b.ent.example.test.",
        "c.ent.example.test.",
    ] {
        assert_eq!(asked(name), 1, "{name} asked once");
    }
}

/// Once every server of a zone has stopped answering (three timeouts in a
/// row each), a fresh name under it fails at once with "No Reachable
/// Authority" and sends nothing, instead of waiting out the timeouts again;
/// when the backoffs end the zone is asked again, and servers that came back
/// answer.
#[tokio::test(start_paused = true)]
async fn a_zone_whose_servers_all_stopped_answering_fails_at_once_until_a_backoff_ends() {
    let h = Harness::new(tree());
    assert_eq!(
        data(&h.ask("www.example.test.", RecordType::A).await),
        ["www.example.test. A 192.0.2.1"]
    );
    h.net.server(NS1).set_behaviour(Behaviour::Dead);
    h.net.server(NS2).set_behaviour(Behaviour::Dead);
    let sent = || h.net.server(NS1).queries().len() + h.net.server(NS2).queries().len();

    // Fresh names, each waiting out timeouts, until one fails at once.
    let mut slow_failures = 0;
    let mut fast = None;
    for i in 0..10 {
        let qname = format!("n{i}.example.test.");
        let before = sent();
        let started = tokio::time::Instant::now();
        let res = h.ask(&qname, RecordType::A).await;
        assert_eq!(res.rcode, ResponseCode::ServFail, "{qname}");
        if started.elapsed() < Duration::from_millis(10) {
            fast = Some((res, sent() - before));
            break;
        }
        slow_failures += 1;
    }
    let (res, queries) = fast.expect("a fresh name failed at once within 10 tries");
    assert!(
        slow_failures >= 1,
        "the first failure waited for the servers"
    );
    assert_eq!(queries, 0, "nothing sent to a zone whose servers stopped");
    assert_eq!(res.ede, Some(ExtendedError::NO_REACHABLE_AUTHORITY));

    // The servers come back; once the backoffs end the zone is asked again.
    h.net.server(NS1).set_behaviour(Behaviour::Normal);
    h.net.server(NS2).set_behaviour(Behaviour::Normal);
    tokio::time::sleep(Duration::from_secs(121)).await;
    assert_eq!(
        data(&h.ask("short.example.test.", RecordType::A).await),
        ["short.example.test. A 192.0.2.5"]
    );
}
