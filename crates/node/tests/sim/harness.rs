//! The simulation harness: a simulated network of nodes running the real wiring, with the
//! ledger and block log in memory, and the waits and agreement checks every scenario uses.

use crate::support;
use commonware_cryptography::Signer;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock, Handle, Spawner, Supervisor as _, deterministic};
use commonware_utils::NZUsize;
use npchain_api::Block;
use npchain_core::{E164, Genesis, Ledger, MemStore, PrivateKey, PublicKey, Timestamp, Transaction, TxBody};
use npchain_node::{
    chain::{BlockLog, Chain, MemBlockLog, mempool::Mempool},
    config::Timing,
    consensus::{self, Channels, Gossip, Wiring},
    storage::BlockRecord,
};
use npchain_testkit::{GENESIS_MS, GenesisBuilder, key};
use rand::{RngExt as _, rngs::StdRng};
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

pub const VALIDATORS: usize = 4;

pub type Log = MemBlockLog;

thread_local! {
    /// The last described node states, printed when a wait times out.
    pub static STATE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}
pub type Sim = deterministic::Context;
pub type SimSender = simulated::Sender<PublicKey, Sim>;

pub fn validator_key(i: usize) -> PrivateKey {
    key(&format!("{}/validator", operator_id(i)))
}

pub fn operator_key(i: usize) -> PrivateKey {
    key(&operator_id(i))
}

pub fn operator_id(i: usize) -> String {
    format!("OP{}", (b'A' + i as u8) as char)
}

/// One operator per validator, each holding +49301<i>.
pub fn genesis() -> Genesis {
    (0..VALIDATORS)
        .fold(GenesisBuilder::new("npchain-sim").region("DE"), |g, i| {
            g.operator(&operator_id(i), &format!("+49D00{}", i + 1))
                .range(&format!("+49301{i}"), &operator_id(i))
        })
        .build()
}

/// A number in operator `op`'s range.
pub fn number(op: usize, k: u64) -> E164 {
    format!("+49301{op}{k:06}").parse().unwrap()
}

/// Operator `op` binds `number(op, k)` to a subscriber key: one transaction.
pub fn bind(chain: &npchain_core::tx::ChainId, op: usize, k: u64, now_ms: u64) -> Vec<u8> {
    let subscriber = key(&format!("subscriber{k}")).public_key();
    let tx = Transaction {
        nonce: k,
        expires_at: Timestamp(now_ms + 600_000),
        signer: operator_key(op).public_key(),
        body: TxBody::Bind { number: number(op, k), subscriber: Some(subscriber) },
    };
    commonware_codec::Encode::encode(&tx.sign(chain, &operator_key(op))).to_vec()
}

pub fn timing() -> Timing {
    Timing {
        leader_timeout_ms: 1_000,
        certification_timeout_ms: 2_000,
        timeout_retry_ms: 500,
        fetch_timeout_ms: 1_000,
    }
}

/// One running node of the simulation.
pub struct Node {
    pub chain: Chain<MemStore, Log>,
    pub gossip: Arc<Gossip<SimSender>>,
    pub task: Handle<()>,
}

/// What survives a crash: the committed ledger store and the block log (redb in production).
pub fn durable(chain: &Chain<MemStore, Log>) -> (MemStore, Log) {
    let store = chain.with_ledger(|l| l.store().clone());
    let height = store_height(&store);
    let mut log = Log::default();
    for record in (1..=height).filter_map(|h| chain.block(h).unwrap()) {
        log.put(&record).unwrap();
    }
    (store, log)
}

pub fn store_height(store: &MemStore) -> u64 {
    npchain_core::ReadStore::meta(store).unwrap().map_or(0, |m| m.height)
}

/// Starts node `i` of the four validators of [`genesis`].
pub async fn start_node(
    context: &Sim,
    oracle: &Oracle<PublicKey, Sim>,
    i: usize,
    restored: Option<(MemStore, Log)>,
) -> Node {
    start_node_of(context, oracle, &genesis(), VALIDATORS, i, restored).await
}

