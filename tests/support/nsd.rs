//! A loopback DNS tree served by NSD.
//!
//! Given a declarative list of zones `(zone name, server IPv4 address on
//! 127.0.0.0/8, zone file text)`, [`NsdTree::start`] writes zone files and one
//! `nsd.conf` per server address into a fresh directory under the system temp
//! dir, starts one foreground `nsd -d -c <conf>` per address (listening on
//! `<addr>@53`: a resolver always queries port 53), and waits until every
//! server answers an authoritative SOA query for each of its zones.
//!
//! Dropping the tree stops ONLY the nsd processes it started (SIGTERM to the
//! PID of its own child, which takes its forked helpers down with it; SIGKILL
//! as a bounded fallback) and removes the directory. No system nsd is used or
//! touched.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::client::{Client, summary};

/// How long to wait for all servers of a tree to answer.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval while waiting for servers to come up.
const POLL: Duration = Duration::from_millis(50);
/// How long a server gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

const NOT_INSTALLED: &str =
    "nsd is not installed: run `apt-get install -y nsd` (the e2e suite never skips)";

/// One zone of a tree.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Apex, e.g. `"."`, `"test."`, `"example.test."`.
    pub name: String,
    /// Address (on 127.0.0.0/8) of the server serving it on port 53.
    pub server: Ipv4Addr,
    /// Zone file text (RFC 1035 master format). Relative names are relative
    /// to the apex: the file is loaded with `$ORIGIN` set to the zone name.
    pub text: String,
}

impl Zone {
    pub fn new(name: &str, server: Ipv4Addr, text: &str) -> Self {
        Self {
            name: fqdn(name),
            server,
            text: text.to_string(),
        }
    }
}

struct Server {
    addr: Ipv4Addr,
    dir: PathBuf,
    conf: PathBuf,
    zones: Vec<String>,
    child: Child,
}

/// A running set of NSD servers; see the module docs.
pub struct NsdTree {
    dir: PathBuf,
    servers: Vec<Server>,
}

impl NsdTree {
    /// Starts the tree described by `(zone name, server address, zone text)`
    /// triples. Several zones may share a server address. Panics (with the
    /// nsd logs) if nsd is missing, a zone does not load, or a server does not
    /// answer within 10 s.
    pub fn start(zones: &[(&str, Ipv4Addr, &str)]) -> NsdTree {
        let zones: Vec<Zone> = zones.iter().map(|(n, a, t)| Zone::new(n, *a, t)).collect();
        Self::start_zones(&zones)
    }

