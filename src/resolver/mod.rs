//! The resolver: runs the walker for a cache miss.
//!
//! One question's path: [`Resolver::resolve`] joins an identical question
//! already in flight (one resolution serves every client that asks it
//! meanwhile), or starts a [`Walker`] and drives it: each
//! [`Action::Send`] goes to the [`Upstream`], each reply goes back into the
//! walker, until [`Action::Done`]. The whole walk is bounded by
//! `resolution-timeout`; past it the client gets SERVFAIL.

pub mod address_policy;
pub mod classify;
pub mod infra_cache;
pub mod limits;
pub mod resolution;
pub mod scrub;
pub mod walker;
pub mod zone_cut;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use tokio::sync::OnceCell;
use tracing::debug;

pub use address_policy::AddressPolicy;
pub use resolution::Resolution;
pub use walker::{Action, Outbound, Walker};

use crate::cache::{Cache, QuestionKey};
use crate::clock::Clock;
use crate::root_hints::RootHints;
use crate::upstream::Upstream;

/// Settings of the resolver.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Which server addresses may be queried.
    pub policy: AddressPolicy,
    /// Total time for one question.
    pub resolution_timeout: Duration,
    /// Longest wait for one upstream reply.
    pub upstream_timeout: Duration,
}

type InFlight = Arc<OnceCell<Resolution>>;

/// Resolves cache misses by walking from the closest known zone cut.
pub struct Resolver<U> {
    cache: Arc<Cache>,
    upstream: Arc<U>,
    hints: Arc<RootHints>,
    clock: Arc<dyn Clock>,
    config: ResolverConfig,
    /// Questions being resolved. Only misses take this lock; cache hits
    /// never reach the resolver.
    in_flight: Mutex<HashMap<QuestionKey, InFlight>>,
}

impl<U: Upstream> Resolver<U> {
    /// A resolver over `cache`, asking through `upstream`, starting from
    /// `hints` when the cache knows no zone cut.
    pub fn new(
        cache: Arc<Cache>,
        upstream: Arc<U>,
        hints: RootHints,
        clock: Arc<dyn Clock>,
        config: ResolverConfig,
    ) -> Self {
        Self {
            cache,
            upstream,
            hints: Arc::new(hints),
            clock,
            config,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The cache this resolver fills.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// The clock this resolver reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The cached answer to `name`/`qtype`, if alive: the hot path.
    pub fn cached(&self, name: &Name, qtype: RecordType) -> Option<Resolution> {
        let now = self.clock.now();
        self.cache
            .answer(&QuestionKey::new(name, qtype), now)
            .map(|hit| Resolution::from_cached(&hit, now))
    }

    /// Resolves `name`/`qtype`: from the cache if alive, else by walking.
    /// Concurrent identical questions share one walk. Always returns within
    /// `resolution-timeout` (plus scheduling): SERVFAIL past it.
    pub async fn resolve(&self, name: &Name, qtype: RecordType) -> Resolution {
        if let Some(hit) = self.cached(name, qtype) {
            return hit;
        }
        let key = QuestionKey::new(name, qtype);
        let cell = {
            let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let result = cell.get_or_init(|| self.walk(name, qtype)).await.clone();
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            map.remove(&key);
        }
        result
    }

    async fn walk(&self, name: &Name, qtype: RecordType) -> Resolution {
        let mut walker = Walker::new(
            name.clone(),
            qtype,
            self.cache.clone(),
            self.hints.clone(),
            self.config.policy,
        );
        let drive = async {
            loop {
                match walker.step(self.clock.now()) {
                    Action::Done(resolution) => return resolution,
                    Action::Send(out) => {
                        let reply = self
                            .upstream
                            .query(out.server, &out.query, self.config.upstream_timeout)
                            .await;
                        walker.on_reply(reply, self.clock.now());
                    }
                }
            }
        };
        match tokio::time::timeout(self.config.resolution_timeout, drive).await {
            Ok(resolution) => resolution,
            Err(_) => {
                debug!(%name, ?qtype, "resolution timed out");
                Resolution::servfail()
            }
        }
    }
}
