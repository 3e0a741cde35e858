//! Epochs: the genesis's epoch length, the validator set each boundary records, the event of a
//! change, the refusals' messages, and two ledgers agreeing across boundaries.

use crate::harness::{Net, genesis, key};
use commonware_cryptography::Signer;
use npchain_core::{
    DEFAULT_BLOCKS_PER_EPOCH, Event, Genesis, GenesisError, Ledger, MemStore, Policy, PublicKey, TxBody,
    VerifiedTx,
};
use npchain_testkit::op;

fn with_epochs(n: u64) -> Genesis {
    let mut g = genesis(Policy::default());
    g.blocks_per_epoch = n.try_into().unwrap();
    g
}

fn chain_id(g: &Genesis) -> String {
    Ledger::genesis(MemStore::new(), g, std::iter::empty()).unwrap().chain_id().to_string()
}

fn validator(name: &str) -> PublicKey {
    key(name).public_key()
}

fn admit(id: &str, rn: &str, validator_key: Option<&str>) -> TxBody {
    TxBody::AdmitOperator {
        id: op(id),
        name: format!("Operator {id}"),
        operator_key: key(id).public_key(),
        validator_key: validator_key.map(validator),
        routing_number: rn.parse().unwrap(),
    }
}

fn sorted(names: &[&str]) -> Vec<PublicKey> {
    let mut keys: Vec<PublicKey> = names.iter().map(|n| validator(n)).collect();
    keys.sort();
    keys
}

#[test]
fn the_epoch_length_is_kept_out_of_the_chain_id_unless_it_differs_from_the_default() {
    let default = genesis(Policy::default());
    assert_eq!(default.blocks_per_epoch, DEFAULT_BLOCKS_PER_EPOCH);
    let text = default.to_toml();
    assert!(!text.contains("blocks_per_epoch"), "{text}");
    let explicit = Genesis::from_toml(&format!("blocks_per_epoch = 1000\n{text}")).unwrap();
    assert_eq!(explicit, default);
    assert_eq!(chain_id(&explicit), chain_id(&default));

    let short = Genesis::from_toml(&format!("blocks_per_epoch = 20\n{text}")).unwrap();
    assert_eq!(short.blocks_per_epoch.get(), 20);
    assert_ne!(chain_id(&short), chain_id(&default));
    assert_eq!(Genesis::from_toml(&short.to_toml()).unwrap(), short);
    assert!(short.to_toml().contains("blocks_per_epoch = 20"));

    let zero = Genesis::from_toml(&format!("blocks_per_epoch = 0\n{text}")).unwrap_err();
    assert!(matches!(zero, GenesisError::ZeroBlocksPerEpoch), "{zero}");
    let ledger = Ledger::genesis(MemStore::new(), &short, std::iter::empty()).unwrap();
    assert_eq!(ledger.blocks_per_epoch().get(), 20);
}

#[test]
fn the_genesis_records_epoch_0_and_each_boundary_the_next() {
    let mut net = Net::new(&with_epochs(3));
    let genesis_set = sorted(&["OPA/validator", "OPB/validator", "OPC/validator"]);
    assert_eq!(net.ledger.validator_sets().unwrap(), vec![(0, genesis_set.clone())]);
    assert_eq!(net.ledger.validators(0), Some(genesis_set.as_slice()));
    assert_eq!(net.ledger.validators(1), None);

    // height 1: OPD joins the pending set; epoch 0's set stays
    let tx = net.sign("regulator", admit("OPD", "+49D004", Some("OPD/validator")));
    let outcome = net.block_outcome(&[tx]);
    assert_eq!(outcome.next_validators, None);
    let four = sorted(&["OPA/validator", "OPB/validator", "OPC/validator", "OPD/validator"]);
    assert_eq!(net.ledger.pending_validators().unwrap(), four);
    assert_eq!(net.ledger.validators(0), Some(genesis_set.as_slice()));
    // height 2 closes epoch 0: it records epoch 1's set and says what changed
    let outcome = net.block_outcome(&[]);
    assert_eq!(outcome.next_validators.as_ref(), Some(&four));
    assert_eq!(
        outcome.events,
        vec![Event::ValidatorSetChanged {
            epoch: 1,
            added: vec![validator("OPD/validator")],
            removed: vec![]
        }]
    );
    assert_eq!(net.ledger.validator_sets().unwrap(), vec![(0, genesis_set), (1, four.clone())]);
    // the next boundary (height 5) records the same set, with no event
    for _ in 3..5 {
        assert_eq!(net.block_outcome(&[]).next_validators, None);
    }
    let outcome = net.block_outcome(&[]);
    assert_eq!((outcome.next_validators.as_ref(), outcome.events.len()), (Some(&four), 0));
    assert_eq!(net.ledger.epoch_of(5), 1);
    assert_eq!(net.ledger.epoch_of(6), 2);

    // reopening the store rebuilds the sets from the table
    let reopened = Ledger::open(net.ledger.into_store()).unwrap();
    assert_eq!(reopened.validators(2), Some(four.as_slice()));
    assert_eq!(reopened.validator_sets().unwrap().len(), 3);
}

