//! The genesis: regulator, initial operators, ranges, policy and epoch length (TOML), plus an
//! optional migration list of already-ported numbers from a legacy database (CSV).
//!
//! The canonical encoding (hashed into the chain id) is the one first frozen; the epoch length,
//! added later, is appended only when it differs from [`DEFAULT_BLOCKS_PER_EPOCH`] (a marker
//! byte `0xFF`, then the length as u64), so a genesis that leaves it at the default keeps its
//! chain id. The ranges' lengths, added later still, follow the ranges when there are any (a
//! marker byte `0xFE`, then each range's lengths in the ranges' order, two bytes each): they are
//! the resolved lengths the ledger stores, so the chain id commits to them. Neither marker can
//! start a migration-list entry, which the chain id hashes next (a number's big-endian value
//! starts with a zero byte).
//!
//! A range's `lengths` (`"12-13"`, `"10,12"`) are the digit counts of its numbers in
//! international form; a range that gives none has the numbering plan's for its country code
//! ([`Lengths::plan`], from the pinned `phonenumber` metadata), resolved when the genesis is
//! read.

use crate::{
    lengths::{Lengths, LengthsError},
    number::{E164, NumberError, Prefix, Region},
    policy::{Policy, PolicyError},
    store::StoreError,
    tx::{MAX_NAME_LEN, valid_operator_name},
    types::{IdError, KeyId, OperatorId, PublicKey, RoutingNumber, Timestamp, parse_public_key},
};
use bytes::BufMut;
use commonware_codec::{EncodeSize, Write};
use serde::{Deserialize, Serialize};
use std::{collections::HashSet, num::NonZeroU64};

/// The epoch length of a genesis that sets none, in blocks.
pub const DEFAULT_BLOCKS_PER_EPOCH: NonZeroU64 = NonZeroU64::new(1000).expect("not zero");
/// In the canonical encoding: an epoch length other than the default follows.
const EPOCH_LENGTH_FOLLOWS: u8 = 0xFF;
/// In the canonical encoding: the ranges' lengths follow.
const RANGE_LENGTHS_FOLLOW: u8 = 0xFE;

/// Why a genesis (or its migration list) is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    #[error("genesis TOML: {0}")]
    Toml(#[source] toml::de::Error),
    #[error("genesis field {field}: {source}")]
    Field {
        field: String,
        #[source]
        source: IdError,
    },
    #[error("genesis field {field}: {source}")]
    Number {
        field: String,
        #[source]
        source: NumberError,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("genesis blocks_per_epoch is 0; an epoch holds at least one block")]
    ZeroBlocksPerEpoch,
    #[error("genesis names no operators; a network needs at least one")]
    NoOperators,
    #[error("operator {0} appears twice in the genesis")]
    DuplicateOperator(OperatorId),
    #[error("operator {operator}: name must be 1 to {MAX_NAME_LEN} bytes without control characters")]
    BadName { operator: OperatorId },
    #[error("key {key} is used twice in the genesis (every operator and validator key must be unique)")]
    DuplicateKey { key: KeyId },
    #[error("range {prefix} appears twice in the genesis")]
    DuplicateRange { prefix: Prefix },
    #[error("range {prefix} is assigned to {holder}, which is not an operator of the genesis")]
    RangeUnknownHolder { prefix: Prefix, holder: OperatorId },
    #[error("genesis field {field}: {source}")]
    Lengths {
        field: String,
        #[source]
        source: LengthsError,
    },
    #[error(
        "range {prefix}: lengths {lengths} are not all possible; its numbers may have {allowed} digits (more \
         than the prefix, country code included)"
    )]
    RangeLengths { prefix: Prefix, lengths: Lengths, allowed: Lengths },
    #[error(
        "range {prefix}: the numbering plan gives no lengths for it (it holds no whole assigned country code, or \
         the plan has no number longer than it); give its lengths, e.g. lengths = \"11-12\""
    )]
    RangeNoPlan { prefix: Prefix },
    #[error("migration list line 1: header must be number,operator[,rn]; found {found}")]
    PortedHeader { found: String },
    #[error("migration list line {line}: {source}")]
    PortedCsv {
        line: usize,
        #[source]
        source: csv::Error,
    },
    #[error("migration list line {line}: expected 2 or 3 fields, found {found}")]
    PortedFieldCount { line: usize, found: usize },
    #[error("migration list line {line}: {source}")]
    PortedId {
        line: usize,
        #[source]
        source: IdError,
    },
    #[error("migration list line {line}: {source}")]
    PortedNumber {
        line: usize,
        #[source]
        source: NumberError,
    },
    #[error("migration list line {line}: operator {operator} is not an operator of the genesis")]
    PortedUnknownOperator { line: usize, operator: OperatorId },
    #[error("migration list line {line}: number {number} is in no range of the genesis")]
    PortedOutsideRanges { line: usize, number: E164 },
    #[error(
        "migration list line {line}: number {number} has {digits} digits, but the numbers of its range {range} \
         have {lengths}"
    )]
    PortedLength { line: usize, number: E164, digits: u8, range: Prefix, lengths: Lengths },
    #[error("migration list: number {number} is listed more than once")]
    PortedDuplicate { number: E164 },
    #[error(
        "migration list line {line}: routing number {got} differs from {operator}'s {expected}; per-number routing numbers are not supported"
    )]
    PortedRoutingNumber { line: usize, operator: OperatorId, expected: RoutingNumber, got: RoutingNumber },
    #[error("the store already holds a ledger; a genesis is written only into an empty store")]
    StoreNotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An operator of the genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisOperator {
    pub id: OperatorId,
    pub name: String,
    pub operator_key: PublicKey,
    pub validator_key: PublicKey,
    pub routing_number: RoutingNumber,
}

