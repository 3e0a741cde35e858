//! The routing answers and the operator API on a real devnet: a port driven through the HTTP
//! API, seen in ENUM (dig) and HTTP answers on every node, and in event streams on two nodes.

mod support;

use npchain_core::{Timestamp, types::UtcDay};
use npchain_testkit::raw_http::Events;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Net, get, wait_until};

const LONG: Duration = Duration::from_secs(90);
/// In OPA's demo mobile range +49150.
const NUMBER: &str = "+491500000042";

/// The number's ENUM name: its digits reversed, one label each, under e164.arpa.
fn enum_name(number: &str) -> String {
    let labels: Vec<String> = number[1..].chars().rev().map(String::from).collect();
    format!("{}.e164.arpa", labels.join("."))
}

#[test]
fn a_port_switches_enum_and_http_answers_on_every_node_at_the_same_height() {
    let mut net = Net::new(4);
    net.start_all();
    let all = [0, 1, 2, 3];
    wait_until(LONG, "blocks on every node", || all.iter().all(|i| net.height(*i).is_some_and(|h| h >= 1)));
    let encoded = "%2B491500000042";
    let mut streams = [
        Events::open(net.url(1), &format!("?number={encoded}"), None),
        Events::open(net.url(2), &format!("?number={encoded}"), None),
    ];

    // Before: in OPA's range, not ported, on every node, in DNS and HTTP.
    for i in all {
        assert_eq!(
            net.dig(i, "NAPTR", &enum_name(NUMBER)),
            [format!("100 10 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:{NUMBER};npdi!\" .")]
        );
        let route = get(net.url(i), &format!("/v1/numbers/{encoded}")).unwrap();
        assert_eq!((route["serving"].as_str(), route["ported"].as_bool()), (Some("OPA"), Some(false)));
    }
    // unknown numbers and other types
    assert!(net.dig(0, "NAPTR", "1.2.3.4.5.6.7.8.8.e164.arpa").is_empty(), "NXDOMAIN");
    assert!(net.dig(0, "A", &enum_name(NUMBER)).is_empty(), "NODATA");

    // OPA binds the subscriber; the subscriber asks any node (3) to port to OPB; OPA releases;
    // OPB activates.
    let port = net.request_port(NUMBER, 3);
    let released = net.act_committed(0, &format!("ports/{port}/release"), Value::Null, 0);
    // node 1 acts next: it must have the release's block first (it checks the order's state)
    wait_until(LONG, "the release on node 1", || net.height(1).is_some_and(|h| h >= released));

    // Watch every node's HTTP answers (each with its height) while OPB activates.
    let (status, answer) = net.act(1, &format!("ports/{port}/activate"), &Value::Null);
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let mut seen: Vec<(u64, String)> = Vec::new();
    wait_until(LONG, "the activation on every node", || {
        for i in all {
            if let Some(r) = get(net.url(i), &format!("/v1/numbers/{encoded}")) {
                seen.push((r["height"].as_u64().unwrap(), r["serving"].as_str().unwrap().to_owned()));
            }
        }
        all.iter().all(|i| net.committed(*i, &id).is_some())
    });
    let switch = net.committed(0, &id).unwrap()["height"].as_u64().unwrap();
    for i in all {
        assert_eq!(net.committed(i, &id).unwrap()["height"].as_u64(), Some(switch), "node {i}");
    }
    for (height, serving) in &seen {
        let expected = if *height >= switch { "OPB" } else { "OPA" };
        assert_eq!(serving, expected, "an answer at height {height} (switch at {switch})");
    }

    // After: ported to OPB with its routing number, on every node, in DNS and HTTP.
    for i in all {
        assert_eq!(
            net.dig(i, "NAPTR", &enum_name(NUMBER)),
            [format!("100 10 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:{NUMBER};npdi;rn=+49D002!\" .")],
            "node {i}"
        );
        let route = get(net.url(i), &format!("/v1/numbers/{encoded}")).unwrap();
        assert_eq!(
            (route["serving"].as_str(), route["routing_number"].as_str()),
            (Some("OPB"), Some("+49D002"))
        );
        let serial: u64 =
            net.dig(i, "SOA", "e164.arpa")[0].split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(serial >= switch, "SOA serial {serial} is the height");
    }

    // Both event streams saw the same four events, in the same blocks.
    let [a, b] = &mut streams;
    let from_a: Vec<Value> = (0..4).map(|_| a.next_event().1).collect();
    let from_b: Vec<Value> = (0..4).map(|_| b.next_event().1).collect();
    assert_eq!(from_a, from_b);
    let kinds: Vec<String> = from_a
        .iter()
        .map(|e| {
            format!(
                "{}{}",
                e["type"].as_str().unwrap(),
                e["step"].as_str().map(|s| format!(":{s}")).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(kinds, ["bound", "port:requested", "port:released", "port:activated"]);
    assert_eq!(from_a[3]["height"].as_u64(), Some(switch));

    // the CLI: query any node; list and act as an operator
    let npchain = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_npchain")).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let node = |i: usize| format!("http://{}", net.url(i));
    let (ok, out) = npchain(&["query", NUMBER, "--node", "http://127.0.0.1:1", "--node", &node(2)]);
    assert!(
        ok && out.contains("-> OPB (routing number +49D002), ported"),
        "failover to the second node: {out}"
    );
    assert!(out.ends_with('\n'), "the answer ends its line: {out:?}");
    let (ok, out) = npchain(&["query", NUMBER, "--node", &node(2), "--json"]);
    assert!(ok && out.ends_with('\n'), "{out:?}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["serving"], "OPB");
    let token = net.layout.nodes[1].dir.join("admin.token");
    let token = token.to_str().unwrap();
    let (ok, out) =
        npchain(&["operator", "--node", &node(1), "--token-file", token, "ports", "--state", "activated"]);
    assert!(ok, "{out}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["port", "state", "donor", "recipient", "role", "initiator", "numbers"], "{out}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row, [port.as_str(), "activated", "OPA", "OPB", "recipient", "subscriber", NUMBER], "{out}");
    let (ok, out) = npchain(&[
        "operator",
        "--node",
        &node(1),
        "--token-file",
        token,
        "ports",
        "--state",
        "activated",
        "--json",
    ]);
    assert!(ok, "{out}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (list["operator"].as_str(), list["ports"][0]["id"].as_str()),
        (Some("OPB"), Some(port.as_str()))
    );
    assert_eq!(list["ports"][0]["role"], "recipient");
    assert_eq!(list["ports"][0]["numbers"], json!([NUMBER]));
    // A refusal at the precheck: the ledger's code and message, as a block would give them.
    let (ok, out) = npchain(&["operator", "--node", &node(1), "--token-file", token, "activate", &port]);
    let expected =
        format!("error: refused wrong-state: port order {port} is activated; this needs it to be released");
    assert!(!ok && out.trim_end().ends_with(&expected), "activating twice: {out}");
    let only_stdout = std::process::Command::new(env!("CARGO_BIN_EXE_npchain"))
        .args(["operator", "--node", &node(1), "--token-file", token, "--json", "activate", &port])
        .output()
        .unwrap();
    assert!(!only_stdout.status.success());
    let answer: Value = serde_json::from_slice(&only_stdout.stdout).unwrap();
    assert_eq!(answer["refused"]["code"], "wrong-state", "{answer}");
    assert!(answer["refused"]["height"].is_null(), "caught before a block: {answer}");
    let (ok, out) = npchain(&["operator", "--node", &node(1), "release", &port]);
    assert!(!ok && out.contains("missing_token"), "{out}");
    let (ok, out) = npchain(&["query", "+4940123", "--node", &node(0)]);
    assert!(!ok && out.contains("unknown_number") && out.ends_with('\n'), "{out:?}");

    // `npchain stats`: the one completed port, as a table, around today (block time is UTC)
    let today = Timestamp(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64,
    )
    .utc_day();
    let (from, to) = (UtcDay(today.0 - 1).to_string(), UtcDay(today.0 + 1).to_string());
    let (ok, out) =
        npchain(&["stats", "--from", &from, "--to", &to, "--period", "month", "--node", &node(2)]);
    assert!(ok, "{out}");
    let total: Vec<&str> =
        out.lines().find(|l| l.starts_with("total")).expect("a total row").split_whitespace().collect();
    // period requested released deemed-rel rejected deemed-rej cancelled expired completed numbers
    assert_eq!(total[..10], ["total", "1", "1", "0", "0", "0", "0", "0", "1", "1"], "{out}");
    assert!(out.contains("rejections by reason: none"), "{out}");
    let pair: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("OPA -> OPB"))
        .expect("the pair's row")
        .split_whitespace()
        .collect();
    assert_eq!(pair, ["OPA", "->", "OPB", "1", "1", "0", "0", "0", "1"], "{out}");
    let (ok, out) = npchain(&["stats", "--from", &to, "--to", &from, "--node", &node(2)]);
    assert!(!ok && out.contains(&to) && out.contains(&from), "a reversed range is refused, quoted: {out}");

    // metrics count the ENUM answers
    let text = support::get_text(net.url(0), "/metrics");
    assert!(text.contains(r#"npchain_queries_total{kind="enum",result="ported"}"#), "{text}");
    assert!(text.contains("npchain_commit_latency_seconds_count"), "{text}");
    assert!(!text.contains("npchain_commit_latency_seconds_count 0"), "commits were timed: {text}");
}
