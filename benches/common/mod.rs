//! Helpers shared by the process-driving benches (compare, dnssec_cost,
//! soak, upstream_queries): environment knobs, child processes stopped by
//! their own PID with a bounded wait, bounded commands, Debian packages
//! through apt-get, /proc readings, the rootward revision, dnsperf, and the
//! number formats of the tables.
//!
//! Used from each bench with `mod common;` (Cargo does not build files in a
//! subdirectory of benches/ as benches of their own). Where the benches
//! differ in a detail (a message's prefix, a timeout, a search path), the
//! detail is a parameter here.

// Each bench is its own crate and uses only a subset of these helpers; the
// rest would warn as dead code in that crate.
#![allow(dead_code)]

use std::fs;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Environment knobs
// ---------------------------------------------------------------------------

/// A resolver gets this long to answer its first probe.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// apt-get gets this long per invocation (a first `apt-get update` and the
/// peers' packages on a slow mirror).
pub const APT_TIMEOUT: Duration = Duration::from_secs(600);
/// dnsperf gets its run time plus this much before it is killed.
pub const DNSPERF_GRACE: Duration = Duration::from_secs(20);

/// `key` parsed as a number in `min..=max`: `Ok(None)` when unset,
/// `Err(value)` when set to something else.
fn env_parse<T>(key: &str, min: T, max: T) -> Result<Option<T>, String>
where
    T: std::str::FromStr + PartialOrd + Copy,
{
    match std::env::var(key) {
        Ok(v) => match v.trim().parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(Some(n)),
            _ => Err(v),
        },
        Err(_) => Ok(None),
    }
}

/// A numeric knob from the environment; a value that is not a number in
/// `min..=max` is reported (as `bench: ...`) and replaced by `default`.
pub fn env_num<T>(bench: &str, key: &str, default: T, min: T, max: T) -> T
where
    T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display,
{
    match env_parse(key, min, max) {
        Ok(n) => n.unwrap_or(default),
        Err(v) => {
            eprintln!("{bench}: {key}={v:?} is not a number in {min}..={max}; using {default}");
            default
        }
    }
}

/// Like [`env_num`], but a bad value is replaced by `default` silently.
pub fn env_num_quiet<T>(key: &str, default: T, min: T, max: T) -> T
where
    T: std::str::FromStr + PartialOrd + Copy,
{
    env_parse(key, min, max).ok().flatten().unwrap_or(default)
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// Polls `child` until it exits or `limit` passes.
pub fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    for _ in 0..(limit.as_millis() / 20 + 1) {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            break;
        }
        sleep(Duration::from_millis(20));
    }
    child.try_wait().ok().flatten()
}

