//! What the node's interfaces (HTTP now; DNS and more later) may ask of a running node.

use npchain_core::types::TxId;
use serde::{Deserialize, Serialize};

/// A node's view of the chain, as `GET /v1/status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    /// The operator this node belongs to (None for an observer).
    pub operator: Option<String>,
    /// This node's validator (p2p) public key, hex.
    pub node_key: String,
    /// The chain id, hex.
    pub chain_id: String,
    /// Height of the last applied (finalized) block.
    pub height: u64,
    /// Block time of that block, ms since the Unix epoch.
    pub block_time_ms: u64,
    /// State hash after that block, hex.
    pub state_hash: String,
    /// Highest finalized height this node has heard of (≥ height while catching up).
    pub finalized_tip: u64,
    /// Transactions waiting in the mempool.
    pub mempool: usize,
    /// Validators of the chain (operator ids).
    pub validators: Vec<String>,
}

/// A finalized block, as `GET /v1/blocks/{height}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockInfo {
    pub height: u64,
    /// The block's digest, hex.
    pub digest: String,
    /// The parent block's digest, hex.
    pub parent: String,
    pub block_time_ms: u64,
    /// State hash after the block, hex.
    pub state_hash: String,
    /// Transaction ids in block order, hex.
    pub txs: Vec<String>,
}

/// Why a submitted transaction was not taken into the mempool.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("transaction is malformed: {0}")]
    Malformed(String),
    #[error("transaction is invalid: {0}")]
    Invalid(String),
    #[error("transaction {0} is already pending")]
    Duplicate(TxId),
    #[error("transaction {0} was already committed")]
    Committed(TxId),
    #[error("transaction expired at {expires_at_ms} ms; the last block time is {now_ms} ms")]
    Expired { expires_at_ms: u64, now_ms: u64 },
    #[error("mempool is full ({0} transactions); try again later")]
    Full(usize),
    #[error("node cannot take transactions now: {0}")]
    Unavailable(String),
}

/// The running node, as seen by its interfaces.
pub trait NodeApi: Send + Sync + 'static {
    fn status(&self) -> Status;
    /// Checks a signed transaction (canonical bytes) and puts it in the mempool.
    fn submit(&self, tx: &[u8]) -> Result<TxId, SubmitError>;
    /// A finalized block this node holds, if any.
    fn block(&self, height: u64) -> Option<BlockInfo>;
    /// The finalization certificate of the block at `height` (the canonical encoding of the
    /// engine's `Finalization`: the proposal and a quorum of validator signatures), if held.
    fn finalization(&self, height: u64) -> Option<Vec<u8>>;
}
