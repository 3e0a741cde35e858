//! The `npchain` command's library: devnet layout and supervision, key initialisation.

pub mod client;
pub mod devnet;
pub mod wallet;
