//! End-to-end DNSSEC suite: the rootward binary validating through a loopback
//! tree of NSD servers whose zones are signed (with ldns) when the test
//! starts, with a trust anchor for that tree's root passed by
//! `--trust-anchor`.
//!
//! Every test builds its own keys, zones, tree and resolver on its own /24
//! inside 127.63.0.0/16 (test k uses 127.63.k.x), so tests run in parallel.
//! Each test starts only the zones it needs; a zone's parent is added
//! automatically. Every zone has its own server address, so the queries one
//! zone's server receives can be counted.
//!
//! | address     | zone                   | how it is signed / broken              |
//! |-------------|------------------------|----------------------------------------|
//! | 127.63.k.1  | (rootward)             |                                        |
//! | 127.63.k.2  | `.`                    | RSASHA256, NSEC; anchor = its KSK's DS |
//! | 127.63.k.3  | `test.`                | ECDSAP256SHA256, NSEC                  |
//! | 127.63.k.4  | `nsec.test.`           | NSEC                                   |
//! | 127.63.k.5  | `nsec3.test.`          | NSEC3, 0 iterations, no salt           |
//! | 127.63.k.6  | `iter.test.`           | NSEC3, 100 iterations                  |
//! | 127.63.k.7  | `insecure.test.`       | unsigned, no DS in `test.`             |
//! | 127.63.k.8  | `badsig.test.`         | RRSIG of www A corrupted               |
//! | 127.63.k.9  | `dsmismatch.test.`     | DS in `test.` from an unpublished key  |
//! | 127.63.k.10 | `expired.test.`        | every signature expired yesterday      |
//! | 127.63.k.11 | `nosig.test.`          | RRSIG of www A removed                 |
//! | 127.63.k.12 | `wild.test.`           | NSEC, `*.wild.test.` A and TXT         |
//! | 127.63.k.13 | `keytrap.test.`        | 20 keys sharing one key tag, every     |
//! |             |                        | RRset signed by all, data sigs corrupt |
//! | 127.63.k.14 | `unsigned.nsec3.test.` | unsigned, no DS in `nsec3.test.`       |
//! | 127.63.k.15 | `optout.test.`         | NSEC3 with the opt-out flag            |
//! | 127.63.k.16 | `child.optout.test.`   | unsigned, no DS in `optout.test.`      |
//! | 127.63.k.17 | `ed25519.test.`        | ED25519, NSEC                          |
//!
//! Queries are hand-built so that EDNS DO, AD and CD can be set; extended
//! DNS errors (RFC 8914, option 15) are read from the reply's OPT record.
//!
//! What NSD 4.6 sends to a DO=1 query in these zones (checked with dig): a
//! referral carries the DS RRset and its RRSIG, or for an unsigned child the
//! NSEC (or the matching NSEC3) proving there is no DS, with its RRSIG; a
//! negative answer carries the SOA with its TTL lowered to the SOA MINIMUM
//! (300) while its RRSIG keeps the original TTL (3600), plus the NSEC or
//! NSEC3 records (NXDOMAIN under NSEC3: two NSEC3s here, as one covers
//! both the next closer name and the wildcard); positive and wildcard
//! answers carry the zone's NS RRset and RRSIG in the authority section
//! (`minimal-responses: no`). A DS query sent to the child's server gets the
//! child's NODATA, not the DS.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

use support::client::{Client, a_records, ede, owner, query, summary};
use support::nsd::{NsdTree, Zone};
use support::process::{Rootward, write_root_hints};
use support::signer::{self, Algorithm, Denial, Options, Select, SignedZone};

// ---------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------

/// EDE INFO-CODEs of RFC 8914 the contract names.
const EDE_DNSSEC_BOGUS: u16 = 6;
const EDE_SIGNATURE_EXPIRED: u16 = 7;
const EDE_DNSKEY_MISSING: u16 = 9;
const EDE_RRSIGS_MISSING: u16 = 10;

/// Number of keys (all with one key tag) in keytrap.test.
const KEYTRAP_KEYS: usize = 20;

fn ip(k: u8, host: u8) -> Ipv4Addr {
    assert!((1..=254).contains(&k), "test octet out of range");
    Ipv4Addr::new(127, 63, k, host)
}

/// The zones below `test.` a test can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Leaf {
    Nsec,
    Nsec3,
    Iter,
    Insecure,
    BadSig,
    DsMismatch,
    Expired,
    NoSig,
    Wild,
    KeyTrap,
    UnsignedUnderNsec3,
    OptOut,
    UnsignedUnderOptOut,
    Ed25519,
}

