//! The verified export without a network: a ledger's state dump written as an export, certified
//! the way the engine certifies blocks, verified; every kind of tampering refused with the file
//! and line or entry named; and the round trip — the exported CSV files as the genesis of a
//! fresh ledger route every number as the source does.

use commonware_codec::Encode;
use commonware_cryptography::Signer as _;
use npchain_api::{
    Block,
    dump::{self, DumpHeader},
    proof::testing,
};
use npchain_cli::export::{self, verify::verify};
use npchain_core::{
    E164, Genesis, GenesisOperator, GenesisRange, Ledger, MemStore, PortedEntry, Prefix, TxBody,
    read_ported_csv, types::parse_public_key,
};
use npchain_testkit::{GenesisBuilder, Net, key, num, op};
use std::{ops::ControlFlow, path::Path};

/// Entries per range in the migration list.
const PORTED_PER_RANGE: u64 = 400;
/// The ranges of the migration list, their holders, and the operators it ports to in turn.
const RANGES: [(&str, &str); 3] = [("+49301", "OPA"), ("+49302", "OPB"), ("+49303", "OPC")];
const TO: [&str; 3] = ["OPB", "OPC", "OPA"];

/// The migration list: entry `k` of range `i` goes to `TO[(i + k) % 3]`, so a third of them
/// go back to their range holder (no port: nothing is stored for them).
fn migration() -> Vec<PortedEntry> {
    RANGES
        .iter()
        .enumerate()
        .flat_map(|(i, (p, _))| {
            (0..PORTED_PER_RANGE).map(move |k| PortedEntry {
                number: number(p, k * 3),
                operator: op(TO[(i + k as usize) % 3]),
                routing_number: None,
            })
        })
        .collect()
}

/// How many of the migration list are ports.
fn ported_count() -> u64 {
    let holder = |n: &E164| RANGES.iter().find(|(p, _)| n.to_string().starts_with(p)).unwrap().1;
    migration().iter().filter(|e| e.operator.to_string() != holder(&e.number)).count() as u64
}

fn genesis() -> Genesis {
    GenesisBuilder::new("export-files")
        .region("DE")
        .operator("OPA", "+49D001")
        .operator("OPB", "+49D002")
        .operator("OPC", "+49D003")
        .operator("OPD", "+49D004")
        .range_with("+49301", "OPA", Some("12"))
        .range_with("+49302", "OPB", Some("12"))
        .range_with("+49303", "OPC", Some("11-12"))
        .build()
}

fn number(prefix: &str, k: u64) -> E164 {
    num(&format!("{prefix}{k:07}"))
}

/// A ledger with a migration list and blocks after it: a nested range, a routing number
/// changed (every number ported to OPB answers with the new one), a bound number (a number
/// record that is no port).
fn source() -> Net {
    let g = genesis();
    let mut net = Net::with_ported(&g, migration());
    let regulator = "regulator";
    let prefix: Prefix = "+493019".parse().unwrap();
    net.apply(regulator, TxBody::AssignRange { prefix, holder: op("OPD") }).unwrap();
    let rn = "+49D00B".parse().unwrap();
    let update =
        TxBody::UpdateOperator { id: op("OPB"), operator_key: key("OPB").public_key(), routing_number: rn };
    net.apply(regulator, update).unwrap();
    let bind = TxBody::Bind { number: number("+49301", 1), subscriber: Some(Net::subscriber("alice")) };
    net.apply("OPA", bind).unwrap();
    net
}

fn validator_keys() -> Vec<npchain_core::PrivateKey> {
    ["OPA", "OPB", "OPC", "OPD"].map(|o| key(&format!("{o}/validator"))).to_vec()
}

