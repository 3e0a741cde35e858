//! The valid seeds of every target, made by the real encoders: signed transactions, blocks,
//! gossip, finalization certificates and proofs (as the engine makes them), consents, key files,
//! the genesis and a migration list, the node's own JSON answers, HTTP requests and DNS queries.
//! `tests/corpus.rs` checks that each is accepted by its target's decoder; `examples/seeds.rs`
//! writes them into `corpus/<target>/seed-*`.

#![allow(dead_code)] // the example uses `all`, the test every part

use bytes::Bytes;
use commonware_codec::Encode;
use commonware_cryptography::{Digestible, Signer};
use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
};
use npchain_api::{Block, consent::Consent, proof::testing};
use npchain_core::{
    Policy, PortRequest, PrivateKey, RejectReason, Timestamp, Transaction, TxBody,
    types::{Digest, PortId},
};
use npchain_testkit::{GENESIS_TIME, key, num, op};

/// The seed named `name` of `target`.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

fn seed(target: &'static str, name: &str, bytes: impl Into<Vec<u8>>) -> Seed {
    Seed { target, name: name.to_owned(), bytes: bytes.into() }
}

fn signed(signer: &PrivateKey, nonce: u64, body: TxBody) -> Vec<u8> {
    let tx = Transaction {
        nonce,
        expires_at: Timestamp(GENESIS_TIME.millis() + 600_000),
        signer: signer.public_key(),
        body,
    };
    tx.sign(&npchain_fuzz::chain_id(), signer).encode().to_vec()
}

fn request() -> PortRequest {
    PortRequest {
        numbers: vec![num("+4930100001"), num("+4930100002")],
        donor: op("OPA"),
        recipient: op("OPB"),
        due: GENESIS_TIME,
        nonce: 7,
    }
}

fn a_consent() -> Consent {
    Consent::sign(
        npchain_fuzz::chain_id(),
        request(),
        &key("subscriber"),
        Timestamp(GENESIS_TIME.millis() + 86_400_000),
    )
}

/// Signed transactions of most kinds.
fn transactions() -> Vec<(&'static str, Vec<u8>)> {
    let port = PortId(Digest::from([3u8; 32]));
    let regulator = key("regulator");
    let consent = request().consent(&npchain_fuzz::chain_id(), &key("subscriber"));
    vec![
        ("request-port", signed(&key("subscriber"), 1, TxBody::RequestPort(request()))),
        (
            "request-port-for",
            signed(
                &key("OPB"),
                2,
                TxBody::RequestPortFor {
                    request: request(),
                    subscriber: key("subscriber").public_key(),
                    consent,
                },
            ),
        ),
        ("release", signed(&key("OPA"), 3, TxBody::Release { port })),
        ("reject", signed(&key("OPA"), 4, TxBody::Reject { port, reason: RejectReason::CourtOrder })),
        ("activate", signed(&key("OPB"), 5, TxBody::Activate { port })),
        (
            "bind",
            signed(
                &key("OPA"),
                6,
                TxBody::Bind { number: num("+4930100001"), subscriber: Some(key("s").public_key()) },
            ),
        ),
        ("return", signed(&key("OPB"), 7, TxBody::Return { number: num("+4930100007") })),
        ("cancel", signed(&key("subscriber"), 8, TxBody::Cancel { port })),
        ("set-policy", signed(&regulator, 9, TxBody::SetPolicy(Policy::default()))),
        (
            "admit-operator",
            signed(
                &regulator,
                10,
                TxBody::AdmitOperator {
                    id: op("OPD"),
                    name: "Operator OPD".into(),
                    operator_key: key("OPD").public_key(),
                    validator_key: Some(key("OPD/validator").public_key()),
                    routing_number: "+49D004".parse().expect("a routing number"),
                },
            ),
        ),
        (
            "assign-range-lengths",
            signed(
                &regulator,
                11,
                TxBody::AssignRangeWithLengths {
                    prefix: "+49304".parse().expect("a prefix"),
                    holder: op("OPC"),
                    lengths: "11-12".parse().expect("lengths"),
                },
            ),
        ),
        (
            "withdraw-range",
            signed(&regulator, 12, TxBody::WithdrawRange { prefix: "+49303".parse().expect("a prefix") }),
        ),
        (
            "set-validator",
            signed(&regulator, 13, TxBody::SetValidator { id: op("OPC"), validator_key: None }),
        ),
    ]
}