impl Leaf {
    fn apex(self) -> &'static str {
        match self {
            Leaf::Nsec => "nsec.test.",
            Leaf::Nsec3 => "nsec3.test.",
            Leaf::Iter => "iter.test.",
            Leaf::Insecure => "insecure.test.",
            Leaf::BadSig => "badsig.test.",
            Leaf::DsMismatch => "dsmismatch.test.",
            Leaf::Expired => "expired.test.",
            Leaf::NoSig => "nosig.test.",
            Leaf::Wild => "wild.test.",
            Leaf::KeyTrap => "keytrap.test.",
            Leaf::UnsignedUnderNsec3 => "unsigned.nsec3.test.",
            Leaf::OptOut => "optout.test.",
            Leaf::UnsignedUnderOptOut => "child.optout.test.",
            Leaf::Ed25519 => "ed25519.test.",
        }
    }

    fn host(self) -> u8 {
        match self {
            Leaf::Nsec => 4,
            Leaf::Nsec3 => 5,
            Leaf::Iter => 6,
            Leaf::Insecure => 7,
            Leaf::BadSig => 8,
            Leaf::DsMismatch => 9,
            Leaf::Expired => 10,
            Leaf::NoSig => 11,
            Leaf::Wild => 12,
            Leaf::KeyTrap => 13,
            Leaf::UnsignedUnderNsec3 => 14,
            Leaf::OptOut => 15,
            Leaf::UnsignedUnderOptOut => 16,
            Leaf::Ed25519 => 17,
        }
    }

    /// The parent zone if it is not `test.`.
    fn parent(self) -> Option<Leaf> {
        match self {
            Leaf::UnsignedUnderNsec3 => Some(Leaf::Nsec3),
            Leaf::UnsignedUnderOptOut => Some(Leaf::OptOut),
            _ => None,
        }
    }

    /// How the zone is signed; `None` for an unsigned zone.
    fn signing(self) -> Option<Options> {
        let nsec3 = |iterations, opt_out| Denial::Nsec3 {
            iterations,
            opt_out,
        };
        let o = match self {
            Leaf::Insecure | Leaf::UnsignedUnderNsec3 | Leaf::UnsignedUnderOptOut => return None,
            Leaf::Nsec | Leaf::Wild => Options::default(),
            Leaf::Nsec3 => Options {
                denial: nsec3(0, false),
                ..Options::default()
            },
            Leaf::Iter => Options {
                denial: nsec3(100, false),
                ..Options::default()
            },
            Leaf::OptOut => Options {
                denial: nsec3(0, true),
                ..Options::default()
            },
            Leaf::BadSig => Options {
                corrupt: vec![Select::rrset("www.badsig.test.", "A")],
                ..Options::default()
            },
            Leaf::DsMismatch => Options {
                ds_from_unpublished_key: true,
                ..Options::default()
            },
            Leaf::Expired => Options {
                expired: true,
                ..Options::default()
            },
            Leaf::NoSig => Options {
                strip: vec![Select::rrset("www.nosig.test.", "A")],
                ..Options::default()
            },
            Leaf::KeyTrap => Options {
                colliding_keys: KEYTRAP_KEYS,
                corrupt: vec![Select::AllButDnskey],
                ..Options::default()
            },
            Leaf::Ed25519 => Options {
                algorithm: Algorithm::Ed25519,
                ..Options::default()
            },
        };
        Some(o)
    }

    /// The address of www.<apex> (distinct per zone).
    fn www(self) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, self.host())
    }

    /// The zone's own records (delegations to children are added by the
    /// builder).
    fn body(self, k: u8) -> String {
        let apex = self.apex();
        let n = self.host();
        let mut z = format!(
            "$TTL 300
{apex} 3600 IN SOA ns1.{apex} hostmaster.{apex} 1 3600 600 86400 300
{apex} 3600 IN NS  ns1.{apex}
ns1.{apex} 3600 IN A {addr}
www.{apex} 300 IN A 192.0.2.{n}
www.{apex} 300 IN AAAA 2001:db8::{n}
www.{apex} 300 IN TXT \"www in {apex}\"
",
            addr = ip(k, n),
        );
        let extra = match self {
            // Names are chosen so that nothing sorts between ns1 and www:
            // one NSEC (ns1 → www) covers nx1, nx2, ... (aggressive NSEC).
            Leaf::Nsec => format!(
                "alias.{apex} 300 IN CNAME www.nsec3.test.
alias-insecure.{apex} 300 IN CNAME www.insecure.test.
"
            ),
            Leaf::Nsec3 => format!("*.any.{apex} 300 IN A 192.0.2.88\n"),
            Leaf::BadSig | Leaf::NoSig | Leaf::OptOut => {
                format!("ok.{apex} 300 IN A 192.0.2.200\n")
            }
            Leaf::Wild => format!(
                "*.{apex} 300 IN A 192.0.2.77
*.{apex} 300 IN TXT \"wildcard\"
"
            ),
            Leaf::KeyTrap => format!("*.{apex} 300 IN A 192.0.2.99\n"),
            _ => String::new(),
        };
        z.push_str(&extra);
        z
    }
}

/// Which trust anchor the resolver gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// `--trust-anchor` with the root KSK's DS.
    Ds,
    /// `--trust-anchor` with the root KSK's DNSKEY.
    Dnskey,
    /// `--trust-anchor` with a DS of a key the root does not publish.
    Wrong,
    /// `--no-dnssec`.
    ValidationOff,
    /// No flag at all (`--dnssec-default` to the harness): the built-in
    /// anchor, i.e. the real root KSK.
    BuiltIn,
}

/// NS + glue (+ DS) lines for `child` in its parent.
fn delegation(k: u8, child: Leaf, signed: Option<&SignedZone>) -> String {
    let apex = child.apex();
    let mut s = format!(
        "{apex} 3600 IN NS ns1.{apex}\nns1.{apex} 3600 IN A {}\n",
        ip(k, child.host())
    );
    if let Some(z) = signed {
        s.push_str(&z.ds_text());
    }
    s
}

