//! The node's record of finalized blocks ([`BlockRecord`]: header, outcome per transaction,
//! events), kept in its own redb file beside the ledger, with its indexes: transaction id →
//! height, operator → orders, subscriber key → numbers, all derived from the record's typed
//! events; and the porting statistics (`counts`). It is not part of the state hash: it is what the node reports about blocks, and it
//! is rewritten (same keys, same values) if a block is delivered again after a crash.

use super::{Context, RedbError, counts, keys, open_database, record::RecordError};
use crate::{
    chain::BlockLog,
    stats::{Cell, CellKey},
    storage::{BlockRecord, TxOutcome},
};
use npchain_core::{
    E164, PublicKey,
    types::{PortId, TxId, UtcDay},
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

/// Height → the block's record ([`BlockRecord::to_bytes`]: format version and encoding).
pub(super) const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Transaction id → height of its block.
const TX_INDEX: TableDefinition<&[u8], u64> = TableDefinition::new("tx_index");
/// [`keys::operator_port`] → (): the orders each operator is donor or recipient of.
const OPERATOR_PORTS: TableDefinition<&[u8], ()> = TableDefinition::new("operator_ports");
/// [`keys::key_number`] → (): every number ever bound to each key.
const KEY_NUMBERS: TableDefinition<&str, ()> = TableDefinition::new("key_numbers");

/// The block log's page cache.
const BLOCK_LOG_CACHE_BYTES: usize = 64 << 20;

/// Why the block log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BlockLogError {
    #[error(transparent)]
    Redb(#[from] RedbError),
    #[error("block log: block {height}: {source}")]
    Corrupt {
        height: u64,
        #[source]
        source: RecordError,
    },
    #[error("block log: an index key is not a {what}")]
    CorruptIndex { what: &'static str },
}

/// Finalized blocks by height, in redb.
#[derive(Debug)]
pub struct RedbBlockLog {
    db: Database,
    path: PathBuf,
}

impl RedbBlockLog {
    /// Opens the log, creating it if missing; the statistics of blocks stored before the log
    /// kept them are counted first (`counts::catch_up`).
    pub fn open(path: &Path) -> Result<Self, BlockLogError> {
        // Reads of the log are recent blocks and point lookups: a small cache, so that the
        // node's memory does not grow with the chain (redb's default is 1 GiB a database).
        let db = open_database(path, BLOCK_LOG_CACHE_BYTES, |txn| {
            txn.open_table(BLOCKS)?;
            txn.open_table(TX_INDEX)?;
            txn.open_table(OPERATOR_PORTS)?;
            txn.open_table(KEY_NUMBERS)?;
            counts::create(txn)
        })?;
        counts::catch_up(&db, path)?;
        Ok(Self { db, path: path.to_owned() })
    }

    /// What the statistics take in the log (for the benchmark).
    pub fn stats_footprint(&self) -> Result<counts::Footprint, BlockLogError> {
        counts::footprint(&self.db, &self.path)
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, RedbError> {
        self.db.begin_read().doing(&self.path, || "beginning a read transaction".into())
    }
}

impl BlockLog for RedbBlockLog {
    fn put(&mut self, record: &BlockRecord) -> Result<(), BlockLogError> {
        let path = self.path.as_path();
        let height = record.height;
        let doing = |what: &'static str| move || format!("writing {what} of block {height}");
        let bytes = record.to_bytes();
        let txn = self.db.begin_write().doing(path, doing("the transaction"))?;
        txn.open_table(BLOCKS)
            .doing(path, doing("the record"))?
            .insert(height, bytes.as_slice())
            .doing(path, doing("the record"))?;
        {
            let mut index = txn.open_table(TX_INDEX).doing(path, doing("the transaction index"))?;
            // One rule, as in `MemBlockLog`: the block that applied a transaction, else the
            // first that carried it.
            for tx in &record.txs {
                let key = tx.id.0.as_ref();
                let first = match tx.outcome {
                    TxOutcome::Applied => true,
                    TxOutcome::Rejected { .. } => {
                        index.get(key).doing(path, doing("the transaction index"))?.is_none()
                    }
                };
                if first {
                    index.insert(key, height).doing(path, doing("the transaction index"))?;
                }
            }
            let mut ports = txn.open_table(OPERATOR_PORTS).doing(path, doing("the operator index"))?;
            for (port, donor, recipient) in record.requested_ports() {
                for op in [donor, recipient] {
                    let key = keys::operator_port(op.as_str(), port.0.as_ref());
                    ports.insert(key.as_slice(), ()).doing(path, doing("the operator index"))?;
                }
            }
            let mut numbers = txn.open_table(KEY_NUMBERS).doing(path, doing("the key index"))?;
            for (key, number) in record.bindings() {
                numbers
                    .insert(keys::key_number(key, number).as_str(), ())
                    .doing(path, doing("the key index"))?;
            }
        }
        counts::count(&txn, path, record)?;
        txn.commit().doing(path, doing("the commit"))?;
        Ok(())
    }

    fn get(&self, height: u64) -> Result<Option<BlockRecord>, BlockLogError> {
        let txn = self.begin_read()?;
        let doing = || format!("reading block {height}");
        let table = txn.open_table(BLOCKS).doing(&self.path, doing)?;
        let Some(value) = table.get(height).doing(&self.path, doing)? else {
            return Ok(None);
        };
        BlockRecord::from_bytes(value.value())
            .map(Some)
            .map_err(|source| BlockLogError::Corrupt { height, source })
    }

    fn tx_height(&self, id: &TxId) -> Result<Option<u64>, BlockLogError> {
        let txn = self.begin_read()?;
        let doing = || format!("reading the transaction index for {id}");
        let table = txn.open_table(TX_INDEX).doing(&self.path, doing)?;
        Ok(table.get(id.0.as_ref()).doing(&self.path, doing)?.map(|v| v.value()))
    }

    fn operator_ports(
        &self,
        operator: &str,
        after: Option<&PortId>,
        limit: usize,
    ) -> Result<Vec<PortId>, BlockLogError> {
        let txn = self.begin_read()?;
        let doing = || format!("reading the operator index for {operator}");
        let table = txn.open_table(OPERATOR_PORTS).doing(&self.path, doing)?;
        let (start, end) = keys::operator_range(operator, after);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..end.as_slice()).doing(&self.path, doing)? {
            let (key, _) = entry.doing(&self.path, doing)?;
            let port = keys::port_of(operator, key.value())
                .ok_or(BlockLogError::CorruptIndex { what: "operator and port id" })?;
            if Some(&port) == after {
                continue;
            }
            out.push(port);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn bound_numbers(&self, subscriber: &PublicKey) -> Result<Vec<E164>, BlockLogError> {
        let txn = self.begin_read()?;
        let doing = || "reading the key index".to_owned();
        let table = txn.open_table(KEY_NUMBERS).doing(&self.path, doing)?;
        let (start, end) = keys::key_range(subscriber);
        let mut out = Vec::new();
        for entry in table.range(start.as_str()..end.as_str()).doing(&self.path, doing)? {
            let (key, _) = entry.doing(&self.path, doing)?;
            out.push(
                keys::number_of(key.value()).ok_or(BlockLogError::CorruptIndex { what: "key and number" })?,
            );
        }
        Ok(out)
    }

    fn stats(&self, from: UtcDay, to: UtcDay) -> Result<Vec<(CellKey, Cell)>, BlockLogError> {
        counts::read(&self.db, &self.path, from, to)
    }

    fn stats_height(&self) -> Result<Option<u64>, BlockLogError> {
        counts::height(&self.db, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{TxOutcome, TxRecord};
    use commonware_cryptography::Signer;
    use npchain_core::{Digest, Event, Step, types::Timestamp};

    #[test]
    fn blocks_survive_reopening_and_rewrites_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/blocks.redb");
        let tx = TxId(Digest([7; 32]));
        let port = PortId(Digest([8; 32]));
        let subscriber = npchain_testkit::key("OPA").public_key();
        let number: E164 = "+4930123".parse().unwrap();
        let record = BlockRecord {
            height: 3,
            digest: Digest([1; 32]),
            parent: Digest([2; 32]),
            time: Timestamp(5),
            state_hash: Digest([3; 32]),
            txs: vec![TxRecord { id: tx, outcome: TxOutcome::Applied }],
            events: vec![
                Event::Bound {
                    number,
                    operator: "OPA".parse().unwrap(),
                    subscriber: Some(subscriber.clone()),
                },
                Event::Port {
                    port,
                    step: Step::Requested,
                    donor: "OPA".parse().unwrap(),
                    recipient: "OPB".parse().unwrap(),
                    numbers: vec![number],
                },
            ],
        };
        {
            let mut log = RedbBlockLog::open(&path).unwrap();
            assert_eq!(log.get(3).unwrap(), None);
            log.put(&record).unwrap();
            log.put(&record).unwrap();
        }
        let log = RedbBlockLog::open(&path).unwrap();
        assert_eq!(log.get(3).unwrap(), Some(record));
        assert_eq!(log.get(4).unwrap(), None);
        assert_eq!(log.tx_height(&tx).unwrap(), Some(3));
        assert_eq!(log.tx_height(&TxId(Digest([9; 32]))).unwrap(), None);
        for op in ["OPA", "OPB"] {
            assert_eq!(log.operator_ports(op, None, 10).unwrap(), vec![port]);
            assert!(log.operator_ports(op, Some(&port), 10).unwrap().is_empty());
        }
        assert!(log.operator_ports("OP", None, 10).unwrap().is_empty(), "prefix of another id");
        assert!(log.operator_ports("OPC", None, 10).unwrap().is_empty());
        assert_eq!(log.bound_numbers(&subscriber).unwrap(), [number]);
        assert!(log.bound_numbers(&npchain_testkit::key("OPB").public_key()).unwrap().is_empty());
    }

    #[test]
    fn a_record_of_another_format_is_refused_with_its_height_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blocks.redb");
        let log = RedbBlockLog::open(&path).unwrap();
        {
            // what the log held before it had format versions: the HTTP answer's JSON
            let txn = log.db.begin_write().unwrap();
            txn.open_table(BLOCKS).unwrap().insert(1, &br#"{"height":1}"#[..]).unwrap();
            txn.commit().unwrap();
        }
        let e = log.get(1).unwrap_err();
        assert!(
            matches!(e, BlockLogError::Corrupt { height: 1, source: RecordError::UnknownVersion(b'{') }),
            "{e:?}"
        );
        assert!(e.to_string().contains("block 1") && e.to_string().contains("format version 123"), "{e}");
    }

    /// A transaction may be carried again after it was applied (admitted while its block was
    /// committing); the copy is refused as a replay. Both logs index the block that applied it,
    /// else the first that carried it, whatever order the blocks come in.
    #[test]
    fn the_index_names_the_block_that_applied_a_transaction() {
        let block = |height: u64, txs: Vec<TxRecord>| BlockRecord {
            height,
            digest: Digest([height as u8; 32]),
            parent: Digest([0; 32]),
            time: Timestamp(height),
            state_hash: Digest([0; 32]),
            txs,
            events: vec![],
        };
        let refused = || TxOutcome::Rejected { code: "replay".into(), message: "already applied".into() };
        let (replayed, late, never) = (TxId(Digest([1; 32])), TxId(Digest([2; 32])), TxId(Digest([3; 32])));
        let blocks = [
            block(2, vec![TxRecord { id: replayed, outcome: TxOutcome::Applied }]),
            block(
                3,
                vec![
                    TxRecord { id: replayed, outcome: refused() },
                    TxRecord { id: late, outcome: refused() },
                ],
            ),
            block(
                4,
                vec![
                    TxRecord { id: late, outcome: TxOutcome::Applied },
                    TxRecord { id: never, outcome: refused() },
                ],
            ),
            block(5, vec![TxRecord { id: never, outcome: refused() }]),
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut redb = RedbBlockLog::open(&dir.path().join("blocks.redb")).unwrap();
        let mut mem = crate::chain::MemBlockLog::default();
        for log in [&mut redb as &mut dyn BlockLog, &mut mem] {
            for b in &blocks {
                log.put(b).unwrap();
            }
            log.put(&blocks[1]).unwrap(); // delivered again after a crash
            assert_eq!(log.tx_height(&replayed).unwrap(), Some(2));
            assert_eq!(log.tx_height(&late).unwrap(), Some(4));
            assert_eq!(log.tx_height(&never).unwrap(), Some(4));
        }
    }
}
