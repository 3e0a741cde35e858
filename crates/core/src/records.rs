//! What the ledger stores per operator and per number, and the events it reports.

use crate::{
    lengths::Lengths,
    number::{E164, Prefix},
    port::Step,
    types::{KeyId, OperatorId, PortId, PublicKey, RoutingNumber, Timestamp},
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write};

/// An admitted operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecord {
    pub id: OperatorId,
    pub name: String,
    /// Signs the operator's transactions.
    pub operator_key: KeyId,
    /// Signs consensus messages of the operator's validator node; `None`: the operator runs
    /// no validator (it is in no epoch's validator set).
    pub validator_key: Option<KeyId>,
    pub routing_number: RoutingNumber,
    /// Dense index in admission order; the routing index stores this instead of the id.
    pub slot: u16,
    pub active: bool,
}

impl Write for OperatorRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.id.write(buf);
        self.name.len().write(buf);
        buf.put_slice(self.name.as_bytes());
        self.operator_key.write(buf);
        self.validator_key.write(buf);
        self.routing_number.write(buf);
        self.slot.write(buf);
        self.active.write(buf);
    }
}

impl EncodeSize for OperatorRecord {
    fn encode_size(&self) -> usize {
        self.id.encode_size()
            + self.name.len().encode_size()
            + self.name.len()
            + KeyId::SIZE
            + self.validator_key.encode_size()
            + self.routing_number.encode_size()
            + u16::SIZE
            + bool::SIZE
    }
}

impl Read for OperatorRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let id = OperatorId::read(buf)?;
        let raw = Vec::<u8>::read_cfg(buf, &(RangeCfg::from(1..=crate::tx::MAX_NAME_LEN), ()))?;
        Ok(Self {
            id,
            name: String::from_utf8(raw).map_err(|_| CodecError::Invalid("Operator", "name"))?,
            operator_key: KeyId::read(buf)?,
            validator_key: Option::read_cfg(buf, &())?,
            routing_number: RoutingNumber::read(buf)?,
            slot: u16::read(buf)?,
            active: bool::read(buf)?,
        })
    }
}

/// An assigned range (the `Ranges` table's value; the key is the prefix): its holder, then its
/// lengths when they were given (by `AssignRange` with lengths, tag 16, or the genesis, which
/// resolves them). A range assigned by the original `AssignRange` (tag 3) stores its holder only,
/// byte for byte as before lengths existed, and has every length ([`Lengths::any_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRecord {
    pub holder: OperatorId,
    pub lengths: Option<Lengths>,
}

impl RangeRecord {
    /// The lengths of the range's numbers: the given ones, else every length its prefix allows.
    pub fn lengths(&self, prefix: Prefix) -> Lengths {
        self.lengths.unwrap_or_else(|| Lengths::any_for(prefix))
    }
}

impl Write for RangeRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.holder.write(buf);
        if let Some(lengths) = self.lengths {
            lengths.write(buf);
        }
    }
}

impl EncodeSize for RangeRecord {
    fn encode_size(&self) -> usize {
        self.holder.encode_size() + self.lengths.map_or(0, |_| Lengths::SIZE)
    }
}

impl Read for RangeRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let holder = OperatorId::read(buf)?;
        let lengths = if buf.has_remaining() { Some(Lengths::read(buf)?) } else { None };
        Ok(Self { holder, lengths })
    }
}

/// What the ledger knows of one number beyond its range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberRecord {
    /// The serving operator when it is not the range holder (the number is ported).
    pub ported_to: Option<OperatorId>,
    /// The key of the subscriber, bound by the serving operator.
    pub subscriber: Option<KeyId>,
    /// The order that currently blocks the number.
    pub open_port: Option<PortId>,
    /// When the number was last ported (lock-in counts from here).
    pub last_ported_at: Option<Timestamp>,
    /// After a return, no binding before this.
    pub quarantine_until: Option<Timestamp>,
    /// How many entries the number's log has.
    pub log_len: u32,
}

impl Write for NumberRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.ported_to.write(buf);
        self.subscriber.write(buf);
        self.open_port.write(buf);
        self.last_ported_at.write(buf);
        self.quarantine_until.write(buf);
        self.log_len.write(buf);
    }
}

