//! Writes the seed corpora: `cargo run --release --bin seeds -- DIR`
//! (default `seeds`) makes `DIR/<target>/` for every target.
//!
//! The messages are the ones rootward's tests exchange: clients' queries
//! as tests/server.rs and tests/random_input.rs send them (every check
//! `server::request` makes has one), and replies of the authorities of
//! tests/walker.rs (answers, CNAME chains, referrals with glue, lame and
//! out-of-bailiwick data, NXDOMAIN and NODATA with SOA, DNAME, FORMERR).
//! With `--signed FILE`, a zone signed by `ldns-signzone` (see
//! fuzz/README.md) adds replies carrying RRSIG, DNSKEY, DS and NSEC
//! records. The config and trust-anchor seeds are docs/rootward.toml and
//! src/dnssec/root.key and a few variants.

use std::path::{Path, PathBuf};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

struct Q {
    id: u16,
    name: &'static str,
    qtype: RecordType,
    edns: Option<u16>,
    dnssec_ok: bool,
    cd: bool,
    ad: bool,
}

fn q(name: &'static str, qtype: RecordType) -> Q {
    Q {
        id: 0x1234,
        name,
        qtype,
        edns: None,
        dnssec_ok: false,
        cd: false,
        ad: false,
    }
}

impl Q {
    fn edns(mut self, size: u16) -> Self {
        self.edns = Some(size);
        self
    }
    fn do_bit(mut self) -> Self {
        self.dnssec_ok = true;
        self.edns.get_or_insert(1232);
        self
    }
    fn cd(mut self) -> Self {
        self.cd = true;
        self
    }
    fn ad(mut self) -> Self {
        self.ad = true;
        self
    }
    fn message(&self) -> Message {
        let mut m = Message::new(self.id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.metadata.checking_disabled = self.cd;
        m.metadata.authentic_data = self.ad;
        m.add_query(Query::query(n(self.name), self.qtype));
        if let Some(size) = self.edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            e.set_dnssec_ok(self.dnssec_ok);
            m.set_edns(e);
        }
        m
    }
    fn bytes(&self) -> Vec<u8> {
        self.message().to_vec().unwrap()
    }
}

/// Clients' queries: cache hits, misses, and one of each error the
/// request checks answer.
fn queries() -> Vec<(&'static str, Vec<u8>)> {
    use RecordType::*;
    let mut out = vec![
        ("hit-a", q("www.example.", A).bytes()),
        ("hit-a-edns", q("www.example.", A).edns(1232).bytes()),
        ("hit-a-mixed-case", q("wWw.ExAmPlE.", A).bytes()),
        ("hit-aaaa-do", q("www.example.", AAAA).do_bit().bytes()),
        ("hit-big-txt-udp", q("big.example.", TXT).bytes()),
        (
            "hit-big-txt-edns4096",
            q("big.example.", TXT).edns(4096).bytes(),
        ),
        ("hit-nodata-mx", q("www.example.", MX).bytes()),
        ("hit-nxdomain", q("gone.example.", A).edns(1232).bytes()),
        ("hit-cname", q("cname.example.", A).bytes()),
        ("hit-secure-ad", q("secure.example.", A).ad().bytes()),
        ("hit-secure-do", q("secure.example.", A).do_bit().bytes()),
        ("hit-bogus", q("bogus.example.", A).bytes()),
        ("hit-bogus-cd", q("bogus.example.", A).cd().do_bit().bytes()),
        ("hit-ns", q("example.", NS).bytes()),
        ("miss-a", q("new.example.", A).bytes()),
        ("miss-alias", q("alias.other.", A).edns(1232).bytes()),
        ("miss-nx", q("host.nx.", A).bytes()),
        ("miss-txt", q("t.example.", TXT).do_bit().bytes()),
        ("miss-ds", q("example.", DS).bytes()),
        ("refused-axfr", q("example.", AXFR).bytes()),
        ("refused-any", q("example.", ANY).bytes()),
        ("ixfr", q("example.", IXFR).bytes()),
    ];
    let mut chaos = q("version.bind.", TXT).message();
    chaos.queries[0].set_query_class(DNSClass::CH);
    out.push(("class-chaos", chaos.to_vec().unwrap()));
    let mut two = q("www.example.", A).message();
    two.add_query(Query::query(n("example."), RecordType::NS));
    out.push(("two-questions", two.to_vec().unwrap()));
    let mut none = q("www.example.", A).message();
    none.queries.clear();
    out.push(("no-question", none.to_vec().unwrap()));
    let mut notify = q("example.", SOA).message();
    notify.metadata.op_code = OpCode::Notify;
    out.push(("notify", notify.to_vec().unwrap()));
    let mut badvers = q("www.example.", A).edns(1232).message();
    if let Some(e) = badvers.edns.as_mut() {
        e.set_version(1);
    }
    out.push(("edns-version-1", badvers.to_vec().unwrap()));
    let mut response = q("www.example.", A).message();
    response.metadata.message_type = MessageType::Response;
    out.push(("a-response", response.to_vec().unwrap()));
    out.push(("short", vec![0x12, 0x34, 0x01]));
    out
}

