//! The transaction kinds ([`TxBody`]) and their encoding: a kind tag, then the kind's fields.
//! Tags are never renumbered; a kind that gained a variant later takes a new tag for it
//! (`AdmitOperator` without a validator key is tag 14, `AssignRange` with lengths is tag 16),
//! so every earlier encoding stays valid. `ImportNumbers` (tag 17) came after genesis-only
//! migration: its groups are read in `import.rs`.

use super::{
    MAX_NAME_LEN, PortRequest,
    import::{ImportGroup, groups_size, read_groups},
    valid_operator_name,
};
use crate::{
    lengths::Lengths,
    number::{E164, Prefix},
    policy::Policy,
    port::RejectReason,
    types::{OperatorId, PortId, PublicKey, RoutingNumber, Signature},
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write};

/// What a transaction does. Who may sign each kind is checked against the ledger when applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxBody {
    /// Regulator: admit an operator, with the key of its validator node or without one (it
    /// then takes no part in consensus until [`TxBody::SetValidator`] gives it one).
    AdmitOperator {
        id: OperatorId,
        name: String,
        operator_key: PublicKey,
        validator_key: Option<PublicKey>,
        routing_number: RoutingNumber,
    },
    /// Regulator: rotate an operator's key or change its routing number (every number it serves
    /// is re-routed at once).
    UpdateOperator { id: OperatorId, operator_key: PublicKey, routing_number: RoutingNumber },
    /// Regulator: retire an operator; it may still answer and return, but gains no numbers.
    RetireOperator { id: OperatorId },
    /// Regulator: assign a number range (prefix) to its holder, replacing any earlier holder;
    /// its numbers have every length from one more than the prefix (at least 7) to 15 digits.
    AssignRange { prefix: Prefix, holder: OperatorId },
    /// Regulator: assign a number range with the lengths of its numbers (digits in
    /// international form): a name of another length under the prefix is not a number. Tag 16,
    /// the fields of [`TxBody::AssignRange`] and then the lengths.
    AssignRangeWithLengths { prefix: Prefix, holder: OperatorId, lengths: Lengths },
    /// Regulator: set the porting policy for orders requested from now on.
    SetPolicy(Policy),
    /// Serving operator: bind (or, with `None`, unbind) the subscriber's key to a number.
    Bind { number: E164, subscriber: Option<PublicKey> },
    /// Donor: release the numbers of an order.
    Release { port: PortId },
    /// Donor: reject an order with a reason from the closed list.
    Reject { port: PortId, reason: RejectReason },
    /// Recipient: activate an order; routing switches at this block.
    Activate { port: PortId },
    /// Serving operator: the subscription of a ported number ended; routing falls back to the
    /// range holder.
    Return { number: E164 },
    /// Subscriber (signer = the key bound to every number): request a port.
    RequestPort(PortRequest),
    /// Recipient operator: request a port on the subscriber's behalf with their consent.
    RequestPortFor { request: PortRequest, subscriber: PublicKey, consent: Signature },
    /// Subscriber: cancel an order before activation.
    Cancel { port: PortId },
    /// Regulator: withdraw an assigned range (none of its numbers ported or in an open order);
    /// its numbers fall back to any shorter range that covers them, or route nowhere.
    WithdrawRange { prefix: Prefix },
    /// Regulator: give an operator a validator key, rotate it, or (with `None`) take it away;
    /// the change takes effect in the next epoch's validator set.
    SetValidator { id: OperatorId, validator_key: Option<PublicKey> },
    /// Regulator: set the serving operator of numbers after genesis, as a legacy NPDB extract
    /// lists them (tag 17): 1 to [`super::MAX_IMPORT`] numbers in groups of one operator each.
    /// An entry that matches the number's current serving operator changes nothing.
    ImportNumbers { groups: Vec<ImportGroup> },
}

