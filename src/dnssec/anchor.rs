//! Trust anchors (RFC 4033 §2, RFC 4035 §4.3, RFC 7958).
//!
//! A trust anchor is a DS or DNSKEY record configured for a zone: the point
//! where a chain of trust starts. [`TrustAnchors::parse`] reads them in the
//! presentation format Unbound's `trust-anchor-file` and BIND's `root.key`
//! use; [`TrustAnchors::builtin`] holds the root zone's key-signing keys as
//! IANA publishes them (`root.key` next to this file). To validate a name
//! the caller takes [`TrustAnchors::closest`] anchor at or above it, fetches
//! that zone's DNSKEY RRset and authenticates it with
//! [`verify_dnskeys_with_ds`](crate::dnssec::verify::verify_dnskeys_with_ds)
//! (the anchor's DS records) or
//! [`verify_dnskeys_with_anchor_keys`](crate::dnssec::verify::verify_dnskeys_with_anchor_keys)
//! (its DNSKEYs).
//!
//! The text format, one record per line (parentheses continue a record
//! over several lines, `;` starts a comment):
//!
//! ```text
//! owner. [TTL] [IN] DS     key-tag algorithm digest-type hex-digest
//! owner. [TTL] [IN] DNSKEY flags 3 algorithm base64-key
//! ```
//!
//! The owner must be absolute (end with `.`); `$ORIGIN`/`$TTL` and `@` are
//! not accepted. Records of other types are an error, so that a mistyped
//! file is noticed instead of silently anchoring nothing.

use std::collections::BTreeMap;
use std::path::Path;

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf, Verifier};
use hickory_proto::rr::Name;

/// The configured trust anchors: for each zone, DS and/or DNSKEY records
/// (RFC 4033 §2, RFC 7958 §2 for the DS form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustAnchors {
    /// Zone (lower-case, absolute) → its anchor records.
    zones: BTreeMap<Name, Anchor>,
}

/// One zone's trust anchor records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchor {
    /// DS records: the DNSKEY RRset must contain a key they match
    /// (RFC 4035 §5.2).
    pub ds: Vec<DS>,
    /// DNSKEY records: the DNSKEY RRset must contain and be signed by one
    /// of them.
    pub keys: Vec<DNSKEY>,
}

impl Anchor {
    /// Neither DS nor DNSKEY records.
    pub fn is_empty(&self) -> bool {
        self.ds.is_empty() && self.keys.is_empty()
    }
}

/// A trust anchor file or text that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct AnchorError {
    /// 1-based line of the offending text (the line a multi-line record
    /// starts on when the record as a whole is wrong); 0 when no line is
    /// concerned (an unreadable file).
    pub line: usize,
    /// What is wrong, quoting the offending text.
    pub message: String,
}

impl AnchorError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

/// The built-in root anchors (see the comments in the file).
const ROOT_KEY: &str = include_str!("root.key");