/// The zones of a tree with `leaves` (and their parents), signed; plus the
/// signed root.
fn build_zones(k: u8, leaves: &[Leaf], wrong_anchor: bool) -> (Vec<Zone>, SignedZone) {
    let mut set: BTreeSet<Leaf> = BTreeSet::new();
    for &l in leaves {
        let mut cur = Some(l);
        // Bounded: parent chains are at most two long.
        for _ in 0..4 {
            let Some(c) = cur else { break };
            set.insert(c);
            cur = c.parent();
        }
    }
    // Children before parents: deeper names first.
    let mut order: Vec<Leaf> = set.iter().copied().collect();
    order.sort_by_key(|l| std::cmp::Reverse(l.apex().matches('.').count()));

    let mut signed: Vec<(Leaf, Option<SignedZone>)> = Vec::new();
    let mut zones = Vec::new();
    for &leaf in &order {
        let mut text = leaf.body(k);
        for (child, z) in &signed {
            if child.parent() == Some(leaf) {
                text.push_str(&delegation(k, *child, z.as_ref()));
            }
        }
        let z = leaf
            .signing()
            .map(|opts| signer::sign(leaf.apex(), &text, &opts));
        let served = z.as_ref().map(|z| z.text.clone()).unwrap_or(text);
        zones.push(Zone::new(leaf.apex(), ip(k, leaf.host()), &served));
        signed.push((leaf, z));
    }

    let mut tld = format!(
        "$TTL 86400
test. 3600 IN SOA a.nic.test. hostmaster.nic.test. 1 1800 900 604800 3600
test. 86400 IN NS a.nic.test.
a.nic.test. 86400 IN A {tld}
a.root.test. 86400 IN A {root}
",
        tld = ip(k, 3),
        root = ip(k, 2),
    );
    for (child, z) in &signed {
        if child.parent().is_none() {
            tld.push_str(&delegation(k, *child, z.as_ref()));
        }
    }
    let tld = signer::sign("test.", &tld, &Options::default());

    let root = format!(
        "$TTL 86400
. 86400 IN SOA a.root.test. hostmaster.root.test. 1 1800 900 604800 1800
. 518400 IN NS a.root.test.
a.root.test. 518400 IN A {root}
test. 172800 IN NS a.nic.test.
a.nic.test. 172800 IN A {tld_addr}
{ds}",
        root = ip(k, 2),
        tld_addr = ip(k, 3),
        ds = tld.ds_text(),
    );
    let root = signer::sign(
        ".",
        &root,
        &Options {
            algorithm: Algorithm::RsaSha256,
            ds_from_unpublished_key: wrong_anchor,
            ..Options::default()
        },
    );
    zones.push(Zone::new(".", ip(k, 2), &root.text));
    zones.push(Zone::new("test.", ip(k, 3), &tld.text));
    (zones, root)
}

/// A running signed tree plus a resolver pointed at it.
struct Env {
    // Field order = drop order: the resolver stops before the tree.
    resolver: Option<Rootward>,
    tree: NsdTree,
    k: u8,
    client: Client,
}

impl Env {
    /// The tree with `leaves`, and rootward with the root's DS as anchor.
    fn start(k: u8, leaves: &[Leaf]) -> Env {
        Env::start_with(k, leaves, Anchor::Ds, &[])
    }

    fn start_with(k: u8, leaves: &[Leaf], anchor: Anchor, extra: &[&str]) -> Env {
        let (zones, root) = build_zones(k, leaves, anchor == Anchor::Wrong);
        let tree = NsdTree::start_zones(&zones);
        let hints = write_root_hints(tree.dir(), &[("a.root.test.", IpAddr::V4(ip(k, 2)))]);
        let anchor_file: PathBuf = tree.dir().join("root.key");
        let anchor_text = match anchor {
            Anchor::Dnskey => root.trust_anchor_dnskey(),
            _ => root.trust_anchor_ds(),
        };
        fs::write(&anchor_file, anchor_text).expect("write trust anchor");
        let anchor_path = anchor_file.display().to_string();
        let mut args: Vec<&str> = match anchor {
            Anchor::Ds | Anchor::Dnskey | Anchor::Wrong => vec!["--trust-anchor", &anchor_path],
            Anchor::ValidationOff => vec!["--no-dnssec"],
            Anchor::BuiltIn => vec!["--dnssec-default"],
        };
        args.extend_from_slice(extra);
        let listen = SocketAddr::new(IpAddr::V4(ip(k, 1)), 53);
        let resolver = Rootward::start(listen, &hints, &args);
        Env {
            resolver: Some(resolver),
            tree,
            k,
            client: Client::with_timeout(listen, Duration::from_secs(5)),
        }
    }

    fn resolver(&self) -> &Rootward {
        self.resolver.as_ref().expect("resolver running")
    }

    /// Context for assertion messages: the resolver's stderr tail.
    fn ctx(&self) -> String {
        self.resolver().tail()
    }

    /// Sends `name`/`qtype` with `bits` over UDP (1232-byte EDNS buffer when
    /// EDNS is on); retries over TCP if the reply is truncated.
    fn ask(&self, name: &str, qtype: RecordType, bits: Bits) -> Message {
        let q = bits.message(name, qtype);
        let mut r = self.client.send_udp(&q);
        if r.metadata.truncation {
            r = self.client.send_tcp(&q);
        }
        check_reply(&q, &r);
        r
    }

    /// Queries received so far by the server of `leaf`.
    fn queries_at(&self, leaf: Leaf) -> u64 {
        self.tree.query_count(ip(self.k, leaf.host()))
    }
}

// ---------------------------------------------------------------------------
// Queries and assertions
// ---------------------------------------------------------------------------

/// Header bits and EDNS of a query.
#[derive(Debug, Clone, Copy, Default)]
struct Bits {
    edns: bool,
    dnssec_ok: bool,
    ad: bool,
    cd: bool,
}

/// EDNS with DO=1 (what a validating stub sends).
const DO: Bits = Bits {
    edns: true,
    dnssec_ok: true,
    ad: false,
    cd: false,
};
/// EDNS with DO=1 and CD=1.
const DO_CD: Bits = Bits {
    edns: true,
    dnssec_ok: true,
    ad: false,
    cd: true,
};
/// No EDNS, no AD, no CD.
const PLAIN: Bits = Bits {
    edns: false,
    dnssec_ok: false,
    ad: false,
    cd: false,
};

impl Bits {
    fn message(self, name: &str, qtype: RecordType) -> Message {
        let mut m = query(name, qtype);
        if self.edns || self.dnssec_ok {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            e.set_version(0);
            e.set_dnssec_ok(self.dnssec_ok);
            m.edns = Some(e);
        }
        m.metadata.authentic_data = self.ad;
        m.metadata.checking_disabled = self.cd;
        m
    }
}

