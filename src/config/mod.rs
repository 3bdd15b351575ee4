//! Configuration: command-line flags and a TOML file, merged.
//!
//! Every option has one name, used both as the flag (`--cache-min-ttl`) and as
//! the file's key (`cache-min-ttl = "30s"`). Precedence: flag, then file, then
//! the built-in default. A bad value is reported as one line naming the key
//! and the value ([`ConfigError`]); nothing is silently ignored (unknown file
//! keys are errors too).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::IpNet;

use crate::policy::{self, BlockAction, PolicyConfig};

mod cli;
mod values;

pub use cli::{Cli, Command, CtlAction, CtlArgs};
use serde::Deserialize;
pub use values::{
    DenyAction, QnameMinimisation, QueryLog, parse_cidr, parse_duration, parse_listen,
    parse_listen_on,
};
use values::{OneOrMany, duration_from_toml, parse_domain, parse_log_level, parse_on_off};

/// The port a DNS server listens on when `--listen` names only an address.
pub const DNS_PORT: u16 = 53;
/// DNS over TLS's port (RFC 7858 §3.1), for a bare `--tls-listen` address.
pub const DOT_PORT: u16 = 853;
/// HTTPS's port, for a bare `--https-listen` address.
pub const DOH_PORT: u16 = 443;
/// DNS over QUIC's port (RFC 9250 §4.1.1), for a bare `--quic-listen`
/// address.
pub const DOQ_PORT: u16 = 853;

/// Default TTL floor: 0, the authority's TTL is honoured as Unbound and BIND
/// do by default. A floor hides changes a zone's owner made on purpose (a
/// low TTL before a migration); operators who want fewer upstream queries can
/// raise it.
pub const DEFAULT_CACHE_MIN_TTL: Duration = Duration::ZERO;
/// Default TTL cap: one day, Unbound's `cache-max-ttl` default (86400).
pub const DEFAULT_CACHE_MAX_TTL: Duration = Duration::from_secs(86_400);
/// Default negative TTL cap: one hour, Unbound's `cache-max-negative-ttl`
/// default (3600); RFC 2308 §5 suggests 1–3 hours at most.
pub const DEFAULT_CACHE_MAX_NEGATIVE_TTL: Duration = Duration::from_secs(3_600);
/// Default number of cached entries (RRsets, answers, negative answers).
pub const DEFAULT_CACHE_SIZE: u64 = 200_000;
/// Default cap on simultaneous stub TCP connections (Unbound's
/// `incoming-num-tcp` is 10 per thread; a small server wants more).
pub const DEFAULT_MAX_TCP_CONNECTIONS: usize = 256;
/// Default idle time before a stub TCP connection is closed (RFC 7766 §6.2.3
/// recommends a timeout of the order of seconds; Unbound uses 30 s).
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default total time for one client question before SERVFAIL: a little under
/// dig's and glibc's 5 s retry interval, so the client sees SERVFAIL rather
/// than a timeout.
pub const DEFAULT_RESOLUTION_TIMEOUT: Duration = Duration::from_secs(4);
/// Default time one upstream query waits for its reply before the walker
/// moves to the next server.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Default stale window (RFC 8767 §5 suggests 1–3 days; Unbound's
/// `serve-expired-ttl` is 1 day when enabled): how long past expiry an entry
/// may still be served when every authority has failed.
pub const DEFAULT_SERVE_STALE_WINDOW: Duration = Duration::from_secs(86_400);
/// Default time a failed resolution is remembered (RFC 9520 §3.2 asks for at
/// least 1 s; Unbound keeps 5 s, BIND 1 s).
pub const DEFAULT_FAILURE_CACHE_TTL: Duration = Duration::from_secs(5);

/// Default path of the control socket.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/rootward/control.sock";
/// Default per-prefix query rate (queries/s): well above what a house or an
/// office behind one address sends, far below a flood.
pub const DEFAULT_RATE_LIMIT: u32 = 1_000;
/// Default per-prefix UDP response rate (responses/s) for response-rate
/// limiting.
pub const DEFAULT_RESPONSE_RATE_LIMIT: u32 = 500;

