//! Denial of existence: what signed NSEC and NSEC3 records prove
//! (RFC 4035 §3.1.3, §5.4; RFC 5155 §8; RFC 6840 §4).
//!
//! One proof's path: the chain-of-trust code gets NXDOMAIN for
//! `x.example.` from a zone signed with NSEC3. It checks the RRSIGs of the
//! authority section itself (not here) and calls [`nxdomain`] with a
//! [`DenialRecords`] naming the signer `example.` and those records.
//! `nxdomain` first sorts the records: the NSEC records owned in the zone
//! are used if there are any; otherwise the NSEC3 records owned by
//! `<base32hex hash>.example.` that share the parameters (algorithm,
//! iterations, salt) of the first such record. More iterations than
//! [`MAX_NSEC3_ITERATIONS`] end it there with [`Proof::IterationsTooHigh`],
//! before any hashing. Then comes the closest encloser proof (RFC 5155
//! §8.3): `x.example.` is hashed, then each ancestor in turn, each hash
//! paid for with [`Budget::spend_hash`], until one matches an NSEC3 owner.
//! That is the closest encloser, and it must not be a delegation point or
//! a DNAME. The name one label longer (the next closer name) must be covered
//! by an NSEC3, and so must `*.<closest encloser>` (§8.4). If the NSEC3
//! covering the next closer name has the opt-out flag, the name may exist
//! as an unsigned delegation, and the answer is [`Proof::OptOut`]
//! (insecure). Otherwise it is [`Proof::Proven`].
//!
//! With NSEC the same question is answered by ordering names canonically
//! ([`canonical_cmp`], RFC 4034 §6.1). One NSEC covers `x.example.`, its
//! owner and next name give the closest encloser
//! ([`nsec_closest_encloser`]), and an NSEC covers the wildcard there.

use std::cmp::Ordering;

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, NSEC3};
use hickory_proto::rr::{Label, Name, RData, Record, RecordType, RecordTypeSet};

use super::limits::{Budget, LimitExceeded, MAX_NSEC3_ITERATIONS};

/// The most labels a name can have: 255 octets on the wire, at least two
/// per label (length and one octet). Every walk up a name stops by then.
const MAX_LABELS: usize = 127;

// Reasons for `NotProven`. They go into logs and EDE 12 extra text, and
// the tests compare against some of them.
const OUTSIDE_ZONE: &str = "name is outside the signer's zone";
const NO_RECORDS: &str = "no NSEC or NSEC3 records for the zone";
const NAME_EXISTS: &str = "a record matches the name: it exists";
const NAME_IS_ENT: &str = "the name is an empty non-terminal";
const NO_NSEC_COVER: &str = "no NSEC covers the name";
const NO_MATCH_OR_COVER: &str = "no NSEC matches or covers the name";
const WILDCARD_EXISTS: &str = "the wildcard at the closest encloser exists";
const NO_WILDCARD_COVER: &str = "nothing covers the wildcard at the closest encloser";
const NO_WILDCARD_MATCH: &str =
    "no record matches the name or the wildcard at its closest encloser";
const TYPE_EXISTS: &str = "the type is in the bitmap";
const CNAME_EXISTS: &str = "a CNAME is in the bitmap";
const FROM_CHILD: &str = "the record for DS has SOA: it comes from the child zone";
const IS_DELEGATION: &str = "the name is a delegation (NS without SOA)";
const DS_EXISTS: &str = "a DS is in the bitmap";
const NO_CLOSEST_ENCLOSER: &str = "no NSEC3 matches an ancestor of the name";
const CE_IS_DELEGATION: &str = "the closest encloser is a delegation or DNAME";
const NO_NEXT_CLOSER_COVER: &str = "no NSEC3 covers the next closer name";
const NEXT_CLOSER_EXISTS: &str = "the next closer name exists";
const NOT_AN_ANCESTOR: &str = "the closest encloser is not an ancestor of the name in the zone";
const WRONG_ENCLOSER: &str = "the NSEC implies another closest encloser";
const NAME_TOO_LONG: &str = "name too long";
const HASH_FAILED: &str = "NSEC3 hash failed";

/// The NSEC or NSEC3 records of one reply's authority section (already
/// signature-checked by the caller), for proofs about names in `zone`.
///
/// `records` may include other types: everything but NSEC and NSEC3
/// owned at or below `zone` is ignored. An NSEC3 whose owner is not
/// `<hash>.<zone>` with a valid base32hex hash of the algorithm's length
/// is ignored too (RFC 5155 §8.1). If there are NSEC records, only they are used.
/// Otherwise the NSEC3 records with the first NSEC3's parameters are
/// used, and the others are ignored (RFC 5155 §8.2).
pub struct DenialRecords<'a> {
    pub zone: &'a Name,
    pub records: &'a [Record],
}

/// What a proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Proven (RFC 4035 §5.4 for NSEC, RFC 5155 §8 for NSEC3).
    Proven,
    /// Proven only up to an opt-out span (RFC 5155 §6, §8.6): the name may
    /// exist as an unsigned delegation: the caller treats the answer as
    /// insecure.
    OptOut,
    /// NSEC3 with iterations above MAX_NSEC3_ITERATIONS: treated as
    /// insecure (RFC 9276 §3.2).
    IterationsTooHigh,
    /// Not proven: bogus. The reason is for logs and EDE 12 "NSEC Missing"
    /// extra text.
    NotProven(&'static str),
    /// The per-query hash budget ran out.
    Limit(LimitExceeded),
}

/// What a reply to a DS query (NODATA) proves about `name` (for walking
/// down a chain of trust label by label, RFC 4035 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsAbsence {
    /// `name` is a delegation (NS bit, no SOA, from the parent side)
    /// without DS: the child zone is insecure.
    InsecureDelegation,
    /// `name` is inside `zone` but not a zone cut: a matching record has
    /// no NS bit, or `name` is an empty non-terminal or does not exist.
    /// Keep walking down with the same keys.
    NotACut,
    /// An opt-out span covers it (NSEC3): it may be an unsigned delegation,
    /// so it is insecure (RFC 5155 §8.6).
    OptOut,
    /// NSEC3 with iterations above MAX_NSEC3_ITERATIONS (RFC 9276 §3.2).
    IterationsTooHigh,
    /// Not proven: bogus.
    NotProven(&'static str),
    /// The per-query hash budget ran out.
    Limit(LimitExceeded),
}

/// NXDOMAIN (RFC 4035 §3.1.3.2 / §5.4; RFC 5155 §8.4 closest encloser
/// proof: an NSEC3 matching the closest encloser, one covering the next
/// closer name, one covering the wildcard at the closest encloser).
///
/// With NSEC: one NSEC covers `qname` (its next name is not below
/// `qname`, which would make `qname` an empty non-terminal), and one
/// covers `*.<closest encloser>`. With NSEC3, [`Proof::OptOut`] if the
/// NSEC3 covering the next closer name has the opt-out flag.
pub fn nxdomain(qname: &Name, d: &DenialRecords, budget: &mut Budget) -> Proof {
    settle(prepare(qname, d).and_then(|records| match records {
        Records::Nsec(set) => set.nxdomain(qname),
        Records::Nsec3(mut set) => set.nxdomain(qname, budget),
    }))
}

