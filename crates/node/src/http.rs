//! The node's HTTP API (axum): routing queries, orders, transactions, blocks, the event stream,
//! the operator's own actions (behind the admin token), metrics, and the OpenAPI document.
//!
//! Every refusal is JSON `{"error": "<code>", "message": "<what and why>"}` with a precise status.
//! [`serve`] runs the API on a listener within [`HttpLimits`]: connections, timeouts, body bytes
//! in flight and event streams are capped (`server`, `limits`).

mod batch;
mod limits;
mod server;

pub use limits::MAX_URI_BYTES;
use limits::Shared;
pub use server::{MAX_HEAD_BYTES, REFUSING};

use crate::api::{ActionError, NodeApi, OperatorAction, SubmitError};
use crate::config::HttpLimits;
use axum::{
    Extension, Json, Router,
    extract::{Path, Query, State},
    http::{
        HeaderMap, HeaderValue, StatusCode,
        header::{ALLOW, AUTHORIZATION, CONNECTION, CONTENT_TYPE, RETRY_AFTER},
    },
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::Stream;
use limits::{Payload, Peer, StreamSlot};
use npchain_api::json::{
    BatchResult, BatchResults, EventEnvelope, EventInfo, MAX_BATCH_TXS, PortQuery, STEP_NAMES,
};
use npchain_core::{
    E164, RejectReason,
    types::{PortId, PublicKey, TxId, parse_public_key},
};
use serde::Deserialize;
use serde_json::json;
use std::{collections::VecDeque, future::Future, sync::Arc};

/// The largest request body accepted (a transaction is at most 128 KiB; hex doubles it).
pub const MAX_BODY_BYTES: usize = 300 * 1024;
/// The largest `POST /v1/txs` body: a full batch of port requests with room to spare.
pub const MAX_BATCH_BODY_BYTES: usize = 32 * 1024 * 1024;
/// The OpenAPI 3.1 document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");
/// Orders per page of `GET /v1/ports` unless `limit` says otherwise.
const DEFAULT_PORT_PAGE: usize = 100;

type Api = Arc<dyn NodeApi>;

/// A refusal: its status, stable code and message, sent as JSON.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// `Retry-After`, in seconds, for a refusal at a cap.
    retry_after: Option<u32>,
    /// `Connection: close`: the request was not read to its end.
    close: bool,
    /// `Allow`, for 405.
    allow: Option<HeaderValue>,
}

impl ApiError {
    fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(json!({ "error": self.code, "message": self.message }))).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, allow);
        }
        response
    }
}

type Answer = Result<Response, ApiError>;

/// The value as JSON, or 404 with `code` and the message `missing` makes.
fn found<T: serde::Serialize>(
    value: Option<T>,
    code: &'static str,
    missing: impl FnOnce() -> String,
) -> Answer {
    match value {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, code, missing())),
    }
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError { status, code, message: message.into(), retry_after: None, close: false, allow: None }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

/// The API's routes over a running node, with the default limits.
pub fn router(api: Api) -> Router {
    app(api, Arc::new(Shared::new(HttpLimits::default())))
}

fn app(api: Api, shared: Arc<Shared>) -> Router {
    let routes = Router::new()
        .route("/openapi.json", get(|| async { ([(CONTENT_TYPE, "application/json")], OPENAPI) }))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/numbers/{number}", get(number))
        .route("/v1/numbers/{number}/history", get(history))
        .route("/v1/keys/{key}/numbers", get(key_numbers))
        .route("/v1/tx", post(submit))
        .route("/v1/txs", post(submit_batch))
        .route("/v1/tx/{id}", get(tx))
        .route("/v1/ports", get(ports))
        .route("/v1/ports/{id}", get(port))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/blocks/{height}/finalization", get(finalization))
        .route("/v1/events", get(events))
        .route("/v1/operator/ports/{id}/{action}", post(port_action))
        .route("/v1/operator/numbers/{number}/{action}", post(number_action))
        .fallback(|uri: axum::http::Uri| async move {
            empty_number_path(uri.path())
                .unwrap_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "no such route"))
        })
        .with_state(api);
    // The guard wraps the finished router (a layer of its own would run inside each route,
    // before the router adds `Allow` to a 405).
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn(limits::guard))
        .layer(Extension(shared))
}

/// Serves the API on `listener` until `shutdown` completes, within `limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Api,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared::new(limits));
    server::serve(listener, app(api, shared.clone()), shared, shutdown).await
}

async fn metrics(State(api): State<Api>) -> Response {
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], api.metrics().render())
        .into_response()
}

async fn status(State(api): State<Api>) -> Response {
    Json(api.status()).into_response()
}

/// A number from a path segment, exactly as sent (percent-decoded): the grammar of
/// [`npchain_core::number`], national forms read with the node's genesis region.
fn parse_number(api: &Api, raw: &str) -> Result<E164, ApiError> {
    E164::parse(raw, api.region()).map_err(|e| error(StatusCode::BAD_REQUEST, "bad_number", e.to_string()))
}

