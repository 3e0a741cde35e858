//! `npchain devnet`: a local network of validator processes on loopback.
//!
//! Layout under the data directory (default `./devnet`):
//!
//! ```text
//! devnet.toml        the options the devnet was made with (a later run must match them)
//! genesis.toml       4 operators OPA..OPD (or --validators N), demo or --ranges ranges
//! ported.csv         copy of --ported, if given (the migration list every node loads)
//! ranges.csv         copy of --ranges, if given
//! regulator.key      the regulator's key (signs governance transactions)
//! node-<i>/          validator.key, operator.key, config.toml, data/, node.log
//! ```
//!
//! Node i listens for p2p on 127.0.0.1:(p2p_port+i), HTTP on (http_port+i), DNS on (dns_port+i).
//!
//! [`layout`] writes and finds the files; [`supervise`] runs the nodes.

pub mod layout;
pub mod supervise;
#[cfg(test)]
mod tests;

pub use layout::{
    DEVNET_BLOCKS_PER_EPOCH, DevnetError, Layout, MAX_VALIDATORS, NodeLayout, Options, RangeFault,
    demo_ranges, operator_id, prepare, read_ranges,
};
pub use supervise::{SupervisorError, spawn_node, stop_all, supervise};
