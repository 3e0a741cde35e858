//! npchain-testkit: the fixtures every test crate of the workspace shares, so that no test builds
//! its own genesis literal or seeds its own keys.
//!
//! - [`key`]: a deterministic key for a name (`key("OPA")`, `key("OPA/validator")`,
//!   `key("regulator")`, `key("alice")`), the one naming scheme of every test;
//! - [`GenesisBuilder`]: a genesis from operators and ranges, with the named keys;
//! - [`Net`]: a ledger on an in-memory store with a block clock, signing and applying
//!   transactions one block at a time;
//! - [`number_table`]: the typed numbers every interface is tested with;
//! - [`raw_http`]: HTTP/1.1 requests and answers byte by byte, for tests of a node's HTTP port.
//!
//! It depends on the core only, so the core's own tests and the node's unit tests can use it
//! without a second copy of the node crate in one test binary. The node's test binaries share
//! their in-memory chain in `crates/node/tests/support/`.

mod genesis;
mod ledger;
pub mod number_table;
pub mod raw_http;

pub use genesis::GenesisBuilder;
pub use ledger::Net;

use commonware_cryptography::Signer as _;
use npchain_core::{E164, OperatorId, PrivateKey, PublicKey, Timestamp};

/// The genesis time of every test network: 2026-01-01T00:00:00Z in milliseconds.
pub const GENESIS_MS: u64 = 1_767_225_600_000;

/// [`GENESIS_MS`] as a block time.
pub const GENESIS_TIME: Timestamp = Timestamp(GENESIS_MS);

/// A deterministic key for a name (FNV-1a of the name as the seed; test-only).
pub fn key(name: &str) -> PrivateKey {
    let seed =
        name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    PrivateKey::from_seed(seed)
}

/// The public key of [`key`]`(name)`.
pub fn public(name: &str) -> PublicKey {
    key(name).public_key()
}

/// An operator id; panics on a malformed one (test input).
pub fn op(id: &str) -> OperatorId {
    id.parse().unwrap_or_else(|e| panic!("test operator id {id:?}: {e}"))
}

/// A number in canonical `+` form; panics on a malformed one (test input).
pub fn num(s: &str) -> E164 {
    s.parse().unwrap_or_else(|e| panic!("test number {s:?}: {e}"))
}
