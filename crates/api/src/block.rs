//! The block: what consensus orders. A header (parent, height, proposer's block time, the state
//! hash after applying it) and the transactions as their canonical signed bytes.
//!
//! The digest is SHA-256 over the whole canonical encoding, so it commits to the state hash:
//! a finalization certificate over the digest certifies the state after the block, which is
//! what a wallet checks offline.

use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write, varint::UInt};
use commonware_cryptography::{Digestible, Hasher, Sha256};
use npchain_core::{
    tx::{ChainId, MAX_TX_BYTES, SignedTransaction},
    types::{Digest, PublicKey, Timestamp},
};

/// The most transactions one block carries.
pub const MAX_BLOCK_TXS: usize = 20_000;
/// The most transaction bytes one block carries.
pub const MAX_BLOCK_TX_BYTES: usize = 4 * 1024 * 1024;
/// The most validators one epoch has (the set a boundary block names).
pub const MAX_VALIDATORS: usize = 1_024;
/// Header bytes at their widest: parent, height, time, state hash, the next epoch's validators
/// (count and keys), tx count.
const MAX_HEADER_BYTES: usize = 32 + 8 + 8 + 32 + 3 + 32 * MAX_VALIDATORS + 5;
/// A block's encoding at its widest. Each transaction's length prefix is at most 3 bytes
/// (`MAX_TX_BYTES` < 2^21).
pub const MAX_BLOCK_BYTES: usize = MAX_HEADER_BYTES + MAX_BLOCK_TX_BYTES + MAX_BLOCK_TXS * 3;

/// One block of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub parent: Digest,
    pub height: u64,
    /// The proposer's clock when it built the block; never before the parent's.
    pub time: Timestamp,
    /// The state hash after applying this block.
    pub state_hash: Digest,
    /// Empty but in the last block of an epoch, which names the validators of the next epoch
    /// (sorted, as the ledger derived them after this block). A wallet learns each epoch's set
    /// from the block that the previous set finalized.
    pub next_validators: Vec<PublicKey>,
    /// Signed transactions, each in its canonical encoding.
    pub txs: Vec<Bytes>,
}

impl Block {
    /// The block every chain starts from: height 0 at the genesis time. In place of a state
    /// hash it carries the chain id, which covers the genesis and its migration list.
    pub fn genesis(time: Timestamp, chain: ChainId) -> Self {
        Self {
            parent: Digest::from([0u8; 32]),
            height: 0,
            time,
            state_hash: chain.0,
            next_validators: Vec::new(),
            txs: Vec::new(),
        }
    }

    /// Decodes the carried transactions; an undecodable one makes the whole block invalid.
    pub fn transactions(&self) -> Result<Vec<SignedTransaction>, CodecError> {
        self.txs
            .iter()
            .map(|b| {
                SignedTransaction::from_bytes(b)
                    .map_err(|_| CodecError::Invalid("Block", "undecodable transaction"))
            })
            .collect()
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.parent.write(buf);
        self.height.write(buf);
        self.time.write(buf);
        self.state_hash.write(buf);
        UInt(self.next_validators.len() as u32).write(buf);
        for key in &self.next_validators {
            key.write(buf);
        }
        UInt(self.txs.len() as u32).write(buf);
        for tx in &self.txs {
            UInt(tx.len() as u32).write(buf);
            buf.put_slice(tx);
        }
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        32 + 8
            + 8
            + 32
            + UInt(self.next_validators.len() as u32).encode_size()
            + self.next_validators.len() * <PublicKey as FixedSize>::SIZE
            + UInt(self.txs.len() as u32).encode_size()
            + self.txs.iter().map(|t| UInt(t.len() as u32).encode_size() + t.len()).sum::<usize>()
    }
}

