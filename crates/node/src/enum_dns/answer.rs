//! One request's bytes to its response's bytes: the DNS rules of the server, over the zone.
//! hickory-proto parses the request and encodes the response; [`Responder::respond`] decides
//! what is answered.
//!
//! | request | response |
//! |---|---|
//! | shorter than a header, or a response (QR=1) | none: dropped, as Knot and BIND do (answering responses invites reflection loops) |
//! | a header, then bytes that do not parse (or trailing bytes, or a datagram cut at [`RECEIVE_SIZE`](super::RECEIVE_SIZE)) | FORMERR, no question |
//! | EDNS version other than 0 (RFC 6891 §6.1.3) | BADVERS, with the question |
//! | QUERY with QDCOUNT ≠ 1 (RFC 9619 §4: at most one question) | FORMERR, no question |
//! | QUERY for type OPT, or a name outside the origin, or a class other than IN (and ANY), or AXFR/IXFR | FORMERR for OPT; REFUSED otherwise, without AA |
//! | UPDATE with ZOCOUNT = 1 / ≠ 1 (RFC 2136 §3.1.1) | REFUSED / FORMERR |
//! | any other opcode (NOTIFY, STATUS, …) | NOTIMP, echoing only RD of the flags |
//! | a QUERY the zone answers | NOERROR or NXDOMAIN with AA, records from the zone |
//!
//! The header copies the id, opcode, RD and CD (RFC 1035 §4.1.1, RFC 4035 §3.1.6; for an
//! unknown opcode only RD, since the other bits may mean something else there). With EDNS in the
//! request the response carries an OPT (RFC 6891 §7) with version 0, [`ADVERTISED_UDP_SIZE`] and
//! the request's DO bit (RFC 3225 §3). A UDP response fits in the client's size: 512 bytes
//! without EDNS (RFC 1035 §4.2.1), the EDNS size (at least 512) but at most
//! [`ADVERTISED_UDP_SIZE`] with it. Records that do not fit are left out and TC is set (RFC 2181
//! §9, RFC 7766 §5), so the client asks again over TCP, where a response may take 65,535 bytes.
//! An error response carries the question only when the request had exactly one, so it always
//! fits.

use super::{
    EnumConfig, EnumError,
    zone::{Outcome, Zone, ZoneAnswer},
};
use crate::{loglimit::LogLimit, metrics::Metrics};
use hickory_proto::{
    ProtoError,
    op::{Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, Query, ResponseCode},
    rr::{DNSClass, Record, RecordType},
    serialize::binary::{BinDecodable, BinDecoder, BinEncoder},
};
use npchain_core::Routes;
use std::{sync::Arc, time::Duration};

/// The UDP payload size the server advertises, and the most a UDP response takes: 1232 bytes,
/// which fits the IPv6 minimum MTU without fragmentation (DNS Flag Day 2020, as Knot and BIND).
pub const ADVERTISED_UDP_SIZE: u16 = 1232;
/// The most a response takes over TCP (the two-byte length prefix, RFC 1035 §4.2.2).
const TCP_SIZE: u16 = u16::MAX;
/// Without EDNS, a UDP response takes at most 512 bytes (RFC 1035 §4.2.1).
const PLAIN_UDP_SIZE: u16 = 512;

/// Lines a log limit lets through per [`LOG_WINDOW`].
pub const LOG_BURST: u32 = 10;
/// The window of [`LOG_BURST`].
pub const LOG_WINDOW: Duration = Duration::from_secs(60);

/// How a request arrived, which bounds its response's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The limits on this server's log lines that a remote party can cause.
pub(super) struct Logs {
    pub(super) tcp_refused: LogLimit,
    pub(super) accept_failed: LogLimit,
    pub(super) send_failed: LogLimit,
    pub(super) receive_failed: LogLimit,
}

impl Default for Logs {
    fn default() -> Self {
        let limit = || LogLimit::new(LOG_BURST, LOG_WINDOW);
        Self { tcp_refused: limit(), accept_failed: limit(), send_failed: limit(), receive_failed: limit() }
    }
}

/// Answers requests from the zone (see the module doc), and counts them.
pub struct Responder {
    zone: Zone,
    pub(super) metrics: Arc<Metrics>,
    pub(super) logs: Logs,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder").finish_non_exhaustive()
    }
}

/// Counts of answered requests by [`Outcome`], added to the metrics in one go.
#[derive(Default)]
pub(super) struct Counts([u64; Outcome::ALL.len()]);

impl Counts {
    pub(super) fn add(&mut self, outcome: Outcome) {
        self.0[outcome.index()] += 1;
    }

    /// Adds the counts to `metrics` and starts again from zero.
    pub(super) fn flush(&mut self, metrics: &Metrics) {
        for (outcome, count) in Outcome::ALL.iter().zip(&mut self.0) {
            if *count > 0 {
                metrics.queries("enum", outcome.label(), *count);
                *count = 0;
            }
        }
    }
}

