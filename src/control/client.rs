//! `rootward ctl`: the client side of the control socket.
//!
//! One request's path: [`run`] turns the command line's [`CtlAction`] into
//! a [`Request`] ([`request_for`]) and checks it can be sent; [`send`]
//! connects to the socket (blocking; translating a missing socket, nobody
//! listening and a permission problem into one clear line each), writes the
//! request line, reads until the server closes (within one overall deadline,
//! [`timeout_for`]) and decodes the [`Response`]; `run` prints the body on
//! stdout and the error, if any, on stderr, and picks the exit status.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::protocol::{Request, Response};
use crate::config::{CtlAction, CtlArgs};

/// How long `ctl` waits for the answer to `trace`: a traced resolution
/// runs with an empty cache, so it walks from the root and may take several
/// resolution timeouts' worth of upstream queries.
pub const TRACE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `ctl` waits for any other answer. Everything else is local work
/// (a `dump-cache` of a full cache takes about a second).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer `ctl` reads. A `dump-cache` of a full 200 000-entry cache
/// is tens of megabytes; this is far above it and still keeps a broken
/// server from filling the client's memory.
pub const MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// Exit status when the server answered `ERROR`, or could not be reached.
const EXIT_FAILED: u8 = 1;
/// Exit status for a request refused before sending (e.g. an empty name),
/// the same as for bad flags.
const EXIT_USAGE: u8 = 2;

/// Why a request did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// No socket file at the path.
    NotRunning(PathBuf),
    /// A socket file, but nothing accepts connections on it.
    NotListening(PathBuf),
    /// The socket exists but this user may not connect to it.
    PermissionDenied(PathBuf),
    /// No complete answer before the deadline.
    Timeout(Duration),
    /// Anything else, as one line.
    Other(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotRunning(p) => write!(
                f,
                "no rootward is running (no control socket at {})",
                p.display()
            ),
            ClientError::NotListening(p) => {
                write!(f, "no rootward is listening on {}", p.display())
            }
            ClientError::PermissionDenied(p) => write!(
                f,
                "permission denied on {} (the control socket is root-only; run as root)",
                p.display()
            ),
            ClientError::Timeout(t) => {
                write!(f, "rootward did not answer within {} s", t.as_secs())
            }
            ClientError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ClientError {}

/// The request a `ctl` action sends (`flush --zone` is `FlushZone`).
pub fn request_for(action: &CtlAction) -> Request {
    match action {
        CtlAction::Stats => Request::Stats,
        CtlAction::Flush { name, zone: false } => Request::Flush(name.clone()),
        CtlAction::Flush { name, zone: true } => Request::FlushZone(name.clone()),
        CtlAction::FlushAll => Request::FlushAll,
        CtlAction::DumpCache => Request::DumpCache,
        CtlAction::Reload => Request::Reload,
        CtlAction::Policy { name, qtype } => Request::Policy {
            name: name.clone(),
            qtype: qtype.clone(),
        },
        CtlAction::Trace { name, qtype, json } => Request::Trace {
            name: name.clone(),
            qtype: qtype.clone(),
            json: *json,
        },
    }
}

/// How long to wait for the answer to `request`.
pub fn timeout_for(request: &Request) -> Duration {
    match request {
        Request::Trace { .. } => TRACE_TIMEOUT,
        _ => DEFAULT_TIMEOUT,
    }
}

/// Runs `rootward ctl`: sends the action's request to the socket, prints
/// the body on stdout, and exits 0 on `OK`; on `ERROR msg` (or when the
/// server cannot be reached) prints `error: msg` on stderr and exits 1; a
/// request refused before sending (an empty name) exits 2.
pub fn run(args: &CtlArgs) -> ExitCode {
    let request = request_for(&args.action);
    if let Err(message) = request.check() {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
    let response = match send(&args.socket, &request, timeout_for(&request)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    // A closed pipe (`rootward ctl dump-cache | head`) is not an error.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(response.body.as_bytes())
        .and_then(|()| stdout.flush());
    match response.result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Sends one request to the control socket at `path` and waits at most
/// `timeout` (in all) for the whole answer.
pub fn send(path: &Path, request: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let deadline = Instant::now() + timeout;
    let mut stream = UnixStream::connect(path).map_err(|e| connect_error(path, &e))?;
    let timed_out = || ClientError::Timeout(timeout);
    let io_error = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ClientError::Timeout(timeout),
        _ => ClientError::Other(format!("control socket {}: {e}", path.display())),
    };
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    let line = format!("{}\n", request.to_line());
    match stream.write_all(line.as_bytes()) {
        Ok(()) => {}
        // The server may answer (e.g. "too many control connections") and
        // close before reading: its answer is still there to read.
        Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {}
        Err(e) => return Err(io_error(e)),
    }
    let mut received = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)?;
        stream.set_read_timeout(Some(left)).map_err(io_error)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                if received.len() as u64 > MAX_RESPONSE_BYTES {
                    return Err(ClientError::Other(format!(
                        "answer larger than {MAX_RESPONSE_BYTES} bytes; giving up"
                    )));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A server that closes with our input unread resets the
            // connection after its answer: what arrived is decoded.
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !received.is_empty() => break,
            Err(e) => return Err(io_error(e)),
        }
    }
    Response::decode(&String::from_utf8_lossy(&received)).map_err(ClientError::Other)
}

/// The one-line explanation of a failed connect.
fn connect_error(path: &Path, e: &std::io::Error) -> ClientError {
    match e.kind() {
        ErrorKind::NotFound => ClientError::NotRunning(path.to_path_buf()),
        ErrorKind::ConnectionRefused => ClientError::NotListening(path.to_path_buf()),
        ErrorKind::PermissionDenied => ClientError::PermissionDenied(path.to_path_buf()),
        _ => ClientError::Other(format!("cannot connect to {}: {e}", path.display())),
    }
}
