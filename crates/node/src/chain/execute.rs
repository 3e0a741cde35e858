//! Executing blocks on their ancestry: what the proposer builds (filled to what it executes in
//! [`BUILD_BUDGET`]), what a validator votes for (the voting rules: not ahead of its clock, not
//! heavier than [`MAX_BLOCK_WEIGHT`]), and the ancestors consensus hands over, which a quorum
//! already voted for and so are held only to the rules of validity.

use super::{
    BlockLog, Chain,
    mempool::{Budget, SMALL_WEIGHT},
};
use npchain_api::block::{Block, MAX_BLOCK_TX_BYTES, MAX_BLOCK_TXS};
use npchain_core::{
    BlockError, BlockWeight, Executed, InvalidTx, Store,
    tx::{MAX_GROUP, SignedTransaction, VerifiedTx},
    types::{Digest, Timestamp, TxId},
};
use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

/// The execution time a proposer aims its blocks at (see [`Chain::note_build`]).
pub const BUILD_BUDGET: std::time::Duration = std::time::Duration::from_millis(200);
/// What the first block a node builds may carry, before it has measured itself.
pub const FIRST_BLOCK_TARGET: usize = 2_000;
/// The heaviest block a validator votes for, in numbers touched ([`npchain_core::Ledger::weigh`]).
///
/// Every validator executes a proposal before voting, and one that takes longer than the
/// consensus timeouts is never finalized: blocks of 100,000 numbers stalled a 4-node network
/// on 2 cores for good. A group of [`MAX_GROUP`] numbers always fits, so every valid
/// transaction can be carried.
pub const MAX_BLOCK_WEIGHT: usize = 20_000;
const _: () = assert!(MAX_GROUP <= MAX_BLOCK_WEIGHT);
/// The least a block may be aimed at, in numbers touched, however slow the last one was.
pub const MIN_BLOCK_TARGET: usize = 256;

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
    #[error("block {height}: transaction {MAX_BLOCK_TXS} is invalid: too many")]
    TooManyTxs { height: u64 },
    #[error("block {height}: transaction {index} is invalid: {source}")]
    Transaction {
        height: u64,
        index: usize,
        #[source]
        source: InvalidTx,
    },
    #[error("block {height}: transaction {tx} appears twice on this branch")]
    DuplicateTx { height: u64, tx: TxId },
    #[error("block {height} touches {weight} numbers, more than the {MAX_BLOCK_WEIGHT} a block may")]
    TooHeavy { height: u64, weight: usize },
    #[error("block {height}: its next epoch's validators differ from the ones the ledger derives")]
    NextValidators { height: u64 },
    #[error("block {height}: state hash {claimed} differs from the computed {computed}")]
    StateHash { height: u64, claimed: Digest, computed: Digest },
    #[error("block {height}: {source}")]
    Execution {
        height: u64,
        #[source]
        source: BlockError,
    },
}

/// The rules a block is executed under.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rules {
    /// A proposal to vote on: also the voting rules, at this node's clock `now`.
    Voting { now: Timestamp },
    /// A block a quorum already voted for (finalized, or an ancestor consensus holds): this
    /// node's clock gets no veto, the rest is checked.
    Validity,
}

/// What the proposer learned about its own speed.
#[derive(Debug)]
pub(super) struct Sizing {
    /// What the next block may weigh (numbers touched).
    target: AtomicUsize,
    /// What the last block built here weighed.
    last_weight: AtomicUsize,
}

impl Default for Sizing {
    fn default() -> Self {
        Self { target: AtomicUsize::new(FIRST_BLOCK_TARGET), last_weight: AtomicUsize::new(0) }
    }
}