/// What the request asked, once parsed.
struct Parsed<'a> {
    metadata: Metadata,
    queries: Vec<Query>,
    edns: Option<Edns>,
    /// The question section as received, when it is one question whose name has no
    /// compression pointer: a response echoes these bytes.
    question: Option<&'a [u8]>,
}

/// The question of a response: decoded, and as received when it can be copied.
struct Question<'q> {
    queries: &'q [Query],
    /// The question's bytes, and how many of its name's shortest label suffixes (besides the
    /// whole name) later names may point to.
    raw: Option<(&'q [u8], usize)>,
}

impl Responder {
    /// The responder for the zone `config` describes, over `routes`.
    pub fn new(routes: Routes, config: &EnumConfig, metrics: Arc<Metrics>) -> Result<Self, EnumError> {
        Ok(Self { zone: Zone::new(routes, config)?, metrics, logs: Logs::default() })
    }

    /// [`Self::respond`] for a caller outside the server (the fuzz targets): writes the response
    /// to `request` into `out` (cleared first); false when the request gets none.
    pub fn respond_to(&self, request: &[u8], cut: bool, transport: Transport, out: &mut Vec<u8>) -> bool {
        self.respond(request, cut, transport, out).is_some()
    }

    /// Writes the response to `request` into `out` (cleared first); `None` when the request gets
    /// none. `cut` says the datagram was longer than the bytes given.
    pub(super) fn respond(
        &self,
        request: &[u8],
        cut: bool,
        transport: Transport,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        out.clear();
        let header = Header::read(&mut BinDecoder::new(request)).ok()?;
        if header.metadata.message_type == MessageType::Response {
            return None;
        }
        let Some(request) = (!cut).then(|| parse(request)).flatten() else {
            // only the header could be read: answer with its id and opcode, RD and nothing else
            let mut metadata = Metadata::response_from_request(&header.metadata);
            metadata.checking_disabled = false;
            metadata.response_code = ResponseCode::FormErr;
            let none = Question { queries: &[], raw: None };
            return Some(encode(&metadata, &none, None, &ZoneAnswer::default(), PLAIN_UDP_SIZE, out));
        };
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let edns = request.edns.as_ref().map(|theirs| {
            let mut ours = Edns::new();
            ours.set_max_payload(ADVERTISED_UDP_SIZE).set_version(0).set_dnssec_ok(theirs.flags().dnssec_ok);
            ours
        });
        let one = request.queries.len() == 1;
        let queries = if one { request.queries.as_slice() } else { &[] };
        // an error response is rare: hickory encodes its question; a zone answer copies it
        let question = Question { queries, raw: None };
        let size = match (transport, &request.edns) {
            (Transport::Tcp, _) => TCP_SIZE,
            (Transport::Udp, None) => PLAIN_UDP_SIZE,
            (Transport::Udp, Some(theirs)) => theirs.max_payload().clamp(PLAIN_UDP_SIZE, ADVERTISED_UDP_SIZE),
        };
        let error = |mut metadata: Metadata, code: ResponseCode, out: &mut Vec<u8>| {
            metadata.response_code = code;
            Some(encode(&metadata, &question, edns.as_ref(), &ZoneAnswer::default(), size, out))
        };
        if request.edns.as_ref().is_some_and(|e| e.version() != 0) {
            return error(metadata, ResponseCode::BADVERS, out);
        }
        match request.metadata.op_code {
            OpCode::Query if one => {}
            OpCode::Query => return error(metadata, ResponseCode::FormErr, out),
            OpCode::Update if one => return error(metadata, ResponseCode::Refused, out),
            OpCode::Update => return error(metadata, ResponseCode::FormErr, out),
            _ => {
                metadata.checking_disabled = false;
                return error(metadata, ResponseCode::NotImp, out);
            }
        }
        let query = &request.queries[0];
        let rtype = query.query_type();
        if rtype == RecordType::OPT {
            return error(metadata, ResponseCode::FormErr, out);
        }
        if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY)
            || matches!(rtype, RecordType::AXFR | RecordType::IXFR)
            || !self.zone.contains(query.name())
        {
            return error(metadata, ResponseCode::Refused, out);
        }
        let (answer, outcome) = self.zone.answer(query.name(), rtype);
        metadata.authoritative = true;
        metadata.response_code = answer.code;
        let question = Question {
            queries,
            raw: request.question.and_then(|raw| answer.shared_suffixes.map(|n| (raw, n))),
        };
        match encode(&metadata, &question, edns.as_ref(), &answer, size, out) {
            Outcome::Error => Some(Outcome::Error),
            _ => Some(outcome),
        }
    }
}

