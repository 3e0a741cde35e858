//! Multi-process tests on loopback: real `npchain node` processes, real p2p, redb, HTTP.
//! Every wait is bounded; every process is killed when its test ends (also on failure).

mod support;

use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::{Digestible, Signer};
use npchain_api::{Block, ProofChecker, ProofError};
use npchain_core::{Genesis, Timestamp};
use std::{collections::HashSet, time::Duration};
use support::{Net, get, wait_until};

const LONG: Duration = Duration::from_secs(90);

/// Ids of every transaction node `i` holds in finalized blocks 1..=its height.
fn committed_ids(net: &Net, i: usize) -> HashSet<String> {
    let h = net.height(i).unwrap_or(0);
    (1..=h).filter_map(|b| net.block(i, b)).flat_map(|b| b.txs).map(|t| t.id).collect()
}

fn all_at_least(net: &Net, nodes: &[usize], h: u64) -> bool {
    nodes.iter().all(|i| net.height(*i).is_some_and(|x| x >= h))
}

fn max_height(net: &Net, nodes: &[usize]) -> u64 {
    nodes.iter().filter_map(|i| net.height(*i)).max().unwrap_or(0)
}

/// Every node in `nodes` holds the same block (digest, time, state hash, txs) at every height
/// up to the lowest of their heights.
fn assert_same_chain(net: &Net, nodes: &[usize]) -> u64 {
    let common = nodes.iter().map(|i| net.height(*i).unwrap()).min().unwrap();
    let reference = net.blocks(nodes[0], common);
    for &i in &nodes[1..] {
        assert_eq!(net.blocks(i, common), reference, "node {i} differs from node {}", nodes[0]);
    }
    common
}

fn submit_binds(net: &mut Net, to: usize, first: u64, count: u64) -> Vec<String> {
    let chain = net.chain_id(to);
    let time = net.status(to).unwrap()["block_time_ms"].as_u64().unwrap();
    (first..first + count)
        .map(|k| {
            let tx = net.bind_tx(&chain, (k % 4) as usize, k, time);
            net.submit(to, &tx)
        })
        .collect()
}

#[test]
fn validators_commit_survive_a_kill_and_an_observer_catches_up() {
    let mut net = Net::new(4);
    let observer = net.add_observer();
    net.start_all();
    wait_until(LONG, "all four validators to finalize blocks", || all_at_least(&net, &[0, 1, 2, 3], 2));

    // Transactions sent to one node reach the proposers and commit on every node.
    let ids = submit_binds(&mut net, 3, 0, 6);
    wait_until(LONG, "the transactions sent to node 3 to commit on every node", || {
        (0..4).all(|i| {
            let got = committed_ids(&net, i);
            ids.iter().all(|id| got.contains(id))
        })
    });
    assert_same_chain(&net, &[0, 1, 2, 3]);

    // Each block comes with its finalization certificate: a quorum of the genesis validators'
    // signatures over the block digest, which anyone holding the genesis can check offline.
    check_finalization(&net, 0, 2);
    check_finalization(&net, 3, net.height(3).unwrap());

    // kill -9 one validator: the other three keep committing.
    net.kill(2);
    let h = max_height(&net, &[0, 1, 3]);
    let more = submit_binds(&mut net, 1, 100, 4);
    wait_until(LONG, "three validators to commit without the fourth", || {
        all_at_least(&net, &[0, 1, 3], h + 3) && {
            let got = committed_ids(&net, 0);
            more.iter().all(|id| got.contains(id))
        }
    });

    // Restarted, it catches up from its peers and matches.
    net.start(2);
    let target = max_height(&net, &[0, 1, 3]);
    wait_until(LONG, "the restarted validator to catch up", || all_at_least(&net, &[2], target));
    assert_same_chain(&net, &[0, 1, 2, 3]);

    // An observer (not a validator) joins late and catches up.
    net.start_observer(observer);
    let target = max_height(&net, &[0, 1, 2, 3]);
    let url = net.observer_url(observer);
    wait_until(LONG, "the observer to catch up", || {
        get(url, "/v1/status").and_then(|s| s["height"].as_u64()).is_some_and(|h| h >= target)
    });
    let status = get(url, "/v1/status").unwrap();
    assert!(status["operator"].is_null(), "an observer is no operator: {status}");
    for h in 1..=target {
        let theirs = get(url, &format!("/v1/blocks/{h}")).expect("observer has the block");
        let ours = serde_json::to_value(net.block(0, h).unwrap()).unwrap();
        assert_eq!(theirs, ours, "observer differs at height {h}");
    }
}

