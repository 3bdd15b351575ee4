//! Compact name keys and the table the policy looks them up in.
//!
//! A key is a domain name in lower-case wire form without the root label
//! (`www.Example.com.` → `\x03www\x07example\x03com`); the root is the
//! empty key. Any suffix of a key that starts at a label boundary is the
//! key of an ancestor, so the policy walks a question's ancestors by
//! slicing one buffer, without building a name per step.
//!
//! [`NameTable`] stores a million keys in one byte arena and three `u32`
//! arrays (an open-addressing hash index over entry numbers), about 30
//! bytes per name beside the name itself: no allocation per name, no
//! hickory `Name` per entry.

use std::hash::BuildHasher;

use hickory_proto::rr::Name;

/// Longest key: a name in wire form is at most 255 bytes (RFC 1035
/// §3.1), its root label included.
pub const MAX_KEY_LEN: usize = 254;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Most labels a key can have (one length byte and one character each).
pub const MAX_LABELS: usize = MAX_KEY_LEN / 2;

/// A name's key in a fixed buffer, with where each label starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    bytes: [u8; MAX_KEY_LEN],
    len: usize,
    starts: [u8; MAX_LABELS],
    labels: usize,
}

impl Key {
    /// The key of `name` (lower-cased), or `None` for a name that does not
    /// fit (it cannot have come off the wire).
    pub fn from_name(name: &Name) -> Option<Key> {
        let mut key = Key::empty();
        for label in name.iter() {
            key.push_label(label)?;
        }
        Some(key)
    }

    /// The key of a dotted text name (`ads.example.com`, a final dot
    /// allowed; no escapes), lower-cased; `None` when it is not a valid
    /// host name for a list: an empty or over-long label, or a character
    /// outside letters, digits, `-`, `_` and `*`. One pass over the bytes
    /// (a million-line list is read through here).
    pub fn from_text(text: &str) -> Option<Key> {
        let t = text.as_bytes();
        let t = t.strip_suffix(b".").unwrap_or(t);
        let mut key = Key::empty();
        if t.is_empty() {
            return Some(key);
        }
        if t.len() + 1 > MAX_KEY_LEN {
            return None;
        }
        // `len_at`: where the current label's length byte goes.
        let (mut len_at, mut pos) = (0usize, 1usize);
        key.labels = 1;
        for &c in t {
            if c == b'.' {
                let len = pos - len_at - 1;
                if len == 0 || len > MAX_LABEL_LEN || key.labels >= MAX_LABELS {
                    return None;
                }
                key.bytes[len_at] = len as u8;
                len_at = pos;
                key.starts[key.labels] = len_at as u8;
                key.labels += 1;
            } else {
                let m = HOST_CHAR[usize::from(c)];
                if m == 0 {
                    return None;
                }
                key.bytes[pos] = m;
            }
            pos += 1;
        }
        let len = pos - len_at - 1;
        if len == 0 || len > MAX_LABEL_LEN {
            return None;
        }
        key.bytes[len_at] = len as u8;
        key.len = pos;
        Some(key)
    }

    fn empty() -> Key {
        Key {
            bytes: [0; MAX_KEY_LEN],
            len: 0,
            starts: [0; MAX_LABELS],
            labels: 0,
        }
    }

    fn push_label(&mut self, label: &[u8]) -> Option<()> {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return None;
        }
        let end = self.len + 1 + label.len();
        if end > MAX_KEY_LEN || self.labels >= MAX_LABELS {
            return None;
        }
        self.starts[self.labels] = u8::try_from(self.len).ok()?;
        self.bytes[self.len] = label.len() as u8;
        for (dst, src) in self.bytes[self.len + 1..end].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        self.len = end;
        self.labels += 1;
        Some(())
    }

    /// The whole key.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Number of labels.
    pub fn labels(&self) -> usize {
        self.labels
    }

    /// The key of the ancestor `up` labels above (0 is the name itself,
    /// `labels()` the root).
    pub fn ancestor(&self, up: usize) -> &[u8] {
        match self.starts[..self.labels].get(up) {
            Some(&start) => &self.bytes[usize::from(start)..self.len],
            None => &[],
        }
    }

    /// The last label's key (the top-level domain), empty for the root.
    pub fn top(&self) -> &[u8] {
        if self.labels == 0 {
            &[]
        } else {
            self.ancestor(self.labels - 1)
        }
    }

    /// Whether the first label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.bytes().starts_with(b"\x01*")
    }
}

