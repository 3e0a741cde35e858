//! The application state without consensus: building, verifying and finalizing blocks, and
//! what it refuses (bad blocks, bad transactions) without changing anything.

use bytes::Bytes;
use commonware_codec::Encode;
use commonware_cryptography::{Digestible, Hasher as _, Signer};
use npchain_api::Block;
use npchain_core::{
    E164, Genesis, PortRequest, PrivateKey, Timestamp, Transaction, TxBody,
    tx::{ChainId, MAX_GROUP},
};
use npchain_node::{
    api::SubmitError,
    chain::{Finalized, InvalidBlock, MAX_BLOCK_WEIGHT, MAX_CLOCK_DRIFT_MS, MAX_PENDING, mempool::Mempool},
};
use npchain_testkit::{GENESIS_MS as T0, GenesisBuilder, key};
use support::TestChain;

mod support;

/// OPA (holding +49301) and OPB.
fn genesis() -> Genesis {
    GenesisBuilder::new("npchain-chain-test")
        .operator("OPA", "+49D001")
        .operator("OPB", "+49D002")
        .range("+49301", "OPA")
        .build()
}

fn chain(pool: Mempool) -> TestChain {
    support::chain(&genesis(), pool)
}

fn genesis_block(c: &TestChain) -> Block {
    Block::genesis(Timestamp(T0), c.chain_id())
}

fn bind(chain_id: &ChainId, k: u64, expires: u64) -> Vec<u8> {
    let number: E164 = format!("+49301{k:06}").parse().unwrap();
    Transaction {
        nonce: k,
        expires_at: Timestamp(expires),
        signer: key("OPA").public_key(),
        body: TxBody::Bind { number, subscriber: Some(key(&format!("subscriber{k}")).public_key()) },
    }
    .sign(chain_id, &key("OPA"))
    .encode()
    .to_vec()
}

fn now(ms: u64) -> Timestamp {
    Timestamp(T0 + ms)
}

#[test]
fn submit_refuses_garbage_bad_signatures_duplicates_expired_and_replays() {
    let c = chain(Mempool::default());
    let id = c.chain_id();
    assert!(matches!(c.submit(b"garbage"), Err(SubmitError::Malformed(_))));
    assert!(matches!(c.submit(&vec![0u8; 200 * 1024]), Err(SubmitError::Malformed(_))));
    // signed for another network
    let other = ChainId(commonware_cryptography::Sha256::hash(&[b"other"]));
    assert!(matches!(c.submit(&bind(&other, 1, T0 + 60_000)), Err(SubmitError::Invalid(_))));
    // one flipped bit in the signature
    let mut tampered = bind(&id, 1, T0 + 60_000);
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(c.submit(&tampered), Err(SubmitError::Invalid(_))));
    assert!(matches!(c.submit(&bind(&id, 1, T0 - 1)), Err(SubmitError::Expired { .. })));
    assert!(matches!(c.submit(&bind(&id, 1, T0 + 30 * 24 * 3_600_000)), Err(SubmitError::Invalid(_))));
    assert_eq!(c.mempool_len(), 0, "nothing refused was pooled");

    let good = bind(&id, 1, T0 + 60_000);
    c.submit(&good).unwrap();
    assert!(matches!(c.submit(&good), Err(SubmitError::Duplicate(_))));
    // once committed, the same bytes are a replay
    let g = genesis_block(&c);
    let b1 = c.build(&g, g.digest(), now(1_000)).unwrap();
    assert_eq!(b1.txs.len(), 1);
    assert!(matches!(c.finalize(&b1, b1.digest()).unwrap(), Finalized::Applied(_)));
    assert_eq!(c.mempool_len(), 0, "committed transactions leave the pool");
    assert!(matches!(c.submit(&good), Err(SubmitError::Committed(_))));
}

#[test]
fn a_full_pool_says_so() {
    let c = chain(Mempool::new(2, 1 << 20));
    let id = c.chain_id();
    c.submit(&bind(&id, 1, T0 + 60_000)).unwrap();
    c.submit(&bind(&id, 2, T0 + 60_000)).unwrap();
    assert!(matches!(c.submit(&bind(&id, 3, T0 + 60_000)), Err(SubmitError::Full(2))));
}

