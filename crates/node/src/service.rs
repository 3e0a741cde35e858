//! The node's answers to its interfaces ([`NodeApi`]) over its chain: queries on the committed
//! ledger and the block log, submissions, and the operator's own actions signed with its key.
//!
//! Consensus-side parts (relaying a transaction to peers, reading a block and its certificate
//! from the engine's archive) come in as functions, so the same service runs in the node and
//! over an in-memory chain in tests.

use crate::{
    api::{ActionError, NodeApi, OperatorAction, ReadError, SubmitError},
    chain::{BlockLog, Chain},
    metrics::Metrics,
    storage::{BlockRecord, Snapshots, TxOutcome, TxRecord},
};
use bytes::Bytes;
use commonware_codec::Encode;
use commonware_cryptography::Signer as _;
use npchain_api::json::{
    BlockInfo, EventInfo, FinalityProof, History, HistoryEntry, OperatorInfo, OperatorList, PeerInfo,
    PolicyInfo, PortInfo, PortList, PortQuery, RangeList, RouteInfo, STEP_NAMES, Status, TxResult, TxStatus,
    ValidatorList, hex_key, step_name,
};
use npchain_core::{
    E164, NumberEvent, PortOrder, Store, Table, Transaction, TxBody,
    types::{KeyId, OperatorId, PortId, PrivateKey, PublicKey, Timestamp, TxId},
};
use std::{
    collections::BTreeSet,
    sync::atomic::{AtomicU64, Ordering},
};

/// Longest validity the node gives the transactions it signs for its operator.
const ACTION_TTL_SECS: u64 = 600;
/// Candidates examined at most per `GET /v1/ports` page (a page may come back short, with `next`).
const MAX_PORT_SCAN: usize = 10_000;
/// Most orders per page.
pub const MAX_PORT_PAGE: usize = 1_000;

/// Who the node is.
#[derive(Debug)]
pub struct Identity {
    /// The validator (p2p) key.
    pub node_key: PublicKey,
    /// The operator key the node signs its operator's actions with, if configured.
    pub operator_key: Option<PrivateKey>,
    pub peers: Vec<PeerInfo>,
    /// The genesis region, for numbers typed in national form.
    pub region: Option<npchain_core::Region>,
}

type Relay = Box<dyn Fn(&[Bytes]) + Send + Sync>;
type Finalizations = Box<dyn Fn(u64) -> Option<FinalityProof> + Send + Sync>;

/// The node's [`NodeApi`].
pub struct Service<S: Store, L: BlockLog> {
    chain: Chain<S, L>,
    identity: Identity,
    admin_token: Option<String>,
    relay: Relay,
    finalizations: Finalizations,
    nonce: AtomicU64,
    /// The last block each validator signed (`GET /v1/validators`).
    signers: std::sync::Mutex<crate::validators::SignerRecord>,
}

impl<S: Store, L: BlockLog> std::fmt::Debug for Service<S, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("identity", &self.identity.node_key).finish_non_exhaustive()
    }
}

impl<S: Store + Send + 'static, L: BlockLog> Service<S, L> {
    /// The operator this node belongs to, as the ledger knows it now: the one whose validator
    /// key the node signs consensus with, or whose operator key it holds. An operator admitted
    /// while its node runs is found from the block that admitted it.
    fn operator(&self) -> Option<OperatorId> {
        self.chain.with_ledger(|l| self.operator_in(l))
    }

    fn operator_in(&self, ledger: &npchain_core::Ledger<S>) -> Option<OperatorId> {
        let node = KeyId::from(&self.identity.node_key);
        let held = self.identity.operator_key.as_ref().map(|k| KeyId::from(&k.public_key()));
        let operators = ledger.operators();
        operators
            .iter()
            .find(|o| o.validator_key.as_ref() == Some(&node))
            .or_else(|| operators.iter().find(|o| held.as_ref() == Some(&o.operator_key)))
            .map(|o| o.id.clone())
    }
}

/// Wall-clock time, for the dry run of submissions and the expiry of signed actions.
fn wall_clock() -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp(ms as u64)
}

