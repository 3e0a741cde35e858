//! The node's record of finalized blocks (header, transaction ids, outcome per transaction),
//! kept in its own redb file beside the ledger. It is not part of the state hash: it is what the
//! node reports about blocks, and it is rewritten if a block is delivered again after a crash.

use crate::{
    api::BlockInfo,
    chain::BlockLog,
    storage::{backend, open_database},
};
use npchain_core::StoreError;
use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::Path;

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");

/// Finalized blocks by height, in redb.
#[derive(Debug)]
pub struct RedbBlockLog {
    db: Database,
}

impl RedbBlockLog {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { db: open_database(path, |txn| txn.open_table(BLOCKS).map(drop))? })
    }
}

impl BlockLog for RedbBlockLog {
    fn put(&mut self, info: &BlockInfo) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(info).map_err(backend)?;
        let txn = self.db.begin_write().map_err(backend)?;
        txn.open_table(BLOCKS).map_err(backend)?.insert(info.height, bytes.as_slice()).map_err(backend)?;
        txn.commit().map_err(backend)
    }

    fn get(&self, height: u64) -> Result<Option<BlockInfo>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(BLOCKS).map_err(backend)?;
        let Some(value) = table.get(height).map_err(backend)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value()).map(Some).map_err(|e| StoreError::Corrupt {
            what: "block log",
            source: commonware_codec::Error::Invalid(
                "BlockInfo",
                if e.is_eof() { "truncated" } else { "not JSON" },
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_survive_reopening_and_rewrites_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/blocks.redb");
        let info = BlockInfo {
            height: 3,
            digest: "aa".into(),
            parent: "bb".into(),
            block_time_ms: 5,
            state_hash: "cc".into(),
            txs: vec!["dd".into()],
        };
        {
            let mut log = RedbBlockLog::open(&path).unwrap();
            assert_eq!(log.get(3).unwrap(), None);
            log.put(&info).unwrap();
            log.put(&info).unwrap();
        }
        let log = RedbBlockLog::open(&path).unwrap();
        assert_eq!(log.get(3).unwrap(), Some(info));
        assert_eq!(log.get(4).unwrap(), None);
    }
}