impl TrustAnchors {
    /// Parses presentation-format trust anchor lines (`owner [TTL] [IN]
    /// DS|DNSKEY rdata`, `;` comments, blank lines, parentheses over
    /// several lines) as Unbound's `trust-anchor-file` and BIND's root.key
    /// use (RFC 4034 §2.2 and §5.3 presentation formats). Relative owners
    /// are refused. DNSKEY anchors must have the Zone Key bit and not the
    /// REVOKE bit (RFC 5011 §2.1); DS digests must have the length their
    /// digest type implies. Records with algorithms or digest types we do
    /// not implement are kept (they make the zone insecure, RFC 4035 §5.2).
    pub fn parse(text: &str) -> Result<Self, AnchorError> {
        let (anchors, unusable) = Self::parse_lenient(text)?;
        match unusable.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(anchors),
        }
    }

    /// Like [`parse`](Self::parse), but a record that is well-formed yet
    /// cannot anchor anything (a DS digest whose length does not fit its
    /// digest type) is left out and returned beside the anchors, for the
    /// caller to report, instead of failing the whole file: one bad line
    /// of an operator's file must not stop the server.
    pub fn parse_lenient(text: &str) -> Result<(Self, Vec<AnchorError>), AnchorError> {
        let mut anchors = Self::default();
        let mut unusable = Vec::new();
        for entry in split_records(text)? {
            let (zone, record) = parse_record(&entry)?;
            let anchor = anchors.zones.entry(zone).or_default();
            match record {
                AnchorRecord::Ds(ds) => match ds_length_error(&ds, entry.line) {
                    Some(e) => unusable.push(e),
                    None if !anchor.ds.contains(&ds) => anchor.ds.push(ds),
                    None => {}
                },
                AnchorRecord::Key(key) => {
                    if !anchor.keys.contains(&key) {
                        anchor.keys.push(key);
                    }
                }
            }
        }
        anchors.zones.retain(|_, a| !a.is_empty());
        Ok((anchors, unusable))
    }

    /// Adds the anchors of `other` (the anchors of several files).
    pub fn merge(&mut self, other: Self) {
        for (zone, anchor) in other.zones {
            let mine = self.zones.entry(zone).or_default();
            for ds in anchor.ds {
                if !mine.ds.contains(&ds) {
                    mine.ds.push(ds);
                }
            }
            for key in anchor.keys {
                if !mine.keys.contains(&key) {
                    mine.keys.push(key);
                }
            }
        }
    }

    /// Reads a trust anchor file leniently ([`parse_lenient`](Self::parse_lenient));
    /// errors name the path.
    pub fn from_file_lenient(path: &Path) -> Result<(Self, Vec<AnchorError>), AnchorError> {
        let text = read_anchor_file(path)?;
        Self::parse_lenient(&text).map_err(|e| in_file(e, path))
    }

    /// Reads and parses a trust anchor file; an unreadable file is an
    /// error naming the path (line 0), and parse errors name it too.
    pub fn from_file(path: &Path) -> Result<Self, AnchorError> {
        let text = read_anchor_file(path)?;
        Self::parse(&text).map_err(|e| in_file(e, path))
    }

    /// The built-in root anchor: the root KSKs 20326 (KSK-2017) and 38696
    /// (KSK-2024) as DS records, as IANA publishes them (RFC 7958).
    pub fn builtin() -> Self {
        match Self::parse(ROOT_KEY) {
            Ok(anchors) => anchors,
            // The file is part of the source and a unit test parses it.
            Err(e) => panic!("built-in root.key does not parse: {e}"),
        }
    }

    /// The deepest zone with an anchor at or above `name` (RFC 4035 §4.3:
    /// the closest trust anchor is where validation of `name` starts).
    pub fn closest(&self, name: &Name) -> Option<(&Name, &Anchor)> {
        let mut cur = name.to_lowercase();
        cur.set_fqdn(true);
        loop {
            if let Some(found) = self.zones.get_key_value(&cur) {
                return Some(found);
            }
            if cur.is_root() {
                return None;
            }
            cur = cur.base_name();
        }
    }

    /// The anchor configured for exactly `zone`.
    pub fn get(&self, zone: &Name) -> Option<&Anchor> {
        let mut zone = zone.to_lowercase();
        zone.set_fqdn(true);
        self.zones.get(&zone)
    }

    /// No anchors at all (validation cannot make anything secure).
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// The zones that have anchors, in canonical order (the root first).
    pub fn zones(&self) -> impl Iterator<Item = &Name> {
        self.zones.keys()
    }
}

fn read_anchor_file(path: &Path) -> Result<String, AnchorError> {
    std::fs::read_to_string(path).map_err(|e| {
        AnchorError::new(
            0,
            format!("cannot read trust anchor file {}: {e}", path.display()),
        )
    })
}

fn in_file(e: AnchorError, path: &Path) -> AnchorError {
    AnchorError {
        line: e.line,
        message: format!("{} (in {})", e.message, path.display()),
    }
}

