//! The chain-of-trust state machine ([`Validation`]) driven against a tiny
//! in-memory signed tree, with no sockets and no runtime.
//!
//! The tree ([`Tree::new`]):
//!
//! ```text
//! .                 signed (ECDSA KSK + Ed25519 ZSK), NSEC; the anchor is the DS of its KSK
//! test.             signed, NSEC, DS in .
//! example.test.     signed, NSEC, DS in test.: www A, mail A, *.wild A,
//!                   cname CNAME www.insecure.test.
//! nsec3.test.       signed, NSEC3 (SHA-1, 0 iterations, no salt), DS in test.:
//!                   www A, *.wild A
//! insecure.test.    unsigned, delegated from test. without DS: www A
//! unsupported.test. "signed" only with algorithm 16 (ED448, which we do not
//!                   implement): DS and DNSKEYs of algorithm 16, junk RRSIGs
//! ```
//!
//! [`Tree::answer`] plays the authoritative servers (a DS question is
//! answered by the parent zone), signing on the fly so that a test can
//! change a zone before asking. [`run`] drives one validation: it answers
//! each [`Step::Fetch`] from the tree and records what was fetched.

use std::cmp::Ordering;
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG, SigInput};
use hickory_proto::dnssec::{
    Algorithm, DigestType, Nsec3HashAlgorithm, PublicKey, PublicKeyBuf, SigningKey, TBS,
};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use super::anchor::TrustAnchors;
use super::limits::MAX_SIGNATURE_VALIDATIONS;
use super::validator::{Fetched, Step, Validation, Validator};
use super::verify::{UnixTime, key_tag};
use super::{Security, Verdict};

use RecordType::{DNSKEY as DNSKEY_T, DS as DS_T};

const NOW: UnixTime = 1_700_000_000;
const TTL: u32 = 3_600;

fn n(text: &str) -> Name {
    Name::from_ascii(text).expect("test name")
}

/// `label` (one or more labels) under `zone`.
fn under(label: &str, zone: &Name) -> Name {
    if zone.is_root() {
        n(&format!("{label}."))
    } else {
        n(&format!("{label}.{zone}"))
    }
}

// ---- keys ----

/// A DNSKEY and, for algorithms ring implements, the private key.
struct Key {
    signer: Option<Box<dyn SigningKey>>,
    dnskey: DNSKEY,
}

impl Key {
    fn from_signer(signer: Box<dyn SigningKey>, flags: u16) -> Self {
        let public = signer.to_public_key().expect("public key");
        Self {
            signer: Some(signer),
            dnskey: DNSKEY::with_flags(flags, public),
        }
    }

    fn ecdsa(flags: u16) -> Self {
        let alg = Algorithm::ECDSAP256SHA256;
        let pkcs8 = EcdsaSigningKey::generate_pkcs8(alg).expect("ecdsa key");
        Self::from_signer(
            Box::new(EcdsaSigningKey::from_pkcs8(&pkcs8, alg).expect("ecdsa key")),
            flags,
        )
    }

    fn ed25519(flags: u16) -> Self {
        let pkcs8 = Ed25519SigningKey::generate_pkcs8().expect("ed25519 key");
        Self::from_signer(
            Box::new(Ed25519SigningKey::from_pkcs8(&pkcs8).expect("ed25519 key")),
            flags,
        )
    }

    /// A key of an algorithm we do not implement: public bytes only; its
    /// "signatures" are junk of the right shape.
    fn unsupported(flags: u16, algorithm: u8) -> Self {
        let bytes: Vec<u8> = (0..57u8)
            .map(|i| i.wrapping_mul(7) ^ (flags as u8))
            .collect();
        Self {
            signer: None,
            dnskey: DNSKEY::with_flags(
                flags,
                PublicKeyBuf::new(bytes, Algorithm::from_u8(algorithm)),
            ),
        }
    }

    fn tag(&self) -> u16 {
        key_tag(&self.dnskey).expect("key tag")
    }

    fn algorithm(&self) -> Algorithm {
        self.dnskey.public_key().algorithm()
    }

    /// The DS a parent publishes for this key at `owner` (SHA-256).
    fn ds(&self, owner: &Name) -> DS {
        let digest = self
            .dnskey
            .to_digest(owner, DigestType::SHA256)
            .expect("digest");
        DS::new(
            self.tag(),
            self.algorithm(),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        )
    }
}

