//! The ENUM zone, synthesised on every query from the committed routing table: what exists
//! under the origin, and which records each name has.
//!
//! Nothing of the zone is stored: a name `d.d.…d.<origin>` (one digit per label, the E.164
//! digits reversed) is looked up in [`Routes`] and answered with one NAPTR.
//!
//! | name | records |
//! |---|---|
//! | the origin | SOA (serial = committed height), NS |
//! | a name server inside the zone | A / AAAA (its configured addresses) |
//! | a ported number | NAPTR `!^.*$!tel:+<number>;npdi;rn=<routing number>!` |
//! | a number in an assigned range, not ported | NAPTR `!^.*$!tel:+<number>;npdi!` |
//! | leading digits of a valid number of a range, or of a name server's name (empty non-terminals) | none (NODATA) |
//! | anything else under the origin | does not exist (NXDOMAIN) |
//!
//! Which digit strings are numbers (and so which are leading digits, and which are too long) is
//! the routing table's to say: the range's lengths from the numbering plan.
//!
//! TTLs: a number's NAPTR has [`ANSWER_TTL`] (0): routing changes at the next committed block,
//! and a cached answer would route a ported number to its old operator. Everything else (the SOA,
//! NS and address records, and so every negative answer, RFC 2308 §5) has the configured
//! negative TTL: those names change only when ranges or the configuration change, and a
//! resolver that minimises its queries (RFC 9156) asks each leading-digit name once per TTL
//! rather than once per lookup.

use super::{EnumConfig, EnumError, NameError, NsHost};
use hickory_proto::{
    op::ResponseCode,
    rr::{
        DNSClass, Name, RData, Record, RecordType,
        rdata::{A, AAAA, NAPTR, NS, SOA},
    },
};
use npchain_core::{E164, Prefix, Routes, Serving};
use std::net::IpAddr;

/// TTL of a number's NAPTR answer: 0, nothing is cached (see the module doc).
pub const ANSWER_TTL: u32 = 0;

/// The NAPTR answer's fixed fields, shared with the HTTP route answer.
pub use npchain_api::enum_query::{NAPTR_FLAGS, NAPTR_ORDER, NAPTR_PREFERENCE, NAPTR_SERVICE};

/// SOA timers. Nothing transfers the zone (AXFR is refused), so they only inform.
const SOA_REFRESH: i32 = 3600;
const SOA_RETRY: i32 = 600;
const SOA_EXPIRE: i32 = 86_400;

/// The longest E.164 number, in digits (labels below the origin).
const MAX_DIGITS: usize = 15;

/// What a query found, as the metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Ported,
    NotPorted,
    /// The zone's own records: the apex (SOA, NS) and its name servers' addresses.
    Apex,
    NoData,
    Unknown,
    Refused,
    FormErr,
    Error,
}

