//! RRSIG verification (RFC 4034 §3, RFC 4035 §5.2–5.3, RFC 6840).
//!
//! One RRset's path through this module, in [`verify_rrset`]:
//!
//! 1. The set is checked to be one owner, type and class (case-insensitive
//!    owner comparison, since 0x20 randomisation mixes the case), and the
//!    signer zone must be the owner or one of its ancestors (RFC 4035 §5.3.1).
//! 2. The RRSIGs that cover it are picked out of the reply: same owner and
//!    class, Type Covered equal to the set's type, Signer's Name equal to the
//!    zone whose keys we hold. None: [`VerifyError::NoSignatures`].
//! 3. For each RRSIG with an algorithm we implement ([`algorithm_supported`]):
//!    the Labels field must not exceed the owner's label count (a smaller
//!    value is a wildcard expansion, RFC 4035 §5.3.4); the keys with the
//!    RRSIG's algorithm and key tag are looked up (more than
//!    [`MAX_KEY_TAG_COLLISIONS`] of them is a KeyTrap attempt and ends the
//!    query); they must be zone keys and not revoked (RFC 4034 §2.1.1,
//!    RFC 5011 §2.1); inception ≤ now ≤ expiration in RFC 1982 serial
//!    arithmetic (RFC 4034 §3.1.5); then, one [`Budget`] validation spent
//!    per key, the signature is checked over the signed data rebuilt as
//!    RFC 4035 §5.3.2 says: RRSIG RDATA without the signature, then each RR
//!    in canonical form (RFC 4034 §6.2: lower-case owner, or `*.` + the
//!    closest encloser for a wildcard; lower-case names in the RDATA of the
//!    types RFC 4034 §6.2 / RFC 6840 §5.1 list; the RRSIG's Original TTL),
//!    in canonical order (RFC 4034 §6.3: by RDATA octets, duplicates removed).
//! 4. The first RRSIG that verifies gives a [`Verified`]: the TTL the set may
//!    be cached for (RFC 4035 §5.3.3) and, for a wildcard expansion, the
//!    closest encloser the caller must prove the next closer name of
//!    nonexistent. If none verifies, the error of the RRSIG that got the
//!    furthest is returned (bad crypto > time > zone-key bit > no key >
//!    malformed).
//!
//! DNSKEY RRsets are authenticated from above the same way, with only the
//! keys a DS record ([`verify_dnskeys_with_ds`], RFC 4035 §5.2) or a trust
//! anchor ([`verify_dnskeys_with_anchor_keys`]) vouches for; the zone's
//! trusted keys are then every zone key of the verified set.
//!
//! Everything here is pure: no I/O, time comes in as `now`.

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use crate::dnssec::legacy;
use crate::dnssec::limits::{Budget, LimitExceeded, MAX_DS_PER_ZONE, MAX_KEY_TAG_COLLISIONS};

/// Seconds since the Unix epoch. RRSIG inception and expiration are 32-bit
/// serial numbers (RFC 4034 §3.1.5) and are compared with RFC 1982 serial
/// arithmetic against `now as u32`, so the check keeps working after 2106.
pub type UnixTime = u64;

/// Why an RRset (or a DNSKEY set) did not validate. Each maps to an
/// RFC 8914 INFO-CODE ([`VerifyError::ede_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No RRSIG from the zone covers the set (RFC 4035 §5.3.1): EDE 10
    /// "RRSIGs Missing". Also returned when the zone has a key of a
    /// supported algorithm but the set carries only RRSIGs of algorithms we
    /// do not implement: RFC 4035 §2.2 requires a signature by every
    /// algorithm of the apex DNSKEY set, so that is a stripped signature,
    /// not an insecure zone.
    #[error("no RRSIG from the zone covers the RRset")]
    NoSignatures,
    /// No key with the RRSIG's signer, algorithm and key tag (RFC 4035
    /// §5.3.1): EDE 9 "DNSKEY Missing".
    #[error("no DNSKEY matches the RRSIG's algorithm and key tag")]
    NoMatchingKey,
    /// Every candidate RRSIG had expired (RFC 4035 §5.3.1): EDE 7
    /// "Signature Expired".
    #[error("signature expired")]
    Expired,
    /// The candidate RRSIGs' inception is still in the future: EDE 8
    /// "Signature Not Yet Valid".
    #[error("signature not yet valid")]
    NotYetValid,
    /// The cryptographic check failed: EDE 6 "DNSSEC Bogus".
    #[error("signature does not verify")]
    BadSignature,
    /// Every RRSIG and every key of the zone use algorithms we do not
    /// implement: the caller treats the zone as insecure (RFC 6840 §5.2,
    /// RFC 4035 §5.2); EDE 1 "Unsupported DNSKEY Algorithm".
    #[error("only unsupported DNSSEC algorithms")]
    UnsupportedAlgorithm,
    /// The matching DNSKEY lacks the Zone Key bit or has the REVOKE bit
    /// (RFC 4034 §2.1.1, RFC 5011 §2.1): EDE 11 "No Zone Key Bit Set".
    #[error("the matching DNSKEY is not a usable zone key")]
    NoZoneKey,
    /// The RRset or RRSIG breaks a structural rule (Labels field larger
    /// than the owner's label count, signer not an ancestor of the owner,
    /// mixed owners or types): EDE 6 "DNSSEC Bogus".
    #[error("malformed: {0}")]
    Malformed(String),
    /// The query's validation budget ran out (KeyTrap defence): EDE 0
    /// "Other" with the limit's text.
    #[error("validation limit: {0}")]
    Limit(LimitExceeded),
}

impl VerifyError {
    /// The RFC 8914 INFO-CODE for this failure.
    pub fn ede_code(&self) -> u16 {
        match self {
            Self::NoSignatures => 10,
            Self::NoMatchingKey => 9,
            Self::Expired => 7,
            Self::NotYetValid => 8,
            Self::BadSignature | Self::Malformed(_) => 6,
            Self::UnsupportedAlgorithm => 1,
            Self::NoZoneKey => 11,
            Self::Limit(_) => 0,
        }
    }

    /// Short EXTRA-TEXT for the EDE option (RFC 8914 §2): the code's
    /// purpose, or the limit that was hit.
    pub fn ede_text(&self) -> &'static str {
        match self {
            Self::NoSignatures => "RRSIGs Missing",
            Self::NoMatchingKey => "DNSKEY Missing",
            Self::Expired => "Signature Expired",
            Self::NotYetValid => "Signature Not Yet Valid",
            Self::BadSignature | Self::Malformed(_) => "DNSSEC Bogus",
            Self::UnsupportedAlgorithm => "Unsupported DNSKEY Algorithm",
            Self::NoZoneKey => "No Zone Key Bit Set",
            Self::Limit(limit) => limit_text(*limit),
        }
    }

    /// How far verification of one RRSIG got before this failure; when
    /// every RRSIG fails, the furthest one's error is reported.
    fn stage(&self) -> u8 {
        match self {
            Self::UnsupportedAlgorithm | Self::NoSignatures => 0,
            Self::Malformed(_) => 1,
            Self::NoMatchingKey => 2,
            Self::NoZoneKey => 3,
            Self::Expired | Self::NotYetValid => 4,
            Self::BadSignature => 5,
            Self::Limit(_) => 6,
        }
    }
}

fn limit_text(limit: LimitExceeded) -> &'static str {
    match limit {
        LimitExceeded::Validations => "validation limit: too many signature validations",
        LimitExceeded::KeyTagCollisions => "validation limit: too many keys share one key tag",
        LimitExceeded::Hashes => "validation limit: too many NSEC3 hash computations",
        LimitExceeded::Fetches => "validation limit: too many DS/DNSKEY fetches",
    }
}

