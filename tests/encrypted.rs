//! Encrypted DNS: DNS over TLS (RFC 7858), DNS over HTTPS (RFC 8484) and
//! DNS over QUIC (RFC 9250), served by the rootward binary to real clients
//! (kdig, dig, curl) and to quinn/rustls clients in the test, against test
//! authorities on loopback. Certificates are made by the test (rcgen).
//! Test k uses 127.80.k.x: rootward on .1 (UDP/TCP 53, DoT 853, DoH 443,
//! DoQ 853/udp), the root on .2, `test.` on .3, a web server on .50.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

use support::authority::Zone;
use support::authority_server::AuthorityServer;
use support::client::{a_records, edns_query, query};
use support::nsd::unique_dir;
use support::process::{Rootward, write_root_hints};
use support::tls::{DoqClient, DotClient, KeyKind, SERVER_NAME, TestPki, require, run};

const DOT_PORT: u16 = 853;
const DOH_PORT: u16 = 443;
const DOQ_PORT: u16 = 853;
/// Block size responses are padded to (RFC 8467).
const PADDING_BLOCK: usize = 468;

fn ip(k: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 80, k, host))
}

/// A root (k.2) delegating `test.` to k.3, and a certificate for k.1.
struct Tree {
    _root: AuthorityServer,
    _leaf: AuthorityServer,
    dir: PathBuf,
    pki: TestPki,
    k: u8,
}

impl Tree {
    fn new(k: u8, kind: KeyKind) -> Tree {
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
        let big: String = (0..40)
            .map(|i| format!("big 300 TXT \"{i:03}{}\"\n", "x".repeat(200)))
            .collect();
        let test = Zone::parse(
            "test.",
            &format!(
                "@ 3600 SOA ns.test. admin.test. 1 3600 900 604800 60\n\
                 @ NS ns.test.\n\
                 ns A {}\n\
                 www 300 A 192.0.2.1\n\
                 short 42 A 192.0.2.42\n\
                 web 300 A {}\n\
                 {big}",
                ip(k, 3),
                ip(k, 50)
            ),
        );
        let dir = unique_dir(&format!("rootward-encrypted-{k}"));
        let pki = TestPki::new(&dir, "first", ip(k, 1), kind);
        Tree {
            _root: AuthorityServer::start(ip(k, 2), vec![root]),
            _leaf: AuthorityServer::start(ip(k, 3), vec![test]),
            dir,
            pki,
            k,
        }
    }

    /// rootward with every encrypted listener on k.1 and the query log on.
    fn rootward(&self, extra: &[&str]) -> Rootward {
        let hints = write_root_hints(&self.dir, &[("a.root.test.", ip(self.k, 2))]);
        let (tls, https, quic) = (self.dot(), self.doh(), self.doq());
        let (tls, https, quic) = (tls.to_string(), https.to_string(), quic.to_string());
        let cert = self.cert_path();
        let key = self.key_path();
        let mut args = vec![
            "--tls-listen",
            &tls,
            "--https-listen",
            &https,
            "--quic-listen",
            &quic,
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
            "--query-log",
            "stderr",
        ];
        args.extend_from_slice(extra);
        Rootward::start(SocketAddr::new(ip(self.k, 1), 53), &hints, &args)
    }

    /// The files rootward is pointed at (copies of the first PKI's, so a
    /// test can replace them).
    fn cert_path(&self) -> PathBuf {
        let path = self.dir.join("served-chain.pem");
        if !path.exists() {
            std::fs::copy(&self.pki.chain, &path).expect("copy chain");
        }
        path
    }

    fn key_path(&self) -> PathBuf {
        let path = self.dir.join("served-key.pem");
        if !path.exists() {
            std::fs::copy(&self.pki.key, &path).expect("copy key");
        }
        path
    }

    fn dot(&self) -> SocketAddr {
        SocketAddr::new(ip(self.k, 1), DOT_PORT)
    }

    fn doh(&self) -> SocketAddr {
        SocketAddr::new(ip(self.k, 1), DOH_PORT)
    }

