//! The fuzz targets of rootward, one function per path that takes untrusted
//! bytes. Each is a plain `fn(&[u8])` that panics on a bug (a panic inside
//! rootward, a malformed answer, a walk or a connection that does not end
//! in time); `src/bin/*.rs` hand them to AFL++ (afl.rs) and
//! `src/bin/replay.rs` runs saved inputs through them on plain stable cargo.
//!
//! Everything is in-process: the resolver's upstream is a stub answering
//! from memory, and the TCP target talks to rootward's TCP listener over
//! loopback inside this process. No byte leaves the machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use rootward::cache::{AnswerKind, Cache, QuestionKey, Trust, TtlPolicy, Verdict};
use rootward::clock::{Clock, ManualClock, SystemClock, Timestamp};
use rootward::config::{Config, QnameMinimisation};
use rootward::dnssec::Security;
use rootward::dnssec::anchor::TrustAnchors;
use rootward::dnssec::validator::Validator;
use rootward::resolver::infra_cache::{DEFAULT_CAPACITY, InfraCache};
use rootward::resolver::{Action, AddressPolicy, Resolution, Resolver, ResolverConfig, Walker};
use rootward::root_hints::RootHints;
use rootward::server::Handler;
use rootward::server::handler::{Handled, Origin};
use rootward::server::live::Live;
use rootward::server::response::Transport;
use rootward::upstream::{Upstream, UpstreamError, UpstreamQuery};

/// Longest a single input may take before it counts as a hang: a miss
/// resolved against the in-memory stub, or one TCP connection. Generous:
/// every server here answers at once, so only a bug comes near it.
pub const INPUT_BOUND: Duration = Duration::from_secs(10);
/// Steps of the walker (sends, lookups) for one reply input before it
/// counts as an over-long walk: its own budget is 48 upstream queries.
pub const MAX_WALK_STEPS: usize = 1_000;
/// Largest stream the TCP target sends (longer inputs are cut).
pub const MAX_TCP_INPUT: usize = 64 * 1024;

fn n(s: &str) -> Name {
    Name::from_ascii(s).expect("fixture name")
}

/// One tokio runtime for the whole process (the fuzzers run many inputs
/// per process); current-thread, so an input runs start to end on it.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

// ---------------------------------------------------------------------------
// The request path
// ---------------------------------------------------------------------------

/// An authoritative server for everything, answering at once from memory:
/// the upstream of the request and TCP targets. Names under `nx.` do not
/// exist, A and AAAA have one address, `alias.*` is a CNAME to
/// `www.example.`, anything else is NODATA.
pub struct StubAuthority;

fn soa_record(zone: &Name) -> Record {
    Record::from_rdata(
        zone.clone(),
        300,
        RData::SOA(SOA::new(
            n("ns.stub."),
            n("admin.stub."),
            1,
            3600,
            900,
            604_800,
            60,
        )),
    )
}

impl Upstream for StubAuthority {
    async fn query(
        &self,
        _server: SocketAddr,
        query: &UpstreamQuery,
        _timeout: Duration,
    ) -> Result<Message, UpstreamError> {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        m.add_query(Query::query(query.name.clone(), query.qtype));
        let name = &query.name;
        if n("nx.").zone_of(name) && name != &n("nx.") {
            m.metadata.response_code = ResponseCode::NXDomain;
            m.authorities.push(soa_record(&n("nx.")));
            return Ok(m);
        }
        let first = name.iter().next().map(|l| l.to_ascii_lowercase());
        if first.as_deref() == Some(b"alias".as_slice()) {
            m.answers.push(Record::from_rdata(
                name.clone(),
                300,
                RData::CNAME(CNAME(n("www.example."))),
            ));
            return Ok(m);
        }
        match query.qtype {
            RecordType::A => m.answers.push(Record::from_rdata(
                name.clone(),
                300,
                RData::A(A::new(192, 0, 2, 1)),
            )),
            RecordType::AAAA => m.answers.push(Record::from_rdata(
                name.clone(),
                300,
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            )),
            _ => m.authorities.push(soa_record(&Name::root())),
        }
        Ok(m)
    }
}

