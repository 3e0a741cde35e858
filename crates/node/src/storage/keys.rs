//! The keys of the block log's index tables, built and read back in one place: operator ‖ 0 ‖
//! port id for the operator index, subscriber key (hex) ‖ `/` ‖ number for the key index. Both
//! sort so that one prefix range holds one operator's orders or one key's numbers.

use npchain_core::{Digest, E164, PublicKey, types::PortId};

/// Operator id ‖ 0 ‖ port id (an operator id never holds a 0 byte).
pub(super) fn operator_port(operator: &str, port: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(operator.len() + 1 + port.len());
    key.extend_from_slice(operator.as_bytes());
    key.push(0);
    key.extend_from_slice(port);
    key
}

/// The keys from `operator`'s first order after `after` (all of them without) to its last.
pub(super) fn operator_range(operator: &str, after: Option<&PortId>) -> (Vec<u8>, Vec<u8>) {
    (operator_port(operator, after.map_or(&[][..], |p| p.0.as_ref())), operator_port(operator, &[0xff; 33]))
}

/// The port id of an operator index key of `operator`.
pub(super) fn port_of(operator: &str, key: &[u8]) -> Option<PortId> {
    let raw: [u8; 32] = key.get(operator.len() + 1..)?.try_into().ok()?;
    Some(PortId(Digest(raw)))
}

/// Subscriber key (hex) ‖ `/` ‖ number (canonical text: `+` and digits).
pub(super) fn key_number(subscriber: &PublicKey, number: E164) -> String {
    format!("{}/{number}", commonware_formatting::hex(subscriber.as_ref()))
}

/// The keys of every number of `subscriber`: `/` is followed by `0` in ASCII.
pub(super) fn key_range(subscriber: &PublicKey) -> (String, String) {
    let hex = commonware_formatting::hex(subscriber.as_ref());
    (format!("{hex}/"), format!("{hex}0"))
}

/// The number of a key index key; its canonical text is read back digit by digit, not by the
/// grammar of typed numbers (which refuses numbers the ledger may hold, say of 6 digits).
pub(super) fn number_of(key: &str) -> Option<E164> {
    let (_, number) = key.split_once('/')?;
    number.strip_prefix('+')?.parse().ok().and_then(E164::from_value)
}
