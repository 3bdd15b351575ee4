//! Sanity tests of the test authority itself (tests/support/authority*.rs), so
//! that a failing resolver test is never the fixture's fault.
//!
//! Pure answers are checked through `Zone::answer`; the socket server is
//! checked on 127.54.200.0/24 (the sockets suite uses 127.54.k.x, k < 200).
#![allow(dead_code)]

#[path = "support/authority.rs"]
mod authority;
#[path = "support/authority_server.rs"]
mod authority_server;
#[path = "support/client.rs"]
mod client;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use authority::{Zone, record};
use authority_server::{AuthorityServer, Behaviour, Transport};
use client::{Client, a_records, answer_types, authority_types, edns_query, query, summary};

fn example() -> Zone {
    Zone::parse(
        "example.test.",
        "@ 3600 SOA ns1 host 1 3600 900 604800 300\n\
         @ NS ns1\n\
         ns1 A 127.54.1.3\n\
         www 300 A 192.0.2.1\n\
         www 300 A 192.0.2.2\n\
         alias CNAME www\n\
         outside CNAME www.elsewhere.test.\n\
         loop1 CNAME loop2\n\
         loop2 CNAME loop1\n\
         a.b.c A 192.0.2.3\n\
         *.wild A 192.0.2.4\n\
         sub NS ns.sub\n\
         sub NS ns.other.test.\n\
         ns.sub A 127.54.1.4\n\
         TXT-CASE TXT \"hello\"",
    )
}

fn ask(zone: &Zone, name: &str, qtype: RecordType) -> Message {
    let q = query(name, qtype);
    let r = zone.answer(&q);
    assert_eq!(r.metadata.id, q.metadata.id);
    assert_eq!(r.metadata.message_type, MessageType::Response);
    assert!(r.metadata.recursion_desired, "RD copied");
    assert_eq!(r.queries, q.queries, "question echoed");
    r
}

fn soa_ttl(m: &Message) -> u32 {
    let soa: Vec<_> = m
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA)
        .collect();
    assert_eq!(soa.len(), 1, "exactly one SOA in authority: {}", summary(m));
    soa[0].ttl
}

#[test]
fn exact_answer_is_authoritative() {
    let r = ask(&example(), "WWW.Example.Test", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(
        a_records(&r),
        vec![Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)]
    );
    assert!(r.answers.iter().all(|a| a.ttl == 300));
    assert!(r.edns.is_none(), "no EDNS in reply to a query without it");
}

#[test]
fn nxdomain_and_nodata_carry_soa_with_negative_ttl() {
    let z = example();
    let nx = ask(&z, "nope.example.test", RecordType::A);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative);
    assert!(nx.answers.is_empty());
    assert_eq!(soa_ttl(&nx), 300, "min(3600, MINIMUM 300)");

    let nodata = ask(&z, "www.example.test", RecordType::AAAA);
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.metadata.authoritative);
    assert!(nodata.answers.is_empty());
    assert_eq!(soa_ttl(&nodata), 300);

    // Empty non-terminal: b.c.example.test has no records but a.b.c does.
    let ent = ask(&z, "b.c.example.test", RecordType::A);
    assert_eq!(ent.metadata.response_code, ResponseCode::NoError);
    assert!(ent.answers.is_empty());
    assert_eq!(soa_ttl(&ent), 300);
}

