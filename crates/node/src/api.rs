//! What the node's interfaces (HTTP, the CLI through HTTP) may ask of a running node
//! ([`NodeApi`]), and why it may refuse. The JSON shapes of the answers are the wire crate's
//! ([`npchain_api::json`]).

use crate::{chain::ApplyError, storage::BlockLogError};
use npchain_api::json::{
    BatchResult, BlockInfo, FinalityProof, History, OperatorList, PolicyInfo, PortInfo, PortList, PortQuery,
    RangeList, RouteInfo, Stats, Status, TxStatus, ValidatorList,
};
use npchain_core::{
    BlockError, E164, InvalidTx, StoreError, TxError,
    types::{PortId, TxId},
};
use std::sync::Arc;

/// Why a submitted transaction was not taken into the mempool.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// The bytes are not a transaction (or too many for one).
    #[error("transaction is malformed: {0}")]
    Malformed(#[source] InvalidTx),
    /// A transaction, but not a valid one.
    #[error("transaction is invalid: {0}")]
    Invalid(#[source] Invalidity),
    /// The ledger would refuse it now (checked against the committed state). The code and
    /// the message are the ledger's own, exactly as a block's outcome would give them.
    #[error(transparent)]
    Refused(TxError),
    #[error("transaction {0} is already pending")]
    Duplicate(TxId),
    #[error("transaction {0} was already committed")]
    Committed(TxId),
    #[error("transaction expired at {expires_at_ms} ms; the last block time is {now_ms} ms")]
    Expired { expires_at_ms: u64, now_ms: u64 },
    #[error("mempool is full ({0} transactions); try again later")]
    Full(usize),
    #[error("node cannot take transactions now: {0}")]
    Unavailable(#[source] Unavailable),
}

/// Why a transaction that decodes is not valid.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Invalidity {
    /// Its signatures or its form.
    #[error(transparent)]
    Tx(#[from] InvalidTx),
    /// It claims a validity longer than any block could accept.
    #[error(
        "expires_at {expires_at_ms} ms is beyond the longest validity window (the last block time plus \
         {ttl_max_secs} s)"
    )]
    ValidityTooLong { expires_at_ms: u64, ttl_max_secs: u64 },
}

/// Why the node cannot take transactions now.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// It stopped applying blocks.
    #[error(transparent)]
    Halted(Arc<ApplyError>),
    /// Its ledger store could not be read.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// Trying the transaction on the committed state failed (not the transaction: the ledger).
    #[error(transparent)]
    DryRun(Arc<BlockError>),
    /// A submission of one transaction came back without a result.
    #[error("no result")]
    NoResult,
}

impl SubmitError {
    /// A stable code for clients and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Invalid(_) => "invalid",
            Self::Refused(e) => e.code(),
            Self::Duplicate(_) => "duplicate",
            Self::Committed(_) => "committed",
            Self::Expired { .. } => "expired",
            Self::Full(_) => "mempool_full",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// One transaction's result in a batch answer.
pub fn batch_result(result: Result<TxId, SubmitError>) -> BatchResult {
    match result {
        Ok(id) => BatchResult { id: Some(id.to_string()), error: None, message: None },
        Err(e) => BatchResult { id: None, error: Some(e.code().to_owned()), message: Some(e.to_string()) },
    }
}
/// What the node's operator does, signed with the node's operator key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorAction {
    /// As donor: release the order's numbers.
    Release { port: PortId },
    /// As donor: reject the order with a reason from the closed list.
    Reject { port: PortId, reason: npchain_core::RejectReason },
    /// As recipient: activate the order.
    Activate { port: PortId },
    /// As serving operator: bind (or with `None` unbind) a subscriber key.
    Bind { number: E164, subscriber: Option<npchain_core::PublicKey> },
    /// As serving operator: the subscription ended; the number goes back to its range holder.
    Return { number: E164 },
    /// As recipient: request a port for the subscriber, carrying their consent (checked first:
    /// chain, signatures, recipient, expiry).
    RequestFor { consent: Box<npchain_api::consent::Consent> },
}

