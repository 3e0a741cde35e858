//! Runs one node on a real host: loads its configuration, keys, genesis and stores, then wires
//! consensus over the authenticated `lookup` network on the production (tokio) runtime, and
//! serves the HTTP API.

use crate::fds::{check_open_files, count_files, raise_open_files};
use crate::{
    api::NodeApi,
    chain::{ApplyError, Chain, mempool::Mempool},
    config::{NodeConfig, P2pSettings},
    consensus::{self, Channels, Wiring},
    enum_dns::{self, EnumConfig},
    keys,
    metrics::Metrics,
    service::{Identity, Service},
    storage::{BlockLogError, RedbBlockLog, RedbStore},
};
use commonware_cryptography::{ChaCha20Poly1305, Signer};
use commonware_p2p::{Address, AddressableManager, AddressableTrackedPeers, authenticated::lookup};
use commonware_runtime::{Runner as _, Supervisor as _, tokio as runtime};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZUsize, ordered::Map};
use npchain_api::{
    Block,
    json::{FinalityProof, PeerInfo},
};
use npchain_core::{
    Genesis, GenesisError, Ledger, ReadStore, Routes, StoreError,
    genesis::read_ported_csv,
    types::{KeyId, PublicKey},
};
use std::{path::Path, sync::Arc, time::Duration};
use tracing::{info, warn};

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error("genesis {path}: {source}")]
    Genesis {
        path: String,
        #[source]
        source: GenesisError,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ledger store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Notify(crate::notify::NotifyStartError),
    #[error("block log: {0}")]
    BlockLog(#[from] BlockLogError),
    /// The ledger file does not open or read.
    #[error("ledger {path} is damaged: {source}; {RESYNC}")]
    Ledger {
        path: String,
        #[source]
        source: StoreError,
    },
    /// The block log does not open or read, or does not hold the block the ledger committed.
    #[error("block log {path} is damaged: {problem}; {RESYNC}")]
    DamagedBlockLog { path: String, problem: String },
    /// Marshal's archives do not open, or do not hold the chain the ledger committed.
    #[error(
        "{source} (in {dir}); stop the node, move the partitions npchain-blocks-*, npchain-finalizations-* \
         and npchain-marshal-* out of {dir} (keep npchain-consensus-*: it holds this validator's votes) and \
         start it again: it fetches the finalized blocks from its peers"
    )]
    Archive {
        dir: String,
        #[source]
        source: Box<consensus::ArchiveError>,
    },
    #[error(
        "the ledger in {path} was made from another genesis or migration list (fingerprint {found}, \
         the configured files give {expected}); point data_dir elsewhere or remove it"
    )]
    WrongChain { path: String, found: String, expected: String },
    #[error("config: admin token in {path} must be one word of at least 16 characters")]
    AdminToken { path: String },
    #[error(
        "config: operator key {path} is not the operator key the ledger holds for this node's operator \
         (at height {height}; the genesis's, or the last one the regulator set)"
    )]
    OperatorKey { path: String, height: u64 },
    #[error("config: validator {key} of the genesis is not among the configured peers")]
    ValidatorNotPeer { key: String },
    #[error("config: blocks of {size} bytes exceed the p2p frame limit")]
    FrameLimit { size: u32 },
    #[error("config: a peer key is listed twice")]
    DuplicatePeer,
    #[error(
        "the open-file limit is {limit}, and this node needs {need}: up to {http} for HTTP \
         ([http] max-connections + {refusing} being refused), {dns} for DNS over TCP, and {reserve} \
         kept for storage (its files so far and room to grow), consensus and peers; raise the \
         limit (ulimit -n, systemd LimitNOFILE) or lower [http] max-connections",
        refusing = crate::http::REFUSING,
    )]
    OpenFiles { limit: u64, need: u64, http: u64, dns: u64, reserve: u64 },
    #[error("node stopped: {0}")]
    Halted(#[source] Arc<ApplyError>),
    #[error("node stopped: node task {index} stopped ({result:?})")]
    TaskStopped { index: usize, result: Result<(), commonware_runtime::Error> },
}

/// What to do when the ledger or the block log is damaged: the two are written together and
/// must come from the same moment, and both can be rebuilt by applying the chain again.
const RESYNC: &str = "restore state.redb and blocks.redb together from one backup, or move both out of \
     the data directory together with consensus/npchain-marshal-* and start the node again: it applies \
     every finalized block again from genesis (from its own archive, and from its peers for what that \
     lacks)";

