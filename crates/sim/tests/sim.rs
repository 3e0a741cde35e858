//! The simulated network under faults. Each test runs seeds of one scenario (or the one in
//! `NPCHAIN_SIM_SEED`); a failing seed is named, and `npchain sim faults --from S --seeds 1`
//! replays it (the campaign picks the scenario from the seed: `Scenario::of_seed`).

use npchain_sim::{
    Agreement,
    campaign::{self, Scenario},
    faults,
};

/// Seeds `default` of `scenario` (or `NPCHAIN_SIM_SEED`), each checked: no divergence, no loss,
/// no duplicate, finality in every epoch the scenario crosses.
fn each_seed(scenario: Scenario, default: std::ops::Range<u64>) {
    let seeds: Vec<u64> = match std::env::var("NPCHAIN_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("NPCHAIN_SIM_SEED is a number")],
        // seeds of the scenario, as the campaign assigns them
        Err(_) => default.map(|k| k * Scenario::ALL.len() as u64 + scenario as u64).collect(),
    };
    for seed in seeds {
        let report = campaign::run_seed(seed);
        eprintln!("{}", report.line());
        assert_eq!(report.scenario, Scenario::of_seed(seed));
        assert!(report.failure().is_none(), "{}", report.line());
    }
}

#[test]
fn validators_agree_through_crashes_partitions_and_loss() {
    each_seed(Scenario::CrashesAndPartitions, 0..8);
}

#[test]
fn honest_validators_agree_despite_conflicting_votes() {
    each_seed(Scenario::Conflicter, 0..3);
}

#[test]
fn honest_validators_agree_despite_an_equivocating_leader() {
    each_seed(Scenario::Equivocator, 0..3);
}

#[test]
fn a_peer_that_gossips_garbage_is_blocked() {
    each_seed(Scenario::GarbageGossip, 0..2);
}

#[test]
fn validators_join_and_leave_through_epochs_under_faults() {
    each_seed(Scenario::SetChanges, 0..10);
}

#[test]
fn validators_join_and_leave_while_one_equivocates() {
    each_seed(Scenario::SetChangesWithEquivocator, 0..5);
}

#[test]
fn what_a_cut_off_observer_accepted_commits_after_it_is_joined_again() {
    each_seed(Scenario::CutOffObserver, 0..3);
}

#[test]
fn same_seed_same_chain() {
    // Determinism of the whole stack: one seed, run twice, gives the same blocks, digests,
    // block times and state hashes.
    let a: Agreement = faults::run_faulty(42);
    let b = faults::run_faulty(42);
    assert!(a.heights > 5);
    assert_eq!(a, b);
}

/// Five validators on continental links: every transaction commits and the nodes agree, and
/// finality is no faster than the links allow (a vote needs at least one one-way hop after the
/// proposal reached the voters, so two of the shortest links) yet not a timeout away.
#[test]
fn continental_links_delay_finality_but_lose_nothing() {
    use npchain_sim::latency::{Setup, run};
    let setup = Setup { validators: 5, seconds: 5, rate: 100, ..Setup::default() };
    let f = run(&setup);
    eprintln!("{f:?}");
    assert!(f.agreement.holds(), "{:?}", f.agreement);
    assert_eq!(f.committed, f.submitted, "every submitted transaction committed where it was submitted");
    assert_eq!(f.submitted, 500);
    assert!(f.p50_ms >= 2 * setup.latency_ms.0, "p50 {} ms below two one-way hops", f.p50_ms);
    assert!(f.p50_ms <= f.p99_ms && f.p99_ms <= f.max_ms);
    // the leader timeout is 1 s: a median past it would mean views fail on these links
    assert!(f.p50_ms < 1_000, "p50 {} ms", f.p50_ms);
    // the same seed runs the same schedule
    assert_eq!(run(&setup), f);
}
