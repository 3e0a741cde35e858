//! [`UtcDay`]: a UTC calendar day of block time, printed and read as its ISO 8601 date
//! (`2026-11-01`), with the months it falls in (for statistics by day or by month).

use std::{fmt, str::FromStr};

use crate::types::Timestamp;

/// A UTC day of block time: days since 1970-01-01, so day `d` runs from `d × 86,400,000` ms
/// (00:00:00.000 UTC) to the millisecond before the next. Leap seconds do not exist in Unix
/// time, so every day has the same length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDay(pub u64);

/// The last year a date may name (`9999-12-31`).
pub const MAX_YEAR: u64 = 9999;

impl UtcDay {
    /// Milliseconds in a day.
    pub const MILLIS: u64 = 86_400_000;

    /// The day's first millisecond.
    pub fn start(self) -> Timestamp {
        Timestamp(self.0.saturating_mul(Self::MILLIS))
    }

    /// The day of a proleptic Gregorian date from 1970-01-01 to 9999-12-31, if it exists.
    pub fn from_date(year: u64, month: u64, day: u64) -> Option<Self> {
        if !(1970..=MAX_YEAR).contains(&year) || !(1..=12).contains(&month) || day < 1 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        // Civil date to days (H. Hinnant's algorithm), for years from 1970.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y / 400;
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Self(era * 146_097 + doe - 719_468))
    }

    /// The day's year, month (1 to 12) and day of the month (1 to 31).
    pub fn date(self) -> (u64, u64, u64) {
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
        (year, month, day)
    }

    /// The first day of the day's month.
    pub fn month_start(self) -> Self {
        let (_, _, day) = self.date();
        Self(self.0 - (day - 1))
    }

    /// The day's month as `YYYY-MM`.
    pub fn month_label(self) -> String {
        let (year, month, _) = self.date();
        format!("{year:04}-{month:02}")
    }
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day as its ISO 8601 date (proleptic Gregorian, UTC), e.g. `2026-01-01`.
impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.date();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

/// Text that is not a date `YYYY-MM-DD` from 1970-01-01 to 9999-12-31.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a date YYYY-MM-DD (UTC, 1970-01-01 to 9999-12-31): {why}")]
pub struct DateError {
    /// The text as given.
    pub input: String,
    pub why: &'static str,
}

/// Reads exactly `YYYY-MM-DD`: four, two and two ASCII digits, hyphens between.
impl FromStr for UtcDay {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |why| DateError { input: s.to_owned(), why };
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
            return Err(fail("the form is four digits, a hyphen, two digits, a hyphen, two digits"));
        }
        let number = |r: std::ops::Range<usize>| s[r].parse::<u64>().unwrap_or(u64::MAX);
        let (year, month, day) = (number(0..4), number(5..7), number(8..10));
        if !(1970..=MAX_YEAR).contains(&year) {
            return Err(fail("the year is before 1970"));
        }
        if !(1..=12).contains(&month) {
            return Err(fail("the month is not 01 to 12"));
        }
        Self::from_date(year, month, day).ok_or_else(|| fail("that month has no such day"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(date.parse::<UtcDay>(), Ok(UtcDay(day)), "{date}");
        }
    }

    #[test]
    fn every_day_reads_back_and_knows_its_month() {
        // 1970 to 2100: every printed date reads back as its day
        let mut month_start = UtcDay(0);
        for d in 0..47_847 {
            let day = UtcDay(d);
            assert_eq!(day.to_string().parse::<UtcDay>(), Ok(day));
            if day.date().2 == 1 {
                month_start = day;
            }
            assert_eq!(day.month_start(), month_start, "{day}");
        }
        assert_eq!("2026-11-30".parse::<UtcDay>().unwrap().month_label(), "2026-11");
    }

    #[test]
    fn anything_but_a_date_is_refused_quoting_it() {
        for (bad, why) in [
            ("2026-1-01", "the form"),
            ("2026/11/01", "the form"),
            ("2026-11-01T00:00", "the form"),
            ("+026-11-01", "the form"),
            ("２026-11-01", "the form"),
            ("", "the form"),
            ("1969-12-31", "before 1970"),
            ("2026-13-01", "month"),
            ("2026-00-10", "month"),
            ("2026-02-29", "no such day"),
            ("2026-04-31", "no such day"),
            ("2026-11-00", "no such day"),
        ] {
            let e = bad.parse::<UtcDay>().unwrap_err();
            assert_eq!(e.input, bad);
            let text = e.to_string();
            assert!(text.starts_with(&format!("{bad:?} is not a date")) && text.contains(why), "{text}");
        }
        assert_eq!("2024-02-29".parse::<UtcDay>().map(UtcDay::date), Ok((2024, 2, 29)));
    }
}
