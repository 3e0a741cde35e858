//! `npchain genesis`: the ceremony that starts a network on real hosts.
//!
//! Each operator runs `npchain init`, which writes its keys and a public operator file
//! (`operator.toml`, [`OperatorFile`]). The regulator collects those files and runs
//! `genesis assemble` with the ranges (CSV `prefix,operator`, as `npchain devnet --ranges` reads), the policy (TOML, or the
//! defaults), its own public key, the chain's name and start time and, optionally, the
//! migration list of numbers already ported: it checks them all, each refusal naming the file
//! and the entry, and writes `genesis.toml`, `peers.toml` (the `[[p2p.peers]]` every node's
//! config lists) and `genesis.chain-id`, the fingerprint. Every operator then runs
//! `genesis verify` on the files it was given before starting its node.
//!
//! The fingerprint is the chain id: the hash of the genesis and the migration list that a node
//! computes when it loads them (`Ledger::genesis`, run here over an in-memory store, so it is
//! the same function and refuses what a node would refuse), and that `GET /v1/status` reports
//! as `chain_id` once the node runs. Every signature on the network binds to it.

use super::print_json;
use crate::error::CliError;
use npchain_core::{
    Genesis, GenesisError, GenesisOperator, GenesisRange, Ledger, MemStore, NumberError, Policy, PolicyError,
    Prefix, Region, Timestamp,
    tx::{ChainId, valid_operator_name},
    types::{IdError, OperatorId, PublicKey, RoutingNumber, parse_public_key},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
};

/// An operator's public file, written by `npchain init` and read by `genesis assemble`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorFile {
    pub id: String,
    pub name: String,
    /// The key its node signs operator messages with, hex.
    pub operator_key: String,
    /// The node's consensus and p2p key, hex.
    pub validator_key: String,
    /// Where the other validators reach its node (the `[p2p] listen` port, as seen from outside).
    pub p2p_address: SocketAddr,
    pub routing_number: String,
}

/// Why a ceremony step refused its input. Each names the file (and line or field) at fault.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Toml {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path}: field {field}: {source}")]
    Field {
        path: String,
        field: &'static str,
        #[source]
        source: IdError,
    },
    #[error("{path}: name {name:?} must be 1 to 64 bytes, without control characters or surrounding blanks")]
    Name { path: String, name: String },
    #[error("{path}: operator {id} is already in {first}")]
    DuplicateId { path: String, id: OperatorId, first: String },
    #[error("{path}: {field} {key} is already the {first_field} of {first}")]
    DuplicateKey { path: String, field: &'static str, key: String, first: String, first_field: &'static str },
    #[error("{path}: routing number {rn} is already that of {first}")]
    DuplicateRoutingNumber { path: String, rn: RoutingNumber, first: String },
    #[error("{path}: p2p address {address} is already that of {first}")]
    DuplicateAddress { path: String, address: SocketAddr, first: String },
    #[error("{path} line 1: the header must be prefix,operator[,lengths]; found {found:?}")]
    RangesHeader { path: String, found: String },
    #[error("{path} line {line}: {source}")]
    RangeLengths {
        path: String,
        line: usize,
        #[source]
        source: npchain_core::LengthsError,
    },
    #[error("{path} line {line}: {source}")]
    Range {
        path: String,
        line: usize,
        #[source]
        source: npchain_core::GenesisError,
    },
    #[error("{path} line {line}: {source}")]
    RangesCsv {
        path: String,
        line: usize,
        #[source]
        source: csv::Error,
    },
    #[error("{path} line {line}: expected the header's fields (prefix,operator[,lengths]), found {found}")]
    RangeFields { path: String, line: usize, found: usize },
    #[error("{path} line {line}: {source}")]
    RangePrefix {
        path: String,
        line: usize,
        #[source]
        source: NumberError,
    },
    #[error("{path} line {line}: operator: {source}")]
    RangeHolder {
        path: String,
        line: usize,
        #[source]
        source: IdError,
    },
    #[error(
        "{path} line {line}: range {prefix} is assigned to {holder}, which is in none of the operator files"
    )]
    UnknownHolder { path: String, line: usize, prefix: Prefix, holder: OperatorId },
    #[error("{path} line {line}: range {prefix} is already on line {first}")]
    DuplicateRange { path: String, line: usize, prefix: Prefix, first: usize },
    #[error(
        "{path} line {line}: range {prefix} lies inside range {outer} of line {first} ({holder}); the ranges of a \
         genesis must not overlap (assign a sub-range later with a regulator transaction)"
    )]
    Overlap { path: String, line: usize, prefix: Prefix, outer: Prefix, first: usize, holder: OperatorId },
    #[error("{path}: {source}")]
    PolicyValue {
        path: String,
        #[source]
        source: PolicyError,
    },
    #[error("--regulator-key: {0}")]
    Regulator(#[source] IdError),
    #[error("--region: {0}")]
    Region(#[source] NumberError),
    #[error("--chain-name {0:?} must be 1 to 64 bytes, without control characters or surrounding blanks")]
    ChainName(String),
    #[error("no operator file given (--operator FILE, one per operator)")]
    NoOperators,
    #[error("{path}: {source}")]
    Genesis {
        path: String,
        #[source]
        source: GenesisError,
    },
    #[error("{path} exists; refusing to overwrite it")]
    Exists { path: String },
    #[error("--fingerprint {0:?} is not a chain id (64 hex digits)")]
    BadFingerprint(String),
    #[error(
        "{files}: the fingerprint is {found}, not {expected}; these are not the files the regulator assembled: \
         do not start a node with them"
    )]
    Mismatch { files: String, found: String, expected: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CeremonyError + '_ {
    move |source| CeremonyError::Io { path: path.display().to_string(), source }
}

