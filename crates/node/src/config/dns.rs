//! The `[dns]` section (optional: without it the node serves no ENUM): where the ENUM server
//! listens, its zone (apex, name servers, negative TTL), its threads, and its limits on DNS over
//! TCP.
//!
//! ```toml
//! [dns]
//! listen = "127.0.0.1:5300"
//! origin = "e164.arpa"        # optional: the zone apex
//! threads = 1                 # optional: UDP threads, each with its own socket (1 to 64)
//! negative-ttl = 300          # optional: seconds (0 to 86,400), the SOA minimum
//! max-tcp-connections = 128   # optional (1 to 65,536)
//! tcp-idle-timeout-ms = 5000  # optional (1 to 600,000)
//! [[dns.ns]]                  # optional, repeatable: the zone's name servers
//! name = "ns1.e164.arpa"
//! addresses = ["192.0.2.1", "2001:db8::1"]
//! ```
//!
//! - `threads`: each UDP thread has its own `SO_REUSEPORT` socket, and the kernel spreads the
//!   clients over them. DNS over TCP runs on one more thread.
//! - `negative-ttl`: how long resolvers may cache a negative answer and the zone's own records
//!   (SOA, NS, addresses). Number answers always have TTL 0. A newly assigned range may stay
//!   unknown this long to a resolver that asked for it before.
//! - `[[dns.ns]]`: the NS records (the first is the SOA `mname`). A name inside the zone needs
//!   `addresses` (served as A/AAAA records, the glue a resolver needs to reach it); one outside
//!   needs none. Without any, the zone has one name server, `ns.<origin>`, at the listen address
//!   (which must then not be a wildcard address such as 0.0.0.0).
//! - TCP: at most `max-tcp-connections` connections at once, each a file descriptor; one more
//!   is accepted and closed at once. A connection is closed after `tcp-idle-timeout-ms` without
//!   a whole request, or with an answer the client does not read; a connection's next request is
//!   not read while its answer waits. A failed accept (out of file descriptors) pauses accepting
//!   for 100 ms.
//! - UDP needs no descriptor per client; a datagram is read into 4 KiB, and an answer that does
//!   not fit the client's size (512 bytes without EDNS, at most 1232 with it) is truncated (TC).
//!   The log lines a client can cause are at most 10 a minute of each kind.

use crate::enum_dns::{
    DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_NEGATIVE_TTL, DEFAULT_TCP_IDLE_TIMEOUT, EnumConfig, EnumError,
    NsHost, TcpLimits,
};
use serde::Deserialize;
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDns {
    listen: SocketAddr,
    #[serde(default)]
    origin: Option<String>,
    threads: Option<usize>,
    negative_ttl: Option<u32>,
    #[serde(default)]
    ns: Vec<RawNs>,
    max_tcp_connections: Option<usize>,
    tcp_idle_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNs {
    name: String,
    #[serde(default)]
    addresses: Vec<IpAddr>,
}

/// A validated `[dns]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Where the server listens, UDP and TCP.
    pub listen: SocketAddr,
    /// UDP threads (and sockets).
    pub threads: usize,
    /// The zone: apex, name servers, negative TTL.
    pub zone: EnumConfig,
    /// Bounds on DNS over TCP.
    pub tcp: TcpLimits,
}

/// The ENUM zone apex unless the config names another.
pub const DEFAULT_ENUM_ORIGIN: &str = "e164.arpa";
/// UDP threads unless the config says otherwise.
pub const DEFAULT_DNS_THREADS: usize = 1;
/// The most `[dns] threads` may be.
pub const MAX_DNS_THREADS: usize = 64;

/// The most `[dns] max-tcp-connections` may be.
pub const MAX_DNS_TCP_CONNECTIONS: usize = 65_536;
/// The longest `[dns] tcp-idle-timeout-ms` may be (RFC 7766 §6.2.3 advises seconds).
pub const MAX_DNS_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

impl DnsConfig {
    /// A server at `listen` with every default: zone `e164.arpa` whose one name server is at the
    /// listen address.
    pub fn at(listen: SocketAddr) -> Self {
        Self {
            listen,
            threads: DEFAULT_DNS_THREADS,
            zone: EnumConfig::with_origin(DEFAULT_ENUM_ORIGIN, listen.ip()),
            tcp: TcpLimits::default(),
        }
    }

    /// The section as TOML, every key written out.
    pub(super) fn to_toml(&self) -> String {
        let mut out = format!(
            "\n[dns]\nlisten = \"{}\"\norigin = {:?}\nthreads = {}\nnegative-ttl = {}\nmax-tcp-connections = {}\ntcp-idle-timeout-ms = {}\n",
            self.listen,
            self.zone.origin,
            self.threads,
            self.zone.negative_ttl,
            self.tcp.max_connections,
            self.tcp.idle_timeout.as_millis()
        );
        for ns in &self.zone.ns {
            let addresses: Vec<String> =
                ns.addresses.iter().map(|a| format!("{:?}", a.to_string())).collect();
            out.push_str(&format!(
                "[[dns.ns]]\nname = {:?}\naddresses = [{}]\n",
                ns.name,
                addresses.join(", ")
            ));
        }
        out
    }
}

