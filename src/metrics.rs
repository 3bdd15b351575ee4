//! Prometheus metrics: counters the server bumps as it works, and the
//! `GET /metrics` endpoint that exposes them.
//!
//! One query's path through this module: the listener hands the answer to
//! its socket and calls [`Metrics::query`] with the query type, the rcode,
//! the time since the request arrived, whether the cache answered it and the
//! transport. That call bumps one member of `rootward_queries_total` (labels
//! capped to fixed sets, see `qtype_label` / `rcode_label`), the cache hit
//! or miss counter, and observes the latency in the `cache="hit"` or
//! `cache="miss"` histogram. Along the way other parts of the server count
//! their own events (ACL refusals, rate limiting, upstream queries and
//! timeouts, stale answers, prefetches) through the other methods. All of
//! them are atomic updates that never block on a scrape.
//!
//! A scrape (`GET /metrics`, served by [`Metrics::serve`] on its own thread)
//! asks the rest of the server for a [`Snapshot`] (cache size, upstream
//! RTTs), and [`Metrics::render`] writes the counters plus the snapshot as
//! gauges in the **OpenMetrics 1.0 text format** (prometheus-client's
//! encoder; the body ends with `# EOF`), served with the Content-Type
//! [`OPENMETRICS_CONTENT_TYPE`]. Prometheus scrapes that format natively.
//! Counters appear as `<name>_total` samples under a `# TYPE <name> counter`
//! descriptor, as OpenMetrics requires.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tracing::{debug, warn};

/// Every metric name starts with `rootward_`, so that they are easy to find
/// next to other exporters' metrics in one Prometheus.
const PREFIX: &str = "rootward";

/// The Content-Type of a scrape's body: OpenMetrics text 1.0, the format
/// prometheus-client's text encoder writes (ending with `# EOF`).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The only path served; any other gets 404.
const METRICS_PATH: &str = "/metrics";

/// Lowest latency bucket: 50 µs, about the time of a cache hit answered from
/// memory, so that hits are still told apart from one another.
const LATENCY_FIRST_BUCKET_SECONDS: f64 = 50e-6;
/// Each latency bucket is twice the one below: a constant relative error
/// (at most 2×) from hits in microseconds to cold resolutions in seconds.
const LATENCY_BUCKET_FACTOR: f64 = 2.0;
/// 18 doubling buckets: 50 µs · 2^17 ≈ 6.55 s, above the ~5 s a client
/// waits before giving up on a resolver, so the `+Inf` bucket only holds
/// answers nobody was still waiting for.
const LATENCY_BUCKETS: u16 = 18;

/// Quantiles of the upstream servers' smoothed RTTs exposed per scrape,
/// with their label values: the typical server, the slow ones, the worst.
const SRTT_QUANTILES: [(&str, f64); 3] = [("0.5", 0.5), ("0.9", 0.9), ("0.99", 0.99)];

/// Label value for anything outside a fixed list (query types, rcodes,
/// transports, rate-limit kinds), so that no client can grow the number of
/// series by sending unusual queries.
const OTHER: &str = "OTHER";

/// How long dropping a [`MetricsServer`] waits for its thread to finish the
/// scrape it may be answering. A scrape is a few kilobytes written to a
/// local socket, so this is generous; past it, the thread is left to end on
/// its own (it exits at its next look at the queue) rather than holding up
/// the server's shutdown.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Values read at scrape time from the rest of the server (cache size, server RTTs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Number of entries in the answer cache, exposed as `rootward_cache_entries`.
    pub cache_entries: u64,
    /// Smoothed RTT of each upstream server known to the infra cache, in seconds.
    pub server_srtt_seconds: Vec<f64>,
    /// Upstream replies dropped since the start, by reason (`wrong_id`,
    /// `wrong_question`, `wrong_case`, `unparsable`): forgery attempts that
    /// got the port right, or broken servers.
    pub dropped_replies: Vec<(&'static str, u64)>,
}

/// Labels of `rootward_queries_total`. All values are `&'static str` from
/// fixed lists, which bounds the family's cardinality.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    qtype: &'static str,
    rcode: &'static str,
    transport: &'static str,
}

/// Label of `rootward_answer_latency_seconds`: `hit` or `miss`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

/// Label of `rootward_refused_total`: why the query was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Label of `rootward_policy_answers_total`: what the local policy did.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

