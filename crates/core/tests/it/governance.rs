//! The regulator's transactions: admitting, updating and retiring operators, assigning and
//! withdrawing ranges.

use crate::harness::{key, net, num, op};
use commonware_cryptography::Signer;
use npchain_core::{Policy, TxBody};

fn admit(id: &str, rn: &str) -> TxBody {
    TxBody::AdmitOperator {
        id: op(id),
        name: format!("Operator {id}"),
        operator_key: key(id).public_key(),
        validator_key: Some(key(&format!("{id}/validator")).public_key()),
        routing_number: rn.parse().unwrap(),
    }
}

#[test]
fn admitting_an_operator_and_assigning_it_a_range() {
    let mut net = net(Policy::default());
    assert_eq!(net.apply("OPA", admit("OPD", "+49D004")).unwrap_err().code(), "not-regulator");
    assert!(net.ledger.route(num("+49304000001")).is_none());
    net.apply("regulator", admit("OPD", "+49D004")).unwrap();
    assert_eq!(net.apply("regulator", admit("OPD", "+49D005")).unwrap_err().code(), "operator-exists");
    // keys are unique across operators
    let mut dup = admit("OPE", "+49D005");
    if let TxBody::AdmitOperator { operator_key, .. } = &mut dup {
        *operator_key = key("OPA").public_key();
    }
    assert_eq!(net.apply("regulator", dup).unwrap_err().code(), "key-in-use");

    let assign = TxBody::AssignRange { prefix: "+49304".parse().unwrap(), holder: op("OPD") };
    net.apply("regulator", assign).unwrap();
    let route = net.ledger.route(num("+49304000001")).unwrap();
    assert_eq!((route.serving, route.routing_number.as_str(), route.ported), (op("OPD"), "+49D004", false));
    // a longer prefix inside an existing range takes precedence
    let carve = TxBody::AssignRange { prefix: "+493010".parse().unwrap(), holder: op("OPD") };
    net.apply("regulator", carve).unwrap();
    assert_eq!(net.ledger.route(num("+49301000001")).unwrap().serving, op("OPD"));
    assert_eq!(net.ledger.route(num("+49301100001")).unwrap().serving, op("OPA"));
    // the new operator signs with its operator key
    net.apply("OPD", TxBody::Bind { number: num("+49304000001"), subscriber: None }).unwrap();
}

#[test]
fn a_routing_number_change_reroutes_every_number_at_once() {
    let mut net = net(Policy::default());
    let update = |rn: &str, signer_key: &str| TxBody::UpdateOperator {
        id: op("OPB"),
        operator_key: key(signer_key).public_key(),
        routing_number: rn.parse().unwrap(),
    };
    assert_eq!(net.ledger.route(num("+49302000001")).unwrap().routing_number.as_str(), "+49D002");
    net.apply("regulator", update("+49D0B2", "OPB-rotated")).unwrap();
    assert_eq!(net.ledger.route(num("+49302000001")).unwrap().routing_number.as_str(), "+49D0B2");
    assert_eq!(net.ledger.route(num("+49302999999")).unwrap().routing_number.as_str(), "+49D0B2");
    // the rotated key replaced the old one
    let bind = || TxBody::Bind { number: num("+49302000001"), subscriber: None };
    assert_eq!(net.apply("OPB", bind()).unwrap_err().code(), "unknown-signer");
    net.apply("OPB-rotated", bind()).unwrap();
    // a key another operator holds cannot be taken
    assert_eq!(net.apply("regulator", update("+49D0B3", "OPA")).unwrap_err().code(), "key-in-use");
}

#[test]
fn a_retired_operator_receives_nothing_new() {
    let mut net = net(Policy::default());
    // OPC validates, and the test network's three validators are already below an epoch's
    // minimum: OPC cannot leave. An operator without a validator key can.
    let code = net.apply("regulator", TxBody::RetireOperator { id: op("OPC") }).unwrap_err().code();
    assert_eq!(code, "too-few-validators");
    let mut admit_d = admit("OPD", "+49D004");
    if let TxBody::AdmitOperator { validator_key, .. } = &mut admit_d {
        *validator_key = None;
    }
    net.apply("regulator", admit_d).unwrap();
    net.apply("regulator", TxBody::AssignRange { prefix: "+49304".parse().unwrap(), holder: op("OPD") })
        .unwrap();
    net.apply("regulator", TxBody::RetireOperator { id: op("OPD") }).unwrap();
    let code = net.apply("regulator", TxBody::RetireOperator { id: op("OPD") }).unwrap_err().code();
    assert_eq!(code, "operator-retired");
    let assign = TxBody::AssignRange { prefix: "+49305".parse().unwrap(), holder: op("OPD") };
    assert_eq!(net.apply("regulator", assign).unwrap_err().code(), "operator-retired");
    let bind = TxBody::Bind { number: num("+49304000001"), subscriber: None };
    assert_eq!(net.apply("OPD", bind).unwrap_err().code(), "operator-retired");
    // its numbers still route to it until they are ported away
    assert_eq!(net.ledger.route(num("+49304000001")).unwrap().serving, op("OPD"));
}

