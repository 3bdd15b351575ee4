//! Upstream queries on a cold cache: rootward beside Unbound, on one
//! simulated DNS tree.
//!
//! `cargo bench --bench upstream_queries` (as root: everything binds port 53
//! on 127.58.0.0/16, and Unbound may need `apt-get install`). It:
//!
//! 1. serves a loopback tree with the test authority of
//!    `tests/support/authority_server.rs` (which counts every query it
//!    receives): the root, three TLDs and a dozen second-level zones;
//! 2. for each resolver in turn (rootward, then Debian's Unbound, each on a
//!    cold cache with the authorities' counters cleared): starts it, waits
//!    until it answers, asks every name of [`CASES`] once, sequentially,
//!    checks the answers and attributes the upstream queries that arrive
//!    meanwhile to that name; then stops it by its own PID;
//! 3. prints one table (and the same as Markdown between markers), the
//!    per-name differences, and writes every upstream query per name to
//!    `target/upstream-queries/<resolver>-traffic.txt`.
//!
//! Knobs (environment): `ROOTWARD_EXTRA_ARGS` (extra rootward flags, split
//! on whitespace, e.g. `--qname-minimisation off`), `UNBOUND=/path` (an
//! Unbound binary to use), `UPSTREAM_QUERIES_NO_INSTALL=1` (never run
//! apt-get), `UPSTREAM_QUERIES_SKIP_UNBOUND=1`.
//!
//! Every loop is bounded in count and time; all traffic stays on 127.0.0.0/8.
//! Only processes this program started are ever signalled.
//!
//! | address          | role                                                   |
//! |------------------|--------------------------------------------------------|
//! | 127.58.0.1       | rootward under test                                    |
//! | 127.58.0.254     | Unbound under test                                     |
//! | 127.58.0.2, .3   | a/b.root-servers.net: `.` and `root-servers.net.`      |
//! | 127.58.0.10, .11 | a/b.nic.com: `com.`                                    |
//! | 127.58.0.12      | a.nic.net: `net.`                                      |
//! | 127.58.0.13      | a.nic.org: `org.`                                      |
//! | 127.58.0.20, .21 | ns1/ns2.example.com: `example.com.` (in-bailiwick glue)|
//! | 127.58.0.22      | ns1.example.net: `example.net.`                        |
//! | 127.58.0.23      | ns1.hosting.net: `hosting.net.`, and `shop.org.`,      |
//! |                  | `blog.org.` (glueless: NS in another TLD)              |
//! | 127.58.0.24      | ns.dns.com: `dns.com.`, `news.com.` (sibling glue in   |
//! |                  | `com.`), `blog.org.` (second, glueless server)         |
//! | 127.58.0.25, .30 | ns1/ns2.cdn.net: `cdn.net.` (CNAME target of shop.org) |
//! | 127.58.0.26      | ns1.deep.com: `deep.com.`, delegating `a.b.c.deep.com.`|
//! | 127.58.0.27      | ns1.a.b.c.deep.com: `a.b.c.deep.com.`                  |
//! | 127.58.0.28, .29 | ns1/ns2.uni.org: `uni.org.`                            |
#![allow(dead_code)]

#[path = "../tests/support/authority.rs"]
mod authority;
#[path = "../tests/support/authority_server.rs"]
mod authority_server;
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use authority::Zone;
use authority_server::{AuthorityServer, Transport};
use common::{APT_TIMEOUT, STARTUP_TIMEOUT};
use common::{Proc, rand_id};

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/// Timeout of one client question.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// A resolver gets this long to exit after SIGTERM (then SIGKILL).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Time budget for one resolver's whole list of names; names not asked in
/// time count as failed.
const RUN_BUDGET: Duration = Duration::from_secs(45);
/// After each answer, upstream traffic is "settled" once the counters have
/// not moved for this long...
const QUIET: Duration = Duration::from_millis(150);
/// ...or after this long at most.
const SETTLE_MAX: Duration = Duration::from_secs(2);

const ROOTWARD_ADDR: Ipv4Addr = Ipv4Addr::new(127, 58, 0, 1);
const UNBOUND_ADDR: Ipv4Addr = Ipv4Addr::new(127, 58, 0, 254);

// ---------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Root,
    Tld,
    Leaf,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Tld => "TLD",
            Role::Leaf => "leaf",
        }
    }
}

/// One authoritative server: its NS host name, last octet in 127.58.0.0/24,
/// role and the origins of the zones it serves.
struct ServerSpec {
    host: &'static str,
    octet: u8,
    role: Role,
    zones: &'static [&'static str],
}

