//! Runs saved inputs through a target on plain stable cargo, without the
//! fuzzer: `cargo run --release --bin replay -- TARGET FILE|DIR...`.
//! Prints each file and how long it took; a failing input panics with the
//! target's message (run with `RUST_BACKTRACE=1` for the backtrace).

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: replay TARGET FILE|DIR... (targets: request reply tcp_framing config trust_anchor)";
    let target = args.next().expect(usage);
    let run = rootward_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .expect(usage);
    let mut files: Vec<PathBuf> = Vec::new();
    for arg in args {
        let path = PathBuf::from(arg);
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
                .expect("read dir")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path);
        }
    }
    let started = Instant::now();
    let mut slowest = (std::time::Duration::ZERO, PathBuf::new());
    for file in &files {
        let data = std::fs::read(file).expect("read input");
        let t = Instant::now();
        run(&data);
        let took = t.elapsed();
        if took > slowest.0 {
            slowest = (took, file.clone());
        }
        if std::env::var_os("REPLAY_VERBOSE").is_some() {
            println!("{} {} bytes {:?}", file.display(), data.len(), took);
        }
    }
    println!(
        "{target}: {} inputs in {:?}, slowest {:?} ({})",
        files.len(),
        started.elapsed(),
        slowest.0,
        slowest.1.display()
    );
}
