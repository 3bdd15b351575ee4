//! The chain of trust: a state machine that validates one answer.
//!
//! One answer's path: [`Validation::new`] groups the answer and authority
//! records into RRsets, each with the RRSIGs covering it. [`Validation::step`]
//! then works through them. For a signed RRset it needs the signer's keys;
//! for an unsigned one, to know whether its zone is insecure. Either way it
//! walks down from the closest trust anchor one label at a time (RFC 4035
//! §5): at each name it needs the DS set (asked from the parent side by the
//! walker). A signed DS set leads to the child's DNSKEY set, authenticated
//! by the DS (§5.2); a proven absence of DS at a delegation makes
//! everything below insecure; a proven absence of a delegation means "not a
//! zone cut, same keys". Whatever it lacks it asks for with
//! [`Step::Fetch`], and the driver calls [`Validation::on_fetched`]; it
//! does no I/O itself. What it learns about zones goes into the
//! [`Validator`]'s zone cache, so the next answer from the same zone needs
//! no fetch and only its own signature checked. Last come the denial proofs
//! of a negative or wildcard answer ([`denial`](super::denial)). Every
//! signature check, NSEC3 hash and fetch is paid from one [`Budget`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use moka::sync::Cache as Moka;

use super::anchor::TrustAnchors;
use super::denial::{self, DenialRecords, DsAbsence, Proof};
use super::limits::{Budget, LimitExceeded};
use super::verify::{self, DsError, UnixTime, VerifyError};
use super::{Security, Verdict};
use crate::cache::AnswerKind;
use crate::ede::ExtendedError;

/// Longest a bogus zone is remembered, so that a fixed zone is retried
/// soon (Unbound's `val-bogus-ttl`).
pub const BOGUS_ZONE_TTL: u32 = 60;
/// Zones (and names known not to be zone cuts) remembered at once.
pub const ZONE_CACHE_CAPACITY: u64 = 100_000;
/// Longest anything stays in the zone cache, whatever its TTL says (the
/// cache's own cap, `cache-max-ttl`, applies to answers; keys get a day).
const ZONE_CACHE_MAX_LIFETIME: Duration = Duration::from_secs(86_400);

/// What validation learnt about a name on the way down from an anchor.
#[derive(Debug, Clone)]
enum ZoneState {
    /// A zone apex whose DNSKEY set is authenticated: its keys.
    Secure(Arc<Vec<DNSKEY>>),
    /// A delegation proven unsigned (or signed only with algorithms we do
    /// not implement): nothing at or below it can be validated.
    Insecure,
    /// Inside its parent zone, not a cut: the parent's keys sign it.
    NotACut,
    /// Its keys or DS could not be authenticated.
    Bogus(ExtendedError),
}

#[derive(Debug, Clone)]
struct ZoneEntry {
    state: ZoneState,
    expires: UnixTime,
}

/// The trust anchors and what is known about zones below them, shared by
/// every validation.
pub struct Validator {
    anchors: TrustAnchors,
    /// Negative trust anchors (RFC 7646): names at or below them are not
    /// validated, unless a trust anchor deeper than the negative one
    /// covers them.
    insecure: Vec<Name>,
    zones: Moka<Name, ZoneEntry, foldhash::fast::RandomState>,
}

impl Validator {
    /// A validator trusting `anchors`.
    pub fn new(anchors: TrustAnchors) -> Self {
        Self {
            anchors,
            insecure: Vec::new(),
            zones: Moka::builder()
                .max_capacity(ZONE_CACHE_CAPACITY)
                .time_to_live(ZONE_CACHE_MAX_LIFETIME)
                .build_with_hasher(Default::default()),
        }
    }

    /// Treats `domains` and everything below them as insecure (negative
    /// trust anchors, RFC 7646; Unbound's `domain-insecure`).
    pub fn with_insecure(mut self, domains: &[Name]) -> Self {
        self.insecure = domains.iter().map(Name::to_lowercase).collect();
        self
    }

    /// Whether a negative trust anchor covers `name` below the closest
    /// positive anchor `anchor_zone`.
    fn negatively_anchored(&self, anchor_zone: &Name, name: &Name) -> bool {
        self.insecure
            .iter()
            .any(|nta| nta.zone_of(name) && anchor_zone.zone_of(nta))
    }

    /// The anchors it trusts.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// Forgets what it learnt about zones (a cache flush).
    pub fn forget(&self) {
        self.zones.invalidate_all();
    }