impl<S: Store + Send + 'static, L: BlockLog> Service<S, L> {
    pub fn new(
        chain: Chain<S, L>,
        identity: Identity,
        admin_token: Option<String>,
        relay: Relay,
        finalizations: Finalizations,
    ) -> Self {
        // Unique per signer across restarts: start from the clock, count up.
        let nonce = AtomicU64::new(wall_clock().millis() << 16);
        let signers = std::sync::Mutex::default();
        Self { chain, identity, admin_token, relay, finalizations, nonce, signers }
    }

    fn order(&self, id: &PortId) -> Result<Option<PortOrder>, ReadError> {
        Ok(self.chain.with_ledger(|l| l.order(id))?)
    }

    /// Port ids to examine for a listing, in ascending order, after `after`.
    fn candidates(&self, q: &PortQuery, after: Option<&PortId>, n: usize) -> Result<Vec<PortId>, ReadError> {
        if let Some(op) = &q.operator {
            return Ok(self.chain.with_log(|log| log.operator_ports(op, after, n))?);
        }
        if let Some(number) = q.number {
            let history = self.chain.with_ledger(|l| l.number_history(number))?;
            let ids: BTreeSet<PortId> = history
                .into_iter()
                .filter_map(|(_, e)| match e {
                    NumberEvent::Port { port, .. } => Some(port),
                    _ => None,
                })
                .filter(|p| after.is_none_or(|a| p > a))
                .collect();
            return Ok(ids.into_iter().take(n).collect());
        }
        let start = after.map_or_else(Vec::new, |a| {
            let mut k = a.0.as_ref().to_vec();
            k.push(0); // just after `a`
            k
        });
        let rows = self.chain.with_ledger(|l| l.store().range(Table::Orders, &start, None, n))?;
        rows.into_iter()
            .map(|(k, _)| {
                let raw: [u8; 32] = k.as_slice().try_into().map_err(|_| ReadError::OrderKey)?;
                Ok(PortId(npchain_core::Digest(raw)))
            })
            .collect()
    }

    fn matches(q: &PortQuery, o: &PortOrder) -> bool {
        let state = step_name(o.state());
        q.operator.as_ref().is_none_or(|op| o.donor.as_str() == op || o.recipient.as_str() == op)
            && q.number.is_none_or(|n| o.numbers.binary_search(&n).is_ok())
            && q.state.as_deref().is_none_or(|s| s == state || (s == "open" && o.is_open()))
    }
}

/// A finalized block's record as `GET /v1/blocks/{height}` shows it.
pub fn block_info(record: &BlockRecord) -> BlockInfo {
    BlockInfo {
        height: record.height,
        digest: record.digest.to_string(),
        parent: record.parent.to_string(),
        block_time_ms: record.time.millis(),
        state_hash: record.state_hash.to_string(),
        txs: record.txs.iter().map(tx_result).collect(),
        events: record.events.iter().map(EventInfo::from).collect(),
    }
}

/// A transaction's outcome as the API shows it.
fn tx_result(tx: &TxRecord) -> TxResult {
    let id = tx.id.to_string();
    match &tx.outcome {
        TxOutcome::Applied => TxResult { id, outcome: "applied".into(), code: None, reason: None },
        TxOutcome::Rejected { code, message } => TxResult {
            id,
            outcome: "rejected".into(),
            code: Some(code.clone()),
            reason: Some(message.clone()),
        },
    }
}

/// Whether `state` is a state `GET /v1/ports` can filter on.
pub fn known_state(state: &str) -> bool {
    state == "open" || STEP_NAMES.contains(&state)
}

