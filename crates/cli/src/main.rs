//! `npchain`: one binary for operators, regulators and subscribers.

// The command line program talks to its user on stdout.
#![allow(clippy::print_stdout)]

use clap::{Parser, Subcommand};
use commonware_cryptography::Signer;
use npchain_cli::{
    bench,
    devnet::{self, Options},
};
use npchain_client::{Client, ClientError, encode};
use npchain_node::{config::NodeConfig, keys};
use serde_json::json;
use std::{path::PathBuf, process::ExitCode, sync::mpsc, time::Duration};

#[derive(Parser)]
#[command(name = "npchain", version, about = "Telephone number portability on a permissioned blockchain")]
struct Cli {
    #[command(subcommand)]
    command: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Run a local network of validator processes on loopback (the quick start).
    Devnet(DevnetArgs),
    /// Make an operator's keys: validator.key (consensus and p2p) and operator.key (signing).
    Init {
        /// Directory for the key files (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// The operator id to print in the genesis snippet.
        #[arg(long, default_value = "OPX")]
        operator: String,
    },
    /// Run one node from its configuration file.
    Node {
        #[arg(long)]
        config: PathBuf,
    },
    /// Ask a node where a number routes.
    Query {
        /// The number: +49 30 1234567, or in the network region's national (030 1234567) or
        /// international dialling form (0049…). Sent to the node exactly as typed.
        #[arg(allow_hyphen_values = true)]
        number: String,
        /// Node API URLs, tried in order until one answers.
        #[arg(long = "node", default_value = DEFAULT_NODE)]
        nodes: Vec<String>,
        /// Print the node's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Act as the node's operator: release, reject, activate, bind, return; list orders.
    Operator(OperatorArgs),
    /// The subscriber's wallet: a key, port requests, and a verified local ledger.
    Wallet(WalletArgs),
    /// Measure a devnet on this machine: throughput, mass updates, propagation, scale,
    /// catch-up. Prints the figures and writes them as JSON.
    Bench(BenchArgs),
    /// Simulations over a live devnet.
    Sim(SimArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
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
    #[command(subcommand)]
    what: BenchVerb,
}

#[derive(Subcommand, Clone)]
enum BenchVerb {
    /// Signed port transactions (bind, request, release, activate) as fast as they commit.
    Throughput {
        /// Ports (4 transactions each); default 10,000 (smoke 200).
        #[arg(long)]
        ports: Option<usize>,
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
    /// A validator down while N transactions commit, then restarted.
    Catchup {
        /// Default 100,000 (smoke 1,000).
        #[arg(long)]
        txs: Option<usize>,
    },
    /// Every scenario at its default size.
    All,
}

#[derive(clap::Args)]
struct SimArgs {
    #[command(subcommand)]
    what: SimVerb,
}

#[derive(Subcommand)]
enum SimVerb {
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

#[derive(clap::Args)]
struct WalletArgs {
    /// The wallet directory.
    #[arg(long, default_value = "wallet", global = true)]
    wallet: PathBuf,
    /// Node API URLs to use instead of the wallet's own list, tried in order.
    #[arg(long = "node", global = true)]
    nodes: Vec<String>,
    /// File holding the key's passphrase (or set NPCHAIN_PASSPHRASE).
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    /// Print the result as one JSON document, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: WalletVerb,
}

#[derive(Subcommand)]
enum WalletVerb {
    /// Make a new key, trusting the validators of GENESIS; encrypted if a passphrase is given.
    New {
        #[arg(long)]
        genesis: PathBuf,
    },
    /// The wallet's public key, its nodes, the numbers bound to it with their routes, and
    /// every order of the key or its numbers (an operator's among them), each verified into
    /// the local ledger.
    Show,
    /// Request a port of numbers bound to this key to another operator.
    Port {
        /// The number (repeat for a group port: all or none); national forms are read with the
        /// region of the wallet's genesis.
        #[arg(long = "number", required_unless_present = "group", allow_hyphen_values = true)]
        numbers: Vec<String>,
        /// A file of numbers, one per line as typed (an enterprise's group port; blank lines and
        /// a `number` header are skipped).
        #[arg(long)]
        group: Option<PathBuf>,
        /// The recipient operator.
        #[arg(long)]
        to: String,
        /// Earliest activation: +30m, +2h, +1d from now, or Unix milliseconds (default: now).
        #[arg(long)]
        due: Option<String>,
        /// Skip the node's check on the committed state: the ledger then refuses the request
        /// in its block, if at all (`follow` shows it).
        #[arg(long)]
        no_precheck: bool,
    },
    /// Follow an order until it is finished (activated, rejected, cancelled or expired),
    /// writing each committed step, verified, to the local ledger. Ctrl-C stops it (exit
    /// code 130); what is recorded stays.
    Follow {
        port: String,
        /// Give up after this many seconds [default: once the order is past its activation
        /// deadline, by when the ledger has finished it, plus 10 minutes].
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Cancel an order before activation.
    Cancel {
        port: String,
        /// Skip the node's check on the committed state (to cancel a request still in no
        /// block): the ledger then refuses the cancel in its block, if at all.
        #[arg(long)]
        no_precheck: bool,
    },
    /// Check the whole local ledger offline against the validators of the genesis.
    Verify,
}

/// Log filter unless `RUST_LOG` says otherwise. hickory logs every DNS query at info (a fifth
/// of the ENUM throughput, and the disk fills under load), and at warn per packet what anyone
/// can send (an EDNS version, a source port 0); none of its error lines can be caused from
/// outside (see `npchain_node::enum_dns`).
const DEFAULT_LOG: &str = "info,hickory_server=error,hickory_proto=error,hickory_net=error";

const DEFAULT_NODE: &str = "http://127.0.0.1:8400";

#[derive(clap::Args)]
struct OperatorArgs {
    /// Node API URLs of the operator's own node(s), tried in order.
    #[arg(long = "node", default_value = DEFAULT_NODE, global = true)]
    nodes: Vec<String>,
    /// File holding the node's admin token (or set NPCHAIN_ADMIN_TOKEN).
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// Wait until the transaction is in a finalized block and print its outcome.
    #[arg(long, global = true)]
    wait: bool,
    /// Print the result as one JSON document, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: OperatorVerb,
}

#[derive(Subcommand)]
enum OperatorVerb {
    /// As donor: release an order's numbers.
    Release { port: String },
    /// As donor: reject an order (reasons: outstanding-dues, lock-in-period,
    /// ownership-change-pending, contractual-obligation, court-order, identity-mismatch).
    Reject {
        port: String,
        #[arg(long)]
        reason: String,
    },
    /// As recipient: activate a released order; routing switches at its block.
    Activate { port: String },
    /// As serving operator: bind a subscriber's public key (hex) to a number.
    Bind {
        /// The number, sent to the node exactly as typed (read with the network's region).
        #[arg(allow_hyphen_values = true)]
        number: String,
        /// The subscriber's public key, hex.
        #[arg(long, conflicts_with = "unbind", required_unless_present = "unbind")]
        subscriber: Option<String>,
        /// Remove the binding instead.
        #[arg(long)]
        unbind: bool,
    },
    /// As serving operator: the subscription ended; the number goes back to its range holder.
    Return {
        /// The number, sent to the node exactly as typed (read with the network's region).
        #[arg(allow_hyphen_values = true)]
        number: String,
    },
    /// List orders this operator is donor or recipient of.
    Ports {
        /// open, requested, released, rejected, activated, cancelled or expired.
        #[arg(long, default_value = "open")]
        state: String,
    },
}

#[derive(clap::Args)]
struct DevnetArgs {
    /// Number of validators (operators OPA, OPB, …).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Directory for keys, genesis, configs and node data.
    #[arg(long, default_value = "devnet")]
    data: PathBuf,
    /// Node i serves HTTP on this port + i.
    #[arg(long, default_value_t = 8400)]
    http_port: u16,
    /// Node i serves DNS on this port + i.
    #[arg(long, default_value_t = 5300)]
    dns_port: u16,
    /// Node i listens for peers on this port + i.
    #[arg(long, default_value_t = 7400)]
    p2p_port: u16,
    /// Delete the devnet in --data and make a new one.
    #[arg(long)]
    fresh: bool,
    /// Number ranges (CSV header `prefix,operator`) instead of the demo ranges.
    #[arg(long)]
    ranges: Option<PathBuf>,
    /// Already-ported numbers to load into the genesis (CSV header `number,operator[,rn]`).
    #[arg(long)]
    ported: Option<PathBuf>,
    /// Write the files and print the table, but start nothing.
    #[arg(long)]
    print_only: bool,
}

fn main() -> ExitCode {
    // Colours only on a terminal: a devnet's node.log stays plain text.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG.into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Verb::Init { dir, operator } => init(dir, &operator),
        Verb::Node { config } => node(config),
        Verb::Devnet(args) => run_devnet(args),
        Verb::Query { number, nodes, json } => query(&number, nodes, json),
        Verb::Operator(args) => operator(args),
        Verb::Wallet(args) => wallet(args),
        Verb::Bench(args) => match bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Verb::Sim(args) => match sim(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
    }
}

fn bench(args: BenchArgs) -> Result<(), bench::BenchError> {
    let env = bench::Env {
        data: args.data.clone(),
        port_base: args.port_base,
        validators: args.validators,
        cache_mib: args.cache_mib,
    };
    let runs = if args.smoke { 1 } else { args.runs };
    let pick = |given: Option<usize>, full: usize, smoke: usize| {
        given.unwrap_or(if args.smoke { smoke } else { full })
    };
    let what = match args.what {
        BenchVerb::All => vec![
            BenchVerb::Throughput { ports: None },
            BenchVerb::Propagation { ports: None },
            BenchVerb::Mass { numbers: None },
            BenchVerb::Scale { numbers: Vec::new() },
            BenchVerb::Catchup { txs: None },
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
            BenchVerb::Throughput { ports } => {
                let n = pick(ports, 10_000, 200);
                let params = json!({ "ports": n, "txs": 4 * n, "validators": validators });
                repeat("throughput", params, &|| bench::throughput(&env, n))?;
            }
            BenchVerb::Propagation { ports } => {
                let n = pick(ports, 100, 5);
                repeat("propagation", json!({ "ports": n, "validators": validators }), &|| {
                    bench::propagation(&env, n)
                })?;
            }
            BenchVerb::Mass { numbers } => {
                let n = pick(numbers, 100_000, 2_000);
                repeat("mass", json!({ "numbers": n, "validators": validators }), &|| bench::mass(&env, n))?;
            }
            BenchVerb::Scale { numbers } => {
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
            BenchVerb::Catchup { txs } => {
                let n = pick(txs, 100_000, 1_000);
                repeat("catchup", json!({ "txs": n, "validators": validators }), &|| {
                    bench::catchup(&env, n)
                })?;
            }
            BenchVerb::All => unreachable!("expanded above"),
        }
    }
    Ok(())
}

fn sim(args: SimArgs) -> Result<(), bench::BenchError> {
    let SimVerb::Sms { ports, sms_per_day, window_hours, sync, seed, smoke, out, data, port_base } =
        args.what;
    let params = bench::sms::SmsParams {
        ports: ports.unwrap_or(if smoke { 10 } else { 200 }),
        sms_per_day,
        window_hours,
        sync_periods_s: sync,
        seed,
    };
    let env = bench::Env { data, port_base, validators: 4, cache_mib: None };
    bench::repeat("sim-sms", params.to_json(), 1, &out, &|| bench::sms::run(&env, &params))?;
    Ok(())
}

/// `+30m`, `+2h`, `+1d`, `+90s` from `now_ms`, or Unix milliseconds.
fn parse_due(text: &str, now_ms: u64) -> Result<u64, String> {
    let bad = || format!("due {text:?} is not +<n>s|m|h|d or Unix milliseconds");
    let Some(relative) = text.strip_prefix('+') else { return text.parse().map_err(|_| bad()) };
    let (n, unit) = relative.split_at(relative.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(now_ms + secs * 1000)
}

/// Prints `value` as one JSON document on stdout.
fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// A rejection's cause as JSON: its code and what it means.
fn cause_json(cause: Option<&npchain_core::RejectCause>) -> serde_json::Value {
    cause.map_or(serde_json::Value::Null, |c| json!({ "code": c.to_string(), "text": c.description() }))
}

/// Set by Ctrl-C (or SIGTERM) while `wallet follow` waits.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

/// The `wallet follow` command for `port` that works when pasted: this program as it was
/// started, and the global options given to this one (wallet, nodes, passphrase file),
/// shell-quoted.
fn follow_command(args: &WalletArgs, port: &str) -> String {
    let program = std::env::args().next().unwrap_or_else(|| "npchain".into());
    let mut words = vec![program, "wallet".into(), "--wallet".into(), args.wallet.display().to_string()];
    for node in &args.nodes {
        words.extend(["--node".into(), node.clone()]);
    }
    if let Some(p) = &args.passphrase_file {
        words.extend(["--passphrase-file".into(), p.display().to_string()]);
    }
    words.extend(["follow".into(), port.to_owned()]);
    // no argument can hold a NUL byte: quoting cannot fail
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

fn wallet(args: WalletArgs) -> ExitCode {
    let json = args.json;
    match run_wallet(args) {
        Ok(code) => code,
        Err(WalletFailure::Wallet(e)) => {
            if let (true, Some(refusal)) = (json, e.refusal()) {
                print_json(&json!({ "refused": refusal }));
            }
            if matches!(e, npchain_client::wallet::WalletError::Interrupted { .. }) {
                eprintln!("{e}");
                return ExitCode::from(INTERRUPTED);
            }
            fail(e)
        }
        Err(WalletFailure::Input(e)) => fail(e),
    }
}

/// Why a wallet command failed: the wallet's error, or the command line's.
enum WalletFailure {
    Wallet(npchain_client::wallet::WalletError),
    Input(String),
}

impl From<npchain_client::wallet::WalletError> for WalletFailure {
    fn from(e: npchain_client::wallet::WalletError) -> Self {
        Self::Wallet(e)
    }
}

impl From<String> for WalletFailure {
    fn from(e: String) -> Self {
        Self::Input(e)
    }
}

fn run_wallet(args: WalletArgs) -> Result<ExitCode, WalletFailure> {
    use npchain_cli::progress::{Progress, human};
    use npchain_client::wallet::{Followed, Wallet, WalletError, describe_state};
    let passphrase = match (&args.passphrase_file, std::env::var("NPCHAIN_PASSPHRASE")) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .trim_end()
                .to_owned(),
        ),
        (None, Ok(p)) => Some(p),
        (None, Err(_)) => None,
    };
    let nodes = &args.nodes;
    let json = args.json;
    if let WalletVerb::New { genesis } = &args.action {
        let text = std::fs::read_to_string(genesis).map_err(|e| format!("{}: {e}", genesis.display()))?;
        let genesis =
            npchain_core::Genesis::from_toml(&text).map_err(|e| format!("{}: {e}", genesis.display()))?;
        let nodes = if nodes.is_empty() { vec![DEFAULT_NODE.to_owned()] } else { nodes.clone() };
        let w = Wallet::create(&args.wallet, &genesis, nodes, passphrase.as_deref())?;
        let key = commonware_formatting::hex(w.public_key().as_ref());
        if json {
            print_json(&json!({ "wallet": args.wallet.display().to_string(), "public_key": key }));
        } else {
            println!("wallet {} created", args.wallet.display());
            println!("public key: {key}");
            println!("give the public key to your operator to bind it to your number");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let w = Wallet::open(&args.wallet, passphrase.as_deref())?;
    let port_id =
        |text: &str| text.parse::<npchain_core::PortId>().map_err(|_| format!("{text:?} is not a port id"));
    match &args.action {
        WalletVerb::New { .. } => unreachable!("handled above"),
        WalletVerb::Show => {
            let key = commonware_formatting::hex(w.public_key().as_ref());
            let numbers = w.client(nodes).bound_numbers(&key).map_err(WalletError::from)?;
            let sent: Vec<String> =
                w.sent()?.into_iter().filter(|s| s.kind == "request").map(|s| s.port).collect();
            let mut orders = Vec::new();
            let mut failed = false;
            for id in w.discover(nodes)? {
                let by_wallet = sent.contains(&id.to_string());
                let shown = match w.sync(nodes, &id) {
                    Ok(o) => Ok(o),
                    // facts about the order, not failures of this command
                    Err(e @ (WalletError::Ledger(_) | WalletError::NotInABlock { .. })) => Err(e),
                    Err(e) => {
                        failed = true;
                        Err(e)
                    }
                };
                orders.push((id, by_wallet, shown));
            }
            if json {
                let orders: Vec<serde_json::Value> = orders
                    .iter()
                    .map(|(id, by_wallet, shown)| match shown {
                        Ok(o) => json!({
                            "id": id.to_string(),
                            "state": o.info.state,
                            "reason": cause_json(o.cause.as_ref()),
                            "open": o.info.open,
                            "numbers": o.info.numbers,
                            "donor": o.info.donor,
                            "recipient": o.info.recipient,
                            "initiator": o.info.initiator,
                            "sent_by_wallet": by_wallet,
                            "verified_steps": o.verified_steps,
                        }),
                        Err(e) => match e.refusal() {
                            Some(r) => json!({ "id": id.to_string(), "sent_by_wallet": by_wallet, "refused": r }),
                            None => json!({ "id": id.to_string(), "sent_by_wallet": by_wallet, "error": e.to_string() }),
                        },
                    })
                    .collect();
                print_json(&json!({
                    "public_key": key,
                    "nodes": w.config().nodes,
                    "chain_id": w.config().chain_id,
                    "validators": w.config().validators.len(),
                    "numbers": numbers,
                    "orders": orders,
                }));
            } else {
                println!("public key: {key}");
                println!("nodes: {}", w.config().nodes.join(" "));
                println!("trusts {} validators; chain {}", w.config().validators.len(), w.config().chain_id);
                for r in &numbers {
                    let open = r.open_port.as_ref().map(|p| format!(", open order {p}")).unwrap_or_default();
                    println!("number {} served by {} (rn {}){open}", r.number, r.serving, r.routing_number);
                }
                for (id, by_wallet, shown) in &orders {
                    match shown {
                        Ok(o) => {
                            let by = if *by_wallet {
                                "sent by this wallet".to_owned()
                            } else if o.info.initiator == "recipient" {
                                format!("requested by the recipient {}", o.info.recipient)
                            } else {
                                "not sent by this wallet".to_owned()
                            };
                            println!(
                                "order {id}: {} ({} -> {}) {}; {by}; {} step(s) verified",
                                describe_state(&o.info.state, o.cause.as_ref()),
                                o.info.donor,
                                o.info.recipient,
                                o.info.numbers.join(","),
                                o.verified_steps
                            );
                        }
                        Err(e) => println!("order {id}: {e}"),
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        WalletVerb::Port { numbers, group, to, due, no_precheck } => {
            // Read them all before anything is signed: one bad number orders nothing.
            let mut numbers = numbers
                .iter()
                .map(|n| w.parse_number(n).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(path) = group {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                // Each line as typed (the number grammar refuses stray spaces, naming them).
                for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty() && *l != "number") {
                    numbers.push(
                        w.parse_number(line)
                            .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?,
                    );
                }
            }
            let to: npchain_core::OperatorId =
                to.parse().map_err(|e: npchain_core::types::IdError| e.to_string())?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let due = due.as_deref().map(|d| parse_due(d, now)).transpose()?.unwrap_or(0);
            let port = w.request_port(nodes, &numbers, &to, npchain_core::Timestamp(due), !no_precheck)?;
            let follow = follow_command(&args, &port.to_string());
            if json {
                print_json(&json!({
                    "port": port.to_string(),
                    "numbers": numbers.len(),
                    "to": to.to_string(),
                    "follow": follow,
                }));
            } else {
                println!("port {port} requested ({} number(s) to {to}); follow it with:", numbers.len());
                println!("  {follow}");
            }
        }
        WalletVerb::Follow { port, timeout } => {
            let port = port_id(port)?;
            if let Err(e) = ctrlc::set_handler(|| STOP.store(true, std::sync::atomic::Ordering::Relaxed)) {
                return Err(format!("cannot handle Ctrl-C: {e}").into());
            }
            let limit = timeout.map(Duration::from_secs);
            let source =
                |default: &str| if limit.is_some() { "--timeout".to_owned() } else { default.to_owned() };
            let mut progress = Progress::stderr(Duration::from_secs(60));
            let finished = w.follow(nodes, &port, limit, &STOP, |event| match event {
                Followed::Pending { limit } => {
                    progress.clear();
                    eprintln!(
                        "order {port}: the request is in no block yet; waiting for it, then following the \
                         order until it is finished; giving up after {} ({}); Ctrl-C stops",
                        human(limit),
                        source("when the request expires, plus 10 min")
                    );
                }
                Followed::Watching { state, limit } => {
                    progress.clear();
                    eprintln!(
                        "following order {port} ({state}) until it is activated, rejected, cancelled or \
                         expired; giving up after {} ({}); Ctrl-C stops",
                        human(limit),
                        source("its activation deadline, plus 10 min")
                    );
                }
                Followed::Step(e) => {
                    progress.clear();
                    if !json {
                        println!(
                            "height {:>6}  {:<10} verified: a quorum of validators finalized it",
                            e.height,
                            describe_state(&e.step, e.cause().as_ref())
                        );
                    }
                }
                Followed::Waiting { state, elapsed } => {
                    progress.update(&format!("  order {state}, waiting {}", human(elapsed)));
                }
            });
            progress.clear();
            let finished = finished?;
            if json {
                let steps: Vec<serde_json::Value> = w
                    .entries()?
                    .into_iter()
                    .filter(|e| e.port == port.to_string())
                    .map(|e| {
                        json!({ "step": e.step, "height": e.height, "reason": cause_json(e.cause().as_ref()) })
                    })
                    .collect();
                print_json(&json!({
                    "port": port.to_string(),
                    "state": finished.state,
                    "reason": cause_json(finished.cause.as_ref()),
                    "steps": steps,
                }));
            } else {
                println!(
                    "order {port} finished: {}",
                    describe_state(&finished.state, finished.cause.as_ref())
                );
            }
        }
        WalletVerb::Cancel { port, no_precheck } => {
            let id = w.cancel(nodes, &port_id(port)?, !no_precheck)?;
            if json {
                print_json(&json!({ "port": port, "tx": id }));
            } else {
                println!("cancel sent as transaction {id}");
            }
        }
        WalletVerb::Verify => {
            let n = w.verify()?;
            if json {
                print_json(&json!({ "entries": n }));
            } else {
                println!(
                    "local ledger verified: {n} entries, each finalized by a quorum of the genesis validators"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn query(number: &str, nodes: Vec<String>, json: bool) -> ExitCode {
    match Client::new(nodes).route(number) {
        Ok(route) if json => {
            println!("{}", serde_json::to_string_pretty(&route).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(r) => {
            let how = if r.ported {
                format!("ported (range holder {})", r.range_holder.as_deref().unwrap_or("none"))
            } else {
                format!("not ported (range {})", r.range.as_deref().unwrap_or("?"))
            };
            println!(
                "{} -> {} (routing number {}), {how}, at height {}",
                r.number, r.serving, r.routing_number, r.height
            );
            if let Some(port) = r.open_port {
                println!("open port order: {port}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `operator ports`: the header and one row per order (the numbers last: a group has many).
fn print_ports(list: &npchain_api::json::PortList, me: &str) {
    println!(
        "{:<64}  {:<10} {:<9} {:<9} {:<9} {:<10} numbers",
        "port", "state", "donor", "recipient", "role", "initiator"
    );
    for p in &list.ports {
        let role = if p.donor == me { "donor" } else { "recipient" };
        println!(
            "{:<64}  {:<10} {:<9} {:<9} {:<9} {:<10} {}",
            p.id,
            p.state,
            p.donor,
            p.recipient,
            role,
            p.initiator,
            p.numbers.join(",")
        );
    }
    println!(
        "{} order(s) at height {}{}",
        list.ports.len(),
        list.height,
        if list.next.is_some() { ", more after the last" } else { "" }
    );
}

fn operator(args: OperatorArgs) -> ExitCode {
    let token = match (&args.token_file, std::env::var("NPCHAIN_ADMIN_TOKEN")) {
        (Some(path), _) => match std::fs::read_to_string(path) {
            Ok(t) => Some(t.trim().to_owned()),
            Err(e) => return fail(format!("{}: {e}", path.display())),
        },
        (None, Ok(t)) => Some(t.trim().to_owned()),
        (None, Err(_)) => None,
    };
    let mut client = Client::new(args.nodes);
    if let Some(t) = token {
        client = client.with_token(t);
    }
    let json = args.json;
    // A refusal: one format on stderr; for scripts also as JSON on stdout.
    let refused = |tx: Option<&str>, e: ClientError| {
        if let (true, ClientError::Refused(r)) = (json, &e) {
            print_json(&json!({ "tx": tx, "refused": r }));
        }
        fail(e)
    };
    let (path, body) = match args.action {
        OperatorVerb::Ports { state } => {
            let status = match client.status() {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let Some(me) = status.operator else {
                return fail("the node is an observer: it has no operator");
            };
            return match client.ports(&[("operator", &me), ("state", &state)]) {
                Ok(list) if json => {
                    let ports: Vec<serde_json::Value> = list
                        .ports
                        .iter()
                        .map(|p| {
                            let mut v = serde_json::to_value(p).unwrap_or_default();
                            v["role"] = json!(if p.donor == me { "donor" } else { "recipient" });
                            v
                        })
                        .collect();
                    print_json(&json!({
                        "operator": me,
                        "height": list.height,
                        "ports": ports,
                        "next": list.next,
                    }));
                    ExitCode::SUCCESS
                }
                Ok(list) => {
                    print_ports(&list, &me);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            };
        }
        OperatorVerb::Release { port } => (format!("ports/{}/release", encode(&port)), None),
        OperatorVerb::Activate { port } => (format!("ports/{}/activate", encode(&port)), None),
        OperatorVerb::Reject { port, reason } => {
            (format!("ports/{}/reject", encode(&port)), Some(serde_json::json!({ "reason": reason })))
        }
        OperatorVerb::Bind { number, subscriber, .. } => (
            format!("numbers/{}/bind", encode(&number)),
            Some(serde_json::json!({ "subscriber": subscriber })),
        ),
        OperatorVerb::Return { number } => (format!("numbers/{}/return", encode(&number)), None),
    };
    let id = match client.act(&path, body.as_ref()) {
        Ok(id) => id,
        Err(e) => return refused(None, e),
    };
    if !args.wait {
        if json {
            print_json(&json!({ "tx": id }));
        } else {
            println!("transaction {id} accepted");
        }
        return ExitCode::SUCCESS;
    }
    if !json {
        println!("transaction {id} accepted");
    }
    match client.wait_applied(&id, Duration::from_secs(60)) {
        Ok(height) if json => {
            print_json(&json!({ "tx": id, "outcome": "applied", "height": height }));
            ExitCode::SUCCESS
        }
        Ok(height) => {
            println!("applied at height {height}");
            ExitCode::SUCCESS
        }
        Err(e) => refused(Some(&id), e),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

fn init(dir: PathBuf, operator: &str) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return fail(format!("{}: {e}", dir.display()));
    }
    let validator = keys::generate();
    let op = keys::generate();
    for (name, key) in [("validator.key", &validator), ("operator.key", &op)] {
        if let Err(e) = keys::write_key(&dir.join(name), key) {
            return fail(e);
        }
    }
    let hex = |k: &npchain_core::PrivateKey| commonware_formatting::hex(k.public_key().as_ref());
    println!("validator key: {}", hex(&validator));
    println!("operator key:  {}", hex(&op));
    println!("\n# for the genesis TOML:\n[[operators]]");
    println!(
        "id = {operator:?}\nname = \"…\"\noperator_key = \"{}\"\nvalidator_key = \"{}\"\nrouting_number = \"D001\"",
        hex(&op),
        hex(&validator)
    );
    ExitCode::SUCCESS
}

fn node(path: PathBuf) -> ExitCode {
    let config = match NodeConfig::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match npchain_node::node::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn run_devnet(args: DevnetArgs) -> ExitCode {
    let options = Options {
        validators: args.validators,
        http_port: args.http_port,
        dns_port: args.dns_port,
        p2p_port: args.p2p_port,
        custom_ranges: args.ranges.is_some(),
        ported: args.ported.is_some(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let layout = match devnet::prepare(
        &args.data,
        &options,
        args.ranges.as_deref(),
        args.ported.as_deref(),
        args.fresh,
        npchain_core::Timestamp(now),
    ) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    println!(
        "{} devnet in {} ({} validators)\n",
        if layout.created { "created" } else { "resuming" },
        layout.dir.display(),
        layout.nodes.len()
    );
    println!("{:<8} {:<18} {:<17} {:<24} {:<17} log", "operator", "validator key", "p2p", "http", "dns");
    for n in &layout.nodes {
        let c = &n.config;
        println!(
            "{:<8} {:<18} {:<17} {:<24} {:<17} {}",
            n.operator.as_str(),
            format!("{}…", &n.validator_key[..16]),
            c.p2p_listen,
            format!("http://{}", c.http_listen),
            c.dns_listen.map(|d| d.to_string()).unwrap_or_default(),
            n.dir.join("node.log").display()
        );
    }
    if let Some(first) = layout.nodes.first() {
        let c = &first.config;
        const EXAMPLE: &str = "+4915000000001";
        println!("\ntry:");
        println!("  npchain query {EXAMPLE} --node http://{}", c.http_listen);
        if let Some(dns) = c.dns_listen {
            let name: Vec<String> = EXAMPLE[1..].chars().rev().map(String::from).collect();
            println!("  dig @{} -p {} NAPTR {}.{}", dns.ip(), dns.port(), name.join("."), c.enum_origin);
        }
        println!("  curl -N http://{}/v1/events        (the event stream)", c.http_listen);
        println!(
            "  npchain operator --node http://{} --token-file {} ports",
            c.http_listen,
            first.dir.join("admin.token").display()
        );
    }
    if args.print_only {
        return ExitCode::SUCCESS;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot find this program: {e}")),
    };
    let (stop_tx, stop_rx) = mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        return fail(format!("cannot handle Ctrl-C: {e}"));
    }
    println!("\nrunning; Ctrl-C stops the devnet (run again to resume from the same data)");
    println!("a node that crashes is restarted; one stopped with SIGTERM stays down (pids in node.pid)");
    match devnet::supervise(&exe, &layout, &stop_rx, |line| eprintln!("{line}")) {
        Ok(()) => {
            println!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
