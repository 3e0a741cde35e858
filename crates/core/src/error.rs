//! Why a transaction is refused: [`InvalidTx`] before it touches any state (it does not decode,
//! or is not what it claims to be), [`TxError`] by the ledger's rules. Each variant names the
//! check or rule and the value that broke it.

use crate::{
    lengths::Lengths,
    number::{E164, MAX_DIGITS, MIN_DIGITS, Prefix},
    policy::{CapSide, PolicyError},
    port::PortState,
    tx::MAX_TX_BYTES,
    types::{KeyId, OperatorId, PortId, RoutingNumber, Timestamp, TxId, UtcDay},
};
use commonware_codec::Error as CodecError;
use std::sync::Arc;

/// The role an operator must have to sign a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Donor,
    Recipient,
    ServingOperator,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Donor => "donor",
            Self::Recipient => "recipient",
            Self::ServingOperator => "serving operator",
        })
    }
}

/// A change to the validator set the next epoch boundary records, as a refusal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidatorChange {
    /// Admitting an operator with a validator key.
    Admit(OperatorId),
    /// Retiring an operator that has a validator key.
    Retire(OperatorId),
    /// Giving an operator without one a validator key.
    Add(OperatorId),
    /// Replacing an operator's validator key (one leaves, one joins).
    Rotate(OperatorId),
    /// Taking an operator's validator key away.
    Remove(OperatorId),
}

impl std::fmt::Display for ValidatorChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Admit(op) => write!(f, "admitting {op}"),
            Self::Retire(op) => write!(f, "retiring {op}"),
            Self::Add(op) => write!(f, "giving {op} a validator key"),
            Self::Rotate(op) => write!(f, "rotating {op}'s validator key"),
            Self::Remove(op) => write!(f, "removing {op}'s validator key"),
        }
    }
}

