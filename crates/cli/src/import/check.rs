//! Every line of an NPDB extract checked before anything is signed: its syntax (the genesis
//! migration-list reader, streaming, each error naming its line), then against the network as
//! a node reports it — the operator admitted and not retired, a given routing number the
//! operator's, the number in an assigned range with one of its lengths, no open order on it
//! (unless the line names the order's donor, which serves it: that line changes nothing), and
//! no number on two lines.

use npchain_api::json::{OperatorList, PortList, RangeList};
use npchain_client::{Client, ClientError};
use npchain_core::{
    E164, GenesisError, Lengths, OperatorId, PortedEntry, Prefix, Region, RoutingNumber, read_ported_csv,
};
use std::collections::HashMap;

/// Why a line is refused. Each code is the ledger's for the same rule, where it has one.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("{}", syntax_text(.0))]
    Syntax(GenesisError),
    #[error("operator {0} is not admitted")]
    UnknownOperator(OperatorId),
    #[error("operator {0} is retired")]
    OperatorRetired(OperatorId),
    #[error(
        "routing number {got} differs from {operator}'s {expected}; per-number routing numbers are not supported"
    )]
    RoutingNumber { operator: OperatorId, expected: RoutingNumber, got: RoutingNumber },
    #[error("number {0} is in no assigned range")]
    UnknownNumber(E164),
    #[error("number {number} has {digits} digits, but the numbers of its range {range} have {lengths}")]
    NumberLength { number: E164, digits: u8, range: Prefix, lengths: Lengths },
    #[error(
        "number {number} has the open port order {port} (donor {donor}); import it after the order is finished"
    )]
    PortOpen { number: E164, port: String, donor: OperatorId },
    #[error("number {number} is also on line {other}; each number may be listed once")]
    Duplicate { number: E164, other: usize },
}

impl Fault {
    /// A short stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax(_) => "syntax",
            Self::UnknownOperator(_) => "unknown-operator",
            Self::OperatorRetired(_) => "operator-retired",
            Self::RoutingNumber { .. } => "import-routing-number",
            Self::UnknownNumber(_) => "unknown-number",
            Self::NumberLength { .. } => "number-length",
            Self::PortOpen { .. } => "port-open",
            Self::Duplicate { .. } => "duplicate",
        }
    }
}

/// The reader's error without its "migration list line N:" (the report names the line).
fn syntax_text(e: &GenesisError) -> String {
    use std::error::Error;
    match e {
        GenesisError::PortedHeader { found } => format!("header must be number,operator[,rn]; found {found}"),
        GenesisError::PortedFieldCount { found, .. } => format!("expected 2 or 3 fields, found {found}"),
        GenesisError::PortedCsv { .. }
        | GenesisError::PortedId { .. }
        | GenesisError::PortedNumber { .. } => e.source().map_or_else(|| e.to_string(), ToString::to_string),
        other => other.to_string(),
    }
}

/// The line a reader error names.
fn syntax_line(e: &GenesisError) -> usize {
    match e {
        GenesisError::PortedCsv { line, .. }
        | GenesisError::PortedFieldCount { line, .. }
        | GenesisError::PortedId { line, .. }
        | GenesisError::PortedNumber { line, .. } => *line,
        _ => 1,
    }
}

/// A line that passed every check, in 16 bytes: ten million lines fit in 160 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub line: u32,
    pub number: E164,
    /// Index into [`Network::operators`].
    pub operator: u16,
    /// The line gave the routing number (it is carried, so the ledger checks it too).
    pub rn: bool,
}

/// One operator as the check needs it.
#[derive(Debug, Clone)]
pub struct Operator {
    pub id: OperatorId,
    pub routing_number: RoutingNumber,
    pub active: bool,
}

/// The network as a node reports it: operators, ranges, open orders, the region.
#[derive(Debug, Clone, Default)]
pub struct Network {
    pub region: Option<Region>,
    pub operators: Vec<Operator>,
    index: HashMap<OperatorId, u16>,
    ranges: HashMap<Prefix, (OperatorId, Lengths)>,
    open: HashMap<E164, (String, OperatorId)>,
}

/// Pages of open orders read at most (1,000 orders a page).
const MAX_OPEN_PAGES: usize = 10_000;

