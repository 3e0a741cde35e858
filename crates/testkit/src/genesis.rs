//! One builder for every test genesis: operators and ranges by name, keys from [`crate::key`].

use crate::{GENESIS_TIME, key, op};
use commonware_cryptography::Signer as _;
use npchain_core::{
    DEFAULT_BLOCKS_PER_EPOCH, Genesis, GenesisOperator, GenesisRange, Policy, PublicKey, Timestamp,
};

/// Builds a [`Genesis`]. Defaults: genesis time [`crate::GENESIS_MS`], the regulator
/// `key("regulator")`, no region, the default policy, no operators or ranges, the default epoch
/// length.
#[derive(Debug, Clone)]
pub struct GenesisBuilder {
    genesis: Genesis,
}

impl GenesisBuilder {
    /// A genesis for the chain named `chain_name` (each test suite its own name, so their
    /// chain ids differ).
    pub fn new(chain_name: &str) -> Self {
        Self {
            genesis: Genesis {
                chain_name: chain_name.into(),
                genesis_time: GENESIS_TIME,
                regulator_key: key("regulator").public_key(),
                region: None,
                policy: Policy::default(),
                operators: Vec::new(),
                ranges: Vec::new(),
                blocks_per_epoch: DEFAULT_BLOCKS_PER_EPOCH,
            },
        }
    }

    /// The three operators OPA, OPB and OPC with routing numbers +49D001..+49D003, holding
    /// +49301, +49302 and +49303, in region DE: the network most tests use.
    pub fn three_operators(chain_name: &str) -> Self {
        Self::new(chain_name)
            .region("DE")
            .operator("OPA", "+49D001")
            .operator("OPB", "+49D002")
            .operator("OPC", "+49D003")
            .range("+49301", "OPA")
            .range("+49302", "OPB")
            .range("+49303", "OPC")
    }

    pub fn time(mut self, time: Timestamp) -> Self {
        self.genesis.genesis_time = time;
        self
    }

    /// The region typed numbers are read with, such as `DE`.
    pub fn region(mut self, region: &str) -> Self {
        self.genesis.region = Some(region.parse().unwrap_or_else(|e| panic!("test region {region:?}: {e}")));
        self
    }

    pub fn policy(mut self, policy: Policy) -> Self {
        self.genesis.policy = policy;
        self
    }

    /// Epochs of `n` blocks.
    pub fn blocks_per_epoch(mut self, n: u64) -> Self {
        self.genesis.blocks_per_epoch = std::num::NonZeroU64::new(n).expect("an epoch holds a block");
        self
    }

    pub fn regulator(mut self, key: PublicKey) -> Self {
        self.genesis.regulator_key = key;
        self
    }

    /// Operator `id` named `Operator <id>`, its operator key `key(id)`, its validator key
    /// `key("<id>/validator")`, and routing number `rn`.
    pub fn operator(self, id: &str, rn: &str) -> Self {
        let (operator, validator) = (key(id).public_key(), key(&format!("{id}/validator")).public_key());
        self.operator_with_keys(id, rn, operator, validator)
    }

    /// Operator `id` with the keys given.
    pub fn operator_with_keys(
        mut self,
        id: &str,
        rn: &str,
        operator: PublicKey,
        validator: PublicKey,
    ) -> Self {
        self.genesis.operators.push(GenesisOperator {
            id: op(id),
            name: format!("Operator {id}"),
            operator_key: operator,
            validator_key: validator,
            routing_number: rn.parse().unwrap_or_else(|e| panic!("test routing number {rn:?}: {e}")),
        });
        self
    }

    /// The range `prefix` held by `holder`, with the numbering plan's lengths.
    pub fn range(self, prefix: &str, holder: &str) -> Self {
        self.range_with(prefix, holder, None)
    }

    /// The range `prefix` held by `holder` with these lengths (`"12-13"`; `None`: the
    /// numbering plan's).
    pub fn range_with(mut self, prefix: &str, holder: &str, lengths: Option<&str>) -> Self {
        let prefix = prefix.parse().unwrap_or_else(|e| panic!("test prefix {prefix:?}: {e}"));
        let lengths = lengths.map(|l| l.parse().unwrap_or_else(|e| panic!("test lengths {l:?}: {e}")));
        let range =
            GenesisRange::new(prefix, op(holder), lengths).unwrap_or_else(|e| panic!("test range: {e}"));
        self.genesis.ranges.push(range);
        self
    }

    pub fn build(self) -> Genesis {
        self.genesis
    }
}