/// Starts node `i` of a network of `nodes` (node `i` has `validator_key(i)`; the genesis says
/// which of them validate), fresh or from what a crash left.
pub async fn start_node_of(
    context: &Sim,
    oracle: &Oracle<PublicKey, Sim>,
    genesis: &Genesis,
    nodes: usize,
    i: usize,
    restored: Option<(MemStore, Log)>,
) -> Node {
    let (ledger, log) = match restored {
        Some((store, log)) => (Ledger::open(store).unwrap(), log),
        None => (support::ledger(genesis), Log::default()),
    };
    let genesis_block = Block::genesis(genesis.genesis_time, ledger.chain_id());
    let chain = Chain::new(ledger, log, Mempool::default());
    let me = validator_key(i).public_key();
    let control = oracle.control(me.clone());
    let mut register = Vec::new();
    for channel in 0..6u64 {
        register.push(control.register(channel, consensus::channel_quota(channel)).await.unwrap());
    }
    let mut register = register.into_iter();
    let mut next = || register.next().unwrap();
    let channels = Channels {
        votes: next(),
        certificates: next(),
        resolver: next(),
        backfill: next(),
        blocks: next(),
        txs: next(),
    };
    let wiring = Wiring {
        signer: validator_key(i),
        address_book: (0..nodes).map(|v| validator_key(v).public_key()).collect(),
        // The simulated network was given every node's key when it was made.
        track: Box::new(|_| {}),
        chain: chain.clone(),
        genesis: genesis_block,
        partition: format!("node-{i}"),
        timing: timing(),
        peers: oracle.manager(),
        blocker: control,
    };
    let (gossip_tx, gossip_rx) = futures::channel::oneshot::channel();
    let task = context.child("node").with_attribute("index", i).spawn(move |ctx| async move {
        let started = consensus::start(ctx, wiring, channels).await;
        let _ = gossip_tx.send(started.gossip.clone());
        futures::future::join_all(started.handles).await;
    });
    let gossip = gossip_rx.await.expect("node started");
    Node { chain, gossip, task }
}

pub fn link(rng: &mut StdRng, lossy: bool) -> Link {
    Link {
        latency: Duration::from_millis(rng.random_range(5..60)),
        jitter: Duration::from_millis(rng.random_range(0..20)),
        success_rate: if lossy {
            commonware_utils::probability!(0.9)
        } else {
            commonware_utils::probability!(1.0)
        },
    }
}

pub async fn connect(oracle: &Oracle<PublicKey, Sim>, rng: &mut StdRng, a: usize, b: usize, lossy: bool) {
    let (pa, pb) = (validator_key(a).public_key(), validator_key(b).public_key());
    let _ = oracle.add_link(pa.clone(), pb.clone(), link(rng, lossy)).await;
    let _ = oracle.add_link(pb, pa, link(rng, lossy)).await;
}

pub async fn disconnect(oracle: &Oracle<PublicKey, Sim>, a: usize, b: usize) {
    let (pa, pb) = (validator_key(a).public_key(), validator_key(b).public_key());
    let _ = oracle.remove_link(pa.clone(), pb.clone()).await;
    let _ = oracle.remove_link(pb, pa).await;
}

/// A simulated network joining every pair of the four validators.
pub async fn network(context: &Sim, rng: &mut StdRng, lossy: bool) -> Oracle<PublicKey, Sim> {
    network_of(context, rng, lossy, VALIDATORS).await
}

/// A simulated network joining every pair of `nodes` nodes.
pub async fn network_of(
    context: &Sim,
    rng: &mut StdRng,
    lossy: bool,
    nodes: usize,
) -> Oracle<PublicKey, Sim> {
    let peers: Vec<PublicKey> = (0..nodes).map(|i| validator_key(i).public_key()).collect();
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: consensus::max_message_size(),
            // Byzantine nodes may be blocked, and disconnected, by the honest ones.
            max_peers_per_set: NZUsize!(nodes),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        peers,
    )
    .await;
    network.start();
    for a in 0..nodes {
        for b in a + 1..nodes {
            connect(&oracle, rng, a, b, lossy).await;
        }
    }
    oracle
}

