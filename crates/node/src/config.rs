//! A node's configuration file (TOML). Paths in it are relative to the file's directory.
//!
//! ```toml
//! data_dir = "data"
//! genesis = "genesis.toml"
//! ported = "ported.csv"          # optional migration list, the same file on every node
//! validator_key = "validator.key"  # this node's consensus and p2p identity
//! operator_key = "operator.key"    # optional: the operator's signing key
//! admin_token = "admin.token"      # optional: enables operator actions over HTTP
//!
//! [p2p]
//! listen = "0.0.0.0:7400"
//! allow-private-ips = true         # the peers below are at private addresses (default false)
//! # optional, defaults shown (commonware's production configuration):
//! # max-concurrent-handshakes = 64
//! # handshake-timeout-ms = 5000
//! # handshake-interval-per-ip-ms = 5000
//! # handshakes-per-subnet-per-sec = 64
//! # reconnect-cooldown-ms = 60000
//! # block-duration-secs = 14400
//! [[p2p.peers]]
//! key = "…64 hex…"
//! address = "10.0.0.2:7400"
//!
//! [http]
//! listen = "127.0.0.1:8400"
//! max-connections = 256            # optional, these are the defaults; see "HTTP limits" below
//! max-event-streams = 128
//! max-event-streams-per-client = 16
//! body-mib-in-flight = 64
//! header-timeout-secs = 10
//! body-timeout-secs = 60
//! idle-timeout-secs = 30
//! request-timeout-secs = 120
//!
//! [dns]
//! listen = "127.0.0.1:5300"
//! origin = "e164.arpa"             # optional: the ENUM zone apex
//! max-tcp-connections = 128        # optional
//! tcp-idle-timeout-ms = 5000       # optional
//!
//! [storage]                        # optional
//! cache-mib = 1024                 # the ledger store's page cache (redb)
//! ```
//!
//! Every validator of the genesis must be listed as a peer (its own entry may be left out);
//! any other peer is an observer that follows the chain without voting.
//!
//! # HTTP limits
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
//! or 32 MiB for `POST /v1/txs` (413 `too_large`). Why these defaults: our requests are small —
//! a head is under 1 KiB and arrives in one packet, so 10 s for it is generous where nginx allows
//! 60 s; a 32 MiB batch takes 32 s at 1 MB/s, inside the 60 s for a body; the longest request,
//! a full batch of 10,000 signatures, is verified in about a second.
//!
//! At start the node raises its soft open-file limit to the hard one and refuses to start if
//! `max-connections` (plus the 32 refusals), the ENUM server's TCP connections and a reserve
//! for storage and consensus (256, plus the files the consensus store holds) do not fit under
//! it; the error names the limit and each part.
//!
//! # Limits on what others can take
//!
//! **DNS (`[dns]`).** At most `max-tcp-connections` (default 128, at most 65,536) TCP
//! connections at once, each a file descriptor; one more is accepted and closed at once. A
//! connection is closed after `tcp-idle-timeout-ms` (default 5000, at most 600,000) without a
//! whole request, or with an answer the client does not read; a connection's next request is
//! not read while its answer waits. A failed accept (out of file descriptors) pauses accepting
//! for 100 ms. UDP needs no descriptor per client; a datagram is read into 4 KiB, and an answer
//! that does not fit the client's size (512 bytes without EDNS) is truncated (TC). The log lines
//! a client can cause are at most 10 a minute of each kind.
//!
//! **p2p (`[p2p]`).** Only the configured peers' keys are admitted, and only from their
//! addresses' IPs: a connection from any other IP is closed before the handshake. Then:
//!
//! | key | default | bounds |
//! |---|---|---|
//! | `allow-private-ips` | false | admit peers at private, loopback or link-local addresses; a peer at such an address in this file without it is a config error |
//! | `max-concurrent-handshakes` | 64 | handshakes in progress at once (each a descriptor); commonware recommends 512 for open networks |
//! | `handshake-timeout-ms` | 5000 | time an accepted connection has to authenticate |
//! | `handshake-interval-per-ip-ms` | 5000 | one handshake per interval from one IP address (so one at a time) |
//! | `handshakes-per-subnet-per-sec` | 64 | handshakes per second from one /24 (IPv4) or /48 (IPv6) |
//! | `reconnect-cooldown-ms` | 60000 | least time between two connection attempts to one peer |
//! | `block-duration-secs` | 14400 | how long a peer that broke the protocol is refused |
//!
//! Fixed: a dial takes at most 15 s, one dial a second, a ping every 50 s (a peer's pings are
//! limited to one per 25 s), messages at most the largest block's encoding plus 1 KiB, and per
//! peer and channel a message rate (votes and certificates 1,000/s, fetches and backfill 500/s,
//! blocks 100/s, transactions 5,000/s; `consensus::channel_quota`), which also sizes each
//! channel's inbound queue. A devnet (all nodes on loopback) writes `allow-private-ips = true`,
//! `handshake-interval-per-ip-ms = 50` and `reconnect-cooldown-ms = 1000`
//! ([`P2pSettings::loopback`]): every peer shares one address, and a restarted node is dialled
//! again within a second.