/// Label of `rootward_rate_limited_total`: what the rate limiter did.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WhatLabels {
    what: &'static str,
}

/// Label of `rootward_upstream_srtt_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabels {
    quantile: &'static str,
}

/// The server's metrics: a prometheus-client registry and handles on each
/// metric in it. Shared as `Arc<Metrics>`; every method takes `&self` and
/// may be called from any thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Hot path: `get_or_create` takes the family's read lock (a write lock
    /// the first time a label set is seen). Label values come from small
    /// fixed lists so the family stays small; issue 7 may pre-resolve the
    /// common label sets into plain `Counter` handles to skip the lock.
    queries: Family<QueryLabels, Counter>,
    cache_hits: Counter,
    cache_misses: Counter,
    /// The `cache="hit"` and `cache="miss"` members of the latency
    /// histogram family, resolved once in [`Metrics::new`] so that the hot
    /// path takes no family lock (a histogram has its own small mutex).
    latency_hit: Histogram,
    latency_miss: Histogram,
    refused_acl: Counter,
    /// The `what` members of `rootward_rate_limited_total`, resolved once:
    /// rate limiting runs hottest exactly when the server is under attack.
    rate_limited_query: Counter,
    rate_limited_slip: Counter,
    rate_limited_drop: Counter,
    /// For a `what` outside the three known ones (labelled `OTHER`).
    rate_limited: Family<WhatLabels, Counter>,
    dropped_requests: Counter,
    upstream_queries: Counter,
    upstream_timeouts: Counter,
    /// The `reason` members of `rootward_upstream_throttled_total`
    /// (zone, server, total), resolved once: they count fastest under a
    /// flood.
    upstream_throttled_zone: Counter,
    upstream_throttled_server: Counter,
    upstream_throttled_total: Counter,
    stale_answers: Counter,
    prefetches: Counter,
    cache_evictions: Counter,
    /// The `decision` members of `rootward_policy_answers_total`, resolved
    /// once: local, blocked, filtered, allowed.
    policy_local: Counter,
    policy_blocked: Counter,
    policy_filtered: Counter,
    policy_allowed: Counter,
}

impl Metrics {
    /// A fresh set of metrics, all zero, registered under the `rootward_` prefix.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix(PREFIX);

        let queries = Family::<QueryLabels, Counter>::default();
        registry.register(
            "queries",
            "Answered client queries, by query type, rcode and transport",
            queries.clone(),
        );

        let cache_hits = Counter::default();
        registry.register(
            "cache_hits",
            "Client queries answered from the cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Client queries that needed resolution",
            cache_misses.clone(),
        );

