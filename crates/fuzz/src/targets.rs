//! The targets. Each reads `data` with the decoder the node, wallet or CLI runs and asserts what
//! must hold of any input; see each function.

use crate::fixtures::{self, HTTP_ADMIN_TOKEN, PROOF_BLOCKS_PER_EPOCH, proof_validators};
use bytes::Bytes;
use commonware_codec::{Decode, DecodeExt, Encode, EncodeSize};
use commonware_cryptography::Digestible;
use hickory_proto::op::{Message, MessageType};
use npchain_api::{
    Block, ProofChecker,
    block::MAX_BLOCK_BYTES,
    consent::Consent,
    json::{
        BatchResults, BlockInfo, EventEnvelope, History, OperatorList, PolicyInfo, PortInfo, PortList,
        RangeList, RouteInfo, Status, SubmitBatch, TxResult, TxStatus,
    },
};
use npchain_core::{Genesis, SignedTransaction, read_ported_csv, tx::verify_batch, types::Digest};
use npchain_node::{
    consensus::{Scheme, decode_gossip},
    enum_dns::Transport,
};
use serde::{Serialize, de::DeserializeOwned};
use std::{fmt::Debug, num::NonZeroU64};

/// A signed transaction as `POST /v1/tx`, gossip and blocks carry it
/// ([`SignedTransaction::from_bytes`]). What decodes re-encodes to the same bytes (the codec is
/// canonical), its id read from the bytes is its id, and checking its signatures alone and in a
/// batch gives the same result.
pub fn tx(data: &[u8]) {
    let Ok(signed) = SignedTransaction::from_bytes(data) else { return };
    assert_eq!(signed.encode().as_ref(), data, "a decoded transaction re-encodes to other bytes");
    assert_eq!(signed.encode_size(), data.len());
    assert_eq!(SignedTransaction::id_of_encoded(data), Some(signed.id()));
    let chain = fixtures::chain_id();
    let alone = signed.clone().verify(&chain).map(|v| v.id()).map_err(|e| e.to_string());
    let batch = verify_batch(vec![signed], &chain, &mut rand::rng());
    let batch: Vec<_> = batch.into_iter().map(|r| r.map(|v| v.id()).map_err(|e| e.to_string())).collect();
    assert_eq!(batch, [alone], "a batch of one checks otherwise than the transaction alone");
}

/// A block as consensus and marshal carry it ([`Block`]'s codec). What decodes re-encodes to the
/// same bytes, within [`MAX_BLOCK_BYTES`]; reading its transactions never panics, and each that
/// decodes is canonical.
pub fn block(data: &[u8]) {
    let Ok(block) = Block::decode(Bytes::copy_from_slice(data)) else { return };
    let encoded = block.encode();
    assert_eq!(encoded.as_ref(), data, "a decoded block re-encodes to other bytes");
    assert_eq!(block.encode_size(), data.len());
    assert!(data.len() <= MAX_BLOCK_BYTES, "a block of {} bytes decoded", data.len());
    let _ = block.digest();
    if let Ok(txs) = block.transactions() {
        for (tx, bytes) in txs.iter().zip(&block.txs) {
            assert_eq!(tx.encode().as_ref(), bytes.as_ref());
        }
    }
}

/// A transaction gossip message ([`decode_gossip`]): 1 to 4,096 transactions. What decodes
/// re-encodes to the same bytes; each transaction in it goes through [`tx`].
pub fn gossip(data: &[u8]) {
    let Ok(txs) = decode_gossip(data) else { return };
    assert!(!txs.is_empty());
    assert_eq!(txs.encode().as_ref(), data, "a decoded gossip message re-encodes to other bytes");
    for t in &txs {
        tx(t);
    }
}

/// The block every certificate of the certificate target finalizes (height 1, in epoch 0).
pub fn certified_block() -> Block {
    Block {
        parent: Digest::from([7u8; 32]),
        height: 1,
        time: npchain_testkit::GENESIS_TIME,
        state_hash: Digest::from([9u8; 32]),
        next_validators: Vec::new(),
        txs: Vec::new(),
    }
}

/// The proposal of round (0, `view`) for [`certified_block`], in the engine's encoding.
pub fn certified_proposal(view: u8) -> Vec<u8> {
    let mut proposal = vec![0, view, view.saturating_sub(1)];
    proposal.extend_from_slice(certified_block().digest().as_ref());
    proposal
}