const SERVERS: &[ServerSpec] = &[
    ServerSpec {
        host: "a.root-servers.net",
        octet: 2,
        role: Role::Root,
        zones: &[".", "root-servers.net."],
    },
    ServerSpec {
        host: "b.root-servers.net",
        octet: 3,
        role: Role::Root,
        zones: &[".", "root-servers.net."],
    },
    ServerSpec {
        host: "a.nic.com",
        octet: 10,
        role: Role::Tld,
        zones: &["com."],
    },
    ServerSpec {
        host: "b.nic.com",
        octet: 11,
        role: Role::Tld,
        zones: &["com."],
    },
    ServerSpec {
        host: "a.nic.net",
        octet: 12,
        role: Role::Tld,
        zones: &["net."],
    },
    ServerSpec {
        host: "a.nic.org",
        octet: 13,
        role: Role::Tld,
        zones: &["org."],
    },
    ServerSpec {
        host: "ns1.example.com",
        octet: 20,
        role: Role::Leaf,
        zones: &["example.com."],
    },
    ServerSpec {
        host: "ns2.example.com",
        octet: 21,
        role: Role::Leaf,
        zones: &["example.com."],
    },
    ServerSpec {
        host: "ns1.example.net",
        octet: 22,
        role: Role::Leaf,
        zones: &["example.net."],
    },
    ServerSpec {
        host: "ns1.hosting.net",
        octet: 23,
        role: Role::Leaf,
        zones: &["hosting.net.", "shop.org.", "blog.org."],
    },
    ServerSpec {
        host: "ns.dns.com",
        octet: 24,
        role: Role::Leaf,
        zones: &["dns.com.", "news.com.", "blog.org."],
    },
    ServerSpec {
        host: "ns1.cdn.net",
        octet: 25,
        role: Role::Leaf,
        zones: &["cdn.net."],
    },
    ServerSpec {
        host: "ns2.cdn.net",
        octet: 30,
        role: Role::Leaf,
        zones: &["cdn.net."],
    },
    ServerSpec {
        host: "ns1.deep.com",
        octet: 26,
        role: Role::Leaf,
        zones: &["deep.com."],
    },
    ServerSpec {
        host: "ns1.a.b.c.deep.com",
        octet: 27,
        role: Role::Leaf,
        zones: &["a.b.c.deep.com."],
    },
    ServerSpec {
        host: "ns1.uni.org",
        octet: 28,
        role: Role::Leaf,
        zones: &["uni.org."],
    },
    ServerSpec {
        host: "ns2.uni.org",
        octet: 29,
        role: Role::Leaf,
        zones: &["uni.org."],
    },
];

/// Zone data by origin. `$TTL 3600` applies where a record has no TTL.
const ZONES: &[(&str, &str)] = &[
    (
        ".",
        "@ 86400 SOA a.root-servers.net. nstld.root-servers.net. 2024010101 1800 900 604800 86400
@ 518400 NS a.root-servers.net.
@ 518400 NS b.root-servers.net.
a.root-servers.net. 518400 A 127.58.0.2
b.root-servers.net. 518400 A 127.58.0.3
com. 172800 NS a.nic.com.
com. 172800 NS b.nic.com.
a.nic.com. 172800 A 127.58.0.10
b.nic.com. 172800 A 127.58.0.11
net. 172800 NS a.nic.net.
a.nic.net. 172800 A 127.58.0.12
org. 172800 NS a.nic.org.
a.nic.org. 172800 A 127.58.0.13",
    ),
    (
        "root-servers.net.",
        "@ 3600000 SOA a.root-servers.net. nstld.root-servers.net. 1 14400 7200 1209600 3600000
@ 3600000 NS a.root-servers.net.
@ 3600000 NS b.root-servers.net.
a 3600000 A 127.58.0.2
b 3600000 A 127.58.0.3",
    ),
    (
        "com.",
        "@ 900 SOA a.nic.com. hostmaster.nic.com. 1 1800 900 604800 900
@ 172800 NS a.nic.com.
@ 172800 NS b.nic.com.
a.nic 172800 A 127.58.0.10
b.nic 172800 A 127.58.0.11
example 172800 NS ns1.example
example 172800 NS ns2.example
ns1.example 172800 A 127.58.0.20
ns2.example 172800 A 127.58.0.21
dns 172800 NS ns.dns
ns.dns 172800 A 127.58.0.24
news 172800 NS ns.dns.com.
deep 172800 NS ns1.deep
ns1.deep 172800 A 127.58.0.26",
    ),
    (
        "net.",
        "@ 900 SOA a.nic.net. hostmaster.nic.net. 1 1800 900 604800 900
@ 172800 NS a.nic.net.
a.nic 172800 A 127.58.0.12
root-servers 172800 NS a.root-servers
root-servers 172800 NS b.root-servers
a.root-servers 172800 A 127.58.0.2
b.root-servers 172800 A 127.58.0.3
example 172800 NS ns1.example
ns1.example 172800 A 127.58.0.22
hosting 172800 NS ns1.hosting
ns1.hosting 172800 A 127.58.0.23
cdn 172800 NS ns1.cdn
cdn 172800 NS ns2.cdn
ns1.cdn 172800 A 127.58.0.25
ns2.cdn 172800 A 127.58.0.30",
    ),
    (
        "org.",
        "@ 900 SOA a.nic.org. hostmaster.nic.org. 1 1800 900 604800 900
@ 172800 NS a.nic.org.
a.nic 172800 A 127.58.0.13
shop 86400 NS ns1.hosting.net.
blog 86400 NS ns1.hosting.net.
blog 86400 NS ns.dns.com.
uni 86400 NS ns1.uni
uni 86400 NS ns2.uni
ns1.uni 86400 A 127.58.0.28
ns2.uni 86400 A 127.58.0.29",
    ),
    (
        "example.com.",
        "@ 3600 SOA ns1 hostmaster 1 7200 900 1209600 300
@ NS ns1
@ NS ns2
ns1 A 127.58.0.20
ns2 A 127.58.0.21
@ 300 A 192.0.2.10
@ 300 MX 10 mail
@ 300 TXT \"v=spf1\"
www 300 A 192.0.2.11
www 300 AAAA 2001:db8::11
mail 300 A 192.0.2.12
alias 300 CNAME www",
    ),
    (
        "example.net.",
        "@ 3600 SOA ns1 hostmaster 1 7200 900 1209600 300
@ NS ns1
ns1 A 127.58.0.22
@ 300 MX 10 mail.example.com.
www 300 A 198.51.100.1
www 300 AAAA 2001:db8:1::1
ftp 300 A 198.51.100.2
alias2 300 CNAME www.example.com.",
    ),
    (
        "hosting.net.",
        "@ 3600 SOA ns1 hostmaster 1 7200 900 1209600 300
@ NS ns1
ns1 A 127.58.0.23
www 300 A 198.51.100.20",
    ),
    (
        "shop.org.",
        "@ 3600 SOA ns1.hosting.net. hostmaster.hosting.net. 1 7200 900 1209600 300
@ NS ns1.hosting.net.
@ 300 A 203.0.113.1
www 300 CNAME edge.cdn.net.
cart 300 AAAA 2001:db8:2::1",
    ),
    (
        "blog.org.",
        "@ 3600 SOA ns1.hosting.net. hostmaster.hosting.net. 1 7200 900 1209600 300
@ NS ns1.hosting.net.
@ NS ns.dns.com.
@ 300 A 203.0.113.10
@ 300 AAAA 2001:db8:2::10
www 300 A 203.0.113.11",
    ),
    (
        "dns.com.",
        "@ 3600 SOA ns hostmaster 1 7200 900 1209600 300
@ NS ns
ns A 127.58.0.24
www 300 A 192.0.2.40",
    ),
    (
        "news.com.",
        "@ 3600 SOA ns.dns.com. hostmaster.dns.com. 1 7200 900 1209600 300
@ NS ns.dns.com.
@ 300 A 192.0.2.50
www 300 A 192.0.2.51",
    ),
    (
        "cdn.net.",
        "@ 3600 SOA ns1 hostmaster 1 7200 900 1209600 60
@ NS ns1
@ NS ns2
ns1 A 127.58.0.25
ns2 A 127.58.0.30
edge 60 A 198.51.100.30
edge 60 A 198.51.100.31
img 60 AAAA 2001:db8:3::1",
    ),
    (
        "deep.com.",
        "@ 3600 SOA ns1 hostmaster 1 7200 900 1209600 300
@ NS ns1
ns1 A 127.58.0.26
@ 300 A 192.0.2.60
www 300 A 192.0.2.61
a.b.c NS ns1.a.b.c
ns1.a.b.c A 127.58.0.27",
    ),
    (
        "a.b.c.deep.com.",
        "@ 3600 SOA ns1 hostmaster 1 7200 900 1209600 300
@ NS ns1
ns1 A 127.58.0.27
www 300 A 192.0.2.70
host 300 AAAA 2001:db8:4::1",
    ),
    (
        "uni.org.",
        "@ 3600 SOA ns1 hostmaster 1 7200 900 1209600 300
@ NS ns1
@ NS ns2
ns1 A 127.58.0.28
ns2 A 127.58.0.29
www 300 A 203.0.113.20
www 300 AAAA 2001:db8:5::20
lib 300 A 203.0.113.21
docs 300 CNAME www.blog.org.",
    ),
];