/// SIGTERM to one PID (our own child's), nothing else.
pub fn send_term(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last `lines` lines of `log`, under a `--- {title} ({log}) ---` line.
pub fn log_tail(title: &str, log: &Path, lines: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    format!(
        "--- {title} ({}) ---\n{}",
        log.display(),
        all[from..].join("\n")
    )
}

/// A child process with its stdout and stderr in a log; stopped (by its own
/// PID only) on drop.
pub struct Proc {
    pub child: Child,
    pub what: String,
    pub log: PathBuf,
    /// How long [`Proc::stop`] waits after SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
    /// How many log lines [`Proc::tail`] shows.
    pub tail_lines: usize,
    /// Whether [`Proc::stop`] says how long the process took to stop.
    pub timed_stop: bool,
}

impl Proc {
    /// Starts `cmd` (stdin closed, output to `log`); shows 20 log lines and
    /// an untimed stop message unless the fields are changed.
    pub fn spawn(
        what: &str,
        mut cmd: Command,
        log: PathBuf,
        stop_timeout: Duration,
    ) -> Result<Proc, String> {
        let out = fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        Ok(Proc {
            child,
            what: what.to_string(),
            log,
            stop_timeout,
            tail_lines: 20,
            timed_stop: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM to our child's PID, a bounded wait, then SIGKILL.
    pub fn stop(&mut self) -> String {
        if let Some(status) = self.exited() {
            return format!("had already exited ({status})");
        }
        let pid = self.child.id();
        send_term(pid);
        let asked = Instant::now();
        let limit = self.stop_timeout;
        match wait_child(&mut self.child, limit) {
            Some(status) if self.timed_stop => {
                format!("stopped by SIGTERM in {:.1?} ({status})", asked.elapsed())
            }
            Some(status) => format!("stopped by SIGTERM ({status})"),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                format!("ignored SIGTERM for {limit:?}; killed (pid {pid})")
            }
        }
    }

    pub fn tail(&self) -> String {
        log_tail(&self.what, &self.log, self.tail_lines)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.stop();
        }
    }
}

/// Polls `ready` every 50 ms, at most `tries` times and until `limit`,
/// while all of `procs` run: the time it took, or `Err(Some(why))` when one
/// exited, `Err(None)` when `ready` never held.
pub fn wait_ready(
    procs: &mut [Proc],
    tries: usize,
    limit: Duration,
    ready: impl Fn() -> bool,
) -> Result<Duration, Option<String>> {
    let start = Instant::now();
    for _ in 0..tries {
        for p in procs.iter_mut() {
            if let Some(status) = p.exited() {
                return Err(Some(format!(
                    "{} exited during startup ({status})\n{}",
                    p.what,
                    p.tail()
                )));
            }
        }
        if ready() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= limit {
            break;
        }
        sleep(Duration::from_millis(50));
    }
    Err(None)
}

/// Runs a command to completion within `limit` (killing it after), with its
/// stdout and stderr in `log`; returns (success, the log's text).
pub fn run_logged(cmd: &mut Command, limit: Duration, log: &Path) -> (bool, String) {
    let Ok(out) = fs::File::create(log) else {
        return (false, format!("cannot create {}", log.display()));
    };
    let Ok(err) = out.try_clone() else {
        return (false, "cannot clone a log file".into());
    };
    let mut child = match cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot run: {e}")),
    };
    let status = match wait_child(&mut child, limit) {
        Some(s) => Some(s),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    };
    let text = fs::read_to_string(log).unwrap_or_default();
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("{text}\n(timed out after {limit:?})")),
    }
}

/// Like [`run_logged`] with a throwaway log, `{tag}-{pid}.log` in the temp
/// directory.
pub fn run_bounded(cmd: &mut Command, limit: Duration, tag: &str) -> (bool, String) {
    let tmp = std::env::temp_dir().join(format!("{tag}-{}.log", std::process::id()));
    let r = run_logged(cmd, limit, &tmp);
    let _ = fs::remove_file(&tmp);
    r
}

// ---------------------------------------------------------------------------
// Programs and packages
// ---------------------------------------------------------------------------

/// `name` in $PATH, then in `extra` directories.
pub fn find_program(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(extra.iter().copied())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// First line of `bin args` (stdout, else stderr) that contains `needle`.
pub fn version_line(bin: &Path, args: &[&str], needle: &str) -> Option<String> {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.contains(needle))
        .map(|l| l.trim().to_string())
}

