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
#[serde(deny_unknown_fields)]
struct RawP2p {
    listen: SocketAddr,
    #[serde(default)]
    peers: Vec<RawPeer>,
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
#[serde(deny_unknown_fields)]
struct RawDns {
    listen: SocketAddr,
    #[serde(default)]
    origin: Option<String>,
}

/// The ENUM zone apex unless the config names another.
pub const DEFAULT_ENUM_ORIGIN: &str = "e164.arpa";

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
        out.push_str(&format!("\n[p2p]\nlisten = \"{}\"\n", self.p2p_listen));
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
            out.push_str(&format!("\n[dns]\nlisten = \"{d}\"\norigin = {:?}\n", self.enum_origin));
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
            "data_dir = \"d\"\ngenesis = \"/abs/g.toml\"\nvalidator_key = \"v.key\"\n[p2p]\nlisten = \"127.0.0.1:1\"\n[[p2p.peers]]\nkey = \"{key}\"\naddress = \"127.0.0.1:2\"\n[http]\nlisten = \"127.0.0.1:3\"\n"
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
}