/// Cached answers every request fixture starts with: positive, large (past
/// 512 bytes: truncation), negative, NXDOMAIN, a CNAME chain, and answers
/// that validation judged secure and bogus.
pub fn prefill(cache: &Cache, now: Timestamp) {
    let www = n("www.example.");
    let a = |i: u8| Record::from_rdata(www.clone(), 300, RData::A(A::new(192, 0, 2, i)));
    cache.store_positive(
        QuestionKey::new(&www, RecordType::A),
        (1..=3).map(a).collect(),
        now,
    );
    cache.store_positive(
        QuestionKey::new(&www, RecordType::AAAA),
        vec![Record::from_rdata(
            www.clone(),
            300,
            RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        )],
        now,
    );
    let big = n("big.example.");
    cache.store_positive(
        QuestionKey::new(&big, RecordType::TXT),
        (0..12)
            .map(|i| {
                Record::from_rdata(
                    big.clone(),
                    300,
                    RData::TXT(TXT::new(vec![format!("{i:02}{}", "x".repeat(60))])),
                )
            })
            .collect(),
        now,
    );
    let example = n("example.");
    cache.store_negative(
        QuestionKey::new(&www, RecordType::MX),
        AnswerKind::NoData,
        Vec::new(),
        Some(soa_record(&example)),
        now,
    );
    let gone = n("gone.example.");
    cache.store_negative(
        QuestionKey::new(&gone, RecordType::A),
        AnswerKind::NxDomain,
        Vec::new(),
        Some(soa_record(&example)),
        now,
    );
    let cname = n("cname.example.");
    cache.store_positive(
        QuestionKey::new(&cname, RecordType::A),
        vec![
            Record::from_rdata(cname.clone(), 300, RData::CNAME(CNAME(www.clone()))),
            a(1),
        ],
        now,
    );
    for (label, security) in [("secure", Security::Secure), ("bogus", Security::Bogus)] {
        let name = n(&format!("{label}.example."));
        cache.store(
            QuestionKey::new(&name, RecordType::A),
            AnswerKind::Positive,
            vec![Record::from_rdata(
                name.clone(),
                300,
                RData::A(A::new(192, 0, 2, 9)),
            )],
            Vec::new(),
            Verdict {
                security,
                ede: None,
            },
            now,
        );
    }
    // The delegation of example. with glue: misses under it go to its
    // server (the stub answers for every server alike).
    cache.store_rrset(
        vec![Record::from_rdata(
            example.clone(),
            3600,
            RData::NS(NS(n("ns.example."))),
        )],
        Trust::AuthAuthority,
        now,
    );
    cache.store_rrset(
        vec![Record::from_rdata(
            n("ns.example."),
            3600,
            RData::A(A::new(192, 0, 2, 53)),
        )],
        Trust::Glue,
        now,
    );
}

/// A handler over a fresh cache (pre-filled) and the stub authority, with
/// the defaults of the command line except the ACL: loopback and 10/8 are
/// allowed, 10.66/16 is denied and refused.
pub fn request_handler(validating: bool) -> Handler<StubAuthority> {
    let cache = Arc::new(Cache::new(
        1000,
        TtlPolicy::new(
            Duration::ZERO,
            Duration::from_secs(86_400),
            Duration::from_secs(3600),
        ),
        Duration::from_secs(86_400),
    ));
    prefill(&cache, SystemClock.now());
    let mut resolver = Resolver::new(
        cache,
        Arc::new(StubAuthority),
        RootHints::builtin(),
        Arc::new(SystemClock),
        ResolverConfig::with_policy(AddressPolicy::default()),
    );
    if validating {
        resolver = resolver.with_validator(Arc::new(Validator::new(TrustAnchors::builtin())));
    }
    let config = Config {
        allow: vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ],
        deny: vec!["10.66.0.0/16".parse().unwrap()],
        ..Config::default()
    };
    Handler::new(
        Arc::new(resolver),
        Live::from_config(&config).shared(),
        None,
    )
}

/// The client addresses the first byte of a request input picks from.
const PEERS: [&str; 4] = [
    "127.0.0.1:5353",
    "10.1.2.3:40000",
    "10.66.0.9:40000",   // denied: REFUSED
    "203.0.113.7:40000", // not allowed: REFUSED
];