#[test]
fn referral_has_ns_and_glue_and_no_aa() {
    let z = example();
    for name in ["sub.example.test", "deep.www.sub.example.test"] {
        let r = ask(&z, name, RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(!r.metadata.authoritative, "referral must have AA=0");
        assert!(r.answers.is_empty());
        let mut ns = authority_types(&r);
        ns.sort();
        assert_eq!(
            ns,
            vec![
                ("sub.example.test.".to_string(), RecordType::NS),
                ("sub.example.test.".to_string(), RecordType::NS)
            ]
        );
        assert_eq!(
            r.additionals.len(),
            1,
            "glue only for ns.sub: {}",
            summary(&r)
        );
        assert_eq!(
            r.additionals[0].data,
            RData::A(Ipv4Addr::new(127, 54, 1, 4).into())
        );
    }
    // The parent answers DS at the cut itself (here: NODATA, no DS held).
    let ds = ask(&z, "sub.example.test", RecordType::DS);
    assert!(ds.metadata.authoritative);
    assert!(ds.answers.is_empty());
    assert_eq!(soa_ttl(&ds), 300);
}

#[test]
fn cname_is_followed_inside_the_zone_only() {
    let z = example();
    let r = ask(&z, "alias.example.test", RecordType::A);
    assert!(r.metadata.authoritative);
    assert_eq!(
        answer_types(&r),
        vec![
            ("alias.example.test.".into(), RecordType::CNAME),
            ("www.example.test.".into(), RecordType::A),
            ("www.example.test.".into(), RecordType::A),
        ]
    );
    // Asking for the CNAME itself does not follow it.
    let c = ask(&z, "alias.example.test", RecordType::CNAME);
    assert_eq!(
        answer_types(&c),
        vec![("alias.example.test.".into(), RecordType::CNAME)]
    );

    let out = ask(&z, "outside.example.test", RecordType::A);
    assert_eq!(out.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        answer_types(&out),
        vec![("outside.example.test.".into(), RecordType::CNAME)]
    );
    assert!(out.authorities.is_empty());

    let lp = ask(&z, "loop1.example.test", RecordType::A);
    assert_eq!(
        answer_types(&lp),
        vec![
            ("loop1.example.test.".into(), RecordType::CNAME),
            ("loop2.example.test.".into(), RecordType::CNAME),
        ]
    );
}

#[test]
fn wildcard_refused_and_edns() {
    let z = example();
    let w = ask(&z, "anything.wild.example.test", RecordType::A);
    assert_eq!(a_records(&w), vec![Ipv4Addr::new(192, 0, 2, 4)]);
    assert_eq!(answer_types(&w)[0].0, "anything.wild.example.test.");

    let refused = ask(&z, "www.other.test", RecordType::A);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(!refused.metadata.authoritative);

    let q = edns_query("www.example.test", RecordType::A, 4096);
    let r = z.answer(&q);
    assert_eq!(r.edns.as_ref().map(|e| e.max_payload()), Some(1232));

    let t = ask(&z, "txt-case.example.test", RecordType::TXT);
    assert_eq!(answer_types(&t).len(), 1);
}

#[test]
fn root_and_tld_zones_parse() {
    let root = Zone::parse(
        ".",
        "@ 86400 SOA a.root.test. host.root.test. 1 1800 900 604800 86400\n\
         @ NS a.root.test.\n\
         a.root.test. A 127.54.200.2\n\
         test. NS ns1.tld.test.\n\
         ns1.tld.test. A 127.54.200.3",
    );
    let r = ask(&root, "www.example.test", RecordType::A);
    assert!(!r.metadata.authoritative);
    assert_eq!(authority_types(&r), vec![("test.".into(), RecordType::NS)]);
    assert_eq!(r.additionals.len(), 1);
    let ns = ask(&root, ".", RecordType::NS);
    assert!(ns.metadata.authoritative);
    assert_eq!(answer_types(&ns), vec![(".".into(), RecordType::NS)]);
    // Additional section processing: the root server's address comes along.
    assert_eq!(ns.additionals.len(), 1, "{}", summary(&ns));
    assert_eq!(
        ns.additionals[0].data,
        RData::A(Ipv4Addr::new(127, 54, 200, 2).into())
    );
    assert_eq!(record("x.test. 5 A 1.2.3.4").ttl, 5);
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 54, 200, last))
}

fn client_for(server: &AuthorityServer) -> Client {
    Client::with_timeout(SocketAddr::new(server.addr, 53), Duration::from_secs(2))
}

