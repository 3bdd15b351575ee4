//! The encrypted listeners' shared parts: the certificate (re-read on
//! reload), the TLS settings of DNS over TLS, HTTPS and QUIC, and binding
//! their sockets.
//!
//! One certificate serves every encrypted listener: [`Certificates`] holds
//! it behind an atomic pointer and hands it to each new handshake, so a
//! reload ([`Certificates::reload`]) changes what new connections get
//! while open ones keep theirs. TLS 1.2 and 1.3 only (rustls has nothing
//! older), the ring provider (the one hickory already uses), session
//! resumption by tickets (TLS 1.3) and a session cache (TLS 1.2).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

use super::BindError;

/// ALPN of DNS over QUIC (RFC 9250 §4.1.1).
pub const ALPN_DOQ: &[u8] = b"doq";
/// ALPN of HTTP/2 (RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN of HTTP/1.1 (RFC 7301 §6).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// TLS 1.2 sessions remembered for resumption by session ID: each costs a
/// few hundred bytes; enough for a few thousand returning clients
/// (rustls's default is 256). TLS 1.3 resumes by stateless tickets.
const SESSION_CACHE_SIZE: usize = 4096;

/// Time a client has to complete the TLS (or QUIC) handshake: a handshake
/// that stalls holds a connection slot, and a phone on a poor network
/// needs a few round trips of up to a second or two each.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Streams (HTTP/2 requests, QUIC queries) one connection may have open at
/// once: Unbound's `http-max-streams` default, and RFC 9250 §6.4 asks for
/// a limit; further streams wait for the client's credit.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 100;

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// No PEM certificate in the certificate file.
    #[error("{path}: no PEM certificate (\"-----BEGIN CERTIFICATE-----\") found{detail}")]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said, if anything.
        detail: String,
    },
    /// No usable PEM private key in the key file.
    #[error("{path}: no PEM private key (PKCS#8, PKCS#1 or SEC1) found{detail}")]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said, if anything.
        detail: String,
    },
    /// The key does not go with the certificate, or is of a kind rustls
    /// cannot sign with.
    #[error("certificate {cert} with key {key}: {reason}")]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
}

/// The certificate chain and key served by every encrypted listener.
#[derive(Debug)]
pub struct Certificates {
    current: ArcSwap<CertifiedKey>,
}

