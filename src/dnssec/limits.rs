//! Per-query limits on validation work.
//!
//! Validation is where a resolver can be made to burn CPU by a zone it does
//! not control: KeyTrap (CVE-2023-50387) puts many keys with one key tag
//! and many signatures in a zone so that every pairing is tried; NSEC3
//! floods (CVE-2023-50868) make a resolver hash names thousands of times.
//! Every client query gets one [`Budget`]; work past it ends the query in
//! SERVFAIL (RFC 8914 EDE 0 "validation limit") instead of going on.

/// Signature verifications (one RRSIG checked with one key) per client
/// query, over every RRset, DS set, DNSKEY set and NSEC record the query
/// validates. A cold chain root → TLD → zone needs 6; a CNAME into a zone
/// under another TLD about 11; DS probes through insecure parts of a name
/// one more per label. 32 is the top of the 8–32 range the other
/// validators chose after KeyTrap, and costs about a millisecond of RSA.
pub const MAX_SIGNATURE_VALIDATIONS: u32 = 32;

/// Keys tried for one RRSIG whose (algorithm, key tag) several DNSKEYs
/// share (RFC 4034 Appendix B: tags collide only by accident in honest
/// zones, so more than a few is an attack).
pub const MAX_KEY_TAG_COLLISIONS: u32 = 4;

/// DS records considered per zone: more are ignored (an honest parent
/// publishes one or two per key during a rollover).
pub const MAX_DS_PER_ZONE: usize = 8;

/// NSEC3 iterations above which a proof is treated as insecure rather than
/// computed (RFC 9276 §3.2 lets validators do so). 50, as PowerDNS
/// Recursor's `nsec3-max-iterations` since the vendors agreed on it (pdns
/// PR 13478); Unbound allows 150.
pub const MAX_NSEC3_ITERATIONS: u16 = 50;

/// NSEC3 hash computations (each up to `MAX_NSEC3_ITERATIONS` + 1 SHA-1
/// rounds) per client query: a closest-encloser proof needs one per label
/// of the name at most.
pub const MAX_NSEC3_HASHES: u32 = 64;

/// DS and DNSKEY fetches one validation may make while building its chain
/// of trust (one pair per zone cut, plus a DS probe per label of the
/// name when proving a zone insecure).
pub const MAX_CHAIN_FETCHES: u32 = 24;

/// Which limit a query ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// [`MAX_SIGNATURE_VALIDATIONS`].
    #[error("more than {MAX_SIGNATURE_VALIDATIONS} signature validations")]
    Validations,
    /// [`MAX_KEY_TAG_COLLISIONS`].
    #[error("more than {MAX_KEY_TAG_COLLISIONS} keys share one key tag")]
    KeyTagCollisions,
    /// [`MAX_NSEC3_HASHES`].
    #[error("more than {MAX_NSEC3_HASHES} NSEC3 hash computations")]
    Hashes,
    /// [`MAX_CHAIN_FETCHES`].
    #[error("more than {MAX_CHAIN_FETCHES} DS/DNSKEY fetches")]
    Fetches,
}

/// What one client query may still spend on validation.
#[derive(Debug, Clone)]
pub struct Budget {
    validations: u32,
    hashes: u32,
    fetches: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Self::new()
    }
}

impl Budget {
    /// A full budget: the limits above.
    pub fn new() -> Self {
        Self {
            validations: MAX_SIGNATURE_VALIDATIONS,
            hashes: MAX_NSEC3_HASHES,
            fetches: MAX_CHAIN_FETCHES,
        }
    }

    /// Takes one signature verification.
    pub fn spend_validation(&mut self) -> Result<(), LimitExceeded> {
        take(&mut self.validations, LimitExceeded::Validations)
    }

    /// Takes one NSEC3 hash computation.
    pub fn spend_hash(&mut self) -> Result<(), LimitExceeded> {
        take(&mut self.hashes, LimitExceeded::Hashes)
    }

    /// Takes one DS or DNSKEY fetch.
    pub fn spend_fetch(&mut self) -> Result<(), LimitExceeded> {
        take(&mut self.fetches, LimitExceeded::Fetches)
    }

    /// Signature verifications spent so far.
    pub fn validations_used(&self) -> u32 {
        MAX_SIGNATURE_VALIDATIONS - self.validations
    }

    /// NSEC3 hashes computed so far.
    pub fn hashes_used(&self) -> u32 {
        MAX_NSEC3_HASHES - self.hashes
    }
}

fn take(left: &mut u32, what: LimitExceeded) -> Result<(), LimitExceeded> {
    match left.checked_sub(1) {
        Some(rest) => {
            *left = rest;
            Ok(())
        }
        None => Err(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_runs_out_after_the_limit() {
        let mut b = Budget::new();
        for _ in 0..MAX_SIGNATURE_VALIDATIONS {
            assert_eq!(b.spend_validation(), Ok(()));
        }
        assert_eq!(b.spend_validation(), Err(LimitExceeded::Validations));
        assert_eq!(b.validations_used(), MAX_SIGNATURE_VALIDATIONS);
        assert_eq!(b.spend_hash(), Ok(()));
        assert_eq!(b.hashes_used(), 1);
    }
}
