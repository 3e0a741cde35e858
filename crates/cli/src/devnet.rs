//! `npchain devnet`: a local network of validator processes on loopback.
//!
//! Layout under the data directory (default `./devnet`):
//!
//! ```text
//! devnet.toml        the options the devnet was made with (a later run must match them)
//! genesis.toml       4 operators OPA..OPD (or --validators N), demo or --ranges ranges
//! ported.csv         copy of --ported, if given (the migration list every node loads)
//! ranges.csv         copy of --ranges, if given
//! regulator.key      the regulator's key (signs governance transactions)
//! node-<i>/          validator.key, operator.key, config.toml, data/, node.log
//! ```
//!
//! Node i listens for p2p on 127.0.0.1:(p2p_port+i), HTTP on (http_port+i), DNS on (dns_port+i).

use commonware_cryptography::Signer;
use npchain_core::{
    Genesis, GenesisOperator, GenesisRange, OperatorId, Policy, Prefix, Timestamp, read_ported_csv,
};
use npchain_node::{
    config::{NodeConfig, Peer, Timing},
    keys,
};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

/// The most validators a devnet makes (operators OPA..OPZ).
pub const MAX_VALIDATORS: usize = 26;

/// What `npchain devnet` was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    pub validators: usize,
    pub http_port: u16,
    pub dns_port: u16,
    pub p2p_port: u16,
    /// Whether the ranges came from a CSV (its copy is `ranges.csv`).
    pub custom_ranges: bool,
    /// Whether a migration list was loaded (its copy is `ported.csv`).
    pub ported: bool,
}

/// Why a devnet could not be laid out.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--validators must be between 1 and {MAX_VALIDATORS}; got {0}")]
    Validators(usize),
    #[error("ports: node {index} would listen on port {base}+{index}, beyond 65535")]
    Port { base: u16, index: usize },
    #[error("{path} line {line}: {reason}")]
    Ranges { path: String, line: usize, reason: String },
    #[error("{path}: {reason}")]
    Ported { path: String, reason: String },
    #[error(
        "{dir} holds a devnet made with other options ({existing}); run with --fresh to start over, or use another --data directory"
    )]
    Mismatch { dir: String, existing: String },
    #[error("{dir} exists but is not a devnet directory (no devnet.toml); refusing to delete it")]
    NotDevnet { dir: String },
    #[error("{0}")]
    Other(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevnetError + '_ {
    move |source| DevnetError::Io { path: path.display().to_string(), source }
}

/// The devnet's operator id for validator `i`: OPA, OPB, …
pub fn operator_id(i: usize) -> OperatorId {
    format!("OP{}", (b'A' + i as u8) as char).parse().expect("valid operator id")
}

/// Demo ranges: for operator i a mobile block +4915x/+4916x/… and a Berlin fixed-line block.
pub fn demo_ranges(validators: usize) -> Vec<GenesisRange> {
    (0..validators)
        .flat_map(|i| {
            let mobile = format!("+491{}{}", 5 + i / 10, i % 10);
            let fixed = format!("+4930{}", 100 + i);
            [mobile, fixed].into_iter().map(move |p| GenesisRange {
                prefix: p.parse().expect("valid prefix"),
                holder: operator_id(i),
            })
        })
        .collect()
}

/// Reads a ranges CSV (header `prefix,operator`); every operator must be one of the devnet's.
pub fn read_ranges(path: &Path, validators: usize) -> Result<Vec<GenesisRange>, DevnetError> {
    let name = path.display().to_string();
    let err = |line: usize, reason: String| DevnetError::Ranges { path: name.clone(), line, reason };
    let mut reader =
        csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| err(1, e.to_string()))?;
    let header: Vec<String> =
        reader.headers().map_err(|e| err(1, e.to_string()))?.iter().map(str::to_owned).collect();
    if header != ["prefix", "operator"] {
        return Err(err(1, format!("header must be prefix,operator; found {}", header.join(","))));
    }
    let known: Vec<OperatorId> = (0..validators).map(operator_id).collect();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| err(line, e.to_string()))?;
        if record.len() != 2 {
            return Err(err(line, format!("expected 2 fields, found {}", record.len())));
        }
        let prefix: Prefix =
            record[0].parse().map_err(|e| err(line, format!("prefix {:?}: {e}", &record[0])))?;
        let holder: OperatorId =
            record[1].parse().map_err(|e| err(line, format!("operator {:?}: {e}", &record[1])))?;
        if !known.contains(&holder) {
            return Err(err(
                line,
                format!("operator {holder} is not one of this devnet's ({})", list(&known)),
            ));
        }
        out.push(GenesisRange { prefix, holder });
    }
    if out.is_empty() {
        return Err(err(2, "no ranges".into()));
    }
    Ok(out)
}

