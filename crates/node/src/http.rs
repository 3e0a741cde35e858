//! The node's HTTP API (axum): routing queries, orders, transactions, blocks, the event stream,
//! the operator's own actions (behind the admin token), metrics, and the OpenAPI document.
//!
//! Every refusal is JSON `{"error": "<code>", "message": "<what and why>"}` with a precise status.

use crate::api::{ActionError, EventEnvelope, EventInfo, NodeApi, OperatorAction, PortQuery, SubmitError};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{
        HeaderMap, StatusCode,
        header::{AUTHORIZATION, CONTENT_TYPE},
    },
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::Stream;
use npchain_core::{
    E164, RejectReason,
    types::{PortId, PublicKey, TxId, parse_public_key},
};
use serde::Deserialize;
use serde_json::json;
use std::{collections::VecDeque, future::Future, sync::Arc};

/// The largest request body accepted (a transaction is at most 128 KiB; hex doubles it).
pub const MAX_BODY_BYTES: usize = 300 * 1024;
/// The OpenAPI 3.1 document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");
/// Orders per page of `GET /v1/ports` unless `limit` says otherwise.
const DEFAULT_PORT_PAGE: usize = 100;

type Api = Arc<dyn NodeApi>;

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": code, "message": message.into() }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

/// The API's routes over a running node.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/openapi.json", get(|| async { ([(CONTENT_TYPE, "application/json")], OPENAPI) }))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/numbers/{number}", get(number))
        .route("/v1/numbers/{number}/history", get(history))
        .route("/v1/tx", post(submit))
        .route("/v1/tx/{id}", get(tx))
        .route("/v1/ports", get(ports))
        .route("/v1/ports/{id}", get(port))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/blocks/{height}/finalization", get(finalization))
        .route("/v1/events", get(events))
        .route("/v1/operator/ports/{id}/{action}", post(port_action))
        .route("/v1/operator/numbers/{number}/{action}", post(number_action))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Api,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(api)).with_graceful_shutdown(shutdown).await
}

async fn metrics(State(api): State<Api>) -> Response {
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], api.metrics().render())
        .into_response()
}

async fn status(State(api): State<Api>) -> Response {
    Json(api.status()).into_response()
}

/// A number from a path: `+4930123`, or the same digits without the `+`.
fn parse_number(raw: &str) -> Result<E164, Response> {
    let text = if raw.starts_with(|c: char| c.is_ascii_digit()) { format!("+{raw}") } else { raw.to_owned() };
    E164::parse(&text, None).map_err(|e| error(StatusCode::BAD_REQUEST, "bad_number", e.to_string()))
}

fn parse_port(raw: &str) -> Result<PortId, Response> {
    raw.parse().map_err(|_| {
        error(StatusCode::BAD_REQUEST, "bad_port_id", format!("{raw:?} is not a port id (64 hex digits)"))
    })
}

async fn number(State(api): State<Api>, Path(raw): Path<String>) -> Response {
    let number = match parse_number(&raw) {
        Ok(n) => n,
        Err(response) => {
            api.metrics().query("http", "bad_request");
            return response;
        }
    };
    match api.route(number) {
        Ok(Some(route)) => {
            api.metrics().query("http", if route.ported { "ported" } else { "not_ported" });
            Json(route).into_response()
        }
        Ok(None) => {
            api.metrics().query("http", "unknown");
            error(
                StatusCode::NOT_FOUND,
                "unknown_number",
                format!("{number} is in no assigned number range: no operator serves it"),
            )
        }
        Err(e) => {
            api.metrics().query("http", "error");
            internal(e)
        }
    }
}

async fn history(State(api): State<Api>, Path(raw): Path<String>) -> Response {
    let number = match parse_number(&raw) {
        Ok(n) => n,
        Err(response) => return response,
    };
    match api.history(number) {
        Ok(h) => Json(h).into_response(),
        Err(e) => internal(e),
    }
}

fn parse_height(raw: &str) -> Result<u64, Response> {
    raw.parse::<u64>()
        .map_err(|_| error(StatusCode::BAD_REQUEST, "bad_height", format!("{raw:?} is not a block height")))
}

async fn block(State(api): State<Api>, Path(raw): Path<String>) -> Response {
    let height = match parse_height(&raw) {
        Ok(h) => h,
        Err(response) => return response,
    };
    match api.block(height) {
        Ok(Some(info)) => Json(info).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_block",
            format!("this node holds no finalized block {height}"),
        ),
        Err(e) => internal(e),
    }
}