use npchain_core::types::{PublicKey, parse_public_key};
use serde::Deserialize;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Toml {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("config: peer {index}: {reason}")]
    Peer { index: usize, reason: String },
    #[error("config: {0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: PathBuf,
    genesis: PathBuf,
    #[serde(default)]
    ported: Option<PathBuf>,
    validator_key: PathBuf,
    #[serde(default)]
    operator_key: Option<PathBuf>,
    #[serde(default)]
    admin_token: Option<PathBuf>,
    p2p: RawP2p,
    http: RawHttp,
    #[serde(default)]
    dns: Option<RawDns>,
    #[serde(default)]
    consensus: Option<Timing>,
    #[serde(default)]
    storage: Option<RawStorage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStorage {
    cache_mib: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawP2p {
    listen: SocketAddr,
    #[serde(default)]
    peers: Vec<RawPeer>,
    allow_private_ips: Option<bool>,
    max_concurrent_handshakes: Option<u32>,
    handshake_timeout_ms: Option<u64>,
    handshake_interval_per_ip_ms: Option<u64>,
    handshakes_per_subnet_per_sec: Option<u32>,
    reconnect_cooldown_ms: Option<u64>,
    block_duration_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    key: String,
    address: SocketAddr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawHttp {
    listen: SocketAddr,
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
    fn limits(&self) -> Result<HttpLimits, ConfigError> {
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
/// `[http]` keys; the module documentation says what each refusal looks like).
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
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(format!("http {m}")));
        if !(1..=65_536).contains(&self.max_connections) {
            return bad(format!("max-connections must be 1 to 65536; got {}", self.max_connections));
        }
        if self.max_event_streams == 0 || self.max_event_streams > self.max_connections {
            return bad(format!(
                "max-event-streams must be 1 to max-connections ({}); got {}",
                self.max_connections, self.max_event_streams
            ));
        }
        if self.max_event_streams_per_client == 0
            || self.max_event_streams_per_client > self.max_event_streams
        {
            return bad(format!(
                "max-event-streams-per-client must be 1 to max-event-streams ({}); got {}",
                self.max_event_streams, self.max_event_streams_per_client
            ));
        }
        let min_mib = crate::http::MAX_BATCH_BODY_BYTES >> 20;
        if !(min_mib << 20..=4096 << 20).contains(&self.body_bytes_in_flight) {
            return bad(format!(
                "body-mib-in-flight must be {min_mib} (one full batch) to 4096; got {}",
                self.body_bytes_in_flight >> 20
            ));
        }
        let timeouts = [
            ("header-timeout-secs", self.header_timeout),
            ("body-timeout-secs", self.body_timeout),
            ("idle-timeout-secs", self.idle_timeout),
            ("request-timeout-secs", self.request_timeout),
        ];
        for (key, t) in timeouts {
            if t.is_zero() || t > Duration::from_secs(86_400) {
                return bad(format!("{key} must be 1 to 86400; got {}", t.as_secs()));
            }
        }
        if self.body_timeout >= self.request_timeout {
            return bad(format!(
                "body-timeout-secs ({}) must be less than request-timeout-secs ({}): the request \
                 deadline covers reading the body",
                self.body_timeout.as_secs(),
                self.request_timeout.as_secs()
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDns {
    listen: SocketAddr,
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

/// The p2p network's limits (`[p2p]`). The defaults are commonware's production configuration
/// (`lookup::Config::recommended`), except [`Self::max_concurrent_handshakes`]; see the module
/// doc for what each bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2pSettings {
    /// Accept and keep peers at private, loopback or link-local addresses (`allow-private-ips`,
    /// default false). Needed on a private network and on a loopback devnet.
    pub allow_private_ips: bool,
    /// Handshakes in progress at once, each holding a socket (`max-concurrent-handshakes`,
    /// default 64; commonware's recommendation is 512, for open networks).
    pub max_concurrent_handshakes: u32,
    /// Time a connection has to authenticate (`handshake-timeout-ms`, default 5000).
    pub handshake_timeout: Duration,
    /// One handshake per this interval from one IP address (`handshake-interval-per-ip-ms`,
    /// default 5000: with the handshake timeout, one handshake at a time per address).
    pub handshake_interval_per_ip: Duration,
    /// Handshakes per second from one /24 (IPv4) or /48 (IPv6) subnet
    /// (`handshakes-per-subnet-per-sec`, default 64).
    pub handshakes_per_subnet_per_sec: u32,
    /// Least time between two connection attempts to one peer (`reconnect-cooldown-ms`,
    /// default 60000).
    pub reconnect_cooldown: Duration,
    /// How long a peer that broke the protocol stays blocked (`block-duration-secs`, default
    /// 14400, four hours).
    pub block_duration: Duration,
}

impl Default for P2pSettings {
    fn default() -> Self {
        Self {
            allow_private_ips: false,
            max_concurrent_handshakes: 64,
            handshake_timeout: Duration::from_secs(5),
            handshake_interval_per_ip: Duration::from_secs(5),
            handshakes_per_subnet_per_sec: 64,
            reconnect_cooldown: Duration::from_secs(60),
            block_duration: Duration::from_secs(4 * 3600),
        }
    }
}

impl P2pSettings {
    /// For nodes that all run on one machine (a devnet, the tests): every peer is at a loopback
    /// address, so one address makes every peer's handshakes and must be allowed several a
    /// second, and a restarted node should be dialled again within a second.
    pub fn loopback() -> Self {
        Self {
            allow_private_ips: true,
            handshake_interval_per_ip: Duration::from_millis(50),
            reconnect_cooldown: Duration::from_secs(1),
            ..Self::default()
        }
    }

    fn from_raw(raw: &RawP2p) -> Result<Self, ConfigError> {
        /// The value given, which must not be 0, else the default.
        fn positive<T: Copy + Default + PartialEq + std::fmt::Display>(
            key: &str,
            value: Option<T>,
            default: T,
        ) -> Result<T, ConfigError> {
            match value {
                Some(v) if v == T::default() => {
                    Err(ConfigError::Invalid(format!("p2p {key} must be greater than 0; got {v}")))
                }
                Some(v) => Ok(v),
                None => Ok(default),
            }
        }
        let d = Self::default();
        let ms = |key, value, default: Duration| {
            positive(key, value, default.as_millis() as u64).map(Duration::from_millis)
        };
        Ok(Self {
            allow_private_ips: raw.allow_private_ips.unwrap_or(d.allow_private_ips),
            max_concurrent_handshakes: positive(
                "max-concurrent-handshakes",
                raw.max_concurrent_handshakes,
                d.max_concurrent_handshakes,
            )?,
            handshake_timeout: ms("handshake-timeout-ms", raw.handshake_timeout_ms, d.handshake_timeout)?,
            handshake_interval_per_ip: ms(
                "handshake-interval-per-ip-ms",
                raw.handshake_interval_per_ip_ms,
                d.handshake_interval_per_ip,
            )?,
            handshakes_per_subnet_per_sec: positive(
                "handshakes-per-subnet-per-sec",
                raw.handshakes_per_subnet_per_sec,
                d.handshakes_per_subnet_per_sec,
            )?,
            reconnect_cooldown: ms("reconnect-cooldown-ms", raw.reconnect_cooldown_ms, d.reconnect_cooldown)?,
            block_duration: Duration::from_secs(positive(
                "block-duration-secs",
                raw.block_duration_secs,
                d.block_duration.as_secs(),
            )?),
        })
    }

    fn to_toml(&self) -> String {
        format!(
            "allow-private-ips = {}\nmax-concurrent-handshakes = {}\nhandshake-timeout-ms = {}\n\
             handshake-interval-per-ip-ms = {}\nhandshakes-per-subnet-per-sec = {}\n\
             reconnect-cooldown-ms = {}\nblock-duration-secs = {}\n",
            self.allow_private_ips,
            self.max_concurrent_handshakes,
            self.handshake_timeout.as_millis(),
            self.handshake_interval_per_ip.as_millis(),
            self.handshakes_per_subnet_per_sec,
            self.reconnect_cooldown.as_millis(),
            self.block_duration.as_secs(),
        )
    }
}

/// Consensus timeouts, in milliseconds.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Timing {
    pub leader_timeout_ms: u64,
    pub certification_timeout_ms: u64,
    pub timeout_retry_ms: u64,
    pub fetch_timeout_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            leader_timeout_ms: 1_000,
            certification_timeout_ms: 2_000,
            timeout_retry_ms: 500,
            fetch_timeout_ms: 1_000,
        }
    }
}

impl Timing {
    pub fn leader_timeout(&self) -> Duration {
        Duration::from_millis(self.leader_timeout_ms)
    }
    pub fn certification_timeout(&self) -> Duration {
        Duration::from_millis(self.certification_timeout_ms)
    }
    pub fn timeout_retry(&self) -> Duration {
        Duration::from_millis(self.timeout_retry_ms)
    }
    pub fn fetch_timeout(&self) -> Duration {
        Duration::from_millis(self.fetch_timeout_ms)
    }

    /// The engine refuses (by panicking) timeouts out of order; say so clearly instead.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.leader_timeout_ms == 0 || self.fetch_timeout_ms == 0 || self.timeout_retry_ms == 0 {
            return Err(ConfigError::Invalid("consensus timeouts must be greater than zero".into()));
        }
        if self.certification_timeout_ms <= self.leader_timeout_ms {
            return Err(ConfigError::Invalid(format!(
                "consensus certification-timeout-ms ({}) must be greater than leader-timeout-ms ({})",
                self.certification_timeout_ms, self.leader_timeout_ms
            )));
        }
        Ok(())
    }
}

/// One other node: its identity (validator key) and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub key: PublicKey,
    pub address: SocketAddr,
}

