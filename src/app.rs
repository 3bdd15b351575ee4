//! The running server: everything built from one [`Config`], and reloads.
//!
//! One start's path: [`App::start`] binds the listeners (so a port in use is
//! reported before anything runs), builds the cache, the resolver, the
//! metrics endpoint and the control socket, then [`App::serve`] answers until
//! shutdown. A reload (SIGHUP or `rootward ctl reload`) re-reads the
//! command line and config file, refuses a bad config with its reason
//! (the old one keeps running), and swaps in what can change live: ACL,
//! rate limits, TTL floor/cap, log level, query log, the local policy
//! (its files re-read; a missing one keeps the old policy) and the
//! encrypted listeners' certificate (re-read from its files; a bad one
//! refuses the reload and the old one stays). The cache is kept. The rest
//! (listen
//! addresses, metrics address, control socket, user, resolver settings)
//! needs a restart, and the reload says so.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use hickory_proto::rr::{Name, RecordType};
use tracing::{error, info, warn};

use crate::cache::{Cache, TtlPolicy};
use crate::clock::SystemClock;
use crate::config::{Cli, Config};
use crate::control::{self, Request, Response};
use crate::dnssec::anchor::TrustAnchors;
use crate::dnssec::validator::Validator;
use crate::metrics::{Metrics, MetricsServer, Snapshot};
use crate::policy::{Action, Policy};
use crate::resolver::resolution::rcode_name;
use crate::resolver::{AddressPolicy, Resolver, ResolverConfig};
use crate::root_hints::RootHints;
use crate::server::live::{Live, SharedLive};
use crate::server::tls::{Certificates, EncryptedAddrs, bind_encrypted};
use crate::server::{self, Handler, Sockets, TcpLimits};
use crate::upstream::{SocketUpstream, UpstreamConfig};

/// Changes the log level of the running process (a tracing reload handle).
pub type LogLevelSetter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The state a reload and the control socket act on.
pub struct Runtime {
    resolver: Arc<Resolver<SocketUpstream>>,
    live: SharedLive,
    metrics: Arc<Metrics>,
    /// The encrypted listeners' certificate, when there are any.
    certificates: Option<Arc<Certificates>>,
    set_log_level: LogLevelSetter,
    /// The command line as started: a reload re-reads it with the file.
    args: Vec<String>,
    current: Mutex<Config>,
    started: Instant,
    /// Cache evictions already reported to the metrics counter.
    evictions_reported: AtomicU64,
}

/// A configured server, listeners bound, not yet serving.
pub struct App {
    config: Config,
    sockets: Sockets,
    runtime: Arc<Runtime>,
    _metrics_server: Option<MetricsServer>,
}

