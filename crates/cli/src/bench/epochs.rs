//! `npchain bench epochs`: what an epoch change costs under load. Five validators run epochs
//! of [`BLOCKS_PER_EPOCH`] blocks; the regulator retires the fifth operator just before the
//! bind step of `count` ports (between the other four) is driven as fast as the network
//! commits, so one boundary inside the load changes the set (5 → 4) and every other boundary
//! starts a new engine over the same set. From node 0's blocks: the gap between an epoch's last
//! block and the next one (the engine switch: the old engine stops, the next starts from the
//! boundary and its first leader proposes), against the gaps inside epochs, and the commit rate
//! over the epochs around the set change against the whole run.

use super::{
    BATCH, BenchError, Env, Figures, WINDOW, check_all_applied, figure, latency_figures,
    load::{Step, drive, expiry, ports, sign, step_txs},
    start,
    stats::{Percentiles, median},
};
use npchain_api::json::TxStatus;
use npchain_core::TxBody;
use std::time::Duration;

/// Short epochs, so that a run of a few thousand transactions crosses several.
pub const BLOCKS_PER_EPOCH: u64 = 10;
/// Validators of the run: four that stay and one the regulator retires.
const VALIDATORS: usize = 5;

pub fn epochs(env: &Env, count: usize) -> Result<Figures, BenchError> {
    let env = Env {
        validators: VALIDATORS,
        blocks_per_epoch: std::num::NonZeroU64::new(BLOCKS_PER_EPOCH),
        ..env.clone()
    };
    let net = start(&env, "epochs", None, Duration::from_secs(120))?;
    let expires = expiry(&net, 50)?;
    let retire = TxBody::RetireOperator { id: "OPE".parse().expect("operator id") };
    let tx = sign(&net.keys.regulator, &net.keys.chain, u64::MAX, expires, retire);
    let id = net.client(0).submit(&tx, true)?;
    let ports = ports(count, VALIDATORS - 1, 0);
    let d =
        drive(&net, step_txs(&net, &ports, Step::Bind, expires), BATCH, WINDOW, Duration::from_secs(1800))?;
    check_all_applied(Step::Bind.name(), &d)?;
    let client = net.client(0);
    let retired_at = match client.tx(&id)? {
        TxStatus::Committed { height, .. } => height,
        other => return Err(BenchError::Setup(format!("the retirement of OPE did not commit: {other:?}"))),
    };
    // A short run (smoke) may end before the boundary that changes the set: wait for it.
    let change = retired_at / BLOCKS_PER_EPOCH * BLOCKS_PER_EPOCH + BLOCKS_PER_EPOCH - 1;
    let waited = std::time::Instant::now();
    while client.status()?.height < change + 2 {
        if waited.elapsed() > Duration::from_secs(120) {
            return Err(BenchError::Setup(format!("no block after the set change at height {change}")));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let top = client.status()?.height;
    let times: Vec<(u64, u64, usize)> = (1..=top)
        .map(|h| client.block(h).map(|b| (b.height, b.block_time_ms, b.txs.len())))
        .collect::<Result<_, _>>()?;

    // Gaps between blocks that carried the load (idle blocks come every 500 ms by design).
    let loaded: Vec<&(u64, u64, usize)> = times.iter().filter(|b| b.2 > 0).collect();
    let (first_loaded, last_loaded) = (loaded.first().map_or(1, |b| b.0), loaded.last().map_or(top, |b| b.0));
    let mut inside = Vec::new();
    let mut boundary = Vec::new();
    for pair in times.windows(2).filter(|p| p[0].0 >= first_loaded && p[1].0 <= last_loaded) {
        let gap = pair[1].1.saturating_sub(pair[0].1) as f64;
        if pair[0].0 % BLOCKS_PER_EPOCH == BLOCKS_PER_EPOCH - 1 {
            boundary.push((pair[0].0, gap));
        } else {
            inside.push(gap);
        }
    }
    // The change's boundary, loaded or not (a short run ends before it).
    let at = |h: u64| times.iter().find(|b| b.0 == h).map(|b| b.1);
    let changed_gap = at(change + 1)
        .zip(at(change))
        .map(|(after, before)| after.saturating_sub(before) as f64)
        .ok_or_else(|| BenchError::Setup(format!("no block after the set change at height {change}")))?;
    let gaps: Vec<f64> = boundary.iter().map(|(_, g)| *g).collect();

    // Commit rate over the two epochs around the change, against the whole run.
    let rate = |from: u64, to: u64| {
        let blocks: Vec<&(u64, u64, usize)> =
            times.iter().filter(|(h, _, _)| (from..=to).contains(h)).collect();
        let (first, last) = (blocks.first().map_or(0, |b| b.1), blocks.last().map_or(0, |b| b.1));
        let txs: usize = blocks.iter().skip(1).map(|b| b.2).sum();
        txs as f64 / ((last.saturating_sub(first)) as f64 / 1000.0).max(0.001)
    };
    let mut figures = Figures::new();
    figure(&mut figures, "epoch boundaries crossed under load", gaps.len() as f64, "count");
    figure(&mut figures, "blocks under load", (last_loaded + 1 - first_loaded) as f64, "count");
    figure(&mut figures, "block gap inside an epoch, under load (median)", median(&inside), "ms");
    latency_figures(&mut figures, "block gap at an epoch boundary, under load", Percentiles::of(&gaps));
    figure(&mut figures, "block gap at the set change (5 → 4 validators)", changed_gap, "ms");
    figure(
        &mut figures,
        "set change under load (1 yes, 0 after it)",
        f64::from(u8::from(change < last_loaded)),
        "",
    );
    figure(&mut figures, "bind tx/s (committed, whole run)", d.tx_per_s(), "tx/s");
    figure(
        &mut figures,
        "tx/s in the blocks of the epochs before and after the change",
        rate(change + 1 - BLOCKS_PER_EPOCH, change + BLOCKS_PER_EPOCH),
        "tx/s",
    );
    figure(&mut figures, "tx/s in the loaded blocks (whole run)", rate(first_loaded, last_loaded), "tx/s");
    latency_figures(&mut figures, "commit latency (submit → seen committed on node 0)", d.latency());
    Ok(figures)
}
