//! Small domain types: operator ids, routing numbers, block time, ids and keys.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use std::{fmt, str::FromStr};

pub use commonware_cryptography::ed25519::{PrivateKey, PublicKey, Signature};
pub use commonware_cryptography::sha256::Digest;

/// Implements `Serialize`/`Deserialize` through `Display`/`FromStr`.
#[macro_export]
#[doc(hidden)]
macro_rules! serde_via_str {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A problem with an identifier, key or routing number given as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("operator id {0:?} must be 1 to {MAX_OPERATOR_ID_LEN} characters of A-Z, 0-9, '-' or '_'")]
    OperatorId(String),
    #[error(
        "routing number {0:?} must be '+' and 1 to 15 digits (global) or 1 to 16 hex digits (local), RFC 4694"
    )]
    RoutingNumber(String),
    #[error("public key {0:?} must be 64 hex characters of a valid ed25519 key")]
    PublicKey(String),
    #[error("id {0:?} must be 64 hex characters")]
    Digest(String),
}

/// Longest operator id.
pub const MAX_OPERATOR_ID_LEN: usize = 16;

/// An operator's short, stable identifier (`OPA`, `TELEKOM-DE`), upper case.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperatorId(String);

impl OperatorId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OperatorId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        let ok = !up.is_empty()
            && up.len() <= MAX_OPERATOR_ID_LEN
            && up.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok { Ok(Self(up)) } else { Err(IdError::OperatorId(s.to_owned())) }
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes a short ASCII string as a one-byte length and its bytes.
fn write_short_str(s: &str, buf: &mut impl BufMut) {
    (s.len() as u8).write(buf);
    buf.put_slice(s.as_bytes());
}

/// Reads what [`write_short_str`] wrote, at most `max` bytes of ASCII.
fn read_short_str(buf: &mut impl Buf, max: usize, what: &'static str) -> Result<String, CodecError> {
    let len = usize::from(u8::read(buf)?);
    if len > max {
        return Err(CodecError::InvalidLength(len));
    }
    commonware_codec::util::at_least(buf, len)?;
    let mut bytes = vec![0u8; len];
    buf.copy_to_slice(&mut bytes);
    String::from_utf8(bytes).map_err(|_| CodecError::Invalid(what, "not ASCII"))
}

impl Write for OperatorId {
    fn write(&self, buf: &mut impl BufMut) {
        write_short_str(&self.0, buf);
    }
}

impl EncodeSize for OperatorId {
    fn encode_size(&self) -> usize {
        1 + self.0.len()
    }
}

impl Read for OperatorId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let s = read_short_str(buf, MAX_OPERATOR_ID_LEN, "OperatorId")?;
        s.parse::<Self>()
            .ok()
            .filter(|id| id.0 == s)
            .ok_or(CodecError::Invalid("OperatorId", "not a canonical operator id"))
    }
}

/// A routing number in the `rn` form of RFC 4694: global (`+` and digits) or local (hex digits,
/// upper case, interpreted in the network's `rn-context`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoutingNumber(String);

impl RoutingNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const MAX_RN_LEN: usize = 16;

impl FromStr for RoutingNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let ok = match t.strip_prefix('+') {
            Some(d) => !d.is_empty() && d.len() <= 15 && d.bytes().all(|b| b.is_ascii_digit()),
            None => !t.is_empty() && t.len() <= MAX_RN_LEN && t.bytes().all(|b| b.is_ascii_hexdigit()),
        };
        if ok { Ok(Self(t.to_ascii_uppercase())) } else { Err(IdError::RoutingNumber(s.to_owned())) }
    }
}

impl fmt::Display for RoutingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoutingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Write for RoutingNumber {
    fn write(&self, buf: &mut impl BufMut) {
        write_short_str(&self.0, buf);
    }
}

impl EncodeSize for RoutingNumber {
    fn encode_size(&self) -> usize {
        1 + self.0.len()
    }
}

impl Read for RoutingNumber {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let s = read_short_str(buf, MAX_RN_LEN, "RoutingNumber")?;
        s.parse::<Self>()
            .ok()
            .filter(|rn| rn.0 == s)
            .ok_or(CodecError::Invalid("RoutingNumber", "not a canonical routing number"))
    }
}

crate::serde_via_str!(OperatorId);
crate::serde_via_str!(RoutingNumber);

/// Block time: milliseconds since the Unix epoch, taken from the block, never from a clock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn millis(self) -> u64 {
        self.0
    }
    /// This time plus `secs` seconds, saturating.
    pub fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    /// The UTC day this time falls in.
    pub fn utc_day(self) -> UtcDay {
        UtcDay(self.0 / UtcDay::MILLIS)
    }
}

/// A UTC day of block time: days since 1970-01-01, so day `d` runs from `d × 86,400,000` ms
/// (00:00:00.000 UTC) to the millisecond before the next. Leap seconds do not exist in Unix
/// time, so every day has the same length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(pub u64);

impl UtcDay {
    /// Milliseconds in a day.
    pub const MILLIS: u64 = 86_400_000;

    /// The day's first millisecond.
    pub fn start(self) -> Timestamp {
        Timestamp(self.0.saturating_mul(Self::MILLIS))
    }
}

