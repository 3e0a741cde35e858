//! The regulator's console on a real devnet, through the `npchain` binary only: a key imported
//! from the devnet and encrypted, a policy field set (old and new value shown), a range
//! assigned and withdrawn, an operator admitted, and refusals (a bad policy value, a taken
//! range, a key that is not the regulator's) that print their code and change nothing, all
//! checked through every node's governance reads; then a legacy extract imported after genesis
//! (`regulator import`): refused lines named with their line numbers and nothing of theirs
//! applied, the routing answers changed on every node (HTTP and ENUM), and a re-run that
//! imports nothing.

mod support;

use commonware_cryptography::Signer;
use serde_json::Value;
use std::time::Duration;
use support::{Net, get, regulator, wait_until};

const LONG: Duration = Duration::from_secs(90);

/// Waits until every node's answer at `path` satisfies `cond`.
fn on_every_node(net: &Net, path: &str, what: &str, cond: impl Fn(&Value) -> bool) {
    wait_until(LONG, what, || {
        (0..net.layout.nodes.len()).all(|i| get(net.url(i), path).is_some_and(|v| cond(&v)))
    });
}

fn lengths(ranges: &Value, prefix: &str) -> Option<String> {
    ranges["ranges"].as_array()?.iter().find(|r| r["prefix"] == prefix)?["lengths"]
        .as_str()
        .map(str::to_owned)
}

fn holder(ranges: &Value, prefix: &str) -> Option<String> {
    ranges["ranges"]
        .as_array()?
        .iter()
        .find(|r| r["prefix"] == prefix)
        .map(|r| r["holder"].as_str().unwrap().to_owned())
}

