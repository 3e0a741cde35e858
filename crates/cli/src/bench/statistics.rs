//! `npchain bench stats`: the porting statistics at N finished orders. The node's redb block
//! log is written block by block (as a node's finalizer writes it, one fsynced transaction a
//! block) with the port events of N orders over a year between K operators, each order
//! finished (completed, rejected for any reason or by silence, cancelled or expired); then the
//! queries `GET /v1/stats` makes are timed (the cells read and summed, without HTTP): a month
//! by day, a year by month, one operator's year by month, the longest range by month. The
//! figures: the writes' time per block, the statistics' cells and bytes in the log, the file's
//! size, and the process's memory before and after the queries. No devnet: the ledger, its
//! signatures and consensus are measured elsewhere, and they do not touch the statistics.

use super::{BenchError, Figures, figure, stats::Percentiles};
use npchain_core::{
    E164, Event, OperatorId, RejectCause, RejectReason, Step,
    types::{Digest, PortId, Timestamp, UtcDay},
};
use npchain_node::{
    chain::BlockLog,
    stats::{Period, StatsQuery, report::summarise},
    storage::{BlockRecord, RedbBlockLog},
};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::{cmp::Reverse, collections::BinaryHeap, path::Path, time::Instant};

/// One block every this many ms of block time (a real network's are seconds apart and carry
/// fewer events each; the statistics cost per event, the log's write per block).
const BLOCK_MS: u64 = 10 * 60_000;
/// Query repetitions (the figures are their percentiles).
const QUERIES: usize = 20;
const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;

/// A step yet to happen to an order: when, the order, its step.
type Pending = Reverse<(u64, u64, StepCode)>;

/// [`Step`] in a heap (it has no order of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StepCode {
    Released { deemed: bool },
    Rejected(Option<u8>),
    Activated,
    Cancelled,
    Expired,
}

impl StepCode {
    fn step(self) -> Step {
        match self {
            Self::Released { deemed } => Step::Released { deemed },
            Self::Rejected(Some(r)) => Step::Rejected(RejectCause::Donor(RejectReason::ALL[usize::from(r)])),
            Self::Rejected(None) => Step::Rejected(RejectCause::DonorSilent),
            Self::Activated => Step::Activated,
            Self::Cancelled => Step::Cancelled,
            Self::Expired => Step::Expired,
        }
    }
}

/// The order's fate, drawn as a regime's month looks: most complete, some rejected (for a
/// reason, or by silence), cancelled or expired; an answer within 4 h, an activation within 3 d.
fn plan(rng: &mut StdRng, requested: u64) -> Vec<(u64, StepCode)> {
    let answer = requested + rng.random_range(5 * MINUTE..4 * HOUR);
    let after = answer + rng.random_range(HOUR..72 * HOUR);
    let deemed = rng.random_range(0..10) == 0;
    match rng.random_range(0..100) {
        0..70 => vec![(answer, StepCode::Released { deemed }), (after, StepCode::Activated)],
        70..80 => {
            let reason = rng.random_range(0..RejectReason::ALL.len() as u8);
            vec![(answer, StepCode::Rejected(Some(reason)))]
        }
        80..82 => vec![(answer, StepCode::Rejected(None))],
        82..86 => vec![(answer - MINUTE, StepCode::Cancelled)],
        86..92 => vec![(answer, StepCode::Released { deemed }), (after, StepCode::Cancelled)],
        _ => vec![(answer, StepCode::Released { deemed }), (after, StepCode::Expired)],
    }
}