/// DNSKEYs with the same algorithm and key tag as `key` but other public
/// key bytes (copied from verify.rs's tests: moving value between two
/// bytes of the same parity keeps the 16-bit sum, hence the tag).
fn colliding_keys(key: &DNSKEY, count: usize) -> Vec<DNSKEY> {
    let tag = key_tag(key).expect("key tag");
    let algorithm = key.public_key().algorithm();
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
            let forged = DNSKEY::with_flags(key.flags(), PublicKeyBuf::new(bytes, algorithm));
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

/// RRSIG fields valid from an hour before NOW to a day after it.
fn sig_input(key: &Key, zone: &Name, records: &[Record]) -> SigInput {
    SigInput {
        type_covered: records[0].record_type(),
        algorithm: key.algorithm(),
        num_labels: records[0].name.num_labels(),
        original_ttl: records[0].ttl,
        sig_expiration: SerialNumber::new(NOW as u32 + 86_400),
        sig_inception: SerialNumber::new(NOW as u32 - 3_600),
        key_tag: key.tag(),
        signer_name: zone.clone(),
    }
}

/// The RRSIG over `records` (one RRset) by `key`, with hickory's own
/// construction of the signed data.
fn sign_input(key: &Key, records: &[Record], input: SigInput) -> Record {
    let owner = &records[0].name;
    let sig = match &key.signer {
        Some(signer) => {
            let tbs = TBS::from_input(owner, DNSClass::IN, &input, records.iter()).expect("tbs");
            signer.sign(&tbs).expect("sign")
        }
        None => vec![0x5a; 114],
    };
    Record::from_rdata(
        owner.clone(),
        input.original_ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
    )
}

// ---- the tree ----

fn rec(owner: &Name, data: RData) -> Record {
    Record::from_rdata(owner.clone(), TTL, data)
}

fn a(last: u8) -> RData {
    RData::A(A(Ipv4Addr::new(192, 0, 2, last)))
}

/// Canonical name order (RFC 4034 §6.1), written here independently of
/// denial.rs: labels from the right, lower-cased, a missing label first.
fn canonical(x: &Name, y: &Name) -> Ordering {
    let labels = |name: &Name| -> Vec<Vec<u8>> {
        name.iter().rev().map(|l| l.to_ascii_lowercase()).collect()
    };
    labels(x).cmp(&labels(y))
}

fn nsec3_hash(name: &Name) -> Vec<u8> {
    Nsec3HashAlgorithm::SHA1
        .hash(&[], name, 0)
        .expect("nsec3 hash")
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Denial {
    Nsec,
    Nsec3,
}

/// One zone: its keys and its data (SOA, NS, delegations' NS and DS, the
/// rest); DNSKEY, NSEC/NSEC3 and RRSIG records are made when asked for.
struct Zone {
    apex: Name,
    ksk: Key,
    zsk: Key,
    /// More keys in the DNSKEY set (KeyTrap).
    extra_keys: Vec<DNSKEY>,
    signed: bool,
    denial: Denial,
    records: Vec<Record>,
}

impl Zone {
    fn new(apex: &str, ksk: Key, zsk: Key, signed: bool, denial: Denial) -> Self {
        let apex = n(apex);
        let ns = under("ns", &apex);
        let soa = SOA::new(
            ns.clone(),
            under("hostmaster", &apex),
            1,
            3_600,
            600,
            86_400,
            300,
        );
        Self {
            records: vec![rec(&apex, RData::SOA(soa)), rec(&apex, RData::NS(NS(ns)))],
            apex,
            ksk,
            zsk,
            extra_keys: Vec::new(),
            signed,
            denial,
        }
    }

    fn signed(apex: &str, denial: Denial) -> Self {
        Self::new(apex, Key::ecdsa(257), Key::ed25519(256), true, denial)
    }

    fn add(&mut self, owner: &str, data: RData) {
        let owner = if owner.is_empty() {
            self.apex.clone()
        } else {
            under(owner, &self.apex)
        };
        self.records.push(rec(&owner, data));
    }

    /// Delegates `child`: NS, and the DS of its KSK if it is signed.
    fn delegate(&mut self, child: &Zone) {
        let ns = under("ns", &child.apex);
        self.records.push(rec(&child.apex, RData::NS(NS(ns))));
        if child.signed {
            let ds = child.ksk.ds(&child.apex);
            self.records
                .push(rec(&child.apex, RData::DNSSEC(DNSSECRData::DS(ds))));
        }
    }

    /// Replaces the DS records at `child` with `ds`.
    fn set_ds(&mut self, child: &Name, ds: DS) {
        self.records
            .retain(|r| !(r.name == *child && r.record_type() == DS_T));
        self.records
            .push(rec(child, RData::DNSSEC(DNSSECRData::DS(ds))));
    }

    fn dnskeys(&self) -> Vec<Record> {
        [&self.ksk.dnskey, &self.zsk.dnskey]
            .into_iter()
            .chain(self.extra_keys.iter())
            .map(|k| rec(&self.apex, RData::DNSSEC(DNSSECRData::DNSKEY(k.clone()))))
            .collect()
    }

    fn rrset(&self, owner: &Name, rtype: RecordType) -> Vec<Record> {
        if rtype == DNSKEY_T {
            return if *owner == self.apex && self.signed {
                self.dnskeys()
            } else {
                Vec::new()
            };
        }
        self.records
            .iter()
            .filter(|r| r.name == *owner && r.record_type() == rtype)
            .cloned()
            .collect()
    }

    /// The RRSIG a signer of this zone makes over `records`, with the
    /// fields `edit` changes.
    fn sign_with(&self, records: &[Record], edit: impl FnOnce(&mut SigInput)) -> Record {
        let key = if records[0].record_type() == DNSKEY_T {
            &self.ksk
        } else {
            &self.zsk
        };
        let mut input = sig_input(key, &self.apex, records);
        edit(&mut input);
        sign_input(key, records, input)
    }

    fn sign(&self, records: &[Record]) -> Record {
        self.sign_with(records, |_| {})
    }

    /// The RRset with its RRSIG, as the zone serves it (NS at a
    /// delegation is not signed; an unsigned zone signs nothing).
    fn served(&self, records: Vec<Record>) -> Vec<Record> {
        if records.is_empty()
            || !self.signed
            || (records[0].record_type() == RecordType::NS && records[0].name != self.apex)
        {
            return records;
        }
        let sig = self.sign(&records);
        let mut out = records;
        out.push(sig);
        out
    }

    /// Names with records, and the empty non-terminals between them and
    /// the apex.
    fn names(&self, with_empty_non_terminals: bool) -> Vec<Name> {
        let mut names: Vec<Name> = vec![self.apex.clone()];
        for r in &self.records {
            let mut name = r.name.clone();
            loop {
                if !names.contains(&name) {
                    names.push(name.clone());
                }
                // Labels counted with a leading `*` (unlike num_labels).
                if !with_empty_non_terminals || name.iter().len() <= self.apex.iter().len() + 1 {
                    break;
                }
                name = name.base_name();
            }
        }
        names.sort_by(canonical);
        names
    }

    /// The types an NSEC/NSEC3 at `name` lists.
    fn types_at(&self, name: &Name) -> Vec<RecordType> {
        let mut types: Vec<RecordType> = self
            .records
            .iter()
            .filter(|r| r.name == *name)
            .map(Record::record_type)
            .collect();
        if *name == self.apex {
            types.push(DNSKEY_T);
        }
        let signed_here = types.iter().any(|t| *t != RecordType::NS) || *name == self.apex;
        match self.denial {
            Denial::Nsec => types.extend([RecordType::NSEC, RecordType::RRSIG]),
            Denial::Nsec3 if signed_here => types.push(RecordType::RRSIG),
            Denial::Nsec3 => {}
        }
        types.sort_by_key(|t| u16::from(*t));
        types.dedup();
        types
    }

    fn nsec_chain(&self) -> Vec<Record> {
        let names = self.names(false);
        names
            .iter()
            .enumerate()
            .map(|(i, owner)| {
                let next = names[(i + 1) % names.len()].clone();
                let nsec = NSEC::new(next, self.types_at(owner));
                rec(owner, RData::DNSSEC(DNSSECRData::NSEC(nsec)))
            })
            .collect()
    }

    /// (hash, record) for each NSEC3, in hash order.
    fn nsec3_chain(&self) -> Vec<(Vec<u8>, Record)> {
        let mut hashed: Vec<(Vec<u8>, Name)> = self
            .names(true)
            .into_iter()
            .map(|name| (nsec3_hash(&name), name))
            .collect();
        hashed.sort();
        (0..hashed.len())
            .map(|i| {
                let (hash, name) = &hashed[i];
                let next = hashed[(i + 1) % hashed.len()].0.clone();
                let types = if self.names(false).contains(name) {
                    self.types_at(name)
                } else {
                    Vec::new()
                };
                let nsec3 = NSEC3::new(Nsec3HashAlgorithm::SHA1, false, 0, Vec::new(), next, types);
                let owner = under(&base32hex(hash), &self.apex);
                (
                    hash.clone(),
                    rec(&owner, RData::DNSSEC(DNSSECRData::NSEC3(nsec3))),
                )
            })
            .collect()
    }

    /// The NSEC owned by `name`, or else the one covering it.
    fn nsec_at_or_covering(&self, name: &Name) -> Record {
        let chain = self.nsec_chain();
        let last = chain.len() - 1;
        chain
            .iter()
            .enumerate()
            .find(|(i, r)| {
                let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &r.data else {
                    return false;
                };
                let after_owner = canonical(&r.name, name) != Ordering::Greater;
                after_owner
                    && (*i == last || canonical(name, nsec.next_domain_name()) == Ordering::Less)
            })
            .map(|(_, r)| r.clone())
            .expect("an NSEC at or before every name")
    }

    /// The NSEC3 whose hash is `name`'s, or else the one covering it.
    fn nsec3_at_or_covering(&self, name: &Name) -> Record {
        let hash = nsec3_hash(name);
        let chain = self.nsec3_chain();
        if let Some((_, r)) = chain.iter().find(|(h, _)| *h == hash) {
            return r.clone();
        }
        // The last NSEC3 at or before the hash, or the last one (wrap).
        chain
            .iter()
            .rev()
            .find(|(h, _)| *h < hash)
            .or(chain.last())
            .map(|(_, r)| r.clone())
            .expect("an NSEC3 chain")
    }

    /// The denial records, each with its RRSIG, without duplicates.
    fn served_proof(&self, records: Vec<Record>) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for r in records {
            if out.contains(&r) {
                continue;
            }
            let sig = self.sign(std::slice::from_ref(&r));
            out.push(r);
            out.push(sig);
        }
        out
    }

    /// Whether `name` exists in the zone (it has records, or names below
    /// it do).
    fn exists(&self, name: &Name) -> bool {
        *name == self.apex || self.records.iter().any(|r| name.zone_of(&r.name))
    }

    /// The deepest existing ancestor of `name` in the zone.
    fn closest_encloser(&self, name: &Name) -> Name {
        let mut cur = name.clone();
        while !self.exists(&cur) {
            cur = cur.base_name();
        }
        cur
    }

    /// Proof that `name` (below the closest encloser `ce`) does not exist:
    /// the NSEC covering it, or the NSEC3 covering the next closer name.
    fn no_such_name(&self, name: &Name, ce: &Name) -> Record {
        match self.denial {
            Denial::Nsec => self.nsec_at_or_covering(name),
            Denial::Nsec3 => {
                let next_closer = name.trim_to(usize::from(ce.num_labels()) + 1);
                self.nsec3_at_or_covering(&next_closer)
            }
        }
    }

    fn at_or_covering(&self, name: &Name) -> Record {
        match self.denial {
            Denial::Nsec => self.nsec_at_or_covering(name),
            Denial::Nsec3 => self.nsec3_at_or_covering(name),
        }
    }

    /// The authoritative answer to `qname`/`qtype`.
    fn answer(&self, qname: &Name, qtype: RecordType) -> Fetched {
        let positive = |answers| Fetched {
            rcode: ResponseCode::NoError,
            answers,
            authorities: Vec::new(),
        };
        let set = self.rrset(qname, qtype);
        if !set.is_empty() {
            return positive(self.served(set));
        }
        let cname = self.rrset(qname, RecordType::CNAME);
        if !cname.is_empty() && qtype != RecordType::CNAME {
            return positive(self.served(cname));
        }
        let soa = self.served(self.rrset(&self.apex, RecordType::SOA));
        let negative = |rcode, proof: Vec<Record>| {
            let mut authorities = soa.clone();
            if self.signed {
                authorities.extend(self.served_proof(proof));
            }
            Fetched {
                rcode,
                answers: Vec::new(),
                authorities,
            }
        };
        if self.exists(qname) {
            return negative(ResponseCode::NoError, vec![self.at_or_covering(qname)]);
        }
        let ce = self.closest_encloser(qname);
        let wild = ce.prepend_label("*").expect("wildcard name");
        let no_name = self.no_such_name(qname, &ce);
        let expansion = self.rrset(&wild, qtype);
        if !expansion.is_empty() {
            // RFC 4035 §5.3.4: signed as the wildcard, served as qname.
            let sig = self.sign(&expansion);
            let mut answers: Vec<Record> = expansion
                .into_iter()
                .chain([sig])
                .map(|mut r| {
                    r.name = qname.clone();
                    r
                })
                .collect();
            if !self.signed {
                answers.retain(|r| r.record_type() != RecordType::RRSIG);
            }
            let mut reply = positive(answers);
            if self.signed {
                reply.authorities = self.served_proof(vec![no_name]);
            }
            return reply;
        }
        if self.exists(&wild) {
            return negative(
                ResponseCode::NoError,
                vec![no_name, self.at_or_covering(&wild)],
            );
        }
        let mut proof = vec![no_name];
        if self.denial == Denial::Nsec3 {
            proof.push(self.nsec3_at_or_covering(&ce));
        }
        proof.push(self.at_or_covering(&wild));
        negative(ResponseCode::NXDomain, proof)
    }
}

/// The zones, and the authority that serves them.
struct Tree {
    zones: Vec<Zone>,
}

impl Tree {
    fn new() -> Self {
        let mut root = Zone::signed(".", Denial::Nsec);
        let mut test = Zone::signed("test.", Denial::Nsec);

        let mut example = Zone::signed("example.test.", Denial::Nsec);
        example.add("www", a(1));
        example.add("mail", a(2));
        example.add("*.wild", a(3));
        example.add("cname", RData::CNAME(CNAME(n("www.insecure.test."))));

        let mut nsec3 = Zone::signed("nsec3.test.", Denial::Nsec3);
        nsec3.add("www", a(4));
        nsec3.add("*.wild", a(7));

        let mut insecure = Zone::new(
            "insecure.test.",
            Key::ed25519(257),
            Key::ed25519(256),
            false,
            Denial::Nsec,
        );
        insecure.add("www", a(5));

        // Algorithm 16 (ED448) is not implemented (verify::algorithm_supported).
        let mut unsupported = Zone::new(
            "unsupported.test.",
            Key::unsupported(257, 16),
            Key::unsupported(256, 16),
            true,
            Denial::Nsec,
        );
        unsupported.add("www", a(6));

        for child in [&example, &nsec3, &insecure, &unsupported] {
            test.delegate(child);
        }
        root.delegate(&test);
        Self {
            zones: vec![root, test, example, nsec3, insecure, unsupported],
        }
    }

    fn zone(&self, apex: &str) -> &Zone {
        let apex = n(apex);
        self.zones
            .iter()
            .find(|z| z.apex == apex)
            .expect("a zone of the tree")
    }

    fn zone_mut(&mut self, apex: &str) -> &mut Zone {
        let apex = n(apex);
        self.zones
            .iter_mut()
            .find(|z| z.apex == apex)
            .expect("a zone of the tree")
    }

    /// The deepest zone at or above `name`.
    fn zone_for(&self, name: &Name) -> &Zone {
        self.zones
            .iter()
            .filter(|z| z.apex.zone_of(name))
            .max_by_key(|z| z.apex.num_labels())
            .expect("the root zone holds every name")
    }

    /// What the authority for `name` answers (for DS: the parent's).
    fn answer(&self, name: &Name, rtype: RecordType) -> Fetched {
        let zone = if rtype == DS_T && !name.is_root() {
            self.zone_for(&name.base_name())
        } else {
            self.zone_for(name)
        };
        zone.answer(name, rtype)
    }

    /// The trust anchor: the DS of the root KSK, as a root.key line.
    fn anchor_text(&self) -> String {
        let ds = self.zone(".").ksk.ds(&Name::root());
        format!(
            ". 172800 IN DS {} {} 2 {}",
            ds.key_tag(),
            u8::from(ds.algorithm()),
            hex(ds.digest())
        )
    }

    fn validator(&self) -> Arc<Validator> {
        let anchors = TrustAnchors::parse(&self.anchor_text()).expect("anchor parses");
        Arc::new(Validator::new(anchors))
    }
}

// ---- the driver ----

type Fetches = Vec<(Name, RecordType)>;

struct Run {
    verdict: Verdict,
    fetched: Fetches,
    validations: u32,
}

/// Validates `reply` to `question`, answering every fetch from the tree.
fn run_counting(
    tree: &Tree,
    validator: &Arc<Validator>,
    question: (&str, RecordType),
    reply: &Fetched,
) -> Run {
    run_tampered(tree, validator, question, reply, |_, _, answer| answer)
}

/// Like [`run_counting`], with an attacker on the path: `tamper` may
/// change each fetched answer before the validation sees it.
fn run_tampered(
    tree: &Tree,
    validator: &Arc<Validator>,
    question: (&str, RecordType),
    reply: &Fetched,
    tamper: impl Fn(&Name, RecordType, Fetched) -> Fetched,
) -> Run {
    let (qname, qtype) = question;
    let mut validation = Validation::new(
        validator.clone(),
        &n(qname),
        qtype,
        reply.rcode,
        &reply.answers,
        &reply.authorities,
        NOW,
    );
    let mut fetched = Vec::new();
    for _ in 0..100 {
        match validation.step() {
            Step::Done(verdict) => {
                assert_eq!(
                    validation.step(),
                    Step::Done(verdict),
                    "a finished validation stays finished"
                );
                return Run {
                    verdict,
                    fetched,
                    validations: validation.validations_used(),
                };
            }
            Step::Fetch(name, rtype) => {
                assert!(
                    matches!(rtype, DS_T | DNSKEY_T),
                    "fetch of {name} {rtype}: only DS and DNSKEY are asked for"
                );
                let answer = tamper(&name, rtype, tree.answer(&name, rtype));
                fetched.push((name.clone(), rtype));
                validation.on_fetched(name, rtype, answer);
            }
        }
    }
    panic!("no verdict after 100 steps; fetched {fetched:?}");
}

fn run(
    tree: &Tree,
    validator: &Arc<Validator>,
    question: (&str, RecordType),
    reply: &Fetched,
) -> (Verdict, Fetches) {
    let r = run_counting(tree, validator, question, reply);
    (r.verdict, r.fetched)
}

/// Asks the tree and validates its answer.
fn ask(
    tree: &Tree,
    validator: &Arc<Validator>,
    question: (&str, RecordType),
) -> (Verdict, Fetches) {
    let reply = tree.answer(&n(question.0), question.1);
    run(tree, validator, question, &reply)
}

fn fetches(list: &[(&str, RecordType)]) -> Fetches {
    list.iter().map(|(name, t)| (n(name), *t)).collect()
}

/// The cold chain from the root anchor to example.test.
const TO_EXAMPLE: [(&str, RecordType); 5] = [
    (".", DNSKEY_T),
    ("test.", DS_T),
    ("test.", DNSKEY_T),
    ("example.test.", DS_T),
    ("example.test.", DNSKEY_T),
];

fn to_example_then(more: &[(&str, RecordType)]) -> Fetches {
    fetches(&[&TO_EXAMPLE[..], more].concat())
}

const SECURE: Verdict = Verdict {
    security: Security::Secure,
    ede: None,
};
const INSECURE: Verdict = Verdict {
    security: Security::Insecure,
    ede: None,
};

#[track_caller]
fn assert_bogus(verdict: Verdict, code: u16) {
    assert_eq!(verdict.security, Security::Bogus, "{verdict:?}");
    let ede = verdict.ede.expect("a bogus verdict says why");
    assert_eq!(ede.code, code, "{verdict:?}");
    assert!(!ede.text.is_empty());
}

fn rrsig_covers(r: &Record, t: RecordType) -> bool {
    matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(s)) if s.input().type_covered == t)
}

