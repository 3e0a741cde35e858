//! Telephone numbers (E.164) and number-range prefixes.
//!
//! Input is parsed by the `phonenumber` crate (national or international forms); the ledger keeps
//! one canonical form: the E.164 digits as an integer. Because an E.164 number never starts with a
//! zero (country codes start with 1–9), the integer identifies the digit string uniquely and costs
//! eight bytes. Whether a number *exists* is decided by the regulator's ranges on the ledger, never
//! by the library's metadata, which lags real allocations.

use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use std::{fmt, str::FromStr};

/// Most digits an E.164 number may have (ITU-T E.164 §6.1).
pub const MAX_DIGITS: u8 = 15;

/// A problem with a telephone number or prefix given as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    #[error("number {input:?} is not a telephone number: {reason}")]
    Unparseable { input: String, reason: String },
    #[error(
        "number {input:?} is in national form but no region was given; write it as +<country code><number>"
    )]
    NeedsRegion { input: String },
    #[error("number {input:?} has an extension; a ported number has none")]
    HasExtension { input: String },
    #[error("number {input:?} has {digits} digits; E.164 allows 1 to {MAX_DIGITS}")]
    BadLength { input: String, digits: usize },
    #[error("prefix {input:?} must be '+' and 1 to {MAX_DIGITS} digits, the first not 0")]
    BadPrefix { input: String },
    #[error("region {input:?} is not an ISO 3166 country code known to the number library")]
    UnknownRegion { input: String },
}

/// The region used to read numbers written in national form (e.g. `030 1234567` in `DE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl FromStr for Region {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        phonenumber::country::Id::from_str(&s.to_ascii_uppercase())
            .map(Region)
            .map_err(|_| NumberError::UnknownRegion { input: s.to_owned() })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

/// A telephone number in canonical E.164 form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164(u64);

fn digit_count(value: u64) -> u8 {
    // value > 0 is guaranteed by construction
    (value.ilog10() + 1) as u8
}

impl E164 {
    /// Parses a number in international form (`+49 30 1234567`, `0049…`) or, with a region,
    /// in national form (`030 1234567`). Formatting characters are accepted; the result is the
    /// canonical E.164 number. The number need not be known to the library's metadata.
    pub fn parse(input: &str, region: Option<Region>) -> Result<Self, NumberError> {
        let trimmed = input.trim();
        // Without a region only the '+' form is unambiguous: the international call prefix
        // ("00", "011", …) depends on the region.
        if region.is_none() && !trimmed.starts_with('+') {
            return Err(NumberError::NeedsRegion { input: input.to_owned() });
        }
        let parsed = phonenumber::parse(region.map(|r| r.0), trimmed)
            .map_err(|e| NumberError::Unparseable { input: input.to_owned(), reason: e.to_string() })?;
        if parsed.extension().is_some() {
            return Err(NumberError::HasExtension { input: input.to_owned() });
        }
        let canonical = parsed.format().mode(phonenumber::Mode::E164).to_string();
        let digits = canonical.trim_start_matches('+');
        if digits.is_empty() || digits.len() > usize::from(MAX_DIGITS) {
            return Err(NumberError::BadLength { input: input.to_owned(), digits: digits.len() });
        }
        let value = digits
            .parse::<u64>()
            .map_err(|e| NumberError::Unparseable { input: input.to_owned(), reason: e.to_string() })?;
        Self::from_value(value)
            .ok_or_else(|| NumberError::BadLength { input: input.to_owned(), digits: digits.len() })
    }

    /// The number whose E.164 digits, read as an integer, are `value`; `None` when `value` is 0
    /// or has more than 15 digits.
    pub fn from_value(value: u64) -> Option<Self> {
        (value > 0 && digit_count(value) <= MAX_DIGITS).then_some(Self(value))
    }

    /// The E.164 digits read as an integer.
    pub fn value(self) -> u64 {
        self.0
    }

    /// How many digits the number has.
    pub fn digits(self) -> u8 {
        digit_count(self.0)
    }

    /// The number's leading digits as prefixes, longest first (the number itself first).
    pub fn prefixes(self) -> impl Iterator<Item = Prefix> {
        let len = self.digits();
        (1..=len).rev().map(move |n| Prefix { value: self.0 / 10u64.pow(u32::from(len - n)), len: n })
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for E164 {
    type Err = NumberError;
    /// International form only; use [`E164::parse`] with a region for national input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, None)
    }
}

impl Write for E164 {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for E164 {
    const SIZE: usize = u64::SIZE;
}

impl Read for E164 {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Self::from_value(u64::read(buf)?)
            .ok_or(CodecError::Invalid("E164", "number must have 1 to 15 digits"))
    }
}

/// The leading digits of a number range, such as `+4930` (every number starting 4930).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    value: u64,
    len: u8,
}

impl Prefix {
    /// Every proper leading part of the prefix, longest first (`+491`, `+49`, `+4` for `+4915`).
    pub fn stems(self) -> impl Iterator<Item = Prefix> {
        (1..self.len)
            .rev()
            .map(move |n| Prefix { value: self.value / 10u64.pow(u32::from(self.len - n)), len: n })
    }

