//! Control socket tests: a real server on a socket under the temp
//! directory, a fake handler, and the blocking client.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::*;
use crate::config::CtlAction;

/// Answers like a server would, without one.
struct Fake {
    /// Set to let held `reload` requests finish.
    release: watch::Sender<bool>,
}

impl Handler for Fake {
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + '_>> {
        Box::pin(async move {
            match request {
                Request::Stats => Response::ok("cache-entries: 7\nuptime-seconds: 1\n"),
                Request::Flush(name) if name.contains("..") => {
                    Response::error(format!("not a domain name: '{name}'"))
                }
                Request::Flush(name) => Response::ok(format!("flushed 1 entries for {name}\n")),
                Request::Reload => {
                    let _ = self.release.subscribe().wait_for(|go| *go).await;
                    Response::ok("reloaded\n")
                }
                other => Response::ok(format!("{other}\n")),
            }
        })
    }
}

/// A fresh directory for one test's socket (removed by [`Running::stop`]).
fn socket_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rootward-ctl-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("run").join("control.sock")
}

struct Running {
    path: PathBuf,
    handler: Arc<Fake>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), String>>,
}

impl Running {
    async fn start(path: &Path) -> Result<Running, String> {
        let handler = Arc::new(Fake {
            release: watch::channel(false).0,
        });
        let listener = bind(path).await?;
        let (tx, rx) = oneshot::channel::<()>();
        let shared: Arc<dyn Handler> = handler.clone();
        let owned = path.to_path_buf();
        let task = tokio::spawn(async move {
            serve_listener(listener, &owned, shared, async move {
                let _ = rx.await;
            })
            .await
        });
        Ok(Running {
            path: path.to_path_buf(),
            handler,
            stop: Some(tx),
            task,
        })
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        assert_eq!((&mut self.task).await.expect("server task"), Ok(()));
        assert!(!self.path.exists(), "socket removed at shutdown");
        if let Some(dir) = self.path.parent().and_then(Path::parent) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The blocking client, off the runtime's threads.
async fn ask(path: &Path, request: Request) -> Result<Response, ClientError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || send(&path, &request, Duration::from_secs(5)))
        .await
        .expect("client task")
}

