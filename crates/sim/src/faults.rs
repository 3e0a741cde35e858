//! Fault scenarios on a fixed validator set: crashes, partitions and loss; a Byzantine
//! validator (the engine's own mocks); a peer gossiping garbage.

use crate::harness::*;
use commonware_cryptography::Signer;
use commonware_runtime::{Clock, Quota, Runner, Supervisor as _};
use commonware_utils::NZU32;
use npchain_core::PublicKey;
use npchain_node::consensus;
use rand::{RngExt as _, SeedableRng, rngs::StdRng};
use std::time::Duration;
/// Runs one seeded schedule: traffic to random nodes, lossy links, one crash and restart (between
/// commits or inside one), one partition and heal. Returns what the nodes agree on.
pub fn run_faulty(seed: u64) -> Agreement {
    runner(seed).start(|context| async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let lossy = rng.random_bool(0.5);
        let oracle = network(&context, &mut rng, lossy).await;
        let mut nodes = Vec::new();
        for i in 0..VALIDATORS {
            nodes.push(Some(start_node(&context, &oracle, i, None).await));
        }
        let chain_id = nodes[0].as_ref().unwrap().chain.chain_id();
        let mut submitted = Vec::new();
        let mut k = 0u64;
        let crash = rng.random_range(0..VALIDATORS);
        let partitioned = (crash + 1 + rng.random_range(0..VALIDATORS - 1)) % VALIDATORS;

        for phase in 0..6 {
            // Some traffic, each transaction to one random running node.
            for _ in 0..rng.random_range(3..12) {
                let op = rng.random_range(0..VALIDATORS);
                let target = loop {
                    let t = rng.random_range(0..VALIDATORS);
                    // Not to the node about to crash, nor to the cut-off one: what only the
                    // pool of a node killed before its gossip left holds is lost with it (the
                    // client sends it again), and that is no finalized transaction.
                    if nodes[t].is_some() && !(phase == 1 && t == crash) && !(phase == 3 && t == partitioned)
                    {
                        break t;
                    }
                };
                let node = nodes[target].as_ref().unwrap();
                let tx = bind(&chain_id, op, k, now_ms(&context));
                node.chain.submit(&tx).expect("fresh transaction is pooled");
                node.gossip.send(&[bytes::Bytes::from(tx.clone())]);
                submitted.push((op, k));
                k += 1;
            }
            let live: Vec<usize> = (0..VALIDATORS).filter(|i| nodes[*i].is_some()).collect();
            let target = live.iter().map(|i| nodes[*i].as_ref().unwrap().chain.height()).max().unwrap() + 3;
            match phase {
                1 => {
                    // kill a node: only what it wrote survives
                    let mid_commit = rng.random_bool(0.5);
                    let saved = kill(&context, &mut nodes, crash, mid_commit).await;
                    let what = "three validators to commit without the fourth";
                    wait_all_but(&context, &nodes, crash, target, what).await;
                    nodes[crash] = Some(start_node(&context, &oracle, crash, Some(saved)).await);
                }
                3 => {
                    for other in 0..VALIDATORS {
                        if other != partitioned {
                            disconnect(&oracle, partitioned, other).await;
                        }
                    }
                    let what = "the majority side to commit during a partition";
                    wait_all_but(&context, &nodes, partitioned, target, what).await;
                    for other in 0..VALIDATORS {
                        if other != partitioned {
                            connect(&oracle, &mut rng, partitioned, other, lossy).await;
                        }
                    }
                }
                _ => {
                    let all: Vec<_> = nodes.iter().map(|n| n.as_ref().unwrap().chain.clone()).collect();
                    let what = format!("all validators to commit up to {target} in phase {phase}");
                    wait_for(&context, &what, || {
                        STATE.with(|s| *s.borrow_mut() = describe(&all));
                        all.iter().all(|c| c.height() >= target)
                    })
                    .await;
                }
            }
        }
        let chains: Vec<_> = nodes.iter().map(|n| n.as_ref().unwrap().chain.clone()).collect();
        settle_and_check(&context, &chains, &submitted).await
    })
}

