//! End-to-end suite: the rootward binary resolving through a loopback DNS tree
//! served by NSD.
//!
//! Every test builds its own tree and resolver on its own /24 inside
//! 127.53.0.0/16 (test k uses 127.53.k.x), so the tests run in parallel:
//!
//! | address      | role                                                  |
//! |--------------|-------------------------------------------------------|
//! | 127.53.k.1   | rootward (`--listen 127.53.k.1:53`)                   |
//! | 127.53.k.2   | `a.root.test.`: the root zone `.`                     |
//! | 127.53.k.3   | `a.nic.test.`: TLD `test.`                            |
//! | 127.53.k.4   | `a.nic.nettest.`: TLD `nettest.`                      |
//! | 127.53.k.5   | `ns1.example.test.`: `example.test.` (glue in `test.`)|
//! | 127.53.k.6   | `ns1.provider.nettest.`: `provider.nettest.` and      |
//! |              | `glueless.test.` (delegated from `test.` with NO glue)|
//!
//! Queries are sent like dig would, over UDP and TCP, and the assertions look
//! at answers, rcodes, header flags, sizes and TTLs.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::thread::sleep;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use support::client::{
    Client, a_records, answer_types, edns_query, min_answer_ttl, query, raw_flags, raw_query,
    raw_question, summary,
};
use support::nsd::NsdTree;
use support::process::{Rootward, write_root_hints};

// ---------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------

/// TTL of the ordinary records of the leaf zones.
const LEAF_TTL: u32 = 300;
/// example.test.: SOA TTL 3600, MINIMUM 120 → negative TTL 120.
const EXAMPLE_NEG_TTL: u32 = 120;
/// glueless.test.: SOA TTL 60, MINIMUM 900 → negative TTL 60.
const GLUELESS_NEG_TTL: u32 = 60;
/// The root: SOA TTL 86400, MINIMUM 1800 → negative TTL 1800 (below the
/// resolver's default one-hour negative cap).
const ROOT_NEG_TTL: u32 = 1800;
/// Number of A records at big.example.test. (answer > 512 bytes, < 1232).
const BIG_A: usize = 40;
/// Number of TXT records at bigtxt.example.test. (answer > 1232 bytes).
const BIG_TXT: usize = 12;

fn ip(k: u8, host: u8) -> Ipv4Addr {
    assert!((1..=254).contains(&k), "test octet out of range");
    Ipv4Addr::new(127, 53, k, host)
}

fn big_txt_string(i: usize) -> String {
    // 200 characters, distinct per record.
    let head = format!("record-{i:02}-");
    format!("{head}{}", "x".repeat(200 - head.len()))
}

