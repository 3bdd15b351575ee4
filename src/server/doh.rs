//! The DNS over HTTPS listener (RFC 8484).
//!
//! One connection's path: accepted and admitted like a TCP connection (the
//! oldest is closed at the cap), the TLS handshake within
//! [`HANDSHAKE_TIMEOUT`], then HTTP/2 or HTTP/1.1 as ALPN chose (hyper).
//! One request's path: `/dns-query` only (404 elsewhere); GET with `?dns=`
//! (base64url) or POST with an `application/dns-message` body (405 for
//! other methods, 415 for another content type, 413 past 65535 bytes);
//! the message must be a whole DNS query (400 otherwise); then the same
//! [`Handler`] as UDP and TCP, and the answer with `Cache-Control: max-age`
//! its smallest TTL (RFC 8484 §5.1). A connection closes after the idle
//! timeout without traffic or requests in flight, so a client that stops
//! reading is dropped too.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, BufWriter, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::handler::{Handled, Handler, Origin};
use super::layout::layout;
use super::request::HEADER_LEN;
use super::response::{MAX_TCP_MESSAGE, Transport};
use super::tcp::{Connections, accept, bound_send_buffer, no_delay};
use super::tls::{ALPN_H2, MAX_STREAMS_PER_CONNECTION, handshake};
use crate::upstream::Upstream;

/// The path DNS queries are served on (RFC 8484 §3's example, and what
/// every browser and Android use by default).
pub const DOH_PATH: &str = "/dns-query";
/// The media type of a DNS message (RFC 8484 §6).
pub const DNS_MESSAGE: &str = "application/dns-message";
/// Largest request head (request line and headers, or HTTP/2 header list):
/// a GET carries its query base64url-encoded in the URL, and a query of
/// a few hundred bytes with padding plus ordinary headers fits many times
/// over; larger heads are refused by hyper (431).
const MAX_HEAD: usize = 16 * 1024;
/// Bytes HTTP/2 buffers per stream for a client that does not read: one
/// largest DNS message plus framing.
const MAX_SEND_BUFFER: usize = 68 * 1024;
/// Bytes of HTTP output gathered before they are encrypted: one TLS
/// record's worth (16 KiB, RFC 8446 §5.1).
const WRITE_BUFFER: usize = 16 * 1024;
/// Time a client has to send a request's headers once it started
/// (HTTP/1.1), like the TCP listener's frame timeout.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// What ends an HTTP connection besides the client: idleness, eviction,
/// shutdown.
struct Watch {
    activity: Arc<Activity>,
    idle_timeout: Duration,
    shutdown: watch::Receiver<bool>,
    evict: Arc<tokio::sync::Notify>,
}

/// Runs a hyper connection until it ends; shuts it down gracefully (in
/// flight requests are answered) when idle, evicted or at shutdown, and
/// drops it if even that makes no progress for an idle period. A macro
/// because hyper's HTTP/1 and HTTP/2 connections share no trait.
macro_rules! drive {
    ($conn:ident, $watch:ident) => {{
        let Watch {
            activity,
            idle_timeout,
            mut shutdown,
            evict,
        } = $watch;
        let mut conn = std::pin::pin!($conn);
        let mut closing = false;
        loop {
            let deadline = activity.last() + idle_timeout;
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        debug!(error = %e, "https connection ended");
                    }
                    break;
                }
                _ = super::stopped(&mut shutdown), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = evict.notified(), if !closing => {
                    debug!("https connection cap reached: closing the oldest connection");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = sleep_until(deadline) => {
                    if activity.last() + idle_timeout > Instant::now() {
                        continue; // traffic since the timer was set
                    }
                    if activity.in_flight() > 0 {
                        // A resolution under way (bounded by the
                        // resolution timeout) counts as activity.
                        activity.touch();
                        continue;
                    }
                    if closing {
                        debug!("https connection made no progress while closing: dropped");
                        break;
                    }
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                    activity.touch();
                }
            }
        }
    }};
}