/// NODATA (RFC 4035 §3.1.3.1; RFC 5155 §8.5, §8.6 for DS with opt-out):
/// the name exists, type qtype and CNAME absent from the bitmap; also the
/// empty-non-terminal case for NSEC (an NSEC covering qname whose next
/// name is a descendant of qname) and for NSEC3 (matching NSEC3 with an
/// empty bitmap); and the wildcard NODATA (RFC 4035 §3.1.3.4 / RFC 5155
/// §8.7).
///
/// For qtype DS: the matching NSEC/NSEC3 must not have the SOA bit (that
/// would come from the child zone, RFC 4035 §5.2/RFC 6840 §4.4), and with
/// NSEC3, an opt-out NSEC3 covering the next closer name gives OptOut
/// (§8.6). For other qtypes: an NSEC/NSEC3 matching qname with NS set and
/// SOA clear is a delegation, not a NODATA (RFC 6840 §4.4 "ancestor
/// delegation"): NotProven.
///
/// With NSEC3 and no record matching qname, a next closer name covered by
/// an opt-out NSEC3 also gives OptOut for other qtypes. The name can then
/// only be an empty non-terminal above unsigned delegations (RFC 5155
/// errata 3441), and its data is unsigned anyway.
pub fn nodata(qname: &Name, qtype: RecordType, d: &DenialRecords, budget: &mut Budget) -> Proof {
    settle(prepare(qname, d).and_then(|records| match records {
        Records::Nsec(set) => set.nodata(qname, qtype),
        Records::Nsec3(mut set) => set.nodata(qname, qtype, budget),
    }))
}

/// A wildcard expansion is legitimate (RFC 4035 §5.3.4, RFC 5155 §8.8):
/// `qname` does not exist: an NSEC covering qname / an NSEC3 covering the
/// next closer name of `closest_encloser` (given by the RRSIG labels
/// field).
///
/// With NSEC, the covering NSEC must also imply `closest_encloser`, so no
/// name closer to `qname` exists. With NSEC3, an opt-out NSEC3 covering
/// the next closer name gives [`Proof::OptOut`]: that name may be an
/// unsigned delegation which the wildcard must not answer for.
pub fn wildcard_expansion(
    qname: &Name,
    closest_encloser: &Name,
    d: &DenialRecords,
    budget: &mut Budget,
) -> Proof {
    settle(prepare(qname, d).and_then(|records| {
        if !d.zone.zone_of(closest_encloser) {
            return Err(Proof::NotProven(NOT_AN_ANCESTOR));
        }
        let next_closer = next_closer_name(qname, closest_encloser)?;
        match records {
            Records::Nsec(set) => set.wildcard_expansion(qname, closest_encloser),
            Records::Nsec3(mut set) => set.wildcard_expansion(&next_closer, budget),
        }
    }))
}

/// What a reply to a DS query proves about `name` (RFC 4035 §5.2, RFC
/// 5155 §8.6), for walking down a chain of trust.
///
/// A record matching `name` decides it: SOA set means it is the child's
/// record (NotProven), DS set means a DS exists (NotProven), NS set means
/// [`DsAbsence::InsecureDelegation`], otherwise [`DsAbsence::NotACut`].
/// Without a matching record: an NSEC covering `name`, or an NSEC3
/// closest encloser proof, gives NotACut. If that NSEC3 covering the next
/// closer name has the opt-out flag, it gives [`DsAbsence::OptOut`].
pub fn ds_absence(name: &Name, d: &DenialRecords, budget: &mut Budget) -> DsAbsence {
    let outcome = prepare(name, d).and_then(|records| match records {
        Records::Nsec(set) => set.ds_absence(name),
        Records::Nsec3(mut set) => set.ds_absence(name, budget),
    });
    match outcome {
        Ok(absence) => absence,
        Err(proof) => match proof {
            Proof::OptOut => DsAbsence::OptOut,
            Proof::IterationsTooHigh => DsAbsence::IterationsTooHigh,
            Proof::NotProven(reason) => DsAbsence::NotProven(reason),
            Proof::Limit(limit) => DsAbsence::Limit(limit),
            // The early exits never carry Proven. If one did, it would say
            // nothing about the DS, so it must not pass as a result.
            Proof::Proven => DsAbsence::NotProven(NO_MATCH_OR_COVER),
        },
    }
}

/// For aggressive negative caching (RFC 8198 §5.1): does this (already
/// validated) NSEC record cover `name`, i.e. owner < name < next in
/// canonical order (RFC 4034 §6.1), wrapping at the zone apex for the last
/// NSEC of a zone (whose next name is the apex)?
///
/// False for a record that is not an NSEC. Also false for a name below the owner of an
/// NSEC that has NS without SOA, or DNAME. Such an NSEC is on the parent side of a
/// cut, or a redirection, and proves nothing about names below it
/// (RFC 6840 §4.1). Showing that no wildcard exists takes a second NSEC,
/// covering `*.<closest encloser>` ([`nsec_closest_encloser`]).
pub fn nsec_covers(nsec_record: &Record, name: &Name) -> bool {
    nsec_of(nsec_record).is_some_and(|nsec| nsec_range_covers(&nsec_record.name, nsec, name))
}

/// The closest encloser an NSEC covering `qname` implies (RFC 4035 §5.4,
/// RFC 8198 §5.1): the longer of the common ancestors of qname with the
/// owner and with the next name. It is `None` if the record is not an NSEC covering
/// `qname` ([`nsec_covers`]). The caller then looks for the NSEC covering or
/// matching `*.<closest encloser>`.
pub fn nsec_closest_encloser(nsec_record: &Record, qname: &Name) -> Option<Name> {
    let nsec = nsec_of(nsec_record)?;
    if !nsec_range_covers(&nsec_record.name, nsec, qname) {
        return None;
    }
    Some(implied_closest_encloser(
        &nsec_record.name,
        nsec.next_domain_name(),
        qname,
    ))
}

/// The NSEC data of a record, if it is an NSEC.
pub fn nsec_of(record: &Record) -> Option<&NSEC> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some(nsec),
        _ => None,
    }
}

/// The NSEC3 data of a record, if it is an NSEC3.
pub fn nsec3_of(record: &Record) -> Option<&NSEC3> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => Some(nsec3),
        _ => None,
    }
}