/// Checks that the block log holds the block the ledger committed last, with the same state
/// hash: a block log of another moment (a restored or truncated file, or another node's) would
/// answer for blocks the ledger does not hold, or lack blocks it does.
fn check_block_log(log: &RedbBlockLog, ledger: &Ledger<RedbStore>, path: &Path) -> Result<(), NodeError> {
    use crate::chain::BlockLog as _;
    let height = ledger.height();
    if height == 0 {
        return Ok(());
    }
    let damaged = |problem: String| NodeError::DamagedBlockLog { path: path.display().to_string(), problem };
    match log.get(height) {
        Ok(Some(record)) if record.state_hash == ledger.state_hash() => Ok(()),
        Ok(Some(record)) => Err(damaged(format!(
            "its block {height} has state hash {}, the ledger's is {}",
            record.state_hash,
            ledger.state_hash()
        ))),
        Ok(None) => Err(damaged(format!("it lacks block {height}, the last block the ledger committed"))),
        Err(e) => Err(damaged(e.to_string())),
    }
}

/// Reads the admin token file: one line, at least 16 characters.
fn read_admin_token(path: &Path) -> Result<String, NodeError> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| NodeError::Io { path: name.clone(), source })?;
    let token = text.trim().to_owned();
    if token.len() < 16 || token.contains(char::is_whitespace) {
        return Err(NodeError::AdminToken { path: name });
    }
    Ok(token)
}

/// Loads the genesis and opens (or, the first time, initialises) the ledger in `data_dir`.
/// A fingerprint of what a ledger is made from: the genesis (canonical TOML) and the bytes of
/// the migration list. Kept beside the store, so a node restarted with other genesis files
/// refuses to run instead of joining a chain its ledger does not belong to. (The chain id covers
/// the same, but recomputing it means loading the whole migration list.)
fn genesis_fingerprint(config: &NodeConfig, genesis: &Genesis) -> Result<String, NodeError> {
    use commonware_cryptography::Hasher as _;
    use std::io::Read as _;
    let mut hasher = commonware_cryptography::Sha256::default();
    hasher.update(genesis.to_toml().as_bytes());
    if let Some(csv) = &config.ported {
        let io = |source| NodeError::Io { path: csv.display().to_string(), source };
        let mut file = std::fs::File::open(csv).map_err(io)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    Ok(hasher.finalize().1.to_string())
}

/// Progress of the genesis migration load: numbers read, bytes of the list read, the list's
/// size in bytes. Given to [`run_with`], it is called every [`MIGRATION_TICK`] numbers and at
/// the end, instead of the log lines every [`MIGRATION_PROGRESS_EVERY`] (a terminal's bar).
pub type MigrationProgress<'a> = &'a mut dyn FnMut(u64, u64, u64);

/// How often a [`MigrationProgress`] is called, in numbers.
pub const MIGRATION_TICK: usize = 16_384;

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

fn open_ledger(
    config: &NodeConfig,
    genesis: &Genesis,
    mut progress: Option<MigrationProgress<'_>>,
) -> Result<Ledger<RedbStore>, NodeError> {
    let path = config.data_dir.join("state.redb");
    let name = path.display().to_string();
    let fingerprint_path = config.data_dir.join("genesis.fingerprint");
    let fingerprint = genesis_fingerprint(config, genesis)?;
    let write_fingerprint = || {
        std::fs::write(&fingerprint_path, format!("{fingerprint}\n"))
            .map_err(|source| NodeError::Io { path: fingerprint_path.display().to_string(), source })
    };
    let damaged = |source: StoreError| NodeError::Ledger { path: name.clone(), source };
    if path.exists() {
        let store = RedbStore::open_with_cache(&path, config.storage_cache_mib << 20).map_err(damaged)?;
        if store.meta().map_err(damaged)?.is_some() {
            match std::fs::read_to_string(&fingerprint_path) {
                Ok(found) if found.trim() != fingerprint => {
                    return Err(NodeError::WrongChain {
                        path: name,
                        found: found.trim().into(),
                        expected: fingerprint,
                    });
                }
                Ok(_) => {}
                Err(_) => write_fingerprint()?,
            }
            return Ledger::open(store).map_err(damaged);
        }
        // No meta: a genesis load was interrupted (its meta is written last). Start again
        // from an empty file.
        drop(store);
        warn!(path = %name, "ledger store holds an unfinished genesis load; loading again");
        std::fs::remove_file(&path).map_err(|source| NodeError::Io { path: name.clone(), source })?;
    }
    let store = RedbStore::open_with_cache(&path, config.storage_cache_mib << 20)?;
    let started = std::time::Instant::now();
    let ledger = match &config.ported {
        Some(csv) => {
            let file = std::fs::File::open(csv)
                .map_err(|source| NodeError::Io { path: csv.display().to_string(), source })?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counted = Counted { inner: file, read: read.clone() };
            let bytes = move || read.load(std::sync::atomic::Ordering::Relaxed);
            // Progress in the log (or to the caller), for lists of many millions of numbers.
            let mut numbers = 0u64;
            let entries = read_ported_csv(std::io::BufReader::new(counted), genesis.region).inspect(|_| {
                numbers += 1;
                match progress.as_deref_mut() {
                    Some(p) if (numbers as usize).is_multiple_of(MIGRATION_TICK) => p(numbers, bytes(), size),
                    None if (numbers as usize).is_multiple_of(MIGRATION_PROGRESS_EVERY) => {
                        info!(numbers, elapsed = ?started.elapsed(), "loading the migration list");
                    }
                    _ => {}
                }
            });
            let ledger = Ledger::genesis(store, genesis, entries);
            if let Some(p) = progress {
                p(numbers, size, size);
            }
            ledger
        }
        None => Ledger::genesis(store, genesis, std::iter::empty()),
    }
    .map_err(|source| NodeError::Genesis { path: config.genesis.display().to_string(), source })?;
    info!(elapsed = ?started.elapsed(), chain = %ledger.chain_id().0, "initialised the ledger from genesis");
    write_fingerprint()?;
    Ok(ledger)
}

/// How often the migration load reports progress, in numbers.
const MIGRATION_PROGRESS_EVERY: usize = 100_000;

fn read_genesis(path: &Path) -> Result<Genesis, NodeError> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| NodeError::Io { path: name.clone(), source })?;
    let genesis =
        Genesis::from_toml(&text).map_err(|source| NodeError::Genesis { path: name.clone(), source })?;
    genesis.validate().map_err(|source| NodeError::Genesis { path: name, source })?;
    Ok(genesis)
}

