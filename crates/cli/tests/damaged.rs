//! Damaged files at start: a `npchain node` whose ledger, block log, consensus archive or key
//! file is truncated, corrupted or from another moment exits with an error that names the file
//! and says what to do — never a silent spin or wrong answers; damage it can recover from (a
//! torn tail of a journal) it recovers from, losing no committed block.
//!
//! One devnet for every case: node 0 is stopped (SIGKILL) at a height with transactions, its
//! data directory kept as the pristine copy; each case damages a fresh copy of it and starts
//! the node on that. The other three validators go on committing meanwhile.

mod support;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};
use support::{Net, wait_until};

const LONG: Duration = Duration::from_secs(90);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The node's data directory set back to `pristine`.
fn restore(data: &Path, pristine: &Path) {
    if data.exists() {
        std::fs::remove_dir_all(data).unwrap();
    }
    copy_dir(pristine, data);
}

/// The files of the consensus partitions whose name starts with `prefix`, largest first.
fn partition_files(data: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<(u64, PathBuf)> = Vec::new();
    for dir in std::fs::read_dir(data.join("consensus")).unwrap() {
        let dir = dir.unwrap();
        if !dir.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let f = f.unwrap();
            out.push((f.metadata().unwrap().len(), f.path()));
        }
    }
    out.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
    out.into_iter().map(|(_, p)| p).collect()
}