/// Canonical DNS name order (RFC 4034 §6.1). Names are compared from the
/// most significant (rightmost) label down. Labels are compared as
/// unsigned octet strings with US-ASCII upper case folded to lower case,
/// and a missing octet sorts before any octet. This does not depend on
/// whether a name is fully qualified, unlike hickory's `Ord` on `Name`.
pub fn canonical_cmp(a: &Name, b: &Name) -> Ordering {
    let mut left = a.iter().rev();
    let mut right = b.iter().rev();
    // Bounded by the shorter name's label count: each round consumes one
    // label from both iterators.
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(l), Some(r)) => {
                let order = l
                    .iter()
                    .map(u8::to_ascii_lowercase)
                    .cmp(r.iter().map(u8::to_ascii_lowercase));
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn same_name(a: &Name, b: &Name) -> bool {
    canonical_cmp(a, b) == Ordering::Equal
}

/// Labels of a name, counting a leading `*` (unlike `Name::num_labels`).
fn label_count(name: &Name) -> usize {
    name.iter().len()
}

/// `ancestor` is a strict ancestor of `name`.
fn is_proper_ancestor(ancestor: &Name, name: &Name) -> bool {
    label_count(name) > label_count(ancestor) && ancestor.zone_of(name)
}

/// The longest name both `a` and `b` end in.
fn common_ancestor(a: &Name, b: &Name) -> Name {
    let shared = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count();
    a.trim_to(shared)
}

/// The closest encloser of a name an NSEC covers: the deeper of its
/// common ancestors with owner and next name. Both of those exist, and
/// nothing between them does, so no closer ancestor can exist.
fn implied_closest_encloser(owner: &Name, next: &Name, qname: &Name) -> Name {
    let with_owner = common_ancestor(qname, owner);
    let with_next = common_ancestor(qname, next);
    if label_count(&with_next) > label_count(&with_owner) {
        with_next
    } else {
        with_owner
    }
}

/// owner < name < next, canonically. The last NSEC of a zone has the apex
/// as its next name, so it covers everything after it in the zone.
fn nsec_range_covers(owner: &Name, nsec: &NSEC, name: &Name) -> bool {
    if canonical_cmp(owner, name) != Ordering::Less {
        return false;
    }
    // Below a parent-side delegation NSEC (NS without SOA) or a DNAME, the
    // names belong to another zone or are redirected. Their order after
    // the owner says nothing about their existence (RFC 6840 §4.1).
    if nsec.is_ancestor_delegation() && owner.zone_of(name) {
        return false;
    }
    let next = nsec.next_domain_name();
    if canonical_cmp(owner, next) == Ordering::Less {
        canonical_cmp(name, next) == Ordering::Less
    } else {
        // Wrap-around: next is the apex, and name sorts after the last
        // owner of the zone.
        next.zone_of(name)
    }
}

/// `*.<name>`.
fn wildcard_of(name: &Name) -> Result<Name, Proof> {
    name.prepend_label(Label::wildcard())
        .map_err(|_| Proof::NotProven(NAME_TOO_LONG))
}

/// The ancestor of `qname` one label below `closest_encloser` (RFC 5155
/// §1.3).
fn next_closer_name(qname: &Name, closest_encloser: &Name) -> Result<Name, Proof> {
    if !is_proper_ancestor(closest_encloser, qname) {
        return Err(Proof::NotProven(NOT_AN_ANCESTOR));
    }
    Ok(qname.trim_to(label_count(closest_encloser) + 1))
}

/// What a bitmap at the name (or at the wildcard that would answer for
/// it) says about a NODATA for `qtype`.
fn types_absent(types: &RecordTypeSet, qtype: RecordType) -> Proof {
    if types.contains(qtype) {
        return Proof::NotProven(TYPE_EXISTS);
    }
    // With a CNAME the answer would have been the CNAME, not NODATA.
    if types.contains(RecordType::CNAME) {
        return Proof::NotProven(CNAME_EXISTS);
    }
    let soa = types.contains(RecordType::SOA);
    if qtype == RecordType::DS {
        // DS lives on the parent side. A record with SOA at the name is
        // the child apex's, and says nothing about the parent's DS.
        if soa {
            return Proof::NotProven(FROM_CHILD);
        }
    } else if types.contains(RecordType::NS) && !soa {
        // The parent's record at a cut: the child zone has the data.
        return Proof::NotProven(IS_DELEGATION);
    }
    Proof::Proven
}

/// What a bitmap matching the name says about a DS query (RFC 4035 §5.2).
fn ds_absence_at(types: &RecordTypeSet) -> DsAbsence {
    if types.contains(RecordType::SOA) {
        DsAbsence::NotProven(FROM_CHILD)
    } else if types.contains(RecordType::DS) {
        DsAbsence::NotProven(DS_EXISTS)
    } else if types.contains(RecordType::NS) {
        DsAbsence::InsecureDelegation
    } else {
        DsAbsence::NotACut
    }
}

/// Early exits carry the final `Proof`, so both sides are the answer.
fn settle(outcome: Result<Proof, Proof>) -> Proof {
    match outcome {
        Ok(proof) | Err(proof) => proof,
    }
}

/// The records that one proof uses.
enum Records<'a> {
    Nsec(NsecSet<'a>),
    Nsec3(Nsec3Set<'a>),
}

fn prepare<'a>(name: &Name, d: &DenialRecords<'a>) -> Result<Records<'a>, Proof> {
    if !d.zone.zone_of(name) {
        return Err(Proof::NotProven(OUTSIDE_ZONE));
    }
    let nsec = NsecSet::collect(d);
    if !nsec.records.is_empty() {
        return Ok(Records::Nsec(nsec));
    }
    match Nsec3Set::collect(d) {
        Some(set) if set.iterations > MAX_NSEC3_ITERATIONS => Err(Proof::IterationsTooHigh),
        Some(set) => Ok(Records::Nsec3(set)),
        None => Err(Proof::NotProven(NO_RECORDS)),
    }
}

struct NsecSet<'a> {
    records: Vec<(&'a Name, &'a NSEC)>,
}

impl<'a> NsecSet<'a> {
    fn collect(d: &DenialRecords<'a>) -> Self {
        let records = d
            .records
            .iter()
            .filter_map(|record| Some((&record.name, nsec_of(record)?)))
            // Owner and next name both in the zone. A next name elsewhere
            // is from no honest chain of this zone.
            .filter(|(owner, nsec)| {
                d.zone.zone_of(owner) && d.zone.zone_of(nsec.next_domain_name())
            })
            .collect();
        Self { records }
    }

