//! The HTTP API over a fake node: every answer, and the precise error of every refusal.

use npchain_core::types::TxId;
use npchain_node::api::{BlockInfo, NodeApi, Status, SubmitError};
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{Arc, Mutex},
};

#[derive(Default)]
struct Fake {
    submitted: Mutex<Vec<Vec<u8>>>,
}

impl NodeApi for Fake {
    fn status(&self) -> Status {
        Status {
            operator: Some("OPA".into()),
            node_key: "ab".into(),
            chain_id: "cd".into(),
            height: 7,
            block_time_ms: 1_000,
            state_hash: "ef".into(),
            finalized_tip: 8,
            mempool: 2,
            validators: vec!["OPA".into(), "OPB".into()],
        }
    }

    fn submit(&self, tx: &[u8]) -> Result<TxId, SubmitError> {
        self.submitted.lock().unwrap().push(tx.to_vec());
        let id = TxId(<commonware_cryptography::Sha256 as commonware_cryptography::Hasher>::hash(&[tx]));
        match tx {
            b"dup" => Err(SubmitError::Duplicate(id)),
            b"old" => Err(SubmitError::Expired { expires_at_ms: 1, now_ms: 2 }),
            b"full" => Err(SubmitError::Full(10)),
            b"bad" => Err(SubmitError::Invalid("signature".into())),
            b"done" => Err(SubmitError::Committed(id)),
            _ if tx.first() == Some(&0xff) => Err(SubmitError::Malformed("no".into())),
            _ => Ok(id),
        }
    }

    fn finalization(&self, height: u64) -> Option<Vec<u8>> {
        (height == 3).then(|| vec![1, 2, 3])
    }

    fn block(&self, height: u64) -> Option<BlockInfo> {
        (height == 3).then(|| BlockInfo {
            height: 3,
            digest: "d".into(),
            parent: "p".into(),
            block_time_ms: 9,
            state_hash: "s".into(),
            txs: vec![],
        })
    }
}

fn serve() -> (SocketAddr, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let api: Arc<dyn NodeApi> = fake.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            npchain_node::http::serve(listener, api, std::future::pending()).await.unwrap();
        });
    });
    (rx.recv().unwrap(), fake)
}

fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let json = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b).unwrap_or_default())
        .unwrap_or_default();
    (status, json)
}

#[test]
fn status_and_blocks() {
    let (addr, _) = serve();
    let (code, body) = call(addr, "GET", "/v1/status", "text/plain", b"");
    assert_eq!(code, 200);
    assert_eq!(body["height"], 7);
    assert_eq!(body["state_hash"], "ef");
    assert_eq!(call(addr, "GET", "/v1/blocks/3", "text/plain", b"").1["digest"], "d");
    let (code, body) = call(addr, "GET", "/v1/blocks/4", "text/plain", b"");
    assert_eq!((code, body["error"].as_str()), (404, Some("unknown_block")));
    let (code, body) = call(addr, "GET", "/v1/blocks/3/finalization", "text/plain", b"");
    assert_eq!((code, body["finalization"].as_str()), (200, Some("010203")));
    let (code, body) = call(addr, "GET", "/v1/blocks/4/finalization", "text/plain", b"");
    assert_eq!((code, body["error"].as_str()), (404, Some("unknown_finalization")));
    let (code, body) = call(addr, "GET", "/v1/blocks/-1", "text/plain", b"");
    assert_eq!((code, body["error"].as_str()), (400, Some("bad_height")));
    let (code, body) = call(addr, "GET", "/nowhere", "text/plain", b"");
    assert_eq!((code, body["error"].as_str()), (404, Some("not_found")));
}

#[test]
fn submissions_map_every_refusal_to_a_precise_status() {
    let (addr, fake) = serve();
    let post = |body: &[u8]| call(addr, "POST", "/v1/tx", "application/octet-stream", body);
    let (code, body) = post(b"fine");
    assert_eq!(code, 202);
    assert_eq!(body["id"].as_str().unwrap().len(), 64);
    for (input, status, error) in [
        (&b"dup"[..], 409, "duplicate"),
        (b"done", 409, "committed"),
        (b"old", 422, "expired"),
        (b"full", 503, "mempool_full"),
        (b"bad", 400, "invalid"),
        (&[0xff, 1][..], 400, "malformed"),
    ] {
        let (code, body) = post(input);
        assert_eq!((code, body["error"].as_str()), (status, Some(error)), "{input:?}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // JSON with hex, bad JSON, bad hex
    let (code, _) = call(addr, "POST", "/v1/tx", "application/json", br#"{"tx":"66696e65"}"#);
    assert_eq!(code, 202);
    assert_eq!(fake.submitted.lock().unwrap().last().unwrap(), b"fine");
    let (code, body) = call(addr, "POST", "/v1/tx", "application/json", b"{nope");
    assert_eq!((code, body["error"].as_str()), (400, Some("bad_json")));
    let (code, body) = call(addr, "POST", "/v1/tx", "application/json", br#"{"tx":"zz"}"#);
    assert_eq!((code, body["error"].as_str()), (400, Some("bad_hex")));
    // oversized bodies are refused before they reach the node
    let before = fake.submitted.lock().unwrap().len();
    let (code, _) = post(&vec![1u8; npchain_node::http::MAX_BODY_BYTES + 1]);
    assert_eq!(code, 413);
    assert_eq!(fake.submitted.lock().unwrap().len(), before);
}