    fn zone(&self, name: &Name, now: UnixTime) -> Option<ZoneState> {
        self.zones
            .get(name)
            .filter(|e| e.expires > now)
            .map(|e| e.state)
    }

    fn remember(&self, name: &Name, state: ZoneState, ttl: u32, now: UnixTime) {
        let ttl = match state {
            ZoneState::Bogus(_) => ttl.min(BOGUS_ZONE_TTL),
            _ => ttl,
        };
        if ttl > 0 {
            let expires = now + u64::from(ttl);
            self.zones
                .insert(name.clone(), ZoneEntry { state, expires });
        }
    }
}

/// The answer to a DS or DNSKEY question the validation asked for.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// NOERROR, NXDOMAIN, or SERVFAIL when it could not be resolved.
    pub rcode: ResponseCode,
    /// Answer section, RRSIGs included.
    pub answers: Vec<Record>,
    /// Authority section: SOA and NSEC/NSEC3 proofs with their RRSIGs.
    pub authorities: Vec<Record>,
}

/// What the validation wants next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Resolve this name and type (DS or DNSKEY) without validating it and
    /// hand the result to [`Validation::on_fetched`].
    Fetch(Name, RecordType),
    /// Validation is over.
    Done(Verdict),
}

/// One RRset of the answer and the RRSIGs over it.
#[derive(Debug)]
struct Group {
    records: Vec<Record>,
    sigs: Vec<Record>,
    outcome: Option<Outcome>,
}

#[derive(Debug, Clone)]
enum Outcome {
    Secure {
        /// The zone whose keys signed it.
        zone: Name,
        /// The closest encloser, if it is a wildcard expansion.
        wildcard: Option<Name>,
    },
    Insecure,
    Bogus(ExtendedError),
}

/// Where the walk down from an anchor ended.
enum Chain {
    Need(Name, RecordType),
    Secure { zone: Name, keys: Arc<Vec<DNSKEY>> },
    Insecure,
    Bogus(ExtendedError),
}

/// The validation of one answer (see the module docs).
pub struct Validation {
    validator: Arc<Validator>,
    qname: Name,
    qtype: RecordType,
    kind: AnswerKind,
    groups: Vec<Group>,
    answers: Vec<Record>,
    fetched: HashMap<(Name, RecordType), Fetched>,
    /// DS sets whose signature already verified in this validation (the
    /// walk restarts from the anchor at every step; each set is checked
    /// once).
    ds_verified: std::collections::HashSet<Name>,
    budget: Budget,
    now: UnixTime,
    done: Option<Verdict>,
}

const fn ede(code: u16, text: &'static str) -> ExtendedError {
    ExtendedError { code, text }
}

/// RFC 8914 §4.10: DNSKEY Missing.
const DNSKEY_MISSING: ExtendedError = ede(9, "no DNSKEY matching the DS could be fetched");
/// RFC 8914 §4.11: RRSIGs Missing.
const RRSIGS_MISSING: ExtendedError = ede(10, "unsigned data in a signed zone");
/// RFC 8914 §4.13: NSEC Missing.
const NSEC_MISSING: ExtendedError = ede(12, "the denial of existence is not proven");
/// RFC 8914 §4.7 with what failed.
const DS_UNSIGNED: ExtendedError = ede(6, "DS response without valid signatures");

fn verify_ede(e: &VerifyError) -> ExtendedError {
    ede(e.ede_code(), e.ede_text())
}

fn ds_ede(e: &DsError) -> ExtendedError {
    ede(e.ede_code(), e.ede_text())
}

fn limit_ede(l: LimitExceeded) -> ExtendedError {
    let text = match l {
        LimitExceeded::Validations => "validation limit: too many signatures to check",
        LimitExceeded::KeyTagCollisions => "validation limit: too many keys share a key tag",
        LimitExceeded::Hashes => "validation limit: too many NSEC3 hashes",
        LimitExceeded::Fetches => "validation limit: too many DS/DNSKEY fetches",
    };
    ede(0, text)
}

fn proof_ede(why: &'static str) -> ExtendedError {
    ede(12, why)
}

/// Records of `rtype` owned by `owner`, and the RRSIGs over them.
fn split(records: &[Record], owner: &Name, rtype: RecordType) -> (Vec<Record>, Vec<Record>) {
    let set = records
        .iter()
        .filter(|r| r.record_type() == rtype && &r.name == owner)
        .cloned()
        .collect();
    let sigs = records
        .iter()
        .filter(|r| &r.name == owner && covered(r) == Some(rtype))
        .cloned()
        .collect();
    (set, sigs)
}

