//! `npchain`: one binary for operators, regulators and subscribers. This file dispatches: the
//! verbs live in `cmd/` (each with its arguments and its `run`); here are the top-level
//! command, the log setup, Ctrl-C handling and the mapping of failures to exit codes.

// The command line program talks to its user on stdout.
#![allow(clippy::print_stdout)]

mod cmd;
mod error;

use clap::{Parser, Subcommand};
use error::CliError;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "npchain", version, about = "Telephone number portability on a permissioned blockchain")]
struct Cli {
    #[command(subcommand)]
    command: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Run a local network of validator processes on loopback (the quick start).
    Devnet(cmd::devnet::Args),
    /// Make an operator's keys: validator.key (consensus and p2p) and operator.key (signing),
    /// and its public operator file for the genesis.
    Init(cmd::init::Args),
    /// The genesis ceremony: assemble a genesis from the operators' files, verify its fingerprint.
    Genesis(cmd::genesis::Args),
    /// Run one node from its configuration file.
    Node(cmd::node::Args),
    /// Ask a node where a number routes.
    Query(cmd::query::Args),
    /// Act as the node's operator: release, reject, activate, bind, return, request a port with
    /// a subscriber's consent; list orders.
    Operator(cmd::operator::Args),
    /// The subscriber's wallet: a key, port requests, and a verified local ledger.
    Wallet(cmd::wallet::Args),
    /// The regulator's console: operators, ranges and policy, signed with the regulator's key.
    Regulator(cmd::regulator::Args),
    /// Export the routing data at a finalized height with its proof (operators, ranges and ported
    /// numbers as CSV; every ledger entry; the block and its certificate); `export verify` checks one.
    Export(cmd::export::Args),
    /// Measure a devnet on this machine: throughput, mass updates, propagation, scale,
    /// catch-up. Prints the figures and writes them as JSON.
    Bench(cmd::bench::Args),
    /// Porting statistics from a node: requests, completions, rejections by reason, cancels,
    /// expiries, deemed answers and activation times, by day or month, per donor and recipient.
    Stats(cmd::stats::Args),
    /// The fault campaign on the deterministic simulation, and simulations over a live devnet.
    Sim(cmd::sim::Args),
}

/// Log filter unless `RUST_LOG` says otherwise. hickory logs every DNS query at info (a fifth
/// of the ENUM throughput, and the disk fills under load), and at warn per packet what anyone
/// can send (an EDNS version, a source port 0); none of its error lines can be caused from
/// outside (see `npchain_node::enum_dns`).
const DEFAULT_LOG: &str = "info,hickory_proto=error";

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The fault campaign runs hundreds of simulated nodes, which crash and misbehave on purpose
    // (a crash inside a commit logs the node halting); it reports per seed what went wrong.
    let default_log = match &cli.command {
        Verb::Sim(args) if args.is_campaign() => "off",
        _ => DEFAULT_LOG,
    };
    // Colours only on a terminal: a devnet's node.log stays plain text.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_log.into()),
        )
        .init();
    let result = match cli.command {
        Verb::Init(args) => cmd::init::run(args),
        Verb::Genesis(args) => cmd::genesis::run(args),
        Verb::Node(args) => cmd::node::run(args),
        Verb::Devnet(args) => cmd::devnet::run(args),
        Verb::Query(args) => cmd::query::run(args),
        Verb::Operator(args) => cmd::operator::run(args),
        Verb::Wallet(args) => cmd::wallet::run(args),
        Verb::Regulator(args) => cmd::regulator::run(args),
        Verb::Export(args) => cmd::export::run(args),
        Verb::Bench(args) => cmd::bench::run(args),
        Verb::Sim(args) => cmd::sim::run(args),
        Verb::Stats(args) => cmd::stats::run(args),
    };
    result.unwrap_or_else(|e| e.report())
}

/// Runs `on_stop` on Ctrl-C (or SIGTERM), once per press, for the one verb that waits: a
/// devnet stops its nodes, `wallet follow` stops following, `wallet watch` stops watching.
fn on_ctrl_c(on_stop: impl FnMut() + Send + 'static) -> Result<(), CliError> {
    ctrlc::set_handler(on_stop).map_err(CliError::CtrlC)
}
