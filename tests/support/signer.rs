//! DNSSEC signing of test zones with the ldns tools (Debian `ldnsutils`).
//!
//! [`sign`] takes a zone's records as master-file text (names relative to the
//! apex allowed), generates fresh keys with `ldns-keygen` in a private temp
//! directory, signs with `ldns-signzone` (NSEC or NSEC3), computes the DS
//! records for the parent with `ldns-key2ds`, and then, if asked, breaks the
//! result on purpose: corrupts the signature bytes of chosen RRSIGs, removes
//! chosen RRSIGs, publishes a DS for a key that is not in the zone, signs
//! with validity dates in the past, or builds a KeyTrap-style key set (many
//! DNSKEYs sharing one key tag, every RRset signed by all of them). A zone
//! signed without any breakage is checked with `ldns-verify-zone` (every
//! signature, the NSEC/NSEC3 chain) before it is returned. The temp
//! directory (with the private keys) is removed before [`sign`] returns.
//!
//! Everything here is test code: a missing tool or a failing step panics with
//! the tool's output.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::nsd::{find_binary, unique_dir};

const NOT_INSTALLED: &str = "ldns-keygen / ldns-signzone / ldns-key2ds are not installed: run \
     `apt-get install -y ldnsutils` (the DNSSEC e2e suite never skips)";

/// TTL of the DS records handed to the parent.
pub const DS_TTL: u32 = 86400;

/// Signing algorithm of a zone's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// 8, RSA/SHA-256 (2048-bit keys), as the real root uses.
    RsaSha256,
    /// 13, ECDSA P-256 with SHA-256.
    EcdsaP256Sha256,
    /// 15, Ed25519.
    Ed25519,
}

impl Algorithm {
    /// The IANA algorithm number.
    pub fn number(self) -> u8 {
        match self {
            Algorithm::RsaSha256 => 8,
            Algorithm::EcdsaP256Sha256 => 13,
            Algorithm::Ed25519 => 15,
        }
    }

    fn keygen_args(self) -> &'static [&'static str] {
        match self {
            Algorithm::RsaSha256 => &["-a", "RSASHA256", "-b", "2048"],
            Algorithm::EcdsaP256Sha256 => &["-a", "ECDSAP256SHA256"],
            Algorithm::Ed25519 => &["-a", "ED25519"],
        }
    }
}

/// How the zone proves non-existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    Nsec,
    /// NSEC3 with SHA-1, no salt (RFC 9276), `iterations` extra iterations,
    /// and the opt-out flag on every NSEC3 if `opt_out`. Note: ldns-signzone
    /// 1.8 still emits an NSEC3 for unsigned delegations with `-p`; it only
    /// sets the flag.
    Nsec3 {
        iterations: u16,
        opt_out: bool,
    },
}

/// Which RRSIGs a breakage applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// The RRSIG(s) covering one RRset: absolute owner name (any case, with
    /// or without the trailing dot) and covered type mnemonic (`"A"`).
    Rrset(String, String),
    /// Every RRSIG except those covering the apex DNSKEY RRset.
    AllButDnskey,
    /// Every RRSIG.
    All,
}

impl Select {
    /// Shorthand for [`Select::Rrset`].
    pub fn rrset(owner: &str, covered: &str) -> Select {
        Select::Rrset(fqdn(owner), covered.to_ascii_uppercase())
    }

    fn matches(&self, owner: &str, covered: &str) -> bool {
        match self {
            Select::Rrset(o, t) => {
                fqdn(owner).eq_ignore_ascii_case(o) && covered.eq_ignore_ascii_case(t)
            }
            Select::AllButDnskey => !covered.eq_ignore_ascii_case("DNSKEY"),
            Select::All => true,
        }
    }
}

