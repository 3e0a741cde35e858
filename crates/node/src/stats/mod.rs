//! Porting statistics, kept incrementally from finalized blocks: each block's port events add
//! to one [`Cell`] per UTC day of block time × donor × recipient, in the block log's own write
//! of that block ([`crate::chain::BlockLog`]), so a query reads cells and never scans orders.
//!
//! - what a block adds ([`tally`]): requests, releases (answered or deemed by silence),
//!   rejections by reason (`donor-silent`: deemed), activations with their numbers and their
//!   time from the request (the request's block time is kept per open order through
//!   [`OpenRequests`] until the order finishes), cancellations, expiries;
//! - [`histogram`]: the durations' log-spaced buckets;
//! - [`report`]: cells summed into periods, a total and pairs for `GET /v1/stats`.
//!
//! Both block logs (redb and memory) run [`tally`], so they keep the same cells; each counts a
//! height once (re-delivery after a crash writes a block again, and counts nothing again).

pub mod histogram;
pub mod report;

pub use histogram::Histogram;
pub use report::{MAX_DAYS, Period, StatsQuery, StatsQueryError};

use crate::storage::BlockRecord;
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write, varint::UInt};
use npchain_core::{
    Event, OperatorId, RejectCause, RejectReason, Step,
    types::{PortId, Timestamp, UtcDay},
};
use std::collections::BTreeMap;

/// Rejection slots: the donor's reasons in code order, then the donor's silence.
pub const REJECT_SLOTS: usize = RejectReason::ALL.len() + 1;

/// The code of a rejection slot, as the API shows it.
pub fn reject_code(slot: usize) -> &'static str {
    RejectReason::ALL.get(slot).map_or("donor-silent", |r| r.as_str())
}

fn reject_slot(cause: RejectCause) -> usize {
    match cause {
        RejectCause::Donor(r) => r as usize,
        RejectCause::DonorSilent => RejectReason::ALL.len(),
    }
}

/// Where a cell's counts belong: a UTC day of block time and an order's donor and recipient.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub day: UtcDay,
    pub donor: OperatorId,
    pub recipient: OperatorId,
}

impl CellKey {
    /// The stored key: the day big-endian (so a range of days is a range of keys), then the
    /// two operator ids each with its length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 2 + self.donor.as_str().len() + self.recipient.as_str().len());
        out.extend_from_slice(&self.day.0.to_be_bytes());
        for op in [&self.donor, &self.recipient] {
            out.push(op.as_str().len() as u8);
            out.extend_from_slice(op.as_str().as_bytes());
        }
        out
    }

    /// Reads [`Self::to_bytes`]; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (day, mut rest) = bytes.split_first_chunk::<8>()?;
        let mut op = || {
            let (&len, tail) = rest.split_first()?;
            let (id, tail) = tail.split_at_checked(usize::from(len))?;
            rest = tail;
            std::str::from_utf8(id).ok()?.parse::<OperatorId>().ok()
        };
        let (donor, recipient) = (op()?, op()?);
        rest.is_empty().then_some(Self { day: UtcDay(u64::from_be_bytes(*day)), donor, recipient })
    }

    /// The first stored key of `day`.
    pub fn day_start(day: UtcDay) -> [u8; 8] {
        day.0.to_be_bytes()
    }
}

/// What happened to the orders of one donor and recipient on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    pub requested: u64,
    /// Released by the donor's answer.
    pub released: u64,
    /// Released by the donor's silence.
    pub deemed_released: u64,
    /// By slot: [`RejectReason::ALL`], then the donor's silence.
    pub rejected: [u64; REJECT_SLOTS],
    pub completed: u64,
    pub numbers_ported: u64,
    pub cancelled: u64,
    pub expired: u64,
    /// Request to activation of the orders completed whose request the log counted.
    pub activation: Histogram,
}

impl Cell {
    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Self) {
        self.requested += other.requested;
        self.released += other.released;
        self.deemed_released += other.deemed_released;
        for (a, b) in self.rejected.iter_mut().zip(other.rejected) {
            *a += b;
        }
        self.completed += other.completed;
        self.numbers_ported += other.numbers_ported;
        self.cancelled += other.cancelled;
        self.expired += other.expired;
        self.activation.merge(&other.activation);
    }

    fn counters(&self) -> impl Iterator<Item = u64> + '_ {
        [self.requested, self.released, self.deemed_released].into_iter().chain(self.rejected).chain([
            self.completed,
            self.numbers_ported,
            self.cancelled,
            self.expired,
        ])
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encode_size());
        self.write(&mut out);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        use commonware_codec::{Copying, DecodeExt};
        Self::decode(Copying(bytes))
    }
}

