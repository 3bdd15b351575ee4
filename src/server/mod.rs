//! The stub-facing side: UDP and TCP listeners, and the encrypted ones
//! (DNS over TLS, HTTPS and QUIC: [`dot`], [`doh`], [`doq`], sharing
//! [`tls`]).
//!
//! One query's path: a listener ([`udp`], [`tcp`], [`dot`], [`doh`],
//! [`doq`]) reads it, the
//! [`Handler`] checks it ([`request`]) and answers from the cache or hands a
//! miss to the resolver, and [`response`] encodes the answer within the
//! client's size limit. [`bind`] opens every socket before anything is
//! served (so a port in use is reported at start); [`run`] serves until the
//! shutdown future completes, then stops accepting and lets in-flight
//! answers finish for a bounded time.

pub mod acl;
pub mod doh;
pub mod doq;
pub mod dot;
pub mod handler;
pub mod layout;
pub mod live;
pub mod rate_limit;
pub mod request;
pub mod response;
pub mod tcp;
pub mod tls;
pub mod udp;

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

pub use handler::Handler;
pub use tcp::TcpLimits;

use crate::upstream::Upstream;

/// A listen address that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({proto}): {reason}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// "udp", "tcp", "tls", "https" or "quic".
    pub proto: &'static str,
    /// The OS error, e.g. "address already in use".
    pub reason: String,
    /// The OS error kind.
    pub kind: io::ErrorKind,
}

/// The bound sockets.
#[derive(Debug, Default)]
pub struct Sockets {
    /// UDP sockets.
    pub udp: Vec<UdpSocket>,
    /// TCP listeners.
    pub tcp: Vec<TcpListener>,
    /// DNS over TLS, HTTPS and QUIC listeners, if any.
    pub encrypted: Option<tls::EncryptedSockets>,
}

impl Sockets {
    /// The local addresses of the UDP sockets (useful with port 0).
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }
}

/// Binds UDP and TCP on every address: `udp_sockets` UDP sockets per
/// address sharing its port through SO_REUSEPORT (the kernel spreads
/// datagrams over them by flow hash, and each gets its own receive loop, so
/// the workers do not contend for one socket), and one TCP listener whose
/// connections the runtime spreads over the workers.
///
/// SO_REUSEPORT would also let a second rootward share the port silently;
/// a plain bind first proves nobody else holds it, so "address already in
/// use" is still reported.
pub async fn bind(addrs: &[SocketAddr], udp_sockets: usize) -> Result<Sockets, BindError> {
    let mut sockets = Sockets::default();
    for &addr in addrs {
        let err = |proto, e: io::Error| BindError {
            addr,
            proto,
            reason: describe(&e),
            kind: e.kind(),
        };
        let probe = std::net::UdpSocket::bind(addr).map_err(|e| err("udp", e))?;
        // The actual port (the caller may have asked for port 0).
        let bound = probe.local_addr().map_err(|e| err("udp", e))?;
        drop(probe);
        for _ in 0..udp_sockets.max(1) {
            let udp = reuseport_udp(bound, udp_sockets > 1).map_err(|e| err("udp", e))?;
            sockets.udp.push(udp);
        }
        let tcp = TcpListener::bind(bound).await.map_err(|e| err("tcp", e))?;
        sockets.tcp.push(tcp);
    }
    Ok(sockets)
}

/// A non-blocking UDP socket on `addr`, sharing it with SO_REUSEPORT when
/// `share`; IPv6 sockets are IPv6-only (an IPv4 listener is its own).
fn reuseport_udp(addr: SocketAddr, share: bool) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if share {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    grow_receive_buffer(&socket);
    UdpSocket::from_std(socket.into())
}

