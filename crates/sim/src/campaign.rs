//! The fault campaign: many seeds, each one whole-network simulation with its own schedule of
//! faults, checked for divergence, loss and finality, and summed up (`npchain sim faults`).
//!
//! A seed picks one [`Scenario`] (`seed % 7`) and, inside it, everything else: link latency,
//! jitter and loss, which node crashes and when, whether the crash falls between two commits or
//! inside one, which node is cut off, where transactions go. The same seed always runs the same
//! schedule, so a failing seed is replayed exactly by running it alone.

use crate::{Agreement, epochs, faults};
use std::{
    ops::Range,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
};

/// The fault schedules a seed can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Four validators; lossy or clean links with random delay; one crash and restart (between
    /// commits or inside one); one partition and heal.
    CrashesAndPartitions,
    /// One validator votes for every proposal and for a conflicting digest (engine mock).
    Conflicter,
    /// One validator, as leader, proposes different blocks to different validators (engine mock).
    Equivocator,
    /// One validator only gossips garbage: a message that does not decode, then one whose
    /// transactions are not transactions. Every honest node must block it.
    GarbageGossip,
    /// Validator-set changes (OPE admitted, OPB retired) across three epochs, with a crash, a
    /// partition and lossy links, and a quorum in the last epoch that needs the new validator.
    SetChanges,
    /// The same set changes while OPB equivocates in the epochs it validates in, then a crash.
    SetChangesWithEquivocator,
    /// An observer accepts transactions while it is cut off; they commit after it is joined
    /// again, because it gossips again what still waits in its pool.
    CutOffObserver,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::CrashesAndPartitions,
        Scenario::Conflicter,
        Scenario::Equivocator,
        Scenario::GarbageGossip,
        Scenario::SetChanges,
        Scenario::SetChangesWithEquivocator,
        Scenario::CutOffObserver,
    ];

    pub fn of_seed(seed: u64) -> Self {
        Self::ALL[(seed % Self::ALL.len() as u64) as usize]
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::CrashesAndPartitions => "crashes-partitions-loss",
            Scenario::Conflicter => "conflicting-votes",
            Scenario::Equivocator => "equivocating-leader",
            Scenario::GarbageGossip => "garbage-gossip",
            Scenario::SetChanges => "set-changes",
            Scenario::SetChangesWithEquivocator => "set-changes-equivocator",
            Scenario::CutOffObserver => "cut-off-observer",
        }
    }

    /// The epochs every honest node must finalize blocks in.
    pub fn epochs(self) -> Range<u64> {
        match self {
            Scenario::SetChanges | Scenario::SetChangesWithEquivocator => 0..3,
            _ => 0..1,
        }
    }

    /// Runs the seed's schedule of this scenario. Panics when the run cannot go on (the network
    /// stalled, or a scenario's own check failed); [`run_seed`] reports that as a failure.
    pub fn run(self, seed: u64) -> Agreement {
        match self {
            Scenario::CrashesAndPartitions => faults::run_faulty(seed),
            Scenario::Conflicter => faults::run_byzantine(seed, faults::Byzantine::Conflicter),
            Scenario::Equivocator => faults::run_byzantine(seed, faults::Byzantine::Equivocator),
            Scenario::GarbageGossip => faults::run_garbage(seed),
            Scenario::SetChanges => epochs::run_epochs(seed),
            Scenario::SetChangesWithEquivocator => epochs::run_epochs_with_an_equivocator(seed),
            Scenario::CutOffObserver => faults::run_cut_off_observer(seed),
        }
    }
}

/// What one seed did.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub seed: u64,
    pub scenario: Scenario,
    /// What the honest nodes agreed on, or why the run could not finish.
    pub outcome: Result<Agreement, String>,
}

impl SeedReport {
    /// Why the seed failed: a stall or failed check, divergence, loss, a duplicate, or an epoch
    /// without finalized blocks.
    pub fn failure(&self) -> Option<String> {
        let agreement = match &self.outcome {
            Err(why) => return Some(why.clone()),
            Ok(a) => a,
        };
        let missing: Vec<u64> = self.scenario.epochs().filter(|e| !agreement.epochs.contains(e)).collect();
        let mut why = Vec::new();
        if agreement.heights == 0 {
            why.push("no block finalized".to_string());
        }
        if agreement.divergent > 0 {
            why.push(format!("{} divergent heights", agreement.divergent));
        }
        if agreement.lost > 0 {
            why.push(format!("{} lost transactions ({})", agreement.lost, agreement.missing.join("; ")));
        }
        if agreement.duplicated > 0 {
            why.push(format!("{} transactions finalized twice", agreement.duplicated));
        }
        if !missing.is_empty() {
            why.push(format!("no finalized block in epochs {missing:?}"));
        }
        (!why.is_empty()).then(|| why.join(", "))
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        let what = match &self.outcome {
            Ok(a) => format!(
                "{} heights checked, {} divergent, {} lost, {} duplicated, epochs {:?}",
                a.heights, a.divergent, a.lost, a.duplicated, a.epochs
            ),
            Err(_) => "did not finish".into(),
        };
        match self.failure() {
            None => format!("seed {} ({}): ok: {what}", self.seed, self.scenario.name()),
            Some(why) => format!("seed {} ({}): FAILED: {why}; {what}", self.seed, self.scenario.name()),
        }
    }
}