/// Accepts DNS over HTTPS connections on `listener` until `shutdown`.
pub async fn serve<U: Upstream>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handler: Handler<U>,
    connections: Arc<Connections>,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    while let Some((stream, peer)) = accept(&listener, &mut shutdown, "https").await {
        let admitted = connections.admit();
        bound_send_buffer(&stream, peer);
        no_delay(&stream, peer);
        let (handler, mut shutdown, done) = (handler.clone(), shutdown.clone(), done.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let evict = admitted.evict.clone();
            let tls = handshake(&acceptor, stream, peer, &mut shutdown, &evict).await;
            if let Some(tls) = tls {
                let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
                let activity = Arc::new(Activity::new());
                // hyper writes an answer's HTTP/2 frames one by one: the
                // buffer makes them one TLS record per flush, which clients
                // that read one record per wakeup (dnsperf) need, and costs
                // fewer records and syscalls.
                let io = TokioIo::new(BufWriter::with_capacity(
                    WRITE_BUFFER,
                    Watched {
                        inner: tls,
                        activity: activity.clone(),
                    },
                ));
                let service = {
                    let activity = activity.clone();
                    hyper::service::service_fn(move |request| {
                        let (handler, activity) = (handler.clone(), activity.clone());
                        async move {
                            let _busy = activity.busy();
                            Ok::<_, Infallible>(answer(&handler, peer, request).await)
                        }
                    })
                };
                let watch = Watch {
                    activity,
                    idle_timeout,
                    shutdown,
                    evict,
                };
                if h2 {
                    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .timer(TokioTimer::new())
                        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
                        .max_header_list_size(MAX_HEAD as u32)
                        .max_send_buf_size(MAX_SEND_BUFFER)
                        .serve_connection(io, service);
                    drive!(conn, watch);
                } else {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEAD_TIMEOUT)
                        .max_buf_size(MAX_HEAD)
                        .serve_connection(io, service);
                    drive!(conn, watch);
                }
            }
            drop(admitted);
            drop(done);
        });
    }
}

/// The last time a connection moved bytes, and its requests in flight.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last read or write.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the guard is dropped.
    fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A stream that records its reads and writes in an [`Activity`].
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The HTTP response to one request.
async fn answer<U: Upstream>(
    handler: &Handler<U>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let query = match read_query(request).await {
        Ok(q) => q,
        Err(response) => return response,
    };
    let origin = Origin {
        peer,
        transport: Transport::Https,
        received: Instant::now(),
    };
    let bytes = match handler.handle_now(&query, origin) {
        Handled::Reply(bytes) => bytes,
        // Only a client the ACL drops gets here: the message was checked.
        Handled::Drop => return error(StatusCode::FORBIDDEN, "not allowed"),
        Handled::Miss(miss) => match handler.resolve(miss).await {
            Some(bytes) => bytes,
            None => return error(StatusCode::INTERNAL_SERVER_ERROR, "no answer"),
        },
    };
    // RFC 8484 §5.1: fresh no longer than the smallest TTL; an answer
    // without records (an error) is not to be reused.
    let max_age = layout(&bytes).and_then(|l| l.min_ttl).unwrap_or(0);
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(DNS_MESSAGE));
    if let Ok(v) = HeaderValue::from_str(&format!("max-age={max_age}")) {
        headers.insert(CACHE_CONTROL, v);
    }
    response
}

/// The DNS query a request carries, or the HTTP error it gets.
async fn read_query(request: Request<Incoming>) -> Result<Vec<u8>, Response<Full<Bytes>>> {
    if request.uri().path() != DOH_PATH {
        return Err(error(StatusCode::NOT_FOUND, "DNS queries go to /dns-query"));
    }
    let query = match *request.method() {
        Method::GET => {
            let Some(encoded) = dns_param(request.uri().query().unwrap_or("")) else {
                return Err(error(StatusCode::BAD_REQUEST, "missing dns parameter"));
            };
            // RFC 8484 §6: base64url without padding; padding is tolerated.
            URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .map_err(|_| error(StatusCode::BAD_REQUEST, "dns parameter is not base64url"))?
        }
        Method::POST => {
            let content_type = request
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                });
            if content_type.as_deref() != Some(DNS_MESSAGE) {
                return Err(error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "POST bodies must be application/dns-message",
                ));
            }
            let declared = request
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_TCP_MESSAGE as u64) {
                return Err(too_large());
            }
            match Limited::new(request.into_body(), MAX_TCP_MESSAGE)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes().to_vec(),
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                    return Err(too_large());
                }
                Err(_) => return Err(error(StatusCode::BAD_REQUEST, "body not received")),
            }
        }
        _ => {
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST"));
            return Err(response);
        }
    };
    // A whole message, and a query (QR=0): anything else is the client's
    // error, told in HTTP (RFC 8484 §4.2.1).
    if layout(&query).is_none() {
        return Err(error(StatusCode::BAD_REQUEST, "not a whole DNS message"));
    }
    if query.len() < HEADER_LEN || query[2] & 0x80 != 0 {
        return Err(error(StatusCode::BAD_REQUEST, "not a DNS query"));
    }
    Ok(query)
}

/// The value of the `dns` parameter of a query string.
fn dns_param(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("dns="))
        .filter(|v| !v.is_empty())
}

fn too_large() -> Response<Full<Bytes>> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "a DNS message is at most 65535 bytes",
    )
}

fn error(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dns_parameter_is_found_among_others() {
        assert_eq!(dns_param("ct=x&dns=AAAB"), Some("AAAB"));
        assert_eq!(dns_param("dns="), None);
        assert_eq!(dns_param("dnsx=1"), None);
        assert_eq!(dns_param(""), None);
    }
}