/// The day as its ISO 8601 date (proleptic Gregorian, UTC), e.g. `2026-01-01`.
impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Days to civil date (H. Hinnant's algorithm), for days since 1970-01-01.
        let z = self.0.saturating_add(719_468);
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Write for Timestamp {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Timestamp {
    const SIZE: usize = u64::SIZE;
}

impl Read for Timestamp {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(u64::read(buf)?))
    }
}

macro_rules! digest_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Digest);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_digest(s).map(Self)
            }
        }
        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                self.0.write(buf);
            }
        }
        impl FixedSize for $name {
            const SIZE: usize = Digest::SIZE;
        }
        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
                Ok(Self(Digest::read(buf)?))
            }
        }
        crate::serde_via_str!($name);
    };
}

digest_id!(
    /// A port order's id: the hash of the subscriber's key and the signed request.
    PortId
);
digest_id!(
    /// A transaction's id: the hash of its signed payload (not of the signature, which could be
    /// re-encoded).
    TxId
);

fn parse_digest(s: &str) -> Result<Digest, IdError> {
    let bytes = commonware_formatting::from_hex(s.trim()).ok_or_else(|| IdError::Digest(s.to_owned()))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| IdError::Digest(s.to_owned()))?;
    Ok(Digest(arr))
}

/// A public key as errors and logs name it: its 32 bytes, shown as hex. (The key type itself
/// carries a decompressed point, too large to travel in every error.)
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 32]);

impl From<&PublicKey> for KeyId {
    fn from(key: &PublicKey) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key.as_ref());
        Self(bytes)
    }
}

impl KeyId {
    /// Whether this is the id of `key`.
    pub fn is(&self, key: &PublicKey) -> bool {
        self.0.as_slice() == key.as_ref()
    }
}

/// Stored records keep keys as their 32 bytes: decoding a [`PublicKey`] decompresses a curve
/// point (about 20 µs), and records are read for every transaction, only to compare keys.
impl Write for KeyId {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
}

impl FixedSize for KeyId {
    const SIZE: usize = 32;
}

impl Read for KeyId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(<[u8; 32]>::read(buf)?))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&commonware_formatting::Hex(&self.0), f)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses an ed25519 public key written as 64 hex characters.
pub fn parse_public_key(s: &str) -> Result<PublicKey, IdError> {
    use commonware_codec::DecodeExt;
    let bytes = commonware_formatting::from_hex(s.trim()).ok_or_else(|| IdError::PublicKey(s.to_owned()))?;
    PublicKey::decode(bytes).map_err(|_| IdError::PublicKey(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    #[test]
    fn utc_days_start_at_midnight_and_print_as_dates() {
        let new_year = Timestamp(1_767_225_600_000); // 2026-01-01T00:00:00Z
        assert_eq!(new_year.utc_day(), UtcDay(20_454));
        assert_eq!(Timestamp(new_year.0 - 1).utc_day(), UtcDay(20_453));
        assert_eq!(Timestamp(new_year.0 + UtcDay::MILLIS - 1).utc_day(), UtcDay(20_454));
        assert_eq!(new_year.utc_day().start(), new_year);
        let dates = [
            (0, "1970-01-01"),
            (20_453, "2025-12-31"),
            (20_454, "2026-01-01"),
            (20_512, "2026-02-28"),
            (20_513, "2026-03-01"),
            (11_016, "2000-02-29"),
            (2_932_896, "9999-12-31"),
        ];
        for (day, date) in dates {
            assert_eq!(UtcDay(day).to_string(), date, "day {day}");
        }
    }

    #[test]
    fn operator_ids_are_normalised_and_bounded() {
        assert_eq!("opa".parse::<OperatorId>().unwrap().as_str(), "OPA");
        for bad in ["", "OP A", "ÖPA", "A234567890123456X", "op.a"] {
            assert!(bad.parse::<OperatorId>().is_err(), "{bad}");
        }
        let id: OperatorId = "OPB-2".parse().unwrap();
        assert_eq!(OperatorId::decode(id.encode()).unwrap(), id);
        // non-canonical (lower case) bytes on the wire are refused
        let raw = [3u8, b'o', b'p', b'a'];
        assert!(OperatorId::decode(raw.to_vec()).is_err());
        // length byte beyond the bound is refused before reading
        assert!(OperatorId::decode(vec![200u8]).is_err());
    }

    #[test]
    fn routing_numbers_follow_rfc4694_forms() {
        assert_eq!("+4930999".parse::<RoutingNumber>().unwrap().as_str(), "+4930999");
        assert_eq!("d123".parse::<RoutingNumber>().unwrap().as_str(), "D123");
        for bad in ["", "+", "+12a", "G12", "+1234567890123456", "rn=1"] {
            assert!(bad.parse::<RoutingNumber>().is_err(), "{bad}");
        }
        let rn: RoutingNumber = "D001".parse().unwrap();
        assert_eq!(RoutingNumber::decode(rn.encode()).unwrap(), rn);
    }

    #[test]
    fn keys_and_ids_parse_from_hex() {
        assert!(parse_public_key("zz").is_err());
        assert!(parse_public_key(&"00".repeat(31)).is_err());
        let id: PortId = "ab".repeat(32).parse().unwrap();
        assert_eq!(id.to_string(), "ab".repeat(32));
        assert!("ab".parse::<PortId>().is_err());
    }
}
