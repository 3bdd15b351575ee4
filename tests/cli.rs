//! The binary's edge: --help, bad flags and config values, a port in use.
//! Each failure must be one line on stderr naming the option and the value,
//! with a non-zero exit, and never a hang (every run is time-bounded).

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs rootward with `args`, killing it if it has not exited in 10 s.
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rootward"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rootward");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rootward {args:?} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_one_line_error(o: &Output, must_contain: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected:\n{err}"
    );
    for s in must_contain {
        assert!(err.contains(s), "{s:?} missing from: {err}");
    }
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rootward-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn help_documents_every_option() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--listen",
        "--root-hints",
        "--trust-anchor",
        "--no-dnssec",
        "--config",
        "--cache-min-ttl",
        "--cache-max-ttl",
        "--cache-max-negative-ttl",
        "--cache-size",
        "--outgoing-address",
        "--no-ipv4",
        "--no-ipv6",
        "--allow-loopback-upstream",
        "--max-tcp-connections",
        "--tcp-idle-timeout",
        "--resolution-timeout",
        "--upstream-timeout",
        "--qname-minimisation",
        "--use-0x20",
        "--serve-stale-window",
        "--prefetch",
        "--failure-cache-ttl",
        "--log-level",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn bad_flag_values_name_the_flag_and_the_value() {
    assert_one_line_error(
        &run(&["--cache-min-ttl", "5 parsecs"]),
        &["--cache-min-ttl", "5 parsecs"],
    );
    assert_one_line_error(
        &run(&["--listen", "localhost:53"]),
        &["--listen", "localhost:53"],
    );
    assert_one_line_error(&run(&["--cache-size", "lots"]), &["--cache-size", "lots"]);
    assert_one_line_error(&run(&["--log-level", "loud"]), &["--log-level", "loud"]);
    assert_one_line_error(&run(&["--no-such-flag"]), &["--no-such-flag"]);
    assert_one_line_error(
        &run(&["--use-0x20", "sometimes"]),
        &["--use-0x20", "sometimes"],
    );
    assert_one_line_error(
        &run(&["--qname-minimisation", "aggressive"]),
        &["--qname-minimisation", "aggressive"],
    );
    assert_one_line_error(
        &run(&[
            "--cache-min-ttl",
            "2h",
            "--cache-max-ttl",
            "1h",
            "--listen",
            "127.57.0.1:0",
        ]),
        &["cache-min-ttl", "2h"],
    );
}

#[test]
fn bad_config_values_name_the_key_and_the_value() {
    let f = temp_file("bad-ttl.toml", "cache-max-ttl = \"forever\"\n");
    assert_one_line_error(
        &run(&["--config", f.to_str().unwrap()]),
        &["cache-max-ttl", "forever"],
    );
    let f = temp_file("unknown.toml", "cache-sise = 10\n");
    assert_one_line_error(&run(&["--config", f.to_str().unwrap()]), &["cache-sise"]);
    let f = temp_file("listen.toml", "listen = [\"not-an-address\"]\n");
    assert_one_line_error(
        &run(&["--config", f.to_str().unwrap()]),
        &["listen", "not-an-address"],
    );
    assert_one_line_error(
        &run(&["--config", "/nonexistent/rootward.toml"]),
        &["/nonexistent/rootward.toml"],
    );
    let hints = temp_file("hints", ". 3600 NS a.root.test.\n");
    assert_one_line_error(
        &run(&[
            "--root-hints",
            hints.to_str().unwrap(),
            "--listen",
            "127.57.0.2:0",
        ]),
        &["root hints", "no NS record"],
    );
}

#[test]
fn a_port_in_use_says_so() {
    let taken = UdpSocket::bind("127.57.0.3:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = run(&["--listen", &addr]);
    assert_one_line_error(&o, &[&addr, "address already in use"]);
}

#[test]
fn a_second_rootward_on_the_same_port_is_refused_despite_so_reuseport() {
    let addr = "127.57.0.5:5353";
    let mut first = Command::new(env!("CARGO_BIN_EXE_rootward"))
        .args([
            "--listen",
            addr,
            "--threads",
            "2",
            "--control-socket",
            "off",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the first rootward");
    // Wait until it answers: a header-only query gets FORMERR at once and
    // causes no upstream traffic.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    loop {
        probe
            .send_to(&[0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], addr)
            .unwrap();
        if probe.recv_from(&mut buf).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first rootward never answered"
        );
    }
    let second = run(&[
        "--listen",
        addr,
        "--threads",
        "2",
        "--control-socket",
        "off",
    ]);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(first.id().to_string())
        .status();
    let _ = first.wait();
    assert_one_line_error(&second, &[addr, "address already in use"]);
    assert_one_line_error(&run(&["--threads", "0"]), &["threads", "0"]);
}