/// `records` without the records of type `t` and the RRSIGs over them.
fn without_type(records: &[Record], t: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.record_type() != t && !rrsig_covers(r, t))
        .cloned()
        .collect()
}

/// A copy of the RRSIG record with its signature bytes changed by `f`.
fn with_signature(rrsig: &Record, f: impl FnOnce(&mut Vec<u8>)) -> Record {
    let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &rrsig.data else {
        panic!("not an RRSIG: {rrsig}");
    };
    let mut bytes = sig.sig().to_vec();
    f(&mut bytes);
    let mut out = rrsig.clone();
    out.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
        sig.input().clone(),
        bytes,
    )));
    out
}

// ---- the tree itself ----

#[test]
fn the_test_tree_serves_what_the_tests_rely_on() {
    let tree = Tree::new();
    // A signed positive answer: the A record and its RRSIG.
    let www = tree.answer(&n("www.example.test."), RecordType::A);
    assert_eq!(www.rcode, ResponseCode::NoError);
    assert_eq!(www.answers.len(), 2);
    // The DS for insecure.test. is a NODATA from test. whose NSEC shows NS
    // and no DS.
    let ds = tree.answer(&n("insecure.test."), DS_T);
    assert_eq!(ds.rcode, ResponseCode::NoError);
    assert!(ds.answers.is_empty());
    let nsec = ds
        .authorities
        .iter()
        .find_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(nsec)) if r.name == n("insecure.test.") => Some(nsec),
            _ => None,
        })
        .expect("the NSEC of insecure.test.");
    assert!(nsec.type_set().contains(RecordType::NS));
    assert!(!nsec.type_set().contains(DS_T));
    assert!(
        ds.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA && r.name == n("test."))
    );
    // NXDOMAIN in the NSEC zone: SOA, the NSEC covering the name and the
    // one covering *.example.test., each signed.
    let nx = tree.answer(&n("nope.example.test."), RecordType::A);
    assert_eq!(nx.rcode, ResponseCode::NXDomain);
    let owners: Vec<&Name> = nx
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NSEC)
        .map(|r| &r.name)
        .collect();
    assert_eq!(owners, [&n("mail.example.test."), &n("example.test.")]);
    assert_eq!(nx.authorities.len(), 6);
    // NXDOMAIN in the NSEC3 zone: SOA and NSEC3 records, each signed.
    let nx3 = tree.answer(&n("nope.nsec3.test."), RecordType::A);
    assert_eq!(nx3.rcode, ResponseCode::NXDomain);
    assert!(
        nx3.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NSEC3)
    );
    // The unsigned zone signs nothing.
    let plain = tree.answer(&n("www.insecure.test."), RecordType::A);
    assert_eq!(plain.answers.len(), 1);
    // The anchor parses and names the root.
    let anchors = TrustAnchors::parse(&tree.anchor_text()).unwrap();
    assert_eq!(anchors.get(&Name::root()).unwrap().ds.len(), 1);
}

