//! The UDP listener.
//!
//! One datagram's path: a thread of its own per socket (with SO_REUSEPORT,
//! one socket per worker) reads it with a blocking `recv_from`, handles it
//! at once if it is an error or a cache hit and sends the reply from the
//! same loop, with no task, no wakeup through the runtime's reactor and no
//! lock shared with the other workers. Only a miss goes to the runtime, as
//! a task of its own, so the loop keeps serving hits; its reply leaves by
//! the same socket with a non-blocking send. This is the shape of the
//! minimal responder the benchmark measures as the machine's ceiling
//! (docs/benchmarks.md): the reactor cost a third of the time of a hit.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::handler::{Handled, Handler, Origin};
use super::response::Transport;
use crate::upstream::Upstream;

/// Largest datagram read from a client. Queries are small; anything larger
/// than this is truncated by the kernel and then fails to parse (FORMERR).
const MAX_QUERY_DATAGRAM: usize = 4096;

/// How long a receive blocks before the loop looks at the shutdown flag:
/// the longest a shutdown waits for an idle listener.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

/// Datagrams read between two looks at the shutdown flag when busy.
const SHUTDOWN_CHECK_EVERY: usize = 1024;

/// Datagrams taken from the socket by one `recvmmsg`, and replies given to
/// one `sendmmsg`: under load a batch shares one pair of system calls, the
/// larger part of a cached answer's cost (docs/benchmarks.md). 32 is where
/// quinn-udp and the kernel's own GRO batching stop; an idle socket still
/// answers one datagram per call, with no added wait (MSG_WAITFORONE).
const BATCH: usize = 32;

/// Serves one UDP socket until `shutdown` turns true. `done` is held by
/// every task this starts, so the caller can wait for in-flight answers.
pub async fn serve<U: Upstream>(
    socket: tokio::net::UdpSocket,
    handler: Handler<U>,
    shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    let socket = match blocking(socket) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            warn!(error = %e, "udp socket unusable");
            return;
        }
    };
    let runtime = tokio::runtime::Handle::current();
    let (finished_tx, finished_rx) = oneshot::channel();
    let name = format!(
        "udp-{}",
        socket.local_addr().map_or(String::new(), |a| a.to_string())
    );
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        // In the runtime's context: tasks can be spawned and its clock read.
        let _context = runtime.enter();
        receive_loop(&socket, &handler, &shutdown, &done, &runtime);
        let _ = finished_tx.send(());
    });
    match spawned {
        Ok(_) => {
            let _ = finished_rx.await;
        }
        Err(e) => warn!(error = %e, "could not start a udp listener thread"),
    }
}

/// The tokio socket as a blocking one whose receives time out.
fn blocking(socket: tokio::net::UdpSocket) -> io::Result<UdpSocket> {
    let socket = socket.into_std()?;
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(SHUTDOWN_POLL))?;
    Ok(socket)
}

fn receive_loop<U: Upstream>(
    socket: &Arc<UdpSocket>,
    handler: &Handler<U>,
    shutdown: &watch::Receiver<bool>,
    done: &mpsc::Sender<()>,
    runtime: &tokio::runtime::Handle,
) {
    let fd = socket.as_raw_fd();
    let mut buffers = vec![[0u8; MAX_QUERY_DATAGRAM]; BATCH];
    let mut receive_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut received: Vec<(usize, Option<SocketAddr>)> = Vec::with_capacity(BATCH);
    let mut replies: Vec<(Vec<u8>, SockaddrStorage)> = Vec::with_capacity(BATCH);
    let mut since_check = 0usize;
    loop {
        if since_check >= SHUTDOWN_CHECK_EVERY {
            since_check = 0;
            if *shutdown.borrow() {
                return;
            }
        }
        received.clear();
        {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
                .iter_mut()
                .map(|b| [IoSliceMut::new(&mut b[..])])
                .collect();
            // MSG_WAITFORONE: block (up to the socket's read timeout) for the
            // first datagram only, then take whatever else is queued.
            match recvmmsg(
                fd,
                &mut receive_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(messages) => received.extend(
                    messages.map(|m| (m.bytes, m.address.as_ref().and_then(to_socket_addr))),
                ),
                Err(Errno::EAGAIN | Errno::ETIMEDOUT) => {
                    if *shutdown.borrow() {
                        return;
                    }
                    continue;
                }
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    // ICMP errors from earlier sends surface here (e.g.
                    // ECONNREFUSED on Linux); they concern one peer only.
                    debug!(error = %e, "udp receive error");
                    continue;
                }
            }
        }
        since_check += received.len();
        // One clock reading per batch: the datagrams arrived together.
        let now = Instant::now();
        for (&(len, peer), buffer) in received.iter().zip(&buffers) {
            let Some(peer) = peer else { continue };
            let origin = Origin {
                peer,
                transport: Transport::Udp,
                received: now,
            };
            match handler.handle_now(&buffer[..len], origin) {
                Handled::Drop => {}
                Handled::Reply(bytes) => replies.push((bytes, SockaddrStorage::from(peer))),
                Handled::Miss(miss) => {
                    let (socket, handler, done) = (socket.clone(), handler.clone(), done.clone());
                    runtime.spawn(async move {
                        if let Some(bytes) = handler.resolve(miss).await {
                            // Never block a runtime worker: a full send
                            // buffer loses this reply as the network could
                            // (the client asks again).
                            send(&socket, &bytes, peer, libc::MSG_DONTWAIT);
                        }
                        drop(done);
                    });
                }
            }
        }
        send_all(fd, &mut send_headers, &replies);
        replies.clear();
    }
}

/// Sends every reply of a batch with as few `sendmmsg` calls as the kernel
/// allows. A reply the kernel refuses (an unreachable peer, a full buffer
/// on a socket that never blocks) is logged and skipped so the ones after
/// it still leave.
fn send_all(
    fd: RawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    replies: &[(Vec<u8>, SockaddrStorage)],
) {
    let mut sent = 0;
    while sent < replies.len() {
        let pending = &replies[sent..];
        let slices: Vec<[IoSlice<'_>; 1]> =
            pending.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
        let addresses: Vec<Option<SockaddrStorage>> =
            pending.iter().map(|(_, a)| Some(*a)).collect();
        match sendmmsg(fd, headers, &slices, &addresses, [], MsgFlags::empty()) {
            Ok(results) => sent += results.count().max(1),
            Err(Errno::EINTR) => {}
            Err(e) => {
                warn!(peer = %pending[0].1, error = %e, "udp send failed");
                sent += 1;
            }
        }
    }
}

fn to_socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

fn send(socket: &UdpSocket, bytes: &[u8], peer: SocketAddr, flags: libc::c_int) {
    let to = socket2::SockAddr::from(peer);
    if let Err(e) = socket2::SockRef::from(socket).send_to_with_flags(bytes, &to, flags) {
        warn!(%peer, error = %e, "udp send failed");
    }
}
