//! `npchain bench soak`: a devnet under everything at once for a while — porting traffic at a
//! fixed modest rate, ENUM queries to every node, event streams held open and others opened and
//! closed over and over — with every node's resident memory, open descriptors and height
//! sampled from `/proc` and the API. The verdict per node: does memory or the descriptor count
//! grow without bound ([`grows`] states the rule).

use super::{
    BenchError, Env, Figures, figure,
    load::{Port, Step, ports, step_txs},
    net::LocalNet,
};
use npchain_core::E164;
use serde::Serialize;
use serde_json::json;
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// What runs during a soak, and for how long.
#[derive(Debug, Clone, Serialize)]
pub struct SoakParams {
    pub seconds: u64,
    /// How often each node is sampled.
    pub sample_every_s: u64,
    /// Ports started each second (each is 4 transactions, one step a second apart).
    pub ports_per_s: usize,
    /// ENUM queries per second to each node (UDP).
    pub enum_per_s_per_node: u32,
    /// Event streams held open on each node for the whole soak.
    pub held_streams_per_node: usize,
    /// Streams opened, read briefly and closed, one after the other, on each node.
    pub churned_streams_per_node: usize,
}

impl SoakParams {
    pub fn new(minutes: f64, smoke: bool) -> Self {
        if smoke {
            Self {
                seconds: (minutes * 60.0).round().max(1.0) as u64,
                sample_every_s: 1,
                ports_per_s: 2,
                enum_per_s_per_node: 20,
                held_streams_per_node: 2,
                churned_streams_per_node: 1,
            }
        } else {
            Self {
                seconds: (minutes * 60.0).round().max(1.0) as u64,
                sample_every_s: 10,
                ports_per_s: 5,
                enum_per_s_per_node: 100,
                held_streams_per_node: 4,
                churned_streams_per_node: 2,
            }
        }
    }
}

/// One node at one moment.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds since the soak's traffic started.
    pub t_s: f64,
    pub rss_kib: u64,
    pub fds: usize,
    /// Of `fds`, those open on files under the node's data directory (its stores).
    pub store_fds: usize,
    /// The bytes of the node's data directory.
    pub data_bytes: u64,
    /// The node's committed height (`None` if it did not answer).
    pub height: Option<u64>,
}

/// Resident memory (KiB, `VmRSS`) and open descriptors of process `pid` (Linux `/proc`).
pub fn proc_usage(pid: u32) -> Option<(u64, usize)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = text
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

/// How many of process `pid`'s open descriptors are files under `dir`.
pub fn fds_under(pid: u32, dir: &Path) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten().filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(dir))).count()
        })
        .unwrap_or(0)
}

/// Growth allowed between the middle third and the last third of a run before a series is said
/// to grow without bound: resident memory max(4 MiB, 5 %), descriptors 8.
pub const RSS_SLACK_KIB: f64 = 4096.0;
pub const RSS_SLACK_FRACTION: f64 = 0.05;
pub const FD_SLACK: f64 = 8.0;

/// The rule: split the samples into thirds by time; a series grows without bound if the median
/// of its last third exceeds the median of its middle third by more than `slack` (the first
/// third is warm-up: caches filling, connections being made). A series that levels off passes;
/// one that keeps climbing at any rate that shows within the run fails.
pub fn grows(series: &[f64], slack: impl Fn(f64) -> f64) -> (bool, f64, f64) {
    let n = series.len();
    if n < 3 {
        return (false, f64::NAN, f64::NAN);
    }
    let middle = super::stats::median(&series[n / 3..2 * n / 3]);
    let last = super::stats::median(&series[2 * n / 3..]);
    (last - middle > slack(middle), middle, last)
}

