//! `npchain devnet`: lays out (or resumes) a local network of validator processes on
//! loopback (`npchain_cli::devnet`), prints how to reach it, and supervises it until Ctrl-C.

use crate::error::CliError;
use npchain_cli::devnet::{self, Options};
use std::{path::PathBuf, process::ExitCode, sync::mpsc};

#[derive(clap::Args)]
pub struct Args {
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
    /// Blocks per epoch in the genesis: a validator admitted or retired takes effect at the
    /// next epoch boundary.
    #[arg(long, default_value_t = devnet::DEVNET_BLOCKS_PER_EPOCH)]
    blocks_per_epoch: std::num::NonZeroU64,
    /// UDP threads of each node's ENUM server (`[dns] threads` in its config).
    #[arg(long, default_value_t = npchain_node::config::DEFAULT_DNS_THREADS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=npchain_node::config::MAX_DNS_THREADS as u64))]
    dns_threads: usize,
    /// Write the files and print the table, but start nothing.
    #[arg(long)]
    print_only: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let options = Options {
        validators: args.validators,
        http_port: args.http_port,
        dns_port: args.dns_port,
        p2p_port: args.p2p_port,
        custom_ranges: args.ranges.is_some(),
        ported: args.ported.is_some(),
        blocks_per_epoch: args.blocks_per_epoch,
        dns_threads: args.dns_threads,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let layout = devnet::prepare(
        &args.data,
        &options,
        args.ranges.as_deref(),
        args.ported.as_deref(),
        args.fresh,
        npchain_core::Timestamp(now),
    )?;
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
            c.dns.as_ref().map(|d| d.listen.to_string()).unwrap_or_default(),
            n.dir.join("node.log").display()
        );
    }
    if let Some(first) = layout.nodes.first() {
        let c = &first.config;
        const EXAMPLE: &str = "+4915000000001";
        println!("\ntry:");
        println!("  npchain query {EXAMPLE} --node http://{}", c.http_listen);
        if let Some(dns) = &c.dns {
            let name: Vec<String> = EXAMPLE[1..].chars().rev().map(String::from).collect();
            let at = dns.listen;
            println!("  dig @{} -p {} NAPTR {}.{}", at.ip(), at.port(), name.join("."), dns.zone.origin);
        }
        println!("  curl -N http://{}/v1/events        (the event stream)", c.http_listen);
        println!(
            "  npchain operator --node http://{} --token-file {} ports",
            c.http_listen,
            first.dir.join("admin.token").display()
        );
    }
    if args.print_only {
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().map_err(CliError::Exe)?;
    let (stop_tx, stop_rx) = mpsc::channel();
    crate::on_ctrl_c(move || {
        let _ = stop_tx.send(());
    })?;
    println!("\nrunning; Ctrl-C stops the devnet (run again to resume from the same data)");
    println!("a node that crashes is restarted; one stopped with SIGTERM stays down (pids in node.pid)");
    devnet::supervise(&exe, &layout, &stop_rx, |line| eprintln!("{line}"))?;
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}
