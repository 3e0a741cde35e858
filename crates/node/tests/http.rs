//! The HTTP API over a real chain (in-memory ledger, blocks built and finalized by the test
//! instead of consensus): a whole port through the API, the event stream, and the precise
//! error of every refusal.

use commonware_codec::Encode;
use commonware_cryptography::{Digestible, Signer};
use npchain_api::{
    Block,
    json::{BlockInfo, EventInfo, FinalityProof, MAX_BATCH_TXS},
};
use npchain_core::{
    E164, Policy, PortRequest, PrivateKey, Timestamp, Transaction, TxBody, tx::ChainId, types::PortId,
};
use npchain_node::{
    api::NodeApi,
    chain::mempool::Mempool,
    config::HttpLimits,
    service::{Identity, Service, block_info},
};
use npchain_testkit::{
    GenesisBuilder, key, number_table as table,
    raw_http::{
        Events, assert_error, call, closed_by_server, connect, encoded, raw, read_reply, stream_answer,
    },
};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{Arc, Mutex},
    time::Duration,
};
use support::{TestChain, eventually};

mod support;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const NUMBER: &str = "+4930100001";

fn opa() -> PrivateKey {
    key("OPA")
}

fn opb() -> PrivateKey {
    key("OPB")
}

fn subscriber() -> PrivateKey {
    key("subscriber")
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A node of operator OPA over a real chain, serving HTTP; the test plays consensus.
struct Node {
    chain: TestChain,
    addr: SocketAddr,
    last: Mutex<Block>,
    relayed: Arc<Mutex<usize>>,
}

impl Node {
    fn start(admin: Option<&str>) -> Self {
        Self::with_limits(admin, HttpLimits::default())
    }

    fn with_limits(admin: Option<&str>, limits: HttpLimits) -> Self {
        let genesis = GenesisBuilder::new("npchain-http-test")
            .time(Timestamp(wall_ms() - 60_000))
            .region(table::TABLE_REGION)
            .policy(Policy { donor_answer_secs: 3600, ..Policy::default() })
            .operator("OPA", "+49D001")
            .operator("OPB", "+49D002")
            .range("+49301", "OPA")
            .range("+49302", "OPB")
            // the numbers of the number table
            .range("+49150", "OPA")
            .build();
        let chain = support::chain(&genesis, Mempool::default());
        let relayed = Arc::new(Mutex::new(0));
        let counter = relayed.clone();
        let identity = Identity {
            node_key: npchain_testkit::key("OPA/validator").public_key(),
            operator_key: Some(opa()),
            peers: vec![],
            region: genesis.region,
        };
        let service = Service::new(
            chain.clone(),
            identity,
            admin.map(String::from),
            Box::new(move |_| *counter.lock().unwrap() += 1),
            Box::new(|h| (h == 1).then(|| FinalityProof { block: vec![9], certificate: vec![1, 2, 3] })),
        );
        let api: Arc<dyn NodeApi> = Arc::new(service);
        let addr = support::serve(api, limits);
        let last = Block::genesis(genesis.genesis_time, chain.chain_id());
        Self { chain, addr, last: Mutex::new(last), relayed }
    }

    /// Builds a block of everything pooled and finalizes it, as consensus would.
    fn commit(&self) -> BlockInfo {
        let mut last = self.last.lock().unwrap();
        let block = self.chain.build(&last, last.digest(), Timestamp(wall_ms())).unwrap();
        self.chain.finalize(&block, block.digest()).unwrap();
        *last = block;
        block_info(&self.chain.block(last.height).unwrap().unwrap())
    }

    fn id(&self) -> ChainId {
        self.chain.chain_id()
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        call(self.addr, method, path, headers, body)
    }

    fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call("GET", path, &[], b"")
    }

    fn act(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {TOKEN}");
        self.call(
            "POST",
            path,
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    /// A transaction signed for this chain, valid for ten minutes: its bytes.
    fn signed(&self, signer: &PrivateKey, nonce: u64, body: TxBody) -> Vec<u8> {
        Transaction { nonce, expires_at: Timestamp(wall_ms() + 600_000), signer: signer.public_key(), body }
            .sign(&self.id(), signer)
            .encode()
            .to_vec()
    }

    fn submit(&self, signer: &PrivateKey, nonce: u64, body: TxBody) -> (u16, serde_json::Value) {
        let tx = self.signed(signer, nonce, body);
        self.call("POST", "/v1/tx", &[("Content-Type", "application/octet-stream")], &tx)
    }
}

#[test]
fn a_port_through_the_api() {
    let node = Node::start(Some(TOKEN));
    let number: E164 = NUMBER.parse().unwrap();
    let mut live = Events::open(node.addr, "?operator=OPB", None);

    // OPA binds the subscriber's key to its number.
    let sub_hex = commonware_formatting::hex(subscriber().public_key().as_ref());
    let (code, body) =
        node.act(&format!("/v1/operator/numbers/{NUMBER}/bind"), &format!(r#"{{"subscriber":"{sub_hex}"}}"#));
    assert_eq!(code, 202, "{body}");
    let bind_id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(node.get(&format!("/v1/tx/{bind_id}")).1["status"], "pending");
    assert_eq!(*node.relayed.lock().unwrap(), 1, "relayed to peers");
    node.commit();
    let (_, bound) = node.get(&format!("/v1/keys/{sub_hex}/numbers"));
    assert_eq!(bound["numbers"][0]["number"], NUMBER, "{bound}");
    assert!(
        node.get(&format!("/v1/keys/{}/numbers", commonware_formatting::hex(opa().public_key().as_ref()))).1
            ["numbers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_error(node.get("/v1/keys/beef/numbers"), 400, "bad_key");
    let (code, tx) = node.get(&format!("/v1/tx/{bind_id}"));
    assert_eq!(
        (code, tx["status"].as_str(), tx["outcome"].as_str()),
        (200, Some("committed"), Some("applied")),
        "{tx}"
    );
    assert_eq!(tx["height"], 1);

    // the number routes home, bound
    let (code, route) = node.get(&format!("/v1/numbers/{NUMBER}"));
    assert_eq!(code, 200);
    assert_eq!(
        (route["serving"].as_str(), route["ported"].as_bool(), route["bound"].as_bool()),
        (Some("OPA"), Some(false), Some(true))
    );
    // the same URL-encoded, and in national form (the genesis region is DE)
    assert_eq!(node.get("/v1/numbers/%2B4930100001").1, route);
    assert_eq!(node.get("/v1/numbers/030%20100001").1, route);
    // digits alone are no form of a number in DE: nothing adds a + the client did not send
    let (code, refused) = node.get("/v1/numbers/4930100001");
    assert_eq!((code, refused["error"].as_str()), (400, Some("bad_number")), "{refused}");
    assert!(refused["message"].as_str().unwrap().starts_with(r#"number "4930100001" begins with neither +"#));

    // the subscriber requests the port to OPB
    let request = PortRequest {
        numbers: vec![number],
        donor: "OPA".parse().unwrap(),
        recipient: "OPB".parse().unwrap(),
        due: Timestamp(0),
        nonce: 1,
    };
    let port: PortId = request.port_id(&subscriber().public_key());
    let (code, body) = node.submit(&subscriber(), 1, TxBody::RequestPort(request));
    assert_eq!(code, 202, "{body}");
    node.commit();
    let (code, order) = node.get(&format!("/v1/ports/{port}"));
    assert_eq!(
        (code, order["state"].as_str(), order["open"].as_bool()),
        (200, Some("requested"), Some(true)),
        "{order}"
    );
    assert_eq!(node.get(&format!("/v1/numbers/{NUMBER}")).1["open_port"], port.to_string());

    // OPA (this node) cannot activate: it is the donor. Refused before the pool, with the ledger's reason.
    let refused = node.act(&format!("/v1/operator/ports/{port}/activate"), "");
    assert_eq!(refused.0, 422, "{}", refused.1);
    assert!(refused.1["message"].as_str().unwrap().contains("recipient"), "{}", refused.1);
    // OPA releases
    assert_eq!(node.act(&format!("/v1/operator/ports/{port}/release"), "").0, 202);
    node.commit();
    // OPB activates through POST /v1/tx
    let (code, body) = node.submit(&opb(), 7, TxBody::Activate { port });
    assert_eq!(code, 202, "{body}");
    let activated = node.commit();
    assert!(
        activated
            .events
            .iter()
            .any(|e| matches!(e, EventInfo::Port { step, .. } if step.step == "activated"))
    );

    let (_, route) = node.get(&format!("/v1/numbers/{NUMBER}"));
    assert_eq!(
        (route["serving"].as_str(), route["routing_number"].as_str(), route["ported"].as_bool()),
        (Some("OPB"), Some("+49D002"), Some(true))
    );
    assert_eq!(route["height"], activated.height);
    let (_, history) = node.get(&format!("/v1/numbers/{NUMBER}/history"));
    let kinds: Vec<String> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}:{}", e["type"].as_str().unwrap(), e["step"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(kinds, ["bound:", "port:requested", "port:released", "port:activated"]);

    // listings
    let (_, list) = node.get("/v1/ports?operator=OPB&state=activated");
    assert_eq!(list["ports"].as_array().unwrap().len(), 1);
    assert_eq!(list["ports"][0]["id"], port.to_string());
    assert!(list["next"].is_null());
    assert!(node.get("/v1/ports?operator=OPB&state=open").1["ports"].as_array().unwrap().is_empty());
    assert_eq!(node.get("/v1/ports?number=%2B4930100001").1["ports"].as_array().unwrap().len(), 1);
    assert_eq!(node.get("/v1/ports?state=activated").1["ports"].as_array().unwrap().len(), 1);
    assert!(node.get("/v1/ports?operator=OPC").1["ports"].as_array().unwrap().is_empty());

    // the live stream filtered on OPB saw requested, released, activated (not the bind)
    let steps: Vec<String> =
        (0..3).map(|_| live.next_event().1["step"].as_str().unwrap().to_owned()).collect();
    assert_eq!(steps, ["requested", "released", "activated"]);
    // a stream from height 1 replays everything, the bind first; resuming after an id skips it
    let mut replay = Events::open(node.addr, "?from_height=1", None);
    let (first_id, first) = replay.next_event();
    assert_eq!(
        (first_id.as_str(), first["type"].as_str(), first["height"].as_u64()),
        ("1:0", Some("bound"), Some(1))
    );
    let mut resumed = Events::open(node.addr, "", Some(&first_id));
    assert_eq!(resumed.next_event().1["step"], "requested");
    // the number filter
    let mut by_number = Events::open(node.addr, &format!("?from_height=1&number={}", "%2B4930100001"), None);
    assert_eq!(by_number.next_event().1["type"], "bound");

    // blocks carry outcomes and events; metrics count it all
    let (_, block) = node.get("/v1/blocks/1");
    assert_eq!(block["txs"][0]["outcome"], "applied");
    assert_eq!(block["events"][0]["type"], "bound");
    let (_, proof) = node.get("/v1/blocks/1/finalization");
    assert_eq!((proof["finalization"].as_str(), proof["block"].as_str()), (Some("010203"), Some("09")));
    let mut s = TcpStream::connect(node.addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.contains(&format!("npchain_height {}", activated.height)), "{text}");
    assert!(text.contains(r#"npchain_queries_total{kind="http",result="ported"} 1"#), "{text}");
    assert!(text.contains(r#"npchain_tx_rejected_total{stage="submit",reason="#), "{text}");
    assert!(text.contains("npchain_tx_applied_total 4"), "{text}");
}

#[test]
fn every_refusal_is_a_precise_json_error() {
    let node = Node::start(Some(TOKEN));
    // numbers
    assert_error(node.get("/v1/numbers/hello"), 400, "bad_number");
    assert_error(node.get("/v1/numbers/+49301x"), 400, "bad_number");
    assert_error(node.get("/v1/numbers/+1234567890123456"), 400, "bad_number");
    assert_error(node.get("/v1/numbers/+4940123456"), 404, "unknown_number");
    assert_error(node.get("/v1/numbers/zz/history"), 400, "bad_number");
    // ids
    assert_error(node.get("/v1/tx/abc"), 400, "bad_tx_id");
    assert_error(node.get(&format!("/v1/tx/{}", "00".repeat(32))), 404, "unknown_tx");
    assert_error(node.get("/v1/ports/xyz"), 400, "bad_port_id");
    assert_error(node.get(&format!("/v1/ports/{}", "00".repeat(32))), 404, "unknown_port");
    assert_error(node.get("/v1/ports?state=sleeping"), 400, "bad_state");
    assert_error(node.get("/v1/ports?limit=0"), 400, "bad_limit");
    assert_error(node.get("/v1/ports?surprise=1"), 400, "bad_query");
    assert_error(node.get("/v1/blocks/-1"), 400, "bad_height");
    assert_error(node.get("/v1/blocks/99"), 404, "unknown_block");
    assert_error(node.get("/v1/blocks/99/finalization"), 404, "unknown_finalization");
    assert_error(node.get("/nowhere"), 404, "not_found");
    assert_error(node.call("GET", "/v1/events", &[("Last-Event-ID", "nope")], b""), 400, "bad_last_event_id");
    // submissions
    let octet = [("Content-Type", "application/octet-stream")];
    let json = [("Content-Type", "application/json")];
    assert_error(node.call("POST", "/v1/tx", &octet, b"garbage"), 400, "malformed");
    assert_error(node.call("POST", "/v1/tx", &json, b"{nope"), 400, "bad_json");
    assert_error(node.call("POST", "/v1/tx", &json, br#"{"tx":"zz"}"#), 400, "bad_hex");
    assert_error(node.call("POST", "/v1/tx", &json, br#"{"tx":"00","more":1}"#), 400, "bad_json");
    assert_error(node.call("POST", "/v1/tx?precheck=maybe", &octet, b"x"), 400, "bad_query");
    let (code, _) = node.call("POST", "/v1/tx", &octet, &vec![1u8; npchain_node::http::MAX_BODY_BYTES + 1]);
    assert_eq!(code, 413);
    // a forged signature, an operator acting for another, a replay, a duplicate
    let bind =
        || TxBody::Bind { number: NUMBER.parse().unwrap(), subscriber: Some(subscriber().public_key()) };
    let mut forged = node.signed(&opa(), 1, bind());
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_error(node.call("POST", "/v1/tx", &octet, &forged), 400, "invalid");
    let (code, body) = node.submit(&opb(), 1, bind());
    assert_eq!(code, 422, "OPB does not serve the number: {body}");
    let (code, _) = node.call("POST", "/v1/tx?precheck=false", &octet, &node.signed(&opb(), 2, bind()));
    assert_eq!(code, 202, "without the precheck it is pooled, and refused in the block");
    let tx = node.signed(&opa(), 3, bind());
    assert_eq!(node.call("POST", "/v1/tx", &octet, &tx).0, 202);
    assert_error(node.call("POST", "/v1/tx", &octet, &tx), 409, "duplicate");
    let block = node.commit();
    assert_eq!(block.txs.iter().filter(|t| t.outcome == "rejected").count(), 1, "{block:?}");
    let rejected = &block.txs.iter().find(|t| t.outcome == "rejected").unwrap().id;
    let (_, status) = node.get(&format!("/v1/tx/{rejected}"));
    assert_eq!(
        (status["status"].as_str(), status["outcome"].as_str()),
        (Some("committed"), Some("rejected"))
    );
    assert!(status["reason"].as_str().is_some_and(|r| !r.is_empty()), "{status}");
    assert_error(node.call("POST", "/v1/tx", &octet, &tx), 409, "committed");
    // operator actions: token, action, body
    let port = "00".repeat(32);
    assert_error(
        node.call("POST", &format!("/v1/operator/ports/{port}/release"), &[], b""),
        401,
        "missing_token",
    );
    assert_error(
        node.call(
            "POST",
            &format!("/v1/operator/ports/{port}/release"),
            &[("Authorization", "Bearer wrong-token-of-some-length")],
            b"",
        ),
        403,
        "wrong_token",
    );
    assert_error(node.act(&format!("/v1/operator/ports/{port}/explode"), ""), 404, "unknown_action");
    assert_error(
        node.act(&format!("/v1/operator/ports/{port}/reject"), r#"{"reason":"because"}"#),
        400,
        "bad_reason",
    );
    assert_error(node.act(&format!("/v1/operator/ports/{port}/reject"), "{"), 400, "bad_json");
    assert_error(
        node.act(&format!("/v1/operator/numbers/{NUMBER}/bind"), r#"{"subscriber":"beef"}"#),
        400,
        "bad_key",
    );
    assert_error(node.act("/v1/operator/numbers/12ab/return", ""), 400, "bad_number");
    let (code, body) = node.act(&format!("/v1/operator/ports/{port}/reject"), r#"{"reason":"court-order"}"#);
    assert_eq!(code, 422, "no such order: {body}");
    // without a configured token, actions are off
    let closed = Node::start(None);
    assert_error(closed.act(&format!("/v1/operator/ports/{port}/release"), ""), 403, "admin_disabled");
}

#[test]
fn the_openapi_document_lists_every_route() {
    let node = Node::start(None);
    let (code, doc) = node.get("/openapi.json");
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    let source = include_str!("../src/http/mod.rs");
    let routes: Vec<&str> = source.split(".route(\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert!(routes.len() >= 14, "{routes:?}");
    for r in &routes {
        assert!(paths.contains(r), "{r} is served but not documented");
    }
    for p in &paths {
        assert!(routes.contains(p), "{p} is documented but not served");
    }
}

#[test]
fn a_batch_gets_one_result_per_transaction_and_one_relay() {
    let node = Node::start(Some(TOKEN));
    let json = [("Content-Type", "application/json")];
    let bind = |i: u64| TxBody::Bind {
        number: format!("+493010000{i}").parse().unwrap(),
        subscriber: Some(subscriber().public_key()),
    };
    let good: Vec<Vec<u8>> = (1..=5).map(|i| node.signed(&opa(), i, bind(i))).collect();
    let mut forged = node.signed(&opa(), 6, bind(6));
    *forged.last_mut().unwrap() ^= 1;
    let not_served = node.signed(&opb(), 7, bind(7));
    let mut txs: Vec<Vec<u8>> = good.clone();
    txs.extend([forged, good[0].clone(), not_served, vec![0u8]]);
    let body =
        serde_json::json!({ "txs": txs.iter().map(|t| commonware_formatting::hex(t)).collect::<Vec<_>>() });
    let before = *node.relayed.lock().unwrap();
    let (code, answer) = node.call("POST", "/v1/txs", &json, body.to_string().as_bytes());
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["accepted"], 5, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    for r in &results[..5] {
        assert!(r["id"].as_str().is_some_and(|id| id.len() == 64), "{r}");
    }
    let errors: Vec<&str> = results[5..].iter().map(|r| r["error"].as_str().unwrap()).collect();
    assert_eq!(errors[0], "invalid");
    assert_eq!(errors[1], "duplicate");
    assert!(!["invalid", "duplicate", "malformed"].contains(&errors[2]), "ledger refusal: {errors:?}");
    assert_eq!(errors[3], "malformed");
    assert!(results[5..].iter().all(|r| r["id"].is_null() && r["message"].as_str().is_some()));
    assert_eq!(*node.relayed.lock().unwrap(), before + 1, "the accepted ones travel together");
    let block = node.commit();
    assert_eq!(block.txs.len(), 5);
    assert!(block.txs.iter().all(|t| t.outcome == "applied"), "{:?}", block.txs);
    // the same batch again: every transaction is now committed
    let (_, again) = node.call("POST", "/v1/txs", &json, body.to_string().as_bytes());
    assert_eq!(again["accepted"], 0);
    assert_eq!(again["results"][0]["error"], "committed");
    // refusals of the whole request
    assert_error(node.call("POST", "/v1/txs", &json, br#"{"txs":[]}"#), 400, "bad_batch");
    let many = serde_json::json!({ "txs": vec!["00"; MAX_BATCH_TXS + 1] });
    assert_error(node.call("POST", "/v1/txs", &json, many.to_string().as_bytes()), 400, "bad_batch");
    assert_error(node.call("POST", "/v1/txs", &json, br#"{"txs":["zz"]}"#), 400, "bad_hex");
    assert_error(node.call("POST", "/v1/txs", &json, br#"{"tx":"00"}"#), 400, "bad_json");
    assert_error(node.call("POST", "/v1/txs?precheck=2", &json, br#"{"txs":["00"]}"#), 400, "bad_query");
}

/// Every endpoint that takes a number reads the table's numbers as the core parser does, with
/// the genesis region; a refusal is 400 `bad_number` with the parser's message and stores
/// nothing (no transaction pooled or relayed, no binding).
#[test]
fn every_number_endpoint_reads_the_number_table_alike() {
    use table::{NUMBERS, Want};
    let node = Node::start(Some(TOKEN));
    let (_, status) = node.get("/v1/status");
    assert_eq!(status["region"], "DE", "{status}");
    let region = Some(table::TABLE_REGION.parse().unwrap());
    let sub_hex = commonware_formatting::hex(subscriber().public_key().as_ref());
    let bound = || {
        let (_, answer) = node.get(&format!("/v1/keys/{sub_hex}/numbers"));
        let numbers = answer["numbers"].as_array().unwrap().iter();
        numbers.map(|r| r["number"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let pooled = || (node.get("/v1/status").1["mempool"].as_u64().unwrap(), *node.relayed.lock().unwrap());
    let bind_body = format!(r#"{{"subscriber":"{sub_hex}"}}"#);
    let mut expected_bound = Vec::new();
    for (input, want) in NUMBERS {
        let e = encoded(input);
        let before = (pooled(), bound());
        let answers = [
            ("number", node.get(&format!("/v1/numbers/{e}"))),
            ("history", node.get(&format!("/v1/numbers/{e}/history"))),
            ("ports", node.get(&format!("/v1/ports?number={e}"))),
            ("events", stream_answer(node.addr, &format!("/v1/events?number={e}"))),
            ("bind", node.act(&format!("/v1/operator/numbers/{e}/bind"), &bind_body)),
        ];
        match want {
            Want::Refused(_) => {
                let refusal = E164::parse(input, region).unwrap_err().to_string();
                let returned = node.act(&format!("/v1/operator/numbers/{e}/return"), "");
                for (endpoint, (code, body)) in answers.into_iter().chain([("return", returned)]) {
                    let mut message = refusal.clone();
                    if ["ports", "events"].contains(&endpoint) && input.starts_with(' ') {
                        message.push_str(" (in a URL query a + stands for a space: send the + as %2B)");
                    }
                    assert_eq!(
                        (code, body["error"].as_str(), body["message"].as_str()),
                        (400, Some("bad_number"), Some(message.as_str())),
                        "{endpoint} {input:?}"
                    );
                }
                assert_eq!((pooled(), bound()), before, "{input:?}: nothing is pooled, relayed or bound");
            }
            Want::Number(n) => {
                let canonical = format!("+{n}");
                for (endpoint, (code, body)) in &answers {
                    let expected = if *endpoint == "bind" { 202 } else { 200 };
                    assert_eq!(*code, expected, "{endpoint} {input:?}: {body}");
                }
                let [(_, (_, route)), (_, (_, history)), ..] = &answers;
                assert_eq!(
                    (route["number"].as_str(), route["serving"].as_str()),
                    (Some(&*canonical), Some("OPA"))
                );
                assert_eq!(history["number"].as_str(), Some(&*canonical), "{input:?}");
                node.commit();
                expected_bound.push(canonical.clone());
                assert!(bound().contains(&canonical), "{input:?} bound {canonical}");
                // the bound number is not ported: the ledger refuses its return, as a number
                let (code, body) = node.act(&format!("/v1/operator/numbers/{e}/return"), "");
                assert_eq!(code, 422, "{input:?}: {body}");
                assert!(body["message"].as_str().unwrap().contains(&canonical), "{input:?}: {body}");
            }
        }
    }
    let mut got = bound();
    got.sort();
    expected_bound.sort();
    assert_eq!(got, expected_bound, "exactly the accepted rows were bound");
    // the vanity numbers of the issue were never touched
    for n in ["+4915035693771", "+4915022233344"] {
        assert!(
            node.get(&format!("/v1/numbers/%2B{}/history", &n[1..])).1["entries"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
}

/// The document's `Number` pattern is the grammar: it matches every number the node accepts,
/// refuses every text refused for its characters, and what else it matches the node refuses
/// only for the reasons the description names (length, country code, the region's prefixes).
#[test]
fn the_openapi_number_pattern_is_the_grammar() {
    use table::{NUMBERS, Want};
    let doc: serde_json::Value = serde_json::from_str(npchain_node::http::OPENAPI).unwrap();
    let schemas = &doc["components"]["schemas"];
    let pattern = regex::Regex::new(schemas["Number"]["pattern"].as_str().unwrap()).unwrap();
    let named = ["too_short", "too_long", "no_country_code", "unknown_country_code", "not_dialable"];
    for (input, want) in NUMBERS {
        let matched = pattern.is_match(input);
        match want {
            Want::Number(_) => assert!(matched, "{input:?} is accepted but the document refuses it"),
            Want::Refused(tag) if tag.contains('@') || ["empty", "blank", "no_digits"].contains(tag) => {
                assert!(!matched, "{input:?} ({tag}) matches the document's pattern")
            }
            Want::Refused(tag) => assert!(!matched || named.contains(tag), "{input:?}: {tag}"),
        }
        // in + form only the country code is left to the node
        if input.starts_with('+') && matched {
            assert!(matches!(want, Want::Number(_) | Want::Refused("unknown_country_code")), "{input:?}");
        }
    }
    let id = regex::Regex::new(schemas["PortId"]["pattern"].as_str().unwrap()).unwrap();
    let port = PortRequest {
        numbers: vec![NUMBER.parse().unwrap()],
        donor: "OPA".parse().unwrap(),
        recipient: "OPB".parse().unwrap(),
        due: Timestamp(0),
        nonce: 1,
    }
    .port_id(&subscriber().public_key());
    assert!(id.is_match(&port.to_string()) && !id.is_match(&port.to_string()[1..]));
    assert_eq!(schemas["Height"]["maximum"].as_u64(), Some(u64::MAX));
    let node = Node::start(None);
    assert_eq!(node.get(&format!("/v1/blocks/{}", u64::MAX)).0, 404, "the largest height is a height");
    assert_error(node.get(&format!("/v1/blocks/{}0", u64::MAX)), 400, "bad_height");
}

// --- the HTTP port's limits: every refusal is JSON, slow clients are cut off, caps hold

/// Limits small enough for a test to reach.
fn tight() -> HttpLimits {
    HttpLimits {
        max_connections: 4,
        max_event_streams: 3,
        max_event_streams_per_client: 2,
        body_bytes_in_flight: 1 << 20,
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
    }
}

#[test]
fn every_refusal_of_the_framework_is_json_too() {
    let node = Node::start(Some(TOKEN));
    let get = |path: &str| raw(node.addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());

    let r = raw(node.addr, b"DELETE /v1/status HTTP/1.1\r\nHost: x\r\n\r\n");
    r.assert_error(405, "method_not_allowed");
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")), "{r:?}");
    assert!(
        r.json["message"].as_str().unwrap().contains("DELETE")
            && r.json["message"].as_str().unwrap().contains("GET"),
        "{r:?}"
    );
    get("/nowhere").assert_error(404, "not_found");
    // a path that percent-decodes to no UTF-8
    let r = get("/v1/numbers/%FF%FE");
    r.assert_error(400, "bad_path");
    assert!(r.json["message"].as_str().unwrap().contains("%FF%FE"), "{r:?}");
    // too long a target: ours (8 KiB), and hyper's own refusal of a request line past its buffer
    get(&format!("/v1/numbers/{}", "1".repeat(npchain_node::http::MAX_URI_BYTES)))
        .assert_error(414, "uri_too_long");
    get(&format!("/v1/numbers/{}", "1".repeat(npchain_node::http::MAX_HEAD_BYTES)))
        .assert_error(414, "uri_too_long");
    let big = format!("GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000));
    raw(node.addr, big.as_bytes()).assert_error(431, "head_too_large");
    let r = raw(node.addr, b"NOT HTTP AT ALL\r\n\r\n");
    r.assert_error(400, "bad_request");
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    // Host: required in HTTP/1.1 (RFC 9112 §3.2), once, and valid
    raw(node.addr, b"GET /v1/status HTTP/1.1\r\n\r\n").assert_error(400, "bad_host");
    raw(node.addr, b"GET /v1/status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").assert_error(400, "bad_host");
    raw(node.addr, b"GET /v1/status HTTP/1.1\r\nHost: a b\r\n\r\n").assert_error(400, "bad_host");
    assert_eq!(raw(node.addr, b"GET /v1/status HTTP/1.0\r\n\r\n").status, 200, "HTTP/1.0 needs no Host");
    // bodies past the route's limit, refused from Content-Length before they are sent
    let r = raw(
        node.addr,
        format!(
            "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            npchain_node::http::MAX_BODY_BYTES + 1
        )
        .as_bytes(),
    );
    r.assert_error(413, "too_large");
    assert_eq!(r.header("connection"), Some("close"));
    // the same without a Content-Length, chunked: refused once the bytes pass the limit
    let chunk = vec![b'0'; 64 * 1024];
    let mut s = connect(node.addr);
    s.write_all(b"POST /v1/tx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    for _ in 0..(npchain_node::http::MAX_BODY_BYTES / chunk.len() + 1) {
        write!(s, "{:x}\r\n", chunk.len()).unwrap();
        s.write_all(&chunk).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    read_reply(&mut s).assert_error(413, "too_large");

    // the authorization scheme is case-insensitive (RFC 9110 §11.1)
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (code, body) = node.call(
            "POST",
            &format!("/v1/operator/numbers/{NUMBER}/return"),
            &[("Authorization", &format!("{scheme} {TOKEN}"))],
            b"",
        );
        assert_ne!(code, 401, "{scheme}: {body}");
        assert_ne!(body["error"], "missing_token", "{scheme}: {body}");
    }
    let (code, body) = node.call(
        "POST",
        &format!("/v1/operator/numbers/{NUMBER}/return"),
        &[("Authorization", &format!("Basic {TOKEN}"))],
        b"",
    );
    assert_eq!((code, body["error"].as_str()), (401, Some("missing_token")), "{body}");
}

#[test]
fn slow_clients_are_cut_off_at_the_timeouts() {
    // (idle for 2 s: the kept-alive connection below sends its second request well within it)
    let node = Node::with_limits(None, HttpLimits { idle_timeout: Duration::from_secs(2), ..tight() });
    // nothing sent: closed without an answer at the idle timeout
    let mut silent = connect(node.addr);
    let mut got = Vec::new();
    silent.read_to_end(&mut got).expect("closed, not timed out");
    assert!(got.is_empty(), "{got:?}");
    // half a request head: 408 at the header timeout, then closed
    let mut partial = connect(node.addr);
    partial.write_all(b"GET /v1/sta").unwrap();
    read_reply(&mut partial).assert_error(408, "header_timeout");
    assert!(closed_by_server(&mut partial));
    // a head dripped a byte at a time (slowloris): the header timeout runs from its first byte
    let mut drip = connect(node.addr);
    let writer = drip.try_clone().unwrap();
    let dripping = std::thread::spawn(move || {
        let mut writer = writer;
        // the client's pace, not a synchronisation: it stops when the server has closed
        for b in b"GET /v1/status HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    read_reply(&mut drip).assert_error(408, "header_timeout");
    assert!(closed_by_server(&mut drip));
    dripping.join().unwrap();
    // a body that does not come: 408 at the body timeout
    let mut slow = connect(node.addr);
    slow.write_all(b"POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0").unwrap();
    let r = read_reply(&mut slow);
    r.assert_error(408, "body_timeout");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed_by_server(&mut slow));
    // a kept-alive connection: served, then closed when idle
    let mut kept = connect(node.addr);
    kept.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_reply(&mut kept).status, 200);
    kept.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_reply(&mut kept).status, 200, "kept alive between requests");
    let mut rest = Vec::new();
    kept.read_to_end(&mut rest).expect("closed when idle");
    assert!(rest.is_empty(), "{rest:?}");
}

/// `GET /v1/status` on a new connection: its status (503 while the node is at its cap).
fn status_code(addr: SocketAddr) -> u16 {
    raw(addr, b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status
}

#[test]
fn a_client_that_does_not_read_is_cut_off_but_event_streams_last() {
    // (3 s to answer: the refusal below comes while the stalled connection still holds its slot)
    let limits = HttpLimits {
        max_connections: 3,
        max_event_streams: 2,
        request_timeout: Duration::from_secs(3),
        ..tight()
    };
    let node = Node::with_limits(Some(TOKEN), limits);
    let mut streams = [Events::open(node.addr, "", None), Events::open(node.addr, "", None)];
    // answers for 64 MiB asked for and none read: the node's writes stall
    let mut deaf = connect(node.addr);
    let size = npchain_node::http::OPENAPI.len();
    let requests = (64 << 20) / size;
    deaf.write_all(&b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(requests)).unwrap();
    // the three connections fill the cap until the stalled one is cut at the request deadline
    let refused = raw(node.addr, b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n");
    refused.assert_error(503, "too_many_connections");
    eventually(Duration::from_secs(20), "the stalled connection to be cut", || {
        (status_code(node.addr) == 200).then_some(())
    });
    let mut read = 0;
    let mut sink = vec![0u8; 1 << 16];
    loop {
        match deaf.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open: {e}"),
        }
    }
    assert!(read < requests * size, "cut off: {read} of {} bytes", requests * size);
    // the event streams have no deadline: both still deliver
    let sub_hex = commonware_formatting::hex(subscriber().public_key().as_ref());
    let bind = format!(r#"{{"subscriber":"{sub_hex}"}}"#);
    // (a connection's slot comes back just after its client saw the answer: retry while at the cap)
    let (code, body) = eventually(Duration::from_secs(20), "a slot for the bind", || {
        let (code, body) = node.act(&format!("/v1/operator/numbers/{NUMBER}/bind"), &bind);
        (code != 503).then_some((code, body))
    });
    assert_eq!(code, 202, "{body}");
    node.commit();
    for s in &mut streams {
        assert_eq!(s.next_event().1["type"], "bound");
    }
}

#[test]
fn connections_past_the_cap_are_refused_with_json_and_the_slot_comes_back() {
    let limits = HttpLimits { idle_timeout: Duration::from_secs(600), ..tight() };
    let node = Node::with_limits(None, limits);
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect(node.addr)).collect();
    // The kernel hands connections to the accept loop in order: the fifth finds the cap full.
    for _ in 0..3 {
        let mut extra = connect(node.addr);
        let r = read_reply(&mut extra);
        r.assert_error(503, "too_many_connections");
        assert_eq!((r.header("connection"), r.header("retry-after")), (Some("close"), Some("1")), "{r:?}");
        assert!(r.json["message"].as_str().unwrap().contains("max-connections"), "{r:?}");
        assert!(closed_by_server(&mut extra));
    }
    // the held ones are served
    held[0].write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_reply(&mut held[0]).status, 200);
    // one goes away: its slot comes back
    drop(held.pop());
    eventually(Duration::from_secs(20), "a freed slot", || (status_code(node.addr) == 200).then_some(()));
}

#[test]
fn event_streams_are_capped_per_client_and_per_node() {
    let limits = HttpLimits { max_connections: 16, ..tight() };
    let node = Node::with_limits(None, limits);
    let from = |ip: [u8; 4]| {
        // loopback has all of 127/8: another source address is another client
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
        socket.connect(&node.addr.into()).unwrap();
        let s: TcpStream = socket.into();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    };
    let open = |ip: [u8; 4]| {
        let mut s = from(ip);
        s.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        (line, reader)
    };
    let (ok1, _a1) = open([127, 0, 0, 1]);
    let (ok2, a2) = open([127, 0, 0, 1]);
    assert!(ok1.contains(" 200 ") && ok2.contains(" 200 "), "{ok1} {ok2}");
    let mut third = from([127, 0, 0, 1]);
    third.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_reply(&mut third);
    r.assert_error(429, "too_many_client_streams");
    assert!(r.json["message"].as_str().unwrap().contains("127.0.0.1"), "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    let (ok3, _b1) = open([127, 0, 0, 2]);
    assert!(ok3.contains(" 200 "), "another client: {ok3}");
    let mut fourth = from([127, 0, 0, 3]);
    fourth.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_reply(&mut fourth);
    r.assert_error(503, "too_many_streams");
    assert!(r.json["message"].as_str().unwrap().contains("max-event-streams"), "{r:?}");
    // a client goes away: its stream's slot comes back
    drop(a2);
    eventually(Duration::from_secs(20), "the stream's slot back", || {
        let (line, reader) = open([127, 0, 0, 1]);
        line.contains(" 200 ").then_some(reader)
    });
}

#[test]
fn request_bodies_are_bounded_for_the_whole_node() {
    // (a body may take 20 s: the first upload holds its bytes until the test lets it go)
    let limits = HttpLimits {
        idle_timeout: Duration::from_secs(600),
        body_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(30),
        ..tight()
    };
    let node = Node::with_limits(None, limits);
    let head = |len: usize| {
        format!(
            "POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // 700 kB held (one byte of it sent): a second 700 kB does not fit the 1 MiB in flight
    let mut first = connect(node.addr);
    first.write_all(head(700_000).as_bytes()).unwrap();
    first.write_all(b"{").unwrap();
    let r = eventually(Duration::from_secs(20), "the first body to hold its bytes", || {
        let r = raw(node.addr, head(700_000).as_bytes());
        (r.status == 503).then_some(r)
    });
    r.assert_error(503, "busy");
    assert!(r.json["message"].as_str().unwrap().contains("body-mib-in-flight"), "{r:?}");
    assert_eq!((r.header("retry-after"), r.header("connection")), (Some("1"), Some("close")));
    // a small one still fits
    let small = br#"{"txs":["zz"]}"#;
    let mut req = head(small.len()).into_bytes();
    req.extend_from_slice(small);
    raw(node.addr, &req).assert_error(400, "bad_hex");
    // the first goes away: its bytes come back
    drop(first);
    let mut body = vec![b' '; 700_000];
    body[..small.len()].copy_from_slice(small);
    let mut req = head(body.len()).into_bytes();
    req.extend_from_slice(&body);
    eventually(Duration::from_secs(20), "the budget back", || {
        let r = raw(node.addr, &req);
        (r.status != 503).then_some(r)
    })
    .assert_error(400, "bad_hex");
}

#[test]
fn a_batch_is_refused_while_it_is_read() {
    let node = Node::start(None);
    let json = [("Content-Type", "application/json")];
    let max = MAX_BATCH_TXS;
    // one transaction too many, then garbage: refused at the count, before the garbage is read
    let body = format!(r#"{{"txs":[{}"", this is not JSON"#, "\"\",".repeat(max));
    let (code, answer) = node.call("POST", "/v1/txs", &json, body.as_bytes());
    assert_eq!((code, answer["error"].as_str()), (400, Some("bad_batch")), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains(&format!("more than {max}")), "{answer}");
    // the first bad transaction stops it too, named by its index
    let (code, answer) = node.call("POST", "/v1/txs", &json, br#"{"txs":["00","00","00","zz", garbage"#);
    assert_eq!((code, answer["error"].as_str()), (400, Some("bad_hex")), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("txs[3]"), "{answer}");
    // ten million empty strings (30 MB): refused, and the node still answers
    let huge = format!(r#"{{"txs":[{}""]}}"#, "\"\",".repeat(10_000_000 - 1));
    let (code, answer) = node.call("POST", "/v1/txs", &json, huge.as_bytes());
    assert_eq!((code, answer["error"].as_str()), (400, Some("bad_batch")), "{answer}");
    assert_eq!(node.get("/v1/status").0, 200);
    // shapes serde would refuse: still bad_json, quoting the shape
    for bad in [&br#"{"txs":["00"],"txs":["00"]}"#[..], br#"{"tx":["00"]}"#, br#"{"txs":[1]}"#, b"[]"] {
        let (code, answer) = node.call("POST", "/v1/txs", &json, bad);
        assert_eq!((code, answer["error"].as_str()), (400, Some("bad_json")), "{answer}");
    }
}

/// A signed transaction carries digits, not text, so it can name a number shorter than a typed
/// number may be; the ledger refuses it by its range's lengths (7 to 15 digits here), so no
/// such number is ever bound.
#[test]
fn a_number_of_six_digits_is_not_bound() {
    let node = Node::start(Some(TOKEN));
    let short = E164::from_value(493_010).unwrap();
    assert!(E164::parse(&short.to_string(), None).is_err(), "too short to type");
    let bind = TxBody::Bind { number: short, subscriber: Some(subscriber().public_key()) };
    let (code, answer) = node.submit(&opa(), 1, bind);
    assert_eq!(code, 422, "{answer}");
    assert!(answer.to_string().contains("number-length"), "{answer}");
}

/// A number whose digit count is not one of its range's lengths is not found, with the reason:
/// the number, its digit count and the range's lengths.
#[test]
fn a_number_of_the_wrong_length_for_its_range_is_not_found() {
    let node = Node::start(None);
    let assign = TxBody::AssignRangeWithLengths {
        prefix: "+49303".parse().unwrap(),
        holder: "OPB".parse().unwrap(),
        lengths: "12".parse().unwrap(),
    };
    let (code, body) = node.submit(&key("regulator"), 1, assign);
    assert_eq!(code, 202, "{body}");
    let block = node.commit();
    assert!(block.txs.iter().all(|t| t.outcome == "applied"), "{:?}", block.txs);
    let (code, route) = node.get("/v1/numbers/+493031234567");
    assert_eq!((code, route["serving"].as_str()), (200, Some("OPB")), "{route}");
    let got = node.get("/v1/numbers/+4930312345678");
    let message = got.1["message"].clone();
    assert_error(got, 404, "number_length");
    assert_eq!(
        message,
        "+4930312345678 has 13 digits, but the numbers of its range +49303 have 12 (country code included): it \
         is not a number",
    );
    assert_error(node.get("/v1/numbers/+49303123456"), 404, "number_length");
    let (_, ranges) = node.get("/v1/ranges");
    let range = ranges["ranges"].as_array().unwrap().iter().find(|r| r["prefix"] == "+49303").cloned();
    assert_eq!(range, Some(serde_json::json!({ "prefix": "+49303", "holder": "OPB", "lengths": "12" })));
}

#[test]
fn the_governance_reads_follow_the_regulator_at_one_height() {
    let node = Node::start(None);
    let hex = |k: &PrivateKey| commonware_formatting::hex(k.public_key().as_ref());
    let (code, ops) = node.get("/v1/operators");
    assert_eq!(code, 200, "{ops}");
    assert_eq!(
        (ops["height"].as_u64(), ops["regulator"].as_str()),
        (Some(0), Some(hex(&key("regulator")).as_str()))
    );
    assert_eq!(
        ops["operators"][0],
        serde_json::json!({
            "id": "OPA",
            "name": "Operator OPA",
            "operator_key": hex(&opa()),
            "validator_key": hex(&key("OPA/validator")),
            "routing_number": "+49D001",
            "active": true,
        })
    );
    let (code, ranges) = node.get("/v1/ranges");
    assert_eq!(code, 200, "{ranges}");
    assert_eq!(
        ranges,
        serde_json::json!({ "height": 0, "ranges": [
            { "prefix": "+49150", "holder": "OPA", "lengths": "7-15" },
            { "prefix": "+49301", "holder": "OPA", "lengths": "7-15" },
            { "prefix": "+49302", "holder": "OPB", "lengths": "7-15" },
        ]})
    );
    let (code, policy) = node.get("/v1/policy");
    assert_eq!(code, 200, "{policy}");
    assert_eq!(policy["height"], 0);
    assert_eq!(policy["policy"]["donor_answer_secs"], 3600);
    assert_eq!(policy["policy"]["on_donor_silence"], "deemed-release");

    // someone else's governance transaction is refused with the ledger's code, and changes nothing
    let withdraw = || TxBody::WithdrawRange { prefix: "+49150".parse().unwrap() };
    assert_error(node.submit(&opa(), 1, withdraw()), 422, "not-regulator");
    let (code, refused) =
        node.submit(&key("regulator"), 2, TxBody::WithdrawRange { prefix: "+4915".parse().unwrap() });
    assert_eq!((code, refused["error"].as_str()), (422, Some("range-not-assigned")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("+4915"), "{refused}");

    // the regulator's: all three answers move to the block's height together
    let mut p = Policy { donor_answer_secs: 3600, ..Policy::default() };
    p.set("donor_answer_secs", "2h").unwrap();
    for (nonce, body) in [
        (3, withdraw()),
        (4, TxBody::SetPolicy(p)),
        // an operator without a validator (the quorum rules refuse any change to this
        // two-validator set)
        (
            5,
            TxBody::AdmitOperator {
                id: "OPZ".parse().unwrap(),
                name: "Operator Z".into(),
                operator_key: key("OPZ").public_key(),
                validator_key: None,
                routing_number: "+49D0FF".parse().unwrap(),
            },
        ),
    ] {
        let (code, body) = node.submit(&key("regulator"), nonce, body);
        assert_eq!(code, 202, "{body}");
    }
    let block = node.commit();
    assert!(block.txs.iter().all(|t| t.outcome == "applied"), "{:?}", block.txs);
    let (_, ops) = node.get("/v1/operators");
    let (_, ranges) = node.get("/v1/ranges");
    let (_, policy) = node.get("/v1/policy");
    for answer in [&ops, &ranges, &policy] {
        assert_eq!(answer["height"], 1, "{answer}");
    }
    assert_eq!(ops["operators"][2]["id"], "OPZ", "{ops}");
    assert_eq!(ops["operators"][2]["validator_key"], serde_json::Value::Null, "{ops}");
    assert_eq!(ranges["ranges"].as_array().unwrap().len(), 2, "{ranges}");
    assert_eq!(ranges["ranges"][0]["prefix"], "+49301", "{ranges}");
    assert_eq!(policy["policy"]["donor_answer_secs"], 7200, "{policy}");
    assert_error(node.get("/v1/numbers/+49150123456"), 404, "unknown_number");
    assert!(
        block.events.contains(&EventInfo::RangeWithdrawn { prefix: "+49150".into(), holder: "OPA".into() })
    );
    // the reads take no body and no other method
    let r = raw(node.addr, b"POST /v1/policy HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    r.assert_error(405, "method_not_allowed");
}

#[test]
fn the_recipient_node_carries_a_consent_once_and_refuses_one_it_cannot_carry() {
    use commonware_cryptography::{Hasher, Sha256};
    use npchain_api::consent::Consent;
    let node = Node::start(Some(TOKEN));
    let number: E164 = "+4930200001".parse().unwrap();
    let alice = key("alice");
    let (code, body) = node.submit(&opb(), 1, TxBody::Bind { number, subscriber: Some(alice.public_key()) });
    assert_eq!(code, 202, "{body}");
    node.commit();
    // alice, served by OPB, consents to a port to OPA (this node)
    let request = |nonce, recipient: &str| PortRequest {
        numbers: vec![number],
        donor: "OPB".parse().unwrap(),
        recipient: recipient.parse().unwrap(),
        due: Timestamp(0),
        nonce,
    };
    let later = Timestamp(wall_ms() + 600_000);
    let carry = |c: &Consent| node.act("/v1/operator/ports", &carry_body(c));
    let other_chain =
        Consent::sign(ChainId(Sha256::hash(&[b"elsewhere".as_slice()])), request(1, "OPA"), &alice, later);
    assert_error(carry(&other_chain), 422, "consent_other_chain");
    let mut extended = Consent::sign(node.id(), request(2, "OPA"), &alice, later);
    extended.expires_at = Timestamp(later.0 + 86_400_000);
    assert_error(carry(&extended), 422, "consent_forged");
    let to_opb = Consent::sign(node.id(), request(3, "OPB"), &alice, later);
    let (code, refused) = carry(&to_opb);
    assert_error((code, refused.clone()), 422, "consent_other_recipient");
    assert_eq!(refused["message"], "the consent names recipient OPB; this node's operator is OPA");
    let expired = Consent::sign(node.id(), request(4, "OPA"), &alice, Timestamp(wall_ms() - 1));
    assert_error(carry(&expired), 422, "consent_expired");
    let (code, refused) = node.act("/v1/operator/ports", r#"{"consent":"npconsent1:01zz"}"#);
    assert_error((code, refused.clone()), 400, "bad_consent");
    assert_eq!(refused["message"], "the consent's character 14 ('z') is not a hex digit");
    assert_error(node.act("/v1/operator/ports", r#"{"text":"npconsent1:"}"#), 400, "bad_json");
    let unauthorized = node.call("POST", "/v1/operator/ports", &[], carry_body(&to_opb).as_bytes());
    assert_error(unauthorized, 401, "missing_token");
    // none of these signed or pooled anything
    node.commit();
    let (_, route) = node.get("/v1/numbers/%2B4930200001");
    assert!(route["open_port"].is_null(), "{route}");

    let consent = Consent::sign(node.id(), request(5, "OPA"), &alice, later);
    let (code, body) = carry(&consent);
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["port"], consent.port_id().to_string());
    node.commit();
    let (_, order) = node.get(&format!("/v1/ports/{}", consent.port_id()));
    assert_eq!(
        (order["state"].as_str(), order["initiator"].as_str(), order["donor"].as_str()),
        (Some("requested"), Some("recipient"), Some("OPB")),
        "{order}"
    );
    // a replay of the same consent: the ledger's own refusal, before the pool
    assert_error(carry(&consent), 422, "duplicate-port");
}

fn carry_body(consent: &npchain_api::consent::Consent) -> String {
    serde_json::json!({ "consent": consent.to_text() }).to_string()
}