// ---- secure answers and the zone cache ----

#[test]
fn secure_answer_fetches_the_chain_top_down_and_the_zone_cache_serves_the_next_name() {
    let tree = Tree::new();
    let validator = tree.validator();
    let (verdict, fetched) = ask(&tree, &validator, ("www.example.test.", RecordType::A));
    assert_eq!(verdict, SECURE);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));

    // Another name of the zone, same validator: the keys are cached.
    let (verdict, fetched) = ask(&tree, &validator, ("mail.example.test.", RecordType::A));
    assert_eq!(verdict, SECURE);
    assert_eq!(fetched, fetches(&[]));

    // A sibling zone needs only its own DS and DNSKEY.
    let reply = tree.answer(&n("www.nsec3.test."), RecordType::A);
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("www.nsec3.test.", RecordType::A),
        &reply,
    );
    assert_eq!(verdict, SECURE);
    assert_eq!(
        fetched,
        fetches(&[("nsec3.test.", DS_T), ("nsec3.test.", DNSKEY_T)])
    );
}

#[test]
fn a_cold_chain_checks_each_signature_once() {
    // limits.rs: "A cold chain root → TLD → zone needs 6": DNSKEY ., DS
    // test., DNSKEY test., DS example.test., DNSKEY example.test., the A
    // set. Validation::chain_to walks again from the anchor on every
    // step; a DS set verified before its child's DNSKEY set arrived must
    // not be verified again (it once was: 8 checks).
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let r = run_counting(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &reply,
    );
    assert_eq!(r.verdict, SECURE);
    assert_eq!(r.validations, 6);
}

