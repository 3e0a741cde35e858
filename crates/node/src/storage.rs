//! The ledger's durable store: the core's ordered tables in redb, one redb table per ledger
//! table plus one for the meta (last applied height, block time, state hash accumulator).
//!
//! Each block is one redb write transaction committed with an fsync, so a node killed at any
//! moment finds on restart either the whole block (and its height in the meta) or none of it.

use commonware_codec::{DecodeExt, Encode};
use npchain_core::{Batch, Meta, ReadStore, Store, StoreError, Table, store::Entry};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const META_KEY: &str = "meta";

/// A ledger table opened for writing in a transaction.
type OpenTable<'txn> = redb::Table<'txn, &'static [u8], &'static [u8]>;

fn table(t: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(t.name())
}

pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Opens (creating file and directory if missing) a redb database whose tables `create` makes
/// up front, so reads never meet a missing table.
pub(crate) fn open_database(
    path: &Path,
    create: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::TableError>,
) -> Result<Database, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(backend)?;
    }
    let db = Database::create(path).map_err(backend)?;
    let txn = db.begin_write().map_err(backend)?;
    create(&txn).map_err(backend)?;
    txn.commit().map_err(backend)?;
    Ok(db)
}

/// The ledger tables in one redb file.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens the store at `path`, creating the file (and its directory) if missing.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = open_database(path, |txn| {
            for t in Table::ALL {
                txn.open_table(table(t))?;
            }
            txn.open_table(META).map(drop)
        })?;
        Ok(Self { db })
    }
}

impl ReadStore for RedbStore {
    fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let tbl = txn.open_table(table(t)).map_err(backend)?;
        Ok(tbl.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn range(
        &self,
        t: Table,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let tbl = txn.open_table(table(t)).map_err(backend)?;
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => tbl.range::<&[u8]>(start..end).map_err(backend)?,
            None => tbl.range::<&[u8]>(start..).map_err(backend)?,
        };
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item.map_err(backend)?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn meta(&self) -> Result<Option<Meta>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let tbl = txn.open_table(META).map_err(backend)?;
        let Some(v) = tbl.get(META_KEY).map_err(backend)? else {
            return Ok(None);
        };
        Meta::decode(commonware_codec::Copying(v.value()))
            .map(Some)
            .map_err(|source| StoreError::Corrupt { what: "meta", source })
    }
}

impl Store for RedbStore {
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(backend)?;
        txn.set_durability(Durability::Immediate).map_err(backend)?;
        {
            // Changes come sorted by table, so each table is opened once.
            let mut open: Option<(Table, OpenTable<'_>)> = None;
            for ((t, key), change) in &batch.changes {
                if open.as_ref().is_none_or(|(ot, _)| ot != t) {
                    open = Some((*t, txn.open_table(table(*t)).map_err(backend)?));
                }
                let (_, tbl) = open.as_mut().expect("opened above");
                match change {
                    Some(v) => {
                        tbl.insert(key.as_slice(), v.as_slice()).map_err(backend)?;
                    }
                    None => {
                        tbl.remove(key.as_slice()).map_err(backend)?;
                    }
                }
            }
        }
        if let Some(meta) = &batch.meta {
            let bytes = meta.encode();
            txn.open_table(META).map_err(backend)?.insert(META_KEY, bytes.as_ref()).map_err(backend)?;
        }
        // Dropping an uncommitted transaction aborts it: an error above leaves no trace.
        txn.commit().map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use npchain_core::{MemStore, types::Timestamp};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn meta(height: u64) -> Meta {
        Meta { height, block_time: Timestamp(height * 10), accumulator: Default::default() }
    }

    /// (table index, key, value or deletion)
    type Change = (u8, Vec<u8>, Option<Vec<u8>>);

    fn batch(changes: &[Change], height: Option<u64>) -> Batch {
        let changes: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>> = changes
            .iter()
            .map(|(t, k, v)| ((Table::ALL[*t as usize % Table::ALL.len()], k.clone()), v.clone()))
            .collect();
        Batch { changes, meta: height.map(meta) }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// The same batches give the same tables as the in-memory store, before and after reopening.
        #[test]
        fn behaves_like_the_memory_store(
            batches in prop::collection::vec(
                prop::collection::vec((0u8..3, prop::collection::vec(0u8..4, 0..3), prop::option::of(prop::collection::vec(any::<u8>(), 0..4))), 0..8),
                1..6),
            start in prop::collection::vec(0u8..4, 0..2),
            end in prop::option::of(prop::collection::vec(0u8..4, 0..3)),
            limit in 0usize..6,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.redb");
            let mut redb = RedbStore::open(&path).unwrap();
            let mut mem = MemStore::new();
            for (h, b) in batches.iter().enumerate() {
                let b = batch(b, Some(h as u64 + 1));
                redb.commit(&b).unwrap();
                mem.commit(&b).unwrap();
            }
            let check = |redb: &RedbStore| -> Result<(), TestCaseError> {
                for t in Table::ALL.into_iter().take(3) {
                    prop_assert_eq!(
                        redb.range(t, &start, end.as_deref(), limit).unwrap(),
                        mem.range(t, &start, end.as_deref(), limit).unwrap()
                    );
                    for (k, _) in mem.range(t, &[], None, usize::MAX).unwrap() {
                        prop_assert_eq!(redb.get(t, &k).unwrap(), mem.get(t, &k).unwrap());
                    }
                }
                prop_assert_eq!(redb.meta().unwrap().map(|m| m.height), Some(batches.len() as u64));
                Ok(())
            };
            check(&redb)?;
            drop(redb);
            check(&RedbStore::open(&path).unwrap())?;
        }
    }

    #[test]
    fn a_batch_without_meta_keeps_the_meta_and_a_fresh_store_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = RedbStore::open(&dir.path().join("a/b/s.redb")).unwrap();
        assert!(s.meta().unwrap().is_none());
        s.commit(&batch(&[(0, vec![1], Some(vec![2]))], Some(7))).unwrap();
        s.commit(&batch(&[(0, vec![3], Some(vec![4]))], None)).unwrap();
        assert_eq!(s.meta().unwrap().unwrap().height, 7);
        assert_eq!(s.get(Table::Config, &[3]).unwrap(), Some(vec![4]));
    }

    #[test]
    fn a_corrupt_meta_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let s = RedbStore::open(&path).unwrap();
            let txn = s.db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert(META_KEY, &b"short"[..]).unwrap();
            txn.commit().unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        assert!(matches!(s.meta(), Err(StoreError::Corrupt { what: "meta", .. })));
    }
}
