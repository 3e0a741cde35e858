//! A small blocking client of the node's HTTP API, with failover: a request that cannot reach
//! one node is sent to the next configured one. An answer from a node (even an error) is final.

use npchain_api::json::{BatchResult, PortInfo, RouteInfo, Status, TxResult, TxStatus};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A transaction the ledger's rules refused: caught by a node's check on the committed state
/// before it was pooled (`height` none), or in the block at `height`. It reads the same
/// wherever it was caught: `refused <code>: <message>`, or `refused <code> at height <h>:
/// <message>`; the code is the ledger's stable one (`wrong-operator`, `not-bound`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("refused {code}{}: {message}", height.map(|h| format!(" at height {h}")).unwrap_or_default())]
pub struct Refusal {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

impl Refusal {
    /// The refusal of a transaction committed at `height`; `None` if it was applied.
    pub fn in_block(height: u64, result: &TxResult) -> Option<Self> {
        (result.outcome != "applied").then(|| Self {
            code: result.code.clone().unwrap_or_else(|| result.outcome.clone()),
            message: result.reason.clone().unwrap_or_default(),
            height: Some(height),
        })
    }

    /// The refusal of one transaction of a `POST /v1/txs`; `None` if it was accepted.
    pub fn in_batch(result: &BatchResult) -> Option<Self> {
        result.error.as_ref().map(|code| Self {
            code: code.clone(),
            message: result.message.clone().unwrap_or_default(),
            height: None,
        })
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Every node was tried; each with why it could not be reached.
    #[error("no node answered: {}", tried.iter().map(|(n, e)| format!("{n} ({e})")).collect::<Vec<_>>().join("; "))]
    Unreachable { tried: Vec<(String, ureq::Error)> },
    /// The node checked the transaction on its committed state and the ledger refused it
    /// (422), or it was committed and refused in its block.
    #[error(transparent)]
    Refused(Refusal),
    #[error("{node} answered {status} {code}: {message}")]
    Api { node: String, status: u16, code: String, message: String },
    #[error("{node} answered something unexpected: {source}")]
    Decode {
        node: String,
        #[source]
        source: Unexpected,
    },
    #[error("transaction {id} was not committed within {waited:?}")]
    Timeout { id: String, waited: Duration },
}

/// What was unexpected in a node's answer.
#[derive(Debug, thiserror::Error)]
pub enum Unexpected {
    /// The body could not be read as JSON.
    #[error(transparent)]
    Body(ureq::Error),
    /// The JSON is not the document asked for.
    #[error(transparent)]
    Shape(serde_json::Error),
    #[error("no transaction id")]
    NoTxId,
    /// A field of a finality proof is missing or not hex.
    #[error("no {0} in the proof")]
    NoProofField(&'static str),
}

/// A client of one or more nodes.
#[derive(Debug, Clone)]
pub struct Client {
    nodes: Vec<String>,
    token: Option<String>,
    agent: ureq::Agent,
}

/// What [`encode`] leaves as it is: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a path segment or query value, so the node receives exactly the text given
/// (a number's `+`, spaces and any stray character included; nothing is rewritten).
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

impl Client {
    /// A client of `nodes` (base URLs such as `http://127.0.0.1:8400`), tried in order.
    pub fn new(nodes: Vec<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build();
        let nodes = nodes.into_iter().map(|n| n.trim_end_matches('/').to_owned()).collect();
        Self { nodes, token: None, agent: config.into() }
    }

    /// Sends the admin token with operator actions.
    pub fn with_token(mut self, token: String) -> Self {
        self.token = Some(token);
        self
    }

