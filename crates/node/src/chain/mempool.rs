//! The pool of verified transactions waiting for a block: bounded, one entry per transaction
//! id, and drawn into blocks by the fairness rule of [`Mempool::select`]: small transactions
//! (at most [`SMALL_WEIGHT`] numbers touched) keep at least half of every block while large
//! ones wait, and every block carries at least one large transaction while any waits; within a
//! class, first come first served.

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

/// The most numbers a transaction may touch and still be *small* for [`Mempool::select`]: a
/// single-number port and its steps weigh 1, a group port of a hundred numbers 100.
pub const SMALL_WEIGHT: usize = 100;

/// How many transactions [`Mempool::select`] weighs past the ones it keeps as candidates while
/// it looks for the other class (each is weighed, which may read its order): a class that
/// arrived behind more than this many of the other waits until they thin out.
const LOOKAHEAD: usize = 1_024;

/// Pooled transactions and their weights, oldest first.
type Candidates<'a> = Vec<(&'a Entry, usize)>;

/// What a block may carry, for [`Mempool::select`].
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The weight (numbers touched) the block is aimed at.
    pub target: usize,
    /// The weight no block may exceed.
    pub max_weight: usize,
    pub max_txs: usize,
    pub max_bytes: usize,
    /// The parent block carried a large transaction: while small ones wait, this block takes
    /// none.
    pub after_large: bool,
}

/// The transactions of the next block ([`Mempool::select`]).
#[derive(Debug)]
pub struct Selection {
    /// In block order.
    pub txs: Vec<(VerifiedTx, Bytes)>,
    /// Their total weight.
    pub weight: usize,
    /// Whether one of them is large.
    pub large: bool,
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

