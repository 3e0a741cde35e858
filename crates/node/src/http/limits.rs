//! What the HTTP API allows at once and how it refuses the rest: request bodies (per request
//! and for the whole node), event streams (per node and per client), request heads, and the
//! JSON form of every refusal the framework makes by itself.

use super::error::{ApiError, error};
use crate::config::HttpLimits;
use axum::{
    extract::{FromRequest, Request},
    http::{
        HeaderMap, HeaderValue, Method, StatusCode, Version,
        header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HOST},
        uri::Authority,
    },
    middleware::Next,
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest request target served (414 `uri_too_long` beyond).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// What a client is told to wait before it tries again after a refusal at a cap, in seconds.
const RETRY_AFTER_SECS: u32 = 1;
const STREAM_RETRY_AFTER_SECS: u32 = 5;

/// The API's limits and what is taken of them, shared by every request of a node.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) limits: HttpLimits,
    /// Request-body bytes not yet taken: one permit a byte.
    bodies: Arc<Semaphore>,
    streams: Arc<Mutex<Streams>>,
    /// The one state dump (`GET /v1/state`) the node streams at a time.
    pub(super) export: Arc<Semaphore>,
}

impl Shared {
    pub(super) fn new(limits: HttpLimits) -> Self {
        let bodies = Arc::new(Semaphore::new(limits.body_bytes_in_flight));
        let streams = Arc::new(Mutex::new(Streams::default()));
        Self { limits, bodies, streams, export: Arc::new(Semaphore::new(1)) }
    }

    /// Takes `n` more bytes of the node's body budget for a body that holds `held` already, or
    /// refuses with 503 `busy`.
    fn reserve(&self, n: usize, held: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let busy = || {
            let limit = self.limits.body_bytes_in_flight >> 20;
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!(
                    "this node holds at most {limit} MiB of request bodies at once ([http] body-mib-in-flight), \
                     and this body of {} bytes does not fit now",
                    held + n
                ),
            )
            .retry_after(RETRY_AFTER_SECS)
            .closing()
        };
        let n32 = u32::try_from(n).map_err(|_| busy())?;
        self.bodies.clone().try_acquire_many_owned(n32).map_err(|_| busy())
    }

    /// An event-stream slot for the client at `peer` (no per-client cap when it is unknown).
    pub(super) fn stream_slot(&self, peer: Option<IpAddr>) -> Result<StreamSlot, ApiError> {
        let l = &self.limits;
        let mut open = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= l.max_event_streams {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                format!(
                    "this node serves at most {} event streams at once ([http] max-event-streams)",
                    l.max_event_streams
                ),
            )
            .retry_after(STREAM_RETRY_AFTER_SECS));
        }
        let client = peer.map(Client::of);
        if let (Some(ip), Some(c)) = (peer, client) {
            let of_client = open.by_client.entry(c).or_default();
            if *of_client >= l.max_event_streams_per_client {
                return Err(error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_client_streams",
                    format!(
                        "{} already holds {of_client} event streams, the most one client may \
                         ([http] max-event-streams-per-client)",
                        c.describe(ip)
                    ),
                )
                .retry_after(STREAM_RETRY_AFTER_SECS));
            }
            *of_client += 1;
        }
        open.total += 1;
        Ok(StreamSlot { streams: self.streams.clone(), client })
    }
}

/// The address a connection came from (put in each request by the server).
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer(pub SocketAddr);

/// The event streams open, in all and by client.
#[derive(Debug, Default)]
struct Streams {
    total: usize,
    by_client: HashMap<Client, usize>,
}

/// One client for the per-client cap: an IPv4 address, or an IPv6 /64 (a host usually gets a
/// whole /64, so counting its addresses one by one would cap nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    V4(u32),
    V6(u64),
}

impl Client {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4.into()),
            IpAddr::V6(v6) => Self::V6((u128::from(v6) >> 64) as u64),
        }
    }

    fn describe(self, ip: IpAddr) -> String {
        match self {
            Self::V4(_) => format!("client {}", ip.to_canonical()),
            Self::V6(_) => format!("the /64 of client {ip}"),
        }
    }
}

