//! The command line: every option of the server, and `rootward ctl`.
//!
//! Every server option is optional here, so that the config file and the
//! defaults can fill the gaps (see [`Config::load`](super::Config::load)).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

use super::DEFAULT_CONTROL_SOCKET;
use super::values::{
    DenyAction, QnameMinimisation, parse_cidr, parse_domain, parse_duration_arg,
    parse_https_listen, parse_listen, parse_log_level, parse_on_off, parse_quic_listen,
    parse_tls_listen,
};
use crate::policy::BlockAction;
use hickory_proto::rr::Name;

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
    /// Address to answer DNS over TLS on (RFC 7858; repeatable). A bare
    /// address means port 853. Needs --tls-cert and --tls-key. [default: off]
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_tls_listen)]
    pub tls_listen: Vec<SocketAddr>,
    /// Address to answer DNS over HTTPS on, path /dns-query (RFC 8484;
    /// HTTP/2 and HTTP/1.1; repeatable). A bare address means port 443.
    /// Needs --tls-cert and --tls-key. [default: off]
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_https_listen)]
    pub https_listen: Vec<SocketAddr>,
    /// Address to answer DNS over QUIC on (RFC 9250; repeatable). A bare
    /// address means port 853 (UDP). Needs --tls-cert and --tls-key.
    /// [default: off]
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_quic_listen)]
    pub quic_listen: Vec<SocketAddr>,
    /// Certificate chain of the encrypted listeners (PEM, leaf first);
    /// re-read on reload.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC);
    /// re-read on reload.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Root hints file (zone-file format, like IANA's named.root).
    /// [default: the built-in copy of root.hints]
    #[arg(long, value_name = "FILE")]
    pub root_hints: Option<PathBuf>,
    /// DNSSEC trust anchors: DS or DNSKEY records in zone-file format, as
    /// in Unbound's trust-anchor-file or BIND's root.key (repeatable: one
    /// file per anchored domain is fine).
    /// [default: the built-in root KSKs 20326 and 38696]
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Vec<PathBuf>,
    /// A negative trust anchor (RFC 7646, Unbound's domain-insecure): the
    /// domain and everything below it are not validated (repeatable).
    #[arg(long, value_name = "NAME", value_parser = parse_domain)]
    pub insecure_domain: Vec<Name>,
    /// Turn DNSSEC validation off (it is on by default).
    #[arg(long)]
    pub no_dnssec: bool,
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
    /// Clients allowed to query (CIDR, repeatable). With none given only
    /// loopback clients are answered. [default: 127.0.0.0/8, ::1/128]
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub allow: Vec<IpNet>,
    /// Clients refused (CIDR, repeatable); the longest matching prefix of
    /// allow and deny decides, deny on a tie.
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub deny: Vec<IpNet>,
    /// What a denied client gets: refuse (REFUSED) or drop (nothing).
    /// [default: refuse]
    #[arg(long, value_name = "ACTION")]
    pub deny_action: Option<DenyAction>,
    /// Queries per second per client prefix (/24, /56) before queries are
    /// refused; 0 turns it off. [default: 1000]
    #[arg(long, value_name = "QPS")]
    pub rate_limit: Option<u32>,
    /// UDP responses per second per client prefix (response-rate limiting):
    /// past it every second answer is TC=1 and the rest are dropped; 0 turns
    /// it off. [default: 500]
    #[arg(long, value_name = "RPS")]
    pub response_rate_limit: Option<u32>,
    /// Apply the rate limits to loopback clients too. [default: off]
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub rate_limit_loopback: Option<bool>,
    /// Serve Prometheus metrics on ADDR:PORT (/metrics). [default: off]
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Control socket for `rootward ctl`, or "off".
    /// [default: /run/rootward/control.sock]
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<String>,
    /// One log line per query: off, stderr or a file path. [default: off]
    #[arg(long, value_name = "off|stderr|PATH")]
    pub query_log: Option<String>,
    /// User to switch to after binding the listen sockets (needs root).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Worker threads, each with its own UDP socket per listen address
    /// (SO_REUSEPORT). [default: the number of CPU cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Log level: error, warn, info, debug or trace. [default: info]
    #[arg(long, value_name = "LEVEL", value_parser = parse_log_level)]
    pub log_level: Option<String>,
    /// A local zone, "NAME TYPE" with Unbound's types: static, transparent,
    /// redirect, refuse, always_nxdomain, deny, nodefault (repeatable).
    #[arg(long, value_name = "NAME TYPE")]
    pub local_zone: Vec<String>,
    /// A local record in zone-file syntax, e.g. "nas.home.arpa. 300 IN A
    /// 192.168.1.10" (repeatable).
    #[arg(long, value_name = "RR")]
    pub local_data: Vec<String>,
    /// An /etc/hosts-style file answered locally: A/AAAA and PTR
    /// (repeatable).
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Vec<PathBuf>,
    /// A blocklist: hosts format, plain domains, AdBlock ||domain^ lines or
    /// an RPZ zone file, recognised per file (repeatable).
    #[arg(long, value_name = "FILE")]
    pub blocklist: Vec<PathBuf>,
    /// An allowlist in the same formats; it wins over blocklists
    /// (repeatable).
    #[arg(long, value_name = "FILE")]
    pub allowlist: Vec<PathBuf>,
    /// What a blocklisted name gets: nxdomain, nodata, refuse, drop, or
    /// addresses such as 0.0.0.0,:: [default: nxdomain]
    #[arg(long, value_name = "ACTION")]
    pub blocklist_action: Option<BlockAction>,
    /// Talk to a running rootward (see `rootward ctl --help`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Control a running rootward over its control socket.
    Ctl(CtlArgs),
}

/// `rootward ctl`.
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The server's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET)]
    pub socket: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub action: CtlAction,
}

/// `rootward ctl` actions.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CtlAction {
    /// Counters of the running server.
    Stats,
    /// Remove NAME (every type) from the cache; with --zone, everything at
    /// or below NAME.
    Flush {
        /// The name.
        name: String,
        /// Flush the whole subtree.
        #[arg(long)]
        zone: bool,
    },
    /// Empty the cache.
    FlushAll,
    /// Print the cache, one record per line with its remaining TTL.
    DumpCache,
    /// Re-read the config file (like SIGHUP).
    Reload,
    /// Test NAME against the local policy (local zones and data, lists)
    /// without resolving it: which rule decides and what a client gets.
    Policy {
        /// The name.
        name: String,
        /// The type. [default: A]
        #[arg(default_value = "A")]
        qtype: String,
    },
    /// Resolve NAME with a private, empty cache and print every decision.
    Trace {
        /// The name.
        name: String,
        /// The type. [default: A]
        #[arg(default_value = "A")]
        qtype: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}
