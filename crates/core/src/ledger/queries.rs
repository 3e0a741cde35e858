//! Reads of the ledger: routes and the routing table, numbers with their history, port orders
//! and each operator's open ones, operators and ranges, the replay set, and the weight of a
//! transaction for block building. Everything but [`Ledger::weigh`] reads the committed state
//! only (or the caches that follow it).

use super::{
    Ledger,
    ctx::{Ctx, decode},
    exec::{Executed, batches},
    keys::{next_key, number_log_range, open_orders_prefix, seen_by_expiry_key},
};
use crate::{
    lengths::Lengths,
    number::{E164, Prefix},
    port::PortOrder,
    records::{NumberEvent, NumberRecord, OperatorRecord},
    routing::{Route, Routes, Unroutable},
    store::{Overlay, Store, StoreError, Table},
    tx::{PortRequest, TxBody, VerifiedTx},
    types::{OperatorId, PortId, PublicKey, Timestamp, TxId},
};
use std::collections::HashMap;

/// The running weight of one block, summed by [`Ledger::weigh`] transaction by transaction.
#[derive(Debug, Default)]
pub struct BlockWeight {
    total: usize,
    /// Orders requested earlier in the block, by id, with their number count.
    requested: HashMap<PortId, usize>,
}

impl BlockWeight {
    /// Numbers touched by the transactions weighed so far.
    pub fn total(&self) -> usize {
        self.total
    }
}

impl<S: Store> Ledger<S> {
    /// Whether the transaction with this id and expiry was applied and is still inside its
    /// validity window (so sending it again would be refused as a replay).
    pub fn tx_applied(&self, expires_at: Timestamp, id: &TxId) -> Result<bool, StoreError> {
        Ok(self.store.get(Table::SeenTxByExpiry, &seen_by_expiry_key(expires_at, id))?.is_some())
    }

    /// Where `number` routes now, or `None` if it is in no assigned range or its length is
    /// not one of its range's.
    pub fn route(&self, number: E164) -> Option<Route> {
        self.routes.read().route(number)
    }

    /// Where `number` routes now, or why it does not.
    pub fn lookup(&self, number: E164) -> Result<Route, Unroutable> {
        self.routes.read().lookup(number)
    }

    /// The shared routing table, for readers that must not wait for the ledger (the ENUM
    /// server, the HTTP API): it changes once per committed block.
    pub fn routes(&self) -> Routes {
        self.routes.clone()
    }

    /// The number's record, if it has one.
    pub fn number(&self, number: E164) -> Result<Option<NumberRecord>, StoreError> {
        Ctx::new(&self.store).number(number)
    }

    /// Everything that happened to the number, oldest first.
    pub fn number_history(&self, number: E164) -> Result<Vec<(Timestamp, NumberEvent)>, StoreError> {
        let (start, end) = number_log_range(number);
        self.store
            .range(Table::NumberLog, &start, Some(&end), usize::MAX)?
            .iter()
            .map(|(_, v)| decode(Table::NumberLog, v))
            .collect()
    }

    /// A port order with its full history.
    pub fn order(&self, id: &PortId) -> Result<Option<PortOrder>, StoreError> {
        Ctx::new(&self.store).read(Table::Orders, id.0.as_ref())
    }

    /// What `tx` costs to execute, in numbers touched, after `pending` (executed blocks not yet
    /// committed, oldest first) and after the transactions of the same block already weighed
    /// into `block`. A group request, and each step of a group order, moves every number of
    /// the group; an import counts each of its entries; anything else counts one. The weight reads only the parent state and the
    /// block itself, so every node weighs a block the same and a validator can refuse one that
    /// is too heavy before executing it.
    pub fn weigh(
        &self,
        pending: &[&Executed],
        block: &mut BlockWeight,
        tx: &VerifiedTx,
    ) -> Result<usize, StoreError> {
        let mut requested = |request: &PortRequest, subscriber: &PublicKey| {
            let size = request.numbers.len();
            block.requested.insert(request.port_id(subscriber), size);
            size
        };
        let weight = match &tx.tx().body {
            TxBody::RequestPort(request) => requested(request, &tx.tx().signer),
            TxBody::RequestPortFor { request, subscriber, .. } => requested(request, subscriber),
            TxBody::Release { port }
            | TxBody::Reject { port, .. }
            | TxBody::Activate { port }
            | TxBody::Cancel { port } => match block.requested.get(port) {
                Some(size) => *size,
                None => {
                    let layers = batches(pending);
                    let view = Overlay::new(&self.store, &layers);
                    let order: Option<PortOrder> = Ctx::new(&view).read(Table::Orders, port.0.as_ref())?;
                    order.map_or(1, |o| o.numbers.len())
                }
            },
            TxBody::ImportNumbers { groups } => crate::tx::import_len(groups),
            _ => 1,
        }
        .max(1);
        block.total += weight;
        Ok(weight)
    }

    /// The open orders in which `operator` is donor or recipient, at most `limit`.
    pub fn open_orders(&self, operator: &OperatorId, limit: usize) -> Result<Vec<PortOrder>, StoreError> {
        let start = open_orders_prefix(operator);
        let end = next_key(&start);
        let mut orders = Vec::new();
        for (k, _) in self.store.range(Table::OpenOrders, &start, Some(&end), limit)? {
            let id = PortId(decode(Table::OpenOrders, &k[start.len()..])?);
            if let Some(order) = self.order(&id)? {
                orders.push(order);
            }
        }
        Ok(orders)
    }

    /// An operator by id.
    pub fn operator(&self, id: &OperatorId) -> Option<&OperatorRecord> {
        self.slot_of.get(id).map(|s| &self.operators[usize::from(*s)])
    }

    /// Every admitted operator, in admission order.
    pub fn operators(&self) -> &[OperatorRecord] {
        &self.operators
    }

    /// The assigned ranges, their holders and the lengths of their numbers.
    pub fn ranges(&self) -> Vec<(Prefix, OperatorId, Lengths)> {
        self.routes
            .read()
            .ranges()
            .map(|(p, s, l)| (p, self.operators[usize::from(s)].id.clone(), l))
            .collect()
    }

    /// How many numbers are ported and the heap bytes of their index (for measurements).
    pub fn ported_index(&self) -> (usize, usize) {
        let table = self.routes.read();
        (table.ported_count(), table.index_heap_bytes())
    }
}
