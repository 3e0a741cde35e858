//! Signer keys decoded once per process, not once per transaction.
//!
//! Decoding an ed25519 public key decompresses a curve point (a field exponentiation, about
//! 4.4 µs on the build host, `benches/decode.rs`). Operators sign most transactions (bindings,
//! releases, rejections, activations), so the same few keys arrive thousands of times a second,
//! and every node decodes every transaction. The decoded keys of the last signers are kept by
//! their 32 bytes.
//!
//! Decoding is a pure function of the bytes, so the cache changes no result, only its cost: a
//! key that fails to decode is never kept, and a kept key equals what decoding its bytes gives.
//! Bounded at [`CAPACITY`] keys; when full it is emptied and refilled by the next signers (a
//! stream of one-off subscriber keys costs one map insertion each and evicts nothing for long).

use crate::types::PublicKey;
use commonware_codec::{Buf, Copying, DecodeExt, Error as CodecError, FixedSize, ReadExt};
use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

/// The most keys kept.
pub const CAPACITY: usize = 4_096;

/// Keyed by bytes a remote party chooses: the standard library's randomly keyed hash.
type Keys = HashMap<[u8; 32], PublicKey>;

fn keys() -> &'static Mutex<Keys> {
    static KEYS: OnceLock<Mutex<Keys>> = OnceLock::new();
    KEYS.get_or_init(|| Mutex::new(Keys::with_capacity(CAPACITY)))
}

/// Reads a signer's public key from `buf`, as [`PublicKey::read`] does (same result, same
/// errors), answering repeated keys from the cache.
pub fn read(buf: &mut impl Buf) -> Result<PublicKey, CodecError> {
    let raw = <[u8; PublicKey::SIZE]>::read(buf)?;
    if let Some(key) = keys().lock().unwrap_or_else(|e| e.into_inner()).get(&raw) {
        return Ok(key.clone());
    }
    let key = PublicKey::decode(Copying(&raw[..]))?;
    let mut kept = keys().lock().unwrap_or_else(|e| e.into_inner());
    if kept.len() >= CAPACITY {
        kept.clear();
    }
    kept.insert(raw, key.clone());
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PrivateKey;
    use commonware_codec::Encode;
    use commonware_cryptography::Signer;

    #[test]
    fn a_kept_key_equals_the_decoded_one_and_a_bad_key_is_refused_every_time() {
        let key = PrivateKey::from_seed(7).public_key();
        let bytes = key.encode();
        for _ in 0..3 {
            assert_eq!(read(&mut Copying(bytes.as_ref())).unwrap(), key);
        }
        // not a point on the curve: refused as the codec refuses it, and not kept
        let bad = (0u8..=255)
            .map(|b| [b; 32])
            .find(|raw| PublicKey::decode(Copying(&raw[..])).is_err())
            .expect("some constant pattern is not a curve point");
        for _ in 0..2 {
            let got = read(&mut Copying(&bad[..])).unwrap_err().to_string();
            assert_eq!(got, PublicKey::decode(Copying(&bad[..])).unwrap_err().to_string());
        }
        assert!(!keys().lock().unwrap().contains_key(&bad));
        // too short
        assert!(read(&mut Copying(&bytes[..31])).is_err());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        for seed in 0..(CAPACITY as u64 + 10) {
            let bytes = PrivateKey::from_seed(1_000 + seed).public_key().encode();
            read(&mut Copying(bytes.as_ref())).unwrap();
            assert!(keys().lock().unwrap().len() <= CAPACITY);
        }
    }
}
