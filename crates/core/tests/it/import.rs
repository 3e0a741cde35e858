//! The regulator's bulk import after genesis (`ImportNumbers`): what it changes, what it
//! refuses (naming the entry's index and number, changing nothing), that an entry matching the
//! current state is a no-op, and the weight it has in a block.

use crate::harness::{net, net_with_ported, num, op};
use commonware_cryptography::Signer;
use npchain_core::{
    BlockWeight, Event, ImportGroup, NumberEvent, Policy, PortRequest, PortedEntry, TxBody, TxError,
};

fn entry(number: &str, operator: &str, rn: Option<&str>) -> PortedEntry {
    PortedEntry {
        number: num(number),
        operator: op(operator),
        routing_number: rn.map(|r| r.parse().unwrap()),
    }
}

fn import(entries: &[PortedEntry]) -> TxBody {
    TxBody::ImportNumbers { groups: ImportGroup::from_entries(entries).0 }
}

fn serving(net: &npchain_testkit::Net, number: &str) -> String {
    net.ledger.route(num(number)).unwrap().serving.to_string()
}

#[test]
fn an_import_sets_serving_operators_logs_and_reports_them() {
    let mut net = net(Policy::default());
    let hash = net.ledger.state_hash();
    let entries = [
        entry("+49301000001", "OPB", None),
        entry("+49301000002", "OPC", Some("+49D003")),
        entry("+49302000001", "OPB", None), // OPB's own range: already so, a no-op
    ];
    let tx = net.sign("regulator", import(&entries));
    let outcome = net.block_outcome(&[tx]);
    assert_eq!(outcome.results[0].1, Ok(()));
    assert_ne!(net.ledger.state_hash(), hash);
    assert_eq!(serving(&net, "+49301000001"), "OPB");
    assert!(net.ledger.route(num("+49301000001")).unwrap().ported);
    assert_eq!(serving(&net, "+49301000002"), "OPC");
    assert_eq!(serving(&net, "+49302000001"), "OPB");
    assert_eq!(
        outcome.events,
        vec![
            Event::Imported { number: num("+49301000001"), from: op("OPA"), to: op("OPB") },
            Event::Imported { number: num("+49301000002"), from: op("OPA"), to: op("OPC") },
        ]
    );
    let history = net.ledger.number_history(num("+49301000002")).unwrap();
    assert_eq!(
        history.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
        vec![NumberEvent::Migrated { to: op("OPC") }]
    );
    assert!(net.ledger.number(num("+49302000001")).unwrap().is_none(), "a no-op writes nothing");

    // importing the same file again changes nothing at all
    let hash = net.ledger.state_hash();
    let tx = net.sign("regulator", import(&entries));
    let again = net.block_outcome(&[tx]);
    assert_eq!(again.results[0].1, Ok(()));
    assert!(again.events.is_empty());
    assert_eq!(net.ledger.number_history(num("+49301000002")).unwrap().len(), 1);
    // the state hash moves only by the replay set's entry for the new transaction
    assert_ne!(net.ledger.state_hash(), hash);

    // back to the range holder: the number routes by range again
    net.apply("regulator", import(&[entry("+49301000001", "OPA", None)])).unwrap();
    let route = net.ledger.route(num("+49301000001")).unwrap();
    assert_eq!((route.serving.to_string(), route.ported), ("OPA".into(), false));
}

#[test]
fn an_import_matches_what_the_same_list_at_genesis_gives() {
    let entries = vec![entry("+49301000001", "OPB", None), entry("+49303000007", "OPA", Some("+49D001"))];
    let at_genesis = net_with_ported(Policy::default(), entries.clone());
    let mut later = net(Policy::default());
    later.apply("regulator", import(&entries)).unwrap();
    for n in ["+49301000001", "+49303000007", "+49302000001"] {
        assert_eq!(at_genesis.ledger.route(num(n)), later.ledger.route(num(n)), "{n}");
    }
}

