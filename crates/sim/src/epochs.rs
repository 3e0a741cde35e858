//! Validator-set changes under faults. Four validators (OPA–OPD) start; OPE's node follows from
//! the start. The regulator admits OPE with a validator key in epoch 0, so it validates from
//! epoch 1; it retires OPB in epoch 1, so epoch 2 has OPA, OPC, OPD and OPE. Along the way a
//! node crashes and restarts from what it had committed, links lose messages, and a node is cut
//! off and rejoined. In epoch 2, with OPB's node gone and OPA's cut off, only OPC, OPD and OPE
//! remain: the chain goes on only if OPE's votes count. Every honest node must hold the same
//! blocks, every submitted transaction must be applied once, each epoch's last block must name
//! the next epoch's set, and every node must have finalized blocks in every epoch.

use crate::harness::*;
use commonware_cryptography::Signer;
use commonware_runtime::Runner;
use npchain_core::{Genesis, PublicKey, Timestamp, Transaction, TxBody, tx::ChainId};
use npchain_testkit::key;
use rand::{RngExt as _, SeedableRng, rngs::StdRng};

/// Nodes in the network: the four genesis validators and OPE's.
const NODES: usize = 5;
/// Short epochs, so that a run crosses several.
pub const PER_EPOCH: u64 = 12;
const OPE: usize = 4;
const OPB: usize = 1;

fn genesis() -> Genesis {
    let mut genesis = genesis_of(VALIDATORS);
    genesis.blocks_per_epoch = std::num::NonZeroU64::new(PER_EPOCH).unwrap();
    genesis
}

fn regulator_tx(chain: &ChainId, nonce: u64, now_ms: u64, body: TxBody) -> Vec<u8> {
    let regulator = key("regulator");
    let tx = Transaction {
        nonce: 1_000_000 + nonce,
        expires_at: Timestamp(now_ms + 600_000),
        signer: regulator.public_key(),
        body,
    };
    commonware_codec::Encode::encode(&tx.sign(chain, &regulator)).to_vec()
}

/// Submits to a random running node but those in `avoid` (one about to crash, or OPB, which
/// leaves: what only its pool holds is lost with it, as with any node), which gossips it.
fn send(nodes: &[Option<Node>], avoid: &[usize], rng: &mut StdRng, tx: Vec<u8>) {
    let live: Vec<&Node> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| !avoid.contains(i))
        .filter_map(|(_, n)| n.as_ref())
        .collect();
    let node = live[rng.random_range(0..live.len())];
    node.chain.submit(&tx).expect("fresh transaction is pooled");
    node.gossip.send(&[bytes::Bytes::from(tx)]);
}

fn admit_ope() -> TxBody {
    TxBody::AdmitOperator {
        id: operator_id(OPE).parse().unwrap(),
        name: "Operator OPE".into(),
        operator_key: operator_key(OPE).public_key(),
        validator_key: Some(validator_key(OPE).public_key()),
        routing_number: "+49D005".parse().unwrap(),
    }
}

fn retire_opb() -> TxBody {
    TxBody::RetireOperator { id: operator_id(OPB).parse().unwrap() }
}

/// The chains of the running nodes.
fn chains(nodes: &[Option<Node>]) -> Vec<SimChain> {
    nodes.iter().flatten().map(|n| n.chain.clone()).collect()
}

/// Whether every running node reached `height` (and what they hold, for a timeout's report).
fn reached(nodes: &[Option<Node>], height: u64) -> impl FnMut() -> bool + use<> {
    let all = chains(nodes);
    move || {
        STATE.with(|s| *s.borrow_mut() = describe(&all));
        all.iter().all(|c| c.height() >= height)
    }
}

/// A few binds of OPA's, OPC's and OPD's numbers, each sent to a random running node.
fn traffic(
    context: &Sim,
    chain: &ChainId,
    nodes: &[Option<Node>],
    avoid: &[usize],
    rng: &mut StdRng,
    submitted: &mut Vec<(usize, u64)>,
) {
    for _ in 0..rng.random_range(2..6) {
        let (op, k) = ([0, 2, 3][rng.random_range(0..3)], submitted.len() as u64);
        send(nodes, avoid, rng, bind(chain, op, k, now_ms(context)));
        submitted.push((op, k));
    }
}