#[derive(clap::Args)]
pub struct Args {
    /// Print the result as one JSON document, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// (Regulator) Check the operators' public files, ranges, policy and migration list, and
    /// write genesis.toml, peers.toml and the fingerprint (genesis.chain-id) into --out.
    Assemble(Assemble),
    /// (Every operator) Check that the genesis and migration list give the fingerprint the
    /// regulator published; exits 1 with both fingerprints if not.
    Verify {
        #[arg(long)]
        genesis: PathBuf,
        /// The migration list, if the network has one.
        #[arg(long)]
        ported: Option<PathBuf>,
        /// The fingerprint (chain id) the regulator published.
        #[arg(long)]
        fingerprint: String,
    },
}

#[derive(clap::Args)]
pub struct Assemble {
    /// An operator's public file (operator.toml from `npchain init`); one per operator.
    #[arg(long = "operator", required = true)]
    operators: Vec<PathBuf>,
    /// The number ranges: CSV with the header prefix,operator (the range holder).
    #[arg(long)]
    ranges: PathBuf,
    /// The porting policy (TOML, every field of `[policy]`) [default: the built-in policy].
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The regulator's public key, hex.
    #[arg(long)]
    regulator_key: String,
    #[arg(long)]
    chain_name: String,
    /// The block time the chain starts at, Unix milliseconds.
    #[arg(long)]
    genesis_time: u64,
    /// The region national number forms are read with (ISO 3166, e.g. DE).
    #[arg(long)]
    region: Option<String>,
    /// The migration list of numbers already ported (CSV number,operator[,rn]).
    #[arg(long)]
    ported: Option<PathBuf>,
    /// Blocks per epoch: validator-set changes take effect at the next epoch boundary.
    #[arg(long, default_value_t = npchain_core::genesis::DEFAULT_BLOCKS_PER_EPOCH)]
    blocks_per_epoch: std::num::NonZeroU64,
    /// Where to write the files (created if missing; existing files are not overwritten).
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.action {
        Command::Assemble(a) => assemble(a, args.json)?,
        Command::Verify { genesis, ported, fingerprint } => {
            verify(&genesis, ported.as_deref(), &fingerprint, args.json)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn assemble(a: Assemble, json: bool) -> Result<(), CeremonyError> {
    let region = a.region.map(|r| r.parse::<Region>()).transpose().map_err(CeremonyError::Region)?;
    let regulator_key = parse_public_key(&a.regulator_key).map_err(CeremonyError::Regulator)?;
    if !valid_operator_name(&a.chain_name) {
        return Err(CeremonyError::ChainName(a.chain_name));
    }
    let (operators, peers) = read_operators(&a.operators, &regulator_key)?;
    let ranges = read_ranges(&a.ranges, region, &operators)?;
    let policy = match &a.policy {
        Some(path) => read_policy(path)?,
        None => Policy::default(),
    };
    let genesis = Genesis {
        chain_name: a.chain_name,
        genesis_time: Timestamp(a.genesis_time),
        regulator_key,
        region,
        policy,
        operators,
        ranges,
        blocks_per_epoch: a.blocks_per_epoch,
    };
    genesis.validate().map_err(|source| CeremonyError::Genesis { path: "genesis".into(), source })?;
    // What the nodes will read: the TOML written, read back.
    let text = genesis.to_toml();
    let genesis = Genesis::from_toml(&text)
        .map_err(|source| CeremonyError::Genesis { path: "genesis.toml".into(), source })?;
    let chain = chain_id(&genesis, "genesis.toml", a.ported.as_deref())?;
    let with_list = if a.ported.is_some() { ", with the migration list" } else { "" };
    let header = format!(
        "# npchain genesis of {:?}, written by `npchain genesis assemble`.\n# Fingerprint (chain id{with_list}): \
         {chain}\n# Check it with `npchain genesis verify` before starting a node.\n\n",
        genesis.chain_name,
    );
    let files = [
        ("genesis.toml", format!("{header}{text}")),
        ("peers.toml", peers_toml(&genesis, &peers)),
        ("genesis.chain-id", format!("{chain}\n")),
    ];
    std::fs::create_dir_all(&a.out).map_err(io(&a.out))?;
    if let Some(path) = files.iter().map(|(name, _)| a.out.join(name)).find(|p| p.exists()) {
        return Err(CeremonyError::Exists { path: path.display().to_string() });
    }
    for (name, content) in &files {
        let path = a.out.join(name);
        std::fs::write(&path, content).map_err(io(&path))?;
    }
    if json {
        print_json(&json!({
            "fingerprint": chain.to_string(),
            "genesis": a.out.join("genesis.toml").display().to_string(),
            "peers": a.out.join("peers.toml").display().to_string(),
            "operators": genesis.operators.len(),
            "ranges": genesis.ranges.len(),
        }));
    } else {
        println!(
            "genesis of {:?}: {} operators, {} ranges; written to {}",
            genesis.chain_name,
            genesis.operators.len(),
            genesis.ranges.len(),
            a.out.display()
        );
        println!("fingerprint (chain id{with_list}): {chain}");
        let (list, flag) = if a.ported.is_some() {
            (", the migration list", " --ported <migration list>")
        } else {
            ("", "")
        };
        println!(
            "give every operator genesis.toml, peers.toml{list} and the fingerprint; each checks it with"
        );
        println!("  npchain genesis verify --genesis genesis.toml{flag} --fingerprint {chain}");
    }
    Ok(())
}

fn verify(genesis: &Path, ported: Option<&Path>, fingerprint: &str, json: bool) -> Result<(), CeremonyError> {
    let expected = fingerprint.trim().to_ascii_lowercase();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CeremonyError::BadFingerprint(fingerprint.to_owned()));
    }
    let name = genesis.display().to_string();
    let text = std::fs::read_to_string(genesis).map_err(io(genesis))?;
    let g =
        Genesis::from_toml(&text).map_err(|source| CeremonyError::Genesis { path: name.clone(), source })?;
    let found = chain_id(&g, &name, ported)?.to_string();
    let files = match ported {
        Some(p) => format!("{name} with {}", p.display()),
        None => name,
    };
    if found != expected {
        return Err(CeremonyError::Mismatch { files, found, expected });
    }
    if json {
        print_json(&json!({ "fingerprint": found, "ok": true }));
    } else {
        println!(
            "{files}: fingerprint {found} matches; chain {:?}, {} operators",
            g.chain_name,
            g.operators.len()
        );
    }
    Ok(())
}

/// The chain id a node computes from `genesis` and the migration list at `ported`.
fn chain_id(genesis: &Genesis, name: &str, ported: Option<&Path>) -> Result<ChainId, CeremonyError> {
    let ledger = match ported {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(io(path))?;
            let entries = npchain_core::read_ported_csv(std::io::BufReader::new(file), genesis.region);
            Ledger::genesis(MemStore::new(), genesis, entries)
                .map_err(|source| CeremonyError::Genesis { path: path.display().to_string(), source })?
        }
        None => Ledger::genesis(MemStore::new(), genesis, std::iter::empty())
            .map_err(|source| CeremonyError::Genesis { path: name.to_owned(), source })?,
    };
    Ok(ledger.chain_id())
}