    /// The transactions of the next block. `skip` names the ones already on the block's
    /// ancestry; `weight` gives a transaction's numbers touched (it is called once per
    /// transaction looked at, oldest first).
    ///
    /// The fairness rule. A transaction is small when it touches at most [`SMALL_WEIGHT`]
    /// numbers, large otherwise (a group port of thousands of numbers, a bulk import).
    /// - While both classes wait, small transactions take up to half of `target`, oldest
    ///   first, and large ones the rest; the oldest large one is taken even when it does not fit
    ///   the rest, as long as the block stays within `max_weight`.
    /// - While both classes wait and the parent block carried a large one
    ///   ([`Budget::after_large`]), the block takes small ones only, up to the whole `target`.
    ///   So large transactions go in every other block at most while small ones wait: a small
    ///   one waits behind one long block, never behind a run of them, and a burst of large
    ///   ones still moves on every second block.
    /// - When only one class waits, it has the whole `target`, and its oldest transaction is
    ///   always taken.
    /// - Small ones come first in the block, then large ones, each class oldest first. The
    ///   steps of one order have the same weight, so they keep their order.
    pub fn select(
        &self,
        budget: Budget,
        skip: impl Fn(&TxId) -> bool,
        mut weight: impl FnMut(&VerifiedTx) -> usize,
    ) -> Selection {
        // The candidates of each class, oldest first, with their weights: enough of each to
        // fill the target alone.
        let (mut small, mut large): (Candidates<'_>, Candidates<'_>) = (Vec::new(), Vec::new());
        let (mut small_seen, mut large_seen) = (0, 0);
        for (looked, id) in self.order.values().filter(|id| !skip(id)).enumerate() {
            let full = |seen: usize, n: usize| seen >= budget.target || n >= budget.max_txs;
            let passed = looked - small.len() - large.len();
            if (full(small_seen, small.len()) && full(large_seen, large.len())) || passed >= LOOKAHEAD {
                break;
            }
            let e = &self.by_id[id];
            let w = weight(&e.tx);
            let (class, seen) =
                if w <= SMALL_WEIGHT { (&mut small, &mut small_seen) } else { (&mut large, &mut large_seen) };
            if !full(*seen, class.len()) {
                *seen += w;
                class.push((e, w));
            }
        }
        let both = !small.is_empty() && !large.is_empty();
        let mut out = Vec::new();
        let (mut bytes, mut total) = (0, 0);
        // Takes from `class`, oldest first, and says how many it took.
        let mut take = |class: &[(&Entry, usize)], share: usize, force_first: bool| {
            let before = out.len();
            for (i, (e, w)) in class.iter().enumerate() {
                let within = total + w <= share || (i == 0 && force_first && total + w <= budget.max_weight);
                if !within || out.len() == budget.max_txs || bytes + e.bytes.len() > budget.max_bytes {
                    break;
                }
                bytes += e.bytes.len();
                total += w;
                out.push((e.tx.clone(), e.bytes.clone()));
            }
            out.len() - before
        };
        let large = if both && budget.after_large {
            take(&small, budget.target, true);
            false
        } else {
            take(&small, if both { budget.target / 2 } else { budget.target }, !both);
            take(&large, budget.target, true) > 0
        };
        Selection { txs: out, weight: total, large }
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

    fn budget(target: usize, max_txs: usize) -> Budget {
        Budget { target, max_weight: 20_000, max_txs, max_bytes: 1 << 20, after_large: false }
    }

    fn nonces(got: &[(VerifiedTx, Bytes)]) -> Vec<u64> {
        got.iter().map(|(t, _)| t.tx().nonce).collect()
    }

    /// Nonces 0..10: large (10,000 numbers each, [`burst_weight`]), pooled first; then 10..60:
    /// small (1 each).
    fn burst_pool() -> Mempool {
        let mut pool = Mempool::new(100, 1 << 20);
        for n in 0..60 {
            let (t, b) = tx(n);
            pool.insert(t, b).unwrap();
        }
        pool
    }

    fn burst_weight(t: &VerifiedTx) -> usize {
        if t.tx().nonce < 10 { 10_000 } else { 1 }
    }

    #[test]
    fn selection_keeps_to_the_weight_budget_but_always_takes_one() {
        let mut pool = Mempool::new(10, 1 << 20);
        for n in 0..5 {
            let (t, b) = tx(n);
            pool.insert(t, b).unwrap();
        }
        // weights 5, 15, 25, 35, 45 in pool order: all small
        let weight = |t: &VerifiedTx| t.tx().nonce as usize * 10 + 5;
        let Selection { txs: got, weight: total, .. } = pool.select(budget(20, 10), |_| false, weight);
        assert_eq!((nonces(&got), total), (vec![0, 1], 20));
        let Selection { txs: got, weight: total, .. } = pool.select(budget(1, 10), |_| false, weight);
        assert_eq!((nonces(&got), total), (vec![0], 5), "one transaction even over the budget");
        let first = tx(0).0.id();
        let got = pool.select(budget(20, 10), |id| *id == first, weight).txs;
        assert_eq!(nonces(&got), vec![1]);
        let got = pool.select(budget(1_000, 3), |_| false, weight).txs;
        assert_eq!(nonces(&got), vec![0, 1, 2], "and no more than max_txs");
    }

    #[test]
    fn a_burst_of_large_transactions_leaves_small_ones_half_of_every_block() {
        let pool = burst_pool();
        let weight = burst_weight;
        // target 40: the small ones take half (20), oldest first, then the oldest large one,
        // although it is far over the target: every block moves the burst on
        let Selection { txs: got, weight: total, .. } = pool.select(budget(40, 1_000), |_| false, weight);
        assert_eq!(nonces(&got), (10..30).chain([0]).collect::<Vec<_>>());
        assert_eq!(total, 20 + 10_000);
        // a large one that would pass the block maximum waits
        let got = pool.select(Budget { max_weight: 9_000, ..budget(40, 1_000) }, |_| false, weight).txs;
        assert_eq!(nonces(&got), (10..30).collect::<Vec<_>>());
        // only large ones: one a block (each is over the target), oldest first
        let small = |id: &TxId| (10..60).any(|n| tx(n).0.id() == *id);
        let Selection { txs: got, weight: total, .. } = pool.select(budget(15_000, 1_000), small, weight);
        assert_eq!((nonces(&got), total), (vec![0], 10_000));
        let Selection { txs: got, weight: total, .. } = pool.select(budget(20_000, 1_000), small, weight);
        assert_eq!((nonces(&got), total), (vec![0, 1], 20_000));
        // only small ones: the whole target
        let large = |id: &TxId| (0..10).any(|n| tx(n).0.id() == *id);
        let got = pool.select(budget(40, 1_000), large, weight).txs;
        assert_eq!(nonces(&got), (10..50).collect::<Vec<_>>());
    }

    #[test]
    fn after_a_block_with_a_large_transaction_small_ones_go_alone() {
        let pool = burst_pool();
        let weight = burst_weight;
        let after = Budget { after_large: true, ..budget(40, 1_000) };
        // both wait, the parent had a large one: small ones only, the whole target
        let s = pool.select(after, |_| false, weight);
        assert_eq!((nonces(&s.txs), s.weight, s.large), ((10..50).collect::<Vec<_>>(), 40, false));
        // the block after that one takes a large one again, and says so
        let s = pool.select(budget(40, 1_000), |_| false, weight);
        assert_eq!((s.txs.len(), s.large), (21, true));
        // with no small one waiting, a large one goes even after a large one
        let small = |id: &TxId| (10..60).any(|n| tx(n).0.id() == *id);
        let s = pool.select(after, small, weight);
        assert_eq!((nonces(&s.txs), s.large), (vec![0], true));
        // with no large one waiting, nothing changes for small ones
        let large = |id: &TxId| (0..10).any(|n| tx(n).0.id() == *id);
        let s = pool.select(after, large, weight);
        assert_eq!((nonces(&s.txs), s.large), ((10..50).collect::<Vec<_>>(), false));
    }
}
