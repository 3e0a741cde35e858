//! Fuzz targets of every decoder that reads what another party wrote: one function per target,
//! `fn(&[u8])`, that decodes the bytes with the code the node, wallet or CLI runs, and where it
//! applies checks decode → encode → decode (for the canonical binary codecs: the same bytes) and
//! the invariants that must hold for any input. A target panics only on a real violation; an
//! input that does not decode is simply refused.
//!
//! [`TARGETS`] names them all. They run three ways: `tests/corpus.rs` replays every file of
//! `corpus/<target>/` and runs each target over arbitrary and mutated bytes with proptest (in
//! CI), and the afl harness in `afl/` (not a workspace member) runs them coverage-guided
//! (`scripts/fuzz`).

mod fixtures;
mod targets;

pub use fixtures::{HTTP_ADMIN_TOKEN, PROOF_BLOCKS_PER_EPOCH, chain_id, genesis, proof_validators};
pub use targets::*;

/// A fuzz target: bytes in, a panic only on a violation.
pub type Target = fn(&[u8]);

/// Every target by the name of its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("tx", tx),
    ("block", block),
    ("gossip", gossip),
    ("certificate", certificate),
    ("proof", proof),
    ("consent", consent),
    ("node_key", node_key),
    ("wallet_key", wallet_key),
    ("genesis", genesis_toml),
    ("migration_csv", migration_csv),
    ("api_json", api_json),
    ("http", http),
    ("dns", dns),
];

/// The target named `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