/// The zones of the tree for test octet `k`.
fn zones(k: u8) -> Vec<(&'static str, Ipv4Addr, String)> {
    let root = format!(
        "$TTL 86400
@            86400  IN SOA a.root.test. hostmaster.root.test. 2024010101 1800 900 604800 {ROOT_NEG_TTL}
@            518400 IN NS  a.root.test.
a.root.test. 518400 IN A   {root}
test.        172800 IN NS  a.nic.test.
a.nic.test.  172800 IN A   {tld_test}
nettest.     172800 IN NS  a.nic.nettest.
a.nic.nettest. 172800 IN A {tld_net}
",
        root = ip(k, 2),
        tld_test = ip(k, 3),
        tld_net = ip(k, 4),
    );
    let test = format!(
        "$TTL 86400
@            3600  IN SOA a.nic.test. hostmaster.nic.test. 1 1800 900 604800 3600
@            86400 IN NS  a.nic.test.
a.nic        86400 IN A   {tld_test}
a.root       86400 IN A   {root}
example      86400 IN NS  ns1.example.test.
ns1.example  86400 IN A   {example}
glueless     86400 IN NS  ns1.provider.nettest.
",
        tld_test = ip(k, 3),
        root = ip(k, 2),
        example = ip(k, 5),
    );
    let nettest = format!(
        "$TTL 86400
@            3600  IN SOA a.nic.nettest. hostmaster.nic.nettest. 1 1800 900 604800 3600
@            86400 IN NS  a.nic.nettest.
a.nic        86400 IN A   {tld_net}
provider     86400 IN NS  ns1.provider.nettest.
ns1.provider 86400 IN A   {provider}
",
        tld_net = ip(k, 4),
        provider = ip(k, 6),
    );
    let mut example = format!(
        "$TTL {LEAF_TTL}
@       3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 3600 600 86400 {EXAMPLE_NEG_TTL}
@       3600 IN NS  ns1.example.test.
ns1     3600 IN A   {example}
www      {LEAF_TTL} IN A     192.0.2.10
www      {LEAF_TTL} IN AAAA  2001:db8::10
www      {LEAF_TTL} IN MX    10 mail.example.test.
www      {LEAF_TTL} IN TXT   \"hello from rootward\" \"second string\"
mail     {LEAF_TTL} IN A     192.0.2.25
alias    {LEAF_TTL} IN CNAME www.glueless.test.
chain    {LEAF_TTL} IN CNAME hop.glueless.test.
final    {LEAF_TTL} IN A     192.0.2.60
",
        example = ip(k, 5),
    );
    for i in 1..=BIG_A {
        example.push_str(&format!("big {LEAF_TTL} IN A 198.51.100.{i}\n"));
    }
    for i in 1..=BIG_TXT {
        example.push_str(&format!(
            "bigtxt {LEAF_TTL} IN TXT \"{}\"\n",
            big_txt_string(i)
        ));
    }
    let provider = format!(
        "$TTL 3600
@       3600 IN SOA ns1.provider.nettest. hostmaster.provider.nettest. 1 3600 600 86400 600
@       3600 IN NS  ns1.provider.nettest.
ns1     3600 IN A   {provider}
",
        provider = ip(k, 6),
    );
    let glueless = format!(
        "$TTL {LEAF_TTL}
@       {GLUELESS_NEG_TTL} IN SOA ns1.provider.nettest. hostmaster.glueless.test. 1 3600 600 86400 900
@       3600 IN NS  ns1.provider.nettest.
www     {LEAF_TTL} IN A     192.0.2.50
hop     {LEAF_TTL} IN CNAME final.example.test.
"
    );
    vec![
        (".", ip(k, 2), root),
        ("test.", ip(k, 3), test),
        ("nettest.", ip(k, 4), nettest),
        ("example.test.", ip(k, 5), example),
        ("provider.nettest.", ip(k, 6), provider),
        ("glueless.test.", ip(k, 6), glueless),
    ]
}

/// A running tree plus a resolver pointed at it.
struct Env {
    // Field order = drop order: the resolver stops before the tree.
    resolver: Option<Rootward>,
    _tree: NsdTree,
    client: Client,
}

impl Env {
    fn start(k: u8) -> Env {
        let z = zones(k);
        let spec: Vec<(&str, Ipv4Addr, &str)> =
            z.iter().map(|(n, a, t)| (*n, *a, t.as_str())).collect();
        let tree = NsdTree::start(&spec);
        let hints = write_root_hints(tree.dir(), &[("a.root.test.", IpAddr::V4(ip(k, 2)))]);
        let listen = SocketAddr::new(IpAddr::V4(ip(k, 1)), 53);
        let resolver = Rootward::start(listen, &hints, &[]);
        let client = Client::with_timeout(listen, Duration::from_secs(5));
        Env {
            resolver: Some(resolver),
            _tree: tree,
            client,
        }
    }

    fn resolver(&self) -> &Rootward {
        self.resolver.as_ref().expect("resolver running")
    }

    /// Context for assertion messages: the resolver's stderr tail.
    fn ctx(&self) -> String {
        self.resolver().tail()
    }
}

// ---------------------------------------------------------------------------
// Assertion helpers
// ---------------------------------------------------------------------------

