//! The subscriber's wallet on a real devnet: a port it requests, the donor's release and the
//! recipient's activation followed into a local ledger that verifies offline; tampering found;
//! a node that forges a block refused; a group port and a cancel.

mod support;

use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener},
    process::Command,
    time::Duration,
};
use support::{Net, get, npchain, wait_until, wallet};

const LONG: Duration = Duration::from_secs(90);

/// Acts on node `i` and waits until every node has applied the transaction (the next action,
/// on any node, is prechecked on that node's committed state).
fn act(net: &Net, i: usize, path: &str, body: Value) {
    let every: Vec<_> = (0..net.layout.nodes.len()).map(|n| net.url(n)).collect();
    net.act_applied(i, path, &body, &every);
}

/// Waits until every node shows the order in `state`.
fn wait_state(net: &Net, port: &str, state: &str) {
    wait_until(LONG, state, || {
        (0..net.layout.nodes.len())
            .all(|n| get(net.url(n), &format!("/v1/ports/{port}")).is_some_and(|p| p["state"] == state))
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
    assert!(!ok && out.contains("refused not-bound: "), "not bound to this key: {out}");
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
    assert!(!ok && out.contains("refused port-open: "), "an open order exists: {out}");
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
        "+491500000077 served by OPB (rn +49D002)",
        "+491500000078 served by OPA",
        "+491500000079 served by OPA",
    ] {
        assert!(out.contains(&format!("number {n}")), "{n}: {out}");
    }
}

/// Runs `command` as a shell would run it pasted: stdout, stderr and the exit code.
fn shell(command: &str) -> (Option<i32>, String, String) {
    let out = Command::new("sh").arg("-c").arg(command).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The port id and the follow command that `wallet port` printed.
fn port_and_hint(out: &str) -> (String, String) {
    let port = out.split_whitespace().nth(1).unwrap().to_owned();
    // the line after "…; follow it with:"
    let hint = out.lines().skip_while(|l| !l.ends_with("follow it with:")).nth(1).unwrap().trim().to_owned();
    (port, hint)
}

/// A child's stderr, collected by a thread as it comes.
fn collect(stream: impl std::io::Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<String>> {
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    text
}

/// A child's stdout lines, each with the wall-clock time (Unix ms) it arrived at.
fn collect_timed(
    stream: impl std::io::Read + Send + 'static,
) -> std::sync::Arc<std::sync::Mutex<Vec<(u64, String)>>> {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push((support::now_ms(), line));
        }
    });
    lines
}

