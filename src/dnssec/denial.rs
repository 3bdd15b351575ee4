//! Denial of existence (placeholder until written).
