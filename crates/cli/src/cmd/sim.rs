//! `npchain sim`: the fault campaign on the deterministic simulation (`npchain_sim::campaign`),
//! and simulations over a live devnet (`npchain_cli::bench::sms`).

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
    /// The fault campaign: seeds of the deterministic whole-network simulation, each with its
    /// own crashes (also inside a commit), partitions, lossy and slow links, a conflicting or
    /// equivocating validator, garbage gossip or validator-set changes. Prints each seed and
    /// the sums; exits non-zero if any seed diverged, lost a transaction, stalled or went an
    /// epoch without finality.
    Faults {
        /// How many seeds.
        #[arg(long, default_value_t = 36)]
        seeds: u64,
        /// The first seed; `--from S --seeds 1` replays seed S.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Runs only the seeds of the range whose scenario (seed % 7) is this one.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(
            npchain_sim::campaign::Scenario::ALL.map(|s| s.name())))]
        only: Option<String>,
        /// Simulations run at once (each is single-threaded); default: the machine's cores.
        #[arg(long)]
        jobs: Option<usize>,
        /// Also write the reports as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Finality and throughput with the validators spread over a continent: links of 10-40 ms
    /// one way (per direction), jitter and loss, under a steady load, in the simulator's
    /// virtual time (the network's share of finality; CPU time is not counted).
    Latency {
        /// Validator counts to run, one run each (comma separated).
        #[arg(long, value_delimiter = ',', default_value = "4,5,6,7",
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10))]
        validators: Vec<usize>,
        /// Virtual seconds of load per run.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Transactions offered a second.
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// One-way link latency range in ms, drawn per direction of each pair.
        #[arg(long, default_value = "10-40", value_parser = parse_range)]
        latency: (u64, u64),
        /// Standard deviation of each message's delay, in ms.
        #[arg(long, default_value_t = 5)]
        jitter: u64,
        /// Messages lost per thousand on every link.
        #[arg(long, default_value_t = 10)]
        loss_permille: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write the figures as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
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

impl Args {
    /// Whether this is the fault campaign, whose simulated nodes do not log by default.
    pub fn is_campaign(&self) -> bool {
        matches!(self.what, Simulation::Faults { .. } | Simulation::Latency { .. })
    }
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let (ports, sms_per_day, window_hours, sync, seed, smoke, out, data, port_base) = match args.what {
        Simulation::Faults { seeds, from, only, jobs, json } => {
            let seeds = (from..from + seeds)
                .filter(|s| {
                    only.as_ref().is_none_or(|o| npchain_sim::campaign::Scenario::of_seed(*s).name() == o)
                })
                .collect();
            return faults(seeds, jobs, json);
        }
        Simulation::Latency { validators, seconds, rate, latency, jitter, loss_permille, seed, json } => {
            let setups = validators.into_iter().map(|validators| npchain_sim::latency::Setup {
                validators,
                seconds,
                rate,
                seed,
                latency_ms: latency,
                jitter_ms: jitter,
                loss_permille,
            });
            return self::latency(setups.collect(), json);
        }
        Simulation::Sms { ports, sms_per_day, window_hours, sync, seed, smoke, out, data, port_base } => {
            (ports, sms_per_day, window_hours, sync, seed, smoke, out, data, port_base)
        }
    };
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

/// `A-B` (ms), low first.
fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{text:?} is no range: write LOW-HIGH in ms, e.g. 10-40");
    let (low, high) = text.split_once('-').ok_or_else(bad)?;
    let (low, high): (u64, u64) =
        (low.trim().parse().map_err(|_| bad())?, high.trim().parse().map_err(|_| bad())?);
    if low > high || high > 10_000 {
        return Err(format!("{text:?}: the low end must not exceed the high end, at most 10000 ms"));
    }
    Ok((low, high))
}

