//! Every fuzz target in CI: the valid seeds decode, every file of `corpus/<target>/` (the seeds
//! and what afl found interesting, minimised) replays without a violation, and each target runs
//! over arbitrary bytes and over mutated corpus files with proptest, a bounded number of cases.

mod seeds;

use commonware_codec::DecodeExt;
use npchain_api::{Block, ProofChecker, consent::Consent};
use npchain_core::{Genesis, SignedTransaction, read_ported_csv};
use proptest::prelude::*;
use std::{
    collections::BTreeMap,
    num::NonZeroU64,
    path::{Path, PathBuf},
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The corpus files of `target`, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir().join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("a directory entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().expect("a file name").to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// Whether a seed of `target` is accepted by the decoder the target fuzzes (a seed that were
/// refused would explore nothing past the first check).
fn accepted(target: &str, bytes: &[u8]) -> bool {
    let text = || std::str::from_utf8(bytes).expect("a text seed");
    match target {
        "tx" => SignedTransaction::from_bytes(bytes).is_ok(),
        "block" => Block::decode(bytes::Bytes::copy_from_slice(bytes)).is_ok(),
        "gossip" => npchain_node::consensus::decode_gossip(bytes).is_ok(),
        "certificate" => {
            let checker = ProofChecker::new(npchain_fuzz::proof_validators().iter().cloned());
            let block = npchain_fuzz::certified_block();
            let (mode, rest) = bytes.split_first().expect("a mode byte");
            let whole = if *mode == 0 {
                rest.to_vec()
            } else {
                [npchain_fuzz::certified_proposal(*mode), rest.to_vec()].concat()
            };
            checker.check(&commonware_codec::Encode::encode(&block), &whole).is_ok()
        }
        "proof" => {
            let epochs = NonZeroU64::new(npchain_fuzz::PROOF_BLOCKS_PER_EPOCH).expect("non-zero");
            let checker = ProofChecker::with_epochs(npchain_fuzz::proof_validators().iter().cloned(), epochs);
            let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
            checker.check(&bytes[2..2 + len], &bytes[2 + len..]).is_ok()
        }
        "consent" => Consent::from_bytes(bytes).is_ok() || Consent::from_text(text()).is_ok(),
        "node_key" => npchain_node::keys::parse_key("seed", text()).is_ok(),
        "wallet_key" => {
            let passphrase = text().starts_with(' ').then_some("fuzz passphrase");
            npchain_client::wallet::keyfile::from_text("seed", text(), passphrase).is_ok()
        }
        "genesis" => Genesis::from_toml(text()).is_ok(),
        "migration_csv" => read_ported_csv(bytes, npchain_fuzz::genesis().region).all(|r| r.is_ok()),
        "api_json" => serde_json::from_slice::<serde_json::Value>(&bytes[1..]).is_ok(),
        "http" | "dns" => !bytes.is_empty(),
        other => panic!("no seed check for target {other}"),
    }
}

#[test]
fn every_seed_is_accepted_and_every_target_has_a_corpus() {
    let seeds = seeds::all();
    let mut per_target: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in &seeds {
        assert!(accepted(seed.target, &seed.bytes), "seed {}/{} is refused", seed.target, seed.name);
        *per_target.entry(seed.target).or_default() += 1;
        let target = npchain_fuzz::target(seed.target).expect("a target");
        target(&seed.bytes);
    }
    for (name, _) in npchain_fuzz::TARGETS {
        assert!(per_target.contains_key(name), "target {name} has no seed");
        let files = corpus(name);
        assert!(
            files.iter().any(|(f, _)| f.starts_with("seed-")),
            "corpus/{name} holds no seed (run the seeds example)"
        );
    }
}

#[test]
fn every_corpus_file_replays() {
    let mut total = 0;
    for (name, target) in npchain_fuzz::TARGETS {
        for (file, bytes) in corpus(name) {
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            assert!(outcome.is_ok(), "corpus/{name}/{file} violates the target");
            total += 1;
        }
    }
    assert!(total >= npchain_fuzz::TARGETS.len());
}

/// Cases per target and strategy: all targets together run in well under a minute in a debug
/// build (the afl runs of `scripts/fuzz` are the large budget). `NPCHAIN_FUZZ_CASES` sets
/// another number, for a long run where afl cannot run.
const CASES: u32 = 256;

fn cases() -> u32 {
    std::env::var("NPCHAIN_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(CASES)
}

/// A corpus file of `target` with a few random edits: bytes overwritten, inserted, removed, or
/// the file cut.
fn mutated(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let files: Vec<Vec<u8>> = corpus(target).into_iter().map(|(_, b)| b).collect();
    let edits = prop::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 1..6);
    (prop::sample::select(files), edits).prop_map(|(mut bytes, edits)| {
        for (kind, at, byte) in edits {
            let i = if bytes.is_empty() { 0 } else { at.index(bytes.len()) };
            match kind {
                0 if !bytes.is_empty() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 if !bytes.is_empty() => {
                    bytes.remove(i);
                }
                3 => bytes.truncate(i),
                _ => {}
            }
        }
        bytes
    })
}

macro_rules! fuzz_target_tests {
    ($($name:ident => $target:literal),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                proptest! {
                    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]
                    #[test]
                    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
                        npchain_fuzz::target($target).expect("a target")(&data);
                    }
                    #[test]
                    fn mutated_corpus(data in mutated($target)) {
                        npchain_fuzz::target($target).expect("a target")(&data);
                    }
                }
            }
        )*
        #[test]
        fn every_target_has_property_tests() {
            let tested = [$($target),*];
            for (name, _) in npchain_fuzz::TARGETS {
                assert!(tested.contains(name), "target {name} has no property tests");
            }
        }
    };
}

fuzz_target_tests! {
    tx => "tx",
    block => "block",
    gossip => "gossip",
    certificate => "certificate",
    proof => "proof",
    consent => "consent",
    node_key => "node_key",
    wallet_key => "wallet_key",
    genesis => "genesis",
    migration_csv => "migration_csv",
    api_json => "api_json",
    http => "http",
    dns => "dns",
}