#[test]
fn another_node_verifies_what_one_builds_and_both_finalize_to_the_same_state() {
    let proposer = chain(Mempool::default());
    let verifier = chain(Mempool::default());
    let id = proposer.chain_id();
    for k in 0..5 {
        proposer.submit(&bind(&id, k, T0 + 600_000)).unwrap();
    }
    let g = genesis_block(&proposer);
    // two blocks on top of each other before either is finalized
    let b1 = proposer.build(&g, g.digest(), now(1_000)).unwrap();
    let b2 = proposer.build(&b1, b1.digest(), now(2_000)).unwrap();
    assert_eq!(b1.txs.len(), 5);
    assert!(b2.txs.is_empty(), "transactions already on the branch are not proposed again");
    verifier.verify(&b1, b1.digest(), now(1_000)).unwrap();
    verifier.verify(&b2, b2.digest(), now(2_000)).unwrap();
    for c in [&proposer, &verifier] {
        c.finalize(&b1, b1.digest()).unwrap();
        c.finalize(&b2, b2.digest()).unwrap();
        // delivered again after a restart: acknowledged, nothing changes
        assert!(matches!(c.finalize(&b1, b1.digest()).unwrap(), Finalized::AlreadyApplied));
    }
    assert_eq!(proposer.state_hash(), verifier.state_hash());
    // a finalized height holds exactly the finalized block, not any block at that height
    assert!(verifier.holds_valid(&b1.digest(), 1));
    let other = Block { time: now(1_001), ..b1.clone() };
    assert!(!verifier.holds_valid(&other.digest(), 1));
    assert!(!verifier.holds_valid(&b2.digest(), 3));
    assert_eq!(proposer.block(2).unwrap(), verifier.block(2).unwrap());
    assert_eq!(verifier.height(), 2);
}

#[test]
fn bad_blocks_are_refused_and_change_nothing() {
    let proposer = chain(Mempool::default());
    let verifier = chain(Mempool::default());
    let id = proposer.chain_id();
    proposer.submit(&bind(&id, 1, T0 + 600_000)).unwrap();
    let g = genesis_block(&proposer);
    let good = proposer.build(&g, g.digest(), now(1_000)).unwrap();
    let before = verifier.state_hash();

    let check = |block: Block, at: Timestamp| verifier.verify(&block, block.digest(), at).unwrap_err();
    let wrong_state = Block { state_hash: commonware_cryptography::Sha256::hash(&[b"x"]), ..good.clone() };
    assert!(matches!(check(wrong_state, now(1_000)), InvalidBlock::StateHash { .. }));
    let early = Block { time: Timestamp(T0 - 1), ..good.clone() };
    assert!(matches!(check(early, now(1_000)), InvalidBlock::TimeBackwards { .. }));
    let ahead = Block { time: now(10_000 + MAX_CLOCK_DRIFT_MS + 1), ..good.clone() };
    assert!(matches!(check(ahead, now(10_000)), InvalidBlock::TimeAhead { .. }));
    let garbage = Block { txs: vec![Bytes::from_static(b"junk")], ..good.clone() };
    assert!(matches!(check(garbage, now(1_000)), InvalidBlock::Transaction { .. }));
    let twice = Block { txs: vec![good.txs[0].clone(), good.txs[0].clone()], ..good.clone() };
    assert!(matches!(check(twice, now(1_000)), InvalidBlock::DuplicateTx { .. }));
    let orphan =
        Block { parent: commonware_cryptography::Sha256::hash(&[b"nowhere"]), height: 2, ..good.clone() };
    assert!(matches!(check(orphan, now(1_000)), InvalidBlock::UnknownParent { .. }));
    let mut forged_sig = good.txs[0].to_vec();
    let last = forged_sig.len() - 1;
    forged_sig[last] ^= 1;
    let forged = Block { txs: vec![Bytes::from(forged_sig)], ..good.clone() };
    assert!(matches!(check(forged, now(1_000)), InvalidBlock::Transaction { .. }));

    assert_eq!(verifier.state_hash(), before);
    assert_eq!(verifier.height(), 0);
    verifier.verify(&good, good.digest(), now(1_000)).unwrap();
}

#[test]
fn a_finalized_block_that_does_not_compute_halts_the_node() {
    let proposer = chain(Mempool::default());
    let follower = chain(Mempool::default());
    let g = genesis_block(&proposer);
    let good = proposer.build(&g, g.digest(), now(1_000)).unwrap();
    let lying = Block { state_hash: commonware_cryptography::Sha256::hash(&[b"lie"]), ..good.clone() };
    assert!(follower.finalize(&lying, lying.digest()).is_err());
    assert!(follower.halted().is_some());
    assert_eq!(follower.height(), 0);
    // halted: it refuses to go on, and says so to clients
    assert!(follower.finalize(&good, good.digest()).is_err());
    assert!(matches!(
        follower.submit(&bind(&follower.chain_id(), 1, T0 + 60_000)),
        Err(SubmitError::Unavailable(_))
    ));
}

