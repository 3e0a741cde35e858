//! The porting state machine: applies blocks of verified transactions to the ledger state.
//!
//! Every rule of the porting flow lives under this module. The ledger reads only its store and
//! the block (height, block time, transactions): no clock, no randomness, no network, so every
//! node that applies the same blocks reaches the same state and the same state hash. Here is the
//! [`Ledger`] with its plain accessors; `load` makes one (genesis, open), `exec` executes and
//! commits blocks, `timers` runs what a block time sets off, `rules` dispatches each transaction
//! to the rule of its kind in `governance`, `numbers` or `ports` (which counts requests against
//! the daily port caps of `caps`), `epochs` keeps the validator set of each epoch, and
//! `queries` reads the state.
//! They all work through `ctx` (the write layers of a block) and `keys` (the tables' key layout).

mod caps;
mod ctx;
mod epochs;
mod exec;
mod governance;
mod import;
pub(crate) mod keys;
mod load;
mod numbers;
mod ports;
mod queries;
mod rules;
mod timers;

pub use epochs::{MIN_VALIDATORS, tolerated_faults};
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
    blocks_per_epoch: std::num::NonZeroU64,
    /// Every recorded epoch's validator set, by epoch.
    epochs: Vec<Vec<PublicKey>>,
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
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }
}