/// Checks an answer to `request`: it parses, is a response, echoes the ID
/// and fits the transport.
pub fn check_answer(request: &[u8], answer: &[u8], transport: Transport) {
    let m = Message::from_vec(answer)
        .unwrap_or_else(|e| panic!("unparsable answer ({e}): {answer:02x?} to {request:02x?}"));
    assert_eq!(
        m.metadata.message_type,
        MessageType::Response,
        "answer is not a response"
    );
    assert_eq!(&answer[..2], &request[..2], "the ID is not echoed");
    let limit = match transport {
        // The largest payload any client may ask for is 4096 (with EDNS).
        Transport::Udp if m.edns.is_some() => 4096,
        Transport::Udp => 512,
        // Stream transports (TCP, TLS, HTTPS, QUIC): the 2-byte length.
        Transport::Tcp | Transport::Tls | Transport::Https | Transport::Quic => {
            usize::from(u16::MAX)
        }
    };
    assert!(
        answer.len() <= limit,
        "{} bytes over {transport:?}",
        answer.len()
    );
}

/// Target `request`: byte 0 chooses transport (bit 0: TCP), client (bits
/// 1-2), validation on (bit 3); the rest is the request as the listener
/// read it. Cache hits, errors and misses (resolved against the stub) are
/// answered; every answer is checked.
pub fn request(data: &[u8]) {
    let _ = answer_request(data);
}

/// [`request`], returning the answer sent (if any).
pub fn answer_request(data: &[u8]) -> Option<Vec<u8>> {
    let (&opts, bytes) = data.split_first()?;
    let transport = if opts & 1 == 1 {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let peer: SocketAddr = PEERS[usize::from((opts >> 1) & 3)].parse().unwrap();
    let handler = request_handler(opts & 8 != 0);
    let rt = runtime();
    let _guard = rt.enter();
    let origin = Origin {
        peer,
        transport,
        received: tokio::time::Instant::now(),
    };
    let answer = match handler.handle_now(bytes, origin) {
        Handled::Reply(answer) => Some(answer),
        Handled::Drop => None,
        Handled::Miss(miss) => rt.block_on(async {
            tokio::time::timeout(INPUT_BOUND, handler.resolve(miss))
                .await
                .unwrap_or_else(|_| panic!("miss not answered within {INPUT_BOUND:?}"))
        }),
    };
    if let Some(answer) = &answer {
        check_answer(bytes, answer, transport);
    }
    answer
}

// ---------------------------------------------------------------------------
// The reply path
// ---------------------------------------------------------------------------

/// Wall-clock time of the reply target's manual clock (2027-01-15), inside
/// the validity of the signatures of fuzz/seeds-src/example.test.signed.
pub const REPLY_START: Timestamp = 1_800_000_000;
/// The DS of the KSK of fuzz/seeds-src/example.test.signed: the trust
/// anchor of the reply target's resolver mode, beside the root's.
pub const EXAMPLE_TEST_DS: &str = "example.test. 3600 IN DS 38975 13 2 46b5e374a5907c9416aaf8e9d860035c05e470c4966b348cfc2a40abbbc542bf";

/// The built-in root anchors and [`EXAMPLE_TEST_DS`].
pub fn reply_anchors() -> TrustAnchors {
    let root = include_str!("../../src/dnssec/root.key");
    TrustAnchors::parse(&format!("{root}\n{EXAMPLE_TEST_DS}\n")).expect("anchors")
}
/// The servers of `example.test.` the walker asks.
pub const EXAMPLE_SERVERS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 51, 100, 10),
    Ipv4Addr::new(198, 51, 100, 11),
];
/// The simulated root server of the hints.
pub const SIM_ROOT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// The question types the first byte of a reply input picks from.
pub const REPLY_QTYPES: [RecordType; 8] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::NS,
    RecordType::MX,
    RecordType::TXT,
    RecordType::CNAME,
    RecordType::DS,
    RecordType::DNSKEY,
];

/// Names a server of `example.test.` may not make the walker cache.
pub const OUT_OF_BAILIWICK: [&str; 5] = ["evil.", "test.", "ns.evil.", "other.test.", "."];