/// Parses a whole request with hickory's decoders (as `Message::read` does, keeping where the
/// question lies); `None` if it does not parse or has bytes after its last record.
fn parse(bytes: &[u8]) -> Option<Parsed<'_>> {
    let mut decoder = BinDecoder::new(bytes);
    let Header { mut metadata, counts } = Header::read(&mut decoder).ok()?;
    let start = decoder.index();
    let queries = Message::read_queries(&mut decoder, usize::from(counts.queries)).ok()?;
    let question =
        bytes.get(start..decoder.index()).filter(|_| queries.len() == 1 && !has_pointer(&bytes[start..]));
    let op = metadata.op_code;
    Message::read_records(&mut decoder, usize::from(counts.answers), false, op).ok()?;
    Message::read_records(&mut decoder, usize::from(counts.authorities), false, op).ok()?;
    let (_, edns, _) = Message::read_records(&mut decoder, usize::from(counts.additionals), true, op).ok()?;
    if !decoder.is_empty() {
        return None;
    }
    if let Some(edns) = &edns {
        metadata.merge_response_code(edns.rcode_high());
    }
    Some(Parsed { metadata, queries, edns, question })
}

/// Whether the name at the start of `bytes` (well formed: it was decoded) has a compression
/// pointer.
fn has_pointer(bytes: &[u8]) -> bool {
    let mut at = 0;
    while let Some(&len) = bytes.get(at) {
        match len {
            0 => return false,
            l if l & 0xC0 != 0 => return true,
            l => at += 1 + usize::from(l),
        }
    }
    true
}

/// Encodes a response into `out`, at most `size` bytes (leaving out records that do not fit,
/// with TC); the outcome of an error response, by its code. The sections are emitted as
/// hickory's `emit_message_parts` does, except that a question received without compression is
/// copied as it came, with only the name suffixes later names can point to stored for
/// compression (the bytes are the same as hickory's full encoding: a test compares them).
fn encode(
    metadata: &Metadata,
    question: &Question<'_>,
    edns: Option<&Edns>,
    answer: &ZoneAnswer,
    size: u16,
    out: &mut Vec<u8>,
) -> Outcome {
    out.clear();
    let mut encoder = BinEncoder::new(out);
    encoder.set_max_size(size);
    if emit(&mut encoder, metadata, question, edns, answer).is_err() {
        // cannot happen with a question of at most 255 bytes in 512; answer SERVFAIL rather than nothing
        out.clear();
        let mut failed = *metadata;
        failed.response_code = ResponseCode::ServFail;
        let none = Question { queries: &[], raw: None };
        let _ = emit(&mut BinEncoder::new(out), &failed, &none, None, &ZoneAnswer::default());
        return Outcome::Error;
    }
    match metadata.response_code {
        ResponseCode::Refused | ResponseCode::NotImp => Outcome::Refused,
        ResponseCode::FormErr | ResponseCode::BADVERS => Outcome::FormErr,
        ResponseCode::NXDomain => Outcome::Unknown,
        ResponseCode::NoError => Outcome::NoData,
        _ => Outcome::Error,
    }
}

fn emit(
    encoder: &mut BinEncoder<'_>,
    metadata: &Metadata,
    question: &Question<'_>,
    edns: Option<&Edns>,
    answer: &ZoneAnswer,
) -> Result<(), ProtoError> {
    let place = encoder.place::<Header>()?;
    match question.raw {
        Some((raw, shared)) => {
            let start = encoder.offset();
            encoder.emit_vec(raw)?;
            // the name ends 5 bytes before the question does (its root label, type, class)
            let name_end = start + raw.len() - 5;
            let mut labels = [0usize; 128];
            let (mut count, mut at) = (0, 0);
            while raw[at] != 0 {
                labels[count] = start + at;
                count += 1;
                at += 1 + usize::from(raw[at]);
            }
            // in the order hickory stores them: the whole name, then ever shorter suffixes
            for (i, &label) in labels[..count].iter().enumerate() {
                if i == 0 || i >= count.saturating_sub(shared) {
                    encoder.store_label_pointer(label, name_end);
                }
            }
        }
        None => {
            encoder.emit_all(question.queries.iter())?;
        }
    }
    let mut truncated = false;
    let mut section =
        |encoder: &mut BinEncoder<'_>, records: &[Record]| match encoder.emit_all(records.iter()) {
            Ok(count) => Ok(count as u16),
            Err(ProtoError::NotAllRecordsWritten { count, .. }) => {
                truncated = true;
                Ok(count as u16)
            }
            Err(e) => Err(e),
        };
    let answers = section(encoder, &answer.answers)?;
    let authorities = section(encoder, &answer.authorities)?;
    let mut additionals = section(encoder, &answer.additionals)?;
    if let Some(edns) = edns {
        let mut edns = edns.clone();
        edns.set_rcode_high(metadata.response_code.high());
        additionals += section(encoder, &[Record::from(&edns)])?;
    }
    let counts = HeaderCounts { queries: question.queries.len() as u16, answers, authorities, additionals };
    let mut metadata = *metadata;
    metadata.truncation |= truncated;
    place.replace(encoder, Header { metadata, counts })
}