fn latency(setups: Vec<npchain_sim::latency::Setup>, json: Option<PathBuf>) -> Result<ExitCode, CliError> {
    println!("validators  offered/s  committed/s  p50 ms  p99 ms  max ms  block ms  agreement");
    let mut docs = Vec::new();
    let mut agreed = true;
    for setup in &setups {
        let f = npchain_sim::latency::run(setup);
        let holds = f.agreement.holds() && f.committed == f.submitted;
        agreed &= holds;
        println!(
            "{:>10}  {:>9}  {:>11.0}  {:>6}  {:>6}  {:>6}  {:>8}  {}",
            setup.validators,
            setup.rate,
            f.throughput,
            f.p50_ms,
            f.p99_ms,
            f.max_ms,
            f.block_interval_ms,
            if holds { "holds".to_string() } else { format!("FAILED: {:?}", f.agreement) },
        );
        docs.push(serde_json::json!({
            "validators": setup.validators, "seconds": setup.seconds, "rate": setup.rate,
            "seed": setup.seed, "latency_ms": [setup.latency_ms.0, setup.latency_ms.1],
            "jitter_ms": setup.jitter_ms, "loss_permille": setup.loss_permille,
            "submitted": f.submitted, "committed": f.committed, "throughput": f.throughput,
            "p50_ms": f.p50_ms, "p99_ms": f.p99_ms, "max_ms": f.max_ms,
            "blocks": f.blocks, "block_interval_ms": f.block_interval_ms, "agreement_holds": holds,
        }));
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&docs).expect("JSON of plain values");
        std::fs::write(&path, text + "\n")
            .map_err(|source| CliError::File { path: path.display().to_string(), source })?;
    }
    Ok(if agreed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn faults(seeds: Vec<u64>, jobs: Option<usize>, json: Option<PathBuf>) -> Result<ExitCode, CliError> {
    use npchain_sim::campaign;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (count, first) = (seeds.len(), seeds.first().copied().unwrap_or_default());
    eprintln!("fault campaign: {count} seeds from {first} on {jobs} threads");
    // A stall or failed check panics inside the simulation and is reported per seed; the
    // default hook would print each panic a second time, with a backtrace hint.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = std::time::Instant::now();
    let mut reports = Vec::new();
    let summary = campaign::run(seeds, jobs, |report| {
        println!("{}", report.line());
        reports.push(report.clone());
    });
    std::panic::set_hook(hook);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} seeds in {seconds:.0} s: {} failed, {} heights checked, {} divergent, {} lost, {} duplicated, \
         {} unfinished, {} of {} epochs without finality",
        summary.seeds,
        summary.failed.len(),
        summary.heights,
        summary.divergent,
        summary.lost,
        summary.duplicated,
        summary.unfinished,
        summary.epochs_without_finality,
        summary.epochs_checked,
    );
    if !summary.failed.is_empty() {
        let failed: Vec<String> = summary.failed.iter().map(u64::to_string).collect();
        println!("failed seeds: {} (replay one with --from SEED --seeds 1)", failed.join(" "));
    }
    if let Some(path) = json {
        reports.sort_by_key(|r| r.seed);
        let seeds: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| {
                let mut v = serde_json::json!({
                    "seed": r.seed,
                    "scenario": r.scenario.name(),
                    "failure": r.failure(),
                });
                if let Ok(a) = &r.outcome {
                    v["heights"] = a.heights.into();
                    v["divergent"] = a.divergent.into();
                    v["lost"] = a.lost.into();
                    v["duplicated"] = a.duplicated.into();
                    v["epochs"] = serde_json::json!(a.epochs);
                }
                v
            })
            .collect();
        let doc = serde_json::json!({
            "seeds": summary.seeds,
            "seconds": seconds,
            "failed": summary.failed,
            "heights": summary.heights,
            "divergent": summary.divergent,
            "lost": summary.lost,
            "duplicated": summary.duplicated,
            "unfinished": summary.unfinished,
            "epochs_checked": summary.epochs_checked,
            "epochs_without_finality": summary.epochs_without_finality,
            "reports": seeds,
        });
        let text = serde_json::to_string_pretty(&doc).expect("JSON of plain values");
        std::fs::write(&path, text + "\n")
            .map_err(|source| CliError::File { path: path.display().to_string(), source })?;
    }
    Ok(if summary.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
