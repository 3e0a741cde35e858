//! Port orders: their states, the donor's reject reasons and the history of each order.

use crate::{
    number::E164,
    policy::SilenceRule,
    tx::MAX_GROUP,
    types::{KeyId, OperatorId, PortId, Timestamp},
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write};
use std::{fmt, str::FromStr};

/// Why a donor refuses a port. The list is closed: a donor may reject only for one of these
/// reasons, each with a stable name and code on the wire, so a rejection reads the same to
/// every party; a transaction naming any other reason does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    OutstandingDues,
    LockInPeriod,
    OwnershipChangePending,
    ContractualObligation,
    CourtOrder,
    IdentityMismatch,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [Self; 6] = [
        Self::OutstandingDues,
        Self::LockInPeriod,
        Self::OwnershipChangePending,
        Self::ContractualObligation,
        Self::CourtOrder,
        Self::IdentityMismatch,
    ];

    /// The reason's stable name, as used by the API and CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutstandingDues => "outstanding-dues",
            Self::LockInPeriod => "lock-in-period",
            Self::OwnershipChangePending => "ownership-change-pending",
            Self::ContractualObligation => "contractual-obligation",
            Self::CourtOrder => "court-order",
            Self::IdentityMismatch => "identity-mismatch",
        }
    }

    /// What the reason means, for a person reading a rejected order.
    pub fn description(self) -> &'static str {
        match self {
            Self::OutstandingDues => "the subscriber has unpaid charges with the donor",
            Self::LockInPeriod => "the subscriber's contract is still in its minimum term",
            Self::OwnershipChangePending => "a change of the number's holder is pending",
            Self::ContractualObligation => "a contractual obligation keeps the number with the donor",
            Self::CourtOrder => "a court order stops the port",
            Self::IdentityMismatch => "the subscriber's identity does not match the donor's records",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown reject reason name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown reject reason {0:?}; one of: outstanding-dues, lock-in-period, ownership-change-pending, contractual-obligation, court-order, identity-mismatch"
)]
pub struct UnknownReason(pub String);

impl FromStr for RejectReason {
    type Err = UnknownReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

crate::serde_via_str!(RejectReason);

impl Write for RejectReason {
    fn write(&self, buf: &mut impl BufMut) {
        (*self as u8).write(buf);
    }
}

impl FixedSize for RejectReason {
    const SIZE: usize = 1;
}

impl Read for RejectReason {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tag = u8::read(buf)?;
        Self::ALL.get(usize::from(tag)).copied().ok_or(CodecError::InvalidEnum(tag))
    }
}

/// Why an order ended rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCause {
    /// The donor rejected with a reason.
    Donor(RejectReason),
    /// The donor was silent past its deadline and the policy deems that a rejection.
    DonorSilent,
}

impl RejectCause {
    /// What the cause means, for a person reading a rejected order.
    pub fn description(self) -> &'static str {
        match self {
            Self::Donor(r) => r.description(),
            Self::DonorSilent => {
                "the donor did not answer before its deadline, and the policy deems that a rejection"
            }
        }
    }
}

impl fmt::Display for RejectCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Donor(r) => write!(f, "{r}"),
            Self::DonorSilent => f.write_str("donor-silent"),
        }
    }
}

/// One step in an order's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Requested,
    /// `deemed`: by the donor's silence, not its answer.
    Released {
        deemed: bool,
    },
    Rejected(RejectCause),
    Activated,
    Cancelled,
    Expired,
}

impl Step {
    /// Whether the order is finished after this step.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Requested | Self::Released { .. })
    }
}

/// The state an order is in: its latest step.
pub type PortState = Step;

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requested => f.write_str("requested"),
            Self::Released { deemed: false } => f.write_str("released"),
            Self::Released { deemed: true } => f.write_str("released (deemed)"),
            Self::Rejected(c) => write!(f, "rejected ({c})"),
            Self::Activated => f.write_str("activated"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::Expired => f.write_str("expired"),
        }
    }
}

impl Write for Step {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Requested => 0u8.write(buf),
            Self::Released { deemed } => {
                1u8.write(buf);
                deemed.write(buf);
            }
            Self::Rejected(RejectCause::Donor(r)) => {
                2u8.write(buf);
                r.write(buf);
            }
            Self::Rejected(RejectCause::DonorSilent) => 3u8.write(buf),
            Self::Activated => 4u8.write(buf),
            Self::Cancelled => 5u8.write(buf),
            Self::Expired => 6u8.write(buf),
        }
    }
}

