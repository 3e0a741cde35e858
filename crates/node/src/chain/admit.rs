//! Transactions entering the node, from clients and from peers' gossip: decoded and checked
//! against the pool and the committed state (replay, expiry, validity window) under one lock,
//! their signatures verified in one batch outside it, then pooled under one lock. A block that
//! carries the same bytes later reuses the pooled verification.

use super::{BlockLog, Chain, Inner, MAX_CLOCK_DRIFT_MS, mempool::Refused};
use crate::api::{Invalidity, SubmitError, Unavailable};
use bytes::Bytes;
use npchain_core::{
    Store,
    tx::{SignedTransaction, VerifiedTx},
    types::{Timestamp, TxId},
};
use std::{collections::HashSet, sync::Arc};

impl<S: Store + Send + 'static, L: BlockLog> Chain<S, L> {
    /// Checks a transaction from a client or a peer and pools it. Signatures are checked here,
    /// once, outside the lock; a block carrying the same bytes later reuses the result.
    pub fn submit(&self, bytes: &[u8]) -> Result<VerifiedTx, SubmitError> {
        self.submit_checked(bytes, None)
    }

    /// Like [`Self::submit`]; with `dry_run_at`, the ledger first applies the transaction to
    /// the committed state at that block time (or the last block time, if later) and refuses it
    /// with the ledger's reason if it fails, before it enters the pool. Nothing is written.
    /// A transaction that needs another one still pending (a release before its activation)
    /// fails this check; clients send those without it.
    pub fn submit_checked(
        &self,
        bytes: &[u8],
        dry_run_at: Option<Timestamp>,
    ) -> Result<VerifiedTx, SubmitError> {
        let mut results = self.submit_batch(&[Bytes::copy_from_slice(bytes)], dry_run_at);
        results.pop().unwrap_or(Err(SubmitError::Unavailable(Unavailable::NoResult)))
    }

    /// [`Self::submit_checked`] for many transactions, with one result each, in order. The
    /// signatures of the whole batch are checked at once ([`npchain_core::verify_batch`]) and
    /// the chain is locked once for the batch, not once per transaction.
    pub fn submit_batch(
        &self,
        txs: &[Bytes],
        dry_run_at: Option<Timestamp>,
    ) -> Vec<Result<VerifiedTx, SubmitError>> {
        let results = self.admit(txs, dry_run_at);
        for result in &results {
            if let Err(e) = result {
                self.metrics.rejected("submit", e.code());
            }
        }
        self.metrics.mempool.set(self.mempool_len() as i64);
        results
    }

    fn admit(&self, txs: &[Bytes], dry_run_at: Option<Timestamp>) -> Vec<Result<VerifiedTx, SubmitError>> {
        // Decode, and check against the pool and the committed state, under one lock.
        let (checked_at, checked): (u64, Vec<Result<SignedTransaction, SubmitError>>) = {
            let inner = self.lock();
            let mut ids = HashSet::with_capacity(txs.len());
            let checked = txs
                .iter()
                .map(|bytes| {
                    // (bounded in size before it is decoded)
                    let tx = SignedTransaction::from_bytes(bytes).map_err(SubmitError::Malformed)?;
                    let id = tx.id();
                    if !ids.insert(id) {
                        return Err(SubmitError::Duplicate(id));
                    }
                    inner.precheck(&id, &tx)?;
                    Ok(tx)
                })
                .collect();
            (inner.ledger.height(), checked)
        };
        // Signatures outside the lock, all at once.
        let mut results: Vec<Option<Result<VerifiedTx, SubmitError>>> = Vec::with_capacity(txs.len());
        let (mut slots, mut unverified) = (Vec::new(), Vec::new());
        for (i, c) in checked.into_iter().enumerate() {
            match c {
                Ok(tx) => {
                    slots.push(i);
                    unverified.push(tx);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let verified = npchain_core::verify_batch(unverified, &self.chain_id, &mut rand::rng());
        let mut inner = self.lock();
        // A block committed while the lock was released may carry some of these: checked
        // again against the new state, or they would be pooled, proposed and refused as
        // replays.
        let recheck = inner.ledger.height() != checked_at;
        for (i, v) in slots.into_iter().zip(verified) {
            let result = v
                .map_err(|e| SubmitError::Invalid(e.into()))
                .and_then(|tx| match recheck {
                    true => inner.precheck(&tx.id(), tx.signed()).map(|()| tx),
                    false => Ok(tx),
                })
                .and_then(|tx| inner.pool_checked(tx, &txs[i], dry_run_at));
            results[i] = Some(result);
        }
        results.into_iter().map(|r| r.expect("every transaction has a result")).collect()
    }
}

impl<S: Store, L: BlockLog> Inner<S, L> {
    fn precheck(&self, id: &TxId, tx: &SignedTransaction) -> Result<(), SubmitError> {
        if let Some(cause) = &self.halted {
            return Err(SubmitError::Unavailable(Unavailable::Halted(cause.clone())));
        }
        if self.pool.contains(id) {
            return Err(SubmitError::Duplicate(*id));
        }
        let ledger = &self.ledger;
        if ledger
            .tx_applied(tx.tx.expires_at, id)
            .map_err(|e| SubmitError::Unavailable(Unavailable::Store(Arc::new(e))))?
        {
            return Err(SubmitError::Committed(*id));
        }
        let now = ledger.block_time();
        if tx.tx.expires_at < now {
            return Err(SubmitError::Expired {
                expires_at_ms: tx.tx.expires_at.millis(),
                now_ms: now.millis(),
            });
        }
        let ttl_max_secs = ledger.policy().tx_ttl_max_secs;
        let latest = now.plus_secs(ttl_max_secs);
        if tx.tx.expires_at > latest.plus_secs(MAX_CLOCK_DRIFT_MS / 1000) {
            let expires_at_ms = tx.tx.expires_at.millis();
            return Err(SubmitError::Invalid(Invalidity::ValidityTooLong { expires_at_ms, ttl_max_secs }));
        }
        Ok(())
    }

    /// Pools a verified transaction; with `dry_run_at`, only if the ledger would apply it to
    /// the committed state at that time.
    fn pool_checked(
        &mut self,
        verified: VerifiedTx,
        bytes: &Bytes,
        dry_run_at: Option<Timestamp>,
    ) -> Result<VerifiedTx, SubmitError> {
        if let Some(at) = dry_run_at {
            let ledger = &self.ledger;
            let time = Timestamp(at.millis().max(ledger.block_time().millis()));
            let executed = ledger
                .execute(&[], ledger.height() + 1, time, std::slice::from_ref(&verified))
                .map_err(|e| SubmitError::Unavailable(Unavailable::DryRun(Arc::new(e))))?;
            if let Some((_, Err(e))) = executed.outcome().results.first() {
                return Err(SubmitError::Refused(e.clone()));
            }
        }
        let id = verified.id();
        match self.pool.insert(verified.clone(), bytes.clone()) {
            Ok(()) => Ok(verified),
            Err(Refused::Duplicate) => Err(SubmitError::Duplicate(id)),
            Err(Refused::Full) => Err(SubmitError::Full(self.pool.capacity())),
        }
    }
}
