//! Proof that a block is final, checkable by anyone who knows the validator set (a wallet, an
//! auditor), without trusting the node that served it: the block's canonical bytes and its
//! finalization certificate (a quorum of validator signatures over the block's digest).
//!
//! The certificate is the consensus engine's `Finalization` in its canonical encoding: the
//! proposal (round: epoch and view, the parent's view, the payload digest), then the ed25519
//! certificate (signer bitmap and signatures). The engine's own type lives in its consensus
//! crate, which brings the p2p and storage layers with it, so this module reads the proposal
//! with the same codec and verifies the certificate with the cryptography crate's ed25519
//! certificate scheme, instantiated for the one subject a finality proof has: a finalize vote's
//! message (the proposal's bytes) under the consensus namespace with the engine's `_FINALIZE`
//! suffix. The node's tests check real certificates from the engine with it.
//!
//! The trust rule across epochs ([`ProofChecker`]): the genesis validators sign epoch 0; the
//! set of epoch `e + 1` is the one the last block of epoch `e` names in its header, believed
//! only once a quorum of epoch `e`'s set has finalized that block. A certificate's round
//! starts with its epoch, so a proof names the set that must have signed it; a proof of an
//! epoch whose set the checker has not learned is refused, never guessed. A set named in any
//! other block, or by a block that another set certified, teaches nothing.

use crate::block::Block;
use bytes::{Buf as _, Bytes};
use commonware_codec::{DecodeExt, Error as CodecError, Read, ReadExt, varint::UInt};
use commonware_cryptography::{Digestible, certificate::Verifier};
use commonware_utils::ordered::Set;
use npchain_core::types::{Digest, PublicKey};
use std::num::NonZeroU64;

/// Namespace of consensus signatures; distinct from transaction signatures.
pub const CONSENSUS_NAMESPACE: &[u8] = b"npchain/v1/consensus";

/// The suffix the engine appends to the namespace for finalize votes.
const FINALIZE_SUFFIX: &[u8] = b"_FINALIZE";

/// Why a proof does not hold, or why a boundary block does not teach the next epoch's set.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("the block bytes do not decode")]
    MalformedBlock(#[source] CodecError),
    #[error("the finalization certificate does not decode")]
    MalformedCertificate(#[source] CodecError),
    #[error("the certificate finalizes block {certified}, not this block {got}")]
    OtherBlock { certified: Digest, got: Digest },
    #[error("the certificate's signatures are not a quorum of the epoch's validator set")]
    BadSignatures,
    /// The certificate names a round of epoch `certified`, and the block's height lies in `epoch`.
    #[error("the certificate is of a round of epoch {certified}; block {height} is in epoch {epoch}")]
    WrongEpoch { height: u64, certified: u64, epoch: u64 },
    /// The checker has not learned the set of `epoch`: it knows epochs `0..known`.
    #[error(
        "epoch {epoch}'s validator set is not learned (known: epochs 0 to {}); learn it from the last block of each epoch before",
        known.saturating_sub(1)
    )]
    UnknownEpoch { epoch: u64, known: u64 },
    /// A block that does not end its epoch names validators: a forged set change.
    #[error("block {height} is not the last block of epoch {epoch} and names a validator set")]
    SetOutsideBoundary { height: u64, epoch: u64 },
    /// The last block of `epoch` names no validators for the next epoch.
    #[error("the last block of epoch {epoch} names no validators for epoch {}", epoch.saturating_add(1))]
    EmptySet { epoch: u64 },
    /// The last block of `epoch` names a set that is not sorted and deduplicated.
    #[error("the last block of epoch {epoch} names validators that are not sorted and distinct")]
    UnsortedSet { epoch: u64 },
    /// A set is learned only from the last block of an epoch (`last`: its height, none past
    /// the last height).
    #[error("block {height} is not the last block of epoch {epoch}; it names no next set")]
    NotBoundary { height: u64, epoch: u64, last: Option<u64> },
    /// Sets are learned in order: the next one from the last block of epoch `next`.
    #[error(
        "block {height} ends epoch {epoch}; the next set to learn is named by the last block of epoch {next}"
    )]
    NotNextBoundary { height: u64, epoch: u64, next: u64 },
}