impl RawDns {
    /// The checked section.
    pub(super) fn check(self) -> Result<DnsConfig, DnsError> {
        let origin = self
            .origin
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
        let threads = self.threads.unwrap_or(DEFAULT_DNS_THREADS);
        if !(1..=MAX_DNS_THREADS).contains(&threads) {
            return Err(DnsError::Threads { got: threads });
        }
        let max_connections = self.max_tcp_connections.unwrap_or(DEFAULT_MAX_TCP_CONNECTIONS);
        if !(1..=MAX_DNS_TCP_CONNECTIONS).contains(&max_connections) {
            return Err(DnsError::MaxTcpConnections { got: max_connections });
        }
        let idle_timeout = match self.tcp_idle_timeout_ms {
            None => DEFAULT_TCP_IDLE_TIMEOUT,
            Some(ms) if ms == 0 || ms > MAX_DNS_TCP_IDLE_TIMEOUT.as_millis() as u64 => {
                return Err(DnsError::TcpIdleTimeout { got_ms: ms });
            }
            Some(ms) => Duration::from_millis(ms),
        };
        let ns = if self.ns.is_empty() {
            if self.listen.ip().is_unspecified() {
                return Err(DnsError::NsAddress { listen: self.listen });
            }
            EnumConfig::with_origin(&origin, self.listen.ip()).ns
        } else {
            self.ns.into_iter().map(|n| NsHost { name: n.name, addresses: n.addresses }).collect()
        };
        let zone = EnumConfig { origin, ns, negative_ttl: self.negative_ttl.unwrap_or(DEFAULT_NEGATIVE_TTL) };
        zone.check().map_err(DnsError::Zone)?;
        Ok(DnsConfig { listen: self.listen, threads, zone, tcp: TcpLimits { max_connections, idle_timeout } })
    }
}

/// Why a `[dns]` setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("origin {origin:?} is not a domain name")]
    Origin { origin: String },
    #[error("threads must be between 1 and {MAX_DNS_THREADS}; got {got}")]
    Threads { got: usize },
    #[error("max-tcp-connections must be between 1 and {MAX_DNS_TCP_CONNECTIONS}; got {got}")]
    MaxTcpConnections { got: usize },
    #[error("tcp-idle-timeout-ms must be between 1 and {}; got {got_ms}", MAX_DNS_TCP_IDLE_TIMEOUT.as_millis())]
    TcpIdleTimeout { got_ms: u64 },
    #[error(
        "listen = \"{listen}\" is a wildcard address, which cannot be the name server's address: name the zone's name servers and their addresses in [[dns.ns]]"
    )]
    NsAddress { listen: SocketAddr },
    #[error("{0}")]
    Zone(#[source] EnumError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, NodeConfig, tests::sample};
    use std::path::Path;

    fn parse(extra: &str) -> Result<DnsConfig, ConfigError> {
        let text = format!("{}\n[dns]\nlisten = \"127.0.0.1:4\"\n{extra}", sample());
        NodeConfig::parse(&text, Path::new("/")).map(|c| c.dns.expect("a [dns] section"))
    }

    #[test]
    fn dns_settings_have_defaults_and_round_trip() {
        let c = parse("").unwrap();
        assert_eq!(c, DnsConfig::at("127.0.0.1:4".parse().unwrap()));
        assert_eq!((c.threads, c.zone.negative_ttl), (DEFAULT_DNS_THREADS, DEFAULT_NEGATIVE_TTL));
        assert_eq!(
            c.zone.ns,
            vec![NsHost { name: "ns.e164.arpa".into(), addresses: vec!["127.0.0.1".parse().unwrap()] }]
        );
        let set = "threads = 3\nnegative-ttl = 60\nmax-tcp-connections = 16\ntcp-idle-timeout-ms = 1500\n\
                   [[dns.ns]]\nname = \"ns1.e164.arpa\"\naddresses = [\"192.0.2.1\", \"2001:db8::1\"]\n\
                   [[dns.ns]]\nname = \"ns.example.net\"\n";
        let c = parse(set).unwrap();
        assert_eq!((c.threads, c.zone.negative_ttl), (3, 60));
        assert_eq!(c.tcp, TcpLimits { max_connections: 16, idle_timeout: Duration::from_millis(1500) });
        assert_eq!(c.zone.ns.len(), 2);
        assert_eq!(c.zone.ns[0].addresses.len(), 2);
        let text = format!("{}{}", sample(), c.to_toml());
        assert_eq!(NodeConfig::parse(&text, Path::new("/")).unwrap().dns, Some(c));
    }

    #[test]
    fn bad_dns_settings_are_refused_with_the_key_and_value() {
        for (bad, says) in [
            ("max-tcp-connections = 0", "got 0"),
            ("max-tcp-connections = 65537", "got 65537"),
            ("tcp-idle-timeout-ms = 0", "got 0"),
            ("tcp-idle-timeout-ms = 600001", "got 600001"),
            ("threads = 0", "threads must be between 1 and 64; got 0"),
            ("threads = 65", "got 65"),
            ("negative-ttl = 86401", "negative-ttl must be at most 86400 seconds; got 86401"),
            ("[[dns.ns]]\nname = \"ns1.e164.arpa\"\n", "inside the zone"),
            ("[[dns.ns]]\nname = \"ns.example.net\"\naddresses = [\"192.0.2.1\"]\n", "outside the zone"),
            ("[[dns.ns]]\nname = \"4.e164.arpa\"\naddresses = [\"192.0.2.1\"]\n", "would be a number's name"),
            ("[[dns.ns]]\nname = \"ns..e164.arpa\"\n", "not a valid DNS name"),
            ("[[dns.ns]]\nname = \"a.example\"\n[[dns.ns]]\nname = \"A.example.\"\n", "listed twice"),
        ] {
            let err = parse(&format!("{bad}\n")).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let wildcard = format!("{}\n[dns]\nlisten = \"0.0.0.0:53\"\n", sample());
        let err = NodeConfig::parse(&wildcard, Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("wildcard") && err.contains("[[dns.ns]]"), "{err}");
        let typo = parse("max-connections = 16\n");
        assert!(matches!(typo, Err(ConfigError::Toml { .. })));
    }
}
