//! The node's record of finalized blocks (header, outcome per transaction, events), kept in its
//! own redb file beside the ledger, with its indexes: transaction id → height, and operator →
//! orders. It is not part of the state hash: it is what the node reports about blocks, and it is
//! rewritten (same keys, same values) if a block is delivered again after a crash.

use crate::{
    api::BlockInfo,
    chain::{BlockLog, bindings, requested_ports},
    storage::{backend, open_database},
};
use npchain_core::{
    StoreError,
    types::{PortId, TxId},
};
use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::Path;

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Transaction id → height of its block.
const TX_INDEX: TableDefinition<&[u8], u64> = TableDefinition::new("tx_index");
/// Operator id ‖ 0 ‖ port id → (): the orders each operator is donor or recipient of.
const OPERATOR_PORTS: TableDefinition<&[u8], ()> = TableDefinition::new("operator_ports");
/// Subscriber key (hex) ‖ `/` ‖ number → (): every number ever bound to each key.
const KEY_NUMBERS: TableDefinition<&str, ()> = TableDefinition::new("key_numbers");

fn operator_port_key(operator: &str, port: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(operator.len() + 1 + port.len());
    key.extend_from_slice(operator.as_bytes());
    key.push(0);
    key.extend_from_slice(port);
    key
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt { what: "block log", source: commonware_codec::Error::Invalid("BlockInfo", what) }
}

/// Finalized blocks by height, in redb.
#[derive(Debug)]
pub struct RedbBlockLog {
    db: Database,
}

impl RedbBlockLog {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // Reads of the log are recent blocks and point lookups: a small cache, so that the
        // node's memory does not grow with the chain (redb's default is 1 GiB a database).
        let db = open_database(path, BLOCK_LOG_CACHE_BYTES, |txn| {
            txn.open_table(BLOCKS)?;
            txn.open_table(TX_INDEX)?;
            txn.open_table(OPERATOR_PORTS)?;
            txn.open_table(KEY_NUMBERS).map(drop)
        })?;
        Ok(Self { db })
    }
}

/// The block log's page cache.
const BLOCK_LOG_CACHE_BYTES: usize = 64 << 20;

impl BlockLog for RedbBlockLog {
    fn put(&mut self, info: &BlockInfo) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(info).map_err(backend)?;
        let txn = self.db.begin_write().map_err(backend)?;
        txn.open_table(BLOCKS).map_err(backend)?.insert(info.height, bytes.as_slice()).map_err(backend)?;
        {
            let mut index = txn.open_table(TX_INDEX).map_err(backend)?;
            for tx in &info.txs {
                let id: TxId = tx.id.parse().map_err(|_| corrupt("transaction id"))?;
                index.insert(id.0.as_ref(), info.height).map_err(backend)?;
            }
            let mut ports = txn.open_table(OPERATOR_PORTS).map_err(backend)?;
            for (port, donor, recipient) in requested_ports(info) {
                let port: PortId = port.parse().map_err(|_| corrupt("port id"))?;
                for op in [donor, recipient] {
                    ports.insert(operator_port_key(op, port.0.as_ref()).as_slice(), ()).map_err(backend)?;
                }
            }
            let mut keys = txn.open_table(KEY_NUMBERS).map_err(backend)?;
            for (key, number) in bindings(info) {
                keys.insert(format!("{key}/{number}").as_str(), ()).map_err(backend)?;
            }
        }
        txn.commit().map_err(backend)
    }

    fn bound_numbers(&self, subscriber: &str) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(KEY_NUMBERS).map_err(backend)?;
        let (start, end) = (format!("{subscriber}/"), format!("{subscriber}0")); // '0' follows '/'
        let mut out = Vec::new();
        for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
            let (key, _) = entry.map_err(backend)?;
            out.push(key.value()[start.len()..].to_owned());
        }
        Ok(out)
    }

    fn tx_height(&self, id: &TxId) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(TX_INDEX).map_err(backend)?;
        Ok(table.get(id.0.as_ref()).map_err(backend)?.map(|v| v.value()))
    }

    fn operator_ports(
        &self,
        operator: &str,
        after: Option<&PortId>,
        limit: usize,
    ) -> Result<Vec<PortId>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(OPERATOR_PORTS).map_err(backend)?;
        let start = operator_port_key(operator, after.map_or(&[][..], |p| p.0.as_ref()));
        let end = operator_port_key(operator, &[0xff; 33]);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..end.as_slice()).map_err(backend)? {
            let (key, _) = entry.map_err(backend)?;
            let raw: [u8; 32] =
                key.value()[operator.len() + 1..].try_into().map_err(|_| corrupt("operator index key"))?;
            let port = PortId(npchain_core::Digest(raw));
            if Some(&port) == after {
                continue;
            }
            out.push(port);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn get(&self, height: u64) -> Result<Option<BlockInfo>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(BLOCKS).map_err(backend)?;
        let Some(value) = table.get(height).map_err(backend)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| corrupt(if e.is_eof() { "truncated" } else { "not the expected JSON" }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_survive_reopening_and_rewrites_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/blocks.redb");
        let tx = TxId(npchain_core::Digest([7; 32]));
        let port = PortId(npchain_core::Digest([8; 32]));
        let info = BlockInfo {
            height: 3,
            digest: "aa".into(),
            parent: "bb".into(),
            block_time_ms: 5,
            state_hash: "cc".into(),
            txs: vec![crate::api::TxResult::new(&tx, &Ok(()))],
            events: vec![
                crate::api::EventInfo::Bound {
                    number: "+4930123".into(),
                    operator: "OPA".into(),
                    subscriber: Some("ab".into()),
                },
                crate::api::EventInfo::Port {
                    port: port.to_string(),
                    step: npchain_core::Step::Requested.into(),
                    donor: "OPA".into(),
                    recipient: "OPB".into(),
                    numbers: vec!["+4930123".into()],
                },
            ],
        };
        {
            let mut log = RedbBlockLog::open(&path).unwrap();
            assert_eq!(log.get(3).unwrap(), None);
            log.put(&info).unwrap();
            log.put(&info).unwrap();
        }
        let log = RedbBlockLog::open(&path).unwrap();
        assert_eq!(log.get(3).unwrap(), Some(info));
        assert_eq!(log.get(4).unwrap(), None);
        assert_eq!(log.tx_height(&tx).unwrap(), Some(3));
        assert_eq!(log.tx_height(&TxId(npchain_core::Digest([9; 32]))).unwrap(), None);
        for op in ["OPA", "OPB"] {
            assert_eq!(log.operator_ports(op, None, 10).unwrap(), vec![port]);
            assert!(log.operator_ports(op, Some(&port), 10).unwrap().is_empty());
        }
        assert!(log.operator_ports("OP", None, 10).unwrap().is_empty(), "prefix of another id");
        assert!(log.operator_ports("OPC", None, 10).unwrap().is_empty());
        assert_eq!(log.bound_numbers("ab").unwrap(), ["+4930123"]);
        assert!(log.bound_numbers("a").unwrap().is_empty(), "prefix of another key");
    }
}