/// Header and question checks every reply of a recursive resolver must pass.
fn assert_resolver_reply(q: &Message, r: &Message) {
    let s = summary(r);
    assert_eq!(r.metadata.id, q.metadata.id, "ID not copied: {s}");
    assert!(
        r.metadata.message_type == hickory_proto::op::MessageType::Response,
        "QR=0: {s}"
    );
    assert!(r.metadata.recursion_available, "RA=0: {s}");
    assert!(!r.metadata.authoritative, "AA=1 from a resolver: {s}");
    assert_eq!(
        r.metadata.recursion_desired, q.metadata.recursion_desired,
        "RD not copied: {s}"
    );
    assert_eq!(r.queries.len(), 1, "question count: {s}");
    assert!(
        r.queries[0].name().eq_case(q.queries[0].name()),
        "question name not echoed exactly: sent {}, got {}",
        q.queries[0].name(),
        r.queries[0].name()
    );
    assert_eq!(
        r.queries[0].query_type(),
        q.queries[0].query_type(),
        "question type: {s}"
    );
    assert_eq!(
        r.queries[0].query_class(),
        q.queries[0].query_class(),
        "question class: {s}"
    );
    match &q.edns {
        None => assert!(
            r.edns.is_none(),
            "OPT in reply to a query without EDNS: {s}"
        ),
        Some(_) => {
            let e = r
                .edns
                .as_ref()
                .unwrap_or_else(|| panic!("no OPT in reply to an EDNS query: {s}"));
            assert_eq!(e.max_payload(), 1232, "reply OPT payload size: {s}");
        }
    }
}

fn assert_rcode(r: &Message, rcode: ResponseCode) {
    assert_eq!(r.metadata.response_code, rcode, "rcode: {}", summary(r));
}

/// Asserts a NOERROR, untruncated answer and returns it.
fn assert_answered(q: &Message, r: &Message) {
    assert_resolver_reply(q, r);
    assert_rcode(r, ResponseCode::NoError);
    assert!(
        !r.metadata.truncation,
        "TC=1 on a small answer: {}",
        summary(r)
    );
    assert!(!r.answers.is_empty(), "empty answer: {}", summary(r));
}

/// All answer TTLs are within [lo, hi].
fn assert_answer_ttls(r: &Message, lo: u32, hi: u32) {
    for rec in &r.answers {
        assert!(
            (lo..=hi).contains(&rec.ttl),
            "answer TTL {} of {} {} not in {lo}..={hi}: {}",
            rec.ttl,
            rec.name,
            rec.record_type(),
            summary(r)
        );
    }
}

/// The single SOA of the authority section: (owner, TTL).
fn authority_soa(r: &Message) -> (String, u32) {
    let soas: Vec<_> = r
        .authorities
        .iter()
        .filter(|rec| rec.record_type() == RecordType::SOA)
        .collect();
    assert_eq!(
        soas.len(),
        1,
        "expected exactly one SOA in authority: {}",
        summary(r)
    );
    (support::client::owner(&soas[0].name), soas[0].ttl)
}

/// Checks a negative answer: rcode, empty answer, SOA of `zone` in authority
/// with a TTL in `neg_ttl - slack ..= neg_ttl`. Returns the SOA TTL.
fn assert_negative(
    q: &Message,
    r: &Message,
    rcode: ResponseCode,
    zone: &str,
    neg_ttl: u32,
    slack: u32,
) -> u32 {
    assert_resolver_reply(q, r);
    assert_rcode(r, rcode);
    assert!(!r.metadata.truncation, "TC=1: {}", summary(r));
    assert!(
        r.answers.is_empty(),
        "answer section not empty: {}",
        summary(r)
    );
    let (owner, ttl) = authority_soa(r);
    assert_eq!(owner, zone, "SOA owner in authority: {}", summary(r));
    assert!(
        ttl <= neg_ttl && ttl + slack >= neg_ttl,
        "negative TTL {ttl} is not min(SOA TTL, MINIMUM) = {neg_ttl} (allowing {slack}s countdown): {}",
        summary(r)
    );
    ttl
}

fn udp(env: &Env, q: &Message) -> Message {
    let r = env.client.send_udp(q);
    assert_resolver_reply(q, &r);
    r
}

fn tcp(env: &Env, q: &Message) -> Message {
    let r = env.client.send_tcp(q);
    assert_resolver_reply(q, &r);
    r
}

