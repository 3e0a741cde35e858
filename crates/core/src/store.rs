//! Where the ledger state lives: a trait over ordered key-value tables, and an in-memory
//! implementation for tests and simulation. The node implements the trait over redb.
//!
//! The state machine reads through the trait and hands it one [`Batch`] per block, so a
//! backend that writes a batch atomically (one redb transaction) never holds half a block.

use crate::types::Timestamp;
use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::lthash::LtHash;
use std::collections::BTreeMap;

/// The ledger's tables. The numeric codes are part of the state hash; never renumber.
///
/// [`Table::index`] is a table's place in [`Table::ALL`], for arrays of one slot per table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Table {
    /// Singletons: regulator key, policy, chain id, operator count.
    Config = 1,
    /// Operator id → operator record.
    Operators = 2,
    /// Public key (operator or validator) → operator id; keys are unique across operators.
    OperatorKeys = 3,
    /// Range prefix → holder.
    Ranges = 4,
    /// Number → number record (only numbers that have one: bound, ported or ever ported).
    Numbers = 5,
    /// Number ‖ sequence → log entry: everything that happened to the number.
    NumberLog = 6,
    /// Port id → port order with its history.
    Orders = 7,
    /// Operator id ‖ port id → role: the open orders of each operator.
    OpenOrders = 8,
    /// Deadline ‖ port id → timer kind.
    Timers = 9,
    // Code 10 was the transaction id → expiry index of ledger layout 1, retired: the replay
    // check looks up `SeenTxByExpiry` directly. Never reuse it.
    /// Expiry ‖ transaction id → (): applied transactions still inside their validity window,
    /// in expiry order for pruning. A transaction's id covers its expiry, so the replay check
    /// looks up the exact key.
    SeenTxByExpiry = 11,
    /// Cap side ‖ operator id → (UTC day, numbers requested that day): one counter per
    /// operator and side, only while the policy caps that side (empty otherwise).
    DailyPorts = 12,
    /// Epoch (u64 big-endian) → the validator keys of that epoch, sorted: epoch 0 from the
    /// genesis, each later one written by the last block of the epoch before it.
    Epochs = 13,
}

impl Table {
    /// Every table, in code order.
    pub const ALL: [Self; 12] = [
        Self::Config,
        Self::Operators,
        Self::OperatorKeys,
        Self::Ranges,
        Self::Numbers,
        Self::NumberLog,
        Self::Orders,
        Self::OpenOrders,
        Self::Timers,
        Self::SeenTxByExpiry,
        Self::DailyPorts,
        Self::Epochs,
    ];

    /// The table's place in [`Table::ALL`] (codes have a gap where a table was retired).
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|t| *t == self).expect("every table is in ALL")
    }

    /// A stable name, for storage backends that name their tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Operators => "operators",
            Self::OperatorKeys => "operator_keys",
            Self::Ranges => "ranges",
            Self::Numbers => "numbers",
            Self::NumberLog => "number_log",
            Self::Orders => "orders",
            Self::OpenOrders => "open_orders",
            Self::Timers => "timers",
            Self::SeenTxByExpiry => "seen_tx_by_expiry",
            Self::DailyPorts => "daily_ports",
            Self::Epochs => "epochs",
        }
    }
}

/// A failure of the storage backend. The state machine stops on it: it never turns an I/O
/// problem into a transaction outcome, since other nodes would not see the same.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored {what} is corrupt: {source}")]
    Corrupt {
        what: &'static str,
        #[source]
        source: CodecError,
    },
    #[error("store holds no ledger; initialise it from a genesis first")]
    Uninitialised,
}

/// Where the ledger stands: the last applied block and the state hash accumulator.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Height of the last applied block; 0 is genesis.
    pub height: u64,
    /// Block time of the last applied block.
    pub block_time: Timestamp,
    /// Homomorphic hash of every entry of every table; its checksum is the state hash.
    pub accumulator: LtHash,
}

impl Write for Meta {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.block_time.write(buf);
        self.accumulator.write(buf);
    }
}

impl FixedSize for Meta {
    const SIZE: usize = u64::SIZE + Timestamp::SIZE + LtHash::SIZE;
}

