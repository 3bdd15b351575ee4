//! The settings a reload can change while the server runs.
//!
//! One query's path: the handler loads the current [`Live`] (an atomic
//! pointer read, no lock), judges the client by its ACL and rate limits,
//! and asks its local policy before the cache.
//! A reload (SIGHUP or `rootward ctl reload`) builds a new `Live` from the
//! re-read config and swaps it in; queries in flight keep the one they
//! loaded.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::acl::Acl;
use super::rate_limit::RateLimiter;
use crate::config::{Config, DenyAction};
use crate::policy::Policy;

/// Reloadable per-query settings.
pub struct Live {
    /// Who may query.
    pub acl: Acl,
    /// What a denied client gets.
    pub deny_action: DenyAction,
    /// Per-client query and response rates (its buckets restart at reload).
    pub limiter: RateLimiter,
    /// Log one line per query.
    pub query_log: bool,
    /// Local zones and data, block- and allowlists (built from files at
    /// start and at each reload).
    pub policy: Policy,
}

impl Live {
    /// The settings `config` asks for.
    pub fn from_config(config: &Config) -> Self {
        Self {
            acl: Acl::new(&config.allow, &config.deny),
            deny_action: config.deny_action,
            limiter: RateLimiter::new(
                config.rate_limit,
                config.response_rate_limit,
                config.rate_limit_loopback,
            ),
            query_log: config.query_log != crate::config::QueryLog::Off,
            policy: Policy::builtin(),
        }
    }

    /// These settings with `policy` (loaded from the config's files)
    /// instead of the default zones only.
    pub fn with_policy(self, policy: Policy) -> Self {
        Self { policy, ..self }
    }

    /// Settings shared by every listener, swappable at reload.
    pub fn shared(self) -> SharedLive {
        Arc::new(ArcSwap::from_pointee(self))
    }
}

/// The live settings as every listener holds them.
pub type SharedLive = Arc<ArcSwap<Live>>;
