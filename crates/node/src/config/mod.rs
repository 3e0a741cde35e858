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
//! max-connections = 256            # optional, these are the defaults (see `http.rs`)
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
//! threads = 1                      # optional: UDP threads
//! negative-ttl = 300               # optional: seconds negative answers may be cached
//! max-tcp-connections = 128        # optional
//! tcp-idle-timeout-ms = 5000       # optional
//! [[dns.ns]]                       # optional: the zone's name servers (default ns.<origin>)
//! name = "ns1.e164.arpa"
//! addresses = ["127.0.0.1"]
//!
//! [storage]                        # optional
//! cache-mib = 1024                 # the ledger store's page cache (redb)
//!
//! [notify]                         # optional: webhooks to the back office (see `notify.rs`)
//! url = "http://10.0.0.5:8080/npchain"
//! events = "operator"              # optional: this operator's events, or "all"
//! hmac-secret-file = "notify.secret"  # optional: signs each POST
//!
//! [consensus]                      # optional, all four or none; these are the defaults
//! leader-timeout-ms = 1000
//! certification-timeout-ms = 2000
//! timeout-retry-ms = 500
//! fetch-timeout-ms = 1000
//! ```
//!
//! Every validator of the genesis must be listed as a peer (its own entry may be left out);
//! any other peer is an observer that follows the chain without voting.
//!
//! Each section is read and checked in its own file, whose documentation is the reference for
//! its keys — what each bounds, its default and range, and what happens at the limit:
//! `http.rs` (`[http]`, the HTTP port's caps and timeouts), `p2p.rs` (`[p2p]` and its peers),
//! `dns.rs` (`[dns]`, the ENUM server), `notify.rs` (`[notify]`, webhooks), `storage.rs` and
//! `consensus.rs`. A refused value is a
//! [`ConfigError`] naming the section, the key and the value given.

mod consensus;
mod dns;
mod http;
mod notify;
mod p2p;
mod storage;

pub use consensus::{Timing, TimingError};
pub use dns::{
    DEFAULT_DNS_THREADS, DEFAULT_ENUM_ORIGIN, DnsConfig, DnsError, MAX_DNS_TCP_CONNECTIONS,
    MAX_DNS_TCP_IDLE_TIMEOUT, MAX_DNS_THREADS,
};
pub use http::{HttpLimitError, HttpLimits};
pub use notify::{NotifyConfig, NotifyError, NotifyEvents};
pub use p2p::{P2pError, P2pSettings, Peer, PeerError};
pub use storage::StorageError;

use dns::RawDns;
use http::RawHttp;
use p2p::RawP2p;
use serde::Deserialize;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};
use storage::RawStorage;

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
    #[error("config: peer {index}: {problem}")]
    Peer {
        index: usize,
        #[source]
        problem: PeerError,
    },
    #[error("config: p2p {0}")]
    P2p(#[from] P2pError),
    #[error("config: http {0}")]
    Http(#[from] HttpLimitError),
    #[error("config: dns {0}")]
    Dns(#[from] DnsError),
    #[error("config: notify {0}")]
    Notify(#[from] NotifyError),
    #[error("config: storage {0}")]
    Storage(#[from] StorageError),
    #[error("config: consensus {0}")]
    Consensus(#[from] TimingError),
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
    #[serde(default)]
    notify: Option<notify::RawNotify>,
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
    /// The ENUM server (`[dns]`), if the node serves one.
    pub dns: Option<DnsConfig>,
    /// The p2p network's limits (`[p2p]`).
    pub p2p: P2pSettings,
    pub timing: Timing,
    /// The ledger store's page cache, in MiB.
    pub storage_cache_mib: usize,
    /// Webhook delivery of events to the back office (`[notify]`), if configured.
    pub notify: Option<NotifyConfig>,
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
        let p2p_listen = raw.p2p.listen;
        let peers = raw.p2p.peers(p2p.allow_private_ips)?;
        let timing = raw.consensus.unwrap_or_default();
        timing.validate()?;
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let http = raw.http.limits()?;
        let dns = raw.dns.map(RawDns::check).transpose()?;
        let storage_cache_mib = RawStorage::cache_mib(raw.storage)?;
        let notify = raw.notify.map(|n| n.check(abs)).transpose()?;
        Ok(Self {
            data_dir: abs(raw.data_dir),
            genesis: abs(raw.genesis),
            ported: raw.ported.map(abs),
            validator_key: abs(raw.validator_key),
            operator_key: raw.operator_key.map(abs),
            admin_token: raw.admin_token.map(abs),
            p2p_listen,
            peers,
            http_listen: raw.http.listen,
            http,
            dns,
            p2p,
            timing,
            storage_cache_mib,
            notify,
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
        if let Some(dns) = &self.dns {
            out.push_str(&dns.to_toml());
        }
        let t = self.timing;
        out.push_str(&format!(
            "\n[consensus]\nleader-timeout-ms = {}\ncertification-timeout-ms = {}\ntimeout-retry-ms = {}\nfetch-timeout-ms = {}\n",
            t.leader_timeout_ms, t.certification_timeout_ms, t.timeout_retry_ms, t.fetch_timeout_ms
        ));
        out.push_str(&format!("\n[storage]\ncache-mib = {}\n", self.storage_cache_mib));
        if let Some(n) = &self.notify {
            out.push_str(&n.to_toml());
        }
        out
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    /// A minimal valid configuration: one peer, the required sections.
    pub(super) fn sample() -> String {
        use commonware_cryptography::Signer as _;
        let key = commonware_formatting::hex(npchain_testkit::key("OPA").public_key().as_ref());
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
        assert_eq!(c.dns, None);
        let dns = format!("{}\n[dns]\nlisten = \"127.0.0.1:4\"\norigin = \"E164.Example.NET.\"\n", sample());
        let c = NodeConfig::parse(&dns, Path::new("/")).unwrap();
        let zone = &c.dns.as_ref().unwrap().zone;
        assert_eq!(zone.origin, "e164.example.net");
        assert_eq!(zone.ns[0].name, "ns.e164.example.net");
        assert_eq!(NodeConfig::parse(&c.to_toml(), Path::new("/")).unwrap().dns, c.dns);
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
}
