//! From request bytes to response bytes.
//!
//! One request's path: [`Handler::handle_now`] checks it
//! ([`request::check`](super::request::check)) and looks the question up in
//! the cache; an error or a cache hit is answered there and then, without a
//! task or a lock shared by all workers. A miss comes back as
//! [`Handled::Miss`], for the listener to resolve in a task of its own
//! ([`Handler::resolve`]) so that it never delays other clients' hits.

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::DNSClass;
use tokio::sync::Semaphore;
use tracing::debug;

use super::request::{Checked, Question, check};
use super::response::{Transport, encode_answer, encode_error};
use crate::resolver::{Resolution, Resolver};
use crate::upstream::Upstream;

/// The outcome of the synchronous part of handling a request.
#[derive(Debug)]
pub enum Handled {
    /// Send these bytes (an error response or a cached answer).
    Reply(Vec<u8>),
    /// Send nothing.
    Drop,
    /// Not cached: resolve it.
    Miss(Question),
}

/// Cache misses being resolved at once across all listeners. Each costs a
/// task and up to `resolution-timeout` of upstream work; past this a miss is
/// answered SERVFAIL at once rather than queued without bound (Unbound
/// bounds the same with `num-queries-per-thread`, 1024 per thread).
pub const MAX_PENDING_MISSES: usize = 4096;

/// Answers requests from the cache, or by resolving them.
pub struct Handler<U> {
    resolver: Arc<Resolver<U>>,
    pending: Arc<Semaphore>,
}

impl<U> Clone for Handler<U> {
    fn clone(&self) -> Self {
        Self {
            resolver: self.resolver.clone(),
            pending: self.pending.clone(),
        }
    }
}

impl<U: Upstream> Handler<U> {
    /// A handler resolving through `resolver`.
    pub fn new(resolver: Arc<Resolver<U>>) -> Self {
        Self {
            resolver,
            pending: Arc::new(Semaphore::new(MAX_PENDING_MISSES)),
        }
    }

    /// Checks a request and answers it if it is an error or a cache hit.
    pub fn handle_now(&self, bytes: &[u8], transport: Transport) -> Handled {
        match check(bytes) {
            Checked::Drop => Handled::Drop,
            Checked::Reply(b) => Handled::Reply(b),
            Checked::Resolve(q) => {
                debug_assert_eq!(q.query().query_class(), DNSClass::IN);
                let (name, qtype) = (q.query().name(), q.query().query_type());
                match self.resolver.lookup(name, qtype) {
                    Some(hit) => {
                        if hit.refresh_due {
                            let (resolver, name) = (self.resolver.clone(), name.clone());
                            tokio::spawn(async move { resolver.refresh(&name, qtype).await });
                        }
                        encode(&q, &hit.resolution, transport)
                    }
                    None => Handled::Miss(q),
                }
            }
        }
    }

    /// Resolves a missed question and encodes the response; SERVFAIL at once
    /// when [`MAX_PENDING_MISSES`] are already being resolved.
    pub async fn resolve(&self, q: Question, transport: Transport) -> Option<Vec<u8>> {
        let Ok(_slot) = self.pending.try_acquire() else {
            debug!("too many pending resolutions: SERVFAIL");
            return encode_error(&q.reply_to, ResponseCode::ServFail);
        };
        let res = self
            .resolver
            .resolve(q.query().name(), q.query().query_type())
            .await;
        match encode(&q, &res, transport) {
            Handled::Reply(b) => Some(b),
            _ => None,
        }
    }
}

fn encode(q: &Question, res: &Resolution, transport: Transport) -> Handled {
    // Records hickory cannot encode still get the client an answer: SERVFAIL.
    encode_answer(
        &q.reply_to,
        res.rcode,
        &res.answers,
        &res.authorities,
        res.ede,
        transport,
    )
    .or_else(|| encode_error(&q.reply_to, ResponseCode::ServFail))
    .map_or(Handled::Drop, Handled::Reply)
}
