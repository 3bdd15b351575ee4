//! How much a cached RRset is believed, by where it came from.
//!
//! RFC 2181 §5.4.1 ranks data: an authoritative answer beats an
//! authority-section record of an authoritative reply, which beats a
//! referral's NS set, which beats glue. A lower-ranked RRset never replaces a
//! higher-ranked one that is still alive (Unbound's `rrset_trust`, Knot's
//! `kr_rank`), so a referral cannot overwrite what the zone itself said.

/// Trust of cached data, lowest first (the derive orders by declaration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trust {
    /// Address records from the additional section (glue), RFC 2181 §5.4.1
    /// "additional information".
    Glue,
    /// NS records from the authority section of a referral (AA=0): the
    /// parent's copy of the child's NS set.
    Referral,
    /// Authority-section records of an authoritative reply.
    AuthAuthority,
    /// Answer-section records of an authoritative reply.
    AuthAnswer,
}
