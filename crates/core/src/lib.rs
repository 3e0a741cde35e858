//! npchain-core: the pure heart of npchain.
//!
//! Types, canonical encodings, signatures, transactions and the porting state machine. No I/O
//! (beyond the [`store::Store`] trait it is given), no clock, no randomness: the same blocks
//! give the same state and the same state hash on every node.

pub mod day;
pub mod error;
pub mod export;
pub mod genesis;
pub mod ledger;
pub mod lengths;
pub mod number;
pub mod policy;
pub mod port;
pub mod records;
pub mod routing;
pub mod state_hash;
pub mod store;
pub mod tx;
pub mod types;

pub use error::{DecodeError, InvalidTx, Role, TxError, ValidatorChange};
pub use genesis::{
    DEFAULT_BLOCKS_PER_EPOCH, Genesis, GenesisError, GenesisOperator, GenesisRange, PortedEntry,
    read_ported_csv,
};
pub use ledger::{BlockError, BlockOutcome, BlockWeight, Executed, Ledger, MIN_VALIDATORS, tolerated_faults};
pub use lengths::{Lengths, LengthsError};
pub use number::{E164, NumberError, Prefix, Region};
pub use policy::{CapSide, MAX_DAILY_CAP, Policy, PolicyError, PolicyField, PolicySetError, SilenceRule};
pub use port::{Initiator, PortOrder, PortState, RejectCause, RejectReason, Step};
pub use records::{Event, NumberEvent, NumberRecord, OperatorRecord, RangeRecord};
pub use routing::{Route, Routes, RoutingIndex, RoutingTable, Serving, Unroutable};
pub use store::{Batch, MemStore, Meta, Overlay, ReadStore, Store, StoreError, Table};
pub use tx::{
    ChainId, ImportGroup, MAX_IMPORT, PortRequest, SignedTransaction, Transaction, TxBody, VerifiedTx,
    verify_batch,
};
pub use types::{
    Digest, OperatorId, PortId, PrivateKey, PublicKey, RoutingNumber, RoutingNumberError, Signature,
    Timestamp, TxId, UtcDay,
};
