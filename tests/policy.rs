//! Local policy end to end: local data and hosts files, the RFC 6303
//! private reverse zones, blocklists in every format, RPZ, allowlists and
//! reloads, as a client on the loopback sees them. The binary runs as a
//! process against test authorities on 127.77.0.0/16 (test k uses
//! 127.77.k.x: k.1 rootward, k.2 the root, k.3 `test.`).

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use support::authority::Zone;
use support::authority_server::AuthorityServer;
use support::client::{Client, a_records, ede, query};
use support::process::{Rootward, write_root_hints};

fn ip(k: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 77, k, host))
}

/// EDE INFO-CODE of Blocked (RFC 8914 §4.16).
const EDE_BLOCKED: u16 = 15;
/// EDE INFO-CODE of Filtered (RFC 8914 §4.18).
const EDE_FILTERED: u16 = 17;
/// EDNS payload of the test queries (EDE needs an OPT in the query).
const PAYLOAD: u16 = 1232;

/// A root (k.2) delegating `test.` to k.3, which serves www, mail and ftp.
struct Tree {
    root: AuthorityServer,
    leaf: AuthorityServer,
    dir: PathBuf,
    k: u8,
}

impl Tree {
    fn new(k: u8) -> Tree {
        let root = Zone::parse(
            ".",
            &format!(
                ". 86400 SOA a.root.test. admin.test. 1 1800 900 604800 86400\n\
                 . 518400 NS a.root.test.\n\
                 a.root.test. 518400 A {}\n\
                 test. 172800 NS ns.test.\n\
                 ns.test. 172800 A {}\n",
                ip(k, 2),
                ip(k, 3)
            ),
        );
        let test = Zone::parse(
            "test.",
            &format!(
                "@ 3600 SOA ns.test. admin.test. 1 3600 900 604800 60\n\
                 @ NS ns.test.\n\
                 ns A {}\n\
                 www 300 A 192.0.2.1\n\
                 mail 300 A 192.0.2.2\n\
                 ftp 300 A 192.0.2.3\n",
                ip(k, 3)
            ),
        );
        let dir = std::env::temp_dir().join(format!("rootward-policy-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Tree {
            root: AuthorityServer::start(ip(k, 2), vec![root]),
            leaf: AuthorityServer::start(ip(k, 3), vec![test]),
            dir,
            k,
        }
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write test file");
        path.display().to_string()
    }

    fn rootward(&self, extra: &[&str]) -> Rootward {
        let hints = write_root_hints(&self.dir, &[("a.root.test.", ip(self.k, 2))]);
        Rootward::start(SocketAddr::new(ip(self.k, 1), 53), &hints, extra)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ask(rw: &Rootward, name: &str, qtype: RecordType) -> Message {
    rw.client().udp_edns(name, qtype, PAYLOAD)
}

fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

fn ede_codes(m: &Message) -> Vec<u16> {
    ede(m).into_iter().map(|(code, _)| code).collect()
}

fn ptr_targets(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_string()),
            _ => None,
        })
        .collect()
}

/// A negative local answer: the rcode, AA, and the zone's SOA.
fn assert_local_negative(m: &Message, want: ResponseCode, what: &str) {
    assert_eq!(rcode(m), want, "{what}");
    assert!(m.metadata.authoritative, "{what}: AA");
    assert!(m.metadata.recursion_available, "{what}: RA");
    assert!(m.answers.is_empty(), "{what}");
    assert_eq!(
        m.authorities.first().map(|r| r.record_type()),
        Some(RecordType::SOA),
        "{what}: SOA in the authority section"
    );
}

/// Polls `f` for up to 5 s (a reload is asynchronous to the signal).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not within 5 s: {what}");
}

