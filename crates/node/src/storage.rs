//! The ledger's durable store: the core's ordered tables in redb, one redb table per ledger
//! table plus one for the meta (last applied height, block time, state hash accumulator).
//!
//! Each block is one redb write transaction committed with an fsync, so a node killed at any
//! moment finds on restart either the whole block (and its height in the meta) or none of it.

use commonware_codec::{DecodeExt, Encode};
use npchain_core::{
    Batch, Meta, ReadStore, Store, StoreError, Table,
    store::Entry,
};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const META_KEY: &str = "meta";

fn table(t: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(t.name())
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// The ledger tables in one redb file.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens the store at `path`, creating the file (and its directory) if missing.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        let db = Database::create(path).map_err(backend)?;
        // Create every table up front so reads never meet a missing one.
        let txn = db.begin_write().map_err(backend)?;
        for t in Table::ALL {
            txn.open_table(table(t)).map_err(backend)?;
        }
        txn.open_table(META).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(Self { db })
    }
}

impl ReadStore for RedbStore {
    fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let tbl = txn.open_table(table(t)).map_err(backend)?;
        Ok(tbl.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn range(&self, t: Table, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Vec<Entry>, StoreError> {
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
            let mut open: Option<(Table, redb::Table<&[u8], &[u8]>)> = None;
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