/// A transaction the ledger refuses; the state is left exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    // --- validity window and replay
    #[error("transaction expired at {expires_at}; block time is {block_time}; sign it again")]
    Expired { expires_at: Timestamp, block_time: Timestamp },
    #[error(
        "transaction claims validity until {expires_at}, past the allowed {latest} (policy tx_ttl_max_secs)"
    )]
    ExpiryTooFar { expires_at: Timestamp, latest: Timestamp },
    #[error("transaction {tx} was already applied (replay)")]
    Replay { tx: TxId },

    // --- who signs
    #[error("only the regulator may sign {kind}; signer is {signer}")]
    NotRegulator { kind: &'static str, signer: KeyId },
    #[error("signer {signer} is not the operator key of any operator")]
    UnknownSigner { signer: KeyId },
    #[error("signer {signer} is a validator key of {operator}; validator keys sign only consensus messages")]
    ValidatorKeyUsed { signer: KeyId, operator: OperatorId },
    #[error("{actual} signed, but only the {role} {expected} may do this")]
    WrongOperator { role: Role, expected: OperatorId, actual: OperatorId },
    #[error("only the subscriber who requested port {port} may cancel it")]
    NotSubscriber { port: PortId },
    #[error("operator {operator} is retired")]
    OperatorRetired { operator: OperatorId },

    // --- operators and ranges
    #[error("operator {operator} already exists")]
    OperatorExists { operator: OperatorId },
    #[error("operator {operator} is not admitted")]
    UnknownOperator { operator: OperatorId },
    #[error("key {key} already belongs to operator {operator}")]
    KeyInUse { key: KeyId, operator: OperatorId },
    #[error("routing number {routing_number} already belongs to operator {operator}")]
    RoutingNumberInUse { routing_number: RoutingNumber, operator: OperatorId },
    #[error("operator limit of {max} reached")]
    TooManyOperators { max: usize },
    #[error("range {prefix} is not assigned; nothing to withdraw")]
    RangeNotAssigned { prefix: Prefix },
    #[error("range {prefix} cannot be withdrawn: its number {number} is ported to {serving}")]
    RangeHasPorted { prefix: Prefix, number: E164, serving: OperatorId },
    #[error("range {prefix} cannot be withdrawn: its number {number} has the open port order {port}")]
    RangeHasOpenOrder { prefix: Prefix, number: E164, port: PortId },
    #[error("range {prefix} cannot be withdrawn: its number {number} is bound to a subscriber")]
    RangeInService { prefix: Prefix, number: E164 },
    #[error(
        "range {prefix} cannot have lengths {lengths}: its numbers may have {allowed} digits (more than the \
         prefix, {MIN_DIGITS} to {MAX_DIGITS} in all, country code included)"
    )]
    RangeLengths { prefix: Prefix, lengths: Lengths, allowed: Lengths },
    #[error(
        "range {prefix} cannot have lengths {lengths}: its number {number} ({digits} digits) is in use (bound, \
         ported or in an open order) and would no longer be a number"
    )]
    RangeStrandsNumber { prefix: Prefix, lengths: Lengths, number: E164, digits: u8 },

    // --- the validator set (see "Epochs" in ARCHITECTURE.md)
    #[error("{change} would leave {left} validators; an epoch needs at least {min}")]
    TooFewValidators { change: ValidatorChange, left: usize, min: usize },
    #[error(
        "{change} would make {removed} of epoch {epoch}'s {current} validators leave at the next epoch; a set of {current} lets at most {tolerated} leave at once"
    )]
    TooManyValidatorsRemoved {
        change: ValidatorChange,
        epoch: u64,
        current: usize,
        removed: usize,
        tolerated: usize,
    },
    #[error(
        "{change} would bring {added} new validators into the next epoch's set of {next}; a set of {next} takes at most {tolerated} newcomers at once"
    )]
    TooManyValidatorsAdded { change: ValidatorChange, next: usize, added: usize, tolerated: usize },

    // --- numbers
    #[error("number {number} is in no assigned range")]
    UnknownNumber { number: E164 },
    #[error(
        "number {number} has {digits} digits, but the numbers of its range {range} have {lengths}: it is not a \
         number of the plan"
    )]
    NumberLength { number: E164, digits: u8, range: Prefix, lengths: Lengths },
    #[error("number {number} is served by {serving}, not by the donor {donor}")]
    DonorNotServing { number: E164, donor: OperatorId, serving: OperatorId },
    #[error("number {number} is not bound to the requesting subscriber key")]
    NotBound { number: E164 },
    #[error("number {number} already has an open port order {port}")]
    PortOpen { number: E164, port: PortId },
    #[error("number {number} is in its lock-in period until {until}")]
    LockIn { number: E164, until: Timestamp },
    #[error("number {number} was returned and is quarantined until {until}")]
    Quarantined { number: E164, until: Timestamp },
    #[error("number {number} is not ported (its range holder {holder} serves it); nothing to return")]
    NotPorted { number: E164, holder: OperatorId },

    // --- port orders
    #[error("due time {due} is later than the policy allows ({latest})")]
    DueTooFar { due: Timestamp, latest: Timestamp },
    #[error("port order {port} does not exist")]
    UnknownPort { port: PortId },
    #[error("port order {port} already exists (this request was already made)")]
    DuplicatePort { port: PortId },
    #[error("port order {port} is {state}; this needs it to be {expected}")]
    WrongState { port: PortId, state: PortState, expected: &'static str },
    #[error("port order {port} is due at {due}; it cannot be activated before")]
    NotYetDue { port: PortId, due: Timestamp },

    // --- daily port caps
    #[error(
        "{side} {operator} would pass its daily cap: {used} of {cap} numbers already requested on {day} (UTC), {requested} more in this order (policy {field}); the count starts again at 00:00 UTC",
        field = .side.field()
    )]
    DailyCap { side: CapSide, operator: OperatorId, day: UtcDay, cap: u32, used: u64, requested: u64 },

    // --- bulk import (`ImportNumbers`)
    #[error(
        "routing number {got} differs from {operator}'s {expected}; per-number routing numbers are not supported"
    )]
    ImportRoutingNumber { operator: OperatorId, expected: RoutingNumber, got: RoutingNumber },
    /// One entry of an import refused, and so the whole import: the entry's index (groups read
    /// in order, from 0), its number and why. Its code is the cause's.
    #[error("import entry {index} ({number}): {cause}")]
    ImportEntry {
        index: usize,
        number: E164,
        #[source]
        cause: Box<TxError>,
    },
}

