//! A small per-thread front for the answer cache, read first on the client
//! hot path ([`Cache::answer_hot`](super::Cache::answer_hot)).
//!
//! One cached query's path: the listener's thread hashes the question
//! once, looks in its own direct-mapped table of [`FRONT_SLOTS`] slots, and
//! on a match whose entry is still alive serves that entry without
//! touching the shared cache. Otherwise it asks the shared cache and keeps
//! what it found in the slot. A profile of the cached run put moka's read
//! (hashing, epoch pinning, recording the read for its eviction policy and
//! the housekeeping that replays those records) at a fifth of the whole
//! server's CPU per answer; this costs one comparison and a few loads.
//!
//! What keeps it true: a slot holds the same `Arc` entry the shared cache
//! held when it was read, so it never serves data the cache did not; an
//! expired entry is never served from here; the caller can refuse an entry
//! (one due for prefetch, one not yet validated) and the shared cache is
//! read instead; and a flush bumps the cache's generation, which every slot
//! is tagged with, so nothing flushed is served again. An entry replaced in
//! the shared cache before it expires (a prefetch's new answer) is picked
//! up when the old one becomes due for prefetch or expires.

use std::cell::RefCell;
use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};

use super::answer::CachedAnswer;
use super::fingerprint::Fingerprint;

/// Slots per thread, a power of two. 4,096 covers the names a busy
/// resolver answers most often; each slot holds one question and its
/// entry (about 100 bytes plus the entry the shared cache holds anyway).
pub const FRONT_SLOTS: usize = 4096;

/// Which cache and which of its generations a slot was filled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tag {
    /// The [`Cache`](super::Cache)'s own number (several exist in tests).
    pub cache: u64,
    /// Bumped by every flush of that cache.
    pub generation: u64,
}

struct Slot {
    tag: Tag,
    fingerprint: Fingerprint,
    qtype: RecordType,
    name: Name,
    entry: Arc<CachedAnswer>,
}

thread_local! {
    static FRONT: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
}

fn index(fingerprint: Fingerprint) -> usize {
    // The low bits of a random-seeded hash: spread evenly.
    (fingerprint.bits() as usize) & (FRONT_SLOTS - 1)
}

/// The entry this thread keeps for `name`/`qtype` from the cache `tag`.
pub(super) fn get(
    tag: Tag,
    fingerprint: Fingerprint,
    name: &Name,
    qtype: RecordType,
) -> Option<Arc<CachedAnswer>> {
    FRONT.with_borrow(|slots| {
        let slot = slots.get(index(fingerprint))?.as_ref()?;
        (slot.tag == tag
            && slot.fingerprint == fingerprint
            && slot.qtype == qtype
            && slot.name == *name)
            .then(|| slot.entry.clone())
    })
}

/// Keeps `entry` for `name`/`qtype` in this thread's slot for it.
pub(super) fn put(
    tag: Tag,
    fingerprint: Fingerprint,
    name: &Name,
    qtype: RecordType,
    entry: Arc<CachedAnswer>,
) {
    FRONT.with_borrow_mut(|slots| {
        if slots.is_empty() {
            slots.resize_with(FRONT_SLOTS, || None);
        }
        let slot = Slot {
            tag,
            fingerprint,
            qtype,
            name: name.clone(),
            entry,
        };
        if let Some(s) = slots.get_mut(index(fingerprint)) {
            *s = Some(slot);
        }
    });
}