/// Checks the www.example.test. records of each type, whatever the transport.
fn check_www(q: &Message, r: &Message) {
    assert_answered(q, r);
    let qtype = q.queries[0].query_type();
    assert_eq!(
        answer_types(r),
        vec![("www.example.test.".to_string(), qtype)],
        "answer: {}",
        summary(r)
    );
    assert_answer_ttls(r, 1, LEAF_TTL);
    match (&r.answers[0].data, qtype) {
        (RData::A(a), RecordType::A) => assert_eq!(a.0, Ipv4Addr::new(192, 0, 2, 10)),
        (RData::AAAA(a), RecordType::AAAA) => {
            assert_eq!(a.0, "2001:db8::10".parse::<Ipv6Addr>().unwrap())
        }
        (RData::MX(mx), RecordType::MX) => {
            assert_eq!(mx.preference, 10);
            assert_eq!(support::client::owner(&mx.exchange), "mail.example.test.");
        }
        (RData::TXT(txt), RecordType::TXT) => {
            let strings: Vec<&[u8]> = txt.txt_data.iter().map(|s| &s[..]).collect();
            assert_eq!(
                strings,
                vec![&b"hello from rootward"[..], &b"second string"[..]],
                "TXT strings: {}",
                summary(r)
            );
        }
        (other, t) => panic!("unexpected rdata {other:?} for {t}: {}", summary(r)),
    }
}

const WWW_TYPES: [RecordType; 4] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::MX,
    RecordType::TXT,
];

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// A/AAAA/MX/TXT over UDP (with and without EDNS); header flags, ID, RD.
#[test]
fn udp_answers_a_aaaa_mx_txt() {
    let env = Env::start(1);
    for qtype in WWW_TYPES {
        let q = query("www.example.test.", qtype);
        let r = udp(&env, &q);
        check_www(&q, &r);
    }
    // Again from the cache, now with EDNS: same data, OPT in the reply.
    for qtype in WWW_TYPES {
        let q = edns_query("www.example.test.", qtype, 4096);
        let r = udp(&env, &q);
        check_www(&q, &r);
        assert!(r.edns.is_some());
    }
    // RD=0 is copied back (and RA stays 1).
    let mut q = query("www.example.test.", RecordType::A);
    q.metadata.recursion_desired = false;
    let r = udp(&env, &q);
    assert!(
        !r.metadata.recursion_desired,
        "RD=0 not copied: {}",
        summary(&r)
    );
    drop(env);
}

/// The same over TCP, one query per connection and pipelined on one connection.
#[test]
fn tcp_answers_a_aaaa_mx_txt() {
    let env = Env::start(2);
    for qtype in WWW_TYPES {
        let q = query("www.example.test.", qtype);
        let r = tcp(&env, &q);
        check_www(&q, &r);
    }
    let qs: Vec<Message> = WWW_TYPES
        .iter()
        .map(|t| query("www.example.test.", *t))
        .collect();
    let mut ids: Vec<u16> = qs.iter().map(|q| q.metadata.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), qs.len(), "random IDs collided; rerun");
    let rs = env.client.tcp_pipelined(&qs);
    for (q, r) in qs.iter().zip(&rs) {
        check_www(q, r);
    }
    // A TCP query for a name not yet cached (resolution happens over TCP).
    let q = query("mail.example.test.", RecordType::A);
    let r = tcp(&env, &q);
    assert_answered(&q, &r);
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 25)]);
}

