//! Real-socket suite: the rootward binary as a process, resolving through test
//! authorities (tests/support/authority_server.rs) that serve a root zone, the
//! `test.` TLD and leaf zones on loopback addresses, port 53.
//!
//! Addresses: test k uses 127.54.k.0/24 only, so the tests run in parallel.
//! Within it: .1 rootward, .2 the root server, .3 the `test.` server, .4 and
//! up the leaf servers. Every test asserts on what the client got back and on
//! the traffic each authority saw.

mod support;

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use support::authority::{Zone, record};
use support::authority_server::{AuthorityServer, Behaviour, Transport};
use support::client::{Client, a_records, answer_types, authority_types, summary};
use support::nsd::unique_dir;
use support::process::{Rootward, write_root_hints};

/// Upper bound for any answer that involves skipping a bad server.
const FAILOVER_LIMIT: Duration = Duration::from_secs(5);
/// Upper bound for SERVFAIL when resolution cannot succeed.
const SERVFAIL_LIMIT: Duration = Duration::from_secs(10);

fn ip(k: u8, x: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 54, k, x))
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// SOA line for a zone whose first NS is `mname`; negative TTL is 300.
fn soa(mname: &str) -> String {
    format!("@ 3600 SOA {mname} hostmaster 1 3600 900 604800 300\n")
}

/// The root zone of test network k: `.` served by a.root.test (k.2), and
/// `test.` delegated to ns1.tld.test (k.3) with glue.
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

/// NS lines (and glue, for servers with an address) delegating `zone`.
fn delegation(zone: &str, servers: &[(&str, Option<IpAddr>)]) -> String {
    let mut text = String::new();
    for (ns, _) in servers {
        text.push_str(&format!("{zone} 86400 NS {ns}\n"));
    }
    for (ns, addr) in servers {
        if let Some(addr) = addr {
            text.push_str(&format!("{ns} 86400 A {addr}\n"));
        }
    }
    text
}

/// The `test.` zone of network k with the given extra records (delegations).
fn tld_zone(k: u8, extra: &str) -> Zone {
    Zone::parse(
        "test.",
        &format!(
            "{}@ NS ns1.tld\nns1.tld A {}\na.root A {}\n{extra}",
            soa("ns1.tld"),
            ip(k, 3),
            ip(k, 2)
        ),
    )
}

/// A leaf zone served by `servers` (in-zone NS names get their A records),
/// with `body` appended.
fn leaf_zone(origin: &str, servers: &[(&str, IpAddr)], body: &str) -> Zone {
    let mut text = soa(servers[0].0);
    for (ns, _) in servers {
        text.push_str(&format!("@ NS {ns}\n"));
    }
    for (ns, addr) in servers {
        text.push_str(&format!("{ns} A {addr}\n"));
    }
    text.push_str(body);
    Zone::parse(origin, &text)
}

/// Root (k.2) and TLD (k.3) servers plus rootward on k.1.
struct Net {
    k: u8,
    root: AuthorityServer,
    tld: AuthorityServer,
    _dir: TempDir,
}

impl Net {
    fn new(k: u8, tld_extra: &str) -> Net {
        Net {
            k,
            root: AuthorityServer::start(ip(k, 2), vec![root_zone(k)]),
            tld: AuthorityServer::start(ip(k, 3), vec![tld_zone(k, tld_extra)]),
            _dir: TempDir(unique_dir(&format!("rootward-sockets-{k}"))),
        }
    }

    /// Starts rootward on k.1:53 with a.root.test (k.2) as the only hint.
    fn rootward(&self) -> Rootward {
        let hints = write_root_hints(&self._dir.0, &[("a.root.test.", ip(self.k, 2))]);
        Rootward::start(SocketAddr::new(ip(self.k, 1), 53), &hints, &[])
    }
}

fn client(rw: &Rootward, timeout: Duration) -> Client {
    Client::with_timeout(rw.addr, timeout)
}

/// Every query each named authority saw, for assertion messages.
fn traffic(servers: &[(&str, &AuthorityServer)]) -> String {
    let mut out = String::from("authority traffic:");
    for (label, s) in servers {
        out.push_str(&format!("\n  {label} ({}):", s.addr));
        let qs = s.queries();
        if qs.is_empty() {
            out.push_str(" none");
        }
        for (tr, name, qtype, edns) in qs {
            let tr = if tr == Transport::Udp { "udp" } else { "tcp" };
            let edns = if edns { " +edns" } else { "" };
            out.push_str(&format!("\n    {tr} {name} {qtype}{edns}"));
        }
    }
    out
}

