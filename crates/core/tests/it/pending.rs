//! Speculative execution: blocks executed on unfinalized parents (`Ledger::execute` on an
//! `Overlay` of their batches) and committed later (`Ledger::commit`).

use crate::harness::{Net, net, num, op};
use commonware_cryptography::lthash::LtHash;
use npchain_core::{
    Batch, BlockError, BlockOutcome, Digest, Executed, Ledger, MemStore, Meta, Overlay, Policy, PortRequest,
    ReadStore, Route, Store, Table, Timestamp, TxBody, VerifiedTx, store::Entry,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Every entry of every table.
fn dump(s: &impl ReadStore) -> Vec<(Table, Entry)> {
    Table::ALL
        .into_iter()
        .flat_map(|t| s.range(t, &[], None, usize::MAX).unwrap().into_iter().map(move |e| (t, e)))
        .collect()
}

// --- (a) an overlay reads as if its batches were committed

/// Tables the generated batches touch (neighbours, so that ranges meet table boundaries).
const TABLES: [Table; 3] = [Table::Config, Table::Operators, Table::OperatorKeys];

/// Short keys over a tiny alphabet: many collisions, empty keys, prefixes of one another.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..3, 0..3)
}

/// Changes (table index, key, value or deletion) and, maybe, the height of a meta.
type RawBatch = (Vec<(usize, Vec<u8>, Option<Vec<u8>>)>, Option<u64>);

fn batch() -> impl Strategy<Value = RawBatch> {
    (
        prop::collection::vec(
            (0..TABLES.len(), key(), prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 0..3))),
            0..10,
        ),
        prop::option::of(0u64..1000),
    )
}

fn to_batch((changes, height): &RawBatch) -> Batch {
    let changes: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>> =
        changes.iter().map(|(t, k, v)| ((TABLES[*t], k.clone()), v.clone())).collect();
    let meta = height.map(|height| {
        let mut accumulator = LtHash::new();
        accumulator.add(&height.to_be_bytes());
        Meta { height, block_time: Timestamp(height), accumulator }
    });
    Batch { changes, meta }
}

