//! `GET /v1/state` over a real chain (in-memory ledger, blocks finalized by the test): the dump
//! reads back whole, its entries hash to the chain's state hash, it is of the height its header
//! names while blocks commit, a height passed is refused and a height ahead is waited for.

use npchain_api::{Block, dump::DumpReader, json::FinalityProof};
use npchain_core::{PortedEntry, Timestamp, export::StateAccumulator};
use npchain_node::{
    api::NodeApi,
    chain::{MemBlockLog, mempool::Mempool},
    config::HttpLimits,
    service::{Identity, Service},
};
use npchain_testkit::{GenesisBuilder, key, num, op, raw_http::call};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};
use support::TestChain;

mod support;

const PORTED: u64 = 5_000;

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

struct Node {
    chain: TestChain,
    addr: SocketAddr,
    last: std::sync::Mutex<Block>,
}

impl Node {
    fn start() -> Self {
        let genesis =
            GenesisBuilder::three_operators("npchain-state-dump").time(Timestamp(wall_ms() - 60_000)).build();
        let ported = (0..PORTED).map(|k| {
            Ok(PortedEntry {
                number: num(&format!("+49301{k:06}")),
                operator: op("OPB"),
                routing_number: None,
            })
        });
        let ledger = npchain_core::Ledger::genesis(npchain_core::MemStore::new(), &genesis, ported).unwrap();
        let chain = TestChain::new(ledger, MemBlockLog::default(), Mempool::default());
        let identity = Identity {
            node_key: key("OPA/validator").public_key(),
            operator_key: None,
            peers: vec![],
            region: genesis.region,
        };
        let service = Service::new(
            chain.clone(),
            identity,
            None,
            Box::new(|_| {}),
            Box::new(|_| None::<FinalityProof>),
        );
        let api: Arc<dyn NodeApi> = Arc::new(service);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                npchain_node::http::serve(listener, api, HttpLimits::default(), std::future::pending())
                    .await
                    .unwrap();
            });
        });
        let last = Block::genesis(genesis.genesis_time, chain.chain_id());
        Self { chain, addr: rx.recv().unwrap(), last: std::sync::Mutex::new(last) }
    }

    /// An empty block finalized, as consensus would.
    fn commit(&self) {
        let mut last = self.last.lock().unwrap();
        let block = self.chain.build(&last, last.digest(), Timestamp(wall_ms())).unwrap();
        self.chain.finalize(&block, block.digest()).unwrap();
        *last = block;
    }
}

use commonware_cryptography::{Digestible as _, Signer as _};

/// GET `path`: the status and the body, de-chunked.
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        chunked |= line.to_ascii_lowercase().starts_with("transfer-encoding: chunked");
    }
    let mut body = Vec::new();
    if !chunked {
        r.read_to_end(&mut body).unwrap();
        return (status, body);
    }
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let n = usize::from_str_radix(line.trim(), 16).unwrap();
        if n == 0 {
            return (status, body);
        }
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).unwrap();
        body.extend_from_slice(&chunk[..n]);
    }
}

/// The dump's height and the state hash of its entries.
fn read_dump(bytes: &[u8]) -> (u64, npchain_core::Digest, u64) {
    let mut reader = DumpReader::new(bytes).unwrap();
    let height = reader.header().height;
    let mut acc = StateAccumulator::new();
    while let Some(e) = reader.next_entry().unwrap() {
        acc.add(e.table, &e.key, &e.value);
    }
    (height, acc.state_hash(), acc.entries())
}

#[test]
fn the_dump_is_the_whole_state_of_one_height() {
    let node = Node::start();
    node.commit();
    let (status, body) = get(node.addr, "/v1/state");
    assert_eq!(status, 200);
    let (height, hash, entries) = read_dump(&body);
    assert_eq!((height, hash), (node.chain.height(), node.chain.state_hash()));
    assert!(entries > PORTED, "{entries} entries");
}

#[test]
fn the_dump_keeps_its_height_while_blocks_commit() {
    let node = Arc::new(Node::start());
    let before = node.chain.height();
    let hash = node.chain.state_hash();
    let committer = {
        let node = node.clone();
        std::thread::spawn(move || {
            for _ in 0..20 {
                node.commit();
            }
        })
    };
    let (status, body) = get(node.addr, "/v1/state");
    committer.join().unwrap();
    assert_eq!(status, 200);
    let (height, got, _) = read_dump(&body);
    // whichever height the snapshot caught, its entries hash to that height's state hash
    let block = node.chain.block(height).unwrap().map(|r| r.state_hash);
    let expected = if height == before { Some(hash) } else { block };
    assert_eq!(Some(got), expected, "height {height}");
}

#[test]
fn a_height_passed_is_refused_and_one_ahead_is_waited_for() {
    let node = Arc::new(Node::start());
    node.commit();
    node.commit();
    let (status, answer) = call(node.addr, "GET", "/v1/state?height=1", &[], b"");
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "height_passed");
    assert!(answer["message"].as_str().unwrap().contains("at height 2, past 1"), "{answer}");
    let (status, answer) = call(node.addr, "GET", "/v1/state?height=x", &[], b"");
    assert_eq!((status, answer["error"].as_str()), (400, Some("bad_height")), "{answer}");
    let (status, answer) = call(node.addr, "GET", "/v1/state?heigth=3", &[], b"");
    assert_eq!((status, answer["error"].as_str()), (400, Some("bad_query")), "{answer}");

    let waiter = {
        let addr = node.addr;
        std::thread::spawn(move || get(addr, "/v1/state?height=4"))
    };
    node.commit();
    node.commit();
    let (status, body) = waiter.join().unwrap();
    assert_eq!(status, 200);
    let (height, hash, _) = read_dump(&body);
    assert_eq!(height, 4);
    assert_eq!(hash, node.chain.block(4).unwrap().unwrap().state_hash);
}