/// Why a DS cannot anchor anything: its digest does not have the length
/// its digest type implies (RFC 4034 §5.1.4, RFC 4509, RFC 6605).
fn ds_length_error(ds: &DS, line: usize) -> Option<AnchorError> {
    let expected = match ds.digest_type() {
        DigestType::SHA1 => 20,
        DigestType::SHA256 => 32,
        DigestType::SHA384 => 48,
        _ => return None,
    };
    let len = ds.digest().len();
    (len != expected).then(|| {
        let hex: String = ds.digest().iter().map(|b| format!("{b:02X}")).collect();
        AnchorError::new(
            line,
            format!(
                "DS digest '{hex}' has {len} bytes, digest type {} needs {expected}",
                u8::from(ds.digest_type())
            ),
        )
    })
}

/// One record's tokens with the line each token is on.
struct Entry {
    line: usize,
    tokens: Vec<(usize, String)>,
}

/// Splits the text into records: strips `;` comments, joins lines inside
/// parentheses, drops the parentheses.
fn split_records(text: &str) -> Result<Vec<Entry>, AnchorError> {
    let mut entries = Vec::new();
    let mut depth = 0usize;
    let mut open_line = 0usize;
    let mut current: Option<Entry> = None;

    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split(';').next().unwrap_or("");
        if depth == 0 && content.starts_with([' ', '\t']) && !content.trim().is_empty() {
            return Err(AnchorError::new(
                line,
                format!(
                    "'{}': a record must start with its owner name in the first column",
                    content.trim()
                ),
            ));
        }
        let mut token = String::new();
        for c in content.chars().chain(std::iter::once(' ')) {
            if c == '(' || c == ')' || c.is_whitespace() {
                if !token.is_empty() {
                    current
                        .get_or_insert_with(|| Entry {
                            line,
                            tokens: Vec::new(),
                        })
                        .tokens
                        .push((line, std::mem::take(&mut token)));
                }
                if c == '(' {
                    if depth == 0 {
                        open_line = line;
                    }
                    depth += 1;
                } else if c == ')' {
                    depth = depth.checked_sub(1).ok_or_else(|| {
                        AnchorError::new(line, format!("')' without '(' in '{}'", content.trim()))
                    })?;
                }
            } else {
                token.push(c);
            }
        }
        if depth == 0
            && let Some(entry) = current.take()
        {
            entries.push(entry);
        }
    }
    if depth > 0 {
        return Err(AnchorError::new(
            open_line,
            "'(' is never closed".to_string(),
        ));
    }
    Ok(entries)
}

enum AnchorRecord {
    Ds(DS),
    Key(DNSKEY),
}

/// Parses `owner [TTL] [class] type rdata…` (TTL and class in either
/// order, as in zone files).
fn parse_record(entry: &Entry) -> Result<(Name, AnchorRecord), AnchorError> {
    let mut tokens = entry.tokens.iter();
    let Some((line, owner)) = tokens.next() else {
        return Err(AnchorError::new(entry.line, "empty record"));
    };
    if owner.starts_with('$') {
        return Err(AnchorError::new(
            *line,
            format!("directive '{owner}' is not supported in a trust anchor file"),
        ));
    }
    if !owner.ends_with('.') || owner.ends_with("\\.") {
        return Err(AnchorError::new(
            *line,
            format!("owner '{owner}' is relative; write it absolute, ending with '.'"),
        ));
    }
    let zone = Name::from_ascii(owner)
        .map_err(|e| AnchorError::new(*line, format!("owner '{owner}': {e}")))?
        .to_lowercase();

    let mut seen_ttl = false;
    let mut seen_class = false;
    let (type_line, rtype) = loop {
        let Some((line, token)) = tokens.next() else {
            return Err(AnchorError::new(
                entry.line,
                format!("record for '{owner}' has no type (expected DS or DNSKEY)"),
            ));
        };
        if !seen_ttl && token.starts_with(|c: char| c.is_ascii_digit()) {
            parse_ttl(token)
                .ok_or_else(|| AnchorError::new(*line, format!("'{token}' is not a valid TTL")))?;
            seen_ttl = true;
        } else if !seen_class && is_class(token) {
            if !token.eq_ignore_ascii_case("IN") {
                return Err(AnchorError::new(
                    *line,
                    format!("class '{token}': trust anchors must be class IN"),
                ));
            }
            seen_class = true;
        } else {
            break (*line, token.to_ascii_uppercase());
        }
    };

    let rdata: Vec<&(usize, String)> = tokens.collect();
    let record = match rtype.as_str() {
        "DS" => AnchorRecord::Ds(parse_ds(entry.line, &rdata)?),
        "DNSKEY" => AnchorRecord::Key(parse_dnskey(entry.line, &rdata)?),
        other => {
            return Err(AnchorError::new(
                type_line,
                format!("record type '{other}' is not a trust anchor (expected DS or DNSKEY)"),
            ));
        }
    };
    Ok((zone, record))
}