/// Why an operator action was not taken.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActionError {
    #[error("this node has no operator key (an observer cannot act)")]
    NoOperator,
    /// The consent of a [`OperatorAction::RequestFor`] cannot be carried by this node.
    #[error(transparent)]
    Consent(#[from] npchain_api::consent::ConsentFault),
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// A failure reading the node's stores.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("node storage: {0}")]
    Store(#[from] StoreError),
    #[error("node storage: {0}")]
    Log(#[from] BlockLogError),
    #[error("node storage: order key is not 32 bytes")]
    OrderKey,
    #[error("node storage: the index names block {height} for {tx}, which the log does not hold")]
    MissingBlock { height: u64, tx: TxId },
    #[error("node storage: the index names block {height} for {tx}, which does not carry it")]
    MissingTx { height: u64, tx: TxId },
}

/// The running node, as its interfaces see it.
pub trait NodeApi: Send + Sync + 'static {
    fn status(&self) -> Status;
    /// Checks a signed transaction (canonical bytes) and puts it in the mempool; with
    /// `precheck`, the ledger first tries it on the committed state and refuses it with the
    /// ledger's reason if it would fail now.
    fn submit(&self, tx: &[u8], precheck: bool) -> Result<TxId, SubmitError> {
        let mut results = self.submit_batch(&[bytes::Bytes::copy_from_slice(tx)], precheck);
        results.pop().unwrap_or(Err(SubmitError::Unavailable(Unavailable::NoResult)))
    }
    /// [`Self::submit`] for many transactions at once, with one result each, in order.
    fn submit_batch(&self, txs: &[bytes::Bytes], precheck: bool) -> Vec<Result<TxId, SubmitError>>;
    /// A finalized block this node holds, if any.
    fn block(&self, height: u64) -> Result<Option<BlockInfo>, ReadError>;
    /// The proof that the block at `height` is final, if held: see [`FinalityProof`].
    fn finalization(&self, height: u64) -> Option<FinalityProof>;
    /// Where the number routes, or why not: it is in no assigned range, or its digit count is
    /// not one of its range's lengths.
    fn route(&self, number: E164) -> Result<Result<RouteInfo, npchain_core::Unroutable>, ReadError>;
    /// The numbers bound to the subscriber key now, with their routes and the height.
    fn bound_numbers(&self, subscriber: &npchain_core::PublicKey)
    -> Result<(u64, Vec<RouteInfo>), ReadError>;
    /// Everything that happened to the number, oldest first.
    fn history(&self, number: E164) -> Result<History, ReadError>;
    /// Where a transaction is, or `None` if this node has never seen it.
    fn tx(&self, id: &TxId) -> Result<Option<TxStatus>, ReadError>;
    fn port(&self, id: &PortId) -> Result<Option<PortInfo>, ReadError>;
    fn ports(&self, query: &PortQuery) -> Result<PortList, ReadError>;
    /// The porting statistics of a range of days, kept from finalized blocks
    /// ([`crate::stats`]).
    fn stats(&self, query: &crate::stats::StatsQuery) -> Result<Stats, ReadError>;
    /// Every admitted operator and the regulator's key, at one committed height.
    fn operators(&self) -> OperatorList;
    /// The assigned ranges, at one committed height.
    fn ranges(&self) -> RangeList;
    /// The policy in force, at one committed height.
    fn policy(&self) -> PolicyInfo;
    /// A read view of the committed ledger fixed at one height (its meta says which), which
    /// later commits do not change; the state dump (`GET /v1/state`) is streamed from it.
    fn snapshot(&self) -> Result<Box<dyn npchain_core::ReadStore + Send>, ReadError>;

    /// The keys of the current and the pending validator set, each with the last block whose
    /// finalization certificate this node saw it sign, and whether it is live.
    fn validators(&self) -> ValidatorList;
    /// The committed height, changing at every commit (for event streams).
    fn committed_height(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Signs an action with this node's operator key and submits it (with the precheck).
    fn act(&self, action: OperatorAction) -> Result<TxId, ActionError>;
    /// Whether `token` is this node's admin token (false when none is configured).
    fn admin_token_matches(&self, token: &str) -> bool;
    /// Whether operator actions are enabled (an admin token is configured).
    fn admin_enabled(&self) -> bool;
    fn metrics(&self) -> &crate::metrics::Metrics;
    /// The genesis region: typed numbers in national or international dialling form are read
    /// with it (see [`npchain_core::number`]).
    fn region(&self) -> Option<npchain_core::Region>;
}