    fn doq(&self) -> SocketAddr {
        SocketAddr::new(ip(self.k, 1), DOQ_PORT)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn kdig() -> PathBuf {
    require("kdig", "knot-dnsutils")
}

fn dig() -> PathBuf {
    require("dig", "dnsutils")
}

fn curl() -> PathBuf {
    require("curl", "curl")
}

/// A kdig/dig answer: NOERROR and the address in the answer section.
fn assert_answer(tool: &str, out: &support::tls::Output, address: &str) {
    let text = format!("{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "{tool} failed:\n{text}");
    assert!(
        text.contains("NOERROR"),
        "{tool}: expected NOERROR:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("www.test.") && l.contains("A") && l.contains(address)),
        "{tool}: expected www.test. A {address}:\n{text}"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `curl` against the DoH endpoint: (HTTP status, headers and body).
fn curl_status(tree: &Tree, extra: &[&str]) -> (String, String) {
    let ca = tree.pki.ca.to_str().expect("utf-8 path").to_string();
    let resolve = format!("{SERVER_NAME}:{DOH_PORT}:{}", ip(tree.k, 1));
    let mut args = vec![
        "-s",
        "-i",
        "--max-time",
        "10",
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "-w",
        "\n%{http_code}",
    ];
    args.extend_from_slice(extra);
    let out = run(&curl(), &args);
    let code = out.stdout.lines().last().unwrap_or("").to_string();
    (code, out.stdout)
}

fn doh_url_by_name() -> String {
    format!("https://{SERVER_NAME}:{DOH_PORT}/dns-query")
}

#[test]
fn kdig_dig_and_curl_get_answers_over_tls_and_https() {
    let tree = Tree::new(1, KeyKind::Ecdsa);
    let rw = tree.rootward(&[]);
    let (server, dot_port, doh_port) = (
        ip(1, 1).to_string(),
        DOT_PORT.to_string(),
        DOH_PORT.to_string(),
    );
    let at = format!("@{server}");
    let ca = format!("+tls-ca={}", tree.pki.ca.display());
    let hostname = format!("+tls-hostname={SERVER_NAME}");

    let out = run(&kdig(), &[&at, "-p", &dot_port, "+tls", "www.test", "A"]);
    assert_answer("kdig +tls", &out, "192.0.2.1");
    // Strict profile, as Android's Private DNS: the CA and the name checked.
    let out = run(
        &kdig(),
        &[&at, "-p", &dot_port, &ca, &hostname, "www.test", "A"],
    );
    assert_answer("kdig +tls-ca +tls-hostname", &out, "192.0.2.1");
    assert!(out.stdout.contains("TLS session"), "{}", out.stdout);
    // The wrong name is refused by the client: the certificate is checked.
    let out = run(
        &kdig(),
        &[
            &at,
            "-p",
            &dot_port,
            &ca,
            "+tls-hostname=other.test",
            "www.test",
            "A",
        ],
    );
    assert!(
        !out.stdout.contains("192.0.2.1"),
        "a certificate for {SERVER_NAME} must not pass as other.test:\n{}",
        out.stdout
    );
    let out = run(&kdig(), &[&at, "-p", &doh_port, "+https", "www.test", "A"]);
    assert_answer("kdig +https", &out, "192.0.2.1");
    let out = run(
        &kdig(),
        &[&at, "-p", &doh_port, "+https-get", "www.test", "A"],
    );
    assert_answer("kdig +https-get", &out, "192.0.2.1");
    // Padded query over TLS: a padded answer (RFC 8467).
    let out = run(
        &kdig(),
        &[&at, "-p", &dot_port, "+tls", "+padding", "www.test", "A"],
    );
    assert_answer("kdig +tls +padding", &out, "192.0.2.1");
    assert!(out.stdout.contains("PADDING"), "{}", out.stdout);

    let out = run(&dig(), &[&at, "-p", &dot_port, "+tls", "www.test", "A"]);
    assert_answer("dig +tls", &out, "192.0.2.1");
    let out = run(&dig(), &[&at, "-p", &doh_port, "+https", "www.test", "A"]);
    assert_answer("dig +https", &out, "192.0.2.1");
    let out = run(
        &dig(),
        &[&at, "-p", &doh_port, "+https-get", "www.test", "A"],
    );
    assert_answer("dig +https-get", &out, "192.0.2.1");

    // curl resolves web.test through DoH, then fetches the page there.
    let web = TcpListener::bind(SocketAddr::new(ip(1, 50), 0)).expect("web server");
    let web_port = web.local_addr().expect("web addr").port();
    let page = std::thread::spawn(move || {
        let (mut s, _) = web.accept().expect("curl connects");
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\nresolved by doh",
        );
    });
    let ca_path = tree.pki.ca.to_str().expect("utf-8").to_string();
    let resolve = format!("{SERVER_NAME}:{DOH_PORT}:{}", ip(1, 1));
    let url = format!("http://web.test:{web_port}/");
    let out = run(
        &curl(),
        &[
            "-s",
            "--max-time",
            "10",
            "--cacert",
            &ca_path,
            "--resolve",
            &resolve,
            "--doh-url",
            &doh_url_by_name(),
            &url,
        ],
    );
    assert_eq!(out.stdout, "resolved by doh", "curl --doh-url: {out:?}");
    page.join().expect("web server thread");

    // One pipeline: the query log names each transport.
    let log = rw.stderr();
    for transport in ["tls", "https"] {
        assert!(
            log.contains(&format!("transport=\"{transport}\"")),
            "no query logged over {transport}:\n{}",
            rw.tail()
        );
    }
}

#[test]
fn doh_answers_carry_the_smallest_ttl_and_the_request_id() {
    let tree = Tree::new(2, KeyKind::Ecdsa);
    let _rw = tree.rootward(&[]);
    let mut q = query("short.test", RecordType::A);
    q.metadata.id = 0;
    let body = tree.dir.join("query.bin");
    std::fs::write(&body, q.to_vec().expect("encode")).expect("write query");
    let data = format!("@{}", body.display());
    let (code, text) = curl_status(
        &tree,
        &[
            "-H",
            "content-type: application/dns-message",
            "--data-binary",
            &data,
            &doh_url_by_name(),
        ],
    );
    assert_eq!(code, "200", "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/dns-message"),
        "{text}"
    );
    // Cached by the first query or not, the TTL is at most 42.
    let max_age: u32 = lower
        .lines()
        .find_map(|l| l.strip_prefix("cache-control: max-age="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no cache-control max-age:\n{text}"));
    assert!(max_age <= 42 && max_age > 0, "max-age {max_age}:\n{text}");

    // GET with base64url, and a nonzero ID echoed.
    let mut q = query("www.test", RecordType::A);
    q.metadata.id = 0x1234;
    let encoded = base64url(&q.to_vec().expect("encode"));
    let url = format!("{}?dns={encoded}", doh_url_by_name());
    let ca = tree.pki.ca.to_str().expect("utf-8").to_string();
    let resolve = format!("{SERVER_NAME}:{DOH_PORT}:{}", ip(2, 1));
    let answer = tree.dir.join("answer.bin");
    let answer_path = answer.to_str().expect("utf-8").to_string();
    let out = run(
        &curl(),
        &[
            "-s",
            "--max-time",
            "10",
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
            "-o",
            &answer_path,
            &url,
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let bytes = std::fs::read(&answer).expect("curl wrote the answer");
    let m = Message::from_vec(&bytes).unwrap_or_else(|e| panic!("not DNS ({e}): {bytes:?}"));
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn padded_query(name: &str) -> Message {
    let mut q = edns_query(name, RecordType::A, 1232);
    let mut edns = q.edns.take().unwrap_or_default();
    edns.options_mut().insert(EdnsOption::Unknown(
        u16::from(EdnsCode::Padding),
        vec![0; 100],
    ));
    q.edns = Some(edns);
    q
}

#[test]
fn dns_over_quic_answers_streams_out_of_order_and_pads() {
    let tree = Tree::new(3, KeyKind::Ecdsa);
    let rw = tree.rootward(&[]);
    runtime().block_on(async {
        let client = DoqClient::connect(tree.doq(), &tree.pki).await;
        let m = client.exchange(&query("www.test", RecordType::A)).await;
        assert_eq!(m.metadata.id, 0);
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
        // Several streams at once on one connection, all answered.
        let names = ["short.test", "web.test", "www.test", "big.test"];
        let queries: Vec<Message> = names.iter().map(|n| query(n, RecordType::A)).collect();
        let answers =
            futures_util::future::join_all(queries.iter().map(|q| client.exchange(q))).await;
        for (name, m) in names.iter().zip(&answers) {
            assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
            assert_eq!(m.queries[0].name().to_ascii(), format!("{name}."));
        }
        // A padded query gets a padded answer, a multiple of 468 bytes.
        let mut q = padded_query("www.test");
        q.metadata.id = 0;
        let raw = client
            .exchange_raw(&q.to_vec().expect("encode"))
            .await
            .expect("padded exchange");
        assert_eq!(raw.len() % PADDING_BLOCK, 0, "{} bytes", raw.len());
        let m = Message::from_vec(&raw).expect("parse padded answer");
        assert!(
            m.edns
                .as_ref()
                .and_then(|e| e.option(EdnsCode::Padding))
                .is_some()
        );
        // An unpadded one is not padded.
        let raw = client
            .exchange_raw(&{
                let mut q = edns_query("www.test", RecordType::A, 1232);
                q.metadata.id = 0;
                q.to_vec().expect("encode")
            })
            .await
            .expect("plain exchange");
        assert_ne!(raw.len() % PADDING_BLOCK, 0);

        // A nonzero ID is a protocol error for that connection only.
        let bad = DoqClient::connect(tree.doq(), &tree.pki).await;
        let mut q = query("www.test", RecordType::A);
        q.metadata.id = 7;
        assert!(
            bad.exchange_raw(&q.to_vec().expect("encode"))
                .await
                .is_err()
        );
        let reason = bad.connection.closed().await.to_string();
        assert!(
            reason.contains("id not 0") || reason.contains("2"),
            "{reason}"
        );
        let m = client.exchange(&query("short.test", RecordType::A)).await;
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 42)]);
    });
    // kdig's own DoQ client (Knot 3.2 has one).
    let at = format!("@{}", ip(3, 1));
    let out = run(
        &kdig(),
        &[&at, "-p", &DOQ_PORT.to_string(), "+quic", "www.test", "A"],
    );
    assert_answer("kdig +quic", &out, "192.0.2.1");
    assert!(rw.stderr().contains("transport=\"quic\""), "{}", rw.tail());
}

#[test]
fn an_rsa_certificate_chain_is_served_to_a_strict_client() {
    let tree = Tree::new(4, KeyKind::Rsa);
    let _rw = tree.rootward(&[]);
    let at = format!("@{}", ip(4, 1));
    let ca = format!("+tls-ca={}", tree.pki.ca.display());
    let hostname = format!("+tls-hostname={SERVER_NAME}");
    let out = run(
        &kdig(),
        &[&at, "-p", &DOT_PORT.to_string(), &ca, &hostname, "www.test"],
    );
    assert_answer("kdig strict over RSA", &out, "192.0.2.1");
    assert!(out.stdout.contains("RSA"), "{}", out.stdout);
    runtime().block_on(async {
        let client = DoqClient::connect(tree.doq(), &tree.pki).await;
        let m = client.exchange(&query("www.test", RecordType::A)).await;
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    });
}

/// Something a plain client (kdig over TLS and HTTPS, DoQ) still gets.
fn everyone_else_is_answered(tree: &Tree) {
    let at = format!("@{}", ip(tree.k, 1));
    let out = run(
        &kdig(),
        &[&at, "-p", &DOT_PORT.to_string(), "+tls", "www.test"],
    );
    assert_answer("kdig +tls", &out, "192.0.2.1");
    let out = run(
        &kdig(),
        &[&at, "-p", &DOH_PORT.to_string(), "+https", "www.test"],
    );
    assert_answer("kdig +https", &out, "192.0.2.1");
    runtime().block_on(async {
        let client = DoqClient::connect(tree.doq(), &tree.pki).await;
        let m = client.exchange(&query("www.test", RecordType::A)).await;
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    });
}

/// Writes `bytes` to a plain TCP connection to `addr` and reads until the
/// server closes it; returns what came back.
fn garbage_over_tcp(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    s.write_all(bytes).expect("write garbage");
    let mut back = Vec::new();
    // The server closes it (an alert at most): read_to_end returns.
    s.read_to_end(&mut back)
        .expect("the server closes a connection that is not TLS");
    back
}

#[test]
fn bad_input_gets_a_clear_error_and_disturbs_no_one_else() {
    let tree = Tree::new(5, KeyKind::Ecdsa);
    let rw = tree.rootward(&[]);

    // Not TLS at all, on both TLS ports: closed (after an alert at most).
    let back = garbage_over_tcp(tree.dot(), b"GET / HTTP/1.0\r\n\r\n");
    assert!(back.len() < 64, "{back:?}");
    let back = garbage_over_tcp(tree.doh(), &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3]);
    assert!(back.len() < 64, "{back:?}");
    // Garbage datagrams on the QUIC port.
    let udp = std::net::UdpSocket::bind(SocketAddr::new(ip(5, 9), 0)).expect("udp");
    for n in [1usize, 100, 1200] {
        udp.send_to(&vec![0xAB; n], tree.doq()).expect("send");
    }

    let url = doh_url_by_name();
    // GET without the parameter, or with one that is not base64url.
    assert_eq!(curl_status(&tree, &[&url]).0, "400");
    assert_eq!(curl_status(&tree, &[&format!("{url}?dns=%%%%")]).0, "400");
    // A truncated DNS message.
    let mut cut = query("www.test", RecordType::A).to_vec().expect("encode");
    cut.truncate(cut.len() - 3);
    let cut_file = tree.dir.join("cut.bin");
    std::fs::write(&cut_file, &cut).expect("write");
    let cut_data = format!("@{}", cut_file.display());
    let ct = "content-type: application/dns-message";
    assert_eq!(
        curl_status(&tree, &["-H", ct, "--data-binary", &cut_data, &url]).0,
        "400"
    );
    assert_eq!(
        curl_status(
            &tree,
            &["--http1.1", "-H", ct, "--data-binary", &cut_data, &url]
        )
        .0,
        "400"
    );
    // A body past 65535 bytes (HTTP/1.1: curl 7.88 reports an HTTP/2
    // stream reset after an early answer as its own error).
    let big_file = tree.dir.join("big.bin");
    std::fs::write(&big_file, vec![0u8; 100_000]).expect("write");
    let big_data = format!("@{}", big_file.display());
    assert_eq!(
        curl_status(
            &tree,
            &["--http1.1", "-H", ct, "--data-binary", &big_data, &url]
        )
        .0,
        "413"
    );
    // A body sent without a length (chunked) is cut at the limit too.
    assert_eq!(
        curl_status(
            &tree,
            &[
                "--http1.1",
                "-H",
                ct,
                "-H",
                "transfer-encoding: chunked",
                "--data-binary",
                &big_data,
                &url
            ]
        )
        .0,
        "413"
    );
    // Wrong content type, wrong method, wrong path.
    let good = tree.dir.join("good.bin");
    std::fs::write(
        &good,
        query("www.test", RecordType::A).to_vec().expect("encode"),
    )
    .expect("write");
    let good_data = format!("@{}", good.display());
    assert_eq!(
        curl_status(
            &tree,
            &[
                "-H",
                "content-type: text/plain",
                "--data-binary",
                &good_data,
                &url
            ]
        )
        .0,
        "415"
    );
    let (code, text) = curl_status(&tree, &["-X", "PUT", &url]);
    assert_eq!(code, "405");
    assert!(
        text.to_ascii_lowercase().contains("allow: get, post"),
        "{text}"
    );
    assert_eq!(
        curl_status(&tree, &[&format!("https://{SERVER_NAME}:{DOH_PORT}/other")]).0,
        "404"
    );

    // A DoT client that sends many queries for a big answer and never
    // reads, and a DoH client that does the same over HTTP/1.1.
    let rt = runtime();
    let _stalled = rt.block_on(async {
        let mut dot = DotClient::connect(tree.dot(), &tree.pki).await;
        let q = query("big.test", RecordType::TXT).to_vec().expect("encode");
        for _ in 0..200 {
            // Writes stop succeeding once the server stops reading: enough.
            if tokio::time::timeout(Duration::from_secs(2), dot.send(&q))
                .await
                .is_err()
            {
                break;
            }
        }
        dot
    });
    let mut h1 = TcpStream::connect(tree.doh()).expect("connect");
    // The plain bytes of a TLS hello are not needed: a client that sends
    // a few bytes and stalls holds a slot until the handshake timeout.
    h1.write_all(&[0x16, 0x03, 0x01]).expect("partial hello");

    everyone_else_is_answered(&tree);
    let log = rw.stderr();
    assert!(!log.contains("panicked"), "{}", rw.tail());
    drop(h1);
}

#[test]
fn sighup_serves_a_new_certificate_and_keeps_open_connections() {
    let tree = Tree::new(6, KeyKind::Ecdsa);
    let rw = tree.rootward(&[]);
    let second = TestPki::new(&tree.dir, "second", ip(6, 1), KeyKind::Ecdsa);
    let at = format!("@{}", ip(6, 1));
    let port = DOT_PORT.to_string();
    let hostname = format!("+tls-hostname={SERVER_NAME}");
    let strict = |pki: &TestPki| {
        let ca = format!("+tls-ca={}", pki.ca.display());
        run(&kdig(), &[&at, "-p", &port, &ca, &hostname, "www.test"])
    };
    assert_answer(
        "kdig trusting the first CA",
        &strict(&tree.pki),
        "192.0.2.1",
    );
    assert!(!strict(&second).stdout.contains("192.0.2.1"));

    let rt = runtime();
    let mut old = rt.block_on(async {
        let mut c = DotClient::connect(tree.dot(), &tree.pki).await;
        let m = c.exchange(&query("www.test", RecordType::A)).await;
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
        c
    });

    std::fs::copy(&second.chain, tree.cert_path()).expect("new chain");
    std::fs::copy(&second.key, tree.key_path()).expect("new key");
    send_hup(&rw);
    // The reload is asynchronous: wait for its log line (bounded).
    wait_for(&rw, "tls certificate");
    assert_answer("kdig trusting the second CA", &strict(&second), "192.0.2.1");
    assert!(!strict(&tree.pki).stdout.contains("192.0.2.1"));
    // The connection opened before the reload still answers, cache kept.
    rt.block_on(async {
        let m = old.exchange(&query("short.test", RecordType::A)).await;
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 42)]);
    });

    // A broken certificate: the reload is refused, the second one stays.
    std::fs::write(tree.cert_path(), "not a certificate\n").expect("break chain");
    let (code, _, err) = rw.ctl(&["reload"]);
    assert_ne!(code, 0);
    assert!(err.contains("certificate refused"), "{err}");
    assert!(rw.stderr().contains("still serving the old one"));
    assert_answer("kdig after a bad reload", &strict(&second), "192.0.2.1");
}

fn send_hup(rw: &Rootward) {
    let status = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(rw.pid().to_string())
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

/// Waits (bounded) until rootward's log contains `needle`.
fn wait_for(rw: &Rootward, needle: &str) {
    for _ in 0..200 {
        if rw.stderr().contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("rootward never logged {needle:?}\n{}", rw.tail());
}

#[test]
fn a_listener_without_a_certificate_is_a_one_line_error() {
    let dir = unique_dir("rootward-encrypted-noconf");
    let out = run(
        Path::new(env!("CARGO_BIN_EXE_rootward")),
        &["--listen", "127.80.7.1:53", "--https-listen", "127.80.7.1"],
    );
    assert_ne!(out.code, 0);
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("https-listen") && err.contains("127.80.7.1:443") && err.contains("tls-cert"),
        "{err}"
    );
    let missing = dir.join("missing.pem");
    let out = run(
        Path::new(env!("CARGO_BIN_EXE_rootward")),
        &[
            "--listen",
            "127.80.7.1:53",
            "--tls-listen",
            "127.80.7.1",
            "--tls-cert",
            missing.to_str().expect("utf-8"),
            "--tls-key",
            missing.to_str().expect("utf-8"),
            "--control-socket",
            "off",
        ],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("missing.pem") && out.stderr.contains("cannot read"),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}
