//! Applying a finalized block: its record to the block log first, then the ledger commit, then
//! the pending blocks that no longer descend from the committed one are dropped. Idempotent
//! (a block at or below the committed height is skipped); a failure halts the node, which then
//! applies nothing more and refuses transactions, naming the cause.

use super::{BlockLog, Chain, InvalidBlock, execute::Rules};
use crate::storage::{BlockLogError, BlockRecord};
use npchain_api::Block;
use npchain_core::{BlockError, BlockOutcome, Store, StoreError, types::Digest};
use std::sync::Arc;

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
    #[error("storage failed: {0}")]
    Log(#[from] BlockLogError),
    /// An earlier block failed: the node applies nothing more.
    #[error("node halted earlier: {0}")]
    Halted(Arc<ApplyError>),
}

impl<S: Store + Send + 'static, L: BlockLog> Chain<S, L> {
    /// Applies a finalized block. Idempotent: a block at or below the committed height is
    /// skipped. On a failure the node halts (stops applying) and keeps the cause, which it
    /// shares with the caller.
    pub fn finalize(&self, block: &Block, digest: Digest) -> Result<Finalized, Arc<ApplyError>> {
        if let Some(cause) = self.halted() {
            return Err(Arc::new(ApplyError::Halted(cause)));
        }
        self.finalize_inner(block, digest).map_err(|e| {
            let cause = Arc::new(e);
            self.lock().halted = Some(cause.clone());
            cause
        })
    }

    fn finalize_inner(&self, block: &Block, digest: Digest) -> Result<Finalized, ApplyError> {
        let committed = self.height();
        if block.height <= committed {
            return Ok(Finalized::AlreadyApplied);
        }
        if block.height != committed + 1 {
            return Err(ApplyError::Gap { height: committed, got: block.height });
        }
        self.execute(block, digest, Rules::Validity)?;
        let mut inner = self.lock();
        let pending = inner
            .pending
            .remove(&digest)
            .ok_or(InvalidBlock::UnknownParent { height: block.height, parent: digest })?;
        let record = BlockRecord::new(block, digest, pending.executed.outcome());
        // The log first: if the node dies between the two writes, the block is delivered again
        // and both are written again; the other order could lose the log entry.
        inner.log.put(&record)?;
        let outcome = inner.ledger.commit(pending.executed).map_err(|e| match e {
            BlockError::Store(s) => ApplyError::Store(s),
            other => ApplyError::Invalid(InvalidBlock::Execution { height: block.height, source: other }),
        })?;
        inner.last_committed = Some(digest);
        inner.finalized_tip = inner.finalized_tip.max(block.height);
        inner.prune(digest);
        for id in &pending.txs {
            inner.pool.remove(id);
        }
        inner.pool.expire(block.time);
        let mempool = inner.pool.len();
        drop(inner);
        self.count(&outcome, mempool);
        self.committed_height.send_replace(block.height);
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
