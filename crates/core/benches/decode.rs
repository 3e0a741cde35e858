//! Decoding transactions from the wire, as every node does with every transaction it is sent:
//! signed by a few operators (releases, whose signer keys repeat) and by as many subscribers as
//! transactions (requests, every signer key new). Prints µs per transaction; asserts nothing.
//!
//! `cargo bench -p npchain-core --bench decode` (`NPCHAIN_BENCH_TXS=2000` for a quick run).
//! The gap between the two is what a signer key's decoding (a curve point decompression)
//! costs, and what the decoded-key cache saves on repeated signers.

#![allow(clippy::print_stdout)] // a benchmark prints its figures

use commonware_codec::Encode;
use commonware_cryptography::{Signer, sha256::Digest};
use npchain_core::{
    ChainId, PortId, PortRequest, PrivateKey, SignedTransaction, Timestamp, Transaction, TxBody,
};
use std::{hint::black_box, time::Instant};

fn signed(key: &PrivateKey, nonce: u64, body: TxBody) -> Vec<u8> {
    let chain = ChainId(Digest::from([0x11; 32]));
    Transaction { nonce, expires_at: Timestamp(u64::MAX), signer: key.public_key(), body }
        .sign(&chain, key)
        .encode()
        .to_vec()
}

/// The fastest of five passes over `txs`, in µs per transaction.
fn decode_us(txs: &[Vec<u8>]) -> f64 {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for bytes in txs {
                black_box(SignedTransaction::from_bytes(black_box(bytes)).expect("decodes"));
            }
            started.elapsed().as_secs_f64() * 1e6 / txs.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let n: u64 = std::env::var("NPCHAIN_BENCH_TXS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let operators: Vec<PrivateKey> = (0..4).map(PrivateKey::from_seed).collect();
    let releases: Vec<Vec<u8>> = (0..n)
        .map(|k| {
            let port = PortId(Digest::from([(k % 251) as u8; 32]));
            signed(&operators[(k % 4) as usize], k, TxBody::Release { port })
        })
        .collect();
    // more subscriber keys than the cache keeps (4,096), so that no pass finds one there
    let requests: Vec<Vec<u8>> = (0..n.max(16_384))
        .map(|k| {
            let subscriber = PrivateKey::from_seed(1_000 + k);
            let request = PortRequest {
                numbers: vec![format!("+4915{k:09}").parse().expect("a valid number")],
                donor: "OPA".parse().expect("an operator id"),
                recipient: "OPB".parse().expect("an operator id"),
                due: Timestamp(0),
                nonce: k,
            };
            signed(&subscriber, k, TxBody::RequestPort(request))
        })
        .collect();
    println!("{n} releases, {} requests", requests.len());
    println!("decode, 4 operator signers (keys repeat):     {:>6.2} µs/tx", decode_us(&releases));
    println!("decode, a new subscriber signer every time:   {:>6.2} µs/tx", decode_us(&requests));
}