/// What to build and how to break it.
#[derive(Debug, Clone)]
pub struct Options {
    pub algorithm: Algorithm,
    pub denial: Denial,
    /// Sign with inception 30 days ago and expiration 1 day ago (otherwise:
    /// inception 1 hour ago, expiration in 30 days).
    pub expired: bool,
    /// RRSIGs whose signature bytes are altered (one base64 character in the
    /// middle of the signature is changed: the record still parses).
    pub corrupt: Vec<Select>,
    /// RRSIGs removed from the signed zone.
    pub strip: Vec<Select>,
    /// The DS records returned for the parent are made from a KSK that is
    /// generated for the purpose and NOT published in the zone.
    pub ds_from_unpublished_key: bool,
    /// KeyTrap: if > 0, instead of one KSK and one ZSK the zone gets one KSK
    /// and `colliding_keys - 1` ZSKs that all share the KSK's key tag (found
    /// by setting DNSKEY flag bits that validators must ignore, RFC 4034
    /// §2.1.1), and the DNSKEY RRset is signed by all of them (`-A`), every
    /// other RRset by all ZSKs. Combine with `corrupt: AllButDnskey` so that
    /// no signature over data verifies.
    pub colliding_keys: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            algorithm: Algorithm::EcdsaP256Sha256,
            denial: Denial::Nsec,
            expired: false,
            corrupt: Vec::new(),
            strip: Vec::new(),
            ds_from_unpublished_key: false,
            colliding_keys: 0,
        }
    }
}

/// A signed zone.
#[derive(Debug, Clone)]
pub struct SignedZone {
    /// The apex, absolute, lowercase.
    pub apex: String,
    /// The signed zone: one RR per line, absolute names (as ldns prints it),
    /// after the requested breakage.
    pub text: String,
    /// DS records for the parent zone, as full lines
    /// (`owner TTL IN DS tag alg 2 digest`).
    pub ds: Vec<String>,
    /// The KSK DNSKEY record(s) published in the zone, as full lines
    /// (`owner TTL IN DNSKEY 257 3 alg key`); for a DNSKEY trust anchor.
    pub ksk_dnskeys: Vec<String>,
    /// Key tags of every DNSKEY published in the zone.
    pub key_tags: Vec<u16>,
    /// How many RRSIGs were corrupted and how many were removed.
    pub corrupted: usize,
    pub stripped: usize,
}

impl SignedZone {
    /// The DS lines, newline-terminated, ready to paste into the parent.
    pub fn ds_text(&self) -> String {
        self.ds.iter().map(|l| format!("{l}\n")).collect()
    }

    /// A trust-anchor file in DS form (like Unbound's root.key).
    pub fn trust_anchor_ds(&self) -> String {
        format!("; trust anchor for {} (DS)\n{}", self.apex, self.ds_text())
    }

