//! The node's ENUM server: answers "who serves this number" over DNS (UDP and TCP), from the
//! committed routing table, as RFC 6116 (ENUM), RFC 4769 (`E2U+pstn:tel`) and RFC 4694 (`npdi`,
//! `rn`) describe.
//!
//! The zone is synthesised on every query, never stored: a name `d.d.…d.<origin>` (one digit per
//! label, the E.164 digits reversed) is looked up in [`Routes`] and answered with one NAPTR.
//! hickory-server does the DNS: parsing, the [`Catalog`] (REFUSED outside the origin, SOA in the
//! authority section of negative answers, NS with SOA answers), encoding and transport. This
//! module only decides what exists:
//!
//! | name | answer |
//! |---|---|
//! | the origin | SOA (serial = committed height), NS; other types NODATA |
//! | a ported number | NAPTR `!^.*$!tel:+<number>;npdi;rn=<routing number>!` |
//! | a number in an assigned range, not ported | NAPTR `!^.*$!tel:+<number>;npdi!` |
//! | leading digits of an assigned range (an empty non-terminal) | NODATA |
//! | anything else under the origin | NXDOMAIN |
//!
//! A number's other record types are NODATA. Dynamic updates and zone transfers are refused.
//!
//! Before the catalog, [`EnumHandler`] answers what hickory would answer badly:
//!
//! | request | answer |
//! |---|---|
//! | QUERY with QDCOUNT ≠ 1 (RFC 9619 §4: at most one question) | FORMERR, no question section |
//! | UPDATE with ZOCOUNT ≠ 1 (RFC 2136 §3.1.1) | FORMERR, no question section |
//! | UPDATE | REFUSED |
//! | any other opcode (NOTIFY, STATUS, …) | NOTIMP |
//!
//! An error answer carries no question when the request had more than one: thirteen questions
//! echoed would not fit in 512 bytes, and hickory would answer SERVFAIL and log an error for each
//! such packet. With one question the header, the question and an OPT record always fit in 512
//! bytes; records that do not fit in the client's UDP size (512 without EDNS, RFC 1035 §4.2.1;
//! the EDNS size, at least 512, RFC 6891 §6.2.5) are left out by hickory's encoder, which sets TC
//! so the client asks again over TCP (RFC 2181 §9, RFC 7766 §5).
//!
//! Limits on what a remote party can take ([`TcpLimits`], `[dns]` in the node config): at most
//! `max-tcp-connections` TCP connections at once (more are accepted and closed at once), each
//! closed after `tcp-idle-timeout-ms` without a whole request, reading no next request while a
//! response waits to be written (hickory's framing); a failed accept (such as EMFILE) pauses the
//! accept loop for [`ACCEPT_ERROR_PAUSE`]. Every log line a remote party can cause is
//! rate-limited ([`LogLimit`]: [`LOG_BURST`] lines per [`LOG_WINDOW`], then a count of those left
//! out); hickory's own lines are kept out by the node's default log filter (`hickory_*=error`),
//! and none of its error lines can be caused from outside.

use crate::{loglimit::LogLimit, metrics::Metrics};
use futures::StreamExt as _;
use hickory_server::{
    Server,
    net::{
        NetError,
        runtime::{Time, TokioTime, iocompat::AsyncIoTokioAsStd},
        tcp::TcpStream,
        xfer::Protocol,
    },
    proto::{
        op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode},
        rr::{
            DNSClass, LowerName, Name, RData, Record, RecordType, TSigResponseContext,
            rdata::{NAPTR, NS, SOA},
        },
        serialize::binary::{BinDecodable, BinDecoder},
    },
    server::{
        Request, RequestHandler, RequestInfo, ResponseHandle, ResponseHandler, ResponseInfo, TimeoutStream,
    },
    zone_handler::{
        AuthLookup, AxfrPolicy, Catalog, LookupControlFlow, LookupError, LookupOptions, LookupRecords,
        MessageResponseBuilder, Queries, ZoneHandler, ZoneTransfer, ZoneType,
    },
};
use npchain_core::{Prefix, Route, Routes};
use std::{cell::Cell, future::Future, io, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    task::JoinSet,
};

/// TTL of every record served (answers and the SOA in negative answers): 0, nothing is cached.
/// Routing changes at the next committed block, twice a second on an idle network, and the
/// node is queried locally by its operator's own network elements, so caching buys nothing and
/// would answer a ported number with its old operator.
pub const ANSWER_TTL: u32 = 0;

