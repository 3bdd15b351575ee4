//! The server side of the control socket.
//!
//! One request's path: [`bind`] has made the socket (parent directory
//! created, a stale socket file replaced, a live one refused, mode 0600);
//! [`serve_listener`] accepts a connection and, if fewer than
//! [`MAX_CONTROL_CONNECTIONS`] are open, spawns a task for it (otherwise
//! answers `ERROR` at once and closes); the task reads one request line
//! within [`REQUEST_TIMEOUT`], parses it ([`Request::parse`]), asks the
//! [`Handler`] (at most [`HANDLE_TIMEOUT`]), writes the encoded
//! [`Response`] (at most [`WRITE_TIMEOUT`]) and closes. At shutdown the
//! listener stops, the socket file goes, and connections still open get
//! [`SHUTDOWN_GRACE`] to finish.

use std::future::Future;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::protocol::{MAX_REQUEST_LINE, Request, Response};

/// Mode of the control socket: read and write for its owner (root) only.
/// Connecting to a Unix socket needs write permission on it, so this is
/// what keeps other users from flushing the cache or reading its contents.
pub const SOCKET_MODE: u32 = 0o600;

/// Mode of a parent directory created for the socket: world-searchable, as
/// `/run/*` directories usually are; the socket's own mode is the guard.
pub const DIRECTORY_MODE: u32 = 0o755;

/// Control connections served at once. Operators send a handful of
/// requests by hand or from a script; 16 is plenty for them and bounds the
/// tasks (and `dump-cache` bodies) a runaway script can pile up.
pub const MAX_CONTROL_CONNECTIONS: usize = 16;

/// Time a client has to send its request line once connected. `ctl`
/// writes it at once; the bound frees the slot of a client that connects
/// and says nothing.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest time the handler may take for one request: twice the client's
/// longest wait (30 s for `trace`), so an answer is never cut short while
/// the client still waits, and a request the client gave up on stops
/// holding a connection slot.
pub const HANDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Time allowed to write one response. A `dump-cache` of a full cache is
/// tens of megabytes, seconds at worst to a local reader; a client that
/// stops reading is cut off after this.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// At shutdown, how long open control connections may still finish (a
/// `reload` or `flush` in progress) before they are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Pause after a failed `accept` (e.g. out of file descriptors) so that the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What the server does with each request.
pub trait Handler: Send + Sync + 'static {
    /// Carries out `request` and says what happened. Bad arguments (a name
    /// that is not a domain name, an unknown type) are answered with
    /// [`Response::error`].
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + '_>>;
}

/// Makes the control socket at `path`: creates the parent directory if
/// missing (mode 0755), replaces a stale socket file that nothing answers
/// on, refuses to touch a live one or a file that is not a socket, binds,
/// and sets the socket's mode to 0600. Errors are one line naming `path`.
pub async fn bind(path: &Path) -> Result<UnixListener, String> {
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIRECTORY_MODE)
            .create(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => {
                return Err(format!("another rootward is already listening on {shown}"));
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                info!(path = %shown, "removing a stale control socket");
                std::fs::remove_file(path)
                    .map_err(|e| format!("cannot remove the stale control socket {shown}: {e}"))?;
            }
            Err(e) => {
                return Err(format!("cannot check the control socket {shown}: {e}"));
            }
        },
        Ok(_) => {
            return Err(format!(
                "{shown} exists and is not a socket; not replacing it (remove it or choose another control-socket)"
            ));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot check the control socket {shown}: {e}")),
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot bind the control socket {shown}: {e}"))?;
    // Until this runs the socket has the umask's mode (with the usual 022,
    // no one else can write to it, hence connect to it, either).
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)) {
        drop(listener);
        let _ = std::fs::remove_file(path);
        return Err(format!(
            "cannot set the mode of the control socket {shown}: {e}"
        ));
    }
    Ok(listener)
}

/// Binds `path` ([`bind`]) and serves it ([`serve_listener`]) until
/// `shutdown` completes.
pub async fn serve(
    path: &Path,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let listener = bind(path).await?;
    serve_listener(listener, path, handler, shutdown).await
}