#[test]
fn transactions_outside_their_window_or_replayed_are_refused() {
    use npchain_core::Transaction;
    let mut net = net(Policy::default());
    let tx = net.sign("OPA", TxBody::Bind { number: num("+49301000001"), subscriber: None });
    assert!(net.block(std::slice::from_ref(&tx))[0].is_ok());
    let (id, expires_at) = (tx.id(), tx.tx().expires_at);
    assert!(net.ledger.tx_applied(expires_at, &id).unwrap());
    assert_eq!(net.block(std::slice::from_ref(&tx))[0].as_ref().unwrap_err().code(), "replay");
    // same transaction twice in one block: the second is a replay
    let tx2 = net.sign("OPA", TxBody::Bind { number: num("+49301000002"), subscriber: None });
    let results = net.block(&[tx2.clone(), tx2]);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().code(), "replay");
    // after its expiry it is refused as expired (and the replay set forgets it)
    net.advance_secs(601);
    assert_eq!(net.block(&[tx])[0].as_ref().unwrap_err().code(), "expired");
    assert!(
        !net.ledger.tx_applied(expires_at, &id).unwrap(),
        "the replay set still holds an expired transaction"
    );
    // a validity claim past the policy's TTL is refused
    let chain = net.ledger.chain_id();
    let far = Transaction {
        nonce: 1,
        expires_at: net.now.plus_secs(2 * 3600),
        signer: key("OPA").public_key(),
        body: TxBody::Bind { number: num("+49301000003"), subscriber: None },
    }
    .sign(&chain, &key("OPA"))
    .verify(&chain)
    .unwrap();
    assert_eq!(net.block(&[far])[0].as_ref().unwrap_err().code(), "expiry-too-far");
}

#[test]
fn a_transaction_signed_for_another_network_does_not_verify() {
    let net = net(Policy::default());
    let other = npchain_core::ChainId(npchain_core::Digest([9; 32]));
    let tx = npchain_core::Transaction {
        nonce: 1,
        expires_at: net.now.plus_secs(60),
        signer: key("OPA").public_key(),
        body: TxBody::Bind { number: num("+49301000001"), subscriber: None },
    }
    .sign(&other, &key("OPA"));
    let err = tx.verify(&net.ledger.chain_id()).unwrap_err();
    assert!(err.to_string().contains("signature does not verify"), "{err}");
}

fn withdraw(prefix: &str) -> TxBody {
    TxBody::WithdrawRange { prefix: prefix.parse().unwrap() }
}

/// What a refused withdrawal must leave as it was: the state hash, the ranges, and the routes
/// of the numbers under the prefix.
fn snapshot(net: &npchain_testkit::Net) -> impl PartialEq + std::fmt::Debug + use<> {
    let mut ranges = net.ledger.ranges();
    ranges.sort();
    let routes: Vec<_> =
        ["+49301000001", "+49301000002", "+49301100001"].iter().map(|n| net.ledger.route(num(n))).collect();
    (net.ledger.state_hash(), ranges, routes)
}

#[test]
fn a_refused_withdrawal_changes_nothing() {
    let mut net = net(Policy::default());
    net.apply(
        "OPA",
        TxBody::Bind { number: num("+49301000001"), subscriber: Some(key("alice").public_key()) },
    )
    .unwrap();
    let before = snapshot(&net);
    for (signer, body, code) in [
        ("OPA", withdraw("+49301"), "not-regulator"),
        ("regulator", withdraw("+49301"), "range-in-service"),
        ("regulator", withdraw("+49309"), "range-not-assigned"),
        ("regulator", withdraw("+4930"), "range-not-assigned"),
    ] {
        assert_eq!(net.apply(signer, body).unwrap_err().code(), code);
        assert_eq!(snapshot(&net), before, "{code}");
    }
    // the message names the range and the number that holds it
    let e = net.apply("regulator", withdraw("+49301")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "range +49301 cannot be withdrawn: its number +49301000001 is bound to a subscriber"
    );
}

#[test]
fn a_withdrawal_sees_what_earlier_transactions_of_its_block_did() {
    let mut net = net(Policy::default());
    // bound earlier in the same block: refused
    let bind = net
        .sign("OPA", TxBody::Bind { number: num("+49301000002"), subscriber: Some(key("bob").public_key()) });
    let refused = net.sign("regulator", withdraw("+49301"));
    let results = net.block(&[bind, refused]);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().code(), "range-in-service");
    // assigned and withdrawn in one block: the range is gone when the block is committed
    let assign =
        net.sign("regulator", TxBody::AssignRange { prefix: "+493011".parse().unwrap(), holder: op("OPB") });
    let gone = net.sign("regulator", withdraw("+493011"));
    assert!(net.block(&[assign, gone]).iter().all(Result::is_ok));
    assert_eq!(net.ledger.route(num("+49301100001")).unwrap().serving, op("OPA"));
    // a ledger opened again from its store has the same ranges and stems
    let withdrawn = net.sign("regulator", withdraw("+49302"));
    assert!(net.block(&[withdrawn])[0].is_ok());
    assert!(net.ledger.route(num("+49302000001")).is_none());
    let reopened = npchain_core::Ledger::open(net.ledger.store().clone()).unwrap();
    let mut a = net.ledger.ranges();
    let mut b = reopened.ranges();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(reopened.route(num("+49302000001")).is_none());
    let stem = npchain_core::Prefix::from_digits("4930").unwrap();
    assert!(net.ledger.routes().read().has_ranges_below(stem));
    assert!(reopened.routes().read().has_ranges_below(stem));
}