/// The question comes back byte for byte (0x20 mixed case), over UDP and TCP.
#[test]
fn question_echoed_exactly_mixed_case() {
    let env = Env::start(3);
    let name = "WwW.ExAmple.TEST.";
    let question = raw_question(name, RecordType::A);
    for transport in ["udp", "tcp", "udp-cached", "tcp-cached"] {
        let id: u16 = query(".", RecordType::A).metadata.id; // a random ID
        let bytes = raw_query(id, true, name, RecordType::A);
        let reply = if transport.starts_with("udp") {
            env.client.udp_raw(&bytes)
        } else {
            env.client.tcp_raw(&bytes)
        }
        .unwrap_or_else(|| panic!("{transport}: no reply\n{}", env.ctx()));
        assert!(
            reply.len() >= 12 + question.len(),
            "{transport}: short reply"
        );
        assert_eq!(&reply[..2], &id.to_be_bytes(), "{transport}: ID");
        let (qr, aa, tc, rd, ra, rcode) = raw_flags(&reply);
        assert!(
            qr && ra && rd && !aa && !tc,
            "{transport}: flags qr={qr} aa={aa} tc={tc} rd={rd} ra={ra}"
        );
        assert_eq!(rcode, 0, "{transport}: rcode");
        assert_eq!(&reply[4..6], &[0, 1], "{transport}: QDCOUNT");
        assert_eq!(
            &reply[12..12 + question.len()],
            &question[..],
            "{transport}: question section not echoed byte for byte"
        );
        let msg = Message::from_vec(&reply).expect("decodable reply");
        assert_eq!(
            a_records(&msg),
            vec![Ipv4Addr::new(192, 0, 2, 10)],
            "{transport}: {}",
            summary(&msg)
        );
    }
}

/// A CNAME chain crossing zones and servers: every CNAME and the final A
/// arrive in one response, in chain order.
#[test]
fn cname_chain_across_zones() {
    let env = Env::start(4);
    // One hop: example.test. → glueless.test. (glueless delegation on the way).
    let q = query("alias.example.test.", RecordType::A);
    let r = udp(&env, &q);
    assert_answered(&q, &r);
    assert_eq!(
        answer_types(&r),
        vec![
            ("alias.example.test.".to_string(), RecordType::CNAME),
            ("www.glueless.test.".to_string(), RecordType::A),
        ],
        "{}",
        summary(&r)
    );
    match &r.answers[0].data {
        RData::CNAME(c) => assert_eq!(support::client::owner(&c.0), "www.glueless.test."),
        other => panic!("expected CNAME rdata, got {other:?}"),
    }
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 50)]);
    assert_answer_ttls(&r, 1, LEAF_TTL);

    // Two hops: example.test. → glueless.test. → back to example.test.
    for via_tcp in [false, true] {
        let q = query("chain.example.test.", RecordType::A);
        let r = if via_tcp {
            tcp(&env, &q)
        } else {
            udp(&env, &q)
        };
        assert_answered(&q, &r);
        assert_eq!(
            answer_types(&r),
            vec![
                ("chain.example.test.".to_string(), RecordType::CNAME),
                ("hop.glueless.test.".to_string(), RecordType::CNAME),
                ("final.example.test.".to_string(), RecordType::A),
            ],
            "tcp={via_tcp}: {}",
            summary(&r)
        );
        assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 60)]);
        assert_answer_ttls(&r, 1, LEAF_TTL);
    }
}

/// glueless.test. is delegated to ns1.provider.nettest. without glue: the
/// resolver must resolve the NS name itself (through another TLD).
#[test]
fn glueless_delegation_resolves() {
    let env = Env::start(5);
    let q = query("www.glueless.test.", RecordType::A);
    let r = udp(&env, &q);
    assert_answered(&q, &r);
    assert_eq!(
        answer_types(&r),
        vec![("www.glueless.test.".to_string(), RecordType::A)],
        "{}",
        summary(&r)
    );
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 50)]);
    assert_answer_ttls(&r, LEAF_TTL - 5, LEAF_TTL);
    // And the provider's own name resolves too (it was needed on the way).
    let q = query("ns1.provider.nettest.", RecordType::A);
    let r = tcp(&env, &q);
    assert_answered(&q, &r);
    assert_eq!(a_records(&r), vec![ip(5, 6)]);
}

