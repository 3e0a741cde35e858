//! `npchain bench kill`: kill -9 of a validator under load, again and again. A devnet of four
//! validators takes a steady stream of signed bind transactions; one validator (picked by a
//! seeded generator) is killed with SIGKILL at a random moment — under load a block is being
//! committed most of the time, so many kills land in the middle of a commit — restarted at
//! once, and followed until it has caught up with the others; then the next. At the end every
//! transaction a node reported committed must be in every node's chain, and every node must
//! hold the same blocks (digest and state hash) up to a common height.

use super::{
    BenchError, Env, Figures, figure,
    load::{demo_number, sign},
    start,
    stats::Percentiles,
};
use commonware_cryptography::Signer;
use npchain_client::Client;
use npchain_core::{
    TxBody,
    tx::ChainId,
    types::{PrivateKey, PublicKey},
};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// The load: transactions per second, in batches of this many.
const RATE: usize = 200;
const BATCH: usize = 50;
/// How long a restarted validator may take to catch up before the run fails.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(180);
/// No validator is down.
const NONE: usize = usize::MAX;

/// What the load and the follower threads share with the killing loop.
struct Shared {
    /// The validator being killed and restarted (not sent to, not followed), or [`NONE`].
    down: AtomicUsize,
    stop_load: AtomicBool,
    stop_follow: AtomicBool,
    /// Transactions a node accepted (HTTP 202), and submissions that failed (a node killed).
    accepted: AtomicUsize,
    failed_submissions: AtomicUsize,
    /// Every transaction a node reported committed: id → (height, block digest).
    acknowledged: Mutex<HashMap<String, (u64, String)>>,
    /// The digest and state hash each height had when a node first reported it.
    reported: Mutex<HashMap<u64, (String, String)>>,
    /// A follower failure that is not a node being down (a block that does not read).
    error: Mutex<Option<String>>,
}

/// Kills one validator `kills` times under load (the victims and moments drawn from `seed`),
/// then checks that no committed transaction was lost and that the nodes agree.
pub fn kill(env: &Env, kills: usize, seed: u64) -> Result<Figures, BenchError> {
    let mut net = start(env, "kill", None, Duration::from_secs(120))?;
    let validators = net.validators();
    let urls: Vec<String> = (0..validators).map(|i| net.http(i)).collect();
    let operators = net.keys.operators.clone();
    let chain = net.keys.chain;
    let shared = Shared {
        down: AtomicUsize::new(NONE),
        stop_load: AtomicBool::new(false),
        stop_follow: AtomicBool::new(false),
        accepted: AtomicUsize::new(0),
        failed_submissions: AtomicUsize::new(0),
        acknowledged: Mutex::new(HashMap::new()),
        reported: Mutex::new(HashMap::new()),
        error: Mutex::new(None),
    };
    let from = net.status(0)?.height;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut restarts: Vec<f64> = Vec::with_capacity(kills);
    let started = Instant::now();
    let outcome = std::thread::scope(|s| -> Result<(), BenchError> {
        let load = s.spawn(|| submit(&urls, &operators, &chain, &shared));
        let follower = s.spawn(|| follow(&urls, from, &shared));
        let result = kill_in_turn(&mut net, &mut rng, kills, &shared, &mut restarts, started);
        shared.stop_load.store(true, Ordering::SeqCst);
        let load = load.join().expect("load thread");
        // Every node past the last reported commit, so that each holds every reported block.
        let result = result.and(load).and_then(|()| {
            // What the nodes accepted and still hold goes into blocks; what a killed node held
            // in its mempool alone is gone (never acknowledged).
            wait_for(Duration::from_secs(120), "every node's mempool to empty", || {
                Ok((0..validators).all(|i| net.status(i).is_ok_and(|s| s.mempool == 0)))
            })?;
            let top = shared.reported.lock().expect("lock").keys().max().copied().unwrap_or(0);
            wait_for(Duration::from_secs(120), "every node to reach the last reported block", || {
                Ok((0..validators).all(|i| net.status(i).is_ok_and(|s| s.height >= top)))
            })
        });
        shared.stop_follow.store(true, Ordering::SeqCst);
        follower.join().expect("follower thread");
        result
    });
    outcome?;
    if let Some(e) = shared.error.lock().expect("lock").clone() {
        return Err(BenchError::Setup(e));
    }
    let check = check_chains(&net, &shared)?;
    let restart = Percentiles::of(&restarts);
    let mut figures = Figures::new();
    figure(&mut figures, "kills (SIGKILL, restarted at once)", restarts.len() as f64, "kills");
    figure(&mut figures, "transactions committed (reported by a node)", check.acknowledged as f64, "tx");
    figure(&mut figures, "committed transactions lost", check.lost as f64, "tx");
    figure(&mut figures, "divergent heights", check.divergent as f64, "heights");
    figure(&mut figures, "heights checked on every node", check.common as f64, "blocks");
    figure(
        &mut figures,
        "transactions accepted (HTTP 202)",
        shared.accepted.load(Ordering::SeqCst) as f64,
        "tx",
    );
    figure(
        &mut figures,
        "accepted, never committed (never acknowledged)",
        shared.accepted.load(Ordering::SeqCst).saturating_sub(check.acknowledged) as f64,
        "tx",
    );
    figure(
        &mut figures,
        "submissions failed (node down)",
        shared.failed_submissions.load(Ordering::SeqCst) as f64,
        "batches",
    );
    figure(&mut figures, "restart → caught up p50", restart.p50, "s");
    figure(&mut figures, "restart → caught up max", restart.max, "s");
    figure(&mut figures, "run", started.elapsed().as_secs_f64(), "s");
    if check.lost > 0 || check.divergent > 0 {
        // The figures go out with the failure: the JSON is written only for a clean run.
        for (k, v, unit) in &figures {
            eprintln!("   {k:<58} {v:>14.2} {unit}");
        }
        return Err(BenchError::Setup(format!(
            "{} committed transactions lost, {} divergent heights (first: {})",
            check.lost,
            check.divergent,
            check.first_problem.unwrap_or_default()
        )));
    }
    Ok(figures)
}

