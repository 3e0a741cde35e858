//! `ledger.jsonl`, the wallet's local ledger: one [`Entry`] per committed step of its orders,
//! each with the block it was finalized in and that block's certificate. [`Wallet::prove`]
//! checks a step a node reports before it is written (learning first the validator sets of
//! the epochs up to its block's: `epochs.rs`); [`Wallet::verify`] checks every entry again
//! offline against the set of its block's epoch, every set re-learned from the genesis one.

use super::{
    Wallet,
    error::{Fault, WalletError, io},
};
use crate::http::Client;
use commonware_codec::DecodeExt;
use npchain_api::{Block, ProofChecker};
use npchain_core::{RejectCause, TxBody, tx::SignedTransaction, types::PortId};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::PathBuf,
};

/// One committed message of the local ledger, with its proof.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub port: String,
    /// `requested`, `released`, `rejected`, `activated`, `cancelled` or `expired`.
    pub step: String,
    pub height: u64,
    /// The canonical block, hex.
    pub block: String,
    /// Its finalization certificate, hex.
    pub certificate: String,
    /// The index of the message in the block, when a transaction made the step (a deadline
    /// makes `expired` and deemed answers, with no transaction).
    pub tx_index: Option<usize>,
}

impl Entry {
    /// Why the order was rejected, if this entry is its rejection: the donor's reason, read
    /// from the transaction in the entry's block, or the donor's silence (a deadline made the
    /// step: no transaction).
    pub fn cause(&self) -> Option<RejectCause> {
        if self.step != "rejected" {
            return None;
        }
        let Some(i) = self.tx_index else { return Some(RejectCause::DonorSilent) };
        let block = Block::decode(commonware_formatting::from_hex(&self.block)?).ok()?;
        match block.transactions().ok()?.get(i)?.tx.body {
            TxBody::Reject { reason, .. } => Some(RejectCause::Donor(reason)),
            _ => None,
        }
    }
}

/// An order's state as a person reads it: `activated`, or for a rejection its cause's code
/// and meaning: `rejected (outstanding-dues: the subscriber has unpaid charges with the donor)`.
pub fn describe_state(state: &str, cause: Option<&RejectCause>) -> String {
    match cause {
        Some(c) => format!("{state} ({c}: {})", c.description()),
        None => state.to_owned(),
    }
}

/// The transaction that makes `step` of `port`, if the step is made by one.
fn makes_step(tx: &SignedTransaction, port: &PortId, step: &str) -> bool {
    match (&tx.tx.body, step) {
        (TxBody::RequestPort(r), "requested") => r.port_id(&tx.tx.signer) == *port,
        (TxBody::RequestPortFor { request, subscriber, .. }, "requested") => {
            request.port_id(subscriber) == *port
        }
        (TxBody::Release { port: p }, "released")
        | (TxBody::Reject { port: p, .. }, "rejected")
        | (TxBody::Activate { port: p }, "activated")
        | (TxBody::Cancel { port: p }, "cancelled") => p == port,
        _ => false,
    }
}

impl Wallet {
    fn ledger_path(&self) -> PathBuf {
        self.dir.join("ledger.jsonl")
    }

    /// The local ledger, oldest first.
    pub fn entries(&self) -> Result<Vec<Entry>, WalletError> {
        let path = self.ledger_path();
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        BufReader::new(file)
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let line = line.map_err(io(&path))?;
                serde_json::from_str(&line).map_err(|e| WalletError::Tampered {
                    line: i + 1,
                    what: "entry".into(),
                    fault: Fault::NotEntry(e),
                })
            })
            .collect()
    }

    /// Checks one entry: the certificate is a quorum's of the block's epoch's set over
    /// exactly this block, and (for a step a transaction makes) the block carries that
    /// transaction.
    fn check(checker: &ProofChecker, e: &Entry) -> Result<(), Fault> {
        let port: PortId = e.port.parse().map_err(|_| Fault::PortId(e.port.clone()))?;
        let hex = |s: &str| commonware_formatting::from_hex(s).ok_or(Fault::NotHex);
        let block = checker.check(&hex(&e.block)?, &hex(&e.certificate)?)?;
        if block.height != e.height {
            return Err(Fault::Height { got: block.height, want: e.height });
        }
        if let Some(i) = e.tx_index {
            let txs = block.transactions().map_err(Fault::Transactions)?;
            let tx = txs.get(i).ok_or(Fault::NoTx(i))?;
            if !makes_step(tx, &port, &e.step) {
                return Err(Fault::OtherTx { index: i, step: e.step.clone(), port });
            }
        }
        Ok(())
    }

    /// Re-checks offline the chain of validator sets of `epochs.jsonl` from the genesis set
    /// ([`WalletError::ForgedEpoch`] names the first that does not hold), then the whole local
    /// ledger against them; the number of entries that hold.
    pub fn verify(&self) -> Result<usize, WalletError> {
        let checker = self.trusted_checker()?;
        let entries = self.entries()?;
        for (i, e) in entries.iter().enumerate() {
            Self::check(&checker, e).map_err(|fault| WalletError::Tampered {
                line: i + 1,
                what: format!("{} of {} at height {}", e.step, e.port, e.height),
                fault,
            })?;
        }
        Ok(entries.len())
    }

    pub(super) fn append(&self, e: &Entry) -> Result<(), WalletError> {
        let path = self.ledger_path();
        let mut file = fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        let line = serde_json::to_string(e)?;
        file.write_all(format!("{line}\n").as_bytes()).and_then(|()| file.sync_all()).map_err(io(&path))
    }

    /// The steps of order `id` in the local ledger.
    pub(super) fn recorded_steps(&self, id: &str) -> Result<Vec<String>, WalletError> {
        Ok(self.entries()?.into_iter().filter(|e| e.port == id).map(|e| e.step).collect())
    }

    /// Why order `id` was rejected, from its rejection in the local ledger (the block's).
    pub(super) fn recorded_cause(&self, id: &str) -> Result<Option<RejectCause>, WalletError> {
        Ok(self.entries()?.iter().filter(|e| e.port == id).find_map(Entry::cause))
    }

    /// Fetches block `height` with its certificate and checks that it finalizes `step` of
    /// `port`, having learned the validator sets up to its epoch first.
    pub(super) fn prove(
        &self,
        client: &Client,
        port: &PortId,
        step: &str,
        height: u64,
        needs_tx: bool,
    ) -> Result<Entry, WalletError> {
        self.learn_epochs(client, height)?;
        let proof = client.finality(height)?;
        let forged = |fault: Fault| WalletError::Forged { node: client.nodes().join(","), height, fault };
        let block = self.checker().check(&proof.block, &proof.certificate).map_err(|e| forged(e.into()))?;
        if block.height != height {
            return Err(forged(Fault::Height { got: block.height, want: height }));
        }
        let txs = block.transactions().map_err(|e| forged(Fault::Transactions(e)))?;
        let tx_index = txs.iter().position(|t| makes_step(t, port, step));
        if tx_index.is_none() && needs_tx {
            return Err(forged(Fault::NoStepTx { step: step.to_owned(), port: *port }));
        }
        Ok(Entry {
            port: port.to_string(),
            step: step.to_owned(),
            height,
            block: commonware_formatting::hex(&proof.block),
            certificate: commonware_formatting::hex(&proof.certificate),
            tx_index,
        })
    }
}