fn sim_hints() -> RootHints {
    RootHints::parse(
        &format!(". 3600000 NS a.root.sim.\na.root.sim. 3600000 A {SIM_ROOT}\n"),
        "sim",
    )
    .expect("sim hints")
}

/// A cache that knows the delegation of `example.test.` (two servers with
/// glue), as after a referral from `test.`.
pub fn delegated_cache(now: Timestamp) -> Arc<Cache> {
    let cache = Arc::new(Cache::new(
        10_000,
        TtlPolicy::new(
            Duration::ZERO,
            Duration::from_secs(86_400),
            Duration::from_secs(3600),
        ),
        Duration::from_secs(86_400),
    ));
    let zone = n("example.test.");
    let ns: Vec<Record> = ["ns1.example.test.", "ns2.example.test."]
        .iter()
        .map(|s| Record::from_rdata(zone.clone(), 3600, RData::NS(NS(n(s)))))
        .collect();
    cache.store_rrset(ns, Trust::Referral, now);
    for (name, ip) in ["ns1.example.test.", "ns2.example.test."]
        .iter()
        .zip(EXAMPLE_SERVERS)
    {
        cache.store_rrset(
            vec![Record::from_rdata(n(name), 3600, RData::A(A(ip)))],
            Trust::Glue,
            now,
        );
    }
    cache
}

/// `reply` as the upstream would hand it over for `query`: QR set, the
/// question exactly the one sent (the socket upstream drops any other,
/// so the harness writes it rather than make the fuzzer guess it).
pub fn as_reply_to(reply: &Message, query: &UpstreamQuery) -> Message {
    let mut m = reply.clone();
    m.metadata.message_type = MessageType::Response;
    m.queries = vec![Query::query(query.name.clone(), query.qtype)];
    m
}

/// The reply-target options in byte 0: question type (bits 0-2), QNAME
/// minimisation (bits 3-4: off, relaxed, strict, off), DO (bit 5), and
/// whether the whole resolver with DNSSEC validation drives it (bit 6)
/// rather than the bare walker.
#[derive(Debug, Clone, Copy)]
pub struct ReplyOptions {
    /// The client's question type (the name is `www.example.test.`).
    pub qtype: RecordType,
    /// QNAME minimisation.
    pub qname_mode: QnameMinimisation,
    /// The walker asks with DO.
    pub validating: bool,
    /// Drive it with `Resolver::resolve` and a validator instead.
    pub resolver: bool,
}

impl ReplyOptions {
    /// Decodes byte 0 of a reply input.
    pub fn from_byte(b: u8) -> Self {
        Self {
            qtype: REPLY_QTYPES[usize::from(b & 7)],
            qname_mode: match (b >> 3) & 3 {
                1 => QnameMinimisation::Relaxed,
                2 => QnameMinimisation::Strict,
                _ => QnameMinimisation::Off,
            },
            validating: b & 0x20 != 0,
            resolver: b & 0x40 != 0,
        }
    }
}

/// Target `reply`: byte 0 holds [`ReplyOptions`]; the rest is the DNS
/// message a server of `example.test.` sends back to the walker's
/// question for `www.example.test.` (unparsable input is rejected, as the
/// upstream drops it). The walker scrubs, classifies, caches and acts on
/// it; every further query of the walk (a referral's, a CNAME's, an NS
/// name's) is answered with the same message, so a walk ends only by the
/// walker's own limits. It must end within [`MAX_WALK_STEPS`], and the
/// first reply must not put names outside `example.test.` in the cache.
pub fn reply(data: &[u8]) {
    let _ = resolve_reply(data);
}

/// [`reply`], returning the walk's resolution (`None`: not a message).
pub fn resolve_reply(data: &[u8]) -> Option<Resolution> {
    let (&opts, bytes) = data.split_first()?;
    let message = Message::from_vec(bytes).ok()?;
    let opts = ReplyOptions::from_byte(opts);
    Some(if opts.resolver {
        reply_through_resolver(message, opts)
    } else {
        reply_through_walker(&message, opts)
    })
}