/// Times one query over UDP.
fn timed_udp(c: &Client, name: &str, qtype: RecordType) -> (Message, Duration) {
    let start = Instant::now();
    let r = c.udp(name, qtype);
    (r, start.elapsed())
}

/// Asserts a recursive NOERROR answer holding exactly `want` as A records.
fn assert_a(r: &Message, want: &[Ipv4Addr], ctx: &str) {
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::NoError,
        "{ctx}: rcode; reply: {}",
        summary(r)
    );
    let mut want = want.to_vec();
    want.sort();
    assert_eq!(
        a_records(r),
        want,
        "{ctx}: A records; reply: {}",
        summary(r)
    );
    assert!(
        r.metadata.recursion_available,
        "{ctx}: RA=1 expected; reply: {}",
        summary(r)
    );
    assert!(
        !r.metadata.authoritative,
        "{ctx}: a recursive answer must have AA=0; reply: {}",
        summary(r)
    );
}

fn assert_servfail(r: &Message, elapsed: Duration, ctx: &str) {
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::ServFail,
        "{ctx}: expected SERVFAIL; reply after {elapsed:?}: {}",
        summary(r)
    );
    assert!(
        elapsed < SERVFAIL_LIMIT,
        "{ctx}: SERVFAIL took {elapsed:?} (limit {SERVFAIL_LIMIT:?})"
    );
}

/// One SOA in the authority section, owned by `zone`, TTL within (0, max].
fn assert_soa(r: &Message, zone: &str, max_ttl: u32, ctx: &str) {
    let soas: Vec<_> = r
        .authorities
        .iter()
        .filter(|a| a.record_type() == RecordType::SOA)
        .collect();
    assert_eq!(
        soas.len(),
        1,
        "{ctx}: one SOA in authority; reply: {}",
        summary(r)
    );
    assert_eq!(
        support::client::owner(&soas[0].name),
        zone,
        "{ctx}: SOA owner; reply: {}",
        summary(r)
    );
    assert!(
        soas[0].ttl <= max_ttl,
        "{ctx}: SOA TTL {} > {max_ttl}; reply: {}",
        soas[0].ttl,
        summary(r)
    );
}

/// Test 1: a dead server next to a live one for the same zone.
#[test]
fn dead_server_next_to_live_one() {
    let k = 1;
    let servers = [
        ("ns1.example.test.", ip(k, 4)),
        ("ns2.example.test.", ip(k, 5)),
    ];
    let net = Net::new(
        k,
        &delegation(
            "example.test.",
            &[
                ("ns1.example.test.", Some(ip(k, 4))),
                ("ns2.example.test.", Some(ip(k, 5))),
            ],
        ),
    );
    let mut body = String::new();
    for i in 0..12u8 {
        body.push_str(&format!("host{i} 300 A 192.0.2.{}\n", 10 + i));
    }
    let zone = leaf_zone("example.test.", &servers, &body);
    let dead = AuthorityServer::start_with(ip(k, 4), vec![zone.clone()], Behaviour::Dead);
    let live = AuthorityServer::start(ip(k, 5), vec![zone]);
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);

    // Which server the resolver tries first is its choice: ask distinct names
    // until the dead one has been tried (bounded: 12 names).
    let mut asked = 0;
    for i in 0..12u8 {
        let name = format!("host{i}.example.test");
        let (r, elapsed) = timed_udp(&c, &name, RecordType::A);
        let ctx = format!("{name} (dead ns1 next to live ns2)");
        assert_a(&r, &[v4(192, 0, 2, 10 + i)], &ctx);
        assert!(
            elapsed < FAILOVER_LIMIT,
            "{ctx}: answer took {elapsed:?} (limit {FAILOVER_LIMIT:?})\n{}",
            traffic(&[("dead", &dead), ("live", &live)])
        );
        assert!(
            live.count(&name, RecordType::A) >= 1,
            "{ctx}: the live server was never asked\n{}",
            traffic(&[("dead", &dead), ("live", &live)])
        );
        asked += 1;
        if dead.total() > 0 {
            break;
        }
    }
    assert!(
        dead.total() > 0,
        "after {asked} names the dead server was never tried, so failover was not exercised\n{}",
        traffic(&[("dead", &dead), ("live", &live)])
    );
}

