//! Laying out a devnet: the keys, the genesis and one configuration per node, written once
//! into the data directory (the marker `devnet.toml` last) and found again on a later run
//! with the same options.

use commonware_cryptography::Signer;
use npchain_core::{
    Genesis, GenesisError, GenesisOperator, GenesisRange, NumberError, OperatorId, Policy, Prefix, Timestamp,
    read_ported_csv, types::IdError,
};
use npchain_node::{
    config::{ConfigError, DnsConfig, NodeConfig, Peer, Timing},
    keys::{self, KeyError},
};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    net::{Ipv4Addr, SocketAddr},
    num::NonZeroU64,
    path::{Path, PathBuf},
};

/// The most validators a devnet makes (operators OPA..OPZ).
pub const MAX_VALIDATORS: usize = 26;

/// What `npchain devnet` was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    pub validators: usize,
    pub http_port: u16,
    pub dns_port: u16,
    pub p2p_port: u16,
    /// Whether the ranges came from a CSV (its copy is `ranges.csv`).
    pub custom_ranges: bool,
    /// Whether a migration list was loaded (its copy is `ported.csv`).
    pub ported: bool,
    /// Blocks per epoch in the genesis (validator-set changes take effect between epochs). A
    /// devnet laid out before epochs existed has the genesis default.
    #[serde(default = "genesis_default_epoch")]
    pub blocks_per_epoch: NonZeroU64,
    /// UDP threads of each node's ENUM server (`[dns] threads`).
    #[serde(default = "default_dns_threads")]
    pub dns_threads: usize,
}

/// The devnet's epoch length: about a minute on an idle devnet (two blocks a second), so a
/// validator admitted or retired from the console takes its place within a minute or two.
pub const DEVNET_BLOCKS_PER_EPOCH: NonZeroU64 = NonZeroU64::new(100).unwrap();

fn default_dns_threads() -> usize {
    npchain_node::config::DEFAULT_DNS_THREADS
}

fn genesis_default_epoch() -> NonZeroU64 {
    npchain_core::genesis::DEFAULT_BLOCKS_PER_EPOCH
}

/// Why a devnet could not be laid out.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--validators must be between 1 and {MAX_VALIDATORS}; got {0}")]
    Validators(usize),
    #[error("ports: node {index} would listen on port {base}+{index}, beyond 65535")]
    Port { base: u16, index: usize },
    #[error("{path} line {line}: {fault}")]
    Ranges {
        path: String,
        line: usize,
        #[source]
        fault: RangeFault,
    },
    #[error("{path}: {source}")]
    Ported {
        path: String,
        #[source]
        source: GenesisError,
    },
    #[error(
        "{dir} holds a devnet made with other options ({existing}); run with --fresh to start over, or use another --data directory"
    )]
    Mismatch { dir: String, existing: String },
    #[error("{dir} exists but is not a devnet directory (no devnet.toml); refusing to delete it")]
    NotDevnet { dir: String },
    /// `devnet.toml` does not hold the options of a devnet.
    #[error("{path}: {source}")]
    Marker {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    /// The options could not be written as `devnet.toml`.
    #[error(transparent)]
    WriteMarker(#[from] toml::ser::Error),
    #[error("genesis: {0}")]
    Genesis(#[source] GenesisError),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A node's `config.toml` (as the devnet wrote it) does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start node {index}: {source}")]
    Spawn {
        index: usize,
        #[source]
        source: std::io::Error,
    },
}

/// What is wrong with a line of a ranges CSV.
#[derive(Debug, thiserror::Error)]
pub enum RangeFault {
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error("header must be prefix,operator; found {0}")]
    Header(String),
    #[error("expected 2 fields, found {0}")]
    Fields(usize),
    #[error("prefix {text:?}: {source}")]
    Prefix {
        text: String,
        #[source]
        source: NumberError,
    },
    #[error("operator {text:?}: {source}")]
    Operator {
        text: String,
        #[source]
        source: IdError,
    },
    #[error("operator {holder} is not one of this devnet's ({known})")]
    Unknown { holder: OperatorId, known: String },
    #[error("no ranges")]
    Empty,
    #[error(transparent)]
    Range(#[from] npchain_core::GenesisError),
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevnetError + '_ {
    move |source| DevnetError::Io { path: path.display().to_string(), source }
}

/// The devnet's operator id for validator `i`: OPA, OPB, …
pub fn operator_id(i: usize) -> OperatorId {
    format!("OP{}", (b'A' + i as u8) as char).parse().expect("valid operator id")
}

/// Demo ranges: for operator i a mobile block +4915x/+4916x/… and a Berlin fixed-line block.
pub fn demo_ranges(validators: usize) -> Vec<GenesisRange> {
    (0..validators)
        .flat_map(|i| {
            let mobile = format!("+491{}{}", 5 + i / 10, i % 10);
            let fixed = format!("+4930{}", 100 + i);
            [mobile, fixed].into_iter().map(move |p| {
                GenesisRange::new(p.parse().expect("valid prefix"), operator_id(i), None)
                    .expect("the plan has lengths for +49")
            })
        })
        .collect()
}

/// Reads a ranges CSV (header `prefix,operator`); every operator must be one of the devnet's.
pub fn read_ranges(path: &Path, validators: usize) -> Result<Vec<GenesisRange>, DevnetError> {
    let name = path.display().to_string();
    let err = |line: usize, fault: RangeFault| DevnetError::Ranges { path: name.clone(), line, fault };
    let csv = |line: usize| move |e: csv::Error| err(line, e.into());
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(csv(1))?;
    let header: Vec<String> = reader.headers().map_err(csv(1))?.iter().map(str::to_owned).collect();
    if header != ["prefix", "operator"] {
        return Err(err(1, RangeFault::Header(header.join(","))));
    }
    let known: Vec<OperatorId> = (0..validators).map(operator_id).collect();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(csv(line))?;
        if record.len() != 2 {
            return Err(err(line, RangeFault::Fields(record.len())));
        }
        let prefix: Prefix = record[0]
            .parse()
            .map_err(|source| err(line, RangeFault::Prefix { text: record[0].to_owned(), source }))?;
        let holder: OperatorId = record[1]
            .parse()
            .map_err(|source| err(line, RangeFault::Operator { text: record[1].to_owned(), source }))?;
        if !known.contains(&holder) {
            return Err(err(line, RangeFault::Unknown { holder, known: list(&known) }));
        }
        out.push(GenesisRange::new(prefix, holder, None).map_err(|e| err(line, e.into()))?);
    }
    if out.is_empty() {
        return Err(err(2, RangeFault::Empty));
    }
    Ok(out)
}

fn list(ids: &[OperatorId]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// One node of a laid-out devnet.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    pub index: usize,
    pub operator: OperatorId,
    pub validator_key: String,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: NodeConfig,
}

/// A laid-out devnet.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub options: Options,
    pub nodes: Vec<NodeLayout>,
    /// Whether this run created the files (false: resumed).
    pub created: bool,
}