/// A child process killed when dropped (a watch runs until stopped: a failing test must not
/// leave it behind).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A back office for node webhooks (`[notify]`): answers 200 to every POST; the bodies.
fn back_office() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            sink.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
            let mut out = stream;
            let _ = write!(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

/// When node `i` applied the block at `height`, by its own log line (UTC, RFC 3339): Unix ms.
fn applied_at(net: &Net, i: usize, height: u64) -> u64 {
    let log = std::fs::read_to_string(net.layout.nodes[i].dir.join("node.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("applied finalized block") && l.contains(&format!("height={height} ")))
        .unwrap_or_else(|| panic!("node {i} logged no commit of block {height}"));
    // 2026-12-02T03:10:11.123456Z
    let stamp = line.split_whitespace().next().unwrap();
    let num = |a: usize, b: usize| stamp[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (num(0, 4), num(5, 7), num(8, 10));
    let (hh, mm) = (num(11, 13), num(14, 16));
    let secs: f64 = stamp[17..stamp.len() - 1].parse().unwrap();
    // days from 1970-01-01 of the civil date (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 86_400 + hh * 3600 + mm * 60) * 1000) as u64 + (secs * 1000.0) as u64
}

#[test]
fn refusals_reasons_orders_an_operator_started_the_pasted_hint_and_ctrl_c() {
    use commonware_codec::{DecodeExt, Encode};
    use commonware_cryptography::Signer;
    use npchain_core::{PortRequest, PrivateKey, Timestamp, Transaction, TxBody};

    let mut net = Net::new(2);
    // node 0 (OPA) posts its operator's events to a back office
    let (hook, posted) = back_office();
    net.layout.nodes[0].config.notify = Some(npchain_node::config::NotifyConfig::new(&hook));
    std::fs::write(&net.layout.nodes[0].config_path, net.layout.nodes[0].config.to_toml()).unwrap();
    net.start_all();
    wait_until(LONG, "blocks", || (0..2).all(|i| net.height(i).is_some_and(|h| h >= 1)));
    let tmp = tempfile::tempdir().unwrap();
    // a wallet directory that needs quoting in a shell
    let dir = tmp.path().join("my wallet");
    let node0 = format!("http://{}", net.url(0));
    let genesis = net.layout.dir.join("genesis.toml");
    let (ok, out) = wallet(&dir, &node0, &["new", "--genesis", genesis.to_str().unwrap()]);
    assert!(ok, "{out}");
    let key = out.lines().find_map(|l| l.strip_prefix("public key: ")).unwrap().trim().to_owned();

    // The same refusal, caught by the precheck and in a block, reads the same but for the
    // height: the code, and the ledger's message.
    let (ok, out) = wallet(&dir, &node0, &["port", "--number", "+491500000077", "--to", "OPB"]);
    let at_precheck = out.lines().find_map(|l| l.strip_prefix("error: refused not-bound: "));
    assert!(!ok && at_precheck.is_some(), "{out}");
    let message = at_precheck.unwrap().to_owned();
    assert!(message.contains("+491500000077") && !message.contains("422"), "{message}");
    let (ok, out) =
        wallet(&dir, &node0, &["port", "--number", "+491500000077", "--to", "OPB", "--no-precheck"]);
    assert!(ok, "without the precheck the node pools it: {out}");
    let (refused_port, hint) = port_and_hint(&out);
    assert!(hint.contains("--wallet") && hint.contains(&format!("--node {node0}")), "{hint}");
    assert!(hint.contains("'"), "the wallet path is quoted: {hint}");
    let (code, stdout, stderr) = shell(&hint);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let in_block = stderr
        .lines()
        .find_map(|l| l.strip_prefix("error: refused not-bound at height "))
        .and_then(|l| l.split_once(": "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(in_block.0.parse::<u64>().is_ok(), "{stderr}");
    assert_eq!(in_block.1, message, "the same message at the precheck and in the block");
    let (code, stdout, _) = shell(&format!("{hint} --json"));
    assert_eq!(code, Some(1));
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (doc["refused"]["code"].as_str(), doc["refused"]["message"].as_str()),
        (Some("not-bound"), Some(message.as_str()))
    );

    // bound now: the request is accepted, and the pasted hint follows it (started at once,
    // before the request is in a block) until the donor rejects it with a reason
    act(&net, 0, "numbers/%2B491500000077/bind", json!({ "subscriber": key }));
    let (ok, out) = wallet(&dir, &node0, &["port", "--number", "+491500000077", "--to", "OPB"]);
    assert!(ok, "{out}");
    let (port, hint) = port_and_hint(&out);
    let mut follow = Command::new("sh")
        .arg("-c")
        .arg(format!("{hint} --timeout 120"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect(follow.stdout.take().unwrap());
    let stderr = collect(follow.stderr.take().unwrap());
    wait_state(&net, &port, "requested");
    act(&net, 0, &format!("ports/{port}/reject"), json!({ "reason": "outstanding-dues" }));
    let mut status = None;
    wait_until(LONG, "the follow to end", || {
        status = follow.try_wait().unwrap();
        status.is_some()
    });
    let (out, err) = (stdout.lock().unwrap().clone(), stderr.lock().unwrap().clone());
    assert!(status.unwrap().success(), "{out}{err}");
    let reason = "rejected (outstanding-dues: the subscriber has unpaid charges with the donor)";
    assert!(out.contains(&format!("finished: {reason}")), "{out}");
    assert!(out.lines().any(|l| l.contains(reason) && l.contains("verified")), "the step line: {out}");
    assert!(err.contains(&format!("following order {port}")), "says what it waits for: {err}");
    assert!(err.contains("until it is activated, rejected, cancelled or expired"), "{err}");
    assert!(err.contains("giving up after ") && err.contains("(--timeout); Ctrl-C stops"), "{err}");
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "no redrawn line off a terminal: {err:?}");

    // `wallet watch` runs, from before the key has +491500000078 (the bind adds it)
    let mut watch = Reaped(
        Command::new(env!("CARGO_BIN_EXE_npchain"))
            .args(["wallet", "--wallet", dir.to_str().unwrap(), "--node", &node0, "--json", "watch"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let alerts = collect_timed(watch.0.stdout.take().unwrap());
    let watch_err = collect(watch.0.stderr.take().unwrap());
    wait_until(LONG, "the watch to stream", || watch_err.lock().unwrap().contains("streaming the events of"));
    assert!(watch_err.lock().unwrap().contains("watching +491500000077\n"), "{}", watch_err.lock().unwrap());

    // An order the recipient OPB starts with the subscriber's consent: the wallet never sent it.
    act(&net, 0, "numbers/%2B491500000078/bind", json!({ "subscriber": key }));
    wait_until(LONG, "the watch to take the bound number", || {
        watch_err.lock().unwrap().contains("watching +491500000077 +491500000078\n")
    });
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("wallet.key")).unwrap()).unwrap();
    let subscriber =
        PrivateKey::decode(commonware_formatting::from_hex(file["key"].as_str().unwrap()).unwrap()).unwrap();
    let opb = npchain_node::keys::read_key(&net.layout.nodes[1].dir.join("operator.key")).unwrap();
    let chain = net.chain_id(1);
    let request = PortRequest {
        numbers: vec!["+491500000078".parse().unwrap()],
        donor: "OPA".parse().unwrap(),
        recipient: "OPB".parse().unwrap(),
        due: Timestamp(0),
        nonce: 7,
    };
    let theirs = request.port_id(&subscriber.public_key()).to_string();
    let time = net.status(1).unwrap()["block_time_ms"].as_u64().unwrap();
    let tx = Transaction {
        nonce: 1,
        expires_at: Timestamp(time + 300_000),
        signer: opb.public_key(),
        body: TxBody::RequestPortFor {
            consent: request.consent(&chain, &subscriber),
            request,
            subscriber: subscriber.public_key(),
        },
    }
    .sign(&chain, &opb);
    net.submit(1, &tx.encode());
    wait_state(&net, &theirs, "requested");
    let alert_of = |port: &str, step: &str| {
        let mut found = None;
        wait_until(LONG, &format!("the alert of {step} {port}"), || {
            found = alerts.lock().unwrap().iter().find_map(|(at, l)| {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|_| panic!("{l}"));
                (v["port"] == port && v["step"] == step).then_some((*at, v))
            });
            found.is_some()
        });
        found.unwrap()
    };
    let (arrived_ms, alert) = alert_of(&theirs, "requested");
    assert_eq!((alert["donor"].as_str(), alert["recipient"].as_str()), (Some("OPA"), Some("OPB")), "{alert}");
    assert_eq!(alert["numbers"], json!(["+491500000078"]));
    assert_eq!(alert["watched"], json!(["+491500000078"]));
    assert_eq!((alert["sent_by_wallet"].as_bool(), alert["consented"].as_bool()), (Some(false), Some(false)));
    assert_eq!(alert["proven"], true, "block and certificate checked: {alert}");
    let cancel = alert["cancel"].as_str().unwrap().to_owned();
    assert!(cancel.ends_with(&format!("cancel {theirs}")) && cancel.contains("--wallet '"), "{cancel}");
    // within one second of node 0's commit of its block, by node 0's own record
    let committed_ms = applied_at(&net, 0, alert["height"].as_u64().unwrap());
    let delay_ms = arrived_ms as i64 - committed_ms as i64;
    eprintln!("wallet watch: the alert of {theirs} arrived {delay_ms} ms after node 0 committed its block");
    assert!(delay_ms < 1000, "the alert came {delay_ms} ms after the commit");
    // node 0's webhook posts the same event (OPA is the donor), with the stream's id
    wait_until(LONG, "the webhook", || {
        posted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
            .any(|e| e["port"] == theirs.as_str() && e["step"] == "requested" && e["id"] == alert["event_id"])
    });
    assert!(posted.lock().unwrap().iter().all(|b| b["operator"] == "OPA"), "{:?}", posted.lock().unwrap());
    let (ok, out) = wallet(&dir, &node0, &["show"]);
    assert!(ok, "{out}");
    let line = |id: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("order {id}: ")))
            .unwrap_or_else(|| panic!("{id}: {out}"))
            .to_owned()
    };
    assert!(
        line(&theirs).contains("requested (OPA -> OPB) +491500000078; requested by the recipient OPB"),
        "{out}"
    );
    assert!(line(&port).contains(reason) && line(&port).contains("sent by this wallet"), "{out}");
    assert!(
        line(&refused_port).contains(&format!(": refused not-bound at height {}: {message}", in_block.0)),
        "{out}"
    );
    let (ok, out) = wallet(&dir, &node0, &["show", "--json"]);
    assert!(ok, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let orders = doc["orders"].as_array().unwrap();
    let order =
        |id: &str| orders.iter().find(|o| o["id"] == id).unwrap_or_else(|| panic!("{id}: {doc}")).clone();
    assert_eq!(order(&theirs)["initiator"], "recipient");
    assert_eq!(order(&theirs)["sent_by_wallet"], false);
    assert_eq!(order(&theirs)["verified_steps"], 1, "show verified its step into the ledger");
    assert_eq!(order(&port)["reason"]["code"], "outstanding-dues");
    assert_eq!(order(&refused_port)["refused"]["code"], "not-bound");
    // the operator's order is in the local ledger, verified: requested and rejected of the
    // first order, requested of OPB's
    let (ok, out) = wallet(&dir, &node0, &["verify"]);
    assert!(ok && out.contains("3 entries"), "{out}");

    // Ctrl-C while following: exit code 130, no panic, what was recorded stays
    let mut follow = Command::new(env!("CARGO_BIN_EXE_npchain"))
        .args(["wallet", "--wallet", dir.to_str().unwrap(), "--node", &node0, "follow", &theirs])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = collect(follow.stderr.take().unwrap());
    wait_until(LONG, "the follow to start", || err.lock().unwrap().contains("Ctrl-C stops"));
    assert!(
        err.lock().unwrap().contains("(its activation deadline, plus 10 min)"),
        "{}",
        err.lock().unwrap()
    );
    let sent = Command::new("kill").args(["-INT", &follow.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let mut status = None;
    wait_until(LONG, "the follow to stop", || {
        status = follow.try_wait().unwrap();
        status.is_some()
    });
    let err = err.lock().unwrap().clone();
    assert_eq!(status.unwrap().code(), Some(130), "{err}");
    assert!(err.contains(&format!("stopped following order {theirs}")) && !err.contains("panicked"), "{err}");
    let (ok, out) = wallet(&dir, &node0, &["verify"]);
    assert!(ok && out.contains("3 entries"), "{out}");

    // another subscriber's port is no alert; the wallet's own request is marked as its own
    let other = net.request_port("+491500000081", 1);
    act(&net, 0, "numbers/%2B491500000079/bind", json!({ "subscriber": key }));
    let (ok, out) = wallet(&dir, &node0, &["port", "--number", "+491500000079", "--to", "OPB"]);
    assert!(ok, "{out}");
    let (mine, _) = port_and_hint(&out);
    let (_, alert) = alert_of(&mine, "requested");
    assert_eq!((alert["sent_by_wallet"].as_bool(), alert["cancel"].is_null()), (Some(true), true), "{alert}");
    // the other order's block came before the wallet's: its alert would have been read first
    assert!(!alerts.lock().unwrap().iter().any(|(_, l)| l.contains(&other)), "{other}");
    // the cancel command of the alert works when pasted
    let (code, stdout, stderr) = shell(&cancel);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    wait_state(&net, &theirs, "cancelled");
    let (_, alert) = alert_of(&theirs, "cancelled");
    assert_eq!(alert["sent_by_wallet"], false);
    // Ctrl-C stops the watch; its proven alerts are in the local ledger
    let sent = Command::new("kill").args(["-INT", &watch.0.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let mut status = None;
    wait_until(LONG, "the watch to stop", || {
        status = watch.0.try_wait().unwrap();
        status.is_some()
    });
    let err = watch_err.lock().unwrap().clone();
    assert_eq!(status.unwrap().code(), Some(130), "{err}");
    assert!(err.contains("stopped watching; 3 alert(s)") && !err.contains("panicked"), "{err}");
    let (ok, out) = wallet(&dir, &node0, &["verify"]);
    assert!(ok && out.contains("5 entries"), "{out}");
}