impl Write for Cell {
    fn write(&self, buf: &mut impl BufMut) {
        for c in self.counters() {
            UInt(c).write(buf);
        }
        self.activation.write(buf);
    }
}

impl EncodeSize for Cell {
    fn encode_size(&self) -> usize {
        self.counters().map(|c| UInt(c).encode_size()).sum::<usize>() + self.activation.encode_size()
    }
}

impl Read for Cell {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let mut next = || UInt::<u64>::read(buf).map(u64::from);
        let (requested, released, deemed_released) = (next()?, next()?, next()?);
        let mut rejected = [0; REJECT_SLOTS];
        for r in &mut rejected {
            *r = next()?;
        }
        let (completed, numbers_ported, cancelled, expired) = (next()?, next()?, next()?, next()?);
        let activation = Histogram::read(buf)?;
        Ok(Self {
            requested,
            released,
            deemed_released,
            rejected,
            completed,
            numbers_ported,
            cancelled,
            expired,
            activation,
        })
    }
}

/// The block time each open order was requested at, kept by the log until the order finishes.
pub trait OpenRequests {
    type Error;
    fn opened(&mut self, port: &PortId, at: Timestamp) -> Result<(), Self::Error>;
    /// Forgets the order, with the time it was requested at if it was kept.
    fn finished(&mut self, port: &PortId) -> Result<Option<Timestamp>, Self::Error>;
}

impl OpenRequests for BTreeMap<PortId, Timestamp> {
    type Error = std::convert::Infallible;
    fn opened(&mut self, port: &PortId, at: Timestamp) -> Result<(), Self::Error> {
        self.insert(*port, at);
        Ok(())
    }
    fn finished(&mut self, port: &PortId) -> Result<Option<Timestamp>, Self::Error> {
        Ok(self.remove(port))
    }
}

/// What `record`'s port events add to the statistics, by cell. An activation whose request the
/// log never saw (none can be, since the log holds every block from the first) counts without
/// a duration.
pub fn tally<O: OpenRequests>(
    record: &BlockRecord,
    open: &mut O,
) -> Result<BTreeMap<CellKey, Cell>, O::Error> {
    let day = record.time.utc_day();
    let mut cells: BTreeMap<CellKey, Cell> = BTreeMap::new();
    for event in &record.events {
        let Event::Port { port, step, donor, recipient, numbers } = event else { continue };
        let key = CellKey { day, donor: donor.clone(), recipient: recipient.clone() };
        let cell = cells.entry(key).or_default();
        match step {
            Step::Requested => {
                cell.requested += 1;
                open.opened(port, record.time)?;
            }
            Step::Released { deemed: false } => cell.released += 1,
            Step::Released { deemed: true } => cell.deemed_released += 1,
            Step::Rejected(cause) => cell.rejected[reject_slot(*cause)] += 1,
            Step::Activated => {
                cell.completed += 1;
                cell.numbers_ported += numbers.len() as u64;
            }
            Step::Cancelled => cell.cancelled += 1,
            Step::Expired => cell.expired += 1,
        }
        if step.is_final()
            && let Some(requested) = open.finished(port)?
            && *step == Step::Activated
        {
            cell.activation.record(record.time.millis().saturating_sub(requested.millis()));
        }
    }
    Ok(cells)
}

/// The statistics of a block log in memory: its cells by day, its open requests and the last
/// height it counted.
#[derive(Debug, Clone, Default)]
pub struct MemStats {
    days: BTreeMap<UtcDay, BTreeMap<(OperatorId, OperatorId), Cell>>,
    open: BTreeMap<PortId, Timestamp>,
    pub through: Option<u64>,
}

impl MemStats {
    /// Counts `record` unless its height was counted already.
    pub fn count(&mut self, record: &BlockRecord) {
        if self.through.is_some_and(|h| record.height <= h) {
            return;
        }
        let Ok(delta) = tally(record, &mut self.open);
        for (key, cell) in delta {
            self.days.entry(key.day).or_default().entry((key.donor, key.recipient)).or_default().merge(&cell);
        }
        self.through = Some(record.height);
    }

    /// The cells of the days `from..=to`, in key order.
    pub fn range(&self, from: UtcDay, to: UtcDay) -> Vec<(CellKey, Cell)> {
        if from > to {
            return Vec::new();
        }
        self.days
            .range(from..=to)
            .flat_map(|(day, pairs)| {
                pairs.iter().map(|((donor, recipient), cell)| {
                    (CellKey { day: *day, donor: donor.clone(), recipient: recipient.clone() }, cell.clone())
                })
            })
            .collect()
    }
}
