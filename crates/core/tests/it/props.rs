//! Properties of the state machine over random transaction sequences.

use crate::harness::{GENESIS_MS, genesis, key, num, op};
use commonware_cryptography::Signer;
use npchain_core::{
    E164, Ledger, MemStore, Policy, PortId, PortRequest, RejectReason, Route, SilenceRule, Timestamp,
    Transaction, TxBody, VerifiedTx,
};
use proptest::prelude::*;

const NUMBERS: [&str; 6] =
    ["+49301000001", "+49301000002", "+49301000003", "+49302000001", "+49302000002", "+49303000001"];
const OPS: [&str; 3] = ["OPA", "OPB", "OPC"];
const SUBSCRIBERS: [&str; 3] = ["s1", "s2", "s3"];
/// Signers an action may be given: operators, subscribers, a stranger, the regulator.
const SIGNERS: [&str; 8] = ["OPA", "OPB", "OPC", "s1", "s2", "s3", "mallory", "regulator"];
const WAITS: [u64; 5] = [0, 600, 3600, 5 * 3600, 2 * 86_400];

#[derive(Debug, Clone)]
enum Action {
    Bind { signer: usize, number: usize, subscriber: Option<usize> },
    Request { subscriber: usize, numbers: Vec<usize>, donor: usize, recipient: usize, due: usize },
    RequestFor { signer: usize, subscriber: usize, numbers: Vec<usize>, donor: usize, recipient: usize },
    Release { signer: usize, port: usize },
    Reject { signer: usize, port: usize, reason: usize },
    Activate { signer: usize, port: usize },
    Cancel { signer: usize, port: usize },
    Return { signer: usize, number: usize },
    Wait { secs: usize },
}

/// An action and whether to play it honestly (the right signer, a sensible target) or as given.
fn action() -> impl Strategy<Value = (Action, bool)> {
    (raw_action(), proptest::bool::weighted(0.8))
}

fn raw_action() -> impl Strategy<Value = Action> {
    let numbers = proptest::sample::subsequence((0..NUMBERS.len()).collect::<Vec<_>>(), 1..=3);
    prop_oneof![
        3 => (0..SIGNERS.len(), 0..NUMBERS.len(), proptest::option::weighted(0.9, 0..SUBSCRIBERS.len()))
            .prop_map(|(signer, number, subscriber)| Action::Bind { signer, number, subscriber }),
        3 => (0..SUBSCRIBERS.len(), numbers.clone(), 0..OPS.len(), 0..OPS.len(), 0..WAITS.len())
            .prop_map(|(subscriber, numbers, donor, recipient, due)| Action::Request { subscriber, numbers, donor, recipient, due }),
        1 => (0..SIGNERS.len(), 0..SUBSCRIBERS.len(), numbers, 0..OPS.len(), 0..OPS.len())
            .prop_map(|(signer, subscriber, numbers, donor, recipient)| Action::RequestFor { signer, subscriber, numbers, donor, recipient }),
        3 => (0..SIGNERS.len(), any::<usize>()).prop_map(|(signer, port)| Action::Release { signer, port }),
        1 => (0..SIGNERS.len(), any::<usize>(), 0..6usize).prop_map(|(signer, port, reason)| Action::Reject { signer, port, reason }),
        5 => (0..SIGNERS.len(), any::<usize>()).prop_map(|(signer, port)| Action::Activate { signer, port }),
        1 => (0..SIGNERS.len(), any::<usize>()).prop_map(|(signer, port)| Action::Cancel { signer, port }),
        2 => (0..SIGNERS.len(), 0..NUMBERS.len()).prop_map(|(signer, number)| Action::Return { signer, number }),
        2 => (0..WAITS.len()).prop_map(|secs| Action::Wait { secs }),
    ]
}

fn policy(deemed_release: bool) -> Policy {
    Policy {
        donor_answer_secs: 4 * 3600,
        on_donor_silence: if deemed_release { SilenceRule::DeemedRelease } else { SilenceRule::DeemedReject },
        activation_window_secs: 86_400,
        lock_in_secs: 86_400,
        return_quarantine_secs: 86_400,
        ..Policy::default()
    }
}

fn routes(ledger: &Ledger<MemStore>) -> Vec<Option<Route>> {
    NUMBERS.iter().map(|n| ledger.route(num(n))).collect()
}

