//! Daily port caps beyond the scenarios: the refusal's exact reason, several requests and
//! policy changes in one block, the genesis TOML fields, and a property over random sequences
//! (the count follows an independent model, never passes the cap in force, and a refused
//! request changes nothing; the same blocks give the same state hashes).

use crate::harness::{GENESIS_MS, Net, genesis, key, net, num, op};
use npchain_core::{
    CapSide, Digest, Genesis, Ledger, MAX_DAILY_CAP, MemStore, Policy, PortId, PortRequest, ReadStore,
    RejectReason, Table, Timestamp, Transaction, TxBody, TxError, UtcDay, VerifiedTx,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn capped(donor: u32, recipient: u32) -> Policy {
    Policy {
        max_ports_per_donor_per_day: donor,
        max_ports_per_recipient_per_day: recipient,
        ..Policy::default()
    }
}

fn request(net: &Net, numbers: &[&str], donor: &str, recipient: &str, nonce: u64) -> PortRequest {
    PortRequest {
        numbers: numbers.iter().map(|n| num(n)).collect(),
        donor: op(donor),
        recipient: op(recipient),
        due: net.now,
        nonce,
    }
}

fn counters(net: &Net) -> Vec<(Vec<u8>, Vec<u8>)> {
    net.ledger.store().range(Table::DailyPorts, &[], None, usize::MAX).unwrap()
}

#[test]
fn the_refusal_names_the_operator_the_cap_the_day_and_the_count() {
    let mut net = net(capped(2, 0));
    for n in ["+49301000001", "+49301000002", "+49301000003"] {
        net.apply("OPA", TxBody::Bind { number: num(n), subscriber: Some(Net::subscriber("ann")) }).unwrap();
    }
    net.advance_secs(10 * 3600);
    let first = request(&net, &["+49301000001"], "OPA", "OPB", 1);
    net.apply("ann", TxBody::RequestPort(first)).unwrap();
    let hash = net.ledger.state_hash();
    let group = request(&net, &["+49301000002", "+49301000003"], "OPA", "OPB", 2);
    let e = net.apply("ann", TxBody::RequestPort(group)).unwrap_err();
    assert_eq!(
        e,
        TxError::DailyCap {
            side: CapSide::Donor,
            operator: op("OPA"),
            day: UtcDay(20_454),
            cap: 2,
            used: 1,
            requested: 2
        }
    );
    assert_eq!(e.code(), "donor-daily-cap");
    assert_eq!(
        e.to_string(),
        "donor OPA would pass its daily cap: 1 of 2 numbers already requested on 2026-01-01 (UTC), 2 more \
         in this order (policy max_ports_per_donor_per_day); the count starts again at 00:00 UTC"
    );
    // nothing was written: no count, no blocked number, the same state hash
    assert_eq!(net.ledger.ports_requested(CapSide::Donor, &op("OPA"), UtcDay(20_454)).unwrap(), 1);
    assert_eq!(net.ledger.number(num("+49301000002")).unwrap().unwrap().open_port, None);
    assert_eq!(net.ledger.state_hash(), hash);
}

#[test]
fn requests_in_one_block_count_in_order_and_a_policy_set_before_them_applies() {
    let mut net = net(Policy::default());
    let numbers = ["+49301000001", "+49301000002", "+49301000003"];
    for n in numbers {
        net.apply("OPA", TxBody::Bind { number: num(n), subscriber: Some(Net::subscriber("ann")) }).unwrap();
    }
    let txs: Vec<VerifiedTx> = std::iter::once(net.sign("regulator", TxBody::SetPolicy(capped(0, 2))))
        .chain(numbers.iter().enumerate().map(|(i, n)| {
            let r = request(&net, &[n], "OPA", "OPC", i as u64);
            net.sign("ann", TxBody::RequestPort(r))
        }))
        .collect();
    let results = net.block(&txs);
    assert!(results[..3].iter().all(Result::is_ok), "{results:?}");
    assert_eq!(results[3].as_ref().unwrap_err().code(), "recipient-daily-cap");
    assert_eq!(net.ledger.ports_requested(CapSide::Recipient, &op("OPC"), net.now.utc_day()).unwrap(), 2);
    assert_eq!(counters(&net).len(), 1, "one counter: OPC as recipient");
}

#[test]
fn switching_a_cap_off_drops_counters_written_earlier_in_the_same_block() {
    let mut net = net(Policy::default());
    net.apply("OPA", TxBody::Bind { number: num("+49301000001"), subscriber: Some(Net::subscriber("ann")) })
        .unwrap();
    net.apply("OPB", TxBody::Bind { number: num("+49302000001"), subscriber: Some(Net::subscriber("bob")) })
        .unwrap();
    net.apply("regulator", TxBody::SetPolicy(capped(5, 5))).unwrap();
    let committed = request(&net, &["+49302000001"], "OPB", "OPC", 1);
    net.apply("bob", TxBody::RequestPort(committed)).unwrap();
    assert_eq!(counters(&net).len(), 2, "OPB as donor, OPC as recipient");
    let r = request(&net, &["+49301000001"], "OPA", "OPB", 2);
    let txs =
        [net.sign("ann", TxBody::RequestPort(r)), net.sign("regulator", TxBody::SetPolicy(capped(5, 0)))];
    assert!(net.block(&txs).iter().all(Result::is_ok));
    // the donors' counters stay (OPB from the store, OPA from this block); the recipients' are gone
    let left: Vec<Vec<u8>> = counters(&net).into_iter().map(|(k, _)| k).collect();
    assert_eq!(left, vec![b"\0OPA".to_vec(), b"\0OPB".to_vec()]);
    net.apply("regulator", TxBody::SetPolicy(Policy::default())).unwrap();
    assert!(counters(&net).is_empty());
}

#[test]
fn genesis_caps_are_optional_named_and_bounded() {
    let text = genesis(Policy::default()).to_toml();
    assert!(!text.contains("max_ports"), "a genesis without caps writes as before they existed");
    assert_eq!(Genesis::from_toml(&text).unwrap().policy, Policy::default());

    let with = genesis(capped(50, 0));
    let text = with.to_toml();
    assert!(text.contains("max_ports_per_donor_per_day = 50") && !text.contains("max_ports_per_recipient"));
    assert_eq!(Genesis::from_toml(&text).unwrap(), with);
    // a different policy, a different chain
    let plain = Ledger::genesis(MemStore::new(), &genesis(Policy::default()), std::iter::empty()).unwrap();
    let capped_ledger = Ledger::genesis(MemStore::new(), &with, std::iter::empty()).unwrap();
    assert_ne!(plain.chain_id(), capped_ledger.chain_id());

    let bad = text.replacen("max_ports_per_donor_per_day = 50", "max_ports_per_donor_per_day = 10000001", 1);
    let err = Genesis::from_toml(&bad).unwrap_err().to_string();
    assert!(err.contains("max_ports_per_donor_per_day = 10000001 is outside 0..=10000000"), "{err}");
    let bad = text.replacen("max_ports_per_donor_per_day = 50", "max_ports_per_donor_per_day = -1", 1);
    let err = Genesis::from_toml(&bad).unwrap_err().to_string();
    assert!(err.contains("max_ports_per_donor_per_day"), "{err}");
}

#[test]
fn an_out_of_range_cap_is_refused_before_any_ledger() {
    let chain = net(Policy::default()).ledger.chain_id();
    let tx = Transaction {
        nonce: 1,
        expires_at: Timestamp(GENESIS_MS + 60_000),
        signer: Net::subscriber("regulator"),
        body: TxBody::SetPolicy(capped(0, MAX_DAILY_CAP + 1)),
    };
    let e = tx.sign(&chain, &key("regulator")).verify(&chain).unwrap_err();
    assert!(e.to_string().contains("max_ports_per_recipient_per_day = 10000001"), "{e}");
}

// --- the property

const OPS: [&str; 3] = ["OPA", "OPB", "OPC"];
/// Each operator's numbers, all bound to the operator's one subscriber (so any subset of them
/// is a valid group order while it is served by its range holder and free).
const PER_OP: usize = 6;
const WAITS: [u64; 5] = [0, 3600, 6 * 3600, 86_400, 2 * 86_400];

fn number(operator: usize, i: usize) -> String {
    format!("+4930{}00000{}", operator + 1, i + 1)
}

fn subscriber(operator: usize) -> String {
    format!("sub-{}", OPS[operator])
}

#[derive(Debug, Clone)]
enum Action {
    Request { donor: usize, to: usize, numbers: Vec<usize> },
    Cancel { port: usize },
    Reject { port: usize },
    SetCaps { donor: u32, recipient: u32 },
    Wait { secs: usize },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0..3usize, 1..3usize, proptest::sample::subsequence((0..PER_OP).collect::<Vec<_>>(), 1..=4))
            .prop_map(|(donor, to, numbers)| Action::Request { donor, to, numbers }),
        1 => any::<usize>().prop_map(|port| Action::Cancel { port }),
        1 => any::<usize>().prop_map(|port| Action::Reject { port }),
        1 => (0..7u32, 0..7u32).prop_map(|(donor, recipient)| Action::SetCaps { donor, recipient }),
        2 => (0..WAITS.len()).prop_map(|secs| Action::Wait { secs }),
    ]
}