/// One client question and what a correct resolver answers.
struct Case {
    name: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    answer: Expect,
}

/// The answer records of type `qtype` a correct answer holds.
enum Expect {
    /// Exactly these RDATA (as text), in any order.
    Rdata(&'static [&'static str]),
    /// This many records.
    Count(usize),
}

const fn case(
    name: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    answer: &'static [&'static str],
) -> Case {
    Case {
        name,
        qtype,
        rcode,
        answer: Expect::Rdata(answer),
    }
}

/// Number of A records at big.example.com: the answer (about 1.7 kB) does
/// not fit the 1232-byte EDNS payload, so it needs TCP upstream and to the
/// client.
const BIG_A: usize = 100;

use RecordType::{A, AAAA, MX, TXT};
use ResponseCode::{NXDomain, NoError};

/// The fixed list of names, asked in this order.
const CASES: &[Case] = &[
    case("www.example.com", A, NoError, &["192.0.2.11"]),
    case("www.example.com", AAAA, NoError, &["2001:db8::11"]),
    case("example.com", A, NoError, &["192.0.2.10"]),
    case("example.com", MX, NoError, &["10 mail.example.com."]),
    case("example.com", TXT, NoError, &["v=spf1"]),
    case("mail.example.com", A, NoError, &["192.0.2.12"]),
    // NODATA: mail has an A record only.
    case("mail.example.com", AAAA, NoError, &[]),
    // CNAME inside the zone.
    case("alias.example.com", A, NoError, &["192.0.2.11"]),
    // Truncated over UDP: TCP upstream (and to the client).
    Case {
        name: "big.example.com",
        qtype: A,
        rcode: NoError,
        answer: Expect::Count(BIG_A),
    },
    case("nosuch.example.com", A, NXDomain, &[]),
    case("ns1.example.com", A, NoError, &["127.58.0.20"]),
    case("www.example.net", A, NoError, &["198.51.100.1"]),
    case("www.example.net", AAAA, NoError, &["2001:db8:1::1"]),
    case("ftp.example.net", A, NoError, &["198.51.100.2"]),
    case("example.net", MX, NoError, &["10 mail.example.com."]),
    // CNAME into another TLD's zone (already cached).
    case("alias2.example.net", A, NoError, &["192.0.2.11"]),
    // shop.org: glueless delegation to ns1.hosting.net, not yet resolved.
    case("shop.org", A, NoError, &["203.0.113.1"]),
    // CNAME across zones and TLDs, to a zone with two servers.
    case(
        "www.shop.org",
        A,
        NoError,
        &["198.51.100.30", "198.51.100.31"],
    ),
    case("cart.shop.org", AAAA, NoError, &["2001:db8:2::1"]),
    case("cart.shop.org", A, NoError, &[]),
    case(
        "edge.cdn.net",
        A,
        NoError,
        &["198.51.100.30", "198.51.100.31"],
    ),
    case("img.cdn.net", AAAA, NoError, &["2001:db8:3::1"]),
    // news.com: NS ns.dns.com (not yet resolved), whose address com. gives
    // as sibling glue (ns.dns.com is not inside news.com).
    case("news.com", A, NoError, &["192.0.2.50"]),
    case("www.news.com", A, NoError, &["192.0.2.51"]),
    // blog.org: glueless, two servers in two other TLDs.
    case("blog.org", A, NoError, &["203.0.113.10"]),
    case("blog.org", AAAA, NoError, &["2001:db8:2::10"]),
    case("www.blog.org", A, NoError, &["203.0.113.11"]),
    case("missing.blog.org", A, NXDomain, &[]),
    // hosting.net is known by now (its server's address was resolved).
    case("www.hosting.net", A, NoError, &["198.51.100.20"]),
    case("www.dns.com", A, NoError, &["192.0.2.40"]),
    case("deep.com", A, NoError, &["192.0.2.60"]),
    case("www.deep.com", A, NoError, &["192.0.2.61"]),
    // a.b.c.deep.com: delegated three labels below deep.com.
    case("www.a.b.c.deep.com", A, NoError, &["192.0.2.70"]),
    case("host.a.b.c.deep.com", AAAA, NoError, &["2001:db8:4::1"]),
    case("nothere.a.b.c.deep.com", A, NXDomain, &[]),
    // An empty non-terminal of deep.com: NODATA.
    case("c.deep.com", A, NoError, &[]),
    case("www.uni.org", A, NoError, &["203.0.113.20"]),
    case("www.uni.org", AAAA, NoError, &["2001:db8:5::20"]),
    case("lib.uni.org", A, NoError, &["203.0.113.21"]),
    // CNAME from uni.org to the glueless blog.org (cached by now).
    case("docs.uni.org", A, NoError, &["203.0.113.11"]),
    // NXDOMAIN from a TLD, and from the root.
    case("nosuchzone.com", A, NXDomain, &[]),
    case("www.nosuchtld", A, NXDomain, &[]),
];