#[test]
fn blocks_out_of_order_are_a_gap_not_a_guess() {
    let proposer = chain(Mempool::default());
    let follower = chain(Mempool::default());
    let g = genesis_block(&proposer);
    let b1 = proposer.build(&g, g.digest(), now(1_000)).unwrap();
    let b2 = proposer.build(&b1, b1.digest(), now(2_000)).unwrap();
    assert!(follower.finalize(&b2, b2.digest()).is_err());
    assert_eq!(follower.height(), 0);
}

/// A subscriber's request to port a group of the largest size (the numbers need not be bound:
/// a block's weight counts what executing it reads, refused or not).
fn group_request(chain_id: &ChainId, nonce: u64) -> Vec<u8> {
    let request = PortRequest {
        numbers: (0..MAX_GROUP as u64).map(|k| E164::from_value(49_301_000_000 + k).unwrap()).collect(),
        donor: "OPA".parse().unwrap(),
        recipient: "OPB".parse().unwrap(),
        due: Timestamp(0),
        nonce,
    };
    Transaction {
        nonce,
        expires_at: Timestamp(T0 + 600_000),
        signer: key("stranger").public_key(),
        body: TxBody::RequestPort(request),
    }
    .sign(chain_id, &key("stranger"))
    .encode()
    .to_vec()
}

#[test]
fn a_proposal_heavier_than_a_block_may_be_is_refused_before_it_runs() {
    let proposer = chain(Mempool::default());
    let verifier = chain(Mempool::default());
    let id = proposer.chain_id();
    let groups: Vec<Vec<u8>> = (0..3).map(|n| group_request(&id, n)).collect();
    for g in &groups {
        proposer.submit(g).unwrap();
    }
    // An honest proposer keeps within the limit, and its block is voted for.
    let g = genesis_block(&proposer);
    let b1 = proposer.build(&g, g.digest(), now(1_000)).unwrap();
    assert!(!b1.txs.is_empty() && b1.txs.len() * MAX_GROUP <= MAX_BLOCK_WEIGHT);
    verifier.verify(&b1, b1.digest(), now(1_000)).unwrap();

    // A Byzantine one packs three full groups (within the byte and count limits).
    let before = verifier.state_hash();
    let heavy = Block { txs: groups.into_iter().map(Bytes::from).collect(), ..b1.clone() };
    match verifier.verify(&heavy, heavy.digest(), now(1_000)) {
        Err(InvalidBlock::TooHeavy { height: 1, weight }) => assert_eq!(weight, 3 * MAX_GROUP),
        other => panic!("expected TooHeavy, got {other:?}"),
    }
    assert_eq!(verifier.state_hash(), before);
    assert!(!verifier.holds_valid(&heavy.digest(), 1));
}

#[test]
fn forks_nobody_builds_on_are_dropped_and_what_is_dropped_can_still_be_finalized() {
    // While nothing finalizes, every view may bring a new proposal to execute: what a node
    // keeps of them is bounded, and the branch in use stays whole.
    let proposer = chain(Mempool::default());
    let verifier = chain(Mempool::default());
    let id = proposer.chain_id();
    proposer.submit(&bind(&id, 1, T0 + 600_000)).unwrap();
    let g = genesis_block(&proposer);
    let mut forks = Vec::new();
    let mut branch = vec![g.clone()];
    for step in 0..3u64 {
        // Proposals on the genesis that nobody builds on...
        for i in 0..60 {
            let fork = proposer.build(&g, g.digest(), now(1_000 + step * 100 + i)).unwrap();
            verifier.verify(&fork, fork.digest(), now(2_000)).unwrap();
            forks.push(fork);
        }
        // ...and the branch that grows.
        let tip = branch.last().unwrap();
        let next = proposer.build(tip, tip.digest(), now(3_000 + step)).unwrap();
        verifier.verify(&next, next.digest(), now(4_000)).unwrap();
        branch.push(next);
    }
    let tip = branch.last().unwrap().clone();
    assert!(forks.len() > MAX_PENDING);
    for c in [&proposer, &verifier] {
        assert!(c.pending_blocks() <= MAX_PENDING, "{} pending", c.pending_blocks());
        assert!(c.knows(&tip.digest(), tip.height), "the branch in use is kept");
        assert!(!c.knows(&forks[0].digest(), 1), "the least recently used fork is gone");
    }
    // Building on the branch in use needs all of it.
    let top = verifier.build(&tip, tip.digest(), now(5_000)).unwrap();
    assert_eq!(top.height, 4);
    // A dropped fork that consensus hands over again is executed again...
    proposer.absorb(&[std::sync::Arc::new(forks[0].clone())]).unwrap();
    assert!(proposer.knows(&forks[0].digest(), 1));
    // Finalizing the branch's first block keeps the rest of the branch, and only that.
    let first = &branch[1];
    proposer.finalize(first, first.digest()).unwrap();
    assert_eq!(proposer.pending_blocks(), 2);
    assert!(proposer.knows(&tip.digest(), tip.height));
    // A dropped fork that consensus finalizes after all is executed again.
    let dropped = &forks[1];
    assert!(matches!(verifier.finalize(dropped, dropped.digest()).unwrap(), Finalized::Applied(_)));
    assert_eq!(verifier.state_hash(), dropped.state_hash);
    assert_eq!(verifier.pending_blocks(), 0, "what does not build on the finalized block is gone");
}