/// A finalization certificate, read by the consensus engine's decoder (`Finalization` of the
/// node's ed25519 scheme, four validators) and by the finality proof checker. A first byte 0
/// takes the rest as a whole `Finalization`; any other byte `v` takes the rest as the
/// certificate (signer bitmap and signatures) of the proposal of round (0, `v`) for one fixed
/// block, so the checker reads the certificate part of most inputs. What the engine decodes
/// re-encodes to the same bytes; what the checker accepts the engine decodes, with the payload
/// the block's digest.
pub fn certificate(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let bytes = if mode == 0 { rest.to_vec() } else { [certified_proposal(mode), rest.to_vec()].concat() };
    let validators = proof_validators();
    type Finalization = commonware_consensus::simplex::types::Finalization<Scheme, Digest>;
    let engine = Finalization::decode_cfg(commonware_codec::Copying(bytes.as_slice()), &validators.len());
    if let Ok(f) = &engine {
        assert_eq!(f.encode().as_ref(), bytes.as_slice(), "a decoded finalization re-encodes to other bytes");
    }
    let block = certified_block();
    let checker = ProofChecker::new(validators.iter().cloned());
    if let Ok(checked) = checker.check(&block.encode(), &bytes) {
        assert_eq!(checked, block);
        let f = engine.expect("the checker accepted a finalization the engine does not decode");
        assert_eq!(f.proposal.payload, block.digest());
    }
}

/// A finality proof as a wallet checks it ([`ProofChecker`], four validators, epochs of
/// [`PROOF_BLOCKS_PER_EPOCH`] blocks): two bytes of block length, the block, then the
/// certificate. An accepted proof's block is exactly the bytes given, and learning from a
/// boundary block teaches exactly the set it names.
pub fn proof(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else { return };
    let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (block_bytes, certificate) = rest.split_at(len);
    let epochs = NonZeroU64::new(PROOF_BLOCKS_PER_EPOCH).expect("non-zero");
    let mut checker = ProofChecker::with_epochs(proof_validators().iter().cloned(), epochs);
    let checked = checker.check(block_bytes, certificate);
    if let Ok(block) = &checked {
        assert_eq!(block.encode().as_ref(), block_bytes, "an accepted proof's block is other bytes");
        assert_eq!(checker.epoch_of(block.height), 0, "a proof of an epoch not learned was accepted");
    }
    match checker.learn(block_bytes, certificate) {
        Ok(epoch) => {
            let block = checked.expect("learned from a block the checker refuses");
            assert_eq!(epoch, 1);
            assert_eq!(checker.known(), 2);
            assert_eq!(checker.validators(1), Some(block.next_validators.as_slice()));
        }
        Err(_) => assert_eq!(checker.known(), 1, "a refused boundary taught a set"),
    }
}

/// A subscriber's consent, as text (`npconsent1:<hex>`, what `POST /v1/operator/ports` and
/// `npchain wallet` read) and as canonical bytes. Text that reads writes back as text that reads
/// to the same consent; bytes that decode re-encode to the same bytes. Checking it never panics.
pub fn consent(data: &[u8]) {
    if let Ok(c) = Consent::from_bytes(data) {
        assert_eq!(c.encode().as_ref(), data, "a decoded consent re-encodes to other bytes");
        let _ = c.check(&fixtures::chain_id(), &npchain_testkit::op("OPA"), npchain_testkit::GENESIS_TIME);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(c) = Consent::from_text(text) {
        let again = Consent::from_text(&c.to_text()).expect("a consent's text reads back");
        assert_eq!(again, c);
        let _ = c.port_id();
    }
}

/// A node key file (`npchain_node::keys::parse_key`: 64 hex characters). A key that reads
/// writes back as text that reads to the same key; a refusal names the file.
pub fn node_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match npchain_node::keys::parse_key("fuzz.key", text) {
        Ok(key) => {
            let written = commonware_formatting::hex(&key.encode());
            let again = npchain_node::keys::parse_key("fuzz.key", &written).expect("a written key reads");
            assert_eq!(again.encode(), key.encode());
        }
        Err(e) => assert!(e.to_string().contains("fuzz.key"), "the refusal {e} does not name the file"),
    }
}

/// A wallet or regulator key file (`npchain_client::wallet::keyfile`: JSON, plain hex or
/// Argon2id + ChaCha20-Poly1305). Read without a passphrase, and with one when the text starts
/// with a blank (each try runs Argon2id, 19 MiB and tens of milliseconds, so the fuzzer takes
/// that path only when it asks). A key that reads writes back as a plain file that reads to the
/// same key.
pub fn wallet_key(data: &[u8]) {
    use npchain_client::wallet::keyfile;
    let Ok(text) = std::str::from_utf8(data) else { return };
    let passphrase = text.starts_with(' ').then_some("fuzz passphrase");
    if let Ok(key) = keyfile::from_text("fuzz.key", text, passphrase) {
        let written = keyfile::to_text(&key, None).expect("a key file is written");
        let again = keyfile::from_text("fuzz.key", &written, None).expect("a written key file reads");
        assert_eq!(again.encode(), key.encode());
    }
}

