//! Names: a DNS name's parent, built cheaply. The walk up the tree from a
//! name to the root happens on every cache miss, in the cache (RFC 8020
//! NXDOMAIN cuts) and in the resolver (zone cuts, DNAMEs, QNAME
//! minimisation), so both use this one function.

use hickory_proto::rr::Name;

/// `name` without its first label: what [`Name::base_name`] returns (the
/// root stays the root), built by appending the remaining labels to the
/// root. `base_name` goes through `Name::from_labels`, which collects the
/// labels into several vectors first: about four times the work, on every
/// step of the walks up the tree a cache miss makes.
pub fn parent(name: &Name) -> Name {
    let mut labels = name.iter();
    if labels.next().is_none() {
        return name.clone();
    }
    let mut parent = Name::root();
    for label in labels {
        parent = match parent.append_label(label) {
            Ok(p) => p,
            // Cannot happen: the labels come from a valid name.
            Err(_) => return name.base_name(),
        };
    }
    parent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    #[test]
    fn parent_is_base_name() {
        let long = format!("{}.{}.example.", "a".repeat(63), "B".repeat(63));
        let mut relative = name("www.example");
        relative.set_fqdn(false);
        for n in [
            Name::root(),
            Name::new(),
            name("test."),
            name("www.example.test."),
            name("WwW.ExAmPlE.tEsT."),
            name("*.wild.example."),
            name(r"a\.b.example."),
            name(&long),
            relative,
        ] {
            let (ours, theirs) = (parent(&n), n.base_name());
            assert_eq!(ours, theirs, "{n}");
            assert!(ours.eq_case(&theirs), "{n}");
            assert_eq!(ours.is_fqdn(), theirs.is_fqdn(), "{n}");
            assert_eq!(ours.to_string(), theirs.to_string(), "{n}");
        }
    }
}
