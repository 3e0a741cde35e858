//! `npchain init`: an operator's two keys (`validator.key`, `operator.key`, 0600, never
//! overwritten) and its public operator file (`operator.toml`: id, name, public keys, p2p
//! address, routing number) for the regulator's `npchain genesis assemble`.

use super::{genesis::OperatorFile, print_json};
use crate::error::CliError;
use commonware_cryptography::Signer;
use npchain_core::{
    tx::valid_operator_name,
    types::{OperatorId, RoutingNumber},
};
use npchain_node::keys;
use serde_json::json;
use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct Args {
    /// Directory for the key files and operator.toml (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// The operator id (A-Z, 0-9, '-', '_'; up to 16), as the regulator licensed it.
    #[arg(long)]
    operator: String,
    /// The operator's display name [default: the id].
    #[arg(long)]
    name: Option<String>,
    /// Where the other validators reach this node's p2p port (IP:port as seen from outside).
    #[arg(long)]
    p2p_address: SocketAddr,
    /// The routing number (RFC 4694 rn) calls to its numbers carry, e.g. +49D001 or +4930999.
    #[arg(long)]
    routing_number: String,
    /// Print the operator file as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let id: OperatorId = args.operator.parse().map_err(CliError::Operator)?;
    let name = args.name.unwrap_or_else(|| id.to_string());
    if !valid_operator_name(&name) {
        return Err(CliError::OperatorName(name));
    }
    let rn: RoutingNumber = args.routing_number.parse().map_err(CliError::Operator)?;
    let file_path = args.dir.join("operator.toml");
    if file_path.exists() {
        return Err(CliError::Exists(file_path.display().to_string()));
    }
    std::fs::create_dir_all(&args.dir).map_err(CliError::file(&args.dir))?;
    let validator = keys::generate();
    let op = keys::generate();
    for (name, key) in [("validator.key", &validator), ("operator.key", &op)] {
        keys::write_key(&args.dir.join(name), key)?;
    }
    let hex = |k: &npchain_core::PrivateKey| commonware_formatting::hex(k.public_key().as_ref());
    let file = OperatorFile {
        id: id.to_string(),
        name,
        operator_key: hex(&op),
        validator_key: hex(&validator),
        p2p_address: args.p2p_address,
        routing_number: rn.to_string(),
    };
    let text = toml::to_string(&file).map_err(CliError::WriteToml)?;
    let header = "# The public operator file of `npchain init`: give it to the regulator for the genesis.\n";
    std::fs::write(&file_path, format!("{header}{text}")).map_err(CliError::file(&file_path))?;
    if args.json {
        print_json(&json!({ "dir": args.dir.display().to_string(), "operator": file }));
    } else {
        println!("keys written to {}: validator.key, operator.key (keep them there)", args.dir.display());
        println!("validator key: {}", file.validator_key);
        println!("operator key:  {}", file.operator_key);
        println!("public operator file: {} (give it to the regulator)", file_path.display());
    }
    Ok(ExitCode::SUCCESS)
}