/// The walker alone: [`Walker::step`] and [`Walker::on_reply`] by hand.
pub fn reply_through_walker(message: &Message, opts: ReplyOptions) -> Resolution {
    let now = REPLY_START;
    let cache = delegated_cache(now);
    let infra = Arc::new(InfraCache::new(DEFAULT_CAPACITY, Duration::from_secs(3)));
    let mut walker = Walker::new(
        n("www.example.test."),
        opts.qtype,
        cache.clone(),
        infra,
        Arc::new(sim_hints()),
        AddressPolicy::default(),
    )
    .with_qname_minimisation(opts.qname_mode)
    .validating(opts.validating);
    let mut replies = 0usize;
    for _ in 0..MAX_WALK_STEPS {
        match walker.step(now) {
            Action::Send(out) => {
                if replies == 0 {
                    assert_eq!(
                        out.zone,
                        n("example.test."),
                        "first query goes to example.test."
                    );
                }
                walker.on_reply(
                    Ok(as_reply_to(message, &out.query)),
                    Duration::from_millis(5),
                    now,
                );
                replies += 1;
                if replies == 1 {
                    for name in OUT_OF_BAILIWICK {
                        for t in [RecordType::A, RecordType::NS, RecordType::AAAA] {
                            assert!(
                                cache.rrset(&n(name), t, now).is_none(),
                                "a server of example.test. got {name} {t} cached"
                            );
                        }
                    }
                }
            }
            Action::Lookup(lookup) => walker.on_addresses(
                lookup
                    .names
                    .iter()
                    .map(|ns| (ns.clone(), vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53))]))
                    .collect(),
            ),
            Action::Done(res) => {
                check_resolution(&res);
                return res;
            }
        }
    }
    panic!("the walk did not end within {MAX_WALK_STEPS} steps ({replies} replies)");
}

fn check_resolution(res: &Resolution) {
    // Whatever the resolution holds must encode for a client.
    let mut m = Message::new(1, MessageType::Response, OpCode::Query);
    m.metadata.response_code = res.rcode;
    m.answers.extend(res.answers.iter().cloned());
    m.authorities.extend(res.authorities.iter().cloned());
    let _ = m.to_vec();
}

/// Answers every query with the fuzz message (question rewritten).
struct Replay(Message);

impl Upstream for Replay {
    async fn query(
        &self,
        _server: SocketAddr,
        query: &UpstreamQuery,
        _timeout: Duration,
    ) -> Result<Message, UpstreamError> {
        Ok(as_reply_to(&self.0, query))
    }
}

/// The whole resolver with DNSSEC validation ([`reply_anchors`]: a signed
/// reply can validate as secure): the walk as above, then the validator on
/// what it found, its DNSKEY and DS queries answered with the same message.
pub fn reply_through_resolver(message: Message, opts: ReplyOptions) -> Resolution {
    let clock = ManualClock::new(REPLY_START);
    let resolver = Arc::new(
        Resolver::new(
            delegated_cache(REPLY_START),
            Arc::new(Replay(message)),
            sim_hints(),
            Arc::new(clock),
            ResolverConfig {
                qname_minimisation: opts.qname_mode,
                ..ResolverConfig::with_policy(AddressPolicy::default())
            },
        )
        .with_validator(Arc::new(Validator::new(reply_anchors()))),
    );
    let res = runtime().block_on(async {
        tokio::time::timeout(
            INPUT_BOUND,
            resolver.resolve(&n("www.example.test."), opts.qtype),
        )
        .await
        .unwrap_or_else(|_| panic!("resolution did not end within {INPUT_BOUND:?}"))
    });
    check_resolution(&res);
    res
}

// ---------------------------------------------------------------------------
// TCP framing
// ---------------------------------------------------------------------------