        let latency =
            Family::<CacheLabels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(
                    LATENCY_FIRST_BUCKET_SECONDS,
                    LATENCY_BUCKET_FACTOR,
                    LATENCY_BUCKETS,
                ))
            });
        let latency_hit = latency.get_or_create_owned(&CacheLabels { cache: "hit" });
        let latency_miss = latency.get_or_create_owned(&CacheLabels { cache: "miss" });
        registry.register_with_unit(
            "answer_latency",
            "Time from a query's receipt to its answer being handed to the socket",
            Unit::Seconds,
            latency,
        );

        let refused = Family::<ReasonLabels, Counter>::default();
        let refused_acl = refused.get_or_create_owned(&ReasonLabels { reason: "acl" });
        registry.register("refused", "Client queries refused, by reason", refused);

        let rate_limited = Family::<WhatLabels, Counter>::default();
        let rate_limited_query = rate_limited.get_or_create_owned(&WhatLabels { what: "query" });
        let rate_limited_slip = rate_limited.get_or_create_owned(&WhatLabels {
            what: "response-slip",
        });
        let rate_limited_drop = rate_limited.get_or_create_owned(&WhatLabels {
            what: "response-drop",
        });
        registry.register(
            "rate_limited",
            "Rate-limiting actions: query (refused), response-slip (truncated), response-drop",
            rate_limited.clone(),
        );

        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let dropped_requests = counter(
            &mut registry,
            "dropped_requests",
            "Requests dropped unanswered: garbage, responses, unparsable messages",
        );
        let upstream_queries = counter(
            &mut registry,
            "upstream_queries",
            "Queries sent to authoritative servers",
        );
        let upstream_timeouts = counter(
            &mut registry,
            "upstream_timeouts",
            "Queries to authoritative servers that timed out",
        );
        let throttled = Family::<ReasonLabels, Counter>::default();
        let upstream_throttled_zone =
            throttled.get_or_create_owned(&ReasonLabels { reason: "zone" });
        let upstream_throttled_server =
            throttled.get_or_create_owned(&ReasonLabels { reason: "server" });
        let upstream_throttled_total =
            throttled.get_or_create_owned(&ReasonLabels { reason: "total" });
        registry.register(
            "upstream_throttled",
            "Queries to authoritative servers not sent because too many were in flight, by the bound reached: zone, server, total",
            throttled,
        );
        let stale_answers = counter(
            &mut registry,
            "stale_answers",
            "Client queries answered with expired (stale) cache data",
        );
        let prefetches = counter(
            &mut registry,
            "prefetches",
            "Cache entries refreshed before expiry",
        );
        let cache_evictions = counter(
            &mut registry,
            "cache_evictions",
            "Cache entries evicted for lack of space",
        );

        let policy = Family::<DecisionLabels, Counter>::default();
        let decided = |d: &'static str| policy.get_or_create_owned(&DecisionLabels { decision: d });
        let (policy_local, policy_blocked, policy_filtered, policy_allowed) = (
            decided("local"),
            decided("blocked"),
            decided("filtered"),
            decided("allowed"),
        );
        registry.register(
            "policy_answers",
            "Queries decided by the local policy: local (local zones and data, hosts files, \
             private reverse zones), blocked (blocklists), filtered (RPZ), allowed (allowlist \
             or RPZ passthru, then resolved)",
            policy,
        );

        Arc::new(Self {
            registry,
            policy_local,
            policy_blocked,
            policy_filtered,
            policy_allowed,
            queries,
            cache_hits,
            cache_misses,
            latency_hit,
            latency_miss,
            refused_acl,
            rate_limited_query,
            rate_limited_slip,
            rate_limited_drop,
            rate_limited,
            dropped_requests,
            upstream_queries,
            upstream_timeouts,
            upstream_throttled_zone,
            upstream_throttled_server,
            upstream_throttled_total,
            stale_answers,
            prefetches,
            cache_evictions,
        })
    }

    /// One answered client query: its type, rcode, how long it took from receipt to the answer
    /// being handed to the socket, whether it was a cache hit, and the transport ("udp", "tcp", "tls", "https", "quic").
    pub fn query(
        &self,
        qtype: RecordType,
        rcode: ResponseCode,
        latency: Duration,
        cache_hit: bool,
        transport: &str,
    ) {
        let labels = QueryLabels {
            qtype: qtype_label(qtype),
            rcode: rcode_label(rcode),
            transport: transport_label(transport),
        };
        self.queries.get_or_create(&labels).inc();
        let seconds = latency.as_secs_f64();
        if cache_hit {
            self.cache_hits.inc();
            self.latency_hit.observe(seconds);
        } else {
            self.cache_misses.inc();
            self.latency_miss.observe(seconds);
        }
    }

    /// A query the local policy decided: `"local"`, `"blocked"`,
    /// `"filtered"` or `"allowed"` (anything else counts as local).
    pub fn policy_answer(&self, decision: &str) {
        match decision {
            "blocked" => self.policy_blocked.inc(),
            "filtered" => self.policy_filtered.inc(),
            "allowed" => self.policy_allowed.inc(),
            _ => self.policy_local.inc(),
        };
    }

    /// A query refused because the client is outside the ACL.
    pub fn refused_by_acl(&self) {
        self.refused_acl.inc();
    }

    /// A rate-limiting action: `"query"` (query refused), `"response-slip"`
    /// (truncated answer sent instead) or `"response-drop"`. Anything else
    /// is counted as `what="OTHER"`.
    pub fn rate_limited(&self, what: &str) {
        match what {
            "query" => self.rate_limited_query.inc(),
            "response-slip" => self.rate_limited_slip.inc(),
            "response-drop" => self.rate_limited_drop.inc(),
            _ => self
                .rate_limited
                .get_or_create(&WhatLabels { what: OTHER })
                .inc(),
        };
    }

    /// A request dropped unanswered (garbage, a response, unparsable).
    pub fn dropped_request(&self) {
        self.dropped_requests.inc();
    }

    /// A query sent to an authoritative server.
    pub fn upstream_query(&self) {
        self.upstream_queries.inc();
    }

    /// A query to an authoritative server that got no answer in time.
    pub fn upstream_timeout(&self) {
        self.upstream_timeouts.inc();
    }

    /// A query to an authoritative server not sent because the `reason`
    /// bound on queries in flight was reached: `"zone"`, `"server"` or
    /// `"total"` (anything else counts as `"total"`).
    pub fn upstream_throttled(&self, reason: &str) {
        match reason {
            "zone" => self.upstream_throttled_zone.inc(),
            "server" => self.upstream_throttled_server.inc(),
            _ => self.upstream_throttled_total.inc(),
        };
    }

    /// A client answered with stale cache data.
    pub fn stale_answer(&self) {
        self.stale_answers.inc();
    }

    /// A cache entry refreshed ahead of its expiry.
    pub fn prefetch(&self) {
        self.prefetches.inc();
    }

    /// `n` cache entries evicted for lack of space.
    pub fn cache_eviction(&self, n: u64) {
        self.cache_evictions.inc_by(n);
    }

    /// The Prometheus text exposition of everything, with `snapshot` values as gauges/summary.
    ///
    /// The format is OpenMetrics 1.0 text (served as
    /// [`OPENMETRICS_CONTENT_TYPE`]); it ends with `# EOF`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; should an encoder ever report
        // an error anyway, the scrape still gets what was written, closed
        // with `# EOF`.
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &snapshot_registry(snapshot)));
        if let Err(e) = encoded {
            warn!(error = %e, "metrics encoding failed; the scrape is incomplete");
        }
        if encode_eof(&mut out).is_err() {
            out.push_str("# EOF\n");
        }
        out
    }

    /// Serves `GET /metrics` on `addr` in a background std thread (tiny_http), calling `snapshot`
    /// for each scrape; any other path → 404. Returns the bound address (addr may have port 0)
    /// or a readable error ("cannot serve metrics on ADDR: address already in use").
    /// The thread stops when the returned `MetricsServer` is dropped.
    ///
    /// Scrapes are answered one at a time on that thread (tiny_http reads
    /// requests on its own small pool); a scrape costs one `snapshot` call
    /// and one [`Metrics::render`].
    pub fn serve(
        self: &Arc<Self>,
        addr: SocketAddr,
        snapshot: Arc<dyn Fn() -> Snapshot + Send + Sync>,
    ) -> Result<MetricsServer, String> {
        let cannot = |why: String| format!("cannot serve metrics on {addr}: {why}");
        // Binding ourselves (rather than tiny_http::Server::http) gives the
        // io::Error kind for a readable message, and the bound port.
        let listener = TcpListener::bind(addr).map_err(|e| cannot(describe_io_error(&e)))?;
        let bound = listener
            .local_addr()
            .map_err(|e| cannot(describe_io_error(&e)))?;
        let content_type = tiny_http::Header::from_bytes(
            &b"Content-Type"[..],
            OPENMETRICS_CONTENT_TYPE.as_bytes(),
        )
        .map_err(|()| cannot("invalid Content-Type header".to_string()))?;
        let server = Arc::new(
            tiny_http::Server::from_listener(listener, None).map_err(|e| cannot(e.to_string()))?,
        );
        let stopping = Arc::new(AtomicBool::new(false));
        // Never sent on: the thread's end drops the sender, which is what
        // `MetricsServer::stop` waits for (with a timeout, unlike `join`).
        let (exited_tx, exited) = mpsc::channel::<Infallible>();
        let thread = {
            let server = Arc::clone(&server);
            let stopping = Arc::clone(&stopping);
            let metrics = Arc::clone(self);
            thread::Builder::new()
                .name("metrics-http".to_string())
                .spawn(move || {
                    let _exited_tx = exited_tx;
                    serve_loop(&server, &stopping, &metrics, &*snapshot, &content_type);
                })
                .map_err(|e| cannot(format!("cannot start its thread: {e}")))?
        };
        Ok(MetricsServer {
            addr: bound,
            server,
            stopping,
            thread: Some(thread),
            exited,
        })
    }
}

