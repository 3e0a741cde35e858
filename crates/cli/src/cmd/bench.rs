//! `npchain bench`: the measurements on devnets of this machine (`npchain_cli::bench`), each
//! scenario repeated and its medians written as JSON.

use crate::error::CliError;
use clap::Subcommand;
use npchain_cli::bench;
use serde_json::json;
use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct Args {
    /// Small sizes and one run: checks that the measurement works, measures little.
    #[arg(long, global = true)]
    smoke: bool,
    /// Runs of each scenario (a fresh devnet each); the figures are their medians.
    #[arg(long, default_value_t = 3, global = true)]
    runs: usize,
    /// Directory for the JSON results.
    #[arg(long, default_value = "bench-results", global = true)]
    out: PathBuf,
    /// Directory for the devnets the scenarios make (deleted and made again).
    #[arg(long, default_value = "bench-data", global = true)]
    data: PathBuf,
    /// Node i serves HTTP on this port + i, DNS on +100 + i, p2p on +200 + i.
    #[arg(long, default_value_t = 18400, global = true)]
    port_base: u16,
    #[arg(long, default_value_t = 4, global = true)]
    validators: usize,
    /// Each node's ledger page cache (redb), in MiB; the node's default if not given.
    #[arg(long, global = true)]
    cache_mib: Option<usize>,
    /// Blocks per epoch of the devnets (the devnet's default if not given; `epochs` uses 10):
    /// small epochs put many epoch changes into a run.
    #[arg(long, global = true)]
    blocks_per_epoch: Option<std::num::NonZeroU64>,
    #[command(subcommand)]
    what: Scenario,
}