fn meta_of(s: &impl ReadStore) -> Option<(u64, Timestamp, [u8; 32])> {
    s.meta().unwrap().map(|m| (m.height, m.block_time, m.accumulator.checksum().0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Batches layered in an overlay answer `get`, `range` and `meta` exactly as a store to
    /// which the same batches were committed.
    #[test]
    fn an_overlay_reads_like_the_committed_batches(
        base in prop::collection::vec(batch(), 0..4),
        layers in prop::collection::vec(batch(), 0..5),
        queries in prop::collection::vec(
            (0..TABLES.len(), key(), prop::option::of(key()), prop_oneof![0usize..6, Just(usize::MAX)]),
            1..12,
        ),
    ) {
        let mut committed = MemStore::new();
        for b in &base {
            committed.commit(&to_batch(b)).unwrap();
        }
        let mut flat = committed.clone();
        let layers: Vec<Batch> = layers.iter().map(to_batch).collect();
        for b in &layers {
            flat.commit(b).unwrap();
        }
        let refs: Vec<&Batch> = layers.iter().collect();
        let overlay = Overlay::new(&committed, &refs);

        prop_assert_eq!(dump(&overlay), dump(&flat));
        prop_assert_eq!(meta_of(&overlay), meta_of(&flat));
        for (t, start, end, limit) in &queries {
            let t = TABLES[*t];
            prop_assert_eq!(
                overlay.range(t, start, end.as_deref(), *limit).unwrap(),
                flat.range(t, start, end.as_deref(), *limit).unwrap(),
                "range {:?} {:?}..{:?} limit {}", t, start, end, limit
            );
            prop_assert_eq!(overlay.get(t, start).unwrap(), flat.get(t, start).unwrap());
        }
        // the committed store itself is untouched
        let mut again = MemStore::new();
        for b in &base {
            again.commit(&to_batch(b)).unwrap();
        }
        prop_assert_eq!(dump(&committed), dump(&again));
    }
}

// --- (b), (c) executing on pending blocks, committing later

const NUMBERS: [&str; 4] = ["+49301000001", "+49301000002", "+49302000001", "+49303000001"];

/// Everything observable about a committed ledger: height, block time, state hash, tables, routes.
type Snapshot = (u64, Timestamp, Digest, Vec<(Table, Entry)>, Vec<Option<Route>>);

fn snapshot(l: &Ledger<MemStore>) -> Snapshot {
    let routes = NUMBERS.iter().map(|n| l.route(num(n))).collect();
    (l.height(), l.block_time(), l.state_hash(), dump(l.store()), routes)
}

fn assert_same_outcome(got: &BlockOutcome, want: &BlockOutcome) {
    assert_eq!(
        (got.height, got.block_time, got.state_hash, &got.results, &got.events),
        (want.height, want.block_time, want.state_hash, &want.results, &want.events),
    );
}

fn request(net: &Net, number: usize, donor: &str, recipient: &str, nonce: u64) -> PortRequest {
    PortRequest {
        numbers: vec![num(NUMBERS[number])],
        donor: op(donor),
        recipient: op(recipient),
        due: net.now,
        nonce,
    }
}

/// Blocks exercising most of the state machine: bindings, two orders (one released by the
/// donor, one by the donor's silence when its timer fires), activations, a return, refusals
/// (wrong signer, a replay) and the pruning of expired transaction ids. Returns each block
/// (time, transactions) and its outcome, applied one by one on a fresh ledger.
fn scripted_blocks() -> Vec<(Timestamp, Vec<VerifiedTx>, BlockOutcome)> {
    let mut net = net(Policy::default());
    let mut blocks = Vec::new();
    let mut block = |net: &mut Net, txs: Vec<VerifiedTx>| {
        let outcome = net.ledger.apply_block(net.ledger.height() + 1, net.now, &txs).unwrap();
        blocks.push((net.now, txs, outcome));
    };
    let alice = Net::subscriber("alice");
    let bob = Net::subscriber("bob");
    let bind_alice =
        net.sign("OPA", TxBody::Bind { number: num(NUMBERS[0]), subscriber: Some(alice.clone()) });
    let txs = vec![
        bind_alice.clone(),
        net.sign("OPB", TxBody::Bind { number: num(NUMBERS[2]), subscriber: Some(bob.clone()) }),
        net.sign("OPC", TxBody::Bind { number: num(NUMBERS[1]), subscriber: None }), // not OPC's
    ];
    block(&mut net, txs);
    net.advance_secs(1);
    let (r1, r2) = (request(&net, 0, "OPA", "OPB", 1), request(&net, 2, "OPB", "OPC", 2));
    let (p1, p2) = (r1.port_id(&alice), r2.port_id(&bob));
    let txs = vec![net.sign("alice", TxBody::RequestPort(r1)), net.sign("bob", TxBody::RequestPort(r2))];
    block(&mut net, txs);
    net.advance_secs(1);
    let txs = vec![
        net.sign("OPA", TxBody::Release { port: p1 }),
        net.sign("OPA", TxBody::Release { port: p2 }), // OPB is p2's donor
        bind_alice,                                    // replay
    ];
    block(&mut net, txs);
    let txs = vec![net.sign("OPB", TxBody::Activate { port: p1 })];
    block(&mut net, txs);
    net.advance_secs(5 * 3600); // past p2's donor deadline: deemed released
    block(&mut net, Vec::new());
    let txs = vec![
        net.sign("OPC", TxBody::Activate { port: p2 }),
        net.sign("OPB", TxBody::Return { number: num(NUMBERS[0]) }),
    ];
    block(&mut net, txs);
    net.advance_secs(2 * 86_400); // every transaction id expires
    block(&mut net, Vec::new());

    // The script does what it says, so the comparisons below are not about empty blocks.
    let ok: Vec<Vec<bool>> =
        blocks.iter().map(|(_, _, o)| o.results.iter().map(|(_, r)| r.is_ok()).collect()).collect();
    assert_eq!(
        ok,
        [
            vec![true, true, false],
            vec![true, true],
            vec![true, false, false],
            vec![true],
            vec![],
            vec![true, true],
            vec![]
        ]
    );
    assert!(!blocks[4].2.events.is_empty(), "the donor's silence fired in block 5");
    assert_eq!(net.ledger.route(num(NUMBERS[2])).unwrap().serving, op("OPC"));
    assert!(!net.ledger.route(num(NUMBERS[0])).unwrap().ported, "returned home");
    let hashes: std::collections::BTreeSet<_> = blocks.iter().map(|(_, _, o)| o.state_hash).collect();
    assert_eq!(hashes.len(), blocks.len(), "every block changed the state");
    blocks
}

/// From every committed height j: blocks j+1..=n executed speculatively, each on the ones
/// before it, give the outcomes of applying them one by one and change nothing; committed in
/// order they reach the same state.
#[test]
fn speculative_execution_matches_applying_block_by_block() {
    let blocks = scripted_blocks();
    let reference = {
        let mut net = net(Policy::default());
        for (time, txs, _) in &blocks {
            net.ledger.apply_block(net.ledger.height() + 1, *time, txs).unwrap();
        }
        snapshot(&net.ledger)
    };
    for j in 0..=blocks.len() {
        let mut ledger = net(Policy::default()).ledger;
        for (time, txs, _) in &blocks[..j] {
            ledger.apply_block(ledger.height() + 1, *time, txs).unwrap();
        }
        let before = snapshot(&ledger);
        let mut pending: Vec<Executed> = Vec::new();
        for (i, (time, txs, want)) in blocks.iter().enumerate().skip(j) {
            let parents: Vec<&Executed> = pending.iter().collect();
            let executed = ledger.execute(&parents, i as u64 + 1, *time, txs).unwrap();
            assert_same_outcome(executed.outcome(), want);
            assert_eq!((executed.height(), executed.state_hash()), (want.height, want.state_hash));
            pending.push(executed);
        }
        assert_eq!(snapshot(&ledger), before, "executing wrote nothing (from height {j})");
        for (executed, (_, _, want)) in pending.into_iter().zip(&blocks[j..]) {
            assert_same_outcome(&ledger.commit(executed).unwrap(), want);
            assert_eq!(ledger.state_hash(), want.state_hash);
        }
        assert_eq!(snapshot(&ledger), reference, "committed from height {j}");
    }
}

/// A block executed on another state than the committed one (a sibling of the committed
/// block, or the child of one) is refused, as is one out of order; either changes nothing.
#[test]
fn commit_refuses_another_parent_and_out_of_order_and_changes_nothing() {
    let mut net = net(Policy::default());
    let bind = net.sign("OPA", TxBody::Bind { number: num(NUMBERS[3]), subscriber: None });
    assert!(net.block(std::slice::from_ref(&bind))[0].is_err(), "OPA does not serve OPC's number");
    net.advance_secs(1);
    let a =
        net.sign("OPA", TxBody::Bind { number: num(NUMBERS[0]), subscriber: Some(Net::subscriber("s1")) });
    let b =
        net.sign("OPA", TxBody::Bind { number: num(NUMBERS[1]), subscriber: Some(Net::subscriber("s2")) });
    let c =
        net.sign("OPB", TxBody::Bind { number: num(NUMBERS[2]), subscriber: Some(Net::subscriber("s3")) });
    let ledger = &mut net.ledger;
    let (t, h) = (net.now, ledger.height());

    // two siblings at h + 1, each with the same child transactions at h + 2
    let a1 = ledger.execute(&[], h + 1, t, std::slice::from_ref(&a)).unwrap();
    let b1 = ledger.execute(&[], h + 1, t, std::slice::from_ref(&b)).unwrap();
    assert_ne!(a1.state_hash(), b1.state_hash());
    let a2 = ledger.execute(&[&a1], h + 2, t, std::slice::from_ref(&c)).unwrap();
    let b2 = ledger.execute(&[&b1], h + 2, t, std::slice::from_ref(&c)).unwrap();
    assert_ne!(a2.state_hash(), b2.state_hash());
    assert!(a2.outcome().results[0].1.is_ok() && b2.outcome().results[0].1.is_ok());

    // execute refuses heights that do not follow the pending chain
    assert!(matches!(ledger.execute(&[&a1], h + 1, t, &[]), Err(BlockError::AlreadyApplied { .. })));
    assert!(matches!(ledger.execute(&[&a1], h + 3, t, &[]), Err(BlockError::NotNext { .. })));

    // out of order: the child before its parent
    let before = snapshot(ledger);
    let got = ledger.commit(a2.clone());
    assert!(
        matches!(got, Err(BlockError::NotNext { height, got }) if height == h && got == h + 2),
        "{got:?}"
    );
    assert_eq!(snapshot(ledger), before);

    ledger.commit(a1.clone()).unwrap();
    assert_eq!(ledger.state_hash(), a1.state_hash());

    // the sibling, now one height behind
    let before = snapshot(ledger);
    let got = ledger.commit(b1);
    assert!(
        matches!(got, Err(BlockError::AlreadyApplied { height, got }) if height == h + 1 && got == h + 1),
        "{got:?}"
    );
    assert_eq!(snapshot(ledger), before);

    // the sibling's child: the right height, the wrong parent state
    let got = ledger.commit(b2);
    assert!(matches!(got, Err(BlockError::WrongParentState { height }) if height == h + 2), "{got:?}");
    assert_eq!(snapshot(ledger), before);

    // the right child still commits, to the state it was executed to
    ledger.commit(a2.clone()).unwrap();
    assert_eq!(ledger.state_hash(), a2.state_hash());
    assert_eq!(ledger.height(), h + 2);

    // and a block executed on another ledger's state (same height, other history) is refused
    let mut other = crate::harness::net(Policy::default());
    other.block(&[]);
    other.advance_secs(1);
    other.block(std::slice::from_ref(&b));
    other.block(&[]);
    assert_eq!(other.ledger.height(), h + 2);
    let foreign = other.ledger.execute(&[], h + 3, t, &[]).unwrap();
    let before = snapshot(&net.ledger);
    let got = net.ledger.commit(foreign);
    assert!(matches!(got, Err(BlockError::WrongParentState { .. })), "{got:?}");
    assert_eq!(snapshot(&net.ledger), before);
}

/// A block's weight (numbers touched) counts every number of a group at each step, whether
/// the order was requested earlier in the block, in a pending block or in a committed one,
/// and reads nothing but the parent state and the block.
#[test]
fn a_group_weighs_its_numbers_at_every_step() {
    let mut net = net(Policy::default());
    let alice = Net::subscriber("alice");
    let group: Vec<_> = (11..14).map(|k| num(&format!("+493010000{k}"))).collect();
    let binds: Vec<_> = group
        .iter()
        .map(|n| net.sign("OPA", TxBody::Bind { number: *n, subscriber: Some(alice.clone()) }))
        .collect();
    assert!(net.block(&binds).iter().all(Result::is_ok));
    let request = PortRequest {
        numbers: group.clone(),
        donor: op("OPA"),
        recipient: op("OPB"),
        due: net.now,
        nonce: 7,
    };
    let port = request.port_id(&alice);
    let request = net.sign("alice", TxBody::RequestPort(request));
    let release = net.sign("OPA", TxBody::Release { port });
    let activate = net.sign("OPB", TxBody::Activate { port });
    let bind = net.sign("OPA", TxBody::Bind { number: num(NUMBERS[0]), subscriber: None });
    let ledger = &net.ledger;
    let weigh = |pending: &[&Executed], txs: &[&VerifiedTx]| {
        let mut block = npchain_core::BlockWeight::default();
        let each: Vec<usize> = txs.iter().map(|tx| ledger.weigh(pending, &mut block, tx).unwrap()).collect();
        assert_eq!(block.total(), each.iter().sum::<usize>());
        each
    };

    // In one block: the request, then its steps.
    assert_eq!(weigh(&[], &[&request, &release, &activate, &bind]), [3, 3, 3, 1]);
    // An order nobody requested weighs one: executing refuses it.
    assert_eq!(weigh(&[], &[&release]), [1]);
    // Requested in a pending block, or in a committed one.
    let pending = ledger.execute(&[], ledger.height() + 1, net.now, std::slice::from_ref(&request)).unwrap();
    assert!(pending.outcome().results[0].1.is_ok());
    assert_eq!(weigh(&[&pending], &[&release, &activate]), [3, 3]);
    net.ledger.commit(pending).unwrap();
    assert_eq!(weigh_committed(&net.ledger, &release), 3);
}

fn weigh_committed(ledger: &Ledger<MemStore>, tx: &VerifiedTx) -> usize {
    ledger.weigh(&[], &mut npchain_core::BlockWeight::default(), tx).unwrap()
}