/// NAPTR order of the single answer (RFC 6116 example value; there is only one record).
pub const NAPTR_ORDER: u16 = 100;
/// NAPTR preference of the single answer.
pub const NAPTR_PREFERENCE: u16 = 10;
/// NAPTR flags: `u`, a terminal rule whose result is a URI (RFC 3404).
pub const NAPTR_FLAGS: &str = "u";
/// NAPTR service: the E.164 number as a `tel` URI (RFC 4769).
pub const NAPTR_SERVICE: &str = "E2U+pstn:tel";

/// TCP connections served at once unless the config says otherwise (`[dns] max-tcp-connections`).
pub const DEFAULT_MAX_TCP_CONNECTIONS: usize = 128;
/// How long a TCP connection may go without a whole request before the server closes it, unless
/// the config says otherwise (`[dns] tcp-idle-timeout-ms`). RFC 7766 §6.2.3: a few seconds.
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Responses queued per TCP connection before the connection waits for the client.
const TCP_RESPONSE_QUEUE: usize = 32;
/// How long the TCP accept loop waits after an accept failed other than by the connection's own
/// end, such as for lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): the pending connection
/// stays queued, so retrying at once would spin.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Lines a log limit lets through per [`LOG_WINDOW`].
pub const LOG_BURST: u32 = 10;
/// The window of [`LOG_BURST`].
pub const LOG_WINDOW: Duration = Duration::from_secs(60);

/// SOA timers. Nothing transfers the zone (AXFR is refused), so they only inform; the negative
/// caching time (`minimum`) is [`ANSWER_TTL`] for the same reason as the answers' TTL.
const SOA_REFRESH: i32 = 3600;
const SOA_RETRY: i32 = 600;
const SOA_EXPIRE: i32 = 86_400;

/// The longest E.164 number, in digits (labels below the origin).
const MAX_DIGITS: usize = 15;

/// How the ENUM zone is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumConfig {
    /// The zone apex, e.g. `e164.arpa` (a trailing dot is optional). Numbers are names below it.
    pub origin: String,
    /// The name server's host name, for the NS record and the SOA `mname`, e.g.
    /// `ns.npchain.invalid`.
    pub ns: String,
}

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
        reason: String,
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
        never = serve_tcp(|| tcp.accept(), handler, limits) => match never {},
    }
}

/// Serves DNS over TCP on the connections `accept` yields, at most `limits.max_connections` at
/// once; never returns. A connection beyond the cap is closed at once (the client sees the
/// connection end and may try again later); a failed accept that is not the connection's own
/// fault pauses the loop for [`ACCEPT_ERROR_PAUSE`] instead of spinning on it.
async fn serve_tcp<S, F, Fut>(
    mut accept: F,
    handler: EnumHandler,
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
                if let Some(suppressed) = handler.0.logs.accept_failed.allow() {
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
            if let Some(suppressed) = handler.0.logs.tcp_refused.allow() {
                tracing::warn!(
                    %peer,
                    max_connections = limits.max_connections,
                    suppressed,
                    "ENUM over TCP: connection refused, at the connection cap"
                );
            }
            continue;
        }
        connections.spawn(serve_connection(stream, peer, handler.clone(), limits.idle_timeout));
    }
}

/// Answers the requests of one TCP connection in turn (hickory frames and writes them), until
/// the client closes it, a frame is broken, or `idle` passes without a whole request.
async fn serve_connection<S>(stream: S, peer: SocketAddr, handler: EnumHandler, idle: Duration)
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static,
{
    let (stream, sender) =
        TcpStream::from_stream_with_buffer_size(AsyncIoTokioAsStd(stream), peer, TCP_RESPONSE_QUEUE);
    let mut requests = TimeoutStream::new(stream, idle);
    while let Some(Ok(message)) = requests.next().await {
        let (bytes, src) = message.into_parts();
        let response = ResponseHandle::new(src, sender.clone(), Protocol::Tcp);
        handler.handle_tcp_request(bytes, src, response).await;
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

/// Parses a configured host or zone name as a fully qualified, lower-case name.
fn parse_name(field: &'static str, value: &str) -> Result<Name, EnumError> {
    let bad = |reason: String| EnumError::BadName { field, value: value.to_owned(), reason };
    let trimmed = value.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err(if field == "origin" { EnumError::RootOrigin } else { bad("empty".into()) });
    }
    let mut name = Name::from_ascii(trimmed).map_err(|e| bad(e.to_string()))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// What a query found, as the metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ported,
    NotPorted,
    Apex,
    NoData,
    Unknown,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Ported => "ported",
            Self::NotPorted => "not_ported",
            Self::Apex => "apex",
            Self::NoData => "nodata",
            Self::Unknown => "unknown",
        }
    }
}

