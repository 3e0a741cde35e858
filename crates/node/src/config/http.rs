//! The `[http]` section: where the API listens and what its port allows at once.
//!
//! Anyone who reaches the HTTP port can open connections, send slowly and hold event streams;
//! each of these is bounded (see [`HttpLimits`]), and every refusal is the API's JSON error:
//!
//! | key | default | what it bounds | at the limit |
//! |---|---|---|---|
//! | `max-connections` | 256 | open HTTP connections (event streams included) | 503 `too_many_connections`, `Connection: close`, `Retry-After: 1`; past 32 refusals at once, new connections wait in the kernel's backlog |
//! | `max-event-streams` | 128 | `GET /v1/events` streams of the node | 503 `too_many_streams` |
//! | `max-event-streams-per-client` | 16 | streams of one client (IPv4 address, IPv6 /64) | 429 `too_many_client_streams` |
//! | `body-mib-in-flight` | 64 | request-body bytes held by the whole node at once (at least 32: one full batch) | 503 `busy` |
//! | `header-timeout-secs` | 10 | from a request's first byte to the end of its head | 408 `header_timeout`, closed |
//! | `body-timeout-secs` | 60 | reading a request body, from the end of its head | 408 `body_timeout`, closed |
//! | `idle-timeout-secs` | 30 | a connection waiting for its first or next request | closed without an answer (RFC 9112 §9.8) |
//! | `request-timeout-secs` | 120 | from the end of a head to the last byte of its answer (event streams are exempt) | 503 `request_timeout` if nothing was answered yet, then closed |
//!
//! Fixed limits: a request head is at most 32 KiB (431 `head_too_large`, or 414 `uri_too_long`
//! when the request line alone is longer), a target at most 8 KiB (414), a body at most 300 KiB,
//! or 32 MiB for `POST /v1/txs` (413 `too_large`); one state dump (`GET /v1/state`) at a time
//! (503 `export_busy`), streamed for at most an hour (it keeps its own deadline instead of
//! `request-timeout-secs`). Why these defaults: our requests are small —
//! a head is under 1 KiB and arrives in one packet, so 10 s for it is generous where nginx allows
//! 60 s; a 32 MiB batch takes 32 s at 1 MB/s, inside the 60 s for a body; the longest request,
//! a full batch of 10,000 signatures, is verified in about a second.
//!
//! At start the node raises its soft open-file limit to the hard one and refuses to start if
//! `max-connections` (plus the 32 refusals), the ENUM server's TCP connections and a reserve
//! for storage and consensus (256, plus the files the consensus store holds) do not fit under
//! it; the error names the limit and each part.
//!

use super::ConfigError;
use serde::Deserialize;
use std::{net::SocketAddr, time::Duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawHttp {
    pub(super) listen: SocketAddr,
    max_connections: Option<usize>,
    max_event_streams: Option<usize>,
    max_event_streams_per_client: Option<usize>,
    body_mib_in_flight: Option<usize>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
}

impl RawHttp {
    pub(super) fn limits(&self) -> Result<HttpLimits, ConfigError> {
        let d = HttpLimits::default();
        let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
        let limits = HttpLimits {
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_event_streams: self.max_event_streams.unwrap_or(d.max_event_streams),
            max_event_streams_per_client: self
                .max_event_streams_per_client
                .unwrap_or(d.max_event_streams_per_client),
            body_bytes_in_flight: self.body_mib_in_flight.map_or(d.body_bytes_in_flight, |m| m << 20),
            header_timeout: secs(self.header_timeout_secs, d.header_timeout),
            body_timeout: secs(self.body_timeout_secs, d.body_timeout),
            idle_timeout: secs(self.idle_timeout_secs, d.idle_timeout),
            request_timeout: secs(self.request_timeout_secs, d.request_timeout),
        };
        limits.validate()?;
        Ok(limits)
    }
}

/// What the HTTP port allows at once and how long each phase of a request may take (the
/// `[http]` keys; the module documentation of `config::http` says what each refusal looks like).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections, event streams included.
    pub max_connections: usize,
    /// Event streams of the whole node.
    pub max_event_streams: usize,
    /// Event streams of one client: an IPv4 address, or an IPv6 /64 (one host's usual share).
    pub max_event_streams_per_client: usize,
    /// Request-body bytes the node holds at once, over all requests.
    pub body_bytes_in_flight: usize,
    /// From the first byte of a request to the end of its head.
    pub header_timeout: Duration,
    /// Reading a request body, from the end of its head.
    pub body_timeout: Duration,
    /// A connection waiting for its first or next request.
    pub idle_timeout: Duration,
    /// From the end of a request head to the last byte of the answer; event streams are exempt.
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_event_streams: 128,
            max_event_streams_per_client: 16,
            body_bytes_in_flight: 64 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(120),
        }
    }
}

