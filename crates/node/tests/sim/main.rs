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

#[test]
fn validators_agree_through_crashes_partitions_and_loss() {
    for seed in seeds(0..8) {
        let result = std::panic::catch_unwind(|| run_faulty(seed));
        match result {
            Ok(blocks) => eprintln!("seed {seed}: agreed up to height {}", blocks.len()),
            Err(e) => {
                eprintln!("seed {seed} FAILED; replay with NPCHAIN_SIM_SEED={seed}");
                std::panic::resume_unwind(e);
            }
        }
    }
}

#[test]
fn honest_validators_agree_despite_a_byzantine_one() {
    for seed in seeds(0..4) {
        let kind = if seed % 2 == 0 { Byzantine::Conflicter } else { Byzantine::Equivocator };
        match std::panic::catch_unwind(|| run_byzantine(seed, kind)) {
            Ok(height) => eprintln!("seed {seed} ({kind:?}): honest nodes agreed up to height {height}"),
            Err(e) => {
                eprintln!("seed {seed} ({kind:?}) FAILED; replay with NPCHAIN_SIM_SEED={seed}");
                std::panic::resume_unwind(e);
            }
        }
    }
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
    for seed in seeds(0..2) {
        if std::panic::catch_unwind(|| run_garbage(seed)).is_err() {
            panic!("seed {seed} FAILED; replay with NPCHAIN_SIM_SEED={seed}");
        }
    }
}

#[test]
fn validators_join_and_leave_through_epochs_under_faults() {
    for seed in seeds(0..12) {
        match std::panic::catch_unwind(|| epochs::run_epochs(seed)) {
            Ok(height) => eprintln!("seed {seed}: agreed up to height {height} across three epochs"),
            Err(e) => {
                eprintln!("seed {seed} FAILED; replay with NPCHAIN_SIM_SEED={seed}");
                std::panic::resume_unwind(e);
            }
        }
    }
}

#[test]
fn validators_join_and_leave_while_one_equivocates() {
    for seed in seeds(0..6) {
        match std::panic::catch_unwind(|| epochs::run_epochs_with_an_equivocator(seed)) {
            Ok(height) => {
                eprintln!("seed {seed}: honest nodes agreed up to height {height} across three epochs")
            }
            Err(e) => {
                eprintln!("seed {seed} FAILED; replay with NPCHAIN_SIM_SEED={seed}");
                std::panic::resume_unwind(e);
            }
        }
    }
}