#[derive(Subcommand, Clone)]
pub enum Scenario {
    /// Signed port transactions (bind, request, release, activate) as fast as they commit.
    Throughput {
        /// Ports (4 transactions each); default 10,000 (smoke 200).
        #[arg(long)]
        ports: Option<usize>,
        /// Offer this many transactions/s instead of as many as commit (commit latency at a
        /// load below saturation).
        #[arg(long)]
        rate: Option<f64>,
        /// Without `--rate`: at most this many transactions submitted and not yet committed
        /// (default 8,000). A proposer can only fill its blocks from what is waiting.
        #[arg(long)]
        window: Option<usize>,
    },
    /// Single-number port requests at a steady rate while a group port of 100,000 numbers
    /// (requests, releases, activations) is in flight: the small ports' commit latency.
    Burst {
        /// Numbers of the group port; default 100,000 (smoke 2,000).
        #[arg(long)]
        numbers: Option<usize>,
        /// Single-number requests/s offered meanwhile; default 500.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
    },
    /// Activation submitted → changed ENUM answer on every node.
    Propagation {
        /// Activations measured one by one; default 100 (smoke 5).
        #[arg(long)]
        ports: Option<usize>,
    },
    /// 100,000 numbers re-routed: a routing-number change, and a group port.
    Mass {
        /// Default 100,000 (smoke 2,000).
        #[arg(long)]
        numbers: Option<usize>,
    },
    /// Genesis migration of N ported numbers: load time, memory, lookups.
    Scale {
        /// Sizes, comma separated; default 1000000,10000000 (smoke 20000).
        #[arg(long, value_delimiter = ',')]
        numbers: Vec<usize>,
    },
    /// The verified export of a devnet with N migrated numbers: export and verify rates.
    Export {
        /// Default 10,000,000 (smoke 20,000).
        #[arg(long)]
        numbers: Option<usize>,
    },
    /// The regulator's bulk import after genesis of N numbers (`regulator import` on a
    /// devnet): check, signed batches through the batch API, commit; and a re-run.
    Import {
        /// Default 1,000,000 (smoke 20,000).
        #[arg(long)]
        numbers: Option<usize>,
    },
    /// A validator down while N transactions commit, then restarted.
    Catchup {
        /// Default 100,000 (smoke 1,000).
        #[arg(long)]
        txs: Option<usize>,
    },
    /// Epoch changes under load: five validators, 20-block epochs, the fifth retired during
    /// the load (the block gap at each boundary, and the commit rate around the set change).
    Epochs {
        /// Ports bound during the run; default 30,000 (smoke 2,000).
        #[arg(long)]
        ports: Option<usize>,
    },
    /// Porting traffic, ENUM queries and event streams at once for N minutes; every node's
    /// memory and open descriptors over time, and whether either grows without bound.
    Soak {
        /// Default 20 (smoke 0.2).
        #[arg(long)]
        minutes: Option<f64>,
        /// Ports started each second (4 transactions each); default 5 (smoke 2); 0 for none.
        #[arg(long)]
        ports_per_s: Option<usize>,
        /// ENUM queries a second to each node; default 100 (smoke 20); 0 for none.
        #[arg(long)]
        enum_per_s: Option<u32>,
        /// Event streams held open on each node; default 4 (smoke 2).
        #[arg(long)]
        held_streams: Option<usize>,
        /// Event streams opened and closed over and over on each node; default 2 (smoke 1).
        #[arg(long)]
        churned_streams: Option<usize>,
    },
    /// Slow clients, floods and garbage at every port of a devnet node; what came back, its
    /// memory and descriptors before and after, and that it still serves and commits.
    Probe,
    /// kill -9 of a validator under steady load, N times: no committed transaction lost, every
    /// node the same afterwards (always one run).
    Kill {
        /// Default 100 (smoke 3).
        #[arg(long)]
        kills: Option<usize>,
        /// Picks the victims and the moments.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// The porting statistics at N finished orders: the block log written with their events,
    /// then `GET /v1/stats`'s queries timed (a month by day, a year by month, one operator, the
    /// longest range); the statistics' bytes and the memory. No devnet.
    Stats {
        /// Finished orders; default 1,000,000 (smoke 20,000).
        #[arg(long)]
        orders: Option<usize>,
        /// Operators (every pair of them trades); default 10.
        #[arg(long, default_value_t = 10)]
        operators: usize,
        /// Days the requests are spread over (a block every 10 minutes); default 365 (smoke 7).
        #[arg(long)]
        days: Option<u64>,
    },
    /// Every scenario at its default size.
    All,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let env = bench::Env {
        data: args.data.clone(),
        port_base: args.port_base,
        validators: args.validators,
        cache_mib: args.cache_mib,
        blocks_per_epoch: args.blocks_per_epoch,
    };
    let runs = if args.smoke { 1 } else { args.runs };
    let pick = |given: Option<usize>, full: usize, smoke: usize| {
        given.unwrap_or(if args.smoke { smoke } else { full })
    };
    let what = match args.what {
        Scenario::All => vec![
            Scenario::Throughput { ports: None, rate: None, window: None },
            Scenario::Burst { numbers: None, rate: 500.0 },
            Scenario::Propagation { ports: None },
            Scenario::Mass { numbers: None },
            Scenario::Scale { numbers: Vec::new() },
            Scenario::Export { numbers: None },
            Scenario::Import { numbers: None },
            Scenario::Catchup { txs: None },
            Scenario::Epochs { ports: None },
            Scenario::Soak {
                minutes: None,
                ports_per_s: None,
                enum_per_s: None,
                held_streams: None,
                churned_streams: None,
            },
            Scenario::Probe,
            Scenario::Kill { kills: None, seed: 1 },
            Scenario::Stats { orders: None, operators: 10, days: None },
        ],
        one => vec![one],
    };
    let repeat = |name: &str,
                  params: serde_json::Value,
                  scenario: &dyn Fn() -> Result<bench::Figures, bench::BenchError>| {
        bench::repeat(name, params, runs, &args.out, scenario).map(|_| ())
    };
    let validators = env.validators;
    for scenario in what {
        match scenario {
            Scenario::Throughput { ports, rate, window } => {
                let n = pick(ports, 10_000, 200);
                let window = window.unwrap_or(bench::WINDOW);
                let params = json!({ "ports": n, "txs": 4 * n, "validators": validators, "rate": rate, "window": window });
                let name = rate.map_or_else(|| "throughput".to_owned(), |r| format!("throughput-at-{r}"));
                repeat(&name, params, &|| bench::throughput(&env, n, rate, window))?;
            }
            Scenario::Burst { numbers, rate } => {
                let n = pick(numbers, 100_000, 2_000);
                let params = json!({ "numbers": n, "rate": rate, "validators": validators });
                repeat("burst", params, &|| bench::burst::burst(&env, n, rate))?;
            }
            Scenario::Propagation { ports } => {
                let n = pick(ports, 100, 5);
                repeat("propagation", json!({ "ports": n, "validators": validators }), &|| {
                    bench::propagation(&env, n)
                })?;
            }
            Scenario::Mass { numbers } => {
                let n = pick(numbers, 100_000, 2_000);
                repeat("mass", json!({ "numbers": n, "validators": validators }), &|| bench::mass(&env, n))?;
            }
            Scenario::Scale { numbers } => {
                let sizes = if !numbers.is_empty() {
                    numbers
                } else if args.smoke {
                    vec![20_000]
                } else {
                    vec![1_000_000, 10_000_000]
                };
                let baseline = bench::empty_node_kib(&env)?;
                for n in sizes {
                    let params =
                        json!({ "numbers": n, "validators": validators, "cache_mib": env.cache_mib });
                    repeat(&format!("scale-{n}"), params, &|| bench::scale(&env, n, Some(baseline)))?;
                }
            }
            Scenario::Export { numbers } => {
                let n = pick(numbers, 10_000_000, 20_000);
                repeat(&format!("export-{n}"), json!({ "numbers": n, "validators": validators }), &|| {
                    bench::export::export(&env, n)
                })?;
            }
            Scenario::Import { numbers } => {
                let n = pick(numbers, 1_000_000, 20_000);
                let params = json!({ "numbers": n, "validators": validators, "window": 16 });
                repeat(&format!("import-{n}"), params, &|| bench::import::import(&env, n))?;
            }
            Scenario::Catchup { txs } => {
                let n = pick(txs, 100_000, 1_000);
                repeat("catchup", json!({ "txs": n, "validators": validators }), &|| {
                    bench::catchup(&env, n)
                })?;
            }
            Scenario::Epochs { ports } => {
                let n = pick(ports, 30_000, 2_000);
                let params = json!({
                    "ports": n,
                    "validators": 5,
                    "blocks_per_epoch": bench::epochs::BLOCKS_PER_EPOCH,
                });
                repeat("epochs", params, &|| bench::epochs::epochs(&env, n))?;
            }
            Scenario::Soak { minutes, ports_per_s, enum_per_s, held_streams, churned_streams } => {
                let mut params = bench::soak::SoakParams::new(
                    minutes.unwrap_or(if args.smoke { 0.2 } else { 20.0 }),
                    args.smoke,
                );
                params.ports_per_s = ports_per_s.unwrap_or(params.ports_per_s);
                params.enum_per_s_per_node = enum_per_s.unwrap_or(params.enum_per_s_per_node);
                params.held_streams_per_node = held_streams.unwrap_or(params.held_streams_per_node);
                params.churned_streams_per_node = churned_streams.unwrap_or(params.churned_streams_per_node);
                let json = json!({ "validators": validators, "cache_mib": env.cache_mib, "soak": params });
                // One long run: its figures are over time, not a median.
                bench::repeat("soak", json, 1, &args.out, &|| bench::soak::soak(&env, &params, &args.out))?;
            }
            Scenario::Probe => {
                let params = bench::probe::ProbeParams::new(args.smoke);
                let json = json!({ "validators": validators, "probe": params });
                bench::repeat("probe", json, 1, &args.out, &|| {
                    bench::probe::probe(&env, &params, &args.out)
                })?;
            }
            Scenario::Kill { kills, seed } => {
                let n = pick(kills, 100, 3);
                let params = json!({ "kills": n, "seed": seed, "validators": validators });
                bench::repeat("kill", params, 1, &args.out, &|| bench::kill::kill(&env, n, seed))?;
            }
            Scenario::Stats { orders, operators, days } => {
                let n = pick(orders, 1_000_000, 20_000);
                let days = days.unwrap_or(if args.smoke { 7 } else { 365 });
                let params = json!({ "orders": n, "operators": operators, "days": days });
                let dir = env.data.join("stats");
                repeat("stats", params, &|| bench::statistics::stats(&dir, n as u64, operators, days))?;
            }
            Scenario::All => unreachable!("expanded above"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
