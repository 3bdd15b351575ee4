//! The UDP listener.
//!
//! One datagram's path: received, handled at once if it is an error or a
//! cache hit (the reply goes out from this loop, no task spawned), otherwise
//! resolved in its own task so that the loop keeps serving hits.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use tokio::time::Instant;

use super::handler::{Handled, Handler, Origin};
use super::response::Transport;
use crate::upstream::Upstream;

/// Largest datagram read from a client. Queries are small; anything larger
/// than this is truncated by the kernel and then fails to parse (FORMERR).
const MAX_QUERY_DATAGRAM: usize = 4096;

/// Serves one UDP socket until `shutdown` turns true. `done` is held by
/// every task this starts, so the caller can wait for in-flight answers.
pub async fn serve<U: Upstream>(
    socket: UdpSocket,
    handler: Handler<U>,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; MAX_QUERY_DATAGRAM];
    loop {
        let (len, peer) = tokio::select! {
            _ = super::stopped(&mut shutdown) => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors from earlier sends surface here (e.g.
                    // ECONNREFUSED on Linux); they concern one peer only.
                    debug!(error = %e, "udp receive error");
                    continue;
                }
            },
        };
        let origin = Origin {
            peer,
            transport: Transport::Udp,
            received: Instant::now(),
        };
        match handler.handle_now(&buf[..len], origin) {
            Handled::Drop => {}
            Handled::Reply(bytes) => send(&socket, &bytes, peer).await,
            Handled::Miss(miss) => {
                let (socket, handler, done) = (socket.clone(), handler.clone(), done.clone());
                tokio::spawn(async move {
                    if let Some(bytes) = handler.resolve(miss).await {
                        send(&socket, &bytes, peer).await;
                    }
                    drop(done);
                });
            }
        }
    }
}

async fn send(socket: &UdpSocket, bytes: &[u8], peer: std::net::SocketAddr) {
    if let Err(e) = socket.send_to(bytes, peer).await {
        warn!(%peer, error = %e, "udp send failed");
    }
}