    fn matching(&self, name: &Name) -> Option<&'a NSEC> {
        self.records
            .iter()
            .find(|(owner, _)| same_name(owner, name))
            .map(|(_, nsec)| *nsec)
    }

    fn covering(&self, name: &Name) -> Option<(&'a Name, &'a NSEC)> {
        self.records
            .iter()
            .find(|(owner, nsec)| nsec_range_covers(owner, nsec, name))
            .copied()
    }

    fn nxdomain(&self, qname: &Name) -> Result<Proof, Proof> {
        if self.matching(qname).is_some() {
            return Err(Proof::NotProven(NAME_EXISTS));
        }
        let (owner, nsec) = self
            .covering(qname)
            .ok_or(Proof::NotProven(NO_NSEC_COVER))?;
        let next = nsec.next_domain_name();
        if is_proper_ancestor(qname, next) {
            return Err(Proof::NotProven(NAME_IS_ENT));
        }
        let closest_encloser = implied_closest_encloser(owner, next, qname);
        let wildcard = wildcard_of(&closest_encloser)?;
        if self.matching(&wildcard).is_some() {
            return Err(Proof::NotProven(WILDCARD_EXISTS));
        }
        if self.covering(&wildcard).is_none() {
            return Err(Proof::NotProven(NO_WILDCARD_COVER));
        }
        Ok(Proof::Proven)
    }

    fn nodata(&self, qname: &Name, qtype: RecordType) -> Result<Proof, Proof> {
        if let Some(nsec) = self.matching(qname) {
            return Ok(types_absent(nsec.type_set(), qtype));
        }
        let (owner, nsec) = self
            .covering(qname)
            .ok_or(Proof::NotProven(NO_MATCH_OR_COVER))?;
        let next = nsec.next_domain_name();
        // Empty non-terminal: the name has no records but a descendant
        // does, so it exists with no types at all (RFC 4035 §3.1.3.1; RFC
        // 5155 §7.2.3 for the NSEC3 variant).
        if is_proper_ancestor(qname, next) {
            return Ok(Proof::Proven);
        }
        // Wildcard NODATA (§3.1.3.4): the name does not exist, and the
        // wildcard that would answer for it lacks the type.
        let closest_encloser = implied_closest_encloser(owner, next, qname);
        let wildcard = wildcard_of(&closest_encloser)?;
        match self.matching(&wildcard) {
            Some(wild) => Ok(types_absent(wild.type_set(), qtype)),
            None => Err(Proof::NotProven(NO_WILDCARD_MATCH)),
        }
    }

    fn ds_absence(&self, name: &Name) -> Result<DsAbsence, Proof> {
        if let Some(nsec) = self.matching(name) {
            return Ok(ds_absence_at(nsec.type_set()));
        }
        // Covered: the name is an empty non-terminal or does not exist.
        // Either way it holds no NS, so there is no cut. Names below a
        // delegation are never covered (`nsec_range_covers`).
        match self.covering(name) {
            Some(_) => Ok(DsAbsence::NotACut),
            None => Err(Proof::NotProven(NO_MATCH_OR_COVER)),
        }
    }

    fn wildcard_expansion(&self, qname: &Name, closest_encloser: &Name) -> Result<Proof, Proof> {
        let (owner, nsec) = self
            .covering(qname)
            .ok_or(Proof::NotProven(NO_NSEC_COVER))?;
        // An NSEC implying a deeper encloser means a closer name exists
        // (or qname is an empty non-terminal). Then this wildcard must not
        // have answered.
        let implied = implied_closest_encloser(owner, nsec.next_domain_name(), qname);
        if !same_name(&implied, closest_encloser) {
            return Err(Proof::NotProven(WRONG_ENCLOSER));
        }
        Ok(Proof::Proven)
    }
}

struct Nsec3Entry<'a> {
    /// The owner's first label, decoded.
    hash: Vec<u8>,
    nsec3: &'a NSEC3,
}

/// A closest encloser proof (RFC 5155 §8.3).
struct Encloser {
    name: Name,
    /// The NSEC3 covering the next closer name has the opt-out flag.
    opt_out: bool,
}

struct Nsec3Set<'a> {
    zone: &'a Name,
    algorithm: Nsec3HashAlgorithm,
    iterations: u16,
    salt: &'a [u8],
    entries: Vec<Nsec3Entry<'a>>,
    /// Names hashed for this proof. The closest encloser search hashes
    /// the next closer name before it knows it is one, and NODATA hashes
    /// the name before it searches.
    hashed: Vec<(Name, Vec<u8>)>,
}

impl<'a> Nsec3Set<'a> {
    /// The zone's usable NSEC3 records, or `None` if there are none.
    fn collect(d: &DenialRecords<'a>) -> Option<Self> {
        let mut set: Option<Self> = None;
        for record in d.records {
            let Some(nsec3) = nsec3_of(record) else {
                continue;
            };
            let algorithm = nsec3.hash_algorithm();
            let Some(hash) = owner_hash(&record.name, d.zone, algorithm) else {
                continue;
            };
            if nsec3.next_hashed_owner_name().len() != hash_len(algorithm) {
                continue;
            }
            let entry = Nsec3Entry { hash, nsec3 };
            match &mut set {
                None => {
                    set = Some(Self {
                        zone: d.zone,
                        algorithm,
                        iterations: nsec3.iterations(),
                        salt: nsec3.salt(),
                        entries: vec![entry],
                        hashed: Vec::new(),
                    });
                }
                // RFC 5155 §8.2: a validator ignores NSEC3 records whose
                // parameters differ from those of the proof it works with.
                Some(set) => {
                    if set.algorithm == algorithm
                        && set.iterations == nsec3.iterations()
                        && set.salt == nsec3.salt()
                    {
                        set.entries.push(entry);
                    }
                }
            }
        }
        set
    }

    /// The hash of `name` (RFC 5155 §5), paid for from the budget unless
    /// already computed for this proof.
    fn hash(&mut self, name: &Name, budget: &mut Budget) -> Result<Vec<u8>, Proof> {
        if let Some((_, hash)) = self.hashed.iter().find(|(done, _)| same_name(done, name)) {
            return Ok(hash.clone());
        }
        budget.spend_hash().map_err(Proof::Limit)?;
        // The hash is over the lowercased wire form (§5). hickory
        // lowercases while encoding too, so this is belt and braces.
        let digest = self
            .algorithm
            .hash(self.salt, &name.to_lowercase(), self.iterations)
            .map_err(|_| Proof::NotProven(HASH_FAILED))?;
        let hash = digest.as_ref().to_vec();
        self.hashed.push((name.clone(), hash.clone()));
        Ok(hash)
    }