/// Test 2: lame (upward referral) and REFUSED servers next to a good one.
#[test]
fn lame_and_refusing_servers_next_to_good_one() {
    let k = 2;
    let servers = [
        ("ns1.example.test.", ip(k, 4)),
        ("ns2.example.test.", ip(k, 5)),
        ("ns3.example.test.", ip(k, 6)),
    ];
    let net = Net::new(
        k,
        &delegation(
            "example.test.",
            &[
                ("ns1.example.test.", Some(ip(k, 4))),
                ("ns2.example.test.", Some(ip(k, 5))),
                ("ns3.example.test.", Some(ip(k, 6))),
            ],
        ),
    );
    let mut body = String::new();
    for i in 0..12u8 {
        body.push_str(&format!("host{i} 300 A 192.0.2.{}\n", 10 + i));
    }
    let zone = leaf_zone("example.test.", &servers, &body);
    let lame = AuthorityServer::start_with(ip(k, 4), vec![zone.clone()], Behaviour::Lame);
    let refused = AuthorityServer::start_with(ip(k, 5), vec![zone.clone()], Behaviour::Refused);
    let good = AuthorityServer::start(ip(k, 6), vec![zone]);
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);

    let mut asked = 0;
    for i in 0..12u8 {
        let name = format!("host{i}.example.test");
        let (r, elapsed) = timed_udp(&c, &name, RecordType::A);
        let ctx = format!("{name} (lame ns1, refusing ns2, good ns3)");
        let t = || traffic(&[("lame", &lame), ("refused", &refused), ("good", &good)]);
        assert_a(&r, &[v4(192, 0, 2, 10 + i)], &ctx);
        assert!(elapsed < FAILOVER_LIMIT, "{ctx}: took {elapsed:?}\n{}", t());
        assert!(
            good.count(&name, RecordType::A) >= 1,
            "{ctx}: good server not asked\n{}",
            t()
        );
        asked += 1;
        if lame.total() > 0 && refused.total() > 0 {
            break;
        }
    }
    let t = traffic(&[("lame", &lame), ("refused", &refused), ("good", &good)]);
    assert!(
        lame.total() > 0,
        "after {asked} names the lame server was never tried\n{t}"
    );
    assert!(
        refused.total() > 0,
        "after {asked} names the REFUSED server was never tried\n{t}"
    );
    // An upward referral must not send the resolver off to the real root.
    assert!(
        net.root.count("a.root-servers.net.", RecordType::A) == 0
            && net.root.count("net.", RecordType::NS) == 0,
        "the lame server's upward referral was followed\n{}",
        traffic(&[("root", &net.root)])
    );
}

/// Test 3: the leaf truncates over UDP; the resolver must retry over TCP.
#[test]
fn truncated_udp_answer_is_retried_over_tcp() {
    let k = 3;
    let servers = [("ns1.example.test.", ip(k, 4))];
    let net = Net::new(
        k,
        &delegation("example.test.", &[("ns1.example.test.", Some(ip(k, 4)))]),
    );
    let zone = leaf_zone(
        "example.test.",
        &servers,
        "www 300 A 192.0.2.1\nwww 300 A 192.0.2.2\nwww 300 A 192.0.2.3\n",
    );
    let leaf = AuthorityServer::start_with(ip(k, 4), vec![zone], Behaviour::TruncateUdp);
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);

    let (r, elapsed) = timed_udp(&c, "www.example.test", RecordType::A);
    let t = traffic(&[("leaf", &leaf)]);
    assert_a(
        &r,
        &[v4(192, 0, 2, 1), v4(192, 0, 2, 2), v4(192, 0, 2, 3)],
        "www.example.test via a truncating leaf",
    );
    assert!(
        !r.metadata.truncation,
        "the client's answer fits; TC must be 0: {}",
        summary(&r)
    );
    assert!(elapsed < FAILOVER_LIMIT, "took {elapsed:?}\n{t}");
    assert!(
        leaf.count_over(Transport::Udp, "www.example.test", RecordType::A) >= 1,
        "the resolver should try UDP first\n{t}"
    );
    assert!(
        leaf.count_over(Transport::Tcp, "www.example.test", RecordType::A) >= 1,
        "after TC=1 the resolver must ask again over TCP\n{t}"
    );
}

