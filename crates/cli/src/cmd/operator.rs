//! `npchain operator`: the node's operator acts on orders and numbers through its own node
//! (with the node's admin token), requests ports for subscribers with their consent, and lists
//! its orders.

use super::{DEFAULT_NODE, print_json};
use crate::error::CliError;
use clap::Subcommand;
use npchain_client::{Client, ClientError, encode};
use serde_json::json;
use std::{path::PathBuf, process::ExitCode, time::Duration};

#[derive(clap::Args)]
pub struct Args {
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
    action: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// As recipient: request a port for a subscriber, carrying the consent they signed with
    /// `npchain wallet consent` (its file, or its one-line form). The node checks it and signs
    /// the request with its operator key.
    RequestFor {
        /// The consent file, or the consent's one-line form (`npconsent1:…`).
        #[arg(long)]
        consent: String,
    },
    /// List orders this operator is donor or recipient of.
    Ports {
        /// open, requested, released, rejected, activated, cancelled or expired.
        #[arg(long, default_value = "open")]
        state: String,
    },
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

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let token = match (&args.token_file, std::env::var("NPCHAIN_ADMIN_TOKEN")) {
        (Some(path), _) => {
            Some(std::fs::read_to_string(path).map_err(CliError::file(path))?.trim().to_owned())
        }
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
        CliError::from(e)
    };
    let (path, body) = match args.action {
        Command::Ports { state } => {
            let me = client.status()?.operator.ok_or(CliError::Observer)?;
            let list = client.ports(&[("operator", &me), ("state", &state)])?;
            if json {
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
            } else {
                print_ports(&list, &me);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Release { port } => (format!("ports/{}/release", encode(&port)), None),
        Command::Activate { port } => (format!("ports/{}/activate", encode(&port)), None),
        Command::Reject { port, reason } => {
            (format!("ports/{}/reject", encode(&port)), Some(json!({ "reason": reason })))
        }
        Command::Bind { number, subscriber, .. } => {
            (format!("numbers/{}/bind", encode(&number)), Some(json!({ "subscriber": subscriber })))
        }
        Command::Return { number } => (format!("numbers/{}/return", encode(&number)), None),
        Command::RequestFor { consent } => {
            let consent = npchain_client::wallet::read_consent(&consent)?;
            if !json {
                println!(
                    "consent of {} to port {} number(s) from {} to {}: order {}",
                    commonware_formatting::hex(consent.subscriber.as_ref()),
                    consent.request.numbers.len(),
                    consent.request.donor,
                    consent.request.recipient,
                    consent.port_id()
                );
            }
            ("ports".to_owned(), Some(json!({ "consent": consent.to_text() })))
        }
    };
    let id = client.act(&path, body.as_ref()).map_err(|e| refused(None, e))?;
    if !args.wait {
        if json {
            print_json(&json!({ "tx": id }));
        } else {
            println!("transaction {id} accepted");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !json {
        println!("transaction {id} accepted");
    }
    let height = client.wait_applied(&id, Duration::from_secs(60)).map_err(|e| refused(Some(&id), e))?;
    if json {
        print_json(&json!({ "tx": id, "outcome": "applied", "height": height }));
    } else {
        println!("applied at height {height}");
    }
    Ok(ExitCode::SUCCESS)
}
