//! The engine wiring, generic over the runtime and the p2p network so that the same code runs
//! on the production runtime (tokio, authenticated `lookup` network) and in deterministic
//! simulation (seeded executor, simulated network).
//!
//! The pieces: simplex (ed25519 attributable certificates, round-robin leaders) orders block
//! digests; marshal turns notarizations and finalizations into an ordered stream of finalized
//! blocks, stores blocks and certificates in its archives and backfills what is missing from
//! peers; the buffered broadcast engine spreads proposed blocks; [`App`] builds and verifies
//! blocks and [`Finalizer`] applies finalized ones; a gossip channel spreads transactions.

use super::{
    app::{App, Finalizer, Scheme},
    archives::{self, ArchiveError},
    epochs::{EngineParts, EpochSchemes, Orchestrator, TrackPeers},
    gossip::{self, Gossip},
};
use crate::{
    chain::{BlockLog, Chain},
    config::Timing,
};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{self, core::Actor as MarshalActor, resolver::p2p as marshal_resolver, standard::Inline},
    types::{FixedEpocher, ViewDelta},
};
use commonware_cryptography::Digestible;
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZU16, NZU64, NZUsize};
use npchain_api::{Block, MAX_VALIDATORS};
use npchain_core::{
    Store,
    types::{PrivateKey, PublicKey},
};
use rand_core::CryptoRng;
use std::{
    num::{NonZeroU64, NonZeroUsize},
    sync::Arc,
};

/// p2p channels, one per kind of traffic.
pub const CHANNEL_VOTES: u64 = 0;
pub const CHANNEL_CERTIFICATES: u64 = 1;
pub const CHANNEL_RESOLVER: u64 = 2;
pub const CHANNEL_BACKFILL: u64 = 3;
pub const CHANNEL_BLOCKS: u64 = 4;
pub const CHANNEL_TXS: u64 = 5;

/// Per-peer message rate allowed on each channel. The network sizes each channel's inbound
/// mailbox from its burst, so these are also memory bounds.
pub fn channel_quota(channel: u64) -> commonware_runtime::Quota {
    use commonware_utils::NZU32;
    let per_second = match channel {
        CHANNEL_VOTES | CHANNEL_CERTIFICATES => NZU32!(1_000),
        CHANNEL_RESOLVER | CHANNEL_BACKFILL => NZU32!(500),
        CHANNEL_BLOCKS => NZU32!(100),
        _ => NZU32!(5_000),
    };
    commonware_runtime::Quota::per_second(per_second)
}

const MAILBOX: NonZeroUsize = NZUsize!(1024);
const IO_BUFFER: NonZeroUsize = NZUsize!(1 << 20);

/// What one node brings to the network.
#[allow(missing_debug_implementations)]
pub struct Wiring<S: Store, L: BlockLog, P, B> {
    /// This node's identity (p2p and, for a validator, consensus votes).
    pub signer: PrivateKey,
    /// Every peer this node knows an address for (itself included). Each epoch allows those
    /// that are not removed validators; see [`super::epochs::epoch_peers`].
    pub address_book: Vec<PublicKey>,
    /// Hands each epoch's peers to the p2p layer.
    pub track: TrackPeers,
    pub chain: Chain<S, L>,
    pub genesis: Block,
    /// Prefix of the engine's storage partitions.
    pub partition: String,
    pub timing: Timing,
    pub peers: P,
    pub blocker: B,
}

/// The network channels a node needs, as (sender, receiver) pairs.
#[allow(missing_debug_implementations)]
pub struct Channels<Sn, Rc> {
    pub votes: (Sn, Rc),
    pub certificates: (Sn, Rc),
    pub resolver: (Sn, Rc),
    pub backfill: (Sn, Rc),
    pub blocks: (Sn, Rc),
    pub txs: (Sn, Rc),
}

/// Marshal's handle: finalized blocks and their certificates, from its archives.
pub type Marshal = marshal::core::Mailbox<Scheme, marshal::standard::Standard<Block>>;

/// A started node: its tasks, the handle to gossip transactions, and marshal.
pub struct Started<Sn> {
    pub handles: Vec<Handle<()>>,
    pub gossip: Arc<Gossip<Sn>>,
    pub marshal: Marshal,
}

impl<Sn> std::fmt::Debug for Started<Sn> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").field("tasks", &self.handles.len()).finish()
    }
}

/// The most a network message may carry: a whole block with its framing, and a certificate of
/// the largest validator set an epoch may have.
pub fn max_message_size() -> u32 {
    let bound =
        marshal::max_payload_size::<marshal::standard::Standard<Block>, Scheme>(MAX_VALIDATORS as u32, &());
    (bound + 1024) as u32
}