#[test]
fn a_warm_secure_answer_spends_one_signature_check() {
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let question = ("www.example.test.", RecordType::A);
    let cold = run_counting(&tree, &validator, question, &reply);
    assert_eq!(cold.verdict, SECURE);
    assert!(cold.validations <= MAX_SIGNATURE_VALIDATIONS);
    let warm = run_counting(&tree, &validator, question, &reply);
    assert_eq!(warm.verdict, SECURE);
    assert_eq!(warm.validations, 1);
    assert_eq!(warm.fetched, fetches(&[]));
}

// ---- bogus positive answers ----

#[test]
fn a_bad_signature_is_bogus_with_ede_6() {
    let tree = Tree::new();
    let validator = tree.validator();
    let mut reply = tree.answer(&n("www.example.test."), RecordType::A);
    let i = reply
        .answers
        .iter()
        .position(|r| r.record_type() == RecordType::RRSIG)
        .unwrap();
    reply.answers[i] = with_signature(&reply.answers[i], |s| s[10] ^= 0x01);
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &reply,
    );
    assert_bogus(verdict, 6);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));
}

#[test]
fn an_expired_rrsig_is_bogus_with_ede_7() {
    let tree = Tree::new();
    let validator = tree.validator();
    let zone = tree.zone("example.test.");
    let set = zone.rrset(&n("www.example.test."), RecordType::A);
    let sig = zone.sign_with(&set, |input| {
        input.sig_inception = SerialNumber::new(NOW as u32 - 86_400);
        input.sig_expiration = SerialNumber::new(NOW as u32 - 60);
    });
    let reply = Fetched {
        rcode: ResponseCode::NoError,
        answers: [set, vec![sig]].concat(),
        authorities: Vec::new(),
    };
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &reply,
    );
    assert_bogus(verdict, 7);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));
}

#[test]
fn a_ds_matching_no_key_is_bogus_with_ede_9() {
    let mut tree = Tree::new();
    let stranger = Key::ecdsa(257).ds(&n("example.test."));
    tree.zone_mut("test.").set_ds(&n("example.test."), stranger);
    let validator = tree.validator();
    let (verdict, fetched) = ask(&tree, &validator, ("www.example.test.", RecordType::A));
    assert_bogus(verdict, 9);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));
    // The bogus zone is remembered: the next name fails without fetching.
    let (verdict, fetched) = ask(&tree, &validator, ("mail.example.test.", RecordType::A));
    assert_bogus(verdict, 9);
    assert_eq!(fetched, fetches(&[]));
}