/// Receive buffer asked for each UDP listening socket: room for about
/// 30,000 queued queries, so that a burst or a flood of new names does not
/// make the kernel drop the queries for cached names behind it. Linux's
/// default (208 KiB) holds about 200 datagrams' worth of its accounting;
/// Unbound's documentation recommends `so-rcvbuf: 4m` for busy servers.
const UDP_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// Sets [`UDP_RECEIVE_BUFFER`]: past `net.core.rmem_max` when privileged
/// (SO_RCVBUFFORCE), else as far as the kernel allows (SO_RCVBUF is capped
/// silently). Failure only leaves the default: never an error.
fn grow_receive_buffer(socket: &socket2::Socket) {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(socket, sockopt::RcvBufForce, &UDP_RECEIVE_BUFFER).is_err() {
        let _ = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER);
    }
}

pub(crate) fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_string(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)".to_string()
        }
        io::ErrorKind::AddrNotAvailable => "address not available on this machine".to_string(),
        _ => e.to_string(),
    }
}

/// Serves `sockets` with `handler` until `shutdown` completes; then stops
/// accepting and waits at most `drain` for in-flight answers.
pub async fn run<U: Upstream>(
    sockets: Sockets,
    handler: Handler<U>,
    limits: TcpLimits,
    drain: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let connections = tcp::Connections::new(limits.max_connections);
    let mut listeners = tokio::task::JoinSet::new();
    for socket in sockets.udp {
        if let Ok(addr) = socket.local_addr() {
            info!(%addr, "listening on udp");
        }
        listeners.spawn(udp::serve(
            socket,
            handler.clone(),
            stop_rx.clone(),
            done_tx.clone(),
        ));
    }
    for listener in sockets.tcp {
        if let Ok(addr) = listener.local_addr() {
            info!(%addr, "listening on tcp");
        }
        listeners.spawn(tcp::serve(
            listener,
            handler.clone(),
            connections.clone(),
            limits.idle_timeout,
            stop_rx.clone(),
            done_tx.clone(),
        ));
    }
    if let Some(encrypted) = sockets.encrypted {
        // Each encrypted transport has its own connection cap, as large as
        // the TCP one: a flood of one kind does not evict the others.
        let caps = || tcp::Connections::new(limits.max_connections);
        let (dot_connections, doh_connections, doq_connections) = (caps(), caps(), caps());
        let dot_acceptor = tokio_rustls::TlsAcceptor::from(encrypted.dot_config.clone());
        let doh_acceptor = tokio_rustls::TlsAcceptor::from(encrypted.doh_config.clone());
        for listener in encrypted.tls {
            if let Ok(addr) = listener.local_addr() {
                info!(%addr, "listening for dns over tls");
            }
            listeners.spawn(dot::serve(
                listener,
                dot_acceptor.clone(),
                handler.clone(),
                dot_connections.clone(),
                limits.idle_timeout,
                stop_rx.clone(),
                done_tx.clone(),
            ));
        }
        for listener in encrypted.https {
            if let Ok(addr) = listener.local_addr() {
                info!(%addr, "listening for dns over https on {}", doh::DOH_PATH);
            }
            listeners.spawn(doh::serve(
                listener,
                doh_acceptor.clone(),
                handler.clone(),
                doh_connections.clone(),
                limits.idle_timeout,
                stop_rx.clone(),
                done_tx.clone(),
            ));
        }
        for endpoint in encrypted.quic {
            if let Ok(addr) = endpoint.local_addr() {
                info!(%addr, "listening for dns over quic");
            }
            listeners.spawn(doq::serve(
                endpoint,
                handler.clone(),
                doq_connections.clone(),
                limits.idle_timeout,
                stop_rx.clone(),
                done_tx.clone(),
            ));
        }
    }
    drop(done_tx);
    shutdown.await;
    info!("shutting down: no new queries; finishing those in flight");
    let _ = stop_tx.send(true);
    while listeners.join_next().await.is_some() {}
    // Every in-flight task holds a sender; recv() returns None once all
    // have finished.
    if tokio::time::timeout(drain, done_rx.recv()).await.is_err() {
        warn!(
            ?drain,
            "in-flight queries still running at shutdown; abandoning them"
        );
    }
}

/// Completes once the shutdown flag is set (or its sender is gone).
pub(crate) async fn stopped(flag: &mut watch::Receiver<bool>) {
    // The guard wait_for returns is dropped here, before any other await.
    let _ = flag.wait_for(|s| *s).await.map(|_| ());
}
