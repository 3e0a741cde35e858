//! The fork tree of blocks executed on the committed state but not finalized yet, keyed by
//! digest: walking a block's ancestry down to the committed block, keeping a new execution
//! within [`MAX_PENDING`] (least recently used forks go first, never a parent before its
//! child), and dropping whatever does not descend from a block just committed.

use super::{BlockLog, Inner, InvalidBlock};
use npchain_core::{
    Executed, Store,
    types::{Digest, TxId},
};
use std::{cell::Cell, collections::HashSet};

/// The most executed, unfinalized blocks a node keeps (see [`Inner::keep`]).
pub const MAX_PENDING: usize = 128;

/// A block executed on the committed state (and its pending ancestors), not finalized yet.
pub(super) struct Pending {
    pub(super) parent: Digest,
    pub(super) executed: Executed,
    pub(super) txs: HashSet<TxId>,
    /// It carries a large transaction ([`super::mempool::SMALL_WEIGHT`]), as weighed when this
    /// node built or voted on it (`false` for a block only absorbed or finalized): a proposer
    /// building on it lets small transactions go first.
    pub(super) large: bool,
    /// When an ancestry through this block was last walked ([`Inner::ancestry`]): an
    /// ancestor's is never older than its descendants', so evicting the least recently used
    /// first never leaves a block without its parent.
    pub(super) used: Cell<u64>,
}

impl<S: Store, L: BlockLog> Inner<S, L> {
    /// Keeps an executed block, just executed on the ancestry [`Self::ancestry`] last walked.
    /// Past [`MAX_PENDING`] blocks, the least recently used go (the highest first among
    /// equals): forks nobody builds on while finalization stalls. A block that goes is executed
    /// again if consensus still needs it.
    pub(super) fn keep(
        &mut self,
        digest: Digest,
        parent: Digest,
        executed: Executed,
        txs: HashSet<TxId>,
        large: bool,
    ) {
        let used = Cell::new(self.walks.get());
        self.pending.insert(digest, Pending { parent, executed, txs, large, used });
        while self.pending.len() > MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| (p.used.get(), std::cmp::Reverse(p.executed.height())))
                .map(|(d, _)| *d)
                .expect("pending is not empty");
            self.pending.remove(&oldest);
        }
    }

    /// Keeps only the pending blocks that descend from `committed`, the block just committed.
    pub(super) fn prune(&mut self, committed: Digest) {
        let mut by_height: Vec<(u64, Digest, Digest)> =
            self.pending.iter().map(|(d, p)| (p.executed.height(), *d, p.parent)).collect();
        by_height.sort_unstable();
        let mut live = HashSet::from([committed]);
        for (_, digest, parent) in by_height {
            if live.contains(&parent) {
                live.insert(digest);
            }
        }
        self.pending.retain(|d, _| live.contains(d));
    }

    /// The pending blocks from just above the committed height up to `digest` at `height`,
    /// oldest first (empty when `height` is the committed height).
    pub(super) fn ancestry(
        &self,
        mut digest: Digest,
        mut height: u64,
    ) -> Result<Vec<&Pending>, InvalidBlock> {
        let committed = self.ledger.height();
        if height < committed {
            return Err(InvalidBlock::Stale { height: height + 1, committed });
        }
        let walk = self.walks.get() + 1;
        self.walks.set(walk);
        let mut out = Vec::new();
        while height > committed {
            let p = self
                .pending
                .get(&digest)
                .ok_or(InvalidBlock::UnknownParent { height: height + 1, parent: digest })?;
            p.used.set(walk);
            out.push(p);
            digest = p.parent;
            height -= 1;
        }
        if let Some(tip) = self.last_committed
            && tip != digest
        {
            return Err(InvalidBlock::UnknownParent { height: committed + 1, parent: digest });
        }
        out.reverse();
        Ok(out)
    }
}