/// DS RDATA: key tag, algorithm, digest type, digest in hex (may be split
/// by white space), RFC 4034 §5.3.
fn parse_ds(start: usize, rdata: &[&(usize, String)]) -> Result<DS, AnchorError> {
    let [tag, alg, digest_type, digest @ ..] = rdata else {
        return Err(AnchorError::new(
            start,
            "DS needs key tag, algorithm, digest type and digest",
        ));
    };
    let key_tag: u16 = tag
        .1
        .parse()
        .map_err(|_| AnchorError::new(tag.0, format!("DS key tag '{}' is not 0-65535", tag.1)))?;
    let algorithm = parse_algorithm(alg)?;
    let digest_type = DigestType::from(digest_type.1.parse::<u8>().map_err(|_| {
        AnchorError::new(
            digest_type.0,
            format!("DS digest type '{}' is not 0-255", digest_type.1),
        )
    })?);
    if digest.is_empty() {
        return Err(AnchorError::new(start, "DS digest is missing"));
    }
    let hex: String = digest.iter().map(|(_, t)| t.as_str()).collect();
    let bytes = decode_hex(&hex).ok_or_else(|| {
        AnchorError::new(digest[0].0, format!("DS digest '{hex}' is not hexadecimal"))
    })?;
    Ok(DS::new(key_tag, algorithm, digest_type, bytes))
}

/// DNSKEY RDATA: flags, protocol (3), algorithm, public key in base64
/// (may be split by white space), RFC 4034 §2.2.
fn parse_dnskey(start: usize, rdata: &[&(usize, String)]) -> Result<DNSKEY, AnchorError> {
    let [flags, protocol, alg, key @ ..] = rdata else {
        return Err(AnchorError::new(
            start,
            "DNSKEY needs flags, protocol, algorithm and public key",
        ));
    };
    let flags_value: u16 = flags.1.parse().map_err(|_| {
        AnchorError::new(
            flags.0,
            format!("DNSKEY flags '{}' are not 0-65535", flags.1),
        )
    })?;
    if protocol.1 != "3" {
        return Err(AnchorError::new(
            protocol.0,
            format!(
                "DNSKEY protocol '{}' must be 3 (RFC 4034 §2.1.2)",
                protocol.1
            ),
        ));
    }
    let algorithm = parse_algorithm(alg)?;
    if key.is_empty() {
        return Err(AnchorError::new(start, "DNSKEY public key is missing"));
    }
    let text: String = key.iter().map(|(_, t)| t.as_str()).collect();
    let bytes = decode_base64(&text).ok_or_else(|| {
        AnchorError::new(
            key[0].0,
            format!("DNSKEY public key '{text}' is not base64"),
        )
    })?;
    let dnskey = DNSKEY::with_flags(flags_value, PublicKeyBuf::new(bytes, algorithm));
    if !dnskey.zone_key() {
        return Err(AnchorError::new(
            flags.0,
            format!("DNSKEY flags {flags_value} lack the Zone Key bit (256)"),
        ));
    }
    if dnskey.revoke() {
        return Err(AnchorError::new(
            flags.0,
            format!("DNSKEY flags {flags_value} have the REVOKE bit (128): a revoked key"),
        ));
    }
    if crate::dnssec::verify::algorithm_supported(algorithm) && dnskey.key().is_err() {
        return Err(AnchorError::new(
            key[0].0,
            format!("DNSKEY public key is not a valid {algorithm} key"),
        ));
    }
    Ok(dnskey)
}

