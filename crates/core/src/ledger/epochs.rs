//! Epochs and their validator sets.
//!
//! Epoch `e` holds heights `e * n ..= e * n + n - 1` (`n`: the genesis's `blocks_per_epoch`);
//! the validator set is constant inside an epoch. The Epochs table holds every epoch's set:
//! epoch 0's from the genesis, epoch `e + 1`'s written by the last block of epoch `e` after its
//! transactions ([`close_epoch`]): the validator keys of the active operators that have one,
//! sorted, as they stand then (the *pending* set).
//!
//! Every rule that changes the pending set makes its change first and then calls
//! [`check_change`], which compares the pending set with the current epoch's and refuses (the
//! transaction's layer is then dropped, so nothing changes) a set that is too small, loses more
//! of the current validators than the current set tolerates, or takes in more newcomers than
//! the new set tolerates. See "Epochs and the validator set" in ARCHITECTURE.md.

use super::{
    Ledger, MAX_OPERATORS,
    ctx::{Ctx, Fail, decode},
};
use crate::{
    error::{TxError, ValidatorChange},
    records::{Event, OperatorRecord},
    store::{ReadStore, Store, StoreError, Table},
    types::{KeyId, PublicKey},
};
use commonware_codec::{Copying, DecodeExt, Encode, RangeCfg, Read};
use std::{collections::BTreeSet, num::NonZeroU64};

/// Fewest validators an epoch may have: with fewer, one faulty validator stops consensus.
pub const MIN_VALIDATORS: usize = 4;

/// Most faulty validators a set of `n` tolerates: `(n - 1) / 3`.
pub fn tolerated_faults(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// The epoch that holds `height`.
pub(super) fn epoch_of(height: u64, blocks_per_epoch: NonZeroU64) -> u64 {
    height / blocks_per_epoch
}

/// Whether `height` is the last block of its epoch (it records the next epoch's set).
pub(super) fn closes_epoch(height: u64, blocks_per_epoch: NonZeroU64) -> bool {
    height % blocks_per_epoch == blocks_per_epoch.get() - 1
}

/// The Epochs key of `epoch`: big-endian, so a scan yields epochs in order.
pub(super) fn epoch_key(epoch: u64) -> [u8; 8] {
    epoch.to_be_bytes()
}

/// Reads a stored validator set back.
pub(super) fn decode_set(raw: &[u8]) -> Result<Vec<PublicKey>, StoreError> {
    Vec::<PublicKey>::read_cfg(&mut Copying(raw), &(RangeCfg::from(..=MAX_OPERATORS), ()))
        .map_err(|source| StoreError::Corrupt { what: Table::Epochs.name(), source })
}

/// The public key an operator record's validator key names.
pub(super) fn validator_public_key(key: &KeyId) -> Result<PublicKey, StoreError> {
    PublicKey::decode(Copying(&key.0[..]))
        .map_err(|source| StoreError::Corrupt { what: Table::Operators.name(), source })
}

/// The set the next epoch boundary records if nothing changes before it: the validator keys of
/// the active `operators`, sorted.
pub(super) fn pending_of<'a>(
    operators: impl IntoIterator<Item = &'a OperatorRecord>,
) -> Result<Vec<PublicKey>, StoreError> {
    let mut keys = operators
        .into_iter()
        .filter(|o| o.active)
        .filter_map(|o| o.validator_key.as_ref())
        .map(validator_public_key)
        .collect::<Result<Vec<_>, _>>()?;
    keys.sort();
    Ok(keys)
}

/// The pending set as the block's layers leave the store.
fn pending<S: ReadStore>(ctx: &Ctx<'_, S>) -> Result<Vec<PublicKey>, StoreError> {
    let records = ctx
        .scan(Table::Operators, &[], None)?
        .into_iter()
        .map(|(_, v)| decode::<OperatorRecord>(Table::Operators, &v))
        .collect::<Result<Vec<_>, _>>()?;
    pending_of(&records)
}

/// The validator set of `epoch`, as the block's layers leave the store.
fn set_of<S: ReadStore>(ctx: &Ctx<'_, S>, epoch: u64) -> Result<Vec<PublicKey>, StoreError> {
    let raw = ctx.get(Table::Epochs, &epoch_key(epoch))?.ok_or(StoreError::Uninitialised)?;
    decode_set(&raw)
}