/// Splits `stream` into the writes the TCP target makes: `seed` 0 is one
/// write; otherwise chunk sizes come from a small LCG in `1..=seed`.
pub fn chunks(seed: u8, stream: &[u8]) -> Vec<&[u8]> {
    if seed == 0 || stream.is_empty() {
        return vec![stream];
    }
    let mut state = u32::from(seed);
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let size = 1 + (state >> 16) as usize % usize::from(seed);
        let (head, tail) = rest.split_at(size.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// Complete frames in a stream (length prefix and body both there).
pub fn complete_frames(stream: &[u8]) -> usize {
    let (mut count, mut rest) = (0, stream);
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if rest.len() < 2 + len {
            break;
        }
        count += 1;
        rest = &rest[2 + len..];
    }
    count
}

/// Target `tcp_framing`: byte 0 is the split seed ([`chunks`]); the rest is
/// what a client writes on one TCP connection to rootward's TCP listener
/// (`rootward::server::tcp::serve`, on loopback in this process), in
/// separate writes, then it half-closes. Every frame that comes back must
/// be a complete DNS response, no more answers than complete queries, and
/// the server must close the connection within [`INPUT_BOUND`].
pub fn tcp_framing(data: &[u8]) {
    let _ = tcp_answers(data);
}

/// [`tcp_framing`], returning the answers that came back.
pub fn tcp_answers(data: &[u8]) -> Vec<Message> {
    let Some((&seed, stream)) = data.split_first() else {
        return Vec::new();
    };
    let stream = &stream[..stream.len().min(MAX_TCP_INPUT)];
    runtime().block_on(async {
        tokio::time::timeout(INPUT_BOUND, tcp_exchange(seed, stream))
            .await
            .unwrap_or_else(|_| panic!("TCP connection not closed within {INPUT_BOUND:?}"))
    })
}

async fn tcp_exchange(seed: u8, stream: &[u8]) -> Vec<Message> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::{mpsc, watch};

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (stop, shutdown) = watch::channel(false);
    let (done, mut finished) = mpsc::channel::<()>(1);
    let server = tokio::spawn(rootward::server::tcp::serve(
        listener,
        request_handler(false),
        rootward::server::tcp::Connections::new(16),
        Duration::from_secs(2),
        shutdown,
        done,
    ));
    let client = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect loopback");
    let _ = client.set_nodelay(true);
    let (mut rd, mut wr) = client.into_split();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        // A reset (the server closed with data unread) ends the read too.
        let _ = rd.read_to_end(&mut got).await;
        got
    });
    for chunk in chunks(seed, stream) {
        if wr.write_all(chunk).await.is_err() {
            break; // the server closed: the rest is not read
        }
        let _ = wr.flush().await;
        // Let the server read this piece before the next arrives.
        tokio::task::yield_now().await;
    }
    let _ = wr.shutdown().await;
    let got = reader.await.expect("reader task");
    let _ = stop.send(true);
    let _ = server.await;
    while finished.recv().await.is_some() {}

    let mut rest = got.as_slice();
    let mut answers = Vec::new();
    while !rest.is_empty() {
        assert!(rest.len() >= 2, "a truncated length prefix: {got:02x?}");
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        assert!(rest.len() >= 2 + len, "a truncated frame: {got:02x?}");
        let m = Message::from_vec(&rest[2..2 + len])
            .unwrap_or_else(|e| panic!("unparsable answer ({e}): {:02x?}", &rest[2..2 + len]));
        assert_eq!(m.metadata.message_type, MessageType::Response);
        answers.push(m);
        rest = &rest[2 + len..];
    }
    let queries = complete_frames(stream);
    assert!(
        answers.len() <= queries,
        "{} answers to {queries} complete queries",
        answers.len()
    );
    answers
}

// ---------------------------------------------------------------------------
// Config and trust anchors
// ---------------------------------------------------------------------------

/// Target `config`: the bytes as a config file (`Config::from_toml`, the
/// parser and checks `Config::load` runs on the file's text; non-UTF-8 is
/// refused before that, by `read_to_string`). A refusal is one line.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::from_toml(text, std::path::Path::new("fuzz.toml")) {
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "multi-line error: {msg}");
    }
}

/// Target `trust_anchor`: the bytes as a trust anchor file
/// (`TrustAnchors::parse`). A refusal names a line of the file.
pub fn trust_anchor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = TrustAnchors::parse(text) {
        let lines = text.split('\n').count();
        assert!(
            (1..=lines).contains(&e.line),
            "error on line {} of a {lines}-line text: {e}",
            e.line
        );
    }
}

/// A target: runs one input, panics on a bug.
pub type Target = fn(&[u8]);

/// The targets by name, for the replay tool.
pub const TARGETS: [(&str, Target); 5] = [
    ("request", request),
    ("reply", reply),
    ("tcp_framing", tcp_framing),
    ("config", config),
    ("trust_anchor", trust_anchor),
];