/// A validated node configuration with absolute paths.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub genesis: PathBuf,
    pub ported: Option<PathBuf>,
    pub validator_key: PathBuf,
    pub operator_key: Option<PathBuf>,
    /// A file holding the token that operator actions over HTTP must present.
    pub admin_token: Option<PathBuf>,
    pub p2p_listen: SocketAddr,
    pub peers: Vec<Peer>,
    pub http_listen: SocketAddr,
    /// Caps and timeouts of the HTTP port.
    pub http: HttpLimits,
    pub dns_listen: Option<SocketAddr>,
    /// The ENUM zone apex (e.g. `e164.arpa`).
    pub enum_origin: String,
    /// DNS-over-TCP connections served at once (`[dns] max-tcp-connections`); each holds a file
    /// descriptor. Only used with `dns_listen`.
    pub dns_max_tcp_connections: usize,
    /// How long a DNS-over-TCP connection may go without a whole request
    /// (`[dns] tcp-idle-timeout-ms`).
    pub dns_tcp_idle_timeout: Duration,
    /// The p2p network's limits (`[p2p]`).
    pub p2p: P2pSettings,
    pub timing: Timing,
    /// The ledger store's page cache, in MiB.
    pub storage_cache_mib: usize,
}

impl NodeConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: name.clone(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| match e {
            ConfigError::Toml { source, .. } => ConfigError::Toml { path: name, source },
            other => other,
        })
    }

    /// Parses a configuration; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|source| ConfigError::Toml { path: String::new(), source })?;
        let p2p = P2pSettings::from_raw(&raw.p2p)?;
        let mut peers = Vec::with_capacity(raw.p2p.peers.len());
        for (index, p) in raw.p2p.peers.into_iter().enumerate() {
            let key =
                parse_public_key(&p.key).map_err(|e| ConfigError::Peer { index, reason: e.to_string() })?;
            if peers.iter().any(|q: &Peer| q.key == key) {
                return Err(ConfigError::Peer { index, reason: "key listed twice".into() });
            }
            if peers.iter().any(|q: &Peer| q.address == p.address) {
                return Err(ConfigError::Peer {
                    index,
                    reason: format!("address {} listed twice", p.address),
                });
            }
            peers.push(Peer { key, address: p.address });
        }
        if !p2p.allow_private_ips {
            use commonware_utils::IpAddrExt;
            if let Some(index) = peers.iter().position(|p| !IpAddrExt::is_global(&p.address.ip())) {
                return Err(ConfigError::Peer {
                    index,
                    reason: format!(
                        "address {} is not a public address; on a private network set \
                         allow-private-ips = true in [p2p]",
                        peers[index].address
                    ),
                });
            }
        }
        let timing = raw.consensus.unwrap_or_default();
        timing.validate()?;
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let enum_origin = raw
            .dns
            .as_ref()
            .and_then(|d| d.origin.clone())
            .unwrap_or_else(|| DEFAULT_ENUM_ORIGIN.into())
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if enum_origin.is_empty()
            || enum_origin.split('.').any(|l| {
                l.is_empty() || l.len() > 63 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            return Err(ConfigError::Invalid(format!("dns origin {enum_origin:?} is not a domain name")));
        }
        let http = raw.http.limits()?;
        let dns_max_tcp_connections = raw
            .dns
            .as_ref()
            .and_then(|d| d.max_tcp_connections)
            .unwrap_or(crate::enum_dns::DEFAULT_MAX_TCP_CONNECTIONS);
        if !(1..=MAX_DNS_TCP_CONNECTIONS).contains(&dns_max_tcp_connections) {
            return Err(ConfigError::Invalid(format!(
                "dns max-tcp-connections must be between 1 and {MAX_DNS_TCP_CONNECTIONS}; got \
                 {dns_max_tcp_connections}"
            )));
        }
        let dns_tcp_idle_timeout = match raw.dns.as_ref().and_then(|d| d.tcp_idle_timeout_ms) {
            None => crate::enum_dns::DEFAULT_TCP_IDLE_TIMEOUT,
            Some(ms) if ms == 0 || ms > MAX_DNS_TCP_IDLE_TIMEOUT.as_millis() as u64 => {
                return Err(ConfigError::Invalid(format!(
                    "dns tcp-idle-timeout-ms must be between 1 and {}; got {ms}",
                    MAX_DNS_TCP_IDLE_TIMEOUT.as_millis()
                )));
            }
            Some(ms) => Duration::from_millis(ms),
        };
        let storage_cache_mib = raw.storage.map_or(crate::storage::DEFAULT_CACHE_MIB, |s| s.cache_mib);
        if !(1..=1 << 20).contains(&storage_cache_mib) {
            return Err(ConfigError::Invalid(format!(
                "storage cache-mib must be between 1 and 1048576; got {storage_cache_mib}"
            )));
        }
        Ok(Self {
            data_dir: abs(raw.data_dir),
            genesis: abs(raw.genesis),
            ported: raw.ported.map(abs),
            validator_key: abs(raw.validator_key),
            operator_key: raw.operator_key.map(abs),
            admin_token: raw.admin_token.map(abs),
            p2p_listen: raw.p2p.listen,
            peers,
            http_listen: raw.http.listen,
            http,
            dns_listen: raw.dns.map(|d| d.listen),
            enum_origin,
            dns_max_tcp_connections,
            dns_tcp_idle_timeout,
            p2p,
            timing,
            storage_cache_mib,
        })
    }

    /// Writes the configuration back as TOML (paths as given).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let path = |p: &Path| p.display().to_string().replace('\\', "/");
        out.push_str(&format!("data_dir = {:?}\n", path(&self.data_dir)));
        out.push_str(&format!("genesis = {:?}\n", path(&self.genesis)));
        if let Some(p) = &self.ported {
            out.push_str(&format!("ported = {:?}\n", path(p)));
        }
        out.push_str(&format!("validator_key = {:?}\n", path(&self.validator_key)));
        if let Some(p) = &self.operator_key {
            out.push_str(&format!("operator_key = {:?}\n", path(p)));
        }
        if let Some(p) = &self.admin_token {
            out.push_str(&format!("admin_token = {:?}\n", path(p)));
        }
        out.push_str(&format!("\n[p2p]\nlisten = \"{}\"\n{}", self.p2p_listen, self.p2p.to_toml()));
        for p in &self.peers {
            out.push_str(&format!(
                "[[p2p.peers]]\nkey = \"{}\"\naddress = \"{}\"\n",
                commonware_formatting::hex(p.key.as_ref()),
                p.address
            ));
        }
        let h = &self.http;
        out.push_str(&format!(
            "\n[http]\nlisten = \"{}\"\nmax-connections = {}\nmax-event-streams = {}\nmax-event-streams-per-client = {}\nbody-mib-in-flight = {}\nheader-timeout-secs = {}\nbody-timeout-secs = {}\nidle-timeout-secs = {}\nrequest-timeout-secs = {}\n",
            self.http_listen,
            h.max_connections,
            h.max_event_streams,
            h.max_event_streams_per_client,
            h.body_bytes_in_flight >> 20,
            h.header_timeout.as_secs(),
            h.body_timeout.as_secs(),
            h.idle_timeout.as_secs(),
            h.request_timeout.as_secs(),
        ));
        if let Some(d) = self.dns_listen {
            out.push_str(&format!(
                "\n[dns]\nlisten = \"{d}\"\norigin = {:?}\nmax-tcp-connections = {}\ntcp-idle-timeout-ms = {}\n",
                self.enum_origin,
                self.dns_max_tcp_connections,
                self.dns_tcp_idle_timeout.as_millis()
            ));
        }
        let t = self.timing;
        out.push_str(&format!(
            "\n[consensus]\nleader-timeout-ms = {}\ncertification-timeout-ms = {}\ntimeout-retry-ms = {}\nfetch-timeout-ms = {}\n",
            t.leader_timeout_ms, t.certification_timeout_ms, t.timeout_retry_ms, t.fetch_timeout_ms
        ));
        out.push_str(&format!("\n[storage]\ncache-mib = {}\n", self.storage_cache_mib));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn sample() -> String {
        use commonware_cryptography::Signer as _;
        let key =
            commonware_formatting::hex(npchain_core::types::PrivateKey::from_seed(1).public_key().as_ref());
        format!(
            "data_dir = \"d\"\ngenesis = \"/abs/g.toml\"\nvalidator_key = \"v.key\"\n[p2p]\nlisten = \"127.0.0.1:1\"\nallow-private-ips = true\n[[p2p.peers]]\nkey = \"{key}\"\naddress = \"127.0.0.1:2\"\n[http]\nlisten = \"127.0.0.1:3\"\n"
        )
    }

    #[test]
    fn parses_round_trips_and_resolves_paths() {
        let c = NodeConfig::parse(&sample(), Path::new("/etc/np")).unwrap();
        assert_eq!(c.data_dir, Path::new("/etc/np/d"));
        assert_eq!(c.genesis, Path::new("/abs/g.toml"));
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.timing, Timing::default());
        let again = NodeConfig::parse(&c.to_toml(), Path::new("/elsewhere")).unwrap();
        assert_eq!(again.data_dir, c.data_dir);
        assert_eq!(again.peers, c.peers);
        assert_eq!(c.enum_origin, DEFAULT_ENUM_ORIGIN);
        let dns = format!("{}\n[dns]\nlisten = \"127.0.0.1:4\"\norigin = \"E164.Example.NET.\"\n", sample());
        let c = NodeConfig::parse(&dns, Path::new("/")).unwrap();
        assert_eq!(c.enum_origin, "e164.example.net");
        assert_eq!(NodeConfig::parse(&c.to_toml(), Path::new("/")).unwrap().enum_origin, "e164.example.net");
        let bad = dns.replace("E164.Example.NET.", "e164..arpa");
        assert!(NodeConfig::parse(&bad, Path::new("/")).unwrap_err().to_string().contains("origin"));
    }

    #[test]
    fn refuses_bad_peers_fields_and_timeouts() {
        let bad_key = sample().replace("key = \"", "key = \"zz");
        assert!(matches!(
            NodeConfig::parse(&bad_key, Path::new("/")),
            Err(ConfigError::Peer { index: 0, .. })
        ));
        let unknown = format!("{}\nsurprise = 1\n", sample());
        assert!(matches!(NodeConfig::parse(&unknown, Path::new("/")), Err(ConfigError::Toml { .. })));
        let twice = format!(
            "{}[[p2p.peers]]\nkey = \"{KEY}\"\naddress = \"127.0.0.1:2\"\n",
            sample().replace("[http]", "[[http_placeholder]]")
        );
        assert!(NodeConfig::parse(&twice, Path::new("/")).is_err());
        let timing = format!(
            "{}\n[consensus]\nleader-timeout-ms = 2000\ncertification-timeout-ms = 1000\ntimeout-retry-ms = 1\nfetch-timeout-ms = 1\n",
            sample()
        );
        let err = NodeConfig::parse(&timing, Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("certification-timeout-ms"), "{err}");
    }

    #[test]
    fn the_ledger_cache_has_a_default_a_setting_and_bounds() {
        let c = NodeConfig::parse(&sample(), Path::new("/")).unwrap();
        assert_eq!(c.storage_cache_mib, crate::storage::DEFAULT_CACHE_MIB);
        let set = format!("{}\n[storage]\ncache-mib = 256\n", sample());
        let c = NodeConfig::parse(&set, Path::new("/")).unwrap();
        assert_eq!(c.storage_cache_mib, 256);
        assert_eq!(NodeConfig::parse(&c.to_toml(), Path::new("/")).unwrap().storage_cache_mib, 256);
        let zero = set.replace("= 256", "= 0");
        let err = NodeConfig::parse(&zero, Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("cache-mib") && err.contains("got 0"), "{err}");
        let typo = set.replace("cache-mib", "cache-mb");
        assert!(matches!(NodeConfig::parse(&typo, Path::new("/")), Err(ConfigError::Toml { .. })));
    }

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

    #[test]
    fn p2p_limits_have_production_defaults_settings_and_bounds() {
        let c = NodeConfig::parse(&sample(), Path::new("/")).unwrap();
        assert_eq!(c.p2p, P2pSettings { allow_private_ips: true, ..P2pSettings::default() });
        let d = P2pSettings::default();
        assert!(!d.allow_private_ips);
        assert_eq!(d.handshake_interval_per_ip, d.handshake_timeout, "one handshake at a time per address");
        let keys = "max-concurrent-handshakes = 8\nhandshake-timeout-ms = 3000\n\
                    handshake-interval-per-ip-ms = 250\nhandshakes-per-subnet-per-sec = 10\n\
                    reconnect-cooldown-ms = 2000\nblock-duration-secs = 600\n";
        let set =
            sample().replace("allow-private-ips = true\n", &format!("allow-private-ips = true\n{keys}"));
        let c = NodeConfig::parse(&set, Path::new("/")).unwrap();
        let want = P2pSettings {
            allow_private_ips: true,
            max_concurrent_handshakes: 8,
            handshake_timeout: Duration::from_secs(3),
            handshake_interval_per_ip: Duration::from_millis(250),
            handshakes_per_subnet_per_sec: 10,
            reconnect_cooldown: Duration::from_secs(2),
            block_duration: Duration::from_secs(600),
        };
        assert_eq!(c.p2p, want);
        assert_eq!(NodeConfig::parse(&c.to_toml(), Path::new("/")).unwrap().p2p, want);
        for key in ["max-concurrent-handshakes", "handshake-interval-per-ip-ms", "block-duration-secs"] {
            let zero = sample()
                .replace("allow-private-ips = true\n", &format!("allow-private-ips = true\n{key} = 0\n"));
            let err = NodeConfig::parse(&zero, Path::new("/")).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("got 0"), "{err}");
        }
        // a private peer address needs allow-private-ips, and the refusal says so
        let private = sample().replace("allow-private-ips = true\n", "");
        let err = NodeConfig::parse(&private, Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("127.0.0.1:2") && err.contains("allow-private-ips"), "{err}");
        let public = private.replace("127.0.0.1:2", "192.0.2.1:7400");
        let err = NodeConfig::parse(&public, Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("192.0.2.1"), "documentation addresses are not public either: {err}");
        let public = private.replace("127.0.0.1:2", "8.8.8.8:7400");
        assert!(!NodeConfig::parse(&public, Path::new("/")).unwrap().p2p.allow_private_ips);
    }
}
