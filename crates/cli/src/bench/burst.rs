//! Priority under a burst: single-number port requests offered at a steady rate, first alone,
//! then while a group port of `count` numbers (its requests, releases and activations, up to
//! 10,000 numbers a transaction) is in flight. The figure that matters is the small ports'
//! commit latency while the group port is in flight, against the same load alone; the
//! fairness rule that bounds it is [`npchain_node::chain::mempool::Mempool::select`].

use super::{
    BenchError, Env, Figures, PACED_BATCH, WINDOW, check_all_applied, expiry, figure, latency_figures,
    load::{self, Flow, GroupPort, Step, drive, drive_with, ports, step_txs},
    start,
    stats::Percentiles,
};
use crate::devnet::DEVNET_BLOCKS_PER_EPOCH;
use npchain_core::TxBody;
use std::time::{Duration, Instant};

/// How long each phase offers single-number requests, for a group of 100,000 numbers (in
/// proportion for other sizes, at least 2 s).
const PHASE: Duration = Duration::from_secs(20);

pub fn burst(env: &Env, count: usize, rate: f64) -> Result<Figures, BenchError> {
    let net = start(env, "burst", None, Duration::from_secs(120))?;
    let expires = expiry(&net, 50)?;
    let mut figures = Figures::new();
    let phase = (PHASE.as_secs_f64() * count as f64 / 100_000.0).max(2.0);
    let per_phase = (rate * phase) as usize;
    let singles = ports(2 * per_phase, net.validators(), 0);
    let (alone, during) = singles.split_at(per_phase);

    // Setup: the group's numbers bound to the enterprise's key, each single's to its subscriber.
    let group = GroupPort::new(count);
    let mut binds = group.binds(&net, expires);
    binds.extend(step_txs(&net, &singles, Step::Bind, expires));
    let bound = drive(&net, binds, 1_000, WINDOW, Duration::from_secs(1800))?;
    check_all_applied("bind", &bound)?;

    let offer = |ports: &[load::Port]| {
        let txs = step_txs(&net, ports, Step::Request, expires);
        let d = drive_with(&net, txs, PACED_BATCH, Flow::Rate(rate), Duration::from_secs(600))?;
        check_all_applied("single-number request", &d)?;
        Ok::<_, BenchError>(d)
    };
    let quiet = offer(alone)?;
    figure(&mut figures, "single-number requests offered", rate, "tx/s");
    latency_figures(&mut figures, "single requests alone: commit latency", quiet.latency());

    // The group port, step by step, each step submitted at once to the donor's or the
    // recipient's node, while the singles go on at the same rate.
    let group_steps = [
        group.request_txs(&net, expires),
        group.answers(&net, 0, 1_000, expires, |port| TxBody::Release { port }),
        group.answers(&net, 2, 2_000, expires, |port| TxBody::Activate { port }),
    ];
    let first_height = net.status(0)?.height + 1;
    let (busy, in_flight) = std::thread::scope(|s| {
        let singles = s.spawn(|| offer(during));
        let t0 = Instant::now();
        let group = (|| {
            for txs in group_steps {
                let d = drive(&net, txs, 100, 100, Duration::from_secs(1800))?;
                check_all_applied("group port step", &d)?;
            }
            Ok::<_, BenchError>((t0, Instant::now()))
        })();
        let singles = singles.join().expect("singles thread");
        Ok::<_, BenchError>((singles?, group?))
    })?;
    let (from, to) = in_flight;
    let overlapped: Vec<f64> = busy
        .sent
        .iter()
        .zip(&busy.latency_ms)
        .filter(|(at, _)| **at >= from && **at <= to)
        .map(|(_, ms)| *ms)
        .collect();
    figure(&mut figures, "group port: numbers", count as f64, "numbers");
    figure(
        &mut figures,
        "group port: requests submitted → activations committed",
        (to - from).as_secs_f64(),
        "s",
    );
    figure(
        &mut figures,
        "single requests submitted while the group port was in flight",
        overlapped.len() as f64,
        "tx",
    );
    latency_figures(
        &mut figures,
        "single requests during the group port: commit latency",
        Percentiles::of(&overlapped),
    );
    latency_figures(
        &mut figures,
        "single requests of the whole second phase: commit latency",
        busy.latency(),
    );
    // A view that times out shows as a long gap between two blocks; where it fell in its epoch
    // tells an epoch change's first views (BENCHMARKS.md, "Epoch boundaries") from others.
    let blocks_per_epoch = env.blocks_per_epoch.unwrap_or(DEVNET_BLOCKS_PER_EPOCH).get();
    let client = net.client(0);
    let times: Vec<(u64, u64)> = (first_height.saturating_sub(1).max(1)..=client.status()?.height)
        .map(|h| client.block(h).map(|b| (b.height, b.block_time_ms)))
        .collect::<Result<_, _>>()?;
    if let Some((height, gap)) = longest_gap(&times) {
        figure(&mut figures, "group port phase: longest gap between blocks", gap as f64, "ms");
        figure(&mut figures, "group port phase: the block after it, height", height as f64, "");
        figure(
            &mut figures,
            "group port phase: the block after it, place in its epoch (0 = first)",
            (height % blocks_per_epoch) as f64,
            "",
        );
    }
    Ok(figures)
}

/// The longest gap between consecutive blocks of `(height, block time ms)`: the height of the
/// block after it, and the gap in ms.
fn longest_gap(times: &[(u64, u64)]) -> Option<(u64, u64)> {
    times.windows(2).map(|p| (p[1].0, p[1].1.saturating_sub(p[0].1))).max_by_key(|(_, gap)| *gap)
}

#[cfg(test)]
mod tests {
    use super::longest_gap;

    #[test]
    fn the_longest_gap_names_the_block_after_it() {
        assert_eq!(longest_gap(&[(7, 1_000)]), None);
        assert_eq!(longest_gap(&[(7, 1_000), (8, 1_200), (9, 3_500), (10, 3_700)]), Some((9, 2_300)));
        // A clock that went backwards between two blocks counts as no gap, never a huge one.
        assert_eq!(longest_gap(&[(7, 1_000), (8, 900), (9, 950)]), Some((9, 50)));
    }
}
