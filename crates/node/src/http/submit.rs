//! Taking transactions: `POST /v1/tx` (one, as canonical bytes or `{"tx": "<hex>"}`) and
//! `POST /v1/txs` (a batch, parsed as it is read by [`super::batch`]), each optionally tried on
//! the committed state first (`?precheck=false` skips that).

use super::{
    Api, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES, batch,
    error::{Answer, ApiError, error, internal, submit_error},
    limits::Payload,
    parse,
};
use axum::{
    Json,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header::CONTENT_TYPE},
    response::IntoResponse,
};
use npchain_api::json::{BatchResult, BatchResults};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HexTx {
    tx: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubmitParams {
    /// Try the transaction on the committed state first (default true).
    precheck: Option<bool>,
}

pub(super) async fn submit(
    State(api): State<Api>,
    params: Result<Query<SubmitParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Payload<MAX_BODY_BYTES>,
) -> Answer {
    let precheck = params.map_err(parse::bad_query)?.precheck.unwrap_or(true);
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = if json {
        let parsed: HexTx = parse::json_body(&body, "{\"tx\": \"<hex>\"}")?;
        commonware_formatting::from_hex(parsed.tx.trim())
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "bad_hex", "tx is not hex"))?
    } else {
        body.to_vec()
    };
    let id = api.submit(&bytes, precheck).map_err(|e| submit_error(&e))?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id.to_string() }))).into_response())
}

pub(super) async fn submit_batch(
    State(api): State<Api>,
    params: Result<Query<SubmitParams>, axum::extract::rejection::QueryRejection>,
    body: Payload<MAX_BATCH_BODY_BYTES>,
) -> Answer {
    let precheck = params.map_err(parse::bad_query)?.precheck.unwrap_or(true);
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