fn rec(owner: &str, ttl: u32, data: RData) -> Record {
    Record::from_rdata(n(owner), ttl, data)
}

fn soa(zone: &str) -> Record {
    rec(
        zone,
        120,
        RData::SOA(SOA::new(
            n("ns1.example.test."),
            n("admin.example.test."),
            1,
            3600,
            900,
            604_800,
            120,
        )),
    )
}

fn a(owner: &str, ip: [u8; 4]) -> Record {
    rec(owner, 300, RData::A(A::from(std::net::Ipv4Addr::from(ip))))
}

fn ns(owner: &str, target: &str) -> Record {
    rec(owner, 3600, RData::NS(NS(n(target))))
}

fn cname(owner: &str, target: &str) -> Record {
    rec(owner, 300, RData::CNAME(CNAME(n(target))))
}

fn reply(
    qtype: RecordType,
    aa: bool,
    rcode: ResponseCode,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
) -> Message {
    let mut m = Message::new(7, MessageType::Response, OpCode::Query);
    m.metadata.authoritative = aa;
    m.metadata.response_code = rcode;
    m.add_query(Query::query(n("www.example.test."), qtype));
    m.answers = answers;
    m.authorities = authorities;
    m.additionals = additionals;
    m
}

/// Replies of a server of `example.test.` to `www.example.test.`, as the
/// authorities of tests/walker.rs give them, and broken or hostile ones.
fn replies() -> Vec<(&'static str, RecordType, Message)> {
    use RecordType as T;
    use ResponseCode as R;
    let www = "www.example.test.";
    let mut out = vec![
        (
            "answer-a",
            T::A,
            reply(
                T::A,
                true,
                R::NoError,
                vec![a(www, [192, 0, 2, 1])],
                vec![ns("example.test.", "ns1.example.test.")],
                vec![a("ns1.example.test.", [198, 51, 100, 10])],
            ),
        ),
        (
            "answer-aaaa",
            T::AAAA,
            reply(
                T::AAAA,
                true,
                R::NoError,
                vec![rec(
                    www,
                    300,
                    RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                )],
                vec![],
                vec![],
            ),
        ),
        (
            "answer-mx",
            T::MX,
            reply(
                T::MX,
                true,
                R::NoError,
                vec![rec(
                    www,
                    300,
                    RData::MX(MX::new(10, n("mail.example.test."))),
                )],
                vec![],
                vec![a("mail.example.test.", [192, 0, 2, 25])],
            ),
        ),
        (
            "answer-txt",
            T::TXT,
            reply(
                T::TXT,
                true,
                R::NoError,
                vec![rec(www, 300, RData::TXT(TXT::new(vec!["hello".into()])))],
                vec![],
                vec![],
            ),
        ),
        (
            "answer-ns",
            T::NS,
            reply(
                T::NS,
                true,
                R::NoError,
                vec![ns(www, "ns1.example.test."), ns(www, "ns.evil.")],
                vec![],
                vec![
                    a("ns1.example.test.", [198, 51, 100, 10]),
                    a("ns.evil.", [6, 6, 6, 6]),
                ],
            ),
        ),
        (
            "cname-in-zone",
            T::A,
            reply(
                T::A,
                true,
                R::NoError,
                vec![
                    cname(www, "host.example.test."),
                    a("host.example.test.", [192, 0, 2, 2]),
                ],
                vec![],
                vec![],
            ),
        ),
        (
            "cname-out-of-zone",
            T::A,
            reply(
                T::A,
                true,
                R::NoError,
                vec![
                    cname(www, "www.glueless.test."),
                    a("www.glueless.test.", [6, 6, 6, 6]),
                ],
                vec![],
                vec![],
            ),
        ),
        (
            "cname-loop",
            T::A,
            reply(
                T::A,
                true,
                R::NoError,
                vec![
                    cname(www, "loop-b.example.test."),
                    cname("loop-b.example.test.", www),
                ],
                vec![],
                vec![],
            ),
        ),
        (
            "dname",
            T::A,
            reply(
                T::A,
                true,
                R::NoError,
                vec![
                    rootward::resolver::dname::record(n("example.test."), 300, &n("other.test."))
                        .unwrap(),
                    cname(www, "www.other.test."),
                ],
                vec![],
                vec![],
            ),
        ),
        (
            "referral-glue",
            T::A,
            reply(
                T::A,
                false,
                R::NoError,
                vec![],
                vec![
                    ns(www, "ns.www.example.test."),
                    ns(www, "ns.provider.other."),
                ],
                vec![
                    a("ns.www.example.test.", [198, 51, 100, 30]),
                    a("ns.provider.other.", [198, 51, 100, 20]),
                ],
            ),
        ),
        (
            "referral-glueless",
            T::A,
            reply(
                T::A,
                false,
                R::NoError,
                vec![],
                vec![ns(www, "ns.provider.other.")],
                vec![],
            ),
        ),
        (
            "lame-upward-referral",
            T::A,
            reply(
                T::A,
                false,
                R::NoError,
                vec![],
                vec![ns("test.", "ns.test."), ns(".", "a.root.sim.")],
                vec![a("ns.test.", [198, 51, 100, 2])],
            ),
        ),
        (
            "poison-additional",
            T::A,
            reply(
                T::A,
                true,
                R::NoError,
                vec![a(www, [192, 0, 2, 1])],
                vec![ns("evil.", "ns.evil.")],
                vec![a("ns.evil.", [6, 6, 6, 6]), a("test.", [6, 6, 6, 6])],
            ),
        ),
        (
            "poison-answer",
            T::A,
            reply(
                T::A,
                true,
                R::NoError,
                vec![
                    a(www, [192, 0, 2, 1]),
                    a("evil.", [6, 6, 6, 6]),
                    ns("other.test.", "ns.evil."),
                ],
                vec![],
                vec![],
            ),
        ),
        (
            "nxdomain-soa",
            T::A,
            reply(
                T::A,
                true,
                R::NXDomain,
                vec![],
                vec![soa("example.test.")],
                vec![],
            ),
        ),
        (
            "nxdomain-no-soa",
            T::A,
            reply(T::A, true, R::NXDomain, vec![], vec![], vec![]),
        ),
        (
            "nxdomain-foreign-soa",
            T::A,
            reply(T::A, true, R::NXDomain, vec![], vec![soa("evil.")], vec![]),
        ),
        (
            "nodata-soa",
            T::AAAA,
            reply(
                T::AAAA,
                true,
                R::NoError,
                vec![],
                vec![soa("example.test.")],
                vec![],
            ),
        ),
        (
            "servfail",
            T::A,
            reply(T::A, false, R::ServFail, vec![], vec![], vec![]),
        ),
        (
            "refused",
            T::A,
            reply(T::A, false, R::Refused, vec![], vec![], vec![]),
        ),
        (
            "ds-answer",
            T::DS,
            reply(
                T::DS,
                true,
                R::NoError,
                vec![],
                vec![soa("example.test.")],
                vec![],
            ),
        ),
    ];
    let mut formerr = reply(T::A, false, R::FormErr, vec![], vec![], vec![]);
    formerr.queries.clear();
    out.push(("formerr-no-question", T::A, formerr));
    let mut truncated = reply(T::A, true, R::NoError, vec![], vec![], vec![]);
    truncated.metadata.truncation = true;
    out.push(("truncated", T::A, truncated));
    let mut with_edns = reply(
        T::A,
        true,
        R::NoError,
        vec![a(www, [192, 0, 2, 1])],
        vec![],
        vec![],
    );
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_dnssec_ok(true);
    with_edns.set_edns(e);
    out.push(("answer-edns", T::A, with_edns));
    out
}

