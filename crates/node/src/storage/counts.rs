//! The block log's statistics tables ([`crate::stats`]): the cells by day and pair, the request
//! time of each open order, and the last height counted. A block is counted in the same write
//! transaction that stores it, and only if its height is above the last one counted, so a block
//! written again after a crash counts once.
//!
//! A log written before it kept statistics (a node upgraded in place) has blocks and no count:
//! [`catch_up`] counts the stored blocks when the log opens, [`CATCH_UP_BLOCKS`] per write
//! transaction (so its memory is bounded and an interruption resumes where it stopped), with a
//! log line at the start, after each transaction and at the end.

use super::{Context, RedbError, blocklog::BLOCKS};
use crate::{
    stats::{Cell, CellKey, OpenRequests, tally},
    storage::{BlockLogError, BlockRecord},
};
use npchain_core::types::{PortId, Timestamp, UtcDay};
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, TableError, WriteTransaction};
use std::path::Path;

/// [`CellKey::to_bytes`] → [`Cell::to_bytes`].
const STATS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("stats");
/// Port id → block time (ms) of its request, while the order is open.
const STATS_OPEN: TableDefinition<&[u8], u64> = TableDefinition::new("stats_open");
/// [`THROUGH`] → the last height counted.
const STATS_META: TableDefinition<&str, u64> = TableDefinition::new("stats_meta");
const THROUGH: &str = "through";

/// Blocks counted per write transaction when a log is caught up.
pub const CATCH_UP_BLOCKS: usize = 1_000;

/// Makes the tables (at open, with the log's other tables).
pub(super) fn create(txn: &WriteTransaction) -> Result<(), TableError> {
    txn.open_table(STATS)?;
    txn.open_table(STATS_OPEN)?;
    txn.open_table(STATS_META).map(drop)
}

fn through(table: &impl ReadableTable<&'static str, u64>, path: &Path) -> Result<Option<u64>, RedbError> {
    Ok(table.get(THROUGH).doing(path, || "reading the statistics' height".into())?.map(|v| v.value()))
}

struct Open<'a, 't> {
    table: &'a mut Table<'t, &'static [u8], u64>,
    path: &'a Path,
}

impl OpenRequests for Open<'_, '_> {
    type Error = RedbError;
    fn opened(&mut self, port: &PortId, at: Timestamp) -> Result<(), RedbError> {
        self.table
            .insert(port.0.as_ref(), at.millis())
            .doing(self.path, || format!("keeping order {port}"))?;
        Ok(())
    }
    fn finished(&mut self, port: &PortId) -> Result<Option<Timestamp>, RedbError> {
        let old = self.table.remove(port.0.as_ref()).doing(self.path, || format!("dropping order {port}"))?;
        Ok(old.map(|v| Timestamp(v.value())))
    }
}

/// Counts `record` in `txn`, unless its height was counted already.
pub(super) fn count(txn: &WriteTransaction, path: &Path, record: &BlockRecord) -> Result<(), BlockLogError> {
    let height = record.height;
    let doing = move || format!("counting the statistics of block {height}");
    let mut meta = txn.open_table(STATS_META).doing(path, doing)?;
    if through(&meta, path)?.is_some_and(|h| height <= h) {
        return Ok(());
    }
    let delta = {
        let mut table = txn.open_table(STATS_OPEN).doing(path, doing)?;
        tally(record, &mut Open { table: &mut table, path })?
    };
    let mut cells = txn.open_table(STATS).doing(path, doing)?;
    for (key, add) in delta {
        let key = key.to_bytes();
        let mut cell = match cells.get(key.as_slice()).doing(path, doing)? {
            Some(v) => Cell::from_bytes(v.value())
                .map_err(|_| BlockLogError::CorruptIndex { what: "statistics cell" })?,
            None => Cell::default(),
        };
        cell.merge(&add);
        cells.insert(key.as_slice(), cell.to_bytes().as_slice()).doing(path, doing)?;
    }
    meta.insert(THROUGH, height).doing(path, doing)?;
    Ok(())
}