/// Writes the validator set of `epoch`.
pub(super) fn put_set<S: ReadStore>(ctx: &mut Ctx<'_, S>, epoch: u64, set: &[PublicKey]) {
    ctx.put(Table::Epochs, epoch_key(epoch).to_vec(), set.to_vec().encode().to_vec());
}

/// Refuses the change just made (in the transaction's layer) when the pending set it leaves
/// breaks a quorum rule against the set of `ctx`'s epoch.
pub(super) fn check_change<S: ReadStore>(ctx: &Ctx<'_, S>, change: ValidatorChange) -> Result<(), Fail> {
    let epoch = ctx.epoch();
    let current: BTreeSet<PublicKey> = set_of(ctx, epoch)?.into_iter().collect();
    let next: BTreeSet<PublicKey> = pending(ctx)?.into_iter().collect();
    if next.len() < MIN_VALIDATORS {
        return Err(TxError::TooFewValidators { change, left: next.len(), min: MIN_VALIDATORS }.into());
    }
    let removed = current.difference(&next).count();
    let tolerated = tolerated_faults(current.len());
    if removed > tolerated {
        return Err(TxError::TooManyValidatorsRemoved {
            change,
            epoch,
            current: current.len(),
            removed,
            tolerated,
        }
        .into());
    }
    let added = next.difference(&current).count();
    let tolerated = tolerated_faults(next.len());
    if added > tolerated {
        return Err(TxError::TooManyValidatorsAdded { change, next: next.len(), added, tolerated }.into());
    }
    Ok(())
}

/// At the last block of `ctx`'s epoch, after its transactions: records the pending set as the
/// next epoch's, reports the change if there is one, and returns the set.
pub(super) fn close_epoch<S: ReadStore>(ctx: &mut Ctx<'_, S>) -> Result<Vec<PublicKey>, StoreError> {
    let next = ctx.epoch() + 1;
    let set = pending(ctx)?;
    let current: BTreeSet<PublicKey> = set_of(ctx, next - 1)?.into_iter().collect();
    let new: BTreeSet<PublicKey> = set.iter().cloned().collect();
    put_set(ctx, next, &set);
    if current != new {
        ctx.emit(Event::ValidatorSetChanged {
            epoch: next,
            added: new.difference(&current).cloned().collect(),
            removed: current.difference(&new).cloned().collect(),
        });
    }
    ctx.commit_tx();
    Ok(set)
}

impl<S: Store> Ledger<S> {
    /// Blocks per epoch (the genesis's `blocks_per_epoch`): epoch `e` holds heights
    /// `e * n ..= e * n + n - 1`, and the validator set changes only between epochs.
    pub fn blocks_per_epoch(&self) -> NonZeroU64 {
        self.blocks_per_epoch
    }

    /// The epoch that holds `height`.
    pub fn epoch_of(&self, height: u64) -> u64 {
        epoch_of(height, self.blocks_per_epoch)
    }

    /// Every epoch's validator set recorded so far, oldest first: epoch 0's from the genesis,
    /// each later one as the last block of the epoch before it recorded it (so the last entry
    /// may be the epoch after the current one). Read from the ledger's cache: it does not fail.
    pub fn validator_sets(&self) -> Result<Vec<(u64, Vec<PublicKey>)>, StoreError> {
        Ok(self.epochs.iter().enumerate().map(|(e, set)| (e as u64, set.clone())).collect())
    }

    /// The validator set of `epoch`, sorted, if it is recorded yet.
    pub fn validators(&self, epoch: u64) -> Option<&[PublicKey]> {
        self.epochs.get(usize::try_from(epoch).ok()?).map(Vec::as_slice)
    }

    /// The set the next epoch boundary would record as things stand: the validator keys of the
    /// active operators, sorted.
    pub fn pending_validators(&self) -> Result<Vec<PublicKey>, StoreError> {
        pending_of(&self.operators)
    }

    /// Caches a recorded validator set (epochs arrive in order, each once).
    pub(super) fn cache_epoch(&mut self, epoch: u64, set: Vec<PublicKey>) {
        let at = usize::try_from(epoch).expect("epoch fits in memory");
        if at < self.epochs.len() {
            self.epochs[at] = set;
        } else {
            debug_assert_eq!(at, self.epochs.len(), "epochs are recorded in order");
            self.epochs.push(set);
        }
    }
}