fn proof_signers() -> Vec<PrivateKey> {
    (0..4).map(|i| key(&format!("fuzz/validator/{i}"))).collect()
}

/// A proof-target input: the block's length, the block, the certificate.
fn proof_input(block: &Block, certificate: &[u8]) -> Vec<u8> {
    let block = block.encode();
    let len = u16::try_from(block.len()).expect("a small block");
    [&len.to_be_bytes()[..], &block, certificate].concat()
}

fn dns_query(name: &str, rtype: RecordType, edns: bool, id: u16) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("a name"), rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232).set_dnssec_ok(true);
        m.edns = Some(e);
    }
    m.to_vec().expect("a query encodes")
}

/// Every seed.
pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let txs = transactions();
    for (name, bytes) in &txs {
        seeds.push(seed("tx", name, bytes.clone()));
    }
    let tx_bytes: Vec<Bytes> = txs.iter().map(|(_, b)| Bytes::from(b.clone())).collect();
    seeds.push(seed("gossip", "all-kinds", tx_bytes.encode().to_vec()));
    seeds.push(seed("gossip", "one", tx_bytes[..1].to_vec().encode().to_vec()));

    let validators = npchain_fuzz::proof_validators().to_vec();
    let signers = proof_signers();
    let block = Block {
        parent: Digest::from([1u8; 32]),
        height: 1,
        time: GENESIS_TIME,
        state_hash: Digest::from([2u8; 32]),
        next_validators: Vec::new(),
        txs: tx_bytes[..3].to_vec(),
    };
    seeds.push(seed("block", "three-txs", block.encode().to_vec()));
    let last = npchain_fuzz::PROOF_BLOCKS_PER_EPOCH - 1;
    let boundary = testing::block(last, testing::sorted_public(&signers[..3]));
    seeds.push(seed("block", "boundary", boundary.encode().to_vec()));
    seeds.push(seed(
        "block",
        "genesis",
        Block::genesis(GENESIS_TIME, npchain_fuzz::chain_id()).encode().to_vec(),
    ));

    let finalization = testing::finalization(&validators, &signers[..3], 0, 1, &block);
    seeds.push(seed("proof", "height-1", proof_input(&block, &finalization)));
    let learn = testing::finalization(&validators, &signers, 0, 9, &boundary);
    seeds.push(seed("proof", "boundary", proof_input(&boundary, &learn)));

    let certified = npchain_fuzz::certified_block();
    let whole = testing::finalization(&validators, &signers[..3], 0, 1, &certified);
    let proposal = npchain_fuzz::certified_proposal(1);
    assert!(whole.starts_with(&proposal), "the fuzz target's proposal is the engine's");
    seeds.push(seed("certificate", "whole", [&[0u8][..], &whole].concat()));
    seeds.push(seed("certificate", "signatures", [&[1u8][..], &whole[proposal.len()..]].concat()));
    let all_four = testing::finalization(&validators, &signers, 0, 1, &certified);
    seeds.push(seed("certificate", "four-signers", [&[1u8][..], &all_four[proposal.len()..]].concat()));
    assert_eq!(&proposal[3..], certified.digest().as_ref());

    let consent = a_consent();
    seeds.push(seed("consent", "text", consent.to_text()));
    seeds.push(seed("consent", "bytes", consent.encode().to_vec()));

    let node_key = commonware_formatting::hex(&key("OPA/validator").encode());
    seeds.push(seed("node_key", "hex", format!("{node_key}\n")));
    use npchain_client::wallet::keyfile;
    seeds.push(seed("wallet_key", "plain", keyfile::to_text(&key("subscriber"), None).expect("a key file")));
    let sealed = keyfile::to_text(&key("regulator"), Some("fuzz passphrase")).expect("a sealed key file");
    seeds.push(seed("wallet_key", "sealed", format!(" {sealed}")));

    let genesis = npchain_fuzz::genesis();
    seeds.push(seed("genesis", "three-operators", genesis.to_toml()));
    let mut other = genesis.clone();
    other.blocks_per_epoch = std::num::NonZeroU64::new(100).expect("non-zero");
    other.policy.donor_answer_secs = 3600;
    other.ranges.push(
        npchain_core::GenesisRange::new(
            "+49304".parse().expect("a prefix"),
            op("OPC"),
            Some("11-12".parse().expect("lengths")),
        )
        .expect("a range"),
    );
    seeds.push(seed("genesis", "epochs-lengths", other.to_toml()));

    seeds.push(seed(
        "migration_csv",
        "three-columns",
        "number,operator,rn\n+4930100007,OPB,\n030100008,OPA,+49D001\n",
    ));
    seeds.push(seed("migration_csv", "two-columns", "number,operator\n+4930200001, OPC\n"));

    // the node's own answers, as a client reads them
    let shapes: [(u8, &str); 9] = [
        (0, "/v1/status"),
        (1, "/v1/blocks/0"),
        (4, "/v1/numbers/+4930100007"),
        (5, "/v1/numbers/+4930100007/history"),
        (7, "/v1/ports"),
        (9, "/v1/operators"),
        (10, "/v1/ranges"),
        (11, "/v1/policy"),
        (3, "/v1/tx/0000000000000000000000000000000000000000000000000000000000000000"),
    ];
    for (shape, path) in shapes {
        let (status, body) = npchain_fuzz::http_call("GET", path, false, false, b"").expect("a path");
        assert!(status.is_success() || status.as_u16() == 404, "{path}: {status}");
        if status.is_success() {
            let name = path.trim_start_matches("/v1/").replace('/', "-");
            seeds.push(seed("api_json", &name, [&[shape][..], &body].concat()));
        }
    }
    let event = r#"{"height":3,"block_time_ms":1767225600000,"index":0,"type":"range_assigned","prefix":"+49304","holder":"OPC"}"#;
    seeds.push(seed("api_json", "event", [&[8u8][..], event.as_bytes()].concat()));
    let batch = serde_json::json!({ "txs": txs.iter().take(2).map(|(_, b)| commonware_formatting::hex(b)).collect::<Vec<_>>() });
    seeds.push(seed("api_json", "submit-batch", [&[13u8][..], batch.to_string().as_bytes()].concat()));

    // HTTP requests: the route byte, the path segment, a newline, the body
    let hex_tx = commonware_formatting::hex(&txs[0].1);
    let http: Vec<(&str, u8, String, Vec<u8>)> = vec![
        ("tx-json", 0, String::new(), format!(r#"{{"tx":"{hex_tx}"}}"#).into_bytes()),
        ("tx-bytes", 1, String::new(), txs[2].1.clone()),
        ("txs", 2, String::new(), batch.to_string().into_bytes()),
        ("request-for", 3, String::new(), format!(r#"{{"consent":"{}"}}"#, consent.to_text()).into_bytes()),
        ("reject", 4, String::new(), br#"{"reason":"court-order"}"#.to_vec()),
        (
            "bind",
            5,
            String::new(),
            format!(r#"{{"subscriber":"{}"}}"#, commonware_formatting::hex(&key("s").public_key().encode()))
                .into_bytes(),
        ),
        ("ports-query", 6, "/v1/ports?operator=OPA&state=open&limit=5".into(), Vec::new()),
        ("number", 6, "/v1/numbers/030100001".into(), Vec::new()),
        ("events", 6, "/v1/events?operator=OPA&from=0".into(), Vec::new()),
        ("return", 7, "/v1/operator/numbers/+4930100007/return".into(), Vec::new()),
    ];
    for (name, route, head, body) in http {
        seeds.push(seed("http", name, [&[route][..], head.as_bytes(), b"\n", &body].concat()));
    }

    let dns: Vec<(&str, u8, Vec<u8>)> = vec![
        ("naptr-udp-edns", 0, dns_query("7.0.0.0.0.1.0.3.9.4.e164.arpa.", RecordType::NAPTR, true, 1)),
        ("naptr-udp", 0, dns_query("1.0.0.0.0.1.0.3.9.4.e164.arpa.", RecordType::NAPTR, false, 2)),
        ("naptr-tcp", 1, dns_query("1.0.0.0.0.2.0.3.9.4.e164.arpa.", RecordType::NAPTR, true, 3)),
        ("soa", 0, dns_query("e164.arpa.", RecordType::SOA, true, 4)),
        ("ns", 1, dns_query("e164.arpa.", RecordType::NS, false, 5)),
        ("unknown", 0, dns_query("9.9.9.9.9.9.9.9.4.e164.arpa.", RecordType::ANY, true, 6)),
        ("outside", 0, dns_query("example.com.", RecordType::A, false, 7)),
    ];
    for (name, flags, query) in dns {
        seeds.push(seed("dns", name, [&[flags][..], &query].concat()));
    }
    seeds
}