impl<S: Store + Send + 'static, L: BlockLog> Chain<S, L> {
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

    /// Executes blocks consensus already holds (ancestors of a proposal or of a block to
    /// verify), oldest first, that this node has not executed yet.
    pub fn absorb(&self, blocks: &[Arc<Block>]) -> Result<(), InvalidBlock> {
        for block in blocks {
            let digest = commonware_cryptography::Digestible::digest(block.as_ref());
            self.execute(block, digest, Rules::Validity)?;
        }
        Ok(())
    }

    /// Verifies a proposed block (its parent chain absorbed first) and keeps its execution.
    /// On top of what makes any block valid, a proposal must not be ahead of this node's clock
    /// nor heavier than [`MAX_BLOCK_WEIGHT`]: these are the rules of voting.
    pub fn verify(&self, block: &Block, digest: Digest, now: Timestamp) -> Result<(), InvalidBlock> {
        self.execute(block, digest, Rules::Voting { now })
    }

    /// Executes a block on its ancestry under `rules` and keeps the execution.
    pub(super) fn execute(&self, block: &Block, digest: Digest, rules: Rules) -> Result<(), InvalidBlock> {
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
        let (parent_time, ancestry_txs) = {
            let ancestry = inner.ancestry(block.parent, height - 1)?;
            let parent_time =
                ancestry.last().map_or(inner.ledger.block_time(), |p| p.executed.outcome().block_time);
            let seen: HashSet<TxId> = ancestry.iter().flat_map(|p| p.txs.iter().copied()).collect();
            (parent_time, seen)
        };
        if block.time < parent_time {
            return Err(InvalidBlock::TimeBackwards { height, time: block.time, parent: parent_time });
        }
        if let Rules::Voting { now } = rules
            && block.time.millis() > now.millis().saturating_add(MAX_CLOCK_DRIFT_MS)
        {
            return Err(InvalidBlock::TimeAhead { height, time: block.time, now });
        }
        let mut ids = HashSet::with_capacity(txs.len());
        for tx in &txs {
            if !ids.insert(tx.id()) || ancestry_txs.contains(&tx.id()) {
                return Err(InvalidBlock::DuplicateTx { height, tx: tx.id() });
            }
        }
        let mut large = false;
        let executed = {
            let ancestry = inner.ancestry(block.parent, height - 1)?;
            let layers: Vec<&Executed> = ancestry.iter().map(|p| &p.executed).collect();
            if let Rules::Voting { .. } = rules {
                let mut weight = BlockWeight::default();
                for tx in &txs {
                    let w = inner
                        .ledger
                        .weigh(&layers, &mut weight, tx)
                        .map_err(|e| InvalidBlock::Execution { height, source: BlockError::Store(e) })?;
                    large |= w > SMALL_WEIGHT;
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
        let next_validators = executed.outcome().next_validators.as_deref().unwrap_or_default();
        if next_validators != block.next_validators.as_slice() {
            return Err(InvalidBlock::NextValidators { height });
        }
        if executed.state_hash() != block.state_hash {
            return Err(InvalidBlock::StateHash {
                height,
                claimed: block.state_hash,
                computed: executed.state_hash(),
            });
        }
        inner.keep(digest, block.parent, executed, ids, large);
        Ok(())
    }

    fn verified_txs(&self, block: &Block) -> Result<Vec<VerifiedTx>, InvalidBlock> {
        let height = block.height;
        if block.txs.len() > MAX_BLOCK_TXS {
            return Err(InvalidBlock::TooManyTxs { height });
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
                        let tx = SignedTransaction::from_bytes(bytes)
                            .map_err(|source| InvalidBlock::Transaction { height, index, source })?;
                        out.push(None);
                        unverified.push((index, tx));
                    }
                }
            }
        }
        let (slots, unverified): (Vec<usize>, Vec<SignedTransaction>) = unverified.into_iter().unzip();
        let verified = npchain_core::verify_batch(unverified, &self.chain_id, &mut rand::rng());
        for (index, v) in slots.into_iter().zip(verified) {
            let v = v.map_err(|source| InvalidBlock::Transaction { height, index, source })?;
            out[index] = Some(v);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Builds a block on `parent` (already absorbed) at the proposer's clock `now`: pooled
    /// transactions not yet on its ancestry, executed to get the state hash.
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
            let ancestry = inner.ancestry(parent_digest, parent.height)?;
            let on_ancestry: HashSet<TxId> = ancestry.iter().flat_map(|p| p.txs.iter().copied()).collect();
            let target = self.sizing.target.load(Ordering::Relaxed);
            let layers: Vec<&Executed> = ancestry.iter().map(|p| &p.executed).collect();
            // Weighed as verifiers weigh it; a read that fails counts as a full block, so the
            // transaction goes alone or waits.
            let mut weight = BlockWeight::default();
            let budget = Budget {
                target,
                max_weight: MAX_BLOCK_WEIGHT,
                max_txs: MAX_BLOCK_TXS,
                max_bytes: MAX_BLOCK_TX_BYTES,
                after_large: inner.pending.get(&parent_digest).is_some_and(|p| p.large),
            };
            let selection = inner.pool.select(
                budget,
                |id| on_ancestry.contains(id),
                |tx| inner.ledger.weigh(&layers, &mut weight, tx).unwrap_or(MAX_BLOCK_WEIGHT),
            );
            self.sizing.last_weight.store(selection.weight, Ordering::Relaxed);
            let txs: Vec<VerifiedTx> = selection.txs.iter().map(|(t, _)| t.clone()).collect();
            let executed = inner
                .ledger
                .execute(&layers, height, time, &txs)
                .map_err(|source| InvalidBlock::Execution { height, source })?;
            (selection, executed)
        };
        let block = Block {
            parent: parent_digest,
            height,
            time,
            state_hash: executed.state_hash(),
            next_validators: executed.outcome().next_validators.clone().unwrap_or_default(),
            txs: selected.txs.iter().map(|(_, b)| b.clone()).collect(),
        };
        let digest = commonware_cryptography::Digestible::digest(&block);
        let ids = selected.txs.iter().map(|(t, _)| t.id()).collect();
        inner.keep(digest, parent_digest, executed, ids, selected.large);
        Ok(block)
    }
}
