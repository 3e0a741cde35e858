//! The simulation harness: a simulated network of nodes running the real wiring, with the
//! ledger and block log in memory, and the waits and agreement checks every scenario uses.

use crate::crash::{CrashPoint, SimLog, SimStore};
use commonware_cryptography::Signer;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock, Handle, Spawner, Supervisor as _, deterministic};
use commonware_utils::NZUsize;
use npchain_api::Block;
use npchain_core::{
    E164, Genesis, Ledger, MemStore, PrivateKey, PublicKey, Timestamp, Transaction, TxBody, types::Digest,
};
use npchain_node::{
    chain::{Chain, MemBlockLog, mempool::Mempool},
    config::Timing,
    consensus::{self, Channels, Gossip, Wiring},
};
use npchain_testkit::{GENESIS_MS, GenesisBuilder, key};
use rand::{RngExt as _, rngs::StdRng};
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

pub const VALIDATORS: usize = 4;

/// A simulated node's chain: the real one, on a ledger and block log in memory.
pub type SimChain = Chain<SimStore, SimLog>;

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
    genesis_of(VALIDATORS)
}

/// `operators` operators (at most 10), each with a validator and holding +49301<i>.
pub fn genesis_of(operators: usize) -> Genesis {
    (0..operators)
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
#[allow(missing_debug_implementations)] // the engine's task handle and gossip have no Debug
pub struct Node {
    pub chain: SimChain,
    pub gossip: Arc<Gossip<SimSender>>,
    pub task: Handle<()>,
    /// Where a crash inside one of its commits can be placed.
    pub crash_point: Arc<CrashPoint>,
}

/// What a node keeps on disk (redb in production): the committed ledger store and block log.
pub type Durable = (MemStore, MemBlockLog);

/// What survives a crash between two commits: the committed ledger store and the block log.
pub fn durable(chain: &SimChain) -> Durable {
    use npchain_node::chain::BlockLog as _;
    let store = chain.with_ledger(|l| l.store().store.clone());
    let height = store_height(&store);
    let mut log = MemBlockLog::default();
    for record in (1..=height).filter_map(|h| chain.block(h).unwrap()) {
        log.put(&record).unwrap();
    }
    (store, log)
}

/// Kills node `i`: aborts its task tree and waits until it is gone, so that nothing runs after
/// the snapshot. What survives is what a killed process leaves on disk: everything committed
/// (`mid_commit` false), or, if the node is committing, the state between the log write and the
/// ledger commit of the next block (`mid_commit` true; see [`CrashPoint`]).
pub async fn kill(context: &Sim, nodes: &mut [Option<Node>], i: usize, mid_commit: bool) -> Durable {
    let node = nodes[i].as_ref().expect("the node runs");
    if mid_commit {
        node.crash_point.arm(node.chain.height() + 1);
        let point = node.crash_point.clone();
        let chain = node.chain.clone();
        // The node keeps committing while the others do; a cut-off node never reaches the
        // armed commit, and is killed between commits instead.
        let mut waited = 0;
        while point.frozen().is_none() && waited < 100 {
            STATE.with(|s| *s.borrow_mut() = describe(std::slice::from_ref(&chain)));
            context.sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
    }
    let node = nodes[i].take().unwrap();
    node.task.abort();
    let _ = node.task.await;
    node.crash_point.frozen().unwrap_or_else(|| durable(&node.chain))
}

pub fn store_height(store: &MemStore) -> u64 {
    npchain_core::ReadStore::meta(store).unwrap().map_or(0, |m| m.height)
}

/// Starts node `i` of the four validators of [`genesis`].
pub async fn start_node(
    context: &Sim,
    oracle: &Oracle<PublicKey, Sim>,
    i: usize,
    restored: Option<Durable>,
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
    restored: Option<Durable>,
) -> Node {
    let crash_point = Arc::new(CrashPoint::default());
    let (ledger, log) = match restored {
        Some((store, log)) => {
            let store = SimStore::new(store, crash_point.clone());
            (Ledger::open(store).expect("a simulated node's ledger opens"), log)
        }
        None => {
            let store = SimStore::new(MemStore::new(), crash_point.clone());
            let ledger = Ledger::genesis(store, genesis, std::iter::empty()).expect("the genesis loads");
            (ledger, MemBlockLog::default())
        }
    };
    let log = SimLog::new(log, crash_point.clone());
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
        let started =
            consensus::start(ctx, wiring, channels).await.expect("a simulated node's archives open");
        let _ = gossip_tx.send(started.gossip.clone());
        futures::future::join_all(started.handles).await;
    });
    let gossip = gossip_rx.await.expect("node started");
    Node { chain, gossip, task, crash_point }
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
    network_with(context, rng, nodes, |rng| link(rng, lossy)).await
}

/// A simulated network joining every pair of `nodes` nodes, each direction of each pair with
/// a link drawn by `link`.
pub async fn network_with(
    context: &Sim,
    rng: &mut StdRng,
    nodes: usize,
    mut link: impl FnMut(&mut StdRng) -> Link,
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
            let (pa, pb) = (validator_key(a).public_key(), validator_key(b).public_key());
            let _ = oracle.add_link(pa.clone(), pb.clone(), link(rng)).await;
            let _ = oracle.add_link(pb, pa, link(rng)).await;
        }
    }
    oracle
}

/// Polls `cond` every 100 ms of virtual time for up to 300 s; whether it came true.
pub async fn wait_until(context: &Sim, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..3_000 {
        if cond() {
            return true;
        }
        context.sleep(Duration::from_millis(100)).await;
    }
    false
}

