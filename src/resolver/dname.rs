//! DNAME (RFC 6672): redirection of a whole subtree.
//!
//! One name's path: a DNAME at `owner` with target `T` maps every name
//! `x.owner` to `x.T`. A server answering a question below a DNAME sends the
//! DNAME and a CNAME it synthesised; rootward keeps the DNAME (in bailiwick
//! of the server's zone), throws the server's CNAME away and synthesises its
//! own from the DNAME (so a server cannot slip an arbitrary CNAME in with
//! it), caches the DNAME only, and serves later names below `owner` from
//! the cached DNAME without asking (RFC 6672 §3.4).
//!
//! hickory-proto 0.26 has the DNAME type but no RDATA type for it: the
//! record arrives as unknown RDATA, which is the target name in
//! uncompressed wire form (RFC 6672 §2.5, RFC 3597 §4); hickory's name
//! decoder reads it.

use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable};

/// The target of a DNAME record, if `r` is one and its RDATA is a name.
pub fn target(r: &Record) -> Option<Name> {
    match &r.data {
        RData::Unknown { code, rdata } if *code == RecordType::DNAME => {
            let mut decoder = BinDecoder::new(&rdata.anything);
            let name = Name::read(&mut decoder).ok()?;
            // The RDATA is exactly one name.
            decoder.is_empty().then_some(name)
        }
        _ => None,
    }
}

/// A DNAME record `owner DNAME target` (for tests and fixtures).
pub fn record(owner: Name, ttl: u32, target: &Name) -> Option<Record> {
    let wire = target.to_bytes().ok()?;
    Some(Record::from_rdata(
        owner,
        ttl,
        RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(wire),
        },
    ))
}

/// The name `qname` maps to under a DNAME at `owner` with `target`
/// (RFC 6672 §2.2): `qname`'s labels below `owner`, then `target`. `None`
/// if `qname` is not strictly below `owner` or the result would be longer
/// than a name may be (the YXDOMAIN case of RFC 6672 §2.2).
pub fn substitute(qname: &Name, owner: &Name, target: &Name) -> Option<Name> {
    if !owner.zone_of(qname) || qname.num_labels() <= owner.num_labels() {
        return None;
    }
    let prefix_len = usize::from(qname.num_labels() - owner.num_labels());
    let prefix = Name::from_labels(qname.iter().take(prefix_len)).ok()?;
    prefix.append_name(target).ok()
}

/// The CNAME a DNAME implies for `qname`, with the DNAME's TTL
/// (RFC 6672 §3.1), and the name it points to.
pub fn synthesize(qname: &Name, dname: &Record) -> Option<(Record, Name)> {
    let to = substitute(qname, &dname.name, &target(dname)?)?;
    let cname = Record::from_rdata(qname.clone(), dname.ttl, RData::CNAME(CNAME(to.clone())));
    Some((cname, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn substitutes_the_owner_suffix() {
        let d = record(n("old.example."), 300, &n("new.example.net.")).unwrap();
        assert_eq!(target(&d), Some(n("new.example.net.")));
        let (cname, to) = synthesize(&n("a.b.old.example."), &d).unwrap();
        assert_eq!(to, n("a.b.new.example.net."));
        assert_eq!(cname.name, n("a.b.old.example."));
        assert_eq!(cname.ttl, 300);
        // The owner itself is not redirected (RFC 6672 §2.3), nor are others.
        assert!(synthesize(&n("old.example."), &d).is_none());
        assert!(synthesize(&n("x.other.example."), &d).is_none());
    }

    #[test]
    fn a_result_longer_than_255_octets_is_refused() {
        let long = Name::from_ascii(format!("{}net.", "abcdefghij.".repeat(22))).unwrap();
        let d = record(n("o."), 60, &long).unwrap();
        assert!(synthesize(&n("abcdefghijabcdefghij.o."), &d).is_none());
    }
}
