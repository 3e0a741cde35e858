//! Learning sets across epochs, with fabricated certificates ([`npchain_api::proof::testing`])
//! and a stand-in node that serves canned answers: proving a step of epoch 2 learns the sets
//! of epochs 1 and 2 from their boundary blocks, `verify` re-checks the whole chain of sets
//! offline, and a forged set change, from a node or in the file, is refused naming its epoch.

use super::{EPOCHS_FILE, Learned};
use crate::{
    http::Client,
    wallet::{Entry, Fault, Wallet, WalletError, keyfile},
};
use commonware_codec::Encode as _;

use npchain_api::{
    Block, ProofError,
    proof::testing::{block, finalization, sorted_public as public},
};
use npchain_core::types::{PortId, PrivateKey};
use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader, Write as _},
    net::TcpListener,
    path::Path,
};

fn keys(name: &str) -> Vec<PrivateKey> {
    (0..4).map(|i| npchain_testkit::key(&format!("{name}{i}"))).collect()
}

fn hex(bytes: &[u8]) -> String {
    commonware_formatting::hex(bytes)
}

fn port() -> PortId {
    "ab".repeat(32).parse().unwrap()
}

/// A chain of four blocks an epoch with sets A (genesis), B (epoch 1), C (epoch 2).
struct Chain {
    a: Vec<PrivateKey>,
    b: Vec<PrivateKey>,
    c: Vec<PrivateKey>,
}

impl Chain {
    fn new() -> Self {
        Self { a: keys("validator-a"), b: keys("validator-b"), c: keys("validator-c") }
    }

    /// `block`'s bytes and its certificate by a quorum of `set` in `epoch`.
    fn proof(set: &[PrivateKey], epoch: u64, block: &Block) -> (Vec<u8>, Vec<u8>) {
        (block.encode().to_vec(), finalization(&public(set), &set[..3], epoch, 10 + block.height, block))
    }

    /// The proof of block `height` as the chain has it (boundaries name the next set).
    fn final_proof(&self, height: u64) -> (Vec<u8>, Vec<u8>) {
        let (set, epoch) = match height / 4 {
            0 => (&self.a, 0),
            1 => (&self.b, 1),
            _ => (&self.c, 2),
        };
        let next = match height {
            3 => public(&self.b),
            7 => public(&self.c),
            11 => public(&self.a),
            _ => Vec::new(),
        };
        Self::proof(set, epoch, &block(height, next))
    }

    fn learned(&self, epoch: u64) -> Learned {
        let height = epoch * 4 - 1;
        let (block, certificate) = self.final_proof(height);
        Learned { epoch, height, block: hex(&block), certificate: hex(&certificate) }
    }

    /// An `expired` step (no transaction) at `height`.
    fn entry(&self, height: u64) -> Entry {
        let (block, certificate) = self.final_proof(height);
        Entry {
            port: port().to_string(),
            step: "expired".into(),
            height,
            block: hex(&block),
            certificate: hex(&certificate),
            tx_index: None,
        }
    }

    /// A wallet in `dir` that trusts A for epoch 0, with four blocks an epoch.
    fn wallet(&self, dir: &Path, nodes: &[String]) -> Wallet {
        keyfile::write(&dir.join("wallet.key"), &keyfile::generate(), None).unwrap();
        let validators: Vec<String> =
            public(&self.a).iter().map(|k| format!("\"{}\"", hex(k.as_ref()))).collect();
        let nodes: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
        let toml = format!(
            "nodes = [{}]\nchain_id = \"{}\"\nvalidators = [{}]\nblocks_per_epoch = 4\n",
            nodes.join(", "),
            "00".repeat(32),
            validators.join(", "),
        );
        std::fs::write(dir.join("wallet.toml"), toml).unwrap();
        Wallet::open(dir, None).unwrap()
    }
}