/// Which misbehaviour the Byzantine validator shows.
#[derive(Clone, Copy, Debug)]
pub enum Byzantine {
    /// Votes for the proposal and for a random conflicting digest in every round.
    Conflicter,
    /// As leader, sends different proposals to different validators.
    Equivocator,
}

/// Three honest validators and one Byzantine one (the engine's own mocks): the honest ones
/// keep committing every transaction and agree at every height.
pub fn run_byzantine(seed: u64, kind: Byzantine) -> Agreement {
    runner(seed).start(|context| async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let oracle = network(&context, &mut rng, false).await;
        let bad = VALIDATORS - 1;
        let validators: Vec<PublicKey> = (0..VALIDATORS).map(|v| validator_key(v).public_key()).collect();
        match kind {
            Byzantine::Conflicter => {
                use commonware_consensus::simplex::mocks::conflicter::{Config, Conflicter};
                let participants = commonware_utils::ordered::Set::from_iter_dedup(validators);
                let scheme = npchain_node::consensus::Scheme::signer(
                    npchain_api::CONSENSUS_NAMESPACE,
                    participants,
                    validator_key(bad),
                )
                .expect("a validator signs");
                let control = oracle.control(validator_key(bad).public_key());
                let quota = Quota::per_second(NZU32!(100_000));
                // Honest nodes speak on per-epoch subchannels; the mock gets epoch 0's.
                let (sender, receiver) = control.register(consensus::CHANNEL_VOTES, quota).await.unwrap();
                let (mux, mut votes) = commonware_p2p::utils::mux::Muxer::new(
                    context.child("byzantine_votes"),
                    sender,
                    receiver,
                );
                mux.start();
                Conflicter::<_, _, commonware_cryptography::Sha256>::new(
                    context.child("byzantine"),
                    Config { scheme },
                )
                .start(votes.register(0).await.unwrap());
            }
            Byzantine::Equivocator => equivocate(&context, &oracle, bad, &[(0, validators)]).await,
        }
        let mut nodes = Vec::new();
        for i in 0..bad {
            nodes.push(start_node(&context, &oracle, i, None).await);
        }
        let chain_id = nodes[0].chain.chain_id();
        let mut submitted = Vec::new();
        for k in 0..24u64 {
            let node = &nodes[rng.random_range(0..bad)];
            let op = rng.random_range(0..VALIDATORS);
            let tx = bind(&chain_id, op, k, now_ms(&context));
            node.chain.submit(&tx).expect("fresh transaction is pooled");
            node.gossip.send(&[bytes::Bytes::from(tx.clone())]);
            submitted.push((op, k));
            if k % 6 == 5 {
                let chains: Vec<_> = nodes.iter().map(|n| n.chain.clone()).collect();
                let target = chains.iter().map(|c| c.height()).max().unwrap() + 2;
                wait_for(&context, "honest validators to commit", || {
                    chains.iter().all(|c| c.height() >= target)
                })
                .await;
            }
        }
        let chains: Vec<_> = nodes.iter().map(|n| n.chain.clone()).collect();
        settle_and_check(&context, &chains, &submitted).await
    })
}

