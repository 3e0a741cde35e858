//! A small network on an in-memory store: three operators, their ranges, named subscribers,
//! and helpers that sign and apply one transaction per block.

use commonware_cryptography::Signer;
use npchain_core::{
    E164, Genesis, GenesisOperator, GenesisRange, Ledger, MemStore, OperatorId, Policy, PortedEntry,
    PrivateKey, PublicKey, Timestamp, Transaction, TxBody, TxError, VerifiedTx,
};

/// 2026-01-01T00:00:00Z in milliseconds.
pub const GENESIS_MS: u64 = 1_767_225_600_000;

/// Operators of the test network and the range each holds.
pub const OPERATORS: [(&str, &str); 3] = [("OPA", "+49301"), ("OPB", "+49302"), ("OPC", "+49303")];

/// A deterministic key for a name (test-only seeding).
pub fn key(name: &str) -> PrivateKey {
    let seed =
        name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    PrivateKey::from_seed(seed)
}

pub fn op(id: &str) -> OperatorId {
    id.parse().unwrap()
}

pub fn num(s: &str) -> E164 {
    s.parse().unwrap()
}

pub fn genesis(policy: Policy) -> Genesis {
    Genesis {
        chain_name: "npchain-test".into(),
        genesis_time: Timestamp(GENESIS_MS),
        regulator_key: key("regulator").public_key(),
        region: Some("DE".parse().unwrap()),
        policy,
        operators: OPERATORS
            .iter()
            .enumerate()
            .map(|(i, (id, _))| GenesisOperator {
                id: op(id),
                name: format!("Operator {id}"),
                operator_key: key(id).public_key(),
                validator_key: key(&format!("{id}/validator")).public_key(),
                routing_number: format!("D00{}", i + 1).parse().unwrap(),
            })
            .collect(),
        ranges: OPERATORS
            .iter()
            .map(|(id, prefix)| GenesisRange { prefix: prefix.parse().unwrap(), holder: op(id) })
            .collect(),
    }
}

/// A ledger plus a block clock, applying one transaction per block.
pub struct Net {
    pub ledger: Ledger<MemStore>,
    pub now: Timestamp,
    nonce: u64,
}

impl Net {
    pub fn new(policy: Policy) -> Self {
        Self::with_ported(policy, Vec::new())
    }

    pub fn with_ported(policy: Policy, ported: Vec<PortedEntry>) -> Self {
        let ledger = Ledger::genesis(MemStore::new(), &genesis(policy), ported.into_iter().map(Ok)).unwrap();
        Self { ledger, now: Timestamp(GENESIS_MS), nonce: 0 }
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
        let height = self.ledger.height() + 1;
        let outcome = self.ledger.apply_block(height, self.now, txs).unwrap();
        outcome.results.into_iter().map(|(_, r)| r).collect()
    }

    /// Signs and applies one transaction in its own block.
    pub fn apply(&mut self, signer: &str, body: TxBody) -> Result<(), TxError> {
        let tx = self.sign(signer, body);
        self.block(&[tx]).remove(0)
    }

    pub fn advance_secs(&mut self, secs: u64) {
        self.now = self.now.plus_secs(secs);
    }

    pub fn subscriber(name: &str) -> PublicKey {
        key(name).public_key()
    }
}