/// An event stream's place under the caps, given back when the stream ends or its client goes
/// away (the stream is dropped with its connection).
#[derive(Debug)]
pub(super) struct StreamSlot {
    streams: Arc<Mutex<Streams>>,
    client: Option<Client>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(c) = self.client
            && let Some(of_client) = open.by_client.get_mut(&c)
        {
            *of_client -= 1;
            if *of_client == 0 {
                open.by_client.remove(&c);
            }
        }
    }
}

/// A request body of at most `LIMIT` bytes, read within `[http] body-timeout-secs` and held
/// against the node's body budget until it is dropped. Refusals: 413 `too_large` (before a byte
/// is read when `Content-Length` says so), 503 `busy`, 408 `body_timeout`, 400 `bad_body`.
#[derive(Debug)]
pub(super) struct Payload<const LIMIT: usize> {
    bytes: Bytes,
    _held: OwnedSemaphorePermit,
}

impl<const LIMIT: usize> std::ops::Deref for Payload<LIMIT> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for Payload<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let shared = req.extensions().get::<Arc<Shared>>().cloned().ok_or_else(|| {
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no HTTP limits in the request")
        })?;
        let route = format!("{} {}", req.method(), req.uri().path());
        let too_large = move |n: String| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is {n} bytes; {route} takes at most {LIMIT}"),
            )
            .closing()
        };
        let declared = match req
            .headers()
            .get(CONTENT_LENGTH)
            .map(|v| v.to_str().ok().and_then(|s| s.parse::<usize>().ok()))
        {
            None => None,
            Some(Some(n)) => Some(n),
            Some(None) => {
                return Err(error(StatusCode::BAD_REQUEST, "bad_body", "Content-Length is not a number"));
            }
        };
        if let Some(n) = declared
            && n > LIMIT
        {
            return Err(too_large(n.to_string()));
        }
        let mut held = shared.reserve(declared.unwrap_or(0), 0)?;
        let deadline = tokio::time::Instant::now() + shared.limits.body_timeout;
        let mut body = req.into_body();
        let mut bytes = BytesMut::with_capacity(declared.unwrap_or(0));
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    return Err(error(
                        StatusCode::REQUEST_TIMEOUT,
                        "body_timeout",
                        format!(
                            "the body did not arrive within {} s ([http] body-timeout-secs); {} bytes came",
                            shared.limits.body_timeout.as_secs_f64(),
                            bytes.len()
                        ),
                    )
                    .closing());
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(error(StatusCode::BAD_REQUEST, "bad_body", format!("reading the body: {e}"))
                        .closing());
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else { continue };
            let len = bytes.len() + data.len();
            if len > LIMIT {
                return Err(too_large(format!("more than {LIMIT}")));
            }
            if len > held.num_permits() {
                let more = shared.reserve(len - held.num_permits(), held.num_permits())?;
                held.merge(more);
            }
            bytes.extend_from_slice(&data);
        }
        Ok(Self { bytes: bytes.freeze(), _held: held })
    }
}

