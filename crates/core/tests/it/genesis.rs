//! Genesis from TOML, migration lists from CSV, and their errors.

use crate::harness::{genesis, net, net_with_ported, num, op};
use npchain_core::{Genesis, GenesisError, Ledger, MemStore, Policy, PortedEntry, read_ported_csv};

#[test]
fn toml_round_trips_and_loads() {
    let g = genesis(Policy::default());
    let text = g.to_toml();
    assert_eq!(Genesis::from_toml(&text).unwrap(), g);
    assert!(text.contains("[[operators]]") && text.contains("on_donor_silence = \"deemed-release\""));
}

#[test]
fn toml_errors_name_the_field() {
    let text = genesis(Policy::default()).to_toml();
    let cases = [
        (
            text.replacen("routing_number = \"+49D001\"", "routing_number = \"rn=1\"", 1),
            "operators[0].routing_number",
        ),
        (text.replacen("holder = \"OPB\"", "holder = \"OPZ\"", 1), "OPZ, which is not an operator"),
        (text.replacen("prefix = \"+49302\"", "prefix = \"49302\"", 1), "ranges[1].prefix"),
        (text.replacen("prefix = \"+49302\"", "prefix = \"+49301\"", 1), "range +49301 appears twice"),
        (text.replacen("id = \"OPB\"", "id = \"OPA\"", 1), "operator OPA appears twice"),
        (text.replacen("donor_answer_secs = 14400", "donor_answer_secs = 0", 1), "donor_answer_secs = 0"),
        (text.replacen("chain_name", "chain_nam", 1), "unknown field"),
        (format!("{text}\nregion = \"XX\""), "genesis TOML"),
    ];
    for (bad, expected) in cases {
        let err = Genesis::from_toml(&bad).unwrap_err().to_string();
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
    }
    let regulator = genesis(Policy::default()).regulator_key.to_string();
    let err = Genesis::from_toml(&text.replacen(&regulator, "abc", 1)).unwrap_err().to_string();
    assert!(err.contains("regulator_key"), "{err}");
}

