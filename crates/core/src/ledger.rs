//! The porting state machine: applies blocks of verified transactions to the ledger state.
//!
//! Every rule of the porting flow lives here. The ledger reads only its store and the block
//! (height, block time, transactions): no clock, no randomness, no network, so every node that
//! applies the same blocks reaches the same state and the same state hash.

use crate::{
    error::{Role, TxError},
    genesis::{Genesis, GenesisError, PortedEntry},
    number::{E164, Prefix},
    policy::{Policy, SilenceRule},
    port::{Initiator, PortOrder, RejectCause, Step},
    records::{Event, NumberEvent, NumberRecord, OperatorRecord, TimerKind},
    routing::{Route, Routes, RoutingIndex},
    store::{Batch, Change, Entry, Meta, Overlay, ReadStore, Store, StoreError, Table, entry_digest_input},
    tx::{ChainId, PortRequest, TxBody, VerifiedTx},
    types::{Digest, KeyId, OperatorId, PortId, PublicKey, Timestamp, TxId},
};
use commonware_codec::{Copying, Decode, Encode, Read};
use commonware_cryptography::{Hasher, Sha256, lthash::LtHash};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most operators a network can admit (slots are `u16`).
pub const MAX_OPERATORS: usize = u16::MAX as usize;
/// Numbers written per storage batch while loading a genesis migration list.
const GENESIS_CHUNK: usize = 100_000;

const CONFIG_CHAIN: &[u8] = b"chain";
const CONFIG_REGULATOR: &[u8] = b"regulator";
const CONFIG_POLICY: &[u8] = b"policy";
const CONFIG_OPERATOR_COUNT: &[u8] = b"operator_count";

/// What applying one block did.
#[derive(Debug, Clone)]
pub struct BlockOutcome {
    pub height: u64,
    pub block_time: Timestamp,
    /// The state hash after the block.
    pub state_hash: Digest,
    /// Per transaction, in block order: applied, or refused with the reason.
    pub results: Vec<(TxId, Result<(), TxError>)>,
    /// Everything the block changed, timers first, then transactions in order.
    pub events: Vec<Event>,
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

/// A transaction refusal or a storage failure while applying one.
enum Fail {
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

type Key = (Table, Vec<u8>);

/// Reads through two layers of pending writes (this transaction's, this block's) to the store.
/// A refused transaction's layer is dropped, so it leaves no trace.
struct Ctx<'a, S: ReadStore> {
    store: &'a S,
    block: BTreeMap<Key, Change>,
    tx: BTreeMap<Key, Change>,
}

impl<'a, S: ReadStore> Ctx<'a, S> {
    fn new(store: &'a S) -> Self {
        Self { store, block: BTreeMap::new(), tx: BTreeMap::new() }
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let k = (table, key.to_vec());
        if let Some(c) = self.tx.get(&k).or_else(|| self.block.get(&k)) {
            return Ok(c.clone());
        }
        self.store.get(table, key)
    }

    fn read<T: Read>(&self, table: Table, key: &[u8]) -> Result<Option<T>, StoreError>
    where
        T::Cfg: Default,
    {
        self.get(table, key)?.map(|v| decode(table, &v)).transpose()
    }

    fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.tx.insert((table, key), Some(value));
    }

    fn write<T: Encode>(&mut self, table: Table, key: Vec<u8>, value: &T) {
        self.put(table, key, value.encode().to_vec());
    }

    fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.tx.insert((table, key), None);
    }

    fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.block.extend(tx);
    }

    fn rollback_tx(&mut self) {
        self.tx.clear();
    }

    // --- typed access

    fn policy(&self) -> Result<Policy, StoreError> {
        self.read(Table::Config, CONFIG_POLICY)?.ok_or(StoreError::Uninitialised)
    }

    fn regulator(&self) -> Result<PublicKey, StoreError> {
        self.read(Table::Config, CONFIG_REGULATOR)?.ok_or(StoreError::Uninitialised)
    }

    fn operator(&self, id: &OperatorId) -> Result<Option<OperatorRecord>, StoreError> {
        self.read(Table::Operators, id.as_str().as_bytes())
    }

    fn known_operator(&self, id: &OperatorId) -> Result<OperatorRecord, Fail> {
        self.operator(id)?.ok_or_else(|| TxError::UnknownOperator { operator: id.clone() }.into())
    }

    fn active_operator(&self, id: &OperatorId) -> Result<OperatorRecord, Fail> {
        let op = self.known_operator(id)?;
        if !op.active {
            return Err(TxError::OperatorRetired { operator: id.clone() }.into());
        }
        Ok(op)
    }

    fn key_owner(&self, key: &PublicKey) -> Result<Option<(OperatorId, KeyKind)>, StoreError> {
        let Some(raw) = self.get(Table::OperatorKeys, key.as_ref())? else { return Ok(None) };
        let (kind, id) = raw.split_first().ok_or(StoreError::Corrupt {
            what: "operator key",
            source: commonware_codec::Error::EndOfBuffer,
        })?;
        let id = std::str::from_utf8(id).ok().and_then(|s| s.parse().ok()).ok_or(StoreError::Corrupt {
            what: "operator key",
            source: commonware_codec::Error::Invalid("OperatorKeys", "operator id"),
        })?;
        Ok(Some((id, if *kind == 0 { KeyKind::Operator } else { KeyKind::Validator })))
    }

    /// Checks that `signer` is the operator key of `expected`.
    fn require_operator(&self, signer: &PublicKey, expected: &OperatorId, role: Role) -> Result<(), Fail> {
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

    fn range_holder(&self, number: E164) -> Result<Option<(Prefix, OperatorId)>, StoreError> {
        for prefix in number.prefixes() {
            if let Some(holder) = self.read::<OperatorId>(Table::Ranges, &prefix.encode())? {
                return Ok(Some((prefix, holder)));
            }
        }
        Ok(None)
    }

    fn number(&self, n: E164) -> Result<Option<NumberRecord>, StoreError> {
        self.read(Table::Numbers, &n.value().to_be_bytes())
    }

    /// The number's record (empty if it has none), its range holder and its serving operator.
    fn number_view(&self, n: E164) -> Result<(NumberRecord, OperatorId, OperatorId), Fail> {
        let record = self.number(n)?.unwrap_or_default();
        let (_, holder) = self.range_holder(n)?.ok_or(TxError::UnknownNumber { number: n })?;
        let serving = record.ported_to.clone().unwrap_or_else(|| holder.clone());
        Ok((record, holder, serving))
    }

    fn put_number(&mut self, n: E164, record: &NumberRecord) {
        self.write(Table::Numbers, n.value().to_be_bytes().to_vec(), record);
    }

    fn log(&mut self, n: E164, record: &mut NumberRecord, at: Timestamp, event: NumberEvent) {
        let mut key = n.value().to_be_bytes().to_vec();
        key.extend_from_slice(&record.log_len.to_be_bytes());
        self.write(Table::NumberLog, key, &(at, event));
        record.log_len += 1;
    }

    fn order(&self, id: &PortId) -> Result<PortOrder, Fail> {
        self.read(Table::Orders, id.0.as_ref())?.ok_or_else(|| TxError::UnknownPort { port: *id }.into())
    }

    fn put_order(&mut self, order: &PortOrder) {
        self.write(Table::Orders, order.id.0.as_ref().to_vec(), order);
    }

    fn set_timer(&mut self, at: Timestamp, port: &PortId, kind: TimerKind) {
        self.put(Table::Timers, timer_key(at, port), vec![kind as u8]);
    }

    fn clear_timer(&mut self, at: Timestamp, port: &PortId) {
        self.delete(Table::Timers, timer_key(at, port));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Operator,
    Validator,
}

fn decode<T: Read>(table: Table, bytes: &[u8]) -> Result<T, StoreError>
where
    T::Cfg: Default,
{
    T::decode_cfg(Copying(bytes), &T::Cfg::default())
        .map_err(|source| StoreError::Corrupt { what: table.name(), source })
}

fn timer_key(at: Timestamp, port: &PortId) -> Vec<u8> {
    let mut key = at.millis().to_be_bytes().to_vec();
    key.extend_from_slice(port.0.as_ref());
    key
}

fn open_order_key(op: &OperatorId, port: &PortId) -> Vec<u8> {
    let mut key = vec![op.as_str().len() as u8];
    key.extend_from_slice(op.as_str().as_bytes());
    key.extend_from_slice(port.0.as_ref());
    key
}

fn operator_key_value(kind: KeyKind, id: &OperatorId) -> Vec<u8> {
    let mut v = vec![if kind == KeyKind::Operator { 0 } else { 1 }];
    v.extend_from_slice(id.as_str().as_bytes());
    v
}

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
    /// Writes the genesis into an empty store: configuration, operators, ranges and the
    /// migrated list of already-ported numbers (any order; loaded in bounded batches).
    pub fn genesis(
        mut store: S,
        genesis: &Genesis,
        ported: impl IntoIterator<Item = Result<PortedEntry, GenesisError>>,
    ) -> Result<Self, GenesisError> {
        if store.meta()?.is_some() || !store.range(Table::Config, &[], None, 1)?.is_empty() {
            return Err(GenesisError::StoreNotEmpty);
        }
        genesis.validate()?;
        let mut accumulator = LtHash::new();
        let mut chain_hasher = Sha256::default();
        chain_hasher.update(b"npchain/v1/chain");
        chain_hasher.update(&genesis.encode());

        let mut ctx = Ctx::new(&store);
        ctx.write(Table::Config, CONFIG_REGULATOR.to_vec(), &genesis.regulator_key);
        ctx.write(Table::Config, CONFIG_POLICY.to_vec(), &genesis.policy);
        ctx.write(Table::Config, CONFIG_OPERATOR_COUNT.to_vec(), &(genesis.operators.len() as u16));
        let mut slots = HashMap::new();
        for (slot, op) in genesis.operators.iter().enumerate() {
            let record = OperatorRecord {
                id: op.id.clone(),
                name: op.name.clone(),
                operator_key: (&op.operator_key).into(),
                validator_key: (&op.validator_key).into(),
                routing_number: op.routing_number.clone(),
                slot: slot as u16,
                active: true,
            };
            ctx.write(Table::Operators, op.id.as_str().as_bytes().to_vec(), &record);
            ctx.put(
                Table::OperatorKeys,
                op.operator_key.as_ref().to_vec(),
                operator_key_value(KeyKind::Operator, &op.id),
            );
            ctx.put(
                Table::OperatorKeys,
                op.validator_key.as_ref().to_vec(),
                operator_key_value(KeyKind::Validator, &op.id),
            );
            slots.insert(op.id.clone(), slot);
        }
        let ranges: HashMap<Prefix, OperatorId> =
            genesis.ranges.iter().map(|r| (r.prefix, r.holder.clone())).collect();
        for (prefix, holder) in &ranges {
            ctx.write(Table::Ranges, prefix.encode().to_vec(), holder);
        }
        ctx.commit_tx();
        let first = ctx.block;

        // The migration list goes in bounded batches; the meta (which marks the store as
        // initialised) is written with the last one, so a crash mid-way leaves no ledger.
        let mut pending = first;
        // Every number once, checked after the list: 8 bytes a number in one allocation, given
        // back before the index is built (a set cost 3 to 5 times as much, and its many small
        // allocations stayed with the process after the load).
        let mut listed: Vec<u64> = Vec::new();
        for (line, entry) in ported.into_iter().enumerate() {
            let entry = entry?;
            let line = line + 2; // 1-based, after the header
            if !slots.contains_key(&entry.operator) {
                return Err(GenesisError::PortedUnknownOperator { line, operator: entry.operator });
            }
            let holder = entry
                .number
                .prefixes()
                .find_map(|p| ranges.get(&p))
                .ok_or(GenesisError::PortedOutsideRanges { line, number: entry.number })?;
            listed.push(entry.number.value());
            if let Some(rn) = &entry.routing_number {
                let op = genesis.operators.iter().find(|o| o.id == entry.operator).expect("checked");
                if rn != &op.routing_number {
                    return Err(GenesisError::PortedRoutingNumber {
                        line,
                        operator: entry.operator,
                        expected: op.routing_number.clone(),
                        got: rn.clone(),
                    });
                }
            }
            chain_hasher.update(&entry.number.encode());
            chain_hasher.update(&entry.operator.encode());
            if holder == &entry.operator {
                continue; // ported back home: routes by range, nothing to store
            }
            let record = NumberRecord { ported_to: Some(entry.operator), ..NumberRecord::default() };
            pending.insert(
                (Table::Numbers, entry.number.value().to_be_bytes().to_vec()),
                Some(record.encode().to_vec()),
            );
            if pending.len() >= GENESIS_CHUNK {
                let changes = std::mem::take(&mut pending);
                accumulate(&store, &changes, &mut accumulator)?;
                store.commit(&Batch { changes, meta: None })?;
            }
        }
        listed.sort_unstable();
        if let Some(twice) = listed.windows(2).find(|w| w[0] == w[1]) {
            let number = E164::from_value(twice[0]).expect("parsed from the list");
            return Err(GenesisError::PortedDuplicate { number });
        }
        drop(listed);
        let chain = ChainId(chain_hasher.finalize().1);
        pending.insert((Table::Config, CONFIG_CHAIN.to_vec()), Some(chain.0.encode().to_vec()));
        accumulate(&store, &pending, &mut accumulator)?;
        let meta = Meta { height: 0, block_time: genesis.genesis_time, accumulator };
        store.commit(&Batch { changes: pending, meta: Some(meta) })?;
        Ok(Self::open(store)?)
    }

    /// Opens a store that holds a ledger and rebuilds the in-memory caches from it.
    pub fn open(store: S) -> Result<Self, StoreError> {
        let meta = store.meta()?.ok_or(StoreError::Uninitialised)?;
        let ctx = Ctx::new(&store);
        let chain = ChainId(ctx.read(Table::Config, CONFIG_CHAIN)?.ok_or(StoreError::Uninitialised)?);
        let policy = ctx.policy()?;
        let regulator = ctx.regulator()?;
        drop(ctx);
        let mut ledger = Self {
            store,
            meta,
            chain,
            policy,
            regulator,
            operators: Vec::new(),
            slot_of: HashMap::new(),
            routes: Routes::default(),
        };
        for (_, v) in scan_all(&ledger.store, Table::Operators)? {
            let op: OperatorRecord = decode(Table::Operators, &v)?;
            ledger.routes.write().set_operator(op.slot, op.id.clone(), op.routing_number.clone());
            ledger.cache_operator(op);
        }
        for (k, v) in scan_all(&ledger.store, Table::Ranges)? {
            let prefix = decode(Table::Ranges, &k)?;
            let holder: OperatorId = decode(Table::Ranges, &v)?;
            ledger.routes.write().set_range(prefix, ledger.slot_of[&holder]);
        }
        // Keys are big-endian numbers, so the scan yields them in order: the index is built
        // in place, 10 bytes a number, with no sort and no copy.
        let (mut numbers, mut slots) = (Vec::new(), Vec::new());
        let mut start = Vec::new();
        loop {
            let chunk = ledger.store.range(Table::Numbers, &start, None, GENESIS_CHUNK)?;
            let Some((last, _)) = chunk.last() else { break };
            start = next_key(last);
            for (k, v) in &chunk {
                let record: NumberRecord = decode(Table::Numbers, v)?;
                if let Some(op) = record.ported_to {
                    numbers.push(number_from_key(k)?.value());
                    slots.push(ledger.slot_of[&op]);
                }
            }
        }
        let mut table = ledger.routes.write();
        *table.index_mut() = RoutingIndex::from_sorted(numbers, slots);
        table.set_height(ledger.meta.height, ledger.meta.block_time);
        drop(table);
        Ok(ledger)
    }

    /// Caches an operator record on the ledger's side (the routing table is updated apart).
    fn cache_operator(&mut self, op: OperatorRecord) {
        let slot = usize::from(op.slot);
        self.slot_of.insert(op.id.clone(), op.slot);
        if slot == self.operators.len() {
            self.operators.push(op);
        } else {
            self.operators[slot] = op;
        }
    }

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
        let layers: Vec<&Batch> = pending.iter().map(|e| &e.batch).collect();
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
        let mut ctx = Ctx::new(&view);
        let mut events = Vec::new();
        prune_seen(&mut ctx, block_time)?;
        fire_timers(&mut ctx, block_time, &mut events)?;
        let mut results = Vec::with_capacity(txs.len());
        for tx in txs {
            match apply_tx(&mut ctx, block_time, tx) {
                Ok(mut tx_events) => {
                    ctx.commit_tx();
                    events.append(&mut tx_events);
                    results.push((tx.id(), Ok(())));
                }
                Err(Fail::Tx(e)) => {
                    ctx.rollback_tx();
                    results.push((tx.id(), Err(e)));
                }
                Err(Fail::Store(e)) => return Err(e.into()),
            }
        }
        let changes = ctx.block;
        let mut accumulator = parent.accumulator.clone();
        accumulate(&view, &changes, &mut accumulator)?;
        let meta = Meta { height, block_time, accumulator };
        let outcome = BlockOutcome {
            height,
            block_time,
            state_hash: Digest(meta.accumulator.checksum().0),
            results,
            events,
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
                        decode::<OperatorId>(Table::Ranges, v)?,
                    ));
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
        for (prefix, holder) in ranges {
            table.set_range(prefix, self.slot_of[&holder]);
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

    // --- queries (committed state only)

    /// Whether a transaction with this id was applied and is still inside its validity window
    /// (so sending it again would be refused as a replay).
    pub fn tx_applied(&self, id: &TxId) -> Result<bool, StoreError> {
        Ok(self.store.get(Table::SeenTx, id.0.as_ref())?.is_some())
    }

    /// Where `number` routes now, or `None` if it is in no assigned range.
    pub fn route(&self, number: E164) -> Option<Route> {
        self.routes.read().route(number)
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
        let start = number.value().to_be_bytes();
        let end = (number.value() + 1).to_be_bytes();
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
    /// the group; anything else counts one. The weight reads only the parent state and the
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
                    let layers: Vec<&Batch> = pending.iter().map(|e| &e.batch).collect();
                    let view = Overlay::new(&self.store, &layers);
                    let order: Option<PortOrder> = Ctx::new(&view).read(Table::Orders, port.0.as_ref())?;
                    order.map_or(1, |o| o.numbers.len())
                }
            },
            _ => 1,
        }
        .max(1);
        block.total += weight;
        Ok(weight)
    }

    /// The open orders in which `operator` is donor or recipient, at most `limit`.
    pub fn open_orders(&self, operator: &OperatorId, limit: usize) -> Result<Vec<PortOrder>, StoreError> {
        let mut start = vec![operator.as_str().len() as u8];
        start.extend_from_slice(operator.as_str().as_bytes());
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

    /// The assigned ranges and their holders.
    pub fn ranges(&self) -> Vec<(Prefix, OperatorId)> {
        self.routes.read().ranges().map(|(p, s)| (p, self.operators[usize::from(s)].id.clone())).collect()
    }

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

    /// How many numbers are ported and the heap bytes of their index (for measurements).
    pub fn ported_index(&self) -> (usize, usize) {
        let table = self.routes.read();
        (table.ported_count(), table.index_heap_bytes())
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

fn scan_all<S: ReadStore>(store: &S, table: Table) -> Result<Vec<Entry>, StoreError> {
    store.range(table, &[], None, usize::MAX)
}

/// The smallest key greater than every key that starts with `key` (the end of a prefix scan).
fn next_key(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    while let Some(last) = k.pop() {
        if last < u8::MAX {
            k.push(last + 1);
            return k;
        }
    }
    vec![u8::MAX; key.len() + 1]
}

fn number_from_key(key: &[u8]) -> Result<E164, StoreError> {
    let raw: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        what: "numbers",
        source: commonware_codec::Error::InvalidLength(key.len()),
    })?;
    E164::from_value(u64::from_be_bytes(raw)).ok_or(StoreError::Corrupt {
        what: "numbers",
        source: commonware_codec::Error::Invalid("Numbers", "key is not a number"),
    })
}

