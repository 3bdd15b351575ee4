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

use clap::Parser;
use serde::Deserialize;

/// The port a DNS server listens on when `--listen` names only an address.
pub const DNS_PORT: u16 = 53;

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

/// QNAME minimisation mode (RFC 9156).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QnameMinimisation {
    /// Minimise; if a server answers NXDOMAIN for an intermediate name
    /// (a broken authority, RFC 9156 §2.3), ask for the full name instead.
    #[default]
    Relaxed,
    /// Minimise and trust NXDOMAIN for intermediate names (RFC 8020).
    Strict,
    /// Send the full name to every server.
    Off,
}

impl std::str::FromStr for QnameMinimisation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "relaxed" => Ok(Self::Relaxed),
            "strict" => Ok(Self::Strict),
            "off" => Ok(Self::Off),
            _ => Err("expected relaxed, strict or off".to_string()),
        }
    }
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

/// The command line. Every option is optional here so that the file and the
/// defaults can fill the gaps.
#[derive(Debug, Default, Parser)]
#[command(
    name = "rootward",
    version,
    about = "A caching recursive DNS resolver",
    long_about = "A caching recursive DNS resolver. With no flags it listens on \
                  127.0.0.1:53 and [::1]:53 and resolves from the root servers."
)]
pub struct Cli {
    /// Address to answer on, UDP and TCP (repeatable). A bare address means
    /// port 53. [default: 127.0.0.1:53 and [::1]:53]
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    pub listen: Vec<SocketAddr>,
    /// Root hints file (zone-file format, like IANA's named.root).
    /// [default: the built-in copy of root.hints]
    #[arg(long, value_name = "FILE")]
    pub root_hints: Option<PathBuf>,
    /// TOML config file; its keys are these options' names.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Lowest TTL stored in the cache (e.g. 0s, 30s). [default: 0s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub cache_min_ttl: Option<Duration>,
    /// Highest TTL stored in the cache. [default: 1day]
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub cache_max_ttl: Option<Duration>,
    /// Highest TTL of a cached NXDOMAIN or NODATA (RFC 2308). [default: 1h]
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub cache_max_negative_ttl: Option<Duration>,
    /// Maximum number of cache entries. [default: 200000]
    #[arg(long, value_name = "N")]
    pub cache_size: Option<u64>,
    /// Source address of upstream queries (repeatable, at most one per
    /// family). [default: any]
    #[arg(long, value_name = "ADDR")]
    pub outgoing_address: Vec<IpAddr>,
    /// Never send queries to IPv4 servers.
    #[arg(long)]
    pub no_ipv4: bool,
    /// Never send queries to IPv6 servers.
    #[arg(long)]
    pub no_ipv6: bool,
    /// Allow upstream queries to loopback addresses (for test trees on
    /// 127.0.0.0/8). Off by default, like Unbound's do-not-query-localhost.
    #[arg(long)]
    pub allow_loopback_upstream: bool,
    /// Maximum simultaneous stub TCP connections. [default: 256]
    #[arg(long, value_name = "N")]
    pub max_tcp_connections: Option<usize>,
    /// Idle time before a stub TCP connection is closed. [default: 10s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub tcp_idle_timeout: Option<Duration>,
    /// Total time spent on one question before answering SERVFAIL.
    /// [default: 4s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub resolution_timeout: Option<Duration>,
    /// Time one upstream query waits for a reply. [default: 1s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub upstream_timeout: Option<Duration>,
    /// QNAME minimisation (RFC 9156): relaxed, strict or off.
    /// [default: relaxed]
    #[arg(long, value_name = "MODE")]
    pub qname_minimisation: Option<QnameMinimisation>,
    /// Randomise the case of upstream query names (0x20): on or off.
    /// [default: on]
    #[arg(long = "use-0x20", value_name = "on|off", value_parser = parse_on_off)]
    pub use_0x20: Option<bool>,
    /// How long past expiry an answer may be served when every authority
    /// fails (RFC 8767); 0s turns serve-stale off. [default: 1day]
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub serve_stale_window: Option<Duration>,
    /// Refresh popular entries in the last 10% of their TTL: on or off.
    /// [default: on]
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub prefetch: Option<bool>,
    /// How long a failed resolution is remembered (RFC 9520); 0s turns it
    /// off. [default: 5s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration_arg)]
    pub failure_cache_ttl: Option<Duration>,
    /// Log level: error, warn, info, debug or trace. [default: info]
    #[arg(long, value_name = "LEVEL", value_parser = parse_log_level)]
    pub log_level: Option<String>,
}

/// The config file: the same names as the flags, as TOML keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<Vec<String>>,
    root_hints: Option<PathBuf>,
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
    qname_minimisation: Option<String>,
    #[serde(rename = "use-0x20")]
    use_0x20: Option<toml::Value>,
    serve_stale_window: Option<toml::Value>,
    prefetch: Option<toml::Value>,
    failure_cache_ttl: Option<toml::Value>,
    log_level: Option<String>,
}

/// The effective configuration after merging flags, file and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Stub-facing listen addresses.
    pub listen: Vec<SocketAddr>,
    /// Root hints file; `None` means the built-in hints.
    pub root_hints: Option<PathBuf>,
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
    /// Log level name.
    pub log_level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DNS_PORT),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), DNS_PORT),
            ],
            root_hints: None,
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
            log_level: "info".to_string(),
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
        let config = Config {
            listen,
            root_hints: cli.root_hints.or(file.root_hints),
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
            log_level,
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
        if self.no_ipv4 && self.no_ipv6 {
            return Err(invalid(
                "no-ipv6",
                "true",
                "no-ipv4 is set too: no upstream server could be queried".into(),
            ));
        }
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

fn invalid(key: &str, value: &str, reason: String) -> ConfigError {
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
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .map_err(|_| "expected ADDR:PORT, [IPv6]:PORT or an address".to_string())
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

/// Parses a humantime duration ("30s", "1h 30m", "1day") or a bare number of
/// seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 30s, 5m, 1h, 1day)"))
}

fn duration_from_toml(key: &str, value: &toml::Value) -> Result<Duration, ConfigError> {
    match value {
        toml::Value::String(s) => parse_duration(s).map_err(|r| invalid(key, s, r)),
        toml::Value::Integer(i) if *i >= 0 => Ok(Duration::from_secs(*i as u64)),
        other => Err(invalid(
            key,
            &other.to_string(),
            "expected a duration such as \"30s\" or a number of seconds".into(),
        )),
    }
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => Err("expected on or off".to_string()),
    }
}

fn parse_log_level(s: &str) -> Result<String, String> {
    match s.to_ascii_lowercase().as_str() {
        l @ ("error" | "warn" | "info" | "debug" | "trace" | "off") => Ok(l.to_string()),
        _ => Err("expected error, warn, info, debug, trace or off".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn listen_accepts_bare_and_bracketed_addresses() {
        assert_eq!(parse_listen("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(
            parse_listen("[::1]:5300").unwrap(),
            "[::1]:5300".parse().unwrap()
        );
        assert!(parse_listen("localhost:53").is_err());
    }
}
