//! `npchain`: one binary for operators, regulators and subscribers.

// The command line program talks to its user on stdout.
#![allow(clippy::print_stdout)]

use clap::{Parser, Subcommand};
use commonware_cryptography::Signer;
use npchain_cli::devnet::{self, Options};
use npchain_node::{config::NodeConfig, keys};
use std::{
    path::PathBuf,
    process::{Child, Command, ExitCode, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Verb::Init { dir, operator } => init(dir, &operator),
        Verb::Node { config } => node(config),
        Verb::Devnet(args) => run_devnet(args),
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
    let mut children: Vec<(usize, Child)> = Vec::new();
    for n in &layout.nodes {
        let log_path = n.dir.join("node.log");
        let log = match std::fs::OpenOptions::new().create(true).append(true).open(&log_path) {
            Ok(f) => f,
            Err(e) => return fail(format!("{}: {e}", log_path.display())),
        };
        let err = match log.try_clone() {
            Ok(f) => f,
            Err(e) => return fail(e),
        };
        match Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(&n.config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
        {
            Ok(child) => children.push((n.index, child)),
            Err(e) => {
                stop_all(&mut children);
                return fail(format!("cannot start node {}: {e}", n.index));
            }
        }
    }
    println!("\nrunning; Ctrl-C stops the devnet (run again to resume from the same data)");
    loop {
        if stop_rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            println!("stopping");
            stop_all(&mut children);
            return ExitCode::SUCCESS;
        }
        for (index, child) in children.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = layout.nodes[*index].dir.join("node.log");
                eprintln!("node {index} stopped ({status}); see {}", log.display());
                stop_all(&mut children);
                return ExitCode::FAILURE;
            }
        }
    }
}

/// SIGTERM to every child, then SIGKILL to those still running after 10 s.
fn stop_all(children: &mut [(usize, Child)]) {
    for (_, child) in children.iter() {
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (_, child) in children.iter_mut() {
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