/// Most worker threads accepted: far above any core count this runs on,
/// low enough that a typo cannot open thousands of sockets.
pub const MAX_THREADS: usize = 256;

/// One worker per CPU core (1 if the count is unknown).
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A configuration error: always names the option and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or is out of range.
    #[error("invalid value for {key}: '{value}': {reason}")]
    Invalid {
        /// The option's name.
        key: String,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The config file is not valid TOML or has an unknown key.
    #[error("config file {path}: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, on one line.
        reason: String,
    },
}

/// The config file: the same names as the flags, as TOML keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<Vec<String>>,
    tls_listen: Option<Vec<String>>,
    https_listen: Option<Vec<String>>,
    quic_listen: Option<Vec<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    root_hints: Option<PathBuf>,
    trust_anchor: Option<OneOrMany<PathBuf>>,
    insecure_domain: Option<OneOrMany<String>>,
    no_dnssec: Option<bool>,
    cache_min_ttl: Option<toml::Value>,
    cache_max_ttl: Option<toml::Value>,
    cache_max_negative_ttl: Option<toml::Value>,
    cache_size: Option<u64>,
    outgoing_address: Option<Vec<String>>,
    no_ipv4: Option<bool>,
    no_ipv6: Option<bool>,
    allow_loopback_upstream: Option<bool>,
    max_tcp_connections: Option<usize>,
    tcp_idle_timeout: Option<toml::Value>,
    resolution_timeout: Option<toml::Value>,
    upstream_timeout: Option<toml::Value>,
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    deny_action: Option<String>,
    rate_limit: Option<u32>,
    response_rate_limit: Option<u32>,
    rate_limit_loopback: Option<toml::Value>,
    metrics: Option<String>,
    control_socket: Option<String>,
    query_log: Option<String>,
    user: Option<String>,
    threads: Option<usize>,
    qname_minimisation: Option<String>,
    #[serde(rename = "use-0x20")]
    use_0x20: Option<toml::Value>,
    serve_stale_window: Option<toml::Value>,
    prefetch: Option<toml::Value>,
    failure_cache_ttl: Option<toml::Value>,
    log_level: Option<String>,
    local_zone: Option<Vec<String>>,
    local_data: Option<Vec<String>>,
    hosts_file: Option<Vec<PathBuf>>,
    blocklist: Option<Vec<PathBuf>>,
    allowlist: Option<Vec<PathBuf>>,
    blocklist_action: Option<String>,
}