fn epoch_set(chain: &SimChain, epoch: u64) -> Option<Vec<PublicKey>> {
    chain.validator_sets().0.into_iter().find(|(e, _)| *e == epoch).map(|(_, set)| set)
}

fn sorted(nodes: &[usize]) -> Vec<PublicKey> {
    let mut keys: Vec<PublicKey> = nodes.iter().map(|i| validator_key(*i).public_key()).collect();
    keys.sort();
    keys
}

/// One seeded run; returns what the honest nodes agree on.
pub fn run_epochs(seed: u64) -> Agreement {
    runner(seed).start(|context| async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let lossy = rng.random_bool(0.5);
        let genesis = genesis();
        let oracle = network_of(&context, &mut rng, lossy, NODES).await;
        let mut nodes: Vec<Option<Node>> = Vec::new();
        for i in 0..NODES {
            nodes.push(Some(start_node_of(&context, &oracle, &genesis, NODES, i, None).await));
        }
        let chain_id = nodes[0].as_ref().unwrap().chain.chain_id();
        let mut submitted = Vec::new();
        let mut traffic = |nodes: &[Option<Node>], avoid: &[usize], rng: &mut StdRng| {
            traffic(&context, &chain_id, nodes, avoid, rng, &mut submitted)
        };

        // Epoch 0: the regulator admits OPE with its validator key.
        traffic(&nodes, &[], &mut rng);
        send(&nodes, &[], &mut rng, regulator_tx(&chain_id, 0, now_ms(&context), admit_ope()));
        wait_for(&context, "epoch 1", reached(&nodes, PER_EPOCH + 2)).await;
        for c in chains(&nodes) {
            assert_eq!(epoch_set(&c, 1), Some(sorted(&[0, 1, 2, 3, OPE])), "OPE validates from epoch 1");
        }

        // Epoch 1: a crash and restart, a partition, and the regulator retires OPB.
        let crash = rng.random_range(0..NODES);
        traffic(&nodes, &[crash, OPB], &mut rng);
        let mid_commit = rng.random_bool(0.5);
        let saved = kill(&context, &mut nodes, crash, mid_commit).await;
        send(&nodes, &[OPB], &mut rng, regulator_tx(&chain_id, 1, now_ms(&context), retire_opb()));
        traffic(&nodes, &[OPB], &mut rng);
        let height = chains(&nodes).iter().map(|c| c.height()).max().unwrap();
        wait_for(&context, "four of five to go on without the crashed node", reached(&nodes, height + 3))
            .await;
        nodes[crash] = Some(start_node_of(&context, &oracle, &genesis, NODES, crash, Some(saved)).await);
        let cut = (crash + 1 + rng.random_range(0..NODES - 1)) % NODES;
        for other in (0..NODES).filter(|o| *o != cut) {
            disconnect(&oracle, cut, other).await;
        }
        traffic(&nodes, &[OPB], &mut rng);
        let height = chains(&nodes).iter().map(|c| c.height()).max().unwrap();
        wait_all_but(&context, &nodes, cut, height + 2, "the connected side to go on during a partition")
            .await;
        for other in (0..NODES).filter(|o| *o != cut) {
            connect(&oracle, &mut rng, cut, other, lossy).await;
        }
        wait_for(&context, "epoch 2", reached(&nodes, 2 * PER_EPOCH + 2)).await;
        for c in chains(&nodes) {
            assert_eq!(epoch_set(&c, 2), Some(sorted(&[0, 2, 3, OPE])), "OPB left in epoch 2");
        }

        // Epoch 2: OPB's node is gone and OPA's is cut off. OPC, OPD and OPE are three of the four
        // validators: a quorum only with OPE's votes.
        traffic(&nodes, &[OPB], &mut rng);
        let gone = nodes[OPB].take().unwrap();
        gone.task.abort();
        let _ = gone.task.await;
        for other in (0..NODES).filter(|o| *o != 0) {
            disconnect(&oracle, 0, other).await;
        }
        traffic(&nodes, &[OPB], &mut rng);
        let height = chains(&nodes).iter().map(|c| c.height()).max().unwrap();
        let three: Vec<SimChain> =
            [2, 3, OPE].iter().map(|i| nodes[*i].as_ref().unwrap().chain.clone()).collect();
        wait_for(&context, "OPC, OPD and OPE to finalize on their own", || {
            three.iter().all(|c| c.height() >= height + 3)
        })
        .await;
        for other in (0..NODES).filter(|o| *o != 0 && nodes[*o].is_some()) {
            connect(&oracle, &mut rng, 0, other, lossy).await;
        }
        let all = chains(&nodes);
        let mut agreement = settle_and_check(&context, &all, &submitted).await;
        // OPB's stopped node agrees on everything it had applied.
        let opb = check_agreement(&[&all[0], &gone.chain], &[]);
        agreement.divergent += opb.divergent;
        agreement.duplicated += opb.duplicated;
        agreement
    })
}

