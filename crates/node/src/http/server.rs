//! The HTTP port's connections: an accept loop over hyper's HTTP/1.1 server that caps the
//! connections, times every phase of a request, and answers with the API's JSON error wherever
//! it refuses — at the cap, at a timeout, and where hyper refuses a request head by itself.
//!
//! A connection is in one phase at a time, each with its deadline:
//!
//! - *idle* (accepted, or its last answer sent): `idle-timeout`, then closed without an answer;
//! - *head* (from the first byte of a request): `header-timeout`, then 408 and closed;
//! - *request* (the head is complete, until the last byte of its answer): `request-timeout`,
//!   then 503 if nothing was answered yet, and closed. The body has its own, shorter deadline
//!   (`body-timeout`, 408), enforced where it is read ([`super::limits::Payload`]). An event
//!   stream has no deadline: it lasts until the node stops or the client goes away.
//!
//! hyper answers a head it cannot parse or that is too large with a status and an empty body.
//! Those answers are the only bytes written while no request is being served, so the connection
//! holds them back and writes the JSON refusal for their status instead, once hyper is done.

use super::limits::{Peer, Shared};
use crate::loglimit::LogLimit;
use axum::{
    Router,
    body::Body,
    http::{Request, Response, StatusCode},
};
use bytes::Bytes;
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore},
    time::Instant,
};
use tower::ServiceExt as _;

/// Connections accepted only to be refused, at most, at once. Past them the accept loop waits,
/// and new connections wait in the kernel's backlog; so the port holds at most
/// `max-connections` + `REFUSING` sockets.
pub const REFUSING: usize = 32;
/// How long a refusal may take: writing the answer, then reading what the client still sends,
/// so that closing does not reset the connection before the client read the answer
/// (RFC 9112 §9.6).
const LINGER: Duration = Duration::from_secs(2);
/// The largest request head (hyper's read buffer).
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// After a failed accept (out of file descriptors, say), the loop waits this long at first,
/// doubling up to [`MAX_BACKOFF`], instead of spinning.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

static ACCEPT_FAILED: LogLimit = LogLimit::new(5, Duration::from_secs(60));
static AT_CAP: LogLimit = LogLimit::new(5, Duration::from_secs(60));
static CONNECTION_FAILED: LogLimit = LogLimit::new(5, Duration::from_secs(60));

/// Serves `router` on `listener` until `shutdown` completes, within the limits of `shared`.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = shared.limits.max_connections;
    let sockets = Arc::new(Semaphore::new(max + REFUSING));
    let connections = Arc::new(Semaphore::new(max));
    let mut http = http1::Builder::new();
    http.max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .header_read_timeout(None)
        .half_close(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = MIN_BACKOFF;
    loop {
        let socket = tokio::select! {
            () = &mut shutdown => return Ok(()),
            s = sockets.clone().acquire_owned() => s.map_err(io::Error::other)?,
        };
        let accepted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = MIN_BACKOFF;
                a
            }
            Err(e) => {
                if let Some(suppressed) = ACCEPT_FAILED.allow() {
                    tracing::warn!(error = %e, suppressed, retry_in = ?backoff, "HTTP accept failed");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                let (router, shared, http) = (router.clone(), shared.clone(), http.clone());
                tokio::spawn(async move {
                    connection(stream, peer, router, &shared, &http).await;
                    drop((permit, socket));
                });
            }
            Err(_) => {
                if let Some(suppressed) = AT_CAP.allow() {
                    tracing::warn!(%peer, max, suppressed, "HTTP connection refused: at [http] max-connections");
                }
                let refusal = Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too_many_connections",
                    format!(
                        "this node serves at most {max} HTTP connections at once ([http] max-connections)"
                    ),
                )
                .retry_after(1);
                tokio::spawn(async move {
                    let mut stream = stream;
                    refusal.send(&mut stream).await;
                    drop(socket);
                });
            }
        }
    }
}

