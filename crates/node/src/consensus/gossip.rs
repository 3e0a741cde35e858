//! The transaction gossip channel: what one node accepted travels to every peer in batches
//! (what one `POST /v1/txs` accepted goes in one message of up to [`MAX_GOSSIP_TXS`]), and what
//! peers send enters the pool the same way as from clients. Peers relay only what decoded and
//! verified on their side, so a peer whose message (or a transaction in it) does not decode is
//! blocked, as simplex blocks one that sends invalid votes.
//!
//! A message can be lost: the link was down, or the node was cut off when it accepted the
//! transaction. A node that does not propose (an observer, a validator that left the set) would
//! then hold it until it expires. So every [`RELAY_INTERVAL`] each node sends again, in one batch
//! of at most [`MAX_GOSSIP_TXS`], the oldest transactions that have waited in its pool for a whole
//! interval ([`relay`]). Peers that hold or committed them drop them before any signature check.

use crate::{
    api::SubmitError,
    chain::{BlockLog, Chain},
};
use bytes::Bytes;
use commonware_codec::{Decode, Encode, RangeCfg};
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use npchain_core::{Store, tx::MAX_TX_BYTES, types::PublicKey};
use std::{sync::Mutex, time::Duration};
use tracing::{debug, warn};

/// How often a node gossips again what still waits in its pool since the last time.
pub const RELAY_INTERVAL: Duration = Duration::from_secs(10);

/// Most transactions in one gossip message.
pub const MAX_GOSSIP_TXS: usize = 4_096;
/// A gossip message is cut before it grows past this many bytes of transactions.
const GOSSIP_MESSAGE_BYTES: usize = 1 << 20;

/// Sends transactions this node accepted to every peer, many to a message: a batch submitted
/// together travels together, and the receiver checks its signatures together.
pub struct Gossip<Sn> {
    sender: Mutex<Sn>,
}

impl<Sn: Sender<PublicKey = PublicKey>> Gossip<Sn> {
    pub(super) fn new(sender: Sn) -> Self {
        Self { sender: Mutex::new(sender) }
    }

    pub fn send(&self, txs: &[Bytes]) {
        let mut sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let mut start = 0;
        while start < txs.len() {
            let (mut end, mut bytes) = (start, 0);
            while end < txs.len() && end - start < MAX_GOSSIP_TXS {
                bytes += txs[end].len();
                if bytes > GOSSIP_MESSAGE_BYTES && end > start {
                    break;
                }
                end += 1;
            }
            let message = txs[start..end].to_vec().encode();
            sender.send(Recipients::All, message, false);
            start = end;
        }
    }
}

impl<Sn> std::fmt::Debug for Gossip<Sn> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gossip")
    }
}

/// Reads a gossip message: 1 to [`MAX_GOSSIP_TXS`] transactions, each of bounded size.
pub fn decode_gossip(message: &[u8]) -> Result<Vec<Bytes>, commonware_codec::Error> {
    let cfg = (RangeCfg::from(1..=MAX_GOSSIP_TXS), RangeCfg::from(..=MAX_TX_BYTES));
    Vec::<Bytes>::decode_cfg(commonware_codec::Copying(message), &cfg)
}

/// Pools what peers gossip, until the channel closes; blocks a peer whose gossip does not decode.
pub(super) async fn receive<S, L, Rc, B>(mut receiver: Rc, chain: Chain<S, L>, mut blocker: B)
where
    S: Store + Send + 'static,
    L: BlockLog,
    Rc: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    while let Ok((peer, message)) = receiver.recv().await {
        let txs = match decode_gossip(message.as_ref()) {
            Ok(txs) => txs,
            Err(e) => {
                warn!(peer = %peer, error = %e, "undecodable gossip message; blocking the peer");
                let _ = blocker.block(peer);
                continue;
            }
        };
        let mut malformed = false;
        for e in chain.submit_batch(&txs, None).into_iter().filter_map(Result::err) {
            malformed |= matches!(e, SubmitError::Malformed(_));
            debug!(peer = %peer, error = %e, "gossiped transaction not pooled");
        }
        if malformed {
            warn!(peer = %peer, "gossiped a transaction that does not decode; blocking the peer");
            let _ = blocker.block(peer);
        }
    }
}

/// Every [`RELAY_INTERVAL`], gossips again (one message, oldest first) the transactions that
/// were already in the pool at the previous tick and still wait; runs until the node stops.
pub(super) async fn relay<S, L, Sn, C>(context: C, chain: Chain<S, L>, gossip: std::sync::Arc<Gossip<Sn>>)
where
    S: Store + Send + 'static,
    L: BlockLog,
    Sn: Sender<PublicKey = PublicKey>,
    C: commonware_runtime::Clock,
{
    let mut mark = 0;
    loop {
        context.sleep(RELAY_INTERVAL).await;
        let (waiting, now) = chain.waiting_since(mark, MAX_GOSSIP_TXS);
        mark = now;
        if !waiting.is_empty() {
            debug!(txs = waiting.len(), "relaying transactions that still wait in the pool");
            gossip.send(&waiting);
        }
    }
}
