//! The verbs of `npchain`, one module each: its clap `Args` and its `run`, which prints what
//! the verb prints and returns the exit code or a [`crate::error::CliError`]. What several
//! verbs share (the default node, JSON on stdout) is here.

pub mod bench;
pub mod devnet;
pub mod export;
pub mod genesis;
pub mod import;
pub mod init;
pub mod node;
pub mod operator;
pub mod query;
pub mod regulator;
pub mod sim;
pub mod stats;
pub mod wallet;

/// The node API asked when none is given: a devnet's first node.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:8400";

/// Prints `value` as one JSON document on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}