fn covered(r: &Record) -> Option<RecordType> {
    verify::rrsig_of(r).map(|s| s.input().type_covered)
}

/// Groups records into RRsets with their RRSIGs. CNAMEs synthesised from
/// a DNAME in the same records are left out: they are never signed (RFC
/// 6672 §5.3.1), the DNAME is.
fn group(records: &[Record]) -> Vec<Group> {
    let dnames: Vec<&Name> = records
        .iter()
        .filter(|r| r.record_type() == RecordType::DNAME)
        .map(|r| &r.name)
        .collect();
    let mut groups: Vec<Group> = Vec::new();
    for r in records {
        let t = r.record_type();
        if t == RecordType::RRSIG {
            continue;
        }
        if t == RecordType::CNAME && dnames.iter().any(|d| *d != &r.name && d.zone_of(&r.name)) {
            continue;
        }
        match groups
            .iter_mut()
            .find(|g| g.records[0].name == r.name && g.records[0].record_type() == t)
        {
            Some(g) => g.records.push(r.clone()),
            None => {
                let (_, sigs) = split(records, &r.name, t);
                groups.push(Group {
                    records: vec![r.clone()],
                    sigs,
                    outcome: None,
                });
            }
        }
    }
    groups
}

fn ds_of(records: &[Record]) -> Vec<DS> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
            _ => None,
        })
        .collect()
}

fn min_ttl(records: &[Record]) -> u32 {
    records.iter().map(|r| r.ttl).min().unwrap_or(0)
}

impl Validation {
    /// A validation of the answer to `qname`/`qtype` with this rcode and
    /// these sections, at `now`.
    pub fn new(
        validator: Arc<Validator>,
        qname: &Name,
        qtype: RecordType,
        rcode: ResponseCode,
        answers: &[Record],
        authorities: &[Record],
        now: UnixTime,
    ) -> Self {
        let mut groups = group(answers);
        let kind = AnswerKind::of(rcode, answers, qtype);
        // The authority section matters for negative answers (SOA and
        // proofs) and for wildcard expansions (proofs only).
        let proof_types = |g: &Group| {
            let t = g.records[0].record_type();
            match kind {
                AnswerKind::Positive => matches!(t, RecordType::NSEC | RecordType::NSEC3),
                _ => matches!(t, RecordType::SOA | RecordType::NSEC | RecordType::NSEC3),
            }
        };
        groups.extend(group(authorities).into_iter().filter(proof_types));
        Self {
            validator,
            qname: qname.clone(),
            qtype,
            kind,
            groups,
            answers: answers.to_vec(),
            fetched: HashMap::new(),
            ds_verified: Default::default(),
            budget: Budget::new(),
            now,
            done: None,
        }
    }

    /// Signature checks spent so far.
    pub fn validations_used(&self) -> u32 {
        self.budget.validations_used()
    }

    /// Hands over the result of the last [`Step::Fetch`].
    pub fn on_fetched(&mut self, name: Name, rtype: RecordType, fetched: Fetched) {
        self.fetched.insert((name, rtype), fetched);
    }

    /// What to do next: fetch something, or the verdict.
    pub fn step(&mut self) -> Step {
        if let Some(v) = self.done {
            return Step::Done(v);
        }
        if self.groups.is_empty() {
            return self.unproven();
        }
        for i in 0..self.groups.len() {
            if self.groups[i].outcome.is_some() {
                continue;
            }
            match self.judge(i) {
                Ok(outcome) => self.groups[i].outcome = Some(outcome),
                Err((name, rtype)) => {
                    if let Err(l) = self.budget.spend_fetch() {
                        return self.finish(bogus(limit_ede(l)));
                    }
                    return Step::Fetch(name, rtype);
                }
            }
        }
        let verdict = self.combine();
        self.finish(verdict)
    }