/// How a connection ended.
enum Ending {
    /// hyper finished (the client closed, or asked to, or sent what hyper refuses).
    Served(hyper::Result<()>),
    /// A phase overran its deadline.
    Expired(Phase),
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    shared: &Shared,
    http: &http1::Builder,
) {
    let conn = Arc::new(Conn::new());
    let limits = &shared.limits;
    let ending = {
        let io = TokioIo::new(Watched { io: &mut stream, conn: &conn });
        let service = {
            let conn = conn.clone();
            hyper::service::service_fn(move |req| respond(req, conn.clone(), peer, router.clone()))
        };
        let mut serving = std::pin::pin!(http.serve_connection(io, service));
        loop {
            let (phase, deadline) = conn.deadline(limits);
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                r = serving.as_mut() => break Ending::Served(r),
                () = conn.changed.notified() => {}
                () = sleep => {
                    if conn.deadline(limits) == (phase, deadline) {
                        break Ending::Expired(phase);
                    }
                }
            }
        }
    };
    // hyper's connection is gone: the stream is ours again.
    let state = conn.state();
    let refusal = match ending {
        Ending::Served(result) => match state.held_back {
            Some(status) => Some(Refusal::for_hyper(status, state.line_len, result.err())),
            None => {
                if let Err(e) = result
                    && let Some(suppressed) = CONNECTION_FAILED.allow()
                {
                    tracing::debug!(%peer, error = %e, suppressed, "HTTP connection ended");
                }
                None
            }
        },
        Ending::Expired(Phase::Idle) => return,
        Ending::Expired(Phase::Head) => Some(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "header_timeout",
            format!(
                "the request head did not arrive within {} s ([http] header-timeout-secs)",
                limits.header_timeout.as_secs_f64()
            ),
        )),
        Ending::Expired(Phase::Request { .. }) if !state.answered => Some(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!(
                "the request was not answered within {} s ([http] request-timeout-secs)",
                limits.request_timeout.as_secs_f64()
            ),
        )),
        Ending::Expired(Phase::Request { .. }) => None,
    };
    match refusal {
        Some(r) => r.send(&mut stream).await,
        None => linger(&mut stream).await,
    }
}