/// The effective configuration after merging flags, file and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Stub-facing listen addresses.
    pub listen: Vec<SocketAddr>,
    /// DNS over TLS listen addresses.
    pub tls_listen: Vec<SocketAddr>,
    /// DNS over HTTPS listen addresses.
    pub https_listen: Vec<SocketAddr>,
    /// DNS over QUIC listen addresses.
    pub quic_listen: Vec<SocketAddr>,
    /// Certificate chain (PEM) of the encrypted listeners.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the encrypted listeners.
    pub tls_key: Option<PathBuf>,
    /// Root hints file; `None` means the built-in hints.
    pub root_hints: Option<PathBuf>,
    /// Trust anchor files, merged; none means the built-in root anchor.
    pub trust_anchor: Vec<PathBuf>,
    /// Negative trust anchors (RFC 7646): not validated at or below.
    pub insecure_domain: Vec<Name>,
    /// DNSSEC validation off.
    pub no_dnssec: bool,
    /// TTL floor applied when storing.
    pub cache_min_ttl: Duration,
    /// TTL cap applied when storing.
    pub cache_max_ttl: Duration,
    /// Cap on negative TTLs.
    pub cache_max_negative_ttl: Duration,
    /// Maximum cache entries.
    pub cache_size: u64,
    /// Upstream source addresses, at most one per family.
    pub outgoing_address: Vec<IpAddr>,
    /// Never query IPv4 servers.
    pub no_ipv4: bool,
    /// Never query IPv6 servers.
    pub no_ipv6: bool,
    /// Allow loopback/unspecified/link-local upstream servers.
    pub allow_loopback_upstream: bool,
    /// Cap on stub TCP connections.
    pub max_tcp_connections: usize,
    /// Stub TCP idle timeout.
    pub tcp_idle_timeout: Duration,
    /// Total time per client question.
    pub resolution_timeout: Duration,
    /// Longest wait for one upstream reply (the cap on the RTT-based
    /// timeout).
    pub upstream_timeout: Duration,
    /// QNAME minimisation mode.
    pub qname_minimisation: QnameMinimisation,
    /// 0x20 case randomisation of upstream names.
    pub use_0x20: bool,
    /// Serve-stale window; zero disables serve-stale.
    pub serve_stale_window: Duration,
    /// Prefetch of entries near expiry.
    pub prefetch: bool,
    /// Failure cache TTL; zero disables it.
    pub failure_cache_ttl: Duration,
    /// Clients allowed (empty: loopback only).
    pub allow: Vec<IpNet>,
    /// Clients denied.
    pub deny: Vec<IpNet>,
    /// What denied clients get.
    pub deny_action: DenyAction,
    /// Queries/s per client prefix; 0 is off.
    pub rate_limit: u32,
    /// UDP responses/s per client prefix; 0 is off.
    pub response_rate_limit: u32,
    /// Rate-limit loopback clients too.
    pub rate_limit_loopback: bool,
    /// Prometheus endpoint address.
    pub metrics: Option<SocketAddr>,
    /// Control socket path; `None` is off.
    pub control_socket: Option<PathBuf>,
    /// Query log destination.
    pub query_log: QueryLog,
    /// User to switch to after binding.
    pub user: Option<String>,
    /// Worker threads (and UDP sockets per listen address).
    pub threads: usize,
    /// Log level name.
    pub log_level: String,
    /// Local zones and data, hosts files, block- and allowlists.
    pub policy: PolicyConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DNS_PORT),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), DNS_PORT),
            ],
            tls_listen: Vec::new(),
            https_listen: Vec::new(),
            quic_listen: Vec::new(),
            tls_cert: None,
            tls_key: None,
            root_hints: None,
            trust_anchor: Vec::new(),
            insecure_domain: Vec::new(),
            no_dnssec: false,
            cache_min_ttl: DEFAULT_CACHE_MIN_TTL,
            cache_max_ttl: DEFAULT_CACHE_MAX_TTL,
            cache_max_negative_ttl: DEFAULT_CACHE_MAX_NEGATIVE_TTL,
            cache_size: DEFAULT_CACHE_SIZE,
            outgoing_address: Vec::new(),
            no_ipv4: false,
            no_ipv6: false,
            allow_loopback_upstream: false,
            max_tcp_connections: DEFAULT_MAX_TCP_CONNECTIONS,
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            resolution_timeout: DEFAULT_RESOLUTION_TIMEOUT,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            qname_minimisation: QnameMinimisation::default(),
            use_0x20: true,
            serve_stale_window: DEFAULT_SERVE_STALE_WINDOW,
            prefetch: true,
            failure_cache_ttl: DEFAULT_FAILURE_CACHE_TTL,
            allow: Vec::new(),
            deny: Vec::new(),
            deny_action: DenyAction::default(),
            rate_limit: DEFAULT_RATE_LIMIT,
            response_rate_limit: DEFAULT_RESPONSE_RATE_LIMIT,
            rate_limit_loopback: false,
            metrics: None,
            control_socket: Some(PathBuf::from(DEFAULT_CONTROL_SOCKET)),
            query_log: QueryLog::Off,
            user: None,
            threads: default_threads(),
            log_level: "info".to_string(),
            policy: PolicyConfig::default(),
        }
    }
}

impl Config {
    /// Merges the command line with the config file it names (if any) and
    /// the defaults, then checks the result.
    pub fn load(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    /// Parses a config file's text on its own (flags absent).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::merge(Cli::default(), parse_file(text, path)?)
    }

