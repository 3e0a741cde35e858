//! The verified export: the routing data at a finalized height as CSV (operators, ranges,
//! ported numbers), with every ledger entry it was derived from (`state.bin`, the node's state
//! dump), the block of that height, its finalization certificate, and the boundary blocks that
//! chain the genesis validators to that height's set.
//!
//! - this module: the files and their layout, and writing them from a dump ([`write_state`]);
//! - `fetch`: `npchain export` against a node ([`fetch::export`]);
//! - `verify`: `npchain export verify` ([`verify::verify`]): the certificate against the
//!   genesis validators, the state hash recomputed from `state.bin`, the CSV files against the
//!   entries they say they come from.
//!
//! The state hash covers every table (orders, logs, timers too), so `state.bin` carries all of
//! them; the CSV files are derived from it and checked against it line by line.

pub mod fetch;
pub mod verify;

use npchain_api::dump::{DumpError, DumpHeader, DumpReader};
use npchain_core::{
    Digest, OperatorId, RoutingNumber, StoreError,
    export::{RoutingRow, StateAccumulator},
};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    io::{BufReader, Read, Write},
    path::{Path, PathBuf},
};

/// Every entry of every table, as the node streamed it.
pub const STATE: &str = "state.bin";
/// Every operator ever admitted.
pub const OPERATORS: &str = "operators.csv";
/// The assigned ranges, as `npchain genesis assemble --ranges` reads them.
pub const RANGES: &str = "ranges.csv";
/// The ported numbers, as a genesis migration list (`--ported`).
pub const PORTED: &str = "ported.csv";
/// The block at the export's height, canonical bytes.
pub const BLOCK: &str = "block.bin";
/// Its finalization certificate, the engine's canonical bytes.
pub const FINALIZATION: &str = "finalization.bin";
/// The last block of each epoch before the export's, with its certificate (hex JSON lines).
pub const EPOCHS: &str = "epochs.jsonl";
/// What the export says it holds (informative: `verify` checks it against the files).
pub const MANIFEST: &str = "manifest.json";

/// The header of each CSV file.
pub const OPERATORS_HEADER: [&str; 6] =
    ["operator", "name", "routing_number", "active", "operator_key", "validator_key"];
pub const RANGES_HEADER: [&str; 3] = ["prefix", "operator", "lengths"];
pub const PORTED_HEADER: [&str; 3] = ["number", "operator", "rn"];

/// The three routing files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingFile {
    Operators,
    Ranges,
    Ported,
}

impl RoutingFile {
    pub const ALL: [Self; 3] = [Self::Operators, Self::Ranges, Self::Ported];

    pub fn name(self) -> &'static str {
        match self {
            Self::Operators => OPERATORS,
            Self::Ranges => RANGES,
            Self::Ported => PORTED,
        }
    }

    pub fn header(self) -> &'static [&'static str] {
        match self {
            Self::Operators => &OPERATORS_HEADER,
            Self::Ranges => &RANGES_HEADER,
            Self::Ported => &PORTED_HEADER,
        }
    }
}

/// One boundary block and its certificate: the set of `epoch` is the one it names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Boundary {
    /// The epoch whose validators the block names.
    pub epoch: u64,
    /// The block's height: the last of epoch `epoch - 1`.
    pub height: u64,
    /// The canonical block, hex.
    pub block: String,
    /// Its finalization certificate, hex.
    pub certificate: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub height: u64,
    pub block_time_ms: u64,
    pub state_hash: String,
    pub entries: u64,
    pub operators: u64,
    pub ranges: u64,
    pub ported: u64,
}

/// The manifest format this program writes.
pub const FORMAT: u32 = 1;

/// What has been read of a dump so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub entries: u64,
    pub bytes: u64,
    pub operators: u64,
    pub ranges: u64,
    pub ported: u64,
}

impl Counts {
    fn note(&mut self, file: RoutingFile) {
        match file {
            RoutingFile::Operators => self.operators += 1,
            RoutingFile::Ranges => self.ranges += 1,
            RoutingFile::Ported => self.ported += 1,
        }
    }
}

/// Turns routing rows into CSV fields: a ported number's `rn` is its operator's routing
/// number, known from the operator rows (the Operators table comes before Numbers).
#[derive(Debug, Default)]
pub struct Rows {
    routing_numbers: HashMap<OperatorId, RoutingNumber>,
}

impl Rows {
    /// The file the row goes to and its fields.
    pub fn fields(&mut self, row: &RoutingRow) -> (RoutingFile, Vec<String>) {
        match row {
            RoutingRow::Operator(op) => {
                self.routing_numbers.insert(op.id.clone(), op.routing_number.clone());
                let fields = vec![
                    op.id.to_string(),
                    op.name.clone(),
                    op.routing_number.to_string(),
                    op.active.to_string(),
                    op.operator_key.to_string(),
                    op.validator_key.as_ref().map(ToString::to_string).unwrap_or_default(),
                ];
                (RoutingFile::Operators, fields)
            }
            RoutingRow::Range { prefix, range } => (
                RoutingFile::Ranges,
                vec![prefix.to_string(), range.holder.to_string(), range.lengths(*prefix).to_string()],
            ),
            RoutingRow::Ported { number, operator } => {
                let rn = self.routing_numbers.get(operator).map(ToString::to_string).unwrap_or_default();
                (RoutingFile::Ported, vec![number.to_string(), operator.to_string(), rn])
            }
        }
    }
}