    fn matching(&self, hash: &[u8]) -> Option<&'a NSEC3> {
        self.entries
            .iter()
            .find(|entry| entry.hash == hash)
            .map(|entry| entry.nsec3)
    }

    fn covering(&self, hash: &[u8]) -> Option<&'a NSEC3> {
        self.entries
            .iter()
            .find(|entry| hash_covers(&entry.hash, entry.nsec3.next_hashed_owner_name(), hash))
            .map(|entry| entry.nsec3)
    }

    /// RFC 5155 §8.3: hash `qname` and its ancestors, deepest first, until
    /// one matches. The name one label longer must be covered.
    fn closest_encloser(&mut self, qname: &Name, budget: &mut Budget) -> Result<Encloser, Proof> {
        let zone_labels = label_count(self.zone);
        let mut next_closer: Option<Name> = None;
        let mut candidate = qname.clone();
        // The callers checked that qname is in the zone, so the walk ends at
        // the apex, at most 127 labels up.
        for _ in 0..=MAX_LABELS {
            let hash = self.hash(&candidate, budget)?;
            if let Some(nsec3) = self.matching(&hash) {
                let Some(next_closer) = next_closer else {
                    return Err(Proof::NotProven(NAME_EXISTS));
                };
                // A parent-side record at a cut, or a DNAME, cannot vouch
                // for names below it (§8.3, RFC 6840 §4.1).
                if nsec3.is_ancestor_delegation() {
                    return Err(Proof::NotProven(CE_IS_DELEGATION));
                }
                let next_hash = self.hash(&next_closer, budget)?;
                let cover = self
                    .covering(&next_hash)
                    .ok_or(Proof::NotProven(NO_NEXT_CLOSER_COVER))?;
                return Ok(Encloser {
                    name: candidate,
                    opt_out: cover.opt_out(),
                });
            }
            if label_count(&candidate) <= zone_labels {
                break;
            }
            let parent = candidate.base_name();
            next_closer = Some(candidate);
            candidate = parent;
        }
        Err(Proof::NotProven(NO_CLOSEST_ENCLOSER))
    }

    fn nxdomain(&mut self, qname: &Name, budget: &mut Budget) -> Result<Proof, Proof> {
        let encloser = self.closest_encloser(qname, budget)?;
        let wildcard = wildcard_of(&encloser.name)?;
        let hash = self.hash(&wildcard, budget)?;
        if self.matching(&hash).is_some() {
            return Err(Proof::NotProven(WILDCARD_EXISTS));
        }
        if self.covering(&hash).is_none() {
            return Err(Proof::NotProven(NO_WILDCARD_COVER));
        }
        Ok(opt_out_or_proven(encloser.opt_out))
    }

    fn nodata(
        &mut self,
        qname: &Name,
        qtype: RecordType,
        budget: &mut Budget,
    ) -> Result<Proof, Proof> {
        let hash = self.hash(qname, budget)?;
        // §8.5 (and the ENT case: its NSEC3 has an empty bitmap).
        if let Some(nsec3) = self.matching(&hash) {
            return Ok(types_absent(nsec3.type_set(), qtype));
        }
        let encloser = self.closest_encloser(qname, budget)?;
        // §8.7: wildcard NODATA.
        let wildcard = wildcard_of(&encloser.name)?;
        let wildcard_hash = self.hash(&wildcard, budget)?;
        if let Some(wild) = self.matching(&wildcard_hash) {
            return Ok(match types_absent(wild.type_set(), qtype) {
                Proof::Proven => opt_out_or_proven(encloser.opt_out),
                refused => refused,
            });
        }
        // §8.6 for DS. For other types, errata 3441: an empty non-terminal
        // above only unsigned delegations has no NSEC3 in an opt-out zone.
        if encloser.opt_out {
            return Ok(Proof::OptOut);
        }
        Err(Proof::NotProven(NO_WILDCARD_MATCH))
    }

    fn ds_absence(&mut self, name: &Name, budget: &mut Budget) -> Result<DsAbsence, Proof> {
        let hash = self.hash(name, budget)?;
        if let Some(nsec3) = self.matching(&hash) {
            return Ok(ds_absence_at(nsec3.type_set()));
        }
        // The name does not exist, unless an opt-out span hides an unsigned
        // delegation there (§8.6).
        let encloser = self.closest_encloser(name, budget)?;
        Ok(if encloser.opt_out {
            DsAbsence::OptOut
        } else {
            DsAbsence::NotACut
        })
    }

    fn wildcard_expansion(
        &mut self,
        next_closer: &Name,
        budget: &mut Budget,
    ) -> Result<Proof, Proof> {
        let hash = self.hash(next_closer, budget)?;
        if self.matching(&hash).is_some() {
            return Err(Proof::NotProven(NEXT_CLOSER_EXISTS));
        }
        match self.covering(&hash) {
            Some(cover) => Ok(opt_out_or_proven(cover.opt_out())),
            None => Err(Proof::NotProven(NO_NEXT_CLOSER_COVER)),
        }
    }
}

fn opt_out_or_proven(opt_out: bool) -> Proof {
    if opt_out {
        Proof::OptOut
    } else {
        Proof::Proven
    }
}

/// Octets of a hash of this algorithm.
fn hash_len(algorithm: Nsec3HashAlgorithm) -> usize {
    match algorithm {
        Nsec3HashAlgorithm::SHA1 => 20,
    }
}

/// The hash an NSEC3 owner name `<base32hex hash>.<zone>` carries.
fn owner_hash(owner: &Name, zone: &Name, algorithm: Nsec3HashAlgorithm) -> Option<Vec<u8>> {
    if label_count(owner) != label_count(zone) + 1 || !zone.zone_of(owner) {
        return None;
    }
    let hash = base32hex_decode(owner.iter().next()?)?;
    (hash.len() == hash_len(algorithm)).then_some(hash)
}

/// Base32 with the extended hex alphabet, no padding, either case
/// (RFC 4648 §7, RFC 5155 §3.3). Unused trailing bits must be zero, so each hash
/// has exactly one spelling.
fn base32hex_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &c in text {
        let value = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(acc >> bits).ok()?);
            acc &= (1 << bits) - 1;
        }
    }
    // A whole character left over, or set padding bits: not canonical.
    (bits < 5 && acc == 0).then_some(out)
}

