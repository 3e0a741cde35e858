//! Telephone numbers (E.164) and number-range prefixes, and the one grammar every interface
//! reads them with (CLI, HTTP paths and queries, wallet, migration list, genesis).
//!
//! # What a person may type
//!
//! - ASCII digits `0`–`9`;
//! - a single `+` as the very first character (international form);
//! - single ASCII spaces (U+0020) or hyphens (U+002D) *between two digits*, to group them.
//!
//! Nothing else: no leading or trailing space, no doubled separator, no separator right after
//! the `+`, no dots, slashes or parentheses, no other spaces (tab, no-break space…), no invisible
//! characters (zero-width space, byte-order mark…), no digits of other scripts (fullwidth `１`),
//! no second `+`, and no letters. Letters are never read as keypad digits (`+49150FLOWERS1` is
//! refused, not turned into +4915035693771). Each refusal is a typed [`NumberError`] that
//! quotes the input Debug-escaped (so `"\u{200b}"` shows), names the character and its position
//! (1-based, in characters), and says what form is expected.
//!
//! Text without `+` is read with the network's region (the genesis `region`): when it begins with
//! the region's international dialling prefix (`00` in DE) the country code follows; when it
//! begins with the region's national (trunk) prefix (`0` in DE) the national number follows and
//! the region's country code is put in front (`0150 1234567` is +491501234567). A region without
//! a national prefix reads every such text as its national number. Without a region, or when the
//! text begins with neither prefix, it is refused. Regions whose national dialling rewrites
//! digits (Argentina's mobile `15`) are not read: write those numbers with `+`.
//!
//! The result must be an E.164 number: 7 to 15 digits in all, beginning with an assigned
//! country code. The `phonenumber` crate supplies only metadata here (the region's country
//! code, its international and national prefixes, the list of assigned country codes); its
//! parser is not used, because it reads letters as keypad digits and skips unknown characters.
//!
//! The ledger keeps one canonical form: the E.164 digits as an integer. Because an E.164 number
//! never starts with a zero (country codes start with 1–9), the integer identifies the digit
//! string uniquely and costs eight bytes. Whether a number *exists* is decided by the regulator's
//! ranges on the ledger, never by the library's metadata, which lags real allocations.

use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use phonenumber::metadata::{DATABASE, Metadata};
use std::{fmt, str::FromStr};

/// Most digits an E.164 number may have (ITU-T E.164 §6.1).
pub const MAX_DIGITS: u8 = 15;
/// Fewest digits a telephone number has in international form, country code included (the
/// shortest numbers in service, such as Niue's +683 xxxx, have seven).
pub const MIN_DIGITS: u8 = 7;

/// What every refusal says is expected.
const FORM: &str = "expected +<country code><number> (or, with the network's region, its national or \
     international dialling form) in digits 0-9, grouped if you like by single spaces or hyphens: \
     +49 150 1234567, 0150-1234567";

/// What the text was meant to be: the messages say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A whole telephone number.
    Number,
    /// The leading digits of a number range.
    Prefix,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Number => "number",
            Self::Prefix => "prefix",
        })
    }
}

/// Why a character cannot be part of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CharClass {
    Letter,
    OtherDigit,
    OtherSpace,
    Control,
    Invisible,
    OtherDash,
    Other,
}

impl CharClass {
    fn of(c: char) -> Self {
        if c.is_alphabetic() {
            Self::Letter
        } else if c.is_numeric() {
            Self::OtherDigit
        } else if c.is_control() {
            Self::Control
        } else if c.is_whitespace() {
            Self::OtherSpace
        } else if matches!(c, '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe58}' | '\u{fe63}' | '\u{ff0d}') {
            Self::OtherDash
        } else if c.escape_debug().next() == Some('\\') {
            // Rust escapes what does not print: format characters such as U+200B, U+FEFF.
            Self::Invisible
        } else {
            Self::Other
        }
    }
}

impl fmt::Display for CharClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Letter => "a letter (letters are never read as keypad digits)",
            Self::OtherDigit => "a digit other than ASCII 0-9",
            Self::OtherSpace => "a space other than the plain space U+0020",
            Self::Control => "a control character",
            Self::Invisible => "an invisible character",
            Self::OtherDash => "a dash other than the ASCII hyphen U+002D",
            Self::Other => "not allowed in a telephone number",
        })
    }
}

/// Where a space or hyphen stands that may only stand between two digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misplaced {
    BeforeFirstDigit,
    AfterPlus,
    Doubled,
    AtEnd,
}