/// NXDOMAIN and NODATA carry the zone's SOA in authority with
/// TTL = min(SOA TTL, SOA MINIMUM), for both orders of the two values.
#[test]
fn nxdomain_and_nodata() {
    let env = Env::start(6);
    // example.test.: SOA TTL 3600 > MINIMUM 120.
    let q = query("nope.example.test.", RecordType::A);
    let r = udp(&env, &q);
    assert_negative(
        &q,
        &r,
        ResponseCode::NXDomain,
        "example.test.",
        EXAMPLE_NEG_TTL,
        3,
    );
    let q = query("deeper.nope.example.test.", RecordType::AAAA);
    let r = tcp(&env, &q);
    assert_negative(
        &q,
        &r,
        ResponseCode::NXDomain,
        "example.test.",
        EXAMPLE_NEG_TTL,
        3,
    );
    // NODATA: the name exists, the type does not.
    let q = query("www.example.test.", RecordType::SRV);
    let r = udp(&env, &q);
    assert_negative(
        &q,
        &r,
        ResponseCode::NoError,
        "example.test.",
        EXAMPLE_NEG_TTL,
        3,
    );
    let q = query("mail.example.test.", RecordType::AAAA);
    let r = tcp(&env, &q);
    assert_negative(
        &q,
        &r,
        ResponseCode::NoError,
        "example.test.",
        EXAMPLE_NEG_TTL,
        3,
    );
    // glueless.test.: SOA TTL 60 < MINIMUM 900.
    let q = query("nope.glueless.test.", RecordType::A);
    let r = udp(&env, &q);
    assert_negative(
        &q,
        &r,
        ResponseCode::NXDomain,
        "glueless.test.",
        GLUELESS_NEG_TTL,
        3,
    );
    let q = query("www.glueless.test.", RecordType::AAAA);
    let r = udp(&env, &q);
    assert_negative(
        &q,
        &r,
        ResponseCode::NoError,
        "glueless.test.",
        GLUELESS_NEG_TTL,
        3,
    );
    // A name under a TLD the root does not know: NXDOMAIN from the root.
    let q = query("www.no-such-tld.", RecordType::A);
    let r = udp(&env, &q);
    assert_negative(&q, &r, ResponseCode::NXDomain, ".", ROOT_NEG_TTL, 3);
    // The same negative answers again (from the cache): unchanged rcode and SOA.
    let q = edns_query("nope.example.test.", RecordType::A, 1232);
    let r = udp(&env, &q);
    assert_negative(
        &q,
        &r,
        ResponseCode::NXDomain,
        "example.test.",
        EXAMPLE_NEG_TTL,
        5,
    );
    let q = query("www.example.test.", RecordType::SRV);
    let r = tcp(&env, &q);
    assert_negative(
        &q,
        &r,
        ResponseCode::NoError,
        "example.test.",
        EXAMPLE_NEG_TTL,
        5,
    );
}

