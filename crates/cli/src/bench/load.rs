//! Porting traffic: who ports which number where, the signed transactions of each step, and a
//! driver that submits them to the nodes as fast as the network commits them.

use super::{BenchError, net::LocalNet, stats::Percentiles};
use crate::devnet::operator_id;
use commonware_codec::Encode;
use commonware_cryptography::Signer;
use npchain_core::{
    E164, PortRequest, SignedTransaction, Timestamp, Transaction, TxBody,
    tx::MAX_GROUP,
    types::{PortId, PrivateKey},
};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// One subscriber porting one number.
#[derive(Debug)]
pub struct Port {
    pub number: E164,
    pub donor: usize,
    pub recipient: usize,
    pub subscriber: PrivateKey,
    pub request: PortRequest,
    pub id: PortId,
}

/// The steps of a port, each one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Bind,
    Request,
    Release,
    Activate,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Bind, Step::Request, Step::Release, Step::Activate];

    pub fn name(self) -> &'static str {
        match self {
            Step::Bind => "bind",
            Step::Request => "request",
            Step::Release => "release",
            Step::Activate => "activate",
        }
    }
}

/// A number of the demo range (mobile block) of operator `op`: `+491{5+op/10}{op%10}` and
/// nine digits.
pub fn demo_number(op: usize, index: u64) -> E164 {
    format!("+491{}{}{index:09}", 5 + op / 10, op % 10).parse().expect("a valid demo number")
}

/// `count` ports, donors and recipients in turn among `validators` operators; numbers from
/// `first` up in each donor's range. Subscriber keys derive from the number (reproducible).
pub fn ports(count: usize, validators: usize, first: u64) -> Vec<Port> {
    (0..count)
        .map(|k| {
            let donor = k % validators;
            let recipient = (k + 1) % validators;
            let number = demo_number(donor, first + (k / validators) as u64);
            let subscriber = PrivateKey::from_seed(0x5b5_0000_0000 + first * 1_000_000 + k as u64);
            let request = PortRequest {
                numbers: vec![number],
                donor: operator_id(donor),
                recipient: operator_id(recipient),
                due: Timestamp(0),
                nonce: k as u64,
            };
            let id = request.port_id(&subscriber.public_key());
            Port { number, donor, recipient, subscriber, request, id }
        })
        .collect()
}

/// A signed transaction and the node it is sent to (the signer's own operator's node).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub node: usize,
    pub bytes: Vec<u8>,
}

/// Signs `body` by `key`, valid until `expires_at`.
pub fn sign(
    key: &PrivateKey,
    chain: &npchain_core::ChainId,
    nonce: u64,
    expires_at: u64,
    body: TxBody,
) -> Vec<u8> {
    Transaction { nonce, expires_at: Timestamp(expires_at), signer: key.public_key(), body }
        .sign(chain, key)
        .encode()
        .to_vec()
}

/// The transactions of `step` for every port, signed on two threads.
pub fn step_txs(net: &LocalNet, ports: &[Port], step: Step, expires_at: u64) -> Vec<Outgoing> {
    let keys = &net.keys;
    let v = net.validators();
    let one = |k: usize, p: &Port| -> Outgoing {
        // Who sends it where: operators through their own node, subscribers through any.
        let (node, signer, body) = match step {
            Step::Bind => (
                p.donor,
                &keys.operators[p.donor],
                TxBody::Bind { number: p.number, subscriber: Some(p.subscriber.public_key()) },
            ),
            Step::Request => (k % v, &p.subscriber, TxBody::RequestPort(p.request.clone())),
            Step::Release => (p.donor, &keys.operators[p.donor], TxBody::Release { port: p.id }),
            Step::Activate => (p.recipient, &keys.operators[p.recipient], TxBody::Activate { port: p.id }),
        };
        Outgoing { node, bytes: sign(signer, &keys.chain, k as u64, expires_at, body) }
    };
    let half = ports.len() / 2;
    std::thread::scope(|s| {
        let first = s.spawn(|| ports[..half].iter().enumerate().map(|(k, p)| one(k, p)).collect::<Vec<_>>());
        let second: Vec<Outgoing> = ports[half..].iter().enumerate().map(|(k, p)| one(half + k, p)).collect();
        let mut out = first.join().expect("signing thread");
        out.extend(second);
        out
    })
}

/// What submitting a set of transactions gave.
#[derive(Debug, Default)]
pub struct Driven {
    pub submitted: usize,
    pub applied: usize,
    /// Refused at submission or rejected in a block, by code.
    pub refused: HashMap<String, usize>,
    /// First submission to last commit (seen on node 0).
    pub seconds: f64,
    /// Submission to commit seen on node 0, per committed transaction, in ms.
    pub latency_ms: Vec<f64>,
    /// When each of them was submitted (in the order of `latency_ms`).
    pub sent: Vec<Instant>,
}