/// A number range of the genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisRange {
    pub prefix: Prefix,
    pub holder: OperatorId,
    /// The lengths of its numbers, resolved: as given, or the numbering plan's.
    pub lengths: Lengths,
}

impl GenesisRange {
    /// The range with `lengths`, or without them the numbering plan's ([`Lengths::plan`]);
    /// refused when the lengths are not ones the prefix allows, or the plan has none.
    pub fn new(prefix: Prefix, holder: OperatorId, lengths: Option<Lengths>) -> Result<Self, GenesisError> {
        let lengths = match lengths {
            Some(l) => l,
            None => Lengths::plan(prefix).ok_or(GenesisError::RangeNoPlan { prefix })?.1,
        };
        let range = Self { prefix, holder, lengths };
        range.check()?;
        Ok(range)
    }

    fn check(&self) -> Result<(), GenesisError> {
        let allowed = Lengths::any_for(self.prefix);
        if !self.lengths.is_subset(allowed) {
            return Err(GenesisError::RangeLengths { prefix: self.prefix, lengths: self.lengths, allowed });
        }
        Ok(())
    }
}

/// The network's starting point. Its canonical encoding is hashed into the chain id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// A human name for the network ("npchain-devnet", "de-mnp").
    pub chain_name: String,
    /// The block time the chain starts at; every block time is at or after it.
    pub genesis_time: Timestamp,
    pub regulator_key: PublicKey,
    /// Region for numbers written in national form (in the migration list, CLIs and APIs).
    pub region: Option<Region>,
    pub policy: Policy,
    pub operators: Vec<GenesisOperator>,
    pub ranges: Vec<GenesisRange>,
    /// Blocks per epoch: epoch `e` holds heights `e * n ..= e * n + n - 1` (the genesis, height
    /// 0, is in epoch 0), and the validator set changes only between epochs.
    pub blocks_per_epoch: NonZeroU64,
}

/// One line of the migration list: a number already ported to `operator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortedEntry {
    pub number: E164,
    pub operator: OperatorId,
    /// If given, must equal the operator's routing number.
    pub routing_number: Option<RoutingNumber>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawGenesis {
    chain_name: String,
    genesis_time_ms: u64,
    regulator_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default)]
    policy: Policy,
    operators: Vec<RawOperator>,
    #[serde(default)]
    ranges: Vec<RawRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blocks_per_epoch: Option<u64>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawOperator {
    id: String,
    name: String,
    operator_key: String,
    validator_key: String,
    routing_number: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    prefix: String,
    holder: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lengths: Option<String>,
}

