//! The rootward binary as a child process of a test.
//!
//! [`Rootward::start`] runs the binary built by cargo for this test run with
//! `--listen <addr> --root-hints <file> --allow-loopback-upstream
//! --log-level debug` plus extra arguments, sends its stderr to a log file,
//! and waits until it answers a UDP query. Dropping it sends SIGTERM to ITS
//! OWN child PID (and SIGKILL after 5 s); [`Rootward::stop`] does the same
//! and returns the exit status so a test can assert a clean exit.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use super::client::{Client, query};
use super::nsd::unique_dir;

/// How long the binary gets to answer its first query.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval while waiting for it.
const POLL: Duration = Duration::from_millis(50);
/// How long it gets to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of stderr shown in panic messages.
const TAIL_LINES: usize = 80;

/// A running rootward process.
pub struct Rootward {
    child: Child,
    pub addr: SocketAddr,
    stderr_log: PathBuf,
    log_dir: PathBuf,
}

impl Rootward {
    /// Starts rootward listening on `listen` (UDP and TCP) with the given root
    /// hints, loopback upstreams allowed and debug logging, plus `extra_args`
    /// (plus `--no-dnssec` unless they contain `--trust-anchor`,
    /// `--no-dnssec` or `--dnssec-default`; the last is removed).
    /// Waits up to 10 s until it answers a UDP query (any rcode counts);
    /// panics with its stderr if it exits or never answers.
    pub fn start(listen: SocketAddr, root_hints: &Path, extra_args: &[&str]) -> Rootward {
        let log_dir = unique_dir("rootward-proc");
        let stderr_log = log_dir.join("rootward.stderr");
        let err = fs::File::create(&stderr_log).expect("create rootward stderr log");
        let out = err.try_clone().expect("clone log handle");
        let bin = env!("CARGO_BIN_EXE_rootward");
        // Each process gets its own control socket (the default path is
        // shared by every rootward on the machine), unless the test names one.
        let control = log_dir.join("control.sock");
        let own_control: Vec<String> = if extra_args.contains(&"--control-socket") {
            Vec::new()
        } else {
            vec!["--control-socket".into(), control.display().to_string()]
        };
        // DNSSEC validation is on by default with the real root key, which
        // no test tree is signed with: unless the test passes its own
        // `--trust-anchor` (or `--no-dnssec`), validation is turned off. A
        // test that wants the built-in anchor passes `--dnssec-default`,
        // which is consumed here.
        let wants_default = extra_args.contains(&"--dnssec-default");
        let mut extra_args: Vec<&str> = extra_args
            .iter()
            .copied()
            .filter(|a| *a != "--dnssec-default")
            .collect();
        let chooses = extra_args
            .iter()
            .any(|a| a.starts_with("--trust-anchor") || *a == "--no-dnssec");
        if !wants_default && !chooses {
            extra_args.push("--no-dnssec");
        }
        let child = Command::new(bin)
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--root-hints")
            .arg(root_hints)
            .arg("--allow-loopback-upstream")
            .arg("--log-level")
            .arg("debug")
            .args(&own_control)
            .args(extra_args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let mut rw = Rootward {
            child,
            addr: listen,
            stderr_log,
            log_dir,
        };
        rw.wait_ready();
        rw
    }

    /// The control socket this process was started with (unless the test
    /// chose its own with `--control-socket`).
    pub fn control_socket(&self) -> PathBuf {
        self.log_dir.join("control.sock")
    }

    /// Runs `rootward ctl --socket SOCKET ARGS...` and returns (exit code,
    /// stdout, stderr).
    pub fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_rootward"))
            .arg("ctl")
            .arg("--socket")
            .arg(self.control_socket())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run rootward ctl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A client for this resolver (5 s timeout).
    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// Everything the process wrote to stderr (and stdout) so far, with ANSI
    /// colour sequences removed.
    pub fn stderr(&self) -> String {
        strip_ansi(&String::from_utf8_lossy(
            &fs::read(&self.stderr_log).unwrap_or_default(),
        ))
    }

    /// The path of the stderr log file.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr_log
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, waits up to 5 s and returns the exit status. Panics
    /// (after killing the process) if it does not exit in time.
    pub fn stop(mut self) -> ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        self.signal("TERM");
        match self.wait_for_exit(STOP_TIMEOUT) {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "rootward did not exit within {STOP_TIMEOUT:?} of SIGTERM\n{}",
                    self.tail()
                );
            }
        }
    }

    /// Last lines of stderr, for panic messages.
    pub fn tail(&self) -> String {
        let all = self.stderr();
        let lines: Vec<&str> = all.lines().collect();
        let start = lines.len().saturating_sub(TAIL_LINES);
        format!(
            "--- rootward stderr ({}; last {} of {} lines) ---\n{}",
            self.stderr_log.display(),
            lines.len() - start,
            lines.len(),
            lines[start..].join("\n")
        )
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let rounds = (limit.as_millis() / 20) as usize + 1;
        for _ in 0..rounds {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(e) => panic!("waiting for rootward failed: {e}"),
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.try_wait().ok().flatten()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let probe = Client::with_timeout(self.addr, Duration::from_millis(250));
        let rounds = (STARTUP_TIMEOUT.as_millis() / POLL.as_millis()) as usize + 1;
        for _ in 0..rounds {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "rootward exited during startup with {status}\n{}",
                    self.tail()
                );
            }
            let q = query(".", RecordType::NS);
            if probe.udp_raw(&q.to_vec().expect("encode probe")).is_some() {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "rootward did not answer a UDP query on {} within {STARTUP_TIMEOUT:?}\n{}",
            self.addr,
            self.tail()
        );
    }
}

impl Drop for Rootward {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal("TERM");
            if self.wait_for_exit(STOP_TIMEOUT).is_none() {
                eprintln!(
                    "rootward (pid {}) ignored SIGTERM; killing it",
                    self.child.id()
                );
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("{}", self.tail());
        } else {
            let _ = fs::remove_dir_all(&self.log_dir);
        }
    }
}

/// Writes a root hints file named `root.hints` into `dir`, in the standard
/// zone format, listing `servers` as the root's NS set with their addresses:
///
/// ```text
/// .                        3600000      NS    a.root.test.
/// a.root.test.             3600000      A     127.53.0.2
/// ```
pub fn write_root_hints(dir: &Path, servers: &[(&str, IpAddr)]) -> PathBuf {
    let mut text = String::from("; root hints for a rootward test tree\n");
    for (name, _) in servers {
        text.push_str(&format!(
            ".                        3600000      NS    {}\n",
            fqdn(name)
        ));
    }
    for (name, addr) in servers {
        let rtype = if addr.is_ipv4() { "A" } else { "AAAA" };
        text.push_str(&format!(
            "{:<24} 3600000      {rtype:<5} {addr}\n",
            fqdn(name)
        ));
    }
    let path = dir.join("root.hints");
    fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// Removes ANSI escape sequences (`ESC [ ... final-byte`) from log text.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..=~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