/// Runs a node until it is stopped (SIGINT or SIGTERM) or fails.
pub fn run(config: &NodeConfig) -> Result<(), NodeError> {
    run_with(config, None)
}

/// [`run`], with the genesis migration load's progress given to `progress` (on a first start
/// with a migration list) instead of written to the log.
pub fn run_with(config: &NodeConfig, progress: Option<MigrationProgress<'_>>) -> Result<(), NodeError> {
    let signer = keys::read_key(&config.validator_key)?;
    let me = signer.public_key();
    let genesis = read_genesis(&config.genesis)?;
    let validators: Vec<PublicKey> = genesis.operators.iter().map(|o| o.validator_key.clone()).collect();
    // Checked against the ledger once it is open: the regulator may have rotated the key.
    let operator_key = config.operator_key.as_deref().map(keys::read_key).transpose()?;
    let admin_token = config.admin_token.as_deref().map(read_admin_token).transpose()?;
    let open_files = raise_open_files();
    let archive_files = count_files(&config.data_dir.join("consensus"));
    // The ENUM server holds its TCP connections plus the one it accepts only to close.
    let dns_tcp = config.dns.as_ref().map_or(0, |d| d.tcp.max_connections + 1);
    check_open_files(open_files, &config.http, dns_tcp, config.peers.len(), archive_files)?;
    let peer_infos: Vec<PeerInfo> = config
        .peers
        .iter()
        .map(|p| PeerInfo {
            key: commonware_formatting::hex(p.key.as_ref()),
            address: p.address.to_string(),
            operator: genesis.operators.iter().find(|o| o.validator_key == p.key).map(|o| o.id.to_string()),
        })
        .collect();
    // Bind the query ports before anything else: a port in use is a clear error at start.
    let http_listener = std::net::TcpListener::bind(config.http_listen).map_err(|source| NodeError::Io {
        path: format!("HTTP listen address {}", config.http_listen),
        source,
    })?;
    let dns_sockets = match &config.dns {
        Some(dns) => {
            let addr = dns.listen;
            let io = |source| NodeError::Io { path: format!("DNS listen address {addr}"), source };
            // TCP first, without port sharing: another server on the port fails here, before
            // the UDP sockets (which share the port among themselves) could split its queries.
            let tcp = std::net::TcpListener::bind(addr).map_err(io)?;
            Some((enum_dns::bind_udp(addr, dns.threads).map_err(io)?, tcp))
        }
        None => None,
    };
    for v in &validators {
        if *v != me && !config.peers.iter().any(|p| &p.key == v) {
            return Err(NodeError::ValidatorNotPeer { key: commonware_formatting::hex(v.as_ref()) });
        }
    }
    let max_message = consensus::max_message_size();
    if max_message > lookup::max_size::<SakeCups>() {
        return Err(NodeError::FrameLimit { size: max_message });
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| NodeError::Io { path: config.data_dir.display().to_string(), source })?;
    let ledger = open_ledger(config, &genesis, progress)?;
    // The node's operator, as the ledger knows it now: the operator whose validator key this
    // node signs with, or whose operator key the node holds. A configured operator key must be
    // that operator's; an operator not admitted yet starts as an observer (the service finds
    // it once the regulator admits it).
    let me_id = KeyId::from(&me);
    let held = operator_key.as_ref().map(|k| KeyId::from(&k.public_key()));
    let by_validator = ledger.operators().iter().find(|o| o.validator_key.as_ref() == Some(&me_id));
    let by_key = ledger.operators().iter().find(|o| held.as_ref() == Some(&o.operator_key));
    let operator = by_validator.or(by_key).map(|o| o.id.clone());
    if let (Some(path), Some(key)) = (&config.operator_key, &held) {
        match by_validator {
            Some(o) if &o.operator_key != key => {
                return Err(NodeError::OperatorKey {
                    path: path.display().to_string(),
                    height: ledger.height(),
                });
            }
            None if by_key.is_none() => warn!(
                path = %path.display(),
                "no operator holds this operator key or this node's validator key yet: the node follows \
                 the chain, and acts for its operator once the regulator admits it"
            ),
            _ => {}
        }
    }
    let log_path = config.data_dir.join("blocks.redb");
    let log = RedbBlockLog::open(&log_path).map_err(|e| NodeError::DamagedBlockLog {
        path: log_path.display().to_string(),
        problem: e.to_string(),
    })?;
    check_block_log(&log, &ledger, &log_path)?;
    let genesis_block = Block::genesis(genesis.genesis_time, ledger.chain_id());
    info!(
        operator = operator.as_ref().map_or("observer", |o| o.as_str()),
        height = ledger.height(),
        state = %ledger.state_hash(),
        "ledger open"
    );
    let routes = ledger.routes();
    let chain = Chain::new(ledger, log, Mempool::default());
    let chain_halted = chain.clone();
    if let (Some((udp, tcp)), Some(dns)) = (dns_sockets, &config.dns) {
        spawn_dns(udp, tcp, routes, dns.zone.clone(), dns.tcp, chain.metrics().clone())?;
    }

    let mut peers: Vec<(PublicKey, Address)> =
        config.peers.iter().map(|p| (p.key.clone(), Address::from(p.address))).collect();
    peers.push((me.clone(), Address::from(config.p2p_listen)));
    let peer_count = peers.len();
    let peers: Map<PublicKey, Address> = peers.try_into().map_err(|_| NodeError::DuplicatePeer)?;

    let consensus_dir = config.data_dir.join("consensus");
    let runtime_config = runtime::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(consensus_dir.clone())
        .with_catch_panics(false);
    let timing = config.timing;
    let http_limits = config.http.clone();
    let p2p_listen = config.p2p_listen;
    let p2p_settings = config.p2p.clone();
    let notify = config.notify.clone();
    let data_dir = config.data_dir.clone();
    let stopped = runtime::Runner::new(runtime_config).start(|context| async move {
        let mut p2p_config = lookup::Config::recommended(
            Cups::<_, ChaCha20Poly1305>::new(
                Sake {
                    signer: signer.clone(),
                    synchrony_bound: Duration::from_secs(5),
                    max_handshake_age: Duration::from_secs(10),
                    version: sake::Version::V1,
                },
                cups::Version::V1,
            ),
            npchain_api::CONSENSUS_NAMESPACE,
            p2p_listen,
            NZUsize!(peer_count),
            max_message,
            NZUsize!(4096),
        );
        apply_p2p_settings(&mut p2p_config, &p2p_settings);
        let (mut network, oracle) = lookup::Network::new(context.child("p2p"), p2p_config);
        let address_book: Vec<PublicKey> = peers.keys().iter().cloned().collect();
        let track = track_addresses(oracle.clone(), peers);
        let mut register = |channel| network.register(channel, consensus::channel_quota(channel));
        let channels = Channels {
            votes: register(consensus::CHANNEL_VOTES),
            certificates: register(consensus::CHANNEL_CERTIFICATES),
            resolver: register(consensus::CHANNEL_RESOLVER),
            backfill: register(consensus::CHANNEL_BACKFILL),
            blocks: register(consensus::CHANNEL_BLOCKS),
            txs: register(consensus::CHANNEL_TXS),
        };
        let network_handle = network.start();
        let wiring = Wiring {
            signer,
            address_book,
            track,
            chain: chain.clone(),
            genesis: genesis_block,
            partition: "npchain".into(),
            timing,
            peers: oracle.clone(),
            blocker: oracle,
        };
        let exposition = context.child("metrics");
        chain.metrics().attach_engine(move || commonware_runtime::Metrics::encode(&exposition));
        let started = match consensus::start(context.child("node"), wiring, channels).await {
            Ok(started) => started,
            Err(source) => {
                return NodeError::Archive {
                    dir: consensus_dir.display().to_string(),
                    source: Box::new(source),
                };
            }
        };
        let gossip = started.gossip.clone();
        let marshal = started.marshal.clone();
        let identity =
            Identity { node_key: me.clone(), operator_key, peers: peer_infos, region: genesis.region };
        let api: Arc<dyn NodeApi> = Arc::new(Service::new(
            chain,
            identity,
            admin_token,
            Box::new(move |txs: &[bytes::Bytes]| gossip.send(txs)),
            Box::new(move |height| {
                // Marshal answers from its archives on the node's runtime; this thread only waits.
                use commonware_codec::Encode;
                let height = commonware_consensus::types::Height::new(height);
                let certificate = futures::executor::block_on(marshal.get_finalization(height))?;
                let block = futures::executor::block_on(marshal.get_block(height))?;
                Some(FinalityProof {
                    block: block.encode().to_vec(),
                    certificate: certificate.encode().to_vec(),
                })
            }),
        ));
        // webhooks to the back office, on a thread of their own
        if let Some(notify) = &notify
            && let Err(e) =
                crate::notify::spawn(notify, api.clone(), &data_dir, crate::notify::Stop::default())
        {
            return NodeError::Notify(e);
        }
        let http_listen = http_listener.local_addr().ok();
        spawn_http(http_listener, api, http_limits);
        info!(p2p = %p2p_listen, http = ?http_listen, "node running");
        let mut handles = started.handles;
        handles.push(network_handle);
        let (result, index, _) = futures::future::select_all(handles).await;
        tracing::error!(task = index, ?result, "a node task stopped; shutting down");
        NodeError::TaskStopped { index, result }
    });
    // The node only returns when a part of it stopped (a signal exits the process).
    Err(chain_halted.halted().map_or(stopped, NodeError::Halted))
}

