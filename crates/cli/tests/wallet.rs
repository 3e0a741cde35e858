//! The subscriber's wallet on a real devnet: a port it requests, the donor's release and the
//! recipient's activation followed into a local ledger that verifies offline; tampering found;
//! a node that forges a block refused; a group port and a cancel.

mod support;

use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener},
    path::Path,
    process::Command,
    time::Duration,
};
use support::{Net, get, wait_until};

const LONG: Duration = Duration::from_secs(90);

fn npchain(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_npchain")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn wallet(dir: &Path, node: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["wallet", "--wallet", dir.to_str().unwrap(), "--node", node];
    all.extend_from_slice(args);
    npchain(&all)
}

/// Acts on node `i` and waits until the transaction is applied.
fn act(net: &Net, i: usize, path: &str, body: Value) {
    let (status, answer) = net.act(i, path, &body);
    assert_eq!(status, 202, "{path}: {answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    wait_until(LONG, "the action to commit", || {
        get(net.url(i), &format!("/v1/tx/{id}")).is_some_and(|v| v["outcome"] == "applied")
    });
}

fn wait_state(net: &Net, port: &str, state: &str) {
    wait_until(LONG, state, || {
        get(net.url(0), &format!("/v1/ports/{port}")).is_some_and(|p| p["state"] == state)
    });
}

/// A node that passes every request to `upstream` but flips a byte of every block it serves
/// with a finalization certificate: a lying node.
fn forging_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let (status, mut body) = match get(upstream, &path) {
                Some(v) => (200, v),
                None => (404, json!({"error": "not_found", "message": "upstream has none"})),
            };
            if path.ends_with("/finalization")
                && let Some(block) = body["block"].as_str()
            {
                let mut bytes = commonware_formatting::from_hex(block).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                body["block"] = json!(commonware_formatting::hex(&bytes));
            }
            let text = body.to_string();
            let mut out = stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    addr
}

