//! The `rootward` binary: configuration, logging, sockets, then
//! `server::run` until SIGTERM or SIGINT.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use clap::error::ErrorKind;
use tracing::{info, warn};

use rootward::cache::{Cache, TtlPolicy};
use rootward::clock::SystemClock;
use rootward::config::{Cli, Config};
use rootward::resolver::{AddressPolicy, Resolver, ResolverConfig};
use rootward::root_hints::RootHints;
use rootward::server::{self, TcpLimits};
use rootward::upstream::{SocketUpstream, UpstreamConfig};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's first line names the flag and the value.
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return ExitCode::from(2);
        }
    };
    let explicit_listen = !cli.listen.is_empty();
    let config = match Config::load(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(format!("rootward={}", config.log_level))
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("rootward=info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, explicit_listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, explicit_listen: bool) -> Result<(), String> {
    let hints = match &config.root_hints {
        Some(path) => RootHints::from_file(path).map_err(|e| e.to_string())?,
        None => RootHints::builtin(),
    };
    let mut sockets = server::Sockets::default();
    for addr in &config.listen {
        match server::bind(std::slice::from_ref(addr)).await {
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
    let cache = Arc::new(Cache::new(
        config.cache_size,
        TtlPolicy::new(
            config.cache_min_ttl,
            config.cache_max_ttl,
            config.cache_max_negative_ttl,
        ),
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
    let resolver = Arc::new(Resolver::new(
        cache,
        Arc::new(upstream),
        hints,
        Arc::new(SystemClock),
        ResolverConfig {
            policy: AddressPolicy {
                no_ipv4: config.no_ipv4,
                no_ipv6: config.no_ipv6,
                allow_loopback: config.allow_loopback_upstream,
            },
            resolution_timeout: config.resolution_timeout,
            upstream_timeout: config.upstream_timeout,
            failure_ttl: config.failure_cache_ttl,
            prefetch: config.prefetch,
            qname_minimisation: config.qname_minimisation,
        },
    ));
    let limits = TcpLimits {
        max_connections: config.max_tcp_connections,
        idle_timeout: config.tcp_idle_timeout,
    };
    // In-flight answers get as long as a resolution may take, plus a second.
    let drain = config.resolution_timeout + std::time::Duration::from_secs(1);
    server::run(sockets, resolver, limits, drain, shutdown_signal()).await;
    info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
