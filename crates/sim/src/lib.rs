//! Deterministic simulation of a validator network: the real node wiring (simplex, marshal,
//! block broadcast, transaction gossip, the application) on the engine's seeded executor and
//! simulated network, with each node's ledger and block log in memory.
//!
//! - [`harness`]: starting, killing and restarting nodes, links, waits, and the agreement check
//!   ([`Agreement`]: divergent heights, lost and duplicated transactions, epochs finalized);
//! - [`crash`]: the in-memory store and log, where a crash can fall inside a commit;
//! - [`faults`]: scenarios on a fixed validator set (crashes, partitions, loss; conflicting and
//!   equivocating validators from the engine's mocks; garbage gossip);
//! - [`epochs`]: validator-set changes across epochs under faults;
//! - [`latency`]: finality and throughput over continental link latencies
//!   (`npchain sim latency`);
//! - [`campaign`]: many seeds, one scenario and fault schedule each, summed up
//!   (`npchain sim faults --seeds N`).
//!
//! Each seed is a different schedule of message delays, losses, crashes and partitions, and the
//! same seed runs the same schedule: the same blocks, digests and state hashes.

pub mod campaign;
pub mod crash;
pub mod epochs;
pub mod faults;
pub mod harness;
pub mod latency;

pub use harness::Agreement;