#[test]
fn a_subscriber_ports_follows_and_verifies_and_a_forged_block_is_refused() {
    let mut net = Net::new(4);
    net.start_all();
    wait_until(LONG, "blocks", || (0..4).all(|i| net.height(i).is_some_and(|h| h >= 1)));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let genesis = net.layout.dir.join("genesis.toml");
    let node0 = format!("http://{}", net.url(0));
    let node3 = format!("http://{}", net.url(3));

    // a new wallet, its key encrypted
    let (ok, out) = npchain(&[
        "wallet",
        "--wallet",
        dir.to_str().unwrap(),
        "--node",
        &node3,
        "--passphrase-file",
        pass.to_str().unwrap(),
        "new",
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let key = out.lines().find_map(|l| l.strip_prefix("public key: ")).unwrap().trim().to_owned();
    let (ok, out) = wallet(&dir, &node3, &["show"]);
    assert!(!ok && out.contains("passphrase"), "the key is encrypted: {out}");
    let with_pass = |args: &[&str]| {
        let mut all = vec!["--passphrase-file", pass.to_str().unwrap()];
        all.extend_from_slice(args);
        wallet(&dir, &node3, &all)
    };
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "guess").unwrap();
    let (ok, out) = wallet(&dir, &node3, &["--passphrase-file", wrong.to_str().unwrap(), "show"]);
    assert!(!ok && out.contains("wrong passphrase"), "{out}");

    // refusals before anything is bound
    let (ok, out) = with_pass(&["port", "--number", "+491500000077", "--to", "OPB"]);
    assert!(!ok && out.contains("422"), "not bound to this key: {out}");
    let (ok, out) = with_pass(&["port", "--number", "+491500000077", "--to", "OPZ"]);
    assert!(!ok, "unknown operator: {out}");

    // OPA binds the key; the subscriber ports to OPB; OPA releases; OPB activates
    act(&net, 0, "numbers/%2B491500000077/bind", json!({ "subscriber": key }));
    let (ok, out) = with_pass(&["port", "--number", "+491500000077", "--to", "OPB"]);
    assert!(ok, "{out}");
    let port = out.split_whitespace().nth(1).unwrap().to_owned();
    // Once the order is committed, the precheck refuses a second one. (Before, the node pools
    // it and the ledger refuses it in its block: the precheck reads committed state only.)
    wait_state(&net, &port, "requested");
    let (ok, out) = with_pass(&["port", "--number", "+491500000077", "--to", "OPC"]);
    assert!(!ok && out.contains("422"), "an open order exists: {out}");
    act(&net, 0, &format!("ports/{port}/release"), Value::Null);
    act(&net, 1, &format!("ports/{port}/activate"), Value::Null);

    // a lying node: the wallet refuses its block and writes nothing
    let liar = format!("http://{}", forging_proxy(net.url(2)));
    let (ok, out) = wallet(
        &dir,
        &liar,
        &["--passphrase-file", pass.to_str().unwrap(), "follow", &port, "--timeout", "30"],
    );
    assert!(!ok && out.contains("does not hold"), "{out}");
    assert!(
        !dir.join("ledger.jsonl").exists()
            || std::fs::read_to_string(dir.join("ledger.jsonl")).unwrap().is_empty()
    );

    // an honest node (the first one is down: the next is tried)
    let (ok, out) = wallet(
        &dir,
        "http://127.0.0.1:1",
        &["--node", &node0, "--passphrase-file", pass.to_str().unwrap(), "follow", &port, "--timeout", "60"],
    );
    assert!(ok, "{out}");
    for step in ["requested", "released", "activated"] {
        assert!(out.contains(step), "{step}: {out}");
    }
    assert!(out.contains("finished: activated"), "{out}");
    let (ok, out) = with_pass(&["verify"]);
    assert!(ok && out.contains("3 entries"), "{out}");

    // tampering with the local ledger is found, and named
    let ledger = dir.join("ledger.jsonl");
    let text = std::fs::read_to_string(&ledger).unwrap();
    let mut lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let original = lines[1].clone();
    lines[1]["step"] = json!("rejected");
    let write = |lines: &[Value]| {
        std::fs::write(&ledger, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap()
    };
    write(&lines);
    let (ok, out) = with_pass(&["verify"]);
    assert!(!ok && out.contains("ledger entry 2"), "{out}");
    lines[1] = original;
    let mut block = commonware_formatting::from_hex(lines[2]["block"].as_str().unwrap()).unwrap();
    block[10] ^= 1;
    lines[2]["block"] = json!(commonware_formatting::hex(&block));
    write(&lines);
    let (ok, out) = with_pass(&["verify"]);
    assert!(!ok && out.contains("ledger entry 3"), "{out}");
    std::fs::write(&ledger, &text).unwrap();
    assert!(with_pass(&["verify"]).0);

    // a group port of two more numbers, cancelled before activation
    for n in ["%2B491500000078", "%2B491500000079"] {
        act(&net, 0, &format!("numbers/{n}/bind"), json!({ "subscriber": key }));
    }
    let group = tmp.path().join("group.txt");
    std::fs::write(&group, "number\n+491500000078\n+491500000079\n").unwrap();
    let (ok, out) = with_pass(&["port", "--group", group.to_str().unwrap(), "--to", "OPC", "--due", "+1h"]);
    assert!(ok && out.contains("2 number(s)"), "{out}");
    let group_port = out.split_whitespace().nth(1).unwrap().to_owned();
    wait_state(&net, &group_port, "requested");
    let order = get(net.url(0), &format!("/v1/ports/{group_port}")).unwrap();
    assert_eq!(order["numbers"].as_array().unwrap().len(), 2);
    let (ok, out) = with_pass(&["cancel", &group_port]);
    assert!(ok, "{out}");
    let (ok, out) = with_pass(&["follow", &group_port, "--timeout", "60"]);
    assert!(ok && out.contains("finished: cancelled"), "{out}");
    let (ok, out) = with_pass(&["verify"]);
    assert!(ok && out.contains("5 entries"), "{out}");
    let sent = std::fs::read_to_string(dir.join("sent.jsonl")).unwrap();
    let kinds: Vec<String> = sent
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].as_str().unwrap().into())
        .collect();
    assert_eq!(kinds, ["request", "request", "cancel"], "what the wallet sent, recorded as it was sent");
    let (ok, out) = with_pass(&["show"]);
    assert!(ok && out.contains("activated") && out.contains("cancelled"), "{out}");
    for n in [
        "+491500000077 served by OPB (rn D002)",
        "+491500000078 served by OPA",
        "+491500000079 served by OPA",
    ] {
        assert!(out.contains(&format!("number {n}")), "{n}: {out}");
    }
}
