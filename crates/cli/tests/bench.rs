//! The measurement commands in their smoke mode, so that they cannot rot: every scenario of
//! `npchain bench` and `npchain sim sms` runs on small devnets and writes its figures. The
//! figures are checked for what they must be (every transaction committed, every answer
//! switched), never for speed.

use serde_json::Value;
use std::{path::Path, process::Command};

/// Far from the blocks the other multi-process tests take (20000..60000).
const PORT_BASE: &str = "61000";

fn figures(out: &Path, name: &str) -> Value {
    let path = out.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["scenario"], name);
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    report["figures"].clone()
}

fn median(figures: &Value, name: &str) -> f64 {
    figures[name]["median"].as_f64().unwrap_or_else(|| panic!("no figure {name:?} in {figures}"))
}

fn run(args: &[&str], data: &Path, out: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_npchain"))
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .arg("--port-base")
        .arg(PORT_BASE)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "npchain {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn every_measurement_runs_in_smoke_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    let printed = run(&["bench", "--smoke", "all"], &data, &out);
    assert!(
        printed.contains("== throughput")
            && printed.contains("== catchup")
            && printed.contains("== kill")
            && printed.contains("== stats"),
        "{printed}"
    );

    let t = figures(&out, "throughput");
    assert_eq!(median(&t, "transactions committed"), 800.0);
    assert!(median(&t, "all steps tx/s (committed)") > 0.0);
    let p50 = median(&t, "commit latency (submit → seen committed on node 0) p50");
    assert!(p50 > 0.0 && p50 <= median(&t, "commit latency (submit → seen committed on node 0) p99"));

    let b = figures(&out, "burst");
    assert_eq!(median(&b, "group port: numbers"), 2_000.0);
    let alone = median(&b, "single requests alone: commit latency p50");
    assert!(alone > 0.0 && alone <= median(&b, "single requests alone: commit latency p99"));
    assert!(median(&b, "group port: requests submitted → activations committed") > 0.0);

    let p = figures(&out, "propagation");
    assert_eq!(median(&p, "activations measured"), 5.0);
    let each = median(&p, "submit → changed ENUM answer, each node p50");
    assert!(each > 0.0 && each <= median(&p, "submit → changed ENUM answer on every node p99"));

    let m = figures(&out, "mass");
    assert_eq!(median(&m, "numbers re-routed"), 2_000.0);
    assert!(median(&m, "(a) rn change: submit → every node answers the new route") > 0.0);
    assert!(median(&m, "(b) group port: requests submitted → every node answers the new route") > 0.0);

    let s = figures(&out, "scale-20000");
    assert_eq!(median(&s, "ported numbers loaded"), 20_000.0);
    assert!(median(&s, "resident memory per node (median of nodes)") > 1.0);
    assert!(median(&s, "ENUM lookup round trip (UDP, loopback, sequential) p99") > 0.0);

    let x = figures(&out, "export-20000");
    assert_eq!(median(&x, "ported numbers exported"), 20_000.0);
    assert!(median(&x, "export rate") > 0.0 && median(&x, "verify rate") > 0.0);
    assert!(median(&x, "ledger entries (state.bin)") > 20_000.0);

    let c = figures(&out, "catchup");
    assert_eq!(median(&c, "transactions committed while the node was down"), 1_000.0);
    assert!(median(&c, "blocks to catch up") >= 1.0);

    // The soak: traffic of every kind went through, every node was sampled throughout and kept
    // committing, and each verdict is a yes or a no.
    let k = figures(&out, "soak");
    assert!(median(&k, "transactions applied (seen on node 0)") > 0.0);
    assert_eq!(median(&k, "transactions not delivered (HTTP error)"), 0.0);
    assert!(median(&k, "ENUM queries asked (all nodes)") > 0.0);
    assert!(median(&k, "events read on held streams") > 0.0);
    assert!(median(&k, "event streams opened and closed") > 0.0);
    let samples: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("soak-samples.json")).unwrap()).unwrap();
    let nodes = samples["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for (i, node) in nodes.iter().enumerate() {
        assert!(node.as_array().unwrap().len() >= 3, "node {i}: {node}");
        assert!(median(&k, &format!("node {i}: blocks committed")) > 0.0);
        assert!(median(&k, &format!("node {i}: RSS max")) > 1.0);
        assert!(median(&k, &format!("node {i}: fds other than store files, max")) > 0.0);
        assert!(median(&k, &format!("node {i}: store files open, last sample")) > 0.0);
        for verdict in ["RSS grows", "fds other than store files grow"] {
            let v = median(&k, &format!("node {i}: {verdict} without bound (1 = yes)"));
            assert!(v == 0.0 || v == 1.0, "{verdict}: {v}");
        }
    }

    // The probe: every port was tried and answered something, and afterwards the node served
    // and a transaction sent to it committed on every node.
    let pr = figures(&out, "probe");
    for port in ["HTTP, slow clients and garbage", "HTTP, floods", "DNS UDP", "DNS TCP", "p2p"] {
        assert!(median(&pr, &format!("{port}: tried (requests, connections, datagrams)")) > 0.0, "{port}");
        assert!(median(&pr, &format!("{port}: node 0 fds after")) > 0.0, "{port}");
    }
    assert!(median(&pr, "after: committed at height") >= median(&pr, "after: height when submitted"));
    assert!(median(&pr, "node 0 blocks committed during the probe") > 0.0);
    let outcomes: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("probe-outcomes.json")).unwrap()).unwrap();
    let ports = outcomes["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 5);
    let http_statuses: Vec<&String> = ports[0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["outcomes"].as_object().unwrap().keys())
        .collect();
    for status in ["HTTP 431", "HTTP 414", "HTTP 413", "HTTP 400"] {
        assert!(http_statuses.iter().any(|k| k.ends_with(status)), "no {status} in {http_statuses:?}");
    }

    let kl = figures(&out, "kill");
    assert_eq!(median(&kl, "kills (SIGKILL, restarted at once)"), 3.0);
    assert!(median(&kl, "transactions committed (reported by a node)") > 0.0);
    assert_eq!(median(&kl, "committed transactions lost"), 0.0);
    assert_eq!(median(&kl, "divergent heights"), 0.0);
    assert!(median(&kl, "heights checked on every node") >= 1.0);
    let restart = median(&kl, "restart → caught up p50");
    assert!(restart > 0.0 && restart <= median(&kl, "restart → caught up max"));

    // The statistics at finished orders: every order finished and none left open, cells kept,
    // and every query read some of them.
    let st = figures(&out, "stats");
    assert_eq!(median(&st, "orders finished"), 20_000.0);
    assert_eq!(median(&st, "open orders kept"), 0.0);
    assert!(median(&st, "statistics cells (day x donor x recipient)") > 0.0);
    for q in ["a month by day", "a year by month", "one operator's year by month"] {
        assert!(median(&st, &format!("query {q}: cells read")) > 0.0, "{q}");
    }

    run(&["sim", "sms", "--smoke"], &data, &out);
    let sms = figures(&out, "sim-sms");
    let sent = median(&sms, "SMS sent to recently ported numbers");
    assert!(sent > 0.0);
    for name in [
        "npchain: success rate",
        "central DB, copies synced every 15 min: success rate",
        "central DB, copies synced every 24 h: success rate",
    ] {
        assert!((0.0..=100.0).contains(&median(&sms, name)), "{name}");
    }
    // A copy synchronised once a day cannot do better than one synchronised every 15 minutes.
    assert!(
        median(&sms, "central DB, copies synced every 24 h: misrouted")
            >= median(&sms, "central DB, copies synced every 15 min: misrouted")
    );
}