/// Index of `qtype` in the reply target's question types.
fn qtype_bits(qtype: RecordType) -> u8 {
    rootward_fuzz::REPLY_QTYPES
        .iter()
        .position(|t| *t == qtype)
        .expect("a reply target qtype") as u8
}

/// Decodes standard base64 (the zone file's keys and signatures).
fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Seconds since the epoch of an RRSIG date (YYYYMMDDHHMMSS, UTC).
fn rrsig_time(t: &str) -> u32 {
    let num = |r: std::ops::Range<usize>| t[r].parse::<i64>().expect("date");
    let (y, mo, d) = (num(0..4), num(4..6), num(6..8));
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + num(8..10) * 3600 + num(10..12) * 60 + num(12..14)) as u32
}

fn name_wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend(label.to_ascii_lowercase().bytes());
    }
    out.push(0);
    out
}

/// RDATA of an RRSIG, NSEC or DNSKEY in presentation form, as wire bytes
/// (hickory's text parser leaves these types to its signer).
fn dnssec_rdata(rtype: RecordType, fields: &[&str]) -> Vec<u8> {
    let mut w = Vec::new();
    match rtype {
        RecordType::RRSIG => {
            let covered: RecordType = fields[0].parse().expect("type covered");
            w.extend(u16::from(covered).to_be_bytes());
            w.push(fields[1].parse().unwrap());
            w.push(fields[2].parse().unwrap());
            w.extend(fields[3].parse::<u32>().unwrap().to_be_bytes());
            w.extend(rrsig_time(fields[4]).to_be_bytes());
            w.extend(rrsig_time(fields[5]).to_be_bytes());
            w.extend(fields[6].parse::<u16>().unwrap().to_be_bytes());
            w.extend(name_wire(fields[7]));
            w.extend(base64(&fields[8..].concat()));
        }
        RecordType::NSEC => {
            w.extend(name_wire(fields[0]));
            let mut windows = std::collections::BTreeMap::<u8, [u8; 32]>::new();
            for t in &fields[1..] {
                let code = u16::from(t.parse::<RecordType>().expect("type"));
                let map = windows.entry((code >> 8) as u8).or_insert([0; 32]);
                map[usize::from(code & 0xff) / 8] |= 0x80 >> (code & 7);
            }
            for (window, map) in windows {
                let len = map.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                w.push(window);
                w.push(len as u8);
                w.extend(&map[..len]);
            }
        }
        RecordType::DNSKEY => {
            w.extend(fields[0].parse::<u16>().unwrap().to_be_bytes());
            w.push(fields[1].parse().unwrap());
            w.push(fields[2].parse().unwrap());
            w.extend(base64(&fields[3..].concat()));
        }
        other => panic!("no wire encoder for {other}"),
    }
    w
}

