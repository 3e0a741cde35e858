//! The node's application state: the committed ledger, the blocks executed on top of it that
//! consensus has not finalized yet, the mempool, and the record of finalized blocks.
//!
//! Consensus (through marshal) asks three things of it: build a block on a parent, verify a
//! block, and apply a finalized block. Building and verifying execute the block on the
//! committed state plus its unfinalized ancestors ([`Ledger::execute`]) and keep the result, so
//! that finalizing usually just writes what was already computed. Applying is idempotent:
//! a block at or below the committed height is acknowledged and skipped.

use crate::{
    api::{BlockInfo, EventInfo, SubmitError, TxResult},
    mempool::{Mempool, Refused},
    metrics::Metrics,
};
use bytes::Bytes;
use npchain_api::block::{Block, MAX_BLOCK_TX_BYTES, MAX_BLOCK_TXS};
use npchain_core::{
    BlockError, BlockOutcome, BlockWeight, Executed, Ledger, Store, StoreError,
    tx::{ChainId, MAX_GROUP, MAX_TX_BYTES, SignedTransaction, VerifiedTx},
    types::{Digest, PortId, Timestamp, TxId},
};
use std::{
    cell::Cell,
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
};
use tokio::sync::watch;

/// The execution time a proposer aims its blocks at (see [`Chain::note_build`]).
pub const BUILD_BUDGET: std::time::Duration = std::time::Duration::from_millis(200);
/// What the first block a node builds may carry, before it has measured itself.
pub const FIRST_BLOCK_TARGET: usize = 2_000;
/// The heaviest block a validator votes for, in numbers touched ([`Ledger::weigh`]).
///
/// Every validator executes a proposal before voting, and one that takes longer than the
/// consensus timeouts is never finalized: blocks of 100,000 numbers stalled a 4-node network
/// on 2 cores for good. A group of [`MAX_GROUP`] numbers always fits, so every valid
/// transaction can be carried.
pub const MAX_BLOCK_WEIGHT: usize = 20_000;
const _: () = assert!(MAX_GROUP <= MAX_BLOCK_WEIGHT);
/// The least a block may be aimed at, in numbers touched, however slow the last one was.
pub const MIN_BLOCK_TARGET: usize = 256;

/// The most executed, unfinalized blocks a node keeps (see [`Inner::keep`]).
pub const MAX_PENDING: usize = 128;

/// How far ahead of a validator's clock a block time may be.
pub const MAX_CLOCK_DRIFT_MS: u64 = 5_000;

/// Why a block is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum InvalidBlock {
    #[error("block {height} builds on a parent below the committed height {committed}")]
    Stale { height: u64, committed: u64 },
    #[error("block {height}: parent {parent} is unknown")]
    UnknownParent { height: u64, parent: Digest },
    #[error("block {height}: time {time} is before its parent's {parent}")]
    TimeBackwards { height: u64, time: Timestamp, parent: Timestamp },
    #[error(
        "block {height}: time {time} is more than {MAX_CLOCK_DRIFT_MS} ms ahead of this node's clock {now}"
    )]
    TimeAhead { height: u64, time: Timestamp, now: Timestamp },
    #[error("block {height}: transaction {index} is invalid: {reason}")]
    Transaction { height: u64, index: usize, reason: String },
    #[error("block {height}: transaction {tx} appears twice on this branch")]
    DuplicateTx { height: u64, tx: TxId },
    #[error("block {height} touches {weight} numbers, more than the {MAX_BLOCK_WEIGHT} a block may")]
    TooHeavy { height: u64, weight: usize },
    #[error("block {height}: state hash {claimed} differs from the computed {computed}")]
    StateHash { height: u64, claimed: Digest, computed: Digest },
    #[error("block {height}: {source}")]
    Execution {
        height: u64,
        #[source]
        source: BlockError,
    },
}