/// What a finalize vote signs: the proposal's canonical bytes.
#[derive(Debug, Clone)]
pub struct Finalized {
    proposal: Bytes,
}

/// The finalize namespace derived from the consensus namespace.
#[derive(Debug, Clone)]
pub struct FinalizeNamespace(Vec<u8>);

impl commonware_cryptography::certificate::Namespace for FinalizeNamespace {
    fn derive(namespace: &[u8]) -> Self {
        Self([namespace, FINALIZE_SUFFIX].concat())
    }
}

impl commonware_cryptography::certificate::Subject for Finalized {
    type Namespace = FinalizeNamespace;

    fn namespace<'a>(&self, derived: &'a FinalizeNamespace) -> &'a [u8] {
        &derived.0
    }

    fn message(&self) -> Bytes {
        self.proposal.clone()
    }
}

/// The ed25519 certificate scheme over [`Finalized`], with the engine's fault model (n ≥ 3f+1).
#[allow(unexpected_cfgs, missing_docs)]
mod scheme {
    use super::{FinalizeNamespace, Finalized};
    commonware_cryptography::impl_certificate_ed25519!(Finalized, FinalizeNamespace, commonware_utils::N3f1);
}

/// One epoch's validators and the scheme that verifies their certificates.
#[derive(Debug, Clone)]
struct EpochSet {
    validators: Vec<PublicKey>,
    scheme: scheme::Scheme,
}

impl EpochSet {
    fn new(validators: impl IntoIterator<Item = PublicKey>) -> Self {
        let set = Set::from_iter_dedup(validators);
        let validators = set.iter().cloned().collect();
        Self { validators, scheme: scheme::Scheme::verifier(CONSENSUS_NAMESPACE, set) }
    }
}

/// The parts of an engine `Finalization`.
struct Parts {
    epoch: u64,
    /// The proposal's canonical bytes: what a finalize vote signs.
    proposal: Bytes,
    payload: Digest,
    /// What follows the proposal: the certificate, read once the epoch's set is known.
    certificate: Bytes,
}

/// Checks finality proofs across epochs: it trusts the genesis set for epoch 0 and learns the
/// set of epoch `e + 1` only from the last block of epoch `e` finalized by epoch `e`'s set
/// ([`ProofChecker::learn`]). A proof is checked against the set of the epoch its
/// certificate's round names, which must be the epoch of the block's height.
#[derive(Debug, Clone)]
pub struct ProofChecker {
    blocks_per_epoch: NonZeroU64,
    /// Epoch `e`'s set at index `e`; never empty (epoch 0's is the genesis set).
    epochs: Vec<EpochSet>,
}

impl ProofChecker {
    /// A checker of a chain that never changes its validators: the genesis set for one epoch
    /// that holds every height (blocks per epoch `u64::MAX`).
    pub fn new(validators: impl IntoIterator<Item = PublicKey>) -> Self {
        Self::with_epochs(validators, NonZeroU64::MAX)
    }

    /// A checker that trusts `genesis` (the genesis validators' consensus keys) for epoch 0 of
    /// a chain whose epochs are `blocks_per_epoch` long: epoch `e` holds heights
    /// `e * n ..= e * n + n - 1`.
    pub fn with_epochs(genesis: impl IntoIterator<Item = PublicKey>, blocks_per_epoch: NonZeroU64) -> Self {
        Self { blocks_per_epoch, epochs: vec![EpochSet::new(genesis)] }
    }

    /// Blocks per epoch.
    pub fn blocks_per_epoch(&self) -> NonZeroU64 {
        self.blocks_per_epoch
    }

    /// The epoch that holds `height`.
    pub fn epoch_of(&self, height: u64) -> u64 {
        height / self.blocks_per_epoch.get()
    }

    /// The height of the last block of `epoch` (none past the last height).
    pub fn last_height(&self, epoch: u64) -> Option<u64> {
        let n = self.blocks_per_epoch.get();
        epoch.checked_mul(n)?.checked_add(n - 1)
    }

    /// How many epochs' sets the checker knows: those of epochs `0..known()`.
    pub fn known(&self) -> u64 {
        self.epochs.len() as u64
    }