/// Serves a listener made by [`bind`] at `path` until `shutdown` completes,
/// then removes the socket file (if it is still the one bound here) and
/// gives open connections [`SHUTDOWN_GRACE`] to finish.
pub async fn serve_listener(
    listener: UnixListener,
    path: &Path,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    // The socket file's identity, so that shutdown never removes a socket
    // that a newer server put at the same path.
    let identity = std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()));
    let slots = Arc::new(Semaphore::new(MAX_CONTROL_CONNECTIONS));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let handler = handler.clone();
                        connections.spawn(async move {
                            serve_connection(stream, handler.as_ref()).await;
                            drop(slot);
                        });
                    }
                    Err(_) => {
                        // A short reply fits in the socket buffer: written
                        // without waiting, so the accept loop never blocks.
                        let busy = Response::error(format!(
                            "too many control connections (at most {MAX_CONTROL_CONNECTIONS}); try again"
                        ));
                        let _ = stream.try_write(busy.encode().as_bytes());
                        discard_pending(&stream);
                    }
                },
                Err(e) => {
                    warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    remove_socket(path, identity);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!("control connections still open at shutdown; dropping them");
        connections.abort_all();
    }
    Ok(())
}

/// Removes the socket file if it is still the one this server bound.
fn remove_socket(path: &Path, identity: Option<(u64, u64)>) {
    let current = std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()));
    if current.is_none() || current != identity {
        return;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        // After `--user` the directory (root's) is no longer writable: the
        // file stays, and the next start replaces it as stale.
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            debug!(path = %path.display(), "cannot remove the control socket after dropping privileges; the next start replaces it");
        }
        Err(e) => warn!(path = %path.display(), error = %e, "cannot remove the control socket"),
    }
}

/// One connection: read the request line, handle it, write the response.
async fn serve_connection(mut stream: UnixStream, handler: &dyn Handler) {
    let response = match read_request(&mut stream).await {
        Ok(request) => {
            info!(%request, "control request");
            match tokio::time::timeout(HANDLE_TIMEOUT, handler.handle(request)).await {
                Ok(response) => response,
                Err(_) => Response::error(format!("gave up after {} s", HANDLE_TIMEOUT.as_secs())),
            }
        }
        Err(message) => {
            debug!(%message, "control request refused");
            Response::error(message)
        }
    };
    if let Err(e) = &response.result {
        debug!(error = %e, "control request failed");
    }
    let bytes = response.encode();
    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(bytes.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    discard_pending(&stream);
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(error = %e, "control client went away before the answer"),
        Err(_) => debug!("control client stopped reading; answer abandoned"),
    }
}

/// Most unread input discarded before closing a connection: a request line
/// and then some. Closing a Unix socket with unread input resets the
/// connection, and the client may then lose the answer we just wrote.
const MAX_DISCARDED_INPUT: usize = 2 * MAX_REQUEST_LINE;

/// Reads, without waiting, what the client sent that was not consumed (the
/// rest of an over-long line, or a whole request turned away), so that
/// closing does not reset the connection under the client's answer.
fn discard_pending(stream: &UnixStream) {
    let mut buf = [0u8; MAX_DISCARDED_INPUT];
    let mut discarded = 0;
    while discarded < MAX_DISCARDED_INPUT {
        match stream.try_read(&mut buf[..MAX_DISCARDED_INPUT - discarded]) {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
}

/// Reads and parses one request line: at most [`MAX_REQUEST_LINE`] bytes
/// before the newline, within [`REQUEST_TIMEOUT`]. A line cut by the end of
/// input (no newline) is accepted as it is.
async fn read_request(read: impl tokio::io::AsyncRead + Unpin) -> Result<Request, String> {
    // One byte over the limit for the newline; a longer line is cut there.
    let limit = MAX_REQUEST_LINE as u64 + 1;
    let mut reader = BufReader::new(read.take(limit));
    let mut line = Vec::with_capacity(64);
    match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_until(b'\n', &mut line)).await {
        Err(_) => {
            return Err(format!(
                "no request line within {} s",
                REQUEST_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) => return Err(format!("cannot read the request: {e}")),
        Ok(Ok(_)) => {}
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > MAX_REQUEST_LINE {
        return Err(format!("request line longer than {MAX_REQUEST_LINE} bytes"));
    }
    let text = std::str::from_utf8(&line).map_err(|_| "request is not UTF-8 text".to_string())?;
    Request::parse(text)
}
