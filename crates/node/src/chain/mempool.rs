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

    /// The sequence number the next pooled transaction gets: a mark that [`Self::pooled_before`]
    /// takes to name what was pooled before it.
    pub fn mark(&self) -> u64 {
        self.next_seq
    }

    /// Oldest first, up to `max` transactions pooled before `mark` and still waiting.
    pub fn pooled_before(&self, mark: u64, max: usize) -> Vec<Bytes> {
        self.order.range(..mark).take(max).map(|(_, id)| self.by_id[id].bytes.clone()).collect()
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

    /// Oldest first, transactions not named by `skip` (already in a pending block) while their
    /// total `weight` stays within `max_weight` (the first one is always taken), up to
    /// `max_txs` transactions and `max_bytes` bytes. Also returns their total weight.
    pub fn select(
        &self,
        max_weight: usize,
        max_txs: usize,
        max_bytes: usize,
        skip: impl Fn(&TxId) -> bool,
        mut weight: impl FnMut(&VerifiedTx) -> usize,
    ) -> (Vec<(VerifiedTx, Bytes)>, usize) {
        let mut out = Vec::new();
        let (mut bytes, mut total) = (0, 0);
        for id in self.order.values() {
            if out.len() == max_txs {
                break;
            }
            if skip(id) {
                continue;
            }
            let e = &self.by_id[id];
            let w = weight(&e.tx);
            if bytes + e.bytes.len() > max_bytes || (!out.is_empty() && total + w > max_weight) {
                break;
            }
            bytes += e.bytes.len();
            total += w;
            out.push((e.tx.clone(), e.bytes.clone()));
        }
        (out, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode;
    use commonware_cryptography::Signer;
    use npchain_core::{ChainId, Digest, Transaction, TxBody};

    fn tx(nonce: u64) -> (VerifiedTx, Bytes) {
        let key = npchain_testkit::key("OPA");
        let chain_id = ChainId(Digest::from([0; 32]));
        let body = TxBody::Return { number: format!("+493010000{nonce}").parse().unwrap() };
        let signed = Transaction { nonce, expires_at: Timestamp(1_000), signer: key.public_key(), body }
            .sign(&chain_id, &key);
        let bytes = Bytes::from(signed.encode().to_vec());
        (signed.verify(&chain_id).unwrap(), bytes)
    }

    #[test]
    fn selection_keeps_to_the_weight_budget_but_always_takes_one() {
        let mut pool = Mempool::new(10, 1 << 20);
        for n in 0..5 {
            let (t, b) = tx(n);
            pool.insert(t, b).unwrap();
        }
        // weights 5, 15, 25, 35, 45 in pool order
        let weight = |t: &VerifiedTx| t.tx().nonce as usize * 10 + 5;
        let nonces = |got: &[(VerifiedTx, Bytes)]| got.iter().map(|(t, _)| t.tx().nonce).collect::<Vec<_>>();
        let (got, total) = pool.select(20, 10, 1 << 20, |_| false, weight);
        assert_eq!((nonces(&got), total), (vec![0, 1], 20));
        let (got, total) = pool.select(1, 10, 1 << 20, |_| false, weight);
        assert_eq!((nonces(&got), total), (vec![0], 5), "one transaction even over the budget");
        let first = tx(0).0.id();
        let (got, _) = pool.select(20, 10, 1 << 20, |id| *id == first, weight);
        assert_eq!(nonces(&got), vec![1]);
        let (got, _) = pool.select(1_000, 3, 1 << 20, |_| false, weight);
        assert_eq!(nonces(&got), vec![0, 1, 2], "and no more than max_txs");
    }
}