/// Each validator's key and p2p address, as the operator files give them.
type PeerAddresses = Vec<(PublicKey, SocketAddr)>;

/// The operator files, checked one by one and against each other (ids, keys, routing numbers,
/// p2p addresses: none twice, no key the regulator's), with each validator's p2p address.
fn read_operators(
    paths: &[PathBuf],
    regulator: &PublicKey,
) -> Result<(Vec<GenesisOperator>, PeerAddresses), CeremonyError> {
    if paths.is_empty() {
        return Err(CeremonyError::NoOperators);
    }
    let mut ops: Vec<(String, GenesisOperator)> = Vec::new();
    let mut keys: HashMap<PublicKey, (String, &'static str)> = HashMap::new();
    keys.insert(regulator.clone(), ("--regulator-key".into(), "regulator key"));
    let mut addresses: HashMap<SocketAddr, String> = HashMap::new();
    let mut peers = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let file: OperatorFile =
            toml::from_str(&text).map_err(|source| CeremonyError::Toml { path: name.clone(), source })?;
        let field = |field, source| CeremonyError::Field { path: name.clone(), field, source };
        let op = GenesisOperator {
            id: file.id.parse().map_err(|e| field("id", e))?,
            name: file.name.clone(),
            operator_key: parse_public_key(&file.operator_key).map_err(|e| field("operator_key", e))?,
            validator_key: parse_public_key(&file.validator_key).map_err(|e| field("validator_key", e))?,
            routing_number: file.routing_number.parse().map_err(|e| field("routing_number", e))?,
        };
        if !valid_operator_name(&op.name) {
            return Err(CeremonyError::Name { path: name, name: file.name });
        }
        if let Some((first, _)) = ops.iter().find(|(_, o)| o.id == op.id) {
            return Err(CeremonyError::DuplicateId { path: name, id: op.id, first: first.clone() });
        }
        if let Some((first, o)) = ops.iter().find(|(_, o)| o.routing_number == op.routing_number) {
            return Err(CeremonyError::DuplicateRoutingNumber {
                path: name,
                rn: op.routing_number,
                first: format!("{first} ({})", o.id),
            });
        }
        for (field, key) in [("operator_key", &op.operator_key), ("validator_key", &op.validator_key)] {
            if let Some((first, first_field)) = keys.get(key) {
                return Err(CeremonyError::DuplicateKey {
                    path: name,
                    field,
                    key: key.to_string(),
                    first: first.clone(),
                    first_field,
                });
            }
            keys.insert(key.clone(), (name.clone(), field));
        }
        if let Some(first) = addresses.get(&file.p2p_address) {
            return Err(CeremonyError::DuplicateAddress {
                path: name,
                address: file.p2p_address,
                first: first.clone(),
            });
        }
        addresses.insert(file.p2p_address, name.clone());
        peers.push((op.validator_key.clone(), file.p2p_address));
        ops.push((name, op));
    }
    Ok((ops.into_iter().map(|(_, o)| o).collect(), peers))
}

