//! `npchain query`: where a number routes, as a node answers (failing over across nodes).

use super::DEFAULT_NODE;
use crate::error::CliError;
use npchain_client::Client;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(Args { number, nodes, json }: Args) -> Result<ExitCode, CliError> {
    let r = Client::new(nodes).route(&number)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
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
    Ok(ExitCode::SUCCESS)
}
