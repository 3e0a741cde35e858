//! The `[p2p]` section: where the node listens for its peers, who they are (`[[p2p.peers]]`,
//! each a validator key and an address), and the limits of the p2p network.
//!
//! Every validator of the genesis must be listed as a peer (its own entry may be left out);
//! any other peer is an observer that follows the chain without voting.
//!
//! Only the configured peers' keys are admitted, and only from their
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

use super::ConfigError;
use npchain_core::types::{IdError, PublicKey, parse_public_key};
use serde::Deserialize;
use std::{net::SocketAddr, time::Duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawP2p {
    pub(super) listen: SocketAddr,
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

/// The p2p network's limits (`[p2p]`). The defaults are commonware's production configuration
/// (`lookup::Config::recommended`), except [`Self::max_concurrent_handshakes`]; see the module
/// doc of `config::p2p` for what each bounds.
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

    pub(super) fn from_raw(raw: &RawP2p) -> Result<Self, P2pError> {
        /// The value given, which must not be 0, else the default.
        fn positive<T: Copy + Default + PartialEq>(
            key: &'static str,
            value: Option<T>,
            default: T,
        ) -> Result<T, P2pError> {
            match value {
                Some(v) if v == T::default() => Err(P2pError::Zero { key }),
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

    pub(super) fn to_toml(&self) -> String {
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

/// One other node: its identity (validator key) and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub key: PublicKey,
    pub address: SocketAddr,
}

impl RawP2p {
    /// The `[[p2p.peers]]` entries, checked: keys that decode, no key or address twice, and only
    /// public addresses unless `allow_private_ips`.
    pub(super) fn peers(self, allow_private_ips: bool) -> Result<Vec<Peer>, ConfigError> {
        let mut peers = Vec::with_capacity(self.peers.len());
        for (index, p) in self.peers.into_iter().enumerate() {
            let bad = |problem| ConfigError::Peer { index, problem };
            let key = parse_public_key(&p.key).map_err(|e| bad(PeerError::Key(e)))?;
            if peers.iter().any(|q: &Peer| q.key == key) {
                return Err(bad(PeerError::KeyTwice));
            }
            if peers.iter().any(|q: &Peer| q.address == p.address) {
                return Err(bad(PeerError::AddressTwice { address: p.address }));
            }
            peers.push(Peer { key, address: p.address });
        }
        if !allow_private_ips {
            use commonware_utils::IpAddrExt;
            if let Some(index) = peers.iter().position(|p| !IpAddrExt::is_global(&p.address.ip())) {
                return Err(ConfigError::Peer {
                    index,
                    problem: PeerError::NotPublic { address: peers[index].address },
                });
            }
        }
        Ok(peers)
    }
}

/// Why a `[p2p]` limit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    /// A limit that must be positive was set to 0.
    #[error("{key} must be greater than 0; got 0")]
    Zero { key: &'static str },
}

/// Why a `[[p2p.peers]]` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("{0}")]
    Key(#[source] IdError),
    #[error("key listed twice")]
    KeyTwice,
    #[error("address {address} listed twice")]
    AddressTwice { address: SocketAddr },
    #[error(
        "address {address} is not a public address; on a private network set allow-private-ips = \
         true in [p2p]"
    )]
    NotPublic { address: SocketAddr },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NodeConfig, tests::sample};
    use std::path::Path;

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
