//! Deterministic simulation of a validator network: the real node wiring (simplex, marshal,
//! block broadcast, transaction gossip, the application) on the runtime's seeded executor and
//! simulated network, with the ledger in memory. Each seed is a different schedule of
//! message delays, losses, crashes and partitions; a failing seed is printed so it can be
//! replayed with `NPCHAIN_SIM_SEED=<seed> cargo test -p npchain-node --test sim`.

mod epochs;
mod faults;
mod harness;
#[path = "../support/mod.rs"]
mod support;

use faults::*;

fn seeds(default: std::ops::Range<u64>) -> Vec<u64> {
    match std::env::var("NPCHAIN_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("NPCHAIN_SIM_SEED is a number")],
        Err(_) => default.collect(),
    }
}

/// Runs `run` for each seed (or the one in `NPCHAIN_SIM_SEED`), printing what each agreed on;
/// a failing seed is named with the command that replays it.
fn each_seed(default: std::ops::Range<u64>, run: impl Fn(u64) -> String + std::panic::RefUnwindSafe) {
    for seed in seeds(default) {
        match std::panic::catch_unwind(|| run(seed)) {
            Ok(what) => eprintln!("seed {seed}: {what}"),
            Err(e) => {
                eprintln!("seed {seed} FAILED; replay with NPCHAIN_SIM_SEED={seed}");
                std::panic::resume_unwind(e);
            }
        }
    }
}

#[test]
fn validators_agree_through_crashes_partitions_and_loss() {
    each_seed(0..8, |seed| format!("agreed up to height {}", run_faulty(seed).len()));
}

#[test]
fn honest_validators_agree_despite_a_byzantine_one() {
    each_seed(0..4, |seed| {
        let kind = if seed % 2 == 0 { Byzantine::Conflicter } else { Byzantine::Equivocator };
        format!("({kind:?}) honest nodes agreed up to height {}", run_byzantine(seed, kind))
    });
}

#[test]
fn same_seed_same_chain() {
    // Determinism of the whole stack: one seed, run twice, gives the same blocks, digests,
    // block times and state hashes.
    let a = run_faulty(42);
    let b = run_faulty(42);
    assert!(a.len() > 5);
    assert_eq!(a, b);
}

#[test]
fn a_peer_that_gossips_garbage_is_blocked() {
    each_seed(0..2, |seed| {
        run_garbage(seed);
        "blocked by every honest node".into()
    });
}

#[test]
fn validators_join_and_leave_through_epochs_under_faults() {
    each_seed(0..12, |seed| format!("agreed up to height {} across three epochs", epochs::run_epochs(seed)));
}

#[test]
fn validators_join_and_leave_while_one_equivocates() {
    each_seed(0..6, |seed| {
        let height = epochs::run_epochs_with_an_equivocator(seed);
        format!("honest nodes agreed up to height {height} across three epochs")
    });
}