impl HttpLimits {
    /// Checks the limits fit together.
    pub fn validate(&self) -> Result<(), HttpLimitError> {
        if !(1..=65_536).contains(&self.max_connections) {
            return Err(HttpLimitError::MaxConnections { got: self.max_connections });
        }
        if self.max_event_streams == 0 || self.max_event_streams > self.max_connections {
            return Err(HttpLimitError::MaxEventStreams {
                max_connections: self.max_connections,
                got: self.max_event_streams,
            });
        }
        if self.max_event_streams_per_client == 0
            || self.max_event_streams_per_client > self.max_event_streams
        {
            return Err(HttpLimitError::MaxEventStreamsPerClient {
                max_event_streams: self.max_event_streams,
                got: self.max_event_streams_per_client,
            });
        }
        let min_mib = crate::http::MAX_BATCH_BODY_BYTES >> 20;
        if !(min_mib << 20..=4096 << 20).contains(&self.body_bytes_in_flight) {
            return Err(HttpLimitError::BodyInFlight { min_mib, got_mib: self.body_bytes_in_flight >> 20 });
        }
        let timeouts = [
            ("header-timeout-secs", self.header_timeout),
            ("body-timeout-secs", self.body_timeout),
            ("idle-timeout-secs", self.idle_timeout),
            ("request-timeout-secs", self.request_timeout),
        ];
        for (key, t) in timeouts {
            if t.is_zero() || t > Duration::from_secs(86_400) {
                return Err(HttpLimitError::Timeout { key, got_secs: t.as_secs() });
            }
        }
        if self.body_timeout >= self.request_timeout {
            return Err(HttpLimitError::BodyAfterRequest {
                body_secs: self.body_timeout.as_secs(),
                request_secs: self.request_timeout.as_secs(),
            });
        }
        Ok(())
    }
}

/// Why `[http]` limits do not fit together (each names its key and the value given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpLimitError {
    #[error("max-connections must be 1 to 65536; got {got}")]
    MaxConnections { got: usize },
    #[error("max-event-streams must be 1 to max-connections ({max_connections}); got {got}")]
    MaxEventStreams { max_connections: usize, got: usize },
    #[error("max-event-streams-per-client must be 1 to max-event-streams ({max_event_streams}); got {got}")]
    MaxEventStreamsPerClient { max_event_streams: usize, got: usize },
    #[error("body-mib-in-flight must be {min_mib} (one full batch) to 4096; got {got_mib}")]
    BodyInFlight { min_mib: usize, got_mib: usize },
    #[error("{key} must be 1 to 86400; got {got_secs}")]
    Timeout { key: &'static str, got_secs: u64 },
    #[error(
        "body-timeout-secs ({body_secs}) must be less than request-timeout-secs ({request_secs}): the \
         request deadline covers reading the body"
    )]
    BodyAfterRequest { body_secs: u64, request_secs: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NodeConfig, tests::sample};
    use std::path::Path;

    #[test]
    fn the_http_limits_have_defaults_settings_and_bounds() {
        let c = NodeConfig::parse(&sample(), Path::new("/")).unwrap();
        assert_eq!(c.http, HttpLimits::default());
        let set = sample().replace(
            "listen = \"127.0.0.1:3\"\n",
            "listen = \"127.0.0.1:3\"\nmax-connections = 100\nmax-event-streams = 10\nmax-event-streams-per-client = 2\nbody-mib-in-flight = 40\nheader-timeout-secs = 5\nbody-timeout-secs = 20\nidle-timeout-secs = 7\nrequest-timeout-secs = 30\n",
        );
        let c = NodeConfig::parse(&set, Path::new("/")).unwrap();
        let expected = HttpLimits {
            max_connections: 100,
            max_event_streams: 10,
            max_event_streams_per_client: 2,
            body_bytes_in_flight: 40 << 20,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(7),
            request_timeout: Duration::from_secs(30),
        };
        assert_eq!(c.http, expected);
        assert_eq!(NodeConfig::parse(&c.to_toml(), Path::new("/")).unwrap().http, expected, "round trip");
        for (from, to, names) in [
            ("max-connections = 100", "max-connections = 0", "max-connections"),
            ("max-event-streams = 10", "max-event-streams = 101", "max-event-streams"),
            ("max-event-streams-per-client = 2", "max-event-streams-per-client = 11", "per-client"),
            ("body-mib-in-flight = 40", "body-mib-in-flight = 8", "one full batch"),
            ("header-timeout-secs = 5", "header-timeout-secs = 0", "header-timeout-secs"),
            ("body-timeout-secs = 20", "body-timeout-secs = 30", "less than request-timeout-secs"),
        ] {
            let err = NodeConfig::parse(&set.replace(from, to), Path::new("/")).unwrap_err().to_string();
            assert!(err.contains(names), "{to}: {err}");
        }
        let typo = set.replace("idle-timeout-secs", "idle-timeout");
        assert!(matches!(NodeConfig::parse(&typo, Path::new("/")), Err(ConfigError::Toml { .. })));
    }
}
