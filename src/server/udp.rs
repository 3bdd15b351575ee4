//! The UDP listener.
//!
//! One datagram's path: every socket (with SO_REUSEPORT, one per worker)
//! has a thread of its own running its own single-threaded event loop, as
//! Unbound's workers do. The loop takes up to [`BATCH`] queued datagrams
//! with one `recvmmsg`, answers errors and cache hits at once and sends
//! those replies with one `sendmmsg`; a miss becomes a task on the same
//! loop, so its upstream sockets, its timers and its reply stay on this
//! thread. A miss then costs no hand-over to another thread: with a shared
//! pool, every miss woke a second thread and every upstream reply a third,
//! and those wake-ups and context switches were most of a miss's CPU
//! (docs/benchmarks.md, "Cache misses: where the CPU goes"). The loop
//! yields after each batch, so misses' tasks run between batches of hits.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::handler::{Handled, Handler, Origin};
use super::response::Transport;
use crate::upstream::Upstream;

/// Largest datagram read from a client. Queries are small; anything larger
/// than this is truncated by the kernel and then fails to parse (FORMERR).
const MAX_QUERY_DATAGRAM: usize = 4096;

/// Datagrams taken from the socket by one `recvmmsg`, and replies given to
/// one `sendmmsg`: under load a batch shares one pair of system calls, the
/// larger part of a cached answer's cost (docs/benchmarks.md). 32 is where
/// quinn-udp stops; an idle socket still answers each datagram as it comes.
const BATCH: usize = 32;

/// Batches served before the loop yields to its event loop even though
/// none of them started a miss. Each yield costs a poll of the reactor (an
/// `epoll_wait`), a third of a batch's system calls when every query is a
/// hit; a batch that started a miss yields at once, so its query leaves
/// without delay, and this bounds how long upstream replies already in
/// wait behind a stream of hits: 8 batches are at most 256 cached answers.
const BATCHES_PER_TURN: u32 = 8;

/// Serves one UDP socket until `shutdown` turns true. `done` is held by
/// every task this starts, so the caller can wait for in-flight answers.
pub async fn serve<U: Upstream>(
    socket: UdpSocket,
    handler: Handler<U>,
    shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    // Leaves the caller's event loop, to join the worker's own.
    let socket = match socket.into_std() {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "udp socket unusable");
            return;
        }
    };
    let (finished_tx, finished_rx) = oneshot::channel();
    let name = format!(
        "udp-{}",
        socket.local_addr().map_or(String::new(), |a| a.to_string())
    );
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "could not start a udp worker's event loop");
                return;
            }
        };
        runtime.block_on(async move {
            let socket = match UdpSocket::from_std(socket) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    warn!(error = %e, "udp socket unusable");
                    return;
                }
            };
            run_worker(&socket, &handler, shutdown, done, finished_tx).await;
        });
    });
    match spawned {
        Ok(_) => {
            let _ = finished_rx.await;
        }
        Err(e) => warn!(error = %e, "could not start a udp listener thread"),
    }
}

/// What one `recvmmsg` brought: each datagram's length and sender.
type Received = Vec<(usize, Option<SocketAddr>)>;

/// Replies waiting for the next `sendmmsg`, with their destinations.
type Replies = Vec<(Vec<u8>, SockaddrStorage)>;

/// Where a worker's miss tasks leave their replies: the loop sends them
/// with the next batch, so replies that complete together (one event-loop
/// turn's upstream answers) share one `sendmmsg` and wake the client once.
/// Only this worker's thread touches it, so its lock is never contended.
#[derive(Default)]
struct Outbox {
    replies: Mutex<Replies>,
    ready: Notify,
}

impl Outbox {
    fn post(&self, bytes: Vec<u8>, peer: SocketAddr) {
        self.replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((bytes, SockaddrStorage::from(peer)));
        self.ready.notify_one();
    }