/// Where the node keeps what it reports about finalized blocks (outside the ledger state), with
/// two indexes derived from them: transaction id → height, and operator → the orders it is
/// donor or recipient of.
pub trait BlockLog: Send + 'static {
    /// Writes the block and its index entries at once; writing the same block again is harmless.
    fn put(&mut self, info: &BlockInfo) -> Result<(), StoreError>;
    fn get(&self, height: u64) -> Result<Option<BlockInfo>, StoreError>;
    /// The height of the block that carries the transaction.
    fn tx_height(&self, id: &TxId) -> Result<Option<u64>, StoreError>;
    /// The orders `operator` is donor or recipient of, in port-id order, after `after`.
    fn operator_ports(
        &self,
        operator: &str,
        after: Option<&PortId>,
        limit: usize,
    ) -> Result<Vec<PortId>, StoreError>;
    /// The numbers ever bound to `subscriber` (hex key), ascending; the ledger says which still are.
    fn bound_numbers(&self, subscriber: &str) -> Result<Vec<String>, StoreError>;
}

/// Decodes a transaction from a client or a peer, bounded in size.
fn decode(bytes: &[u8]) -> Result<SignedTransaction, SubmitError> {
    if bytes.len() > MAX_TX_BYTES {
        return Err(SubmitError::Malformed(format!(
            "transaction is {} bytes; at most {MAX_TX_BYTES} are accepted",
            bytes.len()
        )));
    }
    SignedTransaction::from_bytes(bytes).map_err(|e| SubmitError::Malformed(e.to_string()))
}

/// The subscriber keys (hex) a block bound, with their numbers: what the key index holds.
pub fn bindings(info: &BlockInfo) -> impl Iterator<Item = (&str, &str)> {
    info.events.iter().filter_map(|e| match e {
        EventInfo::Bound { number, subscriber: Some(key), .. } => Some((key.as_str(), number.as_str())),
        _ => None,
    })
}

/// The orders a block requested, with their donor and recipient: what the operator index holds.
pub fn requested_ports(info: &BlockInfo) -> impl Iterator<Item = (&str, &str, &str)> {
    info.events.iter().filter_map(|e| match e {
        EventInfo::Port { port, step, donor, recipient, .. } if step.step == "requested" => {
            Some((port.as_str(), donor.as_str(), recipient.as_str()))
        }
        _ => None,
    })
}

/// A block log in memory, for simulation and tests (its indexes are scans).
impl BlockLog for BTreeMap<u64, BlockInfo> {
    fn put(&mut self, info: &BlockInfo) -> Result<(), StoreError> {
        self.insert(info.height, info.clone());
        Ok(())
    }
    fn get(&self, height: u64) -> Result<Option<BlockInfo>, StoreError> {
        Ok(BTreeMap::get(self, &height).cloned())
    }
    fn tx_height(&self, id: &TxId) -> Result<Option<u64>, StoreError> {
        let id = id.to_string();
        Ok(self.values().find(|b| b.txs.iter().any(|t| t.id == id)).map(|b| b.height))
    }
    fn operator_ports(
        &self,
        operator: &str,
        after: Option<&PortId>,
        limit: usize,
    ) -> Result<Vec<PortId>, StoreError> {
        let mut ports: Vec<PortId> = self
            .values()
            .flat_map(requested_ports)
            .filter(|(_, d, r)| *d == operator || *r == operator)
            .filter_map(|(p, _, _)| p.parse().ok())
            .filter(|p| after.is_none_or(|a| p > a))
            .collect();
        ports.sort();
        ports.truncate(limit);
        Ok(ports)
    }
    fn bound_numbers(&self, subscriber: &str) -> Result<Vec<String>, StoreError> {
        let numbers: std::collections::BTreeSet<String> = self
            .values()
            .flat_map(bindings)
            .filter(|(k, _)| *k == subscriber)
            .map(|(_, n)| n.to_owned())
            .collect();
        Ok(numbers.into_iter().collect())
    }
}

/// What the proposer learned about its own speed.
#[derive(Debug)]
struct Sizing {
    /// What the next block may weigh (numbers touched).
    target: AtomicUsize,
    /// What the last block built here weighed.
    last_weight: AtomicUsize,
}

/// A block executed on the committed state (and its pending ancestors), not finalized yet.
struct Pending {
    parent: Digest,
    executed: Executed,
    txs: HashSet<TxId>,
    /// When a branch through this block was last walked ([`Inner::branch`]): an ancestor's is
    /// never older than its descendants', so evicting the least recently used first never
    /// leaves a block without its parent.
    used: Cell<u64>,
}

