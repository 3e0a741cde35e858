//! The node's HTTP API (axum): routing queries, orders, transactions, blocks, the event stream,
//! the governance reads (operators, ranges, policy), the operator's own actions (behind the
//! admin token), metrics, the OpenAPI document, and the web dashboard (`/`).
//!
//! Every refusal is JSON `{"error": "<code>", "message": "<what and why>"}` with a precise status
//! (`error`). This module assembles the router from the handlers (`queries`, `submit`, `events`,
//! `governance`, `operator`; path and body parsing in `parse`); [`serve`] runs it on a listener
//! within [`HttpLimits`]: connections, timeouts, body bytes in flight and event streams are capped
//! (`server`, `limits`).

mod batch;
mod dashboard;
mod error;
mod events;
mod export;
mod governance;
mod limits;
mod operator;
mod parse;
mod queries;
mod server;
mod stats;
mod submit;

pub use export::{EXPORT_TIMEOUT, HEIGHT_WAIT};
pub use limits::MAX_URI_BYTES;
pub use server::{MAX_HEAD_BYTES, REFUSING};

use crate::{api::NodeApi, config::HttpLimits};
use axum::{
    Extension, Router,
    http::{StatusCode, header::CONTENT_TYPE},
    routing::{get, post},
};
use limits::Shared;
use npchain_api::json::MAX_BATCH_TXS;
use std::{future::Future, sync::Arc};

/// The largest request body accepted (a transaction is at most 128 KiB; hex doubles it).
pub const MAX_BODY_BYTES: usize = 300 * 1024;
/// The largest `POST /v1/txs` body: a full batch of port requests with room to spare.
pub const MAX_BATCH_BODY_BYTES: usize = 32 * 1024 * 1024;
/// The OpenAPI 3.1 document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The node as the handlers see it.
type Api = Arc<dyn NodeApi>;

/// The API's routes over a running node, with the default limits.
pub fn router(api: Api) -> Router {
    app(api, Arc::new(Shared::new(HttpLimits::default())))
}

fn app(api: Api, shared: Arc<Shared>) -> Router {
    let routes = Router::new()
        .route("/openapi.json", get(|| async { ([(CONTENT_TYPE, "application/json")], OPENAPI) }))
        .route("/metrics", get(queries::metrics))
        .route("/v1/status", get(queries::status))
        .route("/v1/numbers/{number}", get(queries::number))
        .route("/v1/numbers/{number}/history", get(queries::history))
        .route("/v1/keys/{key}/numbers", get(queries::key_numbers))
        .route("/v1/tx", post(submit::submit))
        .route("/v1/txs", post(submit::submit_batch))
        .route("/v1/tx/{id}", get(queries::tx))
        .route("/v1/ports", get(queries::ports))
        .route("/v1/ports/{id}", get(queries::port))
        .route("/v1/blocks/{height}", get(queries::block))
        .route("/v1/blocks/{height}/finalization", get(queries::finalization))
        .route("/v1/events", get(events::events))
        // the state dump for a verified export (`npchain export`)
        .route("/v1/state", get(export::state))
        .route("/v1/operators", get(governance::operators))
        .route("/v1/ranges", get(governance::ranges))
        .route("/v1/policy", get(governance::policy))
        // porting statistics
        .route("/v1/stats", get(stats::stats))
        .route("/v1/operator/ports", post(operator::request_for))
        .route("/v1/operator/ports/{id}/{action}", post(operator::port_action))
        .route("/v1/operator/numbers/{number}/{action}", post(operator::number_action))
        // the dashboard (`dashboard`), and the reads it needs beyond the API's others
        .route("/", get(dashboard::page))
        .route("/assets/{name}", get(dashboard::file))
        .route("/v1/validators", get(queries::validators))
        .route("/v1/operator", get(operator::whoami))
        .fallback(|uri: axum::http::Uri| async move {
            parse::empty_number_path(uri.path())
                .unwrap_or_else(|| error::error(StatusCode::NOT_FOUND, "not_found", "no such route"))
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
