//! The node's two redb files: the ledger store ([`RedbStore`], the core's tables and meta,
//! one fsynced transaction per block) and the block log ([`RedbBlockLog`], what the node
//! reports per finalized block, with its indexes and statistics). Both open through [`open_database`], and a
//! redb failure carries the file and what was being done ([`RedbError`]).

mod blocklog;
pub mod counts;
mod keys;
mod ledger;
mod record;

pub use blocklog::{BlockLogError, RedbBlockLog};
pub use ledger::{DEFAULT_CACHE_MIB, RedbSnapshot, RedbStore};
pub use record::{BlockRecord, FORMAT_VERSION, RecordError, TxOutcome, TxRecord};

use npchain_core::{MemStore, ReadStore, StoreError};
use redb::Database;
use std::path::{Path, PathBuf};

/// A store that gives a read view fixed at its last commit, which later commits do not change:
/// an export streams the whole state of one height from it without holding the chain's lock.
pub trait Snapshots {
    type Snapshot: ReadStore + Send + 'static;
    /// The view of the store as it is now.
    fn snapshot(&self) -> Result<Self::Snapshot, StoreError>;
}

/// An in-memory store's snapshot is a copy (tests and tools only).
impl Snapshots for MemStore {
    type Snapshot = MemStore;
    fn snapshot(&self) -> Result<MemStore, StoreError> {
        Ok(self.clone())
    }
}

/// A redb failure, with what was being done to which file.
#[derive(Debug, thiserror::Error)]
#[error("redb file {path}: {doing}: {source}", path = path.display())]
pub struct RedbError {
    doing: String,
    path: PathBuf,
    /// (boxed: redb's error is large, and a failure rare)
    #[source]
    source: Box<redb::Error>,
}

impl From<RedbError> for StoreError {
    fn from(e: RedbError) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// Wraps redb errors into a [`RedbError`], its context built only on failure.
trait Context<T> {
    fn doing(self, path: &Path, doing: impl FnOnce() -> String) -> Result<T, RedbError>;
}

impl<T, E: Into<redb::Error>> Context<T> for Result<T, E> {
    fn doing(self, path: &Path, doing: impl FnOnce() -> String) -> Result<T, RedbError> {
        self.map_err(|e| RedbError { doing: doing(), path: path.to_owned(), source: Box::new(e.into()) })
    }
}

/// Opens (creating file and directory if missing) a redb database whose tables `create` makes
/// up front, so reads never meet a missing table.
fn open_database(
    path: &Path,
    cache_bytes: usize,
    create: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::TableError>,
) -> Result<Database, RedbError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).doing(path, || format!("creating directory {}", dir.display()))?;
    }
    // Opening a file left by a crash repairs it to its last complete commit.
    let db = Database::builder()
        .set_cache_size(cache_bytes)
        .create(path)
        .doing(path, || "opening or creating the database".into())?;
    create_tables(db, path, create)
}

fn create_tables(
    db: Database,
    path: &Path,
    create: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::TableError>,
) -> Result<Database, RedbError> {
    let txn = db.begin_write().doing(path, || "beginning the transaction creating the tables".into())?;
    create(&txn).doing(path, || "creating the tables".into())?;
    txn.commit().doing(path, || "committing the created tables".into())?;
    Ok(db)
}