impl App {
    /// Builds the server for `config`; `args` is the command line it came
    /// from (for reloads). Binding errors name the address and the reason.
    pub async fn start(
        config: Config,
        args: Vec<String>,
        explicit_listen: bool,
        set_log_level: LogLevelSetter,
    ) -> Result<Self, String> {
        let hints = match &config.root_hints {
            Some(path) => RootHints::from_file(path).map_err(|e| e.to_string())?,
            None => RootHints::builtin(),
        };
        let mut sockets = Sockets::default();
        for addr in &config.listen {
            match server::bind(std::slice::from_ref(addr), config.threads).await {
                Ok(s) => {
                    sockets.udp.extend(s.udp);
                    sockets.tcp.extend(s.tcp);
                }
                // The default [::1]:53 is skipped on a host without IPv6.
                Err(e) if !explicit_listen && e.kind == std::io::ErrorKind::AddrNotAvailable => {
                    warn!("{e}; skipping it");
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let policy = load_policy(&config)?;
        let encrypted_addrs = EncryptedAddrs {
            tls: config.tls_listen.clone(),
            https: config.https_listen.clone(),
            quic: config.quic_listen.clone(),
        };
        let certificates = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) if !encrypted_addrs.is_empty() => {
                let certs = Certificates::load(cert, key).map_err(|e| e.to_string())?;
                let bound = bind_encrypted(&encrypted_addrs, &certs, config.tcp_idle_timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                sockets.encrypted = Some(bound);
                Some(certs)
            }
            _ => None,
        };
        let live = Live::from_config(&config).with_policy(policy);
        if live.acl.loopback_only() {
            for addr in sockets.udp_addrs() {
                if !addr.ip().is_loopback() {
                    warn!(
                        %addr,
                        "listening on a non-loopback address, but only loopback clients are allowed: \
                         add `--allow CIDR` (or `allow = [\"CIDR\"]` in the config) for the networks to serve"
                    );
                }
            }
        }
        let metrics = Metrics::new();
        let mut resolver = resolver_for(&config, hints).with_metrics(metrics.clone());
        if !config.no_dnssec {
            let anchors = load_anchors(&config.trust_anchor)?;
            let validator = Validator::new(anchors).with_insecure(&config.insecure_domain);
            resolver = resolver.with_validator(Arc::new(validator));
        }
        let resolver = Arc::new(resolver);
        let runtime = Arc::new(Runtime {
            resolver,
            live: live.shared(),
            metrics,
            certificates,
            set_log_level,
            args,
            current: Mutex::new(config.clone()),
            started: Instant::now(),
            evictions_reported: AtomicU64::new(0),
        });
        let metrics_server = match config.metrics {
            Some(addr) => {
                let rt = runtime.clone();
                let server = runtime
                    .metrics
                    .serve(addr, Arc::new(move || rt.snapshot()))?;
                info!(addr = %server.addr(), "serving metrics on /metrics");
                Some(server)
            }
            None => None,
        };
        Ok(Self {
            config,
            sockets,
            runtime,
            _metrics_server: metrics_server,
        })
    }

    /// The reload and control state.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Serves until `shutdown` completes; the control socket (if any) runs
    /// alongside and stops with it.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let control_task = match &self.config.control_socket {
            Some(path) => {
                let listener = control::bind(path).await?;
                info!(path = %path.display(), "control socket ready");
                let handler: Arc<dyn control::Handler> = self.runtime.clone();
                let mut rx = stop_rx.clone();
                let path = path.clone();
                Some(tokio::spawn(async move {
                    let stopped = async move {
                        let _ = rx.wait_for(|s| *s).await.map(|_| ());
                    };
                    if let Err(e) = control::serve_listener(listener, &path, handler, stopped).await
                    {
                        warn!("control socket: {e}");
                    }
                }))
            }
            None => None,
        };
        if let Some(user) = &self.config.user {
            crate::privileges::drop_to_user(user)?;
            info!(%user, "switched user");
        }
        let limits = TcpLimits {
            max_connections: self.config.max_tcp_connections,
            idle_timeout: self.config.tcp_idle_timeout,
        };
        let handler = Handler::new(
            self.runtime.resolver.clone(),
            self.runtime.live.clone(),
            Some(self.runtime.metrics.clone()),
        );
        // In-flight answers get as long as a resolution may take, plus a second.
        let drain = self.config.resolution_timeout + Duration::from_secs(1);
        server::run(self.sockets, handler, limits, drain, shutdown).await;
        let _ = stop_tx.send(true);
        if let Some(task) = control_task {
            let _ = task.await;
        }
        Ok(())
    }
}

/// The local policy `config` describes, its files read; what was loaded
/// is logged.
fn load_policy(config: &Config) -> Result<Policy, String> {
    let started = Instant::now();
    let policy = Policy::load(&config.policy).map_err(|e| e.to_string())?;
    for line in policy.report() {
        info!("local policy: {line}");
    }
    info!(
        names = policy.names(),
        ms = started.elapsed().as_millis() as u64,
        "local policy loaded"
    );
    Ok(policy)
}