/// Test 4: the leaf answers FORMERR to EDNS queries; retry without EDNS.
#[test]
fn formerr_on_edns_is_retried_without_edns() {
    let k = 4;
    let servers = [("ns1.example.test.", ip(k, 4))];
    let net = Net::new(
        k,
        &delegation("example.test.", &[("ns1.example.test.", Some(ip(k, 4)))]),
    );
    let zone = leaf_zone("example.test.", &servers, "www 300 A 192.0.2.1\n");
    let leaf = AuthorityServer::start_with(ip(k, 4), vec![zone], Behaviour::FormerrOnEdns);
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);

    let (r, elapsed) = timed_udp(&c, "www.example.test", RecordType::A);
    let t = traffic(&[("root", &net.root), ("tld", &net.tld), ("leaf", &leaf)]);
    assert_a(
        &r,
        &[v4(192, 0, 2, 1)],
        "www.example.test via an EDNS-intolerant leaf",
    );
    assert!(elapsed < FAILOVER_LIMIT, "took {elapsed:?}\n{t}");
    let seen = leaf.queries();
    assert!(
        seen.first().is_some_and(|q| q.3),
        "the first query to a server should carry EDNS\n{t}"
    );
    assert!(
        seen.iter().any(|(_, n, qt, edns)| !edns
            && *qt == RecordType::A
            && support::client::owner(n) == "www.example.test."),
        "after FORMERR the resolver must ask again without EDNS\n{t}"
    );
    // The EDNS-tolerant servers were asked with EDNS.
    assert!(
        net.root.queries().iter().all(|q| q.3) && net.tld.queries().iter().all(|q| q.3),
        "queries to EDNS-capable servers should carry EDNS\n{t}"
    );
}

/// Test 5: out-of-bailiwick data forged by evil.test's server is not used.
#[test]
fn forged_out_of_bailiwick_records_are_not_cached() {
    let k = 5;
    let net = Net::new(
        k,
        &(delegation("evil.test.", &[("ns1.evil.test.", Some(ip(k, 4)))])
            + &delegation("victim.test.", &[("ns1.victim.test.", Some(ip(k, 5)))])),
    );
    let evil_zone = leaf_zone(
        "evil.test.",
        &[("ns1.evil.test.", ip(k, 4))],
        "www 300 A 192.0.2.66\n",
    );
    // The evil server also holds a fake victim.test zone, so trusting the
    // forged NS/glue would produce an authoritative 6.6.6.6.
    let fake_victim = leaf_zone(
        "victim.test.",
        &[("ns1.victim.test.", ip(k, 4))],
        "www 300 A 6.6.6.6\n",
    );
    let forged = vec![
        record("www.victim.test. 86400 A 6.6.6.6"),
        record("victim.test. 86400 NS ns1.evil.test."),
        record("victim.test. 86400 NS ns1.victim.test."),
        record(&format!("ns1.victim.test. 86400 A {}", ip(k, 4))),
        record(&format!("ns1.evil.test. 86400 A {}", ip(k, 4))),
    ];
    let evil = AuthorityServer::start_with(
        ip(k, 4),
        vec![evil_zone, fake_victim],
        Behaviour::Forge(forged),
    );
    let victim_zone = leaf_zone(
        "victim.test.",
        &[("ns1.victim.test.", ip(k, 5))],
        "www 300 A 192.0.2.55\n",
    );
    let victim = AuthorityServer::start(ip(k, 5), vec![victim_zone]);
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);
    let t = || traffic(&[("tld", &net.tld), ("evil", &evil), ("victim", &victim)]);
    let poisoned = |m: &Message| {
        m.all_sections()
            .any(|r| matches!(&r.data, RData::A(a) if a.0 == v4(6, 6, 6, 6)))
    };

    let r = c.udp("www.evil.test", RecordType::A);
    assert_a(&r, &[v4(192, 0, 2, 66)], "www.evil.test");
    assert!(
        !poisoned(&r),
        "forged www.victim.test passed on to the client: {}",
        summary(&r)
    );
    assert!(
        answer_types(&r).iter().all(|(n, _)| n == "www.evil.test."),
        "only records for the question belong in the answer: {}",
        summary(&r)
    );

    let r = c.udp("www.victim.test", RecordType::A);
    assert_a(
        &r,
        &[v4(192, 0, 2, 55)],
        &format!("www.victim.test after evil.test\n{}", t()),
    );
    assert!(!poisoned(&r), "{}", summary(&r));
    assert!(
        victim.count("www.victim.test", RecordType::A) >= 1,
        "victim.test's own server was not asked\n{}",
        t()
    );
    let evil_asked_for_victim = evil
        .queries()
        .iter()
        .filter(|(_, n, _, _)| support::client::owner(n).ends_with("victim.test."))
        .count();
    assert_eq!(
        evil_asked_for_victim,
        0,
        "the resolver followed the forged delegation to the evil server\n{}",
        t()
    );

    // Same again over TCP from the cache (or fresh): still the true address.
    let r = c.tcp("www.victim.test", RecordType::A);
    assert_a(&r, &[v4(192, 0, 2, 55)], "www.victim.test over TCP");
}

