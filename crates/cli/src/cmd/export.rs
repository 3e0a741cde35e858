//! `npchain export`: the routing data at a finalized height, verifiable without trusting the
//! node it came from; `npchain export verify`: the check (see `npchain_cli::export`).

use super::{DEFAULT_NODE, print_json};
use crate::error::CliError;
use npchain_cli::{
    export::{self, Counts, verify::Report},
    progress::Progress,
};
use npchain_core::Genesis;
use serde_json::json;
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    verify: Option<Sub>,
    /// Node API URLs, tried in order until one answers.
    #[arg(long = "node", default_value = DEFAULT_NODE)]
    nodes: Vec<String>,
    /// The height to export. A node keeps only its committed state: without it the export is of
    /// the node's committed height; a height ahead of it is waited for (at most 60 s); one
    /// behind it is refused.
    #[arg(long)]
    height: Option<u64>,
    /// A new (or empty) directory for the export.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Check an export against the genesis: the certificate against the validators, the state
    /// hash recomputed from state.bin, every CSV line against the entries. Exit code 1, with
    /// every fault named, if anything does not hold.
    Verify {
        /// The export directory.
        dir: PathBuf,
        /// The network's genesis: its validators (epoch 0) and epoch length are the root of trust.
        #[arg(long)]
        genesis: PathBuf,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.verify {
        Some(Sub::Verify { dir, genesis, json }) => verify(&dir, &genesis, json),
        None => {
            let out = args.out.expect("clap requires --out without a subcommand");
            run_export(&args.nodes, args.height, &out, args.json)
        }
    }
}

/// A progress line of `counts`, `verb` at the start.
fn line(verb: &str, counts: &Counts, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    format!(
        "{verb}: {} entries ({:.1} MiB, {:.0} entries/s), {} operators, {} ranges, {} ported numbers, {}",
        counts.entries,
        counts.bytes as f64 / 1_048_576.0,
        counts.entries as f64 / secs,
        counts.operators,
        counts.ranges,
        counts.ported,
        npchain_client::human(started.elapsed()),
    )
}

fn run_export(nodes: &[String], height: Option<u64>, out: &Path, json: bool) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let mut progress = Progress::stderr(Duration::from_secs(10));
    let result =
        export::fetch::export(nodes, height, out, |c| progress.update(&line("exporting", c, started)));
    progress.finish();
    let done = result?;
    let secs = started.elapsed().as_secs_f64();
    let m = &done.manifest;
    if json {
        print_json(&json!({
            "dir": done.dir.display().to_string(),
            "node": done.node,
            "manifest": m,
            "boundaries": done.boundaries,
            "seconds": secs,
        }));
    } else {
        println!(
            "exported height {} from {} into {}: {} entries, {} operators, {} ranges, {} ported numbers, state hash {} \
             (recomputed; the block carries it), {} boundary blocks, in {:.1} s",
            m.height,
            done.node,
            done.dir.display(),
            m.entries,
            m.operators,
            m.ranges,
            m.ported,
            m.state_hash,
            done.boundaries,
            secs
        );
        println!("check it: npchain export verify {} --genesis <genesis.toml>", done.dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(dir: &Path, genesis: &Path, json: bool) -> Result<ExitCode, CliError> {
    let text = std::fs::read_to_string(genesis).map_err(CliError::file(genesis))?;
    let genesis_doc = Genesis::from_toml(&text)
        .map_err(|source| CliError::Genesis { path: genesis.display().to_string(), source })?;
    let started = Instant::now();
    let mut progress = Progress::stderr(Duration::from_secs(10));
    let report =
        export::verify::verify(dir, &genesis_doc, |c| progress.update(&line("verifying", c, started)));
    progress.finish();
    let report: Report = report?;
    let c = report.counts;
    if json {
        print_json(&json!({
            "dir": dir.display().to_string(),
            "holds": report.holds(),
            "height": report.height,
            "entries": c.entries,
            "operators": c.operators,
            "ranges": c.ranges,
            "ported": c.ported,
            "faults": report.faults.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
    } else if report.holds() {
        println!(
            "{}: holds. Block {} is finalized by a quorum of its epoch's validators (from the genesis {}); \
             the {} entries of state.bin hash to its state hash; operators.csv ({}), ranges.csv ({}) and \
             ported.csv ({}) are exactly what the entries say",
            dir.display(),
            report.height.unwrap_or_default(),
            genesis.display(),
            c.entries,
            c.operators,
            c.ranges,
            c.ported
        );
    } else {
        eprint!("{report}");
        eprintln!("error: {} does not hold: {} fault(s)", dir.display(), report.faults.len());
    }
    Ok(if report.holds() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
