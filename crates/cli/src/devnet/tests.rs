//! The devnet's layout and supervision, on temporary directories (no node runs: the
//! supervision tests start `/bin/false` and `/bin/true` as nodes).

use super::*;
use npchain_core::{Genesis, Timestamp};
use npchain_node::config::NodeConfig;
use std::{
    fs,
    path::{Path, PathBuf},
};

fn options(n: usize) -> Options {
    Options {
        validators: n,
        http_port: 8400,
        dns_port: 5300,
        p2p_port: 7400,
        custom_ranges: false,
        ported: false,
        blocks_per_epoch: super::DEVNET_BLOCKS_PER_EPOCH,
        dns_threads: 1,
    }
}

#[test]
fn a_config_of_a_relative_devnet_dir_is_written_back_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    // the temporary directory, relative to the current one
    let cwd = std::env::current_dir().unwrap();
    let up = "../".repeat(cwd.components().count() - 1);
    let relative = PathBuf::from(up).join(tmp.path().strip_prefix("/").unwrap()).join("devnet");
    assert!(relative.is_relative());
    let layout = prepare(&relative, &options(2), None, None, false, Timestamp(1)).unwrap();
    for node in &layout.nodes {
        std::fs::write(&node.config_path, node.config.to_toml()).unwrap();
        let again = NodeConfig::load(&node.config_path).unwrap();
        assert_eq!(again.to_toml(), node.config.to_toml());
        assert!(again.validator_key.exists(), "{}", again.validator_key.display());
    }
}

#[test]
fn supervision_restarts_crashes_gives_up_on_a_failing_node_and_leaves_stopped_ones_down() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = prepare(&tmp.path().join("devnet"), &options(2), None, None, false, Timestamp(1)).unwrap();
    let (_keep, stop) = std::sync::mpsc::channel();
    // A "node" that fails at once: restarted, then given up on.
    let mut lines = Vec::new();
    let err = supervise(Path::new("/bin/false"), &layout, &stop, |l| lines.push(l.to_string())).unwrap_err();
    assert!(matches!(err, SupervisorError::Failing { .. }), "{err}");
    assert!(err.to_string().contains("times within 10 s of starting"), "{err}");
    assert!(lines.iter().any(|l| l.contains("restarting it")), "{lines:?}");
    // Nodes that exit cleanly stay down; with none left, supervision ends.
    let mut lines = Vec::new();
    supervise(Path::new("/bin/true"), &layout, &stop, |l| lines.push(l.to_string())).unwrap();
    assert_eq!(lines.iter().filter(|l| l.contains("stays down")).count(), 2, "{lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("every node is down"));
    assert!(layout.nodes.iter().all(|n| !n.dir.join("node.pid").exists()), "pid files removed");
}

#[test]
fn lays_out_a_devnet_and_resumes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let layout = prepare(&dir, &options(4), None, None, false, Timestamp(1_000)).unwrap();
    assert!(layout.created);
    assert_eq!(layout.nodes.len(), 4);
    for (i, node) in layout.nodes.iter().enumerate() {
        assert_eq!(node.config.http_listen.port(), 8400 + i as u16);
        assert_eq!(node.config.dns.as_ref().unwrap().listen.port(), 5300 + i as u16);
        assert_eq!(node.config.p2p_listen.port(), 7400 + i as u16);
        assert_eq!(node.config.peers.len(), 3);
        assert_eq!(node.operator.as_str(), ["OPA", "OPB", "OPC", "OPD"][i]);
    }
    let genesis = Genesis::from_toml(&fs::read_to_string(dir.join("genesis.toml")).unwrap()).unwrap();
    genesis.validate().unwrap();
    assert_eq!(genesis.operators.len(), 4);
    // resume: same keys, nothing rewritten
    let again = prepare(&dir, &options(4), None, None, false, Timestamp(2_000)).unwrap();
    assert!(!again.created);
    assert_eq!(again.nodes[0].validator_key, layout.nodes[0].validator_key);
    // other options are refused without --fresh
    let err = prepare(&dir, &options(5), None, None, false, Timestamp(2_000)).unwrap_err();
    assert!(matches!(err, DevnetError::Mismatch { .. }), "{err}");
    // --fresh makes a new one
    let fresh = prepare(&dir, &options(5), None, None, true, Timestamp(2_000)).unwrap();
    assert!(fresh.created);
    assert_eq!(fresh.nodes.len(), 5);
    assert_ne!(fresh.nodes[0].validator_key, layout.nodes[0].validator_key);
}

#[test]
fn refuses_to_delete_what_is_not_a_devnet() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("precious.txt"), "x").unwrap();
    let err = prepare(tmp.path(), &options(4), None, None, true, Timestamp(0)).unwrap_err();
    assert!(matches!(err, DevnetError::NotDevnet { .. }));
    assert!(tmp.path().join("precious.txt").exists());
    let err = prepare(tmp.path(), &options(4), None, None, false, Timestamp(0)).unwrap_err();
    assert!(matches!(err, DevnetError::NotDevnet { .. }));
}

#[test]
fn checks_counts_ports_and_csv_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        prepare(&tmp.path().join("a"), &options(0), None, None, false, Timestamp(0)),
        Err(DevnetError::Validators(0))
    ));
    let mut high = options(4);
    high.http_port = 65534;
    assert!(matches!(
        prepare(&tmp.path().join("b"), &high, None, None, false, Timestamp(0)),
        Err(DevnetError::Port { .. })
    ));
    let ranges = tmp.path().join("ranges.csv");
    fs::write(&ranges, "prefix,operator\n+4940,OPA\n+4989,OPZ\n").unwrap();
    let err = read_ranges(&ranges, 4).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("OPZ"), "{err}");
    fs::write(&ranges, "prefix,holder\n+4940,OPA\n").unwrap();
    assert!(read_ranges(&ranges, 4).unwrap_err().to_string().contains("header"));
    fs::write(&ranges, "prefix,operator\n+4940,OPA\n+4989,opb\n").unwrap();
    let got = read_ranges(&ranges, 4).unwrap();
    assert_eq!(got.len(), 2);
    let mut custom = options(4);
    custom.custom_ranges = true;
    let layout = prepare(&tmp.path().join("c"), &custom, Some(&ranges), None, false, Timestamp(0)).unwrap();
    let genesis = Genesis::from_toml(&fs::read_to_string(layout.dir.join("genesis.toml")).unwrap()).unwrap();
    assert_eq!(genesis.ranges.len(), 2);
    let ported = tmp.path().join("ported.csv");
    fs::write(&ported, "number,operator\nnot-a-number,OPB\n").unwrap();
    let mut with_ported = options(4);
    with_ported.ported = true;
    let err =
        prepare(&tmp.path().join("d"), &with_ported, None, Some(&ported), false, Timestamp(0)).unwrap_err();
    assert!(matches!(err, DevnetError::Ported { .. }), "{err}");
}

#[test]
fn demo_ranges_are_distinct() {
    let ranges = demo_ranges(MAX_VALIDATORS);
    let mut prefixes: Vec<String> = ranges.iter().map(|r| r.prefix.to_string()).collect();
    prefixes.sort();
    prefixes.dedup();
    assert_eq!(prefixes.len(), 2 * MAX_VALIDATORS);
}
