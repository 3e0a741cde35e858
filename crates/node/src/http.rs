//! The node's HTTP API (axum). For now: status, finalized blocks, and transaction submission.

use crate::api::{NodeApi, SubmitError};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use std::{future::Future, sync::Arc};

/// The largest request body accepted (a transaction is at most 128 KiB; hex doubles it).
pub const MAX_BODY_BYTES: usize = 300 * 1024;

type Api = Arc<dyn NodeApi>;

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": code, "message": message.into() }))).into_response()
}

/// The API's routes over a running node.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/blocks/{height}/finalization", get(finalization))
        .route("/v1/tx", post(submit))
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

async fn status(State(api): State<Api>) -> Response {
    Json(api.status()).into_response()
}

async fn block(State(api): State<Api>, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "bad_height", format!("{height:?} is not a block height"));
    };
    match api.block(height) {
        Some(info) => Json(info).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "unknown_block",
            format!("this node holds no finalized block {height}"),
        ),
    }
}

async fn finalization(State(api): State<Api>, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "bad_height", format!("{height:?} is not a block height"));
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
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HexTx {
    tx: String,
}

async fn submit(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
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
    match api.submit(&bytes) {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({ "id": id.to_string() }))).into_response(),
        Err(e) => {
            let (status, code) = match &e {
                SubmitError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed"),
                SubmitError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
                SubmitError::Duplicate(_) => (StatusCode::CONFLICT, "duplicate"),
                SubmitError::Committed(_) => (StatusCode::CONFLICT, "committed"),
                SubmitError::Expired { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "expired"),
                SubmitError::Full(_) => (StatusCode::SERVICE_UNAVAILABLE, "mempool_full"),
                SubmitError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            };
            error(status, code, e.to_string())
        }
    }
}