/// Checks the structural invariants of the committed state.
fn check_consistency(ledger: &Ledger<MemStore>) {
    for n in NUMBERS.map(num) {
        let route = ledger.route(n).expect("every test number is in a range");
        let record = ledger.number(n).unwrap().unwrap_or_default();
        let holder = route.range_holder.clone().expect("in a range");
        // exactly one serving operator: the explicit one, else the range holder
        assert_eq!(route.serving, record.ported_to.clone().unwrap_or(holder.clone()), "{n}");
        assert_eq!(route.ported, route.serving != holder, "{n}");
        if let Some(port) = record.open_port {
            let order = ledger.order(&port).unwrap().expect("open port exists");
            assert!(order.is_open(), "{n}: open_port {port} points at a closed order");
            assert!(order.numbers.contains(&n));
            assert_eq!(order.donor, route.serving, "{n}: an open order's donor serves the number");
        }
    }
    for id in OPS.map(op) {
        for order in ledger.open_orders(&id, 100).unwrap() {
            assert!(order.is_open());
            assert!(order.donor == id || order.recipient == id);
            for n in &order.numbers {
                assert_eq!(ledger.number(*n).unwrap().unwrap().open_port, Some(order.id));
            }
        }
    }
}

struct Run {
    ledger: Ledger<MemStore>,
    now: Timestamp,
    ports: Vec<PortId>,
    nonce: u64,
    /// Every block applied: time and transactions, to replay elsewhere.
    blocks: Vec<(Timestamp, Vec<VerifiedTx>)>,
    hashes: Vec<npchain_core::Digest>,
}

impl Run {
    /// Signs and verifies; `None` for what a node refuses before any block (donor = recipient).
    fn sign(&mut self, signer: &str, body: TxBody) -> Option<VerifiedTx> {
        self.nonce += 1;
        let k = key(signer);
        let chain = self.ledger.chain_id();
        let tx = Transaction {
            nonce: self.nonce,
            expires_at: self.now.plus_secs(600),
            signer: k.public_key(),
            body,
        };
        match tx.sign(&chain, &k).verify(&chain) {
            Ok(tx) => Some(tx),
            Err(npchain_core::InvalidTx::SameOperator { .. }) => None,
            Err(e) => panic!("unexpected verification failure: {e}"),
        }
    }

    fn block(&mut self, txs: Vec<VerifiedTx>) -> Vec<bool> {
        let outcome = self.ledger.apply_block(self.ledger.height() + 1, self.now, &txs).unwrap();
        self.hashes.push(outcome.state_hash);
        self.blocks.push((self.now, txs));
        outcome.results.iter().map(|(_, r)| r.is_ok()).collect()
    }

    fn port(&self, i: usize) -> PortId {
        if self.ports.is_empty() {
            PortId(npchain_core::Digest([7; 32]))
        } else {
            self.ports[i % self.ports.len()]
        }
    }

    fn request(&mut self, numbers: &[usize], donor: usize, recipient: usize, due: u64) -> PortRequest {
        self.nonce += 1;
        PortRequest {
            numbers: numbers.iter().map(|i| num(NUMBERS[*i])).collect(),
            donor: op(OPS[donor]),
            recipient: op(OPS[recipient]),
            due: self.now.plus_secs(due),
            nonce: self.nonce,
        }
    }
}

fn sub_name(ledger: &Ledger<MemStore>, n: E164) -> Option<usize> {
    let bound = ledger.number(n).unwrap()?.subscriber?;
    SUBSCRIBERS.iter().position(|s| bound.is(&key(s).public_key()))
}

fn op_index(id: &npchain_core::OperatorId) -> usize {
    OPS.iter().position(|o| op(o) == *id).unwrap()
}

/// Makes an action honest: the signer the rules ask for, an open order, a serving donor.
fn honest(r: &Run, action: Action) -> Action {
    let serving = |i: usize| op_index(&r.ledger.route(num(NUMBERS[i])).unwrap().serving);
    let open: Vec<usize> = (0..r.ports.len())
        .filter(|i| r.ledger.order(&r.ports[*i]).unwrap().is_some_and(|o| o.is_open()))
        .collect();
    let pick = |port: usize| if open.is_empty() { port } else { open[port % open.len()] };
    let order = |port: usize| r.ledger.order(&r.port(port)).unwrap();
    match action {
        Action::Bind { number, subscriber, .. } => {
            Action::Bind { signer: serving(number), number, subscriber }
        }
        Action::Request { subscriber, numbers, recipient, due, .. } => {
            let donor = serving(numbers[0]);
            let subscriber = sub_name(&r.ledger, num(NUMBERS[numbers[0]])).unwrap_or(subscriber);
            let recipient = if recipient == donor { (donor + 1) % OPS.len() } else { recipient };
            Action::Request { subscriber, numbers, donor, recipient, due }
        }
        Action::RequestFor { subscriber, numbers, recipient, .. } => {
            let donor = serving(numbers[0]);
            let subscriber = sub_name(&r.ledger, num(NUMBERS[numbers[0]])).unwrap_or(subscriber);
            let recipient = if recipient == donor { (donor + 1) % OPS.len() } else { recipient };
            Action::RequestFor { signer: recipient, subscriber, numbers, donor, recipient }
        }
        Action::Release { signer, port } => {
            let port = pick(port);
            let signer = order(port).map_or(signer, |o| op_index(&o.donor));
            Action::Release { signer, port }
        }
        Action::Reject { signer, port, reason } => {
            let port = pick(port);
            let signer = order(port).map_or(signer, |o| op_index(&o.donor));
            Action::Reject { signer, port, reason }
        }
        Action::Activate { signer, port } => {
            let port = pick(port);
            let signer = order(port).map_or(signer, |o| op_index(&o.recipient));
            Action::Activate { signer, port }
        }
        Action::Cancel { signer, port } => {
            let port = pick(port);
            let signer = order(port)
                .and_then(|o| SUBSCRIBERS.iter().position(|s| o.subscriber.is(&key(s).public_key())))
                .map_or(signer, |i| 3 + i);
            Action::Cancel { signer, port }
        }
        Action::Return { number, .. } => Action::Return { signer: serving(number), number },
        wait => wait,
    }
}