/// The test's own count: (side, operator) → (day, numbers), kept only while the side is capped.
type Model = BTreeMap<(CapSide, usize), (UtcDay, u64)>;

fn used(model: &Model, side: CapSide, operator: usize, day: UtcDay) -> u64 {
    model.get(&(side, operator)).filter(|(d, _)| *d == day).map_or(0, |(_, n)| *n)
}

fn run(initial: Policy, actions: &[Action]) -> (Vec<(Timestamp, Vec<VerifiedTx>)>, Vec<Digest>) {
    let mut net = net(initial);
    let mut blocks = Vec::new();
    let mut hashes = Vec::new();
    let mut apply = |net: &mut Net, txs: Vec<VerifiedTx>| {
        let results = net.block(&txs);
        blocks.push((net.now, txs));
        hashes.push(net.ledger.state_hash());
        results
    };
    let binds = (0..OPS.len())
        .flat_map(|o| (0..PER_OP).map(move |i| (o, i)))
        .map(|(o, i)| {
            let body = TxBody::Bind {
                number: num(&number(o, i)),
                subscriber: Some(Net::subscriber(&subscriber(o))),
            };
            net.sign(OPS[o], body)
        })
        .collect();
    assert!(apply(&mut net, binds).iter().all(Result::is_ok));

    let mut model = Model::new();
    let mut ports: Vec<(PortId, usize)> = Vec::new();
    let mut nonce = 0;
    for action in actions {
        if let Action::Wait { secs } = action {
            net.advance_secs(WAITS[*secs]);
            continue;
        }
        apply(&mut net, Vec::new()); // timers fire in a block of their own
        let day = net.now.utc_day();
        let policy = net.ledger.policy().clone();
        let hash_before = net.ledger.state_hash();
        let len_before = net.ledger.store().len();
        let (signer, body) = match action {
            Action::Request { donor, to, numbers } => {
                nonce += 1;
                let numbers: Vec<String> = numbers.iter().map(|i| number(*donor, *i)).collect();
                let names: Vec<&str> = numbers.iter().map(String::as_str).collect();
                let recipient = (donor + to) % OPS.len();
                let r = request(&net, &names, OPS[*donor], OPS[recipient], nonce);
                (subscriber(*donor), TxBody::RequestPort(r))
            }
            Action::Cancel { .. } | Action::Reject { .. } if ports.is_empty() => continue,
            Action::Cancel { port } => {
                let (id, donor) = ports[port % ports.len()];
                (subscriber(donor), TxBody::Cancel { port: id })
            }
            Action::Reject { port } => {
                let (id, donor) = ports[port % ports.len()];
                (OPS[donor].to_string(), TxBody::Reject { port: id, reason: RejectReason::CourtOrder })
            }
            Action::SetCaps { donor, recipient } => {
                ("regulator".into(), TxBody::SetPolicy(capped(*donor, *recipient)))
            }
            Action::Wait { .. } => unreachable!(),
        };
        let tx = net.sign(&signer, body.clone());
        let result = apply(&mut net, vec![tx]).remove(0);

        match (&body, &result) {
            (TxBody::RequestPort(r), Ok(())) => {
                let n = r.numbers.len() as u64;
                for (side, operator) in [(CapSide::Donor, &r.donor), (CapSide::Recipient, &r.recipient)] {
                    let Some(cap) = policy.daily_cap(side) else { continue };
                    let o = OPS.iter().position(|x| op(x) == *operator).unwrap();
                    let count = used(&model, side, o, day) + n;
                    assert!(count <= u64::from(cap), "{side} {operator}: {count} numbers counted, cap {cap}");
                    model.insert((side, o), (day, count));
                }
                ports.push((
                    r.port_id(&Net::subscriber(&signer)),
                    OPS.iter().position(|x| op(x) == r.donor).unwrap(),
                ));
            }
            (
                TxBody::RequestPort(r),
                Err(TxError::DailyCap { side, operator, day: d, cap, used: u, requested }),
            ) => {
                let o = OPS.iter().position(|x| op(x) == *operator).unwrap();
                assert_eq!(*d, day);
                assert_eq!(Some(*cap), policy.daily_cap(*side));
                assert_eq!(*u, used(&model, *side, o, day));
                assert_eq!(*requested, r.numbers.len() as u64);
                assert!(u + requested > u64::from(*cap));
                if *side == CapSide::Recipient {
                    let donor = OPS.iter().position(|x| op(x) == r.donor).unwrap();
                    let fits = policy
                        .daily_cap(CapSide::Donor)
                        .is_none_or(|c| used(&model, CapSide::Donor, donor, day) + requested <= u64::from(c));
                    assert!(fits, "the donor's cap is checked first");
                }
            }
            (TxBody::SetPolicy(new), Ok(())) => {
                for side in CapSide::ALL {
                    if new.daily_cap(side).is_none() {
                        model.retain(|(s, _), _| *s != side);
                    }
                }
            }
            _ => {}
        }
        if result.is_err() {
            assert_eq!(net.ledger.state_hash(), hash_before, "a refused {} changed the state", body.kind());
            assert_eq!(net.ledger.store().len(), len_before);
        }
        // the ledger's counts are the model's, for every operator and side
        for side in CapSide::ALL {
            for (o, name) in OPS.iter().enumerate() {
                let got = net.ledger.ports_requested(side, &op(name), day).unwrap();
                assert_eq!(got, used(&model, side, o, day), "{side} {name} on {day}");
            }
        }
        assert!(counters(&net).len() <= 2 * OPS.len(), "at most one counter per operator and side");
    }
    (blocks, hashes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn counts_follow_the_model_never_pass_the_cap_and_replay_alike(
        donor in 0..5u32,
        recipient in 0..5u32,
        actions in proptest::collection::vec(action(), 1..50),
    ) {
        let initial = capped(donor, recipient);
        let (blocks, hashes) = run(initial.clone(), &actions);
        let mut replica = Ledger::genesis(MemStore::new(), &genesis(initial), std::iter::empty()).unwrap();
        for (i, (time, txs)) in blocks.iter().enumerate() {
            let outcome = replica.apply_block(i as u64 + 1, *time, txs).unwrap();
            prop_assert_eq!(outcome.state_hash, hashes[i], "height {}", i + 1);
        }
        let reopened = Ledger::open(replica.into_store()).unwrap();
        prop_assert_eq!(reopened.state_hash(), *hashes.last().unwrap());
    }
}
