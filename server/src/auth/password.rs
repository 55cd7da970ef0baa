//! Passwords: argon2id (the `argon2` crate's defaults, OWASP's recommended m = 19 MiB, t = 2,
//! p = 1), a minimum policy, and readable generated passwords.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (bounds hashing work per request).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Why a password cannot be used or checked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// Longer than [`MAX_PASSWORD_BYTES`].
    #[error("the password must have at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The same as the user name.
    #[error("the password must not be the user name")]
    SameAsUsername,
    /// Hashing failed (a bug or no randomness).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Checks the policy for a new password of `username`.
///
/// # Errors
///
/// Which rule it breaks.
pub fn validate_password(username: &str, password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(PasswordError::SameAsUsername);
    }
    Ok(())
}

/// The PHC string of a fresh argon2id hash. CPU-heavy: call it off the async workers.
///
/// # Errors
///
/// When randomness or hashing fails.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches the stored PHC string; an unreadable hash never matches.
/// CPU-heavy: call it off the async workers.
#[must_use]
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A random password people can type: four groups of four from an alphabet without look-alikes
/// (≈ 80 bits).
///
/// # Errors
///
/// When the operating system's random source fails.
pub fn generate_password() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(19);
    let mut i = 0;
    while i < 16 {
        let mut b = [0u8; 1];
        getrandom::fill(&mut b)?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(b[0]) >= limit {
            continue;
        }
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[usize::from(b[0]) % ALPHABET.len()]));
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(
            h,
            hash_password("correct horse battery").expect("hash"),
            "salted"
        );
    }

    #[test]
    fn policy() {
        assert_eq!(
            validate_password("a", "short"),
            Err(PasswordError::TooShort)
        );
        assert_eq!(
            validate_password("ab", "123456789"),
            Err(PasswordError::TooShort)
        );
        assert_eq!(
            validate_password("dispatcher", "DISPATCHER"),
            Err(PasswordError::SameAsUsername)
        );
        assert_eq!(
            validate_password("a", &"x".repeat(300)),
            Err(PasswordError::TooLong)
        );
        assert!(
            validate_password("a", "网格员巡查密码一二三").is_ok(),
            "ten characters"
        );
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        let p = generate_password().expect("random");
        assert_eq!(p.len(), 19);
        assert!(validate_password("admin", &p).is_ok());
        assert_ne!(p, generate_password().expect("random"));
    }
}
