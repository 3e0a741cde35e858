//! Multi-process test support: a devnet in a temporary directory whose node processes the
//! test starts, kills (SIGKILL) and restarts itself; a tiny HTTP client; bounded waits.
#![allow(dead_code)]

use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::Signer;
use npchain_api::json::BlockInfo;
use npchain_cli::devnet::{self, Layout, Options};
use npchain_core::{E164, Timestamp, Transaction, TxBody, tx::ChainId, types::Digest};
use npchain_node::{config::NodeConfig, keys};
use serde_json::Value;
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// A devnet whose processes are killed when it is dropped.
pub struct Net {
    pub _tmp: tempfile::TempDir,
    pub layout: Layout,
    pub children: Vec<Option<Child>>,
    pub extra: Vec<(PathBuf, Option<Child>, SocketAddr)>,
    nonce: u64,
}

impl Drop for Net {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The failing test's evidence: the end of every node's log.
            let logs = self
                .layout
                .nodes
                .iter()
                .map(|n| n.dir.join("node.log"))
                .chain(self.extra.iter().map(|(p, _, _)| p.parent().unwrap().join("node.log")));
            for log in logs {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                eprintln!("--- {} (last lines)", log.display());
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        for child in self.children.iter_mut().chain(self.extra.iter_mut().map(|(_, c, _)| c)).flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A base port with `count` free consecutive TCP ports after it, for each of the three kinds.
/// Tests of one process run in parallel: each call takes its own block of 50 ports.
fn free_base(count: usize) -> u16 {
    static NEXT_BLOCK: AtomicUsize = AtomicUsize::new(0);
    let first = 20_000 + (std::process::id() as usize % 400) * 100;
    for _ in 0..100 {
        let block = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed);
        let base = (first + block * 50) % 40_000 + 20_000;
        let base = u16::try_from(base).expect("below 60000");
        if (0..count * 3 + 3).all(|i| TcpListener::bind(("127.0.0.1", base + i as u16)).is_ok()) {
            return base;
        }
    }
    panic!("no free ports");
}

impl Net {
    /// Lays out a devnet of `n` validators; starts none of them.
    pub fn new(n: usize) -> Self {
        Self::with_epochs(n, devnet::DEVNET_BLOCKS_PER_EPOCH.get())
    }

    /// Lays out a devnet of `n` validators whose epochs are `blocks_per_epoch` blocks long.
    pub fn with_epochs(n: usize, blocks_per_epoch: u64) -> Self {
        Self::layout(n, blocks_per_epoch, None)
    }

    /// Lays out a devnet of `n` validators whose genesis loads the migration list `ported_csv`
    /// (`number,operator[,rn]` lines after the header), as `npchain devnet --ported` does.
    pub fn with_ported(n: usize, ported_csv: &str) -> Self {
        Self::layout(n, devnet::DEVNET_BLOCKS_PER_EPOCH.get(), Some(ported_csv))
    }

    fn layout(n: usize, blocks_per_epoch: u64, ported_csv: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let ported = ported_csv.map(|text| {
            let path = tmp.path().join("ported.csv");
            std::fs::write(&path, text).unwrap();
            path
        });
        let base = free_base(n + 2);
        let stride = (n + 2) as u16;
        let options = Options {
            validators: n,
            p2p_port: base,
            http_port: base + stride,
            dns_port: base + 2 * stride,
            custom_ranges: false,
            ported: ported.is_some(),
            blocks_per_epoch: std::num::NonZeroU64::new(blocks_per_epoch).expect("not zero"),
            dns_threads: 1,
        };
        let layout = devnet::prepare(
            &tmp.path().join("devnet"),
            &options,
            None,
            ported.as_deref(),
            false,
            Timestamp(now_ms()),
        )
        .unwrap();
        let children = (0..n).map(|_| None).collect();
        Self { _tmp: tmp, layout, children, extra: Vec::new(), nonce: 0 }
    }

    pub fn start(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "node {i} already runs");
        self.children[i] = Some(spawn_node(&self.layout.nodes[i].config_path, &self.layout.nodes[i].dir));
    }