impl Read for Block {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let parent = Digest::read(buf)?;
        let height = u64::read(buf)?;
        let time = Timestamp::read(buf)?;
        let state_hash = Digest::read(buf)?;
        let validators = UInt::<u32>::read(buf)?.0 as usize;
        if validators > MAX_VALIDATORS {
            return Err(CodecError::InvalidLength(validators));
        }
        let next_validators = (0..validators).map(|_| PublicKey::read(buf)).collect::<Result<Vec<_>, _>>()?;
        let count = UInt::<u32>::read(buf)?.0 as usize;
        if count > MAX_BLOCK_TXS {
            return Err(CodecError::InvalidLength(count));
        }
        let mut txs = Vec::with_capacity(count);
        let mut total = 0usize;
        for _ in 0..count {
            let len = UInt::<u32>::read(buf)?.0 as usize;
            total += len;
            if len == 0 || len > MAX_TX_BYTES || total > MAX_BLOCK_TX_BYTES {
                return Err(CodecError::InvalidLength(len));
            }
            if buf.remaining() < len {
                return Err(CodecError::EndOfBuffer);
            }
            txs.push(buf.take_owned::<Bytes>(len));
        }
        Ok(Self { parent, height, time, state_hash, next_validators, txs })
    }
}

impl Digestible for Block {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        Sha256::hash(&[b"npchain/v1/block", &commonware_codec::Encode::encode(self)])
    }
}

#[cfg(feature = "consensus")]
impl commonware_consensus::Heightable for Block {
    fn height(&self) -> commonware_consensus::types::Height {
        commonware_consensus::types::Height::new(self.height)
    }
}

#[cfg(feature = "consensus")]
impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.parent
    }
}

#[cfg(feature = "consensus")]
impl commonware_consensus::BoundedBlock for Block {
    fn max_encode_size(_: &()) -> usize {
        MAX_BLOCK_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    fn sample() -> Block {
        Block {
            parent: Sha256::hash(&[b"p"]),
            height: 7,
            time: Timestamp(1_000),
            state_hash: Sha256::hash(&[b"s"]),
            next_validators: Vec::new(),
            txs: vec![Bytes::from_static(b"abc"), Bytes::from(vec![9u8; 300])],
        }
    }

    fn validator() -> PublicKey {
        commonware_cryptography::Signer::public_key(&npchain_testkit::key("validator"))
    }

    #[test]
    fn a_boundary_block_round_trips_with_its_next_validators() {
        let b = Block { next_validators: vec![validator(); 3], ..sample() };
        let bytes = b.encode();
        assert_eq!(bytes.len(), b.encode_size());
        assert_eq!(Block::decode(bytes).unwrap(), b);
    }

    #[test]
    fn encoding_round_trips_and_is_bounded() {
        let b = sample();
        let bytes = b.encode();
        assert_eq!(bytes.len(), b.encode_size());
        assert!(bytes.len() <= MAX_BLOCK_BYTES);
        assert_eq!(Block::decode(bytes.clone()).unwrap(), b);
        // trailing bytes, truncation and an empty transaction are refused
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(Block::decode(long).is_err());
        assert!(Block::decode(bytes.slice(..bytes.len() - 1)).is_err());
        let empty = Block { txs: vec![Bytes::new()], ..sample() };
        assert!(Block::decode(empty.encode()).is_err());
    }

    #[test]
    fn digest_commits_to_every_field() {
        let b = sample();
        let mut variants = vec![
            Block { height: 8, ..b.clone() },
            Block { time: Timestamp(1_001), ..b.clone() },
            Block { state_hash: Sha256::hash(&[b"t"]), ..b.clone() },
            Block { parent: Sha256::hash(&[b"q"]), ..b.clone() },
            Block { next_validators: vec![validator()], ..b.clone() },
        ];
        let mut fewer = b.clone();
        fewer.txs.pop();
        variants.push(fewer);
        for v in variants {
            assert_ne!(v.digest(), b.digest());
        }
        assert!(b.transactions().is_err(), "garbage bytes are not transactions");
    }
}
