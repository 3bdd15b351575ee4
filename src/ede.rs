//! Extended DNS Errors (RFC 8914): why a client got what it got.
//!
//! Shared by the cache (a bogus answer is cached with its reason), the
//! resolver and the listener (which puts it in the OPT record).

/// An Extended DNS Error (RFC 8914) telling the client why it got what it
/// got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedError {
    /// INFO-CODE (RFC 8914 §4).
    pub code: u16,
    /// EXTRA-TEXT for people reading `dig` output.
    pub text: &'static str,
}

impl ExtendedError {
    /// RFC 8914 §4.1: Other.
    pub const fn other(text: &'static str) -> Self {
        Self { code: 0, text }
    }
    /// RFC 8914 §4.4: Stale Answer.
    pub const STALE_ANSWER: Self = Self {
        code: 3,
        text: "serving stale data: every authority failed",
    };
    /// RFC 8914 §4.14: Cached Error.
    pub const CACHED_ERROR: Self = Self {
        code: 13,
        text: "this question failed moments ago",
    };
    /// RFC 8914 §4.7: DNSSEC Bogus.
    pub const DNSSEC_BOGUS: Self = Self {
        code: 6,
        text: "DNSSEC validation failed",
    };
    /// RFC 8914 §4.23 with the reason that it is our own limit, not the
    /// authorities: every server of the zone is at its bound of queries in
    /// flight (resolver/inflight.rs). Not a failure of the question, so it
    /// is not remembered in the failure cache.
    pub const UPSTREAM_BUSY: Self = Self {
        code: 22,
        text: "upstream queries to this zone at their limit; try again",
    };
    /// RFC 8914 §4.23: No Reachable Authority.
    pub const NO_REACHABLE_AUTHORITY: Self = Self {
        code: 22,
        text: "no authoritative server answered usefully",
    };
    /// RFC 8914 §4.16: Blocked, by a blocklist of this resolver's operator.
    pub const BLOCKED: Self = Self {
        code: 15,
        text: "blocked by a blocklist",
    };
    /// RFC 8914 §4.18: Filtered, by a response policy zone (RPZ).
    pub const FILTERED: Self = Self {
        code: 17,
        text: "filtered by a response policy zone",
    };
}
