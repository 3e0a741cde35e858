//! `epochs.jsonl`: the validator sets the wallet has learned past the genesis, one [`Learned`]
//! per epoch, oldest first. The wallet trusts the genesis validators for epoch 0 and the set of
//! epoch `e + 1` only as the last block of epoch `e` names it, with a certificate of epoch
//! `e`'s set ([`npchain_api::ProofChecker::learn`]). A proof of an epoch it does not know yet
//! makes it fetch the boundary blocks it lacks from a node, check them in order and write each
//! here before it believes the proof; [`Wallet::verify`] replays the whole file from the
//! genesis set offline.

use super::{
    Wallet, WalletConfig,
    error::{Fault, WalletError, io, read_jsonl},
};
use crate::http::Client;
use npchain_api::ProofChecker;
use serde::{Deserialize, Serialize};
use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::MutexGuard,
};

/// The file of the learned sets, in the wallet directory.
const EPOCHS_FILE: &str = "epochs.jsonl";

/// One learned set: the boundary block that names it, with its certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Learned {
    /// The epoch whose validators the block names.
    pub epoch: u64,
    /// The block's height: the last of epoch `epoch - 1`.
    pub height: u64,
    /// The canonical block, hex.
    pub block: String,
    /// Its finalization certificate (by epoch `epoch - 1`'s set), hex.
    pub certificate: String,
}

impl Learned {
    /// Teaches `checker` this record's set: the record must be the next one it lacks.
    fn teach(&self, checker: &mut ProofChecker) -> Result<(), Fault> {
        let hex = |s: &str| commonware_formatting::from_hex(s).ok_or(Fault::NotHex);
        let (block, certificate) = (hex(&self.block)?, hex(&self.certificate)?);
        let want = checker.known();
        if self.epoch != want {
            return Err(Fault::Epoch { got: self.epoch, want });
        }
        let height = checker.last_height(want - 1);
        if height != Some(self.height) {
            return Err(Fault::Boundary { got: self.height, want: height });
        }
        checker.learn(&block, &certificate)?;
        Ok(())
    }
}

/// A checker of the genesis set of the wallet in `dir` with every set of its `epochs.jsonl`
/// learned again, in order.
pub(super) fn trusted_checker(dir: &Path, config: &WalletConfig) -> Result<ProofChecker, WalletError> {
    let genesis = config.genesis_validators().map_err(|source| WalletError::Validator {
        path: dir.join("wallet.toml").display().to_string(),
        source,
    })?;
    let mut checker = ProofChecker::with_epochs(genesis, config.blocks_per_epoch);
    for (i, record) in read_jsonl::<Learned>(&dir.join(EPOCHS_FILE))?.iter().enumerate() {
        record.teach(&mut checker).map_err(|fault| WalletError::ForgedEpoch {
            line: i + 1,
            epoch: record.epoch,
            fault,
        })?;
    }
    Ok(checker)
}

impl Wallet {
    fn epochs_path(&self) -> PathBuf {
        self.dir.join(EPOCHS_FILE)
    }

    /// The learned sets, oldest first (unchecked).
    pub fn learned(&self) -> Result<Vec<Learned>, WalletError> {
        read_jsonl(&self.epochs_path())
    }

    /// A checker of the genesis set with every set of `epochs.jsonl` learned again, in order.
    pub(super) fn trusted_checker(&self) -> Result<ProofChecker, WalletError> {
        trusted_checker(&self.dir, &self.config)
    }

    /// The checker of the wallet's proofs (the sets it has learned so far).
    pub(super) fn checker(&self) -> MutexGuard<'_, ProofChecker> {
        self.checker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many epochs' validator sets the wallet knows (epoch 0's from the genesis).
    pub fn known_epochs(&self) -> u64 {
        self.checker().known()
    }

    /// Learns from `client`, in order, the set of every epoch up to the one that holds `height`
    /// that the wallet does not know yet: each from the last block of the epoch before, checked
    /// and written to `epochs.jsonl` before it is believed.
    pub(super) fn learn_epochs(&self, client: &Client, height: u64) -> Result<(), WalletError> {
        let mut checker = self.checker();
        let target = checker.epoch_of(height);
        while checker.known() <= target {
            let epoch = checker.known();
            // the last block of the epoch before: below `height`, so it exists
            let Some(boundary) = checker.last_height(epoch - 1) else { break };
            let proof = client.finality(boundary)?;
            let mut next = checker.clone();
            next.learn(&proof.block, &proof.certificate).map_err(|e| WalletError::Forged {
                node: client.nodes().join(","),
                height: boundary,
                fault: e.into(),
            })?;
            self.append_learned(&Learned {
                epoch,
                height: boundary,
                block: commonware_formatting::hex(&proof.block),
                certificate: commonware_formatting::hex(&proof.certificate),
            })?;
            *checker = next;
        }
        Ok(())
    }

    fn append_learned(&self, record: &Learned) -> Result<(), WalletError> {
        let path = self.epochs_path();
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        let line = serde_json::to_string(record)?;
        file.write_all(format!("{line}\n").as_bytes()).and_then(|()| file.sync_all()).map_err(io(&path))
    }
}

#[cfg(test)]
mod tests;
