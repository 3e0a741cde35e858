//! `npchain sim`: simulations over a live devnet (`npchain_cli::bench::sms`).

use crate::error::CliError;
use clap::Subcommand;
use npchain_cli::bench;
use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: Simulation,
}

#[derive(Subcommand)]
pub enum Simulation {
    /// Short messages to recently ported numbers: npchain vs a central database with
    /// periodically synchronised operator copies.
    Sms {
        /// Ports run on the devnet; default 200 (smoke 10).
        #[arg(long)]
        ports: Option<usize>,
        /// Messages a day to each ported number.
        #[arg(long, default_value_t = 20.0)]
        sms_per_day: f64,
        /// How long after its port a number counts as recently ported, in hours.
        #[arg(long, default_value_t = 48.0)]
        window_hours: f64,
        /// Synchronisation periods of the central copies, in seconds (comma separated).
        #[arg(long, value_delimiter = ',', default_value = "900,86400")]
        sync: Vec<f64>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        smoke: bool,
        #[arg(long, default_value = "bench-results")]
        out: PathBuf,
        #[arg(long, default_value = "bench-data")]
        data: PathBuf,
        #[arg(long, default_value_t = 18400)]
        port_base: u16,
    },
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let Simulation::Sms { ports, sms_per_day, window_hours, sync, seed, smoke, out, data, port_base } =
        args.what;
    let params = bench::sms::SmsParams {
        ports: ports.unwrap_or(if smoke { 10 } else { 200 }),
        sms_per_day,
        window_hours,
        sync_periods_s: sync,
        seed,
    };
    let env = bench::Env { data, port_base, validators: 4, cache_mib: None, blocks_per_epoch: None };
    bench::repeat("sim-sms", params.to_json(), 1, &out, &|| bench::sms::run(&env, &params))?;
    Ok(ExitCode::SUCCESS)
}
