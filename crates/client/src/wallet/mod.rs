//! The subscriber's user node: a key, the validator set it trusts (from the genesis), and a
//! local ledger of every committed message about its ports, each with the block it was
//! finalized in and that block's finalization certificate, checked before it is written and
//! checkable again offline (`verify`). A node can refuse to answer; it cannot make the wallet
//! record a message that a quorum of validators did not finalize.
//!
//! The trust rule across validator-set changes: the genesis validators sign epoch 0 (epochs
//! are `blocks_per_epoch` long, from `wallet.toml`); the set of epoch `e + 1` is believed only
//! as the last block of epoch `e` names it, with a certificate of a quorum of epoch `e`'s set.
//! A proof of a later epoch makes the wallet fetch and check the boundary blocks it lacks, in
//! order, and keep each in `epochs.jsonl` before it believes the proof; `verify` re-checks the
//! whole chain of sets from the genesis set offline. A set a node names anywhere else, or one a
//! set other than the epoch's signed, is refused as a forgery (`epochs.rs`).
//!
//! Files in the wallet directory: `wallet.key` (0600: the key in hex, or encrypted with a
//! passphrase: Argon2id and ChaCha20-Poly1305; `keyfile.rs`), `wallet.toml` (nodes, chain id,
//! validators, blocks per epoch; `dir.rs`), `epochs.jsonl` (the validator sets learned past
//! the genesis, each with the boundary block and certificate that taught it; `epochs.rs`),
//! `ledger.jsonl` (one verified entry per line; `ledger.rs`),
//! `sent.jsonl` (every request and cancel this wallet signed and a node accepted, before any
//! block holds it; `sent.rs`), `consents.jsonl` (every consent it signed for a recipient to
//! submit; `consent.rs`). `follow.rs` keeps the ledger up to date with the wallet's orders,
//! those a recipient requested with the subscriber's consent among them; `consent.rs` signs
//! that consent and reads it back as a file or a string; `watch.rs` alerts on every step of an
//! order of the wallet's numbers as the event stream reports it, sent by the wallet or not.

mod consent;
mod dir;
mod epochs;
mod error;
mod follow;
pub mod keyfile;
mod ledger;
mod sent;
mod watch;

pub use consent::{
    CONSENT_FORMAT, ConsentFile, ConsentFileError, Given, MAX_CONSENT_FILE, parse_consent_file, read_consent,
};
pub use dir::{DEFAULT_BLOCKS_PER_EPOCH, Wallet, WalletConfig};
pub use epochs::Learned;
pub use error::{Fault, WalletError};
pub use follow::{FOLLOW_MARGIN, Finished, Followed, MAX_DISCOVERY_PAGES, Order};
pub use ledger::{Entry, describe_state};
pub use sent::Sent;
pub use watch::{Alert, MAX_EVENT_BYTES, QUEUE, RECONNECT_INITIAL, RECONNECT_MAX, STALL, Watched};