/// `npchain bench --cache-mib …` with the default, relative `--data bench-data` (BENCHMARKS.md
/// gives the commands so): the node configs, rewritten with the cache size, still name the
/// files they were written with, and the load's progress is not redrawn into a log.
#[test]
fn a_scenario_runs_with_a_cache_size_and_the_default_relative_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_npchain"))
        .current_dir(tmp.path())
        .args(["bench", "--smoke", "--validators", "2", "--cache-mib", "64", "--port-base", "62000"])
        .args(["scale", "--numbers", "2000"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let s = figures(&tmp.path().join("bench-results"), "scale-2000");
    assert_eq!(median(&s, "ported numbers loaded"), 2_000.0);
    let config = std::fs::read_to_string(tmp.path().join("bench-data/scale/node-0/config.toml")).unwrap();
    assert!(config.contains("cache-mib = 64"), "{config}");
    assert!(!stderr.contains('\r'), "no carriage returns off a terminal: {stderr:?}");
}

#[test]
fn the_fault_campaign_runs_seeds_of_every_scenario_and_sums_them_up() {
    // One seed of each of the seven scenarios (seeds 70..77, not the sim tests' seeds), on two
    // threads; the reports must add up to what the summary line says.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("faults.json");
    let output = Command::new(env!("CARGO_BIN_EXE_npchain"))
        .args(["sim", "faults", "--from", "70", "--seeds", "7", "--jobs", "2", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("seed ") && l.contains(": ok: ")).count(),
        7,
        "{stdout}"
    );
    assert!(stdout.contains("7 seeds in "), "{stdout}");
    assert!(stdout.contains(" 0 failed, "), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let reports = report["reports"].as_array().unwrap();
    let seeds: Vec<u64> = reports.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, (70..77).collect::<Vec<_>>());
    let mut scenarios: Vec<&str> = reports.iter().map(|r| r["scenario"].as_str().unwrap()).collect();
    scenarios.sort_unstable();
    scenarios.dedup();
    assert_eq!(scenarios.len(), 7, "{scenarios:?}");
    let heights: u64 = reports.iter().map(|r| r["heights"].as_u64().unwrap()).sum();
    assert_eq!(report["heights"].as_u64(), Some(heights));
    assert!(heights >= 7 * 5, "{heights}");
    for key in ["divergent", "lost", "duplicated", "unfinished", "epochs_without_finality"] {
        assert_eq!(report[key].as_u64(), Some(0), "{key}");
    }
    // three epochs for each set-change scenario, one for each other
    assert_eq!(report["epochs_checked"].as_u64(), Some(3 + 3 + 5));

    // --only keeps the seeds of one scenario: 73 and 80 of 70..84
    let output = Command::new(env!("CARGO_BIN_EXE_npchain"))
        .args(["sim", "faults", "--from", "70", "--seeds", "14", "--only", "garbage-gossip"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    let seeds: Vec<&str> = stdout.lines().filter(|l| l.starts_with("seed ")).collect();
    assert_eq!(seeds.len(), 2, "{stdout}");
    assert!(seeds.iter().all(|l| l.contains("(garbage-gossip): ok")), "{stdout}");
    assert!(seeds[0].starts_with("seed 73 ") || seeds[1].starts_with("seed 73 "), "{stdout}");
}
