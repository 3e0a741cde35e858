//! Making a ledger: writing a genesis into an empty store, and opening a store that holds one
//! (the in-memory caches, among them the routing table, are rebuilt from the tables).

use super::{
    Ledger,
    ctx::{Ctx, Reads, decode},
    epochs::{self, closes_epoch},
    exec::accumulate,
    keys::{CONFIG_BLOCKS_PER_EPOCH, CONFIG_CHAIN, CONFIG_REGULATOR, next_key, number_from_key, number_key},
};
use crate::{
    genesis::{Genesis, GenesisError, PortedEntry},
    number::{E164, Prefix},
    records::{NumberRecord, OperatorRecord, RangeRecord},
    routing::{Routes, RoutingIndex},
    store::{Batch, Entry, Meta, ReadStore, Store, StoreError, Table},
    tx::ChainId,
};
use commonware_codec::Encode;
use commonware_cryptography::{Hasher, Sha256, lthash::LtHash};
use std::collections::HashMap;

/// Numbers written per storage batch while loading a genesis migration list (and read per
/// range while opening).
const GENESIS_CHUNK: usize = 100_000;

impl<S: Store> Ledger<S> {
    /// Writes the genesis into an empty store: configuration, operators, ranges, epoch 0's
    /// validator set (the operators' validator keys, sorted; with one block per epoch the genesis
    /// block is the last of epoch 0, so epoch 1's set too) and the migrated list of
    /// already-ported numbers (any order; loaded in bounded batches).
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
        ctx.put_policy(&genesis.policy);
        ctx.set_operator_count(genesis.operators.len() as u16);
        ctx.write(Table::Config, CONFIG_BLOCKS_PER_EPOCH.to_vec(), &genesis.blocks_per_epoch.get());
        let mut validators: Vec<_> = genesis.operators.iter().map(|o| o.validator_key.clone()).collect();
        validators.sort();
        epochs::put_set(&mut ctx, 0, &validators);
        if closes_epoch(0, genesis.blocks_per_epoch) {
            epochs::put_set(&mut ctx, 1, &validators);
        }
        let mut slots = HashMap::new();
        for (slot, op) in genesis.operators.iter().enumerate() {
            ctx.put_new_operator(&OperatorRecord {
                id: op.id.clone(),
                name: op.name.clone(),
                operator_key: (&op.operator_key).into(),
                validator_key: Some((&op.validator_key).into()),
                routing_number: op.routing_number.clone(),
                slot: slot as u16,
                active: true,
            });
            slots.insert(op.id.clone(), slot);
        }
        // The lengths as the genesis resolved them (given, or the numbering plan's), stored:
        // the state machine never reads the plan.
        let ranges: HashMap<Prefix, RangeRecord> = genesis
            .ranges
            .iter()
            .map(|r| (r.prefix, RangeRecord { holder: r.holder.clone(), lengths: Some(r.lengths) }))
            .collect();
        for (prefix, range) in &ranges {
            ctx.put_range(*prefix, range);
        }
        ctx.commit_tx();

        // The migration list goes in bounded batches; the meta (which marks the store as
        // initialised) is written with the last one, so a crash mid-way leaves no ledger.
        let (mut pending, _, _) = ctx.into_block();
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
            let (range, record) = entry
                .number
                .prefixes()
                .find_map(|p| ranges.get(&p).map(|r| (p, r)))
                .ok_or(GenesisError::PortedOutsideRanges { line, number: entry.number })?;
            let lengths = record.lengths(range);
            if !lengths.contains(entry.number.digits()) {
                let (number, digits) = (entry.number, entry.number.digits());
                return Err(GenesisError::PortedLength { line, number, digits, range, lengths });
            }
            let holder = &record.holder;
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
            pending
                .insert((Table::Numbers, number_key(entry.number).to_vec()), Some(record.encode().to_vec()));
            if pending.len() >= GENESIS_CHUNK {
                let changes = std::mem::take(&mut pending);
                accumulate(&store, &changes, &Reads::default(), &mut accumulator)?;
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
        accumulate(&store, &pending, &Reads::default(), &mut accumulator)?;
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
        let blocks_per_epoch = ctx
            .read::<u64>(Table::Config, CONFIG_BLOCKS_PER_EPOCH)?
            .and_then(std::num::NonZeroU64::new)
            .ok_or(StoreError::Uninitialised)?;
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
            blocks_per_epoch,
            epochs: Vec::new(),
        };
        for (k, v) in scan_all(&ledger.store, Table::Epochs)? {
            let epoch: u64 = decode(Table::Epochs, &k)?;
            ledger.cache_epoch(epoch, epochs::decode_set(&v)?);
        }
        for (_, v) in scan_all(&ledger.store, Table::Operators)? {
            let op: OperatorRecord = decode(Table::Operators, &v)?;
            ledger.routes.write().set_operator(op.slot, op.id.clone(), op.routing_number.clone());
            ledger.cache_operator(op);
        }
        for (k, v) in scan_all(&ledger.store, Table::Ranges)? {
            let prefix = decode(Table::Ranges, &k)?;
            let range: RangeRecord = decode(Table::Ranges, &v)?;
            ledger.routes.write().set_range(prefix, ledger.slot_of[&range.holder], range.lengths(prefix));
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
    pub(super) fn cache_operator(&mut self, op: OperatorRecord) {
        let slot = usize::from(op.slot);
        self.slot_of.insert(op.id.clone(), op.slot);
        if slot == self.operators.len() {
            self.operators.push(op);
        } else {
            self.operators[slot] = op;
        }
    }
}

fn scan_all<S: ReadStore>(store: &S, table: Table) -> Result<Vec<Entry>, StoreError> {
    store.range(table, &[], None, usize::MAX)
}