/// Folds a batch into the state-hash accumulator: out with each old entry, in with the new.
fn accumulate<S: ReadStore>(
    store: &S,
    changes: &BTreeMap<Key, Change>,
    accumulator: &mut LtHash,
) -> Result<(), StoreError> {
    for ((table, key), change) in changes {
        if let Some(old) = store.get(*table, key)? {
            accumulator.subtract(&entry_digest_input(*table, key, &old));
        }
        if let Some(new) = change {
            accumulator.add(&entry_digest_input(*table, key, new));
        }
    }
    Ok(())
}

/// Forgets applied transactions whose validity window closed before `now`.
fn prune_seen<S: ReadStore>(ctx: &mut Ctx<'_, S>, now: Timestamp) -> Result<(), StoreError> {
    let end = now.millis().to_be_bytes();
    for (k, _) in ctx.store.range(Table::SeenTxByExpiry, &[], Some(&end), usize::MAX)? {
        ctx.delete(Table::SeenTx, k[8..].to_vec());
        ctx.delete(Table::SeenTxByExpiry, k);
    }
    ctx.commit_tx();
    Ok(())
}

/// Fires every timer due at or before `now`, in (deadline, port id) order, including timers
/// that firing sets within the same window.
fn fire_timers<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    events: &mut Vec<Event>,
) -> Result<(), StoreError> {
    let end = (now.millis() + 1).to_be_bytes();
    let mut due: BTreeSet<Vec<u8>> =
        ctx.store.range(Table::Timers, &[], Some(&end), usize::MAX)?.into_iter().map(|(k, _)| k).collect();
    while let Some(key) = due.pop_first() {
        let port = PortId(decode(Table::Timers, &key[8..])?);
        let kind = ctx.get(Table::Timers, &key)?;
        ctx.delete(Table::Timers, key.clone());
        let order = match ctx.order(&port) {
            Ok(order) => order,
            Err(Fail::Store(e)) => return Err(e),
            Err(Fail::Tx(_)) => {
                return Err(StoreError::Corrupt {
                    what: "timers",
                    source: commonware_codec::Error::Invalid("Timers", "timer of a missing order"),
                });
            }
        };
        let at = Timestamp(u64::from_be_bytes(key_prefix8(&key)));
        match (kind.as_deref(), order.state()) {
            (Some([k]), Step::Requested) if *k == TimerKind::DonorDeadline as u8 => {
                match order.on_donor_silence {
                    SilenceRule::DeemedRelease => {
                        let released = release(ctx, order, now, true, events)?;
                        if released.activation_deadline <= now {
                            due.insert(timer_key(released.activation_deadline, &port));
                        }
                    }
                    SilenceRule::DeemedReject => {
                        close(ctx, order, now, Step::Rejected(RejectCause::DonorSilent), events)?;
                    }
                }
            }
            (Some([k]), Step::Released { .. }) if *k == TimerKind::ActivationDeadline as u8 => {
                close(ctx, order, now, Step::Expired, events)?;
            }
            // A timer is removed whenever its order moves on, so none should be stale.
            _ => debug_assert!(false, "stale timer at {at} for {port}"),
        }
        ctx.commit_tx();
    }
    Ok(())
}

