//! The `npchain` command's library: devnet layout and supervision, key initialisation.

pub mod bench;
pub mod client;
pub mod devnet;
pub mod progress;
pub mod wallet;