#[test]
fn with_one_block_per_epoch_every_block_records_the_next_set() {
    let mut net = Net::new(&with_epochs(1));
    // the genesis block is the last of epoch 0, so epoch 1's set is the genesis one too
    assert_eq!(net.ledger.validator_sets().unwrap().len(), 2);
    let outcome = net.block_outcome(&[]);
    assert_eq!(outcome.next_validators.as_deref(), net.ledger.validators(2));
    assert!(outcome.next_validators.is_some());
}

#[test]
fn refusals_say_the_numbers_and_change_nothing() {
    let mut net = Net::new(&with_epochs(100));
    let before = net.ledger.state_hash();
    let e = net.apply("regulator", TxBody::RetireOperator { id: op("OPB") }).unwrap_err();
    assert_eq!(e.code(), "too-few-validators");
    assert_eq!(e.to_string(), "retiring OPB would leave 2 validators; an epoch needs at least 4");
    assert_eq!(net.ledger.state_hash(), before);
    assert!(net.ledger.operators().iter().all(|o| o.active));
    assert_eq!(net.ledger.pending_validators().unwrap().len(), 3);

    net.apply("regulator", admit("OPD", "+49D004", Some("OPD/validator"))).unwrap();
    let e = net.apply("regulator", admit("OPE", "+49D005", Some("OPE/validator"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "admitting OPE would bring 2 new validators into the next epoch's set of 5; a set of 5 takes at most 1 newcomers at once"
    );
    assert!(net.ledger.operators().iter().all(|o| o.id != op("OPE")));
    // the refused admission left its keys free
    net.apply("regulator", admit("OPE", "+49D005", None)).unwrap();
    let e = net
        .apply("regulator", TxBody::SetValidator { id: op("OPA"), validator_key: Some(validator("A2")) })
        .unwrap_err();
    assert_eq!(e.code(), "too-many-validators-removed", "epoch 0's 3 validators tolerate none leaving");
    let e = net
        .apply("regulator", TxBody::SetValidator { id: op("OPA"), validator_key: Some(validator("A2")) })
        .unwrap_err();
    assert_eq!(e.code(), "too-many-validators-removed", "A2 stayed free: refused for the same reason");
}

#[test]
fn a_removal_refusal_names_the_epoch_and_its_set() {
    let mut net = Net::new(&with_epochs(4));
    net.apply("regulator", admit("OPD", "+49D004", Some("OPD/validator"))).unwrap(); // 1
    net.apply("regulator", admit("OPE", "+49D005", None)).unwrap(); // 2
    net.block(&[]); // 3 closes epoch 0: epoch 1 has 4 validators
    net.apply("regulator", TxBody::SetValidator { id: op("OPE"), validator_key: Some(validator("E")) })
        .unwrap(); // 4
    net.block(&[]);
    net.block(&[]);
    net.block(&[]); // 7 closes epoch 1: epoch 2 has 5
    assert_eq!(net.ledger.validators(2).unwrap().len(), 5);
    // a rotation: OPA's old key leaves, so one more leaving is too many for a set of 5
    net.apply("regulator", TxBody::SetValidator { id: op("OPA"), validator_key: Some(validator("A2")) })
        .unwrap();
    let e = net.apply("regulator", TxBody::SetValidator { id: op("OPE"), validator_key: None }).unwrap_err();
    assert_eq!(
        e.to_string(),
        "removing OPE's validator key would make 2 of epoch 2's 5 validators leave at the next epoch; a set of 5 lets at most 1 leave at once"
    );
}

/// The same blocks, across three boundaries with set changes, on two ledgers.
#[test]
fn two_ledgers_applying_the_same_blocks_agree_on_state_and_sets() {
    let g = with_epochs(2);
    let (mut a, mut b) = (Net::new(&g), Net::new(&g));
    let bodies = [
        Some(admit("OPD", "+49D004", Some("OPD/validator"))),
        None,
        Some(admit("OPE", "+49D005", None)),
        Some(TxBody::SetValidator { id: op("OPE"), validator_key: Some(validator("OPE/validator")) }),
        None,
        Some(TxBody::SetValidator { id: op("OPA"), validator_key: Some(validator("OPA/validator-2")) }),
        None,
    ];
    for body in bodies {
        let txs: Vec<VerifiedTx> = body.into_iter().map(|b| a.sign("regulator", b)).collect();
        let (oa, ob) = (a.block_outcome(&txs), b.block_outcome(&txs));
        assert_eq!(oa.state_hash, ob.state_hash);
        assert_eq!(oa.next_validators, ob.next_validators);
        assert_eq!(oa.events, ob.events);
        assert!(oa.results.iter().all(|(_, r)| r.is_ok()), "{:?}", oa.results);
    }
    assert_eq!(a.ledger.validator_sets().unwrap(), b.ledger.validator_sets().unwrap());
    let sets = a.ledger.validator_sets().unwrap();
    assert_eq!(sets.len(), 5, "epochs 0..=4");
    assert_eq!(
        sets[4].1,
        sorted(&["OPA/validator-2", "OPB/validator", "OPC/validator", "OPD/validator", "OPE/validator"])
    );
}