/// The least-squares slope of `(t_s, value)` over the last two thirds of the points, per minute:
/// how fast a series still climbs after the warm-up.
pub fn slope_per_min(points: &[(f64, f64)]) -> f64 {
    let tail = &points[points.len() / 3..];
    let n = tail.len() as f64;
    if tail.len() < 2 {
        return f64::NAN;
    }
    let (mt, mv) = (tail.iter().map(|p| p.0).sum::<f64>() / n, tail.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = tail.iter().map(|p| (p.0 - mt) * (p.1 - mv)).sum();
    let var: f64 = tail.iter().map(|p| (p.0 - mt).powi(2)).sum();
    if var == 0.0 { f64::NAN } else { cov / var * 60.0 }
}

/// Counts of what the load did.
#[derive(Debug, Default)]
struct Counts {
    submitted: AtomicU64,
    refused_at_submission: AtomicU64,
    submit_errors: AtomicU64,
    applied: AtomicU64,
    rejected_in_block: Mutex<BTreeMap<String, u64>>,
    enum_asked: AtomicU64,
    enum_answered: AtomicU64,
    enum_unanswered: AtomicU64,
    held_opened: AtomicU64,
    held_events: AtomicU64,
    held_ended_early: AtomicU64,
    churn_opened: AtomicU64,
    churn_refused: AtomicU64,
    churn_failed: AtomicU64,
    churn_events: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Waits until `at` or until `stop` is set (a pacing wait, not a synchronisation).
fn pace_until(at: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= at {
            return;
        }
        std::thread::sleep((at - now).min(Duration::from_millis(100)));
    }
}

/// Seconds between the steps of one port (bind, request, release, activate): long enough for
/// the previous step to commit on a devnet.
const STEP_LAG_S: u64 = 3;

/// Porting traffic: each second a new group of ports is bound, the group of `STEP_LAG_S`
/// seconds ago requested, the one before released, the one before that activated.
fn porting(net: &LocalNet, params: &SoakParams, deadline: Instant, stop: &AtomicBool, counts: &Counts) {
    if params.ports_per_s == 0 {
        return;
    }
    let t0 = Instant::now();
    let mut groups: Vec<Vec<Port>> = Vec::new();
    let clients: Vec<_> = (0..net.validators()).map(|i| net.client(i)).collect();
    let mut expires = 0;
    for tick in 0u64.. {
        pace_until(t0 + Duration::from_secs(tick), stop);
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return;
        }
        if tick % 30 == 0
            && let Ok(s) = net.status(0)
        {
            expires = s.block_time_ms + 10 * 60_000;
        }
        let first = groups.len() as u64 * params.ports_per_s as u64;
        groups.push(ports(params.ports_per_s, net.validators(), first));
        for (s, step) in Step::ALL.into_iter().enumerate() {
            let Some(g) = (tick as usize).checked_sub(s * STEP_LAG_S as usize) else { continue };
            let txs = step_txs(net, &groups[g], step, expires);
            let mut per_node: Vec<Vec<&[u8]>> = vec![Vec::new(); net.validators()];
            for t in &txs {
                per_node[t.node].push(&t.bytes);
            }
            for (node, batch) in per_node.iter().enumerate().filter(|(_, b)| !b.is_empty()) {
                add(&counts.submitted, batch.len() as u64);
                match clients[node].submit_batch(batch, false) {
                    Ok(r) => add(&counts.refused_at_submission, (batch.len() - r.accepted) as u64),
                    Err(_) => add(&counts.submit_errors, batch.len() as u64),
                }
            }
        }
        // Ports done long ago are not needed again.
        if let Some(old) = (tick as usize).checked_sub(4 * STEP_LAG_S as usize) {
            groups[old] = Vec::new();
        }
    }
}