    fn take_into(&self, replies: &mut Replies) {
        replies.append(&mut self.replies.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The buffers one worker reuses for every batch.
struct Batch {
    buffers: Vec<[u8; MAX_QUERY_DATAGRAM]>,
    receive_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    received: Received,
    replies: Replies,
}

impl Batch {
    fn new() -> Self {
        Self {
            buffers: vec![[0u8; MAX_QUERY_DATAGRAM]; BATCH],
            receive_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            received: Vec::with_capacity(BATCH),
            replies: Vec::with_capacity(BATCH),
        }
    }

    /// Sends the replies gathered so far and those the outbox holds.
    async fn flush(&mut self, socket: &UdpSocket, outbox: &Outbox) {
        outbox.take_into(&mut self.replies);
        send_all(socket, &mut self.send_headers, &self.replies).await;
        self.replies.clear();
    }
}

/// Serves the socket until shutdown, then goes on sending the replies of
/// the misses still in flight until the last has finished.
async fn run_worker<U: Upstream>(
    socket: &Arc<UdpSocket>,
    handler: &Handler<U>,
    shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
    finished: oneshot::Sender<()>,
) {
    let outbox = Arc::new(Outbox::default());
    let mut batch = Batch::new();
    // Held by this worker's tasks: the loop lives on until the last one has
    // answered (each is bounded by the resolution timeout).
    let (local_tx, mut local_rx) = mpsc::channel::<()>(1);
    let holds = (done, local_tx);
    receive_loop(socket, handler, shutdown, &holds, &outbox, &mut batch).await;
    let _ = finished.send(());
    drop(holds);
    loop {
        batch.flush(socket, &outbox).await;
        tokio::select! {
            _ = outbox.ready.notified() => {}
            _ = local_rx.recv() => break,
        }
    }
    batch.flush(socket, &outbox).await;
}

async fn receive_loop<U: Upstream>(
    socket: &Arc<UdpSocket>,
    handler: &Handler<U>,
    mut shutdown: watch::Receiver<bool>,
    holds: &(mpsc::Sender<()>, mpsc::Sender<()>),
    outbox: &Arc<Outbox>,
    batch: &mut Batch,
) {
    let fd = socket.as_raw_fd();
    // Set once the socket said "nothing queued", until it says "readable".
    let mut drained = false;
    let mut batches_this_turn = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if !drained {
            batch.received.clear();
            let got = socket.try_io(Interest::READABLE, || {
                receive_batch(
                    fd,
                    &mut batch.buffers,
                    &mut batch.receive_headers,
                    &mut batch.received,
                )
            });
            match got {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => drained = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors from earlier sends surface here (e.g.
                    // ECONNREFUSED on Linux); they concern one peer only.
                    debug!(error = %e, "udp receive error");
                    continue;
                }
            }
        }
        let mut started_miss = false;
        if !drained {
            // One clock reading per batch: the datagrams arrived together.
            let now = Instant::now();
            for (&(len, peer), buffer) in batch.received.iter().zip(&batch.buffers) {
                let Some(peer) = peer else { continue };
                let origin = Origin {
                    peer,
                    transport: Transport::Udp,
                    received: now,
                };
                match handler.handle_now(&buffer[..len], origin) {
                    Handled::Drop => {}
                    Handled::Reply(bytes) => {
                        batch.replies.push((bytes, SockaddrStorage::from(peer)))
                    }
                    Handled::Miss(miss) => {
                        started_miss = true;
                        let (handler, outbox, holds) =
                            (handler.clone(), outbox.clone(), holds.clone());
                        tokio::spawn(async move {
                            if let Some(bytes) = handler.resolve(miss).await {
                                outbox.post(bytes, peer);
                            }
                            drop(holds);
                        });
                    }
                }
            }
        }
        batch.flush(socket, outbox).await;
        if drained {
            tokio::select! {
                ready = socket.readable() => {
                    if let Err(e) = ready {
                        warn!(error = %e, "udp socket failed");
                        return;
                    }
                    drained = false;
                }
                _ = outbox.ready.notified() => {}
                _ = super::stopped(&mut shutdown) => return,
            }
            batches_this_turn = 0;
        } else {
            batches_this_turn += 1;
            if started_miss || batches_this_turn >= BATCHES_PER_TURN {
                // Lets this loop's misses run between batches of hits.
                batches_this_turn = 0;
                tokio::task::yield_now().await;
            }
        }
    }
}

/// One `recvmmsg` without waiting: `WouldBlock` when nothing is queued.
fn receive_batch(
    fd: RawFd,
    buffers: &mut [[u8; MAX_QUERY_DATAGRAM]],
    headers: &mut MultiHeaders<SockaddrStorage>,
    received: &mut Received,
) -> io::Result<()> {
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
        .iter_mut()
        .map(|b| [IoSliceMut::new(&mut b[..])])
        .collect();
    let messages = recvmmsg(fd, headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None)?;
    received.extend(messages.map(|m| (m.bytes, m.address.as_ref().and_then(to_socket_addr))));
    Ok(())
}

/// Sends every reply of a batch with as few `sendmmsg` calls as the kernel
/// allows, waiting for room in the send buffer if it is full. A reply the
/// kernel refuses (an unreachable peer) is logged and skipped so the ones
/// after it still leave.
async fn send_all(
    socket: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrStorage>,
    replies: &[(Vec<u8>, SockaddrStorage)],
) {
    let fd = socket.as_raw_fd();
    let mut sent = 0;
    while sent < replies.len() {
        let pending = &replies[sent..];
        let slices: Vec<[IoSlice<'_>; 1]> =
            pending.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
        let addresses: Vec<Option<SockaddrStorage>> =
            pending.iter().map(|(_, a)| Some(*a)).collect();
        let result = socket.try_io(Interest::WRITABLE, || {
            sendmmsg(fd, headers, &slices, &addresses, [], MsgFlags::MSG_DONTWAIT)
                .map(|results| results.count())
                .map_err(io::Error::from)
        });
        match result {
            Ok(n) => sent += n.max(1),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if socket.writable().await.is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
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
