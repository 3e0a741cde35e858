//! The pool of verified transactions waiting for a block: bounded, first come first served,
//! one entry per transaction id.

use bytes::Bytes;
use npchain_core::{
    tx::VerifiedTx,
    types::{Timestamp, TxId},
};
use std::collections::{BTreeMap, HashMap};

/// How many transactions and bytes a pool holds at most, by default.
pub const DEFAULT_MAX_TXS: usize = 100_000;
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug)]
struct Entry {
    seq: u64,
    tx: VerifiedTx,
    bytes: Bytes,
}

/// Why a transaction was not pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Duplicate,
    Full,
}

#[derive(Debug)]
pub struct Mempool {
    by_id: HashMap<TxId, Entry>,
    order: BTreeMap<u64, TxId>,
    next_seq: u64,
    bytes: usize,
    max_txs: usize,
    max_bytes: usize,
}

impl Default for Mempool {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_TXS, DEFAULT_MAX_BYTES)
    }
}

impl Mempool {
    pub fn new(max_txs: usize, max_bytes: usize) -> Self {
        Self { by_id: HashMap::new(), order: BTreeMap::new(), next_seq: 0, bytes: 0, max_txs, max_bytes }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.max_txs
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.by_id.contains_key(id)
    }

    /// The pooled transaction with this id, if its bytes are exactly `bytes` (so a block's
    /// copy need not be verified again).
    pub fn verified(&self, id: &TxId, bytes: &[u8]) -> Option<&VerifiedTx> {
        self.by_id.get(id).filter(|e| e.bytes.as_ref() == bytes).map(|e| &e.tx)
    }

    pub fn insert(&mut self, tx: VerifiedTx, bytes: Bytes) -> Result<(), Refused> {
        let id = tx.id();
        if self.by_id.contains_key(&id) {
            return Err(Refused::Duplicate);
        }
        if self.by_id.len() >= self.max_txs || self.bytes + bytes.len() > self.max_bytes {
            return Err(Refused::Full);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += bytes.len();
        self.order.insert(seq, id);
        self.by_id.insert(id, Entry { seq, tx, bytes });
        Ok(())
    }

    pub fn remove(&mut self, id: &TxId) -> bool {
        match self.by_id.remove(id) {
            Some(e) => {
                self.order.remove(&e.seq);
                self.bytes -= e.bytes.len();
                true
            }
            None => false,
        }
    }

    /// Drops every transaction that expired before `now`.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let expired: Vec<TxId> =
            self.by_id.iter().filter(|(_, e)| e.tx.tx().expires_at < now).map(|(id, _)| *id).collect();
        for id in &expired {
            self.remove(id);
        }
        expired.len()
    }

    /// Up to `max_txs` transactions and `max_bytes` bytes, oldest first, skipping those
    /// `skip` names (already in a pending block).
    pub fn select(
        &self,
        max_txs: usize,
        max_bytes: usize,
        skip: impl Fn(&TxId) -> bool,
    ) -> Vec<(VerifiedTx, Bytes)> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for id in self.order.values() {
            if out.len() == max_txs {
                break;
            }
            if skip(id) {
                continue;
            }
            let e = &self.by_id[id];
            if bytes + e.bytes.len() > max_bytes {
                break;
            }
            bytes += e.bytes.len();
            out.push((e.tx.clone(), e.bytes.clone()));
        }
        out
    }
}
