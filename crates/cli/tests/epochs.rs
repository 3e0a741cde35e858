//! Operators joining and leaving consensus on a devnet of processes on loopback, through the
//! `npchain` binary only: four validators run; OPE's operator makes its keys and public file
//! with `npchain init`, its node follows the chain, and the regulator admits OPE with its
//! validator key, so that from the next epoch OPE's signatures appear in the finalization
//! certificates. The regulator then retires OPB, one validator is killed (SIGKILL) during the
//! change, and the rest (OPE among them) go on: with it down, only OPE's votes make a quorum.
//! The killed node restarts and catches up, and a wallet whose order stepped through all three
//! epochs verifies its whole ledger offline.

mod support;

use commonware_codec::{Read, ReadExt, varint::UInt};
use commonware_cryptography::ed25519::certificate::Certificate;
use npchain_api::Block;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Net, get, npchain, regulator, wait_until, wallet};

const LONG: Duration = Duration::from_secs(120);
const PER_EPOCH: u64 = 20;

fn status(url: std::net::SocketAddr) -> Option<Value> {
    get(url, "/v1/status")
}

/// The validator keys (hex) of the epoch a finalization certificate names, and the indexes of
/// its signers in that epoch's sorted set.
fn signers(url: std::net::SocketAddr, height: u64) -> (u64, Vec<u32>) {
    let answer = get(url, &format!("/v1/blocks/{height}/finalization")).expect("proof served");
    let bytes = commonware_formatting::from_hex(answer["finalization"].as_str().unwrap()).unwrap();
    let mut reader = commonware_codec::Copying(&bytes[..]);
    let epoch: u64 = UInt::read(&mut reader).unwrap().into();
    let _view: u64 = UInt::read(&mut reader).unwrap().into();
    let _parent: u64 = UInt::read(&mut reader).unwrap().into();
    let _payload = npchain_core::types::Digest::read(&mut reader).unwrap();
    let certificate = Certificate::read_cfg(&mut reader, &1024).unwrap();
    (epoch, certificate.signers.iter().map(|p| p.get()).collect())
}

/// The index of `key` (hex) in `epoch`'s validator set as the ledger recorded it (sorted).
fn index_in_epoch(keys: &[String], key: &str) -> u32 {
    let mut sorted = keys.to_vec();
    sorted.sort();
    sorted.iter().position(|k| k == key).expect("in the set") as u32
}

fn epoch_of(net: &Net, i: usize) -> u64 {
    net.status(i).and_then(|s| s["epoch"].as_u64()).unwrap_or(0)
}