/// An algorithm number or mnemonic (RFC 4034 Appendix A.1, IANA registry).
fn parse_algorithm(token: &(usize, String)) -> Result<Algorithm, AnchorError> {
    let (line, text) = token;
    if let Ok(number) = text.parse::<u8>() {
        return Ok(Algorithm::from_u8(number));
    }
    let number = match text.to_ascii_uppercase().as_str() {
        "RSAMD5" => 1,
        "DH" => 2,
        "DSA" => 3,
        "RSASHA1" => 5,
        "DSA-NSEC3-SHA1" => 6,
        "RSASHA1-NSEC3-SHA1" => 7,
        "RSASHA256" => 8,
        "RSASHA512" => 10,
        "ECC-GOST" => 12,
        "ECDSAP256SHA256" => 13,
        "ECDSAP384SHA384" => 14,
        "ED25519" => 15,
        "ED448" => 16,
        _ => {
            return Err(AnchorError::new(
                *line,
                format!("'{text}' is not a DNSSEC algorithm number or mnemonic"),
            ));
        }
    };
    Ok(Algorithm::from_u8(number))
}

fn is_class(token: &str) -> bool {
    ["IN", "CH", "CS", "HS", "NONE", "ANY"]
        .iter()
        .any(|c| token.eq_ignore_ascii_case(c))
        || token
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("CLASS"))
}