fn list(ids: &[OperatorId]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// One node of a laid-out devnet.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    pub index: usize,
    pub operator: OperatorId,
    pub validator_key: String,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: NodeConfig,
}

/// A laid-out devnet.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub options: Options,
    pub nodes: Vec<NodeLayout>,
    /// Whether this run created the files (false: resumed).
    pub created: bool,
}

fn port(base: u16, index: usize) -> Result<u16, DevnetError> {
    u16::try_from(usize::from(base) + index).map_err(|_| DevnetError::Port { base, index })
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Lays out (or finds) a devnet in `dir`. With `fresh`, deletes an existing devnet first.
///
/// `dir` is made absolute once, here: every path of the layout, the loaded node configs
/// among them, is absolute, so a config written back (`NodeConfig::to_toml`, as the bench
/// does to set the cache) resolves to the same files whatever the base it is read against.
/// (The files themselves keep paths relative to their directory: a devnet can be moved.)
pub fn prepare(
    dir: &Path,
    options: &Options,
    ranges_csv: Option<&Path>,
    ported_csv: Option<&Path>,
    fresh: bool,
    genesis_time: Timestamp,
) -> Result<Layout, DevnetError> {
    let dir = &std::path::absolute(dir).map_err(io(dir))?;
    if options.validators == 0 || options.validators > MAX_VALIDATORS {
        return Err(DevnetError::Validators(options.validators));
    }
    for base in [options.http_port, options.dns_port, options.p2p_port] {
        port(base, options.validators - 1)?;
    }
    let marker = dir.join("devnet.toml");
    if fresh && dir.exists() {
        if !marker.exists() {
            return Err(DevnetError::NotDevnet { dir: dir.display().to_string() });
        }
        fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    if marker.exists() {
        let text = fs::read_to_string(&marker).map_err(io(&marker))?;
        let existing: Options =
            toml::from_str(&text).map_err(|e| DevnetError::Other(format!("{}: {e}", marker.display())))?;
        let same_files = same_copy(ranges_csv, &dir.join("ranges.csv"))?
            && same_copy(ported_csv, &dir.join("ported.csv"))?;
        if &existing != options || !same_files {
            return Err(DevnetError::Mismatch {
                dir: dir.display().to_string(),
                existing: text.trim().replace('\n', ", "),
            });
        }
        return Ok(Layout {
            dir: dir.to_path_buf(),
            options: existing,
            nodes: nodes(dir, options)?,
            created: false,
        });
    }
    if dir.exists() && fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(DevnetError::NotDevnet { dir: dir.display().to_string() });
    }
    create(dir, options, ranges_csv, ported_csv, genesis_time)?;
    Ok(Layout {
        dir: dir.to_path_buf(),
        options: options.clone(),
        nodes: nodes(dir, options)?,
        created: true,
    })
}

/// Whether the given input file (or its absence) matches the devnet's stored copy.
fn same_copy(input: Option<&Path>, copy: &Path) -> Result<bool, DevnetError> {
    match input {
        None => Ok(!copy.exists()),
        Some(p) => Ok(copy.exists() && fs::read(p).map_err(io(p))? == fs::read(copy).map_err(io(copy))?),
    }
}

fn create(
    dir: &Path,
    options: &Options,
    ranges_csv: Option<&Path>,
    ported_csv: Option<&Path>,
    genesis_time: Timestamp,
) -> Result<(), DevnetError> {
    let n = options.validators;
    let ranges = match ranges_csv {
        Some(p) => read_ranges(p, n)?,
        None => demo_ranges(n),
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut validator_keys = Vec::new();
    let mut operators = Vec::new();
    for i in 0..n {
        let node_dir = dir.join(format!("node-{i}"));
        fs::create_dir_all(&node_dir).map_err(io(&node_dir))?;
        let validator = keys::generate();
        let operator = keys::generate();
        keys::write_key(&node_dir.join("validator.key"), &validator)
            .map_err(|e| DevnetError::Other(e.to_string()))?;
        keys::write_key(&node_dir.join("operator.key"), &operator)
            .map_err(|e| DevnetError::Other(e.to_string()))?;
        operators.push(GenesisOperator {
            id: operator_id(i),
            name: format!("Demo operator {}", operator_id(i)),
            operator_key: operator.public_key(),
            validator_key: validator.public_key(),
            routing_number: format!("D{:03X}", i + 1).parse().expect("valid routing number"),
        });
        validator_keys.push(validator.public_key());
    }
    let regulator = keys::generate();
    keys::write_key(&dir.join("regulator.key"), &regulator).map_err(|e| DevnetError::Other(e.to_string()))?;
    let genesis = Genesis {
        chain_name: "npchain-devnet".into(),
        genesis_time,
        regulator_key: regulator.public_key(),
        region: Some("DE".parse().expect("region")),
        policy: Policy::default(),
        operators,
        ranges,
    };
    genesis.validate().map_err(|e| DevnetError::Other(format!("genesis: {e}")))?;
    if let Some(p) = ported_csv {
        let file = fs::File::open(p).map_err(io(p))?;
        for entry in read_ported_csv(std::io::BufReader::new(file), genesis.region) {
            entry
                .map_err(|e| DevnetError::Ported { path: p.display().to_string(), reason: e.to_string() })?;
        }
        fs::copy(p, dir.join("ported.csv")).map_err(io(p))?;
    }
    if let Some(p) = ranges_csv {
        fs::copy(p, dir.join("ranges.csv")).map_err(io(p))?;
    }
    let genesis_path = dir.join("genesis.toml");
    fs::write(&genesis_path, genesis.to_toml()).map_err(io(&genesis_path))?;
    for i in 0..n {
        let node_dir = dir.join(format!("node-{i}"));
        let config = NodeConfig {
            data_dir: PathBuf::from("data"),
            genesis: PathBuf::from("../genesis.toml"),
            ported: ported_csv.map(|_| PathBuf::from("../ported.csv")),
            validator_key: PathBuf::from("validator.key"),
            operator_key: Some(PathBuf::from("operator.key")),
            admin_token: Some(PathBuf::from("admin.token")),
            p2p_listen: loopback(port(options.p2p_port, i)?),
            peers: (0..n)
                .filter(|j| *j != i)
                .map(|j| {
                    Ok(Peer { key: validator_keys[j].clone(), address: loopback(port(options.p2p_port, j)?) })
                })
                .collect::<Result<_, DevnetError>>()?,
            http_listen: loopback(port(options.http_port, i)?),
            http: npchain_node::config::HttpLimits::default(),
            dns_listen: Some(loopback(port(options.dns_port, i)?)),
            enum_origin: npchain_node::config::DEFAULT_ENUM_ORIGIN.into(),
            dns_max_tcp_connections: npchain_node::enum_dns::DEFAULT_MAX_TCP_CONNECTIONS,
            dns_tcp_idle_timeout: npchain_node::enum_dns::DEFAULT_TCP_IDLE_TIMEOUT,
            p2p: npchain_node::config::P2pSettings::loopback(),
            timing: Timing::default(),
            storage_cache_mib: npchain_node::storage::DEFAULT_CACHE_MIB,
        };
        keys::write_admin_token(&node_dir.join("admin.token"))
            .map_err(|e| DevnetError::Other(e.to_string()))?;
        let path = node_dir.join("config.toml");
        fs::write(&path, config.to_toml()).map_err(io(&path))?;
    }
    // The marker last: a devnet without it was not finished and can be made again.
    let marker = dir.join("devnet.toml");
    let text = toml::to_string(options).map_err(|e| DevnetError::Other(e.to_string()))?;
    fs::write(&marker, text).map_err(io(&marker))
}

fn nodes(dir: &Path, options: &Options) -> Result<Vec<NodeLayout>, DevnetError> {
    (0..options.validators)
        .map(|i| {
            let node_dir = dir.join(format!("node-{i}"));
            let config_path = node_dir.join("config.toml");
            let config = NodeConfig::load(&config_path).map_err(|e| DevnetError::Other(e.to_string()))?;
            let key = keys::read_key(&config.validator_key).map_err(|e| DevnetError::Other(e.to_string()))?;
            Ok(NodeLayout {
                index: i,
                operator: operator_id(i),
                validator_key: commonware_formatting::hex(key.public_key().as_ref()),
                dir: node_dir,
                config_path,
                config,
            })
        })
        .collect()
}

/// Starts node `node` of a devnet as a child process of `exe` (this program), its output
/// appended to `node.log` in its directory.
pub fn spawn_node(exe: &Path, node: &NodeLayout) -> Result<std::process::Child, DevnetError> {
    use std::process::{Command, Stdio};
    let log_path = node.dir.join("node.log");
    let log = fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(io(&log_path))?;
    let err = log.try_clone().map_err(io(&log_path))?;
    Command::new(exe)
        .arg("node")
        .arg("--config")
        .arg(&node.config_path)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| DevnetError::Other(format!("cannot start node {}: {e}", node.index)))
        .and_then(|child| {
            let pid = node.dir.join("node.pid");
            fs::write(&pid, format!("{}\n", child.id())).map_err(io(&pid))?;
            Ok(child)
        })
}

/// A node that stops this soon after it started counts as failing to start.
const QUICK_EXIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Quick exits in a row after which the devnet gives up on a node (and stops).
const QUICK_EXITS: u32 = 3;

/// One node process of a running devnet.
struct Supervised<'a> {
    node: &'a NodeLayout,
    child: std::process::Child,
    started: std::time::Instant,
    quick_exits: u32,
}

