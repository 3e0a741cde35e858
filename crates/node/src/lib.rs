//! The operator node: consensus wiring, mempool, durable ledger, interfaces.

pub mod api;
pub mod app;
pub mod blocklog;
pub mod chain;
pub mod config;
pub mod engine;
pub mod enum_dns;
pub mod http;
pub mod keys;
pub mod loglimit;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod service;
pub mod storage;
