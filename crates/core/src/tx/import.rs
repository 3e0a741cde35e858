//! The regulator's bulk import after genesis ([`super::TxBody::ImportNumbers`], tag 17): a
//! legacy NPDB extract's `number,operator[,rn]` entries, carried in groups that share an
//! operator and a routing number, so a number costs its 8 bytes.
//!
//! Encoding: the group count (varint), then per group the operator, the optional routing
//! number and its numbers (a varint count, then each number), strictly ascending. In all, 1 to
//! [`MAX_IMPORT`] numbers, none twice; anything else does not decode, so every import has one
//! encoding. An entry's *index* is its place when the groups are read in order, group after
//! group: refusals name it.

use crate::{
    genesis::PortedEntry,
    number::E164,
    types::{OperatorId, RoutingNumber},
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write};
use std::collections::BTreeMap;

/// Most numbers one import transaction carries: a quarter of a block's weight (20,000
/// numbers touched), about 40 KB of numbers, well inside the 128 KiB a transaction may have.
pub const MAX_IMPORT: usize = 5_000;

/// Numbers of one operator in an import, with the routing number the extract gave for them
/// (which must be the operator's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportGroup {
    pub operator: OperatorId,
    pub routing_number: Option<RoutingNumber>,
    /// Strictly ascending, at least one.
    pub numbers: Vec<E164>,
}

/// What entries of one group share: the operator and the routing number given.
type GroupKey<'a> = (&'a OperatorId, Option<&'a RoutingNumber>);

impl ImportGroup {
    /// Groups `entries` (at most [`MAX_IMPORT`], no number twice) as an import carries them:
    /// by operator and routing number, each group's numbers sorted. Also returns, for each
    /// entry index of the result, the position in `entries` it came from, so a refusal that
    /// names an index can be traced back to its line.
    pub fn from_entries(entries: &[PortedEntry]) -> (Vec<ImportGroup>, Vec<usize>) {
        let mut by_key: BTreeMap<GroupKey<'_>, Vec<(E164, usize)>> = BTreeMap::new();
        for (at, e) in entries.iter().enumerate() {
            by_key.entry((&e.operator, e.routing_number.as_ref())).or_default().push((e.number, at));
        }
        let mut groups = Vec::with_capacity(by_key.len());
        let mut origin = Vec::with_capacity(entries.len());
        for ((operator, routing_number), mut numbers) in by_key {
            numbers.sort_unstable();
            origin.extend(numbers.iter().map(|(_, at)| *at));
            groups.push(ImportGroup {
                operator: operator.clone(),
                routing_number: routing_number.cloned(),
                numbers: numbers.into_iter().map(|(n, _)| n).collect(),
            });
        }
        (groups, origin)
    }
}

/// How many numbers the groups carry.
pub fn import_len(groups: &[ImportGroup]) -> usize {
    groups.iter().map(|g| g.numbers.len()).sum()
}

impl Write for ImportGroup {
    fn write(&self, buf: &mut impl BufMut) {
        self.operator.write(buf);
        self.routing_number.write(buf);
        self.numbers.write(buf);
    }
}

impl EncodeSize for ImportGroup {
    fn encode_size(&self) -> usize {
        self.operator.encode_size() + self.routing_number.encode_size() + self.numbers.encode_size()
    }
}

/// Reads the groups of an import, bounded and canonical (see the module's doc).
pub(super) fn read_groups(buf: &mut impl Buf) -> Result<Vec<ImportGroup>, CodecError> {
    let count = usize::read_cfg(buf, &RangeCfg::from(1..=MAX_IMPORT))?;
    let mut groups = Vec::with_capacity(count);
    let mut left = MAX_IMPORT;
    for _ in 0..count {
        let operator = OperatorId::read(buf)?;
        let routing_number = Option::<RoutingNumber>::read_cfg(buf, &())?;
        if left == 0 {
            return Err(CodecError::Invalid("ImportNumbers", "more than 5,000 numbers"));
        }
        let numbers = Vec::<E164>::read_cfg(buf, &(RangeCfg::from(1..=left), ()))?;
        if numbers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CodecError::Invalid("ImportNumbers", "a group's numbers must be strictly ascending"));
        }
        left -= numbers.len();
        groups.push(ImportGroup { operator, routing_number, numbers });
    }
    let mut all: Vec<u64> = groups.iter().flat_map(|g| g.numbers.iter().map(|n| n.value())).collect();
    all.sort_unstable();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return Err(CodecError::Invalid("ImportNumbers", "a number is listed twice"));
    }
    Ok(groups)
}

