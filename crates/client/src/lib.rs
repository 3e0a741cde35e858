//! npchain-client: what an operator's app or a subscriber's wallet needs to talk to npchain
//! nodes, without linking a node.
//!
//! - [`http`]: a blocking client of the node's HTTP API with failover across nodes, and the
//!   ledger's refusals as one typed value ([`Refusal`]);
//! - [`wallet`]: the subscriber's wallet: its key file, its port requests and cancels, and a
//!   local ledger of every step of its orders, each checked with [`npchain_api::ProofChecker`]
//!   against the validators of its epoch (the genesis's, or a set learned from the last block
//!   of the epoch before) before it is written;
//! - [`regulator`]: the regulator's console: its passphrase-encrypted key file, governance
//!   transactions signed locally and submitted through any node, and policy changes by field;
//! - [`sse`]: a bounded reader of server-sent events (the node's event stream);
//! - [`human`]: durations as a person reads them (in messages).
//!
//! It depends on `npchain-core` and `npchain-api` only: no storage, server, consensus engine
//! or p2p stack.

pub mod http;
mod human;
pub mod regulator;
pub mod sse;
pub mod wallet;

pub use http::{Client, ClientError, Refusal, encode};
pub use human::human;
