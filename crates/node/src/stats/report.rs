//! A statistics query ([`StatsQuery`]: a range of UTC days, a period, maybe an operator) and
//! its answer: the cells of the range summed into one row per period, a total and the pairs
//! ([`summarise`], into [`npchain_api::json::Stats`]).

use super::{Cell, CellKey, REJECT_SLOTS, reject_code};
use npchain_api::json::{Durations, Stats, StatsCounts, StatsPair, StatsRow};
use npchain_core::{OperatorId, types::UtcDay};
use std::{collections::BTreeMap, fmt, str::FromStr};

/// The longest range a query may ask for, in days (ten years and some).
pub const MAX_DAYS: u64 = 3_660;

/// What one row of an answer covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// The row a day belongs to: its first day (the day itself, or its month's first).
    fn row_of(self, day: UtcDay) -> UtcDay {
        match self {
            Self::Day => day,
            Self::Month => day.month_start(),
        }
    }

    fn label(self, first: UtcDay) -> String {
        match self {
            Self::Day => first.to_string(),
            Self::Month => first.month_label(),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A period that is neither `day` nor `month`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("period {0:?} is not day or month")]
pub struct UnknownPeriod(pub String);

impl FromStr for Period {
    type Err = UnknownPeriod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            _ => Err(UnknownPeriod(s.to_owned())),
        }
    }
}

/// The statistics asked for: the days `from..=to`, by `period`, of every order or of the
/// orders `operator` is donor or recipient of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    from: UtcDay,
    to: UtcDay,
    pub period: Period,
    pub operator: Option<OperatorId>,
}

/// A range of days a query may not ask for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsQueryError {
    #[error("from {from} is after to {to}")]
    Reversed { from: UtcDay, to: UtcDay },
    #[error("from {from} to {to} is {days} days; a query covers at most {MAX_DAYS}")]
    TooLong { from: UtcDay, to: UtcDay, days: u64 },
}

impl StatsQuery {
    pub fn new(
        from: UtcDay,
        to: UtcDay,
        period: Period,
        operator: Option<OperatorId>,
    ) -> Result<Self, StatsQueryError> {
        if from > to {
            return Err(StatsQueryError::Reversed { from, to });
        }
        let days = to.0 - from.0 + 1;
        if days > MAX_DAYS {
            return Err(StatsQueryError::TooLong { from, to, days });
        }
        Ok(Self { from, to, period, operator })
    }

    pub fn from(&self) -> UtcDay {
        self.from
    }

    pub fn to(&self) -> UtcDay {
        self.to
    }

    fn counts(&self, key: &CellKey) -> bool {
        self.operator.as_ref().is_none_or(|op| key.donor == *op || key.recipient == *op)
    }
}

/// The answer to `query` from the cells of its range (any order), counted through `height`.
pub fn summarise(query: &StatsQuery, height: u64, cells: &[(CellKey, Cell)]) -> Stats {
    // every period of the range has a row, empty or not
    let mut rows: BTreeMap<UtcDay, Cell> = BTreeMap::new();
    let mut day = query.from;
    while day <= query.to {
        rows.insert(query.period.row_of(day), Cell::default());
        day = UtcDay(day.0 + 1);
    }
    let mut total = Cell::default();
    let mut pairs: BTreeMap<(&OperatorId, &OperatorId), Cell> = BTreeMap::new();
    for (key, cell) in cells {
        if key.day < query.from || key.day > query.to || !query.counts(key) {
            continue;
        }
        rows.entry(query.period.row_of(key.day)).or_default().merge(cell);
        total.merge(cell);
        pairs.entry((&key.donor, &key.recipient)).or_default().merge(cell);
    }
    Stats {
        height,
        from: query.from.to_string(),
        to: query.to.to_string(),
        period: query.period.to_string(),
        operator: query.operator.as_ref().map(|o| o.as_str().to_owned()),
        rows: rows
            .into_iter()
            .map(|(first, cell)| StatsRow { period: query.period.label(first), counts: counts(&cell) })
            .collect(),
        total: counts(&total),
        pairs: pairs
            .into_iter()
            .map(|((donor, recipient), c)| StatsPair {
                donor: donor.as_str().to_owned(),
                recipient: recipient.as_str().to_owned(),
                requested: c.requested,
                completed: c.completed,
                rejected_total: c.rejected.iter().sum(),
                cancelled: c.cancelled,
                expired: c.expired,
                numbers_ported: c.numbers_ported,
            })
            .collect(),
    }
}

/// A cell as the API shows it.
fn counts(cell: &Cell) -> StatsCounts {
    let rejected = (0..REJECT_SLOTS)
        .filter(|s| cell.rejected[*s] > 0)
        .map(|s| (reject_code(s).to_owned(), cell.rejected[s]))
        .collect();
    StatsCounts {
        requested: cell.requested,
        released: cell.released,
        completed: cell.completed,
        rejected,
        rejected_total: cell.rejected.iter().sum(),
        cancelled: cell.cancelled,
        expired: cell.expired,
        deemed_released: cell.deemed_released,
        deemed_rejected: cell.rejected[REJECT_SLOTS - 1],
        numbers_ported: cell.numbers_ported,
        activation_ms: Durations {
            count: cell.activation.count(),
            median: cell.activation.percentile(50),
            p95: cell.activation.percentile(95),
        },
    }
}