type SakeCups = Cups<Sake<npchain_core::types::PrivateKey>, ChaCha20Poly1305>;

/// Hands each epoch's peers to the p2p network with their addresses from the address book (the
/// configured peers). A validator without an address cannot be dialled; it is logged, and the
/// others still reach quorum as long as the set tolerates it.
fn track_addresses(
    mut oracle: lookup::Oracle<PublicKey>,
    book: Map<PublicKey, Address>,
) -> consensus::TrackPeers {
    Box::new(move |peers: &consensus::EpochPeers| {
        let with_address = |keys: &[PublicKey]| -> Map<PublicKey, Address> {
            let known: Vec<(PublicKey, Address)> = keys
                .iter()
                .filter_map(|k| match book.get_value(k) {
                    Some(address) => Some((k.clone(), address.clone())),
                    None => {
                        warn!(epoch = peers.epoch, key = %k, "a validator of this epoch has no configured address");
                        None
                    }
                })
                .collect();
            Map::from_iter_dedup(known)
        };
        let tracked =
            AddressableTrackedPeers::new(with_address(&peers.validators), with_address(&peers.followers));
        let _ = AddressableManager::track(&mut oracle, peers.epoch, tracked);
    })
}

/// Sets the limits an operator may tune (`[p2p]`) on commonware's production configuration; the
/// rest stays as recommended (dial every second, ping every 50 s, four peer sets tracked).
fn apply_p2p_settings<U: commonware_stream::Upgrader>(p2p: &mut lookup::Config<U>, settings: &P2pSettings) {
    use commonware_runtime::Quota;
    use std::num::NonZeroU32;
    let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    p2p.allow_private_ips = settings.allow_private_ips;
    p2p.max_concurrent_handshakes = at_least_one(settings.max_concurrent_handshakes);
    p2p.handshake_timeout = settings.handshake_timeout;
    // a zero interval is refused by the config; the recommended one stands in for it
    if let Some(quota) = Quota::with_period(settings.handshake_interval_per_ip) {
        p2p.allowed_handshake_rate_per_ip = quota;
    }
    p2p.allowed_handshake_rate_per_subnet =
        Quota::per_second(at_least_one(settings.handshakes_per_subnet_per_sec));
    p2p.peer_connection_cooldown = settings.reconnect_cooldown;
    p2p.block_duration = settings.block_duration;
}

