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

/// Why [`Policy::set`] refused a value: the field is not one of [`Policy::FIELDS`], the value
/// does not read as the field's type, or the policy it would give is out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicySetError {
    #[error("no policy field {name:?}; the fields are {}", Policy::FIELDS.iter().map(|f| f.name).collect::<Vec<_>>().join(", "))]
    UnknownField { name: String },
    #[error("policy field {field}: {value:?} is not {expected}")]
    BadValue { field: &'static str, value: String, expected: &'static str },
    #[error(transparent)]
    Bounds(#[from] PolicyError),
}

impl PolicySetError {
    /// A short stable code, as a refusal shows it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownField { .. } => "unknown-policy-field",
            Self::BadValue { .. } => "bad-policy-value",
            Self::Bounds(_) => "policy-out-of-bounds",
        }
    }
}

/// One field of the policy as the regulator names it: its name (the TOML and JSON key), what
/// it means, how it reads and how it is set from text.
#[derive(Debug, Clone, Copy)]
pub struct PolicyField {
    pub name: &'static str,
    pub doc: &'static str,
    /// What a value looks like, for messages and help.
    pub expected: &'static str,
    get: fn(&Policy) -> String,
    set: fn(&mut Policy, &str) -> Option<()>,
}

impl PolicyField {
    /// The field's value in `policy`, as [`Policy::set`] reads it.
    pub fn get(&self, policy: &Policy) -> String {
        (self.get)(policy)
    }
}

/// Seconds as a plain count or with one unit: `90`, `90s`, `15m`, `4h`, `30d`.
fn parse_secs(text: &str) -> Option<u64> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    if digits.is_empty() {
        return None;
    }
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => DAY_SECS,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

macro_rules! secs_field {
    ($name:ident, $doc:literal) => {
        PolicyField {
            name: stringify!($name),
            doc: $doc,
            expected: "seconds: a count, or with a unit s, m, h or d (4h, 30d)",
            get: |p| p.$name.to_string(),
            set: |p, v| {
                p.$name = parse_secs(v)?;
                Some(())
            },
        }
    };
}

impl Policy {
    /// Every field, in the order of the encoding. A new field is added here with its setter.
    pub const FIELDS: &'static [PolicyField] = &[
        secs_field!(donor_answer_secs, "time the donor has, from the request, to release or reject"),
        PolicyField {
            name: "on_donor_silence",
            doc: "what the donor's silence means",
            expected: "deemed-release or deemed-reject",
            get: |p| match p.on_donor_silence {
                SilenceRule::DeemedRelease => "deemed-release".into(),
                SilenceRule::DeemedReject => "deemed-reject".into(),
            },
            set: |p, v| {
                p.on_donor_silence = match v {
                    "deemed-release" => SilenceRule::DeemedRelease,
                    "deemed-reject" => SilenceRule::DeemedReject,
                    _ => return None,
                };
                Some(())
            },
        },
        secs_field!(activation_window_secs, "time the recipient has, from the due time, to activate"),
        secs_field!(max_due_ahead_secs, "how far past the request a wanted due time may lie"),
        secs_field!(lock_in_secs, "after a completed port, how long before the number may be ported again"),
        secs_field!(return_quarantine_secs, "after a return, how long before the number may be bound again"),
        secs_field!(tx_ttl_max_secs, "longest validity a transaction may claim"),
    ];

    /// The field called `name`.
    pub fn field(name: &str) -> Result<&'static PolicyField, PolicySetError> {
        Self::FIELDS
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| PolicySetError::UnknownField { name: name.to_owned() })
    }

    /// Sets the field `name` from `value` (as [`PolicyField::get`] shows it), and checks the
    /// whole policy with [`Policy::validate`]. On any error the policy is unchanged.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), PolicySetError> {
        let field = Self::field(name)?;
        let mut next = self.clone();
        (field.set)(&mut next, value).ok_or_else(|| PolicySetError::BadValue {
            field: field.name,
            value: value.to_owned(),
            expected: field.expected,
        })?;
        next.validate()?;
        *self = next;
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

    #[test]
    fn fields_set_by_name_and_a_refused_value_changes_nothing() {
        let mut p = Policy::default();
        p.set("donor_answer_secs", "2h").unwrap();
        assert_eq!(p.donor_answer_secs, 7200);
        p.set("lock_in_secs", "600").unwrap();
        p.set("on_donor_silence", "deemed-reject").unwrap();
        assert_eq!(Policy::field("on_donor_silence").unwrap().get(&p), "deemed-reject");
        let before = p.clone();
        for (name, value, shown) in [
            ("donor_answer_secs", "0", "donor_answer_secs = 0 is outside 1..=7776000"),
            ("donor_answer_secs", "4x", "\"4x\" is not seconds"),
            ("donor_answer_secs", "+4", "\"+4\" is not seconds"),
            ("tx_ttl_max_secs", "99999999999999999999", "is not seconds"),
            ("on_donor_silence", "release", "\"release\" is not deemed-release or deemed-reject"),
            ("donor_answer", "1", "no policy field \"donor_answer\"; the fields are donor_answer_secs, "),
        ] {
            let e = p.set(name, value).unwrap_err();
            assert!(e.to_string().contains(shown), "{name}={value}: {e}");
            assert_eq!(p, before);
        }
        // every field reads back what it shows
        for f in Policy::FIELDS {
            let mut q = Policy::default();
            q.set(f.name, &f.get(&before)).unwrap();
            assert_eq!(f.get(&q), f.get(&before), "{}", f.name);
        }
    }
}