/// The NSEC3 from `owner` to `next` (in hash order) covers `hash`. Hashes
/// of equal length compare like their base32hex spellings. The last
/// NSEC3 of the chain wraps to the first. A chain of one (owner == next)
/// covers every other hash.
fn hash_covers(owner: &[u8], next: &[u8], hash: &[u8]) -> bool {
    if owner < next {
        owner < hash && hash < next
    } else {
        hash > owner || hash < next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::limits::MAX_NSEC3_HASHES;

    fn n(text: &str) -> Name {
        Name::from_ascii(text).expect("test name")
    }

    fn apex() -> Name {
        n("example.")
    }

    /// NSEC3 parameters of a test chain.
    #[derive(Clone, Copy, Debug)]
    struct Params {
        salt: &'static [u8],
        iterations: u16,
        opt_out: bool,
    }

    const PLAIN: Params = Params {
        salt: &[],
        iterations: 0,
        opt_out: false,
    };
    const SALTED: Params = Params {
        salt: &[0xAA, 0xBB, 0xCC, 0xDD],
        iterations: 10,
        opt_out: false,
    };
    const OPT_OUT: Params = Params {
        salt: &[],
        iterations: 0,
        opt_out: true,
    };

    /// example.: a, b.c (c is an empty non-terminal), cn (a CNAME), *.w
    /// (w is an empty non-terminal), `sub` a delegation without DS and
    /// `sec` one with DS. Types without NSEC/NSEC3/RRSIG.
    fn zone_data() -> Vec<(Name, Vec<RecordType>)> {
        use RecordType::*;
        vec![
            (n("example."), vec![SOA, NS, DNSKEY]),
            (n("a.example."), vec![A]),
            (n("b.c.example."), vec![A]),
            (n("cn.example."), vec![CNAME]),
            (n("*.w.example."), vec![TXT]),
            (n("sub.example."), vec![NS]),
            (n("sec.example."), vec![NS, DS]),
        ]
    }

    fn nsec_chain() -> Vec<Record> {
        let mut names = zone_data();
        names.sort_by(|a, b| canonical_cmp(&a.0, &b.0));
        let mut chain: Vec<Record> = names
            .iter()
            .enumerate()
            .map(|(i, (owner, types))| {
                let next = names[(i + 1) % names.len()].0.clone();
                let types = types
                    .iter()
                    .copied()
                    .chain([RecordType::NSEC, RecordType::RRSIG]);
                nsec_record(owner, next, types)
            })
            .collect();
        // Noise the proofs must ignore: another type, another zone's NSEC.
        chain.push(Record::from_rdata(
            n("a.example."),
            300,
            RData::A("192.0.2.1".parse().expect("address")),
        ));
        chain.push(nsec_record(&n("a.other."), n("other."), [RecordType::A]));
        chain
    }

    fn nsec_record(
        owner: &Name,
        next: Name,
        types: impl IntoIterator<Item = RecordType>,
    ) -> Record {
        Record::from_rdata(
            owner.clone(),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types))),
        )
    }

    fn hash(name: &Name, p: Params) -> Vec<u8> {
        Nsec3HashAlgorithm::SHA1
            .hash(p.salt, name, p.iterations)
            .expect("hash")
            .as_ref()
            .to_vec()
    }

    fn base32hex(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
        let mut out = String::new();
        let mut acc: u32 = 0;
        let mut bits = 0;
        for &b in bytes {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
            }
            acc &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
        }
        out
    }

    fn nsec3_record(
        owner_hash: &[u8],
        next_hash: Vec<u8>,
        types: Vec<RecordType>,
        p: Params,
    ) -> Record {
        Record::from_rdata(
            n(&format!("{}.example.", base32hex(owner_hash))),
            300,
            RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
                Nsec3HashAlgorithm::SHA1,
                p.opt_out,
                p.iterations,
                p.salt.to_vec(),
                next_hash,
                types,
            ))),
        )
    }

    /// The zone's NSEC3 chain. With opt-out, the insecure delegation `sub`
    /// gets no NSEC3 (RFC 5155 §7.1).
    fn nsec3_chain(p: Params) -> Vec<Record> {
        let sub = n("sub.example.");
        let mut owners: Vec<(Vec<u8>, Vec<RecordType>)> = zone_data()
            .into_iter()
            .filter(|(name, _)| !(p.opt_out && *name == sub))
            .map(|(name, mut types)| {
                // The parent does not sign the NS of a delegation.
                if name != sub {
                    types.push(RecordType::RRSIG);
                }
                (hash(&name, p), types)
            })
            .collect();
        // Empty non-terminals get NSEC3 records with empty bitmaps (§7.1).
        owners.push((hash(&n("c.example."), p), vec![]));
        owners.push((hash(&n("w.example."), p), vec![]));
        owners.sort_by(|a, b| a.0.cmp(&b.0));
        let mut chain = vec![Record::from_rdata(
            n("a.example."),
            300,
            RData::A("192.0.2.1".parse().expect("address")),
        )];
        // Not a base32hex hash as first label: ignored (and not the source
        // of the parameters, though it comes first).
        chain.push(Record::from_rdata(
            n("not-a-hash.example."),
            300,
            RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
                Nsec3HashAlgorithm::SHA1,
                false,
                7,
                vec![],
                vec![0; 20],
                [RecordType::A],
            ))),
        ));
        chain.extend(owners.iter().enumerate().map(|(i, (owner, types))| {
            let next = owners[(i + 1) % owners.len()].0.clone();
            nsec3_record(owner, next, types.clone(), p)
        }));
        chain
    }

    /// Index of the NSEC3 in `records` covering (or, with `matching`,
    /// matching) the hash of `name`.
    fn nsec3_index(records: &[Record], name: &Name, p: Params, matching: bool) -> Option<usize> {
        let h = hash(name, p);
        records.iter().position(|r| {
            let Some(nsec3) = nsec3_of(r) else {
                return false;
            };
            let Some(owner) = owner_hash(&r.name, &apex(), Nsec3HashAlgorithm::SHA1) else {
                return false;
            };
            if matching {
                owner == h
            } else {
                hash_covers(&owner, nsec3.next_hashed_owner_name(), &h)
            }
        })
    }

    /// The chains every test runs against.
    fn chains() -> Vec<(&'static str, Vec<Record>)> {
        vec![
            ("nsec", nsec_chain()),
            ("nsec3", nsec3_chain(PLAIN)),
            ("nsec3 salted", nsec3_chain(SALTED)),
        ]
    }

    fn run<T>(records: &[Record], f: impl FnOnce(&DenialRecords, &mut Budget) -> T) -> T {
        let zone = apex();
        let d = DenialRecords {
            zone: &zone,
            records,
        };
        f(&d, &mut Budget::new())
    }

    fn nx(records: &[Record], qname: &str) -> Proof {
        run(records, |d, b| nxdomain(&n(qname), d, b))
    }

    fn nd(records: &[Record], qname: &str, qtype: RecordType) -> Proof {
        run(records, |d, b| nodata(&n(qname), qtype, d, b))
    }

    fn ds(records: &[Record], name: &str) -> DsAbsence {
        run(records, |d, b| ds_absence(&n(name), d, b))
    }

    fn wild(records: &[Record], qname: &str, encloser: &str) -> Proof {
        run(records, |d, b| {
            wildcard_expansion(&n(qname), &n(encloser), d, b)
        })
    }

    #[test]
    fn canonical_order_follows_rfc4034_section_6_1() {
        // Labels as raw octets: \001 and \200 are not text.
        let sorted: Vec<Name> = [
            &[&b"example"[..]][..],
            &[b"a", b"example"],
            &[b"yljkjljk", b"a", b"example"],
            &[b"Z", b"a", b"example"],
            &[b"zABC", b"a", b"EXAMPLE"],
            &[b"z", b"example"],
            &[b"\x01", b"z", b"example"],
            &[b"*", b"z", b"example"],
            &[b"\x80", b"z", b"example"],
        ]
        .iter()
        .map(|labels| Name::from_labels(labels.iter().copied()).expect("test name"))
        .collect();
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(canonical_cmp(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        // Case folded, fully qualified or not.
        assert_eq!(
            canonical_cmp(&n("A.Example."), &n("a.example")),
            Ordering::Equal
        );
    }

    #[test]
    fn hashes_and_owner_labels_match_rfc5155_appendix_a() {
        // RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
        let p = Params {
            salt: &[0xAA, 0xBB, 0xCC, 0xDD],
            iterations: 12,
            opt_out: false,
        };
        assert_eq!(
            base32hex(&hash(&n("example."), p)),
            "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"
        );
        assert_eq!(
            base32hex(&hash(&n("A.EXAMPLE."), p)),
            "35mthgpgcu1qg68fab165klnsnk3dpvl"
        );
        let owner = n("0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM.example.");
        assert_eq!(
            owner_hash(&owner, &apex(), Nsec3HashAlgorithm::SHA1),
            Some(hash(&n("example."), p))
        );
        // Wrong length, bad character, non-zero padding bits, wrong zone.
        for bad in [
            "0p9mhaveqvm6t7vbl5lop2u3t2rp3to.example.",
            "0p9mhaveqvm6t7vbl5lop2u3t2rp3toz.example.",
            "x.0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.",
            "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.other.",
        ] {
            assert_eq!(
                owner_hash(&n(bad), &apex(), Nsec3HashAlgorithm::SHA1),
                None,
                "{bad}"
            );
        }
        assert_eq!(base32hex_decode(b"01"), None, "padding bits set");
        assert_eq!(base32hex_decode(b"00"), Some(vec![0]));
    }

    #[test]
    fn nxdomain_is_proven() {
        for (kind, records) in chains() {
            for qname in [
                "nope.example.",
                "NoPe.EXAMPLE.",
                "deep.nope.example.",
                "x.c.example.",
                "zzz.example.",
            ] {
                assert_eq!(nx(&records, qname), Proof::Proven, "{kind} {qname}");
            }
        }
    }

    #[test]
    fn nxdomain_for_existing_names_is_not_proven() {
        for (kind, records) in chains() {
            // a exists; c is an empty non-terminal; below sub the parent
            // knows nothing; outside the zone nothing is proven.
            for qname in ["a.example.", "c.example.", "x.sub.example.", "a.other."] {
                assert!(
                    matches!(nx(&records, qname), Proof::NotProven(_)),
                    "{kind} {qname}"
                );
            }
        }
        assert_eq!(
            nx(&nsec_chain(), "c.example."),
            Proof::NotProven(NAME_IS_ENT)
        );
    }

    #[test]
    fn nxdomain_without_the_wildcard_proof_is_not_proven() {
        // NSEC: the apex's NSEC (example. -> a.example.) is the one that
        // covers *.example.
        let wildcard = n("*.example.");
        let records: Vec<Record> = nsec_chain()
            .into_iter()
            .filter(|r| !(nsec_of(r).is_some() && nsec_covers(r, &wildcard)))
            .collect();
        assert_eq!(
            nx(&records, "nope.example."),
            Proof::NotProven(NO_WILDCARD_COVER)
        );

        for p in [PLAIN, SALTED] {
            let chain = nsec3_chain(p);
            let wildcard_cover =
                nsec3_index(&chain, &wildcard, p, false).expect("wildcard covered");
            let apex_match = nsec3_index(&chain, &apex(), p, true).expect("apex matched");
            assert_ne!(wildcard_cover, apex_match, "{p:?}: pick other test params");
            // A name whose next closer name another NSEC3 covers, so only
            // the wildcard part of the proof is missing.
            let qname = (0..100)
                .map(|i| format!("nx{i}.example."))
                .find(|q| nsec3_index(&chain, &n(q), p, false) != Some(wildcard_cover))
                .expect("some name hashes elsewhere");
            let mut records = chain.clone();
            records.remove(wildcard_cover);
            assert_eq!(
                nx(&records, &qname),
                Proof::NotProven(NO_WILDCARD_COVER),
                "{p:?}"
            );
            // An NSEC3 with other parameters covering every hash is
            // ignored: it does not stand in for the missing one.
            let other = Params {
                iterations: p.iterations + 1,
                ..p
            };
            records.push(nsec3_record(&[0; 20], vec![0xFF; 20], vec![], other));
            assert_eq!(
                nx(&records, &qname),
                Proof::NotProven(NO_WILDCARD_COVER),
                "{p:?}"
            );
            assert!(matches!(
                nx(&chain[..0], &qname),
                Proof::NotProven(NO_RECORDS)
            ));
        }
    }

    #[test]
    fn nodata_is_proven() {
        for (kind, records) in chains() {
            for (qname, qtype) in [
                ("a.example.", RecordType::AAAA),
                ("example.", RecordType::MX),
                ("b.c.example.", RecordType::TXT),
                // The parent's side of an insecure delegation.
                ("sub.example.", RecordType::DS),
            ] {
                assert_eq!(
                    nd(&records, qname, qtype),
                    Proof::Proven,
                    "{kind} {qname} {qtype}"
                );
            }
        }
    }

    #[test]
    fn nodata_with_the_type_in_the_bitmap_is_not_proven() {
        for (kind, records) in chains() {
            assert_eq!(
                nd(&records, "a.example.", RecordType::A),
                Proof::NotProven(TYPE_EXISTS),
                "{kind}"
            );
            assert_eq!(
                nd(&records, "sec.example.", RecordType::DS),
                Proof::NotProven(TYPE_EXISTS),
                "{kind}"
            );
        }
    }

    #[test]
    fn nodata_with_a_cname_in_the_bitmap_is_not_proven() {
        for (kind, records) in chains() {
            assert_eq!(
                nd(&records, "cn.example.", RecordType::A),
                Proof::NotProven(CNAME_EXISTS),
                "{kind}"
            );
        }
    }

    #[test]
    fn nodata_at_an_empty_non_terminal_is_proven() {
        for (kind, records) in chains() {
            for qname in ["c.example.", "w.example."] {
                for qtype in [RecordType::A, RecordType::DS] {
                    assert_eq!(
                        nd(&records, qname, qtype),
                        Proof::Proven,
                        "{kind} {qname} {qtype}"
                    );
                }
            }
        }
    }

    #[test]
    fn nodata_at_a_delegation_or_from_the_child_is_not_proven() {
        for (kind, records) in chains() {
            // The child zone holds sub's A; the parent's NSEC says nothing.
            assert_eq!(
                nd(&records, "sub.example.", RecordType::A),
                Proof::NotProven(IS_DELEGATION),
                "{kind}"
            );
            // DS of example. is in the parent: example.'s own apex record
            // cannot deny it.
            assert_eq!(
                nd(&records, "example.", RecordType::DS),
                Proof::NotProven(FROM_CHILD),
                "{kind}"
            );
        }
    }

    #[test]
    fn wildcard_nodata_is_proven_only_without_the_type() {
        for (kind, records) in chains() {
            assert_eq!(
                nd(&records, "x.w.example.", RecordType::A),
                Proof::Proven,
                "{kind}"
            );
            assert_eq!(
                nd(&records, "x.w.example.", RecordType::TXT),
                Proof::NotProven(TYPE_EXISTS),
                "{kind}"
            );
            // No wildcard at example.: a non-existent name is no NODATA.
            assert!(
                matches!(
                    nd(&records, "nope.example.", RecordType::A),
                    Proof::NotProven(_)
                ),
                "{kind}"
            );
        }
    }

    #[test]
    fn ds_absence_tells_cuts_from_names_inside_the_zone() {
        for (kind, records) in chains() {
            assert_eq!(
                ds(&records, "sub.example."),
                DsAbsence::InsecureDelegation,
                "{kind}"
            );
            assert_eq!(
                ds(&records, "sec.example."),
                DsAbsence::NotProven(DS_EXISTS),
                "{kind}"
            );
            assert_eq!(ds(&records, "a.example."), DsAbsence::NotACut, "{kind}");
            assert_eq!(ds(&records, "c.example."), DsAbsence::NotACut, "{kind}");
            assert_eq!(ds(&records, "nope.example."), DsAbsence::NotACut, "{kind}");
            assert_eq!(
                ds(&records, "example."),
                DsAbsence::NotProven(FROM_CHILD),
                "{kind}"
            );
            // Below a delegation the parent proves nothing.
            assert!(
                matches!(ds(&records, "x.sub.example."), DsAbsence::NotProven(_)),
                "{kind}"
            );
            assert_eq!(
                ds(&records, "a.other."),
                DsAbsence::NotProven(OUTSIDE_ZONE),
                "{kind}"
            );
        }
    }

    #[test]
    fn opt_out_span_gives_opt_out() {
        let records = nsec3_chain(OPT_OUT);
        // sub has no NSEC3: an opt-out NSEC3 covers it (RFC 5155 §8.6).
        assert_eq!(ds(&records, "sub.example."), DsAbsence::OptOut);
        assert_eq!(nd(&records, "sub.example.", RecordType::DS), Proof::OptOut);
        assert_eq!(nx(&records, "nope.example."), Proof::OptOut);
        assert_eq!(wild(&records, "x.w.example.", "w.example."), Proof::OptOut);
        // Names with their own NSEC3 are unaffected.
        assert_eq!(ds(&records, "a.example."), DsAbsence::NotACut);
        assert_eq!(
            ds(&records, "sec.example."),
            DsAbsence::NotProven(DS_EXISTS)
        );
        assert_eq!(nd(&records, "a.example.", RecordType::AAAA), Proof::Proven);
        assert_eq!(
            nd(&records, "a.example.", RecordType::A),
            Proof::NotProven(TYPE_EXISTS)
        );
    }

    #[test]
    fn too_many_iterations_are_insecure_without_hashing() {
        let p = Params {
            salt: &[1, 2],
            iterations: MAX_NSEC3_ITERATIONS + 1,
            opt_out: false,
        };
        let records = nsec3_chain(p);
        let zone = apex();
        let d = DenialRecords {
            zone: &zone,
            records: &records,
        };
        let mut budget = Budget::new();
        assert_eq!(
            nxdomain(&n("nope.example."), &d, &mut budget),
            Proof::IterationsTooHigh
        );
        assert_eq!(
            nodata(&n("a.example."), RecordType::AAAA, &d, &mut budget),
            Proof::IterationsTooHigh
        );
        assert_eq!(
            wildcard_expansion(&n("x.w.example."), &n("w.example."), &d, &mut budget),
            Proof::IterationsTooHigh
        );
        assert_eq!(
            ds_absence(&n("sub.example."), &d, &mut budget),
            DsAbsence::IterationsTooHigh
        );
        assert_eq!(budget.hashes_used(), 0);
    }

    #[test]
    fn a_long_name_stops_at_the_hash_budget() {
        let records = nsec3_chain(PLAIN);
        let qname = n(&format!("{}example.", "x.".repeat(70)));
        let zone = apex();
        let d = DenialRecords {
            zone: &zone,
            records: &records,
        };
        let mut budget = Budget::new();
        assert_eq!(
            nxdomain(&qname, &d, &mut budget),
            Proof::Limit(LimitExceeded::Hashes)
        );
        assert_eq!(budget.hashes_used(), MAX_NSEC3_HASHES);
        let mut budget = Budget::new();
        assert_eq!(
            ds_absence(&qname, &d, &mut budget),
            DsAbsence::Limit(LimitExceeded::Hashes)
        );
        // A short name costs one hash per label walked, plus the wildcard.
        let mut budget = Budget::new();
        assert_eq!(
            nxdomain(&n("nope.example."), &d, &mut budget),
            Proof::Proven
        );
        assert_eq!(budget.hashes_used(), 3);
    }

    #[test]
    fn wildcard_expansion_is_proven_only_for_names_that_do_not_exist() {
        for (kind, records) in chains() {
            assert_eq!(
                wild(&records, "x.w.example.", "w.example."),
                Proof::Proven,
                "{kind}"
            );
            assert_eq!(
                wild(&records, "y.x.w.example.", "w.example."),
                Proof::Proven,
                "{kind}"
            );
            // a exists: no wildcard may answer for it.
            assert!(
                matches!(
                    wild(&records, "a.example.", "example."),
                    Proof::NotProven(_)
                ),
                "{kind}"
            );
            // c.example. exists (an empty non-terminal), so *.example.
            // cannot answer for a.c.example.
            assert!(
                matches!(
                    wild(&records, "a.c.example.", "example."),
                    Proof::NotProven(_)
                ),
                "{kind}"
            );
            // w.example. exists (an empty non-terminal), so *.example.
            // cannot answer for names below it.
            assert!(
                matches!(
                    wild(&records, "x.w.example.", "example."),
                    Proof::NotProven(_)
                ),
                "{kind}"
            );
            // The closest encloser must be an ancestor in the zone.
            assert_eq!(
                wild(&records, "x.w.example.", "x.w.example."),
                Proof::NotProven(NOT_AN_ANCESTOR),
                "{kind}"
            );
            assert_eq!(
                wild(&records, "x.w.example.", "other."),
                Proof::NotProven(NOT_AN_ANCESTOR),
                "{kind}"
            );
        }
    }

    fn nsec_at(owner: &str) -> Record {
        nsec_chain()
            .into_iter()
            .find(|r| nsec_of(r).is_some() && r.name == n(owner))
            .expect("NSEC in the chain")
    }

    #[test]
    fn nsec_covers_with_wrap_around_at_the_last_nsec() {
        // The chain is example., a, b.c, cn, sec, sub, *.w -> example.
        let last = nsec_at("*.w.example.");
        assert_eq!(
            nsec_of(&last).map(|x| x.next_domain_name().clone()),
            Some(apex())
        );
        for name in ["zz.example.", "x.w.example.", "x.y.z.example."] {
            assert!(nsec_covers(&last, &n(name)), "{name}");
        }
        for name in [
            "example.",
            "a.example.",
            "*.w.example.",
            "w.example.",
            "zz.other.",
        ] {
            assert!(!nsec_covers(&last, &n(name)), "{name}");
        }

        let a = nsec_at("a.example.");
        for name in ["aa.example.", "b.example.", "x.a.example.", "c.example."] {
            assert!(nsec_covers(&a, &n(name)), "{name}");
        }
        for name in ["a.example.", "b.c.example.", "example.", "z.example."] {
            assert!(!nsec_covers(&a, &n(name)), "{name}");
        }

        // Parent-side NSEC at a delegation: nothing below it is covered.
        let sub = nsec_at("sub.example.");
        assert!(nsec_covers(&sub, &n("subb.example.")));
        assert!(!nsec_covers(&sub, &n("x.sub.example.")));

        // Not an NSEC.
        let a_record = Record::from_rdata(
            n("a.example."),
            300,
            RData::A("192.0.2.1".parse().expect("address")),
        );
        assert!(!nsec_covers(&a_record, &n("aa.example.")));
    }

    #[test]
    fn nsec_closest_encloser_is_the_longest_common_ancestor() {
        let b_c = nsec_at("b.c.example.");
        assert_eq!(
            nsec_closest_encloser(&b_c, &n("x.c.example.")),
            Some(n("c.example."))
        );
        // Deeper in common with the next name (b.c.example.) than the owner.
        let a = nsec_at("a.example.");
        assert_eq!(
            nsec_closest_encloser(&a, &n("a.c.example.")),
            Some(n("c.example."))
        );
        let cn = nsec_at("cn.example.");
        assert_eq!(
            nsec_closest_encloser(&cn, &n("nope.example.")),
            Some(apex())
        );
        let last = nsec_at("*.w.example.");
        assert_eq!(
            nsec_closest_encloser(&last, &n("x.w.example.")),
            Some(n("w.example."))
        );
        assert_eq!(
            nsec_closest_encloser(&last, &n("zz.example.")),
            Some(apex())
        );
        assert_eq!(nsec_closest_encloser(&cn, &n("a.example.")), None);
    }
}