/// Before routing: the request head must name one valid `Host` (RFC 9112 §3.2) and its target
/// must be at most [`MAX_URI_BYTES`]. After: every refusal is the API's JSON error, also those the
/// framework makes by itself (405 with its `Allow`, a path that does not decode).
pub(super) async fn guard(req: Request, next: Next) -> Response {
    if let Err(e) = check_head(req.version(), req.headers(), req.uri().to_string().len()) {
        return e.into_response();
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let response = next.run(req).await;
    as_json(response, &method, &path).await
}

fn check_head(version: Version, headers: &HeaderMap, target_len: usize) -> Result<(), ApiError> {
    if target_len > MAX_URI_BYTES {
        return Err(error(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {target_len} bytes; at most {MAX_URI_BYTES} are served"),
        ));
    }
    let hosts: Vec<&HeaderValue> = headers.get_all(HOST).iter().collect();
    let bad_host = |m: String| Err(error(StatusCode::BAD_REQUEST, "bad_host", m).closing());
    match hosts[..] {
        [] if version == Version::HTTP_11 => {
            bad_host("an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)".into())
        }
        [] => Ok(()),
        [one] => match one.to_str().ok().map(str::parse::<Authority>) {
            // An empty Host is allowed, for a target with no authority (RFC 9112 §3.2).
            _ if one.is_empty() => Ok(()),
            Some(Ok(a)) if valid_host(a.as_str()) => Ok(()),
            _ => bad_host(format!("Host {:?} is not a host[:port]", String::from_utf8_lossy(one.as_bytes()))),
        },
        _ => bad_host(format!("the request has {} Host headers; it must have one", hosts.len())),
    }
}

/// `host[:port]` as RFC 9110 §7.2 has it: no user info, and a port of digits (the `http` crate's
/// authority parser takes any text after the colon).
fn valid_host(authority: &str) -> bool {
    let after_host = authority.rsplit_once(']').map_or(authority, |(_, rest)| rest);
    !authority.contains('@')
        && after_host.split_once(':').is_none_or(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
}

/// An error response that is not the API's JSON (the framework's own refusals) made into it.
async fn as_json(response: Response, method: &Method, path: &str) -> Response {
    let status = response.status();
    let is_json =
        response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let allow = response.headers().get(ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let mut e = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = allow.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("");
            error(status, "method_not_allowed", format!("{method} is not served at {path}; use {allowed}"))
        }
        StatusCode::BAD_REQUEST => {
            error(status, "bad_path", format!("the path {path:?} does not decode: {text}"))
        }
        StatusCode::NOT_FOUND => error(status, "not_found", "no such route"),
        _ => error(
            status,
            "refused",
            if text.is_empty() {
                status.canonical_reason().unwrap_or("refused").to_owned()
            } else {
                text.into_owned()
            },
        ),
    };
    e.allow = allow;
    e.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(version: Version, hosts: &[&str]) -> Result<(), ApiError> {
        let mut h = HeaderMap::new();
        for v in hosts {
            h.append(HOST, HeaderValue::from_str(v).unwrap());
        }
        check_head(version, &h, 10)
    }

    #[test]
    fn a_request_names_one_valid_host() {
        assert!(head(Version::HTTP_11, &["node.example:8400"]).is_ok());
        assert!(head(Version::HTTP_11, &["[::1]:8400"]).is_ok());
        assert!(head(Version::HTTP_10, &[]).is_ok(), "HTTP/1.0 has no Host requirement");
        assert!(head(Version::HTTP_11, &["node.example:"]).is_ok(), "an empty port (RFC 3986 §3.2.3)");
        for bad in [&[][..], &["a", "b"], &["a b"], &["user@host"], &["host:port"], &["[::1]:x"], &["a:1:2"]]
        {
            let e = head(Version::HTTP_11, bad).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "bad_host"), "{bad:?}");
        }
        let long = check_head(Version::HTTP_11, &HeaderMap::new(), MAX_URI_BYTES + 1).unwrap_err();
        assert_eq!(long.code, "uri_too_long");
    }

    #[test]
    fn stream_slots_count_per_client_and_come_back() {
        let limits =
            HttpLimits { max_event_streams: 3, max_event_streams_per_client: 2, ..HttpLimits::default() };
        let shared = Shared::new(limits);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let a6: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let (b1, b2): (IpAddr, IpAddr) = ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap());
        let first = shared.stream_slot(Some(a)).unwrap();
        let _second = shared.stream_slot(Some(a6)).unwrap();
        let e = shared.stream_slot(Some(a)).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::TOO_MANY_REQUESTS, "too_many_client_streams"));
        assert!(
            e.message.contains("10.0.0.1") && e.message.contains("max-event-streams-per-client"),
            "{}",
            e.message
        );
        let _third = shared.stream_slot(Some(b1)).unwrap();
        let e = shared.stream_slot(Some(b2)).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "too_many_streams"));
        assert!(e.message.contains("at most 3"), "{}", e.message);
        drop(first);
        let _fourth = shared.stream_slot(Some(b2)).unwrap();
        drop(_second);
        let e = shared.stream_slot(Some("2001:db8::3".parse().unwrap())).unwrap_err();
        assert_eq!(e.code, "too_many_client_streams", "2001:db8::1, ::2 and ::3 share a /64");
        assert!(shared.stream_slot(Some(a)).is_ok(), "the slot came back");
    }
}
