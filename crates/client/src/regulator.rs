//! The regulator's console as a library: its key file, governance transactions built and
//! signed on the regulator's own machine and submitted through any node, and policy changes
//! named field by field.
//!
//! The key file is the wallet's format (`wallet/keyfile.rs`: 0600, Argon2id and
//! ChaCha20-Poly1305), always encrypted: a regulator key opens only with its passphrase and
//! never lives on a node. A transaction is signed for the network the nodes serve (their chain
//! id), valid from their last block time for [`SIGNED_TTL_SECS`] (or the policy's
//! `tx_ttl_max_secs` if shorter), and submitted with the node's check on the committed state,
//! so a transaction the ledger would refuse is refused at once with the ledger's code.

use crate::{
    http::{Client, ClientError},
    wallet::{WalletError, keyfile},
};
use commonware_codec::Encode;
use commonware_cryptography::Signer as _;
use npchain_core::{
    Digest, Policy, PolicySetError, PrivateKey, PublicKey, SignedTransaction, Timestamp, Transaction, TxBody,
    tx::ChainId,
};
use std::path::Path;

/// Longest validity given to a governance transaction, in seconds of block time.
pub const SIGNED_TTL_SECS: u64 = 600;

/// Why a regulator operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegulatorError {
    /// The key file could not be made or opened (a wrong passphrase included).
    #[error(transparent)]
    Key(#[from] WalletError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the node's chain id {0:?} is not 32 bytes of hex")]
    ChainId(String),
    #[error(transparent)]
    Policy(#[from] PolicySetError),
}

/// The regulator: its private key, opened from its key file.
pub struct Regulator {
    key: PrivateKey,
}

impl std::fmt::Debug for Regulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Regulator").field("public_key", &self.key.public_key()).finish_non_exhaustive()
    }
}

impl Regulator {
    /// A new key from the operating system's randomness, written encrypted to a new file at
    /// `path` (never overwriting one).
    pub fn create(path: &Path, passphrase: &str) -> Result<Self, RegulatorError> {
        Self::import(path, keyfile::generate(), passphrase)
    }

    /// `key` (for instance a devnet's plain `regulator.key`), written encrypted to a new file
    /// at `path`.
    pub fn import(path: &Path, key: PrivateKey, passphrase: &str) -> Result<Self, RegulatorError> {
        keyfile::write(path, &key, Some(passphrase))?;
        Ok(Self { key })
    }

    /// Opens the key file at `path`.
    pub fn open(path: &Path, passphrase: Option<&str>) -> Result<Self, RegulatorError> {
        Ok(Self { key: keyfile::read(path, passphrase)? })
    }

    /// The regulator of a key already in memory (a devnet's plain key, in a benchmark).
    pub fn from_key(key: PrivateKey) -> Self {
        Self { key }
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// `body` signed for the network `client`'s nodes serve.
    pub fn sign(&self, client: &Client, body: TxBody) -> Result<SignedTransaction, RegulatorError> {
        let (network, block_time) = Network::of(client)?;
        Ok(self.sign_for(&network, block_time, body))
    }

    /// `body` signed for `network`, valid from `block_time` (the nodes' last block time) for
    /// the network's validity: for signing many transactions without asking a node each time.
    pub fn sign_for(&self, network: &Network, block_time: Timestamp, body: TxBody) -> SignedTransaction {
        let tx = Transaction {
            nonce: rand::random(),
            expires_at: block_time.plus_secs(network.ttl_secs),
            signer: self.key.public_key(),
            body,
        };
        tx.sign(&network.chain, &self.key)
    }

    /// Signs `body` and submits it through `client` (the first node that answers), checked on
    /// the committed state first; the transaction's id.
    pub fn submit(&self, client: &Client, body: TxBody) -> Result<String, RegulatorError> {
        let signed = self.sign(client, body)?;
        Ok(client.submit(&signed.encode(), true)?)
    }
}

/// What signing for a network needs: its chain id and how long a transaction may be valid.
#[derive(Debug, Clone)]
pub struct Network {
    pub chain: ChainId,
    /// [`SIGNED_TTL_SECS`], or the policy's `tx_ttl_max_secs` if shorter.
    pub ttl_secs: u64,
}

impl Network {
    /// The network `client`'s nodes serve, and their last block time.
    pub fn of(client: &Client) -> Result<(Self, Timestamp), RegulatorError> {
        let status = client.status()?;
        let ttl_secs = client.policy()?.policy.tx_ttl_max_secs.min(SIGNED_TTL_SECS);
        let chain = commonware_formatting::from_hex(&status.chain_id)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| RegulatorError::ChainId(status.chain_id.clone()))?;
        Ok((Self { chain: ChainId(Digest(chain)), ttl_secs }, Timestamp(status.block_time_ms)))
    }
}

/// One policy field as a change shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

/// `current` with each `(field, value)` of `changes` set in turn ([`Policy::set`]: every
/// value read and the whole policy validated), and what each field was and becomes. Nothing is
/// returned but the error if any change is refused.
pub fn change_policy(
    current: &Policy,
    changes: &[(String, String)],
) -> Result<(Policy, Vec<FieldChange>), PolicySetError> {
    let mut next = current.clone();
    for (field, value) in changes {
        next.set(field, value)?;
    }
    let shown = changes
        .iter()
        .map(|(name, _)| {
            let field = Policy::field(name)?;
            Ok(FieldChange { field: field.name, old: field.get(current), new: field.get(&next) })
        })
        .collect::<Result<Vec<_>, PolicySetError>>()?;
    Ok((next, shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_encrypted_and_opens_with_its_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regulator.key");
        let made = Regulator::create(&path, "s3cret").unwrap();
        assert!(matches!(
            Regulator::open(&path, None),
            Err(RegulatorError::Key(WalletError::NeedsPassphrase))
        ));
        assert!(matches!(
            Regulator::open(&path, Some("guess")),
            Err(RegulatorError::Key(WalletError::WrongPassphrase))
        ));
        assert_eq!(Regulator::open(&path, Some("s3cret")).unwrap().public_key(), made.public_key());
        assert!(Regulator::create(&path, "other").is_err(), "never overwrites a key");
    }

    #[test]
    fn a_policy_change_shows_old_and_new_and_refuses_as_a_whole() {
        let current = Policy::default();
        let changes = vec![
            ("donor_answer_secs".to_owned(), "2h".to_owned()),
            ("on_donor_silence".to_owned(), "deemed-reject".to_owned()),
        ];
        let (next, shown) = change_policy(&current, &changes).unwrap();
        assert_eq!(next.donor_answer_secs, 7200);
        assert_eq!(
            shown,
            vec![
                FieldChange { field: "donor_answer_secs", old: "14400".into(), new: "7200".into() },
                FieldChange {
                    field: "on_donor_silence",
                    old: "deemed-release".into(),
                    new: "deemed-reject".into()
                },
            ]
        );
        let bad = vec![
            ("donor_answer_secs".to_owned(), "2h".to_owned()),
            ("tx_ttl_max_secs".to_owned(), "0".to_owned()),
        ];
        let e = change_policy(&current, &bad).unwrap_err();
        assert!(e.to_string().contains("tx_ttl_max_secs = 0 is outside 1..=86400"), "{e}");
    }
}
