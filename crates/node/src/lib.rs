//! The operator node: the chain (admission, pending blocks, execution, finalization), consensus
//! wiring, durable storage, and the interfaces (HTTP, ENUM, webhooks to the back office).

pub mod api;
pub mod chain;
pub mod config;
pub mod consensus;
pub mod enum_dns;
mod fds;
pub mod http;
pub mod keys;
pub mod loglimit;
pub mod metrics;
pub mod node;
pub mod notify;
pub mod service;
pub mod stats;
pub mod storage;
pub mod validators;