/// Serves ENUM on its own threads (one per UDP socket, and one for TCP), so routing answers never
/// wait for consensus work.
fn spawn_dns(
    udp: Vec<std::net::UdpSocket>,
    tcp: std::net::TcpListener,
    routes: Routes,
    zone: EnumConfig,
    limits: enum_dns::TcpLimits,
    metrics: Arc<Metrics>,
) -> Result<(), NodeError> {
    let io = |source| NodeError::Io { path: "DNS sockets".into(), source };
    tcp.set_nonblocking(true).map_err(io)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(io)?;
    std::thread::Builder::new()
        .name("dns".into())
        .spawn(move || {
            rt.block_on(async move {
                let result = match tokio::net::TcpListener::from_std(tcp) {
                    Ok(tcp) => enum_dns::serve(udp, tcp, routes, &zone, limits, metrics)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                tracing::error!(?result, "the ENUM server stopped");
                std::process::exit(1);
            });
        })
        .map_err(io)?;
    Ok(())
}

/// Serves the HTTP API on its own thread and runtime, and exits the process on SIGINT or
/// SIGTERM: every finalized block is already durable, so there is nothing to flush.
fn spawn_http(listener: std::net::TcpListener, api: Arc<dyn NodeApi>, limits: crate::config::HttpLimits) {
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let rt =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("http runtime");
            rt.block_on(async move {
                let listener = match listener
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::TcpListener::from_std(listener))
                {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for HTTP");
                        std::process::exit(1);
                    }
                };
                let stop = async {
                    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {},
                        _ = term.recv() => {},
                    }
                    info!("stopping");
                    std::process::exit(0);
                };
                if let Err(e) = crate::http::serve(listener, api, limits, stop).await {
                    tracing::error!(error = %e, "HTTP server failed");
                    std::process::exit(1);
                }
            });
        })
        .expect("http thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recommended() -> lookup::Config<SakeCups> {
        let handshake = Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: npchain_testkit::key("OPA"),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        );
        lookup::Config::recommended(
            handshake,
            b"test",
            ([127, 0, 0, 1], 0).into(),
            NZUsize!(4),
            1024,
            NZUsize!(16),
        )
    }

    #[test]
    fn the_p2p_defaults_are_the_production_configuration_but_for_handshakes_at_once() {
        let mut ours = recommended();
        apply_p2p_settings(&mut ours, &P2pSettings::default());
        let theirs = recommended();
        assert_eq!(ours.allow_private_ips, theirs.allow_private_ips);
        assert_eq!(ours.handshake_timeout, theirs.handshake_timeout);
        assert_eq!(ours.allowed_handshake_rate_per_ip, theirs.allowed_handshake_rate_per_ip);
        assert_eq!(ours.allowed_handshake_rate_per_subnet, theirs.allowed_handshake_rate_per_subnet);
        assert_eq!(ours.peer_connection_cooldown, theirs.peer_connection_cooldown);
        assert_eq!(ours.block_duration, theirs.block_duration);
        assert_eq!((ours.max_concurrent_handshakes.get(), theirs.max_concurrent_handshakes.get()), (64, 512));
        // the loopback settings change only what a one-machine network needs
        let mut loopback = recommended();
        apply_p2p_settings(&mut loopback, &P2pSettings::loopback());
        assert!(loopback.allow_private_ips);
        assert_eq!(loopback.peer_connection_cooldown, Duration::from_secs(1));
        assert_eq!(
            loopback.allowed_handshake_rate_per_ip,
            commonware_runtime::Quota::with_period(Duration::from_millis(50)).unwrap()
        );
        assert_eq!(loopback.handshake_timeout, theirs.handshake_timeout);
    }
}