fn key_prefix8(key: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&key[..8]);
    a
}

fn apply_tx<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    vtx: &VerifiedTx,
) -> Result<Vec<Event>, Fail> {
    let tx = vtx.tx();
    if tx.expires_at < now {
        return Err(TxError::Expired { expires_at: tx.expires_at, block_time: now }.into());
    }
    let policy = ctx.policy()?;
    let latest = now.plus_secs(policy.tx_ttl_max_secs);
    if tx.expires_at > latest {
        return Err(TxError::ExpiryTooFar { expires_at: tx.expires_at, latest }.into());
    }
    let id = vtx.id();
    if ctx.get(Table::SeenTx, id.0.as_ref())?.is_some() {
        return Err(TxError::Replay { tx: id }.into());
    }
    let signer = &tx.signer;
    let mut events = Vec::new();
    match &tx.body {
        TxBody::AdmitOperator { id, name, operator_key, validator_key, routing_number } => {
            require_regulator(ctx, signer, tx.body.kind())?;
            if ctx.operator(id)?.is_some() {
                return Err(TxError::OperatorExists { operator: id.clone() }.into());
            }
            for key in [operator_key, validator_key] {
                if let Some((owner, _)) = ctx.key_owner(key)? {
                    return Err(TxError::KeyInUse { key: key.into(), operator: owner }.into());
                }
            }
            if operator_key == validator_key {
                return Err(TxError::KeyInUse { key: operator_key.into(), operator: id.clone() }.into());
            }
            let count: u16 = ctx.read(Table::Config, CONFIG_OPERATOR_COUNT)?.unwrap_or(0);
            if usize::from(count) >= MAX_OPERATORS {
                return Err(TxError::TooManyOperators { max: MAX_OPERATORS }.into());
            }
            let record = OperatorRecord {
                id: id.clone(),
                name: name.clone(),
                operator_key: operator_key.into(),
                validator_key: validator_key.into(),
                routing_number: routing_number.clone(),
                slot: count,
                active: true,
            };
            ctx.write(Table::Operators, id.as_str().as_bytes().to_vec(), &record);
            ctx.write(Table::Config, CONFIG_OPERATOR_COUNT.to_vec(), &(count + 1));
            ctx.put(
                Table::OperatorKeys,
                operator_key.as_ref().to_vec(),
                operator_key_value(KeyKind::Operator, id),
            );
            ctx.put(
                Table::OperatorKeys,
                validator_key.as_ref().to_vec(),
                operator_key_value(KeyKind::Validator, id),
            );
            events.push(Event::OperatorAdmitted { operator: id.clone() });
        }
        TxBody::UpdateOperator { id, operator_key, routing_number } => {
            require_regulator(ctx, signer, tx.body.kind())?;
            let mut record = ctx.known_operator(id)?;
            if !record.operator_key.is(operator_key) {
                if let Some((owner, _)) = ctx.key_owner(operator_key)? {
                    return Err(TxError::KeyInUse { key: operator_key.into(), operator: owner }.into());
                }
                ctx.delete(Table::OperatorKeys, record.operator_key.0.to_vec());
                ctx.put(
                    Table::OperatorKeys,
                    operator_key.as_ref().to_vec(),
                    operator_key_value(KeyKind::Operator, id),
                );
                record.operator_key = operator_key.into();
            }
            record.routing_number = routing_number.clone();
            ctx.write(Table::Operators, id.as_str().as_bytes().to_vec(), &record);
            events.push(Event::OperatorUpdated { operator: id.clone() });
        }
        TxBody::RetireOperator { id } => {
            require_regulator(ctx, signer, tx.body.kind())?;
            let mut record = ctx.active_operator(id)?;
            record.active = false;
            ctx.write(Table::Operators, id.as_str().as_bytes().to_vec(), &record);
            events.push(Event::OperatorRetired { operator: id.clone() });
        }
        TxBody::AssignRange { prefix, holder } => {
            require_regulator(ctx, signer, tx.body.kind())?;
            ctx.active_operator(holder)?;
            ctx.write(Table::Ranges, prefix.encode().to_vec(), holder);
            events.push(Event::RangeAssigned { prefix: *prefix, holder: holder.clone() });
        }
        TxBody::SetPolicy(policy) => {
            require_regulator(ctx, signer, tx.body.kind())?;
            ctx.write(Table::Config, CONFIG_POLICY.to_vec(), policy);
            events.push(Event::PolicySet);
        }
        TxBody::Bind { number, subscriber } => {
            let (mut record, _, serving) = ctx.number_view(*number)?;
            ctx.require_operator(signer, &serving, Role::ServingOperator)?;
            ctx.active_operator(&serving)?;
            if let Some(port) = record.open_port {
                return Err(TxError::PortOpen { number: *number, port }.into());
            }
            if let Some(until) = record.quarantine_until.filter(|u| *u > now) {
                return Err(TxError::Quarantined { number: *number, until }.into());
            }
            record.subscriber = subscriber.as_ref().map(KeyId::from);
            let event = NumberEvent::Bound { by: serving.clone(), subscriber: subscriber.clone() };
            ctx.log(*number, &mut record, now, event);
            ctx.put_number(*number, &record);
            events.push(Event::Bound { number: *number, operator: serving, subscriber: subscriber.clone() });
        }
        TxBody::RequestPort(request) => {
            request_port(ctx, now, &policy, request, signer, Initiator::Subscriber, &mut events)?;
        }
        TxBody::RequestPortFor { request, subscriber, .. } => {
            ctx.require_operator(signer, &request.recipient, Role::Recipient)?;
            request_port(ctx, now, &policy, request, subscriber, Initiator::Recipient, &mut events)?;
        }
        TxBody::Release { port } => {
            let order = ctx.order(port)?;
            ctx.require_operator(signer, &order.donor, Role::Donor)?;
            expect_state(&order, matches!(order.state(), Step::Requested), "requested")?;
            release(ctx, order, now, false, &mut events)?;
        }
        TxBody::Reject { port, reason } => {
            let order = ctx.order(port)?;
            ctx.require_operator(signer, &order.donor, Role::Donor)?;
            expect_state(&order, matches!(order.state(), Step::Requested), "requested")?;
            close(ctx, order, now, Step::Rejected(RejectCause::Donor(*reason)), &mut events)?;
        }
        TxBody::Activate { port } => {
            let order = ctx.order(port)?;
            ctx.require_operator(signer, &order.recipient, Role::Recipient)?;
            ctx.active_operator(&order.recipient)?;
            expect_state(&order, matches!(order.state(), Step::Released { .. }), "released")?;
            if now < order.due {
                return Err(TxError::NotYetDue { port: *port, due: order.due }.into());
            }
            for number in &order.numbers {
                let (mut record, holder, _) = ctx.number_view(*number)?;
                record.ported_to = (order.recipient != holder).then(|| order.recipient.clone());
                record.last_ported_at = Some(now);
                ctx.put_number(*number, &record);
            }
            close(ctx, order, now, Step::Activated, &mut events)?;
        }
        TxBody::Cancel { port } => {
            let order = ctx.order(port)?;
            if !order.subscriber.is(signer) {
                return Err(TxError::NotSubscriber { port: *port }.into());
            }
            expect_state(&order, order.is_open(), "requested or released")?;
            close(ctx, order, now, Step::Cancelled, &mut events)?;
        }
        TxBody::Return { number } => {
            let (mut record, holder, serving) = ctx.number_view(*number)?;
            if serving == holder {
                return Err(TxError::NotPorted { number: *number, holder }.into());
            }
            ctx.require_operator(signer, &serving, Role::ServingOperator)?;
            if let Some(port) = record.open_port {
                return Err(TxError::PortOpen { number: *number, port }.into());
            }
            record.ported_to = None;
            record.subscriber = None;
            record.quarantine_until = Some(now.plus_secs(policy.return_quarantine_secs));
            let event = NumberEvent::Returned { from: serving.clone(), to: holder.clone() };
            ctx.log(*number, &mut record, now, event);
            ctx.put_number(*number, &record);
            events.push(Event::Returned { number: *number, from: serving, to: holder });
        }
    }
    ctx.write(Table::SeenTx, id.0.as_ref().to_vec(), &tx.expires_at);
    let mut key = tx.expires_at.millis().to_be_bytes().to_vec();
    key.extend_from_slice(id.0.as_ref());
    ctx.put(Table::SeenTxByExpiry, key, Vec::new());
    Ok(events)
}

