//! `npchain init`: an operator's two keys, and the genesis snippet that names them.

use crate::error::CliError;
use commonware_cryptography::Signer;
use npchain_node::keys;
use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct Args {
    /// Directory for the key files (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// The operator id to print in the genesis snippet.
    #[arg(long, default_value = "OPX")]
    operator: String,
}

pub fn run(Args { dir, operator }: Args) -> Result<ExitCode, CliError> {
    std::fs::create_dir_all(&dir).map_err(CliError::file(&dir))?;
    let validator = keys::generate();
    let op = keys::generate();
    for (name, key) in [("validator.key", &validator), ("operator.key", &op)] {
        keys::write_key(&dir.join(name), key)?;
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
    Ok(ExitCode::SUCCESS)
}