fn field<T>(name: impl Into<String>, r: Result<T, IdError>) -> Result<T, GenesisError> {
    r.map_err(|source| GenesisError::Field { field: name.into(), source })
}

impl Genesis {
    /// Reads and validates a genesis written in TOML.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let raw: RawGenesis = toml::from_str(text).map_err(GenesisError::Toml)?;
        let region = raw
            .region
            .map(|r| r.parse::<Region>())
            .transpose()
            .map_err(|source| GenesisError::Number { field: "region".into(), source })?;
        let mut operators = Vec::new();
        for (i, op) in raw.operators.into_iter().enumerate() {
            let at = |f: &str| format!("operators[{i}].{f}");
            operators.push(GenesisOperator {
                id: field(at("id"), op.id.parse())?,
                name: op.name,
                operator_key: field(at("operator_key"), parse_public_key(&op.operator_key))?,
                validator_key: field(at("validator_key"), parse_public_key(&op.validator_key))?,
                routing_number: field(at("routing_number"), op.routing_number.parse())?,
            });
        }
        let mut ranges = Vec::new();
        for (i, r) in raw.ranges.into_iter().enumerate() {
            let prefix = Prefix::parse(&r.prefix, region)
                .map_err(|source| GenesisError::Number { field: format!("ranges[{i}].prefix"), source })?;
            let holder = field(format!("ranges[{i}].holder"), r.holder.parse())?;
            let lengths =
                r.lengths.map(|l| l.parse::<Lengths>()).transpose().map_err(|source| {
                    GenesisError::Lengths { field: format!("ranges[{i}].lengths"), source }
                })?;
            ranges.push(GenesisRange::new(prefix, holder, lengths)?);
        }
        let blocks_per_epoch = match raw.blocks_per_epoch {
            None => DEFAULT_BLOCKS_PER_EPOCH,
            Some(n) => NonZeroU64::new(n).ok_or(GenesisError::ZeroBlocksPerEpoch)?,
        };
        let genesis = Self {
            blocks_per_epoch,
            chain_name: raw.chain_name,
            genesis_time: Timestamp(raw.genesis_time_ms),
            regulator_key: field("regulator_key", parse_public_key(&raw.regulator_key))?,
            region,
            policy: raw.policy,
            operators,
            ranges,
        };
        genesis.validate()?;
        Ok(genesis)
    }

    /// Writes the genesis as TOML that [`Genesis::from_toml`] reads back.
    pub fn to_toml(&self) -> String {
        let raw = RawGenesis {
            chain_name: self.chain_name.clone(),
            genesis_time_ms: self.genesis_time.millis(),
            regulator_key: self.regulator_key.to_string(),
            region: self.region.map(|r| r.to_string()),
            policy: self.policy.clone(),
            operators: self
                .operators
                .iter()
                .map(|o| RawOperator {
                    id: o.id.to_string(),
                    name: o.name.clone(),
                    operator_key: o.operator_key.to_string(),
                    validator_key: o.validator_key.to_string(),
                    routing_number: o.routing_number.to_string(),
                })
                .collect(),
            ranges: self
                .ranges
                .iter()
                .map(|r| RawRange {
                    prefix: r.prefix.to_string(),
                    holder: r.holder.to_string(),
                    lengths: Some(r.lengths.to_string()),
                })
                .collect(),
            blocks_per_epoch: (self.blocks_per_epoch != DEFAULT_BLOCKS_PER_EPOCH)
                .then_some(self.blocks_per_epoch.get()),
        };
        toml::to_string(&raw).expect("genesis serialises")
    }

    /// Checks the genesis is self-consistent.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.policy.validate()?;
        if self.operators.is_empty() {
            return Err(GenesisError::NoOperators);
        }
        let mut ids = HashSet::new();
        let mut keys = HashSet::new();
        keys.insert(self.regulator_key.clone());
        for op in &self.operators {
            if !ids.insert(op.id.clone()) {
                return Err(GenesisError::DuplicateOperator(op.id.clone()));
            }
            if !valid_operator_name(&op.name) {
                return Err(GenesisError::BadName { operator: op.id.clone() });
            }
            for key in [&op.operator_key, &op.validator_key] {
                if !keys.insert(key.clone()) {
                    return Err(GenesisError::DuplicateKey { key: key.into() });
                }
            }
        }
        let mut prefixes = HashSet::new();
        for r in &self.ranges {
            if !prefixes.insert(r.prefix) {
                return Err(GenesisError::DuplicateRange { prefix: r.prefix });
            }
            if !ids.contains(&r.holder) {
                return Err(GenesisError::RangeUnknownHolder { prefix: r.prefix, holder: r.holder.clone() });
            }
            r.check()?;
        }
        Ok(())
    }
}

