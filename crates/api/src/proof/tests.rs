//! The checker across epochs, with certificates made as the engine makes them
//! ([`super::testing`]; the node's tests check the engine's own).

use super::{
    ProofChecker, ProofError,
    testing::{block, finalization, sorted_public as public},
};
use crate::block::Block;
use commonware_codec::Encode as _;

use npchain_core::types::PrivateKey;
use std::num::NonZeroU64;

/// Four blocks an epoch: epoch 0 is heights 0..=3, epoch 1 4..=7, epoch 2 8..=11.
const N: NonZeroU64 = NonZeroU64::new(4).unwrap();

fn keys(name: &str) -> Vec<PrivateKey> {
    (0..4).map(|i| npchain_testkit::key(&format!("{name}{i}"))).collect()
}

/// `block` finalized in `epoch` by a quorum (three of four) of `set`.
fn certify(set: &[PrivateKey], epoch: u64, block: &Block) -> Vec<u8> {
    finalization(&public(set), &set[..3], epoch, 10 + block.height, block)
}

struct Chain {
    a: Vec<PrivateKey>,
    b: Vec<PrivateKey>,
    c: Vec<PrivateKey>,
}

impl Chain {
    fn new() -> Self {
        Self { a: keys("validator-a"), b: keys("validator-b"), c: keys("validator-c") }
    }

    fn checker(&self) -> ProofChecker {
        ProofChecker::with_epochs(public(&self.a), N)
    }

    /// The last block of epoch 0 (naming B) and of epoch 1 (naming C), each with its certificate.
    fn boundaries(&self) -> [(Vec<u8>, Vec<u8>); 2] {
        let end0 = block(3, public(&self.b));
        let end1 = block(7, public(&self.c));
        [
            (end0.encode().to_vec(), certify(&self.a, 0, &end0)),
            (end1.encode().to_vec(), certify(&self.b, 1, &end1)),
        ]
    }
}

#[test]
fn three_epochs_with_three_sets_verify() {
    let chain = Chain::new();
    let mut checker = chain.checker();
    let [end0, end1] = chain.boundaries();
    assert_eq!(checker.learn(&end0.0, &end0.1).unwrap(), 1);
    assert_eq!(checker.learn(&end1.0, &end1.1).unwrap(), 2);
    assert_eq!(checker.known(), 3);
    assert_eq!(checker.validators(2).unwrap(), public(&chain.c).as_slice());

    for (set, epoch, height) in [(&chain.a, 0, 1), (&chain.b, 1, 5), (&chain.c, 2, 8), (&chain.c, 2, 10)] {
        let b = block(height, Vec::new());
        assert_eq!(checker.check(&b.encode(), &certify(set, epoch, &b)).unwrap(), b);
    }
    // the boundary blocks themselves are final blocks too
    assert!(checker.check(&end1.0, &end1.1).is_ok());
    // each epoch only by its own set
    let b = block(9, Vec::new());
    assert!(matches!(checker.check(&b.encode(), &certify(&chain.b, 2, &b)), Err(ProofError::BadSignatures)));
    let b = block(5, Vec::new());
    assert!(matches!(checker.check(&b.encode(), &certify(&chain.a, 1, &b)), Err(ProofError::BadSignatures)));
}

#[test]
fn a_block_of_epoch_2_is_refused_before_the_epoch_1_boundary_is_learned() {
    let chain = Chain::new();
    let mut checker = chain.checker();
    let b = block(9, Vec::new());
    let proof = (b.encode(), certify(&chain.c, 2, &b));
    assert!(matches!(
        checker.check(&proof.0, &proof.1),
        Err(ProofError::UnknownEpoch { epoch: 2, known: 1 })
    ));
    let [end0, end1] = chain.boundaries();
    checker.learn(&end0.0, &end0.1).unwrap();
    assert!(matches!(
        checker.check(&proof.0, &proof.1),
        Err(ProofError::UnknownEpoch { epoch: 2, known: 2 })
    ));
    // nor can epoch 1's boundary be skipped
    let end2 = block(11, public(&chain.a));
    assert!(matches!(
        checker.learn(&end2.encode(), &certify(&chain.c, 2, &end2)),
        Err(ProofError::UnknownEpoch { epoch: 2, .. })
    ));
    checker.learn(&end1.0, &end1.1).unwrap();
    assert_eq!(checker.check(&proof.0, &proof.1).unwrap(), b);
}