async fn finalization(State(api): State<Api>, Path(raw): Path<String>) -> Response {
    let height = match parse_height(&raw) {
        Ok(h) => h,
        Err(response) => return response,
    };
    // Marshal's archive read blocks this task briefly; keep it off the async workers.
    let answer = tokio::task::spawn_blocking(move || api.finalization(height)).await;
    match answer {
        Ok(Some(bytes)) => {
            Json(json!({ "height": height, "finalization": commonware_formatting::hex(&bytes) }))
                .into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_finalization",
            format!("this node holds no finalization for block {height}"),
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HexTx {
    tx: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitParams {
    /// Try the transaction on the committed state first (default true).
    precheck: Option<bool>,
}

fn submit_error(e: &SubmitError) -> Response {
    let status = match e {
        SubmitError::Malformed(_) | SubmitError::Invalid(_) => StatusCode::BAD_REQUEST,
        SubmitError::Refused { .. } | SubmitError::Expired { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        SubmitError::Duplicate(_) | SubmitError::Committed(_) => StatusCode::CONFLICT,
        SubmitError::Full(_) | SubmitError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.code(), e.to_string())
}

async fn submit(
    State(api): State<Api>,
    params: Result<Query<SubmitParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let precheck = match params {
        Ok(Query(p)) => p.precheck.unwrap_or(true),
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = if json {
        let parsed: HexTx = match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_json",
                    format!("expected {{\"tx\": \"<hex>\"}}: {e}"),
                );
            }
        };
        match commonware_formatting::from_hex(parsed.tx.trim()) {
            Some(b) => b,
            None => return error(StatusCode::BAD_REQUEST, "bad_hex", "tx is not hex"),
        }
    } else {
        body.to_vec()
    };
    match api.submit(&bytes, precheck) {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({ "id": id.to_string() }))).into_response(),
        Err(e) => submit_error(&e),
    }
}

async fn tx(State(api): State<Api>, Path(raw): Path<String>) -> Response {
    let Ok(id) = raw.parse::<TxId>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_tx_id",
            format!("{raw:?} is not a transaction id (64 hex digits)"),
        );
    };
    match api.tx(&id) {
        Ok(Some(status)) => Json(status).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_tx",
            format!("transaction {id} is neither pending on this node nor in a finalized block"),
        ),
        Err(e) => internal(e),
    }
}

async fn port(State(api): State<Api>, Path(raw): Path<String>) -> Response {
    let id = match parse_port(&raw) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match api.port(&id) {
        Ok(Some(info)) => Json(info).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown_port", format!("no port order {id}")),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortParams {
    operator: Option<String>,
    state: Option<String>,
    number: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn ports(
    State(api): State<Api>,
    params: Result<Query<PortParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = match params {
        Ok(Query(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    if let Some(state) = &p.state
        && !crate::service::known_state(state)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_state",
            format!("state {state:?} is not one of open, {}", crate::api::STEP_NAMES.join(", ")),
        );
    }
    let number = match p.number.as_deref().map(parse_number).transpose() {
        Ok(n) => n,
        Err(response) => return response,
    };
    let after = match p.after.as_deref().map(parse_port).transpose() {
        Ok(a) => a,
        Err(response) => return response,
    };
    let limit = p.limit.unwrap_or(DEFAULT_PORT_PAGE);
    if limit == 0 || limit > crate::service::MAX_PORT_PAGE {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_limit",
            format!("limit must be 1 to {}", crate::service::MAX_PORT_PAGE),
        );
    }
    let query = PortQuery { operator: p.operator, state: p.state, number, after, limit };
    match api.ports(&query) {
        Ok(list) => Json(list).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventParams {
    operator: Option<String>,
    number: Option<String>,
    /// First height to send events of (default: the next block).
    from_height: Option<u64>,
}

/// Where an event stream stands: the next block to read, and events read but not yet sent.
struct Feed {
    api: Api,
    committed: tokio::sync::watch::Receiver<u64>,
    next: u64,
    /// Events of the first block at or below this index were already sent (`Last-Event-ID`).
    skip_through: Option<(u64, usize)>,
    operator: Option<String>,
    number: Option<String>,
    queue: VecDeque<EventEnvelope>,
    done: bool,
}

impl Feed {
    fn wanted(&self, height: u64, index: usize, e: &EventInfo) -> bool {
        self.skip_through.is_none_or(|(h, i)| height != h || index > i)
            && self.operator.as_deref().is_none_or(|op| e.involves_operator(op))
            && self.number.as_deref().is_none_or(|n| e.involves_number(n))
    }

    /// The next event to send, waiting for commits as needed; `None` ends the stream.
    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                let kind = serde_json::to_value(&e.event).ok()?.get("type")?.as_str()?.to_owned();
                let id = format!("{}:{}", e.height, e.index);
                return SseEvent::default().id(id).event(kind).json_data(&e).ok();
            }
            if self.done {
                return None;
            }
            let committed = *self.committed.borrow_and_update();
            if self.next > committed {
                if self.committed.changed().await.is_err() {
                    return None; // the node is stopping
                }
                continue;
            }
            let height = self.next;
            self.next += 1;
            match self.api.block(height) {
                Ok(Some(block)) => {
                    for (index, event) in block.events.into_iter().enumerate() {
                        if self.wanted(height, index, &event) {
                            let block_time_ms = block.block_time_ms;
                            self.queue.push_back(EventEnvelope { height, block_time_ms, index, event });
                        }
                    }
                }
                other => {
                    // A block this node applied but cannot read: say so and end the stream,
                    // rather than skip events silently.
                    self.done = true;
                    let message = match other {
                        Err(e) => e.to_string(),
                        _ => format!("this node holds no block {height}"),
                    };
                    return Some(
                        SseEvent::default()
                            .event("error")
                            .json_data(json!({"error": "unreadable_block", "message": message}))
                            .ok()?,
                    );
                }
            }
        }
    }
}

async fn events(
    State(api): State<Api>,
    params: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let p = match params {
        Ok(Query(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", e.body_text()),
    };
    let number = match p.number.as_deref().map(parse_number).transpose() {
        Ok(n) => n.map(|n| n.to_string()),
        Err(response) => return response,
    };
    let resume = match headers.get("last-event-id").map(|v| v.to_str().map(parse_event_id)) {
        None => None,
        Some(Ok(Some(id))) => Some(id),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_last_event_id",
                "Last-Event-ID must be <height>:<index>",
            );
        }
    };
    let committed = api.committed();
    let next = match (resume, p.from_height) {
        (Some((height, _)), _) => height,
        (None, Some(h)) => h.max(1),
        (None, None) => *committed.borrow() + 1,
    };
    let feed = Feed {
        api,
        committed,
        next,
        skip_through: resume,
        operator: p.operator,
        number,
        queue: VecDeque::new(),
        done: false,
    };
    Sse::new(feed_stream(feed)).keep_alive(KeepAlive::default()).into_response()
}

fn feed_stream(feed: Feed) -> impl Stream<Item = Result<SseEvent, std::convert::Infallible>> {
    futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next_event().await?;
        Some((Ok(event), feed))
    })
}

