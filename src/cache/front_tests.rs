//! The per-thread front ([`super::front`]) as [`Cache::answer_hot`] uses it:
//! what a client can be served after stores, replacements, flushes and
//! expiry, with several caches on one thread.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{Cache, CachedAnswer, QuestionKey, TtlPolicy};

fn cache() -> Cache {
    Cache::new(
        1000,
        TtlPolicy::new(
            Duration::ZERO,
            Duration::from_secs(3600),
            Duration::from_secs(600),
        ),
        Duration::ZERO,
    )
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

fn store_a(c: &Cache, owner: &str, last_octet: u8, ttl: u32, now: u64) {
    let record = Record::from_rdata(
        name(owner),
        ttl,
        RData::A(A(Ipv4Addr::new(192, 0, 2, last_octet))),
    );
    c.store_positive(
        QuestionKey::new(&name(owner), RecordType::A),
        vec![record],
        now,
    );
}

/// The last octet of the A record the hot path serves, if any.
fn served(c: &Cache, owner: &str, now: u64, accept: impl Fn(&CachedAnswer) -> bool) -> Option<u8> {
    let entry: Arc<CachedAnswer> = c.answer_hot(&name(owner), RecordType::A, now, accept)?;
    match entry.records().0.first().map(|r| r.data.clone()) {
        Some(RData::A(a)) => Some(a.0.octets()[3]),
        _ => None,
    }
}

#[test]
fn a_stored_answer_is_served_and_then_served_from_the_front_in_any_case() {
    let c = cache();
    store_a(&c, "www.example.", 1, 300, 1000);
    assert_eq!(served(&c, "www.example.", 1000, |_| true), Some(1));
    assert_eq!(served(&c, "WWW.Example.", 1001, |_| true), Some(1));
    assert_eq!(served(&c, "other.example.", 1001, |_| true), None);
}

#[test]
fn a_replaced_answer_is_picked_up_once_the_caller_refuses_the_old_one() {
    let c = cache();
    store_a(&c, "www.example.", 1, 300, 1000);
    assert_eq!(served(&c, "www.example.", 1000, |_| true), Some(1));
    store_a(&c, "www.example.", 2, 300, 1010);
    // The old entry was the cache's answer until just now, and is still
    // alive: the front may serve it...
    assert_eq!(served(&c, "www.example.", 1011, |_| true), Some(1));
    // ...until the caller refuses it (due for prefetch): the cache decides,
    // and the new answer takes the slot.
    assert_eq!(served(&c, "www.example.", 1012, |_| false), Some(2));
    assert_eq!(served(&c, "www.example.", 1013, |_| true), Some(2));
}

#[test]
fn nothing_flushed_is_served_from_the_front() {
    let c = cache();
    store_a(&c, "www.example.", 1, 300, 1000);
    store_a(&c, "mail.example.", 3, 300, 1000);
    assert_eq!(served(&c, "www.example.", 1000, |_| true), Some(1));
    assert_eq!(served(&c, "mail.example.", 1000, |_| true), Some(3));
    assert_eq!(c.flush_name(&name("www.example.")), 1);
    assert_eq!(served(&c, "www.example.", 1001, |_| true), None);
    // Not flushed: still served (from the cache again after the bump).
    assert_eq!(served(&c, "mail.example.", 1001, |_| true), Some(3));
    c.flush_all();
    assert_eq!(served(&c, "mail.example.", 1002, |_| true), None);
}

#[test]
fn an_expired_answer_is_never_served_from_the_front() {
    let c = cache();
    store_a(&c, "www.example.", 1, 60, 1000);
    assert_eq!(served(&c, "www.example.", 1000, |_| true), Some(1));
    assert_eq!(served(&c, "www.example.", 1059, |_| true), Some(1));
    assert_eq!(served(&c, "www.example.", 1060, |_| true), None);
}

#[test]
fn two_caches_on_one_thread_do_not_share_front_slots() {
    let (a, b) = (cache(), cache());
    store_a(&a, "www.example.", 1, 300, 1000);
    assert_eq!(served(&a, "www.example.", 1000, |_| true), Some(1));
    assert_eq!(served(&b, "www.example.", 1000, |_| true), None);
    store_a(&b, "www.example.", 2, 300, 1000);
    assert_eq!(served(&b, "www.example.", 1001, |_| true), Some(2));
    assert_eq!(served(&a, "www.example.", 1001, |_| true), Some(1));
}