/// What every reply of the resolver must satisfy.
fn check_reply(q: &Message, r: &Message) {
    let s = summary(r);
    assert!(r.metadata.recursion_available, "RA=0: {s}");
    assert!(!r.metadata.authoritative, "AA=1 from a resolver: {s}");
    assert_eq!(r.queries.len(), 1, "question count: {s}");
    assert_eq!(
        r.queries[0].query_type(),
        q.queries[0].query_type(),
        "question type: {s}"
    );
    assert_eq!(
        r.metadata.checking_disabled, q.metadata.checking_disabled,
        "CD not copied: {s}"
    );
    if q.edns.is_some() {
        assert!(r.edns.is_some(), "no OPT in reply to an EDNS query: {s}");
    }
}

fn is_dnssec_type(t: RecordType) -> bool {
    matches!(t, RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3)
}

/// RRSIG, NSEC and NSEC3 records anywhere in the reply, as text.
fn dnssec_records(r: &Message) -> Vec<String> {
    r.answers
        .iter()
        .chain(&r.authorities)
        .chain(&r.additionals)
        .filter(|rec| is_dnssec_type(rec.record_type()))
        .map(|rec| format!("{} {}", rec.name, rec.record_type()))
        .collect()
}

/// (owner, type covered, labels) of every RRSIG in `section`.
fn rrsigs(section: &[Record]) -> Vec<(String, RecordType, u8)> {
    section
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some((
                owner(&rec.name),
                sig.input().type_covered,
                sig.input().num_labels,
            )),
            _ => None,
        })
        .collect()
}

fn count_type(section: &[Record], t: RecordType) -> usize {
    section.iter().filter(|r| r.record_type() == t).count()
}

fn assert_rcode(env: &Env, r: &Message, rcode: ResponseCode) {
    assert_eq!(
        r.metadata.response_code,
        rcode,
        "rcode: {}\n{}",
        summary(r),
        env.ctx()
    );
}

/// NOERROR, AD=1, `qtype` records at `name` in the answer and an RRSIG
/// covering them (the query had DO=1).
fn assert_secure_answer(env: &Env, r: &Message, name: &str, qtype: RecordType) {
    assert_rcode(env, r, ResponseCode::NoError);
    assert!(
        r.metadata.authentic_data,
        "AD=0 on a secure answer: {}\n{}",
        summary(r),
        env.ctx()
    );
    let name = name.to_ascii_lowercase();
    assert!(
        r.answers
            .iter()
            .any(|rec| owner(&rec.name) == name && rec.record_type() == qtype),
        "no {name} {qtype} in the answer: {}",
        summary(r)
    );
    assert!(
        rrsigs(&r.answers)
            .iter()
            .any(|(o, t, _)| *o == name && *t == qtype),
        "no RRSIG over {name} {qtype} in the answer: {}",
        summary(r)
    );
}

/// NOERROR with data, AD=0 (insecure or unchecked).
fn assert_insecure_answer(env: &Env, r: &Message, expect: Ipv4Addr) {
    assert_rcode(env, r, ResponseCode::NoError);
    assert!(
        !r.metadata.authentic_data,
        "AD=1 on an answer that is not secure: {}\n{}",
        summary(r),
        env.ctx()
    );
    assert_eq!(a_records(r), vec![expect], "answer: {}", summary(r));
}

/// SERVFAIL with an EDE option carrying `code`, no data.
fn assert_bogus(env: &Env, r: &Message, code: u16) {
    assert_rcode(env, r, ResponseCode::ServFail);
    assert!(
        !r.metadata.authentic_data,
        "AD=1 on SERVFAIL: {}",
        summary(r)
    );
    let edes = ede(r);
    assert!(
        edes.iter().any(|(c, _)| *c == code),
        "expected EDE {code}, got {edes:?}: {}\n{}",
        summary(r),
        env.ctx()
    );
}

/// A negative answer (`rcode`, empty answer) with AD=1 and, in the
/// authority section, `denial` records (NSEC or NSEC3) with their RRSIGs
/// and, if `soa_of` is given, that zone's SOA.
fn assert_secure_denial(
    env: &Env,
    r: &Message,
    rcode: ResponseCode,
    denial: RecordType,
    soa_of: Option<&str>,
) {
    assert_rcode(env, r, rcode);
    assert!(
        r.answers.is_empty(),
        "answer section not empty: {}",
        summary(r)
    );
    assert!(
        r.metadata.authentic_data,
        "AD=0 on a negative answer proven by {denial}: {}\n{}",
        summary(r),
        env.ctx()
    );
    assert!(
        count_type(&r.authorities, denial) > 0,
        "no {denial} in the authority section: {}",
        summary(r)
    );
    let sigs = rrsigs(&r.authorities);
    assert!(
        sigs.iter().any(|(_, t, _)| *t == denial),
        "no RRSIG over {denial} in the authority section: {}",
        summary(r)
    );
    if let Some(zone) = soa_of {
        assert!(
            r.authorities
                .iter()
                .any(|rec| rec.record_type() == RecordType::SOA && owner(&rec.name) == zone),
            "no SOA of {zone} in the authority section: {}",
            summary(r)
        );
    }
    let other = if denial == RecordType::NSEC {
        RecordType::NSEC3
    } else {
        RecordType::NSEC
    };
    assert_eq!(
        count_type(&r.authorities, other),
        0,
        "{other} in a {denial} zone's denial: {}",
        summary(r)
    );
}

fn assert_no_dnssec_records(r: &Message, what: &str) {
    let found = dnssec_records(r);
    assert!(
        found.is_empty(),
        "{what}: DNSSEC records in a reply to a query without DO: {found:?}: {}",
        summary(r)
    );
}

// ---------------------------------------------------------------------------
// Secure answers
// ---------------------------------------------------------------------------