/// The resolver `config` describes, over real sockets.
fn resolver_for(config: &Config, hints: RootHints) -> Resolver<SocketUpstream> {
    let cache = Arc::new(Cache::new(
        config.cache_size,
        ttl_policy(config),
        config.serve_stale_window,
    ));
    let source = |v6: bool| {
        config
            .outgoing_address
            .iter()
            .find(|a| a.is_ipv6() == v6)
            .copied()
    };
    let upstream = SocketUpstream::new(UpstreamConfig {
        use_0x20: config.use_0x20,
        source_v4: match source(false) {
            Some(IpAddr::V4(a)) => Some(a),
            _ => None,
        },
        source_v6: match source(true) {
            Some(IpAddr::V6(a)) => Some(a),
            _ => None,
        },
    });
    // Root servers the operator put on loopback (a local root, RFC 8806,
    // or a test tree) are configuration, not something a referral slipped
    // in: asking them needs no separate flag.
    let loopback_root = hints
        .servers
        .iter()
        .flat_map(|(_, addrs)| addrs)
        .any(IpAddr::is_loopback);
    if loopback_root && !config.allow_loopback_upstream {
        info!("the root hints name loopback addresses: loopback servers may be asked");
    }
    Resolver::new(
        cache,
        Arc::new(upstream),
        hints,
        Arc::new(SystemClock),
        ResolverConfig {
            policy: AddressPolicy {
                no_ipv4: config.no_ipv4,
                no_ipv6: config.no_ipv6,
                allow_loopback: config.allow_loopback_upstream || loopback_root,
            },
            resolution_timeout: config.resolution_timeout,
            upstream_timeout: config.upstream_timeout,
            failure_ttl: config.failure_cache_ttl,
            prefetch: config.prefetch,
            qname_minimisation: config.qname_minimisation,
        },
    )
}

fn ttl_policy(config: &Config) -> TtlPolicy {
    TtlPolicy::new(
        config.cache_min_ttl,
        config.cache_max_ttl,
        config.cache_max_negative_ttl,
    )
}

impl Runtime {
    /// Re-reads the command line and config file and applies what can
    /// change live. A bad config is refused and nothing changes.
    pub fn reload(&self) -> Result<String, String> {
        let cli = Cli::try_parse_from(&self.args).map_err(|e| {
            e.to_string()
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .to_string()
        })?;
        let new = Config::load(cli)
            .map_err(|e| format!("config refused, still running the old one: {e}"))?;
        let policy = load_policy(&new)
            .map_err(|e| format!("policy refused, still running the old one: {e}"))?;
        // The certificate next: a bad one refuses the whole reload, so the
        // operator sees it and nothing half-changes.
        let mut reloaded_certificate = false;
        if let (Some(certs), Some(cert), Some(key)) =
            (&self.certificates, &new.tls_cert, &new.tls_key)
        {
            if let Err(e) = certs.reload(cert, key) {
                error!("certificate not reloaded, still serving the old one: {e}");
                return Err(format!(
                    "certificate refused, still serving the old one (nothing reloaded): {e}"
                ));
            }
            reloaded_certificate = true;
        }
        (self.set_log_level)(&new.log_level)?;
        self.live
            .store(Arc::new(Live::from_config(&new).with_policy(policy)));
        self.resolver.cache().set_policy(ttl_policy(&new));
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut restart = Vec::new();
        let fixed: [(&str, bool); 9] = [
            ("listen", new.listen != current.listen),
            (
                "tls-listen, https-listen, quic-listen",
                new.tls_listen != current.tls_listen
                    || new.https_listen != current.https_listen
                    || new.quic_listen != current.quic_listen,
            ),
            ("metrics", new.metrics != current.metrics),
            (
                "control-socket",
                new.control_socket != current.control_socket,
            ),
            ("user", new.user != current.user),
            ("root-hints", new.root_hints != current.root_hints),
            (
                "dnssec",
                new.trust_anchor != current.trust_anchor
                    || new.insecure_domain != current.insecure_domain
                    || new.no_dnssec != current.no_dnssec,
            ),
            ("cache-size", new.cache_size != current.cache_size),
            (
                "resolver settings",
                new.qname_minimisation != current.qname_minimisation
                    || new.use_0x20 != current.use_0x20
                    || new.prefetch != current.prefetch
                    || new.resolution_timeout != current.resolution_timeout
                    || new.upstream_timeout != current.upstream_timeout
                    || new.serve_stale_window != current.serve_stale_window
                    || new.failure_cache_ttl != current.failure_cache_ttl
                    || new.outgoing_address != current.outgoing_address
                    || new.no_ipv4 != current.no_ipv4
                    || new.no_ipv6 != current.no_ipv6
                    || new.allow_loopback_upstream != current.allow_loopback_upstream,
            ),
        ];
        for (key, changed) in fixed {
            if changed {
                restart.push(key);
            }
        }
        *current = new;
        let mut text = String::from(
            "reloaded: acl, rate limits, cache TTL floor/cap, log level, query log, local policy (zones, data, lists)",
        );
        if reloaded_certificate {
            text.push_str(", tls certificate");
        }
        text.push('\n');
        if !restart.is_empty() {
            text.push_str(&format!(
                "changed but needing a restart to take effect: {}\n",
                restart.join(", ")
            ));
        }
        info!("{}", text.trim_end().replace('\n', "; "));
        Ok(text)
    }