    /// Like [`NsdTree::start`], from [`Zone`] values.
    pub fn start_zones(zones: &[Zone]) -> NsdTree {
        let nsd = find_binary("nsd").unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
        let checkzone = find_binary("nsd-checkzone");
        assert!(!zones.is_empty(), "an NSD tree needs at least one zone");

        let dir = unique_dir("rootward-nsd");
        let mut tree = NsdTree {
            dir: dir.clone(),
            servers: Vec::new(),
        };

        // Group zones by server, keeping first-appearance order.
        let mut by_server: BTreeMap<Ipv4Addr, Vec<&Zone>> = BTreeMap::new();
        let mut order = Vec::new();
        for z in zones {
            assert!(
                z.server.octets()[0] == 127,
                "NSD tree servers must be on 127.0.0.0/8, got {} for zone {}",
                z.server,
                z.name
            );
            if !by_server.contains_key(&z.server) {
                order.push(z.server);
            }
            let list = by_server.entry(z.server).or_default();
            assert!(
                !list.iter().any(|o| o.name.eq_ignore_ascii_case(&z.name)),
                "zone {} listed twice for server {}",
                z.name,
                z.server
            );
            list.push(z);
        }

        for addr in order {
            let sdir = dir.join(addr.to_string());
            fs::create_dir_all(&sdir).expect("create nsd server dir");
            let mut zone_conf = String::new();
            let mut names = Vec::new();
            for z in &by_server[&addr] {
                let file = sdir.join(zone_file_name(&z.name));
                let text = format!("$ORIGIN {}\n{}\n", z.name, z.text);
                fs::write(&file, &text).expect("write zone file");
                if let Some(check) = &checkzone {
                    let out = Command::new(check)
                        .arg(&z.name)
                        .arg(&file)
                        .output()
                        .expect("run nsd-checkzone");
                    assert!(
                        out.status.success(),
                        "zone {} for {} does not load:\n{}{}\n--- zone file ---\n{}",
                        z.name,
                        addr,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr),
                        numbered(&text)
                    );
                }
                zone_conf.push_str(&format!(
                    "zone:\n    name: \"{}\"\n    zonefile: \"{}\"\n",
                    z.name,
                    file.display()
                ));
                names.push(z.name.clone());
            }
            let conf = sdir.join("nsd.conf");
            fs::write(&conf, server_conf(addr, &sdir) + &zone_conf).expect("write nsd.conf");

            let out = fs::File::create(sdir.join("nsd.stdout")).expect("create nsd stdout log");
            let err = out.try_clone().expect("clone log handle");
            let child = Command::new(&nsd)
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        panic!("{NOT_INSTALLED}");
                    }
                    panic!("cannot start {}: {e}", nsd.display())
                });
            tree.servers.push(Server {
                addr,
                dir: sdir,
                conf,
                zones: names,
                child,
            });
        }

        tree.wait_ready();
        tree
    }

    /// The tree's private directory (a good place for root hints and logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server addresses, in start order.
    pub fn servers(&self) -> Vec<Ipv4Addr> {
        self.servers.iter().map(|s| s.addr).collect()
    }

    /// The nsd log of the server at `addr` (empty if unknown).
    pub fn log(&self, addr: Ipv4Addr) -> String {
        self.servers
            .iter()
            .find(|s| s.addr == addr)
            .map(server_logs)
            .unwrap_or_default()
    }

    /// How many queries (UDP and TCP, every zone) the server at `addr` has
    /// received since it started, from `nsd-control stats_noreset` over the
    /// server's private control socket. Panics if the server is unknown or
    /// the statistics cannot be read.
    pub fn query_count(&self, addr: Ipv4Addr) -> u64 {
        let s = self
            .servers
            .iter()
            .find(|s| s.addr == addr)
            .unwrap_or_else(|| panic!("no nsd server at {addr} in this tree"));
        let control = find_binary("nsd-control").unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
        let out = Command::new(control)
            .arg("-c")
            .arg(&s.conf)
            .arg("stats_noreset")
            .stdin(Stdio::null())
            .output()
            .expect("run nsd-control");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("num.queries=")?.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no num.queries from nsd-control for {addr} ({}): {text}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    }

    /// All nsd logs, for failure messages.
    pub fn logs(&self) -> String {
        self.servers.iter().map(server_logs).collect()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut pending: Vec<(usize, String)> = self
            .servers
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.zones.iter().map(move |z| (i, z.clone())))
            .collect();
        let mut last = String::new();
        let max_rounds = (STARTUP_TIMEOUT.as_millis() / POLL.as_millis()) as usize + 1;
        for _ in 0..max_rounds {
            for s in &mut self.servers {
                if let Ok(Some(status)) = s.child.try_wait() {
                    let logs = server_logs(s);
                    panic!(
                        "nsd for {} exited during startup with {status}\n{logs}",
                        s.addr
                    );
                }
            }
            let servers = &self.servers;
            pending.retain(|(i, zone)| {
                let s = &servers[*i];
                let client = Client::with_timeout(
                    SocketAddr::new(IpAddr::V4(s.addr), 53),
                    Duration::from_millis(250),
                );
                let q = super::client::query(zone, RecordType::SOA);
                let Some(raw) = client.udp_raw(&q.to_vec().expect("encode")) else {
                    last = format!("{} did not answer SOA {zone}", s.addr);
                    return true;
                };
                match hickory_proto::op::Message::from_vec(&raw) {
                    Ok(m)
                        if m.metadata.response_code == ResponseCode::NoError
                            && m.metadata.authoritative
                            && m.answers.iter().any(|r| r.record_type() == RecordType::SOA) =>
                    {
                        false
                    }
                    Ok(m) => {
                        last = format!("{} answered SOA {zone} with {}", s.addr, summary(&m));
                        true
                    }
                    Err(e) => {
                        last = format!("{} sent an undecodable reply: {e}", s.addr);
                        true
                    }
                }
            });
            if pending.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "NSD tree not ready after {STARTUP_TIMEOUT:?}: {last}\n{}",
            self.logs()
        );
    }
}

