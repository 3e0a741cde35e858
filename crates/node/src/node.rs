//! Runs one node on a real host: loads its configuration, keys, genesis and stores, then wires
//! consensus over the authenticated `lookup` network on the production (tokio) runtime, and
//! serves the HTTP API.

use crate::{
    api::{BlockInfo, NodeApi, Status, SubmitError},
    block::Block,
    blocklog::RedbBlockLog,
    chain::Chain,
    config::NodeConfig,
    engine::{self, Channels, Gossip, Wiring},
    keys,
    mempool::Mempool,
    storage::RedbStore,
};
use commonware_cryptography::{ChaCha20Poly1305, Signer};
use commonware_p2p::{Address, AddressableManager, authenticated::lookup};
use commonware_runtime::{Runner as _, Supervisor as _, tokio as runtime};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZUsize, ordered::Map};
use npchain_core::{
    Genesis, GenesisError, Ledger, ReadStore, StoreError,
    genesis::read_ported_csv,
    types::{PublicKey, TxId},
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
    #[error(
        "the ledger in {path} was made from another genesis or migration list (fingerprint {found}, \
         the configured files give {expected}); point data_dir elsewhere or remove it"
    )]
    WrongChain { path: String, found: String, expected: String },
    #[error("config: {0}")]
    Config(String),
    #[error("node stopped: {0}")]
    Stopped(String),
}

type LiveChain = Chain<RedbStore, RedbBlockLog>;
type LiveSender = lookup::Sender<PublicKey, runtime::Context>;

/// The running node as its interfaces see it.
struct LiveNode {
    chain: LiveChain,
    gossip: Arc<Gossip<LiveSender>>,
    marshal: engine::Marshal,
    node_key: PublicKey,
    operator: Option<String>,
    validators: Vec<String>,
}

impl NodeApi for LiveNode {
    fn status(&self) -> Status {
        let (chain_id, height, block_time, state_hash) =
            self.chain.with_ledger(|l| (l.chain_id(), l.height(), l.block_time(), l.state_hash()));
        Status {
            operator: self.operator.clone(),
            node_key: commonware_formatting::hex(self.node_key.as_ref()),
            chain_id: chain_id.0.to_string(),
            height,
            block_time_ms: block_time.millis(),
            state_hash: state_hash.to_string(),
            finalized_tip: self.chain.finalized_tip(),
            mempool: self.chain.mempool_len(),
            validators: self.validators.clone(),
        }
    }

    fn submit(&self, tx: &[u8]) -> Result<TxId, SubmitError> {
        let verified = self.chain.submit(tx)?;
        self.gossip.send(tx);
        Ok(verified.id())
    }

    fn block(&self, height: u64) -> Option<BlockInfo> {
        self.chain.block_info(height).ok().flatten()
    }

    fn finalization(&self, height: u64) -> Option<Vec<u8>> {
        // Marshal answers from its archive on the node's runtime; this thread only waits.
        let request = self.marshal.get_finalization(commonware_consensus::types::Height::new(height));
        futures::executor::block_on(request).map(|f| commonware_codec::Encode::encode(&f).to_vec())
    }
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

fn open_ledger(config: &NodeConfig, genesis: &Genesis) -> Result<Ledger<RedbStore>, NodeError> {
    let path = config.data_dir.join("state.redb");
    let name = path.display().to_string();
    let fingerprint_path = config.data_dir.join("genesis.fingerprint");
    let fingerprint = genesis_fingerprint(config, genesis)?;
    let write_fingerprint = || {
        std::fs::write(&fingerprint_path, format!("{fingerprint}\n"))
            .map_err(|source| NodeError::Io { path: fingerprint_path.display().to_string(), source })
    };
    if path.exists() {
        let store = RedbStore::open(&path)?;
        if store.meta()?.is_some() {
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
            return Ok(Ledger::open(store)?);
        }
        // No meta: a genesis load was interrupted (its meta is written last). Start again
        // from an empty file.
        drop(store);
        warn!(path = %name, "ledger store holds an unfinished genesis load; loading again");
        std::fs::remove_file(&path).map_err(|source| NodeError::Io { path: name.clone(), source })?;
    }
    let store = RedbStore::open(&path)?;
    let started = std::time::Instant::now();
    let ledger = match &config.ported {
        Some(csv) => {
            let file = std::fs::File::open(csv)
                .map_err(|source| NodeError::Io { path: csv.display().to_string(), source })?;
            Ledger::genesis(store, genesis, read_ported_csv(std::io::BufReader::new(file), genesis.region))
        }
        None => Ledger::genesis(store, genesis, std::iter::empty()),
    }
    .map_err(|source| NodeError::Genesis { path: config.genesis.display().to_string(), source })?;
    info!(elapsed = ?started.elapsed(), chain = %ledger.chain_id().0, "initialised the ledger from genesis");
    write_fingerprint()?;
    Ok(ledger)
}

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
    let signer = keys::read_key(&config.validator_key)?;
    let me = signer.public_key();
    let genesis = read_genesis(&config.genesis)?;
    let validators: Vec<PublicKey> = genesis.operators.iter().map(|o| o.validator_key.clone()).collect();
    let operator = genesis.operators.iter().find(|o| o.validator_key == me).map(|o| o.id.to_string());
    for v in &validators {
        if *v != me && !config.peers.iter().any(|p| &p.key == v) {
            return Err(NodeError::Config(format!(
                "validator {} of the genesis is not among the configured peers",
                commonware_formatting::hex(v.as_ref())
            )));
        }
    }
    let max_message = engine::max_message_size(validators.len());
    if max_message > lookup::max_size::<SakeCups>() {
        return Err(NodeError::Config(format!("blocks of {max_message} bytes exceed the p2p frame limit")));
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| NodeError::Io { path: config.data_dir.display().to_string(), source })?;
    let ledger = open_ledger(config, &genesis)?;
    let log = RedbBlockLog::open(&config.data_dir.join("blocks.redb"))?;
    let genesis_block = Block::genesis(genesis.genesis_time, ledger.chain_id());
    info!(
        operator = operator.as_deref().unwrap_or("observer"),
        height = ledger.height(),
        state = %ledger.state_hash(),
        "ledger open"
    );
    let chain = Chain::new(ledger, log, Mempool::default());
    let chain_halted = chain.clone();

