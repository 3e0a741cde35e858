//! `npchain node`: runs one node from its configuration file until it is stopped.

use crate::error::CliError;
use npchain_node::config::NodeConfig;
use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    config: PathBuf,
}

pub fn run(Args { config }: Args) -> Result<ExitCode, CliError> {
    let config = NodeConfig::load(&config)?;
    npchain_node::node::run(&config)?;
    Ok(ExitCode::SUCCESS)
}