impl TxBody {
    /// The kind's stable name, for logs, metrics and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AdmitOperator { .. } => "admit-operator",
            Self::UpdateOperator { .. } => "update-operator",
            Self::RetireOperator { .. } => "retire-operator",
            Self::AssignRange { .. } | Self::AssignRangeWithLengths { .. } => "assign-range",
            Self::SetPolicy(_) => "set-policy",
            Self::Bind { .. } => "bind",
            Self::Release { .. } => "release",
            Self::Reject { .. } => "reject",
            Self::Activate { .. } => "activate",
            Self::Return { .. } => "return",
            Self::RequestPort(_) => "request-port",
            Self::RequestPortFor { .. } => "request-port-for",
            Self::Cancel { .. } => "cancel",
            Self::WithdrawRange { .. } => "withdraw-range",
            Self::SetValidator { .. } => "set-validator",
            Self::ImportNumbers { .. } => "import-numbers",
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Self::AdmitOperator { validator_key: Some(_), .. } => 0,
            Self::UpdateOperator { .. } => 1,
            Self::RetireOperator { .. } => 2,
            Self::AssignRange { .. } => 3,
            Self::SetPolicy(_) => 4,
            Self::Bind { .. } => 5,
            Self::Release { .. } => 6,
            Self::Reject { .. } => 7,
            Self::Activate { .. } => 8,
            Self::Return { .. } => 9,
            Self::RequestPort(_) => 10,
            Self::RequestPortFor { .. } => 11,
            Self::Cancel { .. } => 12,
            Self::WithdrawRange { .. } => 13,
            Self::AdmitOperator { validator_key: None, .. } => 14,
            Self::SetValidator { .. } => 15,
            Self::AssignRangeWithLengths { .. } => 16,
            Self::ImportNumbers { .. } => 17,
        }
    }
}

impl Write for TxBody {
    fn write(&self, buf: &mut impl BufMut) {
        self.tag().write(buf);
        match self {
            Self::AdmitOperator { id, name, operator_key, validator_key, routing_number } => {
                id.write(buf);
                name.len().write(buf);
                buf.put_slice(name.as_bytes());
                operator_key.write(buf);
                if let Some(key) = validator_key {
                    key.write(buf);
                }
                routing_number.write(buf);
            }
            Self::UpdateOperator { id, operator_key, routing_number } => {
                id.write(buf);
                operator_key.write(buf);
                routing_number.write(buf);
            }
            Self::RetireOperator { id } => id.write(buf),
            Self::AssignRange { prefix, holder } => {
                prefix.write(buf);
                holder.write(buf);
            }
            Self::AssignRangeWithLengths { prefix, holder, lengths } => {
                prefix.write(buf);
                holder.write(buf);
                lengths.write(buf);
            }
            Self::SetPolicy(p) => p.write(buf),
            Self::Bind { number, subscriber } => {
                number.write(buf);
                subscriber.write(buf);
            }
            Self::Release { port } | Self::Activate { port } | Self::Cancel { port } => port.write(buf),
            Self::Reject { port, reason } => {
                port.write(buf);
                reason.write(buf);
            }
            Self::Return { number } => number.write(buf),
            Self::WithdrawRange { prefix } => prefix.write(buf),
            Self::RequestPort(r) => r.write(buf),
            Self::RequestPortFor { request, subscriber, consent } => {
                request.write(buf);
                subscriber.write(buf);
                consent.write(buf);
            }
            Self::SetValidator { id, validator_key } => {
                id.write(buf);
                validator_key.write(buf);
            }
            Self::ImportNumbers { groups } => {
                groups.len().write(buf);
                for group in groups {
                    group.write(buf);
                }
            }
        }
    }
}