    /// GET `path`, or POST `body` as JSON to it.
    fn request<T: DeserializeOwned>(&self, path: &str, body: Option<&Value>) -> Result<T, ClientError> {
        let mut tried = Vec::new();
        for node in &self.nodes {
            let url = format!("{node}{path}");
            let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
            let result = match body {
                None => self.agent.get(&url).call(),
                Some(b) => {
                    let mut req = self.agent.post(&url);
                    if let Some(a) = &auth {
                        req = req.header("Authorization", a);
                    }
                    req.send_json(b)
                }
            };
            let mut response = match result {
                Ok(r) => r,
                Err(e) => {
                    tried.push((node.clone(), e));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let value: Value = response
                .body_mut()
                .read_json()
                .map_err(|e| ClientError::Decode { node: node.clone(), source: Unexpected::Body(e) })?;
            if !(200..300).contains(&status) {
                let field = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                if status == 422 {
                    return Err(ClientError::Refused(Refusal {
                        code: field("error"),
                        message: field("message"),
                        height: None,
                    }));
                }
                return Err(ClientError::Api {
                    node: node.clone(),
                    status,
                    code: field("error"),
                    message: field("message"),
                });
            }
            return serde_json::from_value(value)
                .map_err(|e| ClientError::Decode { node: node.clone(), source: Unexpected::Shape(e) });
        }
        Err(ClientError::Unreachable { tried })
    }

    /// An unexpected answer of one of this client's nodes (which one is not kept past
    /// [`Self::request`]).
    fn unexpected(&self, source: Unexpected) -> ClientError {
        ClientError::Decode { node: self.nodes.join(","), source }
    }

    /// The nodes this client asks, in order.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    pub fn block(&self, height: u64) -> Result<npchain_api::json::BlockInfo, ClientError> {
        self.request(&format!("/v1/blocks/{height}"), None)
    }

    pub fn status(&self) -> Result<Status, ClientError> {
        self.request("/v1/status", None)
    }

    pub fn route(&self, number: &str) -> Result<RouteInfo, ClientError> {
        self.request(&format!("/v1/numbers/{}", encode(number)), None)
    }

    /// Every admitted operator and the regulator's key (`GET /v1/operators`).
    pub fn operators(&self) -> Result<npchain_api::json::OperatorList, ClientError> {
        self.request("/v1/operators", None)
    }

    /// The assigned ranges (`GET /v1/ranges`).
    pub fn ranges(&self) -> Result<npchain_api::json::RangeList, ClientError> {
        self.request("/v1/ranges", None)
    }

    /// The policy in force (`GET /v1/policy`).
    pub fn policy(&self) -> Result<npchain_api::json::PolicyInfo, ClientError> {
        self.request("/v1/policy", None)
    }

    /// The numbers bound to the subscriber key (hex) now, with their routes.
    pub fn bound_numbers(&self, key: &str) -> Result<Vec<RouteInfo>, ClientError> {
        let answer: Value = self.request(&format!("/v1/keys/{}/numbers", encode(key)), None)?;
        serde_json::from_value(answer.get("numbers").cloned().unwrap_or_default())
            .map_err(|e| self.unexpected(Unexpected::Shape(e)))
    }

    pub fn port(&self, id: &str) -> Result<PortInfo, ClientError> {
        self.request(&format!("/v1/ports/{}", encode(id)), None)
    }

    pub fn tx(&self, id: &str) -> Result<TxStatus, ClientError> {
        self.request(&format!("/v1/tx/{}", encode(id)), None)
    }

    /// `GET /v1/ports` with the given filters (name, value).
    pub fn ports(&self, filters: &[(&str, &str)]) -> Result<npchain_api::json::PortList, ClientError> {
        let query: Vec<String> = filters.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        self.request(&format!("/v1/ports?{}", query.join("&")), None)
    }

    /// Porting statistics (`GET /v1/stats`): `filters` are `from`, `to`, `period`, `operator`.
    pub fn stats(&self, filters: &[(&str, &str)]) -> Result<npchain_api::json::Stats, ClientError> {
        let query: Vec<String> = filters.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        self.request(&format!("/v1/stats?{}", query.join("&")), None)
    }

    /// An operator action (`/v1/operator/...`); returns the transaction id.
    pub fn act(&self, path: &str, body: Option<&Value>) -> Result<String, ClientError> {
        let answer: Value =
            self.request(&format!("/v1/operator/{path}"), Some(body.unwrap_or(&Value::Null)))?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.unexpected(Unexpected::NoTxId))
    }

    /// Submits a signed transaction; its id. With `precheck` the node first tries it on the
    /// committed state and refuses it there if the ledger would; without, only its block can.
    pub fn submit(&self, tx: &[u8], precheck: bool) -> Result<String, ClientError> {
        let answer: Value = self.request(
            &format!("/v1/tx?precheck={precheck}"),
            Some(&serde_json::json!({ "tx": commonware_formatting::hex(tx) })),
        )?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.unexpected(Unexpected::NoTxId))
    }

    /// Submits many signed transactions in one request (`POST /v1/txs`): one result each.
    pub fn submit_batch(
        &self,
        txs: &[&[u8]],
        precheck: bool,
    ) -> Result<npchain_api::json::BatchResults, ClientError> {
        let hex: Vec<String> = txs.iter().map(|t| commonware_formatting::hex(t)).collect();
        self.request(&format!("/v1/txs?precheck={precheck}"), Some(&serde_json::json!({ "txs": hex })))
    }

