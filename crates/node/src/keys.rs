//! Key files: one ed25519 private key per file, as 64 hex characters, readable by its owner only.

use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::Signer;
use npchain_core::types::{PrivateKey, PublicKey};
use std::{fs, io::Write, path::Path};

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} does not hold an ed25519 private key as 64 hex characters")]
    Malformed {
        path: String,
        /// Why the bytes are no key, when they were hex at all.
        #[source]
        source: Option<commonware_codec::Error>,
    },
    #[error("key file {path} exists; refusing to overwrite a key")]
    Exists { path: String },
}

/// Writes `key` to a new file at `path` with mode 0600. Never overwrites.
pub fn write_key(path: &Path, key: &PrivateKey) -> Result<(), KeyError> {
    write_secret(path, &commonware_formatting::hex(&key.encode()))
}

/// Writes a new random admin token (64 hex characters) to a new file at `path` with mode 0600,
/// and returns it. Never overwrites.
pub fn write_admin_token(path: &Path) -> Result<String, KeyError> {
    let token = commonware_formatting::hex(&rand::random::<[u8; 32]>());
    write_secret(path, &token)?;
    Ok(token)
}

fn write_secret(path: &Path, text: &str) -> Result<(), KeyError> {
    let name = path.display().to_string();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::Exists { path: name.clone() },
        _ => KeyError::Io { path: name.clone(), source },
    })?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| KeyError::Io { path: name, source })
}

/// Reads a key written by [`write_key`].
pub fn read_key(path: &Path) -> Result<PrivateKey, KeyError> {
    let name = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|source| KeyError::Io { path: name.clone(), source })?;
    parse_key(&name, &text)
}

/// Reads the text of a key file (what [`write_key`] writes); `name` names the file in errors.
pub fn parse_key(name: &str, text: &str) -> Result<PrivateKey, KeyError> {
    let bytes = commonware_formatting::from_hex(text.trim())
        .ok_or_else(|| KeyError::Malformed { path: name.to_owned(), source: None })?;
    PrivateKey::decode(bytes).map_err(|e| KeyError::Malformed { path: name.to_owned(), source: Some(e) })
}

/// A new key from the operating system's randomness.
pub fn generate() -> PrivateKey {
    <PrivateKey as commonware_math::algebra::Random>::random(rand::rng())
}

/// The public half of `key`.
pub fn public(key: &PrivateKey) -> PublicKey {
    key.public_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let key = npchain_testkit::key("node");
        write_key(&path, &key).unwrap();
        assert_eq!(public(&read_key(&path).unwrap()), public(&key));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(write_key(&path, &key), Err(KeyError::Exists { .. })));
        fs::write(&path, "not hex").unwrap();
        assert!(matches!(read_key(&path), Err(KeyError::Malformed { .. })));
        assert!(matches!(read_key(&dir.path().join("missing")), Err(KeyError::Io { .. })));
        let token_path = dir.path().join("admin.token");
        let token = write_admin_token(&token_path).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(fs::read_to_string(&token_path).unwrap().trim(), token);
        assert_ne!(write_admin_token(&dir.path().join("other.token")).unwrap(), token);
        assert!(matches!(write_admin_token(&token_path), Err(KeyError::Exists { .. })));
    }
}
