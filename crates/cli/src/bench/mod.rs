//! `npchain bench` and `npchain sim`: measurements on a devnet of validator processes on this
//! machine. Each scenario starts its own devnet, drives it through the HTTP API and reads the
//! answers over HTTP and ENUM, as operators and sending networks would; it prints its figures
//! and writes them as JSON. Several runs give medians.

pub mod burst;
pub mod epochs;
pub mod export;
pub mod import;
pub mod kill;
pub mod load;
pub mod net;
pub mod probe;
pub mod sms;
pub mod soak;
pub mod statistics;
pub mod stats;

use commonware_cryptography::Signer;
use load::{Step, demo_number, drive, expiry, ports, sign, step_txs};
use net::{EnumProbe, LocalNet, answer_rn};
use npchain_client::{ClientError, Refusal};
use npchain_core::{E164, TxBody};
use serde_json::{Value, json};
use stats::{Percentiles, median};
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("devnet: {0}")]
    Devnet(#[from] crate::devnet::DevnetError),
    #[error("node API: {0}")]
    Client(#[from] ClientError),
    #[error(transparent)]
    Key(#[from] npchain_node::keys::KeyError),
    /// A transaction the bench made does not decode.
    #[error(transparent)]
    Tx(#[from] npchain_core::tx::InvalidTx),
    /// A node's ENUM answer does not read.
    #[error(transparent)]
    Answer(#[from] npchain_api::enum_query::AnswerError),
    /// The devnet did not do what the scenario expected of it.
    #[error("{0}")]
    Setup(String),
    /// A block log the scenario writes itself.
    #[error(transparent)]
    Log(#[from] Box<npchain_node::storage::BlockLogError>),
}

impl From<npchain_node::storage::BlockLogError> for BenchError {
    fn from(e: npchain_node::storage::BlockLogError) -> Self {
        Self::Log(Box::new(e))
    }
}

impl BenchError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}

/// Where and how a scenario runs.
#[derive(Debug, Clone)]
pub struct Env {
    /// Devnets are made under this directory (deleted and made again for each run).
    pub data: PathBuf,
    pub port_base: u16,
    pub validators: usize,
    /// Each node's ledger page cache in MiB (`[storage] cache-mib`), if not the default.
    pub cache_mib: Option<usize>,
    /// The genesis's epoch length, if not the devnet's default.
    pub blocks_per_epoch: Option<std::num::NonZeroU64>,
}

/// One run's figures: (name, value, unit), in the order they are printed.
pub type Figures = Vec<(String, f64, &'static str)>;

fn figure(figures: &mut Figures, name: impl Into<String>, value: f64, unit: &'static str) {
    figures.push((name.into(), value, unit));
}

fn latency_figures(figures: &mut Figures, what: &str, p: Percentiles) {
    figure(figures, format!("{what} p50"), p.p50, "ms");
    figure(figures, format!("{what} p99"), p.p99, "ms");
}

/// Runs `scenario` `runs` times, prints each run and the medians, and writes
/// `<out>/<name>.json`.
// The report is what the command prints.
#[allow(clippy::print_stdout)]
pub fn repeat(
    name: &str,
    params: Value,
    runs: usize,
    out: &Path,
    scenario: &dyn Fn() -> Result<Figures, BenchError>,
) -> Result<Value, BenchError> {
    let mut all: Vec<Figures> = Vec::new();
    println!("== {name} {params}");
    for run in 0..runs.max(1) {
        let started = Instant::now();
        let figures = scenario()?;
        println!("-- run {} of {} ({:.0} s)", run + 1, runs.max(1), started.elapsed().as_secs_f64());
        for (k, v, unit) in &figures {
            println!("   {k:<58} {v:>14.2} {unit}");
        }
        all.push(figures);
    }
    let mut medians = serde_json::Map::new();
    if all.len() > 1 {
        println!("-- median of {} runs (min … max)", all.len());
    }
    for (i, (k, _, unit)) in all[0].iter().enumerate() {
        let values: Vec<f64> = all.iter().filter_map(|f| f.get(i).map(|x| x.1)).collect();
        let m = median(&values);
        let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        if all.len() > 1 {
            println!("   {k:<58} {m:>14.2} {unit}  ({lo:.2} … {hi:.2})");
        }
        medians.insert(k.clone(), json!({ "median": m, "min": lo, "max": hi, "unit": unit }));
    }
    let runs_json: Vec<Value> = all
        .iter()
        .map(|f| Value::Object(f.iter().map(|(k, v, _)| (k.clone(), json!(v))).collect()))
        .collect();
    let report = json!({
        "scenario": name,
        "params": params,
        "machine": machine(),
        "runs": runs_json,
        "figures": medians,
    });
    std::fs::create_dir_all(out).map_err(|e| BenchError::io(out, e))?;
    let path = out.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default())
        .map_err(|e| BenchError::io(&path, e))?;
    println!("   written to {}", path.display());
    Ok(report)
}

/// The machine a figure was measured on.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
    });
    let mem_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("MemTotal"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    });
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory_gib": mem_kib.map(|k| (k as f64 / 1_048_576.0 * 10.0).round() / 10.0),
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// Transactions per HTTP request, for the drivers.
const BATCH: usize = 1_000;
/// The load generator's default bound on transactions submitted and not yet committed.
pub const WINDOW: usize = 8_000;

/// A fresh devnet for scenario `name`, in `<data>/<name>`.
fn start(
    env: &Env,
    name: &str,
    ported: Option<&Path>,
    ready_within: Duration,
) -> Result<LocalNet, BenchError> {
    LocalNet::start(&env.data.join(name), env, ported, ready_within)
}

/// The routing number operator `i` of a devnet answers with (`+49D001`, `+49D002`, …).
fn devnet_rn(i: usize) -> String {
    format!("+49D{:03X}", i + 1)
}

/// Transactions per HTTP request when a driver offers a rate: small, so that the load is smooth.
const PACED_BATCH: usize = 50;

/// Write throughput and commit latency: every step of `count` ports (bind, request, release,
/// activate), each step's transactions submitted as fast as the network commits them, or at
/// the offered `rate` (transactions/s); without a rate, at most `window` in flight.
pub fn throughput(env: &Env, count: usize, rate: Option<f64>, window: usize) -> Result<Figures, BenchError> {
    let net = start(env, "throughput", None, Duration::from_secs(120))?;
    let ports = ports(count, env.validators, 0);
    let mut figures = Figures::new();
    let (flow, batch) = match rate {
        Some(rate) => {
            figure(&mut figures, "offered tx/s", rate, "tx/s");
            (load::Flow::Rate(rate), PACED_BATCH)
        }
        None => (load::Flow::Window(window), BATCH),
    };
    let (mut applied, mut seconds, mut latencies, mut cpu) = (0, 0.0, Vec::new(), 0.0);
    for step in Step::ALL {
        // As a client sets it: the chain's last block time and the validity it wants.
        let txs = step_txs(&net, &ports, step, expiry(&net, 50)?);
        let cpu_before = net.cpu_seconds_all();
        let d = load::drive_with(&net, txs, batch, flow, Duration::from_secs(1800))?;
        cpu += net.cpu_seconds_all() - cpu_before;
        check_all_applied(step.name(), &d)?;
        figure(&mut figures, format!("{} tx/s", step.name()), d.tx_per_s(), "tx/s");
        figure(&mut figures, format!("{} p99", step.name()), Percentiles::of(&d.latency_ms).p99, "ms");
        applied += d.applied;
        seconds += d.seconds;
        latencies.extend(d.latency_ms);
    }
    figure(&mut figures, "all steps tx/s (committed)", applied as f64 / seconds, "tx/s");
    figure(&mut figures, "transactions committed", applied as f64, "tx");
    // What a transaction costs the network, steadier from run to run than the rate: the CPU
    // time of all validator processes while the steps ran, per transaction committed.
    figure(&mut figures, "validators' CPU per committed tx (all nodes)", cpu / applied as f64 * 1e6, "µs");
    latency_figures(
        &mut figures,
        "commit latency (submit → seen committed on node 0)",
        Percentiles::of(&latencies),
    );
    Ok(figures)
}

fn check_all_applied(what: &str, d: &load::Driven) -> Result<(), BenchError> {
    if d.applied != d.submitted {
        return Err(BenchError::Setup(format!(
            "{what}: {} of {} transactions applied; refused: {:?}",
            d.applied, d.submitted, d.refused
        )));
    }
    Ok(())
}

/// Ports prepared up to (not including) activation: bound, requested, released.
fn prepare_ports(net: &LocalNet, count: usize, first: u64) -> Result<Vec<load::Port>, BenchError> {
    let ports = ports(count, net.validators(), first);
    let expires = expiry(net, 50)?;
    for step in [Step::Bind, Step::Request, Step::Release] {
        let d = drive(net, step_txs(net, &ports, step, expires), BATCH, WINDOW, Duration::from_secs(600))?;
        check_all_applied(step.name(), &d)?;
    }
    Ok(ports)
}

/// For each port, one at a time: the activation is submitted to the recipient's node, and
/// every node's ENUM server is asked until it answers the recipient's routing number. The
/// delays from submission, per node, in ms.
pub fn activation_delays(net: &LocalNet, ports: &[load::Port]) -> Result<Vec<Vec<f64>>, BenchError> {
    let mut probes: Vec<EnumProbe> =
        (0..net.validators()).map(|i| net.enum_probe(i)).collect::<Result<_, _>>()?;
    let expires = expiry(net, 50)?;
    let mut out = Vec::with_capacity(ports.len());
    for (k, p) in ports.iter().enumerate() {
        let want = devnet_rn(p.recipient);
        for probe in probes.iter_mut() {
            if answer_rn(&probe.ask(&p.number)?) == Some(want.as_str()) {
                return Err(BenchError::Setup(format!("{} already routes to {want}", p.number)));
            }
        }
        let tx = sign(
            &net.keys.operators[p.recipient],
            &net.keys.chain,
            1_000_000 + k as u64,
            expires,
            TxBody::Activate { port: p.id },
        );
        let t0 = Instant::now();
        let result = net.client(p.recipient).submit_batch(&[&tx], false)?;
        if let Some(r) = result.results.first().and_then(Refusal::in_batch) {
            return Err(BenchError::Setup(format!("activation {r}")));
        }
        let mut delays = vec![f64::NAN; probes.len()];
        while delays.iter().any(|d| d.is_nan()) {
            if t0.elapsed() > Duration::from_secs(30) {
                return Err(BenchError::Setup(format!(
                    "{} did not switch on every node within 30 s",
                    p.number
                )));
            }
            for (i, probe) in probes.iter_mut().enumerate() {
                if delays[i].is_nan() && answer_rn(&probe.ask(&p.number)?) == Some(want.as_str()) {
                    delays[i] = t0.elapsed().as_secs_f64() * 1e3;
                }
            }
        }
        out.push(delays);
    }
    Ok(out)
}

/// Propagation: activation submitted → changed ENUM answer on each node.
pub fn propagation(env: &Env, count: usize) -> Result<Figures, BenchError> {
    let net = start(env, "propagation", None, Duration::from_secs(120))?;
    let ports = prepare_ports(&net, count, 0)?;
    let delays = activation_delays(&net, &ports)?;
    Ok(propagation_figures(&delays))
}

fn propagation_figures(delays: &[Vec<f64>]) -> Figures {
    let every: Vec<f64> = delays.iter().flatten().copied().collect();
    let all_nodes: Vec<f64> = delays.iter().map(|d| d.iter().copied().fold(0.0, f64::max)).collect();
    let spread: Vec<f64> = delays
        .iter()
        .map(|d| d.iter().copied().fold(0.0, f64::max) - d.iter().copied().fold(f64::MAX, f64::min))
        .collect();
    let mut figures = Figures::new();
    figure(&mut figures, "activations measured", delays.len() as f64, "ports");
    latency_figures(&mut figures, "submit → changed ENUM answer, each node", Percentiles::of(&every));
    latency_figures(&mut figures, "submit → changed ENUM answer on every node", Percentiles::of(&all_nodes));
    latency_figures(&mut figures, "first node changed → last node changed", Percentiles::of(&spread));
    figures
}

/// Polls `sample` on every node's ENUM server until each answers routing number `want`; the
/// time from `t0` until the last node did, in s.
fn until_routed(
    net: &LocalNet,
    sample: &[E164],
    want: &str,
    t0: Instant,
    limit: Duration,
) -> Result<f64, BenchError> {
    let mut slowest: f64 = 0.0;
    for i in 0..net.validators() {
        let mut probe = net.enum_probe(i)?;
        let mut pending: Vec<E164> = sample.to_vec();
        while !pending.is_empty() {
            if t0.elapsed() > limit {
                return Err(BenchError::Setup(format!(
                    "node {i}: {} numbers not re-routed within {limit:?}",
                    pending.len()
                )));
            }
            let mut still = Vec::new();
            for n in pending {
                if answer_rn(&probe.ask(&n)?) != Some(want) {
                    still.push(n);
                }
            }
            pending = still;
        }
        slowest = slowest.max(t0.elapsed().as_secs_f64());
    }
    Ok(slowest)
}

/// Up to `k` numbers spread evenly over `numbers`, with the first and the last.
fn sample(numbers: &[E164], k: usize) -> Vec<E164> {
    if numbers.len() <= k {
        return numbers.to_vec();
    }
    let mut out: Vec<E164> = (0..k).map(|i| numbers[i * (numbers.len() - 1) / (k - 1)]).collect();
    out.dedup();
    out
}

/// Mass updates of `count` numbers: (a) the serving operator's routing number changes (one
/// regulator transaction re-routes every number it serves); (b) an enterprise's group port
/// of `count` numbers in requests of up to 10,000.
pub fn mass(env: &Env, count: usize) -> Result<Figures, BenchError> {
    std::fs::create_dir_all(&env.data).map_err(|e| BenchError::io(&env.data, e))?;
    let csv = env.data.join("mass-ported.csv");
    let migrated: Vec<E164> = (0..count as u64).map(|k| demo_number(0, k)).collect();
    write_ported(&csv, migrated.len() as u64, migrated.iter().map(|n| (*n, "OPB")))?;
    let net = start(env, "mass", Some(&csv), Duration::from_secs(1800))?;
    let mut figures = Figures::new();
    let checked = sample(&migrated, 1_000);
    figure(&mut figures, "numbers re-routed", count as f64, "numbers");
    figure(&mut figures, "numbers checked on every node (ENUM)", checked.len() as f64, "numbers");

    // (a) OPB's routing number changes.
    let new_rn = "+49D0B2";
    let opb = &net.keys.operators[1];
    let update = sign(
        &net.keys.regulator,
        &net.keys.chain,
        1,
        expiry(&net, 50)?,
        TxBody::UpdateOperator {
            id: "OPB".parse().expect("id"),
            operator_key: opb.public_key(),
            routing_number: new_rn.parse().expect("rn"),
        },
    );
    let t0 = Instant::now();
    let r = net.client(0).submit_batch(&[&update], false)?;
    if let Some(r) = r.results.first().and_then(Refusal::in_batch) {
        return Err(BenchError::Setup(format!("routing number change {r}")));
    }
    let s = until_routed(&net, &checked, new_rn, t0, Duration::from_secs(600))?;
    figure(&mut figures, "(a) rn change: submit → every node answers the new route", s, "s");

    // (b) A group port of `count` other numbers of OPA to OPC.
    let group = load::GroupPort::new(count);
    let expires = expiry(&net, 50)?;
    let bound = drive(&net, group.binds(&net, expires), BATCH, WINDOW, Duration::from_secs(1800))?;
    check_all_applied("bind", &bound)?;
    let step = |txs: Vec<load::Outgoing>| -> Result<(), BenchError> {
        let d = drive(&net, txs, 4, WINDOW, Duration::from_secs(600))?;
        check_all_applied("group step", &d)
    };
    let t0 = Instant::now();
    step(group.request_txs(&net, expires))?;
    // The donor's answer to each order, then the recipient's: one transaction per order.
    step(group.answers(&net, 0, 1_000, expires, |port| TxBody::Release { port }))?;
    let t_activate = Instant::now();
    let activations = group.answers(&net, 2, 2_000, expires, |port| TxBody::Activate { port });
    let refs: Vec<&[u8]> = activations.iter().map(|t| t.bytes.as_slice()).collect();
    net.client(2).submit_batch(&refs, false)?;
    let s = until_routed(&net, &sample(&group.numbers, 1_000), &devnet_rn(2), t0, Duration::from_secs(1800))?;
    figure(&mut figures, "(b) group port: requests submitted → every node answers the new route", s, "s");
    figure(
        &mut figures,
        "(b) group port: activations submitted → every node answers",
        s - t_activate.duration_since(t0).as_secs_f64(),
        "s",
    );
    figure(&mut figures, "(b) binding the numbers to the enterprise key (setup)", bound.tx_per_s(), "tx/s");
    Ok(figures)
}

/// Writes the list of `count` ported numbers that scale, export and import use: half of OPA's
/// even demo numbers ported to OPB, half of OPB's to OPA.
fn write_demo_list(path: &Path, count: usize) -> Result<(), BenchError> {
    let half = count as u64 / 2;
    write_ported(
        path,
        count as u64,
        (0..half)
            .map(|k| (demo_number(0, k * 2), "OPB"))
            .chain((0..count as u64 - half).map(|k| (demo_number(1, k * 2), "OPA"))),
    )
}

/// Writes a migration list of `total` entries, with its progress on stderr.
fn write_ported(
    path: &Path,
    total: u64,
    entries: impl Iterator<Item = (E164, &'static str)>,
) -> Result<(), BenchError> {
    let file = std::fs::File::create(path).map_err(|e| BenchError::io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    let io = |e| BenchError::io(path, e);
    let mut progress =
        crate::progress::Progress::count("writing the list", "numbers", Some(total), Duration::from_secs(10));
    writeln!(w, "number,operator").map_err(io)?;
    for (i, (n, op)) in entries.enumerate() {
        writeln!(w, "{n},{op}").map_err(io)?;
        if i % 65_536 == 0 {
            progress.set(i as u64);
        }
    }
    progress.set(total);
    progress.finish();
    w.flush().map_err(io)
}

/// Scale: a migration list of `count` ported numbers loaded by every node at genesis; load
/// time, memory, disk and ENUM lookup latency. `baseline_kib` is a node's memory without it.
pub fn scale(env: &Env, count: usize, baseline_kib: Option<f64>) -> Result<Figures, BenchError> {
    std::fs::create_dir_all(&env.data).map_err(|e| BenchError::io(&env.data, e))?;
    let csv = env.data.join(format!("scale-{count}.csv"));
    write_demo_list(&csv, count)?;
    let half = count as u64 / 2;
    let t0 = Instant::now();
    let net = start(env, "scale", Some(&csv), Duration::from_secs(4 * 3600))?;
    let load_s = t0.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&csv);
    let memory: Vec<(u64, u64)> = (0..net.validators()).filter_map(|i| net.memory_kib(i)).collect();
    let rss = median(&memory.iter().map(|m| m.0 as f64).collect::<Vec<_>>());
    let peak = median(&memory.iter().map(|m| m.1 as f64).collect::<Vec<_>>());
    let disk = dir_bytes(&net.layout.nodes[0].dir.join("data"));
    // Lookups: 60 % ported, 30 % not ported (in a range), 10 % in no range.
    let mut probe = net.enum_probe(0)?;
    let mut latencies = Vec::new();
    let mut wrong = 0;
    let queries = 20_000u64;
    for q in 0..queries {
        let k = (q * 7_919) % half.max(1);
        let (number, want) = match q % 10 {
            0..=5 => (demo_number(0, k * 2), Some(Some(devnet_rn(1)))),
            6..=8 => (demo_number(0, k * 2 + 1), Some(None)),
            _ => (format!("+4940{:09}", k).parse().expect("number"), None),
        };
        let t = Instant::now();
        let answer = probe.ask(&number)?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        let ok = match (&want, &answer) {
            (Some(rn), npchain_api::enum_query::EnumAnswer::Naptr(_)) => {
                answer_rn(&answer).map(str::to_owned) == *rn
            }
            (None, npchain_api::enum_query::EnumAnswer::Negative(_)) => true,
            _ => false,
        };
        wrong += usize::from(!ok);
    }
    if wrong > 0 {
        return Err(BenchError::Setup(format!(
            "{wrong} of {queries} ENUM answers were not the expected route"
        )));
    }
    let mut figures = Figures::new();
    figure(&mut figures, "ported numbers loaded", count as f64, "numbers");
    figure(&mut figures, "start → every node serving (genesis migration load)", load_s, "s");
    figure(&mut figures, "resident memory per node (median of nodes)", rss / 1024.0, "MiB");
    figure(&mut figures, "peak resident memory per node", peak / 1024.0, "MiB");
    if let Some(base) = baseline_kib {
        figure(
            &mut figures,
            "memory per number above an empty node",
            (rss - base) * 1024.0 / count.max(1) as f64,
            "bytes",
        );
        figure(
            &mut figures,
            "→ numbers per 24 GiB node at that rate",
            24.0 * 1024.0 * 1024.0 * 1024.0 / ((rss - base) * 1024.0 / count.max(1) as f64),
            "numbers",
        );
    }
    figure(&mut figures, "disk per node (ledger, block log, consensus)", disk as f64 / 1_048_576.0, "MiB");
    latency_figures(
        &mut figures,
        "ENUM lookup round trip (UDP, loopback, sequential)",
        Percentiles::of(&latencies),
    );
    Ok(figures)
}

/// A node's memory with no migration list: the baseline of the scale figures, in KiB.
pub fn empty_node_kib(env: &Env) -> Result<f64, BenchError> {
    let net = start(env, "scale", None, Duration::from_secs(120))?;
    let rss: Vec<f64> = (0..net.validators()).filter_map(|i| net.memory_kib(i)).map(|m| m.0 as f64).collect();
    Ok(median(&rss))
}

pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Catch-up: the last validator is down while `count` transactions commit; then it restarts.
pub fn catchup(env: &Env, count: usize) -> Result<Figures, BenchError> {
    let mut net = start(env, "catchup", None, Duration::from_secs(120))?;
    let down = net.validators() - 1;
    net.kill(down);
    let ports = ports(count, net.validators(), 0);
    let mut txs = step_txs(&net, &ports, Step::Bind, expiry(&net, 55)?);
    // The down node's operator sends through another node.
    for t in txs.iter_mut().filter(|t| t.node == down) {
        t.node = 0;
    }
    let d = drive(&net, txs, BATCH, WINDOW, Duration::from_secs(3600))?;
    check_all_applied("bind", &d)?;
    let target = net.status(0)?.height;
    let t0 = Instant::now();
    net.restart(down)?;
    loop {
        if let Ok(s) = net.status(down)
            && s.height >= target
        {
            break;
        }
        if t0.elapsed() > Duration::from_secs(3600) {
            return Err(BenchError::Setup(format!(
                "node {down} did not catch up to {target} within an hour"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = t0.elapsed().as_secs_f64();
    let theirs = net.client(0).block(target)?;
    let ours = net.client(down).block(target)?;
    if theirs.state_hash != ours.state_hash {
        return Err(BenchError::Setup(format!(
            "after catching up, state hash at {target} differs: {} vs {}",
            ours.state_hash, theirs.state_hash
        )));
    }
    let mut figures = Figures::new();
    figure(&mut figures, "transactions committed while the node was down", count as f64, "tx");
    figure(&mut figures, "blocks to catch up", target as f64, "blocks");
    figure(&mut figures, "while down: committed by the other validators", d.tx_per_s(), "tx/s");
    figure(&mut figures, "restart → caught up (same state hash)", seconds, "s");
    figure(&mut figures, "catch-up rate", count as f64 / seconds, "tx/s");
    Ok(figures)
}
