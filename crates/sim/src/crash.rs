//! What a simulated node keeps "on disk": its ledger store and block log, in memory, wrapped so
//! that a crash can be placed *inside* a commit.
//!
//! A finalized block is written to the block log first and to the ledger second
//! (`npchain_node::chain` says why). A [`CrashPoint`] armed at height `h` places the crash between
//! those two writes: the log takes block `h`, and the ledger commit of `h` fails, as the write of a
//! process that dies there never happens. The node then halts (it applies nothing more, and does
//! not acknowledge `h` to the engine's marshal), and the simulation kills it: the log holds block
//! `h`, the ledger is still at `h - 1`. The restarted node must take block `h` again from
//! consensus and apply it exactly once.

use npchain_core::{
    Batch, E164, MemStore, Meta, PublicKey, ReadStore, Store, StoreError, Table,
    store::Entry,
    types::{PortId, TxId, UtcDay},
};
use npchain_node::{
    chain::{BlockLog, MemBlockLog},
    stats::{Cell, CellKey},
    storage::{BlockLogError, BlockRecord},
};
use std::sync::{Arc, Mutex};

/// Where a node's durable state is frozen, shared by its [`SimStore`] and [`SimLog`].
#[derive(Debug, Default)]
pub struct CrashPoint {
    inner: Mutex<Point>,
}

#[derive(Debug, Default)]
struct Point {
    /// The height whose commit the crash falls into.
    armed: Option<u64>,
    /// The log as it was right after block `armed` was written to it.
    log: Option<MemBlockLog>,
    /// The ledger store as it was when the commit of block `armed` failed.
    store: Option<MemStore>,
}

impl CrashPoint {
    /// Places the crash between the log write and the ledger commit of block `height`.
    pub fn arm(&self, height: u64) {
        *self.inner.lock().unwrap() = Point { armed: Some(height), log: None, store: None };
    }

    /// What a process killed in the armed commit leaves, once that commit was tried.
    pub fn frozen(&self) -> Option<(MemStore, MemBlockLog)> {
        let point = self.inner.lock().unwrap();
        Some((point.store.clone()?, point.log.clone()?))
    }
}

/// The ledger store of a simulated node: a [`MemStore`] that a [`CrashPoint`] can freeze.
#[derive(Debug, Clone)]
pub struct SimStore {
    pub store: MemStore,
    point: Arc<CrashPoint>,
}

impl SimStore {
    pub fn new(store: MemStore, point: Arc<CrashPoint>) -> Self {
        Self { store, point }
    }
}

impl ReadStore for SimStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(table, key)
    }

    fn range(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.store.range(table, start, end, limit)
    }

    fn meta(&self) -> Result<Option<Meta>, StoreError> {
        self.store.meta()
    }
}

impl Store for SimStore {
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let mut point = self.point.inner.lock().unwrap();
        let height = batch.meta.as_ref().map(|m| m.height);
        if point.armed.is_some() && point.armed == height && point.store.is_none() && point.log.is_some() {
            point.store = Some(self.store.clone());
            return Err(StoreError::Backend("the simulation killed the node inside this commit".into()));
        }
        drop(point);
        self.store.commit(batch)
    }
}

/// The block log of a simulated node: a [`MemBlockLog`] that a [`CrashPoint`] can freeze.
#[derive(Debug, Clone)]
pub struct SimLog {
    pub log: MemBlockLog,
    point: Arc<CrashPoint>,
}

impl SimLog {
    pub fn new(log: MemBlockLog, point: Arc<CrashPoint>) -> Self {
        Self { log, point }
    }
}

impl BlockLog for SimLog {
    fn put(&mut self, record: &BlockRecord) -> Result<(), BlockLogError> {
        self.log.put(record)?;
        let mut point = self.point.inner.lock().unwrap();
        if point.armed == Some(record.height) && point.log.is_none() {
            point.log = Some(self.log.clone());
        }
        Ok(())
    }

    fn get(&self, height: u64) -> Result<Option<BlockRecord>, BlockLogError> {
        self.log.get(height)
    }

    fn tx_height(&self, id: &TxId) -> Result<Option<u64>, BlockLogError> {
        self.log.tx_height(id)
    }

    fn operator_ports(
        &self,
        operator: &str,
        after: Option<&PortId>,
        limit: usize,
    ) -> Result<Vec<PortId>, BlockLogError> {
        self.log.operator_ports(operator, after, limit)
    }

    fn bound_numbers(&self, subscriber: &PublicKey) -> Result<Vec<E164>, BlockLogError> {
        self.log.bound_numbers(subscriber)
    }

    fn stats(&self, from: UtcDay, to: UtcDay) -> Result<Vec<(CellKey, Cell)>, BlockLogError> {
        self.log.stats(from, to)
    }

    fn stats_height(&self) -> Result<Option<u64>, BlockLogError> {
        self.log.stats_height()
    }
}
