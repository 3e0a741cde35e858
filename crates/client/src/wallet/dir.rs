//! The wallet directory: [`Wallet`] made ([`Wallet::create`]) or opened ([`Wallet::open`])
//! from its key file and `wallet.toml` (its nodes, the chain it signs for, the genesis
//! validators it trusts and the epoch length), with the sets it has learned since
//! (`epochs.jsonl`, checked again on opening).

use super::{
    epochs,
    error::{WalletError, io},
    keyfile,
};
use crate::http::Client;
use commonware_cryptography::Signer;
use npchain_api::ProofChecker;
use npchain_core::{
    E164, Genesis, PrivateKey, PublicKey,
    tx::ChainId,
    types::{Digest, IdError, parse_public_key},
};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    num::NonZeroU64,
    path::{Path, PathBuf},
    sync::Mutex,
};

/// Blocks per epoch when `wallet.toml` does not say (the genesis's default).
pub const DEFAULT_BLOCKS_PER_EPOCH: NonZeroU64 = NonZeroU64::new(1_000).unwrap();

fn default_blocks_per_epoch() -> NonZeroU64 {
    DEFAULT_BLOCKS_PER_EPOCH
}

/// `wallet.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// Node API URLs, tried in order.
    pub nodes: Vec<String>,
    /// The chain the wallet signs for, hex.
    pub chain_id: String,
    /// The validators' consensus keys, hex: the wallet's root of trust, from the genesis (the
    /// set of epoch 0; each later one is learned from the chain, `epochs.jsonl`).
    pub validators: Vec<String>,
    /// Blocks per epoch, from the genesis: the set changes only after the last block of an
    /// epoch. [`DEFAULT_BLOCKS_PER_EPOCH`] in wallets made before it was kept.
    #[serde(default = "default_blocks_per_epoch")]
    pub blocks_per_epoch: NonZeroU64,
    /// The genesis region (ISO 3166, e.g. `DE`): numbers typed in national form are read with
    /// it. Absent in wallets made before it was kept, and for networks without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl WalletConfig {
    /// The genesis validators: the set of epoch 0.
    pub fn genesis_validators(&self) -> Result<Vec<PublicKey>, IdError> {
        self.validators.iter().map(|v| parse_public_key(v)).collect()
    }
}

/// A subscriber's wallet.
#[derive(Debug)]
pub struct Wallet {
    pub(super) dir: PathBuf,
    pub(super) key: PrivateKey,
    pub(super) config: WalletConfig,
    /// The sets learned so far: the genesis's and those of `epochs.jsonl`, and more as proofs
    /// of later epochs come (behind a lock: proving takes `&self`).
    pub(super) checker: Mutex<ProofChecker>,
}

impl Wallet {
    /// Makes a new wallet in `dir`: a new key (encrypted if a passphrase is given), the
    /// genesis validators as the root of trust, and the chain id read from the first node that
    /// answers (checked against nothing: a wrong one only makes the wallet's signatures useless).
    pub fn create(
        dir: &Path,
        genesis: &Genesis,
        nodes: Vec<String>,
        passphrase: Option<&str>,
    ) -> Result<Self, WalletError> {
        let key_path = dir.join("wallet.key");
        if key_path.exists() {
            return Err(WalletError::Exists(dir.display().to_string()));
        }
        let status = Client::new(nodes.clone()).status()?;
        fs::create_dir_all(dir).map_err(io(dir))?;
        keyfile::write(&key_path, &keyfile::generate(), passphrase)?;
        let config = WalletConfig {
            nodes,
            chain_id: status.chain_id,
            validators: genesis
                .operators
                .iter()
                .map(|o| commonware_formatting::hex(o.validator_key.as_ref()))
                .collect(),
            region: genesis.region.map(|r| r.to_string()),
            blocks_per_epoch: genesis.blocks_per_epoch,
        };
        let config_path = dir.join("wallet.toml");
        let text = toml::to_string(&config)?;
        fs::write(&config_path, text).map_err(io(&config_path))?;
        Self::open(dir, passphrase)
    }

    /// Opens the wallet in `dir`, with every set of `epochs.jsonl` checked again from the
    /// genesis set ([`WalletError::ForgedEpoch`] if one does not hold).
    pub fn open(dir: &Path, passphrase: Option<&str>) -> Result<Self, WalletError> {
        let key = keyfile::read(&dir.join("wallet.key"), passphrase)?;
        let config_path = dir.join("wallet.toml");
        let text = fs::read_to_string(&config_path).map_err(io(&config_path))?;
        let config: WalletConfig = toml::from_str(&text)
            .map_err(|source| WalletError::Config { path: config_path.display().to_string(), source })?;
        let checker = Mutex::new(epochs::trusted_checker(dir, &config)?);
        Ok(Self { dir: dir.to_owned(), key, config, checker })
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Reads a typed number as every interface does ([`npchain_core::number`]), with the
    /// region of the genesis the wallet was made from.
    pub fn parse_number(&self, text: &str) -> Result<E164, npchain_core::NumberError> {
        let region = self.config.region.as_deref().map(str::parse).transpose()?;
        E164::parse(text, region)
    }

    pub fn config(&self) -> &WalletConfig {
        &self.config
    }

    /// A client of the wallet's nodes (or of `nodes` if given).
    pub fn client(&self, nodes: &[String]) -> Client {
        Client::new(if nodes.is_empty() { self.config.nodes.clone() } else { nodes.to_vec() })
    }

    pub(super) fn chain_id(&self) -> Result<ChainId, WalletError> {
        let bytes = commonware_formatting::from_hex(&self.config.chain_id)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| WalletError::Format {
                path: "wallet.toml".into(),
                reason: "chain_id is not 32 bytes of hex".into(),
            })?;
        Ok(ChainId(Digest(bytes)))
    }
}