/// A finalization certificate as the engine assembles it: finalize votes of `signers` (members
/// of `validators`) over `block` in round (`epoch`, `view`), in its canonical encoding.
fn engine_finalization(
    validators: &[PrivateKey],
    signers: &[PrivateKey],
    epoch: u64,
    view: u64,
    block: &Block,
) -> Vec<u8> {
    use commonware_consensus::{
        simplex::types::{Finalization, Finalize, Proposal},
        types::{Epoch, Round, View},
    };
    use commonware_utils::ordered::Set;
    use npchain_api::CONSENSUS_NAMESPACE;
    type Scheme = npchain_node::consensus::Scheme;

    let participants = Set::from_iter_dedup(validators.iter().map(|k| k.public_key()));
    let proposal = Proposal {
        round: Round::new(Epoch::new(epoch), View::new(view)),
        parent: View::new(view - 1),
        payload: block.digest(),
    };
    let votes: Vec<_> = signers
        .iter()
        .map(|k| {
            let scheme = Scheme::signer(CONSENSUS_NAMESPACE, participants.clone(), k.clone()).unwrap();
            Finalize::sign(&scheme, proposal.clone()).unwrap()
        })
        .collect();
    let verifier = Scheme::verifier(CONSENSUS_NAMESPACE, participants);
    Finalization::from_finalizes(
        &verifier,
        commonware_utils::iter::NonEmpty::try_new(votes.iter()).unwrap(),
        &commonware_parallel::Sequential,
    )
    .unwrap()
    .encode()
    .to_vec()
}

/// The wire crate reads and checks finalization certificates without the consensus engine's
/// crate: one the engine assembles from a quorum of finalize votes over a block passes, and a
/// short quorum, another validator set, another block or a changed byte do not.
#[test]
fn the_wire_crate_checks_the_engines_finalization_certificates() {
    use npchain_api::{ProofChecker, ProofError};

    let keys: Vec<PrivateKey> = (0..4).map(|s| key(&format!("validator{s}"))).collect();
    let block = Block::genesis(Timestamp(T0), ChainId(commonware_cryptography::Sha256::hash(&[b"c"])));
    let other = Block { height: 1, parent: block.digest(), ..block.clone() };
    let quorum = engine_finalization(&keys, &keys[..3], 0, 41, &block);
    let checker = ProofChecker::new(keys.iter().map(|k| k.public_key()));
    assert_eq!(checker.check(&block.encode(), &quorum).unwrap(), block);

    assert!(matches!(checker.check(&other.encode(), &quorum), Err(ProofError::OtherBlock { .. })));
    let strangers = ProofChecker::new((0..4).map(|s| key(&format!("stranger{s}")).public_key()));
    assert!(matches!(strangers.check(&block.encode(), &quorum), Err(ProofError::BadSignatures)));
    // Three signers are not a quorum of five (the engine would not assemble two of four).
    let larger =
        ProofChecker::new(keys.iter().map(|k| k.public_key()).chain([key("validator4").public_key()]));
    assert!(larger.check(&block.encode(), &quorum).is_err());
    let mut longer = quorum.clone();
    longer.push(0);
    assert!(matches!(checker.check(&block.encode(), &longer), Err(ProofError::MalformedCertificate(_))));
    let mut flipped = quorum.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(matches!(checker.check(&block.encode(), &flipped), Err(ProofError::BadSignatures)));
    // The round is signed: the same signatures over another view do not hold.
    let mut other_view = quorum.clone();
    other_view[1] ^= 1;
    assert!(matches!(checker.check(&block.encode(), &other_view), Err(ProofError::BadSignatures)));
    // The round names its epoch: the genesis block is in epoch 0, not 3.
    let later = engine_finalization(&keys, &keys[..3], 3, 41, &block);
    assert!(matches!(
        checker.check(&block.encode(), &later),
        Err(ProofError::WrongEpoch { height: 0, certified: 3, epoch: 0 })
    ));
    // The wallet's tests make certificates without the engine: they are the engine's, byte for byte.
    let publics: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
    assert_eq!(npchain_api::proof::testing::finalization(&publics, &keys[..3], 0, 41, &block), quorum);
}

