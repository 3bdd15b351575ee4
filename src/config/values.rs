//! Option values: their types and parsers, shared by flags and the file.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::{ConfigError, DNS_PORT, invalid};

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

pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| "expected a CIDR prefix such as 192.168.1.0/24 or 2001:db8::/48".to_string())
}

pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    parse_listen_on(s, DNS_PORT)
}

/// Parses `ADDR:PORT`, `[V6]:PORT`, or a bare address (port `port`).
pub fn parse_listen_on(s: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, port))
        .map_err(|_| "expected ADDR:PORT, [IPv6]:PORT or an address".to_string())
}

pub(super) fn parse_tls_listen(s: &str) -> Result<SocketAddr, String> {
    parse_listen_on(s, super::DOT_PORT)
}

pub(super) fn parse_https_listen(s: &str) -> Result<SocketAddr, String> {
    parse_listen_on(s, super::DOH_PORT)
}

pub(super) fn parse_quic_listen(s: &str) -> Result<SocketAddr, String> {
    parse_listen_on(s, super::DOQ_PORT)
}

pub(super) fn parse_duration_arg(s: &str) -> Result<Duration, String> {
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

pub(super) fn duration_from_toml(key: &str, value: &toml::Value) -> Result<Duration, ConfigError> {
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

pub(super) fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => Err("expected on or off".to_string()),
    }
}

pub(super) fn parse_log_level(s: &str) -> Result<String, String> {
    match s.to_ascii_lowercase().as_str() {
        l @ ("error" | "warn" | "info" | "debug" | "trace" | "off") => Ok(l.to_string()),
        _ => Err("expected error, warn, info, debug, trace or off".to_string()),
    }
}

/// What a client outside the ACL gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenyAction {
    /// REFUSED (RFC 1035 §4.1.1 rcode 5), as Unbound's `refuse`.
    #[default]
    Refuse,
    /// No answer at all, as Unbound's `deny`.
    Drop,
}

impl std::str::FromStr for DenyAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "refuse" => Ok(Self::Refuse),
            "drop" => Ok(Self::Drop),
            _ => Err("expected refuse or drop".to_string()),
        }
    }
}

/// Where the query log goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum QueryLog {
    /// No query log.
    #[default]
    Off,
    /// One line per query on stderr.
    Stderr,
    /// One line per query appended to a file.
    File(PathBuf),
}

impl QueryLog {
    pub(super) fn parse(s: &str) -> Self {
        match s {
            "off" | "" => Self::Off,
            "stderr" => Self::Stderr,
            path => Self::File(PathBuf::from(path)),
        }
    }
}

/// A TOML value that may be given once or as a list (`trust-anchor =
/// "a.key"` or `trust-anchor = ["a.key", "b.key"]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values as a list.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            Self::One(v) => vec![v],
            Self::Many(v) => v,
        }
    }
}

/// A domain name (`example.com` or `example.com.`), absolute and lower-case.
pub fn parse_domain(s: &str) -> Result<hickory_proto::rr::Name, String> {
    let mut name = hickory_proto::rr::Name::from_ascii(s.trim())
        .map_err(|e| format!("not a domain name: {e}"))?
        .to_lowercase();
    name.set_fqdn(true);
    Ok(name)
}
