//! Number lengths: how many digits (in international form, country code included) the numbers of
//! a range have, from the numbering plan.
//!
//! A range's lengths decide which names below its prefix are numbers: `+4915` with lengths
//! 12-13 serves `+491501234567` and `+4915012345678`, while `+49150` (an incomplete number a
//! switch dialling digit by digit asks for) and a 15-digit name are not numbers. Three sources,
//! each deterministic:
//!
//! - **explicit**: the regulator's `AssignRange` with lengths (tag 16), or a genesis range's
//!   `lengths` key;
//! - **the numbering plan** ([`Lengths::plan`]): libphonenumber's possible lengths for the
//!   prefix's country code (the general descriptor's national lengths plus the country code's
//!   digits, the union over every region sharing the code), from the metadata of the exact
//!   `phonenumber` version the workspace pins. Only tools resolve it (the CLI fills it into the
//!   transaction and prints it; a genesis range without `lengths` is resolved when the genesis
//!   is read, and the resolved set is hashed into the chain id and stored): the state machine
//!   never reads the metadata;
//! - **any** ([`Lengths::any_for`]): a range assigned by the original `AssignRange` (tag 3) has
//!   every length from one more than its prefix (at least [`MIN_DIGITS`]) to [`MAX_DIGITS`],
//!   as before lengths existed, so every earlier transaction keeps its meaning.

use crate::number::{MAX_DIGITS, MIN_DIGITS, Prefix};
use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use phonenumber::metadata::DATABASE;
use std::{fmt, str::FromStr};

/// The bits a set may hold: lengths [`MIN_DIGITS`] to [`MAX_DIGITS`].
const MASK: u16 = ((1u32 << (MAX_DIGITS + 1)) - (1u32 << MIN_DIGITS)) as u16;

/// A non-empty set of number lengths, each [`MIN_DIGITS`] to [`MAX_DIGITS`] digits in
/// international form. Its text is the lengths in order, runs joined by a hyphen (`11-12`,
/// `10,12`, `7-9,11`); on the ledger it is two bytes, bit `n` for length `n`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lengths(u16);

/// Why a text is not a set of lengths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "lengths {input:?}: {reason}; write digit counts of {MIN_DIGITS} to {MAX_DIGITS} (country code included) as \
     a list of numbers or ranges, e.g. 11-12 or 10,12"
)]
pub struct LengthsError {
    pub input: String,
    pub reason: &'static str,
}

impl Lengths {
    /// Every length from `lo` to `hi` (clamped to [`MIN_DIGITS`]..=[`MAX_DIGITS`]); `None` if
    /// that is empty.
    pub fn between(lo: u8, hi: u8) -> Option<Self> {
        let (lo, hi) = (lo.max(MIN_DIGITS), hi.min(MAX_DIGITS));
        (lo <= hi).then(|| Self((lo..=hi).fold(0, |bits, n| bits | 1 << n)))
    }

    /// The set of these bits (bit `n` = length `n`); `None` if empty or outside the bounds.
    pub fn from_bits(bits: u16) -> Option<Self> {
        (bits != 0 && bits & !MASK == 0).then_some(Self(bits))
    }

    /// The set of these lengths; `None` if empty or one is out of bounds.
    pub fn from_lengths(lengths: impl IntoIterator<Item = u8>) -> Option<Self> {
        let mut bits = 0u16;
        for n in lengths {
            if !(MIN_DIGITS..=MAX_DIGITS).contains(&n) {
                return None;
            }
            bits |= 1 << n;
        }
        Self::from_bits(bits)
    }

    pub fn bits(self) -> u16 {
        self.0
    }

    /// Whether numbers of `digits` digits are in the set.
    pub fn contains(self, digits: u8) -> bool {
        digits <= MAX_DIGITS && self.0 & (1 << digits) != 0
    }

    /// Whether the set has a length greater than `digits`.
    pub fn any_longer_than(self, digits: u8) -> bool {
        digits < MAX_DIGITS && self.0 >> (digits + 1) != 0
    }