fn require_regulator<S: ReadStore>(
    ctx: &Ctx<'_, S>,
    signer: &PublicKey,
    kind: &'static str,
) -> Result<(), Fail> {
    if signer != &ctx.regulator()? {
        return Err(TxError::NotRegulator { kind, signer: signer.into() }.into());
    }
    Ok(())
}

fn expect_state(order: &PortOrder, ok: bool, expected: &'static str) -> Result<(), Fail> {
    if ok {
        Ok(())
    } else {
        Err(TxError::WrongState { port: order.id, state: order.state(), expected }.into())
    }
}

fn request_port<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    policy: &Policy,
    request: &PortRequest,
    subscriber: &PublicKey,
    initiator: Initiator,
    events: &mut Vec<Event>,
) -> Result<(), Fail> {
    let id = request.port_id(subscriber);
    if ctx.read::<PortOrder>(Table::Orders, id.0.as_ref())?.is_some() {
        return Err(TxError::DuplicatePort { port: id }.into());
    }
    ctx.known_operator(&request.donor)?;
    ctx.active_operator(&request.recipient)?;
    let latest = now.plus_secs(policy.max_due_ahead_secs);
    if request.due > latest {
        return Err(TxError::DueTooFar { due: request.due, latest }.into());
    }
    let mut records = Vec::with_capacity(request.numbers.len());
    for number in &request.numbers {
        let (record, _, serving) = ctx.number_view(*number)?;
        if serving != request.donor {
            return Err(
                TxError::DonorNotServing { number: *number, donor: request.donor.clone(), serving }.into()
            );
        }
        if !record.subscriber.is_some_and(|k| k.is(subscriber)) {
            return Err(TxError::NotBound { number: *number }.into());
        }
        if let Some(port) = record.open_port {
            return Err(TxError::PortOpen { number: *number, port }.into());
        }
        if let Some(until) = record.last_ported_at.map(|t| t.plus_secs(policy.lock_in_secs))
            && until > now
        {
            return Err(TxError::LockIn { number: *number, until }.into());
        }
        records.push(record);
    }
    let due = request.due.max(now);
    let donor_deadline = now.plus_secs(policy.donor_answer_secs);
    let order = PortOrder {
        id,
        numbers: request.numbers.clone(),
        donor: request.donor.clone(),
        recipient: request.recipient.clone(),
        subscriber: subscriber.into(),
        initiator,
        due,
        donor_deadline,
        activation_deadline: due.max(donor_deadline).plus_secs(policy.activation_window_secs),
        on_donor_silence: policy.on_donor_silence,
        history: vec![(now, Step::Requested)],
    };
    for (number, mut record) in request.numbers.iter().zip(records) {
        record.open_port = Some(id);
        ctx.log(*number, &mut record, now, NumberEvent::Port { port: id, step: Step::Requested });
        ctx.put_number(*number, &record);
    }
    for op in [&order.donor, &order.recipient] {
        ctx.put(Table::OpenOrders, open_order_key(op, &id), Vec::new());
    }
    ctx.set_timer(donor_deadline, &id, TimerKind::DonorDeadline);
    ctx.put_order(&order);
    events.push(port_event(&order, Step::Requested));
    Ok(())
}

