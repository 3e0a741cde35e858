//! The node's ENUM server: answers "who serves this number" over DNS (UDP and TCP), from the
//! committed routing table, as RFC 6116 (ENUM), RFC 4769 (`E2U+pstn:tel`) and RFC 4694 (`npdi`,
//! `rn`) describe.
//!
//! [`serve`] runs the server: hickory-server's UDP loop and the node's own TCP accept loop (`tcp`),
//! both handing each request to the [`EnumHandler`] (`handler`: the answers given before the
//! catalog, and the metrics), whose catalog holds the one zone synthesised from the routing
//! table (`zone`: what exists and what each name answers).

mod handler;
mod tcp;
mod zone;

pub use handler::{EnumHandler, LOG_BURST, LOG_WINDOW};
pub use tcp::{ACCEPT_ERROR_PAUSE, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_TCP_IDLE_TIMEOUT, TcpLimits};
pub use zone::{ANSWER_TTL, NAPTR_FLAGS, NAPTR_ORDER, NAPTR_PREFERENCE, NAPTR_SERVICE};

use crate::metrics::Metrics;
use hickory_server::{Server, net::NetError, proto::ProtoError};
use npchain_core::Routes;
use std::sync::Arc;

/// How the ENUM zone is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumConfig {
    /// The zone apex, e.g. `e164.arpa` (a trailing dot is optional). Numbers are names below it.
    pub origin: String,
    /// The name server's host name, for the NS record and the SOA `mname`, e.g.
    /// `ns.npchain.invalid`.
    pub ns: String,
}

/// Why the ENUM server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EnumError {
    /// A configured name is not a valid DNS name.
    #[error("enum.{field} = {value:?} is not a valid DNS name: {reason}")]
    BadName {
        /// The configuration field (`origin` or `ns`).
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        #[source]
        reason: NameError,
    },
    /// The origin is the DNS root; ENUM needs a zone such as `e164.arpa`.
    #[error("enum.origin must not be the DNS root")]
    RootOrigin,
    /// A server task failed (its socket failed or closed).
    #[error("ENUM server over {transport} failed: {source}")]
    Server {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// hickory's error.
        #[source]
        source: NetError,
    },
    /// A server task stopped without an error (it is never asked to stop).
    #[error("ENUM server over {transport} stopped")]
    Stopped {
        /// `udp` or `tcp`.
        transport: &'static str,
    },
}

/// What is wrong with a configured DNS name.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    /// Nothing but dots or spaces.
    #[error("empty")]
    Empty,
    /// hickory does not read it as a name (a label too long, a character it refuses).
    #[error("{0}")]
    Syntax(#[source] ProtoError),
    /// The origin is too long to hold the SOA's `hostmaster.<origin>`.
    #[error("hostmaster.<origin> is not a valid name: {0}")]
    Hostmaster(#[source] ProtoError),
}

/// Serves ENUM over UDP and TCP until the future is dropped or a socket fails.
///
/// The sockets must be bound already (so a caller knows the addresses before serving). Each UDP
/// socket gets its own receive loop: several bound to one port with `SO_REUSEPORT` (see
/// [`bind_udp`]) spread the queries over the runtime's threads. TCP is served within `limits`.
/// Answers come from `routes` as committed at the moment of each query; every query is counted
/// in `metrics` (`npchain_queries_total{kind="enum",result=…}`), except packets hickory discards
/// or answers FORMERR before they reach the handler (see [`EnumHandler`]).
pub async fn serve(
    udp: Vec<tokio::net::UdpSocket>,
    tcp: tokio::net::TcpListener,
    routes: Routes,
    config: &EnumConfig,
    limits: TcpLimits,
    metrics: Arc<Metrics>,
) -> Result<(), EnumError> {
    let handler = EnumHandler::new(routes, config, metrics)?;
    let mut udp_server = Server::new(handler.clone());
    for socket in udp {
        udp_server.register_socket(socket);
    }
    // hickory's own TCP listener takes every connection it is offered, and retries a failed
    // accept at once; this one bounds both.
    tokio::select! {
        r = udp_server.block_until_done() => match r {
            Ok(()) => Err(EnumError::Stopped { transport: "udp" }),
            Err(source) => Err(EnumError::Server { transport: "udp", source }),
        },
        never = tcp::serve(|| tcp.accept(), handler, limits) => match never {},
    }
}

/// Binds `count` UDP sockets to `addr` with `SO_REUSEPORT`, so the kernel spreads queries over
/// them (by source address and port), and returns them non-blocking.
pub fn bind_udp(addr: std::net::SocketAddr, count: usize) -> std::io::Result<Vec<std::net::UdpSocket>> {
    use socket2::{Domain, Protocol, Socket, Type};
    (0..count.max(1))
        .map(|_| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            socket.set_reuse_port(true)?;
            socket.set_nonblocking(true)?;
            socket.bind(&addr.into())?;
            Ok(socket.into())
        })
        .collect()
}