/// Why a running devnet stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{0}")]
    Start(#[from] DevnetError),
    #[error("node {index} stopped {QUICK_EXITS} times within {} s of starting ({status}); see {log}", QUICK_EXIT.as_secs())]
    Failing { index: usize, status: std::process::ExitStatus, log: String },
}

/// Runs every node of the devnet until `stop` receives (or its sender is dropped), then stops
/// them all. A node that crashes (killed by a signal other than SIGTERM, or exiting with an
/// error) is restarted: it resumes from its data and catches up from the others. A node that
/// was stopped cleanly (SIGTERM) stays down until the devnet runs again. A node that keeps
/// failing within seconds of its start stops the devnet. Each node's process id is in
/// `node.pid` in its directory while it runs.
pub fn supervise(
    exe: &Path,
    layout: &Layout,
    stop: &std::sync::mpsc::Receiver<()>,
    mut report: impl FnMut(&str),
) -> Result<(), SupervisorError> {
    use std::{sync::mpsc::RecvTimeoutError, time::Instant};
    let mut running: Vec<Supervised> = Vec::new();
    let stop_all_of = |running: &mut Vec<Supervised>| {
        stop_all(running.iter_mut().map(|s| &mut s.child));
        for s in running.iter() {
            let _ = fs::remove_file(s.node.dir.join("node.pid"));
        }
    };
    for node in &layout.nodes {
        match spawn_node(exe, node) {
            Ok(child) => running.push(Supervised { node, child, started: Instant::now(), quick_exits: 0 }),
            Err(e) => {
                stop_all_of(&mut running);
                return Err(e.into());
            }
        }
    }
    loop {
        match stop.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                stop_all_of(&mut running);
                return Ok(());
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let mut i = 0;
        while i < running.len() {
            let Ok(Some(status)) = running[i].child.try_wait() else {
                i += 1;
                continue;
            };
            // Reaped: its process id may now belong to anyone, so it leaves `running` first.
            let mut s = running.remove(i);
            let index = s.node.index;
            let _ = fs::remove_file(s.node.dir.join("node.pid"));
            if status.success() {
                report(&format!("node {index} was stopped; it stays down until the devnet runs again"));
                if running.is_empty() {
                    report("every node is down");
                    return Ok(());
                }
                continue;
            }
            let log = s.node.dir.join("node.log").display().to_string();
            s.quick_exits = if s.started.elapsed() < QUICK_EXIT { s.quick_exits + 1 } else { 1 };
            if s.quick_exits >= QUICK_EXITS {
                stop_all_of(&mut running);
                return Err(SupervisorError::Failing { index, status, log });
            }
            report(&format!("node {index} stopped ({status}); restarting it (see {log})"));
            match spawn_node(exe, s.node) {
                Ok(child) => {
                    s.child = child;
                    s.started = Instant::now();
                    running.insert(i, s);
                    i += 1;
                }
                Err(e) => {
                    stop_all_of(&mut running);
                    return Err(e.into());
                }
            }
        }
    }
}