/// Kills a validator drawn from `rng` `kills` times, each at a random moment, restarts it at
/// once and waits until it has caught up; the restart → caught-up times go to `restarts`.
fn kill_in_turn(
    net: &mut super::net::LocalNet,
    rng: &mut StdRng,
    kills: usize,
    shared: &Shared,
    restarts: &mut Vec<f64>,
    started: Instant,
) -> Result<(), BenchError> {
    let validators = net.validators();
    wait_for(Duration::from_secs(60), "the load to commit", || {
        Ok(!shared.acknowledged.lock().expect("lock").is_empty())
    })?;
    for k in 0..kills {
        let victim = rng.random_range(0..validators);
        // A random moment: under load, commits are continuous.
        std::thread::sleep(Duration::from_millis(rng.random_range(0..1_500)));
        shared.down.store(victim, Ordering::SeqCst);
        net.kill(victim);
        let restarted = Instant::now();
        net.restart(victim)?;
        let target = (0..validators)
            .filter(|i| *i != victim)
            .filter_map(|i| net.status(i).ok().map(|s| s.height))
            .max()
            .unwrap_or(0);
        wait_caught_up(net, victim, target)?;
        restarts.push(restarted.elapsed().as_secs_f64());
        shared.down.store(NONE, Ordering::SeqCst);
        if let Some(e) = shared.error.lock().expect("lock").clone() {
            return Err(BenchError::Setup(e));
        }
        if (k + 1) % 10 == 0 || k + 1 == kills {
            eprintln!(
                "  kill {} of {kills}: node {victim} back at height {target} after {:.1} s ({:.0} s in)",
                k + 1,
                restarts[k],
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Waits until the restarted `victim` has applied `target`; fails if it exits or takes longer
/// than [`CATCH_UP_LIMIT`].
fn wait_caught_up(net: &mut super::net::LocalNet, victim: usize, target: u64) -> Result<(), BenchError> {
    let log = net.layout.nodes[victim].dir.join("node.log");
    let what = format!("node {victim} to catch up to height {target} (see {})", log.display());
    wait_for(CATCH_UP_LIMIT, &what, || {
        if let Some(status) = net.exited(victim) {
            return Err(BenchError::Setup(format!(
                "node {victim} exited after a restart ({status}); see {}",
                log.display()
            )));
        }
        Ok(net.status(victim).is_ok_and(|s| s.height >= target))
    })
}

/// Asks `cond` every 20 ms until it holds (the nodes are other processes: there is nothing of
/// theirs to wait on but their answers); fails after `limit`, naming `what`.
fn wait_for(
    limit: Duration,
    what: &str,
    mut cond: impl FnMut() -> Result<bool, BenchError>,
) -> Result<(), BenchError> {
    let t0 = Instant::now();
    while !cond()? {
        if t0.elapsed() > limit {
            return Err(BenchError::Setup(format!("timed out after {limit:?} waiting for {what}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Submits binds of fresh numbers at [`RATE`] to the validators in turn (never to the one
/// being killed), until told to stop. A submission that fails (the node was killed under
/// it) is counted, not retried: its transactions were never acknowledged.
fn submit(
    urls: &[String],
    operators: &[PrivateKey],
    chain: &ChainId,
    shared: &Shared,
) -> Result<(), BenchError> {
    let subscribers: Vec<PublicKey> =
        (0..16).map(|k| PrivateKey::from_seed(0x4b11_0000 + k).public_key()).collect();
    let clients: Vec<Client> = urls.iter().map(|u| Client::new(vec![u.clone()])).collect();
    let every = Duration::from_secs_f64(BATCH as f64 / RATE as f64);
    let started = Instant::now();
    let (mut next, mut k, mut block_time) = (0usize, 0u64, 0u64);
    for round in 0u32.. {
        if shared.stop_load.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Paced by the clock, not by the commits: a steady load.
        if let Some(wait) = (started + every * round).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let down = shared.down.load(Ordering::SeqCst);
        next = (next + 1) % urls.len();
        if next == down {
            next = (next + 1) % urls.len();
        }
        let client = &clients[next];
        match client.status() {
            Ok(s) => block_time = block_time.max(s.block_time_ms),
            Err(_) => {
                shared.failed_submissions.fetch_add(1, Ordering::SeqCst);
                continue;
            }
        }
        let txs: Vec<Vec<u8>> = (0..BATCH)
            .map(|_| {
                let op = (k % operators.len() as u64) as usize;
                let body = TxBody::Bind {
                    number: demo_number(op, k / operators.len() as u64),
                    subscriber: Some(subscribers[(k % 16) as usize].clone()),
                };
                k += 1;
                sign(&operators[op], chain, k, block_time + 50 * 60_000, body)
            })
            .collect();
        let refs: Vec<&[u8]> = txs.iter().map(Vec::as_slice).collect();
        match client.submit_batch(&refs, false) {
            Ok(results) => {
                let ok = results.results.iter().filter(|r| r.id.is_some()).count();
                shared.accepted.fetch_add(ok, Ordering::SeqCst);
            }
            Err(_) => {
                shared.failed_submissions.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    Ok(())
}

/// Follows the finalized blocks of a validator that is up, recording every transaction as
/// acknowledged (committed, as a node reported it) and each height's digest and state hash.
fn follow(urls: &[String], from: u64, shared: &Shared) {
    let clients: Vec<Client> = urls.iter().map(|u| Client::new(vec![u.clone()])).collect();
    let (mut height, mut node) = (from, 0usize);
    while !shared.stop_follow.load(Ordering::SeqCst) {
        if node == shared.down.load(Ordering::SeqCst) {
            node = (node + 1) % urls.len();
        }
        let client = &clients[node];
        let Ok(status) = client.status() else {
            node = (node + 1) % urls.len();
            continue;
        };
        if status.height <= height {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        for h in height + 1..=status.height {
            let Ok(block) = client.block(h) else {
                node = (node + 1) % urls.len();
                break;
            };
            if block.height != h {
                *shared.error.lock().expect("lock") =
                    Some(format!("node {node} answered block {} for height {h}", block.height));
                return;
            }
            {
                let mut acknowledged = shared.acknowledged.lock().expect("lock");
                for tx in &block.txs {
                    acknowledged.insert(tx.id.clone(), (h, block.digest.clone()));
                }
            }
            shared.reported.lock().expect("lock").insert(h, (block.digest, block.state_hash));
            height = h;
        }
    }
}

/// What the chains of the nodes show at the end.
struct Check {
    acknowledged: usize,
    lost: usize,
    divergent: usize,
    common: u64,
    first_problem: Option<String>,
}

/// Reads every node's blocks up to their common height: an acknowledged transaction missing
/// from any node is lost; a height whose digest or state hash differs between nodes, or from
/// what a node reported during the run, is divergent.
fn check_chains(net: &super::net::LocalNet, shared: &Shared) -> Result<Check, BenchError> {
    let validators = net.validators();
    let common = (0..validators).map(|i| net.status(i).map(|s| s.height)).collect::<Result<Vec<_>, _>>()?;
    let common = common.into_iter().min().unwrap_or(0);
    let reported = shared.reported.lock().expect("lock").clone();
    let acknowledged = shared.acknowledged.lock().expect("lock").clone();
    let mut ids: Vec<HashSet<String>> = vec![HashSet::new(); validators];
    let mut divergent = 0;
    let mut first_problem = None;
    for h in 1..=common {
        let blocks = (0..validators).map(|i| net.client(i).block(h)).collect::<Result<Vec<_>, _>>()?;
        let first = (&blocks[0].digest, &blocks[0].state_hash);
        let agree = blocks.iter().all(|b| (&b.digest, &b.state_hash) == first)
            && reported.get(&h).is_none_or(|(d, s)| (d, s) == first);
        if !agree {
            divergent += 1;
            first_problem.get_or_insert_with(|| format!("height {h} differs between nodes"));
        }
        for (i, block) in blocks.into_iter().enumerate() {
            ids[i].extend(block.txs.into_iter().map(|t| t.id));
        }
    }
    let mut lost = 0;
    for (id, (h, _)) in &acknowledged {
        if let Some(i) = ids.iter().position(|set| !set.contains(id)) {
            lost += 1;
            first_problem.get_or_insert_with(|| format!("transaction {id} (height {h}) missing on node {i}"));
        }
    }
    Ok(Check { acknowledged: acknowledged.len(), lost, divergent, common, first_problem })
}
