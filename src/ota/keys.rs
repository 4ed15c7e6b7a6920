//! The release signing key: ed25519, made on first use and kept in the state
//! directory (mode 0600). Devices pin its public half (`radcare keys show`).

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::OtaError;

const KEY_FILE: &str = "release-signing.key";

/// Loads the signing key from `state_dir`, making one if there is none.
pub fn load_or_create(state_dir: &Path) -> Result<SigningKey, OtaError> {
    let path = state_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(state_dir, &path),
        Err(e) => Err(OtaError::io(&path, e)),
    }
}

fn parse(path: &Path, text: &str) -> Result<SigningKey, OtaError> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| OtaError::BadKey(path.to_path_buf()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn create(state_dir: &Path, path: &PathBuf) -> Result<SigningKey, OtaError> {
    std::fs::create_dir_all(state_dir).map_err(|e| OtaError::io(state_dir, e))?;
    let mut seed = [0u8; 32];
    crate::wire::crypto::os_random(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(|e| OtaError::io(&tmp, e))?;
    writeln!(f, "{}", hex::encode(seed)).map_err(|e| OtaError::io(&tmp, e))?;
    f.sync_all().map_err(|e| OtaError::io(&tmp, e))?;
    // A second process making one at the same time: the first rename wins, and both
    // then use the file's key.
    if std::fs::hard_link(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        let text = std::fs::read_to_string(path).map_err(|e| OtaError::io(path, e))?;
        return parse(path, &text);
    }
    let _ = std::fs::remove_file(&tmp);
    Ok(key)
}

/// The public key devices pin, as hex.
pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

pub fn sign(key: &SigningKey, message: &[u8]) -> String {
    hex::encode(key.sign(message).to_bytes())
}

/// Whether `signature` (hex) is `public` (hex)'s signature of `message`.
pub fn verify(public: &str, message: &[u8], signature: &str) -> bool {
    let Some(public) = hex::decode(public)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
    else {
        return false;
    };
    let Some(sig) = hex::decode(signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
    else {
        return false;
    };
    public.verify(message, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_kept_private_and_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(
            public_hex(&a),
            public_hex(&b),
            "the same key after a restart"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "not readable by others");
        }
        let sig = sign(&a, b"manifest");
        assert!(verify(&public_hex(&a), b"manifest", &sig));
        assert!(!verify(&public_hex(&a), b"manifesT", &sig));
        assert!(!verify(&public_hex(&a), b"manifest", "00"));
    }
}