/// SIGTERM to every child, then SIGKILL to those still running after 10 s.
pub fn stop_all<'a>(children: impl IntoIterator<Item = &'a mut std::process::Child>) {
    use std::time::{Duration, Instant};
    let children: Vec<&mut std::process::Child> = children.into_iter().collect();
    for child in &children {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for child in children {
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(n: usize) -> Options {
        Options {
            validators: n,
            http_port: 8400,
            dns_port: 5300,
            p2p_port: 7400,
            custom_ranges: false,
            ported: false,
        }
    }

    #[test]
    fn a_config_of_a_relative_devnet_dir_is_written_back_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        // the temporary directory, relative to the current one
        let cwd = std::env::current_dir().unwrap();
        let up = "../".repeat(cwd.components().count() - 1);
        let relative = PathBuf::from(up).join(tmp.path().strip_prefix("/").unwrap()).join("devnet");
        assert!(relative.is_relative());
        let layout = prepare(&relative, &options(2), None, None, false, Timestamp(1)).unwrap();
        for node in &layout.nodes {
            std::fs::write(&node.config_path, node.config.to_toml()).unwrap();
            let again = NodeConfig::load(&node.config_path).unwrap();
            assert_eq!(again.to_toml(), node.config.to_toml());
            assert!(again.validator_key.exists(), "{}", again.validator_key.display());
        }
    }

    #[test]
    fn supervision_restarts_crashes_gives_up_on_a_failing_node_and_leaves_stopped_ones_down() {
        let tmp = tempfile::tempdir().unwrap();
        let layout =
            prepare(&tmp.path().join("devnet"), &options(2), None, None, false, Timestamp(1)).unwrap();
        let (_keep, stop) = std::sync::mpsc::channel();
        // A "node" that fails at once: restarted, then given up on.
        let mut lines = Vec::new();
        let err =
            supervise(Path::new("/bin/false"), &layout, &stop, |l| lines.push(l.to_string())).unwrap_err();
        assert!(matches!(err, SupervisorError::Failing { .. }), "{err}");
        assert!(err.to_string().contains("times within 10 s of starting"), "{err}");
        assert!(lines.iter().any(|l| l.contains("restarting it")), "{lines:?}");
        // Nodes that exit cleanly stay down; with none left, supervision ends.
        let mut lines = Vec::new();
        supervise(Path::new("/bin/true"), &layout, &stop, |l| lines.push(l.to_string())).unwrap();
        assert_eq!(lines.iter().filter(|l| l.contains("stays down")).count(), 2, "{lines:?}");
        assert_eq!(lines.last().map(String::as_str), Some("every node is down"));
        assert!(layout.nodes.iter().all(|n| !n.dir.join("node.pid").exists()), "pid files removed");
    }

    #[test]
    fn lays_out_a_devnet_and_resumes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("devnet");
        let layout = prepare(&dir, &options(4), None, None, false, Timestamp(1_000)).unwrap();
        assert!(layout.created);
        assert_eq!(layout.nodes.len(), 4);
        for (i, node) in layout.nodes.iter().enumerate() {
            assert_eq!(node.config.http_listen.port(), 8400 + i as u16);
            assert_eq!(node.config.dns_listen.unwrap().port(), 5300 + i as u16);
            assert_eq!(node.config.p2p_listen.port(), 7400 + i as u16);
            assert_eq!(node.config.peers.len(), 3);
            assert_eq!(node.operator.as_str(), ["OPA", "OPB", "OPC", "OPD"][i]);
        }
        let genesis = Genesis::from_toml(&fs::read_to_string(dir.join("genesis.toml")).unwrap()).unwrap();
        genesis.validate().unwrap();
        assert_eq!(genesis.operators.len(), 4);
        // resume: same keys, nothing rewritten
        let again = prepare(&dir, &options(4), None, None, false, Timestamp(2_000)).unwrap();
        assert!(!again.created);
        assert_eq!(again.nodes[0].validator_key, layout.nodes[0].validator_key);
        // other options are refused without --fresh
        let err = prepare(&dir, &options(5), None, None, false, Timestamp(2_000)).unwrap_err();
        assert!(matches!(err, DevnetError::Mismatch { .. }), "{err}");
        // --fresh makes a new one
        let fresh = prepare(&dir, &options(5), None, None, true, Timestamp(2_000)).unwrap();
        assert!(fresh.created);
        assert_eq!(fresh.nodes.len(), 5);
        assert_ne!(fresh.nodes[0].validator_key, layout.nodes[0].validator_key);
    }

    #[test]
    fn refuses_to_delete_what_is_not_a_devnet() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("precious.txt"), "x").unwrap();
        let err = prepare(tmp.path(), &options(4), None, None, true, Timestamp(0)).unwrap_err();
        assert!(matches!(err, DevnetError::NotDevnet { .. }));
        assert!(tmp.path().join("precious.txt").exists());
        let err = prepare(tmp.path(), &options(4), None, None, false, Timestamp(0)).unwrap_err();
        assert!(matches!(err, DevnetError::NotDevnet { .. }));
    }

    #[test]
    fn checks_counts_ports_and_csv_inputs() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            prepare(&tmp.path().join("a"), &options(0), None, None, false, Timestamp(0)),
            Err(DevnetError::Validators(0))
        ));
        let mut high = options(4);
        high.http_port = 65534;
        assert!(matches!(
            prepare(&tmp.path().join("b"), &high, None, None, false, Timestamp(0)),
            Err(DevnetError::Port { .. })
        ));
        let ranges = tmp.path().join("ranges.csv");
        fs::write(&ranges, "prefix,operator\n+4940,OPA\n+4989,OPZ\n").unwrap();
        let err = read_ranges(&ranges, 4).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("OPZ"), "{err}");
        fs::write(&ranges, "prefix,holder\n+4940,OPA\n").unwrap();
        assert!(read_ranges(&ranges, 4).unwrap_err().to_string().contains("header"));
        fs::write(&ranges, "prefix,operator\n+4940,OPA\n+4989,opb\n").unwrap();
        let got = read_ranges(&ranges, 4).unwrap();
        assert_eq!(got.len(), 2);
        let mut custom = options(4);
        custom.custom_ranges = true;
        let layout =
            prepare(&tmp.path().join("c"), &custom, Some(&ranges), None, false, Timestamp(0)).unwrap();
        let genesis =
            Genesis::from_toml(&fs::read_to_string(layout.dir.join("genesis.toml")).unwrap()).unwrap();
        assert_eq!(genesis.ranges.len(), 2);
        let ported = tmp.path().join("ported.csv");
        fs::write(&ported, "number,operator\nnot-a-number,OPB\n").unwrap();
        let mut with_ported = options(4);
        with_ported.ported = true;
        let err = prepare(&tmp.path().join("d"), &with_ported, None, Some(&ported), false, Timestamp(0))
            .unwrap_err();
        assert!(matches!(err, DevnetError::Ported { .. }), "{err}");
    }

    #[test]
    fn demo_ranges_are_distinct() {
        let ranges = demo_ranges(MAX_VALIDATORS);
        let mut prefixes: Vec<String> = ranges.iter().map(|r| r.prefix.to_string()).collect();
        prefixes.sort();
        prefixes.dedup();
        assert_eq!(prefixes.len(), 2 * MAX_VALIDATORS);
    }
}