/// Test 6: positive and negative answers are cached; a second name in a
/// known zone does not go back to the root.
#[test]
fn answers_are_cached() {
    let k = 6;
    let servers = [("ns1.example.test.", ip(k, 4))];
    let net = Net::new(
        k,
        &delegation("example.test.", &[("ns1.example.test.", Some(ip(k, 4)))]),
    );
    let zone = leaf_zone(
        "example.test.",
        &servers,
        "www 300 A 192.0.2.1\nmail 300 A 192.0.2.25\n",
    );
    let leaf = AuthorityServer::start(ip(k, 4), vec![zone]);
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);
    let t = || traffic(&[("root", &net.root), ("tld", &net.tld), ("leaf", &leaf)]);
    let totals = || (net.root.total(), net.tld.total(), leaf.total());
    // Lets any follow-up work of the first lookup settle before counting.
    let settle = || thread::sleep(Duration::from_millis(500));

    let r1 = c.udp("www.example.test", RecordType::A);
    assert_a(&r1, &[v4(192, 0, 2, 1)], "first www.example.test");
    let ttl1 = support::client::min_answer_ttl(&r1);
    assert!(ttl1 > 0 && ttl1 <= 300, "TTL {ttl1} not in (0, 300]");
    assert!(
        leaf.count("www.example.test", RecordType::A) >= 1,
        "{}",
        t()
    );
    settle();
    let before = totals();

    let r2 = c.udp("www.example.test", RecordType::A);
    assert_a(&r2, &[v4(192, 0, 2, 1)], "second www.example.test");
    let ttl2 = support::client::min_answer_ttl(&r2);
    assert!(ttl2 <= ttl1, "cached TTL grew: {ttl1} then {ttl2}");
    let r3 = c.tcp("www.example.test", RecordType::A);
    assert_a(&r3, &[v4(192, 0, 2, 1)], "www.example.test over TCP");
    assert_eq!(
        totals(),
        before,
        "(root, tld, leaf) query counts changed for a cached answer\n{}",
        t()
    );

    let root_before = net.root.total();
    let r = c.udp("mail.example.test", RecordType::A);
    assert_a(&r, &[v4(192, 0, 2, 25)], "mail.example.test");
    assert_eq!(
        net.root.total(),
        root_before,
        "a second name in a known zone went back to the root\n{}",
        t()
    );
    assert!(
        leaf.count("mail.example.test", RecordType::A) >= 1,
        "{}",
        t()
    );

    // NXDOMAIN is cached too (RFC 2308), and carries the SOA.
    let nx1 = c.udp("nope.example.test", RecordType::A);
    assert_eq!(
        nx1.metadata.response_code,
        ResponseCode::NXDomain,
        "{}",
        summary(&nx1)
    );
    assert!(nx1.answers.is_empty(), "{}", summary(&nx1));
    assert_soa(&nx1, "example.test.", 300, "NXDOMAIN nope.example.test");
    settle();
    let before = totals();
    let nx2 = c.udp("nope.example.test", RecordType::A);
    assert_eq!(
        nx2.metadata.response_code,
        ResponseCode::NXDomain,
        "{}",
        summary(&nx2)
    );
    assert_soa(&nx2, "example.test.", 300, "cached NXDOMAIN");
    assert_eq!(
        totals(),
        before,
        "a cached NXDOMAIN went upstream again\n{}",
        t()
    );

    // NODATA likewise.
    let nd1 = c.udp("www.example.test", RecordType::AAAA);
    assert_eq!(
        nd1.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        summary(&nd1)
    );
    assert!(nd1.answers.is_empty(), "{}", summary(&nd1));
    assert_soa(&nd1, "example.test.", 300, "NODATA www.example.test AAAA");
    settle();
    let before = totals();
    let nd2 = c.udp("www.example.test", RecordType::AAAA);
    assert_eq!(
        nd2.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        summary(&nd2)
    );
    assert!(nd2.answers.is_empty(), "{}", summary(&nd2));
    assert_soa(&nd2, "example.test.", 300, "cached NODATA");
    assert_eq!(
        totals(),
        before,
        "a cached NODATA went upstream again\n{}",
        t()
    );
}

