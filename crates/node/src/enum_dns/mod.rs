//! The node's ENUM server: answers "who serves this number" over DNS (UDP and TCP), from the
//! committed routing table, as RFC 6116 (ENUM), RFC 4769 (`E2U+pstn:tel`) and RFC 4694 (`npdi`,
//! `rn`) describe.
//!
//! The parts, each in its own file:
//!
//! - `zone`: what exists under the origin and which records each name has (the zone is
//!   synthesised from the routing table; nothing of it is stored);
//! - `answer`: one request's bytes to its response's bytes — the DNS rules (which requests get
//!   which response code, header bits, EDNS, truncation), over the zone. hickory-proto parses
//!   the request and encodes the response;
//! - `udp`: one thread per UDP socket, reading and writing datagrams in batches
//!   (`recvmmsg`/`sendmmsg`), with no task or allocation of its own per query;
//! - `tcp`: DNS over TCP (RFC 7766), with its limits.
//!
//! [`serve`] runs them all.

mod answer;
mod tcp;
mod udp;
mod zone;

pub use answer::{ADVERTISED_UDP_SIZE, LOG_BURST, LOG_WINDOW, Responder, Transport};
pub use tcp::{ACCEPT_ERROR_PAUSE, DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_TCP_IDLE_TIMEOUT, TcpLimits};
pub use udp::{BATCH, RECEIVE_SIZE};
pub use zone::{ANSWER_TTL, NAPTR_FLAGS, NAPTR_ORDER, NAPTR_PREFERENCE, NAPTR_SERVICE};

use crate::metrics::Metrics;
use hickory_proto::ProtoError;
use npchain_core::Routes;
use std::{net::IpAddr, sync::Arc};

/// The negative-caching time unless the config says otherwise (`[dns] negative-ttl`), in
/// seconds: how long a resolver may keep "no such name" or "no such record" for a name that
/// changes only when ranges change (RFC 2308).
pub const DEFAULT_NEGATIVE_TTL: u32 = 300;
/// The longest `[dns] negative-ttl` may be: RFC 2308 §5 recommends one to three hours, and a
/// newly assigned range stays unknown to a resolver that cached its absence for this long.
pub const MAX_NEGATIVE_TTL: u32 = 86_400;

/// What the ENUM zone holds besides the numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumConfig {
    /// The zone apex, e.g. `e164.arpa` (a trailing dot is optional). Numbers are names below it.
    pub origin: String,
    /// The zone's name servers, for its NS records (the first is also the SOA `mname`); at
    /// least one.
    pub ns: Vec<NsHost>,
    /// The SOA `minimum` and the TTL of the SOA, NS and address records: how long negative
    /// answers may be cached. Number (NAPTR) answers always have [`ANSWER_TTL`].
    pub negative_ttl: u32,
}

/// One name server of the zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsHost {
    /// Its host name.
    pub name: String,
    /// Its addresses, served as A and AAAA records (glue) when the name is inside the zone;
    /// must be empty when it is not (another zone answers for it).
    pub addresses: Vec<IpAddr>,
}

impl EnumConfig {
    /// The zone `origin` with one name server, `ns.<origin>`, at `address`.
    pub fn with_origin(origin: &str, address: IpAddr) -> Self {
        let origin = origin.trim_end_matches('.');
        Self {
            origin: origin.to_owned(),
            ns: vec![NsHost { name: format!("ns.{origin}"), addresses: vec![address] }],
            negative_ttl: DEFAULT_NEGATIVE_TTL,
        }
    }

    /// Checks the names and addresses (what [`serve`] would refuse).
    pub fn check(&self) -> Result<(), EnumError> {
        zone::Zone::new(Routes::default(), self).map(drop)
    }
}

/// Why the ENUM server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EnumError {
    /// A configured name is not a valid DNS name.
    #[error("{field} {value:?} is not a valid DNS name: {reason}")]
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
    #[error("origin must not be the DNS root")]
    RootOrigin,
    /// No name server is configured.
    #[error("the zone needs at least one name server (ns)")]
    NoNameServer,
    /// The same name server is listed twice.
    #[error("name server {name:?} is listed twice")]
    DuplicateNameServer {
        /// Its name.
        name: String,
    },
    /// A name server inside the zone has no address, so resolvers could not reach it.
    #[error(
        "name server {name:?} is inside the zone {origin:?}, so the zone must serve its address (glue): give it addresses"
    )]
    NoGlue {
        /// The name server.
        name: String,
        /// The zone.
        origin: String,
    },
    /// A name server outside the zone was given addresses, which this zone cannot serve.
    #[error(
        "name server {name:?} is outside the zone {origin:?}: its addresses come from its own zone, so give none here"
    )]
    GlueOutsideZone {
        /// The name server.
        name: String,
        /// The zone.
        origin: String,
    },
    /// A name server inside the zone would sit among the numbers (a digit label right below
    /// the origin).
    #[error("name server {name:?} would be a number's name: its label below {origin:?} must not be a digit")]
    NameServerAmongNumbers {
        /// The name server.
        name: String,
        /// The zone.
        origin: String,
    },
    /// The negative TTL is beyond [`MAX_NEGATIVE_TTL`].
    #[error("negative-ttl must be at most {MAX_NEGATIVE_TTL} seconds; got {got}")]
    NegativeTtl {
        /// The value given.
        got: u32,
    },
    /// A socket could not be set up, or failed.
    #[error("ENUM server over {transport}: {source}")]
    Io {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A server thread ended (it never ends by itself unless its socket failed).
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
/// socket gets a thread of its own ([`udp`]); several bound to one port with `SO_REUSEPORT` (see
/// [`bind_udp`]) share the queries. The threads stop soon after the future is dropped. TCP is
/// served on the caller's runtime, within `limits`. Answers come from `routes` as committed at
/// the moment of each query; every request answered is counted in `metrics`
/// (`npchain_queries_total{kind="enum",result=…}`).
pub async fn serve(
    udp: Vec<std::net::UdpSocket>,
    tcp: tokio::net::TcpListener,
    routes: Routes,
    config: &EnumConfig,
    limits: TcpLimits,
    metrics: Arc<Metrics>,
) -> Result<(), EnumError> {
    let responder = Arc::new(Responder::new(routes, config, metrics)?);
    let threads = udp::spawn(udp, &responder)?;
    tokio::select! {
        e = threads.stopped() => Err(e),
        never = tcp::serve(|| tcp.accept(), responder, limits) => match never {},
    }
}

/// Binds `count` UDP sockets to `addr` with `SO_REUSEPORT`, so the kernel spreads queries over
/// them (by source address and port).
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
