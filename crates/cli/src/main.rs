//! `npchain`: one binary for operators, regulators and subscribers.

// The command line program talks to its user on stdout.
#![allow(clippy::print_stdout)]

use clap::{Parser, Subcommand};
use commonware_cryptography::Signer;
use npchain_cli::{
    bench,
    client::{Client, encode},
    devnet::{self, Options},
};
use npchain_node::api::TxStatus;
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
        /// The number, international form (+4930…).
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
    /// The wallet's public key, its nodes, and the numbers of its ledger with their routes.
    Show,
    /// Request a port of numbers bound to this key to another operator.
    Port {
        /// The number (repeat for a group port: all or none).
        #[arg(long = "number", required_unless_present = "group")]
        numbers: Vec<String>,
        /// A file of numbers, one per line (an enterprise's group port).
        #[arg(long)]
        group: Option<PathBuf>,
        /// The recipient operator.
        #[arg(long)]
        to: String,
        /// Earliest activation: +30m, +2h, +1d from now, or Unix milliseconds (default: now).
        #[arg(long)]
        due: Option<String>,
    },
    /// Follow an order until it is finished, writing each committed step, verified, to the
    /// local ledger.
    Follow {
        port: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Cancel an order before activation.
    Cancel { port: String },
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
        number: String,
        /// The subscriber's public key, hex.
        #[arg(long, conflicts_with = "unbind", required_unless_present = "unbind")]
        subscriber: Option<String>,
        /// Remove the binding instead.
        #[arg(long)]
        unbind: bool,
    },
    /// As serving operator: the subscription ended; the number goes back to its range holder.
    Return { number: String },
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
        Verb::Wallet(args) => match wallet(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
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

fn wallet(args: WalletArgs) -> Result<(), String> {
    use npchain_cli::wallet::Wallet;
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
    let nodes = args.nodes;
    if let WalletVerb::New { genesis } = &args.action {
        let text = std::fs::read_to_string(genesis).map_err(|e| format!("{}: {e}", genesis.display()))?;
        let genesis =
            npchain_core::Genesis::from_toml(&text).map_err(|e| format!("{}: {e}", genesis.display()))?;
        let nodes = if nodes.is_empty() { vec![DEFAULT_NODE.to_owned()] } else { nodes };
        let w = Wallet::create(&args.wallet, &genesis, nodes, passphrase.as_deref())
            .map_err(|e| e.to_string())?;
        println!("wallet {} created", args.wallet.display());
        println!("public key: {}", commonware_formatting::hex(w.public_key().as_ref()));
        println!("give the public key to your operator to bind it to your number");
        return Ok(());
    }
    let w = Wallet::open(&args.wallet, passphrase.as_deref()).map_err(|e| e.to_string())?;
    let port_id =
        |text: &str| text.parse::<npchain_core::PortId>().map_err(|_| format!("{text:?} is not a port id"));
    match args.action {
        WalletVerb::New { .. } => unreachable!("handled above"),
        WalletVerb::Show => {
            println!("public key: {}", commonware_formatting::hex(w.public_key().as_ref()));
            println!("nodes: {}", w.config().nodes.join(" "));
            println!("trusts {} validators; chain {}", w.config().validators.len(), w.config().chain_id);
            let client = w.client(&nodes);
            let key = commonware_formatting::hex(w.public_key().as_ref());
            for r in client.bound_numbers(&key).map_err(|e| e.to_string())? {
                let open = r.open_port.map(|p| format!(", open order {p}")).unwrap_or_default();
                println!("number {} served by {} (rn {}){open}", r.number, r.serving, r.routing_number);
            }
            let mut ports: Vec<String> = w
                .sent()
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|s| s.kind == "request")
                .map(|s| s.port)
                .collect();
            ports.dedup();
            for port in ports {
                match client.port(&port) {
                    Ok(p) => println!(
                        "order {port}: {} ({} -> {}) {}",
                        p.state,
                        p.donor,
                        p.recipient,
                        p.numbers.join(",")
                    ),
                    Err(e) => println!("order {port}: {e}"),
                }
            }
        }
        WalletVerb::Port { numbers, group, to, due } => {
            let mut all = numbers;
            if let Some(path) = group {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                all.extend(
                    text.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "number").map(String::from),
                );
            }
            let numbers = all
                .iter()
                .map(|n| n.parse::<npchain_core::E164>().map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let to: npchain_core::OperatorId =
                to.parse().map_err(|e: npchain_core::types::IdError| e.to_string())?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let due = due.as_deref().map(|d| parse_due(d, now)).transpose()?.unwrap_or(0);
            let port = w
                .request_port(&nodes, &numbers, &to, npchain_core::Timestamp(due))
                .map_err(|e| e.to_string())?;
            println!(
                "port {port} requested ({} number(s) to {to}); follow it with: npchain wallet follow {port}",
                numbers.len()
            );
        }
        WalletVerb::Follow { port, timeout } => {
            let port = port_id(&port)?;
            let last = w
                .follow(&nodes, &port, Duration::from_secs(timeout), |e| {
                    println!(
                        "height {:>6}  {:<10} verified: a quorum of validators finalized it",
                        e.height, e.step
                    )
                })
                .map_err(|e| e.to_string())?;
            println!("order {port} finished: {last}");
        }
        WalletVerb::Cancel { port } => {
            let id = w.cancel(&nodes, &port_id(&port)?).map_err(|e| e.to_string())?;
            println!("cancel sent as transaction {id}");
        }
        WalletVerb::Verify => {
            let n = w.verify().map_err(|e| e.to_string())?;
            println!(
                "local ledger verified: {n} entries, each finalized by a quorum of the genesis validators"
            );
        }
    }
    Ok(())
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
                Ok(list) => {
                    for p in &list.ports {
                        let role = if p.donor == me { "donor" } else { "recipient" };
                        println!(
                            "{} {} {} {} -> {} ({role}) {}",
                            p.id,
                            p.state,
                            p.numbers.join(","),
                            p.donor,
                            p.recipient,
                            p.initiator
                        );
                    }
                    println!(
                        "{} order(s) at height {}{}",
                        list.ports.len(),
                        list.height,
                        if list.next.is_some() { ", more after the last" } else { "" }
                    );
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
        Err(e) => return fail(e),
    };
    println!("transaction {id} accepted");
    if !args.wait {
        return ExitCode::SUCCESS;
    }
    match client.wait_committed(&id, Duration::from_secs(60)) {
        Ok(TxStatus::Committed { height, result, .. }) if result.outcome == "applied" => {
            println!("applied at height {height}");
            ExitCode::SUCCESS
        }
        Ok(TxStatus::Committed { height, result, .. }) => {
            fail(format!("rejected at height {height}: {}", result.reason.unwrap_or_default()))
        }
        Ok(TxStatus::Pending) => fail("still pending"),
        Err(e) => fail(e),
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