/// Test 7: CNAME loops (inside one zone, and across two zones) -> SERVFAIL.
#[test]
fn cname_loops_give_servfail() {
    let k = 7;
    let net = Net::new(
        k,
        &(delegation("example.test.", &[("ns1.example.test.", Some(ip(k, 4)))])
            + &delegation("loop1.test.", &[("ns1.loop1.test.", Some(ip(k, 5)))])
            + &delegation("loop2.test.", &[("ns1.loop2.test.", Some(ip(k, 6)))])),
    );
    let leaf = AuthorityServer::start(
        ip(k, 4),
        vec![leaf_zone(
            "example.test.",
            &[("ns1.example.test.", ip(k, 4))],
            "a CNAME b\nb CNAME a\n",
        )],
    );
    let loop1 = AuthorityServer::start(
        ip(k, 5),
        vec![leaf_zone(
            "loop1.test.",
            &[("ns1.loop1.test.", ip(k, 5))],
            "x CNAME x.loop2.test.\n",
        )],
    );
    let loop2 = AuthorityServer::start(
        ip(k, 6),
        vec![leaf_zone(
            "loop2.test.",
            &[("ns1.loop2.test.", ip(k, 6))],
            "x CNAME x.loop1.test.\n",
        )],
    );
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);
    let t = || traffic(&[("example", &leaf), ("loop1", &loop1), ("loop2", &loop2)]);

    let (r, elapsed) = timed_udp(&c, "a.example.test", RecordType::A);
    assert_servfail(&r, elapsed, "a CNAME b, b CNAME a");
    assert!(
        leaf.count("a.example.test", RecordType::A) >= 1,
        "example.test was never asked: SERVFAIL must come from detecting the loop\n{}",
        t()
    );
    assert!(
        leaf.total() < 50,
        "runaway traffic for an in-zone CNAME loop\n{}",
        t()
    );

    let (r, elapsed) = timed_udp(&c, "x.loop1.test", RecordType::A);
    assert_servfail(
        &r,
        elapsed,
        "x.loop1.test CNAME x.loop2.test CNAME x.loop1.test",
    );
    assert!(
        loop1.total() + loop2.total() < 100,
        "runaway traffic for a cross-zone CNAME loop\n{}",
        t()
    );
    assert!(
        loop1.total() >= 1 && loop2.total() >= 1,
        "the cross-zone loop was never chased: SERVFAIL must come from detecting it\n{}",
        t()
    );
}

/// Test 8: x.test is served by ns.y.test and y.test by ns.x.test, no glue.
#[test]
fn delegation_loop_gives_servfail() {
    let k = 8;
    let net = Net::new(
        k,
        &(delegation("x.test.", &[("ns.y.test.", None)])
            + &delegation("y.test.", &[("ns.x.test.", None)])),
    );
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);

    let (r, elapsed) = timed_udp(&c, "www.x.test", RecordType::A);
    assert_servfail(&r, elapsed, "www.x.test behind a delegation loop");
    let t = traffic(&[("root", &net.root), ("tld", &net.tld)]);
    assert!(
        net.tld.queries().iter().any(|(_, n, _, _)| {
            let n = support::client::owner(n);
            n.ends_with("x.test.") || n.ends_with("y.test.")
        }),
        "the TLD was never asked: SERVFAIL must come from detecting the loop\n{t}"
    );
    assert!(
        net.tld.total() < 100,
        "runaway traffic for a delegation loop\n{t}"
    );
    // And again, now that the loop may be known: still a prompt SERVFAIL.
    let (r, elapsed) = timed_udp(&c, "mail.y.test", RecordType::A);
    assert_servfail(&r, elapsed, "mail.y.test behind a delegation loop");
}

