//! `npchain node`: runs one node from its configuration file until it is stopped.

use crate::error::CliError;
use npchain_cli::progress::Progress;
use npchain_node::config::NodeConfig;
use std::{io::IsTerminal, path::PathBuf, process::ExitCode, time::Duration};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    config: PathBuf,
}

pub fn run(Args { config }: Args) -> Result<ExitCode, CliError> {
    let config = NodeConfig::load(&config)?;
    // On a terminal the genesis migration load is a bar; into a log the node writes a line
    // every 100,000 numbers.
    if std::io::stderr().is_terminal() && config.ported.is_some() {
        let mut bar: Option<Progress> = None;
        let mut show = |numbers: u64, read: u64, size: u64| {
            let bar = bar.get_or_insert_with(|| {
                Progress::count("loading the migration list", "bytes", Some(size), Duration::from_secs(10))
            });
            bar.update(&format!("{numbers} numbers"));
            bar.set(read);
            if read >= size {
                bar.finish();
            }
        };
        npchain_node::node::run_with(&config, Some(&mut show))?;
    } else {
        npchain_node::node::run(&config)?;
    }
    Ok(ExitCode::SUCCESS)
}