/// Keeps packages from starting their services during an install (Debian's
/// policy-rc.d convention, exit 101 = "not allowed"), unless the machine
/// already has a policy; true when this wrote one (remove it with
/// [`allow_service_starts`]).
pub fn deny_service_starts(bench: &str) -> bool {
    let policy = Path::new("/usr/sbin/policy-rc.d");
    !policy.exists()
        && fs::write(
            policy,
            format!("#!/bin/sh\n# temporary, {bench} bench\nexit 101\n"),
        )
        .is_ok()
        && Command::new("chmod")
            .args(["755", "/usr/sbin/policy-rc.d"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Removes the policy [`deny_service_starts`] wrote, if it wrote one.
pub fn allow_service_starts(made: bool) {
    if made {
        let _ = fs::remove_file("/usr/sbin/policy-rc.d");
    }
}

/// `apt-get install -y --no-install-recommends pkgs`, non-interactive.
pub fn apt_install_cmd(pkgs: &[&str]) -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.args(["install", "-y", "--no-install-recommends"])
        .args(pkgs)
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// `apt-get update`, non-interactive.
pub fn apt_update_cmd() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.arg("update").env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// Stops and disables the services a package we just installed may have
/// started; only those services, through the service manager. `find` looks
/// programs up; `tag` names the throwaway log.
pub fn stop_packaged_services(services: &[&str], find: fn(&str) -> Option<PathBuf>, tag: &str) {
    for svc in services {
        if find("systemctl").is_some() && Path::new("/run/systemd/system").exists() {
            for verb in ["stop", "disable"] {
                let _ = run_bounded(
                    Command::new("systemctl").args([verb, &format!("{svc}.service")]),
                    Duration::from_secs(30),
                    tag,
                );
            }
        } else if find("service").is_some() && Path::new("/etc/init.d").join(svc).exists() {
            let _ = run_bounded(
                Command::new("service").args([svc, "stop"]),
                Duration::from_secs(30),
                tag,
            );
        }
    }
}

/// How a bench installs the Debian packages it is missing.
pub struct Install<'a> {
    /// The bench's name, in the temporary policy-rc.d.
    pub bench: &'a str,
    /// (package, program it provides, services it may start).
    pub packages: &'a [(&'a str, &'a str, &'a [&'a str])],
    /// Looks programs up.
    pub find: fn(&str) -> Option<PathBuf>,
    /// `Some(variable)` when the environment forbids installing.
    pub forbidden_by: Option<&'a str>,
    /// The apt-get options shown in the "installing" line.
    pub shown_options: &'a str,
    /// The bound on each apt-get run.
    pub timeout: Duration,
    /// The throwaway log's tag for stopping services.
    pub tag: &'a str,
}

impl Install<'_> {
    /// Installs the packages whose program is missing (logs in `out`);
    /// returns notes.
    pub fn run(&self, out: &Path) -> Vec<String> {
        let find = self.find;
        let missing: Vec<&(&str, &str, &[&str])> = self
            .packages
            .iter()
            .filter(|(_, bin, _)| find(bin).is_none())
            .collect();
        if missing.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = missing.iter().map(|(p, _, _)| *p).collect();
        if let Some(var) = self.forbidden_by {
            return vec![format!("not installed ({var} set): {}", names.join(" "))];
        }
        if find("apt-get").is_none() {
            return vec![format!("not installed and no apt-get: {}", names.join(" "))];
        }
        println!(
            "installing from Debian: apt-get install -y {}{}",
            self.shown_options,
            names.join(" ")
        );
        let made_policy = deny_service_starts(self.bench);
        let log = out.join("apt.log");
        let install = |pkgs: &[&str]| run_logged(&mut apt_install_cmd(pkgs), self.timeout, &log);
        let (mut ok, _) = install(&names);
        if !ok {
            println!("apt-get install failed; running `apt-get update` and trying again");
            let _ = run_logged(
                &mut apt_update_cmd(),
                self.timeout,
                &out.join("apt-update.log"),
            );
            (ok, _) = install(&names);
            if !ok {
                // One at a time, so one unavailable package spares the others.
                for p in &names {
                    let _ = install(&[p]);
                }
            }
        }
        allow_service_starts(made_policy);
        let mut notes = Vec::new();
        for (pkg, bin, services) in missing {
            if find(bin).is_some() {
                stop_packaged_services(services, find, self.tag);
            } else {
                notes.push(format!(
                    "{pkg}: apt-get install failed (see {})",
                    log.display()
                ));
            }
        }
        notes
    }
}

// ---------------------------------------------------------------------------
// /proc readings and the machine
// ---------------------------------------------------------------------------

/// The kernel's clock ticks per second (`getconf CLK_TCK`, else 100).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// [`clock_ticks`], asked once per process.
pub fn clock_ticks_cached() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(clock_ticks)
}

/// (utime, stime), in clock ticks, of a `stat` file (a process's covers
/// all its threads).
pub fn stat_ticks(path: &str) -> Option<(u64, u64)> {
    let text = fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // state is field 3, utime 14, stime 15.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.get(11)?.parse::<u64>().ok()?,
        f.get(12)?.parse::<u64>().ok()?,
    ))
}

