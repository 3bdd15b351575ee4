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

/// Answers requests from the cache, or by resolving them.
pub struct Handler<U> {
    resolver: Arc<Resolver<U>>,
}

impl<U> Clone for Handler<U> {
    fn clone(&self) -> Self {
        Self {
            resolver: self.resolver.clone(),
        }
    }
}

impl<U: Upstream> Handler<U> {
    /// A handler resolving through `resolver`.
    pub fn new(resolver: Arc<Resolver<U>>) -> Self {
        Self { resolver }
    }

    /// Checks a request and answers it if it is an error or a cache hit.
    pub fn handle_now(&self, bytes: &[u8], transport: Transport) -> Handled {
        match check(bytes) {
            Checked::Drop => Handled::Drop,
            Checked::Reply(b) => Handled::Reply(b),
            Checked::Resolve(q) => {
                debug_assert_eq!(q.query().query_class(), DNSClass::IN);
                match self
                    .resolver
                    .cached(q.query().name(), q.query().query_type())
                {
                    Some(hit) => encode(&q, &hit, transport),
                    None => Handled::Miss(q),
                }
            }
        }
    }

    /// Resolves a missed question and encodes the response.
    pub async fn resolve(&self, q: Question, transport: Transport) -> Option<Vec<u8>> {
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
        transport,
    )
    .or_else(|| encode_error(&q.reply_to, ResponseCode::ServFail))
    .map_or(Handled::Drop, Handled::Reply)
}
