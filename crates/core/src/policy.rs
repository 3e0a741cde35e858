//! The network's porting policy, set by the regulator.

use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

const DAY_SECS: u64 = 86_400;

/// What happens when the donor neither releases nor rejects before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SilenceRule {
    /// Recipient-led regimes: silence counts as consent.
    DeemedRelease,
    /// Donor-led regimes: silence counts as refusal.
    DeemedReject,
}

/// Timers and rules of the porting process. Durations are in seconds of block time.
///
/// An order takes its deadlines from the policy in force when it was requested; a later
/// policy change does not move them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Time the donor has, from the request, to release or reject.
    pub donor_answer_secs: u64,
    /// What the donor's silence means.
    pub on_donor_silence: SilenceRule,
    /// Time the recipient has, from the due time, to activate a released order.
    pub activation_window_secs: u64,
    /// How far past the request a wanted due time may lie.
    pub max_due_ahead_secs: u64,
    /// After a completed port, how long before the number may be ported again.
    pub lock_in_secs: u64,
    /// After a return, how long before the number may be bound to a new subscriber.
    pub return_quarantine_secs: u64,
    /// Longest validity a transaction may claim (its replay-protection window).
    pub tx_ttl_max_secs: u64,
}

impl Default for Policy {
    /// An EU-style default: the donor answers within four hours, silence releases, the
    /// recipient activates within a day of the due time.
    fn default() -> Self {
        Self {
            donor_answer_secs: 4 * 3600,
            on_donor_silence: SilenceRule::DeemedRelease,
            activation_window_secs: DAY_SECS,
            max_due_ahead_secs: 30 * DAY_SECS,
            lock_in_secs: 0,
            return_quarantine_secs: 90 * DAY_SECS,
            tx_ttl_max_secs: 3600,
        }
    }
}

/// A policy value out of its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy field {field} = {value} is outside {min}..={max}")]
pub struct PolicyError {
    pub field: &'static str,
    pub value: u64,
    pub min: u64,
    pub max: u64,
}

impl Policy {
    /// Checks every duration against its bounds.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let checks = [
            ("donor_answer_secs", self.donor_answer_secs, 1, 90 * DAY_SECS),
            ("activation_window_secs", self.activation_window_secs, 1, 90 * DAY_SECS),
            ("max_due_ahead_secs", self.max_due_ahead_secs, 0, 365 * DAY_SECS),
            ("lock_in_secs", self.lock_in_secs, 0, 5 * 365 * DAY_SECS),
            ("return_quarantine_secs", self.return_quarantine_secs, 0, 5 * 365 * DAY_SECS),
            ("tx_ttl_max_secs", self.tx_ttl_max_secs, 1, DAY_SECS),
        ];
        for (field, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(PolicyError { field, value, min, max });
            }
        }
        Ok(())
    }
}

impl Write for SilenceRule {
    fn write(&self, buf: &mut impl BufMut) {
        (*self as u8).write(buf);
    }
}

impl FixedSize for SilenceRule {
    const SIZE: usize = 1;
}

impl Read for SilenceRule {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::DeemedRelease),
            1 => Ok(Self::DeemedReject),
            t => Err(CodecError::InvalidEnum(t)),
        }
    }
}

impl Write for Policy {
    fn write(&self, buf: &mut impl BufMut) {
        self.donor_answer_secs.write(buf);
        self.on_donor_silence.write(buf);
        self.activation_window_secs.write(buf);
        self.max_due_ahead_secs.write(buf);
        self.lock_in_secs.write(buf);
        self.return_quarantine_secs.write(buf);
        self.tx_ttl_max_secs.write(buf);
    }
}

impl FixedSize for Policy {
    const SIZE: usize = 6 * u64::SIZE + SilenceRule::SIZE;
}

impl Read for Policy {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            donor_answer_secs: u64::read(buf)?,
            on_donor_silence: SilenceRule::read(buf)?,
            activation_window_secs: u64::read(buf)?,
            max_due_ahead_secs: u64::read(buf)?,
            lock_in_secs: u64::read(buf)?,
            return_quarantine_secs: u64::read(buf)?,
            tx_ttl_max_secs: u64::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid_and_bounds_name_the_field() {
        Policy::default().validate().unwrap();
        let p = Policy { donor_answer_secs: 0, ..Policy::default() };
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "donor_answer_secs");
        assert!(e.to_string().contains("donor_answer_secs = 0"));
        let p = Policy { tx_ttl_max_secs: 10 * DAY_SECS, ..Policy::default() };
        assert_eq!(p.validate().unwrap_err().field, "tx_ttl_max_secs");
    }
}