/// The same changes with OPB Byzantine: in epochs 0 and 1 it runs the engine's equivocating
/// mock (as leader it proposes different blocks to different validators) instead of a node, on
/// lossy links. The honest nodes go on through both changes, agree at every height, and in
/// epoch 2, where OPB is no validator any more, survive a crash and restart as well.
pub fn run_epochs_with_an_equivocator(seed: u64) -> Agreement {
    runner(seed).start(|context| async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let lossy = rng.random_bool(0.5);
        let genesis = genesis();
        let oracle = network_of(&context, &mut rng, lossy, NODES).await;
        equivocate(&context, &oracle, OPB, &[(0, sorted(&[0, 1, 2, 3])), (1, sorted(&[0, 1, 2, 3, OPE]))])
            .await;
        let mut nodes: Vec<Option<Node>> = Vec::new();
        for i in 0..NODES {
            let node = if i == OPB {
                None
            } else {
                Some(start_node_of(&context, &oracle, &genesis, NODES, i, None).await)
            };
            nodes.push(node);
        }
        let chain_id = nodes[0].as_ref().unwrap().chain.chain_id();
        let mut submitted = Vec::new();
        let mut traffic = |nodes: &[Option<Node>], avoid: &[usize], rng: &mut StdRng| {
            traffic(&context, &chain_id, nodes, avoid, rng, &mut submitted)
        };

        traffic(&nodes, &[], &mut rng);
        send(&nodes, &[], &mut rng, regulator_tx(&chain_id, 0, now_ms(&context), admit_ope()));
        wait_for(&context, "epoch 1 despite the equivocator", reached(&nodes, PER_EPOCH + 2)).await;
        traffic(&nodes, &[], &mut rng);
        send(&nodes, &[], &mut rng, regulator_tx(&chain_id, 1, now_ms(&context), retire_opb()));
        wait_for(&context, "epoch 2 despite the equivocator", reached(&nodes, 2 * PER_EPOCH + 2)).await;
        for c in chains(&nodes) {
            assert_eq!(epoch_set(&c, 2), Some(sorted(&[0, 2, 3, OPE])), "the equivocator left in epoch 2");
        }

        // Epoch 2: one of the four honest validators crashes and restarts.
        let crash = [0, 2, 3, OPE][rng.random_range(0..4)];
        traffic(&nodes, &[crash], &mut rng);
        let mid_commit = rng.random_bool(0.5);
        let saved = kill(&context, &mut nodes, crash, mid_commit).await;
        let height = chains(&nodes).iter().map(|c| c.height()).max().unwrap();
        wait_for(&context, "three validators of epoch 2 to go on", reached(&nodes, height + 3)).await;
        nodes[crash] = Some(start_node_of(&context, &oracle, &genesis, NODES, crash, Some(saved)).await);
        traffic(&nodes, &[], &mut rng);
        let all = chains(&nodes);
        settle_and_check(&context, &all, &submitted).await
    })
}
