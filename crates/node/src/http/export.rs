//! `GET /v1/state`: every entry of every ledger table at one committed height, streamed in the
//! state-dump layout of [`npchain_api::dump`], for a verified export (`npchain export`).
//!
//! The entries come from a snapshot of the ledger store (a redb read transaction), so the dump
//! is of exactly the height in its header however many blocks commit while it streams, and the
//! chain's lock is held only to open it. The limits: one dump at a time (503 `export_busy`); a
//! dump streams for at most [`EXPORT_TIMEOUT`], then the connection is cut and the dump lacks
//! its end record; entries are read [`CHUNK_ENTRIES`] at a time on the blocking pool and at most
//! [`IN_FLIGHT_CHUNKS`] encoded chunks wait for a slow reader, so the node never holds the
//! whole state. `?height=H` asks for the state at `H`: the node keeps only its committed state,
//! so `H` must not be behind it (409 `height_passed`); a height ahead is waited for, at most
//! [`HEIGHT_WAIT`] (504 `height_not_reached`).

use super::{
    Api,
    error::{Answer, error, internal},
    limits::Shared,
    parse,
};
use axum::{
    Extension,
    body::Body,
    extract::{Query, State},
    http::{StatusCode, header::CONTENT_TYPE},
    response::IntoResponse,
};
use bytes::Bytes;
use npchain_api::dump::{self, DumpHeader};
use npchain_core::ReadStore;
use serde::Deserialize;
use std::{ops::ControlFlow, sync::Arc, time::Duration};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// The longest a dump streams (10M numbers take well under a minute on loopback).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest `?height=H` waits for the node to commit `H`.
pub const HEIGHT_WAIT: Duration = Duration::from_secs(60);
/// Entries read from the snapshot at once.
const CHUNK_ENTRIES: usize = 8192;
/// Encoded chunks waiting for the client at most.
const IN_FLIGHT_CHUNKS: usize = 4;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StateParams {
    height: Option<String>,
}

pub(super) async fn state(
    State(api): State<Api>,
    Extension(shared): Extension<Arc<Shared>>,
    params: Result<Query<StateParams>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let wanted = params.map_err(parse::bad_query)?.0.height.as_deref().map(parse::height).transpose()?;
    let slot = shared.export.clone().try_acquire_owned().map_err(|_| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "export_busy",
            "this node streams one state dump at a time; try again when it ends",
        )
        .retry_after(10)
    })?;
    if let Some(h) = wanted {
        reach(&api, h).await?;
    }
    let reader = api.clone();
    let snapshot =
        tokio::task::spawn_blocking(move || reader.snapshot()).await.map_err(internal)?.map_err(internal)?;
    let meta =
        snapshot.meta().map_err(internal)?.ok_or_else(|| internal("the ledger store holds no ledger"))?;
    if let Some(h) = wanted
        && meta.height != h
    {
        return Err(passed(h, meta.height));
    }
    let header = DumpHeader {
        height: meta.height,
        block_time_ms: meta.block_time.millis(),
        state_hash: npchain_core::Digest(meta.accumulator.checksum().0),
    };
    let (tx, rx) = mpsc::channel(IN_FLIGHT_CHUNKS);
    let deadline = std::time::Instant::now() + EXPORT_TIMEOUT;
    tokio::task::spawn_blocking(move || produce(snapshot, header, &tx, deadline, slot));
    let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(([(CONTENT_TYPE, dump::CONTENT_TYPE)], Body::from_stream(body)).into_response())
}

fn passed(wanted: u64, height: u64) -> super::error::ApiError {
    error(
        StatusCode::CONFLICT,
        "height_passed",
        format!(
            "this node is at height {height}, past {wanted}; it keeps only its committed state, so it exports its \
             current height (no height) or one still ahead"
        ),
    )
}

/// Waits until the node has committed `height`; refuses a height already passed.
async fn reach(api: &Api, height: u64) -> Result<(), super::error::ApiError> {
    let mut committed = api.committed_height();
    let now = *committed.borrow();
    if now > height {
        return Err(passed(height, now));
    }
    let waited =
        tokio::time::timeout(HEIGHT_WAIT, async { committed.wait_for(|h| *h >= height).await.map(drop) })
            .await;
    match waited {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(internal("the node stopped committing")),
        Err(_) => Err(error(
            StatusCode::GATEWAY_TIMEOUT,
            "height_not_reached",
            format!(
                "this node did not commit height {height} within {} s (it is at {})",
                HEIGHT_WAIT.as_secs(),
                *committed.borrow()
            ),
        )),
    }
}

/// Streams the dump into `tx` chunk by chunk; stops when the client goes away, and at the
/// deadline (an error item: the connection is cut, the dump has no end record).
fn produce(
    snapshot: Box<dyn ReadStore + Send>,
    header: DumpHeader,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    deadline: std::time::Instant,
    _slot: OwnedSemaphorePermit,
) {
    let sent = dump::stream(&*snapshot, &header, CHUNK_ENTRIES, |bytes| {
        if std::time::Instant::now() > deadline {
            let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "the state dump took too long");
            let _ = tx.blocking_send(Err(timeout));
            return ControlFlow::Break(());
        }
        // the client went away: stop
        if tx.blocking_send(Ok(Bytes::from(bytes))).is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if let Err(e) = sent {
        tracing::error!("state dump of height {}: {e}", header.height);
        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        chain::{Chain, MemBlockLog, mempool::Mempool},
        config::HttpLimits,
        service::{Identity, Service},
    };
    use axum::http::Request;
    use commonware_cryptography::Signer as _;
    use npchain_core::{Ledger, MemStore};
    use tower::ServiceExt as _;

    fn api() -> Api {
        let genesis = npchain_testkit::GenesisBuilder::three_operators("export-unit").build();
        let ledger = Ledger::genesis(MemStore::new(), &genesis, std::iter::empty()).unwrap();
        let chain = Chain::new(ledger, MemBlockLog::default(), Mempool::default());
        let identity = Identity {
            node_key: npchain_testkit::key("OPA/validator").public_key(),
            operator_key: None,
            peers: vec![],
            region: None,
        };
        Arc::new(Service::new(chain, identity, None, Box::new(|_| {}), Box::new(|_| None)))
    }

    async fn get(api: &Api, shared: &Arc<Shared>) -> (StatusCode, Vec<u8>) {
        let req = Request::get("/v1/state").header("host", "x").body(Body::empty()).unwrap();
        let response = super::super::app(api.clone(), shared.clone()).oneshot(req).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 64 << 20).await.unwrap();
        (status, body.to_vec())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_dump_streams_at_a_time() {
        let (api, shared) = (api(), Arc::new(Shared::new(HttpLimits::default())));
        let held = shared.export.clone().try_acquire_owned().unwrap();
        let (status, body) = get(&api, &shared).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["error"], "export_busy", "{answer}");
        drop(held);
        let (status, body) = get(&api, &shared).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(dump::MAGIC));
        // the slot is given back when the dump has been sent
        let again =
            tokio::time::timeout(Duration::from_secs(30), shared.export.clone().acquire_owned()).await;
        assert!(again.is_ok(), "the dump's slot was not given back");
    }
}
