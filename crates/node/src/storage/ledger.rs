//! The ledger's durable store: the core's ordered tables in redb, one redb table per ledger
//! table plus one for the meta (last applied height, block time, state hash accumulator).
//!
//! Each block is one redb write transaction committed with an fsync, so a node killed at any
//! moment finds on restart either the whole block (and its height in the meta) or none of it.
//! A commit that fails (disk full, I/O error) returns the error; redb then refuses further
//! writes until the store is reopened, and reopening finds the block either whole or absent.

use super::{Context, open_database};
use commonware_codec::{Copying, DecodeExt, Encode};
use npchain_core::{Batch, Meta, ReadStore, Store, StoreError, Table, store::Entry};
use redb::{Database, Durability, ReadableDatabase, TableDefinition, TableHandle};
use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const META_KEY: &str = "meta";

/// A ledger table opened for writing in a transaction.
type OpenTable<'txn> = redb::Table<'txn, &'static [u8], &'static [u8]>;

pub(super) fn table(t: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(t.name())
}

/// The table ledger layout 1 kept beside `seen_tx_by_expiry` (transaction id → expiry).
const RETIRED_SEEN_TX: &str = "seen_tx";

/// A ledger file of an older layout.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} holds a ledger of layout 1 (it has a `{RETIRED_SEEN_TX}` table), which this node does not \
     continue: start the node from a state export (`npchain export`, then a genesis from it) or from \
     the genesis with an empty data directory",
    path = path.display()
)]
pub struct OldLayout {
    path: PathBuf,
}

/// The ledger store's page cache unless the config says otherwise (redb's own default).
pub const DEFAULT_CACHE_MIB: usize = 1024;

pub(super) fn create_ledger_tables(txn: &redb::WriteTransaction) -> Result<(), redb::TableError> {
    for t in Table::ALL {
        txn.open_table(table(t))?;
    }
    txn.open_table(META).map(drop)
}

/// The ledger tables in one redb file. Reads see the last committed block; a commit is one
/// redb write transaction with its fsync.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    readers: Mutex<Readers>,
}

/// A ledger table opened for reading.
type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// The ledger tables opened for reading in one read transaction, kept from one commit to the
/// next: beginning a read transaction and opening a table cost more than the lookup itself (a
/// tenth of a validator's cycles under load went to them), and executing a block reads
/// thousands of entries. A commit drops them, so reads never see an older block.
#[derive(Default)]
struct Readers {
    txn: Option<redb::ReadTransaction>,
    tables: [Option<ReadTable>; Table::ALL.len()],
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.tables.iter().filter(|t| t.is_some()).count();
        f.debug_struct("Readers").field("open_tables", &open).finish()
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating the file (and its directory) if missing. A file left
    /// by a crash is repaired to its last committed block.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, DEFAULT_CACHE_MIB << 20)
    }

    /// Opens the store with a page cache of at most `cache_bytes` (redb's cache holds pages
    /// read and written; the node's memory grows with it up to this bound).
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        let db = open_database(path, cache_bytes, create_ledger_tables)?;
        let store = Self { db, path: path.to_owned(), readers: Mutex::default() };
        store.check_layout()?;
        Ok(store)
    }

    /// Refuses a file written under ledger layout 1, which also kept a `seen_tx` table: its
    /// state hash covers entries this layout no longer has, so it cannot go on from there.
    fn check_layout(&self) -> Result<(), StoreError> {
        let txn = self.begin_read()?;
        let tables = txn.list_tables().doing(&self.path, || "listing the tables".into())?;
        if tables.into_iter().any(|t| t.name() == RETIRED_SEEN_TX) {
            return Err(StoreError::Backend(Box::new(OldLayout { path: self.path.clone() })));
        }
        Ok(())
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last applied height (the meta's), or `None` if no ledger was written yet.
    pub fn height(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.meta()?.map(|m| m.height))
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.db.begin_read().doing(&self.path, || "beginning a read transaction".into())?)
    }

    /// Runs `read` on table `t` as the last commit left it, opened once per commit.
    fn reading<T>(
        &self,
        t: Table,
        read: impl FnOnce(&ReadTable) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        let Readers { txn, tables } = &mut *readers;
        let slot = &mut tables[t.index()];
        if slot.is_none() {
            if txn.is_none() {
                *txn = Some(self.begin_read()?);
            }
            let opened = txn.as_ref().expect("begun above").open_table(table(t));
            *slot = Some(opened.doing(&self.path, || format!("opening table {}", t.name()))?);
        }
        read(slot.as_ref().expect("opened above"))
    }
}

impl ReadStore for RedbStore {
    fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.reading(t, |tbl| get_from(tbl, &self.path, t, key))
    }

    fn range(
        &self,
        t: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.reading(t, |tbl| range_from(tbl, &self.path, t, start, end, limit))
    }

    fn meta(&self) -> Result<Option<Meta>, StoreError> {
        meta_in(&self.begin_read()?, &self.path)
    }
}