    /// The block at `height` and its finalization certificate, as the node serves them
    /// (unchecked: see `npchain_api::ProofChecker`).
    pub fn finality(&self, height: u64) -> Result<npchain_api::json::FinalityProof, ClientError> {
        let answer: Value = self.request(&format!("/v1/blocks/{height}/finalization"), None)?;
        let field = |k: &'static str| {
            answer
                .get(k)
                .and_then(Value::as_str)
                .and_then(commonware_formatting::from_hex)
                .ok_or_else(|| self.unexpected(Unexpected::NoProofField(k)))
        };
        Ok(npchain_api::json::FinalityProof { block: field("block")?, certificate: field("finalization")? })
    }

    /// Opens the event stream (`GET /v1/events`, server-sent events) of the node at `index` in
    /// this client's list, from `from_height` or after `last_event_id` (`<height>:<index>`,
    /// sent as `Last-Event-ID`), unfiltered. A read that waits longer than `stall` fails (the
    /// node sends a keep-alive comment every 15 s), so a connection that died without a word is
    /// noticed by then. No failover here: the caller chooses the next node.
    pub fn open_events(
        &self,
        index: usize,
        from_height: u64,
        last_event_id: Option<&str>,
        stall: Duration,
    ) -> Result<ureq::BodyReader<'static>, ClientError> {
        let node = &self.nodes[index % self.nodes.len().max(1)];
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_recv_response(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(stall))
            .build()
            .into();
        let mut request = agent.get(format!("{node}/v1/events?from_height={from_height}"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let mut response =
            request.call().map_err(|e| ClientError::Unreachable { tried: vec![(node.clone(), e)] })?;
        let status = response.status().as_u16();
        if status != 200 {
            // an error answer is a small JSON document; read no more than 64 KiB of it
            let value: Value = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_json()
                .map_err(|e| ClientError::Decode { node: node.clone(), source: Unexpected::Body(e) })?;
            let field = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            return Err(ClientError::Api {
                node: node.clone(),
                status,
                code: field("error"),
                message: field("message"),
            });
        }
        Ok(response.into_body().into_reader())
    }

    /// Polls until the transaction is in a finalized block: its height if the ledger applied
    /// it, [`ClientError::Refused`] (with the height) if the ledger refused it there.
    pub fn wait_applied(&self, id: &str, timeout: Duration) -> Result<u64, ClientError> {
        let started = Instant::now();
        loop {
            match self.tx(id) {
                Ok(TxStatus::Committed { height, result, .. }) => {
                    return match Refusal::in_block(height, &result) {
                        None => Ok(height),
                        Some(refusal) => Err(ClientError::Refused(refusal)),
                    };
                }
                Ok(TxStatus::Pending) => {}
                // not yet seen by the node asked (it may have gone to a peer first)
                Err(ClientError::Api { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
            if started.elapsed() > timeout {
                return Err(ClientError::Timeout { id: id.to_owned(), waited: timeout });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_a_url_would_misread() {
        assert_eq!(encode("+4930 1"), "%2B4930%201");
        assert_eq!(encode("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(encode("+49\u{200b}/1?#%"), "%2B49%E2%80%8B%2F1%3F%23%25");
    }

    #[test]
    fn an_unreachable_node_is_skipped_and_named() {
        // port 1 on loopback: nothing listens there
        let client = Client::new(vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:1/".into()]);
        match client.status() {
            Err(ClientError::Unreachable { tried }) => assert_eq!(tried.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refusal_reads_the_same_from_the_precheck_and_from_a_block() {
        let message = "OPB signed, but only the donor OPA may do this";
        let result = TxResult {
            id: "ab".into(),
            outcome: "rejected".into(),
            code: Some("wrong-operator".into()),
            reason: Some(message.into()),
        };
        let in_block = Refusal::in_block(12, &result).unwrap();
        assert_eq!(in_block.to_string(), format!("refused wrong-operator at height 12: {message}"));
        let batch =
            BatchResult { id: None, error: Some("wrong-operator".into()), message: Some(message.into()) };
        let precheck = Refusal::in_batch(&batch).unwrap();
        assert_eq!(precheck.to_string(), format!("refused wrong-operator: {message}"));
        assert_eq!(ClientError::Refused(precheck).to_string(), format!("refused wrong-operator: {message}"));
        let applied = TxResult { outcome: "applied".into(), code: None, reason: None, ..result };
        assert_eq!(Refusal::in_block(12, &applied), None);
        assert_eq!(
            Refusal::in_batch(&BatchResult { id: Some("ab".into()), error: None, message: None }),
            None
        );
    }
}
