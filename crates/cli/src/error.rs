//! Why a command failed: [`CliError`], each library's error kept as it is, and the command
//! line's own mistakes (a file that cannot be read, a malformed due time or port id). Turned
//! into text, and into the exit code, only in `main`.

use npchain_cli::{
    bench::BenchError,
    devnet::{DevnetError, SupervisorError},
};
use npchain_client::{ClientError, wallet::WalletError};
use npchain_core::{GenesisError, NumberError, types::IdError};
use std::{path::Path, process::ExitCode};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Wallet(#[from] WalletError),
    #[error(transparent)]
    Regulator(#[from] npchain_client::regulator::RegulatorError),
    #[error(transparent)]
    Devnet(#[from] DevnetError),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error(transparent)]
    Export(#[from] npchain_cli::export::ExportError),
    #[error(transparent)]
    Import(#[from] npchain_cli::import::ImportError),
    #[error(transparent)]
    Key(#[from] npchain_node::keys::KeyError),
    /// The node's configuration file does not hold (exit code 2).
    #[error(transparent)]
    NodeConfig(#[from] npchain_node::config::ConfigError),
    #[error(transparent)]
    Node(#[from] npchain_node::node::NodeError),
    /// A file named on the command line cannot be read or made.
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Genesis {
        path: String,
        #[source]
        source: GenesisError,
    },
    /// A number typed on the command line.
    #[error(transparent)]
    Number(NumberError),
    /// A number of a group file, with its line.
    #[error("{path} line {line}: {source}")]
    GroupNumber {
        path: String,
        line: usize,
        #[source]
        source: NumberError,
    },
    #[error(transparent)]
    Operator(IdError),
    #[error("due {0:?} is not +<n>s|m|h|d or Unix milliseconds")]
    Due(String),
    #[error("operator name {0:?} must be 1 to 64 bytes, without control characters or surrounding blanks")]
    OperatorName(String),
    #[error("{0} exists; refusing to overwrite it")]
    Exists(String),
    #[error("cannot write TOML: {0}")]
    WriteToml(#[source] toml::ser::Error),
    #[error("expiry {0:?} is not a time after now: +<n>s|m|h|d or Unix milliseconds")]
    Expires(String),
    #[error(transparent)]
    Consent(#[from] npchain_client::wallet::ConsentFileError),
    #[error(transparent)]
    Ceremony(#[from] crate::cmd::genesis::CeremonyError),
    #[error("{0:?} is not a port id")]
    PortId(String),
    #[error(
        "a regulator key file is always encrypted: give a passphrase (--passphrase-file or NPCHAIN_PASSPHRASE)"
    )]
    RegulatorPassphrase,
    #[error("the node is an observer: it has no operator")]
    Observer,
    #[error("cannot handle Ctrl-C: {0}")]
    CtrlC(#[source] ctrlc::Error),
    #[error("cannot find this program: {0}")]
    Exe(#[source] std::io::Error),
    /// A date of `npchain stats`, with its option.
    #[error("--{option}: {source}")]
    Date {
        option: &'static str,
        #[source]
        source: npchain_core::day::DateError,
    },
    #[error(transparent)]
    Period(#[from] npchain_node::stats::report::UnknownPeriod),
    #[error(transparent)]
    StatsRange(#[from] npchain_node::stats::StatsQueryError),
}

/// The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

impl CliError {
    /// The error of reading or making the file at `path`.
    pub fn file(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::File { path: path.display().to_string(), source }
    }

    /// Reports the failure on stderr and gives the exit code: 2 for a node configuration that
    /// does not hold, 130 for a `wallet follow` stopped by Ctrl-C (its message is not an
    /// error), 1 otherwise.
    pub fn report(&self) -> ExitCode {
        match self {
            Self::Wallet(e @ WalletError::Interrupted { .. }) => {
                eprintln!("{e}");
                ExitCode::from(INTERRUPTED)
            }
            Self::NodeConfig(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
            e => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
