//! Operators' credentials and sessions: argon2id password hashes, random session ids
//! kept only as SHA-256, per-session CSRF tokens, and the cookies that carry them.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use sha2::{Digest, Sha256};

/// The session cookie.
pub const SESSION_COOKIE: &str = "radcare_console";
/// The login form's CSRF cookie (before there is a session, the form's token is checked
/// against this double-submitted cookie).
pub const LOGIN_COOKIE: &str = "radcare_login";

/// An operator's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    ReadOnly,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "read-only" => Some(Role::ReadOnly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ReadOnly => "read-only",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password is 8 to 1024 characters")]
    BadLength,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// An argon2id PHC string for `password` (the crate's recommended parameters).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if !(8..=1024).contains(&password.chars().count()) {
        return Err(PasswordError::BadLength);
    }
    let mut salt = [0u8; 16];
    crate::wire::crypto::os_random(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string; a malformed hash matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash of no one's password, verified when the name is unknown so that a wrong name
/// takes as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut pw = [0u8; 24];
        crate::wire::crypto::os_random(&mut pw);
        hash_password(&hex::encode(pw)).unwrap_or_default()
    })
}

/// 32 random octets, hex: a session id or a CSRF token.
pub fn token() -> String {
    let mut b = [0u8; 32];
    crate::wire::crypto::os_random(&mut b);
    hex::encode(b)
}

/// How a session id is kept in the store.
pub fn session_key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// A cookie's value from the request's Cookie headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A Set-Cookie value that scripts cannot read and other sites cannot send.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}")
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    crate::wire::crypto::ct_eq(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_password_verifies_only_itself() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsf"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::BadLength)
        ));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; radcare_console=abc"));
        h.append(COOKIE, HeaderValue::from_static("radcare_login=x"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("x"));
        assert_eq!(cookie(&h, "b"), None);
        let s = set_cookie(SESSION_COOKIE, "abc", 60);
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Strict"));
    }

    #[test]
    fn tokens_are_random_and_kept_hashed() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(session_key(&a), a);
        assert!(same_token(&a, &a.clone()) && !same_token(&a, &b));
    }
}