fn parse_event_id(raw: &str) -> Option<(u64, usize)> {
    let (h, i) = raw.trim().split_once(':')?;
    Some((h.parse().ok()?, i.parse().ok()?))
}

/// Operator actions need `Authorization: Bearer <admin token>`.
fn authorize(api: &Api, headers: &HeaderMap) -> Result<(), Response> {
    if !api.admin_enabled() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "operator actions are disabled on this node: no admin token is configured",
        ));
    }
    let token =
        headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match token {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "operator actions need the header Authorization: Bearer <admin token>",
        )),
        Some(t) if api.admin_token_matches(t.trim()) => Ok(()),
        Some(_) => Err(error(StatusCode::FORBIDDEN, "wrong_token", "the admin token is not this node's")),
    }
}

fn acted(api: &Api, action: OperatorAction) -> Response {
    match api.act(action) {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({ "id": id.to_string() }))).into_response(),
        Err(ActionError::NoOperator) => {
            error(StatusCode::CONFLICT, "no_operator", ActionError::NoOperator.to_string())
        }
        Err(ActionError::Submit(e)) => submit_error(&e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BindBody {
    /// The subscriber's public key, hex; null unbinds.
    subscriber: Option<String>,
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_json", format!("expected {shape}: {e}")))
}

async fn port_action(
    State(api): State<Api>,
    Path((raw, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authorize(&api, &headers) {
        return response;
    }
    let port = match parse_port(&raw) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let action = match action.as_str() {
        "release" => OperatorAction::Release { port },
        "activate" => OperatorAction::Activate { port },
        "reject" => {
            let body: RejectBody = match json_body(&body, "{\"reason\": \"<reason>\"}") {
                Ok(b) => b,
                Err(response) => return response,
            };
            match body.reason.parse::<RejectReason>() {
                Ok(reason) => OperatorAction::Reject { port, reason },
                Err(e) => return error(StatusCode::BAD_REQUEST, "bad_reason", e.to_string()),
            }
        }
        other => {
            return error(
                StatusCode::NOT_FOUND,
                "unknown_action",
                format!("no port action {other:?}; use release, reject or activate"),
            );
        }
    };
    acted(&api, action)
}

async fn number_action(
    State(api): State<Api>,
    Path((raw, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authorize(&api, &headers) {
        return response;
    }
    let number = match parse_number(&raw) {
        Ok(n) => n,
        Err(response) => return response,
    };
    let action = match action.as_str() {
        "return" => OperatorAction::Return { number },
        "bind" => {
            let body: BindBody = match json_body(&body, "{\"subscriber\": \"<public key hex>\" | null}") {
                Ok(b) => b,
                Err(response) => return response,
            };
            let subscriber: Option<PublicKey> =
                match body.subscriber.as_deref().map(parse_public_key).transpose() {
                    Ok(k) => k,
                    Err(e) => return error(StatusCode::BAD_REQUEST, "bad_key", e.to_string()),
                };
            OperatorAction::Bind { number, subscriber }
        }
        other => {
            return error(
                StatusCode::NOT_FOUND,
                "unknown_action",
                format!("no number action {other:?}; use bind or return"),
            );
        }
    };
    acted(&api, action)
}