/// utime + stime of a process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let (user, system) = stat_ticks(&format!("/proc/{pid}/stat"))?;
    Some(user + system)
}

/// (busy, total) jiffies of the whole machine, from /proc/stat.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// A field of /proc/PID/status or smaps_rollup, in kB.
pub fn kb_field(path: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A process's resident set (VmRSS), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    kb_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The running kernel's release.
pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `cpus` CPUs, their model and the kernel, on one line.
pub fn machine(cpus: usize) -> String {
    let kernel = kernel_release();
    let model = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs (nproc), {model}, Linux {kernel}")
}

// ---------------------------------------------------------------------------
// rootward
// ---------------------------------------------------------------------------

/// The revision built (short hash, or "unknown") and the files under src/
/// (and Cargo.toml) that differ from it: the binary is built from the work
/// tree as it is.
pub fn rootward_revision() -> (String, Vec<String>) {
    let root = env!("CARGO_MANIFEST_DIR");
    let rev = Command::new("git")
        .args(["-C", root, "rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let dirty: Vec<String> = Command::new("git")
        .args([
            "-C",
            root,
            "status",
            "--porcelain",
            "--",
            "src",
            "Cargo.toml",
        ])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.get(3..).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (rev, dirty)
}

/// `rootward VERSION at REV`, then `dirty_note` when src/ has uncommitted
/// changes.
pub fn rootward_version(dirty_note: &str) -> String {
    let (rev, dirty) = rootward_revision();
    format!(
        "rootward {} at {rev}{}",
        env!("CARGO_PKG_VERSION"),
        if dirty.is_empty() { "" } else { dirty_note }
    )
}

// ---------------------------------------------------------------------------
// DNS over UDP
// ---------------------------------------------------------------------------

pub fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7);
    (nanos ^ (nanos >> 16)) as u16
}

/// A header-only query (QDCOUNT=0, RD=1) with ID `id`.
pub fn header_only_query(id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(12);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    q
}

/// Sends one datagram from a socket bound to `bind` and returns the first
/// reply carrying the same ID.
pub fn exchange(
    bind: &str,
    server: SocketAddr,
    bytes: &[u8],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind(bind).ok()?;
    sock.connect(server).ok()?;
    sock.send(bytes).ok()?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    for _ in 0..64 {
        let left = deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        sock.set_read_timeout(Some(left)).ok()?;
        match sock.recv(&mut buf) {
            Ok(n) if n >= 2 && buf[..2] == bytes[..2] => return Some(buf[..n].to_vec()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    None
}

// ---------------------------------------------------------------------------
// dnsperf
// ---------------------------------------------------------------------------

/// The dnsperf program and its version line.
pub struct Dnsperf {
    pub bin: PathBuf,
    pub version: String,
}

impl Dnsperf {
    /// dnsperf at `bin`, with the version `dnsperf -h` reports.
    pub fn at(bin: PathBuf) -> Dnsperf {
        let version = version_line(&bin, &["-h"], "Version")
            .map(|l| format!("dnsperf {}", l.trim_start_matches("Version").trim()))
            .unwrap_or_else(|| "dnsperf (version unknown)".into());
        Dnsperf { bin, version }
    }
}

/// The last 10 lines of a failed dnsperf run's log, as an error.
pub fn dnsperf_failure(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(10).collect();
    format!(
        "dnsperf failed: {}",
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )
}

/// What dnsperf's summary says, read line by line with
/// [`DnsperfSummary::line`].
#[derive(Clone, Debug, Default)]
pub struct DnsperfSummary {
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    pub qps: f64,
    /// Whether the "Queries per second:" line was there.
    pub found_qps: bool,
    /// Seconds dnsperf ran.
    pub runtime: f64,
    pub avg_latency: Option<f64>,
    /// Average response size in bytes.
    pub response_bytes: Option<f64>,
    /// The "Response codes:" line, as printed.
    pub rcodes: String,
    pub noerror: u64,
    /// The names file ran out before the time limit.
    pub exhausted: bool,
}

impl DnsperfSummary {
    /// Takes in one (trimmed) line of dnsperf's output.
    pub fn line(&mut self, l: &str) {
        let num = dnsperf_num;
        if l.starts_with("Queries sent:") {
            self.sent = num(l).unwrap_or(0.0) as u64;
        } else if l.starts_with("Queries completed:") {
            self.completed = num(l).unwrap_or(0.0) as u64;
        } else if l.starts_with("Queries lost:") {
            self.lost = num(l).unwrap_or(0.0) as u64;
        } else if l.starts_with("Queries per second:") {
            self.qps = num(l).unwrap_or(0.0);
            self.found_qps = true;
        } else if let Some(sizes) = l.strip_prefix("Average packet size:") {
            // "Average packet size:  request 33, response 45"
            self.response_bytes = sizes
                .split(',')
                .find_map(|p| p.trim().strip_prefix("response "))
                .and_then(|n| n.trim().parse().ok());
        } else if l.starts_with("Run time (s):") {
            self.runtime = num(l).unwrap_or(0.0);
        } else if l.starts_with("Average Latency (s):") {
            self.avg_latency = num(l);
        } else if let Some(codes) = l.strip_prefix("Response codes:") {
            // "Response codes:       NOERROR 1000 (100.00%), SERVFAIL 2 (..)"
            self.rcodes = codes.trim().to_string();
            self.noerror = dnsperf_noerror(codes);
        } else if l.starts_with("[Status] Testing complete (end of file)") {
            self.exhausted = true;
        }
    }
}

/// The number after the colon of a dnsperf summary line.
fn dnsperf_num(l: &str) -> Option<f64> {
    l.split(':')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
}

/// The NOERROR count of dnsperf's "Response codes:" line, after the colon
/// ("NOERROR 1000 (100.00%), SERVFAIL 2 (..)").
fn dnsperf_noerror(codes: &str) -> u64 {
    let mut noerror = 0;
    for part in codes.split(',') {
        let mut w = part.split_whitespace();
        if w.next() == Some("NOERROR") {
            noerror = w.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        }
    }
    noerror
}

// ---------------------------------------------------------------------------
// Numbers and table cells
// ---------------------------------------------------------------------------

pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// An integer with thousands separators.
pub fn f_int(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Seconds, shown in milliseconds.
pub fn f_ms(v: f64) -> String {
    format!("{:.3} ms", v * 1000.0)
}

pub fn f_us(v: f64) -> String {
    format!("{v:.1} µs")
}

pub fn f_3(v: f64) -> String {
    format!("{v:.3}")
}

/// [`f_ms`], or "n/a".
pub fn fmt_ms(s: Option<f64>) -> String {
    s.map(f_ms).unwrap_or_else(|| "n/a".into())
}

// ---------------------------------------------------------------------------
// Preconditions of a run
// ---------------------------------------------------------------------------

/// Exits (status 1, saying why as `bench: ...`) unless this process can
/// bind `ip` port 53: the bench's servers need root.
pub fn require_port_53(bench: &str, ip: std::net::Ipv4Addr) {
    match UdpSocket::bind((ip, 53)) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            eprintln!("{bench}: binding port 53 needs root ({e}); nothing measured");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{bench}: cannot bind {ip}:53: {e}");
            std::process::exit(1);
        }
    }
}

/// `dnsperf`, or an exit (status 1) that says so and prints `notes`.
pub fn require_dnsperf(bench: &str, dnsperf: Option<Dnsperf>, notes: &[String]) -> Dnsperf {
    let Some(dp) = dnsperf else {
        eprintln!("{bench}: dnsperf is not available; nothing measured");
        for n in notes {
            eprintln!("note: {n}");
        }
        std::process::exit(1);
    };
    dp
}