impl Certificates {
    /// Reads the PEM chain (leaf first) in `cert` and the PEM key in `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, CertificateError> {
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(read_certified_key(cert, key)?),
        }))
    }

    /// Re-reads the files: new handshakes get the new certificate, open
    /// connections keep theirs. On an error the old one stays.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<(), CertificateError> {
        self.current.store(Arc::new(read_certified_key(cert, key)?));
        Ok(())
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, CertificateError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| CertificateError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    };
    let cert_pem = read(cert)?;
    let detail = |e: rustls::pki_types::pem::Error| format!(" ({e})");
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertificateError::NoCertificate {
            path: cert.to_path_buf(),
            detail: detail(e),
        })?;
    if chain.is_empty() {
        return Err(CertificateError::NoCertificate {
            path: cert.to_path_buf(),
            detail: String::new(),
        });
    }
    let key_pem = read(key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| CertificateError::NoKey {
        path: key.to_path_buf(),
        detail: match e {
            rustls::pki_types::pem::Error::NoItemsFound => String::new(),
            e => detail(e),
        },
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| CertificateError::Unusable {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A rustls server configuration serving `certificates` with `alpn`;
/// TLS 1.3 only when `tls13_only` (QUIC, RFC 9001 §4.2).
fn server_config(
    certificates: &Arc<Certificates>,
    alpn: &[&[u8]],
    tls13_only: bool,
) -> Result<ServerConfig, rustls::Error> {
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12, &rustls::version::TLS13]
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(certificates.clone());
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(config)
}

/// Where the encrypted listeners listen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptedAddrs {
    /// DNS over TLS.
    pub tls: Vec<SocketAddr>,
    /// DNS over HTTPS.
    pub https: Vec<SocketAddr>,
    /// DNS over QUIC.
    pub quic: Vec<SocketAddr>,
}

impl EncryptedAddrs {
    /// Whether no encrypted listener is asked for.
    pub fn is_empty(&self) -> bool {
        self.tls.is_empty() && self.https.is_empty() && self.quic.is_empty()
    }
}

/// The bound encrypted listeners with their TLS settings.
#[derive(Debug)]
pub struct EncryptedSockets {
    /// DNS over TLS listeners.
    pub tls: Vec<TcpListener>,
    /// DNS over HTTPS listeners.
    pub https: Vec<TcpListener>,
    /// DNS over QUIC endpoints.
    pub quic: Vec<quinn::Endpoint>,
    pub(crate) dot_config: Arc<ServerConfig>,
    pub(crate) doh_config: Arc<ServerConfig>,
}

impl EncryptedSockets {
    /// The local addresses of the TLS, HTTPS and QUIC listeners (useful
    /// with port 0).
    pub fn addrs(&self) -> EncryptedAddrs {
        EncryptedAddrs {
            tls: self
                .tls
                .iter()
                .filter_map(|l| l.local_addr().ok())
                .collect(),
            https: self
                .https
                .iter()
                .filter_map(|l| l.local_addr().ok())
                .collect(),
            quic: self
                .quic
                .iter()
                .filter_map(|e| e.local_addr().ok())
                .collect(),
        }
    }
}

/// Binds the encrypted listeners at `addrs`, serving `certificates`; QUIC
/// connections idle for `idle_timeout` are closed by QUIC itself. Must run
/// inside the tokio runtime (QUIC endpoints register with it).
pub async fn bind_encrypted(
    addrs: &EncryptedAddrs,
    certificates: &Arc<Certificates>,
    idle_timeout: Duration,
) -> Result<EncryptedSockets, BindError> {
    let config_error = |addr: SocketAddr, proto, e: String| BindError {
        addr,
        proto,
        reason: format!("TLS settings refused: {e}"),
        kind: std::io::ErrorKind::InvalidInput,
    };
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    // No ALPN for DNS over TLS: RFC 7858 defines none, and a client
    // offering one rustls does not know would be refused.
    let dot_config = Arc::new(
        server_config(certificates, &[], false)
            .map_err(|e| config_error(unspecified, "tls", e.to_string()))?,
    );
    let doh_config = Arc::new(
        server_config(certificates, &[ALPN_H2, ALPN_HTTP1], false)
            .map_err(|e| config_error(unspecified, "https", e.to_string()))?,
    );
    let mut sockets = EncryptedSockets {
        tls: Vec::new(),
        https: Vec::new(),
        quic: Vec::new(),
        dot_config,
        doh_config,
    };
    let err = |addr, proto, e: std::io::Error| BindError {
        addr,
        proto,
        reason: super::describe(&e),
        kind: e.kind(),
    };
    for &addr in &addrs.tls {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| err(addr, "tls", e))?;
        sockets.tls.push(l);
    }
    for &addr in &addrs.https {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| err(addr, "https", e))?;
        sockets.https.push(l);
    }
    if !addrs.quic.is_empty() {
        let quic_config = quic_server_config(certificates, idle_timeout)
            .map_err(|e| config_error(unspecified, "quic", e))?;
        for &addr in &addrs.quic {
            let socket = std::net::UdpSocket::bind(addr).map_err(|e| err(addr, "quic", e))?;
            let endpoint = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(quic_config.clone()),
                socket,
                Arc::new(quinn::TokioRuntime),
            )
            .map_err(|e| err(addr, "quic", e))?;
            sockets.quic.push(endpoint);
        }
    }
    Ok(sockets)
}

/// QUIC settings of DNS over QUIC: ALPN `doq`, TLS 1.3, bidirectional
/// streams only (RFC 9250 §4.2), at most [`MAX_STREAMS_PER_CONNECTION`]
/// open, idle connections closed after `idle_timeout`.
fn quic_server_config(
    certificates: &Arc<Certificates>,
    idle_timeout: Duration,
) -> Result<quinn::ServerConfig, String> {
    let tls = server_config(certificates, &[ALPN_DOQ], true).map_err(|e| e.to_string())?;
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| e.to_string())?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(MAX_STREAMS_PER_CONNECTION.into())
        .max_concurrent_uni_streams(0u32.into())
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(idle_timeout).map_err(|e| e.to_string())?,
        ));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The TLS handshake of a DoT or DoH connection, within
/// [`HANDSHAKE_TIMEOUT`]; `None` if it fails, times out, or the connection
/// is evicted or the server stops meanwhile.
pub(crate) async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    evict: &tokio::sync::Notify,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    tokio::select! {
        _ = super::stopped(shutdown) => None,
        _ = evict.notified() => None,
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => match r {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "tls handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "tls handshake timed out");
                None
            }
        },
    }
}