/// The records of an `ldns-signzone` output (one record per line, absolute
/// names, `;` comments).
fn signed_records(path: &Path) -> Vec<Record> {
    use hickory_proto::serialize::binary::{BinDecoder, Restrict};
    let text = std::fs::read_to_string(path).expect("signed zone file");
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 {
            continue;
        }
        let (owner, ttl, rtype) = (fields[0], fields[1].parse::<u32>().unwrap(), fields[3]);
        let rtype: RecordType = rtype.parse().expect("record type");
        let rdata = match rtype {
            RecordType::RRSIG | RecordType::NSEC | RecordType::DNSKEY => {
                let wire = dnssec_rdata(rtype, &fields[4..]);
                let mut d = BinDecoder::new(&wire);
                RData::read(&mut d, rtype, Restrict::new(wire.len() as u16)).expect("rdata")
            }
            _ => RData::try_from_str(rtype, &fields[4..].join(" ")).expect("rdata"),
        };
        out.push(Record::from_rdata(n(owner), ttl, rdata));
    }
    out
}

/// The type an RRSIG covers (its own type for other records).
fn covered(r: &Record) -> RecordType {
    match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(s)) => {
            s.input().type_covered
        }
        _ => r.record_type(),
    }
}

/// Replies made of a signed zone's records: for each RRset in it, the
/// authoritative answer with its RRSIGs (alone, and with the zone's
/// DNSKEYs beside it), and NXDOMAIN / NODATA with the SOA, the NSEC
/// records and their RRSIGs.
fn signed_replies(path: &Path) -> Vec<(String, RecordType, Message)> {
    let all = signed_records(path);
    let set = |name: &Name, t: RecordType| -> Vec<Record> {
        all.iter()
            .filter(|r| &r.name == name && covered(r) == t)
            .cloned()
            .collect()
    };
    let apex = n("example.test.");
    let keys = set(&apex, RecordType::DNSKEY);
    let mut proof = set(&apex, RecordType::SOA);
    proof.extend(
        all.iter()
            .filter(|r| covered(r) == RecordType::NSEC)
            .cloned(),
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for r in &all {
        let qtype = covered(r);
        if !rootward_fuzz::REPLY_QTYPES.contains(&qtype)
            || !seen.insert((r.name.to_string(), qtype))
        {
            continue;
        }
        let records = set(&r.name, qtype);
        // Every query of the walk and of the validator gets the same
        // message, so one with the keys beside the data can validate.
        for (suffix, extra) in [("", Vec::new()), ("-keys", keys.clone())] {
            if suffix == "-keys" && qtype == RecordType::DNSKEY {
                continue;
            }
            let mut answers = records.clone();
            answers.extend(extra);
            let mut m = reply(qtype, true, ResponseCode::NoError, answers, vec![], vec![]);
            let mut e = Edns::new();
            e.set_dnssec_ok(true);
            m.set_edns(e);
            out.push((format!("signed-{}-{qtype}{suffix}", r.name), qtype, m));
        }
    }
    for (label, rcode, qtype) in [
        ("nxdomain", ResponseCode::NXDomain, RecordType::A),
        ("nodata", ResponseCode::NoError, RecordType::MX),
    ] {
        let mut answers = Vec::new();
        answers.extend(keys.iter().cloned());
        let mut m = reply(qtype, true, rcode, vec![], proof.clone(), vec![]);
        let mut e = Edns::new();
        e.set_dnssec_ok(true);
        m.set_edns(e);
        out.push((format!("signed-{label}"), qtype, m.clone()));
        m.answers = answers;
        out.push((format!("signed-{label}-keys"), qtype, m));
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("seeds");
    let mut signed = None;
    while let Some(arg) = args.next() {
        if arg == "--signed" {
            signed = Some(PathBuf::from(args.next().expect("--signed FILE")));
        } else {
            dir = PathBuf::from(arg);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    // request: byte 0 = transport (bit 0), client (bits 1-2), validation
    // (bit 3); then the query.
    let qs = queries();
    for (name, bytes) in &qs {
        for (opts, suffix) in [
            (0u8, "udp"),
            (1, "tcp"),
            (8, "udp-validating"),
            (4, "udp-denied"),
        ] {
            if suffix != "udp"
                && !matches!(
                    *name,
                    "hit-a" | "miss-a" | "hit-big-txt-udp" | "miss-nx" | "hit-bogus"
                )
            {
                continue;
            }
            let mut input = vec![opts];
            input.extend_from_slice(bytes);
            write(&dir.join("request"), &format!("{name}-{suffix}"), &input);
        }
    }

    // reply: byte 0 = options (qtype index, QNAME minimisation, DO,
    // resolver); then the reply.
    let mut all_replies: Vec<(String, RecordType, Message)> = replies()
        .into_iter()
        .map(|(name, t, m)| (name.to_string(), t, m))
        .collect();
    if let Some(path) = &signed {
        all_replies.extend(signed_replies(path));
    }
    for (name, qtype, m) in &all_replies {
        let bytes = m.to_vec().unwrap();
        let t = qtype_bits(*qtype);
        for (flags, suffix) in [
            (0u8, "walker"),
            (0x08, "walker-relaxed"),
            (0x30, "walker-strict-do"),
            (0x40, "resolver"),
        ] {
            if name.starts_with("signed") && flags != 0x40 && flags != 0x30 {
                continue;
            }
            let mut input = vec![t | flags];
            input.extend_from_slice(&bytes);
            write(&dir.join("reply"), &format!("{name}-{suffix}"), &input);
        }
    }

    // tcp_framing: byte 0 = split seed; then the stream of frames.
    let frame = |b: &[u8]| {
        let mut f = (b.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(b);
        f
    };
    let hit = q("www.example.", RecordType::A).bytes();
    let miss = q("new.example.", RecordType::A).bytes();
    let big = q("big.example.", RecordType::TXT).bytes();
    let bad = vec![0u8; 5];
    let mut response = q("www.example.", RecordType::A).message();
    response.metadata.message_type = MessageType::Response;
    let response = response.to_vec().unwrap();
    let streams: Vec<(&str, Vec<u8>)> = vec![
        ("one", frame(&hit)),
        (
            "pipelined",
            [frame(&hit), frame(&miss), frame(&big)].concat(),
        ),
        ("zero-length", [frame(&[]), frame(&hit)].concat()),
        ("length-only", vec![0x00, 0x40]),
        ("half-body", frame(&hit)[..10].to_vec()),
        ("not-dns", [frame(&bad), frame(&hit)].concat()),
        ("a-response", [frame(&response), frame(&hit)].concat()),
        ("odd-byte", [frame(&hit), vec![0x00]].concat()),
    ];
    for (name, stream) in &streams {
        for seed in [0u8, 1, 3, 17] {
            let mut input = vec![seed];
            input.extend_from_slice(stream);
            write(
                &dir.join("tcp_framing"),
                &format!("{name}-split{seed}"),
                &input,
            );
        }
    }

    // config: the documented example and small variants.
    let example = std::fs::read(root.join("docs/rootward.toml")).expect("docs/rootward.toml");
    write(&dir.join("config"), "rootward.toml", &example);
    let small = [
        ("minimal", "listen = [\"127.0.0.1:53\"]\n"),
        (
            "limits",
            "cache-min-ttl = \"30s\"\ncache-max-ttl = \"1d\"\ncache-size = 10000\nrate-limit = 100\nresponse-rate-limit = 0\n",
        ),
        (
            "acl",
            "allow = [\"10.0.0.0/8\", \"::1/128\"]\ndeny = [\"10.66.0.0/16\"]\ndeny-action = \"refuse\"\n",
        ),
        (
            "resolver",
            "qname-minimisation = \"strict\"\nuse-0x20 = \"off\"\nprefetch = true\nserve-stale-window = \"1h\"\nno-ipv6 = true\n",
        ),
        ("bad-key", "no-such-key = 1\n"),
    ];
    for (name, text) in small {
        write(&dir.join("config"), name, text.as_bytes());
    }

    // trust_anchor: the built-in root.key and other forms parse accepts.
    let root_key = std::fs::read(root.join("src/dnssec/root.key")).expect("src/dnssec/root.key");
    write(&dir.join("trust_anchor"), "root.key", &root_key);
    let anchors = [
        (
            "dnskey",
            ". 172800 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=\n",
        ),
        (
            "multiline",
            "example. 3600 IN DNSKEY ( 257 3 13\n    mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+\n    KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== ) ; KSK\n",
        ),
        (
            "ds-relative-owner",
            "example IN DS 12345 13 2 0000000000000000000000000000000000000000000000000000000000000000\n",
        ),
        ("revoked", ". IN DNSKEY 385 3 8 AwEAAQ==\n"),
    ];
    for (name, text) in anchors {
        write(&dir.join("trust_anchor"), name, text.as_bytes());
    }

    for target in ["request", "reply", "tcp_framing", "config", "trust_anchor"] {
        let count = std::fs::read_dir(dir.join(target))
            .map(|d| d.count())
            .unwrap_or(0);
        println!("{target}: {count} seeds in {}", dir.join(target).display());
    }
}
