//! Which validators sign: one entry per validator key, the last finalized block whose
//! finalization certificate the key signed, read from the certificates of the blocks this node
//! holds (`GET /v1/validators`).
//!
//! The record is brought up to the committed height when it is read: the certificates of the
//! blocks since the last read, at most the last [`LIVE_WINDOW`] of them (older ones cannot change
//! who is live; a key absent that long keeps the height it was last seen at). It keeps entries
//! only for keys of the current and the pending set, so it never holds more than two sets.

use npchain_api::{
    Block,
    json::{FinalityProof, ValidatorInfo, ValidatorList},
    proof::{certificate_epoch, signers},
};
use npchain_core::types::{KeyId, PublicKey};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A validator is live when it signed the certificate of one of this many last blocks.
pub const LIVE_WINDOW: u64 = 20;

/// A signed block: its height and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signed {
    height: u64,
    time_ms: u64,
}

/// What the ledger says about the sets at one committed height.
#[derive(Debug, Clone)]
pub struct Sets {
    pub height: u64,
    /// The epoch of the next block.
    pub epoch: u64,
    /// Every recorded epoch's set, sorted, at its epoch's index.
    pub by_epoch: Vec<Vec<PublicKey>>,
    /// The pending set.
    pub pending: Vec<PublicKey>,
    /// The operator holding each validator key now.
    pub operators: HashMap<KeyId, String>,
}

/// The last block each validator key signed, as far as this node read.
#[derive(Debug, Default)]
pub struct SignerRecord {
    /// The highest height whose certificate was read (or skipped as too old).
    scanned: u64,
    last: BTreeMap<PublicKey, Signed>,
}

impl SignerRecord {
    /// Reads the certificates after the last read one up to `sets.height` (at most
    /// [`LIVE_WINDOW`] of them, through `proof_of`), and answers.
    pub fn read(&mut self, sets: &Sets, proof_of: impl Fn(u64) -> Option<FinalityProof>) -> ValidatorList {
        let tip = sets.height;
        let from = (self.scanned + 1).max(tip.saturating_sub(LIVE_WINDOW - 1)).max(1);
        for height in from..=tip {
            // A block this node holds no certificate for (fetched without one while catching
            // up) tells nothing; it is not asked again.
            if let Some(proof) = proof_of(height) {
                self.note(sets, height, &proof);
            }
        }
        self.scanned = self.scanned.max(tip);
        let current: BTreeSet<&PublicKey> =
            sets.by_epoch.get(sets.epoch as usize).into_iter().flatten().collect();
        let pending: BTreeSet<&PublicKey> = sets.pending.iter().collect();
        self.last.retain(|k, _| current.contains(k) || pending.contains(k));
        let keys: BTreeSet<&PublicKey> = current.union(&pending).copied().collect();
        let live_from = tip.saturating_sub(LIVE_WINDOW - 1);
        let validators = keys
            .into_iter()
            .map(|key| {
                let signed = self.last.get(key);
                ValidatorInfo {
                    key: commonware_formatting::hex(key.as_ref()),
                    operator: sets.operators.get(&KeyId::from(key)).cloned(),
                    current: current.contains(key),
                    pending: pending.contains(key),
                    last_signed_height: signed.map(|s| s.height),
                    last_signed_time_ms: signed.map(|s| s.time_ms),
                    live: signed.is_some_and(|s| s.height >= live_from),
                }
            })
            .collect();
        ValidatorList { height: tip, epoch: sets.epoch, live_window: LIVE_WINDOW, validators }
    }

    /// Records the signers of one block's certificate.
    fn note(&mut self, sets: &Sets, height: u64, proof: &FinalityProof) {
        use commonware_codec::DecodeExt as _;
        let Ok(block) = Block::decode(bytes::Bytes::copy_from_slice(&proof.block)) else { return };
        // The round's epoch names the set the signer indices point into.
        let epoch = certificate_epoch(&proof.certificate).ok();
        let Some(set) = epoch.and_then(|e| sets.by_epoch.get(usize::try_from(e).ok()?)) else {
            return;
        };
        let Ok((_, indices)) = signers(&proof.certificate, set.len()) else { return };
        let signed = Signed { height, time_ms: block.time.millis() };
        for index in indices {
            if let Some(key) = set.get(index as usize) {
                let entry = self.last.entry(key.clone()).or_insert(signed);
                if entry.height < height {
                    *entry = signed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode as _;
    use npchain_api::proof::testing::{block, finalization, sorted_public};
    use npchain_core::types::PrivateKey;
    use std::cell::Cell;

    #[test]
    fn the_record_keeps_each_signers_last_block_and_reads_only_the_window() {
        let keys: Vec<PrivateKey> = (0..4).map(|i| npchain_testkit::key(&format!("validator{i}"))).collect();
        let set = sorted_public(&keys);
        let signer = |i: usize| keys.iter().find(|k| k.public_key() == set[i]).unwrap().clone();
        let sets = |height: u64, pending: Vec<PublicKey>| Sets {
            height,
            epoch: 0,
            by_epoch: vec![set.clone()],
            pending,
            operators: HashMap::from([(KeyId::from(&set[0]), "OPA".to_owned())]),
        };
        let reads = Cell::new(0u64);
        // validators 0, 1 and 2 sign every block; 3 signs only block 5
        let proof_of = |h: u64| {
            reads.set(reads.get() + 1);
            let b = block(h, Vec::new());
            let who: Vec<PrivateKey> = (if h == 5 { [0, 1, 3] } else { [0, 1, 2] }).map(signer).to_vec();
            Some(FinalityProof {
                block: b.encode().to_vec(),
                certificate: finalization(&set, &who, 0, h + 1, &b),
            })
        };
        use commonware_cryptography::Signer as _;
        let mut record = SignerRecord::default();
        let at10 = record.read(&sets(10, set.clone()), proof_of);
        assert_eq!(reads.get(), 10, "blocks 1 to 10 read once");
        assert_eq!(at10.validators.len(), 4);
        assert_eq!(at10.validators[0].operator.as_deref(), Some("OPA"));
        let last: Vec<Option<u64>> = at10.validators.iter().map(|v| v.last_signed_height).collect();
        assert_eq!(last, [Some(10), Some(10), Some(10), Some(5)]);
        assert_eq!(at10.validators[3].last_signed_time_ms, Some(1_005));
        assert!(at10.validators.iter().all(|v| v.live && v.current && v.pending));

        // thirty blocks later: only the last LIVE_WINDOW are read; 3 is not live any more, and
        // keeps the block it was last seen at
        reads.set(0);
        let at40 = record.read(&sets(40, set.clone()), proof_of);
        assert_eq!(reads.get(), LIVE_WINDOW);
        assert_eq!(at40.validators[3].last_signed_height, Some(5));
        assert!(!at40.validators[3].live);
        assert!(at40.validators[..3].iter().all(|v| v.live && v.last_signed_height == Some(40)));
        // nothing new: nothing read
        reads.set(0);
        record.read(&sets(40, set.clone()), proof_of);
        assert_eq!(reads.get(), 0);

        // a key that leaves the pending set stays listed while it is in the current set
        let fewer: Vec<PublicKey> = set[..3].to_vec();
        let at41 = record.read(&sets(41, fewer), proof_of);
        assert_eq!(at41.validators.len(), 4);
        assert!(!at41.validators[3].pending && at41.validators[3].current);
    }
}
