//! Running rootward for real people: access control, rate limits, metrics,
//! `rootward ctl` (stats, flush, dump-cache, reload, trace), SIGHUP reloads
//! and the query log. The binary runs as a process against test
//! authorities on 127.60.0.0/16 (test k uses 127.60.k.x; clients outside an
//! ACL use 127.61.k.x).

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use support::authority::Zone;
use support::authority_server::AuthorityServer;
use support::client::{a_records, query};
use support::process::{Rootward, write_root_hints};

fn ip(k: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 60, k, host))
}

/// A root (k.2) delegating `test.` to k.3, which serves www/mail/big.
struct Tree {
    _root: AuthorityServer,
    leaf: AuthorityServer,
    dir: PathBuf,
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
                 mail 300 A 192.0.2.2\n",
                ip(k, 3)
            ),
        );
        let dir = std::env::temp_dir().join(format!("rootward-ops-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Tree {
            _root: AuthorityServer::start(ip(k, 2), vec![root]),
            leaf: AuthorityServer::start(ip(k, 3), vec![test]),
            dir,
        }
    }

    fn hints(&self, k: u8) -> PathBuf {
        write_root_hints(&self.dir, &[("a.root.test.", ip(k, 2))])
    }

    fn rootward(&self, k: u8, extra: &[&str]) -> Rootward {
        Rootward::start(SocketAddr::new(ip(k, 1), 53), &self.hints(k), extra)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One UDP query from a chosen source address; `None` if nothing came back
/// within `wait`.
fn ask_from(source: IpAddr, server: SocketAddr, name: &str, wait: Duration) -> Option<Message> {
    let sock = UdpSocket::bind(SocketAddr::new(source, 0)).expect("bind client source");
    sock.set_read_timeout(Some(wait)).expect("timeout");
    let q = query(name, RecordType::A);
    sock.send_to(&q.to_vec().expect("encode"), server)
        .expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Message::from_vec(&buf[..n]).ok()
}

#[test]
fn clients_outside_the_acl_are_refused_and_inside_answered() {
    let k = 1;
    let tree = Tree::new(k);
    let rw = tree.rootward(k, &["--allow", "127.60.1.0/24"]);
    let inside = ask_from(ip(k, 9), rw.addr, "www.test.", Duration::from_secs(5)).expect("answer");
    assert_eq!(a_records(&inside), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    let outside = IpAddr::V4(Ipv4Addr::new(127, 61, k, 5));
    let refused = ask_from(outside, rw.addr, "www.test.", Duration::from_secs(5)).expect("REFUSED");
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(refused.answers.is_empty());

    // Dropping instead of refusing is configurable.
    drop(rw);
    // (127.0.0.1 stays allowed: the harness's readiness probe comes from it.)
    let rw = tree.rootward(
        k,
        &[
            "--allow",
            "127.60.1.0/24",
            "--allow",
            "127.0.0.1",
            "--deny-action",
            "drop",
        ],
    );
    assert!(ask_from(outside, rw.addr, "www.test.", Duration::from_millis(500)).is_none());
    assert!(ask_from(ip(k, 9), rw.addr, "www.test.", Duration::from_secs(5)).is_some());
}

#[test]
fn a_flood_from_one_source_is_limited_while_another_is_served() {
    let k = 2;
    let tree = Tree::new(k);
    let rw = tree.rootward(k, &["--rate-limit", "20", "--rate-limit-loopback", "on"]);
    // Warm the cache so that every answer is immediate.
    assert!(ask_from(ip(k, 200), rw.addr, "www.test.", Duration::from_secs(5)).is_some());
    // 300 queries from one /24 as fast as they go: far past 20/s (a burst of
    // 40); bounded in count and time.
    let flooder = UdpSocket::bind(SocketAddr::new(ip(k, 9), 0)).expect("bind");
    flooder
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let q = query("www.test.", RecordType::A).to_vec().expect("encode");
    for _ in 0..300 {
        flooder.send_to(&q, rw.addr).expect("send");
    }
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && flooder.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    assert!(answered < 100, "{answered} of 300 flood queries answered");
    // Another prefix has its own bucket.
    let other = IpAddr::V4(Ipv4Addr::new(127, 60, k + 100, 9));
    let m = ask_from(other, rw.addr, "www.test.", Duration::from_secs(5)).expect("served");
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
}

/// GET /metrics over plain TCP; returns the body.
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn metrics_count_queries_hits_and_upstream_traffic() {
    let k = 3;
    let tree = Tree::new(k);
    let metrics = SocketAddr::new(ip(k, 1), 9153);
    let rw = tree.rootward(k, &["--metrics", &metrics.to_string()]);
    let before = scrape(metrics);
    let c = rw.client();
    for _ in 0..3 {
        assert_eq!(a_records(&c.udp("www.test.", RecordType::A)).len(), 1);
    }
    let after = scrape(metrics);
    let q = "rootward_queries_total{qtype=\"A\",rcode=\"NOERROR\",transport=\"udp\"}";
    assert!(sample(&after, q) >= sample(&before, q) + 3.0, "{after}");
    assert!(
        sample(&after, "rootward_cache_hits_total") >= 2.0,
        "{after}"
    );
    assert!(
        sample(&after, "rootward_upstream_queries_total") >= 2.0,
        "{after}"
    );
    assert!(sample(&after, "rootward_cache_entries") >= 1.0, "{after}");
}

#[test]
fn ctl_flush_sends_the_next_query_upstream_and_dump_lists_the_cache() {
    let k = 4;
    let tree = Tree::new(k);
    let rw = tree.rootward(k, &[]);
    let c = rw.client();
    c.udp("www.test.", RecordType::A);
    c.udp("www.test.", RecordType::A);
    assert_eq!(
        tree.leaf.count("www.test.", RecordType::A),
        1,
        "the second came from the cache"
    );

    let (code, dump, err) = rw.ctl(&["dump-cache"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        dump.contains("www.test.") && dump.contains("192.0.2.1"),
        "{dump}"
    );

    let (code, out, err) = rw.ctl(&["flush", "www.test"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("flushed"), "{out}");
    c.udp("www.test.", RecordType::A);
    assert_eq!(
        tree.leaf.count("www.test.", RecordType::A),
        2,
        "after the flush it went upstream"
    );

    c.udp("mail.test.", RecordType::A);
    let (code, _, err) = rw.ctl(&["flush", "--zone", "test"]);
    assert_eq!(code, 0, "{err}");
    c.udp("mail.test.", RecordType::A);
    assert_eq!(tree.leaf.count("mail.test.", RecordType::A), 2);

    let (code, out, _) = rw.ctl(&["stats"]);
    assert_eq!(code, 0);
    assert!(out.contains("cache-entries:"), "{out}");

    // A malformed name: refused before sending (exit 2) or by the server (1).
    let (code, _, err) = rw.ctl(&["flush", "not a name!"]);
    assert_ne!(code, 0);
    assert!(err.contains("error:"), "{err}");
    let (code, _, err) = rw.ctl(&["flush", "bad..name"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a domain name"), "{err}");
}

#[test]
fn ctl_trace_shows_the_walk_without_touching_the_cache() {
    let k = 5;
    let tree = Tree::new(k);
    let rw = tree.rootward(k, &[]);
    let (code, out, err) = rw.ctl(&["trace", "www.test", "A"]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "priming",
        "query",
        "referral to test.",
        "NOERROR",
        "192.0.2.1",
    ] {
        assert!(out.contains(needle), "{needle} missing from:\n{out}");
    }
    let (code, json, _) = rw.ctl(&["trace", "--json", "mail.test"]);
    assert_eq!(code, 0);
    assert!(json.trim_start().starts_with('['), "{json}");
    // The shared cache was not written: dump-cache does not list it.
    let (_, dump, _) = rw.ctl(&["dump-cache"]);
    assert!(!dump.contains("www.test."), "{dump}");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write config");
}

#[test]
fn reload_applies_a_new_acl_and_refuses_a_broken_config() {
    let k = 6;
    let tree = Tree::new(k);
    let config = tree.dir.join("rootward.toml");
    write(&config, "allow = [\"127.60.6.0/24\"]\n");
    let rw = tree.rootward(k, &["--config", config.to_str().expect("utf-8")]);
    let client = ip(k, 9);
    assert!(
        ask_from(client, rw.addr, "www.test.", Duration::from_secs(5))
            .is_some_and(|m| m.metadata.response_code == ResponseCode::NoError)
    );

    // The client's /24 is denied now; reload with ctl.
    write(
        &config,
        "allow = [\"127.60.6.0/24\"]\ndeny = [\"127.60.6.9/32\"]\n",
    );
    let (code, out, err) = rw.ctl(&["reload"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reloaded"), "{out}");
    let m = ask_from(client, rw.addr, "www.test.", Duration::from_secs(5)).expect("answer");
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);

    // A broken config is refused with its reason; the old one keeps serving.
    write(&config, "allow = [\"not-a-prefix\"]\n");
    let (code, _, err) = rw.ctl(&["reload"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("allow") && err.contains("not-a-prefix"),
        "{err}"
    );
    let other = ip(k, 10);
    let m = ask_from(other, rw.addr, "www.test.", Duration::from_secs(5)).expect("answer");
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "still serving the old config"
    );

    // SIGHUP reloads too: allow the client again.
    write(&config, "allow = [\"127.60.6.0/24\"]\n");
    let status = Command::new("kill")
        .arg("-HUP")
        .arg(rw.pid().to_string())
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = ask_from(client, rw.addr, "www.test.", Duration::from_secs(2));
        if m.is_some_and(|m| m.metadata.response_code == ResponseCode::NoError) {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload the ACL");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = rw.stop();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_query_log_writes_one_line_per_query() {
    let k = 7;
    let tree = Tree::new(k);
    let log = tree.dir.join("queries.log");
    let rw = tree.rootward(k, &["--query-log", log.to_str().expect("utf-8")]);
    let c = rw.client();
    c.udp("www.test.", RecordType::A);
    c.udp("www.test.", RecordType::A);
    c.udp("nope.test.", RecordType::A);
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().filter(|l| l.contains("test.")).count() >= 3 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("name=")).collect();
    assert!(lines.len() >= 3, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("www.test.") && l.contains("cache=\"miss\"")
                || l.contains("cache=miss")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cache=\"hit\"") || l.contains("cache=hit")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.contains("NXDOMAIN")), "{text}");
}
