//! What the node's test binaries share (`mod support;` in each): the in-memory chain over a
//! genesis of the test kit. Keys, genesis and raw HTTP come from `npchain_testkit`.

#![allow(dead_code)] // each test binary uses a part

use npchain_core::{Genesis, Ledger, MemStore};
use npchain_node::chain::{Chain, MemBlockLog, mempool::Mempool};

/// A chain on an in-memory ledger and block log.
pub type TestChain = Chain<MemStore, MemBlockLog>;

/// The ledger of `genesis` (no migration list) on a memory store.
pub fn ledger(genesis: &Genesis) -> Ledger<MemStore> {
    Ledger::genesis(MemStore::new(), genesis, std::iter::empty()).expect("the test genesis loads")
}

/// A chain at the genesis of `genesis`, with `pool`.
pub fn chain(genesis: &Genesis, pool: Mempool) -> TestChain {
    Chain::new(ledger(genesis), MemBlockLog::default(), pool)
}

/// Serves `api` over HTTP on a loopback port, on a thread of its own; the address.
pub fn serve(
    api: std::sync::Arc<dyn npchain_node::api::NodeApi>,
    limits: npchain_node::config::HttpLimits,
) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            npchain_node::http::serve(listener, api, limits, std::future::pending()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// Asks `attempt` every 20 ms until it gives `Some`, and returns that; fails the test, naming
/// `what`, after `limit`. A wait on the node under test from outside (its sockets, its
/// metrics, a receiver it posts to), where the test has no event of its own to wait on.
pub fn eventually<T>(limit: std::time::Duration, what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = attempt() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// [`eventually`] for a condition.
pub fn wait_until(limit: std::time::Duration, what: &str, mut cond: impl FnMut() -> bool) {
    eventually(limit, what, || cond().then_some(()));
}