/// Compares in time independent of where the first difference is.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<S: Store + Snapshots + Send + Sync + 'static, L: BlockLog + Sync> NodeApi for Service<S, L> {
    fn status(&self) -> Status {
        // One look at the ledger, so every field is of one height.
        let (chain_id, height, block_time, state_hash, operator, epoch, blocks_per_epoch, validators) =
            self.chain.with_ledger(|l| {
                let epoch = l.epoch_of(l.height() + 1);
                let names = l
                    .validators(epoch)
                    .unwrap_or_default()
                    .iter()
                    .map(|key| {
                        let id = KeyId::from(key);
                        l.operators()
                            .iter()
                            .find(|o| o.validator_key.as_ref() == Some(&id))
                            .map_or_else(|| id.to_string(), |o| o.id.to_string())
                    })
                    .collect();
                let operator = self.operator_in(l).map(|id| id.to_string());
                (
                    l.chain_id(),
                    l.height(),
                    l.block_time(),
                    l.state_hash(),
                    operator,
                    epoch,
                    l.blocks_per_epoch().get(),
                    names,
                )
            });
        let finalized_tip = self.chain.finalized_tip();
        Status {
            operator,
            node_key: commonware_formatting::hex(self.identity.node_key.as_ref()),
            chain_id: chain_id.0.to_string(),
            height,
            block_time_ms: block_time.millis(),
            state_hash: state_hash.to_string(),
            finalized_tip,
            behind: finalized_tip.saturating_sub(height),
            mempool: self.chain.mempool_len(),
            epoch,
            blocks_per_epoch,
            validators,
            peers: self.identity.peers.clone(),
            halted: self.chain.halted().map(|cause| cause.to_string()),
            region: self.identity.region.map(|r| r.to_string()),
        }
    }

    fn submit_batch(&self, txs: &[Bytes], precheck: bool) -> Vec<Result<TxId, SubmitError>> {
        let results = self.chain.submit_batch(txs, precheck.then(wall_clock));
        let accepted: Vec<Bytes> =
            txs.iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(t, _)| t.clone()).collect();
        if !accepted.is_empty() {
            (self.relay)(&accepted);
        }
        results.into_iter().map(|r| r.map(|v| v.id())).collect()
    }

    fn block(&self, height: u64) -> Result<Option<BlockInfo>, ReadError> {
        Ok(self.chain.block(height)?.as_ref().map(block_info))
    }

    fn finalization(&self, height: u64) -> Option<FinalityProof> {
        (self.finalizations)(height)
    }

    fn validators(&self) -> ValidatorList {
        let sets = self.chain.with_ledger(|l| crate::validators::Sets {
            height: l.height(),
            epoch: l.epoch_of(l.height() + 1),
            by_epoch: l.validator_sets().unwrap_or_default().into_iter().map(|(_, set)| set).collect(),
            pending: l.pending_validators().unwrap_or_default(),
            operators: l
                .operators()
                .iter()
                .filter_map(|o| o.validator_key.map(|k| (k, o.id.to_string())))
                .collect(),
        });
        let mut record = self.signers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        record.read(&sets, |height| (self.finalizations)(height))
    }

    fn route(&self, number: E164) -> Result<Result<RouteInfo, npchain_core::Unroutable>, ReadError> {
        // Under the ledger's lock, so the route and the record are of the same height.
        let (height, route, record) =
            self.chain.with_ledger(|l| (l.height(), l.lookup(number), l.number(number)));
        let record = record?;
        Ok(route.map(|r| {
            let bound = record.as_ref().is_some_and(|rec| rec.subscriber.is_some());
            RouteInfo::new(height, &r, bound, record.as_ref().and_then(|rec| rec.open_port.as_ref()))
        }))
    }

    fn bound_numbers(
        &self,
        subscriber: &npchain_core::PublicKey,
    ) -> Result<(u64, Vec<RouteInfo>), ReadError> {
        let candidates = self.chain.with_log(|log| log.bound_numbers(subscriber))?;
        self.chain.with_ledger(|l| {
            let mut routes = Vec::new();
            for &number in &candidates {
                let record = l.number(number)?;
                if let (Some(rec), Some(route)) = (record, l.route(number))
                    && rec.subscriber.is_some_and(|k| k.is(subscriber))
                {
                    routes.push(RouteInfo::new(l.height(), &route, true, rec.open_port.as_ref()));
                }
            }
            Ok((l.height(), routes))
        })
    }

    fn history(&self, number: E164) -> Result<History, ReadError> {
        let (height, entries) = self.chain.with_ledger(|l| (l.height(), l.number_history(number)));
        Ok(History {
            number: number.to_string(),
            height,
            entries: entries?
                .iter()
                .map(|(t, e)| HistoryEntry { time_ms: t.millis(), event: e.into() })
                .collect(),
        })
    }

    fn tx(&self, id: &TxId) -> Result<Option<TxStatus>, ReadError> {
        if let Some(height) = self.chain.with_log(|log| log.tx_height(id))? {
            let block = self.chain.block(height)?.ok_or(ReadError::MissingBlock { height, tx: *id })?;
            let tx =
                block.txs.iter().find(|t| t.id == *id).ok_or(ReadError::MissingTx { height, tx: *id })?;
            let result = tx_result(tx);
            return Ok(Some(TxStatus::Committed { height, block_time_ms: block.time.millis(), result }));
        }
        Ok(self.chain.is_pending(id).then_some(TxStatus::Pending))
    }

    fn port(&self, id: &PortId) -> Result<Option<PortInfo>, ReadError> {
        Ok(self.order(id)?.as_ref().map(PortInfo::from))
    }

    fn stats(&self, q: &crate::stats::StatsQuery) -> Result<npchain_api::json::Stats, ReadError> {
        // one look at the log (under the chain's lock), so the cells and the height agree
        let (height, cells) = self.chain.with_log(|log| {
            Ok::<_, crate::storage::BlockLogError>((log.stats_height()?, log.stats(q.from(), q.to())?))
        })?;
        Ok(crate::stats::report::summarise(q, height.unwrap_or(0), &cells))
    }

    fn ports(&self, q: &PortQuery) -> Result<PortList, ReadError> {
        let height = self.chain.height();
        let limit = q.limit.clamp(1, MAX_PORT_PAGE);
        let batch = 256;
        let mut cursor = q.after;
        let mut ports = Vec::new();
        let mut scanned = 0;
        loop {
            let ids = self.candidates(q, cursor.as_ref(), batch)?;
            for id in &ids {
                cursor = Some(*id);
                scanned += 1;
                if let Some(order) = self.order(id)?
                    && Self::matches(q, &order)
                {
                    ports.push(PortInfo::from(&order));
                    if ports.len() == limit {
                        return Ok(PortList { height, ports, next: Some(id.to_string()) });
                    }
                }
            }
            if ids.len() < batch {
                return Ok(PortList { height, ports, next: None });
            }
            if scanned >= MAX_PORT_SCAN {
                return Ok(PortList { height, ports, next: cursor.map(|c| c.to_string()) });
            }
        }
    }

    // Governance reads come from the ledger's caches under its lock: one height each.
    fn operators(&self) -> OperatorList {
        self.chain.with_ledger(|l| OperatorList {
            height: l.height(),
            regulator: hex_key(l.regulator()),
            operators: l.operators().iter().map(OperatorInfo::from).collect(),
        })
    }

    fn ranges(&self) -> RangeList {
        self.chain.with_ledger(|l| RangeList::new(l.height(), l.ranges()))
    }

    fn policy(&self) -> PolicyInfo {
        self.chain.with_ledger(|l| PolicyInfo { height: l.height(), policy: l.policy().clone() })
    }

    fn committed_height(&self) -> tokio::sync::watch::Receiver<u64> {
        self.chain.subscribe()
    }

    fn snapshot(&self) -> Result<Box<dyn npchain_core::ReadStore + Send>, ReadError> {
        // The lock is held only to open the view: a redb read transaction (or, in memory, a copy).
        let view = self.chain.with_ledger(|l| l.store().snapshot())?;
        Ok(Box::new(view))
    }

    fn act(&self, action: OperatorAction) -> Result<TxId, ActionError> {
        let (Some(operator), Some(key)) = (self.operator(), &self.identity.operator_key) else {
            return Err(ActionError::NoOperator);
        };
        let operator = &operator;
        let (block_time, ttl) = self.chain.with_ledger(|l| (l.block_time(), l.policy().tx_ttl_max_secs));
        let mut expires_at = block_time.plus_secs(ttl.min(ACTION_TTL_SECS));
        let body = match action {
            OperatorAction::Release { port } => TxBody::Release { port },
            OperatorAction::Reject { port, reason } => TxBody::Reject { port, reason },
            OperatorAction::Activate { port } => TxBody::Activate { port },
            OperatorAction::Bind { number, subscriber } => TxBody::Bind { number, subscriber },
            OperatorAction::Return { number } => TxBody::Return { number },
            OperatorAction::RequestFor { consent } => {
                consent.check(&self.chain.chain_id(), operator, wall_clock())?;
                // the transaction carrying it is valid no longer than the consent
                expires_at = expires_at.min(consent.expires_at.max(block_time));
                let consent = *consent;
                TxBody::RequestPortFor {
                    request: consent.request,
                    subscriber: consent.subscriber,
                    consent: consent.signature,
                }
            }
        };
        let tx = Transaction {
            nonce: self.nonce.fetch_add(1, Ordering::Relaxed),
            expires_at,
            signer: key.public_key(),
            body,
        };
        let signed = tx.sign(&self.chain.chain_id(), key);
        Ok(self.submit(&signed.encode(), true)?)
    }

    fn admin_token_matches(&self, token: &str) -> bool {
        self.admin_token.as_deref().is_some_and(|t| same_secret(t, token))
    }

    fn admin_enabled(&self) -> bool {
        self.admin_token.is_some()
    }

    fn metrics(&self) -> &Metrics {
        self.chain.metrics()
    }

    fn region(&self) -> Option<npchain_core::Region> {
        self.identity.region
    }
}
