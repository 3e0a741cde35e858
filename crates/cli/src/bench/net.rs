//! A devnet of validator processes started for one measurement, and stopped with it.

use super::{BenchError, Env};
use crate::{
    devnet::{self, Layout, Options},
    progress::Progress,
};
use npchain_api::{
    enum_query::{AnswerError, EnumAnswer, naptr_query, read_naptr_answer},
    json::Status,
};
use npchain_client::Client;
use npchain_core::{ChainId, Digest, E164, Timestamp, types::PrivateKey};
use npchain_node::keys;
use std::{
    net::{SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    process::Child,
    time::{Duration, Instant},
};

/// The keys a measurement signs with, read from the devnet's files.
#[derive(Debug)]
pub struct NetKeys {
    pub chain: ChainId,
    /// Operator i's signing key (OPA, OPB, …).
    pub operators: Vec<PrivateKey>,
    pub regulator: PrivateKey,
}

/// A running devnet of `validators` processes under `dir`.
#[derive(Debug)]
pub struct LocalNet {
    pub layout: Layout,
    pub keys: NetKeys,
    exe: PathBuf,
    children: Vec<Option<Child>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A gap between two blocks below this means their view did not time out (see `wait_settled`).
const SETTLED_BLOCK_GAP_MS: u64 = 900;
/// How long a scenario waits for the network to settle before it measures anyway.
const SETTLE_WITHIN: Duration = Duration::from_secs(30);

impl LocalNet {
    /// Lays out a fresh devnet in `dir` (ports from `port_base`: HTTP +0.., DNS +100.., p2p
    /// +200..), starts it and waits until every node has finalized a block.
    pub fn start(
        dir: &Path,
        env: &Env,
        ported: Option<&Path>,
        ready_within: Duration,
    ) -> Result<Self, BenchError> {
        let options = Options {
            validators: env.validators,
            http_port: env.port_base,
            dns_port: env.port_base + 100,
            p2p_port: env.port_base + 200,
            custom_ranges: false,
            ported: ported.is_some(),
            blocks_per_epoch: env.blocks_per_epoch.unwrap_or(devnet::DEVNET_BLOCKS_PER_EPOCH),
            dns_threads: npchain_node::config::DEFAULT_DNS_THREADS,
        };
        let mut layout = devnet::prepare(dir, &options, None, ported, true, Timestamp(now_ms()))?;
        if let Some(mib) = env.cache_mib {
            for node in &mut layout.nodes {
                node.config.storage_cache_mib = mib;
                let text = node.config.to_toml();
                std::fs::write(&node.config_path, text).map_err(|e| BenchError::io(&node.config_path, e))?;
            }
        }
        let exe = std::env::current_exe().map_err(|e| BenchError::io(Path::new("npchain"), e))?;
        let operators = layout
            .nodes
            .iter()
            .map(|n| keys::read_key(&n.dir.join("operator.key")))
            .collect::<Result<Vec<_>, _>>()?;
        let regulator = keys::read_key(&dir.join("regulator.key"))?;
        let mut net = Self {
            keys: NetKeys { chain: ChainId(Digest::from([0u8; 32])), operators, regulator },
            layout,
            exe,
            children: Vec::new(),
        };
        for i in 0..env.validators {
            let child = devnet::spawn_node(&net.exe, &net.layout.nodes[i])?;
            net.children.push(Some(child));
        }
        let total = ported.map(count_lines);
        let started = Instant::now();
        let mut progress = total.map(|total| {
            Progress::count(
                "loading the migration list (node 0)",
                "numbers",
                Some(total),
                PLAIN_PROGRESS_EVERY,
            )
        });
        for i in 0..env.validators {
            net.wait_ready(i, started, ready_within, progress.as_mut())?;
        }
        if let Some(mut progress) = progress {
            progress.set(total.unwrap_or(0));
            progress.finish();
        }
        net.wait_settled()?;
        let status = net.status(0)?;
        let chain = commonware_formatting::from_hex(&status.chain_id)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| BenchError::Setup(format!("bad chain id {}", status.chain_id)))?;
        net.keys.chain = ChainId(Digest::from(chain));
        Ok(net)
    }

    /// Waits until node `i` answers with a finalized block, showing the migration load's
    /// progress (from its log) when a migration list is being loaded.
    fn wait_ready(
        &mut self,
        i: usize,
        started: Instant,
        within: Duration,
        mut progress: Option<&mut Progress>,
    ) -> Result<(), BenchError> {
        let client = self.client(i);
        loop {
            if let Ok(s) = client.status()
                && s.height >= 1
            {
                return Ok(());
            }
            if let Some(Some(child)) = self.children.get_mut(i)
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(BenchError::Setup(format!(
                    "node {i} exited ({status}); see {}",
                    self.layout.nodes[i].dir.join("node.log").display()
                )));
            }
            if started.elapsed() > within {
                return Err(BenchError::Setup(format!("node {i} not ready within {within:?}")));
            }
            if let (Some(progress), 0) = (progress.as_deref_mut(), i) {
                progress.set(migration_progress(&self.layout.nodes[0].dir.join("node.log")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the network has made two leader rotations of blocks (each validator's
    /// view twice) with no view that timed out, and every node has applied them. A node is
    /// ready once it has one block, but the first views after a start still time out in one
    /// start in two (1 to 3 s without a block): while peers connect, and when engines that
    /// have not yet heard a leader skip its view (BENCHMARKS.md, "a settled start"). A figure
    /// taken before would measure the start, not the network. An idle network makes a block
    /// every 500 ms
    /// (`EMPTY_BLOCK_INTERVAL_MS`); a timed-out view costs at least the 1 s leader timeout.
    /// After [`SETTLE_WITHIN`] it says so on stderr and lets the scenario go on: a slow
    /// machine (a debug build beside other tests) may never make such a run of blocks.
    fn wait_settled(&self) -> Result<(), BenchError> {
        let started = Instant::now();
        let want = 2 * self.validators() as u64;
        let node0 = self.client(0);
        let mut last = node0.status().map_err(|e| BenchError::Setup(format!("node 0: {e}")))?;
        let mut run = 0;
        loop {
            let now = node0.status().map_err(|e| BenchError::Setup(format!("node 0: {e}")))?;
            if now.height > last.height {
                let mean = now.block_time_ms.saturating_sub(last.block_time_ms) / (now.height - last.height);
                run = if mean < SETTLED_BLOCK_GAP_MS { run + now.height - last.height } else { 0 };
                last = now;
            }
            if run >= want
                && (0..self.validators())
                    .all(|i| self.client(i).status().is_ok_and(|s| s.height >= last.height))
            {
                return Ok(());
            }
            if started.elapsed() > SETTLE_WITHIN {
                eprintln!(
                    "bench: the network made no {want} blocks in a row without a view timeout within \
                     {SETTLE_WITHIN:?}; measuring anyway"
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn validators(&self) -> usize {
        self.layout.nodes.len()
    }

    pub fn http(&self, i: usize) -> String {
        format!("http://{}", self.layout.nodes[i].config.http_listen)
    }

    pub fn client(&self, i: usize) -> Client {
        Client::new(vec![self.http(i)])
    }

    pub fn status(&self, i: usize) -> Result<Status, BenchError> {
        Ok(self.client(i).status()?)
    }

    /// A UDP ENUM client of node `i`.
    pub fn enum_probe(&self, i: usize) -> Result<EnumProbe, BenchError> {
        let config = &self.layout.nodes[i].config;
        let dns = config.dns.as_ref().ok_or_else(|| BenchError::Setup("node without DNS".into()))?;
        EnumProbe::new(dns.listen, &dns.zone.origin)
    }

    /// Kills node `i` at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again from its data.
    pub fn restart(&mut self, i: usize) -> Result<(), BenchError> {
        self.kill(i);
        self.children[i] = Some(devnet::spawn_node(&self.exe, &self.layout.nodes[i])?);
        Ok(())
    }

    /// The process id of node `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.children.get(i)?.as_ref().map(Child::id)
    }

    /// Whether node `i` has exited by itself, and how.
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        self.children.get_mut(i)?.as_mut()?.try_wait().ok().flatten()
    }

    /// `/proc/<pid>/<name>` of node `i`, while it runs.
    fn proc_file(&self, i: usize, name: &str) -> Option<String> {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.pid(i)?)).ok()
    }

    /// CPU time node `i` has used so far, user and system, over all its threads, in seconds
    /// (Linux `/proc/<pid>/stat`, in the kernel's fixed USER_HZ of 100 ticks a second).
    pub fn cpu_seconds(&self, i: usize) -> Option<f64> {
        let text = self.proc_file(i, "stat")?;
        // fields after the command name, which is in parentheses and may hold spaces
        let rest: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
        let ticks = |k: usize| rest.get(k).and_then(|v| v.parse::<u64>().ok());
        Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
    }

    /// CPU seconds all running nodes have used so far.
    pub fn cpu_seconds_all(&self) -> f64 {
        (0..self.validators()).filter_map(|i| self.cpu_seconds(i)).sum()
    }

    /// Resident memory of node `i` now and at its peak, in KiB (Linux `/proc`).
    pub fn memory_kib(&self, i: usize) -> Option<(u64, u64)> {
        let text = self.proc_file(i, "status")?;
        let field = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        devnet::stop_all(self.children.iter_mut().flatten());
    }
}

fn count_lines(path: &Path) -> u64 {
    use std::io::BufRead;
    std::fs::File::open(path)
        .map(|f| std::io::BufReader::new(f).lines().count().saturating_sub(1) as u64)
        .unwrap_or(0)
}

/// The last "loading the migration list" count in a node's log (plain text: colours are
/// only for terminals).
fn migration_progress(log: &Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(log) else { return 0 };
    text.lines()
        .rev()
        .find(|l| l.contains("loading the migration list"))
        .and_then(|l| l.split("numbers=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// How often the load's progress is written as a plain line when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Asks one ENUM server for NAPTR records over UDP, as a sending network's switch would.
#[derive(Debug)]
pub struct EnumProbe {
    socket: UdpSocket,
    origin: String,
    next_id: u16,
}

impl EnumProbe {
    pub fn new(server: SocketAddr, origin: &str) -> Result<Self, BenchError> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| BenchError::io(Path::new("udp"), e))?;
        socket.connect(server).map_err(|e| BenchError::io(Path::new("udp"), e))?;
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .map_err(|e| BenchError::io(Path::new("udp"), e))?;
        Ok(Self { socket, origin: origin.to_owned(), next_id: 1 })
    }

    /// The server's answer for `number`; a lost datagram is asked again (up to 5 times).
    pub fn ask(&mut self, number: &E164) -> Result<EnumAnswer, BenchError> {
        let mut buf = [0u8; 4096];
        for _ in 0..5 {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            let query = naptr_query(number, &self.origin, id);
            if self.socket.send(&query).is_err() {
                continue;
            }
            // Skip late answers to earlier queries.
            while let Ok(n) = self.socket.recv(&mut buf) {
                match read_naptr_answer(&buf[..n], id) {
                    Ok(answer) => return Ok(answer),
                    Err(AnswerError::WrongId { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(BenchError::Setup(format!("no ENUM answer for {number}")))
    }
}

/// The routing number in an ENUM answer (`;rn=+49D002`), if ported.
pub fn answer_rn(answer: &EnumAnswer) -> Option<&str> {
    match answer {
        EnumAnswer::Naptr(regexp) => regexp.split(";rn=").nth(1).map(|r| r.trim_end_matches('!')),
        EnumAnswer::Negative(_) => None,
    }
}