impl Drop for NsdTree {
    fn drop(&mut self) {
        // SIGTERM every server first, then wait for all of them.
        let mut descendants = Vec::new();
        for s in &mut self.servers {
            if matches!(s.child.try_wait(), Ok(None)) {
                descendants.extend(
                    descendants_of(s.child.id())
                        .into_iter()
                        .map(|p| (p, s.conf.clone())),
                );
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(s.child.id().to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for s in &mut self.servers {
            let max_rounds = (STOP_TIMEOUT.as_millis() / 20) as usize + 1;
            let mut done = false;
            for _ in 0..max_rounds {
                if !matches!(s.child.try_wait(), Ok(None)) {
                    done = true;
                    break;
                }
                if Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !done {
                eprintln!("nsd for {} ignored SIGTERM; killing it", s.addr);
                let _ = s.child.kill();
                let _ = s.child.wait();
            }
        }
        // Helpers forked by our own nsd children normally exit with their
        // parent; if one lingers (parent was SIGKILLed), kill it by PID, but
        // only if it still runs our config.
        for (pid, conf) in descendants {
            let alive_and_ours = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&*conf.to_string_lossy()))
                .unwrap_or(false);
            if alive_and_ours {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "NSD tree logs (dir {} kept):\n{}",
                self.dir.display(),
                self.logs()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn server_conf(addr: Ipv4Addr, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "server:
    ip-address: {addr}@53
    port: 53
    do-ip4: yes
    do-ip6: no
    server-count: 1
    username: \"\"
    chroot: \"\"
    zonesdir: \"{d}\"
    pidfile: \"{d}/nsd.pid\"
    database: \"\"
    zonelistfile: \"{d}/zone.list\"
    xfrdfile: \"{d}/xfrd.state\"
    xfrdir: \"{d}\"
    logfile: \"{d}/nsd.log\"
    verbosity: 2
    hide-version: yes
    identity: \"nsd-{addr}\"
    refuse-any: no
    minimal-responses: no
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: yes
    control-interface: \"{d}/nsd.ctl\"
"
    )
}

fn server_logs(s: &Server) -> String {
    let read = |n: &str| fs::read_to_string(s.dir.join(n)).unwrap_or_default();
    format!(
        "--- nsd {} (zones {:?}, conf {}) ---\n{}{}",
        s.addr,
        s.zones,
        s.conf.display(),
        read("nsd.log"),
        read("nsd.stdout")
    )
}

/// Zone file name for an apex: `.` → `root.zone`, `example.test.` →
/// `example.test.zone`.
fn zone_file_name(zone: &str) -> String {
    let base = zone.trim_end_matches('.');
    if base.is_empty() {
        "root.zone".to_string()
    } else {
        let safe: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{safe}.zone")
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn numbered(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{:4} {l}\n", i + 1))
        .collect()
}

/// Looks a binary up in PATH and the usual sbin directories.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(d));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// A fresh, empty directory under the system temp dir.
pub fn unique_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Bounded: a handful of attempts with distinct names.
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create {}: {e}", dir.display()),
        }
    }
    panic!("cannot create a unique temp dir for {prefix}");
}

/// PIDs of all live descendants of `pid` (by scanning /proc).
fn descendants_of(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // Format: pid (comm) state ppid ...; comm may contain spaces.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                parent_of.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    // Bounded by the number of processes seen.
    for _ in 0..parent_of.len() {
        let Some(cur) = frontier.pop() else { break };
        for &(p, pp) in &parent_of {
            if pp == cur && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}