    /// Values for a metrics scrape.
    pub fn snapshot(&self) -> Snapshot {
        let evictions = self.resolver.cache().evictions();
        let before = self.evictions_reported.swap(evictions, Ordering::Relaxed);
        self.metrics
            .cache_eviction(evictions.saturating_sub(before));
        Snapshot {
            cache_entries: self.resolver.cache().entry_count(),
            server_srtt_seconds: self.resolver.infra().srtt_samples_seconds(),
            dropped_replies: {
                let d = crate::upstream::socket::dropped_replies();
                vec![
                    ("wrong_id", d.wrong_id),
                    ("wrong_question", d.wrong_question),
                    ("wrong_case", d.wrong_case),
                    ("unparsable", d.unparsable),
                ]
            },
        }
    }

    fn stats(&self) -> String {
        let live = self.live.load();
        let (refused, slipped, dropped) = live.limiter.counts();
        let mut out = format!(
            "uptime-seconds: {}\ncache-entries: {}\nrate-limited-queries: {refused}\nrrl-slipped: {slipped}\nrrl-dropped: {dropped}\nacl: {}\n",
            self.started.elapsed().as_secs(),
            self.resolver.cache().entry_count(),
            live.acl.describe(),
        );
        for line in self.metrics.render(&self.snapshot()).lines() {
            // The histogram buckets are for Prometheus, not for people.
            if !line.starts_with('#') && !line.is_empty() && !line.contains("_bucket{") {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// What the local policy does with a question, as text; `None` when no
    /// rule matches.
    fn policy_text(&self, name: &Name, qtype: RecordType) -> Option<String> {
        let live = self.live.load();
        let verdict = live.policy.decide(name, qtype);
        let rule = verdict.rule?;
        let mut text = format!("rule: {}\n", live.policy.describe(name, &rule));
        match &verdict.action {
            Action::Pass => text.push_str("action: resolve normally (allowed)\n"),
            Action::Refuse => text.push_str("action: REFUSED\n"),
            Action::Drop => text.push_str("action: no answer (dropped)\n"),
            Action::Answer(a) => {
                text.push_str(&format!(
                    "action: answer {}{}{}\n",
                    rcode_name(a.rcode),
                    if a.authoritative { ", AA" } else { "" },
                    a.ede
                        .map(|e| format!(", EDE {} ({})", e.code, e.text))
                        .unwrap_or_default()
                ));
                for (section, records) in [("answer", &a.answers), ("authority", &a.authorities)] {
                    for r in records.iter() {
                        text.push_str(&format!(
                            "{section}: {} {} IN {} {}\n",
                            r.name,
                            r.ttl,
                            r.record_type(),
                            r.data
                        ));
                    }
                }
            }
        }
        Some(text)
    }

    async fn trace(&self, name: &str, qtype: &str, json: bool) -> Response {
        let (name, qtype) = match parse_question(name, qtype) {
            Ok(q) => q,
            Err(e) => return Response::error(e),
        };
        // A question the local policy answers is never resolved: say so.
        if let Some(text) = self.policy_text(&name, qtype) {
            let live = self.live.load();
            if live.policy.decide(&name, qtype).action != Action::Pass {
                return Response::ok(if json {
                    serde_json::json!({ "policy": text }).to_string()
                } else {
                    format!(";; decided by the local policy, not resolved\n{text}")
                });
            }
        }
        let (res, trace) = self.resolver.trace(&name, qtype).await;
        let body = if json {
            trace.to_json()
        } else {
            let mut text = trace.to_text();
            text.push_str(&format!("\n;; {} {name} {qtype}\n", rcode_name(res.rcode)));
            for r in res.answers.iter().chain(res.authorities.iter()) {
                text.push_str(&format!(
                    "{} {} IN {} {}\n",
                    r.name,
                    r.ttl,
                    r.record_type(),
                    r.data
                ));
            }
            text
        };
        Response::ok(body)
    }
}

/// A question from an operator: a name and a record type.
fn parse_question(name: &str, qtype: &str) -> Result<(Name, RecordType), String> {
    let name = parse_name(name)?;
    let qtype = RecordType::from_str(&qtype.to_ascii_uppercase())
        .map_err(|_| format!("unknown record type '{qtype}'"))?;
    Ok((name, qtype))
}

/// A name from an operator: FQDN with or without the final dot.
fn parse_name(text: &str) -> Result<Name, String> {
    let fqdn = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    Name::from_ascii(&fqdn).map_err(|e| format!("not a domain name: '{text}' ({e})"))
}

impl control::Handler for Runtime {
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + '_>> {
        Box::pin(async move {
            match request {
                Request::Stats => Response::ok(self.stats()),
                Request::Flush(name) | Request::FlushZone(name) if parse_name(&name).is_err() => {
                    Response::error(parse_name(&name).err().unwrap_or_default())
                }
                Request::Flush(name) => {
                    let n = parse_name(&name).unwrap_or_else(|_| Name::root());
                    let removed = self.resolver.flush(&n, false);
                    Response::ok(format!("flushed {removed} entries for {n}\n"))
                }
                Request::FlushZone(name) => {
                    let n = parse_name(&name).unwrap_or_else(|_| Name::root());
                    let removed = self.resolver.flush(&n, true);
                    Response::ok(format!("flushed {removed} entries at or below {n}\n"))
                }
                Request::FlushAll => {
                    self.resolver.flush_all();
                    Response::ok("flushed the whole cache\n".to_string())
                }
                Request::DumpCache => {
                    Response::ok(self.resolver.cache().dump(self.resolver.clock().now()))
                }
                Request::Reload => match self.reload() {
                    Ok(text) => Response::ok(text),
                    Err(e) => Response::error(e),
                },
                Request::Trace { name, qtype, json } => self.trace(&name, &qtype, json).await,
                Request::Policy { name, qtype } => match parse_question(&name, &qtype) {
                    Ok((name, qtype)) => {
                        Response::ok(self.policy_text(&name, qtype).unwrap_or_else(|| {
                            format!("{name} {qtype}: no local rule; resolved normally\n")
                        }))
                    }
                    Err(e) => Response::error(e),
                },
            }
        })
    }
}

/// The trust anchors of `files`, merged (one file per anchored domain is
/// common, as Unbound's repeated `trust-anchor-file`); the built-in root
/// anchor when there are none. Records a file holds but that cannot anchor
/// anything (a DS digest of the wrong length) are logged and left out.
fn load_anchors(files: &[std::path::PathBuf]) -> Result<TrustAnchors, String> {
    if files.is_empty() {
        return Ok(TrustAnchors::builtin());
    }
    let mut anchors = TrustAnchors::default();
    for path in files {
        let (read, skipped) = TrustAnchors::from_file_lenient(path)
            .map_err(|e| format!("trust-anchor {}: {e}", path.display()))?;
        for e in skipped {
            warn!(file = %path.display(), line = e.line, "trust anchor ignored: {}", e.message);
        }
        anchors.merge(read);
    }
    Ok(anchors)
}
