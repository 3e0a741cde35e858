//! Runs one node: loads its configuration, keys, genesis and stores, then wires consensus,
//! the mempool and the interfaces on the production runtime.

use crate::config::NodeConfig;

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("not built yet")]
    NotBuilt,
}

/// Runs a node until it is stopped (Ctrl-C or SIGTERM) or fails.
pub fn run(_config: &NodeConfig) -> Result<(), NodeError> {
    Err(NodeError::NotBuilt)
}