fn port(base: u16, index: usize) -> Result<u16, DevnetError> {
    u16::try_from(usize::from(base) + index).map_err(|_| DevnetError::Port { base, index })
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Lays out (or finds) a devnet in `dir`. With `fresh`, deletes an existing devnet first.
///
/// `dir` is made absolute once, here: every path of the layout, the loaded node configs
/// among them, is absolute, so a config written back (`NodeConfig::to_toml`, as the bench
/// does to set the cache) resolves to the same files whatever the base it is read against.
/// (The files themselves keep paths relative to their directory: a devnet can be moved.)
pub fn prepare(
    dir: &Path,
    options: &Options,
    ranges_csv: Option<&Path>,
    ported_csv: Option<&Path>,
    fresh: bool,
    genesis_time: Timestamp,
) -> Result<Layout, DevnetError> {
    let dir = &std::path::absolute(dir).map_err(io(dir))?;
    if options.validators == 0 || options.validators > MAX_VALIDATORS {
        return Err(DevnetError::Validators(options.validators));
    }
    for base in [options.http_port, options.dns_port, options.p2p_port] {
        port(base, options.validators - 1)?;
    }
    let marker = dir.join("devnet.toml");
    if fresh && dir.exists() {
        if !marker.exists() {
            return Err(DevnetError::NotDevnet { dir: dir.display().to_string() });
        }
        fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    if marker.exists() {
        let text = fs::read_to_string(&marker).map_err(io(&marker))?;
        let existing: Options = toml::from_str(&text)
            .map_err(|source| DevnetError::Marker { path: marker.display().to_string(), source })?;
        let same_files = same_copy(ranges_csv, &dir.join("ranges.csv"))?
            && same_copy(ported_csv, &dir.join("ported.csv"))?;
        if &existing != options || !same_files {
            return Err(DevnetError::Mismatch {
                dir: dir.display().to_string(),
                existing: text.trim().replace('\n', ", "),
            });
        }
        return Ok(Layout {
            dir: dir.to_path_buf(),
            options: existing,
            nodes: nodes(dir, options)?,
            created: false,
        });
    }
    if dir.exists() && fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(DevnetError::NotDevnet { dir: dir.display().to_string() });
    }
    create(dir, options, ranges_csv, ported_csv, genesis_time)?;
    Ok(Layout {
        dir: dir.to_path_buf(),
        options: options.clone(),
        nodes: nodes(dir, options)?,
        created: true,
    })
}

/// Whether the given input file (or its absence) matches the devnet's stored copy.
fn same_copy(input: Option<&Path>, copy: &Path) -> Result<bool, DevnetError> {
    match input {
        None => Ok(!copy.exists()),
        Some(p) => Ok(copy.exists() && fs::read(p).map_err(io(p))? == fs::read(copy).map_err(io(copy))?),
    }
}

fn create(
    dir: &Path,
    options: &Options,
    ranges_csv: Option<&Path>,
    ported_csv: Option<&Path>,
    genesis_time: Timestamp,
) -> Result<(), DevnetError> {
    let n = options.validators;
    let ranges = match ranges_csv {
        Some(p) => read_ranges(p, n)?,
        None => demo_ranges(n),
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut validator_keys = Vec::new();
    let mut operators = Vec::new();
    for i in 0..n {
        let node_dir = dir.join(format!("node-{i}"));
        fs::create_dir_all(&node_dir).map_err(io(&node_dir))?;
        let validator = keys::generate();
        let operator = keys::generate();
        keys::write_key(&node_dir.join("validator.key"), &validator)?;
        keys::write_key(&node_dir.join("operator.key"), &operator)?;
        operators.push(GenesisOperator {
            id: operator_id(i),
            name: format!("Demo operator {}", operator_id(i)),
            operator_key: operator.public_key(),
            validator_key: validator.public_key(),
            routing_number: format!("+49D{:03X}", i + 1).parse().expect("valid routing number"),
        });
        validator_keys.push(validator.public_key());
    }
    let regulator = keys::generate();
    keys::write_key(&dir.join("regulator.key"), &regulator)?;
    let genesis = Genesis {
        chain_name: "npchain-devnet".into(),
        genesis_time,
        regulator_key: regulator.public_key(),
        region: Some("DE".parse().expect("region")),
        policy: Policy::default(),
        operators,
        ranges,
        blocks_per_epoch: options.blocks_per_epoch,
    };
    genesis.validate().map_err(DevnetError::Genesis)?;
    if let Some(p) = ported_csv {
        let file = fs::File::open(p).map_err(io(p))?;
        for entry in read_ported_csv(std::io::BufReader::new(file), genesis.region) {
            entry.map_err(|source| DevnetError::Ported { path: p.display().to_string(), source })?;
        }
        fs::copy(p, dir.join("ported.csv")).map_err(io(p))?;
    }
    if let Some(p) = ranges_csv {
        fs::copy(p, dir.join("ranges.csv")).map_err(io(p))?;
    }
    let genesis_path = dir.join("genesis.toml");
    fs::write(&genesis_path, genesis.to_toml()).map_err(io(&genesis_path))?;
    for i in 0..n {
        let node_dir = dir.join(format!("node-{i}"));
        let config = NodeConfig {
            data_dir: PathBuf::from("data"),
            genesis: PathBuf::from("../genesis.toml"),
            ported: ported_csv.map(|_| PathBuf::from("../ported.csv")),
            validator_key: PathBuf::from("validator.key"),
            operator_key: Some(PathBuf::from("operator.key")),
            admin_token: Some(PathBuf::from("admin.token")),
            p2p_listen: loopback(port(options.p2p_port, i)?),
            peers: (0..n)
                .filter(|j| *j != i)
                .map(|j| {
                    Ok(Peer { key: validator_keys[j].clone(), address: loopback(port(options.p2p_port, j)?) })
                })
                .collect::<Result<_, DevnetError>>()?,
            http_listen: loopback(port(options.http_port, i)?),
            http: npchain_node::config::HttpLimits::default(),
            dns: Some(DnsConfig {
                threads: options.dns_threads,
                ..DnsConfig::at(loopback(port(options.dns_port, i)?))
            }),
            p2p: npchain_node::config::P2pSettings::loopback(),
            timing: Timing::default(),
            storage_cache_mib: npchain_node::storage::DEFAULT_CACHE_MIB,
            notify: None,
        };
        keys::write_admin_token(&node_dir.join("admin.token"))?;
        let path = node_dir.join("config.toml");
        fs::write(&path, config.to_toml()).map_err(io(&path))?;
    }
    // The marker last: a devnet without it was not finished and can be made again.
    let marker = dir.join("devnet.toml");
    let text = toml::to_string(options)?;
    fs::write(&marker, text).map_err(io(&marker))
}

fn nodes(dir: &Path, options: &Options) -> Result<Vec<NodeLayout>, DevnetError> {
    (0..options.validators)
        .map(|i| {
            let node_dir = dir.join(format!("node-{i}"));
            let config_path = node_dir.join("config.toml");
            let config = NodeConfig::load(&config_path)?;
            let key = keys::read_key(&config.validator_key)?;
            Ok(NodeLayout {
                index: i,
                operator: operator_id(i),
                validator_key: commonware_formatting::hex(key.public_key().as_ref()),
                dir: node_dir,
                config_path,
                config,
            })
        })
        .collect()
}
