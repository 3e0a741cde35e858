//! `wallet.key`: the subscriber's private key, readable by its owner only (0600), in hex or
//! encrypted with a passphrase (Argon2id derives the key, ChaCha20-Poly1305 seals it). The
//! regulator's key file (`crate::regulator`) is the same format, always encrypted.

use super::error::{WalletError, io};
use chacha20poly1305::{
    ChaCha20Poly1305, Key, Nonce,
    aead::{Aead, KeyInit},
};
use commonware_codec::{DecodeExt, Encode};
use npchain_core::PrivateKey;
use serde::{Deserialize, Serialize};
use std::{fs, io::Write, path::Path};

/// `wallet.key`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum KeyFile {
    Plain { key: String },
    Argon2idChacha20poly1305 { salt: String, nonce: String, ciphertext: String },
}

fn cipher(passphrase: &str, salt: &[u8]) -> Result<ChaCha20Poly1305, WalletError> {
    let mut key = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(WalletError::Kdf)?;
    Ok(ChaCha20Poly1305::new(Key::from_slice(&key)))
}

/// A new key from the operating system's randomness.
pub(crate) fn generate() -> PrivateKey {
    <PrivateKey as commonware_math::algebra::Random>::random(rand::rng())
}

/// Writes `key` to a new file at `path` (0600), encrypted if a passphrase is given. Never
/// overwrites.
pub(crate) fn write(path: &Path, key: &PrivateKey, passphrase: Option<&str>) -> Result<(), WalletError> {
    let text = to_text(key, passphrase)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(io(path))
}

/// The text of a key file holding `key`, encrypted if a passphrase is given (what [`write`]
/// writes).
pub fn to_text(key: &PrivateKey, passphrase: Option<&str>) -> Result<String, WalletError> {
    let secret = commonware_formatting::hex(&key.encode());
    let file = match passphrase {
        None => KeyFile::Plain { key: secret },
        Some(p) => {
            let salt: [u8; 16] = rand::random();
            let nonce: [u8; 12] = rand::random();
            let ciphertext = cipher(p, &salt)?
                .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
                .map_err(|_| WalletError::Encrypt)?;
            KeyFile::Argon2idChacha20poly1305 {
                salt: commonware_formatting::hex(&salt),
                nonce: commonware_formatting::hex(&nonce),
                ciphertext: commonware_formatting::hex(&ciphertext),
            }
        }
    };
    Ok(serde_json::to_string(&file)?)
}

/// Reads the key written by [`write`]; the passphrase is needed if it is encrypted.
pub(crate) fn read(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey, WalletError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    from_text(&path.display().to_string(), &text, passphrase)
}

/// Reads the text of a key file (what [`to_text`] makes); `name` names the file in errors.
pub fn from_text(name: &str, text: &str, passphrase: Option<&str>) -> Result<PrivateKey, WalletError> {
    let format = |reason: &str| WalletError::Format { path: name.to_owned(), reason: reason.to_owned() };
    let file: KeyFile =
        serde_json::from_str(text).map_err(|source| WalletError::Json { path: name.to_owned(), source })?;
    let hex = |s: &str| commonware_formatting::from_hex(s).ok_or_else(|| format("not hex"));
    let secret = match file {
        KeyFile::Plain { key } => key,
        KeyFile::Argon2idChacha20poly1305 { salt, nonce, ciphertext } => {
            let passphrase = passphrase.ok_or(WalletError::NeedsPassphrase)?;
            let nonce = hex(&nonce)?;
            if nonce.len() != 12 {
                return Err(format("the nonce is not 12 bytes"));
            }
            let plain = cipher(passphrase, &hex(&salt)?)?
                .decrypt(Nonce::from_slice(&nonce), hex(&ciphertext)?.as_slice())
                .map_err(|_| WalletError::WrongPassphrase)?;
            String::from_utf8(plain).map_err(|_| WalletError::WrongPassphrase)?
        }
    };
    PrivateKey::decode(hex(&secret)?).map_err(|source| WalletError::Key { path: name.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer;

    #[test]
    fn a_key_reads_back_plain_or_with_its_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate();
        let plain = dir.path().join("plain.key");
        write(&plain, &key, None).unwrap();
        assert_eq!(read(&plain, None).unwrap().public_key(), key.public_key());
        assert!(matches!(write(&plain, &key, None), Err(WalletError::Io { .. })), "never overwrites");
        let sealed = dir.path().join("sealed.key");
        write(&sealed, &key, Some("secret")).unwrap();
        assert!(!fs::read_to_string(&sealed).unwrap().contains(&commonware_formatting::hex(&key.encode())));
        assert!(matches!(read(&sealed, None), Err(WalletError::NeedsPassphrase)));
        assert!(matches!(read(&sealed, Some("guess")), Err(WalletError::WrongPassphrase)));
        assert_eq!(read(&sealed, Some("secret")).unwrap().public_key(), key.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&sealed).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
