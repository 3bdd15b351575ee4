//! The stub-facing listeners on real loopback sockets, with the resolver
//! in-process over the simulated network: bad input, flags, truncation, TCP
//! framing and pipelining, idle timeout, connection cap, graceful shutdown.
//! Listeners bind 127.56.k.1 on a kernel-chosen port (test k).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use rootward::cache::{Cache, TtlPolicy};
use rootward::clock::SystemClock;
use rootward::config::Config;
use rootward::resolver::{AddressPolicy, Resolver, ResolverConfig};
use rootward::root_hints::RootHints;
use rootward::server::live::Live;
use rootward::server::response::ede_of;
use rootward::server::{self, Handler, TcpLimits};
use tokio::sync::oneshot;

use support::authority::Zone;
use support::authority_server::Behaviour;
use support::client::{self, Client, a_records, raw_flags, raw_query};
use support::simnet::SimNet;

const ROOT: &str = "198.51.100.1";
const LEAF: &str = "198.51.100.10";

fn zone(origin: &str, text: &str) -> Zone {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    Zone::parse(origin, &lines.join("\n"))
}

fn net() -> Arc<SimNet> {
    let net = SimNet::new();
    net.serve(
        ROOT,
        vec![zone(
            ".",
            &format!(
                ". 86400 SOA a.root.sim. admin.sim. 1 1800 900 604800 86400
                 . 518400 NS a.root.sim.
                 a.root.sim. 518400 A {ROOT}
                 example. 172800 NS ns.example.
                 ns.example. 172800 A {LEAF}"
            ),
        )],
    );
    let big: String = (1..=40)
        .map(|i| format!("big 300 A 192.0.2.{i}\n"))
        .collect();
    net.serve(
        LEAF,
        vec![zone(
            "example.",
            &format!(
                "@ 3600 SOA ns admin 1 3600 900 604800 60
                 @ NS ns
                 ns A {LEAF}
                 www 300 A 192.0.2.1
                 slow 300 A 192.0.2.2
                 {big}"
            ),
        )],
    );
    net
}