impl Write for Genesis {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_name.len().write(buf);
        buf.put_slice(self.chain_name.as_bytes());
        self.genesis_time.write(buf);
        self.regulator_key.write(buf);
        self.policy.write(buf);
        self.operators.len().write(buf);
        for op in &self.operators {
            op.id.write(buf);
            op.name.len().write(buf);
            buf.put_slice(op.name.as_bytes());
            op.operator_key.write(buf);
            op.validator_key.write(buf);
            op.routing_number.write(buf);
        }
        self.ranges.len().write(buf);
        for r in &self.ranges {
            r.prefix.write(buf);
            r.holder.write(buf);
        }
        if !self.ranges.is_empty() {
            RANGE_LENGTHS_FOLLOW.write(buf);
            for r in &self.ranges {
                r.lengths.write(buf);
            }
        }
        if self.blocks_per_epoch != DEFAULT_BLOCKS_PER_EPOCH {
            EPOCH_LENGTH_FOLLOWS.write(buf);
            self.blocks_per_epoch.get().write(buf);
        }
    }
}

impl EncodeSize for Genesis {
    fn encode_size(&self) -> usize {
        let mut buf = Vec::new();
        self.write(&mut buf);
        buf.len()
    }
}

/// Reads a migration list: CSV with header `number,operator[,rn]`. The number field is read by
/// [`E164::parse`] exactly as it stands (no space trimmed: the grammar of every interface),
/// national forms with `region`; the other fields may carry spaces around them. Yields one entry
/// per line, or an error naming the line.
pub fn read_ported_csv<R: std::io::Read>(
    reader: R,
    region: Option<Region>,
) -> impl Iterator<Item = Result<PortedEntry, GenesisError>> {
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::Headers).flexible(true).from_reader(reader);
    let header_ok = match csv.headers() {
        Ok(h) => {
            let cols: Vec<&str> = h.iter().collect();
            if cols == ["number", "operator"] || cols == ["number", "operator", "rn"] {
                Ok(())
            } else {
                Err(GenesisError::PortedHeader { found: cols.join(",") })
            }
        }
        Err(source) => Err(GenesisError::PortedCsv { line: 1, source }),
    };
    let header_err = header_ok.err();
    let failed = header_err.is_some();
    header_err.into_iter().map(Err).chain(csv.into_records().take_while(move |_| !failed).enumerate().map(
        move |(i, rec)| {
            let line = i + 2;
            let bad_id = |source: IdError| GenesisError::PortedId { line, source };
            let rec = rec.map_err(|source| GenesisError::PortedCsv { line, source })?;
            if rec.len() < 2 || rec.len() > 3 {
                return Err(GenesisError::PortedFieldCount { line, found: rec.len() });
            }
            let number =
                E164::parse(&rec[0], region).map_err(|source| GenesisError::PortedNumber { line, source })?;
            let operator = rec[1].trim().parse().map_err(bad_id)?;
            let routing_number = match rec.get(2).map(str::trim).filter(|s| !s.is_empty()) {
                Some(rn) => Some(rn.parse().map_err(bad_id)?),
                None => None,
            };
            Ok(PortedEntry { number, operator, routing_number })
        },
    ))
}
