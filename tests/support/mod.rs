//! Shared test support: loopback DNS clients, a test authority, NSD trees, the
//! rootward process, the simulated network behind the upstream seam, and the
//! encrypted DNS fixtures (certificates, DoT/DoQ clients, kdig/dig/curl).
//! Every integration test file includes this with `mod support;`; not every
//! file uses every helper.
#![allow(dead_code)]

pub mod authority;
pub mod authority_server;
pub mod client;
pub mod nsd;
pub mod process;
pub mod signer;
pub mod simnet;
pub mod tls;