struct Inner<S: Store, L: BlockLog> {
    ledger: Ledger<S>,
    log: L,
    /// Digest of the last committed block, once known in this run.
    committed: Option<Digest>,
    pending: HashMap<Digest, Pending>,
    /// Counts walks of [`Inner::branch`], for [`Pending::used`].
    walks: Cell<u64>,
    pool: Mempool,
    finalized_tip: u64,
    halted: Option<String>,
}

/// What finalizing a block did.
#[derive(Debug)]
pub enum Finalized {
    /// The block was at or below the committed height: nothing to do.
    AlreadyApplied,
    Applied(BlockOutcome),
}

/// Why a finalized block could not be applied. The node stops applying: either its storage
/// failed or the network finalized a block this node computes differently.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("finalized block {got} is not the next one after {height}")]
    Gap { height: u64, got: u64 },
    #[error("finalized {0}")]
    Invalid(#[from] InvalidBlock),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("node halted earlier: {0}")]
    Halted(String),
}

/// The shared application state. Cheap to clone (an `Arc`).
pub struct Chain<S: Store, L: BlockLog> {
    inner: Arc<Mutex<Inner<S, L>>>,
    chain_id: ChainId,
    /// The committed height, for whoever waits for commits (event streams).
    committed: Arc<watch::Sender<u64>>,
    metrics: Arc<Metrics>,
    /// How big the blocks this node builds are: see [`Self::note_build`].
    sizing: Arc<Sizing>,
}

impl<S: Store, L: BlockLog> Clone for Chain<S, L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            chain_id: self.chain_id,
            committed: self.committed.clone(),
            metrics: self.metrics.clone(),
            sizing: self.sizing.clone(),
        }
    }
}

impl<S: Store, L: BlockLog> std::fmt::Debug for Chain<S, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("chain_id", &self.chain_id).finish_non_exhaustive()
    }
}

