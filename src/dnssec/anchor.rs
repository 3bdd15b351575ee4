//! Trust anchors (placeholder until written).