    /// A trust-anchor file in DNSKEY form.
    pub fn trust_anchor_dnskey(&self) -> String {
        let mut s = format!("; trust anchor for {} (DNSKEY)\n", self.apex);
        for l in &self.ksk_dnskeys {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// Removes the signer's temp dir (private keys included) when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One generated key: base name (without `.key` / `.private`) in the temp dir.
struct Key {
    base: String,
    flags: u16,
    tag: u16,
    /// The DNSKEY RR line (comment stripped), as in the `.key` file.
    dnskey: String,
}

/// Signs `zone_text` as zone `apex`; see the module docs and [`Options`].
pub fn sign(apex: &str, zone_text: &str, opts: &Options) -> SignedZone {
    let keygen = find_binary("ldns-keygen").unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
    let signzone = find_binary("ldns-signzone").unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
    let key2ds = find_binary("ldns-key2ds").unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
    let apex = fqdn(apex).to_ascii_lowercase();
    let dir = TempDir(unique_dir("rootward-signer"));

    // Keys.
    let ksk = gen_key(&keygen, &dir.0, &apex, opts.algorithm, true, "ksk");
    let mut keys = vec![ksk];
    if opts.colliding_keys > 0 {
        keys.extend(colliding_zsks(
            &keygen,
            &dir.0,
            &apex,
            opts.algorithm,
            keys[0].tag,
            opts.colliding_keys - 1,
        ));
    } else {
        keys.push(gen_key(
            &keygen,
            &dir.0,
            &apex,
            opts.algorithm,
            false,
            "zsk",
        ));
    }

    // Sign.
    let unsigned = dir.0.join("zone");
    fs::write(&unsigned, format!("$ORIGIN {apex}\n{zone_text}\n")).expect("write unsigned zone");
    let signed_path = dir.0.join("zone.signed");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let (inception, expiration) = if opts.expired {
        (now - 30 * 86400, now - 86400)
    } else {
        (now - 3600, now + 30 * 86400)
    };
    let mut cmd = Command::new(&signzone);
    cmd.current_dir(&dir.0)
        .arg("-o")
        .arg(&apex)
        .arg("-i")
        .arg(inception.to_string())
        .arg("-e")
        .arg(expiration.to_string())
        .arg("-f")
        .arg(&signed_path);
    if opts.colliding_keys > 0 {
        cmd.arg("-A");
    }
    if let Denial::Nsec3 {
        iterations,
        opt_out,
    } = opts.denial
    {
        cmd.arg("-n")
            .arg("-a")
            .arg("1")
            .arg("-t")
            .arg(iterations.to_string());
        if opt_out {
            cmd.arg("-p");
        }
    }
    cmd.arg(&unsigned);
    for k in &keys {
        cmd.arg(&k.base);
    }
    run(&mut cmd, "ldns-signzone");
    let signed = fs::read_to_string(&signed_path).expect("read signed zone");

    // DS for the parent.
    let ds_key = if opts.ds_from_unpublished_key {
        gen_key(&keygen, &dir.0, &apex, opts.algorithm, true, "unpublished")
    } else {
        Key {
            base: keys[0].base.clone(),
            flags: keys[0].flags,
            tag: keys[0].tag,
            dnskey: keys[0].dnskey.clone(),
        }
    };
    let out = run(
        Command::new(&key2ds)
            .current_dir(&dir.0)
            .arg("-n")
            .arg("-2")
            .arg(format!("{}.key", ds_key.base)),
        "ldns-key2ds",
    );
    let ds: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let i = t.iter().position(|x| x.eq_ignore_ascii_case("DS"))?;
            Some(format!("{} {DS_TTL} IN DS {}", t[0], t[i + 1..].join(" ")))
        })
        .collect();
    assert!(
        !ds.is_empty(),
        "ldns-key2ds printed no DS for {apex}: {out}"
    );
    assert!(
        ds.iter()
            .all(|l| l.contains(&format!(" DS {} ", ds_key.tag))),
        "DS key tag is not the computed tag {} of {}: {ds:?}",
        ds_key.tag,
        ds_key.base
    );

    // Breakage.
    let mut corrupted = 0;
    let mut stripped = 0;
    let mut text = String::with_capacity(signed.len());
    for line in signed.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let is_rrsig = t.len() > 12 && t[3].eq_ignore_ascii_case("RRSIG");
        if is_rrsig && opts.strip.iter().any(|s| s.matches(t[0], t[4])) {
            stripped += 1;
            continue;
        }
        if is_rrsig && opts.corrupt.iter().any(|s| s.matches(t[0], t[4])) {
            corrupted += 1;
            let sig = corrupt_base64(&t[12..].concat());
            let _ = writeln!(text, "{}\t{sig}", t[..12].join("\t"));
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    for (what, sel, n) in [
        ("corrupt", &opts.corrupt, corrupted),
        ("strip", &opts.strip, stripped),
    ] {
        assert!(
            sel.is_empty() || n > 0,
            "{what} {sel:?} matched no RRSIG in {apex}:\n{signed}"
        );
    }

    // An unbroken zone must verify (ldns-verify-zone checks every signature
    // and the NSEC/NSEC3 chain).
    let unbroken = !opts.expired
        && opts.corrupt.is_empty()
        && opts.strip.is_empty()
        && opts.colliding_keys == 0;
    if unbroken {
        let verify = find_binary("ldns-verify-zone").unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
        let checked = dir.0.join("zone.checked");
        fs::write(&checked, &text).expect("write signed zone for checking");
        let anchor = dir.0.join("anchor.key");
        fs::write(&anchor, format!("{}\n", keys[0].dnskey)).expect("write zone anchor");
        run(
            Command::new(&verify)
                .current_dir(&dir.0)
                .arg("-k")
                .arg(&anchor)
                .arg(&checked),
            "ldns-verify-zone",
        );
    }

    let ksk_dnskeys = vec![keys[0].dnskey.clone()];
    let mut key_tags: Vec<u16> = keys.iter().map(|k| k.tag).collect();
    key_tags.sort_unstable();
    SignedZone {
        apex,
        text,
        ds,
        ksk_dnskeys,
        key_tags,
        corrupted,
        stripped,
    }
}

/// `ldns-keygen` one key into `dir`, renamed to `K<label>`; returns it with
/// its tag computed from the DNSKEY (and checked against ldns's file name).
fn gen_key(keygen: &Path, dir: &Path, apex: &str, alg: Algorithm, ksk: bool, label: &str) -> Key {
    let mut cmd = Command::new(keygen);
    cmd.current_dir(dir).args(alg.keygen_args());
    if ksk {
        cmd.arg("-k");
    }
    cmd.arg(apex);
    let out = run(&mut cmd, "ldns-keygen");
    let base = out.trim().to_string();
    assert!(
        base.starts_with('K') && !base.contains('/'),
        "unexpected ldns-keygen output {out:?}"
    );
    // K<name>+<alg>+<tag>
    let ldns_tag: u16 = base
        .rsplit('+')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no key tag in ldns-keygen output {base:?}"));
    let new_base = format!("K{label}");
    for ext in ["key", "private"] {
        fs::rename(
            dir.join(format!("{base}.{ext}")),
            dir.join(format!("{new_base}.{ext}")),
        )
        .unwrap_or_else(|e| panic!("rename {base}.{ext}: {e}"));
    }
    let _ = fs::remove_file(dir.join(format!("{base}.ds")));
    let key = read_key(dir, &new_base);
    assert_eq!(
        key.tag, ldns_tag,
        "computed key tag differs from ldns's for {}",
        key.dnskey
    );
    key
}

/// Reads `<base>.key` and computes its key tag.
fn read_key(dir: &Path, base: &str) -> Key {
    let path = dir.join(format!("{base}.key"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let line = text
        .lines()
        .map(|l| l.split(';').next().unwrap_or("").trim())
        .find(|l| {
            l.split_whitespace()
                .any(|t| t.eq_ignore_ascii_case("DNSKEY"))
        })
        .unwrap_or_else(|| panic!("no DNSKEY in {}: {text}", path.display()))
        .to_string();
    let (flags, proto, alg, key) = parse_dnskey(&line);
    Key {
        base: base.to_string(),
        flags,
        tag: key_tag(flags, proto, alg, &key),
        dnskey: normalise_dnskey(&line),
    }
}

/// `owner [ttl] [class] DNSKEY flags proto alg key...` → the fields.
fn parse_dnskey(line: &str) -> (u16, u8, u8, Vec<u8>) {
    let t: Vec<&str> = line.split_whitespace().collect();
    let i = t
        .iter()
        .position(|x| x.eq_ignore_ascii_case("DNSKEY"))
        .expect("DNSKEY token");
    assert!(t.len() > i + 4, "short DNSKEY line {line:?}");
    let flags = t[i + 1].parse().expect("DNSKEY flags");
    let proto = t[i + 2].parse().expect("DNSKEY protocol");
    let alg = t[i + 3].parse().expect("DNSKEY algorithm");
    let key = base64_decode(&t[i + 4..].concat());
    (flags, proto, alg, key)
}

/// `owner TTL IN DNSKEY rdata` with TTL 3600 whatever the file had.
fn normalise_dnskey(line: &str) -> String {
    let t: Vec<&str> = line.split_whitespace().collect();
    let i = t
        .iter()
        .position(|x| x.eq_ignore_ascii_case("DNSKEY"))
        .expect("DNSKEY token");
    format!("{} 3600 IN DNSKEY {}", t[0], t[i + 1..].join(" "))
}

/// Generates `n` ZSKs whose key tag is `target`: each freshly generated key
/// gets the first DNSKEY flags value (ZONE set, SEP and REVOKE clear, other
/// bits free) that makes its tag `target`; keys for which no such value
/// exists (about 7 in 8) are thrown away. Bounded: at most 64 tries per key.
fn colliding_zsks(
    keygen: &Path,
    dir: &Path,
    apex: &str,
    alg: Algorithm,
    target: u16,
    n: usize,
) -> Vec<Key> {
    let mut out = Vec::with_capacity(n);
    let max_tries = 64 * n.max(1);
    for attempt in 0..max_tries {
        if out.len() == n {
            break;
        }
        let label = format!("try{attempt}");
        let k = gen_key(keygen, dir, apex, alg, false, &label);
        let line = k.dnskey.clone();
        let (_, proto, a, key) = parse_dnskey(&line);
        let flags = (0..=u16::MAX)
            .filter(|f| f & 0x0181 == 0x0100)
            .find(|&f| key_tag(f, proto, a, &key) == target);
        match flags {
            Some(f) => {
                let path = dir.join(format!("{}.key", k.base));
                let t: Vec<&str> = line.split_whitespace().collect();
                let i = t.iter().position(|x| *x == "DNSKEY").expect("DNSKEY");
                let rewritten = format!("{} 3600 IN DNSKEY {f} {}\n", t[0], t[i + 2..].join(" "));
                fs::write(&path, rewritten).expect("rewrite key file");
                let k = read_key(dir, &k.base);
                assert_eq!(k.tag, target, "flag adjustment did not give the tag");
                assert_eq!(k.flags, f);
                out.push(k);
            }
            None => {
                for ext in ["key", "private"] {
                    let _ = fs::remove_file(dir.join(format!("{}.{ext}", k.base)));
                }
            }
        }
    }
    assert_eq!(
        out.len(),
        n,
        "could not make {n} keys with key tag {target} in {max_tries} tries"
    );
    out
}

/// RFC 4034 Appendix B key tag (for every algorithm but RSA/MD5).
pub fn key_tag(flags: u16, protocol: u8, algorithm: u8, public_key: &[u8]) -> u16 {
    let mut rdata = Vec::with_capacity(4 + public_key.len());
    rdata.extend_from_slice(&flags.to_be_bytes());
    rdata.push(protocol);
    rdata.push(algorithm);
    rdata.extend_from_slice(public_key);
    let mut ac: u32 = 0;
    for (i, b) in rdata.iter().enumerate() {
        ac += if i & 1 == 1 {
            u32::from(*b)
        } else {
            u32::from(*b) << 8
        };
    }
    ac += (ac >> 16) & 0xFFFF;
    (ac & 0xFFFF) as u16
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes standard base64 (padding optional, whitespace not allowed).
pub fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = B64
            .iter()
            .position(|&x| x == c)
            .unwrap_or_else(|| panic!("bad base64 character {:?} in {s:?}", c as char))
            as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Changes one base64 character in the middle of `sig` (never the padding),
/// so that the signature keeps its length and still parses, but is wrong.
fn corrupt_base64(sig: &str) -> String {
    let body = sig.trim_end_matches('=');
    assert!(body.len() >= 8, "signature too short to corrupt: {sig:?}");
    let mid = body.len() / 2;
    let mut bytes = sig.as_bytes().to_vec();
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("base64 is ASCII")
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            panic!("{NOT_INSTALLED}");
        }
        panic!("cannot run {what}: {e}")
    });
    assert!(
        out.status.success(),
        "{what} failed ({}): {:?}\n{}{}",
        out.status,
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}