/// rootward's server in a runtime of its own, stopped (gracefully) on drop.
struct Running {
    addr: SocketAddr,
    net: Arc<SimNet>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(k: u8, net: Arc<SimNet>, limits: TcpLimits) -> Self {
        let listen: SocketAddr = format!("127.56.{k}.1:0").parse().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let upstream = net.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let sockets = server::bind(&[listen], 2).await.unwrap();
                ready_tx.send(sockets.udp_addrs()[0]).unwrap();
                let hints = RootHints::parse(
                    &format!(". 3600000 NS a.root.sim.\na.root.sim. 3600000 A {ROOT}\n"),
                    "sim",
                )
                .unwrap();
                let resolver = Arc::new(Resolver::new(
                    Arc::new(Cache::new(
                        1000,
                        TtlPolicy::new(
                            Duration::ZERO,
                            Duration::from_secs(86400),
                            Duration::from_secs(3600),
                        ),
                        Duration::ZERO,
                    )),
                    upstream,
                    hints,
                    Arc::new(SystemClock),
                    ResolverConfig {
                        resolution_timeout: Duration::from_secs(3),
                        ..ResolverConfig::with_policy(AddressPolicy::default())
                    },
                ));
                let live = Live::from_config(&Config::default()).shared();
                let handler = Handler::new(resolver, live, None);
                server::run(sockets, handler, limits, Duration::from_secs(4), async {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server bound");
        Self {
            addr,
            net,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn client(&self) -> Client {
        Client::with_timeout(self.addr, Duration::from_secs(5))
    }

    /// Signals shutdown and waits (bounded by the drain time) for the server.
    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn limits() -> TcpLimits {
    TcpLimits {
        max_connections: 16,
        idle_timeout: Duration::from_secs(10),
    }
}

fn rcode_of(bytes: &[u8]) -> (u16, u8) {
    (u16::from_be_bytes([bytes[0], bytes[1]]), raw_flags(bytes).5)
}

fn assert_good_query_answered(c: &Client) {
    let m = c.udp("www.example.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        a_records(&m),
        vec!["192.0.2.1".parse::<std::net::Ipv4Addr>().unwrap()]
    );
}

#[test]
fn every_malformed_input_gets_its_answer_and_the_next_good_query_works() {
    let s = Running::start(1, net(), limits());
    let c = Client::with_timeout(s.addr, Duration::from_millis(700));
    let good = raw_query(0x1234, true, "www.example.", RecordType::A);

    // Too short for a header: dropped.
    assert_eq!(c.udp_raw(&[0x12, 0x34, 1, 0, 0]), None);
    assert_good_query_answered(&s.client());

    // A response (QR=1) is never answered.
    let mut qr = good.clone();
    qr[2] |= 0x80;
    assert_eq!(c.udp_raw(&qr), None);
    assert_good_query_answered(&s.client());

    // Header says one question, the body is cut short: FORMERR with our ID.
    let r = c.udp_raw(&good[..good.len() - 3]).expect("FORMERR reply");
    assert_eq!(rcode_of(&r), (0x1234, 1));
    let (qr_bit, aa, _, rd, ra, _) = raw_flags(&r);
    assert!(qr_bit && !aa && rd && ra);
    assert_good_query_answered(&s.client());

    // QDCOUNT 2 and QDCOUNT 0: FORMERR.
    let mut two = good.clone();
    two[5] = 2;
    two.extend_from_slice(&client::raw_question("b.example.", RecordType::A));
    assert_eq!(rcode_of(&c.udp_raw(&two).unwrap()), (0x1234, 1));
    let mut zero = good[..12].to_vec();
    zero[5] = 0;
    assert_eq!(rcode_of(&c.udp_raw(&zero).unwrap()), (0x1234, 1));
    assert_good_query_answered(&s.client());

    // Opcodes other than QUERY: NOTIMP, opcode echoed.
    for opcode in [OpCode::Status, OpCode::Notify, OpCode::Update] {
        let mut m = client::query("www.example.", RecordType::A);
        m.metadata.op_code = opcode;
        let r = c.udp_raw(&m.to_vec().unwrap()).expect("NOTIMP reply");
        assert_eq!(raw_flags(&r).5, 4, "{opcode:?}");
        assert_eq!(Message::from_vec(&r).unwrap().metadata.op_code, opcode);
    }
    assert_good_query_answered(&s.client());

    // Unknown EDNS version: BADVERS (16 = 0 in the header, 1 in the OPT).
    let mut m = client::query("www.example.", RecordType::A);
    let mut e = Edns::new();
    e.set_version(1);
    m.edns = Some(e);
    let r = Message::from_vec(&c.udp_raw(&m.to_vec().unwrap()).unwrap()).unwrap();
    assert_eq!(u16::from(r.metadata.response_code), 16);
    assert_eq!(r.edns.map(|e| e.version()), Some(0));
    assert_good_query_answered(&s.client());

    // Class CHAOS: REFUSED.
    let mut m = client::query("version.bind.", RecordType::TXT);
    m.queries[0].set_query_class(DNSClass::CH);
    assert_eq!(raw_flags(&c.udp_raw(&m.to_vec().unwrap()).unwrap()).5, 5);
    // Zone transfer: REFUSED.
    let m = client::query("example.", RecordType::AXFR);
    assert_eq!(raw_flags(&c.udp_raw(&m.to_vec().unwrap()).unwrap()).5, 5);
    // 200 random datagrams do not stop the server.
    for i in 0..200u32 {
        let junk: Vec<u8> = (0..(i % 90 + 1)).map(|_| rand::random()).collect();
        let _ = Client::with_timeout(s.addr, Duration::from_millis(20)).udp_raw(&junk);
    }
    assert_good_query_answered(&s.client());
}

#[test]
fn bad_input_over_tcp_closes_only_that_connection() {
    let s = Running::start(2, net(), limits());
    let c = s.client();
    let good = raw_query(0x0101, true, "www.example.", RecordType::A);
    let r = c
        .tcp_raw(&good[..good.len() - 3])
        .expect("FORMERR over TCP");
    assert_eq!(rcode_of(&r), (0x0101, 1));
    // Not DNS at all (shorter than a header): the connection is closed.
    assert_eq!(c.tcp_raw(&[1, 2, 3]), None);
    let m = c.tcp("www.example.", RecordType::A);
    assert_eq!(a_records(&m).len(), 1);
}

#[test]
fn response_echoes_id_question_and_flags() {
    let s = Running::start(3, net(), limits());
    let c = s.client();
    let q = raw_query(0xBEEF, false, "WwW.eXaMpLe.", RecordType::A);
    let r = c.udp_raw(&q).expect("reply");
    assert_eq!(rcode_of(&r), (0xBEEF, 0));
    let (qr, aa, tc, rd, ra, _) = raw_flags(&r);
    assert!(
        qr && ra && !aa && !tc && !rd,
        "QR=1 RA=1 AA=0 TC=0, RD=0 copied"
    );
    assert_eq!(
        &r[12..12 + q.len() - 12],
        &q[12..],
        "question echoed byte for byte"
    );
    let m = Message::from_vec(&r).unwrap();
    assert!(
        m.edns.is_none(),
        "no OPT in the reply to a query without one"
    );

    let m = c.udp_edns("www.example.", RecordType::A, 4096);
    assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), Some(1232));
    assert!(m.metadata.recursion_desired);
}

#[test]
fn large_answer_is_truncated_on_udp_and_whole_on_tcp() {
    let s = Running::start(4, net(), limits());
    let c = s.client();
    let q = client::query("big.example.", RecordType::A);
    let bytes = c.udp_raw(&q.to_vec().unwrap()).expect("reply");
    assert!(bytes.len() <= 512);
    let m = Message::from_vec(&bytes).unwrap();
    assert!(m.metadata.truncation);
    assert!(
        m.answers.is_empty() || m.answers.len() == 40,
        "only whole RRsets"
    );

    let q = client::edns_query("big.example.", RecordType::A, 4096);
    let bytes = c.udp_raw(&q.to_vec().unwrap()).expect("reply");
    assert!(bytes.len() <= 1232);
    let m = Message::from_vec(&bytes).unwrap();
    assert!(!m.metadata.truncation, "40 A records fit in 1232 bytes");
    assert_eq!(m.answers.len(), 40);

    let m = c.tcp("big.example.", RecordType::A);
    assert!(!m.metadata.truncation);
    assert_eq!(a_records(&m).len(), 40);
}

#[test]
fn tcp_answers_several_queries_on_one_connection() {
    let net = net();
    net.server(LEAF).set_behaviour(Behaviour::Normal);
    let s = Running::start(5, net, limits());
    let queries: Vec<Message> = [
        "www.example.",
        "big.example.",
        "nope.example.",
        "slow.example.",
    ]
    .iter()
    .map(|n| client::query(n, RecordType::A))
    .collect();
    let replies = s.client().tcp_pipelined(&queries);
    assert_eq!(a_records(&replies[0]).len(), 1);
    assert_eq!(a_records(&replies[1]).len(), 40);
    assert_eq!(replies[2].metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(a_records(&replies[3]).len(), 1);
}

#[test]
fn idle_tcp_connection_is_closed_and_the_cap_is_enforced() {
    let s = Running::start(
        6,
        net(),
        TcpLimits {
            max_connections: 2,
            idle_timeout: Duration::from_secs(1),
        },
    );
    let q = client::query("www.example.", RecordType::A)
        .to_vec()
        .unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    let mut buf = [0u8; 2];
    let mut a = TcpStream::connect(s.addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut b = TcpStream::connect(s.addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // A third connection is over the cap: it is served, and the oldest
    // connection (a) is closed to make room.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(&framed).unwrap();
    assert!(
        matches!(c.read(&mut buf), Ok(2)),
        "over the cap: the new connection is answered"
    );
    a.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        matches!(a.read(&mut buf), Ok(0) | Err(_)),
        "the oldest connection made room"
    );
    // An idle connection is closed after the idle timeout.
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    assert!(matches!(b.read(&mut buf), Ok(0) | Err(_)));
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "{waited:?}");
}

#[test]
fn shutdown_lets_an_in_flight_answer_finish() {
    let net = net();
    net.server(LEAF)
        .set_behaviour(Behaviour::Delay(Duration::from_millis(400)));
    let mut s = Running::start(7, net, limits());
    let c = s.client();
    let pending = std::thread::spawn(move || c.udp("slow.example.", RecordType::A));
    std::thread::sleep(Duration::from_millis(150));
    s.shutdown();
    let m = pending.join().unwrap();
    assert_eq!(
        a_records(&m),
        vec!["192.0.2.2".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    // And nothing answers any more.
    let q = client::query("www.example.", RecordType::A)
        .to_vec()
        .unwrap();
    assert_eq!(
        Client::with_timeout(s.addr, Duration::from_millis(300)).udp_raw(&q),
        None
    );
}

#[test]
fn failure_is_servfail_in_bounded_time_not_silence() {
    let net = net();
    net.server(LEAF).set_behaviour(Behaviour::Dead);
    let s = Running::start(8, net, limits());
    let started = Instant::now();
    let m = s.client().udp_edns("www.example.", RecordType::A, 1232);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() < Duration::from_secs(4));
    // RFC 8914: the EDNS client is told why (22 No Reachable Authority), and
    // the failure is remembered (13 Cached Error) rather than retried at once.
    assert_eq!(ede_of(&m).map(|e| e.0), Some(22));
    let again = s.client().udp_edns("www.example.", RecordType::A, 1232);
    assert_eq!(ede_of(&again).map(|e| e.0), Some(13));
    // A client without EDNS gets no OPT, hence no EDE.
    assert!(s.client().udp("www.example.", RecordType::A).edns.is_none());
    assert!(s.net.server(LEAF).total() >= 1);
}

#[test]
fn cached_answers_from_the_pre_encoded_path_match_the_general_encoder() {
    let s = Running::start(9, net(), limits());
    let c = s.client();
    // First answer: resolved and encoded by the general encoder.
    let fresh = c.udp_edns("www.example.", RecordType::A, 1232);
    // Cached answers: pre-encoded (EDNS and not), and the general encoder
    // again for a DNSSEC-OK client (its DO bit must be echoed).
    let plain = c.send_udp(&client::query("WWW.example.", RecordType::A));
    let edns = c.udp_edns("www.EXAMPLE.", RecordType::A, 4096);
    let mut do_query = client::edns_query("www.example.", RecordType::A, 1232);
    if let Some(e) = do_query.edns.as_mut() {
        e.set_dnssec_ok(true);
    }
    let dnssec_ok = c.send_udp(&do_query);
    for m in [&fresh, &plain, &edns, &dnssec_ok] {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            a_records(m),
            vec!["192.0.2.1".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        assert!(m.metadata.recursion_available && m.metadata.recursion_desired);
        assert!(!m.metadata.authoritative && !m.metadata.truncation);
        assert!(
            m.answers[0].ttl <= 300 && m.answers[0].ttl >= 295,
            "{}",
            m.answers[0].ttl
        );
    }
    assert_eq!(plain.queries[0].name().to_ascii(), "WWW.example.");
    assert_eq!(edns.queries[0].name().to_ascii(), "www.EXAMPLE.");
    assert!(plain.edns.is_none());
    assert_eq!(edns.edns.as_ref().map(|e| e.max_payload()), Some(1232));
    assert!(dnssec_ok.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok));
    // A large cached answer still truncates for a client without EDNS.
    c.tcp("big.example.", RecordType::A);
    let q = client::query("big.example.", RecordType::A);
    let m = Message::from_vec(&c.udp_raw(&q.to_vec().unwrap()).unwrap()).unwrap();
    assert!(m.metadata.truncation);
}
