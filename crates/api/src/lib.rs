//! npchain-api: what crosses the wire between a node and anyone who talks to it.
//!
//! - [`block`]: the block consensus orders, its canonical bounded codec and its digest;
//! - [`proof`]: the finality proof checker (a block and its finalization certificate against
//!   the validator set of its epoch, each set after the genesis's learned from the last block of
//!   the epoch before) and the consensus namespace;
//! - [`json`]: the HTTP API's JSON shapes;
//! - [`dump`]: the state dump (every ledger entry at one height) a node streams for an export;
//! - [`consent`]: a subscriber's signed consent to a port the recipient submits for them;
//! - [`enum_query`]: a NAPTR query and its answer, as a sending network reads it.
//!
//! No storage, no server, no async runtime, no p2p: an operator's app or a wallet links this
//! and `npchain-core`, never the node. With the `consensus` feature, [`block::Block`] also
//! implements the consensus engine's block traits (the node turns it on).

pub mod block;
pub mod consent;
pub mod dump;
pub mod enum_query;
pub mod json;
pub mod proof;

pub use block::{Block, MAX_VALIDATORS};
pub use proof::{CONSENSUS_NAMESPACE, ProofChecker, ProofError};