/// Starts consensus, marshal, block broadcast and transaction gossip for one node, once
/// marshal's archives open and pass [`archives::check`].
pub async fn start<E, S, L, P, B, Sn, Rc>(
    context: E,
    wiring: Wiring<S, L, P, B>,
    channels: Channels<Sn, Rc>,
) -> Result<Started<Sn>, ArchiveError>
where
    E: Clock + CryptoRng + Spawner + Storage + Metrics + commonware_runtime::Supervisor,
    S: Store + Send + 'static,
    L: BlockLog,
    P: Provider<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    Sn: Sender<PublicKey = PublicKey>,
    Rc: Receiver<PublicKey = PublicKey>,
{
    let Wiring { signer, address_book, track, chain, genesis, partition, timing, peers, blocker } = wiring;
    let me = commonware_cryptography::Signer::public_key(&signer);
    let schemes = EpochSchemes::new(signer);
    let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(1024));
    let epocher = FixedEpocher::new(NonZeroU64::new(chain.blocks_per_epoch()).unwrap_or(NZU64!(u64::MAX)));
    let genesis_digest = genesis.digest();

    // Backfill of missing blocks and certificates from peers.
    let (resolver_rx, resolver) = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: MAILBOX,
            fetch_timeout: NZDuration!(std::time::Duration::from_secs(2)),
            fetch_retry_delay: std::time::Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    // Proposed blocks travel whole to every peer.
    let (broadcast, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: MAILBOX,
            deque_size: 16,
            priority: false,
            codec_config: (),
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    let mut handles = vec![broadcast.start(channels.blocks)];

    let (finalizations_partition, blocks_partition) =
        (format!("{partition}-finalizations"), format!("{partition}-blocks"));
    let opening = |partition: &str| {
        let partition = partition.to_owned();
        move |source| ArchiveError::Unreadable {
            partition,
            doing: "opening".into(),
            source: Box::new(source),
        }
    };
    let finalizations = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_config(
            &partition,
            "finalizations",
            &page_cache,
            <Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(opening(&finalizations_partition))?;
    let blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_config(&partition, "blocks", &page_cache, ()),
    )
    .await
    .map_err(opening(&blocks_partition))?;
    let height = chain.height();
    let committed = chain.block(height).ok().flatten();
    archives::check(
        &blocks,
        &blocks_partition,
        &finalizations,
        &finalizations_partition,
        height,
        committed.as_ref(),
    )
    .await?;
    let processed_partition = format!("{partition}-marshal-application-metadata");
    if let Some(recorded) =
        archives::align_processed(context.child("processed_check"), &processed_partition, height).await?
    {
        tracing::warn!(
            recorded,
            ledger = height,
            "marshal records more blocks applied than the ledger holds (the ledger was rolled back: restored \
             from an older backup, or repaired to its last intact commit); the blocks above the ledger are \
             delivered again"
        );
    }

    let genesis_block = commonware_cryptography::Digested::precomputed(genesis, genesis_digest);
    let (marshal_actor, marshal, _floor) = MarshalActor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: schemes.clone(),
            epocher: epocher.clone(),
            start: marshal::Start::Genesis(genesis_block),
            partition_prefix: format!("{partition}-marshal"),
            mailbox_size: MAILBOX,
            view_retention: ViewDelta::new(10),
            prunable_items_per_section: NZU64!(10),
            page_cache: page_cache.clone(),
            replay_buffer: IO_BUFFER,
            key_write_buffer: IO_BUFFER,
            value_write_buffer: IO_BUFFER,
            block_codec_config: (),
            max_repair: NZUsize!(10),
            max_pending_acks: NZUsize!(1),
            strategy: Sequential,
        },
    )
    .await;

    let gossip_blocker = blocker.clone();
    let application =
        Inline::new(context.child("application"), App::new(chain.clone()), marshal.clone(), epocher.clone());
    let (transitions, transitions_rx) = futures::channel::mpsc::unbounded();
    handles.push(marshal_actor.start(
        Finalizer::new(chain.clone(), context.child("finalizer"), transitions, epocher.clone()),
        buffer,
        (resolver_rx, resolver),
    ));
    let orchestrator = Orchestrator {
        context: context.child("epochs"),
        chain: chain.clone(),
        schemes,
        marshal: marshal.clone(),
        genesis: genesis_digest,
        epocher,
        address_book,
        track,
        transitions: transitions_rx,
        parts: EngineParts {
            application,
            blocker,
            partition: partition.clone(),
            timing,
            page_cache,
            mailbox: MAILBOX,
            io_buffer: IO_BUFFER,
        },
    };
    let (votes, certificates, resolver) = (channels.votes, channels.certificates, channels.resolver);
    handles
        .push(context.child("orchestrator").spawn(move |_| orchestrator.run(votes, certificates, resolver)));

    // Transactions from peers enter the pool the same way as from clients.
    let (tx_sender, tx_receiver) = channels.txs;
    let gossip = Arc::new(Gossip::new(tx_sender));
    let (relayed, relaying) = (chain.clone(), gossip.clone());
    handles.push(context.child("tx_relay").spawn(move |ctx| gossip::relay(ctx, relayed, relaying)));
    handles
        .push(context.child("tx_gossip").spawn(move |_| gossip::receive(tx_receiver, chain, gossip_blocker)));
    Ok(Started { handles, gossip, marshal })
}

pub(super) fn archive_config<C>(
    partition: &str,
    name: &str,
    page_cache: &CacheRef,
    codec: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{partition}-{name}-metadata"),
        freezer_table_partition: format!("{partition}-{name}-freezer-table"),
        freezer_table_initial_size: 64,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 10,
        freezer_key_partition: format!("{partition}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{partition}-{name}-freezer-value"),
        freezer_value_target_size: 1 << 20,
        freezer_value_compression: None,
        ordinal_partition: format!("{partition}-{name}-ordinal"),
        items_per_section: NZU64!(1024),
        codec_config: codec,
        replay_buffer: IO_BUFFER,
        freezer_key_write_buffer: IO_BUFFER,
        freezer_value_write_buffer: IO_BUFFER,
        ordinal_write_buffer: IO_BUFFER,
    }
}
