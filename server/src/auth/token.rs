//! Opaque credentials: 256 random bits, base64url, with a kind prefix; stored as SHA-256.
//! Beside its token each device gets an OsmAnd identifier ([`new_ident`]): 128 random bits in
//! lowercase base32, short enough to type into the Traccar Client app, also stored as SHA-256.
//!
//! A fast hash is right here (unlike passwords): the token has full entropy, so there is
//! nothing to brute-force, and every request looks it up.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A user's session (cookie or bearer).
    Session,
    /// A phone's device token: positions of one resource only.
    Device,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Session => "gws_",
            Self::Device => "gwd_",
        }
    }

    /// The kind a presented token claims by its prefix.
    #[must_use]
    pub fn of(token: &str) -> Option<Self> {
        [Self::Session, Self::Device]
            .into_iter()
            .find(|k| token.starts_with(k.prefix()))
    }
}

/// A fresh random token of `kind`.
///
/// # Errors
///
/// When the operating system's random source fails.
pub fn new_token(kind: TokenKind) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "{}{}",
        kind.prefix(),
        URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// What is stored and looked up for a token.
#[must_use]
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Bytes of randomness in a device identifier (128 bits).
const IDENT_BYTES: usize = 16;

/// The RFC 4648 base32 alphabet, lowercase: no 0/1/8/9, so nothing to confuse with o/l/b/g
/// when typed from a screen into a phone.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A fresh OsmAnd device identifier: 128 random bits as 26 lowercase base32 characters.
///
/// The Traccar Client app sends nothing secret but this identifier, so it is the credential
/// on that protocol; it is shown once, when issued, and stored only as [`hash_ident`].
///
/// # Errors
///
/// When the operating system's random source fails.
pub fn new_ident() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; IDENT_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(base32(&bytes))
}

/// What is stored and looked up for a device identifier. People type it, so it is trimmed
/// and lowercased first: `ABCD…` and ` abcd… ` find the same device.
#[must_use]
pub fn hash_ident(ident: &str) -> Vec<u8> {
    Sha256::digest(ident.trim().to_ascii_lowercase().as_bytes()).to_vec()
}

/// Lowercase base32 without padding (5 bits a character, the last one zero-filled).
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u16, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[usize::from((acc >> bits) & 31)]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32[usize::from((acc << (5 - bits)) & 31)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_stably() {
        let a = new_token(TokenKind::Session).expect("random");
        let b = new_token(TokenKind::Session).expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with("gws_") && a.len() == 4 + 43, "{a}");
        assert_eq!(TokenKind::of(&a), Some(TokenKind::Session));
        let d = new_token(TokenKind::Device).expect("random");
        assert_eq!(TokenKind::of(&d), Some(TokenKind::Device));
        assert_eq!(TokenKind::of("Bearer x"), None);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a).len(), 32);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        // RFC 4648 §10 test vectors, lowercased and unpadded.
        for (input, want) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32(input.as_bytes()), want, "{input:?}");
        }
        assert_eq!(base32(&[0xff; 16]), "7".repeat(25) + "4");
    }

    #[test]
    fn idents_are_random_typeable_and_hash_case_insensitively() {
        let a = new_ident().expect("random");
        let b = new_ident().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 26, "{a}");
        assert!(a.bytes().all(|c| BASE32.contains(&c)), "{a}");
        assert_eq!(
            hash_ident(&a),
            hash_ident(&format!(" {} ", a.to_uppercase()))
        );
        assert_ne!(hash_ident(&a), hash_ident(&b));
        assert_eq!(hash_ident(&a).len(), 32);
    }
}
