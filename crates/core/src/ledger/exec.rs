//! Executing a block and committing it.
//!
//! [`Ledger::execute`] runs a block on the committed state (or on blocks executed but not yet
//! committed, layered over it) and writes nothing: it checks the height and the block time,
//! prunes the replay set, fires due timers, then applies each transaction in its own write
//! layer; the last block of an epoch then records the next epoch's validator set.
//! [`Ledger::commit`] writes an executed block as one batch and brings the in-memory caches
//! (policy, operators, the routing table) in line.

use super::{
    Ledger,
    ctx::{Ctx, Fail, Key, Reads, decode},
    epochs::{self, closes_epoch, epoch_of},
    keys::{CONFIG_POLICY, number_from_key},
    rules::apply_tx,
    timers::{fire_timers, prune_seen},
};
use crate::{
    error::TxError,
    number::Prefix,
    records::{Event, NumberRecord, OperatorRecord, RangeRecord},
    state_hash::Delta,
    store::{Batch, Change, Meta, Overlay, ReadStore, Store, StoreError, Table, entry_digest_input},
    tx::VerifiedTx,
    types::{Digest, PublicKey, Timestamp, TxId},
};
use commonware_cryptography::lthash::LtHash;
use std::collections::BTreeMap;

/// What applying one block did.
#[derive(Debug, Clone)]
pub struct BlockOutcome {
    pub height: u64,
    pub block_time: Timestamp,
    /// The state hash after the block.
    pub state_hash: Digest,
    /// Per transaction, in block order: applied, or refused with the reason.
    pub results: Vec<(TxId, Result<(), TxError>)>,
    /// Everything the block changed, timers first, then transactions in order, then (in the
    /// last block of an epoch) the validator set's change.
    pub events: Vec<Event>,
    /// In the last block of an epoch: the validators of the next epoch, sorted. `None` in
    /// every other block.
    pub next_validators: Option<Vec<PublicKey>>,
}

/// Why a block could not be applied at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    #[error("block {got} was already applied (the ledger is at height {height})")]
    AlreadyApplied { height: u64, got: u64 },
    #[error("block {got} is not the next block; the ledger is at height {height}")]
    NotNext { height: u64, got: u64 },
    #[error("block time {got} is before the previous block time {last}")]
    TimeWentBackwards { last: Timestamp, got: Timestamp },
    #[error("block {height} was executed on another state than the committed one")]
    WrongParentState { height: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A block executed but not written: its changes, the meta after it, and its outcome.
/// Commit it with [`Ledger::commit`], or layer later blocks on it with [`Ledger::execute`].
#[derive(Debug, Clone)]
pub struct Executed {
    parent_state: Digest,
    batch: Batch,
    meta: Meta,
    outcome: BlockOutcome,
}

impl Executed {
    /// What the block did.
    pub fn outcome(&self) -> &BlockOutcome {
        &self.outcome
    }

    /// The state hash after the block.
    pub fn state_hash(&self) -> Digest {
        self.outcome.state_hash
    }

    /// The block's height.
    pub fn height(&self) -> u64 {
        self.meta.height
    }
}

/// The write batches of executed blocks, oldest first, to layer over the store.
pub(super) fn batches<'e>(pending: &[&'e Executed]) -> Vec<&'e Batch> {
    pending.iter().map(|e| &e.batch).collect()
}

impl<S: Store> Ledger<S> {
    /// Applies the block at `height` (the next one) with its block time and transactions.
    ///
    /// Timers due at or before `block_time` fire first (deemed answers, expiries), then each
    /// transaction is applied or refused on its own; a refused one changes nothing. The whole
    /// block is written to the store as one batch with the new height and state hash.
    pub fn apply_block(
        &mut self,
        height: u64,
        block_time: Timestamp,
        txs: &[VerifiedTx],
    ) -> Result<BlockOutcome, BlockError> {
        let executed = self.execute(&[], height, block_time, txs)?;
        self.commit(executed)
    }

    /// Executes a block without writing anything: on the committed state as `pending` (blocks
    /// executed earlier and not yet committed, oldest first) leaves it. This is how a node
    /// builds and checks blocks whose parents consensus has not finalized yet.
    pub fn execute(
        &self,
        pending: &[&Executed],
        height: u64,
        block_time: Timestamp,
        txs: &[VerifiedTx],
    ) -> Result<Executed, BlockError> {
        let layers = batches(pending);
        let view = Overlay::new(&self.store, &layers);
        let parent = pending.last().map_or(&self.meta, |e| &e.meta);
        if height <= parent.height {
            return Err(BlockError::AlreadyApplied { height: parent.height, got: height });
        }
        if height != parent.height + 1 {
            return Err(BlockError::NotNext { height: parent.height, got: height });
        }
        if block_time < parent.block_time {
            return Err(BlockError::TimeWentBackwards { last: parent.block_time, got: block_time });
        }
        let mut ctx = Ctx::in_epoch(&view, epoch_of(height, self.blocks_per_epoch));
        prune_seen(&mut ctx, block_time)?;
        fire_timers(&mut ctx, block_time)?;
        let mut results = Vec::with_capacity(txs.len());
        for tx in txs {
            match apply_tx(&mut ctx, block_time, tx) {
                Ok(()) => {
                    ctx.commit_tx();
                    results.push((tx.id(), Ok(())));
                }
                Err(Fail::Tx(e)) => {
                    ctx.rollback_tx();
                    results.push((tx.id(), Err(e)));
                }
                Err(Fail::Store(e)) => return Err(e.into()),
            }
        }
        let next_validators = if closes_epoch(height, self.blocks_per_epoch) {
            Some(epochs::close_epoch(&mut ctx)?)
        } else {
            None
        };
        let (changes, events, reads) = ctx.into_block();
        let mut accumulator = parent.accumulator.clone();
        accumulate(&view, &changes, &reads, &mut accumulator)?;
        let meta = Meta { height, block_time, accumulator };
        let outcome = BlockOutcome {
            height,
            block_time,
            state_hash: Digest(meta.accumulator.checksum().0),
            results,
            events,
            next_validators,
        };
        Ok(Executed {
            parent_state: Digest(parent.accumulator.checksum().0),
            batch: Batch { changes, meta: Some(meta.clone()) },
            meta,
            outcome,
        })
    }