fn server_ip(spec: &ServerSpec) -> Ipv4Addr {
    Ipv4Addr::new(127, 58, 0, spec.octet)
}

fn zone(origin: &str) -> Zone {
    let (_, text) = ZONES
        .iter()
        .find(|(o, _)| *o == origin)
        .unwrap_or_else(|| panic!("no zone data for {origin}"));
    let mut text = text.to_string();
    if origin == "example.com." {
        for i in 0..BIG_A {
            let _ = write!(text, "\nbig 300 A 192.0.2.{}", 100 + i);
        }
    }
    Zone::parse(origin, &text)
}

fn start_authorities() -> Vec<AuthorityServer> {
    SERVERS
        .iter()
        .map(|s| {
            AuthorityServer::start(
                IpAddr::V4(server_ip(s)),
                s.zones.iter().map(|o| zone(o)).collect(),
            )
        })
        .collect()
}

fn write_root_hints(dir: &Path) -> PathBuf {
    let mut text = String::from("; root hints of the upstream_queries bench tree\n");
    let roots: Vec<&ServerSpec> = SERVERS.iter().filter(|s| s.role == Role::Root).collect();
    for s in &roots {
        let _ = writeln!(text, ".                    3600000 NS {}.", s.host);
    }
    for s in &roots {
        let _ = writeln!(
            text,
            "{:<20} 3600000 A  {}",
            format!("{}.", s.host),
            server_ip(s)
        );
    }
    let path = dir.join("root.hints");
    fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

// ---------------------------------------------------------------------------
// Traffic bookkeeping
// ---------------------------------------------------------------------------

/// One upstream query as an authority received it.
#[derive(Clone, Debug)]
struct Upq {
    /// Index into SERVERS.
    server: usize,
    transport: Transport,
    /// QNAME exactly as received (case kept).
    qname: Name,
    qtype: RecordType,
    edns: bool,
}

impl Upq {
    fn role(&self) -> Role {
        SERVERS[self.server].role
    }

    /// The zone the server answered this query from: the longest of its
    /// origins that contains the QNAME.
    fn zone(&self) -> &'static str {
        let name = self.name_lc();
        SERVERS[self.server]
            .zones
            .iter()
            .filter(|o| **o == "." || name == **o || name.ends_with(&format!(".{o}")))
            .max_by_key(|o| o.len())
            .copied()
            .unwrap_or("?")
    }

    /// Lowercase QNAME with the trailing dot.
    fn name_lc(&self) -> String {
        self.qname.to_lowercase().to_ascii()
    }

    fn describe(&self) -> String {
        let s = &SERVERS[self.server];
        format!(
            "{:<4} {:<18} {:<3} {} {}{}",
            s.role.label(),
            s.host,
            match self.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            },
            self.qname.to_ascii(),
            self.qtype,
            if self.edns { "" } else { " (no EDNS)" }
        )
    }
}

