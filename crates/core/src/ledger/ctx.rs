//! The write layers a block is executed in, and typed access to the tables through them.
//!
//! [`Ctx`] reads through two layers of pending writes (this transaction's, this block's) to the
//! store underneath, and keeps the events of each layer beside its writes. A transaction that is
//! refused drops its layer ([`Ctx::rollback_tx`]), writes and events alike, so it leaves no
//! trace; one that is applied folds its layer into the block's ([`Ctx::commit_tx`]).
//!
//! What the store underneath answered is remembered for the rest of the block ([`Reads`]): the
//! operators, key owners and range prefixes that most transactions of a block read are read from
//! the store once, and the state hash takes the value each changed entry had before the block
//! from there instead of reading it again.

use super::keys::{
    self, CONFIG_OPERATOR_COUNT, CONFIG_POLICY, CONFIG_REGULATOR, KeyKind, number_key, number_log_key,
    operator_key_value, timer_key,
};
use crate::{
    error::{Role, TxError},
    number::{E164, Prefix},
    policy::Policy,
    port::PortOrder,
    records::{Event, NumberEvent, NumberRecord, OperatorRecord, RangeRecord, TimerKind},
    store::{Change, Entry, ReadStore, StoreError, Table},
    types::{OperatorId, PortId, PublicKey, RoutingNumber, Timestamp},
};
use commonware_codec::{Copying, Decode, Encode, Read};
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet, HashMap},
};

/// A table and a key in it.
pub(super) type Key = (Table, Vec<u8>);

/// What the store under a block's layers held at the keys the block read: the values before
/// the block, for the keys it read before writing them.
pub(super) type Reads = HashMap<Key, Change, foldhash::fast::FixedState>;

/// A transaction refusal or a storage failure while applying one.
pub(super) enum Fail {
    Tx(TxError),
    Store(StoreError),
}

impl From<TxError> for Fail {
    fn from(e: TxError) -> Self {
        Self::Tx(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Decodes a stored value of `table`; a value that does not decode is a corrupt store.
pub(super) fn decode<T: Read>(table: Table, bytes: &[u8]) -> Result<T, StoreError>
where
    T::Cfg: Default,
{
    T::decode_cfg(Copying(bytes), &T::Cfg::default())
        .map_err(|source| StoreError::Corrupt { what: table.name(), source })
}

/// Reads through two layers of pending writes (this transaction's, this block's) to the store.
pub(super) struct Ctx<'a, S: ReadStore> {
    store: &'a S,
    block: BTreeMap<Key, Change>,
    tx: BTreeMap<Key, Change>,
    block_events: Vec<Event>,
    tx_events: Vec<Event>,
    epoch: u64,
    /// Every store read of the block, by key.
    reads: RefCell<Reads>,
}

impl<'a, S: ReadStore> Ctx<'a, S> {
    /// Layers over `store` for the genesis (epoch 0).
    pub(super) fn new(store: &'a S) -> Self {
        Self::in_epoch(store, 0)
    }

    /// Layers over `store` for a block of `epoch`.
    pub(super) fn in_epoch(store: &'a S, epoch: u64) -> Self {
        Self {
            store,
            block: BTreeMap::new(),
            tx: BTreeMap::new(),
            block_events: Vec::new(),
            tx_events: Vec::new(),
            epoch,
            reads: RefCell::new(Reads::default()),
        }
    }

    /// The epoch of the block being executed.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The store underneath, without the pending layers.
    pub(super) fn store(&self) -> &'a S {
        self.store
    }

    pub(super) fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let k = (table, key.to_vec());
        if let Some(c) = self.tx.get(&k).or_else(|| self.block.get(&k)) {
            return Ok(c.clone());
        }
        if let Some(c) = self.reads.borrow().get(&k) {
            return Ok(c.clone());
        }
        let value = self.store.get(table, key)?;
        self.reads.borrow_mut().insert(k, value.clone());
        Ok(value)
    }