    /// The validators of `epoch`, sorted, if the checker knows them.
    pub fn validators(&self, epoch: u64) -> Option<&[PublicKey]> {
        self.set(epoch).map(|s| s.validators.as_slice())
    }

    fn set(&self, epoch: u64) -> Option<&EpochSet> {
        usize::try_from(epoch).ok().and_then(|e| self.epochs.get(e))
    }

    /// The block, if `certificate` (the engine's canonical `Finalization`) is a valid quorum
    /// certificate of exactly the block `block` encodes, by the set of the epoch its round
    /// names, that epoch holds the block's height, and the block names a next set exactly
    /// when it ends its epoch (non-empty, sorted, distinct).
    pub fn check(&self, block: &[u8], certificate: &[u8]) -> Result<Block, ProofError> {
        self.check_epoch(block, certificate).map(|(block, _)| block)
    }

    /// Learns the next epoch's set from the last block of the last epoch known (`known() - 1`)
    /// and its certificate: the block must hold as [`Self::check`] says (so it is finalized by
    /// that epoch's set) and be at exactly that epoch's last height; its `next_validators`
    /// become the set of the epoch after. The epoch learned.
    pub fn learn(&mut self, block: &[u8], certificate: &[u8]) -> Result<u64, ProofError> {
        let (block, epoch) = self.check_epoch(block, certificate)?;
        let last = self.last_height(epoch);
        if last != Some(block.height) {
            return Err(ProofError::NotBoundary { height: block.height, epoch, last });
        }
        let next = self.known() - 1;
        if epoch != next {
            return Err(ProofError::NotNextBoundary { height: block.height, epoch, next });
        }
        self.epochs.push(EpochSet::new(block.next_validators));
        Ok(epoch + 1)
    }

    /// [`Self::check`], with the epoch the certificate names.
    fn check_epoch(&self, block: &[u8], certificate: &[u8]) -> Result<(Block, u64), ProofError> {
        let block = Block::decode(Bytes::copy_from_slice(block)).map_err(ProofError::MalformedBlock)?;
        let parts = read_proposal(certificate).map_err(ProofError::MalformedCertificate)?;
        let got = block.digest();
        if parts.payload != got {
            return Err(ProofError::OtherBlock { certified: parts.payload, got });
        }
        let epoch = self.epoch_of(block.height);
        if parts.epoch != epoch {
            return Err(ProofError::WrongEpoch { height: block.height, certified: parts.epoch, epoch });
        }
        let set = self.set(epoch).ok_or(ProofError::UnknownEpoch { epoch, known: self.known() })?;
        let mut reader = parts.certificate;
        let signatures: <scheme::Scheme as Verifier>::Certificate =
            Read::read_cfg(&mut reader, &set.scheme.certificate_codec_config())
                .map_err(ProofError::MalformedCertificate)?;
        if reader.has_remaining() {
            return Err(ProofError::MalformedCertificate(CodecError::ExtraData(reader.remaining())));
        }
        let subject = Finalized { proposal: parts.proposal };
        if !set.scheme.verify_certificate::<_, Digest>(
            &mut rand::rng(),
            subject,
            &signatures,
            &commonware_parallel::Sequential,
        ) {
            return Err(ProofError::BadSignatures);
        }
        let next = &block.next_validators;
        if self.last_height(epoch) != Some(block.height) {
            if !next.is_empty() {
                return Err(ProofError::SetOutsideBoundary { height: block.height, epoch });
            }
        } else if next.is_empty() {
            return Err(ProofError::EmptySet { epoch });
        } else if next.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ProofError::UnsortedSet { epoch });
        }
        Ok((block, epoch))
    }
}

/// The epoch a finalization certificate's round names (the set its signers belong to).
pub fn certificate_epoch(certificate: &[u8]) -> Result<u64, CodecError> {
    read_proposal(certificate).map(|parts| parts.epoch)
}

