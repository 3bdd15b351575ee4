//! A cache key's fingerprint: a hash of its name (case-insensitively,
//! RFC 4343), type and class, computed once when the key is made.
//!
//! The cache's tables compare a sought key with each key along its probe
//! sequence. Comparing two names walks their labels with case folding
//! (hundreds of instructions each), and the miss path made about twenty
//! such lookups per question; comparing fingerprints first makes almost
//! every comparison with another key a single integer comparison, and the
//! table hashes eight bytes instead of the name.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use hickory_proto::rr::{DNSClass, Name, RecordType};

/// Hash of a key's name, type and class, seeded at random once per process:
/// names chosen from outside cannot be aimed at one fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// The fingerprint of `name`/`rtype`/`class`; equal names in any case
    /// give the same fingerprint.
    pub fn of(name: &Name, rtype: RecordType, class: DNSClass) -> Self {
        static SEED: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
        Self(
            SEED.get_or_init(Default::default)
                .hash_one((name, rtype, class)),
        )
    }

    /// The hash itself.
    pub fn bits(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_does_not_change_a_fingerprint_but_name_type_and_class_do() {
        let name = |s: &str| Name::from_ascii(s).expect("name");
        let a = Fingerprint::of(&name("WwW.Example.COM."), RecordType::A, DNSClass::IN);
        assert_eq!(
            a,
            Fingerprint::of(&name("www.example.com."), RecordType::A, DNSClass::IN)
        );
        assert_ne!(
            a,
            Fingerprint::of(&name("www.example.org."), RecordType::A, DNSClass::IN)
        );
        assert_ne!(
            a,
            Fingerprint::of(&name("www.example.com."), RecordType::AAAA, DNSClass::IN)
        );
        assert_ne!(
            a,
            Fingerprint::of(&name("www.example.com."), RecordType::A, DNSClass::NONE)
        );
    }
}