    pub fn start_all(&mut self) {
        for i in 0..self.children.len() {
            self.start(i);
        }
    }

    /// Runs node `i` expecting it to stop by itself within `limit`; its exit status and log.
    pub fn run_to_exit(&mut self, i: usize, limit: Duration) -> (std::process::ExitStatus, String) {
        let mut child = spawn_node(&self.layout.nodes[i].config_path, &self.layout.nodes[i].dir);
        let mut status = None;
        wait_until(limit, "the node to exit", || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        let log = std::fs::read_to_string(self.layout.nodes[i].dir.join("node.log")).unwrap_or_default();
        (status.unwrap(), log)
    }

    /// SIGKILL: the node gets no chance to flush anything.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("node runs");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn url(&self, i: usize) -> SocketAddr {
        self.layout.nodes[i].config.http_listen
    }

    pub fn status(&self, i: usize) -> Option<Value> {
        get(self.url(i), "/v1/status")
    }

    pub fn height(&self, i: usize) -> Option<u64> {
        self.status(i).and_then(|s| s["height"].as_u64())
    }

    pub fn block(&self, i: usize, h: u64) -> Option<BlockInfo> {
        get(self.url(i), &format!("/v1/blocks/{h}")).and_then(|v| serde_json::from_value(v).ok())
    }

    pub fn chain_id(&self, i: usize) -> ChainId {
        let hex = self.status(i).expect("status")["chain_id"].as_str().unwrap().to_owned();
        ChainId(Digest::decode(commonware_formatting::from_hex(&hex).unwrap()).unwrap())
    }

    /// A bind transaction signed by operator `op` for a number of its demo mobile range.
    pub fn bind_tx(&mut self, chain: &ChainId, op: usize, k: u64, block_time_ms: u64) -> Vec<u8> {
        self.nonce += 1;
        let key = keys::read_key(&self.layout.nodes[op].dir.join("operator.key")).unwrap();
        let number: E164 = format!("+491{}{}{:07}", 5 + op / 10, op % 10, k).parse().unwrap();
        let subscriber = npchain_testkit::key(&format!("subscriber{k}")).public_key();
        Transaction {
            nonce: self.nonce,
            expires_at: Timestamp(block_time_ms + 300_000),
            signer: key.public_key(),
            body: TxBody::Bind { number, subscriber: Some(subscriber) },
        }
        .sign(chain, &key)
        .encode()
        .to_vec()
    }