/// The cells of the days `from..=to`, in key order.
pub(super) fn read(
    db: &Database,
    path: &Path,
    from: UtcDay,
    to: UtcDay,
) -> Result<Vec<(CellKey, Cell)>, BlockLogError> {
    if from > to {
        return Ok(Vec::new());
    }
    let doing = || format!("reading the statistics from {from} to {to}");
    let txn = db.begin_read().doing(path, doing)?;
    let table = txn.open_table(STATS).doing(path, doing)?;
    let (start, end) = (CellKey::day_start(from), CellKey::day_start(UtcDay(to.0.saturating_add(1))));
    let mut out = Vec::new();
    for entry in table.range(start.as_slice()..end.as_slice()).doing(path, doing)? {
        let (key, value) = entry.doing(path, doing)?;
        let corrupt = || BlockLogError::CorruptIndex { what: "statistics cell" };
        let key = CellKey::from_bytes(key.value()).ok_or_else(corrupt)?;
        out.push((key, Cell::from_bytes(value.value()).map_err(|_| corrupt())?));
    }
    Ok(out)
}

/// The last height counted.
pub(super) fn height(db: &Database, path: &Path) -> Result<Option<u64>, BlockLogError> {
    let txn = db.begin_read().doing(path, || "reading the statistics' height".into())?;
    let meta = txn.open_table(STATS_META).doing(path, || "reading the statistics' height".into())?;
    Ok(through(&meta, path)?)
}

/// Counts the stored blocks above the last height counted (all of them in a log written before
/// it kept statistics).
pub(super) fn catch_up(db: &Database, path: &Path) -> Result<(), BlockLogError> {
    let counted = height(db, path)?;
    let last = {
        let txn = db.begin_read().doing(path, || "reading the last block".into())?;
        let blocks = txn.open_table(BLOCKS).doing(path, || "reading the last block".into())?;
        blocks.last().doing(path, || "reading the last block".into())?.map(|(h, _)| h.value())
    };
    let Some(last) = last.filter(|l| counted.is_none_or(|c| c < *l)) else {
        return Ok(());
    };
    let first = counted.map_or(0, |c| c + 1);
    tracing::info!(
        file = %path.display(), from = first, to = last,
        "block log: counting the porting statistics of blocks stored before it kept them"
    );
    let started = std::time::Instant::now();
    let mut next = first;
    while next <= last {
        let doing = move || format!("counting the statistics of the blocks from {next}");
        let before = next;
        let txn = db.begin_write().doing(path, doing)?;
        {
            let blocks = txn.open_table(BLOCKS).doing(path, doing)?;
            for entry in blocks.range(next..).doing(path, doing)?.take(CATCH_UP_BLOCKS) {
                let (height, bytes) = entry.doing(path, doing)?;
                let height = height.value();
                let record = BlockRecord::from_bytes(bytes.value())
                    .map_err(|source| BlockLogError::Corrupt { height, source })?;
                count(&txn, path, &record)?;
                next = height + 1;
            }
        }
        txn.commit().doing(path, doing)?;
        if next == before {
            break; // (no block above the count: nothing left to do)
        }
        tracing::info!(file = %path.display(), through = next - 1, to = last, "block log: statistics counted");
    }
    tracing::info!(
        file = %path.display(), blocks = last - first + 1, elapsed_ms = started.elapsed().as_millis() as u64,
        "block log: porting statistics complete"
    );
    Ok(())
}

/// What the statistics take in the log: cells, open orders kept, and their bytes on disk
/// (stored, with redb's own metadata of the two tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub cells: u64,
    pub open_orders: u64,
    pub bytes: u64,
}

