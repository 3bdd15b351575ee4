//! Every bound on the work one client question can cause.
//!
//! Each is a named constant with its reason; docs/design.md lists them with
//! the values the other resolvers use.

/// Referrals followed for one name before giving up. Real names cross fewer
/// than ten zone cuts; a server that keeps referring downwards forever (or a
/// delegation loop) ends here. Unbound's equivalent is `MAX_REFERRAL_COUNT`.
pub const MAX_REFERRALS: usize = 16;

/// CNAME links followed for one question (the bound; BIND and
/// Unbound use 16 and 11). A loop is detected before this by name.
pub const MAX_CNAME_CHAIN: usize = 16;

/// Upstream queries one client question may cause, sub-queries included
/// (Unbound sends at most 32 per client query, PowerDNS and BIND 50): the
/// NXNSAttack mitigation that bounds amplification.
pub const MAX_UPSTREAM_QUERIES: usize = 48;

/// NS names without usable addresses resolved per delegation (Knot 5,
/// PowerDNS 10, Unbound 16): a referral naming many glueless NS names
/// cannot turn into many sub-resolutions.
pub const MAX_NS_LOOKUPS_PER_CUT: usize = 6;

/// NS names resolved at the same time when a delegation has no usable
/// address; the first that yields an address is used (Unbound's
/// `target-fetch-policy` starts 3 fetches at the top level).
pub const PARALLEL_NS_LOOKUPS: usize = 3;

/// Rounds of retries of the servers of one zone cut that timed out, after
/// every address was tried once. Each retry waits the server's backed-off
/// RTO (doubled per timeout), so two rounds reach servers up to about
/// 4× the initial RTO away; Unbound's `outbound-msg-retry` is 5.
pub const MAX_RETRY_ROUNDS: usize = 2;

/// Nesting of sub-resolutions (resolving an NS name that itself needs an NS
/// name resolved, ...). BIND's `max-recursion-depth` is 7.
pub const MAX_DEPENDENCY_DEPTH: usize = 6;