/// Who signed a finalization certificate (the engine's canonical `Finalization`), read without
/// verifying it: the epoch its round names, and the signers' indices into that epoch's sorted
/// validator set of `participants` keys. For a node's own view of which validators take part
/// (its archive holds only certificates it verified); a proof is checked with
/// [`ProofChecker::check`].
pub fn signers(certificate: &[u8], participants: usize) -> Result<(u64, Vec<u32>), CodecError> {
    let parts = read_proposal(certificate)?;
    let mut reader = parts.certificate;
    let signatures: <scheme::Scheme as Verifier>::Certificate = Read::read_cfg(&mut reader, &participants)?;
    if reader.has_remaining() {
        return Err(CodecError::ExtraData(reader.remaining()));
    }
    Ok((parts.epoch, signatures.signers.iter().map(|p| p.get()).collect()))
}

/// Reads a `Finalization`'s proposal (round: epoch and view; the parent's view; the payload)
/// and keeps what follows, the certificate.
fn read_proposal(bytes: &[u8]) -> Result<Parts, CodecError> {
    let mut reader = Bytes::copy_from_slice(bytes);
    let epoch: u64 = UInt::read(&mut reader)?.into();
    let _view: u64 = UInt::read(&mut reader)?.into();
    let _parent_view: u64 = UInt::read(&mut reader)?.into();
    let payload = Digest::read(&mut reader)?;
    let proposal = Bytes::copy_from_slice(&bytes[..bytes.len() - reader.remaining()]);
    Ok(Parts { epoch, proposal, payload, certificate: reader })
}

/// Finalization certificates made the way the engine makes them, for tests of code that checks
/// proofs without the engine (the node's tests check that the engine's own pass the checker).
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use super::{CONSENSUS_NAMESPACE, Finalized, scheme};
    use crate::block::Block;
    use commonware_codec::{Encode as _, Write as _, varint::UInt};
    use commonware_cryptography::{Digestible as _, Signer as _, certificate::Scheme as _};
    use commonware_utils::ordered::Set;
    use npchain_core::types::{Digest, PrivateKey, PublicKey};

    /// The canonical `Finalization` of `block` in round (`epoch`, `view`) (parent view
    /// `view - 1`), signed by `signers` as members of `validators`. Panics if a signer is not
    /// a member or the signers are no quorum.
    pub fn finalization(
        validators: &[PublicKey],
        signers: &[PrivateKey],
        epoch: u64,
        view: u64,
        block: &Block,
    ) -> Vec<u8> {
        let mut proposal = Vec::new();
        UInt(epoch).write(&mut proposal);
        UInt(view).write(&mut proposal);
        UInt(view.saturating_sub(1)).write(&mut proposal);
        block.digest().write(&mut proposal);
        let participants = Set::from_iter_dedup(validators.iter().cloned());
        let votes: Vec<_> = signers
            .iter()
            .map(|k| {
                let signer = scheme::Scheme::signer(CONSENSUS_NAMESPACE, participants.clone(), k.clone())
                    .unwrap_or_else(|| panic!("{} is not a validator", k.public_key()));
                signer
                    .sign::<Digest>(Finalized { proposal: proposal.clone().into() })
                    .expect("a signer signs")
            })
            .collect();
        let verifier = scheme::Scheme::verifier(CONSENSUS_NAMESPACE, participants);
        let certificate = verifier
            .assemble(
                commonware_utils::iter::NonEmpty::try_new(votes.into_iter()).expect("signers"),
                &commonware_parallel::Sequential,
            )
            .expect("a quorum");
        [proposal, certificate.encode().to_vec()].concat()
    }

    /// The validator set `keys` sign as: their public keys, sorted (as a boundary block names
    /// a set).
    pub fn sorted_public(keys: &[PrivateKey]) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        keys.sort();
        keys
    }

    /// An empty block at `height` naming `next_validators` (empty but at a boundary), with a
    /// parent and state hash derived from the height: enough for a checker, which reads only
    /// the header.
    pub fn block(height: u64, next_validators: Vec<PublicKey>) -> Block {
        use commonware_cryptography::{Hasher as _, Sha256};
        Block {
            parent: Sha256::hash(&[&height.to_be_bytes()]),
            height,
            time: npchain_core::types::Timestamp(1_000 + height),
            state_hash: Sha256::hash(&[b"state"]),
            next_validators,
            txs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
