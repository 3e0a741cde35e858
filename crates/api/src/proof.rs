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

use crate::block::Block;
use bytes::{Buf as _, Bytes};
use commonware_codec::{DecodeExt, Error as CodecError, Read, ReadExt, varint::UInt};
use commonware_cryptography::{Digestible, certificate::Verifier as _};
use commonware_utils::ordered::Set;
use npchain_core::types::{Digest, PublicKey};

/// Namespace of consensus signatures; distinct from transaction signatures.
pub const CONSENSUS_NAMESPACE: &[u8] = b"npchain/v1/consensus";

/// The suffix the engine appends to the namespace for finalize votes.
const FINALIZE_SUFFIX: &[u8] = b"_FINALIZE";

/// Why a proof does not hold.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("the block bytes do not decode")]
    MalformedBlock(#[source] CodecError),
    #[error("the finalization certificate does not decode")]
    MalformedCertificate(#[source] CodecError),
    #[error("the certificate finalizes block {certified}, not this block {got}")]
    OtherBlock { certified: Digest, got: Digest },
    #[error("the certificate's signatures are not a quorum of the validator set")]
    BadSignatures,
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

/// Checks finality proofs against one validator set.
#[derive(Debug, Clone)]
pub struct ProofChecker {
    scheme: scheme::Scheme,
}

impl ProofChecker {
    /// A checker for the validators (their consensus keys) of the genesis.
    pub fn new(validators: impl IntoIterator<Item = PublicKey>) -> Self {
        Self { scheme: scheme::Scheme::verifier(CONSENSUS_NAMESPACE, Set::from_iter_dedup(validators)) }
    }

    /// The block, if `certificate` (the engine's canonical `Finalization`) is a valid quorum
    /// certificate of exactly the block `block` encodes.
    pub fn check(&self, block: &[u8], certificate: &[u8]) -> Result<Block, ProofError> {
        let block = Block::decode(Bytes::copy_from_slice(block)).map_err(ProofError::MalformedBlock)?;
        let (proposal, payload, certificate) =
            self.read_finalization(certificate).map_err(ProofError::MalformedCertificate)?;
        let got = block.digest();
        if payload != got {
            return Err(ProofError::OtherBlock { certified: payload, got });
        }
        let subject = Finalized { proposal };
        if !self.scheme.verify_certificate::<_, Digest>(
            &mut rand::rng(),
            subject,
            &certificate,
            &commonware_parallel::Sequential,
        ) {
            return Err(ProofError::BadSignatures);
        }
        Ok(block)
    }

    /// Splits a `Finalization` into the proposal's bytes, its payload and the certificate;
    /// nothing may follow the certificate.
    fn read_finalization(
        &self,
        bytes: &[u8],
    ) -> Result<
        (Bytes, Digest, <scheme::Scheme as commonware_cryptography::certificate::Verifier>::Certificate),
        CodecError,
    > {
        let mut reader = Bytes::copy_from_slice(bytes);
        let _epoch: u64 = UInt::read(&mut reader)?.into();
        let _view: u64 = UInt::read(&mut reader)?.into();
        let _parent_view: u64 = UInt::read(&mut reader)?.into();
        let payload = Digest::read(&mut reader)?;
        let proposal = Bytes::copy_from_slice(&bytes[..bytes.len() - reader.remaining()]);
        let certificate = Read::read_cfg(&mut reader, &self.scheme.certificate_codec_config())?;
        if reader.has_remaining() {
            return Err(CodecError::ExtraData(reader.remaining()));
        }
        Ok((proposal, payload, certificate))
    }
}