fn run(actions: &[(Action, bool)], deemed_release: bool) -> Run {
    let ledger =
        Ledger::genesis(MemStore::new(), &genesis(policy(deemed_release)), std::iter::empty()).unwrap();
    let mut r = Run {
        ledger,
        now: Timestamp(GENESIS_MS),
        ports: Vec::new(),
        nonce: 0,
        blocks: Vec::new(),
        hashes: Vec::new(),
    };
    for (action, play_honest) in actions {
        let action = if *play_honest { honest(&r, action.clone()) } else { action.clone() };
        if let Action::Wait { secs } = action {
            r.now = r.now.plus_secs(WAITS[secs]);
            continue;
        }
        // An empty block first, so timers fire on their own and the transaction's block
        // changes nothing but what the transaction does.
        let before_tick = routes(&r.ledger);
        r.block(Vec::new());
        assert_eq!(before_tick, routes(&r.ledger), "timers never change routing");
        check_consistency(&r.ledger);
        let before = routes(&r.ledger);
        let hash_before = r.ledger.state_hash();
        let len_before = r.ledger.store().len();
        let open_before: Vec<Option<PortId>> =
            NUMBERS.iter().map(|n| r.ledger.number(num(n)).unwrap().and_then(|rec| rec.open_port)).collect();

        let (signer, body) = match action.clone() {
            Action::Bind { signer, number, subscriber } => (
                SIGNERS[signer],
                TxBody::Bind {
                    number: num(NUMBERS[number]),
                    subscriber: subscriber.map(|s| key(SUBSCRIBERS[s]).public_key()),
                },
            ),
            Action::Request { subscriber, numbers, donor, recipient, due } => {
                let req = r.request(&numbers, donor, recipient, WAITS[due]);
                (SUBSCRIBERS[subscriber], TxBody::RequestPort(req))
            }
            Action::RequestFor { signer, subscriber, numbers, donor, recipient } => {
                let request = r.request(&numbers, donor, recipient, 0);
                let consent = request.consent(&r.ledger.chain_id(), &key(SUBSCRIBERS[subscriber]));
                let subscriber = key(SUBSCRIBERS[subscriber]).public_key();
                (SIGNERS[signer], TxBody::RequestPortFor { request, subscriber, consent })
            }
            Action::Release { signer, port } => (SIGNERS[signer], TxBody::Release { port: r.port(port) }),
            Action::Reject { signer, port, reason } => {
                (SIGNERS[signer], TxBody::Reject { port: r.port(port), reason: RejectReason::ALL[reason] })
            }
            Action::Activate { signer, port } => (SIGNERS[signer], TxBody::Activate { port: r.port(port) }),
            Action::Cancel { signer, port } => (SIGNERS[signer], TxBody::Cancel { port: r.port(port) }),
            Action::Return { signer, number } => {
                (SIGNERS[signer], TxBody::Return { number: num(NUMBERS[number]) })
            }
            Action::Wait { .. } => unreachable!(),
        };
        let port_of_request = match &body {
            TxBody::RequestPort(req) => Some((req.port_id(&key(signer).public_key()), req.numbers.clone())),
            TxBody::RequestPortFor { request, subscriber, .. } => {
                Some((request.port_id(subscriber), request.numbers.clone()))
            }
            _ => None,
        };
        let Some(tx) = r.sign(signer, body.clone()) else { continue };
        let ok = r.block(vec![tx])[0];
        let after = routes(&r.ledger);

        if !ok {
            assert_eq!(r.ledger.state_hash(), hash_before, "a refused {} changed the state", body.kind());
            assert_eq!(r.ledger.store().len(), len_before);
        }
        // routing changes only through an applied activation or return, and only for its numbers
        let changed: Vec<E164> = NUMBERS
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| b != a)
            .map(|(n, _)| num(n))
            .collect();
        if !changed.is_empty() {
            assert!(ok, "a refused transaction changed routing");
            match &body {
                TxBody::Activate { port } => {
                    let order = r.ledger.order(port).unwrap().unwrap();
                    assert!(changed.iter().all(|n| order.numbers.contains(n)));
                }
                TxBody::Return { number } => assert_eq!(changed, vec![*number]),
                other => panic!("{} changed routing of {changed:?}", other.kind()),
            }
        }
        // an open order blocks a second one
        if let (Some((id, numbers)), true) = (port_of_request, ok) {
            for n in &numbers {
                let i = NUMBERS.iter().position(|x| num(x) == *n).unwrap();
                assert_eq!(open_before[i], None, "{n} had an open order, yet a second was accepted");
            }
            r.ports.push(id);
        }
        check_consistency(&r.ledger);
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_replays_agree(actions in proptest::collection::vec(action(), 1..60), deemed_release: bool) {
        let first = run(&actions, deemed_release);

        // The same blocks on a fresh ledger give the same state hash at every height.
        let mut replica = Ledger::genesis(MemStore::new(), &genesis(policy(deemed_release)), std::iter::empty()).unwrap();
        for (i, (time, txs)) in first.blocks.iter().enumerate() {
            let outcome = replica.apply_block(i as u64 + 1, *time, txs).unwrap();
            prop_assert_eq!(outcome.state_hash, first.hashes[i], "height {}", i + 1);
        }
        prop_assert_eq!(replica.store().len(), first.ledger.store().len());

        // Reopening the store rebuilds the same caches: same routes, same hash.
        let reopened = Ledger::open(first.ledger.store().clone()).unwrap();
        prop_assert_eq!(routes(&reopened), routes(&first.ledger));
        prop_assert_eq!(reopened.state_hash(), first.ledger.state_hash());
        prop_assert_eq!(reopened.ported_index().0, first.ledger.ported_index().0);
    }
}