fn port_event(order: &PortOrder, step: Step) -> Event {
    Event::Port {
        port: order.id,
        step,
        donor: order.donor.clone(),
        recipient: order.recipient.clone(),
        numbers: order.numbers.clone(),
    }
}

/// Moves a requested order to released (by the donor's answer or its silence).
fn release<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    mut order: PortOrder,
    now: Timestamp,
    deemed: bool,
    events: &mut Vec<Event>,
) -> Result<PortOrder, StoreError> {
    let step = Step::Released { deemed };
    ctx.clear_timer(order.donor_deadline, &order.id);
    ctx.set_timer(order.activation_deadline, &order.id, TimerKind::ActivationDeadline);
    record_step(ctx, &mut order, now, step, events)?;
    Ok(order)
}

/// Ends an order with a final step: frees its numbers, its timer and its open-order entries.
fn close<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    mut order: PortOrder,
    now: Timestamp,
    step: Step,
    events: &mut Vec<Event>,
) -> Result<(), StoreError> {
    debug_assert!(step.is_final());
    match order.state() {
        Step::Requested => ctx.clear_timer(order.donor_deadline, &order.id),
        Step::Released { .. } => ctx.clear_timer(order.activation_deadline, &order.id),
        _ => unreachable!("only open orders are closed"),
    }
    for op in [&order.donor, &order.recipient] {
        ctx.delete(Table::OpenOrders, open_order_key(op, &order.id));
    }
    record_step(ctx, &mut order, now, step, events)
}

/// Appends a step to the order and to each number's log (freeing the numbers when the step
/// is final), stores the order and reports the event.
fn record_step<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    order: &mut PortOrder,
    now: Timestamp,
    step: Step,
    events: &mut Vec<Event>,
) -> Result<(), StoreError> {
    order.history.push((now, step));
    for number in &order.numbers {
        let mut record = ctx.number(*number)?.unwrap_or_default();
        if step.is_final() {
            record.open_port = None;
        }
        ctx.log(*number, &mut record, now, NumberEvent::Port { port: order.id, step });
        ctx.put_number(*number, &record);
    }
    ctx.put_order(order);
    events.push(port_event(order, step));
    Ok(())
}