/// Large RRsets: UDP without EDNS (512), UDP with EDNS 4096 (capped at 1232)
/// and TCP (complete).
#[test]
fn big_answers_truncate_on_udp_and_complete_on_tcp() {
    let env = Env::start(7);
    let all_big: Vec<Ipv4Addr> = (1..=BIG_A as u8)
        .map(|i| Ipv4Addr::new(198, 51, 100, i))
        .collect();

    // UDP, no EDNS: 40 A records (~670 bytes) do not fit in 512.
    let q = query("big.example.test.", RecordType::A);
    let raw = env
        .client
        .udp_raw(&q.to_vec().unwrap())
        .unwrap_or_else(|| panic!("no UDP reply for big.example.test\n{}", env.ctx()));
    assert!(
        raw.len() <= 512,
        "UDP reply without EDNS is {} > 512 bytes",
        raw.len()
    );
    let r = Message::from_vec(&raw).expect("decodable");
    assert_resolver_reply(&q, &r);
    assert_rcode(&r, ResponseCode::NoError);
    assert!(
        r.metadata.truncation,
        "TC=0 on a 40-record answer over 512-byte UDP: {}",
        summary(&r)
    );
    let got = a_records(&r);
    assert!(
        got.is_empty() || got == all_big,
        "truncated answer holds a partial RRset ({} of {BIG_A} records): {}",
        got.len(),
        summary(&r)
    );

    // TCP: all 40.
    let q = query("big.example.test.", RecordType::A);
    let r = tcp(&env, &q);
    assert_answered(&q, &r);
    assert_eq!(a_records(&r), all_big, "{}", summary(&r));
    assert_answer_ttls(&r, 1, LEAF_TTL);

    // UDP with EDNS 4096: capped at 1232, and 40 A records fit → complete, TC=0.
    let q = edns_query("big.example.test.", RecordType::A, 4096);
    let raw = env.client.udp_raw(&q.to_vec().unwrap()).expect("UDP reply");
    assert!(
        raw.len() <= 1232,
        "EDNS UDP reply is {} > 1232 bytes",
        raw.len()
    );
    let r = Message::from_vec(&raw).expect("decodable");
    assert_resolver_reply(&q, &r);
    assert_rcode(&r, ResponseCode::NoError);
    assert!(
        !r.metadata.truncation,
        "TC=1 although the answer fits: {} bytes, {}",
        raw.len(),
        summary(&r)
    );
    assert_eq!(a_records(&r), all_big, "{}", summary(&r));

    // bigtxt: 12 × 200-byte TXT (~2.5 kB) exceeds even 1232.
    let q = edns_query("bigtxt.example.test.", RecordType::TXT, 4096);
    let raw = env
        .client
        .udp_raw(&q.to_vec().unwrap())
        .unwrap_or_else(|| panic!("no UDP reply for bigtxt.example.test\n{}", env.ctx()));
    assert!(
        raw.len() <= 1232,
        "EDNS UDP reply is {} > 1232 bytes",
        raw.len()
    );
    let r = Message::from_vec(&raw).expect("decodable");
    assert_resolver_reply(&q, &r);
    assert_rcode(&r, ResponseCode::NoError);
    assert!(
        r.metadata.truncation,
        "TC=0 on a ~2.5 kB answer over UDP: {} bytes, {}",
        raw.len(),
        summary(&r)
    );
    assert!(
        r.answers.is_empty(),
        "a truncated UDP reply holds part of a {BIG_TXT}-record TXT RRset that cannot fit: {}",
        summary(&r)
    );

    // The same without EDNS: still TC=1, <= 512 bytes, no partial RRset.
    let q = query("bigtxt.example.test.", RecordType::TXT);
    let raw = env.client.udp_raw(&q.to_vec().unwrap()).expect("UDP reply");
    assert!(
        raw.len() <= 512,
        "UDP reply without EDNS is {} > 512 bytes",
        raw.len()
    );
    let r = Message::from_vec(&raw).expect("decodable");
    assert_resolver_reply(&q, &r);
    assert!(r.metadata.truncation, "TC=0: {}", summary(&r));
    assert!(r.answers.is_empty(), "partial RRset: {}", summary(&r));

    // TCP: all 12 TXT records, intact.
    for q in [
        query("bigtxt.example.test.", RecordType::TXT),
        edns_query("bigtxt.example.test.", RecordType::TXT, 4096),
    ] {
        let r = tcp(&env, &q);
        assert_answered(&q, &r);
        let mut got: Vec<String> = r
            .answers
            .iter()
            .map(|rec| match &rec.data {
                RData::TXT(t) => t
                    .txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
                other => panic!("non-TXT record in bigtxt answer: {other:?}"),
            })
            .collect();
        got.sort();
        let want: Vec<String> = (1..=BIG_TXT).map(big_txt_string).collect();
        assert_eq!(got, want, "TCP bigtxt answer: {}", summary(&r));
    }
}

/// Cached TTLs count down: two queries ~2 s apart, the second TTL is lower by
/// about 2 s and no TTL is ever above the zone's.
#[test]
fn ttl_counts_down_in_cache() {
    let env = Env::start(8);
    let q = query("www.example.test.", RecordType::A);
    let r1 = udp(&env, &q);
    assert_answered(&q, &r1);
    let t1 = min_answer_ttl(&r1);
    assert!(
        (LEAF_TTL - 2..=LEAF_TTL).contains(&t1),
        "fresh TTL {t1} not near the zone's {LEAF_TTL}: {}",
        summary(&r1)
    );
    let qn = query("nope.example.test.", RecordType::A);
    let n1 = udp(&env, &qn);
    let neg1 = assert_negative(
        &qn,
        &n1,
        ResponseCode::NXDomain,
        "example.test.",
        EXAMPLE_NEG_TTL,
        2,
    );

    sleep(Duration::from_millis(2_100));

    let q = query("www.example.test.", RecordType::A);
    let r2 = udp(&env, &q);
    assert_answered(&q, &r2);
    let t2 = min_answer_ttl(&r2);
    assert!(
        t2 < t1 && t1 - t2 >= 1 && t1 - t2 <= 3,
        "TTL did not count down by ~2 s: first {t1}, after 2.1 s {t2}"
    );
    assert_eq!(a_records(&r2), vec![Ipv4Addr::new(192, 0, 2, 10)]);

    let qn = query("nope.example.test.", RecordType::A);
    let n2 = tcp(&env, &qn);
    let neg2 = assert_negative(
        &qn,
        &n2,
        ResponseCode::NXDomain,
        "example.test.",
        EXAMPLE_NEG_TTL,
        5,
    );
    assert!(
        neg2 < neg1 && neg1 - neg2 >= 1 && neg1 - neg2 <= 3,
        "negative TTL did not count down by ~2 s: first {neg1}, after 2.1 s {neg2}"
    );
}