/// Three honest validators; the fourth only gossips what is no transaction (a message that
/// does not decode, then a well-formed message carrying bytes that are no transaction). Each
/// time, every honest node blocks it, and the three go on committing.
pub fn run_garbage(seed: u64) -> Agreement {
    runner(seed).start(|context| async move {
        use commonware_codec::Encode as _;
        use commonware_p2p::{Recipients, Sender as _};
        let mut rng = StdRng::seed_from_u64(seed);
        let oracle = network(&context, &mut rng, false).await;
        let rogue = VALIDATORS - 1;
        let rogue_key = validator_key(rogue).public_key();
        let control = oracle.control(rogue_key.clone());
        let quota = Quota::per_second(NZU32!(100_000));
        let (mut gossip, _) = control.register(consensus::CHANNEL_TXS, quota).await.unwrap();
        let mut nodes = Vec::new();
        for i in 0..rogue {
            nodes.push(start_node(&context, &oracle, i, None).await);
        }
        let honest: Vec<PublicKey> = (0..rogue).map(|i| validator_key(i).public_key()).collect();
        // Announces two transactions, the first of 5 bytes, and ends after 2.
        let undecodable = bytes::Bytes::from_static(b"\x02\x05ab");
        assert!(consensus::decode_gossip(&undecodable).is_err());
        let not_a_tx = vec![bytes::Bytes::from_static(b"not a transaction")].encode();
        for message in [undecodable, not_a_tx] {
            gossip.send(Recipients::All, message, false);
            let mut attempts = 0;
            loop {
                let by = oracle.blocked().await.unwrap();
                if honest.iter().all(|h| by.iter().any(|(from, to)| from == h && *to == rogue_key)) {
                    break;
                }
                attempts += 1;
                assert!(
                    attempts < 300,
                    "stalled: the garbage sender not blocked by every honest node after 30 s: {by:?}"
                );
                context.sleep(Duration::from_millis(100)).await;
            }
            for h in &honest {
                oracle.unblock(h.clone(), rogue_key.clone()).await.unwrap();
            }
        }
        let chain_id = nodes[0].chain.chain_id();
        let mut submitted = Vec::new();
        for k in 0..6u64 {
            let tx = bind(&chain_id, 0, k, now_ms(&context));
            nodes[0].chain.submit(&tx).expect("fresh transaction is pooled");
            nodes[0].gossip.send(&[bytes::Bytes::from(tx)]);
            submitted.push((0, k));
        }
        let chains: Vec<_> = nodes.iter().map(|n| n.chain.clone()).collect();
        settle_and_check(&context, &chains, &submitted).await
    })
}

/// Four validators and an observer (a node that follows the chain without validating). The
/// observer is cut off, accepts transactions while it is (their gossip is lost), and is joined
/// again. No validator holds them, and the observer never proposes: they commit only because it
/// gossips again what still waits in its pool.
pub fn run_cut_off_observer(seed: u64) -> Agreement {
    runner(seed).start(|context| async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let lossy = rng.random_bool(0.5);
        let observer = VALIDATORS;
        let oracle = network_of(&context, &mut rng, lossy, VALIDATORS + 1).await;
        let genesis = genesis();
        let mut nodes = Vec::new();
        for i in 0..=observer {
            nodes.push(start_node_of(&context, &oracle, &genesis, VALIDATORS + 1, i, None).await);
        }
        let chains: Vec<_> = nodes.iter().map(|n| n.chain.clone()).collect();
        wait_for(&context, "the first blocks", || chains.iter().all(|c| c.height() >= 2)).await;
        for v in 0..VALIDATORS {
            disconnect(&oracle, observer, v).await;
        }
        let chain_id = nodes[0].chain.chain_id();
        let mut submitted = Vec::new();
        for k in 0..rng.random_range(1..8u64) {
            let op = rng.random_range(0..VALIDATORS);
            let tx = bind(&chain_id, op, k, now_ms(&context));
            nodes[observer].chain.submit(&tx).expect("fresh transaction is pooled");
            nodes[observer].gossip.send(&[bytes::Bytes::from(tx)]);
            submitted.push((op, k));
        }
        let validators = &chains[..VALIDATORS];
        let target = validators.iter().map(|c| c.height()).max().unwrap() + 3;
        wait_for(&context, "the validators to go on", || validators.iter().all(|c| c.height() >= target))
            .await;
        let held = validators.iter().map(|c| c.mempool_len()).sum::<usize>();
        assert_eq!(held, 0, "the cut-off observer's gossip reached a validator");
        for v in 0..VALIDATORS {
            connect(&oracle, &mut rng, observer, v, lossy).await;
        }
        settle_and_check(&context, &chains, &submitted).await
    })
}
