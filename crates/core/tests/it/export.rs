//! The export's view of a ledger: every entry folded into a [`StateAccumulator`] gives the
//! ledger's state hash, a changed, missing or extra entry does not, and the routing rows are
//! exactly the operators, ranges and ported numbers.

use npchain_core::{
    Ledger, MemStore, PortedEntry, ReadStore, Table,
    export::{RoutingRow, StateAccumulator},
};
use npchain_testkit::{GenesisBuilder, num, op};

fn ledger() -> Ledger<MemStore> {
    let genesis = GenesisBuilder::three_operators("export-core").build();
    let ported = [("+49301000001", "OPB"), ("+49302000002", "OPC"), ("+49303000003", "OPA")]
        .map(|(n, o)| Ok(PortedEntry { number: num(n), operator: op(o), routing_number: None }));
    Ledger::genesis(MemStore::new(), &genesis, ported).unwrap()
}

fn entries(l: &Ledger<MemStore>) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
    Table::ALL
        .into_iter()
        .flat_map(|t| {
            l.store().range(t, &[], None, usize::MAX).unwrap().into_iter().map(move |(k, v)| (t, k, v))
        })
        .collect()
}

fn hash(entries: &[(Table, Vec<u8>, Vec<u8>)]) -> npchain_core::Digest {
    let mut acc = StateAccumulator::new();
    for (t, k, v) in entries {
        acc.add(*t, k, v);
    }
    acc.state_hash()
}

#[test]
fn every_entry_hashes_to_the_state_hash_and_any_change_does_not() {
    let l = ledger();
    let all = entries(&l);
    assert_eq!(hash(&all), l.state_hash());
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(hash(&reversed), l.state_hash(), "the sum does not depend on the order");
    let mut changed = all.clone();
    changed[0].2.push(1);
    assert_ne!(hash(&changed), l.state_hash());
    assert_ne!(hash(&all[1..]), l.state_hash(), "an entry left out");
    let mut twice = all.clone();
    twice.push(all[0].clone());
    assert_ne!(hash(&twice), l.state_hash(), "an entry twice");
}

#[test]
fn the_routing_rows_are_the_operators_ranges_and_ported_numbers() {
    let l = ledger();
    let rows: Vec<RoutingRow> =
        entries(&l).iter().filter_map(|(t, k, v)| RoutingRow::of(*t, k, v).unwrap()).collect();
    let ops: Vec<_> = rows
        .iter()
        .filter_map(|r| if let RoutingRow::Operator(o) = r { Some(o.id.to_string()) } else { None })
        .collect();
    assert_eq!(ops, ["OPA", "OPB", "OPC"]);
    let ranges: Vec<_> = rows
        .iter()
        .filter_map(|r| match r {
            RoutingRow::Range { prefix, range } => Some(format!("{prefix} {}", range.holder)),
            _ => None,
        })
        .collect();
    assert_eq!(ranges, ["+49301 OPA", "+49302 OPB", "+49303 OPC"]);
    let ported: Vec<_> = rows
        .iter()
        .filter_map(|r| match r {
            RoutingRow::Ported { number, operator } => Some(format!("{number} {operator}")),
            _ => None,
        })
        .collect();
    assert_eq!(ported, ["+49301000001 OPB", "+49302000002 OPC", "+49303000003 OPA"]);
    for t in Table::ALL {
        assert_eq!(Table::from_code(t as u8), Some(t));
    }
    assert_eq!(Table::from_code(0), None);
    assert_eq!(Table::from_code(14), None);
}