/// SIGTERM after serving queries: exit status 0.
#[test]
fn sigterm_exits_zero() {
    let mut env = Env::start(9);
    let q = query("www.example.test.", RecordType::A);
    let r = udp(&env, &q);
    assert_answered(&q, &r);
    let rw = env.resolver.take().unwrap();
    let status = rw.stop();
    assert!(status.success(), "rootward exited with {status} on SIGTERM");
    assert_eq!(status.code(), Some(0));
}

/// SIGTERM while a client holds an idle TCP connection: still exit status 0.
#[test]
fn sigterm_exits_zero_with_idle_tcp_client() {
    let mut env = Env::start(10);
    let q = query("www.example.test.", RecordType::A);
    let r = tcp(&env, &q);
    assert_answered(&q, &r);
    let idle = TcpStream::connect_timeout(&env.client.server, Duration::from_secs(2))
        .expect("connect idle TCP client");
    let rw = env.resolver.take().unwrap();
    let status = rw.stop();
    drop(idle);
    assert!(status.success(), "rootward exited with {status} on SIGTERM");
    assert_eq!(status.code(), Some(0));
}

/// Runs a DNS tool (dig or kdig) against the resolver and returns stdout;
/// a missing tool fails with the install command (the suite never skips).
fn tool(program: &str, package: &str, args: &[String]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is not installed ({e}): run `apt-get install -y {package}`")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The real clients people use: dig and kdig, over UDP and TCP.
#[test]
fn dig_and_kdig_get_correct_answers_over_udp_and_tcp() {
    let env = Env::start(11);
    let server = ip(11, 1).to_string();
    for transport in ["+notcp", "+tcp"] {
        let dig = |name: &str, qtype: &str, extra: &[&str]| {
            let mut args = vec![
                format!("@{server}"),
                "-p".into(),
                "53".into(),
                transport.into(),
            ];
            args.extend(["+time=5", "+tries=1"].map(String::from));
            args.extend(extra.iter().map(|s| s.to_string()));
            args.extend([name.to_string(), qtype.to_string()]);
            tool("dig", "dnsutils", &args)
        };
        let short = dig("www.example.test.", "A", &["+short"]);
        assert_eq!(
            short.trim(),
            "192.0.2.10",
            "{transport}: {short}\n{}",
            env.ctx()
        );
        let full = dig("alias.example.test.", "A", &[]);
        assert!(full.contains("status: NOERROR"), "{transport}: {full}");
        assert!(full.contains("flags: qr rd ra;"), "{transport}: {full}");
        assert!(
            full.contains("CNAME\twww.glueless.test."),
            "{transport}: {full}"
        );
        let nx = dig("nope.example.test.", "A", &[]);
        assert!(nx.contains("status: NXDOMAIN"), "{transport}: {nx}");
        assert!(nx.contains("SOA"), "{transport}: {nx}");

        let mut args = vec![format!("@{server}"), transport.to_string()];
        args.extend(["+time=5", "+retry=0"].map(String::from));
        args.extend(["www.example.test.".to_string(), "AAAA".to_string()]);
        let kdig = tool("kdig", "knot-dnsutils", &args);
        assert!(kdig.contains("status: NOERROR"), "{transport}: {kdig}");
        assert!(kdig.contains("2001:db8::10"), "{transport}: {kdig}");
    }
}
