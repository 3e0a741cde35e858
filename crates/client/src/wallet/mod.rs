//! The subscriber's user node: a key, the validator set it trusts (from the genesis), and a
//! local ledger of every committed message about its ports, each with the block it was
//! finalized in and that block's finalization certificate, checked before it is written and
//! checkable again offline (`verify`). A node can refuse to answer; it cannot make the wallet
//! record a message that a quorum of validators did not finalize.
//!
//! Files in the wallet directory: `wallet.key` (0600: the key in hex, or encrypted with a
//! passphrase: Argon2id and ChaCha20-Poly1305; `keyfile.rs`), `wallet.toml` (nodes, chain id,
//! validators; `dir.rs`), `ledger.jsonl` (one verified entry per line; `ledger.rs`),
//! `sent.jsonl` (every request and cancel this wallet signed and a node accepted, before any
//! block holds it; `sent.rs`), `consents.jsonl` (every consent it signed for a recipient to
//! submit; `consent.rs`). `follow.rs` keeps the ledger up to date with the wallet's orders,
//! those a recipient requested with the subscriber's consent among them; `consent.rs` signs
//! that consent and reads it back as a file or a string.

mod consent;
mod dir;
mod epochs;
mod error;
mod follow;
pub(crate) mod keyfile;
mod ledger;
mod sent;

pub use consent::{
    CONSENT_FORMAT, ConsentFile, ConsentFileError, Given, MAX_CONSENT_FILE, parse_consent_file, read_consent,
};
pub use dir::{DEFAULT_BLOCKS_PER_EPOCH, Wallet, WalletConfig};
pub use epochs::Learned;
pub use error::{Fault, WalletError};
pub use follow::{FOLLOW_MARGIN, Finished, Followed, MAX_DISCOVERY_PAGES, Order};
pub use ledger::{Entry, describe_state};
pub use sent::Sent;
