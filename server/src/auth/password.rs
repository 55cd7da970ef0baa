//! Passwords: argon2id (the `argon2` crate's defaults, OWASP's recommended m = 19 MiB, t = 2,
//! p = 1), a policy (a length, and a strength estimate by zxcvbn: dictionaries, names, dates,
//! sequences, repeats and keyboard walks, offline), and readable generated passwords.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (bounds hashing work per request).
pub const MAX_PASSWORD_BYTES: usize = 256;
/// The lowest zxcvbn score (0–4) accepted: 3 is "safely unguessable" (about 10^10 guesses),
/// out of reach of online guessing through the login throttle and costly offline against
/// argon2id.
pub const MIN_PASSWORD_SCORE: u8 = 3;

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
    /// Too easy to guess: zxcvbn's score is below [`MIN_PASSWORD_SCORE`].
    #[error("the password is too easy to guess{}", weak_reason(.warning.as_deref(), .suggestions))]
    Weak {
        /// zxcvbn's score, 0–4.
        score: u8,
        /// zxcvbn's warning: what makes it guessable, when it says.
        warning: Option<String>,
        /// zxcvbn's suggestions.
        suggestions: Vec<String>,
    },
    /// Hashing failed (a bug or no randomness).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn weak_reason(warning: Option<&str>, suggestions: &[String]) -> String {
    let mut out = String::new();
    if let Some(w) = warning {
        out.push_str(": ");
        out.push_str(w.trim_end_matches('.'));
    }
    for s in suggestions {
        out.push_str(if out.is_empty() { ": " } else { "; " });
        out.push_str(s.trim_end_matches('.'));
    }
    out
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
    let estimate = zxcvbn::zxcvbn(password, &[username, "gridwall"]);
    let score = u8::from(estimate.score());
    if score < MIN_PASSWORD_SCORE {
        let feedback = estimate.feedback();
        return Err(PasswordError::Weak {
            score,
            warning: feedback
                .and_then(zxcvbn::feedback::Feedback::warning)
                .map(|w| w.to_string()),
            suggestions: feedback
                .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        });
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
    fn guessable_passwords_are_refused_with_the_reason() {
        for weak in [
            "1234567890",
            "password123",
            "qwertyuiop",
            "aaaaaaaaaaaa",
            "dispatcher2026",
        ] {
            let e = validate_password("dispatcher", weak).expect_err(weak);
            assert!(
                matches!(&e, PasswordError::Weak { score, warning, suggestions }
                    if *score < MIN_PASSWORD_SCORE && (warning.is_some() || !suggestions.is_empty())),
                "{weak}: {e:?}"
            );
        }
        let e = validate_password("x", "1234567890").expect_err("weak");
        assert!(
            e.to_string()
                .starts_with("the password is too easy to guess: "),
            "{e}"
        );
        assert!(validate_password("dispatcher", "网格化管理-2026-secret").is_ok());
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        let p = generate_password().expect("random");
        assert_eq!(p.len(), 19);
        assert!(validate_password("admin", &p).is_ok());
        assert_ne!(p, generate_password().expect("random"));
    }
}