#[test]
fn an_operator_joins_consensus_another_leaves_and_a_wallet_verifies_three_epochs() {
    let mut net = Net::with_epochs(4, PER_EPOCH);
    let tmp = tempfile::tempdir().unwrap();

    // OPE's operator: keys and public file, and a node every validator lists as a peer.
    let ope_dir = tmp.path().join("ope");
    let address = net.next_p2p_address().to_string();
    let dir = ope_dir.to_str().unwrap();
    let (ok, out) = npchain(&[
        "init",
        "--dir",
        dir,
        "--operator",
        "OPE",
        "--p2p-address",
        &address,
        "--routing-number",
        "+49D005",
        "--json",
    ]);
    assert!(ok, "{out}");
    let file: Value = serde_json::from_str::<Value>(&out).unwrap()["operator"].clone();
    let (ope_operator, ope_validator) = (
        file["operator_key"].as_str().unwrap().to_owned(),
        file["validator_key"].as_str().unwrap().to_owned(),
    );
    let ope = net.add_operator_node(&ope_dir);
    net.start_all();
    net.start_observer(ope);
    let ope_url = net.observer_url(ope);
    wait_until(LONG, "blocks on every node", || (0..4).all(|i| net.height(i).is_some_and(|h| h >= 1)));
    wait_until(LONG, "OPE's node to follow", || {
        status(ope_url).is_some_and(|s| s["height"].as_u64() >= Some(1))
    });
    let genesis_validators: Vec<String> = get(net.url(0), "/v1/operators").unwrap()["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["validator_key"].as_str().unwrap().to_owned())
        .collect();

    // A subscriber of OPA asks to port to OPC in epoch 0.
    let wallet_dir = tmp.path().join("wallet");
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "a subscriber's passphrase\n").unwrap();
    let node0 = format!("http://{}", net.url(0));
    let genesis = net.layout.dir.join("genesis.toml");
    let with_pass = |args: &[&str]| {
        let mut all = vec!["--passphrase-file", pass.to_str().unwrap()];
        all.extend_from_slice(args);
        wallet(&wallet_dir, &node0, &all)
    };
    let (ok, out) = with_pass(&["new", "--genesis", genesis.to_str().unwrap()]);
    assert!(ok, "{out}");
    let subscriber = out.lines().find_map(|l| l.strip_prefix("public key: ")).unwrap().trim().to_owned();
    let every = [net.url(0), net.url(1), net.url(2), net.url(3)];
    net.act_applied(0, "numbers/%2B491500000077/bind", &json!({ "subscriber": subscriber }), &every);
    let (ok, out) = with_pass(&["port", "--number", "+491500000077", "--to", "OPC"]);
    assert!(ok, "{out}");
    let port = out.split_whitespace().nth(1).unwrap().to_owned();

    // The regulator admits OPE with its validator key.
    let key = tmp.path().join("regulator.key");
    let key = key.to_str().unwrap();
    let common = ["--node", &node0, "--key", key];
    let run = |args: &[&str]| regulator(&[&common[..], args].concat());
    let devnet_key = net.layout.dir.join("regulator.key");
    let (ok, out, err) = run(&["key", "import", devnet_key.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run(&[
        "--wait",
        "admit",
        "OPE",
        "--name",
        "Operator E",
        "--operator-key",
        &ope_operator,
        "--validator-key",
        &ope_validator,
        "--routing-number",
        "+49D005",
    ]);
    assert!(ok, "{out}{err}");
    let admitted_at = net.height(0).unwrap();
    let joins = admitted_at / PER_EPOCH + 1;

    // From its epoch on, OPE validates and signs certificates.
    wait_until(LONG, "OPE's epoch on every node", || {
        (0..4).all(|i| epoch_of(&net, i) >= joins)
            && status(ope_url).is_some_and(|s| s["epoch"].as_u64() >= Some(joins))
    });
    let five = net.status(0).unwrap()["validators"].clone();
    assert!(five.as_array().unwrap().iter().any(|v| v == "OPE"), "{five}");
    assert_eq!(status(ope_url).unwrap()["operator"], "OPE", "OPE's node knows its operator");
    let mut keys = genesis_validators.clone();
    keys.push(ope_validator.clone());
    let ope_index = index_in_epoch(&keys, &ope_validator);
    let first = joins * PER_EPOCH;
    wait_until(LONG, "a certificate of OPE's epoch signed by OPE", || {
        let top = net.height(0).unwrap_or(0);
        (first..=top).any(|h| {
            let (epoch, signed) = signers(net.url(0), h);
            epoch == joins && signed.contains(&ope_index)
        })
    });

    // OPA releases the number in OPE's first epoch.
    net.act_applied(0, &format!("ports/{port}/release"), &Value::Null, &every);

    // The regulator retires OPB; OPC's node is killed as the change lands.
    let (ok, out, err) = run(&["--wait", "retire", "OPB"]);
    assert!(ok, "{out}{err}");
    net.kill(2);
    let retired_at = net.height(0).unwrap();
    let leaves = retired_at / PER_EPOCH + 1;
    wait_until(LONG, "the epoch without OPB", || [0, 3].iter().all(|i| epoch_of(&net, *i) >= leaves));
    // OPA, OPD and OPE are three of the four validators: blocks finalize only with OPE's votes.
    let h = net.height(0).unwrap();
    wait_until(LONG, "OPA, OPD and OPE to finalize with OPC down", || {
        [0, 3].iter().all(|i| net.height(*i).is_some_and(|x| x >= h + 3))
    });
    let four: Vec<String> = genesis_validators
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, k)| k.clone())
        .chain([ope_validator.clone()])
        .collect();
    let (epoch, signed) = signers(net.url(0), h + 3);
    assert_eq!(epoch, leaves);
    assert!(signed.contains(&index_in_epoch(&four, &ope_validator)), "OPE signed: {signed:?}");

    // OPC restarts and catches up; OPB's node stops, and the other four go on.
    net.start(2);
    let target = net.height(0).unwrap();
    wait_until(LONG, "OPC to catch up", || net.height(2).is_some_and(|x| x >= target));
    net.kill(1);
    let h = net.height(0).unwrap();
    wait_until(LONG, "four validators without OPB", || {
        [0, 2, 3].iter().all(|i| net.height(*i).is_some_and(|x| x >= h + 3))
    });
    net.act_applied(
        2,
        &format!("ports/{port}/activate"),
        &Value::Null,
        &[net.url(0), net.url(2), net.url(3)],
    );

    // Every running node holds the same chain.
    let top = [0, 2, 3].iter().map(|i| net.height(*i).unwrap()).min().unwrap();
    wait_until(LONG, "OPE's node at the same height", || {
        status(ope_url).is_some_and(|s| s["height"].as_u64() >= Some(top))
    });
    for height in 1..=top {
        let ours = get(net.url(0), &format!("/v1/blocks/{height}")).unwrap();
        for other in [net.url(2), net.url(3), ope_url] {
            assert_eq!(get(other, &format!("/v1/blocks/{height}")).unwrap(), ours, "height {height}");
        }
    }

    // The wallet follows its order through the three epochs and verifies it offline.
    let (ok, out) = with_pass(&["follow", &port, "--timeout", "60"]);
    assert!(ok && out.contains("finished: activated"), "{out}");
    let (ok, out) = with_pass(&["verify"]);
    assert!(ok && out.contains("3 entries"), "{out}");
    let ledger = std::fs::read_to_string(wallet_dir.join("ledger.jsonl")).unwrap();
    let epochs: Vec<u64> = ledger
        .lines()
        .map(|l| {
            let entry: Value = serde_json::from_str(l).unwrap();
            let bytes = commonware_formatting::from_hex(entry["block"].as_str().unwrap()).unwrap();
            Block::read(&mut commonware_codec::Copying(&bytes[..])).unwrap().height / PER_EPOCH
        })
        .collect();
    assert_eq!(epochs.len(), 3);
    assert!(epochs[0] < joins && epochs[1] >= joins && epochs[2] >= leaves, "{epochs:?}");
}