#[test]
fn server_behaviours_over_real_sockets() {
    let server = AuthorityServer::start(ip(10), vec![example()]);
    let c = client_for(&server);

    // Normal, UDP and TCP, recorded case-insensitively.
    let r = c.udp("WWW.example.test", RecordType::A);
    assert_eq!(a_records(&r).len(), 2, "{}", summary(&r));
    assert!(r.metadata.authoritative);
    let r = c.tcp("www.example.test", RecordType::A);
    assert_eq!(a_records(&r).len(), 2, "{}", summary(&r));
    assert_eq!(server.count("www.EXAMPLE.test.", RecordType::A), 2);
    assert_eq!(
        server.count_over(Transport::Tcp, "www.example.test", RecordType::A),
        1
    );
    let r = c.udp_edns("www.example.test", RecordType::A, 1232);
    assert!(r.edns.is_some());
    assert!(server.queries().last().unwrap().3, "EDNS recorded");

    // Outside every zone: REFUSED.
    let r = c.udp("www.nowhere.test", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);

    server.set_behaviour(Behaviour::TruncateUdp);
    let r = c.udp("www.example.test", RecordType::A);
    assert!(
        r.metadata.truncation && r.answers.is_empty(),
        "{}",
        summary(&r)
    );
    let r = c.tcp("www.example.test", RecordType::A);
    assert!(
        !r.metadata.truncation && a_records(&r).len() == 2,
        "{}",
        summary(&r)
    );

    server.set_behaviour(Behaviour::FormerrOnEdns);
    let r = c.udp_edns("www.example.test", RecordType::A, 1232);
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    assert!(r.edns.is_none());
    let r = c.udp("www.example.test", RecordType::A);
    assert_eq!(a_records(&r).len(), 2);

    server.set_behaviour(Behaviour::Refused);
    let r = c.udp("www.example.test", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);

    server.set_behaviour(Behaviour::Lame);
    let r = c.udp("www.example.test", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authoritative && r.answers.is_empty());
    assert!(
        authority_types(&r)
            .iter()
            .all(|(n, t)| n == "." && *t == RecordType::NS)
    );
    assert!(!r.authorities.is_empty());

    server.set_behaviour(Behaviour::Forge(vec![record(
        "www.victim.test. 300 A 6.6.6.6",
    )]));
    let r = c.udp("www.example.test", RecordType::A);
    assert_eq!(a_records(&r).len(), 3, "{}", summary(&r));
    assert_eq!(r.additionals.len(), 1);

    server.set_behaviour(Behaviour::Delay(Duration::from_millis(400)));
    let start = Instant::now();
    let r = c.udp("www.example.test", RecordType::A);
    assert!(start.elapsed() >= Duration::from_millis(380));
    assert_eq!(a_records(&r).len(), 2);

    server.set_behaviour(Behaviour::Dead);
    let before = server.total();
    let quick = Client::with_timeout(c.server, Duration::from_millis(500));
    assert!(
        quick
            .udp_raw(&query("www.example.test", RecordType::A).to_vec().unwrap())
            .is_none()
    );
    assert!(
        quick
            .tcp_raw(&query("www.example.test", RecordType::A).to_vec().unwrap())
            .is_none()
    );
    assert_eq!(
        server.total(),
        before + 2,
        "dead servers still record queries"
    );

    // Drop stops it promptly and frees the port for the next server.
    let start = Instant::now();
    drop(server);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "drop took {:?}",
        start.elapsed()
    );
    let again = AuthorityServer::start(ip(10), vec![example()]);
    let r = client_for(&again).udp("www.example.test", RecordType::A);
    assert_eq!(a_records(&r).len(), 2);
}

#[test]
fn large_udp_answers_are_truncated() {
    let mut text =
        String::from("@ SOA ns1 host 1 3600 900 604800 300\n@ NS ns1\nns1 A 127.0.0.1\n");
    for i in 0..60 {
        text.push_str(&format!(
            "big TXT \"{i:03} padding padding padding padding\"\n"
        ));
    }
    let server = AuthorityServer::start(ip(11), vec![Zone::parse("big.test.", &text)]);
    let c = client_for(&server);
    let r = c.udp("big.big.test", RecordType::TXT);
    assert!(r.metadata.truncation, "{}", summary(&r));
    let r = c.tcp("big.big.test", RecordType::TXT);
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 60);
}
