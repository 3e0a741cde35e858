//! Proof that a block is final, checkable by anyone who knows the validator set (a wallet, an
//! auditor), without trusting the node that served it: the block's canonical bytes and its
//! finalization certificate (a quorum of validator signatures over the block's digest).

use crate::{app::Scheme, block::Block, engine::CONSENSUS_NAMESPACE};
use commonware_codec::{Decode, DecodeExt};
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::{Digestible, certificate::Verifier as _};
use commonware_utils::ordered::Set;
use npchain_core::types::{Digest, PublicKey};

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the block bytes do not decode: {0}")]
    MalformedBlock(String),
    #[error("the finalization certificate does not decode: {0}")]
    MalformedCertificate(String),
    #[error("the certificate finalizes block {certified}, not this block {got}")]
    OtherBlock { certified: Digest, got: Digest },
    #[error("the certificate's signatures are not a quorum of the validator set")]
    BadSignatures,
}

/// Checks finality proofs against one validator set.
#[derive(Debug, Clone)]
pub struct ProofChecker {
    scheme: Scheme,
}

impl ProofChecker {
    /// A checker for the validators (their consensus keys) of the genesis.
    pub fn new(validators: impl IntoIterator<Item = PublicKey>) -> Self {
        Self { scheme: Scheme::verifier(CONSENSUS_NAMESPACE, Set::from_iter_dedup(validators)) }
    }

    /// The block, if `certificate` (the engine's canonical `Finalization`) is a valid quorum
    /// certificate of exactly the block `block` encodes.
    pub fn check(&self, block: &[u8], certificate: &[u8]) -> Result<Block, ProofError> {
        let block = Block::decode(block.to_vec()).map_err(|e| ProofError::MalformedBlock(e.to_string()))?;
        let cfg = self.scheme.certificate_codec_config();
        let finalization = Finalization::<Scheme, Digest>::decode_cfg(certificate.to_vec(), &cfg)
            .map_err(|e| ProofError::MalformedCertificate(e.to_string()))?;
        let got = block.digest();
        if finalization.proposal.payload != got {
            return Err(ProofError::OtherBlock { certified: finalization.proposal.payload, got });
        }
        if !finalization.verify(&mut rand::rng(), &self.scheme, &commonware_parallel::Sequential) {
            return Err(ProofError::BadSignatures);
        }
        Ok(block)
    }
}