/// A read view of the ledger store fixed at one committed block: a redb read transaction,
/// which sees neither later commits nor half of one (see [`crate::storage::Snapshots`]).
pub struct RedbSnapshot {
    txn: redb::ReadTransaction,
    path: PathBuf,
}

impl std::fmt::Debug for RedbSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbSnapshot").field("path", &self.path).finish_non_exhaustive()
    }
}

impl super::Snapshots for RedbStore {
    type Snapshot = RedbSnapshot;

    fn snapshot(&self) -> Result<RedbSnapshot, StoreError> {
        Ok(RedbSnapshot { txn: self.begin_read()?, path: self.path.clone() })
    }
}

impl ReadStore for RedbSnapshot {
    fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get_in(&self.txn, &self.path, t, key)
    }

    fn range(
        &self,
        t: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        range_in(&self.txn, &self.path, t, start, end, limit)
    }

    fn meta(&self) -> Result<Option<Meta>, StoreError> {
        meta_in(&self.txn, &self.path)
    }
}

fn get_in(
    txn: &redb::ReadTransaction,
    path: &Path,
    t: Table,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let tbl = txn.open_table(table(t)).doing(path, || format!("opening table {}", t.name()))?;
    get_from(&tbl, path, t, key)
}

fn get_from(tbl: &ReadTable, path: &Path, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let value = tbl.get(key).doing(path, || format!("reading table {}", t.name()))?;
    Ok(value.map(|v| v.value().to_vec()))
}

fn range_in(
    txn: &redb::ReadTransaction,
    path: &Path,
    t: Table,
    start: &[u8],
    end: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let tbl = txn.open_table(table(t)).doing(path, || format!("opening table {}", t.name()))?;
    range_from(&tbl, path, t, start, end, limit)
}

/// Up to `limit` entries of `tbl` with `start <= key < end`.
fn range_from(
    tbl: &ReadTable,
    path: &Path,
    t: Table,
    start: &[u8],
    end: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    if limit == 0 || end.is_some_and(|end| end <= start) {
        return Ok(Vec::new()); // (redb refuses a range whose end is before its start)
    }
    let doing = || format!("reading a range of table {}", t.name());
    let iter = match end {
        Some(end) => tbl.range::<&[u8]>(start..end),
        None => tbl.range::<&[u8]>(start..),
    }
    .doing(path, doing)?;
    let mut out = Vec::new();
    for item in iter.take(limit) {
        let (k, v) = item.doing(path, doing)?;
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

fn meta_in(txn: &redb::ReadTransaction, path: &Path) -> Result<Option<Meta>, StoreError> {
    let tbl = txn.open_table(META).doing(path, || "opening the meta table".into())?;
    let Some(v) = tbl.get(META_KEY).doing(path, || "reading the meta".into())? else {
        return Ok(None);
    };
    Meta::decode(Copying(v.value())).map(Some).map_err(|source| StoreError::Corrupt { what: "meta", source })
}

impl Store for RedbStore {
    /// Writes the batch and its meta in one redb transaction, fsynced before it returns. After an
    /// error this handle still shows the previous state, but a failure at the very end (the
    /// fsync) may have left the block on disk: the caller stops and reopens, and never assumes
    /// the block absent. Reopened, the store holds it whole or not at all.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        // Reads after this one see it (or, if it fails, the state before it, read afresh).
        *self.readers.get_mut().unwrap_or_else(|e| e.into_inner()) = Readers::default();
        let path = self.path.as_path();
        let block = || match &batch.meta {
            Some(meta) => format!("block {}", meta.height),
            None => "a batch without meta".to_string(),
        };
        let mut txn = self.db.begin_write().doing(path, || format!("beginning the write of {}", block()))?;
        txn.set_durability(Durability::Immediate).doing(path, || "asking for an fsync at commit".into())?;
        {
            // Changes come sorted by table, so each table is opened once.
            let mut open: Option<(Table, OpenTable<'_>)> = None;
            for ((t, key), change) in &batch.changes {
                let doing = || format!("writing table {} for {}", t.name(), block());
                if open.as_ref().is_none_or(|(ot, _)| ot != t) {
                    open = Some((*t, txn.open_table(table(*t)).doing(path, doing)?));
                }
                let (_, tbl) = open.as_mut().expect("opened above");
                match change {
                    Some(v) => {
                        tbl.insert(key.as_slice(), v.as_slice()).doing(path, doing)?;
                    }
                    None => {
                        tbl.remove(key.as_slice()).doing(path, doing)?;
                    }
                }
            }
        }
        if let Some(meta) = &batch.meta {
            let doing = || format!("writing the meta of {}", block());
            let bytes = meta.encode();
            txn.open_table(META).doing(path, doing)?.insert(META_KEY, bytes.as_ref()).doing(path, doing)?;
        }
        // Dropping an uncommitted transaction aborts it: an error above leaves no trace.
        txn.commit().doing(path, || format!("committing {} ({} changes)", block(), batch.changes.len()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
