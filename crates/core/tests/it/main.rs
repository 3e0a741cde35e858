//! Integration tests of the porting ledger: scenarios as data, properties over random
//! transaction sequences, genesis loading and frozen encodings.

mod caps;
mod epochs;
mod export;
mod fixtures;
mod genesis;
mod governance;
mod harness;
mod import;
mod numbers;
mod pending;
mod props;
mod rn;
mod scenarios;