/// Hands one request to the router: notes the phase, the client's address, and when the answer
/// has gone out.
fn respond(
    req: Request<Incoming>,
    conn: Arc<Conn>,
    peer: SocketAddr,
    router: Router,
) -> impl Future<Output = Result<Response<Sent>, Infallible>> {
    conn.set_phase(Phase::Request { streaming: false });
    let mut req = req.map(Body::new);
    req.extensions_mut().insert(Peer(peer));
    async move {
        let response = router.oneshot(req).await.unwrap_or_else(|never| match never {});
        let streaming = response.headers().get(axum::http::header::CONTENT_TYPE).is_some_and(|v| {
            // event streams, and state dumps (which keep their own deadline)
            v.as_bytes().starts_with(b"text/event-stream")
                || v.as_bytes() == npchain_api::dump::CONTENT_TYPE.as_bytes()
        });
        if streaming {
            conn.set_phase(Phase::Request { streaming: true });
        }
        Ok(response.map(|body| Sent { body, conn }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Head,
    Request { streaming: bool },
}

#[derive(Debug, Clone, Copy)]
struct State {
    phase: Phase,
    since: Instant,
    /// Bytes of an answer went out in this request phase.
    answered: bool,
    /// The answer's body is done (hyper dropped it); the request ends once it is flushed.
    body_done: bool,
    /// Bytes of this head read so far, and the length of its request line once it ended.
    head_read: usize,
    line_len: Option<usize>,
    /// The status of an answer hyper wrote by itself, held back.
    held_back: Option<u16>,
    /// The first bytes of that answer ("HTTP/1.1 NNN"), to read its status from.
    head: [u8; 12],
    head_len: usize,
}

/// What the connection's parts (its socket, the router's answers, the deadline loop) share.
struct Conn {
    state: Mutex<State>,
    changed: Notify,
}

impl Conn {
    fn new() -> Self {
        let state = State {
            phase: Phase::Idle,
            since: Instant::now(),
            answered: false,
            body_done: false,
            head_read: 0,
            line_len: None,
            held_back: None,
            head: [0; 12],
            head_len: 0,
        };
        Self { state: Mutex::new(state), changed: Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn state(&self) -> State {
        *self.lock()
    }

    fn set_phase(&self, phase: Phase) {
        let mut s = self.lock();
        if s.phase != phase {
            if !matches!((s.phase, phase), (Phase::Request { .. }, Phase::Request { .. })) {
                s.since = Instant::now();
                s.answered = false;
                s.body_done = false;
            }
            s.phase = phase;
            drop(s);
            self.changed.notify_one();
        }
    }

    /// The current phase and when it runs out (never, for an event stream).
    fn deadline(&self, limits: &crate::config::HttpLimits) -> (Phase, Option<Instant>) {
        let s = self.lock();
        let limit = match s.phase {
            Phase::Idle => Some(limits.idle_timeout),
            Phase::Head => Some(limits.header_timeout),
            Phase::Request { streaming: false } => Some(limits.request_timeout),
            Phase::Request { streaming: true } => None,
        };
        (s.phase, limit.map(|l| s.since + l))
    }

    fn read(&self, bytes: &[u8]) {
        let mut s = self.lock();
        let started = s.phase == Phase::Idle;
        if started {
            s.phase = Phase::Head;
            s.since = Instant::now();
            s.head_read = 0;
            s.line_len = None;
        }
        if s.phase == Phase::Head {
            if s.line_len.is_none() {
                s.line_len = bytes.iter().position(|b| *b == b'\n').map(|at| s.head_read + at);
            }
            s.head_read += bytes.len();
        }
        drop(s);
        if started {
            self.changed.notify_one();
        }
    }

    /// Whether to hold back these bytes: hyper's own answer to a head, written while no request
    /// is being served. Its status line is kept.
    fn hold_back(&self, bufs: &[io::IoSlice<'_>]) -> bool {
        let mut s = self.lock();
        if matches!(s.phase, Phase::Request { .. }) {
            return false;
        }
        for b in bufs {
            let (at, take) = (s.head_len, b.len().min(s.head.len() - s.head_len));
            s.head[at..at + take].copy_from_slice(&b[..take]);
            s.head_len += take;
        }
        if s.head_len == s.head.len() {
            // "HTTP/1.1 414"
            s.held_back = std::str::from_utf8(&s.head[9..]).ok().and_then(|t| t.parse().ok()).or(Some(400));
        }
        true
    }

    fn holding_back(&self) -> bool {
        let s = self.lock();
        !matches!(s.phase, Phase::Request { .. }) && s.head_len > 0
    }

    fn wrote(&self) {
        let mut s = self.lock();
        if matches!(s.phase, Phase::Request { .. }) {
            s.answered = true;
        }
    }

    fn body_done(&self) {
        self.lock().body_done = true;
    }

    /// Everything written so far is out: if the answer is complete, the request is over.
    fn flushed(&self) {
        if self.lock().body_done {
            self.set_phase(Phase::Idle);
        }
    }
}

/// The connection's socket as hyper sees it: reads mark the start of a head; writes of hyper's
/// own answers are held back; a flush after the answer's end ends the request.
struct Watched<'a> {
    io: &'a mut TcpStream,
    conn: &'a Conn,
}

impl AsyncRead for Watched<'_> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut *this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() > before
        {
            this.conn.read(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Watched<'_> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.conn.hold_back(&[io::IoSlice::new(buf)]) {
            return Poll::Ready(Ok(buf.len()));
        }
        let polled = Pin::new(&mut *this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            this.conn.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.conn.hold_back(bufs) {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let polled = Pin::new(&mut *this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            this.conn.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.holding_back() {
            return Poll::Ready(Ok(()));
        }
        let polled = Pin::new(&mut *this.io).poll_flush(cx);
        if let Poll::Ready(Ok(())) = polled {
            this.conn.flushed();
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.holding_back() {
            // The JSON refusal goes out first.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *this.io).poll_shutdown(cx)
    }
}

/// An answer's body, telling the connection when hyper is done with it.
pub(super) struct Sent {
    body: Body,
    conn: Arc<Conn>,
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.conn.body_done();
    }
}

impl http_body::Body for Sent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A refusal written straight to the socket, where hyper does not (or no longer does) answer:
/// the API's JSON error, with `Connection: close`.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u32>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        Self { status, code, message, retry_after: None }
    }

    fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The JSON for an answer hyper made itself, from its status.
    fn for_hyper(status: u16, line_len: Option<usize>, error: Option<hyper::Error>) -> Self {
        let why = error.map_or_else(String::new, |e| format!(": {e}"));
        match status {
            414 | 431 if line_len.is_none_or(|l| l > super::MAX_URI_BYTES) => Self::new(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                format!("the request line is longer than {} bytes", super::MAX_URI_BYTES),
            ),
            414 | 431 => Self::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "head_too_large",
                format!("the request head is longer than {MAX_HEAD_BYTES} bytes"),
            ),
            _ => Self::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the request is not valid HTTP/1.1{why}"),
            ),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let body = serde_json::json!({ "error": self.code, "message": self.message }).to_string();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ndate: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            httpdate::fmt_http_date(std::time::SystemTime::now()),
            body.len()
        );
        if let Some(secs) = self.retry_after {
            head.push_str(&format!("retry-after: {secs}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(&body);
        head.into_bytes()
    }

    /// Writes the refusal and closes, within [`LINGER`].
    async fn send(&self, stream: &mut TcpStream) {
        let bytes = self.bytes();
        let _ = tokio::time::timeout(LINGER, async {
            stream.write_all(&bytes).await?;
            drain(stream).await
        })
        .await;
    }
}

/// Closes our side and reads what the client still sends, until it closes too or [`LINGER`]
/// runs out: closing with unread bytes would reset the connection, and the client could lose
/// the answer it has not read yet.
async fn linger(stream: &mut TcpStream) {
    let _ = tokio::time::timeout(LINGER, drain(stream)).await;
}

async fn drain(stream: &mut TcpStream) -> io::Result<()> {
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}