pub(super) fn footprint(db: &Database, path: &Path) -> Result<Footprint, BlockLogError> {
    use redb::ReadableTableMetadata;
    let doing = || "measuring the statistics tables".to_owned();
    let txn = db.begin_read().doing(path, doing)?;
    let (cells, open) =
        (txn.open_table(STATS).doing(path, doing)?, txn.open_table(STATS_OPEN).doing(path, doing)?);
    let (a, b) = (cells.stats().doing(path, doing)?, open.stats().doing(path, doing)?);
    Ok(Footprint {
        cells: cells.len().doing(path, doing)?,
        open_orders: open.len().doing(path, doing)?,
        bytes: a.stored_bytes() + a.metadata_bytes() + b.stored_bytes() + b.metadata_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{chain::BlockLog, stats::MemStats, storage::RedbBlockLog};
    use npchain_core::{Event, RejectCause, Step, types::Digest};

    /// Block `height` (an hour apart): order `height` requested, order `height - 3` activated
    /// or, every fifth, rejected by silence.
    fn record(height: u64) -> BlockRecord {
        let port = |n: u64| PortId(Digest([(n % 251) as u8; 32]));
        let event = |n: u64, step| Event::Port {
            port: port(n),
            step,
            donor: npchain_testkit::op(if n.is_multiple_of(2) { "OPA" } else { "OPB" }),
            recipient: npchain_testkit::op("OPC"),
            numbers: vec![npchain_testkit::num("+4930100000")],
        };
        let mut events = vec![event(height, Step::Requested)];
        if height > 3 {
            let end = if height.is_multiple_of(5) {
                Step::Rejected(RejectCause::DonorSilent)
            } else {
                Step::Activated
            };
            events.push(event(height - 3, end));
        }
        BlockRecord {
            height,
            digest: Digest([1; 32]),
            parent: Digest([2; 32]),
            time: Timestamp(1_767_225_600_000 + height * 3_600_000),
            state_hash: Digest([3; 32]),
            txs: Vec::new(),
            events,
        }
    }

    #[test]
    fn a_log_from_before_the_statistics_counts_its_blocks_when_it_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blocks.redb");
        let blocks = 2 * CATCH_UP_BLOCKS as u64 + 500;
        let mut want = MemStats::default();
        (1..=blocks).for_each(|h| want.count(&record(h)));
        {
            // the log as a node before the statistics left it: its blocks, no statistics tables
            drop(RedbBlockLog::open(&path).unwrap());
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            assert!(txn.delete_table(STATS).unwrap());
            assert!(txn.delete_table(STATS_OPEN).unwrap());
            assert!(txn.delete_table(STATS_META).unwrap());
            {
                let mut t = txn.open_table(BLOCKS).unwrap();
                for h in 1..=blocks {
                    t.insert(h, record(h).to_bytes().as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let mut log = RedbBlockLog::open(&path).unwrap();
        let (from, to) = (UtcDay(0), UtcDay(100_000));
        assert_eq!(log.stats_height().unwrap(), Some(blocks));
        assert_eq!(log.stats(from, to).unwrap(), want.range(from, to));
        assert_eq!(log.stats_footprint().unwrap().open_orders, 3, "the three orders still open");
        // and it goes on counting from there, once
        for h in [blocks, blocks + 1, blocks + 1] {
            log.put(&record(h)).unwrap();
        }
        want.count(&record(blocks + 1));
        assert_eq!(log.stats(from, to).unwrap(), want.range(from, to));
        drop(log);
        let log = RedbBlockLog::open(&path).unwrap();
        assert_eq!(log.stats_height().unwrap(), Some(blocks + 1), "nothing more to count");
    }

    #[test]
    fn a_damaged_cell_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blocks.redb");
        let mut log = RedbBlockLog::open(&path).unwrap();
        log.put(&record(1)).unwrap();
        drop(log);
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn.open_table(STATS).unwrap();
                let key = t.first().unwrap().unwrap().0.value().to_vec();
                t.insert(key.as_slice(), &[0xff][..]).unwrap();
            }
            txn.commit().unwrap();
        }
        let log = RedbBlockLog::open(&path).unwrap();
        let e = log.stats(UtcDay(0), UtcDay(100_000)).unwrap_err();
        assert!(matches!(e, BlockLogError::CorruptIndex { what: "statistics cell" }), "{e:?}");
    }
}
