//! DNSSEC validation (RFC 4033–4035, 5155, 6840).
//!
//! One answer's path: the walker hands the resolver an answer with its
//! RRSIGs and, for a negative or wildcard answer, the NSEC/NSEC3 records
//! that prove it. The resolver runs a [`validator::Validation`] over it, a
//! state machine without I/O that asks for DS and DNSKEY sets on the chain
//! from the trust anchor ([`anchor`]) down to each signer, verifies
//! signatures ([`verify`]) and denial proofs ([`denial`]) within a
//! per-query [`limits::Budget`], and ends in a [`Security`] state that is
//! cached with the answer.

pub mod aggressive;
pub mod anchor;
pub mod denial;
pub mod legacy;
pub mod limits;
pub mod validator;
#[cfg(test)]
mod validator_tests;
pub mod verify;

/// How far an answer can be trusted (RFC 4033 §5, RFC 4035 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Security {
    /// Not looked at: validation is off, or the client set CD.
    #[default]
    Unchecked,
    /// A chain of signatures from a trust anchor covers every RRset.
    Secure,
    /// Proven to come from an unsigned zone (or one signed only with
    /// algorithms we do not implement, RFC 6840 §5.2).
    Insecure,
    /// Should be signed and is not, or the signatures do not verify.
    Bogus,
    /// Nothing in the answer can carry a signature (an RRSIG query's
    /// answer): served, without AD. A DS or DNSKEY that cannot be fetched
    /// makes an answer bogus instead (fail closed, EDE 9).
    Indeterminate,
}

/// What validation concluded about an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Secure, insecure, bogus, ... or unchecked.
    pub security: Security,
    /// Why it is bogus (RFC 8914), if it is.
    pub ede: Option<crate::ede::ExtendedError>,
}
