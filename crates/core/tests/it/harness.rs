//! The core tests' network: the testkit's three operators (OPA, OPB, OPC holding +49301..3),
//! with the policy each test chooses.

use npchain_core::{Genesis, Policy, PortedEntry};
pub use npchain_testkit::{GENESIS_MS, Net, key, num, op};

/// The test genesis with `policy`.
pub fn genesis(policy: Policy) -> Genesis {
    npchain_testkit::GenesisBuilder::three_operators("npchain-test").policy(policy).build()
}

/// A ledger of [`genesis`]`(policy)` with a block clock.
pub fn net(policy: Policy) -> Net {
    Net::new(&genesis(policy))
}

/// [`net`] with `ported` as the migration list.
pub fn net_with_ported(policy: Policy, ported: Vec<PortedEntry>) -> Net {
    Net::with_ported(&genesis(policy), ported)
}