    fn merge(cli: Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let d = Config::default();
        let listen = if !cli.listen.is_empty() {
            cli.listen
        } else if let Some(list) = file.listen {
            list.iter()
                .map(|s| parse_listen(s).map_err(|r| invalid("listen", s, r)))
                .collect::<Result<_, _>>()?
        } else {
            d.listen
        };
        let listen_list = |flags: Vec<SocketAddr>, file: Option<Vec<String>>, key, port| {
            if !flags.is_empty() {
                return Ok(flags);
            }
            file.unwrap_or_default()
                .iter()
                .map(|s| parse_listen_on(s, port).map_err(|r| invalid(key, s, r)))
                .collect::<Result<Vec<_>, _>>()
        };
        let tls_listen = listen_list(cli.tls_listen, file.tls_listen, "tls-listen", DOT_PORT)?;
        let https_listen = listen_list(
            cli.https_listen,
            file.https_listen,
            "https-listen",
            DOH_PORT,
        )?;
        let quic_listen = listen_list(cli.quic_listen, file.quic_listen, "quic-listen", DOQ_PORT)?;
        let outgoing_address = if !cli.outgoing_address.is_empty() {
            cli.outgoing_address
        } else if let Some(list) = file.outgoing_address {
            list.iter()
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map_err(|e| invalid("outgoing-address", s, e.to_string()))
                })
                .collect::<Result<_, _>>()?
        } else {
            d.outgoing_address
        };
        let duration = |flag: Option<Duration>, value: Option<toml::Value>, key, default| match (
            flag, value,
        ) {
            (Some(v), _) => Ok(v),
            (None, Some(v)) => duration_from_toml(key, &v),
            (None, None) => Ok(default),
        };
        let on_off =
            |flag: Option<bool>, value: Option<toml::Value>, key, default| match (flag, value) {
                (Some(v), _) => Ok(v),
                (None, Some(toml::Value::Boolean(b))) => Ok(b),
                (None, Some(toml::Value::String(s))) => {
                    parse_on_off(&s).map_err(|r| invalid(key, &s, r))
                }
                (None, Some(other)) => Err(invalid(
                    key,
                    &other.to_string(),
                    "expected on or off".into(),
                )),
                (None, None) => Ok(default),
            };
        let qname_minimisation = match (cli.qname_minimisation, file.qname_minimisation) {
            (Some(m), _) => m,
            (None, Some(s)) => s
                .parse()
                .map_err(|r| invalid("qname-minimisation", &s, r))?,
            (None, None) => d.qname_minimisation,
        };
        let log_level = match (cli.log_level, file.log_level) {
            (Some(l), _) => l,
            (None, Some(l)) => parse_log_level(&l).map_err(|r| invalid("log-level", &l, r))?,
            (None, None) => d.log_level,
        };
        let insecure_domain = if cli.insecure_domain.is_empty() {
            let names = file.insecure_domain.map(OneOrMany::into_vec);
            names
                .unwrap_or_default()
                .iter()
                .map(|n| parse_domain(n).map_err(|r| invalid("insecure-domain", n, r)))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            cli.insecure_domain
        };
        let config = Config {
            listen,
            tls_listen,
            https_listen,
            quic_listen,
            tls_cert: cli.tls_cert.or(file.tls_cert),
            tls_key: cli.tls_key.or(file.tls_key),
            root_hints: cli.root_hints.or(file.root_hints),
            trust_anchor: if cli.trust_anchor.is_empty() {
                file.trust_anchor
                    .map(OneOrMany::into_vec)
                    .unwrap_or_default()
            } else {
                cli.trust_anchor
            },
            insecure_domain,
            no_dnssec: cli.no_dnssec || file.no_dnssec.unwrap_or(false),
            cache_min_ttl: duration(
                cli.cache_min_ttl,
                file.cache_min_ttl,
                "cache-min-ttl",
                d.cache_min_ttl,
            )?,
            cache_max_ttl: duration(
                cli.cache_max_ttl,
                file.cache_max_ttl,
                "cache-max-ttl",
                d.cache_max_ttl,
            )?,
            cache_max_negative_ttl: duration(
                cli.cache_max_negative_ttl,
                file.cache_max_negative_ttl,
                "cache-max-negative-ttl",
                d.cache_max_negative_ttl,
            )?,
            cache_size: cli.cache_size.or(file.cache_size).unwrap_or(d.cache_size),
            outgoing_address,
            no_ipv4: cli.no_ipv4 || file.no_ipv4.unwrap_or(false),
            no_ipv6: cli.no_ipv6 || file.no_ipv6.unwrap_or(false),
            allow_loopback_upstream: cli.allow_loopback_upstream
                || file.allow_loopback_upstream.unwrap_or(false),
            max_tcp_connections: cli
                .max_tcp_connections
                .or(file.max_tcp_connections)
                .unwrap_or(d.max_tcp_connections),
            tcp_idle_timeout: duration(
                cli.tcp_idle_timeout,
                file.tcp_idle_timeout,
                "tcp-idle-timeout",
                d.tcp_idle_timeout,
            )?,
            resolution_timeout: duration(
                cli.resolution_timeout,
                file.resolution_timeout,
                "resolution-timeout",
                d.resolution_timeout,
            )?,
            upstream_timeout: duration(
                cli.upstream_timeout,
                file.upstream_timeout,
                "upstream-timeout",
                d.upstream_timeout,
            )?,
            qname_minimisation,
            use_0x20: on_off(cli.use_0x20, file.use_0x20, "use-0x20", d.use_0x20)?,
            serve_stale_window: duration(
                cli.serve_stale_window,
                file.serve_stale_window,
                "serve-stale-window",
                d.serve_stale_window,
            )?,
            prefetch: on_off(cli.prefetch, file.prefetch, "prefetch", d.prefetch)?,
            failure_cache_ttl: duration(
                cli.failure_cache_ttl,
                file.failure_cache_ttl,
                "failure-cache-ttl",
                d.failure_cache_ttl,
            )?,
            allow: cidrs(cli.allow, file.allow, "allow")?,
            deny: cidrs(cli.deny, file.deny, "deny")?,
            deny_action: match (cli.deny_action, file.deny_action) {
                (Some(a), _) => a,
                (None, Some(s)) => s.parse().map_err(|r| invalid("deny-action", &s, r))?,
                (None, None) => d.deny_action,
            },
            rate_limit: cli.rate_limit.or(file.rate_limit).unwrap_or(d.rate_limit),
            response_rate_limit: cli
                .response_rate_limit
                .or(file.response_rate_limit)
                .unwrap_or(d.response_rate_limit),
            rate_limit_loopback: on_off(
                cli.rate_limit_loopback,
                file.rate_limit_loopback,
                "rate-limit-loopback",
                d.rate_limit_loopback,
            )?,
            metrics: match (cli.metrics, file.metrics) {
                (Some(a), _) => Some(a),
                (None, Some(s)) => Some(parse_listen(&s).map_err(|r| invalid("metrics", &s, r))?),
                (None, None) => None,
            },
            control_socket: match cli.control_socket.or(file.control_socket) {
                Some(s) if s == "off" || s.is_empty() => None,
                Some(s) => Some(PathBuf::from(s)),
                None => d.control_socket,
            },
            query_log: cli
                .query_log
                .or(file.query_log)
                .map(|s| QueryLog::parse(&s))
                .unwrap_or_default(),
            user: cli.user.or(file.user),
            threads: cli.threads.or(file.threads).unwrap_or(d.threads),
            log_level,
            policy: PolicyConfig {
                local_zone: list_or(cli.local_zone, file.local_zone),
                local_data: list_or(cli.local_data, file.local_data),
                hosts_file: list_or(cli.hosts_file, file.hosts_file),
                blocklist: list_or(cli.blocklist, file.blocklist),
                allowlist: list_or(cli.allowlist, file.allowlist),
                blocklist_action: match (cli.blocklist_action, file.blocklist_action) {
                    (Some(a), _) => a,
                    (None, Some(s)) => s.parse().map_err(|r| invalid("blocklist-action", &s, r))?,
                    (None, None) => BlockAction::default(),
                },
            },
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.cache_min_ttl > self.cache_max_ttl {
            return Err(invalid(
                "cache-min-ttl",
                &humantime::format_duration(self.cache_min_ttl).to_string(),
                format!(
                    "above cache-max-ttl ({})",
                    humantime::format_duration(self.cache_max_ttl)
                ),
            ));
        }
        for (key, addrs) in [
            ("tls-listen", &self.tls_listen),
            ("https-listen", &self.https_listen),
            ("quic-listen", &self.quic_listen),
        ] {
            if let Some(addr) = addrs.first()
                && (self.tls_cert.is_none() || self.tls_key.is_none())
            {
                return Err(invalid(
                    key,
                    &addr.to_string(),
                    "needs a certificate: set tls-cert and tls-key (PEM files)".into(),
                ));
            }
        }
        if self.cache_size == 0 {
            return Err(invalid("cache-size", "0", "must be at least 1".into()));
        }
        if self.max_tcp_connections == 0 {
            return Err(invalid(
                "max-tcp-connections",
                "0",
                "must be at least 1".into(),
            ));
        }
        for (key, value) in [
            ("upstream-timeout", self.upstream_timeout),
            ("resolution-timeout", self.resolution_timeout),
            ("tcp-idle-timeout", self.tcp_idle_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "0s", "must be above zero".into()));
            }
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(invalid(
                "threads",
                &self.threads.to_string(),
                format!("must be between 1 and {MAX_THREADS}"),
            ));
        }
        if self.no_ipv4 && self.no_ipv6 {
            return Err(invalid(
                "no-ipv6",
                "true",
                "no-ipv4 is set too: no upstream server could be queried".into(),
            ));
        }
        self.validate_policy()?;
        let v4 = self.outgoing_address.iter().filter(|a| a.is_ipv4()).count();
        let v6 = self.outgoing_address.len() - v4;
        if v4 > 1 || v6 > 1 {
            let list: Vec<String> = self
                .outgoing_address
                .iter()
                .map(|a| a.to_string())
                .collect();
            return Err(invalid(
                "outgoing-address",
                &list.join(","),
                "at most one address per family".into(),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Local zones and data parse; list and hosts files exist (their lines
    /// are checked when loaded: a bad line is skipped, never fatal).
    fn validate_policy(&self) -> Result<(), ConfigError> {
        let p = &self.policy;
        for value in &p.local_zone {
            policy::zones::parse_local_zone(value).map_err(|r| invalid("local-zone", value, r))?;
        }
        for value in &p.local_data {
            policy::zones::parse_local_data(value).map_err(|r| invalid("local-data", value, r))?;
        }
        for (key, paths) in [
            ("hosts-file", &p.hosts_file),
            ("blocklist", &p.blocklist),
            ("allowlist", &p.allowlist),
        ] {
            for path in paths {
                if let Err(e) = std::fs::metadata(path) {
                    return Err(invalid(key, &path.display().to_string(), e.to_string()));
                }
            }
        }
        Ok(())
    }
}

/// A repeatable option: the flags if given, else the file's.
fn list_or<T>(flags: Vec<T>, file: Option<Vec<T>>) -> Vec<T> {
    if flags.is_empty() {
        file.unwrap_or_default()
    } else {
        flags
    }
}

/// CIDR lists: the flags if given, else the file's.
fn cidrs(
    flags: Vec<IpNet>,
    file: Option<Vec<String>>,
    key: &str,
) -> Result<Vec<IpNet>, ConfigError> {
    if !flags.is_empty() {
        return Ok(flags);
    }
    file.unwrap_or_default()
        .iter()
        .map(|s| parse_cidr(s).map_err(|r| invalid(key, s, r)))
        .collect()
}

/// Parses a CIDR prefix; a bare address is a host prefix (/32, /128).
pub(crate) fn invalid(key: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse_file(&text, path)
}

fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        reason: one_line(&e.to_string()),
    })
}