/// The ranges CSV (`prefix,operator[,lengths]`): each prefix read with the region, held by an
/// operator of the files, none twice and none inside another; a range without lengths (no
/// column, or an empty field) has the numbering plan's.
fn read_ranges(
    path: &Path,
    region: Option<Region>,
    ops: &[GenesisOperator],
) -> Result<Vec<GenesisRange>, CeremonyError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(file);
    let header: Vec<String> = csv
        .headers()
        .map_err(|source| CeremonyError::RangesCsv { path: name.clone(), line: 1, source })?
        .iter()
        .map(str::to_owned)
        .collect();
    let columns = header.len();
    if header != ["prefix", "operator"] && header != ["prefix", "operator", "lengths"] {
        return Err(CeremonyError::RangesHeader { path: name, found: header.join(",") });
    }
    let mut ranges = Vec::new();
    let mut lines: HashMap<Prefix, (usize, OperatorId)> = HashMap::new();
    for (i, record) in csv.into_records().enumerate() {
        let line = i + 2;
        let record =
            record.map_err(|source| CeremonyError::RangesCsv { path: name.clone(), line, source })?;
        if record.len() != columns {
            return Err(CeremonyError::RangeFields { path: name, line, found: record.len() });
        }
        let prefix = Prefix::parse(&record[0], region).map_err(|source| CeremonyError::RangePrefix {
            path: name.clone(),
            line,
            source,
        })?;
        let holder: OperatorId = record[1].parse().map_err(|source| CeremonyError::RangeHolder {
            path: name.clone(),
            line,
            source,
        })?;
        if !ops.iter().any(|o| o.id == holder) {
            return Err(CeremonyError::UnknownHolder { path: name, line, prefix, holder });
        }
        if let Some((first, _)) = lines.get(&prefix) {
            return Err(CeremonyError::DuplicateRange { path: name, line, prefix, first: *first });
        }
        lines.insert(prefix, (line, holder.clone()));
        let lengths = match record.get(2).filter(|l| !l.is_empty()) {
            Some(text) => Some(text.parse().map_err(|source| CeremonyError::RangeLengths {
                path: name.clone(),
                line,
                source,
            })?),
            None => None,
        };
        let range = GenesisRange::new(prefix, holder, lengths).map_err(|source| CeremonyError::Range {
            path: name.clone(),
            line,
            source,
        })?;
        ranges.push(range);
    }
    // one inside another (in either order of the lines): named by the inner range's line
    for r in &ranges {
        if let Some((outer, (first, holder))) = r.prefix.stems().find_map(|s| lines.get_key_value(&s)) {
            return Err(CeremonyError::Overlap {
                path: name,
                line: lines[&r.prefix].0,
                prefix: r.prefix,
                outer: *outer,
                first: *first,
                holder: holder.clone(),
            });
        }
    }
    Ok(ranges)
}

fn read_policy(path: &Path) -> Result<Policy, CeremonyError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let policy: Policy =
        toml::from_str(&text).map_err(|source| CeremonyError::Toml { path: name.clone(), source })?;
    policy.validate().map_err(|source| CeremonyError::PolicyValue { path: name, source })?;
    Ok(policy)
}

/// The `[[p2p.peers]]` entries of every node's config, each validator with its operator.
fn peers_toml(genesis: &Genesis, peers: &[(PublicKey, SocketAddr)]) -> String {
    let mut out = String::from(
        "# The validators of the genesis, for the [p2p] section of every node's config (a node may\n# leave out its own entry).\n",
    );
    for (op, (key, address)) in genesis.operators.iter().zip(peers) {
        out.push_str(&format!(
            "\n# {} ({})\n[[p2p.peers]]\nkey = \"{key}\"\naddress = \"{address}\"\n",
            op.id, op.name
        ));
    }
    out
}