#[test]
fn rrsigs_stripped_from_a_positive_answer_are_bogus_with_ede_10() {
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let stripped = Fetched {
        answers: without_type(&reply.answers, RecordType::RRSIG),
        ..reply
    };
    assert!(
        stripped
            .answers
            .iter()
            .all(|r| r.record_type() == RecordType::A)
    );
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &stripped,
    );
    assert_bogus(verdict, 10);
    // Without a signer to go by, the walk goes down to the owner itself:
    // the DS query for www.example.test. proves it is no zone cut.
    assert_eq!(fetched, to_example_then(&[("www.example.test.", DS_T)]));
}

// ---- denial of existence ----

#[test]
fn nxdomain_proven_by_nsec_is_secure() {
    let tree = Tree::new();
    let validator = tree.validator();
    let (verdict, fetched) = ask(&tree, &validator, ("nope.example.test.", RecordType::A));
    assert_eq!(verdict, SECURE);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));
}

#[test]
fn nxdomain_proven_by_nsec3_is_secure() {
    let tree = Tree::new();
    let validator = tree.validator();
    let (verdict, fetched) = ask(&tree, &validator, ("nope.nsec3.test.", RecordType::A));
    assert_eq!(verdict, SECURE);
    assert_eq!(
        fetched,
        fetches(&[
            (".", DNSKEY_T),
            ("test.", DS_T),
            ("test.", DNSKEY_T),
            ("nsec3.test.", DS_T),
            ("nsec3.test.", DNSKEY_T),
        ])
    );
}

#[test]
fn nxdomain_with_its_nsec_records_stripped_is_bogus_with_ede_12() {
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("nope.example.test."), RecordType::A);
    let stripped = Fetched {
        authorities: without_type(&reply.authorities, RecordType::NSEC),
        ..reply
    };
    // SOA and its RRSIG are left.
    assert_eq!(stripped.authorities.len(), 2);
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("nope.example.test.", RecordType::A),
        &stripped,
    );
    assert_bogus(verdict, 12);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));
}

#[test]
fn nxdomain_with_an_empty_authority_section_from_a_signed_zone_is_bogus() {
    let tree = Tree::new();
    let validator = tree.validator();
    let bare = Fetched {
        rcode: ResponseCode::NXDomain,
        answers: Vec::new(),
        authorities: Vec::new(),
    };
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("nope.example.test.", RecordType::A),
        &bare,
    );
    assert_bogus(verdict, 12);
    // The walk goes to the name itself: its DS query (an NXDOMAIN from
    // example.test.) shows it is inside the signed zone.
    assert_eq!(fetched, to_example_then(&[("nope.example.test.", DS_T)]));

    // A bare NODATA is no better.
    let bare_nodata = Fetched {
        rcode: ResponseCode::NoError,
        ..bare
    };
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("www.example.test.", RecordType::AAAA),
        &bare_nodata,
    );
    assert_bogus(verdict, 12);
    assert_eq!(fetched, fetches(&[("www.example.test.", DS_T)]));
}

#[test]
fn nxdomain_with_an_empty_authority_section_from_an_insecure_zone_is_insecure() {
    let tree = Tree::new();
    let validator = tree.validator();
    let bare = Fetched {
        rcode: ResponseCode::NXDomain,
        answers: Vec::new(),
        authorities: Vec::new(),
    };
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("nope.insecure.test.", RecordType::A),
        &bare,
    );
    assert_eq!(verdict, INSECURE);
    assert_eq!(
        fetched,
        fetches(&[
            (".", DNSKEY_T),
            ("test.", DS_T),
            ("test.", DNSKEY_T),
            ("insecure.test.", DS_T),
        ])
    );
    // The insecure zone's own NXDOMAIN (SOA only) is insecure too, and the
    // cut is cached.
    let (verdict, fetched) = ask(&tree, &validator, ("nope.insecure.test.", RecordType::A));
    assert_eq!(verdict, INSECURE);
    assert_eq!(fetched, fetches(&[]));
}

#[test]
fn nodata_proven_by_nsec_or_nsec3_is_secure() {
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::AAAA);
    assert_eq!(reply.rcode, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("www.example.test.", RecordType::AAAA),
        &reply,
    );
    assert_eq!(verdict, SECURE);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));

    let (verdict, fetched) = ask(&tree, &validator, ("www.nsec3.test.", RecordType::AAAA));
    assert_eq!(verdict, SECURE);
    assert_eq!(
        fetched,
        fetches(&[("nsec3.test.", DS_T), ("nsec3.test.", DNSKEY_T)])
    );
}

#[test]
fn nodata_whose_nsec_lists_the_type_is_bogus() {
    // The NSEC of www.example.test. (A in its bitmap) offered as proof
    // that www.example.test. has no A.
    let tree = Tree::new();
    let validator = tree.validator();
    let aaaa = tree.answer(&n("www.example.test."), RecordType::AAAA);
    let forged = Fetched {
        rcode: ResponseCode::NoError,
        answers: Vec::new(),
        authorities: aaaa.authorities,
    };
    let (verdict, _) = run(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &forged,
    );
    assert_bogus(verdict, 12);
}

// ---- wildcards ----

#[test]
fn a_wildcard_expansion_with_its_nsec_proof_is_secure() {
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("x.wild.example.test."), RecordType::A);
    assert!(
        reply
            .answers
            .iter()
            .all(|r| r.name == n("x.wild.example.test."))
    );
    assert!(
        reply
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NSEC)
    );
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("x.wild.example.test.", RecordType::A),
        &reply,
    );
    assert_eq!(verdict, SECURE);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));
}

#[test]
fn a_wildcard_expansion_without_its_proof_is_bogus() {
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("x.wild.example.test."), RecordType::A);
    let unproven = Fetched {
        authorities: Vec::new(),
        ..reply
    };
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("x.wild.example.test.", RecordType::A),
        &unproven,
    );
    assert_bogus(verdict, 12);
    assert_eq!(fetched, fetches(&TO_EXAMPLE));
}

