//! The request handler the DNS servers run: hickory's catalog with the one ENUM zone, behind the
//! answers given before it, and the counting of every answer in the metrics.
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

use super::{
    EnumConfig, EnumError,
    zone::{EnumZone, OUTCOME, Outcome},
};
use crate::{loglimit::LogLimit, metrics::Metrics};
use hickory_server::{
    net::{
        NetError,
        runtime::{Time, TokioTime},
        xfer::Protocol,
    },
    proto::{
        op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode},
        serialize::binary::{BinDecodable, BinDecoder},
    },
    server::{Request, RequestHandler, ResponseHandle, ResponseHandler, ResponseInfo},
    zone_handler::{Catalog, MessageResponseBuilder, Queries},
};
use npchain_core::Routes;
use std::{cell::Cell, net::SocketAddr, sync::Arc, time::Duration};

/// Lines a log limit lets through per [`LOG_WINDOW`].
pub const LOG_BURST: u32 = 10;
/// The window of [`LOG_BURST`].
pub const LOG_WINDOW: Duration = Duration::from_secs(60);

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
pub(super) struct Logs {
    pub(super) tcp_refused: LogLimit,
    pub(super) accept_failed: LogLimit,
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
    pub(super) async fn handle_tcp_request(
        &self,
        bytes: Vec<u8>,
        src: SocketAddr,
        mut response_handle: ResponseHandle,
    ) {
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

    /// The limits on this server's log lines that a remote party can cause.
    pub(super) fn logs(&self) -> &Logs {
        &self.0.logs
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
