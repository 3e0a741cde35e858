//! The `[dns]` section (optional: without it the node serves no ENUM): where the ENUM server
//! listens, its zone apex, and its limits on DNS over TCP.
//!
//! At most `max-tcp-connections` (default 128, at most 65,536) TCP
//! connections at once, each a file descriptor; one more is accepted and closed at once. A
//! connection is closed after `tcp-idle-timeout-ms` (default 5000, at most 600,000) without a
//! whole request, or with an answer the client does not read; a connection's next request is
//! not read while its answer waits. A failed accept (out of file descriptors) pauses accepting
//! for 100 ms. UDP needs no descriptor per client; a datagram is read into 4 KiB, and an answer
//! that does not fit the client's size (512 bytes without EDNS) is truncated (TC). The log lines
//! a client can cause are at most 10 a minute of each kind.

use crate::enum_dns::{DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_TCP_IDLE_TIMEOUT};
use serde::Deserialize;
use std::{net::SocketAddr, time::Duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDns {
    pub(super) listen: SocketAddr,
    #[serde(default)]
    origin: Option<String>,
    max_tcp_connections: Option<usize>,
    tcp_idle_timeout_ms: Option<u64>,
}

/// The ENUM zone apex unless the config names another.
pub const DEFAULT_ENUM_ORIGIN: &str = "e164.arpa";

/// The most `[dns] max-tcp-connections` may be.
pub const MAX_DNS_TCP_CONNECTIONS: usize = 65_536;
/// The longest `[dns] tcp-idle-timeout-ms` may be (RFC 7766 §6.2.3 advises seconds).
pub const MAX_DNS_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

impl RawDns {
    /// The zone apex, lower case without a trailing dot (the default without a `[dns]` section).
    pub(super) fn origin(raw: Option<&Self>) -> Result<String, DnsError> {
        let origin = raw
            .and_then(|d| d.origin.clone())
            .unwrap_or_else(|| DEFAULT_ENUM_ORIGIN.into())
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if origin.is_empty()
            || origin.split('.').any(|l| {
                l.is_empty() || l.len() > 63 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            return Err(DnsError::Origin { origin });
        }
        Ok(origin)
    }

    /// `max-tcp-connections` and `tcp-idle-timeout-ms`, checked, or their defaults.
    pub(super) fn tcp_limits(raw: Option<&Self>) -> Result<(usize, Duration), DnsError> {
        let max_connections = raw.and_then(|d| d.max_tcp_connections).unwrap_or(DEFAULT_MAX_TCP_CONNECTIONS);
        if !(1..=MAX_DNS_TCP_CONNECTIONS).contains(&max_connections) {
            return Err(DnsError::MaxTcpConnections { got: max_connections });
        }
        let idle_timeout = match raw.and_then(|d| d.tcp_idle_timeout_ms) {
            None => DEFAULT_TCP_IDLE_TIMEOUT,
            Some(ms) if ms == 0 || ms > MAX_DNS_TCP_IDLE_TIMEOUT.as_millis() as u64 => {
                return Err(DnsError::TcpIdleTimeout { got_ms: ms });
            }
            Some(ms) => Duration::from_millis(ms),
        };
        Ok((max_connections, idle_timeout))
    }
}

/// Why a `[dns]` setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("origin {origin:?} is not a domain name")]
    Origin { origin: String },
    #[error("max-tcp-connections must be between 1 and {MAX_DNS_TCP_CONNECTIONS}; got {got}")]
    MaxTcpConnections { got: usize },
    #[error("tcp-idle-timeout-ms must be between 1 and {}; got {got_ms}", MAX_DNS_TCP_IDLE_TIMEOUT.as_millis())]
    TcpIdleTimeout { got_ms: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, NodeConfig, tests::sample};
    use std::path::Path;

    #[test]
    fn dns_limits_have_defaults_settings_and_bounds() {
        let dns = format!("{}\n[dns]\nlisten = \"127.0.0.1:4\"\n", sample());
        let c = NodeConfig::parse(&dns, Path::new("/")).unwrap();
        assert_eq!(c.dns_max_tcp_connections, crate::enum_dns::DEFAULT_MAX_TCP_CONNECTIONS);
        assert_eq!(c.dns_tcp_idle_timeout, crate::enum_dns::DEFAULT_TCP_IDLE_TIMEOUT);
        let set = format!("{dns}max-tcp-connections = 16\ntcp-idle-timeout-ms = 1500\n");
        let c = NodeConfig::parse(&set, Path::new("/")).unwrap();
        assert_eq!((c.dns_max_tcp_connections, c.dns_tcp_idle_timeout), (16, Duration::from_millis(1500)));
        let again = NodeConfig::parse(&c.to_toml(), Path::new("/")).unwrap();
        assert_eq!(
            (again.dns_max_tcp_connections, again.dns_tcp_idle_timeout),
            (16, Duration::from_millis(1500))
        );
        for (bad, key) in [
            ("max-tcp-connections = 0", "max-tcp-connections"),
            ("max-tcp-connections = 65537", "max-tcp-connections"),
            ("tcp-idle-timeout-ms = 0", "tcp-idle-timeout-ms"),
            ("tcp-idle-timeout-ms = 600001", "tcp-idle-timeout-ms"),
        ] {
            let text = format!("{dns}{bad}\n");
            let err = NodeConfig::parse(&text, Path::new("/")).unwrap_err().to_string();
            let value = bad.rsplit(' ').next().unwrap();
            assert!(err.contains(key) && err.contains(&format!("got {value}")), "{bad}: {err}");
        }
        let typo = format!("{dns}max-connections = 16\n");
        assert!(matches!(NodeConfig::parse(&typo, Path::new("/")), Err(ConfigError::Toml { .. })));
    }
}
