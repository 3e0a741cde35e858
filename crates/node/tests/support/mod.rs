//! What the node's test binaries share (`mod support;` in each): the in-memory chain over a
//! genesis of the test kit. Keys, genesis and raw HTTP come from `npchain_testkit`.

#![allow(dead_code)] // each test binary uses a part

use npchain_core::{Genesis, Ledger, MemStore};
use npchain_node::chain::{Chain, MemBlockLog, mempool::Mempool};

/// A chain on an in-memory ledger and block log.
pub type TestChain = Chain<MemStore, MemBlockLog>;

/// The ledger of `genesis` (no migration list) on a memory store.
pub fn ledger(genesis: &Genesis) -> Ledger<MemStore> {
    Ledger::genesis(MemStore::new(), genesis, std::iter::empty()).expect("the test genesis loads")
}

/// A chain at the genesis of `genesis`, with `pool`.
pub fn chain(genesis: &Genesis, pool: Mempool) -> TestChain {
    Chain::new(ledger(genesis), MemBlockLog::default(), pool)
}