/// Test 9: every root server dead -> SERVFAIL, not silence.
#[test]
fn all_root_servers_dead_gives_servfail() {
    let k = 9;
    let net = Net::new(
        k,
        &delegation("example.test.", &[("ns1.example.test.", Some(ip(k, 4)))]),
    );
    let leaf = AuthorityServer::start(
        ip(k, 4),
        vec![leaf_zone(
            "example.test.",
            &[("ns1.example.test.", ip(k, 4))],
            "www 300 A 192.0.2.1\n",
        )],
    );
    // The root must answer rootward's startup probe; it dies afterwards.
    let rw = net.rootward();
    net.root.set_behaviour(Behaviour::Dead);
    net.tld.set_behaviour(Behaviour::Dead);
    let root_before = net.root.total();
    let c = client(&rw, SERVFAIL_LIMIT);

    for name in ["www.example.test", "other.example.test"] {
        let (r, elapsed) = timed_udp(&c, name, RecordType::A);
        assert_servfail(&r, elapsed, &format!("{name} with every root server dead"));
    }
    assert!(
        net.root.total() > root_before,
        "the resolver never asked the (dead) root\n{}",
        traffic(&[("root", &net.root), ("tld", &net.tld), ("leaf", &leaf)])
    );
    assert_eq!(
        leaf.total(),
        0,
        "nobody told the resolver where the leaf is"
    );
}

/// Test 10: every server of the leaf zone dead -> SERVFAIL, not silence.
#[test]
fn all_leaf_servers_dead_gives_servfail() {
    let k = 10;
    let servers = [
        ("ns1.example.test.", ip(k, 4)),
        ("ns2.example.test.", ip(k, 5)),
    ];
    let net = Net::new(
        k,
        &delegation(
            "example.test.",
            &[
                ("ns1.example.test.", Some(ip(k, 4))),
                ("ns2.example.test.", Some(ip(k, 5))),
            ],
        ),
    );
    let zone = leaf_zone("example.test.", &servers, "www 300 A 192.0.2.1\n");
    let d1 = AuthorityServer::start_with(ip(k, 4), vec![zone.clone()], Behaviour::Dead);
    let d2 = AuthorityServer::start_with(ip(k, 5), vec![zone], Behaviour::Dead);
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);

    let (r, elapsed) = timed_udp(&c, "www.example.test", RecordType::A);
    assert_servfail(&r, elapsed, "www.example.test with every leaf server dead");
    // TCP clients get the SERVFAIL too.
    let start = Instant::now();
    let r = c.tcp("mail.example.test", RecordType::A);
    assert_servfail(&r, start.elapsed(), "mail.example.test over TCP, leaf dead");
    assert!(
        d1.total() + d2.total() >= 1,
        "the dead leaf servers were never tried\n{}",
        traffic(&[("tld", &net.tld), ("ns1", &d1), ("ns2", &d2)])
    );
}