impl Network {
    /// Reads operators, ranges and every open order (`GET /v1/ports?state=open`, paged).
    pub fn fetch(client: &Client) -> Result<Self, ClientError> {
        let region = client.status()?.region.and_then(|r| r.parse().ok());
        let mut network = Self::from_lists(region, &client.operators()?, &client.ranges()?);
        let mut after: Option<String> = None;
        for _ in 0..MAX_OPEN_PAGES {
            let mut filters = vec![("state", "open"), ("limit", "1000")];
            if let Some(a) = &after {
                filters.push(("after", a));
            }
            let page: PortList = client.ports(&filters)?;
            network.add_open(&page);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(network)
    }

    /// The network of these governance reads, with no open orders yet.
    pub fn from_lists(region: Option<Region>, operators: &OperatorList, ranges: &RangeList) -> Self {
        let mut network = Self { region, ..Self::default() };
        for op in &operators.operators {
            let (Ok(id), Ok(routing_number)) = (op.id.parse::<OperatorId>(), op.routing_number.parse())
            else {
                continue;
            };
            network.index.insert(id.clone(), network.operators.len() as u16);
            network.operators.push(Operator { id, routing_number, active: op.active });
        }
        for r in &ranges.ranges {
            if let (Ok(prefix), Ok(holder), Ok(lengths)) =
                (r.prefix.parse::<Prefix>(), r.holder.parse(), r.lengths.parse::<Lengths>())
            {
                network.ranges.insert(prefix, (holder, lengths));
            }
        }
        network
    }

    /// The open orders of a page of `GET /v1/ports`.
    pub fn add_open(&mut self, page: &PortList) {
        for port in page.ports.iter().filter(|p| p.open) {
            let Ok(donor) = port.donor.parse::<OperatorId>() else { continue };
            for n in &port.numbers {
                if let Ok(number) = n.parse::<E164>() {
                    self.open.insert(number, (port.id.clone(), donor.clone()));
                }
            }
        }
    }

    /// Checks one entry of the extract.
    pub fn check(&self, entry: &PortedEntry) -> Result<(u16, bool), Fault> {
        let slot =
            *self.index.get(&entry.operator).ok_or_else(|| Fault::UnknownOperator(entry.operator.clone()))?;
        let op = &self.operators[usize::from(slot)];
        if !op.active {
            return Err(Fault::OperatorRetired(op.id.clone()));
        }
        if let Some(got) = &entry.routing_number
            && got != &op.routing_number
        {
            let expected = op.routing_number.clone();
            return Err(Fault::RoutingNumber { operator: op.id.clone(), expected, got: got.clone() });
        }
        let number = entry.number;
        let (range, (_, lengths)) = number
            .prefixes()
            .find_map(|p| self.ranges.get(&p).map(|r| (p, r)))
            .ok_or(Fault::UnknownNumber(number))?;
        if !lengths.contains(number.digits()) {
            return Err(Fault::NumberLength { number, digits: number.digits(), range, lengths: *lengths });
        }
        if let Some((port, donor)) = self.open.get(&number)
            && donor != &op.id
        {
            return Err(Fault::PortOpen { number, port: port.clone(), donor: donor.clone() });
        }
        Ok((slot, entry.routing_number.is_some()))
    }

    /// The entry an accepted line stands for.
    pub fn entry(&self, a: &Accepted) -> PortedEntry {
        let op = &self.operators[usize::from(a.operator)];
        PortedEntry {
            number: a.number,
            operator: op.id.clone(),
            routing_number: a.rn.then(|| op.routing_number.clone()),
        }
    }
}

/// What the check found: the lines to import (in file order) and the refused ones.
#[derive(Debug, Default)]
pub struct Checked {
    /// Lines read after the header.
    pub lines: usize,
    pub accepted: Vec<Accepted>,
    /// In line order.
    pub refused: Vec<(usize, Fault)>,
}

/// Reads and checks every line of `reader`; `tick` is called with the lines read so far.
pub fn check_all<R: std::io::Read>(reader: R, network: &Network, mut tick: impl FnMut(usize)) -> Checked {
    let mut out = Checked::default();
    for (i, entry) in read_ported_csv(reader, network.region).enumerate() {
        let line = i + 2;
        match entry {
            Err(e) => {
                let at = syntax_line(&e);
                if !matches!(e, GenesisError::PortedHeader { .. }) {
                    out.lines += 1;
                }
                out.refused.push((at, Fault::Syntax(e)));
            }
            Ok(entry) => {
                out.lines += 1;
                match network.check(&entry) {
                    Ok((operator, rn)) => {
                        out.accepted.push(Accepted { line: line as u32, number: entry.number, operator, rn })
                    }
                    Err(fault) => out.refused.push((line, fault)),
                }
            }
        }
        if i % 65_536 == 0 {
            tick(out.lines);
        }
    }
    tick(out.lines);
    refuse_duplicates(&mut out);
    out
}

/// Every line of a number listed more than once is refused, naming another line of it.
fn refuse_duplicates(out: &mut Checked) {
    let mut order: Vec<u32> = (0..out.accepted.len() as u32).collect();
    order.sort_unstable_by_key(|&i| (out.accepted[i as usize].number, out.accepted[i as usize].line));
    let mut twice = vec![false; out.accepted.len()];
    for w in order.windows(2) {
        let (a, b) = (&out.accepted[w[0] as usize], &out.accepted[w[1] as usize]);
        if a.number == b.number {
            if !twice[w[0] as usize] {
                twice[w[0] as usize] = true;
                out.refused
                    .push((a.line as usize, Fault::Duplicate { number: a.number, other: b.line as usize }));
            }
            twice[w[1] as usize] = true;
            out.refused
                .push((b.line as usize, Fault::Duplicate { number: b.number, other: a.line as usize }));
        }
    }
    if twice.iter().any(|t| *t) {
        let mut keep = twice.iter().map(|t| !t);
        out.accepted.retain(|_| keep.next().unwrap_or(true));
        out.refused.sort_by_key(|(line, _)| *line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use npchain_api::json::{OperatorInfo, PortInfo, RangeInfo};

    fn network() -> Network {
        let op = |id: &str, rn: &str, active| OperatorInfo {
            id: id.into(),
            name: id.into(),
            operator_key: String::new(),
            validator_key: None,
            routing_number: rn.into(),
            active,
        };
        let operators = OperatorList {
            height: 1,
            regulator: String::new(),
            operators: vec![
                op("OPA", "+49D001", true),
                op("OPB", "+49D002", true),
                op("OPC", "+49D003", false),
            ],
        };
        let range =
            |p: &str, h: &str, l: &str| RangeInfo { prefix: p.into(), holder: h.into(), lengths: l.into() };
        let ranges = RangeList {
            height: 1,
            ranges: vec![range("+49150", "OPA", "13"), range("+49151", "OPB", "7-15")],
        };
        let mut n = Network::from_lists(Some("DE".parse().unwrap()), &operators, &ranges);
        let port = PortInfo {
            id: "ab12".into(),
            state: "requested".into(),
            open: true,
            numbers: vec!["+4915000000005".into()],
            donor: "OPA".into(),
            recipient: "OPB".into(),
            subscriber: String::new(),
            initiator: "subscriber".into(),
            due_ms: 0,
            donor_deadline_ms: 0,
            activation_deadline_ms: 0,
            on_donor_silence: "deemed-release".into(),
            history: Vec::new(),
        };
        n.add_open(&PortList { height: 1, ports: vec![port], next: None });
        n
    }

    #[test]
    fn every_refused_line_is_named_with_its_reason() {
        let csv = "number,operator,rn\n\
                   +4915000000001,OPB,\n\
                   015000000002,OPB,+49D002\n\
                   +4915000000003,OPX,\n\
                   +4915000000004,OPC,\n\
                   +4915000000005,OPB,\n\
                   +4915000000005x,OPB,\n\
                   +4915200000001,OPB,\n\
                   +491500000001,OPB,\n\
                   +4915000000006,OPB,+49D001\n\
                   +4915000000001,OPA,\n\
                   +4915000000005,OPA,\n\
                   +4915000000007,OPB,,extra\n";
        let network = network();
        let mut ticks = Vec::new();
        let checked = check_all(csv.as_bytes(), &network, |n| ticks.push(n));
        assert_eq!(checked.lines, 12);
        assert_eq!(ticks.last(), Some(&12));
        let accepted: Vec<(u32, u64, bool)> =
            checked.accepted.iter().map(|a| (a.line, a.number.value(), a.rn)).collect();
        // line 3 national form with the region; line 12 names the order's donor: a no-op
        assert_eq!(accepted, vec![(3, 4915000000002, true), (12, 4915000000005, false)]);
        let refused: Vec<(usize, &str)> = checked.refused.iter().map(|(l, f)| (*l, f.code())).collect();
        assert_eq!(
            refused,
            vec![
                (2, "duplicate"),
                (4, "unknown-operator"),
                (5, "operator-retired"),
                (6, "port-open"),
                (7, "syntax"),
                (8, "unknown-number"),
                (9, "number-length"),
                (10, "import-routing-number"),
                (11, "duplicate"),
                (13, "syntax"),
            ]
        );
        let text = |line: usize| checked.refused.iter().find(|(l, _)| *l == line).unwrap().1.to_string();
        assert_eq!(text(2), "number +4915000000001 is also on line 11; each number may be listed once");
        assert!(text(6).contains("open port order ab12 (donor OPA)"), "{}", text(6));
        assert!(text(7).contains("\"+4915000000005x\""), "the input is quoted: {}", text(7));
        assert_eq!(text(13), "expected 2 or 3 fields, found 4");
        assert_eq!(network.entry(&checked.accepted[0]).routing_number.unwrap().as_str(), "+49D002");
    }

    #[test]
    fn a_bad_header_refuses_the_file_at_line_1() {
        let checked = check_all("num,op\n+4915000000001,OPB\n".as_bytes(), &network(), |_| {});
        assert_eq!(checked.lines, 0);
        assert!(checked.accepted.is_empty());
        assert_eq!(checked.refused.len(), 1);
        assert_eq!(checked.refused[0].0, 1);
        assert_eq!(checked.refused[0].1.to_string(), "header must be number,operator[,rn]; found num,op");
    }
}