impl fmt::Display for Misplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BeforeFirstDigit => "comes before the first digit",
            Self::AfterPlus => "follows the +",
            Self::Doubled => "follows another space or hyphen",
            Self::AtEnd => "comes after the last digit",
        })
    }
}

/// A problem with a telephone number or prefix given as text. Every message quotes the text as
/// given (Debug-escaped) and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    #[error("the {what} is empty; {FORM}")]
    Empty { what: Subject },
    #[error("the {what} {input:?} is only whitespace; {FORM}")]
    Blank { what: Subject, input: String },
    #[error(
        "{what} {input:?}: character {position}, {found:?} (U+{code:04X}), is {class}; {FORM}",
        code = u32::from(*found)
    )]
    BadCharacter { what: Subject, input: String, position: usize, found: char, class: CharClass },
    #[error(
        "{what} {input:?}: the {found:?} at character {position} {place}; a single space or hyphen may only \
         stand between two digits"
    )]
    BadSeparator { what: Subject, input: String, position: usize, found: char, place: Misplaced },
    #[error("{what} {input:?}: the + at character {position} is misplaced; one + may only begin the {what}")]
    MisplacedPlus { what: Subject, input: String, position: usize },
    #[error("{what} {input:?} has no digits; {FORM}")]
    NoDigits { what: Subject, input: String },
    #[error(
        "{what} {input:?} does not begin with +, and no region is known to read it in national form; write \
         +<country code><number>"
    )]
    NeedsRegion { what: Subject, input: String },
    #[error(
        "{what} {input:?} begins with neither +, the international prefix {international} of region {region} \
         nor its national prefix {national}; write +<country code><number>, \
         {international}<country code><number> or {national}<national number>",
        international = region.international_prefix_shown(),
        national = region.national_prefix().unwrap_or_default()
    )]
    NotDialable { what: Subject, input: String, region: Region },
    #[error("{what} {input:?} reads as +{digits}: no country code begins with 0")]
    NoCountryCode { what: Subject, input: String, digits: String },
    #[error(
        "{what} {input:?} has {digits} digits in international form; E.164 allows at most {MAX_DIGITS}, country \
         code included"
    )]
    TooLong { what: Subject, input: String, digits: usize },
    #[error(
        "number {input:?} has {digits} digits in international form; a telephone number has {MIN_DIGITS} to \
         {MAX_DIGITS}, country code included"
    )]
    TooShort { input: String, digits: usize },
    #[error("number {input:?} reads as +{digits}, which begins with no assigned country code")]
    UnknownCountryCode { input: String, digits: String },
    #[error("region {input:?} is not an ISO 3166 country code known to the number library")]
    UnknownRegion { input: String },
}

/// The region used to read numbers written in national form (e.g. `030 1234567` in `DE`) and
/// with its international dialling prefix (`0049 30 1234567`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl Region {
    fn metadata(self) -> &'static Metadata {
        DATABASE.by_id(self.0.as_ref()).expect("a Region is made only for ids with metadata")
    }

    /// The region's country code (49 for DE).
    pub fn country_code(self) -> u16 {
        self.metadata().country_code()
    }

    /// The national (trunk) prefix dialled before a national number (`0` in DE), if any.
    pub fn national_prefix(self) -> Option<&'static str> {
        self.metadata().national_prefix()
    }

    /// How long the international dialling prefix is at the start of `digits`, if there is one.
    fn international_prefix_len(self, digits: &str) -> Option<usize> {
        let m = self.metadata().international_prefix()?.find(digits)?;
        (m.start() == 0 && m.end() > 0).then_some(m.end())
    }

    /// The international dialling prefix to show a person (`00` in DE).
    fn international_prefix_shown(self) -> String {
        let meta = self.metadata();
        meta.preferred_international_prefix()
            .map(str::to_owned)
            .or_else(|| {
                let pattern = meta.international_prefix()?.as_str();
                pattern.bytes().all(|b| b.is_ascii_digit()).then(|| pattern.to_owned())
            })
            .unwrap_or_else(|| "(its international prefix)".into())
    }
}