/// A 256-bit filter of top-level labels: a question whose top-level label
/// has no bit set has no rule at or above it, and is settled without
/// building its key. With the default zones only (all under `arpa.`) that
/// is nearly every question, for about ten instructions.
#[derive(Debug, Clone, Default)]
pub struct TopFilter {
    bits: [u64; 4],
}

impl TopFilter {
    fn bit(label: &[u8]) -> usize {
        let first = label.first().map_or(0, |b| b.to_ascii_lowercase());
        let last = label.last().map_or(0, |b| b.to_ascii_lowercase());
        (label.len() * 7 + usize::from(first) * 31 + usize::from(last)) & 255
    }

    /// Adds a label (any case).
    pub fn insert(&mut self, label: &[u8]) {
        let b = Self::bit(label);
        self.bits[b / 64] |= 1 << (b % 64);
    }

    /// False when no inserted label is `label` (case-insensitively).
    #[inline]
    pub fn might_hold(&self, label: &[u8]) -> bool {
        let b = Self::bit(label);
        self.bits[b / 64] & (1 << (b % 64)) != 0
    }
}

/// A key back in dotted text (`ads.example.com.`), for messages.
pub fn key_text(key: &[u8]) -> String {
    if key.is_empty() {
        return ".".to_string();
    }
    let mut out = String::with_capacity(key.len() + 1);
    let mut rest = key;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        out.push_str(&String::from_utf8_lossy(&tail[..len]));
        out.push('.');
        rest = &tail[len..];
    }
    out
}

/// The key as a hickory name (for records and messages).
pub fn key_name(key: &[u8]) -> Name {
    let mut labels = Vec::new();
    let mut rest = key;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        labels.push(&tail[..len]);
        rest = &tail[len..];
    }
    Name::from_labels(labels).unwrap_or_else(|_| Name::root())
}

/// Bytes allowed in a list's host names, lower-cased; 0 for the rest.
static HOST_CHAR: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'*' => b,
            b'A'..=b'Z' => b + 32,
            _ => 0,
        };
        c += 1;
    }
    t
};

/// Seed of the table's hash: fixed, so that a table's layout does not
/// change between runs (the keys come from the operator's own files).
const HASH_SEED: u64 = 0x5eed_0f70_0111_57ed;
/// Entry number meaning an empty slot.
const EMPTY: u32 = u32::MAX;

/// A hash table from keys to `u32` values, built once, read by every
/// query. Entries live in one arena; the index is open addressing with
/// linear probing, at most half full.
#[derive(Debug, Clone)]
pub struct NameTable {
    arena: Vec<u8>,
    /// Entry i's key is `arena[ends[i-1]..ends[i]]`.
    ends: Vec<u32>,
    values: Vec<u32>,
    slots: Vec<u32>,
    hasher: foldhash::fast::FixedState,
}

impl Default for NameTable {
    fn default() -> Self {
        Self {
            arena: Vec::new(),
            ends: Vec::new(),
            values: Vec::new(),
            slots: vec![EMPTY; 8],
            hasher: foldhash::fast::FixedState::with_seed(HASH_SEED),
        }
    }
}