#[test]
fn a_refused_entry_names_its_index_and_number_and_changes_nothing() {
    let mut net = net(Policy::default());
    // OPD runs no validator, so it can retire with three validators left
    let admit = TxBody::AdmitOperator {
        id: op("OPD"),
        name: "Operator OPD".into(),
        operator_key: npchain_testkit::key("OPD").public_key(),
        validator_key: None,
        routing_number: "+49D004".parse().unwrap(),
    };
    net.apply("regulator", admit).unwrap();
    net.apply("regulator", TxBody::RetireOperator { id: op("OPD") }).unwrap();
    let lengths = "12".parse().unwrap();
    let narrow =
        TxBody::AssignRangeWithLengths { prefix: "+49304".parse().unwrap(), holder: op("OPA"), lengths };
    net.apply("regulator", narrow).unwrap();
    let ann = npchain_testkit::Net::subscriber("ann");
    net.apply("OPA", TxBody::Bind { number: num("+49301000005"), subscriber: Some(ann) }).unwrap();
    let request = PortRequest {
        numbers: vec![num("+49301000005")],
        donor: op("OPA"),
        recipient: op("OPB"),
        due: net.now,
        nonce: 1,
    };
    net.apply("ann", TxBody::RequestPort(request)).unwrap();
    let hash = net.ledger.state_hash();

    let good = entry("+49301000001", "OPB", None);
    let cases: Vec<(PortedEntry, &str, &str)> = vec![
        (entry("+49309000001", "OPB", None), "unknown-number", "+49309000001"),
        (entry("+4930400000001", "OPB", None), "number-length", "13 digits"),
        (entry("+49301000002", "OPX", None), "unknown-operator", "OPX"),
        (entry("+49301000002", "OPD", None), "operator-retired", "OPD is retired"),
        (entry("+49301000002", "OPB", Some("+49D001")), "import-routing-number", "+49D001"),
        (entry("+49301000005", "OPB", None), "port-open", "open port order"),
    ];
    for (bad, code, says) in cases {
        let number = bad.number;
        let (groups, origin) = ImportGroup::from_entries(&[good.clone(), bad]);
        let index = origin.iter().position(|&at| at == 1).unwrap();
        let e = net.apply("regulator", TxBody::ImportNumbers { groups }).unwrap_err();
        let TxError::ImportEntry { index: got, number: named, .. } = &e else { panic!("{e:?}") };
        assert_eq!((*got, *named), (index, number), "{e}");
        assert_eq!(e.code(), code, "{e}");
        let text = e.to_string();
        assert!(text.starts_with(&format!("import entry {index} ({number}): ")), "{text}");
        assert!(text.contains(says), "{text}");
        assert_eq!(net.ledger.state_hash(), hash, "{text}: nothing applied");
        assert_eq!(serving(&net, "+49301000001"), "OPA", "{text}: not even the good entry");
    }
    // only the regulator imports
    let e = net.apply("OPB", import(std::slice::from_ref(&good))).unwrap_err();
    assert_eq!(e.code(), "not-regulator");
    // an entry that matches the current state is a no-op even with an order open on its number
    net.apply("regulator", import(&[entry("+49301000005", "OPA", None), good])).unwrap();
    assert_eq!(serving(&net, "+49301000001"), "OPB");
}

#[test]
fn an_import_unbinds_the_former_serving_operators_subscriber() {
    let mut net = net(Policy::default());
    let ann = npchain_testkit::Net::subscriber("ann");
    net.apply("OPA", TxBody::Bind { number: num("+49301000001"), subscriber: Some(ann) }).unwrap();
    net.apply("regulator", import(&[entry("+49301000001", "OPB", None)])).unwrap();
    let record = net.ledger.number(num("+49301000001")).unwrap().unwrap();
    assert_eq!((record.ported_to, record.subscriber), (Some(op("OPB")), None));
    // the new serving operator binds it
    net.apply("OPB", TxBody::Bind { number: num("+49301000001"), subscriber: None }).unwrap();
}

#[test]
fn an_import_weighs_its_entries() {
    let mut net = net(Policy::default());
    let entries: Vec<PortedEntry> =
        (1..=250).map(|i| entry(&format!("+49301{:06}", i), "OPB", None)).collect();
    let tx = net.sign("regulator", import(&entries));
    let mut weight = BlockWeight::default();
    assert_eq!(net.ledger.weigh(&[], &mut weight, &tx).unwrap(), 250);
    assert_eq!(weight.total(), 250);
    assert_eq!(net.block(&[tx]), vec![Ok(())]);
    assert_eq!(serving(&net, "+49301000250"), "OPB");
}