/// The encoded size of `groups` as an import's fields.
pub(super) fn groups_size(groups: &[ImportGroup]) -> usize {
    groups.len().encode_size() + groups.iter().map(EncodeSize::encode_size).sum::<usize>()
}

/// The wire size of one number in an import, for callers sizing their chunks.
pub const NUMBER_SIZE: usize = E164::SIZE;

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode;

    fn entry(number: &str, operator: &str, rn: Option<&str>) -> PortedEntry {
        PortedEntry {
            number: E164::parse(number, None).unwrap(),
            operator: operator.parse().unwrap(),
            routing_number: rn.map(|r| r.parse().unwrap()),
        }
    }

    #[test]
    fn entries_group_by_operator_and_routing_number_and_trace_back() {
        let entries = vec![
            entry("+4915000000009", "OPB", None),
            entry("+4915000000001", "OPC", None),
            entry("+4915000000003", "OPB", Some("+49D002")),
            entry("+4915000000002", "OPB", None),
        ];
        let (groups, origin) = ImportGroup::from_entries(&entries);
        let shape: Vec<(String, bool, Vec<u64>)> = groups
            .iter()
            .map(|g| {
                (
                    g.operator.to_string(),
                    g.routing_number.is_some(),
                    g.numbers.iter().map(|n| n.value()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("OPB".into(), false, vec![4915000000002, 4915000000009]),
                ("OPB".into(), true, vec![4915000000003]),
                ("OPC".into(), false, vec![4915000000001]),
            ]
        );
        // entry index 0 is +4915000000002, the fourth entry given
        assert_eq!(origin, vec![3, 0, 2, 1]);
        assert_eq!(import_len(&groups), 4);
    }

    fn decode(groups: &[ImportGroup]) -> Result<Vec<ImportGroup>, CodecError> {
        let mut buf = Vec::new();
        groups.len().write(&mut buf);
        for g in groups {
            g.write(&mut buf);
        }
        assert_eq!(buf.len(), groups_size(groups));
        read_groups(&mut commonware_codec::Copying(buf.as_slice()))
    }

    #[test]
    fn only_canonical_bounded_imports_decode() {
        let (groups, _) = ImportGroup::from_entries(&[
            entry("+4915000000001", "OPB", None),
            entry("+4915000000002", "OPC", Some("+49D003")),
        ]);
        assert_eq!(decode(&groups).unwrap(), groups);

        let mut unsorted = groups.clone();
        unsorted[0].numbers = vec![E164::parse("+4915000000005", None).unwrap(), groups[0].numbers[0]];
        assert!(decode(&unsorted).unwrap_err().to_string().contains("strictly ascending"));

        let mut twice = groups.clone();
        twice[1].numbers = groups[0].numbers.clone();
        assert!(decode(&twice).unwrap_err().to_string().contains("listed twice"));

        let mut empty = groups.clone();
        empty[1].numbers.clear();
        assert!(decode(&empty).is_err());
        assert!(decode(&[]).is_err());

        let base = 4_915_000_000_000u64;
        let too_many = ImportGroup {
            operator: "OPB".parse().unwrap(),
            routing_number: None,
            numbers: (0..=MAX_IMPORT as u64).map(|i| E164::from_value(base + i).unwrap()).collect(),
        };
        assert!(decode(std::slice::from_ref(&too_many)).is_err());
        let mut split = too_many.clone();
        let rest = split.numbers.split_off(MAX_IMPORT);
        let second = ImportGroup { operator: "OPC".parse().unwrap(), routing_number: None, numbers: rest };
        assert_eq!(decode(&[split.clone()]).unwrap().len(), 1);
        assert!(decode(&[split, second]).is_err(), "the bound is on all groups together");
        assert!(too_many.encode().len() > MAX_IMPORT * NUMBER_SIZE);
    }
}
