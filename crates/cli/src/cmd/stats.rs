//! `npchain stats`: the porting statistics a node keeps (`GET /v1/stats`), as a table: one row
//! per day or month, the total, the rejections by reason and the donor → recipient pairs; or
//! the node's JSON with `--json`. The dates, the period and the range are checked here first,
//! as the node checks them, so a mistake is refused before anything is asked.

use super::DEFAULT_NODE;
use crate::error::CliError;
use npchain_api::json::{Stats, StatsCounts};
use npchain_client::{Client, human};
use npchain_core::{OperatorId, types::UtcDay};
use npchain_node::stats::{Period, StatsQuery};
use std::{fmt::Write as _, process::ExitCode, time::Duration};

#[derive(clap::Args)]
pub struct Args {
    /// First day, YYYY-MM-DD (UTC), inclusive.
    #[arg(long)]
    from: String,
    /// Last day, YYYY-MM-DD (UTC), inclusive; at most 3,660 days after --from.
    #[arg(long)]
    to: String,
    /// One row per `day` or per `month`.
    #[arg(long, default_value = "day")]
    period: String,
    /// Only the orders this operator is donor or recipient of.
    #[arg(long)]
    operator: Option<String>,
    /// Node API URLs, tried in order until one answers.
    #[arg(long = "node", default_value = DEFAULT_NODE)]
    nodes: Vec<String>,
    /// Print the node's JSON answer.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let day = |option, raw: &str| raw.parse::<UtcDay>().map_err(|source| CliError::Date { option, source });
    let (from, to) = (day("from", &args.from)?, day("to", &args.to)?);
    let period: Period = args.period.parse()?;
    let operator =
        args.operator.as_deref().map(str::parse::<OperatorId>).transpose().map_err(CliError::Operator)?;
    StatsQuery::new(from, to, period, operator.clone())?;
    let (from, to) = (from.to_string(), to.to_string());
    let mut filters = vec![("from", from.as_str()), ("to", to.as_str()), ("period", period.as_str())];
    if let Some(op) = &operator {
        filters.push(("operator", op.as_str()));
    }
    let stats = Client::new(args.nodes).stats(&filters)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats).unwrap_or_default());
    } else {
        print!("{}", table(&stats));
    }
    Ok(ExitCode::SUCCESS)
}

const HEAD: [&str; 12] = [
    "period",
    "requested",
    "released",
    "deemed rel",
    "rejected",
    "deemed rej",
    "cancelled",
    "expired",
    "completed",
    "numbers",
    "median",
    "p95",
];

fn duration(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| human(Duration::from_millis(ms)))
}

fn cells(period: &str, c: &StatsCounts) -> [String; 12] {
    [
        period.to_owned(),
        c.requested.to_string(),
        c.released.to_string(),
        c.deemed_released.to_string(),
        c.rejected_total.to_string(),
        c.deemed_rejected.to_string(),
        c.cancelled.to_string(),
        c.expired.to_string(),
        c.completed.to_string(),
        c.numbers_ported.to_string(),
        duration(c.activation_ms.median),
        duration(c.activation_ms.p95),
    ]
}

/// Columns padded to their widest cell, the first left-aligned, the others right-aligned.
fn aligned(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
}

/// The answer as a person reads it.
pub fn table(s: &Stats) -> String {
    let mut out = String::new();
    let whose = s.operator.as_deref().map_or_else(|| "all operators".to_owned(), |o| format!("operator {o}"));
    let _ = writeln!(
        out,
        "porting statistics {} to {} by {}, {whose}, at height {}",
        s.from, s.to, s.period, s.height
    );
    let _ = writeln!(out);
    let mut rows = vec![HEAD.map(str::to_owned).to_vec()];
    rows.extend(s.rows.iter().map(|r| cells(&r.period, &r.counts).to_vec()));
    rows.push(cells("total", &s.total).to_vec());
    aligned(&mut out, &rows);
    let _ = writeln!(out);
    if s.total.rejected.is_empty() {
        let _ = writeln!(out, "rejections by reason: none");
    } else {
        let _ = writeln!(out, "rejections by reason:");
        let reasons: Vec<Vec<String>> =
            s.total.rejected.iter().map(|(r, n)| vec![format!("  {r}"), n.to_string()]).collect();
        aligned(&mut out, &reasons);
    }
    let _ = writeln!(out);
    if s.pairs.is_empty() {
        let _ = writeln!(out, "donor -> recipient: none");
        return out;
    }
    let mut pairs = vec![
        ["donor -> recipient", "requested", "completed", "rejected", "cancelled", "expired", "numbers"]
            .map(str::to_owned)
            .to_vec(),
    ];
    pairs.extend(s.pairs.iter().map(|p| {
        vec![
            format!("{} -> {}", p.donor, p.recipient),
            p.requested.to_string(),
            p.completed.to_string(),
            p.rejected_total.to_string(),
            p.cancelled.to_string(),
            p.expired.to_string(),
            p.numbers_ported.to_string(),
        ]
    }));
    aligned(&mut out, &pairs);
    out
}