    /// Writes an executed block: it must have been executed on exactly the committed state.
    pub fn commit(&mut self, executed: Executed) -> Result<BlockOutcome, BlockError> {
        let Executed { parent_state, batch, meta, outcome } = executed;
        if meta.height <= self.meta.height {
            return Err(BlockError::AlreadyApplied { height: self.meta.height, got: meta.height });
        }
        if meta.height != self.meta.height + 1 {
            return Err(BlockError::NotNext { height: self.meta.height, got: meta.height });
        }
        if parent_state != self.state_hash() {
            return Err(BlockError::WrongParentState { height: meta.height });
        }
        self.store.commit(&batch)?;
        self.meta = meta;
        self.refresh_caches(&batch.changes)?;
        Ok(outcome)
    }

    /// Brings the caches in line with what a committed batch changed. Everything is decoded
    /// first; the routing table then changes in one write section, so a reader sees the routes
    /// of the previous height or of this one, never a mix.
    fn refresh_caches(&mut self, changes: &BTreeMap<Key, Change>) -> Result<(), StoreError> {
        let mut operators = Vec::new();
        let mut ranges = Vec::new();
        let mut withdrawn = Vec::new();
        let mut numbers = Vec::new();
        for ((table, key), change) in changes {
            match (table, change) {
                (Table::Config, Some(v)) if key == CONFIG_POLICY => {
                    self.policy = decode(Table::Config, v)?;
                }
                (Table::Operators, Some(v)) => operators.push(decode::<OperatorRecord>(Table::Operators, v)?),
                (Table::Ranges, Some(v)) => {
                    ranges.push((
                        decode::<Prefix>(Table::Ranges, key)?,
                        decode::<RangeRecord>(Table::Ranges, v)?,
                    ));
                }
                (Table::Ranges, None) => withdrawn.push(decode::<Prefix>(Table::Ranges, key)?),
                (Table::Epochs, Some(v)) => {
                    self.cache_epoch(decode(Table::Epochs, key)?, epochs::decode_set(v)?);
                }
                (Table::Numbers, change) => {
                    let ported_to = match change {
                        Some(v) => decode::<NumberRecord>(Table::Numbers, v)?.ported_to,
                        None => None,
                    };
                    numbers.push((number_from_key(key)?, ported_to));
                }
                _ => {}
            }
        }
        for op in &operators {
            self.cache_operator(op.clone());
        }
        let mut table = self.routes.write();
        for op in operators {
            table.set_operator(op.slot, op.id, op.routing_number);
        }
        for (prefix, range) in ranges {
            table.set_range(prefix, self.slot_of[&range.holder], range.lengths(prefix));
        }
        for prefix in withdrawn {
            table.remove_range(prefix);
        }
        for (number, ported_to) in numbers {
            match ported_to {
                Some(op) => table.index_mut().set(number, self.slot_of[&op]),
                None => table.index_mut().remove(number),
            }
        }
        table.set_height(self.meta.height, self.meta.block_time);
        drop(table);
        self.routes.merge_if_needed();
        Ok(())
    }
}

/// Folds a batch into the state-hash accumulator: out with each old entry, in with the new.
/// The old value is the one in `reads` (what the batch's execution read from `store`), or else
/// read from `store`; an entry written back unchanged changes nothing.
pub(super) fn accumulate<S: ReadStore>(
    store: &S,
    changes: &BTreeMap<Key, Change>,
    reads: &Reads,
    accumulator: &mut LtHash,
) -> Result<(), StoreError> {
    let mut delta = Delta::default();
    for (k @ (table, key), change) in changes {
        let fetched;
        let old = match reads.get(k) {
            Some(old) => old.as_deref(),
            None => {
                fetched = store.get(*table, key)?;
                fetched.as_deref()
            }
        };
        if old == change.as_deref() {
            continue;
        }
        if let Some(old) = old {
            delta.subtract(&entry_digest_input(*table, key, old));
        }
        if let Some(new) = change {
            delta.add(&entry_digest_input(*table, key, new));
        }
    }
    delta.fold_into(accumulator);
    Ok(())
}