#[test]
fn ranges_have_the_lengths_given_or_the_plan_s() {
    let text = genesis(Policy::default()).to_toml();
    // written resolved: every range shows its lengths
    assert_eq!(text.matches("lengths = \"7-15\"").count(), 3, "{text}");
    let plan_left_out = text.replace("lengths = \"7-15\"\n", "");
    assert_eq!(
        Genesis::from_toml(&plan_left_out).unwrap(),
        genesis(Policy::default()),
        "resolved from the plan"
    );
    let given = text.replacen("lengths = \"7-15\"", "lengths = \"11-12\"", 1);
    let g = Genesis::from_toml(&given).unwrap();
    assert_eq!(g.ranges[0].lengths.to_string(), "11-12");
    assert_ne!(
        Ledger::genesis(MemStore::new(), &g, std::iter::empty()).unwrap().chain_id(),
        net(Policy::default()).ledger.chain_id(),
        "the chain id commits to the lengths"
    );
    let ledger = Ledger::genesis(MemStore::new(), &g, std::iter::empty()).unwrap();
    assert!(ledger.route(num("+49301000001")).is_some(), "11 digits");
    assert!(ledger.route(num("+493010000001")).is_some(), "12 digits");
    assert!(ledger.route(num("+4930100001")).is_none(), "10 digits");
    assert!(ledger.route(num("+4930100000012")).is_none(), "13 digits");
    assert!(ledger.route(num("+4930200000001")).is_some(), "+49302 kept the plan's 7-15");
    for (bad, expected) in [
        (
            "lengths = \"11-99\"",
            "genesis field ranges[0].lengths: lengths \"11-99\": a length is outside 7 to 15",
        ),
        ("lengths = \"\"", "ranges[0].lengths"),
    ] {
        let text = text.replacen("lengths = \"7-15\"", bad, 1);
        let err = Genesis::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
    let long = text.replacen("prefix = \"+49301\"", "prefix = \"+4930123456\"", 1).replacen(
        "lengths = \"7-15\"",
        "lengths = \"8-12\"",
        1,
    );
    let err = Genesis::from_toml(&long).unwrap_err().to_string();
    assert!(
        err.contains("range +4930123456: lengths 8-12 are not all possible; its numbers may have 11-15"),
        "{err}"
    );
    // a prefix shorter than its country code has no plan: lengths must be given
    let short =
        text.replace("lengths = \"7-15\"\n", "").replacen("prefix = \"+49301\"", "prefix = \"+4\"", 1);
    let err = Genesis::from_toml(&short).unwrap_err().to_string();
    assert!(
        err.contains("range +4: the numbering plan gives no lengths for it")
            && err.contains("give its lengths"),
        "{err}"
    );
}

#[test]
fn a_migrated_number_must_have_a_length_of_its_range() {
    let text = genesis(Policy::default()).to_toml().replacen("lengths = \"7-15\"", "lengths = \"11\"", 1);
    let g = Genesis::from_toml(&text).unwrap();
    let csv = "number,operator\n+49301000001,OPB\n+4930100000012,OPB\n";
    let err = Ledger::genesis(MemStore::new(), &g, read_ported_csv(csv.as_bytes(), g.region)).err().unwrap();
    assert!(matches!(err, GenesisError::PortedLength { line: 3, digits: 13, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "migration list line 3: number +4930100000012 has 13 digits, but the numbers of its range +49301 have 11"
    );
}

#[test]
fn migration_list_routes_ported_numbers_from_genesis() {
    let csv = "number,operator,rn\n+49301000001,OPB,+49D002\n030 2000001,OPC,\n+49301000002,OPA,\n";
    let entries: Vec<PortedEntry> =
        read_ported_csv(csv.as_bytes(), Some("DE".parse().unwrap())).collect::<Result<_, _>>().unwrap();
    assert_eq!(entries[1].number, num("+49302000001"));
    let net = net_with_ported(Policy::default(), entries);
    let r = net.ledger.route(num("+49301000001")).unwrap();
    assert_eq!((r.serving, r.routing_number.as_str(), r.ported), (op("OPB"), "+49D002", true));
    assert_eq!(net.ledger.route(num("+49302000001")).unwrap().serving, op("OPC"));
    // listed as ported to its own range holder: simply not ported
    assert!(!net.ledger.route(num("+49301000002")).unwrap().ported);
    assert_eq!(net.ledger.ported_index().0, 2);
}

#[test]
fn migration_list_errors_name_the_line() {
    let region = Some("DE".parse().unwrap());
    let parse = |csv: &str| read_ported_csv(csv.as_bytes(), region).collect::<Result<Vec<_>, _>>();
    let bad_header = parse("num,op\n+49301000001,OPB\n").unwrap_err().to_string();
    assert!(bad_header.contains("line 1") && bad_header.contains("number,operator"), "{bad_header}");
    let bad_number = parse("number,operator\n+49301000001,OPB\nhello,OPB\n").unwrap_err().to_string();
    assert!(bad_number.contains("line 3") && bad_number.contains("hello"), "{bad_number}");
    let bad_op = parse("number,operator\n+49301000001,O P\n").unwrap_err().to_string();
    assert!(bad_op.contains("line 2"), "{bad_op}");

    let load = |csv: &str| {
        let entries = read_ported_csv(csv.as_bytes(), region).collect::<Vec<_>>();
        Ledger::genesis(MemStore::new(), &genesis(Policy::default()), entries)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = load("number,operator\n+49301000001,OPB\n+49301000001,OPC\n");
    assert!(e.contains("+49301000001") && e.contains("more than once"), "{e}");
    // also when one of the two is listed as ported home (nothing stored for it)
    let e = load("number,operator\n+49301000007,OPA\n+49301000002,OPB\n+49301000007,OPB\n");
    assert!(e.contains("+49301000007") && e.contains("more than once"), "{e}");
    let e = load("number,operator\n+49399000001,OPB\n");
    assert!(e.contains("line 2") && e.contains("in no range"), "{e}");
    let e = load("number,operator\n+49301000001,OPZ\n");
    assert!(e.contains("OPZ is not an operator"), "{e}");
    let e = load("number,operator,rn\n+49301000001,OPB,+49D009\n");
    assert!(e.contains("+49D009") && e.contains("+49D002"), "{e}");
}

#[test]
fn genesis_refuses_a_store_that_holds_a_ledger() {
    let net = net(Policy::default());
    let store = net.ledger.into_store();
    let err = Ledger::genesis(store.clone(), &genesis(Policy::default()), std::iter::empty()).unwrap_err();
    assert!(matches!(err, GenesisError::StoreNotEmpty));
    // and an empty store is not a ledger
    assert!(Ledger::open(MemStore::new()).is_err());
    // the same genesis gives the same chain id and state hash
    let again = Ledger::genesis(MemStore::new(), &genesis(Policy::default()), std::iter::empty()).unwrap();
    let reopened = Ledger::open(store).unwrap();
    assert_eq!(again.chain_id(), reopened.chain_id());
    assert_eq!(again.state_hash(), reopened.state_hash());
}

#[test]
fn a_migration_list_changes_the_chain_id() {
    let plain = net(Policy::default());
    let migrated = net_with_ported(
        Policy::default(),
        vec![PortedEntry { number: num("+49301000001"), operator: op("OPB"), routing_number: None }],
    );
    assert_ne!(plain.ledger.chain_id(), migrated.ledger.chain_id());
    assert_ne!(plain.ledger.state_hash(), migrated.ledger.state_hash());
}

#[test]
fn migration_list_and_toml_errors_keep_their_source() {
    use std::error::Error;
    let region = Some("DE".parse().unwrap());
    let first_err = |csv: &str| read_ported_csv(csv.as_bytes(), region).find_map(Result::err).unwrap();
    let e = first_err("num,op\n");
    assert!(matches!(&e, GenesisError::PortedHeader { found } if found == "num,op"), "{e:?}");
    let e = first_err("number,operator\n+49301000001\n");
    assert!(matches!(e, GenesisError::PortedFieldCount { line: 2, found: 1 }), "{e:?}");
    let e = first_err("number,operator\n+49301000001,O P\n");
    assert!(matches!(e, GenesisError::PortedId { line: 2, .. }) && e.source().is_some(), "{e:?}");
    let e = first_err("number,operator,rn\n+49301000001,OPB,xyz\n");
    assert!(matches!(e, GenesisError::PortedId { line: 2, .. }) && e.source().is_some(), "{e:?}");
    let e = read_ported_csv(&b"number,operator\n\xff,OPB\n"[..], region).find_map(Result::err).unwrap();
    assert!(matches!(e, GenesisError::PortedCsv { line: 2, .. }) && e.source().is_some(), "{e:?}");
    let e = Genesis::from_toml("chain_name = ").unwrap_err();
    assert!(matches!(e, GenesisError::Toml(_)) && e.source().is_some(), "{e:?}");
}
