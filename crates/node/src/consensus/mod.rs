//! Consensus around the chain: the engine's application ([`App`]: propose and verify over the
//! ancestry marshal hands it) and reporter ([`Finalizer`]: applies finalized blocks and
//! acknowledges them after the ledger commit), the transaction gossip channel, and the wiring
//! of simplex, marshal and broadcast, generic over runtime and p2p so that production and
//! simulation run the same code.

mod app;
mod archives;
mod elector;
mod epochs;
mod gossip;
mod wiring;

pub use app::{App, EMPTY_BLOCK_INTERVAL_MS, Finalizer, Scheme};
pub use archives::ArchiveError;
pub use elector::{FirstLeaderTwice, FirstLeaderTwiceElector};
pub use epochs::{EpochPeers, EpochSchemes, TrackPeers, Transition, epoch_peers};
pub use gossip::{Gossip, MAX_GOSSIP_TXS, decode_gossip};
pub use wiring::{
    CHANNEL_BACKFILL, CHANNEL_BLOCKS, CHANNEL_CERTIFICATES, CHANNEL_RESOLVER, CHANNEL_TXS, CHANNEL_VOTES,
    Channels, Marshal, Started, Wiring, channel_quota, max_message_size, start,
};
