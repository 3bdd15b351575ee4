//! Signatures ring will not check: DSA (algorithms 3 and 6, RFC 2536) and
//! RSA keys shorter than ring's 1,024-bit floor (RFC 3110 allows 512).
//!
//! Why validate them at all: a zone signed only with an algorithm we do not
//! implement is *insecure* (RFC 4035 §5.2, RFC 6840 §5.2), so anyone on
//! the path could forge its data with no effort. Checking the signature
//! still makes a forger break DSA-1024 or factor the RSA modulus, and a
//! stripped or mangled signature is caught as bogus. Knot Resolver, Unbound
//! and BIND validate both for the same reason (RFC 8624 only asks signers
//! to stop using them). The work is done by RustCrypto's `dsa` and `rsa`
//! crates; only the wire layouts of the keys and signatures are read here.
//!
//! Public-key use only: `rsa`'s advisory on timing of private-key
//! operations (RUSTSEC-2023-0071) does not reach verification.

use dsa::signature::DigestVerifier;
use hickory_proto::dnssec::Algorithm;
use sha1::{Digest, Sha1};

/// RSA moduli checked here, in bits: RFC 3110 §2 allows 512 and up; from
/// ring's floor of 1,024 on, ring has already judged the signature, and a
/// second check of one it refused would only double the work of a bogus
/// answer.
const RSA_BITS: std::ops::Range<usize> = 512..1024;

/// Whether `sig` over `data` verifies with the public key `key` (DNSKEY
/// public-key field) of algorithm `alg`. `false` for anything malformed.
pub fn verify(alg: Algorithm, key: &[u8], data: &[u8], sig: &[u8]) -> bool {
    match u8::from(alg) {
        3 | 6 => verify_dsa(key, data, sig),
        5 | 7 => verify_rsa::<Sha1>(key, data, sig),
        8 => verify_rsa::<sha2::Sha256>(key, data, sig),
        10 => verify_rsa::<sha2::Sha512>(key, data, sig),
        _ => false,
    }
}

/// RFC 2536 §2: T, Q (20 octets), P, G, Y (64 + 8T octets each); the
/// signature is T, R (20), S (20) over a SHA-1 digest (§3).
fn verify_dsa(key: &[u8], data: &[u8], sig: &[u8]) -> bool {
    let Some((&t, rest)) = key.split_first() else {
        return false;
    };
    if t > 8 {
        return false;
    }
    let len = 64 + 8 * usize::from(t);
    if rest.len() != 20 + 3 * len || sig.len() != 41 {
        return false;
    }
    let int = dsa::BigUint::from_bytes_be;
    let (q, rest) = rest.split_at(20);
    let (p, rest) = rest.split_at(len);
    let (g, y) = rest.split_at(len);
    let Ok(components) = dsa::Components::from_components(int(p), int(q), int(g)) else {
        return false;
    };
    let Ok(verifying) = dsa::VerifyingKey::from_components(components, int(y)) else {
        return false;
    };
    let Ok(signature) = dsa::Signature::from_components(int(&sig[1..21]), int(&sig[21..41])) else {
        return false;
    };
    verifying
        .verify_digest(Sha1::new_with_prefix(data), &signature)
        .is_ok()
}

/// RFC 3110 §2: exponent length (one octet, or zero and two octets),
/// exponent, modulus; PKCS #1 v1.5 signatures.
fn verify_rsa<D>(key: &[u8], data: &[u8], sig: &[u8]) -> bool
where
    D: Digest + rsa::pkcs8::AssociatedOid,
{
    let (exp_len, rest) = match key {
        [0, hi, lo, rest @ ..] => (usize::from(*hi) << 8 | usize::from(*lo), rest),
        [len, rest @ ..] => (usize::from(*len), rest),
        [] => return false,
    };
    if exp_len == 0 || rest.len() <= exp_len {
        return false;
    }
    let (e, n) = rest.split_at(exp_len);
    let n = rsa::BigUint::from_bytes_be(n);
    if !RSA_BITS.contains(&n.bits()) {
        return false;
    }
    let Ok(public) = rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(e)) else {
        return false;
    };
    let digest = D::digest(data);
    public
        .verify(rsa::Pkcs1v15Sign::new::<D>(), &digest, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn malformed_keys_and_signatures_are_refused_not_a_panic() {
        for key in [&[][..], &[0][..], &[0, 0][..], &[3, 1, 0][..], &[9; 30][..]] {
            assert!(!verify(Algorithm::RSASHA256, key, b"x", &[1, 2, 3]));
            #[allow(deprecated)]
            let dsa = Algorithm::DSA;
            assert!(!verify(dsa, key, b"x", &[0; 41]));
        }
    }
}