#[test]
fn a_forged_set_change_is_refused_and_teaches_nothing() {
    let chain = Chain::new();
    let strangers = keys("stranger");
    let mut checker = chain.checker();
    let end0 = block(3, public(&chain.b));
    let refused = |checker: &mut ProofChecker, b: &Block, cert: Vec<u8>| {
        let got = checker.learn(&b.encode(), &cert).unwrap_err();
        assert_eq!(checker.known(), 1, "{got}: nothing learned");
        got
    };
    // the boundary block certified by a set that is not epoch 0's
    let got = refused(&mut checker, &end0, certify(&strangers, 0, &end0));
    assert!(matches!(got, ProofError::BadSignatures), "{got}");
    // the set change signed by the new set itself, as of epoch 0 or of epoch 1
    let got = refused(&mut checker, &end0, certify(&chain.b, 0, &end0));
    assert!(matches!(got, ProofError::BadSignatures), "{got}");
    let got = refused(&mut checker, &end0, certify(&chain.b, 1, &end0));
    assert!(matches!(got, ProofError::WrongEpoch { height: 3, certified: 1, epoch: 0 }), "{got}");
    // a set in a block that does not end its epoch, even one epoch 0's set finalized
    let inside = block(2, public(&chain.b));
    let got = refused(&mut checker, &inside, certify(&chain.a, 0, &inside));
    assert!(matches!(got, ProofError::SetOutsideBoundary { height: 2, epoch: 0 }), "{got}");
    assert!(matches!(
        checker.check(&inside.encode(), &certify(&chain.a, 0, &inside)),
        Err(ProofError::SetOutsideBoundary { .. })
    ));
    // a block that is not a boundary names no set
    let plain = block(2, Vec::new());
    let got = refused(&mut checker, &plain, certify(&chain.a, 0, &plain));
    assert!(matches!(got, ProofError::NotBoundary { height: 2, epoch: 0, last: Some(3) }), "{got}");
    // an empty, an unsorted, a repeated set
    let empty = block(3, Vec::new());
    let got = refused(&mut checker, &empty, certify(&chain.a, 0, &empty));
    assert!(matches!(got, ProofError::EmptySet { epoch: 0 }), "{got}");
    let mut unsorted = public(&chain.b);
    unsorted.reverse();
    let mut repeated = public(&chain.b);
    repeated.push(repeated[3].clone());
    for set in [unsorted, repeated] {
        let b = block(3, set);
        let got = refused(&mut checker, &b, certify(&chain.a, 0, &b));
        assert!(matches!(got, ProofError::UnsortedSet { epoch: 0 }), "{got}");
    }
    // learned once, the same boundary does not teach again
    checker.learn(&end0.encode(), &certify(&chain.a, 0, &end0)).unwrap();
    let got = checker.learn(&end0.encode(), &certify(&chain.a, 0, &end0)).unwrap_err();
    assert!(matches!(got, ProofError::NotNextBoundary { height: 3, epoch: 0, next: 1 }), "{got}");
    assert_eq!(checker.known(), 2);
}

#[test]
fn the_certificate_names_the_epoch_of_the_blocks_height() {
    let chain = Chain::new();
    let mut checker = chain.checker();
    let [end0, _] = chain.boundaries();
    checker.learn(&end0.0, &end0.1).unwrap();
    // a block of epoch 1 with a certificate of epoch 0's set, in an epoch 0 round
    let b = block(5, Vec::new());
    let got = checker.check(&b.encode(), &certify(&chain.a, 0, &b)).unwrap_err();
    assert!(matches!(got, ProofError::WrongEpoch { height: 5, certified: 0, epoch: 1 }), "{got}");
    // a block of epoch 0 signed by epoch 1's set in an epoch 1 round
    let b = block(1, Vec::new());
    let got = checker.check(&b.encode(), &certify(&chain.b, 1, &b)).unwrap_err();
    assert!(matches!(got, ProofError::WrongEpoch { height: 1, certified: 1, epoch: 0 }), "{got}");
}

#[test]
fn one_epoch_holds_every_height_of_a_chain_that_never_changes_its_set() {
    let chain = Chain::new();
    let checker = ProofChecker::new(public(&chain.a));
    assert_eq!(checker.epoch_of(u64::MAX - 1), 0);
    assert_eq!(checker.last_height(0), Some(u64::MAX - 1));
    let b = block(5_000, Vec::new());
    assert!(checker.check(&b.encode(), &certify(&chain.a, 0, &b)).is_ok());

    let epochs = ProofChecker::with_epochs(public(&chain.a), NonZeroU64::new(1_000).unwrap());
    assert_eq!((epochs.epoch_of(999), epochs.epoch_of(1_000)), (0, 1));
    assert_eq!((epochs.last_height(0), epochs.last_height(2)), (Some(999), Some(2_999)));
    assert_eq!(epochs.last_height(u64::MAX), None);
    assert_eq!(epochs.validators(1), None);
}

#[test]
fn a_certificate_with_trailing_bytes_or_another_block_is_refused() {
    let chain = Chain::new();
    let checker = chain.checker();
    let b = block(1, Vec::new());
    let mut cert = certify(&chain.a, 0, &b);
    assert!(matches!(
        checker.check(&block(2, Vec::new()).encode(), &cert),
        Err(ProofError::OtherBlock { .. })
    ));
    cert.push(0);
    assert!(matches!(checker.check(&b.encode(), &cert), Err(ProofError::MalformedCertificate(_))));
    assert!(matches!(checker.check(b"junk", &cert), Err(ProofError::MalformedBlock(_))));
}

#[test]
fn signers_names_the_indices_of_the_keys_that_signed() {
    let set = keys("validator-s");
    let sorted = public(&set);
    // three signers, in no particular order: their indices in the sorted set come back sorted
    let chosen = [&set[3], &set[0], &set[2]];
    let signing: Vec<PrivateKey> = chosen.iter().map(|k| (*k).clone()).collect();
    let b = block(5, Vec::new());
    let cert = finalization(&sorted, &signing, 1, 7, &b);
    let (epoch, indices) = super::signers(&cert, sorted.len()).expect("reads");
    assert_eq!(epoch, 1);
    use commonware_cryptography::Signer as _;
    let mut want: Vec<u32> = chosen
        .iter()
        .map(|k| sorted.iter().position(|p| *p == k.public_key()).expect("member") as u32)
        .collect();
    want.sort();
    assert_eq!(indices, want);
    // a truncated certificate is refused, never read as fewer signers
    assert!(super::signers(&cert[..cert.len() - 1], sorted.len()).is_err());
    // a set smaller than the bitmap is refused
    assert!(super::signers(&cert, 2).is_err());
}
