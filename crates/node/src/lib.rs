//! The operator node: consensus wiring, mempool, durable ledger, interfaces.

pub mod api;
pub mod block;
pub mod chain;
pub mod mempool;
pub mod config;
pub mod keys;
pub mod node;