/// A number from a query parameter. There a `+` stands for a space (form encoding), so a
/// refusal of a leading space says how to send the `+`.
fn parse_number_query(api: &Api, raw: &str) -> Result<E164, ApiError> {
    parse_number(api, raw).map_err(|mut e| {
        if raw.starts_with(' ') {
            e.message.push_str(" (in a URL query a + stands for a space: send the + as %2B)");
        }
        e
    })
}

/// The refusal of a path whose number segment is empty (`/v1/numbers/`, `/v1/numbers//history`,
/// `/v1/operator/numbers//bind`): the router matches no route for them.
fn empty_number_path(path: &str) -> Option<ApiError> {
    let rest = path.strip_prefix("/v1/numbers/").or_else(|| path.strip_prefix("/v1/operator/numbers/"))?;
    let empty =
        rest.is_empty() || rest == "/history" || path.starts_with("/v1/operator/") && rest.starts_with('/');
    empty.then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_number",
            npchain_core::NumberError::Empty { what: npchain_core::number::Subject::Number }.to_string(),
        )
    })
}

fn parse_port(raw: &str) -> Result<PortId, ApiError> {
    raw.parse().map_err(|_| {
        error(StatusCode::BAD_REQUEST, "bad_port_id", format!("{raw:?} is not a port id (64 hex digits)"))
    })
}

async fn number(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let number = parse_number(&api, &raw).inspect_err(|_| api.metrics().query("http", "bad_request"))?;
    let route = api.route(number).map_err(|e| {
        api.metrics().query("http", "error");
        internal(e)
    })?;
    let Some(route) = route else {
        api.metrics().query("http", "unknown");
        return Err(error(
            StatusCode::NOT_FOUND,
            "unknown_number",
            format!("{number} is in no assigned number range: no operator serves it"),
        ));
    };
    api.metrics().query("http", if route.ported { "ported" } else { "not_ported" });
    Ok(Json(route).into_response())
}

async fn history(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let number = parse_number(&api, &raw)?;
    Ok(Json(api.history(number).map_err(internal)?).into_response())
}

async fn key_numbers(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let key = parse_public_key(&raw).map_err(|e| error(StatusCode::BAD_REQUEST, "bad_key", e.to_string()))?;
    let (height, numbers) = api.bound_numbers(&key).map_err(internal)?;
    Ok(Json(json!({ "key": raw, "height": height, "numbers": numbers })).into_response())
}

fn parse_height(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| error(StatusCode::BAD_REQUEST, "bad_height", format!("{raw:?} is not a block height")))
}

async fn block(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let height = parse_height(&raw)?;
    found(api.block(height).map_err(internal)?, "unknown_block", || {
        format!("this node holds no finalized block {height}")
    })
}

async fn finalization(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let height = parse_height(&raw)?;
    // Marshal's archive read blocks this task briefly; keep it off the async workers.
    let answer = tokio::task::spawn_blocking(move || api.finalization(height)).await.map_err(internal)?;
    let hex = commonware_formatting::hex;
    let answer = answer
        .map(|p| json!({ "height": height, "block": hex(&p.block), "finalization": hex(&p.certificate) }));
    found(answer, "unknown_finalization", || format!("this node holds no finalization for block {height}"))
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

fn submit_error(e: &SubmitError) -> ApiError {
    let status = match e {
        SubmitError::Malformed(_) | SubmitError::Invalid(_) => StatusCode::BAD_REQUEST,
        SubmitError::Refused { .. } | SubmitError::Expired { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        SubmitError::Duplicate(_) | SubmitError::Committed(_) => StatusCode::CONFLICT,
        SubmitError::Full(_) | SubmitError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.code(), e.to_string())
}

/// A query string that did not parse.
fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    error(StatusCode::BAD_REQUEST, "bad_query", e.body_text())
}

async fn submit(
    State(api): State<Api>,
    params: Result<Query<SubmitParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Payload<MAX_BODY_BYTES>,
) -> Answer {
    let precheck = params.map_err(bad_query)?.precheck.unwrap_or(true);
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = if json {
        let parsed: HexTx = json_body(&body, "{\"tx\": \"<hex>\"}")?;
        commonware_formatting::from_hex(parsed.tx.trim())
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "bad_hex", "tx is not hex"))?
    } else {
        body.to_vec()
    };
    let id = api.submit(&bytes, precheck).map_err(|e| submit_error(&e))?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id.to_string() }))).into_response())
}

async fn submit_batch(
    State(api): State<Api>,
    params: Result<Query<SubmitParams>, axum::extract::rejection::QueryRejection>,
    body: Payload<MAX_BATCH_BODY_BYTES>,
) -> Answer {
    let precheck = params.map_err(bad_query)?.precheck.unwrap_or(true);
    // Reading up to 32 MiB of JSON and verifying thousands of signatures take a while: off the
    // HTTP thread, so that other requests go on meanwhile.
    let results = tokio::task::spawn_blocking(move || {
        // (the body's bytes stay reserved until the batch is done: its transactions are half as big)
        let txs = batch::parse_batch(&body)?;
        Ok::<_, ApiError>(api.submit_batch(&txs, precheck))
    })
    .await
    .map_err(internal)??;
    let results: Vec<BatchResult> = results.into_iter().map(crate::api::batch_result).collect();
    let accepted = results.iter().filter(|r| r.id.is_some()).count();
    Ok(Json(BatchResults { accepted, results }).into_response())
}