    /// Whether every length of `self` is in `other`.
    pub fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The lengths in increasing order.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (MIN_DIGITS..=MAX_DIGITS).filter(move |n| self.contains(*n))
    }

    /// The shortest length.
    pub fn min(self) -> u8 {
        self.iter().next().expect("a set is never empty")
    }

    /// The longest length.
    pub fn max(self) -> u8 {
        self.iter().last().expect("a set is never empty")
    }

    /// Every length a range with `prefix` may have: more digits than the prefix, and
    /// [`MIN_DIGITS`] to [`MAX_DIGITS`] (a 15-digit prefix, a range of one number, has 15). It
    /// is also the lengths of a range assigned without lengths (`AssignRange`, tag 3).
    pub fn any_for(prefix: Prefix) -> Self {
        Self::between((prefix.len() + 1).min(MAX_DIGITS), MAX_DIGITS).expect("never empty")
    }

    /// The numbering plan's lengths for numbers under `prefix`: libphonenumber's possible
    /// lengths of the country code the prefix begins with (the general descriptor's national
    /// lengths plus the code's digits, the union over every region that shares the code), those
    /// longer than the prefix and within [`MIN_DIGITS`]..=[`MAX_DIGITS`]. `None` when the prefix
    /// does not contain a whole assigned country code, or the plan has no length longer than it.
    /// Returns the country code too, for messages. Tools call this, never the state machine.
    pub fn plan(prefix: Prefix) -> Option<(u16, Self)> {
        let digits = prefix.to_string();
        let digits = &digits[1..];
        (1..=3.min(digits.len())).find_map(|n| {
            let code: u16 = digits[..n].parse().ok()?;
            let regions = DATABASE.by_code(&code)?;
            let mut bits = 0u16;
            for meta in regions {
                for national in national_lengths(meta) {
                    let total = usize::from(national) + n;
                    if total > usize::from(prefix.len()) && total <= usize::from(MAX_DIGITS) {
                        bits |= 1 << total;
                    }
                }
            }
            Some((code, Self::from_bits(bits & MASK)?))
        })
    }
}

/// A region's possible national significant number lengths: its general descriptor's, or, where
/// the metadata leaves that empty, the union libphonenumber's build makes it from (the number
/// types a subscriber can have: fixed line, mobile, toll free, premium rate, shared cost,
/// personal, VoIP, pager, UAN, voicemail; not short codes or emergency numbers).
fn national_lengths(meta: &phonenumber::metadata::Metadata) -> Vec<u16> {
    let d = meta.descriptors();
    let general = d.general().possible_length();
    if !general.is_empty() {
        return general.to_vec();
    }
    let kinds = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    let mut lengths: Vec<u16> =
        kinds.into_iter().flatten().flat_map(|k| k.possible_length().iter().copied()).collect();
    lengths.sort_unstable();
    lengths.dedup();
    lengths
}

impl fmt::Display for Lengths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut lengths = self.iter().peekable();
        while let Some(lo) = lengths.next() {
            let mut hi = lo;
            while lengths.peek() == Some(&(hi + 1)) {
                hi = lengths.next().expect("peeked");
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if hi == lo { write!(f, "{lo}")? } else { write!(f, "{lo}-{hi}")? }
        }
        Ok(())
    }
}

impl fmt::Debug for Lengths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Lengths {
    type Err = LengthsError;
    /// A comma-separated list of lengths and ranges `lo-hi` (spaces around items allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| LengthsError { input: s.to_owned(), reason };
        let length = |t: &str| -> Result<u8, LengthsError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("each item must be a number of digits or a range lo-hi"));
            }
            let n: u32 = t.parse().map_err(|_| bad("a length is too large"))?;
            if !(u32::from(MIN_DIGITS)..=u32::from(MAX_DIGITS)).contains(&n) {
                return Err(bad("a length is outside 7 to 15"));
            }
            Ok(n as u8)
        };
        if s.trim().is_empty() {
            return Err(bad("no lengths given"));
        }
        let mut bits = 0u16;
        for item in s.split(',') {
            let (lo, hi) = match item.split_once('-') {
                Some((lo, hi)) => (length(lo)?, length(hi)?),
                None => {
                    let n = length(item)?;
                    (n, n)
                }
            };
            if lo > hi {
                return Err(bad("a range must not run backwards"));
            }
            bits |= Self::between(lo, hi).expect("within bounds").0;
        }
        Ok(Self(bits))
    }
}