impl NameTable {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Bytes held (arena and arrays), for the load report.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + 4 * (self.ends.capacity() + self.values.capacity() + self.slots.capacity())
    }

    fn key(&self, entry: usize) -> &[u8] {
        let start = if entry == 0 {
            0
        } else {
            self.ends[entry - 1] as usize
        };
        &self.arena[start..self.ends[entry] as usize]
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn find(&self, key: &[u8]) -> (usize, Option<usize>) {
        let mask = self.slots.len() - 1;
        let mut slot = (self.hasher.hash_one(key) as usize) & mask;
        loop {
            match self.slots[slot] {
                EMPTY => return (slot, None),
                entry => {
                    let entry = entry as usize;
                    if self.key(entry) == key {
                        return (slot, Some(entry));
                    }
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        self.find(key).1.map(|e| self.values[e])
    }

    /// Sets `key` to `f(old value)`; `None` when the arena would pass
    /// 4 GiB (the `u32` offsets' limit).
    pub fn upsert(&mut self, key: &[u8], f: impl FnOnce(Option<u32>) -> u32) -> Option<()> {
        match self.find(key) {
            (_, Some(entry)) => {
                self.values[entry] = f(Some(self.values[entry]));
            }
            (slot, None) => {
                let end = u32::try_from(self.arena.len() + key.len()).ok()?;
                let entry = u32::try_from(self.values.len())
                    .ok()
                    .filter(|&e| e != EMPTY)?;
                self.arena.extend_from_slice(key);
                self.ends.push(end);
                self.values.push(f(None));
                self.slots[slot] = entry;
                if self.values.len() * 2 > self.slots.len() {
                    self.grow();
                }
            }
        }
        Some(())
    }

    /// Makes room for `more` keys at once (one rehash instead of one per
    /// doubling while a large list is read).
    pub fn reserve(&mut self, more: usize) {
        let want = (self.values.len() + more)
            .saturating_mul(2)
            .next_power_of_two();
        if want > self.slots.len() {
            self.rehash(want);
        }
        self.ends.reserve(more);
        self.values.reserve(more);
    }

    fn grow(&mut self) {
        self.rehash(self.slots.len() * 2);
    }

    fn rehash(&mut self, size: usize) {
        self.slots = vec![EMPTY; size];
        let mask = size - 1;
        for entry in 0..self.values.len() {
            let mut slot = (self.hasher.hash_one(self.key(entry)) as usize) & mask;
            while self.slots[slot] != EMPTY {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = entry as u32;
        }
    }

    /// Frees what building left over.
    pub fn shrink(&mut self) {
        self.arena.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.values.shrink_to_fit();
    }

    /// Every key and value (tests, reports).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> {
        (0..self.values.len()).map(|e| (self.key(e), self.values[e]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lower_case_wire_and_walk_up() {
        let name = Name::from_ascii("WWW.Ads.Example.").unwrap();
        let key = Key::from_name(&name).unwrap();
        assert_eq!(key.bytes(), b"\x03www\x03ads\x07example");
        assert_eq!(key.labels(), 3);
        assert_eq!(key.ancestor(1), b"\x03ads\x07example");
        assert_eq!(key.ancestor(2), b"\x07example");
        assert_eq!(key.ancestor(3), b"");
        assert_eq!(key.top(), b"\x07example");
        let text = Key::from_text("www.ads.EXAMPLE.").unwrap();
        assert_eq!(text.bytes(), key.bytes());
        assert_eq!(key_text(key.bytes()), "www.ads.example.");
        assert_eq!(
            key_name(key.bytes()),
            Name::from_ascii("www.ads.example.").unwrap()
        );
        let mut tops = TopFilter::default();
        tops.insert(b"Arpa");
        assert!(tops.might_hold(b"ARPA") && tops.might_hold(b"arpa"));
        assert!(!tops.might_hold(b"com"));
    }

    #[test]
    fn text_keys_refuse_what_is_not_a_host_name() {
        for bad in ["a..b", "a b", "exa$mple.com", "ä.com", &"a".repeat(64)] {
            assert!(Key::from_text(bad).is_none(), "{bad}");
        }
        assert_eq!(Key::from_text(".").unwrap().bytes(), b"");
        assert!(Key::from_text("*.example.com").unwrap().is_wildcard());
    }

    #[test]
    fn table_stores_and_updates_many_keys() {
        let mut t = NameTable::default();
        for i in 0..10_000u32 {
            let k = Key::from_text(&format!("host{i}.example.com")).unwrap();
            t.upsert(k.bytes(), |_| i).unwrap();
        }
        assert_eq!(t.len(), 10_000);
        for i in (0..10_000u32).step_by(97) {
            let k = Key::from_text(&format!("HOST{i}.example.com")).unwrap();
            assert_eq!(t.get(k.bytes()), Some(i));
        }
        assert_eq!(t.get(b"\x07example"), None);
        let k = Key::from_text("host5.example.com").unwrap();
        t.upsert(k.bytes(), |old| old.unwrap_or(0) + 100).unwrap();
        assert_eq!(t.get(k.bytes()), Some(105));
        assert_eq!(t.len(), 10_000);
    }
}
