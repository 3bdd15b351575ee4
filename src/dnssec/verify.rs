//! Signature verification (placeholder until written).