impl EncodeSize for NumberRecord {
    fn encode_size(&self) -> usize {
        self.ported_to.encode_size()
            + self.subscriber.encode_size()
            + self.open_port.encode_size()
            + self.last_ported_at.encode_size()
            + self.quarantine_until.encode_size()
            + u32::SIZE
    }
}

impl Read for NumberRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            ported_to: Option::read_cfg(buf, &())?,
            subscriber: Option::read_cfg(buf, &())?,
            open_port: Option::read_cfg(buf, &())?,
            last_ported_at: Option::read_cfg(buf, &())?,
            quarantine_until: Option::read_cfg(buf, &())?,
            log_len: u32::read(buf)?,
        })
    }
}

/// One entry of a number's log: what happened to the number, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberEvent {
    /// Loaded from the legacy database as served by this operator: at genesis, or after it by
    /// the regulator's import (`ImportNumbers`).
    Migrated { to: OperatorId },
    /// The serving operator bound (or unbound) a subscriber key.
    Bound { by: OperatorId, subscriber: Option<PublicKey> },
    /// An order for the number took a step.
    Port { port: PortId, step: Step },
    /// The serving operator returned the number to the range holder.
    Returned { from: OperatorId, to: OperatorId },
}

impl Write for NumberEvent {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Migrated { to } => {
                0u8.write(buf);
                to.write(buf);
            }
            Self::Bound { by, subscriber } => {
                1u8.write(buf);
                by.write(buf);
                subscriber.write(buf);
            }
            Self::Port { port, step } => {
                2u8.write(buf);
                port.write(buf);
                step.write(buf);
            }
            Self::Returned { from, to } => {
                3u8.write(buf);
                from.write(buf);
                to.write(buf);
            }
        }
    }
}

impl EncodeSize for NumberEvent {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Migrated { to } => to.encode_size(),
            Self::Bound { by, subscriber } => by.encode_size() + subscriber.encode_size(),
            Self::Port { step, .. } => PortId::SIZE + step.encode_size(),
            Self::Returned { from, to } => from.encode_size() + to.encode_size(),
        }
    }
}

impl Read for NumberEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Migrated { to: OperatorId::read(buf)? },
            1 => Self::Bound { by: OperatorId::read(buf)?, subscriber: Option::read_cfg(buf, &())? },
            2 => Self::Port { port: PortId::read(buf)?, step: Step::read(buf)? },
            3 => Self::Returned { from: OperatorId::read(buf)?, to: OperatorId::read(buf)? },
            t => return Err(CodecError::InvalidEnum(t)),
        })
    }
}

/// Something a committed block changed, for event streams and audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    OperatorAdmitted {
        operator: OperatorId,
    },
    OperatorUpdated {
        operator: OperatorId,
    },
    OperatorRetired {
        operator: OperatorId,
    },
    RangeAssigned {
        prefix: Prefix,
        holder: OperatorId,
    },
    PolicySet,
    /// The regulator withdrew the range from its holder.
    RangeWithdrawn {
        prefix: Prefix,
        holder: OperatorId,
    },
    Bound {
        number: E164,
        operator: OperatorId,
        subscriber: Option<PublicKey>,
    },
    /// A port order took a step (requested, released, rejected, activated, cancelled, expired).
    Port {
        port: PortId,
        step: Step,
        donor: OperatorId,
        recipient: OperatorId,
        numbers: Vec<E164>,
    },
    Returned {
        number: E164,
        from: OperatorId,
        to: OperatorId,
    },
    /// The regulator's import (`ImportNumbers`) moved the number from `from` to `to`, its new
    /// serving operator. Entries that changed nothing report no event.
    Imported {
        number: E164,
        from: OperatorId,
        to: OperatorId,
    },
    /// The last block of an epoch recorded the next epoch's validator set, and it differs from
    /// the current one: `added` and `removed` (each sorted) turn the current set into epoch
    /// `epoch`'s.
    ValidatorSetChanged {
        epoch: u64,
        added: Vec<PublicKey>,
        removed: Vec<PublicKey>,
    },
}

/// What a timer entry fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum TimerKind {
    DonorDeadline = 0,
    ActivationDeadline = 1,
}
