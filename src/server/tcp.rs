//! The TCP listener (RFC 7766).
//!
//! One connection's path: accepted always; when the connection cap is
//! reached, the oldest connection is closed to make room (so clients that
//! trickle queries slowly, or never read, cannot lock everyone else out:
//! they only get their turn). Each 2-byte-length-framed query is handled
//! like a datagram, misses in their own tasks, so several queries on one
//! connection are answered as they resolve (RFC 7766 §6.2.1.1: out of order
//! is allowed, clients match by ID); a writer task sends the framed answers.
//! The connection closes after `tcp-idle-timeout` without a query, when a
//! write cannot proceed for as long (a client that does not read), on EOF,
//! on a broken frame, when evicted, or at shutdown once its answers are
//! written. Its kernel send buffer is bounded, so a client that does not
//! read costs at most that much kernel memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
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

/// Kernel send buffer of a client connection: room for a few full-size
/// answers (64 KiB each at most, RFC 1035 §4.2.2). Bounded so that a client
/// that stops reading holds this much kernel memory at most, not the
/// megabytes Linux's autotuning would grow it to.
pub(crate) const SEND_BUFFER: usize = 128 * 1024;

/// The TCP connections open across every listener, oldest first, with the
/// cap on their number (`--max-tcp-connections`).
#[derive(Debug)]
pub struct Connections {
    max: usize,
    open: Mutex<VecDeque<(u64, Arc<Notify>)>>,
    next_id: AtomicU64,
}

impl Connections {
    /// An empty set capped at `max` (at least one).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            open: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
        })
    }

    /// Admits a new connection; at the cap, the oldest one is told to
    /// close (its slot is taken over now: the old one finishes writing
    /// what it had and goes).
    pub(crate) fn admit(self: &Arc<Self>) -> Admitted {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        while open.len() >= self.max {
            match open.pop_front() {
                Some((_, oldest)) => oldest.notify_one(),
                None => break,
            }
        }
        open.push_back((id, evict.clone()));
        Admitted {
            set: self.clone(),
            id,
            evict,
        }
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A connection's place in [`Connections`]; leaving it frees the slot.
pub(crate) struct Admitted {
    set: Arc<Connections>,
    id: u64,
    /// Notified when a newer connection needs the slot.
    pub(crate) evict: Arc<Notify>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.set.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = open.iter().position(|(id, _)| *id == self.id) {
            open.remove(at);
        }
    }
}

/// TCP limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// Cap on simultaneous connections (across every TCP listener).
    pub max_connections: usize,
    /// Idle time before a connection is closed.
    pub idle_timeout: Duration,
}

/// Back-off after a failed accept (EMFILE and friends): long enough not to
/// spin on a full descriptor table, short enough to go unnoticed.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The next connection on `listener`, or `None` at shutdown. Shared by the
/// TCP, DoT and DoH listeners; `what` names the listener in logs.
pub(crate) async fn accept(
    listener: &TcpListener,
    shutdown: &mut watch::Receiver<bool>,
    what: &str,
) -> Option<(TcpStream, std::net::SocketAddr)> {
    loop {
        tokio::select! {
            _ = super::stopped(shutdown) => return None,
            r = listener.accept() => match r {
                Ok(r) => return Some(r),
                Err(e) => {
                    debug!(error = %e, "{what} accept error");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
        }
    }
}

/// Accepts connections on `listener` until `shutdown`.
pub async fn serve<U: Upstream>(
    listener: TcpListener,
    handler: Handler<U>,
    connections: Arc<Connections>,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    while let Some((stream, peer)) = accept(&listener, &mut shutdown, "tcp").await {
        let admitted = connections.admit();
        bound_send_buffer(&stream, peer);
        let (handler, shutdown, done) = (handler.clone(), shutdown.clone(), done.clone());
        tokio::spawn(async move {
            let evict = admitted.evict.clone();
            let (reader, writer) = stream.into_split();
            let stream = Stream {
                peer,
                transport: Transport::Tcp,
                idle_timeout,
            };
            serve_stream(stream, reader, writer, handler, shutdown, evict).await;
            drop(admitted);
            drop(done);
        });
    }
}

/// Turns Nagle's algorithm off on an encrypted client connection: TLS
/// records and HTTP/2 frames of one answer leave in several writes, and
/// Nagle would hold the last one until the client's delayed ACK (up to
/// 200 ms on Linux).
pub(crate) fn no_delay(stream: &TcpStream, peer: std::net::SocketAddr) {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, error = %e, "could not set TCP_NODELAY");
    }
}

/// Bounds the kernel send buffer of a client connection to [`SEND_BUFFER`].
pub(crate) fn bound_send_buffer(stream: &TcpStream, peer: std::net::SocketAddr) {
    if let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(SEND_BUFFER) {
        debug!(%peer, error = %e, "could not bound the tcp send buffer");
    }
}

/// One stream connection with RFC 7766 framing: plain TCP, or the
/// decrypted side of a TLS connection (DNS over TLS is the same framing,
/// RFC 7858 §3.3).
pub(crate) struct Stream {
    /// The client.
    pub peer: std::net::SocketAddr,
    /// TCP or TLS (for the metrics and the query log).
    pub transport: Transport,
    /// Idle time (no query, or a write that cannot proceed) before the
    /// connection closes.
    pub idle_timeout: Duration,
}

/// Serves queries read from `reader`, answers written to `writer`, until
/// idle, EOF, a broken frame, eviction or shutdown.
pub(crate) async fn serve_stream<U, R, W>(
    stream: Stream,
    mut reader: R,
    writer: W,
    handler: Handler<U>,
    mut shutdown: watch::Receiver<bool>,
    evict: Arc<Notify>,
) where
    U: Upstream,
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Stream {
        peer,
        transport,
        idle_timeout,
    } = stream;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(MAX_PIPELINED_PER_CONNECTION);
    // A write that cannot proceed for `idle_timeout` (the client does not
    // read) ends the connection, as a client that does not write would.
    let write_timeout = idle_timeout;
    let write_task = tokio::spawn(async move {
        let mut writer = BufWriter::new(writer);
        while let Some(bytes) = rx.recv().await {
            let Ok(len) = u16::try_from(bytes.len()) else {
                continue;
            };
            let written = timeout(write_timeout, async {
                writer.write_all(&len.to_be_bytes()).await?;
                writer.write_all(&bytes).await?;
                if rx.is_empty() {
                    writer.flush().await?;
                }
                Ok::<(), std::io::Error>(())
            })
            .await;
            if !matches!(written, Ok(Ok(()))) {
                debug!(transport = transport.name(), "client not reading: closing");
                return;
            }
        }
        let _ = timeout(write_timeout, async {
            let _ = writer.flush().await;
            let _ = writer.shutdown().await;
        })
        .await;
    });
    let pipeline = Arc::new(Semaphore::new(MAX_PIPELINED_PER_CONNECTION));
    loop {
        let len = tokio::select! {
            _ = super::stopped(&mut shutdown) => break,
            _ = evict.notified() => {
                debug!(%peer, transport = transport.name(), "connection cap reached: closing the oldest connection");
                break;
            }
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
            transport,
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