    /// The keys of `table` that start with `prefix`, through both pending layers. It reads
    /// every matching entry of the store, so it is for small key ranges only.
    pub(super) fn keys_with_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        let end = keys::next_key(prefix);
        let mut found: BTreeSet<Vec<u8>> = self
            .store
            .range(table, prefix, Some(end.as_slice()), usize::MAX)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for layer in [&self.block, &self.tx] {
            for ((_, k), change) in layer.range((table, prefix.to_vec())..(table, end.clone())) {
                if change.is_some() {
                    found.insert(k.clone());
                } else {
                    found.remove(k);
                }
            }
        }
        Ok(found.into_iter().collect())
    }

    pub(super) fn read<T: Read>(&self, table: Table, key: &[u8]) -> Result<Option<T>, StoreError>
    where
        T::Cfg: Default,
    {
        self.get(table, key)?.map(|v| decode(table, &v)).transpose()
    }

    /// Every entry of `table` with `start <= key < end` (no end: to the table's end), in key
    /// order, as the two layers leave the store.
    pub(super) fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut keys: std::collections::BTreeSet<Vec<u8>> =
            self.store.range(table, start, end, usize::MAX)?.into_iter().map(|(k, _)| k).collect();
        let inside = |k: &[u8]| k >= start && end.is_none_or(|e| k < e);
        for layer in [&self.block, &self.tx] {
            keys.extend(layer.keys().filter(|(t, k)| *t == table && inside(k)).map(|(_, k)| k.clone()));
        }
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(value) = self.get(table, &key)? {
                out.push((key, value));
            }
        }
        Ok(out)
    }

    pub(super) fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.tx.insert((table, key), Some(value));
    }

    pub(super) fn write<T: Encode>(&mut self, table: Table, key: Vec<u8>, value: &T) {
        self.put(table, key, value.encode().to_vec());
    }

    pub(super) fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.tx.insert((table, key), None);
    }

    /// Reports an event of the current layer.
    pub(super) fn emit(&mut self, event: Event) {
        self.tx_events.push(event);
    }

    /// Keeps the current layer: its writes and events become the block's.
    pub(super) fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.block.extend(tx);
        self.block_events.append(&mut self.tx_events);
    }

    /// Drops the current layer: its writes and events are forgotten.
    pub(super) fn rollback_tx(&mut self) {
        self.tx.clear();
        self.tx_events.clear();
    }

    /// The block's writes and events (the current layer must have been committed or dropped),
    /// and what it read from the store.
    pub(super) fn into_block(self) -> (BTreeMap<Key, Change>, Vec<Event>, Reads) {
        debug_assert!(self.tx.is_empty() && self.tx_events.is_empty());
        (self.block, self.block_events, self.reads.into_inner())
    }

    // --- typed access

    pub(super) fn policy(&self) -> Result<Policy, StoreError> {
        self.read(Table::Config, CONFIG_POLICY)?.ok_or(StoreError::Uninitialised)
    }

    pub(super) fn put_policy(&mut self, policy: &Policy) {
        self.write(Table::Config, CONFIG_POLICY.to_vec(), policy);
    }

    pub(super) fn regulator(&self) -> Result<PublicKey, StoreError> {
        self.read(Table::Config, CONFIG_REGULATOR)?.ok_or(StoreError::Uninitialised)
    }

    /// How many operators were ever admitted: the slot the next one gets.
    pub(super) fn operator_count(&self) -> Result<u16, StoreError> {
        Ok(self.read(Table::Config, CONFIG_OPERATOR_COUNT)?.unwrap_or(0))
    }

    pub(super) fn set_operator_count(&mut self, count: u16) {
        self.write(Table::Config, CONFIG_OPERATOR_COUNT.to_vec(), &count);
    }

    pub(super) fn operator(&self, id: &OperatorId) -> Result<Option<OperatorRecord>, StoreError> {
        self.read(Table::Operators, id.as_str().as_bytes())
    }

    pub(super) fn known_operator(&self, id: &OperatorId) -> Result<OperatorRecord, Fail> {
        self.operator(id)?.ok_or_else(|| TxError::UnknownOperator { operator: id.clone() }.into())
    }

    pub(super) fn active_operator(&self, id: &OperatorId) -> Result<OperatorRecord, Fail> {
        let op = self.known_operator(id)?;
        if !op.active {
            return Err(TxError::OperatorRetired { operator: id.clone() }.into());
        }
        Ok(op)
    }

    /// The operator whose routing number is `routing_number`, if any.
    pub(super) fn routing_number_owner(
        &self,
        routing_number: &RoutingNumber,
    ) -> Result<Option<OperatorId>, StoreError> {
        for (_, value) in self.scan(Table::Operators, &[], None)? {
            let record: OperatorRecord = decode(Table::Operators, &value)?;
            if &record.routing_number == routing_number {
                return Ok(Some(record.id));
            }
        }
        Ok(None)
    }

    pub(super) fn put_operator(&mut self, record: &OperatorRecord) {
        self.write(Table::Operators, record.id.as_str().as_bytes().to_vec(), record);
    }

    /// Stores a newly admitted operator: its record and the owner entries of its keys.
    pub(super) fn put_new_operator(&mut self, record: &OperatorRecord) {
        self.put_operator(record);
        self.put_key_owner(&record.operator_key.0, KeyKind::Operator, &record.id);
        if let Some(key) = &record.validator_key {
            self.put_key_owner(&key.0, KeyKind::Validator, &record.id);
        }
    }

    pub(super) fn put_key_owner(&mut self, key: &[u8], kind: KeyKind, owner: &OperatorId) {
        self.put(Table::OperatorKeys, key.to_vec(), operator_key_value(kind, owner));
    }

    pub(super) fn key_owner(&self, key: &PublicKey) -> Result<Option<(OperatorId, KeyKind)>, StoreError> {
        self.get(Table::OperatorKeys, key.as_ref())?.map(|raw| keys::operator_key_owner(&raw)).transpose()
    }

    /// Checks that `signer` is the operator key of `expected`.
    pub(super) fn require_operator(
        &self,
        signer: &PublicKey,
        expected: &OperatorId,
        role: Role,
    ) -> Result<(), Fail> {
        match self.key_owner(signer)? {
            None => Err(TxError::UnknownSigner { signer: signer.into() }.into()),
            Some((operator, KeyKind::Validator)) => {
                Err(TxError::ValidatorKeyUsed { signer: signer.into(), operator }.into())
            }
            Some((actual, KeyKind::Operator)) if &actual != expected => {
                Err(TxError::WrongOperator { role, expected: expected.clone(), actual }.into())
            }
            Some(_) => Ok(()),
        }
    }

    pub(super) fn put_range(&mut self, prefix: Prefix, range: &RangeRecord) {
        self.write(Table::Ranges, prefix.encode().to_vec(), range);
    }

    /// Exactly this range, if it is assigned.
    pub(super) fn range_at(&self, prefix: Prefix) -> Result<Option<RangeRecord>, StoreError> {
        self.read(Table::Ranges, &prefix.encode())
    }

    pub(super) fn delete_range(&mut self, prefix: Prefix) {
        self.delete(Table::Ranges, prefix.encode().to_vec());
    }

    /// The longest assigned prefix of `number` and its range.
    pub(super) fn range_of(&self, number: E164) -> Result<Option<(Prefix, RangeRecord)>, StoreError> {
        for prefix in number.prefixes() {
            if let Some(range) = self.range_at(prefix)? {
                return Ok(Some((prefix, range)));
            }
        }
        Ok(None)
    }

    pub(super) fn number(&self, n: E164) -> Result<Option<NumberRecord>, StoreError> {
        self.read(Table::Numbers, &number_key(n))
    }

    /// The number's record (empty if it has none), its range holder and its serving operator.
    pub(super) fn number_view(&self, n: E164) -> Result<(NumberRecord, OperatorId, OperatorId), Fail> {
        let record = self.number(n)?.unwrap_or_default();
        let (range, range_record) = self.range_of(n)?.ok_or(TxError::UnknownNumber { number: n })?;
        let lengths = range_record.lengths(range);
        if !lengths.contains(n.digits()) {
            return Err(TxError::NumberLength { number: n, digits: n.digits(), range, lengths }.into());
        }
        let holder = range_record.holder;
        let serving = record.ported_to.clone().unwrap_or_else(|| holder.clone());
        Ok((record, holder, serving))
    }

    pub(super) fn put_number(&mut self, n: E164, record: &NumberRecord) {
        self.write(Table::Numbers, number_key(n).to_vec(), record);
    }

    /// Appends an entry to the number's log (the caller stores the record with its new length).
    pub(super) fn log(&mut self, n: E164, record: &mut NumberRecord, at: Timestamp, event: NumberEvent) {
        self.write(Table::NumberLog, number_log_key(n, record.log_len), &(at, event));
        record.log_len += 1;
    }

    pub(super) fn order(&self, id: &PortId) -> Result<PortOrder, Fail> {
        self.read(Table::Orders, id.0.as_ref())?.ok_or_else(|| TxError::UnknownPort { port: *id }.into())
    }

    pub(super) fn put_order(&mut self, order: &PortOrder) {
        self.write(Table::Orders, order.id.0.as_ref().to_vec(), order);
    }

    pub(super) fn set_timer(&mut self, at: Timestamp, port: &PortId, kind: TimerKind) {
        self.put(Table::Timers, timer_key(at, port), vec![kind as u8]);
    }

    pub(super) fn clear_timer(&mut self, at: Timestamp, port: &PortId) {
        self.delete(Table::Timers, timer_key(at, port));
    }
}
