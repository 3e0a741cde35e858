//! The check of marshal's archives at start, before marshal opens them.
//!
//! Marshal trusts its archives: a block it reads back is taken to be at the height it is stored
//! at, and to have as parent the block its parent digest finds. Its startup gap repair walks
//! back from the block after a gap through parent digests, and on an archive where that walk
//! lands below the gap it loops forever without a word (commonware issue #4155, "try_repair_gaps
//! can spin forever at startup on a malformed finalized-blocks archive"); a record that does not
//! read makes it panic. So before marshal starts, every finalized block above the ledger's
//! height (the ones marshal may still walk over and deliver) is read, and must be at its height,
//! extend the block below it, and have its parent found under its parent digest; the block at
//! the ledger's height must be the one the ledger committed; every finalization above the
//! ledger's height must read and certify the block stored at its height. A failure names the
//! archive and says what is safe to do.

use super::app::Scheme;
use crate::storage::BlockRecord;
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::Digestible;
use commonware_storage::archive::{self, Archive, Identifier};
use npchain_api::Block;
use npchain_core::types::Digest;
use std::sync::Arc;

/// Why marshal's archives cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("consensus archive {partition}-*: {doing}: {source}")]
    Unreadable {
        partition: String,
        doing: String,
        #[source]
        source: Box<archive::Error>,
    },
    #[error("consensus archive {partition}-*: {problem}")]
    Inconsistent { partition: String, problem: String },
}

impl ArchiveError {
    /// The archive's partition prefix (`<prefix>-blocks`, `<prefix>-finalizations`).
    pub fn partition(&self) -> &str {
        match self {
            Self::Unreadable { partition, .. } | Self::Inconsistent { partition, .. } => partition,
        }
    }
}