/// The bench at `orders` finished orders between `operators` operators over `days` days, its
/// log in `dir` (made again).
pub fn stats(dir: &Path, orders: u64, operators: usize, days: u64) -> Result<Figures, BenchError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    }
    let path = dir.join("blocks.redb");
    let mut log = RedbBlockLog::open(&path)?;
    let ids: Vec<OperatorId> = (0..operators.max(2))
        .map(|i| format!("OP{i:02}").parse().map_err(|e| BenchError::Setup(format!("operator id: {e}"))))
        .collect::<Result<_, _>>()?;
    let first = UtcDay::from_date(2026, 1, 1).ok_or_else(|| BenchError::Setup("no such day".into()))?;
    let start = first.start().millis();
    let span = days.max(1) * UtcDay::MILLIS;
    let blocks_with_requests = span / BLOCK_MS;
    let mut rng = StdRng::seed_from_u64(0x5747_1717);
    let mut pending: BinaryHeap<Pending> = BinaryHeap::new();
    // order → (donor, recipient, numbers), by its sequence number
    let mut parties: Vec<(u8, u8, u8)> = Vec::with_capacity(orders as usize);
    let (mut requested, mut finished, mut events, mut height) = (0u64, 0u64, 0u64, 0u64);
    let mut put_ms = Vec::new();
    let started = Instant::now();
    while requested < orders || !pending.is_empty() {
        height += 1;
        let time = start + height * BLOCK_MS;
        let mut block = Vec::new();
        // this block's share of the requests
        let due =
            (orders * height.min(blocks_with_requests)).div_ceil(blocks_with_requests.max(1)).min(orders);
        while requested < due {
            let donor = rng.random_range(0..ids.len());
            let recipient = (donor + rng.random_range(1..ids.len())) % ids.len();
            let numbers = if rng.random_range(0..10) == 0 { rng.random_range(2..6) } else { 1 };
            parties.push((donor as u8, recipient as u8, numbers));
            block.push(port_event(&ids, &parties, requested, Step::Requested));
            for (at, step) in plan(&mut rng, time) {
                pending.push(Reverse((at.max(time + 1), requested, step)));
            }
            requested += 1;
        }
        while let Some(Reverse((at, order, step))) = pending.peek().copied() {
            if at > time {
                break;
            }
            pending.pop();
            block.push(port_event(&ids, &parties, order, step.step()));
            finished += u64::from(step.step().is_final());
        }
        events += block.len() as u64;
        let record = BlockRecord {
            height,
            digest: Digest([0; 32]),
            parent: Digest([0; 32]),
            time: Timestamp(time),
            state_hash: Digest([0; 32]),
            txs: Vec::new(),
            events: block,
        };
        let t = Instant::now();
        log.put(&record)?;
        put_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let load = started.elapsed();
    let footprint = log.stats_footprint()?;
    let file = std::fs::metadata(&path).map_err(|e| BenchError::io(&path, e))?.len();
    drop(parties);
    let before = memory_kib();

    let last = Timestamp(start + height * BLOCK_MS).utc_day();
    // 30 days from early June (or the middle of a shorter spread)
    let june = first.0 + (days.max(1) / 2).min(155);
    let month = (UtcDay(june), UtcDay(june + 29));
    let query = |from, to, period, operator: Option<&OperatorId>| {
        StatsQuery::new(from, to, period, operator.cloned()).map_err(|e| BenchError::Setup(e.to_string()))
    };
    let queries = [
        ("a month by day", query(month.0, month.1, Period::Day, None)?),
        ("a year by month", query(first, UtcDay(first.0 + 364), Period::Month, None)?),
        ("one operator's year by month", query(first, UtcDay(first.0 + 364), Period::Month, Some(&ids[0]))?),
        (
            "the longest range (3,660 days) by month",
            query(UtcDay(last.0 + 1 - 3_660), last, Period::Month, None)?,
        ),
    ];
    let mut f = Figures::new();
    figure(&mut f, "orders finished", finished as f64, "orders");
    figure(&mut f, "operators", ids.len() as f64, "operators");
    figure(&mut f, "blocks written", height as f64, "blocks");
    figure(&mut f, "port events counted", events as f64, "events");
    figure(
        &mut f,
        "log write per block (record, indexes, statistics; fsync)",
        load.as_secs_f64() * 1e3 / height as f64,
        "ms",
    );
    let p = Percentiles::of(&put_ms);
    figure(&mut f, "log write per block p99", p.p99, "ms");
    figure(&mut f, "statistics cells (day x donor x recipient)", footprint.cells as f64, "cells");
    figure(&mut f, "open orders kept", footprint.open_orders as f64, "orders");
    figure(&mut f, "statistics tables on disk", footprint.bytes as f64 / (1 << 20) as f64, "MiB");
    figure(&mut f, "block log file", file as f64 / (1 << 20) as f64, "MiB");
    for (name, q) in &queries {
        let mut ms = Vec::with_capacity(QUERIES);
        let mut cells = 0;
        for _ in 0..QUERIES {
            let t = Instant::now();
            let read = log.stats(q.from(), q.to())?;
            let answer = summarise(q, height, &read);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            cells = read.len();
            std::hint::black_box(answer);
        }
        let p = Percentiles::of(&ms);
        figure(&mut f, format!("query {name}: p50"), p.p50, "ms");
        figure(&mut f, format!("query {name}: max"), p.max, "ms");
        figure(&mut f, format!("query {name}: cells read"), cells as f64, "cells");
    }
    let after = memory_kib();
    if let (Some(before), Some(after)) = (before, after) {
        figure(&mut f, "process RSS before the queries", before.0 as f64 / 1024.0, "MiB");
        figure(&mut f, "process RSS after the queries", after.0 as f64 / 1024.0, "MiB");
        figure(&mut f, "process peak RSS (VmHWM)", after.1 as f64 / 1024.0, "MiB");
    }
    Ok(f)
}

fn port_event(ids: &[OperatorId], parties: &[(u8, u8, u8)], order: u64, step: Step) -> Event {
    let (donor, recipient, numbers) = parties[order as usize];
    let mut port = [0u8; 32];
    port[..8].copy_from_slice(&order.to_be_bytes());
    let base = 4_930_000_000_000 + order * 8;
    Event::Port {
        port: PortId(Digest(port)),
        step,
        donor: ids[usize::from(donor)].clone(),
        recipient: ids[usize::from(recipient)].clone(),
        numbers: (0..u64::from(numbers)).filter_map(|i| E164::from_value(base + i)).collect(),
    }
}

/// This process's resident memory now and at its peak, KiB (Linux `/proc`).
fn memory_kib() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1))?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
