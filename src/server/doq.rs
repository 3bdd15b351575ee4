//! The DNS over QUIC listener (RFC 9250).
//!
//! One connection's path: admitted like a TCP connection (the oldest is
//! closed at the cap), the QUIC handshake (ALPN `doq`) within
//! [`HANDSHAKE_TIMEOUT`], then one query per bidirectional stream
//! (at most [`MAX_STREAMS_PER_CONNECTION`] open, QUIC's own flow control),
//! each answered in a task of its own through the same [`Handler`] as UDP
//! and TCP: out of order by nature. QUIC closes a connection idle for the
//! idle timeout. A stream that is not one length-prefixed message, or a
//! message ID other than 0, is a protocol error that closes the connection
//! (RFC 9250 §4.2, §4.2.1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, timeout};
use tracing::debug;

use super::handler::{Handled, Handler, Origin};
use super::response::{MAX_TCP_MESSAGE, Transport};
use super::tcp::Connections;
use super::tls::HANDSHAKE_TIMEOUT;
use crate::upstream::Upstream;

/// DOQ_NO_ERROR (RFC 9250 §4.3): closing without an error.
const DOQ_NO_ERROR: u32 = 0x0;
/// DOQ_PROTOCOL_ERROR (RFC 9250 §4.3): the client broke the protocol.
const DOQ_PROTOCOL_ERROR: u32 = 0x2;
/// DOQ_REQUEST_CANCELLED (RFC 9250 §4.3): a stream given up without answer.
const DOQ_REQUEST_CANCELLED: u32 = 0x3;
/// Time a client has to send the whole query once a stream is open (as
/// the TCP listener's frame timeout).
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts DNS over QUIC connections on `endpoint` until `shutdown`.
pub async fn serve<U: Upstream>(
    endpoint: quinn::Endpoint,
    handler: Handler<U>,
    connections: Arc<Connections>,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    loop {
        let incoming = tokio::select! {
            _ = super::stopped(&mut shutdown) => break,
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
        };
        let peer = incoming.remote_address();
        let admitted = connections.admit();
        let (handler, mut shutdown, done) = (handler.clone(), shutdown.clone(), done.clone());
        tokio::spawn(async move {
            let evict = admitted.evict.clone();
            let connection = tokio::select! {
                _ = super::stopped(&mut shutdown) => None,
                _ = evict.notified() => None,
                r = timeout(HANDSHAKE_TIMEOUT, async { incoming.accept()?.await }) => match r {
                    Ok(Ok(c)) => Some(c),
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "quic handshake failed");
                        None
                    }
                    Err(_) => {
                        debug!(%peer, "quic handshake timed out");
                        None
                    }
                },
            };
            if let Some(connection) = connection {
                serve_connection(connection, peer, handler, idle_timeout, shutdown, &evict).await;
            }
            drop(admitted);
            drop(done);
        });
    }
    endpoint.close(DOQ_NO_ERROR.into(), b"shutting down");
}

async fn serve_connection<U: Upstream>(
    connection: quinn::Connection,
    peer: SocketAddr,
    handler: Handler<U>,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    evict: &tokio::sync::Notify,
) {
    let mut streams = tokio::task::JoinSet::new();
    loop {
        let (send, recv) = tokio::select! {
            _ = super::stopped(&mut shutdown) => break,
            _ = evict.notified() => {
                debug!(%peer, "quic connection cap reached: closing the oldest connection");
                break;
            }
            // Finished stream tasks are reaped as they end.
            Some(_) = streams.join_next(), if !streams.is_empty() => continue,
            s = connection.accept_bi() => match s {
                Ok(s) => s,
                Err(e) => {
                    debug!(%peer, error = %e, "quic connection ended");
                    return;
                }
            },
        };
        let (handler, connection) = (handler.clone(), connection.clone());
        streams.spawn(async move {
            query_stream(&handler, peer, &connection, send, recv, idle_timeout).await;
        });
    }
    // Answers under way are finished (bounded by the resolution timeout),
    // then the connection is closed.
    while streams.join_next().await.is_some() {}
    connection.close(DOQ_NO_ERROR.into(), b"");
}

/// Reads one query from a stream and writes its answer.
async fn query_stream<U: Upstream>(
    handler: &Handler<U>,
    peer: SocketAddr,
    connection: &quinn::Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    write_timeout: Duration,
) {
    // The query, its 2-byte length first, then the end of the stream.
    let data = match timeout(STREAM_READ_TIMEOUT, recv.read_to_end(MAX_TCP_MESSAGE + 2)).await {
        Ok(Ok(data)) => data,
        Ok(Err(quinn::ReadToEndError::TooLong)) => {
            connection.close(DOQ_PROTOCOL_ERROR.into(), b"query too long");
            return;
        }
        _ => {
            let _ = send.reset(DOQ_REQUEST_CANCELLED.into());
            return;
        }
    };
    let message = match data.split_first_chunk::<2>() {
        Some((len, message)) if usize::from(u16::from_be_bytes(*len)) == message.len() => message,
        _ => {
            connection.close(DOQ_PROTOCOL_ERROR.into(), b"bad length prefix");
            return;
        }
    };
    if message.get(..2).is_some_and(|id| id != [0, 0]) {
        connection.close(DOQ_PROTOCOL_ERROR.into(), b"message id not 0");
        return;
    }
    let origin = Origin {
        peer,
        transport: Transport::Quic,
        received: Instant::now(),
    };
    let answer = match handler.handle_now(message, origin) {
        Handled::Reply(bytes) => Some(bytes),
        Handled::Drop => None,
        Handled::Miss(miss) => handler.resolve(miss).await,
    };
    let Some(answer) = answer.filter(|a| a.len() <= MAX_TCP_MESSAGE) else {
        let _ = send.reset(DOQ_REQUEST_CANCELLED.into());
        return;
    };
    let mut framed = Vec::with_capacity(answer.len() + 2);
    framed.extend_from_slice(&(answer.len() as u16).to_be_bytes());
    framed.extend_from_slice(&answer);
    let written = timeout(write_timeout, send.write_all(&framed)).await;
    if matches!(written, Ok(Ok(()))) && send.finish().is_ok() {
        // Held until the client has read it all, so that closing the
        // connection (shutdown, eviction) does not cut the answer off.
        let _ = timeout(write_timeout, send.stopped()).await;
    } else {
        let _ = send.reset(DOQ_REQUEST_CANCELLED.into());
    }
}