/// Why an export could not be made (or verified: files that cannot be read at all).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}", path = path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{path} exists and is not empty; an export is written into a new directory", path = path.display())]
    NotEmpty { path: PathBuf },
    #[error("the state dump from {node}: {source}")]
    Dump {
        node: String,
        #[source]
        source: DumpError,
    },
    #[error("the state dump from {node}, entry {entry}: {source}")]
    Entry {
        node: String,
        entry: u64,
        #[source]
        source: StoreError,
    },
    #[error("no node answered: {}", tried.iter().map(|(n, e)| format!("{n} ({e})")).collect::<Vec<_>>().join("; "))]
    Unreachable { tried: Vec<(String, ureq::Error)> },
    #[error("{node} answered {status} {code}: {message}")]
    Api { node: String, status: u16, code: String, message: String },
    #[error(transparent)]
    Client(#[from] Box<npchain_client::ClientError>),
    #[error("{node}: block {height} does not decode: {source}")]
    Block {
        node: String,
        height: u64,
        #[source]
        source: commonware_codec::Error,
    },
    #[error(
        "{node} is not to be trusted: its state dump of height {height} hashes to {computed}, but the block it \
         serves for that height carries {certified}"
    )]
    Inconsistent { node: String, height: u64, computed: Digest, certified: Digest },
    #[error("{node} served block {got} for height {height}")]
    WrongBlock { node: String, height: u64, got: u64 },
    #[error("{path}: {source}", path = path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_owned(), source }
}

fn csv_err(path: &Path) -> impl FnOnce(csv::Error) -> ExportError + '_ {
    move |source| ExportError::Csv { path: path.to_owned(), source }
}

/// Reads through `inner`, copying every byte read into `copy`.
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// What [`write_state`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The dump's header, as the node sent it.
    pub header: DumpHeader,
    pub counts: Counts,
    /// The state hash recomputed from the entries.
    pub state_hash: Digest,
}

/// Writes the dump read from `input` (from `node`) into `dir`: `state.bin` byte for byte, and
/// the routing CSV files derived from its entries as they pass; recomputes the state hash.
/// `progress` sees the counts after every 100,000 entries.
pub fn write_state(
    input: impl Read,
    node: &str,
    dir: &Path,
    mut progress: impl FnMut(&Counts),
) -> Result<Written, ExportError> {
    let state_path = dir.join(STATE);
    let state = std::fs::File::create(&state_path).map_err(io(&state_path))?;
    let tee = Tee { inner: input, copy: std::io::BufWriter::with_capacity(1 << 20, state) };
    let mut reader = DumpReader::new(BufReader::with_capacity(1 << 20, tee))
        .map_err(|source| ExportError::Dump { node: node.to_owned(), source })?;
    let header = *reader.header();
    let mut writers = Vec::new();
    for file in RoutingFile::ALL {
        let path = dir.join(file.name());
        let mut w = csv::Writer::from_path(&path).map_err(csv_err(&path))?;
        w.write_record(file.header()).map_err(csv_err(&path))?;
        writers.push((path, w));
    }
    let (mut acc, mut rows, mut counts) = (StateAccumulator::new(), Rows::default(), Counts::default());
    loop {
        let entry =
            reader.next_entry().map_err(|source| ExportError::Dump { node: node.to_owned(), source })?;
        let Some(entry) = entry else { break };
        acc.add(entry.table, &entry.key, &entry.value);
        counts.entries += 1;
        let row = RoutingRow::of(entry.table, &entry.key, &entry.value)
            .map_err(|source| ExportError::Entry { node: node.to_owned(), entry: entry.index, source })?;
        if let Some(row) = row {
            let (file, fields) = rows.fields(&row);
            let (path, w) = &mut writers[file as usize];
            w.write_record(&fields).map_err(csv_err(path))?;
            counts.note(file);
        }
        if counts.entries.is_multiple_of(100_000) {
            counts.bytes = reader.offset();
            progress(&counts);
        }
    }
    counts.bytes = reader.offset();
    progress(&counts);
    for (path, mut w) in writers {
        w.flush().map_err(io(&path))?;
    }
    // the copy of state.bin: flushed and synced once the whole dump has passed
    let tee = reader.into_inner().into_inner();
    let file = tee
        .copy
        .into_inner()
        .map_err(|e| ExportError::Io { path: state_path.clone(), source: e.into_error() })?;
    file.sync_all().map_err(io(&state_path))?;
    Ok(Written { header, counts, state_hash: acc.state_hash() })
}
