//! Why a wallet operation failed: [`WalletError`], and [`Fault`], what is wrong with a proof
//! a node sent or with an entry of the local ledger (the same checks hold for both).

use crate::http::{ClientError, Refusal};
use npchain_api::ProofError;
use npchain_core::types::{IdError, PortId};
use std::{path::Path, time::Duration};

/// Why a wallet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file of the wallet (or a node's answer) holds something it should not, with no
    /// finer error to name.
    #[error("{path}: {reason}")]
    Format { path: String, reason: String },
    /// A JSON file of the wallet (`wallet.key`, `sent.jsonl`) is not what it should be.
    #[error("{path}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// `wallet.toml` is not what it should be.
    #[error("{path}: {source}")]
    Config {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    /// The key in `wallet.key` is not an ed25519 private key.
    #[error("{path}: {source}")]
    Key {
        path: String,
        #[source]
        source: commonware_codec::Error,
    },
    /// A validator of `wallet.toml` is not a public key.
    #[error("{path}: {source}")]
    Validator {
        path: String,
        #[source]
        source: IdError,
    },
    /// A transaction of `sent.jsonl` does not decode.
    #[error("sent.jsonl: transaction {tx_id}: {source}")]
    SentTx {
        tx_id: String,
        #[source]
        source: npchain_core::tx::InvalidTx,
    },
    /// A record could not be written as JSON.
    #[error(transparent)]
    WriteJson(#[from] serde_json::Error),
    /// `wallet.toml` could not be written.
    #[error(transparent)]
    WriteConfig(#[from] toml::ser::Error),
    #[error("wallet {0} exists; refusing to overwrite a key")]
    Exists(String),
    #[error("the key file is encrypted: give its passphrase (--passphrase-file or NPCHAIN_PASSPHRASE)")]
    NeedsPassphrase,
    #[error("wrong passphrase (or a damaged key file)")]
    WrongPassphrase,
    #[error("deriving the key from the passphrase: {0}")]
    Kdf(#[source] argon2::Error),
    #[error("encryption failed")]
    Encrypt,
    #[error("no number to port")]
    NoNumbers,
    /// The node names a serving operator that is not an operator id.
    #[error("the node names donor {serving:?}")]
    Donor {
        serving: String,
        #[source]
        source: IdError,
    },
    #[error(transparent)]
    Node(#[from] ClientError),
    /// The ledger refused the wallet's transaction in its block.
    #[error(transparent)]
    Ledger(Refusal),
    #[error("order {port} is not finished ({state}) after {}; follow it again to wait longer", crate::human(*waited))]
    NotFinished { port: String, state: String, waited: Duration },
    #[error("order {port}: the request is in no block yet")]
    NotInABlock { port: String },
    #[error("stopped following order {port}; {recorded} of its steps are in the local ledger, verified")]
    Interrupted { port: String, recorded: usize },
    #[error("node {node} sent a proof for block {height} that does not hold: {fault}")]
    Forged {
        node: String,
        height: u64,
        #[source]
        fault: Fault,
    },
    /// A learned validator set of `epochs.jsonl` does not hold: the file is damaged or was
    /// changed (deleting it makes the wallet learn the sets again, checked, from a node).
    #[error("epochs.jsonl line {line}: the validator set of epoch {epoch} does not hold: {fault}")]
    ForgedEpoch {
        line: usize,
        epoch: u64,
        #[source]
        fault: Fault,
    },
    #[error("ledger entry {line} ({what}): {fault}")]
    Tampered {
        line: usize,
        what: String,
        #[source]
        fault: Fault,
    },
}

impl WalletError {
    /// The ledger's refusal, if that is what this is (at a node's precheck or in a block).
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Ledger(r) | Self::Node(ClientError::Refused(r)) => Some(r),
            _ => None,
        }
    }
}

/// What does not hold in a proof of a step (a block, its certificate, the transaction that
/// makes the step), as a node sent it or as the local ledger keeps it.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("port id {0:?} is not hex")]
    PortId(String),
    #[error("not hex")]
    NotHex,
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The block's transactions do not decode.
    #[error(transparent)]
    Transactions(commonware_codec::Error),
    #[error("the block is at height {got}, not {want}")]
    Height { got: u64, want: u64 },
    #[error("the block has no transaction {0}")]
    NoTx(usize),
    #[error("transaction {index} of the block does not make step {step} of {port}")]
    OtherTx { index: usize, step: String, port: PortId },
    #[error("the block carries no transaction that makes step {step} of {port}")]
    NoStepTx { step: String, port: PortId },
    #[error("the node reports step {step} of {port} at time {time_ms} ms, and no block then carries it")]
    NoBlock { step: String, port: String, time_ms: u64 },
    /// A learned set's record names another epoch than the next one the wallet lacks.
    #[error("the record is of epoch {got}; the next set to learn is epoch {want}'s")]
    Epoch { got: u64, want: u64 },
    /// A learned set's record names another height than the last of the epoch before.
    #[error("the record is at height {got}, not at the last block of the epoch before ({want:?})")]
    Boundary { got: u64, want: Option<u64> },
    #[error("not a ledger entry: {0}")]
    NotEntry(#[source] serde_json::Error),
}

/// The error of an I/O operation on `path`.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalletError + '_ {
    move |source| WalletError::Io { path: path.display().to_string(), source }
}

/// The records of a JSON-lines file of the wallet, oldest first; none if the file does not exist.
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, WalletError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|source| WalletError::Json { path: path.display().to_string(), source })
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(path)(e)),
    }
}