impl FromStr for Region {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        phonenumber::country::Id::from_str(&s.to_ascii_uppercase())
            .ok()
            .filter(|id| DATABASE.by_id(id.as_ref()).is_some())
            .map(Region)
            .ok_or_else(|| NumberError::UnknownRegion { input: s.to_owned() })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

/// Checks `input` against the grammar of typed numbers and reads it with `region`: the E.164
/// digits (not yet checked for length or country code).
fn read_digits(input: &str, region: Option<Region>, what: Subject) -> Result<String, NumberError> {
    let owned = || input.to_owned();
    if input.is_empty() {
        return Err(NumberError::Empty { what });
    }
    if input.chars().all(char::is_whitespace) {
        return Err(NumberError::Blank { what, input: owned() });
    }
    #[derive(PartialEq)]
    enum Last {
        Start,
        Plus,
        Digit,
        Separator,
    }
    let mut last = Last::Start;
    let mut digits = String::with_capacity(input.len());
    let mut end = (0, ' ');
    for (i, c) in input.chars().enumerate() {
        let position = i + 1;
        end = (position, c);
        last = match c {
            '0'..='9' => {
                digits.push(c);
                Last::Digit
            }
            '+' if position == 1 => Last::Plus,
            '+' => return Err(NumberError::MisplacedPlus { what, input: owned(), position }),
            ' ' | '-' => {
                let place = match last {
                    Last::Digit => {
                        last = Last::Separator;
                        continue;
                    }
                    Last::Start => Misplaced::BeforeFirstDigit,
                    Last::Plus => Misplaced::AfterPlus,
                    Last::Separator => Misplaced::Doubled,
                };
                return Err(NumberError::BadSeparator { what, input: owned(), position, found: c, place });
            }
            found => {
                let class = CharClass::of(found);
                return Err(NumberError::BadCharacter { what, input: owned(), position, found, class });
            }
        };
    }
    if last == Last::Separator {
        let (position, found) = end;
        return Err(NumberError::BadSeparator {
            what,
            input: owned(),
            position,
            found,
            place: Misplaced::AtEnd,
        });
    }
    if digits.is_empty() {
        return Err(NumberError::NoDigits { what, input: owned() });
    }
    if input.starts_with('+') {
        return Ok(digits);
    }
    let Some(region) = region else {
        return Err(NumberError::NeedsRegion { what, input: owned() });
    };
    if let Some(n) = region.international_prefix_len(&digits) {
        return Ok(digits.split_off(n));
    }
    let national = match region.national_prefix() {
        None => Some(digits.as_str()),
        Some(p) => digits.strip_prefix(p),
    };
    match national {
        Some(rest) => Ok(format!("{}{rest}", region.country_code())),
        None => Err(NumberError::NotDialable { what, input: owned(), region }),
    }
}

/// Whether `digits` begins with a country code the ITU has assigned (per the library's list).
pub(crate) fn has_country_code(digits: &str) -> bool {
    (1..=3.min(digits.len()))
        .filter_map(|n| digits[..n].parse::<u16>().ok())
        .any(|code| DATABASE.by_code(&code).is_some())
}

/// A telephone number in canonical E.164 form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164(u64);

fn digit_count(value: u64) -> u8 {
    // value > 0 is guaranteed by construction
    (value.ilog10() + 1) as u8
}

impl E164 {
    /// Reads a typed number by the grammar of this module: `+` and the international form,
    /// or, with the network's `region`, its national form or international dialling form.
    /// The number need not be known to the library's metadata beyond its country code.
    pub fn parse(input: &str, region: Option<Region>) -> Result<Self, NumberError> {
        let what = Subject::Number;
        let digits = read_digits(input, region, what)?;
        let input = || input.to_owned();
        if digits.starts_with('0') {
            return Err(NumberError::NoCountryCode { what, input: input(), digits });
        }
        if digits.len() > usize::from(MAX_DIGITS) {
            return Err(NumberError::TooLong { what, input: input(), digits: digits.len() });
        }
        if digits.len() < usize::from(MIN_DIGITS) {
            return Err(NumberError::TooShort { input: input(), digits: digits.len() });
        }
        if !has_country_code(&digits) {
            return Err(NumberError::UnknownCountryCode { input: input(), digits });
        }
        let value = digits.parse().expect("1 to 15 ASCII digits fit a u64");
        Ok(Self(value))
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
    /// International form only (`+…`); use [`E164::parse`] with a region for the others.
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

    /// Reads a range prefix by the same grammar as a number ([`E164::parse`]): `+4930`,
    /// `+49 30`, or with the region `030`. A prefix may be as short as one digit and needs no
    /// assigned country code.
    pub fn parse(input: &str, region: Option<Region>) -> Result<Self, NumberError> {
        let what = Subject::Prefix;
        let digits = read_digits(input, region, what)?;
        if digits.starts_with('0') {
            return Err(NumberError::NoCountryCode { what, input: input.to_owned(), digits });
        }
        Self::from_digits(&digits).ok_or_else(|| NumberError::TooLong {
            what,
            input: input.to_owned(),
            digits: digits.len(),
        })
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
    /// International form only; use [`Prefix::parse`] with a region for national input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, None)
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
mod tests;