impl EncodeSize for TxBody {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::AdmitOperator { id, name, validator_key, routing_number, .. } => {
                id.encode_size()
                    + name.len().encode_size()
                    + name.len()
                    + PublicKey::SIZE
                    + validator_key.as_ref().map_or(0, |_| PublicKey::SIZE)
                    + routing_number.encode_size()
            }
            Self::UpdateOperator { id, routing_number, .. } => {
                id.encode_size() + PublicKey::SIZE + routing_number.encode_size()
            }
            Self::RetireOperator { id } => id.encode_size(),
            Self::AssignRange { holder, .. } => Prefix::SIZE + holder.encode_size(),
            Self::AssignRangeWithLengths { holder, .. } => {
                Prefix::SIZE + holder.encode_size() + Lengths::SIZE
            }
            Self::SetPolicy(p) => p.encode_size(),
            Self::Bind { subscriber, .. } => E164::SIZE + subscriber.encode_size(),
            Self::Release { .. } | Self::Activate { .. } | Self::Cancel { .. } => PortId::SIZE,
            Self::Reject { .. } => PortId::SIZE + RejectReason::SIZE,
            Self::Return { .. } => E164::SIZE,
            Self::WithdrawRange { .. } => Prefix::SIZE,
            Self::RequestPort(r) => r.encode_size(),
            Self::RequestPortFor { request, .. } => request.encode_size() + PublicKey::SIZE + Signature::SIZE,
            Self::SetValidator { id, validator_key } => id.encode_size() + validator_key.encode_size(),
            Self::ImportNumbers { groups } => groups_size(groups),
        }
    }
}

impl Read for TxBody {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            tag @ (0 | 14) => {
                let (id, name) = read_admitted(buf)?;
                let operator_key = PublicKey::read(buf)?;
                let validator_key = if tag == 0 { Some(PublicKey::read(buf)?) } else { None };
                Self::AdmitOperator {
                    id,
                    name,
                    operator_key,
                    validator_key,
                    routing_number: RoutingNumber::read(buf)?,
                }
            }
            1 => Self::UpdateOperator {
                id: OperatorId::read(buf)?,
                operator_key: PublicKey::read(buf)?,
                routing_number: RoutingNumber::read(buf)?,
            },
            2 => Self::RetireOperator { id: OperatorId::read(buf)? },
            3 => Self::AssignRange { prefix: Prefix::read(buf)?, holder: OperatorId::read(buf)? },
            4 => Self::SetPolicy(Policy::read(buf)?),
            5 => {
                Self::Bind { number: E164::read(buf)?, subscriber: Option::<PublicKey>::read_cfg(buf, &())? }
            }
            6 => Self::Release { port: PortId::read(buf)? },
            7 => Self::Reject { port: PortId::read(buf)?, reason: RejectReason::read(buf)? },
            8 => Self::Activate { port: PortId::read(buf)? },
            9 => Self::Return { number: E164::read(buf)? },
            10 => Self::RequestPort(PortRequest::read(buf)?),
            11 => Self::RequestPortFor {
                request: PortRequest::read(buf)?,
                subscriber: PublicKey::read(buf)?,
                consent: Signature::read(buf)?,
            },
            12 => Self::Cancel { port: PortId::read(buf)? },
            13 => Self::WithdrawRange { prefix: Prefix::read(buf)? },
            15 => Self::SetValidator {
                id: OperatorId::read(buf)?,
                validator_key: Option::<PublicKey>::read_cfg(buf, &())?,
            },
            16 => Self::AssignRangeWithLengths {
                prefix: Prefix::read(buf)?,
                holder: OperatorId::read(buf)?,
                lengths: Lengths::read(buf)?,
            },
            17 => Self::ImportNumbers { groups: read_groups(buf)? },
            t => return Err(CodecError::InvalidEnum(t)),
        })
    }
}

/// The id and the display name of an `AdmitOperator`, the name checked.
fn read_admitted(buf: &mut impl Buf) -> Result<(OperatorId, String), CodecError> {
    let id = OperatorId::read(buf)?;
    let raw = Vec::<u8>::read_cfg(buf, &(RangeCfg::from(1..=MAX_NAME_LEN), ()))?;
    let name =
        String::from_utf8(raw).map_err(|_| CodecError::Invalid("AdmitOperator", "name is not UTF-8"))?;
    if !valid_operator_name(&name) {
        return Err(CodecError::Invalid(
            "AdmitOperator",
            "name has control characters or surrounding blanks",
        ));
    }
    Ok((id, name))
}