/// Reads the authorities' logs incrementally.
struct Tap<'a> {
    servers: &'a [AuthorityServer],
    seen: Vec<usize>,
}

impl<'a> Tap<'a> {
    /// Clears every counter and starts from zero.
    fn new(servers: &'a [AuthorityServer]) -> Self {
        for s in servers {
            s.clear();
        }
        Tap {
            servers,
            seen: vec![0; servers.len()],
        }
    }

    fn total(&self) -> usize {
        self.servers.iter().map(|s| s.total()).sum()
    }

    /// Waits until no new query has arrived for QUIET (at most SETTLE_MAX),
    /// then returns the queries received since the previous call (grouped
    /// by server, each server's in arrival order).
    fn settle_and_take(&mut self) -> Vec<Upq> {
        let deadline = Instant::now() + SETTLE_MAX;
        let mut last = self.total();
        let mut quiet_since = Instant::now();
        let step = Duration::from_millis(25);
        for _ in 0..(SETTLE_MAX.as_millis() / step.as_millis() + 1) {
            if Instant::now() >= deadline || quiet_since.elapsed() >= QUIET {
                break;
            }
            sleep(step);
            let now = self.total();
            if now != last {
                last = now;
                quiet_since = Instant::now();
            }
        }
        let mut out = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            let log = s.queries();
            for (transport, qname, qtype, edns) in log.into_iter().skip(self.seen[i]) {
                self.seen[i] += 1;
                out.push(Upq {
                    server: i,
                    transport,
                    qname,
                    qtype,
                    edns,
                });
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// Asks `name`/`qtype` over UDP (RD=1, EDNS 1232) and waits up to ASK_TIMEOUT
/// for the reply with the same ID.
fn ask(server: SocketAddr, name: &str, qtype: RecordType) -> Result<Message, String> {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    let qname = Name::from_ascii(format!("{name}.")).map_err(|e| format!("bad name: {e}"))?;
    msg.add_query(Query::query(qname, qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.edns = Some(edns);
    let bytes = msg.to_vec().map_err(|e| format!("encode: {e}"))?;
    let reply = exchange(server, &bytes, ASK_TIMEOUT).ok_or("timeout")?;
    let reply = Message::from_vec(&reply).map_err(|e| format!("undecodable reply: {e}"))?;
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    // TC=1: ask again over TCP, as a stub would.
    let reply = exchange_tcp(server, &bytes, ASK_TIMEOUT).ok_or("TCP: no reply")?;
    Message::from_vec(&reply).map_err(|e| format!("undecodable TCP reply: {e}"))
}

/// Sends one length-framed query on a new TCP connection and reads the reply.
fn exchange_tcp(server: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply).ok()?;
    (reply.len() >= 2 && reply[..2] == bytes[..2]).then_some(reply)
}

/// A header-only query (QDCOUNT=0): both resolvers answer it FORMERR at
/// once, without any upstream query, so it shows readiness while keeping
/// the cache cold.
fn ready_probe(server: SocketAddr) -> bool {
    let q = common::header_only_query(rand_id());
    exchange(server, &q, Duration::from_millis(200)).is_some()
}

/// Sends one datagram and returns the first reply carrying the same ID.
fn exchange(server: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    common::exchange("0.0.0.0:0", server, bytes, timeout)
}

/// Checks a reply against the expected rcode and answer RDATA.
fn check(case: &Case, reply: &Message) -> Result<(), String> {
    let rcode = reply.metadata.response_code;
    let mut got: Vec<String> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == case.qtype)
        .map(|r| r.data.to_string().trim_matches('"').to_string())
        .collect();
    got.sort();
    let ok = rcode == case.rcode
        && match case.answer {
            Expect::Rdata(want) => {
                let mut want: Vec<&str> = want.to_vec();
                want.sort();
                got == want
            }
            Expect::Count(n) => got.len() == n,
        };
    if ok {
        Ok(())
    } else if got.len() > 8 {
        Err(format!(
            "got {rcode:?} with {} {} records (truncated: {})",
            got.len(),
            case.qtype,
            reply.metadata.truncation
        ))
    } else {
        Err(format!("got {rcode:?} {got:?}, want {:?}", case.rcode))
    }
}

// ---------------------------------------------------------------------------
// Resolver processes
// ---------------------------------------------------------------------------

/// A resolver child process (see [`Proc`]), stopped within
/// [`STOP_TIMEOUT`], its log's last 30 lines shown on failure.
fn spawn_proc(what: &str, cmd: Command, log: PathBuf) -> Result<Proc, String> {
    let mut proc = Proc::spawn(what, cmd, log, STOP_TIMEOUT)?;
    proc.tail_lines = 30;
    Ok(proc)
}

/// Waits (bounded) until the resolver answers a probe on `addr`.
fn wait_ready(proc: &mut Proc, addr: SocketAddr) -> Result<Duration, String> {
    let procs = std::slice::from_mut(proc);
    common::wait_ready(procs, 200, STARTUP_TIMEOUT, || ready_probe(addr)).map_err(|exited| {
        exited.unwrap_or_else(|| {
            format!(
                "{} did not answer on {addr} within {STARTUP_TIMEOUT:?}\n{}",
                proc.what,
                proc.tail()
            )
        })
    })
}

/// Runs a command to completion within `limit` (killing it after), returning
/// (success, stdout+stderr).
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String) {
    common::run_bounded(cmd, limit, "upstream-queries-cmd")
}

fn find_program(name: &str) -> Option<PathBuf> {
    common::find_program(name, &["/usr/sbin", "/usr/local/sbin", "/sbin"])
}

// ---------------------------------------------------------------------------
// Unbound
// ---------------------------------------------------------------------------

/// The Unbound binary: found, or installed from Debian's package.
fn ensure_unbound() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("UNBOUND") {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = find_program("unbound") {
        return Ok(p);
    }
    if std::env::var_os("UPSTREAM_QUERIES_NO_INSTALL").is_some() {
        return Err("unbound is not installed (and UPSTREAM_QUERIES_NO_INSTALL is set)".into());
    }
    if find_program("apt-get").is_none() {
        return Err("unbound is not installed and there is no apt-get".into());
    }
    println!("unbound is not installed: running `apt-get install -y unbound`");
    // Keep the package from starting its own service during the install
    // (Debian's policy-rc.d convention, exit 101 = "not allowed"), unless
    // the machine already has a policy.
    let made_policy = common::deny_service_starts("upstream_queries");
    let install = || run_bounded(&mut common::apt_install_cmd(&["unbound"]), APT_TIMEOUT);
    let (mut ok, mut log) = install();
    if !ok {
        println!("apt-get install failed; running `apt-get update` and trying again");
        let (_, upd) = run_bounded(&mut common::apt_update_cmd(), APT_TIMEOUT);
        log.push_str(&upd);
        (ok, log) = install();
    }
    common::allow_service_starts(made_policy);
    if !ok {
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "apt-get install unbound failed:\n{}",
            tail.join("\n")
        ));
    }
    stop_packaged_unbound();
    find_program("unbound").ok_or_else(|| "unbound installed but not found on PATH".into())
}