#[test]
fn a_wildcard_expansion_in_an_nsec3_zone_is_secure_with_its_proof_and_bogus_without() {
    let tree = Tree::new();
    let validator = tree.validator();
    let question = ("x.wild.nsec3.test.", RecordType::A);
    let reply = tree.answer(&n(question.0), question.1);
    assert!(
        reply
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NSEC3)
    );
    let (verdict, fetched) = run(&tree, &validator, question, &reply);
    assert_eq!(verdict, SECURE);
    assert_eq!(
        fetched,
        fetches(&[
            (".", DNSKEY_T),
            ("test.", DS_T),
            ("test.", DNSKEY_T),
            ("nsec3.test.", DS_T),
            ("nsec3.test.", DNSKEY_T),
        ])
    );
    let unproven = Fetched {
        authorities: Vec::new(),
        ..reply
    };
    let (verdict, fetched) = run(&tree, &validator, question, &unproven);
    assert_bogus(verdict, 12);
    assert_eq!(fetched, fetches(&[]));
}

// ---- insecure zones ----

#[test]
fn an_answer_from_an_unsigned_delegation_is_insecure_and_the_walk_stops_at_its_ds() {
    let tree = Tree::new();
    let validator = tree.validator();
    let (verdict, fetched) = ask(&tree, &validator, ("www.insecure.test.", RecordType::A));
    assert_eq!(verdict, INSECURE);
    assert_eq!(
        fetched,
        fetches(&[
            (".", DNSKEY_T),
            ("test.", DS_T),
            ("test.", DNSKEY_T),
            ("insecure.test.", DS_T),
        ])
    );
}

#[test]
fn a_cname_from_a_signed_zone_into_an_unsigned_one_is_insecure() {
    let tree = Tree::new();
    let validator = tree.validator();
    let mut reply = tree.answer(&n("cname.example.test."), RecordType::A);
    assert!(
        reply
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::CNAME)
    );
    reply
        .answers
        .extend(tree.answer(&n("www.insecure.test."), RecordType::A).answers);
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("cname.example.test.", RecordType::A),
        &reply,
    );
    assert_eq!(verdict, INSECURE);
    assert_eq!(fetched, to_example_then(&[("insecure.test.", DS_T)]));
}

#[test]
fn a_zone_signed_only_with_an_unsupported_algorithm_is_insecure() {
    // RFC 6840 §5.2 / RFC 4035 §5.2: a DS of an algorithm we do not
    // implement makes the zone insecure, not bogus.
    let tree = Tree::new();
    let validator = tree.validator();
    let (verdict, fetched) = ask(&tree, &validator, ("www.unsupported.test.", RecordType::A));
    assert_eq!(verdict, INSECURE);
    assert_eq!(
        fetched,
        fetches(&[
            (".", DNSKEY_T),
            ("test.", DS_T),
            ("test.", DNSKEY_T),
            ("unsupported.test.", DS_T),
            ("unsupported.test.", DNSKEY_T),
        ])
    );
}

// ---- the anchor ----

#[test]
fn an_anchor_that_matches_no_root_key_makes_everything_bogus() {
    let tree = Tree::new();
    let wrong = Key::ecdsa(257).ds(&Name::root());
    let anchors = TrustAnchors::parse(&format!(
        ". IN DS {} 13 2 {}",
        wrong.key_tag(),
        hex(wrong.digest())
    ))
    .unwrap();
    let validator = Arc::new(Validator::new(anchors));

    let (verdict, fetched) = ask(&tree, &validator, ("www.example.test.", RecordType::A));
    assert_bogus(verdict, 9);
    assert_eq!(fetched, fetches(&[(".", DNSKEY_T)]));

    let bare_nxdomain = Fetched {
        rcode: ResponseCode::NXDomain,
        ..Fetched::default()
    };
    for (question, reply) in [
        (("www.insecure.test.", RecordType::A), None),
        (("cname.example.test.", RecordType::A), None),
        (("nope.example.test.", RecordType::A), None),
        (("nope.nsec3.test.", RecordType::A), None),
        (("x.wild.example.test.", RecordType::A), None),
        (("www.unsupported.test.", RecordType::A), None),
        (
            ("nope.insecure.test.", RecordType::A),
            Some(bare_nxdomain.clone()),
        ),
    ] {
        let reply = reply.unwrap_or_else(|| tree.answer(&n(question.0), question.1));
        let (verdict, _) = run(&tree, &validator, question, &reply);
        assert_bogus(verdict, 9);
    }
    // A fresh validator with the same wrong anchor: bogus from the root
    // DNSKEY set on, whatever the name.
    let fresh = Arc::new(Validator::new(validator.anchors().clone()));
    let (verdict, fetched) = ask(&tree, &fresh, ("www.insecure.test.", RecordType::A));
    assert_bogus(verdict, 9);
    assert_eq!(fetched, fetches(&[(".", DNSKEY_T)]));
}

// ---- KeyTrap and the budget ----

#[test]
fn keytrap_many_zone_keys_with_one_key_tag_hit_the_limit() {
    let mut tree = Tree::new();
    {
        let zone = tree.zone_mut("example.test.");
        zone.extra_keys = colliding_keys(&zone.zsk.dnskey, 12);
    }
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let r = run_counting(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &reply,
    );
    assert_bogus(r.verdict, 0);
    assert!(
        r.verdict.ede.unwrap().text.contains("limit"),
        "{:?}",
        r.verdict
    );
    assert!(
        r.validations <= MAX_SIGNATURE_VALIDATIONS,
        "{}",
        r.validations
    );
    assert_eq!(r.fetched, fetches(&TO_EXAMPLE));
}

#[test]
fn keytrap_many_ksks_with_the_ds_key_tag_hit_the_limit() {
    let mut tree = Tree::new();
    {
        let zone = tree.zone_mut("example.test.");
        zone.extra_keys = colliding_keys(&zone.ksk.dnskey, 12);
    }
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let r = run_counting(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &reply,
    );
    assert_bogus(r.verdict, 0);
    assert!(
        r.verdict.ede.unwrap().text.contains("limit"),
        "{:?}",
        r.verdict
    );
    assert!(
        r.validations <= MAX_SIGNATURE_VALIDATIONS,
        "{}",
        r.validations
    );
    assert_eq!(r.fetched, fetches(&TO_EXAMPLE));
}

#[test]
fn keytrap_many_bad_rrsigs_exhaust_the_signature_budget() {
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let good = reply
        .answers
        .iter()
        .find(|r| r.record_type() == RecordType::RRSIG)
        .unwrap()
        .clone();
    let mut answers: Vec<Record> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == RecordType::A)
        .cloned()
        .collect();
    answers.extend(
        (0..2 * MAX_SIGNATURE_VALIDATIONS as u8).map(|i| with_signature(&good, |s| s[0] ^= i + 1)),
    );
    let flood = Fetched { answers, ..reply };
    let r = run_counting(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &flood,
    );
    assert_bogus(r.verdict, 0);
    assert!(
        r.verdict.ede.unwrap().text.contains("limit"),
        "{:?}",
        r.verdict
    );
    assert_eq!(r.validations, MAX_SIGNATURE_VALIDATIONS);
    assert_eq!(r.fetched, fetches(&TO_EXAMPLE));
}