/// A TTL: seconds, or BIND-style units (`1d2h`, `3600s`, `1w`).
fn parse_ttl(token: &str) -> Option<u32> {
    if let Ok(seconds) = token.parse::<u32>() {
        return Some(seconds);
    }
    let mut total: u32 = 0;
    let mut number: Option<u32> = None;
    for c in token.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() {
        return None;
    }
    Some(total)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    let digits: Vec<u8> = text
        .chars()
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    Some(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

/// Standard base64 (RFC 4648 §4) with `=` padding, as DNSKEY presentation
/// format uses.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let padding = bytes.iter().rev().take_while(|&&c| c == b'=').count();
    if padding > 2 {
        return None;
    }
    let body = &bytes[..bytes.len() - padding];
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in body {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding.
    if acc != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use hickory_proto::dnssec::PublicKey;

    use super::*;
    use crate::dnssec::verify::key_tag;

    /// The root KSKs (KSK-2017 and KSK-2024) as DNSKEY records, as the root
    /// zone serves them; the same public keys as hickory-proto's
    /// `src/dnssec/roots/20326.rsa` and `38696.rsa` and Debian's
    /// dns-root-data `root.key`.
    const ROOT_DNSKEYS: &str = "\
. 172800 IN DNSKEY 257 3 8 (
    AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3
    +/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kv
    ArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF
    0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+e
    oZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfd
    RUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwN
    R1AkUTV74bU= ) ; KSK-2017, key tag 20326
. 172800 IN DNSKEY 257 3 8 (
    AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/c
    idltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHb
    GiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+s
    iFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqp
    dVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ
    1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUe
    ayffKC73PYc= ) ; KSK-2024, key tag 38696
";

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn builtin_holds_the_two_root_ksks_as_ds() {
        let anchors = TrustAnchors::builtin();
        assert!(!anchors.is_empty());
        assert_eq!(anchors.zones().collect::<Vec<_>>(), vec![&Name::root()]);
        let root = anchors.get(&Name::root()).unwrap();
        let mut tags: Vec<u16> = root.ds.iter().map(DS::key_tag).collect();
        tags.sort_unstable();
        assert_eq!(tags, vec![20326, 38696]);
        assert!(root.keys.is_empty());
        for ds in &root.ds {
            assert_eq!(ds.algorithm(), Algorithm::RSASHA256);
            assert_eq!(ds.digest_type(), DigestType::SHA256);
        }
    }

    #[test]
    fn builtin_ds_digests_match_the_root_dnskeys() {
        let builtin = TrustAnchors::builtin();
        let ds = &builtin.get(&Name::root()).unwrap().ds;
        let keys = TrustAnchors::parse(ROOT_DNSKEYS).unwrap();
        let keys = &keys.get(&Name::root()).unwrap().keys;
        assert_eq!(keys.len(), 2);
        for key in keys {
            let tag = key_tag(key).unwrap();
            let ds = ds.iter().find(|d| d.key_tag() == tag).unwrap();
            let digest = key.to_digest(&Name::root(), DigestType::SHA256).unwrap();
            assert_eq!(digest.as_ref(), ds.digest(), "key tag {tag}");
            assert!(ds.covers(&Name::root(), key).unwrap());
            assert_eq!(key.public_key().algorithm(), Algorithm::RSASHA256);
        }
    }

    #[test]
    fn closest_is_the_deepest_anchor_at_or_above_the_name() {
        let builtin = TrustAnchors::builtin();
        let (zone, _) = builtin.closest(&name("www.example.com.")).unwrap();
        assert!(zone.is_root());
        assert!(builtin.closest(&Name::root()).unwrap().0.is_root());

        let text = format!(
            "{}\nExample.COM. IN DS 12345 13 2 {}\n",
            include_str!("root.key"),
            "AB".repeat(32)
        );
        let anchors = TrustAnchors::parse(&text).unwrap();
        let (zone, anchor) = anchors.closest(&name("WWW.example.com.")).unwrap();
        assert_eq!(zone, &name("example.com."));
        assert_eq!(anchor.ds[0].key_tag(), 12345);
        assert!(anchors.closest(&name("example.org.")).unwrap().0.is_root());
        assert!(anchors.closest(&name("com.")).unwrap().0.is_root());

        let only_deep =
            TrustAnchors::parse(&format!("example.com. DS 1 13 2 {}", "00".repeat(32))).unwrap();
        assert!(only_deep.closest(&name("example.org.")).is_none());
        assert!(TrustAnchors::default().closest(&name("a.")).is_none());
    }

    #[test]
    fn parses_ds_and_dnskey_lines_comments_and_parentheses() {
        let text = "\
; a comment line

example.   3600 IN DS 60485 5 1 ( 2BB183AF5F22588179A53B0A
                                  98631FAD1A292118 ) ; split digest
example. IN 1d DNSKEY 257 3 RSASHA256 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/c
example. DNSKEY (257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAe
    F+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==)
example. ds 60485 5 1 2bb183af5f22588179a53b0a98631fad1a292118
";
        let anchors = TrustAnchors::parse(text).unwrap();
        let anchor = anchors.get(&name("EXAMPLE.")).unwrap();
        // The repeated DS (other case) is one record.
        assert_eq!(anchor.ds.len(), 1);
        let ds = &anchor.ds[0];
        assert_eq!(ds.key_tag(), 60485);
        #[allow(deprecated)]
        let rsasha1 = Algorithm::RSASHA1;
        assert_eq!(ds.algorithm(), rsasha1);
        assert_eq!(ds.digest_type(), DigestType::SHA1);
        assert_eq!(ds.digest()[..3], [0x2b, 0xb1, 0x83]);
        assert_eq!(ds.digest().len(), 20);

        assert_eq!(anchor.keys.len(), 2);
        assert_eq!(anchor.keys[0].flags(), 257);
        assert_eq!(
            anchor.keys[0].public_key().algorithm(),
            Algorithm::RSASHA256
        );
        assert_eq!(
            anchor.keys[1].public_key().algorithm(),
            Algorithm::ECDSAP256SHA256
        );
        assert_eq!(anchor.keys[1].public_key().public_bytes().len(), 64);
    }

    #[test]
    fn errors_name_the_line_and_the_text() {
        let digest = "AB".repeat(32);
        let cases: Vec<(String, usize, &str)> = vec![
            (
                format!("; c\n\nexample IN DS 1 8 2 {digest}"),
                3,
                "'example' is relative",
            ),
            (format!("@ IN DS 1 8 2 {digest}"), 1, "'@' is relative"),
            ("$ORIGIN example.".to_string(), 1, "'$ORIGIN'"),
            (
                ". IN A 192.0.2.1".to_string(),
                1,
                "'A' is not a trust anchor",
            ),
            (". CH DS 1 8 2 00".to_string(), 1, "class 'CH'"),
            (
                format!(". IN DS 1 8 2 {digest}\n. IN DS 1 8 2 XYZ"),
                2,
                "'XYZ' is not hexadecimal",
            ),
            (
                ". IN DS 1 8 2 ABCD".to_string(),
                1,
                "has 2 bytes, digest type 2 needs 32",
            ),
            (". IN DS 70000 8 2 00".to_string(), 1, "key tag '70000'"),
            (". IN DS 1 8".to_string(), 1, "DS needs"),
            (
                ". IN DS 1 FOO 2 00".to_string(),
                1,
                "'FOO' is not a DNSSEC algorithm",
            ),
            (
                ". IN DNSKEY 257 2 8 AwEAAQ==".to_string(),
                1,
                "protocol '2'",
            ),
            (
                ". IN DNSKEY 257 3 8 !!!!".to_string(),
                1,
                "'!!!!' is not base64",
            ),
            (
                ". IN DNSKEY 256 3 15 (\n AAAA".to_string(),
                1,
                "'(' is never closed",
            ),
            (
                ". IN DNSKEY 1 3 15 AAAA".to_string(),
                1,
                "lack the Zone Key bit",
            ),
            (". IN DNSKEY 385 3 15 AAAA".to_string(), 1, "REVOKE"),
            (
                ". IN DNSKEY 257 3 15 AAAA".to_string(),
                1,
                "not a valid ED25519 key",
            ),
            (". IN DS 1 8 2 00 )".to_string(), 1, "')' without '('"),
            (".\n  IN DS 1 8 2 00".to_string(), 2, "first column"),
            (
                ". 1x IN DS 1 8 2 00".to_string(),
                1,
                "'1x' is not a valid TTL",
            ),
            (".".to_string(), 1, "no type"),
        ];
        for (text, line, needle) in cases {
            let err = TrustAnchors::parse(&text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(needle), "{text:?}: {err}");
            assert!(err.to_string().starts_with(&format!("line {line}: ")));
        }
    }

    #[test]
    fn from_file_reads_and_names_the_path_on_errors() {
        let dir = std::env::temp_dir().join(format!("rootward-anchor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("root.key");
        std::fs::write(&good, include_str!("root.key")).unwrap();
        assert_eq!(
            TrustAnchors::from_file(&good).unwrap(),
            TrustAnchors::builtin()
        );

        let bad = dir.join("bad.key");
        std::fs::write(&bad, "\n. IN TXT hello\n").unwrap();
        let err = TrustAnchors::from_file(&bad).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("bad.key"), "{err}");

        let missing = dir.join("missing.key");
        let err = TrustAnchors::from_file(&missing).unwrap_err();
        assert!(err.message.contains("missing.key"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ttl_and_base64_helpers() {
        assert_eq!(parse_ttl("3600"), Some(3600));
        assert_eq!(parse_ttl("1d2h"), Some(93_600));
        assert_eq!(parse_ttl("1w"), Some(604_800));
        assert_eq!(parse_ttl("12"), Some(12));
        assert_eq!(parse_ttl("1h30"), None);
        assert_eq!(parse_ttl("99999999999"), None);
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8h"), Some(b"hello!".to_vec()));
        assert_eq!(decode_base64("aGVsbA=="), Some(b"hell".to_vec()));
        assert_eq!(decode_base64("aGVsbG9="), None); // non-zero pad bits
        assert_eq!(decode_base64("aGVsbG8"), None);
        assert_eq!(decode_hex("0aFF"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("0aF"), None);
    }
}
