//! Opaque credentials: 256 random bits, base64url, with a kind prefix; stored as SHA-256.
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
}
