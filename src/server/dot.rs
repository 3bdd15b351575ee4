//! The DNS over TLS listener (RFC 7858).
//!
//! One connection's path: accepted and admitted like a TCP connection (the
//! oldest is closed at the cap), the TLS handshake within
//! [`HANDSHAKE_TIMEOUT`](super::tls::HANDSHAKE_TIMEOUT), then the TCP listener's own stream server on the
//! decrypted stream: the same framing, pipelining, out-of-order answers,
//! idle timeout and handling of clients that do not read (RFC 7858 §3.3
//! asks for exactly RFC 7766's behaviour).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use super::handler::Handler;
use super::response::Transport;
use super::tcp::{Connections, Stream, accept, bound_send_buffer, no_delay, serve_stream};
use super::tls::handshake;
use crate::upstream::Upstream;

/// Accepts DNS over TLS connections on `listener` until `shutdown`.
pub async fn serve<U: Upstream>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handler: Handler<U>,
    connections: Arc<Connections>,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    while let Some((stream, peer)) = accept(&listener, &mut shutdown, "tls").await {
        let admitted = connections.admit();
        bound_send_buffer(&stream, peer);
        no_delay(&stream, peer);
        let (handler, mut shutdown, done) = (handler.clone(), shutdown.clone(), done.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let evict = admitted.evict.clone();
            let tls = handshake(&acceptor, stream, peer, &mut shutdown, &evict).await;
            if let Some(tls) = tls {
                let (reader, writer) = tokio::io::split(tls);
                let stream = Stream {
                    peer,
                    transport: Transport::Tls,
                    idle_timeout,
                };
                serve_stream(stream, reader, writer, handler, shutdown, evict).await;
            }
            drop(admitted);
            drop(done);
        });
    }
}