// ---- odd questions ----

#[test]
fn qtype_rrsig_answered_with_rrsigs_is_indeterminate_not_bogus() {
    let tree = Tree::new();
    let validator = tree.validator();
    let a = tree.answer(&n("www.example.test."), RecordType::A);
    let reply = Fetched {
        answers: a
            .answers
            .into_iter()
            .filter(|r| r.record_type() == RecordType::RRSIG)
            .collect(),
        ..a
    };
    assert_eq!(reply.answers.len(), 1);
    let (verdict, fetched) = run(
        &tree,
        &validator,
        ("www.example.test.", RecordType::RRSIG),
        &reply,
    );
    assert_eq!(
        verdict,
        Verdict {
            security: Security::Indeterminate,
            ede: None
        }
    );
    assert_eq!(fetched, fetches(&[]));
}

// ---- an attacker on the path of the chain's fetches ----

#[test]
fn a_ds_stripped_from_a_signed_delegation_is_bogus_not_insecure() {
    // Downgrade: the DS query for example.test. gets a NODATA with the
    // SOA of test. (signed) but no NSEC: the delegation is not proven
    // unsigned, so the answer must not become insecure.
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let soa_only = |name: &Name, rtype: RecordType, answer: Fetched| {
        if rtype == DS_T && *name == n("example.test.") {
            let nodata = tree.answer(&n("insecure.test."), DS_T);
            Fetched {
                authorities: without_type(&nodata.authorities, RecordType::NSEC),
                ..nodata
            }
        } else {
            answer
        }
    };
    let question = ("www.example.test.", RecordType::A);
    let r = run_tampered(&tree, &validator, question, &reply, soa_only);
    assert_bogus(r.verdict, 12);
    assert_eq!(r.fetched, fetches(&TO_EXAMPLE[..4]));

    // The same with the signed NSEC of another delegation replayed.
    let validator = tree.validator();
    let replay = |name: &Name, rtype: RecordType, answer: Fetched| {
        if rtype == DS_T && *name == n("example.test.") {
            tree.answer(&n("insecure.test."), DS_T)
        } else {
            answer
        }
    };
    let r = run_tampered(&tree, &validator, question, &reply, replay);
    assert_bogus(r.verdict, 12);
}

#[test]
fn a_ds_set_without_its_rrsig_is_bogus() {
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let unsigned_ds = |name: &Name, rtype: RecordType, answer: Fetched| {
        if rtype == DS_T && *name == n("example.test.") {
            Fetched {
                answers: without_type(&answer.answers, RecordType::RRSIG),
                ..answer
            }
        } else {
            answer
        }
    };
    let question = ("www.example.test.", RecordType::A);
    let r = run_tampered(&tree, &validator, question, &reply, unsigned_ds);
    assert_bogus(r.verdict, 6);
    assert_eq!(r.fetched, fetches(&TO_EXAMPLE[..4]));
}

#[test]
fn a_ds_set_that_cannot_be_fetched_fails_closed() {
    // SERVFAIL for the DS of example.test.: neither secure nor insecure.
    // (mod.rs documents Security::Indeterminate for "a DS or DNSKEY could
    // not be fetched"; validator.rs answers Bogus with EDE 9.)
    let tree = Tree::new();
    let validator = tree.validator();
    let reply = tree.answer(&n("www.example.test."), RecordType::A);
    let servfail = |name: &Name, rtype: RecordType, answer: Fetched| {
        if rtype == DS_T && *name == n("example.test.") {
            Fetched {
                rcode: ResponseCode::ServFail,
                ..Fetched::default()
            }
        } else {
            answer
        }
    };
    let question = ("www.example.test.", RecordType::A);
    let r = run_tampered(&tree, &validator, question, &reply, servfail);
    assert_bogus(r.verdict, 9);
    assert_eq!(r.fetched, fetches(&TO_EXAMPLE[..4]));
}

// ---- negative trust anchors (RFC 7646) ----

#[test]
fn a_negative_trust_anchor_makes_its_domain_insecure_without_any_fetch() {
    let tree = Tree::new();
    let anchors = TrustAnchors::parse(&tree.anchor_text()).expect("anchor parses");
    let validator = Arc::new(Validator::new(anchors).with_insecure(&[n("Example.TEST.")]));
    // A good signed answer is not checked at all below the negative anchor.
    let (verdict, fetched) = ask(&tree, &validator, ("www.example.test.", RecordType::A));
    assert_eq!(verdict, INSECURE);
    assert!(fetched.is_empty(), "nothing is fetched: {fetched:?}");
    // Nor is a forged one: its RRSIG removed, it would be bogus elsewhere.
    let mut reply = tree.answer(&n("www.example.test."), RecordType::A);
    reply
        .answers
        .retain(|r| r.record_type() != RecordType::RRSIG);
    let (verdict, _) = run(
        &tree,
        &validator,
        ("www.example.test.", RecordType::A),
        &reply,
    );
    assert_eq!(verdict, INSECURE);
    // A sibling zone is validated as before.
    let (verdict, _) = ask(&tree, &validator, ("www.nsec3.test.", RecordType::A));
    assert_eq!(verdict, SECURE);
}

#[test]
fn anchors_of_several_files_merge_and_a_bad_ds_length_is_skipped_not_fatal() {
    let tree = Tree::new();
    let good = tree.anchor_text();
    let bad = ". IN DS 1 8 2 ABCD\n";
    assert!(TrustAnchors::parse(bad).is_err(), "strict parse refuses it");
    let (from_bad, skipped) = TrustAnchors::parse_lenient(bad).expect("lenient parse");
    assert!(from_bad.is_empty());
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].line, 1);
    assert!(
        skipped[0].message.contains("has 2 bytes"),
        "{}",
        skipped[0].message
    );
    let mut anchors = from_bad;
    anchors.merge(TrustAnchors::parse(&good).expect("anchor parses"));
    let validator = Arc::new(Validator::new(anchors));
    let (verdict, _) = ask(&tree, &validator, ("www.example.test.", RecordType::A));
    assert_eq!(verdict, SECURE);
}
