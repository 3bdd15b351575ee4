//! The TCP listener (RFC 7766).
//!
//! One connection's path: accepted if under the connection cap (otherwise
//! closed at once); each 2-byte-length-framed query is handled like a
//! datagram, misses in their own tasks, so several queries on one connection
//! are answered as they resolve (RFC 7766 §6.2.1.1: out of order is allowed,
//! clients match by ID); a writer task sends the framed answers. The
//! connection closes after `tcp-idle-timeout` without a query, on EOF, on a
//! broken frame, or at shutdown once its answers are written.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::timeout;
use tracing::debug;

use tokio::time::Instant;

use super::handler::{Handled, Handler, Origin};
use super::response::Transport;
use crate::upstream::Upstream;

/// Queries of one connection resolved at the same time; further queries
/// wait, so one connection cannot hold an unbounded number of resolutions.
const MAX_PIPELINED_PER_CONNECTION: usize = 32;
/// Time a client has to send the rest of a frame once its length arrived.
const FRAME_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// TCP limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// Cap on simultaneous connections (across every TCP listener).
    pub max_connections: usize,
    /// Idle time before a connection is closed.
    pub idle_timeout: Duration,
}

/// Accepts connections on `listener` until `shutdown`.
pub async fn serve<U: Upstream>(
    listener: TcpListener,
    handler: Handler<U>,
    connections: Arc<Semaphore>,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = super::stopped(&mut shutdown) => break,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    debug!(error = %e, "tcp accept error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            debug!(%peer, "tcp connection cap reached: closing");
            continue;
        };
        let (handler, shutdown, done) = (handler.clone(), shutdown.clone(), done.clone());
        tokio::spawn(async move {
            connection(stream, peer, handler, idle_timeout, shutdown).await;
            drop(permit);
            drop(done);
        });
    }
}

async fn connection<U: Upstream>(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    handler: Handler<U>,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut reader, writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(MAX_PIPELINED_PER_CONNECTION);
    let write_task = tokio::spawn(async move {
        let mut writer = BufWriter::new(writer);
        while let Some(bytes) = rx.recv().await {
            let Ok(len) = u16::try_from(bytes.len()) else {
                continue;
            };
            if writer.write_all(&len.to_be_bytes()).await.is_err()
                || writer.write_all(&bytes).await.is_err()
            {
                return;
            }
            if rx.is_empty() && writer.flush().await.is_err() {
                return;
            }
        }
        let _ = writer.flush().await;
        let _ = writer.shutdown().await;
    });
    let pipeline = Arc::new(Semaphore::new(MAX_PIPELINED_PER_CONNECTION));
    loop {
        let len = tokio::select! {
            _ = super::stopped(&mut shutdown) => break,
            r = timeout(idle_timeout, reader.read_u16()) => match r {
                Ok(Ok(len)) => usize::from(len),
                _ => break, // idle, EOF or error
            },
        };
        let mut buf = vec![0u8; len];
        match timeout(FRAME_BODY_TIMEOUT, reader.read_exact(&mut buf)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let origin = Origin {
            peer,
            transport: Transport::Tcp,
            received: Instant::now(),
        };
        match handler.handle_now(&buf, origin) {
            Handled::Drop => break, // not DNS: the stream cannot be trusted
            Handled::Reply(bytes) => {
                if tx.send(bytes).await.is_err() {
                    break;
                }
            }
            Handled::Miss(miss) => {
                let Ok(slot) = pipeline.clone().acquire_owned().await else {
                    break;
                };
                let (handler, tx) = (handler.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Some(bytes) = handler.resolve(miss).await {
                        let _ = tx.send(bytes).await;
                    }
                    drop(slot);
                });
            }
        }
    }
    // The writer ends when every pending answer has been sent (all senders
    // dropped).
    drop(tx);
    let _ = write_task.await;
}