fn sighup(rw: &Rootward) {
    let status = Command::new("kill")
        .arg("-HUP")
        .arg(rw.pid().to_string())
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

#[test]
fn private_reverse_zones_are_answered_without_any_upstream_query() {
    let tree = Tree::new(1);
    let rw = tree.rootward(&[]);
    tree.root.clear();
    tree.leaf.clear();
    for (name, qtype) in [
        ("4.3.2.10.in-addr.arpa.", RecordType::PTR),
        ("1.1.168.192.in-addr.arpa.", RecordType::PTR),
        ("9.9.31.172.in-addr.arpa.", RecordType::PTR),
        ("1.1.254.169.in-addr.arpa.", RecordType::PTR),
        (
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
            RecordType::PTR,
        ),
        ("x.9.e.f.ip6.arpa.", RecordType::PTR),
        ("printer.home.arpa.", RecordType::A),
    ] {
        assert_local_negative(&ask(&rw, name, qtype), ResponseCode::NXDomain, name);
    }
    // The zone apex exists: NODATA, not NXDOMAIN.
    assert_local_negative(
        &ask(&rw, "10.in-addr.arpa.", RecordType::A),
        ResponseCode::NoError,
        "apex",
    );
    // Loopback's reverse name is localhost, over TCP too.
    let lo = rw.client().tcp("1.0.0.127.in-addr.arpa.", RecordType::PTR);
    assert_eq!(ptr_targets(&lo), vec!["localhost."]);
    assert!(lo.metadata.authoritative);
    assert_eq!(
        tree.root.total() + tree.leaf.total(),
        0,
        "no query left the machine"
    );

    // Outside those zones the resolver still resolves.
    assert_eq!(
        a_records(&ask(&rw, "www.test.", RecordType::A)),
        vec![Ipv4Addr::new(192, 0, 2, 1)]
    );
    assert!(tree.root.total() > 0);
}

#[test]
fn a_default_zone_can_be_turned_off() {
    let tree = Tree::new(2);
    let rw = tree.rootward(&["--local-zone", "10.in-addr.arpa transparent"]);
    tree.root.clear();
    let r = ask(&rw, "4.3.2.10.in-addr.arpa.", RecordType::PTR);
    // The test root knows no arpa: its NXDOMAIN, not a local one.
    assert_eq!(rcode(&r), ResponseCode::NXDomain);
    assert!(!r.metadata.authoritative);
    assert!(tree.root.total() > 0, "the question went upstream");
    // 192.168/16 is still local.
    tree.root.clear();
    assert_local_negative(
        &ask(&rw, "1.1.168.192.in-addr.arpa.", RecordType::PTR),
        ResponseCode::NXDomain,
        "168.192",
    );
    assert_eq!(tree.root.total(), 0);
}

#[test]
fn local_data_and_hosts_files_answer_with_aa_and_ptr() {
    let tree = Tree::new(3);
    let hosts = tree.file(
        "hosts",
        "# the LAN\n192.168.1.20 printer.lan printer\nfd00::20 printer.lan\nnot-an-address x.lan\n",
    );
    let rw = tree.rootward(&[
        "--local-data",
        "nas.home.arpa. 300 IN A 192.168.1.10",
        "--local-data",
        "10.1.168.192.in-addr.arpa. PTR nas.home.arpa.",
        "--local-zone",
        "corp.example static",
        "--local-data",
        "www.corp.example. A 192.0.2.80",
        "--hosts-file",
        &hosts,
    ]);
    tree.root.clear();
    let nas = ask(&rw, "nas.home.arpa.", RecordType::A);
    assert_eq!(a_records(&nas), vec![Ipv4Addr::new(192, 168, 1, 10)]);
    assert!(nas.metadata.authoritative && nas.metadata.recursion_available);
    assert_eq!(nas.answers[0].ttl, 300);
    let ptr = ask(&rw, "10.1.168.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(ptr_targets(&ptr), vec!["nas.home.arpa."]);
    // Same name, another type: NODATA with the zone's SOA.
    assert_local_negative(
        &ask(&rw, "nas.home.arpa.", RecordType::AAAA),
        ResponseCode::NoError,
        "nas AAAA",
    );
    // Hosts file: both families and PTR both ways, the alias too.
    let printer = ask(&rw, "printer.lan.", RecordType::A);
    assert_eq!(a_records(&printer), vec![Ipv4Addr::new(192, 168, 1, 20)]);
    assert!(printer.metadata.authoritative);
    let v6 = ask(&rw, "printer.lan.", RecordType::AAAA);
    assert_eq!(v6.answers.len(), 1);
    assert_eq!(
        a_records(&ask(&rw, "printer.", RecordType::A)),
        vec![Ipv4Addr::new(192, 168, 1, 20)]
    );
    let back = ask(&rw, "20.1.168.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(ptr_targets(&back), vec!["printer.lan."]);
    let back6 = ask(
        &rw,
        "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
        RecordType::PTR,
    );
    assert_eq!(ptr_targets(&back6), vec!["printer.lan."]);
    // A static zone of our own: data, else NXDOMAIN.
    assert_eq!(
        a_records(&ask(&rw, "www.corp.example.", RecordType::A)),
        vec![Ipv4Addr::new(192, 0, 2, 80)]
    );
    assert_local_negative(
        &ask(&rw, "db.corp.example.", RecordType::A),
        ResponseCode::NXDomain,
        "db.corp",
    );
    assert_eq!(tree.root.total(), 0, "local answers need no upstream");
    // The hosts file's bad line was reported with its file and line.
    assert!(rw.stderr().contains(&format!("{hosts}:4")), "{}", rw.tail());
}

const MIXED_LIST: &str = "\
# hosts, domains and AdBlock lines in one file
127.0.0.1 localhost
0.0.0.0 mail.test
ftp.test
||ads.test^
example.org##.banner
this line is not a rule
";

#[test]
fn blocklists_in_every_format_answer_nxdomain_with_ede_blocked() {
    let tree = Tree::new(4);
    let list = tree.file("block.txt", MIXED_LIST);
    let rw = tree.rootward(&["--blocklist", &list]);
    tree.leaf.clear();
    for name in [
        "mail.test.",
        "ftp.test.",
        "ads.test.",
        "deep.sub.ads.test.",
        "x.MAIL.test.",
    ] {
        let r = ask(&rw, name, RecordType::A);
        assert_local_negative(&r, ResponseCode::NXDomain, name);
        assert_eq!(ede_codes(&r), vec![EDE_BLOCKED], "{name}");
    }
    assert_eq!(tree.leaf.total(), 0, "blocked names are not resolved");
    // Unlisted names resolve; the malformed line was skipped, not fatal.
    assert_eq!(
        a_records(&ask(&rw, "www.test.", RecordType::A)),
        vec![Ipv4Addr::new(192, 0, 2, 1)]
    );
    assert!(rw.stderr().contains(&format!("{list}:7")), "{}", rw.tail());
    // ctl tells which rule decides, without resolving.
    let (code, out, err) = rw.ctl(&["policy", "x.ads.test", "AAAA"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("blocklist {list}: ads.test.")),
        "{out}"
    );
    assert!(out.contains("NXDOMAIN") && out.contains("EDE 15"), "{out}");
    let (code, out, err) = rw.ctl(&["trace", "ads.test"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("decided by the local policy, not resolved"),
        "{out}"
    );
    let (_, out, _) = rw.ctl(&["policy", "www.test"]);
    assert!(out.contains("no local rule"), "{out}");
    let (_, stats, _) = rw.ctl(&["stats"]);
    assert!(
        stats.contains("policy_answers_total{decision=\"blocked\"} 5"),
        "{stats}"
    );
}

#[test]
fn allowlist_wins_and_the_block_action_can_be_an_address() {
    let tree = Tree::new(5);
    let block = tree.file("block.txt", "test\n");
    let allow = tree.file("allow.txt", "||www.test^\n");
    let rw = tree.rootward(&[
        "--blocklist",
        &block,
        "--allowlist",
        &allow,
        "--blocklist-action",
        "0.0.0.0,::",
    ]);
    // www.test is allowed (more specific than the blocked parent).
    assert_eq!(
        a_records(&ask(&rw, "www.test.", RecordType::A)),
        vec![Ipv4Addr::new(192, 0, 2, 1)]
    );
    // Every other name under test. gets the configured address.
    let r = ask(&rw, "mail.test.", RecordType::A);
    assert_eq!(rcode(&r), ResponseCode::NoError);
    assert_eq!(a_records(&r), vec![Ipv4Addr::UNSPECIFIED]);
    assert_eq!(ede_codes(&r), vec![EDE_BLOCKED]);
    let r6 = ask(&rw, "mail.test.", RecordType::AAAA);
    assert!(matches!(&r6.answers[0].data, RData::AAAA(a) if a.0.is_unspecified()));
}

const RPZ: &str = "\
$TTL 60
$ORIGIN rpz.local.
@ SOA localhost. admin.localhost. ( 1 3600 900 604800 60 )
  NS localhost.
*.test            CNAME .
www.test          CNAME rpz-passthru.
mail.test         CNAME *.
ftp.test          CNAME rpz-drop.
garden.test       A 192.0.2.99
broken.test       A 999.1.1.1
";

#[test]
fn rpz_actions_answer_with_ede_filtered() {
    let tree = Tree::new(6);
    let rpz = tree.file("rpz.zone", RPZ);
    let rw = tree.rootward(&["--blocklist", &rpz]);
    // NXDOMAIN from the wildcard.
    let r = ask(&rw, "other.test.", RecordType::A);
    assert_local_negative(&r, ResponseCode::NXDomain, "other.test");
    assert_eq!(ede_codes(&r), vec![EDE_FILTERED]);
    // PASSTHRU: resolved normally.
    let r = ask(&rw, "www.test.", RecordType::A);
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(ede_codes(&r).is_empty());
    // NODATA.
    let r = ask(&rw, "mail.test.", RecordType::A);
    assert_local_negative(&r, ResponseCode::NoError, "mail.test");
    assert_eq!(ede_codes(&r), vec![EDE_FILTERED]);
    // Local data.
    let r = ask(&rw, "garden.test.", RecordType::A);
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 99)]);
    assert_eq!(ede_codes(&r), vec![EDE_FILTERED]);
    // DROP: no answer at all.
    let quick = Client::with_timeout(rw.addr, Duration::from_millis(500));
    let q = query("ftp.test.", RecordType::A).to_vec().expect("encode");
    assert!(quick.udp_raw(&q).is_none(), "DROP sends nothing");
    // The bad record was reported with its line.
    assert!(rw.stderr().contains(&format!("{rpz}:10")), "{}", rw.tail());
}

#[test]
fn a_reload_serves_the_new_list_and_keeps_the_cache() {
    let tree = Tree::new(7);
    let list = tree.file("block.txt", "mail.test\n");
    let rw = tree.rootward(&["--blocklist", &list]);
    assert_eq!(
        rcode(&ask(&rw, "mail.test.", RecordType::A)),
        ResponseCode::NXDomain
    );
    assert_eq!(
        a_records(&ask(&rw, "ftp.test.", RecordType::A)),
        vec![Ipv4Addr::new(192, 0, 2, 3)]
    );
    assert_eq!(
        a_records(&ask(&rw, "www.test.", RecordType::A)),
        vec![Ipv4Addr::new(192, 0, 2, 1)]
    );
    let ftp_queries = tree.leaf.count("ftp.test.", RecordType::A);

    std::fs::write(&list, "www.test\n").expect("rewrite list");
    sighup(&rw);
    eventually("www.test blocked after SIGHUP", || {
        rcode(&ask(&rw, "www.test.", RecordType::A)) == ResponseCode::NXDomain
    });
    assert_eq!(
        a_records(&ask(&rw, "mail.test.", RecordType::A)),
        vec![Ipv4Addr::new(192, 0, 2, 2)]
    );
    // ftp.test came from the cache: no new upstream query.
    assert_eq!(
        a_records(&ask(&rw, "ftp.test.", RecordType::A)),
        vec![Ipv4Addr::new(192, 0, 2, 3)]
    );
    assert_eq!(
        tree.leaf.count("ftp.test.", RecordType::A),
        ftp_queries,
        "cache kept"
    );

    // A reload with the list gone is refused and the old policy stays.
    std::fs::remove_file(&list).expect("remove list");
    sighup(&rw);
    eventually("the refused reload logged", || {
        rw.stderr().contains("reload on SIGHUP")
    });
    assert!(rw.stderr().contains("blocklist"), "{}", rw.tail());
    assert_eq!(
        rcode(&ask(&rw, "www.test.", RecordType::A)),
        ResponseCode::NXDomain
    );
}

#[test]
fn a_missing_list_at_startup_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_rootward"))
        .args(["--listen", "127.77.8.1:53", "--control-socket", "off"])
        .args(["--blocklist", "/nonexistent/rootward-block.txt"])
        .output()
        .expect("run rootward");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("blocklist") && err.contains("/nonexistent/rootward-block.txt"),
        "{err}"
    );
}

/// The config file's keys work like the flags.
#[test]
fn toml_keys_configure_the_policy() {
    let tree = Tree::new(9);
    let list = tree.file("block.txt", "mail.test\n");
    let config = tree.file(
        "rootward.toml",
        &format!(
            "local-zone = [\"corp.example refuse\"]\n\
             local-data = [\"nas.home.arpa. 300 IN A 192.168.1.10\"]\n\
             blocklist = [\"{list}\"]\n\
             blocklist-action = \"refuse\"\n"
        ),
    );
    let rw = tree.rootward(&["--config", &config]);
    assert_eq!(
        a_records(&ask(&rw, "nas.home.arpa.", RecordType::A)),
        vec![Ipv4Addr::new(192, 168, 1, 10)]
    );
    assert_eq!(
        rcode(&ask(&rw, "x.corp.example.", RecordType::A)),
        ResponseCode::Refused
    );
    assert_eq!(
        rcode(&ask(&rw, "mail.test.", RecordType::A)),
        ResponseCode::Refused
    );
    let _ = Path::new(&list);
}
