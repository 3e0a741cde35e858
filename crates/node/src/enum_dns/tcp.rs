//! DNS over TCP (RFC 7766): an accept loop and the two-byte length framing (RFC 1035 §4.2.2)
//! around [`Responder`].
//!
//! Limits on what a remote party can take ([`TcpLimits`], `[dns]` in the node config): at most
//! `max-tcp-connections` TCP connections at once (more are accepted and closed at once), each
//! closed after `tcp-idle-timeout-ms` without a whole request or with a response the client
//! does not read; a connection's next request is not read while its response is being written,
//! so a connection holds at most one request (65,535 bytes) and one response. A failed accept
//! (such as EMFILE) pauses the accept loop for [`ACCEPT_ERROR_PAUSE`]. Every log line a remote
//! party can cause is rate-limited ([`LogLimit`](crate::loglimit::LogLimit):
//! [`LOG_BURST`](super::LOG_BURST) lines per [`LOG_WINDOW`](super::LOG_WINDOW), then a count of
//! those left out).

use super::answer::{Responder, Transport};
use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    task::JoinSet,
    time::timeout,
};

/// TCP connections served at once unless the config says otherwise (`[dns] max-tcp-connections`).
pub const DEFAULT_MAX_TCP_CONNECTIONS: usize = 128;
/// How long a TCP connection may go without a whole request before the server closes it, unless
/// the config says otherwise (`[dns] tcp-idle-timeout-ms`). RFC 7766 §6.2.3: a few seconds.
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the TCP accept loop waits after an accept failed other than by the connection's own
/// end, such as for lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): the pending connection
/// stays queued, so retrying at once would spin.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Bounds on DNS over TCP (RFC 7766), for file descriptors and memory a client can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections served at once; one more is accepted and closed at once.
    pub max_connections: usize,
    /// How long a connection may go without a whole request (or with a response the client does
    /// not read) before it is closed.
    pub idle_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self { max_connections: DEFAULT_MAX_TCP_CONNECTIONS, idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT }
    }
}

/// Serves DNS over TCP on the connections `accept` yields, at most `limits.max_connections` at
/// once; never returns. A connection beyond the cap is closed at once (the client sees the
/// connection end and may try again later); a failed accept that is not the connection's own
/// fault pauses the loop for [`ACCEPT_ERROR_PAUSE`] instead of spinning on it.
pub(super) async fn serve<S, F, Fut>(
    mut accept: F,
    responder: Arc<Responder>,
    limits: TcpLimits,
) -> std::convert::Infallible
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<(S, SocketAddr)>>,
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = match accept().await {
            Ok(accepted) => accepted,
            // the connection was gone before it was accepted: nothing to wait for
            Err(e)
                if matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) =>
            {
                continue;
            }
            Err(error) => {
                if let Some(suppressed) = responder.logs.accept_failed.allow() {
                    tracing::warn!(
                        %error,
                        suppressed,
                        pause_ms = ACCEPT_ERROR_PAUSE.as_millis() as u64,
                        "ENUM over TCP: accepting a connection failed; pausing"
                    );
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if connections.len() >= limits.max_connections {
            drop(stream);
            if let Some(suppressed) = responder.logs.tcp_refused.allow() {
                tracing::warn!(
                    %peer,
                    max_connections = limits.max_connections,
                    suppressed,
                    "ENUM over TCP: connection refused, at the connection cap"
                );
            }
            continue;
        }
        connections.spawn(serve_connection(stream, responder.clone(), limits.idle_timeout));
    }
}

/// Answers the requests of one TCP connection in turn, until the client closes it, or `idle`
/// passes without a whole request or with a response not taken.
async fn serve_connection<S>(mut stream: S, responder: Arc<Responder>, idle: Duration)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut request = Vec::new();
    let mut response = Vec::new();
    let mut framed = Vec::new();
    loop {
        let read = async {
            let len = stream.read_u16().await?;
            request.resize(usize::from(len), 0);
            stream.read_exact(&mut request).await
        };
        if !matches!(timeout(idle, read).await, Ok(Ok(_))) {
            return;
        }
        let Some(outcome) = responder.respond(&request, false, Transport::Tcp, &mut response) else {
            continue;
        };
        responder.metrics.queries("enum", outcome.label(), 1);
        framed.clear();
        // a TCP response takes at most 65,535 bytes (the encoder's bound)
        framed.extend_from_slice(&(response.len() as u16).to_be_bytes());
        framed.extend_from_slice(&response);
        if !matches!(timeout(idle, stream.write_all(&framed)).await, Ok(Ok(()))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        enum_dns::{EnumConfig, LOG_BURST},
        metrics::Metrics,
    };
    use npchain_core::Routes;
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Counts the events at WARN and above.
    struct CountWarnings(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountWarnings {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            if *event.metadata().level() <= tracing::Level::WARN {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn responder() -> Arc<Responder> {
        let config = EnumConfig::with_origin("e164.arpa", Ipv4Addr::LOCALHOST.into());
        Arc::new(Responder::new(Routes::default(), &config, Arc::new(Metrics::default())).unwrap())
    }

    /// With the clock paused, a sleep only ends when the runtime has nothing else to do, and time
    /// jumps to it: a loop that spun on the error would reach its thousandth accept at once.
    #[tokio::test(start_paused = true)]
    async fn a_failing_accept_pauses_the_loop_and_logs_a_bounded_number_of_lines() {
        const FAILURES: usize = 1_000;
        let warnings = Arc::new(AtomicUsize::new(0));
        let _log = tracing::subscriber::set_default(
            tracing_subscriber::registry().with(CountWarnings(warnings.clone())),
        );
        let (calls, paused) = failing_accepts(FAILURES, || io::Error::from_raw_os_error(24)).await;
        assert_eq!(calls, FAILURES + 1);
        assert!(paused >= ACCEPT_ERROR_PAUSE * FAILURES as u32, "paused {paused:?} in all");
        let lines = warnings.load(Ordering::Relaxed);
        assert!((1..=LOG_BURST as usize).contains(&lines), "{lines} lines for {FAILURES} failures");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_gone_before_it_was_accepted_does_not_pause_the_loop() {
        let (calls, paused) = failing_accepts(100, || io::ErrorKind::ConnectionAborted.into()).await;
        assert_eq!((calls, paused), (101, Duration::ZERO));
    }

    /// Runs the TCP loop over an accept that fails `failures` times with `error` (24 is EMFILE:
    /// the process is out of file descriptors), then waits forever: the accepts made and the
    /// (paused-clock) time they took.
    async fn failing_accepts(failures: usize, error: impl Fn() -> io::Error) -> (usize, Duration) {
        let calls = AtomicUsize::new(0);
        let done = tokio::sync::Notify::new();
        let accept = || {
            let call = calls.fetch_add(1, Ordering::Relaxed);
            let (done, error) = (&done, &error);
            async move {
                if call < failures {
                    Err::<(tokio::io::DuplexStream, SocketAddr), _>(error())
                } else {
                    done.notify_one();
                    std::future::pending().await
                }
            }
        };
        let started = tokio::time::Instant::now();
        tokio::select! {
            never = serve(accept, responder(), TcpLimits::default()) => match never {},
            () = done.notified() => {}
        }
        (calls.load(Ordering::Relaxed), started.elapsed())
    }
}
