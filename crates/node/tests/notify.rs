//! The webhook notifier (`[notify]`) over a real chain (in-memory ledger, blocks built and
//! finalized by the test) and a back office played by a tiny HTTP listener that refuses the
//! first attempts: events arrive in order, each id at least once and once after de-duplication,
//! the backoff is kept, the lag shows in the metrics while delivery fails and returns to zero,
//! and a restart resumes from the durable cursor without losing an event.

use commonware_codec::Encode;
use commonware_cryptography::{Digestible, Signer};
use hmac::{Hmac, KeyInit, Mac};
use npchain_api::{Block, json::EventInfo};
use npchain_core::{PrivateKey, Timestamp, Transaction, TxBody};
use npchain_node::{
    api::{NodeApi, OperatorAction},
    chain::mempool::Mempool,
    config::{NotifyConfig, NotifyEvents},
    notify::{self, Stop},
    service::{Identity, Service},
};
use npchain_testkit::{GenesisBuilder, key};
use serde_json::Value;
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use support::{TestChain, wait_until};

mod support;

const SECRET: &str = "a secret of the back office, 32b";

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A POST the back office received.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    accepted: bool,
    ids_header: Vec<String>,
    body: Value,
}

impl Received {
    fn ids(&self) -> Vec<String> {
        self.body["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
    }
}

/// The back office: answers 503 to the first `refuse` POSTs, then 200; checks each POST's
/// bearer token and signature, and keeps them all.
struct BackOffice {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl BackOffice {
    fn start(refuse: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    headers.push(line.trim_end().to_owned());
                }
                let header = |name: &str| {
                    headers.iter().find_map(|h| {
                        let (k, v) = h.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                };
                let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                assert_eq!(header("authorization").as_deref(), Some("Bearer token-of-the-desk"));
                let stamp = header("x-npchain-timestamp").unwrap();
                let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(format!("{stamp}.").as_bytes());
                mac.update(&body);
                let want = format!("sha256={}", commonware_formatting::hex(&mac.finalize().into_bytes()));
                assert_eq!(header("x-npchain-signature").as_deref(), Some(want.as_str()), "signed");
                let mut all = sink.lock().unwrap();
                let accepted = all.len() >= refuse;
                all.push(Received {
                    at: Instant::now(),
                    accepted,
                    ids_header: header("x-npchain-event-ids")
                        .unwrap()
                        .split(',')
                        .map(str::to_owned)
                        .collect(),
                    body: serde_json::from_slice(&body).unwrap(),
                });
                drop(all);
                let mut out = stream;
                let answer = if accepted { "200 OK" } else { "503 Service Unavailable" };
                let _ =
                    write!(out, "HTTP/1.1 {answer}\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy");
            }
        });
        Self { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The ids of the accepted POSTs, in order, each once.
    fn delivered(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for r in self.received().iter().filter(|r| r.accepted) {
            for id in r.ids() {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }
}

/// OPA's node over a chain the test finalizes.
struct Node {
    chain: TestChain,
    api: Arc<dyn NodeApi>,
    last: Block,
    nonce: u64,
}

impl Node {
    fn start() -> Self {
        let genesis = GenesisBuilder::new("npchain-notify-test")
            .time(Timestamp(wall_ms() - 60_000))
            .operator("OPA", "+49D001")
            .operator("OPB", "+49D002")
            .range("+49301", "OPA")
            .range("+49302", "OPB")
            .build();
        let chain = support::chain(&genesis, Mempool::default());
        let identity = Identity {
            node_key: key("OPA/validator").public_key(),
            operator_key: Some(key("OPA")),
            peers: vec![],
            region: genesis.region,
        };
        let service = Service::new(chain.clone(), identity, None, Box::new(|_| {}), Box::new(|_| None));
        let last = Block::genesis(genesis.genesis_time, chain.chain_id());
        Self { api: Arc::new(service), chain, last, nonce: 0 }
    }

    /// OPA binds `n` numbers and OPB one, in one block; the block's events of OPA, as ids.
    fn block_of_binds(&mut self, first: u64, n: u64) -> Vec<String> {
        for k in first..first + n {
            let number = format!("+4930100{k:03}").parse().unwrap();
            let subscriber = Some(key(&format!("subscriber{k}")).public_key());
            self.api.act(OperatorAction::Bind { number, subscriber }).unwrap();
        }
        self.nonce += 1;
        let opb: PrivateKey = key("OPB");
        let tx = Transaction {
            nonce: self.nonce,
            expires_at: Timestamp(wall_ms() + 300_000),
            signer: opb.public_key(),
            body: TxBody::Bind {
                number: format!("+4930200{first:03}").parse().unwrap(),
                subscriber: Some(key("other").public_key()),
            },
        }
        .sign(&self.chain.chain_id(), &opb);
        self.api.submit(&tx.encode(), false).unwrap();
        let block = self.chain.build(&self.last, self.last.digest(), Timestamp(wall_ms())).unwrap();
        self.chain.finalize(&block, block.digest()).unwrap();
        self.last = block;
        let info = self.api.block(self.last.height).unwrap().unwrap();
        assert_eq!(info.events.len() as u64, n + 1, "{:?}", info.events);
        info.events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.involves_operator("OPA"))
            .map(|(i, _)| format!("{}:{i}", self.last.height))
            .collect()
    }

    fn metric(&self, name: &str) -> f64 {
        let text = self.api.metrics().render();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap()
    }
}

fn config(url: &str, dir: &Path) -> NotifyConfig {
    let token = dir.join("token");
    let secret = dir.join("secret");
    std::fs::write(&token, "token-of-the-desk\n").unwrap();
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    NotifyConfig {
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        max_events_per_post: 2,
        bearer_token_file: Some(token),
        hmac_secret_file: Some(secret),
        ..NotifyConfig::new(url)
    }
}

#[test]
fn events_arrive_in_order_at_least_once_after_refusals_and_a_restart_loses_none() {
    let mut node = Node::start();
    let office = BackOffice::start(4);
    let data = tempfile::tempdir().unwrap();
    let config = config(&office.url, data.path());
    assert_eq!(config.events, NotifyEvents::Operator);
    let stop = Stop::default();
    let running = notify::spawn(&config, node.api.clone(), data.path(), stop.clone()).unwrap();

    let mut expected = node.block_of_binds(1, 3);
    expected.extend(node.block_of_binds(10, 2));
    assert_eq!(expected.len(), 5, "OPA's binds; OPB's are not this operator's");

    // refused: the lag shows while it fails
    wait_until(Duration::from_secs(30), "three refusals", || office.received().len() >= 3);
    assert!(node.metric("npchain_notify_lag_blocks") >= 1.0, "{}", node.api.metrics().render());
    assert!(node.metric("npchain_notify_failed_attempts_total") >= 3.0);
    assert!(node.metric("npchain_notify_pending_events") >= 1.0);
    // then accepted: every event, in order, and the lag back to zero
    wait_until(Duration::from_secs(30), "every event delivered", || {
        office.delivered().len() == expected.len()
    });
    assert_eq!(office.delivered(), expected);
    wait_until(Duration::from_secs(30), "no lag", || node.metric("npchain_notify_lag_blocks") == 0.0);
    assert_eq!(node.metric("npchain_notify_delivered_events_total"), 5.0);
    assert_eq!(node.metric("npchain_notify_pending_events"), 0.0);
    assert!(node.metric("npchain_notify_seconds_since_success") < 30.0);

    let received = office.received();
    // each POST names its events in the header as in the body, at most two of them, and
    // every event carries the stream's JSON
    for r in &received {
        assert_eq!(r.ids_header, r.ids());
        assert!((1..=2).contains(&r.ids().len()), "{:?}", r.body);
        assert_eq!(r.body["operator"], "OPA");
        for e in r.body["events"].as_array().unwrap() {
            let event: EventInfo = serde_json::from_value(e.clone()).unwrap();
            assert!(event.involves_operator("OPA"), "{e}");
            assert_eq!(e["id"], format!("{}:{}", e["height"], e["index"]));
        }
    }
    // the refused attempts were the same POST again, each after a wait that doubled to its cap
    let refused: Vec<&Received> = received.iter().filter(|r| !r.accepted).collect();
    assert_eq!(refused.len(), 4);
    assert!(refused.iter().all(|r| r.ids() == expected[..2]), "retried, not skipped");
    let waits = [50, 100, 200, 200];
    for (i, pair) in received.windows(2).take(4).enumerate() {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(waits[i]), "attempt {} came after {gap:?}", i + 2);
    }

    // a restart: stopped, more events committed meanwhile, started again from the cursor
    stop.stop();
    running.join().unwrap();
    let before = office.received().len();
    expected.extend(node.block_of_binds(20, 3));
    let stop = Stop::default();
    let again = notify::spawn(&config, node.api.clone(), data.path(), stop.clone()).unwrap();
    wait_until(Duration::from_secs(30), "the events after the restart", || {
        office.delivered().len() == expected.len()
    });
    assert_eq!(office.delivered(), expected, "in order, none lost");
    let after: Vec<String> = office.received()[before..].iter().flat_map(Received::ids).collect();
    assert_eq!(after, expected[5..], "acknowledged events are not sent again");
    stop.stop();
    again.join().unwrap();
}

#[test]
fn a_secret_too_short_or_missing_is_refused_at_start_naming_the_file() {
    let node = Node::start();
    let data = tempfile::tempdir().unwrap();
    let mut config = config("http://127.0.0.1:9/hook", data.path());
    std::fs::write(config.hmac_secret_file.as_ref().unwrap(), "short").unwrap();
    let e = notify::spawn(&config, node.api.clone(), data.path(), Stop::default()).unwrap_err().to_string();
    assert!(e.contains("hmac-secret-file") && e.contains("holds 5 bytes; at least 16"), "{e}");
    config.bearer_token_file = Some(data.path().join("absent"));
    let e = notify::spawn(&config, node.api.clone(), data.path(), Stop::default()).unwrap_err().to_string();
    assert!(e.contains("bearer-token-file") && e.contains("absent"), "{e}");
    assert!(!data.path().join("notify.cursor").exists(), "nothing started");
}
