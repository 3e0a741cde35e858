//! What the targets decode against, made once per process: a genesis of three operators (the
//! test kit's), the ledger over it, the ENUM responder over its routes, the HTTP router over a
//! node service, and the validator set of the finality proofs.

use commonware_cryptography::Signer as _;
use npchain_core::{Genesis, Ledger, MemStore, PortedEntry, PublicKey, tx::ChainId};
use npchain_node::{
    api::NodeApi,
    chain::{Chain, MemBlockLog, mempool::Mempool},
    enum_dns::{EnumConfig, Responder},
    metrics::Metrics,
    service::{Identity, Service},
};
use npchain_testkit::{GenesisBuilder, key, num, op};
use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, OnceLock},
};

/// The admin token of the fuzzed node's HTTP API.
pub const HTTP_ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef";
/// Blocks per epoch of the chain the proof target checks.
pub const PROOF_BLOCKS_PER_EPOCH: u64 = 4;

/// The genesis every target reads numbers and operators with: OPA, OPB and OPC holding
/// +49301, +49302 and +49303, region DE.
pub fn genesis() -> &'static Genesis {
    static GENESIS: OnceLock<Genesis> = OnceLock::new();
    GENESIS.get_or_init(|| GenesisBuilder::three_operators("npchain-fuzz").build())
}

/// The chain id of [`genesis`] with [`ported`] (what transactions are signed for).
pub fn chain_id() -> ChainId {
    static ID: OnceLock<ChainId> = OnceLock::new();
    *ID.get_or_init(|| ledger().chain_id())
}

/// One number already ported at genesis, so that the zone answers a ported number too.
fn ported() -> Vec<PortedEntry> {
    vec![PortedEntry { number: num("+4930100007"), operator: op("OPB"), routing_number: None }]
}

fn ledger() -> Ledger<MemStore> {
    Ledger::genesis(MemStore::new(), genesis(), ported().into_iter().map(Ok)).expect("the fuzz genesis loads")
}

/// The ENUM responder over the routes of [`genesis`], zone `e164.arpa`.
pub(crate) fn responder() -> &'static Responder {
    static RESPONDER: OnceLock<Responder> = OnceLock::new();
    RESPONDER.get_or_init(|| {
        let config = EnumConfig::with_origin("e164.arpa", IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)));
        Responder::new(ledger().routes(), &config, Arc::new(Metrics::default())).expect("the fuzz zone")
    })
}

/// The HTTP router of a node of operator OPA over [`genesis`] (in-memory ledger, no consensus),
/// with [`HTTP_ADMIN_TOKEN`], and the runtime that runs it.
pub(crate) fn http() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static HTTP: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    HTTP.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let chain = Chain::new(ledger(), MemBlockLog::default(), Mempool::default());
        let identity = Identity {
            node_key: key("OPA/validator").public_key(),
            operator_key: Some(key("OPA")),
            peers: vec![],
            region: genesis().region,
        };
        let service = Service::new(
            chain,
            identity,
            Some(HTTP_ADMIN_TOKEN.into()),
            Box::new(|_| {}),
            Box::new(|_| None),
        );
        let api: Arc<dyn NodeApi> = Arc::new(service);
        let router = runtime.block_on(async { npchain_node::http::router(api) });
        (runtime, router)
    })
}

/// The four validators that sign the finality proofs of the proof and certificate targets
/// (the genesis set), sorted.
pub fn proof_validators() -> &'static [PublicKey] {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: Vec<PublicKey> =
            (0..4).map(|i| key(&format!("fuzz/validator/{i}")).public_key()).collect();
        keys.sort();
        keys
    })
}