/// Whether we validate signatures of `alg` (RFC 8624 §3.1 lists what a
/// validator must implement).
///
/// Supported: RSASHA256 (8), RSASHA512 (10), ECDSAP256SHA256 (13),
/// ECDSAP384SHA384 (14), ED25519 (15), and also RSASHA1 (5) and
/// RSASHA1-NSEC3-SHA1 (7). SHA-1 signatures are weak, but a zone signed
/// only with them would otherwise be *insecure* (RFC 6840 §5.2), which lets
/// anyone forge its data with no effort at all; validating them still costs
/// a forger a chosen-prefix SHA-1 collision. Unbound, BIND and Knot
/// Resolver validate 5 and 7 by default for the same reason; hickory with
/// ring verifies them (ring's `RSA_PKCS1_*_SHA1_FOR_LEGACY_USE_ONLY`).
///
/// DSA (3) and DSA-NSEC3-SHA1 (6), and RSA keys of 512 to 1,023 bits,
/// which ring refuses, are checked by [`legacy`](super::legacy) for the
/// same reason.
///
/// Not supported (the zone is insecure): RSAMD5 (1), ECC-GOST (12), ED448
/// (16) and unknown numbers.
pub fn algorithm_supported(alg: Algorithm) -> bool {
    #[allow(deprecated)]
    let supported = matches!(
        alg,
        Algorithm::DSA
            | Algorithm::RSASHA1
            | Algorithm::RSASHA1NSEC3SHA1
            | Algorithm::RSASHA256
            | Algorithm::RSASHA512
            | Algorithm::ECDSAP256SHA256
            | Algorithm::ECDSAP384SHA384
            | Algorithm::ED25519
    );
    // DSA-NSEC3-SHA1 has no name in hickory.
    supported || u8::from(alg) == 6
}

/// Whether we can check DS records with digest type `digest` (RFC 4034
/// §5.1.3, RFC 8624 §3.3): SHA-1 (1), SHA-256 (2), SHA-384 (4). SHA-1 is
/// kept for the zones whose parent still publishes only a SHA-1 DS (else
/// they would be insecure), but it is ignored whenever a SHA-256 or SHA-384
/// DS is usable for the zone (RFC 4509 §3), so it cannot be used to
/// downgrade. GOST (3), SM3 (6) and unknown types are unsupported.
pub fn digest_supported(digest: DigestType) -> bool {
    matches!(
        digest,
        DigestType::SHA1 | DigestType::SHA256 | DigestType::SHA384
    )
}

/// A verified RRset: how long it may be cached and whether it was a
/// wildcard expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// min(lowest record TTL, RRSIG Original TTL, seconds until the RRSIG
    /// expires) (RFC 4035 §5.3.3).
    pub ttl: u32,
    /// For a wildcard expansion (RRSIG Labels < owner labels, RFC 4035
    /// §5.3.4): the closest encloser, i.e. the owner truncated to `labels`
    /// labels, lower-cased. The caller must then prove with NSEC/NSEC3 that
    /// the next closer name does not exist (RFC 4035 §5.3.4, RFC 5155 §8.8).
    pub wildcard: Option<Name>,
}

/// The RRSIG in a record, if it is one.
pub fn rrsig_of(record: &Record) -> Option<&RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig),
        _ => None,
    }
}

/// The distinct Signer's Names (lower-cased) of the RRSIGs in `rrsigs` that
/// cover the set `owner`/`rtype`: which zone's keys the caller needs
/// before calling [`verify_rrset`].
pub fn signers(rrsigs: &[Record], owner: &Name, rtype: RecordType) -> Vec<Name> {
    let mut out: Vec<Name> = Vec::new();
    for record in rrsigs {
        if record.name != *owner {
            continue;
        }
        let Some(sig) = rrsig_of(record) else {
            continue;
        };
        if sig.input().type_covered != rtype {
            continue;
        }
        let signer = &sig.input().signer_name;
        if !out.contains(signer) {
            out.push(signer.to_lowercase());
        }
    }
    out
}

/// The key tag of a DNSKEY (RFC 4034 Appendix B), `None` if it cannot be
/// encoded.
pub fn key_tag(key: &DNSKEY) -> Option<u16> {
    key.calculate_key_tag().ok()
}

/// Verifies one RRset (RFC 4035 §5.3).
///
/// `rrset`: the records of one owner/type/class (not RRSIGs); TTLs may
/// differ, the lowest counts. `rrsigs`: RRSIG records from the same reply;
/// only those with the set's owner and class, Type Covered equal to the
/// set's type and Signer's Name equal to `zone` are used. `zone`: the
/// signer whose validated keys `keys` are; it must be the owner or an
/// ancestor of it. `now`: the current time.
///
/// Per RRSIG only keys with its algorithm and key tag are tried, at most
/// [`MAX_KEY_TAG_COLLISIONS`] (more: `Err(Limit(KeyTagCollisions))` at
/// once, before any crypto); each cryptographic check spends one
/// [`Budget`] validation first, and an empty budget ends with
/// `Err(Limit(Validations))`.
pub fn verify_rrset(
    rrset: &[Record],
    rrsigs: &[Record],
    zone: &Name,
    keys: &[DNSKEY],
    now: UnixTime,
    budget: &mut Budget,
) -> Result<Verified, VerifyError> {
    let set = RrsetInfo::new(rrset)?;
    if !zone.zone_of(set.owner) {
        return Err(VerifyError::Malformed(format!(
            "signer {zone} is not an ancestor of {}",
            set.owner
        )));
    }

    let candidates: Vec<&RRSIG> = rrsigs
        .iter()
        .filter_map(|record| set.covering_rrsig(record))
        .filter(|sig| sig.input().signer_name == *zone)
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::NoSignatures);
    }

    let tagged: Vec<(u16, &DNSKEY)> = keys
        .iter()
        .filter_map(|key| Some((key_tag(key)?, key)))
        .collect();
    let now32 = now as u32;
    let mut rdatas: Option<Vec<Vec<u8>>> = None;
    let mut failure: Option<VerifyError> = None;

    for sig in candidates {
        if !algorithm_supported(sig.input().algorithm) {
            continue;
        }
        let outcome = verify_one(&set, sig, zone, &tagged, now32, &mut rdatas, budget);
        match outcome {
            Ok(verified) => return Ok(verified),
            Err(err @ VerifyError::Limit(_)) => return Err(err),
            Err(err) => {
                if failure.as_ref().is_none_or(|f| err.stage() > f.stage()) {
                    failure = Some(err);
                }
            }
        }
    }

    match failure {
        Some(err) => Err(err),
        // Only RRSIGs of algorithms we do not implement. Insecure only if
        // the zone has no key we could have used either; otherwise a
        // supported signature was stripped.
        None if keys.iter().any(|k| algorithm_supported(key_algorithm(k))) => {
            Err(VerifyError::NoSignatures)
        }
        None => Err(VerifyError::UnsupportedAlgorithm),
    }
}

/// Checks one RRSIG of a supported algorithm against the keys.
fn verify_one(
    set: &RrsetInfo<'_>,
    sig: &RRSIG,
    zone: &Name,
    keys: &[(u16, &DNSKEY)],
    now32: u32,
    rdatas: &mut Option<Vec<Vec<u8>>>,
    budget: &mut Budget,
) -> Result<Verified, VerifyError> {
    let input = sig.input();

    // RFC 4035 §5.3.1: Labels ≤ owner labels (not counting a leading `*`).
    let owner_labels = set.owner.num_labels();
    if input.num_labels > owner_labels {
        return Err(VerifyError::Malformed(format!(
            "RRSIG labels {} exceed the {owner_labels} labels of {}",
            input.num_labels, set.owner
        )));
    }
    // A wildcard cannot sit above the zone that signed it.
    if input.num_labels < zone.num_labels() {
        return Err(VerifyError::Malformed(format!(
            "RRSIG labels {} put the wildcard above the signer {zone}",
            input.num_labels
        )));
    }

    let matching: Vec<&DNSKEY> = keys
        .iter()
        .filter(|(tag, key)| *tag == input.key_tag && key_algorithm(key) == input.algorithm)
        .map(|(_, key)| *key)
        .collect();
    if matching.is_empty() {
        return Err(VerifyError::NoMatchingKey);
    }
    if matching.len() > MAX_KEY_TAG_COLLISIONS as usize {
        return Err(VerifyError::Limit(LimitExceeded::KeyTagCollisions));
    }
    let usable: Vec<&DNSKEY> = matching
        .into_iter()
        .filter(|key| is_zone_key(key))
        .collect();
    if usable.is_empty() {
        return Err(VerifyError::NoZoneKey);
    }

    // RFC 4034 §3.1.5 / RFC 4035 §5.3.1: inception ≤ now ≤ expiration.
    let expiration = input.sig_expiration.get();
    let inception = input.sig_inception.get();
    if serial_lt(expiration, now32) {
        return Err(VerifyError::Expired);
    }
    if serial_lt(now32, inception) {
        return Err(VerifyError::NotYetValid);
    }

    let wildcard = (input.num_labels < owner_labels).then(|| {
        set.owner
            .trim_to(usize::from(input.num_labels))
            .to_lowercase()
    });
    let rdatas = match rdatas {
        Some(done) => done,
        None => rdatas.insert(canonical_rdatas(set.records)?),
    };
    let data = signed_data(set, sig, wildcard.as_ref(), rdatas)?;

    for key in usable {
        budget.spend_validation().map_err(VerifyError::Limit)?;
        let verified = key.verify(&data, sig.sig()).is_ok()
            || legacy::verify(
                key_algorithm(key),
                key.public_key().public_bytes(),
                &data,
                sig.sig(),
            );
        if verified {
            let until_expiry = expiration.wrapping_sub(now32);
            let ttl = set.min_ttl.min(input.original_ttl).min(until_expiry);
            return Ok(Verified { ttl, wildcard });
        }
    }
    Err(VerifyError::BadSignature)
}