/// DO=1: AD=1 and the RRSIGs come with the answer.
#[test]
fn secure_answer_gets_ad_and_rrsigs_with_do() {
    let env = Env::start(1, &[Leaf::Nsec]);
    for qtype in [RecordType::A, RecordType::AAAA, RecordType::TXT] {
        let r = env.ask("www.nsec.test.", qtype, DO);
        assert_secure_answer(&env, &r, "www.nsec.test.", qtype);
    }
    assert_eq!(
        a_records(&env.ask("www.nsec.test.", RecordType::A, DO)),
        vec![Leaf::Nsec.www()]
    );
    // Mixed-case question: still secure (the signature covers the
    // canonical, lowercase name).
    let r = env.ask("WwW.NsEc.TeSt.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "www.nsec.test.", RecordType::A);
}

/// AD=1 without DO (RFC 6840 §5.7): AD=1 in the reply, no RRSIGs; with and
/// without EDNS.
#[test]
fn ad_bit_without_do_gets_ad_and_no_rrsigs() {
    let env = Env::start(2, &[Leaf::Nsec]);
    for edns in [true, false] {
        let bits = Bits {
            edns,
            dnssec_ok: false,
            ad: true,
            cd: false,
        };
        let r = env.ask("www.nsec.test.", RecordType::A, bits);
        assert_rcode(&env, &r, ResponseCode::NoError);
        assert!(
            r.metadata.authentic_data,
            "edns={edns}: AD=0 in reply to AD=1: {}\n{}",
            summary(&r),
            env.ctx()
        );
        assert_eq!(a_records(&r), vec![Leaf::Nsec.www()]);
        assert_no_dnssec_records(&r, &format!("AD=1 edns={edns}"));
    }
}

/// Neither DO nor AD: AD=0 and no RRSIG/NSEC/NSEC3 in any section, for
/// positive, NXDOMAIN and NODATA answers.
#[test]
fn plain_query_gets_no_ad_and_no_dnssec_records() {
    let env = Env::start(3, &[Leaf::Nsec]);
    let edns_no_do = Bits {
        edns: true,
        ..PLAIN
    };
    // Warm the cache with DO=1 first, so the DNSSEC records are cached and
    // must be left out of the plain replies.
    let _ = env.ask("www.nsec.test.", RecordType::A, DO);
    let _ = env.ask("nx1.nsec.test.", RecordType::A, DO);
    for bits in [PLAIN, edns_no_do] {
        let r = env.ask("www.nsec.test.", RecordType::A, bits);
        assert_rcode(&env, &r, ResponseCode::NoError);
        assert!(!r.metadata.authentic_data, "AD=1: {}", summary(&r));
        assert_eq!(a_records(&r), vec![Leaf::Nsec.www()]);
        assert_no_dnssec_records(&r, "positive");

        let r = env.ask("nx1.nsec.test.", RecordType::A, bits);
        assert_rcode(&env, &r, ResponseCode::NXDomain);
        assert!(!r.metadata.authentic_data, "AD=1: {}", summary(&r));
        assert_no_dnssec_records(&r, "NXDOMAIN");

        let r = env.ask("www.nsec.test.", RecordType::MX, bits);
        assert_rcode(&env, &r, ResponseCode::NoError);
        assert!(r.answers.is_empty(), "NODATA expected: {}", summary(&r));
        assert!(!r.metadata.authentic_data, "AD=1: {}", summary(&r));
        assert_no_dnssec_records(&r, "NODATA");
    }
}

/// The zone's DS (served by the parent) and its DNSKEY set validate.
#[test]
fn ds_and_dnskey_queries_validate() {
    let env = Env::start(4, &[Leaf::Nsec]);
    let r = env.ask("nsec.test.", RecordType::DS, DO);
    assert_secure_answer(&env, &r, "nsec.test.", RecordType::DS);
    let r = env.ask("nsec.test.", RecordType::DNSKEY, DO);
    assert_secure_answer(&env, &r, "nsec.test.", RecordType::DNSKEY);
    assert_eq!(
        count_type(&r.answers, RecordType::DNSKEY),
        2,
        "KSK and ZSK: {}",
        summary(&r)
    );
    let r = env.ask(".", RecordType::DNSKEY, DO);
    assert_secure_answer(&env, &r, ".", RecordType::DNSKEY);
}

/// A CNAME from one signed zone into another: both RRsets validate.
#[test]
fn cname_between_signed_zones_validates() {
    let env = Env::start(5, &[Leaf::Nsec, Leaf::Nsec3]);
    let r = env.ask("alias.nsec.test.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "alias.nsec.test.", RecordType::CNAME);
    assert_secure_answer(&env, &r, "www.nsec3.test.", RecordType::A);
    assert_eq!(a_records(&r), vec![Leaf::Nsec3.www()]);
}

/// ED25519 (algorithm 15) keys validate like ECDSA ones.
#[test]
fn ed25519_signed_zone_validates() {
    let env = Env::start(6, &[Leaf::Ed25519]);
    let r = env.ask("www.ed25519.test.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "www.ed25519.test.", RecordType::A);
    let r = env.ask("nx.ed25519.test.", RecordType::A, DO);
    assert_secure_denial(
        &env,
        &r,
        ResponseCode::NXDomain,
        RecordType::NSEC,
        Some("ed25519.test."),
    );
}

/// The trust anchor file may hold the root KSK as a DNSKEY instead of a DS.
#[test]
fn dnskey_trust_anchor_file_validates() {
    let env = Env::start_with(7, &[Leaf::Nsec], Anchor::Dnskey, &[]);
    let r = env.ask("www.nsec.test.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "www.nsec.test.", RecordType::A);
}

// ---------------------------------------------------------------------------
// Denial of existence
// ---------------------------------------------------------------------------

/// NXDOMAIN proven by NSEC: AD=1, NSEC + RRSIG in the authority section.
#[test]
fn nxdomain_proven_by_nsec_is_secure() {
    let env = Env::start(8, &[Leaf::Nsec]);
    let r = env.ask("nx1.nsec.test.", RecordType::A, DO);
    assert_secure_denial(
        &env,
        &r,
        ResponseCode::NXDomain,
        RecordType::NSEC,
        Some("nsec.test."),
    );
}

/// NODATA proven by NSEC: AD=1, the NSEC of the name itself.
#[test]
fn nodata_proven_by_nsec_is_secure() {
    let env = Env::start(9, &[Leaf::Nsec]);
    let r = env.ask("www.nsec.test.", RecordType::MX, DO);
    assert_secure_denial(
        &env,
        &r,
        ResponseCode::NoError,
        RecordType::NSEC,
        Some("nsec.test."),
    );
    assert!(
        r.authorities.iter().any(
            |rec| rec.record_type() == RecordType::NSEC && owner(&rec.name) == "www.nsec.test."
        ),
        "no NSEC owned by www.nsec.test.: {}",
        summary(&r)
    );
}

/// NXDOMAIN proven by NSEC3 (0 iterations, no salt): AD=1.
#[test]
fn nxdomain_proven_by_nsec3_is_secure() {
    let env = Env::start(10, &[Leaf::Nsec3]);
    let r = env.ask("nx.nsec3.test.", RecordType::A, DO);
    assert_secure_denial(
        &env,
        &r,
        ResponseCode::NXDomain,
        RecordType::NSEC3,
        Some("nsec3.test."),
    );
}

/// NODATA proven by NSEC3: AD=1.
#[test]
fn nodata_proven_by_nsec3_is_secure() {
    let env = Env::start(11, &[Leaf::Nsec3]);
    let r = env.ask("www.nsec3.test.", RecordType::MX, DO);
    assert_secure_denial(
        &env,
        &r,
        ResponseCode::NoError,
        RecordType::NSEC3,
        Some("nsec3.test."),
    );
}

/// NSEC3 with 100 iterations (above what validators compute, RFC 9276
/// §3.2): negative answers are insecure (AD=0), not SERVFAIL.
#[test]
fn nsec3_with_100_iterations_is_insecure_not_bogus() {
    let env = Env::start(12, &[Leaf::Iter]);
    let r = env.ask("nx.iter.test.", RecordType::A, DO);
    assert_rcode(&env, &r, ResponseCode::NXDomain);
    assert!(
        !r.metadata.authentic_data,
        "AD=1 on an NXDOMAIN proven by 100-iteration NSEC3: {}",
        summary(&r)
    );
    let r = env.ask("www.iter.test.", RecordType::MX, DO);
    assert_rcode(&env, &r, ResponseCode::NoError);
    assert!(r.answers.is_empty(), "NODATA expected: {}", summary(&r));
    assert!(
        !r.metadata.authentic_data,
        "AD=1 on a NODATA proven by 100-iteration NSEC3: {}",
        summary(&r)
    );
    // Positive data of the zone is still served.
    let r = env.ask("www.iter.test.", RecordType::A, DO);
    assert_rcode(&env, &r, ResponseCode::NoError);
    assert_eq!(a_records(&r), vec![Leaf::Iter.www()]);
}

/// An unsigned child of the NSEC-signed `test.` (no DS, the NSEC at the
/// delegation proves it): NOERROR, AD=0. A CNAME from a signed zone into
/// it is insecure too.
#[test]
fn unsigned_delegation_proven_by_nsec_is_insecure() {
    let env = Env::start(13, &[Leaf::Insecure, Leaf::Nsec]);
    let r = env.ask("www.insecure.test.", RecordType::A, DO);
    assert_insecure_answer(&env, &r, Leaf::Insecure.www());
    let r = env.ask("alias-insecure.nsec.test.", RecordType::A, DO);
    assert_insecure_answer(&env, &r, Leaf::Insecure.www());
    let r = env.ask("nx.insecure.test.", RecordType::A, DO);
    assert_rcode(&env, &r, ResponseCode::NXDomain);
    assert!(!r.metadata.authentic_data, "AD=1: {}", summary(&r));
}

/// An unsigned child of the NSEC3-signed `nsec3.test.`: NOERROR, AD=0.
#[test]
fn unsigned_delegation_proven_by_nsec3_is_insecure() {
    let env = Env::start(14, &[Leaf::UnsignedUnderNsec3]);
    let r = env.ask("www.unsigned.nsec3.test.", RecordType::A, DO);
    assert_insecure_answer(&env, &r, Leaf::UnsignedUnderNsec3.www());
}

/// An unsigned child of a zone whose NSEC3 records carry the opt-out flag
/// (ldns-signzone -p; the delegation still has its own NSEC3): NOERROR,
/// AD=0, while the parent's own data stays secure.
#[test]
fn unsigned_delegation_under_nsec3_opt_out_is_insecure() {
    let env = Env::start(15, &[Leaf::UnsignedUnderOptOut]);
    let r = env.ask("www.child.optout.test.", RecordType::A, DO);
    assert_insecure_answer(&env, &r, Leaf::UnsignedUnderOptOut.www());
    let r = env.ask("www.optout.test.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "www.optout.test.", RecordType::A);
}

/// A wildcard expansion in an NSEC zone validates (the RRSIG has fewer
/// labels than the owner; the NSEC proves no closer match).
#[test]
fn wildcard_expansion_validates() {
    let env = Env::start(16, &[Leaf::Wild]);
    let r = env.ask("foo.wild.test.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "foo.wild.test.", RecordType::A);
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 77)]);
    assert!(
        rrsigs(&r.answers)
            .iter()
            .any(|(o, t, labels)| o == "foo.wild.test." && *t == RecordType::A && *labels == 2),
        "RRSIG labels field should be 2 (wildcard): {}",
        summary(&r)
    );
    assert!(
        count_type(&r.authorities, RecordType::NSEC) > 0,
        "no NSEC proving that foo.wild.test. does not exist: {}",
        summary(&r)
    );
    // A second name from the same wildcard, another type.
    let r = env.ask("bar.baz.wild.test.", RecordType::TXT, DO);
    assert_secure_answer(&env, &r, "bar.baz.wild.test.", RecordType::TXT);
}

/// A wildcard expansion in an NSEC3 zone validates.
#[test]
fn wildcard_expansion_under_nsec3_validates() {
    let env = Env::start(17, &[Leaf::Nsec3]);
    let r = env.ask("foo.any.nsec3.test.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "foo.any.nsec3.test.", RecordType::A);
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 88)]);
    assert!(
        count_type(&r.authorities, RecordType::NSEC3) > 0,
        "no NSEC3 proving that foo.any.nsec3.test. does not exist: {}",
        summary(&r)
    );
}

/// RFC 8198: after an NXDOMAIN for nx1.nsec.test. proven by NSEC, other
/// names covered by the same NSEC range (and the wildcard NSEC) are answered
/// NXDOMAIN from the cache: no query reaches nsec.test.'s server.
#[test]
fn aggressive_nsec_answers_covered_names_without_asking_the_zone() {
    let env = Env::start(18, &[Leaf::Nsec]);
    let r = env.ask("nx1.nsec.test.", RecordType::A, DO);
    assert_secure_denial(
        &env,
        &r,
        ResponseCode::NXDomain,
        RecordType::NSEC,
        Some("nsec.test."),
    );
    let before = env.queries_at(Leaf::Nsec);
    for (name, qtype, bits) in [
        ("nx2.nsec.test.", RecordType::A, DO),
        ("nx3.nsec.test.", RecordType::AAAA, DO),
        ("oops.nsec.test.", RecordType::TXT, PLAIN),
    ] {
        let r = env.ask(name, qtype, bits);
        assert_rcode(&env, &r, ResponseCode::NXDomain);
        if bits.dnssec_ok {
            // A synthesized answer: the NSECs (and AD) are required, the SOA
            // is not.
            assert_secure_denial(&env, &r, ResponseCode::NXDomain, RecordType::NSEC, None);
        } else {
            assert_no_dnssec_records(&r, name);
        }
    }
    let after = env.queries_at(Leaf::Nsec);
    eprintln!("nsec.test. server: {before} queries before, {after} after the covered names");
    assert_eq!(
        after,
        before,
        "nsec.test.'s server got {} queries for names the cached NSECs cover\n{}",
        after - before,
        env.ctx()
    );
}

// ---------------------------------------------------------------------------
// Bogus answers
// ---------------------------------------------------------------------------

/// Checks a bogus name: SERVFAIL + EDE `code` with DO; with CD=1 the data
/// (AD=0); and SERVFAIL again afterwards (the CD answer does not turn the
/// cached bogus data into an answer).
fn check_bogus_then_cd(env: &Env, name: &str, expect: Ipv4Addr, code: u16) {
    let r = env.ask(name, RecordType::A, DO);
    assert_bogus(env, &r, code);
    let r = env.ask(name, RecordType::A, DO_CD);
    assert_insecure_answer(env, &r, expect);
    let r = env.ask(name, RecordType::A, DO);
    assert_bogus(env, &r, code);
    let r = env.ask(name, RecordType::A, PLAIN);
    assert_rcode(env, &r, ResponseCode::ServFail);
}

/// A corrupted RRSIG: SERVFAIL with EDE 6 "DNSSEC Bogus"; CD=1 gets the
/// data; the zone's other names still validate.
#[test]
fn bad_signature_is_bogus_with_ede_6_and_cd_returns_data() {
    let env = Env::start(19, &[Leaf::BadSig]);
    check_bogus_then_cd(
        &env,
        "www.badsig.test.",
        Leaf::BadSig.www(),
        EDE_DNSSEC_BOGUS,
    );
    let r = env.ask("ok.badsig.test.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "ok.badsig.test.", RecordType::A);
}

/// The DS in test. matches no DNSKEY of the zone: SERVFAIL with EDE 9
/// "DNSKEY Missing"; CD=1 gets the data.
#[test]
fn ds_matching_no_key_is_bogus_with_ede_9() {
    let env = Env::start(20, &[Leaf::DsMismatch]);
    check_bogus_then_cd(
        &env,
        "www.dsmismatch.test.",
        Leaf::DsMismatch.www(),
        EDE_DNSKEY_MISSING,
    );
}

/// Every signature of the zone expired: SERVFAIL with EDE 7 "Signature
/// Expired"; CD=1 gets the data.
#[test]
fn expired_signatures_are_bogus_with_ede_7() {
    let env = Env::start(21, &[Leaf::Expired]);
    check_bogus_then_cd(
        &env,
        "www.expired.test.",
        Leaf::Expired.www(),
        EDE_SIGNATURE_EXPIRED,
    );
}

/// One RRset of a signed zone without its RRSIG: SERVFAIL with EDE 10
/// "RRSIGs Missing"; CD=1 gets the data; the zone's other names validate.
#[test]
fn missing_signatures_are_bogus_with_ede_10() {
    let env = Env::start(22, &[Leaf::NoSig]);
    check_bogus_then_cd(
        &env,
        "www.nosig.test.",
        Leaf::NoSig.www(),
        EDE_RRSIGS_MISSING,
    );
    let r = env.ask("ok.nosig.test.", RecordType::A, DO);
    assert_secure_answer(&env, &r, "ok.nosig.test.", RecordType::A);
}

/// A trust anchor that matches no key of the root makes everything bogus.
#[test]
fn trust_anchor_matching_no_root_key_makes_answers_bogus() {
    let env = Env::start_with(23, &[Leaf::Nsec], Anchor::Wrong, &[]);
    let r = env.ask("www.nsec.test.", RecordType::A, DO);
    assert_bogus(&env, &r, EDE_DNSKEY_MISSING);
    let r = env.ask("www.nsec.test.", RecordType::A, DO_CD);
    assert_insecure_answer(&env, &r, Leaf::Nsec.www());
}

/// With no anchor flag at all, validation is on with the built-in (real)
/// root KSK, which this tree's root is not signed with: SERVFAIL.
#[test]
fn validation_is_on_by_default_with_the_builtin_root_anchor() {
    let env = Env::start_with(24, &[Leaf::Nsec], Anchor::BuiltIn, &[]);
    let r = env.ask("www.nsec.test.", RecordType::A, DO);
    assert_rcode(&env, &r, ResponseCode::ServFail);
    assert!(
        !ede(&r).is_empty(),
        "SERVFAIL without EDE: {}\n{}",
        summary(&r),
        env.ctx()
    );
}

/// `--no-dnssec`: the bogus zone's data comes back NOERROR without AD, and
/// secure data without AD too.
#[test]
fn no_dnssec_flag_returns_bogus_data_without_ad() {
    let env = Env::start_with(25, &[Leaf::BadSig, Leaf::Nsec], Anchor::ValidationOff, &[]);
    for bits in [DO, PLAIN] {
        let r = env.ask("www.badsig.test.", RecordType::A, bits);
        assert_insecure_answer(&env, &r, Leaf::BadSig.www());
        let r = env.ask("www.nsec.test.", RecordType::A, bits);
        assert_insecure_answer(&env, &r, Leaf::Nsec.www());
    }
}

// ---------------------------------------------------------------------------
// KeyTrap
// ---------------------------------------------------------------------------

/// keytrap.test.: 20 DNSKEYs with one key tag, every RRset signed by all of
/// them, no data signature valid. A query fails (SERVFAIL, any EDE) within
/// the client's timeout; during a burst of such queries for fresh names, a
/// second client's queries for an already cached name are all answered.
#[test]
fn keytrap_zone_fails_fast_while_cached_answers_keep_flowing() {
    const CACHED_QUERIES: usize = 50;
    const BURST_THREADS: usize = 4;
    /// Upper bound of burst queries per thread (the burst stops earlier,
    /// once the cached queries are done).
    const BURST_MAX: usize = 500;

    let env = Env::start(26, &[Leaf::Nsec, Leaf::KeyTrap]);
    let cached = env.ask("www.nsec.test.", RecordType::A, DO);
    assert_secure_answer(&env, &cached, "www.nsec.test.", RecordType::A);

    let r = env.ask("www.keytrap.test.", RecordType::A, DO);
    assert_rcode(&env, &r, ResponseCode::ServFail);
    assert!(
        !ede(&r).is_empty(),
        "SERVFAIL without EDE: {}\n{}",
        summary(&r),
        env.ctx()
    );

    let stop = AtomicBool::new(false);
    let burst_sent = AtomicUsize::new(0);
    let addr = env.client.server;
    let (burst, cached_results) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..BURST_THREADS)
            .map(|t| {
                let stop = &stop;
                let burst_sent = &burst_sent;
                s.spawn(move || {
                    let client = Client::with_timeout(addr, Duration::from_secs(5));
                    let mut sent = 0usize;
                    let mut answered = 0usize;
                    let mut noerror = Vec::new();
                    for i in 0..BURST_MAX {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let q = DO.message(&format!("kt{t}-{i}.keytrap.test."), RecordType::A);
                        sent += 1;
                        burst_sent.fetch_add(1, Ordering::Relaxed);
                        if let Some(raw) = client.udp_raw(&q.to_vec().expect("encode")) {
                            answered += 1;
                            if let Ok(m) = Message::from_vec(&raw)
                                && m.metadata.response_code == ResponseCode::NoError
                            {
                                noerror.push(summary(&m));
                            }
                        }
                    }
                    (sent, answered, noerror)
                })
            })
            .collect();

        let client = Client::with_timeout(addr, Duration::from_secs(5));
        let mut results = Vec::with_capacity(CACHED_QUERIES);
        for i in 0..CACHED_QUERIES {
            // Spread the cached-name queries over the burst: query i goes
            // out once the burst has sent 2i queries (or after a bounded
            // wait if the burst threads are stuck on slow replies).
            for _ in 0..1000 {
                if burst_sent.load(Ordering::Relaxed) >= 2 * i {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let bits = if i % 2 == 0 { DO } else { PLAIN };
            let q = bits.message("www.nsec.test.", RecordType::A);
            let reply = client
                .udp_raw(&q.to_vec().expect("encode"))
                .and_then(|raw| Message::from_vec(&raw).ok());
            results.push(reply);
        }
        stop.store(true, Ordering::Relaxed);
        let burst: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("burst thread"))
            .collect();
        (burst, results)
    });

    let sent: usize = burst.iter().map(|b| b.0).sum();
    let answered: usize = burst.iter().map(|b| b.1).sum();
    eprintln!(
        "KeyTrap burst: {sent} queries sent, {answered} answered, while {CACHED_QUERIES} \
         cached-name queries ran; first KeyTrap reply: {} EDE {:?}",
        summary(&r),
        ede(&r)
    );
    let missing = cached_results.iter().filter(|r| r.is_none()).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {CACHED_QUERIES} queries for a cached name got no reply during a \
         KeyTrap burst ({sent} burst queries sent, {answered} answered)\n{}",
        env.ctx()
    );
    for r in cached_results.iter().flatten() {
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::NoError,
            "cached name during the burst: {}",
            summary(r)
        );
        assert_eq!(a_records(r), vec![Leaf::Nsec.www()], "{}", summary(r));
    }
    let noerror: Vec<&String> = burst.iter().flat_map(|b| &b.2).collect();
    assert!(
        noerror.is_empty(),
        "KeyTrap names answered NOERROR (their signatures are all invalid): {noerror:?}"
    );
    assert!(sent > 0, "the burst sent nothing");
}