/// Stops and disables the service the Debian package may have started; only
/// that service, through the service manager, right after our own install.
fn stop_packaged_unbound() {
    if find_program("systemctl").is_some() {
        let active = Command::new("systemctl")
            .args(["is-active", "--quiet", "unbound.service"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if active {
            println!("stopping the packaged unbound service (systemctl stop unbound)");
            let _ = run_bounded(
                Command::new("systemctl").args(["stop", "unbound.service"]),
                Duration::from_secs(30),
            );
        }
        let _ = run_bounded(
            Command::new("systemctl").args(["disable", "unbound.service"]),
            Duration::from_secs(30),
        );
    }
    if find_program("service").is_some() {
        let _ = run_bounded(
            Command::new("service").args(["unbound", "stop"]),
            Duration::from_secs(30),
        );
    }
}

fn unbound_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("-V").output();
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().replace("Version", "Unbound"))
        })
        .unwrap_or_else(|| "Unbound (version unknown)".into())
}

fn unbound_config(dir: &Path, hints: &Path) -> String {
    format!(
        "# written by benches/upstream_queries.rs
server:
    interface: {UNBOUND_ADDR}
    port: 53
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    root-hints: \"{hints}\"
    do-daemonize: no
    username: \"\"
    chroot: \"\"
    directory: \"{dir}\"
    pidfile: \"{dir}/unbound.pid\"
    logfile: \"{dir}/unbound.log\"
    use-syslog: no
    verbosity: 1
    module-config: \"iterator\"
    harden-referral-path: no
    qname-minimisation: yes
    use-caps-for-id: no
    num-threads: 1
    prefetch: no
remote-control:
    control-enable: no
",
        hints = hints.display(),
        dir = dir.display(),
    )
}

// ---------------------------------------------------------------------------
// One measurement
// ---------------------------------------------------------------------------

struct Outcome {
    result: Result<(), String>,
    traffic: Vec<Upq>,
}

struct Run {
    label: String,
    version: String,
    startup: Vec<Upq>,
    outcomes: Vec<Outcome>,
    trailing: Vec<Upq>,
    stop: String,
}

impl Run {
    fn all(&self) -> impl Iterator<Item = &Upq> {
        self.startup
            .iter()
            .chain(self.outcomes.iter().flat_map(|o| o.traffic.iter()))
            .chain(self.trailing.iter())
    }

    fn total(&self) -> usize {
        self.all().count()
    }

    fn by_role(&self, role: Role) -> usize {
        self.all().filter(|q| q.role() == role).count()
    }

    fn tcp(&self) -> usize {
        self.all().filter(|q| q.transport == Transport::Tcp).count()
    }

    fn correct(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }

    fn by_qtype(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for q in self.all() {
            *m.entry(q.qtype.to_string()).or_insert(0) += 1;
        }
        m
    }

