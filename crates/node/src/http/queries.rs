//! The read side of the API: status, metrics, a number's route and history, the numbers bound to
//! a key, a transaction, port orders (one, or a filtered page), finalized blocks and their
//! finalization certificates. Every answer is the JSON shape of [`npchain_api::json`].

use super::{
    Api,
    error::{Answer, error, found, internal},
    parse,
};
use axum::{
    Json,
    extract::{Path, Query, State},
    http::{StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use npchain_api::json::PortQuery;
use npchain_core::types::{TxId, parse_public_key};
use serde::Deserialize;
use serde_json::json;

/// Orders per page of `GET /v1/ports` unless `limit` says otherwise.
const DEFAULT_PORT_PAGE: usize = 100;

pub(super) async fn metrics(State(api): State<Api>) -> Response {
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], api.metrics().render())
        .into_response()
}

pub(super) async fn status(State(api): State<Api>) -> Response {
    Json(api.status()).into_response()
}

/// `GET /v1/validators`: reading the certificates of the latest blocks from marshal's archive
/// blocks this task briefly; it runs off the async workers.
pub(super) async fn validators(State(api): State<Api>) -> Answer {
    let list = tokio::task::spawn_blocking(move || api.validators()).await.map_err(internal)?;
    Ok(Json(list).into_response())
}

pub(super) async fn number(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let number = parse::number(&api, &raw).inspect_err(|_| api.metrics().query("http", "bad_request"))?;
    let route = api.route(number).map_err(|e| {
        api.metrics().query("http", "error");
        internal(e)
    })?;
    let route = match route {
        Ok(route) => route,
        Err(why) => {
            api.metrics().query("http", "unknown");
            // a name of the wrong length under a range is no number, as the ENUM zone says too
            let code = match why {
                npchain_core::Unroutable::NoRange { .. } => "unknown_number",
                npchain_core::Unroutable::Length { .. } => "number_length",
            };
            return Err(error(StatusCode::NOT_FOUND, code, why.to_string()));
        }
    };
    api.metrics().query("http", if route.ported { "ported" } else { "not_ported" });
    Ok(Json(route).into_response())
}

pub(super) async fn history(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let number = parse::number(&api, &raw)?;
    Ok(Json(api.history(number).map_err(internal)?).into_response())
}

pub(super) async fn key_numbers(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let key = parse_public_key(&raw).map_err(|e| error(StatusCode::BAD_REQUEST, "bad_key", e.to_string()))?;
    let (height, numbers) = api.bound_numbers(&key).map_err(internal)?;
    Ok(Json(json!({ "key": raw, "height": height, "numbers": numbers })).into_response())
}

pub(super) async fn block(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let height = parse::height(&raw)?;
    found(api.block(height).map_err(internal)?, "unknown_block", || {
        format!("this node holds no finalized block {height}")
    })
}

pub(super) async fn finalization(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let height = parse::height(&raw)?;
    // Marshal's archive read blocks this task briefly; keep it off the async workers.
    let answer = tokio::task::spawn_blocking(move || api.finalization(height)).await.map_err(internal)?;
    let hex = commonware_formatting::hex;
    let answer = answer
        .map(|p| json!({ "height": height, "block": hex(&p.block), "finalization": hex(&p.certificate) }));
    found(answer, "unknown_finalization", || format!("this node holds no finalization for block {height}"))
}

pub(super) async fn tx(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
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

pub(super) async fn port(State(api): State<Api>, Path(raw): Path<String>) -> Answer {
    let id = parse::port_id(&raw)?;
    found(api.port(&id).map_err(internal)?, "unknown_port", || format!("no port order {id}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PortParams {
    operator: Option<String>,
    state: Option<String>,
    number: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn ports(
    State(api): State<Api>,
    params: Result<Query<PortParams>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let p = params.map_err(parse::bad_query)?.0;
    if let Some(state) = &p.state
        && !crate::service::known_state(state)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_state",
            format!("state {state:?} is not one of open, {}", npchain_api::json::STEP_NAMES.join(", ")),
        ));
    }
    let number = p.number.as_deref().map(|n| parse::number_in_query(&api, n)).transpose()?;
    let after = p.after.as_deref().map(parse::port_id).transpose()?;
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