/// Runs one seed, catching a stall or a failed check as the seed's failure.
pub fn run_seed(seed: u64) -> SeedReport {
    let scenario = Scenario::of_seed(seed);
    let outcome = catch_unwind(AssertUnwindSafe(|| scenario.run(seed))).map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the run panicked".into())
    });
    SeedReport { seed, scenario, outcome }
}

/// The sums over a campaign.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub seeds: u64,
    pub failed: Vec<u64>,
    pub heights: u64,
    pub divergent: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Seeds that did not finish (stalled, or a scenario's own check failed).
    pub unfinished: u64,
    /// Epochs checked for finality, summed over seeds, and how many of them had none.
    pub epochs_checked: u64,
    pub epochs_without_finality: u64,
}

impl Summary {
    pub fn add(&mut self, report: &SeedReport) {
        self.seeds += 1;
        if report.failure().is_some() {
            self.failed.push(report.seed);
        }
        match &report.outcome {
            Ok(a) => {
                self.heights += a.heights;
                self.divergent += a.divergent;
                self.lost += a.lost;
                self.duplicated += a.duplicated;
                let expected = report.scenario.epochs();
                self.epochs_checked += expected.end - expected.start;
                self.epochs_without_finality += expected.filter(|e| !a.epochs.contains(e)).count() as u64;
            }
            Err(_) => self.unfinished += 1,
        }
    }
}

/// Runs `seeds` on `jobs` threads (each simulation is single-threaded), handing each report to
/// `each` as it finishes (in the order they finish), and returns the sums, failed seeds in order.
pub fn run(seeds: Vec<u64>, jobs: usize, mut each: impl FnMut(&SeedReport)) -> Summary {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut summary = Summary::default();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (tx, next, seeds) = (tx.clone(), &next, &seeds);
            scope.spawn(move || {
                while let Some(seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if tx.send(run_seed(*seed)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for report in rx {
            each(&report);
            summary.add(&report);
        }
    });
    summary.failed.sort_unstable();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(scenario: Scenario, outcome: Result<Agreement, String>) -> SeedReport {
        SeedReport { seed: 7, scenario, outcome }
    }

    fn agreed(epochs: Vec<u64>) -> Agreement {
        Agreement { heights: 30, epochs, ..Agreement::default() }
    }

    #[test]
    fn a_seed_fails_on_divergence_loss_duplicates_stalls_and_epochs_without_finality() {
        assert_eq!(report(Scenario::SetChanges, Ok(agreed(vec![0, 1, 2]))).failure(), None);
        let stalled = report(Scenario::Conflicter, Err("stalled: waiting".into()));
        assert_eq!(stalled.failure().as_deref(), Some("stalled: waiting"));
        let diverged = Agreement { divergent: 2, ..agreed(vec![0]) };
        let lost = Agreement { lost: 1, missing: vec!["bind of +4930100".into()], ..agreed(vec![0]) };
        let twice = Agreement { duplicated: 1, ..agreed(vec![0]) };
        for (agreement, what) in [
            (diverged, "2 divergent heights"),
            (lost, "1 lost transactions (bind of +4930100)"),
            (twice, "1 transactions finalized twice"),
            (agreed(vec![0, 2]), "no finalized block in epochs [1]"),
            (Agreement::default(), "no block finalized"),
        ] {
            let r = report(Scenario::SetChanges, Ok(agreement));
            assert!(r.failure().is_some_and(|f| f.contains(what)), "{what}: {:?}", r.failure());
            assert!(r.line().contains("FAILED"), "{}", r.line());
        }
    }

    #[test]
    fn the_summary_counts_what_failed() {
        let mut summary = Summary::default();
        summary.add(&report(Scenario::SetChanges, Ok(agreed(vec![0, 1]))));
        summary.add(&report(Scenario::Conflicter, Err("stalled".into())));
        summary.add(&SeedReport { seed: 9, ..report(Scenario::Equivocator, Ok(agreed(vec![0]))) });
        assert_eq!(summary.seeds, 3);
        assert_eq!(summary.failed, vec![7, 7]);
        assert_eq!((summary.unfinished, summary.heights), (1, 60));
        assert_eq!((summary.epochs_checked, summary.epochs_without_finality), (4, 1));
    }

    #[test]
    fn every_scenario_has_its_seeds() {
        for (i, s) in Scenario::ALL.iter().enumerate() {
            assert_eq!(Scenario::of_seed(i as u64), *s);
            assert_eq!(Scenario::of_seed(i as u64 + 7 * 100), *s);
        }
    }
}
