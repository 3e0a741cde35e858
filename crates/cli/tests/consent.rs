//! An operator-initiated port on a real devnet, through the command only: the subscriber's
//! wallet signs a consent, the recipient's desk submits it through its own node, the donor
//! releases, the recipient activates, and the wallet follows and verifies the order it never
//! sent. The node's refusals of a consent it cannot carry are seen on the command line.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Net, get, npchain, wait_until, wallet};

const LONG: Duration = Duration::from_secs(90);
const NUMBER: &str = "+491500000090";

/// `npchain operator` against node `i` with its admin token.
fn operator(net: &Net, i: usize, args: &[&str]) -> (bool, String) {
    let node = format!("http://{}", net.url(i));
    let token = net.layout.nodes[i].dir.join("admin.token");
    let mut all = vec!["operator", "--node", &node, "--token-file", token.to_str().unwrap()];
    all.extend_from_slice(args);
    npchain(&all)
}

/// Waits until every node shows the order in `state`.
fn wait_state(net: &Net, port: &str, state: &str) {
    wait_until(LONG, state, || {
        (0..net.layout.nodes.len())
            .all(|n| get(net.url(n), &format!("/v1/ports/{port}")).is_some_and(|p| p["state"] == state))
    });
}

#[test]
fn the_recipient_requests_with_the_consent_and_the_wallet_follows_it() {
    let mut net = Net::new(4);
    net.start_all();
    wait_until(LONG, "blocks", || (0..4).all(|i| net.height(i).is_some_and(|h| h >= 1)));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    let genesis = net.layout.dir.join("genesis.toml");
    let node0 = format!("http://{}", net.url(0));
    let (ok, out) = wallet(&dir, &node0, &["new", "--genesis", genesis.to_str().unwrap()]);
    assert!(ok, "{out}");
    let key = out.lines().find_map(|l| l.strip_prefix("public key: ")).unwrap().trim().to_owned();

    // OPA serves the number and binds the subscriber's key to it
    let (ok, out) = operator(&net, 0, &["--wait", "bind", NUMBER, "--subscriber", &key]);
    assert!(ok, "{out}");
    // `--wait` sees the binding applied on node 0; the recipient's node checks a consent
    // against its own state, so it too must have applied that block first
    let bound: u64 = out.split("applied at height ").nth(1).and_then(|h| h.trim().parse().ok()).expect(&out);
    wait_until(LONG, "the binding on every node", || {
        (0..4).all(|i| net.height(i).is_some_and(|h| h >= bound))
    });

    // the subscriber consents to a port to OPB: a file and a line, the same consent
    let file = tmp.path().join("consent.json");
    let (ok, out) = wallet(
        &dir,
        &node0,
        &["consent", "--number", NUMBER, "--to", "OPB", "--expires", "+1h", "--out", file.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    let port = out.split("the order will be ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let line = out.lines().find(|l| l.starts_with("npconsent1:")).unwrap().to_owned();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!((doc["port"].as_str(), doc["consent"].as_str()), (Some(port.as_str()), Some(line.as_str())));
    assert_eq!((doc["donor"].as_str(), doc["recipient"].as_str()), (Some("OPA"), Some("OPB")));
    assert_eq!(doc["numbers"], json!([NUMBER]));
    assert!(out.contains("follow"), "{out}");
    // nothing is submitted by a consent; the wallet lists it as given
    assert!(get(net.url(0), &format!("/v1/ports/{port}")).is_none());
    let (ok, out) = wallet(&dir, &node0, &["show"]);
    assert!(ok && out.contains(&format!("order {port}: consent given to OPB, not submitted yet")), "{out}");
    // a consent file is never overwritten
    let (ok, out) = wallet(
        &dir,
        &node0,
        &["consent", "--number", NUMBER, "--to", "OPB", "--out", file.to_str().unwrap()],
    );
    assert!(!ok && out.contains("exists"), "{out}");
    let (ok, out) = wallet(&dir, &node0, &["consent", "--number", NUMBER, "--to", "OPB", "--expires", "+0s"]);
    assert!(!ok && out.contains("expiry \"+0s\" is not a time after now"), "{out}");

    // another operator's node cannot carry it, nor a file that says other than it signs
    let (ok, out) = operator(&net, 2, &["request-for", "--consent", &line]);
    assert!(!ok && out.contains("consent_other_recipient"), "{out}");
    assert!(out.contains("the consent names recipient OPB; this node's operator is OPC"), "{out}");
    let tampered = tmp.path().join("tampered.json");
    let mut edited = doc.clone();
    edited["recipient"] = json!("OPC");
    std::fs::write(&tampered, edited.to_string()).unwrap();
    let (ok, out) = operator(&net, 2, &["request-for", "--consent", tampered.to_str().unwrap()]);
    assert!(!ok && out.contains("field recipient says \"OPC\"; the signed consent says \"OPB\""), "{out}");

    // OPB's desk submits the file through its own node
    let (ok, out) = operator(&net, 1, &["--wait", "request-for", "--consent", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("order {port}")) && out.contains("applied at height"), "{out}");
    wait_state(&net, &port, "requested");
    // the same consent a second time, as the line: the ledger's replay refusal
    let (ok, out) = operator(&net, 1, &["request-for", "--consent", &line]);
    assert!(!ok && out.contains("duplicate-port"), "{out}");

    // the donor releases, the recipient activates
    let (ok, out) = operator(&net, 0, &["--wait", "release", &port]);
    assert!(ok, "{out}");
    wait_state(&net, &port, "released");
    let (ok, out) = operator(&net, 1, &["--wait", "activate", &port]);
    assert!(ok, "{out}");

    // the wallet follows the order it never sent, every step verified
    let (ok, out) = wallet(&dir, &node0, &["follow", &port, "--timeout", "60"]);
    assert!(ok, "{out}");
    for step in ["requested", "released", "activated"] {
        assert!(out.lines().any(|l| l.contains(step) && l.contains("verified")), "{step}: {out}");
    }
    assert!(out.contains("finished: activated"), "{out}");
    let (ok, out) = wallet(&dir, &node0, &["show"]);
    assert!(ok, "{out}");
    let shown =
        out.lines().find(|l| l.starts_with(&format!("order {port}: "))).unwrap_or_else(|| panic!("{out}"));
    assert!(shown.contains("(OPA -> OPB)") && shown.contains("requested by the recipient OPB"), "{shown}");
    assert!(shown.contains("3 step(s) verified"), "{shown}");
    let (ok, out) = wallet(&dir, &node0, &["verify"]);
    assert!(ok && out.contains("3 entries"), "{out}");
    // and the number is OPB's now
    let route = get(net.url(3), &format!("/v1/numbers/{}", NUMBER.replace('+', "%2B"))).unwrap();
    assert_eq!(route["serving"], "OPB", "{route}");
}
