//! Frozen encodings. Signed and hashed bytes must never change silently: a change here is a
//! change of the wire format or of the state hash and needs a new version.

use crate::harness::{GENESIS_MS, genesis, key, num, op};
use commonware_codec::Encode;
use commonware_cryptography::Signer;
use npchain_core::{
    ChainId, Digest, Ledger, MemStore, Policy, PortRequest, RejectReason, SignedTransaction, Timestamp,
    Transaction, TxBody,
};

fn chain() -> ChainId {
    ChainId(Digest([0x11; 32]))
}

fn request() -> PortRequest {
    PortRequest {
        numbers: vec![num("+49301000001"), num("+49301000002")],
        donor: op("OPA"),
        recipient: op("OPB"),
        due: Timestamp(GENESIS_MS + 3_600_000),
        nonce: 7,
    }
}

fn signed(signer: &str, body: TxBody) -> SignedTransaction {
    Transaction {
        nonce: 42,
        expires_at: Timestamp(GENESIS_MS + 600_000),
        signer: key(signer).public_key(),
        body,
    }
    .sign(&chain(), &key(signer))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every kind of transaction, signed with fixed keys (ed25519 signing is deterministic).
fn cases() -> Vec<(&'static str, SignedTransaction)> {
    let port = request().port_id(&key("alice").public_key());
    vec![
        ("request-port", signed("alice", TxBody::RequestPort(request()))),
        (
            "request-port-for",
            signed(
                "OPB",
                TxBody::RequestPortFor {
                    request: request(),
                    subscriber: key("alice").public_key(),
                    consent: request().consent(&chain(), &key("alice")),
                },
            ),
        ),
        ("release", signed("OPA", TxBody::Release { port })),
        ("reject", signed("OPA", TxBody::Reject { port, reason: RejectReason::CourtOrder })),
        ("activate", signed("OPB", TxBody::Activate { port })),
        ("cancel", signed("alice", TxBody::Cancel { port })),
        (
            "bind",
            signed(
                "OPA",
                TxBody::Bind { number: num("+49301000001"), subscriber: Some(key("alice").public_key()) },
            ),
        ),
        ("return", signed("OPB", TxBody::Return { number: num("+49301000001") })),
        ("set-policy", signed("regulator", TxBody::SetPolicy(Policy::default()))),
        (
            "assign-range",
            signed("regulator", TxBody::AssignRange { prefix: "+49304".parse().unwrap(), holder: op("OPC") }),
        ),
        ("retire-operator", signed("regulator", TxBody::RetireOperator { id: op("OPC") })),
        (
            "admit-operator",
            signed(
                "regulator",
                TxBody::AdmitOperator {
                    id: op("OPD"),
                    name: "Operator D".into(),
                    operator_key: key("OPD").public_key(),
                    validator_key: Some(key("OPD/validator").public_key()),
                    routing_number: "+4930999".parse().unwrap(),
                },
            ),
        ),
        (
            "update-operator",
            signed(
                "regulator",
                TxBody::UpdateOperator {
                    id: op("OPA"),
                    operator_key: key("OPA2").public_key(),
                    routing_number: "D0A1;rn-context=+49".parse().unwrap(),
                },
            ),
        ),
        ("admit-operator-without-validator", signed("regulator", admit_without_validator())),
        (
            "set-validator",
            signed(
                "regulator",
                TxBody::SetValidator {
                    id: op("OPC"),
                    validator_key: Some(key("OPC/validator-2").public_key()),
                },
            ),
        ),
        (
            "set-validator-none",
            signed("regulator", TxBody::SetValidator { id: op("OPC"), validator_key: None }),
        ),
        (
            "import-numbers",
            signed(
                "regulator",
                TxBody::ImportNumbers {
                    groups: vec![
                        npchain_core::ImportGroup {
                            operator: op("OPB"),
                            routing_number: None,
                            numbers: vec![num("+49301000001"), num("+49301000002")],
                        },
                        npchain_core::ImportGroup {
                            operator: op("OPC"),
                            routing_number: Some("+49D003".parse().unwrap()),
                            numbers: vec![num("+49302000001")],
                        },
                    ],
                },
            ),
        ),
    ]
}

fn admit_without_validator() -> TxBody {
    TxBody::AdmitOperator {
        id: op("OPD"),
        name: "Operator D".into(),
        operator_key: key("OPD").public_key(),
        validator_key: None,
        routing_number: "+4930999".parse().unwrap(),
    }
}

/// SHA-256 of each case's wire bytes, and its transaction id. Frozen.
const FROZEN: &[(&str, &str, &str)] = &[
    (
        "request-port",
        "a0761e18dd28dc2a7208994e1ee5db50c4e512b668d57b23f575a27d6241ff03",
        "cb7d0f6509a334f90945a2d34fb76bea0b781260864bcc2a758d2a2c4698b972",
    ),
    (
        "request-port-for",
        "b8e2e889f5785abf01df0f689d936efc35909977b3f96216408baf3374345311",
        "5eaa97b145cbc76aa7607bdcd1366919d30f008696735cd03efe3b12fb8c1d36",
    ),
    (
        "release",
        "0d5a929c03899a94ecc5d06a769a1e40e728b7793c8e0f7b39aaf654d081fa14",
        "84abab454ca768d4fd832e3949cf6e61057b5df2078b3fc5a094f0fc046cc363",
    ),
    (
        "reject",
        "dd46a0e7d026784790dfd59bb81eaf894adc5ecf8bbc067c27ee34aadfdee6fd",
        "10f4395dced9b23bd4d2cac2ca423b46db40312406af2ce42b42686951a1449f",
    ),
    (
        "activate",
        "3ae2bc58faa2b246087d92f0741a3794099b150098eda3dd5de0705e6a38d7fe",
        "657654c7b88544c9a57acb10c605e8bf57668fe35ffda1dbb5a698fe2ee05068",
    ),
    (
        "cancel",
        "4744b8de740af08489a232f2d22f41a7c78276ded4bfae9185777d4b349f0c02",
        "a01f9a62ea79d8a95347ded92d8fcf0f76295345f124bbb0cd6fbd1801036f2c",
    ),
    (
        "bind",
        "d45e2ce5e64524d40427b73baf5bc97a9bad2ebfb9e67c8572266f922c20b32d",
        "01d8b9a7e6b070153ba4658e1659ebc91ebc89ef960eb93af4e869c59784b1f1",
    ),
    (
        "return",
        "294b8b87d307f9fcd9e8c317eaf70335e20b9946c51967c089628c7362332a3f",
        "c266cfef0092e59d222d2874a5056ea30a1465ec0809c6cb2476b56a219adc2e",
    ),
    (
        "set-policy",
        "c759465bae76ff9cff9a56fd9ab9b8445b6953548f360fcf7b1820e4e647c989",
        "5d53654acb2f9f37d62afc8cd3ae242f2186c3ab6234133bff56e4f358a0f679",
    ),
    (
        "assign-range",
        "1b29ace73ac0f620feb5bc82acad468e98a98f418930ac289d50d57200ef4011",
        "226d4f3dc81c9691206273c599f4c98190e821c0a55c50175afa41df239f1745",
    ),
    (
        "retire-operator",
        "34cf1595c4c8a87511d6cf604e14590d61fa4e3e64c65fa16659d3d55d05b03c",
        "3e690929a5aa2685b912a59edf118b1335dbe9e3c817f1c6ff03391852e6730a",
    ),
    (
        "admit-operator",
        "08842db275ccbc0c3d6f534029fcef24aa8dd3679288c063cf23686738680e6e",
        "14d0bc0dfdec49f870cab344294588ba31856b19739534b9a3b879a0e707bdc3",
    ),
    (
        "update-operator",
        "2d7c4bcb2d21efa25676fa0258c6e0a2df06c553bf6cdb454a553d293594b576",
        "29ab0cef143568971f67844763aa62fd4fd7e04bfeeb432713ec9a0d83ea640b",
    ),
    (
        "admit-operator-without-validator",
        "52e61f4d14b6a9a36f14f8aac9ab15762d3b8b1a68d7ae3a29cb6eac2c90bed2",
        "3dc492302be2901373763eb942c7fda111e509883aa527990c7ebe95a9e3f0f3",
    ),
    (
        "set-validator",
        "4f52018d1462249462e8e399e12162d1be201831f14b20b6a2de4696cbfa1bdf",
        "cf0e9ede393cba92f2a72ac727eff5b2656c804fe9960c6915f22576d5e947b8",
    ),
    (
        "set-validator-none",
        "d5e65ac4bc1f09912ceea9016b089f12e8b3a619aadc6a9b4c5251eee247e9b4",
        "81e93fd1fb30278266313a3c82039c4077e0d3694a0490a86bcd11d62fbb1dc8",
    ),
    (
        "import-numbers",
        "c4d45d93db5ceee16fff27469c95c1c979a6465ed28f7473de495f25cc0aeb6a",
        "bce6095de0d5e5b1bc12959c8a3fa9ea3d76b94e4d9d0ebddfc8e8d8aa420390",
    ),
];

#[test]
fn every_transaction_kind_round_trips() {
    for (name, tx) in cases() {
        let bytes = tx.encode();
        let back = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(back, tx, "{name}");
        back.verify(&chain()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // a single flipped bit anywhere is refused, by the decoder or by the signature
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x01;
            let refused = match SignedTransaction::from_bytes(&bad) {
                Err(_) => true,
                Ok(t) => t.verify(&chain()).is_err(),
            };
            assert!(refused, "{name}: flipping bit 0 of byte {i} was accepted");
        }
        // trailing bytes and truncation are refused
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(SignedTransaction::from_bytes(&long).is_err(), "{name}");
        assert!(SignedTransaction::from_bytes(&bytes[..bytes.len() - 1]).is_err(), "{name}");
    }
}

#[test]
fn encodings_are_frozen() {
    use commonware_cryptography::{Hasher, Sha256};
    let actual: Vec<(String, String, String)> = cases()
        .into_iter()
        .map(|(name, tx)| (name.to_owned(), Sha256::hash(&[&tx.encode()]).to_string(), tx.id().to_string()))
        .collect();
    assert_eq!(actual.len(), FROZEN.len(), "fixture list out of date");
    for ((name, digest, id), (fname, fdigest, fid)) in actual.iter().zip(FROZEN) {
        assert_eq!((name.as_str(), digest.as_str(), id.as_str()), (*fname, *fdigest, *fid));
    }
}

#[test]
fn the_request_wire_form_is_documented_byte_by_byte() {
    let bytes = request().encode();
    let expected = concat!(
        "02", // two numbers (varint)
        "0000000b7a918f41",
        "0000000b7a918f42", // +49301000001, +49301000002 as u64 BE
        "03",
        "4f5041", // "OPA"
        "03",
        "4f5042",           // "OPB"
        "0000019b77119680", // due, ms since epoch
        "0000000000000007", // nonce
    );
    assert_eq!(hex(&bytes), expected);
}

#[test]
fn an_admission_without_a_validator_key_is_the_same_fields_minus_the_key_under_tag_14() {
    let with = TxBody::AdmitOperator {
        id: op("OPD"),
        name: "Operator D".into(),
        operator_key: key("OPD").public_key(),
        validator_key: Some(key("OPD/validator").public_key()),
        routing_number: "+4930999".parse().unwrap(),
    }
    .encode();
    let without = admit_without_validator().encode();
    assert_eq!((with[0], without[0]), (0, 14));
    // tag, id (1 + 3), name (1 + 10), operator key (32), [validator key (32)], routing number
    let key_at = 1 + 4 + 11 + 32;
    assert_eq!(&with[1..key_at], &without[1..key_at]);
    assert_eq!(&with[key_at + 32..], &without[key_at..]);
    assert_eq!(&with[key_at..key_at + 32], key("OPD/validator").public_key().as_ref());
}

#[test]
fn the_genesis_state_hash_and_chain_id_are_frozen() {
    let ledger = Ledger::genesis(MemStore::new(), &genesis(Policy::default()), std::iter::empty()).unwrap();
    assert_eq!(
        ledger.chain_id().to_string(),
        "497950798f1ac2b9c08f453cf9d85ae86bcd5f9699a91e96e174242af01d961c"
    );
    assert_eq!(
        ledger.state_hash().to_string(),
        // changed with the epochs: the Epochs table (epoch 0's set), the epoch length in the
        // config and the optional validator key in operator records; the chain id did not.
        // Both changed with RFC 4694 routing numbers (the genesis's bare D001.. became +49D001..)
        // and again with the ranges' lengths (resolved from the numbering plan, hashed into the
        // chain id after the ranges and stored after each range's holder).
        "1756d8dceea7cfcbe1c3e9cea8a6cb2640bc9ada898a5e4291c833f6ca33c421"
    );
}

#[test]
fn batch_verification_agrees_with_one_by_one() {
    use npchain_core::{InvalidTx, verify_batch};
    let mut rng = rand::rng();
    let txs: Vec<SignedTransaction> = cases().into_iter().map(|(_, t)| t).collect();
    let one_by_one: Vec<_> = txs.iter().map(|t| t.clone().verify(&chain())).collect();
    assert!(one_by_one.iter().all(Result::is_ok));
    assert_eq!(verify_batch(txs.clone(), &chain(), &mut rng), one_by_one);
    assert!(verify_batch(Vec::new(), &chain(), &mut rng).is_empty());

    // A flipped signature bit, a consent by the wrong key, and a transaction for another
    // network: the batch fails, and exactly those three are refused, each with its reason.
    let mut bad = txs.clone();
    let mut bytes = bad[0].encode().to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    bad[0] = SignedTransaction::from_bytes(&bytes).unwrap();
    bad[1] = signed(
        "OPB",
        TxBody::RequestPortFor {
            request: request(),
            subscriber: key("alice").public_key(),
            consent: request().consent(&chain(), &key("bob")),
        },
    );
    let elsewhere = ChainId(Digest([0x22; 32]));
    bad[2] = Transaction {
        nonce: 1,
        expires_at: Timestamp(GENESIS_MS + 600_000),
        signer: key("OPA").public_key(),
        body: TxBody::Release { port: request().port_id(&key("alice").public_key()) },
    }
    .sign(&elsewhere, &key("OPA"));
    let got = verify_batch(bad.clone(), &chain(), &mut rng);
    let want: Vec<_> = bad.iter().map(|t| t.clone().verify(&chain())).collect();
    assert_eq!(got, want);
    assert!(matches!(got[0], Err(InvalidTx::BadSignature { .. })), "{:?}", got[0]);
    assert!(matches!(got[1], Err(InvalidTx::BadConsent { .. })), "{:?}", got[1]);
    assert!(matches!(got[2], Err(InvalidTx::BadSignature { .. })), "{:?}", got[2]);
    assert_eq!(got.iter().filter(|r| r.is_ok()).count(), txs.len() - 3);
}

#[test]
fn the_id_read_from_the_bytes_is_the_decoded_id() {
    for (name, tx) in cases() {
        let bytes = tx.encode();
        assert_eq!(SignedTransaction::id_of_encoded(&bytes), Some(tx.id()), "{name}");
    }
    assert_eq!(SignedTransaction::id_of_encoded(&[0u8; 10]), None);
}