impl<S: Store + Send + 'static, L: BlockLog> Chain<S, L> {
    pub fn new(ledger: Ledger<S>, log: L, pool: Mempool) -> Self {
        let chain_id = ledger.chain_id();
        let finalized_tip = ledger.height();
        let metrics = Arc::new(Metrics::default());
        metrics.height.set(finalized_tip as i64);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                ledger,
                log,
                committed: None,
                pending: HashMap::new(),
                walks: Cell::new(0),
                pool,
                finalized_tip,
                halted: None,
            })),
            chain_id,
            committed: Arc::new(watch::channel(finalized_tip).0),
            metrics,
            sizing: Arc::new(Sizing {
                target: AtomicUsize::new(FIRST_BLOCK_TARGET),
                last_weight: AtomicUsize::new(0),
            }),
        }
    }

    /// Adapts the size of the blocks this node builds to how fast it executes them: the next
    /// block carries what this node executes in [`BUILD_BUDGET`] at the rate of the block just
    /// built (`weight`, numbers touched, in `elapsed`), between [`MIN_BLOCK_TARGET`] and
    /// [`MAX_BLOCK_WEIGHT`].
    ///
    /// Every validator executes a proposal before voting, and a proposal that takes longer than
    /// the consensus timeouts is never finalized: under a burst, blocks of the full
    /// [`MAX_BLOCK_TXS`] stalled a 4-node network on 2 cores at once. Only the proposer's choice
    /// depends on this; verifying accepts any block up to the maximum.
    pub fn note_build(&self, elapsed: std::time::Duration) {
        let weight = self.sizing.last_weight.load(Ordering::Relaxed);
        if weight < MIN_BLOCK_TARGET {
            return;
        }
        let secs = elapsed.as_secs_f64().max(1e-6);
        let fits = (weight as f64 / secs * BUILD_BUDGET.as_secs_f64()) as usize;
        let previous = self.sizing.target.load(Ordering::Relaxed);
        // Shrink at once, grow by halves.
        let next = if fits < previous { fits } else { (previous + fits) / 2 };
        self.sizing.target.store(next.clamp(MIN_BLOCK_TARGET, MAX_BLOCK_WEIGHT), Ordering::Relaxed);
    }

    /// The node's metrics, which the chain keeps current at every submission and commit.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The committed height, updated after every commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Runs `f` on the log of finalized blocks.
    pub fn with_log<T>(&self, f: impl FnOnce(&L) -> T) -> T {
        f(&self.lock().log)
    }

    /// Whether the transaction waits in the mempool.
    pub fn is_pending(&self, id: &TxId) -> bool {
        self.lock().pool.contains(id)
    }

    fn lock(&self) -> MutexGuard<'_, Inner<S, L>> {
        // A panic while holding the lock leaves no half-applied state behind (the ledger
        // commits atomically), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// Runs `f` on the committed ledger.
    pub fn with_ledger<T>(&self, f: impl FnOnce(&Ledger<S>) -> T) -> T {
        f(&self.lock().ledger)
    }

    pub fn height(&self) -> u64 {
        self.lock().ledger.height()
    }

    pub fn state_hash(&self) -> Digest {
        self.lock().ledger.state_hash()
    }

    pub fn finalized_tip(&self) -> u64 {
        self.lock().finalized_tip
    }

    pub fn mempool_len(&self) -> usize {
        self.lock().pool.len()
    }

    pub fn halted(&self) -> Option<String> {
        self.lock().halted.clone()
    }

    pub fn block_info(&self, height: u64) -> Result<Option<BlockInfo>, StoreError> {
        self.lock().log.get(height)
    }

    /// Notes that consensus finalized a block at `height` (the tip may run ahead of what is
    /// applied while the node catches up).
    pub fn note_tip(&self, height: u64) {
        let mut inner = self.lock();
        inner.finalized_tip = inner.finalized_tip.max(height);
    }

    /// How many executed blocks wait for finalization (at most [`MAX_PENDING`]).
    pub fn pending_blocks(&self) -> usize {
        self.lock().pending.len()
    }

    /// Whether the block is already known: committed (at or below the committed height) or
    /// executed and pending.
    pub fn knows(&self, digest: &Digest, height: u64) -> bool {
        let inner = self.lock();
        height <= inner.ledger.height() || inner.pending.contains_key(digest)
    }

    /// Whether this node already holds the block as valid: executed and pending, or the very
    /// block finalized at its height (not merely some block at a finalized height).
    pub fn holds_valid(&self, digest: &Digest, height: u64) -> bool {
        let inner = self.lock();
        if inner.pending.contains_key(digest) {
            return true;
        }
        if height == 0 || height > inner.ledger.height() {
            return false;
        }
        matches!(inner.log.get(height), Ok(Some(info)) if info.digest == digest.to_string())
    }

    // --- transactions entering the node

    /// Checks a transaction from a client or a peer and pools it. Signatures are checked here,
    /// once, outside the lock; a block carrying the same bytes later reuses the result.
    pub fn submit(&self, bytes: &[u8]) -> Result<VerifiedTx, SubmitError> {
        self.submit_checked(bytes, None)
    }

    /// Like [`Self::submit`]; with `dry_run_at`, the ledger first applies the transaction to
    /// the committed state at that block time (or the last block time, if later) and refuses it
    /// with the ledger's reason if it fails, before it enters the pool. Nothing is written.
    /// A transaction that needs another one still pending (a release before its activation)
    /// fails this check; clients send those without it.
    pub fn submit_checked(
        &self,
        bytes: &[u8],
        dry_run_at: Option<Timestamp>,
    ) -> Result<VerifiedTx, SubmitError> {
        let mut results = self.submit_batch(&[Bytes::copy_from_slice(bytes)], dry_run_at);
        results.pop().unwrap_or_else(|| Err(SubmitError::Unavailable("empty batch".into())))
    }

    /// [`Self::submit_checked`] for many transactions, with one result each, in order. The
    /// signatures of the whole batch are checked at once ([`npchain_core::verify_batch`]) and
    /// the chain is locked once for the batch, not once per transaction.
    pub fn submit_batch(
        &self,
        txs: &[Bytes],
        dry_run_at: Option<Timestamp>,
    ) -> Vec<Result<VerifiedTx, SubmitError>> {
        let results = self.admit(txs, dry_run_at);
        for result in &results {
            if let Err(e) = result {
                self.metrics.rejected("submit", e.code());
            }
        }
        self.metrics.mempool.set(self.mempool_len() as i64);
        results
    }

    fn admit(&self, txs: &[Bytes], dry_run_at: Option<Timestamp>) -> Vec<Result<VerifiedTx, SubmitError>> {
        // Decode, and check against the pool and the committed state, under one lock.
        let checked: Vec<Result<SignedTransaction, SubmitError>> = {
            let inner = self.lock();
            let mut ids = HashSet::with_capacity(txs.len());
            txs.iter()
                .map(|bytes| {
                    let tx = decode(bytes)?;
                    let id = tx.id();
                    if !ids.insert(id) {
                        return Err(SubmitError::Duplicate(id));
                    }
                    inner.precheck(&id, &tx)?;
                    Ok(tx)
                })
                .collect()
        };
        // Signatures outside the lock, all at once.
        let mut results: Vec<Option<Result<VerifiedTx, SubmitError>>> = Vec::with_capacity(txs.len());
        let (mut slots, mut unverified) = (Vec::new(), Vec::new());
        for (i, c) in checked.into_iter().enumerate() {
            match c {
                Ok(tx) => {
                    slots.push(i);
                    unverified.push(tx);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let verified = npchain_core::verify_batch(unverified, &self.chain_id, &mut rand::rng());
        let mut inner = self.lock();
        for (i, v) in slots.into_iter().zip(verified) {
            let result = v
                .map_err(|e| SubmitError::Invalid(e.to_string()))
                .and_then(|tx| inner.pool_checked(tx, &txs[i], dry_run_at));
            results[i] = Some(result);
        }
        results.into_iter().map(|r| r.expect("every transaction has a result")).collect()
    }

    // --- consensus: build, verify, finalize

    /// Executes blocks consensus already holds (ancestors of a proposal or of a block to
    /// verify), oldest first, that this node has not executed yet.
    pub fn absorb(&self, blocks: &[Arc<Block>], now: Timestamp) -> Result<(), InvalidBlock> {
        for block in blocks {
            let digest = commonware_cryptography::Digestible::digest(block.as_ref());
            self.execute(block, digest, now, false)?;
        }
        Ok(())
    }

    /// Verifies a proposed block (its parent chain absorbed first) and keeps its execution.
    /// On top of what makes any block valid, a proposal must not be ahead of this node's clock
    /// nor heavier than [`MAX_BLOCK_WEIGHT`]: these are the rules of voting.
    pub fn verify(&self, block: &Block, digest: Digest, now: Timestamp) -> Result<(), InvalidBlock> {
        self.execute(block, digest, now, true)
    }

    /// Executes a block on its branch. `proposal`: also apply the voting rules. A block that
    /// consensus finalized (or this node already holds as an ancestor) was voted for by a
    /// quorum, so this node's clock gets no veto then.
    fn execute(
        &self,
        block: &Block,
        digest: Digest,
        now: Timestamp,
        proposal: bool,
    ) -> Result<(), InvalidBlock> {
        let height = block.height;
        if self.knows(&digest, height) {
            return Ok(());
        }
        // Decode and verify signatures outside the lock, reusing the pool's checks.
        let txs = self.verified_txs(block)?;
        let mut inner = self.lock();
        if inner.pending.contains_key(&digest) || height <= inner.ledger.height() {
            return Ok(());
        }
        let (parent_time, branch_txs) = {
            let chain = inner.branch(block.parent, height - 1)?;
            let parent_time =
                chain.last().map_or(inner.ledger.block_time(), |p| p.executed.outcome().block_time);
            let seen: HashSet<TxId> = chain.iter().flat_map(|p| p.txs.iter().copied()).collect();
            (parent_time, seen)
        };
        if block.time < parent_time {
            return Err(InvalidBlock::TimeBackwards { height, time: block.time, parent: parent_time });
        }
        if proposal && block.time.millis() > now.millis().saturating_add(MAX_CLOCK_DRIFT_MS) {
            return Err(InvalidBlock::TimeAhead { height, time: block.time, now });
        }
        let mut ids = HashSet::with_capacity(txs.len());
        for tx in &txs {
            if !ids.insert(tx.id()) || branch_txs.contains(&tx.id()) {
                return Err(InvalidBlock::DuplicateTx { height, tx: tx.id() });
            }
        }
        let executed = {
            let chain = inner.branch(block.parent, height - 1)?;
            let layers: Vec<&Executed> = chain.iter().map(|p| &p.executed).collect();
            if proposal {
                let mut weight = BlockWeight::default();
                for tx in &txs {
                    inner
                        .ledger
                        .weigh(&layers, &mut weight, tx)
                        .map_err(|e| InvalidBlock::Execution { height, source: BlockError::Store(e) })?;
                }
                if weight.total() > MAX_BLOCK_WEIGHT {
                    return Err(InvalidBlock::TooHeavy { height, weight: weight.total() });
                }
            }
            inner
                .ledger
                .execute(&layers, height, block.time, &txs)
                .map_err(|source| InvalidBlock::Execution { height, source })?
        };
        if executed.state_hash() != block.state_hash {
            return Err(InvalidBlock::StateHash {
                height,
                claimed: block.state_hash,
                computed: executed.state_hash(),
            });
        }
        inner.keep(digest, block.parent, executed, ids);
        Ok(())
    }

    fn verified_txs(&self, block: &Block) -> Result<Vec<VerifiedTx>, InvalidBlock> {
        let height = block.height;
        if block.txs.len() > MAX_BLOCK_TXS {
            return Err(InvalidBlock::Transaction {
                height,
                index: MAX_BLOCK_TXS,
                reason: "too many".into(),
            });
        }
        let mut out = Vec::with_capacity(block.txs.len());
        let mut unverified = Vec::new();
        {
            // A transaction pooled with exactly these bytes was decoded and verified on entry.
            let inner = self.lock();
            for (index, bytes) in block.txs.iter().enumerate() {
                let pooled =
                    SignedTransaction::id_of_encoded(bytes).and_then(|id| inner.pool.verified(&id, bytes));
                match pooled {
                    Some(v) => out.push(Some(v.clone())),
                    None => {
                        let tx = SignedTransaction::from_bytes(bytes).map_err(|e| {
                            InvalidBlock::Transaction { height, index, reason: e.to_string() }
                        })?;
                        out.push(None);
                        unverified.push((index, tx));
                    }
                }
            }
        }
        let (slots, unverified): (Vec<usize>, Vec<SignedTransaction>) = unverified.into_iter().unzip();
        let verified = npchain_core::verify_batch(unverified, &self.chain_id, &mut rand::rng());
        for (index, v) in slots.into_iter().zip(verified) {
            let v = v.map_err(|e| InvalidBlock::Transaction { height, index, reason: e.to_string() })?;
            out[index] = Some(v);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Builds a block on `parent` (already absorbed) at the proposer's clock `now`: pooled
    /// transactions not yet on the branch, executed to get the state hash.
    pub fn build(
        &self,
        parent: &Block,
        parent_digest: Digest,
        now: Timestamp,
    ) -> Result<Block, InvalidBlock> {
        let height = parent.height + 1;
        let time = Timestamp(now.millis().max(parent.time.millis()));
        let mut inner = self.lock();
        let (selected, executed) = {
            let chain = inner.branch(parent_digest, parent.height)?;
            let on_branch: HashSet<TxId> = chain.iter().flat_map(|p| p.txs.iter().copied()).collect();
            let target = self.sizing.target.load(Ordering::Relaxed);
            let layers: Vec<&Executed> = chain.iter().map(|p| &p.executed).collect();
            // Weighed as verifiers weigh it; a read that fails counts as a full block, so the
            // transaction goes alone or waits.
            let mut weight = BlockWeight::default();
            let (selected, weight) = inner.pool.select(
                target,
                MAX_BLOCK_TXS,
                MAX_BLOCK_TX_BYTES,
                |id| on_branch.contains(id),
                |tx| inner.ledger.weigh(&layers, &mut weight, tx).unwrap_or(MAX_BLOCK_WEIGHT),
            );
            self.sizing.last_weight.store(weight, Ordering::Relaxed);
            let txs: Vec<VerifiedTx> = selected.iter().map(|(t, _)| t.clone()).collect();
            let executed = inner
                .ledger
                .execute(&layers, height, time, &txs)
                .map_err(|source| InvalidBlock::Execution { height, source })?;
            (selected, executed)
        };
        let block = Block {
            parent: parent_digest,
            height,
            time,
            state_hash: executed.state_hash(),
            txs: selected.iter().map(|(_, b)| b.clone()).collect(),
        };
        let digest = commonware_cryptography::Digestible::digest(&block);
        let ids = selected.iter().map(|(t, _)| t.id()).collect();
        inner.keep(digest, parent_digest, executed, ids);
        Ok(block)
    }

    /// Applies a finalized block. Idempotent: a block at or below the committed height is
    /// skipped. On a failure the node halts (stops applying) and says why.
    pub fn finalize(&self, block: &Block, digest: Digest) -> Result<Finalized, ApplyError> {
        if let Some(reason) = self.halted() {
            return Err(ApplyError::Halted(reason));
        }
        let result = self.finalize_inner(block, digest);
        if let Err(e) = &result {
            self.lock().halted = Some(e.to_string());
        }
        result
    }

    fn finalize_inner(&self, block: &Block, digest: Digest) -> Result<Finalized, ApplyError> {
        let committed = self.height();
        if block.height <= committed {
            return Ok(Finalized::AlreadyApplied);
        }
        if block.height != committed + 1 {
            return Err(ApplyError::Gap { height: committed, got: block.height });
        }
        // Finalized by a quorum: our clock does not get a veto, but the rest is checked.
        self.execute(block, digest, Timestamp(0), false)?;
        let mut inner = self.lock();
        let pending = inner
            .pending
            .remove(&digest)
            .ok_or(InvalidBlock::UnknownParent { height: block.height, parent: digest })?;
        let outcome = pending.executed.outcome();
        let info = BlockInfo {
            height: block.height,
            digest: digest.to_string(),
            parent: block.parent.to_string(),
            block_time_ms: block.time.millis(),
            state_hash: block.state_hash.to_string(),
            txs: outcome.results.iter().map(|(id, result)| TxResult::new(id, result)).collect(),
            events: outcome.events.iter().map(EventInfo::from).collect(),
        };
        // The log first: if the node dies between the two writes, the block is delivered again
        // and both are written again; the other order could lose the log entry.
        inner.log.put(&info)?;
        let outcome = inner.ledger.commit(pending.executed).map_err(|e| match e {
            BlockError::Store(s) => ApplyError::Store(s),
            other => ApplyError::Invalid(InvalidBlock::Execution { height: block.height, source: other }),
        })?;
        inner.committed = Some(digest);
        inner.finalized_tip = inner.finalized_tip.max(block.height);
        let height = block.height;
        inner.prune(digest);
        for id in &pending.txs {
            inner.pool.remove(id);
        }
        inner.pool.expire(block.time);
        let mempool = inner.pool.len();
        drop(inner);
        self.count(&outcome, mempool);
        self.committed.send_replace(height);
        Ok(Finalized::Applied(outcome))
    }

    fn count(&self, outcome: &BlockOutcome, mempool: usize) {
        let m = &self.metrics;
        m.height.set(outcome.height as i64);
        m.mempool.set(mempool as i64);
        for (_, result) in &outcome.results {
            match result {
                Ok(()) => {
                    m.tx_applied.inc();
                }
                Err(e) => m.rejected("block", e.code()),
            }
        }
    }
}

impl<S: Store, L: BlockLog> Inner<S, L> {
    fn precheck(&self, id: &TxId, tx: &SignedTransaction) -> Result<(), SubmitError> {
        let inner = self;
        if let Some(reason) = &inner.halted {
            return Err(SubmitError::Unavailable(reason.clone()));
        }
        if inner.pool.contains(id) {
            return Err(SubmitError::Duplicate(*id));
        }
        let ledger = &inner.ledger;
        if ledger.tx_applied(id).map_err(|e| SubmitError::Unavailable(e.to_string()))? {
            return Err(SubmitError::Committed(*id));
        }
        let now = ledger.block_time();
        if tx.tx.expires_at < now {
            return Err(SubmitError::Expired {
                expires_at_ms: tx.tx.expires_at.millis(),
                now_ms: now.millis(),
            });
        }
        let latest = now.plus_secs(ledger.policy().tx_ttl_max_secs);
        if tx.tx.expires_at > latest.plus_secs(MAX_CLOCK_DRIFT_MS / 1000) {
            return Err(SubmitError::Invalid(format!(
                "expires_at {} ms is beyond the longest validity window (the last block time plus {} s)",
                tx.tx.expires_at.millis(),
                ledger.policy().tx_ttl_max_secs
            )));
        }
        Ok(())
    }

    /// Pools a verified transaction; with `dry_run_at`, only if the ledger would apply it to
    /// the committed state at that time.
    fn pool_checked(
        &mut self,
        verified: VerifiedTx,
        bytes: &Bytes,
        dry_run_at: Option<Timestamp>,
    ) -> Result<VerifiedTx, SubmitError> {
        if let Some(at) = dry_run_at {
            let ledger = &self.ledger;
            let time = Timestamp(at.millis().max(ledger.block_time().millis()));
            let executed = ledger
                .execute(&[], ledger.height() + 1, time, std::slice::from_ref(&verified))
                .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
            if let Some((_, Err(e))) = executed.outcome().results.first() {
                return Err(SubmitError::Refused { code: e.code(), reason: e.to_string() });
            }
        }
        let id = verified.id();
        match self.pool.insert(verified.clone(), bytes.clone()) {
            Ok(()) => Ok(verified),
            Err(Refused::Duplicate) => Err(SubmitError::Duplicate(id)),
            Err(Refused::Full) => Err(SubmitError::Full(self.pool.capacity())),
        }
    }

    /// Keeps an executed block, just executed on the branch [`Self::branch`] last walked. Past
    /// [`MAX_PENDING`] blocks, the least recently used go (the highest first among equals):
    /// forks nobody builds on while finalization stalls. A block that goes is executed again
    /// if consensus still needs it.
    fn keep(&mut self, digest: Digest, parent: Digest, executed: Executed, txs: HashSet<TxId>) {
        let used = Cell::new(self.walks.get());
        self.pending.insert(digest, Pending { parent, executed, txs, used });
        while self.pending.len() > MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| (p.used.get(), std::cmp::Reverse(p.executed.height())))
                .map(|(d, _)| *d)
                .expect("pending is not empty");
            self.pending.remove(&oldest);
        }
    }

    /// Keeps only the pending blocks that descend from `committed`, the block just committed.
    fn prune(&mut self, committed: Digest) {
        let mut by_height: Vec<(u64, Digest, Digest)> =
            self.pending.iter().map(|(d, p)| (p.executed.height(), *d, p.parent)).collect();
        by_height.sort_unstable();
        let mut live = HashSet::from([committed]);
        for (_, digest, parent) in by_height {
            if live.contains(&parent) {
                live.insert(digest);
            }
        }
        self.pending.retain(|d, _| live.contains(d));
    }

    /// The pending blocks from just above the committed height up to `digest` at `height`,
    /// oldest first (empty when `height` is the committed height).
    fn branch(&self, mut digest: Digest, mut height: u64) -> Result<Vec<&Pending>, InvalidBlock> {
        let committed = self.ledger.height();
        if height < committed {
            return Err(InvalidBlock::Stale { height: height + 1, committed });
        }
        let walk = self.walks.get() + 1;
        self.walks.set(walk);
        let mut out = Vec::new();
        while height > committed {
            let p = self
                .pending
                .get(&digest)
                .ok_or(InvalidBlock::UnknownParent { height: height + 1, parent: digest })?;
            p.used.set(walk);
            out.push(p);
            digest = p.parent;
            height -= 1;
        }
        if let Some(tip) = self.committed
            && tip != digest
        {
            return Err(InvalidBlock::UnknownParent { height: committed + 1, parent: digest });
        }
        out.reverse();
        Ok(out)
    }
}