impl Driven {
    pub fn tx_per_s(&self) -> f64 {
        (self.applied as f64) / self.seconds.max(1e-9)
    }

    pub fn latency(&self) -> Percentiles {
        Percentiles::of(&self.latency_ms)
    }
}

/// How a driver hands transactions to the nodes.
#[derive(Debug, Clone, Copy)]
pub enum Flow {
    /// As fast as they commit: at most this many submitted and not committed.
    Window(usize),
    /// At this offered rate (transactions/s over all nodes), whatever the network commits.
    Rate(f64),
}

/// Submits `txs` to their nodes in batches of `batch` (without the precheck: the ledger
/// decides in the block), keeping at most `window` submitted but not committed, and follows
/// node 0's blocks until every accepted transaction is committed or `timeout` passes.
pub fn drive(
    net: &LocalNet,
    txs: Vec<Outgoing>,
    batch: usize,
    window: usize,
    timeout: Duration,
) -> Result<Driven, BenchError> {
    drive_with(net, txs, batch, Flow::Window(window), timeout)
}

/// [`drive`] with the flow given: a window, or an offered rate (each node's batches evenly
/// spaced, its share of the rate).
pub fn drive_with(
    net: &LocalNet,
    txs: Vec<Outgoing>,
    batch: usize,
    flow: Flow,
    timeout: Duration,
) -> Result<Driven, BenchError> {
    let ids: Vec<String> = txs
        .iter()
        .map(|t| SignedTransaction::from_bytes(&t.bytes).map(|s| s.id().to_string()))
        .collect::<Result<_, _>>()?;
    let total = txs.len();
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::with_capacity(total)));
    let finished = AtomicUsize::new(0); // committed, or refused at submission
    let done = AtomicBool::new(false);
    let refused: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    let start_height = net.status(0)?.height;
    let mut per_node: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); net.validators()];
    for (t, id) in txs.into_iter().zip(ids) {
        per_node[t.node].push((id, t.bytes));
    }
    let submitted = AtomicUsize::new(0);
    let nodes = per_node.iter().filter(|t| !t.is_empty()).count().max(1);
    let begin = Instant::now();
    let result = std::thread::scope(|s| -> Result<Driven, BenchError> {
        let observer =
            s.spawn(|| observe(net, start_height, total, &sent_at, &finished, &done, &refused, timeout));
        let mut senders = Vec::new();
        for (node, txs) in per_node.into_iter().enumerate() {
            let (sent_at, finished, done, refused, submitted) =
                (&sent_at, &finished, &done, &refused, &submitted);
            senders.push(s.spawn(move || -> Result<(), BenchError> {
                let client = net.client(node);
                for (k, chunk) in txs.chunks(batch).enumerate() {
                    match flow {
                        // At most `window` submitted and not finished, over all nodes.
                        Flow::Window(window) => {
                            while submitted
                                .load(Ordering::Relaxed)
                                .saturating_sub(finished.load(Ordering::Relaxed))
                                >= window
                                && !done.load(Ordering::Relaxed)
                            {
                                std::thread::sleep(Duration::from_millis(2));
                            }
                        }
                        // This node's batch k is due when its share of the rate reaches it.
                        Flow::Rate(rate) => {
                            let due =
                                begin + Duration::from_secs_f64((k * batch) as f64 * nodes as f64 / rate);
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                        }
                    }
                    submitted.fetch_add(chunk.len(), Ordering::Relaxed);
                    let now = Instant::now();
                    {
                        let mut map = sent_at.lock().expect("lock");
                        for (id, _) in chunk {
                            map.insert(id.clone(), now);
                        }
                    }
                    let bytes: Vec<&[u8]> = chunk.iter().map(|(_, b)| b.as_slice()).collect();
                    let results = client.submit_batch(&bytes, false)?;
                    for r in results.results.iter().filter(|r| r.id.is_none()) {
                        let code = r.error.clone().unwrap_or_default();
                        *refused.lock().expect("lock").entry(code).or_default() += 1;
                        finished.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            }));
        }
        for sender in senders {
            if let Err(e) = sender.join().expect("sender thread") {
                done.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        observer.join().expect("observer thread")
    })?;
    Ok(result)
}

/// Follows node 0's finalized blocks, timing each of our transactions from its submission.
#[allow(clippy::too_many_arguments)]
fn observe(
    net: &LocalNet,
    mut height: u64,
    total: usize,
    sent_at: &Mutex<HashMap<String, Instant>>,
    finished: &AtomicUsize,
    done: &AtomicBool,
    refused: &Mutex<HashMap<String, usize>>,
    timeout: Duration,
) -> Result<Driven, BenchError> {
    let client = net.client(0);
    let started = Instant::now();
    let mut out = Driven { submitted: total, ..Driven::default() };
    let mut first_sent: Option<Instant> = None;
    let mut last_commit = Instant::now();
    while finished.load(Ordering::Relaxed) < total {
        if done.load(Ordering::Relaxed) {
            break;
        }
        if started.elapsed() > timeout {
            done.store(true, Ordering::Relaxed);
            return Err(BenchError::Setup(format!(
                "only {} of {total} transactions finished within {timeout:?}",
                finished.load(Ordering::Relaxed)
            )));
        }
        let tip = client.status()?.height;
        if tip == height {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        for h in height + 1..=tip {
            let block = client.block(h)?;
            let seen = Instant::now();
            let map = sent_at.lock().expect("lock");
            for tx in &block.txs {
                let Some(at) = map.get(&tx.id) else { continue };
                first_sent = Some(first_sent.map_or(*at, |f| f.min(*at)));
                if tx.outcome == "applied" {
                    out.applied += 1;
                    out.latency_ms.push(seen.duration_since(*at).as_secs_f64() * 1e3);
                    out.sent.push(*at);
                } else {
                    let code = tx.code.clone().unwrap_or_else(|| tx.outcome.clone());
                    *refused.lock().expect("lock").entry(code).or_default() += 1;
                }
                last_commit = seen;
                finished.fetch_add(1, Ordering::Relaxed);
            }
        }
        height = tip;
    }
    out.refused = refused.lock().expect("lock").clone();
    out.seconds = first_sent.map_or(0.0, |f| last_commit.duration_since(f).as_secs_f64());
    Ok(out)
}

/// An expiry for transactions: `minutes` after the chain's last block time.
pub fn expiry(net: &LocalNet, minutes: u64) -> Result<u64, BenchError> {
    Ok(net.status(0)?.block_time_ms + minutes * 60_000)
}

/// An enterprise's group port: `count` numbers of OPA's demo range (from 500,000,000 up) to
/// OPC, requested by the enterprise's own key in orders of up to [`MAX_GROUP`] numbers each.
#[derive(Debug)]
pub struct GroupPort {
    pub enterprise: PrivateKey,
    pub numbers: Vec<E164>,
    pub requests: Vec<PortRequest>,
    pub ids: Vec<PortId>,
}

impl GroupPort {
    pub fn new(count: usize) -> Self {
        let enterprise = PrivateKey::from_seed(0xe17e_4415e);
        let numbers: Vec<E164> = (0..count as u64).map(|k| demo_number(0, 500_000_000 + k)).collect();
        let requests: Vec<PortRequest> = numbers
            .chunks(MAX_GROUP)
            .enumerate()
            .map(|(k, numbers)| PortRequest {
                numbers: numbers.to_vec(),
                donor: operator_id(0),
                recipient: operator_id(2),
                due: Timestamp(0),
                nonce: k as u64,
            })
            .collect();
        let ids = requests.iter().map(|r| r.port_id(&enterprise.public_key())).collect();
        Self { enterprise, numbers, requests, ids }
    }

    /// OPA binds every number to the enterprise's key, through node 0.
    pub fn binds(&self, net: &LocalNet, expires_at: u64) -> Vec<Outgoing> {
        let body = |n: &E164| TxBody::Bind { number: *n, subscriber: Some(self.enterprise.public_key()) };
        let key = &net.keys.operators[0];
        let one = |(k, n): (usize, &E164)| Outgoing {
            node: 0,
            bytes: sign(key, &net.keys.chain, 10 + k as u64, expires_at, body(n)),
        };
        self.numbers.iter().enumerate().map(one).collect()
    }

    /// The enterprise's requests, through node 0.
    pub fn request_txs(&self, net: &LocalNet, expires_at: u64) -> Vec<Outgoing> {
        let one = |(k, r): (usize, &PortRequest)| Outgoing {
            node: 0,
            bytes: sign(
                &self.enterprise,
                &net.keys.chain,
                k as u64,
                expires_at,
                TxBody::RequestPort(r.clone()),
            ),
        };
        self.requests.iter().enumerate().map(one).collect()
    }

    /// Operator `op`'s answer to each order (`body`), through its own node; nonces from `nonce`.
    pub fn answers(
        &self,
        net: &LocalNet,
        op: usize,
        nonce: u64,
        expires_at: u64,
        body: fn(PortId) -> TxBody,
    ) -> Vec<Outgoing> {
        let key = &net.keys.operators[op];
        let one = |(k, id): (usize, &PortId)| Outgoing {
            node: op,
            bytes: sign(key, &net.keys.chain, nonce + k as u64, expires_at, body(*id)),
        };
        self.ids.iter().enumerate().map(one).collect()
    }
}