/// Follows node 0's blocks and counts the outcomes of the transactions in them.
fn observe(net: &LocalNet, from: u64, stop: &AtomicBool, counts: &Counts) {
    let client = net.client(0);
    let mut height = from;
    while !stop.load(Ordering::Relaxed) {
        let Ok(tip) = client.status().map(|s| s.height) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        for h in height + 1..=tip {
            let Ok(block) = client.block(h) else { break };
            for tx in &block.txs {
                if tx.outcome == "applied" {
                    add(&counts.applied, 1);
                } else {
                    let code = tx.code.clone().unwrap_or_else(|| tx.outcome.clone());
                    *counts.rejected_in_block.lock().expect("lock").entry(code).or_default() += 1;
                }
            }
            height = h;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// ENUM queries to node `i` at a steady rate: numbers of the demo ranges, some ported by now,
/// most not.
fn enum_queries(net: &LocalNet, i: usize, per_s: u32, stop: &AtomicBool, counts: &Counts) {
    if per_s == 0 {
        return;
    }
    let Ok(mut probe) = net.enum_probe(i) else {
        add(&counts.enum_unanswered, 1);
        return;
    };
    let t0 = Instant::now();
    let every = Duration::from_secs(1) / per_s.max(1);
    for q in 0u64.. {
        pace_until(t0 + every * q as u32, stop);
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let number: E164 = super::load::demo_number((q as usize) % net.validators(), (q * 7) % 2_000);
        add(&counts.enum_asked, 1);
        match probe.ask(&number) {
            Ok(_) => add(&counts.enum_answered, 1),
            Err(_) => add(&counts.enum_unanswered, 1),
        }
    }
}

fn agent(limit: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(limit))
        .build()
        .into()
}

/// Reads the event stream at `url` until the agent's time limit ends it or `stop` is set; the
/// number of events read, or the HTTP status if the stream was refused.
fn read_stream(
    agent: &ureq::Agent,
    url: &str,
    stop: &AtomicBool,
    max_events: Option<u64>,
) -> Result<u64, Option<u16>> {
    let response = agent.get(url).call().map_err(|_| None)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(Some(status));
    }
    let mut events = 0;
    let reader = BufReader::new(response.into_body().into_reader());
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if line.starts_with("data:") {
            events += 1;
        }
        if stop.load(Ordering::Relaxed) || max_events.is_some_and(|m| events >= m) {
            break;
        }
    }
    Ok(events)
}