/// A genesis in TOML ([`Genesis::from_toml`]). What reads writes back as TOML that reads to an
/// equal genesis with the same canonical encoding (the chain id hashes it).
pub fn genesis_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(genesis) = Genesis::from_toml(text) else { return };
    let written = genesis.to_toml();
    let again = Genesis::from_toml(&written)
        .unwrap_or_else(|e| panic!("a genesis written as TOML does not read back ({e}):\n{written}"));
    assert_eq!(again, genesis);
    assert_eq!(again.encode(), genesis.encode());
    assert_eq!(genesis.encode().len(), genesis.encode_size());
}

/// The most migration-list lines the target reads of one input.
const MAX_CSV_LINES: usize = 10_000;

/// A migration list ([`read_ported_csv`], region DE). The entries that read, written back as CSV
/// in canonical form, read back equal.
pub fn migration_csv(data: &[u8]) {
    let region = fixtures::genesis().region;
    let entries: Vec<_> = read_ported_csv(data, region).take(MAX_CSV_LINES).filter_map(Result::ok).collect();
    if entries.is_empty() {
        return;
    }
    let mut text = String::from("number,operator,rn\n");
    for e in &entries {
        let rn = e.routing_number.as_ref().map(|r| r.to_string()).unwrap_or_default();
        text.push_str(&format!("{},{},{rn}\n", e.number, e.operator));
    }
    let again: Result<Vec<_>, _> = read_ported_csv(text.as_bytes(), region).collect();
    let again = again.unwrap_or_else(|e| panic!("a written migration list does not read ({e}):\n{text}"));
    assert_eq!(again, entries);
}

/// Reads `data` as `T`; what reads serialises to JSON that reads to an equal value.
fn json_round_trip<T: DeserializeOwned + Serialize + PartialEq + Debug>(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(data) else { return };
    let text = serde_json::to_vec(&value).expect("a decoded value serialises");
    let again: T = serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "{} re-serialised as {} does not read: {e}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&text)
        )
    });
    assert_eq!(again, value, "{}", String::from_utf8_lossy(&text));
}

/// [`json_round_trip`] for a type without equality: the second serialisation is the first.
fn json_round_trip_text<T: DeserializeOwned + Serialize>(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(data) else { return };
    let text = serde_json::to_string(&value).expect("a decoded value serialises");
    let again: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not read: {e}"));
    assert_eq!(serde_json::to_string(&again).expect("serialises"), text);
}

/// The HTTP API's JSON shapes (`npchain_api::json`), as a client reads a node's answers and a
/// node reads `POST /v1/txs`: the first byte picks the shape, the rest is the JSON. What reads
/// serialises to JSON that reads to an equal value.
pub fn api_json(data: &[u8]) {
    let Some((&shape, json)) = data.split_first() else { return };
    match shape % 14 {
        0 => json_round_trip::<Status>(json),
        1 => json_round_trip::<BlockInfo>(json),
        2 => json_round_trip::<TxResult>(json),
        3 => json_round_trip::<TxStatus>(json),
        4 => json_round_trip::<RouteInfo>(json),
        5 => json_round_trip::<History>(json),
        6 => json_round_trip::<PortInfo>(json),
        7 => json_round_trip::<PortList>(json),
        8 => json_round_trip::<EventEnvelope>(json),
        9 => json_round_trip::<OperatorList>(json),
        10 => json_round_trip::<RangeList>(json),
        11 => json_round_trip::<PolicyInfo>(json),
        12 => json_round_trip_text::<BatchResults>(json),
        _ => json_round_trip_text::<SubmitBatch>(json),
    }
}

