//! `npchain regulator import FILE.csv`: the regulator loads a legacy NPDB extract after
//! genesis (`npchain_cli::import`). Prints the refused lines (with their line numbers and
//! reasons), then what was imported; with `--json` one document instead.

use super::print_json;
use crate::error::CliError;
use npchain_cli::import::{self, ImportError, Options, Report};
use npchain_client::{Client, regulator::Regulator};
use serde_json::json;
use std::{path::PathBuf, process::ExitCode, time::Duration};

#[derive(clap::Args)]
pub struct Args {
    /// The extract: CSV with the header number,operator[,rn] (the genesis migration list's
    /// format).
    file: PathBuf,
    /// Import the accepted lines even when some lines are refused (by default nothing is
    /// signed while any line is refused).
    #[arg(long)]
    skip_refused: bool,
    /// Transactions (of up to 5,000 numbers each) submitted and not yet finalized, at most.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    window: u16,
    /// The journal of committed transactions that makes a re-run resume (default: FILE.journal).
    #[arg(long)]
    journal: Option<PathBuf>,
}

/// Refused lines printed on the console at most (`--json` lists them all).
const SHOWN_REFUSED: usize = 100;

/// Runs the import; `open` opens the regulator's key when there is something to sign.
pub fn run(
    client: &Client,
    args: &Args,
    dry_run: bool,
    json: bool,
    open: impl FnOnce() -> Result<Regulator, npchain_client::regulator::RegulatorError>,
) -> Result<ExitCode, CliError> {
    let opts = Options {
        file: args.file.clone(),
        journal: args.journal.clone(),
        skip_refused: args.skip_refused,
        check_only: dry_run,
        window: usize::from(args.window),
        plain_every: Duration::from_secs(10),
    };
    let report = match import::run(client, &opts, open) {
        Ok(report) => report,
        Err(ImportError::Refused { first_line, last_line, line, refusal, committed }) if json => {
            print_json(&json!({
                "refused_transaction": { "first_line": first_line, "last_line": last_line, "line": line,
                    "refusal": refusal },
                "committed": committed,
            }));
            return Err(ImportError::Refused { first_line, last_line, line, refusal, committed }.into());
        }
        Err(e) => return Err(e.into()),
    };
    let stopped = !report.refused.is_empty() && !args.skip_refused;
    if json {
        print_json(&document(&report, dry_run, stopped));
    } else {
        print_text(&report, dry_run, stopped);
    }
    Ok(if stopped { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn document(r: &Report, dry_run: bool, stopped: bool) -> serde_json::Value {
    let refused: Vec<_> = r
        .refused
        .iter()
        .map(|(line, fault)| json!({ "line": line, "code": fault.code(), "message": fault.to_string() }))
        .collect();
    json!({
        "lines": r.lines,
        "accepted": r.accepted,
        "refused": refused,
        "transactions": r.transactions,
        "skipped": r.skipped,
        "committed": r.committed,
        "numbers": r.numbers,
        "seconds": r.elapsed.as_secs_f64(),
        "numbers_per_second": r.rate(),
        "journal": r.journal.display().to_string(),
        "imported": !dry_run && !stopped,
    })
}

fn print_text(r: &Report, dry_run: bool, stopped: bool) {
    for (line, fault) in r.refused.iter().take(SHOWN_REFUSED) {
        println!("line {line}: refused {}: {fault}", fault.code());
    }
    if r.refused.len() > SHOWN_REFUSED {
        println!("… and {} more refused lines (--json lists them all)", r.refused.len() - SHOWN_REFUSED);
    }
    println!("{} lines read: {} accepted, {} refused", r.lines, r.accepted, r.refused.len());
    if stopped {
        println!("nothing imported: fix the refused lines, or import the others with --skip-refused");
    } else if dry_run {
        println!("dry run: {} transaction(s) would be signed; nothing signed", r.transactions);
    } else {
        println!(
            "{} transaction(s): {} committed now ({} numbers in {:.1} s, {:.0} numbers/s), {} already committed (journal {})",
            r.transactions,
            r.committed,
            r.numbers,
            r.elapsed.as_secs_f64(),
            r.rate(),
            r.skipped,
            r.journal.display()
        );
    }
}