    /// The prefix made of exactly these digits (`None` if not 1 to 15 digits, the first not 0).
    pub fn from_digits(digits: &str) -> Option<Self> {
        let len = u8::try_from(digits.len()).ok()?;
        if len == 0
            || len > MAX_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return None;
        }
        Some(Prefix { value: digits.parse().ok()?, len })
    }

    /// The number with the prefix's digits.
    pub fn as_number(self) -> E164 {
        E164(self.value)
    }

    /// Whether `number` starts with this prefix.
    pub fn contains(self, number: E164) -> bool {
        number.prefixes().any(|p| p == self)
    }

    /// How many digits the prefix has.
    pub fn len(self) -> u8 {
        self.len
    }

    /// A prefix is never empty; provided for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }
}

impl FromStr for Prefix {
    type Err = NumberError;
    /// `+` followed by 1–15 digits, the first not 0 (a prefix is not a whole number, so the
    /// number library cannot read it; this is the whole grammar).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NumberError::BadPrefix { input: s.to_owned() };
        let digits = s.trim().strip_prefix('+').ok_or_else(bad)?;
        Self::from_digits(digits).ok_or_else(bad)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.value)
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Write for Prefix {
    fn write(&self, buf: &mut impl BufMut) {
        self.len.write(buf);
        self.value.write(buf);
    }
}

impl FixedSize for Prefix {
    const SIZE: usize = u8::SIZE + u64::SIZE;
}

impl Read for Prefix {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let len = u8::read(buf)?;
        let value = u64::read(buf)?;
        if value == 0 || len == 0 || len > MAX_DIGITS || digit_count(value) != len {
            return Err(CodecError::Invalid("Prefix", "length does not match digits"));
        }
        Ok(Self { value, len })
    }
}

crate::serde_via_str!(E164);
crate::serde_via_str!(Prefix);

#[cfg(test)]
mod tests {
    use super::*;

    fn de() -> Option<Region> {
        Some("DE".parse().unwrap())
    }

    #[test]
    fn international_and_national_forms_give_one_canonical_number() {
        let forms = ["+49 30 1234567", "+49 (30) 123-4567", "+49-30-1234567"];
        for form in forms {
            assert_eq!(E164::parse(form, None).unwrap().to_string(), "+49301234567", "{form}");
        }
        // the international call prefix needs the region to be read
        assert_eq!(E164::parse("0049301234567", de()).unwrap().to_string(), "+49301234567");
        assert!(E164::parse("0049301234567", None).is_err());
        assert_eq!(E164::parse("030 1234567", de()).unwrap().to_string(), "+49301234567");
        assert_eq!(E164::parse("+1 202 555 0142", de()).unwrap().to_string(), "+12025550142");
    }

    #[test]
    fn numbers_unknown_to_the_library_metadata_are_accepted() {
        // A well-formed number that the metadata would call invalid is still a number; the
        // ledger's ranges decide whether it exists.
        let n = E164::parse("+49 999 0000000", None).unwrap();
        assert_eq!(n.to_string(), "+499990000000");
    }

    #[test]
    fn malformed_numbers_are_rejected_with_the_input_named() {
        for bad in ["", "hello", "+", "+49", "+999 123456", "+4930 1234 5678 9012 3456"] {
            let err = E164::parse(bad, de()).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{bad}: {err}");
        }
        assert!(matches!(E164::parse("030 1234567", None), Err(NumberError::NeedsRegion { .. })));
        assert!(matches!(E164::parse("+49 30 1234567 ext. 12", None), Err(NumberError::HasExtension { .. })));
        assert!(E164::parse("+1234567890123456", None).is_err());
    }

    #[test]
    fn prefixes_run_longest_first() {
        let n: E164 = "+4930123".parse().unwrap();
        let p: Vec<String> = n.prefixes().map(|p| p.to_string()).collect();
        assert_eq!(p, ["+4930123", "+493012", "+49301", "+4930", "+493", "+49", "+4"]);
        assert!("+4930".parse::<Prefix>().unwrap().contains(n));
        assert!(!"+4931".parse::<Prefix>().unwrap().contains(n));
    }

    #[test]
    fn prefix_grammar() {
        for bad in ["4930", "+", "+0493", "+49a", "+1234567890123456", ""] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
        assert_eq!("+1".parse::<Prefix>().unwrap().len(), 1);
    }

    #[test]
    fn decoding_rejects_non_numbers() {
        use commonware_codec::{DecodeExt, Encode};
        assert!(E164::decode(0u64.encode()).is_err());
        assert!(E164::decode(10u64.pow(15).encode()).is_err());
        let n = E164::from_value(10u64.pow(15) - 1).unwrap();
        assert_eq!(E164::decode(n.encode()).unwrap(), n);
        let bad_prefix = (3u8, 4930u64).encode();
        assert!(Prefix::decode(bad_prefix).is_err());
    }
}
