//! The ENUM zone, synthesised on every query from the committed routing table (hickory's
//! [`ZoneHandler`]): what exists under the origin, and what each name answers.
//!
//! Nothing of the zone is stored: a name `d.d.…d.<origin>` (one digit per label, the E.164
//! digits reversed) is looked up in [`Routes`] and answered with one NAPTR. hickory-server does
//! the DNS: parsing, the [`Catalog`](hickory_server::zone_handler::Catalog) (REFUSED outside the
//! origin, SOA in the authority section of negative answers, NS with SOA answers), encoding and
//! transport. This module only decides what exists and what it answers:
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

use super::{EnumConfig, EnumError, NameError};
use hickory_server::{
    proto::{
        op::ResponseCode,
        rr::{
            DNSClass, LowerName, Name, RData, Record, RecordType, TSigResponseContext,
            rdata::{NAPTR, NS, SOA},
        },
    },
    server::{Request, RequestInfo},
    zone_handler::{
        AuthLookup, AxfrPolicy, LookupControlFlow, LookupError, LookupOptions, LookupRecords, ZoneHandler,
        ZoneTransfer, ZoneType,
    },
};
use npchain_core::{Prefix, Route, Routes};
use std::cell::Cell;

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

/// SOA timers. Nothing transfers the zone (AXFR is refused), so they only inform; the negative
/// caching time (`minimum`) is [`ANSWER_TTL`] for the same reason as the answers' TTL.
const SOA_REFRESH: i32 = 3600;
const SOA_RETRY: i32 = 600;
const SOA_EXPIRE: i32 = 86_400;

/// The longest E.164 number, in digits (labels below the origin).
const MAX_DIGITS: usize = 15;

/// Parses a configured host or zone name as a fully qualified, lower-case name.
fn parse_name(field: &'static str, value: &str) -> Result<Name, EnumError> {
    let bad = |reason: NameError| EnumError::BadName { field, value: value.to_owned(), reason };
    let trimmed = value.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err(if field == "origin" { EnumError::RootOrigin } else { bad(NameError::Empty) });
    }
    let mut name = Name::from_ascii(trimmed).map_err(|e| bad(NameError::Syntax(e)))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// What a query found, as the metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Ported,
    NotPorted,
    Apex,
    NoData,
    Unknown,
}

impl Outcome {
    pub(super) fn label(self) -> &'static str {
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
    pub(super) static OUTCOME: Cell<Option<Outcome>>;
}

/// What a name under the origin is.
enum NameKind {
    Apex,
    Number(Route),
    /// Leading digits of assigned ranges: the name exists (numbers are below it), with no data.
    EmptyNonTerminal,
    Missing,
}

/// The ENUM zone, synthesised from the routing table (hickory's [`ZoneHandler`]).
pub(super) struct EnumZone {
    pub(super) origin: LowerName,
    origin_name: Name,
    origin_labels: usize,
    ns: Name,
    hostmaster: Name,
    routes: Routes,
}

impl EnumZone {
    pub(super) fn new(routes: Routes, config: &EnumConfig) -> Result<Self, EnumError> {
        let origin_name = parse_name("origin", &config.origin)?;
        let ns = parse_name("ns", &config.ns)?;
        let hostmaster = origin_name.prepend_label("hostmaster").map_err(|e| EnumError::BadName {
            field: "origin",
            value: config.origin.clone(),
            reason: NameError::Hostmaster(e),
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
    fn classify(&self, name: &LowerName) -> NameKind {
        if *name == self.origin {
            return NameKind::Apex;
        }
        // `iter` counts every label (hickory's `num_labels` leaves out a leading `*`)
        let labels: Vec<&[u8]> = name.iter().collect();
        let Some(below) = labels.len().checked_sub(self.origin_labels) else { return NameKind::Missing };
        if below == 0 || below > MAX_DIGITS {
            return NameKind::Missing;
        }
        let mut digits = String::with_capacity(below);
        for label in labels[..below].iter().rev() {
            match label {
                [d] if d.is_ascii_digit() => digits.push(char::from(*d)),
                _ => return NameKind::Missing,
            }
        }
        // first digit not 0, 1 to 15 digits
        let Some(prefix) = Prefix::from_digits(&digits) else { return NameKind::Missing };
        let table = self.routes.read();
        if let Some(route) = table.route(prefix.as_number()) {
            NameKind::Number(route)
        } else if table.has_ranges_below(prefix) {
            NameKind::EmptyNonTerminal
        } else {
            NameKind::Missing
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
        match self.classify(name) {
            NameKind::Apex => match rtype {
                RecordType::SOA => (records(vec![self.soa()]), Outcome::Apex),
                RecordType::NS => (records(vec![self.ns()]), Outcome::Apex),
                RecordType::ANY => (records(vec![self.soa(), self.ns()]), Outcome::Apex),
                _ => nodata(),
            },
            NameKind::Number(route) => match rtype {
                RecordType::NAPTR | RecordType::ANY => {
                    let outcome = if route.ported { Outcome::Ported } else { Outcome::NotPorted };
                    (records(vec![Self::naptr(name, &route)]), outcome)
                }
                _ => nodata(),
            },
            NameKind::EmptyNonTerminal => nodata(),
            NameKind::Missing => (Err(LookupError::from(ResponseCode::NXDomain)), Outcome::Unknown),
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