tokio::task_local! {
    /// Set by the zone's `search` for the query being answered, read by [`EnumHandler`] once the
    /// catalog has sent the response: it tells a ported answer from a not-ported one.
    static OUTCOME: Cell<Option<Outcome>>;
}

/// What a name under the origin is.
enum Node {
    Apex,
    Number(Route),
    /// Leading digits of assigned ranges: the name exists (numbers are below it), with no data.
    EmptyNonTerminal,
    Missing,
}

/// The ENUM zone, synthesised from the routing table (hickory's [`ZoneHandler`]).
struct EnumZone {
    origin: LowerName,
    origin_name: Name,
    origin_labels: usize,
    ns: Name,
    hostmaster: Name,
    routes: Routes,
}

impl EnumZone {
    fn new(routes: Routes, config: &EnumConfig) -> Result<Self, EnumError> {
        let origin_name = parse_name("origin", &config.origin)?;
        let ns = parse_name("ns", &config.ns)?;
        let hostmaster = origin_name.prepend_label("hostmaster").map_err(|e| EnumError::BadName {
            field: "origin",
            value: config.origin.clone(),
            reason: format!("hostmaster.<origin> is not a valid name: {e}"),
        })?;
        Ok(Self {
            origin: LowerName::new(&origin_name),
            origin_labels: origin_name.iter().count(),
            origin_name,
            ns,
            hostmaster,
            routes,
        })
    }

    /// Classifies `name` (at or below the origin). The routing table's read lock is held for the
    /// lookup only.
    fn node(&self, name: &LowerName) -> Node {
        if *name == self.origin {
            return Node::Apex;
        }
        // `iter` counts every label (hickory's `num_labels` leaves out a leading `*`)
        let labels: Vec<&[u8]> = name.iter().collect();
        let Some(below) = labels.len().checked_sub(self.origin_labels) else { return Node::Missing };
        if below == 0 || below > MAX_DIGITS {
            return Node::Missing;
        }
        let mut digits = String::with_capacity(below);
        for label in labels[..below].iter().rev() {
            match label {
                [d] if d.is_ascii_digit() => digits.push(char::from(*d)),
                _ => return Node::Missing,
            }
        }
        // first digit not 0, 1 to 15 digits
        let Some(prefix) = Prefix::from_digits(&digits) else { return Node::Missing };
        let table = self.routes.read();
        if let Some(route) = table.route(prefix.as_number()) {
            Node::Number(route)
        } else if table.has_ranges_below(prefix) {
            Node::EmptyNonTerminal
        } else {
            Node::Missing
        }
    }

    fn soa(&self) -> Record {
        // RFC 1982 serial arithmetic: the serial wraps, as the height outgrows 32 bits
        let serial = self.routes.read().height() as u32;
        let soa = SOA::new(
            self.ns.clone(),
            self.hostmaster.clone(),
            serial,
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            ANSWER_TTL,
        );
        Record::from_rdata(self.origin_name.clone(), ANSWER_TTL, RData::SOA(soa))
    }

    fn ns(&self) -> Record {
        Record::from_rdata(self.origin_name.clone(), ANSWER_TTL, RData::NS(NS(self.ns.clone())))
    }

    fn naptr(name: &LowerName, route: &Route) -> Record {
        let regexp = if route.ported {
            format!("!^.*$!tel:{};npdi;rn={}!", route.number, route.routing_number)
        } else {
            format!("!^.*$!tel:{};npdi!", route.number)
        };
        let naptr = NAPTR::new(
            NAPTR_ORDER,
            NAPTR_PREFERENCE,
            NAPTR_FLAGS.as_bytes().into(),
            NAPTR_SERVICE.as_bytes().into(),
            regexp.into_bytes().into_boxed_slice(),
            Name::root(),
        );
        Record::from_rdata(name.into(), ANSWER_TTL, RData::NAPTR(naptr))
    }

