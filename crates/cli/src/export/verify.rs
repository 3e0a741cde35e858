//! `npchain export verify`: whether an export directory holds what a quorum of validators
//! finalized, trusting nothing but the genesis.
//!
//! 1. The validator set of the export's epoch, learned from the genesis validators through each
//!    boundary block of `epochs.jsonl` in order (as a wallet learns sets).
//! 2. `block.bin` and `finalization.bin`: a quorum certificate of that set over the block.
//! 3. `state.bin`: its layout (bounded, ordered, with its end record), its header against the
//!    block, and the state hash recomputed from every entry against the block's.
//! 4. The CSV files, line by line, against the routing rows derived from the entries.
//! 5. `manifest.json` against what was counted.
//!
//! A state hash that does not match says that some entry differs, not which one (a sum of
//! hashes cannot say); a changed routing entry also shows as the CSV line that no longer
//! matches it.

use super::{
    BLOCK, Boundary, Counts, EPOCHS, ExportError, FINALIZATION, MANIFEST, Manifest, RoutingFile, Rows, STATE,
    io,
};
use npchain_api::{
    ProofChecker, ProofError,
    dump::{DumpError, DumpReader},
};
use npchain_core::{Digest, Genesis, StoreError, export::RoutingRow, export::StateAccumulator};
use std::{fmt, io::BufReader, path::Path};

/// Differences reported per CSV file before the rest are only counted.
const MAX_PER_FILE: usize = 10;