/// A port id of the right form, for the operator routes when the input gives none.
const SOME_PORT: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A request into the node's HTTP router (the real handlers over an in-memory chain; the
/// connection layer is the soak helper's probe). The first byte picks the route, the text up to
/// the first newline is its path segment (or the whole path and query), the rest is the body:
///
/// | byte % 8 | request |
/// |---|---|
/// | 0 / 1 | `POST /v1/tx`, JSON / canonical bytes |
/// | 2 | `POST /v1/txs` |
/// | 3 | `POST /v1/operator/ports` (with the admin token) |
/// | 4 | `POST /v1/operator/ports/<segment>/reject` |
/// | 5 | `POST /v1/operator/numbers/<segment>/bind` |
/// | 6 / 7 | `GET` / `POST` of the path given (with the admin token) |
///
/// No request gets a 5xx, and every refusal is JSON `{"error": "<code>", "message": "…"}`.
pub fn http(data: &[u8]) {
    let Some((&route, rest)) = data.split_first() else { return };
    let (head, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else { return };
    let or = |default: &str| if head.is_empty() { default.to_owned() } else { head.to_owned() };
    let (method, path, json, admin) = match route % 8 {
        0 => ("POST", "/v1/tx".to_owned(), true, false),
        1 => ("POST", "/v1/tx".to_owned(), false, false),
        2 => ("POST", "/v1/txs".to_owned(), true, false),
        3 => ("POST", "/v1/operator/ports".to_owned(), true, true),
        4 => ("POST", format!("/v1/operator/ports/{}/reject", or(SOME_PORT)), true, true),
        5 => ("POST", format!("/v1/operator/numbers/{}/bind", or("+4930100001")), true, true),
        6 => ("GET", head.to_owned(), false, false),
        _ => ("POST", head.to_owned(), true, true),
    };
    let Some((status, body)) = http_call(method, &path, json, admin, body) else { return };
    assert!(!status.is_server_error(), "{method} {path} answered {status}");
    if status.is_client_error() {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{method} {path}: {status} with a body that is not JSON ({e})"));
        assert!(
            value["error"].is_string() && value["message"].is_string(),
            "{method} {path}: {status} {value}"
        );
    }
}

/// One request into the fuzzed node's router: its status and body (none of an event stream's,
/// which does not end). `None` when `path` is not an origin-form target (what a request line
/// carries).
pub fn http_call(
    method: &str,
    path: &str,
    json: bool,
    admin: bool,
    body: &[u8],
) -> Option<(axum::http::StatusCode, Bytes)> {
    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    if !path.starts_with('/') {
        return None;
    }
    let uri = path.parse::<axum::http::Uri>().ok()?;
    let mut request = Request::builder().method(method).uri(uri).header("host", "127.0.0.1");
    if json {
        request = request.header("content-type", "application/json");
    }
    if admin {
        request = request.header("authorization", format!("Bearer {HTTP_ADMIN_TOKEN}"));
    }
    let request = request.body(Body::from(body.to_vec())).ok()?;
    let (runtime, router) = fixtures::http();
    runtime.block_on(async {
        let response = router.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        let stream = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body = if stream {
            Bytes::new()
        } else {
            response.into_body().collect().await.expect("a whole body").to_bytes()
        };
        Some((status, body))
    })
}

/// The most a UDP response takes without EDNS (RFC 1035 §4.2.1).
const PLAIN_UDP: usize = 512;

/// A DNS message into the ENUM zone handler ([`npchain_node::enum_dns::Responder`], zone
/// `e164.arpa` over the routes of the fuzz genesis): the first byte picks the transport (bit 0:
/// TCP) and, over UDP, whether the datagram was cut (bit 1); the rest is the request. No response
/// only for what is shorter than a header or is itself a response; any other gets a response
/// that parses, with the request's id and opcode, QR set, at most one question, within 512 bytes
/// over UDP without EDNS, 1,232 with it, 65,535 over TCP.
pub fn dns(data: &[u8]) {
    let Some((&flags, request)) = data.split_first() else { return };
    let transport = if flags & 1 == 0 { Transport::Udp } else { Transport::Tcp };
    let cut = transport == Transport::Udp && flags & 2 != 0;
    let mut out = Vec::new();
    let answered = fixtures::responder().respond_to(request, cut, transport, &mut out);
    let droppable = request.len() < 12 || request[2] & 0x80 != 0;
    if !answered {
        assert!(droppable, "a query got no response: {request:02x?}");
        assert!(out.is_empty());
        return;
    }
    assert!(!droppable, "a response or a short message was answered: {request:02x?}");
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => match Message::from_vec(request) {
            Ok(m) if m.edns.is_some() && !cut => usize::from(npchain_node::enum_dns::ADVERTISED_UDP_SIZE),
            _ => PLAIN_UDP,
        },
    };
    assert!(out.len() <= limit, "a response of {} bytes over {transport:?}; the limit is {limit}", out.len());
    let response = Message::from_vec(&out)
        .unwrap_or_else(|e| panic!("the response does not parse ({e}): {out:02x?} to {request:02x?}"));
    assert_eq!(response.metadata.id, u16::from_be_bytes([request[0], request[1]]));
    assert_eq!(response.metadata.message_type, MessageType::Response);
    assert_eq!(u8::from(response.metadata.op_code), (request[2] >> 3) & 0x0f, "the opcode is not echoed");
    assert!(response.queries.len() <= 1);
}