    /// An answer with no RRset to check: a negative answer without SOA or
    /// proof, or records of a type that signs nothing (RRSIG). In a signed
    /// zone a negative answer must come with its proof, so stripping it
    /// cannot turn a forged denial into an acceptable one.
    fn unproven(&mut self) -> Step {
        if self.kind == AnswerKind::Positive {
            return self.finish(Verdict {
                security: Security::Indeterminate,
                ede: None,
            });
        }
        let last = final_name(&self.qname, &self.answers);
        match self.chain_to(&last) {
            Chain::Need(name, rtype) => {
                if let Err(l) = self.budget.spend_fetch() {
                    return self.finish(bogus(limit_ede(l)));
                }
                Step::Fetch(name, rtype)
            }
            Chain::Secure { .. } => self.finish(bogus(NSEC_MISSING)),
            Chain::Insecure => self.finish(Verdict {
                security: Security::Insecure,
                ede: None,
            }),
            Chain::Bogus(e) => self.finish(bogus(e)),
        }
    }

    fn finish(&mut self, verdict: Verdict) -> Step {
        self.done = Some(verdict);
        Step::Done(verdict)
    }

    /// Decides one RRset, or names what must be fetched first.
    fn judge(&mut self, i: usize) -> Result<Outcome, (Name, RecordType)> {
        let owner = self.groups[i].records[0].name.clone();
        let rtype = self.groups[i].records[0].record_type();
        let signers = verify::signers(&self.groups[i].sigs, &owner, rtype);
        // The signer must be the owner or an ancestor (RFC 4035 §5.3.1);
        // with several, the deepest is the zone's own.
        let signer = signers
            .into_iter()
            .filter(|s| s.zone_of(&owner))
            .max_by_key(|s| s.num_labels());
        let target = signer.clone().unwrap_or_else(|| owner.clone());
        match self.chain_to(&target) {
            Chain::Need(name, t) => Err((name, t)),
            Chain::Insecure => Ok(Outcome::Insecure),
            Chain::Bogus(e) => Ok(Outcome::Bogus(e)),
            Chain::Secure { zone, keys } => {
                if signer.is_none() {
                    return Ok(Outcome::Bogus(RRSIGS_MISSING));
                }
                let g = &self.groups[i];
                match verify::verify_rrset(
                    &g.records,
                    &g.sigs,
                    &zone,
                    &keys,
                    self.now,
                    &mut self.budget,
                ) {
                    Ok(v) => Ok(Outcome::Secure {
                        zone,
                        wildcard: v.wildcard,
                    }),
                    // RFC 6840 §5.2: signed only with algorithms we do not
                    // implement is insecure, not bogus.
                    Err(VerifyError::UnsupportedAlgorithm) => Ok(Outcome::Insecure),
                    Err(VerifyError::Limit(l)) => Ok(Outcome::Bogus(limit_ede(l))),
                    Err(e) => Ok(Outcome::Bogus(verify_ede(&e))),
                }
            }
        }
    }

