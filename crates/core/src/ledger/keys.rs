//! How the ledger lays out the keys of its tables, and the value of an OperatorKeys entry (the
//! key's kind and owner). Every byte here goes into the state hash, so a layout changed here
//! changes every node's state hash; each encoder sits beside its reader.

use crate::{
    number::{E164, MAX_DIGITS, Prefix},
    policy::CapSide,
    store::StoreError,
    types::{OperatorId, PortId, Timestamp, TxId},
};
use commonware_codec::Error as CodecError;

/// Config key of the chain id.
pub(super) const CONFIG_CHAIN: &[u8] = b"chain";
/// Config key of the regulator's public key.
pub(super) const CONFIG_REGULATOR: &[u8] = b"regulator";
/// Config key of the policy in force.
pub(super) const CONFIG_POLICY: &[u8] = b"policy";
/// Config key of the number of operators ever admitted (the next slot).
pub(super) const CONFIG_OPERATOR_COUNT: &[u8] = b"operator_count";
/// Config key of the epoch length in blocks (u64).
pub(super) const CONFIG_BLOCKS_PER_EPOCH: &[u8] = b"blocks_per_epoch";

/// Numbers and the number log: the number's value, big-endian, so a scan yields numbers in order.
pub(super) fn number_key(number: E164) -> [u8; 8] {
    number.value().to_be_bytes()
}

/// The number a Numbers key holds.
pub(crate) fn number_from_key(key: &[u8]) -> Result<E164, StoreError> {
    let raw: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::Corrupt { what: "numbers", source: CodecError::InvalidLength(key.len()) })?;
    E164::from_value(u64::from_be_bytes(raw)).ok_or(StoreError::Corrupt {
        what: "numbers",
        source: CodecError::Invalid("Numbers", "key is not a number"),
    })
}

/// The Numbers keys of every number that starts with `prefix`: one span `[start, end)` per
/// digit count from the prefix's own to `MAX_DIGITS` (the numbers of one length that start with
/// the prefix are consecutive values; numbers of different lengths interleave).
pub(super) fn numbers_under(prefix: Prefix) -> impl Iterator<Item = ([u8; 8], [u8; 8])> {
    let value = prefix.as_number().value();
    (0..=u32::from(MAX_DIGITS.saturating_sub(prefix.len()))).map(move |extra| {
        let scale = 10u64.pow(extra);
        ((value * scale).to_be_bytes(), ((value + 1) * scale).to_be_bytes())
    })
}

/// A number log entry: the number, then its sequence number in the log.
pub(super) fn number_log_key(number: E164, seq: u32) -> Vec<u8> {
    let mut key = number_key(number).to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The number log keys of one number: from its first entry to (not including) the next number's.
pub(super) fn number_log_range(number: E164) -> ([u8; 8], [u8; 8]) {
    (number_key(number), (number.value() + 1).to_be_bytes())
}

/// Timers: the deadline (big-endian milliseconds), then the port id, so timers fire in
/// (deadline, port id) order.
pub(super) fn timer_key(at: Timestamp, port: &PortId) -> Vec<u8> {
    let mut key = at.millis().to_be_bytes().to_vec();
    key.extend_from_slice(port.0.as_ref());
    key
}

/// The end of a scan over every timer due at or before `at`.
pub(super) fn timers_due_end(at: Timestamp) -> [u8; 8] {
    (at.millis() + 1).to_be_bytes()
}

/// The deadline a timer key starts with.
pub(super) fn timer_deadline(key: &[u8]) -> Timestamp {
    let mut at = [0u8; 8];
    at.copy_from_slice(&key[..8]);
    Timestamp(u64::from_be_bytes(at))
}

/// The port id part of a timer key.
pub(super) fn timer_port(key: &[u8]) -> &[u8] {
    &key[8..]
}

/// Open orders: the operator id with its length in front (so one id is never a prefix of
/// another's entries), then the port id.
pub(super) fn open_orders_prefix(operator: &OperatorId) -> Vec<u8> {
    let mut key = vec![operator.as_str().len() as u8];
    key.extend_from_slice(operator.as_str().as_bytes());
    key
}

/// The open-order entry of `port` for `operator` (its donor or recipient).
pub(super) fn open_order_key(operator: &OperatorId, port: &PortId) -> Vec<u8> {
    let mut key = open_orders_prefix(operator);
    key.extend_from_slice(port.0.as_ref());
    key
}

/// Applied transactions by expiry: the expiry (big-endian milliseconds), then the id, so
/// pruning scans the expired ones in one range and a replay check looks up one key (keys arrive
/// in about the order of time, so inserting them copies few pages).
pub(super) fn seen_by_expiry_key(expires_at: Timestamp, id: &TxId) -> Vec<u8> {
    let mut key = expires_at.millis().to_be_bytes().to_vec();
    key.extend_from_slice(id.0.as_ref());
    key
}

/// The end of a scan over every applied transaction that expired before `now`.
pub(super) fn seen_expired_end(now: Timestamp) -> [u8; 8] {
    now.millis().to_be_bytes()
}

/// Daily port counters: the side (0 donor, 1 recipient), then the operator id; the one-byte
/// prefix of a side lists every counter of that side.
pub(super) fn daily_ports_prefix(side: CapSide) -> [u8; 1] {
    [match side {
        CapSide::Donor => 0,
        CapSide::Recipient => 1,
    }]
}

/// The daily port counter of `operator` on `side`.
pub(super) fn daily_ports_key(side: CapSide, operator: &OperatorId) -> Vec<u8> {
    let mut key = daily_ports_prefix(side).to_vec();
    key.extend_from_slice(operator.as_str().as_bytes());
    key
}

/// Which of an operator's two keys a public key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    Operator,
    Validator,
}

/// The OperatorKeys value: the key's kind (0 operator, 1 validator), then the owner's id.
pub(super) fn operator_key_value(kind: KeyKind, id: &OperatorId) -> Vec<u8> {
    let mut v = vec![if kind == KeyKind::Operator { 0 } else { 1 }];
    v.extend_from_slice(id.as_str().as_bytes());
    v
}

/// Reads an OperatorKeys value back.
pub(super) fn operator_key_owner(raw: &[u8]) -> Result<(OperatorId, KeyKind), StoreError> {
    let (kind, id) = raw
        .split_first()
        .ok_or(StoreError::Corrupt { what: "operator key", source: CodecError::EndOfBuffer })?;
    let id = std::str::from_utf8(id).ok().and_then(|s| s.parse().ok()).ok_or(StoreError::Corrupt {
        what: "operator key",
        source: CodecError::Invalid("OperatorKeys", "operator id"),
    })?;
    Ok((id, if *kind == 0 { KeyKind::Operator } else { KeyKind::Validator }))
}

/// The smallest key greater than every key that starts with `key` (the end of a prefix scan).
pub(super) fn next_key(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    while let Some(last) = k.pop() {
        if last < u8::MAX {
            k.push(last + 1);
            return k;
        }
    }
    vec![u8::MAX; key.len() + 1]
}