/// Measures one soak; writes every sample to `<out>/soak-samples.json`.
// The table of samples is part of what the command prints.
#[allow(clippy::print_stdout)]
pub fn soak(env: &Env, params: &SoakParams, out: &Path) -> Result<Figures, BenchError> {
    let net = LocalNet::start(&env.data.join("soak"), env, None, Duration::from_secs(120))?;
    let v = net.validators();
    let pids: Vec<u32> = (0..v)
        .map(|i| net.pid(i).ok_or_else(|| BenchError::Setup(format!("node {i} has no process"))))
        .collect::<Result<_, _>>()?;
    // Absolute, as the descriptors' links are.
    let data_dirs: Vec<std::path::PathBuf> = (0..v)
        .map(|i| {
            let d = net.layout.nodes[i].dir.join("data");
            std::fs::canonicalize(&d).unwrap_or(d)
        })
        .collect();
    let counts = Counts::default();
    let stop = AtomicBool::new(false);
    let start_height = net.status(0)?.height;
    let t0 = Instant::now();
    let duration = Duration::from_secs(params.seconds);
    let deadline = t0 + duration;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); v];
    let mut dead: Vec<Option<f64>> = vec![None; v];
    std::thread::scope(|s| {
        s.spawn(|| porting(&net, params, deadline, &stop, &counts));
        s.spawn(|| observe(&net, start_height, &stop, &counts));
        for i in 0..v {
            let (net, stop, counts) = (&net, &stop, &counts);
            s.spawn(move || enum_queries(net, i, params.enum_per_s_per_node, stop, counts));
            for _ in 0..params.held_streams_per_node {
                s.spawn(move || {
                    // Held to the end of the soak; the agent's limit closes it then at the latest.
                    let agent = agent(duration + Duration::from_secs(2));
                    let url = format!("{}/v1/events", net.http(i));
                    add(&counts.held_opened, 1);
                    let read = read_stream(&agent, &url, stop, None);
                    if let Ok(n) = read {
                        add(&counts.held_events, n);
                    }
                    if read.is_err() || Instant::now() + Duration::from_secs(1) < deadline {
                        add(&counts.held_ended_early, 1);
                    }
                });
            }
            for _ in 0..params.churned_streams_per_node {
                s.spawn(move || {
                    let agent = agent(Duration::from_secs(2));
                    while !stop.load(Ordering::Relaxed) {
                        let from = net.status(i).map(|st| st.height.saturating_sub(20).max(1)).unwrap_or(1);
                        let url = format!("{}/v1/events?from_height={from}", net.http(i));
                        add(&counts.churn_opened, 1);
                        match read_stream(&agent, &url, stop, Some(5)) {
                            Ok(n) => add(&counts.churn_events, n),
                            Err(Some(_)) => add(&counts.churn_refused, 1),
                            Err(None) => add(&counts.churn_failed, 1),
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
            }
        }
        // The sampler, on this thread.
        let every = Duration::from_secs(params.sample_every_s.max(1));
        for k in 0u32.. {
            pace_until(t0 + every * k, &AtomicBool::new(false));
            let t_s = t0.elapsed().as_secs_f64();
            for i in 0..v {
                match proc_usage(pids[i]) {
                    Some((rss_kib, fds)) => {
                        let height = net.status(i).ok().map(|st| st.height);
                        let data = &data_dirs[i];
                        let (store_fds, data_bytes) = (fds_under(pids[i], data), super::dir_bytes(data));
                        samples[i].push(Sample { t_s, rss_kib, fds, store_fds, data_bytes, height });
                    }
                    None => {
                        dead[i].get_or_insert(t_s);
                    }
                }
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    if let Some((i, t)) = dead.iter().enumerate().find_map(|(i, d)| d.map(|t| (i, t))) {
        return Err(BenchError::Setup(format!(
            "node {i} exited during the soak (after {t:.0} s); see {}",
            net.layout.nodes[i].dir.join("node.log").display()
        )));
    }
    print_table(&samples);
    let path = out.join("soak-samples.json");
    std::fs::create_dir_all(out).map_err(|e| BenchError::io(out, e))?;
    let json = json!({ "params": params, "nodes": samples });
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap_or_default())
        .map_err(|e| BenchError::io(&path, e))?;
    println!("   samples written to {}", path.display());
    Ok(soak_figures(params, &samples, &counts, start_height))
}

fn soak_figures(params: &SoakParams, samples: &[Vec<Sample>], c: &Counts, start_height: u64) -> Figures {
    let mut f = Figures::new();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    let minutes = params.seconds as f64 / 60.0;
    figure(&mut f, "soak duration", minutes, "min");
    figure(&mut f, "transactions submitted", load(&c.submitted), "tx");
    figure(&mut f, "transactions refused at submission", load(&c.refused_at_submission), "tx");
    figure(&mut f, "transactions not delivered (HTTP error)", load(&c.submit_errors), "tx");
    figure(&mut f, "transactions applied (seen on node 0)", load(&c.applied), "tx");
    let rejected: u64 = c.rejected_in_block.lock().expect("lock").values().sum();
    figure(&mut f, "transactions rejected in a block", rejected as f64, "tx");
    figure(&mut f, "applied rate", load(&c.applied) / params.seconds.max(1) as f64, "tx/s");
    figure(&mut f, "ENUM queries asked (all nodes)", load(&c.enum_asked), "queries");
    figure(&mut f, "ENUM queries unanswered after 5 tries", load(&c.enum_unanswered), "queries");
    figure(&mut f, "event streams held", load(&c.held_opened), "streams");
    figure(&mut f, "event streams ended before the soak did", load(&c.held_ended_early), "streams");
    figure(&mut f, "events read on held streams", load(&c.held_events), "events");
    figure(&mut f, "event streams opened and closed", load(&c.churn_opened), "streams");
    figure(&mut f, "  of them refused (HTTP status)", load(&c.churn_refused), "streams");
    figure(&mut f, "  of them failed (no answer)", load(&c.churn_failed), "streams");
    figure(&mut f, "events read on those streams", load(&c.churn_events), "events");
    for (i, s) in samples.iter().enumerate() {
        let end = s.iter().rev().find_map(|x| x.height).unwrap_or(0);
        let blocks = end.saturating_sub(start_height);
        figure(&mut f, format!("node {i}: blocks committed"), blocks as f64, "blocks");
        let rss: Vec<f64> = s.iter().map(|x| x.rss_kib as f64 / 1024.0).collect();
        // The stores keep every file of their archives open and add files as the chain grows
        // (`npchain_node::fds`): those are counted apart from the rest (sockets, runtimes, logs).
        let fds: Vec<f64> = s.iter().map(|x| x.fds.saturating_sub(x.store_fds) as f64).collect();
        let store: Vec<f64> = s.iter().map(|x| x.store_fds as f64).collect();
        let (rss_grows, rss_mid, rss_last) =
            grows(&rss, |m| (RSS_SLACK_KIB / 1024.0).max(m * RSS_SLACK_FRACTION));
        let (fd_grows, fd_mid, fd_last) = grows(&fds, |_| FD_SLACK);
        let first = |v: &[f64]| v.first().copied().unwrap_or(f64::NAN);
        let last = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let mut node = |name: &str, value: f64, unit: &'static str| {
            figure(&mut f, format!("node {i}: {name}"), value, unit);
        };
        node("RSS first sample", first(&rss), "MiB");
        node("RSS median, middle third", rss_mid, "MiB");
        node("RSS median, last third", rss_last, "MiB");
        node("RSS max", max(&rss), "MiB");
        let rss_t: Vec<(f64, f64)> = s.iter().map(|x| (x.t_s, x.rss_kib as f64 / 1024.0)).collect();
        node("RSS slope over the last two thirds", slope_per_min(&rss_t), "MiB/min");
        node("fds other than store files, first sample", first(&fds), "fds");
        node("fds other than store files, median of middle third", fd_mid, "fds");
        node("fds other than store files, median of last third", fd_last, "fds");
        node("fds other than store files, max", max(&fds), "fds");
        node("store files open, first sample", first(&store), "fds");
        node("store files open, last sample", last(&store), "fds");
        node(
            "store files opened per 1,000 blocks",
            (last(&store) - first(&store)) * 1000.0 / blocks.max(1) as f64,
            "fds",
        );
        let data: Vec<f64> = s.iter().map(|x| x.data_bytes as f64 / 1_048_576.0).collect();
        node("data on disk, first sample", first(&data), "MiB");
        node("data on disk, last sample", last(&data), "MiB");
        node("RSS grows without bound (1 = yes)", f64::from(u8::from(rss_grows)), "");
        node("fds other than store files grow without bound (1 = yes)", f64::from(u8::from(fd_grows)), "");
    }
    f
}

/// The samples as a table, at most about 20 rows (every k-th sample, and the last).
#[allow(clippy::print_stdout)]
fn print_table(samples: &[Vec<Sample>]) {
    let n = samples.iter().map(Vec::len).min().unwrap_or(0);
    if n == 0 {
        return;
    }
    let step = n.div_ceil(20);
    let mut head = format!("   {:>7}", "t (s)");
    for i in 0..samples.len() {
        head.push_str(&format!(" | n{i} RSS MiB  fds (store)  height"));
    }
    println!("{head}");
    let rows = (0..n).step_by(step).chain(((n - 1) % step != 0).then_some(n - 1));
    for k in rows {
        let mut row = format!("   {:>7.0}", samples[0][k].t_s);
        for s in samples {
            let x = s[k];
            let h = x.height.map_or("-".to_owned(), |h| h.to_string());
            row.push_str(&format!(
                " | {:>10.1} {:>4} ({:>4}) {:>7}",
                x.rss_kib as f64 / 1024.0,
                x.fds,
                x.store_fds,
                h
            ));
        }
        println!("{row}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_that_levels_off_passes_and_one_that_climbs_fails() {
        let slack = |_: f64| 8.0;
        // Warm-up, then flat with noise.
        let flat: Vec<f64> =
            (0..30).map(|k| if k < 10 { 10.0 * k as f64 } else { 100.0 + (k % 3) as f64 }).collect();
        assert!(!grows(&flat, slack).0);
        // One descriptor more every sample: 10 more in the last third than in the middle.
        let leak: Vec<f64> = (0..30).map(|k| 100.0 + k as f64).collect();
        let (g, mid, last) = grows(&leak, slack);
        assert!(g, "{mid} → {last}");
        assert_eq!((mid, last), (114.5, 124.5));
        assert!(!grows(&[1.0, 100.0], slack).0, "too few samples to judge");
        // 2 a sample 10 s apart after a jump: 12 a minute.
        let points: Vec<(f64, f64)> =
            (0..9).map(|k| (10.0 * k as f64, if k < 3 { 0.0 } else { 50.0 + 2.0 * k as f64 })).collect();
        assert!((slope_per_min(&points) - 12.0).abs() < 1e-9, "{}", slope_per_min(&points));
        assert!(slope_per_min(&points[..1]).is_nan());
    }
}