/// Test 11: the response contract on a plain tree: header bits, question
/// echo, TTLs, CNAME chains across zones, negative answers with the SOA.
#[test]
fn plain_resolution_follows_the_contract() {
    let k = 11;
    let net = Net::new(
        k,
        &(delegation("example.test.", &[("ns1.example.test.", Some(ip(k, 4)))])
            + &delegation("other.test.", &[("ns1.other.test.", Some(ip(k, 5)))])),
    );
    let example = AuthorityServer::start(
        ip(k, 4),
        vec![leaf_zone(
            "example.test.",
            &[("ns1.example.test.", ip(k, 4))],
            "www 300 A 192.0.2.1\nalias 300 CNAME www\nfar 300 CNAME www.other.test.\n",
        )],
    );
    let other = AuthorityServer::start(
        ip(k, 5),
        vec![leaf_zone(
            "other.test.",
            &[("ns1.other.test.", ip(k, 5))],
            "www 120 A 192.0.2.2\n",
        )],
    );
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);
    let t = || {
        traffic(&[
            ("root", &net.root),
            ("tld", &net.tld),
            ("example", &example),
            ("other", &other),
        ])
    };

    let q = support::client::query("WwW.ExAmPlE.TeSt", RecordType::A);
    let r = c.send_udp(&q);
    assert_a(&r, &[v4(192, 0, 2, 1)], "WwW.ExAmPlE.TeSt");
    assert!(
        r.metadata.recursion_desired,
        "RD must be copied: {}",
        summary(&r)
    );
    assert_eq!(r.queries.len(), 1, "{}", summary(&r));
    assert_eq!(
        r.queries[0].name().to_ascii(),
        "WwW.ExAmPlE.TeSt.",
        "question must be echoed as sent (case included)"
    );
    assert_eq!(r.queries[0].query_type(), RecordType::A);
    let ttl = support::client::min_answer_ttl(&r);
    assert!(ttl > 0 && ttl <= 300, "TTL {ttl}");

    let r = c.tcp("www.example.test", RecordType::A);
    assert_a(&r, &[v4(192, 0, 2, 1)], "www.example.test over TCP");

    let r = c.udp("alias.example.test", RecordType::A);
    assert_a(
        &r,
        &[v4(192, 0, 2, 1)],
        "alias.example.test (in-zone CNAME)",
    );
    assert_eq!(
        answer_types(&r),
        vec![
            ("alias.example.test.".to_string(), RecordType::CNAME),
            ("www.example.test.".to_string(), RecordType::A)
        ],
        "{}",
        summary(&r)
    );

    let r = c.udp("far.example.test", RecordType::A);
    assert_a(
        &r,
        &[v4(192, 0, 2, 2)],
        &format!("far.example.test (CNAME to other.test)\n{}", t()),
    );
    assert_eq!(
        answer_types(&r),
        vec![
            ("far.example.test.".to_string(), RecordType::CNAME),
            ("www.other.test.".to_string(), RecordType::A)
        ],
        "{}",
        summary(&r)
    );
    assert!(r.answers.iter().all(|a| a.ttl <= 300), "{}", summary(&r));
    assert!(other.count("www.other.test", RecordType::A) >= 1, "{}", t());

    let r = c.udp("nope.example.test", RecordType::A);
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::NXDomain,
        "{}",
        summary(&r)
    );
    assert!(
        r.metadata.recursion_available && !r.metadata.authoritative,
        "{}",
        summary(&r)
    );
    assert_soa(&r, "example.test.", 300, "NXDOMAIN");

    let r = c.udp("www.example.test", RecordType::MX);
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        summary(&r)
    );
    assert!(r.answers.is_empty(), "{}", summary(&r));
    assert_soa(&r, "example.test.", 300, "NODATA");

    let r = c.udp("nothing.test", RecordType::A);
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::NXDomain,
        "{}",
        summary(&r)
    );
    assert_soa(&r, "test.", 300, "NXDOMAIN from the TLD");
    assert!(
        authority_types(&r)
            .iter()
            .all(|(_, t)| *t != RecordType::NS),
        "no referral data in a negative answer: {}",
        summary(&r)
    );

    assert!(rw.stop().success(), "rootward must exit 0 on SIGTERM");
}

/// Test 12: a slow (but answering) server still gets its answer through.
#[test]
fn slow_server_is_waited_for() {
    let k = 12;
    let servers = [("ns1.example.test.", ip(k, 4))];
    let net = Net::new(
        k,
        &delegation("example.test.", &[("ns1.example.test.", Some(ip(k, 4)))]),
    );
    let zone = leaf_zone("example.test.", &servers, "www 300 A 192.0.2.1\n");
    let leaf = AuthorityServer::start_with(
        ip(k, 4),
        vec![zone],
        Behaviour::Delay(Duration::from_millis(300)),
    );
    let rw = net.rootward();
    let c = client(&rw, SERVFAIL_LIMIT);
    let (r, elapsed) = timed_udp(&c, "www.example.test", RecordType::A);
    assert_a(
        &r,
        &[v4(192, 0, 2, 1)],
        "www.example.test from a 300 ms server",
    );
    assert!(
        elapsed < FAILOVER_LIMIT,
        "took {elapsed:?}\n{}",
        traffic(&[("leaf", &leaf)])
    );
}