    let mut peers: Vec<(PublicKey, Address)> =
        config.peers.iter().map(|p| (p.key.clone(), Address::from(p.address))).collect();
    peers.push((me.clone(), Address::from(config.p2p_listen)));
    let peer_count = peers.len();
    let peers: Map<PublicKey, Address> =
        peers.try_into().map_err(|_| NodeError::Config("a peer key is listed twice".into()))?;

    let runtime_config = runtime::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(config.data_dir.join("consensus"))
        .with_catch_panics(false);
    let http_listen = config.http_listen;
    let timing = config.timing;
    let p2p_listen = config.p2p_listen;
    let validator_ids: Vec<String> = genesis.operators.iter().map(|o| o.id.to_string()).collect();
    let stopped = runtime::Runner::new(runtime_config).start(|context| async move {
        let mut p2p_config = lookup::Config::local(
            Cups::<_, ChaCha20Poly1305>::new(
                Sake {
                    signer: signer.clone(),
                    synchrony_bound: Duration::from_secs(5),
                    max_handshake_age: Duration::from_secs(10),
                    version: sake::Version::V1,
                },
                cups::Version::V1,
            ),
            engine::CONSENSUS_NAMESPACE,
            p2p_listen,
            NZUsize!(peer_count),
            max_message,
            NZUsize!(4096),
        );
        p2p_config.allow_private_ips = true;
        let (mut network, mut oracle) = lookup::Network::new(context.child("p2p"), p2p_config);
        let _ = oracle.track(0, peers);
        let mut register = |channel| network.register(channel, engine::channel_quota(channel));
        let channels = Channels {
            votes: register(engine::CHANNEL_VOTES),
            certificates: register(engine::CHANNEL_CERTIFICATES),
            resolver: register(engine::CHANNEL_RESOLVER),
            backfill: register(engine::CHANNEL_BACKFILL),
            blocks: register(engine::CHANNEL_BLOCKS),
            txs: register(engine::CHANNEL_TXS),
        };
        let network_handle = network.start();
        let wiring = Wiring {
            signer,
            validators,
            chain: chain.clone(),
            genesis: genesis_block,
            partition: "npchain".into(),
            timing,
            peers: oracle.clone(),
            blocker: oracle,
        };
        let started = engine::start(context.child("node"), wiring, channels).await;
        let api: Arc<dyn NodeApi> = Arc::new(LiveNode {
            chain,
            gossip: started.gossip.clone(),
            marshal: started.marshal.clone(),
            node_key: me,
            operator,
            validators: validator_ids,
        });
        spawn_http(http_listen, api);
        info!(p2p = %p2p_listen, http = %http_listen, "node running");
        let mut handles = started.handles;
        handles.push(network_handle);
        let (result, index, _) = futures::future::select_all(handles).await;
        tracing::error!(task = index, ?result, "a node task stopped; shutting down");
        format!("node task {index} stopped ({result:?})")
    });
    // The node only returns when a part of it stopped (a signal exits the process).
    Err(NodeError::Stopped(chain_halted.halted().unwrap_or(stopped)))
}

type SakeCups = Cups<Sake<npchain_core::types::PrivateKey>, ChaCha20Poly1305>;

/// Serves the HTTP API on its own thread and runtime, and exits the process on SIGINT or
/// SIGTERM: every finalized block is already durable, so there is nothing to flush.
fn spawn_http(listen: std::net::SocketAddr, api: Arc<dyn NodeApi>) {
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let rt =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("http runtime");
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(%listen, error = %e, "cannot listen for HTTP");
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
                if let Err(e) = crate::http::serve(listener, api, stop).await {
                    tracing::error!(error = %e, "HTTP server failed");
                    std::process::exit(1);
                }
            });
        })
        .expect("http thread");
}