async fn tx(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let id: TxId = raw.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_tx_id",
            format!("{raw:?} is not a transaction id (64 hex digits)"),
        )
    })?;
    found(api.tx(&id).map_err(internal)?, "unknown_tx", || {
        format!("transaction {id} is neither pending on this node nor in a finalized block")
    })
}

async fn port(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let id = parse_port(&raw)?;
    found(api.port(&id).map_err(internal)?, "unknown_port", || format!("no port order {id}"))
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
) -> Answer {
    let p = params.map_err(bad_query)?.0;
    if let Some(state) = &p.state
        && !crate::service::known_state(state)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_state",
            format!("state {state:?} is not one of open, {}", STEP_NAMES.join(", ")),
        ));
    }
    let number = p.number.as_deref().map(|n| parse_number_query(&api, n)).transpose()?;
    let after = p.after.as_deref().map(parse_port).transpose()?;
    let limit = p.limit.unwrap_or(DEFAULT_PORT_PAGE);
    if limit == 0 || limit > crate::service::MAX_PORT_PAGE {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_limit",
            format!("limit must be 1 to {}", crate::service::MAX_PORT_PAGE),
        ));
    }
    let query = PortQuery { operator: p.operator, state: p.state, number, after, limit };
    Ok(Json(api.ports(&query).map_err(internal)?).into_response())
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
    /// The stream's place under the caps, given back when the stream is dropped.
    _slot: StreamSlot,
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
                    return SseEvent::default()
                        .event("error")
                        .json_data(json!({"error": "unreadable_block", "message": message}))
                        .ok();
                }
            }
        }
    }
}

async fn events(
    State(api): State<Api>,
    Extension(shared): Extension<Arc<Shared>>,
    peer: Option<Extension<Peer>>,
    params: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Answer {
    let p = params.map_err(bad_query)?.0;
    let number = p.number.as_deref().map(|n| parse_number_query(&api, n)).transpose()?.map(|n| n.to_string());
    let resume = match headers.get("last-event-id").map(|v| v.to_str().map(parse_event_id)) {
        None => None,
        Some(Ok(Some(id))) => Some(id),
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "bad_last_event_id",
                "Last-Event-ID must be <height>:<index>",
            ));
        }
    };
    let slot = shared.stream_slot(peer.map(|Extension(Peer(addr))| addr.ip()))?;
    let committed = api.committed_height();
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
        _slot: slot,
    };
    Ok(Sse::new(feed_stream(feed)).keep_alive(KeepAlive::default()).into_response())
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
fn authorize(api: &Api, headers: &HeaderMap) -> Result<(), ApiError> {
    if !api.admin_enabled() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "operator actions are disabled on this node: no admin token is configured",
        ));
    }
    // The scheme is case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer`, `BEARER`.
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
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

fn acted(api: &Api, action: OperatorAction) -> Answer {
    let id = api.act(action).map_err(|e| match e {
        ActionError::NoOperator => error(StatusCode::CONFLICT, "no_operator", e.to_string()),
        ActionError::Submit(e) => submit_error(&e),
    })?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id.to_string() }))).into_response())
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

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_json", format!("expected {shape}: {e}")))
}

fn unknown_action(on: &str, got: &str, choices: &str) -> ApiError {
    error(StatusCode::NOT_FOUND, "unknown_action", format!("no {on} action {got:?}; use {choices}"))
}

async fn port_action(
    State(api): State<Api>,
    Path((raw, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Payload<MAX_BODY_BYTES>,
) -> Answer {
    authorize(&api, &headers)?;
    let port = parse_port(&raw)?;
    let action = match action.as_str() {
        "release" => OperatorAction::Release { port },
        "activate" => OperatorAction::Activate { port },
        "reject" => {
            let body: RejectBody = json_body(&body, "{\"reason\": \"<reason>\"}")?;
            let reason: RejectReason =
                body.reason.parse().map_err(|e: npchain_core::port::UnknownReason| {
                    error(StatusCode::BAD_REQUEST, "bad_reason", e.to_string())
                })?;
            OperatorAction::Reject { port, reason }
        }
        other => return Err(unknown_action("port", other, "release, reject or activate")),
    };
    acted(&api, action)
}

async fn number_action(
    State(api): State<Api>,
    Path((raw, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Payload<MAX_BODY_BYTES>,
) -> Answer {
    authorize(&api, &headers)?;
    let number = parse_number(&api, &raw)?;
    let action = match action.as_str() {
        "return" => OperatorAction::Return { number },
        "bind" => {
            let body: BindBody = json_body(&body, "{\"subscriber\": \"<public key hex>\" | null}")?;
            let subscriber: Option<PublicKey> = body
                .subscriber
                .as_deref()
                .map(parse_public_key)
                .transpose()
                .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_key", e.to_string()))?;
            OperatorAction::Bind { number, subscriber }
        }
        other => return Err(unknown_action("number", other, "bind or return")),
    };
    acted(&api, action)
}