/// The running `GET /metrics` endpoint. Dropping it stops the serving
/// thread (waiting at most a couple of seconds for a scrape in progress)
/// and closes the listening socket.
pub struct MetricsServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    exited: Receiver<Infallible>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// The address the endpoint listens on (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the serving thread; true when it ended within [`SHUTDOWN_WAIT`]
    /// (and was joined). Idempotent.
    fn stop(&mut self) -> bool {
        let Some(thread) = self.thread.take() else {
            return true;
        };
        self.stopping.store(true, Ordering::Release);
        // Wakes the thread's blocking `recv()`; it then sees `stopping`.
        self.server.unblock();
        match self.exited.recv_timeout(SHUTDOWN_WAIT) {
            Ok(never) => match never {},
            Err(RecvTimeoutError::Disconnected) => {
                if thread.join().is_err() {
                    warn!("the metrics thread had panicked");
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                warn!(
                    wait = ?SHUTDOWN_WAIT,
                    "metrics thread still answering a scrape; leaving it to end on its own"
                );
                false
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
        // `self.server` drops after this; once the thread's clone is gone
        // too, tiny_http closes the listening socket and its accept thread.
    }
}

/// Answers requests until [`MetricsServer::stop`] unblocks the server (or
/// tiny_http's accept thread fails, after which no request can come).
/// Blocks in `recv()` between requests: no polling.
fn serve_loop(
    server: &tiny_http::Server,
    stopping: &AtomicBool,
    metrics: &Metrics,
    snapshot: &(dyn Fn() -> Snapshot + Send + Sync),
    content_type: &tiny_http::Header,
) {
    loop {
        if stopping.load(Ordering::Acquire) {
            return;
        }
        let request = match server.recv() {
            Ok(request) => request,
            Err(e) => {
                if !stopping.load(Ordering::Acquire) {
                    warn!(error = %e, "metrics endpoint stopped accepting connections");
                }
                return;
            }
        };
        let path = request
            .url()
            .split_once('?')
            .map_or(request.url(), |(path, _query)| path);
        let response = if path != METRICS_PATH {
            tiny_http::Response::from_string("not found: the metrics are at /metrics\n")
                .with_status_code(404)
        } else if !matches!(
            request.method(),
            tiny_http::Method::Get | tiny_http::Method::Head
        ) {
            let allow = tiny_http::Header::from_bytes(&b"Allow"[..], &b"GET, HEAD"[..]);
            let response = tiny_http::Response::from_string("method not allowed: use GET\n")
                .with_status_code(405);
            match allow {
                Ok(allow) => response.with_header(allow),
                Err(()) => response,
            }
        } else {
            tiny_http::Response::from_string(metrics.render(&snapshot()))
                .with_header(content_type.clone())
        };
        if let Err(e) = request.respond(response) {
            debug!(error = %e, "metrics scrape: cannot send the response");
        }
    }
}

/// The scrape-time gauges, in a registry built for this scrape only: the
/// values come from the caller's [`Snapshot`], not from stored state, so
/// concurrent scrapes cannot see each other's values.
///
/// prometheus-client has no summary type, so the SRTT distribution is
/// exposed summary-like as two gauges: `rootward_upstream_servers` (the
/// number of RTTs, like a summary's `_count`) and the gauge family
/// `rootward_upstream_srtt_seconds{quantile="0.5"|"0.9"|"0.99"}`. With no
/// server known yet the quantile family has no samples (rather than NaN).
fn snapshot_registry(snapshot: &Snapshot) -> Registry {
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register(
        "cache_entries",
        "Entries in the answer cache",
        ConstGauge::new(snapshot.cache_entries),
    );
    let dropped = Family::<ReasonLabels, Gauge>::default();
    for (reason, count) in &snapshot.dropped_replies {
        dropped
            .get_or_create(&ReasonLabels { reason })
            .set(i64::try_from(*count).unwrap_or(i64::MAX));
    }
    registry.register(
        "upstream_dropped_replies",
        "Upstream replies dropped since the start (a count that only grows), by reason: wrong ID, question or 0x20 case, or not a DNS response",
        dropped,
    );

    let mut rtts: Vec<f64> = snapshot
        .server_srtt_seconds
        .iter()
        .copied()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .collect();
    rtts.sort_by(f64::total_cmp);
    registry.register(
        "upstream_servers",
        "Upstream servers with a smoothed RTT in the infrastructure cache",
        ConstGauge::new(u64::try_from(rtts.len()).unwrap_or(u64::MAX)),
    );
    let quantiles = Family::<QuantileLabels, Gauge<f64, AtomicU64>>::default();
    for (label, phi) in SRTT_QUANTILES {
        if let Some(value) = quantile(&rtts, phi) {
            quantiles
                .get_or_create(&QuantileLabels { quantile: label })
                .set(value);
        }
    }
    registry.register_with_unit(
        "upstream_srtt",
        "Quantiles of the upstream servers' smoothed RTTs (a summary, exposed as gauges)",
        Unit::Seconds,
        quantiles,
    );
    registry
}

/// Nearest-rank quantile `phi` (0..=1) of `sorted` (ascending); `None` when empty.
fn quantile(sorted: &[f64], phi: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    // Rank ceil(phi·n), 1-based; the float-to-int cast saturates.
    let rank = (phi * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1).min(last)).copied()
}

/// The `qtype` label: the type's mnemonic for common types, `OTHER` for the
/// rest (so a client cannot create series by asking for type 65000 etc.).
fn qtype_label(qtype: RecordType) -> &'static str {
    use RecordType as T;
    match qtype {
        T::A
        | T::AAAA
        | T::ANY
        | T::CAA
        | T::CNAME
        | T::DNAME
        | T::DNSKEY
        | T::DS
        | T::HTTPS
        | T::MX
        | T::NAPTR
        | T::NS
        | T::PTR
        | T::SOA
        | T::SRV
        | T::SSHFP
        | T::SVCB
        | T::TLSA
        | T::TXT => qtype.into(),
        _ => OTHER,
    }
}