    /// The answer to `name`/`rtype`, and how to count it. Errors follow the catalog's reading:
    /// `NameExists` is NODATA, `NXDomain` is NXDOMAIN (both with the SOA in the authority
    /// section), `Refused` is REFUSED.
    fn answer(&self, name: &LowerName, rtype: RecordType) -> (Result<AuthLookup, LookupError>, Outcome) {
        let records = |records: Vec<Record>| Ok(AuthLookup::answers(LookupRecords::Section(records), None));
        let nodata = || (Err(LookupError::NameExists), Outcome::NoData);
        if !self.origin.zone_of(name) {
            return (Err(LookupError::from(ResponseCode::Refused)), Outcome::Unknown);
        }
        match self.node(name) {
            Node::Apex => match rtype {
                RecordType::SOA => (records(vec![self.soa()]), Outcome::Apex),
                RecordType::NS => (records(vec![self.ns()]), Outcome::Apex),
                RecordType::ANY => (records(vec![self.soa(), self.ns()]), Outcome::Apex),
                _ => nodata(),
            },
            Node::Number(route) => match rtype {
                RecordType::NAPTR | RecordType::ANY => {
                    let outcome = if route.ported { Outcome::Ported } else { Outcome::NotPorted };
                    (records(vec![Self::naptr(name, &route)]), outcome)
                }
                _ => nodata(),
            },
            Node::EmptyNonTerminal => nodata(),
            Node::Missing => (Err(LookupError::from(ResponseCode::NXDomain)), Outcome::Unknown),
        }
    }

    /// The zone's answer to a whole request (one question).
    fn search_request(&self, request: &Request) -> LookupControlFlow<AuthLookup> {
        let info = match request.request_info() {
            Ok(info) => info,
            Err(e) => return LookupControlFlow::Break(Err(e)),
        };
        let rtype = info.query.query_type();
        let class = info.query.query_class();
        if matches!(rtype, RecordType::AXFR | RecordType::IXFR)
            || !matches!(class, DNSClass::IN | DNSClass::ANY)
        {
            return LookupControlFlow::Break(Err(LookupError::from(ResponseCode::Refused)));
        }
        let (result, outcome) = self.answer(info.query.name(), rtype);
        // outside a handler's scope (a direct call) there is nobody to tell
        let _ = OUTCOME.try_with(|cell| cell.set(Some(outcome)));
        LookupControlFlow::Continue(result)
    }
}

#[async_trait::async_trait]
impl ZoneHandler for EnumZone {
    fn zone_type(&self) -> ZoneType {
        ZoneType::Primary
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        &self.origin
    }

    async fn lookup(
        &self,
        name: &LowerName,
        rtype: RecordType,
        _request_info: Option<&RequestInfo<'_>>,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        LookupControlFlow::Continue(self.answer(name, rtype).0)
    }

    async fn search(
        &self,
        request: &Request,
        _lookup_options: LookupOptions,
    ) -> (LookupControlFlow<AuthLookup>, Option<TSigResponseContext>) {
        (self.search_request(request), None)
    }

    async fn nsec_records(
        &self,
        _name: &LowerName,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        // the zone is not signed
        LookupControlFlow::Continue(Ok(AuthLookup::default()))
    }

    async fn zone_transfer(
        &self,
        _request: &Request,
        _lookup_options: LookupOptions,
        _now: u64,
    ) -> Option<(Result<ZoneTransfer, LookupError>, Option<TSigResponseContext>)> {
        // hickory's default answers NOTIMP with rcode NOERROR and an empty answer; refuse plainly
        Some((Err(LookupError::from(ResponseCode::Refused)), None))
    }
}

/// The request handler the servers run: hickory's [`Catalog`] with the one ENUM zone, behind the
/// answers it would give badly (see the module doc), plus counting.
///
/// Counted: every request that reaches it, by what was answered. Not counted (the transports
/// handle them before any handler): packets shorter than a header and responses (dropped), and
/// packets whose header parses but whose body does not (FORMERR).
#[derive(Clone)]
pub struct EnumHandler(Arc<HandlerInner>);

struct HandlerInner {
    catalog: Catalog,
    metrics: Arc<Metrics>,
    logs: Logs,
}

/// The limits on this server's log lines that a remote party can cause.
struct Logs {
    tcp_refused: LogLimit,
    accept_failed: LogLimit,
    send_failed: LogLimit,
}

impl Default for Logs {
    fn default() -> Self {
        let limit = || LogLimit::new(LOG_BURST, LOG_WINDOW);
        Self { tcp_refused: limit(), accept_failed: limit(), send_failed: limit() }
    }
}

impl std::fmt::Debug for EnumHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnumHandler").finish_non_exhaustive()
    }
}

impl EnumHandler {
    /// The handler of the zone `config` describes, over `routes`.
    pub fn new(routes: Routes, config: &EnumConfig, metrics: Arc<Metrics>) -> Result<Self, EnumError> {
        let zone = EnumZone::new(routes, config)?;
        let mut catalog = Catalog::new();
        catalog.upsert(zone.origin.clone(), vec![Arc::new(zone)]);
        Ok(Self(Arc::new(HandlerInner { catalog, metrics, logs: Logs::default() })))
    }