pub async fn wait_for(context: &Sim, what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..3_000 {
        if cond() {
            return;
        }
        context.sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{}", STATE.with(|s| s.borrow().clone()));
    panic!("simulated timeout (300 s of virtual time) waiting for {what}");
}

pub fn describe(chains: &[Chain<MemStore, Log>]) -> String {
    chains
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!("node {i}: height {} tip {} halted {:?}", c.height(), c.finalized_tip(), c.halted())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits until every running node but `skip` reached `target`.
pub async fn wait_all_but(context: &Sim, nodes: &[Option<Node>], skip: usize, target: u64, what: &str) {
    let others: Vec<_> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .filter_map(|(_, n)| n.as_ref())
        .map(|n| n.chain.clone())
        .collect();
    wait_for(context, what, || others.iter().all(|c| c.height() >= target)).await;
}

pub fn now_ms(context: &Sim) -> u64 {
    context.current().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Waits until every submitted transaction is applied on every node and all reached the same
/// height, checks they agree, and returns the blocks of the first.
pub async fn settle_and_check(
    context: &Sim,
    chains: &[Chain<MemStore, Log>],
    submitted: &[(usize, u64)],
) -> Vec<BlockRecord> {
    wait_for(context, "every submitted transaction on every node", || {
        STATE.with(|s| *s.borrow_mut() = describe(chains));
        chains.iter().all(|c| {
            submitted.iter().all(|(op, k)| {
                c.with_ledger(|l| l.number(number(*op, *k)).unwrap()).is_some_and(|r| r.subscriber.is_some())
            })
        })
    })
    .await;
    let top = chains.iter().map(|c| c.height()).max().unwrap();
    wait_for(context, "all nodes at the same height", || chains.iter().all(|c| c.height() >= top)).await;
    let refs: Vec<_> = chains.iter().collect();
    check_agreement(&refs, submitted);
    (1..=top).map(|h| chains[0].block(h).unwrap().unwrap()).collect()
}

/// Every honest node holds the same block (digest, state hash, transactions) at every height
/// they all reached, and each has applied every submitted transaction exactly once.
pub fn check_agreement(nodes: &[&Chain<MemStore, Log>], submitted: &[(usize, u64)]) {
    let common = nodes.iter().map(|c| c.height()).min().unwrap();
    assert!(common > 0, "no block was finalized");
    for h in 1..=common {
        let reference = nodes[0].block(h).unwrap().unwrap_or_else(|| panic!("node 0 lacks block {h}"));
        for (i, c) in nodes.iter().enumerate().skip(1) {
            let info = c.block(h).unwrap().unwrap_or_else(|| panic!("node {i} lacks block {h}"));
            assert_eq!(info, reference, "node {i} differs from node 0 at height {h}");
        }
    }
    for c in nodes {
        let mut seen = BTreeMap::new();
        for h in 1..=c.height() {
            for tx in c.block(h).unwrap().unwrap().txs {
                *seen.entry(tx.id).or_insert(0) += 1;
            }
        }
        assert!(seen.values().all(|n| *n == 1), "a transaction was finalized twice");
        for &(op, k) in submitted {
            let record = c.with_ledger(|l| l.number(number(op, k)).unwrap());
            assert!(record.and_then(|r| r.subscriber).is_some(), "bind of {} was lost", number(op, k));
        }
    }
}

/// The seeded executor, its clock starting at the genesis time.
pub fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_start_time(UNIX_EPOCH + Duration::from_millis(GENESIS_MS))
            .with_timeout(Some(Duration::from_secs(900))),
    )
}

/// Runs node `bad`'s key as the engine's equivocating mock (as leader it sends different
/// proposals to different validators) in each given epoch, with that epoch's validator set, on
/// the epoch's subchannels of the vote and certificate channels, in place of an honest node.
pub async fn equivocate(
    context: &Sim,
    oracle: &Oracle<PublicKey, Sim>,
    bad: usize,
    epochs: &[(u64, Vec<PublicKey>)],
) {
    use commonware_consensus::simplex::mocks::{
        equivocator::{Config, Equivocator},
        relay::Relay,
    };
    let control = oracle.control(validator_key(bad).public_key());
    let quota = commonware_runtime::Quota::per_second(commonware_utils::NZU32!(100_000));
    let mux = |(sender, receiver), name: &'static str| {
        let (mux, handle) = commonware_p2p::utils::mux::Muxer::new(context.child(name), sender, receiver);
        mux.start();
        handle
    };
    let mut votes = mux(control.register(consensus::CHANNEL_VOTES, quota).await.unwrap(), "byzantine_votes");
    let mut certificates = mux(
        control.register(consensus::CHANNEL_CERTIFICATES, quota).await.unwrap(),
        "byzantine_certificates",
    );
    for (epoch, set) in epochs {
        let participants = commonware_utils::ordered::Set::from_iter_dedup(set.iter().cloned());
        let scheme =
            consensus::Scheme::signer(npchain_api::CONSENSUS_NAMESPACE, participants, validator_key(bad))
                .expect("the Byzantine node is in the set");
        Equivocator::<_, _, _, commonware_cryptography::Sha256>::new(
            context.child("byzantine").with_attribute("epoch", *epoch),
            Config {
                scheme,
                elector: commonware_consensus::simplex::elector::RoundRobin::<commonware_cryptography::Sha256>::default(),
                epoch: commonware_consensus::types::Epoch::new(*epoch),
                relay: Arc::new(Relay::new()),
            },
        )
        .start(votes.register(*epoch).await.unwrap(), certificates.register(*epoch).await.unwrap());
    }
}
