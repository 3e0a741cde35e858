//! The network's porting policy, set by the regulator.
//!
//! Its encoding (in a `SetPolicy` transaction, in the state, in the genesis hash) is the seven
//! timer and rule fields as they were first frozen; the daily port caps, added later, follow
//! them only when one is set, announced by the high bit of the silence-rule byte (see
//! [`Policy`]'s `Write`), so a policy without caps encodes exactly as before they existed.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

const DAY_SECS: u64 = 86_400;

/// The largest daily port cap a policy may set, in numbers a day.
pub const MAX_DAILY_CAP: u32 = 10_000_000;

/// In the encoded silence-rule byte: the daily-caps section follows the seven fields.
const CAPS_FOLLOW: u8 = 0x80;

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
    /// Most numbers that may be requested from one donor in one UTC day of block time, counted
    /// when a request is accepted (0: no cap). See "Daily port caps" in ARCHITECTURE.md.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_ports_per_donor_per_day: u32,
    /// Most numbers that one recipient may request in one UTC day of block time (0: no cap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_ports_per_recipient_per_day: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// The side of a port a daily cap counts: the operator the numbers leave, or the one they join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapSide {
    Donor,
    Recipient,
}

impl CapSide {
    pub const ALL: [Self; 2] = [Self::Donor, Self::Recipient];

    /// The policy field that caps this side.
    pub fn field(self) -> &'static str {
        match self {
            Self::Donor => "max_ports_per_donor_per_day",
            Self::Recipient => "max_ports_per_recipient_per_day",
        }
    }
}

impl std::fmt::Display for CapSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Donor => "donor",
            Self::Recipient => "recipient",
        })
    }
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
            max_ports_per_donor_per_day: 0,
            max_ports_per_recipient_per_day: 0,
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
    /// The daily cap of `side` in numbers, if one is set.
    pub fn daily_cap(&self, side: CapSide) -> Option<u32> {
        let cap = match side {
            CapSide::Donor => self.max_ports_per_donor_per_day,
            CapSide::Recipient => self.max_ports_per_recipient_per_day,
        };
        (cap > 0).then_some(cap)
    }

    fn has_caps(&self) -> bool {
        CapSide::ALL.iter().any(|s| self.daily_cap(*s).is_some())
    }

    /// Checks every duration and cap against its bounds.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let checks = [
            ("donor_answer_secs", self.donor_answer_secs, 1, 90 * DAY_SECS),
            ("activation_window_secs", self.activation_window_secs, 1, 90 * DAY_SECS),
            ("max_due_ahead_secs", self.max_due_ahead_secs, 0, 365 * DAY_SECS),
            ("lock_in_secs", self.lock_in_secs, 0, 5 * 365 * DAY_SECS),
            ("return_quarantine_secs", self.return_quarantine_secs, 0, 5 * 365 * DAY_SECS),
            ("tx_ttl_max_secs", self.tx_ttl_max_secs, 1, DAY_SECS),
            ("max_ports_per_donor_per_day", self.max_ports_per_donor_per_day.into(), 0, MAX_DAILY_CAP.into()),
            (
                "max_ports_per_recipient_per_day",
                self.max_ports_per_recipient_per_day.into(),
                0,
                MAX_DAILY_CAP.into(),
            ),
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