#[test]
fn the_regulator_steers_a_devnet_through_its_console() {
    let mut net = Net::new(4);
    net.start_all();
    wait_until(LONG, "blocks on every node", || (0..4).all(|i| net.height(i).is_some_and(|h| h >= 1)));
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("regulator.key");
    let key = key.to_str().unwrap();
    // the first URL answers nothing: every command fails over to node 0
    let node = format!("http://{}", net.url(0));
    let common = ["--node", "http://127.0.0.1:1", "--node", &node, "--key", key];
    let run = |args: &[&str]| regulator(&[&common[..], args].concat());

    // the devnet's plain key, encrypted into the regulator's own key file
    let devnet_key = net.layout.dir.join("regulator.key");
    let (ok, out, err) = run(&["key", "import", devnet_key.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let regulator_key = get(net.url(0), "/v1/operators").unwrap()["regulator"].as_str().unwrap().to_owned();
    assert!(out.contains(&regulator_key), "{out}");
    assert!(
        !std::fs::read_to_string(key).unwrap().contains(std::fs::read_to_string(&devnet_key).unwrap().trim())
    );
    let wrong = regulator(&["--key", key, "--passphrase-file", "/dev/null", "key", "show"]);
    assert!(!wrong.0 && wrong.2.contains("wrong passphrase"), "{wrong:?}");

    // a policy field: old and new value shown, then applied on every node
    let old = get(net.url(0), "/v1/policy").unwrap()["policy"]["donor_answer_secs"].as_u64().unwrap();
    let new = if old == 7200 { 3600 } else { 7200 };
    let (ok, out, err) = run(&["--wait", "policy", "set", &format!("donor_answer_secs={new}s")]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("donor_answer_secs: {old} -> {new}")), "{out}");
    assert!(out.contains("applied at height"), "{out}");
    on_every_node(&net, "/v1/policy", "the new policy", |p| p["policy"]["donor_answer_secs"] == new);

    // a bad value is refused before signing, with its code, and changes nothing
    let (ok, out, err) = run(&["policy", "set", "donor_answer_secs=0"]);
    assert!(
        !ok && err.contains("refused policy-out-of-bounds: policy field donor_answer_secs = 0"),
        "{out}{err}"
    );
    let (ok, _, err) = run(&["policy", "set", "donor_answer=1h"]);
    assert!(!ok && err.contains("refused unknown-policy-field"), "{err}");
    assert_eq!(get(net.url(0), "/v1/policy").unwrap()["policy"]["donor_answer_secs"], new);

    // a range assigned, refused to another holder without --replace, then withdrawn
    let (ok, out, err) = run(&["--wait", "range", "assign", "+49199", "OPC"]);
    assert!(ok, "{out}{err}");
    on_every_node(&net, "/v1/ranges", "the new range", |r| holder(r, "+49199").as_deref() == Some("OPC"));
    assert!(out.contains("numbers of 7-15 digits (the numbering plan of +49)"), "{out}");
    on_every_node(&net, "/v1/ranges", "the plan's lengths", |r| {
        lengths(r, "+49199").as_deref() == Some("7-15")
    });
    let (ok, _, err) = run(&["range", "assign", "+49199", "OPD"]);
    assert!(!ok && err.contains("refused range-assigned: range +49199 is held by OPC; --replace"), "{err}");
    // its own lengths: given with --lengths, checked before signing, and changed in place
    let (ok, _, err) = run(&["range", "assign", "+49199", "OPC", "--lengths", "5-9"]);
    assert!(
        !ok && err.contains("refused bad-lengths: lengths \"5-9\": a length is outside 7 to 15"),
        "{err}"
    );
    let (ok, _, err) = run(&["range", "assign", "+49199", "OPC", "--lengths", "7-15"]);
    assert!(!ok && err.contains("already held by OPC with lengths 7-15"), "{err}");
    let (ok, out, err) = run(&["--wait", "range", "assign", "+49199", "OPC", "--lengths", "11-12"]);
    assert!(ok && out.contains("numbers of 11-12 digits (--lengths)"), "{out}{err}");
    assert!(out.contains("changes its lengths from 7-15"), "{out}");
    on_every_node(&net, "/v1/ranges", "the given lengths", |r| {
        lengths(r, "+49199").as_deref() == Some("11-12")
    });
    let (ok, out, err) = run(&["--wait", "--json", "range", "withdraw", "+49199"]);
    assert!(ok, "{out}{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["outcome"], "applied", "{answer}");
    on_every_node(&net, "/v1/ranges", "the range withdrawn", |r| holder(r, "+49199").is_none());
    // withdrawing it again: the ledger's refusal and code
    let (ok, _, err) = run(&["range", "withdraw", "+49199"]);
    assert!(!ok && err.contains("refused range-not-assigned: range +49199 is not assigned"), "{err}");

    // an operator admitted (a validator key, though the validator set stays as it is)
    let hex = |name: &str| commonware_formatting::hex(npchain_testkit::key(name).public_key().as_ref());
    let (ok, out, err) = run(&[
        "--wait",
        "admit",
        "OPE",
        "--name",
        "New Entrant E",
        "--operator-key",
        &hex("OPE"),
        "--validator-key",
        &hex("OPE/validator"),
        "--routing-number",
        "+49D00E",
    ]);
    assert!(ok, "{out}{err}");
    on_every_node(&net, "/v1/operators", "OPE admitted", |o| {
        o["operators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|op| op["id"] == "OPE" && op["active"] == true && op["name"] == "New Entrant E")
    });
    let (ok, out, _) = run(&["show", "operators"]);
    assert!(ok && out.contains("OPE") && out.contains("New Entrant E"), "{out}");

    // a key that is not the regulator's: the ledger refuses, the code is printed, nothing changes
    let other = tmp.path().join("other.key");
    let other = other.to_str().unwrap();
    assert!(regulator(&["--key", other, "key", "new"]).0);
    let before = get(net.url(0), "/v1/ranges").unwrap()["ranges"].clone();
    let policy_before = get(net.url(0), "/v1/policy").unwrap()["policy"].clone();
    let (ok, out, err) =
        regulator(&["--node", &node, "--key", other, "--json", "range", "withdraw", "+49150"]);
    assert!(!ok && err.contains("refused not-regulator"), "{out}{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["refused"]["code"], "not-regulator", "{answer}");
    let (ok, _, err) = regulator(&["--node", &node, "--key", other, "policy", "set", "lock_in_secs=1d"]);
    assert!(!ok && err.contains("refused not-regulator"), "{err}");
    assert_eq!(get(net.url(0), "/v1/ranges").unwrap()["ranges"], before);
    assert_eq!(holder(&get(net.url(0), "/v1/ranges").unwrap(), "+49150").as_deref(), Some("OPA"));
    assert_eq!(get(net.url(0), "/v1/policy").unwrap()["policy"], policy_before);

    import_a_legacy_extract(&net, tmp.path(), &run);
}

/// A `regulator` command with the test's node and key: success, stdout, stderr.
type Console<'a> = dyn Fn(&[&str]) -> (bool, String, String) + 'a;

/// Where `number` routes on node `i`: its serving operator.
fn serving(net: &Net, i: usize, number: &str) -> Option<String> {
    let path = format!("/v1/numbers/{}", number.replace('+', "%2B"));
    get(net.url(i), &path).and_then(|r| r["serving"].as_str().map(str::to_owned))
}

/// The number's ENUM name: its digits reversed, one label each, under e164.arpa.
fn enum_name(number: &str) -> String {
    let labels: Vec<String> = number[1..].chars().rev().map(String::from).collect();
    format!("{}.e164.arpa", labels.join("."))
}

fn import_a_legacy_extract(net: &Net, dir: &std::path::Path, run: &Console<'_>) {
    // refused lines: each named with its line and reason, and nothing of the file imported
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "number,operator\n+4915000000201,OPB\n+4915000000202,OPX\n+4915000000203x,OPB\n+4919900000001,OPB\n\
         +4915000000201,OPC\n+4915000000204,OPB\n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let (ok, out, err) = run(&["import", bad]);
    assert!(!ok, "{out}{err}");
    for want in [
        "line 2: refused duplicate: number +4915000000201 is also on line 6",
        "line 3: refused unknown-operator: operator OPX is not admitted",
        "line 4: refused syntax: ",
        "line 5: refused unknown-number: number +4919900000001 is in no assigned range",
        "line 6: refused duplicate: number +4915000000201 is also on line 2",
        "6 lines read: 1 accepted, 5 refused",
        "nothing imported",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
    assert!(out.contains("\"+4915000000203x\""), "the bad number is quoted: {out}");
    assert!(!dir.join("bad.csv.journal").exists(), "nothing was signed");
    for n in ["+4915000000201", "+4915000000204"] {
        assert_eq!(serving(net, 0, n).as_deref(), Some("OPA"), "{n} unchanged");
    }
    // --skip-refused imports the one good line only
    let (ok, out, err) = run(&["--json", "import", bad, "--skip-refused"]);
    assert!(ok, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["accepted"].as_u64(), report["committed"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(report["refused"].as_array().unwrap().len(), 5, "{report}");
    assert_eq!(report["refused"][1]["line"], 3, "{report}");
    assert_eq!(serving(net, 0, "+4915000000204").as_deref(), Some("OPB"));
    assert_eq!(serving(net, 0, "+4915000000201").as_deref(), Some("OPA"), "a refused line applied nothing");

    // an extract: ported numbers of three operators (OPE admitted above), one with its rn
    let extract = dir.join("extract.csv");
    let lines = [
        "number,operator,rn",
        "+4915000000101,OPB,",
        "+4915000000102,OPC,+49D003",
        "+4915100000101,OPA,",
        "+4915000000103,OPE,",
        "+4915000000104,OPA,",
    ];
    std::fs::write(&extract, lines.join("\n") + "\n").unwrap();
    let extract = extract.to_str().unwrap();
    let (ok, out, err) = run(&["--dry-run", "import", extract]);
    assert!(ok && out.contains("dry run: 1 transaction(s) would be signed"), "{out}{err}");
    assert_eq!(serving(net, 0, "+4915000000101").as_deref(), Some("OPA"));
    let (ok, out, err) = run(&["import", extract]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("5 lines read: 5 accepted, 0 refused"), "{out}");
    assert!(out.contains("1 transaction(s): 1 committed now (5 numbers"), "{out}");
    let want = [
        ("+4915000000101", "OPB", "+49D002"),
        ("+4915000000102", "OPC", "+49D003"),
        ("+4915100000101", "OPA", "+49D001"),
        ("+4915000000103", "OPE", "+49D00E"),
    ];
    wait_until(LONG, "the imported routes on every node", || {
        (0..4).all(|i| want.iter().all(|(n, op, _)| serving(net, i, n).as_deref() == Some(*op)))
    });
    for (n, _, rn) in want {
        assert_eq!(
            net.dig(3, "NAPTR", &enum_name(n)),
            [format!("100 10 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:{n};npdi;rn={rn}!\" .")],
            "{n}"
        );
    }
    // the line that named the range holder changed nothing: still not ported
    let route = get(net.url(0), "/v1/numbers/%2B4915000000104").unwrap();
    assert_eq!((route["serving"].as_str(), route["ported"].as_bool()), (Some("OPA"), Some(false)));
    // the block reports each change, and the number's history the migration
    let journal = std::fs::read_to_string(format!("{extract}.journal")).unwrap();
    let done: Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    let block = get(net.url(0), &format!("/v1/blocks/{}", done["height"])).unwrap();
    let imported = block["events"].as_array().unwrap().iter().filter(|e| e["type"] == "imported").count();
    assert_eq!(imported, 4, "{block}");
    let history = get(net.url(0), "/v1/numbers/%2B4915000000103/history").unwrap();
    assert!(history.to_string().contains("\"migrated\""), "{history}");

    // a re-run imports nothing: the journal's transaction is found committed
    let height = net.height(0).unwrap();
    let (ok, out, err) = run(&["--json", "import", extract]);
    assert!(ok, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["committed"].as_u64(), report["skipped"].as_u64()), (Some(0), Some(1)), "{report}");
    assert_eq!(std::fs::read_to_string(format!("{extract}.journal")).unwrap(), journal);
    wait_until(LONG, "a few more blocks", || net.height(0).is_some_and(|h| h >= height + 2));
    assert_eq!(serving(net, 0, "+4915000000101").as_deref(), Some("OPB"));
}