#[test]
fn without_a_quorum_commits_stop_and_resume_without_divergence() {
    let mut net = Net::new(4);
    net.start_all();
    wait_until(LONG, "all four validators to finalize blocks", || all_at_least(&net, &[0, 1, 2, 3], 2));
    net.kill(2);
    net.kill(3);
    // Let a finalization already under way land, then the height must stand still. This is
    // the one bounded wait on time itself: no event announces that nothing happens.
    std::thread::sleep(Duration::from_millis(1_500));
    let stalled = max_height(&net, &[0, 1]);
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(max_height(&net, &[0, 1]), stalled, "two of four validators finalized a block");
    }
    assert_same_chain(&net, &[0, 1]);
    net.start(3);
    wait_until(LONG, "commits to resume with three of four", || all_at_least(&net, &[0, 1, 3], stalled + 3));
    assert_same_chain(&net, &[0, 1, 3]);
}

#[test]
fn a_validator_killed_in_a_loop_loses_no_committed_block() {
    let mut net = Net::new(4);
    net.start_all();
    wait_until(LONG, "all four validators to finalize blocks", || all_at_least(&net, &[0, 1, 2, 3], 2));
    let mut ids = Vec::new();
    for round in 0..5u64 {
        ids.extend(submit_binds(&mut net, 0, round * 10, 3));
        let before = net.height(1).unwrap_or(0);
        wait_until(LONG, "node 1 to apply more blocks before it is killed", || {
            net.height(1).is_some_and(|h| h > before)
        });
        net.kill(1);
        net.start(1);
    }
    wait_until(LONG, "every transaction to commit", || {
        let got = committed_ids(&net, 0);
        ids.iter().all(|id| got.contains(id))
    });
    let target = max_height(&net, &[0]);
    wait_until(LONG, "the crashed node to catch up", || all_at_least(&net, &[1], target));
    let common = assert_same_chain(&net, &[0, 1, 2, 3]);
    assert!(common >= target);
    let on_crashed = committed_ids(&net, 1);
    assert!(
        ids.iter().all(|id| on_crashed.contains(id)),
        "a committed transaction is missing on the crashed node"
    );
}

#[test]
fn a_node_refuses_a_ledger_made_from_another_genesis() {
    let mut net = Net::new(4);
    net.start(0);
    wait_until(LONG, "node 0 to initialise its ledger and answer", || net.status(0).is_some());
    net.kill(0);
    let genesis = net.layout.dir.join("genesis.toml");
    let text = std::fs::read_to_string(&genesis).unwrap();
    std::fs::write(&genesis, text.replace("npchain-devnet", "npchain-elsewhere")).unwrap();
    let (status, log) = net.run_to_exit(0, LONG);
    assert!(!status.success());
    assert!(log.contains("another genesis"), "{log}");
}

/// Fetches the finality proof of block `h` from node `i` and checks it offline against the
/// validator set of the genesis file; a tampered block, a tampered certificate and another
/// validator set must not check out.
fn check_finalization(net: &Net, i: usize, h: u64) {
    let genesis =
        Genesis::from_toml(&std::fs::read_to_string(net.layout.dir.join("genesis.toml")).unwrap()).unwrap();
    let mut checker = ProofChecker::with_epochs(
        genesis.operators.iter().map(|o| o.validator_key.clone()),
        genesis.blocks_per_epoch,
    );
    let proof = |h: u64| {
        let answer = get(net.url(i), &format!("/v1/blocks/{h}/finalization")).expect("proof served");
        let hex = |k: &str| commonware_formatting::from_hex(answer[k].as_str().unwrap()).unwrap();
        (hex("block"), hex("finalization"))
    };
    // Each epoch's set before `h`'s, from the boundary blocks, as a wallet learns them.
    while checker.known() <= checker.epoch_of(h) {
        let boundary = checker.last_height(checker.known() - 1).unwrap();
        let (block, certificate) = proof(boundary);
        checker.learn(&block, &certificate).expect("the boundary holds");
    }
    let (block, certificate) = proof(h);
    let proven = checker.check(&block, &certificate).expect("the proof holds");
    let info = net.block(i, h).unwrap();
    assert_eq!((proven.height, proven.digest().to_string()), (h, info.digest), "certifies block {h}");

    let mut forged = certificate.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(checker.check(&block, &forged).is_err(), "a tampered certificate");
    let mut other = Block::decode(block.clone()).unwrap();
    other.time = Timestamp(other.time.millis() + 1);
    assert!(
        matches!(checker.check(&other.encode(), &certificate), Err(ProofError::OtherBlock { .. })),
        "a block with another time is not the certified one"
    );
    let strangers =
        ProofChecker::new((0..4).map(|s| npchain_testkit::key(&format!("stranger{s}")).public_key()));
    assert!(matches!(strangers.check(&block, &certificate), Err(ProofError::BadSignatures)));
}