fn write_jsonl<T: serde::Serialize>(path: &Path, records: &[T]) {
    let text: String = records.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
    std::fs::write(path, text).unwrap();
}

/// A stand-in node: `GET /v1/blocks/{h}/finalization` answers from `proofs`, anything else 404.
fn node(proofs: HashMap<u64, (Vec<u8>, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).map_or(true, |n| n == 0) || line == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            let height = path
                .strip_prefix("/v1/blocks/")
                .and_then(|p| p.strip_suffix("/finalization"))
                .and_then(|h| h.parse::<u64>().ok());
            let (status, body) = match height.and_then(|h| proofs.get(&h).map(|p| (h, p))) {
                Some((h, (block, certificate))) => (
                    "200 OK",
                    serde_json::json!({ "height": h, "block": hex(block), "finalization": hex(certificate) }),
                ),
                None => ("404 Not Found", serde_json::json!({ "error": "not-found", "message": path })),
            };
            let body = body.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn a_ledger_across_three_epochs_verifies_offline_from_the_genesis_set() {
    let chain = Chain::new();
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join(EPOCHS_FILE), &[chain.learned(1), chain.learned(2)]);
    write_jsonl(
        &dir.path().join("ledger.jsonl"),
        &[chain.entry(1), chain.entry(5), chain.entry(7), chain.entry(9)],
    );
    let wallet = chain.wallet(dir.path(), &[]);
    assert_eq!(wallet.known_epochs(), 3);
    assert_eq!(wallet.verify().unwrap(), 4);
}

#[test]
fn without_the_sets_a_later_epochs_entry_does_not_verify() {
    let chain = Chain::new();
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join(EPOCHS_FILE), &[chain.learned(1)]);
    write_jsonl(&dir.path().join("ledger.jsonl"), &[chain.entry(5), chain.entry(9)]);
    let wallet = chain.wallet(dir.path(), &[]);
    let got = wallet.verify().unwrap_err();
    assert!(
        matches!(
            &got,
            WalletError::Tampered {
                line: 2,
                fault: Fault::Proof(ProofError::UnknownEpoch { epoch: 2, known: 2 }),
                ..
            }
        ),
        "{got}"
    );
}

/// Whether an error is the refusal a case expects.
type Refused = fn(&WalletError) -> bool;

