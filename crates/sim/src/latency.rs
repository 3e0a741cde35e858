//! Finality and throughput with the operators spread over a continent: every pair of
//! validators joined by links of 10–40 ms one way (drawn per direction), with jitter and loss,
//! and a steady offered load of signed transactions (`npchain sim latency`).
//!
//! Time here is the simulator's virtual time: it counts what the protocol waits for (message
//! delays, timeouts, the idle leader's wait for a transaction), not CPU. Executing and
//! verifying a block takes no virtual time, so these figures are the network's share of
//! finality; the loopback benchmarks (`npchain bench throughput`) measure the CPU's share.

use crate::harness::*;
use commonware_p2p::simulated::Link;
use commonware_runtime::{Clock, Runner};
use npchain_core::types::TxId;
use rand::{RngExt as _, SeedableRng, rngs::StdRng};
use std::{collections::HashMap, time::Duration};

/// One run: how many validators, the links between them, and the load.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// Validators, one per operator (at most 10).
    pub validators: usize,
    /// Virtual seconds of offered load.
    pub seconds: u64,
    /// Transactions offered a second, spread evenly over the validators.
    pub rate: u64,
    pub seed: u64,
    /// One-way latency of a link, drawn uniformly from this range per direction, in ms.
    pub latency_ms: (u64, u64),
    /// Standard deviation of a message's delay around its link's latency, in ms.
    pub jitter_ms: u64,
    /// Messages lost on every link, per thousand.
    pub loss_permille: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            validators: 4,
            seconds: 30,
            rate: 500,
            seed: 1,
            latency_ms: (10, 40),
            jitter_ms: 5,
            loss_permille: 10,
        }
    }
}

/// What a run measured, in virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub setup: Setup,
    pub submitted: u64,
    /// Transactions committed on the node they were submitted to by the end of the run.
    pub committed: u64,
    /// Committed during the load, per second of load.
    pub throughput: f64,
    /// From submission to commit on the node that took it: median, 99th percentile, maximum.
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// Blocks finalized, and their mean interval during the load.
    pub blocks: u64,
    pub block_interval_ms: u64,
    /// What the nodes agree on at the end (every submitted transaction applied everywhere).
    pub agreement: Agreement,
}

/// How often the load is offered and commits are looked for: the resolution of the figures.
const TICK: Duration = Duration::from_millis(5);
/// How long the run waits after the load for what is still in flight.
const DRAIN: Duration = Duration::from_secs(60);

/// Runs one setup on its seed.
pub fn run(setup: &Setup) -> Figures {
    let setup = setup.clone();
    assert!((1..=10).contains(&setup.validators), "1 to 10 validators");
    runner(setup.seed).start(|context| async move {
        let mut rng = StdRng::seed_from_u64(setup.seed);
        let n = setup.validators;
        let (low, high) = setup.latency_ms;
        let (jitter, loss) = (setup.jitter_ms, setup.loss_permille.min(1_000));
        let oracle = network_with(&context, &mut rng, n, |rng| Link {
            latency: Duration::from_millis(rng.random_range(low..=high)),
            jitter: Duration::from_millis(jitter),
            success_rate: commonware_utils::Probability::new(1_000 - loss, 1_000)
                .expect("at most 1,000 per thousand"),
        })
        .await;
        let genesis = genesis_of(n);
        let mut nodes = Vec::new();
        for i in 0..n {
            nodes.push(start_node_of(&context, &oracle, &genesis, n, i, None).await);
        }
        let chains: Vec<_> = nodes.iter().map(|node| node.chain.clone()).collect();
        wait_for(&context, "the first block", || chains.iter().all(|c| c.height() >= 1)).await;
        let chain_id = chains[0].chain_id();

        // tx id -> (the node it was given to, when)
        let mut pending: HashMap<TxId, (usize, u64)> = HashMap::new();
        let mut latencies = Vec::new();
        let mut submitted = Vec::new();
        let mut seen = vec![0u64; n];
        for (i, c) in chains.iter().enumerate() {
            seen[i] = c.height();
        }
        let start = now_ms(&context);
        let (first_height, end_load) = (chains[0].height(), start + setup.seconds * 1_000);
        let (mut offered, mut committed_in_load, mut k) = (0.0f64, 0u64, 0u64);
        let mut load_end_height = first_height;
        loop {
            let now = now_ms(&context);
            if now < end_load {
                offered += setup.rate as f64 * TICK.as_secs_f64();
                // this tick's transactions, each node's in one gossip message, as one
                // `POST /v1/txs` travels
                let mut batches = vec![Vec::new(); n];
                while offered >= 1.0 {
                    offered -= 1.0;
                    let node = (k as usize) % n;
                    let tx = bind(&chain_id, node, k, now);
                    let id =
                        npchain_core::SignedTransaction::id_of_encoded(&tx).expect("a signed transaction");
                    nodes[node].chain.submit(&tx).expect("a fresh transaction is pooled");
                    batches[node].push(bytes::Bytes::from(tx));
                    pending.insert(id, (node, now));
                    submitted.push((node, k));
                    k += 1;
                }
                for (node, batch) in batches.iter().enumerate().filter(|(_, b)| !b.is_empty()) {
                    nodes[node].gossip.send(batch);
                }
            } else if load_end_height == first_height {
                load_end_height = chains[0].height().max(first_height + 1);
            }
            for (i, c) in chains.iter().enumerate() {
                while seen[i] < c.height() {
                    seen[i] += 1;
                    let record = c.block(seen[i]).expect("the block log reads").expect("a committed block");
                    for tx in record.txs {
                        if let Some(&(node, at)) = pending.get(&tx.id)
                            && node == i
                        {
                            pending.remove(&tx.id);
                            latencies.push(now - at);
                            committed_in_load += u64::from(now < end_load);
                        }
                    }
                }
            }
            if now >= end_load && (pending.is_empty() || now >= end_load + DRAIN.as_millis() as u64) {
                break;
            }
            context.sleep(TICK).await;
        }
        let agreement = settle_and_check(&context, &chains, &submitted).await;
        latencies.sort_unstable();
        let pick = |q: f64| {
            if latencies.is_empty() {
                0
            } else {
                latencies[((latencies.len() - 1) as f64 * q).round() as usize]
            }
        };
        let blocks = load_end_height - first_height;
        Figures {
            submitted: k,
            committed: latencies.len() as u64,
            throughput: committed_in_load as f64 / setup.seconds.max(1) as f64,
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            max_ms: latencies.last().copied().unwrap_or(0),
            blocks,
            block_interval_ms: (setup.seconds * 1_000).checked_div(blocks).unwrap_or(0),
            agreement,
            setup,
        }
    })
}
