//! The porting state machine: applies blocks of verified transactions to the ledger state.
//!
//! Every rule of the porting flow lives under this module. The ledger reads only its store and
//! the block (height, block time, transactions): no clock, no randomness, no network, so every
//! node that applies the same blocks reaches the same state and the same state hash. Here is the
//! [`Ledger`] with its plain accessors; `load` makes one (genesis, open), `exec` executes and
//! commits blocks, `timers` runs what a block time sets off, `rules` dispatches each transaction
//! to the rule of its kind in `governance`, `numbers` or `ports` (which counts requests against
//! the daily port caps of `caps`), and `queries` reads the state.
//! They all work through `ctx` (the write layers of a block) and `keys` (the tables' key layout).

mod caps;
mod ctx;
mod exec;
mod governance;
mod keys;
mod load;
mod numbers;
mod ports;
mod queries;
mod rules;
mod timers;

pub use exec::{BlockError, BlockOutcome, Executed};
pub use queries::BlockWeight;

use crate::{
    policy::Policy,
    records::OperatorRecord,
    routing::Routes,
    store::{Meta, Store},
    tx::ChainId,
    types::{Digest, OperatorId, PublicKey, Timestamp},
};
use std::collections::HashMap;

/// Most operators a network can admit (slots are `u16`).
pub const MAX_OPERATORS: usize = u16::MAX as usize;

/// The ledger: its store plus small in-memory caches, among them the routing table that answers
/// routing queries without touching the store.
#[derive(Debug)]
pub struct Ledger<S: Store> {
    store: S,
    meta: Meta,
    chain: ChainId,
    policy: Policy,
    regulator: PublicKey,
    operators: Vec<OperatorRecord>,
    slot_of: HashMap<OperatorId, u16>,
    routes: Routes,
}

impl<S: Store> Ledger<S> {
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn regulator(&self) -> &PublicKey {
        &self.regulator
    }

    pub fn chain_id(&self) -> ChainId {
        self.chain
    }

    /// Height of the last applied block (0: genesis).
    pub fn height(&self) -> u64 {
        self.meta.height
    }

    /// Block time of the last applied block.
    pub fn block_time(&self) -> Timestamp {
        self.meta.block_time
    }

    /// The hash of the whole state: equal on two nodes exactly when their tables are equal.
    pub fn state_hash(&self) -> Digest {
        Digest(self.meta.accumulator.checksum().0)
    }

    /// The underlying store.
    /// Blocks per epoch (the genesis's `blocks_per_epoch`): epoch `e` holds heights
    /// `e * n ..= e * n + n - 1`, and the validator set changes only between epochs.
    pub fn blocks_per_epoch(&self) -> std::num::NonZeroU64 {
        std::num::NonZeroU64::MAX
    }

    /// Every epoch's validator set so far, oldest first: epoch 0's from the genesis, each later
    /// one as the last block of the epoch before it recorded it.
    pub fn validator_sets(&self) -> Result<Vec<(u64, Vec<PublicKey>)>, crate::store::StoreError> {
        let mut keys: Vec<PublicKey> = self
            .operators
            .iter()
            .filter_map(|o| {
                <PublicKey as commonware_codec::DecodeExt<()>>::decode(bytes::Bytes::copy_from_slice(
                    &o.validator_key.0,
                ))
                .ok()
            })
            .collect();
        keys.sort();
        Ok(vec![(0, keys)])
    }

    /// The validators the next epoch boundary would record: active operators' validator keys,
    /// sorted.
    pub fn pending_validators(&self) -> Vec<PublicKey> {
        self.validator_sets().map(|mut s| s.remove(0).1).unwrap_or_default()
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }
}