impl Outcome {
    /// Every outcome, in the order of [`Self::index`].
    pub(super) const ALL: [Self; 8] = [
        Self::Ported,
        Self::NotPorted,
        Self::Apex,
        Self::NoData,
        Self::Unknown,
        Self::Refused,
        Self::FormErr,
        Self::Error,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Ported => "ported",
            Self::NotPorted => "not_ported",
            Self::Apex => "apex",
            Self::NoData => "nodata",
            Self::Unknown => "unknown",
            Self::Refused => "refused",
            Self::FormErr => "formerr",
            Self::Error => "error",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The zone's answer to one question.
#[derive(Debug, Default)]
pub(super) struct ZoneAnswer {
    /// NOERROR or NXDOMAIN (the zone answers both authoritatively).
    pub(super) code: ResponseCode,
    pub(super) answers: Vec<Record>,
    /// The SOA of a negative answer.
    pub(super) authorities: Vec<Record>,
    /// Name servers' addresses given with an NS answer.
    pub(super) additionals: Vec<Record>,
    /// For the origin and names whose label below it is a digit: how many of the name's
    /// shortest label suffixes the other names of the answer can share (those of the origin).
    /// `None` for other names, whose suffixes other names may share.
    pub(super) shared_suffixes: Option<usize>,
}

/// What a name under the origin is.
enum Node {
    Apex,
    /// A number: whether it is ported, and its NAPTR's regexp.
    Number {
        ported: bool,
        regexp: String,
    },
    /// A name server's name (index into the zone's hosts).
    Host(usize),
    /// Leading labels of names that exist: the name exists, with no records.
    EmptyNonTerminal,
    Missing,
}

/// A name server, as the zone serves it.
struct Host {
    name: Name,
    /// Its labels below the origin, top first, lower case; `None` outside the zone.
    below: Option<Vec<Vec<u8>>>,
    addresses: Vec<IpAddr>,
}

/// The ENUM zone over the routing table.
pub(super) struct Zone {
    origin: Name,
    /// The origin's labels, top first (`arpa`, `e164`), lower case.
    origin_top_down: Vec<Vec<u8>>,
    hosts: Vec<Host>,
    hostmaster: Name,
    negative_ttl: u32,
    routes: Routes,
}

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

/// A name's labels, top first.
fn top_down(name: &Name) -> Vec<Vec<u8>> {
    name.iter().rev().map(|l| l.to_ascii_lowercase()).collect()
}

impl Zone {
    pub(super) fn new(routes: Routes, config: &EnumConfig) -> Result<Self, EnumError> {
        if config.negative_ttl > super::MAX_NEGATIVE_TTL {
            return Err(EnumError::NegativeTtl { got: config.negative_ttl });
        }
        let origin = parse_name("origin", &config.origin)?;
        let origin_top_down = top_down(&origin);
        let hostmaster = origin.prepend_label("hostmaster").map_err(|e| EnumError::BadName {
            field: "origin",
            value: config.origin.clone(),
            reason: NameError::Hostmaster(e),
        })?;
        if config.ns.is_empty() {
            return Err(EnumError::NoNameServer);
        }
        let mut hosts: Vec<Host> = Vec::with_capacity(config.ns.len());
        for NsHost { name: text, addresses } in &config.ns {
            let name = parse_name("ns", text)?;
            let shown = || name.to_string().trim_end_matches('.').to_owned();
            let zone = || config.origin.trim_end_matches('.').to_owned();
            if hosts.iter().any(|h| h.name == name) {
                return Err(EnumError::DuplicateNameServer { name: shown() });
            }
            let labels = top_down(&name);
            let below = labels.strip_prefix(origin_top_down.as_slice()).map(<[_]>::to_vec);
            match &below {
                Some(below)
                    if below.is_empty() || matches!(below[0].as_slice(), [d] if d.is_ascii_digit()) =>
                {
                    return Err(EnumError::NameServerAmongNumbers { name: shown(), origin: zone() });
                }
                Some(_) if addresses.is_empty() => {
                    return Err(EnumError::NoGlue { name: shown(), origin: zone() });
                }
                None if !addresses.is_empty() => {
                    return Err(EnumError::GlueOutsideZone { name: shown(), origin: zone() });
                }
                _ => {}
            }
            hosts.push(Host { name, below, addresses: addresses.clone() });
        }
        Ok(Self { origin, origin_top_down, hosts, hostmaster, negative_ttl: config.negative_ttl, routes })
    }

    /// Whether `name` is the origin or below it.
    pub(super) fn contains(&self, name: &Name) -> bool {
        let mut labels = name.iter().rev();
        self.origin_top_down.iter().all(|want| labels.next().is_some_and(|l| l.eq_ignore_ascii_case(want)))
    }

    /// Classifies `name`, which [`Self::contains`]. The routing table's read lock is held for
    /// the lookup only.
    fn classify(&self, name: &Name) -> Node {
        let mut below = name.iter().rev().skip(self.origin_top_down.len()).peekable();
        let Some(first) = below.peek() else { return Node::Apex };
        if !matches!(first, [d] if d.is_ascii_digit()) {
            return self.classify_host(name);
        }
        let mut digits = [0u8; MAX_DIGITS];
        let mut len = 0;
        for label in below {
            match label {
                [d] if d.is_ascii_digit() && len < MAX_DIGITS => {
                    digits[len] = *d;
                    len += 1;
                }
                _ => return Node::Missing,
            }
        }
        // the first digit is not 0; 1 to 15 digits
        let Some(prefix) = std::str::from_utf8(&digits[..len]).ok().and_then(Prefix::from_digits) else {
            return Node::Missing;
        };
        let table = self.routes.read();
        if let Some(serving) = table.serving(prefix.as_number()) {
            Node::Number { ported: serving.ported, regexp: regexp(prefix.as_number(), serving) }
        } else if table.has_ranges_below(prefix) {
            Node::EmptyNonTerminal
        } else {
            Node::Missing
        }
    }

    /// A name below the origin that is not a digit string: a name server, one of the labels
    /// leading to one, or nothing.
    fn classify_host(&self, name: &Name) -> Node {
        let labels: Vec<&[u8]> = name.iter().rev().skip(self.origin_top_down.len()).collect();
        let matches = |below: &[Vec<u8>]| {
            below.len() >= labels.len()
                && labels.iter().zip(below).all(|(l, want)| l.eq_ignore_ascii_case(want))
        };
        let mut node = Node::Missing;
        for (i, host) in self.hosts.iter().enumerate() {
            match &host.below {
                Some(below) if matches(below) && below.len() == labels.len() => return Node::Host(i),
                Some(below) if matches(below) => node = Node::EmptyNonTerminal,
                _ => {}
            }
        }
        node
    }

    fn soa(&self) -> Record {
        // RFC 1982 serial arithmetic: the serial wraps, as the height outgrows 32 bits
        let serial = self.routes.read().height() as u32;
        let soa = SOA::new(
            self.hosts[0].name.clone(),
            self.hostmaster.clone(),
            serial,
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            self.negative_ttl,
        );
        self.record(self.origin.clone(), RData::SOA(soa))
    }

    fn record(&self, name: Name, data: RData) -> Record {
        let mut record = Record::from_rdata(name, self.negative_ttl, data);
        record.dns_class = DNSClass::IN;
        record
    }

    fn ns_records(&self) -> impl Iterator<Item = Record> + '_ {
        self.hosts.iter().map(|h| self.record(self.origin.clone(), RData::NS(NS(h.name.clone()))))
    }

    /// The A and AAAA records of name server `host` (of the types `want` accepts), owned by `owner`.
    fn addresses<'a>(
        &'a self,
        host: &'a Host,
        owner: &'a Name,
        want: impl Fn(RecordType) -> bool + 'a,
    ) -> impl Iterator<Item = Record> + 'a {
        host.addresses.iter().filter_map(move |ip| {
            let data = match ip {
                IpAddr::V4(v4) => RData::A(A(*v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
            };
            want(data.record_type()).then(|| self.record(owner.clone(), data))
        })
    }

    /// The glue: the addresses of every name server inside the zone.
    fn glue(&self) -> impl Iterator<Item = Record> + '_ {
        self.hosts.iter().filter(|h| h.below.is_some()).flat_map(|h| self.addresses(h, &h.name, |_| true))
    }

