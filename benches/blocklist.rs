//! A blocklist of a million names: load time and resident memory of the
//! rootward process, beside Unbound given the same list as
//! `local-zone: "NAME" always_nxdomain` lines.
//!
//! `cargo bench --bench blocklist` generates a hosts-format list of
//! `BLOCKLIST_NAMES` names (default 1,000,000) in a temporary directory,
//! starts `rootward --blocklist FILE` on loopback, and measures the time
//! from the spawn to the first answer for a listed name (NXDOMAIN) and the
//! process's VmRSS then; the same without the list for the baseline; and,
//! when Debian's `unbound` is installed (`/usr/sbin/unbound`), the same for
//! Unbound with one thread. Each server is stopped after its measurement.
//! Bounded: one start per server, at most `STARTUP_TIMEOUT` each.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proc, STARTUP_TIMEOUT, env_num, exchange, rss_kib};

/// Names in the generated list.
const DEFAULT_NAMES: usize = 1_000_000;
/// How long a server gets to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// Port the servers listen on (loopback only).
const PORT: u16 = 5391;

/// The i-th listed name: three labels, about 25 characters, like the
/// ad and tracker hosts of real lists.
fn listed(i: usize) -> String {
    format!("ad{i}.tracker{}.example{}.com", i % 9_973, i % 97)
}

/// A query for `name` A with RD=1.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Rcode of a response.
fn rcode(reply: &[u8]) -> Option<u8> {
    reply.get(3).map(|b| b & 0x0f)
}

struct Measured {
    who: String,
    first_answer: Duration,
    rss_mib: f64,
}

/// Starts `cmd`, waits for an NXDOMAIN for `probe` (the list is loaded),
/// reads its RSS, stops it.
fn measure(
    who: &str,
    cmd: Command,
    log: PathBuf,
    probe: &str,
    want: u8,
) -> Result<Measured, String> {
    let server: SocketAddr = format!("127.0.0.1:{PORT}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let started = Instant::now();
    let mut proc = Proc::spawn(who, cmd, log, STOP_TIMEOUT)?;
    let q = query(0x4242, probe);
    let answered = common::wait_ready(
        std::slice::from_mut(&mut proc),
        usize::MAX,
        STARTUP_TIMEOUT,
        || exchange("127.0.0.1:0", server, &q, PROBE_TIMEOUT).and_then(|r| rcode(&r)) == Some(want),
    );
    let first_answer = started.elapsed();
    let result = match answered {
        Ok(_) => {
            let rss = rss_kib(proc.pid()).unwrap_or(0) as f64 / 1024.0;
            Ok(Measured {
                who: who.to_string(),
                first_answer,
                rss_mib: rss,
            })
        }
        Err(Some(why)) => Err(why),
        Err(None) => Err(format!(
            "{who}: no answer within {STARTUP_TIMEOUT:?}\n{}",
            proc.tail()
        )),
    };
    proc.stop();
    result
}

fn rootward(dir: &Path, list: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rootward"));
    cmd.args(["--listen", &format!("127.0.0.1:{PORT}")])
        .args(["--control-socket", "off", "--threads", "1", "--no-dnssec"])
        .args([
            "--root-hints",
            &dir.join("root.hints").display().to_string(),
        ])
        .args(["--allow-loopback-upstream"]);
    if let Some(list) = list {
        cmd.arg("--blocklist").arg(list);
    }
    cmd
}

fn main() {
    let names = env_num("blocklist", "BLOCKLIST_NAMES", DEFAULT_NAMES, 1, 10_000_000);
    let dir = std::env::temp_dir().join(format!("rootward-blocklist-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    // A root that answers nothing: the probes never need it (the listed
    // name is answered locally, the baseline's probe is in 10.in-addr.arpa).
    fs::write(
        dir.join("root.hints"),
        ". 3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.254\n",
    )
    .expect("root hints");
    let list = dir.join("hosts-block.txt");
    let mut text = String::with_capacity(names * 34);
    for i in 0..names {
        let _ = writeln!(text, "0.0.0.0 {}", listed(i));
    }
    fs::write(&list, &text).expect("write list");
    drop(text);
    let size_mib = fs::metadata(&list).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
    println!(
        "list: {names} names in hosts format, {size_mib:.1} MiB ({})",
        list.display()
    );
    let probe = listed(names - 1);

    let mut rows = Vec::new();
    match measure(
        "rootward, no list",
        rootward(&dir, None),
        dir.join("rootward-nolist.log"),
        "4.3.2.10.in-addr.arpa",
        3,
    ) {
        Ok(m) => rows.push(m),
        Err(e) => eprintln!("{e}"),
    }
    match measure(
        "rootward --blocklist",
        rootward(&dir, Some(&list)),
        dir.join("rootward.log"),
        &probe,
        3,
    ) {
        Ok(m) => rows.push(m),
        Err(e) => eprintln!("{e}"),
    }
    let unbound = Path::new("/usr/sbin/unbound");
    if unbound.exists() {
        let conf = dir.join("unbound.conf");
        let mut c = String::with_capacity(names * 50);
        let _ = write!(
            c,
            "server:\n  interface: 127.0.0.1@{PORT}\n  port: {PORT}\n  num-threads: 1\n  \
             do-daemonize: no\n  use-syslog: no\n  username: \"\"\n  chroot: \"\"\n  \
             pidfile: \"\"\n  directory: \"{}\"\n  access-control: 127.0.0.0/8 allow\n  \
             module-config: \"iterator\"\n  root-hints: \"{}\"\n",
            dir.display(),
            dir.join("root.hints").display()
        );
        for i in 0..names {
            let _ = writeln!(c, "  local-zone: \"{}\" always_nxdomain", listed(i));
        }
        fs::write(&conf, c).expect("unbound.conf");
        let mut cmd = Command::new(unbound);
        cmd.arg("-d").arg("-c").arg(&conf);
        match measure(
            "unbound (1 thread)",
            cmd,
            dir.join("unbound.log"),
            &probe,
            3,
        ) {
            Ok(m) => rows.push(m),
            Err(e) => eprintln!("{e}"),
        }
    } else {
        println!("(no /usr/sbin/unbound: `apt-get install unbound` to compare)");
    }
    println!("\n| server | start to first answer | resident memory |");
    println!("|---|---|---|");
    for m in &rows {
        println!(
            "| {} | {:.2} s | {:.0} MiB |",
            m.who,
            m.first_answer.as_secs_f64(),
            m.rss_mib
        );
    }
    let _ = fs::remove_dir_all(&dir);
}