/// RFC 1982 serial-number "less than" for 32-bit values.
fn serial_lt(a: u32, b: u32) -> bool {
    a != b && (b.wrapping_sub(a) as i32) > 0
}

fn key_algorithm(key: &DNSKEY) -> Algorithm {
    key.public_key().algorithm()
}

/// Zone Key bit set and not revoked (RFC 4034 §2.1.1, RFC 5011 §2.1).
fn is_zone_key(key: &DNSKEY) -> bool {
    key.zone_key() && !key.revoke()
}

/// What verification needs to know about the RRset.
struct RrsetInfo<'a> {
    records: &'a [Record],
    owner: &'a Name,
    rtype: RecordType,
    class: DNSClass,
    min_ttl: u32,
}

impl<'a> RrsetInfo<'a> {
    fn new(records: &'a [Record]) -> Result<Self, VerifyError> {
        let first = records
            .first()
            .ok_or_else(|| VerifyError::Malformed("empty RRset".to_string()))?;
        let rtype = first.record_type();
        if rtype == RecordType::RRSIG {
            return Err(VerifyError::Malformed(
                "RRSIGs are not an RRset to verify".to_string(),
            ));
        }
        let mut min_ttl = first.ttl;
        for record in records {
            if record.name != first.name {
                return Err(VerifyError::Malformed(format!(
                    "mixed owners {} and {} in one RRset",
                    first.name, record.name
                )));
            }
            if record.record_type() != rtype || record.dns_class != first.dns_class {
                return Err(VerifyError::Malformed(format!(
                    "mixed types or classes at {} in one RRset",
                    first.name
                )));
            }
            min_ttl = min_ttl.min(record.ttl);
        }
        Ok(Self {
            records,
            owner: &first.name,
            rtype,
            class: first.dns_class,
            min_ttl,
        })
    }

    /// The RRSIG in `record` if it covers this set (owner, class, type).
    fn covering_rrsig<'r>(&self, record: &'r Record) -> Option<&'r RRSIG> {
        if record.name != *self.owner || record.dns_class != self.class {
            return None;
        }
        rrsig_of(record).filter(|sig| sig.input().type_covered == self.rtype)
    }
}

/// Each record's RDATA in canonical form (RFC 4034 §6.2: no compression,
/// names lower-cased for the types listed there as amended by RFC 6840
/// §5.1 — hickory's canonical encoder knows the list), in canonical order
/// (RFC 4034 §6.3: octet-wise, absence before zero) without duplicates.
fn canonical_rdatas(records: &[Record]) -> Result<Vec<Vec<u8>>, VerifyError> {
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let mut buf = Vec::new();
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_canonical_form(true);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        record.data.emit(&mut encoder).map_err(|e| {
            VerifyError::Malformed(format!("cannot encode RDATA of {}: {e}", record.name))
        })?;
        if buf.len() > usize::from(u16::MAX) {
            return Err(VerifyError::Malformed(format!(
                "RDATA of {} too long",
                record.name
            )));
        }
        out.push(buf);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The signed data of RFC 4034 §3.1.8.1 / RFC 4035 §5.3.2:
/// RRSIG_RDATA (without the signature, signer name lower-case) followed by
/// `name | type | class | Original TTL | RDLENGTH | RDATA` for each RR.
fn signed_data(
    set: &RrsetInfo<'_>,
    sig: &RRSIG,
    wildcard: Option<&Name>,
    rdatas: &[Vec<u8>],
) -> Result<Vec<u8>, VerifyError> {
    let encode_failed = |e| VerifyError::Malformed(format!("cannot encode signed data: {e}"));
    let input = sig.input();

    let mut owner = Vec::new();
    {
        let mut encoder = BinEncoder::new(&mut owner);
        encoder.set_name_encoding(NameEncoding::UncompressedLowercase);
        match wildcard {
            // RFC 4035 §5.3.2: "*." | the rightmost Labels labels.
            Some(encloser) => {
                encoder.emit_character_data(b"*").map_err(encode_failed)?;
                encloser.emit(&mut encoder).map_err(encode_failed)?;
            }
            None => set.owner.emit(&mut encoder).map_err(encode_failed)?,
        }
    }

    let mut data = Vec::new();
    {
        let mut encoder = BinEncoder::new(&mut data);
        encoder.set_canonical_form(true);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        input.emit(&mut encoder).map_err(encode_failed)?;
    }
    let rtype = u16::from(input.type_covered).to_be_bytes();
    let class = u16::from(set.class).to_be_bytes();
    let ttl = input.original_ttl.to_be_bytes();
    for rdata in rdatas {
        let len = u16::try_from(rdata.len())
            .map_err(|_| VerifyError::Malformed("RDATA too long".to_string()))?;
        data.extend_from_slice(&owner);
        data.extend_from_slice(&rtype);
        data.extend_from_slice(&class);
        data.extend_from_slice(&ttl);
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(rdata);
    }
    Ok(data)
}

/// Why a zone's DNSKEY RRset could not be authenticated from above
/// (RFC 4035 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsError {
    /// No DS (or trust-anchor key) with an algorithm and digest type we
    /// implement: the zone is insecure, not bogus (RFC 4035 §5.2, RFC 6840
    /// §5.2, RFC 4509 §3). EDE 1 "Unsupported DNSKEY Algorithm" (EDE 2
    /// "Unsupported DS Digest Type" cannot be told apart here).
    #[error("no DS record with a supported algorithm and digest type")]
    NoUsableDs,
    /// No zone key in the DNSKEY RRset matches a usable DS (key tag,
    /// algorithm and digest over owner | RDATA) or trust-anchor key:
    /// EDE 9 "DNSKEY Missing".
    #[error("no DNSKEY matches the DS records")]
    NoKeyMatchesDs,
    /// The DNSKEY RRset is not signed by a matching key.
    #[error("DNSKEY RRset: {0}")]
    Verify(VerifyError),
}

impl DsError {
    /// The RFC 8914 INFO-CODE for this failure.
    pub fn ede_code(&self) -> u16 {
        match self {
            Self::NoUsableDs => 1,
            Self::NoKeyMatchesDs => 9,
            Self::Verify(err) => err.ede_code(),
        }
    }

    /// Short EXTRA-TEXT for the EDE option.
    pub fn ede_text(&self) -> &'static str {
        match self {
            Self::NoUsableDs => "Unsupported DNSKEY Algorithm or DS Digest Type",
            Self::NoKeyMatchesDs => "DNSKEY Missing",
            Self::Verify(err) => err.ede_text(),
        }
    }
}

impl From<VerifyError> for DsError {
    fn from(err: VerifyError) -> Self {
        Self::Verify(err)
    }
}

/// A zone's authenticated keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKeys {
    /// Every zone key (Zone Key bit set, not revoked) of the verified
    /// DNSKEY RRset, whatever its algorithm.
    pub keys: Vec<DNSKEY>,
    /// How long they may be cached (RFC 4035 §5.3.3).
    pub ttl: u32,
}