#[test]
fn state_hash_depends_on_content_not_history() {
    // The same two bindings in either order, at the same block time, give the same state.
    let make = |order: [usize; 2]| {
        let mut ledger =
            Ledger::genesis(MemStore::new(), &genesis(policy(true)), std::iter::empty()).unwrap();
        let chain = ledger.chain_id();
        let now = Timestamp(GENESIS_MS);
        let txs: Vec<VerifiedTx> = [("OPA", NUMBERS[0], "s1"), ("OPB", NUMBERS[3], "s2")]
            .iter()
            .enumerate()
            .map(|(i, (signer, n, s))| {
                Transaction {
                    nonce: i as u64,
                    expires_at: now.plus_secs(60),
                    signer: key(signer).public_key(),
                    body: TxBody::Bind { number: num(n), subscriber: Some(key(s).public_key()) },
                }
                .sign(&chain, &key(signer))
                .verify(&chain)
                .unwrap()
            })
            .collect();
        for (h, i) in order.iter().enumerate() {
            let out = ledger.apply_block(h as u64 + 1, now, &[txs[*i].clone()]).unwrap();
            assert!(out.results[0].1.is_ok());
        }
        ledger.state_hash()
    };
    let ab = make([0, 1]);
    assert_eq!(ab, make([1, 0]));
    let genesis_hash =
        Ledger::genesis(MemStore::new(), &genesis(policy(true)), std::iter::empty()).unwrap().state_hash();
    assert_ne!(ab, genesis_hash);
}

#[test]
fn blocks_are_applied_once_in_order_and_never_back_in_time() {
    use npchain_core::BlockError;
    let mut ledger = Ledger::genesis(MemStore::new(), &genesis(policy(true)), std::iter::empty()).unwrap();
    let t = Timestamp(GENESIS_MS + 1000);
    ledger.apply_block(1, t, &[]).unwrap();
    let hash = ledger.state_hash();
    assert!(matches!(ledger.apply_block(1, t, &[]), Err(BlockError::AlreadyApplied { height: 1, got: 1 })));
    assert!(matches!(ledger.apply_block(3, t, &[]), Err(BlockError::NotNext { height: 1, got: 3 })));
    assert!(matches!(
        ledger.apply_block(2, Timestamp(GENESIS_MS), &[]),
        Err(BlockError::TimeWentBackwards { .. })
    ));
    assert_eq!(ledger.state_hash(), hash);
    assert_eq!(ledger.height(), 1);
}