    /// Answers one request as received on a TCP connection: what hickory's UDP loop does before
    /// it calls a handler (drop what is no request, FORMERR for a body that does not parse), then
    /// [`Self::handle`].
    async fn handle_tcp_request(&self, bytes: Vec<u8>, src: SocketAddr, mut response_handle: ResponseHandle) {
        let Ok(header) = Header::read(&mut BinDecoder::new(&bytes)) else { return };
        if header.metadata.message_type == MessageType::Response {
            return;
        }
        match Request::from_bytes(bytes, src, Protocol::Tcp) {
            Ok(request) => {
                self.handle::<_, TokioTime>(&request, response_handle).await;
            }
            Err(_) => {
                let queries = no_questions();
                let response = MessageResponseBuilder::new(&queries, None)
                    .error_msg(&header.metadata, ResponseCode::FormErr);
                if let Err(error) = response_handle.send_response(response).await {
                    self.send_failed(&error);
                }
            }
        }
    }

    async fn handle<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        if let Some(code) = early_answer(request) {
            let info = self.error_answer(request, code, response_handle).await;
            self.0.metrics.query("enum", result_label(info.response_code, None));
            return info;
        }
        let (info, outcome) = OUTCOME
            .scope(Cell::new(None), async {
                let info = self.0.catalog.handle_request::<R, T>(request, response_handle).await;
                (info, OUTCOME.with(Cell::get))
            })
            .await;
        self.0.metrics.query("enum", result_label(info.response_code, outcome));
        info
    }

    /// Answers `request` with `code` and no records: with its question if it has exactly one,
    /// otherwise with none (so the answer always fits), and with an OPT record if it had one
    /// (RFC 6891 §7).
    async fn error_answer<R: ResponseHandler>(
        &self,
        request: &Request,
        code: ResponseCode,
        mut response_handle: R,
    ) -> ResponseInfo {
        let edns = request.edns.as_ref().map(|theirs| {
            let mut ours = Edns::new();
            ours.set_max_payload(theirs.max_payload().max(512));
            ours.set_version(0);
            ours
        });
        let none = no_questions();
        let queries = if request.queries.len() == 1 { &request.queries } else { &none };
        let response = MessageResponseBuilder::new(queries, edns.as_ref()).error_msg(&request.metadata, code);
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                self.send_failed(&error);
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header { metadata, counts: HeaderCounts::default() })
            }
        }
    }

    fn send_failed(&self, error: &NetError) {
        if let Some(suppressed) = self.0.logs.send_failed.allow() {
            tracing::debug!(%error, suppressed, "could not send an ENUM answer");
        }
    }
}

/// The answer code for a request the catalog should not see (see the module doc), if it is one.
fn early_answer(request: &Request) -> Option<ResponseCode> {
    let one_question = request.queries.len() == 1;
    match request.metadata.op_code {
        OpCode::Query if one_question => None,
        OpCode::Query => Some(ResponseCode::FormErr),
        OpCode::Update if one_question => Some(ResponseCode::Refused),
        OpCode::Update => Some(ResponseCode::FormErr),
        _ => Some(ResponseCode::NotImp),
    }
}

/// An empty question section.
fn no_questions() -> Queries {
    Queries::read(&mut BinDecoder::new(&[]), 0).expect("reading no questions reads nothing")
}

/// The metrics result of an answered request: the zone's own outcome when it answered,
/// otherwise what the response code says.
fn result_label(code: ResponseCode, outcome: Option<Outcome>) -> &'static str {
    match (code, outcome) {
        (ResponseCode::NoError | ResponseCode::NXDomain, Some(outcome)) => outcome.label(),
        (ResponseCode::NXDomain, None) => "unknown",
        (ResponseCode::Refused | ResponseCode::NotImp | ResponseCode::NotAuth, _) => "refused",
        (ResponseCode::FormErr | ResponseCode::BADVERS, _) => "formerr",
        _ => "error",
    }
}

#[async_trait::async_trait]
impl RequestHandler for EnumHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.handle::<R, T>(request, response_handle).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn handler() -> EnumHandler {
        let config = EnumConfig { origin: "e164.arpa".into(), ns: "ns.example".into() };
        EnumHandler::new(Routes::default(), &config, Arc::new(Metrics::default())).unwrap()
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
            never = serve_tcp(accept, handler(), TcpLimits::default()) => match never {},
            () = done.notified() => {}
        }
        (calls.load(Ordering::Relaxed), started.elapsed())
    }
}