/// The export of `ledger` in `dir`: the dump written as `npchain export` writes it, and the
/// block of its height certified by every genesis validator.
fn export_to(ledger: &Ledger<MemStore>, dir: &Path) -> export::Written {
    let header = DumpHeader {
        height: ledger.height(),
        block_time_ms: ledger.block_time().millis(),
        state_hash: ledger.state_hash(),
    };
    let mut bytes = Vec::new();
    let flow = dump::stream(ledger.store(), &header, 7, |chunk| {
        bytes.extend_from_slice(&chunk);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(flow.is_continue());
    std::fs::create_dir_all(dir).unwrap();
    let mut seen = Vec::new();
    let written = export::write_state(&bytes[..], "memory", dir, |c| seen.push(*c)).unwrap();
    assert!(!seen.is_empty(), "progress was shown");
    let mut block = testing::block(ledger.height(), Vec::new());
    block.state_hash = ledger.state_hash();
    block.time = ledger.block_time();
    let keys = validator_keys();
    let cert = testing::finalization(&testing::sorted_public(&keys), &keys[..3], 0, 40, &block);
    std::fs::write(dir.join(export::BLOCK), block.encode()).unwrap();
    std::fs::write(dir.join(export::FINALIZATION), cert).unwrap();
    std::fs::write(dir.join(export::EPOCHS), "").unwrap();
    let c = written.counts;
    let manifest = export::Manifest {
        format: export::FORMAT,
        height: ledger.height(),
        block_time_ms: ledger.block_time().millis(),
        state_hash: written.state_hash.to_string(),
        entries: c.entries,
        operators: c.operators,
        ranges: c.ranges,
        ported: c.ported,
    };
    std::fs::write(dir.join(export::MANIFEST), serde_json::to_string(&manifest).unwrap()).unwrap();
    written
}

fn faults(dir: &Path) -> Vec<String> {
    verify(dir, &genesis(), |_| {}).unwrap().faults.iter().map(ToString::to_string).collect()
}

/// A fresh genesis from the exported files: the operators (keys, routing numbers), the
/// ranges with their lengths, the policy and time of `template`.
fn genesis_from(dir: &Path, template: &Genesis) -> (Genesis, Vec<PortedEntry>) {
    let mut ops = csv::Reader::from_path(dir.join(export::OPERATORS)).unwrap();
    let operators = ops
        .records()
        .map(|r| {
            let r = r.unwrap();
            GenesisOperator {
                id: r[0].parse().unwrap(),
                name: r[1].to_owned(),
                routing_number: r[2].parse().unwrap(),
                operator_key: parse_public_key(&r[4]).unwrap(),
                validator_key: parse_public_key(&r[5]).unwrap(),
            }
        })
        .collect();
    let mut ranges = csv::Reader::from_path(dir.join(export::RANGES)).unwrap();
    let ranges = ranges
        .records()
        .map(|r| {
            let r = r.unwrap();
            GenesisRange::new(r[0].parse().unwrap(), r[1].parse().unwrap(), Some(r[2].parse().unwrap()))
                .unwrap()
        })
        .collect();
    let fresh = Genesis { chain_name: "export-files-fresh".into(), operators, ranges, ..template.clone() };
    let file = std::fs::File::open(dir.join(export::PORTED)).unwrap();
    let ported = read_ported_csv(file, fresh.region).map(Result::unwrap).collect();
    (fresh, ported)
}

/// The routing answer as a switch sees it: serving operator, routing number, ported or not,
/// range holder — or why the number does not route.
fn answer(l: &Ledger<MemStore>, n: E164) -> String {
    match l.lookup(n) {
        Ok(r) => format!("{} {} {} {:?}", r.serving, r.routing_number, r.ported, r.range_holder),
        Err(why) => format!("{why}"),
    }
}

#[test]
fn an_export_verifies_and_its_csv_as_a_genesis_routes_every_number_alike() {
    let net = source();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    let written = export_to(&net.ledger, &dir);
    assert_eq!(written.state_hash, net.ledger.state_hash(), "the state hash recomputed from the dump");
    assert_eq!(written.counts.operators, 4);
    assert_eq!(written.counts.ranges, 4);
    assert_eq!(written.counts.ported, ported_count(), "the bound number is no port");
    assert!(ported_count() > 2 * PORTED_PER_RANGE);
    let report = verify(&dir, &genesis(), |_| {}).unwrap();
    assert!(report.holds(), "{report}");
    assert_eq!(report.height, Some(net.ledger.height()));
    assert_eq!(report.counts.entries, written.counts.entries);

    // the migration list carries the new routing number of OPB
    let ported = std::fs::read_to_string(dir.join(export::PORTED)).unwrap();
    assert!(ported.starts_with("number,operator,rn\n"), "{ported}");
    assert!(ported.contains(",OPB,+49D00B\n") && !ported.contains("+49D002"), "{ported}");

    let (fresh_genesis, list) = genesis_from(&dir, &genesis());
    let fresh = Ledger::genesis(MemStore::new(), &fresh_genesis, list.into_iter().map(Ok)).unwrap();
    // every number of every range (both lengths of +49303, the nested range), and numbers in
    // no range and of no valid length
    let mut numbers: Vec<E164> = Vec::new();
    for prefix in ["+49301", "+49302", "+49303"] {
        numbers.extend((0..3 * PORTED_PER_RANGE + 20).map(|k| number(prefix, k)));
        numbers.extend((0..50).map(|k| num(&format!("{prefix}{k:06}"))));
    }
    numbers.extend((0..200).map(|k| num(&format!("+493019{k:06}"))));
    numbers.extend((0..50).map(|k| num(&format!("+49304{k:07}"))));
    let mut ported_seen = 0;
    for n in &numbers {
        let (a, b) = (answer(&net.ledger, *n), answer(&fresh, *n));
        assert_eq!(a, b, "{n}");
        ported_seen += usize::from(a.contains(" true "));
    }
    assert_eq!(ported_seen as u64, ported_count(), "every ported number compared");
}

/// Copies the export, lets `tamper` change the copy, and gives the faults of the copy.
fn tampered(dir: &Path, tamper: impl FnOnce(&Path)) -> Vec<String> {
    let copy = dir.with_extension("tampered");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    tamper(&copy);
    faults(&copy)
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

#[test]
fn every_kind_of_tampering_fails_naming_the_file_and_the_line_or_entry() {
    let net = source();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    export_to(&net.ledger, &dir);
    assert!(faults(&dir).is_empty());
    let has = |faults: &[String], what: &str| {
        assert!(faults.iter().any(|f| f.contains(what)), "expected a fault with {what:?}: {faults:#?}");
    };

    // a CSV line changed: a ported number moved to another operator
    let f =
        tampered(&dir, |d| edit(&d.join(export::PORTED), |t| t.replacen(",OPB,+49D00B", ",OPC,+49D003", 1)));
    has(&f, "ported.csv line 2:");
    has(&f, "but state.bin entry");
    // a line added, one removed
    let f = tampered(&dir, |d| edit(&d.join(export::PORTED), |t| t + "+49302999999,OPA,+49D001\n"));
    has(&f, &format!("ported.csv line {}: \"+49302999999,OPA,+49D001\" is in no entry", ported_count() + 2));
    let f = tampered(&dir, |d| {
        edit(&d.join(export::RANGES), |t| {
            let mut lines: Vec<&str> = t.lines().collect();
            lines.remove(2);
            lines.join("\n") + "\n"
        })
    });
    has(&f, "ranges.csv line 3:");
    let f =
        tampered(&dir, |d| edit(&d.join(export::OPERATORS), |t| t.replace("Operator OPC", "Operator OPX")));
    has(&f, "operators.csv line 4:");

    // a table entry changed in state.bin: the hash no longer matches the certified block
    let f = tampered(&dir, |d| {
        let path = d.join(export::STATE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last_value_byte = bytes.len() - 10;
        bytes[last_value_byte] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    });
    has(&f, "state.bin: its ");
    has(&f, "an entry was changed, added or removed");
    // state.bin cut short
    let f = tampered(&dir, |d| {
        let path = d.join(export::STATE);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    });
    has(&f, "state.bin: cut short at byte");

    // the block changed (another state hash): the certificate no longer covers it
    let f = tampered(&dir, |d| {
        let path = d.join(export::BLOCK);
        let mut block: Block = commonware_codec::DecodeExt::decode(commonware_codec::Copying(
            std::fs::read(&path).unwrap().as_slice(),
        ))
        .unwrap();
        block.state_hash = npchain_core::Digest([7; 32]);
        std::fs::write(&path, block.encode()).unwrap();
    });
    has(&f, "block.bin and finalization.bin: the certificate finalizes block");
    // the certificate changed
    let f = tampered(&dir, |d| {
        let path = d.join(export::FINALIZATION);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    });
    has(&f, "block.bin and finalization.bin:");
    // signed by validators that are not the genesis's
    let f = tampered(&dir, |d| {
        let others: Vec<_> = ["X1", "X2", "X3", "X4"].map(key).to_vec();
        let block: Block = commonware_codec::DecodeExt::decode(commonware_codec::Copying(
            std::fs::read(d.join(export::BLOCK)).unwrap().as_slice(),
        ))
        .unwrap();
        let cert = testing::finalization(&testing::sorted_public(&others), &others[..3], 0, 40, &block);
        std::fs::write(d.join(export::FINALIZATION), cert).unwrap();
    });
    has(&f, "not a quorum of the epoch's validator set");
    // the manifest claims another count
    let f =
        tampered(&dir, |d| edit(&d.join(export::MANIFEST), |t| t.replace("\"ranges\":4", "\"ranges\":5")));
    has(&f, "manifest.json: ranges is 5, but the files hold 4");
    // a file missing
    let f = tampered(&dir, |d| std::fs::remove_file(d.join(export::PORTED)).unwrap());
    has(&f, "ported.csv: cannot be read");
}