/// Authenticates `zone`'s DNSKEY RRset with the DS RRset from its parent
/// (or a trust anchor's DS records), RFC 4035 §5.2.
///
/// DS records with a supported algorithm and digest type are kept (SHA-1
/// ones only if no SHA-256/384 one is usable, RFC 4509 §3), the first
/// [`MAX_DS_PER_ZONE`] of them; none: [`DsError::NoUsableDs`] (insecure).
/// Zone keys of the set matching one (key tag, algorithm, digest of owner |
/// RDATA) are found, at most [`MAX_KEY_TAG_COLLISIONS`] candidates per DS;
/// none: [`DsError::NoKeyMatchesDs`]. The set must then verify with one of
/// those keys ([`verify_rrset`]); on success all its zone keys are trusted.
pub fn verify_dnskeys_with_ds(
    zone: &Name,
    dnskey_rrset: &[Record],
    rrsigs: &[Record],
    ds: &[DS],
    now: UnixTime,
    budget: &mut Budget,
) -> Result<TrustedKeys, DsError> {
    let usable = usable_ds(ds);
    if usable.is_empty() {
        return Err(DsError::NoUsableDs);
    }
    let set_keys = dnskeys_of(zone, dnskey_rrset)?;

    let mut matching: Vec<DNSKEY> = Vec::new();
    for ds in usable {
        let same_tag: Vec<&DNSKEY> = set_keys
            .iter()
            .filter(|(tag, key)| *tag == ds.key_tag() && key_algorithm(key) == ds.algorithm())
            .map(|(_, key)| *key)
            .collect();
        if same_tag.len() > MAX_KEY_TAG_COLLISIONS as usize {
            return Err(DsError::Verify(VerifyError::Limit(
                LimitExceeded::KeyTagCollisions,
            )));
        }
        for key in same_tag {
            // DS::covers checks the Zone Key bit and compares the digest of
            // the lower-cased owner and the DNSKEY RDATA.
            if is_zone_key(key) && ds.covers(zone, key).unwrap_or(false) && !matching.contains(key)
            {
                matching.push(key.clone());
            }
        }
    }
    if matching.is_empty() {
        return Err(DsError::NoKeyMatchesDs);
    }
    trust_set(
        zone,
        dnskey_rrset,
        rrsigs,
        &matching,
        &set_keys,
        now,
        budget,
    )
}

/// Authenticates `zone`'s DNSKEY RRset with trust-anchor DNSKEYs (RFC 4035
/// §5, RFC 4033 §2): the set must contain one of the anchor keys (same
/// algorithm and public key, as a zone key not revoked) and be signed by
/// one of them. Anchors of unsupported algorithms are ignored; none left:
/// [`DsError::NoUsableDs`].
pub fn verify_dnskeys_with_anchor_keys(
    zone: &Name,
    dnskey_rrset: &[Record],
    rrsigs: &[Record],
    anchors: &[DNSKEY],
    now: UnixTime,
    budget: &mut Budget,
) -> Result<TrustedKeys, DsError> {
    let usable: Vec<&DNSKEY> = anchors
        .iter()
        .filter(|key| algorithm_supported(key_algorithm(key)) && is_zone_key(key))
        .collect();
    if usable.is_empty() {
        return Err(DsError::NoUsableDs);
    }
    let set_keys = dnskeys_of(zone, dnskey_rrset)?;

    let mut matching: Vec<DNSKEY> = Vec::new();
    for (_, key) in &set_keys {
        let anchored = usable.iter().any(|anchor| {
            key_algorithm(anchor) == key_algorithm(key)
                && anchor.public_key().public_bytes() == key.public_key().public_bytes()
        });
        if anchored && is_zone_key(key) && !matching.contains(*key) {
            matching.push((*key).clone());
        }
    }
    if matching.is_empty() {
        return Err(DsError::NoKeyMatchesDs);
    }
    trust_set(
        zone,
        dnskey_rrset,
        rrsigs,
        &matching,
        &set_keys,
        now,
        budget,
    )
}

/// Verifies the DNSKEY set with `signing` keys and returns its zone keys.
fn trust_set(
    zone: &Name,
    dnskey_rrset: &[Record],
    rrsigs: &[Record],
    signing: &[DNSKEY],
    set_keys: &[(u16, &DNSKEY)],
    now: UnixTime,
    budget: &mut Budget,
) -> Result<TrustedKeys, DsError> {
    let verified = verify_rrset(dnskey_rrset, rrsigs, zone, signing, now, budget)?;
    if verified.wildcard.is_some() {
        return Err(DsError::Verify(VerifyError::Malformed(format!(
            "DNSKEY RRset of {zone} signed as a wildcard expansion"
        ))));
    }
    let mut keys: Vec<DNSKEY> = Vec::new();
    for (_, key) in set_keys {
        if is_zone_key(key) && !keys.contains(*key) {
            keys.push((*key).clone());
        }
    }
    Ok(TrustedKeys {
        keys,
        ttl: verified.ttl,
    })
}

/// The usable DS records (RFC 4035 §5.2, RFC 4509 §3), at most
/// [`MAX_DS_PER_ZONE`].
fn usable_ds(ds: &[DS]) -> Vec<&DS> {
    let supported: Vec<&DS> = ds
        .iter()
        .filter(|d| algorithm_supported(d.algorithm()) && digest_supported(d.digest_type()))
        .collect();
    let strong = supported
        .iter()
        .any(|d| d.digest_type() != DigestType::SHA1);
    supported
        .into_iter()
        .filter(|d| !strong || d.digest_type() != DigestType::SHA1)
        .take(MAX_DS_PER_ZONE)
        .collect()
}

