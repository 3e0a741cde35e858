//! The event stream, `GET /v1/events` (server-sent events): the events of finalized blocks from
//! a height on, filtered by operator or number. A stream reads the block log from its starting
//! height, then waits on the committed-height watch; it resumes after `Last-Event-ID`
//! (`<height>:<index>`), and holds a slot under the per-node and per-client caps until dropped.

use super::{
    Api,
    error::{Answer, error},
    limits::{Peer, Shared, StreamSlot},
    parse,
};
use axum::{
    Extension,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
use futures::Stream;
use npchain_api::json::{EventEnvelope, EventInfo};
use serde::Deserialize;
use serde_json::json;
use std::{collections::VecDeque, sync::Arc};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventParams {
    operator: Option<String>,
    number: Option<String>,
    /// First height to send events of (default: the next block).
    from_height: Option<u64>,
}

/// Where an event stream stands: the next block to read, and events read but not yet sent.
struct Feed {
    api: Api,
    /// The node's committed height, changing at every commit.
    committed_height: tokio::sync::watch::Receiver<u64>,
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
            let committed = *self.committed_height.borrow_and_update();
            if self.next > committed {
                if self.committed_height.changed().await.is_err() {
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

pub(super) async fn events(
    State(api): State<Api>,
    Extension(shared): Extension<Arc<Shared>>,
    peer: Option<Extension<Peer>>,
    params: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Answer {
    let p = params.map_err(parse::bad_query)?.0;
    let number =
        p.number.as_deref().map(|n| parse::number_in_query(&api, n)).transpose()?.map(|n| n.to_string());
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
    let committed_height = api.committed_height();
    let next = match (resume, p.from_height) {
        (Some((height, _)), _) => height,
        (None, Some(h)) => h.max(1),
        (None, None) => *committed_height.borrow() + 1,
    };
    let feed = Feed {
        api,
        committed_height,
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

/// An event id as sent in `Last-Event-ID`: `<height>:<index>`.
fn parse_event_id(raw: &str) -> Option<(u64, usize)> {
    let (h, i) = raw.trim().split_once(':')?;
    Some((h.parse().ok()?, i.parse().ok()?))
}
