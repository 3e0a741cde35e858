//! A ledger on an in-memory store with a block clock, applying signed transactions one block at
//! a time.

use crate::key;
use commonware_cryptography::Signer as _;
use npchain_core::{
    BlockOutcome, Genesis, Ledger, MemStore, PortedEntry, PublicKey, Timestamp, Transaction, TxBody, TxError,
    VerifiedTx,
};

/// A ledger plus a block clock (starting at the genesis time).
#[derive(Debug)]
pub struct Net {
    pub ledger: Ledger<MemStore>,
    pub now: Timestamp,
    nonce: u64,
}

impl Net {
    pub fn new(genesis: &Genesis) -> Self {
        Self::with_ported(genesis, Vec::new())
    }

    /// The ledger of `genesis` with `ported` as its migration list.
    pub fn with_ported(genesis: &Genesis, ported: Vec<PortedEntry>) -> Self {
        let ledger = Ledger::genesis(MemStore::new(), genesis, ported.into_iter().map(Ok))
            .expect("the test genesis loads");
        Self { ledger, now: genesis.genesis_time, nonce: 0 }
    }

    /// Builds and signs a transaction by `signer` (a key name), valid for ten minutes.
    pub fn sign(&mut self, signer: &str, body: TxBody) -> VerifiedTx {
        self.nonce += 1;
        let key = key(signer);
        Transaction { nonce: self.nonce, expires_at: self.now.plus_secs(600), signer: key.public_key(), body }
            .sign(&self.ledger.chain_id(), &key)
            .verify(&self.ledger.chain_id())
            .expect("test transactions verify")
    }

    /// Applies `txs` as the next block at the current time; returns each outcome.
    pub fn block(&mut self, txs: &[VerifiedTx]) -> Vec<Result<(), TxError>> {
        self.block_outcome(txs).results.into_iter().map(|(_, r)| r).collect()
    }

    /// Applies `txs` as the next block at the current time; returns what the block did.
    pub fn block_outcome(&mut self, txs: &[VerifiedTx]) -> BlockOutcome {
        let height = self.ledger.height() + 1;
        self.ledger.apply_block(height, self.now, txs).expect("the test block applies")
    }

    /// Signs and applies one transaction in its own block.
    pub fn apply(&mut self, signer: &str, body: TxBody) -> Result<(), TxError> {
        let tx = self.sign(signer, body);
        self.block(&[tx]).remove(0)
    }

    pub fn advance_secs(&mut self, secs: u64) {
        self.now = self.now.plus_secs(secs);
    }

    /// The public key of the subscriber `name`.
    pub fn subscriber(name: &str) -> PublicKey {
        key(name).public_key()
    }
}