impl EncodeSize for Step {
    fn encode_size(&self) -> usize {
        match self {
            Self::Released { .. } | Self::Rejected(RejectCause::Donor(_)) => 2,
            _ => 1,
        }
    }
}

impl Read for Step {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Requested,
            1 => Self::Released { deemed: bool::read(buf)? },
            2 => Self::Rejected(RejectCause::Donor(RejectReason::read(buf)?)),
            3 => Self::Rejected(RejectCause::DonorSilent),
            4 => Self::Activated,
            5 => Self::Cancelled,
            6 => Self::Expired,
            t => return Err(CodecError::InvalidEnum(t)),
        })
    }
}

/// Who sent the request on the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The subscriber's own node.
    Subscriber,
    /// The recipient operator, carrying the subscriber's signed consent.
    Recipient,
}

/// A port order with its full history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortOrder {
    pub id: PortId,
    /// The numbers, ascending; a group port moves all of them or none.
    pub numbers: Vec<E164>,
    pub donor: OperatorId,
    pub recipient: OperatorId,
    pub subscriber: KeyId,
    pub initiator: Initiator,
    /// Earliest activation.
    pub due: Timestamp,
    /// The donor must answer before this.
    pub donor_deadline: Timestamp,
    /// The recipient must activate before this, or the order expires.
    pub activation_deadline: Timestamp,
    /// The silence rule in force when the order was requested.
    pub on_donor_silence: SilenceRule,
    /// Every step with the block time it happened at; never empty, first is `Requested`.
    pub history: Vec<(Timestamp, Step)>,
}

impl PortOrder {
    /// The order's current state.
    pub fn state(&self) -> PortState {
        self.history.last().map(|(_, s)| *s).unwrap_or(Step::Requested)
    }

    /// Whether the order still blocks its numbers.
    pub fn is_open(&self) -> bool {
        !self.state().is_final()
    }
}

/// Longest history an order can have: requested, released, one final step.
const MAX_HISTORY: usize = 3;

impl Write for PortOrder {
    fn write(&self, buf: &mut impl BufMut) {
        self.id.write(buf);
        self.numbers.write(buf);
        self.donor.write(buf);
        self.recipient.write(buf);
        self.subscriber.write(buf);
        matches!(self.initiator, Initiator::Recipient).write(buf);
        self.due.write(buf);
        self.donor_deadline.write(buf);
        self.activation_deadline.write(buf);
        self.on_donor_silence.write(buf);
        self.history.write(buf);
    }
}

impl EncodeSize for PortOrder {
    fn encode_size(&self) -> usize {
        self.id.encode_size()
            + self.numbers.encode_size()
            + self.donor.encode_size()
            + self.recipient.encode_size()
            + self.subscriber.encode_size()
            + 1
            + 3 * Timestamp::SIZE
            + SilenceRule::SIZE
            + self.history.encode_size()
    }
}

impl Read for PortOrder {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            id: PortId::read(buf)?,
            numbers: Vec::read_cfg(buf, &(RangeCfg::from(1..=MAX_GROUP), ()))?,
            donor: OperatorId::read(buf)?,
            recipient: OperatorId::read(buf)?,
            subscriber: KeyId::read(buf)?,
            initiator: if bool::read(buf)? { Initiator::Recipient } else { Initiator::Subscriber },
            due: Timestamp::read(buf)?,
            donor_deadline: Timestamp::read(buf)?,
            activation_deadline: Timestamp::read(buf)?,
            on_donor_silence: SilenceRule::read(buf)?,
            history: Vec::read_cfg(buf, &(RangeCfg::from(1..=MAX_HISTORY), ((), ())))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_by_name_and_code() {
        use commonware_codec::{DecodeExt, Encode};
        for r in RejectReason::ALL {
            assert_eq!(r.as_str().parse::<RejectReason>().unwrap(), r);
            assert_eq!(RejectReason::decode(r.encode()).unwrap(), r);
        }
        assert!("because".parse::<RejectReason>().unwrap_err().to_string().contains("court-order"));
        assert!(RejectReason::decode(vec![6u8]).is_err());
    }
}