/// Raw bytes in, raw text out.
async fn raw(path: &Path, bytes: &[u8]) -> String {
    let mut stream = tokio::net::UnixStream::connect(path)
        .await
        .expect("connect");
    let _ = stream.write_all(bytes).await;
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_comes_back_with_ok_and_errors_propagate() {
    let server = Running::start(&socket_path("stats")).await.expect("bind");
    let r = ask(&server.path, Request::Stats).await.expect("answer");
    assert_eq!(r, Response::ok("cache-entries: 7\nuptime-seconds: 1\n"));
    let r = ask(&server.path, Request::Flush("a..b".into()))
        .await
        .expect("answer");
    assert_eq!(r.result, Err("not a domain name: 'a..b'".to_string()));
    assert_eq!(r.body, "");
    let trace = Request::Trace {
        name: "example.com".into(),
        qtype: "AAAA".into(),
        json: true,
    };
    let r = ask(&server.path, trace).await.expect("answer");
    assert_eq!(r, Response::ok("trace-json example.com AAAA\n"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_is_root_only_and_its_directory_is_created() {
    let path = socket_path("mode");
    assert!(!path.parent().expect("parent").exists());
    let server = Running::start(&path).await.expect("bind");
    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    let dir_mode = std::fs::metadata(path.parent().expect("parent"))
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o755, "directory mode {dir_mode:o}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_replaced_and_a_live_one_refused() {
    let path = socket_path("stale");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    // A socket file nobody listens on: what a crashed server leaves.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale bind"));
    assert!(path.exists());
    assert_eq!(
        ask(&path, Request::Stats).await,
        Err(ClientError::NotListening(path.clone()))
    );
    let server = Running::start(&path).await.expect("stale socket replaced");
    assert!(ask(&server.path, Request::Stats).await.is_ok());

    let err = bind(&path).await.expect_err("second server");
    assert_eq!(
        err,
        format!(
            "another rootward is already listening on {}",
            path.display()
        )
    );
    let err = serve(&path, server.handler.clone(), async {})
        .await
        .expect_err("second serve");
    assert!(err.starts_with("another rootward is already listening on"));
    // The first server is unharmed.
    assert!(ask(&server.path, Request::Stats).await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let path = socket_path("regular");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, "precious").expect("write");
    let err = bind(&path).await.expect_err("not a socket");
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "precious");
    let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_one_clear_line() {
    let path = socket_path("missing");
    let err = ask(&path, Request::Stats).await.expect_err("no socket");
    assert_eq!(err, ClientError::NotRunning(path.clone()));
    assert_eq!(
        err.to_string(),
        format!(
            "no rootward is running (no control socket at {})",
            path.display()
        )
    );
    assert_eq!(
        ClientError::NotListening(path.clone()).to_string(),
        format!("no rootward is listening on {}", path.display())
    );
    assert_eq!(
        ClientError::PermissionDenied(path.clone()).to_string(),
        format!(
            "permission denied on {} (the control socket is root-only; run as root)",
            path.display()
        )
    );
    assert_eq!(
        ClientError::Timeout(Duration::from_secs(30)).to_string(),
        "rootward did not answer within 30 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out() {
    let path = socket_path("silent");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    // Accepts (the kernel does, via the backlog) but never answers.
    let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let owned = path.clone();
    let err = tokio::task::spawn_blocking(move || {
        send(&owned, &Request::Stats, Duration::from_millis(300))
    })
    .await
    .expect("client task")
    .expect_err("no answer");
    assert_eq!(err, ClientError::Timeout(Duration::from_millis(300)));
    let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_lines_get_an_error_line() {
    let server = Running::start(&socket_path("bad")).await.expect("bind");
    let long = format!("flush {}\n", "a".repeat(MAX_REQUEST_LINE));
    let out = raw(&server.path, long.as_bytes()).await;
    assert!(
        out.starts_with("ERROR request line longer than 1024 bytes"),
        "{out}"
    );
    let out = raw(&server.path, b"frobnicate\n").await;
    assert!(
        out.starts_with("ERROR unknown request 'frobnicate'"),
        "{out}"
    );
    let out = raw(&server.path, b"flush \xff\n").await;
    assert_eq!(out, "ERROR request is not UTF-8 text\n");
    // Without the newline, then end of input, as `printf stats | socat`
    // sends it.
    let mut stream = tokio::net::UnixStream::connect(&server.path)
        .await
        .expect("connect");
    stream.write_all(b"stats").await.expect("write");
    stream.shutdown().await.expect("shutdown");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    assert!(out.ends_with("\nOK\n"), "{out}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_turned_away() {
    let server = Running::start(&socket_path("cap")).await.expect("bind");
    let mut held = Vec::new();
    for _ in 0..MAX_CONTROL_CONNECTIONS {
        let path = server.path.clone();
        held.push(tokio::spawn(async move { raw(&path, b"reload\n").await }));
    }
    // Let every held connection reach the handler.
    let mut busy = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        busy = raw(&server.path, b"stats\n").await;
        if busy.starts_with("ERROR too many") {
            break;
        }
    }
    assert!(
        busy.starts_with("ERROR too many control connections"),
        "{busy}"
    );
    server.handler.release.send_replace(true);
    for h in held {
        let out = h.await.expect("held connection");
        assert_eq!(out, "reloaded\nOK\n");
    }
    server.stop().await;
}

#[test]
fn ctl_actions_map_to_requests() {
    let flush = |zone| CtlAction::Flush {
        name: "example.com".into(),
        zone,
    };
    assert_eq!(
        request_for(&flush(false)),
        Request::Flush("example.com".into())
    );
    assert_eq!(
        request_for(&flush(true)),
        Request::FlushZone("example.com".into())
    );
    assert_eq!(request_for(&CtlAction::Stats), Request::Stats);
    assert_eq!(request_for(&CtlAction::FlushAll), Request::FlushAll);
    assert_eq!(request_for(&CtlAction::DumpCache), Request::DumpCache);
    assert_eq!(request_for(&CtlAction::Reload), Request::Reload);
    let trace = request_for(&CtlAction::Trace {
        name: "a.example".into(),
        qtype: "MX".into(),
        json: false,
    });
    assert_eq!(timeout_for(&trace), client::TRACE_TIMEOUT);
    assert_eq!(timeout_for(&Request::Stats), client::DEFAULT_TIMEOUT);
    assert_eq!(
        request_for(&CtlAction::Flush {
            name: String::new(),
            zone: false
        })
        .check(),
        Err("empty name".to_string())
    );
}
