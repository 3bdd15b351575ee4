//! Resident memory per cached name, in-process: the cache filled the way a
//! walk fills it for an A question answered by an authoritative server
//! (the final answer stored under the question, in wire form; the walk
//! keeps no second copy in the RRset cache), then
//! `VmRSS` from /proc/self/status before and after.
//!
//! `cargo bench --bench cache_memory` (`CACHE_MEMORY_NAMES`, default
//! 100000). A bounded loop; no sockets.

use std::time::Duration;

use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rootward::cache::{Cache, QuestionKey, TtlPolicy};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let names: u64 = std::env::var("CACHE_MEMORY_NAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
        .clamp(1, 10_000_000);
    let cache = Cache::new(
        names * 4,
        TtlPolicy::new(
            Duration::ZERO,
            Duration::from_secs(86_400),
            Duration::from_secs(3_600),
        ),
        Duration::from_secs(86_400),
    );
    let now = 1_000_000;
    let before = rss_kib();
    for i in 0..names {
        let name = Name::from_ascii(format!("w{i}.miss.bench.")).expect("name");
        let record = Record::from_rdata(name.clone(), 86_400, RData::A(A([192, 0, 2, 1].into())));
        let key = QuestionKey::new(&name, RecordType::A);
        cache.store_positive(key.clone(), vec![record], now);
    }
    let entries = cache.entry_count();
    let after = rss_kib();
    let per_name = (after.saturating_sub(before) as f64) * 1024.0 / names as f64;
    println!(
        "cache_memory: {names} names, {entries} cache entries, RSS {before} KiB -> {after} KiB: {per_name:.0} bytes per name"
    );
}