impl TxError {
    /// A short stable code for the rule, for metrics and API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Expired { .. } => "expired",
            Self::ExpiryTooFar { .. } => "expiry-too-far",
            Self::Replay { .. } => "replay",
            Self::NotRegulator { .. } => "not-regulator",
            Self::UnknownSigner { .. } => "unknown-signer",
            Self::ValidatorKeyUsed { .. } => "validator-key-used",
            Self::WrongOperator { .. } => "wrong-operator",
            Self::NotSubscriber { .. } => "not-subscriber",
            Self::OperatorRetired { .. } => "operator-retired",
            Self::OperatorExists { .. } => "operator-exists",
            Self::UnknownOperator { .. } => "unknown-operator",
            Self::KeyInUse { .. } => "key-in-use",
            Self::RoutingNumberInUse { .. } => "routing-number-in-use",
            Self::TooManyOperators { .. } => "too-many-operators",
            Self::RangeNotAssigned { .. } => "range-not-assigned",
            Self::RangeHasPorted { .. } => "range-has-ported",
            Self::RangeHasOpenOrder { .. } => "range-has-open-order",
            Self::RangeInService { .. } => "range-in-service",
            Self::RangeLengths { .. } => "range-lengths",
            Self::RangeStrandsNumber { .. } => "range-strands-number",
            Self::TooFewValidators { .. } => "too-few-validators",
            Self::TooManyValidatorsRemoved { .. } => "too-many-validators-removed",
            Self::TooManyValidatorsAdded { .. } => "too-many-validators-added",
            Self::UnknownNumber { .. } => "unknown-number",
            Self::NumberLength { .. } => "number-length",
            Self::DonorNotServing { .. } => "donor-not-serving",
            Self::NotBound { .. } => "not-bound",
            Self::PortOpen { .. } => "port-open",
            Self::LockIn { .. } => "lock-in",
            Self::Quarantined { .. } => "quarantined",
            Self::NotPorted { .. } => "not-ported",
            Self::DueTooFar { .. } => "due-too-far",
            Self::UnknownPort { .. } => "unknown-port",
            Self::DuplicatePort { .. } => "duplicate-port",
            Self::WrongState { .. } => "wrong-state",
            Self::NotYetDue { .. } => "not-yet-due",
            Self::DailyCap { side: CapSide::Donor, .. } => "donor-daily-cap",
            Self::DailyCap { side: CapSide::Recipient, .. } => "recipient-daily-cap",
            Self::ImportRoutingNumber { .. } => "import-routing-number",
            Self::ImportEntry { cause, .. } => cause.code(),
        }
    }
}

/// Why a transaction is refused before it touches any state: it cannot be read, or it is
/// not what it claims to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTx {
    #[error("transaction is {size} bytes; at most {MAX_TX_BYTES} are accepted")]
    TooLarge { size: usize },
    #[error("transaction cannot be decoded: {0}")]
    Malformed(#[source] DecodeError),
    #[error("signature does not verify for signer {signer} on this network")]
    BadSignature { signer: KeyId },
    #[error("the subscriber's consent signature does not verify for key {subscriber}")]
    BadConsent { subscriber: KeyId },
    #[error("donor and recipient are both {operator}; a port needs two different operators")]
    SameOperator { operator: OperatorId },
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyError),
}

/// Why transaction bytes did not decode: the codec's error, shared so that [`InvalidTx`] stays
/// cheap to clone and comparable (the codec's error is neither; two compare equal when their
/// messages do).
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct DecodeError(Arc<CodecError>);

impl DecodeError {
    /// The codec's error.
    pub fn codec(&self) -> &CodecError {
        &self.0
    }
}

impl From<CodecError> for DecodeError {
    fn from(e: CodecError) -> Self {
        Self(Arc::new(e))
    }
}

impl PartialEq for DecodeError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::SignedTransaction;
    use std::error::Error;

    #[test]
    fn a_malformed_transaction_keeps_the_codec_error() {
        let e = SignedTransaction::from_bytes(b"garbage").unwrap_err();
        let InvalidTx::Malformed(decode) = &e else { panic!("{e:?}") };
        assert_eq!(e.source().map(|s| s.to_string()), Some(decode.codec().to_string()));
        assert_eq!(e.to_string(), format!("transaction cannot be decoded: {}", decode.codec()));
        assert_eq!(e.clone(), e);
    }
}
