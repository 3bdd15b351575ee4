//! Root hints: where the walk starts when the cache knows no closer zone cut.
//!
//! The file is in zone-file format, like IANA's `named.root`; the top-level
//! `root.hints` is built in. Parsing is hickory-proto's zone parser. The hints
//! only bootstrap: the walker primes the root NS set from a hinted server
//! (RFC 8109) and caches the root's own answer.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use hickory_proto::rr::{Name, RData};
use hickory_proto::serialize::txt::Parser;

/// The IANA root hints, compiled in.
pub const BUILTIN_ROOT_HINTS: &str = include_str!("../root.hints");

/// A root hints file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RootHintsError {
    /// The file could not be read.
    #[error("cannot read root hints {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The zone-file parser refused it.
    #[error("root hints {path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// It parsed but names no root server with an address.
    #[error("root hints {path}: no NS record for '.' with an A or AAAA address")]
    Empty {
        /// The file.
        path: String,
    },
}

/// The root servers: NS names and their addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootHints {
    /// Each root server's name and its addresses (both families).
    pub servers: Vec<(Name, Vec<IpAddr>)>,
}

impl RootHints {
    /// The built-in hints.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_ROOT_HINTS, "built-in root.hints")
            .expect("the built-in root.hints parses (checked by a unit test)")
    }

    /// Reads hints from a file.
    pub fn from_file(path: &Path) -> Result<Self, RootHintsError> {
        let text = std::fs::read_to_string(path).map_err(|e| RootHintsError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses hints text; `origin` names the source in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, RootHintsError> {
        let (_, sets) = Parser::new(text, None, Some(Name::root()))
            .parse()
            .map_err(|e| RootHintsError::Parse {
                path: source.to_string(),
                reason: e.to_string().replace('\n', " "),
            })?;
        let mut ns_names = Vec::new();
        let mut addrs: BTreeMap<Name, Vec<IpAddr>> = BTreeMap::new();
        for set in sets.values() {
            for r in set.records_without_rrsigs() {
                match &r.data {
                    RData::NS(ns) if r.name.is_root() => ns_names.push(ns.0.clone()),
                    RData::A(a) => addrs.entry(r.name.clone()).or_default().push(a.0.into()),
                    RData::AAAA(a) => addrs.entry(r.name.clone()).or_default().push(a.0.into()),
                    _ => {}
                }
            }
        }
        let servers: Vec<(Name, Vec<IpAddr>)> = ns_names
            .into_iter()
            .filter_map(|n| {
                let a = addrs.get(&n).cloned().unwrap_or_default();
                (!a.is_empty()).then_some((n, a))
            })
            .collect();
        if servers.is_empty() {
            return Err(RootHintsError::Empty {
                path: source.to_string(),
            });
        }
        Ok(Self { servers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_hints_name_thirteen_servers_with_both_families() {
        let h = RootHints::builtin();
        assert_eq!(h.servers.len(), 13);
        let a = h
            .servers
            .iter()
            .find(|(n, _)| n == &Name::from_ascii("a.root-servers.net.").unwrap())
            .unwrap();
        assert!(a.1.contains(&"198.41.0.4".parse().unwrap()));
        assert!(a.1.iter().any(|ip| ip.is_ipv6()));
    }

    #[test]
    fn hints_without_addresses_are_refused() {
        let err = RootHints::parse(". 3600 NS a.root.test.\n", "t").unwrap_err();
        assert!(err.to_string().contains("no NS record"));
    }
}