/// Checks the finalized-blocks archive (`blocks`, partition prefix `blocks_partition`) and the
/// finalizations archive against the ledger's `height` and its `committed` block (the block
/// log's record at that height, if the ledger is past genesis).
pub async fn check<B, F>(
    blocks: &B,
    blocks_partition: &str,
    finalizations: &F,
    finalizations_partition: &str,
    height: u64,
    committed: Option<&BlockRecord>,
) -> Result<(), ArchiveError>
where
    B: Archive<Key = Digest, Value = Arc<Block>>,
    F: Archive<Key = Digest, Value = Finalization<Scheme, Digest>>,
{
    let inconsistent =
        |problem: String| ArchiveError::Inconsistent { partition: blocks_partition.to_owned(), problem };
    let read = |h: u64| async move {
        blocks.get(Identifier::Index(h)).await.map_err(|source| ArchiveError::Unreadable {
            partition: blocks_partition.to_owned(),
            doing: format!("reading the block at height {h}"),
            source: Box::new(source),
        })
    };
    // The digest of the block below the one being checked, when known.
    let mut below: Option<(u64, Digest)> = None;
    if let Some(record) = committed.filter(|r| r.height == height) {
        if let Some(block) = read(height).await? {
            let digest = block.digest();
            if digest != record.digest {
                return Err(inconsistent(format!(
                    "holds block {digest} at height {height}, where the ledger committed {}",
                    record.digest
                )));
            }
        }
        below = Some((height, record.digest));
    }
    let ranges: Vec<(u64, u64)> = blocks.ranges_from(height + 1).collect();
    for (start, end) in ranges {
        for h in start.max(height + 1)..=end {
            let Some(block) = read(h).await? else {
                return Err(inconsistent(format!("lists height {h} but holds no block there")));
            };
            if block.height != h {
                return Err(inconsistent(format!("holds a block of height {} at height {h}", block.height)));
            }
            let digest = block.digest();
            if let Some((b, parent)) = below
                && b + 1 == h
                && block.parent != parent
            {
                return Err(inconsistent(format!(
                    "the block at height {h} does not extend the block at height {b} (its parent is {}, \
                     the block below is {parent})",
                    block.parent
                )));
            }
            // What marshal's walk back over a gap finds under the parent digest.
            let parent = blocks.get(Identifier::Key(&block.parent)).await.map_err(|source| {
                ArchiveError::Unreadable {
                    partition: blocks_partition.to_owned(),
                    doing: format!("reading the parent of the block at height {h}"),
                    source: Box::new(source),
                }
            })?;
            if let Some(parent) = parent
                && (parent.height + 1 != h || parent.digest() != block.parent)
            {
                return Err(inconsistent(format!(
                    "the parent digest of the block at height {h} finds a block of height {} and digest {}, \
                     not its parent {}",
                    parent.height,
                    parent.digest(),
                    block.parent
                )));
            }
            below = Some((h, digest));
        }
    }
    let ranges: Vec<(u64, u64)> = finalizations.ranges_from(height + 1).collect();
    for (start, end) in ranges {
        for h in start.max(height + 1)..=end {
            let f =
                finalizations.get(Identifier::Index(h)).await.map_err(|source| ArchiveError::Unreadable {
                    partition: finalizations_partition.to_owned(),
                    doing: format!("reading the finalization at height {h}"),
                    source: Box::new(source),
                })?;
            let Some(f) = f else {
                return Err(ArchiveError::Inconsistent {
                    partition: finalizations_partition.to_owned(),
                    problem: format!("lists height {h} but holds no finalization there"),
                });
            };
            if let Some(block) = read(h).await?
                && block.digest() != f.proposal.payload
            {
                return Err(ArchiveError::Inconsistent {
                    partition: finalizations_partition.to_owned(),
                    problem: format!(
                        "the finalization at height {h} certifies {}, the block stored there is {}",
                        f.proposal.payload,
                        block.digest()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Marshal's record of the last height the application processed (its application metadata,
/// under the keys of `commonware-consensus` 2026.10's `marshal::core::stream`).
const PROCESSED_KEY: u64 = 0xFF;
const CUTOFF_KEYS: [u64; 2] = [0xFE, 0xFD];

/// If marshal records more blocks processed than the ledger holds — the ledger file was rolled
/// back: restored from an older backup, or repaired by redb to its last intact commit — marshal
/// would deliver only the blocks after its record, and the ledger could never apply them
/// (a gap). Marshal's record is then set back to the ledger's height (and its round floor
/// cleared, which marshal derives again), so that it delivers the blocks in between again from
/// its archive or its peers. Returns the height marshal had recorded, if it was set back.
pub async fn align_processed<E>(context: E, partition: &str, height: u64) -> Result<Option<u64>, ArchiveError>
where
    E: commonware_runtime::Storage + commonware_runtime::Clock + commonware_runtime::Metrics,
{
    use commonware_codec::varint::UInt;
    use commonware_storage::metadata::{self, Metadata};
    use commonware_utils::sequence::U64;
    let unreadable = |doing: &str| {
        let doing = doing.to_owned();
        move |e: commonware_storage::metadata::Error| ArchiveError::Inconsistent {
            partition: partition.to_owned(),
            problem: format!("{doing}: {e}"),
        }
    };
    let mut record: Metadata<E, U64, UInt<u64>> =
        Metadata::init(context, metadata::Config { partition: partition.to_owned(), codec_config: () })
            .await
            .map_err(unreadable("opening"))?;
    let Some(processed) = record.get(&U64::new(PROCESSED_KEY)).map(|h| h.0) else {
        return Ok(None);
    };
    if processed <= height {
        return Ok(None);
    }
    record.put(U64::new(PROCESSED_KEY), UInt(height));
    for key in CUTOFF_KEYS {
        record.remove(&U64::new(key));
    }
    record.sync().await.map_err(unreadable("writing"))?;
    Ok(Some(processed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::wiring::archive_config;
    use commonware_runtime::{Runner as _, Supervisor as _, buffer::paged::CacheRef, deterministic};
    use commonware_storage::archive::immutable;
    use commonware_utils::{NZU16, NZUsize};
    use npchain_core::Timestamp;

    fn block(height: u64, parent: Digest) -> Arc<Block> {
        Arc::new(Block {
            parent,
            height,
            time: Timestamp(height),
            state_hash: Digest::from([height as u8; 32]),
            next_validators: Vec::new(),
            txs: Vec::new(),
        })
    }

    /// Runs [`check`] on a blocks archive holding `stored` (index, block) and no
    /// finalizations, for a ledger at `height`.
    fn check_stored(stored: Vec<(u64, Arc<Block>)>, height: u64) -> Result<(), ArchiveError> {
        deterministic::Runner::default().start(|context| async move {
            let cache = CacheRef::new(NZU16!(4096), NZUsize!(64));
            let mut blocks = immutable::Archive::init(context.child("blocks"), archive_config("t", "blocks", &cache, ()))
                .await
                .unwrap();
            for (index, b) in &stored {
                blocks = blocks.put(*index, b.digest(), b).await.unwrap();
            }
            let codec =
                <Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded();
            let finalizations: immutable::Archive<_, Digest, Finalization<Scheme, Digest>> =
                immutable::Archive::init(context.child("finalizations"), archive_config("t", "finalizations", &cache, codec))
                    .await
                    .unwrap();
            check(&blocks, "t-blocks", &finalizations, "t-finalizations", height, None).await
        })
    }

    #[test]
    fn a_gap_marshal_can_fill_from_peers_passes() {
        let b1 = block(1, Digest::from([9; 32]));
        let b2 = block(2, b1.digest());
        let b3 = block(3, b2.digest());
        let b4 = block(4, b3.digest());
        let b5 = block(5, b4.digest());
        // 3 and 4 missing: marshal fetches them walking back from 5
        check_stored(vec![(1, b1), (2, b2), (5, b5)], 2).unwrap();
    }

    /// Commonware #4155: a gap whose end block's parent digest finds a block below the gap,
    /// on which marshal's startup repair would loop forever.
    #[test]
    fn a_gap_whose_end_block_points_below_the_gap_is_refused() {
        let b1 = block(1, Digest::from([9; 32]));
        let b2 = block(2, b1.digest());
        let skipping = block(5, b1.digest());
        let e = check_stored(vec![(1, b1), (2, b2), (5, skipping)], 2).unwrap_err();
        assert!(matches!(e, ArchiveError::Inconsistent { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("t-blocks")
                && text.contains("height 5")
                && text.contains("finds a block of height 1"),
            "{text}"
        );
    }

    #[test]
    fn a_block_stored_at_another_height_or_off_the_chain_below_is_refused() {
        let b1 = block(1, Digest::from([9; 32]));
        let b2 = block(2, b1.digest());
        let e = check_stored(vec![(1, b1.clone()), (2, b2.clone()), (3, b2.clone())], 1).unwrap_err();
        assert!(e.to_string().contains("holds a block of height 2 at height 3"), "{e}");
        let stranger = block(2, Digest::from([7; 32]));
        let e = check_stored(vec![(1, b1), (2, stranger)], 0).unwrap_err();
        assert!(e.to_string().contains("does not extend the block at height 1"), "{e}");
    }
}