    /// Upstream questions (lowercase name, type, transport) sent more than
    /// once to the same zone (any of its servers) in the whole run, with
    /// their count and servers. A minimised query to a parent and the full
    /// question to the child are different zones, and a TCP retry after
    /// TC=1 is another transport, so neither is a repeat.
    fn repeats(&self) -> Vec<(String, usize)> {
        let mut m: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for q in self.all() {
            let transport = match q.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            };
            let key = format!(
                "{} {} {transport} @ zone {}",
                q.name_lc(),
                q.qtype,
                q.zone()
            );
            m.entry(key).or_default().push(SERVERS[q.server].host);
        }
        m.into_iter()
            .filter(|(_, servers)| servers.len() > 1)
            .map(|(k, servers)| (format!("{k} (to {})", servers.join(", ")), servers.len()))
            .collect()
    }

    fn traffic_report(&self) -> String {
        let mut s = format!(
            "# {} ({}): every upstream query, per client question\n\
             # (grouped by server within a question; each server's in arrival order)\n",
            self.label, self.version
        );
        let mut section = |title: &str, qs: &[Upq]| {
            let _ = writeln!(s, "\n## {title}: {} queries", qs.len());
            for q in qs {
                let _ = writeln!(s, "  {}", q.describe());
            }
        };
        section("at startup", &self.startup);
        for (case, o) in CASES.iter().zip(&self.outcomes) {
            let verdict = match &o.result {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("WRONG: {e}"),
            };
            section(
                &format!("{} {} [{verdict}]", case.name, case.qtype),
                &o.traffic,
            );
        }
        section("after the last answer", &self.trailing);
        let _ = writeln!(s, "\n## questions sent to the same zone more than once");
        for (k, n) in self.repeats() {
            let _ = writeln!(s, "  {n}x {k}");
        }
        let _ = writeln!(s, "\nprocess: {}", self.stop);
        s
    }
}

/// Measures one resolver already started as `proc`, listening on `addr`.
fn measure(
    label: &str,
    version: String,
    mut proc: Proc,
    addr: SocketAddr,
    tap: &mut Tap,
) -> Result<Run, String> {
    let ready_after = wait_ready(&mut proc, addr)?;
    println!("{label}: answering after {ready_after:.2?}");
    let startup = tap.settle_and_take();
    let begin = Instant::now();
    let mut outcomes = Vec::new();
    for case in CASES {
        if begin.elapsed() > RUN_BUDGET {
            outcomes.push(Outcome {
                result: Err(format!("not asked: {RUN_BUDGET:?} budget spent")),
                traffic: Vec::new(),
            });
            continue;
        }
        let result = ask(addr, case.name, case.qtype).and_then(|m| check(case, &m));
        let traffic = tap.settle_and_take();
        if let Err(e) = &result {
            println!("  {label}: {} {}: {e}", case.name, case.qtype);
        }
        outcomes.push(Outcome { result, traffic });
    }
    // Anything still arriving (background fetches) after the last answer.
    sleep(Duration::from_millis(300));
    let trailing = tap.settle_and_take();
    let stop = proc.stop();
    println!("{label}: {stop} after {:.1?} of questions", begin.elapsed());
    Ok(Run {
        label: label.to_string(),
        version,
        startup,
        outcomes,
        trailing,
        stop,
    })
}

fn run_rootward(out: &Path, hints: &Path, tap: &mut Tap) -> Result<Run, String> {
    let addr = SocketAddr::new(IpAddr::V4(ROOTWARD_ADDR), 53);
    let extra = std::env::var("ROOTWARD_EXTRA_ARGS").unwrap_or_default();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rootward"));
    cmd.arg("--listen")
        .arg(addr.to_string())
        .arg("--root-hints")
        .arg(hints)
        .arg("--allow-loopback-upstream")
        // The tree is unsigned; Unbound runs with the iterator only.
        .arg("--no-dnssec")
        .arg("--log-level")
        .arg("debug")
        .args(extra.split_whitespace())
        .env("NO_COLOR", "1");
    let proc = spawn_proc("rootward", cmd, out.join("rootward.log"))?;
    let mut label = "rootward".to_string();
    if !extra.trim().is_empty() {
        label = format!("rootward {}", extra.trim());
    }
    measure(
        &label,
        common::rootward_version(" + uncommitted src/"),
        proc,
        addr,
        tap,
    )
}

fn run_unbound(bin: &Path, out: &Path, hints: &Path, tap: &mut Tap) -> Result<Run, String> {
    let addr = SocketAddr::new(IpAddr::V4(UNBOUND_ADDR), 53);
    let dir = out.join("unbound");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let conf = dir.join("unbound.conf");
    fs::write(&conf, unbound_config(&dir, hints)).map_err(|e| e.to_string())?;
    if let Some(check) = find_program("unbound-checkconf") {
        let (ok, text) = run_bounded(Command::new(check).arg(&conf), Duration::from_secs(20));
        if !ok {
            return Err(format!(
                "unbound-checkconf rejected {}:\n{text}",
                conf.display()
            ));
        }
    }
    let mut cmd = Command::new(bin);
    cmd.arg("-d").arg("-c").arg(&conf);
    let proc = spawn_proc("unbound", cmd, dir.join("unbound.stderr"))?;
    measure("Unbound", unbound_version(bin), proc, addr, tap)
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

fn table(runs: &[&Run]) -> String {
    let n = CASES.len();
    let mut s = String::from(
        "| resolver | names answered correctly | upstream queries | per name | root | TLD | leaf | over TCP |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let _ = writeln!(
            s,
            "| {}{} | {}/{n} | {} | {:.2} | {} | {} | {} | {} |",
            r.version,
            r.label
                .strip_prefix("rootward ")
                .map(|extra| format!(" ({extra})"))
                .unwrap_or_default(),
            r.correct(),
            r.total(),
            r.total() as f64 / n as f64,
            r.by_role(Role::Root),
            r.by_role(Role::Tld),
            r.by_role(Role::Leaf),
            r.tcp()
        );
    }
    s
}

