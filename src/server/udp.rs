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

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

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
const SHUTDOWN_CHECK_EVERY: u32 = 1024;

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
    let mut buf = vec![0u8; MAX_QUERY_DATAGRAM];
    let mut since_check = 0u32;
    loop {
        since_check += 1;
        if since_check >= SHUTDOWN_CHECK_EVERY {
            since_check = 0;
            if *shutdown.borrow() {
                return;
            }
        }
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if *shutdown.borrow() {
                    return;
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // ICMP errors from earlier sends surface here (e.g.
                // ECONNREFUSED on Linux); they concern one peer only.
                debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let origin = Origin {
            peer,
            transport: Transport::Udp,
            received: Instant::now(),
        };
        match handler.handle_now(&buf[..len], origin) {
            Handled::Drop => {}
            Handled::Reply(bytes) => send(socket, &bytes, peer, 0),
            Handled::Miss(miss) => {
                let (socket, handler, done) = (socket.clone(), handler.clone(), done.clone());
                runtime.spawn(async move {
                    if let Some(bytes) = handler.resolve(miss).await {
                        // Never block a runtime worker: a full send buffer
                        // loses this reply as the network could (the client
                        // asks again).
                        send(&socket, &bytes, peer, libc::MSG_DONTWAIT);
                    }
                    drop(done);
                });
            }
        }
    }
}

fn send(socket: &UdpSocket, bytes: &[u8], peer: SocketAddr, flags: libc::c_int) {
    let to = socket2::SockAddr::from(peer);
    if let Err(e) = socket2::SockRef::from(socket).send_to_with_flags(bytes, &to, flags) {
        warn!(%peer, error = %e, "udp send failed");
    }
}