impl Read for Meta {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            height: u64::read(buf)?,
            block_time: Timestamp::read(buf)?,
            accumulator: LtHash::read(buf)?,
        })
    }
}

/// A stored key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One table entry change: `None` deletes.
pub type Change = Option<Vec<u8>>;

/// Everything one block (or the genesis) changes, applied atomically with the new [`Meta`].
#[derive(Debug, Clone)]
pub struct Batch {
    pub changes: BTreeMap<(Table, Vec<u8>), Change>,
    /// The new meta; `None` leaves it as it is (used only while a genesis is being loaded,
    /// so that a store without meta is recognisably not initialised).
    pub meta: Option<Meta>,
}

/// Read access to ordered key-value tables holding the ledger. Implemented by every
/// [`Store`], and by [`Overlay`], which shows blocks executed but not yet committed.
pub trait ReadStore {
    /// The value at `key`, if any.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Up to `limit` entries with `start <= key < end` (no end: to the table's end), in key order.
    fn range(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;
    /// The last committed meta, or `None` for an empty store.
    fn meta(&self) -> Result<Option<Meta>, StoreError>;
}

/// Ordered key-value tables holding the ledger, written one atomic batch at a time.
pub trait Store: ReadStore {
    /// Applies a batch atomically: all of it and its meta, or (on error) none of it.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError>;
}

/// Tables in memory, for tests, simulation and tools.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    tables: BTreeMap<(Table, Vec<u8>), Vec<u8>>,
    meta: Option<Meta>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries the store holds in all tables.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

impl ReadStore for MemStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables.get(&(table, key.to_vec())).cloned())
    }

    fn range(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .tables
            .range((table, start.to_vec())..)
            .take_while(|((t, k), _)| *t == table && end.is_none_or(|e| k.as_slice() < e))
            .take(limit)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn meta(&self) -> Result<Option<Meta>, StoreError> {
        Ok(self.meta.clone())
    }
}

impl Store for MemStore {
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        for (key, change) in &batch.changes {
            match change {
                Some(v) => self.tables.insert(key.clone(), v.clone()),
                None => self.tables.remove(key),
            };
        }
        if let Some(meta) = &batch.meta {
            self.meta = Some(meta.clone());
        }
        Ok(())
    }
}

/// A read view of a store with batches layered on top (oldest first), as if they had been
/// committed. Nothing is copied: reads go to the newest layer that touched the key.
#[derive(Debug)]
pub struct Overlay<'a, S: ReadStore> {
    base: &'a S,
    layers: &'a [&'a Batch],
}

impl<'a, S: ReadStore> Overlay<'a, S> {
    pub fn new(base: &'a S, layers: &'a [&'a Batch]) -> Self {
        Self { base, layers }
    }
}

impl<S: ReadStore> ReadStore for Overlay<'_, S> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let k = (table, key.to_vec());
        match self.layers.iter().rev().find_map(|l| l.changes.get(&k)) {
            Some(change) => Ok(change.clone()),
            None => self.base.get(table, key),
        }
    }

    fn range(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        // Layer changes in the range, newest winning; then enough base entries that, even if
        // every layered key hides one of them, `limit` visible entries remain.
        let mut merged: BTreeMap<Vec<u8>, Change> = BTreeMap::new();
        for layer in self.layers {
            let changed = layer
                .changes
                .range((table, start.to_vec())..)
                .take_while(|((t, k), _)| *t == table && end.is_none_or(|e| k.as_slice() < e));
            for ((_, k), change) in changed {
                merged.insert(k.clone(), change.clone());
            }
        }
        let base = self.base.range(table, start, end, limit.saturating_add(merged.len()))?;
        for (k, v) in base {
            merged.entry(k).or_insert(Some(v));
        }
        Ok(merged.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).take(limit).collect())
    }

    fn meta(&self) -> Result<Option<Meta>, StoreError> {
        match self.layers.iter().rev().find_map(|l| l.meta.clone()) {
            Some(meta) => Ok(Some(meta)),
            None => self.base.meta(),
        }
    }
}

/// The bytes an entry contributes to the state hash: table code, key length, key, value.
pub(crate) fn entry_digest_input(table: Table, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 4 + key.len() + value.len());
    out.push(table as u8);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}
