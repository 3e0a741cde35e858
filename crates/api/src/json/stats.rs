//! The statistics shapes (`GET /v1/stats`).

use serde::{Deserialize, Serialize};

/// `GET /v1/stats`: porting statistics of finalized blocks over a range of UTC days, by day or
/// by month, for every order or for one operator's (as donor or recipient).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// The height the statistics include every block up to.
    pub height: u64,
    /// First day, `YYYY-MM-DD` (UTC), inclusive.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// `day` or `month`.
    pub period: String,
    /// The operator whose orders are counted, or `None` for all.
    pub operator: Option<String>,
    /// One row per period in the range, oldest first, periods without orders included.
    pub rows: Vec<StatsRow>,
    /// The whole range.
    pub total: StatsCounts,
    /// Per donor and recipient over the whole range, in id order.
    pub pairs: Vec<StatsPair>,
}

/// One period's counts: the day `YYYY-MM-DD` or the month `YYYY-MM`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsRow {
    pub period: String,
    #[serde(flatten)]
    pub counts: StatsCounts,
}

/// What happened to orders in a period. Each step counts in the period of the block it
/// happened in (an order requested in one month and activated in the next counts in both).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsCounts {
    /// Orders opened.
    pub requested: u64,
    /// Orders the donor released by answering (deemed releases apart).
    #[serde(default)]
    pub released: u64,
    /// Orders activated.
    pub completed: u64,
    /// Rejected orders by reason code (`donor-silent`: deemed by the donor's silence); only
    /// reasons that occurred.
    pub rejected: std::collections::BTreeMap<String, u64>,
    pub rejected_total: u64,
    pub cancelled: u64,
    pub expired: u64,
    /// Orders released by the donor's silence (the policy's silence rule at its deadline).
    pub deemed_released: u64,
    /// Orders rejected by the donor's silence (also in `rejected` as `donor-silent`).
    pub deemed_rejected: u64,
    /// Numbers in the orders activated.
    pub numbers_ported: u64,
    /// Request to activation of the orders activated.
    pub activation_ms: Durations,
}

/// A distribution of durations in milliseconds: median and 95th percentile (nearest rank),
/// each within 1 % of an exact order statistic (log-spaced buckets); `None` without samples.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Durations {
    pub count: u64,
    pub median: Option<u64>,
    pub p95: Option<u64>,
}

/// Orders between one donor and one recipient over the whole range.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsPair {
    pub donor: String,
    pub recipient: String,
    pub requested: u64,
    pub completed: u64,
    #[serde(default)]
    pub rejected_total: u64,
    #[serde(default)]
    pub cancelled: u64,
    #[serde(default)]
    pub expired: u64,
    #[serde(default)]
    pub numbers_ported: u64,
}