#[test]
fn a_forged_set_change_in_the_epochs_file_is_refused_naming_its_epoch() {
    let chain = Chain::new();
    let strangers = keys("stranger");
    let forged = |block: &Block, set: &[PrivateKey], epoch: u64| {
        let (b, c) = Chain::proof(set, epoch, block);
        Learned { epoch: 1, height: block.height, block: hex(&b), certificate: hex(&c) }
    };
    let boundary = block(3, public(&strangers));
    let cases: Vec<(Vec<Learned>, Refused)> = vec![
        // epoch 1's set named by a boundary block that the strangers signed
        (vec![forged(&boundary, &strangers, 0)], |e| {
            matches!(
                e,
                WalletError::ForgedEpoch {
                    line: 1,
                    epoch: 1,
                    fault: Fault::Proof(ProofError::BadSignatures)
                }
            )
        }),
        // a set named by a block inside epoch 0
        (vec![Learned { height: 3, ..forged(&block(2, public(&strangers)), &chain.a, 0) }], |e| {
            matches!(
                e,
                WalletError::ForgedEpoch {
                    epoch: 1,
                    fault: Fault::Proof(ProofError::SetOutsideBoundary { height: 2, epoch: 0 }),
                    ..
                }
            )
        }),
        (vec![Learned { height: 2, ..forged(&block(2, public(&strangers)), &chain.a, 0) }], |e| {
            matches!(
                e,
                WalletError::ForgedEpoch { epoch: 1, fault: Fault::Boundary { got: 2, want: Some(3) }, .. }
            )
        }),
        // the boundary's set swapped after epoch 0's set signed it
        (vec![Learned { block: hex(&boundary.encode()), ..chain.learned(1) }], |e| {
            matches!(
                e,
                WalletError::ForgedEpoch { epoch: 1, fault: Fault::Proof(ProofError::OtherBlock { .. }), .. }
            )
        }),
        // epoch 2's set before epoch 1's
        (vec![chain.learned(2)], |e| {
            matches!(
                e,
                WalletError::ForgedEpoch { line: 1, epoch: 2, fault: Fault::Epoch { got: 2, want: 1 } }
            )
        }),
        // the new set signing its own change
        (vec![forged(&block(3, public(&chain.b)), &chain.b, 0)], |e| {
            matches!(
                e,
                WalletError::ForgedEpoch { epoch: 1, fault: Fault::Proof(ProofError::BadSignatures), .. }
            )
        }),
        (
            vec![chain.learned(1), Learned { epoch: 2, ..forged(&block(7, public(&chain.c)), &chain.c, 1) }],
            |e| {
                matches!(
                    e,
                    WalletError::ForgedEpoch {
                        line: 2,
                        epoch: 2,
                        fault: Fault::Proof(ProofError::BadSignatures)
                    }
                )
            },
        ),
    ];
    for (records, refused) in cases {
        let dir = tempfile::tempdir().unwrap();
        let wallet = chain.wallet(dir.path(), &[]);
        write_jsonl(&dir.path().join(EPOCHS_FILE), &records);
        write_jsonl(&dir.path().join("ledger.jsonl"), &[chain.entry(1)]);
        let got = wallet.verify().unwrap_err();
        assert!(refused(&got), "{got}");
        assert!(got.to_string().contains(&format!("epoch {}", records.last().unwrap().epoch)), "{got}");
        // nor does the wallet open with it
        assert!(Wallet::open(dir.path(), None).is_err());
    }
}

#[test]
fn proving_a_step_of_a_later_epoch_learns_the_sets_it_lacks_in_order() {
    let chain = Chain::new();
    let proofs: HashMap<u64, _> = [3, 7, 9].into_iter().map(|h| (h, chain.final_proof(h))).collect();
    let url = node(proofs);
    let dir = tempfile::tempdir().unwrap();
    let wallet = chain.wallet(dir.path(), std::slice::from_ref(&url));
    let client = Client::new(vec![url]);
    let entry = wallet.prove(&client, &port(), "expired", 9, false).unwrap();
    assert_eq!(entry, chain.entry(9));
    assert_eq!(wallet.known_epochs(), 3);
    assert_eq!(wallet.learned().unwrap(), vec![chain.learned(1), chain.learned(2)]);
    wallet.append(&entry).unwrap();
    // offline, from the files alone
    let reopened = Wallet::open(dir.path(), None).unwrap();
    assert_eq!(reopened.known_epochs(), 3);
    assert_eq!(reopened.verify().unwrap(), 1);
}

#[test]
fn a_node_that_forges_a_set_change_teaches_the_wallet_nothing() {
    let chain = Chain::new();
    let strangers = keys("stranger");
    let mut proofs: HashMap<u64, _> = [7, 9].into_iter().map(|h| (h, chain.final_proof(h))).collect();
    // the strangers name themselves epoch 1's set and sign it
    proofs.insert(3, Chain::proof(&strangers, 0, &block(3, public(&strangers))));
    let url = node(proofs);
    let dir = tempfile::tempdir().unwrap();
    let wallet = chain.wallet(dir.path(), std::slice::from_ref(&url));
    let got = wallet.prove(&Client::new(vec![url]), &port(), "expired", 9, false).unwrap_err();
    assert!(
        matches!(got, WalletError::Forged { height: 3, fault: Fault::Proof(ProofError::BadSignatures), .. }),
        "{got}"
    );
    assert_eq!(wallet.known_epochs(), 1);
    assert!(wallet.learned().unwrap().is_empty());
}