/// As [`wait_until`], and a timeout is a failure of the run: the network stalled.
pub async fn wait_for(context: &Sim, what: &str, cond: impl FnMut() -> bool) {
    if !wait_until(context, cond).await {
        let state = STATE.with(|s| s.borrow().clone());
        panic!("stalled: 300 s of virtual time waiting for {what} ({state})");
    }
}

pub fn describe(chains: &[SimChain]) -> String {
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

/// What a run's honest nodes agree on, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Heights every honest node holds, each compared across all of them.
    pub heights: u64,
    /// Heights at which some node holds another block (digest, state hash, transactions or
    /// outcomes) than the first node.
    pub divergent: u64,
    /// Transactions that a node accepted, or that one node finalized, missing from some
    /// node's chain at the end.
    pub lost: u64,
    /// Transactions finalized more than once in one node's chain.
    pub duplicated: u64,
    /// The first few lost transactions, and which node lacks each.
    pub missing: Vec<String>,
    /// The epochs every honest node finalized blocks in.
    pub epochs: Vec<u64>,
    /// The first node's block digest and state hash at the last height all of them hold.
    pub tip: Option<(Digest, Digest)>,
}

impl Agreement {
    /// No divergence, no loss, no duplicate, and at least one block.
    pub fn holds(&self) -> bool {
        self.heights > 0 && self.divergent == 0 && self.lost == 0 && self.duplicated == 0
    }
}

/// Whether `bind(op, k)` is applied on the chain: the number is bound to a subscriber.
fn bound(chain: &SimChain, op: usize, k: u64) -> bool {
    chain.with_ledger(|l| l.number(number(op, k)).unwrap()).is_some_and(|r| r.subscriber.is_some())
}

/// Waits until every submitted transaction is applied on every node and all reached the same
/// height (or 300 s of virtual time pass: then the loss shows in the counts), and compares them.
pub async fn settle_and_check(context: &Sim, chains: &[SimChain], submitted: &[(usize, u64)]) -> Agreement {
    let settled = wait_until(context, || {
        STATE.with(|s| *s.borrow_mut() = describe(chains));
        chains.iter().all(|c| submitted.iter().all(|(op, k)| bound(c, *op, *k)))
    })
    .await;
    if settled {
        let top = chains.iter().map(|c| c.height()).max().unwrap();
        wait_for(context, "all nodes at the same height", || chains.iter().all(|c| c.height() >= top)).await;
    }
    let refs: Vec<_> = chains.iter().collect();
    check_agreement(&refs, submitted)
}

/// Compares the honest nodes: the same block (digest, state hash, transactions and outcomes)
/// at every height they all reached, each transaction finalized once, every submitted one
/// applied, and every transaction one node finalized present in every other's chain.
pub fn check_agreement(nodes: &[&SimChain], submitted: &[(usize, u64)]) -> Agreement {
    let common = nodes.iter().map(|c| c.height()).min().unwrap_or(0);
    let mut agreement = Agreement { heights: common, ..Agreement::default() };
    for h in 1..=common {
        let blocks: Vec<_> = nodes.iter().map(|c| c.block(h).unwrap()).collect();
        if blocks.iter().any(|b| b.is_none() || *b != blocks[0]) {
            agreement.divergent += 1;
        }
    }
    let mut finalized = Vec::new();
    for c in nodes {
        let mut seen = BTreeMap::new();
        for block in (1..=c.height()).filter_map(|h| c.block(h).unwrap()) {
            for tx in block.txs {
                *seen.entry(tx.id).or_insert(0u32) += 1;
            }
        }
        agreement.duplicated += seen.values().filter(|n| **n > 1).count() as u64;
        finalized.push(seen);
    }
    let all: std::collections::BTreeSet<_> = finalized.iter().flat_map(|s| s.keys()).collect();
    for id in all {
        let lacking: Vec<usize> = (0..nodes.len()).filter(|i| !finalized[*i].contains_key(id)).collect();
        if !lacking.is_empty() {
            agreement.lost += 1;
            agreement.missing.push(format!("finalized tx {id} missing on nodes {lacking:?}"));
        }
    }
    for &(op, k) in submitted {
        let lacking: Vec<usize> = (0..nodes.len()).filter(|i| !bound(nodes[*i], op, k)).collect();
        if !lacking.is_empty() {
            agreement.lost += 1;
            agreement.missing.push(format!("bind of {} not applied on nodes {lacking:?}", number(op, k)));
        }
    }
    if agreement.lost > 0 {
        // what the ledger refused, if that is where a transaction went
        for block in (1..=common).filter_map(|h| nodes[0].block(h).unwrap()) {
            for tx in &block.txs {
                if let npchain_node::storage::TxOutcome::Rejected { code, message } = &tx.outcome {
                    agreement
                        .missing
                        .push(format!("block {} refused {}: {code}: {message}", block.height, tx.id));
                }
            }
        }
    }
    agreement.missing.truncate(5);
    let epochs_of = |c: &&SimChain| -> std::collections::BTreeSet<u64> {
        c.with_ledger(|l| (1..=l.height()).map(|h| l.epoch_of(h)).collect())
    };
    let mut epochs = nodes.first().map(epochs_of).unwrap_or_default();
    for c in nodes.iter().skip(1) {
        epochs = epochs.intersection(&epochs_of(c)).copied().collect();
    }
    agreement.epochs = epochs.into_iter().collect();
    agreement.tip = nodes.first().and_then(|c| c.block(common).unwrap()).map(|b| (b.digest, b.state_hash));
    agreement
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
                elector: consensus::FirstLeaderTwice,
                epoch: commonware_consensus::types::Epoch::new(*epoch),
                relay: Arc::new(Relay::new()),
            },
        )
        .start(votes.register(*epoch).await.unwrap(), certificates.register(*epoch).await.unwrap());
    }
}
