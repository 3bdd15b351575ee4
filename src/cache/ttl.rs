//! TTL arithmetic: the floor and cap applied when storing, the RFC 2308
//! negative TTL, and the countdown applied when serving.

use std::time::Duration;

use hickory_proto::rr::{RData, Record};

use crate::clock::Timestamp;

/// Largest TTL a record may carry: RFC 2181 §8 says a TTL above 2^31-1 is
/// treated as zero; we clamp instead of zeroing only through the cap below.
pub const MAX_WIRE_TTL: u32 = i32::MAX as u32;

/// How long a negative answer that came without an SOA is kept: it says
/// nothing about its own lifetime (RFC 2308 §5), so only long enough to
/// absorb repeats of the same question (Unbound's `NORR_TTL` is 5 s).
pub const NO_SOA_NEGATIVE_TTL: u32 = 5;

/// The store-time TTL rules, from `--cache-min-ttl`, `--cache-max-ttl` and
/// `--cache-max-negative-ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    /// Floor applied to positive TTLs.
    pub min: u32,
    /// Cap applied to positive TTLs.
    pub max: u32,
    /// Cap applied to negative TTLs.
    pub max_negative: u32,
}

impl TtlPolicy {
    /// Builds the policy from configured durations (whole seconds).
    pub fn new(min: Duration, max: Duration, max_negative: Duration) -> Self {
        let secs = |d: Duration| d.as_secs().min(u64::from(MAX_WIRE_TTL)) as u32;
        Self {
            min: secs(min),
            max: secs(max),
            max_negative: secs(max_negative),
        }
    }

    /// The TTL stored for a positive record set whose authority said `ttl`.
    /// RFC 2181 §8: a TTL with the top bit set counts as zero.
    pub fn positive(&self, ttl: u32) -> u32 {
        let ttl = if ttl > MAX_WIRE_TTL { 0 } else { ttl };
        ttl.clamp(self.min, self.max.max(self.min))
    }

    /// The TTL of a negative answer per RFC 2308 §5: the smaller of the SOA
    /// record's own TTL and its MINIMUM field, capped by
    /// `cache-max-negative-ttl` and floored like positive TTLs (never above
    /// the negative cap).
    pub fn negative(&self, soa: &Record) -> u32 {
        let minimum = match &soa.data {
            RData::SOA(s) => s.minimum,
            _ => soa.ttl,
        };
        let ttl = soa.ttl.min(minimum).min(MAX_WIRE_TTL);
        ttl.max(self.min).min(self.max_negative)
    }

    /// The TTL of a negative answer without an SOA:
    /// [`NO_SOA_NEGATIVE_TTL`], floored and capped like any negative TTL.
    pub fn negative_without_soa(&self) -> u32 {
        NO_SOA_NEGATIVE_TTL.max(self.min).min(self.max_negative)
    }
}

/// The TTL left at `now` of something stored at `stored_at` with `ttl`;
/// zero once expired, never above `ttl`.
pub fn remaining(ttl: u32, stored_at: Timestamp, now: Timestamp) -> u32 {
    let elapsed = now.saturating_sub(stored_at);
    u64::from(ttl).saturating_sub(elapsed) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::SOA;
    use hickory_proto::rr::{Name, RData};

    fn soa(ttl: u32, minimum: u32) -> Record {
        let n = Name::from_ascii("example.").unwrap();
        Record::from_rdata(
            n.clone(),
            ttl,
            RData::SOA(SOA::new(n.clone(), n, 1, 3600, 900, 604800, minimum)),
        )
    }

    #[test]
    fn floor_and_cap_apply_to_positive_ttls() {
        let p = TtlPolicy::new(
            Duration::from_secs(30),
            Duration::from_secs(3600),
            Duration::from_secs(900),
        );
        assert_eq!(p.positive(5), 30);
        assert_eq!(p.positive(300), 300);
        assert_eq!(p.positive(86400), 3600);
        // RFC 2181 §8: top bit set means zero, which the floor then lifts.
        assert_eq!(p.positive(0x8000_0000), 30);
    }

    #[test]
    fn negative_ttl_is_min_of_soa_ttl_and_minimum_capped() {
        let p = TtlPolicy::new(
            Duration::ZERO,
            Duration::from_secs(86400),
            Duration::from_secs(900),
        );
        assert_eq!(p.negative(&soa(3600, 300)), 300);
        assert_eq!(p.negative(&soa(60, 300)), 60);
        assert_eq!(p.negative(&soa(7200, 7200)), 900);
    }

    #[test]
    fn remaining_counts_down_and_stops_at_zero() {
        assert_eq!(remaining(300, 1000, 1000), 300);
        assert_eq!(remaining(300, 1000, 1100), 200);
        assert_eq!(remaining(300, 1000, 2000), 0);
        // A clock that went backwards never raises the TTL above what was stored.
        assert_eq!(remaining(300, 1000, 900), 300);
    }
}