impl Write for Lengths {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Lengths {
    const SIZE: usize = u16::SIZE;
}

impl Read for Lengths {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Self::from_bits(u16::read(buf)?)
            .ok_or(CodecError::Invalid("Lengths", "empty, or a length outside 7 to 15"))
    }
}

crate::serde_via_str!(Lengths);

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};
    use proptest::prelude::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn text_reads_lists_and_ranges_and_prints_runs() {
        for (text, shown) in
            [("11-12", "11-12"), ("12,10", "10,12"), ("7-9, 11", "7-9,11"), ("15", "15"), ("7-15", "7-15")]
        {
            let l: Lengths = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(l.to_string(), shown);
            assert_eq!(Lengths::decode(l.encode()).unwrap(), l);
        }
        for bad in ["", " ", "6", "16", "12-11", "a", "10,,12", "10-", "-10", "1e1", "99999999999"] {
            let e = bad.parse::<Lengths>().unwrap_err();
            assert!(e.to_string().contains("11-12 or 10,12"), "{e}");
        }
        assert!(Lengths::decode(0u16.encode()).is_err(), "empty");
        assert!(Lengths::decode((1u16 << 6).encode()).is_err(), "6 digits");
        assert!(Lengths::decode((1u16 << 0).encode()).is_err());
    }

    #[test]
    fn sets_answer_membership_and_longer() {
        let l: Lengths = "10,12".parse().unwrap();
        assert!(l.contains(10) && l.contains(12) && !l.contains(11) && !l.contains(16));
        assert!(l.any_longer_than(11) && l.any_longer_than(10) && !l.any_longer_than(12));
        assert!(!l.any_longer_than(15) && !l.any_longer_than(200));
        assert_eq!((l.min(), l.max()), (10, 12));
        assert!(l.is_subset(Lengths::any_for(p("+4915"))));
        assert_eq!(Lengths::any_for(p("+4915")).to_string(), "7-15");
        assert_eq!(Lengths::any_for(p("+4930123456")).to_string(), "11-15");
        assert_eq!(Lengths::any_for(p("+491234567890123")).to_string(), "15", "a range of one number");
    }

    #[test]
    fn the_plan_gives_each_country_codes_lengths() {
        // DE: national significant numbers of 4 to 15 digits (libphonenumber's general
        // descriptor), so 6 to 17 with the code: 7 to 15 in E.164
        let (code, de) = Lengths::plan(p("+4915")).unwrap();
        assert_eq!((code, de.to_string().as_str()), (49, "7-15"));
        // NANP: ten national digits, and the union over the regions sharing +1 has seven too
        // (the metadata lists 7-digit local numbers for some of them)
        assert_eq!(Lengths::plan(p("+1202")).unwrap().1.to_string(), "8,11");
        // UK +44: 7, 9 or 10 national digits
        let uk = Lengths::plan(p("+44")).unwrap().1;
        assert!(uk.contains(12) && !uk.contains(14), "{uk}");
        // only lengths longer than the prefix
        let long = Lengths::plan(p("+120255512")).unwrap().1;
        assert_eq!(long.to_string(), "11", "only lengths longer than the prefix");
        assert_eq!(Lengths::plan(p("+12025551234")), None, "nothing longer than the prefix");
        assert_eq!(Lengths::plan(p("+4")), None, "no whole country code");
        assert_eq!(Lengths::plan(p("+999")), None, "unassigned");
    }

    proptest! {
        #[test]
        fn text_and_bits_round_trip(bits in 1u16..=u16::MAX) {
            if let Some(l) = Lengths::from_bits(bits & MASK) {
                prop_assert_eq!(l.to_string().parse::<Lengths>().unwrap(), l);
                prop_assert_eq!(Lengths::decode(l.encode()).unwrap(), l);
                prop_assert_eq!(Lengths::from_lengths(l.iter()), Some(l));
                for d in 0..=16u8 {
                    prop_assert_eq!(l.any_longer_than(d), l.iter().any(|n| n > d));
                }
            }
        }
    }
}
