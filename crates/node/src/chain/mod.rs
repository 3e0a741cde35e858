//! The node's application state: the committed ledger, the blocks executed on top of it that
//! consensus has not finalized yet, the mempool, and the record of finalized blocks, behind one
//! lock ([`Chain`]).
//!
//! Consensus (through marshal) asks three things of it: build a block on a parent, verify a
//! block, and apply a finalized block. Building and verifying execute the block on the
//! committed state plus its unfinalized ancestors ([`Ledger::execute`]) and keep the result, so
//! that finalizing usually just writes what was already computed. Applying is idempotent:
//! a block at or below the committed height is acknowledged and skipped.
//!
//! - `admit`: transactions entering the node (decode, replay checks, one signature batch, pool);
//! - `pending`: the fork tree of executed, unfinalized blocks and its eviction;
//! - `execute`: building, verifying (the voting rules) and sizing blocks;
//! - `finalize`: applying a finalized block, and halting when that fails;
//! - [`log`]: the block log the chain writes, and its in-memory implementation;
//! - [`mempool`]: the pool of verified transactions.

mod admit;
mod execute;
mod finalize;
pub mod log;
pub mod mempool;
mod pending;

pub use execute::{
    BUILD_BUDGET, FIRST_BLOCK_TARGET, InvalidBlock, MAX_BLOCK_WEIGHT, MAX_CLOCK_DRIFT_MS, MIN_BLOCK_TARGET,
};
pub use finalize::{ApplyError, Finalized};
pub use log::{BlockLog, MemBlockLog};
pub use pending::MAX_PENDING;

use crate::{metrics::Metrics, storage::BlockLogError, storage::BlockRecord};
use execute::Sizing;
use mempool::Mempool;
use npchain_core::{
    Ledger, Store,
    tx::ChainId,
    types::{Digest, PublicKey, TxId},
};
use pending::Pending;
use std::{
    cell::Cell,
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};
use tokio::sync::watch;

/// What the lock guards.
struct Inner<S: Store, L: BlockLog> {
    ledger: Ledger<S>,
    log: L,
    /// Digest of the last committed block, once known in this run.
    last_committed: Option<Digest>,
    pending: HashMap<Digest, Pending>,
    /// Counts walks of [`Inner::ancestry`], for [`Pending::used`].
    walks: Cell<u64>,
    pool: Mempool,
    finalized_tip: u64,
    /// Why the node stopped applying blocks: the first failure to finalize.
    halted: Option<Arc<ApplyError>>,
}

/// The shared application state. Cheap to clone (an `Arc`).
pub struct Chain<S: Store, L: BlockLog> {
    inner: Arc<Mutex<Inner<S, L>>>,
    chain_id: ChainId,
    /// The committed height, for whoever waits for commits (event streams).
    committed_height: Arc<watch::Sender<u64>>,
    metrics: Arc<Metrics>,
    /// How big the blocks this node builds are: see [`Self::note_build`].
    sizing: Arc<Sizing>,
}

impl<S: Store, L: BlockLog> Clone for Chain<S, L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            chain_id: self.chain_id,
            committed_height: self.committed_height.clone(),
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
                last_committed: None,
                pending: HashMap::new(),
                walks: Cell::new(0),
                pool,
                finalized_tip,
                halted: None,
            })),
            chain_id,
            committed_height: Arc::new(watch::channel(finalized_tip).0),
            metrics,
            sizing: Arc::new(Sizing::default()),
        }
    }

    /// The node's metrics, which the chain keeps current at every submission and commit.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The committed height, updated after every commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.committed_height.subscribe()
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

    /// Up to `max` pooled transactions that were already pooled at `mark` and are still waiting
    /// (oldest first), and the mark of now: [`crate::consensus`] relays them again.
    pub fn waiting_since(&self, mark: u64, max: usize) -> (Vec<bytes::Bytes>, u64) {
        let inner = self.lock();
        (inner.pool.pooled_before(mark, max), inner.pool.mark())
    }

    /// Why the node stopped applying blocks, if it did.
    pub fn halted(&self) -> Option<Arc<ApplyError>> {
        self.lock().halted.clone()
    }

    /// Blocks per epoch, from the genesis.
    pub fn blocks_per_epoch(&self) -> u64 {
        self.with_ledger(|l| l.blocks_per_epoch().get())
    }

    /// Every epoch's validator set the ledger recorded, oldest first, and the set the next
    /// boundary would record as things stand.
    pub fn validator_sets(&self) -> (Vec<(u64, Vec<PublicKey>)>, Vec<PublicKey>) {
        self.with_ledger(|l| {
            // Both read the ledger's in-memory caches; a failure is a corrupt record.
            let sets = l.validator_sets().unwrap_or_else(|e| panic!("cannot read the validator sets: {e}"));
            let pending =
                l.pending_validators().unwrap_or_else(|e| panic!("cannot read the validator keys: {e}"));
            (sets, pending)
        })
    }

    /// Notes the epoch consensus runs in now.
    pub fn note_epoch(&self, epoch: u64, validators: usize) {
        self.metrics().epoch.set(epoch as i64);
        self.metrics().validators.set(validators as i64);
    }

    /// The block log's record of the finalized block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<BlockRecord>, BlockLogError> {
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
        matches!(inner.log.get(height), Ok(Some(record)) if record.digest == *digest)
    }
}
