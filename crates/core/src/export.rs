//! What a verified export needs from the ledger: the state hash recomputed from table entries
//! ([`StateAccumulator`], the same sum the ledger keeps), and the routing data an entry says
//! ([`RoutingRow`]: operators, ranges, ported numbers), so that routing files written from the
//! entries can be checked against them.
//!
//! The state hash covers every entry of every table, not only routing data: an export that can
//! be checked against a certified state hash carries all entries, and its routing files are
//! derived from them.

use crate::{
    ledger::keys::number_from_key,
    number::{E164, Prefix},
    records::{NumberRecord, OperatorRecord, RangeRecord},
    state_hash::Delta,
    store::{StoreError, Table, entry_digest_input},
    types::{Digest, OperatorId},
};
use commonware_codec::{Copying, Decode as _, Read};
use commonware_cryptography::lthash::LtHash;

impl Table {
    /// The table with this code, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| *t as u8 == code)
    }
}

/// The state hash of a set of table entries, folded in one at a time (any order).
#[derive(Debug, Clone)]
pub struct StateAccumulator {
    sum: Delta,
    entries: u64,
}

impl Default for StateAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl StateAccumulator {
    pub fn new() -> Self {
        Self { sum: Delta::default(), entries: 0 }
    }

    /// Adds one entry.
    pub fn add(&mut self, table: Table, key: &[u8], value: &[u8]) {
        self.sum.add(&entry_digest_input(table, key, value));
        self.entries += 1;
    }

    /// Entries added.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The state hash of the entries added: equal to [`crate::Ledger::state_hash`] exactly
    /// when they are the ledger's entries.
    pub fn state_hash(&self) -> Digest {
        let mut sum = LtHash::new();
        self.sum.fold_into(&mut sum);
        Digest(sum.checksum().0)
    }
}

/// The routing data one table entry holds.
#[derive(Debug, Clone)]
pub enum RoutingRow {
    /// An operator (admitted, possibly retired).
    Operator(OperatorRecord),
    /// An assigned range and its holder.
    Range { prefix: Prefix, range: RangeRecord },
    /// A number served by another operator than its range holder.
    Ported { number: E164, operator: OperatorId },
}

impl RoutingRow {
    /// The routing data of the entry, if it holds any: operators, ranges and ported numbers;
    /// `None` for every other entry (orders, logs, timers, a number record without a port).
    pub fn of(table: Table, key: &[u8], value: &[u8]) -> Result<Option<Self>, StoreError> {
        Ok(match table {
            Table::Operators => Some(Self::Operator(decode(table, value)?)),
            Table::Ranges => Some(Self::Range { prefix: decode(table, key)?, range: decode(table, value)? }),
            Table::Numbers => {
                let record: NumberRecord = decode(table, value)?;
                match record.ported_to {
                    Some(operator) => Some(Self::Ported { number: number_from_key(key)?, operator }),
                    None => None,
                }
            }
            _ => None,
        })
    }
}

fn decode<T: Read<Cfg = ()>>(table: Table, bytes: &[u8]) -> Result<T, StoreError> {
    T::decode_cfg(Copying(bytes), &()).map_err(|source| StoreError::Corrupt { what: table.name(), source })
}