/// Across epochs with the engine's certificates: each epoch's set is learned from the last block
/// of the epoch before, finalized by that epoch's set; a later epoch is refused until then, and
/// a forged set change teaches nothing.
#[test]
fn the_checker_learns_each_epochs_set_from_the_boundary_the_previous_set_finalized() {
    use npchain_api::{ProofChecker, ProofError};

    let set = |name: &str| -> Vec<PrivateKey> { (0..4).map(|s| key(&format!("{name}{s}"))).collect() };
    let sorted = |keys: &[PrivateKey]| {
        let mut keys: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        keys.sort();
        keys
    };
    let (a, b, c, strangers) = (set("validator-a"), set("validator-b"), set("validator-c"), set("stranger"));
    let chain_id = ChainId(commonware_cryptography::Sha256::hash(&[b"epochs"]));
    let block = |height: u64, next_validators: Vec<_>| Block {
        parent: commonware_cryptography::Sha256::hash(&[&height.to_be_bytes()]),
        height,
        next_validators,
        ..Block::genesis(Timestamp(T0 + height), chain_id)
    };
    let proof = |keys: &[PrivateKey], epoch: u64, block: &Block| {
        (block.encode().to_vec(), engine_finalization(keys, &keys[1..], epoch, 100 + block.height, block))
    };
    // four blocks an epoch: the last blocks of epochs 0 and 1 are heights 3 and 7
    let mut checker = ProofChecker::with_epochs(sorted(&a), std::num::NonZeroU64::new(4).unwrap());
    let end0 = proof(&a, 0, &block(3, sorted(&b)));
    let end1 = proof(&b, 1, &block(7, sorted(&c)));
    let late = proof(&c, 2, &block(9, Vec::new()));

    // a block of epoch 2 before the epoch 1 boundary is learned
    assert!(matches!(checker.check(&late.0, &late.1), Err(ProofError::UnknownEpoch { epoch: 2, known: 1 })));
    // forged set changes: by a set that is not epoch 0's, inside the epoch, signed by the new set
    let forged = [
        proof(&strangers, 0, &block(3, sorted(&strangers))),
        proof(&a, 0, &block(2, sorted(&strangers))),
        proof(&b, 0, &block(3, sorted(&b))),
        proof(&b, 1, &block(3, sorted(&b))),
    ];
    let refusals: Vec<_> = forged.iter().map(|(bl, cert)| checker.learn(bl, cert).unwrap_err()).collect();
    assert!(matches!(refusals[0], ProofError::BadSignatures), "{}", refusals[0]);
    assert!(matches!(refusals[1], ProofError::SetOutsideBoundary { height: 2, epoch: 0 }), "{}", refusals[1]);
    assert!(matches!(refusals[2], ProofError::BadSignatures), "{}", refusals[2]);
    assert!(matches!(refusals[3], ProofError::WrongEpoch { certified: 1, epoch: 0, .. }), "{}", refusals[3]);
    assert_eq!(checker.known(), 1, "nothing learned from a forgery");

    assert_eq!(checker.learn(&end0.0, &end0.1).unwrap(), 1);
    assert!(matches!(checker.check(&late.0, &late.1), Err(ProofError::UnknownEpoch { epoch: 2, known: 2 })));
    assert_eq!(checker.learn(&end1.0, &end1.1).unwrap(), 2);
    // three epochs, three sets
    for (keys, epoch, height) in [(&a, 0, 1), (&b, 1, 5), (&c, 2, 9)] {
        let (bl, cert) = proof(keys, epoch, &block(height, Vec::new()));
        assert_eq!(checker.check(&bl, &cert).unwrap().height, height);
    }
    let (bl, cert) = proof(&b, 2, &block(9, Vec::new()));
    assert!(matches!(checker.check(&bl, &cert), Err(ProofError::BadSignatures)));
}
