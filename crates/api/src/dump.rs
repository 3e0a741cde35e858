//! The state dump: every entry of every ledger table at one committed height, as a node streams
//! it (`GET /v1/state`) and an export keeps it (`state.bin`). From it anyone recomputes the state
//! hash (`npchain_core::export::StateAccumulator`), which the block of that height carries and
//! its finalization certificate certifies.
//!
//! Layout (integers big-endian):
//!
//! | part | bytes |
//! |---|---|
//! | header | `NPSTATE` and the format version `2` (8), height (8), block time in ms (8), state hash (32) |
//! | entry, repeated | table code (1, 1 to 13 but 10), key length (4), key, value length (4), value |
//! | end | `0` (1), the number of entries (8) |
//!
//! Entries come in table-code order, each table's in key order, each key once; a key is at most
//! [`MAX_KEY_BYTES`], a value at most [`MAX_VALUE_BYTES`]. Nothing may follow the end record.
//! A dump cut short has no end record: the reader says so instead of reading a part as a whole.

use npchain_core::{Digest, ReadStore, StoreError, Table};
use std::{
    io::{BufRead, Read},
    ops::ControlFlow,
};

/// The first bytes of a dump: the name and the format version.
/// Version 1 held ledger layout 1, with its `seen_tx` table (code 10).
pub const MAGIC: &[u8; 8] = b"NPSTATE\x02";
/// The media type of `GET /v1/state`.
pub const CONTENT_TYPE: &str = "application/vnd.npchain.state";
/// The longest key an entry may have (the ledger's keys are at most a few dozen bytes).
pub const MAX_KEY_BYTES: usize = 4096;
/// The longest value an entry may have (an order of 10,000 numbers with its history is well
/// under 1 MiB).
pub const MAX_VALUE_BYTES: usize = 16 << 20;
/// The record code of the end record.
const END: u8 = 0;

/// Where the dump stands: the committed height it was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpHeader {
    pub height: u64,
    pub block_time_ms: u64,
    /// The state hash the node's ledger holds at that height (unchecked until recomputed).
    pub state_hash: Digest,
}

impl DumpHeader {
    /// The header's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(56);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.block_time_ms.to_be_bytes());
        out.extend_from_slice(&self.state_hash.0);
        out
    }
}

