//! Where a chain keeps what it reports about finalized blocks ([`BlockLog`]), and the log in
//! memory ([`MemBlockLog`]) that simulation and tests run on. The node's is
//! [`crate::storage::RedbBlockLog`].

use crate::{
    stats::{Cell, CellKey, MemStats},
    storage::{BlockLogError, BlockRecord, TxOutcome},
};
use npchain_core::{
    E164, PublicKey,
    types::{PortId, TxId, UtcDay},
};
use std::collections::{BTreeMap, BTreeSet};

/// Where the node keeps what it reports about finalized blocks (outside the ledger state), with
/// indexes derived from them: transaction id → height, operator → the orders it is donor or
/// recipient of, subscriber key → the numbers ever bound to it; and the porting statistics
/// ([`crate::stats`]), counted once per height.
pub trait BlockLog: Send + 'static {
    /// Writes the block, its index entries and its statistics at once; writing the same block
    /// again is harmless (heights come in order: a height at or below the last one counted adds
    /// nothing to the statistics).
    fn put(&mut self, record: &BlockRecord) -> Result<(), BlockLogError>;
    fn get(&self, height: u64) -> Result<Option<BlockRecord>, BlockLogError>;
    /// The height of the block that carries the transaction.
    fn tx_height(&self, id: &TxId) -> Result<Option<u64>, BlockLogError>;
    /// The orders `operator` is donor or recipient of, in port-id order, after `after`.
    fn operator_ports(
        &self,
        operator: &str,
        after: Option<&PortId>,
        limit: usize,
    ) -> Result<Vec<PortId>, BlockLogError>;
    /// The numbers ever bound to `subscriber`, in the order of their canonical text; the ledger
    /// says which still are.
    fn bound_numbers(&self, subscriber: &PublicKey) -> Result<Vec<E164>, BlockLogError>;
    /// The statistics cells of the days `from..=to`, in key order.
    fn stats(&self, from: UtcDay, to: UtcDay) -> Result<Vec<(CellKey, Cell)>, BlockLogError>;
    /// The last height the statistics count (`None` before the first block).
    fn stats_height(&self) -> Result<Option<u64>, BlockLogError>;
}

/// A block log in memory, for simulation and tests (its indexes are scans; its statistics are
/// kept as the redb log's are, by the same [`crate::stats::tally`]).
#[derive(Debug, Default, Clone)]
pub struct MemBlockLog(BTreeMap<u64, BlockRecord>, MemStats);

impl BlockLog for MemBlockLog {
    fn put(&mut self, record: &BlockRecord) -> Result<(), BlockLogError> {
        self.0.insert(record.height, record.clone());
        self.1.count(record);
        Ok(())
    }

    fn get(&self, height: u64) -> Result<Option<BlockRecord>, BlockLogError> {
        Ok(self.0.get(&height).cloned())
    }

    fn tx_height(&self, id: &TxId) -> Result<Option<u64>, BlockLogError> {
        // The block that applied it, else the first that carried it (a later copy is refused
        // as a replay).
        let carrying = |applied: bool| {
            self.0
                .values()
                .find(|b| b.txs.iter().any(|t| t.id == *id && (!applied || t.outcome == TxOutcome::Applied)))
                .map(|b| b.height)
        };
        Ok(carrying(true).or_else(|| carrying(false)))
    }

    fn operator_ports(
        &self,
        operator: &str,
        after: Option<&PortId>,
        limit: usize,
    ) -> Result<Vec<PortId>, BlockLogError> {
        let ports: BTreeSet<PortId> = self
            .0
            .values()
            .flat_map(BlockRecord::requested_ports)
            .filter(|(_, d, r)| d.as_str() == operator || r.as_str() == operator)
            .map(|(p, _, _)| *p)
            .filter(|p| after.is_none_or(|a| p > a))
            .collect();
        Ok(ports.into_iter().take(limit).collect())
    }

    fn bound_numbers(&self, subscriber: &PublicKey) -> Result<Vec<E164>, BlockLogError> {
        // ordered as the redb log's keys are: by canonical text
        let numbers: BTreeMap<String, E164> = self
            .0
            .values()
            .flat_map(BlockRecord::bindings)
            .filter(|(k, _)| *k == subscriber)
            .map(|(_, n)| (n.to_string(), n))
            .collect();
        Ok(numbers.into_values().collect())
    }

    fn stats(&self, from: UtcDay, to: UtcDay) -> Result<Vec<(CellKey, Cell)>, BlockLogError> {
        Ok(self.1.range(from, to))
    }

    fn stats_height(&self) -> Result<Option<u64>, BlockLogError> {
        Ok(self.1.through)
    }
}