fn qtype_table(runs: &[&Run]) -> String {
    let mut types: Vec<String> = runs.iter().flat_map(|r| r.by_qtype().into_keys()).collect();
    types.sort();
    types.dedup();
    let mut s = String::from("| resolver |");
    for t in &types {
        let _ = write!(s, " {t} |");
    }
    s.push_str(" at startup | after the last answer |\n|---|");
    for _ in 0..types.len() + 2 {
        s.push_str("---|");
    }
    s.push('\n');
    for r in runs {
        let m = r.by_qtype();
        let _ = write!(s, "| {} |", r.label);
        for t in &types {
            let _ = write!(s, " {} |", m.get(t).copied().unwrap_or(0));
        }
        let _ = writeln!(s, " {} | {} |", r.startup.len(), r.trailing.len());
    }
    s
}

fn per_name_table(a: &Run, b: &Run) -> String {
    let mut s = format!(
        "| name | type | {} | {} | {} root/TLD/leaf | {} root/TLD/leaf |\n|---|---|---|---|---|---|\n",
        a.label, b.label, a.label, b.label
    );
    let split = |qs: &[Upq]| {
        let c = |role| qs.iter().filter(|q| q.role() == role).count();
        format!("{}/{}/{}", c(Role::Root), c(Role::Tld), c(Role::Leaf))
    };
    let mut differing = 0;
    for (i, case) in CASES.iter().enumerate() {
        let (x, y) = (&a.outcomes[i].traffic, &b.outcomes[i].traffic);
        if x.len() != y.len() {
            differing += 1;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                case.name,
                case.qtype,
                x.len(),
                y.len(),
                split(x),
                split(y)
            );
        }
    }
    let _ = writeln!(
        s,
        "\n{differing} of {} names differ in upstream query count.",
        CASES.len()
    );
    s
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cpus} CPUs (nproc), Linux {}", common::kernel_release())
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/upstream-queries");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).expect("create target/upstream-queries");
    let hints = write_root_hints(&out);

    // Port 53 needs root; say so plainly instead of panicking in the fixture.
    common::require_port_53("upstream_queries", Ipv4Addr::new(127, 58, 0, 2));

    let started = Instant::now();
    let authorities = start_authorities();
    println!(
        "tree: {} zones on {} authorities (127.58.0.0/24); {} names; {}",
        ZONES.len(),
        SERVERS.len(),
        CASES.len(),
        machine()
    );

    let mut runs: Vec<Run> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    let mut tap = Tap::new(&authorities);
    match run_rootward(&out, &hints, &mut tap) {
        Ok(r) => runs.push(r),
        Err(e) => notes.push(format!("rootward: NOT MEASURED: {e}")),
    }

    if std::env::var_os("UPSTREAM_QUERIES_SKIP_UNBOUND").is_some() {
        notes.push("Unbound: skipped (UPSTREAM_QUERIES_SKIP_UNBOUND)".into());
    } else {
        match ensure_unbound() {
            Ok(bin) => {
                let mut tap = Tap::new(&authorities);
                match run_unbound(&bin, &out, &hints, &mut tap) {
                    Ok(r) => runs.push(r),
                    Err(e) => notes.push(format!("Unbound: NOT MEASURED: {e}")),
                }
            }
            Err(e) => notes.push(format!("Unbound: NOT MEASURED, cannot install it: {e}")),
        }
    }
    drop(authorities);

    for r in &runs {
        let file = out.join(format!(
            "{}-traffic.txt",
            if r.label.starts_with("rootward") {
                "rootward"
            } else {
                "unbound"
            }
        ));
        let _ = fs::write(&file, r.traffic_report());
        let wrong: Vec<String> = CASES
            .iter()
            .zip(&r.outcomes)
            .filter_map(|(c, o)| {
                o.result
                    .as_ref()
                    .err()
                    .map(|e| format!("{} {}: {e}", c.name, c.qtype))
            })
            .collect();
        if !wrong.is_empty() {
            notes.push(format!(
                "{}: wrong or missing answers: {}",
                r.label,
                wrong.join("; ")
            ));
        }
        let repeats = r.repeats();
        if !repeats.is_empty() {
            notes.push(format!(
                "{}: {} upstream questions sent to the same zone more than once: {}",
                r.label,
                repeats.len(),
                repeats
                    .iter()
                    .map(|(k, n)| format!("{n}x {k}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }

    let refs: Vec<&Run> = runs.iter().collect();
    let mut md = String::new();
    let _ = writeln!(md, "{}", table(&refs));
    let _ = writeln!(md, "Upstream queries by type:\n\n{}", qtype_table(&refs));
    if let [a, b] = refs.as_slice() {
        let _ = writeln!(
            md,
            "Names whose upstream query count differs (queries attributed to a name are those \
             that arrived between its question and its answer, plus until traffic went quiet):\n\n{}",
            per_name_table(a, b)
        );
    }

    println!("\n{}", table(&refs));
    for n in &notes {
        println!("note: {n}");
    }
    println!(
        "traffic per name: {}/{{rootward,unbound}}-traffic.txt; resolver logs in the same folder",
        out.display()
    );
    println!("\n<!-- BEGIN upstream_queries markdown -->");
    print!("{md}");
    println!("<!-- END upstream_queries markdown -->");
    let _ = fs::write(out.join("table.md"), &md);
    println!("\nwhole run: {:.1?}", started.elapsed());
}