fn truncate(path: &Path, keep: f64) {
    let len = std::fs::metadata(path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len((len as f64 * keep) as u64).unwrap();
}

/// Inverts `n` bytes from `at` (a fraction of the length) on.
fn flip(path: &Path, at: f64, n: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let start = (bytes.len() as f64 * at) as usize;
    for b in bytes.iter_mut().skip(start).take(n) {
        *b = !*b;
    }
    std::fs::write(path, bytes).unwrap();
}

/// Starts node 0 on damaged data and expects it to stop by itself, non-zero, with a log that
/// names `file` and says what to do (`remedy`). The log is emptied first.
fn refuses(net: &mut Net, case: &str, file: &str, remedy: &str) {
    let log = net.layout.nodes[0].dir.join("node.log");
    std::fs::write(&log, "").unwrap();
    let (status, text) = net.run_to_exit(0, LONG);
    assert!(!status.success(), "{case}: exited {status}\n{text}");
    assert!(text.contains(file), "{case}: the log does not name {file}:\n{text}");
    assert!(text.contains(remedy), "{case}: the log does not say {remedy:?}:\n{text}");
}

/// Node 0 started on its data as it is, expected to catch up with the others and to hold the
/// same blocks as node 1, every transaction of `ids` committed.
fn recovers(net: &mut Net, case: &str, ids: &[String]) {
    net.start(0);
    let target = net.height(1).unwrap();
    wait_until(LONG, &format!("node 0 to catch up ({case})"), || net.height(0).is_some_and(|h| h >= target));
    let common = net.height(0).unwrap().min(net.height(1).unwrap());
    assert_eq!(net.blocks(0, common), net.blocks(1, common), "{case}: node 0 differs from node 1");
    for id in ids {
        assert!(net.committed(0, id).is_some(), "{case}: transaction {id} lost on node 0");
    }
    net.kill(0);
}

const RESYNC: &str = "restore state.redb and blocks.redb together from one backup";
const REFETCH: &str = "it fetches the finalized blocks from its peers";

#[test]
fn a_node_on_damaged_files_refuses_to_start_naming_the_file_or_recovers_losing_nothing() {
    let mut net = Net::new(4);
    net.start_all();
    wait_until(LONG, "all four validators to finalize blocks", || {
        (0..4).all(|i| net.height(i).is_some_and(|h| h >= 2))
    });
    // Transactions in the chain, so that the files hold more than empty blocks.
    let chain = net.chain_id(1);
    let time = net.status(1).unwrap()["block_time_ms"].as_u64().unwrap();
    let ids: Vec<String> = (0..6u64)
        .map(|k| {
            let tx = net.bind_tx(&chain, (k % 4) as usize, 700 + k, time);
            net.submit(1, &tx)
        })
        .collect();
    wait_until(LONG, "the transactions to commit on node 0", || {
        ids.iter().all(|id| net.committed(0, id).is_some())
    });
    // A backup of node 0's ledger and block log, taken while it was stopped.
    let data = net.layout.nodes[0].dir.join("data");
    let backup = net.layout.dir.join("backup");
    net.kill(0);
    std::fs::create_dir_all(&backup).unwrap();
    for f in ["state.redb", "blocks.redb"] {
        std::fs::copy(data.join(f), backup.join(f)).unwrap();
    }
    // Node 0 runs on and commits more, so that the backup is out of date.
    net.start(0);
    let h = net.height(1).unwrap();
    wait_until(LONG, "node 0 to commit more blocks", || net.height(0).is_some_and(|x| x > h + 3));
    net.kill(0);
    let pristine = net.layout.dir.join("pristine");
    copy_dir(&data, &pristine);

    // The ledger: truncated, its header overwritten.
    restore(&data, &pristine);
    truncate(&data.join("state.redb"), 0.5);
    refuses(&mut net, "ledger truncated", "state.redb", RESYNC);
    restore(&data, &pristine);
    flip(&data.join("state.redb"), 0.0, 512);
    refuses(&mut net, "ledger header overwritten", "state.redb", RESYNC);

    // The block log: truncated, its header overwritten, and one of an earlier moment than the
    // ledger (it would answer "no such block" for blocks the ledger holds).
    restore(&data, &pristine);
    truncate(&data.join("blocks.redb"), 0.5);
    refuses(&mut net, "block log truncated", "blocks.redb", RESYNC);
    restore(&data, &pristine);
    flip(&data.join("blocks.redb"), 0.0, 512);
    refuses(&mut net, "block log header overwritten", "blocks.redb", RESYNC);
    restore(&data, &pristine);
    std::fs::copy(backup.join("blocks.redb"), data.join("blocks.redb")).unwrap();
    refuses(&mut net, "block log of an earlier moment", "blocks.redb", "lacks block");

    // The key file: truncated.
    let key = net.layout.nodes[0].dir.join("validator.key");
    let key_text = std::fs::read_to_string(&key).unwrap();
    std::fs::write(&key, &key_text[..key_text.len() / 2]).unwrap();
    refuses(&mut net, "validator key truncated", "validator.key", "64 hex characters");
    std::fs::write(&key, &key_text).unwrap();

    // Marshal's archives and its record of what was applied: overwritten, truncated.
    for (case, partition, named) in [
        ("block archive index overwritten", "npchain-blocks-ordinal", "npchain-blocks"),
        ("block archive values overwritten", "npchain-blocks-freezer-value", "npchain-blocks"),
        ("block archive table overwritten", "npchain-blocks-freezer-table", "npchain-blocks"),
        (
            "marshal's record overwritten",
            "npchain-marshal-application-metadata",
            "npchain-marshal-application-metadata",
        ),
    ] {
        restore(&data, &pristine);
        let files = partition_files(&data, partition);
        assert!(!files.is_empty(), "{case}: no {partition} partition in {}", data.display());
        flip(&files[0], 0.3, 64);
        refuses(&mut net, case, named, REFETCH);
    }
    restore(&data, &pristine);
    let index = partition_files(&data, "npchain-blocks-ordinal");
    let len = std::fs::metadata(&index[0]).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&index[0]).unwrap().set_len(len - 30).unwrap();
    refuses(&mut net, "block archive index truncated", "npchain-blocks", REFETCH);

    // What the errors say to do works. The archives moved out: the node fetches the blocks
    // from its peers.
    restore(&data, &pristine);
    let aside = net.layout.dir.join("aside");
    std::fs::create_dir_all(&aside).unwrap();
    for dir in std::fs::read_dir(data.join("consensus")).unwrap() {
        let dir = dir.unwrap();
        let name = dir.file_name().to_string_lossy().into_owned();
        if ["npchain-blocks-", "npchain-finalizations-", "npchain-marshal-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            std::fs::rename(dir.path(), aside.join(&name)).unwrap();
        }
    }
    recovers(&mut net, "archives moved out", &ids);
    // The ledger and block log restored from the (older) backup: the node applies the blocks
    // after it again, from its archive.
    restore(&data, &pristine);
    for f in ["state.redb", "blocks.redb"] {
        std::fs::copy(backup.join(f), data.join(f)).unwrap();
    }
    recovers(&mut net, "ledger and block log restored from a backup", &ids);
    // The ledger and block log moved out with marshal's record: the node applies the whole
    // chain again.
    restore(&data, &pristine);
    let aside = net.layout.dir.join("aside-2");
    std::fs::create_dir_all(&aside).unwrap();
    for f in ["state.redb", "blocks.redb"] {
        std::fs::rename(data.join(f), aside.join(f)).unwrap();
    }
    for dir in std::fs::read_dir(data.join("consensus")).unwrap() {
        let dir = dir.unwrap();
        if dir.file_name().to_string_lossy().starts_with("npchain-marshal-") {
            std::fs::rename(dir.path(), aside.join(dir.file_name())).unwrap();
        }
    }
    recovers(&mut net, "ledger and block log moved out", &ids);
    // A torn tail (a write cut short by a crash) of the block archive: repaired at start.
    restore(&data, &pristine);
    let values = partition_files(&data, "npchain-blocks-freezer-value");
    let mut bytes = std::fs::read(&values[0]).unwrap();
    bytes.extend_from_slice(&[0xa5; 37]);
    std::fs::write(&values[0], bytes).unwrap();
    recovers(&mut net, "torn tail of the block archive", &ids);
}
