//! The regulator's transactions: admitting, updating and retiring operators, assigning ranges.

use crate::harness::{key, net, num, op};
use commonware_cryptography::Signer;
use npchain_core::{Policy, TxBody};

fn admit(id: &str, rn: &str) -> TxBody {
    TxBody::AdmitOperator {
        id: op(id),
        name: format!("Operator {id}"),
        operator_key: key(id).public_key(),
        validator_key: key(&format!("{id}/validator")).public_key(),
        routing_number: rn.parse().unwrap(),
    }
}

#[test]
fn admitting_an_operator_and_assigning_it_a_range() {
    let mut net = net(Policy::default());
    assert_eq!(net.apply("OPA", admit("OPD", "D004")).unwrap_err().code(), "not-regulator");
    assert!(net.ledger.route(num("+49304000001")).is_none());
    net.apply("regulator", admit("OPD", "D004")).unwrap();
    assert_eq!(net.apply("regulator", admit("OPD", "D005")).unwrap_err().code(), "operator-exists");
    // keys are unique across operators
    let mut dup = admit("OPE", "D005");
    if let TxBody::AdmitOperator { operator_key, .. } = &mut dup {
        *operator_key = key("OPA").public_key();
    }
    assert_eq!(net.apply("regulator", dup).unwrap_err().code(), "key-in-use");

    let assign = TxBody::AssignRange { prefix: "+49304".parse().unwrap(), holder: op("OPD") };
    net.apply("regulator", assign).unwrap();
    let route = net.ledger.route(num("+49304000001")).unwrap();
    assert_eq!((route.serving, route.routing_number.as_str(), route.ported), (op("OPD"), "D004", false));
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
    assert_eq!(net.ledger.route(num("+49302000001")).unwrap().routing_number.as_str(), "D002");
    net.apply("regulator", update("D0B2", "OPB-rotated")).unwrap();
    assert_eq!(net.ledger.route(num("+49302000001")).unwrap().routing_number.as_str(), "D0B2");
    assert_eq!(net.ledger.route(num("+49302999999")).unwrap().routing_number.as_str(), "D0B2");
    // the rotated key replaced the old one
    let bind = || TxBody::Bind { number: num("+49302000001"), subscriber: None };
    assert_eq!(net.apply("OPB", bind()).unwrap_err().code(), "unknown-signer");
    net.apply("OPB-rotated", bind()).unwrap();
    // a key another operator holds cannot be taken
    assert_eq!(net.apply("regulator", update("D0B3", "OPA")).unwrap_err().code(), "key-in-use");
}

#[test]
fn a_retired_operator_receives_nothing_new() {
    let mut net = net(Policy::default());
    net.apply("regulator", TxBody::RetireOperator { id: op("OPC") }).unwrap();
    let code = net.apply("regulator", TxBody::RetireOperator { id: op("OPC") }).unwrap_err().code();
    assert_eq!(code, "operator-retired");
    let assign = TxBody::AssignRange { prefix: "+49305".parse().unwrap(), holder: op("OPC") };
    assert_eq!(net.apply("regulator", assign).unwrap_err().code(), "operator-retired");
    let bind = TxBody::Bind { number: num("+49303000001"), subscriber: None };
    assert_eq!(net.apply("OPC", bind).unwrap_err().code(), "operator-retired");
    // its numbers still route to it until they are ported away
    assert_eq!(net.ledger.route(num("+49303000001")).unwrap().serving, op("OPC"));
}

#[test]
fn transactions_outside_their_window_or_replayed_are_refused() {
    use npchain_core::Transaction;
    let mut net = net(Policy::default());
    let tx = net.sign("OPA", TxBody::Bind { number: num("+49301000001"), subscriber: None });
    assert!(net.block(std::slice::from_ref(&tx))[0].is_ok());
    assert_eq!(net.block(std::slice::from_ref(&tx))[0].as_ref().unwrap_err().code(), "replay");
    // same transaction twice in one block: the second is a replay
    let tx2 = net.sign("OPA", TxBody::Bind { number: num("+49301000002"), subscriber: None });
    let results = net.block(&[tx2.clone(), tx2]);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().code(), "replay");
    // after its expiry it is refused as expired (and the replay set forgets it)
    net.advance_secs(601);
    assert_eq!(net.block(&[tx])[0].as_ref().unwrap_err().code(), "expired");
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