    /// A number's NAPTR (RFC 6116 §2, RFC 4769, RFC 4694) with `regexp`, owned by `owner` (the
    /// question's name).
    pub(super) fn naptr(owner: &Name, regexp: String) -> Record {
        let naptr = NAPTR::new(
            NAPTR_ORDER,
            NAPTR_PREFERENCE,
            NAPTR_FLAGS.as_bytes().into(),
            NAPTR_SERVICE.as_bytes().into(),
            regexp.into_bytes().into_boxed_slice(),
            Name::root(),
        );
        let mut record = Record::from_rdata(owner.clone(), ANSWER_TTL, RData::NAPTR(naptr));
        record.dns_class = DNSClass::IN;
        record
    }

    /// The answer to `name` (which [`Self::contains`]) and `rtype`, and how to count it.
    pub(super) fn answer(&self, name: &Name, rtype: RecordType) -> (ZoneAnswer, Outcome) {
        let mut answer = ZoneAnswer::default();
        let any = rtype == RecordType::ANY;
        // a name whose label below the origin is a digit shares no suffix below the origin with
        // any name the zone answers with (name servers may not be there)
        let below = name.iter().rev().nth(self.origin_top_down.len());
        if below.is_none_or(|l| matches!(l, [d] if d.is_ascii_digit())) {
            answer.shared_suffixes = Some(self.origin_top_down.len());
        }
        let outcome = match self.classify(name) {
            Node::Apex => {
                if matches!(rtype, RecordType::SOA) || any {
                    answer.answers.push(self.soa());
                }
                if matches!(rtype, RecordType::NS) || any {
                    answer.answers.extend(self.ns_records());
                    answer.additionals.extend(self.glue());
                }
                Outcome::Apex
            }
            Node::Host(i) => {
                let wanted = |t: RecordType| any || t == rtype;
                answer.answers.extend(self.addresses(&self.hosts[i], name, wanted));
                Outcome::Apex
            }
            Node::Number { ported, regexp } => {
                if rtype == RecordType::NAPTR || any {
                    answer.answers.push(Self::naptr(name, regexp));
                }
                if ported { Outcome::Ported } else { Outcome::NotPorted }
            }
            Node::EmptyNonTerminal => Outcome::NoData,
            Node::Missing => {
                answer.code = ResponseCode::NXDomain;
                Outcome::Unknown
            }
        };
        if answer.answers.is_empty() {
            // NODATA or NXDOMAIN: the SOA tells how long to cache it (RFC 2308 §3)
            answer.authorities.push(self.soa());
            return (answer, if outcome == Outcome::Unknown { outcome } else { Outcome::NoData });
        }
        (answer, outcome)
    }
}

/// A number's NAPTR regexp (`npchain_api::enum_query::naptr_regexp`, which the HTTP route answer
/// uses too).
fn regexp(number: E164, serving: Serving<'_>) -> String {
    npchain_api::enum_query::naptr_regexp(&number, serving.ported, &serving.routing_number)
}