/// What does not hold in an export. Lines are the file's own (the header is line 1); entries
/// of `state.bin` are counted from 1.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("{file}: cannot be read: {source}")]
    Missing {
        file: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{EPOCHS} line {line}: {problem}")]
    EpochLine { line: usize, problem: String },
    #[error("{EPOCHS} line {line}: the boundary block of epoch {epoch} does not hold: {source}")]
    Epoch {
        line: usize,
        epoch: u64,
        #[source]
        source: ProofError,
    },
    #[error("{BLOCK} and {FINALIZATION}: {source}")]
    Proof {
        #[source]
        source: ProofError,
    },
    #[error("{STATE}: {source}")]
    Dump {
        #[source]
        source: DumpError,
    },
    #[error("{STATE} entry {entry} (byte {offset}): {source}")]
    Entry {
        entry: u64,
        offset: u64,
        #[source]
        source: StoreError,
    },
    #[error("{STATE}: its header says height {dump}; {BLOCK} is block {block}")]
    HeaderHeight { dump: u64, block: u64 },
    #[error("{STATE}: its header says state hash {dump}; block {height} carries {block}")]
    HeaderHash { height: u64, dump: Digest, block: Digest },
    #[error(
        "{STATE}: its {entries} entries hash to {computed}, but block {height} (certified by {FINALIZATION}) carries \
         state hash {certified}: an entry was changed, added or removed"
    )]
    StateHash { height: u64, entries: u64, computed: Digest, certified: Digest },
    #[error("{file} line {line}: {source}")]
    Csv {
        file: &'static str,
        line: u64,
        #[source]
        source: csv::Error,
    },
    #[error("{file} line 1: the header must be {expected}; found {found}")]
    Header { file: &'static str, expected: String, found: String },
    #[error("{file} line {line}: {found:?}, but {STATE} entry {entry} says {expected:?}")]
    Row { file: &'static str, line: u64, found: String, entry: u64, expected: String },
    #[error("{file} ends at line {line}; {STATE} entry {entry} says {expected:?}")]
    MissingRow { file: &'static str, line: u64, entry: u64, expected: String },
    #[error("{file} line {line}: {found:?} is in no entry of {STATE}")]
    ExtraRow { file: &'static str, line: u64, found: String },
    #[error("{file}: {more} more differences")]
    More { file: &'static str, more: usize },
    #[error("{MANIFEST}: {field} is {manifest}, but the files hold {actual}")]
    Manifest { field: &'static str, manifest: String, actual: String },
    #[error("{MANIFEST}: {source}")]
    ManifestJson {
        #[source]
        source: serde_json::Error,
    },
}

/// The outcome of a verification: what was checked, and every fault found.
#[derive(Debug, Default)]
pub struct Report {
    /// The height the certificate proves, once it held.
    pub height: Option<u64>,
    pub counts: Counts,
    pub faults: Vec<Fault>,
}

impl Report {
    pub fn holds(&self) -> bool {
        self.faults.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for fault in &self.faults {
            writeln!(f, "{fault}")?;
        }
        Ok(())
    }
}

/// Verifies the export in `dir` against `genesis` (its validators and epoch length).
/// `progress` sees the counts as `state.bin` is read. Only a failure to read the directory at
/// all is an error; everything else is a [`Fault`] of the report.
pub fn verify(
    dir: &Path,
    genesis: &Genesis,
    mut progress: impl FnMut(&Counts),
) -> Result<Report, ExportError> {
    std::fs::read_dir(dir).map_err(io(dir))?;
    let mut report = Report::default();
    let validators = genesis.operators.iter().map(|o| o.validator_key.clone());
    let mut checker = ProofChecker::with_epochs(validators, genesis.blocks_per_epoch);
    if let Err(fault) = learn(dir, &mut checker) {
        report.faults.push(fault);
        return Ok(report);
    }
    let (block, certificate) = match (read(dir, BLOCK), read(dir, FINALIZATION)) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(f), _) | (_, Err(f)) => {
            report.faults.push(f);
            return Ok(report);
        }
    };
    let block = match checker.check(&block, &certificate) {
        Ok(block) => block,
        Err(source) => {
            report.faults.push(Fault::Proof { source });
            return Ok(report);
        }
    };
    report.height = Some(block.height);
    let state_hash = state(dir, &block, &mut report, &mut progress);
    if let Some(computed) = state_hash
        && computed != block.state_hash
    {
        report.faults.push(Fault::StateHash {
            height: block.height,
            entries: report.counts.entries,
            computed,
            certified: block.state_hash,
        });
    }
    manifest(dir, &block, &mut report);
    Ok(report)
}

fn read(dir: &Path, file: &'static str) -> Result<Vec<u8>, Fault> {
    std::fs::read(dir.join(file)).map_err(|source| Fault::Missing { file, source })
}

/// Teaches `checker` every set of `epochs.jsonl`, in order.
fn learn(dir: &Path, checker: &mut ProofChecker) -> Result<(), Fault> {
    let text = String::from_utf8_lossy(&read(dir, EPOCHS)?).into_owned();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let problem = |problem: String| Fault::EpochLine { line, problem };
        let b: Boundary =
            serde_json::from_str(raw).map_err(|e| problem(format!("not a boundary record: {e}")))?;
        let want = checker.known();
        if b.epoch != want {
            return Err(problem(format!("names epoch {}; the next set to learn is epoch {want}'s", b.epoch)));
        }
        let hex =
            |s: &str| commonware_formatting::from_hex(s).ok_or_else(|| problem("a field is not hex".into()));
        let (block, cert) = (hex(&b.block)?, hex(&b.certificate)?);
        checker.learn(&block, &cert).map_err(|source| Fault::Epoch { line, epoch: b.epoch, source })?;
    }
    Ok(())
}

/// One CSV file read in step with the rows derived from `state.bin`.
struct CsvCheck {
    file: RoutingFile,
    reader: Option<csv::StringRecordsIntoIter<std::fs::File>>,
    line: u64,
    faults: usize,
}

impl CsvCheck {
    fn open(dir: &Path, file: RoutingFile, report: &mut Report) -> Self {
        let name = file.name();
        let mut check = Self { file, reader: None, line: 1, faults: 0 };
        let reader = match std::fs::File::open(dir.join(name)) {
            Ok(f) => csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(f),
            Err(source) => {
                report.faults.push(Fault::Missing { file: name, source });
                return check;
            }
        };
        let mut records = reader.into_records();
        let expected = file.header().join(",");
        match records.next() {
            Some(Ok(h)) if h.iter().collect::<Vec<_>>() == file.header() => check.reader = Some(records),
            Some(Ok(h)) => {
                let found = h.iter().collect::<Vec<_>>().join(",");
                report.faults.push(Fault::Header { file: name, expected, found });
            }
            Some(Err(source)) => report.faults.push(Fault::Csv { file: name, line: 1, source }),
            None => report.faults.push(Fault::Header { file: name, expected, found: String::new() }),
        }
        check
    }

    fn fault(&mut self, report: &mut Report, fault: Fault) {
        self.faults += 1;
        if self.faults <= MAX_PER_FILE {
            report.faults.push(fault);
        }
    }

    /// The next line of the file, its fields; `None` at the end (or once unreadable).
    fn next_line(&mut self, report: &mut Report) -> Option<Vec<String>> {
        let record = self.reader.as_mut()?.next()?;
        self.line += 1;
        match record {
            Ok(r) => Some(r.iter().map(str::to_owned).collect()),
            Err(source) => {
                let line = self.line;
                self.fault(report, Fault::Csv { file: self.file.name(), line, source });
                self.reader = None;
                None
            }
        }
    }

    fn expect(&mut self, report: &mut Report, entry: u64, fields: &[String]) {
        if self.reader.is_none() {
            return;
        }
        let file = self.file.name();
        match self.next_line(report) {
            Some(found) if found == fields => {}
            Some(found) => {
                let (line, found, expected) = (self.line, join(&found), join(fields));
                self.fault(report, Fault::Row { file, line, found, entry, expected });
            }
            None if self.reader.is_some() => {
                let (line, expected) = (self.line, join(fields));
                self.fault(report, Fault::MissingRow { file, line, entry, expected });
                self.reader = None;
            }
            None => {}
        }
    }

    fn finish(mut self, report: &mut Report) {
        let file = self.file.name();
        while let Some(found) = self.next_line(report) {
            let (line, found) = (self.line, join(&found));
            self.fault(report, Fault::ExtraRow { file, line, found });
        }
        if self.faults > MAX_PER_FILE {
            report.faults.push(Fault::More { file, more: self.faults - MAX_PER_FILE });
        }
    }
}

fn join(fields: &[String]) -> String {
    fields.join(",")
}

/// Reads `state.bin`: checks its layout and header, recomputes the state hash, and checks the
/// CSV files against its routing rows. The hash, if the whole file read.
fn state(
    dir: &Path,
    block: &npchain_api::Block,
    report: &mut Report,
    progress: &mut impl FnMut(&Counts),
) -> Option<Digest> {
    let mut csvs: Vec<CsvCheck> = RoutingFile::ALL.iter().map(|f| CsvCheck::open(dir, *f, report)).collect();
    let file = match std::fs::File::open(dir.join(STATE)) {
        Ok(f) => f,
        Err(source) => {
            report.faults.push(Fault::Missing { file: STATE, source });
            return None;
        }
    };
    let mut reader = match DumpReader::new(BufReader::with_capacity(1 << 20, file)) {
        Ok(r) => r,
        Err(source) => {
            report.faults.push(Fault::Dump { source });
            return None;
        }
    };
    let header = *reader.header();
    if header.height != block.height {
        report.faults.push(Fault::HeaderHeight { dump: header.height, block: block.height });
    }
    if header.state_hash != block.state_hash {
        report.faults.push(Fault::HeaderHash {
            height: block.height,
            dump: header.state_hash,
            block: block.state_hash,
        });
    }
    let (mut acc, mut rows) = (StateAccumulator::new(), Rows::default());
    let whole = loop {
        let entry = match reader.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break true,
            Err(source) => {
                report.faults.push(Fault::Dump { source });
                break false;
            }
        };
        acc.add(entry.table, &entry.key, &entry.value);
        report.counts.entries += 1;
        match RoutingRow::of(entry.table, &entry.key, &entry.value) {
            Ok(Some(row)) => {
                let (file, fields) = rows.fields(&row);
                report.counts.note(file);
                csvs[file as usize].expect(report, entry.index, &fields);
            }
            Ok(None) => {}
            Err(source) => {
                report.faults.push(Fault::Entry { entry: entry.index, offset: entry.offset, source })
            }
        }
        if report.counts.entries.is_multiple_of(100_000) {
            report.counts.bytes = reader.offset();
            progress(&report.counts);
        }
    };
    report.counts.bytes = reader.offset();
    progress(&report.counts);
    for check in csvs {
        check.finish(report);
    }
    whole.then(|| acc.state_hash())
}

/// Checks `manifest.json` against the block and the counts.
fn manifest(dir: &Path, block: &npchain_api::Block, report: &mut Report) {
    let bytes = match read(dir, MANIFEST) {
        Ok(b) => b,
        Err(f) => return report.faults.push(f),
    };
    let m: Manifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(source) => return report.faults.push(Fault::ManifestJson { source }),
    };
    let c = report.counts;
    let checks: [(&'static str, String, String); 7] = [
        ("height", m.height.to_string(), block.height.to_string()),
        ("block_time_ms", m.block_time_ms.to_string(), block.time.millis().to_string()),
        ("state_hash", m.state_hash.clone(), block.state_hash.to_string()),
        ("entries", m.entries.to_string(), c.entries.to_string()),
        ("operators", m.operators.to_string(), c.operators.to_string()),
        ("ranges", m.ranges.to_string(), c.ranges.to_string()),
        ("ported", m.ported.to_string(), c.ported.to_string()),
    ];
    for (field, manifest, actual) in checks {
        if manifest != actual {
            report.faults.push(Fault::Manifest { field, manifest, actual });
        }
    }
}
