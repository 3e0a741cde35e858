//! `npchain export` and `npchain export verify` against a devnet: the export of a running
//! network (blocks commit while the dump streams) verifies against the genesis; a height the
//! node has passed is refused; a changed CSV line and a changed certificate fail the check,
//! which names the file and the line.

mod support;

use std::time::Duration;
use support::{Net, npchain, wait_until};

const LONG: Duration = Duration::from_secs(120);

#[test]
fn a_devnet_export_verifies_and_a_tampered_one_does_not() {
    let ported = "number,operator\n+491500000007,OPB\n+491510000003,OPC\n+491520000009,OPA\n";
    let mut net = Net::with_ported(4, ported);
    net.start_all();
    wait_until(LONG, "height 3 on node 1", || net.height(1).is_some_and(|h| h >= 3));
    let node = format!("http://{}", net.url(1));
    let dir = net._tmp.path().join("export");
    let dir_s = dir.display().to_string();

    // a height already passed: the node keeps only its committed state
    let (ok, out) = npchain(&["export", "--node", &node, "--height", "1", "--out", &dir_s]);
    assert!(!ok && out.contains("409 height_passed") && out.contains("past 1"), "{out}");

    let (ok, out) = npchain(&["export", "--node", &node, "--out", &dir_s]);
    assert!(ok, "{out}");
    assert!(out.contains("exported height") && out.contains("3 ported numbers"), "{out}");
    let csv = std::fs::read_to_string(dir.join("ported.csv")).unwrap();
    assert_eq!(
        csv,
        "number,operator,rn\n+491500000007,OPB,+49D002\n+491510000003,OPC,+49D003\n+491520000009,OPA,+49D001\n"
    );
    // a directory that holds something is not written into
    let (ok, out) = npchain(&["export", "--node", &node, "--out", &dir_s]);
    assert!(!ok && out.contains("is not empty"), "{out}");

    let genesis = net.layout.dir.join("genesis.toml").display().to_string();
    let (ok, out) = npchain(&["export", "verify", &dir_s, "--genesis", &genesis]);
    assert!(ok && out.contains("holds"), "{out}");

    std::fs::write(
        dir.join("ported.csv"),
        csv.replace("+491510000003,OPC,+49D003", "+491510000003,OPB,+49D002"),
    )
    .unwrap();
    let (ok, out) = npchain(&["export", "verify", &dir_s, "--genesis", &genesis]);
    assert!(!ok, "{out}");
    assert!(out.contains("ported.csv line 3: \"+491510000003,OPB,+49D002\", but state.bin entry"), "{out}");
    std::fs::write(dir.join("ported.csv"), &csv).unwrap();

    let cert = dir.join("finalization.bin");
    let mut bytes = std::fs::read(&cert).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&cert, bytes).unwrap();
    let (ok, out) = npchain(&["export", "verify", &dir_s, "--genesis", &genesis, "--json"]);
    assert!(!ok && out.contains("block.bin and finalization.bin"), "{out}");
}