    /// Walks from the closest anchor down to `target` (see module docs).
    fn chain_to(&mut self, target: &Name) -> Chain {
        let validator = self.validator.clone();
        let Some((anchor_zone, anchor)) = validator.anchors.closest(target) else {
            // No anchor above it: nothing to validate against (RFC 4035
            // §4.3: indeterminate, treated as insecure).
            return Chain::Insecure;
        };
        if validator.negatively_anchored(anchor_zone, target) {
            return Chain::Insecure;
        }
        let mut zone = anchor_zone.clone();
        let mut keys = match validator.zone(&zone, self.now) {
            Some(ZoneState::Secure(k)) => k,
            Some(ZoneState::Bogus(e)) => return Chain::Bogus(e),
            Some(ZoneState::Insecure) => return Chain::Insecure,
            _ => {
                let Some(f) = self.fetched.get(&(zone.clone(), RecordType::DNSKEY)) else {
                    return Chain::Need(zone, RecordType::DNSKEY);
                };
                let (set, sigs) = split(&f.answers, &zone, RecordType::DNSKEY);
                let result = if anchor.keys.is_empty() {
                    verify::verify_dnskeys_with_ds(
                        &zone,
                        &set,
                        &sigs,
                        &anchor.ds,
                        self.now,
                        &mut self.budget,
                    )
                } else {
                    verify::verify_dnskeys_with_anchor_keys(
                        &zone,
                        &set,
                        &sigs,
                        &anchor.keys,
                        self.now,
                        &mut self.budget,
                    )
                };
                match self.keys_outcome(&zone, result, min_ttl(&set)) {
                    Ok(k) => k,
                    Err(chain) => return chain,
                }
            }
        };
        for labels in usize::from(zone.num_labels()) + 1..=usize::from(target.num_labels()) {
            let child = target.trim_to(labels);
            match validator.zone(&child, self.now) {
                Some(ZoneState::Secure(k)) => {
                    zone = child;
                    keys = k;
                    continue;
                }
                Some(ZoneState::NotACut) => continue,
                Some(ZoneState::Insecure) => return Chain::Insecure,
                Some(ZoneState::Bogus(e)) => return Chain::Bogus(e),
                None => {}
            }
            let Some(f) = self.fetched.get(&(child.clone(), RecordType::DS)) else {
                return Chain::Need(child, RecordType::DS);
            };
            let f = f.clone();
            let (ds_set, ds_sigs) = split(&f.answers, &child, RecordType::DS);
            if f.rcode == ResponseCode::NoError && !ds_set.is_empty() {
                // A DS set: signed by the parent, it authenticates the
                // child's keys (RFC 4035 §5.2).
                let checked = if self.ds_verified.contains(&child) {
                    Ok(())
                } else {
                    verify::verify_rrset(
                        &ds_set,
                        &ds_sigs,
                        &zone,
                        &keys,
                        self.now,
                        &mut self.budget,
                    )
                    .map(|_| {
                        self.ds_verified.insert(child.clone());
                    })
                };
                if let Err(e) = checked {
                    let e = match e {
                        VerifyError::Limit(l) => return Chain::Bogus(limit_ede(l)),
                        VerifyError::NoSignatures => DS_UNSIGNED,
                        other => verify_ede(&other),
                    };
                    validator.remember(&child, ZoneState::Bogus(e), BOGUS_ZONE_TTL, self.now);
                    return Chain::Bogus(e);
                }
                let Some(kf) = self.fetched.get(&(child.clone(), RecordType::DNSKEY)) else {
                    return Chain::Need(child, RecordType::DNSKEY);
                };
                let (set, sigs) = split(&kf.answers, &child, RecordType::DNSKEY);
                let result = verify::verify_dnskeys_with_ds(
                    &child,
                    &set,
                    &sigs,
                    &ds_of(&ds_set),
                    self.now,
                    &mut self.budget,
                );
                let ttl = min_ttl(&set).min(min_ttl(&ds_set));
                match self.keys_outcome(&child, result, ttl) {
                    Ok(k) => {
                        zone = child;
                        keys = k;
                    }
                    Err(chain) => return chain,
                }
            } else if matches!(f.rcode, ResponseCode::NoError | ResponseCode::NXDomain) {
                // No DS: the proof says whether `child` is an unsigned
                // delegation or no cut at all.
                let proof = self.verified_proof(&f.authorities, &zone, &keys);
                let ttl = min_ttl(&proof);
                let d = DenialRecords {
                    zone: &zone,
                    records: &proof,
                };
                match denial::ds_absence(&child, &d, &mut self.budget) {
                    DsAbsence::InsecureDelegation
                    | DsAbsence::OptOut
                    | DsAbsence::IterationsTooHigh => {
                        validator.remember(&child, ZoneState::Insecure, ttl, self.now);
                        return Chain::Insecure;
                    }
                    DsAbsence::NotACut => {
                        validator.remember(&child, ZoneState::NotACut, ttl, self.now);
                    }
                    DsAbsence::NotProven(why) => return Chain::Bogus(proof_ede(why)),
                    DsAbsence::Limit(l) => return Chain::Bogus(limit_ede(l)),
                }
            } else {
                return Chain::Bogus(ede(9, "the DS set could not be fetched"));
            }
        }
        Chain::Secure { zone, keys }
    }

    /// Turns the outcome of authenticating `zone`'s keys into its keys, or
    /// the end of the chain; remembers it either way.
    fn keys_outcome(
        &self,
        zone: &Name,
        result: Result<verify::TrustedKeys, DsError>,
        ttl: u32,
    ) -> Result<Arc<Vec<DNSKEY>>, Chain> {
        match result {
            Ok(t) => {
                let keys = Arc::new(t.keys);
                let ttl = t.ttl.min(ttl.max(1));
                self.validator
                    .remember(zone, ZoneState::Secure(keys.clone()), ttl, self.now);
                Ok(keys)
            }
            // RFC 4035 §5.2: no DS we can use makes the zone insecure.
            Err(DsError::NoUsableDs) => {
                self.validator
                    .remember(zone, ZoneState::Insecure, ttl, self.now);
                Err(Chain::Insecure)
            }
            Err(DsError::Verify(VerifyError::Limit(l))) => Err(Chain::Bogus(limit_ede(l))),
            Err(e) => {
                let e = if e == DsError::NoKeyMatchesDs {
                    DNSKEY_MISSING
                } else {
                    ds_ede(&e)
                };
                self.validator
                    .remember(zone, ZoneState::Bogus(e), BOGUS_ZONE_TTL, self.now);
                Err(Chain::Bogus(e))
            }
        }
    }

