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
        printed.contains("== throughput") && printed.contains("== catchup") && printed.contains("== kill"),
        "{printed}"
    );

    let t = figures(&out, "throughput");
    assert_eq!(median(&t, "transactions committed"), 800.0);
    assert!(median(&t, "all steps tx/s (committed)") > 0.0);
    let p50 = median(&t, "commit latency (submit → seen committed on node 0) p50");
    assert!(p50 > 0.0 && p50 <= median(&t, "commit latency (submit → seen committed on node 0) p99"));

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

    let c = figures(&out, "catchup");
    assert_eq!(median(&c, "transactions committed while the node was down"), 1_000.0);
    assert!(median(&c, "blocks to catch up") >= 1.0);

    let k = figures(&out, "kill");
    assert_eq!(median(&k, "kills (SIGKILL, restarted at once)"), 3.0);
    assert!(median(&k, "transactions committed (reported by a node)") > 0.0);
    assert_eq!(median(&k, "committed transactions lost"), 0.0);
    assert_eq!(median(&k, "divergent heights"), 0.0);
    assert!(median(&k, "heights checked on every node") >= 1.0);
    let restart = median(&k, "restart → caught up p50");
    assert!(restart > 0.0 && restart <= median(&k, "restart → caught up max"));

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