/// The DNSKEYs of a DNSKEY RRset owned by `zone`, with their key tags.
fn dnskeys_of<'a>(
    zone: &Name,
    dnskey_rrset: &'a [Record],
) -> Result<Vec<(u16, &'a DNSKEY)>, DsError> {
    let mut out = Vec::with_capacity(dnskey_rrset.len());
    for record in dnskey_rrset {
        if record.name != *zone {
            return Err(DsError::Verify(VerifyError::Malformed(format!(
                "DNSKEY owner {} is not the zone {zone}",
                record.name
            ))));
        }
        let RData::DNSSEC(DNSSECRData::DNSKEY(key)) = &record.data else {
            return Err(DsError::Verify(VerifyError::Malformed(format!(
                "{} record in the DNSKEY RRset of {zone}",
                record.record_type()
            ))));
        };
        if let Some(tag) = key_tag(key) {
            out.push((tag, key));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey, RsaSigningKey};
    use hickory_proto::dnssec::rdata::SigInput;
    use hickory_proto::dnssec::{PublicKeyBuf, SigningKey, TBS};
    use hickory_proto::rr::SerialNumber;
    use hickory_proto::rr::rdata::{A, NS};

    use super::*;
    use crate::dnssec::anchor::decode_base64;
    use crate::dnssec::limits::MAX_SIGNATURE_VALIDATIONS;

    const NOW: UnixTime = 1_700_000_000;

    /// A 2048-bit RSA key in PKCS#8 DER, made with `openssl genpkey` for
    /// these tests only (ring cannot generate RSA keys).
    const RSA_PKCS8: &[&str] = &[
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDtqWFVWj9yrIGYluIUto4mZeQd",
        "p66p07cJoDoCqMbFzjFDLAHGfiOcUDyg8lCnjWxf6f1i8t7IliruhD8Gi46GO57qPkXjIK6uETEX",
        "H9L4q7Gi3zd6gUm0KWESZlN4f5nEAZ5pRgK+1ydyNUr/tac0TQuBK8CcjxJaoHTcOcpSYRVuZy5i",
        "HcjhD84kxN9qrWMt5pQEg8bTNfkgz4YQPggIcA2qoZiwtV7OGfUrYO3CBn0oUTPtlecgI80rw/JV",
        "LttNzWTfWaDvz/H5YKpOn+Y0ykixtWp74nbjwfhI7lckpifyft710xnVz3QVUIKzcnF+VCo/hj7K",
        "nkDLZArz4VszAgMBAAECggEAW3FQgga3Yuf89TkYw9950kxh+QcLrUxIoOuFZoCJ+pHbYn0MMdNW",
        "4E3/Be42GkHP8ReW5vuLvKIK4rr/hQUtUXifLIHJYhqxG0iCGuOjyQpGzuQT9I7KTQee0fWNKE/w",
        "WfpFeTv20nb2NntK4BiEvRrn0kuDULm71iLm09Vog0kZlloCrlUyj4+T30iqNyQjgX1qLY9/Z/yf",
        "4ANwCNp9T63coD5+ca4bJMMfMuwHiOmt+nyXMY03InExUqC3luVupZafsLB6U/vD1DGTxpwxDPCT",
        "oqrvVNY8v0fDmBUCMAWOO3yuGqBJPm2sv/Zk2SVCMcpxQ5KwupT8h4eUiouMAQKBgQD88+5rPKEv",
        "Q5LXdtmJcJ7yi6aX6yJDvr9kxEoFtL2KLUUq5ZHhJ/6y18Il9oMayTswmXYy4SxXXnRIa/z3TZvd",
        "jhZW+P14/QHPHdbTATHfOn/MQuannTJzO+w4Gy2wa4cQLX6RlVWinS+/07E3gH0mBorZriIVhRkz",
        "0fkNbDwtxwKBgQDwhksGoqUzO1rRKwfUB44rYPDsEaXtuYn9+rN4b4mGhkMgWjpJ4znKTw0MYjwX",
        "9Qu3ZiOYnuKmqeKl2O8pPyhgZf8fXmYdgdmXAAgiwJj+w17yfcQuuuUdbU/fsWa4Nxf2nzSCa2PC",
        "7f7HSQ/50rFxkaXfXqvAhxYIyUuEfjkXNQKBgCUgXGcK8BFy1pOfUxB0IjAxRRNZJJ9S2N6eXMr3",
        "mzYzrMo+BapJZ32yY0GVK+r7jB929r1DBXIRX/ndN7TIhE8Bcs/zHajrYZ+Xnpc7vqkn+efuDdKe",
        "JPB65BHcE1mofptmQgR2KaqDbaW3GXSu/C9fmHOYtlH4RhmwAODyeOazAoGACdFBcLTkz1GF5HHA",
        "MQxZ5jVfwBL8Vdaz5jT8bFcJIv+J7+Ee7fMjYbmWS8Iat9Odtc+qdklN8QWQJbrUEDfuuviO0EX3",
        "Hw80xXAP5PM9i3CICJfPkSS5w1i54OSJz80X4k4fQ4+Ek+lI8/NsfoL2ES+juJlRo1sgMB2fQnow",
        "dF0CgYEAtCgz+h3TpB0aVZ8VBMIw7+WOZNGShxZjnkp+P6OM5wwzQL6/fipwMA1qHRBIiMMQt2tJ",
        "PeMbLXnZr0WehxRkTMB+A0zkcUnfu75raoWQbbQXDqJKjqVFhUsz4cKMEP/dB0MhyGEngC5v9gg1",
        "cyy/wuvS95PjN7GsQFKS96Cygkg=",
    ];

    struct Key {
        signer: Box<dyn SigningKey>,
        dnskey: DNSKEY,
    }

    impl Key {
        fn new(signer: Box<dyn SigningKey>, flags: u16) -> Self {
            let public = signer.to_public_key().unwrap();
            Self {
                signer,
                dnskey: DNSKEY::with_flags(flags, public),
            }
        }

        fn tag(&self) -> u16 {
            key_tag(&self.dnskey).unwrap()
        }

        fn algorithm(&self) -> Algorithm {
            self.signer.algorithm()
        }
    }

    fn rsa(algorithm: Algorithm, flags: u16) -> Key {
        let der = decode_base64(&RSA_PKCS8.concat()).unwrap();
        Key::new(
            Box::new(RsaSigningKey::from_pkcs8(&der.into(), algorithm).unwrap()),
            flags,
        )
    }

    fn ecdsa(algorithm: Algorithm, flags: u16) -> Key {
        let pkcs8 = EcdsaSigningKey::generate_pkcs8(algorithm).unwrap();
        Key::new(
            Box::new(EcdsaSigningKey::from_pkcs8(&pkcs8, algorithm).unwrap()),
            flags,
        )
    }

    fn ed25519(flags: u16) -> Key {
        let pkcs8 = Ed25519SigningKey::generate_pkcs8().unwrap();
        Key::new(
            Box::new(Ed25519SigningKey::from_pkcs8(&pkcs8).unwrap()),
            flags,
        )
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn a_set(owner: &str, ttl: u32, last_octets: &[u8]) -> Vec<Record> {
        last_octets
            .iter()
            .map(|&o| {
                Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, o))))
            })
            .collect()
    }

    /// The RRSIG fields a signer would use for `records` (valid from an
    /// hour before NOW to a day after it).
    fn input(key: &Key, zone: &str, records: &[Record]) -> SigInput {
        SigInput {
            type_covered: records[0].record_type(),
            algorithm: key.algorithm(),
            num_labels: records[0].name.num_labels(),
            original_ttl: records[0].ttl,
            sig_expiration: SerialNumber::new(NOW as u32 + 86_400),
            sig_inception: SerialNumber::new(NOW as u32 - 3_600),
            key_tag: key.tag(),
            signer_name: name(zone),
        }
    }

    /// Signs with hickory's own TBS (an independent construction of the
    /// signed data) and returns the RRSIG record, owned by the set's owner.
    fn sign_input(key: &Key, records: &[Record], input: SigInput) -> Record {
        let owner = &records[0].name;
        let tbs = TBS::from_input(owner, DNSClass::IN, &input, records.iter()).unwrap();
        let sig = key.signer.sign(&tbs).unwrap();
        let ttl = input.original_ttl;
        Record::from_rdata(
            owner.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }

    fn sign(key: &Key, zone: &str, records: &[Record]) -> Record {
        sign_input(key, records, input(key, zone, records))
    }

    fn with_signature(rrsig: &Record, f: impl FnOnce(&mut Vec<u8>)) -> Record {
        let sig = rrsig_of(rrsig).unwrap();
        let mut bytes = sig.sig().to_vec();
        f(&mut bytes);
        let mut out = rrsig.clone();
        out.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
            sig.input().clone(),
            bytes,
        )));
        out
    }

    fn verify(
        rrset: &[Record],
        rrsigs: &[Record],
        zone: &str,
        keys: &[DNSKEY],
    ) -> Result<Verified, VerifyError> {
        verify_rrset(rrset, rrsigs, &name(zone), keys, NOW, &mut Budget::new())
    }

    #[test]
    fn good_signatures_verify_for_each_algorithm() {
        let keys = [
            rsa(Algorithm::RSASHA256, 256),
            rsa(Algorithm::RSASHA512, 256),
            ecdsa(Algorithm::ECDSAP256SHA256, 256),
            ecdsa(Algorithm::ECDSAP384SHA384, 256),
            ed25519(256),
        ];
        for key in &keys {
            let set = a_set("www.example.", 300, &[1, 2]);
            let sig = sign(key, "example.", &set);
            let mut budget = Budget::new();
            let got = verify_rrset(
                &set,
                &[sig],
                &name("example."),
                std::slice::from_ref(&key.dnskey),
                NOW,
                &mut budget,
            );
            assert_eq!(
                got,
                Ok(Verified {
                    ttl: 300,
                    wildcard: None
                }),
                "{}",
                key.algorithm()
            );
            assert_eq!(budget.validations_used(), 1);
        }
    }

    #[test]
    fn ttl_is_the_lowest_of_records_original_ttl_and_expiry() {
        let key = ecdsa(Algorithm::ECDSAP256SHA256, 256);
        let keys = [key.dnskey.clone()];

        // Records' TTLs differ on the wire (hickory's TBS sorts by TTL
        // before RDATA, so sign with equal TTLs and lower one afterwards).
        let mut set = a_set("www.example.", 3_600, &[1, 2]);
        let sig = sign(&key, "example.", &set);
        set[1].ttl = 100;
        assert_eq!(verify(&set, &[sig], "example.", &keys).unwrap().ttl, 100);

        // A record TTL above the Original TTL is capped by it.
        let set = a_set("www.example.", 3_600, &[1]);
        let mut fields = input(&key, "example.", &set);
        fields.original_ttl = 60;
        let sig = sign_input(&key, &set, fields);
        assert_eq!(verify(&set, &[sig], "example.", &keys).unwrap().ttl, 60);

        // The signature expiring in 50 s caps it too.
        let mut fields = input(&key, "example.", &set);
        fields.sig_expiration = SerialNumber::new(NOW as u32 + 50);
        let sig = sign_input(&key, &set, fields);
        assert_eq!(verify(&set, &[sig], "example.", &keys).unwrap().ttl, 50);
    }

    #[test]
    fn a_flipped_bit_is_a_bad_signature() {
        for key in [
            rsa(Algorithm::RSASHA256, 256),
            ecdsa(Algorithm::ECDSAP256SHA256, 256),
            ed25519(256),
        ] {
            let set = a_set("www.example.", 300, &[1]);
            let sig = sign(&key, "example.", &set);
            let bad = with_signature(&sig, |s| s[10] ^= 0x01);
            assert_eq!(
                verify(&set, &[bad], "example.", std::slice::from_ref(&key.dnskey)),
                Err(VerifyError::BadSignature)
            );
            // Changed data under a good signature.
            let forged = a_set("www.example.", 300, &[66]);
            assert_eq!(
                verify(
                    &forged,
                    &[sig],
                    "example.",
                    std::slice::from_ref(&key.dnskey)
                ),
                Err(VerifyError::BadSignature)
            );
        }
    }

    #[test]
    fn expired_and_not_yet_valid_signatures_are_refused() {
        let key = ed25519(256);
        let keys = [key.dnskey.clone()];
        let set = a_set("www.example.", 300, &[1]);

        let mut fields = input(&key, "example.", &set);
        fields.sig_inception = SerialNumber::new(NOW as u32 - 7_200);
        fields.sig_expiration = SerialNumber::new(NOW as u32 - 1);
        let sig = sign_input(&key, &set, fields);
        assert_eq!(
            verify(&set, &[sig], "example.", &keys),
            Err(VerifyError::Expired)
        );

        let mut fields = input(&key, "example.", &set);
        fields.sig_inception = SerialNumber::new(NOW as u32 + 60);
        let sig = sign_input(&key, &set, fields);
        assert_eq!(
            verify(&set, &[sig], "example.", &keys),
            Err(VerifyError::NotYetValid)
        );

        // Valid exactly at the expiration second (RFC 4035 §5.3.1: ≤).
        let mut fields = input(&key, "example.", &set);
        fields.sig_expiration = SerialNumber::new(NOW as u32);
        let sig = sign_input(&key, &set, fields);
        assert_eq!(verify(&set, &[sig], "example.", &keys).unwrap().ttl, 0);
    }

    #[test]
    fn signature_times_use_serial_arithmetic_across_the_u32_wrap() {
        // In 2106 `now as u32` wraps; inception just before the wrap and
        // expiration just after it must still bracket now (RFC 1982).
        let now: UnixTime = (1 << 32) + 1_000;
        let key = ed25519(256);
        let set = a_set("www.example.", 300, &[1]);
        let mut fields = input(&key, "example.", &set);
        fields.sig_inception = SerialNumber::new(u32::MAX - 1_000);
        fields.sig_expiration = SerialNumber::new(1_100);
        let sig = sign_input(&key, &set, fields);
        let got = verify_rrset(
            &set,
            &[sig],
            &name("example."),
            std::slice::from_ref(&key.dnskey),
            now,
            &mut Budget::new(),
        );
        assert_eq!(got.map(|v| v.ttl), Ok(100));
    }

    #[test]
    fn no_covering_rrsig_is_no_signatures() {
        let key = ed25519(256);
        let keys = [key.dnskey.clone()];
        let set = a_set("www.example.", 300, &[1]);
        assert_eq!(
            verify(&set, &[], "example.", &keys),
            Err(VerifyError::NoSignatures)
        );

        // An RRSIG over another type, another owner or by another signer
        // does not count.
        let mut other_type = input(&key, "example.", &set);
        other_type.type_covered = RecordType::AAAA;
        let other_owner = sign(&key, "example.", &a_set("ftp.example.", 300, &[1]));
        let other_signer = sign(&key, "other.example.", &set);
        let rrsigs = [
            sign_input(&key, &set, other_type),
            other_owner,
            other_signer,
        ];
        assert_eq!(
            verify(&set, &rrsigs, "example.", &keys),
            Err(VerifyError::NoSignatures)
        );
    }

    #[test]
    fn a_wrong_key_tag_is_no_matching_key() {
        let signer = ecdsa(Algorithm::ECDSAP256SHA256, 256);
        let other = ecdsa(Algorithm::ECDSAP256SHA256, 256);
        let set = a_set("www.example.", 300, &[1]);
        let sig = sign(&signer, "example.", &set);
        assert_eq!(
            verify(
                &set,
                &[sig],
                "example.",
                std::slice::from_ref(&other.dnskey)
            ),
            Err(VerifyError::NoMatchingKey)
        );
        // Same key, RRSIG naming another tag.
        let mut fields = input(&signer, "example.", &set);
        fields.key_tag = signer.tag().wrapping_add(1);
        let sig = sign_input(&signer, &set, fields);
        assert_eq!(
            verify(
                &set,
                &[sig],
                "example.",
                std::slice::from_ref(&signer.dnskey)
            ),
            Err(VerifyError::NoMatchingKey)
        );
    }

    #[test]
    fn mixed_case_owner_signer_and_rdata_names_still_verify() {
        let key = rsa(Algorithm::RSASHA256, 257);
        let ns = |owner: &str, target: &str| {
            Record::from_rdata(name(owner), 3_600, RData::NS(NS(name(target))))
        };
        let signed = [
            ns("example.", "ns1.example."),
            ns("example.", "ns2.example."),
        ];
        let rrsig = sign(&key, "example.", &signed);

        // As 0x20 randomisation and a sloppy server hand them back.
        let seen = [
            ns("ExAmPlE.", "NS2.Example."),
            ns("ExAmPlE.", "ns1.EXAMPLE."),
        ];
        let mut seen_sig = rrsig.clone();
        seen_sig.name = name("eXaMpLe.");
        if let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig.data {
            let mut fields = sig.input().clone();
            fields.signer_name = name("EXAMPLE.");
            seen_sig.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                fields,
                sig.sig().to_vec(),
            )));
        }
        assert_eq!(
            verify(
                &seen,
                &[seen_sig],
                "Example.",
                std::slice::from_ref(&key.dnskey)
            )
            .map(|v| v.ttl),
            Ok(3_600)
        );
    }

    #[test]
    fn order_and_duplicates_do_not_matter() {
        let key = ecdsa(Algorithm::ECDSAP384SHA384, 256);
        let set = a_set("www.example.", 300, &[1, 2, 3]);
        let sig = sign(&key, "example.", &set);
        let shuffled = a_set("www.example.", 300, &[3, 1, 2, 1]);
        assert!(
            verify(
                &shuffled,
                &[sig],
                "example.",
                std::slice::from_ref(&key.dnskey)
            )
            .is_ok()
        );
    }

    #[test]
    fn a_wildcard_expansion_verifies_and_reports_the_closest_encloser() {
        let key = ed25519(256);
        let keys = [key.dnskey.clone()];
        // Signed at the wildcard owner: Labels = 2 (the `*` not counted).
        let wildcard = a_set("*.b.example.", 300, &[7]);
        let rrsig = sign(&key, "example.", &wildcard);
        assert_eq!(rrsig_of(&rrsig).unwrap().input().num_labels, 2);

        for expanded in ["a.b.example.", "x.A.b.example."] {
            let set = a_set(expanded, 300, &[7]);
            let mut sig = rrsig.clone();
            sig.name = name(expanded);
            assert_eq!(
                verify(&set, &[sig], "example.", &keys),
                Ok(Verified {
                    ttl: 300,
                    wildcard: Some(name("b.example.")),
                }),
                "{expanded}"
            );
        }

        // The wildcard owner itself, asked for literally, is no expansion.
        assert_eq!(
            verify(&wildcard, &[rrsig], "example.", &keys).map(|v| v.wildcard),
            Ok(None)
        );
    }

    #[test]
    fn structural_errors_are_malformed() {
        let key = ed25519(256);
        let keys = [key.dnskey.clone()];
        let set = a_set("www.example.", 300, &[1]);

        // Labels larger than the owner's label count.
        // (hickory refuses to sign that; an attacker's RRSIG need not be.)
        let mut fields = input(&key, "example.", &set);
        fields.num_labels = 3;
        let sig = Record::from_rdata(
            name("www.example."),
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(fields, vec![0; 64]))),
        );
        assert!(matches!(
            verify(&set, &[sig], "example.", &keys),
            Err(VerifyError::Malformed(_))
        ));

        // A wildcard above the signer.
        let deep = a_set("www.sub.example.", 300, &[1]);
        let mut fields = input(&key, "sub.example.", &deep);
        fields.num_labels = 1;
        let sig = sign_input(&key, &deep, fields);
        assert!(matches!(
            verify(&deep, &[sig], "sub.example.", &keys),
            Err(VerifyError::Malformed(_))
        ));

        // Signer not an ancestor of the owner.
        let sig = sign(&key, "example.", &set);
        assert!(matches!(
            verify(&set, std::slice::from_ref(&sig), "example.org.", &keys),
            Err(VerifyError::Malformed(_))
        ));

        // Mixed owners, empty set.
        let mut mixed = set.clone();
        mixed.extend(a_set("ftp.example.", 300, &[2]));
        assert!(matches!(
            verify(&mixed, &[sig], "example.", &keys),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            verify(&[], &[], "example.", &keys),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn keys_without_the_zone_bit_or_revoked_are_not_used() {
        for flags in [0, 256 | 128, 257 | 128] {
            let key = ecdsa(Algorithm::ECDSAP256SHA256, flags);
            let set = a_set("www.example.", 300, &[1]);
            let sig = sign(&key, "example.", &set);
            let mut budget = Budget::new();
            let got = verify_rrset(
                &set,
                &[sig],
                &name("example."),
                std::slice::from_ref(&key.dnskey),
                NOW,
                &mut budget,
            );
            assert_eq!(got, Err(VerifyError::NoZoneKey), "flags {flags}");
            assert_eq!(budget.validations_used(), 0);
        }
    }

    #[test]
    fn only_unsupported_algorithms_is_insecure_unless_the_zone_has_a_usable_key() {
        let set = a_set("www.example.", 300, &[1]);
        let odd = DNSKEY::with_flags(
            257,
            PublicKeyBuf::new(vec![1, 2, 3, 4], Algorithm::Unknown(253)),
        );
        let fields = SigInput {
            type_covered: RecordType::A,
            algorithm: Algorithm::Unknown(253),
            num_labels: 2,
            original_ttl: 300,
            sig_expiration: SerialNumber::new(NOW as u32 + 100),
            sig_inception: SerialNumber::new(NOW as u32 - 100),
            key_tag: key_tag(&odd).unwrap(),
            signer_name: name("example."),
        };
        let sig = Record::from_rdata(
            name("www.example."),
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(fields, vec![9; 64]))),
        );
        assert_eq!(
            verify(
                &set,
                std::slice::from_ref(&sig),
                "example.",
                std::slice::from_ref(&odd)
            ),
            Err(VerifyError::UnsupportedAlgorithm)
        );
        // With an Ed25519 key in the zone, a set carrying only the
        // algorithm-253 RRSIG had its Ed25519 RRSIG stripped: bogus.
        let good = ed25519(257);
        assert_eq!(
            verify(&set, &[sig], "example.", &[odd, good.dnskey.clone()]),
            Err(VerifyError::NoSignatures)
        );
    }

    /// DNSKEYs with the same algorithm and key tag as `key` but other
    /// public key bytes (most are not even valid curve points).
    fn colliding_keys(key: &DNSKEY, count: usize) -> Vec<DNSKEY> {
        let tag = key_tag(key).unwrap();
        let original = key.public_key().public_bytes().to_vec();
        let mut out = Vec::new();
        for i in (0..original.len() - 2).step_by(2) {
            let sum = u16::from(original[i]) + u16::from(original[i + 2]);
            for a in 0..=255u16 {
                let Some(b) = sum.checked_sub(a).filter(|b| *b <= 255) else {
                    continue;
                };
                let mut bytes = original.clone();
                bytes[i] = a as u8;
                bytes[i + 2] = b as u8;
                if bytes == original {
                    continue;
                }
                let forged =
                    DNSKEY::with_flags(key.flags(), PublicKeyBuf::new(bytes, key_algorithm(key)));
                if key_tag(&forged) == Some(tag) && !out.contains(&forged) {
                    out.push(forged);
                    if out.len() == count {
                        return out;
                    }
                }
            }
        }
        panic!("found only {} colliding keys", out.len());
    }

    #[test]
    fn keytrap_many_keys_sharing_a_tag_hit_the_limit_without_crypto() {
        let key = ecdsa(Algorithm::ECDSAP256SHA256, 257);
        let set = a_set("www.example.", 300, &[1]);
        let sig = sign(&key, "example.", &set);

        let mut keys = colliding_keys(&key.dnskey, 19);
        keys.push(key.dnskey.clone());
        assert_eq!(keys.len(), 20);
        let mut budget = Budget::new();
        let got = verify_rrset(
            &set,
            std::slice::from_ref(&sig),
            &name("example."),
            &keys,
            NOW,
            &mut budget,
        );
        assert_eq!(
            got,
            Err(VerifyError::Limit(LimitExceeded::KeyTagCollisions))
        );
        assert_eq!(budget.validations_used(), 0);

        // Up to the limit, every colliding key is tried (the real one last).
        let mut keys = colliding_keys(&key.dnskey, MAX_KEY_TAG_COLLISIONS as usize - 1);
        keys.push(key.dnskey.clone());
        let mut budget = Budget::new();
        let got = verify_rrset(&set, &[sig], &name("example."), &keys, NOW, &mut budget);
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(budget.validations_used(), MAX_KEY_TAG_COLLISIONS);
    }

    #[test]
    fn the_budget_stops_verification_after_the_limit() {
        let key = ed25519(256);
        let keys = [key.dnskey.clone()];
        let set = a_set("www.example.", 300, &[1]);
        let good = sign(&key, "example.", &set);

        // Many bad RRSIGs in one set: stops after the budget.
        let bad: Vec<Record> = (0..MAX_SIGNATURE_VALIDATIONS as u8 + 4)
            .map(|i| with_signature(&good, |s| s[0] ^= i + 1))
            .collect();
        let mut budget = Budget::new();
        let got = verify_rrset(&set, &bad, &name("example."), &keys, NOW, &mut budget);
        assert_eq!(got, Err(VerifyError::Limit(LimitExceeded::Validations)));
        assert_eq!(budget.validations_used(), MAX_SIGNATURE_VALIDATIONS);

        // The budget is per query, across calls.
        let mut budget = Budget::new();
        for _ in 0..MAX_SIGNATURE_VALIDATIONS {
            let got = verify_rrset(
                &set,
                std::slice::from_ref(&good),
                &name("example."),
                &keys,
                NOW,
                &mut budget,
            );
            assert!(got.is_ok());
        }
        let got = verify_rrset(&set, &[good], &name("example."), &keys, NOW, &mut budget);
        assert_eq!(got, Err(VerifyError::Limit(LimitExceeded::Validations)));
    }

    /// An RSASHA1 (algorithm 5) signature made outside this code: the
    /// signed data was assembled byte by byte in Python (RRSIG RDATA for
    /// `www.example. A`, labels 2, original TTL 3600, expiration
    /// 2000000000, inception 1600000000, key tag 21880, signer `example.`,
    /// then `www.example. A IN 3600` with 192.0.2.1 and 192.0.2.2) and
    /// signed with `openssl dgst -sha1 -sign` using the RSA_PKCS8 key.
    const RSASHA1_SIGNATURE: &str = "eiuAEQKL1Q5bk3e3IxcrWLZ+pVPuQFopb8u5VlKMjlByeUqPB+ensrecL/x/sTKuC2hZiBzKIQiu9W0KRMZeHszZo02O5wUVMWgAbsg70w3ryg9wyUdGNdHb12WR57zvTFaum5OBwhIHo+O69HC+WMG0b5nsrkg5qfRg/szIQJh0glrzIffueh+/i/rWif02+Gtaj175sinWi3oByV/JFvycVixfvEF9w0TkAVBPqw1DhCXU1s5U9H4BP0jLHV6/vW+IGOcQhJ61dhpKEzKQhoLM+t+t6S8VOGfQsekWtrvkJZDq/zRs6k02SzP5Ze7ba4of36dAoSPKeBFB4sh/Kg==";

    #[test]
    #[allow(deprecated)]
    fn an_rsasha1_signature_made_elsewhere_verifies() {
        let rsa = rsa(Algorithm::RSASHA256, 256);
        let dnskey = DNSKEY::with_flags(
            256,
            PublicKeyBuf::new(
                rsa.dnskey.public_key().public_bytes().to_vec(),
                Algorithm::RSASHA1,
            ),
        );
        assert_eq!(key_tag(&dnskey), Some(21_880));
        let fields = SigInput {
            type_covered: RecordType::A,
            algorithm: Algorithm::RSASHA1,
            num_labels: 2,
            original_ttl: 3_600,
            sig_expiration: SerialNumber::new(2_000_000_000),
            sig_inception: SerialNumber::new(1_600_000_000),
            key_tag: 21_880,
            signer_name: name("example."),
        };
        let sig = decode_base64(RSASHA1_SIGNATURE).unwrap();
        let rrsig = Record::from_rdata(
            name("WWW.Example."),
            3_600,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(fields, sig))),
        );
        // Presented out of order and in mixed case: canonical form and
        // order are this module's, not the signer's.
        let set = a_set("www.EXAMPLE.", 1_000, &[2, 1]);
        assert_eq!(
            verify(&set, &[rrsig], "example.", &[dnskey]),
            Ok(Verified {
                ttl: 1_000,
                wildcard: None
            })
        );
    }

    #[test]
    fn errors_map_to_ede_codes() {
        let cases = [
            (VerifyError::NoSignatures, 10),
            (VerifyError::NoMatchingKey, 9),
            (VerifyError::Expired, 7),
            (VerifyError::NotYetValid, 8),
            (VerifyError::BadSignature, 6),
            (VerifyError::UnsupportedAlgorithm, 1),
            (VerifyError::NoZoneKey, 11),
            (VerifyError::Malformed("x".into()), 6),
            (VerifyError::Limit(LimitExceeded::Validations), 0),
        ];
        for (err, code) in cases {
            assert_eq!(err.ede_code(), code, "{err}");
            assert!(!err.ede_text().is_empty());
            assert_eq!(DsError::Verify(err.clone()).ede_code(), code);
        }
        assert_eq!(DsError::NoKeyMatchesDs.ede_code(), 9);
        assert_eq!(DsError::NoUsableDs.ede_code(), 1);
        assert!(
            VerifyError::Limit(LimitExceeded::KeyTagCollisions)
                .ede_text()
                .contains("key tag")
        );
    }

    #[test]
    fn supported_algorithms_and_digests() {
        // DSA (3, 6) through `legacy`, the rest through ring.
        for n in [3, 5, 6, 7, 8, 10, 13, 14, 15] {
            assert!(algorithm_supported(Algorithm::from_u8(n)), "{n}");
        }
        for n in [1, 12, 16, 253] {
            assert!(!algorithm_supported(Algorithm::from_u8(n)), "{n}");
        }
        for n in [1, 2, 4] {
            assert!(digest_supported(DigestType::from(n)), "{n}");
        }
        for n in [0, 3, 5, 6] {
            assert!(!digest_supported(DigestType::from(n)), "{n}");
        }
    }

    // ---- DNSKEY RRset against DS / trust-anchor keys ----

    struct Zone {
        ksk: Key,
        zsk: Key,
        dnskeys: Vec<Record>,
        rrsigs: Vec<Record>,
    }

    /// `example.` with an ECDSA KSK (257) signing the DNSKEY set and an
    /// Ed25519 ZSK (256).
    fn zone() -> Zone {
        let ksk = ecdsa(Algorithm::ECDSAP256SHA256, 257);
        let zsk = ed25519(256);
        let dnskeys: Vec<Record> = [&ksk, &zsk]
            .iter()
            .map(|k| {
                Record::from_rdata(
                    name("example."),
                    3_600,
                    RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey.clone())),
                )
            })
            .collect();
        let rrsigs = vec![sign(&ksk, "example.", &dnskeys)];
        Zone {
            ksk,
            zsk,
            dnskeys,
            rrsigs,
        }
    }

    fn ds_for(key: &Key, digest: DigestType) -> DS {
        let hash = key.dnskey.to_digest(&name("example."), digest).unwrap();
        DS::new(key.tag(), key.algorithm(), digest, hash.as_ref().to_vec())
    }

    fn with_ds(zone: &Zone, ds: &[DS]) -> Result<TrustedKeys, DsError> {
        verify_dnskeys_with_ds(
            &name("example."),
            &zone.dnskeys,
            &zone.rrsigs,
            ds,
            NOW,
            &mut Budget::new(),
        )
    }

    #[test]
    fn a_matching_ds_yields_the_zone_keys() {
        let z = zone();
        for digest in [DigestType::SHA256, DigestType::SHA384, DigestType::SHA1] {
            let got = with_ds(&z, &[ds_for(&z.ksk, digest)]).unwrap();
            assert_eq!(got.keys, vec![z.ksk.dnskey.clone(), z.zsk.dnskey.clone()]);
            assert_eq!(got.ttl, 3_600);
        }
        // The trusted ZSK then verifies the zone's data.
        let set = a_set("www.example.", 300, &[1]);
        let sig = sign(&z.zsk, "example.", &set);
        let keys = with_ds(&z, &[ds_for(&z.ksk, DigestType::SHA256)])
            .unwrap()
            .keys;
        assert!(verify(&set, &[sig], "example.", &keys).is_ok());
    }

    #[test]
    fn a_ds_digest_mismatch_is_no_key_matches_ds() {
        let z = zone();
        let good = ds_for(&z.ksk, DigestType::SHA256);
        let mut digest = good.digest().to_vec();
        digest[0] ^= 0xff;
        let bad = DS::new(good.key_tag(), good.algorithm(), good.digest_type(), digest);
        assert_eq!(with_ds(&z, &[bad]), Err(DsError::NoKeyMatchesDs));
        // A DS for a key that is not in the set.
        let stranger = ecdsa(Algorithm::ECDSAP256SHA256, 257);
        assert_eq!(
            with_ds(&z, &[ds_for(&stranger, DigestType::SHA256)]),
            Err(DsError::NoKeyMatchesDs)
        );
    }

    #[test]
    fn a_sha1_ds_is_ignored_when_a_sha256_one_is_usable() {
        // RFC 4509 §3: a correct SHA-1 DS beside a wrong SHA-256 DS must not
        // authenticate the keys.
        let z = zone();
        let good = ds_for(&z.ksk, DigestType::SHA256);
        let wrong = DS::new(
            good.key_tag(),
            good.algorithm(),
            DigestType::SHA256,
            vec![0; 32],
        );
        assert_eq!(
            with_ds(&z, &[ds_for(&z.ksk, DigestType::SHA1), wrong]),
            Err(DsError::NoKeyMatchesDs)
        );
    }

    #[test]
    fn ds_with_only_unsupported_digests_or_algorithms_is_no_usable_ds() {
        let z = zone();
        let good = ds_for(&z.ksk, DigestType::SHA256);
        let gost = DS::new(
            good.key_tag(),
            good.algorithm(),
            DigestType::from(3),
            vec![0; 32],
        );
        let ed448 = DS::new(
            good.key_tag(),
            Algorithm::from_u8(16),
            DigestType::SHA256,
            good.digest().to_vec(),
        );
        assert_eq!(with_ds(&z, &[gost, ed448]), Err(DsError::NoUsableDs));
        assert_eq!(with_ds(&z, &[]), Err(DsError::NoUsableDs));
    }

    #[test]
    fn a_dnskey_set_not_signed_by_the_ds_key_fails() {
        let mut z = zone();
        z.rrsigs = vec![sign(&z.zsk, "example.", &z.dnskeys)];
        assert_eq!(
            with_ds(&z, &[ds_for(&z.ksk, DigestType::SHA256)]),
            Err(DsError::Verify(VerifyError::NoMatchingKey))
        );
        z.rrsigs.clear();
        assert_eq!(
            with_ds(&z, &[ds_for(&z.ksk, DigestType::SHA256)]),
            Err(DsError::Verify(VerifyError::NoSignatures))
        );
    }

    #[test]
    fn trust_anchor_keys_authenticate_the_dnskey_set() {
        let z = zone();
        let run = |anchors: &[DNSKEY]| {
            verify_dnskeys_with_anchor_keys(
                &name("example."),
                &z.dnskeys,
                &z.rrsigs,
                anchors,
                NOW,
                &mut Budget::new(),
            )
        };
        let got = run(std::slice::from_ref(&z.ksk.dnskey)).unwrap();
        assert_eq!(got.keys.len(), 2);

        let stranger = ecdsa(Algorithm::ECDSAP256SHA256, 257);
        assert_eq!(
            run(std::slice::from_ref(&stranger.dnskey)),
            Err(DsError::NoKeyMatchesDs)
        );
        // The ZSK is in the set but did not sign it.
        assert_eq!(
            run(std::slice::from_ref(&z.zsk.dnskey)),
            Err(DsError::Verify(VerifyError::NoMatchingKey))
        );
        let odd = DNSKEY::with_flags(257, PublicKeyBuf::new(vec![1], Algorithm::Unknown(253)));
        assert_eq!(run(&[odd]), Err(DsError::NoUsableDs));
    }
}