    /// The NSEC/NSEC3 records of `authorities` whose signatures by `zone`
    /// verify; the others prove nothing.
    fn verified_proof(
        &mut self,
        authorities: &[Record],
        zone: &Name,
        keys: &[DNSKEY],
    ) -> Vec<Record> {
        let mut out = Vec::new();
        for g in group(authorities) {
            let t = g.records[0].record_type();
            if !matches!(t, RecordType::NSEC | RecordType::NSEC3) {
                continue;
            }
            if verify::verify_rrset(&g.records, &g.sigs, zone, keys, self.now, &mut self.budget)
                .is_ok()
            {
                out.extend(g.records);
            }
        }
        out
    }

    /// Every RRset decided: the answer's verdict, with its denial proofs.
    fn combine(&mut self) -> Verdict {
        let mut insecure = false;
        for g in &self.groups {
            match &g.outcome {
                Some(Outcome::Bogus(e)) => return bogus(*e),
                Some(Outcome::Insecure) | None => insecure = true,
                Some(Outcome::Secure { .. }) => {}
            }
        }
        if insecure {
            return Verdict {
                security: Security::Insecure,
                ede: None,
            };
        }
        // Every RRset is secure: the proofs must hold too.
        let proofs: Vec<Record> = self
            .groups
            .iter()
            .filter(|g| {
                matches!(
                    g.records[0].record_type(),
                    RecordType::NSEC | RecordType::NSEC3
                )
            })
            .flat_map(|g| g.records.iter().cloned())
            .collect();
        let proof_zone = |groups: &[Group]| -> Option<Name> {
            groups.iter().find_map(|g| match &g.outcome {
                Some(Outcome::Secure { zone, .. })
                    if matches!(
                        g.records[0].record_type(),
                        RecordType::SOA | RecordType::NSEC | RecordType::NSEC3
                    ) =>
                {
                    Some(zone.clone())
                }
                _ => None,
            })
        };
        let last = final_name(&self.qname, &self.answers);
        let proof = match self.kind {
            AnswerKind::Positive => {
                let wildcards: Vec<(Name, Name, Name)> = self
                    .groups
                    .iter()
                    .filter_map(|g| match &g.outcome {
                        Some(Outcome::Secure {
                            zone,
                            wildcard: Some(ce),
                        }) => Some((g.records[0].name.clone(), ce.clone(), zone.clone())),
                        _ => None,
                    })
                    .collect();
                let mut result = Proof::Proven;
                for (owner, ce, zone) in wildcards {
                    let d = DenialRecords {
                        zone: &zone,
                        records: &proofs,
                    };
                    result = denial::wildcard_expansion(&owner, &ce, &d, &mut self.budget);
                    if result != Proof::Proven {
                        break;
                    }
                }
                result
            }
            AnswerKind::NoData | AnswerKind::NxDomain => {
                let Some(zone) = proof_zone(&self.groups) else {
                    return bogus(NSEC_MISSING);
                };
                let d = DenialRecords {
                    zone: &zone,
                    records: &proofs,
                };
                if self.kind == AnswerKind::NxDomain {
                    denial::nxdomain(&last, &d, &mut self.budget)
                } else {
                    denial::nodata(&last, self.qtype, &d, &mut self.budget)
                }
            }
        };
        match proof {
            Proof::Proven => Verdict {
                security: Security::Secure,
                ede: None,
            },
            Proof::OptOut | Proof::IterationsTooHigh => Verdict {
                security: Security::Insecure,
                ede: None,
            },
            Proof::NotProven(why) => bogus(proof_ede(why)),
            Proof::Limit(l) => bogus(limit_ede(l)),
        }
    }
}

fn bogus(e: ExtendedError) -> Verdict {
    Verdict {
        security: Security::Bogus,
        ede: Some(e),
    }
}

/// The name a CNAME chain in `answers` starting at `qname` ends at.
fn final_name(qname: &Name, answers: &[Record]) -> Name {
    let mut current = qname.clone();
    for _ in 0..answers.len() {
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(t) if r.name == current => Some(t.0.clone()),
            _ => None,
        });
        match next {
            Some(n) if n != current => current = n,
            _ => break,
        }
    }
    current
}