macro_rules! count_field {
    ($name:ident, $doc:literal) => {
        PolicyField {
            name: stringify!($name),
            doc: $doc,
            expected: "a count of numbers (0: no cap)",
            get: |p| p.$name.to_string(),
            set: |p, v| {
                p.$name = v.parse().ok()?;
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
        count_field!(
            max_ports_per_donor_per_day,
            "most numbers requested from one donor in one UTC day of block time (0: no cap)"
        ),
        count_field!(
            max_ports_per_recipient_per_day,
            "most numbers one recipient may request in one UTC day of block time (0: no cap)"
        ),
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

/// The seven fields in their frozen order; the silence rule's byte is 0 or 1, plus
/// `CAPS_FOLLOW` when at least one daily cap is set, in which case the two caps follow (u32
/// each, donor then recipient). A section with no cap in it is refused on decode, so every
/// policy has exactly one encoding.
impl Write for Policy {
    fn write(&self, buf: &mut impl BufMut) {
        let caps = self.has_caps();
        self.donor_answer_secs.write(buf);
        (self.on_donor_silence as u8 | if caps { CAPS_FOLLOW } else { 0 }).write(buf);
        self.activation_window_secs.write(buf);
        self.max_due_ahead_secs.write(buf);
        self.lock_in_secs.write(buf);
        self.return_quarantine_secs.write(buf);
        self.tx_ttl_max_secs.write(buf);
        if caps {
            self.max_ports_per_donor_per_day.write(buf);
            self.max_ports_per_recipient_per_day.write(buf);
        }
    }
}

impl EncodeSize for Policy {
    fn encode_size(&self) -> usize {
        6 * u64::SIZE + SilenceRule::SIZE + if self.has_caps() { 2 * u32::SIZE } else { 0 }
    }
}

impl Read for Policy {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let donor_answer_secs = u64::read(buf)?;
        let silence = u8::read(buf)?;
        let on_donor_silence = match silence & !CAPS_FOLLOW {
            0 => SilenceRule::DeemedRelease,
            1 => SilenceRule::DeemedReject,
            _ => return Err(CodecError::InvalidEnum(silence)),
        };
        let mut policy = Self {
            donor_answer_secs,
            on_donor_silence,
            activation_window_secs: u64::read(buf)?,
            max_due_ahead_secs: u64::read(buf)?,
            lock_in_secs: u64::read(buf)?,
            return_quarantine_secs: u64::read(buf)?,
            tx_ttl_max_secs: u64::read(buf)?,
            max_ports_per_donor_per_day: 0,
            max_ports_per_recipient_per_day: 0,
        };
        if silence & CAPS_FOLLOW != 0 {
            policy.max_ports_per_donor_per_day = u32::read(buf)?;
            policy.max_ports_per_recipient_per_day = u32::read(buf)?;
            if !policy.has_caps() {
                return Err(CodecError::Invalid("Policy", "daily-caps section sets no cap"));
            }
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Copying, DecodeExt, Encode};

    fn decode(bytes: &[u8]) -> Result<Policy, CodecError> {
        Policy::decode(Copying(bytes))
    }

    #[test]
    fn default_policy_is_valid_and_bounds_name_the_field() {
        Policy::default().validate().unwrap();
        let p = Policy { donor_answer_secs: 0, ..Policy::default() };
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "donor_answer_secs");
        assert!(e.to_string().contains("donor_answer_secs = 0"));
        let p = Policy { tx_ttl_max_secs: 10 * DAY_SECS, ..Policy::default() };
        assert_eq!(p.validate().unwrap_err().field, "tx_ttl_max_secs");
        let p = Policy { max_ports_per_recipient_per_day: MAX_DAILY_CAP + 1, ..Policy::default() };
        let e = p.validate().unwrap_err();
        assert_eq!((e.field, e.value, e.max), ("max_ports_per_recipient_per_day", 10_000_001, 10_000_000));
        Policy { max_ports_per_donor_per_day: MAX_DAILY_CAP, ..Policy::default() }.validate().unwrap();
    }

    fn hex(p: &Policy) -> String {
        p.encode().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_policy_without_caps_encodes_as_before_caps_existed() {
        let p = Policy { on_donor_silence: SilenceRule::DeemedReject, ..Policy::default() };
        let expected = concat!(
            "0000000000003840", // donor_answer_secs 14400
            "01",               // deemed-reject, no caps section
            "0000000000015180", // activation_window_secs 86400
            "0000000000278d00", // max_due_ahead_secs 30 days
            "0000000000000000", // lock_in_secs
            "000000000076a700", // return_quarantine_secs 90 days
            "0000000000000e10", // tx_ttl_max_secs 3600
        );
        assert_eq!(hex(&p), expected);
        assert_eq!(p.encode_size(), 49);
        assert_eq!(decode(&p.encode()).unwrap(), p);
    }

    #[test]
    fn caps_follow_the_seven_fields_flagged_in_the_silence_byte() {
        let p = Policy { max_ports_per_donor_per_day: 50, ..Policy::default() };
        let bytes = p.encode();
        assert_eq!(bytes.len(), 49 + 8);
        assert_eq!(p.encode_size(), bytes.len());
        assert_eq!(bytes[8], 0x80, "deemed-release with the caps flag");
        assert_eq!(&bytes[49..], &[0, 0, 0, 50, 0, 0, 0, 0]);
        assert_eq!(decode(&bytes).unwrap(), p);
        let q =
            Policy { max_ports_per_recipient_per_day: 7, on_donor_silence: SilenceRule::DeemedReject, ..p };
        assert_eq!(q.encode()[8], 0x81);
        assert_eq!(decode(&q.encode()).unwrap(), q);

        // the flag without a cap in its section is not a second encoding of a policy
        let mut empty = Policy::default().encode().to_vec();
        empty[8] |= 0x80;
        empty.extend_from_slice(&[0; 8]);
        assert!(matches!(decode(&empty), Err(CodecError::Invalid("Policy", _))));
        // other bits of the silence byte, a missing section, trailing bytes
        let mut bad = Policy::default().encode().to_vec();
        bad[8] = 0x02;
        assert!(matches!(decode(&bad), Err(CodecError::InvalidEnum(2))));
        assert!(decode(&bytes[..52]).is_err());
        let mut long = Policy::default().encode().to_vec();
        long.push(0);
        assert!(decode(&long).is_err());
    }

    #[test]
    fn daily_caps_name_their_fields() {
        let p = Policy { max_ports_per_recipient_per_day: 3, ..Policy::default() };
        assert_eq!(p.daily_cap(CapSide::Donor), None);
        assert_eq!(p.daily_cap(CapSide::Recipient), Some(3));
        assert_eq!(CapSide::Donor.field(), "max_ports_per_donor_per_day");
        assert_eq!(CapSide::Recipient.to_string(), "recipient");
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