    /// Posts a transaction to node `i`; returns its id.
    pub fn submit(&self, i: usize, tx: &[u8]) -> String {
        let (status, body) = post(self.url(i), "/v1/tx", tx).expect("node answers");
        assert_eq!(status, 202, "submit refused: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// An operator action on node `i`'s own operator, with its admin token: status and answer.
    pub fn act(&self, i: usize, path: &str, body: &Value) -> (u16, Value) {
        let token = std::fs::read_to_string(self.layout.nodes[i].dir.join("admin.token")).unwrap();
        let body = body.to_string();
        let addr = self.url(i);
        let head = format!(
            "POST /v1/operator/{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            token.trim(),
            body.len()
        );
        request(addr, &head, body.as_bytes()).expect("node answers")
    }

    /// Acts on node `i` and waits until the nodes `on` have applied the transaction (the next
    /// action, on any of them, is prechecked on that node's committed state).
    pub fn act_applied(&self, i: usize, path: &str, body: &Value, on: &[SocketAddr]) {
        let (status, answer) = self.act(i, path, body);
        assert_eq!(status, 202, "{path}: {answer}");
        let id = answer["id"].as_str().unwrap().to_owned();
        wait_until(Duration::from_secs(120), "the action to be applied", || {
            on.iter().all(|n| get(*n, &format!("/v1/tx/{id}")).is_some_and(|v| v["outcome"] == "applied"))
        });
    }

    /// Node `i`'s record of transaction `id`, once it is committed.
    pub fn committed(&self, i: usize, id: &str) -> Option<Value> {
        get(self.url(i), &format!("/v1/tx/{id}")).filter(|v| v["status"] == "committed")
    }

    /// Acts on node `i` and waits until node `watch` shows the transaction committed and
    /// applied; its height.
    pub fn act_committed(&self, i: usize, path: &str, body: Value, watch: usize) -> u64 {
        let (status, answer) = self.act(i, path, &body);
        assert_eq!(status, 202, "{path}: {answer}");
        let id = answer["id"].as_str().unwrap().to_owned();
        let mut result = None;
        wait_until(Duration::from_secs(90), "the action to commit", || {
            result = self.committed(watch, &id);
            result.is_some()
        });
        let result = result.unwrap();
        assert_eq!(result["outcome"], "applied", "{result}");
        result["height"].as_u64().unwrap()
    }

    /// The start of a port of `number` from OPA to OPB: OPA binds the test subscriber to it
    /// (through node 0), the subscriber asks node `ask` to port it, and node 0 shows the order
    /// requested. The order's id.
    pub fn request_port(&self, number: &str, ask: usize) -> String {
        let subscriber = npchain_testkit::key("subscriber");
        let sub_hex = commonware_formatting::hex(subscriber.public_key().as_ref());
        let bind = format!("numbers/{}/bind", number.replace('+', "%2B"));
        self.act_committed(0, &bind, serde_json::json!({ "subscriber": sub_hex }), 0);
        let request = npchain_core::PortRequest {
            numbers: vec![number.parse().unwrap()],
            donor: "OPA".parse().unwrap(),
            recipient: "OPB".parse().unwrap(),
            due: Timestamp(0),
            nonce: 1,
        };
        let port = request.port_id(&subscriber.public_key()).to_string();
        let time = self.status(ask).unwrap()["block_time_ms"].as_u64().unwrap();
        let tx = Transaction {
            nonce: 1,
            expires_at: Timestamp(time + 300_000),
            signer: subscriber.public_key(),
            body: TxBody::RequestPort(request),
        }
        .sign(&self.chain_id(ask), &subscriber);
        self.submit(ask, &tx.encode());
        wait_until(Duration::from_secs(90), "the request on node 0", || {
            get(self.url(0), &format!("/v1/ports/{port}")).is_some_and(|p| p["state"] == "requested")
        });
        port
    }

    /// `dig +short` against node `i`'s ENUM server: the answer lines.
    pub fn dig(&self, i: usize, qtype: &str, name: &str) -> Vec<String> {
        let dns = self.layout.nodes[i].config.dns.as_ref().expect("the node serves DNS").listen;
        let out = Command::new("dig")
            .args([
                format!("@{}", dns.ip()),
                "-p".into(),
                dns.port().to_string(),
                "+short".into(),
                "+tries=2".into(),
                "+time=2".into(),
            ])
            .args([qtype, name])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run dig ({e}); run the tests with scripts/test, which installs it")
            });
        assert!(out.status.success(), "dig failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }

    /// The heights 1..=h of node `i`, as block infos.
    pub fn blocks(&self, i: usize, to: u64) -> Vec<BlockInfo> {
        (1..=to).map(|h| self.block(i, h).unwrap_or_else(|| panic!("node {i} lacks block {h}"))).collect()
    }

    /// The p2p address the next extra node (observer or joining operator) listens on.
    pub fn next_p2p_address(&self) -> SocketAddr {
        let n = self.layout.nodes.len();
        ([127, 0, 0, 1], self.layout.nodes[n - 1].config.p2p_listen.port() + 1 + self.extra.len() as u16)
            .into()
    }

    /// Adds an observer (not a validator) that every validator accepts as a peer; the
    /// validators must be (re)started after this to pick up the new peer.
    pub fn add_observer(&mut self) -> usize {
        let dir = self.layout.dir.join(format!("observer-{}", self.extra.len()));
        std::fs::create_dir_all(&dir).unwrap();
        keys::write_key(&dir.join("validator.key"), &keys::generate()).unwrap();
        self.add_node(&dir, false)
    }

    /// Adds the node of an operator whose `validator.key` and `operator.key` (`npchain init`)
    /// are in `dir`, listening on [`Self::next_p2p_address`], with an admin token; every
    /// validator accepts it as a peer (start them after this). It follows the chain until the
    /// regulator admits its operator.
    pub fn add_operator_node(&mut self, dir: &Path) -> usize {
        std::fs::write(dir.join("admin.token"), "operator-node-admin-token\n").unwrap();
        self.add_node(dir, true)
    }

    fn add_node(&mut self, dir: &Path, operator: bool) -> usize {
        let key = keys::read_key(&dir.join("validator.key")).unwrap();
        let n = self.layout.nodes.len();
        let http_port = self.layout.nodes[n - 1].config.http_listen.port() + 1 + self.extra.len() as u16;
        let p2p = self.next_p2p_address();
        let http: SocketAddr = ([127, 0, 0, 1], http_port).into();
        for node in &mut self.layout.nodes {
            node.config.peers.push(npchain_node::config::Peer { key: key.public_key(), address: p2p });
            std::fs::write(&node.config_path, node.config.to_toml()).unwrap();
        }
        let first = &self.layout.nodes[0].config;
        let config = NodeConfig {
            data_dir: dir.join("data"),
            genesis: first.genesis.clone(),
            ported: first.ported.clone(),
            validator_key: dir.join("validator.key"),
            operator_key: operator.then(|| dir.join("operator.key")),
            admin_token: operator.then(|| dir.join("admin.token")),
            p2p_listen: p2p,
            peers: self
                .layout
                .nodes
                .iter()
                .map(|n| npchain_node::config::Peer {
                    key: keys::read_key(&n.config.validator_key).unwrap().public_key(),
                    address: n.config.p2p_listen,
                })
                .collect(),
            http_listen: http,
            http: npchain_node::config::HttpLimits::default(),
            dns: None,
            p2p: first.p2p.clone(),
            timing: first.timing,
            storage_cache_mib: npchain_node::storage::DEFAULT_CACHE_MIB,
            notify: None,
        };
        let path = dir.join("config.toml");
        std::fs::write(&path, config.to_toml()).unwrap();
        self.extra.push((path, None, http));
        self.extra.len() - 1
    }

    pub fn start_observer(&mut self, o: usize) {
        let (path, _, _) = &self.extra[o];
        let child = spawn_node(path, path.parent().unwrap());
        self.extra[o].1 = Some(child);
    }

    pub fn observer_url(&self, o: usize) -> SocketAddr {
        self.extra[o].2
    }
}

fn spawn_node(config: &Path, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("node.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_npchain"))
        .arg("node")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start node")
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Polls `cond` every 100 ms until it holds; panics after `limit` with `what`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

fn request(addr: SocketAddr, head: &str, body: &[u8]) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// GET a JSON document; `None` if the node does not answer or answers other than 200.
pub fn get(addr: SocketAddr, path: &str) -> Option<Value> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    match request(addr, &head, &[])? {
        (200, v) => Some(v),
        _ => None,
    }
}

/// GET a text document (empty if the node does not answer).
pub fn get_text(addr: SocketAddr, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    raw
}

/// POST bytes; the status and the JSON answer.
pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Option<(u16, Value)> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    request(addr, &head, body)
}

/// Runs `npchain` with `args`: whether it succeeded, and its stdout then stderr.
pub fn npchain(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_npchain")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The passphrase [`regulator`] gives the regulator's key file.
pub const REGULATOR_PASSPHRASE: &str = "correct horse battery staple";

/// `npchain regulator <args>` with the passphrase in the environment: success, stdout, stderr.
pub fn regulator(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_npchain"))
        .arg("regulator")
        .args(args)
        .env("NPCHAIN_PASSPHRASE", REGULATOR_PASSPHRASE)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `npchain wallet --wallet DIR --node NODE ARGS…`.
pub fn wallet(dir: &Path, node: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["wallet", "--wallet", dir.to_str().unwrap(), "--node", node];
    all.extend_from_slice(args);
    npchain(&all)
}