/// Folds a multi-line parser message onto one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.starts_with('^'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `ADDR:PORT`, `[V6]:PORT`, or a bare address (port 53).
#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_override_file_and_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("rootward-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.toml");
        std::fs::write(
            &path,
            "cache-min-ttl = \"30s\"\ncache-max-ttl = 600\nlisten = [\"127.0.0.9\"]\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "rootward",
            "--config",
            path.to_str().unwrap(),
            "--cache-max-ttl",
            "2h",
        ])
        .unwrap();
        let c = Config::load(cli).unwrap();
        assert_eq!(c.cache_min_ttl, Duration::from_secs(30));
        assert_eq!(c.cache_max_ttl, Duration::from_secs(7200));
        assert_eq!(c.listen, vec!["127.0.0.9:53".parse().unwrap()]);
        assert_eq!(c.cache_max_negative_ttl, DEFAULT_CACHE_MAX_NEGATIVE_TTL);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_file_value_names_key_and_value() {
        let err = Config::from_toml("cache-min-ttl = \"5 parsecs\"", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cache-min-ttl"), "{err}");
        assert!(err.contains("5 parsecs"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error_on_one_line() {
        let err = Config::from_toml("cache-sise = 5", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cache-sise"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn min_above_max_is_refused() {
        let err = Config::from_toml(
            "cache-min-ttl = \"2h\"\ncache-max-ttl = \"1h\"",
            Path::new("x.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("cache-min-ttl") && err.contains("2h"), "{err}");
    }

    #[test]
    fn resilience_options_parse_from_flags_and_file() {
        let c = Config::from_toml(
            "qname-minimisation = \"strict\"\nuse-0x20 = \"off\"\nprefetch = false\nserve-stale-window = \"2h\"\nfailure-cache-ttl = 1",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(c.qname_minimisation, QnameMinimisation::Strict);
        assert!(!c.use_0x20 && !c.prefetch);
        assert_eq!(c.serve_stale_window, Duration::from_secs(7200));
        assert_eq!(c.failure_cache_ttl, Duration::from_secs(1));
        let cli = Cli::try_parse_from([
            "rootward",
            "--use-0x20",
            "on",
            "--qname-minimisation",
            "off",
        ])
        .unwrap();
        let c = Config::load(cli).unwrap();
        assert!(c.use_0x20);
        assert_eq!(c.qname_minimisation, QnameMinimisation::Off);
        let err = Config::from_toml("use-0x20 = \"maybe\"", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("use-0x20") && err.contains("maybe"), "{err}");
    }

    #[test]
    fn encrypted_listeners_take_their_ports_and_need_a_certificate() {
        let c = Config::from_toml(
            "tls-listen = [\"127.0.0.1\"]\nhttps-listen = [\"::1\"]\nquic-listen = [\"127.0.0.1:8853\"]\ntls-cert = \"c.pem\"\ntls-key = \"k.pem\"",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(c.tls_listen, vec!["127.0.0.1:853".parse().unwrap()]);
        assert_eq!(c.https_listen, vec!["[::1]:443".parse().unwrap()]);
        assert_eq!(c.quic_listen, vec!["127.0.0.1:8853".parse().unwrap()]);
        let err = Config::from_toml("https-listen = [\"127.0.0.1\"]", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("https-listen")
                && err.contains("127.0.0.1:443")
                && err.contains("tls-cert"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        let cli = Cli::try_parse_from(["rootward", "--tls-listen", "127.0.0.1", "--tls-cert", "c"])
            .unwrap();
        let err = Config::load(cli).unwrap_err().to_string();
        assert!(
            err.contains("tls-listen") && err.contains("tls-key"),
            "{err}"
        );
        let err = Config::from_toml("tls-listen = [\"nowhere\"]", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tls-listen") && err.contains("nowhere"),
            "{err}"
        );
    }

    #[test]
    fn listen_accepts_bare_and_bracketed_addresses() {
        assert_eq!(parse_listen("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(
            parse_listen("[::1]:5300").unwrap(),
            "[::1]:5300".parse().unwrap()
        );
        assert!(parse_listen("localhost:53").is_err());
    }
}
