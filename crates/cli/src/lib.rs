//! The `npchain` command's library: devnet layout and supervision, the bench and sim
//! scenarios, the verified export, the regulator's bulk import, and progress of long jobs. The HTTP client and the wallet are `npchain-client`.

pub mod bench;
pub mod devnet;
pub mod export;
pub mod import;
pub mod progress;