#[test]
fn a_routing_number_names_one_operator() {
    let mut net = net(Policy::default());
    let e = net.apply("regulator", admit("OPD", "+49D002")).unwrap_err();
    assert_eq!(
        (e.code(), e.to_string().as_str()),
        ("routing-number-in-use", "routing number +49D002 already belongs to operator OPB")
    );
    let update = TxBody::UpdateOperator {
        id: op("OPA"),
        operator_key: key("OPA").public_key(),
        routing_number: "+49d003".parse().unwrap(),
    };
    assert_eq!(net.apply("regulator", update).unwrap_err().code(), "routing-number-in-use");
    // keeping its own routing number is no conflict
    let keep = TxBody::UpdateOperator {
        id: op("OPA"),
        operator_key: key("OPA").public_key(),
        routing_number: "+49D001".parse().unwrap(),
    };
    net.apply("regulator", keep).unwrap();
}

#[test]
fn the_withdraw_range_wire_form_appends_tag_13() {
    use commonware_codec::{DecodeExt, Encode};
    let body = withdraw("+49301");
    // tag 13, then the prefix: its digit count and its digits as a u64, big-endian
    assert_eq!(commonware_formatting::hex(&body.encode()), "0d05000000000000c095");
    assert_eq!(TxBody::decode(body.encode()).unwrap(), body);
    assert_eq!(body.kind(), "withdraw-range");
}

#[test]
fn an_assignment_with_lengths_is_tag_3_s_fields_and_the_lengths_under_tag_16() {
    use commonware_codec::{DecodeExt, Encode};
    let (prefix, holder) = ("+49301".parse().unwrap(), op("OPA"));
    let plain = TxBody::AssignRange { prefix, holder: holder.clone() };
    // tag 3, the prefix (digit count, digits as a u64), the holder: as before lengths existed
    assert_eq!(commonware_formatting::hex(&plain.encode()), "0305000000000000c095034f5041");
    let lengths = "11-12".parse().unwrap();
    let with = TxBody::AssignRangeWithLengths { prefix, holder, lengths };
    let (p, w) = (plain.encode(), with.encode());
    assert_eq!((p[0], w[0]), (3, 16));
    assert_eq!(&w[1..p.len()], &p[1..]);
    // bit n for length n: 11 and 12
    assert_eq!(commonware_formatting::hex(&w[p.len()..]), "1800");
    assert_eq!(TxBody::decode(with.encode()).unwrap(), with);
    assert_eq!(with.kind(), "assign-range");
    // lengths outside 7..=15 or none do not decode
    for bad in ["0000", "0040", "0001"] {
        let mut bytes = p.to_vec();
        bytes[0] = 16;
        bytes.extend(commonware_formatting::from_hex(bad).unwrap());
        assert!(TxBody::decode(bytes).is_err(), "{bad}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever happened to the numbers of a range, a withdrawal is applied exactly when none
    /// of them is live, and a refused one changes nothing.
    #[test]
    fn a_withdrawal_goes_through_only_when_no_number_of_the_range_is_live(
        fates in proptest::collection::vec(0u8..5, 1..6),
    ) {
        // per number +4930100000k: 0 untouched, 1 bound then unbound, 2 bound, 3 in an open
        // order, 4 ported to OPB
        let mut net = net(Policy::default());
        for (k, fate) in fates.iter().enumerate() {
            let number = num(&format!("+4930100000{k}"));
            let subscriber = key(&format!("subscriber{k}")).public_key();
            if *fate >= 1 {
                net.apply("OPA", TxBody::Bind { number, subscriber: Some(subscriber.clone()) }).unwrap();
            }
            if *fate == 1 {
                net.apply("OPA", TxBody::Bind { number, subscriber: None }).unwrap();
            }
            if *fate >= 3 {
                let request = npchain_core::PortRequest {
                    numbers: vec![number],
                    donor: op("OPA"),
                    recipient: op("OPB"),
                    due: net.now,
                    nonce: k as u64,
                };
                let port = request.port_id(&subscriber);
                net.apply(&format!("subscriber{k}"), TxBody::RequestPort(request)).unwrap();
                if *fate == 4 {
                    net.apply("OPA", TxBody::Release { port }).unwrap();
                    net.apply("OPB", TxBody::Activate { port }).unwrap();
                }
            }
        }
        let before = snapshot(&net);
        let live = fates.iter().any(|f| *f >= 2);
        let result = net.apply("regulator", withdraw("+49301"));
        proptest::prop_assert_eq!(result.is_err(), live, "{:?}", result);
        if live {
            proptest::prop_assert_eq!(snapshot(&net), before);
        } else {
            proptest::prop_assert!(net.ledger.route(num("+49301000000")).is_none());
        }
    }
}