/// Appends one entry record to `out`.
pub fn put_entry(out: &mut Vec<u8>, table: Table, key: &[u8], value: &[u8]) {
    out.push(table as u8);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// Appends the end record, after `entries` entries.
pub fn put_end(out: &mut Vec<u8>, entries: u64) {
    out.push(END);
    out.extend_from_slice(&entries.to_be_bytes());
}

/// Writes the dump of `store` (its header, every entry of every table, the end record) into
/// `sink`, `chunk` entries at a time: each call gets the bytes of up to `chunk` entries (the
/// header and the end record in calls of their own), so the whole state is never held at
/// once. `sink` may stop the dump with [`ControlFlow::Break`] (no end record follows). The
/// header must be the store's own meta (a snapshot's, for a store that changes).
pub fn stream(
    store: &(impl ReadStore + ?Sized),
    header: &DumpHeader,
    chunk: usize,
    mut sink: impl FnMut(Vec<u8>) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, StoreError> {
    if sink(header.to_bytes()).is_break() {
        return Ok(ControlFlow::Break(()));
    }
    let mut entries = 0u64;
    for table in Table::ALL {
        let mut start = Vec::new();
        loop {
            let rows = store.range(table, &start, None, chunk.max(1))?;
            let Some((last, _)) = rows.last() else { break };
            start.clone_from(last);
            start.push(0); // the first key after the last
            let mut out = Vec::with_capacity(rows.iter().map(|(k, v)| 9 + k.len() + v.len()).sum());
            for (k, v) in &rows {
                put_entry(&mut out, table, k, v);
            }
            entries += rows.len() as u64;
            if sink(out).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }
    let mut end = Vec::new();
    put_end(&mut end, entries);
    Ok(sink(end))
}

/// Why a dump does not read. Entries are counted from 1; offsets are bytes from the start.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("reading the dump: {0}")]
    Io(#[source] std::io::Error),
    #[error("not a state dump of this format: it starts with {found:02x?}, not {MAGIC:02x?}")]
    Magic { found: Vec<u8> },
    #[error("cut short at byte {offset}, in {part}: the dump has no end record")]
    Truncated { offset: u64, part: &'static str },
    #[error("entry {entry} (byte {offset}): table code {code} is no ledger table")]
    UnknownTable { entry: u64, offset: u64, code: u8 },
    #[error("entry {entry} (byte {offset}): {what} of {len} bytes is longer than {max}")]
    TooLong { entry: u64, offset: u64, what: &'static str, len: usize, max: usize },
    #[error("entry {entry} (byte {offset}): table {table}, key {key} is not after the entry before it")]
    OutOfOrder { entry: u64, offset: u64, table: &'static str, key: String },
    #[error("the end record counts {counted} entries; the dump holds {entries}")]
    Count { counted: u64, entries: u64 },
    #[error("bytes follow the end record, at byte {offset}")]
    Trailing { offset: u64 },
}

/// One entry as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpEntry {
    /// Its position, from 1.
    pub index: u64,
    /// Where its record starts.
    pub offset: u64,
    pub table: Table,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Reads a dump record by record, checking the layout as it goes (bounded lengths, order, the
/// end record and its count); the hash is the caller's to check.
#[derive(Debug)]
pub struct DumpReader<R: BufRead> {
    input: R,
    header: DumpHeader,
    offset: u64,
    entries: u64,
    last: Option<(Table, Vec<u8>)>,
    done: bool,
}

impl<R: BufRead> DumpReader<R> {
    /// Reads the header.
    pub fn new(mut input: R) -> Result<Self, DumpError> {
        let mut head = [0u8; 56];
        let got = read_full(&mut input, &mut head)?;
        if got < MAGIC.len() || &head[..8] != MAGIC {
            return Err(DumpError::Magic { found: head[..got.min(8)].to_vec() });
        }
        if got < head.len() {
            return Err(DumpError::Truncated { offset: got as u64, part: "the header" });
        }
        let u64_at = |i: usize| u64::from_be_bytes(head[i..i + 8].try_into().expect("8 bytes"));
        let header = DumpHeader {
            height: u64_at(8),
            block_time_ms: u64_at(16),
            state_hash: Digest(head[24..56].try_into().expect("32 bytes")),
        };
        Ok(Self { input, header, offset: 56, entries: 0, last: None, done: false })
    }

    pub fn header(&self) -> &DumpHeader {
        &self.header
    }

    /// Entries read so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The input, at the point reading stopped.
    pub fn into_inner(self) -> R {
        self.input
    }

    /// The next entry; `None` once the end record (checked, with nothing after it) is read.
    pub fn next_entry(&mut self) -> Result<Option<DumpEntry>, DumpError> {
        if self.done {
            return Ok(None);
        }
        let start = self.offset;
        let entry = self.entries + 1;
        let code = self.exact::<1>("a record's code")?[0];
        if code == END {
            let counted = u64::from_be_bytes(self.exact::<8>("the end record")?);
            if counted != self.entries {
                return Err(DumpError::Count { counted, entries: self.entries });
            }
            let mut more = [0u8; 1];
            if read_full(&mut self.input, &mut more)? > 0 {
                return Err(DumpError::Trailing { offset: self.offset });
            }
            self.done = true;
            return Ok(None);
        }
        let table = Table::from_code(code).ok_or(DumpError::UnknownTable { entry, offset: start, code })?;
        let key = self.field(entry, start, "key", MAX_KEY_BYTES)?;
        let value = self.field(entry, start, "value", MAX_VALUE_BYTES)?;
        if self.last.as_ref().is_some_and(|(t, k)| (*t, k.as_slice()) >= (table, key.as_slice())) {
            return Err(DumpError::OutOfOrder {
                entry,
                offset: start,
                table: table.name(),
                key: commonware_formatting::hex(&key),
            });
        }
        self.last = Some((table, key.clone()));
        self.entries = entry;
        Ok(Some(DumpEntry { index: entry, offset: start, table, key, value }))
    }

    fn field(
        &mut self,
        entry: u64,
        offset: u64,
        what: &'static str,
        max: usize,
    ) -> Result<Vec<u8>, DumpError> {
        let len = u32::from_be_bytes(self.exact::<4>(what)?) as usize;
        if len > max {
            return Err(DumpError::TooLong { entry, offset, what, len, max });
        }
        let mut out = vec![0u8; len];
        let got = read_full(&mut self.input, &mut out)?;
        self.offset += got as u64;
        if got < len {
            return Err(DumpError::Truncated { offset: self.offset, part: what });
        }
        Ok(out)
    }

    fn exact<const N: usize>(&mut self, part: &'static str) -> Result<[u8; N], DumpError> {
        let mut buf = [0u8; N];
        let got = read_full(&mut self.input, &mut buf)?;
        self.offset += got as u64;
        if got < N {
            return Err(DumpError::Truncated { offset: self.offset, part });
        }
        Ok(buf)
    }
}

/// Reads until `buf` is full or the input ends; how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, DumpError> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DumpError::Io(e)),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(entries: &[(Table, &[u8], &[u8])], count: u64) -> Vec<u8> {
        let mut out = DumpHeader { height: 7, block_time_ms: 1_000, state_hash: Digest([3; 32]) }.to_bytes();
        for (t, k, v) in entries {
            put_entry(&mut out, *t, k, v);
        }
        put_end(&mut out, count);
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<DumpEntry>, DumpError> {
        let mut r = DumpReader::new(bytes)?;
        assert_eq!(r.header().height, 7);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn a_dump_reads_back_entry_by_entry() {
        let bytes =
            dump(&[(Table::Config, b"a", b"1"), (Table::Config, b"b", b""), (Table::Numbers, b"", b"x")], 3);
        let got = read_all(&bytes).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!((got[2].index, got[2].table, got[2].value.as_slice()), (3, Table::Numbers, &b"x"[..]));
        assert_eq!(got[1].offset, 56 + 1 + 4 + 1 + 4 + 1);
    }

    #[test]
    fn every_layout_fault_is_named() {
        let good = dump(&[(Table::Config, b"a", b"1"), (Table::Ranges, b"b", b"2")], 2);
        let msg = |bytes: &[u8]| read_all(bytes).unwrap_err().to_string();
        assert!(msg(&good[..good.len() - 9]).contains("no end record"), "{}", msg(&good[..good.len() - 9]));
        assert!(msg(&good[..30]).contains("the header"));
        assert!(msg(b"NOTADUMP and more").contains("not a state dump"));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(msg(&trailing).contains("bytes follow the end record"));
        let mut bad_table = good.clone();
        bad_table[56] = 14;
        assert!(msg(&bad_table).contains("entry 1 (byte 56): table code 14"));
        let swapped = dump(&[(Table::Ranges, b"b", b"2"), (Table::Config, b"a", b"1")], 2);
        assert!(msg(&swapped).contains("entry 2"), "{}", msg(&swapped));
        let twice = dump(&[(Table::Config, b"a", b"1"), (Table::Config, b"a", b"1")], 2);
        assert!(msg(&twice).contains("not after the entry before it"));
        assert!(msg(&dump(&[(Table::Config, b"a", b"1")], 5)).contains("counts 5 entries; the dump holds 1"));
        let mut long = good[..56].to_vec();
        long.push(1);
        long.extend_from_slice(&(MAX_KEY_BYTES as u32 + 1).to_be_bytes());
        assert!(msg(&long).contains("key of 4097 bytes is longer than 4096"));
    }
}