/// The `rcode` label: the RFC mnemonic (hickory's `Display` gives prose
/// such as "No Error"), `OTHER` for extended and unknown codes.
fn rcode_label(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        ResponseCode::BADCOOKIE => "BADCOOKIE",
        _ => OTHER,
    }
}

/// The `transport` label: `udp`, `tcp`, `tls`, `https`, `quic`, or `OTHER`
/// for anything else.
fn transport_label(transport: &str) -> &'static str {
    match transport {
        "udp" => "udp",
        "tcp" => "tcp",
        "tls" => "tls",
        "https" => "https",
        "quic" => "quic",
        _ => OTHER,
    }
}

/// A short lower-case reason for a bind failure, e.g. "address already in use".
fn describe_io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_string(),
        io::ErrorKind::AddrNotAvailable => "address not available on this host".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, TcpStream};
    use std::time::Instant;

    /// A loopback address of its own, so these tests never meet another
    /// test's listener on 127.0.0.1.
    const TEST_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 59, 0, 1));
    /// Bound on every network wait in these tests.
    const IO_TIMEOUT: Duration = Duration::from_secs(5);

    fn test_addr() -> SocketAddr {
        SocketAddr::new(TEST_IP, 0)
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            cache_entries: 42,
            server_srtt_seconds: vec![0.010, 0.030, 0.020],
            dropped_replies: vec![("wrong_id", 3), ("wrong_case", 1)],
        }
    }

    fn has_line(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    /// Minimal HTTP/1.1 GET; returns (status code, headers, body).
    fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, head.to_string(), body.to_string())
    }

    #[test]
    fn render_counts_queries_and_shows_snapshot() {
        let m = Metrics::new();
        for _ in 0..2 {
            m.query(
                RecordType::A,
                ResponseCode::NoError,
                Duration::from_micros(200),
                true,
                "udp",
            );
        }
        m.query(
            RecordType::AAAA,
            ResponseCode::ServFail,
            Duration::from_millis(300),
            false,
            "tcp",
        );
        m.refused_by_acl();
        m.rate_limited("response-slip");
        m.dropped_request();
        m.upstream_query();
        m.upstream_query();
        m.upstream_timeout();
        m.stale_answer();
        m.prefetch();
        m.cache_eviction(5);
        let text = m.render(&snapshot());

        for line in [
            r#"rootward_queries_total{qtype="A",rcode="NOERROR",transport="udp"} 2"#,
            r#"rootward_queries_total{qtype="AAAA",rcode="SERVFAIL",transport="tcp"} 1"#,
            "# TYPE rootward_queries counter",
            "rootward_cache_hits_total 2",
            "rootward_cache_misses_total 1",
            "# TYPE rootward_answer_latency_seconds histogram",
            "# UNIT rootward_answer_latency_seconds seconds",
            r#"rootward_answer_latency_seconds_count{cache="hit"} 2"#,
            r#"rootward_answer_latency_seconds_count{cache="miss"} 1"#,
            r#"rootward_answer_latency_seconds_bucket{le="0.0001",cache="hit"} 0"#,
            r#"rootward_answer_latency_seconds_bucket{le="0.0002",cache="hit"} 2"#,
            r#"rootward_answer_latency_seconds_bucket{le="+Inf",cache="hit"} 2"#,
            r#"rootward_refused_total{reason="acl"} 1"#,
            r#"rootward_rate_limited_total{what="response-slip"} 1"#,
            r#"rootward_rate_limited_total{what="query"} 0"#,
            "rootward_dropped_requests_total 1",
            "rootward_upstream_queries_total 2",
            "rootward_upstream_timeouts_total 1",
            "rootward_stale_answers_total 1",
            "rootward_prefetches_total 1",
            "rootward_cache_evictions_total 5",
            "# TYPE rootward_cache_entries gauge",
            "rootward_cache_entries 42",
            "rootward_upstream_dropped_replies{reason=\"wrong_id\"} 3",
            "rootward_upstream_servers 3",
            "# TYPE rootward_upstream_srtt_seconds gauge",
            r#"rootward_upstream_srtt_seconds{quantile="0.5"} 0.02"#,
            r#"rootward_upstream_srtt_seconds{quantile="0.99"} 0.03"#,
        ] {
            assert!(has_line(&text, line), "missing line {line:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "no EOF marker:\n{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    /// Every line is a comment (`# HELP|TYPE|UNIT|EOF`) or `name{labels} value`
    /// with a name from this module and a numeric value.
    #[test]
    fn render_is_well_formed_text() {
        let m = Metrics::new();
        m.query(
            RecordType::MX,
            ResponseCode::NXDomain,
            Duration::from_millis(7),
            false,
            "udp",
        );
        m.rate_limited("something-new");
        for snap in [snapshot(), Snapshot::default()] {
            let text = m.render(&snap);
            for line in text.lines() {
                if let Some(comment) = line.strip_prefix("# ") {
                    let kind = comment.split(' ').next().unwrap_or_default();
                    assert!(
                        ["HELP", "TYPE", "UNIT", "EOF"].contains(&kind),
                        "bad comment {line:?}"
                    );
                    continue;
                }
                let (series, value) = line.rsplit_once(' ').expect("sample has a value");
                assert!(series.starts_with("rootward_"), "bad name in {line:?}");
                let name_end = series.find('{').unwrap_or(series.len());
                assert!(
                    series[..name_end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad name in {line:?}"
                );
                if name_end < series.len() {
                    assert!(series.ends_with('}'), "bad labels in {line:?}");
                }
                assert!(
                    value == "+Inf" || value.parse::<f64>().is_ok(),
                    "bad value in {line:?}"
                );
            }
        }
        let empty = m.render(&Snapshot::default());
        assert!(has_line(&empty, "rootward_upstream_servers 0"));
        assert!(!empty.contains("rootward_upstream_srtt_seconds{"));
        assert!(has_line(
            &empty,
            r#"rootward_rate_limited_total{what="OTHER"} 1"#
        ));
    }

    #[test]
    fn labels_are_capped() {
        assert_eq!(qtype_label(RecordType::A), "A");
        assert_eq!(qtype_label(RecordType::HTTPS), "HTTPS");
        assert_eq!(qtype_label(RecordType::Unknown(65000)), "OTHER");
        assert_eq!(qtype_label(RecordType::NULL), "OTHER");
        assert_eq!(rcode_label(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_label(ResponseCode::Refused), "REFUSED");
        assert_eq!(rcode_label(ResponseCode::Unknown(3000)), "OTHER");
        assert_eq!(transport_label("udp"), "udp");
        assert_eq!(transport_label("quic"), "quic");
        assert_eq!(transport_label("sctp"), "OTHER");

        let m = Metrics::new();
        for t in 1000..1100 {
            m.query(
                RecordType::Unknown(t),
                ResponseCode::Unknown(t),
                Duration::ZERO,
                false,
                "x",
            );
        }
        let text = m.render(&Snapshot::default());
        assert!(has_line(
            &text,
            r#"rootward_queries_total{qtype="OTHER",rcode="OTHER",transport="OTHER"} 100"#
        ));
        assert_eq!(text.matches("rootward_queries_total{").count(), 1);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(|i| f64::from(i) / 1000.0).collect();
        assert_eq!(quantile(&sorted, 0.5), Some(0.050));
        assert_eq!(quantile(&sorted, 0.9), Some(0.090));
        assert_eq!(quantile(&sorted, 0.99), Some(0.099));
        assert_eq!(quantile(&[0.5], 0.99), Some(0.5));
        assert_eq!(quantile(&[], 0.5), None);
        // Non-finite samples are left out of both the count and the quantiles.
        let text = Metrics::new().render(&Snapshot {
            dropped_replies: Vec::new(),
            cache_entries: 0,
            server_srtt_seconds: vec![f64::NAN, 0.25, f64::INFINITY],
        });
        assert!(has_line(&text, "rootward_upstream_servers 1"));
        assert!(has_line(
            &text,
            r#"rootward_upstream_srtt_seconds{quantile="0.9"} 0.25"#
        ));
    }

    #[test]
    fn serves_metrics_and_404_then_stops() {
        let m = Metrics::new();
        m.query(
            RecordType::A,
            ResponseCode::NoError,
            Duration::from_micros(200),
            true,
            "udp",
        );
        let scrapes = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&scrapes);
        let mut server = m
            .serve(
                test_addr(),
                Arc::new(move || {
                    counted.fetch_add(1, Ordering::Relaxed);
                    snapshot()
                }),
            )
            .expect("serve");
        let addr = server.addr();
        assert_eq!(addr.ip(), TEST_IP);
        assert_ne!(addr.port(), 0);

        let (status, head, body) = get(addr, "/metrics");
        assert_eq!(status, 200, "{head}");
        assert!(
            head.lines()
                .any(|l| l
                    .eq_ignore_ascii_case(&format!("content-type: {OPENMETRICS_CONTENT_TYPE}"))),
            "{head}"
        );
        assert!(has_line(
            &body,
            r#"rootward_queries_total{qtype="A",rcode="NOERROR",transport="udp"} 1"#
        ));
        assert!(has_line(&body, "rootward_cache_entries 42"));
        assert!(body.ends_with("# EOF\n"));

        let (status, _, body) = get(addr, "/metrics?x=1");
        assert_eq!(status, 200);
        assert!(body.ends_with("# EOF\n"));

        let (status, _, _) = get(addr, "/other");
        assert_eq!(status, 404);
        let (status, _, _) = get(addr, "/");
        assert_eq!(status, 404);
        assert_eq!(scrapes.load(Ordering::Relaxed), 2);

        let started = Instant::now();
        assert!(server.stop(), "serving thread did not end");
        assert!(started.elapsed() < SHUTDOWN_WAIT);
        drop(server);

        // The port is free again once the server is gone: a restart (e.g. a
        // reload moving the endpoint back) can bind it. tiny_http closes
        // its listener on its own accept thread, hence the bounded retry.
        let deadline = Instant::now() + IO_TIMEOUT;
        let again = loop {
            match m.serve(addr, Arc::new(snapshot)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("port not released: {e}"),
            }
        };
        assert_eq!(again.addr(), addr);
        let (status, _, _) = get(addr, "/metrics");
        assert_eq!(status, 200);
        let started = Instant::now();
        drop(again);
        assert!(started.elapsed() < SHUTDOWN_WAIT);
    }

    #[test]
    fn serving_twice_on_one_port_is_a_readable_error() {
        let m = Metrics::new();
        let first = m.serve(test_addr(), Arc::new(snapshot)).expect("serve");
        let err = m
            .serve(first.addr(), Arc::new(snapshot))
            .expect_err("second bind must fail");
        assert_eq!(
            err,
            format!(
                "cannot serve metrics on {}: address already in use",
                first.addr()
            )
        );
        // The first server is unaffected.
        let (status, _, _) = get(first.addr(), "/metrics");
        assert_eq!(status, 200);
    }

    #[test]
    fn throttled_upstream_queries_are_counted_by_reason() {
        let m = Metrics::new();
        let before = m.render(&snapshot());
        for reason in ["zone", "server", "total"] {
            let line = format!("rootward_upstream_throttled_total{{reason=\"{reason}\"}} 0");
            assert!(has_line(&before, &line), "missing {line:?} in:\n{before}");
        }
        m.upstream_throttled("zone");
        m.upstream_throttled("zone");
        m.upstream_throttled("server");
        let after = m.render(&snapshot());
        for line in [
            r#"rootward_upstream_throttled_total{reason="zone"} 2"#,
            r#"rootward_upstream_throttled_total{reason="server"} 1"#,
            r#"rootward_upstream_throttled_total{reason="total"} 0"#,
        ] {
            assert!(has_line(&after, line), "missing {line:?} in:\n{after}");
        }
    }
}
